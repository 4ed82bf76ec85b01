/*
 * notbrought - stream: the Kafka runtime (librdkafka). The only module that talks to Kafka.
 *
 * Topology (docs/architecture.md): source topics -> ingest (decode, validate, dead-letter,
 * resolve identity) -> by-child repartition topic (key = pseudonymous child key) -> per-child
 * state (ledger, parked events, raised notifications; every change written to a compacted
 * changelog) -> policy -> notifications.
 *
 * Exactly once: one consumer (one group) and one transactional producer per process. Each
 * batch is one transaction holding everything it produced and the consumed offsets
 * (rd_kafka_send_offsets_to_transaction with the group metadata). An abortable error aborts,
 * restores the in-memory state touched by the batch and rewinds to the committed offsets.
 */
#ifndef NOTBROUGHT_STREAM_H
#define NOTBROUGHT_STREAM_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/codec.h"
#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/inbox.h"
#include "notbrought/ops.h"
#include "notbrought/util.h"
#include "notbrought/recfile.h"

/* ---- the daemon ---------------------------------------------------------------------------- */

typedef struct nb_stream_s nb_stream_t;

/** Counters of a running stream, for metrics, health and tests. */
typedef struct nb_stream_stats_s {
    uint64_t records_in;      /**< source and by-child records consumed */
    uint64_t watermark_reports; /**< of those, other instances' watermark reports (by-child
                                     records that carry no event; a second a partition) */
    uint64_t dead_letters;    /**< records sent to the dead-letter topic */
    uint64_t repartitioned;   /**< records forwarded to the by-child topic */
    uint64_t local;           /**< records handled where they were read (partition owned here) */
    uint64_t parked;          /**< events parked for want of an identity link */
    uint64_t released;        /**< parked events released by a link */
    uint64_t notifications;   /**< notifications produced */
    uint64_t commits;         /**< transactions committed */
    uint64_t aborts;          /**< transactions aborted */
    uint64_t commits_since_abort; /**< transactions committed since the last abort */
    uint64_t producers_renewed;   /**< producers replaced because an abort could not finish */
    uint64_t commits_background;  /**< commits started on the committer thread */
    uint64_t fenced_ticks;        /**< commits of batches that consumed nothing, sent with an
                                       offset already committed so that the group fences them */
    uint64_t decoded_ahead;       /**< source records decoded on the decoder thread */
    uint64_t restored;        /**< child states restored from the changelog */
    uint64_t links;           /**< identity links applied */
    /** The identity table's digest, hex (nb_identity_state_digest()); "" until the table is
     *  loaded. Worked out again after links change, at most every few seconds (docs/
     *  operability.md); equal on instances that read the same links. */
    char identity_digest[65];
    uint64_t identity_digest_links;  /**< links read when identity_digest was worked out */
    int64_t identity_digest_cost_us; /**< how long that took (the main loop waited for it) */
    uint64_t ticks;           /**< ticks run (timers, parked events, merges): tests wait on it */
    uint64_t handled_alone;   /**< records handled in a transaction of their own, to find one
                                   a broker refused (too large, invalid) */
    uint64_t held_back;       /**< source records delivered while the sources were paused for
                                   a catch-up: not handled then, read again once resumed */
    int32_t owned;            /**< by-child partitions assigned here (restored) */
    bool ready;               /**< assigned partitions restored, no fatal error, the brokers
                                   answering, and progress within processing.stall_timeout_ms */
    bool stalled;             /**< work waits and nothing committed for stall_timeout_ms */
    bool brokers_down;        /**< every broker unreachable, and none has answered since */
    bool catching_up;         /**< sources paused until the by-child partitions are read */
} nb_stream_stats_t;

/**
 * @brief Creates the runtime: loads the policy, connects (lazily) to Kafka.
 * @remark @p conf is borrowed and must outlive the stream.
 * @returns NULL with the reason in errstr.
 */
nb_stream_t *nb_stream_new(const nb_config_t *conf, char *errstr, size_t errstr_size);

