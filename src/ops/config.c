/*
 * notbrought - ops: configuration as data.
 *
 * One table drives loading (libyaml), validation, environment overrides and the generated
 * reference. Keys are "section.name"; the YAML nests them (kafka: {bootstrap_servers: ...}).
 */
#include "notbrought/ops.h"

#include <arpa/inet.h>
#include <errno.h>

#include "notbrought/event.h"
#include "notbrought/notify.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

typedef enum nb__ctype_e {
    NB__C_STR,
    NB__C_INT,
    NB__C_BOOL,
    NB__C_LIST, /* list of strings */
    NB__C_PROPS /* map of librdkafka properties */
} nb__ctype_t;

typedef struct nb__cdef_s {
    const char *key;
    nb__ctype_t type;
    const char *def;
    long min, max; /* for ints */
    size_t offset;
    size_t count_offset; /* lists: where the count lives */
    size_t max_items;
    const char *desc;
} nb__cdef_t;

#define OFF(f) offsetof(nb_config_t, f)
#define NB__STR(x) #x
#define NB__XSTR(x) NB__STR(x) /* a macro's value as a string literal */
#define NONE 0, 0

static const nb__cdef_t nb__config_table[] = {
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
    {"topics.appointments", NB__C_LIST, "gp.appointments,midwifery.appointments,hv.contacts",
     NONE, OFF(appointment_topics), OFF(n_appointment_topics), NB_CONFIG_MAX_TOPICS,
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
    {"topics.dead_letters", NB__C_STR, "notbrought.dead-letters", NONE, OFF(dead_letter_topic),
     0, 0, "Output topic of records that could not be processed, with the reason in headers."},
    {"topics.audit", NB__C_STR, "notbrought.audit", NONE, OFF(audit_topic), 0, 0,
     "Output topic of decisions, for practice reviews."},
    {"topics.identity_suggestions", NB__C_STR, "identity.suggestions", NONE,
     OFF(identity_suggestions_topic), 0, 0,
     "Output topic of demographic link suggestions (identity.suggest_demographic_links), for "
     "the people who review identity. Each carries an NHS number and a local identifier: "
     "grant read access to the identity review team only (docs/runbook.md)."},
    {"topics.partitions", NB__C_INT, "6", 1, 1024, OFF(partitions), 0, 0,
     "Partitions of by_child and changelog (the unit of scale-out)."},
    {"processing.commit_interval_ms", NB__C_INT, "100", 1, 60000, OFF(commit_interval_ms), 0, 0,
     "Longest time a transaction stays open; bounds end-to-end latency. Every transaction "
     "costs the daemon and the broker CPU: under a backlog a longer interval drains it faster "
     "(docs/benchmarks.md)."},
    {"processing.min_commit_interval_ms", NB__C_INT, "50", 0, 60000,
     OFF(min_commit_interval_ms), 0, 0,
     "A transaction at least this old is committed as soon as no more input is at hand, "
     "without waiting for commit_interval_ms: latency follows the load. Shorter means more "
     "transactions for the broker to complete (on a small broker, slower and less steady "
     "commits: see docs/benchmarks.md). Set it equal to commit_interval_ms for fixed-length "
     "transactions."},
    {"processing.local_by_child", NB__C_BOOL, "true", NONE, OFF(local_by_child), 0, 0,
     "Handle an event in the instance that read it when that instance owns the child's by-child "
     "partition: one transaction instead of two. false sends every event through the by-child "
     "topic."},
    {"processing.commit_in_background", NB__C_BOOL, "true", NONE, OFF(commit_in_background), 0,
     0,
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
    {"processing.shutdown_timeout_ms", NB__C_INT, "20000", 100, 3600000,
     OFF(shutdown_timeout_ms), 0, 0,
     "After SIGTERM or SIGINT, the longest the daemon takes to stop. It finishes the open "
     "transaction and leaves the group when the brokers let it; past this time it exits with "
     "status 3 whatever the brokers do (what committed stays committed; what did not is "
     "handled again by the next owner). Keep it below the orchestrator's grace period "
     "(Kubernetes: terminationGracePeriodSeconds)."},
    {"processing.stall_timeout_ms", NB__C_INT, "30000", 100, 3600000, OFF(stall_timeout_ms), 0,
     0,
     "Readiness turns false when records are waiting but no transaction has committed for "
     "this long (brokers refusing, a topic not writable, a dead-letter topic that refuses), "
     "and turns true again with the next commit."},
    {"processing.dead_letter_prefix_bytes", NB__C_INT, "65536", 0, 524288,
     OFF(dead_letter_prefix_bytes), 0, 0,
     "A record too large to go to the dead-letter topic whole goes as a bounded dead letter: "
     "the reason, the source coordinates, SHA-256 digests and sizes of the original key, value "
     "and headers, and the first this-many bytes of the value (the key is cut to 1 KiB)."},
    {"processing.watermark_idle_ms", NB__C_INT, "60000", 1000, 86400000,
     OFF(watermark_idle_ms), 0, 0,
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
     "File holding the secret for pseudonymous child keys (HMAC-SHA256). Or set NB_HMAC_KEY. "
     "Never put the key itself in this file."},
    {"identity.allow_test_nhs_numbers", NB__C_BOOL, "true", NONE, OFF(allow_test_nhs_numbers), 0,
     0, "Accept NHS numbers from the 999 test range (set false in production)."},
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
    {"ops.log_level", NB__C_STR, "info", NONE, OFF(log_level), 0, 0,
     "error, warn, info or debug."},
    {"ops.http_port", NB__C_INT, "0", 0, 65535, OFF(http_port), 0, 0,
     "Port of /metrics, /healthz and /readyz (on ops.http_bind); 0 disables."},
    {"ops.http_bind", NB__C_STR, NB_HTTP_DEFAULT_BIND, NONE, OFF(http_bind), 0, 0,
     "Numeric IPv4 or IPv6 address the metrics and health server listens on. The default, "
     "127.0.0.1, is this host only; set 0.0.0.0 (every IPv4 interface) or :: where probes "
     "and Prometheus must reach it, as the container image and the Kubernetes files do. The "
     "port has no authentication and no TLS."},
    {"ops.http_max_connections", NB__C_INT, NB__XSTR(NB_HTTP_DEFAULT_MAX_CONNECTIONS), 1,
     10000, OFF(http_max_connections), 0, 0,
     "Most connections the metrics and health server holds at once; more wait in the listen "
     "queue until one closes."},
    {"ops.http_max_connections_per_ip", NB__C_INT,
     NB__XSTR(NB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP), 1, 10000,
     OFF(http_max_connections_per_ip), 0, 0,
     "Most of those connections from one client address (at most ops.http_max_connections); "
     "more are closed as soon as they are accepted, so one client cannot fill the server. "
     "Probes and a Prometheus scraper need one or two each."},
    {"ops.http_timeout_s", NB__C_INT, NB__XSTR(NB_HTTP_DEFAULT_TIMEOUT_S), 1, 3600,
     OFF(http_timeout_s), 0, 0,
     "Seconds after which the metrics and health server closes a connection that sent or "
     "read nothing: a client that never finishes its request is dropped."},
    {"ops.schemas_dir", NB__C_STR, "", NONE, OFF(schemas_dir), 0, 0,
     "Extra schema registry directory (registry.tsv + .avsc) for producers' newer versions."},
};
#define NB__N_CONFIG (sizeof(nb__config_table) / sizeof(nb__config_table[0]))

/* Error collection: every error on its own line, so a user sees them all at once. */
typedef struct nb__cerr_s {
    char *buf;
    size_t size, len;
    int count;
} nb__cerr_t;

static void nb__cerr(nb__cerr_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void nb__cerr(nb__cerr_t *e, const char *fmt, ...)
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

static nb_err_t nb__set_scalar(nb_config_t *c, const nb__cdef_t *d, const char *v,
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
            d->offset == OFF(watermark_max_hold_ms))
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
    }
    return NB_ERR_CONFIG;
}

nb_config_t *nb_config_new(void)
{
    char why[128];
    nb_config_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    for (size_t i = 0; i < NB__N_CONFIG; i++) {
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
    for (size_t i = 0; i < NB__N_CONFIG; i++) {
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
    free(c->hmac_key);
    free(c);
}

static const nb__cdef_t *nb__find(const char *key)
{
    for (size_t i = 0; i < NB__N_CONFIG; i++)
        if (strcmp(nb__config_table[i].key, key) == 0)
            return &nb__config_table[i];
    return NULL;
}

static nb_err_t nb__set_prop(nb_config_t *c, const char *k, const char *v)
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

#define MARK(node) (int)(node)->start_mark.line + 1, (int)(node)->start_mark.column + 1

/* librdkafka properties that hold secrets: never read from the configuration file, which
 * lives in a repository or a ConfigMap. */
static const char *const nb__secret_props[] = {"sasl.password", "ssl.key.password",
                                               "ssl.keystore.password", "ssl.key.pem",
                                               "sasl.oauthbearer.client.secret"};

static bool nb__is_secret_prop(const char *k)
{
    for (size_t i = 0; i < sizeof(nb__secret_props) / sizeof(nb__secret_props[0]); i++)
        if (strcmp(k, nb__secret_props[i]) == 0)
            return true;
    return false;
}

/* The key of an earlier pair of @p map equal to the key of @p q, or NULL. YAML wants the keys
 * of a mapping unique; libyaml keeps both pairs and the last would silently win. */
static yaml_node_t *nb__earlier_key(yaml_document_t *doc, yaml_node_t *map, yaml_node_pair_t *q)
{
    yaml_node_t *k = yaml_document_get_node(doc, q->key);
    if (!k || k->type != YAML_SCALAR_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < q; p++) {
        yaml_node_t *o = yaml_document_get_node(doc, p->key);
        if (o && o->type == YAML_SCALAR_NODE && o->data.scalar.length == k->data.scalar.length &&
            memcmp(o->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0)
            return o;
    }
    return NULL;
}

static void nb__load_value(nb_config_t *c, yaml_document_t *doc, const nb__cdef_t *d,
                           yaml_node_t *v, const char *path, nb__cerr_t *e)
{
    char why[160];
    if (d->type == NB__C_PROPS) {
        if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
            return; /* "properties:" with nothing (or only comments) under it */
        if (v->type != YAML_MAPPING_NODE) {
            nb__cerr(e, "%s:%d:%d: %s: expected a mapping of librdkafka properties", path,
                     MARK(v), d->key);
            return;
        }
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            yaml_node_t *pv = yaml_document_get_node(doc, p->value);
            if (k->type != YAML_SCALAR_NODE || pv->type != YAML_SCALAR_NODE) {
                nb__cerr(e, "%s:%d:%d: %s: property names and values must be scalars", path,
                         MARK(k), d->key);
                continue;
            }
            const char *name = (char *)k->data.scalar.value;
            yaml_node_t *first = nb__earlier_key(doc, v, p);
            if (first) {
                nb__cerr(e, "%s:%d:%d: %s: property '%s' is given twice (first at line %d)",
                         path, MARK(k), d->key, name, (int)first->start_mark.line + 1);
                continue;
            }
            if (nb__is_secret_prop(name)) {
                /* The value is not echoed: it is a secret. */
                char env[128];
                size_t i = 0;
                for (const char *q = name; *q && i + 1 < sizeof(env); q++, i++)
                    env[i] = *q == '.' ? '_' : (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
                env[i] = '\0';
                nb__cerr(e,
                         "%s:%d:%d: %s: %s is a secret and is not read from the configuration "
                         "file: set NB_RDKAFKA_%s%s",
                         path, MARK(k), d->key, name, env,
                         strcmp(name, "sasl.password") == 0 ? " or kafka.sasl_password_file" : "");
                continue;
            }
            if (nb__set_prop(c, name, (char *)pv->data.scalar.value))
                nb__cerr(e, "%s:%d:%d: %s: too many properties", path, MARK(k), d->key);
        }
        return;
    }
    if (d->type == NB__C_LIST) {
        if (v->type == YAML_SCALAR_NODE) {
            if (nb__set_scalar(c, d, (char *)v->data.scalar.value, why, sizeof(why)))
                nb__cerr(e, "%s:%d:%d: %s: %s", path, MARK(v), d->key, why);
            return;
        }
        if (v->type != YAML_SEQUENCE_NODE) {
            nb__cerr(e, "%s:%d:%d: %s: expected a list", path, MARK(v), d->key);
            return;
        }
        size_t *n = (size_t *)((char *)c + d->count_offset);
        char **items = (char **)((char *)c + d->offset);
        for (size_t i = 0; i < *n; i++)
            free(items[i]);
        *n = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *s = yaml_document_get_node(doc, *it);
            if (s->type != YAML_SCALAR_NODE) {
                nb__cerr(e, "%s:%d:%d: %s: list items must be strings", path, MARK(s), d->key);
                continue;
            }
            if (*n == d->max_items) {
                nb__cerr(e, "%s:%d:%d: %s: at most %zu items", path, MARK(s), d->key,
                         d->max_items);
                break;
            }
            items[(*n)++] = strdup((char *)s->data.scalar.value);
        }
        return;
    }
    if (v->type != YAML_SCALAR_NODE) {
        nb__cerr(e, "%s:%d:%d: %s: expected a single value", path, MARK(v), d->key);
        return;
    }
    if (nb__set_scalar(c, d, (char *)v->data.scalar.value, why, sizeof(why)))
        nb__cerr(e, "%s:%d:%d: %s: %s", path, MARK(v), d->key, why);
}

nb_err_t nb_config_load(nb_config_t *c, const char *path, char *errstr, size_t errstr_size)
{
    nb__cerr_t e = {errstr, errstr_size, 0, 0};
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t doc;
    errstr[0] = '\0';
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NB_ERR_IO;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(errstr, errstr_size, "%s:%d:%d: %s", path, (int)parser.problem_mark.line + 1,
                 (int)parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        fclose(f);
        return NB_ERR_CONFIG;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE) {
        nb__cerr(&e, "%s:%d:%d: expected a mapping of sections", path, MARK(root));
    } else if (root) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *sk = yaml_document_get_node(&doc, p->key);
            yaml_node_t *sv = yaml_document_get_node(&doc, p->value);
            const char *section = sk->type == YAML_SCALAR_NODE ? (char *)sk->data.scalar.value
                                                               : "";
            yaml_node_t *first = nb__earlier_key(&doc, root, p);
            if (first) {
                nb__cerr(&e, "%s:%d:%d: section '%s' is given twice (first at line %d)", path,
                         MARK(sk), section, (int)first->start_mark.line + 1);
                continue;
            }
            if (sv->type != YAML_MAPPING_NODE) {
                nb__cerr(&e, "%s:%d:%d: unknown key '%s' (expected a section: kafka, topics, "
                             "processing, policy, identity, ops)",
                         path, MARK(sk), section);
                continue;
            }
            for (yaml_node_pair_t *q = sv->data.mapping.pairs.start;
                 q < sv->data.mapping.pairs.top; q++) {
                yaml_node_t *k = yaml_document_get_node(&doc, q->key);
                yaml_node_t *v = yaml_document_get_node(&doc, q->value);
                char key[256];
                snprintf(key, sizeof(key), "%s.%s", section,
                         k->type == YAML_SCALAR_NODE ? (char *)k->data.scalar.value : "?");
                const nb__cdef_t *d = nb__find(key);
                if (!d) {
                    nb__cerr(&e, "%s:%d:%d: unknown key '%s'", path, MARK(k), key);
                    continue;
                }
                first = nb__earlier_key(&doc, sv, q);
                if (first) {
                    nb__cerr(&e, "%s:%d:%d: key '%s' is given twice (first at line %d)", path,
                             MARK(k), key, (int)first->start_mark.line + 1);
                    continue;
                }
                nb__load_value(c, &doc, d, v, path, &e);
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}

/* Reads a one-line secret from a file into buf, without its trailing line end. */
static bool nb__read_secret_file(const char *path, char *buf, size_t size, char *why,
                                 size_t why_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_size, "%s", strerror(errno));
        return false;
    }
    size_t n = fread(buf, 1, size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(why, why_size, "read error");
        return false;
    }
    if (n == size) {
        snprintf(why, why_size, "longer than %zu bytes", size - 1);
        return false;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (n == 0) {
        snprintf(why, why_size, "empty");
        return false;
    }
    if (strlen(buf) != n || strpbrk(buf, "\r\n")) {
        snprintf(why, why_size, "expected one line");
        return false;
    }
    return true;
}

static bool nb__has_prop(const nb_config_t *c, const char *k)
{
    for (size_t i = 0; i < c->n_kafka_props; i++)
        if (strcmp(c->kafka_props[i].key, k) == 0)
            return true;
    return false;
}

/* The environment variable of a key: NB_ + the key in upper case, dots and dashes as '_'. */
static void nb__env_name(const char *key, char *out, size_t size)
{
    size_t k = (size_t)snprintf(out, size, "NB_");
    for (const char *q = key; *q && k + 1 < size; q++)
        out[k++] = *q == '.' || *q == '-' ? '_' : (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
    out[k] = '\0';
}

/* Levenshtein distance, for "did you mean". Names are shorter than 256 characters. */
static size_t nb__edit_distance(const char *a, const char *b)
{
    size_t row[256], lb = strlen(b);
    if (lb >= sizeof(row) / sizeof(row[0]))
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* ops/kafka's settings for a test broker (see its header): they share the NB_KAFKA_ prefix with
 * the configuration, are exported by the e2e tests and the benchmarks around notbrought, and
 * are not configuration. */
static const char *const nb__tool_env[] = {
    "NB_KAFKA_VERSION",      "NB_KAFKA_HOME",          "NB_KAFKA_M2",
    "NB_KAFKA_STATE",        "NB_KAFKA_PORT",          "NB_KAFKA_CONTROLLER_PORT",
    "NB_KAFKA_TLS_PORT",     "NB_KAFKA_TLS_PASSWORD",  "NB_KAFKA_TLS_CLIENT_AUTH",
    "NB_KAFKA_SASL_PORT",    "NB_KAFKA_SASL_USER",     "NB_KAFKA_SASL_PASSWORD",
    "NB_KAFKA_HEAP",         "NB_KAFKA_JVM_OPTS",      "NB_KAFKA_START_TIMEOUT",
    "NB_KAFKA_STOP_TIMEOUT", "NB_KAFKA_KEEP_STATE",    "NB_KAFKA_SERVER_PROPS",
    "NB_KAFKA_TOOL_OPTS"};

/*
 * An NB_ variable that sets nothing. It is refused when it looks like configuration, so that a
 * misspelt override does not leave the default in force unnoticed:
 *   - it is in a section's namespace (NB_TOPICS_*, NB_PROCESSING_*, NB_POLICY_*,
 *     NB_IDENTITY_*, NB_OPS_*, NB_KAFKA_* but for ops/kafka's own variables);
 *   - it is within two edits of a configuration variable or NB_HMAC_KEY (NB_HMAC_KEYS);
 *   - it is a key without its section (NB_LOG_LEVEL for NB_OPS_LOG_LEVEL).
 * Other NB_ variables belong to the tests and tools (NB_ROOT, NB_TEST_LOG, NB_FUZZ_RUNS, ...)
 * and pass. The error names the variable and the nearest known one, never the value.
 */
static void nb__unknown_env(const char *name, nb__cerr_t *e)
{
    for (size_t i = 0; i < sizeof(nb__tool_env) / sizeof(nb__tool_env[0]); i++)
        if (strcmp(name, nb__tool_env[i]) == 0)
            return;
    bool looks = false;
    char best[256] = "", want[256];
    size_t best_d = SIZE_MAX, best_tail = 0;
    for (size_t i = 0; i <= NB__N_CONFIG; i++) {
        const char *key = i < NB__N_CONFIG ? nb__config_table[i].key : NULL;
        if (key)
            nb__env_name(key, want, sizeof(want));
        else
            snprintf(want, sizeof(want), "NB_HMAC_KEY");
        const char *dot = key ? strchr(key, '.') : NULL;
        size_t d = nb__edit_distance(name, want);
        if (d <= 2)
            looks = true;
        if (dot) {
            /* "NB_TOPICS_" is the section's namespace; "_DEAD_LETTERS" the key's tail. */
            size_t ns = (size_t)(dot - key) + 4, tail = strlen(want) - ns + 1;
            if (strncmp(name, want, ns) == 0 || strcmp(name + 2, want + ns - 1) == 0)
                looks = true;
            /* The same key under another section (NB_TOPICS_LOG_LEVEL) is the suggestion. */
            size_t nl = strlen(name);
            if (nl >= tail + 2 && strcmp(name + nl - tail, want + ns - 1) == 0 &&
                !memchr(name + 3, '_', nl - tail > 3 ? nl - tail - 3 : 0) && tail > best_tail) {
                best_tail = tail;
                nb_str_copy(best, sizeof(best), want);
                continue;
            }
        }
        if (!best_tail && d < best_d) {
            best_d = d;
            nb_str_copy(best, sizeof(best), want);
        }
    }
    if (looks)
        nb__cerr(e, "%s: not a configuration variable (did you mean %s?)", name, best);
}

nb_err_t nb_config_apply_env(nb_config_t *c, char **env, char *errstr, size_t errstr_size)
{
    nb__cerr_t e = {errstr, errstr_size, 0, 0};
    char why[160];
    errstr[0] = '\0';
    for (char **p = env; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq || strncmp(*p, "NB_", 3) != 0)
            continue;
        char name[256];
        size_t nlen = (size_t)(eq - *p);
        if (nlen >= sizeof(name))
            continue;
        memcpy(name, *p, nlen);
        name[nlen] = '\0';
        const char *value = eq + 1;
        if (strcmp(name, "NB_HMAC_KEY") == 0) {
            free(c->hmac_key);
            c->hmac_key = strdup(value);
            continue;
        }
        if (strncmp(name, "NB_RDKAFKA_", 11) == 0) {
            char prop[256];
            size_t i = 0;
            for (const char *q = name + 11; *q && i + 1 < sizeof(prop); q++, i++)
                prop[i] = *q == '_' ? '.' : (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
            prop[i] = '\0';
            if (nb__set_prop(c, prop, value))
                nb__cerr(&e, "%s: too many librdkafka properties", name);
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < NB__N_CONFIG; i++) {
            const nb__cdef_t *d = &nb__config_table[i];
            char want[256];
            nb__env_name(d->key, want, sizeof(want));
            if (strcmp(want, name) != 0)
                continue;
            known = true;
            if (d->type == NB__C_PROPS)
                nb__cerr(&e, "%s: librdkafka properties come from the environment one by one, as "
                             "NB_RDKAFKA_<PROPERTY>", name);
            else if (nb__set_scalar(c, d, value, why, sizeof(why)))
                nb__cerr(&e, "%s: %s", name, why);
        }
        if (!known)
            nb__unknown_env(name, &e);
    }
    if (!c->hmac_key && c->hmac_key_file && c->hmac_key_file[0]) {
        FILE *f = fopen(c->hmac_key_file, "r");
        char buf[512];
        if (!f) {
            nb__cerr(&e, "identity.hmac_key_file: %s: %s", c->hmac_key_file, strerror(errno));
        } else {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                n--;
            buf[n] = '\0';
            c->hmac_key = strdup(buf);
        }
    }
    if (c->sasl_password_file && c->sasl_password_file[0] && !nb__has_prop(c, "sasl.password")) {
        char buf[1024];
        if (!nb__read_secret_file(c->sasl_password_file, buf, sizeof(buf), why, sizeof(why)))
            nb__cerr(&e, "kafka.sasl_password_file: %s: %s", c->sasl_password_file, why);
        else if (nb__set_prop(c, "sasl.password", buf))
            nb__cerr(&e, "kafka.sasl_password_file: too many librdkafka properties");
        memset(buf, 0, sizeof(buf)); /* no stray copy of the secret on the stack */
    }
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}

/* Kafka's rule for topic names: 1 to 249 of [a-zA-Z0-9._-], and not "." or "..". A name
 * librdkafka would take as a pattern ("^...") in a subscription is refused with the rest. */
static bool nb__topic_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '.' || *t == '_' || *t == '-'))
            return false;
    return true;
}

typedef struct nb__topic_use_s {
    const char *key;   /* "topics.dead_letters" */
    const char *topic; /* its value */
    bool output;       /* notbrought writes to it */
} nb__topic_use_t;

/*
 * Each topic has one use. notbrought reads the sources (appointments, context, acks, links),
 * reads back what it writes to by_child (events) and changelog (per-child state), and writes
 * notifications, dead letters and audit records for others. So:
 *   - no output on a source: what notbrought writes would come back as input, and a record it
 *     cannot process would be dead-lettered into its own input and loop;
 *   - outputs pairwise apart: by_child and changelog are read back as one kind of record each,
 *     and the readers of notifications, dead letters and audit expect only their own;
 *   - links and acks apart from every other source: a record on another kind's topic is
 *     refused (an acknowledgement on an appointment topic is dead-lettered and lost).
 * Appointment topics and the context topic may share a topic: one topic keeps a child's events
 * in one order (the integration tests run that way).
 */
static void nb__check_topics(const nb_config_t *c, nb__cerr_t *e)
{
    nb__topic_use_t u[NB_CONFIG_MAX_TOPICS + 10];
    size_t n = 0;
    for (size_t i = 0; i < c->n_appointment_topics; i++)
        u[n++] = (nb__topic_use_t){"topics.appointments", c->appointment_topics[i], false};
    u[n++] = (nb__topic_use_t){"topics.context", c->context_topic, false};
    u[n++] = (nb__topic_use_t){"topics.acks", c->acks_topic, false};
    u[n++] = (nb__topic_use_t){"topics.links", c->links_topic, false};
    u[n++] = (nb__topic_use_t){"topics.by_child", c->by_child_topic, true};
    u[n++] = (nb__topic_use_t){"topics.changelog", c->changelog_topic, true};
    u[n++] = (nb__topic_use_t){"topics.notifications", c->notifications_topic, true};
    u[n++] = (nb__topic_use_t){"topics.dead_letters", c->dead_letter_topic, true};
    u[n++] = (nb__topic_use_t){"topics.audit", c->audit_topic, true};
    u[n++] = (nb__topic_use_t){"topics.identity_suggestions", c->identity_suggestions_topic,
                               true};
    for (size_t j = 0; j < n; j++) {
        if (!u[j].topic || !nb__topic_name_ok(u[j].topic)) {
            nb__cerr(e, "%s: not a Kafka topic name (1 to 249 letters, digits, '.', '_' or '-')",
                     u[j].key);
            continue;
        }
        for (size_t i = 0; i < j; i++) {
            if (!u[i].topic || strcmp(u[i].topic, u[j].topic) != 0)
                continue;
            bool event_i = !u[i].output && (strcmp(u[i].key, "topics.appointments") == 0 ||
                                            strcmp(u[i].key, "topics.context") == 0);
            bool event_j = !u[j].output && (strcmp(u[j].key, "topics.appointments") == 0 ||
                                            strcmp(u[j].key, "topics.context") == 0);
            if (event_i && event_j)
                continue; /* appointments and context facts on one topic: allowed */
            const char *why;
            if (u[j].output && !u[i].output)
                why = "an output must not be an input: notbrought would read what it writes "
                      "back, and a record it cannot process would loop through the dead letters";
            else if (!u[j].output)
                why = "links, acknowledgements and events each need a topic of their own: a "
                      "record on another kind's topic is refused and lost";
            else if (strstr(u[i].key, "by_child") || strstr(u[i].key, "changelog") ||
                     strstr(u[j].key, "by_child") || strstr(u[j].key, "changelog"))
                why = "notbrought reads by_child back as events and changelog as per-child "
                      "state: records of another kind there are misread";
            else
                why = "each output needs a topic of its own: the readers of notifications, dead "
                      "letters, audit records and identity suggestions expect only their own "
                      "kind";
            nb__cerr(e, "%s: '%s' is also %s; %s", u[j].key, u[j].topic, u[i].key, why);
            break;
        }
    }
}

static const char *nb__prop_value(const nb_config_t *c, const char *k)
{
    for (size_t i = 0; i < c->n_kafka_props; i++)
        if (strcmp(c->kafka_props[i].key, k) == 0)
            return c->kafka_props[i].value;
    return NULL;
}

/* A file named by the configuration is there and readable when the configuration is checked,
 * not only when librdkafka or the identity module first opens it (at start, or at the first
 * TLS connection). @p label names the key. */
static void nb__check_file(nb__cerr_t *e, const char *label, const char *path, bool dir_ok)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        nb__cerr(e, "%s: %s: %s", label, path, strerror(errno));
        return;
    }
    bool dir = S_ISDIR(sb.st_mode);
    if (dir ? !dir_ok : !S_ISREG(sb.st_mode)) {
        nb__cerr(e, "%s: %s: not a regular file%s", label, path, dir_ok ? " or directory" : "");
        return;
    }
    if (access(path, dir ? R_OK | X_OK : R_OK) != 0)
        nb__cerr(e, "%s: %s: %s", label, path, strerror(errno));
}

