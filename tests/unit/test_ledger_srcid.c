/*
 * Unit tests: the source appointment ids a nurse quotes (issue 20, item 7). The ledger keeps
 * each appointment as a 32-byte entry with hashes; the source system's own id lives in a side
 * store, only for appointments a rule can cite, and survives the changelog (format 2; format
 * 1 is still read, without ids).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/ledger.h"

#define DAY NB_MS_PER_DAY
#define T0 (20000LL * DAY) /* 2024-10-04 */

static nb_appointment_event_t ev(const char *id, nb_agency_t agency, int64_t at, nb_status_t st,
                                 int version)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.appointment_id, sizeof(e.appointment_id), "%s", id);
    snprintf(e.event_id, sizeof(e.event_id), "%s-v%d", id, version);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "immunisation");
    snprintf(e.source.organisation_code, sizeof(e.source.organisation_code), "W97016");
    e.source.agency = agency;
    e.subject_kind = NB_SUBJECT_CHILD;
    e.contact_mode = NB_CONTACT_FACE_TO_FACE;
    e.scheduled_start = at;
    e.recorded_at = at + 3600000;
    e.status = st;
    e.version = version;
    e.date_of_birth = 19000;
    e.expected_delivery_date = NB_DATE_NONE;
    return e;
}

static void apply(nb_ledger_t *led, const char *id, int64_t at, nb_status_t st, int version)
{
    nb_appointment_event_t e = ev(id, NB_AGENCY_GP, at, st, version);
    assert_int_equal(nb_ledger_apply(led, &e, NULL), NB_ERR_OK);
}

/* The evidence appointment id of the appointment scheduled at @p at. */
static const char *evidence_id(const nb_ledger_t *led, int64_t at, char *buf)
{
    size_t n;
    const nb_ledger_appt_t *a = nb_ledger_appts(led, &n);
    for (size_t i = 0; i < n; i++) {
        if ((int64_t)a[i].start_min * 60000 == at) {
            nb_evidence_t e;
            nb_ledger_evidence(led, &a[i], &e);
            strcpy(buf, e.appointment_id);
            return buf;
        }
    }
    fail_msg("no appointment at %lld", (long long)at);
    return NULL;
}

static const char *hash_id(const char *id, char *buf)
{
    char k[128];
    snprintf(k, sizeof(k), "gp/%s", id);
    snprintf(buf, 64, "sha256:%016llx", (unsigned long long)nb_ledger_id_hash(k, strlen(k)));
    return buf;
}

static void test_kept_for_what_a_rule_can_cite(void **state)
{
    (void)state;
    char b[80], h[80];
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = nb_ledger_new(dict);
    size_t base = nb_ledger_memory(led);
    apply(led, "EMIS-APPT-0001", T0, NB_STATUS_WAS_NOT_BROUGHT, 1);
    apply(led, "EMIS-APPT-0002", T0 + DAY, NB_STATUS_ATTENDED, 1);
    apply(led, "EMIS-APPT-0003", T0 + 2 * DAY, NB_STATUS_BOOKED, 1);
    apply(led, "EMIS-APPT-0004", T0 + 3 * DAY, NB_STATUS_NO_ACCESS_VISIT, 1);
    assert_string_equal(evidence_id(led, T0, b), "EMIS-APPT-0001");
    assert_string_equal(evidence_id(led, T0 + DAY, b), hash_id("EMIS-APPT-0002", h));
    assert_string_equal(evidence_id(led, T0 + 2 * DAY, b), "EMIS-APPT-0003");
    assert_string_equal(evidence_id(led, T0 + 3 * DAY, b), "EMIS-APPT-0004");
    /* The ids count in the ledger's memory. */
    assert_true(nb_ledger_memory(led) > base + 4 * sizeof(nb_ledger_appt_t));

    /* A newer version decides: attended drops the id, missed keeps it again. */
    apply(led, "EMIS-APPT-0001", T0, NB_STATUS_ATTENDED, 2);
    assert_string_equal(evidence_id(led, T0, b), hash_id("EMIS-APPT-0001", h));
    apply(led, "EMIS-APPT-0002", T0 + DAY, NB_STATUS_WAS_NOT_BROUGHT, 2);
    assert_string_equal(evidence_id(led, T0 + DAY, b), "EMIS-APPT-0002");
    /* An older version changes nothing. */
    apply(led, "EMIS-APPT-0002", T0 + DAY, NB_STATUS_ATTENDED, 1);
    assert_string_equal(evidence_id(led, T0 + DAY, b), "EMIS-APPT-0002");
    /* Entered in error leaves a tombstone, which is never evidence: no id. */
    apply(led, "EMIS-APPT-0003", T0 + 2 * DAY, NB_STATUS_ENTERED_IN_ERROR, 2);
    assert_string_equal(evidence_id(led, T0 + 2 * DAY, b), hash_id("EMIS-APPT-0003", h));

    /* Pruning drops the ids of the appointments it drops; clearing drops all. */
    nb_ledger_prune(led, T0 + 3 * DAY);
    size_t n;
    const nb_ledger_appt_t *a = nb_ledger_appts(led, &n);
    assert_int_equal(n, 1);
    char id[NB_ID_MAX + 1];
    assert_true(nb_ledger_source_id(led, &a[0], id));
    assert_string_equal(id, "EMIS-APPT-0004");
    size_t before = nb_ledger_memory(led);
    nb_ledger_prune(led, T0 + 30 * DAY);
    assert_true(nb_ledger_memory(led) < before);
    nb_ledger_destroy(led);
    nb_ledger_dict_destroy(dict);
}

