/*
 * notbrought - policy: modifiers (see load.c): what raises the tier, shortens the response
 * time or adds recipients for some children, and resolving the rules they name.
 */
#include <stdlib.h>

#include "policy/internal.h"

/* One rule id of a list (a modifier's or an overlap group's 'rules'). */
bool nb__rule_id_add(nb__ctx_t *ctx, yaml_node_t *node, const nb__field_t *f, size_t *n,
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

bool nb__p_modifiers(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__is_list(ctx, node, f->key))
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

/* Once every layer is loaded: the roles the modifiers add, the rules they name (none: every
 * rule) and their defaults. @returns @p retention, or the days of history a modifier's
 * subject looks back when that is more. */
int32_t nb__resolve_modifiers(nb__ctx_t *ctx, int32_t retention)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t i = 0; i < pol->n_modifiers; i++) {
        nb__modifier_t *m = &pol->modifiers[i];
        nb__resolve_refs(ctx, &m->add_to);
        m->rule_mask = m->n_rules ? 0 : ~0ull;
        for (size_t k = 0; k < m->n_rules; k++) {
            long ri = nb__find_id(&nb__k_rule, pol->rules, pol->n_rules, m->rules[k]);
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
    return retention;
}
