/*
 * notbrought - stream: provisional keys: events whose identity is not resolved yet, parked in the
 * state of a key of their own until a link resolves them or they expire.
 */
#include "stream/pipeline.h"

/* ---- provisional keys (parked events) -------------------------------------------------------- */

static nb__prov_t *nb__prov_find(nb__pipeline_t *p, int32_t partition,
                                 const uint8_t key[NB__KEY_LEN])
{
    nb__prov_t probe, *v;
    memset(&probe, 0, sizeof(probe));
    probe.id.partition = partition;
    memcpy(probe.id.key, key, NB__KEY_LEN);
    HASH_FIND(hh, p->prov, &probe.id, sizeof(probe.id), v);
    return v;
}

static void nb__prov_forget(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN])
{
    nb__prov_t *v = nb__prov_find(p, partition, key);
    if (v) {
        p->parked_total -= v->count;
        HASH_DEL(p->prov, v);
        free(v);
    }
}

void nb__prov_note(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
                          uint32_t count, int64_t oldest)
{
    nb__prov_forget(p, partition, key);
    if (count == 0)
        return;
    nb__prov_t *v = calloc(1, sizeof(*v));
    if (!v)
        return;
    v->id.partition = partition;
    memcpy(v->id.key, key, NB__KEY_LEN);
    v->count = count;
    v->oldest = oldest;
    HASH_ADD(hh, p->prov, id, sizeof(v->id), v);
    p->parked_total += count;
}

/* Inserts an entry (with how long it has been held). */
void nb__heap_push_e(nb__heap_t *hp, const nb__due_t *e)
{
    if (nb_grow((void **)&hp->v, &hp->cap, hp->n, sizeof(*hp->v), 1024)) {
        hp->lost = true;
        return;
    }
    size_t i = hp->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (hp->v[up].due <= e->due)
            break;
        hp->v[i] = hp->v[up];
        i = up;
    }
    hp->v[i] = *e;
}

void nb__heap_push(nb__heap_t *hp, int64_t due, const nb__tid_t *id)
{
    nb__due_t e;
    memset(&e, 0, sizeof(e));
    e.due = due;
    e.id = *id;
    nb__heap_push_e(hp, &e);
}

/* Moves the entry at @p i down to its place. */
static void nb__heap_sift_down(nb__heap_t *hp, size_t i)
{
    nb__due_t x = hp->v[i];
    size_t n = hp->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && hp->v[c + 1].due < hp->v[c].due)
            c++;
        if (x.due <= hp->v[c].due)
            break;
        hp->v[i] = hp->v[c];
        i = c;
    }
    hp->v[i] = x;
}

void nb__heap_pop(nb__heap_t *hp)
{
    hp->v[0] = hp->v[--hp->n];
    if (hp->n > 0)
        nb__heap_sift_down(hp, 0);
}

/* Restores the heap order of every entry (after entries were taken out of the middle). */
void nb__heapify(nb__heap_t *hp)
{
    for (size_t i = hp->n / 2; i-- > 0;)
        nb__heap_sift_down(hp, i);
}

/* A walk of one partition's states. */
typedef struct nb__walk_s {
    nb__pipeline_t *p;
    nb__tid_t id; /* the partition, and the key walked */
} nb__walk_t;

static int nb__rebuild_cb(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val,
                          size_t len, nb__timer_slot_t *timer)
{
    nb__walk_t *w = opaque;
    (void)val;
    (void)len;
    if (timer->due != NB_TIME_NONE) {
        memcpy(w->id.key, key, NB__KEY_LEN);
        nb__heap_push(&w->p->heap, timer->due, &w->id);
    }
    return 0;
}

size_t nb__pipeline_state_bytes(const nb__pipeline_t *p, const nb_stream_t *st)
{
    return nb__stream_state_bytes(st) + (p->heap.cap + p->held.cap) * sizeof(nb__due_t);
}

/* Drops the stale entries: one entry per timer again, on the heap it belongs to. Walks every
 * state of the owned partitions (the timers are kept with them). */
