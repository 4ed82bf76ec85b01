/*
 * notbrought replay: the engine (see replay.h). It follows the daemon's decision path
 * (src/stream/pipeline.c, nb__handle, nb__lifecycle and nb__pipeline_tick) step by step, with
 * the same pure modules, so that a backtest is what production would do:
 *
 *  - identity links are applied in order with nb_identity_apply(); events resolve with
 *    nb_identity_resolve(); an event that does not resolve is parked and handed back, in
 *    arrival order, by the link that resolves it; a merge (supersedes, unborn_to_child)
 *    moves the old key's history into the child's with nb_ledger_merge();
 *  - a changed ledger is pruned and evaluated; nb_notify_plan() says what to publish; new
 *    decisions are remembered as raised, withdrawn ones forgotten, escalations raise the level;
 *  - each child has a timer, the earlier of its next escalation and its next absence
 *    deadline; when the clock moves (an item arrives, a clock step, the end) the timers that
 *    fell due are run at the new time, as the daemon's tick runs them at its clock;
 *  - decisions of a low tier with a digest setting are gathered per recipient and period and
 *    published as one digest when the period ends.
 *
 * With o->record (replay --compare), each notification raised is kept under its decision id
 * with what it said, its escalations and its withdrawal (replay_notes.c), in a list per child
 * that a merge moves, so that two policies' runs can be compared decision by decision.
 *
 * Acknowledgements are given by rule and subject (`{"acknowledge": RULE, ...}`), since the
 * acknowledgements topic's keys are the deployment's pseudonyms. Children are keyed with
 * replay's own pseudonymisation key, or with the deployment's (conf->secret): then the
 * notifications carry the ids and references the daemon gives them. An event that waits for
 * a link longer than identity.park_retention_ms expires when the clock passes that, before
 * what falls due then runs (the daemon's tick dead-letters it first).
 *
 * Not simulated: watermarks. Replay reads every source up to its clock before the clock moves
 * (items come in the order they were recorded, or at their clock line), so the sources are
 * always caught up, as the daemon's are once each source has been read to its end: absence
 * deadlines are judged at the clock. The daemon holds a deadline back only while a source is
 * being read behind the clock (a backlog, in wall-clock time), which replay's input does not
 * record.
 */
#include "cli/replay.h"

#include <glib.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/cli.h"
#include "notbrought/identity.h"
#include "notbrought/ledger.h"
#include "notbrought/notify.h"

/* The replay's own pseudonymisation key: keys never leave the run. */
static const char nb__replay_secret[] = "notbrought-replay-pseudonyms-v1";

/* Most evaluations of one child within one move of the clock (an escalation ladder climbs
 * one rung an evaluation; a due time that does not move would otherwise loop). */
#define NB__MAX_EVALS_PER_MOVE 16

typedef struct nb__rchild_s {
    char key[NB_KEY_MAX + 1];
    char nhs[NB_NHS_LEN + 1];
    char mother[NB_NHS_LEN + 1];
    nb_ledger_t *led; /* NULL once merged into another child */
    nb_notify_state_t ns;
    int64_t due;
    unsigned evals;  /* in the current move of the clock ... */
    uint64_t moved;  /* ... which is this one */
    size_t note_head, note_tail; /* its notifications (outcome notes), SIZE_MAX: none */
    /* A pregnancy kept under the key of a local (maternity) identifier no link named yet:
     * what moves it once one does (the daemon's state kind 6). */
    bool has_preg_ref;
    nb_identity_preg_ref_t preg_ref;
} nb__rchild_t;

typedef struct nb__rdigest_s {
    nb_notify_digest_t g; /* what is gathered (the daemon keeps it in state, kind 3) */
    uint8_t key[NB_NOTIFY_DIGEST_KEY_LEN];
    bool done;
} nb__rdigest_t;

typedef struct nb__due_s {
    int64_t due;
    size_t idx;
    bool digest;
} nb__due_t;

