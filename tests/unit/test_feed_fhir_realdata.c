/*
 * unit.feed_fhir_realdata: every Appointment and Encounter among the FHIR samples under
 * ../shared/realdata (resources no one here wrote, read in place and never copied; SOURCES.md
 * says where each comes from), at the top of a file or in a Bundle's entries, mapped with
 * tests/data/mappings/realdata-fhir.yaml to the event expected, or ignored or refused with the
 * reason expected. The expectations were written by reading each sample (docs/fhir.md's table
 * lists them), not taken from the mapper's output. A sample with an Appointment or Encounter
 * and no row here fails the test, so the list stays whole; docs/integration.md has the table.
 *
 * The directory comes from the NB_REALDATA_DIR compile definition or environment variable, or
 * the first argument; without it the test exits 77 (skipped).
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
#include "notbrought/fhir.h"
#include "realdata_files.h"

static const char *realdata_dir;

/* The time the test says the resources were received (recorded_at: received). */
#define RECEIVED_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

#define R4 "fhir-r4/"
#define UK "ukcore/examples/"
#define UK2 "ukcore/stu2-branch/examples/"
#define GPC "gpconnect/"
#define MS "hl7v2/microsoft-fhir-converter/expected-fhir-r4/"
#define NOT_MAPPED 0, NULL, NULL, NULL, NULL
#define MSAPPT "b7121f46-cf50-5cec-7cfb-5de8e42b82d2"

/* entry: -1 for the resource at the top, else the Bundle entry. code: "" mapped, "ignored",
 * or the refusal code (expr its FHIR path). Mapped: status, appointment id, start (UTC), local
 * identifier, NHS number. */
