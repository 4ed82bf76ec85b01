/*
 * notbrought - inbox: the view (include/notbrought/inbox.h). Entries in one array, found by
 * id through a GLib hash table; every string (ids, child keys, rules, routes, users) interned
 * once in a GLib string chunk, so that an entry is ids and numbers.
 */
#include "inbox/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const nb__state_names[] = {"open", "owned", "closed", "withdrawn"};

const char *nb_inbox_state_name(nb_inbox_state_t s)
{
    return (unsigned)s < 4 ? nb__state_names[s] : "?";
}

nb_inbox_t *nb_inbox_new(void)
{
    nb_inbox_t *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->strings = g_string_chunk_new(64 * 1024);
    v->interned = g_hash_table_new(g_str_hash, g_str_equal);
    v->by_id = g_hash_table_new(g_str_hash, g_str_equal);
    v->by_ref = g_hash_table_new(g_str_hash, g_str_equal);
    v->verdicts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    return v;
}

void nb_inbox_destroy(nb_inbox_t *v)
{
    if (!v)
        return;
    g_hash_table_destroy(v->by_id);
    g_hash_table_destroy(v->by_ref);
    g_hash_table_destroy(v->verdicts);
    g_hash_table_destroy(v->interned);
    g_string_chunk_free(v->strings);
    free(v->entries);
    free(v->hist);
    free(v);
}

const char *nb__inbox_intern(nb_inbox_t *v, const char *s)
{
    if (!s || !s[0])
        return NULL;
    const char *p = g_hash_table_lookup(v->interned, s);
    if (!p) {
        p = g_string_chunk_insert(v->strings, s);
        g_hash_table_add(v->interned, (gpointer)p);
    }
    return p;
}

const char *nb__inbox_find(const nb_inbox_t *v, const char *s)
{
    return s && s[0] ? g_hash_table_lookup(v->interned, s) : NULL;
}

/* The notification an id belongs to: "<id>-e<n>" (an escalation) and "<id>-w" (a withdrawal)
 * are "<id>". Writes it to @p out. */
void nb__inbox_base_id(const char *id, char out[NB_ID_MAX + 1])
{
    size_t n = strnlen(id, NB_ID_MAX);
    const char *dash = NULL;
    for (size_t i = n; i > 1 && !dash; i--)
        if (id[i - 1] == '-')
            dash = id + i - 1;
    if (dash) {
        const char *p = dash + 1;
        bool esc = *p == 'e' && p[1];
        for (const char *q = p + 1; esc && q < id + n; q++)
            esc = *q >= '0' && *q <= '9';
        if (esc || (p[0] == 'w' && p + 1 == id + n))
            n = (size_t)(dash - id);
    }
    memcpy(out, id, n);
    out[n] = '\0';
}

/* The entry of this notification (by its base id), made when @p make. NULL when there is none
 * (or no memory). */
static nb__entry_t *nb__entry(nb_inbox_t *v, const char *id, bool make)
{
    char base[NB_ID_MAX + 1];
    nb__inbox_base_id(id, base);
    gpointer got = g_hash_table_lookup(v->by_id, base);
    if (got)
        return &v->entries[GPOINTER_TO_SIZE(got) - 1];
    if (!make || !base[0])
        return NULL;
    if (v->n_entries == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        nb__entry_t *e = realloc(v->entries, cap * sizeof(*e));
        if (!e)
            return NULL;
        v->entries = e;
        v->cap = cap;
    }
    nb__entry_t *e = &v->entries[v->n_entries];
    memset(e, 0, sizeof(*e));
    e->id = nb__inbox_intern(v, base);
    e->respond_by = e->raised_respond_by = e->restarted_respond_by = NB_TIME_NONE;
    e->latest.offset = -1;
    g_hash_table_insert(v->by_id, (gpointer)e->id, GSIZE_TO_POINTER(++v->n_entries));
    return e;
}

/* Appends a step to the entry's history. @returns it (zeroed but for at and what), or NULL on
 * no memory. */
