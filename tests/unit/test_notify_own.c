/*
 * Unit tests: notify ownership (docs/inbox.md, section 1): every cell of the table of actions
 * (take, reassign, close) by state (open, owned by the actor, owned by someone else, closed,
 * withdrawn), over the shipped default policy; escalation after a take and after a
 * reassignment; the state's encoding, old and new.
 */
#define _GNU_SOURCE /* memmem() */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "notbrought/notify.h"

#include "notify_fixture.h"

/* Replaces the fixture's policy by the base with an overlay @p yaml. @returns the load's
 * result; errstr receives its message. */
NB_NODISCARD static nb_err_t overlay(fx_t *f, const char *yaml, char *errstr, size_t size)
{
    char path[] = "/tmp/nb-own-overlay-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    fputs(yaml, fp);
    fclose(fp);
    const char *files[] = {NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml", path};
    nb_policy_t *pol = NULL;
    nb_err_t err = nb_policy_load(files, 2, NULL, NULL, &pol, errstr, size);
    unlink(path);
    if (!err) {
        nb_policy_destroy(f->pol);
        f->pol = pol;
    }
    return err;
}

#define OVERLAY_HEAD "policy:\n  extends: wnb-wales-base\n  name: own-test\n  version: \"1\"\n"

/* One lifecycle step at @p t, as the daemon takes it, handing what it publishes to @p sink
 * (or nothing); @returns the child's timers. */
static nb_notify_due_t step_to(fx_t *f, int64_t t, nb_notify_sink_t sink, void *opaque)
{
    nb_notify_scratch_t scratch = {0};
    nb_notify_child_t child = {KEY, "9434765919", ""};
    nb_policy_subject_t subj = {KEY, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    nb_notify_due_t due;
    assert_int_equal(nb_policy_evaluate(f->pol, f->led, &subj, t, f->res), NB_ERR_OK);
    assert_int_equal(nb_notify_step(f->pol, f->res, f->led, &f->ns, &child, NULL, t, true, &scratch,
                                    sink, opaque, &due),
                     NB_ERR_OK);
    nb_notify_scratch_free(&scratch);
    return due;
}

static nb_notify_due_t step(fx_t *f, int64_t t)
{
    return step_to(f, t, NULL, NULL);
}

/* The escalations a step publishes: the last one kept. */
typedef struct escalations_s {
    int n;
    nb_notification_t last;
} escalations_t;

NB_NODISCARD static nb_err_t keep_escalation(void *opaque, const nb_notify_out_t *out)
{
    escalations_t *e = opaque;
    if (out->note && out->action->act == NB_NOTIFY_ACT_ESCALATE) {
        e->n++;
        e->last = *out->note;
    }
    return NB_ERR_OK;
}

/* The fixture's child becomes a baby on a protection plan (born 20 January 2026) whose 6-8
 * week review, a mandated health visiting contact, was recorded as was not brought: the
 * plan's rule fires, and hv_missed_under1 (priority) is made urgent by on_plan_urgent, which
 * moves it to the urgent tier's ladder. */
static void baby_on_plan(fx_t *f)
{
    nb_ledger_destroy(f->led);
    f->led = nb_ledger_new(f->dict);
    plan_fact(f, nb_days_from_civil(2026, 2, 2), f->t0 - 30 * 24 * HOUR);
    nb_appointment_event_t a;
    memset(&a, 0, sizeof(a));
    strcpy(a.event_id, "hv-1-v1");
    a.source.agency = NB_AGENCY_HEALTH_VISITING;
    strcpy(a.source.system, "CYPRIS");
    a.subject_kind = NB_SUBJECT_CHILD;
    strcpy(a.nhs_number, "9434765919");
    a.date_of_birth = nb_days_from_civil(2026, 1, 20);
    a.expected_delivery_date = NB_DATE_NONE;
    strcpy(a.appointment_id, "hv-1");
    strcpy(a.appointment_type, "6_8_week_review");
    a.mandated_contact = true;
    a.contact_mode = NB_CONTACT_HOME_VISIT;
    a.scheduled_start = f->t0 - 2 * HOUR;
    a.status = NB_STATUS_WAS_NOT_BROUGHT;
    a.recorded_at = f->t0;
    a.version = 1;
    assert_int_equal(nb_ledger_apply(f->led, &a, NULL), NB_ERR_OK);
}

/* Raises what the ledger calls for at t0; the decision of @p rule (raised new) and its id. */
static const nb_policy_decision_t *raise_rule(fx_t *f, const char *rule,
                                              char id[NB_LEDGER_ID_HEX + 1])
{
    step(f, f->t0);
    size_t n;
    const nb_policy_decision_t *d = nb_policy_result_decisions(f->res, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].rule->id, rule) == 0 && d[i].state == NB_POLICY_NEW) {
            snprintf(id, NB_LEDGER_ID_HEX + 1, "%s", d[i].id);
            return &d[i];
        }
    fail_msg("%s was not raised", rule);
    return NULL;
}

