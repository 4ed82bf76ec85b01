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
 *
 * This file holds the entry points and the policy's arena, reading files, one document and
 * its top-level sections (metadata and defaults), the pass over every layer once all are
 * loaded, and the accessors. The rest of the loader, by what it reads (what the files share
 * is declared in policy/internal.h, "loading"):
 *   load_yaml.c       diagnostics, value parsers and the table-driven mapping walker
 *   load_rules.c      rules: their predicates, actions and the checks of one rule
 *   load_roles.c      roles and the references to them
 *   load_ladders.c    escalation ladders, the tiers' defaults, flattening ladders
 *   load_modifiers.c  modifiers
 *   load_overlay.c    layers: merging by id, 'override', 'delete'; overlap groups
 *   load_calendar.c   the working-day calendar and its 'include'
 *   load_types.c      the vocabulary of appointment types and the checks against it
 *   load_checks.c     response times and escalation across rules, modifiers and tiers
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const char *nb__dup(nb__ctx_t *ctx, const char *s, size_t len)
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

/* Limits checked on the YAML events before libyaml builds a document (nb__precheck): the
 * daemon loads policies on its main loop (SIGHUP), so a file must never make it wait. */
#define NB__MAX_NESTING 64 /* collections inside collections, the root being 1 */
#define NB__MAX_ANCHORS 1000
#define NB__MAX_ALIASES 10000

/* ---- reading files ----------------------------------------------------------------------- */

/* Policy files and included ones are read with nb_file_read() (notbrought/util.h): the loader
 * runs on the daemon's main loop (SIGHUP), so a FIFO, a device or a socket named by mistake or
 * by malice must not block it, and a file is at most NB__MAX_FILE_BYTES. */

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
    {"ownership", nb__p_ownership, offsetof(struct nb_policy_s, own), 0, 0, NULL, 0,
     "what taking and reassigning a notification do (docs/inbox.md)"},
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

bool nb__load_doc(nb__ctx_t *ctx, const char *name, const char *data, size_t len,
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

/* ---- the pass over every layer ----------------------------------------------------------- */

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
    nb__ownership_resolve(ctx);
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
    retention = nb__resolve_modifiers(ctx, retention);
    nb__resolve_overlaps(ctx);
    nb__flatten_tiers(ctx);
    if (!nb__check_deadlines(ctx))
        return;
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
    nb__ownership_defaults(&pol->own);
    return pol;
}

/* Loads sources (files when paths is set, memory otherwise). */
NB_NODISCARD static nb_err_t nb__load(const nb_policy_source_t *srcs, const char *const *paths,
                                      size_t n, nb_policy_diag_cb_t *cb, void *opaque,
                                      nb_policy_t **polp, char *errstr, size_t errstr_size)
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
            switch (nb_file_read(paths[i], 0, NB__MAX_FILE_BYTES, &buf, &len, &why)) {
            case NB_FILE_OK: {
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
            case NB_FILE_CANNOT:
                nb__report(&ctx, m, NB_ERR_IO, false, "cannot read: %s", why);
                break;
            case NB_FILE_KIND:
                nb__report(&ctx, m, NB_ERR_IO, false, "not a regular file (%s)", why);
                break;
            case NB_FILE_SIZE:
                nb__report(&ctx, m, NB_ERR_POLICY_VALUE, false, "the file is larger than %u MiB",
                           NB__MAX_FILE_BYTES >> 20);
                break;
            case NB_FILE_NOMEM:
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

int64_t nb_policy_horizon(const nb_policy_t *pol, int64_t now_ms)
{
    return now_ms - (int64_t)pol->info.retention_days * NB_MS_PER_DAY;
}
