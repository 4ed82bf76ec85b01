/*
 * notbrought ingest mllp | fhir | all: the HL7 v2 and FHIR R4 adapters. Each ingest.mllp
 * listener takes its source's messages over MLLP, each ingest.fhir listener its resources
 * over HTTP; each maps with the source's mapping (the feed module) and publishes what it maps
 * to (the ingest module), answering only once Kafka has it. One process, one loop, serves the
 * listeners of the sections the word names (all: both).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "notbrought/feed.h"
#include "notbrought/fhir.h"
#include "notbrought/ingest.h"
#include "notbrought/ops.h"

static volatile sig_atomic_t nb__ingest_stop;

static void nb__ingest_on_stop(int sig)
{
    (void)sig;
    nb__ingest_stop = 1;
}

/* One source: its mapping and the result holder its messages are mapped into (the ingest
 * loop is one thread, so one holder per source is enough). */
typedef struct nb__source_s {
    nb_feed_mapping_t *mapping;
    nb_feed_out_t *out;
} nb__source_t;

/* The ingest module's mapper contract (ingest.h) over the feed module's HL7 v2 mapper. */
NB_NODISCARD static nb_err_t nb__feed_map(void *opaque, const char *source, const char *msg,
                                          size_t len, int64_t now_ms, nb_ingest_result_t *r)
{
    nb__source_t *s = opaque;
    (void)source;
    (void)now_ms; /* the mapper reads no clock: times come from the message */
    _Static_assert(NB_FEED_MAX_RECORDS <= NB_INGEST_MAX_RECORDS, "a mapped message must fit");
    _Static_assert(NB_FEED_CODE_MAX <= NB_INGEST_CODE_MAX && NB_FEED_TEXT_MAX <= NB_INGEST_TEXT_MAX,
                   "a refusal's code and text must fit");
    nb_err_t err = nb_feed_hl7(s->mapping, msg, len, s->out);
    if (err == NB_ERR_INVALID_ARG)
        return err; /* not a message at all: the server answers AR */
    nb_ingest_result_reset(r);
    if (s->out->outcome == NB_FEED_REFUSED) {
        nb_ingest_result_refuse(r, s->out->ack, s->out->err, s->out->code, s->out->text);
        return NB_ERR_OK;
    }
    r->outcome = s->out->outcome == NB_FEED_MAPPED ? NB_INGEST_PUBLISH : NB_INGEST_IGNORE;
    r->n_records = s->out->n_records;
    memcpy(r->records, s->out->records, r->n_records * sizeof(r->records[0]));
    snprintf(r->text, sizeof(r->text), "%s", s->out->text);
    return NB_ERR_OK;
}

/* The ingest module's FHIR mapper contract over the feed module's FHIR mapper. */
NB_NODISCARD static nb_err_t nb__feed_map_fhir(void *opaque, const char *source,
                                               const nb_fhir_resource_t *res, const char *where,
                                               int64_t now_ms, nb_ingest_result_t *r)
{
    nb__source_t *s = opaque;
    (void)source;
    nb_err_t err = nb_feed_fhir(s->mapping, res, where, now_ms, s->out);
    if (err == NB_ERR_INVALID_ARG)
        return err;
    nb_ingest_result_reset(r);
    snprintf(r->issue, sizeof(r->issue), "%s", s->out->issue_code);
    snprintf(r->expression, sizeof(r->expression), "%s", s->out->expression);
    if (s->out->outcome == NB_FEED_REFUSED) {
        nb_ingest_result_refuse(r, NB_HL7_AE, s->out->err, s->out->code, s->out->text);
        return NB_ERR_OK;
    }
    r->outcome = s->out->outcome == NB_FEED_MAPPED ? NB_INGEST_PUBLISH : NB_INGEST_IGNORE;
    r->n_records = s->out->n_records;
    memcpy(r->records, s->out->records, r->n_records * sizeof(r->records[0]));
    snprintf(r->text, sizeof(r->text), "%s", s->out->text);
    return NB_ERR_OK;
}

static void nb__sources_free(nb__source_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        nb_feed_mapping_free(src[i].mapping);
        nb_feed_out_destroy(src[i].out);
    }
}

/* Loads every listener's mapping (those of ingest.mllp, then of ingest.fhir); false after
 * printing what is wrong (*rc the exit status). */
