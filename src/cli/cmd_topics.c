/*
 * notbrought topics: creates the configured topics with the settings their roles need, after
 * checking that no topic that exists would lose records (src/stream/topics.c;
 * docs/runbook.md, "Topics and retention").
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
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