/* Raises the notification the fixture's missed appointment calls for; its id into @p id. */
static nb_notify_due_t raise_it(fx_t *f, char id[NB_LEDGER_ID_HEX + 1])
{
    nb_notify_due_t due = step(f, f->t0);
    size_t n;
    const nb_ledger_raised_t *r = nb_ledger_raised(f->led, &n);
    assert_int_equal(n, 1);
    for (size_t i = 0; i < NB_LEDGER_ID_BYTES; i++)
        snprintf(id + 2 * i, 3, "%02x", r[0].id[i]);
    return due;
}

/* Under a policy whose reassignment restarts the respond-by two working days on, raises the
 * notification (its id in @p id) and gives its decision in @p d. */
static nb_notify_due_t raise_restartable(fx_t *f, char id[NB_LEDGER_ID_HEX + 1],
                                         const nb_policy_decision_t **d)
{
    char err[512];
    assert_int_equal(
        overlay(f, OVERLAY_HEAD "ownership: {respond_by_after_reassign: {working_days: 2}}\n", err,
                sizeof(err)),
        NB_ERR_OK);
    nb_notify_due_t due = raise_it(f, id);
    size_t nd;
    *d = nb_policy_result_decisions(f->res, &nd);
    assert_int_equal(nd, 1);
    return due;
}

static int n_acks;

/* An action by @p user acting in @p queue. */
static nb_ack_t action(nb_ack_intent_t intent, const char *id, const char *user, const char *queue)
{
    nb_ack_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.ack_id, sizeof(a.ack_id), "inbox-1-%s-%d", user, ++n_acks);
    snprintf(a.notification_id, sizeof(a.notification_id), "%s", id);
    a.intent = intent;
    snprintf(a.acknowledged_by, sizeof(a.acknowledged_by), "%s", user);
    snprintf(a.user_id, sizeof(a.user_id), "%s", user);
    snprintf(a.role, sizeof(a.role), "%s", queue);
    a.action = NB_ACK_OTHER;
    if (intent == NB_ACK_INTENT_REASSIGN) {
        strcpy(a.reassign_to_queue, "queue:hv-team-north");
        strcpy(a.reason, "The family moved.");
    }
    return a;
}

static nb_notify_verdict_t act(fx_t *f, nb_ack_intent_t intent, const char *id, const char *user,
                               int64_t t, nb_notify_outcome_t *o)
{
    nb_ack_t a = action(intent, id, user, "named_nurse");
    return nb_notify_apply(f->pol, &f->ns, f->led, &a, t, o);
}

