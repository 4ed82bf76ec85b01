/*
 * unit.feed: the feed module on made-up messages: mappings loaded and refused with
 * file:line:column, every rule of the HL7 v2 mapper (docs/integration.md), UK local time at
 * both clock changes (and against the system's time zone database where it has one), and the
 * example mappings of config/mappings.
 *
 * Every message here is made up: names, numbers (NHS numbers from the 999 test range) and
 * places. The third-party samples are test_feed_realdata.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "feed/internal.h" /* the example mappings' type names */
#include "notbrought/feed.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* A mapping for the tests: every key the mapper reads, with a Z-segment outcome. */
static const char test_mapping[] =
    "format: notbrought-mapping/1\n"
    "name: test-feed\n"
    "source: {agency: gp, system: Test PAS, organisation_code: X00001}\n"
    "hl7v2:\n"
    "  messages:\n"
    "    SIU^S12: booked\n"
    "    SIU^S13: booked\n"
    "    SIU^S14: status\n"
    "    SIU^S15: cancelled\n"
    "    SIU^S17: entered_in_error\n"
    "    SIU^S26: was_not_brought\n"
    "    ADT^A04: attended\n"
    "    ADT^A05: booked\n"
    "    ADT^A38: cancelled\n"
    "  ignore: [ADT^A08, ADT^A31]\n"
    "  processing_ids: [P]\n"
    "  appointment_id: [SCH-2.1, SCH-1.1, PV1-19.1]\n"
    "  scheduled_start: [SCH-11.4, PV2-8]\n"
    "  status:\n"
    "    field: SCH-25.1\n"
    "    map:\n"
    "      booked: [Booked, Confirmed]\n"
    "      attended: [Complete, Arrived]\n"
    "      was_not_brought: [Noshow, Did not attend]\n"
    "      cancelled: [Cancelled, Canceled]\n"
    "  cancel_reason:\n"
    "    field: [SCH-6.1, ZU3-3]\n"
    "    map:\n"
    "      cancelled_by_patient: [PAT]\n"
    "      cancelled_by_provider: [PROV, \"4\"]\n"
    "      was_not_brought: [NOSHOW]\n"
    "      entered_in_error: [EIE]\n"
    "    default: refuse\n"
    "  outcome:\n"
    "    field: ZU3-3\n"
    "    map: {attended: [\"5\", \"6\", \"7\"], was_not_brought: [\"3\"], "
    "cancelled_by_patient: [\"2\"], cancelled_by_provider: [\"4\"], none: [NS, NO]}\n"
    "  patient:\n"
    "    nhs_number: {field: [PID-3, PID-2], assigning_authority: [NHS], identifier_type: "
    "[NH, NHS]}\n"
    "    local_id: {field: PID-3, identifier_type: [MR, HOSP], system: \"urn:test:mrn\"}\n"
    "    date_of_birth: PID-7\n"
    "    family_name: PID-5.1\n"
    "  appointment_type:\n"
    "    field: [AIS-3.1, SCH-8.1]\n"
    "    map: {immunisation: [IMM], 6_8_week_review: [BABY, 6-8 week check]}\n"
    "    default: consultation\n"
    "  contact_mode:\n"
    "    field: SCH-8.2\n"
    "    map: {home_visit: [HOME], telephone: [TEL]}\n"
    "    default: face_to_face\n"
    "  mandated: [6_8_week_review]\n"
    "  identity_links: {local_to_nhs: true, verification: pds_traced}\n";

static nb_feed_mapping_t *load_text(const char *text)
{
    nb_feed_mapping_t *m = NULL;
    char err[512] = "";
    nb_err_t rc = nb_feed_mapping_load_buffer("test.yaml", text, strlen(text), NULL, NULL, &m, err,
                                              sizeof(err));
    if (rc != NB_ERR_OK)
        fail_msg("mapping refused: %s", err);
    return m;
}

/* Every diagnostic as file:line:column: message, one a line. */
static void collect_diag(void *opaque, const nb_feed_diag_t *d)
{
    char *all = opaque;
    size_t n = strlen(all);
    snprintf(all + n, 4096 - n, "%s:%d:%d: %s\n", d->file, d->line, d->column, d->message);
}

/* Loads @p text expecting a refusal with a diagnostic holding @p want. The first one is also in
 * the error text. */
static void load_refused(const char *text, const char *want)
{
    nb_feed_mapping_t *m = NULL;
    char err[512] = "", all[4096] = "";
    nb_err_t rc = nb_feed_mapping_load_buffer("bad.yaml", text, strlen(text), collect_diag, all, &m,
                                              err, sizeof(err));
    assert_int_equal(rc, NB_ERR_CONFIG);
    assert_null(m);
    assert_non_null(strstr(all, err));
    if (!strstr(all, want))
        fail_msg("errors '%s' do not say '%s'", all, want);
}

/* Segments joined with CR. The last argument is NULL. */
static char *msg_of(const char *first, ...)
{
    static char buf[8192];
    va_list ap;
    size_t off = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t n = strlen(s);
        assert_true(off + n + 2 < sizeof(buf));
        memcpy(buf + off, s, n);
        off += n;
        buf[off++] = '\r';
    }
    va_end(ap);
    buf[off] = '\0';
    return buf;
}

#define MSH(type, ctrl)                                                                            \
    "MSH|^~\\&|TESTPAS|X00001|NOTBROUGHT|NB|20240610143000||" type "|" ctrl "|P|2.4"
#define SCH(status, reason, type)                                                                  \
    "SCH|PL-1^TESTPAS|FL-1^TESTPAS||||" reason "||" type                                           \
    "|20|MIN|^^20^20240612093000||||||||||||||" status
#define PID_OK "PID|1||L555^^^X00001^MR~9990000018^^^NHS^NH||TESTCHILD^ALPHA||20240101|F"

typedef struct fx_s {
    nb_feed_mapping_t *m;
    nb_feed_out_t *out;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    fx->m = load_text(test_mapping);
    fx->out = nb_feed_out_new();
    *state = fx;
    return fx->out ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    nb_feed_out_destroy(fx->out);
    nb_feed_mapping_free(fx->m);
    free(fx);
    return 0;
}

/* Maps @p text expecting it mapped; returns the appointment event. */
static const nb_appointment_event_t *mapped(fx_t *fx, const char *text)
{
    nb_err_t err = nb_feed_hl7(fx->m, text, strlen(text), fx->out);
    if (err != NB_ERR_OK || fx->out->outcome != NB_FEED_MAPPED)
        fail_msg("not mapped: %s %s: %s", nb_err_name(err), fx->out->code, fx->out->text);
    assert_int_equal(fx->out->ack, NB_HL7_AA);
    assert_true(fx->out->n_records >= 1);
    assert_int_equal(fx->out->records[0].type, NB_RECORD_APPOINTMENT);
    return &fx->out->records[0].u.appt;
}

