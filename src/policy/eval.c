/*
 * notbrought - policy: the engine. Evaluates every rule over one child's ledger at a given
 * time. Pure: no I/O, no clock, no allocation (the result object carries the scratch space).
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"


nb_policy_result_t *nb_policy_result_new(void)
{
    nb_policy_result_t *res = calloc(1, sizeof(*res));
    if (!res)
        return NULL;
    if (!(res->md = EVP_MD_CTX_new())) {
        free(res);
        return NULL;
    }
    return res;
}

void nb_policy_result_destroy(nb_policy_result_t *res)
{
    if (!res)
        return;
    EVP_MD_CTX_free(res->md);
    free(res);
}

const nb_policy_decision_t *nb_policy_result_decisions(const nb_policy_result_t *res, size_t *n)
{
    *n = res->n_decisions;
    return res->decisions;
}

const nb_policy_raised_status_t *nb_policy_result_raised(const nb_policy_result_t *res, size_t *n)
{
    *n = res->n_raised;
    return res->raised;
}

int64_t nb_policy_result_next_due(const nb_policy_result_t *res)
{
    return res->next_due;
}

const char *nb_policy_support_name(nb_policy_support_t s)
{
    static const char *const names[] = {"supported", "withdrawn", "resolved", "expired",
                                        "rule_removed"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *nb_policy_state_name(nb_policy_state_t s)
{
    static const char *const names[] = {"new", "raised", "suppressed"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *nb_policy_digest_name(nb_policy_digest_t d)
{
    static const char *const names[] = {"none", "daily", "weekly"};
    return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "?";
}

/* ---- evaluation context ------------------------------------------------------------------ */


static void nb__ev_at(nb__ev_t *ev, int64_t now)
{
    ev->now = now;
    ev->now_min = nb_ledger_minutes(now);
    ev->today = nb_day_of(now);
    ev->kind = NB__KIND_UNKNOWN;
    ev->age_months = NB__UNSET;
    ev->gestation = NB__UNSET;
    if (ev->dob != NB_DATE_NONE && ev->dob <= ev->today) {
        ev->kind = NB_SUBJECT_CHILD;
        ev->age_months = nb_age_months(ev->dob, ev->today);
    } else if (ev->edd != NB_DATE_NONE) {
        ev->kind = NB_SUBJECT_UNBORN;
        ev->gestation = 280 - (ev->edd - ev->today);
    }    /* A young person of the age the policy gives (defaults.self_managing_from_age) manages
     * their own appointments unless said otherwise: they "did not attend". */
    ev->self_managing = ev->said_self_managing ||
                        (ev->age_months != NB__UNSET &&
                         ev->age_months >= ev->pol->self_managing_from_age * 12);
}

static bool nb__in(const nb__range_t *r, int32_t v)
{
    if (r->min == NB__UNSET && r->max == NB__UNSET)
        return true;
    if (v == NB__UNSET)
        return false;
    return (r->min == NB__UNSET || v >= r->min) && (r->max == NB__UNSET || v <= r->max);
}

/* Does appointment i satisfy one alternative? */
static bool nb__epred(const nb__ev_t *ev, const nb__epred_t *e, size_t i, bool ignore_status)
{
    const nb_ledger_appt_t *a = &ev->appts[i];
    if (!ignore_status && e->statuses && !(e->statuses >> a->status & 1))
        return false;
    if (e->agencies && !(e->agencies >> a->agency & 1))
        return false;
    if (e->modes && !(e->modes >> a->mode & 1))
        return false;
    if (e->subjects &&
        !(e->subjects >> (a->flags & NB_LEDGER_UNBORN ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD) &
          1))
        return false;
    if (e->mandated != NB__UNSET && ((a->flags & NB_LEDGER_MANDATED) != 0) != (e->mandated != 0))
        return false;
    if (e->types && !(e->types & ev->type_bits[i]))
        return false;
    if (e->gestation.min != NB__UNSET || e->gestation.max != NB__UNSET) {
        if (ev->edd == NB_DATE_NONE)
            return false;
        int32_t day = (int32_t)(a->start_min >= 0 ? a->start_min / 1440
                                                  : (a->start_min - 1439) / 1440);
        if (!nb__in(&e->gestation, 280 - (ev->edd - day)))
            return false;
    }
    if (e->age_days.min != NB__UNSET || e->age_days.max != NB__UNSET) {
        if (ev->dob == NB_DATE_NONE)
            return false;
        int32_t day = (int32_t)(a->start_min >= 0 ? a->start_min / 1440
                                                  : (a->start_min - 1439) / 1440);
        if (!nb__in(&e->age_days, day - ev->dob))
            return false;
    }
    return true;
}

