/*
 * notbrought - identity: parking of events whose identity is not known yet.
 *
 * Every parked event is on two doubly linked lists: all events in arrival (seq) order, for
 * expiry and enumeration; and the events waiting for the same identifier, also in seq order,
 * for release. A small table maps the identifier digest to its list. Releases and expiries
 * count and allocate the returned array first and only then unhook the events, so a failure
 * hands back nothing and loses nothing.
 */
#include "identity/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

NB_NODISCARD static nb_err_t nb__pfail(char *errstr, size_t errstr_size, nb_err_t err,
                                       const char *msg)
{
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s", msg);
    return err;
}

size_t nb__park_waiting(const nb_identity_t *idt, const uint8_t want[NB_IDENTITY_WANT_LEN])
{
    const nb__pwant_slot_t *w = nb__tab_find(&idt->pwant, want);
    size_t n = 0;
    for (const nb__pnode_t *p = w ? w->head : NULL; p; p = p->wnext)
        n++;
    return n;
}

/* Unhooks a node from both lists (and drops its want slot when the list empties). */
static void nb__pnode_unhook(nb_identity_t *idt, nb__pnode_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        idt->phead = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        idt->ptail = p->prev;
    nb__pwant_slot_t *w = nb__tab_find(&idt->pwant, p->want);
    if (p->wprev)
        p->wprev->wnext = p->wnext;
    else if (w)
        w->head = p->wnext;
    if (p->wnext)
        p->wnext->wprev = p->wprev;
    else if (w)
        w->tail = p->wprev;
    if (w && !w->head)
        nb__tab_remove(&idt->pwant, w);
    idt->pcount--;
    idt->pbytes -= NB__PNODE_COST(p->len);
    p->prev = p->next = p->wprev = p->wnext = NULL;
}

/* Moves a node's content into a returned entry; the entry takes the bytes. Frees the node. */
static void nb__pnode_hand_back(nb__pnode_t *p, nb_identity_parked_t *e)
{
    memset(e, 0, sizeof(*e));
    e->seq = p->seq;
    e->parked_at_ms = p->parked_at;
    e->reason = p->reason;
    memcpy(e->want, p->want, NB_IDENTITY_WANT_LEN);
    e->meta = p->meta;
    e->data = p->data;
    e->len = p->len;
    free(p);
}

nb_err_t nb__park_take(nb_identity_t *idt, const uint8_t want[NB_IDENTITY_WANT_LEN],
                       const nb_identity_resolution_t *proto, nb_identity_parked_t **out,
                       size_t *n_out)
{
    size_t n = nb__park_waiting(idt, want);
    *out = NULL;
    *n_out = 0;
    if (!n)
        return NB_ERR_OK;
    nb_identity_parked_t *arr = calloc(n, sizeof(*arr));
    if (!arr)
        return NB_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        nb__pnode_t *p = ((nb__pwant_slot_t *)nb__tab_find(&idt->pwant, want))->head;
        nb__pnode_unhook(idt, p);
        nb__pnode_hand_back(p, &arr[i]);
        arr[i].resolution = *proto;
    }
    idt->released_total += n;
    *out = arr;
    *n_out = n;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__pnode_new(const void *data, size_t len,
                                           const nb_identity_meta_t *meta, nb__pnode_t **out)
{
    nb__pnode_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NB_ERR_NOMEM;
    if (len) {
        p->data = malloc(len);
        if (!p->data) {
            free(p);
            return NB_ERR_NOMEM;
        }
        memcpy(p->data, data, len);
    }
    p->len = len;
    if (meta) {
        p->meta = *meta;
        p->meta.topic[NB_IDENTITY_TOPIC_MAX] = '\0';
    }
    *out = p;
    return NB_ERR_OK;
}

static void nb__pnode_free(nb__pnode_t *p)
{
    if (p) {
        free(p->data);
        free(p);
    }
}

/* Links a new node in, after @p after in the global list (NULL: at the head), and in seq order
 * into its want list. The want slot must have been reserved. */
