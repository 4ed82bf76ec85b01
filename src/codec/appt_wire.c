/*
 * notbrought - codec: the AppointmentEvent read straight from Avro's binary encoding, for data
 * written with the reader schema itself (schemas/appointment_event.avsc: no resolution).
 *
 * Most of what the daemon decodes is this one record, and avro-c's generic values (a bounds
 * walk, a read into a value tree that allocates every string, then a field lookup per field)
 * cost about a fifth of an event's CPU. This reader walks the bytes once, in the schema's field
 * order, and applies the checks nb__x_appt() applies (map.c) with the same functions: text
 * classes (nb_text_check()), field lengths, enum ranges, NB_DATE_NONE for absent dates, NHS
 * numbers through nb_nhs_normalise().
 *
 * It is a fast path, not a second authority: it answers "decoded" only for a record it is sure
 * the generic path reads to the same struct, and anything else (a malformation, a value a check
 * refuses, an encoding no Avro writer produces) goes to the generic path (codec.c), which gives
 * every error its code and message. unit.codec and fuzz.codec_appt compare the two.
 */
#include "codec/internal.h"

#include <string.h>

/* The schema this file reads, without its docs. The fast path is used only when the reader
 * schema is this one (nb__appt_wire_fits()): a new version of AppointmentEvent turns it off
 * rather than being read wrongly. */
static const char nb__appt_wire_schema[] =
    "{\"type\":\"record\",\"name\":\"AppointmentEvent\",\"namespace\":\"org.notbrought.v1\","
    "\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"Source\",\"fields\":["
    "{\"name\":\"agency\",\"type\":{\"type\":\"enum\",\"name\":\"Agency\",\"symbols\":[\"gp\","
    "\"midwifery\",\"health_visiting\",\"school_nursing\",\"outpatients\",\"other\"]}},"
    "{\"name\":\"system\",\"type\":\"string\"},"
    "{\"name\":\"organisation_code\",\"type\":\"string\"}]}},"
    "{\"name\":\"subject\",\"type\":{\"type\":\"record\",\"name\":\"Subject\",\"fields\":["
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"SubjectKind\","
    "\"symbols\":[\"child\",\"unborn\"]}},"
    "{\"name\":\"nhs_number\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"local_id\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Identifier\","
    "\"fields\":[{\"name\":\"system\",\"type\":\"string\"},"
    "{\"name\":\"value\",\"type\":\"string\"}]}]},"
    "{\"name\":\"pregnant_person_id\",\"type\":[\"null\",\"Identifier\"]},"
    "{\"name\":\"expected_delivery_date\",\"type\":[\"null\",\"int\"]},"
    "{\"name\":\"date_of_birth\",\"type\":[\"null\",\"int\"]},"
    "{\"name\":\"family_name\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"postcode\",\"type\":[\"null\",\"string\"]}]}},"
    "{\"name\":\"appointment\",\"type\":{\"type\":\"record\",\"name\":\"Appointment\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"mandated_contact\",\"type\":\"boolean\"},"
    "{\"name\":\"contact_mode\",\"type\":{\"type\":\"enum\",\"name\":\"ContactMode\","
    "\"symbols\":[\"face_to_face\",\"home_visit\",\"telephone\",\"video\",\"other\"]}},"
    "{\"name\":\"scheduled_start\",\"type\":\"long\"}]}},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"AppointmentStatus\","
    "\"symbols\":[\"booked\",\"attended\",\"was_not_brought\",\"no_access_visit\","
    "\"cancelled_by_patient\",\"cancelled_by_provider\",\"rescheduled\",\"entered_in_error\"]}},"
    "{\"name\":\"recorded_at\",\"type\":\"long\"},"
    "{\"name\":\"version\",\"type\":\"int\"}]}";

/* The symbols of the schema's enums: an index past them is a malformation (the bounds walk's
 * NB_ERR_AVRO_ENUM_INDEX); one past the model's enum a refusal (nb__get_enum()). */
#define NB__W_AGENCIES 6
#define NB__W_KINDS 2
#define NB__W_MODES 5
#define NB__W_STATUSES 8

bool nb__appt_wire_fits(avro_schema_t reader)
{
    avro_schema_t own = NULL;
    nb__avro_lock(); /* a parse failure would write libavro's error buffer */
    bool ok =
        !avro_schema_from_json_length(nb__appt_wire_schema, sizeof(nb__appt_wire_schema) - 1, &own);
    nb__avro_unlock();
    /* avro_schema_equal() walks the first schema's fields only: both ways for "the same". */
    ok = ok && reader && avro_schema_equal(reader, own) && avro_schema_equal(own, reader);
    if (own)
        avro_schema_decref(own);
    return ok;
}

