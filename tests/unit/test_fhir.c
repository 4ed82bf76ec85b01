/*
 * unit.fhir: the FHIR R4 reader (include/notbrought/fhir.h) on resources written here, one
 * rule at a time; JSON and XML of the same resource must give the same view. Bundles,
 * references and the OperationOutcome are in test_fhir_bundle.c, the third-party samples in
 * test_fhir_realdata.c.
 */
#include "fhir_view.h"

/* A made-up home visit by a health visitor (test-range NHS number, no real person). */
static const char appt_json[] =
    "{\"resourceType\":\"Appointment\",\"id\":\"hv-1\","
    "\"meta\":{\"versionId\":\"3\",\"lastUpdated\":\"2024-03-01T09:30:00.250+00:00\"},"
    "\"text\":{\"status\":\"generated\",\"div\":\"<div "
    "xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"},"
    "\"contained\":[{\"resourceType\":\"Patient\",\"id\":\"p1\","
    "\"identifier\":[{\"extension\":[{\"url\":\"https://fhir.hl7.org.uk/StructureDefinition/"
    "Extension-UKCore-NHSNumberVerificationStatus\",\"valueCodeableConcept\":{\"coding\":[{"
    "\"system\":\"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland\","
    "\"code\":\"01\"}]}}],\"system\":\"https://fhir.nhs.uk/Id/"
    "nhs-number\",\"value\":\"9990000018\"},"
    "{\"system\":\"https://trust.example/mrn\",\"value\":\"M123\",\"use\":\"usual\"}],"
    "\"name\":[{\"family\":\"Nobody\"}],\"birthDate\":\"2023-05-04\"}],"
    "\"identifier\":[{\"system\":\"https://trust.example/appt\",\"value\":\"A-77\"}],"
    "\"status\":\"noshow\",\"_status\":{\"extension\":[{\"url\":\"x\",\"valueString\":\"y\"}]},"
    "\"cancelationReason\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
    "appointment-cancellation-reason\",\"code\":\"pat-noshow\"}],\"text\":\"not in\"},"
    "\"serviceCategory\":[{\"coding\":[{\"code\":\"hv\"}]},{\"coding\":[{\"code\":\"cp\"},{"
    "\"code\":\"cq\"}]}],"
    "\"appointmentType\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
    "v2-0276\","
    "\"code\":\"ROUTINE\",\"display\":\"Routine\"}]},"
    "\"start\":\"2024-03-04T10:00:00+00:00\",\"end\":\"2024-03-04T10:30:00Z\","
    "\"created\":\"2024-02\",\"minutesDuration\":30,"
    "\"basedOn\":[{\"reference\":\"ServiceRequest/sr1\"}],"
    "\"participant\":["
    "{\"actor\":{\"reference\":\"Practitioner/hv9\",\"display\":\"HV\"},\"status\":\"accepted\","
    "\"type\":[{\"coding\":[{\"code\":\"ATND\"}]}]},"
    "{\"actor\":{\"reference\":\"#p1\"},\"status\":\"declined\",\"required\":\"required\"},"
    "{\"actor\":{\"type\":\"Location\",\"identifier\":{\"system\":\"https://fhir.nhs.uk/Id/"
    "ods-site-code\",\"value\":\"RXX01\"}},\"status\":\"accepted\"}]}";