/* Row "open, no owner". */
static void test_open_take_reassign_close(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, &o), NB_NOTIFY_TAKEN);
    assert_string_equal(o.owner_user, "staff-1");
    assert_string_equal(o.owner_queue, "named_nurse");
    uint8_t raw[NB_LEDGER_ID_BYTES];
    assert_true(nb_ledger_id_parse(id, raw));
    const nb_notify_owner_t *e = nb_notify_owner(&f->ns, raw);
    assert_non_null(e);
    assert_int_equal(e->since, f->t0 + HOUR);
    teardown(state);
    setup(state);
    f = *state;
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_REASSIGN, id, "staff-1", f->t0 + HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    assert_string_equal(o.owner_user, "");
    assert_string_equal(o.owner_queue, "queue:hv-team-north");
    assert_true(o.respond_by != NB_TIME_NONE && o.respond_by > f->t0 + HOUR);
    teardown(state);
    setup(state);
    f = *state;
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_CLOSE, id, "staff-1", f->t0 + HOUR, &o),
                     NB_NOTIFY_CLOSED);
    assert_true(nb_notify_is_closed(&f->ns, raw));
}

/* Row "owned by the actor". */
static void test_owned_by_actor(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, &o), NB_NOTIFY_TAKEN);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + 2 * HOUR, &o),
                     NB_NOTIFY_DUPLICATE);
    assert_string_equal(o.owner_user, "staff-1");
    /* Reassigned to a person: that person owns it. */
    nb_ack_t a = action(NB_ACK_INTENT_REASSIGN, id, "staff-1", "named_nurse");
    strcpy(a.reassign_to_user, "staff-2");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + 3 * HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    assert_string_equal(o.owner_user, "staff-2");
    /* The same action sent again (a retry, the same ack_id) changes nothing. */
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + 3 * HOUR, &o),
                     NB_NOTIFY_DUPLICATE);
    assert_string_equal(o.owner_user, "staff-2");
    /* The new owner closes it. */
    assert_int_equal(act(f, NB_ACK_INTENT_CLOSE, id, "staff-2", f->t0 + 4 * HOUR, &o),
                     NB_NOTIFY_CLOSED);
}

/* Row "owned by someone else": refused, saying who owns it. */
static void test_owned_by_someone_else(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, &o), NB_NOTIFY_TAKEN);
    for (int i = 0; i < 3; i++) {
        nb_ack_intent_t in = i == 0   ? NB_ACK_INTENT_TAKE
                             : i == 1 ? NB_ACK_INTENT_REASSIGN
                                      : NB_ACK_INTENT_CLOSE;
        assert_int_equal(act(f, in, id, "staff-2", f->t0 + 2 * HOUR, &o), NB_NOTIFY_REFUSED);
        assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_OWNED_BY);
        assert_string_equal(o.owner_user, "staff-1");
        assert_string_equal(nb_notify_refusal_name(o.refusal), "owned_by");
    }
    /* A version 1 close (nobody in particular) does not close what a person owns. */
    assert_int_equal(nb_notify_ack(&f->ns, f->led, id, f->t0 + 2 * HOUR), NB_NOTIFY_ACK_UNKNOWN);
    uint8_t raw[NB_LEDGER_ID_BYTES];
    assert_true(nb_ledger_id_parse(id, raw));
    assert_false(nb_notify_is_closed(&f->ns, raw));
}

/* Row "closed": refused saying by whom and when; a second close is a duplicate. */
static void test_closed(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_CLOSE, id, "staff-1", f->t0 + HOUR, &o),
                     NB_NOTIFY_CLOSED);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-2", f->t0 + 2 * HOUR, &o),
                     NB_NOTIFY_REFUSED);
    assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_CLOSED);
    assert_string_equal(o.closed_by, "staff-1");
    assert_int_equal(o.closed_at, f->t0 + HOUR);
    assert_int_equal(act(f, NB_ACK_INTENT_REASSIGN, id, "staff-1", f->t0 + 2 * HOUR, &o),
                     NB_NOTIFY_REFUSED);
    assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_CLOSED);
    assert_int_equal(act(f, NB_ACK_INTENT_CLOSE, id, "staff-2", f->t0 + 2 * HOUR, &o),
                     NB_NOTIFY_DUPLICATE);
}

