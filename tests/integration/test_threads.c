/*
 * integration.threads: SIGTERM, SIGINT and SIGHUP can reach only the thread that runs the
 * daemon. `notbrought run` handles them by setting flags that only its main loop reads, and
 * the kernel gives a signal sent to the process to any thread that does not block it; so
 * every other thread of the process must block the three: the decoder, the committer and the
 * restore threads (nb_thread_create()), librdkafka's, libmicrohttpd's and the embedded
 * broker's.
 *
 * The daemon runs here on the process's main thread, as `notbrought run` runs it, with its
 * HTTP server, on the embedded broker: first over a backlog handled in small batches (commits
 * in the background, records decoded ahead), then again, restoring what the first run
 * changelogged (two restore threads). Meanwhile a sampler thread reads the mask of every thread
 * of the process from /proc/self/task/<tid>/status ("SigBlk") again and again, until the run
 * has done that and read nothing new for 1.5 s; then it stops the daemon. Every thread but the
 * main one must block the three signals at every look; the main thread none of them once the
 * run is over (it blocks them for a moment whenever it starts a thread, and rd_kafka_new()
 * blocks every signal in its caller while it starts its own: a signal sent then waits for the
 * main thread). Short-lived threads (a committer lives for one commit, a restore helper for
 * one restore) are seen when a look falls in their lifetime: the test prints how many of
 * notbrought's own threads it saw. (When this was written, the looks caught every committer
 * and the restart's restore helper: each started with pthread_create() instead failed it.)
 */
#define _GNU_SOURCE /* gettid() */

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "notbrought/cli.h"
#include "notbrought/ops.h"
#include "notbrought/recfile.h"
#include "notbrought/stream.h"

#include "common.h"

#define CHILDREN 120
#define MAX_SEEN 4096

/* The signals the main loop handles, as bits of a SigBlk mask (bit n-1 is signal n). */
static const int main_loop_signals[] = {SIGTERM, SIGINT, SIGHUP};
#define N_MAIN_LOOP_SIGNALS (sizeof(main_loop_signals) / sizeof(main_loop_signals[0]))

typedef struct seen_s {
    pid_t tid;
    char name[32];
} seen_t;

typedef struct sampler_s {
    nb_stream_t *st;
    pid_t main_tid;
    bool restart; /* the second run, which restores the first one's states */
    /* Results, read by the main thread after pthread_join(). */
    pid_t self_tid;
    long looks;            /* scans of /proc/self/task */
    long threads_looked;   /* thread masks read */
    bool finished;         /* the conditions were met before the deadline */
    char offender[256];    /* the first thread seen with a main-loop signal not blocked */
    long main_open;        /* looks that saw the main thread block none of them */
    long main_closed;      /* and all of them: while it started a thread (nb_thread_create(),
                              or rd_kafka_new(), which blocks every signal in its caller) */
    char error[128];       /* the sampler could not look */
    seen_t seen[MAX_SEEN]; /* distinct threads, with the name each had when last seen */
    size_t n_seen;
    nb_stream_stats_t stats;
} sampler_t;

/* Reads a thread's name and blocked-signal mask. @returns false if it has gone meanwhile, or
 * is going: once an exiting thread has let go of its signal handlers (the kernel's
 * __exit_signal()), its status shows every mask empty and "Threads: 0" until it leaves
 * /proc; a short-lived committer caught then would look as if it blocked nothing. */
static bool read_task(pid_t tid, char *name, size_t name_size, unsigned long long *blocked)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool have_name = false, have_mask = false, alive = true;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Name:", 5) == 0) {
            const char *v = line + 5;
            v += strspn(v, " \t");
            snprintf(name, name_size, "%.*s", (int)strcspn(v, "\n"), v);
            have_name = true;
        } else if (strncmp(line, "State:", 6) == 0) {
            const char *v = line + 6;
            v += strspn(v, " \t");
            if (*v == 'X' || *v == 'Z') /* dead, zombie */
                alive = false;
        } else if (strncmp(line, "Threads:", 8) == 0) {
            if (strtol(line + 8, NULL, 10) == 0)
                alive = false;
        } else if (strncmp(line, "SigBlk:", 7) == 0) {
            have_mask = sscanf(line + 7, "%llx", blocked) == 1;
        }
    }
    fclose(f);
    return alive && have_name && have_mask;
}

static bool blocks_all(unsigned long long mask)
{
    for (size_t i = 0; i < N_MAIN_LOOP_SIGNALS; i++)
        if (!(mask >> (main_loop_signals[i] - 1) & 1))
            return false;
    return true;
}

