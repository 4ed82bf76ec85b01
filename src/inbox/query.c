/*
 * notbrought - inbox: what a page asks of the view (include/notbrought/inbox.h): lists by
 * queue in the order a nurse works them, one notification by reference or id, a child's.
 */
#include "inbox/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool nb__inbox_norm_ref(const char *in, char out[NB_REF_MAX + 1])
{
    char c[12];
    size_t n = 0;
    for (const char *p = in; p && *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (!isalnum((unsigned char)*p) || n == sizeof(c))
            return false;
        c[n++] = (char)toupper((unsigned char)*p);
    }
    if (n != 11 || memcmp(c, "WNB", 3) != 0)
        return false;
    snprintf(out, NB_REF_MAX + 1, "WNB-%.4s-%.4s", c + 3, c + 7);
    return true;
}

static void nb__copy(char *dst, size_t size, const char *s)
{
    nb_str_copy(dst, size, s ? s : "");
}

static bool nb__is_open(const nb__entry_t *e)
{
    return e->state == NB_INBOX_OPEN || e->state == NB_INBOX_OWNED;
}

void nb__inbox_item(const nb__entry_t *e, int64_t now_ms, nb_inbox_item_t *out)
{
    nb__copy(out->notification_id, sizeof(out->notification_id), e->id);
    nb__copy(out->reference, sizeof(out->reference), e->reference);
    nb__copy(out->child_key, sizeof(out->child_key), e->child);
    nb__copy(out->rule_id, sizeof(out->rule_id), e->rule);
    out->tier = (nb_tier_t)e->tier;
    out->level = e->level;
    out->created_at = e->created_at;
    out->respond_by = e->respond_by;
    out->raised = e->raised;
    out->raised_tier = e->raised ? (nb_tier_t)e->raised_tier : (nb_tier_t)e->tier;
    out->raised_respond_by = e->raised ? e->raised_respond_by : NB_TIME_NONE;
    out->restarted_respond_by = e->restarted_respond_by;
    out->updated_at = e->updated_at;
    out->state = (nb_inbox_state_t)e->state;
    out->overdue = nb__is_open(e) && e->respond_by != NB_TIME_NONE && e->respond_by < now_ms;
    nb__copy(out->owner, sizeof(out->owner), e->owner);
    nb__copy(out->owner_queue, sizeof(out->owner_queue), e->owner_queue);
    out->n_queues = e->n_queues;
    for (size_t i = 0; i < e->n_queues; i++)
        nb__copy(out->queues[i], sizeof(out->queues[i]), e->queues[i]);
    out->latest = e->latest;
}

/* Whether one of the routes is the entry's, or @p user owns it (interned pointers: one
 * comparison each). */
static bool nb__entry_in(const nb__entry_t *e, const char *const *routes, size_t n,
                         const char *user)
{
    if (user && e->owner == user)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (!routes[i])
            continue;
        if (e->owner_queue == routes[i])
            return true;
        for (size_t k = 0; k < e->n_queues; k++)
            if (e->queues[k] == routes[i])
                return true;
    }
    return false;
}

bool nb_inbox_visible(const nb_inbox_item_t *it, const char *const *queues, size_t n_queues)
{
    for (size_t i = 0; i < n_queues; i++) {
        if (!queues[i] || !queues[i][0])
            continue;
        if (strcmp(it->owner_queue, queues[i]) == 0)
            return true;
        for (size_t k = 0; k < it->n_queues; k++)
            if (strcmp(it->queues[k], queues[i]) == 0)
                return true;
    }
    return false;
}

bool nb_inbox_visible_to(const nb_inbox_item_t *it, const char *user_id, const char *const *queues,
                         size_t n_queues)
{
    return (user_id && user_id[0] && strcmp(it->owner, user_id) == 0) ||
           nb_inbox_visible(it, queues, n_queues);
}

/* The order of a list: tier (most urgent first), respond-by (earliest first, none last), then
 * the oldest first, then the id (a total order: pages do not shuffle between requests). */
static int nb__by_urgency(const void *pa, const void *pb)
{
    const nb__entry_t *a = *(const nb__entry_t *const *)pa, *b = *(const nb__entry_t *const *)pb;
    if (a->tier != b->tier)
        return a->tier > b->tier ? -1 : 1;
    if (a->respond_by != b->respond_by) {
        if (a->respond_by == NB_TIME_NONE || b->respond_by == NB_TIME_NONE)
            return a->respond_by == NB_TIME_NONE ? 1 : -1;
        return a->respond_by < b->respond_by ? -1 : 1;
    }
    if (a->created_at != b->created_at)
        return a->created_at < b->created_at ? -1 : 1;
    return strcmp(a->id, b->id);
}

