/*
 * Unit tests: the ledger (versions, tombstones, facts, raised notifications, pruning, merge,
 * memory, the changelog format and its validation).
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

static nb_appointment_event_t nb__ev(const char *id, nb_agency_t agency, const char *type,
                                     int64_t at, nb_status_t st, int version)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.appointment_id, sizeof(e.appointment_id), "%s", id);
    snprintf(e.event_id, sizeof(e.event_id), "%s-v%d", id, version);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "%s", type);
    snprintf(e.source.organisation_code, sizeof(e.source.organisation_code), "W91001");
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

static nb_context_fact_t nb__fact(const char *id, nb_fact_kind_t kind, int32_t start, int32_t end,
                                  int version)
{
    nb_context_fact_t f;
    memset(&f, 0, sizeof(f));
    snprintf(f.event_id, sizeof(f.event_id), "%s", id);
    snprintf(f.source_system, sizeof(f.source_system), "WCCIS");
    f.kind = kind;
    f.start_date = start;
    f.end_date = end;
    f.status = NB_FACT_STATUS_CURRENT;
    f.version = version;
    f.recorded_at = (int64_t)start * DAY;
    return f;
}

typedef struct fx_s {
    nb_ledger_dict_t *dict;
    nb_ledger_t *led;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    fx->dict = nb_ledger_dict_new();
    fx->led = nb_ledger_new(fx->dict);
    *state = fx;
    return fx->led ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    nb_ledger_destroy(fx->led);
    nb_ledger_dict_destroy(fx->dict);
    free(fx);
    return 0;
}

static void test_id_hash_is_sha256_prefix(void **state)
{
    (void)state;
    /* SHA-256("abc") = ba7816bf 8f01cfea ...; the first eight bytes, little-endian. */
    assert_true(nb_ledger_id_hash("abc", 3) == 0xeacf018fbf1678baULL);
    uint8_t id[NB_LEDGER_ID_BYTES], back[NB_LEDGER_ID_BYTES];
    char hex[NB_LEDGER_ID_HEX + 1];
    for (int i = 0; i < NB_LEDGER_ID_BYTES; i++)
        id[i] = (uint8_t)(i * 17);
    nb_ledger_id_format(id, hex);
    assert_string_equal(hex, "00112233445566778899aabbccddeeff");
    assert_true(nb_ledger_id_parse(hex, back));
    assert_memory_equal(id, back, sizeof(id));
    assert_false(nb_ledger_id_parse("00112233", back));
    assert_false(nb_ledger_id_parse("g0112233445566778899aabbccddeeff", back));
    assert_int_equal(nb_ledger_minutes(-1), -1);
    assert_int_equal(nb_ledger_minutes(60000), 1);
}

static void test_entry_sizes(void **state)
{
    (void)state;
    assert_int_equal(sizeof(nb_ledger_appt_t), 32);
    assert_int_equal(sizeof(nb_ledger_raised_t), 48);
}

static void test_versions_and_tombstones(void **state)
{
    fx_t *fx = *state;
    nb_ledger_change_t ch;
    size_t n;
    nb_appointment_event_t e = nb__ev("a1", NB_AGENCY_GP, "immunisation", T0,
                                      NB_STATUS_WAS_NOT_BROUGHT, 2);
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_ADDED);
    /* The booking (v1) arrives late: the outcome (v2) stays. */
    e = nb__ev("a1", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_BOOKED, 1);
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UNCHANGED);
    const nb_ledger_appt_t *a = nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].status, NB_STATUS_WAS_NOT_BROUGHT);
    assert_int_equal(a[0].version, 2);
    /* The same version again: a duplicate. */
    e = nb__ev("a1", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_WAS_NOT_BROUGHT, 2);
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UNCHANGED);
    /* Corrected to attended. */
    e = nb__ev("a1", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_ATTENDED, 3);
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UPDATED);
    /* Entered in error: removed, a tombstone remains... */
    e = nb__ev("a1", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_ENTERED_IN_ERROR, 4);
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_REMOVED);
    a = nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].status, NB_STATUS_ENTERED_IN_ERROR);
    /* ...so that a late older version cannot bring it back. */
    e = nb__ev("a1", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_WAS_NOT_BROUGHT, 2);
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UNCHANGED);
    /* Equal version, later recorded_at wins. */
    e = nb__ev("a2", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_BOOKED, 1);
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    e.status = NB_STATUS_ATTENDED;
    e.recorded_at += 60000;
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UPDATED);
    /* Invalid input leaves the ledger unchanged. */
    e.version = 70000;
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_INVALID_ARG);
    e.version = 1;
    e.status = (nb_status_t)99;
    assert_int_equal(nb_ledger_apply(fx->led, &e, &ch), NB_ERR_INVALID_ARG);
    nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 2);
}