static const char appt_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Appointment xmlns=\"http://hl7.org/fhir\"><id value=\"hv-1\"/>"
    "<meta><versionId value=\"3\"/><lastUpdated value=\"2024-03-01T09:30:00.250+00:00\"/></meta>"
    "<text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p>"
    "<status value=\"not FHIR\"/></div></text>"
    "<contained><Patient><id value=\"p1\"/>"
    "<identifier><extension url=\"https://fhir.hl7.org.uk/StructureDefinition/"
    "Extension-UKCore-NHSNumberVerificationStatus\"><valueCodeableConcept><coding>"
    "<system "
    "value=\"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland\"/>"
    "<code value=\"01\"/></coding></valueCodeableConcept></extension>"
    "<system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value "
    "value=\"9990000018\"/></identifier>"
    "<identifier><use value=\"usual\"/><system value=\"https://trust.example/mrn\"/>"
    "<value value=\"M123\"/></identifier>"
    "<name><family value=\"Nobody\"/></name>"
    "<birthDate value=\"2023-05-04\"><extension url=\"http://hl7.org/fhir/StructureDefinition/"
    "patient-birthTime\"><valueDateTime value=\"2023-05-04T03:00:00Z\"/></extension></birthDate>"
    "</Patient></contained>"
    "<!-- a comment --><identifier><system value=\"https://trust.example/appt\"/>"
    "<value value=\"A-77\"/></identifier>"
    "<status value=\"noshow\"><extension url=\"x\"><valueString value=\"y\"/></extension></status>"
    "<cancelationReason><coding><system value=\"http://terminology.hl7.org/CodeSystem/"
    "appointment-cancellation-reason\"/><code value=\"pat-noshow\"/></coding>"
    "<text value=\"not in\"/></cancelationReason>"
    "<serviceCategory><coding><code value=\"hv\"/></coding></serviceCategory>"
    "<serviceCategory><coding><code value=\"cp\"/></coding><coding><code value=\"cq\"/></coding>"
    "</serviceCategory>"
    "<appointmentType><coding><system value=\"http://terminology.hl7.org/CodeSystem/v2-0276\"/>"
    "<code value=\"ROUTINE\"/><display value=\"Routine\"/></coding></appointmentType>"
    "<start value=\"2024-03-04T10:00:00+00:00\"/><end value=\"2024-03-04T10:30:00Z\"/>"
    "<created value=\"2024-02\"/><minutesDuration value=\"30\"/>"
    "<basedOn><reference value=\"ServiceRequest/sr1\"/></basedOn>"
    "<participant><type><coding><code value=\"ATND\"/></coding></type>"
    "<actor><reference value=\"Practitioner/hv9\"/><display value=\"HV\"/></actor>"
    "<status value=\"accepted\"/></participant>"
    "<participant><actor><reference value=\"#p1\"/></actor><required value=\"required\"/>"
    "<status value=\"declined\"/></participant>"
    "<participant><actor><type value=\"Location\"/><identifier>"
    "<system value=\"https://fhir.nhs.uk/Id/ods-site-code\"/><value value=\"RXX01\"/>"
    "</identifier></actor><status value=\"accepted\"/></participant>"
    "</Appointment>\n";

static void test_appointment_json_and_xml(void **state)
{
    nb_fhir_doc_t *doc = *state;
    const nb_fhir_resource_t *r = same_view(doc, appt_json, appt_xml);
    assert_int_equal(r->rtype, NB_FHIR_APPOINTMENT);
    const nb_fhir_appointment_t *a = r->appointment;
    assert_string_equal(r->id, "hv-1");
    assert_string_equal(a->meta.version_id, "3");
    /* 2024-03-01T09:30:00.250Z: 1709285400 s (date -u -d ... +%s) */
    assert_int_equal(a->meta.last_updated.ms, 1709285400250LL);
    assert_int_equal(a->meta.last_updated.prec, NB_FHIR_PREC_MILLI);
    assert_string_equal(a->status, "noshow");
    assert_int_equal(a->cancelation_reason.n, 1);
    assert_string_equal(a->cancelation_reason.v[0].code, "pat-noshow");
    assert_string_equal(a->cancelation_reason.text, "not in");
    assert_int_equal(a->service_category.n, 3); /* two repetitions, three codings */
    assert_string_equal(a->service_category.v[2].code, "cq");
    assert_string_equal(a->appointment_type.v[0].display, "Routine");
    assert_int_equal(a->start.ms, 1709546400000LL); /* 2024-03-04T10:00:00Z */
    assert_int_equal(a->end.ms, 1709548200000LL);
    assert_int_equal(a->created.prec, NB_FHIR_PREC_MONTH);
    assert_int_equal(a->created.ms, 1706745600000LL); /* 2024-02-01T00:00:00Z */
    assert_true(a->has_minutes_duration);
    assert_int_equal(a->minutes_duration, 30);
    assert_int_equal(a->based_on.n, 1);
    assert_string_equal(a->based_on.v[0].type, "ServiceRequest");
    assert_int_equal(a->n_participants, 3);
    assert_int_equal(a->participants[0].actor.kind, NB_FHIR_KIND_PRACTITIONER);
    assert_string_equal(a->participants[0].type.v[0].code, "ATND");
    /* the contained Patient, found by "#p1" */
    assert_ptr_equal(a->patient, &a->participants[1]);
    const nb_fhir_ref_t *pr = &a->participants[1].actor;
    assert_int_equal(pr->kind, NB_FHIR_KIND_PATIENT);
    assert_non_null(pr->patient);
    assert_int_equal(pr->patient->identifiers.n, 2);
    assert_string_equal(pr->patient->identifiers.v[0].system, "https://fhir.nhs.uk/Id/nhs-number");
    assert_string_equal(pr->patient->identifiers.v[0].value, "9990000018");
    assert_string_equal(pr->patient->identifiers.v[0].verification_status, "01");
    assert_null(pr->patient->identifiers.v[1].verification_status);
    assert_int_equal(pr->patient->birth_date.prec, NB_FHIR_PREC_DAY);
    assert_int_equal(pr->patient->birth_date.ms, 1683158400000LL); /* 2023-05-04 */
    assert_string_equal(a->participants[1].status, "declined");
    /* a logical reference: the type and identifier as sent, nothing resolved */
    const nb_fhir_ref_t *loc = &a->participants[2].actor;
    assert_int_equal(loc->kind, NB_FHIR_KIND_LOCATION);
    assert_null(loc->reference);
    assert_string_equal(loc->identifier.value, "RXX01");
    assert_null(loc->patient);
}

