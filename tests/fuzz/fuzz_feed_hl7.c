/*
 * libFuzzer harness: the feed module's HL7 v2 mapper over arbitrary bytes, with two mappings
 * written here (a child's feed with every kind of key, and a maternity feed whose subjects are
 * pregnancies). Whatever the bytes, the result keeps the promises of include/notbrought/feed.h:
 *   - the return value is out->err, and OK exactly when the message was mapped or ignored;
 *   - mapped: 1 to NB_FEED_MAX_RECORDS records, ACK AA, an event id "hl7-" and 32 hex digits,
 *     enumerations in range, identifiers and the appointment id valid identifier text, an NHS
 *     number that passes nb_nhs_validate(), an unborn subject with a pregnant person and an
 *     EDD and no NHS number;
 *   - ignored: ACK AA, no records; refused: ACK AE or AR, no records, a code and a text;
 *   - texts and MSH values for the ACK hold no control character;
 *   - the same bytes again give the same outcome, code and event id (ids are deterministic).
 *
 *   ./fuzz_feed_hl7 /tmp/scratch-corpus tests/fuzz/corpus/feed_hl7
 *
 * Each abort() is a broken promise, not a refused input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char child_mapping[] =
    "format: notbrought-mapping/1\n"
    "name: fuzz-child\n"
    "source: {agency: health_visiting, system: Fuzz, organisation_code: F0001}\n"
    "hl7v2:\n"
    "  messages: {SIU^S12: booked, SIU^S13: booked, SIU^S14: status, SIU^S15: cancelled,\n"
    "             SIU^S17: entered_in_error, SIU^S26: was_not_brought, ADT^A05: booked,\n"
    "             ADT^A38: cancelled}\n"
    "  ignore: [ADT^A08]\n"
    "  appointment_id: [SCH-2.1, SCH-1.1, PV1-19]\n"
    "  scheduled_start: [SCH-11.4, TQ1-7, PV2-8]\n"
    "  status:\n"
    "    field: SCH-25\n"
    "    map: {booked: [Booked], attended: [Complete], was_not_brought: [Noshow],\n"
    "          cancelled: [Cancelled]}\n"
    "  cancel_reason: {field: SCH-6.1, map: {cancelled_by_patient: [PAT],\n"
    "                  was_not_brought: [NOSHOW]}, default: cancelled_by_provider}\n"
    "  outcome: {field: ZU3-3, map: {attended: ['5'], was_not_brought: ['3'], none: [NS]}}\n"
    "  patient:\n"
    "    nhs_number: {field: [PID-3, PID-2], assigning_authority: [NHS], identifier_type: [NH]}\n"
    "    local_id: {field: PID-3, identifier_type: [MR], system: urn:fuzz}\n"
    "    date_of_birth: PID-7\n"
    "    family_name: PID-5.1\n"
    "    postcode: PID-11.5\n"
    "  appointment_type: {field: [AIS-3, SCH-8], map: {new_birth_visit: [NBV]},\n"
    "                     default: baby_clinic}\n"
    "  contact_mode: {field: AIL-3.1, map: {home_visit: [HOME]}, default: face_to_face}\n"
    "  mandated: [new_birth_visit]\n"
    "  identity_links: {local_to_nhs: true}\n";

static const char unborn_mapping[] =
    "format: notbrought-mapping/1\n"
    "name: fuzz-unborn\n"
    "source: {agency: midwifery, system: Fuzz, organisation_code: F0002}\n"
    "time_zone: Europe/London\n"
    "hl7v2:\n"
    "  messages: {SIU^S12: booked, SIU^S14: status, SIU^S26: was_not_brought}\n"
    "  appointment_id: SCH-1\n"
    "  scheduled_start: SCH-11.4\n"
    "  recorded_at: MSH-7\n"
    "  status: {field: SCH-25, map: {booked: [Booked]}, default: attended}\n"
    "  patient:\n"
    "    nhs_number: {field: PID-3, identifier_type: [NH]}\n"
    "    local_id: {field: PID-3, system: urn:fuzz:mat}\n"
    "  unborn: {when: {field: ZPR-1, values: [AN]}, expected_delivery_date: ZPR-3}\n"
    "  appointment_type: {field: SCH-8, map: {dating_scan: [DS]}, default: refuse}\n";

static nb_feed_mapping_t *maps[2];
static nb_feed_out_t *outs[2];

static void setup(void)
{
    const char *texts[2] = {child_mapping, unborn_mapping};
    for (int i = 0; i < 2; i++) {
        if (nb_feed_mapping_load_buffer("fuzz.yaml", texts[i], strlen(texts[i]), NULL, NULL,
                                        &maps[i], NULL, 0) != NB_ERR_OK)
            abort();
        if (!(outs[i] = nb_feed_out_new()))
            abort();
    }
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
    if (strncmp(ev->event_id, "hl7-", 4) != 0 || strlen(ev->event_id) != 36 ||
        strspn(ev->event_id + 4, "0123456789abcdef") != 32)
        abort();
    if ((unsigned)ev->status >= NB_STATUS__COUNT ||
        (unsigned)ev->contact_mode >= NB_CONTACT__COUNT ||
        (unsigned)ev->subject_kind >= NB_SUBJECT__COUNT || ev->version != 1 ||
        !ev->appointment_id[0])
        abort();
    text_ok(ev->appointment_id, NB_TEXT_ID);
    text_ok(ev->local_id.value, NB_TEXT_ID);
    text_ok(ev->family_name, NB_TEXT_NAME);
    text_ok(ev->postcode, NB_TEXT_ID);
    if (ev->nhs_number[0] && nb_nhs_validate(ev->nhs_number) != NB_ERR_OK)
        abort();
    if (ev->subject_kind == NB_SUBJECT_UNBORN &&
        (ev->nhs_number[0] || !ev->pregnant_person_id.value[0] ||
         ev->expected_delivery_date == NB_DATE_NONE))
        abort();
    if (ev->subject_kind == NB_SUBJECT_CHILD && !ev->nhs_number[0] && !ev->local_id.value[0])
        abort();
    if (ev->status == NB_STATUS_WAS_NOT_BROUGHT && ev->contact_mode == NB_CONTACT_HOME_VISIT)
        abort(); /* a no-show on a home visit is no_access_visit */
}