/* A booking and its no-show about one appointment with the same version and recording minute
 * (an HL7 v2 feed sends both as version 1 in one minute): the no-show is kept whichever
 * arrives first, in apply and in merge. */
static void test_equal_times_keep_the_later_step(void **state)
{
    fx_t *fx = *state;
    nb_ledger_change_t ch;
    size_t n;
    nb_appointment_event_t b =
        nb__ev("step", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_BOOKED, 1);
    nb_appointment_event_t w = b;
    snprintf(b.event_id, sizeof(b.event_id), "hl7-booking");
    snprintf(w.event_id, sizeof(w.event_id), "hl7-noshow");
    w.status = NB_STATUS_WAS_NOT_BROUGHT;
    w.recorded_at = b.recorded_at + 30000; /* the same minute */
    const nb_appointment_event_t *orders[2][2] = {{&b, &w}, {&w, &b}};
    for (size_t o = 0; o < 2; o++) {
        nb_ledger_t *led = nb_ledger_new(fx->dict);
        assert_non_null(led);
        assert_int_equal(nb_ledger_apply(led, orders[o][0], &ch), NB_ERR_OK);
        assert_int_equal(nb_ledger_apply(led, orders[o][1], &ch), NB_ERR_OK);
        assert_int_equal(nb_ledger_appts(led, &n)[0].status, NB_STATUS_WAS_NOT_BROUGHT);
        nb_ledger_t *other = nb_ledger_new(fx->dict);
        assert_non_null(other);
        assert_int_equal(nb_ledger_apply(other, orders[o][1], &ch), NB_ERR_OK);
        assert_int_equal(nb_ledger_merge(other, led), NB_ERR_OK);
        assert_int_equal(nb_ledger_appts(other, &n)[0].status, NB_STATUS_WAS_NOT_BROUGHT);
        nb_ledger_destroy(other);
        nb_ledger_destroy(led);
    }
    /* Entered in error in the same minute removes whatever came before it in that minute. */
    nb_appointment_event_t e = w;
    snprintf(e.event_id, sizeof(e.event_id), "hl7-deleted");
    e.status = NB_STATUS_ENTERED_IN_ERROR;
    nb_ledger_t *led = nb_ledger_new(fx->dict);
    assert_non_null(led);
    assert_int_equal(nb_ledger_apply(led, &e, &ch), NB_ERR_OK);
    assert_int_equal(nb_ledger_apply(led, &w, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UNCHANGED);
    nb_ledger_destroy(led);
}

/* Two different outcomes about one appointment with the same version and recording minute
 * (a no-show and an attendance sent in one minute, both version 1): the ledger keeps the same
 * one whichever order they arrive in, and a resend of either changes nothing. */
static void test_equal_versions_tie_break_on_event_id(void **state)
{
    fx_t *fx = *state;
    nb_ledger_change_t ch;
    size_t n;
    nb_appointment_event_t x =
        nb__ev("tie", NB_AGENCY_GP, "immunisation", T0, NB_STATUS_ATTENDED, 1);
    nb_appointment_event_t y = x;
    snprintf(x.event_id, sizeof(x.event_id), "hl7-x");
    snprintf(y.event_id, sizeof(y.event_id), "hl7-y");
    y.status = NB_STATUS_WAS_NOT_BROUGHT;
    y.recorded_at = x.recorded_at + 30000; /* the same minute */
    uint64_t hx = nb_ledger_id_hash(x.event_id, strlen(x.event_id));
    uint64_t hy = nb_ledger_id_hash(y.event_id, strlen(y.event_id));
    assert_true(hx != hy);
    uint64_t want = hx > hy ? hx : hy;
    const nb_appointment_event_t *orders[2][2] = {{&x, &y}, {&y, &x}};
    for (size_t o = 0; o < 2; o++) {
        nb_ledger_t *led = nb_ledger_new(fx->dict);
        assert_non_null(led);
        assert_int_equal(nb_ledger_apply(led, orders[o][0], &ch), NB_ERR_OK);
        assert_int_equal(ch, NB_LEDGER_ADDED);
        assert_int_equal(nb_ledger_apply(led, orders[o][1], &ch), NB_ERR_OK);
        const nb_ledger_appt_t *a = nb_ledger_appts(led, &n);
        assert_int_equal(n, 1);
        assert_true(a[0].event_hash == want);
        assert_int_equal(a[0].status, want == hx ? NB_STATUS_ATTENDED : NB_STATUS_WAS_NOT_BROUGHT);
        /* A resend of either is a duplicate. */
        assert_int_equal(nb_ledger_apply(led, &x, &ch), NB_ERR_OK);
        assert_int_equal(ch, NB_LEDGER_UNCHANGED);
        assert_int_equal(nb_ledger_apply(led, &y, &ch), NB_ERR_OK);
        assert_int_equal(ch, NB_LEDGER_UNCHANGED);
        /* A merge decides the same way. */
        nb_ledger_t *other = nb_ledger_new(fx->dict);
        assert_non_null(other);
        assert_int_equal(nb_ledger_apply(other, orders[o][1], &ch), NB_ERR_OK);
        assert_int_equal(nb_ledger_merge(other, led), NB_ERR_OK);
        a = nb_ledger_appts(other, &n);
        assert_int_equal(n, 1);
        assert_true(a[0].event_hash == want);
        nb_ledger_destroy(other);
        nb_ledger_destroy(led);
    }
    /* A later minute still wins over the tie-breaks. */
    nb_appointment_event_t z = x;
    snprintf(z.event_id, sizeof(z.event_id), "hl7-z");
    z.status = NB_STATUS_BOOKED;
    z.recorded_at = x.recorded_at + 120000;
    nb_ledger_t *led = nb_ledger_new(fx->dict);
    assert_non_null(led);
    assert_int_equal(nb_ledger_apply(led, &z, &ch), NB_ERR_OK);
    assert_int_equal(nb_ledger_apply(led, &x, &ch), NB_ERR_OK);
    assert_int_equal(nb_ledger_apply(led, &y, &ch), NB_ERR_OK);
    assert_int_equal(nb_ledger_appts(led, &n)[0].status, NB_STATUS_BOOKED);
    nb_ledger_destroy(led);
}

static void test_sorted_and_rescheduled(void **state)
{
    fx_t *fx = *state;
    size_t n;
    nb_appointment_event_t e;
    e = nb__ev("c", NB_AGENCY_GP, "consultation", T0 + 3 * DAY, NB_STATUS_BOOKED, 1);
    assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    e = nb__ev("a", NB_AGENCY_GP, "consultation", T0 + 1 * DAY, NB_STATUS_BOOKED, 1);
    assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    e = nb__ev("b", NB_AGENCY_GP, "consultation", T0 + 2 * DAY, NB_STATUS_BOOKED, 1);
    assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    /* The same id from another agency is another appointment. */
    e = nb__ev("b", NB_AGENCY_HEALTH_VISITING, "1_year_review", T0 + 2 * DAY, NB_STATUS_BOOKED,
               1);
    assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    const nb_ledger_appt_t *a = nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++)
        assert_true(a[i - 1].start_min <= a[i].start_min);
    /* "a" is moved after "c". */
    e = nb__ev("a", NB_AGENCY_GP, "consultation", T0 + 5 * DAY, NB_STATUS_RESCHEDULED, 2);
    assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    a = nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 4);
    assert_true(a[3].appt_hash == nb_ledger_id_hash("gp/a", 4));
    assert_int_equal(a[3].start_min, nb_ledger_minutes(T0 + 5 * DAY));
    assert_int_equal(nb_ledger_date_of_birth(fx->led), 19000);
}

