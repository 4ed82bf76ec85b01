/*
 * notbrought - feed: the CSV row mapper. One row of a child health system's extract (split and
 * unquoted by the caller's CSV reader) and the source's mapping in; an appointment event or a
 * refusal naming the row and the column out. docs/integration.md, "CSV extracts".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "feed/internal.h"

bool nb_feed_csv_opts(const nb_feed_mapping_t *m, nb_feed_csv_opts_t *o)
{
    if (!m || !m->csv)
        return false;
    if (o) {
        *o = m->csv->opts;
        o->encoding = m->csv->encoding[0] ? m->csv->encoding : "utf-8";
    }
    return true;
}

nb_err_t nb_feed_csv_header(const nb_feed_mapping_t *m, const char *const *fields,
                            const size_t *lens, size_t n, nb_feed_csv_header_t *h, char *errstr,
                            size_t errstr_size)
{
    if (!m || !h || (n && (!fields || !lens)))
        return NB_ERR_INVALID_ARG;
    if (errstr_size)
        errstr[0] = '\0';
    if (!m->csv) {
        snprintf(errstr, errstr_size, "mapping %s has no csv section", m->name);
        return NB_ERR_CONFIG;
    }
    const nb__csv_t *c = m->csv;
    h->n_columns = n;
    for (size_t k = 0; k < NB_FEED_CSV__KEYS; k++) {
        h->col[k] = -1;
        if (!c->col[k][0])
            continue;
        for (size_t i = 0; i < n; i++) {
            char norm[NB__FEED_CODE_MAX];
            if (lens[i] >= NB__FEED_CODE_MAX)
                continue;
            nb__feed_norm(fields[i], lens[i], norm, sizeof(norm));
            if (strcmp(norm, c->col_norm[k]) != 0)
                continue;
            if (h->col[k] >= 0) {
                snprintf(errstr, errstr_size,
                         "the header has column '%s' twice (columns %d and %zu)", c->col[k],
                         h->col[k] + 1, i + 1);
                return NB_ERR_CONFIG;
            }
            h->col[k] = (int)i;
        }
        if (h->col[k] < 0) {
            snprintf(errstr, errstr_size,
                     "the header has no column '%s', which the mapping reads (names are "
                     "compared without case, spaces, '-', '_' and '.')",
                     c->col[k]);
            return NB_ERR_CONFIG;
        }
    }
    return NB_ERR_OK;
}

/* ---- reading a row ----------------------------------------------------------------------- */

typedef struct nb__cctx_s {
    const nb_feed_mapping_t *m;
    const nb__csv_t *c;
    const nb_feed_csv_header_t *h;
    const nb_feed_csv_row_t *row;
    nb_feed_out_t *out;
} nb__cctx_t;

/* The field of key @p k, spaces around it removed; false when the key's column is not read or
 * the row is too short, or the field is empty. */
static bool nb__field(const nb__cctx_t *x, nb_feed_csv_key_t k, const char **p, size_t *len)
{
    int col = x->h->col[k];
    if (col < 0 || (size_t)col >= x->row->n)
        return false;
    const char *s = x->row->fields[col];
    size_t n = x->row->lens[col];
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *p = s;
    *len = n;
    return n > 0;
}

#define NB__REFUSE(x, err, code, k, ...) nb__refuse_at((x), (err), (code), (k), __VA_ARGS__)

