/*
 * Unit tests of the stream module's parts that need no broker: the per-partition state store
 * (src/stream/store.c) that holds every child's state and the marks by which a batch knows
 * whose pre-image it holds already.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream/internal.h"

/* A key as the daemon makes them: uniform bytes (here from a simple generator). */
static void make_key(uint32_t i, uint8_t key[NB__KEY_LEN])
{
    uint64_t x = 0x9e3779b97f4a7c15ULL * (i + 1);
    for (int b = 0; b < NB__KEY_LEN; b++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ULL;
        key[b] = (uint8_t)(x >> 56);
    }
}

static void assert_value(nb__store_t *s, const uint8_t key[NB__KEY_LEN], const char *want)
{
    size_t len = 0;
    const uint8_t *v = nb__store_get(s, key, &len);
    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
}

static void test_put_get_del(void **state)
{
    (void)state;
    nb__store_t *s = nb__store_new();
    uint8_t a[NB__KEY_LEN], b[NB__KEY_LEN];
    make_key(1, a);
    make_key(2, b);
    assert_value(s, a, NULL);
    assert_int_equal(nb__store_put(s, a, "first", 5), NB_ERR_OK);
    assert_int_equal(nb__store_put(s, b, "other", 5), NB_ERR_OK);
    assert_value(s, a, "first");
    /* Overwrite in place, longer and shorter. */
    assert_int_equal(nb__store_put(s, a, "a longer value", 14), NB_ERR_OK);
    assert_value(s, a, "a longer value");
    assert_int_equal(nb__store_put(s, a, "s", 1), NB_ERR_OK);
    assert_value(s, a, "s");
    assert_int_equal(nb__store_count(s), 2);
    nb__store_del(s, a);
    assert_value(s, a, NULL);
    assert_value(s, b, "other");
    nb__store_del(s, a); /* absent: nothing happens */
    assert_int_equal(nb__store_count(s), 1);
    nb__store_destroy(s);
    nb__store_destroy(NULL);
}

/* Regression: the store remembers the entry its last lookup found; a removal must forget it,
 * or the next get of that key would read freed memory (ASan) or a stale value. */
static void test_remembered_entry_forgotten_on_removal(void **state)
{
    (void)state;
    nb__store_t *s = nb__store_new();
    uint8_t a[NB__KEY_LEN];
    make_key(7, a);
    assert_int_equal(nb__store_put(s, a, "v1", 2), NB_ERR_OK);
    assert_value(s, a, "v1"); /* remembered */
    nb__store_del(s, a);
    assert_value(s, a, NULL);
    assert_int_equal(nb__store_put(s, a, "v2", 2), NB_ERR_OK);
    assert_value(s, a, "v2");
    uint8_t *old = NULL;
    size_t old_len = 0;
    bool existed = false, marked = true;
    assert_int_equal(nb__store_swap(s, a, NULL, 0, 1, &old, &old_len, &existed, &marked),
                     NB_ERR_OK);
    assert_true(existed);
    assert_false(marked);
    assert_int_equal(old_len, 2);
    assert_memory_equal(old, "v2", 2);
    free(old);
    assert_value(s, a, NULL);
    assert_int_equal(nb__store_count(s), 0);
    nb__store_t *empty = nb__store_new();
    assert_int_equal(nb__store_bytes(s), nb__store_bytes(empty)); /* nothing left allocated */
    nb__store_destroy(empty);
    nb__store_destroy(s);
}

/* A batch's first write of a key hands back the pre-image unmarked; its later writes of the
 * same key say the batch has it already; the next batch (another mark) takes its own. A key
 * the batch removed and writes again is a new entry: its pre-image (absent) is taken again. */