static bool nb__match(const nb__ev_t *ev, const nb__match_t *m, size_t i, bool ignore_status)
{
    if (m->n == 0)
        return true;
    for (size_t k = 0; k < m->n; k++)
        if (nb__epred(ev, &m->alt[k], i, ignore_status))
            return true;
    return false;
}

/* Facts that apply on the evaluation day: a mask of kinds, and which entries. */
static uint32_t nb__facts(const nb__ev_t *ev, int32_t ended_within, uint32_t want,
                          const nb_ledger_fact_t **used, size_t *n_used)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < ev->n_facts; i++) {
        const nb_ledger_fact_t *f = &ev->facts[i];
        if (f->status != NB_FACT_STATUS_CURRENT || f->start_date > ev->today)
            continue;
        if (f->end_date != NB_DATE_NONE && (int64_t)f->end_date + ended_within < ev->today)
            continue;
        mask |= 1u << f->kind;
        if (used && (want >> f->kind & 1) && *n_used < NB_NOTIF_MAX_CONTEXT) {
            bool dup = false;
            for (size_t k = 0; k < *n_used; k++)
                dup |= used[k] == f;
            if (!dup)
                used[(*n_used)++] = f;
        }
    }
    return mask;
}

/* Does the child satisfy a subject predicate? */
bool nb__spred(const nb__ev_t *ev, const nb__spred_t *s, bool *as_dna,
                      const nb_ledger_fact_t **used, size_t *n_used)
{
    if (s->kinds && (ev->kind == NB__KIND_UNKNOWN || !(s->kinds >> ev->kind & 1)))
        return false;
    if (!nb__in(&s->age_months, ev->age_months))
        return false;
    if (!nb__in(&s->gestation, ev->gestation))
        return false;
    if (s->facts_any || s->facts_none) {
        int32_t within = s->ended_within_days == NB__UNSET ? 0 : s->ended_within_days;
        uint32_t mask = nb__facts(ev, within, s->facts_any, NULL, NULL);
        if (s->facts_any && !(mask & s->facts_any))
            return false;
        if (s->facts_none && (mask & s->facts_none))
            return false;
        if (used && s->facts_any)
            nb__facts(ev, within, s->facts_any, used, n_used);
    }
    if (ev->self_managing &&
        (ev->age_months == NB__UNSET || (ev->age_months >= 192 && ev->age_months < 216))) {
        if (s->self_managing == NB__SELF_EXCLUDE)
            return false;
        if (s->self_managing == NB__SELF_AS_DNA && as_dna)
            *as_dna = true;
    }
    return true;
}

/* ---- one rule ---------------------------------------------------------------------------- */

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

static bool nb__is_outcome(unsigned st)
{
    return st == NB_STATUS_ATTENDED || st == NB_STATUS_WAS_NOT_BROUGHT ||
           st == NB_STATUS_NO_ACCESS_VISIT || st == NB_STATUS_CANCELLED_BY_PATIENT;
}

static int nb__popcount(uint32_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* Is there an expected contact (not entered in error) scheduled in (after_min, now]? */
static bool nb__contact(const nb__ev_t *ev, const nb__match_t *expect, int32_t after_min)
{
    for (size_t i = ev->n; i-- > 0;) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->start_min > ev->now_min)
            continue;
        if (a->start_min <= after_min)
            break;
        if (a->status != NB_STATUS_ENTERED_IN_ERROR && nb__match(ev, expect, i, false))
            return true;
    }
    return false;
}

