/*
 * notbrought - stream internals: the contract between the Kafka runtime (runtime.c), which
 * owns consumers, the transactional producer and the state stores, and the pipeline
 * (pipeline.c), which decides what each record means by calling the pure core.
 *
 * The pipeline never calls librdkafka directly except to read the message it was given; it
 * produces through nb__emit() and changes state through nb__state_*(), so that everything it
 * does belongs to the current transaction and is undone if the transaction aborts.
 */
#ifndef NB_STREAM_INTERNAL_H
#define NB_STREAM_INTERNAL_H

#include <librdkafka/rdkafka.h>

#include "notbrought/codec.h"
#include "notbrought/identity.h"
#include "notbrought/ledger.h"
#include "notbrought/stream.h"
#include "notbrought/util.h"

#define NB__KEY_LEN 32 /* raw HMAC-SHA256 child key */

/** @brief Hex of a child key (2 * NB__KEY_LEN digits and a NUL). */
void nb__key_hex(const uint8_t key[NB__KEY_LEN], char out[2 * NB__KEY_LEN + 1]);

/** @brief Parses @p len hex digits into a child key. @returns false unless exactly a key. */
bool nb__key_unhex(const void *hex, size_t len, uint8_t key[NB__KEY_LEN]);

/* ---- state store (store.c): one per owned by-child partition ---------------------------------- */

typedef struct nb__store_s nb__store_t;

/* The timer kept with a key's state (by the pipeline): when the child's next escalation or
 * absence deadline falls due, or a digest's period ends (NB_TIME_NONE: no timer), and the next
 * escalation alone when an absence deadline comes first (NB_TIME_NONE otherwise). Kept in the
 * entry, so the save that follows a load finds it without a lookup of its own. In memory only:
 * a restore reads it from the value again. */
typedef struct nb__timer_slot_s {
    int64_t due, esc;
} nb__timer_slot_t;

nb__store_t *nb__store_new(void);
void nb__store_destroy(nb__store_t *s);
/** @returns the value, valid until the next put/del/swap of that key, or NULL when absent.
 *  A value put must not point into the store's own values.
 *  @remark Not const: the store remembers the entry found, for the put that follows. */
const uint8_t *nb__store_get(nb__store_t *s, const uint8_t key[NB__KEY_LEN], size_t *len);
NB_NODISCARD nb_err_t nb__store_put(nb__store_t *s, const uint8_t key[NB__KEY_LEN], const void *val,
                                    size_t len);
void nb__store_del(nb__store_t *s, const uint8_t key[NB__KEY_LEN]);
/**
 * @brief Puts a copy of @p val, or removes the key when @p val is NULL, and hands back the
 *        previous value when the batch needs it as a pre-image.
 * @param mark the batch that writes (non-zero): the entry keeps it, and @p marked says whether
 *        the entry carried this mark already, i.e. whether this batch has saved the entry's
 *        pre-image before. A removed entry forgets its mark.
 * @param old unless @p marked, a malloc'd copy of the previous value for the caller to free
 *        (NULL when the key was absent: @p existed false).
 */
NB_NODISCARD nb_err_t nb__store_swap(nb__store_t *s, const uint8_t key[NB__KEY_LEN],
                                     const void *val, size_t len, uint64_t mark, uint8_t **old,
                                     size_t *old_len, bool *existed, bool *marked);
size_t nb__store_count(const nb__store_t *s);
/** @brief Memory the store holds: its entries as allocated (each with its value) and its
 *  table's arrays (their size worked out from the count, so about). */
size_t nb__store_bytes(const nb__store_t *s);
typedef int(nb__store_cb_t)(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val,
                            size_t len);