static void test_facts(void **state)
{
    fx_t *fx = *state;
    nb_ledger_change_t ch;
    size_t n;
    nb_context_fact_t f = nb__fact("cpp-1", NB_FACT_CHILD_PROTECTION_PLAN, 19500, NB_DATE_NONE, 1);
    assert_int_equal(nb_ledger_apply_fact(fx->led, &f, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_ADDED);
    f = nb__fact("cpp-1", NB_FACT_CHILD_PROTECTION_PLAN, 19500, 19800, 2);
    assert_int_equal(nb_ledger_apply_fact(fx->led, &f, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UPDATED);
    const nb_ledger_fact_t *x = nb_ledger_facts(fx->led, &n);
    assert_int_equal(n, 1);
    assert_int_equal(x[0].end_date, 19800);
    f = nb__fact("cpp-1", NB_FACT_CHILD_PROTECTION_PLAN, 19500, NB_DATE_NONE, 1);
    assert_int_equal(nb_ledger_apply_fact(fx->led, &f, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_UNCHANGED);
    f = nb__fact("cpp-1", NB_FACT_CHILD_PROTECTION_PLAN, 19500, 19800, 3);
    f.status = NB_FACT_STATUS_ENTERED_IN_ERROR;
    assert_int_equal(nb_ledger_apply_fact(fx->led, &f, &ch), NB_ERR_OK);
    assert_int_equal(ch, NB_LEDGER_REMOVED);
    nb_context_summary_t cs;
    x = nb_ledger_facts(fx->led, &n);
    nb_ledger_context(fx->led, &x[0], &cs);
    assert_string_equal(cs.source, "WCCIS");
    assert_int_equal(cs.start_date, 19500);
    f.start_date = NB_DATE_NONE;
    assert_int_equal(nb_ledger_apply_fact(fx->led, &f, &ch), NB_ERR_INVALID_ARG);
}

static nb_ledger_raised_t nb__raised(int k, int64_t at)
{
    nb_ledger_raised_t r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < NB_LEDGER_ID_BYTES; i++)
        r.id[i] = (uint8_t)(k + i);
    r.rule_hash = 42;
    r.fingerprint = (uint64_t)k;
    r.raised_at = at;
    r.tier = NB_TIER_PRIORITY;
    return r;
}

static void test_raised(void **state)
{
    fx_t *fx = *state;
    size_t n;
    nb_ledger_raised_t r1 = nb__raised(1, T0 + 2 * DAY), r2 = nb__raised(2, T0 + DAY);
    assert_int_equal(nb_ledger_add_raised(fx->led, &r1), NB_ERR_OK);
    assert_int_equal(nb_ledger_add_raised(fx->led, &r2), NB_ERR_OK);
    const nb_ledger_raised_t *x = nb_ledger_raised(fx->led, &n);
    assert_int_equal(n, 2);
    assert_int_equal(x[0].fingerprint, 2); /* oldest first */
    r1.level = 2;
    assert_int_equal(nb_ledger_add_raised(fx->led, &r1), NB_ERR_OK);
    x = nb_ledger_raised(fx->led, &n);
    assert_int_equal(n, 2);
    assert_int_equal(x[1].level, 2);
    assert_true(nb_ledger_remove_raised(fx->led, r2.id));
    assert_false(nb_ledger_remove_raised(fx->led, r2.id));
    nb_ledger_raised(fx->led, &n);
    assert_int_equal(n, 1);
}

static void test_prune(void **state)
{
    fx_t *fx = *state;
    size_t n;
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "p%d", i);
        nb_appointment_event_t e = nb__ev(id, NB_AGENCY_GP, "consultation", T0 + i * DAY,
                                          NB_STATUS_ATTENDED, 1);
        assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    }
    nb_context_fact_t f = nb__fact("old", NB_FACT_CHILD_IN_NEED, 19000, 19990, 1);
    assert_int_equal(nb_ledger_apply_fact(fx->led, &f, NULL), NB_ERR_OK);
    f = nb__fact("current", NB_FACT_LOOKED_AFTER, 19000, NB_DATE_NONE, 1);
    assert_int_equal(nb_ledger_apply_fact(fx->led, &f, NULL), NB_ERR_OK);
    nb_ledger_raised_t r = nb__raised(1, T0 + DAY);
    assert_int_equal(nb_ledger_add_raised(fx->led, &r), NB_ERR_OK);
    size_t before = nb_ledger_memory(fx->led);
    /* Horizon at T0 + 4 days: p0..p3 go, the ended fact goes, the raised one goes. */
    assert_int_equal(nb_ledger_prune(fx->led, T0 + 4 * DAY), 6);
    nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 6);
    nb_ledger_facts(fx->led, &n);
    assert_int_equal(n, 1);
    nb_ledger_raised(fx->led, &n);
    assert_int_equal(n, 0);
    assert_true(nb_ledger_memory(fx->led) < before);
    assert_int_equal(nb_ledger_prune(fx->led, T0 + 100 * DAY), 6);
    nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 0);
    assert_false(nb_ledger_empty(fx->led)); /* the current fact stays */
}