static bool nb__rule_fires(const nb__ev_t *ev, const nb__rule_t *r, nb__fire_t *out)
{
    out->n_ev = 0;
    out->count = out->agencies = 0;
    out->window_days = 0;
    out->deadline = NB_TIME_NONE;
    out->fp_extra = 0;
    out->as_dna = false;
    out->n_ctx = 0;
    if (!nb__spred(ev, &r->subject, &out->as_dna, out->ctx, &out->n_ctx))
        return false;

    if (r->kind == NB__RULE_COUNT) {
        int32_t from = r->within_days == NB__UNSET
                           ? INT32_MIN
                           : ev->now_min - r->within_days * 1440;
        uint32_t agencies = 0;
        int32_t count = 0;
        out->window_days = r->within_days == NB__UNSET ? 0 : r->within_days;
        if (r->consecutive == NB__UNSET) {
            for (size_t i = ev->n; i-- > 0;) {
                const nb_ledger_appt_t *a = &ev->appts[i];
                if (a->start_min > ev->now_min)
                    continue;
                if (a->start_min < from)
                    break;
                if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__match(ev, &r->match, i, false))
                    continue;
                count++;
                agencies |= 1u << a->agency;
                if (out->n_ev < NB_NOTIF_MAX_EVIDENCE)
                    out->ev[out->n_ev++] = a;
            }
            out->count = count;
            out->agencies = nb__popcount(agencies);
            return count >= r->at_least &&
                   (r->distinct_agencies == NB__UNSET || out->agencies >= r->distinct_agencies);
        }
        /* N in a row: the latest outcomes of appointments of this kind. */
        for (size_t i = ev->n; i-- > 0;) {
            const nb_ledger_appt_t *a = &ev->appts[i];
            if (a->start_min > ev->now_min || !nb__is_outcome(a->status))
                continue;
            if (a->start_min < from)
                break;
            if (!nb__match(ev, &r->match, i, true))
                continue;
            if (!nb__match(ev, &r->match, i, false))
                break;
            count++;
            agencies |= 1u << a->agency;
            if (out->n_ev < NB_NOTIF_MAX_EVIDENCE)
                out->ev[out->n_ev++] = a;
            if (count >= r->consecutive)
                break;
        }
        out->count = count;
        out->agencies = nb__popcount(agencies);
        return count >= r->consecutive &&
               (r->distinct_agencies == NB__UNSET || out->agencies >= r->distinct_agencies);
    }

    /* Absence rules. */
    if (r->by == NB__BY_WORKING_DAYS) {
        int32_t from = ev->now_min - r->lookback_days * 1440;
        for (size_t i = ev->n; i-- > 0;) {
            const nb_ledger_appt_t *a = &ev->appts[i];
            if (a->start_min > ev->now_min)
                continue;
            if (a->start_min < from)
                break;
            if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__match(ev, &r->match, i, false))
                continue;
            /* The latest trigger decides. */
            int64_t deadline =
                nb_policy_add_working_days(ev->pol, (int64_t)a->start_min * 60000, r->by_value);
            if (ev->now <= deadline || nb__contact(ev, &r->expect, a->start_min))
                return false;
            out->deadline = deadline;
            out->ev[out->n_ev++] = a;
            out->count = 1;
            out->agencies = 1;
            return true;
        }
        return false;
    }
    int32_t deadline_day;
    if (r->by == NB__BY_GESTATION) {
        if (ev->edd == NB_DATE_NONE)
            return false;
        deadline_day = ev->edd - 280 + r->by_value;
    } else {
        if (ev->dob == NB_DATE_NONE)
            return false;
        deadline_day = ev->dob + r->by_value;
    }
    /* "By 10+0" and "by day 14" include that day: late from the next day on. */
    int64_t deadline = ((int64_t)deadline_day + 1) * NB_MS_PER_DAY;
    if (ev->now < deadline || nb__contact(ev, &r->expect, INT32_MIN))
        return false;
    out->deadline = deadline;
    out->fp_extra = (uint64_t)(uint32_t)deadline_day | (uint64_t)r->by << 32;
    /* Evidence: appointments of the expected kind that did not happen. */
    for (size_t i = ev->n; i-- > 0 && out->n_ev < NB_NOTIF_MAX_EVIDENCE;) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->start_min <= ev->now_min && a->status != NB_STATUS_ENTERED_IN_ERROR &&
            nb__match(ev, &r->expect, i, true))
            out->ev[out->n_ev++] = a;
    }
    out->count = (int32_t)out->n_ev;
    return true;
}

/*
 * When an absence rule would fire next if nothing more were recorded: the first instant after
 * @p after at which it fires (its deadline, or just past it for working days, which are late
 * only once the deadline has passed), or NB_TIME_NONE. The rule is evaluated at that instant,
 * so a subject it will no longer apply to, or a contact already recorded, gives none.
 */
static int64_t nb__absence_next(const nb__ev_t *ev, const nb__rule_t *r, int64_t after)
{
    int64_t at;
    if (r->kind != NB__RULE_ABSENCE)
        return NB_TIME_NONE;
    if (r->by == NB__BY_WORKING_DAYS) {
        /* The latest trigger up to now decides (as in nb__rule_fires). */
        int32_t from = ev->now_min - r->lookback_days * 1440;
        at = NB_TIME_NONE;
        for (size_t i = ev->n; i-- > 0;) {
            const nb_ledger_appt_t *a = &ev->appts[i];
            if (a->start_min > ev->now_min)
                continue;
            if (a->start_min < from)
                break;
            if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__match(ev, &r->match, i, false))
                continue;
            at = nb_policy_add_working_days(ev->pol, (int64_t)a->start_min * 60000,
                                            r->by_value) + 1;
            break;
        }
    } else if (r->by == NB__BY_GESTATION) {
        at = ev->edd == NB_DATE_NONE
                 ? NB_TIME_NONE
                 : ((int64_t)(ev->edd - 280 + r->by_value) + 1) * NB_MS_PER_DAY;
    } else {
        at = ev->dob == NB_DATE_NONE ? NB_TIME_NONE
                                     : ((int64_t)(ev->dob + r->by_value) + 1) * NB_MS_PER_DAY;
    }
    if (at == NB_TIME_NONE || at <= after)
        return NB_TIME_NONE;
    nb__ev_t then = *ev;
    nb__fire_t f;
    nb__ev_at(&then, at);
    return nb__rule_fires(&then, r, &f) ? at : NB_TIME_NONE;
}