/* Row "withdrawn": every action refused. */
static void test_withdrawn(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    raise_it(f, id);
    appointment(f, NB_STATUS_ATTENDED, 3); /* amended: the child was seen after all */
    step(f, f->t0 + HOUR);
    size_t n;
    nb_ledger_raised(f->led, &n);
    assert_int_equal(n, 0);
    for (int i = 0; i < 3; i++) {
        nb_ack_intent_t in = i == 0   ? NB_ACK_INTENT_TAKE
                             : i == 1 ? NB_ACK_INTENT_REASSIGN
                                      : NB_ACK_INTENT_CLOSE;
        assert_int_equal(act(f, in, id, "staff-1", f->t0 + 2 * HOUR, &o), NB_NOTIFY_REFUSED);
        assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_WITHDRAWN);
    }
    /* Forgotten after NB_NOTIFY_PENDING_MS, as early acks are. */
    step(f, f->t0 + HOUR + NB_NOTIFY_PENDING_MS);
    assert_int_equal(f->ns.n_owned, 0);
}

/* Before the notification exists: a close waits (as acks always did), a take is refused; a
 * malformed id is unknown. */
static void test_not_raised(void **state)
{
    fx_t *f = *state;
    nb_notify_outcome_t o;
    const char *id = "1a2b3c4d5e6f708192a3b4c5d6e7f809";
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0, &o), NB_NOTIFY_REFUSED);
    assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_NOT_RAISED);
    assert_int_equal(act(f, NB_ACK_INTENT_CLOSE, id, "staff-1", f->t0, &o), NB_NOTIFY_EARLY);
    assert_int_equal(act(f, NB_ACK_INTENT_CLOSE, id, "staff-1", f->t0, &o), NB_NOTIFY_DUPLICATE);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0, &o), NB_NOTIFY_REFUSED);
    assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_CLOSED);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, "nonsense", "staff-1", f->t0, &o),
                     NB_NOTIFY_UNKNOWN);
    assert_string_equal(nb_notify_verdict_name(NB_NOTIFY_UNKNOWN), "action_unknown");
}

/* The default policy (escalation_stops_on: close): a taken notification still escalates when
 * nobody closes it. */
static void test_take_does_not_stop_escalation_by_default(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_due_t due = raise_it(f, id);
    assert_true(due.escalation != NB_TIME_NONE);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, NULL),
                     NB_NOTIFY_TAKEN);
    step(f, due.escalation);
    size_t n;
    const nb_ledger_raised_t *r = nb_ledger_raised(f->led, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].level, 1);
}

/* A reassignment restarts the respond-by, and the ladder's timers move with it. */
static void test_reassign_restarts_the_ladder(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    const nb_policy_decision_t *d;
    nb_notify_due_t due = raise_restartable(f, id, &d);
    int64_t rb0 = d[0].respond_by, first = due.escalation;
    assert_true(rb0 != NB_TIME_NONE);
    int64_t t = first - HOUR; /* just before the first rung */
    assert_int_equal(act(f, NB_ACK_INTENT_REASSIGN, id, "staff-1", t, &o), NB_NOTIFY_REASSIGNED);
    assert_true(o.respond_by > rb0);
    due = step(f, first);
    size_t n;
    const nb_ledger_raised_t *r = nb_ledger_raised(f->led, &n);
    assert_int_equal(r[0].level, 0); /* not yet: the respond-by moved on */
    /* Every rung moves by as much as the respond-by did. */
    assert_int_equal(due.escalation - first, o.respond_by - rb0);
    step(f, due.escalation);
    r = nb_ledger_raised(f->led, &n);
    assert_int_equal(r[0].level, 1);
}

/* An escalation after a reassignment that restarted the respond-by: the escalated record's
 * respond-by is when the next rung now falls due (moved as the ladder was), not when it would
 * have without the reassignment. */