/**
 * @brief Checks what nb_stream_new() would need without connecting anywhere: the schema
 *        registry, the identity settings, the policy files and the librdkafka properties.
 */
NB_NODISCARD nb_err_t nb_stream_check(const nb_config_t *conf, char *errstr, size_t errstr_size);

/**
 * @brief Runs until *stop becomes non-zero (SIGTERM/SIGINT): finishes the current
 *        transaction, leaves the group, returns. *reload non-zero (SIGHUP) reloads the policy,
 *        validated first; the old one stays in force on error. Either flag may be NULL.
 * @returns NB_ERR_OK after a clean stop; NB_ERR_KAFKA_FATAL (e.g. fenced) otherwise.
 */
NB_NODISCARD nb_err_t nb_stream_run(nb_stream_t *st, volatile sig_atomic_t *stop,
                                    volatile sig_atomic_t *reload);

/**
 * @brief Asks nb_stream_run() to stop, as *stop does. For any other thread than the one that
 *        runs the stream (a test, a program embedding it): *stop is a signal flag, whose value
 *        C11 promises only to the thread its handler interrupted, so another thread writing it
 *        races with the loop that reads it.
 * @locality any thread (an atomic store)
 */
void nb_stream_stop(nb_stream_t *st);

/**
 * @brief A copy of the counters as of the last loop turn (at most ~100 ms old).
 * @locality any thread (e.g. the metrics HTTP server's). @locks stats_lock
 */
void nb_stream_stats(const nb_stream_t *st, nb_stream_stats_t *out);

/**
 * @brief A collect callback for nb_http_conf_t (notbrought/ops.h): @p opaque is the
 *        nb_stream_t; mirrors its nb_stream_stats() into @p m with nb_metrics_set_totals().
 *        NULL @p opaque is a no-op.
 * @locality any thread (the metrics HTTP server's). @locks stats_lock, then metrics_lock
 */
void nb_stream_collect_metrics(void *opaque, nb_metrics_t *m);

/**
 * @brief Gives the stream a metrics registry to report to (dead letters by code, commit
 *        latency, heartbeat, policy info, parked and overdue gauges).
 * @remark The registry is borrowed and must outlive the stream. Call before nb_stream_run().
 */
void nb_stream_set_metrics(nb_stream_t *st, nb_metrics_t *m);

/**
 * @brief Moves the clock rules are evaluated at (processing.fixed_now) while the stream runs:
 *        a test seam for escalation timers, which fall due hours after a notification.
 * @locality any thread
 */
void nb_stream_set_fixed_now(nb_stream_t *st, int64_t now_ms);

/** @brief A record's own failure, for tests: returns NB_ERR_OK or the error its handling is
 *         to fail with (as an internal error would: out of memory, a state that cannot be
 *         encoded). */
typedef NB_NODISCARD nb_err_t nb_stream_fault_fn(void *opaque, const char *topic, int32_t partition,
                                                 int64_t offset);

/**
 * @brief Test seam: @p fn is asked before each consumed record is handled. A record whose
 *        handling fails with an error that is not Kafka's rolls back its batch and, when it
 *        comes again, goes to the dead-letter topic with that error (never skipped silently).
 * @remark Call before nb_stream_run(). @p fn runs on the thread that runs the stream.
 */
void nb_stream_set_fault_hook(nb_stream_t *st, nb_stream_fault_fn *fn, void *opaque);

/**
 * @brief Test seam for the catch-up after an assignment: the sources are not paused (as when
 *        librdkafka does not keep a pause made right after an assignment, its issue 2190), and
 *        the catch-up ends at the @p hold_until-th source record delivered during it, read or
 *        not the by-child partitions (a test whose by-child topic holds nothing), while later
 *        records wait polled: every one must be held back and read again exactly once.
 * @remark Call before nb_stream_run().
 */
void nb_stream_set_catch_up_test(nb_stream_t *st, uint64_t hold_until);

/** @brief The version of librdkafka the program runs with (e.g. "2.0.2"); static storage. */
const char *nb_stream_kafka_version(void);