static nb__hist_t *nb__step(nb_inbox_t *v, nb__entry_t *e, const char *what, int64_t at)
{
    if (v->n_hist == v->hist_cap) {
        size_t cap = v->hist_cap ? v->hist_cap * 2 : 1024;
        nb__hist_t *h = realloc(v->hist, cap * sizeof(*h));
        if (!h)
            return NULL;
        v->hist = h;
        v->hist_cap = cap;
    }
    nb__hist_t *h = &v->hist[v->n_hist];
    memset(h, 0, sizeof(*h));
    h->at = at;
    h->what = nb__inbox_intern(v, what);
    uint32_t idx = (uint32_t)++v->n_hist;
    if (e->hist_tail)
        v->hist[e->hist_tail - 1].next = idx;
    else
        e->hist_head = idx;
    e->hist_tail = idx;
    return h;
}

size_t nb_inbox_history(const nb_inbox_t *v, const char *notification_id, nb_inbox_step_t *out,
                        size_t max)
{
    char base[NB_ID_MAX + 1];
    nb__inbox_base_id(notification_id, base);
    gpointer got = g_hash_table_lookup(v->by_id, base);
    if (!got)
        return 0;
    size_t n = 0;
    for (uint32_t i = v->entries[GPOINTER_TO_SIZE(got) - 1].hist_head; i; i = v->hist[i - 1].next) {
        const nb__hist_t *h = &v->hist[i - 1];
        if (n < max) {
            nb_inbox_step_t *o = &out[n];
            memset(o, 0, sizeof(*o));
            o->at = h->at;
            o->level = h->level;
            nb_str_copy(o->what, sizeof(o->what), h->what ? h->what : "");
            nb_str_copy(o->actor, sizeof(o->actor), h->actor ? h->actor : "");
            nb_str_copy(o->owner, sizeof(o->owner), h->owner ? h->owner : "");
            nb_str_copy(o->owner_queue, sizeof(o->owner_queue),
                        h->owner_queue ? h->owner_queue : "");
            nb_str_copy(o->target, sizeof(o->target), h->target ? h->target : "");
            nb_str_copy(o->close_action, sizeof(o->close_action),
                        h->close_action ? h->close_action : "");
            nb_str_copy(o->refused, sizeof(o->refused), h->refused ? h->refused : "");
        }
        n++;
    }
    return n;
}

/* Adds the recipients' routes the entry does not have yet. */
static void nb__add_queues(nb_inbox_t *v, nb__entry_t *e, const nb_notification_t *n)
{
    for (size_t i = 0; i < n->n_recipients && e->n_queues < NB_NOTIF_MAX_RECIPIENTS; i++) {
        const char *q = nb__inbox_intern(v, n->recipients[i].route);
        bool have = !q;
        for (size_t k = 0; k < e->n_queues && !have; k++)
            have = e->queues[k] == q;
        if (!have)
            e->queues[e->n_queues++] = q;
    }
}

/* Whether this record was seen already (a restart reads from the start). */
static bool nb__seen(const nb__entry_t *e, nb_inbox_where_t at)
{
    return at.offset >= 0 && e->latest.offset >= 0 && e->latest.partition == at.partition &&
           at.offset <= e->latest.offset;
}

