/*
 * Benchmark: the FHIR reader on one core. A UK-style Appointment (made up here: a contained
 * Patient with an NHS number and its verification status, identifiers, codings, three
 * participants, times with zones; about 2 KB) and a transaction Bundle (that Appointment, its
 * Patient by urn:uuid and an Encounter; about 3 KB) are read, in JSON and in XML:
 *   fhir_json_appointment   nb_fhir_read() of the JSON Appointment;
 *   fhir_xml_appointment    the same Appointment in XML;
 *   fhir_json_bundle        the JSON Bundle (three resources);
 *   fhir_xml_bundle         the XML Bundle;
 *   fhir_outcome_json       an OperationOutcome of one issue written as JSON;
 *   fhir_outcome_xml        the same in XML.
 * Each prints one JSON line with documents (and resources) per second.
 *
 *   bench_fhir [documents]     (default 200,000 per phase)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/fhir.h"

#define PATIENT_JSON                                                                               \
    "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"extension\":[{\"url\":"        \
    "\"https://fhir.hl7.org.uk/StructureDefinition/"                                               \
    "Extension-UKCore-NHSNumberVerificationStatus\","                                              \
    "\"valueCodeableConcept\":{\"coding\":[{\"system\":\"https://fhir.hl7.org.uk/CodeSystem/"      \
    "UKCore-NHSNumberVerificationStatusEngland\",\"code\":\"01\",\"display\":\"Number present "    \
    "and verified\"}]}}],\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":"              \
    "\"9990000018\"},{\"system\":\"https://trust.example/Id/mrn\",\"value\":\"LOCAL0001234\"}],"   \
    "\"name\":[{\"family\":\"TESTCHILD\",\"given\":[\"ALPHA\"]}],\"gender\":\"female\","           \
    "\"birthDate\":\"2023-10-01\",\"address\":[{\"line\":[\"1 Test Street\"],\"postalCode\":"      \
    "\"TE1 1ST\"}]}"

#define APPT_BODY_JSON(patient_ref)                                                                \
    "\"resourceType\":\"Appointment\",\"id\":\"apt-0000123\",\"meta\":{\"versionId\":\"4\","       \
    "\"lastUpdated\":\"2024-03-04T10:15:00.123+00:00\"},"                                          \
    "\"identifier\":[{\"system\":\"https://trust.example/Id/appointment\",\"value\":"              \
    "\"APT-0000123\"}],\"status\":\"noshow\",\"cancelationReason\":{\"coding\":[{\"system\":"      \
    "\"http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason\",\"code\":"          \
    "\"pat-noshow\"}]},\"serviceCategory\":[{\"coding\":[{\"system\":\"http://terminology.hl7."    \
    "org/CodeSystem/service-category\",\"code\":\"8\",\"display\":\"Counselling\"}]}],"            \
    "\"serviceType\":[{\"coding\":[{\"system\":\"https://trust.example/CodeSystem/clinic\","       \
    "\"code\":\"IMM8W\",\"display\":\"8-week immunisations\"}]}],\"appointmentType\":{\"coding\":" \
    "[{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0276\",\"code\":\"ROUTINE\"}]},"      \
    "\"start\":\"2024-03-10T09:30:00+00:00\",\"end\":\"2024-03-10T09:50:00+00:00\","               \
    "\"minutesDuration\":20,\"created\":\"2024-02-20T14:02:11+00:00\",\"participant\":["           \
    "{\"actor\":{\"reference\":\"" patient_ref "\"},\"required\":\"required\",\"status\":"         \
    "\"declined\"},{\"type\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"   \
    "v3-ParticipationType\",\"code\":\"ATND\"}]}],\"actor\":{\"reference\":\"Practitioner/"        \
    "nurse1\",\"display\":\"Test Nurse\"},\"status\":\"accepted\"},{\"actor\":{\"reference\":"     \
    "\"Location/clinic1\"},\"status\":\"accepted\"}]"

static const char appt_json[] = "{" APPT_BODY_JSON("#p1") ",\"contained\":[" PATIENT_JSON "]}";

static const char bundle_json[] =
    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
    "{\"fullUrl\":\"urn:uuid:00000000-0000-4000-8000-000000000001\",\"resource\":{" APPT_BODY_JSON(
        "urn:uuid:00000000-0000-4000-8000-000000000002") "},\"request\":{\"method\":\"PUT\","
                                                         "\"url\":\"Appointment/apt-0000123\"}},"
                                                         "{\"fullUrl\":\"urn:uuid:00000000-0000-"
                                                         "4000-8000-000000000002\","
                                                         "\"resource\":" PATIENT_JSON
                                                         ",\"request\":{\"method\":\"PUT\",\"url\":"
                                                         "\"Patient/p1\"}},"
                                                         "{\"fullUrl\":\"urn:uuid:00000000-0000-"
                                                         "4000-8000-000000000003\",\"resource\":{"
                                                         "\"resourceType\":\"Encounter\",\"id\":"
                                                         "\"enc-1\",\"status\":\"cancelled\","
                                                         "\"class\":{"
                                                         "\"system\":\"http://terminology.hl7.org/"
                                                         "CodeSystem/"
                                                         "v3-ActCode\",\"code\":\"AMB\"},"
                                                         "\"subject\":{\"reference\":\"urn:uuid:"
                                                         "00000000-0000-4000-8000-000000000002\"},"
                                                         "\"appointment\":[{\"reference\":\"urn:"
                                                         "uuid:00000000-0000-4000-8000-"
                                                         "000000000001\"}],"
                                                         "\"period\":{\"start\":\"2024-03-10T09:30:"
                                                         "00+00:00\"},\"serviceProvider\":{"
                                                         "\"identifier\":{"
                                                         "\"system\":\"https://fhir.nhs.uk/Id/"
                                                         "ods-organization-code\",\"value\":"
                                                         "\"RX1\"}}},"
                                                         "\"request\":{\"method\":\"PUT\",\"url\":"
                                                         "\"Encounter/enc-1\"}}]}";

#define PATIENT_XML                                                                                \
    "<Patient><id value=\"p1\"/><identifier><extension url=\"https://fhir.hl7.org.uk/"             \
    "StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus\"><valueCodeableConcept>"    \
    "<coding><system value=\"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerification"      \
    "StatusEngland\"/><code value=\"01\"/><display value=\"Number present and verified\"/>"        \
    "</coding></valueCodeableConcept></extension><system value=\"https://fhir.nhs.uk/Id/"          \
    "nhs-number\"/><value value=\"9990000018\"/></identifier><identifier><system value=\""         \
    "https://trust.example/Id/mrn\"/><value value=\"LOCAL0001234\"/></identifier><name><family "   \
    "value=\"TESTCHILD\"/><given value=\"ALPHA\"/></name><gender value=\"female\"/><birthDate "    \
    "value=\"2023-10-01\"/><address><line value=\"1 Test Street\"/><postalCode value=\"TE1 1ST\""  \
    "/></address></Patient>"

#define APPT_XML(contained, patient_ref)                                                           \
    "<Appointment xmlns=\"http://hl7.org/fhir\"><id value=\"apt-0000123\"/><meta><versionId "      \
    "value=\"4\"/><lastUpdated value=\"2024-03-04T10:15:00.123+00:00\"/></meta>" contained         \
    "<identifier><system value=\"https://trust.example/Id/appointment\"/><value value=\""          \
    "APT-0000123\"/></identifier><status value=\"noshow\"/><cancelationReason><coding><system "    \
    "value=\"http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason\"/><code "      \
    "value=\"pat-noshow\"/></coding></cancelationReason><serviceCategory><coding><system value="   \
    "\"http://terminology.hl7.org/CodeSystem/service-category\"/><code value=\"8\"/><display "     \
    "value=\"Counselling\"/></coding></serviceCategory><serviceType><coding><system value=\""      \
    "https://trust.example/CodeSystem/clinic\"/><code value=\"IMM8W\"/><display value=\"8-week "   \
    "immunisations\"/></coding></serviceType><appointmentType><coding><system value=\"http://"     \
    "terminology.hl7.org/CodeSystem/v2-0276\"/><code value=\"ROUTINE\"/></coding>"                 \
    "</appointmentType><start value=\"2024-03-10T09:30:00+00:00\"/><end value=\"2024-03-10T09:"    \
    "50:00+00:00\"/><minutesDuration value=\"20\"/><created value=\"2024-02-20T14:02:11+00:00\"/>" \
    "<participant><actor><reference value=\"" patient_ref "\"/></actor><required value=\""         \
    "required\"/><status value=\"declined\"/></participant><participant><type><coding><system "    \
    "value=\"http://terminology.hl7.org/CodeSystem/v3-ParticipationType\"/><code value=\"ATND\"/>" \
    "</coding></type><actor><reference value=\"Practitioner/nurse1\"/><display value=\"Test "      \
    "Nurse\"/></actor><status value=\"accepted\"/></participant><participant><actor><reference "   \
    "value=\"Location/clinic1\"/></actor><status value=\"accepted\"/></participant></Appointment>"

static const char appt_xml[] = APPT_XML("<contained>" PATIENT_XML "</contained>", "#p1");

static const char bundle_xml[] =
    "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"transaction\"/><entry><fullUrl value=\""
    "urn:uuid:00000000-0000-4000-8000-000000000001\"/><resource>" APPT_XML(
        "",
        "urn:uuid:00000000-0000-4000-8000-000000000002") "</resource><request><method "
                                                         "value=\"PUT\"/><url "
                                                         "value=\"Appointment/apt-0000123\"/></"
                                                         "request></entry><entry><fullUrl "
                                                         "value=\"urn:uuid:00000000-0000-4000-8000-"
                                                         "000000000002\"/><resource>" PATIENT_XML
                                                         "</resource><request><method "
                                                         "value=\"PUT\"/><url "
                                                         "value=\"Patient/p1\"/></request></entry>"
                                                         "<entry><fullUrl "
                                                         "value=\"urn:uuid:00000000-0000-4000-8000-"
                                                         "000000000003\"/><resource>"
                                                         "<Encounter><id value=\"enc-1\"/><status "
                                                         "value=\"cancelled\"/><class><system "
                                                         "value=\"http://"
                                                         "terminology.hl7.org/CodeSystem/"
                                                         "v3-ActCode\"/><code "
                                                         "value=\"AMB\"/></class><subject>"
                                                         "<reference "
                                                         "value=\"urn:uuid:00000000-0000-4000-8000-"
                                                         "000000000002\"/></subject><appointment>"
                                                         "<reference "
                                                         "value=\"urn:uuid:00000000-0000-4000-8000-"
                                                         "000000000001\"/></appointment><period>"
                                                         "<start "
                                                         "value=\"2024-03-10T09:30:00+00:00\"/></"
                                                         "period><serviceProvider><identifier><"
                                                         "system "
                                                         "value=\"https://fhir.nhs.uk/Id/"
                                                         "ods-organization-code\"/><value "
                                                         "value=\"RX1\"/></identifier>"
                                                         "</serviceProvider></Encounter></"
                                                         "resource><request><method "
                                                         "value=\"PUT\"/><url value=\""
                                                         "Encounter/enc-1\"/></request></entry></"
                                                         "Bundle>";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *name, size_t n, size_t resources, size_t bytes, double secs,
                   uint64_t sum)
{
    printf("{\"bench\":\"%s\",\"documents\":%zu,\"resources_per_document\":%zu,"
           "\"bytes_per_document\":%zu,\"seconds\":%.3f,\"documents_per_sec\":%.0f,"
           "\"resources_per_sec\":%.0f,\"mb_per_sec\":%.1f,\"checksum\":%llu}\n",
           name, n, resources, bytes, secs, (double)n / secs, (double)(n * resources) / secs,
           (double)n * (double)bytes / secs / 1e6, (unsigned long long)sum);
    fflush(stdout);
}

/* Reads @p text @p n times; checks the first read holds what it must. @returns 0 or 1. */
static int read_phase(nb_fhir_doc_t *doc, const char *name, const char *text, size_t resources,
                      size_t n)
{
    char errstr[256];
    uint64_t sum = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        if (nb_fhir_read(doc, text, strlen(text), NB_FHIR_AUTO, errstr, sizeof(errstr))) {
            fprintf(stderr, "%s: %s\n", name, errstr);
            return 1;
        }
        const nb_fhir_resource_t *r = nb_fhir_doc_resource(doc);
        const nb_fhir_appointment_t *a =
            r->appointment ? r->appointment : r->bundle->entries[0].resource.appointment;
        if (!a || !a->patient || !a->patient->actor.patient) {
            fprintf(stderr, "%s: the patient was not resolved\n", name);
            return 1;
        }
        sum += (uint64_t)a->start.ms + a->n_participants;
    }
    report(name, n, resources, strlen(text), now_s() - t0, sum);
    return 0;
}

