/*
 * notbrought - ops: a small metrics registry rendered in the Prometheus text format (0.0.4).
 *
 * Families are fixed when the registry is made (a table, like the configuration); series are
 * made on first use, up to NB_METRICS_MAX_SERIES per family. One mutex guards everything: the
 * runtime updates from its main thread, the HTTP thread renders, and neither holds it long.
 */
#include "notbrought/ops.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/metrics_internal.h"

#ifndef NB_VERSION
#define NB_VERSION "unknown"
#endif

/* Longest label value kept; longer ones are cut at a UTF-8 character boundary. */
#define NB__LABEL_MAX 200

typedef struct nb__series_s {
    char *values[NB_METRICS_MAX_LABELS];
    double value;       /* counters and gauges */
    uint64_t *buckets;  /* histograms: per-bucket (not cumulative) counts, n_buckets of them */
    uint64_t count;     /* histograms: observations, the +Inf bucket */
    double sum;         /* histograms */
    bool mark;          /* set in this batch (nb__metrics_batch_set), for the sweep */
} nb__series_t;

typedef struct nb__family_s {
    const nb_metric_def_t *def;
    char *label_names[NB_METRICS_MAX_LABELS];
    size_t n_labels;
    nb__series_t *series;
    size_t n_series, cap;
    bool direct; /* updated by the runtime itself: the stats mirror leaves it alone */
} nb__family_t;

struct nb_metrics_s {
    pthread_mutex_t lock;
    nb__family_t *fams;
    size_t n;
    bool well_known;     /* ids are nb_metric_t (nb_metrics_new()) */
    int ready_id;        /* family "notbrought_ready", or -1 */
    int heartbeat_id;    /* family "notbrought_last_loop_timestamp_seconds", or -1 */
    int dropped_id;      /* family "notbrought_metrics_dropped_total", or -1 */
    int64_t heartbeat_ms;
    bool heartbeat_seen;
    char identity_digest[NB_METRICS_DIGEST_HEX + 1]; /* "" until the runtime reports one */
    uint64_t identity_links;
};

/* ---- the well-known families -------------------------------------------------------------- */

static const double nb__commit_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10};

#define NB__N_COMMIT_BUCKETS (sizeof(nb__commit_buckets) / sizeof(nb__commit_buckets[0]))
#define NB__BUCKETS(id) ((id) == NB_M_COMMIT_LATENCY ? nb__commit_buckets : NULL)
#define NB__N_BUCKETS(id) ((id) == NB_M_COMMIT_LATENCY ? NB__N_COMMIT_BUCKETS : 0)

static const nb_metric_def_t nb__well_known[NB_M__COUNT] = {
#define NB__M_DEF(id, name, type, labels, help)                                                    \
    [id] = {name, type, labels, help, NB__BUCKETS(id), NB__N_BUCKETS(id)},
    NB_METRICS_MAP(NB__M_DEF)
#undef NB__M_DEF
};

static nb__series_t *nb__metrics_series(nb_metrics_t *m, int id, const char *const *values);

/* ---- names -------------------------------------------------------------------------------- */

static bool nb__name_ok(const char *s, size_t len, bool label)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (!label && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    /* Label names starting with __ are reserved for Prometheus itself. */
    return !(label && len >= 2 && s[0] == '_' && s[1] == '_');
}

static void nb__family_free(nb__family_t *f)
{
    for (size_t i = 0; i < f->n_series; i++) {
        for (size_t k = 0; k < f->n_labels; k++)
            free(f->series[i].values[k]);
        free(f->series[i].buckets);
    }
    free(f->series);
    for (size_t k = 0; k < f->n_labels; k++)
        free(f->label_names[k]);
}

/* Splits "a,b,c" into the family's label names. @returns false when invalid. */
static bool nb__family_init(nb__family_t *f, const nb_metric_def_t *d)
{
    memset(f, 0, sizeof(*f));
    f->def = d;
    if (!d->name || !nb__name_ok(d->name, strlen(d->name), false) || !d->help)
        return false;
    if (d->type == NB_METRIC_HISTOGRAM) {
        if (d->labels || d->n_buckets > NB_METRICS_MAX_BUCKETS || (d->n_buckets && !d->buckets))
            return false;
        for (size_t i = 1; i < d->n_buckets; i++)
            if (!(d->buckets[i] > d->buckets[i - 1]))
                return false;
    }
    for (const char *p = d->labels; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (f->n_labels == NB_METRICS_MAX_LABELS || !nb__name_ok(p, len, true))
            return false;
        if (!(f->label_names[f->n_labels] = strndup(p, len)))
            return false;
        f->n_labels++;
        p += len + (comma ? 1 : 0);
    }
    return true;
}