static void test_escalation_respond_by_after_a_reassignment(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    const nb_policy_decision_t *d;
    nb_notify_due_t due = raise_restartable(f, id, &d);
    assert_int_equal(d[0].n_rungs, 2);
    int64_t rb0 = d[0].respond_by, second = d[0].rungs[1].due;
    assert_int_equal(act(f, NB_ACK_INTENT_REASSIGN, id, "staff-1", due.escalation - HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    int64_t shift = o.respond_by - rb0;
    assert_true(shift > 0);
    due = step(f, due.escalation); /* not yet: moved on */
    escalations_t seen = {0};
    due = step_to(f, due.escalation, keep_escalation, &seen);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.last.escalation_level, 1);
    assert_int_equal(seen.last.respond_by, second + shift);
    assert_int_equal(due.escalation, second + shift); /* the daemon's own timer agrees */
}

/* A notification the modifiers moved to a tier with a ladder of its own follows that ladder's
 * ownership keys for a reassignment too: the Cardiff and Vale overlay lets the health visiting
 * team leader reassign what a health visitor owns on the health visiting ladder, and stops that
 * ladder on take; the urgent ladder a baby on a plan follows says neither. */
static void test_ownership_of_the_tier_ladder(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1], errstr[512];
    nb_notify_outcome_t o;
    const char *files[] = {NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml",
                           NB_SOURCE_DIR "/config/policy/cardiff-and-vale.yaml"};
    nb_policy_t *pol = NULL;
    assert_int_equal(nb_policy_load(files, 2, NULL, NULL, &pol, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_policy_destroy(f->pol);
    f->pol = pol;
    baby_on_plan(f);
    const nb_policy_decision_t *d = raise_rule(f, "hv_missed_under1", id);
    assert_int_equal(d->tier, NB_TIER_URGENT);
    assert_true(d->ladder_of_tier);
    uint64_t hash = d->rule->hash;
    const nb_policy_ownership_t *own = d->ownership;
    assert_false(own->stops_on_take);
    assert_int_equal(own->n_may_reassign, 0);
    assert_ptr_equal(nb_policy_ownership_at(f->pol, hash, NB_TIER_URGENT), own);
    /* At its rule's own tier it would follow the health visiting ladder and its keys. */
    assert_true(nb_policy_ownership_at(f->pol, hash, NB_TIER_PRIORITY)->stops_on_take);
    assert_ptr_equal(nb_policy_ownership(f->pol, hash),
                     nb_policy_ownership_at(f->pol, hash, NB_TIER_PRIORITY));
    nb_ack_t a = action(NB_ACK_INTENT_TAKE, id, "hv-1", "health_visitor");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + HOUR, &o),
                     NB_NOTIFY_TAKEN);
    /* The team leader may not take it from her: the urgent ladder does not say so. */
    a = action(NB_ACK_INTENT_REASSIGN, id, "lead-1", "hv_team_leader");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + HOUR, &o),
                     NB_NOTIFY_REFUSED);
    assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_OWNED_BY);
}

/* The respond-by a reassignment restarts comes from the ownership block of the ladder the
 * notification follows: the urgent tier's, for a baby on a plan; and without one, an urgent
 * notification keeps its tier's time (the end of the day), not its rule's five working days. */
static void test_reassign_restarts_from_the_tier_ladder(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1], err[512];
    nb_notify_outcome_t o;
    baby_on_plan(f);
    const nb_policy_decision_t *d = raise_rule(f, "hv_missed_under1", id);
    assert_true(d->ladder_of_tier);
    int64_t rb0 = d->respond_by;
    nb_ack_t a = action(NB_ACK_INTENT_REASSIGN, id, "hv-1", "health_visitor");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    assert_int_equal(o.respond_by, rb0); /* the same day's end, as when it was raised */

    teardown(state);
    setup(state);
    f = *state;
    assert_int_equal(overlay(f,
                             OVERLAY_HEAD
                             "ladders:\n"
                             "  - id: urgent\n"
                             "    override: true\n"
                             "    rungs:\n"
                             "      - {after_hours: 4, early: true, to: [named_nurse], tier: "
                             "urgent}\n"
                             "      - {after_hours: 8, early: true, to: [safeguarding_team], "
                             "tier: urgent}\n"
                             "    ownership: {respond_by_after_reassign: {hours: 2}}\n",
                             err, sizeof(err)),
                     NB_ERR_OK);
    baby_on_plan(f);
    d = raise_rule(f, "hv_missed_under1", id);
    assert_true(d->ladder_of_tier);
    a = action(NB_ACK_INTENT_REASSIGN, id, "hv-1", "health_visitor");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    assert_int_equal(o.respond_by, f->t0 + 3 * HOUR);
}