typedef struct nb__wr_s {
    const uint8_t *p;
    const uint8_t *end;
    nb__appt_wire_t verdict; /* why the read stopped, once it has */
} nb__wr_t;

static bool nb__wr_stop(nb__wr_t *r, nb__appt_wire_t verdict)
{
    r->verdict = verdict;
    return false;
}

/* A zigzag varint of at most 10 bytes, read as avro-c and the bounds walk read it (bits past
 * the 64th are dropped by both). */
static bool nb__wr_long(nb__wr_t *r, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p == r->end)
            return nb__wr_stop(r, NB__APPT_WIRE_MALFORMED);
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
            return true;
        }
    }
    return nb__wr_stop(r, NB__APPT_WIRE_MALFORMED);
}

/* avro-c refuses an int outside int32 ("Varint out of range for int type"). */
static bool nb__wr_int(nb__wr_t *r, int32_t *out)
{
    int64_t v;
    if (!nb__wr_long(r, &v))
        return false;
    if (v < INT32_MIN || v > INT32_MAX)
        return nb__wr_stop(r, NB__APPT_WIRE_MALFORMED);
    *out = (int32_t)v;
    return true;
}

static bool nb__wr_enum(nb__wr_t *r, int symbols, int model_count, int *out)
{
    int64_t v;
    if (!nb__wr_long(r, &v))
        return false;
    if (v < 0 || v >= symbols)
        return nb__wr_stop(r, NB__APPT_WIRE_MALFORMED);
    if (v >= model_count)
        return nb__wr_stop(r, NB__APPT_WIRE_REFUSED);
    *out = (int)v;
    return true;
}

/* ["null", T]: the branch index. */
static bool nb__wr_present(nb__wr_t *r, bool *present)
{
    int64_t v;
    if (!nb__wr_long(r, &v))
        return false;
    if (v != 0 && v != 1)
        return nb__wr_stop(r, NB__APPT_WIRE_MALFORMED);
    *present = v == 1;
    return true;
}

/* Avro writers write a boolean as 0 or 1; avro-c reads any other byte as true. Such a byte is
 * left to the generic path rather than read as avro-c happens to. */
static bool nb__wr_bool(nb__wr_t *r, bool *out)
{
    if (r->p == r->end)
        return nb__wr_stop(r, NB__APPT_WIRE_MALFORMED);
    uint8_t b = *r->p++;
    if (b > 1)
        return nb__wr_stop(r, NB__APPT_WIRE_UNUSUAL);
    *out = b == 1;
    return true;
}

/* A string as nb__get_strv() takes it: no NUL, shorter than @p cap, text of class @p cls. */
static bool nb__wr_str(nb__wr_t *r, char *dst, size_t cap, nb_text_class_t cls)
{
    int64_t n;
    if (!nb__wr_long(r, &n))
        return false;
    if (n < 0 || (uint64_t)n > (uint64_t)(r->end - r->p))
        return nb__wr_stop(r, NB__APPT_WIRE_MALFORMED);
    const char *s = (const char *)r->p;
    size_t len = (size_t)n;
    r->p += len;
    if (len >= cap || memchr(s, '\0', len) || nb_text_check(s, len, cls) != NB_TEXT_OK)
        return nb__wr_stop(r, NB__APPT_WIRE_REFUSED);
    memcpy(dst, s, len);
    dst[len] = '\0';
    return true;
}

/* ["null", "string"]: dst stays "" for null (the struct starts zeroed). */
static bool nb__wr_opt_str(nb__wr_t *r, char *dst, size_t cap, nb_text_class_t cls)
{
    bool present;
    return nb__wr_present(r, &present) && (!present || nb__wr_str(r, dst, cap, cls));
}

/* ["null", "int"] date: NB_DATE_NONE when null, and refused as a value (nb__get_opt_int()). */
static bool nb__wr_opt_date(nb__wr_t *r, int32_t *out)
{
    bool present;
    *out = NB_DATE_NONE;
    if (!nb__wr_present(r, &present))
        return false;
    if (!present)
        return true;
    if (!nb__wr_int(r, out))
        return false;
    return *out != NB_DATE_NONE || nb__wr_stop(r, NB__APPT_WIRE_REFUSED);
}

