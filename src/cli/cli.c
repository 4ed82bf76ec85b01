/*
 * notbrought - cli: the subcommand table and dispatch.
 */
#include "notbrought/cli.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "notbrought/stream.h"

static const nb__command_t nb__commands[] = {
    {"generate", "write synthetic sample records (a record file) to stdout", nb__cmd_generate},
    {"decode", "decode and validate a record file; print events and rejections", nb__cmd_decode},
    {"schemas", "list the registered Avro schemas and their ids", nb__cmd_schemas},
    {"run", "run the daemon (exactly once on Kafka)", nb__cmd_run},
    {"broker", "run an embedded Kafka-protocol broker for local use and tests", nb__cmd_broker},
    {"topics", "create the configured topics with their settings; refuse lossy ones",
     nb__cmd_topics},
    {"purge", "delete records older than a time from a topic, audited", nb__cmd_purge},
    {"produce", "produce a record file to its topics", nb__cmd_produce},
    {"consume", "read a topic (notifications by default) as JSON or text", nb__cmd_consume},
    {"policy", "check, test or explain an escalation policy (YAML)", nb__cmd_policy},
    {"replay", "backtest a policy over recorded events; compare two policies", nb__cmd_replay},
    {"mapping", "check a source's feed mapping (YAML); map a sample HL7 v2 or FHIR message",
     nb__cmd_mapping},
    {"ingest",
     "receive HL7 v2 (MLLP), FHIR (HTTP) or a CSV extract; map, publish after Kafka's ack",
     nb__cmd_ingest},
    {"dispatch", "deliver notifications to webhook and email routes (signed, retried)",
     nb__cmd_dispatch},
    {"inbox", "serve the safeguarding inbox (web pages, signing in); make password hashes",
     nb__cmd_inbox},
    {"chronology", "one child's timeline for a practice review (text, CSV, HTML); audited",
     nb__cmd_chronology},
    {"report", "the board's figures over the audit for a period, as CSV or an HTML page",
     nb__cmd_report},
    {"version", "print the version", nb__cmd_version},
};

static void nb__usage(FILE *out)
{
    fprintf(out, "usage: notbrought <command> [options]\n\n"
                 "notbrought joins appointment events from GP, midwifery and health visiting\n"
                 "systems on one child, applies the Was Not Brought escalation policy and\n"
                 "publishes safeguarding notifications.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(nb__commands) / sizeof(nb__commands[0]); i++)
        fprintf(out, "  %-10s %s\n", nb__commands[i].name, nb__commands[i].summary);
    fprintf(out, "\n'notbrought <command> --help' describes a command. Exit status: 0 success,\n"
                 "1 the command found a problem, 2 usage error, 3 internal or I/O error.\n");
}

int nb__cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("notbrought %s (librdkafka %s)\n", NB_VERSION, nb_stream_kafka_version());
    return NB_EXIT_OK;
}

bool nb__wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int nb_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        nb__usage(stderr);
        return NB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        nb__usage(stdout);
        return NB_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return nb__cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(nb__commands) / sizeof(nb__commands[0]); i++)
        if (strcmp(argv[1], nb__commands[i].name) == 0)
            return nb__commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "notbrought: unknown command '%s'\n\n", argv[1]);
    nb__usage(stderr);
    return NB_EXIT_USAGE;
}