__attribute__((format(printf, 5, 6))) NB_NODISCARD static nb_err_t
nb__refuse_at(const nb__cctx_t *x, nb_err_t err, const char *code, nb_feed_csv_key_t k,
              const char *fmt, ...)
{
    char msg[NB_FEED_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return nb__feed_refuse(x->out, err, NB_HL7_AE, code, "row %llu, column %s: %s",
                           (unsigned long long)x->row->number, x->c->col[k], msg);
}

/* Reads @p n digits (or 1 to @p n when @p flexible) at s[*i]. */
static bool nb__digits(const char *s, size_t len, size_t *i, size_t n, bool flexible, int *v)
{
    size_t got = 0;
    *v = 0;
    while (got < n && *i < len && s[*i] >= '0' && s[*i] <= '9') {
        *v = *v * 10 + (s[*i] - '0');
        (*i)++;
        got++;
    }
    return flexible ? got > 0 : got == n;
}

typedef struct nb__tm_s {
    int y, mo, d, h, mi, s;
    bool utc;
} nb__tm_t;

/* Reads @p s with a format (csv_load.c, nb__format()). Fields the format lacks keep their
 * value in *t. */
static bool nb__parse(const char *fmt, const char *s, size_t len, nb__tm_t *t)
{
    static const struct {
        const char *tok;
        size_t n;
        bool flexible;
        size_t off;
    } toks[] = {{"YYYY", 4, false, offsetof(nb__tm_t, y)}, {"MM", 2, false, offsetof(nb__tm_t, mo)},
                {"DD", 2, false, offsetof(nb__tm_t, d)},   {"hh", 2, false, offsetof(nb__tm_t, h)},
                {"mm", 2, false, offsetof(nb__tm_t, mi)},  {"ss", 2, false, offsetof(nb__tm_t, s)},
                {"M", 2, true, offsetof(nb__tm_t, mo)},    {"D", 2, true, offsetof(nb__tm_t, d)},
                {"h", 2, true, offsetof(nb__tm_t, h)}};
    size_t i = 0;
    while (*fmt) {
        size_t k;
        for (k = 0; k < sizeof(toks) / sizeof(toks[0]); k++)
            if (strncmp(fmt, toks[k].tok, strlen(toks[k].tok)) == 0)
                break;
        if (k < sizeof(toks) / sizeof(toks[0])) {
            if (!nb__digits(s, len, &i, toks[k].n, toks[k].flexible,
                            (int *)(void *)((char *)t + toks[k].off)))
                return false;
            fmt += strlen(toks[k].tok);
            continue;
        }
        if (i >= len || s[i] != *fmt)
            return false;
        if (*fmt == 'Z')
            t->utc = true;
        i++;
        fmt++;
    }
    return i == len;
}

static bool nb__valid(const nb__tm_t *t)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (t->y < 1900 || t->y > 2199 || t->mo < 1 || t->mo > 12 || t->d < 1 ||
        t->d > mdays[t->mo - 1] || t->h > 23 || t->mi > 59 || t->s > 59)
        return false;
    bool leap = (t->y % 4 == 0 && t->y % 100 != 0) || t->y % 400 == 0;
    return !(t->mo == 2 && t->d == 29 && !leap);
}

/* A time key (and for the start, its own time column) in UTC ms. NB_ERR_NOT_FOUND when empty. */
NB_NODISCARD static nb_err_t nb__time(const nb__cctx_t *x, nb_feed_csv_key_t k, const char *what,
                                      int64_t *ms)
{
    const char *p;
    size_t len;
    nb__tm_t t = {0, 1, 1, 0, 0, 0, false};
    if (!nb__field(x, k, &p, &len))
        return NB_ERR_NOT_FOUND;
    if (!nb__parse(x->c->fmt[k], p, len, &t) || !nb__valid(&t))
        return NB__REFUSE(x, NB_ERR_TIMESTAMP_RANGE, "timestamp_invalid", k,
                          "the %s does not read as %s", what, x->c->fmt[k]);
    if (k == NB_FEED_CSV_START && x->h->col[NB_FEED_CSV_START_TIME] >= 0) {
        if (!nb__field(x, NB_FEED_CSV_START_TIME, &p, &len))
            return NB__REFUSE(x, NB_ERR_FIELD_EMPTY, "scheduled_start_missing",
                              NB_FEED_CSV_START_TIME, "no scheduled time");
        if (!nb__parse(x->c->fmt[NB_FEED_CSV_START_TIME], p, len, &t) || !nb__valid(&t))
            return NB__REFUSE(x, NB_ERR_TIMESTAMP_RANGE, "timestamp_invalid",
                              NB_FEED_CSV_START_TIME, "the scheduled time does not read as %s",
                              x->c->fmt[NB_FEED_CSV_START_TIME]);
    }
    int64_t day_ms = ((int64_t)t.h * 3600 + t.mi * 60 + t.s) * 1000;
    if (t.utc || x->m->utc) {
        *ms = (int64_t)nb_days_from_civil(t.y, (unsigned)t.mo, (unsigned)t.d) * 86400000 + day_ms;
        return NB_ERR_OK;
    }
    if (nb_feed_london_to_utc(t.y, (unsigned)t.mo, (unsigned)t.d, day_ms, ms) != NB_ERR_OK)
        return NB__REFUSE(x, NB_ERR_TIMESTAMP_RANGE, "timestamp_range", k,
                          "the %s is a UK local time outside %d-%d", what,
                          NB_FEED_LONDON_FIRST_YEAR, NB_FEED_LONDON_LAST_YEAR);
    return NB_ERR_OK;
}

