/*
 * notbrought replay: the notifications a run raised, kept for `replay --compare` (see
 * replay.h). replay_run.c calls these as its lifecycle publishes: a new notification is kept
 * under its decision id with what it said (tier, recipients, respond-by, the ladder planned),
 * an escalation or a withdrawal updates it. Each child's notifications form a list, so that a
 * merge of histories moves them with the history and each ends under the child it belongs to.
 */
#include "cli/replay.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#define NB__NONE SIZE_MAX

/* The note of a decision id (hex), or NULL. */
static nb__rnote_t *nb__note_find(nb__notes_t *ns, const char *id_hex)
{
    gpointer v = ns->by_id ? g_hash_table_lookup(ns->by_id, id_hex) : NULL;
    return v ? &ns->v[GPOINTER_TO_SIZE(v) - 1] : NULL;
}

/* A new note for @p d, appended to the child's list. @returns it, or NULL (out of memory). */
static nb__rnote_t *nb__note_add(nb__notes_t *ns, const nb_policy_decision_t *d, size_t *head,
                                 size_t *tail)
{
    if (!ns->by_id &&
        !(ns->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL)))
        return NULL;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 256;
        nb__rnote_t *v = realloc(ns->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        ns->v = v;
        ns->cap = cap;
    }
    nb__rnote_t *n = &ns->v[ns->n];
    memset(n, 0, sizeof(*n));
    memcpy(n->id, d->id_bytes, NB_LEDGER_ID_BYTES);
    n->child = NB__NONE;
    n->next = NB__NONE;
    g_hash_table_insert(ns->by_id, g_strdup(d->id), GSIZE_TO_POINTER(ns->n + 1));
    if (*tail != NB__NONE)
        ns->v[*tail].next = ns->n;
    else
        *head = ns->n;
    *tail = ns->n;
    ns->n++;
    return n;
}

/* The decision's ladder, appended to the pool. @returns 0, or -1 (out of memory). */
static int nb__note_ladder(nb__notes_t *ns, nb__rnote_t *n, const nb_policy_decision_t *d)
{
    if (ns->n_rungs + d->n_rungs > ns->cap_rungs) {
        size_t cap = ns->cap_rungs ? ns->cap_rungs * 2 : 512;
        while (cap < ns->n_rungs + d->n_rungs)
            cap *= 2;
        nb__rrung_t *v = realloc(ns->rungs, cap * sizeof(*v));
        if (!v)
            return -1;
        ns->rungs = v;
        ns->cap_rungs = cap;
    }
    n->rung0 = ns->n_rungs;
    n->n_rungs = d->n_rungs;
    for (size_t i = 0; i < d->n_rungs; i++) {
        nb__rrung_t *g = &ns->rungs[ns->n_rungs++];
        memset(g, 0, sizeof(*g));
        g->due = d->rungs[i].due;
        g->tier = d->rungs[i].tier;
        g->n_roles = d->rungs[i].n_roles;
        memcpy(g->roles, d->rungs[i].roles, d->rungs[i].n_roles * sizeof(g->roles[0]));
    }
    return 0;
}

int nb__notes_raise(nb__notes_t *ns, const nb_policy_decision_t *d, int64_t now, size_t *head,
                    size_t *tail)
{
    nb__rnote_t *n = nb__note_find(ns, d->id);
    if (!n && !(n = nb__note_add(ns, d, head, tail)))
        return -1;
    /* Raised again after a withdrawal: what it says now. */
    n->rule = d->rule;
    n->tier = d->tier;
    n->raised_at = now;
    n->respond_by = d->respond_by;
    n->deadline = d->deadline;
    n->n_evidence = d->n_evidence;
    n->evidence_latest =
        d->n_evidence ? (int64_t)d->evidence_max_min * 60000 : NB_TIME_NONE;
    n->n_recipients = d->n_recipients;
    memcpy(n->recipients, d->recipients, d->n_recipients * sizeof(n->recipients[0]));
    n->escalations = 0;
    n->times_raised++;
    n->withdrawn_at = NB_TIME_NONE;
    return nb__note_ladder(ns, n, d);
}

void nb__notes_escalated(nb__notes_t *ns, const char *id_hex, unsigned level)
{
    /* Every escalation follows its notification, which was kept when it was raised. */
    nb__rnote_t *n = nb__note_find(ns, id_hex);
    if (n && level > n->escalations)
        n->escalations = level;
}

void nb__notes_withdrawn(nb__notes_t *ns, const char *id_hex, int64_t now)
{
    nb__rnote_t *n = nb__note_find(ns, id_hex);
    if (n)
        n->withdrawn_at = now;
}

void nb__notes_splice(nb__notes_t *ns, size_t *from_head, size_t *from_tail, size_t *into_head,
                      size_t *into_tail)
{
    if (*from_head == NB__NONE)
        return;
    if (*into_tail != NB__NONE)
        ns->v[*into_tail].next = *from_head;
    else
        *into_head = *from_head;
    *into_tail = *from_tail;
    *from_head = *from_tail = NB__NONE;
}

void nb__notes_own(nb__notes_t *ns, size_t head, size_t child)
{
    for (size_t i = head; i != NB__NONE; i = ns->v[i].next)
        ns->v[i].child = child;
}

static int nb__cmp_note(const void *a, const void *b)
{
    const nb__rnote_t *x = a, *y = b;
    return memcmp(x->id, y->id, NB_LEDGER_ID_BYTES);
}

void nb__notes_finish(nb__notes_t *ns)
{
    if (ns->by_id)
        g_hash_table_destroy(ns->by_id);
    ns->by_id = NULL;
    for (size_t i = 0; i < ns->n; i++)
        ns->v[i].next = NB__NONE; /* the lists do not survive the sort */
    if (ns->n)
        qsort(ns->v, ns->n, sizeof(*ns->v), nb__cmp_note);
}

void nb__notes_free(nb__notes_t *ns)
{
    if (ns->by_id)
        g_hash_table_destroy(ns->by_id);
    free(ns->v);
    free(ns->rungs);
    memset(ns, 0, sizeof(*ns));
}