/* ---- decisions --------------------------------------------------------------------------- */

static uint64_t nb__fingerprint(EVP_MD_CTX *md, const nb__rule_t *r, const nb__fire_t *f)
{
    uint8_t buf[8 + NB_NOTIF_MAX_EVIDENCE * 9 + 8];
    size_t len = 0;
    uint64_t keys[NB_NOTIF_MAX_EVIDENCE];
    uint8_t sts[NB_NOTIF_MAX_EVIDENCE];
    size_t n = 0;
    /* Absence deadlines are identified by the deadline; count rules by their events. */
    if (r->kind == NB__RULE_ABSENCE && r->by != NB__BY_WORKING_DAYS) {
        for (int i = 0; i < 8; i++)
            buf[len++] = (uint8_t)(f->fp_extra >> (8 * i));
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
            for (int b = 0; b < 8; b++)
                buf[len++] = (uint8_t)(keys[i] >> (8 * b));
            buf[len++] = sts[i];
        }
    }
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int olen = 0;
    uint64_t h = 0;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, buf, len) &&
        EVP_DigestFinal_ex(md, out, &olen))
        for (int i = 7; i >= 0; i--)
            h = (h << 8) | out[i];
    return h;
}

static void nb__decision_id(EVP_MD_CTX *md, const char *key, const char *rule_id, uint64_t fp,
                            uint8_t id[NB_LEDGER_ID_BYTES])
{
    static const char tag[] = "notbrought.decision.v1";
    uint8_t fpb[8];
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int olen = 0;
    for (int i = 0; i < 8; i++)
        fpb[i] = (uint8_t)(fp >> (8 * i));
    memset(out, 0, sizeof(out));
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_DigestUpdate(md, tag, sizeof(tag)); /* with its NUL: a separator */
        EVP_DigestUpdate(md, key, strlen(key) + 1);
        EVP_DigestUpdate(md, rule_id, strlen(rule_id) + 1);
        EVP_DigestUpdate(md, fpb, sizeof(fpb));
        EVP_DigestFinal_ex(md, out, &olen);
    }
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

static void nb__decide(const nb__ev_t *ev, nb_policy_result_t *res, size_t ri,
                       const nb__fire_t *f, const char *key)
{
    const nb_policy_t *pol = ev->pol;
    const nb__rule_t *r = &pol->rules[ri];
    nb_policy_decision_t *d = &res->decisions[res->n_decisions++];
    nb__respond_t respond = r->eff_respond; /* the rule's own, or its tier's default */
    bool respond_set = false;               /* a modifier said how soon */

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

    /* Modifiers, in the order the policy lists them. */
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
            respond = mod->respond;
            respond_set = true;
        }
        for (size_t i = 0; i < mod->add_to.n; i++)
            nb__add_role(d, mod->add_to.roles[i]);
        nb__add_ctx(d, used, n_used);
        if (d->n_modifiers < NB_POLICY_MAX_APPLIED)
            d->modifiers[d->n_modifiers++] = mod->id;
    }
    d->tier = (nb_tier_t)tier;

    /* Identity and state against what was raised before. */
    d->fingerprint = nb__fingerprint(res->md, r, f);
    nb__decision_id(res->md, key, r->info.id, d->fingerprint, d->id_bytes);
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
    /* Respond by: a modifier's own response time; else, when the modifiers changed the tier,
     * the new tier's default, unless the rule's own is sooner (a higher tier never waits
     * longer); else the rule's own or its tier's default. */
    d->respond_by = nb__policy_respond_by(pol, &respond, d->decided_at);
    if (!respond_set && d->tier != d->base_tier &&
        pol->tiers[d->tier].respond.kind != NB__RESPOND_NONE) {
        int64_t by = nb__policy_respond_by(pol, &pol->tiers[d->tier].respond, d->decided_at);
        if (d->respond_by == NB_TIME_NONE || by < d->respond_by)
            d->respond_by = by;
    }
    /* Rungs: from the respond-by, or from the decision; only an early alert may fall before
     * the respond-by (the loader refuses a policy where another could; this holds at run time
     * whatever the calendar does). Due times never go backwards. */
    /* The ladder: the rule's own; a decision the modifiers moved to another tier follows that
     * tier's ladder when the policy gives one (an urgent notification does not wait for a
     * routine ladder's first rung). */
    const nb__flat_t *flat = r->flat;
    size_t n_flat = r->n_rungs;
    d->ladder_of_tier = false;
    if (d->tier != d->base_tier && pol->tiers[d->tier].n_rungs) {
        flat = pol->tiers[d->tier].flat;
        n_flat = pol->tiers[d->tier].n_rungs;
        d->ladder_of_tier = true;
    }
    d->n_rungs = n_flat;
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < n_flat; i++) {
        nb_policy_rung_t *g = &d->rungs[i];
        int64_t due;
        if (flat[i].from == NB__FROM_RESPOND_BY && d->respond_by != NB_TIME_NONE) {
            due = d->respond_by + flat[i].after_ms;
        } else {
            due = d->decided_at + flat[i].after_ms;
            if (!flat[i].early && d->respond_by != NB_TIME_NONE && due < d->respond_by)
                due = d->respond_by;
        }
        if (due < prev)
            due = prev;
        prev = due;
        g->due = due;
        g->after_ms = due - d->decided_at;
        g->early = flat[i].early;
        g->tier = flat[i].tier > d->tier ? flat[i].tier : d->tier;
        g->n_roles = 0;
        for (size_t k = 0; k < flat[i].to->n; k++)
            if (flat[i].to->roles[k] && g->n_roles < NB_NOTIF_MAX_RECIPIENTS)
                g->roles[g->n_roles++] = flat[i].to->roles[k];
    }
}

