/*
 * notbrought topics | purge. topics creates the configured topics with the settings their roles
 * need, after checking that no topic that exists would lose records (src/stream/topics.c;
 * docs/runbook.md, "Topics and retention"). purge deletes old records from a topic that is
 * not compacted and audits it (src/stream/purge.c).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "notbrought/codec.h"
#include "notbrought/event.h"
#include "notbrought/ops.h"
#include "notbrought/stream.h"

static const char nb__topics_help[] =
    "usage: notbrought topics [--config FILE] [--bootstrap HOST:PORT] [--source-partitions N]\n"
    "\n"
    "Creates the configured topics with the settings their roles need: topics.partitions\n"
    "partitions for by_child and changelog (N, default 3, for the others; 1 for the dead\n"
    "letters), topics.replication_factor (0: min(3, brokers)), topics.min_insync_replicas\n"
    "(0: min(2, replication factor)), cleanup.policy compact for links and changelog and delete\n"
    "for the others, retention.ms from topics.retention_ms.<role>, retention.bytes -1.\n"
    "\n"
    "Topics that exist are checked first and never changed: when any setting of any of them\n"
    "would lose records (a shorter retention, compaction where every record must stay,\n"
    "fewer replicas, another partition count for by_child or changelog), every one is named\n"
    "with what it is and what it must be, nothing is created, and the exit status is 1.\n"
    "Prints a table of the topics and what was done. Exit 3: the cluster could not be asked.\n";

static const char *const nb__state_names[] = {"missing", "created", "fine", "REFUSED"};

/* What a topic has now: its plan when created (or missing), else what was found. */
static void nb__topics_row(const nb_topics_report_t *rep, size_t i)
{
    const nb_topic_spec_t *s = &rep->spec[i];
    const nb_topic_found_t *f = &rep->found[i];
    bool planned = rep->state[i] == NB_TOPIC_MISSING || rep->state[i] == NB_TOPIC_CREATED;
    char ms[24], isr[12];
    snprintf(ms, sizeof(ms), "%" PRId64, planned ? s->retention_ms : f->retention_ms);
    snprintf(isr, sizeof(isr), "%d", planned ? s->min_insync_replicas : f->min_insync_replicas);
    if (planned)
        printf("%-32s %-20s %5d %3d %7s %-15s %14s %s\n", s->name, nb_topic_role_name(s->role),
               s->partitions, s->replication_factor, isr, s->compact ? "compact" : "delete", ms,
               nb__state_names[rep->state[i]]);
    else
        printf("%-32s %-20s %5d %3d %7s %-15s %14s %s\n", s->name, nb_topic_role_name(s->role),
               f->partitions, f->replication_factor, isr, f->cleanup_policy, ms,
               nb__state_names[rep->state[i]]);
}

static void nb__topics_print(const nb_topics_report_t *rep)
{
    printf("%-32s %-20s %5s %3s %7s %-15s %14s %s\n", "topic", "role", "parts", "rf", "min.isr",
           "cleanup.policy", "retention.ms", "state");
    for (size_t i = 0; i < rep->n; i++)
        nb__topics_row(rep, i);
    for (size_t k = 0; k < rep->n_problems && k < NB_TOPICS_MAX_PROBLEMS; k++) {
        const nb_topic_problem_t *p = &rep->problems[k];
        fprintf(stderr, "notbrought topics: topic %s: %s is %s, must be %s: %s\n", p->topic,
                p->setting, p->found, p->wanted, p->why);
    }
    if (rep->n_problems > NB_TOPICS_MAX_PROBLEMS)
        fprintf(stderr, "notbrought topics: ... and %zu more\n",
                rep->n_problems - NB_TOPICS_MAX_PROBLEMS);
}

