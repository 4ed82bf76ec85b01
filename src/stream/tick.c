/*
 * notbrought - stream: once per batch (the tick): parked events released or expired, histories
 * merged, timers fired (escalations, absence deadlines, digests).
 */
#include "stream/pipeline.h"

/* ---- once per batch: release parked events, expire, merge ----------------------------------------- */

typedef struct nb__release_s {
    nb__pipeline_t *p;
    nb_stream_t *st;
    int64_t now;
    bool resolved;       /* the first event told us where the key now goes */
    uint32_t kept;       /* events still waiting */
    nb_buf_t keep;       /* their serialised entries */
    nb_err_t err;
    int64_t oldest;
} nb__release_t;

NB_NODISCARD static nb_err_t nb__dead_letter_parked(nb_stream_t *st, const nb__parked_t *e,
                                                    nb_err_t code, const char *reason)
{
    nb__origin_t o;
    nb__parked_origin(e, &o);
    return nb__dead_letter_origin(st, &o, e->data, e->len, code, reason);
}

static int nb__release_cb(void *opaque, const nb__parked_t *e)
{
    nb__release_t *r = opaque;
    nb__pipeline_t *p = r->p;
    nb_record_t rec;
    if (r->err)
        return 1;
    if (e->parked_at + p->conf->park_retention_ms <= r->now) {
        r->err = nb__dead_letter_parked(r->st, e, NB_ERR_IDENTITY_EXPIRED,
                                        "no identity link arrived within the retention period");
        return r->err ? 1 : 0;
    }
    nb_identity_subject_t subj;
    nb_identity_resolution_t res;
    nb_err_t err = nb_codec_decode(p->codec, e->data, e->len, NB_RECORD_NONE, &rec, p->errstr,
                                   sizeof(p->errstr));
    if (!err && rec.type == NB_RECORD_APPOINTMENT)
        nb_identity_subject_of_appointment(&subj, &rec.u.appt);
    else if (!err && rec.type == NB_RECORD_CONTEXT_FACT)
        nb_identity_subject_of_fact(&subj, &rec.u.fact);
    else
        err = err ? err : NB_ERR_SCHEMA_MISMATCH;
    if (!err)
        err = nb_identity_resolve(p->idt, &subj, &res, p->errstr, sizeof(p->errstr));
    if (err == NB_ERR_IDENTITY_UNRESOLVED) {
        if (r->kept == 0 || e->parked_at < r->oldest)
            r->oldest = e->parked_at;
        r->kept++;
        nb__put_entry(&r->keep, e);
        return 0;
    }
    if (err) {
        r->err = nb__dead_letter_parked(r->st, e, err, p->errstr);
        return r->err ? 1 : 0;
    }
    r->resolved = true;
    nb__stream_counters(r->st)->released++;
    nb__msg_t m;
    memset(&m, 0, sizeof(m));
    m.kind = NB__K_EVENT;
    nb_str_copy(m.key_hex, sizeof(m.key_hex), res.key);
    if (!nb__unhex32(m.key_hex, m.key)) {
        r->err = NB_ERR_INVALID_ARG;
        return 1;
    }
    m.value = e->data;
    m.len = e->len;
    m.rec = &rec;
    m.nhs = res.nhs_number;
    m.mother = nb__mother_of(&rec);
    nb__parked_origin(e, &m.src);
    r->err = nb__deliver(p, r->st, &m, r->now);
    return r->err ? 1 : 0;
}

/* Re-resolves the events of one provisional key; releases or expires what it can. */
NB_NODISCARD static nb_err_t nb__recheck(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                         const uint8_t key[NB__KEY_LEN], int64_t now)
{
    size_t len;
    const uint8_t *val = nb__state_get(st, part, key, &len);
    if (!val)
        return NB_ERR_OK;
    nb__release_t r;
    memset(&r, 0, sizeof(r));
    r.p = p;
    r.st = st;
    r.now = now;
    /* The callback may emit; copy the value, since emitting may not but state_put will. */
    uint8_t *copy = malloc(len);
    if (!copy)
        return NB_ERR_NOMEM;
    memcpy(copy, val, len);
    int rc = nb__parked_each(copy, len, nb__release_cb, &r);
    nb_err_t err = r.err;
    if (!err && rc < 0)
        err = NB_ERR_LEDGER_CORRUPT;
    uint32_t before = 0;
    if (!err) {
        before = (uint32_t)nb_le_get(copy + 5, 4);
    }
    if (!err && r.kept != before) {
        nb_buf_t b = {0};
        if (r.kept > 0) {
            nb_buf_add(&b, "NBS\1", 4);
            uint8_t kind = NB__STATE_PARKED;
            nb_buf_add(&b, &kind, 1);
            nb_buf_add_le(&b, r.kept, 4);
            nb_buf_add(&b, r.keep.data, r.keep.len);
        }
        err = b.err ? b.err : r.keep.err;
        if (!err)
            err = nb__state_put(st, part, key, b.data, b.len);
        if (!err && r.kept == 0)
            err = nb__suggestion_forget(st, part, key);
        if (!err)
            nb__prov_note(p, part, key, r.kept, r.oldest);
        nb_buf_free(&b);
    }
    nb_buf_free(&r.keep);
    free(copy);
    return err;
}