static bool nb__sources_load(const nb_config_t *conf, nb__source_t *src, nb_ingest_mapper_t *map,
                             int *rc)
{
    for (size_t i = 0; i < conf->n_mllp + conf->n_fhir; i++) {
        bool fhir = i >= conf->n_mllp;
        const nb_mllp_conf_t *l = fhir ? &conf->fhir[i - conf->n_mllp] : &conf->mllp[i];
        const char *sect = fhir ? "ingest.fhir" : "ingest.mllp";
        if (!l->mapping || !l->mapping[0]) {
            fprintf(stderr,
                    "notbrought ingest: %s %s (line %d): mapping: the source's mapping "
                    "file is required\n",
                    sect, l->name, l->line);
            *rc = NB_EXIT_FAILURE;
            return false;
        }
        if (!(src[i].mapping = nb__mapping_load(l->mapping, rc)))
            return false;
        if (fhir ? !nb_feed_mapping_has_fhir(src[i].mapping)
                 : !nb_feed_mapping_has_hl7v2(src[i].mapping)) {
            fprintf(stderr, "notbrought ingest: %s %s (line %d): mapping %s has no %s section\n",
                    sect, l->name, l->line, l->mapping, fhir ? "fhir" : "hl7v2");
            *rc = NB_EXIT_FAILURE;
            return false;
        }
        if (!(src[i].out = nb_feed_out_new())) {
            fprintf(stderr, "notbrought ingest: out of memory\n");
            *rc = NB_EXIT_SOFTWARE;
            return false;
        }
        map[i] = (nb_ingest_mapper_t){fhir ? NULL : nb__feed_map, &src[i],
                                      fhir ? nb__feed_map_fhir : NULL};
    }
    return true;
}

/* Metrics and health on ops.http_port, when configured. False after printing why not. */
static bool nb__ingest_http(const nb_config_t *conf, nb_metrics_t *m, nb_http_t **http)
{
    char errstr[512];
    if (conf->http_port <= 0)
        return true;
    nb_http_conf_t hc = {conf->http_bind,
                         conf->http_port,
                         0,
                         NULL,
                         NULL,
                         conf->http_max_connections,
                         conf->http_max_connections_per_ip,
                         conf->http_timeout_s};
    if (!(*http = nb_http_new(m, &hc, errstr, sizeof(errstr)))) {
        fprintf(stderr, "notbrought ingest: %s\n", errstr);
        return false;
    }
    NB_LOG(NB_LOG_INFO, "http", "metrics and health on port %d", nb_http_port(*http));
    return true;
}

static int nb__ingest_serve(const nb_config_t *conf, const nb_ingest_mapper_t *map)
{
    char errstr[1024];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = nb__ingest_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    nb_metrics_t *m = nb_metrics_new();
    nb_http_t *http = NULL;
    if (!m) {
        fprintf(stderr, "notbrought ingest: out of memory\n");
        return NB_EXIT_SOFTWARE;
    }
    nb_ingest_t *in = nb_ingest_new(conf, map, m, errstr, sizeof(errstr));
    if (!in) {
        fprintf(stderr, "notbrought ingest: %s\n", errstr);
        nb_metrics_destroy(m);
        return NB_EXIT_FAILURE;
    }
    if (!nb__ingest_http(conf, m, &http)) {
        nb_ingest_destroy(in);
        nb_metrics_destroy(m);
        return NB_EXIT_SOFTWARE;
    }
    for (size_t i = 0; i < conf->n_mllp; i++)
        NB_LOG(NB_LOG_INFO, "ingest", "listening for %s on %s port %d", conf->mllp[i].name,
               conf->mllp[i].bind, nb_ingest_port(in, i));
    for (size_t i = 0; i < conf->n_fhir; i++)
        NB_LOG(NB_LOG_INFO, "ingest", "listening for %s (FHIR) on %s port %d", conf->fhir[i].name,
               conf->fhir[i].bind, nb_ingest_fhir_port(in, i));
    nb_err_t err = nb_ingest_run(in, &nb__ingest_stop);
    nb_http_destroy(http);
    nb_ingest_destroy(in); /* before the registry it reports to */
    nb_metrics_destroy(m);
    if (err) {
        fprintf(stderr, "notbrought ingest: %s\n", nb_err_str(err));
        return NB_EXIT_SOFTWARE;
    }
    return NB_EXIT_OK;
}