static nb_metrics_t *nb__new(const nb_metric_def_t *defs, size_t n_defs, bool well_known)
{
    nb_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->ready_id = m->heartbeat_id = m->dropped_id = -1;
    m->well_known = well_known;
    if (!(m->fams = calloc(n_defs ? n_defs : 1, sizeof(*m->fams))))
        goto fail;
    for (size_t i = 0; i < n_defs; i++) {
        m->n = i + 1; /* so that a failed family is freed too */
        if (!nb__family_init(&m->fams[i], &defs[i]))
            goto fail;
        const char *name = defs[i].name;
        if (strcmp(name, "notbrought_ready") == 0 && !m->fams[i].n_labels)
            m->ready_id = (int)i;
        else if (strcmp(name, "notbrought_last_loop_timestamp_seconds") == 0 &&
                 !m->fams[i].n_labels)
            m->heartbeat_id = (int)i;
        else if (strcmp(name, "notbrought_metrics_dropped_total") == 0 && !m->fams[i].n_labels)
            m->dropped_id = (int)i;
    }
    /* Counters and histograms without labels exist from the start, at 0, so that rate() and
     * increase() see the first increment. Gauges appear when first set: a gauge nobody has
     * set yet says nothing rather than a misleading 0. */
    for (size_t i = 0; i < m->n; i++) {
        nb__family_t *f = &m->fams[i];
        if (f->n_labels == 0 && f->def->type != NB_METRIC_GAUGE &&
            !nb__metrics_series(m, (int)i, NULL))
            goto fail;
    }
    return m;
fail:
    nb_metrics_destroy(m);
    return NULL;
}

nb_metrics_t *nb_metrics_new_from(const nb_metric_def_t *defs, size_t n_defs)
{
    return nb__new(defs, n_defs, false);
}

nb_metrics_t *nb_metrics_new(void)
{
    nb_metrics_t *m = nb__new(nb__well_known, NB_M__COUNT, true);
    if (!m)
        return NULL;
    const char *version = NB_VERSION;
    nb_metrics_set_info(m, NB_M_BUILD_INFO, &version);
    /* Nothing is being restored until the runtime says so: these gauges mean something at 0
     * from the start (a dashboard shows "no restore" rather than "no data"). */
    nb_metrics_set(m, NB_M_RESTORING_PARTITIONS, NULL, 0);
    nb_metrics_set(m, NB_M_RESTORE_REMAINING, NULL, 0);
    return m;
}

void nb_metrics_destroy(nb_metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->fams && i < m->n; i++)
        nb__family_free(&m->fams[i]);
    free(m->fams);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- series ------------------------------------------------------------------------------- */

/* Copies a label value, cut at NB__LABEL_MAX bytes on a character boundary. */
static char *nb__label_dup(const char *v)
{
    size_t len = strlen(v);
    if (len > NB__LABEL_MAX) {
        len = NB__LABEL_MAX;
        while (len > 0 && ((unsigned char)v[len] & 0xC0) == 0x80)
            len--;
    }
    return strndup(v, len);
}

/* Whether a stored label value is @p v, compared as stored (cut the same way). */
static bool nb__label_eq(const char *stored, const char *v)
{
    if (strlen(v) > NB__LABEL_MAX)
        return strncmp(stored, v, strlen(stored)) == 0;
    return strcmp(stored, v) == 0;
}

static bool nb__series_match(const nb__family_t *f, const nb__series_t *s,
                             const char *const *values)
{
    for (size_t k = 0; k < f->n_labels; k++)
        if (!nb__label_eq(s->values[k], values && values[k] ? values[k] : ""))
            return false;
    return true;
}