void nb__heap_rebuild(nb__pipeline_t *p, nb_stream_t *st)
{
    p->heap.n = 0;
    p->heap.lost = false;
    p->held.n = 0;
    p->held.lost = false;
    nb__walk_t w;
    memset(&w, 0, sizeof(w));
    w.p = p;
    for (int32_t part = 0; part < nb__stream_partitions(st); part++) {
        w.id.partition = part;
        nb__state_scan(st, part, nb__rebuild_cb, &w);
    }
}

void nb__timer_set(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                   const uint8_t key[NB__KEY_LEN], int64_t due)
{
    nb__timer_set_esc(p, st, partition, key, due, NB_TIME_NONE);
}

/* @p esc: the next escalation when it is later than @p due (an absence deadline), else
 * NB_TIME_NONE. The timer lives with the key's state: a key without state has none. */
void nb__timer_set_esc(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                       const uint8_t key[NB__KEY_LEN], int64_t due, int64_t esc)
{
    nb__timer_slot_t t, old;
    t.due = due;
    t.esc = due != NB_TIME_NONE && esc != due ? esc : NB_TIME_NONE;
    if (!nb__state_timer_set(st, partition, key, &t, &old) || due == NB_TIME_NONE)
        return;
    nb__tid_t id;
    id.partition = partition;
    memcpy(id.key, key, NB__KEY_LEN);
    if (t.esc != old.esc && t.esc != NB_TIME_NONE && old.due == due)
        nb__heap_push(&p->heap, t.esc, &id); /* a new escalation behind a held deadline */
    if (old.due != due) {
        /* Stale entries are dropped by a walk of every state: let them grow with the states
         * too, so that the walk stays a small share of the pushes that made it needed. The
         * bound is counted again only when the heaps reach the last one counted. */
        if (p->heap.n + p->held.n >= p->heap_bound)
            p->heap_bound = 2 * nb__stream_timed(st) + nb__stream_keys(st) / 4 + 4096;
        if (p->heap.n + p->held.n >= p->heap_bound)
            nb__heap_rebuild(p, st);
        else
            nb__heap_push(&p->heap, due, &id);
    }
}

/* The timer a state value sets: a child's next escalation or absence deadline (read without
 * decoding the ledger), or a digest's period end. */
static int64_t nb__state_due(const uint8_t *val, size_t len)
{
    if (val && len >= 13 && val[4] == NB__STATE_DIGEST)
        return (int64_t)nb_le_get(val + 5, 8);
    if (!val || len < 6 || !NB__IS_CHILD(val[4]))
        return NB_TIME_NONE;
    size_t at = 6 + val[5];
    if (len < at + 1)
        return NB_TIME_NONE;
    at += 1 + val[at];
    if (len < at + 4)
        return NB_TIME_NONE;
    uint32_t llen = (uint32_t)nb_le_get(val + at, 4);
    at += 4 + (size_t)llen;
    if (len < at + 8)
        return NB_TIME_NONE;
    return (int64_t)nb_le_get(val + at, 8);
}


void nb__parked_origin(const nb__parked_t *e, nb__origin_t *o)
{
    memset(o, 0, sizeof(*o));
    o->topic = e->topic;
    o->partition = e->partition;
    o->offset = e->offset;
    o->ts = e->ts;
    o->key = e->key;
    o->key_len = e->key_len;
    o->headers = e->headers;
    o->headers_len = e->headers_len;
}

