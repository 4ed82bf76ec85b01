/*
 * notbrought - ops: validating the configuration as a whole (see config.c): what the table's
 * types and ranges cannot say, such as topics with one use each, librdkafka properties
 * notbrought owns or needs, files that must be there, the HTTP server's settings.
 */
#include "ops/config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notbrought/event.h"
#include "notbrought/notify.h"

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

/* The settings `notbrought topics` creates topics with: a retention of -1 (for ever) or at least
 * an hour (0 would have Kafka delete records before anyone could read them), and no more
 * in-sync replicas required than there are replicas. */
static void nb__check_topic_settings(const nb_config_t *c, nb__cerr_t *e)
{
    static const char *const roles[NB_TOPIC__ROLES] = {"appointments",  "context",
                                                       "acks",          "",
                                                       "by_child",      "",
                                                       "notifications", "dead_letters",
                                                       "audit",         "identity_suggestions"};
    for (int r = 0; r < NB_TOPIC__ROLES; r++) {
        int64_t ms = c->topic_retention_ms[r];
        if (roles[r][0] && ms != -1 && ms < 3600000)
            nb__cerr(e,
                     "topics.retention_ms.%s: %lld would delete records within the hour; "
                     "expected -1 (keep for ever) or at least 3600000",
                     roles[r], (long long)ms);
    }
    if (c->topic_replication_factor && c->topic_min_insync_replicas > c->topic_replication_factor)
        nb__cerr(e,
                 "topics.min_insync_replicas: %d is more than topics.replication_factor (%d): "
                 "no write could ever be acknowledged",
                 c->topic_min_insync_replicas, c->topic_replication_factor);
}

nb_err_t nb_config_validate_topics(const nb_config_t *c, char *errstr, size_t errstr_size)
{
    nb__cerr_t e = {errstr, errstr_size, 0, 0};
    errstr[0] = '\0';
    nb__check_topics(c, &e);
    nb__check_topic_settings(c, &e);
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
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

/* A source name: what metrics, dead letters and logs call the feed. */
static bool nb__source_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* One MLLP listener's TLS files: a certificate and its key together, a CA when client
 * certificates are required. */
static void nb__check_mllp_tls(const nb_mllp_conf_t *l, const char *sect, nb__cerr_t *e)
{
    char label[128];
    if (!l->tls_cert[0] != !l->tls_key[0])
        nb__cerr(e, "%s %s (line %d): tls: cert and key go together", sect, l->name, l->line);
    if (!l->tls_cert[0] && (l->tls_ca[0] || l->tls_require_client_cert))
        nb__cerr(e,
                 "%s %s (line %d): tls: ca and require_client_cert need cert and "
                 "key",
                 sect, l->name, l->line);
    if (l->tls_require_client_cert && !l->tls_ca[0])
        nb__cerr(e,
                 "%s %s (line %d): tls.require_client_cert needs tls.ca, the CA "
                 "that signs the clients' certificates",
                 sect, l->name, l->line);
    const char *files[][2] = {
        {"tls.cert", l->tls_cert}, {"tls.key", l->tls_key}, {"tls.ca", l->tls_ca}};
    for (size_t i = 0; i < 3; i++) {
        if (!files[i][1][0])
            continue;
        snprintf(label, sizeof(label), "%s %s %s", sect, l->name, files[i][0]);
        nb__check_file(e, label, files[i][1], false);
    }
}

/* One list of listeners (@p sect: ingest.mllp or ingest.fhir); names unique across both. */
static void nb__check_listeners(const nb_config_t *c, const nb_mllp_conf_t *list, size_t n,
                                const char *sect, nb__cerr_t *e)
{
    unsigned char addr[sizeof(struct in6_addr)];
    for (size_t i = 0; i < n; i++) {
        const nb_mllp_conf_t *l = &list[i];
        if (!nb__source_name_ok(l->name))
            nb__cerr(e, "%s (line %d): name: 1 to 64 letters, digits, '.', '_' or '-'", sect,
                     l->line);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(list[k].name, l->name) == 0)
                nb__cerr(e, "%s (line %d): the name %s is taken (line %d)", sect, l->line, l->name,
                         list[k].line);
            if (l->port != 0 && list[k].port == l->port && strcmp(list[k].bind, l->bind) == 0)
                nb__cerr(e, "%s %s (line %d): %s port %d is taken by %s", sect, l->name, l->line,
                         l->bind, l->port, list[k].name);
        }
        for (size_t k = 0; list == c->fhir && k < c->n_mllp; k++) {
            if (strcmp(c->mllp[k].name, l->name) == 0)
                nb__cerr(e, "%s (line %d): the name %s is taken by ingest.mllp (line %d)", sect,
                         l->line, l->name, c->mllp[k].line);
            if (l->port != 0 && c->mllp[k].port == l->port && strcmp(c->mllp[k].bind, l->bind) == 0)
                nb__cerr(e, "%s %s (line %d): %s port %d is taken by %s", sect, l->name, l->line,
                         l->bind, l->port, c->mllp[k].name);
        }
        if (inet_pton(AF_INET, l->bind, addr) != 1 && inet_pton(AF_INET6, l->bind, addr) != 1)
            nb__cerr(e,
                     "%s %s (line %d): bind: expected a numeric IPv4 or IPv6 address "
                     "such as 127.0.0.1",
                     sect, l->name, l->line);
        bool known = false;
        for (size_t k = 0; k < c->n_appointment_topics; k++)
            known = known || strcmp(c->appointment_topics[k], l->topic) == 0;
        if (!known)
            nb__cerr(e,
                     "%s %s (line %d): topic: %s is not one of topics.appointments "
                     "(the daemon would never read what the listener publishes)",
                     sect, l->name, l->line, l->topic[0] ? l->topic : "(none)");
        if (l->mapping[0])
            nb__check_file(e, list == c->fhir ? "ingest.fhir mapping" : "ingest.mllp mapping",
                           l->mapping, false);
        nb__check_mllp_tls(l, sect, e);
    }
}