/** @brief Frees the runtime (closes the consumer if still open). NULL is a no-op. */
void nb_stream_destroy(nb_stream_t *st);

/* ---- topics and tools ---------------------------------------------------------------------- */

/*
 * `notbrought topics` (src/stream/topics.c; docs/runbook.md, "Topics and retention"): every
 * configured topic with the settings its role needs, and a topic that exists checked for
 * settings that would lose records. The plan and the comparison are pure; nb_stream_topics()
 * talks to the cluster.
 */

/** Topics of one configuration: every appointment topic and the nine others. */
#define NB_TOPICS_MAX (NB_CONFIG_MAX_TOPICS + 9)
/** Problems one run can report: a few per topic. */
#define NB_TOPICS_MAX_PROBLEMS (NB_TOPICS_MAX * 7)

/** What a topic must have. */
typedef struct nb_topic_spec_s {
    const char *name;        /**< borrowed from the configuration */
    nb_topic_role_t role;    /**< the first role that names it */
    int partitions;          /**< created with this many */
    bool exact_partitions;   /**< by_child and changelog: no other count will do */
    int replication_factor;  /**< at least */
    int min_insync_replicas; /**< at least */
    int64_t retention_ms;    /**< -1: for ever; else at least */
    bool compact;            /**< cleanup.policy exactly "compact" (state); else "delete" */
} nb_topic_spec_t;

/** What a topic that exists has (metadata and DescribeConfigs). */
typedef struct nb_topic_found_s {
    int partitions;
    int replication_factor;  /**< the fewest replicas of any of its partitions */
    int min_insync_replicas; /**< -1: not told */
    int64_t retention_ms;
    int64_t retention_bytes;
    char cleanup_policy[40];
} nb_topic_found_t;

/** One setting of a topic that exists that would lose records. */
typedef struct nb_topic_problem_s {
    const char *topic;   /**< the spec's name */
    const char *setting; /**< "retention.ms", "cleanup.policy", "partitions", ... (static) */
    char found[48];
    char wanted[48];
    const char *why; /**< static text: what would be lost */
} nb_topic_problem_t;

/** A topic of a run: missing (to create), created, found fine, or refused. */
typedef enum nb_topic_state_e {
    NB_TOPIC_MISSING,
    NB_TOPIC_CREATED,
    NB_TOPIC_FINE,
    NB_TOPIC_REFUSED
} nb_topic_state_t;

/** What nb_stream_topics() did and found. */
typedef struct nb_topics_report_s {
    int brokers; /**< in the cluster's metadata */
    size_t n;
    nb_topic_spec_t spec[NB_TOPICS_MAX];
    nb_topic_found_t found[NB_TOPICS_MAX]; /**< for topics that existed */
    nb_topic_state_t state[NB_TOPICS_MAX];
    size_t n_problems; /**< may exceed NB_TOPICS_MAX_PROBLEMS: the rest are not kept */
    nb_topic_problem_t problems[NB_TOPICS_MAX_PROBLEMS];
} nb_topics_report_t;

/** @brief "appointments", "by_child", ... (static storage). */
const char *nb_topic_role_name(nb_topic_role_t role);

/**
 * @brief The topics of @p conf and what each must have on a cluster of @p brokers brokers: a
 *        topic named by two roles once (the first). Pure.
 * @returns how many were written to @p out (at most NB_TOPICS_MAX).
 */
size_t nb_topics_plan(const nb_config_t *conf, int source_partitions, int brokers,
                      nb_topic_spec_t out[NB_TOPICS_MAX]);

/**
 * @brief Which settings of an existing topic would lose records it must keep: partitions
 *        other than exact ones, fewer replicas or in-sync replicas than wanted, a
 *        cleanup.policy with compact on a topic that keeps every record or other than compact
 *        on a state topic, a retention.ms finite where -1 is wanted or shorter than wanted,
 *        a retention.bytes other than -1. Pure.
 * @returns how many problems there are; the first @p max are written to @p out.
 */
