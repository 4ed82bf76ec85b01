/*
 * notbrought - codec: the AuditRecord written straight to Avro's binary encoding, for the
 * writer schema notbrought knows (schemas/audit_record.avsc, id 9).
 *
 * The daemon writes one audit record per event received and per decision: through avro-c's
 * generic values that cost several microseconds each, a third of an event's whole cost. The
 * bytes are exactly what the generic path writes (unit.codec compares them for every kind of
 * record; interop.notifications_published has fastavro read the daemon's), in the schema's
 * field order: strings as a zigzag length and bytes, ["null", T] as the branch index then T,
 * arrays as one block and a zero, booleans as one byte.
 */
#include "codec/internal.h"

#include <string.h>

static void nb__w_long(nb_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t tmp[10];
    size_t n = 0;
    while (z >= 0x80) {
        tmp[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    nb_buf_add(b, tmp, n);
}

static void nb__w_str(nb_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    nb__w_long(b, (int64_t)n);
    nb_buf_add(b, s, n);
}

/* ["null", "string"]: "" is null. */
static void nb__w_ostr(nb_buf_t *b, const char *s)
{
    nb__w_long(b, s[0] ? 1 : 0);
    if (s[0])
        nb__w_str(b, s);
}

/* ["null", long]: NB_TIME_NONE is null. */
static void nb__w_olong(nb_buf_t *b, int64_t v)
{
    nb__w_long(b, v != NB_TIME_NONE ? 1 : 0);
    if (v != NB_TIME_NONE)
        nb__w_long(b, v);
}

static void nb__w_event(nb_buf_t *b, const nb_audit_t *a)
{
    nb__w_long(b, a->has_event ? 1 : 0);
    if (!a->has_event)
        return;
    uint8_t known = a->event.nhs_number_known ? 1 : 0;
    nb__w_str(b, a->event.event_id);
    nb__w_str(b, a->event.context ? "context" : "appointment");
    nb__w_ostr(b, a->event.appointment_id);
    nb__w_ostr(b, a->event.appointment_type);
    nb__w_str(b, a->event.status);
    nb__w_olong(b, a->event.scheduled_start);
    nb__w_olong(b, a->event.recorded_at);
    nb__w_long(b, a->event.version);
    nb__w_str(b, a->event.source_system);
    nb_buf_add(b, &known, 1);
}

static void nb__w_action(nb_buf_t *b, const nb_audit_t *a)
{
    nb__w_long(b, a->has_action ? 1 : 0);
    if (!a->has_action)
        return;
    nb__w_str(b, a->action.ack_id);
    nb__w_str(b, nb_ack_intent_name(a->action.intent));
    nb__w_long(b, a->action.acted_at);
    nb__w_ostr(b, a->action.owner_user);
    nb__w_ostr(b, a->action.owner_queue);
    nb__w_ostr(b, a->action.target_queue);
    nb__w_ostr(b, a->action.target_user);
    nb__w_ostr(b, a->action.close_action >= 0
                      ? nb_ack_action_name((nb_ack_action_t)a->action.close_action)
                      : "");
    nb__w_ostr(b, a->action.closed_by);
    nb__w_olong(b, a->action.closed_at);
}

static void nb__w_rest(nb_buf_t *b, const nb_audit_t *a)
{
    nb__w_long(b, a->has_actor ? 1 : 0);
    if (a->has_actor) {
        nb__w_str(b, a->actor.user_id);
        nb__w_ostr(b, a->actor.queue);
        nb__w_ostr(b, a->actor.via);
    }
    nb__w_long(b, a->has_delivery ? 1 : 0);
    if (a->has_delivery) {
        nb__w_str(b, a->delivery.channel);
        nb__w_str(b, a->delivery.route);
        nb__w_long(b, a->delivery.attempt);
    }
    nb__w_ostr(b, a->subject);
    nb__w_long(b, a->has_policy ? 1 : 0);
    if (a->has_policy) {
        nb__w_str(b, a->policy.name);
        nb__w_str(b, a->policy.version);
        nb__w_str(b, a->policy.hash);
    }
}

nb_err_t nb__audit_wire_encode(const nb_audit_t *a, int32_t schema_id, nb_buf_t *out, char *errstr,
                               size_t errstr_size)
{
    if ((unsigned)a->kind >= NB_AUDIT__COUNT || a->tier >= NB_TIER__COUNT ||
        a->agency >= NB_AGENCY__COUNT ||
        (a->has_action && ((unsigned)a->action.intent >= NB_ACK_INTENT__COUNT ||
                           a->action.close_action >= NB_ACK__COUNT))) {
        snprintf(errstr, errstr_size, "an audit record with a value outside its enum");
        return NB_ERR_AVRO_ENCODE;
    }
    if (a->n_evidence > NB_NOTIF_MAX_EVIDENCE || a->n_recipients > NB_NOTIF_MAX_RECIPIENTS) {
        snprintf(errstr, errstr_size, "field '%s' has too many items",
                 a->n_evidence > NB_NOTIF_MAX_EVIDENCE ? "evidence" : "recipients");
        return NB_ERR_FIELD_COUNT;
    }
    size_t start = out->len;
    uint8_t hdr[NB_FRAME_HEADER_LEN] = {NB_FRAME_MAGIC};
    nb_be_put(hdr + 1, (uint32_t)schema_id, 4);
    nb_buf_add(out, hdr, sizeof(hdr));
    nb__w_str(out, a->audit_id);
    nb__w_long(out, (int64_t)a->kind);
    nb__w_long(out, a->at);
    nb__w_str(out, a->child_key);
    nb__w_ostr(out, a->notification_id);
    nb__w_ostr(out, a->reference);
    nb__w_ostr(out, a->rule_id);
    nb__w_ostr(out, a->tier >= 0 ? nb_tier_name((nb_tier_t)a->tier) : "");
    nb__w_long(out, a->level);
    nb__w_ostr(out, a->agency >= 0 ? nb_agency_name((nb_agency_t)a->agency) : "");
    nb__w_ostr(out, a->organisation);
    if (a->n_evidence) {
        nb__w_long(out, (int64_t)a->n_evidence);
        for (size_t i = 0; i < a->n_evidence; i++)
            nb__w_str(out, a->evidence[i]);
    }
    nb__w_long(out, 0);
    if (a->n_recipients) {
        nb__w_long(out, (int64_t)a->n_recipients);
        for (size_t i = 0; i < a->n_recipients; i++) {
            nb__w_str(out, a->recipients[i].role);
            nb__w_str(out, a->recipients[i].route);
        }
    }
    nb__w_long(out, 0);
    nb__w_olong(out, a->respond_by);
    nb__w_ostr(out, a->reason);
    nb__w_event(out, a);
    nb__w_action(out, a);
    nb__w_rest(out, a);
    if (out->err) {
        nb_err_t err = out->err;
        out->len = start;
        return err;
    }
    return NB_ERR_OK;
}
