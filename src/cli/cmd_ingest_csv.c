/*
 * notbrought ingest csv: imports a child health system's CSV extract. libcsv splits the file
 * (RFC 4180 quoting, the mapping's delimiter and quote), the feed module maps each row
 * (nb_feed_csv_row()), and the adapters' publisher sends each event to the topic, or the row
 * with its reason to the dead-letter topic. Progress is kept in a state file (csv_state.c):
 * the last row up to which Kafka acknowledged everything, so a killed import resumes after it.
 * With --metrics-file, an import that completes writes when it finished, for Prometheus to
 * alert on an extract that stops arriving (csv_state.c).
 * docs/integration.md, "CSV extracts"; docs/cli.md.
 */
#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/csv_import.h"
#include "notbrought/feed.h"
#include "notbrought/ops.h"
#include "notbrought/stream.h"

#define NB__CSV_CHUNK (64 * 1024)
#define NB__CSV_MAX_COLUMNS 1024
#define NB__CSV_MAX_INFLIGHT 20000
#define NB__CSV_FIRST_ROWS 5
#define NB__CSV_MAX_REASONS 64
#define NB__CSV_STATE_EVERY_MS 200

typedef struct nb__reason_s {
    char code[NB_FEED_CODE_MAX];
    uint64_t count;
    uint64_t first[NB__CSV_FIRST_ROWS];
} nb__reason_t;

typedef struct nb__imp_s {
    const nb_config_t *conf;
    const nb_feed_mapping_t *m;
    nb_feed_csv_opts_t opts;
    const char *topic, *file;
    nb_publisher_t *pub;
    nb_feed_out_t *out;
    nb_feed_csv_decoder_t *dec; /* the mapping's encoding to UTF-8 */
    /* the row being read */
    char **fields;
    size_t *lens, n, cap, row_bytes;
    bool too_long, header_done, stop;
    int bad_col;       /* the first field that did not decode (0-based), -1: none */
    size_t bad_offset; /* and the offset of its first byte that did not */
    nb_feed_csv_header_t hdr;
    uint64_t row;
    /* rows in flight: ring of pending counts for rows base .. base + n_fl - 1 */
    uint32_t *pending;
    size_t fl_head, n_fl, fl_cap;
    uint64_t fl_base;
    nb__csv_state_t st;
    const char *state_path;
    bool done_before; /* the state says this file was imported whole by an earlier run */
    int64_t state_written_ms;
    nb_err_t kafka_err;
    char kafka_reason[600], fatal[600];
    /* the summary */
    uint64_t read, published, refused, skipped;
    nb__reason_t reasons[NB__CSV_MAX_REASONS];
    size_t n_reasons;
} nb__imp_t;

/* ---- acknowledgements -------------------------------------------------------------------- */

static void nb__save_state(nb__imp_t *imp, bool force)
{
    char errstr[512];
    int64_t now = nb__cli_now();
    if (!imp->state_path || (!force && now - imp->state_written_ms < NB__CSV_STATE_EVERY_MS))
        return;
    imp->state_written_ms = now;
    if (nb__csv_state_write(imp->state_path, &imp->st, errstr, sizeof(errstr)))
        NB_LOG(NB_LOG_WARN, "ingest", "%s", errstr);
}

/* What a record's delivery report needs: the import and the row (one per record, freed by
 * the report; the publisher reports every record once, nb_publisher_destroy() included). */
typedef struct nb__tag_s {
    nb__imp_t *imp;
    uint64_t row;
    bool event; /**< an event (counted published once acknowledged), not a dead letter */
} nb__tag_t;

