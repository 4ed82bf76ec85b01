/*
 * notbrought - policy: the working-day calendar (see load.c): bank holidays, the years they
 * cover, close of business, and 'include', which reads the calendar from a file next to the
 * policy.
 */
#define _XOPEN_SOURCE 700 /* realpath(), to keep includes in the policy's directory */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

static const char *const nb__tz_names[] = {"Europe/London"};
NB__ENUM(nb__e_tz, "timezone", nb__tz_names);

typedef struct nb__holiday_src_s {
    int32_t day;
    const char *name;
} nb__holiday_src_t;

static const nb__field_t nb__holiday_fields[] = {
    {"date", nb__p_date, offsetof(nb__holiday_src_t, day), 0, 0, NULL, NB__REQ, "the day"},
    {"name", nb__p_str, offsetof(nb__holiday_src_t, name), 0, 100, NULL, NB__REQ, "its name"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__holiday_table = {"holiday", nb__holiday_fields, NB__NO_MARK};

static bool nb__p_holidays(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__is_list(ctx, node, f->key))
        return false;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        nb__holiday_src_t h = {NB__UNSET, NULL};
        if (!item || !nb__parse_map(ctx, item, &nb__holiday_table, &h)) {
            ok = false;
            continue;
        }
        size_t pos = pol->n_holidays;
        while (pos > 0 && pol->holidays[pos - 1].day > h.day)
            pos--;
        if (pos > 0 && pol->holidays[pos - 1].day == h.day) {
            NB__ERR(ctx, item, NB_ERR_POLICY_DUPLICATE, "the date is listed twice");
            ok = false;
            continue;
        }
        if (pol->n_holidays == NB__MAX_HOLIDAYS) {
            NB__ERR(ctx, item, NB_ERR_POLICY_VALUE, "too many holidays (at most %d)",
                    NB__MAX_HOLIDAYS);
            return false;
        }
        memmove(&pol->holidays[pos + 1], &pol->holidays[pos],
                (pol->n_holidays - pos) * sizeof(pol->holidays[0]));
        pol->holidays[pos].day = h.day;
        pol->holidays[pos].name = h.name;
        pol->n_holidays++;
    }
    return ok;
}

typedef struct nb__years_s {
    int32_t from, to;
} nb__years_t;

