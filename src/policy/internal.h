/*
 * notbrought - policy internals: the compiled policy, shared by the loader (load*.c),
 * eval.c, calendar.c, explain.c and overlap.c, and what the loader's files share.
 */
#ifndef NB_POLICY_INTERNAL_H
#define NB_POLICY_INTERNAL_H

#include <openssl/evp.h>
#include <yaml.h>

#include "notbrought/policy.h"

#define NB__MAX_ALTS 4     /* alternatives in one match */
#define NB__MAX_TYPES 64   /* distinct appointment types one policy names */
#define NB__MAX_VOCAB 256  /* appointment types a policy declares ('types') */
#define NB__MAX_TYPE_MARKS 4 /* types in one alternative whose own position is kept */
#define NB__MAX_HOLIDAYS 512
#define NB__MAX_REFS NB_NOTIF_MAX_RECIPIENTS
#define NB__UNSET INT32_MIN

/* Where something was written: for messages after parsing (references, cycles). */
typedef struct nb__mark_s {
    const char *file;
    int line, col;
} nb__mark_t;

/* Inclusive range; min/max NB__UNSET when open. */
typedef struct nb__range_s {
    int32_t min, max;
} nb__range_t;

/* A reference to a role by id, resolved once every layer is loaded. */
typedef struct nb__refs_s {
    size_t n;
    const char *ids[NB__MAX_REFS];
    nb__mark_t marks[NB__MAX_REFS];
    const nb_policy_role_t *roles[NB__MAX_REFS];
} nb__refs_t;

/* One alternative of an event predicate. Masks are bitmasks of enum values; 0 = any. */
typedef struct nb__epred_s {
    uint32_t statuses;
    uint32_t agencies;
    uint32_t modes;
    uint32_t subjects; /* nb_subject_kind_t of the event */
    int32_t mandated;  /* NB__UNSET = any, 0, 1 */
    uint64_t types;    /* bits of pol->types; 0 = any */
    nb__range_t gestation; /* days of gestation on the day of the event */
    nb__range_t age_days;  /* age in days on the day of the event */
    /* Where each type was named, for the vocabulary check (the first NB__MAX_TYPE_MARKS;
     * later ones are reported at type_mark, the 'type' value). */
    nb__mark_t type_mark;
    uint32_t n_type_marks;
    struct {
        uint32_t bit;
        nb__mark_t mark;
    } type_marks[NB__MAX_TYPE_MARKS];
} nb__epred_t;

typedef struct nb__match_s {
    size_t n; /* 0: matches every appointment */
    nb__epred_t alt[NB__MAX_ALTS];
} nb__match_t;

enum { NB__SELF_EXCLUDE, NB__SELF_INCLUDE, NB__SELF_AS_DNA };

/* A subject predicate: who the child is on the day of evaluation. */
typedef struct nb__spred_s {
    uint32_t kinds; /* bits of nb_subject_kind_t; 0 = any */
    nb__range_t age_months;
    nb__range_t gestation; /* days */
    uint32_t facts_any;    /* bits of nb_fact_kind_t: at least one of them applies */
    uint32_t facts_none;   /* none of them applies */
    int32_t ended_within_days; /* a fact that ended at most this many days ago still applies */
    int32_t self_managing;     /* NB__SELF_*; NB__UNSET = the policy default */
} nb__spred_t;

enum { NB__RESPOND_NONE, NB__RESPOND_HOURS, NB__RESPOND_WORKING_DAYS, NB__RESPOND_SAME_DAY };

typedef struct nb__respond_s {
    int32_t kind; /* NB__RESPOND_* */
    int32_t n;
} nb__respond_t;

/* What a rung's after_hours counts from. */
enum { NB__FROM_NOTIFIED, NB__FROM_RESPOND_BY };

typedef struct nb__rung_s {
    int32_t after_hours;
    int32_t tier;  /* NB__UNSET: as the rung before (or the rule) */
    int32_t from;  /* NB__FROM_*; NB__UNSET: the notification */
    int32_t early; /* 1: an early alert, allowed to come before the respond-by */
    nb__refs_t to;
    nb__mark_t mark;
} nb__rung_t;