static void test_memory_exact(void **state)
{
    fx_t *fx = *state;
    /* 64 bytes of ledger; arrays grow 2, 4, 6, 8 ...: five appointments take six slots. */
    assert_int_equal(nb_ledger_memory(fx->led), 64);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "m%d", i);
        nb_appointment_event_t e = nb__ev(id, NB_AGENCY_GP, "immunisation", T0 + i * DAY,
                                          NB_STATUS_ATTENDED, 1);
        assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    }
    assert_int_equal(nb_ledger_memory(fx->led), 64 + 6 * 32);
    /* Strings are shared: one type, one organisation, and "" in the dictionary. */
    assert_int_equal(nb_ledger_dict_size(fx->dict), 3);
}

static void test_evidence_rendering(void **state)
{
    fx_t *fx = *state;
    size_t n;
    nb_appointment_event_t e = nb__ev("ev1", NB_AGENCY_HEALTH_VISITING, "new_birth_visit",
                                      T0 + 12345678, NB_STATUS_NO_ACCESS_VISIT, 2);
    assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    const nb_ledger_appt_t *a = nb_ledger_appts(fx->led, &n);
    nb_evidence_t ev;
    nb_ledger_evidence(fx->led, &a[0], &ev);
    char want[64];
    snprintf(want, sizeof(want), "sha256:%016llx",
             (unsigned long long)nb_ledger_id_hash("ev1-v2", 6));
    assert_string_equal(ev.event_id, want);
    /* The source system's own id, quotable (kept for a missed contact). */
    assert_string_equal(ev.appointment_id, "ev1");
    assert_string_equal(ev.appointment_type, "new_birth_visit");
    assert_string_equal(ev.organisation_code, "W91001");
    assert_int_equal(ev.agency, NB_AGENCY_HEALTH_VISITING);
    assert_int_equal(ev.status, NB_STATUS_NO_ACCESS_VISIT);
    /* Kept to the minute. */
    assert_true(ev.scheduled_start == (T0 + 12345678) / 60000 * 60000);
    assert_true(ev.recorded_at == (T0 + 12345678 + 3600000) / 60000 * 60000);
}