/* A code of key @p k through @p map (or the default). */
NB_NODISCARD static nb_err_t nb__coded(const nb__cctx_t *x, nb_feed_csv_key_t k, const char *what,
                                       const char *key, const nb__codemap_t *map, int dflt,
                                       int *value)
{
    const char *p;
    size_t len;
    char norm[NB__FEED_CODE_MAX], raw[NB__FEED_CODE_MAX], q[40], code[NB_FEED_CODE_MAX];
    bool have = nb__field(x, k, &p, &len);
    if (have) {
        nb__feed_norm(p, len, norm, sizeof(norm));
        if (len < NB__FEED_CODE_MAX && nb__feed_lookup(map, norm, value))
            return NB_ERR_OK;
    }
    if (dflt != NB__FEED_REFUSE) {
        *value = dflt;
        return NB_ERR_OK;
    }
    snprintf(code, sizeof(code), "%s_%s", key, have ? "unmapped" : "missing");
    if (!have)
        return NB__REFUSE(x, NB_ERR_FEED_UNMAPPED, code, k, "no %s, and the mapping has no default",
                          what);
    size_t n = len < sizeof(raw) - 1 ? len : sizeof(raw) - 1;
    memcpy(raw, p, n);
    raw[n] = '\0';
    return NB__REFUSE(x, NB_ERR_FEED_UNMAPPED, code, k,
                      "%s %s is not in the mapping's %s map, which has no default", what,
                      nb__feed_quote(raw, q, sizeof(q)), key);
}

