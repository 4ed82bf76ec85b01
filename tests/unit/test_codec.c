/*
 * Unit tests: codec (framing, every schema round-trips, schema resolution, every kind of bad
 * input gets its own error, validation).
 */
#define _GNU_SOURCE /* memmem() */
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

/* NotificationAck version 2: a reassignment, every field it added set. */
static void make_ack_reassign(nb_record_t *rec)
{
    make_ack(rec);
    nb_ack_t *a = &rec->u.ack;
    a->intent = NB_ACK_INTENT_REASSIGN;
    a->action = NB_ACK_OTHER;
    strcpy(a->user_id, "staff-123");
    strcpy(a->reassign_to_queue, "queue:hv-team-north");
    strcpy(a->reassign_to_user, "staff-456");
    strcpy(a->reason, "The family moved to the north team's area.");
}

static void make_ack_close_discussed(nb_record_t *rec)
{
    make_ack(rec);
    rec->u.ack.action = NB_ACK_DISCUSSED_WITH_NAMED_NURSE;
    strcpy(rec->u.ack.user_id, "staff-123");
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

NB_NODISCARD static nb_err_t decode(fixture_t *f, const nb_buf_t *buf, nb_record_t *out)
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
    round_trip(f, make_ack_reassign);
    round_trip(f, make_ack_close_discussed);
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
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL, NULL};
    assert_int_equal(nb__fill(&rec, &v, &x), NB_ERR_OK);
    avro_value_get_by_name(&v, "subject", &sub, NULL);
    avro_value_get_by_name(&sub, "nhs_number", &u, NULL);
    avro_value_set_branch(&u, 1, &b);
    avro_value_set_string(&b, "943 476 5919");
    size_t size;
    avro_value_sizeof(&v, &size);
    buf.len = 0;
    assert_int_equal(nb_buf_reserve(&buf, size + 5), NB_ERR_OK);
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
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL, NULL};
    assert_int_equal(nb__fill(&rec, &v, &x), NB_ERR_OK);
    avro_value_get_by_name(&v, "status_reason", &u, NULL);
    avro_value_set_branch(&u, 1, &b);
    avro_value_set_string(&b, "family moved away");
    size_t size;
    avro_value_sizeof(&v, &size);
    assert_int_equal(nb_buf_reserve(&buf, size + 5), NB_ERR_OK);
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
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL, NULL};
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
    assert_int_equal(nb_buf_reserve(buf, size + 5), NB_ERR_OK);
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
    assert_int_equal(nb_buf_append(&bad, buf.data, 3), NB_ERR_OK);
    assert_int_equal(decode(f, &bad, &out), NB_ERR_FRAME_TRUNCATED);
    bad.len = 0;
    assert_int_equal(nb_buf_append(&bad, buf.data, buf.len), NB_ERR_OK);
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
    assert_int_equal(nb_buf_append(buf, "\0\0\0\0\1", 5), NB_ERR_OK);
    assert_int_equal(nb_buf_append(buf, body, len), NB_ERR_OK);
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
    assert_int_equal(nb_buf_append(&buf, good.data, good.len), NB_ERR_OK);
    buf.data[agency_at] = 0x7e; /* 63 */
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_ENUM_INDEX);
    assert_non_null(strstr(f->errstr, "agency"));

    /* The subject kind, then the nhs_number union branch index. */
    size_t union_at = agency_at + 1 + 1 + strlen(rec.u.appt.source.system) + 1 +
                      strlen(rec.u.appt.source.organisation_code) + 1;
    buf.len = 0;
    assert_int_equal(nb_buf_append(&buf, good.data, good.len), NB_ERR_OK);
    assert_int_equal(buf.data[union_at], 2); /* branch 1 = string */
    buf.data[union_at] = 4;                  /* branch 2 does not exist */
    assert_int_equal(decode(f, &buf, &out), NB_ERR_AVRO_UNION_INDEX);
    assert_non_null(strstr(f->errstr, "nhs_number"));

    /* A byte too many. */
    buf.len = 0;
    assert_int_equal(nb_buf_append(&buf, good.data, good.len), NB_ERR_OK);
    assert_int_equal(nb_buf_append(&buf, "\0", 1), NB_ERR_OK);
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
    nb__xerr_t x = {NB_ERR_OK, f->errstr, sizeof(f->errstr), NULL, NULL};
    assert_int_equal(nb__fill(&rec, &v, &x), NB_ERR_OK);
    char *big = malloc(100001);
    memset(big, 'x', 100000);
    big[100000] = '\0';
    avro_value_get_by_name(&v, "event_id", &fld, NULL);
    avro_value_set_string(&fld, big);
    size_t size;
    avro_value_sizeof(&v, &size);
    assert_int_equal(nb_buf_reserve(&buf, size + 5), NB_ERR_OK);
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
                     NB_ERR_FIELD_RANGE);

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

    /* Version 2 actions (docs/inbox.md): a take or reassignment names its person by user_id;
     * a reassignment needs a target and a reason; a close with no_further_action a reason. */
    make_ack_reassign(&rec);
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    rec.u.ack.reason[0] = '\0';
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_EMPTY);
    assert_non_null(strstr(err, "reason"));
    make_ack_reassign(&rec);
    rec.u.ack.reassign_to_queue[0] = rec.u.ack.reassign_to_user[0] = '\0';
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_EMPTY);
    assert_non_null(strstr(err, "reassign_to_queue"));
    make_ack_reassign(&rec);
    rec.u.ack.user_id[0] = '\0';
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_EMPTY);
    make_ack_reassign(&rec);
    rec.u.ack.intent = NB_ACK_INTENT_TAKE;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_INCONSISTENT);
    rec.u.ack.reassign_to_queue[0] = rec.u.ack.reassign_to_user[0] = '\0';
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    rec.u.ack.intent = (nb_ack_intent_t)7;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_RANGE);
    make_ack(&rec);
    rec.u.ack.action = NB_ACK_NO_FURTHER_ACTION;
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_EMPTY);
    assert_non_null(strstr(err, "no_further_action"));
    strcpy(rec.u.ack.reason, "Seen at the walk-in clinic the next day.");
    assert_int_equal(nb_codec_validate(&rec, &opts, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    /* Version 1's "seen" reads as other; any other name is refused. */
    nb_ack_action_t act = NB_ACK_REBOOKED;
    assert_true(nb_ack_action_parse_any("seen", &act));
    assert_int_equal(act, NB_ACK_OTHER);
    assert_false(nb_ack_action_parse_any("seen_it", &act));
    assert_false(nb_ack_action_parse("seen", &act));
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
    assert_int_equal(json_array_size(v.expected), 20);
    assert_int_equal(nb_recfile_read(NB_SOURCE_DIR "/tests/interop/vectors/vectors.jsonl",
                                     check_vector, &v, f->errstr, sizeof(f->errstr)),
                     0);
    assert_int_equal(v.i, 20);
    json_decref(v.expected);
}

/* Encodes @p rec as it is (the encoder does not judge text) and expects the door to refuse it
 * as text_invalid, naming @p field and never quoting the value. */
static void expect_text_invalid(fixture_t *f, const nb_record_t *rec, const char *field,
                                const char *value)
{
    nb_record_t out;
    nb_buf_t buf = {0};
    encode(f, rec, &buf);
    nb_err_t err = decode(f, &buf, &out);
    if (err != NB_ERR_TEXT_INVALID)
        fail_msg("field %s: got %s, want text_invalid (%s)", field, nb_err_name(err), f->errstr);
    char want[128];
    snprintf(want, sizeof(want), "'%s'", field);
    if (!strstr(f->errstr, want))
        fail_msg("the message does not name %s: %s", field, f->errstr);
    assert_null(strstr(f->errstr, value));
    nb_buf_free(&buf);
}

/* Regression (issue 18): a Latin-1 byte in an appointment type was accepted and republished in
 * a notification that fastavro could not read. Every string field of every record type that
 * comes in must be UTF-8 without control or bidirectional override characters; the record is
 * refused as text_invalid with the field named. */
static void test_text_invalid_refused_at_the_door(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec, out;
    nb_buf_t buf = {0};

    make_appt(&rec);
    strcpy(rec.u.appt.appointment_type, "imm\xe9nisation"); /* Latin-1 */
    expect_text_invalid(f, &rec, "appointment.type", "imm");
    assert_non_null(strstr(f->errstr, "not valid UTF-8"));
    make_appt(&rec);
    strcpy(rec.u.appt.appointment_type, "immunisation\n  Why: child is safe");
    expect_text_invalid(f, &rec, "appointment.type", "safe");
    make_appt(&rec);
    strcpy(rec.u.appt.appointment_type, "\xe2\x80\xae" "noitasinummi"); /* U+202E */
    expect_text_invalid(f, &rec, "appointment.type", "noitas");
    assert_non_null(strstr(f->errstr, "bidirectional"));
    make_appt(&rec);
    strcpy(rec.u.appt.family_name, "Car\x1b[2Jrow");
    expect_text_invalid(f, &rec, "subject.family_name", "Car");
    make_appt(&rec);
    strcpy(rec.u.appt.postcode, "CF10\xc2\x85" "1AA"); /* C1 NEL */
    expect_text_invalid(f, &rec, "subject.postcode", "CF10");
    make_appt(&rec);
    strcpy(rec.u.appt.event_id, "gp-1\xc0\xaf"); /* overlong */
    expect_text_invalid(f, &rec, "event_id", "gp-1");
    make_appt(&rec);
    strcpy(rec.u.appt.appointment_id, "gp-1\xe2\x80\x8f"); /* RLM: invisible in an id */
    expect_text_invalid(f, &rec, "appointment.id", "gp-1");
    make_appt(&rec);
    strcpy(rec.u.appt.source.system, "EMIS\x7f");
    expect_text_invalid(f, &rec, "source.system", "EMIS");
    make_appt(&rec);
    strcpy(rec.u.appt.source.organisation_code, "W9\xed\xa0\x80"); /* surrogate */
    expect_text_invalid(f, &rec, "source.organisation_code", "W9");
    make_appt(&rec);
    strcpy(rec.u.appt.local_id.value, "L0\xf4\x90\x80\x80"); /* above U+10FFFF */
    expect_text_invalid(f, &rec, "subject.local_id.value", "L0");
    make_appt(&rec);
    strcpy(rec.u.appt.local_id.system, "urn:x\t");
    expect_text_invalid(f, &rec, "subject.local_id.system", "urn:x");
    make_appt(&rec);
    strcpy(rec.u.appt.nhs_number, "943\xe2\x80\x8b" "476"); /* 9 bytes: the field has 10 */
    expect_text_invalid(f, &rec, "subject.nhs_number", "943");

    make_link(&rec);
    strcpy(rec.u.link.from.system, "https://fhir.nhs.uk/Id/nhs-number\xe2\x81\xa6");
    expect_text_invalid(f, &rec, "from.system", "fhir");
    make_link(&rec);
    strcpy(rec.u.link.source.system, "Badger\xe9");
    expect_text_invalid(f, &rec, "source.system", "Badger");

    make_fact(&rec);
    strcpy(rec.u.fact.source_system, "WCC\xe9S");
    expect_text_invalid(f, &rec, "source_system", "WCC");
    make_fact(&rec);
    strcpy(rec.u.fact.local_id.system, "urn:la");
    strcpy(rec.u.fact.local_id.value, "C\r1");
    expect_text_invalid(f, &rec, "local_id.value", "C\r1");

    make_ack(&rec);
    strcpy(rec.u.ack.acknowledged_by, "staff\xe2\x80\xae" "321");
    expect_text_invalid(f, &rec, "acknowledged_by", "staff");
    make_ack(&rec);
    strcpy(rec.u.ack.outcome, "rebooked\x1b[1A\x1b[2Kno further action");
    expect_text_invalid(f, &rec, "outcome", "rebooked");

    make_notif(&rec);
    strcpy(rec.u.notif.evidence[0].appointment_type, "imm\xe9nisation");
    expect_text_invalid(f, &rec, "evidence.appointment_type", "imm");
    make_notif(&rec);
    strcpy(rec.u.notif.rule_text, "Any WNB\x1b]0;title\x07");
    expect_text_invalid(f, &rec, "rule.text", "WNB");
    make_notif(&rec);
    strcpy(rec.u.notif.context[0].source, "WCCIS\xc2\x9b");
    expect_text_invalid(f, &rec, "context.source", "WCCIS");
    make_notif(&rec);
    strcpy(rec.u.notif.items[0].reference, "WNB-\xef\xbb\xbf");
    expect_text_invalid(f, &rec, "items.reference", "WNB-");
    make_notif(&rec);
    strcpy(rec.u.notif.child_key, "a3\x01");
    expect_text_invalid(f, &rec, "child.child_key", "a3");

    /* What people really write passes and reads back byte for byte: Welsh and Irish names,
     * a right-to-left name with its mark, lines in free text. */
    make_appt(&rec);
    strcpy(rec.u.appt.family_name, "ap Rh\xc5\xb7s-\xc3\x93 S\xc3\xbailleabh\xc3\xa1in");
    strcpy(rec.u.appt.appointment_type, "6\xe2\x80\x93" "8 week review"); /* en dash */
    encode(f, &rec, &buf);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_OK);
    assert_record_equal(&rec, &out);
    make_appt(&rec);
    strcpy(rec.u.appt.family_name, "\xd8\xb9\xd9\x84\xd9\x8a\xe2\x80\x8f");
    encode(f, &rec, &buf);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_OK);
    assert_record_equal(&rec, &out);
    make_ack(&rec);
    strcpy(rec.u.ack.outcome, "Family contacted.\r\nRebooked for\t12 May.");
    encode(f, &rec, &buf);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_OK);
    assert_record_equal(&rec, &out);
    make_notif(&rec);
    strcpy(rec.u.notif.action, "Contact the family today.\nThen tell the GP.");
    encode(f, &rec, &buf);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_OK);
    assert_record_equal(&rec, &out);
    nb_buf_free(&buf);
}

