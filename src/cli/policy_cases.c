/*
 * notbrought policy test: the example cases a protocol owner writes (docs/policy.md, "Test
 * cases"), each run through the policy and the same lifecycle step as the daemon, and checked
 * against what it expects. The rest of `notbrought policy` is in cmd_policy.c.
 */
#include "cli/commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "notbrought/ledger.h"
#include "notbrought/notify.h"
#include "notbrought/policy.h"

/* ---- test cases -------------------------------------------------------------------------- */

typedef struct nb__cases_s {
    const char *file;
    yaml_document_t doc;
    int errors; /* problems in the case file itself */
} nb__cases_t;

static yaml_node_t *nb__n(nb__cases_t *cs, int i)
{
    return yaml_document_get_node(&cs->doc, i);
}

__attribute__((format(printf, 3, 4))) static void nb__cerr(nb__cases_t *cs, yaml_node_t *node,
                                                           const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d:%d: error: ", cs->file, node ? (int)node->start_mark.line + 1 : 0,
            node ? (int)node->start_mark.column + 1 : 0);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cs->errors++;
}

/* Looks up key in a mapping; checks that every key is one of allowed (NULL-terminated). */
static bool nb__keys_ok(nb__cases_t *cs, yaml_node_t *map, const char *const *allowed,
                        const char *what)
{
    bool ok = true;
    if (!map || map->type != YAML_MAPPING_NODE) {
        nb__cerr(cs, map, "%s must be a mapping", what);
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = nb__n(cs, p->key);
        const char *key = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value
                                                           : "";
        size_t i;
        for (i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], key) == 0)
                break;
        if (!allowed[i]) {
            nb__cerr(cs, k, "unknown key '%s' in %s", key, what);
            ok = false;
        }
    }
    return ok;
}

static yaml_node_t *nb__get(nb__cases_t *cs, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = nb__n(cs, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return nb__n(cs, p->value);
    }
    return NULL;
}

static const char *nb__str(nb__cases_t *cs, yaml_node_t *map, const char *key, const char *def)
{
    yaml_node_t *v = nb__get(cs, map, key);
    if (!v)
        return def;
    if (v->type != YAML_SCALAR_NODE) {
        nb__cerr(cs, v, "'%s' must be a scalar", key);
        return def;
    }
    return (const char *)v->data.scalar.value;
}

static bool nb__time(nb__cases_t *cs, yaml_node_t *map, const char *key, int64_t *out)
{
    const char *s = nb__str(cs, map, key, NULL);
    if (!s)
        return false;
    if (!nb_parse_time(s, out)) {
        nb__cerr(cs, nb__get(cs, map, key), "'%s' must be a date or an ISO 8601 UTC time", key);
        return false;
    }
    return true;
}

static bool nb__date(nb__cases_t *cs, yaml_node_t *map, const char *key, int32_t *out)
{
    const char *s = nb__str(cs, map, key, NULL);
    if (!s)
        return false;
    if (!nb_parse_date(s, out)) {
        nb__cerr(cs, nb__get(cs, map, key), "'%s' must be a date (YYYY-MM-DD)", key);
        return false;
    }
    return true;
}

static int nb__bool(nb__cases_t *cs, yaml_node_t *map, const char *key, int def)
{
    const char *s = nb__str(cs, map, key, NULL);
    if (!s)
        return def;
    if (strcmp(s, "true") == 0)
        return 1;
    if (strcmp(s, "false") == 0)
        return 0;
    nb__cerr(cs, nb__get(cs, map, key), "'%s' must be true or false", key);
    return def;
}

static int nb__int(nb__cases_t *cs, yaml_node_t *map, const char *key, int def)
{
    const char *s = nb__str(cs, map, key, NULL);
    char *end;
    if (!s)
        return def;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < -1000000 || v > 1000000) {
        nb__cerr(cs, nb__get(cs, map, key), "'%s' must be a whole number", key);
        return def;
    }
    return (int)v;
}

