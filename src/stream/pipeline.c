/*
 * notbrought - stream: the pipeline. What each record means, by calling the pure core
 * (codec, identity, ledger, policy). Kafka I/O goes through the runtime's nb__emit() and
 * nb__state_*() so that it belongs to the current transaction.
 *
 * State of a by-child partition, one value per key (the changelog value):
 *   "NBS" 1, kind byte, then
 *   kind 1 (child):       u8 nhs_len, nhs digits, u8 len, pregnant person's NHS number
 *                         (pregnancies), u32 ledger_len, ledger (nb_ledger_encode),
 *                         i64 next escalation due (or INT64_MIN), notify state
 *   kind 4 (provisional): u32 n, then n parked events: i64 parked_at, i64 offset, i64 ts,
 *                         i32 partition, u16 topic_len, topic, u32 len, bytes, u32 key_len
 *                         (UINT32_MAX: no key), key, u32 headers_len, headers (packed by
 *                         nb__headers_pack; 0: none). The original key and headers are kept
 *                         for the dead letter of an event that expires or is refused.
 *   kind 2 (provisional, before kind 4): the same without key and headers; still read, and
 *                         rewritten as kind 4 when the key changes.
 *   kind 3 (digest):      i64 period end, u8 len role, u8 len route, u8 n, then n items:
 *                         u8 len + string for id, reference, child key, NHS number, rule id;
 *                         u8 tier, i64 decided at
 *   kind 5 (suggested):   the link suggestions a provisional key has published, under a key
 *                         derived from it (suggest.c)
 *   kind 6 (pregnancy named by a local identifier, no link known yet): kind 1, then the
 *                         identity's pregnancy reference (16-byte keyed digest of the
 *                         identifier, i32 expected delivery date), so that the owner can move
 *                         the state once a link names the pregnant person's NHS number
 *                         (nb_identity_pregnancy_locate), after any restart.
 * Digest keys (a hash of recipient role and period) gather low-tier notifications of rules
 * with a digest setting; the key's owner publishes one digest when the period ends.
 * Provisional keys hold events whose identity is not resolved yet (keyed by a hash of what
 * would resolve them). They are re-resolved whenever the identity table changes and released,
 * in arrival order, to the child they then resolve to. Keeping them in the same transactional
 * state as the ledgers is what makes parking exactly-once.
 *
 * All integers little-endian.
 */
#include "stream/internal.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* The tables here are keyed by {int32 partition, 32-byte key}; keys are uniform already: bytes
 * 8-11 of the key are the bucket hash (bytes 0-3 choose the partition). */
#define HASH_FUNCTION(keyptr, keylen, hashv)                                                     \
    do {                                                                                         \
        const uint8_t *hk_ = (const uint8_t *)(keyptr) + 12;                                     \
        (void)(keylen);                                                                          \
        (hashv) = (unsigned)hk_[0] | (unsigned)hk_[1] << 8 | (unsigned)hk_[2] << 16 |            \
                  (unsigned)hk_[3] << 24;                                                        \
    } while (0)
#include <uthash.h>

#include "notbrought/identity.h"
#include "notbrought/ledger.h"
#include "notbrought/notify.h"
#include "notbrought/policy.h"

#define NB__STATE_CHILD 1
#define NB__STATE_PROVISIONAL 2
#define NB__STATE_DIGEST 3
#define NB__STATE_PARKED 4
#define NB__IS_PARKED(kind) ((kind) == NB__STATE_PARKED || (kind) == NB__STATE_PROVISIONAL)
#define NB__IS_CHILD(kind) ((kind) == NB__STATE_CHILD || (kind) == NB__STATE_PREG)

#define NB__MAX_PARKED_PER_KEY 10000

/* A provisional key in an owned partition. */
typedef struct nb__prov_s {
    struct {
        int32_t partition;
        uint8_t key[NB__KEY_LEN];
    } id;
    int64_t oldest;
    uint32_t count;
    UT_hash_handle hh;
} nb__prov_t;

/* A key of an owned partition. */
typedef struct nb__tid_s {
    int32_t partition;
    uint8_t key[NB__KEY_LEN];
} nb__tid_t;


/* A child with an open notification whose next escalation rung falls due at `due` (or a
 * digest whose period ends then). */
typedef struct nb__timer_s {
    nb__tid_t id;
    int64_t due;
    /* The next escalation alone, when an absence deadline comes first (due): while that
     * deadline waits for the watermark, the escalation still falls due. In memory only. */
    int64_t esc;
    UT_hash_handle hh;
} nb__timer_t;

/* An entry of the timers' min-heap: valid while the timer of `id` is still due at `due`
 * (entries are not removed when a timer changes; they are skipped when they come up). The
 * tick looks only at what fell due, not at every open notification. */
typedef struct nb__due_s {
    int64_t due;
    nb__tid_t id;
    int64_t held; /* wall clock: since when it waits for the watermark (held heap), or 0 */
    bool at_clock; /* waited processing.watermark_max_hold_ms: judged at the clock */
} nb__due_t;

/* A min-heap of nb__due_t by due. */
typedef struct nb__heap_s {
    nb__due_t *v;
    size_t n, cap;
    bool lost; /* a push failed: rebuild from the timers */
} nb__heap_t;

/* A merge the identity table announced (supersession, unborn to child). */
typedef struct nb__merge_s {
    uint8_t from[NB__KEY_LEN];
    uint8_t into[NB__KEY_LEN];
    char into_hex[NB_KEY_MAX + 1];
} nb__merge_t;

/* What a key receives: an event, an event to park, an acknowledgement, the history of a merged
 * key, or a notification for a digest. It comes from the by-child topic, or straight from the
 * code that made it when this instance owns the key's partition (nb__deliver). */
typedef enum {
    NB__K_EVENT,
    NB__K_PARK,
    NB__K_ACK,
    NB__K_MERGE,
    NB__K_DIGEST,
    NB__K_MOVE, /* move this key's history (a pregnancy's literal key) to the key in value */
    NB__K__COUNT
} nb__kind_t;

static const char *const nb__kind_name[NB__K__COUNT] = {"event", "park", "ack", "merge",
                                                        "digest", "move"};

typedef struct nb__msg_s {
    nb__kind_t kind;
    uint8_t key[NB__KEY_LEN];
    char key_hex[NB_KEY_MAX + 1];
    const void *value; /* Avro event or ack, a merged state, an Avro notification (digest) */
    size_t len;
    const nb_record_t *rec;        /* event, ack: decoded already (local delivery), or NULL */
    const nb_ledger_keys_t *keys;  /* with rec, an appointment: its ledger ids, or NULL */
    const nb_notification_t *note; /* digest: the notification (local delivery), or NULL */
    const char *nhs, *mother;      /* event: the child's and the pregnant person's NHS numbers */
    const char *role, *route;      /* digest: the recipient */
    int64_t period_end;            /* digest: when it goes out */
    const void *sugg;              /* park: an encoded IdentitySuggestion to publish, or NULL */
    size_t sugg_len;
    nb__origin_t src;              /* where it was first read (parking, dead letters) */
    const rd_kafka_message_t *src_rkm; /* the source record itself (its headers are packed
                                        * into the origin when it is forwarded or parked) */
    const rd_kafka_message_t *rkm; /* the consumed record to dead-letter, or NULL */
} nb__msg_t;

struct nb__pipeline_s {
    const nb_config_t *conf;
    nb_registry_t *reg;
    nb_codec_t *codec;
    nb_identity_t *idt;
    nb_policy_t *pol;
    nb_ledger_dict_t *dict;
    /* The ledgers states are decoded into, one after another (no allocation per event):
     * led for the child an event is for, led_from for a merge's other history. */
    nb_ledger_t *led, *led_from;
    nb_policy_result_t *res;
    nb_validate_opts_t vopts;
    nb__prov_t *prov;
    nb__pregidx_t *pregs; /* pregnancies kept under a local identifier's key (pregidx.c) */
    nb__timer_t *timers;
    nb__heap_t heap; /* the timers, by due time */
    /* Timers whose absence deadline passed by the clock but not by the watermark (what the
     * sources have recorded): back on `heap` once the watermark passes them. In memory only:
     * a restore finds them due and holds them again. */
    nb__heap_t held;
    int64_t absence_now; /* the watermark absence deadlines are judged at (NB_TIME_NONE: now) */
    int64_t wall;        /* the wall clock at the last nb__pipeline_set_watermark() */
    uint64_t released;   /* deadlines that waited processing.watermark_max_hold_ms */
    int64_t last_recorded; /* recorded_at of the last source record decoded (NB_TIME_NONE) */
    /* The appointment whose arrival is being handled: a withdrawal names it (not set by a
     * tick). */
    nb_evidence_t cause;
    bool has_cause;
    /* Or the context fact (a plan entered in error, or ended). */
    nb_context_fact_t fact_cause;
    bool has_fact_cause;
    size_t parked_total;
    nb__merge_t *merges;
    size_t n_merges, cap_merges;
    nb_notify_scratch_t plan; /* nb__lifecycle()'s */
    bool recheck;      /* links changed, or state was restored or rolled back */
    bool tick_more;    /* the last tick left due escalations for the next */
    bool merges_dirty; /* merges to look at again */
    nb__decoded_t decoded; /* a source record decoded on this thread */
    /* Per-event counters, added to the metrics once a turn (nb__pipeline_flush_metrics):
     * events by agency (the last: context facts); resolutions by method, then parked and
     * refused. */
    uint64_t n_events[NB_AGENCY__COUNT + 1];
    uint64_t n_resolved[NB_IDENTITY_METHOD_PREGNANCY_LINK + 3];
    bool counted;
    char errstr[512];
};

/* ---- small helpers ------------------------------------------------------------------------ */

static bool nb__unhex32(const char *hex, uint8_t out[NB__KEY_LEN])
{
    return nb__key_unhex(hex, strlen(hex), out);
}

static void nb__put_u32(nb_buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    nb_buf_append(b, x, 4);
}

static void nb__put_u64(nb_buf_t *b, uint64_t v)
{
    nb__put_u32(b, (uint32_t)v);
    nb__put_u32(b, (uint32_t)(v >> 32));
}

typedef struct nb__rd_s {
    const uint8_t *p, *end;
    bool bad;
} nb__rd_t;