/** @brief Calls cb for every entry (in no particular order); stops when cb returns non-zero. */
int nb__store_foreach(const nb__store_t *s, nb__store_cb_t *cb, void *opaque);
/** @brief The timer of @p key into @p out. @returns false (out: no timer) when absent. */
bool nb__store_timer(nb__store_t *s, const uint8_t key[NB__KEY_LEN], nb__timer_slot_t *out);
/** @brief Sets the timer of @p key, the previous one into @p old. @returns false (nothing set,
 *  old: no timer) when the key is absent: a timer lives only as long as its state. */
bool nb__store_timer_set(nb__store_t *s, const uint8_t key[NB__KEY_LEN],
                         const nb__timer_slot_t *timer, nb__timer_slot_t *old);
/** @brief How many entries have a timer set. */
size_t nb__store_timed(const nb__store_t *s);
typedef int(nb__store_scan_cb_t)(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val,
                                 size_t len, nb__timer_slot_t *timer);
/** @brief Like nb__store_foreach(), with each entry's timer, which @p cb may change. */
int nb__store_scan(nb__store_t *s, nb__store_scan_cb_t *cb, void *opaque);

/* ---- runtime services for the pipeline (runtime.c) ------------------------------------------ */

/**
 * @brief Produces a record within the current transaction.
 * @param partition the partition, or RD_KAFKA_PARTITION_UA to let the partitioner choose.
 * @remark @p hdrs (may be NULL) is owned by the call, whether it succeeds or not.
 */
NB_NODISCARD nb_err_t nb__emit(nb_stream_t *st, const char *topic, int32_t partition,
                               const void *key, size_t key_len, const void *value, size_t value_len,
                               rd_kafka_headers_t *hdrs);

/** @brief Sends the message to the dead-letter topic with its original key, value and headers
 *         and the error in nb.error.* headers; counts it. A by-child record that carries its
 *         origin goes as the original record (its key, headers and provenance). */
NB_NODISCARD nb_err_t nb__dead_letter(nb_stream_t *st, const rd_kafka_message_t *rkm, nb_err_t err,
                                      const char *reason);

/**
 * Where a value was first read: the source record's coordinates, key and headers. A record
 * that crosses the by-child topic, or waits in a parked state, carries these along, so that a
 * dead letter made later still holds the original key and headers (the by-child record's own
 * key is the child key).
 */
typedef struct nb__origin_s {
    const char *topic; /**< NULL: none known (the value was made here, not read) */
    int32_t partition;
    int64_t offset, ts;
    const void *key; /**< the original key; NULL when the record had none */
    size_t key_len;
    const void *headers; /**< the original headers, packed (nb__headers_pack), or NULL */
    size_t headers_len;
} nb__origin_t;

/** @brief Packs the headers of a consumed record into @p out (appended): u32 count, then per
 *         header u16 name length, name, u32 value length (UINT32_MAX for a null value), value.
 *  @returns false when the record has no headers (nothing appended). */
bool nb__headers_pack(const rd_kafka_message_t *rkm, nb_buf_t *out);

/** @brief Adds the headers of a packed blob to @p h. @returns false when the blob is malformed
 *         (the headers read before the fault are added). */
bool nb__headers_unpack(const void *blob, size_t len, rd_kafka_headers_t *h);

/** @brief A header's last value as a NUL-terminated string in @p buf ("" when absent or
 *         null; truncated to @p size - 1). */
const char *nb__header_str(rd_kafka_headers_t *h, const char *name, char *buf, size_t size);

/** @brief Adds @p o to the headers of a record bound for the by-child topic (nb.source.*). */
void nb__origin_to_headers(const nb__origin_t *o, rd_kafka_headers_t *h);

/** @brief Reads the origin a by-child record carries (nb__origin_to_headers). @p topic holds
 *         the topic name. @returns false when the record carries none. Pointers are into
 *         @p rkm's headers. */
bool nb__origin_from_headers(const rd_kafka_message_t *rkm, nb__origin_t *o, char *topic,
                             size_t topic_size);

