/*
 * notbrought - ops: configuration, logging (and, later, metrics and health HTTP).
 *
 * Logging: structured JSON lines on stderr with time, level, module and message. Callers log
 * pseudonymous child keys only; never NHS numbers, names, dates of birth or postcodes.
 *
 * Configuration: one table (nb__config_table in src/ops/config.c) of {key, type, default,
 * description} drives YAML loading, validation, environment overrides and the reference in
 * docs/configuration.md (`notbrought run --print-config-reference`).
 */
#ifndef NOTBROUGHT_OPS_H
#define NOTBROUGHT_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"

/* ---- logging ------------------------------------------------------------------------------ */

typedef enum nb_log_level_e {
    NB_LOG_ERROR = 0,
    NB_LOG_WARN = 1,
    NB_LOG_INFO = 2,
    NB_LOG_DEBUG = 3
} nb_log_level_t;

/** @brief Sets the threshold; messages above it are not formatted. */
void nb_log_set_level(nb_log_level_t level);

/** @brief Parses "error", "warn", "info", "debug". @returns true on success. */
bool nb_log_level_parse(const char *s, nb_log_level_t *out);

/** @brief The current threshold. @locality any thread */
nb_log_level_t nb_log_level(void);

/**
 * @brief Writes one JSON line. Use NB_LOG(), which checks the level before formatting.
 * @locality any thread: one write(2) per line, so lines from threads never interleave.
 */
void nb_log_write(nb_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define NB_LOG(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= nb_log_level())                                                             \
            nb_log_write((level), (module), __VA_ARGS__);                                          \
    } while (0)

/* ---- configuration ------------------------------------------------------------------------ */

#define NB_CONFIG_MAX_TOPICS 16
#define NB_CONFIG_MAX_PROPS 64
#define NB_CONFIG_MAX_POLICY_FILES 8

#define NB_CONFIG_MAX_LISTENERS 16
#define NB_CONFIG_MAX_PROXIES 16

/** One MLLP listener of the ingest section (ingest.mllp: a list of these). */
typedef struct nb_mllp_conf_s {
    char *name;     /**< the source's name: metrics label, dead-letter header, logs */
    char *bind;     /**< numeric address; 127.0.0.1 unless configured */
    int port;       /**< 0: an ephemeral port (tests) */
    char *mapping;  /**< the source's mapping file ("" until the mapper needs one) */
    char *topic;    /**< where its appointment events go: one of topics.appointments */
    char *tls_cert; /**< PEM server certificate (chain); "" without TLS */
    char *tls_key;  /**< PEM private key of tls_cert */
    char *tls_ca;   /**< PEM CA certificates that client certificates are verified against */
    bool tls_require_client_cert; /**< refuse a client without a certificate the CA signed */
    int line, column;             /**< where the file defines it, for later errors */
} nb_mllp_conf_t;

typedef struct nb_kv_s {
    char *key;
    char *value;
} nb_kv_t;

/* The dispatch section (`notbrought dispatch`, docs/inbox.md §4; src/ops/config_dispatch.c). */
#define NB_CONFIG_MAX_ENDPOINTS 32
#define NB_CONFIG_MAX_MAIL_TO 16

/** One webhook endpoint (dispatch.webhooks): the NAME of routes `webhook:NAME`. */
typedef struct nb_webhook_conf_s {
    char *name;        /**< the route's NAME */
    char *url;         /**< https:// (http:// only to 127.0.0.1 / localhost) */
    char *secret_file; /**< file holding the signing secret; or "" */
    char *secret_env;  /**< environment variable holding it; or "" (one of the two) */
    int line;          /**< where the file defines it */
} nb_webhook_conf_t;

/** One email endpoint (dispatch.email): the NAME of routes `email:NAME`. */
typedef struct nb_email_conf_s {
    char *name;
    size_t n_to;
    char *to[NB_CONFIG_MAX_MAIL_TO]; /**< addresses (a team mailbox, not a child's family) */
    int line;
} nb_email_conf_t;

/** The dispatch section. Secrets are not here: they are read when the dispatcher starts. */
typedef struct nb_dispatch_conf_s {
    char *group_id;  /**< "" means "<kafka.group_id>-dispatch" */
    char *inbox_url; /**< the inbox's base URL; a notification's link is <inbox_url>/n/<id> */
    char *ca_file;   /**< CA bundle TLS peers are verified against; "" the system's */
    int connect_timeout_ms;
    int timeout_ms;      /**< one attempt, all of it */
    int backoff_base_ms; /**< first retry after this; doubles per attempt */
    int backoff_max_ms;  /**< no retry waits longer */
    int give_up_ms;      /**< retried this long after the first attempt, then refused */
    int max_pending;     /**< notifications in hand before the consumer pauses */
    bool digests;        /**< deliver digests too (default false) */
    char *smtp_url;      /**< smtp://host:port or smtps://host:port; "" without email */
    char *smtp_from;
    bool smtp_starttls; /**< require STARTTLS on smtp:// */
    char *smtp_user;
    char *smtp_password_file;
    size_t n_webhooks;
    nb_webhook_conf_t webhooks[NB_CONFIG_MAX_ENDPOINTS];
    size_t n_email;
    nb_email_conf_t email[NB_CONFIG_MAX_ENDPOINTS];
} nb_dispatch_conf_t;

/**
 * What each configured topic is for: `notbrought topics` creates each with its role's settings
 * (docs/runbook.md, "Topics and retention"). Appointments and context are the source topics.
 */
typedef enum nb_topic_role_e {
    NB_TOPIC_APPOINTMENTS,
    NB_TOPIC_CONTEXT,
    NB_TOPIC_ACKS,
    NB_TOPIC_LINKS,
    NB_TOPIC_BY_CHILD,
    NB_TOPIC_CHANGELOG,
    NB_TOPIC_NOTIFICATIONS,
    NB_TOPIC_DEAD_LETTERS,
    NB_TOPIC_AUDIT,
    NB_TOPIC_IDENTITY_SUGGESTIONS,
    NB_TOPIC__ROLES
} nb_topic_role_t;