static const uint8_t *nb__take(nb__rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

static uint32_t nb__get_u32(nb__rd_t *r)
{
    const uint8_t *q = nb__take(r, 4);
    return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24
             : 0;
}

static uint64_t nb__get_u64(nb__rd_t *r)
{
    uint64_t lo = nb__get_u32(r);
    return lo | (uint64_t)nb__get_u32(r) << 32;
}

/* ---- construction --------------------------------------------------------------------------- */

static void nb__policy_diag(void *opaque, const nb_policy_diag_t *d)
{
    (void)opaque;
    NB_LOG(d->warning ? NB_LOG_WARN : NB_LOG_ERROR, "policy", "%s:%d:%d: %s", d->file, d->line,
           d->column, d->message);
}

nb__pipeline_t *nb__pipeline_new(const nb_config_t *conf, char *errstr, size_t errstr_size)
{
    nb__pipeline_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->conf = conf;
    p->absence_now = NB_TIME_NONE;
    if (!(p->pregs = nb__pregidx_new())) {
        free(p);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->last_recorded = NB_TIME_NONE;
    nb_validate_opts_default(&p->vopts);
    p->vopts.allow_test_nhs_numbers = conf->allow_test_nhs_numbers;
    p->reg = nb_registry_new();
    if (!p->reg || nb_registry_add_builtin(p->reg, errstr, errstr_size) ||
        (conf->schemas_dir[0] &&
         nb_registry_load_dir(p->reg, conf->schemas_dir, errstr, errstr_size)) ||
        !(p->codec = nb_codec_new(p->reg, errstr, errstr_size)))
        goto fail;
    nb_identity_conf_t ic;
    nb_identity_conf_default(&ic);
    ic.secret = conf->hmac_key;
    ic.secret_len = conf->hmac_key ? strlen(conf->hmac_key) : 0;
    ic.allow_test_nhs_numbers = conf->allow_test_nhs_numbers;
    ic.suggest_demographic_links = conf->suggest_demographic_links;
    if (!(p->idt = nb_identity_new(&ic, errstr, errstr_size)))
        goto fail;
    if (nb_policy_load((const char *const *)conf->policy_files, conf->n_policy_files,
                       nb__policy_diag, NULL, &p->pol, errstr, errstr_size))
        goto fail;
    if (!(p->dict = nb_ledger_dict_new()) || !(p->res = nb_policy_result_new()) ||
        !(p->led = nb_ledger_new(p->dict)) || !(p->led_from = nb_ledger_new(p->dict))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    const nb_policy_info_t *info = nb_policy_info(p->pol);
    NB_LOG(NB_LOG_INFO, "policy", "policy %s version %s loaded (%zu rules, hash %.12s)",
           info->name, info->version, nb_policy_rule_count(p->pol), info->hash);
    return p;
fail:
    nb__pipeline_destroy(p);
    return NULL;
}

void nb__pipeline_destroy(nb__pipeline_t *p)
{
    if (!p)
        return;
    nb__prov_t *v, *tmp;
    HASH_ITER(hh, p->prov, v, tmp)
    {
        HASH_DEL(p->prov, v);
        free(v);
    }
    nb__timer_t *t, *ttmp;
    HASH_ITER(hh, p->timers, t, ttmp)
    {
        HASH_DEL(p->timers, t);
        free(t);
    }
    nb__pregidx_destroy(p->pregs);
    free(p->merges);
    nb_notify_scratch_free(&p->plan);
    free(p->heap.v);
    free(p->held.v);
    nb_policy_result_destroy(p->res);
    nb_policy_destroy(p->pol);
    nb_ledger_destroy(p->led);
    nb_ledger_destroy(p->led_from);
    nb_ledger_dict_destroy(p->dict);
    nb_identity_destroy(p->idt);
    nb_codec_destroy(p->codec);
    nb_registry_destroy(p->reg);
    free(p);
}

void nb__pipeline_flush_metrics(nb__pipeline_t *p, nb_metrics_t *m)
{
    if (!p->counted)
        return;
    p->counted = false;
    for (size_t i = 0; i <= NB_AGENCY__COUNT; i++) {
        if (p->n_events[i])
            nb_metrics_add(m, NB_M_EVENTS,
                           i < NB_AGENCY__COUNT ? nb_agency_name((nb_agency_t)i) : "context",
                           (double)p->n_events[i]);
        p->n_events[i] = 0;
    }
    const size_t parked = NB_IDENTITY_METHOD_PREGNANCY_LINK + 1, refused = parked + 1;
    for (size_t i = 0; i <= refused; i++) {
        if (p->n_resolved[i])
            nb_metrics_add(m, NB_M_RESOLUTIONS,
                           i == parked    ? "parked"
                           : i == refused ? "refused"
                                          : nb_identity_method_name((nb_identity_method_t)i),
                           (double)p->n_resolved[i]);
        p->n_resolved[i] = 0;
    }
}

void nb__pipeline_report(nb__pipeline_t *p, nb_metrics_t *m)
{
    const nb_policy_info_t *info = nb_policy_info(p->pol);
    const char *values[3] = {info->name, info->version, info->hash};
    nb_metrics_set_info(m, NB_M_POLICY_INFO, values);
}

nb_err_t nb__pipeline_reload(nb__pipeline_t *p, char *errstr, size_t errstr_size)
{
    nb_policy_t *pol = NULL;
    nb_err_t err = nb_policy_load((const char *const *)p->conf->policy_files,
                                  p->conf->n_policy_files, nb__policy_diag, NULL, &pol, errstr,
                                  errstr_size);
    if (err)
        return err;
    nb_policy_destroy(p->pol);
    p->pol = pol;
    const nb_policy_info_t *info = nb_policy_info(pol);
    NB_LOG(NB_LOG_INFO, "policy", "policy %s version %s in force (hash %.12s)", info->name,
           info->version, info->hash);
    return NB_ERR_OK;
}

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

static void nb__prov_note(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
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
static void nb__heap_push_e(nb__heap_t *hp, const nb__due_t *e)
{
    if (hp->n == hp->cap) {
        size_t cap = hp->cap ? hp->cap * 2 : 1024;
        nb__due_t *h = realloc(hp->v, cap * sizeof(*h));
        if (!h) {
            hp->lost = true;
            return;
        }
        hp->v = h;
        hp->cap = cap;
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

static void nb__heap_push(nb__heap_t *hp, int64_t due, const nb__tid_t *id)
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

static void nb__heap_pop(nb__heap_t *hp)
{
    hp->v[0] = hp->v[--hp->n];
    if (hp->n > 0)
        nb__heap_sift_down(hp, 0);
}

/* Restores the heap order of every entry (after entries were taken out of the middle). */
static void nb__heapify(nb__heap_t *hp)
{
    for (size_t i = hp->n / 2; i-- > 0;)
        nb__heap_sift_down(hp, i);
}

/* Drops the stale entries: one entry per timer again, on the heap it belongs to. */
static void nb__heap_rebuild(nb__pipeline_t *p)
{
    nb__timer_t *t, *tmp;
    p->heap.n = 0;
    p->heap.lost = false;
    p->held.n = 0;
    p->held.lost = false;
    HASH_ITER(hh, p->timers, t, tmp)
    {
        nb__heap_push(&p->heap, t->due, &t->id);
    }
}

static void nb__timer_set_esc(nb__pipeline_t *p, int32_t partition,
                              const uint8_t key[NB__KEY_LEN], int64_t due, int64_t esc);

static void nb__timer_set(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
                          int64_t due)
{
    nb__timer_set_esc(p, partition, key, due, NB_TIME_NONE);
}

/* @p esc: the next escalation when it is later than @p due (an absence deadline), else
 * NB_TIME_NONE. */
static void nb__timer_set_esc(nb__pipeline_t *p, int32_t partition,
                              const uint8_t key[NB__KEY_LEN], int64_t due, int64_t esc)
{
    nb__timer_t probe, *t;
    memset(&probe, 0, sizeof(probe));
    probe.id.partition = partition;
    memcpy(probe.id.key, key, NB__KEY_LEN);
    HASH_FIND(hh, p->timers, &probe.id, sizeof(probe.id), t);
    if (due == NB_TIME_NONE) {
        if (t) {
            HASH_DEL(p->timers, t);
            free(t);
        }
        return;
    }
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t)
            return;
        t->id = probe.id;
        t->due = t->esc = NB_TIME_NONE;
        HASH_ADD(hh, p->timers, id, sizeof(t->id), t);
    }
    int64_t old_esc = t->esc;
    t->esc = esc != due ? esc : NB_TIME_NONE;
    if (t->esc != old_esc && t->esc != NB_TIME_NONE && t->due == due)
        nb__heap_push(&p->heap, t->esc, &t->id); /* a new escalation behind a held deadline */
    if (t->due != due) {
        t->due = due;
        if (p->heap.n + p->held.n >= 2 * (size_t)HASH_COUNT(p->timers) + 4096)
            nb__heap_rebuild(p);
        else
            nb__heap_push(&p->heap, due, &t->id);
    }
}

/* The next escalation time stored in a child value, read without decoding the ledger. */
static int64_t nb__child_due(const uint8_t *val, size_t len)
{
    if (!val || len < 6 || !NB__IS_CHILD(val[4]))
        return NB_TIME_NONE;
    size_t at = 6 + val[5];
    if (len < at + 1)
        return NB_TIME_NONE;
    at += 1 + val[at];
    if (len < at + 4)
        return NB_TIME_NONE;
    uint32_t llen = (uint32_t)val[at] | (uint32_t)val[at + 1] << 8 | (uint32_t)val[at + 2] << 16 |
                    (uint32_t)val[at + 3] << 24;
    at += 4 + (size_t)llen;
    if (len < at + 8)
        return NB_TIME_NONE;
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)val[at + (size_t)k] << (8 * k);
    return (int64_t)v;
}

/* One parked event inside a provisional state value (pointers into the value). */
typedef struct nb__parked_s {
    int64_t parked_at, offset, ts;
    int32_t partition;
    char topic[NB_IDENTITY_TOPIC_MAX + 1];
    const uint8_t *data;
    uint32_t len;
    const uint8_t *key; /* the original key, or NULL (none, or parked before kind 4) */
    uint32_t key_len;
    const uint8_t *headers; /* the original headers, packed, or NULL */
    uint32_t headers_len;
} nb__parked_t;

#define NB__NO_KEY UINT32_MAX

static void nb__parked_origin(const nb__parked_t *e, nb__origin_t *o)
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
static int nb__parked_each(const uint8_t *val, size_t len,
                           int (*cb)(void *, const nb__parked_t *), void *opaque)
{
    nb__rd_t r = {val, val + len, false};
    const uint8_t *hdr = nb__take(&r, 5);
    if (!hdr || memcmp(hdr, "NBS\1", 4) != 0 || !NB__IS_PARKED(hdr[4]))
        return -1;
    bool v4 = hdr[4] == NB__STATE_PARKED;
    uint32_t n = nb__get_u32(&r);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        nb__parked_t e;
        e.parked_at = (int64_t)nb__get_u64(&r);
        e.offset = (int64_t)nb__get_u64(&r);
        e.ts = (int64_t)nb__get_u64(&r);
        e.partition = (int32_t)nb__get_u32(&r);
        const uint8_t *tl = nb__take(&r, 2);
        size_t tlen = tl ? (size_t)(tl[0] | tl[1] << 8) : 0;
        const uint8_t *t = nb__take(&r, tlen);
        if (r.bad || tlen > NB_IDENTITY_TOPIC_MAX)
            return -1;
        memcpy(e.topic, t, tlen);
        e.topic[tlen] = '\0';
        e.len = nb__get_u32(&r);
        e.data = nb__take(&r, e.len);
        e.key = e.headers = NULL;
        e.key_len = e.headers_len = 0;
        if (v4) {
            uint32_t kl = nb__get_u32(&r);
            if (kl != NB__NO_KEY) {
                e.key_len = kl;
                e.key = kl ? nb__take(&r, kl) : (const uint8_t *)"";
            }
            e.headers_len = nb__get_u32(&r);
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
static void nb__preg_note(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
                          const uint8_t *val, size_t len)
{
    nb__pregidx_note(p->pregs, partition, key, val, len);
}

void nb__pipeline_state_loaded(nb__pipeline_t *p, int32_t partition,
                               const uint8_t key[NB__KEY_LEN], const uint8_t *val, size_t len)
{
    /* Links may have arrived while this state was elsewhere or rolled back. */
    p->recheck = true;
    p->merges_dirty = true;
    if (val && len >= 13 && val[4] == NB__STATE_DIGEST) {
        uint64_t end = 0;
        for (int k = 0; k < 8; k++)
            end |= (uint64_t)val[5 + k] << (8 * k);
        nb__timer_set(p, partition, key, (int64_t)end);
    } else {
        nb__timer_set(p, partition, key, nb__child_due(val, len));
    }
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

void nb__pipeline_partition_dropped(nb__pipeline_t *p, int32_t partition)
{
    nb__timer_t *t, *ttmp;
    HASH_ITER(hh, p->timers, t, ttmp)
    {
        if (t->id.partition == partition) {
            HASH_DEL(p->timers, t);
            free(t);
        }
    }
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

/* ---- ingest --------------------------------------------------------------------------------- */

/* The record type a source topic carries; NB_RECORD_NONE when a topic is configured both for
 * appointments and for context facts (one topic keeps a child's events in one order). */
static nb_record_type_t nb__expect(const nb_config_t *c, const char *topic)
{
    bool context = strcmp(topic, c->context_topic) == 0;
    for (size_t i = 0; i < c->n_appointment_topics; i++)
        if (strcmp(topic, c->appointment_topics[i]) == 0)
            return context ? NB_RECORD_NONE : NB_RECORD_APPOINTMENT;
    if (context)
        return NB_RECORD_CONTEXT_FACT;
    if (strcmp(topic, c->acks_topic) == 0)
        return NB_RECORD_ACK;
    return NB_RECORD_NONE;
}

static nb_err_t nb__handle(nb__pipeline_t *p, nb_stream_t *st, int32_t part, const nb__msg_t *m,
                           int64_t now);
static nb_err_t nb__move_to(nb__pipeline_t *p, nb_stream_t *st, const char *from_hex,
                            const char *into_hex, int64_t now);

/* A notification as Avro (digest items travel as notifications). */
static nb_err_t nb__encode_note(nb__pipeline_t *p, const nb_notification_t *n, nb_buf_t *b)
{
    nb_record_t rec;
    rec.type = NB_RECORD_NOTIFICATION;
    rec.u.notif = *n;
    return nb_codec_encode(p->codec, &rec, b, p->errstr, sizeof(p->errstr));
}

/* The origin of a message, with the source record's headers packed into @p scratch when the
 * message is that record (the origin then lives as long as both). */
static void nb__msg_origin(const nb__msg_t *m, nb_buf_t *scratch, nb__origin_t *o)
{
    *o = m->src;
    if (m->src_rkm && !o->headers && nb__headers_pack(m->src_rkm, scratch)) {
        o->headers = scratch->data;
        o->headers_len = scratch->len;
    }
}

/* When a record was recorded at its source: recorded_at (acknowledged_at for an
 * acknowledgement), or NB_TIME_NONE. */
static int64_t nb__recorded_of(const nb_record_t *rec)
{
    if (!rec)
        return NB_TIME_NONE;
    return rec->type == NB_RECORD_APPOINTMENT    ? rec->u.appt.recorded_at
           : rec->type == NB_RECORD_CONTEXT_FACT ? rec->u.fact.recorded_at
           : rec->type == NB_RECORD_ACK          ? rec->u.ack.acknowledged_at
                                                 : NB_TIME_NONE;
}

/* Delivers a message to its key: handled here, in this transaction, when this instance owns the
 * key's partition (and has caught up with what the by-child topic held for it when it got it);
 * otherwise produced to the by-child topic for the instance that owns it. */
static nb_err_t nb__deliver(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m, int64_t now)
{
    int32_t part = nb__partition_of(st, m->key);
    if (nb__deliver_here(st, part)) {
        nb__stream_counters(st)->local++;
        return nb__handle(p, st, part, m, now);
    }
    const void *value = m->value;
    size_t len = m->len;
    nb_buf_t enc = {0};
    nb_err_t err;
    if (m->kind == NB__K_DIGEST && !value) {
        if ((err = nb__encode_note(p, m->note, &enc)))
            return err;
        value = enc.data;
        len = enc.len;
    }
    char buf[32];
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "nb.kind", -1, nb__kind_name[m->kind], -1);
    if (m->nhs && m->nhs[0])
        rd_kafka_header_add(h, "nb.nhs", -1, m->nhs, -1);
    if (m->mother && m->mother[0])
        rd_kafka_header_add(h, "nb.mother", -1, m->mother, -1);
    if (m->kind == NB__K_DIGEST) {
        rd_kafka_header_add(h, "nb.role", -1, m->role, -1);
        rd_kafka_header_add(h, "nb.route", -1, m->route, -1);
        snprintf(buf, sizeof(buf), "%lld", (long long)m->period_end);
        rd_kafka_header_add(h, "nb.period_end", -1, buf, -1);
    }
    if (m->sugg)
        rd_kafka_header_add(h, "nb.suggestion", -1, m->sugg, (ssize_t)m->sugg_len);
    /* When the source recorded it: the owner's watermark of the by-child partition. */
    int64_t recorded = nb__recorded_of(m->rec);
    if (recorded != NB_TIME_NONE) {
        snprintf(buf, sizeof(buf), "%lld", (long long)recorded);
        rd_kafka_header_add(h, "nb.recorded", -1, buf, -1);
    }
    nb_buf_t packed = {0};
    nb__origin_t o;
    nb__msg_origin(m, &packed, &o);
    nb__origin_to_headers(&o, h);
    nb__stream_counters(st)->repartitioned++;
    err = nb__emit(st, nb__stream_conf(st)->by_child_topic, part, m->key_hex, strlen(m->key_hex),
                   value, len, h);
    nb_buf_free(&enc);
    nb_buf_free(&packed);
    return err;
}

/* Sends what a key received to the dead-letter topic: the consumed record when there is one
 * (a by-child record goes as the record first read), else the value with its origin. */
static nb_err_t nb__msg_dead_letter(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m,
                                    nb_err_t code, const char *why)
{
    if (m->rkm)
        return nb__dead_letter(st, m->rkm, code, why);
    nb_buf_t enc = {0};
    const void *value = m->value;
    size_t len = m->len;
    if (m->kind == NB__K_DIGEST && !value && m->note && !nb__encode_note(p, m->note, &enc)) {
        value = enc.data;
        len = enc.len;
    }
    nb__origin_t o = m->src;
    if (!o.topic) { /* made here: the key it was for */
        o.topic = nb__stream_conf(st)->by_child_topic;
        o.partition = nb__partition_of(st, m->key);
        o.offset = o.ts = -1;
        o.key = m->key_hex;
        o.key_len = strlen(m->key_hex);
    }
    nb_err_t err = nb__dead_letter_origin(st, &o, value, len, code, why);
    nb_buf_free(&enc);
    return err;
}

/* The pregnant person's NHS number of an antenatal event (for maternity services). */
static const char *nb__mother_of(const nb_record_t *rec)
{
    if (rec->type != NB_RECORD_APPOINTMENT || rec->u.appt.subject_kind != NB_SUBJECT_UNBORN ||
        strcmp(rec->u.appt.pregnant_person_id.system, NB_SYSTEM_NHS_NUMBER) != 0)
        return NULL;
    return rec->u.appt.pregnant_person_id.value;
}

/* The provisional key of an unresolved event: SHA-256 of what would resolve it. */
static void nb__provisional_key(const nb_identity_resolution_t *res, char hex[NB_KEY_MAX + 1])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(res->want, sizeof(res->want), digest);
    nb__key_hex(digest, hex);
}

/* ---- decoding ahead --------------------------------------------------------------------------- */

struct nb__decoder_s {
    const nb_config_t *conf;
    nb_validate_opts_t vopts;
    nb_codec_t *codec; /* its own: a codec keeps reusable Avro values */
};

nb__decoder_t *nb__decoder_new(const nb__pipeline_t *p, char *errstr, size_t errstr_size)
{
    nb__decoder_t *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    d->conf = p->conf;
    d->vopts = p->vopts;
    if (!(d->codec = nb_codec_new(p->reg, errstr, errstr_size))) {
        free(d);
        return NULL;
    }
    return d;
}

void nb__decoder_destroy(nb__decoder_t *d)
{
    if (!d)
        return;
    nb_codec_destroy(d->codec);
    free(d);
}

static void nb__decode(nb_codec_t *codec, const nb_config_t *conf,
                       const nb_validate_opts_t *vopts, const rd_kafka_message_t *rkm,
                       int64_t now, nb__decoded_t *out)
{
    out->errstr[0] = '\0';
    out->keyed = false;
    if (!rkm->payload) {
        out->err = NB_ERR_FRAME_TRUNCATED;
        snprintf(out->errstr, sizeof(out->errstr), "record has no value");
        return;
    }
    nb_record_type_t expect = nb__expect(conf, rd_kafka_topic_name(rkm->rkt));
    out->err = nb_codec_decode(codec, rkm->payload, rkm->len, expect, &out->rec, out->errstr,
                               sizeof(out->errstr));
    if (!out->err)
        out->err = nb_codec_validate(&out->rec, vopts, now, out->errstr, sizeof(out->errstr));
    /* The ledger's ids of the event (two SHA-256) are pure: worked out here, on the decoder
     * thread when it got to the record first, rather than where events are applied. */
    if (!out->err && out->rec.type == NB_RECORD_APPOINTMENT) {
        nb_ledger_keys_of(&out->rec.u.appt, &out->keys);
        out->keyed = true;
    }
}

void nb__decoder_run(nb__decoder_t *d, const rd_kafka_message_t *rkm, int64_t now,
                     nb__decoded_t *out)
{
    nb__decode(d->codec, d->conf, &d->vopts, rkm, now, out);
}

nb_err_t nb__pipeline_source(nb__pipeline_t *p, nb_stream_t *st, const rd_kafka_message_t *rkm,
                             int64_t now, const nb__decoded_t *pre)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    nb_err_t err;
    if (!pre) {
        nb__decode(p->codec, p->conf, &p->vopts, rkm, now, &p->decoded);
        pre = &p->decoded;
    }
    p->last_recorded = NB_TIME_NONE;
    if (pre->err)
        return nb__dead_letter(st, rkm, pre->err, pre->errstr);
    const nb_record_t *rec = &pre->rec;
    /* How far this source has recorded: its watermark (runtime.c). */
    p->last_recorded = nb__recorded_of(rec);

    nb__msg_t m;
    memset(&m, 0, sizeof(m));
    m.value = rkm->payload;
    m.len = rkm->len;
    m.rec = rec;
    m.keys = pre->keyed ? &pre->keys : NULL;
    m.src.topic = topic;
    m.src.partition = rkm->partition;
    m.src.offset = rkm->offset;
    m.src.ts = rd_kafka_message_timestamp(rkm, NULL);
    m.src.key = rkm->key;
    m.src.key_len = rkm->key_len;
    m.src_rkm = rkm;
    m.rkm = rkm;
    if (rec->type == NB_RECORD_ACK) {
        /* Acknowledgements carry the notification's Kafka key: the child key. */
        size_t kl = rkm->key_len < NB_KEY_MAX ? rkm->key_len : NB_KEY_MAX;
        memcpy(m.key_hex, rkm->key ? rkm->key : "", rkm->key ? kl : 0);
        m.key_hex[rkm->key ? kl : 0] = '\0';
        if (!nb__unhex32(m.key_hex, m.key))
            return nb__dead_letter(st, rkm, NB_ERR_MISSING_IDENTIFIER,
                                   "an acknowledgement's Kafka key must be the notification's "
                                   "key (the child key)");
        m.kind = NB__K_ACK;
        return nb__deliver(p, st, &m, now);
    }
    nb_identity_subject_t subj;
    if (rec->type == NB_RECORD_APPOINTMENT)
        nb_identity_subject_of_appointment(&subj, &rec->u.appt);
    else if (rec->type == NB_RECORD_CONTEXT_FACT)
        nb_identity_subject_of_fact(&subj, &rec->u.fact);
    else
        return nb__dead_letter(st, rkm, NB_ERR_SCHEMA_MISMATCH, "unexpected record type");
    p->counted = true;
    p->n_events[rec->type == NB_RECORD_APPOINTMENT &&
                        (unsigned)rec->u.appt.source.agency < NB_AGENCY__COUNT
                    ? (size_t)rec->u.appt.source.agency
                    : NB_AGENCY__COUNT]++;
    nb_identity_resolution_t res;
    err = nb_identity_resolve(p->idt, &subj, &res, p->errstr, sizeof(p->errstr));
    size_t how = NB_IDENTITY_METHOD_PREGNANCY_LINK + 2; /* refused */
    if (err == NB_ERR_OK)
        how = (unsigned)res.method <= NB_IDENTITY_METHOD_PREGNANCY_LINK ? (size_t)res.method
                                                                        : NB_IDENTITY_METHOD_NONE;
    else if (err == NB_ERR_IDENTITY_UNRESOLVED)
        how = NB_IDENTITY_METHOD_PREGNANCY_LINK + 1; /* parked */
    p->n_resolved[how]++;
    if (err == NB_ERR_OK) {
        size_t kl = strnlen(res.key, sizeof(m.key_hex) - 1);
        memcpy(m.key_hex, res.key, kl);
        m.key_hex[kl] = '\0';
        if (!nb__key_unhex(m.key_hex, kl, m.key))
            return NB_ERR_INVALID_ARG;
        m.kind = NB__K_EVENT;
        m.nhs = res.nhs_number;
        m.mother = res.pregnant_nhs[0] ? res.pregnant_nhs : nb__mother_of(rec);
        /* A pregnancy named by a local identifier whose link is known: what was kept under
         * the identifier's own key (before the link, or by an earlier version) joins it. */
        if (res.has_merge_from && (err = nb__move_to(p, st, res.merge_from, res.key, now)))
            return err;
        return nb__deliver(p, st, &m, now);
    }
    if (err == NB_ERR_IDENTITY_UNRESOLVED) {
        nb__provisional_key(&res, m.key_hex);
        if (!nb__unhex32(m.key_hex, m.key))
            return NB_ERR_INVALID_ARG;
        nb__stream_counters(st)->parked++;
        m.kind = NB__K_PARK;
        /* A suggested link goes with the event to its provisional key's owner (suggest.c). */
        nb_buf_t sugg = {0};
        if (res.has_suggestion &&
            (err = nb__suggestion_encode(p->codec, &res.suggestion, rec, now, &sugg, p->errstr,
                                         sizeof(p->errstr))))
            return err;
        m.sugg = sugg.data;
        m.sugg_len = sugg.len;
        m.rec = NULL;
        m.keys = NULL;
        err = nb__deliver(p, st, &m, now);
        nb_buf_free(&sugg);
        return err;
    }
    /* A conflict or an identifier the table refuses: a human must look, nothing joins. */
    char why[600];
    if (err == NB_ERR_IDENTITY_CONFLICT)
        nb_identity_explain(&res, why, sizeof(why));
    else
        nb_str_copy(why, sizeof(why), p->errstr);
    return nb__dead_letter(st, rkm, err, why);
}

/* ---- identity links (global table) ------------------------------------------------------------ */

/* Asks the owner of @p from_hex to move its history to @p into_hex (a "move" message; nothing
 * happens when it holds none). */
static nb_err_t nb__move_to(nb__pipeline_t *p, nb_stream_t *st, const char *from_hex,
                            const char *into_hex, int64_t now)
{
    nb__msg_t mv;
    if (strcmp(from_hex, into_hex) == 0)
        return NB_ERR_OK;
    memset(&mv, 0, sizeof(mv));
    mv.kind = NB__K_MOVE;
    nb_str_copy(mv.key_hex, sizeof(mv.key_hex), from_hex);
    if (!nb__unhex32(mv.key_hex, mv.key) || strlen(into_hex) != NB_KEY_MAX)
        return NB_ERR_INVALID_ARG;
    mv.value = into_hex;
    mv.len = NB_KEY_MAX;
    return nb__deliver(p, st, &mv, now);
}

static void nb__add_merge(nb__pipeline_t *p, const nb_identity_merge_t *m)
{
    nb__merge_t mg;
    if (!nb__unhex32(m->from_key, mg.from) || !nb__unhex32(m->into_key, mg.into))
        return;
    nb_str_copy(mg.into_hex, sizeof(mg.into_hex), m->into_key);
    if (p->n_merges == p->cap_merges) {
        size_t cap = p->cap_merges ? p->cap_merges * 2 : 64;
        nb__merge_t *v = realloc(p->merges, cap * sizeof(*v));
        if (!v)
            return;
        p->merges = v;
        p->cap_merges = cap;
    }
    p->merges[p->n_merges++] = mg;
    p->merges_dirty = true;
}

nb_err_t nb__pipeline_link(nb__pipeline_t *p, const rd_kafka_message_t *rkm, int64_t now)
{
    nb_record_t rec;
    nb_identity_result_t res;
    (void)now;
    if (!rkm->payload)
        return NB_ERR_OK; /* a compaction tombstone */
    memset(&res, 0, sizeof(res));
    nb_err_t err = nb_codec_decode(p->codec, rkm->payload, rkm->len, NB_RECORD_IDENTITY_LINK,
                                   &rec, p->errstr, sizeof(p->errstr));
    if (!err)
        err = nb_codec_validate(&rec, &p->vopts, now, p->errstr, sizeof(p->errstr));
    if (!err)
        err = nb_identity_apply(p->idt, &rec.u.link, &res, p->errstr, sizeof(p->errstr));
    if (err) {
        /* The links topic is read by every instance outside any transaction, so a bad link
         * cannot be dead-lettered exactly once here; it is logged (no personal data) and
         * counted by the caller (notbrought_identity_links_refused_total), and the table
         * stays consistent. The link itself stays in the (compacted) links topic. */
        char why[600];
        if (err == NB_ERR_IDENTITY_CONFLICT) {
            nb_identity_resolution_t r;
            memset(&r, 0, sizeof(r));
            r.conflict = res.conflict;
            snprintf(why, sizeof(why), "conflict %s",
                     nb_identity_conflict_kind_name(res.conflict.kind));
        } else {
            nb_str_copy(why, sizeof(why), p->errstr);
        }
        /* An unlink of a link not in force is expected while the compacted topic is read
         * from its start (compaction removed the link it withdrew): logged, not warned. */
        NB_LOG(err == NB_ERR_IDENTITY_UNKNOWN_LINK ? NB_LOG_INFO : NB_LOG_WARN, "identity",
               "link at %s [%d] offset %lld refused: %s: %s", rd_kafka_topic_name(rkm->rkt),
               (int)rkm->partition, (long long)rkm->offset, nb_err_name(err), why);
    } else if (res.change != NB_IDENTITY_CHANGE_NONE) {
        p->recheck = true;
        if (res.has_merge)
            nb__add_merge(p, &res.merge);
        for (size_t i = 0; i < res.n_more_merges; i++)
            nb__add_merge(p, &res.more_merges[i]);
    }
    nb_identity_result_clear(&res);
    return err;
}

/* ---- child state ---------------------------------------------------------------------------- */

typedef struct nb__child_s {
    char nhs[NB_NHS_LEN + 1];
    char mother[NB_NHS_LEN + 1]; /* pregnancies: the pregnant person's NHS number */
    bool has_preg;               /* kind 6: a pregnancy under a local identifier's key */
    nb_identity_preg_ref_t preg;
    nb_ledger_t *led; /* one of the pipeline's ledgers: borrowed */
    nb_notify_state_t ns;
    int64_t due;        /* next escalation or absence deadline, NB_TIME_NONE when neither */
    int64_t due_stored; /* as stored (the timer index holds it already) */
    int64_t due_esc;    /* the next escalation alone (not stored) */
} nb__child_t;

/* Decodes a child's state (NULL: a new child) into @p led, which c then borrows. */
static nb_err_t nb__child_load(nb__pipeline_t *p, const uint8_t *val, size_t len,
                               nb_ledger_t *led, nb__child_t *c)
{
    memset(c, 0, sizeof(*c));
    c->due = c->due_stored = c->due_esc = NB_TIME_NONE;
    c->led = led;
    nb_ledger_clear(led);
    if (!val)
        return NB_ERR_OK;
    nb__rd_t r = {val, val + len, false};
    const uint8_t *hdr = nb__take(&r, 5);
    if (!hdr || memcmp(hdr, "NBS\1", 4) != 0 || !NB__IS_CHILD(hdr[4]))
        return NB_ERR_LEDGER_CORRUPT;
    if (hdr[4] == NB__STATE_PREG) {
        /* The pregnancy reference closes the value. */
        if ((size_t)(r.end - r.p) < NB__PREG_REF_LEN)
            return NB_ERR_LEDGER_CORRUPT;
        r.end -= NB__PREG_REF_LEN;
        c->has_preg = true;
        memcpy(c->preg.person, r.end, NB_IDENTITY_WANT_LEN);
        const uint8_t *t = r.end + NB_IDENTITY_WANT_LEN;
        c->preg.expected_delivery_date =
            (int32_t)((uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 |
                      (uint32_t)t[3] << 24);
    }
    const uint8_t *nl = nb__take(&r, 1);
    size_t nlen = nl ? nl[0] : 0;
    const uint8_t *nhs = nb__take(&r, nlen);
    const uint8_t *ml = nb__take(&r, 1);
    size_t mlen = ml ? ml[0] : 0;
    const uint8_t *mother = nb__take(&r, mlen);
    uint32_t llen = nb__get_u32(&r);
    const uint8_t *lbytes = nb__take(&r, llen);
    c->due = (int64_t)nb__get_u64(&r);
    c->due_stored = c->due;
    size_t used = 0;
    if (r.bad || nlen > NB_NHS_LEN || mlen > NB_NHS_LEN ||
        nb_notify_state_decode(&c->ns, r.p, (size_t)(r.end - r.p), &used) ||
        r.p + used != r.end)
        return NB_ERR_LEDGER_CORRUPT;
    memcpy(c->nhs, nhs, nlen);
    c->nhs[nlen] = '\0';
    memcpy(c->mother, mother, mlen);
    c->mother[mlen] = '\0';
    return nb_ledger_decode_into(led, lbytes, llen, p->errstr, sizeof(p->errstr));
}

static nb_err_t nb__child_save(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                               const uint8_t key[NB__KEY_LEN], const nb__child_t *c)
{
    nb_buf_t b = {0};
    uint8_t nlen = (uint8_t)strlen(c->nhs), mlen = (uint8_t)strlen(c->mother);
    uint8_t kind = c->has_preg ? NB__STATE_PREG : NB__STATE_CHILD;
    uint8_t llen[4];
    /* The ledger is encoded in place: its length is patched in after. */
    nb_err_t err = nb_buf_reserve(&b, 512);
    if (err)
        return err;
    nb_buf_append(&b, "NBS\1", 4);
    nb_buf_append(&b, &kind, 1);
    nb_buf_append(&b, &nlen, 1);
    nb_buf_append(&b, c->nhs, nlen);
    nb_buf_append(&b, &mlen, 1);
    nb_buf_append(&b, c->mother, mlen);
    size_t at = b.len;
    nb_buf_append(&b, llen, 4);
    err = nb_ledger_encode(c->led, &b);
    if (!err) {
        uint32_t n = (uint32_t)(b.len - at - 4);
        b.data[at] = (uint8_t)n;
        b.data[at + 1] = (uint8_t)(n >> 8);
        b.data[at + 2] = (uint8_t)(n >> 16);
        b.data[at + 3] = (uint8_t)(n >> 24);
        nb__put_u64(&b, (uint64_t)c->due);
        err = nb_notify_state_encode(&c->ns, &b);
    }
    if (!err && c->has_preg) {
        nb_buf_append(&b, c->preg.person, NB_IDENTITY_WANT_LEN);
        nb__put_u32(&b, (uint32_t)c->preg.expected_delivery_date);
    }
    if (!err)
        err = b.err; /* a value cut short would replace the child's record */
    if (!err && !b.data)
        err = NB_ERR_NOMEM;
    if (err) {
        nb_buf_free(&b);
        return err;
    }
    /* The store takes the buffer over. */
    size_t len = b.len;
    err = nb__state_put_owned(st, part, key, b.data, b.len);
    if (!err) {
        nb__timer_set_esc(p, part, key, c->due, c->due_esc);
        nb__preg_note(p, part, key, c->has_preg ? nb__state_get(st, part, key, &len) : NULL,
                      len);
    }
    return err;
}

static nb_err_t nb__publish(nb__pipeline_t *p, nb_stream_t *st, const nb_notification_t *n)
{
    nb_record_t rec;
    nb_buf_t b = {0};
    rec.type = NB_RECORD_NOTIFICATION;
    rec.u.notif = *n;
    nb_err_t err = nb_codec_encode(p->codec, &rec, &b, p->errstr, sizeof(p->errstr));
    if (!err) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "nb.kind", -1, nb_notification_kind_name(n->kind), -1);
        rd_kafka_header_add(h, "nb.tier", -1, nb_tier_name(n->tier), -1);
        err = nb__emit(st, nb__stream_conf(st)->notifications_topic, RD_KAFKA_PARTITION_UA,
                       n->child_key, strlen(n->child_key), b.data, b.len, h);
        if (!err) {
            nb__stream_counters(st)->notifications++;
            nb_metrics_add(nb__stream_metrics(st), NB_M_NOTIFICATIONS_BY_KIND,
                           nb_notification_kind_name(n->kind), 1);
            nb_metrics_add(nb__stream_metrics(st), NB_M_NOTIFICATIONS_BY_TIER,
                           nb_tier_name(n->tier), 1);
        }
    }
    nb_buf_free(&b);
    return err;
}

/* One audit record: what happened, to which notification, on which evidence. */
static nb_err_t nb__audit(nb__pipeline_t *p, nb_stream_t *st, const char *what,
                          const char *notification_id, const char *rule_id,
                          const char *child_key, int tier, int level,
                          const nb_notification_t *evidence_from, int64_t now)
{
    const char *ids[NB_NOTIF_MAX_EVIDENCE];
    size_t n = 0;
    for (size_t i = 0; evidence_from && i < evidence_from->n_evidence; i++)
        ids[n++] = evidence_from->evidence[i].event_id;
    char *json = nb_notify_audit(p->pol, what, notification_id, rule_id, child_key, tier, level,
                                 ids, n, now);
    if (!json)
        return NB_ERR_NOMEM;
    nb_err_t err = nb__emit(st, nb__stream_conf(st)->audit_topic, RD_KAFKA_PARTITION_UA,
                            child_key, strlen(child_key), json, strlen(json), NULL);
    free(json);
    return err;
}

/* ---- digests ---------------------------------------------------------------------------------- */

typedef struct nb__digest_s {
    int64_t period_end;
    char role[NB_ID_MAX + 1];
    char route[NB_SYSTEM_MAX + 1];
    size_t n;
    nb_digest_item_t items[NB_NOTIF_MAX_ITEMS];
} nb__digest_t;

static void nb__put_str8(nb_buf_t *b, const char *s)
{
    uint8_t n = (uint8_t)strlen(s);
    nb_buf_append(b, &n, 1);
    nb_buf_append(b, s, n);
}

static bool nb__get_str8(nb__rd_t *r, char *dst, size_t cap)
{
    const uint8_t *l = nb__take(r, 1);
    size_t n = l ? l[0] : 0;
    const uint8_t *v = nb__take(r, n);
    if (r->bad || n >= cap)
        return false;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return true;
}

static nb_err_t nb__digest_load(const uint8_t *val, size_t len, nb__digest_t *d)
{
    nb__rd_t r = {val, val + len, false};
    const uint8_t *hdr = nb__take(&r, 5);
    memset(d, 0, sizeof(*d));
    if (!hdr || memcmp(hdr, "NBS\1", 4) != 0 || hdr[4] != NB__STATE_DIGEST)
        return NB_ERR_LEDGER_CORRUPT;
    d->period_end = (int64_t)nb__get_u64(&r);
    const uint8_t *n = NULL;
    if (!nb__get_str8(&r, d->role, sizeof(d->role)) ||
        !nb__get_str8(&r, d->route, sizeof(d->route)) || !(n = nb__take(&r, 1)) ||
        n[0] > NB_NOTIF_MAX_ITEMS)
        return NB_ERR_LEDGER_CORRUPT;
    d->n = n[0];
    for (size_t i = 0; i < d->n; i++) {
        nb_digest_item_t *it = &d->items[i];
        const uint8_t *tier;
        if (!nb__get_str8(&r, it->notification_id, sizeof(it->notification_id)) ||
            !nb__get_str8(&r, it->reference, sizeof(it->reference)) ||
            !nb__get_str8(&r, it->child_key, sizeof(it->child_key)) ||
            !nb__get_str8(&r, it->nhs_number, sizeof(it->nhs_number)) ||
            !nb__get_str8(&r, it->rule_id, sizeof(it->rule_id)) || !(tier = nb__take(&r, 1)) ||
            tier[0] >= NB_TIER__COUNT)
            return NB_ERR_LEDGER_CORRUPT;
        it->tier = (nb_tier_t)tier[0];
        it->decided_at = (int64_t)nb__get_u64(&r);
    }
    return r.bad || r.p != r.end ? NB_ERR_LEDGER_CORRUPT : NB_ERR_OK;
}

static nb_err_t nb__digest_save(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                const uint8_t key[NB__KEY_LEN], const nb__digest_t *d)
{
    nb_buf_t b = {0};
    uint8_t kind = NB__STATE_DIGEST, n = (uint8_t)d->n;
    nb_buf_append(&b, "NBS\1", 4);
    nb_buf_append(&b, &kind, 1);
    nb__put_u64(&b, (uint64_t)d->period_end);
    nb__put_str8(&b, d->role);
    nb__put_str8(&b, d->route);
    nb_buf_append(&b, &n, 1);
    for (size_t i = 0; i < d->n; i++) {
        const nb_digest_item_t *it = &d->items[i];
        uint8_t tier = (uint8_t)it->tier;
        nb__put_str8(&b, it->notification_id);
        nb__put_str8(&b, it->reference);
        nb__put_str8(&b, it->child_key);
        nb__put_str8(&b, it->nhs_number);
        nb__put_str8(&b, it->rule_id);
        nb_buf_append(&b, &tier, 1);
        nb__put_u64(&b, (uint64_t)it->decided_at);
    }
    nb_err_t err = b.err ? b.err : nb__state_put(st, part, key, b.data, b.len);
    if (!err)
        nb__timer_set(p, part, key, d->period_end);
    nb_buf_free(&b);
    return err;
}

/* Sends a gathered notification to the digest of each of its recipients for the period. */
static nb_err_t nb__digest_forward(nb__pipeline_t *p, nb_stream_t *st,
                                   const nb_policy_decision_t *d, const nb_notification_t *note,
                                   int64_t now)
{
    int64_t end = nb_notify_digest_period_end(d->digest, d->decided_at);
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; i < d->n_recipients && !err; i++) {
        char seed[256];
        nb__msg_t m;
        memset(&m, 0, sizeof(m));
        snprintf(seed, sizeof(seed), "notbrought-digest|%s|%lld", d->recipients[i]->id,
                 (long long)end);
        SHA256((const unsigned char *)seed, strlen(seed), m.key);
        nb__key_hex(m.key, m.key_hex);
        m.kind = NB__K_DIGEST;
        m.note = note;
        m.role = d->recipients[i]->id;
        m.route = d->recipients[i]->route;
        m.period_end = end;
        err = nb__deliver(p, st, &m, now);
    }
    return err;
}

/* Publishes a digest and forgets it. */
static nb_err_t nb__digest_publish(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                   const uint8_t key[NB__KEY_LEN], const nb__digest_t *d,
                                   int64_t now)
{
    const nb_policy_info_t *info = nb_policy_info(p->pol);
    char hex[NB_KEY_MAX + 1];
    nb_notification_t n;
    memset(&n, 0, sizeof(n));
    nb__key_hex(key, hex);
    snprintf(n.notification_id, sizeof(n.notification_id), "digest-%.24s", hex);
    uint8_t id[NB_LEDGER_ID_BYTES];
    memcpy(id, key, NB_LEDGER_ID_BYTES);
    nb_notify_reference(id, n.reference);
    n.kind = NB_NOTIFICATION_DIGEST;
    n.date_of_birth = NB_DATE_NONE;
    n.expected_delivery_date = NB_DATE_NONE;
    n.age_months = -1;
    snprintf(n.child_key, sizeof(n.child_key), "digest");
    snprintf(n.rule_id, sizeof(n.rule_id), "digest");
    snprintf(n.rule_text, sizeof(n.rule_text),
             "Digest for %s: %zu low-priority notification%s gathered until the period ended",
             d->role, d->n, d->n == 1 ? "" : "s");
    nb_str_copy(n.policy_name, sizeof(n.policy_name), info->name);
    nb_str_copy(n.policy_version, sizeof(n.policy_version), info->version);
    nb_str_copy(n.policy_hash, sizeof(n.policy_hash), info->hash);
    n.tier = NB_TIER_CURIOSITY;
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].tier > n.tier)
            n.tier = d->items[i].tier;
    nb_str_copy(n.action, sizeof(n.action),
                "Review each child listed and acknowledge each notification by its id.");
    n.respond_by = NB_TIME_NONE;
    n.created_at = now;
    n.n_recipients = 1;
    nb_str_copy(n.recipients[0].role, sizeof(n.recipients[0].role), d->role);
    nb_str_copy(n.recipients[0].route, sizeof(n.recipients[0].route), d->route);
    nb_notify_fill_titles(p->pol, &n);
    n.n_items = d->n;
    memcpy(n.items, d->items, d->n * sizeof(d->items[0]));
    nb_err_t err = nb__publish(p, st, &n);
    if (!err)
        err = nb__audit(p, st, "digest", n.notification_id, "digest", "digest", (int)n.tier, 0,
                        NULL, now);
    if (!err)
        err = nb__state_put(st, part, key, NULL, 0);
    if (!err)
        nb__timer_set(p, part, key, NB_TIME_NONE);
    return err;
}

