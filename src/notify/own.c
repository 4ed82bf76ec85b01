/*
 * notbrought - notify: who owns a raised notification (docs/inbox.md, section 1). The daemon
 * applies people's actions (take, reassign, close) in the order they are on the child's
 * partition, so the first action applied wins; each gets a verdict, audited without the note
 * or the reason (they may hold personal data). Pure: no I/O, no clock.
 */
#include <jansson.h>
#include <string.h>

#include "notify/internal.h"

static const char *const nb__verdict_names[] = {
    "taken",        "reassigned",     "closed",        "action_duplicate",
    "action_early", "action_refused", "action_unknown"};

const char *nb_notify_verdict_name(nb_notify_verdict_t v)
{
    return (unsigned)v < sizeof(nb__verdict_names) / sizeof(nb__verdict_names[0])
               ? nb__verdict_names[v]
               : "?";
}

static const char *const nb__refusal_names[] = {"", "owned_by", "closed", "withdrawn",
                                                "not_raised"};

const char *nb_notify_refusal_name(nb_notify_refusal_t r)
{
    return (unsigned)r < sizeof(nb__refusal_names) / sizeof(nb__refusal_names[0])
               ? nb__refusal_names[r]
               : "?";
}

const nb_notify_owner_t *nb_notify_owner(const nb_notify_state_t *s,
                                         const uint8_t id[NB_LEDGER_ID_BYTES])
{
    for (size_t i = 0; i < s->n_owned; i++)
        if (memcmp(s->owned[i].id, id, NB_LEDGER_ID_BYTES) == 0)
            return &s->owned[i];
    return NULL;
}

/* The entry of @p id, made when there is none. When the table is full the oldest entry that
 * is no longer open goes (a closed or withdrawn one), else the oldest. */
nb_notify_owner_t *nb__notify_owner_put(nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES])
{
    nb_notify_owner_t *e = (nb_notify_owner_t *)nb_notify_owner(s, id);
    if (e)
        return e;
    if (s->n_owned == NB_NOTIFY_MAX_OWNED) {
        size_t victim = 0;
        bool done = false;
        for (size_t i = 0; i < s->n_owned; i++) {
            bool gone = s->owned[i].state != NB_NOTIFY_OWN_OPEN;
            bool vgone = s->owned[victim].state != NB_NOTIFY_OWN_OPEN;
            if ((gone && !vgone) || (gone == vgone && s->owned[i].since < s->owned[victim].since))
                victim = i;
            done = true;
        }
        if (done)
            s->owned[victim] = s->owned[--s->n_owned];
    }
    e = &s->owned[s->n_owned++];
    memset(e, 0, sizeof(*e));
    memcpy(e->id, id, NB_LEDGER_ID_BYTES);
    e->state = NB_NOTIFY_OWN_OPEN;
    e->respond_by = NB_TIME_NONE;
    return e;
}

void nb__notify_withdrawn(nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES],
                          int64_t now_ms)
{
    nb_notify_owner_t *e = nb__notify_owner_put(s, id);
    e->state = NB_NOTIFY_OWN_WITHDRAWN;
    e->since = now_ms;
    e->respond_by = NB_TIME_NONE;
}

void nb__notify_owners_sync(nb_notify_state_t *s, const nb_ledger_t *led, int64_t now_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n_owned; i++) {
        const nb_notify_owner_t *e = &s->owned[i];
        bool keep = e->state == NB_NOTIFY_OWN_WITHDRAWN
                        ? e->since + NB_NOTIFY_PENDING_MS > now_ms
                        : nb__notify_find_raised(led, e->id) != NULL;
        if (keep)
            s->owned[k++] = *e;
    }
    s->n_owned = k;
}

/* Fills the owner part of @p out from @p e (NULL: nobody). */
static void nb__owner_out(const nb_notify_owner_t *e, nb_notify_outcome_t *out)
{
    out->owner_user[0] = out->owner_queue[0] = '\0';
    if (e && e->state == NB_NOTIFY_OWN_OPEN) {
        nb_str_copy(out->owner_user, sizeof(out->owner_user), e->user_id);
        nb_str_copy(out->owner_queue, sizeof(out->owner_queue), e->queue);
        out->respond_by = e->respond_by;
    }
}