static const char enc_json[] =
    "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"meta\":{\"versionId\":\"1\"},"
    "\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/"
    "v3-ActCode\",\"code\":\"HH\",\"display\":\"home health\"},"
    "\"type\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"1\"}]}],"
    "\"subject\":{\"reference\":\"Patient/c1\",\"identifier\":{\"system\":"
    "\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9990000026\"}},"
    "\"appointment\":[{\"reference\":\"Appointment/hv-1\"},{\"reference\":\"Appointment/hv-0\"}],"
    "\"period\":{\"start\":\"2024-03-04T10:05:00+01:00\",\"end\":\"2024-03-04\"},"
    "\"hospitalization\":{\"admitSource\":{\"coding\":[{\"code\":\"hosp-trans\"}]}},"
    "\"serviceProvider\":{\"identifier\":{\"system\":\"https://fhir.nhs.uk/Id/"
    "ods-organization-code\",\"value\":\"RXX\"}}}";

static const char enc_xml[] =
    "<Encounter xmlns=\"http://hl7.org/fhir\"><id value=\"e1\"/><meta><versionId value=\"1\"/>"
    "</meta><status value=\"finished\"/><class><system value=\"http://terminology.hl7.org/"
    "CodeSystem/v3-ActCode\"/><code value=\"HH\"/><display value=\"home health\"/></class>"
    "<type><coding><system value=\"http://snomed.info/sct\"/><code value=\"1\"/></coding></type>"
    "<subject><reference value=\"Patient/c1\"/><identifier><system value=\"https://fhir.nhs.uk/"
    "Id/nhs-number\"/><value value=\"9990000026\"/></identifier></subject>"
    "<appointment><reference value=\"Appointment/hv-1\"/></appointment>"
    "<appointment><reference value=\"Appointment/hv-0\"/></appointment>"
    "<period><start value=\"2024-03-04T10:05:00+01:00\"/><end value=\"2024-03-04\"/></period>"
    "<hospitalization><admitSource><coding><code value=\"hosp-trans\"/></coding></admitSource>"
    "</hospitalization><serviceProvider><identifier><system value=\"https://fhir.nhs.uk/Id/"
    "ods-organization-code\"/><value value=\"RXX\"/></identifier></serviceProvider></Encounter>";