/* An 'ownership:' block (load_ownership.c): the YAML's values and what the lifecycle reads. */
typedef struct nb__own_s {
    int32_t set;         /* the block was given */
    int32_t stops_on;    /* NB__STOPS_ON_*; NB__UNSET: close */
    int32_t restarts;    /* NB__UNSET: true */
    nb__respond_t after; /* respond_by_after_reassign; kind NONE: the rule's own */
    size_t n_roles;
    const char *roles[NB_POLICY_MAX_REASSIGNERS];
    nb__mark_t roles_mark;
    nb_policy_ownership_t pub; /* filled from the above (nb__own_resolve()) */
    nb__mark_t mark;
} nb__own_t;

enum { NB__STOPS_ON_CLOSE, NB__STOPS_ON_TAKE };

typedef struct nb__ladder_s {
    const char *id;
    const char *title;
    nb__mark_t mark;
    size_t n_rungs;
    nb__rung_t rungs[NB_POLICY_MAX_RUNGS];
    const char *then; /* another ladder to continue with, or NULL */
    nb__mark_t then_mark;
    int32_t override;
    int layer;
    nb__own_t own; /* its 'ownership:' block (own.set 0: none) */
} nb__ladder_t;

/* One rung of a ladder, flattened (chained ladders followed). */
typedef struct nb__flat_s {
    int64_t after_ms; /* after the anchor */
    int32_t from;     /* NB__FROM_*: the anchor (a 'then' ladder continues its parent's) */
    bool early;
    nb_tier_t tier;
    const nb__refs_t *to;
    nb__mark_t mark;
} nb__flat_t;

enum { NB__RULE_COUNT, NB__RULE_ABSENCE };
enum { NB__BY_NONE, NB__BY_GESTATION, NB__BY_AGE_DAYS, NB__BY_WORKING_DAYS };

typedef struct nb__rule_s {
    nb_policy_rule_info_t info;
    nb__mark_t mark;
    int layer;
    int32_t override;
    int32_t kind; /* NB__RULE_* */
    int32_t mode; /* 0 live, 1 shadow */
    nb__match_t match;
    nb__spred_t subject;
    /* count */
    int32_t at_least, within_days, consecutive, distinct_agencies;
    /* absence */
    nb__match_t expect;
    int32_t by;       /* NB__BY_* */
    int32_t by_value; /* gestation days, age days or working days */
    int32_t lookback_days;
    /* action */
    int32_t tier;
    nb__refs_t to;
    nb__respond_t respond;
    const char *ladder_id; /* a named ladder, or NULL */
    nb__mark_t ladder_mark;
    nb__ladder_t inline_ladder; /* rungs given in the rule */
    int32_t cooldown_days, digest;
    nb__mark_t action_mark;
    /* resolved */
    nb__respond_t eff_respond; /* respond_within, else the tier's default (NONE: neither) */
    size_t n_rungs;
    nb__flat_t flat[NB_POLICY_MAX_RUNGS];
    const nb__own_t *own; /* its ladder's ownership block, or NULL: the policy's */
} nb__rule_t;

typedef struct nb__modifier_s {
    const char *id;
    const char *title;
    const char *source;
    nb__mark_t mark;
    int layer;
    int32_t override;
    size_t n_rules;
    const char *rules[NB_POLICY_MAX_RULES]; /* rule ids; none = every rule */
    nb__mark_t rule_marks[NB_POLICY_MAX_RULES];
    uint64_t rule_mask; /* resolved: bits of rule indices */
    nb__spred_t subject;
    int32_t set_tier; /* NB__UNSET or a tier: at least this */
    int32_t raise;    /* steps up */
    nb__respond_t respond;
    nb__refs_t add_to;
} nb__modifier_t;

/* Rules that overlap ('overlaps'): one thing to act on. A rule may be in several groups (a
 * child on a plan's missed appointment overlaps the health visiting and the antenatal ones). */
typedef struct nb__overlap_s {
    const char *id;
    const char *title;
    nb__mark_t mark;
    int layer;
    int32_t override;
    int32_t within_days; /* how long an open notification covers; NB__UNSET: its rule's
                          * cool-down */
    size_t n_rules;
    const char *rules[NB_POLICY_MAX_RULES]; /* rule ids, in precedence order */
    nb__mark_t rule_marks[NB_POLICY_MAX_RULES];
    int16_t idx[NB_POLICY_MAX_RULES]; /* resolved: the rules' indices (-1: unknown) */
} nb__overlap_t;

#define NB__MAX_OVERLAPS 16

typedef struct nb__role_s {
    nb_policy_role_t pub;
    nb__mark_t mark;
    int layer;
    int32_t override;
} nb__role_t;

