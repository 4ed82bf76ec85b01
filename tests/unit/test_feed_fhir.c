/*
 * unit.feed_fhir: the feed module's FHIR R4 mapper on made-up resources: the fhir section of a
 * mapping loaded and refused with file:line:column, the status and cancellation tables of
 * docs/schemas.md, the child's identifiers (a Modulus 11 failure refused with the path and
 * never the number), Encounters with and without an appointment, event ids and recording
 * times, and JSON and XML mapping alike.
 *
 * Every resource here is made up; NHS numbers are from the 999 test range. The third-party
 * samples are test_feed_fhir_realdata.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/feed.h"
#include "notbrought/fhir.h"

#define NHS_OK "9990010005"
#define NHS_BAD "9990010006" /* fails Modulus 11 */

static const char mapping_yaml[] =
    "format: notbrought-mapping/1\n"
    "name: test-fhir\n"
    "source: {agency: health_visiting, system: Test Community, organisation_code: X00002}\n"
    "fhir:\n"
    "  appointment_id: [https://example.org/appt, id]\n"
    "  patient:\n"
    "    local_id: {systems: [https://example.org/mrn], reference_system: "
    "https://example.org/Patient}\n"
    "  appointment_type:\n"
    "    from: [appointmentType, serviceType, type]\n"
    "    map:\n"
    "      new_birth_visit: [NBV, \"http://snomed.info/sct|1234\"]\n"
    "      review_2_year: [R2Y]\n"
    "    default: refuse\n"
    "  contact_mode:\n"
    "    from: [appointmentType, class]\n"
    "    map: {home_visit: [NBV, HH], video: [VR]}\n"
    "    default: face_to_face\n"
    "  mandated: [new_birth_visit]\n";

static nb_feed_mapping_t *load(const char *yaml, char *err, size_t cap)
{
    nb_feed_mapping_t *m = NULL;
    nb_err_t e =
        nb_feed_mapping_load_buffer("t.yaml", yaml, strlen(yaml), NULL, NULL, &m, err, cap);
    if (e)
        return NULL;
    return m;
}

typedef struct fx_s {
    nb_feed_mapping_t *m;
    nb_fhir_doc_t *doc;
    nb_feed_out_t *out;
} fx_t;

static int setup(void **state)
{
    char err[512];
    fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->m = load(mapping_yaml, err, sizeof(err));
    if (!fx->m)
        fail_msg("%s", err);
    assert_non_null(fx->doc = nb_fhir_doc_new(NULL));
    assert_non_null(fx->out = nb_feed_out_new());
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    nb_feed_mapping_free(fx->m);
    nb_fhir_doc_destroy(fx->doc);
    nb_feed_out_destroy(fx->out);
    free(fx);
    return 0;
}

/* Reads @p doc and maps it; @returns the outcome. */
static nb_feed_outcome_t map(fx_t *fx, const char *doc, int64_t received_ms)
{
    char err[256];
    nb_err_t e = nb_fhir_read(fx->doc, doc, strlen(doc), NB_FHIR_AUTO, err, sizeof(err));
    if (e)
        fail_msg("read: %s", err);
    NB_IGNORE(nb_feed_fhir(fx->m, nb_fhir_doc_resource(fx->doc), NULL, received_ms,
                           fx->out)); /* the outcome is in out */
    return fx->out->outcome;
}

/* An Appointment with a contained Patient; fields filled with printf. */
static char *appt(const char *status, const char *extra, const char *nhs, const char *meta)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf),
             "{\"resourceType\":\"Appointment\",\"id\":\"a1\",%s"
             "\"contained\":[{\"resourceType\":\"Patient\",\"id\":\"p\",\"identifier\":["
             "{\"system\":\"https://example.org/mrn\",\"value\":\"MRN42\"},"
             "{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"%s\"}],"
             "\"birthDate\":\"2024-02-29\"}],"
             "\"status\":\"%s\",%s"
             "\"appointmentType\":{\"coding\":[{\"code\":\"R2Y\"}]},"
             "\"start\":\"2026-03-02T10:30:00+00:00\","
             "\"participant\":[{\"actor\":{\"reference\":\"Practitioner/x\"},\"status\":"
             "\"accepted\"},{\"actor\":{\"reference\":\"#p\"},\"status\":\"accepted\"}]}",
             meta, nhs, status, extra);
    return buf;
}

