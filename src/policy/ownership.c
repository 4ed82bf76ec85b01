/*
 * notbrought - policy: the 'ownership:' keys (docs/inbox.md, section 1; docs/policy.md) at
 * policy level and per ladder: loading, checking, and what the lifecycle reads.
 */
#include <string.h>

#include "policy/internal.h"

void nb__ownership_defaults(nb__own_t *own)
{
    memset(own, 0, sizeof(*own));
    own->stops_on = NB__UNSET;
    own->restarts = NB__UNSET;
    own->after.kind = NB__RESPOND_NONE;
    own->pub.reassign_restarts = true;
}

static const char *const nb__stops_on_names[] = {"close", "take"};
NB__ENUM(nb__e_stops_on, "'escalation_stops_on'", nb__stops_on_names);

/* may_reassign_owned: a list of role ids (checked against the roles once every file is read). */
static bool nb__p_reassigners(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__own_t *own = dst;
    own->n_roles = 0;
    own->roles_mark = nb__mark(ctx, node);
    if (!nb__is_list(ctx, node, f->key))
        return false;
    bool ok = true;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = nb__node(ctx, *it);
        if (!item)
            continue;
        if (own->n_roles == NB_POLICY_MAX_REASSIGNERS) {
            NB__ERR(ctx, item, NB_ERR_POLICY_VALUE, "'%s' lists at most %d roles", f->key,
                    NB_POLICY_MAX_REASSIGNERS);
            return false;
        }
        nb__field_t idf = {f->key, NULL, 0, 0, 0, NULL, 0, NULL};
        if (nb__p_id(ctx, item, &own->roles[own->n_roles], &idf))
            own->n_roles++;
        else
            ok = false;
    }
    return ok;
}