void nb__check_ingest(const nb_config_t *c, nb__cerr_t *e)
{
    if (c->ingest_max_buffered_bytes < c->ingest_max_message_bytes)
        nb__cerr(e, "ingest.max_buffered_bytes: must be at least ingest.max_message_bytes (%d)",
                 c->ingest_max_message_bytes);
    nb__check_listeners(c, c->mllp, c->n_mllp, "ingest.mllp", e);
    nb__check_listeners(c, c->fhir, c->n_fhir, "ingest.fhir", e);
}

NB_NODISCARD static nb_err_t nb__validate(const nb_config_t *c, bool need_key, char *errstr,
                                          size_t errstr_size)
{
    nb__cerr_t e = {errstr, errstr_size, 0, 0};
    nb_log_level_t lvl;
    errstr[0] = '\0';
    if (need_key && (!c->hmac_key || strlen(c->hmac_key) < 16))
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
    nb__check_topic_settings(c, &e);
    nb__check_props(c, &e);
    if (c->sasl_password_file[0])
        nb__check_file(&e, "kafka.sasl_password_file", c->sasl_password_file, false);
    if (c->hmac_key_file[0])
        nb__check_file(&e, "identity.hmac_key_file", c->hmac_key_file, false);
    nb__check_http(c, &e);
    nb__check_ingest(c, &e);
    nb_notify_zone_t zone;
    if (!nb_notify_zone_parse(c->timezone, &zone))
        nb__cerr(&e, "notify.timezone: expected Europe/London or UTC");
    int64_t fixed;
    if (c->fixed_now[0] && !nb_parse_time(c->fixed_now, &fixed))
        nb__cerr(&e, "processing.fixed_now: expected an ISO 8601 time such as "
                     "2026-11-01T12:00:00Z");
    return e.count ? NB_ERR_CONFIG : NB_ERR_OK;
}

nb_err_t nb__config_validate_common(const nb_config_t *c, bool need_key, char *errstr,
                                    size_t errstr_size)
{
    return nb__validate(c, need_key, errstr, errstr_size);
}

nb_err_t nb_config_validate(const nb_config_t *c, char *errstr, size_t errstr_size)
{
    return nb__validate(c, true, errstr, errstr_size);
}

nb_err_t nb_config_validate_ingest(const nb_config_t *c, char *errstr, size_t errstr_size)
{
    if (c->n_mllp == 0 && c->n_fhir == 0) {
        snprintf(errstr, errstr_size, "ingest.mllp, ingest.fhir: no listener is configured");
        return NB_ERR_CONFIG;
    }
    return nb__validate(c, false, errstr, errstr_size);
}
