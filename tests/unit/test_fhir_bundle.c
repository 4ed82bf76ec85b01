/*
 * unit.fhir_bundle: Bundles (batch, transaction, the R4 Subscriptions Backport IG's
 * notifications), references resolved across entries, and the OperationOutcome writer. Each
 * Bundle is written in JSON and XML, which must give the same view.
 */
#include "fhir_view.h"

#include <jansson.h>
#include <libxml/parser.h>

static const char tx_json[] =
    "{\"resourceType\":\"Bundle\",\"id\":\"b1\",\"type\":\"transaction\",\"entry\":["
    "{\"fullUrl\":\"urn:uuid:7e0c2c39-0000-4000-8000-000000000001\",\"resource\":{"
    "\"resourceType\":\"Appointment\",\"status\":\"booked\",\"start\":\"2024-05-01T09:00:00Z\","
    "\"participant\":[{\"actor\":{\"reference\":\"urn:uuid:7e0c2c39-0000-4000-8000-000000000002\"},"
    "\"status\":\"accepted\"},{\"actor\":{\"reference\":\"urn:uuid:7e0c2c39-0000-4000-8000-"
    "000000000003\"},\"status\":\"accepted\"}]},"
    "\"request\":{\"method\":\"POST\",\"url\":\"Appointment\"}},"
    "{\"fullUrl\":\"urn:uuid:7e0c2c39-0000-4000-8000-000000000002\",\"resource\":{"
    "\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/"
    "nhs-number\","
    "\"value\":\"9990000034\"}],\"birthDate\":\"2022\"},"
    "\"request\":{\"method\":\"PUT\",\"url\":\"Patient?identifier=x\"}},"
    "{\"fullUrl\":\"urn:uuid:7e0c2c39-0000-4000-8000-000000000003\",\"resource\":{"
    "\"resourceType\":\"HealthcareService\",\"id\":\"hs\"}},"
    "{\"fullUrl\":\"https://ehr.example/fhir/Patient/123\",\"resource\":{\"resourceType\":"
    "\"Patient\",\"id\":\"123\",\"identifier\":[{\"system\":\"https://trust.example/mrn\","
    "\"value\":\"M9\"}]}},"
    "{\"fullUrl\":\"https://ehr.example/fhir/Encounter/e7\",\"resource\":{\"resourceType\":"
    "\"Encounter\",\"id\":\"e7\",\"status\":\"planned\",\"subject\":{\"reference\":"
    "\"Patient/123/_history/4\"},\"appointment\":[{\"reference\":\"urn:uuid:7e0c2c39-0000-4000-"
    "8000-000000000001\"}]},\"request\":{\"method\":\"PUT\",\"url\":\"Encounter/e7\"}},"
    "{\"request\":{\"method\":\"DELETE\",\"url\":\"Appointment/old\"}}]}";

static const char tx_xml[] =
    "<Bundle xmlns=\"http://hl7.org/fhir\"><id value=\"b1\"/><type value=\"transaction\"/>"
    "<entry><fullUrl value=\"urn:uuid:7e0c2c39-0000-4000-8000-000000000001\"/><resource>"
    "<Appointment><status value=\"booked\"/><start value=\"2024-05-01T09:00:00Z\"/>"
    "<participant><actor><reference value=\"urn:uuid:7e0c2c39-0000-4000-8000-000000000002\"/>"
    "</actor><status value=\"accepted\"/></participant><participant><actor><reference "
    "value=\"urn:uuid:7e0c2c39-0000-4000-8000-000000000003\"/></actor><status value=\"accepted\"/>"
    "</participant></Appointment></resource><request><method value=\"POST\"/><url "
    "value=\"Appointment\"/></request></entry>"
    "<entry><fullUrl value=\"urn:uuid:7e0c2c39-0000-4000-8000-000000000002\"/><resource><Patient>"
    "<identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value value=\"9990000034\"/>"
    "</identifier><birthDate value=\"2022\"/></Patient></resource><request><method value=\"PUT\"/>"
    "<url value=\"Patient?identifier=x\"/></request></entry>"
    "<entry><fullUrl value=\"urn:uuid:7e0c2c39-0000-4000-8000-000000000003\"/><resource>"
    "<HealthcareService><id value=\"hs\"/></HealthcareService></resource></entry>"
    "<entry><fullUrl value=\"https://ehr.example/fhir/Patient/123\"/><resource><Patient>"
    "<id value=\"123\"/><identifier><system value=\"https://trust.example/mrn\"/><value "
    "value=\"M9\"/></identifier></Patient></resource></entry>"
    "<entry><fullUrl value=\"https://ehr.example/fhir/Encounter/e7\"/><resource><Encounter>"
    "<id value=\"e7\"/><status value=\"planned\"/><subject><reference "
    "value=\"Patient/123/_history/4\"/></subject><appointment><reference "
    "value=\"urn:uuid:7e0c2c39-0000-4000-8000-000000000001\"/></appointment></Encounter>"
    "</resource><request><method value=\"PUT\"/><url value=\"Encounter/e7\"/></request></entry>"
    "<entry><request><method value=\"DELETE\"/><url value=\"Appointment/old\"/></request></entry>"
    "</Bundle>";