static void test_encounter_json_and_xml(void **state)
{
    const nb_fhir_resource_t *r = same_view(*state, enc_json, enc_xml);
    const nb_fhir_encounter_t *e = r->encounter;
    assert_int_equal(r->rtype, NB_FHIR_ENCOUNTER);
    assert_string_equal(e->status, "finished");
    assert_string_equal(e->class.code, "HH");
    assert_int_equal(e->type.n, 1);
    assert_int_equal(e->subject.kind, NB_FHIR_KIND_PATIENT);
    assert_null(e->subject.patient); /* Patient/c1 is not in the document */
    assert_string_equal(e->subject.identifier.value, "9990000026");
    assert_int_equal(e->appointment.n, 2);
    assert_int_equal(e->appointment.v[1].kind, NB_FHIR_KIND_APPOINTMENT);
    assert_int_equal(e->period_start.ms, 1709543100000LL); /* 09:05Z */
    assert_int_equal(e->period_start.zone_minutes, 60);
    assert_int_equal(e->period_end.prec, NB_FHIR_PREC_DAY);
    assert_true(e->has_hospitalization);
    assert_string_equal(e->admit_source.v[0].code, "hosp-trans");
    assert_string_equal(e->service_provider.identifier.value, "RXX");
    assert_false(e->service_provider.reference != NULL);
}

static void check_time(const char *s, nb_fhir_ttype_t what, nb_err_t want, long long ms,
                       nb_fhir_prec_t prec)
{
    nb_fhir_time_t t;
    char why[128] = "";
    nb_err_t err = nb_fhir_time_parse(s, strlen(s), what, &t, why, sizeof(why));
    if (err != want)
        print_message("'%s': %s %s\n", s, nb_err_name(err), why);
    assert_int_equal(err, want);
    if (!err) {
        assert_int_equal(t.ms, ms);
        assert_int_equal(t.prec, prec);
    } else {
        if (s[0])
            assert_null(strstr(why, s)); /* the reason never quotes the value */
        assert_true(why[0] != '\0');
    }
}

