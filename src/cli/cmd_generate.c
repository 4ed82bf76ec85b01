/*
 * notbrought generate: synthetic sample records as a record file.
 */
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char nb__generate_help[] =
    "usage: notbrought generate [options] [-o FILE]\n"
    "\n"
    "Writes realistic synthetic records (a record file: JSON lines with base64 Avro values)\n"
    "for GP, midwifery and health visiting appointments, identity links and child context,\n"
    "plus some malformed records. NHS numbers are from the 999 test range.\n"
    "\n"
    "  -n, --children N        children and pregnancies (default 100)\n"
    "  -s, --seed N            random seed (default 1); the same seed gives the same output\n"
    "  -m, --missed-share F    share of outcomes that are missed (default 0.12)\n"
    "  -l, --local-id-share F  share of events with only a local identifier (default 0.2)\n"
    "  -b, --malformed N       malformed records to include (default 8)\n"
    "      --now TIME          generate as of this ISO 8601 time (default: now, or $NB_NOW)\n"
    "  -o, --output FILE       write here instead of stdout\n";

static int nb__gen_write(void *opaque, const char *topic, const char *key, const void *value,
                         size_t len, int64_t ts)
{
    return nb_recfile_write(opaque, topic, key, value, len, ts);
}

static bool nb__parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool nb__parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int nb__cmd_generate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"children", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 's'},
        {"missed-share", required_argument, NULL, 'm'},
        {"local-id-share", required_argument, NULL, 'l'},
        {"malformed", required_argument, NULL, 'b'}, {"now", required_argument, NULL, 'N'},
        {"output", required_argument, NULL, 'o'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    nb_sample_opts_t opts;
    const char *output = NULL;
    long lv;
    int c;
    nb_sample_opts_default(&opts, nb__cli_now());
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:s:m:l:b:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!nb__parse_int(optarg, 0, 10000000, &lv))
                goto usage;
            opts.children = (int)lv;
            break;
        case 's':
            if (!nb__parse_int(optarg, 0, 0x7fffffffL, &lv))
                goto usage;
            opts.seed = (uint64_t)lv;
            break;
        case 'm':
            if (!nb__parse_double(optarg, 0, 0.8, &opts.missed_share))
                goto usage;
            break;
        case 'l':
            if (!nb__parse_double(optarg, 0, 1, &opts.local_id_share))
                goto usage;
            break;
        case 'b':
            if (!nb__parse_int(optarg, 0, 1000000, &lv))
                goto usage;
            opts.malformed = (int)lv;
            break;
        case 'N':
            if (!nb_parse_time(optarg, &opts.now))
                goto usage;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            fputs(nb__generate_help, stdout);
            return NB_EXIT_OK;
        default:
            goto usage;
        }
    }
    if (optind != argc)
        goto usage;

    nb_registry_t *reg;
    nb_codec_t *codec;
    if (nb__cli_codec(&reg, &codec))
        return NB_EXIT_SOFTWARE;
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) {
        perror(output);
        nb__cli_codec_free(reg, codec);
        return NB_EXIT_SOFTWARE;
    }
    char errstr[512] = "";
    int rc = nb_sample_generate(&opts, codec, nb__gen_write, out, errstr, sizeof(errstr));
    if (fflush(out) != 0)
        rc = -1;
    if (output)
        fclose(out);
    nb__cli_codec_free(reg, codec);
    if (rc) {
        fprintf(stderr, "notbrought generate: %s\n", errstr[0] ? errstr : "write failed");
        return NB_EXIT_SOFTWARE;
    }
    return NB_EXIT_OK;
usage:
    fprintf(stderr, "notbrought generate: invalid option or value\n\n%s", nb__generate_help);
    return NB_EXIT_USAGE;
}