/* Finds @p pat in the encoded bytes (after the frame header) and replaces it by @p rep. */
static void patch_bytes(nb_buf_t *buf, const void *pat, const void *rep, size_t n)
{
    for (size_t i = NB_FRAME_HEADER_LEN; i + n <= buf->len; i++) {
        if (memcmp(buf->data + i, pat, n) == 0) {
            memcpy(buf->data + i, rep, n);
            return;
        }
    }
    fail_msg("pattern not found in the encoded record");
}

/* Regression (issue 18): NB_DATE_NONE (INT32_MIN) and NB_TIME_NONE (INT64_MIN) mark absent
 * values inside notbrought. A date of birth of INT32_MIN on the wire was taken as "not known"
 * and a start date of INT32_MIN passed validation; both are refused with the field named. */
static void test_no_date_sentinel_on_the_wire(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec, out;
    nb_buf_t buf = {0};
    char err[256];
    /* zigzag(INT32_MIN + 1) and zigzag(INT32_MIN): 5-byte varints differing in the first byte. */
    static const uint8_t near32[5] = {0xfd, 0xff, 0xff, 0xff, 0x0f};
    static const uint8_t min32[5] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    make_appt(&rec);
    rec.u.appt.date_of_birth = INT32_MIN + 1;
    encode(f, &rec, &buf);
    patch_bytes(&buf, near32, min32, 5);
    nb_err_t e = decode(f, &buf, &out);
    if (e == NB_ERR_OK)
        e = nb_codec_validate(&out, NULL, NOW_MS, f->errstr, sizeof(f->errstr));
    assert_int_equal(e, NB_ERR_DATE_RANGE);
    assert_non_null(strstr(f->errstr, "subject.date_of_birth"));

    make_fact(&rec);
    rec.u.fact.end_date = INT32_MIN + 1;
    encode(f, &rec, &buf);
    patch_bytes(&buf, near32, min32, 5);
    e = decode(f, &buf, &out);
    if (e == NB_ERR_OK)
        e = nb_codec_validate(&out, NULL, NOW_MS, f->errstr, sizeof(f->errstr));
    assert_int_equal(e, NB_ERR_DATE_RANGE);
    assert_non_null(strstr(f->errstr, "end_date"));

    /* A required date cannot be "none" either. */
    make_fact(&rec);
    rec.u.fact.start_date = NB_DATE_NONE;
    encode(f, &rec, &buf);
    e = decode(f, &buf, &out);
    if (e == NB_ERR_OK)
        e = nb_codec_validate(&out, NULL, NOW_MS, err, sizeof(err));
    assert_int_equal(e, NB_ERR_DATE_RANGE);
    assert_non_null(strstr(err, "start_date"));

    /* zigzag(INT64_MIN + 1) and zigzag(INT64_MIN): 10-byte varints. */
    static const uint8_t near64[10] = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t min64[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    make_notif(&rec);
    rec.u.notif.respond_by = INT64_MIN + 1;
    encode(f, &rec, &buf);
    patch_bytes(&buf, near64, min64, 10);
    assert_int_equal(decode(f, &buf, &out), NB_ERR_TIMESTAMP_RANGE);
    assert_non_null(strstr(f->errstr, "respond_by"));
    nb_buf_free(&buf);
}

/* Regression (issue 18): a version above 65535 passed decode and validation and was then
 * dead-lettered by the daemon's ledger as "invalid argument" with no field named. */
static void test_version_range_named(void **state)
{
    char err[256];
    nb_record_t rec;
    (void)state;
    make_appt(&rec);
    rec.u.appt.version = 65535;
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)), NB_ERR_OK);
    rec.u.appt.version = 65536;
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_RANGE);
    assert_non_null(strstr(err, "version"));
    assert_non_null(strstr(err, "65535"));
    rec.u.appt.version = INT32_MAX;
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_RANGE);
    rec.u.appt.version = INT32_MIN;
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_RANGE);
    make_fact(&rec);
    rec.u.fact.version = 70000;
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)), NB_ERR_FIELD_RANGE);
    assert_non_null(strstr(err, "version"));
}