static void test_transaction(void **state)
{
    const nb_fhir_resource_t *r = same_view(*state, tx_json, tx_xml);
    assert_int_equal(r->rtype, NB_FHIR_BUNDLE);
    const nb_fhir_bundle_t *b = r->bundle;
    assert_string_equal(b->type, "transaction");
    assert_false(b->notification.present);
    assert_int_equal(b->n_entries, 6);
    const nb_fhir_entry_t *e = b->entries;
    assert_string_equal(e[0].request_method, "POST");
    assert_int_equal(e[0].resource.rtype, NB_FHIR_APPOINTMENT);
    const nb_fhir_appointment_t *a = e[0].resource.appointment;
    /* urn:uuid references: to the Patient of entry 1 and the service of entry 2 */
    assert_ptr_equal(a->participants[0].actor.patient, e[1].resource.patient);
    assert_int_equal(a->participants[0].actor.kind, NB_FHIR_KIND_PATIENT);
    assert_ptr_equal(a->patient, &a->participants[0]);
    assert_int_equal(a->participants[1].actor.kind, NB_FHIR_KIND_HEALTHCARE_SERVICE);
    assert_null(a->participants[1].actor.patient);
    assert_string_equal(e[1].resource.patient->identifiers.v[0].value, "9990000034");
    assert_int_equal(e[1].resource.patient->birth_date.prec, NB_FHIR_PREC_YEAR);
    assert_int_equal(e[2].resource.rtype, NB_FHIR_OTHER);
    assert_string_equal(e[2].resource.resource_type, "HealthcareService");
    /* "Patient/123/_history/4" against the fullUrl https://ehr.example/fhir/Patient/123 */
    const nb_fhir_encounter_t *enc = e[4].resource.encounter;
    assert_ptr_equal(enc->subject.patient, e[3].resource.patient);
    assert_int_equal(enc->appointment.n, 1);
    assert_string_equal(enc->appointment.v[0].type, "Appointment");
    /* a DELETE has no resource */
    assert_null(e[5].resource.resource_type);
    assert_string_equal(e[5].request_method, "DELETE");
    assert_string_equal(e[5].request_url, "Appointment/old");
}

/* The backport's R4 form: a Parameters first, the focus named by notification-event.focus. */
static const char notif_json[] =
    "{\"resourceType\":\"Bundle\",\"type\":\"history\",\"timestamp\":\"2024-05-01T10:00:00Z\","
    "\"entry\":[{\"fullUrl\":\"urn:uuid:9a1\",\"resource\":{\"resourceType\":\"Parameters\","
    "\"parameter\":[{\"name\":\"subscription\",\"valueReference\":{\"reference\":"
    "\"https://ehr.example/fhir/Subscription/s1\"}},{\"name\":\"topic\",\"valueCanonical\":"
    "\"http://example.org/topic\"},{\"name\":\"type\",\"valueCode\":\"event-notification\"},"
    "{\"name\":\"notification-event\",\"part\":[{\"name\":\"event-number\",\"valueString\":\"2\"},"
    "{\"name\":\"focus\",\"valueReference\":{\"reference\":\"https://ehr.example/fhir/"
    "Appointment/a1\"}}]}]},\"request\":{\"method\":\"GET\",\"url\":\"Subscription/s1/$status\"}},"
    "{\"fullUrl\":\"https://ehr.example/fhir/Appointment/a1\",\"resource\":{\"resourceType\":"
    "\"Appointment\",\"id\":\"a1\",\"status\":\"noshow\",\"participant\":[{\"actor\":{"
    "\"reference\":\"Patient/p\"},\"status\":\"declined\"}]},\"request\":{\"method\":\"PUT\","
    "\"url\":\"Appointment/a1\"}},"
    "{\"fullUrl\":\"https://ehr.example/fhir/Patient/p\",\"resource\":{\"resourceType\":"
    "\"Patient\",\"id\":\"p\",\"birthDate\":\"2021-07\"}}]}";