/* Pregnancies kept under a local identifier's key: once a link names the pregnant person's
 * NHS number (or a birth link names the baby), their history moves to where the pregnancy
 * resolves now. */
NB_NODISCARD static nb_err_t nb__pregs_recheck(nb__pipeline_t *p, nb_stream_t *st, int64_t now)
{
    nb__pregidx_entry_t *todo; /* copies: moving changes the index */
    size_t k;
    if (nb__pregidx_owned(p->pregs, st, &todo, &k))
        return NB_ERR_NOMEM;
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; i < k && !err; i++) {
        char hex[NB_KEY_MAX + 1];
        nb_identity_resolution_t res;
        nb__key_hex(todo[i].key, hex);
        nb_err_t e = nb_identity_pregnancy_locate(p->idt, &todo[i].ref, hex, &res);
        if (e == NB_ERR_IDENTITY_CONFLICT) {
            NB_LOG(NB_LOG_WARN, "identity",
                   "pregnancy %.12s: joined to two children through two identifiers; its "
                   "history stays where it is until a human resolves the conflict",
                   hex);
            continue;
        }
        if (e)
            err = e;
        else if (strcmp(res.key, hex) != 0)
            err = nb__move_here(p, st, todo[i].partition, todo[i].key, hex, res.key, now);
    }
    free(todo);
    return err;
}

void nb__pipeline_set_watermark(nb__pipeline_t *p, int64_t wm, int64_t wall)
{
    p->absence_now = wm;
    p->wall = wall;
}

uint64_t nb__pipeline_released(const nb__pipeline_t *p)
{
    return p->released;
}

int64_t nb__pipeline_last_recorded(const nb__pipeline_t *p)
{
    return p->last_recorded;
}

size_t nb__pipeline_held(const nb__pipeline_t *p)
{
    return p->held.n;
}

bool nb__pipeline_tick_more(const nb__pipeline_t *p)
{
    return p->tick_more;
}

/* Parked events rechecked (links changed) or expired (past identity.park_retention); the
 * oldest parked event's time into @p oldest. */
NB_NODISCARD static nb_err_t nb__tick_parked(nb__pipeline_t *p, nb_stream_t *st, int64_t now,
                                             int64_t *oldest)
{
    nb_err_t err = NB_ERR_OK;
    bool links_changed = p->recheck;
    /* Collect first: rechecking changes the set. */
    size_t n = HASH_COUNT(p->prov), k = 0;
    if (n > 0) {
        /* Copies of the ids: releasing may deliver here and change the indexes. */
        nb__prov_t *todo = malloc(n * sizeof(*todo));
        if (!todo)
            return NB_ERR_NOMEM;
        nb__prov_t *v, *tmp;
        HASH_ITER(hh, p->prov, v, tmp)
        {
            if (*oldest == NB_TIME_NONE || v->oldest < *oldest)
                *oldest = v->oldest;
            if (nb__owns(st, v->id.partition) &&
                (links_changed || v->oldest + p->conf->park_retention_ms <= now))
                todo[k++] = *v;
        }
        for (size_t i = 0; i < k && !err; i++)
            err = nb__recheck(p, st, todo[i].id.partition, todo[i].id.key, now);
        free(todo);
    }
    if (!err && links_changed)
        err = nb__pregs_recheck(p, st, now);
    if (!err)
        p->recheck = false;
    return err;
}

/* Held deadlines the watermark has passed now: due again. Those held for
 * processing.watermark_max_hold_ms are due too, judged at the clock (a slow or stuck source
 * never silences the protocol). */
