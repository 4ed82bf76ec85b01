/*
 * notbrought - stream: `notbrought topics`. Every configured topic gets the settings its role
 * needs (docs/runbook.md, "Topics and retention"), and a topic that exists is checked first:
 * when any setting of any topic would lose records the run refuses, naming each, and creates
 * nothing. It never changes a topic that exists.
 *
 * The plan (nb_topics_plan) and the comparison (nb_topics_compare) are pure; the rest asks the
 * cluster (metadata, DescribeConfigs) and creates topics (CreateTopics).
 */
#include "stream/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long each Admin request may take. */
#define NB__TOPICS_TIMEOUT_MS 30000

static const char *const nb__role_names[NB_TOPIC__ROLES] = {
    [NB_TOPIC_APPOINTMENTS] = "appointments",
    [NB_TOPIC_CONTEXT] = "context",
    [NB_TOPIC_ACKS] = "acks",
    [NB_TOPIC_LINKS] = "links",
    [NB_TOPIC_BY_CHILD] = "by_child",
    [NB_TOPIC_CHANGELOG] = "changelog",
    [NB_TOPIC_NOTIFICATIONS] = "notifications",
    [NB_TOPIC_DEAD_LETTERS] = "dead_letters",
    [NB_TOPIC_AUDIT] = "audit",
    [NB_TOPIC_IDENTITY_SUGGESTIONS] = "identity_suggestions",
};

const char *nb_topic_role_name(nb_topic_role_t role)
{
    return (unsigned)role < NB_TOPIC__ROLES ? nb__role_names[role] : "?";
}

/* Adds a topic to the plan unless a role before named it already (one topic for appointments
 * and context is allowed). */
static void nb__plan_add(nb_topic_spec_t *out, size_t *n, const nb_config_t *conf, const char *name,
                         nb_topic_role_t role, int partitions, int rf, int isr)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i].name, name) == 0)
            return;
    if (*n == NB_TOPICS_MAX)
        return;
    bool state = role == NB_TOPIC_LINKS || role == NB_TOPIC_CHANGELOG;
    out[(*n)++] = (nb_topic_spec_t){
        .name = name,
        .role = role,
        .partitions = partitions,
        .exact_partitions = role == NB_TOPIC_BY_CHILD || role == NB_TOPIC_CHANGELOG,
        .replication_factor = rf,
        .min_insync_replicas = isr,
        /* Compacted topics keep the last record of every key whatever retention.ms says;
         * -1 keeps it so should anyone ever add delete to their policy. */
        .retention_ms = state ? -1 : conf->topic_retention_ms[role],
        .compact = state,
    };
}

size_t nb_topics_plan(const nb_config_t *conf, int source_partitions, int brokers,
                      nb_topic_spec_t out[NB_TOPICS_MAX])
{
    int rf = conf->topic_replication_factor;
    if (rf <= 0)
        rf = brokers < 3 ? (brokers > 0 ? brokers : 1) : 3;
    int isr = conf->topic_min_insync_replicas;
    if (isr <= 0)
        isr = rf < 2 ? rf : 2;
    size_t n = 0;
    for (size_t i = 0; i < conf->n_appointment_topics; i++)
        nb__plan_add(out, &n, conf, conf->appointment_topics[i], NB_TOPIC_APPOINTMENTS,
                     source_partitions, rf, isr);
    nb__plan_add(out, &n, conf, conf->context_topic, NB_TOPIC_CONTEXT, source_partitions, rf, isr);
    nb__plan_add(out, &n, conf, conf->acks_topic, NB_TOPIC_ACKS, source_partitions, rf, isr);
    nb__plan_add(out, &n, conf, conf->links_topic, NB_TOPIC_LINKS, source_partitions, rf, isr);
    nb__plan_add(out, &n, conf, conf->by_child_topic, NB_TOPIC_BY_CHILD, conf->partitions, rf, isr);
    nb__plan_add(out, &n, conf, conf->changelog_topic, NB_TOPIC_CHANGELOG, conf->partitions, rf,
                 isr);
    nb__plan_add(out, &n, conf, conf->notifications_topic, NB_TOPIC_NOTIFICATIONS,
                 source_partitions, rf, isr);
    /* One partition: dead letters are few, and read in the order they were set aside. */
    nb__plan_add(out, &n, conf, conf->dead_letter_topic, NB_TOPIC_DEAD_LETTERS, 1, rf, isr);
    nb__plan_add(out, &n, conf, conf->audit_topic, NB_TOPIC_AUDIT, source_partitions, rf, isr);
    nb__plan_add(out, &n, conf, conf->identity_suggestions_topic, NB_TOPIC_IDENTITY_SUGGESTIONS,
                 source_partitions, rf, isr);
    return n;
}