static bool blocks_any(unsigned long long mask)
{
    for (size_t i = 0; i < N_MAIN_LOOP_SIGNALS; i++)
        if (mask >> (main_loop_signals[i] - 1) & 1)
            return true;
    return false;
}

/* A new thread has its creator's name until it names itself (librdkafka's and
 * libmicrohttpd's do, early): the name it had last is the one that says whose it is. */
static void note_seen(sampler_t *s, pid_t tid, const char *name)
{
    size_t i = 0;
    while (i < s->n_seen && s->seen[i].tid != tid)
        i++;
    if (i == MAX_SEEN)
        return;
    s->seen[i].tid = tid;
    snprintf(s->seen[i].name, sizeof(s->seen[i].name), "%s", name);
    if (i == s->n_seen)
        s->n_seen++;
}

/* One look at every thread of the process. @returns false if /proc cannot be read. */
static bool look(sampler_t *s)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) {
        snprintf(s->error, sizeof(s->error), "cannot read /proc/self/task");
        return false;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        char name[32];
        unsigned long long blocked = 0;
        if (tid == s->self_tid || !read_task(tid, name, sizeof(name), &blocked))
            continue;
        s->threads_looked++;
        note_seen(s, tid, name);
        if (tid == s->main_tid) {
            if (!blocks_any(blocked))
                s->main_open++;
            else if (blocks_all(blocked))
                s->main_closed++;
        } else if (!blocks_all(blocked) && !s->offender[0]) {
            snprintf(s->offender, sizeof(s->offender),
                     "thread %d (\"%s\") does not block SIGTERM, SIGINT and SIGHUP "
                     "(SigBlk %016llx)",
                     (int)tid, name, blocked);
        }
    }
    closedir(d);
    s->looks++;
    return true;
}

/* The daemon has done what the run needs it to have done (the first run: decoded ahead and
 * committed in the background; the restart: restored states from the changelog), and handled
 * its input (read nothing new for 1.5 s since). */
static bool enough(const sampler_t *s, const nb_stream_stats_t *st, uint64_t *last_in,
                   int64_t *since)
{
    if (st->records_in != *last_in) {
        *last_in = st->records_in;
        *since = nb_it_now_ms();
    }
    bool did = s->restart
                   ? st->restored > 0
                   : st->records_in > 0 && st->decoded_ahead > 0 && st->commits_background >= 1;
    return did && st->ready && nb_it_now_ms() - *since >= 1500;
}

static void *sampler_main(void *arg)
{
    sampler_t *s = arg;
    s->self_tid = gettid();
    int64_t deadline = nb_it_now_ms() + 300000; /* TSan is slow */
    uint64_t last_in = 0;
    int64_t since = nb_it_now_ms();
    while (nb_it_now_ms() < deadline && look(s)) {
        nb_stream_stats(s->st, &s->stats);
        if (enough(s, &s->stats, &last_in, &since) && look(s)) {
            s->finished = true;
            break;
        }
        nb_it_sleep_ms(1); /* to leave the daemon the CPU between looks */
    }
    nb_stream_stop(s->st); /* not a signal flag: this is another thread */
    return NULL;
}

/* The sample: identity links to their topic, every other record to "events". */
static int write_cb(void *opaque, const char *topic, const char *key, const void *value, size_t len,
                    int64_t ts)
{
    const char *to = strcmp(topic, "identity.links") == 0 ? topic : "events";
    return nb_recfile_write(opaque, to, key, value, len, ts);
}

static void make_sample(const char *path, int64_t now)
{
    char errstr[512];
    nb_registry_t *reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    assert_non_null(codec);
    nb_sample_opts_t opts;
    nb_sample_opts_default(&opts, now);
    opts.children = CHILDREN;
    opts.seed = 7;
    opts.malformed = 0;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(nb_sample_generate(&opts, codec, write_cb, f, errstr, sizeof(errstr)), 0);
    assert_int_equal(fclose(f), 0);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

static size_t count_named(const sampler_t *s, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_seen; i++)
        if (strncmp(s->seen[i].name, prefix, strlen(prefix)) == 0)
            n++;
    return n;
}

/* Runs the daemon on this thread, with its HTTP server, while @p s samples, until the
 * sampler stops it; then checks what the sampler saw. */