typedef struct nb_config_s {
    /* kafka */
    char *bootstrap_servers;
    char *group_id;
    char *instance_id;          /**< client.id and the transactional.id suffix */
    char *assignment_strategy;  /**< range (default), roundrobin, cooperative-sticky */
    char *group_instance_id;    /**< static membership when set */
    size_t n_kafka_props;
    nb_kv_t kafka_props[NB_CONFIG_MAX_PROPS]; /**< passed to librdkafka as they are */
    char *sasl_password_file; /**< read into sasl.password by nb_config_apply_env() */
    /* topics */
    size_t n_appointment_topics;
    char *appointment_topics[NB_CONFIG_MAX_TOPICS];
    char *context_topic;
    char *links_topic;
    char *acks_topic;
    char *by_child_topic;
    char *changelog_topic;
    char *notifications_topic;
    char *dead_letter_topic;
    char *audit_topic;
    char *identity_suggestions_topic; /**< demographic link suggestions (personal data) */
    int partitions; /**< partitions of by_child and changelog (must be equal) */
    int topic_replication_factor;  /**< 0: min(3, brokers in the cluster) */
    int topic_min_insync_replicas; /**< 0: min(2, the replication factor) */
    /** retention.ms per role; -1 keeps records for ever. Unused for links and changelog
     *  (compacted: always -1). */
    int64_t topic_retention_ms[NB_TOPIC__ROLES];
    /* processing */
    int commit_interval_ms;
    int min_commit_interval_ms; /**< commit early when idle, once the transaction is this old */
    bool local_by_child;        /**< no by-child hop for keys of owned partitions */
    bool commit_in_background;  /**< commit on a second thread while the next batch runs */
    bool decode_ahead;          /**< decode source records on a second thread, in order */
    int max_batch;
    int shutdown_timeout_ms;      /**< SIGTERM to exit, at most (the watchdog's limit) */
    int stall_timeout_ms;         /**< not ready after this long with work and no commit */
    int dead_letter_prefix_bytes; /**< value bytes kept by a bounded dead letter */
    int64_t watermark_idle_ms;     /**< a source partition silent this long follows the clock */
    int64_t watermark_max_hold_ms; /**< longest time absence deadlines wait for the sources */
    char *fixed_now; /**< "" (wall clock) or an ISO time every evaluation uses (tests only) */
    size_t n_policy_files;
    char *policy_files[NB_CONFIG_MAX_POLICY_FILES];
    char *hmac_key; /**< from NB_HMAC_KEY or hmac_key_file, never from the YAML */
    char *hmac_key_file;
    bool allow_test_nhs_numbers;
    bool suggest_demographic_links; /**< publish demographic link suggestions */
    int64_t park_retention_ms;
    int park_max;
    char *timezone; /**< notify.timezone: zone of the times a nurse reads (nb_notify_zone_parse) */
    /* ops */
    char *log_level;
    int http_port; /**< metrics and health; 0 disables */
    char *http_bind; /**< address the metrics and health server listens on (127.0.0.1) */
    int http_max_connections;        /**< connections the HTTP server holds at once */
    int http_max_connections_per_ip; /**< of which from one client address */
    int http_timeout_s;              /**< an HTTP connection idle this long is closed */
    char *schemas_dir; /**< extra registry directory, optional */
    /* ingest (adapters: docs/mllp.md) */
    size_t n_mllp;
    nb_mllp_conf_t mllp[NB_CONFIG_MAX_LISTENERS]; /**< ingest.mllp */
    size_t n_fhir;
    nb_mllp_conf_t fhir[NB_CONFIG_MAX_LISTENERS]; /**< ingest.fhir: FHIR R4 over HTTP, the
                                                       same keys (docs/fhir.md) */
    int ingest_max_message_bytes; /**< a larger MLLP frame is refused (AR) and its connection closed
                                   */
    int ingest_max_connections;   /**< connections held at once, all listeners together */
    int ingest_idle_timeout_ms; /**< a connection silent this long (nothing in flight) is closed */
    int ingest_max_buffered_bytes;  /**< bytes one connection may have received and not yet had
                                         acknowledged; past it, it is not read until ACKs go */
    int ingest_delivery_timeout_ms; /**< Kafka's acknowledgement waited for at most; then AR */
    /* inbox (`notbrought inbox`, docs/inbox.md §3): the web pages, signing in, sessions */
    char *inbox_bind;                   /**< numeric address; 127.0.0.1 unless configured */
    int inbox_port;                     /**< 0: an ephemeral port (tests) */
    char *inbox_tls_cert;               /**< PEM certificate (chain); "" serves plain HTTP */
    char *inbox_tls_key;                /**< PEM private key of inbox_tls_cert */
    int inbox_max_connections;          /**< connections held at once */
    int inbox_session_idle_s;           /**< a session unused this long ends */
    int inbox_session_absolute_s;       /**< a session this old ends, however busy */
    int inbox_max_sessions;             /**< sessions held at once (signed in or signing in) */
    char *inbox_users_file;             /**< the local users file ("" without one) */
    int inbox_max_failures_per_user;    /**< failed sign-ins of one user id per window */
    int inbox_max_failures_per_address; /**< failed sign-ins from one address per window */
    int inbox_failure_window_s;         /**< the window of those limits */
    char *inbox_proxy_user_header;      /**< header with the user id from a trusted proxy; "" off */
    char *inbox_proxy_name_header;      /**< header with the display name ("" : the users file's) */
    char *inbox_proxy_queues_header;    /**< header with the user's queues, comma-separated ("":
                                             the users file's) */
    size_t n_inbox_trusted_proxies;
    char *inbox_trusted_proxies[NB_CONFIG_MAX_PROXIES]; /**< CIDR blocks the proxy headers are
                                                             honoured from */
    /* dispatch (`notbrought dispatch`: webhooks and email, docs/inbox.md §4) */
    nb_dispatch_conf_t dispatch;
} nb_config_t;