/* Items of a list node (a single scalar counts as a list of one). */
static size_t nb__items(nb__cases_t *cs, yaml_node_t *node, yaml_node_t **out, size_t cap)
{
    size_t n = 0;
    if (!node)
        return 0;
    if (node->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top && n < cap; it++)
            out[n++] = nb__n(cs, *it);
        return n;
    }
    out[0] = node;
    return 1;
}

/* Per case: the appointment ids the case used, to name evidence back. */
typedef struct nb__ids_s {
    size_t n;
    char ids[256][NB_ID_MAX + 1];
    uint64_t hash[256];
    int version[256];
} nb__ids_t;

static uint64_t nb__appt_hash(nb_agency_t agency, const char *id)
{
    char buf[NB_ID_MAX + 32];
    int n = snprintf(buf, sizeof(buf), "%s/%s", nb_agency_name(agency), id);
    return nb_ledger_id_hash(buf, n > 0 ? (size_t)n : 0);
}

static const char *nb__id_of(const nb__ids_t *ids, uint64_t h)
{
    for (size_t i = 0; i < ids->n; i++)
        if (ids->hash[i] == h)
            return ids->ids[i];
    return "?";
}

static const char *const nb__event_keys[] = {
    "id", "agency", "type", "at", "status", "version", "mandated", "mode", "org", "subject",
    "recorded", NULL};

static bool nb__apply_event(nb__cases_t *cs, yaml_node_t *e, nb_ledger_t *led, nb__ids_t *ids,
                            int32_t dob, int32_t edd)
{
    nb_appointment_event_t ev;
    memset(&ev, 0, sizeof(ev));
    if (!nb__keys_ok(cs, e, nb__event_keys, "an event"))
        return false;
    const char *id = nb__str(cs, e, "id", NULL), *agency = nb__str(cs, e, "agency", NULL),
               *type = nb__str(cs, e, "type", NULL), *status = nb__str(cs, e, "status", NULL);
    if (!id || !agency || !type || !status || !nb__get(cs, e, "at")) {
        nb__cerr(cs, e, "an event needs id, agency, type, at and status");
        return false;
    }
    if (!nb_agency_parse(agency, &ev.source.agency)) {
        nb__cerr(cs, nb__get(cs, e, "agency"), "unknown agency '%s'", agency);
        return false;
    }
    if (!nb_status_parse(status, &ev.status)) {
        nb__cerr(cs, nb__get(cs, e, "status"), "unknown status '%s'", status);
        return false;
    }
    const char *mode = nb__str(cs, e, "mode", ev.status == NB_STATUS_NO_ACCESS_VISIT
                                                   ? "home_visit"
                                                   : "face_to_face");
    if (!nb_contact_mode_parse(mode, &ev.contact_mode)) {
        nb__cerr(cs, nb__get(cs, e, "mode"), "unknown contact mode '%s'", mode);
        return false;
    }
    const char *subject =
        nb__str(cs, e, "subject", ev.source.agency == NB_AGENCY_MIDWIFERY ? "unborn" : "child");
    if (!nb_subject_kind_parse(subject, &ev.subject_kind)) {
        nb__cerr(cs, nb__get(cs, e, "subject"), "unknown subject '%s'", subject);
        return false;
    }
    if (!nb__time(cs, e, "at", &ev.scheduled_start))
        return false;
    ev.recorded_at = ev.scheduled_start;
    if (nb__get(cs, e, "recorded") && !nb__time(cs, e, "recorded", &ev.recorded_at))
        return false;
    if (strlen(id) > 40 || strlen(type) > NB_TYPE_MAX) {
        nb__cerr(cs, e, "id or type too long");
        return false;
    }
    snprintf(ev.appointment_id, sizeof(ev.appointment_id), "%s", id);
    snprintf(ev.appointment_type, sizeof(ev.appointment_type), "%s", type);
    snprintf(ev.source.organisation_code, sizeof(ev.source.organisation_code), "%s",
             nb__str(cs, e, "org", "TEST"));
    ev.mandated_contact = nb__bool(cs, e, "mandated", 0) == 1;
    uint64_t h = nb__appt_hash(ev.source.agency, id);
    size_t k;
    for (k = 0; k < ids->n; k++)
        if (ids->hash[k] == h)
            break;
    /* A repeated id without a version is the next version of that appointment. */
    ev.version = nb__int(cs, e, "version", k < ids->n ? ids->version[k] + 1 : 1);
    if (k == ids->n && ids->n < 256) {
        snprintf(ids->ids[k], sizeof(ids->ids[k]), "%s", id);
        ids->hash[k] = h;
        ids->n++;
    }
    if (k < 256)
        ids->version[k] = ev.version;
    snprintf(ev.event_id, sizeof(ev.event_id), "%s-v%d", id, (int)ev.version);
    ev.date_of_birth = ev.subject_kind == NB_SUBJECT_CHILD ? dob : NB_DATE_NONE;
    ev.expected_delivery_date = ev.subject_kind == NB_SUBJECT_UNBORN ? edd : NB_DATE_NONE;
    nb_err_t err = nb_ledger_apply(led, &ev, NULL);
    if (err) {
        nb__cerr(cs, e, "the ledger refused the event: %s", nb_err_str(err));
        return false;
    }
    return true;
}

