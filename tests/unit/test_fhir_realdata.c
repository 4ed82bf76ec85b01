/*
 * unit.fhir_realdata: the FHIR reader on every JSON and XML file of the third-party samples
 * (../shared/realdata, SOURCES.md there says where each comes from), read in place and never
 * copied into this repository: FHIR R4 core examples, UK Core (XML), GP Connect (STU3), BaRS,
 * the Patient Care Aggregator, PDS, and the FHIR bundles of Microsoft's HL7 v2 converter.
 *
 * Each file has a row below with the outcome and the fields read from it, written from reading
 * the sample (times in seconds since the epoch from `date -u -d ... +%s`), not from this
 * code's output. A file found that has no row, or a row whose file is missing, fails the test:
 * a new sample must be looked at. The directory comes from the compile definition
 * NB_REALDATA_DIR or the environment variable of that name; without it the test exits 77
 * (skipped).
 */
#include "fhir_view.h"
#include "realdata_files.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

typedef struct expect_s {
    const char *file;
    nb_err_t err;     /**< the outcome */
    const char *path; /**< for a refusal: nb_fhir_doc_error_path() */
    nb_fhir_rtype_t rtype;
    const char *id;    /**< of the top resource */
    const char *btype; /**< Bundle.type */
    size_t entries;
    /* of the top Appointment or Encounter, or a Bundle's first Appointment */
    const char *status;
    size_t parts;    /**< Appointment.participant */
    long long start; /**< Appointment.start or Encounter.period.start, s; 0: absent */
    const char *cls; /**< Encounter.class.code */
    /* the Patient: the top one, the one an Appointment or Encounter resolves to, or a
     * Bundle's first; NULL: none resolved */
    const char *pid_sys; /**< its first identifier's system */
    long long birth;     /**< its birthDate, s; -1: none */
    const char *vstatus; /**< the NHS number verification status of that identifier */
} expect_t;

#define NO(f, e, p)                                                                                \
    {                                                                                              \
        .file = f, .err = e, .path = p                                                             \
    }
#define UNSUP(f, t) NO(f, NB_ERR_FHIR_UNSUPPORTED, t)
#define NOTRES(f) NO(f, NB_ERR_FHIR_INVALID, "")
#define APPT(f, i, st, n, s)                                                                       \
    {                                                                                              \
        .file = f, .rtype = NB_FHIR_APPOINTMENT, .id = i, .status = st, .parts = n, .start = s     \
    }
#define ENC(f, i, st, c, s)                                                                        \
    {                                                                                              \
        .file = f, .rtype = NB_FHIR_ENCOUNTER, .id = i, .status = st, .cls = c, .start = s         \
    }
#define PAT(f, i, sys, b, vs)                                                                      \
    {                                                                                              \
        .file = f, .rtype = NB_FHIR_PATIENT, .id = i, .pid_sys = sys, .birth = b, .vstatus = vs    \
    }
#define BUN(f, i, t, n, st, np, s, sys, b, vs)                                                     \
    {                                                                                              \
        .file = f, .rtype = NB_FHIR_BUNDLE, .id = i, .btype = t, .entries = n, .status = st,       \
        .parts = np, .start = s, .pid_sys = sys, .birth = b, .vstatus = vs                         \
    }

#define NHS_SYS "https://fhir.nhs.uk/Id/nhs-number"
#define MS_SYS "http://example.com/v2-to-fhir-converter/Identifier/test"
#define MS "hl7v2/microsoft-fhir-converter/expected-fhir-r4/"
#define MS_BIRTH 587865600 /* 1988-08-18 */
#define TERM "fhir-r4/terminology/"
#define UK "ukcore/examples/"
#define UK2 "ukcore/stu2-branch/examples/"
#define BARS_APPT "91607239-b002-470a-8709-6b25bd50fdd1"
#define BARS_START 1634041830 /* 2021-10-12T12:30:30+00:00 */