static void test_swap_marks(void **state)
{
    (void)state;
    nb__store_t *s = nb__store_new();
    uint8_t a[NB__KEY_LEN];
    make_key(3, a);
    uint8_t *old = NULL;
    size_t old_len = 0;
    bool existed = true, marked = true;

    assert_int_equal(nb__store_swap(s, a, "one", 3, 5, &old, &old_len, &existed, &marked),
                     NB_ERR_OK);
    assert_null(old);
    assert_false(existed);
    assert_false(marked);
    /* The batch has the pre-image already: none is copied out. */
    assert_int_equal(nb__store_swap(s, a, "two", 3, 5, &old, &old_len, &existed, &marked),
                     NB_ERR_OK);
    assert_true(existed);
    assert_true(marked);
    assert_null(old);
    assert_int_equal(nb__store_swap(s, a, "three", 5, 6, &old, &old_len, &existed, &marked),
                     NB_ERR_OK);
    assert_false(marked);
    assert_int_equal(old_len, 3);
    assert_memory_equal(old, "two", 3);
    free(old);
    assert_value(s, a, "three");
    /* Removed by batch 6, then written by it again. */
    assert_int_equal(nb__store_swap(s, a, NULL, 0, 6, &old, &old_len, &existed, &marked),
                     NB_ERR_OK);
    assert_true(marked);
    assert_null(old);
    assert_int_equal(nb__store_swap(s, a, "four", 4, 6, &old, &old_len, &existed, &marked),
                     NB_ERR_OK);
    assert_null(old);
    assert_false(existed);
    assert_false(marked);
    /* Removing what is absent changes nothing. */
    uint8_t b[NB__KEY_LEN];
    make_key(4, b);
    assert_int_equal(nb__store_swap(s, b, NULL, 0, 6, &old, &old_len, &existed, &marked),
                     NB_ERR_OK);
    assert_null(old);
    assert_false(existed);
    assert_int_equal(nb__store_count(s), 1);
    assert_int_equal(nb__store_bytes(s) >= 4, true);
    nb__store_destroy(s);
}

typedef struct {
    size_t n, bytes;
} tally_t;

static int tally_cb(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val, size_t len)
{
    tally_t *t = opaque;
    (void)key;
    (void)val;
    t->n++;
    t->bytes += len;
    return 0;
}

/* Many keys (the table grows many times), interleaved with removals, against a plain array of
 * what each key should hold. */
static void test_many_keys_against_a_model(void **state)
{
    (void)state;
    enum { N = 50000 };
    nb__store_t *s = nb__store_new();
    static uint32_t model[N]; /* 0: absent, else the value written */
    memset(model, 0, sizeof(model));
    uint64_t rng = 12345;
    size_t live = 0, live_bytes = 0;
    for (int step = 0; step < 4 * N; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t i = (uint32_t)(rng >> 33) % N;
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        if ((rng >> 20) % 5 == 0) {
            nb__store_del(s, key);
            if (model[i]) {
                live--;
                live_bytes -= sizeof(uint32_t);
            }
            model[i] = 0;
        } else {
            uint32_t v = (uint32_t)step + 1;
            assert_int_equal(nb__store_put(s, key, &v, sizeof(v)), NB_ERR_OK);
            if (!model[i]) {
                live++;
                live_bytes += sizeof(uint32_t);
            }
            model[i] = v;
        }
    }
    assert_int_equal(nb__store_count(s), live);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        size_t len = 0;
        const uint8_t *v = nb__store_get(s, key, &len);
        if (!model[i]) {
            assert_null(v);
            continue;
        }
        assert_non_null(v);
        assert_int_equal(len, sizeof(uint32_t));
        uint32_t got;
        memcpy(&got, v, sizeof(got));
        assert_int_equal(got, model[i]);
    }
    tally_t t = {0, 0};
    assert_int_equal(nb__store_foreach(s, tally_cb, &t), 0);
    assert_int_equal(t.n, live);
    assert_int_equal(t.bytes, live_bytes);
    nb__store_destroy(s);
}

/* ---- timers kept with the states (store.c) --------------------------------------------------- */

static int64_t timer_due(nb__store_t *s, const uint8_t key[NB__KEY_LEN])
{
    nb__timer_slot_t t;
    nb__store_timer(s, key, &t);
    return t.due;
}

/* A value kept in its entry: one that grows past what the allocator gave the entry, or
 * shrinks to a small part of it, moves the entry. Its timer, its batch mark and the entry the
 * store remembers go with it; its memory is counted once. Lengths wander from 0 to 2 KB for
 * every key, against a model, with a timer on every third key. */
static void fill_value(uint8_t *v, size_t len, uint32_t seed)
{
    for (size_t b = 0; b < len; b++)
        v[b] = (uint8_t)(seed * 31 + b * 7);
}