static void nb__fill(nb_ledger_t *led)
{
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof(id), "s%d", i);
        nb_appointment_event_t e =
            nb__ev(id, (nb_agency_t)(i % 3), i % 2 ? "immunisation" : "1_year_review",
                   T0 + i * DAY, i == 2 ? NB_STATUS_ENTERED_IN_ERROR : NB_STATUS_WAS_NOT_BROUGHT,
                   i + 1);
        e.mandated_contact = i % 2;
        assert_int_equal(nb_ledger_apply(led, &e, NULL), NB_ERR_OK);
    }
    nb_context_fact_t f = nb__fact("cpp", NB_FACT_CHILD_PROTECTION_PLAN, 19500, NB_DATE_NONE, 1);
    assert_int_equal(nb_ledger_apply_fact(led, &f, NULL), NB_ERR_OK);
    nb_ledger_raised_t r = nb__raised(7, T0 + DAY);
    assert_int_equal(nb_ledger_add_raised(led, &r), NB_ERR_OK);
    nb_ledger_set_dates(led, 19000, 20100);
}

static void test_encode_decode_roundtrip(void **state)
{
    fx_t *fx = *state;
    nb__fill(fx->led);
    nb_buf_t b1 = {0}, b2 = {0};
    char errstr[256];
    assert_int_equal(nb_ledger_encode(fx->led, &b1), NB_ERR_OK);
    /* A different dictionary (another process): indices differ, content does not. */
    nb_ledger_dict_t *d2 = nb_ledger_dict_new();
    uint16_t idx;
    assert_int_equal(nb_ledger_dict_intern(d2, "something else first", &idx), NB_ERR_OK);
    nb_ledger_t *led2 = NULL;
    assert_int_equal(nb_ledger_decode(d2, b1.data, b1.len, &led2, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    assert_int_equal(nb_ledger_encode(led2, &b2), NB_ERR_OK);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.data, b2.data, b1.len);
    size_t n1, n2;
    const nb_ledger_appt_t *a1 = nb_ledger_appts(fx->led, &n1);
    const nb_ledger_appt_t *a2 = nb_ledger_appts(led2, &n2);
    assert_int_equal(n1, 6);
    assert_int_equal(n2, 6);
    for (size_t i = 0; i < n1; i++) {
        assert_true(a1[i].appt_hash == a2[i].appt_hash);
        assert_int_equal(a1[i].status, a2[i].status);
        assert_int_equal(a1[i].flags, a2[i].flags);
        assert_string_equal(nb_ledger_dict_str(fx->dict, a1[i].type),
                            nb_ledger_dict_str(d2, a2[i].type));
    }
    assert_int_equal(nb_ledger_date_of_birth(led2), 19000);
    assert_int_equal(nb_ledger_expected_delivery(led2), 20100);
    /* Header: magic and version. */
    assert_memory_equal(b1.data, "NBL\x02", 4);
    nb_ledger_destroy(led2);
    nb_ledger_dict_destroy(d2);
    nb_buf_free(&b1);
    nb_buf_free(&b2);
}

/* The ids worked out ahead (on the stream's decoder thread) give the ledger applying them
 * exactly what nb_ledger_apply() gives: the same entries, the same changes, the same bytes. */
static void test_apply_keyed_as_apply(void **state)
{
    fx_t *fx = *state;
    nb_ledger_t *led2 = nb_ledger_new(fx->dict);
    assert_non_null(led2);
    nb_appointment_event_t evs[] = {
        nb__ev("A1", NB_AGENCY_GP, "immunisation", T0 - 10 * DAY, NB_STATUS_WAS_NOT_BROUGHT, 1),
        nb__ev("A2", NB_AGENCY_HEALTH_VISITING, "review", T0 - 5 * DAY, NB_STATUS_BOOKED, 1),
        nb__ev("A2", NB_AGENCY_HEALTH_VISITING, "review", T0 - 5 * DAY,
               NB_STATUS_WAS_NOT_BROUGHT, 2),
        nb__ev("A1", NB_AGENCY_GP, "immunisation", T0 - 10 * DAY, NB_STATUS_ATTENDED, 1),
        /* The same appointment id at another agency is another appointment. */
        nb__ev("A1", NB_AGENCY_MIDWIFERY, "antenatal", T0 - 2 * DAY, NB_STATUS_ATTENDED, 3),
        nb__ev("A2", NB_AGENCY_HEALTH_VISITING, "review", T0 - 5 * DAY,
               NB_STATUS_ENTERED_IN_ERROR, 3),
    };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        nb_ledger_keys_t k1, k2;
        nb_ledger_keys_of(&evs[i], &k1);
        nb_ledger_keys_of(&evs[i], &k2);
        assert_true(k1.appt_hash == k2.appt_hash && k1.event_hash == k2.event_hash);
        assert_true(k1.event_hash ==
                    nb_ledger_id_hash(evs[i].event_id, strlen(evs[i].event_id)));
        nb_ledger_change_t c1, c2;
        assert_int_equal(nb_ledger_apply(fx->led, &evs[i], &c1), NB_ERR_OK);
        assert_int_equal(nb_ledger_apply_keyed(led2, &evs[i], &k1, &c2), NB_ERR_OK);
        assert_int_equal(c1, c2);
    }
    nb_buf_t b1 = {0}, b2 = {0};
    assert_int_equal(nb_ledger_encode(fx->led, &b1), NB_ERR_OK);
    assert_int_equal(nb_ledger_encode(led2, &b2), NB_ERR_OK);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.data, b2.data, b1.len);
    nb_buf_free(&b1);
    nb_buf_free(&b2);
    nb_ledger_destroy(led2);
}

