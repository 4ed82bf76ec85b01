/*
 * notbrought report: the board's figures over the audit topic for a period of local days, as
 * CSV or as a self-contained HTML page (docs/reporting.md "Report").
 */
#include "cli/commands.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/ops.h"
#include "notbrought/policy.h"
#include "notbrought/report.h"
#include "notbrought/stream.h"

static const char nb__report_help[] =
    "usage: notbrought report --from YYYY-MM-DD --to YYYY-MM-DD [options]\n"
    "\n"
    "Reads the audit topic and the dead-letter topic from the beginning (read_committed, to\n"
    "the end each partition has when it is read) and prints the figures of the period: the\n"
    "local (Europe/London) days from --from up to, not including, --to. Appointments and\n"
    "was-not-brought per 1,000 by agency; notifications by the breakdown, their share\n"
    "acknowledged within respond-by and the median and 90th percentile time to acknowledge;\n"
    "by rule and tier; escalations by rung; withdrawals by reason; events without an NHS\n"
    "number by source; parked identities; dead letters by reason. docs/reporting.md says\n"
    "what each figure means.\n"
    "\n"
    "      --from DATE         the first local day of the period\n"
    "      --to DATE           the local day after the period (not included)\n"
    "      --by WHAT           the notifications' breakdown: agency, rule (default), tier,\n"
    "                          organisation\n"
    "  -f, --format csv|html   csv (default: one figure a line) or html (one page with charts,\n"
    "                          no script, nothing fetched)\n"
    "  -o, --output FILE       write there (default: stdout)\n"
    "  -c, --config FILE       the daemon's configuration (topics, Kafka)\n"
    "      --bootstrap H:P     the Kafka bootstrap servers\n";

typedef struct nb__report_run_s {
    nb_report_t *rep;
    nb_codec_t *codec;
    bool fast;        /* the fast reader may read schema 9 */
    nb_record_t *rec; /* the codec's record, for what the fast reader leaves */
    uint64_t n, slow; /* records read; of them decoded by the codec */
    uint64_t bad;     /* records neither could read */
    long by_err[NB_ERR__COUNT];
    nb_err_t err; /* out of memory */
} nb__report_run_t;

/* One AuditRecord: the fast reader, else the codec. A record neither reads is counted by its
 * error code and reported by its place (never its content). */
static int nb__report_audit(void *opaque, const char *topic, const char *key, const void *value,
                            size_t len, int64_t timestamp, const nb_record_meta_t *meta)
{
    nb__report_run_t *run = opaque;
    run->n++;
    nb_report_rec_t rec;
    if (run->fast && nb_report_read(value, len, &rec) == NB_ERR_OK) {
        run->err = nb_report_add(run->rep, &rec);
        return run->err ? 1 : 0;
    }
    char errstr[256];
    nb_err_t err = nb_stream_audit_decode(run->codec, value, len, run->rec, errstr, sizeof(errstr));
    if (err) {
        if (run->bad < 10)
            fprintf(stderr,
                    "notbrought report: %s partition %d: an audit record cannot be read: %s\n",
                    topic, meta ? (int)meta->partition : -1, nb_err_name(err));
        run->bad++;
        run->by_err[err < NB_ERR__COUNT ? err : 0]++;
        return 0;
    }
    run->slow++;
    run->err = nb_report_add_audit(run->rep, &run->rec->u.audit);
    return run->err ? 1 : 0;
}

/* One dead letter: its reason is the nb.error.code header. */
static int nb__report_dead(void *opaque, const char *topic, const char *key, const void *value,
                           size_t len, int64_t timestamp, const nb_record_meta_t *meta)
{
    nb__report_run_t *run = opaque;
    char code[64] = "";
    for (size_t i = 0; meta && i < meta->n_headers; i++)
        if (strcmp(meta->headers[i].name, "nb.error.code") == 0 && meta->headers[i].value) {
            size_t n =
                meta->headers[i].len < sizeof(code) - 1 ? meta->headers[i].len : sizeof(code) - 1;
            memcpy(code, meta->headers[i].value, n);
            code[n] = '\0';
        }
    /* A code is one of ours (nb_err_name()); anything else is not shown as it came. */
    if (code[0] && nb_err_from_name(code) == NB_ERR__COUNT)
        snprintf(code, sizeof(code), "unknown");
    run->err = nb_report_add_dead_letter(run->rep, code, timestamp);
    return run->err ? 1 : 0;
}