/* A verdict on an action whose notification is raised, open, and maybe owned (@p e). */
static nb_notify_verdict_t nb__apply_open(const nb_policy_t *pol, nb_notify_state_t *s,
                                          const nb_ledger_raised_t *raised, nb_notify_owner_t *e,
                                          const nb_ack_t *a, uint64_t ack_hash, int64_t now_ms,
                                          nb_notify_outcome_t *out)
{
    bool owned = e && e->state == NB_NOTIFY_OWN_OPEN && e->user_id[0];
    bool mine = owned && a->user_id[0] && strcmp(e->user_id, a->user_id) == 0;
    if (e && e->last_ack == ack_hash && e->state == NB_NOTIFY_OWN_OPEN)
        return NB_NOTIFY_DUPLICATE; /* the same action again (a retried send) */
    switch (a->intent) {
    case NB_ACK_INTENT_TAKE:
        if (mine)
            return NB_NOTIFY_DUPLICATE;
        if (owned) {
            out->refusal = NB_NOTIFY_REFUSAL_OWNED_BY;
            return NB_NOTIFY_REFUSED;
        }
        e = nb__notify_owner_put(s, raised->id);
        nb_str_copy(e->user_id, sizeof(e->user_id), a->user_id);
        nb_str_copy(e->queue, sizeof(e->queue), a->role);
        e->since = now_ms;
        e->last_ack = ack_hash;
        nb__owner_out(e, out);
        return NB_NOTIFY_TAKEN;
    case NB_ACK_INTENT_REASSIGN: {
        /* The block of the ladder it follows: its tier's when the modifiers moved it there. */
        const nb_policy_ownership_t *own =
            pol ? nb_policy_ownership_at(pol, raised->rule_hash, (nb_tier_t)raised->tier) : NULL;
        if (owned && !mine && !nb_policy_ownership_may_reassign(own, a->role)) {
            out->refusal = NB_NOTIFY_REFUSAL_OWNED_BY;
            return NB_NOTIFY_REFUSED;
        }
        int64_t rb = pol ? nb_policy_respond_by_after_reassign(pol, raised->rule_hash,
                                                               (nb_tier_t)raised->tier, now_ms)
                         : NB_TIME_NONE;
        e = nb__notify_owner_put(s, raised->id);
        nb_str_copy(e->user_id, sizeof(e->user_id), a->reassign_to_user);
        nb_str_copy(e->queue, sizeof(e->queue), a->reassign_to_queue);
        e->since = now_ms;
        e->last_ack = ack_hash;
        if (rb != NB_TIME_NONE)
            e->respond_by = rb;
        nb__owner_out(e, out);
        return NB_NOTIFY_REASSIGNED;
    }
    case NB_ACK_INTENT_CLOSE:
    default:
        if (owned && !mine) {
            out->refusal = NB_NOTIFY_REFUSAL_OWNED_BY;
            return NB_NOTIFY_REFUSED;
        }
        nb__notify_close(s, raised->id);
        e = nb__notify_owner_put(s, raised->id);
        e->state = NB_NOTIFY_OWN_CLOSED;
        nb_str_copy(e->user_id, sizeof(e->user_id), a->user_id);
        e->queue[0] = '\0';
        e->since = now_ms;
        e->respond_by = NB_TIME_NONE;
        e->last_ack = ack_hash;
        return NB_NOTIFY_CLOSED;
    }
}

/* A close of a notification not raised (yet): remembered, as acks always were. */
static nb_notify_verdict_t nb__apply_early(nb_notify_state_t *s,
                                           const uint8_t id[NB_LEDGER_ID_BYTES], int64_t now_ms)
{
    if (nb__notify_pending(s, id))
        return NB_NOTIFY_DUPLICATE;
    if (s->n_pending == NB_NOTIFY_MAX_PENDING)
        return NB_NOTIFY_UNKNOWN;
    memcpy(s->pending[s->n_pending].id, id, NB_LEDGER_ID_BYTES);
    s->pending[s->n_pending++].at = now_ms;
    return NB_NOTIFY_EARLY;
}

