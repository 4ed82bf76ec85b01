/*
 * notbrought - policy: layers (see load.c). A later file adds items by id, replaces one with
 * 'override: true' or removes one with 'delete'; the generic merge does this for roles,
 * rules, modifiers, ladders and overlap groups. Overlap groups ('overlaps') are here too: the
 * rules they name are resolved once every layer is loaded.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

const nb__kind_t nb__k_role = {"role",
                               sizeof(nb__role_t),
                               offsetof(nb__role_t, pub.id),
                               offsetof(nb__role_t, layer),
                               offsetof(nb__role_t, override),
                               offsetof(nb__role_t, mark),
                               NB_POLICY_MAX_ROLES};
const nb__kind_t nb__k_rule = {"rule",
                               sizeof(nb__rule_t),
                               offsetof(nb__rule_t, info.id),
                               offsetof(nb__rule_t, layer),
                               offsetof(nb__rule_t, override),
                               offsetof(nb__rule_t, mark),
                               NB_POLICY_MAX_RULES};
const nb__kind_t nb__k_modifier = {"modifier",
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
const nb__kind_t nb__k_ladder = {"ladder",
                                 sizeof(nb__ladder_t),
                                 offsetof(nb__ladder_t, id),
                                 offsetof(nb__ladder_t, layer),
                                 offsetof(nb__ladder_t, override),
                                 offsetof(nb__ladder_t, mark),
                                 NB_POLICY_MAX_LADDERS};

long nb__find_id(const nb__kind_t *k, void *arr, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        const char *x = NB__FIELD(const char *, (char *)arr + i * k->elem, k->id_off);
        if (x && strcmp(x, id) == 0)
            return (long)i;
    }
    return -1;
}

void nb__merge(nb__ctx_t *ctx, const nb__kind_t *k, void *arr, size_t *n, void *item,
               yaml_node_t *node)
{
    const char *id = NB__FIELD(const char *, item, k->id_off);
    long i = nb__find_id(k, arr, *n, id);
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
    long i = nb__find_id(k, arr, *n, id);
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
const nb__table_t nb__delete_table = {"delete", nb__delete_fields, NB__NO_MARK};

/* ---- overlap groups ---------------------------------------------------------------------- */

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

bool nb__p_overlaps(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__is_list(ctx, node, f->key))
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

/* Overlap groups: rule ids to indices; a rule once per group; a shadow rule in none (it never
 * notifies, so it covers nothing and needs no cover). */
void nb__resolve_overlaps(nb__ctx_t *ctx)
{
    nb_policy_t *pol = ctx->pol;
    memset(pol->overlap_of, 0, sizeof(pol->overlap_of));
    for (size_t g = 0; g < pol->n_overlaps; g++) {
        nb__overlap_t *o = &pol->overlaps[g];
        for (size_t k = 0; k < o->n_rules; k++) {
            o->idx[k] = -1;
            long ri = nb__find_id(&nb__k_rule, pol->rules, pol->n_rules, o->rules[k]);
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