/** @brief A configuration with every default. @returns NULL on allocation failure. */
nb_config_t *nb_config_new(void);

/** @brief Frees a configuration. NULL is a no-op. */
void nb_config_destroy(nb_config_t *conf);

/**
 * @brief Loads a YAML file over the defaults. Unknown keys are reported apart from invalid
 *        values; every error carries file:line:column. A section, key or librdkafka property
 *        given twice is an error at the second (YAML keys are unique; the last must not
 *        silently win). Secret librdkafka properties
 *        (sasl.password, ssl.key.password, ...) in kafka.properties are errors: secrets come
 *        from the environment or from files, never from the configuration file.
 * @returns NB_ERR_OK, or NB_ERR_CONFIG / NB_ERR_IO with all errors (one per line) in errstr.
 */
NB_NODISCARD nb_err_t nb_config_load(nb_config_t *conf, const char *path, char *errstr,
                                     size_t errstr_size);

/**
 * @brief Applies environment overrides: NB_<KEY> for every scalar key (dots and dashes become
 *        underscores, upper case, e.g. NB_KAFKA_BOOTSTRAP_SERVERS,
 *        NB_PROCESSING_COMMIT_INTERVAL_MS), NB_HMAC_KEY, and NB_RDKAFKA_<PROPERTY> for
 *        librdkafka properties (NB_RDKAFKA_SASL_PASSWORD sets sasl.password). An NB_ variable
 *        that sets nothing but looks like configuration is an error naming it and the nearest
 *        known name, never its value: one in a section's namespace (NB_TOPICS_*, NB_KAFKA_*
 *        but for ops/kafka's own settings, ...), within two edits of a known one, or a key
 *        without its section (NB_LOG_LEVEL). The tests' and tools' NB_ variables pass. Then
 *        reads the HMAC key file and the SASL password file if they are
 *        configured and NB_HMAC_KEY, NB_RDKAFKA_SASL_PASSWORD did not already give the secret;
 *        trailing line ends are removed, and an unreadable, empty or multi-line password file
 *        is an error ("kafka.sasl_password_file: PATH: reason").
 * @param env NULL-terminated "NAME=value" strings (environ).
 */
NB_NODISCARD nb_err_t nb_config_apply_env(nb_config_t *conf, char **env, char *errstr,
                                          size_t errstr_size);

/**
 * @brief Checks cross-field rules, so that `run --check-config` refuses what `run` would
 *        refuse or run wrongly: an HMAC key is present; every topic is a Kafka topic name; no
 *        output topic (by_child, changelog, notifications, dead_letters, audit,
 *        identity_suggestions) is an input
 *        (appointments, context, acks, links) or another output, and links and acks share
 *        no topic with another input (appointments and context may share one); files named
 *        by identity.hmac_key_file, kafka.sasl_password_file and librdkafka file properties
 *        (ssl.ca.location, ssl.key.location, ...) are readable regular files (a CA directory
 *        or "probe" too); no librdkafka property that notbrought sets itself
 *        (bootstrap.servers, group.id, isolation.level, ...); a SASL PLAIN or SCRAM login has
 *        a user and a password; kafka.assignment_strategy is one librdkafka knows.
 * @remark Reads the file system (the named files); call it after nb_config_apply_env().
 */
NB_NODISCARD nb_err_t nb_config_validate(const nb_config_t *conf, char *errstr, size_t errstr_size);

/**
 * @brief The checks of nb_config_validate() that `notbrought topics` needs: every topic a
 *        Kafka topic name and no two roles on one topic (as there), each
 *        topics.retention_ms.<role> -1 or at least an hour, topics.min_insync_replicas no more
 *        than a set topics.replication_factor.
 */
NB_NODISCARD nb_err_t nb_config_validate_topics(const nb_config_t *conf, char *errstr,
                                                size_t errstr_size);

/**
 * @brief nb_config_validate() for `notbrought ingest`: the adapters never key a child, so the
 *        HMAC key is not required (nor read); at least one ingest.mllp listener is.
 */
NB_NODISCARD nb_err_t nb_config_validate_ingest(const nb_config_t *conf, char *errstr,
                                                size_t errstr_size);

/**
 * @brief nb_config_validate() for `notbrought dispatch`: no HMAC key is needed; at least one
 *        endpoint (dispatch.webhooks, dispatch.email), dispatch.inbox_url set, each endpoint
 *        with what it needs (a webhook a URL and one secret source; email the SMTP relay and
 *        a sender), names unique per kind, and the files it names readable.
 * @remark Reads the file system (the named files); call it after nb_config_apply_env().
 */
NB_NODISCARD nb_err_t nb_config_validate_dispatch(const nb_config_t *conf, char *errstr,
                                                  size_t errstr_size);

/** @brief Writes the configuration reference (Markdown) generated from the table. */
void nb_config_write_reference(void *fp);

/* ---- metrics (Prometheus text exposition 0.0.4) ------------------------------------------- */