nb_err_t nb_inbox_notification(nb_inbox_t *v, const nb_notification_t *n, nb_inbox_where_t at)
{
    if (!v || !n || !n->notification_id[0])
        return NB_ERR_INVALID_ARG;
    if (n->kind == NB_NOTIFICATION_DIGEST)
        return NB_ERR_OK;
    nb__entry_t *e = nb__entry(v, n->notification_id, true);
    if (!e)
        return NB_ERR_NOMEM;
    if (nb__seen(e, at))
        return NB_ERR_OK;
    if (!e->known && n->kind != NB_NOTIFICATION_REMINDER) {
        /* Its first record: a "new" one, or, when retention has dropped that, what came next. */
        e->known = true;
        if (e->waiting)
            v->n_waiting--;
        e->waiting = false;
        e->child = nb__inbox_intern(v, n->child_key);
        e->rule = nb__inbox_intern(v, n->rule_id);
        char ref[NB_REF_MAX + 1];
        if (nb__inbox_norm_ref(n->reference, ref)) {
            e->reference = nb__inbox_intern(v, ref);
            g_hash_table_insert(v->by_ref, (gpointer)e->reference,
                                GSIZE_TO_POINTER((size_t)(e - v->entries) + 1));
        }
        e->created_at = n->created_at;
        e->tier = (uint8_t)n->tier;
        e->respond_by = n->respond_by;
    }
    if (n->kind == NB_NOTIFICATION_NEW && !e->raised) {
        /* The decision's own tier and respond-by, which escalations overwrite: the ladder is
         * worked out from them (nb_inbox_item_t.raised_*). */
        e->raised = true;
        e->raised_tier = (uint8_t)n->tier;
        e->raised_respond_by = n->respond_by;
    }
    if (n->kind == NB_NOTIFICATION_NEW || n->kind == NB_NOTIFICATION_ESCALATED ||
        n->kind == NB_NOTIFICATION_WITHDRAWN) {
        const char *what = n->kind == NB_NOTIFICATION_NEW         ? "raised"
                           : n->kind == NB_NOTIFICATION_ESCALATED ? "escalated"
                                                                  : "withdrawn";
        nb__hist_t *h = nb__step(v, e, what, n->created_at);
        if (!h)
            return NB_ERR_NOMEM;
        h->level = n->escalation_level;
    }
    if (n->kind == NB_NOTIFICATION_ESCALATED && (int32_t)e->level < n->escalation_level) {
        e->level = (uint8_t)(n->escalation_level > 255 ? 255 : n->escalation_level);
        e->tier = (uint8_t)n->tier;
        e->respond_by = n->respond_by; /* the next rung's, or none after the last */
    } else if (n->kind == NB_NOTIFICATION_WITHDRAWN) {
        e->state = NB_INBOX_WITHDRAWN;
    }
    nb__add_queues(v, e, n);
    if (n->created_at > e->updated_at)
        e->updated_at = n->created_at;
    e->latest = at;
    return NB_ERR_OK;
}

/* A string member of an audit record, or NULL. */
/* Keeps the verdict of an audit record that names an action (its "ack_id"). */
static const char *nb__opt(const char *s)
{
    return s && s[0] ? s : NULL;
}

static void nb__keep_verdict(nb_inbox_t *v, const nb_audit_t *a, const char *decision)
{
    if (!a->has_action || !a->action.ack_id[0])
        return;
    nb__verdict_t *vd = g_new0(nb__verdict_t, 1);
    vd->decision = nb__inbox_intern(v, decision);
    vd->refused =
        nb__inbox_intern(v, a->kind == NB_AUDIT_ACTION_REFUSED ? nb__opt(a->reason) : NULL);
    vd->owner = nb__inbox_intern(v, nb__opt(a->action.owner_user));
    g_hash_table_replace(v->verdicts, (gpointer)nb__inbox_intern(v, a->action.ack_id), vd);
}

/* A verdict on a person's action as a step of its notification's history (a notification the
 * view has not seen is given its entry, as verdicts are: the record may come later). */