static const nb__field_t nb__own_fields[] = {
    {"escalation_stops_on", nb__p_choice, offsetof(nb__own_t, stops_on), 0, 0, &nb__e_stops_on, 0,
     "take: taking a notification stops its escalation; close (default): only closing does"},
    {"reassign_restarts_respond_by", nb__p_bool, offsetof(nb__own_t, restarts), 0, 0, NULL, 0,
     "a reassignment restarts the respond-by, and the ladder's timers with it (default true)"},
    {"respond_by_after_reassign", nb__p_respond, offsetof(nb__own_t, after), 0, 0, NULL, 0,
     "the respond-by a reassignment gives, e.g. {working_days: 2} (default: the rule's own)"},
    {"may_reassign_owned", nb__p_reassigners, 0, 0, 0, NULL, 0,
     "roles that may reassign what another person owns (default: none)"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__own_table = {"ownership", nb__own_fields, offsetof(nb__own_t, mark)};

bool nb__p_ownership(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb__own_t *own = dst;
    (void)f;
    /* An overlay's block replaces the one before it as a whole: what it leaves out takes the
     * default, so that reading one file says everything about it. */
    nb__ownership_defaults(own);
    own->set = 1;
    return nb__parse_map(ctx, node, &nb__own_table, own);
}

/* Fills @p own's public values and checks its roles. */
static void nb__own_check(nb__ctx_t *ctx, nb__own_t *own)
{
    nb_policy_t *pol = ctx->pol;
    own->pub.stops_on_take = own->stops_on == NB__STOPS_ON_TAKE;
    own->pub.reassign_restarts = own->restarts != 0; /* NB__UNSET: true */
    own->pub.n_may_reassign = 0;
    for (size_t i = 0; i < own->n_roles; i++) {
        const nb__role_t *role = NULL;
        for (size_t k = 0; k < pol->n_roles && !role; k++)
            if (strcmp(pol->roles[k].pub.id, own->roles[i]) == 0)
                role = &pol->roles[k];
        if (!role) {
            nb__report(ctx, own->roles_mark, NB_ERR_POLICY_REFERENCE, false,
                       "'may_reassign_owned' names unknown role '%s'", own->roles[i]);
            continue;
        }
        own->pub.may_reassign_route[own->pub.n_may_reassign] = role->pub.route;
        own->pub.may_reassign[own->pub.n_may_reassign++] = own->roles[i];
    }
    if (own->after.kind == NB__RESPOND_WORKING_DAYS && pol->n_holidays == 0)
        nb__report(ctx, own->mark, NB_ERR_POLICY_REFERENCE, false,
                   "'respond_by_after_reassign' counts working days but the policy has no "
                   "calendar of bank holidays");
    if (own->after.kind != NB__RESPOND_NONE && own->restarts == 0)
        nb__report(ctx, own->mark, NB_ERR_POLICY_VALUE, false,
                   "'respond_by_after_reassign' is set but 'reassign_restarts_respond_by' is "
                   "false: a reassignment would not use it");
}

void nb__ownership_resolve(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    if (pol->own.set)
        nb__own_check(ctx, &pol->own);
    for (size_t i = 0; i < pol->n_ladders; i++)
        if (pol->ladders[i].own.set)
            nb__own_check(ctx, &pol->ladders[i].own);
}

/* ---- what the lifecycle reads ---------------------------------------------------------------- */

static const nb__rule_t *nb__rule_by_hash(const nb_policy_t *pol, uint64_t rule_hash)
{
    for (size_t i = 0; i < pol->n_rules; i++)
        if (pol->rules[i].info.hash == rule_hash)
            return &pol->rules[i];
    return NULL;
}

const nb_policy_ownership_t *nb_policy_ownership(const nb_policy_t *pol, uint64_t rule_hash)
{
    const nb__rule_t *r = nb__rule_by_hash(pol, rule_hash);
    return &nb__own_at(pol, r, r ? r->info.tier : NB_TIER_ROUTINE)->pub;
}

const nb_policy_ownership_t *nb_policy_ownership_at(const nb_policy_t *pol, uint64_t rule_hash,
                                                    nb_tier_t tier)
{
    return &nb__own_at(pol, nb__rule_by_hash(pol, rule_hash), tier)->pub;
}

/* What an action carries as its role is what the inbox knows of the person: the queue she acts
 * in, a route. A role is held by the people of the queue that is its route (two roles with one
 * route are held together), so the route stands for the role here; a role id (replay, the
 * scenarios) is taken as it is. The daemon maps it with the policy it runs, so a route moved
 * to another queue takes effect at the policy's reload, not when the inbox restarts. */
bool nb_policy_ownership_may_reassign(const nb_policy_ownership_t *own, const char *role)
{
    for (size_t i = 0; own && role && role[0] && i < own->n_may_reassign; i++)
        if (strcmp(own->may_reassign[i], role) == 0 ||
            (own->may_reassign_route[i] && strcmp(own->may_reassign_route[i], role) == 0))
            return true;
    return false;
}

int64_t nb_policy_respond_by_after_reassign(const nb_policy_t *pol, uint64_t rule_hash,
                                            nb_tier_t tier, int64_t from_ms)
{
    const nb__rule_t *r = nb__rule_by_hash(pol, rule_hash);
    const nb__own_t *own = nb__own_at(pol, r, tier);
    if (!own->pub.reassign_restarts)
        return NB_TIME_NONE;
    if (own->after.kind != NB__RESPOND_NONE)
        return nb__policy_respond_by(pol, &own->after, from_ms);
    if (!r)
        return NB_TIME_NONE;
    int64_t by = nb__policy_respond_by(pol, &r->eff_respond, from_ms);
    /* Raised to another tier by the modifiers: that tier's time when sooner, as the decision's
     * own respond-by was (a reassigned urgent notification is not given a routine week). */
    if ((int)tier != (int)r->info.tier && (unsigned)tier < NB_TIER__COUNT &&
        pol->tiers[tier].respond.kind != NB__RESPOND_NONE) {
        int64_t t = nb__policy_respond_by(pol, &pol->tiers[tier].respond, from_ms);
        if (by == NB_TIME_NONE || t < by)
            by = t;
    }
    return by;
}
