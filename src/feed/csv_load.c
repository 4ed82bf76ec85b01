/*
 * notbrought - feed: loading the csv section of a mapping (docs/integration.md, "CSV
 * extracts"): how the extract is written (delimiter, quote, encoding, limits), which column
 * holds what, the formats of its dates and times, and the code maps of its status, appointment
 * type and contact mode. Every key is checked, as the hl7v2 section's are.
 */
#include <stdlib.h>
#include <string.h>

#include "feed/internal.h"

#define NB__CSV_DEFAULT_ROW (64u * 1024)
#define NB__CSV_DEFAULT_FIELD 4096u
#define NB__CSV_MAX_ROW (1u << 20)

void nb__feed_csv_free(nb__csv_t *c)
{
    if (!c)
        return;
    free(c->status.v);
    free(c->type.v);
    free(c->mode.v);
    free(c);
}

/* A column name: one line of 1 to 63 characters, stored as written and normalised. */
static void nb__column(nb__lctx_t *ctx, yaml_node_t *node, const char *key, nb_feed_csv_key_t k)
{
    nb__csv_t *c = ctx->m->csv;
    const char *s = nb__feed_scalar(ctx, node, key);
    if (!s)
        return;
    size_t len = strlen(s);
    if (len == 0 || len >= NB__FEED_CODE_MAX) {
        NB__ERR(ctx, node, "'%s': a column name must be 1 to %d characters", key,
                NB__FEED_CODE_MAX - 1);
        return;
    }
    nb__feed_norm(s, len, c->col_norm[k], sizeof(c->col_norm[k]));
    if (!c->col_norm[k][0]) {
        NB__ERR(ctx, node, "'%s': a column name of only spaces and punctuation", key);
        return;
    }
    nb_str_copy(c->col[k], sizeof(c->col[k]), s);
}

/* A date/time format: the tokens YYYY, MM, M, DD, D, hh, h, mm, ss and Z (the value is UTC),
 * anything else literal; a date needs YYYY, a month and a day, a time hh (or h). */
static void nb__format(nb__lctx_t *ctx, yaml_node_t *node, const char *key, nb_feed_csv_key_t k,
                       bool date, bool time)
{
    nb__csv_t *c = ctx->m->csv;
    const char *s = nb__feed_scalar(ctx, node, key);
    if (!s)
        return;
    if (!s[0] || strlen(s) >= NB__FEED_CSV_FMT) {
        NB__ERR(ctx, node, "'%s' must be 1 to %d characters", key, NB__FEED_CSV_FMT - 1);
        return;
    }
    bool y = strstr(s, "YYYY") != NULL, mo = strchr(s, 'M') != NULL, d = strchr(s, 'D') != NULL,
         h = strchr(s, 'h') != NULL;
    if (date && !(y && mo && d))
        NB__ERR(ctx, node, "'%s' needs a date: YYYY, MM (or M) and DD (or D)", key);
    else if (time && !date && !h)
        NB__ERR(ctx, node, "'%s' needs a time: hh (or h), and mm", key);
    else if (!date && (y || mo || d))
        NB__ERR(ctx, node, "'%s' is a time: it cannot hold a date", key);
    else
        nb_str_copy(c->fmt[k], sizeof(c->fmt[k]), s);
}

/* {column, format[, time_column, time_format]} or, for a key without a format, a column name. */
static void nb__timed(nb__lctx_t *ctx, yaml_node_t *node, const char *key, nb_feed_csv_key_t k,
                      bool with_time_column)
{
    static const char *const keys[] = {"column", "format", "time_column", "time_format", NULL};
    static const char *const keys2[] = {"column", "format", NULL};
    if (!nb__feed_is_map(ctx, node, key))
        return;
    nb__feed_known_keys(ctx, node, key, with_time_column ? keys : keys2);
    yaml_node_t *col = nb__feed_get(ctx, node, "column"), *fmt = nb__feed_get(ctx, node, "format"),
                *tc = nb__feed_get(ctx, node, "time_column"),
                *tf = nb__feed_get(ctx, node, "time_format");
    if (!col || !fmt)
        NB__ERR(ctx, node, "'%s' needs 'column' and 'format' (e.g. \"DD/MM/YYYY hh:mm\")", key);
    if (col)
        nb__column(ctx, col, "column", k);
    if (fmt)
        nb__format(ctx, fmt, "format", k, true, false);
    if (!tc != !tf)
        NB__ERR(ctx, node, "'%s': time_column and time_format go together", key);
    if (tc && tf) {
        nb__column(ctx, tc, "time_column", NB_FEED_CSV_START_TIME);
        nb__format(ctx, tf, "time_format", NB_FEED_CSV_START_TIME, false, true);
    }
}

/* {column, map, default}: a column and its codes; without a column, the default for every row
 * (where @p column_optional). */