/*
 * A registry of metric families fixed at creation (a table, like the configuration), holding
 * counters, gauges and histograms with up to NB_METRICS_MAX_LABELS labels each. Every update
 * takes the registry's mutex for a few hundred nanoseconds, so the runtime may call them
 * from its main loop once per record; the HTTP thread renders under the same mutex.
 *
 * The runtime reports with one-line calls on well-known families (nb_metric_t below):
 *
 *     nb_metrics_add(m, NB_M_DEAD_LETTERS, nb_err_name(err), 1);   // per-code dead letter
 *     nb_metrics_observe(m, NB_M_COMMIT_LATENCY, (double)(t1 - t0) / 1e3);
 *     nb_metrics_heartbeat(m, now_ms);                             // every loop turn
 *     nb_metrics_set(m, NB_M_PARKED_EVENTS, NULL, (double)ids.parked);
 *     nb_metrics_set_info(m, NB_M_POLICY_INFO, (const char *[]){name, version, hash});
 *     nb_metrics_add(m, NB_M_RECORDS_CONSUMED, topic, (double)n);  // per topic, per transaction
 *     nb_metrics_kafka_stats(m, json, json_len);                   // librdkafka stats_cb
 *
 * Until it does, nb_metrics_set_totals() mirrors the runtime's totals (the stream module's
 * nb_stream_collect_metrics() passes its counters) into the same families (see there for how
 * the two sources are kept from double counting).
 *
 * Label values are escaped (\\, \" and \n) and other control characters are stripped when
 * rendered. A family holds at most NB_METRICS_MAX_SERIES label combinations; updates of new
 * combinations beyond that are dropped and counted in notbrought_metrics_dropped_total.
 */

#define NB_METRICS_MAX_LABELS 4
#define NB_METRICS_MAX_SERIES 256
#define NB_METRICS_MAX_BUCKETS 24

typedef enum nb_metric_type_e {
    NB_METRIC_COUNTER,
    NB_METRIC_GAUGE,
    NB_METRIC_HISTOGRAM
} nb_metric_type_t;

/** One metric family. Strings and the bucket array must outlive the registry (static data). */
typedef struct nb_metric_def_s {
    const char *name;   /**< e.g. "notbrought_records_consumed_total" */
    nb_metric_type_t type;
    const char *labels; /**< comma-separated label names ("code", "name,version,hash"), or NULL */
    const char *help;
    const double *buckets; /**< histograms: ascending upper bounds; +Inf is implied */
    size_t n_buckets;
} nb_metric_def_t;

/*
 * The well-known families of the daemon: X(id, name, type, labels, help). The table order is
 * the rendering order. Process metrics (process_*) are filled by nb_metrics_update_process().
 */
