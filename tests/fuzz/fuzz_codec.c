/*
 * libFuzzer harness: the codec's decoder and validator on arbitrary bytes.
 *
 * Any input must give NB_ERR_OK or an error code, never a crash, leak or undefined
 * behaviour; and whatever decodes must re-encode and decode to the same record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nb_registry_t *reg;
static nb_codec_t *codec;

static void cleanup(void)
{
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[512];
    nb_record_t rec, again;
    if (!codec) {
        reg = nb_registry_new();
        if (nb_registry_add_builtin(reg, errstr, sizeof(errstr)))
            abort();
        codec = nb_codec_new(reg, errstr, sizeof(errstr));
        if (!codec)
            abort();
        atexit(cleanup);
    }
    /* Fuzz the body under every schema id, so the mutator need not find the header. */
    uint8_t *buf = malloc(size + NB_FRAME_HEADER_LEN);
    if (!buf)
        return 0;
    for (int id = 1; id <= 5; id++) {
        memcpy(buf, "\0\0\0\0", 4);
        buf[4] = (uint8_t)id;
        memcpy(buf + NB_FRAME_HEADER_LEN, data, size);
        if (nb_codec_decode(codec, buf, size + NB_FRAME_HEADER_LEN, NB_RECORD_NONE, &rec, errstr,
                            sizeof(errstr)) != NB_ERR_OK)
            continue;
        (void)nb_codec_validate(&rec, NULL, 1793534400000LL, errstr, sizeof(errstr));
        nb_buf_t out = {0};
        if (nb_codec_encode(codec, &rec, &out, errstr, sizeof(errstr)) != NB_ERR_OK)
            abort(); /* whatever decodes must encode */
        if (nb_codec_decode(codec, out.data, out.len, NB_RECORD_NONE, &again, errstr,
                            sizeof(errstr)) != NB_ERR_OK)
            abort();
        nb_buf_free(&out);
    }
    /* And the raw bytes as a frame. */
    (void)nb_codec_decode(codec, data, size, NB_RECORD_NONE, &rec, errstr, sizeof(errstr));
    free(buf);
    return 0;
}