static int outcome_phase(const char *name, nb_fhir_format_t fmt, size_t n)
{
    nb_fhir_issue_t is = {"error", "invalid",
                          "Appointment.participant[1].actor.reference: a value where FHIR has "
                          "an element with children",
                          "Appointment.participant[1].actor.reference"};
    nb_buf_t b = {0};
    uint64_t sum = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        b.len = 0;
        if (nb_fhir_outcome_write(&is, 1, fmt, &b) != NB_ERR_OK)
            return 1;
        sum += b.len;
    }
    report(name, n, 1, b.len, now_s() - t0, sum);
    nb_buf_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 200000u;
    if (n == 0 || n > 1000000000u) {
        fprintf(stderr, "documents must be 1..1000000000\n");
        return 2;
    }
    nb_fhir_doc_t *doc = nb_fhir_doc_new(NULL);
    if (!doc)
        return 1;
    int rc = read_phase(doc, "fhir_json_appointment", appt_json, 1, n) ||
             read_phase(doc, "fhir_xml_appointment", appt_xml, 1, n) ||
             read_phase(doc, "fhir_json_bundle", bundle_json, 3, n) ||
             read_phase(doc, "fhir_xml_bundle", bundle_xml, 3, n) ||
             outcome_phase("fhir_outcome_json", NB_FHIR_JSON, n) ||
             outcome_phase("fhir_outcome_xml", NB_FHIR_XML, n);
    nb_fhir_doc_destroy(doc);
    return rc;
}