static const char *const nb__fact_keys[] = {"id",      "kind",   "start", "end",
                                            "status",  "version", NULL};

static bool nb__apply_fact(nb__cases_t *cs, yaml_node_t *f, nb_ledger_t *led)
{
    nb_context_fact_t fact;
    memset(&fact, 0, sizeof(fact));
    if (!nb__keys_ok(cs, f, nb__fact_keys, "a fact"))
        return false;
    const char *kind = nb__str(cs, f, "kind", NULL);
    if (!kind || !nb_fact_kind_parse(kind, &fact.kind)) {
        nb__cerr(cs, f, "a fact needs a kind (child_protection_plan, ...)");
        return false;
    }
    if (!nb__date(cs, f, "start", &fact.start_date)) {
        nb__cerr(cs, f, "a fact needs a start date");
        return false;
    }
    fact.end_date = NB_DATE_NONE;
    if (nb__get(cs, f, "end") && !nb__date(cs, f, "end", &fact.end_date))
        return false;
    const char *st = nb__str(cs, f, "status", "current");
    if (!nb_fact_status_parse(st, &fact.status)) {
        nb__cerr(cs, f, "unknown fact status '%s'", st);
        return false;
    }
    snprintf(fact.event_id, sizeof(fact.event_id), "%s", nb__str(cs, f, "id", kind));
    snprintf(fact.source_system, sizeof(fact.source_system), "case");
    fact.version = nb__int(cs, f, "version", 1);
    fact.recorded_at = (int64_t)fact.start_date * NB_MS_PER_DAY;
    return nb_ledger_apply_fact(led, &fact, NULL) == NB_ERR_OK;
}

typedef struct nb__run_s {
    const nb_policy_t *pol;
    nb_policy_result_t *res;
    nb_notify_scratch_t plan; /* nb_notify_step()'s */
    bool verbose;
    uint64_t covered; /* rules some case expects to fire */
    char why[2048];
    size_t why_len;
} nb__run_t;