static nb__series_t *nb__metrics_series(nb_metrics_t *m, int id, const char *const *values)
{
    nb__family_t *f = &m->fams[id];
    for (size_t i = 0; i < f->n_series; i++)
        if (nb__series_match(f, &f->series[i], values))
            return &f->series[i];
    if (f->n_series == NB_METRICS_MAX_SERIES) {
        if (m->dropped_id >= 0 && m->dropped_id != id) {
            nb__series_t *d = nb__metrics_series(m, m->dropped_id, NULL);
            if (d)
                d->value += 1;
        }
        return NULL;
    }
    if (f->n_series == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        nb__series_t *ns = realloc(f->series, cap * sizeof(*ns));
        if (!ns)
            return NULL;
        f->series = ns;
        f->cap = cap;
    }
    nb__series_t *s = &f->series[f->n_series];
    memset(s, 0, sizeof(*s));
    for (size_t k = 0; k < f->n_labels; k++) {
        if (!(s->values[k] = nb__label_dup(values && values[k] ? values[k] : ""))) {
            for (size_t j = 0; j < k; j++)
                free(s->values[j]);
            return NULL;
        }
    }
    if (f->def->type == NB_METRIC_HISTOGRAM && f->def->n_buckets &&
        !(s->buckets = calloc(f->def->n_buckets, sizeof(uint64_t)))) {
        for (size_t k = 0; k < f->n_labels; k++)
            free(s->values[k]);
        return NULL;
    }
    f->n_series++;
    return s;
}

/* A series of a family with at most one label, for the one-label API. */
static nb__series_t *nb__series1(nb_metrics_t *m, int id, const char *label)
{
    if (m->fams[id].n_labels > 1)
        return NULL; /* needs nb_metrics_set_v() */
    const char *values[1] = {label};
    return nb__metrics_series(m, id, values);
}

static bool nb__id_ok(const nb_metrics_t *m, int id)
{
    return m && id >= 0 && (size_t)id < m->n;
}