static const nb__field_t nb__years_fields[] = {
    {"from", nb__p_int, offsetof(nb__years_t, from), 1900, 2200, NULL, NB__REQ, "first year"},
    {"to", nb__p_int, offsetof(nb__years_t, to), 1900, 2200, NULL, NB__REQ, "last year"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__years_table = {"years", nb__years_fields, NB__NO_MARK};

static bool nb__p_years(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__years_t y = {NB__UNSET, NB__UNSET};
    (void)dst;
    if (!nb__parse_map(ctx, node, &nb__years_table, &y))
        return false;
    if (y.from > y.to) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s': from is after to", f->key);
        return false;
    }
    ctx->pol->cal_from = y.from;
    ctx->pol->cal_to = y.to;
    return true;
}

/* An include names a file in the including file's directory or below it: a relative path
 * without '..', and no symbolic link on the way may lead out of the directory (checked on the
 * resolved path). A policy can then read only files its own authors control, however
 * privileged the daemon is; what it may read is also at most 4 MiB and a regular file. */
static bool nb__p_include(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    (void)dst;
    const char *s = nb__scalar(ctx, node, f->key, "a file name");
    if (!s)
        return false;
    if (ctx->in_include) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "an included file cannot include another");
        return false;
    }
    if (!ctx->dir) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "'include' needs a policy loaded from files; give the calendar inline");
        return false;
    }
    if (ctx->pol->info.n_files == NB_POLICY_MAX_FILES) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "too many files");
        return false;
    }
    size_t slen = node->data.scalar.length;
    bool control = strlen(s) != slen;
    for (size_t i = 0; i < slen && !control; i++)
        control = (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
    if (control || slen == 0) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "'include' must be a file name, without control characters");
        return false;
    }
    if (s[0] == '/') {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "'include' must be a path relative to this file's directory, not an absolute "
                "path");
        return false;
    }
    for (const char *c = s; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
        if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0')) {
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                    "'include' must not contain '..': the file must be in this file's "
                    "directory or below it");
            return false;
        }
    }
    char path[4096], rdir[PATH_MAX], rpath[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s%s", ctx->dir, s) >= sizeof(path)) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'include' is too long");
        return false;
    }
    if (!realpath(ctx->dir[0] ? ctx->dir : ".", rdir) || !realpath(path, rpath)) {
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE, "cannot read included file '%s': %s", s,
                strerror(errno));
        return false;
    }
    /* The directory itself is inside (and refused below as a directory). */
    size_t dl = strlen(rdir);
    if (strncmp(rpath, rdir, dl) != 0 || (dl > 1 && rpath[dl] != '/' && rpath[dl] != '\0')) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "included file '%s' is outside this file's directory (through a symbolic link)",
                s);
        return false;
    }
    /* O_NOFOLLOW: a link put in place of the checked file meanwhile is not followed. */
    char *buf = NULL;
    size_t n = 0;
    const char *why;
    switch (nb_file_read(rpath, O_NOFOLLOW, NB__MAX_FILE_BYTES, &buf, &n, &why)) {
    case NB_FILE_OK:
        break;
    case NB_FILE_CANNOT:
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE, "cannot read included file '%s': %s", s, why);
        return false;
    case NB_FILE_KIND:
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE, "included file '%s' is not a regular file (%s)",
                s, why);
        return false;
    case NB_FILE_SIZE:
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "included file '%s' is larger than %u MiB", s,
                NB__MAX_FILE_BYTES >> 20);
        return false;
    case NB_FILE_NOMEM:
        ctx->nomem = true;
        return false;
    }
    /* Messages from the included file name it; the including file's state is restored. */
    yaml_document_t *doc = ctx->doc;
    const char *file = ctx->file, *cdir = ctx->dir;
    int depth = ctx->depth;
    ctx->in_include = true;
    bool ok = nb__load_doc(ctx, path, buf, n, NULL, true);
    ctx->in_include = false;
    ctx->doc = doc;
    ctx->file = file;
    ctx->dir = cdir;
    ctx->depth = depth;
    free(buf);
    return ok;
}

static const nb__field_t nb__calendar_fields[] = {
    {"include", nb__p_include, 0, 0, 0, NULL, 0,
     "read the calendar from this file (relative to this one)"},
    {"name", nb__p_str, offsetof(nb_policy_t, cal_name), 0, 100, NULL, 0, "calendar name"},
    {"timezone", nb__p_choice, offsetof(nb_policy_t, cal_tz), 0, 0, &nb__e_tz, 0,
     "only Europe/London"},
    {"close_of_business", nb__p_clock, offsetof(nb_policy_t, cob_minutes), 0, 0, NULL, 0,
     "working-day deadlines fall at this local time (default 17:00)"},
    {"years", nb__p_years, 0, 0, 0, NULL, 0, "the years the holiday list covers"},
    {"holidays", nb__p_holidays, 0, 0, 0, NULL, 0, "bank holidays: {date, name}"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__calendar_table = {"calendar", nb__calendar_fields, NB__NO_MARK};

bool nb__p_calendar(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    (void)dst;
    (void)f;
    /* A later calendar replaces an earlier one wholesale. */
    if (!ctx->in_include) {
        pol->n_holidays = 0;
        pol->cal_name = NULL;
        pol->cal_from = pol->cal_to = NB__UNSET;
        pol->cob_minutes = 17 * 60;
    }
    return nb__parse_map(ctx, node, &nb__calendar_table, pol);
}