NB_NODISCARD static nb_err_t nb__verdict_step(nb_inbox_t *v, const nb_audit_t *a,
                                              const char *decision)
{
    bool step = a->kind == NB_AUDIT_TAKEN || a->kind == NB_AUDIT_REASSIGNED ||
                a->kind == NB_AUDIT_CLOSED || a->kind == NB_AUDIT_ACTION_REFUSED;
    const char *id = nb__opt(a->notification_id);
    nb__entry_t *e = step && id ? nb__entry(v, id, true) : NULL;
    if (!step || !id)
        return NB_ERR_OK;
    nb__hist_t *h = e ? nb__step(v, e, decision, a->at) : NULL;
    if (!h)
        return NB_ERR_NOMEM;
    h->actor = nb__inbox_intern(v, a->has_actor ? nb__opt(a->actor.user_id) : NULL);
    h->owner = nb__inbox_intern(v, nb__opt(a->action.owner_user));
    h->owner_queue = nb__inbox_intern(v, nb__opt(a->action.owner_queue));
    const char *tq = nb__opt(a->action.target_queue), *tu = nb__opt(a->action.target_user);
    h->target = nb__inbox_intern(v, tq ? tq : tu);
    h->close_action = nb__inbox_intern(
        v, a->action.close_action >= 0 ? nb_ack_action_name(a->action.close_action) : NULL);
    h->refused =
        nb__inbox_intern(v, a->kind == NB_AUDIT_ACTION_REFUSED ? nb__opt(a->reason) : NULL);
    return NB_ERR_OK;
}

bool nb_inbox_verdict(const nb_inbox_t *v, const char *ack_id, nb_inbox_verdict_t *out)
{
    const nb__verdict_t *vd = ack_id ? g_hash_table_lookup(v->verdicts, ack_id) : NULL;
    if (!vd)
        return false;
    nb_str_copy(out->decision, sizeof(out->decision), vd->decision ? vd->decision : "");
    nb_str_copy(out->refused, sizeof(out->refused), vd->refused ? vd->refused : "");
    nb_str_copy(out->owner, sizeof(out->owner), vd->owner ? vd->owner : "");
    return true;
}

nb_err_t nb_inbox_audit(nb_inbox_t *v, const nb_audit_t *a, char *errstr, size_t errstr_size)
{
    if (!v || !a)
        return NB_ERR_INVALID_ARG;
    const char *decision = nb_audit_kind_name(a->kind);
    nb__keep_verdict(v, a, decision);
    if (nb__verdict_step(v, a, decision))
        return NB_ERR_NOMEM;
    nb_inbox_state_t to;
    if (a->kind == NB_AUDIT_TAKEN || a->kind == NB_AUDIT_REASSIGNED)
        to = NB_INBOX_OWNED;
    else if (a->kind == NB_AUDIT_CLOSED)
        to = NB_INBOX_CLOSED;
    else
        return NB_ERR_OK; /* nothing the view shows */
    const char *id = nb__opt(a->notification_id);
    nb__entry_t *e = id ? nb__entry(v, id, true) : NULL;
    if (!id) {
        snprintf(errstr, errstr_size, "a \"%s\" audit record without a notification_id", decision);
        return NB_ERR_INVALID_ARG;
    }
    if (!e)
        return NB_ERR_NOMEM;
    if (e->state == NB_INBOX_WITHDRAWN || e->state == NB_INBOX_CLOSED)
        return NB_ERR_OK;
    if (!e->known && !e->waiting) {
        e->waiting = true;
        v->n_waiting++;
    }
    e->state = (uint8_t)to;
    if (to == NB_INBOX_OWNED) {
        /* Who has it after the action. */
        e->owner = nb__inbox_intern(v, nb__opt(a->action.owner_user));
        e->owner_queue = nb__inbox_intern(v, nb__opt(a->action.owner_queue));
        if (!e->owner && !e->owner_queue)
            e->state = NB_INBOX_OPEN; /* reassigned to nobody in particular */
        /* A reassignment may restart the respond-by (and move the ladder's rungs with it). */
        if (a->respond_by != NB_TIME_NONE) {
            e->respond_by = a->respond_by;
            if (a->kind == NB_AUDIT_REASSIGNED)
                e->restarted_respond_by = a->respond_by;
        }
    }
    if (a->at != NB_TIME_NONE && a->at > e->updated_at)
        e->updated_at = a->at;
    return NB_ERR_OK;
}

void nb_inbox_stats(const nb_inbox_t *v, nb_inbox_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < v->n_entries; i++) {
        const nb__entry_t *e = &v->entries[i];
        if (!e->known)
            continue;
        out->notifications++;
        out->by_state[e->state < 4 ? e->state : 0]++;
    }
    out->waiting = v->n_waiting;
}