typedef struct nb__run_s {
    nb__outcome_t *o;
    const nb_policy_t *pol;
    const nb__item_t *items;
    nb_identity_t *idt;
    nb_ledger_dict_t *dict;
    nb_ledger_t *scratch; /* a merged-away history, while it joins */
    nb_policy_result_t *res;
    nb_notify_scratch_t plan; /* nb__lifecycle()'s */
    GHashTable *by_key; /* key -> index + 1 */
    GHashTable *shadow; /* shadow decision ids counted */
    nb__rchild_t *ch;
    size_t n_ch, cap_ch;
    nb__rdigest_t *dg;
    size_t n_dg, cap_dg;
    nb__due_t *heap;
    size_t n_heap, cap_heap;
    int64_t clock;
    uint64_t moves; /* moves of the clock */
    nb_codec_t *codec;
    FILE *emit;
    bool has_cause;
    nb_evidence_t cause;
    bool has_fact_cause; /* or the context fact whose arrival is being handled */
    nb_context_fact_t fact_cause;
    char *errstr;
    size_t errstr_size;
} nb__run_t;

/* ---- timers ------------------------------------------------------------------------------- */

static bool nb__before(const nb__due_t *a, const nb__due_t *b)
{
    return a->due < b->due || (a->due == b->due && a->idx < b->idx);
}

static int nb__heap_push(nb__run_t *r, int64_t due, size_t idx, bool digest)
{
    if (due == NB_TIME_NONE)
        return 0;
    if (r->n_heap == r->cap_heap) {
        size_t cap = r->cap_heap ? r->cap_heap * 2 : 256;
        nb__due_t *v = realloc(r->heap, cap * sizeof(*v));
        if (!v)
            return -1;
        r->heap = v;
        r->cap_heap = cap;
    }
    size_t i = r->n_heap++;
    nb__due_t e = {due, idx, digest};
    while (i > 0 && nb__before(&e, &r->heap[(i - 1) / 2])) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = e;
    return 0;
}

static void nb__heap_pop(nb__run_t *r)
{
    nb__due_t last = r->heap[--r->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->n_heap)
            break;
        if (c + 1 < r->n_heap && nb__before(&r->heap[c + 1], &r->heap[c]))
            c++;
        if (!nb__before(&r->heap[c], &last))
            break;
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (r->n_heap > 0)
        r->heap[i] = last;
}

/* ---- children ----------------------------------------------------------------------------- */

static long nb__child_find(nb__run_t *r, const char *key)
{
    gpointer v = g_hash_table_lookup(r->by_key, key);
    return v ? (long)GPOINTER_TO_SIZE(v) - 1 : -1;
}

static long nb__child_get(nb__run_t *r, const char *key)
{
    long i = nb__child_find(r, key);
    if (i >= 0)
        return i;
    if (r->n_ch == r->cap_ch) {
        size_t cap = r->cap_ch ? r->cap_ch * 2 : 256;
        nb__rchild_t *v = realloc(r->ch, cap * sizeof(*v));
        if (!v)
            return -1;
        r->ch = v;
        r->cap_ch = cap;
    }
    nb__rchild_t *c = &r->ch[r->n_ch];
    memset(c, 0, sizeof(*c));
    nb_str_copy(c->key, sizeof(c->key), key);
    c->due = NB_TIME_NONE;
    c->note_head = c->note_tail = SIZE_MAX;
    c->led = nb_ledger_new(r->dict);
    if (!c->led)
        return -1;
    g_hash_table_insert(r->by_key, g_strdup(c->key), GSIZE_TO_POINTER(r->n_ch + 1));
    return (long)r->n_ch++;
}

static size_t nb__rule_index(const nb__run_t *r, const nb_policy_rule_info_t *rule)
{
    for (size_t k = 0; k < r->o->n_rules; k++)
        if (nb_policy_rule(r->pol, k) == rule)
            return k;
    return r->o->n_rules; /* the spare slot */
}

/* ---- publishing --------------------------------------------------------------------------- */