size_t nb_topics_compare(const nb_topic_spec_t *want, const nb_topic_found_t *found,
                         nb_topic_problem_t *out, size_t max);

/**
 * @brief `notbrought topics`: reads the cluster's metadata and the settings of the configured
 *        topics that exist, refuses when any would lose records (every problem in @p rep,
 *        nothing created), else creates the missing ones with their settings.
 * @returns NB_ERR_OK; NB_ERR_INCONSISTENT when refused; NB_ERR_KAFKA / NB_ERR_TIMEOUT /
 *          NB_ERR_CONFIG with why in @p errstr (a cluster that cannot describe its topics'
 *          settings, as the embedded broker, is one).
 */
NB_NODISCARD nb_err_t nb_stream_topics(const nb_config_t *conf, int source_partitions,
                                       nb_topics_report_t *rep, char *errstr, size_t errstr_size);

/* `notbrought purge` (src/stream/purge.c): records older than a time deleted from a topic that
 * is not compacted, in two steps so that the audit record is written between them. */

#define NB_PURGE_MAX_PARTITIONS 256

/** One partition of a purge: offsets [low, to) go; [to, high) stay. */
typedef struct nb_purge_part_s {
    int32_t partition;
    int64_t low;  /**< the first offset it holds */
    int64_t high; /**< the next offset it will write */
    int64_t to;   /**< the first offset kept: of the first record at or after the time */
} nb_purge_part_t;

/** What a purge would delete. */
typedef struct nb_purge_plan_s {
    char topic[250];
    nb_topic_role_t role;
    int64_t before_ms;
    int64_t offsets; /**< offsets to delete, all partitions (records and transaction markers) */
    size_t n;
    nb_purge_part_t parts[NB_PURGE_MAX_PARTITIONS];
} nb_purge_plan_t;

/**
 * @brief Plans the deletion of every record of @p topic older than @p before_ms, deleting
 *        nothing: the topic must be a configured one that is not compacted (by its role, and
 *        by its cleanup.policy on the cluster).
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG (not configured, compacted) or NB_ERR_KAFKA /
 *          NB_ERR_TIMEOUT / NB_ERR_LIMIT with why in @p errstr.
 */
NB_NODISCARD nb_err_t nb_stream_purge_plan(const nb_config_t *conf, const char *topic,
                                           int64_t before_ms, nb_purge_plan_t *plan, char *errstr,
                                           size_t errstr_size);

/**
 * @brief Deletes what @p plan found (DeleteRecords up to each partition's @p to). Deleting
 *        again what is gone already changes nothing, so a failed purge can be run again.
 */
NB_NODISCARD nb_err_t nb_stream_purge_apply(const nb_config_t *conf, const nb_purge_plan_t *plan,
                                            char *errstr, size_t errstr_size);

/**
 * @brief Produces one record (idempotent, acks=all) and waits for Kafka's acknowledgement: a
 *        tool's single record, such as the audit record of a purge.
 */
NB_NODISCARD nb_err_t nb_stream_store(const nb_config_t *conf, const char *topic, const char *key,
                                      const void *value, size_t len, char *errstr,
                                      size_t errstr_size);

/**
 * @brief Produces every record of a record file to its topic, idempotently, and waits for
 *        delivery. @p count receives the number produced.
 */
NB_NODISCARD nb_err_t nb_stream_produce_file(const nb_config_t *conf, const char *path, long *count,
                                             char *errstr, size_t errstr_size);

/**
 * @brief Reads a topic from the beginning with read_committed, calling @p cb per record,
 *        until @p max records (0: no limit), no record arrives for @p idle_ms, or (@p to_end)
 *        every partition has been read to its end (its last stable offset): a snapshot of
 *        what the topic held when it was read, without waiting out @p idle_ms.
 */
NB_NODISCARD nb_err_t nb_stream_consume(const nb_config_t *conf, const char *topic, long max,
                                        int idle_ms, bool to_end, nb_record_cb_t *cb, void *opaque,
                                        char *errstr, size_t errstr_size);