/* Delivery report of one record: the rows acknowledged so far move the state on. */
static void nb__on_delivery(void *opaque, nb_err_t err, const char *reason)
{
    nb__tag_t *tag = opaque;
    nb__imp_t *imp = tag->imp;
    uint64_t row = tag->row;
    bool event = tag->event;
    free(tag);
    if (err) {
        if (!imp->kafka_err) {
            imp->kafka_err = err;
            snprintf(imp->kafka_reason, sizeof(imp->kafka_reason), "row %llu: %s",
                     (unsigned long long)row, reason ? reason : nb_err_str(err));
        }
        imp->stop = true;
        return;
    }
    if (event)
        imp->published++; /* "published": Kafka has it, not only queued */
    if (row < imp->fl_base || row - imp->fl_base >= imp->n_fl)
        return;
    imp->pending[(imp->fl_head + (row - imp->fl_base)) % imp->fl_cap]--;
    bool moved = false;
    while (imp->n_fl && imp->pending[imp->fl_head] == 0 && !imp->kafka_err) {
        imp->st.acked_through = imp->fl_base;
        imp->fl_head = (imp->fl_head + 1) % imp->fl_cap;
        imp->fl_base++;
        imp->n_fl--;
        moved = true;
    }
    if (moved)
        nb__save_state(imp, false);
}

/* Adds row imp->row to the rows in flight with @p n records. */
NB_NODISCARD static nb_err_t nb__inflight_add(nb__imp_t *imp, uint32_t n)
{
    if (imp->n_fl == imp->fl_cap) {
        size_t cap = imp->fl_cap ? imp->fl_cap * 2 : 1024;
        uint32_t *p = malloc(cap * sizeof(*p));
        if (!p)
            return NB_ERR_NOMEM;
        for (size_t i = 0; i < imp->n_fl; i++)
            p[i] = imp->pending[(imp->fl_head + i) % imp->fl_cap];
        free(imp->pending);
        imp->pending = p;
        imp->fl_head = 0;
        imp->fl_cap = cap;
    }
    if (imp->n_fl == 0)
        imp->fl_base = imp->row;
    imp->pending[(imp->fl_head + imp->n_fl) % imp->fl_cap] = n;
    imp->n_fl++;
    return NB_ERR_OK;
}

/* ---- publishing a row -------------------------------------------------------------------- */

/* Publishes with retries while the producer's queue is full. */
NB_NODISCARD static nb_err_t nb__send(nb__imp_t *imp, const nb_record_t *rec, const char *raw,
                                      size_t len, const char *code, nb_err_t why)
{
    char errstr[512] = "out of memory", rowbuf[24];
    nb__tag_t *tag = malloc(sizeof(*tag));
    nb_err_t err = NB_ERR_NOMEM;
    snprintf(rowbuf, sizeof(rowbuf), "%llu", (unsigned long long)imp->row);
    nb_publish_header_t extra[] = {{"nb.csv.row", rowbuf, strlen(rowbuf)},
                                   {"nb.feed.code", code, strlen(code)}};
    nb_publish_origin_t o = {"csv", nb_feed_mapping_name(imp->m), nb__cli_now()};
    if (tag)
        *tag = (nb__tag_t){imp, imp->row, rec && rec->type == NB_RECORD_APPOINTMENT};
    while (tag) {
        /* Identity links go to topics.links, events to the extract's topic. */
        const char *topic =
            rec && rec->type == NB_RECORD_IDENTITY_LINK ? imp->conf->links_topic : imp->topic;
        err = rec ? nb_publisher_publish_record(imp->pub, topic, rec, tag, errstr, sizeof(errstr))
                  : nb_publisher_dead_letter(imp->pub, &o, raw, len, why, imp->out->text, extra, 2,
                                             tag, errstr, sizeof(errstr));
        if (err != NB_ERR_LIMIT)
            break;
        nb_publisher_poll(imp->pub, 100);
    }
    if (err)
        free(tag); /* the report will never come */
    if (err && !imp->kafka_err) {
        imp->kafka_err = err;
        snprintf(imp->kafka_reason, sizeof(imp->kafka_reason), "row %llu: %s",
                 (unsigned long long)imp->row, errstr);
    }
    return err;
}

/* The row as read, written back as CSV with the mapping's delimiter and quote (quoted where it
 * must be), for the dead letter. */
static char *nb__row_csv(const nb__imp_t *imp, size_t *len)
{
    size_t cap = imp->n + 1;
    for (size_t i = 0; i < imp->n; i++)
        cap += 2 * imp->lens[i] + 2;
    char *buf = malloc(cap), *p = buf;
    if (!buf)
        return NULL;
    char d = imp->opts.delimiter, q = imp->opts.quote;
    for (size_t i = 0; i < imp->n; i++) {
        const char *f = imp->fields[i];
        size_t n = imp->lens[i];
        bool quote = memchr(f, d, n) || memchr(f, q, n) || memchr(f, '\n', n) || memchr(f, '\r', n);
        if (i)
            *p++ = d;
        if (quote)
            *p++ = q;
        for (size_t k = 0; k < n; k++) {
            if (f[k] == q)
                *p++ = q;
            *p++ = f[k];
        }
        if (quote)
            *p++ = q;
    }
    *len = (size_t)(p - buf);
    return buf;
}