static void run_daemon(const nb_config_t *conf, sampler_t *s, const char *what)
{
    char errstr[1024];
    nb_stream_t *st = nb_stream_new(conf, errstr, sizeof(errstr));
    if (!st)
        fail_msg("nb_stream_new: %s", errstr);
    nb_metrics_t *m = nb_metrics_new();
    assert_non_null(m);
    nb_stream_set_metrics(st, m);
    nb_http_conf_t hc = {"127.0.0.1", 0, 0, nb_stream_collect_metrics, st, 0, 0, 0};
    nb_http_t *http = nb_http_new(m, &hc, errstr, sizeof(errstr));
    if (!http)
        fail_msg("nb_http_new: %s", errstr);

    s->st = st;
    s->main_tid = getpid();
    /* The sampler is the test's, not the daemon's: whatever its mask, it is not looked at. */
    pthread_t sampler;
    assert_int_equal(pthread_create(&sampler, NULL, sampler_main, s), 0);
    nb_err_t err = nb_stream_run(st, NULL, NULL);
    assert_int_equal(pthread_join(sampler, NULL), 0);
    sigset_t after;
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
    nb_http_destroy(http);
    nb_stream_destroy(st);
    nb_metrics_destroy(m);

    char main_name[32] = "";
    unsigned long long ignored;
    assert_true(read_task(getpid(), main_name, sizeof(main_name), &ignored));
    size_t ours = 0; /* notbrought's own threads: named after the process, as they inherit */
    for (size_t i = 0; i < s->n_seen; i++)
        if (s->seen[i].tid != s->main_tid && strcmp(s->seen[i].name, main_name) == 0)
            ours++;
    print_message("%s: %ld looks at %ld thread masks: %zu threads seen, of which %zu of "
                  "notbrought's own (decoder, committers, restore helpers), %zu librdkafka's, "
                  "%zu libmicrohttpd's; %llu records in, %llu commits (%llu in the background), "
                  "%llu decoded ahead, %llu states restored; %ld looks saw the main thread "
                  "with them blocked, starting a thread\n",
                  what, s->looks, s->threads_looked, s->n_seen, ours, count_named(s, "rdk:"),
                  count_named(s, "MHD-"), (unsigned long long)s->stats.records_in,
                  (unsigned long long)s->stats.commits,
                  (unsigned long long)s->stats.commits_background,
                  (unsigned long long)s->stats.decoded_ahead, (unsigned long long)s->stats.restored,
                  s->main_closed);
    assert_int_equal(err, NB_ERR_OK);
    if (s->error[0])
        fail_msg("%s", s->error);
    if (!s->finished)
        fail_msg("%s: the daemon did not do what the run is for within 300 s", what);
    if (s->offender[0])
        fail_msg("%s", s->offender);
    for (size_t i = 0; i < N_MAIN_LOOP_SIGNALS; i++)
        if (sigismember(&after, main_loop_signals[i]))
            fail_msg("the main thread blocks signal %d after the run", main_loop_signals[i]);
    assert_true(s->main_open > 0);
    /* The test saw what it is about: the embedded broker's thread, librdkafka's,
     * libmicrohttpd's, and at least the decoder of notbrought's own. */
    assert_true(count_named(s, "rdk:mock") >= 1);
    assert_true(count_named(s, "rdk:main") >= 1);
    assert_true(count_named(s, "MHD-") >= 1);
    assert_true(ours >= 1);
}

static void test_signals_reach_only_the_main_thread(void **state)
{
    (void)state;
    char errstr[1024], path[64];
    int64_t now = nb_it_now_ms();

    /* The main thread takes the signals, as in `notbrought run`: none blocked here. */
    sigset_t three, saved;
    sigemptyset(&three);
    for (size_t i = 0; i < N_MAIN_LOOP_SIGNALS; i++)
        sigaddset(&three, main_loop_signals[i]);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &three, &saved), 0);

    nb_broker_t *b = nb_broker_new(3, errstr, sizeof(errstr));
    if (!b)
        fail_msg("nb_broker_new: %s", errstr);
    const char *bs = nb_broker_bootstraps(b);
    nb_it_conf_opts_t o = {NULL, false, true, now, 86400000};
    nb_config_t *conf = nb_it_conf(bs, "nb-threads", &o);
    conf->decode_ahead = true;
    conf->commit_in_background = true;
    conf->max_batch = 10; /* a backlog of many small transactions: commits in the background */
    conf->local_by_child = true;
    nb_broker_create_topics(b, conf, 3);

    snprintf(path, sizeof(path), "/tmp/nb-it-threads-%d", (int)getpid());
    make_sample(path, now);
    long produced = 0;
    assert_int_equal(nb_stream_produce_file(conf, path, &produced, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    unlink(path);
    assert_true(produced > 0);

    /* Large: static. Results are read after the join. */
    static sampler_t first, restart;
    memset(&first, 0, sizeof(first));
    run_daemon(conf, &first, "backlog");
    memset(&restart, 0, sizeof(restart));
    restart.restart = true;
    run_daemon(conf, &restart, "restart");

    nb_config_destroy(conf);
    nb_broker_destroy(b);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &saved, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals_reach_only_the_main_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