#define NB_METRICS_MAP(X)                                                                          \
    X(NB_M_BUILD_INFO, "notbrought_build_info", NB_METRIC_GAUGE, "version",                        \
      "Always 1; the version of the running binary.")                                              \
    X(NB_M_READY, "notbrought_ready", NB_METRIC_GAUGE, NULL,                                       \
      "1 when the assigned partitions are restored and no fatal error occurred, else 0.")          \
    X(NB_M_HEARTBEAT, "notbrought_last_loop_timestamp_seconds", NB_METRIC_GAUGE, NULL,             \
      "Unix time of the last turn of the main loop (0 before the first).")                         \
    X(NB_M_RECORDS_CONSUMED, "notbrought_records_consumed_total", NB_METRIC_COUNTER, "topic",      \
      "Source and by-child records consumed, by topic.")                                           \
    X(NB_M_DEAD_LETTERS, "notbrought_dead_letters_total", NB_METRIC_COUNTER, "code",               \
      "Records sent to the dead-letter topic, by error code.")                                     \
    X(NB_M_REPARTITIONED, "notbrought_repartitioned_total", NB_METRIC_COUNTER, NULL,               \
      "Events forwarded to the by-child repartition topic.")                                       \
    X(NB_M_PARKED, "notbrought_parked_total", NB_METRIC_COUNTER, NULL,                             \
      "Events parked for want of an identity link.")                                               \
    X(NB_M_RELEASED, "notbrought_released_total", NB_METRIC_COUNTER, NULL,                         \
      "Parked events released by an identity link.")                                               \
    X(NB_M_PARKED_EVENTS, "notbrought_parked_events", NB_METRIC_GAUGE, NULL,                       \
      "Events parked now, waiting for an identity link.")                                          \
    X(NB_M_PARKED_OLDEST_AGE, "notbrought_parked_oldest_age_seconds", NB_METRIC_GAUGE, NULL,       \
      "Age of the oldest parked event (0 when none is parked).")                                   \
    X(NB_M_IDENTITY_LINKS, "notbrought_identity_links_total", NB_METRIC_COUNTER, NULL,             \
      "Identity links applied to the in-memory identity table.")                                   \
    X(NB_M_LINKS_REFUSED, "notbrought_identity_links_refused_total", NB_METRIC_COUNTER, "code",    \
      "Identity links refused (logged with their offset, not applied), by error code.")            \
    X(NB_M_IDENTITY_DIGEST, "notbrought_identity_table_digest_info", NB_METRIC_GAUGE, "digest",    \
      "Always 1; digest = the first 16 hex digits of the identity table's SHA-256 digest "         \
      "(nb_identity_state_digest()): equal on instances that read the same links.")                \
    X(NB_M_IDENTITY_DIGEST_LINKS, "notbrought_identity_table_digest_links", NB_METRIC_GAUGE, NULL, \
      "Identity links read from the links topic (refused ones included, tombstones not) when "     \
      "the digest in notbrought_identity_table_digest_info was computed.")                         \
    X(NB_M_IDENTITY_SUGGESTIONS, "notbrought_identity_suggestions_total", NB_METRIC_COUNTER,       \
      "result",                                                                                    \
      "Demographic link suggestions, by result: published to topics.identity_suggestions, or "     \
      "repeated (the same identifier and child suggested already; not published again).")          \
    X(NB_M_NOTIFICATIONS, "notbrought_notifications_total", NB_METRIC_COUNTER, NULL,               \
      "Safeguarding notifications produced.")                                                      \
    X(NB_M_NOTIFICATIONS_OVERDUE, "notbrought_notifications_overdue", NB_METRIC_GAUGE, NULL,       \
      "Notifications past their respond-by time and not acknowledged.")                            \
    X(NB_M_TRANSACTIONS, "notbrought_transactions_total", NB_METRIC_COUNTER, "result",             \
      "Kafka transactions, by result (commit or abort).")                                          \
    X(NB_M_COMMIT_LATENCY, "notbrought_commit_latency_seconds", NB_METRIC_HISTOGRAM, NULL,         \
      "Time taken to commit one transaction (send offsets and commit).")                           \
    X(NB_M_RESTORED, "notbrought_restored_states_total", NB_METRIC_COUNTER, NULL,                  \
      "Child states restored from the changelog.")                                                 \
    X(NB_M_RESTORING_PARTITIONS, "notbrought_restoring_partitions", NB_METRIC_GAUGE, NULL,         \
      "By-child partitions whose state is being restored from the changelog now.")                 \
    X(NB_M_RESTORE_RECORDS, "notbrought_restore_records_total", NB_METRIC_COUNTER, NULL,           \
      "Changelog records read by restores.")                                                       \
    X(NB_M_RESTORE_REMAINING, "notbrought_restore_remaining_records", NB_METRIC_GAUGE, NULL,       \
      "Changelog records still to read in the partitions being restored, from their high "         \
      "watermarks (0 when none is).")                                                              \
    X(NB_M_EVENTS, "notbrought_events_total", NB_METRIC_COUNTER, "agency",                         \
      "Valid source events by agency (context facts as agency \"context\").")                      \
    X(NB_M_RESOLUTIONS, "notbrought_resolutions_total", NB_METRIC_COUNTER, "method",               \
      "Identity resolutions by method (nhs_number, link, pregnancy, pregnancy_link, parked, "      \
      "refused).")                                                                                 \
    X(NB_M_NOTIFICATIONS_BY_KIND, "notbrought_notifications_by_kind_total", NB_METRIC_COUNTER,     \
      "kind", "Notifications published by kind (new, escalated, withdrawn, digest).")              \
    X(NB_M_NOTIFICATIONS_BY_TIER, "notbrought_notifications_by_tier_total", NB_METRIC_COUNTER,     \
      "tier", "Notifications published by tier (curiosity, routine, priority, urgent).")           \
    X(NB_M_NOTIFICATIONS_OPEN, "notbrought_notifications_open", NB_METRIC_GAUGE, NULL,             \
      "Children in the owned partitions with a timer: an unacknowledged notification whose "       \
      "escalation ladder still has a rung to come, or an absence deadline still to come.")         \
    X(NB_M_DECISIONS_BY_RULE, "notbrought_decisions_total", NB_METRIC_COUNTER, "rule",             \
      "Decisions that fired, by rule (shadow rules included; digested ones too).")                 \
    X(NB_M_CHILDREN, "notbrought_children_tracked", NB_METRIC_GAUGE, NULL,                         \
      "Keys held in the owned partitions' state (children, pregnancies, parked, digests).")        \
    X(NB_M_STATE_BYTES, "notbrought_state_bytes", NB_METRIC_GAUGE, NULL,                           \
      "Memory held by the owned partitions' state: each key's entry with its value, timer and "    \
      "batch mark as allocated, the stores' tables (worked out from their counts) and the "        \
      "timers' heaps. Divided by notbrought_children_tracked: the memory per key.")                \
    X(NB_M_CONSUMER_LAG, "notbrought_consumer_lag_records", NB_METRIC_GAUGE, "topic,partition",    \
      "Records not yet consumed, per assigned partition (librdkafka statistics).")                 \
    X(NB_M_SOURCE_WATERMARK_LAG, "notbrought_source_watermark_lag_seconds", NB_METRIC_GAUGE,       \
      "topic,partition",                                                                           \
      "How far behind the clock each assigned source partition has been read, in the time its "    \
      "records were recorded (0 when read to its end).")                                           \
    X(NB_M_ABSENCE_WATERMARK_LAG, "notbrought_absence_watermark_lag_seconds", NB_METRIC_GAUGE,     \
      NULL,                                                                                        \
      "How far behind the clock absence deadlines are judged: the slowest source, everywhere "     \
      "(0 when every source is read to its end).")                                                 \
    X(NB_M_WATERMARK_RELEASED, "notbrought_watermark_hold_released_total", NB_METRIC_COUNTER,      \
      NULL,                                                                                        \
      "Times a watermark held absence deadlines back for processing.watermark_max_hold_ms and "    \
      "was let go to the clock.")                                                                  \
    X(NB_M_TIMERS_HELD, "notbrought_absence_timers_held", NB_METRIC_GAUGE, NULL,                   \
      "Absence deadlines passed by the clock and waiting for the sources to be read past them.")   \
    X(NB_M_KAFKA_BROKER_UP, "notbrought_kafka_broker_up", NB_METRIC_GAUGE, "client,broker",        \
      "1 when the client's connection to the broker is up, else 0 (librdkafka statistics; "        \
      "brokers the client has no need to connect to are not listed).")                             \
    X(NB_M_KAFKA_BROKER_RTT, "notbrought_kafka_broker_rtt_seconds", NB_METRIC_GAUGE,               \
      "client,broker,quantile",                                                                    \
      "Request round-trip time to the broker over the last statistics interval, average (avg) "    \
      "and 99th percentile (p99) (librdkafka statistics).")                                        \
    X(NB_M_KAFKA_BROKER_ERRORS, "notbrought_kafka_broker_errors_total", NB_METRIC_COUNTER,         \
      "client,broker,kind",                                                                        \
      "Transmission errors (tx), receive errors (rx) and request timeouts (timeout) on the "       \
      "connection to the broker (librdkafka statistics).")                                         \
    X(NB_M_KAFKA_TXN_STATE, "notbrought_kafka_transaction_state", NB_METRIC_GAUGE, "state",        \
      "1 for the transactional producer's current state (Ready, InTransaction, BeginCommit, "      \
      "AbortableError, FatalError, ...); one series.")                                             \
    X(NB_M_KAFKA_PRODUCER_QUEUE, "notbrought_kafka_producer_queue_messages", NB_METRIC_GAUGE,      \
      NULL, "Messages in the producer's queues, not yet delivered (librdkafka msg_cnt).")          \
    X(NB_M_KAFKA_REBALANCES, "notbrought_kafka_rebalances_total", NB_METRIC_COUNTER, "client",     \
      "Consumer group rebalances (assign or revoke) seen by the client.")                          \
    X(NB_M_KAFKA_STATS_INVALID, "notbrought_kafka_stats_invalid_total", NB_METRIC_COUNTER, NULL,   \
      "librdkafka statistics documents ignored because they were not valid JSON of the "           \
      "expected shape.")                                                                           \
    X(NB_M_POLICY_INFO, "notbrought_policy_info", NB_METRIC_GAUGE, "name,version,hash",            \
      "Always 1; the policy in force.")                                                            \
    X(NB_M_POLICY_RELOADS, "notbrought_policy_reloads_total", NB_METRIC_COUNTER, "result",         \
      "Policy reloads (SIGHUP), by result (ok or error).")                                         \
    X(NB_M_MLLP_RECEIVED, "notbrought_mllp_messages_received_total", NB_METRIC_COUNTER, "source",  \
      "HL7 v2 messages received by an MLLP listener, by source (framed, not yet "                  \
      "answered).")                                                                                \
    X(NB_M_MLLP_ACKS, "notbrought_mllp_acks_total", NB_METRIC_COUNTER, "source,code",              \
      "ACKs sent by an MLLP listener, by source and code: AA (in Kafka), AE (refused, "            \
      "dead-lettered), AR (not taken now: Kafka did not acknowledge, or too large; resend).")      \
    X(NB_M_MLLP_REFUSED, "notbrought_mllp_messages_refused_total", NB_METRIC_COUNTER,              \
      "source,reason",                                                                             \
      "Messages an MLLP listener refused, by source and reason (the mapping's refusal code, "      \
      "too_large, unreadable, kafka_unavailable, invalid_record).")                                \
    X(NB_M_MLLP_LAST_MESSAGE, "notbrought_mllp_last_message_timestamp_seconds", NB_METRIC_GAUGE,   \
      "source",                                                                                    \
      "Unix time of the last message an MLLP listener received from the source (the listener's "   \
      "start until the first): a feed gone silent shows here.")                                    \
    X(NB_M_MLLP_CONNECTIONS, "notbrought_mllp_connections", NB_METRIC_GAUGE, "source",             \
      "MLLP connections open now, by source.")                                                     \
    X(NB_M_FHIR_REQUESTS, "notbrought_fhir_requests_total", NB_METRIC_COUNTER, "source,status",    \
      "FHIR requests an ingest.fhir listener answered, by source and HTTP status: 201/200 (in "    \
      "Kafka, or ignored), 400/422 (refused, dead-lettered), 503 (Kafka did not acknowledge; "     \
      "resend), 404/405/413/415 (not taken).")                                                     \
    X(NB_M_FHIR_REFUSED, "notbrought_fhir_resources_refused_total", NB_METRIC_COUNTER,             \
      "source,reason",                                                                             \
      "Resources (or bodies) an ingest.fhir listener refused, by source and reason (the "          \
      "mapping's refusal code, or the reader's error).")                                           \
    X(NB_M_FHIR_LAST_REQUEST, "notbrought_fhir_last_request_timestamp_seconds", NB_METRIC_GAUGE,   \
      "source",                                                                                    \
      "Unix time of the last FHIR request from the source (the listener's start until the "        \
      "first): a feed gone silent shows here.")                                                    \
    X(NB_M_DISPATCH_DELIVERIES, "notbrought_dispatch_deliveries_total", NB_METRIC_COUNTER,         \
      "route,outcome",                                                                             \
      "Deliveries `notbrought dispatch` finished, by route kind (webhook, email) and outcome: "    \
      "delivered, refused (a permanent refusal), gave_up (retried until dispatch.give_up_ms).")    \
    X(NB_M_DISPATCH_RETRIES, "notbrought_dispatch_retries_total", NB_METRIC_COUNTER, "route",      \
      "Delivery attempts that failed and will be tried again, by route kind.")                     \
    X(NB_M_DISPATCH_SKIPPED, "notbrought_dispatch_skipped_total", NB_METRIC_COUNTER, "reason",     \
      "Notification records the dispatcher passed over, by reason: undecodable, "                  \
      "unknown_endpoint (a route naming no configured endpoint).")                                 \
    X(NB_M_DISPATCH_PENDING, "notbrought_dispatch_pending", NB_METRIC_GAUGE, NULL,                 \
      "Notifications the dispatcher holds whose deliveries are not all finished.")                 \
    X(NB_M_DISPATCH_OLDEST, "notbrought_dispatch_oldest_undelivered_seconds", NB_METRIC_GAUGE,     \
      NULL,                                                                                        \
      "Seconds since the dispatcher read the oldest notification not yet delivered (0: none).")    \
    X(NB_M_METRICS_DROPPED, "notbrought_metrics_dropped_total", NB_METRIC_COUNTER, NULL,           \
      "Metric updates dropped because a family reached its limit of label combinations.")          \
    X(NB_M_PROCESS_CPU, "process_cpu_seconds_total", NB_METRIC_COUNTER, NULL,                      \
      "Total user and system CPU time spent in seconds.")                                          \
    X(NB_M_PROCESS_RSS, "process_resident_memory_bytes", NB_METRIC_GAUGE, NULL,                    \
      "Resident memory size in bytes.")                                                            \
    X(NB_M_PROCESS_VSZ, "process_virtual_memory_bytes", NB_METRIC_GAUGE, NULL,                     \
      "Virtual memory size in bytes.")                                                             \
    X(NB_M_PROCESS_START, "process_start_time_seconds", NB_METRIC_GAUGE, NULL,                     \
      "Start time of the process since unix epoch in seconds.")                                    \
    X(NB_M_PROCESS_FDS, "process_open_fds", NB_METRIC_GAUGE, NULL,                                 \
      "Number of open file descriptors.")