/* librdkafka properties that name a file (ssl.ca.location may name a directory, or be "probe":
 * the system's CA locations). */
static const struct {
    const char *name;
    bool dir_ok;
} nb__file_props[] = {{"ssl.ca.location", true},
                      {"ssl.certificate.location", false},
                      {"ssl.key.location", false},
                      {"ssl.crl.location", false},
                      {"ssl.keystore.location", false},
                      {"ssl.engine.location", false},
                      {"https.ca.location", true},
                      {"sasl.kerberos.keytab", false},
                      {"sasl.oauthbearer.assertion.private.key.file", false},
                      {"sasl.oauthbearer.assertion.jwt.template.file", false}};

/* librdkafka properties notbrought sets itself: from kafka.properties they would override a
 * key (bootstrap.servers beats --bootstrap) or be overridden without a word. */
static const struct {
    const char *name;
    const char *instead; /* the key to set instead, or NULL */
} nb__owned_props[] = {{"bootstrap.servers", "kafka.bootstrap_servers"},
                       {"client.id", "kafka.instance_id"},
                       {"transactional.id", "kafka.instance_id"},
                       {"group.id", "kafka.group_id"},
                       {"group.instance.id", "kafka.group_instance_id"},
                       {"partition.assignment.strategy", "kafka.assignment_strategy"},
                       {"transaction.timeout.ms", NULL},
                       {"isolation.level", NULL},
                       {"enable.auto.commit", NULL},
                       {"auto.offset.reset", NULL},
                       {"enable.partition.eof", NULL}};

