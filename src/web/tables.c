/*
 * notbrought - web: the server's two tables, pure (now_ms passed in): the sign-in rate
 * limiter and the sessions. Both are bounded; the server's polling thread alone uses them, so
 * they have no lock.
 */
#include "notbrought/web.h"

#include <glib.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- the rate limiter ---------------------------------------------------------------------- */

/* A key's latest failures, at most max of them, in a ring: head is the oldest. */
typedef struct nb__fails_s {
    int n, head;
    int64_t t[];
} nb__fails_t;

struct nb_web_limiter_s {
    GHashTable *keys; /* char * -> nb__fails_t * */
    int max;
    int64_t window_ms;
    size_t capacity;
};

nb_web_limiter_t *nb_web_limiter_new(int max_failures, int64_t window_ms, size_t capacity)
{
    if (max_failures < 1 || window_ms < 1 || capacity < 1)
        return NULL;
    nb_web_limiter_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free);
    l->max = max_failures;
    l->window_ms = window_ms;
    l->capacity = capacity;
    return l;
}

void nb_web_limiter_destroy(nb_web_limiter_t *l)
{
    if (!l)
        return;
    g_hash_table_destroy(l->keys);
    free(l);
}

static int64_t nb__latest(const nb_web_limiter_t *l, const nb__fails_t *f)
{
    return f->t[(f->head + f->n - 1) % l->max];
}

int64_t nb_web_limiter_wait(const nb_web_limiter_t *l, const char *key, int64_t now_ms)
{
    const nb__fails_t *f = g_hash_table_lookup(l->keys, key);
    if (!f || f->n < l->max)
        return 0;
    /* max failures are held: the key may try again when the oldest leaves the window. */
    int64_t until = f->t[f->head] + l->window_ms;
    return until > now_ms ? until - now_ms : 0;
}

/* Makes room for one more key: keys whose failures all left the window go; if none did, the
 * key whose latest failure is the oldest. */
static void nb__limiter_room(nb_web_limiter_t *l, int64_t now_ms)
{
    GHashTableIter it;
    gpointer k, v;
    const char *oldest = NULL;
    int64_t oldest_t = INT64_MAX;
    g_hash_table_iter_init(&it, l->keys);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        int64_t t = nb__latest(l, v);
        if (t <= now_ms - l->window_ms)
            g_hash_table_iter_remove(&it);
        else if (t < oldest_t) {
            oldest_t = t;
            oldest = k;
        }
    }
    if (g_hash_table_size(l->keys) >= l->capacity && oldest)
        g_hash_table_remove(l->keys, oldest);
}

nb_err_t nb_web_limiter_fail(nb_web_limiter_t *l, const char *key, int64_t now_ms)
{
    nb__fails_t *f = g_hash_table_lookup(l->keys, key);
    if (!f) {
        if (g_hash_table_size(l->keys) >= l->capacity)
            nb__limiter_room(l, now_ms);
        f = calloc(1, sizeof(*f) + (size_t)l->max * sizeof(f->t[0]));
        if (!f)
            return NB_ERR_NOMEM;
        g_hash_table_insert(l->keys, g_strdup(key), f);
    }
    /* Failures that left the window no longer count. */
    while (f->n && f->t[f->head] <= now_ms - l->window_ms) {
        f->head = (f->head + 1) % l->max;
        f->n--;
    }
    if (f->n == l->max) {
        f->t[f->head] = now_ms; /* the oldest is overwritten: the ring keeps the latest max */
        f->head = (f->head + 1) % l->max;
    } else {
        f->t[(f->head + f->n) % l->max] = now_ms;
        f->n++;
    }
    return NB_ERR_OK;
}

void nb_web_limiter_clear(nb_web_limiter_t *l, const char *key)
{
    g_hash_table_remove(l->keys, key);
}

size_t nb_web_limiter_size(const nb_web_limiter_t *l)
{
    return g_hash_table_size(l->keys);
}