static void test_merge_carries_ids(void **state)
{
    (void)state;
    char b[80];
    nb_ledger_dict_t *d1 = nb_ledger_dict_new(), *d2 = nb_ledger_dict_new();
    nb_ledger_t *born = nb_ledger_new(d1), *unborn = nb_ledger_new(d2);
    apply(born, "NBV-77", T0 + 10 * DAY, NB_STATUS_NO_ACCESS_VISIT, 1);
    apply(unborn, "ANC-12", T0, NB_STATUS_WAS_NOT_BROUGHT, 1);
    apply(unborn, "ANC-13", T0 + DAY, NB_STATUS_CANCELLED_BY_PATIENT, 1);
    /* The born child's record says NBV-77 was attended after all (a newer version). */
    apply(unborn, "NBV-77", T0 + 10 * DAY, NB_STATUS_ATTENDED, 2);
    assert_int_equal(nb_ledger_merge(born, unborn), NB_ERR_OK);
    assert_string_equal(evidence_id(born, T0, b), "ANC-12");
    assert_string_equal(evidence_id(born, T0 + DAY, b), "ANC-13");
    size_t n;
    const nb_ledger_appt_t *a = nb_ledger_appts(born, &n);
    char id[NB_ID_MAX + 1];
    assert_int_equal(n, 3);
    assert_int_equal(a[2].status, NB_STATUS_ATTENDED);
    assert_false(nb_ledger_source_id(born, &a[2], id));
    nb_ledger_destroy(born);
    nb_ledger_destroy(unborn);
    nb_ledger_dict_destroy(d1);
    nb_ledger_dict_destroy(d2);
}

