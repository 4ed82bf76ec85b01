/*
 * notbrought - policy: roles (see load.c): who is told and how to reach them, the references
 * to roles that rules, rungs and modifiers make (resolved once every layer is loaded), and the
 * accessors for roles and recipients.
 */
#include <stdio.h>
#include <string.h>

#include "policy/internal.h"

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
bool nb__p_refs(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    memset(dst, 0, sizeof(nb__refs_t));
    return nb__each(ctx, node, f, nb__ref_one, dst);
}

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

bool nb__p_roles(nb__ctx_t *ctx, yaml_node_t *node, void *dst, const nb__field_t *f)
{
    nb_policy_t *pol = ctx->pol;
    bool ok = true;
    (void)dst;
    if (!nb__is_list(ctx, node, f->key))
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

void nb__resolve_refs(nb__ctx_t *ctx, nb__refs_t *r)
{
    nb_policy_t *pol = ctx->pol;
    for (size_t i = 0; i < r->n; i++) {
        long k = nb__find_id(&nb__k_role, pol->roles, pol->n_roles, r->ids[i]);
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

/* ---- accessors --------------------------------------------------------------------------- */

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