static void nb__count_refusal(nb__imp_t *imp, const char *code)
{
    size_t i;
    imp->refused++;
    for (i = 0; i < imp->n_reasons; i++)
        if (strcmp(imp->reasons[i].code, code) == 0)
            break;
    if (i == imp->n_reasons) {
        if (i == NB__CSV_MAX_REASONS)
            i--; /* the last slot gathers the rest */
        else
            imp->n_reasons++;
        nb_str_copy(imp->reasons[i].code, sizeof(imp->reasons[i].code), code);
    }
    nb__reason_t *r = &imp->reasons[i];
    if (r->count < NB__CSV_FIRST_ROWS)
        r->first[r->count] = imp->row;
    r->count++;
}

static void nb__row(nb__imp_t *imp)
{
    imp->row++;
    imp->read++;
    if (imp->row <= imp->st.acked_through) {
        imp->skipped++;
        return;
    }
    nb_feed_out_t *out = imp->out;
    nb_feed_csv_row_t r = {imp->row, (const char *const *)imp->fields, imp->lens, imp->n,
                           imp->st.extracted_at};
    if (imp->bad_col >= 0 && !imp->too_long) {
        /* Never the byte itself, nor the field: it may be part of a name. */
        out->outcome = NB_FEED_REFUSED;
        out->err = NB_ERR_TEXT_INVALID;
        nb_str_copy(out->code, sizeof(out->code), "encoding_invalid");
        snprintf(out->text, sizeof(out->text),
                 "row %llu, column %d: byte %zu of the field is not %s",
                 (unsigned long long)imp->row, imp->bad_col + 1, imp->bad_offset + 1,
                 imp->opts.encoding);
    } else if (imp->too_long) {
        out->outcome = NB_FEED_REFUSED;
        out->err = NB_ERR_FIELD_TOO_LONG;
        nb_str_copy(out->code, sizeof(out->code), "row_too_long");
        snprintf(out->text, sizeof(out->text),
                 "row %llu: longer than max_row_bytes (%zu) or a field longer than "
                 "max_field_bytes (%zu)",
                 (unsigned long long)imp->row, imp->opts.max_row_bytes, imp->opts.max_field_bytes);
    } else if (nb_feed_csv_row(imp->m, &imp->hdr, &r, out) == NB_ERR_INVALID_ARG) {
        imp->stop = true;
        snprintf(imp->fatal, sizeof(imp->fatal), "row %llu could not be mapped",
                 (unsigned long long)imp->row);
        return;
    }
    /* A mapped row is its event and, where the mapping asks, an identity link: the row is
     * acknowledged once Kafka has every one. */
    size_t n = out->outcome == NB_FEED_MAPPED ? out->n_records : 1, sent = 0;
    if (nb__inflight_add(imp, (uint32_t)n)) {
        imp->stop = true;
        snprintf(imp->fatal, sizeof(imp->fatal), "out of memory");
        return;
    }
    nb_err_t err = NB_ERR_OK;
    if (out->outcome == NB_FEED_MAPPED) {
        for (; sent < n && !err; sent++)
            err = nb__send(imp, &out->records[sent], NULL, 0, "mapped", NB_ERR_OK);
        if (err)
            sent--; /* the one that failed was not queued */
    } else {
        size_t len = 0;
        char *raw = nb__row_csv(imp, &len);
        err = raw ? nb__send(imp, NULL, raw, len, out->code, out->err) : NB_ERR_NOMEM;
        if (!err)
            nb__count_refusal(imp, out->code);
        free(raw);
    }
    if (err && sent > 0) {
        /* Reports will come for the records queued, and only for them. */
        imp->pending[(imp->fl_head + imp->n_fl - 1) % imp->fl_cap] -= (uint32_t)(n - sent);
    }
    if (err) {
        if (sent == 0)
            imp->n_fl--; /* nothing of the row was queued: no report will come for it */
        imp->stop = true;
        if (!imp->kafka_err && !imp->fatal[0])
            snprintf(imp->fatal, sizeof(imp->fatal), "out of memory");
    }
    if (imp->kafka_err)
        imp->stop = true;
}