/* The UTC instant of local (Europe/London) midnight starting @p date. The clocks change at
 * 01:00 UTC, so the offset at 00:00 UTC of the day is the one in force at local midnight. */
static bool nb__local_midnight(const char *date, int64_t *ms)
{
    int32_t days;
    if (!nb_parse_date(date, &days))
        return false;
    int64_t utc = (int64_t)days * 86400000LL;
    *ms = utc - nb_policy_london_offset(utc);
    return true;
}

/* Kafka settings for reading a long topic fast, unless the configuration sets them. */
NB_NODISCARD static nb_err_t nb__report_fetch_props(nb_config_t *conf)
{
    static const char *const props[][2] = {{"fetch.max.bytes", "104857600"},
                                           {"max.partition.fetch.bytes", "16777216"},
                                           {"queued.max.messages.kbytes", "262144"},
                                           {"queued.min.messages", "1000000"}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        bool set = false;
        for (size_t k = 0; k < conf->n_kafka_props; k++)
            set = set || strcmp(conf->kafka_props[k].key, props[i][0]) == 0;
        if (set || conf->n_kafka_props == NB_CONFIG_MAX_PROPS)
            continue;
        nb_kv_t *kv = &conf->kafka_props[conf->n_kafka_props];
        kv->key = strdup(props[i][0]);
        kv->value = strdup(props[i][1]);
        if (!kv->key || !kv->value) {
            free(kv->key);
            free(kv->value);
            return NB_ERR_NOMEM;
        }
        conf->n_kafka_props++;
    }
    return NB_ERR_OK;
}

typedef struct nb__report_args_s {
    const char *from, *to, *cfg, *bootstrap, *output;
    nb_report_by_t by;
    bool html;
} nb__report_args_t;