static void nb__tick_unhold(nb__pipeline_t *p, int64_t now, int64_t absence_now)
{
    while (p->held.n > 0 && p->held.v[0].due <= absence_now) {
        nb__due_t e = p->held.v[0];
        nb__heap_pop(&p->held);
        nb__heap_push(&p->heap, e.due, &e.id);
    }
    if (p->held.n == 0)
        return;
    size_t released = 0;
    for (size_t i = 0; i < p->held.n;) {
        nb__due_t e = p->held.v[i];
        if (e.held == 0 || p->wall - e.held < p->conf->watermark_max_hold_ms) {
            i++;
            continue;
        }
        /* Out of heap order: remove by swapping the last in and rebuilding below. */
        p->held.v[i] = p->held.v[--p->held.n];
        e.at_clock = true;
        nb__heap_push_e(&p->heap, &e);
        released++;
    }
    if (released > 0) {
        nb__heapify(&p->held); /* what stays held, in heap order again */
        p->released += released;
        NB_LOG(NB_LOG_WARN, "stream",
               "%zu absence deadlines waited processing.watermark_max_hold_ms (%lld ms) for the "
               "sources to be read past them, %lld s behind the clock: judged at the clock now",
               released, (long long)p->conf->watermark_max_hold_ms,
               (long long)((now - absence_now) / 1000));
    }
}

/* The timers due by @p now, taken off the heap (copies, since handling one may deliver digest
 * items here and change the timers); how many were overdue by more than a minute into
 * @p overdue. @returns the array (NULL when none: *n 0), the caller frees it. */
static nb__due_t *nb__tick_collect(nb__pipeline_t *p, nb_stream_t *st, int64_t now, size_t *n,
                                   size_t *overdue)
{
    size_t kt = 0, cap = 0;
    nb__due_t *due = NULL;
    while (p->heap.n > 0 && p->heap.v[0].due <= now) {
        nb__due_t e = p->heap.v[0];
        nb__timer_slot_t t;
        nb__heap_pop(&p->heap);
        if (!nb__state_timer(st, e.id.partition, e.id.key, &t) ||
            (t.due != e.due && t.esc != e.due))
            continue; /* stale, or its partition not owned now */
        if (kt == cap) {
            cap = cap ? cap * 2 : 64;
            nb__due_t *v = realloc(due, cap * sizeof(*v));
            if (!v) {
                nb__heap_push(&p->heap, e.due, &e.id);
                break;
            }
            due = v;
        }
        if (e.due + 60000 < now)
            overdue[0]++;
        due[kt++] = e;
    }
    *n = kt;
    return due;
}

/* One timer due: a digest published, or a child's lifecycle run (an escalation, an absence
 * deadline); then, if nothing moved it, the timer goes back on the heap, or is held while the
 * watermark has not reached its absence deadline. */
NB_NODISCARD static nb_err_t nb__tick_one(nb__pipeline_t *p, nb_stream_t *st, const nb__due_t *e,
                                          int64_t now, int64_t absence_now)
{
    nb_err_t err = NB_ERR_OK;
    int32_t part = e->id.partition;
    uint8_t key[NB__KEY_LEN];
    char key_hex[NB_KEY_MAX + 1];
    size_t len;
    nb__timer_slot_t t;
    memcpy(key, e->id.key, NB__KEY_LEN);
    if (!nb__state_timer(st, part, key, &t) || (t.due != e->due && t.esc != e->due))
        return NB_ERR_OK; /* handled meanwhile */
    nb__key_hex(key, key_hex);
    const uint8_t *val = nb__state_get(st, part, key, &len);
    bool absence = false; /* the child's timer is an absence deadline, not an escalation */
    if (val && len >= 5 && val[4] == NB__STATE_DIGEST) {
        nb__digest_t d;
        if (nb__digest_load(val, len, &d))
            nb__timer_set(p, st, part, key, NB_TIME_NONE);
        else
            err = nb__digest_publish(p, st, part, key, &d, now);
    } else {
        nb__child_t c;
        if (!val || nb__child_load(p, val, len, p->led, &c)) {
            nb__timer_set(p, st, part, key, NB_TIME_NONE);
        } else {
            int64_t wm = p->absence_now;
            if (e->at_clock)
                p->absence_now = NB_TIME_NONE;
            err = nb__lifecycle(p, st, &c, key_hex, true, now);
            p->absence_now = wm;
            absence = c.due != c.due_esc;
            if (!err)
                err = nb__child_save(p, st, part, key, &c);
        }
    }
    /* Still due at the same time (nothing moved it): an absence deadline the watermark has not
     * reached waits for it (since when, kept); anything else again at the next tick. */
    if (nb__state_timer(st, part, key, &t) && t.due == e->due) {
        nb__due_t h = *e;
        h.held = e->held ? e->held : p->wall;
        h.at_clock = false;
        bool held = absence && t.due > absence_now && !e->at_clock;
        nb__heap_push_e(held ? &p->held : &p->heap, &h);
        /* Held: its escalation is still due at its own time. */
        if (held && t.esc != NB_TIME_NONE)
            nb__heap_push(&p->heap, t.esc, &e->id);
    }
    return err;
}

