/*
 * unit.report: the board's figures over hand-made audit records (counts, rates per 1,000,
 * acknowledgement within respond-by, median and 90th percentile, parked identities, the
 * breakdowns), the CSV's fixed columns, the HTML page's self-containment and escaping, and the
 * fast reader of AuditRecord binaries against the codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "notbrought/codec.h"
#include "notbrought/report.h"

#define DAY 86400000LL
#define MIN 60000LL
/* 2026-03-01T00:00Z and the period [T0, T0 + 7 days). */
#define T0 1772323200000LL

static void str(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s);
}

/* A received appointment. */
static void received(nb_audit_t *a, int64_t at, const char *event_id, const char *appt,
                     nb_agency_t agency, const char *status, int64_t start, int32_t version,
                     const char *source, bool nhs_known)
{
    nb_audit_init(a, NB_AUDIT_RECEIVED, at);
    a->agency = (int)agency;
    str(a->organisation, sizeof(a->organisation), "Y01234");
    a->has_event = true;
    str(a->event.event_id, sizeof(a->event.event_id), event_id);
    str(a->event.appointment_id, sizeof(a->event.appointment_id), appt);
    str(a->event.status, sizeof(a->event.status), status);
    a->event.scheduled_start = start;
    a->event.version = version;
    str(a->event.source_system, sizeof(a->event.source_system), source);
    a->event.nhs_number_known = nhs_known;
}

static void fired(nb_audit_t *a, nb_audit_kind_t kind, int64_t at, const char *id, const char *rule,
                  nb_tier_t tier, nb_agency_t agency, const char *org, int64_t respond_by)
{
    nb_audit_init(a, kind, at);
    str(a->notification_id, sizeof(a->notification_id), id);
    str(a->rule_id, sizeof(a->rule_id), rule);
    a->tier = (int)tier;
    a->agency = (int)agency;
    str(a->organisation, sizeof(a->organisation), org);
    a->respond_by = respond_by;
}

static void verdict(nb_audit_t *a, nb_audit_kind_t kind, int64_t at, const char *id)
{
    nb_audit_init(a, kind, at);
    str(a->notification_id, sizeof(a->notification_id), id);
}

static void add(nb_report_t *r, const nb_audit_t *a)
{
    assert_int_equal(nb_report_add_audit(r, a), NB_ERR_OK);
}

static double v(const nb_report_t *r, const char *t, const char *g, const char *m)
{
    return nb_report_value(r, t, g, m);
}

/* Each appointment counts once, at its latest version, when that version's start is in the
 * period; a rate is per 1,000 appointments of the agency. */
static void test_appointments_latest_version_and_rate(void **state)
{
    (void)state;
    nb_report_t *r = nb_report_new(T0, T0 + 7 * DAY, NB_REPORT_BY_AGENCY);
    assert_non_null(r);
    nb_audit_t a;
    /* gp A1 booked then was not brought (version 2): one appointment, one WNB. */
    received(&a, T0 - DAY, "e1", "A1", NB_AGENCY_GP, "booked", T0 + DAY, 1, "emis", true);
    add(r, &a);
    received(&a, T0 + DAY, "e2", "A1", NB_AGENCY_GP, "was_not_brought", T0 + DAY, 2, "emis", true);
    add(r, &a);
    /* An older version read later changes nothing. */
    received(&a, T0 + 2 * DAY, "e3", "A1", NB_AGENCY_GP, "attended", T0 + DAY, 1, "emis", true);
    add(r, &a);
    /* gp A2, A3 attended; A4 moved out of the period by its latest version. */
    received(&a, T0, "e4", "A2", NB_AGENCY_GP, "attended", T0 + 2 * DAY, 1, "emis", false);
    add(r, &a);
    received(&a, T0, "e5", "A3", NB_AGENCY_GP, "attended", T0 + 3 * DAY, 1, "emis", true);
    add(r, &a);
    received(&a, T0, "e6", "A4", NB_AGENCY_GP, "booked", T0 + 3 * DAY, 1, "emis", true);
    add(r, &a);
    received(&a, T0, "e7", "A4", NB_AGENCY_GP, "rescheduled", T0 + 30 * DAY, 2, "emis", true);
    add(r, &a);
    /* The same appointment id from another source system is another appointment. */
    received(&a, T0, "e8", "A1", NB_AGENCY_HEALTH_VISITING, "no_access_visit", T0 + DAY, 1, "rio",
             true);
    add(r, &a);
    /* Entered in error: not an appointment. */
    received(&a, T0, "e9", "A9", NB_AGENCY_GP, "entered_in_error", T0 + DAY, 1, "emis", true);
    add(r, &a);
    assert_int_equal(nb_report_finish(r), NB_ERR_OK);
    assert_true(v(r, "appointments", "gp", "appointments") == 3);
    assert_true(v(r, "appointments", "gp", "was_not_brought") == 1);
    assert_true(fabs(v(r, "appointments", "gp", "was_not_brought_per_1000") - 1000.0 / 3) < 1e-9);
    assert_true(v(r, "appointments", "health_visiting", "no_access_visit") == 1);
    assert_true(v(r, "appointments", "health_visiting", "was_not_brought_per_1000") == 0);
    assert_true(v(r, "appointments", "all", "appointments") == 4);
    assert_true(isnan(v(r, "appointments", "midwifery", "appointments")));
    /* Events by source: received in the period (e1 was before it). */
    assert_true(v(r, "events_by_source", "emis", "events") == 7);
    assert_true(v(r, "events_by_source", "emis", "without_nhs_number") == 1);
    assert_true(v(r, "events_by_source", "rio", "events") == 1);
    assert_true(v(r, "events_by_source", "all", "events") == 8);
    nb_report_destroy(r);
}