static void nb__check_props(const nb_config_t *c, nb__cerr_t *e)
{
    char label[160];
    for (size_t i = 0; i < sizeof(nb__owned_props) / sizeof(nb__owned_props[0]); i++) {
        if (!nb__prop_value(c, nb__owned_props[i].name))
            continue;
        if (nb__owned_props[i].instead)
            nb__cerr(e, "kafka.properties: %s is set by notbrought: use %s",
                     nb__owned_props[i].name, nb__owned_props[i].instead);
        else
            nb__cerr(e, "kafka.properties: %s is set by notbrought (exactly once depends on it): "
                        "remove it", nb__owned_props[i].name);
    }
    /* Transactions need the idempotent producer and acks from every in-sync replica:
     * librdkafka refuses to start otherwise. */
    const char *v = nb__prop_value(c, "enable.idempotence");
    if (v && strcmp(v, "true") != 0)
        nb__cerr(e, "kafka.properties: enable.idempotence must be true (notbrought's "
                    "transactions need it)");
    const char *acks[] = {"acks", "request.required.acks"};
    for (size_t i = 0; i < 2; i++)
        if ((v = nb__prop_value(c, acks[i])) && strcmp(v, "all") != 0 && strcmp(v, "-1") != 0)
            nb__cerr(e, "kafka.properties: %s must be all (notbrought's transactions need it)",
                     acks[i]);
    for (size_t i = 0; i < sizeof(nb__file_props) / sizeof(nb__file_props[0]); i++) {
        v = nb__prop_value(c, nb__file_props[i].name);
        if (!v || !v[0] || (nb__file_props[i].dir_ok && strcmp(v, "probe") == 0))
            continue;
        snprintf(label, sizeof(label), "kafka.properties: %s", nb__file_props[i].name);
        nb__check_file(e, label, v, nb__file_props[i].dir_ok);
    }
    /* SASL PLAIN and SCRAM log in with a user name and a password: librdkafka refuses to start
     * without them. GSSAPI (the default mechanism) and OAUTHBEARER do not need them. */
    const char *proto = nb__prop_value(c, "security.protocol");
    const char *mech = nb__prop_value(c, "sasl.mechanisms");
    if (!mech)
        mech = nb__prop_value(c, "sasl.mechanism");
    if (proto && (strncmp(proto, "sasl_", 5) == 0 || strncmp(proto, "SASL_", 5) == 0) && mech &&
        (strcmp(mech, "PLAIN") == 0 || strncmp(mech, "SCRAM-", 6) == 0)) {
        const char *user = nb__prop_value(c, "sasl.username");
        const char *pass = nb__prop_value(c, "sasl.password");
        if (!user || !user[0])
            nb__cerr(e, "kafka.properties: sasl.mechanisms %s needs sasl.username", mech);
        if (!pass || !pass[0])
            nb__cerr(e, "kafka.properties: sasl.mechanisms %s needs a password: "
                        "NB_RDKAFKA_SASL_PASSWORD or kafka.sasl_password_file", mech);
    }
}