static void nb__pnode_hook(nb_identity_t *idt, nb__pnode_t *p, nb__pnode_t *after)
{
    p->prev = after;
    p->next = after ? after->next : idt->phead;
    if (p->next)
        p->next->prev = p;
    else
        idt->ptail = p;
    if (after)
        after->next = p;
    else
        idt->phead = p;

    int created;
    nb__pwant_slot_t *w = nb__tab_insert(&idt->pwant, p->want, &created);
    nb__pnode_t *q = w->tail;
    while (q && q->seq > p->seq)
        q = q->wprev;
    p->wprev = q;
    p->wnext = q ? q->wnext : w->head;
    if (p->wnext)
        p->wnext->wprev = p;
    else
        w->tail = p;
    if (q)
        q->wnext = p;
    else
        w->head = p;
    idt->pcount++;
    idt->pbytes += NB__PNODE_COST(p->len);
}

static bool nb__park_fits(const nb_identity_t *idt, size_t len)
{
    return idt->pcount < idt->conf.park_max_events && len <= idt->conf.park_max_bytes &&
           idt->pbytes + NB__PNODE_COST(len) <= idt->conf.park_max_bytes;
}

nb_err_t nb_identity_park(nb_identity_t *idt, const nb_identity_resolution_t *res,
                          const void *data, size_t len, const nb_identity_meta_t *meta,
                          int64_t now_ms, uint64_t *seq, char *errstr, size_t errstr_size)
{
    nb__pnode_t *p = NULL;
    nb_err_t err;
    if (seq)
        *seq = 0;
    if (!res || res->method != NB_IDENTITY_METHOD_NONE ||
        res->park_reason == NB_IDENTITY_PARK_NONE || (len && !data))
        return nb__pfail(errstr, errstr_size, NB_ERR_INVALID_ARG,
                         "only an unresolved resolution can be parked");
    const nb__link_slot_t *l = nb__tab_find(&idt->local, res->want);
    if (l && (l->flags & NB__F_LINKED))
        return nb__pfail(errstr, errstr_size, NB_ERR_INVALID_ARG,
                         "the event resolves now; resolve it again instead of parking it");
    if (!nb__park_fits(idt, len)) {
        idt->park_rejected_total++;
        return nb__pfail(errstr, errstr_size, NB_ERR_IDENTITY_PARK_FULL,
                         "the parking area is full; dead-letter the event");
    }
    if ((err = nb__pnode_new(data, len, meta, &p)) || (err = nb__tab_reserve(&idt->pwant, 1))) {
        nb__pnode_free(p);
        return nb__pfail(errstr, errstr_size, err, "out of memory parking an event");
    }
    p->seq = idt->next_seq++;
    p->parked_at = now_ms;
    p->reason = res->park_reason;
    memcpy(p->want, res->want, NB_IDENTITY_WANT_LEN);
    nb__pnode_hook(idt, p, idt->ptail);
    idt->parked_total++;
    if (seq)
        *seq = p->seq;
    return NB_ERR_OK;
}

static bool nb__park_expired(const nb_identity_t *idt, const nb__pnode_t *p, int64_t now_ms)
{
    int64_t r = idt->conf.park_retention_ms;
    return now_ms >= INT64_MIN + r && p->parked_at <= now_ms - r;
}

nb_err_t nb_identity_expire(nb_identity_t *idt, int64_t now_ms, nb_identity_result_t *res)
{
    memset(res, 0, sizeof(*res));
    size_t n = 0;
    /* Arrival order is time order because now_ms does not decrease; stop at the first event
     * that is still young. */
    for (const nb__pnode_t *p = idt->phead; p && nb__park_expired(idt, p, now_ms); p = p->next)
        n++;
    if (!n)
        return NB_ERR_OK;
    nb_identity_parked_t *arr = calloc(n, sizeof(*arr));
    if (!arr)
        return NB_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        nb__pnode_t *p = idt->phead;
        nb__pnode_unhook(idt, p);
        nb__pnode_hand_back(p, &arr[i]);
    }
    idt->expired_total += n;
    res->expired = arr;
    res->n_expired = n;
    return NB_ERR_OK;
}

void nb__park_free_all(nb_identity_t *idt)
{
    for (nb__pnode_t *p = idt->phead, *next; p; p = next) {
        next = p->next;
        nb__pnode_free(p);
    }
    idt->phead = idt->ptail = NULL;
    idt->pcount = idt->pbytes = 0;
}

void nb_identity_result_clear(nb_identity_result_t *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_released; i++)
        free(res->released[i].data);
    for (size_t i = 0; i < res->n_expired; i++)
        free(res->expired[i].data);
    free(res->released);
    free(res->expired);
    free(res->more_merges);
    memset(res, 0, sizeof(*res));
}