static void nb__csv_coded(nb__lctx_t *ctx, yaml_node_t *node, const char *key, nb_feed_csv_key_t k,
                          nb__feed_name_fn fn, nb__codemap_t *map, int *dflt, bool column_optional)
{
    static const char *const keys[] = {"column", "map", "default", NULL};
    *dflt = NB__FEED_REFUSE;
    if (!nb__feed_is_map(ctx, node, key))
        return;
    nb__feed_known_keys(ctx, node, key, keys);
    yaml_node_t *col = nb__feed_get(ctx, node, "column"), *mp = nb__feed_get(ctx, node, "map"),
                *d = nb__feed_get(ctx, node, "default");
    if (col)
        nb__column(ctx, col, "column", k);
    if (mp)
        nb__feed_codes(ctx, mp, key, fn, map);
    if (d) {
        const char *s = nb__feed_scalar(ctx, d, "default");
        if (s && strcmp(s, "refuse") != 0 && !nb__feed_target(ctx, d, s, fn, key, dflt))
            *dflt = NB__FEED_REFUSE; /* reported */
    }
    if (!col && !(column_optional && *dflt != NB__FEED_REFUSE))
        NB__ERR(ctx, node, "'%s' needs 'column'%s", key,
                column_optional ? " (or, for every row alike, only a 'default')" : "");
    else if (col && !mp)
        NB__ERR(ctx, node, "'%s' needs 'map', from names to the codes the extract holds", key);
}

/* delimiter and quote: one ASCII character each, not a line break, and not the same. */
static void nb__char(nb__lctx_t *ctx, yaml_node_t *node, const char *key, char *out)
{
    const char *s = nb__feed_scalar(ctx, node, key);
    if (!s)
        return;
    if (strcmp(s, "\\t") == 0 || strcmp(s, "tab") == 0)
        s = "\t";
    if (strlen(s) != 1 || s[0] == '\n' || s[0] == '\r' || (unsigned char)s[0] >= 0x80)
        NB__ERR(ctx, node, "'%s' must be one ASCII character (or \"tab\")", key);
    else
        *out = s[0];
}

static void nb__limit(nb__lctx_t *ctx, yaml_node_t *node, const char *key, size_t *out)
{
    const char *s = nb__feed_scalar(ctx, node, key);
    char *end = NULL;
    if (!s)
        return;
    unsigned long v = strtoul(s, &end, 10);
    if (!s[0] || *end || v < 64 || v > NB__CSV_MAX_ROW)
        NB__ERR(ctx, node, "'%s' must be a number of bytes from 64 to %u", key, NB__CSV_MAX_ROW);
    else
        *out = v;
}

/* How the file is written: delimiter, quote, encoding, limits. */
static void nb__reading(nb__lctx_t *ctx, yaml_node_t *node)
{
    nb__csv_t *c = ctx->m->csv;
    yaml_node_t *v;
    if ((v = nb__feed_get(ctx, node, "delimiter")))
        nb__char(ctx, v, "delimiter", &c->opts.delimiter);
    if ((v = nb__feed_get(ctx, node, "quote")))
        nb__char(ctx, v, "quote", &c->opts.quote);
    if (c->opts.delimiter == c->opts.quote)
        NB__ERR(ctx, node, "csv: the delimiter and the quote must differ");
    const char *s =
        (v = nb__feed_get(ctx, node, "encoding")) ? nb__feed_scalar(ctx, v, "encoding") : NULL;
    char why[160];
    if (s && (!s[0] || strlen(s) >= sizeof(c->encoding)))
        NB__ERR(ctx, v, "'encoding' must be 1 to %zu characters", sizeof(c->encoding) - 1);
    else if (s && !nb__feed_csv_encoding_check(s, why, sizeof(why)))
        NB__ERR(ctx, v, "encoding '%s': %s", s, why);
    else if (s && !nb__feed_csv_is_utf8(s))
        nb_str_copy(c->encoding, sizeof(c->encoding), s);
    if ((v = nb__feed_get(ctx, node, "max_row_bytes")))
        nb__limit(ctx, v, "max_row_bytes", &c->opts.max_row_bytes);
    if ((v = nb__feed_get(ctx, node, "max_field_bytes")))
        nb__limit(ctx, v, "max_field_bytes", &c->opts.max_field_bytes);
    if (c->opts.max_field_bytes > c->opts.max_row_bytes)
        NB__ERR(ctx, node, "csv: max_field_bytes is larger than max_row_bytes");
}

/* The subject: nhs_number (a column) and local_id {column, system}; one of them at least. */
static void nb__subject(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const lkeys[] = {"column", "system", NULL};
    nb__csv_t *c = ctx->m->csv;
    yaml_node_t *n = nb__feed_get(ctx, node, "nhs_number"),
                *l = nb__feed_get(ctx, node, "local_id");
    if (n)
        nb__column(ctx, n, "nhs_number", NB_FEED_CSV_NHS_NUMBER);
    if (!n && !l)
        NB__ERR(ctx, node, "csv needs 'nhs_number' or 'local_id' (or both): the child's column");
    if (!l || !nb__feed_is_map(ctx, l, "local_id"))
        return;
    nb__feed_known_keys(ctx, l, "local_id", lkeys);
    yaml_node_t *col = nb__feed_get(ctx, l, "column"), *sys = nb__feed_get(ctx, l, "system");
    if (!col || !sys)
        NB__ERR(ctx, l, "local_id needs 'column' and 'system' (the identifier system)");
    if (col)
        nb__column(ctx, col, "column", NB_FEED_CSV_LOCAL_ID);
    const char *s = sys ? nb__feed_scalar(ctx, sys, "system") : NULL;
    if (s && (!s[0] || strlen(s) > NB_SYSTEM_MAX ||
              nb_text_check(s, strlen(s), NB_TEXT_ID) != NB_TEXT_OK))
        NB__ERR(ctx, sys, "'system' must be 1 to %d characters of an identifier", NB_SYSTEM_MAX);
    else if (s)
        nb_str_copy(c->local_system, sizeof(c->local_system), s);
}

