/*
 * notbrought - stream: the Kafka runtime's private header, shared by its files (runtime.c the
 * run loop, client.c, state.c, deadletter.c, txn.c, ahead.c, watermark.c, restore.c) and by
 * nothing else: the pipeline sees the runtime only through stream/internal.h.
 *
 * One group consumer (sources + by-child topic), one transactional producer, one consumer
 * without a group for the global identity links table, and one for restoring changelog
 * partitions. @locality everything here runs on the thread that calls nb_stream_run(),
 * including librdkafka's rebalance callback (served from rd_kafka_consumer_poll()), except
 * the committer thread (one commit), the decoder thread (decodes records polled ahead) and
 * the restore threads.
 */
#ifndef NB_STREAM_RUNTIME_H
#define NB_STREAM_RUNTIME_H

#include "stream/internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NB__TXN_TIMEOUT_MS 30000
/* How long the group may take to say its committed offsets, to fence a tick's commit. */
#define NB__FENCE_ASK_MS 5000
/* Catching up: how long one ask for the sources' stable offsets or the by-child high
 * watermarks may block the loop, and how often a failed one is asked again. */
#define NB__STABLE_ASK_MS 1000
#define NB__STABLE_RETRY_MS 100
/* The longest a restore waits for an earlier owner's transaction to end: twice the
 * transaction timeout, after which the brokers have aborted it (then the run stops, exit 3). */
#define NB__SETTLE_MAX_MS 120000
/* One attempt of commit_transaction: a transaction that failed while committing (a produce
 * refused, "requires epoch bump") is only reported by the next call, which the first would
 * make wait the whole NB__TXN_TIMEOUT_MS flushing records that will never be delivered. */
#define NB__COMMIT_ATTEMPT_MS 2000
/* One attempt of abort_transaction. An abort first waits for every record sent; records of a
 * partition whose sequence broke never come back (nb__producer_renew), so two attempts of this
 * length, a purge between them, then a new producer: ~10 s at worst instead of a minute. */
#define NB__ABORT_ATTEMPT_MS 5000
#define NB__LINKS_PER_TICK 10000
#define NB__TICK_MS 1000
#define NB__LINKS_FETCH_WAIT_MS 100
#define NB__MAX_COUNTED_TOPICS 16
#define NB__MAX_TOPIC_HANDLES 8
#define NB__AHEAD 256           /* records polled per turn of the main loop */
#define NB__RING (2 * NB__AHEAD) /* records polled and not handled yet, at most */
#define NB__DL_KEY_MAX 1024      /* key bytes a bounded dead letter keeps */
#define NB__DL_HEADERS_MAX 16384 /* packed original headers a bounded dead letter keeps */
#define NB__BROKERS_PROBE_MS 1000 /* while the brokers are down, how often to ask them */

/* A record polled and not handled yet. Source records are decoded by the decoder thread
 * (processing.decode_ahead) unless the main loop gets to them first. */
typedef enum {
    NB__SLOT_READY,   /* nothing to decode, or decoded into `dec` */
    NB__SLOT_NEW,     /* a source record for the decoder */
    NB__SLOT_DECODING, /* the decoder is at it */
    NB__SLOT_INLINE,  /* the main loop got there first: decoded when handled */
} nb__slot_state_t;

typedef struct nb__slot_s {
    rd_kafka_message_t *rkm;
    nb__slot_state_t state; /* @locks ahead.lock */
    bool source;            /* a source record to decode ahead */
    bool skip;              /* polled before its partition was sought back: not handled */
    int64_t now;            /* when it was polled: the decoder validates as of it */
    nb__decoded_t dec;
} nb__slot_t;

/* Records consumed since the last report, by topic. */
typedef struct nb__counted_s {
    char topic[250];   /* Kafka allows 249 characters */
    const char *name;  /* librdkafka's name of the topic handle, compared first */
    uint64_t n;
} nb__counted_t;

/* The producer's handle of a topic the daemon writes: producing by name looks the handle up
 * (a list walk under a lock) for every record. */