/** @brief nb_stream_consume() that also passes each record's partition and headers. */
NB_NODISCARD nb_err_t nb_stream_consume_meta(const nb_config_t *conf, const char *topic, long max,
                                             int idle_ms, bool to_end, nb_record_meta_cb_t *cb,
                                             void *opaque, char *errstr, size_t errstr_size);

/* ---- following topics (the inbox's view) ------------------------------------------------ */

/*
 * A follower reads every partition of its topics from the beginning, read_committed, and then
 * what comes, without a consumer group: each inbox instance builds its whole view from the
 * topics (docs/inbox.md §2), and nothing it reads moves anyone's offsets. Single-threaded: one
 * thread polls it.
 */
typedef struct nb_follower_s nb_follower_t;

/** One record a follower read. Valid during the callback only. */
typedef struct nb_followed_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /**< NULL when none */
    size_t key_len;
    const void *value;
    size_t len;
    int64_t timestamp;
} nb_followed_t;

/** What a follower hands each record to; an error stops the poll and is returned. */
typedef NB_NODISCARD nb_err_t nb_follow_cb_t(void *opaque, const nb_followed_t *rec);

/**
 * @brief A follower of @p topics (a topic named twice is followed once), its partitions
 *        assigned from their beginning. @returns NULL with why in @p errstr (a topic that does
 *        not exist, a bad client property).
 */
nb_follower_t *nb_follower_new(const nb_config_t *conf, const char *const *topics, size_t n_topics,
                               char *errstr, size_t errstr_size);

/**
 * @brief Waits up to @p timeout_ms for records, then hands @p cb every record at hand (up to
 *        10,000), in each partition's order.
 * @param delivered receives how many were handed over (may be NULL).
 * @returns NB_ERR_OK, or the callback's error with where in @p errstr. Kafka's own errors are
 *          logged and retried by the client.
 */
NB_NODISCARD nb_err_t nb_follower_poll(nb_follower_t *f, int timeout_ms, nb_follow_cb_t *cb,
                                       void *opaque, size_t *delivered, char *errstr,
                                       size_t errstr_size);

/** @brief Whether every partition has been read to the end it had once (a view built from it
 *         holds everything that was committed when it started). */
bool nb_follower_caught_up(const nb_follower_t *f);

/** @brief Closes it. NULL is a no-op. */
void nb_follower_destroy(nb_follower_t *f);

/**
 * @brief Reads the record at @p topic [@p partition] @p offset into @p value (replacing what
 *        it held), read_committed, waiting up to @p timeout_ms.
 * @returns NB_ERR_OK; NB_ERR_NOT_FOUND (no such record: deleted by retention, not committed,
 *          or a transaction marker's offset); NB_ERR_KAFKA or NB_ERR_CONFIG with why.
 */
NB_NODISCARD nb_err_t nb_stream_fetch(const nb_config_t *conf, const char *topic, int32_t partition,
                                      int64_t offset, int timeout_ms, nb_buf_t *value, char *errstr,
                                      size_t errstr_size);

/* ---- the inbox's view, fed from the topics -------------------------------------------------- */

typedef struct nb_inbox_feed_s nb_inbox_feed_t;

/**
 * @brief Decodes a value of topics.audit: an AuditRecord (schemas/audit_record.avsc), or a JSON
 *        record a version before it wrote (nb_inbox_audit_legacy()), into rec->u.audit.
 * @returns NB_ERR_OK, or the decoder's error with why in @p errstr.
 */
NB_NODISCARD nb_err_t nb_stream_audit_decode(nb_codec_t *codec, const void *value, size_t len,
                                             nb_record_t *rec, char *errstr, size_t errstr_size);

