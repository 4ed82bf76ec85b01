/*
 * notbrought - policy: loading rules (see load.c): event and subject predicates, the action
 * (tier, recipients, response time, escalation), count and absence conditions, and the
 * checks of one rule once every layer is loaded (what it needs, its defaults, how far back it
 * looks).
 */
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

/* ---- predicates -------------------------------------------------------------------------- */

static const char *const nb__status_names[] = {NB_STATUS_MAP(NB__NAMES)};
static const char *const nb__agency_names[] = {NB_AGENCY_MAP(NB__NAMES)};
static const char *const nb__mode_names[] = {NB_CONTACT_MODE_MAP(NB__NAMES)};
const char *const nb__subject_names[] = {NB_SUBJECT_KIND_MAP(NB__NAMES)};
static const char *const nb__fact_names[] = {NB_FACT_KIND_MAP(NB__NAMES)};
static const char *const nb__rule_kind_names[] = {"count", "absence"};
static const char *const nb__mode_choice[] = {"live", "shadow"};
NB__ENUM(nb__e_status, "status", nb__status_names);
NB__ENUM(nb__e_agency, "agency", nb__agency_names);
NB__ENUM(nb__e_mode, "contact mode", nb__mode_names);
NB__ENUM(nb__e_subject, "subject kind", nb__subject_names);
NB__ENUM(nb__e_fact, "fact", nb__fact_names);
NB__ENUM(nb__e_rule_kind, "rule kind", nb__rule_kind_names);
NB__ENUM(nb__e_mode_choice, "mode", nb__mode_choice);

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

static const nb__field_t nb__gest_range_fields[] = {
    {"min", nb__p_gest, offsetof(nb__range_t, min), 0, 0, NULL, 0, "from this gestation"},
    {"max", nb__p_gest, offsetof(nb__range_t, max), 0, 0, NULL, 0, "up to this gestation"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__gest_range_table = {"gestation range", nb__gest_range_fields,
                                                 NB__NO_MARK};

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
const nb__table_t nb__spred_table = {"subject", nb__spred_fields, NB__NO_MARK};

void nb__spred_init(nb__spred_t *s)
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

bool nb__p_respond(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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

/* ---- rules ------------------------------------------------------------------------------- */

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

bool nb__p_rules(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__is_list(ctx, node, f->key))
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

/* ---- one rule, once every layer is loaded ------------------------------------------------ */

void nb__check_rule(nb__ctx_t *ctx, nb__rule_t *r)
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

/* Days of history a rule can look at. */
int32_t nb__rule_lookback(const nb__rule_t *r)
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