/** @brief Sends a value that is not (or no longer) a consumed record to the dead-letter topic,
 *         with its origin's key, headers and provenance and the error in nb.error.* headers;
 *         counts it. */
NB_NODISCARD nb_err_t nb__dead_letter_origin(nb_stream_t *st, const nb__origin_t *o,
                                             const void *value, size_t len, nb_err_t err,
                                             const char *reason);

/** @brief The by-child (and changelog) partition that owns a child key. */
int32_t nb__partition_of(const nb_stream_t *st, const uint8_t key[NB__KEY_LEN]);

/** @brief Current state of a key in an owned partition (NULL when absent or not owned). */
const uint8_t *nb__state_get(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                             size_t *len);

/** @brief Replaces the state of a key, writes it to the changelog, and remembers the old value
 *         so that an abort restores it. A value of length 0 deletes (tombstone). */
NB_NODISCARD nb_err_t nb__state_put(nb_stream_t *st, int32_t partition,
                                    const uint8_t key[NB__KEY_LEN], const void *val, size_t len);

/** @brief The names of the topics, partitions, etc. */
const nb_config_t *nb__stream_conf(const nb_stream_t *st);

/** @brief Mutable counters. */
nb_stream_stats_t *nb__stream_counters(nb_stream_t *st);

/** @brief The metrics registry, or NULL (every nb_metrics_* call accepts NULL). */
nb_metrics_t *nb__stream_metrics(const nb_stream_t *st);

/** @brief Keys held in the state of the owned partitions. */
size_t nb__stream_keys(const nb_stream_t *st);

/** @brief Memory the owned partitions' stores hold (nb__store_bytes() summed). */
size_t nb__stream_state_bytes(const nb_stream_t *st);

/** @brief How many by-child partitions there are (owned or not). */
int32_t nb__stream_partitions(const nb_stream_t *st);

/** @brief The timer kept with a key's state (nb__store_timer) in an owned partition. @returns
 *  false (out: no timer) when the key has no state or the partition is not owned. */
bool nb__state_timer(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                     nb__timer_slot_t *out);

/** @brief Sets the timer kept with a key's state (nb__store_timer_set); not undone by an abort
 *  (the pipeline sets it again from the state put back). @returns false when there is no
 *  state to keep it with. */
bool nb__state_timer_set(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                         const nb__timer_slot_t *timer, nb__timer_slot_t *old);

/** @brief Timers set in the owned partitions. */
size_t nb__stream_timed(const nb_stream_t *st);

/** @brief nb__store_scan() of an owned partition's states (nothing when not owned). */
int nb__state_scan(nb_stream_t *st, int32_t partition, nb__store_scan_cb_t *cb, void *opaque);

/** @brief True when this instance owns the by-child partition now. */
bool nb__owns(const nb_stream_t *st, int32_t partition);

/* ---- pregidx.c: pregnancies kept under a local identifier's key (state kind 6) ------------- */

#define NB__STATE_PREG 6                                  /* state kind (pipeline.c) */
/* The state value's format version (its fourth byte, "NBS" 1) and the highest kind byte this
 * release reads: a value beyond either was written by a newer release (nb__state_refusal()). */
#define NB__STATE_FORMAT 1
#define NB__STATE_KIND_MAX 6

/** @brief Why a key's state value was not read, for a log line and a dead letter: a newer
 *         format version or kind than this release knows, or @p detail (the decoder's).
 *         Writes @p out (always terminated). */
void nb__state_refusal(const uint8_t *val, size_t len, const char *detail, char *out, size_t size);
#define NB__PREG_REF_LEN (NB_IDENTITY_WANT_LEN + 4)       /* the reference closing its value */
typedef struct nb__pregidx_s nb__pregidx_t;
typedef struct nb__pregidx_entry_s {
    int32_t partition;
    uint8_t key[NB__KEY_LEN];
    nb_identity_preg_ref_t ref;
} nb__pregidx_entry_t;
nb__pregidx_t *nb__pregidx_new(void);
void nb__pregidx_destroy(nb__pregidx_t *x);
/* Keeps the index in step with a state value (NULL, or not kind 6: the key leaves it). */
void nb__pregidx_note(nb__pregidx_t *x, int32_t partition, const uint8_t key[NB__KEY_LEN],
                      const uint8_t *val, size_t len);
