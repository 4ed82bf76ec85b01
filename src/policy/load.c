/*
 * notbrought - policy: loading and validating the YAML policy language (docs/policy.md).
 *
 * The loader uses libyaml's document API, so every node keeps its start mark and every
 * problem is reported as file:line:column. The language is described by tables of
 * {key, parser, offset, range, description} (one per kind of mapping, as librdkafka's
 * rd_kafka_properties[] describes its configuration): unknown keys are reported as such
 * (NB_ERR_POLICY_UNKNOWN_KEY), apart from values of the wrong type (NB_ERR_POLICY_TYPE) or
 * out of range (NB_ERR_POLICY_VALUE). The loader reports every problem it finds, not only
 * the first, and never keeps a half-built policy: on any error the caller gets nothing.
 */
#define _XOPEN_SOURCE 700 /* realpath(), to keep includes in the policy's directory */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "policy/internal.h"

/* ---- arena ------------------------------------------------------------------------------- */

typedef struct nb__blk_s {
    struct nb__blk_s *next;
    size_t used, cap;
    max_align_t data[];
} nb__blk_t;

struct nb__arena_s {
    nb__blk_t *head;
};

static void *nb__alloc(nb__arena_t *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        nb__blk_t *b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static void nb__arena_free(nb__arena_t *a)
{
    if (!a)
        return;
    while (a->head) {
        nb__blk_t *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    free(a);
}

/* ---- context and diagnostics ------------------------------------------------------------- */

typedef struct nb__ctx_s {
    nb_policy_t *pol;
    yaml_document_t *doc;
    const char *file; /* arena copy */
    const char *dir;  /* directory of the file, for includes; NULL when loading memory */
    int layer;
    bool in_include;
    nb_policy_diag_cb_t *cb;
    void *opaque;
    int n_errors;
    nb_err_t first_err;
    char *errstr;
    size_t errstr_size;
    long budget; /* node visits left: aliases can make a small file expand hugely */
    int depth;
    bool nomem;
    EVP_MD_CTX *md;
} nb__ctx_t;

#define NB__MAX_DEPTH 24
#define NB__MAX_VISITS 200000L

/* Limits checked on the YAML events before libyaml builds a document (nb__precheck): the
 * daemon loads policies on its main loop (SIGHUP), so a file must never make it wait. */
#define NB__MAX_FILE_BYTES (4u << 20) /* a policy file or an included one: 4 MiB */
#define NB__MAX_NESTING 64            /* collections inside collections, the root being 1 */
#define NB__MAX_ANCHORS 1000
#define NB__MAX_ALIASES 10000

static nb__mark_t nb__mark(const nb__ctx_t *ctx, const yaml_node_t *node)
{
    nb__mark_t m = {ctx->file, 0, 0};
    if (node) {
        m.line = (int)node->start_mark.line + 1;
        m.col = (int)node->start_mark.column + 1;
    }
    return m;
}

/* Copies a message, writing control characters (C0, DEL and, in UTF-8, C1) as \xNN: text
 * quoted from a policy file can then neither start a new line in a log nor drive a terminal. */
static void nb__escape(char *out, size_t size, const char *in)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < size; p++) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            if (o + 5 > size)
                break;
            if (c == 0xc2)
                c = *++p;
            snprintf(out + o, size - o, "\\x%02x", c);
            o += 4;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

__attribute__((format(printf, 5, 6))) static void
nb__report(nb__ctx_t *ctx, nb__mark_t m, nb_err_t err, bool warning, const char *fmt, ...)
{
    char raw[768], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    nb__escape(msg, sizeof(msg), raw);
    if (!warning) {
        if (ctx->n_errors++ == 0) {
            ctx->first_err = err;
            if (ctx->errstr_size) {
                if (m.line)
                    snprintf(ctx->errstr, ctx->errstr_size, "%s:%d:%d: %s",
                             m.file ? m.file : "-", m.line, m.col, msg);
                else
                    snprintf(ctx->errstr, ctx->errstr_size, "%s: %s", m.file ? m.file : "-",
                             msg);
            }
        }
    }
    if (ctx->cb && (warning || ctx->n_errors <= 200)) {
        nb_policy_diag_t d = {err, warning, m.file ? m.file : "-", m.line, m.col, msg};
        ctx->cb(ctx->opaque, &d);
    }
}

#define NB__ERR(ctx, node, err, ...) nb__report(ctx, nb__mark(ctx, node), err, false, __VA_ARGS__)

/* Text of the file being loaded, for a message. A policy file's own text is quoted (at most 80
 * characters, escaped by nb__report) because its author needs to see what is wrong; an
 * included file's text never is, because the file may not be a policy at all (a mistaken or
 * malicious include): messages about it say where and what kind of problem, and show "...". */
#define NB__Q(ctx, s) ((ctx)->in_include ? "..." : (s))

static const char *nb__dup(nb__ctx_t *ctx, const char *s, size_t len)
{
    char *p = nb__alloc(ctx->pol->arena, len + 1);
    if (!p) {
        ctx->nomem = true;
        return "";
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static const char *nb__node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

static yaml_node_t *nb__node(nb__ctx_t *ctx, int index)
{
    return yaml_document_get_node(ctx->doc, index);
}

/* A scalar's text, or NULL after reporting a type error. */
static const char *nb__scalar(nb__ctx_t *ctx, yaml_node_t *node, const char *key,
                              const char *expected)
{
    if (node->type != YAML_SCALAR_NODE) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be %s, not %s", key, expected,
                nb__node_kind(node));
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

static bool nb__plain(const yaml_node_t *node)
{
    return node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* ---- tables ------------------------------------------------------------------------------ */

typedef struct nb__field_s nb__field_t;
typedef bool (*nb__parse_fn)(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);

#define NB__REQ 1u

struct nb__field_s {
    const char *key;
    nb__parse_fn parse;
    size_t offset;
    int32_t min, max;
    const void *aux;
    unsigned flags;
    const char *doc;
};

typedef struct nb__table_s {
    const char *what;
    const nb__field_t *fields; /* terminated by a NULL key */
    size_t mark_offset;        /* where to store the mapping's mark; NB__NO_MARK for none */
} nb__table_t;

#define NB__NO_MARK ((size_t)-1)

static bool nb__parse_map(nb__ctx_t *ctx, yaml_node_t *node, const nb__table_t *t, void *dst);

/* A named enumeration used by mask and choice parsers. */
typedef struct nb__enum_s {
    const char *what;
    const char *const *names;
    int count;
} nb__enum_t;

#define NB__NAMES(sym, str) str,
static const char *const nb__status_names[] = {NB_STATUS_MAP(NB__NAMES)};
static const char *const nb__agency_names[] = {NB_AGENCY_MAP(NB__NAMES)};
static const char *const nb__mode_names[] = {NB_CONTACT_MODE_MAP(NB__NAMES)};
static const char *const nb__subject_names[] = {NB_SUBJECT_KIND_MAP(NB__NAMES)};
static const char *const nb__fact_names[] = {NB_FACT_KIND_MAP(NB__NAMES)};
static const char *const nb__tier_names[] = {NB_TIER_MAP(NB__NAMES)};
static const char *const nb__rule_kind_names[] = {"count", "absence"};
static const char *const nb__mode_choice[] = {"live", "shadow"};
static const char *const nb__digest_names[] = {"none", "daily", "weekly"};
static const char *const nb__self_names[] = {"exclude", "include", "as_dna"};
static const char *const nb__tz_names[] = {"Europe/London"};
static const char *const nb__from_names[] = {"notification", "respond_by"};
#define NB__ENUM(name, what, arr)                                                                  \
    static const nb__enum_t name = {what, arr, (int)(sizeof(arr) / sizeof(arr[0]))}
NB__ENUM(nb__e_status, "status", nb__status_names);
NB__ENUM(nb__e_agency, "agency", nb__agency_names);
NB__ENUM(nb__e_mode, "contact mode", nb__mode_names);
NB__ENUM(nb__e_subject, "subject kind", nb__subject_names);
NB__ENUM(nb__e_fact, "fact", nb__fact_names);
NB__ENUM(nb__e_tier, "tier", nb__tier_names);
NB__ENUM(nb__e_rule_kind, "rule kind", nb__rule_kind_names);
NB__ENUM(nb__e_mode_choice, "mode", nb__mode_choice);
NB__ENUM(nb__e_digest, "digest", nb__digest_names);
NB__ENUM(nb__e_self, "self_managing", nb__self_names);
NB__ENUM(nb__e_tz, "timezone", nb__tz_names);
NB__ENUM(nb__e_from, "'from'", nb__from_names);

static int nb__enum_find(const nb__enum_t *e, const char *s)
{
    for (int i = 0; i < e->count; i++)
        if (strcmp(e->names[i], s) == 0)
            return i;
    return -1;
}

static void nb__enum_list(const nb__enum_t *e, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < e->count && off < size; i++) {
        int n = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", e->names[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

static bool nb__enum_value(nb__ctx_t *ctx, yaml_node_t *node, const nb__field_t *f, int *out)
{
    const nb__enum_t *e = f->aux;
    const char *s = nb__scalar(ctx, node, f->key, "a name");
    if (!s)
        return false;
    int v = nb__enum_find(e, s);
    if (v < 0) {
        char list[256];
        nb__enum_list(e, list, sizeof(list));
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "unknown %s '%.80s' (expected one of: %s)",
                e->what, NB__Q(ctx, s), list);
        return false;
    }
    *out = v;
    return true;
}

/* ---- value parsers ----------------------------------------------------------------------- */

static bool nb__p_str(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    const char *s = nb__scalar(ctx, node, f->key, "a string");
    if (!s)
        return false;
    size_t len = node->data.scalar.length;
    if (strlen(s) != len) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' contains a NUL character", f->key);
        return false;
    }
    if (len == 0 || len > (size_t)(f->max > 0 ? f->max : NB_TEXT_MAX)) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' must be 1 to %d characters long", f->key,
                f->max > 0 ? f->max : NB_TEXT_MAX);
        return false;
    }
    *(const char **)dst = nb__dup(ctx, s, len);
    return true;
}

static bool nb__valid_id(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

static bool nb__p_id(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    const char *s = nb__scalar(ctx, node, f->key, "an id");
    if (!s)
        return false;
    if (!nb__valid_id(s) || node->data.scalar.length > NB_ID_MAX) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "'%s' must be an id of 1 to %d letters, digits, '_', '-' or '.', not '%.80s'",
                f->key, NB_ID_MAX, NB__Q(ctx, s));
        return false;
    }
    *(const char **)dst = nb__dup(ctx, s, node->data.scalar.length);
    return true;
}

static bool nb__int_text(const char *s, long long *v)
{
    const char *p = s;
    long long x = 0;
    if (*p == '-' || *p == '+')
        p++;
    if (!*p)
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || x > 100000000000LL)
            return false;
        x = x * 10 + (*p - '0');
    }
    *v = s[0] == '-' ? -x : x;
    return true;
}

static bool nb__p_int(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    long long v;
    const char *s = nb__scalar(ctx, node, f->key, "a whole number");
    if (!s)
        return false;
    if (!nb__plain(node) || !nb__int_text(s, &v)) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be a whole number, not '%.80s'", f->key,
                NB__Q(ctx, s));
        return false;
    }
    if (v < f->min || v > f->max) {
        if (v < 0 && f->min >= 0)
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' must not be negative (got %lld)",
                    f->key, v);
        else
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' must be between %d and %d (got %lld)",
                    f->key, (int)f->min, (int)f->max, v);
        return false;
    }
    *(int32_t *)dst = (int32_t)v;
    return true;
}

static bool nb__p_bool(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    const char *s = nb__scalar(ctx, node, f->key, "true or false");
    if (!s)
        return false;
    if (nb__plain(node) && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)) {
        *(int32_t *)dst = s[0] == 't';
        return true;
    }
    NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be true or false, not '%.80s'", f->key,
            NB__Q(ctx, s));
    return false;
}

static bool nb__p_date(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    const char *s = nb__scalar(ctx, node, f->key, "a date (YYYY-MM-DD)");
    int32_t d;
    if (!s)
        return false;
    if (!nb_parse_date(s, &d)) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be a date (YYYY-MM-DD), not '%.80s'",
                f->key, NB__Q(ctx, s));
        return false;
    }
    *(int32_t *)dst = d;
    return true;
}

/* "HH:MM" to minutes after midnight. */
static bool nb__p_clock(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    const char *s = nb__scalar(ctx, node, f->key, "a time of day (HH:MM)");
    if (!s)
        return false;
    if (strlen(s) == 5 && s[2] == ':' && s[0] >= '0' && s[0] <= '2' && s[1] >= '0' &&
        s[1] <= '9' && s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9') {
        int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
        if (h < 24) {
            *(int32_t *)dst = h * 60 + m;
            return true;
        }
    }
    NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be a time of day (HH:MM), not '%.80s'",
            f->key, NB__Q(ctx, s));
    return false;
}

/* One value of an enumeration (aux = nb__enum_t). */
static bool nb__p_choice(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    int v;
    if (!nb__enum_value(ctx, node, f, &v))
        return false;
    *(int32_t *)dst = v;
    return true;
}

/* Calls fn for a scalar, or for each item of a list of scalars. */
static bool nb__each(nb__ctx_t *ctx, yaml_node_t *node, const nb__field_t *f,
                     bool (*fn)(nb__ctx_t *, yaml_node_t *, void *, const nb__field_t *),
                     void *dst)
{
    bool ok = true;
    if (node->type == YAML_SEQUENCE_NODE) {
        if (node->data.sequence.items.top == node->data.sequence.items.start) {
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' must not be an empty list", f->key);
            return false;
        }
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            yaml_node_t *item = nb__node(ctx, *it);
            if (--ctx->budget < 0)
                return false;
            if (!item || item->type != YAML_SCALAR_NODE) {
                NB__ERR(ctx, item ? item : node, NB_ERR_POLICY_TYPE,
                        "items of '%s' must be scalars, not %s", f->key,
                        item ? nb__node_kind(item) : "nothing");
                ok = false;
                continue;
            }
            ok = fn(ctx, item, dst, f) && ok;
        }
        return ok;
    }
    if (node->type != YAML_SCALAR_NODE) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be a name or a list of names, not %s",
                f->key, nb__node_kind(node));
        return false;
    }
    return fn(ctx, node, dst, f);
}

static bool nb__mask_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    int v;
    if (!nb__enum_value(ctx, node, f, &v))
        return false;
    *(uint32_t *)dst |= 1u << v;
    return true;
}

/* A name or a list of names of an enumeration, as a bitmask (aux = nb__enum_t). */
static bool nb__p_mask(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    *(uint32_t *)dst = 0;
    return nb__each(ctx, node, f, nb__mask_one, dst);
}