/* A gathered notification arrives at its digest key. */
static nb_err_t nb__digest_add(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m,
                               int32_t part, int64_t now)
{
    nb__digest_t d;
    nb_record_t rec;
    const nb_notification_t *note = m->note;
    size_t len;
    const uint8_t *val = nb__state_get(st, part, m->key, &len);
    nb_err_t err;
    if (!note) {
        if ((err = nb_codec_decode(p->codec, m->value, m->len, NB_RECORD_NOTIFICATION, &rec,
                                   p->errstr, sizeof(p->errstr))))
            return err;
        note = &rec.u.notif;
    }
    if (val) {
        if ((err = nb__digest_load(val, len, &d)))
            return err;
    } else {
        memset(&d, 0, sizeof(d));
        nb_str_copy(d.role, sizeof(d.role), m->role);
        nb_str_copy(d.route, sizeof(d.route), m->route);
        d.period_end = m->period_end;
    }
    for (size_t i = 0; i < d.n; i++)
        if (strcmp(d.items[i].notification_id, note->notification_id) == 0)
            return NB_ERR_OK; /* already gathered */
    nb_digest_item_t *it = &d.items[d.n++];
    memset(it, 0, sizeof(*it));
    nb_str_copy(it->notification_id, sizeof(it->notification_id), note->notification_id);
    nb_str_copy(it->reference, sizeof(it->reference), note->reference);
    nb_str_copy(it->child_key, sizeof(it->child_key), note->child_key);
    nb_str_copy(it->nhs_number, sizeof(it->nhs_number), note->nhs_number);
    nb_str_copy(it->rule_id, sizeof(it->rule_id), note->rule_id);
    it->tier = note->tier;
    it->decided_at = note->created_at;
    /* A full digest goes out at once; the period's later items start the next one. */
    if (d.n == NB_NOTIF_MAX_ITEMS)
        return nb__digest_publish(p, st, part, m->key, &d, now);
    return nb__digest_save(p, st, part, m->key, &d);
}

