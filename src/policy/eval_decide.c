/*
 * notbrought - policy: the decision a rule that fires makes (see eval.c): its evidence and
 * recipients, the modifiers that apply, its deterministic id and its state against what was
 * raised before, its respond-by and its escalation rungs. Pure, as eval.c.
 */
#include <nettle/sha2.h>
#include <string.h>

#include "policy/internal.h"

static uint64_t nb__fingerprint(const nb__rule_t *r, const nb__fire_t *f)
{
    uint8_t buf[8 + NB_NOTIF_MAX_EVIDENCE * 9 + 8];
    size_t len = 0;
    uint64_t keys[NB_NOTIF_MAX_EVIDENCE];
    uint8_t sts[NB_NOTIF_MAX_EVIDENCE];
    size_t n = 0;
    /* Absence deadlines are identified by the deadline; count rules by their events. */
    if (r->kind == NB__RULE_ABSENCE && r->by != NB__BY_WORKING_DAYS) {
        nb_le_put(buf + len, f->fp_extra, 8);
        len += 8;
    } else {
        for (size_t i = 0; i < f->n_ev; i++) {
            size_t k = n++;
            while (k > 0 && keys[k - 1] > f->ev[i]->appt_hash) {
                keys[k] = keys[k - 1];
                sts[k] = sts[k - 1];
                k--;
            }
            keys[k] = f->ev[i]->appt_hash;
            sts[k] = f->ev[i]->status;
        }
        buf[len++] = 'E';
        for (size_t i = 0; i < n; i++) {
            nb_le_put(buf + len, keys[i], 8);
            len += 8;
            buf[len++] = sts[i];
        }
    }
    /* Nettle's SHA-256 on a context of its own, on the stack: OpenSSL's EVP layer spent as
     * much on each digest's set-up as on the digest (docs/benchmarks.md). */
    struct sha256_ctx c;
    uint8_t out[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, len, buf);
    sha256_digest(&c, sizeof(out), out);
    return nb_le_get(out, 8);
}

static void nb__decision_id(const char *key, const char *rule_id, uint64_t fp,
                            uint8_t id[NB_LEDGER_ID_BYTES])
{
    static const char tag[] = "notbrought.decision.v1";
    uint8_t fpb[8], out[SHA256_DIGEST_SIZE];
    struct sha256_ctx c;
    nb_le_put(fpb, fp, 8);
    sha256_init(&c);
    sha256_update(&c, sizeof(tag), (const uint8_t *)tag); /* with its NUL: a separator */
    sha256_update(&c, strlen(key) + 1, (const uint8_t *)key);
    sha256_update(&c, strlen(rule_id) + 1, (const uint8_t *)rule_id);
    sha256_update(&c, sizeof(fpb), fpb);
    sha256_digest(&c, sizeof(out), out);
    memcpy(id, out, NB_LEDGER_ID_BYTES);
}

static void nb__add_role(nb_policy_decision_t *d, const nb_policy_role_t *role)
{
    if (!role)
        return;
    for (size_t i = 0; i < d->n_recipients; i++)
        if (d->recipients[i] == role)
            return;
    if (d->n_recipients < NB_NOTIF_MAX_RECIPIENTS)
        d->recipients[d->n_recipients++] = role;
}

static void nb__add_ctx(nb_policy_decision_t *d, const nb_ledger_fact_t *const *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < d->n_context; k++)
            dup |= d->context[k] == f[i];
        if (!dup && d->n_context < NB_NOTIF_MAX_CONTEXT)
            d->context[d->n_context++] = f[i];
    }
}

/* What the decision says before the modifiers: the rule, its recipients, the evidence and
 * the counts behind it, and the context facts its subject used. */