/* One appointment type named in a match (dst is the alternative, nb__epred_t): a bit of the
 * policy's table of types named, and where it was named, for the vocabulary check. */
static bool nb__type_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    nb__epred_t *e = dst;
    const char *s = (const char *)node->data.scalar.value;
    size_t i;
    if (node->data.scalar.length == 0 || node->data.scalar.length > NB_TYPE_MAX ||
        strlen(s) != node->data.scalar.length) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "appointment types are 1 to %d characters",
                NB_TYPE_MAX);
        return false;
    }
    for (i = 0; i < pol->n_types; i++)
        if (strcmp(pol->types[i], s) == 0)
            break;
    if (i == pol->n_types) {
        if (pol->n_types == NB__MAX_TYPES) {
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                    "too many distinct appointment types (at most %d)", NB__MAX_TYPES);
            return false;
        }
        pol->types[pol->n_types++] = nb__dup(ctx, s, node->data.scalar.length);
    }
    (void)f;
    e->types |= 1ull << i;
    if (e->n_type_marks < NB__MAX_TYPE_MARKS) {
        e->type_marks[e->n_type_marks].bit = (uint32_t)i;
        e->type_marks[e->n_type_marks].mark = nb__mark(ctx, node);
        e->n_type_marks++;
    }
    return true;
}

/* dst is the alternative (nb__epred_t), not its 'types' member: the marks live there too. */
static bool nb__p_types(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__epred_t *e = dst;
    e->types = 0;
    e->n_type_marks = 0;
    e->type_mark = nb__mark(ctx, node);
    return nb__each(ctx, node, f, nb__type_one, dst);
}

static bool nb__ref_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__refs_t *r = dst;
    const char *s = (const char *)node->data.scalar.value;
    if (!nb__valid_id(s) || node->data.scalar.length > NB_ID_MAX) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%.80s' is not a valid role id", NB__Q(ctx, s));
        return false;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->ids[i], s) == 0) {
            NB__ERR(ctx, node, NB_ERR_POLICY_DUPLICATE, "role '%s' is listed twice in '%s'", s,
                    f->key);
            return false;
        }
    }
    if (r->n == NB__MAX_REFS) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' lists more than %d roles", f->key,
                NB__MAX_REFS);
        return false;
    }
    r->ids[r->n] = nb__dup(ctx, s, node->data.scalar.length);
    r->marks[r->n] = nb__mark(ctx, node);
    r->n++;
    return true;
}

/* Role ids, resolved after every layer is loaded. */
static bool nb__p_refs(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    memset(dst, 0, sizeof(nb__refs_t));
    return nb__each(ctx, node, f, nb__ref_one, dst);
}

/* Gestation as weeks ("12") or weeks+days ("10+0"), to days. */
static bool nb__gestation(nb__ctx_t *ctx, yaml_node_t *node, const char *key, int32_t *days)
{
    const char *s = nb__scalar(ctx, node, key, "a gestation (weeks, or weeks+days like 10+0)");
    long long w, d = 0;
    if (!s)
        return false;
    char buf[16];
    snprintf(buf, sizeof(buf), "%s", s);
    char *plus = strchr(buf, '+');
    if (plus)
        *plus = '\0';
    if (strlen(s) >= sizeof(buf) || !nb__int_text(buf, &w) || buf[0] == '-' || buf[0] == '+' ||
        (plus && (!nb__int_text(plus + 1, &d) || plus[1] == '-' || plus[1] == '+'))) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE,
                "'%s' must be a gestation in weeks (20) or weeks+days (10+0), not '%.80s'", key,
                NB__Q(ctx, s));
        return false;
    }
    if (w > 45 || d > 6) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "'%s': gestation must be at most 45 weeks and the days 0 to 6 (got '%s')", key,
                NB__Q(ctx, s));
        return false;
    }
    *days = (int32_t)(w * 7 + d);
    return true;
}

static bool nb__p_gest(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__gestation(ctx, node, f->key, dst);
}

static const nb__field_t nb__gest_range_fields[] = {
    {"min", nb__p_gest, offsetof(nb__range_t, min), 0, 0, NULL, 0, "from this gestation"},
    {"max", nb__p_gest, offsetof(nb__range_t, max), 0, 0, NULL, 0, "up to this gestation"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__gest_range_table = {"gestation range", nb__gest_range_fields,
                                                 NB__NO_MARK};

static const nb__field_t nb__range_fields[] = {
    {"min", nb__p_int, offsetof(nb__range_t, min), 0, 100000, NULL, 0, "at least"},
    {"max", nb__p_int, offsetof(nb__range_t, max), 0, 100000, NULL, 0, "at most"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__range_table = {"range", nb__range_fields, NB__NO_MARK};

/* A {min, max} mapping (aux = the table); min <= max. */
static bool nb__p_range(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__range_t *r = dst;
    r->min = r->max = NB__UNSET;
    if (!nb__parse_map(ctx, node, f->aux ? f->aux : &nb__range_table, r))
        return false;
    if (r->min == NB__UNSET && r->max == NB__UNSET) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' needs 'min', 'max' or both", f->key);
        return false;
    }
    if (r->min != NB__UNSET && r->max != NB__UNSET && r->min > r->max) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s': min is greater than max", f->key);
        return false;
    }
    return true;
}

/* A nested mapping (aux = its table). */
static bool nb__p_map(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__parse_map(ctx, node, f->aux, dst);
}

/* ---- the generic mapping walker ---------------------------------------------------------- */

static bool nb__parse_map(nb__ctx_t *ctx, yaml_node_t *node, const nb__table_t *t, void *dst)
{
    bool ok = true;
    uint64_t seen = 0;
    if (--ctx->budget < 0 || ctx->depth >= NB__MAX_DEPTH) {
        if (ctx->budget == -1 || ctx->depth == NB__MAX_DEPTH)
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                    "the document nests too deeply or expands too much (aliases?)");
        return false;
    }
    if (node->type != YAML_MAPPING_NODE) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "%s must be a mapping, not %s", t->what,
                nb__node_kind(node));
        return false;
    }
    if (t->mark_offset != NB__NO_MARK)
        *(nb__mark_t *)((char *)dst + t->mark_offset) = nb__mark(ctx, node);
    ctx->depth++;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = nb__node(ctx, p->key), *v = nb__node(ctx, p->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            NB__ERR(ctx, k, NB_ERR_POLICY_TYPE, "keys of %s must be names, not %s", t->what,
                    nb__node_kind(k));
            ok = false;
            continue;
        }
        const char *key = (const char *)k->data.scalar.value;
        size_t i;
        for (i = 0; t->fields[i].key; i++)
            if (strcmp(t->fields[i].key, key) == 0)
                break;
        if (!t->fields[i].key) {
            char known[400];
            size_t off = 0;
            known[0] = '\0';
            for (size_t j = 0; t->fields[j].key && off < sizeof(known); j++) {
                int n = snprintf(known + off, sizeof(known) - off, "%s%s", j ? ", " : "",
                                 t->fields[j].key);
                if (n < 0)
                    break;
                off += (size_t)n;
            }
            NB__ERR(ctx, k, NB_ERR_POLICY_UNKNOWN_KEY, "unknown key '%.80s' in %s (known keys: %s)",
                    NB__Q(ctx, key), t->what, known);
            ok = false;
            continue;
        }
        if (seen & (1ull << i)) {
            NB__ERR(ctx, k, NB_ERR_POLICY_DUPLICATE, "key '%s' appears twice in %s", key,
                    t->what);
            ok = false;
            continue;
        }
        seen |= 1ull << i;
        if (v->type == YAML_SCALAR_NODE && nb__plain(v) &&
            (v->data.scalar.length == 0 || strcmp((const char *)v->data.scalar.value, "~") == 0 ||
             strcmp((const char *)v->data.scalar.value, "null") == 0)) {
            NB__ERR(ctx, v, NB_ERR_POLICY_TYPE, "'%s' has no value", key);
            ok = false;
            continue;
        }
        ok = t->fields[i].parse(ctx, v, (char *)dst + t->fields[i].offset, &t->fields[i]) && ok;
    }
    for (size_t i = 0; t->fields[i].key; i++) {
        if ((t->fields[i].flags & NB__REQ) && !(seen & (1ull << i))) {
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "%s is missing the required key '%s'",
                    t->what, t->fields[i].key);
            ok = false;
        }
    }
    ctx->depth--;
    return ok;
}

/* ---- predicates -------------------------------------------------------------------------- */