/* Regression: a ledger with two or more context facts and nothing after them (no raised
 * notifications) was refused on decode, because the size check counted 28 bytes per fact
 * where the encoding has 26; the daemon then restarted such a child's history afresh. */
static void test_two_facts_without_raised_round_trip(void **state)
{
    fx_t *fx = *state;
    char errstr[256];
    nb_context_fact_t f1 = nb__fact("fact-a", NB_FACT_CHILD_PROTECTION_PLAN, 20000, NB_DATE_NONE, 1);
    nb_context_fact_t f2 = nb__fact("fact-b", NB_FACT_CHILD_IN_NEED, 19800, 19900, 1);
    nb_context_fact_t f3 = nb__fact("fact-c", NB_FACT_LOOKED_AFTER, 19700, NB_DATE_NONE, 1);
    for (int facts = 1; facts <= 3; facts++) {
        nb_ledger_t *led = nb_ledger_new(fx->dict);
        assert_int_equal(nb_ledger_apply_fact(led, &f1, NULL), NB_ERR_OK);
        if (facts >= 2)
            assert_int_equal(nb_ledger_apply_fact(led, &f2, NULL), NB_ERR_OK);
        if (facts >= 3)
            assert_int_equal(nb_ledger_apply_fact(led, &f3, NULL), NB_ERR_OK);
        nb_buf_t b = {0};
        nb_ledger_t *back = NULL;
        assert_int_equal(nb_ledger_encode(led, &b), NB_ERR_OK);
        assert_int_equal(nb_ledger_decode(fx->dict, b.data, b.len, &back, errstr, sizeof(errstr)),
                         NB_ERR_OK);
        size_t n;
        nb_ledger_facts(back, &n);
        assert_int_equal(n, (size_t)facts);
        nb_ledger_destroy(back);
        nb_ledger_destroy(led);
        nb_buf_free(&b);
    }
}