/* The state's encoding keeps owners (version 2) and still reads version 1. */
static void test_state_encoding(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, NULL),
                     NB_NOTIFY_TAKEN);
    nb_buf_t b = {0};
    assert_int_equal(nb_notify_state_encode(&f->ns, &b), NB_ERR_OK);
    nb_notify_state_t back;
    size_t used;
    assert_int_equal(nb_notify_state_decode(&back, b.data, b.len, &used), NB_ERR_OK);
    assert_int_equal(used, b.len);
    assert_int_equal(back.n_owned, 1);
    assert_memory_equal(&back.owned[0], &f->ns.owned[0], sizeof(back.owned[0]));
    /* Cut short anywhere in the owners: corrupt, never a crash. */
    for (size_t cut = b.len - 1; cut > 4; cut--)
        assert_int_equal(nb_notify_state_decode(&back, b.data, cut, &used), NB_ERR_LEDGER_CORRUPT);
    nb_buf_free(&b);
    /* Version 1 (an older build): one closed id, no owners. */
    uint8_t v1[3 + NB_LEDGER_ID_BYTES] = {1, 1, 0};
    assert_true(nb_ledger_id_parse(id, v1 + 3));
    assert_int_equal(nb_notify_state_decode(&back, v1, sizeof(v1), &used), NB_ERR_OK);
    assert_int_equal(used, sizeof(v1));
    assert_int_equal(back.n_closed, 1);
    assert_int_equal(back.n_owned, 0);
    uint8_t bad[4] = {2, 0, 0, NB_NOTIFY_MAX_OWNED + 1};
    assert_int_equal(nb_notify_state_decode(&back, bad, sizeof(bad), &used), NB_ERR_LEDGER_CORRUPT);
}

/* The audit record says who did what and what came of it, never the note or the reason. */
static void test_audit_record(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1];
    nb_notify_outcome_t o;
    raise_it(f, id);
    nb_ack_t a = action(NB_ACK_INTENT_TAKE, id, "staff-1", "named_nurse");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + HOUR, &o),
                     NB_NOTIFY_TAKEN);
    a = action(NB_ACK_INTENT_CLOSE, id, "staff-2", "safeguarding_team");
    strcpy(a.outcome, "Mother Jane Doe phoned back");
    strcpy(a.reason, "Seen at 1 Main Street");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + HOUR, &o),
                     NB_NOTIFY_REFUSED);
    nb_audit_t r;
    nb_notify_audit_action(f->pol, &a, &o, KEY, f->t0 + HOUR, &r);
    assert_int_equal(r.kind, NB_AUDIT_ACTION_REFUSED);
    assert_string_equal(r.reason, "owned_by");
    assert_true(r.has_action);
    assert_string_equal(r.action.owner_user, "staff-1");
    assert_int_equal(r.action.intent, NB_ACK_INTENT_CLOSE);
    assert_true(r.has_actor);
    assert_string_equal(r.actor.user_id, "staff-2");
    assert_string_equal(r.actor.queue, "safeguarding_team");
    assert_string_equal(r.notification_id, id);
    assert_null(memmem(&r, sizeof(r), "Jane", 4));
    assert_null(memmem(&r, sizeof(r), "Main Street", 11));
}

/* escalation_stops_on: take: a taken notification escalates no further; one reassigned to a
 * queue (nobody owns it) does. */