/* What nb__lifecycle() hands its sink. */
typedef struct nb__life_s {
    nb__pipeline_t *p;
    nb_stream_t *st;
    const char *key_hex;
    int64_t now;
} nb__life_t;

/* The daemon's sink of the lifecycle step: publishes, gathers digests, audits, counts. */
static nb_err_t nb__life_sink(void *opaque, const nb_notify_out_t *o)
{
    nb__life_t *l = opaque;
    const nb_notify_action_t *a = o->action;
    const nb_notification_t *note = o->note;
    const char *what = o->digest ? "digested" : nb_notify_act_name(a->act);
    nb_metrics_t *metrics = nb__stream_metrics(l->st);
    nb_err_t err = NB_ERR_OK;
    switch (a->act) {
    case NB_NOTIFY_ACT_NEW:
    case NB_NOTIFY_ACT_NEW_CLOSED:
        nb_metrics_add(metrics, NB_M_DECISIONS_BY_RULE, a->decision->rule->id, 1);
        err = o->digest ? nb__digest_forward(l->p, l->st, a->decision, note, l->now)
                        : nb__publish(l->p, l->st, note);
        if (!err)
            err = nb__audit(l->p, l->st, what, note->notification_id, note->rule_id, l->key_hex,
                            (int)note->tier, 0, note, l->now);
        break;
    case NB_NOTIFY_ACT_ESCALATE:
        if (!(err = nb__publish(l->p, l->st, note)))
            err = nb__audit(l->p, l->st, what, note->notification_id, note->rule_id, l->key_hex,
                            (int)note->tier, (int)a->rung + 1, note, l->now);
        break;
    case NB_NOTIFY_ACT_WITHDRAW:
        if (!(err = nb__publish(l->p, l->st, note)))
            err = nb__audit(l->p, l->st, what, note->notification_id, note->rule_id, l->key_hex,
                            (int)note->tier, note->escalation_level, NULL, l->now);
        break;
    case NB_NOTIFY_ACT_CORRECTED:
        err = nb__audit(l->p, l->st, what, a->raised->id, a->raised->rule ? a->raised->rule->id : "",
                        l->key_hex, a->raised->raised->tier, a->raised->raised->level, NULL,
                        l->now);
        break;
    case NB_NOTIFY_ACT_SUPPRESSED:
    case NB_NOTIFY_ACT_SHADOW:
        if (a->act == NB_NOTIFY_ACT_SHADOW)
            nb_metrics_add(metrics, NB_M_DECISIONS_BY_RULE, a->decision->rule->id, 1);
        err = nb__audit(l->p, l->st, what, a->decision->id, a->decision->rule->id, l->key_hex,
                        (int)a->decision->tier, 0, NULL, l->now);
        break;
    }
    return err;
}