/* Whether a cleanup.policy ("compact", "delete", "compact,delete", " delete ") holds @p word. */
static bool nb__policy_has(const char *policy, const char *word)
{
    size_t wl = strlen(word);
    const char *p = policy;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ')
            end++;
        if ((size_t)(end - p) == wl && strncmp(p, word, wl) == 0)
            return true;
        p = end;
    }
    return false;
}

static void nb__ms_text(int64_t ms, char *out, size_t size)
{
    if (ms < 0)
        snprintf(out, size, "%" PRId64 " (for ever)", ms);
    else if (ms % 86400000 == 0)
        snprintf(out, size, "%" PRId64 " (%" PRId64 " days)", ms, ms / 86400000);
    else
        snprintf(out, size, "%" PRId64, ms);
}

/* Records one problem; counts those past @p max without writing them. */
static void nb__problem(const nb_topic_spec_t *want, nb_topic_problem_t *out, size_t max, size_t *n,
                        const char *setting, const char *why)
{
    if (*n < max)
        out[*n] = (nb_topic_problem_t){.topic = want->name, .setting = setting, .why = why};
    (*n)++;
}

/* The problem just recorded, to write its values into (NULL when past max). */
static nb_topic_problem_t *nb__last(nb_topic_problem_t *out, size_t max, size_t n)
{
    return n && n <= max ? &out[n - 1] : NULL;
}

size_t nb_topics_compare(const nb_topic_spec_t *want, const nb_topic_found_t *found,
                         nb_topic_problem_t *out, size_t max)
{
    size_t n = 0;
    nb_topic_problem_t *p;
    if (want->exact_partitions && found->partitions != want->partitions) {
        nb__problem(want, out, max, &n, "partitions",
                    "a child's partition follows from the count: another count moves children "
                    "away from their state (change it only by rebuilding state, docs/runbook.md "
                    "\"Rebuild state\")");
        if ((p = nb__last(out, max, n))) {
            snprintf(p->found, sizeof(p->found), "%d", found->partitions);
            snprintf(p->wanted, sizeof(p->wanted), "%d (topics.partitions)", want->partitions);
        }
    }
    if (found->replication_factor < want->replication_factor) {
        nb__problem(want, out, max, &n, "replication.factor",
                    "fewer copies than configured: losing a broker can lose records");
        if ((p = nb__last(out, max, n))) {
            snprintf(p->found, sizeof(p->found), "%d", found->replication_factor);
            snprintf(p->wanted, sizeof(p->wanted), "at least %d", want->replication_factor);
        }
    }
    if (found->min_insync_replicas < want->min_insync_replicas) {
        nb__problem(want, out, max, &n, "min.insync.replicas",
                    "a write acknowledged by fewer replicas is lost with one broker");
        if ((p = nb__last(out, max, n))) {
            snprintf(p->found, sizeof(p->found), "%d", found->min_insync_replicas);
            snprintf(p->wanted, sizeof(p->wanted), "at least %d", want->min_insync_replicas);
        }
    }
    bool has_compact = nb__policy_has(found->cleanup_policy, "compact");
    bool has_delete = nb__policy_has(found->cleanup_policy, "delete");
    if (want->compact ? (!has_compact || has_delete) : has_compact) {
        nb__problem(want, out, max, &n, "cleanup.policy",
                    want->compact ? "state must be compacted only: without compact old versions "
                                    "pile up, and delete removes state older than retention.ms"
                                  : "compaction keeps only the last record of each key, and this "
                                    "topic must keep every record");
        if ((p = nb__last(out, max, n))) {
            snprintf(p->found, sizeof(p->found), "%s", found->cleanup_policy);
            snprintf(p->wanted, sizeof(p->wanted), "%s", want->compact ? "compact" : "delete");
        }
    }
    /* Retention deletes only under the delete policy (a compacted topic keeps every key's last
     * record whatever it says). */
    if (!has_delete)
        return n;
    bool short_ms = want->retention_ms < 0
                        ? found->retention_ms >= 0
                        : (found->retention_ms >= 0 && found->retention_ms < want->retention_ms);
    if (short_ms) {
        nb__problem(want, out, max, &n, "retention.ms",
                    want->retention_ms < 0
                        ? "records this topic must keep would be deleted when they reach that age"
                        : "records would be deleted sooner than configured");
        if ((p = nb__last(out, max, n))) {
            nb__ms_text(found->retention_ms, p->found, sizeof(p->found));
            char w[40];
            nb__ms_text(want->retention_ms, w, sizeof(w));
            snprintf(p->wanted, sizeof(p->wanted), "%s%s", want->retention_ms < 0 ? "" : ">= ", w);
        }
    }
    if (found->retention_bytes >= 0) {
        nb__problem(want, out, max, &n, "retention.bytes",
                    "the oldest records would be deleted once a partition holds that much");
        if ((p = nb__last(out, max, n))) {
            snprintf(p->found, sizeof(p->found), "%" PRId64, found->retention_bytes);
            snprintf(p->wanted, sizeof(p->wanted), "-1");
        }
    }
    return n;
}

