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
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_realdata)};
    return cmocka_run_group_tests_name("feed.realdata", tests, NULL, NULL);
}