nb_notify_verdict_t nb_notify_apply(const nb_policy_t *pol, nb_notify_state_t *s,
                                    const nb_ledger_t *led, const nb_ack_t *a, int64_t now_ms,
                                    nb_notify_outcome_t *out)
{
    nb_notify_outcome_t scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof(*out));
    out->closed_at = out->respond_by = NB_TIME_NONE;
    uint8_t id[NB_LEDGER_ID_BYTES];
    if (!nb__notify_parse_id(a->notification_id, id))
        return out->verdict = NB_NOTIFY_UNKNOWN;
    uint64_t ack_hash = nb_ledger_id_hash(a->ack_id, strlen(a->ack_id));
    nb_notify_owner_t *e = (nb_notify_owner_t *)nb_notify_owner(s, id);
    bool close = a->intent == NB_ACK_INTENT_CLOSE;
    if (e && e->state == NB_NOTIFY_OWN_WITHDRAWN) {
        out->refusal = NB_NOTIFY_REFUSAL_WITHDRAWN;
        return out->verdict = NB_NOTIFY_REFUSED;
    }
    if (nb_notify_is_closed(s, id) || (nb__notify_pending(s, id) && !close)) {
        if (close)
            return out->verdict = NB_NOTIFY_DUPLICATE;
        out->refusal = NB_NOTIFY_REFUSAL_CLOSED;
        if (e && e->state == NB_NOTIFY_OWN_CLOSED) {
            nb_str_copy(out->closed_by, sizeof(out->closed_by), e->user_id);
            out->closed_at = e->since;
        }
        return out->verdict = NB_NOTIFY_REFUSED;
    }
    const nb_ledger_raised_t *raised = nb__notify_find_raised(led, id);
    if (!raised) {
        if (close)
            return out->verdict = nb__apply_early(s, id, now_ms);
        out->refusal = NB_NOTIFY_REFUSAL_NOT_RAISED;
        return out->verdict = NB_NOTIFY_REFUSED;
    }
    nb__owner_out(e, out);
    out->verdict = nb__apply_open(pol, s, raised, e, a, ack_hash, now_ms, out);
    if (out->verdict == NB_NOTIFY_REFUSED || out->verdict == NB_NOTIFY_DUPLICATE)
        nb__owner_out(nb_notify_owner(s, id), out);
    return out->verdict;
}

/* ---- audit --------------------------------------------------------------------------------- */

void nb_notify_audit_action(const nb_policy_t *pol, const nb_ack_t *a, const nb_notify_outcome_t *o,
                            const char *child_key, int64_t now_ms, nb_audit_t *out)
{
    /* The verdicts and their audit kinds are in the same order (taken ... action_unknown). */
    nb_audit_kind_t kind = (unsigned)o->verdict <= NB_AUDIT_ACTION_UNKNOWN - NB_AUDIT_TAKEN
                               ? (nb_audit_kind_t)(NB_AUDIT_TAKEN + (int)o->verdict)
                               : NB_AUDIT_OTHER;
    bool refused = o->verdict == NB_NOTIFY_REFUSED;
    nb_audit_init(out, kind, now_ms);
    nb_str_copy(out->child_key, sizeof(out->child_key), child_key);
    nb_str_copy(out->notification_id, sizeof(out->notification_id), a->notification_id);
    nb_str_copy(out->reference, sizeof(out->reference), a->reference);
    out->has_action = true;
    nb_str_copy(out->action.ack_id, sizeof(out->action.ack_id), a->ack_id);
    out->action.intent = a->intent;
    out->action.acted_at = a->acknowledged_at;
    nb_str_copy(out->action.owner_user, sizeof(out->action.owner_user), o->owner_user);
    nb_str_copy(out->action.owner_queue, sizeof(out->action.owner_queue), o->owner_queue);
    if (a->intent == NB_ACK_INTENT_REASSIGN) {
        nb_str_copy(out->action.target_queue, sizeof(out->action.target_queue),
                    a->reassign_to_queue);
        nb_str_copy(out->action.target_user, sizeof(out->action.target_user), a->reassign_to_user);
    }
    if (a->intent == NB_ACK_INTENT_CLOSE)
        out->action.close_action = (int)a->action;
    if (refused) {
        nb_str_copy(out->reason, sizeof(out->reason), nb_notify_refusal_name(o->refusal));
        if (o->refusal == NB_NOTIFY_REFUSAL_CLOSED) {
            nb_str_copy(out->action.closed_by, sizeof(out->action.closed_by), o->closed_by);
            out->action.closed_at = o->closed_at;
        }
    }
    if (o->verdict == NB_NOTIFY_REASSIGNED)
        out->respond_by = o->respond_by;
    out->has_actor = true;
    nb_str_copy(out->actor.user_id, sizeof(out->actor.user_id), a->user_id);
    nb_str_copy(out->actor.queue, sizeof(out->actor.queue), a->role);
    nb_notify_audit_policy(pol, out);
    nb_audit_set_id(out, a->ack_id, a->notification_id, 0);
}