/* Time to acknowledge: from the raise to the first taken or closed verdict; within respond-by
 * when that verdict is at or before the notification's respond_by; quantiles by nearest rank. */
static void test_acknowledgement_times(void **state)
{
    (void)state;
    nb_report_t *r = nb_report_new(T0, T0 + 7 * DAY, NB_REPORT_BY_RULE);
    assert_non_null(r);
    nb_audit_t a;
    char id[32];
    /* Ten notifications of rule r1, acknowledged after 10, 20, ..., 100 minutes; respond-by 60
     * minutes after the raise: six within. */
    for (int i = 1; i <= 10; i++) {
        snprintf(id, sizeof(id), "n%d", i);
        int64_t t = T0 + i * DAY / 2;
        fired(&a, NB_AUDIT_FIRED, t, id, "r1", NB_TIER_ROUTINE, NB_AGENCY_GP, "Y1", t + 60 * MIN);
        add(r, &a);
        verdict(&a, i % 2 ? NB_AUDIT_TAKEN : NB_AUDIT_CLOSED, t + i * 10 * MIN, id);
        add(r, &a);
        /* A later verdict does not move the first. */
        verdict(&a, NB_AUDIT_CLOSED, t + 500 * MIN, id);
        add(r, &a);
    }
    /* r2: one never acknowledged, one reassigned only (not an acknowledgement), one digested
     * and one raised closed (raised, but asking no response), one shadow. */
    fired(&a, NB_AUDIT_FIRED, T0 + DAY, "m1", "r2", NB_TIER_URGENT, NB_AGENCY_MIDWIFERY, "Y2",
          T0 + DAY + 30 * MIN);
    add(r, &a);
    fired(&a, NB_AUDIT_FIRED, T0 + DAY, "m2", "r2", NB_TIER_URGENT, NB_AGENCY_MIDWIFERY, "Y2",
          T0 + DAY + 30 * MIN);
    add(r, &a);
    verdict(&a, NB_AUDIT_REASSIGNED, T0 + DAY + MIN, "m2");
    add(r, &a);
    fired(&a, NB_AUDIT_DIGESTED, T0 + DAY, "m3", "r2", NB_TIER_CURIOSITY, NB_AGENCY_MIDWIFERY, "Y2",
          NB_TIME_NONE);
    add(r, &a);
    fired(&a, NB_AUDIT_FIRED_CLOSED, T0 + DAY, "m4", "r2", NB_TIER_URGENT, NB_AGENCY_MIDWIFERY,
          "Y2", NB_TIME_NONE);
    add(r, &a);
    fired(&a, NB_AUDIT_SHADOW, T0 + DAY, "", "r2", NB_TIER_URGENT, NB_AGENCY_MIDWIFERY, "Y2",
          NB_TIME_NONE);
    add(r, &a);
    /* Raised before the period: neither it nor its verdict counts. */
    fired(&a, NB_AUDIT_FIRED, T0 - DAY, "old", "r1", NB_TIER_ROUTINE, NB_AGENCY_GP, "Y1", T0);
    add(r, &a);
    verdict(&a, NB_AUDIT_TAKEN, T0 + MIN, "old");
    add(r, &a);
    assert_int_equal(nb_report_finish(r), NB_ERR_OK);
    assert_true(v(r, "notifications", "r1", "raised") == 10);
    assert_true(v(r, "notifications", "r1", "acknowledged") == 10);
    assert_true(v(r, "notifications", "r1", "with_respond_by") == 10);
    assert_true(v(r, "notifications", "r1", "acknowledged_within_respond_by") == 6);
    assert_true(fabs(v(r, "notifications", "r1", "share_within_respond_by") - 0.6) < 1e-9);
    assert_true(v(r, "notifications", "r1", "median_minutes_to_acknowledge") == 50);
    assert_true(v(r, "notifications", "r1", "p90_minutes_to_acknowledge") == 90);
    assert_true(v(r, "notifications", "r2", "raised") == 4);
    assert_true(v(r, "notifications", "r2", "shadow") == 1);
    assert_true(v(r, "notifications", "r2", "digested") == 1);
    assert_true(v(r, "notifications", "r2", "asked_response") == 2);
    assert_true(v(r, "notifications", "r2", "acknowledged") == 0);
    assert_true(v(r, "notifications", "r2", "share_within_respond_by") == 0);
    assert_true(isnan(v(r, "notifications", "r2", "median_minutes_to_acknowledge")));
    assert_true(v(r, "notifications", "all", "raised") == 14);
    assert_true(v(r, "notifications", "all", "acknowledged_within_respond_by") == 6);
    assert_true(fabs(v(r, "notifications", "all", "share_within_respond_by") - 0.5) < 1e-9);
    assert_true(v(r, "notifications_by_rule_tier", "r1 / routine", "raised") == 10);
    assert_true(v(r, "notifications_by_rule_tier", "r2 / urgent", "raised") == 3);
    assert_true(v(r, "notifications_by_rule_tier", "r2 / curiosity", "raised") == 1);
    nb_report_counts_t c;
    nb_report_counts(r, &c);
    assert_int_equal(c.notifications, 14);
    assert_int_equal(c.orphan_verdicts, 1);
    nb_report_destroy(r);
}