typedef enum nb_metric_e {
#define NB__M_ENUM(id, name, type, labels, help) id,
    NB_METRICS_MAP(NB__M_ENUM)
#undef NB__M_ENUM
    NB_M__COUNT
} nb_metric_t;

typedef struct nb_metrics_s nb_metrics_t;

/**
 * @brief A registry of the well-known families (NB_METRICS_MAP), with build info set and the
 *        commit latency buckets 1 ms .. 10 s. @returns NULL on allocation failure.
 */
nb_metrics_t *nb_metrics_new(void);

/**
 * @brief A registry of the given families, id = index in @p defs (tests, other tools).
 * @remark @p defs is borrowed and must outlive the registry. @returns NULL on an invalid
 *         definition (bad name, too many labels or buckets) or allocation failure.
 */
nb_metrics_t *nb_metrics_new_from(const nb_metric_def_t *defs, size_t n_defs);

/** @brief Frees a registry. NULL is a no-op. */
void nb_metrics_destroy(nb_metrics_t *m);

/**
 * @brief Adds @p n to a counter (or a gauge). @p label is the value of the family's single
 *        label, NULL for a family without labels. NULL @p m is a no-op.
 * @locality any thread. @locks metrics_lock
 */
void nb_metrics_add(nb_metrics_t *m, int id, const char *label, double n);