/* Restoring from the changelog keeps the ids; a format 1 value (before ids) still reads. */
static void test_changelog_keeps_ids(void **state)
{
    (void)state;
    char b[80], h[80], errstr[256];
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = nb_ledger_new(dict), *back = nb_ledger_new(dict);
    /* More ids than fit in one short block, in an order unlike their hashes. */
    for (int i = 0; i < 40; i++) {
        char id[48];
        snprintf(id, sizeof(id), "S1-%d-%s", i, i % 3 ? "x" : "a-longer-identifier-text");
        apply(led, id, T0 + i * DAY, i % 4 ? NB_STATUS_WAS_NOT_BROUGHT : NB_STATUS_ATTENDED, 1);
    }
    nb_buf_t enc = {0}, enc2 = {0};
    assert_int_equal(nb_ledger_encode(led, &enc), NB_ERR_OK);
    assert_memory_equal(enc.data, "NBL\x02", 4);
    assert_int_equal(nb_ledger_decode_into(back, enc.data, enc.len, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    for (int i = 0; i < 40; i++) {
        char id[48];
        snprintf(id, sizeof(id), "S1-%d-%s", i, i % 3 ? "x" : "a-longer-identifier-text");
        assert_string_equal(evidence_id(back, T0 + i * DAY, b), i % 4 ? id : hash_id(id, h));
    }
    assert_int_equal(nb_ledger_encode(back, &enc2), NB_ERR_OK);
    assert_int_equal(enc.len, enc2.len);
    assert_memory_equal(enc.data, enc2.data, enc.len);

    /* Format 1: the same bytes without the ids section. */
    size_t ids_bytes = 2;
    size_t n;
    const nb_ledger_appt_t *a = nb_ledger_appts(led, &n);
    for (size_t i = 0; i < n; i++) {
        char id[NB_ID_MAX + 1];
        if (nb_ledger_source_id(led, &a[i], id))
            ids_bytes += 9 + strlen(id);
    }
    uint8_t *v1 = malloc(enc.len);
    memcpy(v1, enc.data, enc.len - ids_bytes);
    v1[3] = 1;
    assert_int_equal(
        nb_ledger_decode_into(back, v1, enc.len - ids_bytes, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_string_equal(evidence_id(back, T0 + DAY, b), hash_id("S1-1-x", h));
    /* Format 2 without its ids section is truncated. */
    v1[3] = 2;
    assert_int_equal(
        nb_ledger_decode_into(back, v1, enc.len - ids_bytes, errstr, sizeof(errstr)),
        NB_ERR_LEDGER_CORRUPT);
    free(v1);
    nb_buf_free(&enc);
    nb_buf_free(&enc2);
    nb_ledger_destroy(led);
    nb_ledger_destroy(back);
    nb_ledger_dict_destroy(dict);
}

/* The ids section is checked like the rest: an id for no appointment of the ledger, ids out of
 * order, a control character or an empty id are refused. */
static void test_bad_ids_refused(void **state)
{
    (void)state;
    char errstr[256];
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = nb_ledger_new(dict);
    apply(led, "A1", T0, NB_STATUS_WAS_NOT_BROUGHT, 1);
    apply(led, "A2", T0 + DAY, NB_STATUS_WAS_NOT_BROUGHT, 1);
    nb_buf_t enc = {0};
    assert_int_equal(nb_ledger_encode(led, &enc), NB_ERR_OK);
    /* The section is the last 2 + 2 * (9 + 2) bytes. */
    size_t s = enc.len - 24;
    assert_int_equal(enc.data[s], 2);
    uint8_t *bad = malloc(enc.len);
    memcpy(bad, enc.data, enc.len);
    bad[s + 2] ^= 1; /* the first id's hash: no such appointment (or out of order) */
    assert_int_equal(nb_ledger_decode_into(led, bad, enc.len, errstr, sizeof(errstr)),
                     NB_ERR_LEDGER_CORRUPT);
    memcpy(bad, enc.data, enc.len);
    memcpy(bad + s + 2, enc.data + s + 13, 11); /* the two entries swapped */
    memcpy(bad + s + 13, enc.data + s + 2, 11);
    assert_int_equal(nb_ledger_decode_into(led, bad, enc.len, errstr, sizeof(errstr)),
                     NB_ERR_LEDGER_CORRUPT);
    assert_non_null(strstr(errstr, "out of order"));
    memcpy(bad, enc.data, enc.len);
    bad[s + 11] = '\n';
    assert_int_equal(nb_ledger_decode_into(led, bad, enc.len, errstr, sizeof(errstr)),
                     NB_ERR_LEDGER_CORRUPT);
    assert_non_null(strstr(errstr, "not an identifier"));
    assert_int_equal(nb_ledger_decode_into(led, enc.data, enc.len, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    free(bad);
    nb_buf_free(&enc);
    nb_ledger_destroy(led);
    nb_ledger_dict_destroy(dict);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_for_what_a_rule_can_cite),
        cmocka_unit_test(test_merge_carries_ids),
        cmocka_unit_test(test_changelog_keeps_ids),
        cmocka_unit_test(test_bad_ids_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