/* @returns -1 to go on, else the exit status. */
static int nb__report_args(int argc, char **argv, nb__report_args_t *a)
{
    static const struct option longopts[] = {{"from", required_argument, NULL, 'F'},
                                             {"to", required_argument, NULL, 'T'},
                                             {"by", required_argument, NULL, 'b'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'F':
            a->from = optarg;
            break;
        case 'T':
            a->to = optarg;
            break;
        case 'b':
            if (!nb_report_by_parse(optarg, &a->by)) {
                fprintf(stderr, "notbrought report: --by takes agency, rule, tier or "
                                "organisation\n");
                return NB_EXIT_USAGE;
            }
            break;
        case 'f':
            if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "html") != 0) {
                fprintf(stderr, "notbrought report: --format takes csv or html\n");
                return NB_EXIT_USAGE;
            }
            a->html = strcmp(optarg, "html") == 0;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'c':
            a->cfg = optarg;
            break;
        case 'B':
            a->bootstrap = optarg;
            break;
        case 'h':
            fputs(nb__report_help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(nb__report_help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (optind != argc || !a->from || !a->to) {
        fputs(nb__report_help, stderr);
        return NB_EXIT_USAGE;
    }
    return -1;
}

/* Writes the rendered report to the output. @returns an exit status. */
static int nb__report_write(const nb__report_args_t *a, const nb_report_t *rep)
{
    nb_buf_t out = {0};
    if (a->html) {
        char generated[32];
        nb_format_time(nb__cli_now(), generated, sizeof(generated));
        nb_report_html(rep, a->from, a->to, generated, &out);
    } else {
        nb_report_csv(rep, a->from, a->to, &out);
    }
    if (out.err) {
        nb_buf_free(&out);
        fprintf(stderr, "notbrought report: out of memory\n");
        return NB_EXIT_SOFTWARE;
    }
    FILE *fp = a->output ? fopen(a->output, "w") : stdout;
    bool ok = fp && fwrite(out.data, 1, out.len, fp) == out.len;
    if (fp && fp != stdout)
        ok = fclose(fp) == 0 && ok;
    else if (fp)
        ok = fflush(fp) == 0 && ok;
    nb_buf_free(&out);
    if (!ok) {
        fprintf(stderr, "notbrought report: cannot write %s\n", a->output ? a->output : "stdout");
        return NB_EXIT_SOFTWARE;
    }
    return NB_EXIT_OK;
}

/* Reads both topics into the report. @returns an exit status, or -1 to go on. */
static int nb__report_read(nb_config_t *conf, nb__report_run_t *run)
{
    char errstr[512];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nb_err_t err = nb_stream_consume_meta(conf, conf->audit_topic, 0, 10000, true, nb__report_audit,
                                          run, errstr, sizeof(errstr));
    uint64_t audit = run->n;
    if (!err && !run->err)
        err = nb_stream_consume_meta(conf, conf->dead_letter_topic, 0, 10000, true, nb__report_dead,
                                     run, errstr, sizeof(errstr));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (err) {
        fprintf(stderr, "notbrought report: %s\n", errstr);
        return NB_EXIT_SOFTWARE;
    }
    if (run->err) {
        fprintf(stderr, "notbrought report: %s\n", nb_err_str(run->err));
        return NB_EXIT_SOFTWARE;
    }
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    nb_report_counts_t c;
    nb_report_counts(run->rep, &c);
    fprintf(stderr,
            "notbrought report: %llu audit records (%llu by the codec, %llu unreadable), %llu "
            "dead letters, read in %.1f s\n",
            (unsigned long long)audit, (unsigned long long)run->slow, (unsigned long long)run->bad,
            (unsigned long long)c.dead_letters, s);
    for (int e = 0; e < NB_ERR__COUNT; e++)
        if (run->by_err[e])
            fprintf(stderr, "notbrought report: %ld unreadable audit records: %s\n", run->by_err[e],
                    nb_err_name((nb_err_t)e));
    return -1;
}

int nb__cmd_report(int argc, char **argv)
{
    nb__report_args_t a = {NULL, NULL, NULL, NULL, NULL, NB_REPORT_BY_RULE, false};
    int rc = nb__report_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    int64_t from, to;
    if (!nb__local_midnight(a.from, &from) || !nb__local_midnight(a.to, &to) || to <= from) {
        fprintf(stderr, "notbrought report: --from and --to take dates (YYYY-MM-DD), --to "
                        "after --from\n");
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("report", a.cfg, a.bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    nb_registry_t *reg = NULL;
    nb__report_run_t run = {0};
    rc = NB_EXIT_SOFTWARE;
    if (nb__report_fetch_props(conf) != NB_ERR_OK ||
        nb__cli_codec_dir(conf->schemas_dir[0] ? conf->schemas_dir : NULL, &reg, &run.codec)) {
        fprintf(stderr, "notbrought report: cannot start: out of memory or no codec\n");
        goto done;
    }
    char errstr[256];
    run.fast = nb_report_reader_check(reg, NB_REPORT_READER_SCHEMA_ID, errstr, sizeof(errstr));
    if (!run.fast)
        fprintf(stderr, "notbrought report: every record through the codec: %s\n", errstr);
    run.rec = malloc(sizeof(*run.rec));
    run.rep = nb_report_new(from, to, a.by);
    if (!run.rec || !run.rep) {
        fprintf(stderr, "notbrought report: out of memory\n");
        goto done;
    }
    rc = nb__report_read(conf, &run);
    if (rc >= 0)
        goto done;
    if (nb_report_finish(run.rep) != NB_ERR_OK) {
        fprintf(stderr, "notbrought report: out of memory\n");
        rc = NB_EXIT_SOFTWARE;
        goto done;
    }
    rc = nb__report_write(&a, run.rep);
    if (rc == NB_EXIT_OK && run.bad)
        rc = NB_EXIT_FAILURE; /* figures without the records that could not be read */
done:
    nb_report_destroy(run.rep);
    free(run.rec);
    if (reg)
        nb__cli_codec_free(reg, run.codec);
    nb_config_destroy(conf);
    return rc;
}
