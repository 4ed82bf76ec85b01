/*
 * notbrought decode: decode and validate a record file, as ingest does, and show what was
 * accepted and what would be dead-lettered, and why.
 */
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char nb__decode_help[] =
    "usage: notbrought decode [options] FILE\n"
    "\n"
    "Decodes every record of a record file (see 'notbrought generate'; - for stdin) with the\n"
    "built-in schema registry, validates it, and prints what was decoded and what would be\n"
    "dead-lettered with its error code and reason, then a summary.\n"
    "\n"
    "  -f, --format text|json  text (default: one line per record, NHS numbers masked) or json\n"
    "                          (one JSON object per record, the full decoded content)\n"
    "      --now TIME          validate as of this ISO 8601 time (default: now, or $NB_NOW)\n"
    "      --schemas DIR       also register the schemas of DIR/registry.tsv (e.g. a newer\n"
    "                          producer's versions)\n"
    "      --strict            exit 1 when any record is rejected\n";

typedef struct nb__decode_s {
    nb_codec_t *codec;
    bool json;
    int64_t now;
    nb_validate_opts_t vopts;
    long n, ok;
    long unshown; /* records that could not be printed (jansson failed: out of memory) */
    long by_type[NB_RECORD__COUNT];
    long by_err[NB_ERR__COUNT];
} nb__decode_t;

static void nb__mask(const char *nhs, char *out, size_t size)
{
    if (!nhs[0])
        snprintf(out, size, "-");
    else
        snprintf(out, size, "******%s", nhs + (strlen(nhs) > 4 ? strlen(nhs) - 4 : 0));
}

/* Text lines print what came in through nb_text_escape(): the codec refuses control and
 * bidirectional override characters in fields, but the record file's topic is not checked,
 * and nothing that reaches a terminal may move the cursor or forge a line. */
static void nb__text_line(const nb__decode_t *d, const char *topic, const nb_record_t *rec)
{
    char when[32], nhs[16], type[NB_TEXT_ESCAPED_MAX(NB_TYPE_MAX)];
    switch (rec->type) {
    case NB_RECORD_APPOINTMENT: {
        const nb_appointment_event_t *a = &rec->u.appt;
        nb_format_time(a->scheduled_start, when, sizeof(when));
        nb__mask(a->nhs_number, nhs, sizeof(nhs));
        printf("ok    %-23s %-16s %-20s %.10s  %-20s v%d  %s %s\n", topic,
               nb_agency_name(a->source.agency), nb_text_escape(type, sizeof(type),
                                                                a->appointment_type), when,
               nb_status_name(a->status), (int)a->version,
               a->subject_kind == NB_SUBJECT_UNBORN ? "unborn"
               : a->nhs_number[0]                   ? "nhs"
                                                    : "local-id",
               a->subject_kind == NB_SUBJECT_UNBORN ? "" : (a->nhs_number[0] ? nhs : ""));
        break;
    }
    case NB_RECORD_IDENTITY_LINK:
        printf("ok    %-23s %-16s %s\n", topic, nb_link_kind_name(rec->u.link.kind),
               nb_verification_name(rec->u.link.verification));
        break;
    case NB_RECORD_CONTEXT_FACT:
        nb_format_date(rec->u.fact.start_date, when, sizeof(when));
        printf("ok    %-23s %-16s from %s%s\n", topic, nb_fact_kind_name(rec->u.fact.kind), when,
               rec->u.fact.end_date == NB_DATE_NONE ? " (current)" : " (ended)");
        break;
    default:
        printf("ok    %-23s %s\n", topic, nb_record_type_name(rec->type));
    }
    (void)d;
}

/* Prints one JSON line. @returns false (after saying so on stderr) when @p o is NULL: jansson
 * could not build it, and the record must not vanish from the output without a word. */
static bool nb__json_line(nb__decode_t *d, json_t *o)
{
    if (!o || json_dumpf(o, stdout, JSON_COMPACT)) {
        d->unshown++;
        fprintf(stderr, "notbrought decode: record %ld cannot be shown as JSON\n", d->n);
        json_decref(o);
        return false;
    }
    putchar('\n');
    json_decref(o);
    return true;
}