/* ---- the cluster ------------------------------------------------------------------------- */

/* Waits for the answer of an Admin request on @p q. @returns the event, or NULL with why. */
static rd_kafka_event_t *nb__admin_wait(rd_kafka_queue_t *q, const char *what, char *errstr,
                                        size_t errstr_size, nb_err_t *err)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 2 * NB__TOPICS_TIMEOUT_MS);
    if (!ev) {
        snprintf(errstr, errstr_size, "%s: no answer from the cluster", what);
        *err = NB_ERR_TIMEOUT;
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "%s: %s", what, rd_kafka_event_error_string(ev));
        *err = NB_ERR_KAFKA;
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* The brokers, and which planned topics exist with how many partitions and replicas. */
NB_NODISCARD static nb_err_t nb__topics_metadata(rd_kafka_t *rk, const nb_config_t *conf,
                                                 int source_partitions, nb_topics_report_t *rep,
                                                 char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, NB__TOPICS_TIMEOUT_MS);
    if (e) {
        snprintf(errstr, errstr_size, "reading the cluster's metadata: %s", rd_kafka_err2str(e));
        return e == RD_KAFKA_RESP_ERR__TIMED_OUT ? NB_ERR_TIMEOUT : NB_ERR_KAFKA;
    }
    rep->brokers = md->broker_cnt;
    rep->n = nb_topics_plan(conf, source_partitions, md->broker_cnt, rep->spec);
    for (size_t i = 0; i < rep->n; i++) {
        rep->state[i] = NB_TOPIC_MISSING;
        for (int t = 0; t < md->topic_cnt; t++) {
            const rd_kafka_metadata_topic_t *mt = &md->topics[t];
            if (mt->err || strcmp(mt->topic, rep->spec[i].name) != 0)
                continue;
            nb_topic_found_t *f = &rep->found[i];
            memset(f, 0, sizeof(*f));
            f->partitions = mt->partition_cnt;
            f->replication_factor = mt->partition_cnt ? INT32_MAX : 0;
            for (int p = 0; p < mt->partition_cnt; p++)
                if (mt->partitions[p].replica_cnt < f->replication_factor)
                    f->replication_factor = mt->partitions[p].replica_cnt;
            f->min_insync_replicas = -1;
            f->retention_ms = -1;
            f->retention_bytes = -1;
            rep->state[i] = NB_TOPIC_FINE; /* until its settings say otherwise */
        }
    }
    rd_kafka_metadata_destroy(md);
    return NB_ERR_OK;
}