static void test_values_that_move_keep_their_entry(void **state)
{
    (void)state;
    enum { N = 500, MAXLEN = 2048 };
    nb__store_t *s = nb__store_new();
    nb__store_t *empty = nb__store_new();
    static uint32_t seed[N], len[N];
    static uint8_t buf[MAXLEN];
    uint64_t rng = 99;
    for (uint32_t i = 0; i < N; i++) {
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        seed[i] = i;
        len[i] = i % 7;
        fill_value(buf, len[i], seed[i]);
        assert_int_equal(nb__store_put(s, key, buf, len[i]), NB_ERR_OK);
        nb__timer_slot_t t = {1000 + i, NB_TIME_NONE}, old;
        if (i % 3 == 0)
            assert_true(nb__store_timer_set(s, key, &t, &old));
    }
    for (int step = 0; step < 20 * N; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t i = (uint32_t)(rng >> 33) % N;
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        /* Grow by up to 300 bytes, or shrink to a fraction (moves both ways). */
        uint32_t l = (rng >> 8) % 4 == 0 ? len[i] / 8 : len[i] + (uint32_t)((rng >> 12) % 300);
        if (l >= MAXLEN)
            l = (uint32_t)((rng >> 12) % 16);
        seed[i] = (uint32_t)step;
        len[i] = l;
        fill_value(buf, l, seed[i]);
        uint64_t mark = (uint64_t)step / 10 + 1; /* ten writes per batch */
        uint8_t *old = NULL;
        size_t old_len = 0;
        bool existed = false, marked = false;
        if (step % 2) {
            assert_int_equal(nb__store_put(s, key, buf, l), NB_ERR_OK);
        } else {
            assert_int_equal(
                nb__store_swap(s, key, buf, l, mark, &old, &old_len, &existed, &marked), NB_ERR_OK);
            free(old);
            /* Written again by the same batch, even after a move: it has the pre-image. */
            assert_int_equal(
                nb__store_swap(s, key, buf, l, mark, &old, &old_len, &existed, &marked), NB_ERR_OK);
            assert_true(marked);
            assert_null(old);
        }
        /* The remembered entry is the moved one. */
        size_t got_len = 0;
        const uint8_t *got = nb__store_get(s, key, &got_len);
        assert_non_null(got);
        assert_int_equal(got_len, l);
        if (l)
            assert_memory_equal(got, buf, l);
        assert_int_equal(timer_due(s, key), i % 3 == 0 ? (int64_t)(1000 + i) : NB_TIME_NONE);
    }
    assert_int_equal(nb__store_timed(s), (N + 2) / 3);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        size_t got_len = 0;
        const uint8_t *got = nb__store_get(s, key, &got_len);
        fill_value(buf, len[i], seed[i]);
        assert_non_null(got);
        assert_int_equal(got_len, len[i]);
        if (len[i])
            assert_memory_equal(got, buf, len[i]);
    }
    /* Every entry is counted, at least at its key, mark, timer and length. */
    assert_true(nb__store_bytes(s) > nb__store_bytes(empty) + (size_t)N * 60);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        nb__store_del(s, key);
    }
    assert_int_equal(nb__store_timed(s), 0);
    assert_int_equal(nb__store_bytes(s), nb__store_bytes(empty));
    nb__store_destroy(empty);
    nb__store_destroy(s);
}

/* A timer lives as long as its key's state: none for an absent key, kept when the value is
 * replaced, gone with the state; the count follows. */