__attribute__((format(printf, 2, 3))) static void nb__why(nb__run_t *run, const char *fmt, ...)
{
    va_list ap;
    if (run->why_len >= sizeof(run->why) - 1)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(run->why + run->why_len, sizeof(run->why) - run->why_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        run->why_len += (size_t)n;
    if (run->why_len >= sizeof(run->why))
        run->why_len = sizeof(run->why) - 1;
}

static const char *const nb__expect_keys[] = {"rule",     "tier",       "state",    "shadow",
                                              "recipients", "respond_by", "evidence", "count",
                                              "modifiers", "as_dna",    "deadline", "covered_by",
                                              NULL};

/* Compares a set of names given in the case with the names the decision has. */
static bool nb__same_set(nb__cases_t *cs, yaml_node_t *node, const char *const *have, size_t n)
{
    yaml_node_t *items[64];
    size_t m = nb__items(cs, node, items, 64);
    if (node && node->type == YAML_SCALAR_NODE && strcmp((char *)node->data.scalar.value, "[]") == 0)
        m = 0;
    if (m != n)
        return false;
    for (size_t i = 0; i < m; i++) {
        bool found = false;
        if (!items[i] || items[i]->type != YAML_SCALAR_NODE)
            return false;
        for (size_t k = 0; k < n; k++)
            found |= strcmp(have[k], (const char *)items[i]->data.scalar.value) == 0;
        if (!found)
            return false;
    }
    return true;
}

static void nb__names(char *buf, size_t size, const char *const *v, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < size; i++) {
        int k = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", v[i]);
        if (k < 0)
            break;
        off += (size_t)k;
    }
}

static bool nb__check_decision(nb__cases_t *cs, nb__run_t *run, yaml_node_t *x,
                               const nb_policy_decision_t *d, const nb__ids_t *ids)
{
    bool ok = true;
    char buf[512];
    const char *rule = d->rule->id;
    yaml_node_t *v;
    const char *s;
    if ((s = nb__str(cs, x, "tier", NULL)) && strcmp(s, nb_tier_name(d->tier)) != 0) {
        nb__why(run, "\n    %s: tier is %s, expected %s", rule, nb_tier_name(d->tier), s);
        ok = false;
    }
    if ((s = nb__str(cs, x, "state", NULL)) && strcmp(s, nb_policy_state_name(d->state)) != 0) {
        nb__why(run, "\n    %s: state is %s, expected %s", rule, nb_policy_state_name(d->state),
                s);
        ok = false;
    }
    int b = nb__bool(cs, x, "shadow", -1);
    if (b >= 0 && b != d->shadow) {
        nb__why(run, "\n    %s: shadow is %s", rule, d->shadow ? "true" : "false");
        ok = false;
    }
    b = nb__bool(cs, x, "as_dna", -1);
    if (b >= 0 && b != d->as_dna) {
        nb__why(run, "\n    %s: as_dna is %s", rule, d->as_dna ? "true" : "false");
        ok = false;
    }
    int c = nb__int(cs, x, "count", -1);
    if (c >= 0 && (d->n_counts == 0 || d->counts[0].count != c)) {
        nb__why(run, "\n    %s: count is %d, expected %d", rule,
                d->n_counts ? (int)d->counts[0].count : 0, c);
        ok = false;
    }
    if ((v = nb__get(cs, x, "recipients"))) {
        const char *have[NB_NOTIF_MAX_RECIPIENTS];
        for (size_t i = 0; i < d->n_recipients; i++)
            have[i] = d->recipients[i]->id;
        if (!nb__same_set(cs, v, have, d->n_recipients)) {
            nb__names(buf, sizeof(buf), have, d->n_recipients);
            nb__why(run, "\n    %s: recipients are [%s]", rule, buf);
            ok = false;
        }
    }
    if ((v = nb__get(cs, x, "modifiers"))) {
        if (!nb__same_set(cs, v, d->modifiers, d->n_modifiers)) {
            nb__names(buf, sizeof(buf), d->modifiers, d->n_modifiers);
            nb__why(run, "\n    %s: modifiers applied are [%s]", rule, buf);
            ok = false;
        }
    }
    if ((v = nb__get(cs, x, "evidence"))) {
        const char *have[NB_NOTIF_MAX_EVIDENCE];
        for (size_t i = 0; i < d->n_evidence; i++)
            have[i] = nb__id_of(ids, d->evidence[i]->appt_hash);
        if (!nb__same_set(cs, v, have, d->n_evidence)) {
            nb__names(buf, sizeof(buf), have, d->n_evidence);
            nb__why(run, "\n    %s: evidence is [%s]", rule, buf);
            ok = false;
        }
    }
    /* Overlapping rules: the rule whose notification already told some of the recipients. */
    if ((s = nb__str(cs, x, "covered_by", NULL)) &&
        (!d->covered_by_rule || strcmp(s, d->covered_by_rule->id) != 0)) {
        nb__why(run, "\n    %s: covered by %s, expected %s", rule,
                d->covered_by_rule ? d->covered_by_rule->id : "nothing", s);
        ok = false;
    }
    int64_t t;
    if (nb__get(cs, x, "respond_by") && nb__time(cs, x, "respond_by", &t) && t != d->respond_by) {
        nb_format_time(d->respond_by, buf, sizeof(buf));
        nb__why(run, "\n    %s: respond_by is %s", rule, buf);
        ok = false;
    }
    if (nb__get(cs, x, "deadline") && nb__time(cs, x, "deadline", &t) && t != d->deadline) {
        nb_format_time(d->deadline, buf, sizeof(buf));
        nb__why(run, "\n    %s: deadline is %s", rule, buf);
        ok = false;
    }
    return ok;
}