static const expect_t expected[] = {
    BUN("bars/appointment__GET-success.json", NULL, "searchset", 2, "booked", 1, BARS_START, NULL,
        0, NULL),
    APPT("bars/appointment__PATCH-body.json", BARS_APPT, "booked", 0, 0),
    APPT("bars/appointment__POST-success.json", BARS_APPT, "booked", 1, BARS_START),
    APPT("bars/appointment__PUT-body.json", BARS_APPT, "booked", 1, BARS_START),
    APPT("bars/appointment__id__GET-success.json", BARS_APPT, "booked", 1, BARS_START),
    /* a FHIR message: the Patient by urn:uuid, with its NHS number's verification status */
    BUN("bars/process_message__request__Booking (POST).json",
        "777a156c-af3c-4748-a8a3-7e95e4b0df9a", "message", 12, "booked", 1, BARS_START, NHS_SYS,
        157161600 /* 1974-12-25 */, "number-present-and-verified"),
    APPT("fhir-r4/Appointment-2docs.json", "2docs", "booked", 4, 1386579600),
    APPT("fhir-r4/Appointment-example.json", "example", "booked", 3, 1386666000),
    APPT("fhir-r4/Appointment-examplereq.json", "examplereq", "proposed", 3, 0),
    UNSUP("fhir-r4/AppointmentResponse-example.json", "AppointmentResponse"),
    UNSUP("fhir-r4/AppointmentResponse-exampleresp.json", "AppointmentResponse"),
    ENC("fhir-r4/Encounter-emerg.json", "emerg", "in-progress", "IMP", 1485897300),
    ENC("fhir-r4/Encounter-example.json", "example", "in-progress", "IMP", 0),
    ENC("fhir-r4/Encounter-f001.json", "f001", "finished", "AMB", 0),
    ENC("fhir-r4/Encounter-f002.json", "f002", "finished", "AMB", 0),
    ENC("fhir-r4/Encounter-f003.json", "f003", "finished", "AMB", 0),
    ENC("fhir-r4/Encounter-f201.json", "f201", "finished", "AMB", 0),
    ENC("fhir-r4/Encounter-f202.json", "f202", "finished", "AMB", 0),
    ENC("fhir-r4/Encounter-f203.json", "f203", "finished", "IMP", 1362960000),
    ENC("fhir-r4/Encounter-home.json", "home", "finished", "HH", 1421474400),
    ENC("fhir-r4/Encounter-xcda.json", "xcda", "finished", "AMB", 0),
    UNSUP("fhir-r4/EpisodeOfCare-example.json", "EpisodeOfCare"),
    UNSUP("fhir-r4/Schedule-example.json", "Schedule"),
    UNSUP("fhir-r4/Schedule-exampleloc1.json", "Schedule"),
    UNSUP("fhir-r4/Schedule-exampleloc2.json", "Schedule"),
    UNSUP("fhir-r4/Slot-1.json", "Slot"),
    UNSUP("fhir-r4/Slot-2.json", "Slot"),
    UNSUP("fhir-r4/Slot-3.json", "Slot"),
    UNSUP("fhir-r4/Slot-example.json", "Slot"),
    UNSUP(TERM "CodeSystem-appointment-cancellation-reason.json", "CodeSystem"),
    UNSUP(TERM "CodeSystem-appointmentstatus.json", "CodeSystem"),
    UNSUP(TERM "CodeSystem-encounter-status.json", "CodeSystem"),
    UNSUP(TERM "CodeSystem-participationstatus.json", "CodeSystem"),
    UNSUP(TERM "CodeSystem-v2-0203.json", "CodeSystem"),
    UNSUP(TERM "CodeSystem-v2-0276.json", "CodeSystem"),
    UNSUP(TERM "CodeSystem-v2-0277.json", "CodeSystem"),
    UNSUP(TERM "CodeSystem-v2-0278.json", "CodeSystem"),
    UNSUP(TERM "ConceptMap-sc-appointmentstatus.json", "ConceptMap"),
    UNSUP(TERM "ValueSet-appointment-cancellation-reason.json", "ValueSet"),
    UNSUP(TERM "ValueSet-appointmentstatus.json", "ValueSet"),
    UNSUP(TERM "ValueSet-encounter-status.json", "ValueSet"),
    UNSUP(TERM "ValueSet-v2-0278.json", "ValueSet"),
    NOTRES(TERM "package.json"), /* an npm package manifest */
    /* GP Connect is STU3; these elements are the same in R4. Patient/1 is not in the file. */
    APPT("gpconnect/amend_appt_request_example.json", "9", "booked", 2, 1496134800),
    APPT("gpconnect/amend_appt_response_example.json", "9", "booked", 2, 1496134800),
    APPT("gpconnect/book_appt_request_example.json", NULL, "booked", 2, 1496134800),
    APPT("gpconnect/book_appt_response_example.json", "9", "booked", 2, 1496134800),
    APPT("gpconnect/cancel_appt_request_example.json", "9", "cancelled", 2, 1496134800),
    APPT("gpconnect/cancel_appt_response_example.json", "9", "cancelled", 2, 1496134800),
    APPT("gpconnect/read_appt_response_example.json", "148", "booked", 3, 1503307200),
    BUN("gpconnect/retrieve_patients_appts_response_example.json", NULL, "searchset", 2, "booked",
        3, 1503307200, NULL, 0, NULL),
    BUN("gpconnect/search_for_free_slots_response_example.json", NULL, "searchset", 6, NULL, 0, 0,
        NULL, 0, NULL),
    NOTRES("hl7v2/microsoft-fhir-converter/CodeSystem.json.FillerStatus-extract.json"),
    /* batch Bundles; the Patient by "Patient/<id>" against its entry's fullUrl */
    BUN(MS "SIU-S12-01-expected.json", "40a1916e-f6ff-36b1-dc5f-f94ad8ccb715", "batch", 48,
        "booked", 4, 1632467700, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S12-02-expected.json", "40a1916e-f6ff-36b1-dc5f-f94ad8ccb715", "batch", 41,
        "booked", 9, 1629278100, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S13-01-expected.json", "3fa01fde-f1f9-271b-cd78-622b69fcca15", "batch", 31,
        "booked", 4, 1632467700, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S13-02-expected.json", "3fa01fde-f1f9-271b-cd78-622b69fcca15", "batch", 41,
        "booked", 9, 1629450900, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S14-01-expected.json", "9ded1d35-26d3-a326-1f41-9ed7b458bc51", "batch", 31,
        "booked", 4, 1632467700, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S14-02-expected.json", "9ded1d35-26d3-a326-1f41-9ed7b458bc51", "batch", 41,
        "booked", 9, 1629278100, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S15-01-expected.json", "d7447df6-4738-6328-ce18-4b3764840611", "batch", 31,
        "cancelled", 4, 1632467700, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S15-02-expected.json", "d7447df6-4738-6328-ce18-4b3764840611", "batch", 41,
        "cancelled", 9, 1629278100, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S16-01-expected.json", "30435f80-02b6-8e6a-011f-03792aa30b3e", "batch", 31,
        "cancelled", 4, 1632467700, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S16-02-expected.json", "30435f80-02b6-8e6a-011f-03792aa30b3e", "batch", 41,
        "cancelled", 9, 1629278100, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S17-01-expected.json", "93cae168-bbbd-0e21-74a8-0ae7f1136194", "batch", 31,
        "entered-in-error", 4, 1632467700, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S17-02-expected.json", "93cae168-bbbd-0e21-74a8-0ae7f1136194", "batch", 41,
        "entered-in-error", 9, 1629278100, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S26-01-expected.json", "6ce25f29-49da-3ad9-7d58-d4983ccbe1a5", "batch", 31,
        "noshow", 4, 1632467700, MS_SYS, MS_BIRTH, NULL),
    BUN(MS "SIU-S26-02-expected.json", "6ce25f29-49da-3ad9-7d58-d4983ccbe1a5", "batch", 41,
        "noshow", 9, 1629278100, MS_SYS, MS_BIRTH, NULL),
    /* Reference.identifier is 0..1 in R4; this national example sends an array of three */
    NO("nhs-pca/GetAppointmentResponseHappyPath.json", NB_ERR_FHIR_INVALID,
       "Bundle.entry[0].resource.basedOn[0].identifier"),
    /* fragments of an OpenAPI document (summary/value), not resources */
    NOTRES("nhs-pca/extracted/appointmentFuturePepBooked.json"),
    NOTRES("nhs-pca/extracted/appointmentFuturePepBookedPendingCancellation.json"),
    NOTRES("nhs-pca/extracted/appointmentHistoricPepAttended.json"),
    NOTRES("nhs-pca/extracted/appointmentHistoricPepCancelled.json"),
    NOTRES("nhs-pca/extracted/appointmentHistoricPepDNA.json"),
    NOTRES("nhs-pca/extracted/appointmentHistoricSusAttended.json"),
    NOTRES("nhs-pca/extracted/appointmentHistoricSusCancelled.json"),
    NOTRES("nhs-pca/extracted/appointmentHistoricSusDNA.json"),
    NOTRES("nhs-pca/extracted/pathwayActiveReferralAppointmentHistoricDNA.json"),
    PAT("pds/Minimal_Patient.json", "9000000033", NHS_SYS, -1, "01"),
    PAT("pds/Patient.json", "9000000009", NHS_SYS, 1287705600 /* 2010-10-22 */, "01"),
    BUN("pds/PatientSearch.json", NULL, "searchset", 1, NULL, 0, 0, NHS_SYS, 1287705600, "01"),
    PAT("pds/Sensitive_Patient.json", "9000000025", NHS_SYS, 1287705600, "01"),
    UNSUP("ukcore/codesystems/CodeSystem-UKCore-AppointmentReasonCode.xml", "CodeSystem"),
    UNSUP("ukcore/codesystems/CodeSystem-UKCore-NHSNumberUnavailableReason.xml", "CodeSystem"),
    UNSUP("ukcore/codesystems/CodeSystem-UKCore-NHSNumberVerificationStatusEngland.xml",
          "CodeSystem"),
    PAT(UK "Extension-UKCore-NHSNumberUnavailableReason-Example.xml",
        "Extension-UKCore-NHSNumberUnavailableReason-Example", NULL, -1, NULL),
    /* an identifier with only the extension: no system, no value */
    PAT(UK "Extension-UKCore-NHSNumberVerificationStatus-Example.xml",
        "Extension-UKCore-NHSNumberVerificationStatus-Example", NULL, -1, "01"),
    APPT(UK "UKCore-Appointment-OrthopaedicSurgery-Example.xml",
         "UKCore-Appointment-OrthopaedicSurgery-Example", "booked", 3, 1646995560),
    ENC(UK "UKCore-Encounter-InpatientEncounter-Example.xml",
        "UKCore-Encounter-InpatientEncounter-Example", "finished", "IMP", 1575982800),
    UNSUP(UK "UKCore-EpisodeOfCare-SmokingCessationTherapy-Example.xml", "EpisodeOfCare"),
    /* its NHS number fails Modulus 11: read here, refused later by identity */
    PAT(UK "UKCore-Patient-BabyPatient-Example.xml", "UKCore-Patient-BabyPatient-Example", NHS_SYS,
        1613001600 /* 2021-02-11 */, "01"),
    PAT(UK "UKCore-Patient-RichardSmith-Example.xml", "UKCore-Patient-RichardSmith-Example",
        NHS_SYS, 21859200 /* 1970-09-11 */, "01"),
    UNSUP(UK "UKCore-Schedule-Immunization-Example.xml", "Schedule"),
    UNSUP(UK "UKCore-Slot-AvailableWalkInVisit-Example.xml", "Slot"),
    UNSUP("ukcore/structuredefinitions/Extension-UKCore-NHSNumberUnavailableReason.xml",
          "StructureDefinition"),
    UNSUP("ukcore/structuredefinitions/Extension-UKCore-NHSNumberVerificationStatus.xml",
          "StructureDefinition"),
    UNSUP("ukcore/structuredefinitions/UKCore-Appointment.xml", "StructureDefinition"),
    UNSUP("ukcore/structuredefinitions/UKCore-Encounter.xml", "StructureDefinition"),
    UNSUP("ukcore/structuredefinitions/UKCore-Patient.xml", "StructureDefinition"),
    UNSUP("ukcore/structuredefinitions/UKCore-Schedule.xml", "StructureDefinition"),
    UNSUP("ukcore/structuredefinitions/UKCore-Slot.xml", "StructureDefinition"),
    APPT(UK2 "UKCore-Appointment-Extension-BookingOrganization-Example.xml",
         "UKCore-Appointment-Extension-BookingOrganization-Example", "booked", 3, 1646995560),
    APPT(UK2 "UKCore-Appointment-Extension-DeliveryChannel-Example.xml",
         "UKCore-Appointment-Extension-DeliveryChannel-Example", "booked", 3, 1646995560),
    ENC(UK2 "UKCore-Encounter-Extension-AdmissionMethod-Example.xml",
        "UKCore-Encounter-Extension-AdmissionMethod-Example", "finished", "IMP", 0),
    ENC(UK2 "UKCore-Encounter-Extension-DischargeMethod-Example.xml",
        "UKCore-Encounter-Extension-DischargeMethod-Example", "finished", "IMP", 0),
    ENC(UK2 "UKCore-Encounter-Extension-EmergencyCareDischargeStatus-Example.xml",
        "UKCore-Encounter-Extension-EmergencyCareDischargeStatus-Example", "finished", "IMP", 0),
    ENC(UK2 "UKCore-Encounter-Extension-LegalStatus-Example.xml",
        "UKCore-Encounter-Extension-LegalStatus-Example", "finished", "IMP", 0),
    ENC(UK2 "UKCore-Encounter-Extension-OutcomeofAttendance-Example.xml",
        "UKCore-Encounter-Extension-OutcomeofAttendance-Example", "finished", "IMP", 0),
    UNSUP("ukcore/valuesets/ValueSet-UKCore-AppointmentReasonCode.xml", "ValueSet"),
    UNSUP("ukcore/valuesets/ValueSet-UKCore-EncounterType.xml", "ValueSet"),
    UNSUP("ukcore/valuesets/ValueSet-UKCore-NHSNumberVerificationStatus.xml", "ValueSet"),
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

/* The folders read, and the files in them that are samples (JSON and XML). */
static const char *const folders[] = {
    "fhir-r4", "ukcore", "gpconnect", "bars", "nhs-pca", "pds", "hl7v2/microsoft-fhir-converter"};

static const char *realdata_dir;

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const nb_fhir_patient_t *first_patient(const nb_fhir_resource_t *r)
{
    if (r->patient)
        return r->patient;
    if (r->appointment)
        return r->appointment->patient ? r->appointment->patient->actor.patient : NULL;
    if (r->encounter)
        return r->encounter->subject.patient;
    return NULL;
}

/* What is not as @p x says about the resource read, or NULL. */
static const char *mismatch(const expect_t *x, const nb_fhir_resource_t *top)
{
    const nb_fhir_resource_t *r = top, *pat_res = top;
    if (top->rtype != x->rtype)
        return "resource type";
    if (!str_eq(top->id, x->id))
        return "id";
    if (top->bundle) {
        const nb_fhir_bundle_t *b = top->bundle;
        if (!str_eq(b->type, x->btype) || b->n_entries != x->entries)
            return "Bundle.type or the number of entries";
        r = pat_res = NULL;
        for (size_t i = 0; i < b->n_entries; i++) {
            const nb_fhir_resource_t *e = &b->entries[i].resource;
            if (!r && e->appointment)
                r = e;
            if (!pat_res && e->patient)
                pat_res = e;
        }
        if (r && r->appointment->patient)
            pat_res = r;
        if (!r)
            return x->status ? "no Appointment" : NULL;
    }
    const nb_fhir_patient_t *p = pat_res ? first_patient(pat_res) : NULL;
    if (r->appointment) {
        const nb_fhir_appointment_t *a = r->appointment;
        if (!str_eq(a->status, x->status) || a->n_participants != x->parts)
            return "Appointment.status or participants";
        if (x->start ? a->start.ms != x->start * 1000 : a->start.prec != NB_FHIR_PREC_NONE)
            return "Appointment.start";
    }
    if (r->encounter) {
        const nb_fhir_encounter_t *e = r->encounter;
        if (!str_eq(e->status, x->status) || !str_eq(e->class.code, x->cls))
            return "Encounter.status or class";
        if (x->start ? e->period_start.ms != x->start * 1000
                     : e->period_start.prec != NB_FHIR_PREC_NONE)
            return "Encounter.period.start";
    }
    if (!x->pid_sys && !x->vstatus)
        return p && p->identifiers.n && p->identifiers.v[0].system ? "a Patient not expected"
                                                                   : NULL;
    if (!p || p->identifiers.n == 0)
        return "no Patient identifier";
    if (!str_eq(p->identifiers.v[0].system, x->pid_sys) ||
        !str_eq(p->identifiers.v[0].verification_status, x->vstatus))
        return "Patient identifier system or verification status";
    if (x->birth < 0 ? p->birth_date.prec != NB_FHIR_PREC_NONE
                     : p->birth_date.ms != x->birth * 1000)
        return "Patient.birthDate";
    return NULL;
}

static void test_realdata(void **state)
{
    nb_fhir_doc_t *doc = *state;
    char **files = NULL;
    size_t n = 0, failed = 0, refused_n = 0;
    bool seen[N_EXPECTED] = {false};
    for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++)
        nb_test_collect(realdata_dir, folders[i], (const char *const[]){".json", ".xml", NULL},
                        false, &files, &n);
    if (n)
        qsort(files, n, sizeof(*files), nb_test_by_name);
    for (size_t i = 0; i < n; i++) {
        const expect_t *x = NULL;
        for (size_t k = 0; k < N_EXPECTED; k++)
            if (strcmp(expected[k].file, files[i]) == 0) {
                x = &expected[k];
                seen[k] = true;
            }
        char path[1024], errstr[512] = "";
        snprintf(path, sizeof(path), "%s/%s", realdata_dir, files[i]);
        char *data = NULL;
        size_t len = 0;
        const char *why;
        assert_int_equal(nb_file_read(path, 0, 64u << 20, &data, &len, &why), NB_FILE_OK);
        nb_err_t err = nb_fhir_read(doc, data, len, NB_FHIR_AUTO, errstr, sizeof(errstr));
        free(data);
        const char *bad = NULL;
        if (!x)
            bad = "a sample without a row in this test: read it and add one";
        else if (err != x->err)
            bad = "another outcome";
        else if (err && strcmp(nb_fhir_doc_error_path(doc), x->path) != 0)
            bad = "refused at another path";
        else if (!err)
            bad = mismatch(x, nb_fhir_doc_resource(doc));
        refused_n += err != NB_ERR_OK;
        if (err)
            printf("realdata %-8s %s: %s: %s\n", bad ? "WRONG" : "refused", files[i],
                   nb_err_name(err), errstr);
        else /* a Patient's id may be its NHS number (PDS): not printed */
            printf("realdata %-8s %s: %s %s\n", bad ? "WRONG" : "read", files[i],
                   nb_fhir_doc_resource(doc)->resource_type,
                   nb_fhir_doc_resource(doc)->rtype == NB_FHIR_PATIENT ? "(id not shown)"
                   : nb_fhir_doc_resource(doc)->id ? nb_fhir_doc_resource(doc)->id
                                                   : "(no id)");
        if (bad) {
            printf("realdata   ^ %s\n", bad);
            failed++;
        }
        free(files[i]);
    }
    free(files);
    for (size_t k = 0; k < N_EXPECTED; k++)
        if (!seen[k]) {
            printf("realdata MISSING  %s: a row for a file that is not there\n", expected[k].file);
            failed++;
        }
    printf("realdata: %zu files, %zu read, %zu refused, %zu not as expected\n", n, n - refused_n,
           refused_n, failed);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    realdata_dir = getenv("NB_REALDATA_DIR");
#ifdef NB_REALDATA_DIR
    if (!realdata_dir || !realdata_dir[0])
        realdata_dir = NB_REALDATA_DIR;
#endif
    if (argc == 2)
        realdata_dir = argv[1];
    struct stat st;
    if (!realdata_dir || stat(realdata_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("unit.fhir_realdata SKIPPED: %s is not a directory (the third-party samples of "
               "../shared/realdata are not in this checkout)\n",
               realdata_dir ? realdata_dir : "NB_REALDATA_DIR");
        return 77; /* ctest: SKIP_RETURN_CODE */
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_realdata, setup, teardown),
    };
    return cmocka_run_group_tests_name("fhir_realdata", tests, NULL, NULL);
}
