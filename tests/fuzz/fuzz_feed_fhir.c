/*
 * libFuzzer harness: the FHIR reader and the feed module's FHIR mapper over arbitrary bytes
 * (JSON or XML, by the first byte), with a mapping written here that uses every key of the
 * fhir section. The resource read, or each Appointment and Encounter of a Bundle read, is
 * mapped, and the result keeps the promises of include/notbrought/feed.h:
 *   - the return value is out->err, and OK exactly when mapped or ignored;
 *   - mapped: one appointment event, ACK AA, an id "fhir-" and 32 hex digits, enumerations in
 *     range, the appointment id and local id valid identifier text, an NHS number that passes
 *     nb_nhs_validate(), a child with an NHS number or a local id, no no-show on a home visit;
 *   - ignored: no records, an expression; refused: a code, a text that starts with the
 *     expression, an IssueType; texts and paths hold no control character;
 *   - the same resource mapped again gives the same outcome, code and event id.
 *
 * Its seeds (corpus/feed_fhir) are JSON and XML; the readers' seeds can be added by hand:
 *   ./fuzz_feed_fhir /tmp/scratch-corpus tests/fuzz/corpus/feed_fhir tests/fuzz/corpus/fhir_xml
 *
 * Each abort() is a broken promise, not a refused input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/feed.h"
#include "notbrought/fhir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char mapping[] =
    "format: notbrought-mapping/1\n"
    "name: fuzz-fhir\n"
    "source: {agency: health_visiting, system: Fuzz, organisation_code: F0003}\n"
    "fhir:\n"
    "  resources: [Appointment, Encounter]\n"
    "  appointment_id: [urn:fuzz:appt, id]\n"
    "  recorded_at: received\n"
    "  patient:\n"
    "    nhs_number_systems: [https://fhir.nhs.uk/Id/nhs-number]\n"
    "    local_id: {systems: [urn:fuzz:mrn], reference_system: urn:fuzz:patient}\n"
    "  status: {map: {attended: [completed]}, default: refuse}\n"
    "  encounter_status: {map: {booked: [unknown]}}\n"
    "  cancel_reason: {map: {was_not_brought: [noshow]}, default: cancelled_by_provider}\n"
    "  appointment_type:\n"
    "    from: [appointmentType, serviceType, serviceCategory, specialty, class, type]\n"
    "    map: {new_birth_visit: [NBV, \"http://snomed.info/sct|1234\"]}\n"
    "    default: baby_clinic\n"
    "  contact_mode: {from: [appointmentType, class], map: {home_visit: [HH, NBV]},\n"
    "                 default: face_to_face}\n"
    "  mandated: [new_birth_visit]\n"
    "  encounter_without_appointment: own_id\n";

static nb_feed_mapping_t *map;
static nb_feed_out_t *out;
static nb_fhir_doc_t *doc;

static void setup(void)
{
    if (nb_feed_mapping_load_buffer("fuzz.yaml", mapping, strlen(mapping), NULL, NULL, &map, NULL,
                                    0) != NB_ERR_OK ||
        !(out = nb_feed_out_new()) || !(doc = nb_fhir_doc_new(NULL)))
        abort();
}

static void text_ok(const char *s, nb_text_class_t cls)
{
    if (nb_text_check(s, strlen(s), cls) != NB_TEXT_OK)
        abort();
}

static void no_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            abort();
}

static void check_appt(const nb_appointment_event_t *ev)
{
    if (strncmp(ev->event_id, "fhir-", 5) != 0 || strlen(ev->event_id) != 37 ||
        strspn(ev->event_id + 5, "0123456789abcdef") != 32)
        abort();
    if ((unsigned)ev->status >= NB_STATUS__COUNT ||
        (unsigned)ev->contact_mode >= NB_CONTACT__COUNT || ev->subject_kind != NB_SUBJECT_CHILD ||
        ev->version != 1 || !ev->appointment_id[0])
        abort();
    text_ok(ev->appointment_id, NB_TEXT_ID);
    text_ok(ev->local_id.value, NB_TEXT_ID);
    if (ev->nhs_number[0] && nb_nhs_validate(ev->nhs_number) != NB_ERR_OK)
        abort();
    if (!ev->nhs_number[0] && !ev->local_id.value[0])
        abort();
    if (ev->status == NB_STATUS_WAS_NOT_BROUGHT && ev->contact_mode == NB_CONTACT_HOME_VISIT)
        abort();
    if (ev->recorded_at == 0)
        abort();
}

static void check(nb_err_t err)
{
    if (err != out->err)
        abort();
    no_controls(out->text);
    no_controls(out->expression);
    switch (out->outcome) {
    case NB_FEED_MAPPED:
        if (err || out->ack != NB_HL7_AA || out->n_records != 1 ||
            out->records[0].type != NB_RECORD_APPOINTMENT)
            abort();
        check_appt(&out->records[0].u.appt);
        break;
    case NB_FEED_IGNORED:
        if (err || out->n_records || !out->expression[0])
            abort();
        break;
    case NB_FEED_REFUSED:
        if (!err || out->n_records || !out->code[0] || !out->issue_code[0] ||
            strncmp(out->text, out->expression, strlen(out->expression)) != 0)
            abort();
        break;
    default:
        abort();
    }
}

static void map_one(const nb_fhir_resource_t *res, const char *where)
{
    nb_err_t err = nb_feed_fhir(map, res, where, 1767225600000LL, out);
    check(err);
    nb_feed_outcome_t outcome = out->outcome;
    char code[NB_FEED_CODE_MAX], id[NB_ID_MAX + 1] = "";
    memcpy(code, out->code, sizeof(code));
    if (outcome == NB_FEED_MAPPED)
        memcpy(id, out->records[0].u.appt.event_id, sizeof(id));
    if (nb_feed_fhir(map, res, where, 1767225600000LL, out) != err || out->outcome != outcome ||
        strcmp(out->code, code) != 0 ||
        (outcome == NB_FEED_MAPPED && strcmp(out->records[0].u.appt.event_id, id) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256], where[64];
    if (!map)
        setup();
    if (nb_fhir_read(doc, (const char *)data, size, NB_FHIR_AUTO, errstr, sizeof(errstr)) !=
        NB_ERR_OK)
        return 0;
    const nb_fhir_resource_t *res = nb_fhir_doc_resource(doc);
    if (!res->bundle) {
        map_one(res, NULL);
        return 0;
    }
    for (size_t i = 0; i < res->bundle->n_entries; i++) {
        snprintf(where, sizeof(where), "Bundle.entry[%zu].resource", i);
        map_one(&res->bundle->entries[i].resource, where);
    }
    return 0;
}
