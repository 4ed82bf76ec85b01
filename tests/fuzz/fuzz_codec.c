/*
 * libFuzzer harness: the codec's decoder and validator on arbitrary bytes.
 *
 * Any input must give NB_ERR_OK or an error code, never a crash, leak or undefined
 * behaviour; whatever decodes must re-encode and decode to the same record, hold only text its
 * fields may hold (issue 18: nothing that is not UTF-8 or has control characters gets past the
 * door), and render as JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "notbrought/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nb_registry_t *reg;
static nb_codec_t *codec;

/* A sample of the fields of each class; the decoder checks them all. */
static void check_text(const nb_record_t *rec)
{
#define NB__CHECK(s, cls)                                                                          \
    do {                                                                                           \
        if (nb_text_check((s), strlen(s), (cls)) != NB_TEXT_OK)                                    \
            abort();                                                                               \
    } while (0)
    switch (rec->type) {
    case NB_RECORD_APPOINTMENT:
        NB__CHECK(rec->u.appt.event_id, NB_TEXT_ID);
        NB__CHECK(rec->u.appt.local_id.value, NB_TEXT_ID);
        NB__CHECK(rec->u.appt.family_name, NB_TEXT_NAME);
        NB__CHECK(rec->u.appt.appointment_type, NB_TEXT_NAME);
        break;
    case NB_RECORD_NOTIFICATION:
        NB__CHECK(rec->u.notif.rule_text, NB_TEXT_FREE);
        for (size_t i = 0; i < rec->u.notif.n_evidence; i++)
            NB__CHECK(rec->u.notif.evidence[i].appointment_type, NB_TEXT_NAME);
        break;
    case NB_RECORD_SUGGESTION:
        NB__CHECK(rec->u.sugg.link.from.value, NB_TEXT_ID);
        NB__CHECK(rec->u.sugg.cause_source.system, NB_TEXT_NAME);
        break;
    case NB_RECORD_ACK:
        NB__CHECK(rec->u.ack.acknowledged_by, NB_TEXT_NAME);
        NB__CHECK(rec->u.ack.outcome, NB_TEXT_FREE);
        NB__CHECK(rec->u.ack.reason, NB_TEXT_FREE);
        NB__CHECK(rec->u.ack.user_id, NB_TEXT_ID);
        NB__CHECK(rec->u.ack.reassign_to_queue, NB_TEXT_ID);
        NB__CHECK(rec->u.ack.reassign_to_user, NB_TEXT_ID);
        break;
    default:
        break;
    }
#undef NB__CHECK
}

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
        /* Any verdict will do: the harness looks for crashes, not for valid records. */
        NB_IGNORE(nb_codec_validate(&rec, NULL, 1793534400000LL, errstr, sizeof(errstr)));
        check_text(&rec);
        json_t *json = nb__record_to_json(&rec);
        char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
        if (!text)
            abort(); /* jansson refused the record: a string that is not UTF-8 got through */
        free(text);
        json_decref(json);
        nb_buf_t out = {0};
        if (nb_codec_encode(codec, &rec, &out, errstr, sizeof(errstr)) != NB_ERR_OK)
            abort(); /* whatever decodes must encode */
        if (nb_codec_decode(codec, out.data, out.len, NB_RECORD_NONE, &again, errstr,
                            sizeof(errstr)) != NB_ERR_OK)
            abort();
        nb_buf_free(&out);
    }
    /* And the raw bytes as a frame: any outcome will do, so long as nothing crashes. */
    NB_IGNORE(nb_codec_decode(codec, data, size, NB_RECORD_NONE, &rec, errstr, sizeof(errstr)));
    free(buf);
    return 0;
}