#define META "\"meta\":{\"versionId\":\"3\",\"lastUpdated\":\"2026-03-01T09:00:00Z\"},"

static void test_booked_appointment(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(map(fx, appt("booked", "", NHS_OK, META), 0), NB_FEED_MAPPED);
    nb_feed_out_t *out = fx->out;
    assert_int_equal(out->n_records, 1);
    const nb_appointment_event_t *ev = &out->records[0].u.appt;
    assert_int_equal(ev->status, NB_STATUS_BOOKED);
    assert_string_equal(ev->appointment_id, "a1");
    assert_string_equal(ev->nhs_number, NHS_OK);
    assert_string_equal(ev->local_id.system, "https://example.org/mrn");
    assert_string_equal(ev->local_id.value, "MRN42");
    assert_string_equal(ev->appointment_type, "review_2_year");
    assert_false(ev->mandated_contact);
    assert_int_equal(ev->contact_mode, NB_CONTACT_FACE_TO_FACE);
    assert_int_equal(ev->scheduled_start, 1772447400000LL); /* 2026-03-02T10:30Z */
    assert_int_equal(ev->recorded_at, 1772355600000LL);     /* 2026-03-01T09:00Z */
    assert_int_equal(ev->date_of_birth, 19782);             /* 2024-02-29 */
    assert_int_equal(ev->version, 1);
    assert_string_equal(ev->source.organisation_code, "X00002");
    assert_int_equal(strncmp(ev->event_id, "fhir-", 5), 0);
    assert_int_equal(strlen(ev->event_id), 37);
    char id1[NB_ID_MAX + 1];
    strcpy(id1, ev->event_id);
    /* The same version again: the same id; another version: another. */
    assert_int_equal(map(fx, appt("booked", "", NHS_OK, META), 0), NB_FEED_MAPPED);
    assert_string_equal(out->records[0].u.appt.event_id, id1);
    assert_int_equal(map(fx,
                         appt("booked", "", NHS_OK,
                              "\"meta\":{\"versionId\":\"4\",\"lastUpdated\":"
                              "\"2026-03-01T09:00:00Z\"},"),
                         0),
                     NB_FEED_MAPPED);
    assert_string_not_equal(out->records[0].u.appt.event_id, id1);
}

static void test_statuses(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *status, *extra;
        nb_status_t want;
    } cases[] = {
        {"proposed", "", NB_STATUS_BOOKED},
        {"arrived", "", NB_STATUS_ATTENDED},
        {"fulfilled", "", NB_STATUS_ATTENDED},
        {"noshow", "", NB_STATUS_WAS_NOT_BROUGHT},
        {"entered-in-error", "", NB_STATUS_ENTERED_IN_ERROR},
        {"cancelled", "\"cancelationReason\":{\"coding\":[{\"code\":\"pat-crs\"}]},",
         NB_STATUS_CANCELLED_BY_PATIENT},
        {"cancelled", "\"cancelationReason\":{\"coding\":[{\"code\":\"prov\"}]},",
         NB_STATUS_CANCELLED_BY_PROVIDER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(map(fx, appt(cases[i].status, cases[i].extra, NHS_OK, META), 0),
                         NB_FEED_MAPPED);
        assert_int_equal(fx->out->records[0].u.appt.status, cases[i].want);
    }
    /* Refusals: an unknown status, a cancellation without a reason, an unknown reason. */
    assert_int_equal(map(fx, appt("tentative", "", NHS_OK, META), 0), NB_FEED_REFUSED);
    assert_string_equal(fx->out->code, "status_unmapped");
    assert_string_equal(fx->out->expression, "Appointment.status");
    assert_string_equal(fx->out->issue_code, "code-invalid");
    assert_int_equal(map(fx, appt("cancelled", "", NHS_OK, META), 0), NB_FEED_REFUSED);
    assert_string_equal(fx->out->code, "reason_missing");
    assert_int_equal(
        map(fx,
            appt("cancelled", "\"cancelationReason\":{\"coding\":[{\"code\":\"zzz\"}]},", NHS_OK,
                 META),
            0),
        NB_FEED_REFUSED);
    assert_string_equal(fx->out->code, "reason_unmapped");
    assert_string_equal(fx->out->expression, "Appointment.cancelationReason");
}