void nb__pregidx_drop_partition(nb__pregidx_t *x, int32_t partition);
/* Copies of the entries of the partitions owned now, in *out (free() it). */
NB_NODISCARD nb_err_t nb__pregidx_owned(const nb__pregidx_t *x, const nb_stream_t *st,
                                        nb__pregidx_entry_t **out, size_t *n);

/** @brief True when what is meant for a key of this by-child partition is handled here, in the
 *         current transaction, rather than produced to the by-child topic: the partition is
 *         owned, restored, and what the topic held for it at assignment has been consumed. */
bool nb__deliver_here(const nb_stream_t *st, int32_t partition);

/* ---- demographic link suggestions (suggest.c) -------------------------------------------------- */

/**
 * @brief Encodes an IdentitySuggestion record (Confluent framing) from the suggestion the
 *        identity module attached to @p cause's resolution, suggested at @p now; appended to
 *        @p out.
 * @returns NB_ERR_OK, or the codec's error with a message naming fields only.
 */
NB_NODISCARD nb_err_t nb__suggestion_encode(nb_codec_t *codec, const nb_identity_suggestion_t *sg,
                                            const nb_record_t *cause, int64_t now, nb_buf_t *out,
                                            char *errstr, size_t errstr_size);

/**
 * @brief In the transaction that parks an event under provisional key @p prov (of owned
 *        partition @p part): publishes the encoded suggestion @p value to
 *        topics.identity_suggestions unless this key has published the same one already, and
 *        remembers it in the key's marker entry. Nothing when suggestions are off.
 * @returns NB_ERR_OK (published, or a repeat, or a record that does not read back: counted and
 *          logged without content), or the error of nb__emit() / the state.
 */
NB_NODISCARD nb_err_t nb__suggestion_publish(nb_codec_t *codec, nb_stream_t *st, int32_t part,
                                             const uint8_t prov[NB__KEY_LEN], const void *value,
                                             size_t len);

/** @brief The provisional key @p prov holds no parked event any more: its marker entry goes. */
NB_NODISCARD nb_err_t nb__suggestion_forget(nb_stream_t *st, int32_t part,
                                            const uint8_t prov[NB__KEY_LEN]);

/* ---- the pipeline (pipeline.c) ---------------------------------------------------------------- */

typedef struct nb__pipeline_s nb__pipeline_t;

nb__pipeline_t *nb__pipeline_new(const nb_config_t *conf, char *errstr, size_t errstr_size);
void nb__pipeline_destroy(nb__pipeline_t *p);

/** A source record decoded and validated ahead of its handling (processing.decode_ahead). */
typedef struct nb__decoded_s {
    nb_err_t err; /**< NB_ERR_OK, or why the record goes to the dead letters (in errstr) */
    nb_record_t rec;
    bool keyed;            /**< an appointment whose ledger ids are in keys */
    nb_ledger_keys_t keys; /**< nb_ledger_keys_of(rec), worked out with the decoding */
    char errstr[512];
} nb__decoded_t;

/** Decodes source records with its own codec: one per thread. */
typedef struct nb__decoder_s nb__decoder_t;

/** @brief A decoder for the pipeline's topics, schemas and validation options. */
nb__decoder_t *nb__decoder_new(const nb__pipeline_t *p, char *errstr, size_t errstr_size);
void nb__decoder_destroy(nb__decoder_t *d);

/** @brief Decodes and validates a source record as of @p now. @locality any one thread per
 *         decoder; reads nothing the main thread changes. */
