/*
 * Unit tests: codec (framing, every schema round-trips, schema resolution, every kind of bad
 * input gets its own error, validation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include <jansson.h>

#include "cli/commands.h"
#include "codec/internal.h"
#include "notbrought/codec.h"

#define NOW_MS 1793534400000LL /* 2026-11-01T12:00:00Z */

typedef struct fixture_s {
    nb_registry_t *reg;
    nb_codec_t *codec;
    char errstr[512];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(f->reg, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
    assert_int_equal(nb_registry_load_dir(f->reg, NB_SOURCE_DIR "/tests/data/schemas", f->errstr,
                                          sizeof(f->errstr)),
                     NB_ERR_OK);
    f->codec = nb_codec_new(f->reg, f->errstr, sizeof(f->errstr));
    assert_non_null(f->codec);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    nb_codec_destroy(f->codec);
    nb_registry_destroy(f->reg);
    free(f);
    return 0;
}

static void make_appt(nb_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec->u.appt;
    strcpy(a->event_id, "gp-1-0-v2");
    a->source.agency = NB_AGENCY_GP;
    strcpy(a->source.system, "EMIS Web");
    strcpy(a->source.organisation_code, "W91001");
    a->subject_kind = NB_SUBJECT_CHILD;
    strcpy(a->nhs_number, "9434765919");
    strcpy(a->local_id.system, "urn:notbrought:gp:W91001");
    strcpy(a->local_id.value, "L000001");
    a->expected_delivery_date = NB_DATE_NONE;
    a->date_of_birth = nb_days_from_civil(2025, 3, 14);
    strcpy(a->family_name, "Carrow");
    strcpy(a->postcode, "CF10 1AA");
    strcpy(a->appointment_id, "gp-1-0");
    strcpy(a->appointment_type, "immunisation");
    a->mandated_contact = false;
    a->contact_mode = NB_CONTACT_FACE_TO_FACE;
    a->scheduled_start = NOW_MS - 10 * NB_MS_PER_DAY;
    a->status = NB_STATUS_WAS_NOT_BROUGHT;
    a->recorded_at = NOW_MS - 10 * NB_MS_PER_DAY + 3600000;
    a->version = 2;
}

static void make_link(nb_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_IDENTITY_LINK;
    nb_identity_link_t *l = &rec->u.link;
    strcpy(l->event_id, "link-1");
    l->kind = NB_LINK_UNBORN_TO_CHILD;
    strcpy(l->from.system, NB_SYSTEM_NHS_NUMBER);
    strcpy(l->from.value, "9990000018");
    strcpy(l->to.system, NB_SYSTEM_NHS_NUMBER);
    strcpy(l->to.value, "9434765919");
    l->expected_delivery_date = nb_days_from_civil(2026, 9, 1);
    l->source.agency = NB_AGENCY_MIDWIFERY;
    strcpy(l->source.system, "BadgerNet");
    strcpy(l->source.organisation_code, "7A4");
    l->verification = NB_VERIFICATION_PDS_VERIFIED;
    l->recorded_at = NOW_MS - NB_MS_PER_DAY;
}

static void make_fact(nb_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_CONTEXT_FACT;
    nb_context_fact_t *c = &rec->u.fact;
    strcpy(c->event_id, "fact-1");
    strcpy(c->nhs_number, "9434765919");
    c->kind = NB_FACT_CHILD_PROTECTION_PLAN;
    c->start_date = nb_days_from_civil(2026, 1, 5);
    c->end_date = NB_DATE_NONE;
    c->status = NB_FACT_STATUS_CURRENT;
    strcpy(c->source_system, "WCCIS");
    strcpy(c->organisation_code, "W04000");
    c->recorded_at = NOW_MS - 100 * NB_MS_PER_DAY;
    c->version = 1;
}

static void make_notif(nb_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_NOTIFICATION;
    nb_notification_t *n = &rec->u.notif;
    strcpy(n->notification_id, "5f2c0d7e9a1b");
    strcpy(n->reference, "WNB-7KQ4-MX9P");
    n->kind = NB_NOTIFICATION_ESCALATED;
    strcpy(n->nhs_number, "9434765919");
    n->date_of_birth = nb_days_from_civil(2025, 3, 14);
    n->age_months = 19;
    strcpy(n->child_key, "a3f1");
    n->expected_delivery_date = NB_DATE_NONE;
    n->n_context = 1;
    n->context[0].kind = NB_FACT_CHILD_PROTECTION_PLAN;
    n->context[0].start_date = nb_days_from_civil(2026, 1, 5);
    n->context[0].end_date = NB_DATE_NONE;
    strcpy(n->context[0].source, "WCCIS");
    n->context[0].as_of = NOW_MS - NB_MS_PER_DAY;
    strcpy(n->rule_id, "cp-plan-any-wnb");
    strcpy(n->rule_text, "Any WNB for a child on a child protection plan");
    strcpy(n->policy_name, "wales-wnb");
    strcpy(n->policy_version, "2026.1");
    strcpy(n->policy_hash, "ab12");
    n->tier = NB_TIER_URGENT;
    n->n_recipients = 2;
    strcpy(n->recipients[0].role, "named_nurse");
    strcpy(n->recipients[0].route, "queue:safeguarding");
    strcpy(n->recipients[1].role, "social_worker");
    strcpy(n->recipients[1].route, "queue:la-cs");
    n->n_evidence = 1;
    strcpy(n->evidence[0].event_id, "gp-1-0-v2");
    strcpy(n->evidence[0].appointment_id, "gp-1-0");
    n->evidence[0].agency = NB_AGENCY_GP;
    strcpy(n->evidence[0].appointment_type, "immunisation");
    n->evidence[0].scheduled_start = NOW_MS - 10 * NB_MS_PER_DAY;
    n->evidence[0].status = NB_STATUS_WAS_NOT_BROUGHT;
    strcpy(n->evidence[0].organisation_code, "W91001");
    n->evidence[0].recorded_at = NOW_MS - 9 * NB_MS_PER_DAY;
    n->n_counts = 1;
    n->counts[0].window_days = 365;
    n->counts[0].count = 1;
    n->counts[0].agencies = 1;
    strcpy(n->action, "Contact the family today.");
    n->respond_by = NOW_MS + 8 * 3600000;
    n->escalation_level = 1;
    strcpy(n->supersedes, "1a2b3c");
    n->created_at = NOW_MS;
    n->n_items = 1;
    strcpy(n->items[0].notification_id, "6a2c0d7e9a1c");
    strcpy(n->items[0].reference, "WNB-8KQ4-MX9Q");
    strcpy(n->items[0].child_key, "b4e2");
    strcpy(n->items[0].rule_id, "curiosity_cancellations");
    n->items[0].tier = NB_TIER_CURIOSITY;
    n->items[0].decided_at = NOW_MS;
}

static void make_ack(nb_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_ACK;
    nb_ack_t *a = &rec->u.ack;
    strcpy(a->ack_id, "ack-1");
    strcpy(a->notification_id, "5f2c0d7e9a1b");
    a->action = NB_ACK_CONTACTED_FAMILY;
    strcpy(a->acknowledged_by, "staff-123");
    strcpy(a->role, "named_nurse");
    a->acknowledged_at = NOW_MS;
}

/* Compares the active member of two records (the rest of the union is not written). */
static void assert_record_equal(const nb_record_t *a, const nb_record_t *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case NB_RECORD_APPOINTMENT:
        assert_memory_equal(&a->u.appt, &b->u.appt, sizeof(a->u.appt));
        break;
    case NB_RECORD_IDENTITY_LINK:
        assert_memory_equal(&a->u.link, &b->u.link, sizeof(a->u.link));
        break;
    case NB_RECORD_CONTEXT_FACT:
        assert_memory_equal(&a->u.fact, &b->u.fact, sizeof(a->u.fact));
        break;
    case NB_RECORD_NOTIFICATION:
        assert_memory_equal(&a->u.notif, &b->u.notif, sizeof(a->u.notif));
        break;
    case NB_RECORD_ACK:
        assert_memory_equal(&a->u.ack, &b->u.ack, sizeof(a->u.ack));
        break;
    default:
        fail();
    }
}

