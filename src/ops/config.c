/*
 * notbrought - ops: configuration as data.
 *
 * One table drives loading (libyaml), validation, environment overrides and the generated
 * reference. Keys are "section.name"; the YAML nests them (kafka: {bootstrap_servers: ...}).
 *
 * This file holds the table, setting one value from text, nb_config_new/destroy and the
 * generated reference. The rest (what the files share is in ops/config_internal.h):
 *   config_load.c   reading the YAML file
 *   config_env.c    NB_* environment overrides and the files that hold secrets
 *   config_check.c  validation across keys (nb_config_validate)
 */
#include "ops/config_internal.h"
#include "ops/config_dispatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(nb_config_t, f)
#define NB__STR(x) #x
#define NB__XSTR(x) NB__STR(x) /* a macro's value as a string literal */
#define NONE 0, 0
/* topics.retention_ms.<role>: -1 (for ever) or at least an hour; config_check.c refuses
 * 0 .. 3599999, which would delete records before anyone could read them. */
#define NB__TOPIC_RETENTION(role, ROLE, def, desc)                                                 \
    {                                                                                              \
        "topics.retention_ms." #role, NB__C_INT, def, -1, 0x7fffffffffffffffL,                     \
            OFF(topic_retention_ms) + NB_TOPIC_##ROLE * sizeof(int64_t), 0, 0,                     \
            "retention.ms of " desc " -1 keeps records for ever."                                  \
    }