/* Copies the settings the comparison needs from one described topic into @p f. */
static void nb__topics_found_configs(const rd_kafka_ConfigResource_t *res, nb_topic_found_t *f)
{
    size_t cnt = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(res, &cnt);
    bool told_isr = false;
    for (size_t k = 0; k < cnt; k++) {
        const char *name = rd_kafka_ConfigEntry_name(entries[k]);
        const char *value = rd_kafka_ConfigEntry_value(entries[k]);
        if (!name || !value)
            continue;
        if (strcmp(name, "min.insync.replicas") == 0) {
            f->min_insync_replicas = atoi(value);
            told_isr = true;
        } else if (strcmp(name, "retention.ms") == 0) {
            f->retention_ms = strtoll(value, NULL, 10);
        } else if (strcmp(name, "retention.bytes") == 0) {
            f->retention_bytes = strtoll(value, NULL, 10);
        } else if (strcmp(name, "cleanup.policy") == 0) {
            snprintf(f->cleanup_policy, sizeof(f->cleanup_policy), "%s", value);
        }
    }
    if (!told_isr)
        f->min_insync_replicas = 1; /* Kafka's default */
}

/* Reads the settings of the planned topics that exist (DescribeConfigs, one request). */
NB_NODISCARD static nb_err_t nb__topics_describe(rd_kafka_t *rk, nb_topics_report_t *rep,
                                                 char *errstr, size_t errstr_size)
{
    rd_kafka_ConfigResource_t *res[NB_TOPICS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < rep->n; i++)
        if (rep->state[i] != NB_TOPIC_MISSING)
            res[n++] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, rep->spec[i].name);
    if (n == 0)
        return NB_ERR_OK;
    nb_err_t err = NB_ERR_OK;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    (void)rd_kafka_AdminOptions_set_request_timeout(opts, NB__TOPICS_TIMEOUT_MS, NULL, 0);
    rd_kafka_DescribeConfigs(rk, res, n, opts, q);
    rd_kafka_event_t *ev = nb__admin_wait(q,
                                          "reading the settings of the topics that exist "
                                          "(DescribeConfigs; nothing was created)",
                                          errstr, errstr_size, &err);
    if (!ev) {
        /* librdkafka's mock cluster has no controller and answers no DescribeConfigs. */
        size_t len = strlen(errstr);
        snprintf(errstr + len, errstr_size - len,
                 ". A cluster that cannot describe its topics' settings cannot be checked: the "
                 "embedded broker (`notbrought broker`) creates its topics itself");
    }
    if (ev) {
        size_t cnt = 0;
        const rd_kafka_DescribeConfigs_result_t *dr = rd_kafka_event_DescribeConfigs_result(ev);
        const rd_kafka_ConfigResource_t **got =
            dr ? rd_kafka_DescribeConfigs_result_resources(dr, &cnt) : NULL;
        size_t seen = 0;
        for (size_t r = 0; got && r < cnt; r++) {
            const char *name = rd_kafka_ConfigResource_name(got[r]);
            if (rd_kafka_ConfigResource_error(got[r])) {
                snprintf(errstr, errstr_size,
                         "reading the settings of topic %s: %s (nothing was created)", name,
                         rd_kafka_ConfigResource_error_string(got[r]));
                err = NB_ERR_KAFKA;
                break;
            }
            for (size_t i = 0; i < rep->n; i++)
                if (rep->state[i] != NB_TOPIC_MISSING && strcmp(rep->spec[i].name, name) == 0) {
                    nb__topics_found_configs(got[r], &rep->found[i]);
                    seen++;
                }
        }
        if (!err && seen != n) {
            snprintf(errstr, errstr_size,
                     "the cluster described %zu of the %zu topics that exist (nothing was "
                     "created)",
                     seen, n);
            err = NB_ERR_KAFKA;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < n; i++)
        rd_kafka_ConfigResource_destroy(res[i]);
    return err;
}

