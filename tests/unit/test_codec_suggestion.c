/*
 * Unit tests: the IdentitySuggestion record (schemas/identity_suggestion.avsc) through the
 * codec: it round-trips, its nested link is an identity.links statement as it is, its evidence
 * holds field names only, every truncation and bad enum is an error, validation refuses what a
 * reviewer could not publish, and the JSON rendering shows what fastavro would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "cli/commands.h"
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
    assert_non_null(f);
    f->reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(f->reg, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
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

static void make_suggestion(nb_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_SUGGESTION;
    nb_suggestion_t *s = &rec->u.sugg;
    strcpy(s->suggestion_id, "suggest-0123456789abcdef01234567");
    nb_identity_link_t *l = &s->link;
    strcpy(l->event_id, s->suggestion_id);
    l->kind = NB_LINK_LINK;
    strcpy(l->from.system, "urn:notbrought:hv:7A1");
    strcpy(l->from.value, "HV-77");
    strcpy(l->to.system, NB_SYSTEM_NHS_NUMBER);
    strcpy(l->to.value, "9434765919");
    l->expected_delivery_date = NB_DATE_NONE;
    l->source.agency = NB_AGENCY_OTHER;
    strcpy(l->source.system, "notbrought");
    strcpy(l->source.organisation_code, "7A1");
    l->verification = NB_VERIFICATION_UNVERIFIED;
    l->recorded_at = NOW_MS;
    strcpy(s->candidate_key, "a3f1c0ffee");
    strcpy(s->cause_event_id, "hv-77-v1");
    s->cause_source.agency = NB_AGENCY_HEALTH_VISITING;
    strcpy(s->cause_source.system, "CYPRIS");
    strcpy(s->cause_source.organisation_code, "7A1");
    s->cause_recorded_at = NOW_MS - 3600000;
    s->matched = 1u << NB_DEMO_DATE_OF_BIRTH | 1u << NB_DEMO_FAMILY_NAME | 1u << NB_DEMO_POSTCODE;
    s->candidates = 1;
    s->suggested_at = NOW_MS;
}

static void encode(fixture_t *f, const nb_record_t *rec, nb_buf_t *buf)
{
    buf->len = 0;
    assert_int_equal(nb_codec_encode(f->codec, rec, buf, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
}

static void test_round_trip(void **state)
{
    fixture_t *f = *state;
    nb_record_t in, out;
    nb_buf_t buf = {0};
    make_suggestion(&in);
    encode(f, &in, &buf);
    int32_t id = 0;
    assert_int_equal(nb_frame_schema_id(buf.data, buf.len, &id), NB_ERR_OK);
    assert_int_equal(id, nb_registry_reader_id(f->reg, NB_RECORD_SUGGESTION));
    assert_int_equal(nb_registry_type_of(f->reg, id), NB_RECORD_SUGGESTION);
    memset(&out, 0xa5, sizeof(out));
    assert_int_equal(nb_codec_decode(f->codec, buf.data, buf.len, NB_RECORD_SUGGESTION, &out,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    assert_int_equal(out.type, NB_RECORD_SUGGESTION);
    assert_memory_equal(&in.u.sugg, &out.u.sugg, sizeof(in.u.sugg));
    assert_int_equal(nb_codec_validate(&out, NULL, NOW_MS, f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);

    /* Optional and partial evidence: no recorded_at, one matched field. */
    in.u.sugg.cause_recorded_at = NB_TIME_NONE;
    in.u.sugg.matched = 1u << NB_DEMO_POSTCODE;
    encode(f, &in, &buf);
    assert_int_equal(nb_codec_decode(f->codec, buf.data, buf.len, NB_RECORD_NONE, &out,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    assert_memory_equal(&in.u.sugg, &out.u.sugg, sizeof(in.u.sugg));

    /* A suggestion is not what any source topic takes. */
    assert_int_equal(nb_codec_decode(f->codec, buf.data, buf.len, NB_RECORD_IDENTITY_LINK, &out,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_SCHEMA_MISMATCH);
    nb_buf_free(&buf);
}

/* The reviewer's tool publishes the nested link as it is: encoded as an IdentityLink it is a
 * statement the identity table accepts after validation. */
static void test_link_is_a_publishable_statement(void **state)
{
    fixture_t *f = *state;
    nb_record_t in, link, out;
    nb_buf_t buf = {0};
    make_suggestion(&in);
    memset(&link, 0, sizeof(link));
    link.type = NB_RECORD_IDENTITY_LINK;
    link.u.link = in.u.sugg.link;
    link.u.link.verification = NB_VERIFICATION_LOCALLY_VERIFIED;
    encode(f, &link, &buf);
    assert_int_equal(nb_codec_decode(f->codec, buf.data, buf.len, NB_RECORD_IDENTITY_LINK, &out,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    assert_int_equal(nb_codec_validate(&out, NULL, NOW_MS, f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    assert_string_equal(out.u.link.from.value, "HV-77");
    assert_string_equal(out.u.link.to.value, "9434765919");
    nb_buf_free(&buf);
}

/* Evidence is field names: the encoded record holds no demographic value, and the names come
 * out in the enum's order whatever order they were set in. */
static void test_evidence_is_field_names(void **state)
{
    fixture_t *f = *state;
    nb_record_t in;
    nb_buf_t buf = {0};
    make_suggestion(&in);
    encode(f, &in, &buf);
    char *json = nb_codec_to_avro_json(f->codec, buf.data, buf.len, f->errstr, sizeof(f->errstr));
    assert_non_null(json);
    assert_non_null(strstr(json, "\"date_of_birth\""));
    assert_non_null(strstr(json, "\"family_name\""));
    assert_non_null(strstr(json, "\"postcode\""));
    assert_null(strstr(json, "Carrow"));
    free(json);

    json_t *j = nb__record_to_json(&in);
    assert_non_null(j);
    json_t *fields = json_object_get(json_object_get(j, "evidence"), "matched_fields");
    assert_int_equal(json_array_size(fields), 3);
    assert_string_equal(json_string_value(json_array_get(fields, 0)), "date_of_birth");
    assert_string_equal(json_string_value(json_array_get(fields, 2)), "postcode");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "evidence"),
                                                        "candidates")),
                     1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(j, "link"), "to"), "value")),
                        "9434765919");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "cause"), "event_id")), "hv-77-v1");
    json_decref(j);

    /* A bit past the enum cannot be written. */
    in.u.sugg.matched |= 1u << NB_DEMO__COUNT;
    buf.len = 0;
    assert_int_equal(nb_codec_encode(f->codec, &in, &buf, f->errstr, sizeof(f->errstr)),
                     NB_ERR_AVRO_ENCODE);
    nb_buf_free(&buf);
}

