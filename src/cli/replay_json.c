/*
 * notbrought replay --json: the report as one JSON document for tools, built with jansson
 * (which does the escaping). Its shape is in docs/cli.md and in `replay --help`. As in the
 * text, children are masked and decision ids are left out (see replay_report.c).
 */
#include "cli/replay.h"

#include <jansson.h>
#include <string.h>

/* A builder that remembers the first failure, so that the code reads straight through. */
typedef struct nb__jb_s {
    bool failed;
    nb_notify_zone_t zone;
} nb__jb_t;

/* Sets @p key of @p obj to @p v (stolen; NULL is a failure). */
static void nb__jset(nb__jb_t *jb, json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, v))
        jb->failed = true;
}

static void nb__jpush(nb__jb_t *jb, json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, v))
        jb->failed = true;
}

static json_t *nb__jobject(nb__jb_t *jb)
{
    json_t *o = json_object();
    if (!o)
        jb->failed = true;
    return o;
}

/* {"at": "2025-04-15T16:00:00.000Z", "local": "Tuesday 15 April 2025 at 17:00 BST"}, or null. */
static json_t *nb__jtime(nb__jb_t *jb, int64_t ms, bool weekday)
{
    char iso[40], local[64];
    if (ms == NB_TIME_NONE)
        return json_null();
    nb_format_time(ms, iso, sizeof(iso));
    nb_notify_format_time(ms, jb->zone, weekday, local, sizeof(local));
    return json_pack("{s:s, s:s}", "at", iso, "local", local);
}

static json_t *nb__jroles(nb__jb_t *jb, const nb_policy_role_t *const *roles, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        nb__jpush(jb, a, json_string(roles[i]->id));
    return a;
}

/* What a notification said under one policy, and what became of it; null when not raised. */
static json_t *nb__jside(nb__jb_t *jb, const nb__notes_t *ns, const nb__rnote_t *n)
{
    if (!n)
        return json_null();
    json_t *o = nb__jobject(jb), *ladder = json_array();
    for (size_t i = 0; ladder && i < n->n_rungs; i++) {
        const nb__rrung_t *g = &ns->rungs[n->rung0 + i];
        json_t *r = nb__jobject(jb);
        nb__jset(jb, r, "roles", nb__jroles(jb, g->roles, g->n_roles));
        nb__jset(jb, r, "tier", json_string(nb_tier_name(g->tier)));
        nb__jset(jb, r, "due", nb__jtime(jb, g->due, false));
        nb__jpush(jb, ladder, r);
    }
    nb__jset(jb, o, "raised", nb__jtime(jb, n->raised_at, false));
    nb__jset(jb, o, "tier", json_string(nb_tier_name(n->tier)));
    nb__jset(jb, o, "recipients", nb__jroles(jb, n->recipients, n->n_recipients));
    nb__jset(jb, o, "respond_by", nb__jtime(jb, n->respond_by, true));
    nb__jset(jb, o, "ladder", ladder);
    nb__jset(jb, o, "escalations", json_integer(n->escalations));
    nb__jset(jb, o, "withdrawn", nb__jtime(jb, n->withdrawn_at, false));
    return o;
}

/* Roles of @p x that @p y does not have. */
static json_t *nb__jroles_minus(nb__jb_t *jb, const nb__rnote_t *x, const nb__rnote_t *y)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < x->n_recipients; i++) {
        bool found = false;
        for (size_t j = 0; j < y->n_recipients && !found; j++)
            found = strcmp(x->recipients[i]->id, y->recipients[j]->id) == 0;
        if (!found)
            nb__jpush(jb, a, json_string(x->recipients[i]->id));
    }
    return a;
}

