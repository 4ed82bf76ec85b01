/*
 * unit.feed_realdata: every HL7 v2 sample under ../shared/realdata/hl7v2 (messages no one here
 * wrote, read in place and never copied; SOURCES.md says where each comes from) mapped with a
 * mapping for its source (tests/data/mappings/realdata-*.yaml) to the event expected, or
 * refused or ignored with the reason expected. The expectations were written by reading each
 * sample, not taken from the mapper's output. A sample added to the directory without an
 * expectation here fails the test, so the list stays whole; docs/integration.md has the same
 * table.
 *
 * The directory comes from the NB_REALDATA_DIR compile definition (tests/CMakeLists.txt) or the
 * first argument; without it the test exits 77, which ctest shows as skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>

#include "notbrought/feed.h"
#include "realdata_files.h"

static const char *realdata_dir;

#define MS "microsoft-fhir-converter/"
#define MW "mieweb-webchart/extracted/"
#define RW "renalware-uk-nhs/extracted/"

/* What a sample maps to. code: the refusal code, or "" when mapped, or "ignored". For a mapped
 * sample: status, appointment id, scheduled start (UTC), local identifier, recorded_at (UTC). */
static const struct {
    const char *file, *mapping, *code;
    nb_status_t status;
    const char *appt, *start, *local, *recorded;
} expect[] = {
    /* Microsoft FHIR-Converter: TQ1-7 with +0215; SCH-6 "Add" is no reason (provider's). */
    {MS "SIU-S12-01.hl7", "siu", "", NB_STATUS_BOOKED, "36996", "2021-09-24T07:15:00Z", "PATID1234",
     "2021-09-14T09:05:00Z"},
    {MS "SIU-S12-02.hl7", "siu", "", NB_STATUS_BOOKED, "36996", "2021-08-18T09:15:00Z", "PATID1234",
     "2021-08-10T09:15:00Z"},
    {MS "SIU-S12_1.hl7", "siu", "", NB_STATUS_BOOKED, "36996", "2020-10-04T09:11:00Z", "PATID1234",
     "1989-08-18T09:11:00Z"},
    {MS "SIU-S13-01.hl7", "siu", "", NB_STATUS_BOOKED, "36996", "2021-09-24T07:15:00Z", "PATID1234",
     "2021-09-20T09:11:00Z"},
    {MS "SIU-S13-02.hl7", "siu", "", NB_STATUS_BOOKED, "36996", "2021-08-20T09:15:00Z", "PATID1234",
     "2021-08-18T09:15:00Z"},
    {MS "SIU-S14-01.hl7", "siu", "", NB_STATUS_BOOKED, "36996", "2021-09-24T07:15:00Z", "PATID1234",
     NULL},
    {MS "SIU-S14-02.hl7", "siu", "", NB_STATUS_BOOKED, "36996", "2021-08-18T09:15:00Z", "PATID1234",
     NULL},
    {MS "SIU-S15-01.hl7", "siu", "", NB_STATUS_CANCELLED_BY_PROVIDER, "36996",
     "2021-09-24T07:15:00Z", "PATID1234", NULL},
    {MS "SIU-S15-02.hl7", "siu", "", NB_STATUS_CANCELLED_BY_PROVIDER, "36996",
     "2021-08-18T09:15:00Z", "PATID1234", NULL},
    {MS "SIU-S16-01.hl7", "siu", "", NB_STATUS_CANCELLED_BY_PROVIDER, "36996",
     "2021-09-24T07:15:00Z", "PATID1234", NULL},
    {MS "SIU-S16-02.hl7", "siu", "", NB_STATUS_CANCELLED_BY_PROVIDER, "36996",
     "2021-08-18T09:15:00Z", "PATID1234", NULL},
    {MS "SIU-S17-01.hl7", "siu", "", NB_STATUS_ENTERED_IN_ERROR, "36996", "2021-09-24T07:15:00Z",
     "PATID1234", NULL},
    {MS "SIU-S17-02.hl7", "siu", "", NB_STATUS_ENTERED_IN_ERROR, "36996", "2021-08-18T09:15:00Z",
     "PATID1234", NULL},
    {MS "SIU-S26-01.hl7", "siu", "", NB_STATUS_WAS_NOT_BROUGHT, "36996", "2021-09-24T07:15:00Z",
     "PATID1234", "2021-09-24T07:45:00Z"},
    {MS "SIU-S26-02.hl7", "siu", "", NB_STATUS_WAS_NOT_BROUGHT, "36996", "2021-08-18T09:15:00Z",
     "PATID1234", NULL},
    /* Mislabelled: MSH-9 says ADT^A60 over SCH and RGS segments. */
    {MS "SIU_12.hl7", "siu", "message_type_unsupported", 0, NULL, NULL, NULL, NULL},
    /* mieweb WebChart: June and April local times (BST); a no-show sent as S15. */
    {MW "inbound-SIU_S12.hl7", "siu", "", NB_STATUS_BOOKED, "2196178", "2011-06-17T07:45:00Z", "42",
     "2011-06-13T05:16:11Z"},
    {MW "inbound-SIU_S14.hl7", "siu", "", NB_STATUS_BOOKED, "2196178", "2011-06-17T07:45:00Z", "42",
     NULL},
    {MW "inbound-SIU_S15.hl7", "siu", "", NB_STATUS_CANCELLED_BY_PROVIDER, "2196178",
     "2011-06-17T07:45:00Z", "42", NULL},
    {MW "outbound-SIU_S12.hl7", "siu", "", NB_STATUS_BOOKED, "2677255", "2021-04-27T07:15:00Z",
     "123456", NULL},
    /* SCH-25 "O": a status no table defines. */
    {MW "outbound-SIU_S14.hl7", "siu", "status_unmapped", 0, NULL, NULL, NULL, NULL},
    {MW "outbound-SIU_S15.hl7", "siu", "", NB_STATUS_WAS_NOT_BROUGHT, "2677255",
     "2021-04-27T07:15:00Z", "123456", NULL},
    /* Corepoint: "ARRIVED" with a trailing space after SCH-11's time; March: GMT. */
    {"corepoint-via-node-hl7-complete/siu-example.hl7", "siu", "", NB_STATUS_ATTENDED,
     "00331839401", "2008-03-06T10:00:00Z", "489671", "2008-03-06T09:53:00Z"},
    /* HAPI: an S14 without SCH-25. */
    {"hapi-hl7v2/extracted/NewPipeParserTest-testNestedRepeatingGroups-SIU_S14.hl7", "siu",
     "status_missing", 0, NULL, NULL, NULL, NULL},
    /* The standard's example (chapter 10): TQ1-7 in January. */
    {"hl7-v2-standard/extracted/10.7.2-1-SIU_S13_SIU_S12.hl7", "siu", "", NB_STATUS_BOOKED,
     "2007567", "2007-01-09T13:00:00Z", "484848", "2007-01-04T08:00:00Z"},
    {"hl7-v2-standard/extracted/10.7.2-2-ACK.hl7", "siu", "message_type_unsupported", 0, NULL, NULL,
     NULL, NULL},
    /* Barts Health: SCH-1 is the appointment; S26 is a no-show though SCH-25 says Cancelled;
     * the S15's SCH-6 code is not one the mapping knows. November: GMT. */
    {RW "BLT_TIE-SIU_S12.hl7", "barts", "", NB_STATUS_BOOKED, "149549015", "2024-11-06T12:00:00Z",
     "10769857", "2024-11-06T15:07:01Z"},
    {RW "BLT_TIE-SIU_S13.hl7", "barts", "", NB_STATUS_BOOKED, "149549023", "2024-11-06T11:30:00Z",
     "10769861", NULL},
    {RW "BLT_TIE-SIU_S14.hl7", "barts", "", NB_STATUS_BOOKED, "149549023", "2024-11-06T11:30:00Z",
     "10769861", NULL},
    {RW "BLT_TIE-SIU_S15.hl7", "barts", "reason_unmapped", 0, NULL, NULL, NULL, NULL},
    {RW "BLT_TIE-SIU_S26.hl7", "barts", "", NB_STATUS_WAS_NOT_BROUGHT, "149549027",
     "2024-11-13T10:00:00Z", "10769859", NULL},
    /* Medway PAS: PV1-19 the appointment, PV2-8 its start (August: BST), EVN-2 the recording
     * time, ZU3-3 NS/NO not set, 4 cancelled by the hospital. No NHS number (PID-2 empty). */
    {RW "examples-01-MEDWAY-RAJ12-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "BAS-OP2107006022AP", "2021-08-10T08:00:00Z", "D7006372", "2021-08-06T16:18:58Z"},
    {RW "examples-02-MEDWAY-RAJ12-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "BAS-OP2107006023AP", "2021-08-09T16:30:00Z", "D7006372", NULL},
    {RW "examples-03-MEDWAY-RAJ12-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "BAS-OP2107006024AP", "2021-08-09T17:30:00Z", "D7006372", NULL},
    {RW "examples-04-MEDWAY-RAJ12-ADT_A38.hl7", "uk-pas", "", NB_STATUS_CANCELLED_BY_PROVIDER,
     "BAS-OP2107006024AP", "2021-08-09T17:30:00Z", "D7006372", "2021-08-09T18:08:48Z"},
    {RW "examples-05-MEDWAY-RAJ12-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "BAS-OP2107006025AP", "2021-08-09T17:45:00Z", "D7006372", NULL},
    {RW "examples-06-MEDWAY-RAJ12-ADT_A38.hl7", "uk-pas", "", NB_STATUS_CANCELLED_BY_PROVIDER,
     "BAS-OP2107006025AP", "2021-08-09T17:45:00Z", "D7006372", NULL},
    {RW "examples-07-MEDWAY-RAJ12-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "BAS-OP2107006026AP", "2021-08-11T08:00:00Z", "D7006372", NULL},
    {RW "examples-08-MEDWAY-RAJ01-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "SOH-OP2100000023AP", "2021-08-09T08:30:00Z", "T124545", NULL},
    {RW "examples-09-MEDWAY-RAJ01-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "SOH-OP2100000024AP", "2021-08-09T10:00:00Z", "T124545", NULL},
    {RW "examples-10-MEDWAY-RAJ01-ADT_A38.hl7", "uk-pas", "", NB_STATUS_CANCELLED_BY_PROVIDER,
     "SOH-OP2100000024AP", "2021-08-09T10:00:00Z", "T124545", NULL},
    {RW "examples-11-MEDWAY-RAJ01-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "SOH-OP2100000025AP", "2021-08-09T10:30:00Z", "T124545", NULL},
    {RW "examples-12-MEDWAY-RAJ01-ADT_A38.hl7", "uk-pas", "", NB_STATUS_CANCELLED_BY_PROVIDER,
     "SOH-OP2100000025AP", "2021-08-09T10:30:00Z", "T124545", NULL},
    {RW "examples-13-MEDWAY-RAJ01-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED,
     "SOH-OP2100000026AP", "2021-08-10T08:45:00Z", "T124545", NULL},
    /* Lorenzo (CSCLRC): no ZU3; the cancellations' EVN-4 codes (OPT-V, OPT-U) are not ones
     * the mapping knows. */
    {RW "examples-14-CSCLRC-RAJ32-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED, "BRM-2108EN000019",
     "2021-08-09T13:30:00Z", "21378642", "2021-08-09T13:15:42Z"},
    {RW "examples-15-CSCLRC-RAJ32-ADT_A38.hl7", "uk-pas", "reason_unmapped", 0, NULL, NULL, NULL,
     NULL},
    {RW "examples-16-CSCLRC-RAJ32-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED, "BRM-2108EN000021",
     "2021-08-09T12:00:00Z", "21378642", NULL},
    {RW "examples-17-CSCLRC-RAJ32-ADT_A38.hl7", "uk-pas", "reason_unmapped", 0, NULL, NULL, NULL,
     NULL},
    {RW "examples-18-CSCLRC-RAJ32-ADT_A05.hl7", "uk-pas", "", NB_STATUS_BOOKED, "BRM-2108EN000013",
     "2021-08-09T08:00:00Z", "21378642", NULL},
    /* Inhealthcare: patient registration and update, not appointments. */
    {"uk-open-inhealthcare/extracted/README-ADT_A28_ADT_A05.hl7", "uk-pas", "ignored", 0, NULL,
     NULL, NULL, NULL},
    {"uk-open-inhealthcare/extracted/README-ADT_A31_ADT_A05.hl7", "uk-pas", "ignored", 0, NULL,
     NULL, NULL, NULL},
};
#define N_EXPECT (sizeof(expect) / sizeof(expect[0]))

static char event_ids[N_EXPECT][NB_ID_MAX + 1];

static int64_t iso(const char *s)
{
    int64_t ms;
    if (!nb_parse_time(s, &ms))
        fail_msg("bad time in test: %s", s);
    return ms;
}

static size_t find(const char *file)
{
    for (size_t i = 0; i < N_EXPECT; i++)
        if (strcmp(expect[i].file, file) == 0)
            return i;
    return N_EXPECT;
}

static void check_one(size_t i, const nb_feed_out_t *out)
{
    const char *f = expect[i].file;
    if (!expect[i].code[0]) {
        if (out->outcome != NB_FEED_MAPPED)
            fail_msg("%s: expected mapped, got %s %s: %s", f, nb_feed_outcome_name(out->outcome),
                     out->code, out->text);
        const nb_appointment_event_t *ev = &out->records[0].u.appt;
        if (ev->status != expect[i].status)
            fail_msg("%s: status %s, expected %s (%s)", f, nb_status_name(ev->status),
                     nb_status_name(expect[i].status), out->text);
        if (strcmp(ev->appointment_id, expect[i].appt) != 0)
            fail_msg("%s: appointment id '%s', expected '%s'", f, ev->appointment_id,
                     expect[i].appt);
        if (ev->scheduled_start != iso(expect[i].start))
            fail_msg("%s: scheduled start %lld, expected %s", f, (long long)ev->scheduled_start,
                     expect[i].start);
        if (strcmp(ev->local_id.value, expect[i].local) != 0)
            fail_msg("%s: local id '%s', expected '%s'", f, ev->local_id.value, expect[i].local);
        if (expect[i].recorded && ev->recorded_at != iso(expect[i].recorded))
            fail_msg("%s: recorded_at %lld, expected %s", f, (long long)ev->recorded_at,
                     expect[i].recorded);
        /* None of these samples has an NHS number (Medway's PID-2 slot is empty). */
        assert_string_equal(ev->nhs_number, "");
        assert_int_equal(ev->subject_kind, NB_SUBJECT_CHILD);
        assert_int_equal(ev->version, 1);
        nb_str_copy(event_ids[i], sizeof(event_ids[i]), ev->event_id);
        return;
    }
    if (strcmp(expect[i].code, "ignored") == 0) {
        if (out->outcome != NB_FEED_IGNORED || out->ack != NB_HL7_AA || out->n_records)
            fail_msg("%s: expected ignored, got %s %s", f, nb_feed_outcome_name(out->outcome),
                     out->code);
        return;
    }
    if (out->outcome != NB_FEED_REFUSED || strcmp(out->code, expect[i].code) != 0)
        fail_msg("%s: expected refused %s, got %s %s: %s", f, expect[i].code,
                 nb_feed_outcome_name(out->outcome), out->code, out->text);
    /* A refusal names a position (segment-field), for the ACK and the dead letter. */
    if (!strchr(out->text, '-'))
        fail_msg("%s: refusal text '%s' names no field", f, out->text);
}

static void test_realdata(void **state)
{
    (void)state;
    static const char *const names[] = {"siu", "barts", "uk-pas"};
    nb_feed_mapping_t *maps[3];
    for (size_t k = 0; k < 3; k++) {
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/tests/data/mappings/realdata-%s.yaml", NB_SOURCE_DIR,
                 names[k]);
        if (nb_feed_mapping_load(path, NULL, NULL, &maps[k], err, sizeof(err)) != NB_ERR_OK)
            fail_msg("%s", err);
    }
    char **files = NULL;
    size_t n = 0, seen = 0;
    nb_test_collect(realdata_dir, "", (const char *const[]){".hl7", NULL}, true, &files, &n);
    qsort(files, n, sizeof(*files), nb_test_by_name);
    nb_feed_out_t *out = nb_feed_out_new();
    assert_non_null(out);
    for (size_t j = 0; j < n; j++) {
        size_t i = find(files[j]);
        if (i == N_EXPECT)
            fail_msg("%s: a sample without an expectation in test_feed_realdata.c", files[j]);
        char path[8192];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", realdata_dir, files[j]);
        char *data = nb_test_slurp(path, 1 << 20, &len);
        size_t k = 0;
        while (k < 3 && strcmp(names[k], expect[i].mapping) != 0)
            k++;
        assert_true(k < 3);
        nb_err_t err = nb_feed_hl7(maps[k], data, len, out);
        assert_int_equal(err, out->err);
        check_one(i, out);
        print_message("%-72s %s %s\n", files[j], nb_feed_outcome_name(out->outcome),
                      out->outcome == NB_FEED_MAPPED ? nb_status_name(out->records[0].u.appt.status)
                                                     : out->code);
        free(data);
        free(files[j]);
        seen++;
    }
    free(files);
    assert_int_equal(seen, N_EXPECT);
    /* A sender that reuses control ids: Microsoft's S12-01 and S12-02 (both MSG00012) get the
     * same event id, as a resend would. Barts' S15 and S26 share one too, but not the type. */
    assert_string_equal(event_ids[find(MS "SIU-S12-01.hl7")], event_ids[find(MS "SIU-S12-02.hl7")]);
    assert_string_not_equal(event_ids[find(MS "SIU-S12-01.hl7")],
                            event_ids[find(MS "SIU-S13-01.hl7")]);
    assert_string_not_equal(event_ids[find(RW "BLT_TIE-SIU_S13.hl7")],
                            event_ids[find(RW "BLT_TIE-SIU_S14.hl7")]);
    nb_feed_out_destroy(out);
    for (size_t k = 0; k < 3; k++)
        nb_feed_mapping_free(maps[k]);
}

/*
 * Messages inside documentation: the WebChart pages (the .md files of mieweb-webchart) show their
 * messages in fenced blocks. The test cuts every block that starts with MSH out of every .md file,
 * in place at test time, and maps each ADT^A04 through the mapping that takes A04 (a PAS's
 * outpatient registration, attended). Every A04 found must have an expectation here, and every
 * expectation must be found. WebChart's A04 registers a patient, not an arrival at an
 * appointment: PV1-19 is empty in both, and the inbound one's PID-3 has no identifier type.
 */
static const struct {
    const char *file, *control_id, *code, *text;
} md_expect[] = {
    /* PID-3 "135769" has no identifier type, so no local identifier the mapping picks. */
    {"mieweb-webchart/sample-hl7-messages.md", "934576120110613083617", "missing_identifier",
     "PID-3: no NHS number and no local identifier"},
    {"mieweb-webchart/outbound-sample-hl7-messages.md", "DSD1625157299701062",
     "appointment_id_missing", "PV1-19.1: no appointment id"},
};
#define N_MD_EXPECT (sizeof(md_expect) / sizeof(md_expect[0]))

/* Field @p n (n >= 2; MSH-1 is the separator) of the message @p msh, its first component, or
 * its first two when @p two_comps ("ADT^A04"), copied into @p out. */
static void msh_field(const char *msh, int n, bool two_comps, char *out, size_t cap)
{
    const char *p = msh + 3; /* at MSH-1, the field separator itself */
    for (int f = 2; f < n && *p && *p != '\r'; f++)
        p = strchr(p + 1, '|') ? strchr(p + 1, '|') : p + strlen(p);
    if (*p == '|')
        p++;
    size_t k = 0;
    int comps = 0;
    while (p[k] && p[k] != '|' && p[k] != '\r' && k + 1 < cap) {
        if (p[k] == '^' && (!two_comps || ++comps == 2))
            break;
        k++;
    }
    memcpy(out, p, k);
    out[k] = '\0';
}

static void test_messages_in_docs(void **state)
{
    (void)state;
    char path[8192], err[512];
    nb_feed_mapping_t *map;
    snprintf(path, sizeof(path), "%s/tests/data/mappings/realdata-uk-pas.yaml", NB_SOURCE_DIR);
    if (nb_feed_mapping_load(path, NULL, NULL, &map, err, sizeof(err)) != NB_ERR_OK)
        fail_msg("%s", err);
    char **files = NULL;
    size_t n = 0, found = 0;
    bool seen[N_MD_EXPECT] = {false};
    nb_test_collect(realdata_dir, "", (const char *const[]){".md", NULL}, true, &files, &n);
    qsort(files, n, sizeof(*files), nb_test_by_name);
    nb_feed_out_t *out = nb_feed_out_new();
    assert_non_null(out);
    for (size_t j = 0; j < n; j++) {
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", realdata_dir, files[j]);
        char *data = nb_test_slurp(path, 1 << 22, &len);
        char *msg = malloc(len + 1);
        assert_non_null(msg);
        /* Fenced blocks: the lines between a ``` line and the next. */
        bool in_block = false;
        size_t mlen = 0;
        for (char *line = data; line && *line;) {
            char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) : strlen(line);
            if (ll && line[ll - 1] == '\r')
                ll--;
            if (ll >= 3 && strncmp(line, "```", 3) == 0) {
                if (in_block && mlen >= 4 && strncmp(msg, "MSH|", 4) == 0) {
                    msg[mlen] = '\0';
                    char type[64], ctrl[64];
                    msh_field(msg, 9, true, type, sizeof(type));
                    msh_field(msg, 10, false, ctrl, sizeof(ctrl));
                    if (strcmp(type, "ADT^A04") == 0) {
                        size_t i = 0;
                        while (i < N_MD_EXPECT && (strcmp(md_expect[i].file, files[j]) != 0 ||
                                                   strcmp(md_expect[i].control_id, ctrl) != 0))
                            i++;
                        if (i == N_MD_EXPECT)
                            fail_msg("%s: an ADT^A04 (MSH-10 %s) without an expectation in "
                                     "test_feed_realdata.c",
                                     files[j], ctrl);
                        nb_err_t e = nb_feed_hl7(map, msg, mlen, out);
                        assert_int_equal(e, out->err);
                        const char *code = md_expect[i].code;
                        if (code[0] ? out->outcome != NB_FEED_REFUSED || strcmp(out->code, code)
                                    : out->outcome != NB_FEED_MAPPED)
                            fail_msg("%s %s: expected %s, got %s %s: %s", files[j], ctrl,
                                     code[0] ? code : "mapped", nb_feed_outcome_name(out->outcome),
                                     out->code, out->text);
                        if (!strstr(out->text, md_expect[i].text))
                            fail_msg("%s %s: text '%s' does not say '%s'", files[j], ctrl,
                                     out->text, md_expect[i].text);
                        print_message("%-48s %s %s %s\n", files[j], type,
                                      nb_feed_outcome_name(out->outcome), out->code);
                        seen[i] = true;
                        found++;
                    }
                }
                in_block = !in_block;
                mlen = 0;
            } else if (in_block && ll) {
                /* Segments end in CR, as on the wire. */
                memcpy(msg + mlen, line, ll);
                mlen += ll;
                msg[mlen++] = '\r';
            }
            line = nl ? nl + 1 : NULL;
        }
        free(msg);
        free(data);
        free(files[j]);
    }
    free(files);
    for (size_t i = 0; i < N_MD_EXPECT; i++)
        if (!seen[i])
            fail_msg("%s: no ADT^A04 with MSH-10 %s found", md_expect[i].file,
                     md_expect[i].control_id);
    assert_int_equal(found, N_MD_EXPECT);
    nb_feed_out_destroy(out);
    nb_feed_mapping_free(map);
}

int main(int argc, char **argv)
{
#ifdef NB_REALDATA_DIR
    const char *dir = argc > 1 ? argv[1] : NB_REALDATA_DIR "/hl7v2";
#else
    const char *dir = argc > 1 ? argv[1] : NULL;
#endif
    struct stat st;
    if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("unit.feed_realdata SKIPPED: %s is not a directory (the third-party samples of "
               "../shared/realdata are not in this checkout)\n",
               dir ? dir : "(none)");
        return 77; /* ctest: SKIP_RETURN_CODE */
    }
    realdata_dir = dir;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_realdata),
                                       cmocka_unit_test(test_messages_in_docs)};
    return cmocka_run_group_tests_name("feed.realdata", tests, NULL, NULL);
}
