/*
 * notbrought inbox: the safeguarding inbox's web server (docs/inbox.md). It serves signing in
 * and the list of a user's open notifications from a view fed from the notifications and
 * audit topics (nb_inbox_feed_start(): read from their beginning, then followed), or, with
 * --demo-view N, from N made-up notifications and no Kafka, so that the pages can be tried.
 * `notbrought inbox passwd` makes a password hash for the users file.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/inbox_backend.h"
#include "notbrought/inbox.h"
#include "notbrought/ops.h"
#include "notbrought/stream.h"
#include "notbrought/web.h"

static const char nb__inbox_help[] =
    "usage: notbrought inbox --config FILE [--bootstrap HOST:PORT] [--demo-view N]\n"
    "                        [--check-config]\n"
    "       notbrought inbox passwd\n"
    "\n"
    "Serves the safeguarding inbox (the configuration's inbox: section) until SIGTERM or\n"
    "SIGINT: sign-in with the users file or a trusted proxy's header, and each user's open\n"
    "notifications of their queues. The view is read from the notifications and audit topics\n"
    "(from their beginning, then following them; read_committed); --bootstrap overrides\n"
    "kafka.bootstrap_servers. --demo-view N reads no Kafka and fills the view with N made-up\n"
    "notifications on the queues queue:cav-health-visiting-duty, queue:cav-school-nursing and\n"
    "queue:cav-safeguarding-team, for trying the pages.\n"
    "--check-config checks the configuration and the users file and exits.\n"
    "\n"
    "passwd reads a password from standard input (twice, without echo, on a terminal; the\n"
    "first line otherwise) and prints its Argon2id hash for the users file's password_hash.\n";

static volatile sig_atomic_t nb__inbox_stop;

static void nb__inbox_on_stop(int sig)
{
    (void)sig;
    nb__inbox_stop = 1;
}

/* ---- passwd -------------------------------------------------------------------------------- */

/* Reads one line of at most size - 1 bytes, without its line end. @returns its length, or -1
 * at end of input or for a longer line. */
static long nb__read_line(FILE *in, char *buf, size_t size)
{
    if (!fgets(buf, (int)size, in))
        return -1;
    size_t n = strlen(buf);
    bool end = n && buf[n - 1] == '\n';
    if (!end && !feof(in))
        return -1;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return (long)n;
}

static long nb__prompt(const char *what, char *buf, size_t size, bool tty)
{
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", what);
        fflush(stderr);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    long n = nb__read_line(stdin, buf, size);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    return n;
}

static int nb__inbox_passwd(void)
{
    char pw[1026], again[1026], hash[NB_WEB_HASH_MAX + 1];
    bool tty = isatty(STDIN_FILENO);
    int rc = NB_EXIT_OK;
    long n = nb__prompt("Password: ", pw, sizeof(pw), tty);
    if (n <= 0 || n > 1024) {
        fprintf(stderr, "notbrought inbox passwd: expected a password of 1 to 1024 bytes on "
                        "one line\n");
        return NB_EXIT_FAILURE;
    }
    if (tty && (nb__prompt("Again: ", again, sizeof(again), tty) != n ||
                memcmp(pw, again, (size_t)n) != 0)) {
        fprintf(stderr, "notbrought inbox passwd: the two passwords differ\n");
        rc = NB_EXIT_FAILURE;
    } else if (nb_web_password_hash(pw, (size_t)n, hash)) {
        fprintf(stderr, "notbrought inbox passwd: out of memory\n");
        rc = NB_EXIT_SOFTWARE;
    } else {
        printf("%s\n", hash);
    }
    memset(pw, 0, sizeof(pw));
    memset(again, 0, sizeof(again));
    return rc;
}

/* ---- the demo view ------------------------------------------------------------------------- */

static const char *const nb__demo_queues[] = {
    "queue:cav-health-visiting-duty", "queue:cav-school-nursing", "queue:cav-safeguarding-team"};
static const char *const nb__demo_rules[] = {"hv_missed_under1", "school_nurse_wnb_twice",
                                             "plan_wnb_urgent", "new_birth_visit_overdue"};

/* N made-up notifications: no real child, NHS number or name (the view keeps none anyway). */
static bool nb__demo_fill(nb_inbox_t *v, long n, int64_t now)
{
    nb_notification_t *nt = calloc(1, sizeof(*nt));
    if (!nt)
        return false;
    for (long i = 0; i < n; i++) {
        memset(nt, 0, sizeof(*nt));
        nt->kind = NB_NOTIFICATION_NEW;
        snprintf(nt->notification_id, sizeof(nt->notification_id), "demo-%08ld", i);
        snprintf(nt->reference, sizeof(nt->reference), "WNB-D%03lX-%04lX", (i >> 16) & 0xfff,
                 i & 0xffff);
        snprintf(nt->child_key, sizeof(nt->child_key), "%064lx", (unsigned long)(i * 7919 + 1));
        snprintf(nt->rule_id, sizeof(nt->rule_id), "%s", nb__demo_rules[i % 4]);
        nt->tier = (nb_tier_t)(i % NB_TIER__COUNT);
        nt->created_at = now - (int64_t)(i % 96) * 3600000;
        nt->respond_by = now + ((int64_t)(i % 9) - 3) * 6 * 3600000; /* some overdue */
        nt->age_months = -1;
        nt->n_recipients = 1;
        snprintf(nt->recipients[0].route, sizeof(nt->recipients[0].route), "%s",
                 nb__demo_queues[i % 3]);
        if (nb_inbox_notification(v, nt, (nb_inbox_where_t){0, i})) {
            free(nt);
            return false;
        }
    }
    free(nt);
    return true;
}