/* Which of the policy's types each appointment has (binary search on hashes). */
static void nb__type_bits(const nb_policy_t *pol, const nb_ledger_t *led, const nb__ev_t *ev,
                          nb_policy_result_t *res)
{
    if (!pol->n_types)
        return;
    const nb_ledger_dict_t *dict = nb_ledger_dict(led);
    for (size_t i = 0; i < ev->n; i++) {
        uint64_t h = nb_ledger_dict_hash(dict, ev->appts[i].type);
        size_t lo = 0, hi = pol->n_types;
        res->type_bits[i] = 0;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pol->type_index[mid].hash == h) {
                res->type_bits[i] = 1ull << pol->type_index[mid].bit;
                break;
            }
            if (pol->type_index[mid].hash < h)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
}

/* The evaluation context of one child's ledger at @p now_ms (what nb_policy_evaluate() and
 * nb_policy_why_not() both start from). */
static void nb__ev_init(nb__ev_t *ev, const nb_policy_t *pol, const nb_ledger_t *led,
                        const nb_policy_subject_t *subj, int64_t now_ms, nb_policy_result_t *res)
{
    memset(ev, 0, sizeof(*ev));
    ev->pol = pol;
    ev->led = led;
    ev->appts = nb_ledger_appts(led, &ev->n);
    ev->facts = nb_ledger_facts(led, &ev->n_facts);
    ev->dob = subj->date_of_birth != NB_DATE_NONE ? subj->date_of_birth
                                                  : nb_ledger_date_of_birth(led);
    ev->edd = subj->expected_delivery_date != NB_DATE_NONE ? subj->expected_delivery_date
                                                           : nb_ledger_expected_delivery(led);
    ev->said_self_managing = subj->self_managing;
    ev->type_bits = res->type_bits;
    nb__ev_at(ev, now_ms);
    nb__type_bits(pol, led, ev, res);
}