/**
 * @brief Starts a thread that follows topics.notifications and topics.audit from their
 *        beginning and applies every record to @p view (nb_inbox_notification(),
 *        nb_inbox_audit()), holding @p lock while it changes the view; whoever reads the view
 *        holds the same lock. A record the view cannot take is logged (where, and the kind of
 *        fault) and counted, and the feed goes on.
 * @remark @p conf, @p view and @p lock must outlive the feed.
 * @returns NULL with why in @p errstr (a topic that does not exist, no memory).
 */
nb_inbox_feed_t *nb_inbox_feed_start(const nb_config_t *conf, nb_inbox_t *view,
                                     pthread_mutex_t *lock, char *errstr, size_t errstr_size);

/** @brief Whether the view holds everything the topics held when the feed started. */
bool nb_inbox_feed_caught_up(const nb_inbox_feed_t *f);

/** @brief Records applied to the view, and records passed over (logged). */
void nb_inbox_feed_counts(const nb_inbox_feed_t *f, size_t *applied, size_t *refused);

/** @brief Stops the thread and frees the feed (not the view). NULL is a no-op. */
void nb_inbox_feed_stop(nb_inbox_feed_t *f);

/* ---- a consumer group of its own (notbrought dispatch) --------------------------------------- */

/*
 * A group consumer reads its topics in a consumer group, read_committed, from the group's
 * committed offsets (the beginning for a new group), and commits only what its caller says
 * is finished: no automatic commits, no automatic offset store. A restart, or another member
 * taking a partition over, reads again from the last commit, so what was not committed is
 * seen again (at least once). Single-threaded: one thread calls every function; the
 * rebalance is handled inside nb_group_consumer_poll().
 */
typedef struct nb_group_consumer_s nb_group_consumer_t;

/**
 * @brief A member of @p group_id subscribed to @p topics: client.id
 *        "<kafka.instance_id>-<role>", kafka.properties (security included) and
 *        kafka.assignment_strategy. @returns NULL with why in @p errstr.
 * @remark @p conf is borrowed and must outlive the consumer.
 */
nb_group_consumer_t *nb_group_consumer_new(const nb_config_t *conf, const char *group_id,
                                           const char *role, const char *const *topics,
                                           size_t n_topics, char *errstr, size_t errstr_size);

/**
 * @brief Waits up to @p timeout_ms for one record.
 * @param rec receives it; valid until the next poll or nb_group_consumer_destroy().
 * @returns NB_ERR_OK with a record; NB_ERR_TIMEOUT when none came (partition ends and
 *          Kafka's passing errors, which are logged, too); NB_ERR_KAFKA_FATAL when the
 *          consumer can go on no more.
 */
NB_NODISCARD nb_err_t nb_group_consumer_poll(nb_group_consumer_t *gc, int timeout_ms,
                                             nb_followed_t *rec);

/**
 * @brief Commits, synchronously, @p next (the offset after the last finished record) as the
 *        group's position on @p topic [@p partition].
 * @returns NB_ERR_OK or NB_ERR_KAFKA with why (e.g. the partition is no longer assigned).
 */
NB_NODISCARD nb_err_t nb_group_consumer_commit(nb_group_consumer_t *gc, const char *topic,
                                               int32_t partition, int64_t next, char *errstr,
                                               size_t errstr_size);

/** @brief Pauses (or resumes) fetching on every assigned partition, now and after each
 *         rebalance, without leaving the group. */
void nb_group_consumer_pause(nb_group_consumer_t *gc, bool pause);

/** @brief Rebalances seen so far: when it changes, ask nb_group_consumer_owns() about what is
 *         held. */
uint64_t nb_group_consumer_generation(const nb_group_consumer_t *gc);

/** @brief Whether @p topic [@p partition] is assigned to this member now. */
bool nb_group_consumer_owns(nb_group_consumer_t *gc, const char *topic, int32_t partition);

/** @brief Leaves the group (without committing) and frees the consumer. NULL is a no-op. */
void nb_group_consumer_destroy(nb_group_consumer_t *gc);

/* ---- publishing (adapters) ----------------------------------------------------------------- */