/** @brief Sets a gauge (or a counter mirrored from a cumulative count kept elsewhere). */
void nb_metrics_set(nb_metrics_t *m, int id, const char *label, double v);

/** @brief Records one observation in a histogram family (no labels). */
void nb_metrics_observe(nb_metrics_t *m, int id, double v);

/**
 * @brief Sets a series of a family with several labels: @p values holds one value per label
 *        name, in the order of the definition.
 */
void nb_metrics_set_v(nb_metrics_t *m, int id, const char *const *values, double v);

/** @brief nb_metrics_add() on a series of a family with several labels (values in the order
 *         of the definition). */
void nb_metrics_add_v(nb_metrics_t *m, int id, const char *const *values, double n);

/**
 * @brief Replaces every series of an info family with the one series @p values = 1 (e.g.
 *        notbrought_policy_info after a reload).
 */
void nb_metrics_set_info(nb_metrics_t *m, int id, const char *const *values);

/** Characters of the identity table digest the registry exports (hex, a prefix of the
 *  SHA-256 nb_identity_state_digest() gives). */
#define NB_METRICS_DIGEST_HEX 16

/**
 * @brief Exports the identity table's digest: notbrought_identity_table_digest_info{digest}
 *        (one series), notbrought_identity_table_digest_links and the health answers'
 *        "identity" object. @p digest is hex; its first NB_METRICS_DIGEST_HEX characters are
 *        kept (fewer, or a character other than a hex digit: nothing changes).
 * @param links the links read into the table when the digest was computed
 * @locality any thread. @locks metrics_lock
 */
void nb_metrics_set_identity_digest(nb_metrics_t *m, const char *digest, uint64_t links);

/**
 * @brief Records a turn of the runtime's main loop at @p now_ms (Unix ms). Liveness is judged
 *        from it once it has been called at least once (see nb_metrics_health()).
 */
void nb_metrics_heartbeat(nb_metrics_t *m, int64_t now_ms);

/**
 * The runtime's totals that nb_metrics_set_totals() mirrors: a snapshot of the stream's
 * counters (nb_stream_stats_t), passed by the stream module, which ops does not use.
 */
typedef struct nb_metrics_totals_s {
    bool ready;             /**< notbrought_ready */
    uint64_t dead_letters;  /**< notbrought_dead_letters_total, all codes */
    uint64_t repartitioned; /**< notbrought_repartitioned_total */
    uint64_t parked;        /**< notbrought_parked_total */
    uint64_t released;      /**< notbrought_released_total */
    uint64_t links;         /**< notbrought_identity_links_total */
    uint64_t notifications; /**< notbrought_notifications_total */
    uint64_t restored;      /**< notbrought_restored_states_total */
    uint64_t commits;       /**< notbrought_transactions_total{result="commit"} */
    uint64_t aborts;        /**< notbrought_transactions_total{result="abort"} */
} nb_metrics_totals_t;

/**
 * @brief Mirrors a snapshot of the runtime's totals into the well-known families. Called on
 *        the HTTP thread before it answers (through nb_stream_collect_metrics()), so the
 *        runtime need not call anything.
 *
 * A family the runtime has updated directly (nb_metrics_add/set/observe) is not overwritten
 * by the mirror. Dead letters are the exception: the mirror sets code="unclassified" to the
 * total minus what was reported by code, so the sum over codes is always the total.
 * Records consumed are not mirrored: notbrought_records_consumed_total is labelled by topic,
 * which only the runtime knows, so the runtime reports it (nb_metrics_add() per topic).
 */
void nb_metrics_set_totals(nb_metrics_t *m, const nb_metrics_totals_t *t);

