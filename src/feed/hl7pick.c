/*
 * notbrought - feed: reading what a mapping points at in an HL7 v2 message: the first valued
 * of a list of paths, codes through a map, times and dates (UK local time unless the message
 * says its offset), identifiers picked out of CX repetitions by assigning authority and type.
 * The HL7 null `""` counts as no value: a stateless mapper publishes the whole appointment
 * each time, so "delete this value" and "not sent" both leave the field empty.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "feed/internal.h"

nb_err_t nb__feed_refuse(nb_feed_out_t *out, nb_err_t err, nb_hl7_ack_code_t ack, const char *code,
                         const char *fmt, ...)
{
    va_list ap;
    out->outcome = NB_FEED_REFUSED;
    out->err = err;
    out->ack = ack;
    out->n_records = 0;
    nb_str_copy(out->code, sizeof(out->code), code);
    va_start(ap, fmt);
    vsnprintf(out->text, sizeof(out->text), fmt, ap);
    va_end(ap);
    return err;
}

int nb__feed_first(const nb__mctx_t *ctx, const nb__paths_t *ps, nb_hl7_value_t *v)
{
    for (size_t i = 0; i < ps->n; i++) {
        *v = nb_hl7_path_get(ctx->msg, &ps->p[i]);
        if (nb_hl7_value_kind(*v) == NB_HL7_VALUED)
            return (int)i;
    }
    v->p = "";
    v->len = 0;
    return -1;
}

static bool nb__blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Whether @p v holds the escape character. Values are short (a few to a few dozen bytes): a
 * loop answers sooner than memchr(), whose set-up costs more than the search. */
static bool nb__has_escape(const nb__mctx_t *ctx, nb_hl7_value_t v)
{
    bool esc = false;
    for (size_t i = 0; i < v.len; i++)
        esc |= v.p[i] == ctx->d->esc;
    return esc;
}

size_t nb__feed_text_len(const nb__mctx_t *ctx, nb_hl7_value_t v, char *buf, size_t cap)
{
    size_t n = 0;
    if (v.len < cap && !nb__has_escape(ctx, v)) {
        /* Nothing to unescape (most values): the spaces around it dropped, then one copy. */
        const char *p = v.p;
        n = v.len;
        while (n > 0 && nb__blank(*p)) {
            p++;
            n--;
        }
        while (n > 0 && nb__blank(p[n - 1]))
            n--;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return n;
    }
    if (nb_hl7_unescape(ctx->d, v, buf, cap, &n, 0, NULL, NULL, 0) != NB_ERR_OK) {
        /* Not strict: a bare backslash in a code is kept as written (docs/hl7.md). */
        buf[0] = '\0';
        return SIZE_MAX;
    }
    size_t a = 0;
    while (a < n && nb__blank(buf[a]))
        a++;
    while (n > a && nb__blank(buf[n - 1]))
        n--;
    memmove(buf, buf + a, n - a);
    buf[n - a] = '\0';
    return strlen(buf); /* \X00\ gives a NUL: the text ends there (a message holds none) */
}

bool nb__feed_text(const nb__mctx_t *ctx, nb_hl7_value_t v, char *buf, size_t cap)
{
    return nb__feed_text_len(ctx, v, buf, cap) != SIZE_MAX;
}