const nb__cdef_t nb__config_table[] = {
    {"kafka.bootstrap_servers", NB__C_STR, "127.0.0.1:9092", NONE, OFF(bootstrap_servers), 0, 0,
     "Kafka bootstrap servers (host:port, comma-separated)."},
    {"kafka.group_id", NB__C_STR, "notbrought", NONE, OFF(group_id), 0, 0,
     "Consumer group shared by every instance; Kafka moves partitions between them."},
    {"kafka.instance_id", NB__C_STR, "notbrought-1", NONE, OFF(instance_id), 0, 0,
     "Unique per instance: the client.id, and the suffix of the transactional.id. Two running "
     "instances must never share it."},
    {"kafka.assignment_strategy", NB__C_STR, "range", NONE, OFF(assignment_strategy), 0, 0,
     "partition.assignment.strategy: range (default) or roundrobin. cooperative-sticky is "
     "accepted but librdkafka 2.0.2 has known bugs with it (fixed in 2.4-2.10)."},
    {"kafka.group_instance_id", NB__C_STR, "", NONE, OFF(group_instance_id), 0, 0,
     "group.instance.id for static membership (optional): a restart within "
     "session.timeout.ms keeps the partitions without a rebalance."},
    {"kafka.properties", NB__C_PROPS, NULL, NONE, OFF(kafka_props), OFF(n_kafka_props),
     NB_CONFIG_MAX_PROPS,
     "librdkafka properties passed through as they are (security.protocol, ssl.ca.location, "
     "sasl.mechanisms, sasl.username, ...). Secrets are refused here (sasl.password, "
     "ssl.key.password, ssl.keystore.password, ssl.key.pem, sasl.oauthbearer.client.secret): "
     "set them in NB_RDKAFKA_* variables, or the SASL password in kafka.sasl_password_file."},
    {"kafka.sasl_password_file", NB__C_STR, "", NONE, OFF(sasl_password_file), 0, 0,
     "File holding the SASL password (sasl.password), e.g. a mounted Kubernetes Secret; one "
     "line, a trailing newline is ignored. NB_RDKAFKA_SASL_PASSWORD, when set, wins."},
    {"topics.appointments", NB__C_LIST, "gp.appointments,midwifery.appointments,hv.contacts", NONE,
     OFF(appointment_topics), OFF(n_appointment_topics), NB_CONFIG_MAX_TOPICS,
     "Source topics of appointment events (one per agency system)."},
    {"topics.context", NB__C_STR, "child.context", NONE, OFF(context_topic), 0, 0,
     "Source topic of child context facts (plans, looked after, child in need)."},
    {"topics.links", NB__C_STR, "identity.links", NONE, OFF(links_topic), 0, 0,
     "Compacted topic of identity links; every instance reads all of it."},
    {"topics.acks", NB__C_STR, "notification.acks", NONE, OFF(acks_topic), 0, 0,
     "Topic of notification acknowledgements."},
    {"topics.by_child", NB__C_STR, "notbrought.by-child", NONE, OFF(by_child_topic), 0, 0,
     "Internal repartition topic keyed by pseudonymous child key."},
    {"topics.changelog", NB__C_STR, "notbrought.changelog", NONE, OFF(changelog_topic), 0, 0,
     "Internal compacted changelog of per-child state (same partition count as by_child)."},
    {"topics.notifications", NB__C_STR, "notifications", NONE, OFF(notifications_topic), 0, 0,
     "Output topic of safeguarding notifications."},
    {"topics.dead_letters", NB__C_STR, "notbrought.dead-letters", NONE, OFF(dead_letter_topic), 0,
     0, "Output topic of records that could not be processed, with the reason in headers."},
    {"topics.audit", NB__C_STR, "notbrought.audit", NONE, OFF(audit_topic), 0, 0,
     "Output topic of decisions, for practice reviews."},
    {"topics.identity_suggestions", NB__C_STR, "identity.suggestions", NONE,
     OFF(identity_suggestions_topic), 0, 0,
     "Output topic of demographic link suggestions (identity.suggest_demographic_links), for "
     "the people who review identity. Each carries an NHS number and a local identifier: "
     "grant read access to the identity review team only (docs/runbook.md)."},
    {"topics.partitions", NB__C_INT, "6", 1, 1024, OFF(partitions), 0, 0,
     "Partitions of by_child and changelog (the unit of scale-out)."},
    {"topics.replication_factor", NB__C_INT, "0", 0, 32, OFF(topic_replication_factor), 0, 0,
     "Replication factor `notbrought topics` creates every topic with, and the least it accepts "
     "on a topic that exists. 0: min(3, the brokers in the cluster's metadata), so one broker "
     "(the demo) works and three or more keep three copies."},
    {"topics.min_insync_replicas", NB__C_INT, "0", 0, 32, OFF(topic_min_insync_replicas), 0, 0,
     "min.insync.replicas of every topic (the least `notbrought topics` accepts on one that "
     "exists): a transaction's writes are acknowledged only once this many replicas hold them. "
     "0: min(2, the replication factor)."},
    NB__TOPIC_RETENTION(appointments, APPOINTMENTS, "34560000000",
                        "the source appointment topics (default 400 days: the shipped policy looks "
                        "back 366 days, and state is rebuilt from the sources after a key "
                        "rotation or a partition change, docs/runbook.md)."),
    NB__TOPIC_RETENTION(context, CONTEXT, "34560000000",
                        "the context topic (default 400 days, as the appointment topics)."),
    NB__TOPIC_RETENTION(acks, ACKS, "-1",
                        "the acknowledgements: who acted on a notification, and when (the "
                        "review record). Default -1: kept, purged only by the documented, "
                        "audited `notbrought purge`."),
    NB__TOPIC_RETENTION(by_child, BY_CHILD, "2592000000",
                        "the internal repartition topic (default 30 days): its records are "
                        "handled within seconds, and the changelog holds the state; the margin "
                        "covers an outage."),
    NB__TOPIC_RETENTION(notifications, NOTIFICATIONS, "-1",
                        "the notifications (default -1: kept as long as the child safeguarding "
                        "records are; the retention schedule is applied with `notbrought "
                        "purge`, docs/runbook.md)."),
    NB__TOPIC_RETENTION(dead_letters, DEAD_LETTERS, "-1",
                        "the dead letters (default -1: they hold raw records that were not "
                        "handled; purged with `notbrought purge` once dealt with)."),
    NB__TOPIC_RETENTION(audit, AUDIT, "-1",
                        "the audit of decisions (default -1, as the notifications)."),
    NB__TOPIC_RETENTION(
        identity_suggestions, IDENTITY_SUGGESTIONS, "2592000000",
        "the demographic link suggestions (default 30 days, identity.park_retention_ms"
        "'s default: an event waits that long for its link; they hold personal "
        "data, kept no longer than review needs)."),
    {"processing.commit_interval_ms", NB__C_INT, "100", 1, 60000, OFF(commit_interval_ms), 0, 0,
     "Longest time a transaction stays open; bounds end-to-end latency. Every transaction "
     "costs the daemon and the broker CPU: under a backlog a longer interval drains it faster "
     "(docs/benchmarks.md)."},
    {"processing.min_commit_interval_ms", NB__C_INT, "50", 0, 60000, OFF(min_commit_interval_ms), 0,
     0,
     "A transaction at least this old is committed as soon as no more input is at hand, "
     "without waiting for commit_interval_ms: latency follows the load. Shorter means more "
     "transactions for the broker to complete (on a small broker, slower and less steady "
     "commits: see docs/benchmarks.md). Set it equal to commit_interval_ms for fixed-length "
     "transactions."},
    {"processing.local_by_child", NB__C_BOOL, "true", NONE, OFF(local_by_child), 0, 0,
     "Handle an event in the instance that read it when that instance owns the child's by-child "
     "partition: one transaction instead of two. false sends every event through the by-child "
     "topic."},
    {"processing.commit_in_background", NB__C_BOOL, "true", NONE, OFF(commit_in_background), 0, 0,
     "While input waits (a backlog), commit a transaction on a second thread while the next "
     "batch is handled; its outputs wait in memory until the commit has finished and its own "
     "transaction begins. An abort rolls back both. When the consumer has nothing more at "
     "hand, and with false, the main loop waits for the commit."},
    {"processing.decode_ahead", NB__C_BOOL, "true", NONE, OFF(decode_ahead), 0, 0,
     "Decode and validate source records on a second thread, up to 256 records ahead of the "
     "one being handled (records are still handled one at a time, in order). false decodes "
     "each record on the main thread when it is handled."},
    {"processing.max_batch", NB__C_INT, "10000", 1, 1000000, OFF(max_batch), 0, 0,
     "Most input records in one transaction."},
    {"processing.shutdown_timeout_ms", NB__C_INT, "20000", 100, 3600000, OFF(shutdown_timeout_ms),
     0, 0,
     "After SIGTERM or SIGINT, the longest the daemon takes to stop. It finishes the open "
     "transaction and leaves the group when the brokers let it; past this time it exits with "
     "status 3 whatever the brokers do (what committed stays committed; what did not is "
     "handled again by the next owner). Keep it below the orchestrator's grace period "
     "(Kubernetes: terminationGracePeriodSeconds)."},
    {"processing.stall_timeout_ms", NB__C_INT, "30000", 100, 3600000, OFF(stall_timeout_ms), 0, 0,
     "Readiness turns false when records are waiting but no transaction has committed for "
     "this long (brokers refusing, a topic not writable, a dead-letter topic that refuses), "
     "and turns true again with the next commit."},
    {"processing.dead_letter_prefix_bytes", NB__C_INT, "65536", 0, 524288,
     OFF(dead_letter_prefix_bytes), 0, 0,
     "A record too large to go to the dead-letter topic whole goes as a bounded dead letter: "
     "the reason, the source coordinates, SHA-256 digests and sizes of the original key, value "
     "and headers, and the first this-many bytes of the value (the key is cut to 1 KiB)."},
    {"processing.watermark_idle_ms", NB__C_INT, "60000", 1000, 86400000, OFF(watermark_idle_ms), 0,
     0,
     "Absence deadlines (\"no new birth visit by day 14\") fire only once every source that "
     "could record the expected contact has been read past them (the watermark: each source "
     "partition's latest recorded_at). A partition read to its end and quiet for this long "
     "follows the clock (reaching the end alone proves nothing: a source catching up after an "
     "outage may still be sending its backlog). Longer holds deadlines back longer after the "
     "last record of a quiet source; shorter risks judging a deadline while a trickled backlog "
     "still has its answer."},
    {"processing.watermark_max_hold_ms", NB__C_INT, "3600000", 0, 604800000,
     OFF(watermark_max_hold_ms), 0, 0,
     "Longest wall-clock time an absence deadline waits for slow sources (records waiting "
     "but read slowly, or a stuck consumer); past it, it is judged at the clock, with a log "
     "line and notbrought_watermark_hold_released_total, so that a slow or stuck source never "
     "silences the protocol. 0 judges every deadline at the clock (no holding)."},
    {"processing.fixed_now", NB__C_STR, "", NONE, OFF(fixed_now), 0, 0,
     "For tests and reproducible replays only: evaluate every rule as of this ISO 8601 time "
     "instead of the wall clock. Escalation timers never fall due with a fixed clock. Leave "
     "empty in production."},
    {"policy.files", NB__C_LIST, "config/policy/wnb-wales-base.yaml", NONE, OFF(policy_files),
     OFF(n_policy_files), NB_CONFIG_MAX_POLICY_FILES,
     "Policy files, base first, overlays after (later files override earlier ones by id)."},
    {"identity.hmac_key_file", NB__C_STR, "", NONE, OFF(hmac_key_file), 0, 0,
     "File holding the secret for pseudonymous child keys (HMAC-SHA256): at most 511 bytes, "
     "trailing line ends and spaces not part of the key. Or set NB_HMAC_KEY. Never put the key "
     "itself in the configuration file."},
    {"identity.allow_test_nhs_numbers", NB__C_BOOL, "true", NONE, OFF(allow_test_nhs_numbers), 0, 0,
     "Accept NHS numbers from the 999 test range (set false in production)."},
    {"identity.suggest_demographic_links", NB__C_BOOL, "false", NONE,
     OFF(suggest_demographic_links), 0, 0,
     "Suggest identity links for events that have no NHS number and an unknown local "
     "identifier when their date of birth, family name and postcode match exactly one child "
     "seen with an NHS number: published to topics.identity_suggestions for a human to "
     "confirm, never joined (docs/identity.md)."},
    {"identity.park_retention_ms", NB__C_INT, "2592000000", 1000, 0x7fffffffffffL,
     OFF(park_retention_ms), 0, 0,
     "How long an event waits for an identity link before it is dead-lettered (default 30 "
     "days)."},
    {"identity.park_max", NB__C_INT, "1000000", 1, 100000000, OFF(park_max), 0, 0,
     "Most events parked at once per instance."},
    {"notify.timezone", NB__C_STR, "Europe/London", NONE, OFF(timezone), 0, 0,
     "Zone the times a nurse reads are shown in (respond-by, appointment times, when a "
     "notification was made), with its abbreviation (GMT or BST): Europe/London or UTC. The "
     "records themselves carry UTC instants."},
    {"ops.log_level", NB__C_STR, "info", NONE, OFF(log_level), 0, 0, "error, warn, info or debug."},
    {"ops.http_port", NB__C_INT, "0", 0, 65535, OFF(http_port), 0, 0,
     "Port of /metrics, /healthz and /readyz (on ops.http_bind); 0 disables."},
    {"ops.http_bind", NB__C_STR, NB_HTTP_DEFAULT_BIND, NONE, OFF(http_bind), 0, 0,
     "Numeric IPv4 or IPv6 address the metrics and health server listens on. The default, "
     "127.0.0.1, is this host only; set 0.0.0.0 (every IPv4 interface) or :: where probes "
     "and Prometheus must reach it, as the container image and the Kubernetes files do. The "
     "port has no authentication and no TLS."},
    {"ops.http_max_connections", NB__C_INT, NB__XSTR(NB_HTTP_DEFAULT_MAX_CONNECTIONS), 1, 10000,
     OFF(http_max_connections), 0, 0,
     "Most connections the metrics and health server holds at once; more wait in the listen "
     "queue until one closes."},
    {"ops.http_max_connections_per_ip", NB__C_INT, NB__XSTR(NB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP),
     1, 10000, OFF(http_max_connections_per_ip), 0, 0,
     "Most of those connections from one client address (at most ops.http_max_connections); "
     "more are closed as soon as they are accepted, so one client cannot fill the server. "
     "Probes and a Prometheus scraper need one or two each."},
    {"ops.http_timeout_s", NB__C_INT, NB__XSTR(NB_HTTP_DEFAULT_TIMEOUT_S), 1, 3600,
     OFF(http_timeout_s), 0, 0,
     "Seconds after which the metrics and health server closes a connection that sent or "
     "read nothing: a client that never finishes its request is dropped."},
    {"ops.schemas_dir", NB__C_STR, "", NONE, OFF(schemas_dir), 0, 0,
     "Extra schema registry directory (registry.tsv + .avsc) for producers' newer versions."},
    {"ingest.mllp", NB__C_MLLP, NULL, NONE, OFF(mllp), OFF(n_mllp), NB_CONFIG_MAX_LISTENERS,
     "MLLP listeners of HL7 v2 feeds (docs/mllp.md), a list of mappings: `name` (required; "
     "letters, digits, `_`, `-`, `.`; unique: the source's name in metrics, dead letters and "
     "logs), `bind` (numeric address, default `127.0.0.1`), `port` (required; 0 picks a free "
     "port), `mapping` (the source's mapping file), `topic` (required: one of "
     "topics.appointments, where its appointment events go), `tls` (optional: `cert` and `key` "
     "PEM files, `ca` to verify client certificates against, `require_client_cert` true or "
     "false; TLS 1.2 or later). Only from the file: no environment variable sets it."},
    {"ingest.fhir", NB__C_MLLP, NULL, NONE, OFF(fhir), OFF(n_fhir), NB_CONFIG_MAX_LISTENERS,
     "FHIR R4 HTTP listeners (docs/fhir.md, `notbrought ingest fhir`), a list of mappings with "
     "the keys of ingest.mllp: `name` (unique among both lists: the source's name and the "
     "<source> of POST /fhir/<source>/...), `bind` (default `127.0.0.1`), `port`, `mapping` "
     "(with a `fhir` section), `topic`, `tls` (as ingest.mllp's: libmicrohttpd's GnuTLS; "
     "`require_client_cert` answers 403 without a verified client certificate). Only from "
     "the file."},
    {"ingest.max_message_bytes", NB__C_INT, "1048576", 1024, 67108864,
     OFF(ingest_max_message_bytes), 0, 0,
     "Largest HL7 v2 message an MLLP listener takes. A frame that grows past it is answered AR "
     "and its connection closed, without reading the rest of it into memory."},
    {"ingest.max_connections", NB__C_INT, "64", 1, 10000, OFF(ingest_max_connections), 0, 0,
     "Most MLLP connections held at once, all listeners together; more are closed as soon as "
     "they are accepted. Each FHIR listener (ingest.fhir) holds as many of its own; more wait "
     "in the listen queue, unanswered, until one of those closes."},
    {"ingest.idle_timeout_ms", NB__C_INT, "300000", 1000, 86400000, OFF(ingest_idle_timeout_ms), 0,
     0,
     "An MLLP connection that sends nothing for this long, with no message waiting for its "
     "ACK, is closed (a sender reconnects when it has something to send)."},
    {"ingest.max_buffered_bytes", NB__C_INT, "4194304", 2048, 1073741824,
     OFF(ingest_max_buffered_bytes), 0, 0,
     "Bytes one MLLP connection may have sent that are not yet acknowledged (received, framed "
     "or waiting for Kafka). Past it the connection is not read until ACKs have gone: a "
     "sender that pipelines waits. At least ingest.max_message_bytes."},
    {"ingest.delivery_timeout_ms", NB__C_INT, "30000", 1000, 600000,
     OFF(ingest_delivery_timeout_ms), 0, 0,
     "Longest time a message waits for Kafka's acknowledgement (brokers down, a partition "
     "without leader); then it is answered AR and the sender resends it. Keep it below the "
     "sender's ACK timeout."},
    {"inbox.bind", NB__C_STR, "127.0.0.1", NONE, OFF(inbox_bind), 0, 0,
     "Numeric IPv4 or IPv6 address the safeguarding inbox (`notbrought inbox`, docs/inbox.md) "
     "listens on. Without `inbox.tls` it serves plain HTTP, which is allowed only on a loopback "
     "address (development: browsers treat http://localhost as secure) or behind the "
     "authenticating proxy of `inbox.auth.proxy`, which terminates TLS."},
    {"inbox.port", NB__C_INT, "8443", 0, 65535, OFF(inbox_port), 0, 0,
     "Port of the inbox; 0 picks a free port (tests)."},
    {"inbox.tls.cert", NB__C_STR, "", NONE, OFF(inbox_tls_cert), 0, 0,
     "PEM certificate (chain) of the inbox's HTTPS (libmicrohttpd's GnuTLS, TLS 1.2 or later); "
     "with `inbox.tls.key`. Under TLS every answer carries Strict-Transport-Security."},
    {"inbox.tls.key", NB__C_STR, "", NONE, OFF(inbox_tls_key), 0, 0,
     "PEM private key of `inbox.tls.cert`."},
    {"inbox.max_connections", NB__C_INT, "256", 1, 10000, OFF(inbox_max_connections), 0, 0,
     "Most connections the inbox holds at once."},
    {"inbox.session.idle_timeout_s", NB__C_INT, "1800", 60, 86400, OFF(inbox_session_idle_s), 0, 0,
     "A session not used for this long ends: the user signs in again."},
    {"inbox.session.absolute_timeout_s", NB__C_INT, "43200", 60, 604800,
     OFF(inbox_session_absolute_s), 0, 0,
     "A session ends this long after its sign-in however busy it is (default 12 hours: a "
     "shift)."},
    {"inbox.session.max", NB__C_INT, "10000", 16, 1000000, OFF(inbox_max_sessions), 0, 0,
     "Most sessions held at once, signed in or on the sign-in page; past it the oldest session "
     "still signing in is dropped, and with none, a new sign-in is answered 503."},
    {"inbox.auth.users_file", NB__C_STR, "", NONE, OFF(inbox_users_file), 0, 0,
     "The local users file (YAML, docs/inbox.md): each user's `id`, `name`, `queues` and "
     "`password_hash` (Argon2id, from `notbrought inbox passwd`). A user without a hash signs in "
     "only through the proxy, and the file then gives their queues."},
    {"inbox.auth.max_failures_per_user", NB__C_INT, "5", 1, 1000, OFF(inbox_max_failures_per_user),
     0, 0,
     "Failed sign-ins of one user id within `inbox.auth.failure_window_s` after which the next "
     "attempts are answered 429 with Retry-After, whatever the password."},
    {"inbox.auth.max_failures_per_address", NB__C_INT, "20", 1, 100000,
     OFF(inbox_max_failures_per_address), 0, 0,
     "The same, per client address (set higher where many users share one address)."},
    {"inbox.auth.failure_window_s", NB__C_INT, "900", 10, 86400, OFF(inbox_failure_window_s), 0, 0,
     "The window of the sign-in failure limits (default 15 minutes)."},
    {"inbox.auth.proxy.user_header", NB__C_STR, "", NONE, OFF(inbox_proxy_user_header), 0, 0,
     "Header carrying the signed-in user's id from an authenticating reverse proxy (NHS CIS2 / "
     "OIDC in front of the inbox), e.g. `X-Forwarded-User`; \"\" turns proxy sign-in off. "
     "Honoured only from `inbox.auth.proxy.trusted_proxies`; from any other address it is "
     "ignored (the request is not signed in) and the attempt is logged."},
    {"inbox.auth.proxy.name_header", NB__C_STR, "", NONE, OFF(inbox_proxy_name_header), 0, 0,
     "Header carrying the user's display name; without it (or when the proxy sends none) the "
     "users file's name, else the id, is shown."},
    {"inbox.auth.proxy.queues_header", NB__C_STR, "", NONE, OFF(inbox_proxy_queues_header), 0, 0,
     "Header carrying the user's queues (routes such as `queue:cav-health-visiting-duty`, "
     "comma-separated), for proxies that map the identity provider's roles to queues. Without "
     "it the queues are the users file's entry of the same id (no entry: no queues)."},
    {"inbox.auth.proxy.trusted_proxies", NB__C_LIST, "", NONE, OFF(inbox_trusted_proxies),
     OFF(n_inbox_trusted_proxies), NB_CONFIG_MAX_PROXIES,
     "CIDR blocks (`10.0.0.0/8`, `127.0.0.1/32`, `::1/128`; a bare address is one host) the proxy "
     "connects from; required with `inbox.auth.proxy.user_header`. Quote IPv6 blocks in a "
     "`[...]` list (`[\"::1/128\"]`): YAML reads a bare `::` there as a key."},
    NB__CONFIG_DISPATCH_KEYS /* src/ops/config_dispatch.h */
};
const size_t nb__config_count = sizeof(nb__config_table) / sizeof(nb__config_table[0]);