static void test_take_stops_escalation_when_the_policy_says(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1], err[512];
    assert_int_equal(
        overlay(f, OVERLAY_HEAD "ownership: {escalation_stops_on: take}\n", err, sizeof(err)),
        NB_ERR_OK);
    nb_notify_due_t due = raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, NULL),
                     NB_NOTIFY_TAKEN);
    nb_notify_due_t after = step(f, due.escalation);
    size_t n;
    const nb_ledger_raised_t *r = nb_ledger_raised(f->led, &n);
    assert_int_equal(r[0].level, 0);
    assert_int_equal(after.escalation, NB_TIME_NONE);
}

/* A ladder's own block wins over the policy's. */
static void test_ladder_ownership_wins(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1], err[512];
    assert_int_equal(
        overlay(f,
                OVERLAY_HEAD
                "ownership: {escalation_stops_on: take}\n"
                "ladders:\n"
                "  - id: urgent\n"
                "    override: true\n"
                "    rungs:\n"
                "      - {after_hours: 4, early: true, to: [named_nurse], tier: urgent}\n"
                "    ownership: {escalation_stops_on: close}\n",
                err, sizeof(err)),
        NB_ERR_OK);
    nb_notify_due_t due = raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, NULL),
                     NB_NOTIFY_TAKEN);
    step(f, due.escalation);
    size_t n;
    const nb_ledger_raised_t *r = nb_ledger_raised(f->led, &n);
    assert_int_equal(r[0].level, 1);
}

/* may_reassign_owned: a team leader's role may reassign what another person owns; nobody
 * else may. */
static void test_may_reassign_owned(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1], err[512];
    nb_notify_outcome_t o;
    assert_int_equal(overlay(f,
                             OVERLAY_HEAD "ownership: {may_reassign_owned: [safeguarding_team]}\n",
                             err, sizeof(err)),
                     NB_ERR_OK);
    raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_TAKE, id, "staff-1", f->t0 + HOUR, NULL),
                     NB_NOTIFY_TAKEN);
    assert_int_equal(act(f, NB_ACK_INTENT_REASSIGN, id, "staff-2", f->t0 + HOUR, &o),
                     NB_NOTIFY_REFUSED);
    nb_ack_t a = action(NB_ACK_INTENT_REASSIGN, id, "lead-1", "safeguarding_team");
    strcpy(a.reassign_to_user, "staff-3");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + 2 * HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    assert_string_equal(o.owner_user, "staff-3");
}

/* What the inbox sends: its role is the queue the person acts in, a route, never a role id. A
 * team leader is in the queue that is her role's route (config/policy/wnb-wales-base.yaml:
 * hv_team_leader, queue:hv-team-leader), so her reassignment of what a health visitor owns is
 * made; the same person acting in the caseload queue, or a colleague there, is refused. */