static void encode(fixture_t *f, const nb_record_t *rec, nb_buf_t *buf)
{
    buf->len = 0;
    assert_int_equal(nb_codec_encode(f->codec, rec, buf, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
}

static nb_err_t decode(fixture_t *f, const nb_buf_t *buf, nb_record_t *out)
{
    f->errstr[0] = '\0';
    return nb_codec_decode(f->codec, buf->data, buf->len, NB_RECORD_NONE, out, f->errstr,
                           sizeof(f->errstr));
}

static void round_trip(fixture_t *f, void (*make)(nb_record_t *))
{
    nb_record_t in, out;
    nb_buf_t buf = {0};
    make(&in);
    encode(f, &in, &buf);
    memset(&out, 0xa5, sizeof(out));
    assert_int_equal(decode(f, &buf, &out), NB_ERR_OK);
    assert_int_equal(out.schema_id, nb_registry_reader_id(f->reg, in.type));
    assert_record_equal(&in, &out);
    nb_buf_free(&buf);
}

static void test_round_trip_every_schema(void **state)
{
    fixture_t *f = *state;
    round_trip(f, make_appt);
    round_trip(f, make_link);
    round_trip(f, make_fact);
    round_trip(f, make_notif);
    round_trip(f, make_ack);
}

static void test_frame_header(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec;
    nb_buf_t buf = {0};
    int32_t id;
    make_appt(&rec);
    encode(f, &rec, &buf);
    assert_int_equal(buf.data[0], 0);
    assert_int_equal(nb_frame_schema_id(buf.data, buf.len, &id), NB_ERR_OK);
    assert_int_equal(id, 1);
    assert_int_equal(nb_frame_schema_id(buf.data, 4, &id), NB_ERR_FRAME_TRUNCATED);
    nb_buf_free(&buf);
}

static void test_nhs_number_spaces_normalised_on_decode(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec, out;
    nb_buf_t buf = {0};
    make_appt(&rec);
    /* The struct field cannot hold spaces (10 chars); encode through the generic value. */
    encode(f, &rec, &buf);
    avro_schema_t schema = nb__registry_find(f->reg, 1)->schema;
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, sub, u, b;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL};
    assert_int_equal(nb__fill(&rec, &v, &x), NB_ERR_OK);
    avro_value_get_by_name(&v, "subject", &sub, NULL);
    avro_value_get_by_name(&sub, "nhs_number", &u, NULL);
    avro_value_set_branch(&u, 1, &b);
    avro_value_set_string(&b, "943 476 5919");
    size_t size;
    avro_value_sizeof(&v, &size);
    buf.len = 0;
    nb_buf_reserve(&buf, size + 5);
    memcpy(buf.data, "\0\0\0\0\1", 5);
    avro_writer_t w = avro_writer_memory((char *)buf.data + 5, (int64_t)size);
    assert_int_equal(avro_value_write(w, &v), 0);
    buf.len = size + 5;
    assert_int_equal(decode(f, &buf, &out), NB_ERR_OK);
    assert_string_equal(out.u.appt.nhs_number, "9434765919");
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    nb_buf_free(&buf);
}

/* A newer producer adds an optional field (schema id 101, tests/data/schemas): its data
 * decodes under our reader schema, and the reader schema stays the built-in one. */
static void test_newer_writer_schema_resolves(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec, out;
    nb_buf_t buf = {0};
    make_appt(&rec);
    assert_int_equal(nb_registry_reader_id(f->reg, NB_RECORD_APPOINTMENT), 1);
    avro_schema_t v2 = nb__registry_find(f->reg, 101)->schema;
    avro_value_iface_t *iface = avro_generic_class_from_schema(v2);
    avro_value_t v, u, b;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL};
    assert_int_equal(nb__fill(&rec, &v, &x), NB_ERR_OK);
    avro_value_get_by_name(&v, "status_reason", &u, NULL);
    avro_value_set_branch(&u, 1, &b);
    avro_value_set_string(&b, "family moved away");
    size_t size;
    avro_value_sizeof(&v, &size);
    nb_buf_reserve(&buf, size + 5);
    memcpy(buf.data, "\0\0\0\0\x65", 5); /* id 101 */
    avro_writer_t w = avro_writer_memory((char *)buf.data + 5, (int64_t)size);
    assert_int_equal(avro_value_write(w, &v), 0);
    buf.len = size + 5;
    assert_int_equal(decode(f, &buf, &out), NB_ERR_OK);
    assert_int_equal(out.schema_id, 101);
    assert_record_equal(&rec, &out);
    /* Truncated v2 data is still caught by the walk over the writer schema. */
    buf.len -= 3;
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_TRUNCATED);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    nb_buf_free(&buf);
}

