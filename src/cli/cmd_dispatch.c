/*
 * notbrought dispatch: the inbox's dispatcher (docs/inbox.md §4). A process of its own that
 * reads topics.notifications in its own consumer group and tells the people whose route is
 * `webhook:NAME` or `email:NAME` of a new, escalated, reminded or withdrawn notification: a
 * signed HTTPS POST or an email through the SMTP relay, carrying the reference and a link,
 * never the child's details. The deliver module does the work.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "notbrought/deliver.h"
#include "notbrought/ops.h"

extern char **environ;

static volatile sig_atomic_t nb__dispatch_stop;

static void nb__dispatch_on_stop(int sig)
{
    (void)sig;
    nb__dispatch_stop = 1;
}

static const char nb__dispatch_help[] =
    "usage: notbrought dispatch --config FILE [--bootstrap HOST:PORT] [--check-config]\n\n"
    "Reads topics.notifications (read_committed) in its own consumer group\n"
    "(dispatch.group_id, default <kafka.group_id>-dispatch) and delivers each new, escalated,\n"
    "reminder and withdrawn notification to the recipients whose policy route is\n"
    "webhook:NAME (an HTTPS POST of a small JSON body, signed: X-Notbrought-Signature:\n"
    "t=<unix>,v1=<HMAC-SHA256 hex of \"<t>.<body>\">, Idempotency-Key: <notification id>) or\n"
    "email:NAME (plain text through dispatch.smtp_url), NAME being an endpoint of\n"
    "dispatch.webhooks or dispatch.email. Neither carries the child's NHS number, name, date\n"
    "of birth or evidence: the reference, the kind, the tier, the rule, the respond-by and a\n"
    "link into the inbox (dispatch.inbox_url).\n\n"
    "5xx, 408, 429 and network errors are retried with exponential backoff\n"
    "(dispatch.backoff_base_ms, doubling up to dispatch.backoff_max_ms) for up to\n"
    "dispatch.give_up_ms; another 4xx (a 5yz from the SMTP relay) is a permanent refusal.\n"
    "Refusals and give-ups are logged (error) and counted, never dropped silently. A\n"
    "notification's offset is committed only when all its deliveries are finished, so a\n"
    "restart (even kill -9) sends again at most what was not confirmed: at least once.\n"
    "Metrics and health on ops.http_port when set. SIGTERM/SIGINT stop it.\n\n"
    "  --check-config   validate the configuration and read every secret, then exit\n\n"
    "See docs/inbox.md §4 (how a receiver verifies a signature) and docs/configuration.md.\n";

static bool nb__dispatch_http(const nb_config_t *conf, nb_metrics_t *m, nb_http_t **http)
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
        fprintf(stderr, "notbrought dispatch: %s\n", errstr);
        return false;
    }
    NB_LOG(NB_LOG_INFO, "http", "metrics and health on port %d", nb_http_port(*http));
    return true;
}

static int nb__dispatch_serve(const nb_config_t *conf, bool check)
{
    char errstr[1024];
    nb_metrics_t *m = nb_metrics_new();
    nb_http_t *http = NULL;
    if (!m) {
        fprintf(stderr, "notbrought dispatch: out of memory\n");
        return NB_EXIT_SOFTWARE;
    }
    nb_deliver_t *d = nb_deliver_new(conf, environ, m, errstr, sizeof(errstr));
    if (!d) {
        fprintf(stderr, "notbrought dispatch: %s\n", errstr);
        nb_metrics_destroy(m);
        return NB_EXIT_FAILURE;
    }
    if (check) {
        printf("configuration and %zu endpoint%s are valid\n",
               conf->dispatch.n_webhooks + conf->dispatch.n_email,
               conf->dispatch.n_webhooks + conf->dispatch.n_email == 1 ? "" : "s");
        nb_deliver_destroy(d);
        nb_metrics_destroy(m);
        return NB_EXIT_OK;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = nb__dispatch_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = NB_EXIT_SOFTWARE;
    if (nb__dispatch_http(conf, m, &http))
        rc = nb_deliver_run(d, &nb__dispatch_stop) ? NB_EXIT_SOFTWARE : NB_EXIT_OK;
    nb_http_destroy(http);
    nb_deliver_destroy(d); /* before the registry it reports to */
    nb_metrics_destroy(m);
    return rc;
}

int nb__cmd_dispatch(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"check-config", no_argument, NULL, 'C'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *cfg = NULL, *bootstrap = NULL;
    bool check = false;
    int c;
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
            fputs(nb__dispatch_help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(nb__dispatch_help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (optind != argc || !cfg) {
        fputs(nb__dispatch_help, stderr);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("dispatch", cfg, bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    char errstr[4096];
    if (nb_config_validate_dispatch(conf, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought dispatch: configuration:\n%s\n", errstr);
        nb_config_destroy(conf);
        return NB_EXIT_FAILURE;
    }
    int rc = nb__dispatch_serve(conf, check);
    nb_config_destroy(conf);
    return rc;
}