/* ---- serving ------------------------------------------------------------------------------- */

static int nb__inbox_serve(const nb_config_t *conf, const nb_web_users_t *users, long demo)
{
    char errstr[1024];
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    nb_inbox_t *view = nb_inbox_new();
    if (!view || !nb__demo_fill(view, demo, nb__cli_now())) {
        fprintf(stderr, "notbrought inbox: out of memory\n");
        nb_inbox_destroy(view);
        return NB_EXIT_SOFTWARE;
    }
    nb_inbox_feed_t *feed = NULL;
    nb__inbox_backend_t be;
    memset(&be, 0, sizeof(be));
    if (demo == 0 && (nb__inbox_backend_init(&be, conf) ||
                      !(feed = nb_inbox_feed_start(conf, view, &lock, errstr, sizeof(errstr))))) {
        if (be.conf)
            fprintf(stderr, "notbrought inbox: reading the topics: %s\n", errstr);
        nb__inbox_backend_free(&be);
        nb_inbox_destroy(view);
        return NB_EXIT_FAILURE;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = nb__inbox_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    nb_web_t *w = nb_web_new(conf, users, (nb_web_view_t){view, &lock}, demo == 0 ? &be.web : NULL,
                             errstr, sizeof(errstr));
    if (!w) {
        fprintf(stderr, "notbrought inbox: %s\n", errstr);
        nb_inbox_feed_stop(feed);
        nb__inbox_backend_free(&be);
        nb_inbox_destroy(view);
        return NB_EXIT_SOFTWARE; /* the configuration was checked: the port or the TLS files */
    }
    NB_LOG(NB_LOG_INFO, "inbox",
           "serving %s on %s port %d (%zu users in the users file, %ld "
           "demo notifications)",
           nb_web_tls(w) ? "https" : "http", conf->inbox_bind, nb_web_port(w),
           nb_web_users_count(users), demo);
    /* Waits for a signal without a window between the check and the wait. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    while (!nb__inbox_stop)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    NB_LOG(NB_LOG_INFO, "inbox", "stopping");
    nb_web_destroy(w);
    nb_inbox_feed_stop(feed);
    nb__inbox_backend_free(&be);
    nb_inbox_destroy(view);
    pthread_mutex_destroy(&lock);
    return NB_EXIT_OK;
}

int nb__cmd_inbox(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"demo-view", required_argument, NULL, 'd'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"check-config", no_argument, NULL, 'k'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *cfg = NULL, *bootstrap = NULL;
    long demo = 0;
    bool check = false;
    int c;
    char *end;
    if (argc >= 2 && strcmp(argv[1], "passwd") == 0) {
        if (nb__wants_help(argc, argv)) {
            fputs(nb__inbox_help, stdout);
            return NB_EXIT_OK;
        }
        return argc == 2 ? nb__inbox_passwd() : (fputs(nb__inbox_help, stderr), NB_EXIT_USAGE);
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case 'd':
            demo = strtol(optarg, &end, 10);
            if (!*optarg || *end || demo < 0 || demo > 1000000) {
                fprintf(stderr, "notbrought inbox: --demo-view: expected 0 to 1000000\n");
                return NB_EXIT_USAGE;
            }
            break;
        case 'k':
            check = true;
            break;
        case 'B':
            bootstrap = optarg;
            break;
        case 'h':
            fputs(nb__inbox_help, stdout);
            return NB_EXIT_OK;
        default:
            fputs(nb__inbox_help, stderr);
            return NB_EXIT_USAGE;
        }
    }
    if (!cfg || optind != argc) {
        fputs(nb__inbox_help, stderr);
        return NB_EXIT_USAGE;
    }
    char errstr[4096];
    nb_web_users_t *users = NULL;
    nb_config_t *conf = nb__load_config("inbox", cfg, bootstrap, false);
    if (!conf)
        return NB_EXIT_FAILURE;
    int rc = NB_EXIT_OK;
    if (nb_web_check_config(conf, errstr, sizeof(errstr)) ||
        (conf->inbox_users_file[0] &&
         nb_web_users_load(conf->inbox_users_file, &users, errstr, sizeof(errstr)))) {
        fprintf(stderr, "notbrought inbox: configuration:\n%s\n", errstr);
        rc = NB_EXIT_FAILURE;
    } else if (check) {
        printf("ok: inbox on %s port %d, %s, %zu users%s\n", conf->inbox_bind, conf->inbox_port,
               conf->inbox_tls_cert[0] ? "https" : "http", nb_web_users_count(users),
               conf->inbox_proxy_user_header[0] ? ", proxy sign-in" : "");
    } else {
        rc = nb__inbox_serve(conf, users, demo);
    }
    nb_web_users_destroy(users);
    nb_config_destroy(conf);
    return rc;
}
