/*
 * libFuzzer harness: the AppointmentEvent fast path (src/codec/appt_wire.c) against the generic
 * avro-c path, on arbitrary bytes read as the body of schema id 1 and as a whole frame.
 *
 * The fast path may only say "decoded" for a record the generic path reads to the same bytes;
 * a malformation or a refusal it reports must be one the generic path fails on too; so the two
 * agree on every record except those the fast path declines as unusual (a boolean byte other
 * than 0 or 1, which avro-c reads as true), where the generic path decides alone. And
 * nb_codec_decode() (fast path, then generic) must give exactly what the generic path gives:
 * code, message and record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/internal.h"
#include "notbrought/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nb_registry_t *reg;
static nb_codec_t *codec;
static nb_record_t fast, slow;

static void cleanup(void)
{
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

/* nb_codec_decode() and the generic path alone agree on a frame in every byte. */
static void same_outcome(const uint8_t *frame, size_t len)
{
    char e_fast[512] = "", e_slow[512] = "";
    memset(&fast, 0x5a, sizeof(fast));
    memset(&slow, 0x5a, sizeof(slow));
    nb_err_t a = nb_codec_decode(codec, frame, len, NB_RECORD_NONE, &fast, e_fast, sizeof(e_fast));
    nb_err_t b =
        nb__codec_decode_generic(codec, frame, len, NB_RECORD_NONE, &slow, e_slow, sizeof(e_slow));
    if (a != b || strcmp(e_fast, e_slow) != 0 || memcmp(&fast, &slow, sizeof(fast)) != 0)
        abort();
}

/* The fast path's verdict on @p body against the generic path's on the frame (id 1). */
static void differential(const uint8_t *frame, size_t len)
{
    static nb_appointment_event_t a;
    char errstr[512];
    memset(&a, 0, sizeof(a));
    memset(&slow, 0, sizeof(slow));
    nb__appt_wire_t v =
        nb__appt_wire_decode(frame + NB_FRAME_HEADER_LEN, len - NB_FRAME_HEADER_LEN, &a);
    nb_err_t err =
        nb__codec_decode_generic(codec, frame, len, NB_RECORD_NONE, &slow, errstr, sizeof(errstr));
    switch (v) {
    case NB__APPT_WIRE_DECODED:
        if (err != NB_ERR_OK || slow.type != NB_RECORD_APPOINTMENT || slow.schema_id != 1 ||
            memcmp(&a, &slow.u.appt, sizeof(a)) != 0)
            abort();
        break;
    case NB__APPT_WIRE_MALFORMED:
    case NB__APPT_WIRE_REFUSED:
        if (err == NB_ERR_OK)
            abort(); /* declined a record the generic path reads, for no documented reason */
        break;
    case NB__APPT_WIRE_UNUSUAL:
        break; /* the one documented reason: the generic path decides */
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[512];
    if (!codec) {
        reg = nb_registry_new();
        if (nb_registry_add_builtin(reg, errstr, sizeof(errstr)))
            abort();
        codec = nb_codec_new(reg, errstr, sizeof(errstr));
        if (!codec || !nb__appt_wire_fits(nb__registry_find(reg, 1)->schema))
            abort();
        atexit(cleanup);
    }
    uint8_t *buf = malloc(size + NB_FRAME_HEADER_LEN);
    if (!buf)
        return 0;
    static const uint8_t hdr[NB_FRAME_HEADER_LEN] = {NB_FRAME_MAGIC, 0, 0, 0, 1};
    memcpy(buf, hdr, sizeof(hdr));
    memcpy(buf + NB_FRAME_HEADER_LEN, data, size);
    differential(buf, size + NB_FRAME_HEADER_LEN);
    same_outcome(buf, size + NB_FRAME_HEADER_LEN);
    /* The raw bytes as a frame: any header, any id, the fast path's checks of both included. */
    same_outcome(data, size);
    free(buf);
    return 0;
}