typedef struct nb__topic_handle_s {
    const char *name; /* the configuration's string */
    rd_kafka_topic_t *rkt;
} nb__topic_handle_t;

/* A record produced while the previous transaction commits: it waits for its own. */
typedef struct nb__pending_s {
    const char *topic; /* the configuration's */
    int32_t partition;
    void *key;
    size_t key_len;
    void *value; /* malloc'd; the producer takes it over (RD_KAFKA_MSG_F_FREE) */
    size_t value_len;
    rd_kafka_headers_t *hdrs;
} nb__pending_t;

/* How far a source partition has been read, in the time its records were recorded: its
 * watermark (nb__watermark). Assigned here, or reported by the instance it is assigned to
 * (a watermark record on the by-child topic). */
typedef struct nb__srcwm_s {
    char topic[250];
    int32_t partition;
    bool remote;      /* reported by another instance, not assigned here */
    int64_t recorded; /* latest recorded_at read (remote: the watermark reported); 0: none */
    int64_t seen;     /* wall clock: the report heard (remote entries) */
    int64_t at_end;   /* wall clock: read to its end since (nothing read after), or 0 */
} nb__srcwm_t;

/* Pre-image of a state entry the batch changed: what it held before the batch first wrote it
 * (or before a write that re-created it after the batch removed it). */
typedef struct nb__undo_s {
    int32_t partition;
    bool existed;
    uint8_t key[NB__KEY_LEN];
    uint8_t *val;
    size_t len;
} nb__undo_t;

/* A batch's pre-images, in the order it took them: undone in reverse, the first write's
 * pre-image of a key comes back last. The store marks the entries whose pre-image a batch holds,
 * so a key written again by the same batch needs no lookup here. */
typedef struct nb__undo_log_s {
    nb__undo_t *v;
    size_t n, cap;
} nb__undo_log_t;

/* The commit in flight (processing.commit_in_background): the committer thread sends the
 * offsets and commits the last batch's transaction while the main thread handles the next
 * batch, whose records wait in `pending` until its own transaction can begin. Until the commit
 * is settled its pre-images stay in commit.undo: an abort rolls back both batches. (txn.c) */
typedef struct nb__commit_s {
    bool busy; /* a commit is in flight */
    pthread_t thread;
    atomic_bool done;
    rd_kafka_error_t *error; /* the committer's result */
    rd_kafka_topic_partition_list_t *offsets;
    rd_kafka_consumer_group_metadata_t *cgmd;
    int64_t t0;
    int64_t wait_ms; /* the main loop's time waiting for commits (logged at the end) */
    /* What the batch committing held, until its commit settles: pre-images to roll back,
     * records consumed and dead letters by code (counted once it commits). */
    nb__undo_log_t undo;
    nb__counted_t consumed[NB__MAX_COUNTED_TOPICS];
    size_t n_consumed;
    uint32_t dl[NB_ERR__COUNT];
    bool dl_any;
} nb__commit_t;

/* Watermarks of the source partitions: absence deadlines wait for them. (watermark.c) */
typedef struct nb__watermarks_s {
    nb__srcwm_t *src;
    size_t n, cap, hit;
    int64_t value;          /* the watermark last worked out (NB_TIME_NONE: the clock) */
    uint64_t released_seen; /* nb__pipeline_released() as last reported */
    int64_t reported;       /* wall clock: the last report to the other instances */
    size_t expected;        /* partitions of the subscribed topics (0: not known yet) */
} nb__watermarks_t;

/* Records polled ahead, handled in order from `head`; the decoder thread decodes source
 * records from `wcur` on. Indexes grow forever; the slot is index % NB__RING. (ahead.c) */
typedef struct nb__ahead_s {
    nb__slot_t *ring;
    uint64_t head, tail;  /* @locks lock (written by the main thread only) */
    uint64_t wcur;        /* @locks lock */
    bool quit;            /* @locks lock */
    bool decoder_idle;    /* @locks lock: waits for work */
    bool main_waits;      /* @locks lock: waits for done */
    uint64_t decoded_ahead, decoded_inline; /* @locks lock */
    nb__decoder_t *decoder; /* the decoder thread's; NULL: no decoder thread */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
} nb__ahead_t;