nb_err_t nb_policy_evaluate(const nb_policy_t *pol, const nb_ledger_t *led,
                            const nb_policy_subject_t *subj, int64_t now_ms,
                            nb_policy_result_t *res)
{
    nb__ev_t ev;
    res->n_decisions = 0;
    res->n_raised = 0;
    if (!subj || !subj->child_key || !subj->child_key[0] || strlen(subj->child_key) > NB_KEY_MAX)
        return NB_ERR_INVALID_ARG;
    nb__ev_init(&ev, pol, led, subj, now_ms, res);

    /* Absence deadlines are judged at absence_now (no later than now): a deadline that
     * passed by the clock but not yet by what the sources have recorded waits, so that a
     * record still on its way (a backlog) can answer it. */
    int64_t absence_now = subj->absence_now == NB_TIME_NONE || subj->absence_now > now_ms
                              ? now_ms
                              : subj->absence_now;
    nb__ev_t held = ev;
    if (absence_now != now_ms)
        nb__ev_at(&held, absence_now);
    uint64_t fired = 0;
    nb__fire_t f;
    res->next_due = NB_TIME_NONE;
    for (size_t ri = 0; ri < pol->n_rules; ri++) {
        const nb__rule_t *r = &pol->rules[ri];
        if (r->kind == NB__RULE_ABSENCE && absence_now != now_ms) {
            if (nb__rule_fires(&held, r, &f)) {
                nb__decide(&ev, res, ri, &f, subj->child_key);
                fired |= 1ull << ri;
            } else if (nb__rule_fires(&ev, r, &f)) {
                /* Passed by the clock, not yet by the sources: whatever was raised for it
                 * stays supported; nothing new until the sources catch up. */
                fired |= 1ull << ri;
            }
        } else if (nb__rule_fires(&ev, r, &f)) {
            nb__decide(&ev, res, ri, &f, subj->child_key);
            fired |= 1ull << ri;
        }
        if (r->kind == NB__RULE_ABSENCE) {
            /* Triggers and dates as known now; deadlines not yet judged. */
            int64_t at = nb__absence_next(&ev, r, absence_now);
            if (at != NB_TIME_NONE && (res->next_due == NB_TIME_NONE || at < res->next_due))
                res->next_due = at;
        }
    }

    /* Raised notifications: still supported? */
    size_t n_raised;
    const nb_ledger_raised_t *raised = nb_ledger_raised(led, &n_raised);
    for (size_t i = 0; i < n_raised && res->n_raised < NB_LEDGER_MAX_RAISED; i++) {
        nb_policy_raised_status_t *s = &res->raised[res->n_raised++];
        const nb_ledger_raised_t *x = &raised[i];
        nb_ledger_id_format(x->id, s->id);
        s->raised = x;
        s->rule = NULL;
        s->n_recipients = 0;
        size_t ri;
        for (ri = 0; ri < pol->n_rules; ri++)
            if (pol->rules[ri].info.hash == x->rule_hash)
                break;
        if (ri == pol->n_rules) {
            s->support = NB_POLICY_RULE_REMOVED;
            continue;
        }
        s->rule = &pol->rules[ri].info;
        s->n_recipients =
            nb__raised_recipients(&ev, ri, x, s->recipients, NB_NOTIF_MAX_RECIPIENTS);
        if (fired >> ri & 1) {
            s->support = NB_POLICY_SUPPORTED;
            continue;
        }
        const nb__rule_t *r = &pol->rules[ri];
        nb__ev_t then = ev;
        if (r->kind == NB__RULE_ABSENCE) {
            /* Was the deadline missed, given what is known now? (Judged at the deadline, not
             * when the notification was raised: that may be later, at the clock, while the
             * deadline was judged at the watermark.) Then the contact was recorded after the
             * deadline (resolved), or time moved on (the child was born, or grew out of the
             * rule: expired, it stands). */
            int64_t at = r->by == NB__BY_WORKING_DAYS
                             ? nb_policy_add_working_days(pol, (int64_t)x->evidence_max_min * 60000,
                                                          r->by_value) + 1
                             : (int64_t)x->evidence_max_min * 60000;
            nb__ev_at(&then, at);
            if (!nb__rule_fires(&then, r, &f))
                s->support = NB_POLICY_WITHDRAWN;
            else if (nb__contact(&ev, &r->expect, nb_ledger_minutes(at)))
                s->support = NB_POLICY_RESOLVED;
            else
                s->support = NB_POLICY_EXPIRED;
            continue;
        }
        /* Would the rule have fired when this was raised, given what is known now? */
        nb__ev_at(&then, x->raised_at);
        s->support = nb__rule_fires(&then, r, &f) ? NB_POLICY_EXPIRED : NB_POLICY_WITHDRAWN;
    }
    nb__overlaps(&ev, res);
    return NB_ERR_OK;
}

void nb_policy_decision_to_raised(const nb_policy_decision_t *d, nb_ledger_raised_t *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->id, d->id_bytes, NB_LEDGER_ID_BYTES);
    out->rule_hash = d->rule->hash;
    out->fingerprint = d->fingerprint;
    out->raised_at = d->decided_at;
    out->evidence_max_min = d->evidence_max_min;
    out->tier = (uint8_t)d->tier;
    out->level = 0;
}

/* ---- why a rule does not fire ------------------------------------------------------------ */

typedef struct nb__why_s {
    char *buf;
    size_t size, len;
} nb__why_t;