static bool nb__wr_opt_ident(nb__wr_t *r, nb_identifier_t *id)
{
    bool present;
    return nb__wr_present(r, &present) &&
           (!present || (nb__wr_str(r, id->system, sizeof(id->system), NB_TEXT_ID) &&
                         nb__wr_str(r, id->value, sizeof(id->value), NB_TEXT_ID)));
}

/* As nb__get_opt_nhs(): read into 32 bytes, normalised when it normalises, else kept as
 * received when it is at most 10 bytes (validation reports it), else refused. */
static bool nb__wr_opt_nhs(nb__wr_t *r, char *dst)
{
    char raw[32] = "";
    if (!nb__wr_opt_str(r, raw, sizeof(raw), NB_TEXT_ID))
        return false;
    return nb__nhs_as_received(raw, dst) || nb__wr_stop(r, NB__APPT_WIRE_REFUSED);
}

static bool nb__wr_source(nb__wr_t *r, nb_source_t *src)
{
    int e = 0;
    if (!nb__wr_enum(r, NB__W_AGENCIES, NB_AGENCY__COUNT, &e))
        return false;
    src->agency = (nb_agency_t)e;
    return nb__wr_str(r, src->system, sizeof(src->system), NB_TEXT_NAME) &&
           nb__wr_str(r, src->organisation_code, sizeof(src->organisation_code), NB_TEXT_ID);
}

static bool nb__wr_subject(nb__wr_t *r, nb_appointment_event_t *a)
{
    int e = 0;
    if (!nb__wr_enum(r, NB__W_KINDS, NB_SUBJECT__COUNT, &e))
        return false;
    a->subject_kind = (nb_subject_kind_t)e;
    return nb__wr_opt_nhs(r, a->nhs_number) && nb__wr_opt_ident(r, &a->local_id) &&
           nb__wr_opt_ident(r, &a->pregnant_person_id) &&
           nb__wr_opt_date(r, &a->expected_delivery_date) &&
           nb__wr_opt_date(r, &a->date_of_birth) &&
           nb__wr_opt_str(r, a->family_name, sizeof(a->family_name), NB_TEXT_NAME) &&
           nb__wr_opt_str(r, a->postcode, sizeof(a->postcode), NB_TEXT_ID);
}

static bool nb__wr_appointment(nb__wr_t *r, nb_appointment_event_t *a)
{
    int e = 0;
    if (!nb__wr_str(r, a->appointment_id, sizeof(a->appointment_id), NB_TEXT_ID) ||
        !nb__wr_str(r, a->appointment_type, sizeof(a->appointment_type), NB_TEXT_NAME) ||
        !nb__wr_bool(r, &a->mandated_contact) ||
        !nb__wr_enum(r, NB__W_MODES, NB_CONTACT__COUNT, &e))
        return false;
    a->contact_mode = (nb_contact_mode_t)e;
    return nb__wr_long(r, &a->scheduled_start);
}

static bool nb__wr_event(nb__wr_t *r, nb_appointment_event_t *a)
{
    int e = 0;
    if (!nb__wr_str(r, a->event_id, sizeof(a->event_id), NB_TEXT_ID) ||
        !nb__wr_source(r, &a->source) || !nb__wr_subject(r, a) || !nb__wr_appointment(r, a) ||
        !nb__wr_enum(r, NB__W_STATUSES, NB_STATUS__COUNT, &e))
        return false;
    a->status = (nb_status_t)e;
    if (!nb__wr_long(r, &a->recorded_at) || !nb__wr_int(r, &a->version))
        return false;
    return r->p == r->end || nb__wr_stop(r, NB__APPT_WIRE_MALFORMED); /* trailing bytes */
}

nb__appt_wire_t nb__appt_wire_decode(const uint8_t *body, size_t len, nb_appointment_event_t *out)
{
    /* Read aside: on any verdict but "decoded" the caller's struct is left as it was, as the
     * generic path leaves it when its bounds walk refuses the bytes. Zeroed first, as
     * nb__extract() zeroes it (padding and the tails of strings included). */
    nb_appointment_event_t a;
    memset(&a, 0, sizeof(a));
    nb__wr_t r = {body, body + len, NB__APPT_WIRE_DECODED};
    if (!nb__wr_event(&r, &a))
        return r.verdict;
    memcpy(out, &a, sizeof(a));
    return NB__APPT_WIRE_DECODED;
}