/*
 * A publisher is what an adapter (an MLLP listener, an HTTP endpoint) hands what it received
 * to: an idempotent producer (enable.idempotence=true, acks=all) built from the same client
 * settings as the daemon's (kafka.properties, security included), whose every record reports
 * its own delivery back to the caller. The caller answers its sender only from that report:
 * nothing is acknowledged before Kafka has acknowledged it.
 *
 * Single-threaded: every function but nb_publisher_fd()'s reader belongs to the thread that
 * made the publisher, and the delivery callback runs inside nb_publisher_poll() on it.
 */
typedef struct nb_publisher_s nb_publisher_t;

/**
 * @brief The delivery report of one record: @p err is NB_ERR_OK when every in-sync replica
 *        has it (acks=all); NB_ERR_TIMEOUT when it was not delivered within the publisher's
 *        delivery timeout (brokers down or unreachable); NB_ERR_KAFKA_FATAL when the producer
 *        can deliver nothing more (make a new publisher); NB_ERR_KAFKA otherwise (a topic that
 *        does not exist, not authorised, a record the broker refused). @p reason is
 *        librdkafka's text (no record content), valid during the call.
 * @locality the thread that calls nb_publisher_poll()
 */
typedef void nb_publish_cb_t(void *opaque, nb_err_t err, const char *reason);

/** One header of a record to publish (@p value need not be NUL-terminated). */
typedef struct nb_publish_header_s {
    const char *name;
    const void *value;
    size_t len;
} nb_publish_header_t;

/**
 * @brief A publisher from the configuration: client.id "<kafka.instance_id>-<role>",
 *        kafka.properties, and a delivery timeout of @p delivery_timeout_ms (librdkafka's
 *        message.timeout.ms; what is not delivered by then is reported NB_ERR_TIMEOUT).
 * @remark @p conf is borrowed and must outlive the publisher.
 * @returns NULL with the reason in errstr.
 */
nb_publisher_t *nb_publisher_new(const nb_config_t *conf, const char *role, int delivery_timeout_ms,
                                 nb_publish_cb_t *cb, char *errstr, size_t errstr_size);

/**
 * @brief Queues one record. Its delivery is reported to the callback with @p opaque, from
 *        nb_publisher_poll(). Key, value and headers are copied.
 * @returns NB_ERR_OK; NB_ERR_LIMIT when the producer's queue is full (retry after a poll);
 *          NB_ERR_RECORD_TOO_LARGE above message.max.bytes; NB_ERR_KAFKA_FATAL after a fatal
 *          error; NB_ERR_KAFKA otherwise. When it returns an error, the callback will never
 *          be called for this record.
 */
NB_NODISCARD nb_err_t nb_publisher_publish(nb_publisher_t *pub, const char *topic, const void *key,
                                           size_t key_len, const void *value, size_t len,
                                           const nb_publish_header_t *hdrs, size_t n_hdrs,
                                           void *opaque, char *errstr, size_t errstr_size);

/**
 * @brief Encodes a canonical record with the codec (Confluent framing, the schema ids of
 *        schemas/registry.tsv and ops.schemas_dir) and publishes it with the key its type
 *        carries (nb_stream_record_key()), as nb_publisher_publish() does.
 * @returns as nb_publisher_publish(), or NB_ERR_AVRO_ENCODE / NB_ERR_INVALID_ARG (a type
 *          without a key rule) with the reason in errstr (field names, never values).
 */
NB_NODISCARD nb_err_t nb_publisher_publish_record(nb_publisher_t *pub, const char *topic,
                                                  const nb_record_t *rec, void *opaque,
                                                  char *errstr, size_t errstr_size);

/** Where a dead letter of an adapter came from. */
typedef struct nb_publish_origin_s {
    const char *protocol; /**< "mllp", "http", ...: header nb.source.protocol */
    const char *source;   /**< the configured source name: header nb.source.name */
    int64_t received_ms;  /**< when it arrived: header nb.source.timestamp */
} nb_publish_origin_t;