/* recorded_at: extract_time, or {column, format}. */
static void nb__recorded(nb__lctx_t *ctx, yaml_node_t *csv, yaml_node_t *node)
{
    nb__csv_t *c = ctx->m->csv;
    if (!node) {
        NB__ERR(ctx, csv,
                "csv needs 'recorded_at': extract_time (the extract's time, given when it is "
                "imported) or {column, format}");
        return;
    }
    if (node->type == YAML_SCALAR_NODE) {
        const char *s = nb__feed_scalar(ctx, node, "recorded_at");
        if (s && strcmp(s, "extract_time") == 0)
            c->opts.recorded_is_extract = true;
        else if (s)
            NB__ERR(ctx, node, "recorded_at must be extract_time or {column, format}");
        return;
    }
    nb__timed(ctx, node, "recorded_at", NB_FEED_CSV_RECORDED, false);
}

void nb__feed_csv_load(nb__lctx_t *ctx, yaml_node_t *node)
{
    static const char *const keys[] = {
        "delimiter",      "quote",      "encoding",         "max_row_bytes",   "max_field_bytes",
        "appointment_id", "nhs_number", "local_id",         "scheduled_start", "recorded_at",
        "date_of_birth",  "status",     "appointment_type", "contact_mode",    "mandated",
        "identity_links", NULL};
    nb__csv_t *c;
    if (!nb__feed_is_map(ctx, node, "csv"))
        return;
    if (!(c = ctx->m->csv = calloc(1, sizeof(*c)))) {
        ctx->nomem = true;
        return;
    }
    c->opts =
        (nb_feed_csv_opts_t){',', '"', NB__CSV_DEFAULT_ROW, NB__CSV_DEFAULT_FIELD, false, NULL};
    c->mode_dflt = NB_CONTACT_FACE_TO_FACE;
    nb__feed_known_keys(ctx, node, "csv", keys);
    nb__reading(ctx, node);
    yaml_node_t *v = nb__feed_get(ctx, node, "appointment_id");
    if (v)
        nb__column(ctx, v, "appointment_id", NB_FEED_CSV_APPOINTMENT_ID);
    else
        NB__ERR(ctx, node, "csv needs 'appointment_id', the column of the appointment's id");
    nb__subject(ctx, node);
    if ((v = nb__feed_get(ctx, node, "scheduled_start")))
        nb__timed(ctx, v, "scheduled_start", NB_FEED_CSV_START, true);
    else
        NB__ERR(ctx, node, "csv needs 'scheduled_start' {column, format}");
    nb__recorded(ctx, node, nb__feed_get(ctx, node, "recorded_at"));
    if ((v = nb__feed_get(ctx, node, "date_of_birth")))
        nb__timed(ctx, v, "date_of_birth", NB_FEED_CSV_DOB, false);
    if ((v = nb__feed_get(ctx, node, "status")))
        nb__csv_coded(ctx, v, "status", NB_FEED_CSV_STATUS, nb__feed_status_target, &c->status,
                      &c->status_dflt, false);
    else
        NB__ERR(ctx, node, "csv needs 'status' {column, map, default}");
    if ((v = nb__feed_get(ctx, node, "appointment_type")))
        nb__csv_coded(ctx, v, "appointment_type", NB_FEED_CSV_TYPE, NULL, &c->type, &c->type_dflt,
                      true);
    else
        NB__ERR(ctx, node, "csv needs 'appointment_type' {column, map, default}");
    if ((v = nb__feed_get(ctx, node, "contact_mode")))
        nb__csv_coded(ctx, v, "contact_mode", NB_FEED_CSV_MODE, nb__feed_mode_target, &c->mode,
                      &c->mode_dflt, true);
    if ((v = nb__feed_get(ctx, node, "mandated")))
        nb__feed_mandated(ctx, v);
    c->link_verification = NB_VERIFICATION_UNVERIFIED;
    if ((v = nb__feed_get(ctx, node, "identity_links")))
        nb__feed_links(ctx, v, &c->link_local_to_nhs, &c->link_verification);
    if (c->link_local_to_nhs &&
        (!c->col[NB_FEED_CSV_NHS_NUMBER][0] || !c->col[NB_FEED_CSV_LOCAL_ID][0]))
        NB__ERR(ctx, v, "identity_links: local_to_nhs needs both nhs_number and local_id");
}