static const struct {
    const char *file;
    int entry;
    const char *code, *expr;
    nb_status_t status;
    const char *appt, *start, *local, *nhs;
} expect[] = {
    /* The HL7 examples: patients by `Patient/<id>` of the example server. */
    {R4 "Appointment-2docs.json", -1, "", NULL, NB_STATUS_BOOKED, "2docs", "2013-12-09T09:00:00Z",
     "example", ""},
    {R4 "Appointment-example.json", -1, "", NULL, NB_STATUS_BOOKED, "example",
     "2013-12-10T09:00:00Z", "example", ""},
    /* A proposed appointment, a request without a time. */
    {R4 "Appointment-examplereq.json", -1, "scheduled_start_missing", "Appointment.start",
     NOT_MAPPED},
    /* Encounters without an appointment: not about one (the mapping's default). */
    {R4 "Encounter-emerg.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-example.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-f001.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-f002.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-f003.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-f201.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-f202.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-home.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    {R4 "Encounter-xcda.json", -1, "ignored", "Encounter.appointment", NOT_MAPPED},
    /* Finished, for Appointment/example: attended; its period starts on a date. */
    {R4 "Encounter-f203.json", -1, "", NULL, NB_STATUS_ATTENDED, "example", "2013-03-11T00:00:00Z",
     "f201", ""},
    /* UK Core: Richard Smith by reference. */
    {UK "UKCore-Appointment-OrthopaedicSurgery-Example.xml", -1, "", NULL, NB_STATUS_BOOKED,
     "UKCore-Appointment-OrthopaedicSurgery-Example", "2022-03-11T10:46:00Z",
     "UKCore-Patient-RichardSmith-Example", ""},
    {UK "UKCore-Encounter-InpatientEncounter-Example.xml", -1, "ignored", "Encounter.appointment",
     NOT_MAPPED},
    {UK2 "UKCore-Appointment-Extension-BookingOrganization-Example.xml", -1, "", NULL,
     NB_STATUS_BOOKED, "UKCore-Appointment-Extension-BookingOrganization-Example",
     "2022-03-11T10:46:00Z", "UKCore-Patient-RichardSmith-Example", ""},
    {UK2 "UKCore-Appointment-Extension-DeliveryChannel-Example.xml", -1, "", NULL, NB_STATUS_BOOKED,
     "UKCore-Appointment-Extension-DeliveryChannel-Example", "2022-03-11T10:46:00Z",
     "UKCore-Patient-RichardSmith-Example", ""},
    {UK2 "UKCore-Encounter-Extension-AdmissionMethod-Example.xml", -1, "ignored", NULL, NOT_MAPPED},
    {UK2 "UKCore-Encounter-Extension-DischargeMethod-Example.xml", -1, "ignored", NULL, NOT_MAPPED},
    {UK2 "UKCore-Encounter-Extension-EmergencyCareDischargeStatus-Example.xml", -1, "ignored", NULL,
     NOT_MAPPED},
    {UK2 "UKCore-Encounter-Extension-LegalStatus-Example.xml", -1, "ignored", NULL, NOT_MAPPED},
    {UK2 "UKCore-Encounter-Extension-OutcomeofAttendance-Example.xml", -1, "ignored", NULL,
     NOT_MAPPED},
    /* GP Connect (STU3): Patient/1 and Patient/2; +01:00 times. A booking request has no id
     * yet (the server gives it), so it cannot be an event. */
    {GPC "amend_appt_request_example.json", -1, "", NULL, NB_STATUS_BOOKED, "9",
     "2017-05-30T09:00:00Z", "1", ""},
    {GPC "amend_appt_response_example.json", -1, "", NULL, NB_STATUS_BOOKED, "9",
     "2017-05-30T09:00:00Z", "1", ""},
    {GPC "book_appt_request_example.json", -1, "appointment_id_missing", "Appointment.id",
     NOT_MAPPED},
    {GPC "book_appt_response_example.json", -1, "", NULL, NB_STATUS_BOOKED, "9",
     "2017-05-30T09:00:00Z", "1", ""},
    {GPC "cancel_appt_request_example.json", -1, "", NULL, NB_STATUS_CANCELLED_BY_PROVIDER, "9",
     "2017-05-30T09:00:00Z", "1", ""},
    {GPC "cancel_appt_response_example.json", -1, "", NULL, NB_STATUS_CANCELLED_BY_PROVIDER, "9",
     "2017-05-30T09:00:00Z", "1", ""},
    {GPC "read_appt_response_example.json", -1, "", NULL, NB_STATUS_BOOKED, "148",
     "2017-08-21T09:20:00Z", "2", ""},
    {GPC "retrieve_patients_appts_response_example.json", 0, "", NULL, NB_STATUS_BOOKED, "148",
     "2017-08-21T09:20:00Z", "2", ""},
    {GPC "retrieve_patients_appts_response_example.json", 1, "", NULL, NB_STATUS_BOOKED, "149",
     "2016-08-16T10:20:00Z", "2", ""},
    /* BaRS: the patient is a urn:uuid the file does not hold, without a type, so no participant
     * is known to be the Patient; the PATCH body has no participant at all; the booking
     * message's Appointment (whose Patient entry has a valid NHS number) has no id. */
    {"bars/appointment__GET-success.json", 0, "missing_identifier",
     "Bundle.entry[0].resource.participant", NOT_MAPPED},
    {"bars/appointment__GET-success.json", 1, "missing_identifier",
     "Bundle.entry[1].resource.participant", NOT_MAPPED},
    {"bars/appointment__POST-success.json", -1, "missing_identifier", "Appointment.participant",
     NOT_MAPPED},
    {"bars/appointment__PUT-body.json", -1, "missing_identifier", "Appointment.participant",
     NOT_MAPPED},
    {"bars/appointment__id__GET-success.json", -1, "missing_identifier", "Appointment.participant",
     NOT_MAPPED},
    {"bars/appointment__PATCH-body.json", -1, "missing_identifier", "Appointment.participant",
     NOT_MAPPED},
    {"bars/process_message__request__Booking (POST).json", 1, "appointment_id_missing",
     "Bundle.entry[1].resource.id", NOT_MAPPED},
    /* Microsoft FHIR-Converter: the same SIU samples as unit.feed_realdata, the same starts
     * (+05:30) and PATID1234 (the HCD identifier of the Patient entry); S12-01's Encounter has
     * no appointment. */
    {MS "SIU-S12-01-expected.json", 7, "", NULL, NB_STATUS_BOOKED, MSAPPT, "2021-09-24T07:15:00Z",
     "PATID1234", ""},
    {MS "SIU-S12-01-expected.json", 35, "ignored", "Bundle.entry[35].resource.appointment",
     NOT_MAPPED},
    {MS "SIU-S12-02-expected.json", 7, "", NULL, NB_STATUS_BOOKED, MSAPPT, "2021-08-18T09:15:00Z",
     "PATID1234", ""},
    {MS "SIU-S13-01-expected.json", 7, "", NULL, NB_STATUS_BOOKED, MSAPPT, "2021-09-24T07:15:00Z",
     "PATID1234", ""},
    {MS "SIU-S13-02-expected.json", 7, "", NULL, NB_STATUS_BOOKED, MSAPPT, "2021-08-20T09:15:00Z",
     "PATID1234", ""},
    {MS "SIU-S14-01-expected.json", 7, "", NULL, NB_STATUS_BOOKED, MSAPPT, "2021-09-24T07:15:00Z",
     "PATID1234", ""},
    {MS "SIU-S14-02-expected.json", 7, "", NULL, NB_STATUS_BOOKED, MSAPPT, "2021-08-18T09:15:00Z",
     "PATID1234", ""},
    {MS "SIU-S15-01-expected.json", 7, "", NULL, NB_STATUS_CANCELLED_BY_PROVIDER, MSAPPT,
     "2021-09-24T07:15:00Z", "PATID1234", ""},
    {MS "SIU-S15-02-expected.json", 7, "", NULL, NB_STATUS_CANCELLED_BY_PROVIDER, MSAPPT,
     "2021-08-18T09:15:00Z", "PATID1234", ""},
    {MS "SIU-S16-01-expected.json", 7, "", NULL, NB_STATUS_CANCELLED_BY_PROVIDER, MSAPPT,
     "2021-09-24T07:15:00Z", "PATID1234", ""},
    {MS "SIU-S16-02-expected.json", 7, "", NULL, NB_STATUS_CANCELLED_BY_PROVIDER, MSAPPT,
     "2021-08-18T09:15:00Z", "PATID1234", ""},
    {MS "SIU-S17-01-expected.json", 7, "", NULL, NB_STATUS_ENTERED_IN_ERROR, MSAPPT,
     "2021-09-24T07:15:00Z", "PATID1234", ""},
    {MS "SIU-S17-02-expected.json", 7, "", NULL, NB_STATUS_ENTERED_IN_ERROR, MSAPPT,
     "2021-08-18T09:15:00Z", "PATID1234", ""},
    {MS "SIU-S26-01-expected.json", 7, "", NULL, NB_STATUS_WAS_NOT_BROUGHT, MSAPPT,
     "2021-09-24T07:15:00Z", "PATID1234", ""},
    {MS "SIU-S26-02-expected.json", 7, "", NULL, NB_STATUS_WAS_NOT_BROUGHT, MSAPPT,
     "2021-08-18T09:15:00Z", "PATID1234", ""},
};
#define N_EXPECT (sizeof(expect) / sizeof(expect[0]))

static bool used[N_EXPECT];

static int64_t iso(const char *s)
{
    nb_fhir_time_t t;
    char err[128];
    if (nb_fhir_time_parse(s, strlen(s), NB_FHIR_T_INSTANT, &t, err, sizeof(err)) != NB_ERR_OK)
        fail_msg("bad time in test: %s", s);
    return t.ms;
}

static size_t find(const char *file, int entry)
{
    for (size_t i = 0; i < N_EXPECT; i++)
        if (strcmp(expect[i].file, file) == 0 && expect[i].entry == entry)
            return i;
    fail_msg("%s entry %d: an Appointment or Encounter without a row in "
             "test_feed_fhir_realdata.c",
             file, entry);
    return N_EXPECT;
}

static void check_one(size_t i, const nb_feed_out_t *out)
{
    const char *f = expect[i].file;
    int e = expect[i].entry;
    used[i] = true;
    if (!expect[i].code[0]) {
        if (out->outcome != NB_FEED_MAPPED)
            fail_msg("%s[%d]: expected mapped, got %s %s: %s", f, e,
                     nb_feed_outcome_name(out->outcome), out->code, out->text);
        const nb_appointment_event_t *ev = &out->records[0].u.appt;
        if (ev->status != expect[i].status)
            fail_msg("%s[%d]: status %s, expected %s", f, e, nb_status_name(ev->status),
                     nb_status_name(expect[i].status));
        if (strcmp(ev->appointment_id, expect[i].appt) != 0)
            fail_msg("%s[%d]: appointment id '%s', expected '%s'", f, e, ev->appointment_id,
                     expect[i].appt);
        if (ev->scheduled_start != iso(expect[i].start))
            fail_msg("%s[%d]: start %lld, expected %s", f, e, (long long)ev->scheduled_start,
                     expect[i].start);
        if (strcmp(ev->local_id.value, expect[i].local) != 0)
            fail_msg("%s[%d]: local id '%s', expected '%s'", f, e, ev->local_id.value,
                     expect[i].local);
        assert_string_equal(ev->nhs_number, expect[i].nhs);
        assert_int_equal(ev->recorded_at, RECEIVED_MS);
        assert_int_equal(ev->version, 1);
        assert_string_equal(ev->appointment_type, "consultation");
        assert_int_equal(strncmp(ev->event_id, "fhir-", 5), 0);
        return;
    }
    bool ignored = strcmp(expect[i].code, "ignored") == 0;
    if (out->outcome != (ignored ? NB_FEED_IGNORED : NB_FEED_REFUSED) ||
        strcmp(out->code, expect[i].code) != 0)
        fail_msg("%s[%d]: expected %s, got %s %s: %s", f, e, expect[i].code,
                 nb_feed_outcome_name(out->outcome), out->code, out->text);
    if (expect[i].expr && strcmp(out->expression, expect[i].expr) != 0)
        fail_msg("%s[%d]: path '%s', expected '%s'", f, e, out->expression, expect[i].expr);
    if (!ignored && !out->issue_code[0])
        fail_msg("%s[%d]: a refusal without an issue code", f, e);
}

/* Maps one resource and checks it against its row. */
static void map_one(const nb_feed_mapping_t *m, const char *file, int entry,
                    const nb_fhir_resource_t *res, nb_feed_out_t *out)
{
    char where[64];
    size_t i = find(file, entry);
    snprintf(where, sizeof(where), "Bundle.entry[%d].resource", entry);
    nb_err_t err = nb_feed_fhir(m, res, entry < 0 ? NULL : where, RECEIVED_MS, out);
    assert_int_equal(err, out->err);
    check_one(i, out);
    print_message("%-70s %3d %s %s\n", file, entry, nb_feed_outcome_name(out->outcome),
                  out->outcome == NB_FEED_MAPPED ? nb_status_name(out->records[0].u.appt.status)
                                                 : out->code);
}

/* The mapping the real samples are read with (tests/data/mappings/realdata-fhir.yaml). */
static nb_feed_mapping_t *realdata_mapping(void)
{
    char path[4096], err[512];
    nb_feed_mapping_t *m = NULL;
    snprintf(path, sizeof(path), "%s/tests/data/mappings/realdata-fhir.yaml", NB_SOURCE_DIR);
    if (nb_feed_mapping_load(path, NULL, NULL, &m, err, sizeof(err)) != NB_ERR_OK)
        fail_msg("%s", err);
    return m;
}

static void test_realdata(void **state)
{
    (void)state;
    static const char *const dirs[] = {"fhir-r4", "ukcore",  "gpconnect",
                                       "bars",    "nhs-pca", "hl7v2/microsoft-fhir-converter"};
    char path[8192], err[512];
    nb_feed_mapping_t *m = realdata_mapping();
    nb_fhir_doc_t *doc = nb_fhir_doc_new(NULL);
    nb_feed_out_t *out = nb_feed_out_new();
    assert_non_null(doc);
    assert_non_null(out);
    for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
        char **files = NULL;
        size_t n = 0;
        nb_test_collect(realdata_dir, dirs[d], (const char *const[]){".json", ".xml", NULL}, false,
                        &files, &n);
        qsort(files, n, sizeof(*files), nb_test_by_name);
        for (size_t j = 0; j < n; j++) {
            size_t len;
            snprintf(path, sizeof(path), "%s/%s", realdata_dir, files[j]);
            char *data = nb_test_slurp(path, 8 << 20, &len);
            if (nb_fhir_read(doc, data, len, NB_FHIR_AUTO, err, sizeof(err)) == NB_ERR_OK) {
                const nb_fhir_resource_t *res = nb_fhir_doc_resource(doc);
                if (res->appointment || res->encounter)
                    map_one(m, files[j], -1, res, out);
                for (size_t e = 0; res->bundle && e < res->bundle->n_entries; e++) {
                    const nb_fhir_resource_t *r = &res->bundle->entries[e].resource;
                    if (r->appointment || r->encounter)
                        map_one(m, files[j], (int)e, r, out);
                }
            }
            free(data);
            free(files[j]);
        }
        free(files);
    }
    for (size_t i = 0; i < N_EXPECT; i++)
        if (!used[i])
            fail_msg("%s[%d]: a row whose resource was not found", expect[i].file, expect[i].entry);
    nb_feed_out_destroy(out);
    nb_fhir_doc_destroy(doc);
    nb_feed_mapping_free(m);
}

