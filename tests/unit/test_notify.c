/*
 * Unit tests: notify (the notification lifecycle as a state machine, over the shipped
 * default policy): new -> escalated up the whole ladder; acknowledged -> no escalation;
 * early acknowledgement; withdrawal and recorded correction; restore mid-escalation.
 */
#define _GNU_SOURCE /* memmem() */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/notify.h"

#include "notify_fixture.h"

/* Evaluates at t and plans; returns the number of actions. */
static size_t plan(fx_t *f, int64_t t, nb_notify_action_t *acts, int64_t *due)
{
    nb_policy_subject_t subj = {KEY, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    assert_int_equal(nb_policy_evaluate(f->pol, f->led, &subj, t, f->res), NB_ERR_OK);
    return nb_notify_plan(f->res, &f->ns, t, true, acts, 16, due);
}

static const nb_notify_action_t *find(const nb_notify_action_t *acts, size_t n,
                                      nb_notify_act_t act)
{
    for (size_t i = 0; i < n; i++)
        if (acts[i].act == act)
            return &acts[i];
    return NULL;
}

/* Publishes a NEW action: records it as raised, as the pipeline does. */
static void raise_new(fx_t *f, const nb_notify_action_t *a, char id[NB_LEDGER_ID_HEX + 1])
{
    nb_ledger_raised_t r;
    snprintf(id, NB_LEDGER_ID_HEX + 1, "%s", a->decision->id);
    nb_policy_decision_to_raised(a->decision, &r);
    assert_int_equal(nb_ledger_add_raised(f->led, &r), NB_ERR_OK);
    nb_notify_sync(&f->ns, f->led, f->t0);
}

static void escalate(fx_t *f, const nb_notify_action_t *a)
{
    size_t nr;
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(f->res, &nr);
    for (size_t k = 0; k < nr; k++) {
        if (memcmp(rs[k].raised->id, a->decision->id_bytes, NB_LEDGER_ID_BYTES) == 0) {
            nb_ledger_raised_t r = *rs[k].raised;
            r.level = (uint8_t)(a->rung + 1);
            assert_int_equal(nb_ledger_add_raised(f->led, &r), NB_ERR_OK);
            return;
        }
    }
    fail_msg("escalated decision is not raised");
}

static void test_reference(void **state)
{
    uint8_t id[NB_LEDGER_ID_BYTES];
    char ref[NB_REF_MAX + 1], again[NB_REF_MAX + 1];
    (void)state;
    for (int seed = 0; seed < 2000; seed++) {
        for (int i = 0; i < NB_LEDGER_ID_BYTES; i++)
            id[i] = (uint8_t)(seed * 31 + i * 7 + (seed >> 3));
        nb_notify_reference(id, ref);
        nb_notify_reference(id, again);
        assert_string_equal(ref, again);
        assert_int_equal(strlen(ref), 13);
        assert_memory_equal(ref, "WNB-", 4);
        assert_int_equal(ref[8], '-');
        for (const char *p = ref + 4; *p; p++)
            assert_null(strchr("01OIL", *p));
    }
}

static void test_new_then_whole_ladder(void **state)
{
    fx_t *f = *state;
    nb_notify_action_t acts[16];
    int64_t due;
    char id[NB_LEDGER_ID_HEX + 1];
    size_t n = plan(f, f->t0, acts, &due);
    const nb_notify_action_t *a = find(acts, n, NB_NOTIFY_ACT_NEW);
    assert_non_null(a);
    assert_string_equal(a->decision->rule->id, "wnb_child_on_plan");
    assert_int_equal(a->decision->tier, NB_TIER_URGENT);
    size_t rungs = a->decision->n_rungs;
    assert_true(rungs >= 2);
    assert_int_equal(due, a->decision->rungs[0].due);

    nb_notification_t note;
    nb_notify_child_t child = {KEY, "9434765919", ""};
    nb_notify_build_new(f->pol, a->decision, f->led, &child, f->t0, &note);
    assert_string_equal(note.notification_id, a->decision->id);
    assert_int_equal(note.kind, NB_NOTIFICATION_NEW);
    assert_string_equal(note.nhs_number, "9434765919");
    assert_int_equal(note.n_evidence, 1);
    assert_int_equal(note.evidence[0].status, NB_STATUS_WAS_NOT_BROUGHT);
    assert_int_equal(note.n_context, 1);
    assert_true(note.n_recipients >= 1);
    assert_int_equal(note.escalation_level, 0);
    raise_new(f, a, id);

    /* Before the first rung: nothing. */
    n = plan(f, f->t0 + HOUR, acts, &due);
    assert_null(find(acts, n, NB_NOTIFY_ACT_ESCALATE));
    assert_null(find(acts, n, NB_NOTIFY_ACT_NEW));
    /* Each rung once, in order, up to the top. */
    for (size_t r = 0; r < rungs; r++) {
        int64_t t = due;
        n = plan(f, t, acts, &due);
        a = find(acts, n, NB_NOTIFY_ACT_ESCALATE);
        assert_non_null(a);
        assert_int_equal(a->rung, r);
        nb_notify_build_escalation(f->pol, a->decision, a->rung, a->shift, f->led, &child, t,
                                   &note);
        char want[64];
        snprintf(want, sizeof(want), "%s-e%zu", id, r + 1);
        assert_string_equal(note.notification_id, want);
        assert_string_equal(note.supersedes, id);
        assert_int_equal(note.kind, NB_NOTIFICATION_ESCALATED);
        assert_int_equal(note.escalation_level, (int)r + 1);
        escalate(f, a);
        /* The same time again: already escalated, nothing more. */
        n = plan(f, t, acts, &due);
        assert_null(find(acts, n, NB_NOTIFY_ACT_ESCALATE));
    }
    assert_int_equal(due, NB_TIME_NONE);
}

static void test_acknowledged_does_not_escalate(void **state)
{
    fx_t *f = *state;
    nb_notify_action_t acts[16];
    int64_t due;
    char id[NB_LEDGER_ID_HEX + 1];
    size_t n = plan(f, f->t0, acts, &due);
    raise_new(f, find(acts, n, NB_NOTIFY_ACT_NEW), id);
    assert_int_equal(nb_notify_ack(&f->ns, f->led, id, f->t0 + HOUR), NB_NOTIFY_ACK_CLOSED);
    assert_int_equal(nb_notify_ack(&f->ns, f->led, id, f->t0 + HOUR), NB_NOTIFY_ACK_DUPLICATE);
    n = plan(f, f->t0 + 100 * HOUR, acts, &due);
    assert_null(find(acts, n, NB_NOTIFY_ACT_ESCALATE));
    assert_int_equal(due, NB_TIME_NONE);
    /* Acks of malformed ids are recorded as unknown, never fatal. */
    assert_int_equal(nb_notify_ack(&f->ns, f->led, "nonsense", f->t0), NB_NOTIFY_ACK_UNKNOWN);
    assert_int_equal(nb_notify_ack(&f->ns, f->led, "zz1a2b3c4d5e6f708192a3b4c5d6e7f8", f->t0),
                     NB_NOTIFY_ACK_UNKNOWN);
}

static void test_acknowledging_an_escalation_closes_the_origin(void **state)
{
    fx_t *f = *state;
    nb_notify_action_t acts[16];
    int64_t due;
    char id[NB_LEDGER_ID_HEX + 1], esc[64];
    size_t n = plan(f, f->t0, acts, &due);
    raise_new(f, find(acts, n, NB_NOTIFY_ACT_NEW), id);
    n = plan(f, due, acts, &due);
    escalate(f, find(acts, n, NB_NOTIFY_ACT_ESCALATE));
    snprintf(esc, sizeof(esc), "%s-e1", id);
    assert_int_equal(nb_notify_ack(&f->ns, f->led, esc, f->t0), NB_NOTIFY_ACK_CLOSED);
    n = plan(f, f->t0 + 1000 * HOUR, acts, &due);
    assert_null(find(acts, n, NB_NOTIFY_ACT_ESCALATE));
}

static void test_early_ack_closes_on_arrival(void **state)
{
    fx_t *f = *state;
    nb_notify_action_t acts[16];
    int64_t due;
    char id[NB_LEDGER_ID_HEX + 1];
    size_t n = plan(f, f->t0, acts, &due);
    snprintf(id, sizeof(id), "%s", find(acts, n, NB_NOTIFY_ACT_NEW)->decision->id);
    /* The ack overtakes the notification. */
    assert_int_equal(nb_notify_ack(&f->ns, f->led, id, f->t0), NB_NOTIFY_ACK_EARLY);
    n = plan(f, f->t0, acts, &due);
    const nb_notify_action_t *a = find(acts, n, NB_NOTIFY_ACT_NEW_CLOSED);
    assert_non_null(a);
    raise_new(f, a, id);
    uint8_t raw[NB_LEDGER_ID_BYTES];
    assert_true(nb_ledger_id_parse(id, raw));
    assert_true(nb_notify_is_closed(&f->ns, raw));
    assert_int_equal(f->ns.n_pending, 0);
    n = plan(f, f->t0 + 100 * HOUR, acts, &due);
    assert_null(find(acts, n, NB_NOTIFY_ACT_ESCALATE));
}

static void test_correction_withdraws_open_and_records_closed(void **state)
{
    fx_t *f = *state;
    nb_notify_action_t acts[16];
    int64_t due;
    char id[NB_LEDGER_ID_HEX + 1];
    size_t n = plan(f, f->t0, acts, &due);
    const nb_notify_action_t *na = find(acts, n, NB_NOTIFY_ACT_NEW);
    char told[NB_NOTIF_MAX_RECIPIENTS][NB_ID_MAX + 1];
    size_t n_told = na->decision->n_recipients;
    for (size_t i = 0; i < n_told; i++)
        snprintf(told[i], sizeof(told[i]), "%s", na->decision->recipients[i]->id);
    assert_true(n_told > 0);
    raise_new(f, na, id);
    /* The outcome is amended: the child was seen after all. */
    appointment(f, NB_STATUS_ATTENDED, 3);
    n = plan(f, f->t0 + HOUR, acts, &due);
    const nb_notify_action_t *a = find(acts, n, NB_NOTIFY_ACT_WITHDRAW);
    assert_non_null(a);
    nb_notification_t note;
    nb_notify_child_t child = {KEY, "9434765919", ""};
    nb_notify_build_withdrawal(f->pol, a->raised, f->led, &child, f->t0 + HOUR, &note);
    assert_int_equal(note.kind, NB_NOTIFICATION_WITHDRAWN);
    assert_string_equal(note.supersedes, id);
    char want[64];
    snprintf(want, sizeof(want), "%s-w", id);
    assert_string_equal(note.notification_id, want);
    /* It says why, and names the record that caused it (quotable to the GP practice). */
    nb_evidence_t cause;
    memset(&cause, 0, sizeof(cause));
    snprintf(cause.appointment_id, sizeof(cause.appointment_id), "gp-7");
    snprintf(cause.organisation_code, sizeof(cause.organisation_code), "W91001");
    cause.agency = NB_AGENCY_GP;
    cause.status = NB_STATUS_ATTENDED;
    nb_notify_build_withdrawal_by(f->pol, a->raised, f->led, &child, &cause, f->t0 + HOUR,
                                  &note);
    assert_int_equal(nb_notify_withdrawal_reason(a->raised, &cause), NB_WITHDRAWN_CORRECTED);
    assert_non_null(strstr(note.action, "was corrected"));
    assert_non_null(strstr(note.action, "GP appointment gp-7 at W91001, now attended"));
    assert_int_equal(note.n_evidence, 1);
    assert_string_equal(note.evidence[0].appointment_id, "gp-7");
    /* Told to those who were told: the original's recipients (not escalated: level 0). */
    assert_int_equal(note.n_recipients, n_told);
    for (size_t i = 0; i < n_told; i++) {
        assert_string_equal(note.recipients[i].role, told[i]);
        /* With the role's title, as the new notification had it. */
        assert_true(note.recipients[i].title[0] != '\0');
        assert_null(strchr(note.recipients[i].title, '_'));
    }
    cause.status = NB_STATUS_ENTERED_IN_ERROR;
    assert_int_equal(nb_notify_withdrawal_reason(a->raised, &cause),
                     NB_WITHDRAWN_ENTERED_IN_ERROR);
    nb_notify_build_withdrawal_by(f->pol, a->raised, f->led, &child, &cause, f->t0 + HOUR,
                                  &note);
    assert_non_null(strstr(note.action, "entered in error"));
    /* Withdrawn by a context fact: it names the fact and its system, not an appointment. */
    nb_context_fact_t plan_fact;
    memset(&plan_fact, 0, sizeof(plan_fact));
    plan_fact.kind = NB_FACT_CHILD_PROTECTION_PLAN;
    plan_fact.status = NB_FACT_STATUS_ENTERED_IN_ERROR;
    plan_fact.end_date = NB_DATE_NONE;
    snprintf(plan_fact.source_system, sizeof(plan_fact.source_system), "WCCIS");
    assert_int_equal(nb_notify_withdrawal_reason_of_fact(a->raised, &plan_fact),
                     NB_WITHDRAWN_CONTEXT_ENTERED_IN_ERROR);
    nb_notify_build_withdrawal_fact(f->pol, a->raised, f->led, &child, &plan_fact, f->t0 + HOUR,
                                    &note);
    assert_non_null(strstr(note.action, "the child protection plan (WCCIS), was entered in error"));
    assert_null(strstr(note.action, "appointment"));
    assert_int_equal(note.n_recipients, n_told);
    plan_fact.status = NB_FACT_STATUS_CURRENT;
    plan_fact.end_date = 20000;
    assert_int_equal(nb_notify_withdrawal_reason_of_fact(a->raised, &plan_fact),
                     NB_WITHDRAWN_CONTEXT_CHANGED);
    nb_notify_build_withdrawal_fact(f->pol, a->raised, f->led, &child, &plan_fact, f->t0 + HOUR,
                                    &note);
    assert_non_null(strstr(note.action, "was changed (it has ended)"));
    nb_policy_raised_status_t rs = *a->raised;
    rs.support = NB_POLICY_RESOLVED;
    assert_int_equal(nb_notify_withdrawal_reason(&rs, NULL), NB_WITHDRAWN_CONTACT_RECORDED);
    rs.support = NB_POLICY_RULE_REMOVED;
    rs.rule = NULL;
    assert_int_equal(nb_notify_withdrawal_reason(&rs, NULL), NB_WITHDRAWN_POLICY_CHANGED);
    nb_notify_build_withdrawal_by(f->pol, &rs, f->led, &child, NULL, f->t0 + HOUR, &note);
    assert_non_null(strstr(note.action, "no longer has this rule"));
    assert_int_equal(note.n_evidence, 0);
    assert_string_equal(nb_withdrawal_reason_name(NB_WITHDRAWN_CONTACT_RECORDED),
                        "contact_recorded");

    /* Had it been acknowledged, the correction is only recorded. */
    assert_int_equal(nb_notify_ack(&f->ns, f->led, id, f->t0), NB_NOTIFY_ACK_CLOSED);
    n = plan(f, f->t0 + HOUR, acts, &due);
    assert_null(find(acts, n, NB_NOTIFY_ACT_WITHDRAW));
    assert_non_null(find(acts, n, NB_NOTIFY_ACT_CORRECTED));
}

/* After a restart mid-escalation, the next rung fires once and the done ones never again. */
static void test_restore_mid_escalation(void **state)
{
    fx_t *f = *state;
    nb_notify_action_t acts[16];
    int64_t due, t1;
    char id[NB_LEDGER_ID_HEX + 1], errstr[256];
    size_t n = plan(f, f->t0, acts, &due);
    raise_new(f, find(acts, n, NB_NOTIFY_ACT_NEW), id);
    t1 = due;
    n = plan(f, t1, acts, &due);
    escalate(f, find(acts, n, NB_NOTIFY_ACT_ESCALATE));
    int64_t t2 = due; /* the second rung */
    assert_true(t2 != NB_TIME_NONE && t2 > t1);
    /* Persist and restore ledger and notify state, as the changelog does. */
    nb_buf_t lb = {0}, sb = {0};
    assert_int_equal(nb_ledger_encode(f->led, &lb), NB_ERR_OK);
    assert_int_equal(nb_notify_state_encode(&f->ns, &sb), NB_ERR_OK);
    nb_ledger_destroy(f->led);
    f->led = NULL;
    assert_int_equal(nb_ledger_decode(f->dict, lb.data, lb.len, &f->led, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    size_t used;
    memset(&f->ns, 0x5a, sizeof(f->ns));
    assert_int_equal(nb_notify_state_decode(&f->ns, sb.data, sb.len, &used), NB_ERR_OK);
    assert_int_equal(used, sb.len);
    /* After the restart: exactly the next rung fires, the first never again. */
    n = plan(f, t2 - 1, acts, &due);
    assert_null(find(acts, n, NB_NOTIFY_ACT_ESCALATE));
    assert_int_equal(due, t2);
    n = plan(f, t2, acts, &due);
    const nb_notify_action_t *a = find(acts, n, NB_NOTIFY_ACT_ESCALATE);
    assert_non_null(a);
    assert_int_equal(a->rung, 1);
    nb_buf_free(&lb);
    nb_buf_free(&sb);
    /* Corrupt state is refused. */
    uint8_t bad[3] = {9, 0, 0};
    assert_int_equal(nb_notify_state_decode(&f->ns, bad, 3, &used), NB_ERR_LEDGER_CORRUPT);
}

/* The audit record of a notification: what a review needs, and none of the notification's
 * personal data (searched for in every byte of the record). */
static void test_audit_has_no_personal_data(void **state)
{
    fx_t *f = *state;
    static nb_notification_t n;
    memset(&n, 0, sizeof(n));
    strcpy(n.notification_id, "0123abcd");
    strcpy(n.reference, "WNB-ABCD-EFGH");
    strcpy(n.child_key, KEY);
    strcpy(n.nhs_number, "9434765919");
    strcpy(n.pregnant_person_nhs, "9434765870");
    n.date_of_birth = 20000;
    strcpy(n.rule_id, "wnb_child_on_plan");
    n.tier = NB_TIER_URGENT;
    n.escalation_level = 0;
    n.respond_by = f->t0 + 86400000;
    n.n_evidence = 2;
    strcpy(n.evidence[0].event_id, "gp-1-v2");
    n.evidence[0].agency = NB_AGENCY_GP;
    n.evidence[0].scheduled_start = f->t0 - 86400000;
    strcpy(n.evidence[0].organisation_code, "W97001");
    strcpy(n.evidence[1].event_id, "hv-2-v1");
    n.evidence[1].agency = NB_AGENCY_HEALTH_VISITING;
    n.evidence[1].scheduled_start = f->t0 - 3600000;
    strcpy(n.evidence[1].organisation_code, "7A4");
    n.n_recipients = 1;
    strcpy(n.recipients[0].role, "named_nurse");
    strcpy(n.recipients[0].route, "queue:named-nurse");
    nb_audit_t a;
    nb_notify_audit_note(f->pol, NB_AUDIT_FIRED, &n, f->t0, &a);
    assert_int_equal(a.kind, NB_AUDIT_FIRED);
    assert_string_equal(a.notification_id, "0123abcd");
    assert_string_equal(a.reference, "WNB-ABCD-EFGH");
    assert_int_equal(a.tier, NB_TIER_URGENT);
    assert_int_equal(a.n_evidence, 2);
    assert_string_equal(a.evidence[1], "hv-2-v1");
    /* The pattern ends at the most recent evidence. */
    assert_int_equal(a.agency, NB_AGENCY_HEALTH_VISITING);
    assert_string_equal(a.organisation, "7A4");
    assert_int_equal(a.n_recipients, 1);
    assert_string_equal(a.recipients[0].route, "queue:named-nurse");
    assert_int_equal(a.respond_by, n.respond_by);
    assert_true(a.has_policy);
    assert_true(a.policy.hash[0] != '\0');
    assert_int_equal(strncmp(a.audit_id, "aud-", 4), 0);
    assert_null(memmem(&a, sizeof(a), "9434765919", 10));
    assert_null(memmem(&a, sizeof(a), "9434765870", 10));
    /* The same step has the same id; an escalation of it another. */
    nb_audit_t again, up;
    nb_notify_audit_note(f->pol, NB_AUDIT_FIRED, &n, f->t0 + 5, &again);
    assert_string_equal(again.audit_id, a.audit_id);
    n.escalation_level = 1;
    nb_notify_audit_note(f->pol, NB_AUDIT_ESCALATED, &n, f->t0, &up);
    assert_string_not_equal(up.audit_id, a.audit_id);
}

/* A suppression recurs at each evaluation: one audit record per evaluation, told apart by the
 * record that caused it even in one millisecond (or under a fixed clock); the same evaluation
 * again (a transaction rolled back and redone) has the same id. */
static void test_suppressed_audit_id_per_cause(void **state)
{
    fx_t *f = *state;
    static const nb_policy_rule_info_t rule = {.id = "wnb_repeated"};
    nb_policy_decision_t d;
    memset(&d, 0, sizeof(d));
    strcpy(d.id, "00112233445566778899aabbccddeeff");
    d.rule = &rule;
    d.state = NB_POLICY_SUPPRESSED;
    d.tier = NB_TIER_URGENT;
    nb_notify_action_t act = {NB_NOTIFY_ACT_SUPPRESSED, &d, NULL, 0, 0};
    static nb_evidence_t e1, e2;
    strcpy(e1.event_id, "gp-1-v1");
    strcpy(e2.event_id, "gp-2-v1");
    nb_notify_cause_t c1 = {&e1, NULL}, c2 = {&e2, NULL};
    nb_notify_out_t o1 = {&act, NULL, false, &c1}, o2 = {&act, NULL, false, &c2};
    nb_notify_out_t timer = {&act, NULL, false, NULL};
    nb_audit_t a1, a1again, a2, at, at_later;
    nb_notify_audit_step(f->pol, &o1, KEY, f->t0, &a1);
    nb_notify_audit_step(f->pol, &o1, KEY, f->t0, &a1again);
    nb_notify_audit_step(f->pol, &o2, KEY, f->t0, &a2);
    nb_notify_audit_step(f->pol, &timer, KEY, f->t0, &at);
    nb_notify_audit_step(f->pol, &timer, KEY, f->t0 + 1, &at_later);
    assert_int_equal(a1.kind, NB_AUDIT_SUPPRESSED);
    assert_string_equal(a1.rule_id, "wnb_repeated");
    assert_string_equal(a1.audit_id, a1again.audit_id);
    assert_string_not_equal(a1.audit_id, a2.audit_id);
    assert_string_not_equal(a1.audit_id, at.audit_id);
    assert_string_not_equal(at.audit_id, at_later.audit_id);
}

/* What a sink saw. */
typedef struct seen_s {
    size_t n, fail_at;
    nb_notify_act_t acts[16];
    char ids[16][NB_ID_MAX + 1];
} seen_t;

NB_NODISCARD static nb_err_t sink(void *opaque, const nb_notify_out_t *o)
{
    seen_t *s = opaque;
    if (s->n + 1 == s->fail_at)
        return NB_ERR_KAFKA_ABORTABLE;
    s->acts[s->n] = o->action->act;
    snprintf(s->ids[s->n], sizeof(s->ids[s->n]), "%s", o->note ? o->note->notification_id : "");
    s->n++;
    return NB_ERR_OK;
}

/* The one lifecycle step (daemon, replay, policy test): a sink that fails leaves the ledger as
 * it was, so the record is handled again; one that succeeds sees the notification built and
 * the ledger records it, then the first rung of the ladder when it falls due. */
static void test_step_records_only_what_went_out(void **state)
{
    fx_t *f = *state;
    nb_notify_scratch_t scratch = {0};
    nb_notify_child_t child = {KEY, "9434765919", ""};
    nb_policy_subject_t subj = {KEY, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    nb_notify_due_t due;
    size_t n_raised;
    seen_t seen = {0};
    seen.fail_at = 1;
    assert_int_equal(nb_policy_evaluate(f->pol, f->led, &subj, f->t0, f->res), NB_ERR_OK);
    assert_int_equal(nb_notify_step(f->pol, f->res, f->led, &f->ns, &child, NULL, f->t0, true,
                                    &scratch, sink, &seen, &due),
                     NB_ERR_KAFKA_ABORTABLE);
    nb_ledger_raised(f->led, &n_raised);
    assert_int_equal(n_raised, 0);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(nb_policy_evaluate(f->pol, f->led, &subj, f->t0, f->res), NB_ERR_OK);
    assert_int_equal(nb_notify_step(f->pol, f->res, f->led, &f->ns, &child, NULL, f->t0, true,
                                    &scratch, sink, &seen, &due),
                     NB_ERR_OK);
    assert_true(seen.n >= 1);
    assert_int_equal(seen.acts[0], NB_NOTIFY_ACT_NEW);
    assert_true(seen.ids[0][0] != '\0');
    const nb_ledger_raised_t *r = nb_ledger_raised(f->led, &n_raised);
    assert_int_equal(n_raised, 1);
    assert_int_equal(r[0].level, 0);
    assert_true(due.escalation != NB_TIME_NONE && due.escalation > f->t0);
    assert_true(due.next != NB_TIME_NONE && due.next <= due.escalation);

    /* At the first rung's time: an escalation, and the raised record's level goes up. */
    int64_t at = due.escalation;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(nb_policy_evaluate(f->pol, f->led, &subj, at, f->res), NB_ERR_OK);
    assert_int_equal(nb_notify_step(f->pol, f->res, f->led, &f->ns, &child, NULL, at, true,
                                    &scratch, sink, &seen, &due),
                     NB_ERR_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.acts[0], NB_NOTIFY_ACT_ESCALATE);
    r = nb_ledger_raised(f->led, &n_raised);
    assert_int_equal(n_raised, 1);
    assert_int_equal(r[0].level, 1);
    nb_notify_scratch_free(&scratch);
}

/* The plan counts every action even when the room given is too small, so a caller can tell
 * (nothing is dropped in silence); the bound always fits. */
static void test_plan_reports_what_did_not_fit(void **state)
{
    fx_t *f = *state;
    nb_notify_action_t acts[16];
    int64_t due;
    nb_policy_subject_t subj = {KEY, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    assert_int_equal(nb_policy_evaluate(f->pol, f->led, &subj, f->t0, f->res), NB_ERR_OK);
    size_t all = nb_notify_plan(f->res, &f->ns, f->t0, false, acts, 16, &due);
    assert_true(all >= 1);
    assert_true(all <= nb_notify_plan_bound(f->res));
    assert_int_equal(nb_notify_plan(f->res, &f->ns, f->t0, false, acts, 0, &due), all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),
        cmocka_unit_test_setup_teardown(test_step_records_only_what_went_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_reports_what_did_not_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_then_whole_ladder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_does_not_escalate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledging_an_escalation_closes_the_origin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_early_ack_closes_on_arrival, setup, teardown),
        cmocka_unit_test_setup_teardown(test_correction_withdraws_open_and_records_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_mid_escalation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_has_no_personal_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppressed_audit_id_per_cause, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