/* Per tier: the response time a decision of that tier gets when nothing more specific says. */
typedef struct nb__tier_s {
    nb__respond_t respond;
    nb__mark_t mark;
    /* The ladder a decision whose tier the modifiers changed to this one follows ('escalation',
     * a ladder id; NULL: the rule's own), flattened. */
    const char *ladder_id;
    nb__mark_t ladder_mark;
    size_t n_rungs;
    nb__flat_t flat[NB_POLICY_MAX_RUNGS];
    const nb__own_t *own; /* its ladder's ownership block, or NULL: the policy's */
} nb__tier_t;

/* One declared appointment type: its name and the life stage it belongs to. */
typedef struct nb__vocab_s {
    const char *name;
    uint32_t stages; /* bits of nb_subject_kind_t; 0 = either */
    nb__mark_t mark;
} nb__vocab_t;

typedef struct nb__holiday_s {
    int32_t day;
    const char *name;
} nb__holiday_t;

typedef struct nb__arena_s nb__arena_t;

struct nb_policy_s {
    nb__arena_t *arena;
    nb_policy_info_t info;
    char hash_hex[65];
    int32_t default_cooldown, default_digest, default_self;
    /* Age in years from which a 16-17 year old is presumed to manage their own appointments
     * (defaults.self_managing_from_age; 18: never presumed, only when the caller says so). */
    int32_t self_managing_from_age;
    int32_t retention_days_set;
    const char *extends;
    nb__mark_t extends_mark;
    /* calendar */
    const char *cal_name;
    int32_t cal_tz;
    int32_t cob_minutes; /* close of business, minutes after local midnight */
    int32_t cal_from, cal_to;
    size_t n_holidays;
    nb__holiday_t holidays[NB__MAX_HOLIDAYS];
    /* appointment types named anywhere, with their hashes sorted for lookup */
    size_t n_types;
    const char *types[NB__MAX_TYPES];
    struct {
        uint64_t hash;
        uint32_t bit;
    } type_index[NB__MAX_TYPES];
    /* the declared vocabulary of appointment types ('types'); vocab_declared when any file
     * has the section */
    bool vocab_declared;
    size_t n_vocab;
    nb__vocab_t vocab[NB__MAX_VOCAB];
    nb__tier_t tiers[NB_TIER__COUNT];
    size_t n_roles, n_rules, n_modifiers, n_ladders;
    nb__role_t roles[NB_POLICY_MAX_ROLES];
    nb__rule_t rules[NB_POLICY_MAX_RULES];
    nb__modifier_t modifiers[NB_POLICY_MAX_MODIFIERS];
    nb__ladder_t ladders[NB_POLICY_MAX_LADDERS];
    size_t n_overlaps;
    nb__overlap_t overlaps[NB__MAX_OVERLAPS];
    /* 'ownership:' at policy level (the defaults when no file says) */
    nb__own_t own;
    /* resolved: per rule, the groups it is in (bits of overlaps[]) */
    uint16_t overlap_of[NB_POLICY_MAX_RULES];
};

/* ---- loading (load*.c; load.c says which file holds what) -------------------------------- */

/* Limits of one load: how deeply the tables nest, how many nodes are visited (aliases can make
 * a small file expand hugely), and the size of a file. */
#define NB__MAX_DEPTH 24
#define NB__MAX_VISITS 200000L
#define NB__MAX_FILE_BYTES (4u << 20) /* a policy file or an included one: 4 MiB */

/* The state of one load, across its files. */
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

/* Diagnostics (load_yaml.c). Every problem goes through nb__report(), which counts errors,
 * keeps the first in errstr and tells the caller's callback. */
nb__mark_t nb__mark(const nb__ctx_t *ctx, const yaml_node_t *node);
__attribute__((format(printf, 5, 6))) void nb__report(nb__ctx_t *ctx, nb__mark_t m, nb_err_t err,
                                                      bool warning, const char *fmt, ...);
#define NB__ERR(ctx, node, err, ...) nb__report(ctx, nb__mark(ctx, node), err, false, __VA_ARGS__)
#define NB__WARN(ctx, mark, err, ...) nb__report(ctx, mark, err, true, __VA_ARGS__)