/* An identifier column into @p dst (NB_ID_MAX): NB_ERR_NOT_FOUND when empty. */
NB_NODISCARD static nb_err_t nb__ident(const nb__cctx_t *x, nb_feed_csv_key_t k, const char *what,
                                       char *dst, size_t cap)
{
    const char *p;
    size_t len;
    dst[0] = '\0';
    if (!nb__field(x, k, &p, &len))
        return NB_ERR_NOT_FOUND;
    if (len >= cap)
        return NB__REFUSE(x, NB_ERR_FIELD_TOO_LONG, "field_too_long", k,
                          "the %s is longer than %zu bytes", what, cap - 1);
    nb_text_fault_t tf = nb_text_check(p, len, NB_TEXT_ID);
    if (tf != NB_TEXT_OK)
        return NB__REFUSE(x, NB_ERR_TEXT_INVALID, "text_invalid", k, "the %s %s", what,
                          nb_text_fault_str(tf));
    memcpy(dst, p, len);
    dst[len] = '\0';
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__subject(const nb__cctx_t *x, nb_appointment_event_t *ev)
{
    char raw[NB_ID_MAX + 1], norm[NB_NHS_LEN + 1];
    nb_err_t err = nb__ident(x, NB_FEED_CSV_NHS_NUMBER, "NHS number", raw, sizeof(raw));
    if (err == NB_ERR_OK) {
        if (nb_nhs_normalise(raw, norm) != NB_ERR_OK)
            return NB__REFUSE(x, NB_ERR_NHS_FORMAT, "nhs_format", NB_FEED_CSV_NHS_NUMBER,
                              "NHS number is not 10 digits");
        err = nb_nhs_validate(norm);
        if (err == NB_ERR_NHS_CHECK_DIGIT)
            return NB__REFUSE(x, err, "nhs_check_digit", NB_FEED_CSV_NHS_NUMBER,
                              "NHS number fails the Modulus 11 check");
        if (err != NB_ERR_OK && err != NB_ERR_NHS_PLACEHOLDER)
            return NB__REFUSE(x, NB_ERR_NHS_FORMAT, "nhs_format", NB_FEED_CSV_NHS_NUMBER,
                              "NHS number is not 10 digits");
        /* A placeholder (one digit ten times) means "not known": the local id is used. */
        if (err == NB_ERR_OK)
            nb_str_copy(ev->nhs_number, sizeof(ev->nhs_number), norm);
    } else if (err != NB_ERR_NOT_FOUND) {
        return err;
    }
    err = nb__ident(x, NB_FEED_CSV_LOCAL_ID, "local identifier", ev->local_id.value,
                    sizeof(ev->local_id.value));
    if (err == NB_ERR_OK)
        nb_str_copy(ev->local_id.system, sizeof(ev->local_id.system), x->c->local_system);
    else if (err != NB_ERR_NOT_FOUND)
        return err;
    if (!ev->nhs_number[0] && !ev->local_id.value[0])
        return NB__REFUSE(x, NB_ERR_MISSING_IDENTIFIER, "missing_identifier",
                          x->c->col[NB_FEED_CSV_NHS_NUMBER][0] ? NB_FEED_CSV_NHS_NUMBER
                                                               : NB_FEED_CSV_LOCAL_ID,
                          "no NHS number and no local identifier");
    if (x->h->col[NB_FEED_CSV_DOB] >= 0) {
        int64_t ms;
        err = nb__time(x, NB_FEED_CSV_DOB, "date of birth", &ms);
        if (err == NB_ERR_OK)
            ev->date_of_birth = (int32_t)((ms + 12 * 3600000) / 86400000); /* local midnight */
        else if (err != NB_ERR_NOT_FOUND)
            return err;
    }
    return NB_ERR_OK;
}

/* The event id: SHA-256 over the source, the appointment id, the status, recorded_at and every
 * field of the row, each followed by a NUL (feed.h, nb_feed_csv_row()); its first half is the
 * event's, its second the identity link's, as HL7 v2's. */
NB_NODISCARD static nb_err_t nb__id(const nb__cctx_t *x, nb_appointment_event_t *ev,
                                    char link_id[NB_ID_MAX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char num[32];
    const char *parts[] = {"csv/1",
                           nb_agency_name(ev->source.agency),
                           ev->source.organisation_code,
                           ev->source.system,
                           ev->appointment_id,
                           nb_status_name(ev->status),
                           num};
    snprintf(num, sizeof(num), "%lld", (long long)ev->recorded_at);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    bool ok = mc && EVP_DigestInit_ex(mc, x->m->sha256 ? x->m->sha256 : EVP_sha256(), NULL);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && ok; i++)
        ok = EVP_DigestUpdate(mc, parts[i], strlen(parts[i]) + 1);
    for (size_t i = 0; i < x->row->n && ok; i++)
        ok =
            EVP_DigestUpdate(mc, x->row->fields[i], x->row->lens[i]) && EVP_DigestUpdate(mc, "", 1);
    ok = ok && EVP_DigestFinal_ex(mc, md, &mdlen);
    EVP_MD_CTX_free(mc);
    if (!ok || mdlen < 32)
        return NB_ERR_NOMEM;
    nb__feed_hex_id(ev->event_id, "csv-", md);
    nb__feed_hex_id(link_id, "csv-", md + 16);
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__map(const nb__cctx_t *x, nb_appointment_event_t *ev,
                                     char link_id[NB_ID_MAX + 1])
{
    const nb__csv_t *c = x->c;
    nb_err_t err;
    int v;
    err = nb__ident(x, NB_FEED_CSV_APPOINTMENT_ID, "appointment id", ev->appointment_id,
                    sizeof(ev->appointment_id));
    if (err == NB_ERR_NOT_FOUND)
        return NB__REFUSE(x, NB_ERR_FIELD_EMPTY, "appointment_id_missing",
                          NB_FEED_CSV_APPOINTMENT_ID, "no appointment id");
    if (err)
        return err;
    if ((err =
             nb__coded(x, NB_FEED_CSV_STATUS, "status", "status", &c->status, c->status_dflt, &v)))
        return err;
    ev->status = (nb_status_t)v;
    if ((err = nb__subject(x, ev)))
        return err;
    err = nb__time(x, NB_FEED_CSV_START, "scheduled start", &ev->scheduled_start);
    if (err == NB_ERR_NOT_FOUND)
        return NB__REFUSE(x, NB_ERR_FIELD_EMPTY, "scheduled_start_missing", NB_FEED_CSV_START,
                          "no scheduled start");
    if (err)
        return err;
    if (c->opts.recorded_is_extract) {
        ev->recorded_at = x->row->extracted_at;
    } else {
        err = nb__time(x, NB_FEED_CSV_RECORDED, "recording time", &ev->recorded_at);
        if (err == NB_ERR_NOT_FOUND)
            return NB__REFUSE(x, NB_ERR_FIELD_EMPTY, "recorded_at_missing", NB_FEED_CSV_RECORDED,
                              "no recording time");
        if (err)
            return err;
    }
    if ((err = nb__coded(x, NB_FEED_CSV_TYPE, "appointment type", "type", &c->type, c->type_dflt,
                         &v)))
        return err;
    const char *type = x->m->types[v];
    char norm[NB__FEED_CODE_MAX];
    nb_str_copy(ev->appointment_type, sizeof(ev->appointment_type), type);
    nb__feed_norm(type, strlen(type), norm, sizeof(norm));
    ev->mandated_contact = nb__feed_lookup(&x->m->mandated, norm, &v);
    if ((err = nb__coded(x, NB_FEED_CSV_MODE, "contact mode", "mode", &c->mode, c->mode_dflt, &v)))
        return err;
    ev->contact_mode = (nb_contact_mode_t)v;
    /* docs/schemas.md: a no-show on a home visit is a visit where nobody answered. */
    if (ev->status == NB_STATUS_WAS_NOT_BROUGHT && ev->contact_mode == NB_CONTACT_HOME_VISIT)
        ev->status = NB_STATUS_NO_ACCESS_VISIT;
    return nb__id(x, ev, link_id);
}

nb_err_t nb_feed_csv_row(const nb_feed_mapping_t *m, const nb_feed_csv_header_t *h,
                         const nb_feed_csv_row_t *row, nb_feed_out_t *out)
{
    if (!m || !m->csv || !h || !row || !out || (row->n && (!row->fields || !row->lens)))
        return NB_ERR_INVALID_ARG;
    out->outcome = NB_FEED_REFUSED;
    out->err = NB_ERR_OK;
    out->ack = NB_HL7_AE;
    out->code[0] = out->text[0] = '\0';
    out->control_id[0] = out->sending_app[0] = out->sending_facility[0] = '\0';
    out->message_type[0] = out->processing_id[0] = out->version[0] = '\0';
    out->n_records = 0;
    nb__cctx_t x = {m, m->csv, h, row, out};
    if (row->n != h->n_columns)
        return out->err = nb__feed_refuse(out, NB_ERR_FIELD_COUNT, NB_HL7_AE, "column_count",
                                          "row %llu: %zu fields where the header has %zu columns",
                                          (unsigned long long)row->number, row->n, h->n_columns);
    nb_record_t *rec = &out->records[0];
    memset(&rec->u.appt, 0, sizeof(rec->u.appt));
    rec->type = NB_RECORD_APPOINTMENT;
    rec->schema_id = 1;
    nb_appointment_event_t *ev = &rec->u.appt;
    ev->source = m->source;
    ev->subject_kind = NB_SUBJECT_CHILD;
    ev->expected_delivery_date = NB_DATE_NONE;
    ev->date_of_birth = NB_DATE_NONE;
    ev->version = 1;
    char link_id[NB_ID_MAX + 1];
    if ((out->err = nb__map(&x, ev, link_id)))
        return out->err;
    out->n_records = 1;
    if (x.c->link_local_to_nhs &&
        nb__feed_link_add(out, ev, x.c->link_verification, link_id) != NB_ERR_OK)
        return out->err = nb__feed_refuse(out, NB_ERR_LIMIT, NB_HL7_AE, "limit",
                                          "row %llu maps to more than %d records",
                                          (unsigned long long)row->number, NB_FEED_MAX_RECORDS);
    out->outcome = NB_FEED_MAPPED;
    out->ack = NB_HL7_AA;
    nb_str_copy(out->code, sizeof(out->code), "mapped");
    snprintf(out->text, sizeof(out->text), "row %llu: status %s from column %s",
             (unsigned long long)row->number, nb_status_name(ev->status),
             x.c->col[NB_FEED_CSV_STATUS]);
    return NB_ERR_OK;
}