size_t nb_inbox_list(const nb_inbox_t *v, const nb_inbox_query_t *q, nb_inbox_item_t *out)
{
    /* The query's routes as the view's interned pointers: a route the view has never seen
     * matches nothing. */
    const char **routes = calloc(q->n_queues ? q->n_queues : 1, sizeof(*routes));
    const nb__entry_t **hits = v->n_entries ? malloc(v->n_entries * sizeof(*hits)) : NULL;
    if (!routes || (v->n_entries && !hits)) {
        free(routes);
        free(hits);
        return (size_t)-1;
    }
    for (size_t i = 0; i < q->n_queues; i++)
        routes[i] = nb__inbox_find(v, q->queues[i]);
    const char *user = q->user && q->user[0] ? nb__inbox_find(v, q->user) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < v->n_entries; i++) {
        const nb__entry_t *e = &v->entries[i];
        if (e->known && (q->closed || nb__is_open(e)) && nb__entry_in(e, routes, q->n_queues, user))
            hits[n++] = e;
    }
    if (n > 1 && q->limit && q->offset < n)
        qsort(hits, n, sizeof(*hits), nb__by_urgency);
    for (size_t i = q->offset, k = 0; i < n && k < q->limit; i++, k++)
        nb__inbox_item(hits[i], q->now_ms, &out[k]);
    free(routes);
    free(hits);
    return n;
}

bool nb_inbox_count(const nb_inbox_t *v, const nb_inbox_query_t *q, nb_inbox_count_t *per_queue,
                    nb_inbox_count_t *mine)
{
    const char **routes = calloc(q->n_queues ? q->n_queues : 1, sizeof(*routes));
    if (!routes)
        return false;
    for (size_t i = 0; i < q->n_queues; i++) {
        routes[i] = nb__inbox_find(v, q->queues[i]);
        per_queue[i] = (nb_inbox_count_t){0, 0};
    }
    if (mine)
        *mine = (nb_inbox_count_t){0, 0};
    const char *user = q->user && q->user[0] ? nb__inbox_find(v, q->user) : NULL;
    for (size_t i = 0; i < v->n_entries; i++) {
        const nb__entry_t *e = &v->entries[i];
        if (!e->known || !nb__is_open(e))
            continue;
        bool overdue = e->respond_by != NB_TIME_NONE && e->respond_by < q->now_ms;
        for (size_t k = 0; k < q->n_queues; k++)
            if (routes[k] && nb__entry_in(e, &routes[k], 1, NULL)) {
                per_queue[k].open++;
                per_queue[k].overdue += overdue;
            }
        if (mine && user && e->owner == user) {
            mine->open++;
            mine->overdue += overdue;
        }
    }
    free(routes);
    return true;
}

bool nb_inbox_by_reference(const nb_inbox_t *v, const char *reference, int64_t now_ms,
                           nb_inbox_item_t *out)
{
    char ref[NB_REF_MAX + 1];
    if (!nb__inbox_norm_ref(reference, ref))
        return false;
    gpointer got = g_hash_table_lookup(v->by_ref, ref);
    if (!got)
        return false;
    nb__inbox_item(&v->entries[GPOINTER_TO_SIZE(got) - 1], now_ms, out);
    return true;
}

bool nb_inbox_by_id(const nb_inbox_t *v, const char *notification_id, int64_t now_ms,
                    nb_inbox_item_t *out)
{
    char base[NB_ID_MAX + 1];
    nb__inbox_base_id(notification_id, base);
    gpointer got = g_hash_table_lookup(v->by_id, base);
    if (!got || !v->entries[GPOINTER_TO_SIZE(got) - 1].known)
        return false;
    nb__inbox_item(&v->entries[GPOINTER_TO_SIZE(got) - 1], now_ms, out);
    return true;
}

/* Newest first, then by id. */
static int nb__by_newest(const void *pa, const void *pb)
{
    const nb__entry_t *a = *(const nb__entry_t *const *)pa, *b = *(const nb__entry_t *const *)pb;
    if (a->created_at != b->created_at)
        return a->created_at > b->created_at ? -1 : 1;
    return strcmp(a->id, b->id);
}

size_t nb_inbox_child(const nb_inbox_t *v, const char *child_key, int64_t now_ms,
                      nb_inbox_item_t *out, size_t max)
{
    /* A child has a handful of notifications: a pass over the entries finds them (a child
     * key the view has never interned has none). */
    const char *key = nb__inbox_find(v, child_key);
    size_t n = 0;
    for (size_t i = 0; key && i < v->n_entries; i++)
        n += v->entries[i].known && v->entries[i].child == key;
    if (n == 0 || max == 0)
        return n;
    const nb__entry_t **found = malloc(n * sizeof(*found));
    if (!found)
        return (size_t)-1;
    size_t k = 0;
    for (size_t i = 0; i < v->n_entries; i++)
        if (v->entries[i].known && v->entries[i].child == key)
            found[k++] = &v->entries[i];
    if (n > 1)
        qsort(found, n, sizeof(*found), nb__by_newest);
    for (size_t i = 0; i < n && i < max; i++)
        nb__inbox_item(found[i], now_ms, &out[i]);
    free(found);
    return n;
}