void nb_metrics_add(nb_metrics_t *m, int id, const char *label, double n)
{
    if (!nb__id_ok(m, id) || m->fams[id].def->type == NB_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    nb__series_t *s = nb__series1(m, id, label);
    if (s)
        s->value += n;
    m->fams[id].direct = true;
    pthread_mutex_unlock(&m->lock);
}

void nb_metrics_set(nb_metrics_t *m, int id, const char *label, double v)
{
    if (!nb__id_ok(m, id) || m->fams[id].def->type == NB_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    nb__series_t *s = nb__series1(m, id, label);
    if (s)
        s->value = v;
    m->fams[id].direct = true;
    pthread_mutex_unlock(&m->lock);
}

void nb_metrics_add_v(nb_metrics_t *m, int id, const char *const *values, double n)
{
    if (!nb__id_ok(m, id) || m->fams[id].def->type == NB_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    nb__series_t *s = nb__metrics_series(m, id, values);
    if (s)
        s->value += n;
    m->fams[id].direct = true;
    pthread_mutex_unlock(&m->lock);
}

void nb_metrics_set_v(nb_metrics_t *m, int id, const char *const *values, double v)
{
    if (!nb__id_ok(m, id) || m->fams[id].def->type == NB_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    nb__series_t *s = nb__metrics_series(m, id, values);
    if (s)
        s->value = v;
    m->fams[id].direct = true;
    pthread_mutex_unlock(&m->lock);
}

void nb_metrics_set_info(nb_metrics_t *m, int id, const char *const *values)
{
    if (!nb__id_ok(m, id) || m->fams[id].def->type == NB_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    nb__family_t *f = &m->fams[id];
    for (size_t i = 0; i < f->n_series; i++)
        for (size_t k = 0; k < f->n_labels; k++)
            free(f->series[i].values[k]);
    f->n_series = 0;
    nb__series_t *s = nb__metrics_series(m, id, values);
    if (s)
        s->value = 1;
    f->direct = true;
    pthread_mutex_unlock(&m->lock);
}

void nb_metrics_set_identity_digest(nb_metrics_t *m, const char *digest, uint64_t links)
{
    char hex[NB_METRICS_DIGEST_HEX + 1];
    if (!m || !m->well_known || !digest)
        return;
    for (size_t i = 0; i < NB_METRICS_DIGEST_HEX; i++) {
        char c = digest[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return; /* also the end of a shorter string */
        hex[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    hex[NB_METRICS_DIGEST_HEX] = '\0';
    const char *values[1] = {hex};
    nb_metrics_set_info(m, NB_M_IDENTITY_DIGEST, values);
    nb_metrics_set(m, NB_M_IDENTITY_DIGEST_LINKS, NULL, (double)links);
    /* The health answers read both together: one lock hold. */
    pthread_mutex_lock(&m->lock);
    memcpy(m->identity_digest, hex, sizeof(hex));
    m->identity_links = links;
    pthread_mutex_unlock(&m->lock);
}

void nb_metrics_observe(nb_metrics_t *m, int id, double v)
{
    if (!nb__id_ok(m, id) || m->fams[id].def->type != NB_METRIC_HISTOGRAM || isnan(v))
        return;
    pthread_mutex_lock(&m->lock);
    nb__family_t *f = &m->fams[id];
    nb__series_t *s = nb__metrics_series(m, id, NULL);
    if (s) {
        /* Store per-bucket counts; rendering makes them cumulative. */
        for (size_t b = 0; b < f->def->n_buckets; b++) {
            if (v <= f->def->buckets[b]) {
                s->buckets[b]++;
                break;
            }
        }
        s->count++;
        s->sum += v;
    }
    f->direct = true;
    pthread_mutex_unlock(&m->lock);
}

void nb_metrics_heartbeat(nb_metrics_t *m, int64_t now_ms)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->heartbeat_ms = now_ms;
    m->heartbeat_seen = true;
    if (m->heartbeat_id >= 0) {
        nb__series_t *s = nb__metrics_series(m, m->heartbeat_id, NULL);
        if (s)
            s->value = (double)now_ms / 1000.0;
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- batches ------------------------------------------------------------------------------ */

bool nb__metrics_batch_begin(nb_metrics_t *m)
{
    if (!m || !m->well_known)
        return false;
    pthread_mutex_lock(&m->lock);
    return true;
}

void nb__metrics_batch_end(nb_metrics_t *m)
{
    pthread_mutex_unlock(&m->lock);
}

void nb__metrics_batch_set(nb_metrics_t *m, int id, const char *const *values, double v,
                           nb__metrics_op_t op)
{
    if (!nb__id_ok(m, id) || m->fams[id].def->type == NB_METRIC_HISTOGRAM || isnan(v))
        return;
    nb__family_t *f = &m->fams[id];
    size_t before = f->n_series;
    nb__series_t *s = nb__metrics_series(m, id, values);
    if (!s)
        return;
    if (op == NB__METRICS_ADD)
        s->value += v;
    else if (op == NB__METRICS_SET || f->n_series > before || v > s->value)
        s->value = v;
    s->mark = true;
    f->direct = true;
}

/* Frees series i of a family and closes the gap, keeping the order of the others. */
static void nb__series_remove(nb__family_t *f, size_t i)
{
    for (size_t k = 0; k < f->n_labels; k++)
        free(f->series[i].values[k]);
    free(f->series[i].buckets);
    memmove(&f->series[i], &f->series[i + 1], (f->n_series - i - 1) * sizeof(f->series[0]));
    f->n_series--;
}

void nb__metrics_batch_sweep(nb_metrics_t *m, int id, size_t label, const char *value)
{
    if (!nb__id_ok(m, id))
        return;
    nb__family_t *f = &m->fams[id];
    for (size_t i = 0; i < f->n_series;) {
        nb__series_t *s = &f->series[i];
        bool mine = !value || (label < f->n_labels && nb__label_eq(s->values[label], value));
        if (mine && !s->mark) {
            nb__series_remove(f, i);
            continue;
        }
        s->mark = false;
        i++;
    }
}

/* ---- the stats mirror --------------------------------------------------------------------- */

/* Sets a series unless the runtime reports the family itself. @locks metrics_lock (held) */
static void nb__mirror(nb_metrics_t *m, int id, const char *label, double v)
{
    if (m->fams[id].direct)
        return;
    nb__series_t *s = nb__series1(m, id, label);
    if (s)
        s->value = v;
}

void nb_metrics_set_totals(nb_metrics_t *m, const nb_metrics_totals_t *st)
{
    if (!m || !m->well_known || !st)
        return;
    pthread_mutex_lock(&m->lock);
    nb__mirror(m, NB_M_READY, NULL, st->ready ? 1 : 0);
    nb__mirror(m, NB_M_REPARTITIONED, NULL, (double)st->repartitioned);
    nb__mirror(m, NB_M_PARKED, NULL, (double)st->parked);
    nb__mirror(m, NB_M_RELEASED, NULL, (double)st->released);
    nb__mirror(m, NB_M_IDENTITY_LINKS, NULL, (double)st->links);
    nb__mirror(m, NB_M_NOTIFICATIONS, NULL, (double)st->notifications);
    nb__mirror(m, NB_M_RESTORED, NULL, (double)st->restored);
    nb__mirror(m, NB_M_TRANSACTIONS, "commit", (double)st->commits);
    nb__mirror(m, NB_M_TRANSACTIONS, "abort", (double)st->aborts);
    /* Dead letters: whatever the runtime did not report by code is "unclassified", so the sum
     * over codes is the total whether or not the runtime reports codes. */
    nb__family_t *f = &m->fams[NB_M_DEAD_LETTERS];
    double by_code = 0;
    for (size_t i = 0; i < f->n_series; i++)
        if (strcmp(f->series[i].values[0], "unclassified") != 0)
            by_code += f->series[i].value;
    double rest = (double)st->dead_letters - by_code;
    nb__series_t *s = nb__series1(m, NB_M_DEAD_LETTERS, "unclassified");
    if (s && rest > s->value)
        s->value = rest; /* a counter never goes down */
    pthread_mutex_unlock(&m->lock);
}

/* ---- process metrics ---------------------------------------------------------------------- */

/* Parses /proc/self/stat and /proc/stat. @returns false when /proc is not there. */
static bool nb__proc_stat(double *cpu, double *start, double *vsz, double *rss)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0;
    long long rss_pages = 0;
    /* Fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss. */
    if (sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
               "%*d %llu %llu %lld",
               &utime, &stime, &starttime, &vsize, &rss_pages) != 5)
        return false;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (tck <= 0)
        tck = 100;
    if (page <= 0)
        page = 4096;
    *cpu = (double)(utime + stime) / (double)tck;
    *vsz = (double)vsize;
    *rss = (double)rss_pages * (double)page;
    *start = -1;
    if ((f = fopen("/proc/stat", "r"))) {
        unsigned long long btime;
        while (fgets(buf, sizeof(buf), f)) {
            if (sscanf(buf, "btime %llu", &btime) == 1) {
                *start = (double)btime + (double)starttime / (double)tck;
                break;
            }
        }
        fclose(f);
    }
    return true;
}

static int nb__open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

void nb_metrics_update_process(nb_metrics_t *m)
{
    if (!m || !m->well_known)
        return;
    double cpu, start, vsz, rss;
    bool ok = nb__proc_stat(&cpu, &start, &vsz, &rss);
    int fds = nb__open_fds();
    pthread_mutex_lock(&m->lock);
    if (ok) {
        nb__mirror(m, NB_M_PROCESS_CPU, NULL, cpu);
        nb__mirror(m, NB_M_PROCESS_VSZ, NULL, vsz);
        nb__mirror(m, NB_M_PROCESS_RSS, NULL, rss);
        if (start >= 0)
            nb__mirror(m, NB_M_PROCESS_START, NULL, start);
    }
    if (fds >= 0)
        nb__mirror(m, NB_M_PROCESS_FDS, NULL, fds);
    pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ---------------------------------------------------------------------------- */

typedef struct nb__buf_s {
    char *p;
    size_t len, cap;
    bool oom;
} nb__buf_t;

static void nb__put(nb__buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void nb__puts(nb__buf_t *b, const char *s)
{
    nb__put(b, s, strlen(s));
}

/* Escapes a label value (label = true) or a HELP text: backslash, newline and, in label
 * values, the double quote; other control characters are dropped. */
static void nb__put_escaped(nb__buf_t *b, const char *s, bool label)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\')
            nb__put(b, "\\\\", 2);
        else if (*p == '\n')
            nb__put(b, "\\n", 2);
        else if (*p == '"' && label)
            nb__put(b, "\\\"", 2);
        else if (*p < 0x20 || *p == 0x7f)
            continue;
        else
            nb__put(b, (const char *)p, 1);
    }
}

void nb__metrics_format_value(double v, char *out, size_t size)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
    } else if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(out, size, "0");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, size, "%.0f", v);
    } else {
        /* The shortest text that reads back as the same double. */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, size, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

static void nb__put_value(nb__buf_t *b, double v)
{
    char num[64];
    nb__metrics_format_value(v, num, sizeof(num));
    nb__puts(b, num);
}

/* name{a="x",b="y"[,le="..."]} */
static void nb__put_series_name(nb__buf_t *b, const nb__family_t *f, const nb__series_t *s,
                                const char *suffix, const char *le)
{
    nb__puts(b, f->def->name);
    nb__puts(b, suffix);
    if (f->n_labels == 0 && !le)
        return;
    nb__puts(b, "{");
    for (size_t k = 0; k < f->n_labels; k++) {
        if (k)
            nb__puts(b, ",");
        nb__puts(b, f->label_names[k]);
        nb__puts(b, "=\"");
        nb__put_escaped(b, s->values[k], true);
        nb__puts(b, "\"");
    }
    if (le) {
        if (f->n_labels)
            nb__puts(b, ",");
        nb__puts(b, "le=\"");
        nb__puts(b, le);
        nb__puts(b, "\"");
    }
    nb__puts(b, "}");
}

static void nb__render_family(nb__buf_t *b, const nb__family_t *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    nb__puts(b, "# HELP ");
    nb__puts(b, f->def->name);
    nb__puts(b, " ");
    nb__put_escaped(b, f->def->help, false);
    nb__puts(b, "\n# TYPE ");
    nb__puts(b, f->def->name);
    nb__puts(b, " ");
    nb__puts(b, type_names[f->def->type]);
    nb__puts(b, "\n");
    for (size_t i = 0; i < f->n_series; i++) {
        const nb__series_t *s = &f->series[i];
        if (f->def->type != NB_METRIC_HISTOGRAM) {
            nb__put_series_name(b, f, s, "", NULL);
            nb__puts(b, " ");
            nb__put_value(b, s->value);
            nb__puts(b, "\n");
            continue;
        }
        uint64_t cum = 0;
        char le[64];
        for (size_t k = 0; k < f->def->n_buckets; k++) {
            cum += s->buckets[k];
            nb__metrics_format_value(f->def->buckets[k], le, sizeof(le));
            nb__put_series_name(b, f, s, "_bucket", le);
            nb__puts(b, " ");
            nb__put_value(b, (double)cum);
            nb__puts(b, "\n");
        }
        nb__put_series_name(b, f, s, "_bucket", "+Inf");
        nb__puts(b, " ");
        nb__put_value(b, (double)s->count);
        nb__puts(b, "\n");
        nb__put_series_name(b, f, s, "_sum", NULL);
        nb__puts(b, " ");
        nb__put_value(b, s->sum);
        nb__puts(b, "\n");
        nb__put_series_name(b, f, s, "_count", NULL);
        nb__puts(b, " ");
        nb__put_value(b, (double)s->count);
        nb__puts(b, "\n");
    }
}

char *nb_metrics_render(nb_metrics_t *m, size_t *len)
{
    nb__buf_t b = {NULL, 0, 0, false};
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++)
        nb__render_family(&b, &m->fams[i]);
    pthread_mutex_unlock(&m->lock);
    nb__put(&b, "", 0); /* an empty registry is "" */
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

/* ---- health ------------------------------------------------------------------------------- */

void nb_metrics_health(nb_metrics_t *m, int64_t now_ms, int64_t stall_ms, nb_health_t *out)
{
    memset(out, 0, sizeof(*out));
    out->heartbeat_age_ms = -1;
    out->reason = "no metrics registry";
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    bool ready_flag = false;
    if (m->ready_id >= 0 && m->fams[m->ready_id].n_series)
        ready_flag = m->fams[m->ready_id].series[0].value == 1;
    out->heartbeat_seen = m->heartbeat_seen;
    memcpy(out->identity_digest, m->identity_digest, sizeof(out->identity_digest));
    out->identity_links = m->identity_links;
    if (m->heartbeat_seen)
        out->heartbeat_age_ms = now_ms - m->heartbeat_ms;
    pthread_mutex_unlock(&m->lock);
    /* Until the runtime reports a heartbeat (it starts with its first loop turn), liveness is
     * the process answering at all. */
    out->live = !out->heartbeat_seen || out->heartbeat_age_ms <= stall_ms;
    out->ready = out->live && ready_flag;
    if (!out->live)
        out->reason = "main loop stalled";
    else if (!ready_flag)
        out->reason = "not ready: partitions not assigned or restoring, Kafka unreachable, or records waiting with no commit for processing.stall_timeout_ms";
    else
        out->reason = "";
}