static const char *const nb__step_keys[] = {"now",       "events",   "facts",   "expect",
                                            "withdrawn", "resolved", "name",    NULL};
static const char *const nb__case_keys[] = {"name",   "child",     "now",      "events",
                                            "facts",  "expect",    "withdrawn", "resolved",
                                            "steps",  NULL};
static const char *const nb__child_keys[] = {"key", "date_of_birth", "expected_delivery_date",
                                             "self_managing", NULL};

/* The rules whose raised notifications have a given support status, against a list. */
static bool nb__check_support(nb__cases_t *cs, nb__run_t *run, yaml_node_t *node,
                              nb_policy_support_t want)
{
    size_t nr;
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(run->res, &nr);
    const char *have[NB_LEDGER_MAX_RAISED] = {NULL};
    size_t n = 0;
    char buf[512];
    for (size_t i = 0; i < nr; i++)
        if (rs[i].support == want && rs[i].rule)
            have[n++] = rs[i].rule->id;
    if (nb__same_set(cs, node, have, n))
        return true;
    nb__names(buf, sizeof(buf), have, n);
    nb__why(run, "\n    %s notifications: [%s]", nb_policy_support_name(want), buf);
    return false;
}

/* Compares a step's decisions with its 'expect' list: each expected one fired as described,
 * and nothing else fired. Mismatches clear *ok (the reasons go to the run's report).
 * @returns false on an error in the case file itself (reported at its line). */
static bool nb__check_expected(nb__cases_t *cs, nb__run_t *run, yaml_node_t *expect,
                               nb_ledger_t *led, const nb_policy_subject_t *subj, int64_t now,
                               nb__ids_t *ids, int stepno, bool *ok_out)
{
    yaml_node_t *items[256];
    bool ok = true;
    size_t nd;
    const nb_policy_decision_t *ds = nb_policy_result_decisions(run->res, &nd);
    bool seen[NB_POLICY_MAX_DECISIONS] = {false};
    size_t n = expect->type == YAML_SCALAR_NODE ? 0 : nb__items(cs, expect, items, 256);
    for (size_t i = 0; i < n; i++) {
        if (!nb__keys_ok(cs, items[i], nb__expect_keys, "an expected decision"))
            return false;
        const char *rule = nb__str(cs, items[i], "rule", NULL);
        if (!rule) {
            nb__cerr(cs, items[i], "an expected decision needs 'rule'");
            return false;
        }
        if (!nb_policy_rule_find(run->pol, rule)) {
            nb__cerr(cs, items[i], "the policy has no rule '%s'", rule);
            return false;
        }
        for (size_t r = 0; r < nb_policy_rule_count(run->pol); r++)
            if (strcmp(nb_policy_rule(run->pol, r)->id, rule) == 0)
                run->covered |= 1ull << r;
        size_t k;
        for (k = 0; k < nd; k++)
            if (strcmp(ds[k].rule->id, rule) == 0)
                break;
        if (k == nd) {
            char why[512];
            nb_err_t werr =
                nb_policy_why_not(run->pol, led, subj, now, rule, run->res, why, sizeof(why));
            if (werr) /* the text may be unwritten */
                snprintf(why, sizeof(why), "the reason cannot be told (%s)", nb_err_name(werr));
            nb__why(run, "\n    step %d: expected %s to fire; it did not: %s", stepno, rule,
                    why);
            ok = false;
            continue;
        }
        seen[k] = true;
        ok = nb__check_decision(cs, run, items[i], &ds[k], ids) && ok;
    }
    for (size_t k = 0; k < nd; k++) {
        if (!seen[k]) {
            nb__why(run, "\n    step %d: %s fired (tier %s, %s) but was not expected", stepno,
                    ds[k].rule->id, nb_tier_name(ds[k].tier), nb_policy_state_name(ds[k].state));
            ok = false;
        }
    }
    *ok_out = ok && *ok_out;
    return true;
}