/* Evaluates the child's ledger and runs the notification lifecycle (nb_notify_step(), as
 * replay and policy test do): publishes new, escalated and withdrawn notifications, audits
 * every decision, and updates the ledger's raised list, the notify state and the timers. */
static nb_err_t nb__lifecycle(nb__pipeline_t *p, nb_stream_t *st, nb__child_t *c,
                              const char *key_hex, bool quiet, int64_t now)
{
    nb_policy_subject_t subj = {key_hex, NB_DATE_NONE, NB_DATE_NONE, false, p->absence_now};
    nb_notify_child_t child = {key_hex, c->nhs, c->mother};
    nb_err_t err = nb_policy_evaluate(p->pol, c->led, &subj, now, p->res);
    if (err)
        return err;
    nb_notify_cause_t cause = {p->has_cause && !p->has_fact_cause ? &p->cause : NULL,
                               p->has_fact_cause ? &p->fact_cause : NULL};
    nb__life_t life = {p, st, key_hex, now};
    nb_notify_due_t due;
    err = nb_notify_step(p->pol, p->res, c->led, &c->ns, &child, &cause, now, quiet, &p->plan,
                         nb__life_sink, &life, &due);
    if (!err) {
        c->due = due.next;
        c->due_esc = due.escalation;
    }
    return err;
}