/**
 * @brief Sends the raw message to topics.dead_letters with the daemon's error headers
 *        (nb.error.code = nb_err_name(@p err), nb.error.message = @p reason) and its origin
 *        (nb.source.protocol, nb.source.name, nb.source.timestamp), plus @p extra headers. A
 *        message too large for Kafka goes as a bounded dead letter (as the daemon's): its first
 *        processing.dead_letter_prefix_bytes, its size and SHA-256 (nb.dead_letter.bounded,
 *        nb.original.value.bytes, nb.original.value.sha256). No key. Reported as a record.
 * @returns as nb_publisher_publish().
 */
NB_NODISCARD nb_err_t nb_publisher_dead_letter(nb_publisher_t *pub, const nb_publish_origin_t *o,
                                               const void *raw, size_t len, nb_err_t err,
                                               const char *reason, const nb_publish_header_t *extra,
                                               size_t n_extra, void *opaque, char *errstr,
                                               size_t errstr_size);

/**
 * @brief A descriptor that becomes readable when delivery reports wait: put it in a poll()
 *        set and call nb_publisher_poll() when it is (which empties it).
 */
int nb_publisher_fd(const nb_publisher_t *pub);

/** @brief Serves delivery reports (calls the callback) for up to @p timeout_ms.
 *  @returns how many reports were served. */
int nb_publisher_poll(nb_publisher_t *pub, int timeout_ms);

/** @brief Records queued whose delivery has not been reported yet. */
size_t nb_publisher_in_flight(const nb_publisher_t *pub);

/** @brief True after a fatal producer error: nothing more can be delivered. */
bool nb_publisher_failed(const nb_publisher_t *pub);

/**
 * @brief Waits up to @p timeout_ms for every queued record to be reported (serving the
 *        callbacks). @returns NB_ERR_OK, or NB_ERR_TIMEOUT with records still in flight.
 */
NB_NODISCARD nb_err_t nb_publisher_flush(nb_publisher_t *pub, int timeout_ms);

/**
 * @brief Closes the publisher. Records still in flight are purged and reported with
 *        NB_ERR_TIMEOUT ("not delivered: the publisher closed") first, so that every
 *        callback is called once. NULL is a no-op.
 */
void nb_publisher_destroy(nb_publisher_t *pub);

/**
 * @brief The Kafka key a canonical record carries on its source topic, the rule `generate`
 *        follows: an appointment event its appointment_id; an identity link "system|value"
 *        of the identifier it is about (with "|<expected delivery date>" for unborn_to_child),
 *        so that compaction keeps the last statement per identifier; a context fact its
 *        event_id; an audit record its child key (a record about no child: its notification
 *        id, else its audit id), so that a child's records are in order on one partition.
 * @returns the key's length, or 0 for a type without a key rule (or a key longer than
 *          @p size - 1).
 */
size_t nb_stream_record_key(const nb_record_t *rec, char *out, size_t size);

/* ---- the embedded broker --------------------------------------------------------------------- */

typedef struct nb_broker_s nb_broker_t;

/**
 * @brief Starts librdkafka's mock cluster with @p brokers brokers on loopback.
 * @returns NULL with the reason in errstr.
 */
nb_broker_t *nb_broker_new(int brokers, char *errstr, size_t errstr_size);

/** @brief Creates the configured topics in the embedded cluster (sources with
 *         @p source_partitions partitions; by-child and changelog with conf->partitions). */
void nb_broker_create_topics(nb_broker_t *b, const nb_config_t *conf, int source_partitions);

/** @brief "host:port,..." of the brokers. Valid until nb_broker_destroy(). */
const char *nb_broker_bootstraps(const nb_broker_t *b);

/**
 * @brief The mock cluster, for fault injection in tests (rdkafka_mock.h).
 * @returns a pointer valid until nb_broker_destroy().
 */
struct rd_kafka_mock_cluster_s *nb_broker_mock(nb_broker_t *b);

/** @brief Stops the cluster. NULL is a no-op. */
void nb_broker_destroy(nb_broker_t *b);

#endif /* NOTBROUGHT_STREAM_H */