static int nb__emit(nb__run_t *r, const nb_notification_t *note)
{
    if (!r->emit)
        return 0;
    nb_record_t rec;
    nb_buf_t b = {0};
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_NOTIFICATION;
    rec.u.notif = *note;
    if (nb_codec_encode(r->codec, &rec, &b, r->errstr, r->errstr_size)) {
        nb_buf_free(&b);
        return -1;
    }
    int rc = nb_recfile_write(r->emit, "notifications", note->child_key, b.data, b.len,
                              note->created_at);
    nb_buf_free(&b);
    if (rc)
        snprintf(r->errstr, r->errstr_size, "cannot write the notifications file");
    return rc;
}

static int nb__digest_publish(nb__run_t *r, nb__rdigest_t *d, int64_t now)
{
    nb_notification_t *n = malloc(sizeof(*n));
    if (!n)
        return -1;
    nb_notify_build_digest(r->pol, &d->g, d->key, now, n); /* as the daemon's (stream/digest.c) */
    int rc = nb__emit(r, n);
    free(n);
    r->o->digests++;
    d->done = true;
    d->g.n = 0;
    return rc;
}

/* A low-tier notification joins the digest of each of its recipients for its period. */
static int nb__digest_add(nb__run_t *r, const nb_policy_decision_t *dc,
                          const nb_notification_t *note, int64_t now)
{
    int64_t end = nb_notify_digest_period_end(dc->digest, dc->decided_at);
    for (size_t i = 0; i < dc->n_recipients; i++) {
        uint8_t key[NB_NOTIFY_DIGEST_KEY_LEN];
        nb_notify_digest_key(dc->recipients[i]->id, end, key);
        nb__rdigest_t *d = NULL;
        for (size_t k = 0; k < r->n_dg && !d; k++)
            if (!r->dg[k].done && memcmp(r->dg[k].key, key, sizeof(key)) == 0)
                d = &r->dg[k];
        if (!d) {
            if (r->n_dg == r->cap_dg) {
                size_t cap = r->cap_dg ? r->cap_dg * 2 : 16;
                nb__rdigest_t *v = realloc(r->dg, cap * sizeof(*v));
                if (!v)
                    return -1;
                r->dg = v;
                r->cap_dg = cap;
            }
            d = &r->dg[r->n_dg];
            memset(d, 0, sizeof(*d));
            nb_str_copy(d->g.role, sizeof(d->g.role), dc->recipients[i]->id);
            nb_str_copy(d->g.route, sizeof(d->g.route), dc->recipients[i]->route);
            d->g.period_end = end;
            memcpy(d->key, key, sizeof(key));
            if (nb__heap_push(r, end, r->n_dg, true))
                return -1;
            r->n_dg++;
        }
        /* A full digest goes out at once; the period's later items start the next one. */
        if (nb_notify_digest_add(&d->g, note) == NB_NOTIFY_DIGEST_FULL &&
            nb__digest_publish(r, d, now))
            return -1;
    }
    return 0;
}

/* ---- the lifecycle (the daemon's nb__lifecycle) ------------------------------------------- */

/* What nb__lifecycle() hands its sink. */
typedef struct nb__life_s {
    nb__run_t *r;
    nb__rchild_t *c;
    int64_t now;
} nb__life_t;

/* Replay's sink of the lifecycle step (the daemon's publishes and audits): counts per rule,
 * writes what would be published (--emit-notifications), gathers digests. */