/* Registers id 102: AppointmentEvent v2 whose family_name may also be an int or a boolean,
 * which the reader schema cannot hold. */
static void register_incompatible_writer(fixture_t *f)
{
    json_error_t jerr;
    json_t *doc = json_loads(nb__registry_find(f->reg, 101)->json, 0, &jerr);
    assert_non_null(doc);
    size_t i;
    json_t *field;
    json_array_foreach(json_object_get(doc, "fields"), i, field)
    {
        if (strcmp(json_string_value(json_object_get(field, "name")), "subject") != 0)
            continue;
        size_t j;
        json_t *sub;
        json_array_foreach(json_object_get(json_object_get(field, "type"), "fields"), j, sub)
        {
            if (strcmp(json_string_value(json_object_get(sub, "name")), "family_name") == 0) {
                json_array_append_new(json_object_get(sub, "type"), json_string("int"));
                json_array_append_new(json_object_get(sub, "type"), json_string("boolean"));
            }
        }
    }
    char *js = json_dumps(doc, JSON_COMPACT);
    assert_int_equal(nb_registry_add(f->reg, 102, "org.notbrought.v1.AppointmentEvent", 3, js,
                                     strlen(js), f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    free(js);
    json_decref(doc);
}

/* Writes a record of id 102 whose family_name is an int (@p which 0) or a boolean (1). */
static void write_incompatible(fixture_t *f, int which, nb_buf_t *buf)
{
    nb_record_t rec;
    make_appt(&rec);
    avro_schema_t schema = nb__registry_find(f->reg, 102)->schema;
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, field, b;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL};
    assert_int_equal(nb__fill(&rec, &v, &x), NB_ERR_OK);
    avro_value_t subject;
    avro_value_get_by_name(&v, "status_reason", &field, NULL);
    avro_value_set_branch(&field, 0, &b);
    avro_value_get_by_name(&v, "subject", &subject, NULL);
    avro_value_get_by_name(&subject, "family_name", &field, NULL);
    if (which == 0) {
        avro_value_set_branch(&field, 2, &b);
        avro_value_set_int(&b, 7);
    } else {
        avro_value_set_branch(&field, 3, &b);
        avro_value_set_boolean(&b, 1);
    }
    size_t size;
    assert_int_equal(avro_value_sizeof(&v, &size), 0);
    buf->len = 0;
    nb_buf_reserve(buf, size + 5);
    memcpy(buf->data, "\0\0\0\0\x66", 5); /* id 102 */
    avro_writer_t w = avro_writer_memory((char *)buf->data + 5, (int64_t)size);
    assert_int_equal(avro_value_write(w, &v), 0);
    buf->len = size + 5;
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
}

typedef struct failing_s {
    nb_codec_t *codec;
    const nb_buf_t *buf;
    const char *expect;
    int wrong;
} failing_t;

static void *decode_failing(void *arg)
{
    failing_t *t = arg;
    nb_record_t out;
    char errstr[512];
    for (int i = 0; i < 5000; i++) {
        nb_err_t err = nb_codec_decode(t->codec, t->buf->data, t->buf->len, NB_RECORD_NONE, &out,
                                       errstr, sizeof(errstr));
        if (err != NB_ERR_SCHEMA_RESOLVE || strcmp(errstr, t->expect) != 0)
            t->wrong++;
    }
    return NULL;
}

/* libavro keeps its error message in one buffer per process: two codecs failing at once on
 * two threads (the stream decodes ahead on a second one) must still each report their own. */
static void test_concurrent_failures_keep_their_messages(void **state)
{
    fixture_t *f = *state;
    register_incompatible_writer(f);
    nb_buf_t buf[2] = {{0}, {0}};
    char expect[2][512];
    failing_t t[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        write_incompatible(f, k, &buf[k]);
        nb_record_t out;
        assert_int_equal(decode(f, &buf[k], &out), NB_ERR_SCHEMA_RESOLVE);
        snprintf(expect[k], sizeof(expect[k]), "%s", f->errstr);
        assert_non_null(strstr(expect[k], "schema id 102: "));
    }
    assert_string_not_equal(expect[0], expect[1]);
    for (int k = 0; k < 2; k++) {
        t[k] = (failing_t){nb_codec_new(f->reg, f->errstr, sizeof(f->errstr)), &buf[k],
                           expect[k], 0};
        assert_non_null(t[k].codec);
        assert_int_equal(pthread_create(&th[k], NULL, decode_failing, &t[k]), 0);
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(t[k].wrong, 0);
        nb_codec_destroy(t[k].codec);
        nb_buf_free(&buf[k]);
    }
}

static void test_framing_errors(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec, out;
    nb_buf_t buf = {0};
    make_appt(&rec);
    encode(f, &rec, &buf);
    nb_buf_t bad = {0};
    nb_buf_append(&bad, buf.data, 3);
    assert_int_equal(decode(f, &bad, &out), NB_ERR_FRAME_TRUNCATED);
    bad.len = 0;
    nb_buf_append(&bad, buf.data, buf.len);
    bad.data[0] = 1;
    assert_int_equal(decode(f, &bad, &out), NB_ERR_FRAME_MAGIC);
    bad.data[0] = 0;
    bad.data[4] = 77;
    assert_int_equal(decode(f, &bad, &out), NB_ERR_SCHEMA_UNKNOWN);
    assert_non_null(strstr(f->errstr, "77"));
    /* Expecting a link on a topic of appointments. */
    assert_int_equal(nb_codec_decode(f->codec, buf.data, buf.len, NB_RECORD_IDENTITY_LINK, &out,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_SCHEMA_MISMATCH);
    nb_buf_free(&bad);
    nb_buf_free(&buf);
}

/* Every strict prefix of a valid record fails with a truncation error, never a crash or leak. */
static void test_every_truncation_is_an_error(void **state)
{
    fixture_t *f = *state;
    void (*makers[])(nb_record_t *) = {make_appt, make_link, make_fact, make_notif, make_ack};
    for (size_t m = 0; m < sizeof(makers) / sizeof(makers[0]); m++) {
        nb_record_t rec, out;
        nb_buf_t buf = {0};
        makers[m](&rec);
        encode(f, &rec, &buf);
        size_t full = buf.len;
        for (size_t len = NB_FRAME_HEADER_LEN; len < full; len++) {
            buf.len = len;
            nb_err_t err = decode(f, &buf, &out);
            assert_true(err == NB_ERR_AVRO_TRUNCATED || err == NB_ERR_AVRO_LENGTH);
        }
        nb_buf_free(&buf);
    }
}

/* Builds a frame of schema 1 whose body starts with the given bytes. */
static void frame(nb_buf_t *buf, const uint8_t *body, size_t len)
{
    buf->len = 0;
    nb_buf_append(buf, "\0\0\0\0\1", 5);
    nb_buf_append(buf, body, len);
}

static void test_malformed_avro_specific_errors(void **state)
{
    fixture_t *f = *state;
    nb_buf_t buf = {0};
    nb_record_t out;
    /* event_id length -1 (zig-zag 0x01) */
    frame(&buf, (const uint8_t *)"\x01"
                                 "abc",
          4);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_NEGATIVE_LENGTH);
    assert_non_null(strstr(f->errstr, "event_id"));
    /* event_id length 2^40: far beyond the input */
    frame(&buf, (const uint8_t *)"\x80\x80\x80\x80\x80\x40", 6);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_LENGTH);
    /* An 11-byte varint */
    frame(&buf, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_VARINT);

    /* Patch a valid record: the agency enum index follows event_id. */
    nb_record_t rec;
    nb_buf_t good = {0};
    make_appt(&rec);
    encode(f, &rec, &good);
    size_t agency_at = NB_FRAME_HEADER_LEN + 1 + strlen(rec.u.appt.event_id);
    buf.len = 0;
    nb_buf_append(&buf, good.data, good.len);
    buf.data[agency_at] = 0x7e; /* 63 */
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_ENUM_INDEX);
    assert_non_null(strstr(f->errstr, "agency"));

    /* The subject kind, then the nhs_number union branch index. */
    size_t union_at = agency_at + 1 + 1 + strlen(rec.u.appt.source.system) + 1 +
                      strlen(rec.u.appt.source.organisation_code) + 1;
    buf.len = 0;
    nb_buf_append(&buf, good.data, good.len);
    assert_int_equal(buf.data[union_at], 2); /* branch 1 = string */
    buf.data[union_at] = 4;                  /* branch 2 does not exist */
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_UNION_INDEX);
    assert_non_null(strstr(f->errstr, "nhs_number"));

    /* A byte too many. */
    buf.len = 0;
    nb_buf_append(&buf, good.data, good.len);
    nb_buf_append(&buf, "\0", 1);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_TRAILING);
    nb_buf_free(&good);
    nb_buf_free(&buf);
}