/* A no-show on a home visit is no_access_visit; the new birth visit is mandated. */
static void test_home_visit_noshow(void **state)
{
    fx_t *fx = *state;
    char *doc = appt("noshow", "", NHS_OK, META);
    char *p = strstr(doc, "R2Y");
    memcpy(p, "NBV", 3);
    assert_int_equal(map(fx, doc, 0), NB_FEED_MAPPED);
    const nb_appointment_event_t *ev = &fx->out->records[0].u.appt;
    assert_int_equal(ev->status, NB_STATUS_NO_ACCESS_VISIT);
    assert_int_equal(ev->contact_mode, NB_CONTACT_HOME_VISIT);
    assert_string_equal(ev->appointment_type, "new_birth_visit");
    assert_true(ev->mandated_contact);
}

static void test_nhs_number_refused(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(map(fx, appt("booked", "", NHS_BAD, META), 0), NB_FEED_REFUSED);
    nb_feed_out_t *out = fx->out;
    assert_string_equal(out->code, "nhs_check_digit");
    assert_int_equal(out->err, NB_ERR_NHS_CHECK_DIGIT);
    assert_string_equal(out->expression,
                        "Appointment.participant[1].actor.resolve().identifier[1]");
    assert_string_equal(out->text, "Appointment.participant[1].actor.resolve().identifier[1]: NHS "
                                   "number fails the Modulus 11 check");
    assert_null(strstr(out->text, NHS_BAD));
    assert_int_equal(map(fx, appt("booked", "", "12345", META), 0), NB_FEED_REFUSED);
    assert_string_equal(out->code, "nhs_format");
    /* A placeholder is "not known": the local identifier is used. */
    assert_int_equal(map(fx, appt("booked", "", "9999999999", META), 0), NB_FEED_MAPPED);
    assert_string_equal(out->records[0].u.appt.nhs_number, "");
    assert_string_equal(out->records[0].u.appt.local_id.value, "MRN42");
}

static void test_recorded_at(void **state)
{
    fx_t *fx = *state;
    /* No meta.lastUpdated: refused, unless the mapping says received. */
    assert_int_equal(map(fx, appt("booked", "", NHS_OK, ""), 5000), NB_FEED_REFUSED);
    assert_string_equal(fx->out->code, "recorded_at_missing");
    assert_string_equal(fx->out->expression, "Appointment.meta.lastUpdated");
    char yaml[sizeof(mapping_yaml) + 64], err[512];
    snprintf(yaml, sizeof(yaml), "%s  recorded_at: received\n", mapping_yaml);
    nb_feed_mapping_t *m2 = load(yaml, err, sizeof(err));
    if (!m2)
        fail_msg("%s", err);
    nb_feed_mapping_t *m1 = fx->m;
    fx->m = m2;
    assert_int_equal(map(fx, appt("booked", "", NHS_OK, ""), 5000), NB_FEED_MAPPED);
    assert_int_equal(fx->out->records[0].u.appt.recorded_at, 5000);
    /* Without a versionId the id is over the content: the same again, the same id. */
    char id1[NB_ID_MAX + 1];
    strcpy(id1, fx->out->records[0].u.appt.event_id);
    assert_int_equal(map(fx, appt("booked", "", NHS_OK, ""), 5000), NB_FEED_MAPPED);
    assert_string_equal(fx->out->records[0].u.appt.event_id, id1);
    assert_int_equal(map(fx, appt("noshow", "", NHS_OK, ""), 5000), NB_FEED_MAPPED);
    assert_string_not_equal(fx->out->records[0].u.appt.event_id, id1);
    fx->m = m1;
    nb_feed_mapping_free(m2);
}