static void test_timer_lives_with_its_state(void **state)
{
    (void)state;
    nb__store_t *s = nb__store_new();
    uint8_t a[NB__KEY_LEN], b[NB__KEY_LEN];
    make_key(1, a);
    make_key(2, b);
    nb__timer_slot_t t = {100, 250}, old, got;
    assert_false(nb__store_timer_set(s, a, &t, &old)); /* no state: no timer */
    assert_int_equal(old.due, NB_TIME_NONE);
    assert_false(nb__store_timer(s, a, &got));
    assert_int_equal(got.due, NB_TIME_NONE);
    assert_int_equal(nb__store_timed(s), 0);

    assert_int_equal(nb__store_put(s, a, "v1", 2), NB_ERR_OK);
    assert_int_equal(nb__store_put(s, b, "w1", 2), NB_ERR_OK);
    assert_true(nb__store_timer(s, a, &got)); /* a new state has no timer */
    assert_int_equal(got.due, NB_TIME_NONE);
    assert_int_equal(got.esc, NB_TIME_NONE);
    assert_true(nb__store_timer_set(s, a, &t, &old));
    assert_int_equal(old.due, NB_TIME_NONE);
    assert_int_equal(nb__store_timed(s), 1);
    assert_true(nb__store_timer(s, a, &got));
    assert_int_equal(got.due, 100);
    assert_int_equal(got.esc, 250);

    /* A new value keeps the timer (the pipeline sets it after each save). */
    assert_int_equal(nb__store_put(s, a, "v2 longer", 9), NB_ERR_OK);
    assert_int_equal(timer_due(s, a), 100);
    uint8_t *prev = NULL;
    size_t prev_len = 0;
    bool existed = false, marked = false;
    assert_int_equal(nb__store_swap(s, a, "v3", 2, 7, &prev, &prev_len, &existed, &marked),
                     NB_ERR_OK);
    free(prev);
    assert_int_equal(timer_due(s, a), 100);
    assert_int_equal(nb__store_timed(s), 1);

    /* Setting it again hands back the one before; clearing it takes it out of the count. */
    nb__timer_slot_t later = {300, NB_TIME_NONE};
    assert_true(nb__store_timer_set(s, b, &later, &old));
    assert_int_equal(nb__store_timed(s), 2);
    nb__timer_slot_t none = {NB_TIME_NONE, NB_TIME_NONE};
    assert_true(nb__store_timer_set(s, b, &none, &old));
    assert_int_equal(old.due, 300);
    assert_int_equal(nb__store_timed(s), 1);

    /* Removed by a swap, the timer goes with the state; a state put there again has none. */
    assert_int_equal(nb__store_swap(s, a, NULL, 0, 8, &prev, &prev_len, &existed, &marked),
                     NB_ERR_OK);
    free(prev);
    assert_int_equal(nb__store_timed(s), 0);
    assert_int_equal(nb__store_put(s, a, "v4", 2), NB_ERR_OK);
    assert_int_equal(timer_due(s, a), NB_TIME_NONE);
    assert_true(nb__store_timer_set(s, a, &t, &old));
    nb__store_del(s, a);
    assert_int_equal(nb__store_timed(s), 0);
    nb__store_destroy(s);
}

/* A scan may set every entry's timer (a restore does), and the count follows. */
static int set_even_cb(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val, size_t len,
                       nb__timer_slot_t *timer)
{
    (void)key;
    (void)len;
    size_t *seen = opaque;
    (*seen)++;
    timer->due = val[0] % 2 == 0 ? (int64_t)val[0] : NB_TIME_NONE;
    timer->esc = NB_TIME_NONE;
    return 0;
}

/* Random puts, removals and timer changes over many keys (the table grows many times),
 * against a model of what each key should hold; then a scan. */
static void test_timers_against_a_model(void **state)
{
    (void)state;
    enum { N = 20000 };
    nb__store_t *s = nb__store_new();
    static int64_t due[N];
    static bool live[N];
    memset(live, 0, sizeof(live));
    for (int i = 0; i < N; i++)
        due[i] = NB_TIME_NONE;
    uint64_t rng = 777;
    for (int step = 0; step < 8 * N; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t i = (uint32_t)(rng >> 33) % N;
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        unsigned op = (unsigned)(rng >> 20) % 8;
        if (op == 0) {
            nb__store_del(s, key);
            live[i] = false;
            due[i] = NB_TIME_NONE;
        } else if (op <= 3) {
            uint8_t v = (uint8_t)step;
            assert_int_equal(nb__store_put(s, key, &v, 1), NB_ERR_OK);
            live[i] = true;
        } else {
            nb__timer_slot_t t = {op == 4 ? NB_TIME_NONE : (int64_t)step, NB_TIME_NONE}, old;
            assert_int_equal(nb__store_timer_set(s, key, &t, &old), live[i]);
            assert_int_equal(old.due, due[i]);
            if (live[i])
                due[i] = t.due;
        }
    }
    size_t timed = 0, n_live = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        assert_int_equal(timer_due(s, key), due[i]);
        timed += due[i] != NB_TIME_NONE;
        n_live += live[i];
    }
    assert_int_equal(nb__store_timed(s), timed);
    size_t seen = 0;
    assert_int_equal(nb__store_scan(s, set_even_cb, &seen), 0);
    assert_int_equal(seen, n_live);
    timed = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint8_t key[NB__KEY_LEN];
        make_key(i, key);
        size_t len = 0;
        const uint8_t *v = nb__store_get(s, key, &len);
        int64_t want = v && v[0] % 2 == 0 ? (int64_t)v[0] : NB_TIME_NONE;
        assert_int_equal(timer_due(s, key), want);
        timed += want != NB_TIME_NONE;
    }
    assert_int_equal(nb__store_timed(s), timed);
    nb__store_destroy(s);
}