/* Creates the missing topics with their settings (CreateTopics, one request). */
NB_NODISCARD static nb_err_t nb__topics_create(rd_kafka_t *rk, nb_topics_report_t *rep,
                                               char *errstr, size_t errstr_size)
{
    rd_kafka_NewTopic_t *nt[NB_TOPICS_MAX];
    size_t n = 0;
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; i < rep->n; i++) {
        const nb_topic_spec_t *s = &rep->spec[i];
        if (rep->state[i] != NB_TOPIC_MISSING)
            continue;
        char ms[24], isr[16];
        snprintf(ms, sizeof(ms), "%" PRId64, s->retention_ms);
        snprintf(isr, sizeof(isr), "%d", s->min_insync_replicas);
        nt[n] = rd_kafka_NewTopic_new(s->name, s->partitions, s->replication_factor, errstr,
                                      errstr_size);
        if (!nt[n] ||
            rd_kafka_NewTopic_set_config(nt[n], "cleanup.policy",
                                         s->compact ? "compact" : "delete") ||
            rd_kafka_NewTopic_set_config(nt[n], "retention.ms", ms) ||
            rd_kafka_NewTopic_set_config(nt[n], "retention.bytes", "-1") ||
            rd_kafka_NewTopic_set_config(nt[n], "min.insync.replicas", isr)) {
            if (nt[n])
                rd_kafka_NewTopic_destroy(nt[n]);
            err = NB_ERR_NOMEM;
            snprintf(errstr, errstr_size, "topic %s: could not be described for creation", s->name);
            goto done;
        }
        n++;
    }
    if (n == 0)
        return NB_ERR_OK;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    (void)rd_kafka_AdminOptions_set_operation_timeout(opts, NB__TOPICS_TIMEOUT_MS, NULL, 0);
    (void)rd_kafka_AdminOptions_set_request_timeout(opts, NB__TOPICS_TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(rk, nt, n, opts, q);
    rd_kafka_event_t *ev = nb__admin_wait(q, "creating topics", errstr, errstr_size, &err);
    if (ev) {
        size_t cnt = 0;
        const rd_kafka_CreateTopics_result_t *cr = rd_kafka_event_CreateTopics_result(ev);
        const rd_kafka_topic_result_t **res =
            cr ? rd_kafka_CreateTopics_result_topics(cr, &cnt) : NULL;
        for (size_t r = 0; res && r < cnt; r++) {
            const char *name = rd_kafka_topic_result_name(res[r]);
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[r]);
            if (e) {
                /* Another run (or someone) may have made it since the metadata was read: its
                 * settings were not checked, so this run does not call it fine. */
                snprintf(errstr, errstr_size, "creating topic %s: %s%s", name,
                         rd_kafka_topic_result_error_string(res[r]),
                         e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
                             ? " (made meanwhile: run `notbrought topics` again to check it)"
                             : "");
                err = NB_ERR_KAFKA;
                continue;
            }
            for (size_t i = 0; i < rep->n; i++)
                if (rep->state[i] == NB_TOPIC_MISSING && strcmp(rep->spec[i].name, name) == 0)
                    rep->state[i] = NB_TOPIC_CREATED;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
done:
    for (size_t i = 0; i < n; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    return err;
}

nb_err_t nb_stream_topics(const nb_config_t *conf, int source_partitions, nb_topics_report_t *rep,
                          char *errstr, size_t errstr_size)
{
    memset(rep, 0, sizeof(*rep));
    errstr[0] = '\0';
    rd_kafka_conf_t *kc = nb__tool_conf(conf, errstr, errstr_size);
    if (!kc)
        return NB_ERR_CONFIG;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return NB_ERR_KAFKA;
    }
    nb_err_t err = nb__topics_metadata(rk, conf, source_partitions, rep, errstr, errstr_size);
    if (!err)
        err = nb__topics_describe(rk, rep, errstr, errstr_size);
    if (!err) {
        for (size_t i = 0; i < rep->n; i++) {
            if (rep->state[i] == NB_TOPIC_MISSING)
                continue;
            size_t kept =
                rep->n_problems < NB_TOPICS_MAX_PROBLEMS ? rep->n_problems : NB_TOPICS_MAX_PROBLEMS;
            size_t k = nb_topics_compare(&rep->spec[i], &rep->found[i], rep->problems + kept,
                                         NB_TOPICS_MAX_PROBLEMS - kept);
            if (k)
                rep->state[i] = NB_TOPIC_REFUSED;
            rep->n_problems += k;
        }
        if (rep->n_problems) {
            snprintf(errstr, errstr_size,
                     "%zu setting%s of topics that exist would lose records; nothing was created",
                     rep->n_problems, rep->n_problems == 1 ? "" : "s");
            err = NB_ERR_INCONSISTENT;
        }
    }
    if (!err)
        err = nb__topics_create(rk, rep, errstr, errstr_size);
    rd_kafka_destroy(rk);
    return err;
}
