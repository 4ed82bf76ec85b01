/*
 * notbrought - dispatch: what an endpoint's answer means, when to try again, and which
 * offsets may be committed (the tracker).
 */
#include "notbrought/dispatch.h"

#include <stdlib.h>
#include <string.h>

const char *nb_dispatch_verdict_name(nb_dispatch_verdict_t v)
{
    switch (v) {
    case NB_DISPATCH_DELIVERED:
        return "delivered";
    case NB_DISPATCH_RETRY:
        return "retry";
    case NB_DISPATCH_REFUSED:
        return "refused";
    }
    return "?";
}

nb_dispatch_verdict_t nb_dispatch_http_verdict(long status)
{
    if (status >= 200 && status <= 299)
        return NB_DISPATCH_DELIVERED;
    /* 408 (the receiver timed out) and 429 (slow down) say "later", not "never". */
    if (status >= 400 && status <= 499 && status != 408 && status != 429)
        return NB_DISPATCH_REFUSED;
    /* No answer, 5xx, 408, 429; and 1xx/3xx, which a webhook should not send (redirects are
     * not followed: a signed request is not replayed to another host). */
    return NB_DISPATCH_RETRY;
}

nb_dispatch_verdict_t nb_dispatch_smtp_verdict(bool sent, long reply)
{
    if (sent)
        return NB_DISPATCH_DELIVERED;
    return reply >= 500 && reply <= 599 ? NB_DISPATCH_REFUSED : NB_DISPATCH_RETRY;
}

int64_t nb_dispatch_backoff_delay(const nb_dispatch_backoff_t *b, int attempt)
{
    int64_t d = b->base_ms > 0 ? b->base_ms : 1;
    for (int i = 1; i < attempt && d < b->max_ms; i++)
        d *= 2;
    return d < b->max_ms ? d : b->max_ms;
}

int64_t nb_dispatch_next_attempt(const nb_dispatch_backoff_t *b, int attempt, int64_t first_ms,
                                 int64_t now_ms)
{
    int64_t at = now_ms + nb_dispatch_backoff_delay(b, attempt);
    return at - first_ms > b->give_up_ms ? -1 : at;
}

/* ---- the tracker ---------------------------------------------------------------------------- */

typedef struct nb__held_s {
    int64_t offset;
    int64_t read_ms;
    bool done;
} nb__held_t;

typedef struct nb__part_s {
    int32_t partition;
    nb__held_t *items; /* a ring would save moves; prefixes are taken often and are short */
    size_t n, cap;
} nb__part_t;

struct nb_dispatch_tracker_s {
    nb__part_t *parts;
    size_t n_parts, cap_parts;
};

nb_dispatch_tracker_t *nb_dispatch_tracker_new(void)
{
    return calloc(1, sizeof(nb_dispatch_tracker_t));
}

void nb_dispatch_tracker_destroy(nb_dispatch_tracker_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_parts; i++)
        free(t->parts[i].items);
    free(t->parts);
    free(t);
}

static nb__part_t *nb__part(const nb_dispatch_tracker_t *t, int32_t partition)
{
    for (size_t i = 0; i < t->n_parts; i++)
        if (t->parts[i].partition == partition)
            return &t->parts[i];
    return NULL;
}

nb_err_t nb_dispatch_tracker_add(nb_dispatch_tracker_t *t, int32_t partition, int64_t offset,
                                 int64_t read_ms)
{
    nb__part_t *p = nb__part(t, partition);
    if (!p) {
        if (t->n_parts == t->cap_parts) {
            size_t cap = t->cap_parts ? 2 * t->cap_parts : 8;
            nb__part_t *grown = realloc(t->parts, cap * sizeof(*grown));
            if (!grown)
                return NB_ERR_NOMEM;
            t->parts = grown;
            t->cap_parts = cap;
        }
        p = &t->parts[t->n_parts++];
        memset(p, 0, sizeof(*p));
        p->partition = partition;
    }
    if (p->n && p->items[p->n - 1].offset >= offset)
        return NB_ERR_INVALID_ARG;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        nb__held_t *grown = realloc(p->items, cap * sizeof(*grown));
        if (!grown)
            return NB_ERR_NOMEM;
        p->items = grown;
        p->cap = cap;
    }
    p->items[p->n++] = (nb__held_t){offset, read_ms, false};
    return NB_ERR_OK;
}

bool nb_dispatch_tracker_done(nb_dispatch_tracker_t *t, int32_t partition, int64_t offset)
{
    nb__part_t *p = nb__part(t, partition);
    for (size_t i = 0; p && i < p->n; i++) {
        if (p->items[i].offset == offset) {
            p->items[i].done = true;
            return true;
        }
    }
    return false;
}

int64_t nb_dispatch_tracker_take(nb_dispatch_tracker_t *t, int32_t partition)
{
    nb__part_t *p = nb__part(t, partition);
    size_t k = 0;
    while (p && k < p->n && p->items[k].done)
        k++;
    if (k == 0)
        return -1;
    int64_t next = p->items[k - 1].offset + 1;
    memmove(p->items, p->items + k, (p->n - k) * sizeof(*p->items));
    p->n -= k;
    return next;
}

void nb_dispatch_tracker_drop(nb_dispatch_tracker_t *t, int32_t partition)
{
    nb__part_t *p = nb__part(t, partition);
    if (p)
        p->n = 0;
}

size_t nb_dispatch_tracker_open(const nb_dispatch_tracker_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_parts; i++)
        for (size_t k = 0; k < t->parts[i].n; k++)
            n += !t->parts[i].items[k].done;
    return n;
}

int64_t nb_dispatch_tracker_oldest(const nb_dispatch_tracker_t *t)
{
    int64_t oldest = -1;
    for (size_t i = 0; i < t->n_parts; i++)
        for (size_t k = 0; k < t->parts[i].n; k++)
            if (!t->parts[i].items[k].done && (oldest < 0 || t->parts[i].items[k].read_ms < oldest))
                oldest = t->parts[i].items[k].read_ms;
    return oldest;
}

size_t nb_dispatch_tracker_partitions(const nb_dispatch_tracker_t *t, int32_t *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n_parts && k < max; i++)
        if (t->parts[i].n)
            out[k++] = t->parts[i].partition;
    return k;
}