__attribute__((format(printf, 2, 3))) static void nb__say(nb__why_t *w, const char *fmt, ...)
{
    va_list ap;
    if (w->len + 1 >= w->size)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(w->buf + w->len, w->size - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len += (size_t)n < w->size - w->len ? (size_t)n : w->size - w->len - 1;
}

static void nb__say_mask(nb__why_t *w, uint32_t mask, const char *(*name)(int))
{
    int n = 0;
    for (int i = 0; i < 32; i++)
        if (mask >> i & 1)
            nb__say(w, "%s%s", n++ ? " or " : "", name(i));
}

static const char *nb__fact_nm(int i)
{
    return nb_fact_kind_name((nb_fact_kind_t)i);
}

static const char *nb__kind_nm(int i)
{
    return nb_subject_kind_name((nb_subject_kind_t)i);
}

static void nb__say_stage(nb__why_t *w, const nb__ev_t *ev)
{
    if (ev->kind == NB_SUBJECT_CHILD)
        nb__say(w, "a born child aged %d month%s", (int)ev->age_months,
                ev->age_months == 1 ? "" : "s");
    else if (ev->kind == NB_SUBJECT_UNBORN)
        nb__say(w, "an unborn child at %d+%d weeks", (int)(ev->gestation / 7),
                (int)(ev->gestation % 7));
    else
        nb__say(w, "a child whose life stage is unknown (no date of birth or expected delivery "
                   "date)");
}

static void nb__say_range(nb__why_t *w, const nb__range_t *r, bool weeks)
{
    if (r->min != NB__UNSET)
        weeks ? nb__say(w, "from %d+%d", (int)(r->min / 7), (int)(r->min % 7))
              : nb__say(w, "from %d", (int)r->min);
    if (r->max != NB__UNSET)
        weeks ? nb__say(w, "%sup to %d+%d", r->min != NB__UNSET ? " " : "", (int)(r->max / 7),
                        (int)(r->max % 7))
              : nb__say(w, "%sup to %d", r->min != NB__UNSET ? " " : "", (int)r->max);
}

/* Which subject condition fails, in the order nb__spred() checks them. @returns true when one
 * does (and says which). */
static bool nb__spred_why(const nb__ev_t *ev, const nb__spred_t *s, nb__why_t *w)
{
    if (s->kinds && (ev->kind == NB__KIND_UNKNOWN || !(s->kinds >> ev->kind & 1))) {
        nb__say(w, "the rule applies to ");
        nb__say_mask(w, s->kinds, nb__kind_nm);
        nb__say(w, " subjects only; this is ");
        nb__say_stage(w, ev);
        return true;
    }
    if (!nb__in(&s->age_months, ev->age_months)) {
        nb__say(w, "the rule applies to children aged ");
        nb__say_range(w, &s->age_months, false);
        nb__say(w, " months; this is ");
        nb__say_stage(w, ev);
        return true;
    }
    if (!nb__in(&s->gestation, ev->gestation)) {
        nb__say(w, "the rule applies at a gestation ");
        nb__say_range(w, &s->gestation, true);
        nb__say(w, " weeks; this is ");
        nb__say_stage(w, ev);
        return true;
    }
    if (s->facts_any || s->facts_none) {
        int32_t within = s->ended_within_days == NB__UNSET ? 0 : s->ended_within_days;
        uint32_t mask = nb__facts(ev, within, 0, NULL, NULL);
        if (s->facts_any && !(mask & s->facts_any)) {
            nb__say(w, "no fact ");
            nb__say_mask(w, s->facts_any, nb__fact_nm);
            nb__say(w, " applies today%s", within ? " (or ended within the days allowed)" : "");
            return true;
        }
        if (s->facts_none && (mask & s->facts_none)) {
            nb__say(w, "the fact ");
            nb__say_mask(w, mask & s->facts_none, nb__fact_nm);
            nb__say(w, " applies, and the rule excludes it");
            return true;
        }
    }
    if (ev->self_managing && s->self_managing == NB__SELF_EXCLUDE &&
        (ev->age_months == NB__UNSET || (ev->age_months >= 192 && ev->age_months < 216))) {
        nb__say(w, "a self-managing young person, whom the rule excludes (self_managing: "
                   "exclude)");
        return true;
    }
    return false;
}

/* Matching appointments (any status the rule counts) outside a window, for "N more before". */
static int nb__outside(const nb__ev_t *ev, const nb__rule_t *r, int32_t from, int *future)
{
    int n = 0;
    *future = 0;
    for (size_t i = 0; i < ev->n; i++) {
        const nb_ledger_appt_t *a = &ev->appts[i];
        if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__match(ev, &r->match, i, false))
            continue;
        if (a->start_min > ev->now_min)
            (*future)++;
        else if (a->start_min < from)
            n++;
    }
    return n;
}