static void test_dates_and_times(void **state)
{
    (void)state;
    const nb_err_t ok = NB_ERR_OK, bad = NB_ERR_FHIR_TIMESTAMP;
    /* expected values from date -u -d ... +%s */
    check_time("2021", NB_FHIR_T_DATE, ok, 1609459200000LL, NB_FHIR_PREC_YEAR);
    check_time("2021-02", NB_FHIR_T_DATETIME, ok, 1612137600000LL, NB_FHIR_PREC_MONTH);
    check_time("2020-02-29", NB_FHIR_T_DATE, ok, 1582934400000LL, NB_FHIR_PREC_DAY);
    check_time("1969-12-31", NB_FHIR_T_DATE, ok, -86400000LL, NB_FHIR_PREC_DAY);
    check_time("2021-02-11T15:39:00+01:00", NB_FHIR_T_DATETIME, ok, 1613054340000LL,
               NB_FHIR_PREC_SECOND);
    check_time("2021-02-11T15:39:00.1239Z", NB_FHIR_T_INSTANT, ok, 1613057940123LL,
               NB_FHIR_PREC_MILLI);
    check_time("2021-02-11T15:39:00.5-14:00", NB_FHIR_T_INSTANT, ok, 1613108340500LL,
               NB_FHIR_PREC_MILLI);
    check_time("2021-02-11T23:59:60Z", NB_FHIR_T_INSTANT, ok, 1613088000000LL, NB_FHIR_PREC_SECOND);
    check_time("2021-02-11T15:39:00", NB_FHIR_T_DATETIME, bad, 0, 0); /* no zone */
    check_time("2021-02-11T15:39:00", NB_FHIR_T_INSTANT, bad, 0, 0);
    check_time("2021-02-11", NB_FHIR_T_INSTANT, bad, 0, 0);
    check_time("2021-02-11T15:39Z", NB_FHIR_T_DATETIME, bad, 0, 0); /* no seconds */
    check_time("2021-02-11T15:39:00Z", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("2021-02-29", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("1900-02-29", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("2021-13", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("2021-1", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("0000", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("21", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("2021-02-11T24:00:00Z", NB_FHIR_T_DATETIME, bad, 0, 0);
    check_time("2021-02-11T15:39:00+14:30", NB_FHIR_T_DATETIME, bad, 0, 0);
    check_time("2021-02-11T15:39:00+0100", NB_FHIR_T_DATETIME, bad, 0, 0);
    check_time("2021-02-11T15:39:00.Z", NB_FHIR_T_DATETIME, bad, 0, 0);
    check_time("2021-02-11 ", NB_FHIR_T_DATE, bad, 0, 0);
    check_time("2021-02T10:00:00Z", NB_FHIR_T_DATETIME, bad, 0, 0);
    check_time("", NB_FHIR_T_DATE, bad, 0, 0);
}

#define NHS "9990000018" /* must never appear in an error text */

static void test_refusals_name_the_path(void **state)
{
    nb_fhir_doc_t *doc = *state;
    /* required */
    refused(doc, "{\"resourceType\":\"Appointment\",\"participant\":[]}", NB_ERR_FHIR_INVALID,
            "Appointment.status", NULL);
    refused(doc, "<Encounter xmlns=\"http://hl7.org/fhir\"><id value=\"x\"/></Encounter>",
            NB_ERR_FHIR_INVALID, "Encounter.status", NULL);
    /* a value where FHIR has an element, and the other way round */
    refused(doc,
            "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"participant\":["
            "{\"actor\":{\"reference\":\"Patient/1\"}},{\"actor\":{\"reference\":{\"x\":\"" NHS
            "\"}}}]}",
            NB_ERR_FHIR_INVALID, "Appointment.participant[1].actor.reference", NHS);
    refused(doc,
            "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"participant\":[\"" NHS
            "\"]}",
            NB_ERR_FHIR_INVALID, "Appointment.participant[0]", NHS);
    refused(doc,
            "<Appointment xmlns=\"http://hl7.org/fhir\"><status value=\"booked\"/><participant>"
            "<actor value=\"" NHS "\"/></participant></Appointment>",
            NB_ERR_FHIR_INVALID, "Appointment.participant[0].actor", NHS);
    /* once only */
    refused(doc,
            "<Appointment xmlns=\"http://hl7.org/fhir\"><status value=\"booked\"/>"
            "<status value=\"noshow\"/></Appointment>",
            NB_ERR_FHIR_INVALID, "Appointment.status", NULL);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":[\"booked\",\"noshow\"]}",
            NB_ERR_FHIR_INVALID, "Appointment.status", NULL);
    /* JSON that is no FHIR JSON */
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"identifier\":[[1]]}",
            NB_ERR_FHIR_INVALID, "Appointment.identifier[0]", NULL);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":null}", NB_ERR_FHIR_INVALID,
            "Appointment.status", NULL);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":\"\"}", NB_ERR_FHIR_INVALID,
            "Appointment.status", NULL);
    /* dates: the path, the reason, never the value */
    refused(doc,
            "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"start\":"
            "\"2024-03-04T10:00:00\"}",
            NB_ERR_FHIR_TIMESTAMP, "Appointment.start", "2024");
    refused(doc,
            "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{}},"
            "{\"resource\":{\"resourceType\":\"Patient\",\"birthDate\":\"" NHS "\"}}]}",
            NB_ERR_FHIR_INVALID, "Bundle.entry[0].resource", NULL);
    refused(doc,
            "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"fullUrl\":\"a\"},"
            "{\"resource\":{\"resourceType\":\"Patient\",\"birthDate\":\"" NHS "\"}}]}",
            NB_ERR_FHIR_TIMESTAMP, "Bundle.entry[1].resource.birthDate", NHS);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"minutesDuration\":-5}",
            NB_ERR_FHIR_INVALID, "Appointment.minutesDuration", NULL);
    /* what is not a resource of ours */
    refused(doc, "{\"resourceType\":\"Slot\",\"id\":\"s\"}", NB_ERR_FHIR_UNSUPPORTED, "Slot", NULL);
    refused(doc, "{\"summary\":\"a fragment\",\"value\":{}}", NB_ERR_FHIR_INVALID, "", NULL);
    refused(doc, "{\"resourceType\":\"" NHS "\",\"id\":\"x\"}", NB_ERR_FHIR_INVALID, "", NHS);
    refused(doc, "{\"resourceType\":\"Appoint ment\"}", NB_ERR_FHIR_INVALID, "", NULL);
    refused(doc,
            "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"resource\":{"
            "\"resourceType\":7}}]}",
            NB_ERR_FHIR_INVALID, "Bundle.entry[0].resource", NULL);
    refused(doc, "[{\"resourceType\":\"Appointment\"}]", NB_ERR_FHIR_INVALID, "", NULL);
    refused(doc, "{\"resourceType\":\"Bundle\",\"entry\":[]}", NB_ERR_FHIR_INVALID, "Bundle.type",
            NULL);
}

static void test_refused_documents(void **state)
{
    nb_fhir_doc_t *doc = *state;
    char errstr[256];
    refused(doc, "", NB_ERR_FHIR_SYNTAX, "", NULL);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":\"" NHS "\"", NB_ERR_FHIR_SYNTAX, "",
            NHS);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":\"a\",\"status\":\"b\"}",
            NB_ERR_FHIR_SYNTAX, "", NULL);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":\"\xff\"}", NB_ERR_FHIR_SYNTAX, "",
            NULL);
    refused(doc, "<Appointment xmlns=\"http://hl7.org/fhir\"><status value=\"" NHS "\">",
            NB_ERR_FHIR_SYNTAX, "", NHS);
    refused(doc, "<Appointment><status value=\"booked\"/></Appointment>", NB_ERR_FHIR_SYNTAX, "",
            NULL);
    refused(doc, "<status xmlns=\"http://hl7.org/fhir\" value=\"booked\"/>", NB_ERR_FHIR_INVALID,
            "", NULL);
    /* no DTD, so no entity can expand ("billion laughs") or reach out (XXE) */
    refused(doc,
            "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"xx\"><!ENTITY y \"&x;&x;&x;\">]>"
            "<Appointment xmlns=\"http://hl7.org/fhir\"><status value=\"&y;\"/></Appointment>",
            NB_ERR_FHIR_SYNTAX, "", NULL);
    refused(doc,
            "<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><Appointment xmlns=\"http://hl7.org/fhir\">"
            "<status value=\"booked\"/></Appointment>",
            NB_ERR_FHIR_SYNTAX, "", NULL);
    /* a byte order mark before JSON or XML */
    const char *bom_json = "\xEF\xBB\xBF {\"resourceType\":\"Encounter\",\"status\":\"planned\"}";
    assert_int_equal(nb_fhir_read(doc, bom_json, strlen(bom_json), NB_FHIR_AUTO, NULL, 0),
                     NB_ERR_OK);
    assert_int_equal(nb_fhir_doc_format(doc), NB_FHIR_JSON);
    const char *bom_xml = "\xEF\xBB\xBF<Encounter xmlns=\"http://hl7.org/fhir\"><status "
                          "value=\"planned\"/></Encounter>";
    assert_int_equal(nb_fhir_read(doc, bom_xml, strlen(bom_xml), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    assert_int_equal(nb_fhir_doc_format(doc), NB_FHIR_XML);
    refused(doc, "\xEF\xBB\xBF", NB_ERR_FHIR_SYNTAX, "", NULL);
    /* XML is read as UTF-8 whatever it declares (FHIR's XML is UTF-8) */
    const char *latin = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Appointment xmlns="
                        "\"http://hl7.org/fhir\"><status value=\"caf\xc3\xa9\"/></Appointment>";
    assert_int_equal(nb_fhir_read(doc, latin, strlen(latin), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    assert_string_equal(nb_fhir_doc_resource(doc)->appointment->status, "caf\xc3\xa9");
    /* character and predefined entity references in a value */
    const char *refs = "<Appointment xmlns=\"http://hl7.org/fhir\"><status value=\"a&amp;b&#233;"
                       "&lt;\"/></Appointment>";
    assert_int_equal(nb_fhir_read(doc, refs, strlen(refs), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    assert_string_equal(nb_fhir_doc_resource(doc)->appointment->status, "a&b\xc3\xa9<");
    /* the error text is cut to the caller's buffer, never overrun */
    const char *big = "{\"resourceType\":\"Appointment\"}";
    assert_int_equal(nb_fhir_read(doc, big, strlen(big), NB_FHIR_JSON, errstr, 8),
                     NB_ERR_FHIR_INVALID);
    assert_int_equal(strlen(errstr), 7);
    assert_int_equal(nb_fhir_read(doc, big, strlen(big), NB_FHIR_JSON, NULL, 0),
                     NB_ERR_FHIR_INVALID);
    /* XML named as JSON is refused as JSON */
    assert_int_equal(
        nb_fhir_read(doc, enc_xml, strlen(enc_xml), NB_FHIR_JSON, errstr, sizeof(errstr)),
        NB_ERR_FHIR_SYNTAX);
    /* a handle reads again after a refusal */
    assert_int_equal(nb_fhir_read(doc, enc_json, strlen(enc_json), NB_FHIR_AUTO, NULL, 0),
                     NB_ERR_OK);
    assert_string_equal(nb_fhir_doc_error_path(doc), "");
    assert_non_null(nb_fhir_doc_resource(doc)->encounter);
}

/* "[" depth times, then a resource that nests @p depth elements deep. */
static char *deep_json(size_t depth)
{
    nb_buf_t b = {0};
    put(&b, "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"extension\":");
    for (size_t i = 0; i < depth; i++)
        put(&b, "{\"extension\":");
    put(&b, "{\"url\":\"u\"}");
    for (size_t i = 0; i < depth; i++)
        put(&b, "}");
    put(&b, "}");
    nb_buf_add(&b, "", 1);
    assert_int_equal(b.err, NB_ERR_OK);
    return (char *)b.data;
}

static void test_limits(void **state)
{
    (void)state;
    nb_fhir_limits_t lim;
    nb_fhir_limits_default(&lim);
    lim.max_bytes = 2000;
    lim.max_depth = 10;
    lim.max_entries = 2;
    lim.max_participants = 2;
    lim.max_list = 3;
    lim.max_string = 16;
    nb_fhir_doc_t *doc = nb_fhir_doc_new(&lim);
    assert_non_null(doc);
    char big[2100];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    refused(doc, big, NB_ERR_LIMIT, "", NULL);
    /* 2000 bytes hold at most 2000 / 8 + 64 = 314 elements, whatever their size: the resource,
     * resourceType and status are three, x[0] to x[310] the rest */
    nb_buf_t many = {0};
    put(&many, "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"x\":[1");
    for (int i = 0; i < 400; i++)
        put(&many, ",1");
    put(&many, "]}");
    nb_buf_add(&many, "", 1);
    refused(doc, (const char *)many.data, NB_ERR_LIMIT, "Appointment.x[311]", NULL);
    nb_buf_free(&many);
    /* the resource is depth 1, so ten extensions in each other are depth 11 */
    char *deep = deep_json(9);
    refused(doc, deep, NB_ERR_LIMIT,
            "Appointment.extension.extension.extension.extension.extension.extension.extension."
            "extension.extension.extension",
            NULL);
    free(deep);
    deep = deep_json(7); /* the url inside the innermost is depth 10 */
    assert_int_equal(nb_fhir_read(doc, deep, strlen(deep), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    free(deep);
    refused(
        doc,
        "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{},{},{\"fullUrl\":\"x\"}]}",
        NB_ERR_LIMIT, "Bundle.entry", NULL);
    refused(doc,
            "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"participant\":[{},{},{}]}",
            NB_ERR_LIMIT, "Appointment.participant", NULL);
    refused(doc,
            "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"identifier\":[{},{},{},{}]}",
            NB_ERR_LIMIT, "Appointment.identifier", NULL);
    refused(doc,
            "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"serviceType\":[{\"coding\":"
            "[{},{}]},{\"coding\":[{},{}]}]}",
            NB_ERR_LIMIT, "Appointment.serviceType", NULL);
    refused(doc, "{\"resourceType\":\"Appointment\",\"status\":\"booked-and-more-than-16\"}",
            NB_ERR_LIMIT, "Appointment.status", "booked");
    /* strings the view does not read are not held to the limit */
    const char *ok = "{\"resourceType\":\"Appointment\",\"status\":\"booked\","
                     "\"description\":\"a description longer than sixteen bytes\"}";
    assert_int_equal(nb_fhir_read(doc, ok, strlen(ok), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    nb_fhir_doc_destroy(doc);
    lim.max_depth = 0;
    assert_null(nb_fhir_doc_new(&lim));
    nb_fhir_limits_default(&lim);
    lim.max_bytes = 512u << 20;
    assert_null(nb_fhir_doc_new(&lim));
    nb_fhir_doc_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appointment_json_and_xml, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encounter_json_and_xml, setup, teardown),
        cmocka_unit_test(test_dates_and_times),
        cmocka_unit_test_setup_teardown(test_refusals_name_the_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_documents, setup, teardown),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests_name("fhir", tests, NULL, NULL);
}