/* Text of the file being loaded, for a message. A policy file's own text is quoted (at most 80
 * characters, escaped by nb__report) because its author needs to see what is wrong; an
 * included file's text never is, because the file may not be a policy at all (a mistaken or
 * malicious include): messages about it say where and what kind of problem, and show "...". */
#define NB__Q(ctx, s) ((ctx)->in_include ? "..." : (s))

/* Nodes (load_yaml.c). nb__scalar() returns NULL after reporting a type error. */
const char *nb__node_kind(const yaml_node_t *node);
yaml_node_t *nb__node(nb__ctx_t *ctx, int index);
const char *nb__scalar(nb__ctx_t *ctx, yaml_node_t *node, const char *key, const char *expected);
/** A copy of @p s in the policy's arena; "" (and ctx->nomem) when out of memory (load.c). */
const char *nb__dup(nb__ctx_t *ctx, const char *s, size_t len);

/* Tables: the language is described by one table per kind of mapping. */
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

/* A named enumeration used by mask and choice parsers. */
typedef struct nb__enum_s {
    const char *what;
    const char *const *names;
    int count;
} nb__enum_t;

#define NB__NAMES(sym, str) str,
#define NB__ENUM_INIT(what, arr) {what, arr, (int)(sizeof(arr) / sizeof(arr[0]))}
#define NB__ENUM(name, what, arr) static const nb__enum_t name = NB__ENUM_INIT(what, arr)

/* Enumerations more than one file uses (load_yaml.c; nb__subject_names: load_rules.c). */
extern const char *const nb__tier_names[];
extern const char *const nb__subject_names[];
extern const nb__enum_t nb__e_tier, nb__e_digest, nb__e_self;

/* The generic walker (load_yaml.c): reads a mapping by its table into dst. */
bool nb__parse_map(nb__ctx_t *ctx, yaml_node_t *node, const nb__table_t *t, void *dst);
/* Calls fn for a scalar, or for each item of a list of scalars. */
bool nb__each(nb__ctx_t *ctx, yaml_node_t *node, const nb__field_t *f,
              bool (*fn)(nb__ctx_t *, yaml_node_t *, void *, const nb__field_t *), void *dst);
/* A list, or false after reporting what it is instead. */
bool nb__is_list(nb__ctx_t *ctx, yaml_node_t *node, const char *key);
bool nb__valid_id(const char *s);

