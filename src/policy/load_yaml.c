/*
 * notbrought - policy: the loader's YAML machinery (see load.c): diagnostics with
 * file:line:column, the enumerations of the language, the value parsers the tables name, and
 * the generic walker that reads a mapping by its table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/internal.h"

/* ---- diagnostics and nodes --------------------------------------------------------------- */

nb__mark_t nb__mark(const nb__ctx_t *ctx, const yaml_node_t *node)
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

__attribute__((format(printf, 5, 6))) void
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

const char *nb__node_kind(const yaml_node_t *node)
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

yaml_node_t *nb__node(nb__ctx_t *ctx, int index)
{
    return yaml_document_get_node(ctx->doc, index);
}

/* A scalar's text, or NULL after reporting a type error. */
const char *nb__scalar(nb__ctx_t *ctx, yaml_node_t *node, const char *key,
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

/* ---- enumerations ------------------------------------------------------------------------ */

/* Enumerations the tables of more than one file use; the others are where they are used. */
const char *const nb__tier_names[] = {NB_TIER_MAP(NB__NAMES)};
static const char *const nb__digest_names[] = {"none", "daily", "weekly"};
static const char *const nb__self_names[] = {"exclude", "include", "as_dna"};
const nb__enum_t nb__e_tier = NB__ENUM_INIT("tier", nb__tier_names);
const nb__enum_t nb__e_digest = NB__ENUM_INIT("digest", nb__digest_names);
const nb__enum_t nb__e_self = NB__ENUM_INIT("self_managing", nb__self_names);

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

bool nb__p_str(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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

bool nb__valid_id(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

bool nb__p_id(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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

bool nb__p_int(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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

bool nb__p_bool(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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

bool nb__p_date(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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
bool nb__p_clock(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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
bool nb__p_choice(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    int v;
    if (!nb__enum_value(ctx, node, f, &v))
        return false;
    *(int32_t *)dst = v;
    return true;
}

/* Calls fn for a scalar, or for each item of a list of scalars. */
bool nb__each(nb__ctx_t *ctx, yaml_node_t *node, const nb__field_t *f,
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
bool nb__p_mask(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    *(uint32_t *)dst = 0;
    return nb__each(ctx, node, f, nb__mask_one, dst);
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

bool nb__p_gest(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__gestation(ctx, node, f->key, dst);
}

static const nb__field_t nb__range_fields[] = {
    {"min", nb__p_int, offsetof(nb__range_t, min), 0, 100000, NULL, 0, "at least"},
    {"max", nb__p_int, offsetof(nb__range_t, max), 0, 100000, NULL, 0, "at most"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__range_table = {"range", nb__range_fields, NB__NO_MARK};

/* A {min, max} mapping (aux = the table); min <= max. */
bool nb__p_range(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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
bool nb__p_map(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    return nb__parse_map(ctx, node, f->aux, dst);
}

bool nb__is_list(nb__ctx_t *ctx, yaml_node_t *node, const char *key)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        NB__ERR(ctx, node, NB_ERR_POLICY_TYPE, "'%s' must be a list, not %s", key,
                nb__node_kind(node));
        return false;
    }
    return true;
}

/* ---- the generic mapping walker ---------------------------------------------------------- */

bool nb__parse_map(nb__ctx_t *ctx, yaml_node_t *node, const nb__table_t *t, void *dst)
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
