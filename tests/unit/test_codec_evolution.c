/*
 * Unit tests: Notification schema version 2 (issue 20, item 7). Notifications are written
 * with version 2 (id 7) and keep role titles, counted text and source appointment ids through
 * a round trip; version 1 records (id 4, written by fastavro in tests/interop/vectors) are
 * read as written, since avro-c cannot fill in the defaults of fields added later, and get
 * those defaults, before and after version 2 records went through the same codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/cli.h"
#include "notbrought/codec.h"

typedef struct fx_s {
    nb_registry_t *reg;
    nb_codec_t *codec;
    char errstr[512];
    int v1_seen;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    f->reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(f->reg, f->errstr, sizeof(f->errstr)), NB_ERR_OK);
    f->codec = nb_codec_new(f->reg, f->errstr, sizeof(f->errstr));
    assert_non_null(f->codec);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    nb_codec_destroy(f->codec);
    nb_registry_destroy(f->reg);
    free(f);
    return 0;
}

static void roundtrip_v2(fx_t *f)
{
    nb_record_t rec, out;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_NOTIFICATION;
    nb_notification_t *n = &rec.u.notif;
    strcpy(n->notification_id, "5d541f41ee8657e71ca92d43e4bd1faa");
    strcpy(n->reference, "WNB-GK4Y-6QMR");
    n->kind = NB_NOTIFICATION_NEW;
    strcpy(n->nhs_number, "9434765919");
    n->date_of_birth = 19825;
    n->age_months = 26;
    strcpy(n->child_key, "a3f1");
    n->expected_delivery_date = NB_DATE_NONE;
    strcpy(n->rule_id, "wnb_child_on_plan");
    strcpy(n->rule_text, "Any missed appointment for a child on a child protection plan");
    strcpy(n->policy_name, "wnb-wales-base");
    strcpy(n->policy_version, "2025.1");
    strcpy(n->policy_hash, "ab12");
    n->tier = NB_TIER_URGENT;
    strcpy(n->action, "Tell the allocated social worker today.");
    n->respond_by = 1783465140000LL;
    n->created_at = 1783419300000LL;
    n->n_recipients = 1;
    strcpy(n->recipients[0].role, "named_nurse");
    strcpy(n->recipients[0].title, "Named nurse for safeguarding children");
    strcpy(n->recipients[0].route, "queue:named-nurse-safeguarding");
    n->n_evidence = 1;
    strcpy(n->evidence[0].event_id, "sha256:1b2c3d4e5f607182");
    strcpy(n->evidence[0].appointment_id, "EMIS-APPT-0042731");
    strcpy(n->evidence[0].appointment_type, "immunisation");
    strcpy(n->evidence[0].organisation_code, "W97016");
    n->evidence[0].status = NB_STATUS_WAS_NOT_BROUGHT;
    n->n_counts = 1;
    n->counts[0].window_days = 28;
    n->counts[0].count = 1;
    n->counts[0].agencies = 1;
    strcpy(n->counts[0].counted, "1 appointment recorded as was not brought or no access "
                                 "visit in the last 28 days, from 1 agency");
    nb_buf_t buf = {0};
    assert_int_equal(nb_codec_encode(f->codec, &rec, &buf, f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    int32_t id;
    assert_int_equal(nb_frame_schema_id(buf.data, buf.len, &id), NB_ERR_OK);
    assert_int_equal(id, 7);
    assert_int_equal(nb_codec_decode(f->codec, buf.data, buf.len, NB_RECORD_NOTIFICATION, &out,
                                     f->errstr, sizeof(f->errstr)),
                     NB_ERR_OK);
    assert_string_equal(out.u.notif.recipients[0].title, "Named nurse for safeguarding children");
    assert_string_equal(out.u.notif.recipients[0].role, "named_nurse");
    assert_string_equal(out.u.notif.counts[0].counted, n->counts[0].counted);
    assert_string_equal(out.u.notif.evidence[0].appointment_id, "EMIS-APPT-0042731");
    nb_buf_free(&buf);
}

/* Each version 1 notification of the fastavro vectors decodes with the defaults. */
static int v1_cb(void *opaque, const char *topic, const char *key, const void *value, size_t len,
                 int64_t ts)
{
    fx_t *f = opaque;
    int32_t id;
    nb_record_t rec;
    (void)topic;
    (void)key;
    (void)ts;
    if (nb_frame_schema_id(value, len, &id) || id != 4)
        return 0;
    assert_int_equal(
        nb_codec_decode(f->codec, value, len, NB_RECORD_NOTIFICATION, &rec, f->errstr,
                        sizeof(f->errstr)),
        NB_ERR_OK);
    assert_int_equal(rec.schema_id, 4);
    assert_true(rec.u.notif.n_recipients > 0);
    for (size_t i = 0; i < rec.u.notif.n_recipients; i++) {
        assert_string_equal(rec.u.notif.recipients[i].title, "");
        assert_true(rec.u.notif.recipients[i].role[0] != '\0');
    }
    for (size_t i = 0; i < rec.u.notif.n_counts; i++)
        assert_string_equal(rec.u.notif.counts[i].counted, "");
    char *json = nb_codec_to_avro_json(f->codec, value, len, f->errstr, sizeof(f->errstr));
    assert_non_null(json);
    assert_non_null(strstr(json, "named_nurse"));
    free(json);
    f->v1_seen++;
    return 0;
}

static void read_v1(fx_t *f)
{
    f->v1_seen = 0;
    assert_int_equal(nb_recfile_read(NB_SOURCE_DIR "/tests/interop/vectors/vectors.jsonl", v1_cb,
                                     f, f->errstr, sizeof(f->errstr)),
                     0);
    assert_int_equal(f->v1_seen, 2);
}

static void test_v1_then_v2(void **state)
{
    fx_t *f = *state;
    read_v1(f);
    roundtrip_v2(f);
    read_v1(f);
}

static void test_v2_then_v1(void **state)
{
    fx_t *f = *state;
    roundtrip_v2(f);
    read_v1(f);
    roundtrip_v2(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v1_then_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_then_v1, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