/* Maps @p text expecting a refusal with @p code, @p ack and a text holding @p part. No refusal
 * text may hold the NHS number or the names of the made-up messages. */
static void refused(fx_t *fx, const char *text, nb_err_t want, nb_hl7_ack_code_t ack,
                    const char *code, const char *part)
{
    nb_err_t err = nb_feed_hl7(fx->m, text, strlen(text), fx->out);
    if (err != want || fx->out->outcome != NB_FEED_REFUSED || strcmp(fx->out->code, code) != 0)
        fail_msg("expected %s/%s, got %s/%s (%s): %s", nb_err_name(want), code, nb_err_name(err),
                 nb_feed_outcome_name(fx->out->outcome), fx->out->code, fx->out->text);
    assert_int_equal(fx->out->err, want);
    assert_int_equal(fx->out->ack, ack);
    assert_int_equal(fx->out->n_records, 0);
    if (!strstr(fx->out->text, part))
        fail_msg("refusal text '%s' does not say '%s'", fx->out->text, part);
    static const char *const personal[] = {"999000001", "TESTCHILD", "ALPHA", "20240101", "L555"};
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
        if (strstr(fx->out->text, personal[i]))
            fail_msg("refusal text '%s' holds personal data", fx->out->text);
}

static int64_t iso(const char *s)
{
    int64_t ms;
    if (!nb_parse_time(s, &ms))
        fail_msg("bad time in test: %s", s);
    return ms;
}

/* ---- UK local time ----------------------------------------------------------------------- */

static int64_t london(int y, unsigned mo, unsigned d, int h, int mi)
{
    int64_t ms;
    assert_int_equal(nb_feed_london_to_utc(y, mo, d, ((int64_t)h * 60 + mi) * 60000, &ms),
                     NB_ERR_OK);
    return ms;
}

static void test_london_clock_changes(void **state)
{
    (void)state;
    /* 2024: BST from 31 March 01:00 UTC to 27 October 01:00 UTC. */
    assert_true(london(2024, 3, 31, 0, 59) == iso("2024-03-31T00:59:00Z"));
    /* The spring hour that does not exist is read as GMT, the offset before the change. */
    assert_true(london(2024, 3, 31, 1, 0) == iso("2024-03-31T01:00:00Z"));
    assert_true(london(2024, 3, 31, 1, 59) == iso("2024-03-31T01:59:00Z"));
    assert_true(london(2024, 3, 31, 2, 0) == iso("2024-03-31T01:00:00Z"));
    assert_true(london(2024, 7, 1, 12, 0) == iso("2024-07-01T11:00:00Z"));
    assert_true(london(2024, 10, 27, 0, 59) == iso("2024-10-26T23:59:00Z"));
    /* The autumn hour that happens twice is read as its first occurrence, BST. */
    assert_true(london(2024, 10, 27, 1, 0) == iso("2024-10-27T00:00:00Z"));
    assert_true(london(2024, 10, 27, 1, 59) == iso("2024-10-27T00:59:00Z"));
    assert_true(london(2024, 10, 27, 2, 0) == iso("2024-10-27T02:00:00Z"));
    assert_true(london(2024, 12, 25, 9, 0) == iso("2024-12-25T09:00:00Z"));
    /* 2025: 30 March and 26 October. */
    assert_true(london(2025, 3, 30, 1, 30) == iso("2025-03-30T01:30:00Z"));
    assert_true(london(2025, 3, 30, 2, 30) == iso("2025-03-30T01:30:00Z"));
    assert_true(london(2025, 10, 26, 1, 30) == iso("2025-10-26T00:30:00Z"));
    int64_t ms;
    assert_int_equal(nb_feed_london_to_utc(1995, 6, 1, 0, &ms), NB_ERR_TIMESTAMP_RANGE);
    assert_int_equal(nb_feed_london_to_utc(2100, 1, 1, 0, &ms), NB_ERR_TIMESTAMP_RANGE);
    assert_int_equal(nb_feed_london_to_utc(2024, 1, 1, NB_MS_PER_DAY, &ms), NB_ERR_TIMESTAMP_RANGE);
}

/* Against the system's time zone database: every half hour around both changes of every year
 * the rule is stated for, local time as localtime_r() gives it reads back to the same instant,
 * but for the second pass of the repeated autumn hour, which reads as the first (an hour
 * earlier). Skipped where the database has no Europe/London. */
static void test_london_against_tzdata(void **state)
{
    (void)state;
    FILE *f = fopen("/usr/share/zoneinfo/Europe/London", "rb");
    if (!f) {
        print_message("no /usr/share/zoneinfo/Europe/London: comparison skipped\n");
        return;
    }
    fclose(f);
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "Europe/London", 1);
    tzset();
    size_t checked = 0, repeated = 0;
    for (int y = NB_FEED_LONDON_FIRST_YEAR; y <= 2037; y++) {
        static const unsigned months[] = {3, 10};
        for (size_t k = 0; k < 2; k++) {
            int64_t from = (int64_t)nb_days_from_civil(y, months[k], 20) * 86400;
            for (int64_t t = from; t < from + 14 * 86400; t += 1800) {
                time_t tt = (time_t)t;
                struct tm tm;
                assert_non_null(localtime_r(&tt, &tm));
                int64_t got = london(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                     (unsigned)tm.tm_mday, tm.tm_hour, tm.tm_min);
                time_t before = tt - 3600;
                struct tm tb;
                assert_non_null(localtime_r(&before, &tb));
                bool second_pass = tm.tm_isdst == 0 && tb.tm_isdst > 0 && tm.tm_hour == 1;
                if (second_pass) {
                    repeated++;
                    assert_true(got == t * 1000 - 3600000);
                } else if (got != t * 1000) {
                    fail_msg("%d-%02d-%02d %02d:%02d local: %lld, tzdata says %lld",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             (long long)got, (long long)t * 1000);
                }
                checked++;
            }
        }
    }
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
    assert_true(checked > 10000);
    assert_int_equal(repeated, 2 * (2037 - NB_FEED_LONDON_FIRST_YEAR + 1));
}

/* ---- loading mappings -------------------------------------------------------------------- */