/* The open batch: records handled since the last commit started, and what its transaction
 * will commit (txn.c; its state pre-images: state.c). */
typedef struct nb__batch_s {
    bool open;  /* a batch is open: records handled since the last commit started */
    bool begun; /* its producer transaction has begun (not while the last one commits) */
    int64_t start;
    long records;
    long emitted;
    rd_kafka_topic_partition_list_t *offsets; /* next offsets to commit */
    int last_offset;                          /* index in offsets of the last record's partition */
    nb__counted_t consumed[NB__MAX_COUNTED_TOPICS]; /* records consumed, by topic */
    size_t n_consumed;
    nb__undo_log_t undo;
    uint64_t seq; /* the stores' mark of the pre-images it holds */
    /* Records made while the last commit was in flight, produced when this batch's
     * transaction begins. */
    nb__pending_t *pending;
    size_t n_pending, cap_pending;
    /* Dead letters by code: counted (metrics, stats) when their transaction commits, not when
     * they are produced. */
    uint32_t dl[NB_ERR__COUNT];
    bool dl_any;
} nb__batch_t;

/* A record a broker refused for itself (too large, invalid), as the transaction's failure says
 * (nb__names_refusal): the batch aborts, and its records are handled again one per transaction
 * until the one refused is found and set aside. */
typedef struct nb__isolation_s {
    atomic_bool refused;                             /* @locality set on any thread */
    rd_kafka_topic_partition_list_t *suspects;       /* suspect records: offsets below these */
    rd_kafka_topic_partition_list_t *failed_offsets; /* of a commit that failed, until rollback */
    bool commit_alone; /* the open batch holds one suspect record: commit it alone, now */
    struct {
        bool set;
        char topic[256];
        int32_t partition;
        int64_t offset;
    } record; /* the suspect record alone in the open (or committing) batch */
} nb__isolation_t;

/* Restore after an assignment (restore.c). After an assignment or an abort, the sources stay
 * paused until every owned by-child partition has been read to its target: its high watermark
 * taken once the sources' committed offsets were stable. What the topic held for a key is
 * handled before anything delivered to that key locally, so a key's events keep their order
 * (restore.c says why a partition's end is not enough). */
typedef struct nb__restore_s {
    rd_kafka_t *client;
    rd_kafka_t *client2; /* a second restoring thread's */
    rd_kafka_t *ends;    /* read_uncommitted, no group: the by-child high watermarks */
    bool catching_up;
    bool targets_known;          /* since the assignment: sources' offsets stable, targets taken */
    int64_t targets_asked;       /* when they were last asked for (retried while not known) */
    rd_kafka_resp_err_t ask_err; /* why the last ask failed */
    int64_t catch_up_since; /* when it started; reset once a slow catch-up has been logged */
    int64_t *target;        /* [partitions]: by-child offset to read to before the sources */
    int64_t *read_to;       /* [partitions]: read up to here since assigned or rewound, else -1 */
    /* Source partitions that delivered a record while paused for the catch-up, with the
     * first such offset (restore.c: nb__catch_up_hold); NULL when none. */
    rd_kafka_topic_partition_list_t *held;
} nb__restore_t;