static const nb__field_t nb__epred_fields[] = {
    {"status", nb__p_mask, offsetof(nb__epred_t, statuses), 0, 0, &nb__e_status, 0,
     "appointment status(es)"},
    {"agency", nb__p_mask, offsetof(nb__epred_t, agencies), 0, 0, &nb__e_agency, 0,
     "agency or agencies"},
    {"type", nb__p_types, 0, 0, 0, NULL, 0, "appointment type(s)"},
    {"mandated", nb__p_bool, offsetof(nb__epred_t, mandated), 0, 0, NULL, 0,
     "a mandated contact (true) or not (false)"},
    {"contact_mode", nb__p_mask, offsetof(nb__epred_t, modes), 0, 0, &nb__e_mode, 0,
     "contact mode(s)"},
    {"subject_kind", nb__p_mask, offsetof(nb__epred_t, subjects), 0, 0, &nb__e_subject, 0,
     "child or unborn"},
    {"gestation_weeks", nb__p_range, offsetof(nb__epred_t, gestation), 0, 0,
     &nb__gest_range_table, 0, "gestation on the day of the appointment"},
    {"age_days", nb__p_range, offsetof(nb__epred_t, age_days), 0, 0, NULL, 0,
     "age in days on the day of the appointment"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__epred_table = {"match", nb__epred_fields, NB__NO_MARK};

static void nb__epred_init(nb__epred_t *e)
{
    memset(e, 0, sizeof(*e));
    e->mandated = NB__UNSET;
    e->gestation.min = e->gestation.max = NB__UNSET;
    e->age_days.min = e->age_days.max = NB__UNSET;
}

/* A match: one mapping, or a list of mappings (alternatives, any of which matches). */
static bool nb__p_match(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__match_t *m = dst;
    bool ok = true;
    m->n = 0;
    if (node->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            yaml_node_t *item = nb__node(ctx, *it);
            if (!item)
                continue;
            if (m->n == NB__MAX_ALTS) {
                NB__ERR(ctx, item, NB_ERR_POLICY_VALUE, "'%s' has more than %d alternatives",
                        f->key, NB__MAX_ALTS);
                return false;
            }
            nb__epred_init(&m->alt[m->n]);
            ok = nb__parse_map(ctx, item, &nb__epred_table, &m->alt[m->n]) && ok;
            m->n++;
        }
        if (m->n == 0) {
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' must not be an empty list", f->key);
            return false;
        }
        return ok;
    }
    nb__epred_init(&m->alt[0]);
    m->n = 1;
    return nb__parse_map(ctx, node, &nb__epred_table, &m->alt[0]);
}

static const nb__field_t nb__facts_fields[] = {
    {"any", nb__p_mask, offsetof(nb__spred_t, facts_any), 0, 0, &nb__e_fact, 0,
     "at least one of these facts applies"},
    {"none", nb__p_mask, offsetof(nb__spred_t, facts_none), 0, 0, &nb__e_fact, 0,
     "none of these facts applies"},
    {"ended_within_days", nb__p_int, offsetof(nb__spred_t, ended_within_days), 0, 3660, NULL, 0,
     "a fact that ended at most this many days ago still applies"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__facts_table = {"facts", nb__facts_fields, NB__NO_MARK};

static bool nb__p_facts(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    /* dst is the subject predicate itself (offset 0). */
    (void)f;
    return nb__parse_map(ctx, node, &nb__facts_table, dst);
}

static const nb__field_t nb__spred_fields[] = {
    {"kind", nb__p_mask, offsetof(nb__spred_t, kinds), 0, 0, &nb__e_subject, 0,
     "child (born) or unborn"},
    {"age_months", nb__p_range, offsetof(nb__spred_t, age_months), 0, 0, NULL, 0,
     "age in whole months on the day of evaluation"},
    {"gestation_weeks", nb__p_range, offsetof(nb__spred_t, gestation), 0, 0,
     &nb__gest_range_table, 0, "gestation on the day of evaluation"},
    {"facts", nb__p_facts, 0, 0, 0, NULL, 0, "context facts"},
    {"self_managing", nb__p_choice, offsetof(nb__spred_t, self_managing), 0, 0, &nb__e_self, 0,
     "self-managing 16-17 year olds: exclude, include or as_dna"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__spred_table = {"subject", nb__spred_fields, NB__NO_MARK};

static void nb__spred_init(nb__spred_t *s)
{
    memset(s, 0, sizeof(*s));
    s->age_months.min = s->age_months.max = NB__UNSET;
    s->gestation.min = s->gestation.max = NB__UNSET;
    s->self_managing = NB__UNSET;
}

/* ---- actions ----------------------------------------------------------------------------- */

typedef struct nb__respond_src_s {
    int32_t hours, working_days, same_day;
} nb__respond_src_t;

static const nb__field_t nb__respond_fields[] = {
    {"hours", nb__p_int, offsetof(nb__respond_src_t, hours), 1, 8760, NULL, 0,
     "within this many hours"},
    {"working_days", nb__p_int, offsetof(nb__respond_src_t, working_days), 0, 60, NULL, 0,
     "by close of business on the n-th working day"},
    {"same_day", nb__p_bool, offsetof(nb__respond_src_t, same_day), 0, 0, NULL, 0,
     "by the end of the same day"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__respond_table = {"respond_within", nb__respond_fields, NB__NO_MARK};

static bool nb__p_respond(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__respond_src_t src = {NB__UNSET, NB__UNSET, NB__UNSET};
    nb__respond_t *r = dst;
    if (!nb__parse_map(ctx, node, &nb__respond_table, &src))
        return false;
    int n = (src.hours != NB__UNSET) + (src.working_days != NB__UNSET) +
            (src.same_day != NB__UNSET);
    if (n != 1 || src.same_day == 0) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "'%s' needs exactly one of 'hours', 'working_days' or 'same_day: true'", f->key);
        return false;
    }
    if (src.hours != NB__UNSET) {
        r->kind = NB__RESPOND_HOURS;
        r->n = src.hours;
    } else if (src.working_days != NB__UNSET) {
        r->kind = NB__RESPOND_WORKING_DAYS;
        r->n = src.working_days;
    } else {
        r->kind = NB__RESPOND_SAME_DAY;
        r->n = 0;
    }
    return true;
}

static const nb__field_t nb__rung_fields[] = {
    {"after_hours", nb__p_int, offsetof(nb__rung_t, after_hours), 1, 8760, NULL, NB__REQ,
     "hours after 'from' (or the end of the previous ladder) while unacknowledged"},
    {"to", nb__p_refs, offsetof(nb__rung_t, to), 0, 0, NULL, NB__REQ, "roles told at this rung"},
    {"tier", nb__p_choice, offsetof(nb__rung_t, tier), 0, 0, &nb__e_tier, 0,
     "tier from this rung on"},
    {"from", nb__p_choice, offsetof(nb__rung_t, from), 0, 0, &nb__e_from, 0,
     "what after_hours counts from: notification (default) or respond_by"},
    {"early", nb__p_bool, offsetof(nb__rung_t, early), 0, 0, NULL, 0,
     "an early alert: told before the recipients' respond-by has passed"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__rung_table = {"escalation rung", nb__rung_fields,
                                           offsetof(nb__rung_t, mark)};

/* A list of rungs into a ladder; each rung strictly after the one before, tiers never
 * falling. */
static bool nb__p_rungs(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__ladder_t *l = dst;
    bool ok = true;
    l->n_rungs = 0;
    if (node->type != YAML_SEQUENCE_NODE) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be a list of rungs, not %s", f->key,
                nb__node_kind(node));
        return false;
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        if (!item)
            continue;
        if (l->n_rungs == NB_POLICY_MAX_RUNGS) {
            NB__ERR(ctx, item, NB_ERR_POLICY_VALUE, "an escalation ladder has at most %d rungs",
                    NB_POLICY_MAX_RUNGS);
            return false;
        }
        nb__rung_t *r = &l->rungs[l->n_rungs];
        memset(r, 0, sizeof(*r));
        r->after_hours = NB__UNSET;
        r->tier = NB__UNSET;
        r->from = NB__UNSET;
        r->early = NB__UNSET;
        if (!nb__parse_map(ctx, item, &nb__rung_table, r)) {
            ok = false;
            continue;
        }
        if (r->early == 1 && r->from == NB__FROM_RESPOND_BY) {
            NB__ERR(ctx, item, NB_ERR_POLICY_VALUE,
                    "an early alert counts from the notification: it cannot also say 'from: "
                    "respond_by'");
            ok = false;
        }
        if (r->from == NB__UNSET)
            r->from = NB__FROM_NOTIFIED;
        r->early = r->early == 1;
        for (size_t j = l->n_rungs; j-- > 0;) {
            const nb__rung_t *p = &l->rungs[j];
            /* Rungs counted from different times are ordered once the ladder is flattened. */
            if (p->from == r->from && p->after_hours != NB__UNSET &&
                r->after_hours <= p->after_hours) {
                NB__ERR(ctx, item, NB_ERR_POLICY_VALUE,
                        "escalation rung at %d hours must come after the rung before it (%d "
                        "hours)",
                        (int)r->after_hours, (int)p->after_hours);
                ok = false;
            }
            if (p->tier != NB__UNSET && r->tier != NB__UNSET && r->tier < p->tier) {
                NB__ERR(ctx, item, NB_ERR_POLICY_VALUE,
                        "escalation rung lowers the tier from %s to %s; a ladder only goes up",
                        nb__tier_names[p->tier], nb__tier_names[r->tier]);
                ok = false;
            }
            break;
        }
        l->n_rungs++;
    }
    if (l->n_rungs == 0 && ok) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' must list at least one rung", f->key);
        return false;
    }
    return ok;
}

/* escalation: a ladder id, or a list of rungs given in place. dst is the rule. */
static bool nb__p_escalation(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__rule_t *r = dst;
    if (node->type == YAML_SCALAR_NODE) {
        nb__field_t idf = {f->key, NULL, 0, 0, 0, NULL, 0, NULL};
        r->ladder_mark = nb__mark(ctx, node);
        return nb__p_id(ctx, node, &r->ladder_id, &idf);
    }
    return nb__p_rungs(ctx, node, &r->inline_ladder, f);
}

typedef struct nb__action_src_s {
    nb__rule_t *rule;
} nb__action_src_t;

static const nb__field_t nb__action_fields[] = {
    {"tier", nb__p_choice, offsetof(nb__rule_t, tier), 0, 0, &nb__e_tier, NB__REQ,
     "severity: curiosity, routine, priority or urgent"},
    {"to", nb__p_refs, offsetof(nb__rule_t, to), 0, 0, NULL, NB__REQ, "roles to notify"},
    {"do", nb__p_str, offsetof(nb__rule_t, info.action), 0, NB_TEXT_MAX, NULL, NB__REQ,
     "what the recipients should do"},
    {"respond_within", nb__p_respond, offsetof(nb__rule_t, respond), 0, 0, NULL, 0,
     "response time"},
    {"escalation", nb__p_escalation, 0, 0, 0, NULL, 0,
     "escalation ladder if unacknowledged: a ladder id or a list of rungs"},
    {"cooldown_days", nb__p_int, offsetof(nb__rule_t, cooldown_days), 0, 3660, NULL, 0,
     "no repeat for the same child within this many days unless newer evidence arrives"},
    {"digest", nb__p_choice, offsetof(nb__rule_t, digest), 0, 0, &nb__e_digest, 0,
     "deliver in a daily or weekly digest instead of one by one"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__action_table = {"action", nb__action_fields,
                                             offsetof(nb__rule_t, action_mark)};

static const nb__field_t nb__count_fields[] = {
    {"at_least", nb__p_int, offsetof(nb__rule_t, at_least), 1, 1000, NULL, 0,
     "at least this many matching appointments"},
    {"within_days", nb__p_int, offsetof(nb__rule_t, within_days), 1, 3660, NULL, 0,
     "in the rolling window of this many days up to now"},
    {"consecutive", nb__p_int, offsetof(nb__rule_t, consecutive), 1, 100, NULL, 0,
     "this many in a row (the latest outcomes of such appointments)"},
    {"distinct_agencies", nb__p_int, offsetof(nb__rule_t, distinct_agencies), 1, NB_AGENCY__COUNT,
     NULL, 0, "from at least this many different agencies"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__count_table = {"count", nb__count_fields, NB__NO_MARK};

static const nb__field_t nb__expect_fields[] = {
    {"contact", nb__p_match, offsetof(nb__rule_t, expect), 0, 0, NULL, NB__REQ,
     "the expected contact (status defaults to attended)"},
    {"by_gestation", nb__p_gest, offsetof(nb__rule_t, by_value), 0, 0, NULL, 0,
     "by this gestation (weeks+days)"},
    {"by_age_days", nb__p_int, offsetof(nb__rule_t, by_value), 0, 3660, NULL, 0,
     "by this age in days"},
    {"within_working_days", nb__p_int, offsetof(nb__rule_t, by_value), 0, 60, NULL, 0,
     "within this many working days after an appointment that matches the rule"},
    {"lookback_days", nb__p_int, offsetof(nb__rule_t, lookback_days), 1, 3660, NULL, 0,
     "how far back a triggering appointment may be (within_working_days; default 90)"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__expect_table = {"expect", nb__expect_fields, NB__NO_MARK};

/* expect: remembers which of the three deadline keys was used. */
static bool nb__p_expect(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__rule_t *r = dst;
    int n = 0;
    (void)f;
    r->by = NB__BY_NONE;
    if (node->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
             p < node->data.mapping.pairs.top; p++) {
            yaml_node_t *k = nb__node(ctx, p->key);
            if (!k || k->type != YAML_SCALAR_NODE)
                continue;
            const char *key = (const char *)k->data.scalar.value;
            int by = strcmp(key, "by_gestation") == 0          ? NB__BY_GESTATION
                     : strcmp(key, "by_age_days") == 0         ? NB__BY_AGE_DAYS
                     : strcmp(key, "within_working_days") == 0 ? NB__BY_WORKING_DAYS
                                                               : NB__BY_NONE;
            if (by != NB__BY_NONE) {
                r->by = by;
                n++;
            }
        }
    }
    if (!nb__parse_map(ctx, node, &nb__expect_table, r))
        return false;
    if (n != 1) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                "expect needs exactly one of 'by_gestation', 'by_age_days' or "
                "'within_working_days'");
        return false;
    }
    return true;
}

/* ---- top-level items --------------------------------------------------------------------- */

static const nb__field_t nb__rule_fields[] = {
    {"id", nb__p_id, offsetof(nb__rule_t, info.id), 0, 0, NULL, NB__REQ, "unique rule id"},
    {"title", nb__p_str, offsetof(nb__rule_t, info.title), 0, 200, NULL, NB__REQ,
     "one line: what the rule looks for"},
    {"source", nb__p_str, offsetof(nb__rule_t, info.source), 0, NB_TEXT_MAX, NULL, NB__REQ,
     "the guidance the rule puts into practice"},
    {"kind", nb__p_choice, offsetof(nb__rule_t, kind), 0, 0, &nb__e_rule_kind, 0,
     "count (default) or absence"},
    {"mode", nb__p_choice, offsetof(nb__rule_t, mode), 0, 0, &nb__e_mode_choice, 0,
     "live (default) or shadow (evaluated and counted, never notified)"},
    {"match", nb__p_match, offsetof(nb__rule_t, match), 0, 0, NULL, 0,
     "which appointments count (a mapping, or a list of alternatives)"},
    {"subject", nb__p_map, offsetof(nb__rule_t, subject), 0, 0, &nb__spred_table, 0,
     "which children the rule applies to"},
    {"count", nb__p_map, 0, 0, 0, &nb__count_table, 0, "count rules: how many, over what"},
    {"expect", nb__p_expect, 0, 0, 0, NULL, 0, "absence rules: the expected contact and deadline"},
    {"action", nb__p_map, 0, 0, 0, &nb__action_table, NB__REQ, "what happens when it fires"},
    {"override", nb__p_bool, offsetof(nb__rule_t, override), 0, 0, NULL, 0,
     "an overlay replaces the rule of this id from an earlier file"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__rule_table = {"rule", nb__rule_fields, offsetof(nb__rule_t, mark)};

static const nb__field_t nb__role_fields[] = {
    {"id", nb__p_id, offsetof(nb__role_t, pub.id), 0, 0, NULL, NB__REQ, "unique role id"},
    {"title", nb__p_str, offsetof(nb__role_t, pub.title), 0, 200, NULL, NB__REQ,
     "who this is, in words"},
    {"route", nb__p_str, offsetof(nb__role_t, pub.route), 0, NB_SYSTEM_MAX, NULL, NB__REQ,
     "how the role is addressed, e.g. queue:hv-duty or mailbox:x@nhs.net"},
    {"override", nb__p_bool, offsetof(nb__role_t, override), 0, 0, NULL, 0,
     "an overlay replaces the role of this id"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__role_table = {"role", nb__role_fields, offsetof(nb__role_t, mark)};

static const nb__field_t nb__ladder_fields[] = {
    {"id", nb__p_id, offsetof(nb__ladder_t, id), 0, 0, NULL, NB__REQ, "unique ladder id"},
    {"title", nb__p_str, offsetof(nb__ladder_t, title), 0, 200, NULL, 0, "what it is for"},
    {"rungs", nb__p_rungs, 0, 0, 0, NULL, NB__REQ, "the rungs, in order"},
    {"then", nb__p_id, offsetof(nb__ladder_t, then), 0, 0, NULL, 0,
     "continue with this ladder after the last rung"},
    {"override", nb__p_bool, offsetof(nb__ladder_t, override), 0, 0, NULL, 0,
     "an overlay replaces the ladder of this id"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__ladder_table = {"ladder", nb__ladder_fields,
                                             offsetof(nb__ladder_t, mark)};

/* One rule id of a list (a modifier's or an overlap group's 'rules'). */
static bool nb__rule_id_add(nb__ctx_t *ctx, yaml_node_t *node, const nb__field_t *f, size_t *n,
                            const char **ids, nb__mark_t *marks)
{
    const char *s = (const char *)node->data.scalar.value;
    if (!nb__valid_id(s) || node->data.scalar.length > NB_ID_MAX) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%.80s' is not a valid rule id", NB__Q(ctx, s));
        return false;
    }
    if (*n == NB_POLICY_MAX_RULES) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "'%s' lists too many rules", f->key);
        return false;
    }
    ids[*n] = nb__dup(ctx, s, node->data.scalar.length);
    marks[*n] = nb__mark(ctx, node);
    (*n)++;
    return true;
}

static bool nb__rule_id_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__modifier_t *m = dst;
    return nb__rule_id_add(ctx, node, f, &m->n_rules, m->rules, m->rule_marks);
}

static bool nb__p_rule_ids(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__each(ctx, node, f, nb__rule_id_one, dst);
}

static const nb__field_t nb__modifier_fields[] = {
    {"id", nb__p_id, offsetof(nb__modifier_t, id), 0, 0, NULL, NB__REQ, "unique modifier id"},
    {"title", nb__p_str, offsetof(nb__modifier_t, title), 0, 200, NULL, NB__REQ,
     "one line: what it does"},
    {"source", nb__p_str, offsetof(nb__modifier_t, source), 0, NB_TEXT_MAX, NULL, NB__REQ,
     "the guidance it puts into practice"},
    {"rules", nb__p_rule_ids, 0, 0, 0, NULL, 0, "the rules it applies to (default: all)"},
    {"subject", nb__p_map, offsetof(nb__modifier_t, subject), 0, 0, &nb__spred_table, NB__REQ,
     "the children it applies to"},
    {"tier", nb__p_choice, offsetof(nb__modifier_t, set_tier), 0, 0, &nb__e_tier, 0,
     "at least this tier"},
    {"raise", nb__p_int, offsetof(nb__modifier_t, raise), 1, 3, NULL, 0,
     "raise the tier by this many steps"},
    {"respond_within", nb__p_respond, offsetof(nb__modifier_t, respond), 0, 0, NULL, 0,
     "a shorter response time"},
    {"add_to", nb__p_refs, offsetof(nb__modifier_t, add_to), 0, 0, NULL, 0,
     "more roles to notify"},
    {"override", nb__p_bool, offsetof(nb__modifier_t, override), 0, 0, NULL, 0,
     "an overlay replaces the modifier of this id"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__modifier_table = {"modifier", nb__modifier_fields,
                                               offsetof(nb__modifier_t, mark)};

static bool nb__overlap_rule_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst,
                                 const nb__field_t *f)
{
    nb__overlap_t *o = dst;
    return nb__rule_id_add(ctx, node, f, &o->n_rules, o->rules, o->rule_marks);
}

static bool nb__p_overlap_rules(nb__ctx_t *ctx, yaml_node_t *node, void *dst,
                                const nb__field_t *f)
{
    return nb__each(ctx, node, f, nb__overlap_rule_one, dst);
}

static const nb__field_t nb__overlap_fields[] = {
    {"id", nb__p_id, offsetof(nb__overlap_t, id), 0, 0, NULL, NB__REQ, "unique id"},
    {"title", nb__p_str, offsetof(nb__overlap_t, title), 0, 200, NULL, NB__REQ,
     "one line: the one thing the recipients act on"},
    {"rules", nb__p_overlap_rules, 0, 0, 0, NULL, NB__REQ,
     "the rules that overlap, the one that takes precedence first"},
    {"within_days", nb__p_int, offsetof(nb__overlap_t, within_days), 1, 366, NULL, 0,
     "how long an open notification of the group covers the others (default: its rule's "
     "cool-down)"},
    {"override", nb__p_bool, offsetof(nb__overlap_t, override), 0, 0, NULL, 0,
     "an overlay replaces the group of this id"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__overlap_table = {"overlap", nb__overlap_fields,
                                              offsetof(nb__overlap_t, mark)};

/* Generic merge of one item into its array by id, following the layering rules. */
typedef struct nb__kind_s {
    const char *what;
    size_t elem, id_off, layer_off, override_off, mark_off, max;
} nb__kind_t;

static const nb__kind_t nb__k_role = {"role",
                                      sizeof(nb__role_t),
                                      offsetof(nb__role_t, pub.id),
                                      offsetof(nb__role_t, layer),
                                      offsetof(nb__role_t, override),
                                      offsetof(nb__role_t, mark),
                                      NB_POLICY_MAX_ROLES};
static const nb__kind_t nb__k_rule = {"rule",
                                      sizeof(nb__rule_t),
                                      offsetof(nb__rule_t, info.id),
                                      offsetof(nb__rule_t, layer),
                                      offsetof(nb__rule_t, override),
                                      offsetof(nb__rule_t, mark),
                                      NB_POLICY_MAX_RULES};
static const nb__kind_t nb__k_modifier = {"modifier",
                                          sizeof(nb__modifier_t),
                                          offsetof(nb__modifier_t, id),
                                          offsetof(nb__modifier_t, layer),
                                          offsetof(nb__modifier_t, override),
                                          offsetof(nb__modifier_t, mark),
                                          NB_POLICY_MAX_MODIFIERS};
static const nb__kind_t nb__k_overlap = {"overlap",
                                         sizeof(nb__overlap_t),
                                         offsetof(nb__overlap_t, id),
                                         offsetof(nb__overlap_t, layer),
                                         offsetof(nb__overlap_t, override),
                                         offsetof(nb__overlap_t, mark),
                                         NB__MAX_OVERLAPS};
static const nb__kind_t nb__k_ladder = {"ladder",
                                        sizeof(nb__ladder_t),
                                        offsetof(nb__ladder_t, id),
                                        offsetof(nb__ladder_t, layer),
                                        offsetof(nb__ladder_t, override),
                                        offsetof(nb__ladder_t, mark),
                                        NB_POLICY_MAX_LADDERS};

#define NB__FIELD(T, p, off) (*(T *)((char *)(p) + (off)))

static long nb__find(const nb__kind_t *k, void *arr, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        const char *x = NB__FIELD(const char *, (char *)arr + i * k->elem, k->id_off);
        if (x && strcmp(x, id) == 0)
            return (long)i;
    }
    return -1;
}

static void nb__merge(nb__ctx_t *ctx, const nb__kind_t *k, void *arr, size_t *n, void *item,
                      yaml_node_t *node)
{
    const char *id = NB__FIELD(const char *, item, k->id_off);
    long i = nb__find(k, arr, *n, id);
    NB__FIELD(int, item, k->layer_off) = ctx->layer;
    bool override = NB__FIELD(int32_t, item, k->override_off) == 1;
    if (i >= 0) {
        char *old = (char *)arr + (size_t)i * k->elem;
        nb__mark_t m = NB__FIELD(nb__mark_t, old, k->mark_off);
        if (NB__FIELD(int, old, k->layer_off) == ctx->layer) {
            NB__ERR(ctx, node, NB_ERR_POLICY_DUPLICATE,
                    "%s '%s' is defined twice (first at line %d)", k->what, id, m.line);
            return;
        }
        if (!override) {
            NB__ERR(ctx, node, NB_ERR_POLICY_DUPLICATE,
                    "%s '%s' is already defined at %s:%d:%d; say 'override: true' to replace it",
                    k->what, id, m.file, m.line, m.col);
            return;
        }
        memcpy(old, item, k->elem);
        return;
    }
    if (override) {
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE,
                "%s '%s' says 'override: true' but no earlier file defines it", k->what, id);
        return;
    }
    if (*n == k->max) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "too many %ss (at most %zu)", k->what, k->max);
        return;
    }
    memcpy((char *)arr + *n * k->elem, item, k->elem);
    (*n)++;
}

static bool nb__list(nb__ctx_t *ctx, yaml_node_t *node, const char *key)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be a list, not %s", key,
                nb__node_kind(node));
        return false;
    }
    return true;
}

static bool nb__p_roles(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__list(ctx, node, f->key))
        return false;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        nb__role_t r;
        memset(&r, 0, sizeof(r));
        if (!item || !nb__parse_map(ctx, item, &nb__role_table, &r)) {
            ok = false;
            continue;
        }
        nb__merge(ctx, &nb__k_role, pol->roles, &pol->n_roles, &r, item);
    }
    return ok;
}

static bool nb__p_ladders(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__list(ctx, node, f->key))
        return false;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        nb__ladder_t *l = calloc(1, sizeof(*l));
        if (!l) {
            ctx->nomem = true;
            return false;
        }
        if (!item || !nb__parse_map(ctx, item, &nb__ladder_table, l)) {
            ok = false;
        } else {
            /* the mark of 'then' for cycle messages: find its node */
            for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
                 p < item->data.mapping.pairs.top; p++) {
                yaml_node_t *k = nb__node(ctx, p->key);
                if (k && k->type == YAML_SCALAR_NODE &&
                    strcmp((const char *)k->data.scalar.value, "then") == 0)
                    l->then_mark = nb__mark(ctx, nb__node(ctx, p->value));
            }
            nb__merge(ctx, &nb__k_ladder, pol->ladders, &pol->n_ladders, l, item);
        }
        free(l);
    }
    return ok;
}