/* Regression (issue 18): NHS number 0000000000 (and any one digit ten times) passes Modulus 11
 * and was accepted. */
static void test_nhs_placeholder_refused(void **state)
{
    char err[256];
    nb_record_t rec;
    (void)state;
    make_appt(&rec);
    strcpy(rec.u.appt.nhs_number, "0000000000");
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)),
                     NB_ERR_NHS_PLACEHOLDER);
    assert_non_null(strstr(err, "subject.nhs_number"));
    assert_null(strstr(err, "0000"));
    make_appt(&rec);
    strcpy(rec.u.appt.nhs_number, "9999999999");
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)),
                     NB_ERR_NHS_PLACEHOLDER);
    make_link(&rec);
    strcpy(rec.u.link.to.value, "1111111111");
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)),
                     NB_ERR_NHS_PLACEHOLDER);
    assert_non_null(strstr(err, "to"));
    make_fact(&rec);
    strcpy(rec.u.fact.nhs_number, "0000000000");
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, err, sizeof(err)),
                     NB_ERR_NHS_PLACEHOLDER);
}

/* Regression (issue 18): jansson refuses strings that are not UTF-8 (json_string gives NULL),
 * so such a field made json_pack fail and the record or its evidence vanished from the JSON.
 * Whatever a record holds, its JSON is complete and valid, with bad bytes shown as escapes. */