/* The R4B form: a SubscriptionStatus first, in XML. */
static const char notif_xml[] =
    "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"history\"/>"
    "<entry><fullUrl value=\"urn:uuid:9a1\"/><resource><SubscriptionStatus>"
    "<status value=\"active\"/><type value=\"event-notification\"/>"
    "<notificationEvent><eventNumber value=\"2\"/><focus><reference value=\"Encounter/x\"/>"
    "</focus></notificationEvent><subscription><reference value=\"Subscription/s1\"/>"
    "</subscription></SubscriptionStatus></resource></entry>"
    "<entry><fullUrl value=\"https://ehr.example/fhir/Appointment/a1\"/><resource><Appointment>"
    "<id value=\"a1\"/><status value=\"noshow\"/></Appointment></resource></entry>"
    "<entry><fullUrl value=\"https://ehr.example/fhir/Encounter/x\"/><resource><Encounter>"
    "<id value=\"x\"/><status value=\"cancelled\"/></Encounter></resource></entry></Bundle>";

static void test_notifications(void **state)
{
    nb_fhir_doc_t *doc = *state;
    assert_int_equal(nb_fhir_read(doc, notif_json, strlen(notif_json), NB_FHIR_AUTO, NULL, 0),
                     NB_ERR_OK);
    const nb_fhir_bundle_t *b = nb_fhir_doc_resource(doc)->bundle;
    assert_true(b->notification.present);
    assert_string_equal(b->notification.status_type, "event-notification");
    assert_string_equal(b->notification.subscription, "https://ehr.example/fhir/Subscription/s1");
    assert_int_equal(b->notification.n_focus, 1);
    assert_false(b->entries[0].focus);
    assert_true(b->entries[1].focus);
    assert_false(b->entries[2].focus);
    const nb_fhir_appointment_t *a = b->entries[1].resource.appointment;
    assert_string_equal(a->status, "noshow");
    /* "Patient/p" by resource type and id, the fullUrl being another server's form */
    assert_ptr_equal(a->participants[0].actor.patient, b->entries[2].resource.patient);

    assert_int_equal(nb_fhir_read(doc, notif_xml, strlen(notif_xml), NB_FHIR_AUTO, NULL, 0),
                     NB_ERR_OK);
    b = nb_fhir_doc_resource(doc)->bundle;
    assert_true(b->notification.present);
    assert_string_equal(b->notification.subscription, "Subscription/s1");
    assert_int_equal(b->notification.n_focus, 1);
    assert_false(b->entries[1].focus);
    assert_true(b->entries[2].focus); /* "Encounter/x" against .../fhir/Encounter/x */

    /* An event notification that names no focus: every other entry with a resource is one. */
    const char *nofocus =
        "{\"resourceType\":\"Bundle\",\"type\":\"history\",\"entry\":[{\"resource\":{"
        "\"resourceType\":\"SubscriptionStatus\",\"type\":\"event-notification\"}},"
        "{\"resource\":{\"resourceType\":\"Appointment\",\"status\":\"booked\"}},"
        "{\"request\":{\"method\":\"DELETE\",\"url\":\"Appointment/z\"}}]}";
    assert_int_equal(nb_fhir_read(doc, nofocus, strlen(nofocus), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    b = nb_fhir_doc_resource(doc)->bundle;
    assert_true(b->entries[1].focus);
    assert_false(b->entries[2].focus);
    /* A history Bundle without a status first is no notification. */
    const char *hist = "{\"resourceType\":\"Bundle\",\"type\":\"history\",\"entry\":[{"
                       "\"resource\":{\"resourceType\":\"Appointment\",\"status\":\"booked\"}}]}";
    assert_int_equal(nb_fhir_read(doc, hist, strlen(hist), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    assert_false(nb_fhir_doc_resource(doc)->bundle->notification.present);
    /* a bad focus reference is refused with its path */
    refused(doc,
            "{\"resourceType\":\"Bundle\",\"type\":\"history\",\"entry\":[{\"resource\":{"
            "\"resourceType\":\"SubscriptionStatus\",\"notificationEvent\":[{\"focus\":\"x\"}]}}]}",
            NB_ERR_FHIR_INVALID, "Bundle.entry[0].resource.notificationEvent[0].focus[0]", NULL);
}

static void test_unresolved_and_nested(void **state)
{
    nb_fhir_doc_t *doc = *state;
    /* a reference to a contained Practitioner, one to nothing, and a Bundle in a Bundle */
    const char *j =
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{"
        "\"resourceType\":\"Appointment\",\"status\":\"booked\",\"contained\":[{\"resourceType\":"
        "\"Practitioner\",\"id\":\"pr\"}],\"participant\":[{\"actor\":{\"reference\":\"#pr\"}},"
        "{\"actor\":{\"reference\":\"#nothing\"}},{\"actor\":{\"reference\":\"urn:uuid:none\"}}]}},"
        "{\"resource\":{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{"
        "\"resource\":{\"resourceType\":\"Appointment\"}}]}}]}";
    assert_int_equal(nb_fhir_read(doc, j, strlen(j), NB_FHIR_AUTO, NULL, 0), NB_ERR_OK);
    const nb_fhir_bundle_t *b = nb_fhir_doc_resource(doc)->bundle;
    const nb_fhir_appointment_t *a = b->entries[0].resource.appointment;
    assert_int_equal(a->participants[0].actor.kind, NB_FHIR_KIND_PRACTITIONER);
    assert_int_equal(a->participants[1].actor.kind, NB_FHIR_KIND_UNKNOWN);
    assert_int_equal(a->participants[2].actor.kind, NB_FHIR_KIND_UNKNOWN);
    assert_null(a->patient);
    assert_int_equal(b->entries[1].resource.rtype, NB_FHIR_OTHER);
    assert_string_equal(b->entries[1].resource.resource_type, "Bundle");
    /* a contained Patient that is not valid is refused with the path of where it is */
    refused(doc,
            "{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"contained\":[{"
            "\"resourceType\":\"Slot\"},{\"resourceType\":\"Patient\",\"id\":\"p\",\"birthDate\":"
            "\"2021-02-30\"}],\"participant\":[{\"actor\":{\"reference\":\"#p\"}}]}",
            NB_ERR_FHIR_TIMESTAMP, "Appointment.contained[1].birthDate", "2021");
}

static void test_operation_outcome(void **state)
{
    (void)state;
    nb_fhir_issue_t is[2] = {{"error", "invalid",
                              "not valid: \x01\x7f"
                              "caf\xc3\xa9 \xff",
                              "Appointment.participant[1]"},
                             {"warning", nb_fhir_issue_code(NB_ERR_LIMIT), NULL, NULL}};
    nb_buf_t b = {0};
    assert_int_equal(nb_fhir_outcome_write(is, 2, NB_FHIR_JSON, &b), NB_ERR_OK);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "resourceType")), "OperationOutcome");
    json_t *i0 = json_array_get(json_object_get(j, "issue"), 0);
    assert_string_equal(json_string_value(json_object_get(i0, "severity")), "error");
    assert_string_equal(json_string_value(json_object_get(i0, "code")), "invalid");
    assert_string_equal(json_string_value(json_object_get(i0, "diagnostics")),
                        "not valid: caf\xc3\xa9 ");
    assert_string_equal(json_string_value(json_array_get(json_object_get(i0, "expression"), 0)),
                        "Appointment.participant[1]");
    json_t *i1 = json_array_get(json_object_get(j, "issue"), 1);
    assert_string_equal(json_string_value(json_object_get(i1, "code")), "too-costly");
    assert_null(json_object_get(i1, "expression"));
    json_decref(j);
    nb_buf_free(&b);

    assert_int_equal(nb_fhir_outcome_write(is, 2, NB_FHIR_XML, &b), NB_ERR_OK);
    xmlDocPtr x = xmlReadMemory((const char *)b.data, (int)b.len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR);
    assert_non_null(x);
    xmlNodePtr root = xmlDocGetRootElement(x);
    assert_string_equal((const char *)root->name, "OperationOutcome");
    assert_string_equal((const char *)root->ns->href, "http://hl7.org/fhir");
    xmlFreeDoc(x);
    /* and it reads as FHIR: the issue's elements are in the namespace (the buffer holds no
     * terminating NUL: a string copy to search) */
    char *text = malloc(b.len + 1);
    assert_non_null(text);
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    assert_non_null(strstr(text, "<expression value=\"Appointment.participant[1]\"/>"));
    assert_non_null(strstr(text, "<code value=\"too-costly\"/>"));
    free(text);
    nb_buf_free(&b);

    nb_fhir_issue_t bad = {NULL, "invalid", NULL, NULL};
    assert_int_equal(nb_fhir_outcome_write(&bad, 1, NB_FHIR_JSON, &b), NB_ERR_INVALID_ARG);
    assert_int_equal(nb_fhir_outcome_write(is, 0, NB_FHIR_JSON, &b), NB_ERR_INVALID_ARG);
    assert_int_equal(nb_fhir_outcome_write(is, 1, NB_FHIR_AUTO, &b), NB_ERR_INVALID_ARG);
    assert_string_equal(nb_fhir_issue_code(NB_ERR_FHIR_UNSUPPORTED), "not-supported");
    assert_string_equal(nb_fhir_issue_code(NB_ERR_FHIR_SYNTAX), "structure");
    assert_string_equal(nb_fhir_issue_code(NB_ERR_FHIR_TIMESTAMP), "value");
    assert_string_equal(nb_fhir_issue_code(NB_ERR_NOMEM), "exception");
    nb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unresolved_and_nested, setup, teardown),
        cmocka_unit_test(test_operation_outcome),
    };
    return cmocka_run_group_tests_name("fhir_bundle", tests, NULL, NULL);
}