static bool nb__p_rules(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__list(ctx, node, f->key))
        return false;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        nb__rule_t *r = calloc(1, sizeof(*r));
        if (!r) {
            ctx->nomem = true;
            return false;
        }
        nb__spred_init(&r->subject);
        r->kind = NB__RULE_COUNT;
        r->at_least = r->within_days = r->consecutive = r->distinct_agencies = NB__UNSET;
        r->by = NB__BY_NONE;
        r->by_value = NB__UNSET;
        r->lookback_days = NB__UNSET;
        r->tier = NB__UNSET;
        r->cooldown_days = NB__UNSET;
        r->digest = NB__UNSET;
        r->override = NB__UNSET;
        r->info.file = ctx->file;
        if (!item || !nb__parse_map(ctx, item, &nb__rule_table, r)) {
            ok = false;
        } else {
            r->info.line = r->mark.line;
            nb__merge(ctx, &nb__k_rule, pol->rules, &pol->n_rules, r, item);
        }
        free(r);
    }
    return ok;
}

static bool nb__p_modifiers(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__list(ctx, node, f->key))
        return false;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        nb__modifier_t *m = calloc(1, sizeof(*m));
        if (!m) {
            ctx->nomem = true;
            return false;
        }
        nb__spred_init(&m->subject);
        m->set_tier = NB__UNSET;
        m->raise = 0;
        m->override = NB__UNSET;
        if (!item || !nb__parse_map(ctx, item, &nb__modifier_table, m)) {
            ok = false;
        } else {
            if (m->set_tier == NB__UNSET && m->raise == 0 &&
                m->respond.kind == NB__RESPOND_NONE && m->add_to.n == 0) {
                NB__ERR(ctx, item, NB_ERR_POLICY_VALUE,
                        "modifier '%s' changes nothing: give 'tier', 'raise', 'respond_within' "
                        "or 'add_to'",
                        m->id);
                ok = false;
            } else {
                nb__merge(ctx, &nb__k_modifier, pol->modifiers, &pol->n_modifiers, m, item);
            }
        }
        free(m);
    }
    return ok;
}

static bool nb__p_overlaps(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__list(ctx, node, f->key))
        return false;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        nb__overlap_t *o = calloc(1, sizeof(*o));
        if (!o) {
            ctx->nomem = true;
            return false;
        }
        o->within_days = NB__UNSET;
        o->override = NB__UNSET;
        if (!item || !nb__parse_map(ctx, item, &nb__overlap_table, o)) {
            ok = false;
        } else if (o->n_rules < 2) {
            NB__ERR(ctx, item, NB_ERR_POLICY_VALUE,
                    "overlap '%s' needs at least two rules", o->id);
            ok = false;
        } else {
            nb__merge(ctx, &nb__k_overlap, pol->overlaps, &pol->n_overlaps, o, item);
        }
        free(o);
    }
    return ok;
}

/* delete: {rules: [..], roles: [..], modifiers: [..], ladders: [..]} */
static bool nb__delete_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    const nb__kind_t *k = f->aux;
    void *arr;
    size_t *n;
    (void)dst;
    if (k == &nb__k_role) {
        arr = pol->roles;
        n = &pol->n_roles;
    } else if (k == &nb__k_rule) {
        arr = pol->rules;
        n = &pol->n_rules;
    } else if (k == &nb__k_modifier) {
        arr = pol->modifiers;
        n = &pol->n_modifiers;
    } else if (k == &nb__k_overlap) {
        arr = pol->overlaps;
        n = &pol->n_overlaps;
    } else {
        arr = pol->ladders;
        n = &pol->n_ladders;
    }
    const char *id = (const char *)node->data.scalar.value;
    long i = nb__find(k, arr, *n, id);
    if (i < 0) {
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE,
                "cannot delete %s '%.80s': no earlier file defines it", k->what, NB__Q(ctx, id));
        return false;
    }
    char *at = (char *)arr + (size_t)i * k->elem;
    if (NB__FIELD(int, at, k->layer_off) == ctx->layer) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "%s '%s' is defined and deleted in the same file",
                k->what, id);
        return false;
    }
    memmove(at, at + k->elem, (*n - (size_t)i - 1) * k->elem);
    (*n)--;
    return true;
}

static bool nb__p_delete_ids(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__each(ctx, node, f, nb__delete_one, dst);
}