void nb__cerr(nb__cerr_t *e, const char *fmt, ...)
{
    va_list ap;
    e->count++;
    if (e->len + 1 >= e->size)
        return;
    if (e->len) {
        e->buf[e->len++] = '\n';
        e->buf[e->len] = '\0';
    }
    va_start(ap, fmt);
    int n = vsnprintf(e->buf + e->len, e->size - e->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        e->len = e->len + (size_t)n < e->size ? e->len + (size_t)n : e->size - 1;
}

static char **nb__str_at(nb_config_t *c, const nb__cdef_t *d)
{
    return (char **)((char *)c + d->offset);
}

nb_err_t nb__set_scalar(nb_config_t *c, const nb__cdef_t *d, const char *v,
                        char *why, size_t why_size)
{
    char *end;
    switch (d->type) {
    case NB__C_STR: {
        char *dup = strdup(v);
        if (!dup)
            return NB_ERR_NOMEM;
        free(*nb__str_at(c, d));
        *nb__str_at(c, d) = dup;
        return NB_ERR_OK;
    }
    case NB__C_INT: {
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || *v == '\0' || *end != '\0') {
            snprintf(why, why_size, "expected an integer");
            return NB_ERR_CONFIG;
        }
        if (n < d->min || n > d->max) {
            snprintf(why, why_size, "must be between %ld and %ld", d->min, d->max);
            return NB_ERR_CONFIG;
        }
        if (d->offset == OFF(park_retention_ms) || d->offset == OFF(watermark_idle_ms) ||
            d->offset == OFF(watermark_max_hold_ms) ||
            (d->offset >= OFF(topic_retention_ms) &&
             d->offset < OFF(topic_retention_ms) + sizeof(((nb_config_t *)0)->topic_retention_ms)))
            *(int64_t *)((char *)c + d->offset) = n;
        else
            *(int *)((char *)c + d->offset) = (int)n;
        return NB_ERR_OK;
    }
    case NB__C_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
            *(bool *)((char *)c + d->offset) = true;
        else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
            *(bool *)((char *)c + d->offset) = false;
        else {
            snprintf(why, why_size, "expected true or false");
            return NB_ERR_CONFIG;
        }
        return NB_ERR_OK;
    case NB__C_LIST: {
        /* Comma-separated (defaults and environment variables). */
        size_t *n = (size_t *)((char *)c + d->count_offset);
        char **items = (char **)((char *)c + d->offset);
        for (size_t i = 0; i < *n; i++)
            free(items[i]);
        *n = 0;
        const char *p = v;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (*n == d->max_items) {
                snprintf(why, why_size, "at most %zu items", d->max_items);
                return NB_ERR_CONFIG;
            }
            if (len) {
                items[*n] = strndup(p, len);
                if (!items[*n])
                    return NB_ERR_NOMEM;
                (*n)++;
            }
            p += len + (comma ? 1 : 0);
        }
        return NB_ERR_OK;
    }
    case NB__C_PROPS:
        snprintf(why, why_size, "expected a mapping");
        return NB_ERR_CONFIG;
    case NB__C_MLLP:
        snprintf(why, why_size, "expected a list of listeners, which only the file can give");
        return NB_ERR_CONFIG;
    case NB__C_ENDPOINTS:
        snprintf(why, why_size, "expected a list of endpoints, which only the file can give");
        return NB_ERR_CONFIG;
    }
    return NB_ERR_CONFIG;
}