NB_NODISCARD static nb_err_t nb__life_sink(void *opaque, const nb_notify_out_t *o)
{
    nb__life_t *l = opaque;
    nb__run_t *r = l->r;
    const nb_notify_action_t *a = o->action;
    int rc = 0;
    size_t k;
    switch (a->act) {
    case NB_NOTIFY_ACT_NEW:
    case NB_NOTIFY_ACT_NEW_CLOSED:
        k = nb__rule_index(r, a->decision->rule);
        r->o->raised[k]++;
        if (r->o->record && nb__notes_raise(&r->o->notes, a->decision, l->now,
                                            &l->c->note_head, &l->c->note_tail)) {
            snprintf(r->errstr, r->errstr_size, "out of memory");
            return NB_ERR_NOMEM;
        }
        rc = o->digest ? nb__digest_add(r, a->decision, o->note, l->now) : nb__emit(r, o->note);
        break;
    case NB_NOTIFY_ACT_ESCALATE:
        r->o->escalated[nb__rule_index(r, a->decision->rule)]++;
        if (r->o->record)
            nb__notes_escalated(&r->o->notes, a->decision->id, (unsigned)a->rung + 1);
        rc = nb__emit(r, o->note);
        break;
    case NB_NOTIFY_ACT_WITHDRAW:
        r->o->withdrawn[a->raised->rule ? nb__rule_index(r, a->raised->rule) : r->o->n_rules]++;
        if (r->o->record)
            nb__notes_withdrawn(&r->o->notes, a->raised->id, l->now);
        rc = nb__emit(r, o->note);
        break;
    case NB_NOTIFY_ACT_SHADOW:
        /* Counted once per decision (the daemon counts each evaluation's). */
        if (!g_hash_table_contains(r->shadow, a->decision->id)) {
            g_hash_table_add(r->shadow, g_strdup(a->decision->id));
            r->o->shadow[nb__rule_index(r, a->decision->rule)]++;
        }
        break;
    case NB_NOTIFY_ACT_CORRECTED:
    case NB_NOTIFY_ACT_SUPPRESSED:
        break;
    }
    return rc ? NB_ERR_IO : NB_ERR_OK;
}

/* Evaluates the child's ledger and runs the notification lifecycle as the daemon does
 * (nb_notify_step()), counting what it would publish. */