static const nb__field_t nb__delete_fields[] = {
    {"rules", nb__p_delete_ids, 0, 0, 0, &nb__k_rule, 0, "rule ids to delete"},
    {"roles", nb__p_delete_ids, 0, 0, 0, &nb__k_role, 0, "role ids to delete"},
    {"modifiers", nb__p_delete_ids, 0, 0, 0, &nb__k_modifier, 0, "modifier ids to delete"},
    {"ladders", nb__p_delete_ids, 0, 0, 0, &nb__k_ladder, 0, "ladder ids to delete"},
    {"overlaps", nb__p_delete_ids, 0, 0, 0, &nb__k_overlap, 0, "overlap ids to delete"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__delete_table = {"delete", nb__delete_fields, NB__NO_MARK};

/* ---- tiers: default response times ------------------------------------------------------ */

static bool nb__p_tier_ladder(nb__ctx_t *ctx, yaml_node_t *node, void *dst,
                              const nb__field_t *f)
{
    nb__tier_t *t = dst;
    t->ladder_mark = nb__mark(ctx, node);
    return nb__p_id(ctx, node, &t->ladder_id, f);
}

static const nb__field_t nb__tier_fields[] = {
    {"respond_within", nb__p_respond, offsetof(nb__tier_t, respond), 0, 0, NULL, NB__REQ,
     "how soon a decision of this tier is answered when neither its rule nor a modifier says"},
    {"escalation", nb__p_tier_ladder, 0, 0, 0, NULL, 0,
     "the ladder (an id) a decision raised to this tier by a modifier follows, instead of its "
     "rule's"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__tier_table = {"tier", nb__tier_fields, offsetof(nb__tier_t, mark)};

static const int nb__tier_index[NB_TIER__COUNT] = {NB_TIER_CURIOSITY, NB_TIER_ROUTINE,
                                                   NB_TIER_PRIORITY, NB_TIER_URGENT};

/* One tier's defaults (aux = its index; dst is the policy). A later file's setting replaces an
 * earlier one's, as a later calendar does. */
static bool nb__p_tier(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = dst;
    nb__tier_t t;
    memset(&t, 0, sizeof(t));
    t.respond.kind = NB__RESPOND_NONE;
    if (!nb__parse_map(ctx, node, &nb__tier_table, &t))
        return false;
    pol->tiers[*(const int *)f->aux] = t;
    return true;
}

static const nb__field_t nb__tiers_fields[] = {
    {"curiosity", nb__p_tier, 0, 0, 0, &nb__tier_index[NB_TIER_CURIOSITY], 0, "curiosity"},
    {"routine", nb__p_tier, 0, 0, 0, &nb__tier_index[NB_TIER_ROUTINE], 0, "routine"},
    {"priority", nb__p_tier, 0, 0, 0, &nb__tier_index[NB_TIER_PRIORITY], 0, "priority"},
    {"urgent", nb__p_tier, 0, 0, 0, &nb__tier_index[NB_TIER_URGENT], 0, "urgent"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__tiers_table = {"tiers", nb__tiers_fields, NB__NO_MARK};

/* ---- types: the vocabulary of appointment types ----------------------------------------- */

static const uint32_t nb__stage_unborn = 1u << NB_SUBJECT_UNBORN;
static const uint32_t nb__stage_child = 1u << NB_SUBJECT_CHILD;
static const uint32_t nb__stage_any = 0;

static long nb__vocab_find(const nb_policy_t *pol, const char *name)
{
    for (size_t i = 0; i < pol->n_vocab; i++)
        if (strcmp(pol->vocab[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* One declared type (aux = the life stage of the list it is in). Overlays add types; a type
 * declared twice is an error wherever the first one is, so a stage never changes silently. */
static bool nb__vocab_one(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    (void)dst;
    if (len == 0 || len > NB_TYPE_MAX || strlen(s) != len) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "appointment types are 1 to %d characters",
                NB_TYPE_MAX);
        return false;
    }
    long k = nb__vocab_find(pol, s);
    if (k >= 0) {
        const nb__mark_t *m = &pol->vocab[k].mark;
        NB__ERR(ctx, node, NB_ERR_POLICY_DUPLICATE,
                "appointment type '%.80s' is already declared at %s:%d:%d", NB__Q(ctx, s),
                m->file, m->line, m->col);
        return false;
    }
    if (pol->n_vocab == NB__MAX_VOCAB) {
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "too many appointment types (at most %d)",
                NB__MAX_VOCAB);
        return false;
    }
    nb__vocab_t *v = &pol->vocab[pol->n_vocab++];
    v->name = nb__dup(ctx, s, len);
    v->stages = *(const uint32_t *)f->aux;
    v->mark = nb__mark(ctx, node);
    return true;
}

static bool nb__p_vocab(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__each(ctx, node, f, nb__vocab_one, dst);
}

static const nb__field_t nb__vocab_fields[] = {
    {"unborn", nb__p_vocab, 0, 0, 0, &nb__stage_unborn, 0,
     "appointments of a pregnancy (antenatal): a rule matching them is about an unborn child"},
    {"child", nb__p_vocab, 0, 0, 0, &nb__stage_child, 0, "appointments of a born child"},
    {"any", nb__p_vocab, 0, 0, 0, &nb__stage_any, 0, "appointments of either"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__vocab_table = {"types", nb__vocab_fields, NB__NO_MARK};

static bool nb__p_types_decl(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    (void)dst;
    (void)f;
    ctx->pol->vocab_declared = true;
    return nb__parse_map(ctx, node, &nb__vocab_table, ctx->pol);
}

/* ---- calendar ---------------------------------------------------------------------------- */

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
    if (!nb__list(ctx, node, f->key))
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

/* ---- reading files ----------------------------------------------------------------------- */

/* What a file that is not a regular file is, for a message. */
static const char *nb__file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "not a file";
}

typedef enum {
    NB__READ_OK,
    NB__READ_CANNOT, /* cannot open or read it: *why is strerror's text */
    NB__READ_KIND,   /* not a regular file: *why says what it is */
    NB__READ_SIZE,   /* larger than NB__MAX_FILE_BYTES */
    NB__READ_NOMEM
} nb__read_t;

/* Reads a whole policy file, which must be a regular file of at most NB__MAX_FILE_BYTES.
 * The loader runs on the daemon's main loop (SIGHUP), so a FIFO, a device or a socket named
 * by mistake or by malice must not block it: opening a FIFO with no writer blocks in open()
 * itself. The file is therefore opened with O_NONBLOCK and fstat() refuses anything that is
 * not a regular file before a byte is read; stat() before open() spares a device the side
 * effects of being opened and says what a socket is (open() fails on one). At most one byte
 * more than the limit is read, however the file grows meanwhile.
 * @returns NB__READ_OK with *bufp (malloc'd, NUL-terminated; the caller frees it) and *lenp. */
static nb__read_t nb__read_file(const char *path, int oflags, char **bufp, size_t *lenp,
                                const char **why)
{
    struct stat st;
    nb__read_t rc = NB__READ_OK;
    char *buf = NULL;
    size_t len = 0, cap;
    int fd = -1;
    *bufp = NULL;
    *lenp = 0;
    *why = "";
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        *why = nb__file_kind(st.st_mode);
        return NB__READ_KIND;
    }
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | oflags)) < 0 ||
        fstat(fd, &st) != 0) {
        *why = strerror(errno);
        rc = NB__READ_CANNOT;
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = nb__file_kind(st.st_mode);
        rc = NB__READ_KIND;
        goto done;
    }
    if (st.st_size > (off_t)NB__MAX_FILE_BYTES) {
        rc = NB__READ_SIZE;
        goto done;
    }
    cap = (size_t)st.st_size + 1; /* one more, to see the end of the file */
    if (!(buf = malloc(cap + 1))) {
        rc = NB__READ_NOMEM;
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (len > NB__MAX_FILE_BYTES) {
                rc = NB__READ_SIZE;
                break;
            }
            size_t ncap = cap < NB__MAX_FILE_BYTES / 2 ? cap * 2 : NB__MAX_FILE_BYTES + 1;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                rc = NB__READ_NOMEM;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = strerror(errno);
            rc = NB__READ_CANNOT;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
done:
    if (fd >= 0)
        close(fd);
    if (rc != NB__READ_OK) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *bufp = buf;
    *lenp = len;
    return NB__READ_OK;
}

static bool nb__load_doc(nb__ctx_t *ctx, const char *name, const char *data, size_t len,
                         const char *dir, bool include);

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
    switch (nb__read_file(rpath, O_NOFOLLOW, &buf, &n, &why)) {
    case NB__READ_OK:
        break;
    case NB__READ_CANNOT:
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE, "cannot read included file '%s': %s", s, why);
        return false;
    case NB__READ_KIND:
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE, "included file '%s' is not a regular file (%s)",
                s, why);
        return false;
    case NB__READ_SIZE:
        NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "included file '%s' is larger than %u MiB", s,
                NB__MAX_FILE_BYTES >> 20);
        return false;
    case NB__READ_NOMEM:
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

static bool nb__p_calendar(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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

/* ---- metadata ---------------------------------------------------------------------------- */

static const nb__field_t nb__defaults_fields[] = {
    {"cooldown_days", nb__p_int, offsetof(nb_policy_t, default_cooldown), 0, 3660, NULL, 0,
     "cool-down of rules that do not set one (default 28)"},
    {"digest", nb__p_choice, offsetof(nb_policy_t, default_digest), 0, 0, &nb__e_digest, 0,
     "digest of rules that do not set one (default none)"},
    {"self_managing", nb__p_choice, offsetof(nb_policy_t, default_self), 0, 0, &nb__e_self, 0,
     "self-managing 16-17 year olds (default exclude)"},
    {"self_managing_from_age", nb__p_int, offsetof(nb_policy_t, self_managing_from_age), 16, 18,
     NULL, 0,
     "young people of this age (16 or 17) and older are presumed to manage their own "
     "appointments; 18: never presumed (default 18)"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__defaults_table = {"defaults", nb__defaults_fields, NB__NO_MARK};

static const nb__field_t nb__meta_fields[] = {
    {"name", nb__p_id, offsetof(nb_policy_t, info.name), 0, 0, NULL, 0, "short name (an id)"},
    {"title", nb__p_str, offsetof(nb_policy_t, info.title), 0, 200, NULL, 0, "full title"},
    {"version", nb__p_str, offsetof(nb_policy_t, info.version), 0, NB_ID_MAX, NULL, 0,
     "version label"},
    {"owner", nb__p_str, offsetof(nb_policy_t, info.owner), 0, 200, NULL, 0,
     "who owns and signs off the protocol"},
    {"effective_from", nb__p_date, offsetof(nb_policy_t, info.effective_from), 0, 0, NULL, 0,
     "the date it takes effect"},
    {"extends", nb__p_id, offsetof(nb_policy_t, extends), 0, 0, NULL, 0,
     "overlays: the name of the base policy they apply to"},
    {"retention_days", nb__p_int, offsetof(nb_policy_t, retention_days_set), 1, 3660, NULL, 0,
     "keep history this long (default: what the rules need)"},
    {"defaults", nb__p_map, 0, 0, 0, &nb__defaults_table, 0, "defaults for rules"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__meta_table = {"policy", nb__meta_fields, NB__NO_MARK};

static bool nb__p_meta(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    const char *base_name = pol->info.name;
    (void)dst;
    (void)f;
    pol->extends = NULL;
    if (!nb__parse_map(ctx, node, &nb__meta_table, pol))
        return false;
    if (ctx->layer == 0) {
        static const struct {
            const char *key;
            size_t off;
        } req[] = {{"name", offsetof(nb_policy_t, info.name)},
                   {"version", offsetof(nb_policy_t, info.version)},
                   {"owner", offsetof(nb_policy_t, info.owner)}};
        bool ok = true;
        for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
            if (!NB__FIELD(const char *, pol, req[i].off)) {
                NB__ERR(ctx, node, NB_ERR_POLICY_VALUE, "policy is missing the required key '%s'",
                        req[i].key);
                ok = false;
            }
        }
        if (pol->info.effective_from == NB_DATE_NONE) {
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                    "policy is missing the required key 'effective_from'");
            ok = false;
        }
        if (pol->extends) {
            NB__ERR(ctx, node, NB_ERR_POLICY_VALUE,
                    "the first file is the base policy; 'extends' belongs in overlays");
            ok = false;
        }
        return ok;
    }
    if (pol->extends && base_name && strcmp(pol->extends, base_name) != 0) {
        NB__ERR(ctx, node, NB_ERR_POLICY_REFERENCE,
                "this overlay extends '%s' but the base policy is '%s'", pol->extends, base_name);
        return false;
    }
    return true;
}

static bool nb__p_ignore(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    (void)ctx;
    (void)node;
    (void)dst;
    (void)f;
    return true;
}

static const nb__field_t nb__top_fields[] = {
    {"policy", nb__p_meta, 0, 0, 0, NULL, 0, "metadata"},
    {"calendar", nb__p_calendar, 0, 0, 0, NULL, 0, "working-day calendar"},
    {"roles", nb__p_roles, 0, 0, 0, NULL, 0, "recipient roles"},
    {"ladders", nb__p_ladders, 0, 0, 0, NULL, 0, "named escalation ladders"},
    {"rules", nb__p_rules, 0, 0, 0, NULL, 0, "rules"},
    {"modifiers", nb__p_modifiers, 0, 0, 0, NULL, 0, "tier modifiers"},
    {"tiers", nb__p_map, 0, 0, 0, &nb__tiers_table, 0, "default response times of the tiers"},
    {"overlaps", nb__p_overlaps, 0, 0, 0, NULL, 0,
     "rules that overlap: one notification to act on, by precedence"},
    {"types", nb__p_types_decl, 0, 0, 0, NULL, 0,
     "the vocabulary of appointment types, by life stage"},
    {"delete", nb__p_map, 0, 0, 0, &nb__delete_table, 0, "ids removed by an overlay"},
    {"notes", nb__p_ignore, 0, 0, 0, NULL, 0, "free text, ignored"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__top_table = {"the policy file", nb__top_fields, NB__NO_MARK};

static const nb__field_t nb__include_fields[] = {
    {"calendar", nb__p_calendar, 0, 0, 0, NULL, 0, "working-day calendar"},
    {"notes", nb__p_ignore, 0, 0, 0, NULL, 0, "free text, ignored"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__include_table = {"an included calendar file", nb__include_fields,
                                              NB__NO_MARK};

/* Order matters: delete is processed after the file's definitions whatever its position, so
 * that "defined and deleted in the same file" is caught. */
static bool nb__parse_top(nb__ctx_t *ctx, yaml_node_t *root, bool include)
{
    if (include)
        return nb__parse_map(ctx, root, &nb__include_table, ctx->pol);
    if (root->type != YAML_MAPPING_NODE)
        return nb__parse_map(ctx, root, &nb__top_table, ctx->pol);
    /* First pass: everything but delete; second pass: delete. */
    yaml_node_pair_t *start = root->data.mapping.pairs.start, *top = root->data.mapping.pairs.top;
    yaml_node_pair_t *del = NULL;
    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *k = nb__node(ctx, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, "delete") == 0 && !del)
            del = p;
    }
    if (!del)
        return nb__parse_map(ctx, root, &nb__top_table, ctx->pol);
    /* Move the delete pair to the end for the walk, then put it back. */
    yaml_node_pair_t saved = *del;
    memmove(del, del + 1, (size_t)(top - del - 1) * sizeof(*del));
    top[-1] = saved;
    bool ok = nb__parse_map(ctx, root, &nb__top_table, ctx->pol);
    memmove(del + 1, del, (size_t)(top - del - 1) * sizeof(*del));
    *del = saved;
    return ok;
}

/* Walks a file's YAML events before libyaml builds its document, and refuses a file that nests
 * collections more than NB__MAX_NESTING deep or has more than NB__MAX_ANCHORS anchors or
 * NB__MAX_ALIASES aliases. libyaml's scanner keeps a possible simple key for every open flow
 * collection and checks them all for every token, so nested brackets ([[[[...]]]]) take time
 * quadratic in their depth: a 200 KB file took 32 s, and stalled the daemon's main loop as long
 * on SIGHUP. This walk stops at the first level over the limit, so no file costs more than
 * NB__MAX_NESTING checks a token. libyaml's document loader looks each anchor up in a list
 * (quadratic in their number); the caps keep that small. A syntax error ends the walk quietly:
 * yaml_parser_load() meets it again and reports it.
 * @returns false after reporting a limit. */
static bool nb__precheck(nb__ctx_t *ctx, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int depth = 0, anchors = 0, aliases = 0;
    bool ok = true, done = false;
    if (!yaml_parser_initialize(&parser)) {
        ctx->nomem = true;
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (ok && !done && yaml_parser_parse(&parser, &ev)) {
        const yaml_char_t *anchor = NULL;
        char what[128] = "";
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            anchor = ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                          : ev.data.mapping_start.anchor;
            if (++depth > NB__MAX_NESTING)
                snprintf(what, sizeof(what), "nests more than %d levels deep", NB__MAX_NESTING);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT: {
            anchor = ev.data.scalar.anchor;
            /* Policy text goes into notifications, which our own readers refuse when they
             * hold a control or bidirectional character (nb_text_check): refused here, at
             * its line and column, rather than in every notification the rule makes. */
            nb_text_fault_t tf = nb_text_check((const char *)ev.data.scalar.value,
                                               ev.data.scalar.length, NB_TEXT_FREE);
            if (tf != NB_TEXT_OK)
                snprintf(what, sizeof(what), "has text that %s", nb_text_fault_str(tf));
            break;
        }
        case YAML_ALIAS_EVENT:
            if (++aliases > NB__MAX_ALIASES)
                snprintf(what, sizeof(what), "has more than %d aliases", NB__MAX_ALIASES);
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        if (anchor && ++anchors > NB__MAX_ANCHORS)
            snprintf(what, sizeof(what), "has more than %d anchors", NB__MAX_ANCHORS);
        if (what[0]) {
            nb__mark_t m = {ctx->file, (int)ev.start_mark.line + 1,
                            (int)ev.start_mark.column + 1};
            nb__report(ctx, m, NB_ERR_POLICY_VALUE, false, "the document %s", what);
            ok = false;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return ok;
}

static bool nb__load_doc(nb__ctx_t *ctx, const char *name, const char *data, size_t len,
                         const char *dir, bool include)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    bool ok = false;
    nb_policy_t *pol = ctx->pol;

    ctx->file = nb__dup(ctx, name, strlen(name));
    ctx->dir = dir;
    if (pol->info.n_files < NB_POLICY_MAX_FILES)
        pol->info.files[pol->info.n_files++] = ctx->file;
    if (len > NB__MAX_FILE_BYTES) {
        nb__mark_t m = {ctx->file, 0, 0};
        nb__report(ctx, m, NB_ERR_POLICY_VALUE, false, "the file is larger than %u MiB",
                   NB__MAX_FILE_BYTES >> 20);
        return false;
    }
    /* The content hash covers every byte the policy came from, in load order. */
    uint64_t len64 = len;
    EVP_DigestUpdate(ctx->md, &len64, sizeof(len64));
    EVP_DigestUpdate(ctx->md, data, len);

    if (!nb__precheck(ctx, data, len))
        return false;
    if (!yaml_parser_initialize(&parser)) {
        ctx->nomem = true;
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        nb__mark_t m = {ctx->file, (int)parser.problem_mark.line + 1,
                        (int)parser.problem_mark.column + 1};
        if (parser.error == YAML_MEMORY_ERROR)
            ctx->nomem = true;
        nb__report(ctx, m, NB_ERR_POLICY_SYNTAX, false, "%s%s%s",
                   parser.problem ? parser.problem : "malformed YAML",
                   parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return false;
    }
    ctx->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        nb__mark_t m = {ctx->file, 1, 1};
        nb__report(ctx, m, NB_ERR_POLICY_SYNTAX, false, "the file holds no YAML document");
    } else {
        ok = nb__parse_top(ctx, root, include);
        /* One document per file: a second one would be silently ignored otherwise. */
        yaml_document_t more;
        if (yaml_parser_load(&parser, &more)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&more);
            if (r2) {
                NB__ERR(ctx, r2, NB_ERR_POLICY_SYNTAX,
                        "a policy file holds one YAML document; this is a second one");
                ok = false;
            }
            yaml_document_delete(&more);
        } else {
            nb__mark_t m = {ctx->file, (int)parser.problem_mark.line + 1,
                            (int)parser.problem_mark.column + 1};
            nb__report(ctx, m, NB_ERR_POLICY_SYNTAX, false, "%s",
                       parser.problem ? parser.problem : "malformed YAML");
            ok = false;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    ctx->doc = NULL;
    return ok;
}

/* ---- resolution and validation across layers --------------------------------------------- */

static void nb__resolve_refs(nb__ctx_t *ctx, nb__refs_t *r)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t i = 0; i < r->n; i++) {
        long k = nb__find(&nb__k_role, pol->roles, pol->n_roles, r->ids[i]);
        if (k < 0) {
            char known[300];
            size_t off = 0;
            known[0] = '\0';
            for (size_t j = 0; j < pol->n_roles && off < sizeof(known); j++) {
                int n = snprintf(known + off, sizeof(known) - off, "%s%s", j ? ", " : "",
                                 pol->roles[j].pub.id);
                if (n < 0)
                    break;
                off += (size_t)n;
            }
            nb__report(ctx, r->marks[i], NB_ERR_POLICY_REFERENCE, false,
                       "unknown role '%s' (defined roles: %s)", r->ids[i],
                       pol->n_roles ? known : "none");
            r->roles[i] = NULL;
        } else {
            r->roles[i] = &pol->roles[k].pub;
        }
    }
}

static long nb__ladder_index(const nb_policy_t *pol, const char *id)
{
    for (size_t i = 0; i < pol->n_ladders; i++)
        if (strcmp(pol->ladders[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* Reports each cycle of 'then' links once, at the ladder with the lowest index in it. */
static void nb__check_ladder_cycles(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t i = 0; i < pol->n_ladders; i++) {
        nb__ladder_t *l = &pol->ladders[i];
        if (l->then && nb__ladder_index(pol, l->then) < 0) {
            nb__report(ctx, l->then_mark, NB_ERR_POLICY_REFERENCE, false,
                       "ladder '%s' continues with unknown ladder '%s'", l->id, l->then);
            continue;
        }
        bool seen[NB_POLICY_MAX_LADDERS] = {false};
        bool lowest = true;
        char path[512];
        size_t off = 0;
        long cur = (long)i;
        seen[i] = true;
        int n = snprintf(path, sizeof(path), "%s", l->id);
        off = n > 0 ? (size_t)n : 0;
        while (pol->ladders[cur].then) {
            long next = nb__ladder_index(pol, pol->ladders[cur].then);
            if (next < 0)
                break;
            if (off < sizeof(path)) {
                n = snprintf(path + off, sizeof(path) - off, " -> %s", pol->ladders[next].id);
                off += n > 0 ? (size_t)n : 0;
            }
            if (next == (long)i) {
                if (lowest)
                    nb__report(ctx, l->then_mark, NB_ERR_POLICY_CYCLE, false,
                               "escalation ladders form a cycle: %s", path);
                break;
            }
            if (seen[next])
                break; /* a cycle that does not pass through this ladder */
            if (next < (long)i)
                lowest = false;
            seen[next] = true;
            cur = next;
        }
    }
}

/* Flattens a rule's ladder (following 'then') into offsets from an anchor: the notification,
 * or the respond-by ('from: respond_by'). A ladder reached by 'then' continues from the last
 * rung of the one before: its rungs count from that rung, whatever their own 'from' says. */
static void nb__flatten(nb__ctx_t *ctx, nb__rule_t *r)
{
    nb_policy_t *pol = ctx->pol;
    const nb__ladder_t *l = NULL;
    int64_t base = 0;
    int32_t tier = r->tier;
    bool visited[NB_POLICY_MAX_LADDERS] = {false};
    r->n_rungs = 0;
    if (r->ladder_id) {
        long i = nb__ladder_index(pol, r->ladder_id);
        if (i < 0) {
            nb__report(ctx, r->ladder_mark, NB_ERR_POLICY_REFERENCE, false,
                       "rule '%s' names unknown escalation ladder '%s'", r->info.id,
                       r->ladder_id);
            return;
        }
        l = &pol->ladders[i];
        visited[i] = true;
    } else if (r->inline_ladder.n_rungs) {
        l = &r->inline_ladder;
    }
    int32_t anchor = NB__UNSET; /* a continuation's: the last rung's of the ladder before */
    while (l) {
        int64_t last = 0;
        int32_t last_from = NB__FROM_NOTIFIED;
        for (size_t k = 0; k < l->n_rungs; k++) {
            const nb__rung_t *g = &l->rungs[k];
            if (r->n_rungs == NB_POLICY_MAX_RUNGS) {
                nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                           "rule '%s': its escalation ladders add up to more than %d rungs",
                           r->info.id, NB_POLICY_MAX_RUNGS);
                return;
            }
            if (g->tier != NB__UNSET && g->tier > tier)
                tier = g->tier;
            int32_t from = anchor != NB__UNSET ? anchor : g->from;
            last = (anchor != NB__UNSET ? base : 0) + (int64_t)g->after_hours * 3600000;
            last_from = from;
            r->flat[r->n_rungs].after_ms = last;
            r->flat[r->n_rungs].from = from;
            r->flat[r->n_rungs].early = g->early == 1;
            r->flat[r->n_rungs].tier = (nb_tier_t)tier;
            r->flat[r->n_rungs].to = &g->to;
            r->flat[r->n_rungs].mark = g->mark;
            r->n_rungs++;
        }
        base = last;
        anchor = last_from;
        if (!l->then || l == &r->inline_ladder)
            break;
        long i = nb__ladder_index(pol, l->then);
        if (i < 0 || visited[i])
            break; /* reported by nb__check_ladder_cycles() */
        visited[i] = true;
        l = &pol->ladders[i];
    }
}

static void nb__check_rule(nb__ctx_t *ctx, nb__rule_t *r)
{
    nb_policy_t *pol = ctx->pol;
    bool has_count = r->at_least != NB__UNSET || r->within_days != NB__UNSET ||
                     r->consecutive != NB__UNSET || r->distinct_agencies != NB__UNSET;
    if (r->kind == NB__RULE_COUNT) {
        if (r->by != NB__BY_NONE || r->expect.n)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "rule '%s' is a count rule; 'expect' belongs to absence rules (kind: "
                       "absence)",
                       r->info.id);
        if ((r->at_least == NB__UNSET) == (r->consecutive == NB__UNSET))
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "rule '%s' needs 'count' with exactly one of 'at_least' or 'consecutive'",
                       r->info.id);
        if (r->at_least != NB__UNSET && r->within_days == NB__UNSET)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "rule '%s': 'at_least' needs a window, 'within_days'", r->info.id);
        if (r->match.n == 0)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "rule '%s' needs 'match': which appointments it counts", r->info.id);
    } else {
        if (has_count)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "rule '%s' is an absence rule; 'count' belongs to count rules",
                       r->info.id);
        if (r->by == NB__BY_NONE)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "absence rule '%s' needs 'expect' with a contact and a deadline",
                       r->info.id);
        if (r->by == NB__BY_WORKING_DAYS && r->match.n == 0)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "absence rule '%s': 'within_working_days' needs 'match', the appointments "
                       "that start the clock",
                       r->info.id);
        if (r->by != NB__BY_WORKING_DAYS && r->match.n)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "absence rule '%s': 'match' is only used with 'within_working_days'",
                       r->info.id);
        if (r->lookback_days != NB__UNSET && r->by != NB__BY_WORKING_DAYS)
            nb__report(ctx, r->mark, NB_ERR_POLICY_VALUE, false,
                       "absence rule '%s': 'lookback_days' is only used with "
                       "'within_working_days'",
                       r->info.id);
        /* The expected contact happened: attended, unless the policy says otherwise. */
        for (size_t i = 0; i < r->expect.n; i++)
            if (!r->expect.alt[i].statuses)
                r->expect.alt[i].statuses = 1u << NB_STATUS_ATTENDED;
        if (r->lookback_days == NB__UNSET)
            r->lookback_days = 90;
    }
    if ((r->respond.kind == NB__RESPOND_WORKING_DAYS) && pol->n_holidays == 0)
        nb__report(ctx, r->action_mark, NB_ERR_POLICY_REFERENCE, false,
                   "rule '%s' counts working days but the policy has no calendar of bank "
                   "holidays",
                   r->info.id);
    if (r->by == NB__BY_WORKING_DAYS && pol->n_holidays == 0)
        nb__report(ctx, r->mark, NB_ERR_POLICY_REFERENCE, false,
                   "rule '%s' counts working days but the policy has no calendar of bank "
                   "holidays",
                   r->info.id);
    nb__resolve_refs(ctx, &r->to);
    for (size_t i = 0; i < r->inline_ladder.n_rungs; i++)
        nb__resolve_refs(ctx, &r->inline_ladder.rungs[i].to);
    nb__flatten(ctx, r);

    r->info.shadow = r->mode == 1;
    r->info.absence = r->kind == NB__RULE_ABSENCE;
    r->info.tier = r->tier == NB__UNSET ? NB_TIER_ROUTINE : (nb_tier_t)r->tier;
    r->eff_respond = r->respond.kind != NB__RESPOND_NONE ? r->respond
                                                          : pol->tiers[r->info.tier].respond;
    if (r->cooldown_days == NB__UNSET)
        r->cooldown_days = pol->default_cooldown;
    if (r->digest == NB__UNSET)
        r->digest = pol->default_digest;
    if (r->subject.self_managing == NB__UNSET)
        r->subject.self_managing = pol->default_self;
    r->info.cooldown_days = r->cooldown_days;
    r->info.digest = (nb_policy_digest_t)r->digest;
    r->info.hash = nb_ledger_id_hash(r->info.id, strlen(r->info.id));
}

/* Overlap groups: rule ids to indices; a rule once per group; a shadow rule in none (it never
 * notifies, so it covers nothing and needs no cover). */
static void nb__resolve_overlaps(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    memset(pol->overlap_of, 0, sizeof(pol->overlap_of));
    for (size_t g = 0; g < pol->n_overlaps; g++) {
        nb__overlap_t *o = &pol->overlaps[g];
        for (size_t k = 0; k < o->n_rules; k++) {
            o->idx[k] = -1;
            long ri = nb__find(&nb__k_rule, pol->rules, pol->n_rules, o->rules[k]);
            if (ri < 0) {
                nb__report(ctx, o->rule_marks[k], NB_ERR_POLICY_REFERENCE, false,
                           "overlap '%s' names unknown rule '%s'", o->id, o->rules[k]);
                continue;
            }
            if (pol->rules[ri].mode == 1) {
                nb__report(ctx, o->rule_marks[k], NB_ERR_POLICY_VALUE, false,
                           "overlap '%s' names shadow rule '%s', which never notifies", o->id,
                           o->rules[k]);
                continue;
            }
            if (pol->overlap_of[ri] >> g & 1) {
                nb__report(ctx, o->rule_marks[k], NB_ERR_POLICY_DUPLICATE, false,
                           "overlap '%s' names rule '%s' twice", o->id, o->rules[k]);
                continue;
            }
            pol->overlap_of[ri] |= (uint16_t)(1u << g);
            o->idx[k] = (int16_t)ri;
        }
    }
}

/* The ladders of the tiers ('tiers: {urgent: {escalation: ...}}'), flattened as a rule's of
 * that tier would be. A decision raised to the tier follows it from its own respond-by, so each
 * rung must count from the respond-by or be an explicit early alert. */
static void nb__flatten_tiers(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    for (int t = 0; t < NB_TIER__COUNT; t++) {
        nb__tier_t *tier = &pol->tiers[t];
        tier->n_rungs = 0;
        if (!tier->ladder_id)
            continue;
        if (nb__ladder_index(pol, tier->ladder_id) < 0) {
            nb__report(ctx, tier->ladder_mark, NB_ERR_POLICY_REFERENCE, false,
                       "tier '%s' names unknown escalation ladder '%s'",
                       nb_tier_name((nb_tier_t)t), tier->ladder_id);
            continue;
        }
        nb__rule_t *r = calloc(1, sizeof(*r));
        if (!r) {
            ctx->nomem = true;
            return;
        }
        r->info.id = nb_tier_name((nb_tier_t)t);
        r->tier = t;
        r->ladder_id = tier->ladder_id;
        r->ladder_mark = tier->ladder_mark;
        r->mark = tier->mark;
        nb__flatten(ctx, r);
        tier->n_rungs = r->n_rungs;
        memcpy(tier->flat, r->flat, sizeof(tier->flat));
        free(r);
        for (size_t i = 0; i < tier->n_rungs; i++)
            if (tier->flat[i].from != NB__FROM_RESPOND_BY && !tier->flat[i].early)
                nb__report(ctx, tier->flat[i].mark, NB_ERR_POLICY_VALUE, false,
                           "the ladder of tier '%s' ('%s') has a rung that counts from the "
                           "notification: give it 'from: respond_by', or make it an explicit "
                           "early alert ('early: true')",
                           nb_tier_name((nb_tier_t)t), tier->ladder_id);
    }
}

/* Days of history a rule can look at. */
static int32_t nb__rule_lookback(const nb__rule_t *r)
{
    int32_t d = r->cooldown_days;
#define NB__MAX(x)                                                                                 \
    do {                                                                                           \
        if ((x) != NB__UNSET && (x) > d)                                                           \
            d = (x);                                                                               \
    } while (0)
    NB__MAX(r->within_days);
    NB__MAX(r->subject.ended_within_days);
    if (r->kind == NB__RULE_ABSENCE) {
        if (r->by == NB__BY_WORKING_DAYS)
            NB__MAX(r->lookback_days + r->by_value * 2 + 14);
        else if (r->by == NB__BY_GESTATION)
            NB__MAX(45 * 7);
        else if (r->subject.age_months.max != NB__UNSET)
            NB__MAX((r->subject.age_months.max + 1) * 31);
        else
            NB__MAX(r->by_value + 366);
    }
    if (r->consecutive != NB__UNSET)
        NB__MAX(366);
#undef NB__MAX
    return d;
}

/* ---- checks across rules, ladders, modifiers, tiers and types ---------------------------- */

#define NB__WARN(ctx, mark, err, ...) nb__report(ctx, mark, err, true, __VA_ARGS__)

/* "Thursday 23 December 2027 at 00:00" (Europe/London), for messages about deadlines. */
static void nb__local_text(int64_t ms, char *buf, size_t size)
{
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    static const char *const months[] = {"January", "February", "March",     "April",
                                         "May",     "June",     "July",      "August",
                                         "September", "October", "November", "December"};
    int64_t local = ms + nb_policy_london_offset(ms);
    int32_t day = nb_day_of(local);
    int y;
    unsigned m, d;
    nb_civil_from_days(day, &y, &m, &d);
    int minutes = (int)((local - (int64_t)day * NB_MS_PER_DAY) / 60000);
    snprintf(buf, size, "%s %u %s %d at %02d:%02d", days[nb__policy_weekday(day)], d,
             months[m - 1], y, minutes / 60, minutes % 60);
}

static void nb__respond_text(const nb__respond_t *r, char *buf, size_t size)
{
    switch (r->kind) {
    case NB__RESPOND_HOURS:
        snprintf(buf, size, "%d hours", (int)r->n);
        break;
    case NB__RESPOND_WORKING_DAYS:
        snprintf(buf, size, "%d working day%s", (int)r->n, r->n == 1 ? "" : "s");
        break;
    case NB__RESPOND_SAME_DAY:
        snprintf(buf, size, "the same day");
        break;
    default:
        snprintf(buf, size, "no response time");
        break;
    }
}

/* The tiers a rule's decisions can reach when the modifiers before modifier 'upto' may or may
 * not apply: a bitmask of nb_tier_t. */
static uint32_t nb__tiers_before(const nb_policy_t *pol, size_t ri, size_t upto)
{
    uint32_t set = 1u << pol->rules[ri].info.tier;
    for (size_t m = 0; m < upto; m++) {
        const nb__modifier_t *mod = &pol->modifiers[m];
        if (!(mod->rule_mask >> ri & 1) || (mod->set_tier == NB__UNSET && mod->raise == 0))
            continue;
        uint32_t next = set;
        for (int t = 0; t < NB_TIER__COUNT; t++) {
            if (!(set >> t & 1))
                continue;
            int u = mod->set_tier != NB__UNSET && t < mod->set_tier ? mod->set_tier : t;
            u += mod->raise;
            next |= 1u << (u > NB_TIER_URGENT ? NB_TIER_URGENT : u);
        }
        set = next;
    }
    return set;
}

/*
 * A modifier that changes the tier changes what the notification says ("URGENT"), so the
 * response time must fit the new tier: the modifier's own respond_within, or the new tier's
 * default ('tiers'). Otherwise the decision would keep the old tier's respond-by, as it did
 * before tiers had defaults: "URGENT ... respond by" five working days later.
 */
static void nb__check_modifier_tiers(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t m = 0; m < pol->n_modifiers; m++) {
        const nb__modifier_t *mod = &pol->modifiers[m];
        if ((mod->set_tier == NB__UNSET && mod->raise == 0) ||
            mod->respond.kind != NB__RESPOND_NONE)
            continue;
        for (size_t ri = 0; ri < pol->n_rules; ri++) {
            if (!(mod->rule_mask >> ri & 1))
                continue;
            const nb__rule_t *r = &pol->rules[ri];
            uint32_t before = nb__tiers_before(pol, ri, m);
            for (int t = 0; t < NB_TIER__COUNT; t++) {
                if (!(before >> t & 1))
                    continue;
                int u = mod->set_tier != NB__UNSET && t < mod->set_tier ? mod->set_tier : t;
                u += mod->raise;
                if (u > NB_TIER_URGENT)
                    u = NB_TIER_URGENT;
                if (u == t || pol->tiers[u].respond.kind != NB__RESPOND_NONE)
                    continue;
                char was[64];
                nb__respond_text(&r->eff_respond, was, sizeof(was));
                nb__report(ctx, mod->mark, NB_ERR_POLICY_VALUE, false,
                           "modifier '%s' changes rule '%s' from %s to %s, but no response time "
                           "fits %s: the notification would keep %s (%s). Give the modifier "
                           "'respond_within', or the tier a default (tiers: {%s: "
                           "{respond_within: ...}})",
                           mod->id, r->info.id, nb__tier_names[t], nb__tier_names[u],
                           nb__tier_names[u], nb__tier_names[t], was, nb__tier_names[u]);
                break;
            }
        }
    }
}

/* The worst case of a response time, computed once per distinct response time. */
typedef struct nb__worst_s {
    nb__workdays_t wd;
    size_t n;
    struct {
        nb__respond_t r;
        int64_t worst, at;
    } v[32];
} nb__worst_t;

static int64_t nb__worst(const nb_policy_t *pol, nb__worst_t *w, const nb__respond_t *r,
                         int64_t *at)
{
    for (size_t i = 0; i < w->n; i++) {
        if (w->v[i].r.kind == r->kind && w->v[i].r.n == r->n) {
            *at = w->v[i].at;
            return w->v[i].worst;
        }
    }
    int64_t worst = nb__policy_respond_worst(pol, r, &w->wd, at);
    if (w->n < sizeof(w->v) / sizeof(w->v[0])) {
        w->v[w->n].r = *r;
        w->v[w->n].worst = worst;
        w->v[w->n].at = *at;
        w->n++;
    }
    return worst;
}

/*
 * Escalation never comes before the deadline the recipients were given, unless it is an
 * explicit early alert. A rung counted from the respond-by cannot; a rung counted from the
 * notification can, when its hours are fewer than the response time takes in the worst case
 * (working days over a weekend and bank holidays), so it must be at least that late or say
 * 'early: true'. The response times a decision of the rule can have: the rule's own (or its
 * tier's default), and those of the modifiers that apply to it. (A modifier's new tier's
 * default only ever shortens the rule's own, see nb__decide().)
 */
static void nb__check_rungs(nb__ctx_t *ctx, nb__worst_t *w)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        nb__rule_t *r = &pol->rules[ri];
        const nb__respond_t *latest = NULL;
        int64_t worst = 0, at = NB_TIME_NONE;
        if (r->eff_respond.kind != NB__RESPOND_NONE) {
            latest = &r->eff_respond;
            worst = nb__worst(pol, w, latest, &at);
        } else {
            /* No response time of its own: a raised tier's default is then the respond-by. */
            uint32_t reach = nb__tiers_before(pol, ri, pol->n_modifiers);
            for (int t = 0; t < NB_TIER__COUNT; t++) {
                int64_t a;
                if (!(reach >> t & 1) || pol->tiers[t].respond.kind == NB__RESPOND_NONE)
                    continue;
                int64_t x = nb__worst(pol, w, &pol->tiers[t].respond, &a);
                if (!latest || x > worst) {
                    latest = &pol->tiers[t].respond;
                    worst = x;
                    at = a;
                }
            }
        }
        for (size_t m = 0; m < pol->n_modifiers; m++) {
            const nb__modifier_t *mod = &pol->modifiers[m];
            int64_t a;
            if (!(mod->rule_mask >> ri & 1) || mod->respond.kind == NB__RESPOND_NONE)
                continue;
            int64_t x = nb__worst(pol, w, &mod->respond, &a);
            if (!latest || x > worst) {
                latest = &mod->respond;
                worst = x;
                at = a;
            }
        }
        bool seen_late = false;
        int32_t late_from = NB__UNSET;
        for (size_t i = 0; i < r->n_rungs; i++) {
            const nb__mark_t *mark = &r->flat[i].mark;
            long long hours = (long long)(r->flat[i].after_ms / 3600000);
            if (r->flat[i].early) {
                if (seen_late)
                    nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                               "rule '%s': the early alert at %lld hours comes after a rung "
                               "that is not early; early alerts come first",
                               r->info.id, hours);
                continue;
            }
            if (seen_late && late_from != r->flat[i].from) {
                nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                           "rule '%s': its escalation counts some rungs from the notification "
                           "and some from the respond-by, so their order depends on the day; "
                           "count them all from one (early alerts apart)",
                           r->info.id);
                continue;
            }
            seen_late = true;
            late_from = r->flat[i].from;
            if (r->flat[i].from == NB__FROM_RESPOND_BY) {
                if (r->eff_respond.kind == NB__RESPOND_NONE)
                    nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                               "rule '%s': the escalation rung at %lld hours counts from the "
                               "respond-by, but the rule has no response time (respond_within, "
                               "or a default for its tier in 'tiers')",
                               r->info.id, hours);
                continue;
            }
            if (!latest || r->flat[i].after_ms >= worst)
                continue;
            char resp[64], when[64], by[64], example[200] = "";
            nb__respond_text(latest, resp, sizeof(resp));
            if (at != NB_TIME_NONE) {
                nb__local_text(at, when, sizeof(when));
                nb__local_text(at + worst, by, sizeof(by));
                snprintf(example, sizeof(example), ": a decision on %s is due by %s, %lld hours "
                         "later", when, by, (long long)(worst / 3600000));
            }
            nb__report(ctx, *mark, NB_ERR_POLICY_VALUE, false,
                       "rule '%s': the escalation rung at %lld hours can come before the "
                       "respond-by (%s%s). Count it from the respond-by ('from: respond_by'), "
                       "make it at least %lld hours, or, if it is meant to come before the "
                       "deadline, mark it 'early: true'",
                       r->info.id, hours, resp, example,
                       (long long)((worst + 3599999) / 3600000));
        }
    }
}

