/*
 * notbrought - cli: the `notbrought` subcommands, and the synthetic sample generator they
 * share. The record-file format is the recfile module's (notbrought/recfile.h), included here
 * for the generator's record callback.
 */
#ifndef NOTBROUGHT_CLI_H
#define NOTBROUGHT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "notbrought/codec.h"
#include "notbrought/recfile.h"

/** Exit codes of every subcommand (docs/cli.md). */
#define NB_EXIT_OK 0
#define NB_EXIT_FAILURE 1  /**< the command ran and found a problem (invalid input, failed case) */
#define NB_EXIT_USAGE 2    /**< bad command line */
#define NB_EXIT_SOFTWARE 3 /**< internal or environment error (I/O, broker unreachable) */

/** @brief Runs the command line. @returns the process exit status. */
int nb_cli_main(int argc, char **argv);

/* ---- synthetic sample data ------------------------------------------------------------------ */

typedef struct nb_sample_opts_s {
    uint64_t seed;
    int children;          /**< children (and pregnancies) to generate */
    double missed_share;   /**< share of past appointments whose outcome is missed */
    double local_id_share; /**< share of events that carry only a local identifier */
    int malformed;         /**< malformed records to mix in */
    int64_t now;           /**< ms since epoch: appointments are spread over the year before */
} nb_sample_opts_t;

/** @brief Defaults: seed 1, 100 children, 12% missed, 20% local ids, 8 malformed. */
void nb_sample_opts_default(nb_sample_opts_t *opts, int64_t now_ms);

/**
 * @brief Generates realistic synthetic records (appointments from GP, midwifery and health
 *        visiting; identity links; context facts; some malformed records), sorted by time, and
 *        passes each to @p cb. NHS numbers are from the 999 test range, with check digits.
 * @returns 0, the callback's non-zero value, or -1 on an encoding failure (errstr says why).
 */
int nb_sample_generate(const nb_sample_opts_t *opts, nb_codec_t *codec, nb_record_cb_t *cb,
                       void *opaque, char *errstr, size_t errstr_size);

#endif /* NOTBROUGHT_CLI_H */