static int nb__lifecycle(nb__run_t *r, size_t idx, bool quiet, int64_t now)
{
    nb__rchild_t *c = &r->ch[idx];
    nb_policy_subject_t subj = {c->key, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    nb_notify_child_t child = {c->key, c->nhs, c->mother};
    nb_err_t err = nb_policy_evaluate(r->pol, c->led, &subj, now, r->res);
    if (err) {
        snprintf(r->errstr, r->errstr_size, "evaluating a child's history: %s",
                 nb_err_str(err));
        return -1;
    }
    nb_notify_cause_t cause = {r->has_cause && !r->has_fact_cause ? &r->cause : NULL,
                               r->has_fact_cause ? &r->fact_cause : NULL};
    nb__life_t life = {r, c, now};
    nb_notify_due_t due;
    err = nb_notify_step(r->pol, r->res, c->led, &c->ns, &child, &cause, now, quiet, &r->plan,
                         nb__life_sink, &life, &due);
    if (err) {
        if (err != NB_ERR_IO) /* nb__emit() said why */
            snprintf(r->errstr, r->errstr_size, "a child's notifications: %s", nb_err_str(err));
        return -1;
    }
    c->due = due.next;
    return nb__heap_push(r, c->due, idx, false);
}

/* ---- events, links, the clock ----------------------------------------------------------- */

static void nb__set_cause(nb__run_t *r, const nb_appointment_event_t *a)
{
    nb_notify_evidence_of(a, &r->cause);
    r->has_cause = true;
}

/* An event or fact that resolved to @p res: applied to the child's ledger (nb__handle). */
static int nb__apply(nb__run_t *r, const nb__item_t *it, const nb_identity_resolution_t *res,
                     int64_t now)
{
    long idx = nb__child_get(r, res->key);
    if (idx < 0)
        return -1;
    nb__rchild_t *c = &r->ch[idx];
    if (res->nhs_number[0])
        nb_str_copy(c->nhs, sizeof(c->nhs), res->nhs_number);
    if (res->preg_provisional) {
        c->has_preg_ref = true;
        c->preg_ref = res->preg_ref;
    }
    if (res->pregnant_nhs[0])
        nb_str_copy(c->mother, sizeof(c->mother), res->pregnant_nhs);
    if (it->kind == NB__ITEM_APPT && it->u.appt.subject_kind == NB_SUBJECT_UNBORN &&
        strcmp(it->u.appt.pregnant_person_id.system, NB_SYSTEM_NHS_NUMBER) == 0 &&
        nb_nhs_validate(it->u.appt.pregnant_person_id.value) == NB_ERR_OK)
        nb_str_copy(c->mother, sizeof(c->mother), it->u.appt.pregnant_person_id.value);
    nb_ledger_change_t ch = NB_LEDGER_UNCHANGED;
    nb_err_t err;
    r->has_cause = false;
    r->has_fact_cause = false;
    if (it->kind == NB__ITEM_APPT) {
        nb__set_cause(r, &it->u.appt);
        err = nb_ledger_apply(c->led, &it->u.appt, &ch);
    } else {
        r->fact_cause = it->u.fact;
        r->has_fact_cause = true;
        err = nb_ledger_apply_fact(c->led, &it->u.fact, &ch);
    }
    if (err) {
        r->o->refused++; /* the daemon dead-letters it (a ledger limit) */
        return 0;
    }
    if (ch == NB_LEDGER_UNCHANGED)
        return 0;
    nb_ledger_prune(c->led, nb_policy_horizon(r->pol, now));
    return nb__lifecycle(r, (size_t)idx, false, now);
}

/* Moves a history (a superseded number's, a pregnancy's) into the child it now belongs to, as
 * the daemon's merge does, and evaluates the child. Nothing to do when @p from holds nothing. */
static int nb__merge_keys(nb__run_t *r, const char *from_key, const char *into_key, int64_t now)
{
    long from = nb__child_find(r, from_key);
    if (from < 0 || !r->ch[from].led || strcmp(from_key, into_key) == 0)
        return 0;
    long into = nb__child_get(r, into_key);
    if (into < 0)
        return -1;
    nb__rchild_t *f = &r->ch[from], *c = &r->ch[into];
    if (nb_ledger_merge(c->led, f->led))
        r->o->refused++;
    if (!c->nhs[0] && f->nhs[0])
        memcpy(c->nhs, f->nhs, sizeof(c->nhs));
    if (!c->mother[0] && f->mother[0])
        memcpy(c->mother, f->mother, sizeof(c->mother));
    nb__notes_splice(&r->o->notes, &f->note_head, &f->note_tail, &c->note_head, &c->note_tail);
    nb_ledger_clear(f->led);
    memset(&f->ns, 0, sizeof(f->ns));
    f->due = NB_TIME_NONE;
    f->has_preg_ref = false;
    r->has_cause = false;
    r->has_fact_cause = false;
    nb_ledger_prune(c->led, nb_policy_horizon(r->pol, now));
    return nb__lifecycle(r, (size_t)into, false, now);
}

static int nb__event(nb__run_t *r, size_t item, int64_t now)
{
    const nb__item_t *it = &r->items[item];
    nb_identity_subject_t subj;
    nb_identity_resolution_t res;
    char errstr[256];
    if (it->kind == NB__ITEM_APPT)
        nb_identity_subject_of_appointment(&subj, &it->u.appt);
    else
        nb_identity_subject_of_fact(&subj, &it->u.fact);
    nb_err_t err = nb_identity_resolve(r->idt, &subj, &res, errstr, sizeof(errstr));
    if (err == NB_ERR_OK && res.has_merge_from) {
        /* A pregnancy kept under the maternity number's key before the link was known. */
        int rc = nb__merge_keys(r, res.merge_from, res.key, now);
        if (rc)
            return rc;
    }
    if (err == NB_ERR_OK)
        return nb__apply(r, it, &res, now);
    if (err == NB_ERR_IDENTITY_UNRESOLVED) {
        uint64_t at = item;
        err = nb_identity_park(r->idt, &res, &at, sizeof(at), NULL, now, NULL, errstr,
                               sizeof(errstr));
        if (err == NB_ERR_OK)
            return 0;
    }
    /* A conflict, an identifier the table refuses, a full park: the daemon dead-letters it. */
    r->o->refused++;
    return 0;
}

static int nb__link(nb__run_t *r, const nb_identity_link_t *link, int64_t now)
{
    nb_identity_result_t res;
    char errstr[256];
    int rc = 0;
    memset(&res, 0, sizeof(res));
    if (nb_identity_apply(r->idt, link, &res, errstr, sizeof(errstr))) {
        r->o->links_refused++;
        nb_identity_result_clear(&res);
        return 0;
    }
    /* Released events first, in arrival order (the daemon's tick rechecks parked events
     * before it runs merges). */
    for (size_t i = 0; i < res.n_released && !rc; i++) {
        uint64_t item;
        memcpy(&item, res.released[i].data, sizeof(item));
        rc = nb__apply(r, &r->items[item], &res.released[i].resolution, now);
    }
    if (!rc && res.has_merge)
        rc = nb__merge_keys(r, res.merge.from_key, res.merge.into_key, now);
    for (size_t i = 0; i < res.n_more_merges && !rc; i++)
        rc = nb__merge_keys(r, res.more_merges[i].from_key, res.more_merges[i].into_key, now);
    nb_identity_result_clear(&res);
    /* Pregnancies kept under a maternity number's key move once a link names her (the
     * daemon's owner does this whenever the identity table changes). */
    for (size_t i = 0; i < r->n_ch && !rc; i++) {
        nb__rchild_t *c = &r->ch[i];
        nb_identity_resolution_t where;
        if (!c->has_preg_ref || !c->led ||
            nb_identity_pregnancy_locate(r->idt, &c->preg_ref, c->key, &where) ||
            strcmp(where.key, c->key) == 0)
            continue;
        char from[NB_KEY_MAX + 1];
        nb_str_copy(from, sizeof(from), c->key);
        c->has_preg_ref = false;
        rc = nb__merge_keys(r, from, where.key, now);
    }
    return rc;
}

/* A nurse acknowledges the latest notification of a rule for a subject (the daemon's
 * NB__K_ACK in nb__handle): the notification closes and climbs no further. */
static int nb__ack(nb__run_t *r, const nb__replay_ack_t *a, int64_t now)
{
    nb_identity_subject_t subj;
    nb_identity_resolution_t res;
    char errstr[256];
    nb_identity_subject_of_appointment(&subj, &a->subject);
    const nb_policy_rule_info_t *rule = nb_policy_rule_find(r->pol, a->rule);
    long idx = -1;
    if (rule && nb_identity_resolve(r->idt, &subj, &res, errstr, sizeof(errstr)) == NB_ERR_OK)
        idx = nb__child_find(r, res.key);
    const nb_ledger_raised_t *latest = NULL;
    if (idx >= 0) {
        size_t n;
        const nb_ledger_raised_t *rs = nb_ledger_raised(r->ch[idx].led, &n);
        for (size_t i = 0; i < n; i++)
            if (rs[i].rule_hash == rule->hash && (!latest || rs[i].raised_at >= latest->raised_at))
                latest = &rs[i];
    }
    if (!latest) {
        r->o->acks_unmatched++;
        return 0;
    }
    char id[NB_LEDGER_ID_HEX + 1];
    nb_ledger_id_format(latest->id, id);
    nb__rchild_t *c = &r->ch[idx];
    /* The daemon's decision (nb_notify_apply()), on the same action with its ids filled in:
     * each line is its own action (ack id), as each record the inbox sends is. */
    nb_ack_t act = a->ack;
    nb_str_copy(act.notification_id, sizeof(act.notification_id), id);
    snprintf(act.ack_id, sizeof(act.ack_id), "replay-%zu", r->o->acks + r->o->acks_unmatched);
    nb_notify_verdict_t done = nb_notify_apply(r->pol, &c->ns, c->led, &act, now, NULL);
    r->o->acks++;
    if (done == NB_NOTIFY_REFUSED)
        r->o->acks_refused++;
    if (done == NB_NOTIFY_DUPLICATE || done == NB_NOTIFY_REFUSED || done == NB_NOTIFY_UNKNOWN)
        return 0;
    r->has_cause = false;
    r->has_fact_cause = false;
    return nb__lifecycle(r, (size_t)idx, true, now);
}

/* Events that waited for an identity link for identity.park_retention_ms: gone, counted (the
 * daemon's tick dead-letters them, nb__release_cb, before it runs what fell due). */
static int nb__expire(nb__run_t *r, int64_t now)
{
    nb_identity_result_t res;
    memset(&res, 0, sizeof(res));
    if (nb_identity_expire(r->idt, now, &res) != NB_ERR_OK) {
        snprintf(r->errstr, r->errstr_size, "out of memory");
        return -1;
    }
    r->o->expired += res.n_expired;
    nb_identity_result_clear(&res);
    return 0;
}

/* The clock moves to @p now: parked events expire, and what fell due runs at @p now (the
 * daemon's tick). */
static int nb__advance(nb__run_t *r, int64_t now)
{
    if (now < r->clock)
        now = r->clock;
    r->clock = now;
    r->moves++;
    if (nb__expire(r, now))
        return -1;
    while (r->n_heap > 0 && r->heap[0].due <= now) {
        nb__due_t e = r->heap[0];
        nb__heap_pop(r);
        if (e.digest) {
            nb__rdigest_t *d = &r->dg[e.idx];
            if (!d->done && d->g.period_end == e.due && d->g.n > 0 &&
                nb__digest_publish(r, d, now))
                return -1;
            continue;
        }
        nb__rchild_t *c = &r->ch[e.idx];
        if (c->moved != r->moves) {
            c->moved = r->moves;
            c->evals = 0;
        }
        if (c->due != e.due || c->evals >= NB__MAX_EVALS_PER_MOVE)
            continue; /* stale, or re-evaluated enough for this time */
        c->evals++;
        r->has_cause = false;
        r->has_fact_cause = false;
        if (nb__lifecycle(r, e.idx, true, now))
            return -1;
    }
    return 0;
}

static int nb__cmp_key(const void *a, const void *b)
{
    const nb__rchild_t *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* "child ******1234", or "pregnancy ******4321 EDD 2025-06-01"; escaped. */
static void nb__mask(const nb__rchild_t *c, char *out, size_t size)
{
    char raw[128];
    size_t n = strlen(c->nhs), m = strlen(c->mother);
    if (c->nhs[0]) {
        snprintf(raw, sizeof(raw), "child ******%s", c->nhs + (n > 4 ? n - 4 : 0));
    } else if (c->mother[0]) {
        char edd[16] = "?";
        if (c->led && nb_ledger_expected_delivery(c->led) != NB_DATE_NONE)
            nb_format_date(nb_ledger_expected_delivery(c->led), edd, sizeof(edd));
        snprintf(raw, sizeof(raw), "pregnancy ******%s EDD %s", c->mother + (m > 4 ? m - 4 : 0),
                 edd);
    } else {
        snprintf(raw, sizeof(raw), "child key %.12s", c->key);
    }
    nb_text_escape(out, size, raw);
}

int nb__replay_run(nb__outcome_t *o, const nb__replay_conf_t *conf, const nb__item_t *items,
                   size_t n, int64_t end, nb_codec_t *codec, FILE *emit, char *errstr,
                   size_t errstr_size)
{
    nb__run_t r;
    int rc = -1;
    memset(&r, 0, sizeof(r));
    r.o = o;
    r.pol = o->pol;
    r.items = items;
    r.codec = codec;
    r.emit = emit;
    r.errstr = errstr;
    r.errstr_size = errstr_size;
    r.clock = NB_TIME_NONE;
    snprintf(errstr, errstr_size, "out of memory");
    o->n_rules = nb_policy_rule_count(o->pol);
    o->raised = calloc(o->n_rules + 1, sizeof(long));
    o->withdrawn = calloc(o->n_rules + 1, sizeof(long));
    o->escalated = calloc(o->n_rules + 1, sizeof(long));
    o->shadow = calloc(o->n_rules + 1, sizeof(long));
    nb_identity_conf_t ic;
    nb_identity_conf_default(&ic);
    ic.secret = conf->secret ? conf->secret : nb__replay_secret;
    ic.secret_len = conf->secret ? conf->secret_len : strlen(nb__replay_secret);
    /* No bound on how many wait: the daemon's bound (identity.park_max) is on what one
     * instance holds, not on a history. */
    ic.park_max_events = 10 * 1000 * 1000;
    ic.park_max_bytes = (size_t)1 << 34;
    ic.park_retention_ms = conf->park_retention_ms;
    r.idt = nb_identity_new(&ic, errstr, errstr_size);
    r.dict = nb_ledger_dict_new();
    r.res = nb_policy_result_new();
    r.by_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r.shadow = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!o->raised || !o->withdrawn || !o->escalated || !o->shadow || !r.idt || !r.dict ||
        !r.res)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const nb__item_t *it = &items[i];
        if (nb__advance(&r, it->at))
            goto out;
        int err = 0;
        if (it->kind == NB__ITEM_LINK)
            err = nb__link(&r, &it->u.link, r.clock);
        else if (it->kind == NB__ITEM_ACK)
            err = nb__ack(&r, &it->u.ack, r.clock);
        else if (it->kind != NB__ITEM_CLOCK)
            err = nb__event(&r, i, r.clock);
        if (err)
            goto out;
    }
    if (end != NB_TIME_NONE && nb__advance(&r, end))
        goto out;
    {
        nb_identity_stats_t st;
        nb_identity_stats(r.idt, r.clock, &st);
        o->parked = st.parked;
    }
    /* The children that have a history, by key (so that two policies' runs line up). */
    size_t k = 0;
    for (size_t i = 0; i < r.n_ch; i++) {
        if (r.ch[i].led && !nb_ledger_empty(r.ch[i].led))
            r.ch[k++] = r.ch[i];
        else
            nb_ledger_destroy(r.ch[i].led);
    }
    r.n_ch = k;
    if (r.n_ch > 1) /* (r.ch is NULL when no child was ever seen) */
        qsort(r.ch, r.n_ch, sizeof(*r.ch), nb__cmp_key);
    o->n_children = r.n_ch;
    o->keys = calloc(r.n_ch + 1, sizeof(*o->keys));
    o->who = calloc(r.n_ch + 1, sizeof(*o->who));
    if (!o->keys || !o->who)
        goto out;
    for (size_t i = 0; i < r.n_ch; i++) {
        memcpy(o->keys[i], r.ch[i].key, sizeof(o->keys[i]));
        nb__mask(&r.ch[i], o->who[i], sizeof(o->who[i]));
        nb__notes_own(&o->notes, r.ch[i].note_head, i);
    }
    nb__notes_finish(&o->notes);
    rc = 0;
    errstr[0] = '\0';
out:
    for (size_t i = 0; i < r.n_ch; i++)
        nb_ledger_destroy(r.ch[i].led);
    free(r.ch);
    free(r.dg);
    free(r.heap);
    if (r.by_key)
        g_hash_table_destroy(r.by_key);
    if (r.shadow)
        g_hash_table_destroy(r.shadow);
    nb_policy_result_destroy(r.res);
    nb_notify_scratch_free(&r.plan);
    nb_ledger_dict_destroy(r.dict);
    nb_identity_destroy(r.idt);
    return rc;
}

void nb__replay_outcome_free(nb__outcome_t *o)
{
    free(o->raised);
    free(o->withdrawn);
    free(o->escalated);
    free(o->shadow);
    free(o->keys);
    free(o->who);
    nb__notes_free(&o->notes);
}