/* partition.assignment.strategy: librdkafka knows range, roundrobin and cooperative-sticky, and
 * refuses to start with another, or with cooperative-sticky listed with an eager one. */
static void nb__check_assignor(const char *s, nb__cerr_t *e)
{
    int eager = 0, cooperative = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (!len)
            break;
        if ((len == 5 && strncmp(p, "range", 5) == 0) ||
            (len == 10 && strncmp(p, "roundrobin", 10) == 0))
            eager++;
        else if (len == 18 && strncmp(p, "cooperative-sticky", 18) == 0)
            cooperative++;
        else {
            nb__cerr(e, "kafka.assignment_strategy: expected range, roundrobin or "
                        "cooperative-sticky");
            return;
        }
        p += len;
    }
    if (eager + cooperative == 0)
        nb__cerr(e, "kafka.assignment_strategy: must not be empty");
    else if (eager && cooperative)
        nb__cerr(e, "kafka.assignment_strategy: cooperative-sticky cannot be listed with range "
                    "or roundrobin");
}

/* ops.http_*: what the table's ranges cannot say. */
static void nb__check_http(const nb_config_t *c, nb__cerr_t *e)
{
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, c->http_bind, addr) != 1 && inet_pton(AF_INET6, c->http_bind, addr) != 1)
        nb__cerr(e, "ops.http_bind: expected a numeric IPv4 or IPv6 address such as 127.0.0.1 "
                    "or 0.0.0.0");
    if (c->http_max_connections_per_ip > c->http_max_connections)
        nb__cerr(e, "ops.http_max_connections_per_ip: must not exceed ops.http_max_connections "
                    "(%d)", c->http_max_connections);
}