struct nb_stream_s {
    const nb_config_t *conf;
    nb__pipeline_t *pipe;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    volatile sig_atomic_t *stop; /* nb_stream_run()'s */
    rd_kafka_t *links;
    nb__store_t **stores; /* [partitions], NULL when not owned */
    int partitions;
    /* The offsets this instance's own transactions committed since the last rebalance: an
     * abort rewinds to these without asking the coordinator (which may be the broker in
     * trouble), and the embedded cluster, which forgets transactional offset commits, then
     * rewinds as Apache Kafka does. Partitions not in it are looked up. */
    rd_kafka_topic_partition_list_t *done_offsets;
    bool fence_asked; /* the group asked for offsets to fence a tick's commit (txn.c) */
    nb__topic_handle_t topics[NB__MAX_TOPIC_HANDLES];
    size_t n_topics;
    nb__batch_t batch;   /* the open batch and its transaction (txn.c, state.c) */
    nb__commit_t commit; /* the commit in flight (txn.c) */
    nb__isolation_t isolation; /* finding a record a broker refused (deadletter.c, txn.c) */
    nb__restore_t restore;     /* restore and catch-up after an assignment (restore.c) */
    long abort_backoff_ms;  /* pause after an abort that followed an abort */
    /* A record whose handling failed with an error of its own (not Kafka's): its batch was
     * rolled back, and when the record comes again it goes to the dead letters (nb__process). */
    struct {
        bool set;
        char topic[256];
        int32_t partition;
        int64_t offset;
        nb_err_t err;
        int attempts; /* times this record was set aside and its batch still failed */
    } poison;
    int dl_force; /* while setting a poison record aside: 1 bounded, 2 minimal dead letter */
    size_t max_msg; /* the producer's message.max.bytes */
    /* Readiness: when the loop last made progress (a commit, or nothing to do), and whether
     * the brokers were seen down. Read by the HTTP thread through nb_stream_stats(). */
    _Atomic int64_t progress_ms;
    int64_t brokers_probe_ms;
    nb__watermarks_t wm; /* watermark.c */
    nb_stream_fault_fn *fault_fn; /* test seam (nb_stream_set_fault_hook) */
    uint64_t test_hold_until;     /* test seam (nb_stream_set_catch_up_test); 0: none */
    void *fault_opaque;
    atomic_bool fatal;      /* also set by librdkafka's callbacks, on whichever thread polls */
    atomic_bool brokers_down; /* ALL_BROKERS_DOWN seen: not ready until the brokers answer */
    atomic_bool stop_asked;   /* nb_stream_stop(), from any thread */
    int64_t last_tick;
    /* The identity table's digest (runtime.c): worked out again once links changed, not
     * before next_ms (a multiple of what the last one cost: bounded share of the loop). */
    struct {
        bool dirty;
        int64_t next_ms;
    } iddigest;
    nb__ahead_t ahead; /* records polled ahead and the decoder thread (ahead.c) */
    _Atomic int64_t fixed_now; /* NB_TIME_NONE: evaluate at the wall clock */
    nb_metrics_t *metrics;      /* borrowed; NULL when metrics are off (every call accepts it) */
    nb_stream_stats_t stats;            /* main thread's working copy */
    nb_stream_stats_t published;        /* @locks stats_lock: what other threads read */
    pthread_mutex_t stats_lock;
    char errstr[512];
};

/* client.c */
bool nb__names_refusal(const char *s);
void nb__refused(nb_stream_t *st, const char *reason);
/**
 * @brief What every client of the project is made from: bootstrap.servers, client.id
 *        "<instance_id>-<role>", kafka.properties (security settings included) and the log
 *        callback. No error callback and no opaque: the caller sets its own.
 * @returns NULL with the reason in errstr.
 */
rd_kafka_conf_t *nb__client_conf(const nb_config_t *conf, const char *role, char *errstr,
                                 size_t errstr_size);
rd_kafka_conf_t *nb__producer_conf(const nb_config_t *conf, void *opaque, char *errstr,
                                          size_t errstr_size);
void nb__publish_stats(nb_stream_t *st);
void nb__brokers_probe(nb_stream_t *st, int64_t now);

/* state.c */
void nb__undo_clear(nb__undo_log_t *log);
void nb__undo_free(nb__undo_log_t *log);
void nb__undo_apply(nb_stream_t *st, nb__undo_log_t *log);
NB_NODISCARD nb_err_t nb__begin(nb_stream_t *st);
void nb__pending_clear(nb_stream_t *st);
NB_NODISCARD nb_err_t nb__pending_flush(nb_stream_t *st);
size_t nb__wire_size(size_t key_len, size_t value_len, rd_kafka_headers_t *hdrs);