/* Every strict prefix fails with an error (never a crash or a leak under ASan); an enum index
 * past the symbols is refused with its own code. */
static void test_truncation_and_bad_enum(void **state)
{
    fixture_t *f = *state;
    nb_record_t in, out;
    nb_buf_t buf = {0};
    make_suggestion(&in);
    encode(f, &in, &buf);
    for (size_t n = 0; n < buf.len; n++)
        assert_int_not_equal(nb_codec_decode(f->codec, buf.data, n, NB_RECORD_NONE, &out,
                                             f->errstr, sizeof(f->errstr)),
                             NB_ERR_OK);
    /* The last matched field (postcode, index 2) is a one-byte zigzag varint (4) just before
     * the array's end marker (0), the candidates int (2) and the suggested_at long (6 bytes
     * here). Make it index 3, one past the symbols. */
    size_t tail = 1 + 1 + 6;
    uint8_t *p = buf.data + buf.len - tail;
    assert_int_equal(p[0], 0);
    assert_int_equal(p[-1], 4);
    p[-1] = 6;
    assert_int_equal(nb_codec_decode(f->codec, buf.data, buf.len, NB_RECORD_NONE, &out,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_AVRO_ENUM_INDEX);
    nb_buf_free(&buf);
}

/* What a reviewer could not publish as it is, or evidence that says nothing, is invalid; the
 * message names the field, never its value. */
static void test_validation(void **state)
{
    fixture_t *f = *state;
    nb_record_t rec;
    make_suggestion(&rec);
    strcpy(rec.u.sugg.link.event_id, "link-other");
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, f->errstr, sizeof(f->errstr)),
                     NB_ERR_INCONSISTENT);
    make_suggestion(&rec);
    rec.u.sugg.link.kind = NB_LINK_UNLINK;
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, f->errstr, sizeof(f->errstr)),
                     NB_ERR_INCONSISTENT);
    make_suggestion(&rec);
    strcpy(rec.u.sugg.link.to.value, "9434765918"); /* check digit wrong */
    assert_int_not_equal(nb_codec_validate(&rec, NULL, NOW_MS, f->errstr, sizeof(f->errstr)),
                         NB_ERR_OK);
    assert_null(strstr(f->errstr, "9434765918"));
    make_suggestion(&rec);
    rec.u.sugg.matched = 0;
    assert_int_equal(nb_codec_validate(&rec, NULL, NOW_MS, f->errstr, sizeof(f->errstr)),
                     NB_ERR_INCONSISTENT);
    make_suggestion(&rec);
    rec.u.sugg.candidate_key[0] = '\0';
    assert_int_not_equal(nb_codec_validate(&rec, NULL, NOW_MS, f->errstr, sizeof(f->errstr)),
                         NB_ERR_OK);
    assert_non_null(strstr(f->errstr, "candidate_child_key"));
}

/* The same record as the fastavro vector of tests/interop/vectors (avro_interop.py writes it
 * with an independent Avro implementation): our bytes are fastavro's, byte for byte, so each
 * reads what the other writes. */
typedef struct vec_s {
    nb_buf_t bytes;
    int found;
} vec_t;

static int vec_cb(void *opaque, const char *topic, const char *key, const void *value,
                  size_t len, int64_t ts)
{
    vec_t *v = opaque;
    (void)key;
    (void)ts;
    if (strcmp(topic, "identity.suggestions") == 0) {
        v->found++;
        return nb_buf_append(&v->bytes, value, len) != NB_ERR_OK; /* non-zero stops the replay */
    }
    return 0;
}

static void test_bytes_equal_fastavro(void **state)
{
    fixture_t *f = *state;
    vec_t v = {{0}, 0};
    assert_int_equal(nb_recfile_read(NB_SOURCE_DIR "/tests/interop/vectors/vectors.jsonl",
                                     vec_cb, &v, f->errstr, sizeof(f->errstr)),
                     0);
    assert_int_equal(v.found, 1);
    nb_record_t rec;
    make_suggestion(&rec);
    nb_suggestion_t *s = &rec.u.sugg;
    strcpy(s->candidate_key, "a3f1");
    assert_true(nb_parse_time("2026-10-21T08:00:00Z", &s->suggested_at));
    s->link.recorded_at = s->suggested_at;
    assert_true(nb_parse_time("2026-10-20T11:02:03.456Z", &s->cause_recorded_at));
    nb_buf_t ours = {0};
    encode(f, &rec, &ours);
    assert_int_equal(ours.len, v.bytes.len);
    assert_memory_equal(ours.data, v.bytes.data, ours.len);
    nb_buf_free(&ours);
    nb_buf_free(&v.bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_is_a_publishable_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_is_field_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_and_bad_enum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_equal_fastavro, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