const char *nb__feed_quote(const char *code, char *buf, size_t cap)
{
    /* One word of a code's characters: free text (a reason typed by a person) could name
     * someone, so anything with a space or longer than 20 bytes is not quoted. */
    size_t n = strlen(code);
    bool plain = n > 0 && n <= 20;
    for (size_t i = 0; i < n && plain; i++) {
        char c = code[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '/' || c == '^';
    }
    if (!plain)
        return "a value";
    snprintf(buf, cap, "'%s'", code);
    return buf;
}

int nb__feed_code(const nb__mctx_t *ctx, const nb__coded_t *c, int *value, char *code, size_t cap,
                  int *path_i)
{
    nb_hl7_value_t v;
    char norm[NB__FEED_CODE_MAX];
    *path_i = nb__feed_first(ctx, &c->field, &v);
    code[0] = '\0';
    if (*path_i < 0)
        return 0;
    size_t len = nb__feed_text_len(ctx, v, code, cap);
    if (len == SIZE_MAX)
        return -1; /* longer than any code of a map */
    if (len == 0)
        return 0;
    if (len >= NB__FEED_CODE_MAX)
        return -1;
    nb__feed_norm(code, len, norm, sizeof(norm));
    return nb__feed_lookup(&c->map, norm, value) ? 1 : -1;
}

/* A DTM at the first valued path, read. */
NB_NODISCARD static nb_err_t nb__feed_dtm(const nb__mctx_t *ctx, const nb__paths_t *ps,
                                          const char *what, nb_hl7_dtm_t *t, int *path_i)
{
    nb_hl7_value_t v;
    char buf[64], err[128];
    *path_i = nb__feed_first(ctx, ps, &v);
    if (*path_i < 0)
        return NB_ERR_NOT_FOUND;
    /* A TS is DTM^precision: the first component is the time. */
    v = nb_hl7_value_piece(v, ctx->d->comp, 1);
    size_t len = nb__feed_text_len(ctx, v, buf, sizeof(buf));
    if (len == SIZE_MAX)
        return nb__feed_refuse(ctx->out, NB_ERR_HL7_TIMESTAMP, NB_HL7_AE, "timestamp_invalid",
                               "%s: %s is too long for a date/time", ps->text[*path_i], what);
    if (nb_hl7_dtm_parse(buf, len, t, err, sizeof(err)) != NB_ERR_OK)
        return nb__feed_refuse(ctx->out, NB_ERR_HL7_TIMESTAMP, NB_HL7_AE, "timestamp_invalid",
                               "%s: %s is not a valid HL7 date/time (%s)", ps->text[*path_i], what,
                               err);
    return NB_ERR_OK;
}

nb_err_t nb__feed_time(const nb__mctx_t *ctx, const nb__paths_t *ps, const char *what, int64_t *ms)
{
    nb_hl7_dtm_t t;
    int pi;
    nb_err_t err = nb__feed_dtm(ctx, ps, what, &t, &pi);
    if (err)
        return err;
    int64_t of_day =
        ((int64_t)t.hour * 3600 + (int64_t)t.minute * 60 + t.second) * 1000 + nb_hl7_dtm_ms(&t);
    if (t.has_zone || ctx->m->utc) {
        int64_t day = nb_days_from_civil(t.year, (unsigned)t.month, (unsigned)t.day);
        *ms = day * NB_MS_PER_DAY + of_day - (t.has_zone ? (int64_t)t.zone_minutes * 60000 : 0);
        return NB_ERR_OK;
    }
    if (nb_feed_london_to_utc(t.year, (unsigned)t.month, (unsigned)t.day, of_day, ms) != NB_ERR_OK)
        return nb__feed_refuse(ctx->out, NB_ERR_TIMESTAMP_RANGE, NB_HL7_AE, "timestamp_range",
                               "%s: %s is a local time outside the years %d-%d the UK rule is "
                               "known for",
                               ps->text[pi], what, NB_FEED_LONDON_FIRST_YEAR,
                               NB_FEED_LONDON_LAST_YEAR);
    return NB_ERR_OK;
}

nb_err_t nb__feed_date(const nb__mctx_t *ctx, const nb__paths_t *ps, const char *what,
                       int32_t *days)
{
    nb_hl7_dtm_t t;
    int pi;
    nb_err_t err = nb__feed_dtm(ctx, ps, what, &t, &pi);
    if (err)
        return err;
    if (t.precision < NB_HL7_DAY)
        return nb__feed_refuse(ctx->out, NB_ERR_HL7_TIMESTAMP, NB_HL7_AE, "timestamp_invalid",
                               "%s: %s is not a whole date (year or month only)", ps->text[pi],
                               what);
    *days = nb_days_from_civil(t.year, (unsigned)t.month, (unsigned)t.day);
    return NB_ERR_OK;
}

/* Whether a component matches a set: the set is empty (anything matches), or the component's
 * first or second sub-component (HD namespace id, universal id) is in it. */
static bool nb__matches(const nb__mctx_t *ctx, const nb__codemap_t *set, nb_hl7_value_t comp)
{
    if (set->n == 0)
        return true;
    for (size_t s = 1; s <= 2; s++) {
        char buf[NB__FEED_CODE_MAX], norm[NB__FEED_CODE_MAX];
        int dummy;
        nb_hl7_value_t sub = nb_hl7_value_piece(comp, ctx->d->sub, s);
        if (sub.len == 0 || sub.len >= sizeof(buf))
            continue;
        if (nb__has_escape(ctx, sub)) {
            size_t len = nb__feed_text_len(ctx, sub, buf, sizeof(buf));
            if (len == SIZE_MAX)
                continue;
            sub.p = buf;
            sub.len = len;
        }
        /* Read in place when nothing is escaped: normalising drops the spaces around it too. */
        nb__feed_norm(sub.p, sub.len, norm, sizeof(norm));
        if (nb__feed_lookup(set, norm, &dummy))
            return true;
    }
    return false;
}

/* "PID-3 repetition 2" into @p buf, without the formatting machinery (once per message). */
static void nb__where(char *buf, size_t cap, const char *path, size_t rep)
{
    char num[24];
    size_t k = sizeof(num);
    num[--k] = '\0';
    do {
        num[--k] = (char)('0' + rep % 10);
        rep /= 10;
    } while (rep && k > 0);
    nb_str_copy(buf, cap, path);
    size_t off = strlen(buf);
    nb_str_copy(buf + off, cap - off, " repetition ");
    off += strlen(buf + off);
    nb_str_copy(buf + off, cap - off, num + k);
}

nb_err_t nb__feed_pick_id(const nb__mctx_t *ctx, const nb__idsel_t *sel, const char *what,
                          char *value, size_t cap, char *where, size_t wcap)
{
    value[0] = '\0';
    if (!sel->set)
        return NB_ERR_NOT_FOUND;
    for (size_t i = 0; i < sel->field.n; i++) {
        nb_hl7_value_t field = nb_hl7_path_get(ctx->msg, &sel->field.p[i]), rep;
        nb_hl7_iter_t it;
        size_t r = 0;
        nb_hl7_iter_init(&it, field, ctx->d->rep);
        while (nb_hl7_iter_next(&it, &rep)) {
            r++;
            nb_hl7_value_t id = nb_hl7_value_piece(rep, ctx->d->comp, 1);
            if (nb_hl7_value_kind(id) != NB_HL7_VALUED ||
                !nb__matches(ctx, &sel->authorities, nb_hl7_value_piece(rep, ctx->d->comp, 4)) ||
                !nb__matches(ctx, &sel->types, nb_hl7_value_piece(rep, ctx->d->comp, 5)))
                continue;
            size_t shown = sel->field.p[i].rep ? sel->field.p[i].rep : r;
            nb__where(where, wcap, sel->field.text[i], shown);
            size_t len = nb__feed_text_len(ctx, id, value, cap);
            if (len == SIZE_MAX)
                return nb__feed_refuse(ctx->out, NB_ERR_FIELD_TOO_LONG, NB_HL7_AE, "field_too_long",
                                       "%s: the %s is longer than %zu bytes", where, what, cap - 1);
            nb_text_fault_t tf = nb_text_check(value, len, NB_TEXT_ID);
            if (tf != NB_TEXT_OK) {
                value[0] = '\0';
                return nb__feed_refuse(ctx->out, NB_ERR_TEXT_INVALID, NB_HL7_AE, "text_invalid",
                                       "%s: the %s %s", where, what, nb_text_fault_str(tf));
            }
            if (value[0])
                return NB_ERR_OK;
        }
    }
    return NB_ERR_NOT_FOUND;
}