/* deadletter.c */
NB_NODISCARD nb_err_t nb__dead_letter_bounded(nb_stream_t *st, const nb__origin_t *o,
                                              rd_kafka_headers_t *orig, const void *value,
                                              size_t len, nb_err_t err, const char *reason,
                                              bool minimal);

/* txn.c */
void nb__track_offset(nb_stream_t *st, const rd_kafka_message_t *rkm);
void nb__done_offsets_reset(nb_stream_t *st);
void nb__count_consumed(nb_stream_t *st, const char *topic);
/* Every partition of the subscribed topics (watermark.c); NULL when the brokers cannot say. */
rd_kafka_topic_partition_list_t *nb__group_partitions(nb_stream_t *st);
void nb__catch_up_check(nb_stream_t *st, bool force);
void nb__catch_up_restart(nb_stream_t *st);
/* A source record delivered while the sources are paused for the catch-up: not handled; its
 * partition is sought back to it when the sources resume. */
void nb__catch_up_hold(nb_stream_t *st, const char *topic, int32_t partition, int64_t offset);
/* Forgets the records held back (a rewind or a new assignment seeks every partition anew). */
void nb__catch_up_forget(nb_stream_t *st);
/* Marks the records polled into the ring from the partitions in @p parts as not to be handled
 * (ahead.c). */
void nb__ahead_skip(nb_stream_t *st, const rd_kafka_topic_partition_list_t *parts);
/* A by-child partition read up to @p offset (a record's offset + 1, or an end). */
void nb__catch_up_read(nb_stream_t *st, int32_t p, int64_t offset);
/* Takes the catch-up targets once the sources' offsets are stable (a turn's chore). */
void nb__catch_up_targets(nb_stream_t *st, int64_t now);
bool nb__suspect(const nb_stream_t *st, const rd_kafka_message_t *rkm);
void nb__rollback(nb_stream_t *st);
NB_NODISCARD nb_err_t nb__commit_start(nb_stream_t *st, bool background);
NB_NODISCARD nb_err_t nb__commit_settle(nb_stream_t *st);
NB_NODISCARD nb_err_t nb__abort(nb_stream_t *st);
NB_NODISCARD nb_err_t nb__commit(nb_stream_t *st);

/* ahead.c */
void nb__ahead_discard(nb_stream_t *st);
rd_kafka_message_t *nb__ahead_take(nb_stream_t *st, const nb__decoded_t **pre);
size_t nb__ahead_fill(nb_stream_t *st, int timeout, bool *drained);
NB_NODISCARD nb_err_t nb__ahead_start(nb_stream_t *st);
void nb__ahead_stop(nb_stream_t *st);

/* watermark.c */
void nb__srcwm_assign(nb_stream_t *st, const rd_kafka_topic_partition_list_t *parts,
                             bool assign);
void nb__srcwm_note(nb_stream_t *st, const rd_kafka_message_t *rkm, int64_t recorded);
void nb__watermark_update(nb_stream_t *st, int64_t now, int64_t wall, bool gauges);
NB_NODISCARD nb_err_t nb__watermark_report(nb_stream_t *st, int64_t now, int64_t wall);
bool nb__watermark_heard(nb_stream_t *st, const rd_kafka_message_t *rkm);

/* restore.c */
void nb__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, void *opaque);

/* runtime.c */
int64_t nb__now(void);
int64_t nb__eval_now(const nb_stream_t *st);
NB_NODISCARD nb_err_t nb__init_transactions(nb_stream_t *st, volatile sig_atomic_t *stop);
NB_NODISCARD nb_err_t nb__process(nb_stream_t *st, rd_kafka_message_t *rkm, int64_t now,
                                  const nb__decoded_t *pre);
NB_NODISCARD nb_err_t nb__ahead_handle(nb_stream_t *st, uint64_t upto, bool bounded);

#endif