static void nb__decide_evidence(nb_policy_decision_t *d, const nb__rule_t *r,
                                const nb__fire_t *f)
{
    d->rule = &r->info;
    d->shadow = r->info.shadow;
    d->as_dna = f->as_dna;
    d->base_tier = r->info.tier;
    d->tier = r->info.tier;
    d->deadline = f->deadline;
    d->digest = r->info.digest;
    d->n_recipients = 0;
    d->covered_by[0] = '\0';
    d->covered_by_rule = NULL;
    d->n_covered = 0;
    for (size_t i = 0; i < r->to.n; i++)
        nb__add_role(d, r->to.roles[i]);
    d->n_evidence = f->n_ev;
    d->evidence_max_min = INT32_MIN;
    for (size_t i = 0; i < f->n_ev; i++) {
        d->evidence[i] = f->ev[i];
        if (f->ev[i]->start_min > d->evidence_max_min)
            d->evidence_max_min = f->ev[i]->start_min;
    }
    if (r->kind == NB__RULE_ABSENCE && r->by != NB__BY_WORKING_DAYS)
        d->evidence_max_min = nb_ledger_minutes(f->deadline);
    d->n_counts = 1;
    d->counts[0].window_days = f->window_days;
    d->counts[0].count = f->count;
    d->counts[0].agencies = f->agencies;
    d->n_context = 0;
    nb__add_ctx(d, f->ctx, f->n_ctx);
}

/* Modifiers, in the order the policy lists them: the tier, more recipients and context, and
 * a response time, which replaces *respond (and sets *respond_set) when a modifier gives
 * one. */
static void nb__decide_modifiers(const nb__ev_t *ev, nb_policy_decision_t *d, size_t ri,
                                 nb__respond_t *respond, bool *respond_set)
{
    const nb_policy_t *pol = ev->pol;
    d->n_modifiers = 0;
    int tier = (int)d->tier;
    for (size_t m = 0; m < pol->n_modifiers; m++) {
        const nb__modifier_t *mod = &pol->modifiers[m];
        const nb_ledger_fact_t *used[NB_NOTIF_MAX_CONTEXT];
        size_t n_used = 0;
        if (!(mod->rule_mask >> ri & 1) || !nb__spred(ev, &mod->subject, NULL, used, &n_used))
            continue;
        if (mod->set_tier != NB__UNSET && tier < mod->set_tier)
            tier = mod->set_tier;
        tier += mod->raise;
        if (tier > NB_TIER_URGENT)
            tier = NB_TIER_URGENT;
        if (mod->respond.kind != NB__RESPOND_NONE) {
            *respond = mod->respond;
            *respond_set = true;
        }
        for (size_t i = 0; i < mod->add_to.n; i++)
            nb__add_role(d, mod->add_to.roles[i]);
        nb__add_ctx(d, used, n_used);
        if (d->n_modifiers < NB_POLICY_MAX_APPLIED)
            d->modifiers[d->n_modifiers++] = mod->id;
    }
    d->tier = (nb_tier_t)tier;
}

/* Identity and state against what was raised before. */
static void nb__decide_state(const nb__ev_t *ev, nb_policy_result_t *res,
                             nb_policy_decision_t *d, const nb__rule_t *r, const nb__fire_t *f,
                             const char *key)
{
    d->fingerprint = nb__fingerprint(r, f);
    nb__decision_id(key, r->info.id, d->fingerprint, d->id_bytes);
    nb_ledger_id_format(d->id_bytes, d->id);
    d->related[0] = '\0';
    d->state = NB_POLICY_NEW;
    d->decided_at = ev->now;
    size_t n_raised;
    const nb_ledger_raised_t *raised = nb_ledger_raised(ev->led, &n_raised);
    const nb_ledger_raised_t *latest = NULL;
    for (size_t i = 0; i < n_raised; i++) {
        const nb_ledger_raised_t *x = &raised[i];
        if (x->rule_hash != r->info.hash)
            continue;
        /* The same rule over the same evidence raised under another key of this child (the
         * key of its pregnancy before a link named the pregnant person by NHS number, an old
         * NHS number): the same notification, which keeps its id rather than being raised
         * again. */
        if (memcmp(x->id, d->id_bytes, NB_LEDGER_ID_BYTES) == 0 ||
            x->fingerprint == d->fingerprint) {
            memcpy(d->id_bytes, x->id, NB_LEDGER_ID_BYTES);
            nb_ledger_id_format(d->id_bytes, d->id);
            d->state = NB_POLICY_RAISED;
            d->decided_at = x->raised_at;
            latest = NULL;
            break;
        }
        if (!latest || x->raised_at >= latest->raised_at)
            latest = x;
    }
    if (latest) {
        nb_ledger_id_format(latest->id, d->related);
        bool cooling =
            ev->now - latest->raised_at < (int64_t)r->info.cooldown_days * NB_MS_PER_DAY;
        if (cooling && d->evidence_max_min <= latest->evidence_max_min)
            d->state = NB_POLICY_SUPPRESSED;
    }
}