/* Serialises one parked entry (kind 4). */
static void nb__put_entry(nb_buf_t *b, const nb__parked_t *e)
{
    nb__put_u64(b, (uint64_t)e->parked_at);
    nb__put_u64(b, (uint64_t)e->offset);
    nb__put_u64(b, (uint64_t)e->ts);
    nb__put_u32(b, (uint32_t)e->partition);
    size_t tl0 = strlen(e->topic);
    uint16_t tlen = (uint16_t)(tl0 > NB_IDENTITY_TOPIC_MAX ? NB_IDENTITY_TOPIC_MAX : tl0);
    uint8_t tl[2] = {(uint8_t)tlen, (uint8_t)(tlen >> 8)};
    nb_buf_append(b, tl, 2);
    nb_buf_append(b, e->topic, tlen);
    nb__put_u32(b, e->len);
    nb_buf_append(b, e->data, e->len);
    nb__put_u32(b, e->key ? e->key_len : NB__NO_KEY);
    if (e->key)
        nb_buf_append(b, e->key, e->key_len);
    nb__put_u32(b, e->headers ? e->headers_len : 0);
    if (e->headers)
        nb_buf_append(b, e->headers, e->headers_len);
}

static int nb__put_entry_cb(void *opaque, const nb__parked_t *e)
{
    nb__put_entry(opaque, e);
    return 0;
}