void nb__decoder_run(nb__decoder_t *d, const rd_kafka_message_t *rkm, int64_t now,
                     nb__decoded_t *out);

/** @brief A record from a source topic: decode (unless @p pre holds it decoded already),
 *         validate, resolve, forward or dead-letter. */
NB_NODISCARD nb_err_t nb__pipeline_source(nb__pipeline_t *p, nb_stream_t *st,
                                          const rd_kafka_message_t *rkm, int64_t now,
                                          const nb__decoded_t *pre);

/** @brief A record from the by-child topic: apply to the child's state, evaluate, notify. */
NB_NODISCARD nb_err_t nb__pipeline_by_child(nb__pipeline_t *p, nb_stream_t *st,
                                            const rd_kafka_message_t *rkm, int64_t now);

/** @brief A record of the identity links topic (global table, not transactional).
 *  @returns NB_ERR_OK, or why the link was refused (logged with its offset, not applied). */
NB_NODISCARD nb_err_t nb__pipeline_link(nb__pipeline_t *p, const rd_kafka_message_t *rkm,
                                        int64_t now);

/** @brief The identity table's digest (nb_identity_state_digest()).
 *  @returns NB_ERR_OK or NB_ERR_NOMEM. */
NB_NODISCARD nb_err_t nb__pipeline_identity_digest(const nb__pipeline_t *p, uint8_t out[32]);

/** @brief Once per batch, inside the transaction: release parked events that links now
 *         resolve, expire old ones, escalate what fell due (at most NB__TICK_BUDGET_MS of
 *         escalations per tick: see nb__pipeline_tick_more()). */
NB_NODISCARD nb_err_t nb__pipeline_tick(nb__pipeline_t *p, nb_stream_t *st, int64_t now);

#define NB__TICK_BUDGET_MS 20

/** @brief The watermark absence deadlines are judged at from now on: how far every source
 *         has been recorded (NB_TIME_NONE: the clock). Deadlines past the clock but not past
 *         the watermark are held until it passes them. */
void nb__pipeline_set_watermark(nb__pipeline_t *p, int64_t wm, int64_t wall);

/** @brief Absence deadlines that waited processing.watermark_max_hold_ms (wall clock) for the
 *         watermark and were judged at the clock instead. */
uint64_t nb__pipeline_released(const nb__pipeline_t *p);

/** @brief When the source record last handled by nb__pipeline_source() was recorded (its
 *         recorded_at; acknowledged_at for acknowledgements), or NB_TIME_NONE when it was not
 *         decoded. */
int64_t nb__pipeline_last_recorded(const nb__pipeline_t *p);

/** @brief Timers held for the watermark (at most one entry per child; stale ones included). */
size_t nb__pipeline_held(const nb__pipeline_t *p);

/** @brief Escalations that fell due were left for the next tick (the budget ran out). */
bool nb__pipeline_tick_more(const nb__pipeline_t *p);

/** @brief A rolled-back state of an owned partition: its timer and indexes set again. */
void nb__pipeline_state_loaded(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                               const uint8_t key[NB__KEY_LEN], const uint8_t *val, size_t len);

/* What a restore thread lists of a partition's states for the pipeline. */
typedef struct nb__restored_timer_s {
    int64_t due;
    uint8_t key[NB__KEY_LEN];
} nb__restored_timer_t;

typedef struct nb__restored_s {
    nb__restored_timer_t *timers; /* every key with a timer */
    size_t n_timers, cap_timers;
    uint8_t (*keys)[NB__KEY_LEN]; /* keys with parked events, or a pregnancy under a local
                                   * identifier's key (the indexes to rebuild) */
    size_t n_keys, cap_keys;
    bool lost; /* out of memory: the lists are incomplete */
} nb__restored_t;