/* --by chooses the rows of the notifications table. */
static void test_breakdowns(void **state)
{
    (void)state;
    static const struct {
        nb_report_by_t by;
        const char *row1, *row2;
    } cases[] = {{NB_REPORT_BY_AGENCY, "gp", "midwifery"},
                 {NB_REPORT_BY_RULE, "r1", "r2"},
                 {NB_REPORT_BY_TIER, "routine", "urgent"},
                 {NB_REPORT_BY_ORGANISATION, "Y1", "Y2"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb_report_t *r = nb_report_new(T0, T0 + DAY, cases[i].by);
        assert_non_null(r);
        nb_audit_t a;
        fired(&a, NB_AUDIT_FIRED, T0, "x", "r1", NB_TIER_ROUTINE, NB_AGENCY_GP, "Y1", T0 + MIN);
        add(r, &a);
        fired(&a, NB_AUDIT_FIRED, T0, "y", "r2", NB_TIER_URGENT, NB_AGENCY_MIDWIFERY, "Y2",
              T0 + MIN);
        add(r, &a);
        fired(&a, NB_AUDIT_FIRED, T0, "z", "r2", NB_TIER_URGENT, NB_AGENCY_MIDWIFERY, "Y2",
              T0 + MIN);
        add(r, &a);
        assert_int_equal(nb_report_finish(r), NB_ERR_OK);
        const nb_report_table_t *t = nb_report_find(r, "notifications");
        assert_non_null(t);
        assert_string_equal(t->group, nb_report_by_name(cases[i].by));
        assert_int_equal(t->n_rows, 3);
        assert_string_equal(t->rows[0], cases[i].row1);
        assert_string_equal(t->rows[1], cases[i].row2);
        assert_string_equal(t->rows[2], "all");
        assert_true(v(r, "notifications", cases[i].row1, "raised") == 1);
        assert_true(v(r, "notifications", cases[i].row2, "raised") == 2);
        nb_report_destroy(r);
    }
    nb_report_by_t by;
    assert_true(nb_report_by_parse("organisation", &by));
    assert_int_equal(by, NB_REPORT_BY_ORGANISATION);
    assert_false(nb_report_by_parse("postcode", &by));
}

/* Escalations by rung, withdrawals by reason, parked events resolved when received later (in
 * any order of partitions), dead letters by reason; only the period's. */
static void test_escalations_withdrawals_parked_dead_letters(void **state)
{
    (void)state;
    nb_report_t *r = nb_report_new(T0, T0 + DAY, NB_REPORT_BY_RULE);
    assert_non_null(r);
    nb_audit_t a;
    int levels[] = {1, 1, 2, 10, 1};
    for (size_t i = 0; i < 5; i++) {
        nb_audit_init(&a, NB_AUDIT_ESCALATED, i < 4 ? T0 + 1 : T0 + 2 * DAY);
        a.level = levels[i];
        add(r, &a);
    }
    const char *reasons[] = {
        "No action needed: withdrawn because attended (GP appointment A1 at Y1, now attended).",
        "No action needed: withdrawn because attended.", "", "entered_in_error"};
    for (size_t i = 0; i < 4; i++) {
        nb_audit_init(&a, NB_AUDIT_WITHDRAWN, T0 + 5);
        str(a.reason, sizeof(a.reason), reasons[i]);
        add(r, &a);
    }
    /* p2 resolved before its parked record is read (another partition); p1 after; p3 never;
     * p1 parked twice counts once. */
    received(&a, T0 + 9, "p2", "B2", NB_AGENCY_GP, "booked", T0 - DAY, 1, "emis", false);
    add(r, &a);
    const char *parked[] = {"p1", "p2", "p3", "p1"};
    for (size_t i = 0; i < 4; i++) {
        nb_audit_init(&a, NB_AUDIT_PARKED, T0 + 3);
        a.has_event = true;
        str(a.event.event_id, sizeof(a.event.event_id), parked[i]);
        add(r, &a);
    }
    received(&a, T0 + 2 * DAY, "p1", "B1", NB_AGENCY_GP, "booked", T0 - DAY, 1, "emis", false);
    add(r, &a);
    assert_int_equal(nb_report_add_dead_letter(r, "nhs_check_digit", T0 + 1), NB_ERR_OK);
    assert_int_equal(nb_report_add_dead_letter(r, "nhs_check_digit", T0 + 2), NB_ERR_OK);
    assert_int_equal(nb_report_add_dead_letter(r, "frame_magic", T0 + 3), NB_ERR_OK);
    assert_int_equal(nb_report_add_dead_letter(r, NULL, T0 + 3), NB_ERR_OK);
    assert_int_equal(nb_report_add_dead_letter(r, "frame_magic", T0 - 1), NB_ERR_OK);
    assert_int_equal(nb_report_finish(r), NB_ERR_OK);
    assert_true(v(r, "escalations", "1", "escalated") == 2);
    assert_true(v(r, "escalations", "2", "escalated") == 1);
    assert_true(v(r, "escalations", "10", "escalated") == 1);
    const nb_report_table_t *t = nb_report_find(r, "escalations");
    assert_string_equal(t->rows[2], "10"); /* rungs in numeric order */
    assert_true(v(r, "withdrawals", "attended", "withdrawn") == 2);
    assert_true(v(r, "withdrawals", "unstated", "withdrawn") == 1);
    assert_true(v(r, "withdrawals", "all", "withdrawn") == 4);
    assert_true(v(r, "identities", "parked", "parked") == 3);
    assert_true(v(r, "identities", "parked", "resolved") == 2);
    assert_true(v(r, "identities", "parked", "unresolved") == 1);
    assert_true(v(r, "dead_letters", "nhs_check_digit", "dead_letters") == 2);
    assert_true(v(r, "dead_letters", "frame_magic", "dead_letters") == 1);
    assert_true(v(r, "dead_letters", "unclassified", "dead_letters") == 1);
    assert_true(v(r, "dead_letters", "all", "dead_letters") == 4);
    /* Nothing more once finished. */
    assert_int_equal(nb_report_add_audit(r, &a), NB_ERR_INVALID_ARG);
    assert_int_equal(nb_report_finish(r), NB_ERR_INVALID_ARG);
    nb_report_destroy(r);
    nb_report_destroy(NULL);
}

/* A report with a little of everything, and text that needs escaping. */
static nb_report_t *sample_report(void)
{
    nb_report_t *r = nb_report_new(T0, T0 + DAY, NB_REPORT_BY_ORGANISATION);
    assert_non_null(r);
    nb_audit_t a;
    received(&a, T0, "e1", "A1", NB_AGENCY_GP, "was_not_brought", T0 + 1, 1, "emis, \"web\"", true);
    add(r, &a);
    fired(&a, NB_AUDIT_FIRED, T0, "n1", "r1", NB_TIER_ROUTINE, NB_AGENCY_GP, "<script>&</i>",
          T0 + MIN);
    add(r, &a);
    nb_audit_init(&a, NB_AUDIT_WITHDRAWN, T0 + 5);
    str(a.reason, sizeof(a.reason), "a & b's \"reason\"");
    add(r, &a);
    assert_int_equal(nb_report_finish(r), NB_ERR_OK);
    return r;
}

/* The CSV's columns are fixed; a field with a comma or quote is quoted; an undefined figure is
 * empty; every figure of every table is a line. */
static void test_csv_columns(void **state)
{
    (void)state;
    nb_report_t *r = sample_report();
    nb_buf_t out = {0};
    nb_report_csv(r, "2026-03-01", "2026-03-02", &out);
    nb_buf_add(&out, "", 1);
    assert_int_equal(out.err, NB_ERR_OK);
    const char *csv = (const char *)out.data;
    assert_memory_equal(csv, "from,to,table,group,measure,value\r\n", 35);
    assert_non_null(strstr(csv, "2026-03-01,2026-03-02,appointments,gp,appointments,1\r\n"));
    assert_non_null(
        strstr(csv, "2026-03-01,2026-03-02,appointments,gp,was_not_brought_per_1000,1000.0\r\n"));
    assert_non_null(strstr(csv, ",events_by_source,\"emis, \"\"web\"\"\",events,1\r\n"));
    assert_non_null(strstr(csv, ",notifications,<script>&</i>,median_minutes_to_acknowledge,\r\n"));
    size_t lines = 0, figures = 0;
    for (const char *p = csv; *p; p++)
        lines += *p == '\n';
    for (size_t i = 0; i < nb_report_n_tables(r); i++)
        figures += nb_report_table(r, i)->n_rows * nb_report_table(r, i)->n_measures;
    assert_int_equal(lines, figures + 1);
    nb_buf_free(&out);
    nb_report_destroy(r);
}

/* The HTML page stands alone: inline CSS and SVG, no script, no link, no URL to fetch; every
 * text from a record escaped. */
static void test_html_self_contained_and_escaped(void **state)
{
    (void)state;
    nb_report_t *r = sample_report();
    nb_buf_t out = {0};
    nb_report_html(r, "2026-03-01", "2026-03-02", "2026-03-05T09:00Z", &out);
    nb_buf_add(&out, "", 1);
    assert_int_equal(out.err, NB_ERR_OK);
    const char *html = (const char *)out.data;
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "<style>"));
    assert_non_null(strstr(html, "<svg "));
    assert_non_null(strstr(html, "&lt;script&gt;&amp;&lt;/i&gt;"));
    assert_non_null(strstr(html, "a &amp; b&#39;s &quot;reason&quot;"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "http:"));
    assert_null(strstr(html, "https:"));
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "@import"));
    assert_null(strstr(html, " src="));
    assert_null(strstr(html, " href="));
    nb_buf_free(&out);
    nb_report_destroy(r);
}