static int nb__decode_one(void *opaque, const char *topic_raw, const char *key,
                          const void *value, size_t len, int64_t ts)
{
    nb__decode_t *d = opaque;
    nb_record_t rec;
    char errstr[512] = "";
    char topic_text[NB_TEXT_ESCAPED_MAX(256)];
    /* JSON escapes what it must itself; the text lines show the topic escaped. */
    const char *topic = d->json ? topic_raw : nb_text_escape(topic_text, sizeof(topic_text),
                                                             topic_raw);
    (void)key;
    (void)ts;
    d->n++;
    nb_err_t err = nb_codec_decode(d->codec, value, len, NB_RECORD_NONE, &rec, errstr,
                                   sizeof(errstr));
    if (!err)
        err = nb_codec_validate(&rec, &d->vopts, d->now, errstr, sizeof(errstr));
    if (err) {
        d->by_err[err]++;
        if (d->json) {
            nb__json_line(d, json_pack("{s:I, s:s, s:s, s:s, s:s}", "record", (json_int_t)d->n,
                                       "topic", topic, "result", "dead_letter", "error",
                                       nb_err_name(err), "reason", errstr));
        } else {
            printf("DEAD  %-23s %s: %s\n", topic, nb_err_name(err), errstr);
        }
        return 0;
    }
    if (d->json) {
        if (!nb__json_line(d, json_pack("{s:I, s:s, s:s, s:s, s:i, s:o}", "record",
                                         (json_int_t)d->n, "topic", topic, "result", "ok",
                                         "type", nb_record_type_name(rec.type), "schema_id",
                                         (int)rec.schema_id, "value",
                                         nb__record_to_json(&rec))))
            return 0;
    } else {
        nb__text_line(d, topic, &rec);
    }
    d->ok++;
    d->by_type[rec.type]++;
    return 0;
}

int nb__cmd_decode(int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"now", required_argument, NULL, 'N'},
                                             {"strict", no_argument, NULL, 'S'},
                                             {"schemas", required_argument, NULL, 'R'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    nb__decode_t d;
    bool strict = false;
    const char *schemas = NULL;
    int c;
    memset(&d, 0, sizeof(d));
    d.now = nb__cli_now();
    nb_validate_opts_default(&d.vopts);
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "json") == 0)
                d.json = true;
            else if (strcmp(optarg, "text") != 0)
                goto usage;
            break;
        case 'N':
            if (!nb_parse_time(optarg, &d.now))
                goto usage;
            break;
        case 'S':
            strict = true;
            break;
        case 'R':
            schemas = optarg;
            break;
        case 'h':
            fputs(nb__decode_help, stdout);
            return NB_EXIT_OK;
        default:
            goto usage;
        }
    }
    if (optind != argc - 1)
        goto usage;

    nb_registry_t *reg;
    if (nb__cli_codec_dir(schemas, &reg, &d.codec))
        return NB_EXIT_SOFTWARE;
    char errstr[512] = "";
    int rc = nb_recfile_read(argv[optind], nb__decode_one, &d, errstr, sizeof(errstr));
    nb__cli_codec_free(reg, d.codec);
    if (rc) {
        fprintf(stderr, "notbrought decode: %s\n", errstr);
        return NB_EXIT_FAILURE;
    }
    FILE *sum = d.json ? stderr : stdout;
    fprintf(sum, "\nsummary: %ld records, %ld decoded and valid, %ld dead-lettered\n", d.n, d.ok,
            d.n - d.ok - d.unshown);
    if (d.unshown)
        fprintf(sum, "  not shown (reported above): %ld\n", d.unshown);
    for (int t = NB_RECORD_NONE + 1; t < NB_RECORD__COUNT; t++)
        if (d.by_type[t])
            fprintf(sum, "  %-40s %ld\n", nb_record_type_name((nb_record_type_t)t), d.by_type[t]);
    for (int e = 0; e < NB_ERR__COUNT; e++)
        if (d.by_err[e])
            fprintf(sum, "  dead letter: %-27s %ld  (%s)\n", nb_err_name((nb_err_t)e),
                    d.by_err[e], nb_err_str((nb_err_t)e));
    if (d.unshown)
        return NB_EXIT_SOFTWARE;
    return strict && d.ok != d.n ? NB_EXIT_FAILURE : NB_EXIT_OK;
usage:
    fprintf(stderr, "notbrought decode: invalid arguments\n\n%s", nb__decode_help);
    return NB_EXIT_USAGE;
}