static json_t *nb__jdecision(nb__jb_t *jb, const nb__report_t *rep, const nb__change_t *c)
{
    const nb__rnote_t *n = c->a ? c->a : c->b;
    json_t *o = nb__jobject(jb), *kinds = json_array(), *ev = nb__jobject(jb);
    nb__jset(jb, o, "rule", json_string(n->rule->id));
    nb__jset(jb, ev, "appointments", json_integer((json_int_t)n->n_evidence));
    nb__jset(jb, ev, "latest", nb__jtime(jb, n->n_evidence ? n->evidence_latest : NB_TIME_NONE,
                                         false));
    nb__jset(jb, ev, "deadline", nb__jtime(jb, n->deadline, false));
    nb__jset(jb, o, "evidence", ev);
    for (int k = 0; kinds && k < NB__CHANGE__COUNT; k++)
        if (c->kinds & NB__CHANGE_BIT(k))
            nb__jpush(jb, kinds, json_string(nb__change_name((nb__change_kind_t)k)));
    nb__jset(jb, o, "changes", kinds);
    if (c->a && c->b) {
        json_t *r = nb__jobject(jb);
        nb__jset(jb, r, "added", nb__jroles_minus(jb, c->b, c->a));
        nb__jset(jb, r, "removed", nb__jroles_minus(jb, c->a, c->b));
        nb__jset(jb, o, "recipients", r);
    }
    nb__jset(jb, o, "policy", nb__jside(jb, &rep->a->notes, c->a));
    nb__jset(jb, o, "compare", nb__jside(jb, &rep->b->notes, c->b));
    return o;
}

static json_t *nb__jkinds(nb__jb_t *jb, const size_t *by_kind)
{
    json_t *o = nb__jobject(jb);
    for (int k = 0; o && k < NB__CHANGE__COUNT; k++)
        nb__jset(jb, o, nb__change_name((nb__change_kind_t)k),
                 json_integer((json_int_t)by_kind[k]));
    return o;
}

/* The decisions that differ, grouped by child. */
static json_t *nb__jchildren(nb__jb_t *jb, const nb__report_t *rep)
{
    const nb__diff_t *d = rep->diff;
    json_t *children = json_array();
    for (size_t k = 0; children && k < d->n;) {
        json_t *child = nb__jobject(jb), *decisions = json_array();
        nb__jset(jb, child, "child", json_string(d->v[k].who));
        size_t i = k;
        for (; i < d->n && strcmp(d->v[i].key, d->v[k].key) == 0; i++)
            nb__jpush(jb, decisions, nb__jdecision(jb, rep, &d->v[i]));
        nb__jset(jb, child, "decisions", decisions);
        nb__jpush(jb, children, child);
        k = i;
    }
    return children;
}

static json_t *nb__jchanges(nb__jb_t *jb, const nb__report_t *rep)
{
    const nb__diff_t *d = rep->diff;
    json_t *o = nb__jobject(jb), *notes = nb__jobject(jb);
    nb__jset(jb, notes, "policy", json_integer((json_int_t)d->in_a));
    nb__jset(jb, notes, "compare", json_integer((json_int_t)d->in_b));
    nb__jset(jb, notes, "in_both", json_integer((json_int_t)d->in_both));
    nb__jset(jb, notes, "differ", json_integer((json_int_t)d->n));
    nb__jset(jb, o, "notifications", notes);
    nb__jset(jb, o, "by_kind", nb__jkinds(jb, d->by_kind));
    nb__jset(jb, o, "children_changed", json_integer((json_int_t)d->children_changed));
    nb__jset(jb, o, "children_total", json_integer((json_int_t)d->children_total));
    nb__jset(jb, o, "children", nb__jchildren(jb, rep));
    return o;
}

/* One rule's counts under one policy; null when the policy does not have it. */
static json_t *nb__jcounts(nb__jb_t *jb, const nb__outcome_t *o, const char *id)
{
    for (size_t k = 0; o && k < o->n_rules; k++) {
        const nb_policy_rule_info_t *r = nb_policy_rule(o->pol, k);
        if (strcmp(r->id, id) != 0)
            continue;
        return json_pack("{s:s, s:b, s:I, s:I, s:I, s:I}", "tier", nb_tier_name(r->tier),
                         "shadow", r->shadow, "raised", (json_int_t)o->raised[k], "escalated",
                         (json_int_t)o->escalated[k], "withdrawn", (json_int_t)o->withdrawn[k],
                         "shadow_decisions", (json_int_t)o->shadow[k]);
    }
    return json_null();
}