/* Runs one step: apply, evaluate, compare, record new live decisions as raised. */
static bool nb__run_step(nb__cases_t *cs, nb__run_t *run, yaml_node_t *step, nb_ledger_t *led,
                         nb_notify_state_t *ns, nb__ids_t *ids, const nb_policy_subject_t *subj,
                         int stepno)
{
    yaml_node_t *items[256];
    int64_t now;
    bool ok = true;
    if (!nb__time(cs, step, "now", &now)) {
        nb__cerr(cs, step, "a case (or step) needs 'now'");
        return false;
    }
    size_t n = nb__items(cs, nb__get(cs, step, "facts"), items, 256);
    for (size_t i = 0; i < n; i++)
        if (!nb__apply_fact(cs, items[i], led))
            return false;
    n = nb__items(cs, nb__get(cs, step, "events"), items, 256);
    for (size_t i = 0; i < n; i++)
        if (!nb__apply_event(cs, items[i], led, ids, subj->date_of_birth,
                             subj->expected_delivery_date))
            return false;
    if (nb_policy_evaluate(run->pol, led, subj, now, run->res)) {
        nb__cerr(cs, step, "evaluation failed");
        return false;
    }
    size_t nd;
    const nb_policy_decision_t *ds = nb_policy_result_decisions(run->res, &nd);
    if (run->verbose) {
        for (size_t i = 0; i < nd; i++) {
            char t[32];
            nb_format_time(ds[i].respond_by, t, sizeof(t));
            printf("      step %d: %s %s tier=%s respond_by=%s count=%d%s\n", stepno,
                   ds[i].rule->id, nb_policy_state_name(ds[i].state), nb_tier_name(ds[i].tier),
                   t, ds[i].n_counts ? (int)ds[i].counts[0].count : 0,
                   ds[i].shadow ? " shadow" : "");
        }
    }
    yaml_node_t *expect = nb__get(cs, step, "expect");
    if (!expect) {
        nb__cerr(cs, step, "a case (or step) needs 'expect' (a list, or [] for nothing)");
        return false;
    }
    if (!nb__check_expected(cs, run, expect, led, subj, now, ids, stepno, &ok))
        return false;
    yaml_node_t *w = nb__get(cs, step, "withdrawn");
    if (w)
        ok = nb__check_support(cs, run, w, NB_POLICY_WITHDRAWN) && ok;
    w = nb__get(cs, step, "resolved");
    if (w)
        ok = nb__check_support(cs, run, w, NB_POLICY_RESOLVED) && ok;

    /* As the daemon does (the same step): remember what was raised and escalated, forget what
     * was withdrawn, so that the next step sees it. */
    nb_notify_child_t child = {subj->child_key, "", ""};
    nb_err_t err = nb_notify_step(run->pol, run->res, led, ns, &child, NULL, now, true,
                                  &run->plan, NULL, NULL, NULL);
    if (err) {
        nb__cerr(cs, step, "recording the step's notifications failed: %s", nb_err_str(err));
        return false;
    }
    return ok;
}