/* A string longer than the model's maximum is rejected, not truncated. */
static void test_huge_string_rejected(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec, out;
    nb_buf_t buf = {0};
    make_appt(&rec);
    avro_schema_t schema = nb__registry_find(f->reg, 1)->schema;
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, fld;
    avro_generic_value_new(iface, &v);
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL};
    assert_int_equal(nb__fill(&rec, &v, &x), NB_ERR_OK);
    char *big = malloc(100001);
    memset(big, 'x', 100000);
    big[100000] = '\0';
    avro_value_get_by_name(&v, "event_id", &fld, NULL);
    avro_value_set_string(&fld, big);
    size_t size;
    avro_value_sizeof(&v, &size);
    nb_buf_reserve(&buf, size + 5);
    memcpy(buf.data, "\0\0\0\0\1", 5);
    avro_writer_t w = avro_writer_memory((char *)buf.data + 5, (int64_t)size);
    assert_int_equal(avro_value_write(w, &v), 0);
    buf.len = size + 5;
    assert_int_equal(decode(f, &buf, &out), NB_ERR_FIELD_TOO_LONG);
    assert_non_null(strstr(f->errstr, "event_id"));
    assert_null(strstr(f->errstr, "xxxx"));
    free(big);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    nb_buf_free(&buf);
}