/* Every rule of either policy: the policy's first, then those only the compared one has. */
static json_t *nb__jrules(nb__jb_t *jb, const nb__report_t *rep)
{
    json_t *rules = json_array();
    size_t na = rep->a->n_rules, nb_ = rep->b ? rep->b->n_rules : 0;
    for (size_t k = 0; rules && k < na + nb_; k++) {
        const nb_policy_rule_info_t *r =
            k < na ? nb_policy_rule(rep->a->pol, k) : nb_policy_rule(rep->b->pol, k - na);
        if (k >= na && nb_policy_rule_find(rep->a->pol, r->id))
            continue;
        json_t *o = nb__jobject(jb);
        nb__jset(jb, o, "rule", json_string(r->id));
        nb__jset(jb, o, "policy", nb__jcounts(jb, rep->a, r->id));
        if (rep->b)
            nb__jset(jb, o, "compare", nb__jcounts(jb, rep->b, r->id));
        for (size_t i = 0; rep->diff && i < rep->diff->n_rules; i++)
            if (strcmp(rep->diff->rules[i].rule, r->id) == 0)
                nb__jset(jb, o, "changes", nb__jkinds(jb, rep->diff->rules[i].by_kind));
        nb__jpush(jb, rules, o);
    }
    return rules;
}

static json_t *nb__jpolicy(const nb_policy_t *pol)
{
    const nb_policy_info_t *info = nb_policy_info(pol);
    return json_pack("{s:s, s:s, s:s}", "name", info->name, "version", info->version, "sha256",
                     info->hash);
}

/* What was replayed and what could not be applied. */
static void nb__jreplayed(nb__jb_t *jb, json_t *root, const nb__report_t *rep)
{
    const nb__outcome_t *a = rep->a;
    nb__jset(jb, root, "replayed",
             json_pack("{s:I, s:I, s:o, s:s}", "items", (json_int_t)rep->items, "children",
                       (json_int_t)a->n_children, "until", nb__jtime(jb, rep->end, false),
                       "timezone", nb_notify_zone_name(rep->zone)));
    nb__jset(jb, root, "not_applied",
             json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "waiting_for_link",
                       (json_int_t)a->parked, "expired", (json_int_t)a->expired,
                       "refused", (json_int_t)a->refused, "links_refused",
                       (json_int_t)a->links_refused, "invalid", (json_int_t)rep->invalid,
                       "other", (json_int_t)rep->other));
    nb__jset(jb, root, "acknowledged",
             json_pack("{s:I, s:I, s:I}", "notifications", (json_int_t)a->acks, "unmatched",
                       (json_int_t)a->acks_unmatched, "refused", (json_int_t)a->acks_refused));
}

int nb__report_json(FILE *out, const nb__report_t *rep)
{
    nb__jb_t jb = {false, rep->zone};
    json_t *root = nb__jobject(&jb);
    if (!root)
        return -1;
    nb__jreplayed(&jb, root, rep);
    nb__jset(&jb, root, "policy", nb__jpolicy(rep->a->pol));
    if (rep->b)
        nb__jset(&jb, root, "compare", nb__jpolicy(rep->b->pol));
    nb__jset(&jb, root, "rules", nb__jrules(&jb, rep));
    nb__jset(&jb, root, "digests",
             rep->b ? json_pack("{s:I, s:I}", "policy", (json_int_t)rep->a->digests, "compare",
                                (json_int_t)rep->b->digests)
                    : json_pack("{s:I}", "policy", (json_int_t)rep->a->digests));
    if (rep->diff)
        nb__jset(&jb, root, "changes", nb__jchanges(&jb, rep));
    int rc = jb.failed || json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
                     fputc('\n', out) == EOF
                 ? -1
                 : 0;
    json_decref(root);
    return rc;
}