static void test_mapping_loads(void **state)
{
    (void)state;
    nb_feed_mapping_t *m = load_text(test_mapping);
    char sum[1024];
    nb_feed_mapping_summary(m, sum, sizeof(sum));
    assert_string_equal(nb_feed_mapping_name(m), "test-feed");
    assert_non_null(strstr(sum, "9 message types mapped, 2 ignored"));
    assert_non_null(strstr(sum, "appointment types: 3 codes, unmapped -> consultation"));
    assert_non_null(strstr(sum, "cancel reasons: 5 codes, unmapped refused"));
    nb_feed_mapping_free(m);
    nb_feed_mapping_free(NULL);
}

static void test_mapping_refused(void **state)
{
    (void)state;
    static const char head[] = "format: notbrought-mapping/1\nname: x\n"
                               "source: {agency: gp, system: S, organisation_code: X1}\n";
    static const char hl7[] = "hl7v2:\n  messages: {SIU^S12: booked}\n"
                              "  appointment_id: SCH-2\n  scheduled_start: SCH-11.4\n"
                              "  patient: {local_id: {field: PID-3, system: s}}\n"
                              "  appointment_type: {field: SCH-8, map: {consultation: [GP]}}\n";
    char buf[4096];
    /* An unknown key, with its line and column. */
    snprintf(buf, sizeof(buf), "%s%s  colour: blue\n", head, hl7);
    load_refused(buf, "bad.yaml:10:3: unknown key 'colour' in hl7v2");
    /* The fhir and csv sections are checked as strictly (unit.feed_fhir, unit.feed_csv). */
    snprintf(buf, sizeof(buf), "%s%sfhir:\n  appointment: {}\n", head, hl7);
    load_refused(buf, "bad.yaml:11:3: unknown key 'appointment' in fhir");
    snprintf(buf, sizeof(buf), "%s%scsv: {columns: []}\n", head, hl7);
    load_refused(buf, "unknown key 'columns' in csv"); /* csv is read now (unit.feed_csv) */
    /* Names outside their vocabularies. */
    snprintf(buf, sizeof(buf), "%shl7v2:\n  messages: {SIU^S12: missed}\n", head);
    load_refused(buf, "bad.yaml:5:23: 'missed' is not a name messages maps to");
    load_refused("format: notbrought-mapping/1\nname: x\n"
                 "source: {agency: dentist, system: S, organisation_code: X1}\n",
                 "bad.yaml:3:18: unknown agency 'dentist'");
    /* A path that does not read. */
    snprintf(buf, sizeof(buf), "%s%s", head, hl7);
    char *p = strstr(buf, "SCH-11.4");
    memcpy(p, "SCH+11.4", 8);
    load_refused(buf, "bad.yaml:7:20: 'SCH+11.4' is not an HL7 path");
    /* One code for two statuses. */
    snprintf(buf, sizeof(buf),
             "%s%s  status: {field: SCH-25, map: {booked: [Booked], attended: [BOOKED]}}\n", head,
             hl7);
    load_refused(buf, "code 'BOOKED' of status is listed twice, for different values");
    /* Required keys. */
    snprintf(buf, sizeof(buf), "%shl7v2:\n  messages: {SIU^S12: booked}\n", head);
    load_refused(buf, "hl7v2 needs 'appointment_id'");
    load_refused("name: x\n", "needs 'format: notbrought-mapping/1'");
    /* Types, anchors, documents, YAML. */
    load_refused("- a\n- b\n", "bad.yaml:1:1: 'the mapping file' must be a mapping, not a list");
    load_refused("format: &f notbrought-mapping/1\nname: *f\n", "uses an anchor");
    load_refused("", "holds no YAML document");
    load_refused("format: [\n", "bad.yaml:2:1:");
    load_refused("format: notbrought-mapping/1\n---\nname: x\n", "one YAML document");
    snprintf(buf, sizeof(buf), "%s%s", head, hl7);
    p = strstr(buf, "booked}");
    memcpy(p, "status}", 7);
    load_refused(buf, "takes its status from the status field, and there is no 'status'");
    snprintf(buf, sizeof(buf), "%shl7v2:\n  messages: {SIU^S15: cancelled}\n%s", head,
             strstr(hl7, "  appointment_id"));
    load_refused(buf, "cancellations are mapped, and there is no 'cancel_reason' section");
    snprintf(buf, sizeof(buf), "%s%s  unborn: {when: always}\n", head, hl7);
    load_refused(buf, "unborn needs 'expected_delivery_date'");
    snprintf(buf, sizeof(buf), "%s%s", head, hl7);
    p = strstr(buf, "consultation");
    memcpy(p, "Consultation", 12);
    load_refused(buf, "appointment type 'Consultation' must be 1 to 48 characters a-z");
    /* Diagnostics go to the callback too, every one. */
    nb_feed_mapping_t *m = NULL;
    char err[256];
    assert_int_equal(
        nb_feed_mapping_load("/nonexistent/mapping.yaml", NULL, NULL, &m, err, sizeof(err)),
        NB_ERR_IO);
    assert_null(m);
    assert_non_null(strstr(err, "/nonexistent/mapping.yaml: cannot read the mapping"));
}

/* ---- the mapper -------------------------------------------------------------------------- */

static void test_booking(void **state)
{
    fx_t *fx = *state;
    const nb_appointment_event_t *ev =
        mapped(fx, msg_of(MSH("SIU^S12^SIU_S12", "C1"), SCH("Booked", "", "BABY^^"), PID_OK, NULL));
    assert_int_equal(ev->status, NB_STATUS_BOOKED);
    assert_string_equal(ev->appointment_id, "FL-1");
    assert_string_equal(ev->appointment_type, "6_8_week_review");
    assert_true(ev->mandated_contact);
    assert_int_equal(ev->contact_mode, NB_CONTACT_FACE_TO_FACE);
    assert_string_equal(ev->nhs_number, "9990000018");
    assert_string_equal(ev->local_id.system, "urn:test:mrn");
    assert_string_equal(ev->local_id.value, "L555");
    assert_string_equal(ev->family_name, "TESTCHILD");
    assert_int_equal(ev->date_of_birth, nb_days_from_civil(2024, 1, 1));
    assert_int_equal(ev->subject_kind, NB_SUBJECT_CHILD);
    assert_string_equal(ev->source.organisation_code, "X00001");
    assert_int_equal(ev->source.agency, NB_AGENCY_GP);
    /* June: BST. 09:30 local is 08:30 UTC; MSH-7 14:30 local is 13:30 UTC. */
    assert_true(ev->scheduled_start == iso("2024-06-12T08:30:00Z"));
    assert_true(ev->recorded_at == iso("2024-06-10T13:30:00Z"));
    assert_int_equal(ev->version, 1);
    assert_int_equal(strlen(ev->event_id), 36);
    assert_memory_equal(ev->event_id, "hl7-", 4);
    assert_string_equal(fx->out->control_id, "C1");
    assert_string_equal(fx->out->sending_app, "TESTPAS");
    assert_string_equal(fx->out->sending_facility, "X00001");
    assert_string_equal(fx->out->message_type, "SIU^S12");
    assert_string_equal(fx->out->processing_id, "P");
    assert_string_equal(fx->out->version, "2.4");
    /* The identity link the mapping asks for. */
    assert_int_equal(fx->out->n_records, 2);
    const nb_identity_link_t *l = &fx->out->records[1].u.link;
    assert_int_equal(fx->out->records[1].type, NB_RECORD_IDENTITY_LINK);
    assert_int_equal(l->kind, NB_LINK_LINK);
    assert_string_equal(l->from.value, "L555");
    assert_string_equal(l->to.system, NB_SYSTEM_NHS_NUMBER);
    assert_string_equal(l->to.value, "9990000018");
    assert_int_equal(l->verification, NB_VERIFICATION_PDS_TRACED);
    assert_string_not_equal(l->event_id, ev->event_id);
}