static void test_decode_rejects_bad_bytes(void **state)
{
    fx_t *fx = *state;
    nb__fill(fx->led);
    nb_buf_t b = {0};
    char errstr[256];
    nb_ledger_t *out = NULL;
    assert_int_equal(nb_ledger_encode(fx->led, &b), NB_ERR_OK);
    /* Every truncation is corrupt, never a crash. */
    for (size_t len = 0; len < b.len; len++) {
        assert_int_equal(nb_ledger_decode(fx->dict, b.data, len, &out, errstr, sizeof(errstr)),
                         NB_ERR_LEDGER_CORRUPT);
        assert_null(out);
    }
    /* A trailing byte. */
    uint8_t *more = malloc(b.len + 1);
    memcpy(more, b.data, b.len);
    more[b.len] = 0;
    assert_int_equal(nb_ledger_decode(fx->dict, more, b.len + 1, &out, errstr, sizeof(errstr)),
                     NB_ERR_LEDGER_CORRUPT);
    assert_string_equal(errstr, "1 trailing bytes");
    /* Another format version. */
    memcpy(more, b.data, b.len);
    more[3] = 9;
    assert_int_equal(nb_ledger_decode(fx->dict, more, b.len, &out, errstr, sizeof(errstr)),
                     NB_ERR_LEDGER_CORRUPT);
    assert_string_equal(errstr, "unsupported ledger format version 9");
    /* Every single-byte change either decodes to a valid ledger or is rejected. */
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(more, b.data, b.len);
            more[i] ^= (uint8_t)(1u << bit);
            nb_err_t err = nb_ledger_decode(fx->dict, more, b.len, &out, errstr, sizeof(errstr));
            assert_true(err == NB_ERR_OK || err == NB_ERR_LEDGER_CORRUPT);
            nb_ledger_destroy(out);
            out = NULL;
        }
    }
    free(more);
    nb_buf_free(&b);
}

/* A big ledger: more strings and appointments than the encoder and decoder keep on the
 * stack (their arrays move to the heap). */
static void nb__fill_big(nb_ledger_t *led, int n)
{
    for (int i = 0; i < n; i++) {
        char id[16], type[32];
        snprintf(id, sizeof(id), "b%d", i);
        snprintf(type, sizeof(type), "type_%d", i); /* one string per appointment */
        nb_appointment_event_t e =
            nb__ev(id, (nb_agency_t)(i % 3), type, T0 + i * 60000LL, NB_STATUS_BOOKED, 1);
        assert_int_equal(nb_ledger_apply(led, &e, NULL), NB_ERR_OK);
    }
}

/* nb_ledger_decode_into() replaces what the ledger held, from bigger to smaller and back, and
 * leaves it empty (and usable) on bad bytes; nb_ledger_encode() appends after what the buffer
 * holds. */
static void test_decode_into_reuses(void **state)
{
    fx_t *fx = *state;
    char errstr[256];
    nb_ledger_t *big = nb_ledger_new(fx->dict), *into = nb_ledger_new(fx->dict);
    nb__fill_big(big, 200);
    nb__fill(fx->led);
    nb_buf_t bb = {0}, bs = {0}, again = {0};
    assert_int_equal(nb_ledger_encode(big, &bb), NB_ERR_OK);
    /* After a prefix: the record starts where the buffer ended. */
    assert_int_equal(nb_buf_append(&bs, "prefix", 6), NB_ERR_OK);
    assert_int_equal(nb_ledger_encode(fx->led, &bs), NB_ERR_OK);
    assert_memory_equal(bs.data, "prefixNBL\x02", 10);
    const uint8_t *small = bs.data + 6;
    size_t small_len = bs.len - 6;

    for (int round = 0; round < 2; round++) {
        size_t n;
        assert_int_equal(nb_ledger_decode_into(into, bb.data, bb.len, errstr, sizeof(errstr)),
                         NB_ERR_OK);
        nb_ledger_appts(into, &n);
        assert_int_equal(n, 200);
        again.len = 0;
        assert_int_equal(nb_ledger_encode(into, &again), NB_ERR_OK);
        assert_int_equal(again.len, bb.len);
        assert_memory_equal(again.data, bb.data, bb.len);

        assert_int_equal(nb_ledger_decode_into(into, small, small_len, errstr, sizeof(errstr)),
                         NB_ERR_OK);
        nb_ledger_appts(into, &n);
        assert_int_equal(n, 6);
        assert_int_equal(nb_ledger_date_of_birth(into), 19000);
        again.len = 0;
        assert_int_equal(nb_ledger_encode(into, &again), NB_ERR_OK);
        assert_int_equal(again.len, small_len);
        assert_memory_equal(again.data, small, small_len);
    }
    /* Bad bytes: an error, and the ledger is empty, not half the old content. */
    assert_int_equal(nb_ledger_decode_into(into, bb.data, bb.len - 1, errstr, sizeof(errstr)),
                     NB_ERR_LEDGER_CORRUPT);
    size_t n;
    nb_ledger_appts(into, &n);
    assert_int_equal(n, 0);
    nb_ledger_facts(into, &n);
    assert_int_equal(n, 0);
    nb_ledger_raised(into, &n);
    assert_int_equal(n, 0);
    assert_int_equal(nb_ledger_date_of_birth(into), NB_DATE_NONE);
    /* Still usable. */
    nb_appointment_event_t e = nb__ev("after", NB_AGENCY_GP, "immunisation", T0,
                                      NB_STATUS_WAS_NOT_BROUGHT, 1);
    assert_int_equal(nb_ledger_apply(into, &e, NULL), NB_ERR_OK);
    nb_ledger_appts(into, &n);
    assert_int_equal(n, 1);
    nb_ledger_clear(into);
    nb_ledger_appts(into, &n);
    assert_int_equal(n, 0);
    nb_ledger_destroy(big);
    nb_ledger_destroy(into);
    nb_buf_free(&bb);
    nb_buf_free(&bs);
    nb_buf_free(&again);
}