static const char enc_json[] =
    "{\"resourceType\":\"Encounter\",\"id\":\"e1\","
    "\"meta\":{\"lastUpdated\":\"2026-03-02T12:00:00Z\"},\"status\":\"%s\","
    "\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"HH\"},"
    "\"type\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"1234\"}]}],"
    "\"subject\":{\"reference\":\"Patient/77\"},%s"
    "\"period\":{\"start\":\"2026-03-02T11:00:00+00:00\"}}";

static nb_feed_outcome_t map_enc(fx_t *fx, const char *status, const char *appt_ref)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), enc_json, status, appt_ref);
    return map(fx, buf, 0);
}

static void test_encounter(void **state)
{
    fx_t *fx = *state;
    nb_feed_out_t *out = fx->out;
    assert_int_equal(
        map_enc(fx, "finished", "\"appointment\":[{\"reference\":\"Appointment/a9\"}],"),
        NB_FEED_MAPPED);
    const nb_appointment_event_t *ev = &out->records[0].u.appt;
    assert_int_equal(ev->status, NB_STATUS_ATTENDED);
    assert_string_equal(ev->appointment_id, "a9");
    assert_int_equal(ev->contact_mode, NB_CONTACT_HOME_VISIT);
    assert_string_equal(ev->appointment_type, "new_birth_visit");
    assert_string_equal(ev->local_id.system, "https://example.org/Patient");
    assert_string_equal(ev->local_id.value, "77");
    assert_int_equal(
        map_enc(fx, "entered-in-error", "\"appointment\":[{\"reference\":\"Appointment/a9\"}],"),
        NB_FEED_MAPPED);
    assert_int_equal(out->records[0].u.appt.status, NB_STATUS_ENTERED_IN_ERROR);
    /* Cancelled: Encounters carry no reason, and this mapping has no default. */
    assert_int_equal(
        map_enc(fx, "cancelled", "\"appointment\":[{\"reference\":\"Appointment/a9\"}],"),
        NB_FEED_REFUSED);
    assert_string_equal(out->code, "reason_missing");
    /* Without an appointment: ignored (nothing published), with the path. */
    assert_int_equal(map_enc(fx, "finished", ""), NB_FEED_IGNORED);
    assert_int_equal(out->err, NB_ERR_OK);
    assert_int_equal(out->n_records, 0);
    assert_string_equal(out->expression, "Encounter.appointment");
}

static void test_encounter_own_id(void **state)
{
    fx_t *fx = *state;
    char yaml[sizeof(mapping_yaml) + 64], err[512];
    snprintf(yaml, sizeof(yaml), "%s  encounter_without_appointment: own_id\n", mapping_yaml);
    nb_feed_mapping_t *m2 = load(yaml, err, sizeof(err)), *m1 = fx->m;
    if (!m2)
        fail_msg("%s", err);
    fx->m = m2;
    assert_int_equal(map_enc(fx, "finished", ""), NB_FEED_MAPPED);
    assert_string_equal(fx->out->records[0].u.appt.appointment_id, "Encounter/e1");
    fx->m = m1;
    nb_feed_mapping_free(m2);
}

static const char appt_xml[] =
    "<Appointment xmlns=\"http://hl7.org/fhir\"><id value=\"a1\"/>"
    "<meta><versionId value=\"3\"/><lastUpdated value=\"2026-03-01T09:00:00Z\"/></meta>"
    "<contained><Patient><id value=\"p\"/><identifier><system value=\"https://example.org/mrn\"/>"
    "<value value=\"MRN42\"/></identifier><identifier><system "
    "value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value value=\"" NHS_OK "\"/></identifier>"
    "<birthDate value=\"2024-02-29\"/></Patient></contained>"
    "<status value=\"booked\"/><appointmentType><coding><code value=\"R2Y\"/></coding>"
    "</appointmentType><start value=\"2026-03-02T10:30:00+00:00\"/>"
    "<participant><actor><reference value=\"Practitioner/x\"/></actor><status "
    "value=\"accepted\"/></participant><participant><actor><reference value=\"#p\"/></actor>"
    "<status value=\"accepted\"/></participant></Appointment>";