/**
 * @brief A nb__store_scan() callback (opaque: a zeroed nb__restored_t) that sets each state's
 *        timer from its value and lists what nb__pipeline_partition_restored() needs.
 * @locality any thread: touches only the store scanned and @p opaque, so each restore thread
 *           runs it over the store it has just read.
 */
int nb__pipeline_restore_scan(void *opaque, const uint8_t key[NB__KEY_LEN], const uint8_t *val,
                              size_t len, nb__timer_slot_t *timer);
void nb__restored_free(nb__restored_t *r);

/** @brief A partition restored and installed: its timers go on the heap and its indexes are
 *  rebuilt from @p r (nb__pipeline_restore_scan() over its store), not from a walk of every
 *  state. */
void nb__pipeline_partition_restored(nb__pipeline_t *p, nb_stream_t *st, int32_t partition,
                                     const nb__restored_t *r);

/** @brief The partition is no longer owned: forget its indexes. */
void nb__pipeline_partition_dropped(nb__pipeline_t *p, int32_t partition);

/** @brief Memory the state holds: the owned partitions' stores (nb__stream_state_bytes()) and
 *  the timers' heaps. */
size_t nb__pipeline_state_bytes(const nb__pipeline_t *p, const nb_stream_t *st);

/** @brief Reports the policy in force (info metric) to the registry. */
void nb__pipeline_report(nb__pipeline_t *p, nb_metrics_t *m);
/** @brief Adds the per-event counters gathered since the last call to the metrics. */
void nb__pipeline_flush_metrics(nb__pipeline_t *p, nb_metrics_t *m);

/** @brief Reloads the policy files; the old policy stays on error. */
NB_NODISCARD nb_err_t nb__pipeline_reload(nb__pipeline_t *p, char *errstr, size_t errstr_size);

/* ---- one turn of the run loop (turn.c, pure) ----------------------------------------------------- */

/** What a turn of the run loop knows when it decides (times in ms). */
typedef struct nb__turn_s {
    bool txn_open;          /**< a batch is open */
    int64_t batch_age;      /**< since the batch began */
    long batch_records;     /**< records in it */
    bool idle;              /**< this turn polled nothing and nothing was left over */
    bool drained;           /**< the consumer had nothing more at hand */
    bool committing;        /**< a commit is in flight (on the committer thread) */
    bool commit_done;       /**< ... and has finished */
    bool catching_up;       /**< sources paused until the by-child partitions are read */
    bool isolate_commit;    /**< a suspect record was handled: commit it alone */
    bool isolate;           /**< records are being handled one transaction each */
    bool tick_more;         /**< the last tick ran out of budget with work left */
    bool background_allowed; /**< processing.commit_in_background */
    int64_t since_tick;     /**< since the last tick */
    int64_t tick_ms;        /**< a tick at least this often */
    int64_t commit_interval_ms, min_commit_interval_ms;
    long max_batch;
} nb__turn_t;

/** What the turn does. */
typedef struct nb__turn_do_s {
    bool commit;     /**< the open batch is due: commit it */
    bool tick;       /**< run the tick (timers, parked events, merges) first; the batch open
                          after it (the tick's records, or the batch not due yet) is committed
                          with it */
    bool background; /**< a commit goes to the committer thread */
    bool alone;      /**< the batch holds a suspect record, committed alone */
} nb__turn_do_t;

/** @brief How long the turn may wait for records: the batch's commit deadline (or its minimum
 *         age), 100 ms with no batch, 2 ms while a commit is in flight. */
int nb__turn_timeout(const nb__turn_t *t);

/** @brief Whether the turn commits, ticks, and where the commit runs. */
nb__turn_do_t nb__turn_decide(const nb__turn_t *t);

/* A client configuration for the tools and the inbox's follower: the bootstrap servers and
 * kafka.properties (security included), nothing else. NULL with errstr on a bad property. */
rd_kafka_conf_t *nb__tool_conf(const nb_config_t *conf, char *errstr, size_t errstr_size);

#endif