/* Levenshtein distance, capped: for "did you mean" in messages. */
static size_t nb__distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[NB_TYPE_MAX + 2];
    if (la > NB_TYPE_MAX || lb > NB_TYPE_MAX)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void nb__check_types_in(nb__ctx_t *ctx, const nb__rule_t *r, const nb__match_t *m)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t k = 0; k < m->n; k++) {
        const nb__epred_t *e = &m->alt[k];
        for (size_t bit = 0; bit < pol->n_types; bit++) {
            if (!(e->types >> bit & 1) || nb__vocab_find(pol, pol->types[bit]) >= 0)
                continue;
            nb__mark_t mark = e->type_mark;
            for (size_t i = 0; i < e->n_type_marks; i++)
                if (e->type_marks[i].bit == bit)
                    mark = e->type_marks[i].mark;
            const char *best = NULL;
            size_t bd = 3;
            for (size_t v = 0; v < pol->n_vocab; v++) {
                size_t d = nb__distance(pol->types[bit], pol->vocab[v].name);
                if (d < bd) {
                    bd = d;
                    best = pol->vocab[v].name;
                }
            }
            char hint[NB_TYPE_MAX + 32];
            if (best)
                snprintf(hint, sizeof(hint), "; did you mean '%s'?", best);
            else
                snprintf(hint, sizeof(hint), "; declare it there if it is right");
            nb__report(ctx, mark, NB_ERR_POLICY_REFERENCE, false,
                       "rule '%s': unknown appointment type '%s' (not in the policy's 'types', "
                       "so it would never match)%s",
                       r->info.id, pol->types[bit], hint);
        }
    }
}