static void test_merge(void **state)
{
    fx_t *fx = *state;
    size_t n;
    nb_ledger_t *src = nb_ledger_new(fx->dict);
    nb_appointment_event_t e = nb__ev("x", NB_AGENCY_MIDWIFERY, "antenatal_booking", T0,
                                      NB_STATUS_WAS_NOT_BROUGHT, 2);
    e.subject_kind = NB_SUBJECT_UNBORN;
    e.expected_delivery_date = 20200;
    assert_int_equal(nb_ledger_apply(src, &e, NULL), NB_ERR_OK);
    e = nb__ev("y", NB_AGENCY_GP, "immunisation", T0 + DAY, NB_STATUS_ATTENDED, 1);
    assert_int_equal(nb_ledger_apply(src, &e, NULL), NB_ERR_OK);
    /* dst holds an older version of y and a newer one of nothing else */
    e = nb__ev("y", NB_AGENCY_GP, "immunisation", T0 + DAY, NB_STATUS_BOOKED, 0);
    assert_int_equal(nb_ledger_apply(fx->led, &e, NULL), NB_ERR_OK);
    assert_int_equal(nb_ledger_merge(fx->led, src), NB_ERR_OK);
    const nb_ledger_appt_t *a = nb_ledger_appts(fx->led, &n);
    assert_int_equal(n, 2);
    assert_int_equal(a[1].status, NB_STATUS_ATTENDED);
    assert_int_equal(a[0].flags & NB_LEDGER_UNBORN, NB_LEDGER_UNBORN);
    assert_int_equal(nb_ledger_expected_delivery(fx->led), 20200);
    nb_ledger_destroy(src);
}

static void test_dict(void **state)
{
    fx_t *fx = *state;
    uint16_t a, b, c;
    assert_int_equal(nb_ledger_dict_intern(fx->dict, "zeta", &a), NB_ERR_OK);
    assert_int_equal(nb_ledger_dict_intern(fx->dict, "alpha", &b), NB_ERR_OK);
    assert_int_equal(nb_ledger_dict_intern(fx->dict, "zeta", &c), NB_ERR_OK);
    assert_int_equal(a, c);
    assert_int_not_equal(a, b);
    assert_string_equal(nb_ledger_dict_str(fx->dict, b), "alpha");
    assert_string_equal(nb_ledger_dict_str(fx->dict, 9999), "");
    assert_true(nb_ledger_dict_hash(fx->dict, a) == nb_ledger_id_hash("zeta", 4));
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(nb_ledger_dict_intern(fx->dict, big, &a), NB_ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_hash_is_sha256_prefix),
        cmocka_unit_test(test_entry_sizes),
        cmocka_unit_test_setup_teardown(test_equal_times_keep_the_later_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equal_versions_tie_break_on_event_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_and_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_and_rescheduled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_keyed_as_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_rendering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_decode_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_rejects_bad_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_facts_without_raised_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_into_reuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dict, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