/*
 * UK Core's baby Patient carries an NHS number that fails Modulus 11, and no sample's
 * Appointment references it. Read in place, it goes (as XML) into a Bundle built here with an
 * Appointment about it: the mapper refuses the Appointment at the door, as the HL7 v2 mapper
 * does, naming the check and the path of the identifier (never the number).
 */
static void test_baby_patient_mod11(void **state)
{
    (void)state;
    char path[8192], err[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/" UK "UKCore-Patient-BabyPatient-Example.xml", realdata_dir);
    char *patient = nb_test_slurp(path, 1 << 20, &len);
    const char *start = strstr(patient, "<Patient");
    assert_non_null(start);
    static const char head[] =
        "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"batch\"/>"
        "<entry><fullUrl value=\"urn:uuid:0b2f4d8e-5c1a-4e7b-9f3d-2a6c8e1b7d40\"/><resource>";
    static const char tail[] =
        "</resource></entry>"
        "<entry><resource><Appointment><id value=\"baby-check-1\"/>"
        "<status value=\"booked\"/><start value=\"2021-03-29T10:00:00Z\"/>"
        "<participant><actor><reference value=\"urn:uuid:0b2f4d8e-5c1a-4e7b-9f3d-2a6c8e1b7d40\"/>"
        "</actor><status value=\"accepted\"/></participant></Appointment></resource></entry>"
        "</Bundle>";
    size_t plen = strlen(start), n = sizeof(head) - 1 + plen + sizeof(tail) - 1;
    char *xml = malloc(n + 1);
    assert_non_null(xml);
    memcpy(xml, head, sizeof(head) - 1);
    memcpy(xml + sizeof(head) - 1, start, plen);
    memcpy(xml + sizeof(head) - 1 + plen, tail, sizeof(tail));
    free(patient);

    nb_feed_mapping_t *m = realdata_mapping();
    nb_fhir_doc_t *doc = nb_fhir_doc_new(NULL);
    nb_feed_out_t *out = nb_feed_out_new();
    assert_non_null(doc);
    assert_non_null(out);
    if (nb_fhir_read(doc, xml, n, NB_FHIR_XML, err, sizeof(err)) != NB_ERR_OK)
        fail_msg("the Bundle does not read: %s", err);
    const nb_fhir_resource_t *res = nb_fhir_doc_resource(doc);
    assert_non_null(res->bundle);
    assert_int_equal(res->bundle->n_entries, 2);
    const nb_fhir_resource_t *appt = &res->bundle->entries[1].resource;
    assert_non_null(appt->appointment);
    nb_err_t e = nb_feed_fhir(m, appt, "Bundle.entry[1].resource", RECEIVED_MS, out);
    assert_int_equal(e, NB_ERR_NHS_CHECK_DIGIT);
    assert_int_equal(out->outcome, NB_FEED_REFUSED);
    assert_string_equal(out->code, "nhs_check_digit");
    assert_string_equal(out->issue_code, "value");
    assert_string_equal(out->expression,
                        "Bundle.entry[1].resource.participant[0].actor.resolve().identifier[0]");
    assert_non_null(strstr(out->text, "Modulus 11"));
    assert_int_equal(out->n_records, 0);
    assert_null(strstr(out->text, "9912003890"));
    assert_null(strstr(out->expression, "9912003890"));
    print_message("%s in a Bundle: %s %s at %s\n", UK "UKCore-Patient-BabyPatient-Example.xml",
                  nb_feed_outcome_name(out->outcome), out->code, out->expression);
    nb_feed_out_destroy(out);
    nb_fhir_doc_destroy(doc);
    nb_feed_mapping_free(m);
    free(xml);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("NB_REALDATA_DIR");
#ifdef NB_REALDATA_DIR
    if (!dir)
        dir = NB_REALDATA_DIR;
#endif
    struct stat st;
    if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("unit.feed_fhir_realdata SKIPPED: the third-party samples of ../shared/realdata "
               "are not in this checkout\n");
        return 77;
    }
    realdata_dir = dir;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_realdata),
                                       cmocka_unit_test(test_baby_patient_mod11)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