/*
 * Appointment types named in rules must be in the declared vocabulary: a misspelt type never
 * matches, silently. A policy that declares none is warned once (backwards compatible).
 */
static void nb__check_types(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    bool named = false;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        const nb__rule_t *r = &pol->rules[ri];
        for (size_t k = 0; k < r->match.n; k++)
            named |= r->match.alt[k].types != 0;
        for (size_t k = 0; k < r->expect.n; k++)
            named |= r->expect.alt[k].types != 0;
        if (pol->vocab_declared) {
            nb__check_types_in(ctx, r, &r->match);
            nb__check_types_in(ctx, r, &r->expect);
        }
    }
    if (named && !pol->vocab_declared) {
        nb__mark_t m = {pol->info.files[0], 0, 0};
        NB__WARN(ctx, m, NB_ERR_POLICY_REFERENCE,
                 "the policy declares no vocabulary of appointment types ('types'), so a "
                 "misspelt type in a rule would silently never match; declare the types the "
                 "source systems send");
    }
}

/* The life stages an alternative's conditions imply (bits of nb_subject_kind_t): its subject
 * kind when it names one, a gestation (unborn) or an age in days (child), or types that all
 * belong to one stage in the vocabulary. */
static uint32_t nb__epred_stage(const nb_policy_t *pol, const nb__epred_t *e)
{
    uint32_t st = 0;
    if (e->subjects && !(e->subjects & (e->subjects - 1)))
        st |= e->subjects;
    if (e->gestation.min != NB__UNSET || e->gestation.max != NB__UNSET)
        st |= 1u << NB_SUBJECT_UNBORN;
    if (e->age_days.min != NB__UNSET || e->age_days.max != NB__UNSET)
        st |= 1u << NB_SUBJECT_CHILD;
    if (e->types) {
        uint32_t common = ~0u;
        for (size_t bit = 0; bit < pol->n_types; bit++) {
            if (!(e->types >> bit & 1))
                continue;
            long v = nb__vocab_find(pol, pol->types[bit]);
            common &= v >= 0 ? pol->vocab[v].stages : 0;
        }
        if (common != ~0u && common && !(common & (common - 1)))
            st |= common;
    }
    return st;
}

