#ifndef NB_STREAM_PIPELINE_H
#define NB_STREAM_PIPELINE_H
/* The pipeline's private header, shared by pipeline.c (construction, ingest, the
 * handling of a record), parked.c, decode.c, child.c, digest.c and tick.c. */

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
        (hashv) = (unsigned)nb_le_get(hk_, 4);                                                   \
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

/* An entry of the timers' min-heap. A timer (nb__timer_slot_t, kept with the key's state in
 * the store) is set for a child with an open notification whose next escalation rung or
 * absence deadline falls due, or for a digest whose period ends. The entry is valid while the
 * timer of `id` is still due at `due` (entries are not removed when a timer changes; they are
 * skipped when they come up). The tick looks only at what fell due, not at every open
 * notification. */
typedef struct nb__due_s {
    int64_t due;
    int64_t held; /* wall clock: since when it waits for the watermark (held heap), or 0 */
    nb__tid_t id;  /* after the 8-byte fields: 56 bytes an entry, not 64 */
    bool at_clock; /* waited processing.watermark_max_hold_ms: judged at the clock */
} nb__due_t;
_Static_assert(sizeof(nb__due_t) <= 56, "a timer's heap entry is one per timed child");

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
    nb_buf_t save; /* a child's state is encoded into it (nb__child_save) */
    nb_buf_t enc;  /* a notification or an audit record is (nb__publish, nb__audit) */
    nb_policy_result_t *res;
    nb_validate_opts_t vopts;
    nb__prov_t *prov;
    nb__pregidx_t *pregs; /* pregnancies kept under a local identifier's key (pregidx.c) */
    nb__heap_t heap; /* the timers, by due time */
    size_t heap_bound; /* entries on both heaps that make nb__timer_set_esc() rebuild them */
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
    nb_record_t *audit;    /* the audit record being written (nb__audit()) */
    /* Per-event counters, added to the metrics once a turn (nb__pipeline_flush_metrics):
     * events by agency (the last: context facts); resolutions by method, then parked and
     * refused. */
    uint64_t n_events[NB_AGENCY__COUNT + 1];
    uint64_t n_resolved[NB_IDENTITY_METHOD_PREGNANCY_LINK + 3];
    bool counted;
    char errstr[512];
};

typedef struct nb__rd_s {
    const uint8_t *p, *end;
    bool bad;
} nb__rd_t;

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

typedef struct nb__child_s {
    char nhs[NB_NHS_LEN + 1];
    char mother[NB_NHS_LEN + 1]; /* pregnancies: the pregnant person's NHS number */
    bool has_preg;               /* kind 6: a pregnancy under a local identifier's key */
    nb_identity_preg_ref_t preg;
    nb_ledger_t *led; /* one of the pipeline's ledgers: borrowed */
    nb_notify_state_t ns;
    int64_t due;        /* next escalation or absence deadline, NB_TIME_NONE when neither */
    int64_t due_stored; /* as stored (its timer is set already) */
    int64_t due_esc;    /* the next escalation alone (not stored) */
} nb__child_t;

typedef nb_notify_digest_t nb__digest_t; /* kind 3 */

/* pipeline.c */
bool nb__unhex32(const char *hex, uint8_t out[NB__KEY_LEN]);
const uint8_t *nb__take(nb__rd_t *r, size_t n);
uint64_t nb__rd_le(nb__rd_t *r, size_t n);
nb_record_type_t nb__expect(const nb_config_t *c, const char *topic);
void nb__msg_origin(const nb__msg_t *m, nb_buf_t *scratch, nb__origin_t *o);
int64_t nb__recorded_of(const nb_record_t *rec);
NB_NODISCARD nb_err_t nb__deliver(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m,
                                  int64_t now);
NB_NODISCARD nb_err_t nb__msg_dead_letter(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m,
                                          nb_err_t code, const char *why);
const char *nb__mother_of(const nb_record_t *rec);
void nb__provisional_key(const nb_identity_resolution_t *res, char hex[NB_KEY_MAX + 1]);
NB_NODISCARD nb_err_t nb__move_here(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                    const uint8_t key[NB__KEY_LEN], const char *key_hex,
                                    const char *into_hex, int64_t now);

/* parked.c */
void nb__prov_note(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
                          uint32_t count, int64_t oldest);
void nb__heap_push_e(nb__heap_t *hp, const nb__due_t *e);
void nb__heap_push(nb__heap_t *hp, int64_t due, const nb__tid_t *id);
void nb__heap_pop(nb__heap_t *hp);
void nb__heapify(nb__heap_t *hp);
void nb__heap_rebuild(nb__pipeline_t *p, nb_stream_t *st);
void nb__timer_set(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                   const uint8_t key[NB__KEY_LEN], int64_t due);
void nb__timer_set_esc(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                       const uint8_t key[NB__KEY_LEN], int64_t due, int64_t esc);
void nb__parked_origin(const nb__parked_t *e, nb__origin_t *o);
int nb__parked_each(const uint8_t *val, size_t len,
                           int (*cb)(void *, const nb__parked_t *), void *opaque);
void nb__preg_note(nb__pipeline_t *p, int32_t partition, const uint8_t key[NB__KEY_LEN],
                          const uint8_t *val, size_t len);
void nb__put_entry(nb_buf_t *b, const nb__parked_t *e);
NB_NODISCARD nb_err_t nb__park(nb__pipeline_t *p, nb_stream_t *st, int32_t part, const nb__msg_t *m,
                               int64_t now);

/* child.c */
NB_NODISCARD nb_err_t nb__move_to(nb__pipeline_t *p, nb_stream_t *st, const char *from_hex,
                                  const char *into_hex, int64_t now);
NB_NODISCARD nb_err_t nb__child_load(nb__pipeline_t *p, const uint8_t *val, size_t len,
                                     nb_ledger_t *led, nb__child_t *c);
NB_NODISCARD nb_err_t nb__child_save(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                     const uint8_t key[NB__KEY_LEN], const nb__child_t *c);
NB_NODISCARD nb_err_t nb__publish(nb__pipeline_t *p, nb_stream_t *st, const nb_notification_t *n);
/* Writes p->audit->u.audit (filled by the caller) to the audit topic, keyed by its child key
 * (child.c). */
NB_NODISCARD nb_err_t nb__audit(nb__pipeline_t *p, nb_stream_t *st);
/* The audit record of a verdict on a person's action (child.c). */
NB_NODISCARD nb_err_t nb__audit_action(nb__pipeline_t *p, nb_stream_t *st, const nb_ack_t *a,
                                       const nb_notify_outcome_t *o, const char *child_key,
                                       int64_t now);
NB_NODISCARD nb_err_t nb__lifecycle(nb__pipeline_t *p, nb_stream_t *st, nb__child_t *c,
                                    const char *key_hex, bool quiet, int64_t now);

/* digest.c */
NB_NODISCARD nb_err_t nb__digest_load(const uint8_t *val, size_t len, nb__digest_t *d);
NB_NODISCARD nb_err_t nb__digest_forward(nb__pipeline_t *p, nb_stream_t *st,
                                         const nb_policy_decision_t *d,
                                         const nb_notification_t *note, int64_t now);
NB_NODISCARD nb_err_t nb__digest_publish(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                         const uint8_t key[NB__KEY_LEN], const nb__digest_t *d,
                                         int64_t now);
NB_NODISCARD nb_err_t nb__digest_add(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m,
                                     int32_t part, int64_t now);

#endif