/* ---- serialisation (state version 2) ------------------------------------------------------- */

NB_NODISCARD static nb_err_t nb__put_str(nb_buf_t *out, const char *s)
{
    size_t n = strlen(s);
    uint8_t len = (uint8_t)(n > NB_ID_MAX ? NB_ID_MAX : n);
    nb_err_t err = nb_buf_append(out, &len, 1);
    return err ? err : nb_buf_append(out, s, len);
}

nb_err_t nb__notify_owners_encode(const nb_notify_state_t *s, nb_buf_t *out)
{
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; !err && i < s->n_owned; i++) {
        const nb_notify_owner_t *e = &s->owned[i];
        if (!(err = nb_buf_append(out, e->id, NB_LEDGER_ID_BYTES)) &&
            !(err = nb_buf_append(out, &e->state, 1)) && !(err = nb__put_str(out, e->user_id)) &&
            !(err = nb__put_str(out, e->queue)) &&
            !(err = nb_buf_put_le(out, (uint64_t)e->since, 8)) &&
            !(err = nb_buf_put_le(out, (uint64_t)e->respond_by, 8)))
            err = nb_buf_put_le(out, e->last_ack, 8);
    }
    return err;
}

static size_t nb__get_str(char *dst, const uint8_t *p, size_t len)
{
    if (len < 1 || p[0] > NB_ID_MAX || len < 1u + p[0])
        return 0;
    memcpy(dst, p + 1, p[0]);
    dst[p[0]] = '\0';
    return 1u + p[0];
}

bool nb__notify_owners_decode(nb_notify_state_t *s, size_t n, const uint8_t *p, size_t len,
                              size_t *used)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        nb_notify_owner_t *e = &s->owned[i];
        size_t k;
        if (len - at < NB_LEDGER_ID_BYTES + 1)
            return false;
        memcpy(e->id, p + at, NB_LEDGER_ID_BYTES);
        e->state = p[at + NB_LEDGER_ID_BYTES];
        at += NB_LEDGER_ID_BYTES + 1;
        if (e->state < NB_NOTIFY_OWN_OPEN || e->state > NB_NOTIFY_OWN_WITHDRAWN)
            return false;
        if (!(k = nb__get_str(e->user_id, p + at, len - at)))
            return false;
        at += k;
        if (!(k = nb__get_str(e->queue, p + at, len - at)))
            return false;
        at += k;
        if (len - at < 24)
            return false;
        e->since = (int64_t)nb_le_get(p + at, 8);
        e->respond_by = (int64_t)nb_le_get(p + at + 8, 8);
        e->last_ack = nb_le_get(p + at + 16, 8);
        at += 24;
    }
    s->n_owned = n;
    *used = at;
    return true;
}