/*
 * A rule whose conditions are about one life stage (antenatal appointments, a gestation) but
 * whose subject does not say which stage it applies to still fires after the birth, for the
 * baby: "a pre-birth assessment" for a 2-month-old. The subject states the stage with 'kind',
 * or implicitly with 'age_months' (born) or 'gestation_weeks' (unborn). A warning: a rule may
 * mean to cover both stages, and says so with kind: [unborn, child].
 */
static void nb__check_stage(nb__ctx_t *ctx)
{
    static const char *const stage_words[] = {"born children (child)",
                                              "unborn children (antenatal)"};
    nb_policy_t *pol = ctx->pol;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        const nb__rule_t *r = &pol->rules[ri];
        const nb__spred_t *s = &r->subject;
        bool stated = s->kinds || s->age_months.min != NB__UNSET ||
                      s->age_months.max != NB__UNSET || s->gestation.min != NB__UNSET ||
                      s->gestation.max != NB__UNSET;
        if (stated)
            continue;
        uint32_t implied = 0;
        for (size_t k = 0; k < r->match.n; k++)
            implied |= nb__epred_stage(pol, &r->match.alt[k]);
        for (size_t k = 0; k < r->expect.n; k++)
            implied |= nb__epred_stage(pol, &r->expect.alt[k]);
        if (r->kind == NB__RULE_ABSENCE && r->by == NB__BY_GESTATION)
            implied |= 1u << NB_SUBJECT_UNBORN;
        if (r->kind == NB__RULE_ABSENCE && r->by == NB__BY_AGE_DAYS)
            implied |= 1u << NB_SUBJECT_CHILD;
        if (!implied)
            continue;
        int stage = implied >> NB_SUBJECT_UNBORN & 1 ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD;
        NB__WARN(ctx, r->mark, NB_ERR_POLICY_VALUE,
                 "rule '%s' looks at appointments of %s but does not say which life stage it "
                 "applies to, so it %s; say 'subject: {kind: %s}' (or kind: [unborn, child] "
                 "if it is meant for both)",
                 r->info.id, stage_words[stage],
                 stage == NB_SUBJECT_UNBORN ? "also fires after the birth, for the baby"
                                            : "also applies during a pregnancy",
                 nb__subject_names[stage]);
    }
}

/* A tier's default in working days needs the calendar, as a rule's does. */
static void nb__check_tiers(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    for (int t = 0; t < NB_TIER__COUNT; t++)
        if (pol->tiers[t].respond.kind == NB__RESPOND_WORKING_DAYS && pol->n_holidays == 0)
            nb__report(ctx, pol->tiers[t].mark, NB_ERR_POLICY_REFERENCE, false,
                       "tier '%s' counts working days but the policy has no calendar of bank "
                       "holidays",
                       nb__tier_names[t]);
}

static int nb__cmp_type(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void nb__finish(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    if (!pol->info.name) {
        nb__mark_t m = {pol->info.files[0], 1, 1};
        nb__report(ctx, m, NB_ERR_POLICY_VALUE, false,
                   "the first file is the base policy and must have a 'policy' section with "
                   "name, version, owner and effective_from");
        return;
    }
    if (pol->n_rules == 0) {
        nb__mark_t m = {pol->info.files[0], 1, 1};
        nb__report(ctx, m, NB_ERR_POLICY_VALUE, false, "the policy has no rules");
    }
    if (pol->n_holidays && pol->cal_from != NB__UNSET) {
        int y;
        unsigned mo, d;
        nb_civil_from_days(pol->holidays[0].day, &y, &mo, &d);
        int y2;
        nb_civil_from_days(pol->holidays[pol->n_holidays - 1].day, &y2, &mo, &d);
        if (y < pol->cal_from || y2 > pol->cal_to) {
            nb__mark_t m = {ctx->file, 0, 0};
            nb__report(ctx, m, NB_ERR_POLICY_VALUE, false,
                       "the calendar lists holidays outside its years %d-%d", (int)pol->cal_from,
                       (int)pol->cal_to);
        }
    }
    nb__check_ladder_cycles(ctx);
    for (size_t i = 0; i < pol->n_ladders; i++)
        for (size_t k = 0; k < pol->ladders[i].n_rungs; k++)
            nb__resolve_refs(ctx, &pol->ladders[i].rungs[k].to);
    int32_t retention = 1;
    for (size_t i = 0; i < pol->n_rules; i++) {
        nb__check_rule(ctx, &pol->rules[i]);
        int32_t lb = nb__rule_lookback(&pol->rules[i]);
        if (lb > retention)
            retention = lb;
    }
    for (size_t i = 0; i < pol->n_modifiers; i++) {
        nb__modifier_t *m = &pol->modifiers[i];
        nb__resolve_refs(ctx, &m->add_to);
        m->rule_mask = m->n_rules ? 0 : ~0ull;
        for (size_t k = 0; k < m->n_rules; k++) {
            long ri = nb__find(&nb__k_rule, pol->rules, pol->n_rules, m->rules[k]);
            if (ri < 0)
                nb__report(ctx, m->rule_marks[k], NB_ERR_POLICY_REFERENCE, false,
                           "modifier '%s' names unknown rule '%s'", m->id, m->rules[k]);
            else
                m->rule_mask |= 1ull << ri;
        }
        if (m->subject.self_managing == NB__UNSET)
            m->subject.self_managing = NB__SELF_INCLUDE;
        if (m->subject.ended_within_days > retention)
            retention = m->subject.ended_within_days;
        if (m->respond.kind == NB__RESPOND_WORKING_DAYS && pol->n_holidays == 0)
            nb__report(ctx, m->mark, NB_ERR_POLICY_REFERENCE, false,
                       "modifier '%s' counts working days but the policy has no calendar",
                       m->id);
    }
    nb__resolve_overlaps(ctx);
    nb__flatten_tiers(ctx);
    nb__check_tiers(ctx);
    nb__check_modifier_tiers(ctx);
    nb__worst_t *worst = calloc(1, sizeof(*worst));
    if (!worst || !nb__policy_workdays(pol, &worst->wd)) {
        free(worst);
        ctx->nomem = true;
        return;
    }
    nb__check_rungs(ctx, worst);
    free(worst->wd.bits);
    free(worst);
    nb__check_types(ctx);
    nb__check_stage(ctx);
    if (pol->retention_days_set != NB__UNSET) {
        if (pol->retention_days_set < retention) {
            nb__mark_t m = {pol->info.files[0], 0, 0};
            nb__report(ctx, m, NB_ERR_POLICY_VALUE, false,
                       "retention_days %d is shorter than the rules need (%d days)",
                       (int)pol->retention_days_set, (int)retention);
        }
        retention = pol->retention_days_set;
    }
    pol->info.retention_days = retention;
    /* Type lookup: hashes sorted, each with its bit. */
    for (size_t i = 0; i < pol->n_types; i++) {
        pol->type_index[i].hash = nb_ledger_id_hash(pol->types[i], strlen(pol->types[i]));
        pol->type_index[i].bit = (uint32_t)i;
    }
    qsort(pol->type_index, pol->n_types, sizeof(pol->type_index[0]), nb__cmp_type);
    pol->info.calendar = pol->cal_name ? pol->cal_name : "";
    pol->info.calendar_from = pol->cal_from == NB__UNSET ? 0 : pol->cal_from;
    pol->info.calendar_to = pol->cal_to == NB__UNSET ? 0 : pol->cal_to;
    if (!pol->info.title)
        pol->info.title = pol->info.name;
}

/* ---- entry points ------------------------------------------------------------------------ */

void nb_policy_destroy(nb_policy_t *pol)
{
    if (!pol)
        return;
    nb__arena_free(pol->arena);
    free(pol);
}

static nb_policy_t *nb__policy_new(void)
{
    nb_policy_t *pol = calloc(1, sizeof(*pol));
    if (!pol)
        return NULL;
    if (!(pol->arena = calloc(1, sizeof(*pol->arena)))) {
        free(pol);
        return NULL;
    }
    pol->info.effective_from = NB_DATE_NONE;
    pol->default_cooldown = 28;
    pol->default_digest = NB_POLICY_DIGEST_NONE;
    pol->default_self = NB__SELF_EXCLUDE;
    pol->self_managing_from_age = 18; /* a policy that does not say keeps its meaning */
    pol->retention_days_set = NB__UNSET;
    pol->cob_minutes = 17 * 60;
    pol->cal_from = pol->cal_to = NB__UNSET;
    return pol;
}

/* Loads sources (files when paths is set, memory otherwise). */
static nb_err_t nb__load(const nb_policy_source_t *srcs, const char *const *paths, size_t n,
                         nb_policy_diag_cb_t *cb, void *opaque, nb_policy_t **polp, char *errstr,
                         size_t errstr_size)
{
    nb__ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.cb = cb;
    ctx.opaque = opaque;
    ctx.errstr = errstr;
    ctx.errstr_size = errstr_size;
    ctx.budget = NB__MAX_VISITS;
    *polp = NULL;
    if (errstr_size)
        errstr[0] = '\0';
    if (n == 0 || n > NB_POLICY_MAX_FILES) {
        snprintf(errstr, errstr_size, "give 1 to %d policy files", NB_POLICY_MAX_FILES);
        return NB_ERR_INVALID_ARG;
    }
    if (!(ctx.pol = nb__policy_new()) || !(ctx.md = EVP_MD_CTX_new()) ||
        !EVP_DigestInit_ex(ctx.md, EVP_sha256(), NULL)) {
        nb_policy_destroy(ctx.pol);
        EVP_MD_CTX_free(ctx.md);
        snprintf(errstr, errstr_size, "out of memory");
        return NB_ERR_NOMEM;
    }
    for (size_t i = 0; i < n && !ctx.nomem; i++) {
        ctx.layer = (int)i;
        if (paths) {
            char *buf = NULL;
            size_t len = 0;
            const char *why;
            nb__mark_t m = {paths[i], 0, 0};
            switch (nb__read_file(paths[i], 0, &buf, &len, &why)) {
            case NB__READ_OK: {
                char dir[4096];
                const char *slash = strrchr(paths[i], '/');
                size_t dl = slash ? (size_t)(slash - paths[i]) + 1 : 0;
                if (dl >= sizeof(dir))
                    dl = 0;
                memcpy(dir, paths[i], dl);
                dir[dl] = '\0';
                nb__load_doc(&ctx, paths[i], buf, len, dir, false);
                break;
            }
            case NB__READ_CANNOT:
                nb__report(&ctx, m, NB_ERR_IO, false, "cannot read: %s", why);
                break;
            case NB__READ_KIND:
                nb__report(&ctx, m, NB_ERR_IO, false, "not a regular file (%s)", why);
                break;
            case NB__READ_SIZE:
                nb__report(&ctx, m, NB_ERR_POLICY_VALUE, false, "the file is larger than %u MiB",
                           NB__MAX_FILE_BYTES >> 20);
                break;
            case NB__READ_NOMEM:
                ctx.nomem = true;
                break;
            }
            free(buf);
        } else {
            nb__load_doc(&ctx, srcs[i].name ? srcs[i].name : "-", srcs[i].data ? srcs[i].data : "",
                         srcs[i].data ? srcs[i].len : 0, NULL, false);
        }
    }
    if (!ctx.nomem && ctx.n_errors == 0)
        nb__finish(&ctx);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx.md, md, &mdlen);
    EVP_MD_CTX_free(ctx.md);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(ctx.pol->hash_hex + 2 * i, 3, "%02x", md[i]);
    ctx.pol->info.hash = ctx.pol->hash_hex;
    if (ctx.nomem) {
        nb_policy_destroy(ctx.pol);
        snprintf(errstr, errstr_size, "out of memory");
        return NB_ERR_NOMEM;
    }
    if (ctx.n_errors) {
        nb_policy_destroy(ctx.pol);
        return ctx.first_err;
    }
    *polp = ctx.pol;
    return NB_ERR_OK;
}

nb_err_t nb_policy_load(const char *const *files, size_t n_files, nb_policy_diag_cb_t *cb,
                        void *opaque, nb_policy_t **polp, char *errstr, size_t errstr_size)
{
    return nb__load(NULL, files, n_files, cb, opaque, polp, errstr, errstr_size);
}

nb_err_t nb_policy_load_buffers(const nb_policy_source_t *srcs, size_t n_srcs,
                                nb_policy_diag_cb_t *cb, void *opaque, nb_policy_t **polp,
                                char *errstr, size_t errstr_size)
{
    return nb__load(srcs, NULL, n_srcs, cb, opaque, polp, errstr, errstr_size);
}

/* ---- accessors --------------------------------------------------------------------------- */

const nb_policy_info_t *nb_policy_info(const nb_policy_t *pol)
{
    return &pol->info;
}

size_t nb_policy_rule_count(const nb_policy_t *pol)
{
    return pol->n_rules;
}

const nb_policy_rule_info_t *nb_policy_rule(const nb_policy_t *pol, size_t i)
{
    return i < pol->n_rules ? &pol->rules[i].info : NULL;
}

const nb_policy_rule_info_t *nb_policy_rule_find(const nb_policy_t *pol, const char *id)
{
    for (size_t i = 0; i < pol->n_rules; i++)
        if (strcmp(pol->rules[i].info.id, id) == 0)
            return &pol->rules[i].info;
    return NULL;
}

/* Adds @p role to out[] unless it is there already. */
static void nb__add_recipient(const nb_policy_role_t *role, const nb_policy_role_t **out,
                              size_t *n, size_t max)
{
    if (!role)
        return;
    for (size_t k = 0; k < *n; k++)
        if (out[k] == role)
            return;
    if (*n < max)
        out[(*n)++] = role;
}

size_t nb_policy_rule_recipients(const nb_policy_t *pol, const nb_policy_rule_info_t *rule,
                                 int level, const nb_policy_role_t **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; rule && i < pol->n_rules; i++) {
        const nb__rule_t *r = &pol->rules[i];
        if (&r->info != rule)
            continue;
        for (size_t k = 0; k < r->to.n; k++)
            nb__add_recipient(r->to.roles[k], out, &n, max);
        for (size_t g = 0; g < r->n_rungs && (int)g < level; g++)
            for (size_t k = 0; r->flat[g].to && k < r->flat[g].to->n; k++)
                nb__add_recipient(r->flat[g].to->roles[k], out, &n, max);
    }
    return n;
}

size_t nb_policy_role_count(const nb_policy_t *pol)
{
    return pol->n_roles;
}

const nb_policy_role_t *nb_policy_role(const nb_policy_t *pol, size_t i)
{
    return i < pol->n_roles ? &pol->roles[i].pub : NULL;
}

int64_t nb_policy_horizon(const nb_policy_t *pol, int64_t now_ms)
{
    return now_ms - (int64_t)pol->info.retention_days * NB_MS_PER_DAY;
}