static bool nb__run_case(nb__cases_t *cs, nb__run_t *run, yaml_node_t *c, int index,
                         const char **name)
{
    char key[NB_KEY_MAX + 1];
    bool ok = true;
    *name = "(unnamed)";
    if (!nb__keys_ok(cs, c, nb__case_keys, "a case"))
        return false;
    *name = nb__str(cs, c, "name", "(unnamed)");
    yaml_node_t *child = nb__get(cs, c, "child");
    nb_policy_subject_t subj = {key, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    snprintf(key, sizeof(key), "case-%d", index);
    if (child) {
        if (!nb__keys_ok(cs, child, nb__child_keys, "child"))
            return false;
        const char *given = nb__str(cs, child, "key", NULL);
        if (given)
            snprintf(key, sizeof(key), "%s", given);
        if (nb__get(cs, child, "date_of_birth") &&
            !nb__date(cs, child, "date_of_birth", &subj.date_of_birth))
            return false;
        if (nb__get(cs, child, "expected_delivery_date") &&
            !nb__date(cs, child, "expected_delivery_date", &subj.expected_delivery_date))
            return false;
        subj.self_managing = nb__bool(cs, child, "self_managing", 0) == 1;
    }
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = dict ? nb_ledger_new(dict) : NULL;
    nb__ids_t *ids = calloc(1, sizeof(*ids));
    if (!led || !ids) {
        nb_ledger_destroy(led);
        nb_ledger_dict_destroy(dict);
        free(ids);
        return false;
    }
    nb_ledger_set_dates(led, subj.date_of_birth, subj.expected_delivery_date);
    nb_notify_state_t ns;
    memset(&ns, 0, sizeof(ns));
    yaml_node_t *steps = nb__get(cs, c, "steps");
    if (steps) {
        /* Facts and events given at the case level hold from the first step on. */
        yaml_node_t *items[256];
        size_t n = nb__items(cs, nb__get(cs, c, "facts"), items, 256);
        for (size_t i = 0; i < n && ok; i++)
            ok = nb__apply_fact(cs, items[i], led);
        n = nb__items(cs, nb__get(cs, c, "events"), items, 256);
        for (size_t i = 0; i < n && ok; i++)
            ok = nb__apply_event(cs, items[i], led, ids, subj.date_of_birth,
                                 subj.expected_delivery_date);
        if (nb__get(cs, c, "now") || nb__get(cs, c, "expect")) {
            nb__cerr(cs, c, "a case with 'steps' gives 'now' and 'expect' in each step");
            ok = false;
        }
        n = ok ? nb__items(cs, steps, items, 64) : 0;
        for (size_t i = 0; i < n; i++) {
            if (!nb__keys_ok(cs, items[i], nb__step_keys, "a step")) {
                ok = false;
                break;
            }
            ok = nb__run_step(cs, run, items[i], led, &ns, ids, &subj, (int)i + 1) && ok;
        }
    } else {
        ok = nb__run_step(cs, run, c, led, &ns, ids, &subj, 1);
    }
    nb_ledger_destroy(led);
    nb_ledger_dict_destroy(dict);
    free(ids);
    return ok;
}

/* Reads and parses the case file into cs->doc (which the caller then deletes); false, with
 * the error printed, when it cannot be opened or is not YAML. */
static bool nb__load_cases(nb__cases_t *cs, const char *cases)
{
    memset(cs, 0, sizeof(*cs));
    cs->file = cases;
    FILE *fp = fopen(cases, "rb");
    if (!fp) {
        perror(cases);
        return false;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &cs->doc)) {
        fprintf(stderr, "%s:%d:%d: error: %s\n", cases, (int)parser.problem_mark.line + 1,
                (int)parser.problem_mark.column + 1,
                parser.problem ? parser.problem : "malformed YAML");
        yaml_parser_delete(&parser);
        fclose(fp);
        return false;
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    return true;
}

/* Runs every case of the file, printing PASS or FAIL for each and counting them; problems
 * in the file itself are counted in cs->errors. */
static void nb__run_cases(nb__cases_t *cs, nb__run_t *run, int *passed, int *failed)
{
    yaml_node_t *root = yaml_document_get_root_node(&cs->doc);
    static const char *const top_keys[] = {"cases", "notes", NULL};
    yaml_node_t *list = NULL;
    if (!run->res || !root || !nb__keys_ok(cs, root, top_keys, "the case file") ||
        !(list = nb__get(cs, root, "cases")) || list->type != YAML_SEQUENCE_NODE) {
        if (root && !list)
            nb__cerr(cs, root, "the case file needs 'cases', a list");
        return;
    }
    int index = 0;
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         it < list->data.sequence.items.top; it++) {
        const char *name;
        run->why_len = 0;
        run->why[0] = '\0';
        int before = cs->errors;
        bool ok = nb__run_case(cs, run, nb__n(cs, *it), ++index, &name) && cs->errors == before;
        if (ok) {
            (*passed)++;
            printf("PASS  %s\n", name);
        } else {
            (*failed)++;
            printf("FAIL  %s%s\n", name, run->why);
        }
    }
}