static void nb__count_why(const nb__ev_t *ev, const nb__rule_t *r, const nb__fire_t *f,
                          nb__why_t *w)
{
    char t0[32], t1[32];
    int32_t from = r->within_days == NB__UNSET ? INT32_MIN : ev->now_min - r->within_days * 1440;
    nb_format_time(ev->now, t1, sizeof(t1));
    if (r->consecutive == NB__UNSET) {
        nb_format_time(ev->now - (int64_t)r->within_days * NB_MS_PER_DAY, t0, sizeof(t0));
        nb__say(w, "%d matching appointment%s in the %d days from %s to %s", (int)f->count,
                f->count == 1 ? "" : "s", (int)r->within_days, t0, t1);
        if (f->count < r->at_least)
            nb__say(w, "; needs at least %d", (int)r->at_least);
        else
            nb__say(w, ", from %d agenc%s; needs %d agencies", (int)f->agencies,
                    f->agencies == 1 ? "y" : "ies", (int)r->distinct_agencies);
    } else {
        nb__say(w, "the latest outcomes of appointments of this kind: %d in a row match%s",
                (int)f->count, r->within_days != NB__UNSET ? " within the window" : "");
        if (f->count < r->consecutive)
            nb__say(w, "; needs %d in a row", (int)r->consecutive);
        else
            nb__say(w, ", from %d agenc%s; needs %d agencies", (int)f->agencies,
                    f->agencies == 1 ? "y" : "ies", (int)r->distinct_agencies);
    }
    int future, before = nb__outside(ev, r, from, &future);
    if (before)
        nb__say(w, " (%d more before the window)", before);
    if (future)
        nb__say(w, " (%d scheduled after now, not counted)", future);
}

static void nb__absence_why(const nb__ev_t *ev, const nb__rule_t *r, nb__why_t *w)
{
    char t[32];
    if (r->by == NB__BY_WORKING_DAYS) {
        int32_t from = ev->now_min - r->lookback_days * 1440;
        for (size_t i = ev->n; i-- > 0;) {
            const nb_ledger_appt_t *a = &ev->appts[i];
            if (a->start_min > ev->now_min)
                continue;
            if (a->start_min < from)
                break;
            if (a->status == NB_STATUS_ENTERED_IN_ERROR || !nb__match(ev, &r->match, i, false))
                continue;
            int64_t deadline =
                nb_policy_add_working_days(ev->pol, (int64_t)a->start_min * 60000, r->by_value);
            nb_format_time(deadline, t, sizeof(t));
            if (ev->now <= deadline)
                nb__say(w, "the deadline, %d working days after the latest appointment that "
                           "starts the clock, is %s: not passed yet",
                        (int)r->by_value, t);
            else
                nb__say(w, "the expected contact was recorded after the latest appointment that "
                           "starts the clock (deadline %s)",
                        t);
            return;
        }
        nb__say(w, "no appointment that starts the clock ('match') in the %d days looked back",
                (int)r->lookback_days);
        return;
    }
    if (r->by == NB__BY_GESTATION && ev->edd == NB_DATE_NONE) {
        nb__say(w, "no expected delivery date, so no gestation deadline");
        return;
    }
    if (r->by == NB__BY_AGE_DAYS && ev->dob == NB_DATE_NONE) {
        nb__say(w, "no date of birth, so no deadline by age");
        return;
    }
    int32_t day = r->by == NB__BY_GESTATION ? ev->edd - 280 + r->by_value : ev->dob + r->by_value;
    int64_t deadline = ((int64_t)day + 1) * NB_MS_PER_DAY;
    nb_format_time(deadline, t, sizeof(t));
    if (ev->now < deadline)
        nb__say(w, "the deadline has not passed: late from %s", t);
    else
        nb__say(w, "the expected contact was recorded (deadline %s)", t);
}

nb_err_t nb_policy_why_not(const nb_policy_t *pol, const nb_ledger_t *led,
                           const nb_policy_subject_t *subj, int64_t now_ms, const char *rule_id,
                           nb_policy_result_t *res, char *out, size_t size)
{
    nb__why_t w = {out, size, 0};
    nb__ev_t ev;
    nb__fire_t f;
    size_t ri;
    if (!size)
        return NB_ERR_INVALID_ARG;
    out[0] = '\0';
    if (!subj || !rule_id)
        return NB_ERR_INVALID_ARG;
    for (ri = 0; ri < pol->n_rules; ri++)
        if (strcmp(pol->rules[ri].info.id, rule_id) == 0)
            break;
    if (ri == pol->n_rules)
        return NB_ERR_INVALID_ARG;
    const nb__rule_t *r = &pol->rules[ri];
    nb__ev_init(&ev, pol, led, subj, now_ms, res);
    if (nb__spred_why(&ev, &r->subject, &w))
        return NB_ERR_OK;
    if (nb__rule_fires(&ev, r, &f)) {
        nb__say(&w, "the rule fires");
        return NB_ERR_OK;
    }
    if (r->kind == NB__RULE_COUNT)
        nb__count_why(&ev, r, &f, &w);
    else
        nb__absence_why(&ev, r, &w);
    return NB_ERR_OK;
}