/* Rungs: from the respond-by, or from the decision; only an early alert may fall before the
 * respond-by (the loader refuses a policy where another could; this holds at run time
 * whatever the calendar does). Due times never go backwards.
 * The ladder: the rule's own; a decision the modifiers moved to another tier follows that
 * tier's ladder when the policy gives one (an urgent notification does not wait for a
 * routine ladder's first rung). The one reading of a ladder: the daemon's decisions
 * (nb__decide_rungs()) and the inbox's pages (nb_policy_ladder()) both come here.
 * @returns whether it is the tier's ladder. */
static bool nb__ladder(const nb_policy_t *pol, const nb__rule_t *r, nb_tier_t tier,
                       int64_t decided_at, int64_t respond_by, nb_policy_rung_t *rungs,
                       size_t *n_rungs, const nb_policy_ownership_t **ownership)
{
    const nb__flat_t *flat = r->flat;
    size_t n_flat = r->n_rungs;
    bool of_tier = nb__ladder_of_tier(pol, r, tier);
    if (of_tier) {
        flat = pol->tiers[tier].flat;
        n_flat = pol->tiers[tier].n_rungs;
    }
    *ownership = &nb__own_at(pol, r, tier)->pub;
    *n_rungs = n_flat;
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < n_flat; i++) {
        nb_policy_rung_t *g = &rungs[i];
        int64_t due;
        if (flat[i].from == NB__FROM_RESPOND_BY && respond_by != NB_TIME_NONE) {
            due = respond_by + flat[i].after_ms;
        } else {
            due = decided_at + flat[i].after_ms;
            if (!flat[i].early && respond_by != NB_TIME_NONE && due < respond_by)
                due = respond_by;
        }
        if (due < prev)
            due = prev;
        prev = due;
        g->due = due;
        g->after_ms = due - decided_at;
        g->early = flat[i].early;
        g->tier = flat[i].tier > tier ? flat[i].tier : tier;
        g->n_roles = 0;
        for (size_t k = 0; k < flat[i].to->n; k++)
            if (flat[i].to->roles[k] && g->n_roles < NB_NOTIF_MAX_RECIPIENTS)
                g->roles[g->n_roles++] = flat[i].to->roles[k];
    }
    return of_tier;
}

static void nb__decide_rungs(const nb_policy_t *pol, nb_policy_decision_t *d, const nb__rule_t *r)
{
    d->ladder_of_tier = nb__ladder(pol, r, d->tier, d->decided_at, d->respond_by, d->rungs,
                                   &d->n_rungs, &d->ownership);
}