/* Parses a provisional value; calls cb per event in arrival order. @returns -1 if corrupt. */
int nb__parked_each(const uint8_t *val, size_t len,
                           int (*cb)(void *, const nb__parked_t *), void *opaque)
{
    nb__rd_t r = {val, val + len, false};
    const uint8_t *hdr = nb__take(&r, 5);
    if (!hdr || memcmp(hdr, "NBS\1", 4) != 0 || !NB__IS_PARKED(hdr[4]))
        return -1;
    bool v4 = hdr[4] == NB__STATE_PARKED;
    uint32_t n = (uint32_t)nb__rd_le(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        nb__parked_t e;
        e.parked_at = (int64_t)nb__rd_le(&r, 8);
        e.offset = (int64_t)nb__rd_le(&r, 8);
        e.ts = (int64_t)nb__rd_le(&r, 8);
        e.partition = (int32_t)(uint32_t)nb__rd_le(&r, 4);
        const uint8_t *tl = nb__take(&r, 2);
        size_t tlen = tl ? (size_t)nb_le_get(tl, 2) : 0;
        const uint8_t *t = nb__take(&r, tlen);
        if (r.bad || tlen > NB_IDENTITY_TOPIC_MAX)
            return -1;
        memcpy(e.topic, t, tlen);
        e.topic[tlen] = '\0';
        e.len = (uint32_t)nb__rd_le(&r, 4);
        e.data = nb__take(&r, e.len);
        e.key = e.headers = NULL;
        e.key_len = e.headers_len = 0;
        if (v4) {
            uint32_t kl = (uint32_t)nb__rd_le(&r, 4);
            if (kl != NB__NO_KEY) {
                e.key_len = kl;
                e.key = kl ? nb__take(&r, kl) : (const uint8_t *)"";
            }
            e.headers_len = (uint32_t)nb__rd_le(&r, 4);
            e.headers = e.headers_len ? nb__take(&r, e.headers_len) : NULL;
        }
        if (r.bad)
            return -1;
        int rc = cb(opaque, &e);
        if (rc)
            return rc;
    }
    return r.bad || r.p != r.end ? -1 : 0;
}

static int nb__count_cb(void *opaque, const nb__parked_t *e)
{
    int64_t *acc = opaque; /* [count, oldest] */
    if (acc[0] == 0 || e->parked_at < acc[1])
        acc[1] = e->parked_at;
    acc[0]++;
    return 0;
}

/* Keeps the index of pregnancies under a local identifier's key in step with a state value
 * (NULL: removed). */
void nb__preg_note(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
                          const uint8_t *val, size_t len)
{
    nb__pregidx_note(p->pregs, partition, key, val, len);
}

/* The pipeline's indexes other than the timers (parked events, pregnancies under a local
 * identifier's key) for one state value (NULL: none). */
static void nb__indexes_note(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
                             const uint8_t *val, size_t len)
{
    nb__preg_note(p, partition, key, val, len);
    if (!val || len < 5 || !NB__IS_PARKED(val[4])) {
        nb__prov_forget(p, partition, key);
        return;
    }
    int64_t acc[2] = {0, 0};
    if (nb__parked_each(val, len, nb__count_cb, acc) < 0) {
        NB_LOG(NB_LOG_ERROR, "stream", "partition %d: corrupt parked state ignored",
               (int)partition);
        return;
    }
    nb__prov_note(p, partition, key, (uint32_t)acc[0], acc[1]);
}

void nb__pipeline_state_loaded(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                               const uint8_t key[NB__KEY_LEN], const uint8_t *val, size_t len)
{
    /* Links may have arrived while this state was elsewhere or rolled back. */
    p->recheck = true;
    p->merges_dirty = true;
    nb__timer_set(p, st, partition, key, nb__state_due(val, len));
    nb__indexes_note(p, partition, key, val, len);
}

int nb__pipeline_restore_scan(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val,
                              size_t len, nb__timer_slot_t *timer)
{
    nb__restored_t *r = opaque;
    timer->due = nb__state_due(val, len);
    timer->esc = NB_TIME_NONE;
    if (timer->due != NB_TIME_NONE) {
        if (nb_grow((void **)&r->timers, &r->cap_timers, r->n_timers, sizeof(*r->timers), 1024)) {
            r->lost = true;
            return 1;
        }
        r->timers[r->n_timers].due = timer->due;
        memcpy(r->timers[r->n_timers++].key, key, NB__KEY_LEN);
    }
    if (len >= 5 && (NB__IS_PARKED(val[4]) || val[4] == NB__STATE_PREG)) {
        if (nb_grow((void **)&r->keys, &r->cap_keys, r->n_keys, sizeof(*r->keys), 64)) {
            r->lost = true;
            return 1;
        }
        memcpy(r->keys[r->n_keys++], key, NB__KEY_LEN);
    }
    return 0;
}