/* Random corruption of valid records: any result but a crash (ASan/UBSan judge the rest). */
static void test_random_corruption_never_crashes(void **state)
{
    fixture_t *f = *state;
    void (*makers[])(nb_record_t *) = {make_appt, make_link, make_fact, make_notif, make_ack};
    uint64_t seed = 42;
    int ok = 0, failed = 0;
    for (int iter = 0; iter < 20000; iter++) {
        nb_record_t rec, out;
        nb_buf_t buf = {0};
        makers[iter % 5](&rec);
        encode(f, &rec, &buf);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = NB_FRAME_HEADER_LEN + (size_t)(seed >> 33) % (buf.len - 5);
            buf.data[at] = (uint8_t)(seed >> 24);
        }
        if (decode(f, &buf, &out) == NB_ERR_OK)
            ok++;
        else
            failed++;
        nb_buf_free(&buf);
    }
    assert_int_equal(ok + failed, 20000);
    assert_true(failed > 1000);
}

static void test_validation(void **state)
{
    char err[256];
    nb_record_t rec;
    nb_validate_opts_t opts;
    (void)state;
    nb_validate_opts_default(&opts);
    make_appt(&rec);
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);

    make_appt(&rec);
    rec.u.appt.nhs_number[9] = '8';
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_NHS_CHECK_DIGIT);
    assert_null(strstr(err, "943476591")); /* no personal data in the message */

    make_appt(&rec);
    strcpy(rec.u.appt.nhs_number, "12345");
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_NHS_FORMAT);

    make_appt(&rec);
    strcpy(rec.u.appt.nhs_number, "9990000018");
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    opts.allow_test_nhs_numbers = false;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_NHS_DISALLOWED);
    opts.allow_test_nhs_numbers = true;

    make_appt(&rec);
    rec.u.appt.nhs_number[0] = '\0';
    memset(&rec.u.appt.local_id, 0, sizeof(rec.u.appt.local_id));
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_MISSING_IDENTIFIER);

    make_appt(&rec);
    rec.u.appt.subject_kind = NB_SUBJECT_UNBORN;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_MISSING_IDENTIFIER);

    make_appt(&rec);
    rec.u.appt.scheduled_start = 86400000; /* 1970 */
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_TIMESTAMP_RANGE);
    make_appt(&rec);
    rec.u.appt.scheduled_start = NOW_MS + 500 * NB_MS_PER_DAY;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_TIMESTAMP_RANGE);
    make_appt(&rec);
    rec.u.appt.recorded_at = NOW_MS + 3 * NB_MS_PER_DAY;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_TIMESTAMP_RANGE);

    make_appt(&rec);
    rec.u.appt.date_of_birth = nb_day_of(rec.u.appt.scheduled_start) + 5;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_INCONSISTENT);
    make_appt(&rec);
    rec.u.appt.event_id[0] = '\0';
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_EMPTY);
    make_appt(&rec);
    rec.u.appt.version = 0;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_INCONSISTENT);

    make_link(&rec);
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    rec.u.link.expected_delivery_date = NB_DATE_NONE;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_MISSING_IDENTIFIER);
    make_link(&rec);
    strcpy(rec.u.link.to.value, "9434765918");
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_NHS_CHECK_DIGIT);

    make_fact(&rec);
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    rec.u.fact.end_date = rec.u.fact.start_date - 1;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)),
                     NB_ERR_INCONSISTENT);

    make_ack(&rec);
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    rec.u.ack.notification_id[0] = '\0';
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_EMPTY);
}