nb_config_t *nb_config_new(void)
{
    char why[128];
    nb_config_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    for (size_t i = 0; i < nb__config_count; i++) {
        const nb__cdef_t *d = &nb__config_table[i];
        if (d->def && nb__set_scalar(c, d, d->def, why, sizeof(why))) {
            nb_config_destroy(c);
            return NULL;
        }
    }
    return c;
}

void nb_config_destroy(nb_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < nb__config_count; i++) {
        const nb__cdef_t *d = &nb__config_table[i];
        if (d->type == NB__C_STR) {
            free(*nb__str_at(c, d));
        } else if (d->type == NB__C_LIST) {
            size_t n = *(size_t *)((char *)c + d->count_offset);
            char **items = (char **)((char *)c + d->offset);
            for (size_t k = 0; k < n; k++)
                free(items[k]);
        }
    }
    for (size_t k = 0; k < c->n_kafka_props; k++) {
        free(c->kafka_props[k].key);
        free(c->kafka_props[k].value);
    }
    nb__free_mllp(c);
    nb__free_dispatch(c);
    free(c->hmac_key);
    free(c);
}

nb_err_t nb__set_prop(nb_config_t *c, const char *k, const char *v)
{
    for (size_t i = 0; i < c->n_kafka_props; i++) {
        if (strcmp(c->kafka_props[i].key, k) == 0) {
            char *dup = strdup(v);
            if (!dup)
                return NB_ERR_NOMEM;
            free(c->kafka_props[i].value);
            c->kafka_props[i].value = dup;
            return NB_ERR_OK;
        }
    }
    if (c->n_kafka_props == NB_CONFIG_MAX_PROPS)
        return NB_ERR_LIMIT;
    c->kafka_props[c->n_kafka_props].key = strdup(k);
    c->kafka_props[c->n_kafka_props].value = strdup(v);
    if (!c->kafka_props[c->n_kafka_props].key || !c->kafka_props[c->n_kafka_props].value)
        return NB_ERR_NOMEM;
    c->n_kafka_props++;
    return NB_ERR_OK;
}