/* Appends one event to a provisional key's parked list. */
static nb_err_t nb__park(nb__pipeline_t *p, nb_stream_t *st, int32_t part, const nb__msg_t *m,
                         int64_t now)
{
    size_t old_len = 0;
    const uint8_t *old = nb__state_get(st, part, m->key, &old_len);
    uint32_t n = 0;
    if (old) {
        if (old_len < 9 || !NB__IS_PARKED(old[4]))
            return NB_ERR_LEDGER_CORRUPT;
        n = (uint32_t)old[5] | (uint32_t)old[6] << 8 | (uint32_t)old[7] << 16 |
            (uint32_t)old[8] << 24;
    }
    if (p->parked_total >= (size_t)p->conf->park_max || n >= NB__MAX_PARKED_PER_KEY)
        return nb__msg_dead_letter(p, st, m, NB_ERR_IDENTITY_PARK_FULL,
                                   "too many events are waiting for identity links");
    nb_buf_t b = {0}, packed = {0};
    nb_buf_append(&b, "NBS\1", 4);
    uint8_t kind = NB__STATE_PARKED;
    nb_buf_append(&b, &kind, 1);
    nb__put_u32(&b, n + 1);
    if (old && old[4] == NB__STATE_PARKED)
        nb_buf_append(&b, old + 9, old_len - 9);
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
    if (!err) {
        /* One more event; the oldest stays the oldest (no re-parse of the whole list). */
        nb__prov_t *v = nb__prov_find(p, part, m->key);
        nb__prov_note(p, part, m->key, n + 1, v && n > 0 ? v->oldest : now);
    }
    nb_buf_free(&b);
    nb_buf_free(&packed);
    return err;
}

static nb_err_t nb__apply_event(nb__pipeline_t *p, nb__child_t *c, const nb__msg_t *m,
                                bool *changed)
{
    nb_record_t dec;
    const nb_record_t *rec = m->rec;
    const nb_ledger_keys_t *keys = m->rec ? m->keys : NULL;
    nb_ledger_change_t ch = NB_LEDGER_UNCHANGED;
    nb_err_t err;
    if (!rec) {
        if ((err = nb_codec_decode(p->codec, m->value, m->len, NB_RECORD_NONE, &dec, p->errstr,
                                   sizeof(p->errstr))))
            return err;
        rec = &dec;
    }
    if (rec->type == NB_RECORD_APPOINTMENT) {
        const nb_appointment_event_t *a = &rec->u.appt;
        /* A pregnancy kept under its local identifier's own key (no link known when it was
         * resolved) remembers what moves it once a link is known (state kind 6). */
        if (a->subject_kind == NB_SUBJECT_UNBORN && !c->has_preg &&
            strcmp(a->pregnant_person_id.system, NB_SYSTEM_NHS_NUMBER) != 0) {
            char lit[NB_KEY_MAX + 1];
            nb_identity_preg_ref_t ref;
            if (nb_identity_pregnancy_ref(p->idt, &a->pregnant_person_id,
                                          a->expected_delivery_date, &ref, lit) == NB_ERR_OK &&
                strcmp(lit, m->key_hex) == 0) {
                c->has_preg = true;
                c->preg = ref;
            }
        }
        nb_notify_evidence_of(a, &p->cause);
        p->has_cause = true;
        err = keys ? nb_ledger_apply_keyed(c->led, a, keys, &ch)
                   : nb_ledger_apply(c->led, a, &ch);
    }
    else if (rec->type == NB_RECORD_CONTEXT_FACT) {
        p->fact_cause = rec->u.fact;
        p->has_fact_cause = true;
        err = nb_ledger_apply_fact(c->led, &rec->u.fact, &ch);
    }
    else
        return NB_ERR_SCHEMA_MISMATCH;
    *changed = *changed || ch != NB_LEDGER_UNCHANGED;
    return err;
}

static const char *nb__header(const rd_kafka_message_t *rkm, const char *name, char *buf,
                              size_t size)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(rkm, &h))
        h = NULL;
    return nb__header_str(h, name, buf, size);
}

nb_err_t nb__pipeline_by_child(nb__pipeline_t *p, nb_stream_t *st, const rd_kafka_message_t *rkm,
                               int64_t now)
{
    char kind[16], nhs[NB_NHS_LEN + 1], mother[NB_NHS_LEN + 1], topic[NB_IDENTITY_TOPIC_MAX + 1];
    char role[NB_ID_MAX + 1], route[NB_SYSTEM_MAX + 1], buf[32];
    nb__msg_t m;
    memset(&m, 0, sizeof(m));
    size_t klen = rkm->key_len < NB_KEY_MAX ? rkm->key_len : NB_KEY_MAX;
    memcpy(m.key_hex, rkm->key ? rkm->key : "", rkm->key ? klen : 0);
    m.key_hex[rkm->key ? klen : 0] = '\0';
    if (!nb__unhex32(m.key_hex, m.key) || !rkm->payload)
        return nb__dead_letter(st, rkm, NB_ERR_INVALID_ARG, "by-child record without a child key");
    nb__header(rkm, "nb.kind", kind, sizeof(kind));
    m.kind = NB__K__COUNT;
    for (int k = 0; k < NB__K__COUNT; k++)
        if (strcmp(kind, nb__kind_name[k]) == 0)
            m.kind = (nb__kind_t)k;
    if (m.kind == NB__K__COUNT)
        return nb__dead_letter(st, rkm, NB_ERR_INVALID_ARG, "by-child record of unknown kind");
    m.value = rkm->payload;
    m.len = rkm->len;
    m.rkm = rkm;
    m.nhs = nb__header(rkm, "nb.nhs", nhs, sizeof(nhs));
    m.mother = nb__header(rkm, "nb.mother", mother, sizeof(mother));
    m.role = nb__header(rkm, "nb.role", role, sizeof(role));
    m.route = nb__header(rkm, "nb.route", route, sizeof(route));
    m.period_end = atoll(nb__header(rkm, "nb.period_end", buf, sizeof(buf)));
    nb__origin_from_headers(rkm, &m.src, topic, sizeof(topic));
    rd_kafka_headers_t *h = NULL;
    if (m.kind == NB__K_PARK && !rd_kafka_message_headers(rkm, &h) && h &&
        rd_kafka_header_get_last(h, "nb.suggestion", &m.sugg, &m.sugg_len))
        m.sugg = NULL;
    return nb__handle(p, st, rkm->partition, &m, now);
}

/* Moves the history kept under @p key (an owned partition's) to @p into_hex: delivered there
 * as a merge, and removed here, in this transaction. Nothing when the key holds no child
 * state. */
static nb_err_t nb__move_here(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                              const uint8_t key[NB__KEY_LEN], const char *key_hex,
                              const char *into_hex, int64_t now)
{
    size_t len;
    nb__msg_t msg;
    if (strcmp(key_hex, into_hex) == 0)
        return NB_ERR_OK;
    const uint8_t *val = nb__state_get(st, part, key, &len);
    if (!val || len < 5 || !NB__IS_CHILD(val[4]))
        return NB_ERR_OK;
    memset(&msg, 0, sizeof(msg));
    msg.kind = NB__K_MERGE;
    nb_str_copy(msg.key_hex, sizeof(msg.key_hex), into_hex);
    if (!nb__unhex32(msg.key_hex, msg.key))
        return NB_ERR_INVALID_ARG;
    /* A copy: delivering here may change the store the value lives in. */
    uint8_t *copy = malloc(len);
    if (!copy)
        return NB_ERR_NOMEM;
    memcpy(copy, val, len);
    msg.value = copy;
    msg.len = len;
    NB_LOG(NB_LOG_INFO, "identity", "history of %.12s moves to %.12s", key_hex, into_hex);
    nb_err_t err = nb__deliver(p, st, &msg, now);
    if (!err)
        err = nb__state_put(st, part, key, NULL, 0);
    if (!err) {
        nb__timer_set(p, part, key, NB_TIME_NONE);
        nb__preg_note(p, part, key, NULL, 0);
    }
    free(copy);
    return err;
}