static void test_registry_errors(void **state)
{
    char err[256];
    nb_registry_t *reg = nb_registry_new();
    (void)state;
    assert_int_equal(nb_registry_add(reg, 1, "org.notbrought.v1.Nope", 1, "{}", 2, err,
                                     sizeof(err)),
                     NB_ERR_SCHEMA_INVALID);
    assert_int_equal(nb_registry_add(reg, 1, "org.notbrought.v1.NotificationAck", 1, "{not json",
                                     9, err, sizeof(err)),
                     NB_ERR_SCHEMA_INVALID);
    assert_int_equal(nb_registry_add_builtin(reg, err, sizeof(err)), NB_ERR_OK);
    assert_int_equal(nb_registry_add_builtin(reg, err, sizeof(err)), NB_ERR_INVALID_ARG);
    assert_int_equal(nb_registry_load_dir(reg, "/nonexistent", err, sizeof(err)), NB_ERR_IO);
    assert_null(nb_registry_schema_json(reg, 999));
    assert_non_null(nb_registry_schema_json(reg, 4));
    nb_registry_destroy(reg);
    nb_registry_destroy(NULL);
    nb_codec_destroy(NULL);
    /* A codec needs a reader schema for every type. */
    reg = nb_registry_new();
    assert_null(nb_codec_new(reg, err, sizeof(err)));
    assert_non_null(strstr(err, "no schema"));
    nb_registry_destroy(reg);
}