nb_err_t nb_config_validate(const nb_config_t *c, char *errstr, size_t errstr_size)
{
    nb__cerr_t e = {errstr, errstr_size, 0, 0};
    nb_log_level_t lvl;
    errstr[0] = '\0';
    if (!c->hmac_key || strlen(c->hmac_key) < 16)
        nb__cerr(&e, "identity: an HMAC key of at least 16 characters is required "
                     "(NB_HMAC_KEY or identity.hmac_key_file)");
    if (!nb_log_level_parse(c->log_level, &lvl))
        nb__cerr(&e, "ops.log_level: expected error, warn, info or debug");
    if (c->n_appointment_topics == 0)
        nb__cerr(&e, "topics.appointments: at least one topic is required");
    if (c->n_policy_files == 0)
        nb__cerr(&e, "policy.files: at least one policy file is required");
    if (!c->instance_id[0])
        nb__cerr(&e, "kafka.instance_id: must not be empty");
    if (!c->bootstrap_servers[0])
        nb__cerr(&e, "kafka.bootstrap_servers: must not be empty");
    if (!c->group_id[0])
        nb__cerr(&e, "kafka.group_id: must not be empty");
    nb__check_assignor(c->assignment_strategy, &e);
    nb__check_topics(c, &e);
    nb__check_props(c, &e);
    if (c->sasl_password_file[0])
        nb__check_file(&e, "kafka.sasl_password_file", c->sasl_password_file, false);
    if (c->hmac_key_file[0])
        nb__check_file(&e, "identity.hmac_key_file", c->hmac_key_file, false);
    nb__check_http(c, &e);
    nb_notify_zone_t zone;
    if (!nb_notify_zone_parse(c->timezone, &zone))
        nb__cerr(&e, "notify.timezone: expected Europe/London or UTC");
    int64_t fixed;
    if (c->fixed_now[0] && !nb_parse_time(c->fixed_now, &fixed))
        nb__cerr(&e, "processing.fixed_now: expected an ISO 8601 time such as "
                     "2026-11-01T12:00:00Z");
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}

void nb_config_write_reference(void *fp)
{
    static const char *const type_names[] = {"string", "integer", "boolean", "list of strings",
                                             "mapping"};
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
    for (size_t i = 0; i < NB__N_CONFIG; i++) {
        const nb__cdef_t *d = &nb__config_table[i];
        fprintf(f, "| `%s` | %s | %s%s%s | %s |\n", d->key, type_names[d->type],
                d->def && d->def[0] ? "`" : "", d->def && d->def[0] ? d->def : "(none)",
                d->def && d->def[0] ? "`" : "", d->desc);
    }
}