/* ---- libcsv's callbacks ------------------------------------------------------------------ */

static void nb__on_field(void *s, size_t len, void *data)
{
    nb__imp_t *imp = data;
    if (imp->stop)
        return;
    imp->row_bytes += len + 1;
    if (len > imp->opts.max_field_bytes || imp->row_bytes > imp->opts.max_row_bytes)
        imp->too_long = true;
    if (imp->n == NB__CSV_MAX_COLUMNS) {
        imp->too_long = true;
        return;
    }
    if (imp->n == imp->cap) {
        size_t cap = imp->cap ? imp->cap * 2 : 32;
        char **f = realloc(imp->fields, cap * sizeof(*f));
        size_t *l = f ? realloc(imp->lens, cap * sizeof(*l)) : NULL;
        if (f)
            imp->fields = f;
        if (!f || !l) {
            imp->stop = true;
            snprintf(imp->fatal, sizeof(imp->fatal), "out of memory");
            return;
        }
        imp->lens = l;
        imp->cap = cap;
    }
    /* Each field to UTF-8 (the mapping's encoding); one that does not decode is kept as read
     * and refuses its row. */
    const char *u = s;
    size_t ulen = len, bad = 0;
    nb_err_t err =
        imp->too_long ? NB_ERR_OK : nb_feed_csv_decode(imp->dec, s, len, &u, &ulen, &bad);
    if (err == NB_ERR_TEXT_INVALID) {
        if (imp->bad_col < 0) {
            imp->bad_col = (int)imp->n;
            imp->bad_offset = bad;
        }
        u = s;
        ulen = len;
    } else if (err) {
        imp->stop = true;
        snprintf(imp->fatal, sizeof(imp->fatal), "out of memory");
        return;
    }
    size_t keep = imp->too_long ? 0 : ulen;
    if (!(imp->fields[imp->n] = malloc(keep + 1))) {
        imp->stop = true;
        snprintf(imp->fatal, sizeof(imp->fatal), "out of memory");
        return;
    }
    if (keep)
        memcpy(imp->fields[imp->n], u, keep);
    imp->fields[imp->n][keep] = '\0';
    imp->lens[imp->n++] = keep;
}

static void nb__row_reset(nb__imp_t *imp)
{
    for (size_t i = 0; i < imp->n; i++)
        free(imp->fields[i]);
    imp->n = 0;
    imp->row_bytes = 0;
    imp->too_long = false;
    imp->bad_col = -1;
}

static void nb__on_row(int c, void *data)
{
    nb__imp_t *imp = data;
    char errstr[512];
    (void)c;
    if (imp->stop) {
        nb__row_reset(imp);
        return;
    }
    if (!imp->header_done) {
        imp->header_done = true;
        if (imp->too_long)
            snprintf(imp->fatal, sizeof(imp->fatal), "the header row is longer than the limits");
        else if (imp->bad_col >= 0)
            snprintf(imp->fatal, sizeof(imp->fatal),
                     "the header row, column %d: byte %zu is not %s", imp->bad_col + 1,
                     imp->bad_offset + 1, imp->opts.encoding);
        else if (nb_feed_csv_header(imp->m, (const char *const *)imp->fields, imp->lens, imp->n,
                                    &imp->hdr, errstr, sizeof(errstr)))
            snprintf(imp->fatal, sizeof(imp->fatal), "%s", errstr);
        imp->stop = imp->fatal[0] != '\0';
    } else {
        nb__row(imp);
    }
    nb__row_reset(imp);
}

/* ---- the file ---------------------------------------------------------------------------- */