/* Serves (or, with @p check, checks) the listeners of the sections @p word names: the other
 * section's count is set aside, and put back before the configuration is freed. */
static int nb__ingest_sections(nb_config_t *conf, const char *word, bool check)
{
    size_t n_mllp = conf->n_mllp, n_fhir = conf->n_fhir;
    if (strcmp(word, "fhir") == 0)
        conf->n_mllp = 0;
    if (strcmp(word, "mllp") == 0)
        conf->n_fhir = 0;
    int rc = NB_EXIT_OK;
    if (conf->n_mllp + conf->n_fhir == 0) {
        fprintf(stderr, "notbrought ingest: configuration: ingest.%s: no listener is configured\n",
                word);
        rc = NB_EXIT_FAILURE;
    }
    nb__source_t src[2 * NB_CONFIG_MAX_LISTENERS];
    nb_ingest_mapper_t map[2 * NB_CONFIG_MAX_LISTENERS];
    memset(src, 0, sizeof(src));
    if (rc == NB_EXIT_OK && nb__sources_load(conf, src, map, &rc)) {
        size_t n = conf->n_mllp + conf->n_fhir;
        if (check)
            printf("configuration and %zu mapping%s are valid\n", n, n == 1 ? "" : "s");
        else
            rc = nb__ingest_serve(conf, map);
    }
    nb__sources_free(src, conf->n_mllp + conf->n_fhir);
    conf->n_mllp = n_mllp;
    conf->n_fhir = n_fhir;
    return rc;
}

int nb__cmd_ingest(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"check-config", no_argument, NULL, 'C'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static const char help[] =
        "usage: notbrought ingest mllp|fhir|all --config FILE [--bootstrap HOST:PORT]\n"
        "                                          [--check-config]\n"
        "       notbrought ingest csv FILE --mapping FILE --config FILE --topic TOPIC ...\n"
        "       (notbrought ingest csv --help: a CSV extract, resumable)\n\n"
        "mllp serves the ingest.mllp listeners, fhir the ingest.fhir ones, all both, from one\n"
        "loop. FHIR: POST /fhir/<name>/Appointment, /Encounter, or a Bundle to /fhir/<name>\n"
        "(JSON or XML): 201/200 once Kafka has the events, 400/422 with an OperationOutcome\n"
        "naming the path (after the dead letter), 503 when Kafka did not acknowledge (resend).\n\n"
        "Receives HL7 v2 messages over MLLP on every ingest.mllp listener of the configuration\n"
        "(TLS with client certificates where configured), maps each with its source's mapping\n"
        "(see 'notbrought mapping') and publishes the events to the listener's topic and\n"
        "identity links to topics.links. Each message is answered in order: AA once Kafka has\n"
        "acknowledged everything it maps to; AE or AR with the reason for a message that\n"
        "cannot be mapped (the raw message goes to topics.dead_letters first); AR \"resend\"\n"
        "when Kafka did not acknowledge in ingest.delivery_timeout_ms. SIGTERM/SIGINT stop\n"
        "taking messages and answer those in flight. No HMAC key is needed.\n\n"
        "  --check-config   validate the configuration and every listener's mapping, then exit\n\n"
        "See docs/mllp.md, docs/fhir.md and docs/integration.md.\n";
    const char *cfg = NULL, *bootstrap = NULL;
    bool check = false;
    int c;
    if (argc >= 2 && strcmp(argv[1], "csv") == 0)
        return nb__cmd_ingest_csv(argc - 1, argv + 1);
    const char *word = argc >= 2 ? argv[1] : "";
    if (strcmp(word, "mllp") != 0 && strcmp(word, "fhir") != 0 && strcmp(word, "all") != 0) {
        if (nb__wants_help(argc, argv)) {
            fputs(help, stdout);
            return NB_EXIT_OK;
        }
        fputs(help, stderr);
        return NB_EXIT_USAGE;
    }
    argc--;
    argv++;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case 'B':
            bootstrap = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'h':
            fputs(help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (optind != argc || !cfg) {
        fputs(help, stderr);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("ingest", cfg, bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    char errstr[4096];
    if (nb_config_validate_ingest(conf, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought ingest: configuration:\n%s\n", errstr);
        nb_config_destroy(conf);
        return NB_EXIT_FAILURE;
    }
    int rc = nb__ingest_sections(conf, word, check);
    nb_config_destroy(conf);
    return rc;
}
