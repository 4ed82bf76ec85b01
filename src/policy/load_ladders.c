/*
 * notbrought - policy: escalation ladders and the tiers' defaults (see load.c): rungs, named
 * ladders and their 'then' links (cycles refused), the tiers' response times and ladders, and
 * flattening a ladder into offsets from its anchor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

static const char *const nb__from_names[] = {"notification", "respond_by"};
NB__ENUM(nb__e_from, "'from'", nb__from_names);

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
bool nb__p_rungs(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
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

static const nb__field_t nb__ladder_fields[] = {
    {"id", nb__p_id, offsetof(nb__ladder_t, id), 0, 0, NULL, NB__REQ, "unique ladder id"},
    {"title", nb__p_str, offsetof(nb__ladder_t, title), 0, 200, NULL, 0, "what it is for"},
    {"rungs", nb__p_rungs, 0, 0, 0, NULL, NB__REQ, "the rungs, in order"},
    {"then", nb__p_id, offsetof(nb__ladder_t, then), 0, 0, NULL, 0,
     "continue with this ladder after the last rung"},
    {"override", nb__p_bool, offsetof(nb__ladder_t, override), 0, 0, NULL, 0,
     "an overlay replaces the ladder of this id"},
    {"ownership", nb__p_ownership, offsetof(nb__ladder_t, own), 0, 0, NULL, 0,
     "what taking and reassigning a notification on this ladder do (else the policy's)"},
    {NULL, NULL, 0, 0, 0, NULL, 0, NULL}};
static const nb__table_t nb__ladder_table = {"ladder", nb__ladder_fields,
                                             offsetof(nb__ladder_t, mark)};

bool nb__p_ladders(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__is_list(ctx, node, f->key))
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
const nb__table_t nb__tiers_table = {"tiers", nb__tiers_fields, NB__NO_MARK};

/* ---- flattening -------------------------------------------------------------------------- */

static long nb__ladder_index(const nb_policy_t *pol, const char *id)
{
    for (size_t i = 0; i < pol->n_ladders; i++)
        if (strcmp(pol->ladders[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* Reports each cycle of 'then' links once, at the ladder with the lowest index in it. */
void nb__check_ladder_cycles(nb__ctx_t *ctx)
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
void nb__flatten(nb__ctx_t *ctx, nb__rule_t *r)
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
    /* The ownership keys are those of the ladder the rule names (not of one it continues
     * with): the policy's when it has none. */
    r->own = l && l != &r->inline_ladder && l->own.set ? &l->own : NULL;
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

/* The ladders of the tiers ('tiers: {urgent: {escalation: ...}}'), flattened as a rule's of
 * that tier would be. A decision raised to the tier follows it from its own respond-by, so each
 * rung must count from the respond-by or be an explicit early alert. */
void nb__flatten_tiers(nb__ctx_t *ctx)
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
        tier->own = r->own; /* a ladder's block: lives in pol->ladders */
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