static void test_may_reassign_owned_by_the_route_the_inbox_sends(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1], err[512];
    nb_notify_outcome_t o;
    assert_int_equal(overlay(f, OVERLAY_HEAD "ownership: {may_reassign_owned: [hv_team_leader]}\n",
                             err, sizeof(err)),
                     NB_ERR_OK);
    raise_it(f, id);
    nb_ack_t take = action(NB_ACK_INTENT_TAKE, id, "hv.jones", "queue:hv-caseload");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &take, f->t0 + HOUR, &o),
                     NB_NOTIFY_TAKEN);
    /* Exactly as the inbox builds it (src/web/act.c): the form's id, the display name, the
     * staff id, the queue acted in, the person it goes to and why. */
    nb_ack_t a;
    memset(&a, 0, sizeof(a));
    strcpy(a.ack_id, "inbox-0123456789abcdef0123456789abcdef");
    strcpy(a.notification_id, id);
    a.intent = NB_ACK_INTENT_REASSIGN;
    strcpy(a.acknowledged_by, "Pat Lead");
    strcpy(a.user_id, "hv.lead");
    strcpy(a.role, "queue:hv-caseload");
    strcpy(a.reassign_to_user, "hv.evans");
    strcpy(a.reason, "Hv Jones is on leave.");
    a.action = NB_ACK_OTHER;
    a.acknowledged_at = f->t0 + 2 * HOUR;
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + 2 * HOUR, &o),
                     NB_NOTIFY_REFUSED);
    assert_int_equal(o.refusal, NB_NOTIFY_REFUSAL_OWNED_BY);
    assert_string_equal(o.owner_user, "hv.jones");
    strcpy(a.ack_id, "inbox-fedcba9876543210fedcba9876543210");
    strcpy(a.role, "queue:hv-team-leader");
    assert_int_equal(nb_notify_apply(f->pol, &f->ns, f->led, &a, f->t0 + 2 * HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    assert_string_equal(o.owner_user, "hv.evans");
    /* The verdict's audit names the queue she acted in. */
    nb_audit_t au;
    nb_notify_audit_action(f->pol, &a, &o, "child-1", f->t0 + 2 * HOUR, &au);
    assert_string_equal(au.actor.queue, "queue:hv-team-leader");
    assert_string_equal(au.action.target_user, "hv.evans");
    /* A route no listed role has is nobody's authority, nor is an empty role. */
    const nb_policy_ownership_t *own = nb_policy_ownership(f->pol, 0);
    assert_true(nb_policy_ownership_may_reassign(own, "hv_team_leader"));
    assert_true(nb_policy_ownership_may_reassign(own, "queue:hv-team-leader"));
    assert_false(nb_policy_ownership_may_reassign(own, "queue:named-nurse-safeguarding"));
    assert_false(nb_policy_ownership_may_reassign(own, ""));
}

/* reassign_restarts_respond_by: false keeps the respond-by and the ladder where they were. */
static void test_reassign_without_restart(void **state)
{
    fx_t *f = *state;
    char id[NB_LEDGER_ID_HEX + 1], err[512];
    nb_notify_outcome_t o;
    assert_int_equal(overlay(f, OVERLAY_HEAD "ownership: {reassign_restarts_respond_by: false}\n",
                             err, sizeof(err)),
                     NB_ERR_OK);
    nb_notify_due_t due = raise_it(f, id);
    assert_int_equal(act(f, NB_ACK_INTENT_REASSIGN, id, "staff-1", f->t0 + HOUR, &o),
                     NB_NOTIFY_REASSIGNED);
    assert_int_equal(o.respond_by, NB_TIME_NONE);
    step(f, due.escalation);
    size_t n;
    const nb_ledger_raised_t *r = nb_ledger_raised(f->led, &n);
    assert_int_equal(r[0].level, 1);
}

/* Mistakes in the block are reported with file:line:column, like every other key. */
static void test_ownership_errors(void **state)
{
    fx_t *f = *state;
    char err[512];
    assert_int_equal(
        overlay(f, OVERLAY_HEAD "ownership: {escalation_stops_on: taken}\n", err, sizeof(err)),
        NB_ERR_POLICY_VALUE);
    assert_non_null(strstr(err, ":5:"));
    assert_non_null(strstr(err, "escalation_stops_on"));
    assert_int_equal(
        overlay(f, OVERLAY_HEAD "ownership: {may_reassign_owned: [team_lead]}\n", err, sizeof(err)),
        NB_ERR_POLICY_REFERENCE);
    assert_non_null(strstr(err, "unknown role 'team_lead'"));
    assert_int_equal(overlay(f, OVERLAY_HEAD "ownership: {stops_on: take}\n", err, sizeof(err)),
                     NB_ERR_POLICY_UNKNOWN_KEY);
    assert_int_equal(
        overlay(f, OVERLAY_HEAD "ownership: {reassign_restarts_respond_by: 1}\n", err, sizeof(err)),
        NB_ERR_POLICY_TYPE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_take_reassign_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owned_by_actor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owned_by_someone_else, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_withdrawn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_raised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_does_not_stop_escalation_by_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reassign_restarts_the_ladder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation_respond_by_after_a_reassignment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ownership_of_the_tier_ladder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reassign_restarts_from_the_tier_ladder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_stops_escalation_when_the_policy_says, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ladder_ownership_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_may_reassign_owned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_may_reassign_owned_by_the_route_the_inbox_sends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reassign_without_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ownership_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