/* A resend (same MSH-3, MSH-4, MSH-9, MSH-10) has the same event id; another control id, type,
 * application or facility another one, whatever else the message holds. */
static void test_event_ids(void **state)
{
    fx_t *fx = *state;
    char first[NB_ID_MAX + 1], other[NB_ID_MAX + 1];
    snprintf(
        first, sizeof(first), "%s",
        mapped(fx, msg_of(MSH("SIU^S12", "C7"), SCH("Booked", "", "IMM"), PID_OK, NULL))->event_id);
    assert_string_equal(
        mapped(fx, msg_of(MSH("SIU^S12", "C7"), SCH("Confirmed", "", "IMM"), PID_OK, NULL))
            ->event_id,
        first);
    snprintf(
        other, sizeof(other), "%s",
        mapped(fx, msg_of(MSH("SIU^S12", "C8"), SCH("Booked", "", "IMM"), PID_OK, NULL))->event_id);
    assert_string_not_equal(other, first);
    assert_string_not_equal(
        mapped(fx, msg_of(MSH("SIU^S26", "C7"), SCH("Booked", "", "IMM"), PID_OK, NULL))->event_id,
        first);
    assert_string_not_equal(
        mapped(fx, msg_of("MSH|^~\\&|OTHERPAS|X00001|NB|NB|20240610143000||SIU^S12|C7|P|2.4",
                          SCH("Booked", "", "IMM"), PID_OK, NULL))
            ->event_id,
        first);
}

