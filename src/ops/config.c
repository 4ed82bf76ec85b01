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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    {"identity.park_retention_ms", NB__C_INT, "2592000000", 1000, 0x7fffffffffffL,
     OFF(park_retention_ms), 0, 0,
     "How long an event waits for an identity link before it is dead-lettered (default 30 "
     "days)."},
    {"identity.park_max", NB__C_INT, "1000000", 1, 100000000, OFF(park_max), 0, 0,
     "Most events parked at once per instance."},
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
        if (d->offset == OFF(park_retention_ms))
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
        for (size_t i = 0; i < NB__N_CONFIG; i++) {
            const nb__cdef_t *d = &nb__config_table[i];
            char want[256];
            size_t k = 0;
            k += (size_t)snprintf(want, sizeof(want), "NB_");
            for (const char *q = d->key; *q && k + 1 < sizeof(want); q++)
                want[k++] = *q == '.' || *q == '-' ? '_' : (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
            want[k] = '\0';
            if (strcmp(want, name) == 0 && d->type != NB__C_PROPS &&
                nb__set_scalar(c, d, value, why, sizeof(why)))
                nb__cerr(&e, "%s: %s", name, why);
        }
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
    nb__check_http(c, &e);
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
               "| key | type | default | description |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < NB__N_CONFIG; i++) {
        const nb__cdef_t *d = &nb__config_table[i];
        fprintf(f, "| `%s` | %s | %s%s%s | %s |\n", d->key, type_names[d->type],
                d->def && d->def[0] ? "`" : "", d->def && d->def[0] ? d->def : "(none)",
                d->def && d->def[0] ? "`" : "", d->desc);
    }
}