/* ---- sessions ------------------------------------------------------------------------------ */

struct nb_web_sessions_s {
    GHashTable *by_id; /* char * (the session's own id) -> nb_web_session_t * */
    int64_t idle_ms, absolute_ms;
    size_t max;
};

static void nb__session_free(gpointer p)
{
    sodium_memzero(p, sizeof(nb_web_session_t));
    free(p);
}

nb_web_sessions_t *nb_web_sessions_new(int64_t idle_ms, int64_t absolute_ms, size_t max)
{
    if (idle_ms < 1 || absolute_ms < 1 || max < 1)
        return NULL;
    nb_web_sessions_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    /* The key is the id inside the value: freed with it. */
    t->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, nb__session_free);
    t->idle_ms = idle_ms;
    t->absolute_ms = absolute_ms;
    t->max = max;
    return t;
}

void nb_web_sessions_destroy(nb_web_sessions_t *t)
{
    if (!t)
        return;
    g_hash_table_destroy(t->by_id);
    free(t);
}

static bool nb__expired(const nb_web_sessions_t *t, const nb_web_session_t *s, int64_t now_ms)
{
    return now_ms - s->last_ms >= t->idle_ms || now_ms - s->created_ms >= t->absolute_ms ||
           now_ms < s->created_ms - t->idle_ms; /* the clock went far back: trust nothing */
}

/* Expired sessions go; if none did, the oldest session not signed in. @returns whether
 * there is room. */
static bool nb__sessions_room(nb_web_sessions_t *t, int64_t now_ms)
{
    GHashTableIter it;
    gpointer k, v;
    const char *oldest = NULL;
    int64_t oldest_t = INT64_MAX;
    g_hash_table_iter_init(&it, t->by_id);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        nb_web_session_t *s = v;
        if (nb__expired(t, s, now_ms))
            g_hash_table_iter_remove(&it);
        else if (!s->signed_in && s->last_ms < oldest_t) {
            oldest_t = s->last_ms;
            oldest = k;
        }
    }
    if (g_hash_table_size(t->by_id) >= t->max && oldest)
        g_hash_table_remove(t->by_id, oldest);
    return g_hash_table_size(t->by_id) < t->max;
}

nb_err_t nb_web_sessions_create(nb_web_sessions_t *t, const nb_web_user_t *user, bool by_proxy,
                                int64_t now_ms, nb_web_session_t *out)
{
    if (g_hash_table_size(t->by_id) >= t->max && !nb__sessions_room(t, now_ms))
        return NB_ERR_LIMIT;
    nb_web_session_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NB_ERR_NOMEM;
    do
        nb_web_token_new(s->id); /* 256 bits: a clash is not going to happen, but be sure */
    while (g_hash_table_contains(t->by_id, s->id));
    nb_web_token_new(s->csrf);
    s->signed_in = user != NULL;
    s->by_proxy = by_proxy;
    if (user) {
        s->user = *user;
        s->user.hash[0] = '\0'; /* a session never holds the hash */
    }
    s->created_ms = s->last_ms = now_ms;
    g_hash_table_insert(t->by_id, s->id, s);
    if (out)
        *out = *s;
    return NB_ERR_OK;
}

bool nb_web_sessions_get(nb_web_sessions_t *t, const char *id, int64_t now_ms,
                         nb_web_session_t *out)
{
    nb_web_session_t *s = g_hash_table_lookup(t->by_id, id);
    if (!s)
        return false;
    if (nb__expired(t, s, now_ms)) {
        g_hash_table_remove(t->by_id, id);
        return false;
    }
    s->last_ms = now_ms > s->last_ms ? now_ms : s->last_ms;
    if (out)
        *out = *s;
    return true;
}

bool nb_web_sessions_end(nb_web_sessions_t *t, const char *id)
{
    return g_hash_table_remove(t->by_id, id);
}

size_t nb_web_sessions_count(const nb_web_sessions_t *t)
{
    return g_hash_table_size(t->by_id);
}