static void test_to_avro_json(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec;
    nb_buf_t buf = {0};
    make_ack(&rec);
    encode(f, &rec, &buf);
    char *json = nb_codec_to_avro_json(f->codec, buf.data, buf.len, f->errstr, sizeof(f->errstr));
    assert_non_null(json);
    assert_non_null(strstr(json, "\"contacted_family\""));
    free(json);
    buf.data[0] = 9;
    assert_null(nb_codec_to_avro_json(f->codec, buf.data, buf.len, f->errstr, sizeof(f->errstr)));
    nb_buf_free(&buf);
}

/* Bytes written by fastavro (tests/interop/vectors, regenerated by avro_interop.py) decode to
 * the expected values. */
typedef struct vec_ctx_s {
    fixture_t *f;
    json_t *expected;
    size_t i;
} vec_ctx_t;

static int check_vector(void *opaque, const char *topic, const char *key, const void *value,
                        size_t len, int64_t ts)
{
    vec_ctx_t *v = opaque;
    nb_record_t rec;
    (void)topic;
    (void)key;
    (void)ts;
    assert_int_equal(nb_codec_decode(v->f->codec, value, len, NB_RECORD_NONE, &rec, v->f->errstr,
                                     sizeof(v->f->errstr)),
                     NB_ERR_OK);
    json_t *got = nb__record_to_json(&rec);
    json_t *want = json_array_get(v->expected, v->i++);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
        print_error("vector %zu:\n got  %s\n want %s\n", v->i, g, w);
        free(g);
        free(w);
        fail();
    }
    json_decref(got);
    return 0;
}

static void test_fastavro_vectors_decode(void **state)
{
    fixture_t *f = *state;
    vec_ctx_t v = {f, json_array(), 0};
    FILE *ef = fopen(NB_SOURCE_DIR "/tests/interop/vectors/expected.jsonl", "r");
    assert_non_null(ef);
    char line[8192];
    while (fgets(line, sizeof(line), ef)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        json_array_append_new(v.expected, o);
    }
    fclose(ef);
    assert_int_equal(json_array_size(v.expected), 9);
    assert_int_equal(nb_recfile_read(NB_SOURCE_DIR "/tests/interop/vectors/vectors.jsonl",
                                     check_vector, &v, f->errstr, sizeof(f->errstr)),
                     0);
    assert_int_equal(v.i, 9);
    json_decref(v.expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_every_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nhs_number_spaces_normalised_on_decode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_newer_writer_schema_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_failures_keep_their_messages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_framing_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_avro_specific_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_string_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_corruption_never_crashes, setup, teardown),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_registry_errors),
        cmocka_unit_test_setup_teardown(test_to_avro_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fastavro_vectors_decode, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