/* Value parsers, named by the tables (load_yaml.c unless said). */
bool nb__p_str(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_id(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_int(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_bool(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_date(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_clock(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_choice(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_mask(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_gest(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_range(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_map(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_refs(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f); /* roles */
bool nb__p_respond(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f); /* rules */
bool nb__p_rungs(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f); /* ladders */

/* Top-level sections, which load.c's table names (dst is unused: they write ctx->pol). */
bool nb__p_roles(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_ladders(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_rules(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_modifiers(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_overlaps(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_calendar(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
bool nb__p_types_decl(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
extern const nb__table_t nb__tiers_table;  /* load_ladders.c */
extern const nb__table_t nb__delete_table; /* load_overlay.c */
extern const nb__table_t nb__spred_table;  /* load_rules.c; modifiers have subjects too */
void nb__spred_init(nb__spred_t *s);
/* One rule id of a list (a modifier's or an overlap group's 'rules'; load_modifiers.c). */
bool nb__rule_id_add(nb__ctx_t *ctx, yaml_node_t *node, const nb__field_t *f, size_t *n,
                     const char **ids, nb__mark_t *marks);

/* Layers (load_overlay.c): the generic merge of one item into its array by id, following the
 * layering rules. */
typedef struct nb__kind_s {
    const char *what;
    size_t elem, id_off, layer_off, override_off, mark_off, max;
} nb__kind_t;

#define NB__FIELD(T, p, off) (*(T *)((char *)(p) + (off)))

extern const nb__kind_t nb__k_role, nb__k_rule, nb__k_modifier, nb__k_ladder;
long nb__find_id(const nb__kind_t *k, void *arr, size_t n, const char *id);
void nb__merge(nb__ctx_t *ctx, const nb__kind_t *k, void *arr, size_t *n, void *item,
               yaml_node_t *node);

/* Files (load.c; read with nb_file_read(), notbrought/util.h). */
bool nb__load_doc(nb__ctx_t *ctx, const char *name, const char *data, size_t len,
                  const char *dir, bool include);

/* Once every layer is loaded (called by load.c's final pass, in this order). */
void nb__check_ladder_cycles(nb__ctx_t *ctx);         /* load_ladders.c */
void nb__resolve_refs(nb__ctx_t *ctx, nb__refs_t *r); /* load_roles.c */
void nb__check_rule(nb__ctx_t *ctx, nb__rule_t *r);   /* load_rules.c */
/** Days of history a rule can look at (load_rules.c). */
int32_t nb__rule_lookback(const nb__rule_t *r);
int32_t nb__resolve_modifiers(nb__ctx_t *ctx, int32_t retention); /* load_modifiers.c */
void nb__resolve_overlaps(nb__ctx_t *ctx);                         /* load_overlay.c */
/** Flattens a rule's ladder, following 'then', into r->flat (load_ladders.c). */
void nb__flatten(nb__ctx_t *ctx, nb__rule_t *r);
void nb__flatten_tiers(nb__ctx_t *ctx);    /* load_ladders.c */
bool nb__check_deadlines(nb__ctx_t *ctx); /* load_checks.c; false when out of memory */
void nb__check_types(nb__ctx_t *ctx);      /* load_types.c */
void nb__check_stage(nb__ctx_t *ctx);      /* load_types.c */

/* ---- evaluation (eval*.c, overlap.c) ---------------------------------------------------- */

struct nb_policy_result_s {
    size_t n_decisions;
    nb_policy_decision_t decisions[NB_POLICY_MAX_DECISIONS];
    size_t n_raised;
    nb_policy_raised_status_t raised[NB_LEDGER_MAX_RAISED];
    /* The decisions raised notifications keep escalating by when their rule now decides over
     * other evidence (nb_policy_raised_status_t.escalate_by). */
    nb_policy_decision_t carried[NB_LEDGER_MAX_RAISED];
    int64_t next_due; /* the next absence deadline that would fire, or NB_TIME_NONE */
    uint64_t type_bits[NB_LEDGER_MAX_APPTS]; /* per appointment: the policy types it has */
};

/* The evaluation context of one child's ledger at one time. */
enum { NB__KIND_UNKNOWN = -1 };

typedef struct nb__ev_s {
    const nb_policy_t *pol;
    const nb_ledger_t *led;
    const nb_ledger_appt_t *appts;
    size_t n;
    const uint64_t *type_bits;
    const nb_ledger_fact_t *facts;
    size_t n_facts;
    int64_t now;
    int32_t now_min;
    int32_t today;
    int32_t dob, edd;
    int kind; /* nb_subject_kind_t, or NB__KIND_UNKNOWN */
    int32_t age_months;
    int32_t gestation; /* days */
    bool said_self_managing; /* the caller says so (a policy test case) */
    bool self_managing;      /* said so, or presumed from the age the policy gives */
} nb__ev_t;

/* eval.c: the context at a time (nb__ev_at), or of one child's ledger at a time. */
void nb__ev_at(nb__ev_t *ev, int64_t now);
void nb__ev_init(nb__ev_t *ev, const nb_policy_t *pol, const nb_ledger_t *led,
                 const nb_policy_subject_t *subj, int64_t now_ms, nb_policy_result_t *res);

/* eval_fire.c: whether a rule fires, and what it found when it does. */
typedef struct nb__fire_s {
    size_t n_ev;
    const nb_ledger_appt_t *ev[NB_NOTIF_MAX_EVIDENCE];
    int32_t count, agencies, window_days;
    int64_t deadline;
    uint64_t fp_extra; /* absence deadlines: what identifies the missed deadline */
    bool as_dna;
    size_t n_ctx;
    const nb_ledger_fact_t *ctx[NB_NOTIF_MAX_CONTEXT];
} nb__fire_t;

bool nb__in(const nb__range_t *r, int32_t v);
/** Does appointment i satisfy the match (any of its alternatives)? */
bool nb__matches(const nb__ev_t *ev, const nb__match_t *m, size_t i, bool ignore_status);
/** Facts that apply on the evaluation day: a mask of kinds, and which entries. */
uint32_t nb__facts(const nb__ev_t *ev, int32_t ended_within, uint32_t want,
                   const nb_ledger_fact_t **used, size_t *n_used);
/** Whether the subject predicate holds for the child. */
bool nb__spred(const nb__ev_t *ev, const nb__spred_t *s, bool *as_dna,
               const nb_ledger_fact_t **used, size_t *n_used);
/** Is there an expected contact (not entered in error) scheduled in (after_min, now]? */
bool nb__contact(const nb__ev_t *ev, const nb__match_t *expect, int32_t after_min);
bool nb__rule_fires(const nb__ev_t *ev, const nb__rule_t *r, nb__fire_t *out);
/** When an absence rule would fire next if nothing more were recorded, or NB_TIME_NONE. */
int64_t nb__absence_next(const nb__ev_t *ev, const nb__rule_t *r, int64_t after);

/* eval_decide.c: the decision of rule @p ri, which fired with @p f, appended to res. */
void nb__decide_carried(const nb__ev_t *ev, size_t ri, const nb__fire_t *f,
                        const nb_ledger_raised_t *x, nb_policy_decision_t *out);
void nb__decide(const nb__ev_t *ev, nb_policy_result_t *res, size_t ri, const nb__fire_t *f,
                const char *key);

/** Who a raised notification of rule @p ri was sent to, as far as the policy and the child
 *  now tell: the rule's recipients, the roles its modifiers add now, and those of the rungs
 *  it was escalated to (overlap.c). @returns how many were written to @p out. */
size_t nb__raised_recipients(const nb__ev_t *ev, size_t ri, const nb_ledger_raised_t *x,
                             const nb_policy_role_t **out, size_t max);
/** Overlapping rules ('overlaps'): a new decision leaves out the roles an open notification
 *  of another rule of its group (or a decision before it in the group) already reached, and
 *  is suppressed when none is left (overlap.c). Called after the raised statuses are known. */
void nb__overlaps(const nb__ev_t *ev, nb_policy_result_t *res);

/* calendar.c */
int32_t nb__policy_local_day(int64_t ms);
int64_t nb__policy_local_to_utc(int32_t day, int32_t minutes);
int64_t nb__policy_respond_by(const nb_policy_t *pol, const nb__respond_t *r, int64_t from_ms);

/* The 'ownership:' keys (load_ownership.c): the defaults; the parser (dst: an nb__own_t);
 * the checks once every file is read (roles known, public values filled, rules and tiers
 * pointed at their ladder's block). */
void nb__ownership_defaults(nb__own_t *own);
bool nb__p_ownership(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f);
void nb__ownership_resolve(nb__ctx_t *ctx);

/** Whether a notification of rule @p r raised at @p tier (after the modifiers) follows its
 *  tier's ladder rather than its rule's: the modifiers changed the tier and that tier has a
 *  ladder ('tiers: {urgent: {escalation: ...}}'). */
static inline bool nb__ladder_of_tier(const nb_policy_t *pol, const nb__rule_t *r, nb_tier_t tier)
{
    return (int)tier != (int)r->info.tier && (unsigned)tier < NB_TIER__COUNT &&
           pol->tiers[tier].n_rungs > 0;
}

/** The ownership block of the ladder a notification of @p r (NULL: a rule the policy no longer
 *  has) raised at @p tier follows: that ladder's block, else the policy's. */
static inline const nb__own_t *nb__own_at(const nb_policy_t *pol, const nb__rule_t *r,
                                          nb_tier_t tier)
{
    const nb__own_t *own = !r                                 ? NULL
                           : nb__ladder_of_tier(pol, r, tier) ? pol->tiers[tier].own
                                                              : r->own;
    return own ? own : &pol->own;
}
/** Working days of a range, one bit a day, for scans over many years (NULL bits: none). */
typedef struct nb__workdays_s {
    int32_t first, n; /* days since the epoch; how many */
    uint8_t *bits;
} nb__workdays_t;
/** The working days of the years nb__policy_respond_worst() scans, and some after. The caller
 *  frees wd->bits. @returns false when out of memory. */
bool nb__policy_workdays(const nb_policy_t *pol, nb__workdays_t *wd);
/** The longest time from a decision to its respond-by, over every day of the calendar's years
 *  (2024-2030 without them); *at is a decision time that takes that long. @p wd may be NULL. */
int64_t nb__policy_respond_worst(const nb_policy_t *pol, const nb__respond_t *r,
                                 const nb__workdays_t *wd, int64_t *at);
/** 0 = Sunday ... 6 = Saturday. */
int nb__policy_weekday(int32_t day);
/** Bank holidays of England and Wales computed by rule (tests compare the shipped YAML). */
size_t nb__policy_ew_holidays(int year, nb__holiday_t *out, size_t cap);
int32_t nb__policy_easter(int year);

#endif