static void test_json_never_drops_bad_text(void **state)
{
    nb_record_t rec;
    (void)state;
    make_notif(&rec);
    strcpy(rec.u.notif.evidence[0].appointment_type, "imm\xe9nisation");
    strcpy(rec.u.notif.rule_text, "Any WNB\xff");
    json_t *o = nb__record_to_json(&rec);
    assert_non_null(o);
    json_t *ev = json_object_get(o, "evidence");
    assert_int_equal(json_array_size(ev), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0),
                                                          "appointment_type")),
                        "imm\\xe9nisation");
    char *text = json_dumps(o, JSON_COMPACT);
    assert_non_null(text);
    json_error_t jerr;
    json_t *back = json_loads(text, 0, &jerr);
    assert_non_null(back);
    json_decref(back);
    free(text);
    json_decref(o);
    make_appt(&rec);
    strcpy(rec.u.appt.family_name, "Car\xc3");
    o = nb__record_to_json(&rec);
    assert_non_null(o);
    json_decref(o);
}

/* An AuditRecord round-trips through the codec (every optional part present or absent), and
 * validation refuses one that does not say what it is about. */
static void test_audit_record_round_trip_and_validation(void **state)
{
    fixture_t *f = *state;
    static nb_record_t rec, back;
    static nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    strcpy(e.event_id, "gp-1-v2");
    e.source.agency = NB_AGENCY_GP;
    strcpy(e.source.system, "EMIS Web");
    strcpy(e.source.organisation_code, "W97001");
    strcpy(e.nhs_number, "9434765919");
    strcpy(e.appointment_id, "A-1");
    strcpy(e.appointment_type, "Immunisation");
    e.status = NB_STATUS_WAS_NOT_BROUGHT;
    e.scheduled_start = 1790000000000;
    e.recorded_at = 1790000100000;
    e.version = 2;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_AUDIT;
    nb_audit_received_appointment(&e, "ab12", 1790000200000, &rec.u.audit);
    nb_buf_t b = {0};
    assert_int_equal(nb_codec_validate(&rec, NULL, 1790000200000, f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    assert_int_equal(nb_codec_encode(f->codec, &rec, &b, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
    assert_null(memmem(b.data, b.len, "9434765919", 10)); /* no NHS number on the wire */
    assert_int_equal(nb_codec_decode(f->codec, b.data, b.len, NB_RECORD_AUDIT, &back, f->errstr,
                                     sizeof(f->errstr)),
                     NB_ERR_OK);
    nb_buf_free(&b);
    const nb_audit_t *a = &back.u.audit;
    assert_int_equal(back.type, NB_RECORD_AUDIT);
    assert_int_equal(a->kind, NB_AUDIT_RECEIVED);
    assert_string_equal(a->audit_id, rec.u.audit.audit_id);
    assert_int_equal(a->agency, NB_AGENCY_GP);
    assert_true(a->has_event && !a->has_action && !a->has_actor && !a->has_policy);
    assert_string_equal(a->event.status, "was_not_brought");
    assert_int_equal(a->event.scheduled_start, e.scheduled_start);
    assert_true(a->event.nhs_number_known);
    assert_int_equal(a->tier, -1);
    assert_int_equal(a->respond_by, NB_TIME_NONE);

    /* A verdict with its action, actor and policy. */
    nb_audit_t *v = &rec.u.audit;
    nb_audit_init(v, NB_AUDIT_CLOSED, 1790000300000);
    strcpy(v->child_key, "ab12");
    strcpy(v->notification_id, "5f2c");
    v->tier = NB_TIER_URGENT;
    v->has_action = true;
    strcpy(v->action.ack_id, "ack-1");
    v->action.intent = NB_ACK_INTENT_CLOSE;
    v->action.acted_at = 1790000290000;
    v->action.close_action = NB_ACK_REFERRED;
    v->has_actor = true;
    strcpy(v->actor.user_id, "staff-1");
    v->has_policy = true;
    strcpy(v->policy.name, "p");
    strcpy(v->policy.version, "1");
    strcpy(v->policy.hash, "h");
    nb_audit_set_id(v, "ack-1", "5f2c", 0);
    assert_int_equal(nb_codec_encode(f->codec, &rec, &b, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
    assert_int_equal(nb_codec_decode(f->codec, b.data, b.len, NB_RECORD_AUDIT, &back, f->errstr,
                                     sizeof(f->errstr)),
                     NB_ERR_OK);
    nb_buf_free(&b);
    assert_int_equal(a->kind, NB_AUDIT_CLOSED);
    assert_int_equal(a->action.close_action, NB_ACK_REFERRED);
    assert_int_equal(a->tier, NB_TIER_URGENT);
    assert_string_equal(a->actor.user_id, "staff-1");
    assert_false(a->has_event);

    /* Refused: a verdict without its action; a received record without its event; a record
     * about no child (but a purge or a digest). */
    v->has_action = false;
    assert_int_equal(nb_codec_validate(&rec, NULL, 0, f->errstr, sizeof(f->errstr)),
                     NB_ERR_INCONSISTENT);
    v->kind = NB_AUDIT_RECEIVED;
    assert_int_equal(nb_codec_validate(&rec, NULL, 0, f->errstr, sizeof(f->errstr)),
                     NB_ERR_INCONSISTENT);
    v->kind = NB_AUDIT_VIEWED;
    v->child_key[0] = '\0';
    assert_int_not_equal(nb_codec_validate(&rec, NULL, 0, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
    v->kind = NB_AUDIT_PURGED;
    assert_int_equal(nb_codec_validate(&rec, NULL, 0, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
}

/* The AuditRecord's direct encoder (audit_wire.c, for schema id 9) writes exactly the bytes
 * avro-c's generic path writes: the same schema registered under another id (109, version 2)
 * makes a codec encode through avro-c, and every kind of record is compared byte for byte. */
static void test_audit_wire_bytes_equal_generic(void **state)
{
    fixture_t *f = *state;
    const char *json = nb_registry_schema_json(f->reg, 9);
    assert_non_null(json);
    /* The other types' schemas as plain entries (a built-in would be the reader of its type). */
    nb_registry_t *reg2 = nb_registry_new();
    for (int32_t id = 1; id <= 8; id++) {
        const char *sj = nb_registry_schema_json(f->reg, id);
        const char *subject = nb_record_type_name(nb_registry_type_of(f->reg, id));
        assert_int_equal(nb_registry_add(reg2, id, subject, id >= 7 ? 2 : 1, sj, strlen(sj),
                                         f->errstr, sizeof(f->errstr)),
                         NB_ERR_OK);
    }
    assert_int_equal(nb_registry_add(reg2, 109, "org.notbrought.v1.AuditRecord", 2, json,
                                     strlen(json), f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    nb_codec_t *generic = nb_codec_new(reg2, f->errstr, sizeof(f->errstr));
    assert_non_null(generic);
    static nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_AUDIT;
    nb_audit_t *a = &rec.u.audit;
    for (int variant = 0; variant < 6; variant++) {
        nb_audit_init(a, (nb_audit_kind_t)(variant * 4 % NB_AUDIT__COUNT), 1790000000000 + variant);
        snprintf(a->audit_id, sizeof(a->audit_id), "aud-%024d", variant);
        if (variant != 5)
            strcpy(a->child_key,
                   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        if (variant >= 1) {
            strcpy(a->notification_id, "5f2c0d7e9a1b");
            strcpy(a->reference, "WNB-7KQ4-MX9P");
            strcpy(a->rule_id, "wnb_child_on_plan");
            a->tier = variant % NB_TIER__COUNT;
            a->level = variant - 1;
            a->agency = variant % NB_AGENCY__COUNT;
            strcpy(a->organisation, "W97001");
            a->n_evidence = (size_t)variant * 3 % (NB_NOTIF_MAX_EVIDENCE + 1);
            for (size_t k = 0; k < a->n_evidence; k++)
                snprintf(a->evidence[k], sizeof(a->evidence[k]), "ev-%zu-\u00e9", k);
            a->n_recipients = (size_t)variant % 3;
            for (size_t k = 0; k < a->n_recipients; k++) {
                snprintf(a->recipients[k].role, sizeof(a->recipients[k].role), "role-%zu", k);
                snprintf(a->recipients[k].route, sizeof(a->recipients[k].route), "queue:%zu", k);
            }
            a->respond_by = variant % 2 ? -5 : NB_TIME_NONE; /* a negative time too */
            strcpy(a->reason, variant % 2 ? "" : "a reason, in the program's words");
        }
        a->has_event = variant == 0 || variant == 3;
        if (a->has_event) {
            strcpy(a->event.event_id, "gp-1-v2");
            a->event.context = variant == 3;
            strcpy(a->event.appointment_id, variant == 3 ? "" : "A-1");
            strcpy(a->event.status, "attended");
            a->event.scheduled_start = variant == 3 ? NB_TIME_NONE : 1789999999999;
            a->event.recorded_at = 1;
            a->event.version = -2;
            strcpy(a->event.source_system, "EMIS Web");
            a->event.nhs_number_known = variant == 0;
        }
        a->has_action = variant == 2 || variant == 4;
        if (a->has_action) {
            strcpy(a->action.ack_id, "ack-1");
            a->action.intent = variant == 2 ? NB_ACK_INTENT_REASSIGN : NB_ACK_INTENT_CLOSE;
            a->action.acted_at = 1790000000000;
            strcpy(a->action.owner_user, "staff-1");
            strcpy(a->action.target_queue, variant == 2 ? "queue:north" : "");
            a->action.close_action = variant == 4 ? NB_ACK_OTHER : -1;
            a->action.closed_at = variant == 4 ? 1790000000001 : NB_TIME_NONE;
        }
        a->has_actor = variant % 2 == 0;
        strcpy(a->actor.user_id, "staff-2");
        strcpy(a->actor.via, variant == 4 ? "inbox-1" : "");
        a->has_delivery = variant == 1;
        strcpy(a->delivery.channel, "webhook");
        strcpy(a->delivery.route, "pager");
        a->delivery.attempt = 300; /* two bytes of varint */
        strcpy(a->subject, variant == 5 ? "notbrought.audit before 2026-01-01" : "");
        a->has_policy = variant >= 1;
        strcpy(a->policy.name, "p");
        strcpy(a->policy.version, "1");
        strcpy(a->policy.hash, "ab");
        nb_buf_t fast = {0}, slow = {0};
        assert_int_equal(nb_codec_encode(f->codec, &rec, &fast, f->errstr, sizeof(f->errstr)),
                         NB_ERR_OK);
        assert_int_equal(nb_codec_encode(generic, &rec, &slow, f->errstr, sizeof(f->errstr)),
                         NB_ERR_OK);
        int32_t id_fast = 0, id_slow = 0;
        assert_int_equal(nb_frame_schema_id(fast.data, fast.len, &id_fast), NB_ERR_OK);
        assert_int_equal(nb_frame_schema_id(slow.data, slow.len, &id_slow), NB_ERR_OK);
        assert_int_equal(id_fast, 9);
        assert_int_equal(id_slow, 109);
        assert_int_equal(fast.len, slow.len);
        assert_memory_equal(fast.data + NB_FRAME_HEADER_LEN, slow.data + NB_FRAME_HEADER_LEN,
                            fast.len - NB_FRAME_HEADER_LEN);
        nb_buf_free(&fast);
        nb_buf_free(&slow);
    }
    /* An enum value outside its symbols is refused, not written. */
    a->kind = NB_AUDIT__COUNT;
    nb_buf_t b = {0};
    assert_int_equal(nb_codec_encode(f->codec, &rec, &b, f->errstr, sizeof(f->errstr)),
                     NB_ERR_AVRO_ENCODE);
    assert_int_equal(b.len, 0);
    nb_buf_free(&b);
    nb_codec_destroy(generic);
    nb_registry_destroy(reg2);
}

/* ---- the AppointmentEvent fast path (appt_wire.c) against the generic path ---------------- */

/* Decodes @p buf through nb_codec_decode() (fast path first) and the generic path alone, into
 * records filled with the same junk: the results must be the same code, the same message and
 * the same bytes. @returns the code. */
NB_NODISCARD static nb_err_t same_decode(fixture_t *f, const void *buf, size_t len,
                                         nb_record_type_t expect)
{
    static nb_record_t fast, slow;
    char e_fast[512] = "", e_slow[512] = "";
    memset(&fast, 0xa5, sizeof(fast));
    memset(&slow, 0xa5, sizeof(slow));
    nb_err_t a = nb_codec_decode(f->codec, buf, len, expect, &fast, e_fast, sizeof(e_fast));
    nb_err_t b =
        nb__codec_decode_generic(f->codec, buf, len, expect, &slow, e_slow, sizeof(e_slow));
    assert_int_equal(a, b);
    assert_string_equal(e_fast, e_slow);
    assert_memory_equal(&fast, &slow, sizeof(fast));
    return a;
}

/* What the fast path alone says of a framed record (junk in the struct when it declines). */
static nb__appt_wire_t wire_verdict(const nb_buf_t *b)
{
    static nb_appointment_event_t a;
    return nb__appt_wire_decode(b->data + NB_FRAME_HEADER_LEN, b->len - NB_FRAME_HEADER_LEN, &a);
}

/* An AppointmentEvent as it is on the wire, every field under the test's control: NULL strings
 * of optional fields are null branches. */
typedef struct wire_appt_s {
    const char *event_id;
    int64_t agency;
    const char *system, *org;
    int64_t kind;
    const char *nhs;
    const char *local_sys, *local_val; /* null branch when local_sys is NULL */
    const char *preg_sys, *preg_val;
    bool has_edd, has_dob;
    int64_t edd, dob;
    const char *family, *postcode;
    const char *appt_id, *type;
    uint8_t mandated;
    int64_t mode;
    int64_t scheduled;
    int64_t status;
    int64_t recorded_at;
    int64_t version;
} wire_appt_t;

static wire_appt_t wire_base(void)
{
    wire_appt_t w = {"gp-7-1",
                     NB_AGENCY_GP,
                     "EMIS Web",
                     "W91001",
                     NB_SUBJECT_CHILD,
                     "943 476 5919",
                     "urn:notbrought:gp:W91001",
                     "L000007",
                     NULL,
                     NULL,
                     false,
                     true,
                     0,
                     20161,
                     "Carrow",
                     "CF10 1AA",
                     "gp-7",
                     "immunisation",
                     1,
                     NB_CONTACT_HOME_VISIT,
                     NOW_MS - 3 * NB_MS_PER_DAY,
                     NB_STATUS_WAS_NOT_BROUGHT,
                     NOW_MS - 2 * NB_MS_PER_DAY,
                     3};
    return w;
}

static void w_long(nb_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t c;
    while (z >= 0x80) {
        c = (uint8_t)(z | 0x80);
        nb_buf_add(b, &c, 1);
        z >>= 7;
    }
    c = (uint8_t)z;
    nb_buf_add(b, &c, 1);
}

static void w_str(nb_buf_t *b, const char *s)
{
    w_long(b, (int64_t)strlen(s));
    nb_buf_add(b, s, strlen(s));
}

static void w_ostr(nb_buf_t *b, const char *s)
{
    w_long(b, s ? 1 : 0);
    if (s)
        w_str(b, s);
}

static void w_oident(nb_buf_t *b, const char *sys, const char *val)
{
    w_long(b, sys ? 1 : 0);
    if (sys) {
        w_str(b, sys);
        w_str(b, val);
    }
}

/* The frame (schema id 1) and body of @p w. */
static void wire_write(const wire_appt_t *w, nb_buf_t *b)
{
    static const uint8_t hdr[NB_FRAME_HEADER_LEN] = {0, 0, 0, 0, 1};
    b->len = 0;
    nb_buf_add(b, hdr, sizeof(hdr));
    w_str(b, w->event_id);
    w_long(b, w->agency);
    w_str(b, w->system);
    w_str(b, w->org);
    w_long(b, w->kind);
    w_ostr(b, w->nhs);
    w_oident(b, w->local_sys, w->local_val);
    w_oident(b, w->preg_sys, w->preg_val);
    w_long(b, w->has_edd ? 1 : 0);
    if (w->has_edd)
        w_long(b, w->edd);
    w_long(b, w->has_dob ? 1 : 0);
    if (w->has_dob)
        w_long(b, w->dob);
    w_ostr(b, w->family);
    w_ostr(b, w->postcode);
    w_str(b, w->appt_id);
    w_str(b, w->type);
    nb_buf_add(b, &w->mandated, 1);
    w_long(b, w->mode);
    w_long(b, w->scheduled);
    w_long(b, w->status);
    w_long(b, w->recorded_at);
    w_long(b, w->version);
}

/* Writes @p w, and checks both paths agree on it; @returns the code. */
NB_NODISCARD static nb_err_t wire_check(fixture_t *f, const wire_appt_t *w,
                                        nb__appt_wire_t *verdict)
{
    nb_buf_t b = {0};
    wire_write(w, &b);
    assert_int_equal(b.err, NB_ERR_OK);
    nb_err_t err = same_decode(f, b.data, b.len, NB_RECORD_NONE);
    *verdict = wire_verdict(&b);
    /* The fast path says "decoded" exactly when the generic path succeeds (booleans aside). */
    if (*verdict != NB__APPT_WIRE_UNUSUAL)
        assert_int_equal(*verdict == NB__APPT_WIRE_DECODED, err == NB_ERR_OK);
    nb_buf_free(&b);
    return err;
}

static void assert_wire(fixture_t *f, const wire_appt_t *w, nb_err_t want)
{
    nb__appt_wire_t v;
    assert_int_equal(wire_check(f, w, &v), want);
    if (want == NB_ERR_OK)
        assert_int_equal(v, NB__APPT_WIRE_DECODED);
}

typedef struct sample_cmp_s {
    fixture_t *f;
    size_t appts, fast;
} sample_cmp_t;

static int sample_cmp_cb(void *opaque, const char *topic, const char *key, const void *value,
                         size_t len, int64_t ts)
{
    sample_cmp_t *c = opaque;
    int32_t id = 0;
    nb_buf_t b = {0};
    (void)topic;
    (void)key;
    (void)ts;
    nb_err_t err = same_decode(c->f, value, len, NB_RECORD_NONE);
    if (nb_frame_schema_id(value, len, &id) != NB_ERR_OK || id != 1)
        return 0;
    assert_int_equal(same_decode(c->f, value, len, NB_RECORD_APPOINTMENT), err);
    nb_buf_add(&b, value, len);
    nb__appt_wire_t v = wire_verdict(&b);
    nb_buf_free(&b);
    if (err == NB_ERR_OK) {
        c->appts++;
        c->fast += v == NB__APPT_WIRE_DECODED;
    } else {
        assert_int_not_equal(v, NB__APPT_WIRE_DECODED);
    }
    return 0;
}

/* Every record of the synthetic generator, malformed ones included: the same result both ways,
 * and every AppointmentEvent that decodes is one the fast path decodes. */
static void test_appt_wire_samples_equal_generic(void **state)
{
    fixture_t *f = *state;
    assert_true(nb__appt_wire_fits(nb__registry_find(f->reg, 1)->schema));
    assert_false(nb__appt_wire_fits(nb__registry_find(f->reg, 101)->schema));
    assert_false(nb__appt_wire_fits(nb__registry_find(f->reg, 2)->schema));
    sample_cmp_t c = {f, 0, 0};
    nb_sample_opts_t opts;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        nb_sample_opts_default(&opts, NOW_MS);
        opts.seed = seed;
        opts.children = 40;
        opts.malformed = 30;
        opts.local_id_share = 0.1 * (double)seed;
        assert_int_equal(
            nb_sample_generate(&opts, f->codec, sample_cmp_cb, &c, f->errstr, sizeof(f->errstr)),
            0);
    }
    assert_true(c.appts > 500);
    assert_int_equal(c.fast, c.appts);
}

/* Every optional field null and not null, one at a time and all at once. */
static void test_appt_wire_optional_branches(void **state)
{
    fixture_t *f = *state;
    for (int mask = 0; mask < 128; mask++) {
        wire_appt_t w = wire_base();
        w.nhs = mask & 1 ? "9434765919" : NULL;
        w.local_sys = mask & 2 ? "urn:notbrought:gp:W91001" : NULL;
        w.preg_sys = mask & 4 ? NB_SYSTEM_NHS_NUMBER : NULL;
        w.preg_val = "9990000018";
        w.has_edd = mask & 8;
        w.edd = 20500;
        w.has_dob = mask & 16;
        w.family = mask & 32 ? "Ap Rhys-\u00d3g" : NULL;
        w.postcode = mask & 64 ? "" : NULL; /* present and empty reads as null does */
        w.kind = mask & 4 ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD;
        assert_wire(f, &w, NB_ERR_OK);
    }
}

/* Strings at their longest are read; one byte more is refused, with the generic path's code and
 * message (same_decode()). */
static void test_appt_wire_lengths(void **state)
{
    fixture_t *f = *state;
    static char s[200];
    const size_t caps[] = {NB_ID_MAX,   NB_SYSTEM_MAX,   NB_ORG_MAX, NB_SYSTEM_MAX, NB_ID_MAX,
                           NB_NAME_MAX, NB_POSTCODE_MAX, NB_ID_MAX,  NB_TYPE_MAX};
    for (size_t field = 0; field < sizeof(caps) / sizeof(caps[0]); field++) {
        for (size_t extra = 0; extra <= 1; extra++) {
            memset(s, 'A', sizeof(s));
            s[caps[field] + extra] = '\0';
            wire_appt_t w = wire_base();
            const char **slot[] = {&w.event_id, &w.system,   &w.org,     &w.local_sys, &w.local_val,
                                   &w.family,   &w.postcode, &w.appt_id, &w.type};
            *slot[field] = s;
            assert_wire(f, &w, extra ? NB_ERR_FIELD_TOO_LONG : NB_ERR_OK);
        }
    }
}

/* Text no field may hold, in fields of each class. */
static void test_appt_wire_bad_text(void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {"caf\xc3",
                         "\xff\xfe",
                         "a\x01"
                         "b",
                         "a\nb",
                         "a\x7f",
                         "x\u202ey",
                         "\xed\xa0\x80",
                         "a\xc0\xafz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int field = 0; field < 4; field++) {
            wire_appt_t w = wire_base();
            const char **slot[] = {&w.event_id, &w.family, &w.type, &w.local_val};
            *slot[field] = bad[i];
            assert_wire(f, &w, NB_ERR_TEXT_INVALID);
        }
    }
    /* Invisible characters: refused in identifiers, allowed in names. */
    wire_appt_t w = wire_base();
    w.family = "Zero\u200bWidth";
    assert_wire(f, &w, NB_ERR_OK);
    w.event_id = "gp\u200b7";
    assert_wire(f, &w, NB_ERR_TEXT_INVALID);
    /* A NUL inside a string: the generic path's "contains a NUL byte". */
    nb_buf_t b = {0};
    w = wire_base();
    w.postcode = "CF10#1AA";
    wire_write(&w, &b);
    *(uint8_t *)memmem(b.data, b.len, "#", 1) = 0;
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_FIELD_TOO_LONG);
    assert_int_equal(wire_verdict(&b), NB__APPT_WIRE_REFUSED);
    nb_buf_free(&b);
}

/* NHS numbers as nb__get_opt_nhs() takes them. */
static void test_appt_wire_nhs(void **state)
{
    fixture_t *f = *state;
    const struct {
        const char *in;
        nb_err_t err;
    } cases[] = {{"943 476 5919", NB_ERR_OK},
                 {"943-476-5919", NB_ERR_OK},
                 {" 9434765919 ", NB_ERR_OK},
                 {"", NB_ERR_OK},
                 {"12345", NB_ERR_OK},
                 {"94347659190", NB_ERR_NHS_FORMAT},
                 {"943 476 59 1x", NB_ERR_NHS_FORMAT},
                 {"9 4 3 4 7 6 5 9 1 9 - - - - -", NB_ERR_OK},
                 {"0123456789012345678901234567890", NB_ERR_NHS_FORMAT},
                 {"01234567890123456789012345678901", NB_ERR_NHS_FORMAT},
                 {"94x", NB_ERR_OK},
                 {"94\u200b3", NB_ERR_TEXT_INVALID}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wire_appt_t w = wire_base();
        w.nhs = cases[i].in;
        assert_wire(f, &w, cases[i].err);
    }
    nb_record_t rec;
    nb_buf_t b = {0};
    wire_appt_t w = wire_base();
    wire_write(&w, &b);
    assert_int_equal(nb_codec_decode(f->codec, b.data, b.len, NB_RECORD_APPOINTMENT, &rec,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    assert_string_equal(rec.u.appt.nhs_number, "9434765919");
    assert_int_equal(rec.schema_id, 1);
    assert_int_equal(rec.type, NB_RECORD_APPOINTMENT);
    nb_buf_free(&b);
}

/* Enum and union indexes past their symbols, dates and ints out of range, booleans. */
static void test_appt_wire_ranges(void **state)
{
    fixture_t *f = *state;
    wire_appt_t w = wire_base();
    w.agency = NB_AGENCY__COUNT;
    assert_wire(f, &w, NB_ERR_AVRO_ENUM_INDEX);
    w.agency = -1;
    assert_wire(f, &w, NB_ERR_AVRO_ENUM_INDEX);
    w = wire_base();
    w.status = NB_STATUS__COUNT;
    assert_wire(f, &w, NB_ERR_AVRO_ENUM_INDEX);
    w = wire_base();
    w.kind = 2;
    assert_wire(f, &w, NB_ERR_AVRO_ENUM_INDEX);
    w = wire_base();
    w.mode = INT64_MAX;
    assert_wire(f, &w, NB_ERR_AVRO_ENUM_INDEX);
    w = wire_base();
    w.status = NB_STATUS__COUNT - 1;
    w.agency = NB_AGENCY__COUNT - 1;
    w.mode = NB_CONTACT__COUNT - 1;
    w.kind = NB_SUBJECT__COUNT - 1;
    assert_wire(f, &w, NB_ERR_OK);
    w = wire_base();
    w.dob = INT32_MIN;
    assert_wire(f, &w, NB_ERR_DATE_RANGE);
    w.dob = INT32_MIN + 1LL;
    assert_wire(f, &w, NB_ERR_OK);
    w.dob = INT32_MAX + 1LL;
    assert_wire(f, &w, NB_ERR_AVRO_DECODE);
    w = wire_base();
    w.version = INT32_MIN - 1LL;
    assert_wire(f, &w, NB_ERR_AVRO_DECODE);
    w.version = INT32_MIN;
    assert_wire(f, &w, NB_ERR_OK);
    w = wire_base();
    w.scheduled = INT64_MIN; /* a required long: any value */
    w.recorded_at = INT64_MAX;
    assert_wire(f, &w, NB_ERR_OK);
    w = wire_base();
    w.mandated = 0;
    assert_wire(f, &w, NB_ERR_OK);
    /* A boolean byte no Avro writer writes: left to avro-c, which reads it as true. */
    w.mandated = 2;
    nb__appt_wire_t v;
    assert_int_equal(wire_check(f, &w, &v), NB_ERR_OK);
    assert_int_equal(v, NB__APPT_WIRE_UNUSUAL);
    /* A union branch past ["null", T]. */
    nb_buf_t b = {0};
    w = wire_base();
    w.nhs = NULL;
    w.local_sys = NULL;
    w.family = "\x7e";
    wire_write(&w, &b);
    uint8_t *p = memmem(b.data, b.len, "\x02\x02\x7e", 3); /* family_name: branch 1, length 1 */
    assert_non_null(p);
    p[0] = 4;
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_AVRO_UNION_INDEX);
    assert_int_equal(wire_verdict(&b), NB__APPT_WIRE_MALFORMED);
    nb_buf_free(&b);
}

/* Every truncation, trailing bytes, long varints, a type the caller does not expect. */
static void test_appt_wire_framing(void **state)
{
    fixture_t *f = *state;
    static nb_appointment_event_t junk;
    nb_buf_t b = {0};
    wire_appt_t w = wire_base();
    wire_write(&w, &b);
    for (size_t len = 0; len < b.len; len++) {
        assert_int_not_equal(same_decode(f, b.data, len, NB_RECORD_NONE), NB_ERR_OK);
        if (len >= NB_FRAME_HEADER_LEN)
            assert_int_equal(nb__appt_wire_decode(b.data + NB_FRAME_HEADER_LEN,
                                                  len - NB_FRAME_HEADER_LEN, &junk),
                             NB__APPT_WIRE_MALFORMED);
    }
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_OK);
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_APPOINTMENT), NB_ERR_OK);
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_IDENTITY_LINK),
                     NB_ERR_SCHEMA_MISMATCH);
    nb_buf_add(&b, "\0", 1);
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_AVRO_TRAILING);
    assert_int_equal(wire_verdict(&b), NB__APPT_WIRE_MALFORMED);
    /* The version (last field, 3) written in ten bytes: valid for avro-c, and read alike. */
    b.len -= 2;
    nb_buf_add(&b, "\x86\x80\x80\x80\x80\x80\x80\x80\x80\x00", 10);
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_OK);
    assert_int_equal(wire_verdict(&b), NB__APPT_WIRE_DECODED);
    /* Eleven bytes are not a varint. */
    b.len -= 1;
    nb_buf_add(&b, "\x80\x00", 2);
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_AVRO_VARINT);
    assert_int_equal(wire_verdict(&b), NB__APPT_WIRE_MALFORMED);
    /* A string length past the end, and a negative one. */
    wire_write(&w, &b);
    b.data[NB_FRAME_HEADER_LEN] = 0x7e; /* 63 bytes, of the 10 left */
    b.len = NB_FRAME_HEADER_LEN + 11;
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_AVRO_LENGTH);
    b.data[NB_FRAME_HEADER_LEN] = 0x01;
    assert_int_equal(same_decode(f, b.data, b.len, NB_RECORD_NONE), NB_ERR_AVRO_NEGATIVE_LENGTH);
    assert_int_equal(wire_verdict(&b), NB__APPT_WIRE_MALFORMED);
    nb_buf_free(&b);
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
        cmocka_unit_test_setup_teardown(test_text_invalid_refused_at_the_door, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_date_sentinel_on_the_wire, setup, teardown),
        cmocka_unit_test(test_version_range_named),
        cmocka_unit_test(test_nhs_placeholder_refused),
        cmocka_unit_test(test_json_never_drops_bad_text),
        cmocka_unit_test_setup_teardown(test_audit_record_round_trip_and_validation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_wire_bytes_equal_generic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appt_wire_samples_equal_generic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appt_wire_optional_branches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appt_wire_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appt_wire_bad_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appt_wire_nhs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appt_wire_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appt_wire_framing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
