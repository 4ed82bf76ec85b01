/*
 * notbrought - cli internals: one function per subcommand, each in src/cli/cmd_<name>.c.
 * A subcommand gets argv with argv[0] = its own name and returns an NB_EXIT_* status.
 */
#ifndef NB_CLI_COMMANDS_H
#define NB_CLI_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "notbrought/cli.h"
#include "notbrought/codec.h"
#include "notbrought/notify.h"

typedef struct nb__command_s {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
} nb__command_t;

/** @brief True when argv holds --help or -h. */
bool nb__wants_help(int argc, char **argv);

/**
 * @brief The built-in registry and a codec over it, for commands.
 * @returns 0, or -1 after printing the reason to stderr. Free with nb__cli_codec_free().
 */
int nb__cli_codec(nb_registry_t **reg, nb_codec_t **codec);
/** @brief As nb__cli_codec(), also registering DIR/registry.tsv when @p dir is not NULL. */
int nb__cli_codec_dir(const char *dir, nb_registry_t **reg, nb_codec_t **codec);
void nb__cli_codec_free(nb_registry_t *reg, nb_codec_t *codec);

/** @brief Wall-clock now in ms since epoch, or NB_NOW when that environment variable is set
 *  (ISO 8601), so that tests and demos are reproducible. */
int64_t nb__cli_now(void);

/**
 * @brief The configuration of a command: --config @p path (or the defaults), then the
 *        environment, then --bootstrap; validated for the daemon when @p need_key.
 * @returns NULL after printing the reason ("notbrought CMD: configuration: ...") to stderr.
 */
struct nb_config_s *nb__load_config(const char *cmd, const char *path, const char *bootstrap,
                                    bool need_key);

/** @brief A record as JSON. @returns a new reference. */
json_t *nb__record_to_json(const nb_record_t *rec);

/** @brief A notification as a nurse reads it (text_view.c), times in @p zone. */
void nb__text_notification(FILE *out, const nb_notification_t *n, nb_notify_zone_t zone);

int nb__cmd_generate(int argc, char **argv);
int nb__cmd_decode(int argc, char **argv);
int nb__cmd_schemas(int argc, char **argv);
int nb__cmd_version(int argc, char **argv);
int nb__cmd_broker(int argc, char **argv);
int nb__cmd_topics(int argc, char **argv);
int nb__cmd_purge(int argc, char **argv);
int nb__cmd_produce(int argc, char **argv);
int nb__cmd_consume(int argc, char **argv);
int nb__cmd_run(int argc, char **argv);
int nb__cmd_policy(int argc, char **argv);
/* policy_cases.c: `policy test`; cmd_policy.c: the policy files loaded as `policy` loads them
 * (NULL when refused, every problem printed). */
int nb__policy_test(int argc, char **argv);
nb_policy_t *nb__load_policy(int n, char **files, int *n_errors);
int nb__cmd_replay(int argc, char **argv);
int nb__cmd_mapping(int argc, char **argv);
int nb__cmd_ingest(int argc, char **argv);
int nb__cmd_ingest_csv(int argc, char **argv);
int nb__cmd_dispatch(int argc, char **argv);
int nb__cmd_inbox(int argc, char **argv);
int nb__cmd_chronology(int argc, char **argv);
int nb__cmd_report(int argc, char **argv);
/* cmd_mapping.c: a source's mapping loaded, every problem printed as file:line:column (NULL
 * then, with the exit status in *rc). */
struct nb_feed_mapping_s *nb__mapping_load(const char *file, int *rc);

#endif