/* ---- one turn of the run loop (turn.c) ------------------------------------------------------ */

/* A quiet loop with an open batch, defaults as the shipped configuration has them. */
static nb__turn_t turn_facts(void)
{
    nb__turn_t t;
    memset(&t, 0, sizeof(t));
    t.txn_open = true;
    t.batch_age = 10;
    t.batch_records = 5;
    t.since_tick = 10;
    t.tick_ms = 1000;
    t.commit_interval_ms = 100;
    t.min_commit_interval_ms = 20;
    t.max_batch = 1000;
    t.background_allowed = true;
    return t;
}

/* The commit: at the interval; at max_batch; once the batch is min_commit_interval old and
 * the consumer has nothing more at hand; never with no batch. */
static void test_turn_commits_when_due(void **state)
{
    (void)state;
    nb__turn_t t = turn_facts();
    assert_false(nb__turn_decide(&t).commit);
    t.batch_age = 100;
    assert_true(nb__turn_decide(&t).commit);
    t = turn_facts();
    t.batch_records = 1000;
    assert_true(nb__turn_decide(&t).commit);
    t = turn_facts();
    t.drained = true;
    assert_false(nb__turn_decide(&t).commit); /* younger than the minimum */
    t.batch_age = 20;
    assert_true(nb__turn_decide(&t).commit);
    t = turn_facts();
    t.txn_open = false;
    t.batch_age = 5000;
    assert_false(nb__turn_decide(&t).commit);
}

/* While input waits and the last commit is still in flight, the batch grows rather than wait;
 * up to max_batch, and not when the turn was idle. */
static void test_turn_batch_grows_while_a_commit_is_in_flight(void **state)
{
    (void)state;
    nb__turn_t t = turn_facts();
    t.batch_age = 150;
    t.committing = true;
    assert_false(nb__turn_decide(&t).commit);
    t.commit_done = true;
    assert_true(nb__turn_decide(&t).commit);
    t.commit_done = false;
    t.batch_records = 1000;
    assert_true(nb__turn_decide(&t).commit);
    t.batch_records = 5;
    t.idle = true;
    assert_true(nb__turn_decide(&t).commit);
}

/* A suspect record is committed alone, at once, on this thread, and no tick runs with it. */
static void test_turn_suspect_record_commits_alone(void **state)
{
    (void)state;
    nb__turn_t t = turn_facts();
    t.isolate_commit = true;
    t.since_tick = 5000;
    nb__turn_do_t d = nb__turn_decide(&t);
    assert_true(d.commit && d.alone);
    assert_false(d.tick);
    assert_false(d.background);
}

/* The tick: at least once a tick period; with a due commit once a commit interval; again at
 * once when idle with work left; never while catching up. */
static void test_turn_ticks(void **state)
{
    (void)state;
    nb__turn_t t = turn_facts();
    assert_false(nb__turn_decide(&t).tick);
    t.since_tick = 1000;
    assert_true(nb__turn_decide(&t).tick);
    t.catching_up = true;
    assert_false(nb__turn_decide(&t).tick);
    t = turn_facts();
    t.batch_age = 100;
    t.since_tick = 100;
    assert_true(nb__turn_decide(&t).tick);
    t = turn_facts();
    t.idle = true;
    t.tick_more = true;
    assert_true(nb__turn_decide(&t).tick);
}

/* The commit goes to the committer thread only while input waits. */
static void test_turn_background_only_under_a_backlog(void **state)
{
    (void)state;
    nb__turn_t t = turn_facts();
    t.batch_age = 100;
    assert_true(nb__turn_decide(&t).background);
    t.drained = true;
    assert_false(nb__turn_decide(&t).background);
    t.drained = false;
    t.background_allowed = false;
    assert_false(nb__turn_decide(&t).background);
    t.background_allowed = true;
    t.isolate = true;
    assert_false(nb__turn_decide(&t).background);
}

/* The poll waits until the batch is due (or its minimum age), 100 ms with no batch, and 2 ms
 * while a commit is in flight. */
static void test_turn_timeout(void **state)
{
    (void)state;
    nb__turn_t t = turn_facts();
    assert_int_equal(nb__turn_timeout(&t), 10); /* min 20, age 10 */
    t.batch_age = 30;
    assert_int_equal(nb__turn_timeout(&t), 70);
    t.batch_age = 500;
    assert_int_equal(nb__turn_timeout(&t), 0);
    t.txn_open = false;
    assert_int_equal(nb__turn_timeout(&t), 100);
    t.committing = true;
    assert_int_equal(nb__turn_timeout(&t), 2);
}