void nb__restored_free(nb__restored_t *r)
{
    free(r->timers);
    free(r->keys);
    memset(r, 0, sizeof(*r));
}

/* A state restored whose timer and indexes the restore thread could not list. */
static int nb__reload_cb(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val,
                         size_t len, nb__timer_slot_t *timer)
{
    nb__walk_t *w = opaque;
    timer->due = nb__state_due(val, len);
    timer->esc = NB_TIME_NONE;
    memcpy(w->id.key, key, NB__KEY_LEN);
    if (timer->due != NB_TIME_NONE)
        nb__heap_push(&w->p->heap, timer->due, &w->id);
    nb__indexes_note(w->p, w->id.partition, key, val, len);
    return 0;
}

void nb__pipeline_partition_restored(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                                     const nb__restored_t *r)
{
    p->recheck = true;
    p->merges_dirty = true;
    nb__walk_t w;
    memset(&w, 0, sizeof(w));
    w.p = p;
    w.id.partition = partition;
    if (r->lost) {
        nb__state_scan(st, partition, nb__reload_cb, &w);
        return;
    }
    for (size_t i = 0; i < r->n_timers; i++) {
        memcpy(w.id.key, r->timers[i].key, NB__KEY_LEN);
        nb__heap_push(&p->heap, r->timers[i].due, &w.id);
    }
    for (size_t i = 0; i < r->n_keys; i++) {
        size_t len = 0;
        const uint8_t *val = nb__state_get(st, partition, r->keys[i], &len);
        nb__indexes_note(p, partition, r->keys[i], val, len);
    }
}

void nb__pipeline_partition_dropped(nb__pipeline_t *p, int32_t partition)
{
    nb__pregidx_drop_partition(p->pregs, partition);
    nb__prov_t *v, *tmp;
    HASH_ITER(hh, p->prov, v, tmp)
    {
        if (v->id.partition == partition) {
            p->parked_total -= v->count;
            HASH_DEL(p->prov, v);
            free(v);
        }
    }
}

/* Serialises one parked entry (kind 4). The writes are sticky: the caller checks b->err. */
void nb__put_entry(nb_buf_t *b, const nb__parked_t *e)
{
    nb_buf_add_le(b, (uint64_t)e->parked_at, 8);
    nb_buf_add_le(b, (uint64_t)e->offset, 8);
    nb_buf_add_le(b, (uint64_t)e->ts, 8);
    nb_buf_add_le(b, (uint32_t)e->partition, 4);
    size_t tl0 = strlen(e->topic);
    uint16_t tlen = (uint16_t)(tl0 > NB_IDENTITY_TOPIC_MAX ? NB_IDENTITY_TOPIC_MAX : tl0);
    nb_buf_add_le(b, tlen, 2);
    nb_buf_add(b, e->topic, tlen);
    nb_buf_add_le(b, e->len, 4);
    nb_buf_add(b, e->data, e->len);
    nb_buf_add_le(b, e->key ? e->key_len : NB__NO_KEY, 4);
    if (e->key)
        nb_buf_add(b, e->key, e->key_len);
    nb_buf_add_le(b, e->headers ? e->headers_len : 0, 4);
    if (e->headers)
        nb_buf_add(b, e->headers, e->headers_len);
}

static int nb__put_entry_cb(void *opaque, const nb__parked_t *e)
{
    nb__put_entry(opaque, e);
    return 0;
}

/* The audit's record of an event parked under a provisional key (the key in its child_key):
 * what the board's figures count as waiting for an identity link until the same event id is
 * received for a child. An event that does not decode here was parked as it came: no record. */