/* Reads the file through libcsv. @returns false after a fatal problem (imp->fatal). */
static bool nb__read_file(nb__imp_t *imp, int fd)
{
    struct csv_parser p;
    char *buf = malloc(NB__CSV_CHUNK);
    bool first = true, ok = true;
    if (!buf || csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        free(buf);
        snprintf(imp->fatal, sizeof(imp->fatal), "out of memory");
        return false;
    }
    csv_set_delim(&p, (unsigned char)imp->opts.delimiter);
    csv_set_quote(&p, (unsigned char)imp->opts.quote);
    while (ok && !imp->stop) {
        ssize_t n = read(fd, buf, NB__CSV_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(imp->fatal, sizeof(imp->fatal), "cannot read the file: %s", strerror(errno));
            ok = false;
            break;
        }
        size_t off = 0;
        if (first && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
            off = 3; /* a UTF-8 byte order mark */
        first = false;
        if (n == 0) {
            if (csv_fini(&p, nb__on_field, nb__on_row, imp) != 0)
                ok = false;
            break;
        }
        if (csv_parse(&p, buf + off, (size_t)n - off, nb__on_field, nb__on_row, imp) !=
            (size_t)n - off)
            ok = false;
        else if (p.entry_pos > imp->opts.max_row_bytes * 4)
            ok = false; /* a quote that never closes: no row boundary to resume at */
        nb_publisher_poll(imp->pub, 0);
        while (!imp->stop && nb_publisher_in_flight(imp->pub) > NB__CSV_MAX_INFLIGHT)
            nb_publisher_poll(imp->pub, 100);
    }
    if (!ok && !imp->fatal[0])
        snprintf(imp->fatal, sizeof(imp->fatal),
                 "row %llu: not CSV as the mapping describes it (%s)",
                 (unsigned long long)imp->row + 1,
                 csv_error(&p) == CSV_EPARSE ? "a quote out of place, or one never closed"
                                             : csv_strerror(csv_error(&p)));
    nb__row_reset(imp);
    csv_free(&p);
    free(buf);
    return ok && !imp->fatal[0];
}

/* ---- the summary ------------------------------------------------------------------------- */

static void nb__summary(const nb__imp_t *imp, bool json, bool complete)
{
    if (json) {
        json_t *o = json_object(), *by = json_object();
        for (size_t i = 0; i < imp->n_reasons; i++) {
            json_t *rows = json_array();
            const nb__reason_t *r = &imp->reasons[i];
            for (uint64_t k = 0; k < r->count && k < NB__CSV_FIRST_ROWS; k++)
                json_array_append_new(rows, json_integer((json_int_t)r->first[k]));
            json_object_set_new(
                by, r->code,
                json_pack("{s:I,s:o}", "rows", (json_int_t)r->count, "first_rows", rows));
        }
        json_object_set_new(o, "file", json_string(imp->file));
        json_object_set_new(o, "mapping", json_string(nb_feed_mapping_name(imp->m)));
        json_object_set_new(o, "rows_read", json_integer((json_int_t)imp->read));
        json_object_set_new(o, "published", json_integer((json_int_t)imp->published));
        json_object_set_new(o, "refused", json_integer((json_int_t)imp->refused));
        json_object_set_new(o, "refused_by_reason", by);
        json_object_set_new(o, "skipped_already_done", json_integer((json_int_t)imp->skipped));
        json_object_set_new(o, "acknowledged_through_row",
                            json_integer((json_int_t)imp->st.acked_through));
        json_object_set_new(o, "complete", json_boolean(complete));
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
        return;
    }
    printf("%s: %llu rows read, %llu published, %llu refused, %llu skipped as already done%s\n",
           imp->file, (unsigned long long)imp->read, (unsigned long long)imp->published,
           (unsigned long long)imp->refused, (unsigned long long)imp->skipped,
           complete ? "" : " (incomplete)");
    for (size_t i = 0; i < imp->n_reasons; i++) {
        const nb__reason_t *r = &imp->reasons[i];
        printf("  refused %s: %llu (rows", r->code, (unsigned long long)r->count);
        for (uint64_t k = 0; k < r->count && k < NB__CSV_FIRST_ROWS; k++)
            printf("%s %llu", k ? "," : "", (unsigned long long)r->first[k]);
        printf("%s)\n", r->count > NB__CSV_FIRST_ROWS ? ", ..." : "");
    }
}

/* ---- the command ------------------------------------------------------------------------- */

typedef struct nb__csv_args_s {
    const char *file, *mapping, *cfg, *bootstrap, *state_dir, *topic, *extracted_at;
    const char *metrics_file;
    bool json;
    int timeout_ms, stale_after_h;
    bool stale_set;
} nb__csv_args_t;

/* The state: where it is, and whether this file was begun (or done) before. */
static bool nb__state_begin(nb__imp_t *imp, const nb__csv_args_t *a, int fd, char *path, size_t cap)
{
    char errstr[512];
    nb__csv_state_t old;
    if (nb__csv_ident(fd, &imp->st.id, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought ingest csv: %s: %s\n", a->file, errstr);
        return false;
    }
    if (!a->state_dir)
        return true;
    if (nb__csv_state_path(a->state_dir, nb_feed_mapping_name(imp->m), &imp->st.id, path, cap)) {
        fprintf(stderr, "notbrought ingest csv: --state: the path is too long\n");
        return false;
    }
    imp->state_path = path;
    nb_err_t err = nb__csv_state_read(path, &old);
    if (err == NB_ERR_IO || err == NB_ERR_CONFIG) {
        fprintf(stderr, "notbrought ingest csv: %s: %s\n", path,
                err == NB_ERR_IO ? "cannot read the state file" : "not a state file");
        return false;
    }
    if (err == NB_ERR_OK && old.id.size == imp->st.id.size &&
        old.id.mtime_ns == imp->st.id.mtime_ns &&
        strcmp(old.id.head_sha256, imp->st.id.head_sha256) == 0 &&
        old.extracted_at == imp->st.extracted_at) {
        imp->st.acked_through = old.acked_through;
        imp->done_before = old.complete;
        if (old.complete)
            NB_LOG(NB_LOG_INFO, "ingest", "%s was imported whole before: nothing to publish",
                   a->file);
        else
            NB_LOG(NB_LOG_INFO, "ingest", "resuming %s after row %llu", a->file,
                   (unsigned long long)old.acked_through);
    } else if (err == NB_ERR_OK) {
        NB_LOG(NB_LOG_WARN, "ingest",
               "%s changed since its state was written (size, mtime or extract time): "
               "importing it from the start",
               a->file);
    }
    return true;
}

static int nb__import(nb__imp_t *imp, const nb__csv_args_t *a)
{
    char errstr[512], path[4096];
    int fd = open(a->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "notbrought ingest csv: %s: %s\n", a->file, strerror(errno));
        return NB_EXIT_FAILURE;
    }
    if (!nb__state_begin(imp, a, fd, path, sizeof(path))) {
        close(fd);
        return NB_EXIT_FAILURE;
    }
    if (!(imp->pub = nb_publisher_new(imp->conf, "ingest-csv", a->timeout_ms, nb__on_delivery,
                                      errstr, sizeof(errstr)))) {
        close(fd);
        fprintf(stderr, "notbrought ingest csv: %s\n", errstr);
        return NB_EXIT_SOFTWARE;
    }
    bool read_ok = nb__read_file(imp, fd);
    close(fd);
    /* Everything queued is reported (acknowledged or not) before the state is final. */
    if (nb_publisher_flush(imp->pub, a->timeout_ms + 5000) != NB_ERR_OK && !imp->kafka_err) {
        imp->kafka_err = NB_ERR_TIMEOUT;
        snprintf(imp->kafka_reason, sizeof(imp->kafka_reason), "not acknowledged in time");
    }
    nb_publisher_destroy(imp->pub);
    imp->pub = NULL;
    bool complete = read_ok && !imp->kafka_err && imp->n_fl == 0;
    imp->st.complete = complete;
    nb__save_state(imp, true);
    nb__summary(imp, a->json, complete);
    /* Freshness: only an import that completed, of a file not imported whole before (a rerun
     * of yesterday's extract is no new extract), moves the last import's time. */
    if (complete && !imp->done_before && a->metrics_file) {
        nb__csv_metrics_t mt = {.source = nb_feed_mapping_name(imp->m),
                                .imported_at = nb__cli_now(),
                                .read = imp->read,
                                .published = imp->published,
                                .refused = imp->refused,
                                .skipped = imp->skipped,
                                .stale_after_ms = (int64_t)a->stale_after_h * 3600000};
        if (nb__csv_metrics_write(a->metrics_file, &mt, errstr, sizeof(errstr))) {
            fprintf(stderr, "notbrought ingest csv: --metrics-file: %s\n", errstr);
            return NB_EXIT_FAILURE;
        }
    }
    if (imp->kafka_err) {
        fprintf(stderr,
                "notbrought ingest csv: Kafka did not take every record (%s: %s); every "
                "record of the first %llu rows is acknowledged%s\n",
                nb_err_name(imp->kafka_err), imp->kafka_reason,
                (unsigned long long)imp->st.acked_through,
                imp->state_path ? ", and a rerun with the same --state resumes after them" : "");
        return NB_EXIT_SOFTWARE;
    }
    if (!read_ok) {
        fprintf(stderr, "notbrought ingest csv: %s: %s\n", a->file, imp->fatal);
        return NB_EXIT_FAILURE;
    }
    return NB_EXIT_OK;
}

static const char nb__csv_help[] =
    "usage: notbrought ingest csv FILE --mapping FILE --config FILE --topic TOPIC\n"
    "                             [--state DIR] [--extracted-at TIME] [--json]\n"
    "                             [--metrics-file PATH [--stale-after HOURS]]\n"
    "                             [--bootstrap HOST:PORT] [--delivery-timeout-ms N]\n\n"
    "Imports a CSV extract (a child health system's appointments): each row is mapped with\n"
    "the mapping's csv section (see 'notbrought mapping') and published to TOPIC (one of\n"
    "topics.appointments); a row that cannot be mapped goes to topics.dead_letters with the\n"
    "reason. The file is read in the mapping's csv encoding (UTF-8 unless it says\n"
    "windows-1252, iso-8859-1, ...); a row's identity link, where the mapping asks for\n"
    "one, goes to topics.links. With --state, progress is kept in DIR (the last row up\n"
    "to which Kafka acknowledged everything): a killed import resumes after it, and a\n"
    "file imported whole publishes nothing when run again. Prints a summary (JSON with\n"
    "--json).\n\n"
    "  --extracted-at TIME  when the extract was taken (YYYY-MM-DDTHH:MM:SSZ): every event's\n"
    "                       recorded_at, required when the mapping says recorded_at:\n"
    "                       extract_time\n"
    "  --metrics-file PATH  after an import that completes (not a rerun of a file\n"
    "                       imported whole), write PATH in Prometheus' text format\n"
    "                       (atomically): when it finished and its rows, for\n"
    "                       node_exporter's textfile collector (name it *.prom)\n"
    "  --stale-after HOURS  how long after it the next import is overdue, exported for\n"
    "                       the alert (default 26: a nightly extract)\n\n"
    "Exit: 0 every row published or refused with a reason; 1 a file or mapping that does not\n"
    "read, or the metrics file that cannot be written; 2 usage; 3 Kafka did not take every record "
    "(the state says where to resume).\n"
    "See docs/integration.md (CSV extracts) and docs/cli.md.\n";

static int nb__csv_args(int argc, char **argv, nb__csv_args_t *a)
{
    static const struct option longopts[] = {{"mapping", required_argument, NULL, 'm'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"bootstrap", required_argument, NULL, 'B'},
                                             {"state", required_argument, NULL, 's'},
                                             {"topic", required_argument, NULL, 't'},
                                             {"extracted-at", required_argument, NULL, 'x'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"delivery-timeout-ms", required_argument, NULL, 'T'},
                                             {"metrics-file", required_argument, NULL, 'M'},
                                             {"stale-after", required_argument, NULL, 'S'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    a->timeout_ms = 30000;
    a->stale_after_h = 26;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:c:s:t:jh", longopts, NULL)) != -1) {
        const char **dst = c == 'm'   ? &a->mapping
                           : c == 'c' ? &a->cfg
                           : c == 'B' ? &a->bootstrap
                           : c == 's' ? &a->state_dir
                           : c == 't' ? &a->topic
                           : c == 'x' ? &a->extracted_at
                           : c == 'M' ? &a->metrics_file
                                      : NULL;
        if (dst) {
            *dst = optarg;
        } else if (c == 'j') {
            a->json = true;
        } else if (c == 'T') {
            a->timeout_ms = atoi(optarg);
            if (a->timeout_ms < 1000 || a->timeout_ms > 3600000)
                return NB_EXIT_USAGE;
        } else if (c == 'S') {
            char *end;
            long h = strtol(optarg, &end, 10);
            if (*end || end == optarg || h < 1 || h > 24 * 366)
                return NB_EXIT_USAGE;
            a->stale_after_h = (int)h;
            a->stale_set = true;
        } else if (c == 'h') {
            fputs(nb__csv_help, stdout);
            return -1;
        } else {
            return NB_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || !a->mapping || !a->cfg || !a->topic)
        return NB_EXIT_USAGE;
    if (a->stale_set && !a->metrics_file)
        return NB_EXIT_USAGE; /* --stale-after says nothing without --metrics-file */
    a->file = argv[optind];
    return NB_EXIT_OK;
}

/* The topic must be one of topics.appointments, as an MLLP listener's must. */
static bool nb__topic_ok(const nb_config_t *conf, const char *topic)
{
    for (size_t i = 0; i < conf->n_appointment_topics; i++)
        if (strcmp(conf->appointment_topics[i], topic) == 0)
            return true;
    return false;
}

int nb__cmd_ingest_csv(int argc, char **argv)
{
    nb__csv_args_t a = {0};
    char errstr[512];
    int rc = nb__csv_args(argc, argv, &a);
    if (rc != NB_EXIT_OK) {
        if (rc > 0)
            fputs(nb__csv_help, stderr);
        return rc > 0 ? rc : NB_EXIT_OK;
    }
    nb__imp_t imp = {0};
    imp.bad_col = -1;
    imp.file = a.file;
    imp.topic = a.topic;
    nb_feed_mapping_t *m = nb__mapping_load(a.mapping, &rc);
    if (!m)
        return rc;
    imp.m = m;
    if (!nb_feed_csv_opts(m, &imp.opts)) {
        fprintf(stderr, "notbrought ingest csv: %s: the mapping has no csv section\n", a.mapping);
        nb_feed_mapping_free(m);
        return NB_EXIT_FAILURE;
    }
    if (a.extracted_at && !nb_parse_time(a.extracted_at, &imp.st.extracted_at)) {
        fprintf(stderr, "notbrought ingest csv: --extracted-at: not YYYY-MM-DDTHH:MM:SSZ\n");
        nb_feed_mapping_free(m);
        return NB_EXIT_USAGE;
    }
    if (imp.opts.recorded_is_extract != (a.extracted_at != NULL)) {
        fprintf(stderr, "notbrought ingest csv: %s\n",
                imp.opts.recorded_is_extract
                    ? "--extracted-at is required: the mapping says recorded_at: extract_time"
                    : "--extracted-at is not used: the mapping reads recorded_at from a column");
        nb_feed_mapping_free(m);
        return NB_EXIT_USAGE;
    }
    nb_config_t *conf = nb__load_config("ingest", a.cfg, a.bootstrap, false);
    if (!conf) {
        nb_feed_mapping_free(m);
        return NB_EXIT_FAILURE;
    }
    imp.conf = conf;
    if (!nb__topic_ok(conf, a.topic)) {
        fprintf(stderr, "notbrought ingest csv: --topic %s is not one of topics.appointments\n",
                a.topic);
        rc = NB_EXIT_USAGE;
    } else if (!(imp.out = nb_feed_out_new())) {
        fprintf(stderr, "notbrought ingest csv: out of memory\n");
        rc = NB_EXIT_SOFTWARE;
    } else if (nb_feed_csv_decoder_new(m, &imp.dec, errstr, sizeof(errstr)) != NB_ERR_OK) {
        fprintf(stderr, "notbrought ingest csv: %s: %s\n", a.mapping, errstr);
        rc = NB_EXIT_FAILURE;
    } else {
        rc = nb__import(&imp, &a);
    }
    nb_feed_out_destroy(imp.out);
    nb_feed_csv_decoder_destroy(imp.dec);
    free(imp.fields);
    free(imp.lens);
    free(imp.pending);
    nb_config_destroy(conf);
    nb_feed_mapping_free(m);
    return rc;
}