/* The fast reader reads what the codec writes as the codec reads it; a record cut short or
 * with trailing bytes is refused (the caller then asks the codec why); another schema id is
 * left to the codec; the check accepts the built-in schema 9 and no other id. */
static void test_reader_matches_codec(void **state)
{
    (void)state;
    char errstr[256];
    nb_registry_t *reg = nb_registry_new();
    assert_non_null(reg);
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    assert_non_null(codec);
    assert_true(nb_report_reader_check(reg, NB_REPORT_READER_SCHEMA_ID, errstr, sizeof(errstr)));
    assert_false(nb_report_reader_check(reg, 4, errstr, sizeof(errstr)));
    nb_record_t *rec = calloc(2, sizeof(*rec));
    assert_non_null(rec);
    nb_audit_t *in = &rec[0].u.audit;
    for (int k = 0; k < 3; k++) {
        rec[0].type = NB_RECORD_AUDIT;
        if (k == 0)
            received(in, T0, "e1", "A1", NB_AGENCY_SCHOOL_NURSING, "was_not_brought", T0 + 1, 7,
                     "emis", false);
        else
            fired(in, k == 1 ? NB_AUDIT_FIRED : NB_AUDIT_ESCALATED, T0, "n1", "r1", NB_TIER_URGENT,
                  NB_AGENCY_GP, "Y1", T0 + MIN);
        in->level = k;
        str(in->child_key, sizeof(in->child_key), "ab12");
        nb_audit_set_id(in, "x", "y", k);
        in->n_evidence = 2;
        str(in->evidence[0], sizeof(in->evidence[0]), "ev1");
        str(in->evidence[1], sizeof(in->evidence[1]), "ev2");
        in->n_recipients = 1;
        str(in->recipients[0].role, sizeof(in->recipients[0].role), "hv");
        str(in->recipients[0].route, sizeof(in->recipients[0].route), "queue:hv");
        if (k == 2) {
            in->has_policy = true;
            str(in->policy.name, sizeof(in->policy.name), "p");
            str(in->policy.version, sizeof(in->policy.version), "1");
            str(in->policy.hash, sizeof(in->policy.hash), "abc");
            str(in->subject, sizeof(in->subject), "page");
        }
        nb_buf_t buf = {0};
        assert_int_equal(nb_codec_encode(codec, &rec[0], &buf, errstr, sizeof(errstr)), NB_ERR_OK);
        assert_int_equal(nb_codec_decode(codec, buf.data, buf.len, NB_RECORD_AUDIT, &rec[1], errstr,
                                         sizeof(errstr)),
                         NB_ERR_OK);
        nb_report_rec_t fast, slow;
        assert_int_equal(nb_report_read(buf.data, buf.len, &fast), NB_ERR_OK);
        nb_report_rec_from_audit(&rec[1].u.audit, &slow);
        assert_int_equal(fast.kind, slow.kind);
        assert_true(fast.at == slow.at && fast.respond_by == slow.respond_by);
        assert_int_equal(fast.tier, slow.tier);
        assert_int_equal(fast.agency, slow.agency);
        assert_int_equal(fast.level, slow.level);
        assert_int_equal(fast.has_event, slow.has_event);
        assert_int_equal(fast.version, slow.version);
        assert_int_equal(fast.context, slow.context);
        assert_int_equal(fast.nhs_number_known, slow.nhs_number_known);
        assert_true(fast.scheduled_start == slow.scheduled_start);
        const nb_report_str_t *fs[] = {
            &fast.notification_id, &fast.rule,           &fast.organisation, &fast.reason,
            &fast.event_id,        &fast.appointment_id, &fast.status,       &fast.source_system};
        const nb_report_str_t *ss[] = {
            &slow.notification_id, &slow.rule,           &slow.organisation, &slow.reason,
            &slow.event_id,        &slow.appointment_id, &slow.status,       &slow.source_system};
        for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
            assert_int_equal(fs[i]->len, ss[i]->len);
            assert_memory_equal(fs[i]->p, ss[i]->p, fs[i]->len);
        }
        /* Every cut is refused, never read past its end; a byte more is refused. */
        for (size_t len = 0; len < buf.len; len++)
            assert_int_not_equal(nb_report_read(buf.data, len, &fast), NB_ERR_OK);
        /* Every byte changed to a few values: read or refused, never past the end (the
         * Sanitize build's ASan would say), and a record read has its slices inside it. */
        static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
        uint8_t *copy = malloc(buf.len);
        assert_non_null(copy);
        for (size_t at = NB_FRAME_HEADER_LEN; at < buf.len; at++)
            for (size_t v = 0; v < sizeof(values); v++) {
                memcpy(copy, buf.data, buf.len);
                copy[at] = values[v];
                if (nb_report_read(copy, buf.len, &fast) == NB_ERR_OK) {
                    assert_true(fast.rule.len == 0 ||
                                ((const uint8_t *)fast.rule.p >= copy &&
                                 (const uint8_t *)fast.rule.p + fast.rule.len <= copy + buf.len));
                }
            }
        free(copy);
        assert_int_equal(nb_buf_append(&buf, "", 1), NB_ERR_OK);
        assert_int_equal(nb_report_read(buf.data, buf.len, &fast), NB_ERR_AVRO_TRAILING);
        buf.data[4] = 4;
        assert_int_equal(nb_report_read(buf.data, buf.len, &fast), NB_ERR_NOT_FOUND);
        nb_buf_free(&buf);
    }
    free(rec);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appointments_latest_version_and_rate),
        cmocka_unit_test(test_acknowledgement_times),
        cmocka_unit_test(test_breakdowns),
        cmocka_unit_test(test_escalations_withdrawals_parked_dead_letters),
        cmocka_unit_test(test_csv_columns),
        cmocka_unit_test(test_html_self_contained_and_escaped),
        cmocka_unit_test(test_reader_matches_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