/* Merges: the history of a superseded number or a born pregnancy moves to the child. */
NB_NODISCARD static nb_err_t nb__tick_merges(nb__pipeline_t *p, nb_stream_t *st, int64_t now)
{
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; i < p->n_merges && !err; i++) {
        nb__merge_t *m = &p->merges[i];
        int32_t part = nb__partition_of(st, m->from);
        size_t len;
        const uint8_t *val = nb__state_get(st, part, m->from, &len);
        if (!val || len < 5 || !NB__IS_CHILD(val[4]))
            continue;
        nb__msg_t msg;
        memset(&msg, 0, sizeof(msg));
        msg.kind = NB__K_MERGE;
        memcpy(msg.key, m->into, NB__KEY_LEN);
        nb_str_copy(msg.key_hex, sizeof(msg.key_hex), m->into_hex);
        msg.value = val;
        msg.len = len;
        err = nb__deliver(p, st, &msg, now);
        if (!err)
            err = nb__state_put(st, part, m->from, NULL, 0);
        if (!err)
            nb__preg_note(p, part, m->from, NULL, 0);
    }
    if (!err)
        p->merges_dirty = false;
    return err;
}

nb_err_t nb__pipeline_tick(nb__pipeline_t *p, nb_stream_t *st, int64_t now)
{
    /* Gauges, observed by the same passes that collect the work: parked events and the
     * oldest one's age; open notifications, and those whose next rung is overdue (due more
     * than a minute ago means escalation is not keeping up). */
    nb_metrics_t *metrics = nb__stream_metrics(st);
    int64_t oldest = NB_TIME_NONE;
    size_t overdue = 0;
    nb_metrics_set(metrics, NB_M_PARKED_EVENTS, NULL, (double)p->parked_total);
    nb_metrics_set(metrics, NB_M_NOTIFICATIONS_OPEN, NULL, (double)nb__stream_timed(st));
    nb_metrics_set(metrics, NB_M_CHILDREN, NULL, (double)nb__stream_keys(st));
    nb_metrics_set(metrics, NB_M_STATE_BYTES, NULL, (double)nb__pipeline_state_bytes(p, st));
    nb_err_t err = nb__tick_parked(p, st, now, &oldest);
    if (err)
        return err;
    /* Escalations that fell due (also those that fell due while this instance was down). */
    if (p->heap.lost || p->held.lost)
        nb__heap_rebuild(p, st);
    int64_t absence_now = p->absence_now == NB_TIME_NONE || p->absence_now > now ? now
                                                                                  : p->absence_now;
    nb__tick_unhold(p, now, absence_now);
    size_t kt;
    nb__due_t *due = nb__tick_collect(p, st, now, &kt, &overdue);
    /* Many escalations fall due at once after a backlog, an outage or a restart: at most
     * NB__TICK_BUDGET_MS of them per tick, the rest stay on the heap for the next tick (the
     * loop ticks again as soon as it is idle), so that new events are not held up behind
     * them. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t di = 0;
    p->has_cause = false; /* what falls due now was caused by no record */
    p->has_fact_cause = false;
    p->tick_more = false;
    for (; di < kt && !err; di++) {
        if ((di & 15) == 15) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >=
                NB__TICK_BUDGET_MS) {
                p->tick_more = true;
                break;
            }
        }
        err = nb__tick_one(p, st, &due[di], now, absence_now);
    }
    /* Not reached (the budget, or an error): back on the heap (an abort restores the rest). */
    for (; di < kt; di++)
        nb__heap_push(&p->heap, due[di].due, &due[di].id);
    free(due);
    if (err)
        return err;
    nb_metrics_set(metrics, NB_M_PARKED_OLDEST_AGE, NULL,
                   oldest == NB_TIME_NONE ? 0.0 : (double)(now - oldest) / 1e3);
    nb_metrics_set(metrics, NB_M_NOTIFICATIONS_OVERDUE, NULL, (double)overdue);
    return p->merges_dirty ? nb__tick_merges(p, st, now) : NB_ERR_OK;
}