/**
 * @brief Applies one librdkafka statistics document (the JSON a stats_cb receives, see
 *        librdkafka's STATISTICS.md) to the notbrought_kafka_* families and
 *        notbrought_consumer_lag_records. The client label is the document's "client_id"
 *        (its "name" when that is empty).
 *
 * Every client (type "consumer" or "producer"):
 *  - per broker with a node id (bootstrap and internal brokers, nodeid -1, are skipped):
 *    notbrought_kafka_broker_up (1 when "state" is "UP"; no series while "INIT", a broker
 *    the client has no need to connect to); notbrought_kafka_broker_rtt_seconds avg and p99
 *    (no series when the interval had no sample); notbrought_kafka_broker_errors_total
 *    tx/rx/timeout from librdkafka's cumulative counts, never lower than before.
 *    Series of brokers the document no longer reports go, for that client.
 * A consumer: the lag of every partition with "desired": true and an id other than -1:
 *    consumer_lag_stored (from the last record handed to the application), or consumer_lag
 *    (from the committed offset) while that is -1; the committed offset is only learnt at
 *    assignment when offsets are committed through the producer's transactions. Partitions
 *    with neither known and those no longer assigned have no lag series (revoked partitions
 *    leave no stale lag behind). Feed only the group consumer's documents.
 *    notbrought_kafka_rebalances_total from cgrp.rebalance_cnt.
 * A producer: notbrought_kafka_producer_queue_messages (msg_cnt) and, when it has one, the
 *    transaction state eos.txn_state as the one series of notbrought_kafka_transaction_state.
 *
 * A scrape sees a document applied whole (one lock hold). A document that does not parse or
 * lacks "type" and a client name changes nothing but notbrought_kafka_stats_invalid_total.
 * New label combinations beyond NB_METRICS_MAX_SERIES per family are dropped and counted.
 * @param json need not be NUL-terminated; it is borrowed (librdkafka frees it after the
 *        callback returns 0).
 * @returns true when the document was applied. NULL @p m is a no-op (returns false), as is
 *          a registry not made by nb_metrics_new().
 * @locality any thread (the stats_cb runs on the thread that polls the client).
 * @locks metrics_lock
 */
bool nb_metrics_kafka_stats(nb_metrics_t *m, const char *json, size_t len);

/** @brief Reads /proc/self into the process_* families. @locality any thread */
void nb_metrics_update_process(nb_metrics_t *m);

/**
 * @brief Renders the registry in the Prometheus text format (version 0.0.4).
 * @returns a NUL-terminated string the caller frees, or NULL on allocation failure;
 *          @p len (optional) receives its length.
 */
char *nb_metrics_render(nb_metrics_t *m, size_t *len);

/** What the health endpoints answer. */
typedef struct nb_health_s {
    bool live;                /**< main loop turned within the stall limit (or never reported) */
    bool ready;               /**< live, and the runtime says ready */
    bool heartbeat_seen;      /**< nb_metrics_heartbeat() has been called */
    int64_t heartbeat_age_ms; /**< -1 when never seen */
    const char *reason;       /**< static text: why not live / not ready; "" when ready */
    /** nb_metrics_set_identity_digest()'s digest ("" until it is called) and links. */
    char identity_digest[NB_METRICS_DIGEST_HEX + 1];
    uint64_t identity_links;
} nb_health_t;

/**
 * @brief Judges liveness and readiness at @p now_ms: live unless a heartbeat was seen and is
 *        older than @p stall_ms; ready when live and notbrought_ready is 1.
 */
void nb_metrics_health(nb_metrics_t *m, int64_t now_ms, int64_t stall_ms, nb_health_t *out);

/* ---- health and metrics HTTP server (libmicrohttpd) --------------------------------------- */

typedef struct nb_http_s nb_http_t;

/** Called on the HTTP thread before each answer, to refresh the registry (e.g. from
 *  nb_stream_stats(), through nb_stream_collect_metrics()). It must be thread-safe with
 *  respect to whatever it reads. */
typedef void nb_http_collect_cb_t(void *opaque, nb_metrics_t *m);

/* The HTTP server's defaults, shared with the configuration table (ops.http_*). */
#define NB_HTTP_DEFAULT_BIND "127.0.0.1"
#define NB_HTTP_DEFAULT_MAX_CONNECTIONS 128
#define NB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP 8
#define NB_HTTP_DEFAULT_TIMEOUT_S 10

typedef struct nb_http_conf_s {
    const char *bind;     /**< numeric IPv4 or IPv6 address; NULL: NB_HTTP_DEFAULT_BIND */
    int port;             /**< 0: an ephemeral port (see nb_http_port()) */
    int64_t stall_ms;     /**< heartbeat older than this: not live; 0: 60000 */
    nb_http_collect_cb_t *collect; /**< optional */
    void *opaque;
    /* Limits; 0 takes the NB_HTTP_DEFAULT_* value. */
    int max_connections;        /**< connections held at once */
    int max_connections_per_ip; /**< of which from one client address */
    int timeout_s;              /**< a connection idle this long is closed */
} nb_http_conf_t;

/**
 * @brief Starts serving GET /metrics, /healthz and /readyz on its own thread.
 *        /healthz: 200 while live, else 503. /readyz: 200 when ready, else 503. Both answer
 *        a short JSON object with the reason.
 *        The server holds at most max_connections connections, at most
 *        max_connections_per_ip of them from one client address (more are closed as soon as
 *        they are accepted), and closes a connection idle for timeout_s, so that clients that
 *        never finish a request cannot keep the probes out. It polls with epoll (or poll()),
 *        never select(), so descriptor numbers above FD_SETSIZE do not matter.
 * @remark @p m is borrowed and must outlive the server.
 * @returns NULL with the reason in errstr.
 */
nb_http_t *nb_http_new(nb_metrics_t *m, const nb_http_conf_t *hc, char *errstr,
                       size_t errstr_size);

/** @brief The port the server listens on. */
int nb_http_port(const nb_http_t *h);

/** @brief Stops the server and waits for its thread. NULL is a no-op. */
void nb_http_destroy(nb_http_t *h);

#endif /* NOTBROUGHT_OPS_H */