static void test_xml_maps_as_json(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(map(fx, appt("booked", "", NHS_OK, META), 0), NB_FEED_MAPPED);
    nb_appointment_event_t a = fx->out->records[0].u.appt;
    assert_int_equal(map(fx, appt_xml, 0), NB_FEED_MAPPED);
    assert_memory_equal(&a, &fx->out->records[0].u.appt, sizeof(a));
}

static void test_other_resources(void **state)
{
    fx_t *fx = *state;
    const char *patient = "{\"resourceType\":\"Patient\",\"id\":\"p\"}";
    assert_int_equal(map(fx, patient, 0), NB_FEED_IGNORED);
    /* No Patient participant. */
    const char *nopat = "{\"resourceType\":\"Appointment\",\"id\":\"a\",\"status\":\"booked\","
                        "\"participant\":[{\"actor\":{\"reference\":\"Location/1\"},\"status\":"
                        "\"accepted\"}]}";
    assert_int_equal(map(fx, nopat, 0), NB_FEED_REFUSED);
    assert_string_equal(fx->out->code, "missing_identifier");
    assert_string_equal(fx->out->expression, "Appointment.participant");
    /* A Patient by reference only, of another server: no identifier the mapping picks. */
    const char *ref = "{\"resourceType\":\"Appointment\",\"id\":\"a\",\"status\":\"booked\","
                      "\"participant\":[{\"actor\":{\"reference\":\"urn:uuid:1\",\"type\":"
                      "\"Patient\"},\"status\":\"accepted\"}]}";
    assert_int_equal(map(fx, ref, 0), NB_FEED_REFUSED);
    assert_string_equal(fx->out->code, "missing_identifier");
    /* A mapping without a fhir section refuses every resource. */
    char err[512];
    nb_feed_mapping_t *m2 = NULL;
    const char *hl7only = "format: notbrought-mapping/1\nname: h\n"
                          "source: {agency: gp, system: S, organisation_code: X1}\n"
                          "hl7v2:\n  messages: {SIU^S12: booked}\n  appointment_id: SCH-2\n"
                          "  scheduled_start: SCH-11.4\n  patient: {nhs_number: {field: PID-3}}\n"
                          "  appointment_type: {field: SCH-7, map: {a: [A]}, default: a}\n";
    assert_non_null(m2 = load(hl7only, err, sizeof(err)));
    assert_false(nb_feed_mapping_has_fhir(m2));
    assert_int_equal(nb_feed_fhir(m2, nb_fhir_doc_resource(fx->doc), NULL, 0, fx->out),
                     NB_ERR_FEED_UNSUPPORTED);
    nb_feed_mapping_free(m2);
}

/* identity_links: local_to_nhs publishes the link local id -> NHS number when the Patient
 * carries both, with an id that a resend gives again (with and without meta.versionId). */