static void check(const nb_feed_out_t *out, nb_err_t err)
{
    if (err != out->err)
        abort();
    no_controls(out->text);
    no_controls(out->control_id);
    no_controls(out->sending_app);
    no_controls(out->sending_facility);
    switch (out->outcome) {
    case NB_FEED_MAPPED:
        if (err || out->ack != NB_HL7_AA || out->n_records < 1 ||
            out->n_records > NB_FEED_MAX_RECORDS || out->records[0].type != NB_RECORD_APPOINTMENT)
            abort();
        check_appt(&out->records[0].u.appt);
        for (size_t i = 1; i < out->n_records; i++)
            if (out->records[i].type != NB_RECORD_IDENTITY_LINK ||
                nb_nhs_validate(out->records[i].u.link.to.value) != NB_ERR_OK)
                abort();
        break;
    case NB_FEED_IGNORED:
        if (err || out->ack != NB_HL7_AA || out->n_records)
            abort();
        break;
    case NB_FEED_REFUSED:
        if (!err || out->ack == NB_HL7_AA || out->n_records || !out->code[0] || !out->text[0])
            abort();
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!maps[0])
        setup();
    for (int i = 0; i < 2; i++) {
        nb_feed_out_t *out = outs[i];
        nb_err_t err = nb_feed_hl7(maps[i], (const char *)data, size, out);
        check(out, err);
        nb_feed_outcome_t outcome = out->outcome;
        char code[NB_FEED_CODE_MAX], id[NB_ID_MAX + 1] = "";
        memcpy(code, out->code, sizeof(code));
        if (outcome == NB_FEED_MAPPED)
            memcpy(id, out->records[0].u.appt.event_id, sizeof(id));
        if (nb_feed_hl7(maps[i], (const char *)data, size, out) != err || out->outcome != outcome ||
            strcmp(out->code, code) != 0 ||
            (outcome == NB_FEED_MAPPED && strcmp(out->records[0].u.appt.event_id, id) != 0))
            abort();
    }
    return 0;
}