int nb__cmd_topics(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"source-partitions", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *cfg = NULL, *bootstrap = NULL;
    int source_parts = 3, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case 'B':
            bootstrap = optarg;
            break;
        case 's':
            source_parts = (int)strtol(optarg, &end, 10);
            if (*end || source_parts < 1 || source_parts > 1024) {
                fprintf(stderr, "notbrought topics: --source-partitions: expected 1 to 1024\n");
                return NB_EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(nb__topics_help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(nb__topics_help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(nb__topics_help, stderr);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("topics", cfg, bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    char errstr[1024];
    if (nb_config_validate_topics(conf, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought topics: configuration:\n%s\n", errstr);
        nb_config_destroy(conf);
        return NB_EXIT_FAILURE;
    }
    nb_topics_report_t *rep = malloc(sizeof(*rep));
    if (!rep) {
        fprintf(stderr, "notbrought topics: out of memory\n");
        nb_config_destroy(conf);
        return NB_EXIT_SOFTWARE;
    }
    nb_err_t err = nb_stream_topics(conf, source_parts, rep, errstr, sizeof(errstr));
    int rc = NB_EXIT_OK;
    if (!err || err == NB_ERR_INCONSISTENT)
        nb__topics_print(rep);
    if (err == NB_ERR_INCONSISTENT) {
        fprintf(stderr,
                "notbrought topics: %s. Fix those settings with Kafka's tools (docs/runbook.md, "
                "\"Topics and retention\") or the configuration, and run it again.\n",
                errstr);
        rc = NB_EXIT_FAILURE;
    } else if (err) {
        fprintf(stderr, "notbrought topics: %s\n", errstr);
        rc = NB_EXIT_SOFTWARE;
    }
    free(rep);
    nb_config_destroy(conf);
    return rc;
}

/* ---- purge ------------------------------------------------------------------------------- */

static const char nb__purge_help[] =
    "usage: notbrought purge --topic TOPIC --before TIME --reason REASON --by USER\n"
    "                        [--request ID] [--dry-run] [--config FILE] [--bootstrap HOST:PORT]\n"
    "\n"
    "Deletes every record older than TIME (ISO 8601: 2026-01-01 or 2026-01-01T00:00:00Z) from\n"
    "a configured topic that is not compacted (Kafka's DeleteRecords), and writes an audit\n"
    "record (kind purged) of what it deleted, by whom and why, to topics.audit before it\n"
    "deletes. REASON is one of:\n"
    "  retention     the retention schedule: records older than they are kept for\n"
    "  erasure       an erasure the data protection officer upheld\n"
    "  dead_letters  dead letters dealt with (handled again, or recorded as refused)\n"
    "USER is the operator's staff id; ID the reference of the approval (a change or request\n"
    "number). --dry-run prints what would go and changes nothing. Compacted topics (links,\n"
    "changelog) are refused: records leave them by tombstones (docs/runbook.md, \"Retention\n"
    "schedule and erasure\"). A TIME after now is refused.\n";

static const struct {
    const char *name;
    const char *text; /* the audit record's reason: the program's words, never typed text */
} nb__purge_reasons[] = {
    {"retention", "the retention schedule: records older than they are kept for"},
    {"erasure", "an erasure the data protection officer upheld"},
    {"dead_letters", "dead letters dealt with (handled again, or recorded as refused)"},
};

typedef struct nb__purge_args_s {
    const char *cfg, *bootstrap, *topic, *before, *reason, *by, *request;
    bool dry_run;
} nb__purge_args_t;

/* @returns -1 to go on, else the exit status (help, or a bad command line). */
static int nb__purge_args(int argc, char **argv, nb__purge_args_t *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"bootstrap", required_argument, NULL, 'B'},
        {"topic", required_argument, NULL, 't'},   {"before", required_argument, NULL, 'b'},
        {"reason", required_argument, NULL, 'r'},  {"by", required_argument, NULL, 'u'},
        {"request", required_argument, NULL, 'q'}, {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->cfg = optarg;
            break;
        case 'B':
            a->bootstrap = optarg;
            break;
        case 't':
            a->topic = optarg;
            break;
        case 'b':
            a->before = optarg;
            break;
        case 'r':
            a->reason = optarg;
            break;
        case 'u':
            a->by = optarg;
            break;
        case 'q':
            a->request = optarg;
            break;
        case 'n':
            a->dry_run = true;
            break;
        case 'h':
            fputs(nb__purge_help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(nb__purge_help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    const char *missing = !a->topic    ? "--topic"
                          : !a->before ? "--before"
                          : !a->reason ? "--reason (why: a purge is never unexplained)"
                          : !a->by     ? "--by (who: the operator's staff id)"
                                       : NULL;
    if (optind != argc || missing) {
        fprintf(stderr, "notbrought purge: %s\n\n%s", missing ? missing : "unexpected argument",
                nb__purge_help);
        return NB_EXIT_USAGE;
    }
    return -1;
}

/* The audit record of a purge, encoded and stored on topics.audit (keyed by the topic: it is
 * about no child), waited for. */
NB_NODISCARD static nb_err_t nb__purge_audit(const nb_config_t *conf, const nb_purge_plan_t *plan,
                                             const nb__purge_args_t *a, const char *reason,
                                             int64_t now, char *errstr, size_t errstr_size)
{
    nb_registry_t *reg = NULL;
    nb_codec_t *codec = NULL;
    nb_record_t *rec = calloc(1, sizeof(*rec));
    if (!rec || nb__cli_codec(&reg, &codec)) {
        free(rec);
        snprintf(errstr, errstr_size, "no codec for the audit record");
        return NB_ERR_NOMEM;
    }
    rec->type = NB_RECORD_AUDIT;
    nb_audit_t *au = &rec->u.audit;
    nb_audit_init(au, NB_AUDIT_PURGED, now);
    nb_str_copy(au->reason, sizeof(au->reason), reason);
    au->has_actor = true;
    nb_str_copy(au->actor.user_id, sizeof(au->actor.user_id), a->by);
    nb_str_copy(au->actor.via, sizeof(au->actor.via), "notbrought purge");
    char when[32];
    nb_format_time(plan->before_ms, when, sizeof(when));
    int len = snprintf(au->subject, sizeof(au->subject),
                       "topic %s (topics.%s): records before %s%s%s: %" PRId64 " offsets;",
                       plan->topic, nb_topic_role_name(plan->role), when,
                       a->request ? ", request " : "", a->request ? a->request : "", plan->offsets);
    for (size_t i = 0; i < plan->n && len > 0 && (size_t)len < sizeof(au->subject); i++)
        if (plan->parts[i].to > plan->parts[i].low)
            len += snprintf(au->subject + len, sizeof(au->subject) - (size_t)len,
                            " [%d] %" PRId64 "-%" PRId64, (int)plan->parts[i].partition,
                            plan->parts[i].low, plan->parts[i].to - 1);
    nb_audit_set_id(au, plan->topic, a->request ? a->request : "", plan->before_ms);
    nb_buf_t value = {0};
    nb_err_t err = nb_codec_validate(rec, NULL, now, errstr, errstr_size);
    if (!err)
        err = nb_codec_encode(codec, rec, &value, errstr, errstr_size);
    if (!err)
        err = nb_stream_store(conf, conf->audit_topic, plan->topic, value.data, value.len, errstr,
                              errstr_size);
    nb_buf_free(&value);
    free(rec);
    nb__cli_codec_free(reg, codec);
    return err;
}

static void nb__purge_print(const nb_purge_plan_t *plan)
{
    printf("%-10s %14s %14s %14s %14s\n", "partition", "first", "end", "first kept", "deleted");
    for (size_t i = 0; i < plan->n; i++) {
        const nb_purge_part_t *p = &plan->parts[i];
        printf("%-10d %14" PRId64 " %14" PRId64 " %14" PRId64 " %14" PRId64 "\n", (int)p->partition,
               p->low, p->high, p->to, p->to - p->low);
    }
}

int nb__cmd_purge(int argc, char **argv)
{
    nb__purge_args_t a = {0};
    int rc = nb__purge_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    const char *reason = NULL;
    for (size_t i = 0; i < sizeof(nb__purge_reasons) / sizeof(nb__purge_reasons[0]); i++)
        if (strcmp(a.reason, nb__purge_reasons[i].name) == 0)
            reason = nb__purge_reasons[i].text;
    int64_t before, now = nb__cli_now();
    if (!reason) {
        fprintf(stderr, "notbrought purge: --reason: expected retention, erasure or "
                        "dead_letters\n");
        return NB_EXIT_USAGE;
    }
    if (!nb_parse_time(a.before, &before)) {
        fprintf(stderr, "notbrought purge: --before: expected an ISO 8601 time such as "
                        "2026-01-01 or 2026-01-01T00:00:00Z\n");
        return NB_EXIT_USAGE;
    }
    if (before > now) {
        fprintf(stderr, "notbrought purge: --before is after now: it would delete records "
                        "written from now on\n");
        return NB_EXIT_USAGE;
    }
    if (strlen(a.by) > NB_ID_MAX || nb_text_check(a.by, strlen(a.by), NB_TEXT_ID) ||
        (a.request && (strlen(a.request) > NB_ID_MAX ||
                       nb_text_check(a.request, strlen(a.request), NB_TEXT_ID)))) {
        fprintf(stderr,
                "notbrought purge: --by and --request take an id (at most %d "
                "characters, no spaces or control characters)\n",
                NB_ID_MAX);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("purge", a.cfg, a.bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    char errstr[1024];
    nb_purge_plan_t *plan = malloc(sizeof(*plan));
    nb_err_t err = plan ? nb_stream_purge_plan(conf, a.topic, before, plan, errstr, sizeof(errstr))
                        : NB_ERR_NOMEM;
    if (err) {
        fprintf(stderr, "notbrought purge: %s\n", plan ? errstr : "out of memory");
        rc = err == NB_ERR_INVALID_ARG ? NB_EXIT_FAILURE : NB_EXIT_SOFTWARE;
        goto done;
    }
    nb__purge_print(plan);
    if (a.dry_run || plan->offsets == 0) {
        printf("%s: %" PRId64 " offsets of %s before %s%s\n", a.dry_run ? "dry run" : "nothing",
               plan->offsets, plan->topic, a.before,
               a.dry_run ? " would be deleted; nothing changed" : " to delete");
        rc = NB_EXIT_OK;
        goto done;
    }
    /* The audit first: a purge is never unrecorded. Should the deletion then fail, the same
     * purge run again deletes what is left, under an audit record of the same id. */
    if ((err = nb__purge_audit(conf, plan, &a, reason, now, errstr, sizeof(errstr)))) {
        fprintf(stderr,
                "notbrought purge: the audit record was not written (%s): nothing "
                "deleted\n",
                errstr);
        rc = NB_EXIT_SOFTWARE;
        goto done;
    }
    if ((err = nb_stream_purge_apply(conf, plan, errstr, sizeof(errstr)))) {
        fprintf(stderr,
                "notbrought purge: %s; the audit record is written: run the same purge "
                "again\n",
                errstr);
        rc = NB_EXIT_SOFTWARE;
        goto done;
    }
    printf("purged: %" PRId64 " offsets of %s before %s (audited on %s)\n", plan->offsets,
           plan->topic, a.before, conf->audit_topic);
    rc = NB_EXIT_OK;
done:
    free(plan);
    nb_config_destroy(conf);
    return rc;
}