static void test_identity_link(void **state)
{
    fx_t *fx = *state;
    char yaml[2048], err[512], link_id[NB_ID_MAX + 1];
    snprintf(yaml, sizeof(yaml), "%s%s", mapping_yaml,
             "  identity_links: {local_to_nhs: true, verification: pds_traced}\n");
    nb_feed_mapping_free(fx->m);
    if (!(fx->m = load(yaml, err, sizeof(err))))
        fail_msg("%s", err);
    static const char *const metas[] = {META,
                                        "\"meta\":{\"lastUpdated\":\"2026-03-01T09:00:00Z\"},"};
    for (size_t k = 0; k < 2; k++) {
        assert_int_equal(map(fx, appt("booked", "", NHS_OK, metas[k]), 0), NB_FEED_MAPPED);
        nb_feed_out_t *out = fx->out;
        assert_int_equal(out->n_records, 2);
        assert_int_equal(out->records[1].type, NB_RECORD_IDENTITY_LINK);
        const nb_identity_link_t *l = &out->records[1].u.link;
        assert_int_equal(l->kind, NB_LINK_LINK);
        assert_string_equal(l->from.system, "https://example.org/mrn");
        assert_string_equal(l->from.value, "MRN42");
        assert_string_equal(l->to.system, NB_SYSTEM_NHS_NUMBER);
        assert_string_equal(l->to.value, NHS_OK);
        assert_int_equal(l->verification, NB_VERIFICATION_PDS_TRACED);
        assert_int_equal(l->recorded_at, out->records[0].u.appt.recorded_at);
        assert_string_equal(l->source.organisation_code, "X00002");
        assert_int_equal(strncmp(l->event_id, "fhir-", 5), 0);
        assert_int_equal(strlen(l->event_id), 37);
        assert_string_not_equal(l->event_id, out->records[0].u.appt.event_id);
        strcpy(link_id, l->event_id);
        /* A resend: the same link id. */
        assert_int_equal(map(fx, appt("booked", "", NHS_OK, metas[k]), 0), NB_FEED_MAPPED);
        assert_int_equal(out->n_records, 2);
        assert_string_equal(out->records[1].u.link.event_id, link_id);
    }
    /* No NHS number (a placeholder is "not known"): the event alone. */
    assert_int_equal(map(fx, appt("booked", "", "9999999999", META), 0), NB_FEED_MAPPED);
    assert_int_equal(fx->out->n_records, 1);
    assert_int_equal(fx->out->records[0].type, NB_RECORD_APPOINTMENT);
    char buf[1024];
    nb_feed_mapping_summary(fx->m, buf, sizeof(buf));
    assert_non_null(strstr(buf, "identity links: local_to_nhs"));
}

/* Problems of the section are errors with file:line:column. */
static void test_mapping_errors(void **state)
{
    (void)state;
    static const struct {
        const char *section, *want;
    } cases[] = {
        {"  bogus: 1\n  appointment_type: {map: {a: [A]}}\n", "t.yaml:5:3: unknown key 'bogus'"},
        {"  resources: [Slot]\n  appointment_type: {map: {a: [A]}}\n",
         "t.yaml:5:15: 'Slot' is not a resource"},
        {"  status: {map: {maybe: [x]}}\n  appointment_type: {map: {a: [A]}}\n",
         "t.yaml:5:18: 'maybe' is not a name status maps to"},
        {"  appointment_type: {from: [colour], map: {a: [A]}}\n",
         "t.yaml:5:29: 'colour' is not an element"},
        {"  recorded_at: never\n  appointment_type: {map: {a: [A]}}\n",
         "t.yaml:5:16: recorded_at must be"},
        {"  patient: {local_id: {system: x}}\n  appointment_type: {map: {a: [A]}}\n",
         "t.yaml:5:23: local_id needs 'systems' or 'reference_system'"},
        {"  resources: [Appointment]\n", "t.yaml:5:3: fhir needs 'appointment_type'"},
        {"  appointment_type: {map: {a: [A]}}\n  identity_links: {local_to_nhs: true}\n",
         "t.yaml:6:19: identity_links: local_to_nhs needs patient.local_id"},
        {"  appointment_type: {map: {a: [A]}}\n  identity_links: {local_to_nhs: yes}\n",
         "t.yaml:6:34: 'local_to_nhs' must be true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[1024], err[512] = "";
        snprintf(yaml, sizeof(yaml),
                 "format: notbrought-mapping/1\nname: e\n"
                 "source: {agency: gp, system: S, organisation_code: X1}\nfhir:\n%s",
                 cases[i].section);
        nb_feed_mapping_t *m = load(yaml, err, sizeof(err));
        assert_null(m);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got '%s', want '%s...'", i, err, cases[i].want);
    }
}

static void test_summary(void **state)
{
    fx_t *fx = *state;
    char buf[1024];
    nb_feed_mapping_summary(fx->m, buf, sizeof(buf));
    assert_non_null(strstr(buf, "test-fhir: for health_visiting X00002"));
    assert_non_null(strstr(buf, "fhir: Appointment and Encounter"));
    assert_non_null(strstr(buf, "appointment types: 3 codes, unmapped refused"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_booked_appointment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_visit_noshow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nhs_number_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recorded_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encounter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encounter_own_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xml_maps_as_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_resources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_link, setup, teardown),
        cmocka_unit_test(test_mapping_errors),
        cmocka_unit_test_setup_teardown(test_summary, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