NB_NODISCARD static nb_err_t nb__audit_parked(nb__pipeline_t *p, nb_stream_t *st,
                                              const nb__msg_t *m, int64_t now)
{
    static _Thread_local nb_record_t dec;
    nb_audit_t *a = &p->audit->u.audit;
    char errstr[128];
    if (nb_codec_decode(p->codec, m->value, m->len, NB_RECORD_NONE, &dec, errstr,
                        sizeof(errstr)))
        return NB_ERR_OK;
    if (dec.type == NB_RECORD_APPOINTMENT)
        nb_audit_received_appointment(&dec.u.appt, m->key_hex, now, a);
    else if (dec.type == NB_RECORD_CONTEXT_FACT)
        nb_audit_received_fact(&dec.u.fact, m->key_hex, now, a);
    else
        return NB_ERR_OK;
    a->kind = NB_AUDIT_PARKED;
    nb_audit_set_id(a, a->event.event_id, m->key_hex, 0);
    return nb__audit(p, st);
}

/* Appends one event to a provisional key's parked list. */
nb_err_t nb__park(nb__pipeline_t *p, nb_stream_t *st, int32_t part, const nb__msg_t *m,
                         int64_t now)
{
    size_t old_len = 0;
    const uint8_t *old = nb__state_get(st, part, m->key, &old_len);
    uint32_t n = 0;
    if (old) {
        if (old_len < 9 || !NB__IS_PARKED(old[4]))
            return NB_ERR_LEDGER_CORRUPT;
        n = (uint32_t)nb_le_get(old + 5, 4);
    }
    if (p->parked_total >= (size_t)p->conf->park_max || n >= NB__MAX_PARKED_PER_KEY)
        return nb__msg_dead_letter(p, st, m, NB_ERR_IDENTITY_PARK_FULL,
                                   "too many events are waiting for identity links");
    nb_buf_t b = {0}, packed = {0};
    nb_buf_add(&b, "NBS\1", 4);
    uint8_t kind = NB__STATE_PARKED;
    nb_buf_add(&b, &kind, 1);
    nb_buf_add_le(&b, n + 1, 4);
    if (old && old[4] == NB__STATE_PARKED)
        nb_buf_add(&b, old + 9, old_len - 9);
    else if (old && nb__parked_each(old, old_len, nb__put_entry_cb, &b) < 0) /* kind 2 */
        nb_buf_free(&b);
    if (b.err) {
        nb_err_t err = b.err;
        nb_buf_free(&b);
        return err;
    }
    if (!b.data) /* an old value that does not parse */
        return NB_ERR_LEDGER_CORRUPT;
    nb__origin_t o;
    nb__msg_origin(m, &packed, &o);
    nb__parked_t e;
    memset(&e, 0, sizeof(e));
    e.parked_at = now;
    e.offset = o.offset;
    e.ts = o.ts;
    e.partition = o.partition;
    nb_str_copy(e.topic, sizeof(e.topic), o.topic ? o.topic : "");
    e.data = m->value;
    e.len = (uint32_t)m->len;
    e.key = o.key;
    e.key_len = (uint32_t)o.key_len;
    e.headers = o.headers;
    e.headers_len = (uint32_t)o.headers_len;
    nb__put_entry(&b, &e);
    nb_err_t err = b.err ? b.err : packed.err;
    if (!err)
        err = nb__state_put(st, part, m->key, b.data, b.len);
    if (!err && m->sugg)
        err = nb__suggestion_publish(p->codec, st, part, m->key, m->sugg, m->sugg_len);
    if (!err)
        err = nb__audit_parked(p, st, m, now);
    if (!err) {
        /* One more event; the oldest stays the oldest (no re-parse of the whole list). */
        nb__prov_t *v = nb__prov_find(p, part, m->key);
        nb__prov_note(p, part, m->key, n + 1, v && n > 0 ? v->oldest : now);
    }
    nb_buf_free(&b);
    nb_buf_free(&packed);
    return err;
}