void nb_config_write_reference(void *fp)
{
    static const char *const type_names[] = {"string",          "integer", "boolean",
                                             "list of strings", "mapping", "list of mappings",
                                             "list of mappings"};
    FILE *f = fp;
    fprintf(f, "# Configuration reference\n\nGenerated by `notbrought run "
               "--print-config-reference` from the table that validates the configuration "
               "(src/ops/config.c). Every scalar key can be overridden by an environment "
               "variable: `NB_` + the key in upper case with dots as underscores "
               "(`kafka.bootstrap_servers` -> `NB_KAFKA_BOOTSTRAP_SERVERS`). librdkafka "
               "properties: `NB_RDKAFKA_<PROPERTY>` (`NB_RDKAFKA_SASL_PASSWORD` sets "
               "`sasl.password`). Secrets never come from the configuration file: the HMAC key "
               "from `NB_HMAC_KEY` or `identity.hmac_key_file`, the SASL password from "
               "`NB_RDKAFKA_SASL_PASSWORD` or `kafka.sasl_password_file`, other secret "
               "librdkafka properties from `NB_RDKAFKA_*`.\n\n"
               "Refused (`notbrought run --check-config` and `run` both say why and exit 1): a key "
               "or a librdkafka property given twice in the file (file:line:column of the "
               "second); an `NB_` variable that looks like configuration but sets nothing "
               "(`NB_TOPICS_DEAD_LETTER`, `NB_LOG_LEVEL`), named with the nearest known one and "
               "never its value (ops/kafka's `NB_KAFKA_*` settings and the tests' `NB_*` "
               "variables are not configuration); an output topic (`by_child`, `changelog`, "
               "`notifications`, `dead_letters`, `audit`, `identity_suggestions`) equal to an "
               "input topic "
               "(`appointments`, `context`, `acks`, `links`) or to another output; `links` or "
               "`acks` sharing a topic with another input (appointment topics and `context` may "
               "share one); a file named by `identity.hmac_key_file`, "
               "`kafka.sasl_password_file` or a librdkafka file property (`ssl.ca.location`, "
               "`ssl.certificate.location`, `ssl.key.location`, ...) that is missing, unreadable "
               "or not a regular file; librdkafka properties notbrought sets itself "
               "(`bootstrap.servers`, `group.id`, `isolation.level`, ...), and "
               "`enable.idempotence` or `acks` other than what transactions need.\n\n"
               "| key | type | default | description |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < nb__config_count; i++) {
        const nb__cdef_t *d = &nb__config_table[i];
        fprintf(f, "| `%s` | %s | %s%s%s | %s |\n", d->key, type_names[d->type],
                d->def && d->def[0] ? "`" : "", d->def && d->def[0] ? d->def : "(none)",
                d->def && d->def[0] ? "`" : "", d->desc);
    }
}