/* What a key of an owned partition received: apply to its state, evaluate, notify. */
static nb_err_t nb__handle(nb__pipeline_t *p, nb_stream_t *st, int32_t part, const nb__msg_t *m,
                           int64_t now)
{
    nb_err_t err;
    p->errstr[0] = '\0';
    p->has_cause = false;
    p->has_fact_cause = false;
    if (m->kind == NB__K_PARK)
        return nb__park(p, st, part, m, now);
    if (m->kind == NB__K_MOVE) {
        char into[NB_KEY_MAX + 1];
        if (m->len != NB_KEY_MAX)
            return nb__msg_dead_letter(p, st, m, NB_ERR_INVALID_ARG, "move without a target key");
        memcpy(into, m->value, NB_KEY_MAX);
        into[NB_KEY_MAX] = '\0';
        return nb__move_here(p, st, part, m->key, m->key_hex, into, now);
    }
    if (m->kind == NB__K_DIGEST) {
        err = nb__digest_add(p, st, m, part, now);
        return err == NB_ERR_KAFKA_ABORTABLE || err == NB_ERR_KAFKA_FATAL || !err
                   ? err
                   : nb__msg_dead_letter(p, st, m, err, p->errstr[0] ? p->errstr
                                                                      : nb_err_str(err));
    }
    size_t len = 0;
    const uint8_t *val = nb__state_get(st, part, m->key, &len);
    nb__child_t c;
    err = nb__child_load(p, val, len, p->led, &c);
    if (err) {
        NB_LOG(NB_LOG_ERROR, "stream", "child %.12s: state unreadable (%s); starting afresh",
               m->key_hex, nb_err_name(err));
        if ((err = nb__child_load(p, NULL, 0, p->led, &c)))
            return err;
    }
    if (m->nhs && m->nhs[0])
        nb_str_copy(c.nhs, sizeof(c.nhs), m->nhs);
    if (m->mother && m->mother[0] && nb_nhs_validate(m->mother) == NB_ERR_OK)
        nb_str_copy(c.mother, sizeof(c.mother), m->mother);
    bool changed = false;
    if (m->kind == NB__K_ACK) {
        nb_record_t dec;
        const nb_record_t *rec = m->rec;
        err = NB_ERR_OK;
        if (!rec) {
            err = nb_codec_decode(p->codec, m->value, m->len, NB_RECORD_ACK, &dec, p->errstr,
                                  sizeof(p->errstr));
            rec = &dec;
        }
        if (!err) {
            nb_notify_ack_t r = nb_notify_ack(&c.ns, c.led, rec->u.ack.notification_id, now);
            err = nb__audit(p, st, nb_notify_ack_name(r), rec->u.ack.notification_id, NULL,
                            m->key_hex, -1, 0, NULL, now);
            if (!err && (r == NB_NOTIFY_ACK_CLOSED || r == NB_NOTIFY_ACK_EARLY)) {
                /* A closed notification has no escalation left. */
                err = nb__lifecycle(p, st, &c, m->key_hex, true, now);
                if (!err)
                    err = nb__child_save(p, st, part, m->key, &c);
            }
        }
        return err == NB_ERR_KAFKA_ABORTABLE || err == NB_ERR_KAFKA_FATAL || !err
                   ? err
                   : nb__msg_dead_letter(p, st, m, err, p->errstr);
    }
    if (m->kind == NB__K_MERGE) {
        /* The history of another key (an old NHS number, a pregnancy) joins this child. */
        nb__child_t from;
        err = nb__child_load(p, m->value, m->len, p->led_from, &from);
        if (!err)
            err = nb_ledger_merge(c.led, from.led);
        if (!c.nhs[0] && from.nhs[0])
            memcpy(c.nhs, from.nhs, sizeof(c.nhs));
        if (!c.mother[0] && from.mother[0])
            memcpy(c.mother, from.mother, sizeof(c.mother));
        changed = true;
    } else {
        err = nb__apply_event(p, &c, m, &changed);
    }
    if (err)
        return nb__msg_dead_letter(p, st, m, err,
                                   p->errstr[0]          ? p->errstr
                                   : err == NB_ERR_LIMIT ? nb_ledger_limit_str(c.led)
                                                         : nb_err_str(err));
    if (changed) {
        nb_ledger_prune(c.led, nb_policy_horizon(p->pol, now));
        err = nb__lifecycle(p, st, &c, m->key_hex, false, now);
        if (!err)
            err = nb__child_save(p, st, part, m->key, &c);
    }
    return err;
}

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

static nb_err_t nb__dead_letter_parked(nb_stream_t *st, const nb__parked_t *e, nb_err_t code,
                                       const char *reason)
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
static nb_err_t nb__recheck(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
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
        before = (uint32_t)copy[5] | (uint32_t)copy[6] << 8 | (uint32_t)copy[7] << 16 |
                 (uint32_t)copy[8] << 24;
    }
    if (!err && r.kept != before) {
        nb_buf_t b = {0};
        if (r.kept > 0) {
            nb_buf_append(&b, "NBS\1", 4);
            uint8_t kind = NB__STATE_PARKED;
            nb_buf_append(&b, &kind, 1);
            nb__put_u32(&b, r.kept);
            nb_buf_append(&b, r.keep.data, r.keep.len);
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
static nb_err_t nb__pregs_recheck(nb__pipeline_t *p, nb_stream_t *st, int64_t now)
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

nb_err_t nb__pipeline_tick(nb__pipeline_t *p, nb_stream_t *st, int64_t now)
{
    nb_err_t err = NB_ERR_OK;
    /* Gauges, observed by the same passes that collect the work: parked events and the
     * oldest one's age; open notifications, and those whose next rung is overdue (due more
     * than a minute ago means escalation is not keeping up). */
    nb_metrics_t *metrics = nb__stream_metrics(st);
    int64_t oldest = NB_TIME_NONE;
    size_t overdue = 0;
    nb_metrics_set(metrics, NB_M_PARKED_EVENTS, NULL, (double)p->parked_total);
    nb_metrics_set(metrics, NB_M_NOTIFICATIONS_OPEN, NULL, (double)HASH_COUNT(p->timers));
    nb_metrics_set(metrics, NB_M_CHILDREN, NULL, (double)nb__stream_keys(st));
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
            if (oldest == NB_TIME_NONE || v->oldest < oldest)
                oldest = v->oldest;
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
    if (err)
        return err;
    p->recheck = false;
    /* Escalations that fell due (also those that fell due while this instance was down),
     * taken off the heap; copies, since escalating may deliver digest items here and change
     * the timers. */
    if (p->heap.lost || p->held.lost)
        nb__heap_rebuild(p);
    /* Held deadlines the watermark has passed now: due again. Those held for
     * processing.watermark_max_hold_ms are due too, judged at the clock (a slow or stuck
     * source never silences the protocol). */
    int64_t absence_now = p->absence_now == NB_TIME_NONE || p->absence_now > now ? now
                                                                                  : p->absence_now;
    while (p->held.n > 0 && p->held.v[0].due <= absence_now) {
        nb__due_t e = p->held.v[0];
        nb__heap_pop(&p->held);
        nb__heap_push(&p->heap, e.due, &e.id);
    }
    if (p->held.n > 0) {
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
                   "%zu absence deadlines waited processing.watermark_max_hold_ms (%lld ms) for "
                   "the sources to be read past them, %lld s behind the clock: judged at the "
                   "clock now", released, (long long)p->conf->watermark_max_hold_ms,
                   (long long)((now - absence_now) / 1000));
        }
    }
    size_t kt = 0, cap = 0;
    nb__due_t *due = NULL;
    while (p->heap.n > 0 && p->heap.v[0].due <= now) {
        nb__due_t e = p->heap.v[0];
        nb__timer_t *t;
        nb__heap_pop(&p->heap);
        HASH_FIND(hh, p->timers, &e.id, sizeof(e.id), t);
        if (!t || (t->due != e.due && t->esc != e.due) || !nb__owns(st, e.id.partition))
            continue; /* stale */
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
            overdue++;
        due[kt++] = e;
    }
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
        const nb__due_t *e = &due[di];
        int32_t part = e->id.partition;
        uint8_t key[NB__KEY_LEN];
        char key_hex[NB_KEY_MAX + 1];
        size_t len;
        nb__timer_t *t;
        memcpy(key, e->id.key, NB__KEY_LEN);
        HASH_FIND(hh, p->timers, &e->id, sizeof(e->id), t);
        if (!t || (t->due != e->due && t->esc != e->due))
            continue; /* handled meanwhile */
        nb__key_hex(key, key_hex);
        const uint8_t *val = nb__state_get(st, part, key, &len);
        bool absence = false; /* the child's timer is an absence deadline, not an escalation */
        if (val && len >= 5 && val[4] == NB__STATE_DIGEST) {
            nb__digest_t d;
            if (nb__digest_load(val, len, &d))
                nb__timer_set(p, part, key, NB_TIME_NONE);
            else
                err = nb__digest_publish(p, st, part, key, &d, now);
        } else {
            nb__child_t c;
            if (!val || nb__child_load(p, val, len, p->led, &c)) {
                nb__timer_set(p, part, key, NB_TIME_NONE);
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
        /* Still due at the same time (nothing moved it): an absence deadline the watermark
         * has not reached waits for it (since when, kept); anything else again at the next
         * tick. */
        HASH_FIND(hh, p->timers, &e->id, sizeof(e->id), t);
        if (t && t->due == e->due) {
            nb__due_t h = *e;
            h.held = e->held ? e->held : p->wall;
            h.at_clock = false;
            bool held = absence && t->due > absence_now && !e->at_clock;
            nb__heap_push_e(held ? &p->held : &p->heap, &h);
            /* Held: its escalation is still due at its own time. */
            if (held && t->esc != NB_TIME_NONE)
                nb__heap_push(&p->heap, t->esc, &t->id);
        }
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
    /* Merges: move the history of a superseded number or a born pregnancy to the child. */
    if (p->merges_dirty) {
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
    }
    return err;
}