/* SCH-25 in any case and spelling, and the status map's synonyms. */
static void test_status_spellings(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *sch25;
        nb_status_t want;
    } cases[] = {{"Noshow", NB_STATUS_WAS_NOT_BROUGHT},
                 {"NOSHOW", NB_STATUS_WAS_NOT_BROUGHT},
                 {"No Show", NB_STATUS_WAS_NOT_BROUGHT},
                 {"no-show", NB_STATUS_WAS_NOT_BROUGHT},
                 {"DID NOT ATTEND", NB_STATUS_WAS_NOT_BROUGHT},
                 {"did_not_attend", NB_STATUS_WAS_NOT_BROUGHT},
                 {"complete", NB_STATUS_ATTENDED},
                 {" ARRIVED ", NB_STATUS_ATTENDED},
                 {"CONFIRMED", NB_STATUS_BOOKED}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sch[512];
        snprintf(sch, sizeof(sch), SCH("%s", "", "IMM"), cases[i].sch25);
        const nb_appointment_event_t *ev =
            mapped(fx, msg_of(MSH("SIU^S14", "C2"), sch, PID_OK, NULL));
        if (ev->status != cases[i].want)
            fail_msg("SCH-25 '%s': %s", cases[i].sch25, nb_status_name(ev->status));
        assert_non_null(strstr(fx->out->text, "SCH-25.1"));
    }
    refused(fx, msg_of(MSH("SIU^S14", "C2"), SCH("Xyz", "", "IMM"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "status_unmapped",
            "SCH-25.1: status 'Xyz' is not in the mapping's status map");
    /* The HL7 null and nothing at all are no status. */
    refused(fx, msg_of(MSH("SIU^S14", "C2"), SCH("\"\"", "", "IMM"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "status_missing", "SCH-25.1: no status");
    refused(fx, msg_of(MSH("SIU^S14", "C2"), SCH("", "", "IMM"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "status_missing", "SCH-25.1");
}

/* Cancellations: by whom from SCH-6; a no-show sent as a cancellation; entered in error. */
static void test_cancellations(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *type, *sch25, *sch6;
        nb_status_t want;
    } cases[] = {
        {"SIU^S15", "Cancelled", "PAT^Patient request", NB_STATUS_CANCELLED_BY_PATIENT},
        {"SIU^S15", "CANCELED", "prov", NB_STATUS_CANCELLED_BY_PROVIDER},
        {"SIU^S15", "CANCELED", "NOSHOW^NO SHOW", NB_STATUS_WAS_NOT_BROUGHT},
        {"SIU^S15", "Cancelled", "EIE", NB_STATUS_ENTERED_IN_ERROR},
        {"SIU^S14", "Cancelled", "PAT", NB_STATUS_CANCELLED_BY_PATIENT},
        {"SIU^S17", "Booked", "PAT", NB_STATUS_ENTERED_IN_ERROR},
        {"SIU^S26", "Cancelled", "PAT", NB_STATUS_WAS_NOT_BROUGHT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msh[256], sch[512];
        snprintf(msh, sizeof(msh), MSH("%s", "C3"), cases[i].type);
        snprintf(sch, sizeof(sch), SCH("%s", "%s", "IMM"), cases[i].sch6, cases[i].sch25);
        const nb_appointment_event_t *ev = mapped(fx, msg_of(msh, sch, PID_OK, NULL));
        if (ev->status != cases[i].want)
            fail_msg("%s SCH-25 %s SCH-6 %s: %s", cases[i].type, cases[i].sch25, cases[i].sch6,
                     nb_status_name(ev->status));
    }
    refused(fx, msg_of(MSH("SIU^S15", "C3"), SCH("Cancelled", "WEATHER", "IMM"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "reason_unmapped",
            "SCH-6.1: cancellation reason 'WEATHER' is not in the mapping's cancel_reason map");
    /* Free text in a code's place could name someone: not quoted. */
    refused(fx,
            msg_of(MSH("SIU^S15", "C3"), SCH("Cancelled", "Mrs Smythe away", "IMM"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "reason_unmapped",
            "SCH-6.1: cancellation reason a value is not in");
    assert_null(strstr(fx->out->text, "Smythe"));
    refused(fx, msg_of(MSH("SIU^S15", "C3"), SCH("Cancelled", "", "IMM"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "reason_missing", "a cancellation without a reason");
}

/* English PAS appointments as ADT^A05/A38 with the ZU3-3 attendance code. */
static void test_adt_with_zu3(void **state)
{
    fx_t *fx = *state;
    /* ZU3-3 NO ("not set") on a cancellation leaves the reason to SCH-6. */
    static const struct {
        const char *type, *zu3, *sch;
        nb_status_t want;
    } cases[] = {{"ADT^A05", "NS", "SCH|", NB_STATUS_BOOKED},
                 {"ADT^A05", "3", "SCH|", NB_STATUS_WAS_NOT_BROUGHT},
                 {"ADT^A05", "5", "SCH|", NB_STATUS_ATTENDED},
                 {"ADT^A05", "\"\"", "SCH|", NB_STATUS_BOOKED},
                 {"ADT^A38", "4", "SCH|", NB_STATUS_CANCELLED_BY_PROVIDER},
                 {"ADT^A38", "2", "SCH|", NB_STATUS_CANCELLED_BY_PATIENT},
                 {"ADT^A38", "NO", "SCH||||||PROV", NB_STATUS_CANCELLED_BY_PROVIDER},
                 /* A04 registers the outpatient's arrival: attended, unless ZU3-3 says more. */
                 {"ADT^A04", "NS", "SCH|", NB_STATUS_ATTENDED},
                 {"ADT^A04", "6", "SCH|", NB_STATUS_ATTENDED},
                 {"ADT^A04", "3", "SCH|", NB_STATUS_WAS_NOT_BROUGHT}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msh[256], zu3[128];
        snprintf(msh, sizeof(msh), MSH("%s", "C4"), cases[i].type);
        snprintf(zu3, sizeof(zu3), "ZU3|||%s|NOOUT", cases[i].zu3);
        const nb_appointment_event_t *ev =
            mapped(fx, msg_of(msh, "EVN|A05|20240110090000", "PID|||D700^^^X00001^HOSP||TESTCHILD",
                              "PV1||O|CLINIC||||||||||||||||BAS-OP1", "PV2||||||||20240115093000",
                              cases[i].sch, zu3, NULL));
        if (ev->status != cases[i].want)
            fail_msg("%s ZU3-3 %s: %s", cases[i].type, cases[i].zu3, nb_status_name(ev->status));
        assert_string_equal(ev->appointment_id, "BAS-OP1");
        assert_true(ev->scheduled_start == iso("2024-01-15T09:30:00Z"));
        /* EVN-2 is the recording time, before MSH-7. */
        assert_true(ev->recorded_at == iso("2024-01-10T09:00:00Z"));
        assert_string_equal(ev->local_id.value, "D700");
        assert_string_equal(ev->nhs_number, "");
        assert_string_equal(ev->appointment_type, "consultation"); /* the default */
        assert_int_equal(fx->out->n_records, 1);                   /* no NHS number: no link */
    }
    refused(fx,
            msg_of(MSH("ADT^A05", "C4"), "PID|||D700^^^X00001^HOSP", "PV1||O|||||||||||||||||V1",
                   "PV2||||||||20240115093000", "ZU3|||99", NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "outcome_unmapped",
            "ZU3-3: outcome code '99' is not in the mapping's outcome map");
    /* An A04 without a ZU3 segment: the message type's own status, attended. */
    const nb_appointment_event_t *ev = mapped(
        fx, msg_of(MSH("ADT^A04^ADT_A01", "C4a"), "EVN|A04|20240115093500",
                   "PID|||D700^^^X00001^HOSP~9990000018^^^NHS^NH||TESTCHILD",
                   "PV1||O|CLINIC||||||||||||||||BAS-OP2", "PV2||||||||20240115093000", NULL));
    assert_int_equal(ev->status, NB_STATUS_ATTENDED);
    assert_string_equal(ev->appointment_id, "BAS-OP2");
    assert_string_equal(ev->nhs_number, "9990000018");
    assert_true(ev->recorded_at == iso("2024-01-15T09:35:00Z"));
    /* An A04 with a ZU3-3 code the map does not know, and one with no appointment: refused. */
    refused(fx,
            msg_of(MSH("ADT^A04", "C4b"), "PID|||D700^^^X00001^HOSP", "PV1||O|||||||||||||||||V1",
                   "PV2||||||||20240115093000", "ZU3|||99", NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "outcome_unmapped", "ZU3-3: outcome code '99'");
    refused(fx,
            msg_of(MSH("ADT^A04", "C4c"), "PID|||D700^^^X00001^HOSP", "PV1||O",
                   "PV2||||||||20240115093000", NULL),
            NB_ERR_FIELD_EMPTY, NB_HL7_AE, "appointment_id_missing", "no appointment id");
}

static void test_message_types(void **state)
{
    fx_t *fx = *state;
    /* Valid and not about an appointment: ignored, ACK AA, nothing to publish. */
    assert_int_equal(nb_feed_hl7(fx->m, msg_of(MSH("ADT^A08^ADT_A01", "C5"), PID_OK, NULL),
                                 strlen(msg_of(MSH("ADT^A08^ADT_A01", "C5"), PID_OK, NULL)),
                                 fx->out),
                     NB_ERR_OK);
    assert_int_equal(fx->out->outcome, NB_FEED_IGNORED);
    assert_int_equal(fx->out->ack, NB_HL7_AA);
    assert_int_equal(fx->out->n_records, 0);
    assert_string_equal(fx->out->code, "ignored");
    assert_non_null(strstr(fx->out->text, "'ADT^A08' is not about an appointment"));
    /* A type the mapping does not take: AR. */
    refused(fx, msg_of(MSH("ADT^A60", "C5"), PID_OK, NULL), NB_ERR_FEED_UNSUPPORTED, NB_HL7_AR,
            "message_type_unsupported", "MSH-9: message type 'ADT^A60' is not one");
    refused(fx,
            msg_of("MSH|^~\\&|TESTPAS|X00001|NB|NB|20240610143000||SIU^S12|C5|T|2.4",
                   SCH("Booked", "", "IMM"), PID_OK, NULL),
            NB_ERR_FEED_UNSUPPORTED, NB_HL7_AR, "processing_id_unsupported", "MSH-11");
    /* Not HL7 at all: AR; a bad segment after MSH: AE, with the header kept for the ACK. */
    refused(fx, "hello", NB_ERR_HL7_SYNTAX, NB_HL7_AR, "hl7_syntax", "");
    refused(fx, msg_of(MSH("SIU^S12", "C5"), "sch|x", NULL), NB_ERR_HL7_SYNTAX, NB_HL7_AE,
            "hl7_syntax", "");
    assert_string_equal(fx->out->control_id, "C5");
    refused(fx, msg_of(MSH("SIU^S12", ""), SCH("Booked", "", "IMM"), PID_OK, NULL),
            NB_ERR_FIELD_EMPTY, NB_HL7_AE, "control_id_missing", "MSH-10");
    assert_int_equal(nb_feed_hl7(NULL, "x", 1, fx->out), NB_ERR_INVALID_ARG);
}

/* NHS numbers: picked by assigning authority and type, Modulus 11 checked, else the local id. */
static void test_identifiers(void **state)
{
    fx_t *fx = *state;
    const char *sch = SCH("Booked", "", "IMM");
    /* The NHS number in the second repetition, written with spaces. */
    const nb_appointment_event_t *ev =
        mapped(fx, msg_of(MSH("SIU^S12", "C6"), sch,
                          "PID|1||L555^^^X00001^MR~999 000 0018^^^NHS^NH", NULL));
    assert_string_equal(ev->nhs_number, "9990000018");
    /* Authority as an HD with a universal id: the namespace id matches. */
    ev = mapped(fx, msg_of(MSH("SIU^S12", "C6"), sch,
                           "PID|1||9990000018^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH", NULL));
    assert_string_equal(ev->nhs_number, "9990000018");
    /* The NHS number slot in PID-2 (HL7 UK), empty there: the local id is used. */
    ev = mapped(fx, msg_of(MSH("SIU^S12", "C6"), sch, "PID||^NSTS03^^NHS^NHS|D7^^^X1^HOSP", NULL));
    assert_string_equal(ev->nhs_number, "");
    assert_string_equal(ev->local_id.value, "D7");
    ev = mapped(fx,
                msg_of(MSH("SIU^S12", "C6"), sch, "PID||9990000018^^^NHS^NHS|D7^^^X1^HOSP", NULL));
    assert_string_equal(ev->nhs_number, "9990000018");
    /* A repetition of another authority is not the NHS number. */
    ev = mapped(fx,
                msg_of(MSH("SIU^S12", "C6"), sch, "PID|1||9990000018^^^USSSA^SS~L9^^^X1^MR", NULL));
    assert_string_equal(ev->nhs_number, "");
    assert_string_equal(ev->local_id.value, "L9");
    /* A placeholder is "not known": the local id is used. */
    ev = mapped(fx,
                msg_of(MSH("SIU^S12", "C6"), sch, "PID|1||0000000000^^^NHS^NH~L9^^^X1^MR", NULL));
    assert_string_equal(ev->nhs_number, "");
    /* Failing Modulus 11: refused with the repetition, never the number. */
    refused(fx, msg_of(MSH("SIU^S12", "C6"), sch, "PID|1||L555^^^X1^MR~9990000019^^^NHS^NH", NULL),
            NB_ERR_NHS_CHECK_DIGIT, NB_HL7_AE, "nhs_check_digit",
            "PID-3 repetition 2: NHS number fails the Modulus 11 check");
    refused(fx, msg_of(MSH("SIU^S12", "C6"), sch, "PID|1||99900001^^^NHS^NH", NULL),
            NB_ERR_NHS_FORMAT, NB_HL7_AE, "nhs_format",
            "PID-3 repetition 1: NHS number is not 10 digits");
    /* An identifier that is not identifier text (found by fuzz_feed_hl7). */
    refused(fx, msg_of(MSH("SIU^S12", "C6"), sch, "PID|1||L\xf8X^^^X1^MR", NULL),
            NB_ERR_TEXT_INVALID, NB_HL7_AE, "text_invalid",
            "PID-3 repetition 1: the local identifier is not valid UTF-8");
    refused(fx, msg_of(MSH("SIU^S12", "C6"), sch, "PID|1||L\\X01\\X^^^X1^MR", NULL),
            NB_ERR_TEXT_INVALID, NB_HL7_AE, "text_invalid", "PID-3 repetition 1: the local");
    refused(fx, msg_of(MSH("SIU^S12", "C6"), sch, "PID|1||12345^^^X1^XX", NULL),
            NB_ERR_MISSING_IDENTIFIER, NB_HL7_AE, "missing_identifier",
            "no NHS number and no local identifier");
    refused(fx, msg_of(MSH("SIU^S12", "C6"), sch, NULL), NB_ERR_MISSING_IDENTIFIER, NB_HL7_AE,
            "missing_identifier", "PID-3");
}

/* Timestamps of any precision; an explicit offset is used; the HL7 null; escapes. */
static void test_values(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *dtm, *want;
    } cases[] = {
        {"20240612", "2024-06-11T23:00:00Z"},     /* a date: local midnight, BST */
        {"2024061209", "2024-06-12T08:00:00Z"},   /* hour */
        {"202401120930", "2024-01-12T09:30:00Z"}, /* minute, GMT */
        {"20240612093015.25", "2024-06-12T08:30:15.250Z"},
        {"202406120930+0000", "2024-06-12T09:30:00Z"}, /* an offset wins over the rule */
        {"202406120930-0500", "2024-06-12T14:30:00Z"},
        {"20240331013000", "2024-03-31T01:30:00Z"}, /* the spring gap: GMT */
        {"20241027013000", "2024-10-27T00:30:00Z"}, /* the autumn repeat: BST */
        {"202406120930 ", "2024-06-12T08:30:00Z"},  /* a trailing space */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sch[256];
        snprintf(sch, sizeof(sch), "SCH|P1|F1||||||IMM|||^^20^%s||||||||||||||Booked",
                 cases[i].dtm);
        const nb_appointment_event_t *ev =
            mapped(fx, msg_of(MSH("SIU^S14", "C9"), sch, PID_OK, NULL));
        if (ev->scheduled_start != iso(cases[i].want))
            fail_msg("'%s' read as %lld", cases[i].dtm, (long long)ev->scheduled_start);
    }
    refused(fx,
            msg_of(MSH("SIU^S14", "C9"), "SCH|P1|F1||||||IMM|||^^20^20241399||||||||||||||Booked",
                   PID_OK, NULL),
            NB_ERR_HL7_TIMESTAMP, NB_HL7_AE, "timestamp_invalid",
            "SCH-11.4: scheduled start is not a valid HL7 date/time");
    refused(fx,
            msg_of(MSH("SIU^S14", "C9"), "SCH|P1|F1||||||IMM|||^^20^19900101||||||||||||||Booked",
                   PID_OK, NULL),
            NB_ERR_TIMESTAMP_RANGE, NB_HL7_AE, "timestamp_range", "SCH-11.4");
    refused(
        fx, msg_of(MSH("SIU^S14", "C9"), "SCH|P1|F1||||||IMM|||||||||||||||||Booked", PID_OK, NULL),
        NB_ERR_FIELD_EMPTY, NB_HL7_AE, "scheduled_start_missing", "SCH-11.4: no scheduled start");
    /* The HL7 null in SCH-2 falls back to SCH-1; an escape in the id is read. */
    const nb_appointment_event_t *ev =
        mapped(fx, msg_of(MSH("SIU^S14", "C9"),
                          "SCH|A\\T\\B|\"\"||||||IMM|||^^20^20240612||||||||||||||Booked",
                          "PID|1||L555^^^X1^MR||\"\"", NULL));
    assert_string_equal(ev->appointment_id, "A&B");
    assert_string_equal(ev->family_name, "");
    refused(fx,
            msg_of(MSH("SIU^S14", "C9"),
                   "SCH|\"\"|\"\"||||||IMM|||^^20^20240612||||||||||||||Booked", PID_OK, NULL),
            NB_ERR_FIELD_EMPTY, NB_HL7_AE, "appointment_id_missing", "SCH-2.1: no appointment id");
    refused(fx,
            msg_of(MSH("SIU^S14", "C9"),
                   "SCH|A\\X0A\\B|||||||IMM|||^^20^20240612||||||||||||||Booked", PID_OK, NULL),
            NB_ERR_TEXT_INVALID, NB_HL7_AE, "text_invalid", "SCH-1.1: the appointment id");
}

/* Appointment types and contact modes through their maps; a no-show on a home visit. */
static void test_vocabulary(void **state)
{
    fx_t *fx = *state;
    const nb_appointment_event_t *ev = mapped(
        fx, msg_of(MSH("SIU^S26", "C10"), SCH("Noshow", "", "6-8 WEEK CHECK^HOME"), PID_OK, NULL));
    assert_string_equal(ev->appointment_type, "6_8_week_review");
    assert_int_equal(ev->contact_mode, NB_CONTACT_HOME_VISIT);
    assert_int_equal(ev->status, NB_STATUS_NO_ACCESS_VISIT);
    ev = mapped(fx, msg_of(MSH("SIU^S26", "C10"), SCH("Noshow", "", "DENTAL^TEL"), PID_OK, NULL));
    assert_string_equal(ev->appointment_type, "consultation");
    assert_false(ev->mandated_contact);
    assert_int_equal(ev->contact_mode, NB_CONTACT_TELEPHONE);
    assert_int_equal(ev->status, NB_STATUS_WAS_NOT_BROUGHT);
    /* AIS-3 before SCH-8. */
    ev = mapped(fx, msg_of(MSH("SIU^S12", "C10"), SCH("Booked", "", "DENTAL"), PID_OK, "RGS|1",
                           "AIS|1||IMM^Immunisation", NULL));
    assert_string_equal(ev->appointment_type, "immunisation");
    /* A mapping whose types and modes refuse what they do not know. */
    char text[sizeof(test_mapping) + 64];
    snprintf(text, sizeof(text), "%s", test_mapping);
    char *d = strstr(text, "default: consultation");
    memcpy(d, "default: refuse      ", 21);
    d = strstr(text, "default: face_to_face");
    memcpy(d, "default: refuse      ", 21);
    nb_feed_mapping_t *strict = load_text(text);
    nb_feed_mapping_t *saved = fx->m;
    fx->m = strict;
    refused(fx, msg_of(MSH("SIU^S12", "C10"), SCH("Booked", "", "DENTAL^HOME"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "type_unmapped",
            "SCH-8.1: appointment type 'DENTAL' is not in the mapping's type map");
    refused(fx, msg_of(MSH("SIU^S12", "C10"), SCH("Booked", "", "IMM^CLINIC"), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "mode_unmapped", "SCH-8.2: contact mode 'CLINIC'");
    refused(fx, msg_of(MSH("SIU^S12", "C10"), SCH("Booked", "", ""), PID_OK, NULL),
            NB_ERR_FEED_UNMAPPED, NB_HL7_AE, "type_missing", "no appointment type");
    fx->m = saved;
    nb_feed_mapping_free(strict);
}

/* A maternity feed: the patient is the pregnant person, the EDD from a Z-segment. */
static void test_unborn(void **state)
{
    fx_t *fx = *state;
    char text[sizeof(test_mapping) + 256];
    snprintf(text, sizeof(text),
             "%s  unborn:\n    when: {field: ZPR-1, values: [AN]}\n"
             "    expected_delivery_date: ZPR-3\n",
             test_mapping);
    nb_feed_mapping_t *mat = load_text(text);
    nb_feed_mapping_t *saved = fx->m;
    fx->m = mat;
    const nb_appointment_event_t *ev = mapped(
        fx, msg_of(MSH("SIU^S26", "C11"), SCH("Noshow", "", "IMM"),
                   "PID|1||M1^^^X1^MR~9990000026^^^NHS^NH||TESTMOTHER", "ZPR|AN||20240901", NULL));
    assert_int_equal(ev->subject_kind, NB_SUBJECT_UNBORN);
    assert_string_equal(ev->nhs_number, "");
    assert_string_equal(ev->local_id.value, "");
    assert_string_equal(ev->pregnant_person_id.system, NB_SYSTEM_NHS_NUMBER);
    assert_string_equal(ev->pregnant_person_id.value, "9990000026");
    assert_int_equal(ev->expected_delivery_date, nb_days_from_civil(2024, 9, 1));
    assert_int_equal(ev->date_of_birth, NB_DATE_NONE);
    assert_int_equal(fx->out->n_records, 1); /* no link for a pregnancy */
    /* The local number when there is no NHS number. */
    ev = mapped(fx, msg_of(MSH("SIU^S26", "C11"), SCH("Noshow", "", "IMM"), "PID|1||M1^^^X1^MR",
                           "ZPR|AN||20240901", NULL));
    assert_string_equal(ev->pregnant_person_id.system, "urn:test:mrn");
    assert_string_equal(ev->pregnant_person_id.value, "M1");
    /* ZPR-1 not AN: a child. */
    ev =
        mapped(fx, msg_of(MSH("SIU^S26", "C11"), SCH("Noshow", "", "IMM"), PID_OK, "ZPR|PN", NULL));
    assert_int_equal(ev->subject_kind, NB_SUBJECT_CHILD);
    refused(fx, msg_of(MSH("SIU^S26", "C11"), SCH("Noshow", "", "IMM"), PID_OK, "ZPR|AN", NULL),
            NB_ERR_MISSING_IDENTIFIER, NB_HL7_AE, "edd_missing",
            "ZPR-3: a pregnancy without an expected delivery date");
    fx->m = saved;
    nb_feed_mapping_free(mat);
}

/* More records than fit: never truncated. The limit is 4, a message makes at most 2, so the
 * check is on the refusal's shape through a holder that already has records. */
static void test_out_reused(void **state)
{
    fx_t *fx = *state;
    mapped(fx, msg_of(MSH("SIU^S12", "C12"), SCH("Booked", "", "IMM"), PID_OK, NULL));
    assert_int_equal(fx->out->n_records, 2);
    refused(fx, msg_of(MSH("SIU^S12", "C12"), SCH("Booked", "", "IMM"), NULL),
            NB_ERR_MISSING_IDENTIFIER, NB_HL7_AE, "missing_identifier", "");
    assert_int_equal(fx->out->n_records, 0);
}

/* The example mappings of config/mappings load, and each maps a message of its kind. */
static void test_example_mappings(void **state)
{
    (void)state;
    static const struct {
        const char *file, *msg;
        nb_status_t want;
        const char *type;
        nb_subject_kind_t kind;
    } cases[] = {
        {"gp-practice.yaml",
         "MSH|^~\\&|GPSYS|W97001|NB|NB|20240115101500||SIU^S15^SIU_S12|G1|P|2.5.1\r"
         "SCH|A1|F1||||NOSHOW^No show||IMMS^Immunisation|10|MIN|^^10^20240115093000||||||||||||||"
         "Cancelled\rPID|1||P77^^^W97001^PI~9990000018^^^NHS^NH||TESTCHILD||20230101\r",
         NB_STATUS_WAS_NOT_BROUGHT, "immunisation", NB_SUBJECT_CHILD},
        {"maternity.yaml",
         "MSH|^~\\&|MATSYS|7A4|NB|NB|20240115101500||SIU^S26|M1|P|2.5\r"
         "SCH|A1|F1||||||AN28|20|MIN|^^20^20240115093000||||||||||||||Noshow\r"
         "PID|1||9990000026^^^NHS^NH||TESTMOTHER\rZPR|||20240401\r",
         NB_STATUS_WAS_NOT_BROUGHT, "antenatal_28w", NB_SUBJECT_UNBORN},
        {"health-visiting.yaml",
         "MSH|^~\\&|HVSYS|7A5|NB|NB|20240115101500||SIU^S14|H1|P|2.5\r"
         "SCH|A1|F1||||||NBV^New birth visit|60|MIN|^^60^20240115093000||||||||||||||Booked\r"
         "PID|1||9990000018^^^NHS^NH||TESTCHILD||20240101\rRGS|1\rAIL|1||HOME^Home\r"
         "ZHV|1|NA\r",
         NB_STATUS_NO_ACCESS_VISIT, "new_birth_visit", NB_SUBJECT_CHILD},
        {"health-visiting.yaml",
         "MSH|^~\\&|HVSYS|7A5|NB|NB|20240115101500||SIU^S26|H2|P|2.5\r"
         "SCH|A1|F1||||||SIXWK|60|MIN|^^60^20240115093000||||||||||||||Noshow\r"
         "PID|1||9990000018^^^NHS^NH||TESTCHILD||20240101\rRGS|1\rAIL|1||HOME^Home\r",
         NB_STATUS_NO_ACCESS_VISIT, "6_8_week_review", NB_SUBJECT_CHILD},
    };
    nb_feed_out_t *out = nb_feed_out_new();
    assert_non_null(out);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[1024], err[512];
        nb_feed_mapping_t *m = NULL;
        snprintf(path, sizeof(path), "%s/config/mappings/%s", NB_SOURCE_DIR, cases[i].file);
        if (nb_feed_mapping_load(path, NULL, NULL, &m, err, sizeof(err)) != NB_ERR_OK)
            fail_msg("%s", err);
        if (nb_feed_hl7(m, cases[i].msg, strlen(cases[i].msg), out) != NB_ERR_OK)
            fail_msg("%s: %s %s", cases[i].file, out->code, out->text);
        const nb_appointment_event_t *ev = &out->records[0].u.appt;
        assert_int_equal(ev->status, cases[i].want);
        assert_string_equal(ev->appointment_type, cases[i].type);
        assert_int_equal(ev->subject_kind, cases[i].kind);
        assert_true(ev->scheduled_start == iso("2024-01-15T09:30:00Z"));
        nb_feed_mapping_free(m);
    }
    nb_feed_out_destroy(out);
}

/* Every appointment type the example mappings map to (and every default) is one the shipped
 * policy declares in its 'types' (config/policy/wnb-wales-base.yaml): a misspelt type would be
 * published and match no rule. */
static void test_example_types_in_policy(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/config/policy/wnb-wales-base.yaml", NB_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char pol[1 << 16];
    size_t n = fread(pol, 1, sizeof(pol) - 1, f);
    fclose(f);
    pol[n] = '\0';
    char *types = strstr(pol, "\ntypes:\n");
    assert_non_null(types);
    char *end = types + 8;
    while ((end = strchr(end + 1, '\n')) && end[1] && (end[1] == ' ' || end[1] == '#'))
        ;
    if (end)
        *end = '\0';
    static const char *const files[] = {"gp-practice.yaml", "maternity.yaml",
                                        "health-visiting.yaml"};
    size_t checked = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char err[512];
        nb_feed_mapping_t *m = NULL;
        snprintf(path, sizeof(path), "%s/config/mappings/%s", NB_SOURCE_DIR, files[i]);
        if (nb_feed_mapping_load(path, NULL, NULL, &m, err, sizeof(err)) != NB_ERR_OK)
            fail_msg("%s", err);
        for (size_t t = 0; t < m->n_types; t++) {
            const char *name = m->types[t], *p = types;
            size_t len = strlen(name);
            bool found = false;
            while (!found && (p = strstr(p + 1, name)) != NULL)
                found = (p[-1] == ' ' || p[-1] == '[') && (p[len] == ',' || p[len] == ']');
            if (!found)
                fail_msg("%s: appointment type '%s' is not in the policy's types", files[i], name);
            checked++;
        }
        nb_feed_mapping_free(m);
    }
    assert_true(checked >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_london_clock_changes),
        cmocka_unit_test(test_london_against_tzdata),
        cmocka_unit_test(test_mapping_loads),
        cmocka_unit_test(test_mapping_refused),
        cmocka_unit_test_setup_teardown(test_booking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_spellings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancellations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adt_with_zu3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identifiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vocabulary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unborn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_reused, setup, teardown),
        cmocka_unit_test(test_example_mappings),
        cmocka_unit_test(test_example_types_in_policy),
    };
    return cmocka_run_group_tests_name("feed", tests, NULL, NULL);
}