/* The key an adapter's record carries is the one `generate` gives records of its type. */
static void test_record_keys(void **state)
{
    (void)state;
    char key[256];
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    snprintf(rec.u.appt.appointment_id, sizeof(rec.u.appt.appointment_id), "APPT-7");
    assert_int_equal(nb_stream_record_key(&rec, key, sizeof(key)), 6);
    assert_string_equal(key, "APPT-7");
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_IDENTITY_LINK;
    rec.u.link.kind = NB_LINK_LINK;
    snprintf(rec.u.link.from.system, sizeof(rec.u.link.from.system), "urn:pas");
    snprintf(rec.u.link.from.value, sizeof(rec.u.link.from.value), "L1");
    assert_true(nb_stream_record_key(&rec, key, sizeof(key)) > 0);
    assert_string_equal(key, "urn:pas|L1");
    rec.u.link.kind = NB_LINK_UNBORN_TO_CHILD;
    rec.u.link.expected_delivery_date = 20000;
    assert_true(nb_stream_record_key(&rec, key, sizeof(key)) > 0);
    assert_string_equal(key, "urn:pas|L1|20000");
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_CONTEXT_FACT;
    snprintf(rec.u.fact.event_id, sizeof(rec.u.fact.event_id), "fact-1");
    assert_true(nb_stream_record_key(&rec, key, sizeof(key)) > 0);
    assert_string_equal(key, "fact-1");
    /* No rule, no key; an empty one is none either; one too long for the buffer neither. */
    rec.type = NB_RECORD_NOTIFICATION;
    assert_int_equal(nb_stream_record_key(&rec, key, sizeof(key)), 0);
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    assert_int_equal(nb_stream_record_key(&rec, key, sizeof(key)), 0);
    snprintf(rec.u.appt.appointment_id, sizeof(rec.u.appt.appointment_id), "APPT-7");
    assert_int_equal(nb_stream_record_key(&rec, key, 4), 0);
}

/* A state this release cannot read is named for what it is: a newer format or kind (a newer
 * release wrote it), or damage in the decoder's words; the message always says it is kept. */
static void test_state_refusal_says_why(void **state)
{
    (void)state;
    char why[256];
    const uint8_t newer[] = {'N', 'B', 'S', 2, 1, 0, 0};
    nb__state_refusal(newer, sizeof(newer), "", why, sizeof(why));
    assert_string_equal(why, "state format version 2 is newer than this release reads (up to "
                             "1): kept unchanged; a newer release wrote it");
    const uint8_t kind[] = {'N', 'B', 'S', 1, 7, 0};
    nb__state_refusal(kind, sizeof(kind), "", why, sizeof(why));
    assert_string_equal(why, "state kind 7 is unknown to this release (up to 6): kept "
                             "unchanged; a newer release wrote it");
    const uint8_t child[] = {'N', 'B', 'S', 1, 1, 0};
    nb__state_refusal(child, sizeof(child), "unsupported ledger format version 3", why,
                      sizeof(why));
    assert_string_equal(why,
                        "state unreadable: kept unchanged (unsupported ledger format version 3)");
    nb__state_refusal(child, 3, NULL, why, sizeof(why));
    assert_string_equal(why, "state unreadable: kept unchanged (it does not decode as this "
                             "release's format)");
    nb__state_refusal(NULL, 0, NULL, why, 8); /* cut short, still terminated */
    assert_string_equal(why, "state u");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turn_commits_when_due),
        cmocka_unit_test(test_turn_batch_grows_while_a_commit_is_in_flight),
        cmocka_unit_test(test_turn_suspect_record_commits_alone),
        cmocka_unit_test(test_turn_ticks),
        cmocka_unit_test(test_turn_background_only_under_a_backlog),
        cmocka_unit_test(test_turn_timeout),
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_remembered_entry_forgotten_on_removal),
        cmocka_unit_test(test_swap_marks),
        cmocka_unit_test(test_many_keys_against_a_model),
        cmocka_unit_test(test_values_that_move_keep_their_entry),
        cmocka_unit_test(test_timer_lives_with_its_state),
        cmocka_unit_test(test_timers_against_a_model),
        cmocka_unit_test(test_record_keys),
        cmocka_unit_test(test_state_refusal_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