nb_err_t nb_policy_ladder(const nb_policy_t *pol, const nb_policy_rule_info_t *rule, nb_tier_t tier,
                          int64_t decided_at, int64_t respond_by, nb_policy_ladder_t *out)
{
    const nb__rule_t *r = NULL;
    for (size_t i = 0; i < pol->n_rules && !r; i++)
        if (&pol->rules[i].info == rule)
            r = &pol->rules[i];
    memset(out, 0, sizeof(*out));
    out->ownership = &pol->own.pub;
    if (!r || (unsigned)tier >= NB_TIER__COUNT)
        return NB_ERR_INVALID_ARG;
    out->rule_tier = r->info.tier;
    out->of_tier = nb__ladder(pol, r, tier, decided_at, respond_by, out->rungs, &out->n_rungs,
                              &out->ownership);
    out->id = out->of_tier ? pol->tiers[tier].ladder_id : r->ladder_id;
    for (size_t i = 0; out->id && i < pol->n_ladders; i++)
        if (strcmp(pol->ladders[i].id, out->id) == 0)
            out->title = pol->ladders[i].title;
    return NB_ERR_OK;
}

/* Respond by: a modifier's own response time; else, when the modifiers changed the tier, the
 * new tier's default, unless the rule's own is sooner (a higher tier never waits longer); else
 * the rule's own or its tier's default. Then the rungs. Both from d->decided_at. */
static void nb__decide_times(const nb_policy_t *pol, nb_policy_decision_t *d, const nb__rule_t *r,
                             const nb__respond_t *respond, bool respond_set)
{
    d->respond_by = nb__policy_respond_by(pol, respond, d->decided_at);
    if (!respond_set && d->tier != d->base_tier &&
        pol->tiers[d->tier].respond.kind != NB__RESPOND_NONE) {
        int64_t by = nb__policy_respond_by(pol, &pol->tiers[d->tier].respond, d->decided_at);
        if (d->respond_by == NB_TIME_NONE || by < d->respond_by)
            d->respond_by = by;
    }
    nb__decide_rungs(pol, d, r);
}

void nb__decide(const nb__ev_t *ev, nb_policy_result_t *res, size_t ri, const nb__fire_t *f,
                const char *key)
{
    const nb_policy_t *pol = ev->pol;
    const nb__rule_t *r = &pol->rules[ri];
    nb_policy_decision_t *d = &res->decisions[res->n_decisions++];
    nb__respond_t respond = r->eff_respond; /* the rule's own, or its tier's default */
    bool respond_set = false;               /* a modifier said how soon */

    nb__decide_evidence(d, r, f);
    nb__decide_modifiers(ev, d, ri, &respond, &respond_set);
    nb__decide_state(ev, res, d, r, f, key);
    nb__decide_times(pol, d, r, &respond, respond_set);
}

/* A raised notification of rule @p ri that the rule still supports but now decides over
 * other evidence (a newer missed appointment raised another notification, or an older one
 * recorded late was suppressed in the cool-down). Nothing acknowledged it, so its ladder goes
 * on: the decision it escalates by is the one a raised decision re-evaluated now gets
 * (nb__decide_state's "raised"): @p f, what the rule found when it was raised, with its id,
 * fingerprint and raised time, the modifiers as they apply now, and the respond-by and rungs
 * counted from its raised time. */
void nb__decide_carried(const nb__ev_t *ev, size_t ri, const nb__fire_t *f,
                        const nb_ledger_raised_t *x, nb_policy_decision_t *out)
{
    const nb_policy_t *pol = ev->pol;
    const nb__rule_t *r = &pol->rules[ri];
    nb__respond_t respond = r->eff_respond;
    bool respond_set = false;
    memset(out, 0, sizeof(*out));
    nb__decide_evidence(out, r, f);
    nb__decide_modifiers(ev, out, ri, &respond, &respond_set);
    memcpy(out->id_bytes, x->id, NB_LEDGER_ID_BYTES);
    nb_ledger_id_format(out->id_bytes, out->id);
    out->fingerprint = x->fingerprint;
    out->state = NB_POLICY_RAISED;
    out->decided_at = x->raised_at;
    nb__decide_times(pol, out, r, &respond, respond_set);
}