/* Lists the rules of the policy that no case expects to fire; returns how many. */
static size_t nb__print_coverage(const nb_policy_t *pol, const nb__run_t *run)
{
    size_t uncovered = 0;
    for (size_t r = 0; r < nb_policy_rule_count(pol); r++) {
        if (!(run->covered >> r & 1)) {
            if (uncovered++ == 0)
                printf("rules no case expects to fire:");
            printf(" %s", nb_policy_rule(pol, r)->id);
        }
    }
    if (uncovered)
        printf("\n");
    else
        printf("every rule of the policy is expected to fire by at least one case\n");
    return uncovered;
}

int nb__policy_test(int argc, char **argv)
{
    const char *cases = NULL;
    bool coverage = false, verbose = false;
    char *files[NB_POLICY_MAX_FILES];
    int n_files = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
            cases = argv[++i];
        else if (strncmp(argv[i], "--cases=", 8) == 0)
            cases = argv[i] + 8;
        else if (strcmp(argv[i], "--coverage") == 0)
            coverage = true;
        else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            verbose = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return -1;
        else if (n_files < NB_POLICY_MAX_FILES)
            files[n_files++] = argv[i];
        else
            return -1;
    }
    if (!cases || n_files == 0)
        return -1;
    int n_errors;
    nb_policy_t *pol = nb__load_policy(n_files, files, &n_errors);
    if (!pol) {
        fprintf(stderr, "the policy is not valid; run 'notbrought policy check'\n");
        return NB_EXIT_FAILURE;
    }
    nb__cases_t cs;
    if (!nb__load_cases(&cs, cases)) {
        nb_policy_destroy(pol);
        return NB_EXIT_FAILURE;
    }

    nb__run_t run;
    memset(&run, 0, sizeof(run));
    run.pol = pol;
    run.verbose = verbose;
    run.res = nb_policy_result_new();
    int passed = 0, failed = 0;
    nb__run_cases(&cs, &run, &passed, &failed);
    int rc = NB_EXIT_OK;
    printf("\n%d case%s: %d passed, %d failed\n", passed + failed,
           passed + failed == 1 ? "" : "s", passed, failed);
    size_t uncovered = nb__print_coverage(pol, &run);
    if (failed || cs.errors || (coverage && uncovered))
        rc = NB_EXIT_FAILURE;
    nb_policy_result_destroy(run.res);
    nb_notify_scratch_free(&run.plan);
    yaml_document_delete(&cs.doc);
    nb_policy_destroy(pol);
    return rc;
}
