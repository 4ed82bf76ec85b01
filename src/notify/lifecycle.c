/*
 * The notification lifecycle step: one implementation for the daemon (src/stream/pipeline.c),
 * `notbrought replay` (src/cli/replay_run.c) and `notbrought policy test`
 * (src/cli/cmd_policy.c). Each evaluates a child's ledger and hands the result here; what
 * differs between them is only what their sink does with each action (publish and audit,
 * count, or nothing).
 */
#include <stdlib.h>
#include <string.h>

#include "notify/internal.h"

/* Builds the notification @p a calls for into @p note; false when it calls for none. */
static bool nb__build(const nb_policy_t *pol, const nb_notify_action_t *a, const nb_ledger_t *led,
                      const nb_notify_child_t *child, const nb_notify_cause_t *cause,
                      int64_t now_ms, nb_notification_t *note)
{
    switch (a->act) {
    case NB_NOTIFY_ACT_NEW:
    case NB_NOTIFY_ACT_NEW_CLOSED:
        nb_notify_build_new(pol, a->decision, led, child, now_ms, note);
        return true;
    case NB_NOTIFY_ACT_ESCALATE:
        nb_notify_build_escalation(pol, a->decision, a->rung, a->shift, led, child, now_ms, note);
        return true;
    case NB_NOTIFY_ACT_WITHDRAW:
        if (cause && cause->fact)
            nb_notify_build_withdrawal_fact(pol, a->raised, led, child, cause->fact, now_ms, note);
        else
            nb_notify_build_withdrawal_by(pol, a->raised, led, child, cause ? cause->event : NULL,
                                          now_ms, note);
        return true;
    case NB_NOTIFY_ACT_CORRECTED:
    case NB_NOTIFY_ACT_SUPPRESSED:
    case NB_NOTIFY_ACT_SHADOW:
        break;
    }
    return false;
}

/* The ledger change @p a brings, noted in @p s (applied once every action went out). */
static void nb__note_change(const nb_policy_result_t *res, const nb_notify_action_t *a,
                            nb_notify_scratch_t *s, size_t *n_add, size_t *n_drop)
{
    switch (a->act) {
    case NB_NOTIFY_ACT_NEW:
    case NB_NOTIFY_ACT_NEW_CLOSED:
        nb_policy_decision_to_raised(a->decision, &s->add[(*n_add)++]);
        break;
    case NB_NOTIFY_ACT_ESCALATE: {
        size_t nr;
        const nb_policy_raised_status_t *rs = nb_policy_result_raised(res, &nr);
        for (size_t k = 0; k < nr; k++) {
            if (memcmp(rs[k].raised->id, a->decision->id_bytes, NB_LEDGER_ID_BYTES) == 0) {
                s->add[*n_add] = *rs[k].raised; /* the same id: replaced, level raised */
                s->add[(*n_add)++].level = (uint8_t)(a->rung + 1);
                break;
            }
        }
        break;
    }
    case NB_NOTIFY_ACT_WITHDRAW:
    case NB_NOTIFY_ACT_CORRECTED:
        memcpy(s->drop[(*n_drop)++], a->raised->raised->id, NB_LEDGER_ID_BYTES);
        break;
    case NB_NOTIFY_ACT_SUPPRESSED:
    case NB_NOTIFY_ACT_SHADOW:
        break;
    }
}

nb_err_t nb_notify_step(const nb_policy_t *pol, const nb_policy_result_t *res, nb_ledger_t *led,
                        nb_notify_state_t *ns, const nb_notify_child_t *child,
                        const nb_notify_cause_t *cause, int64_t now_ms, bool audit_quiet,
                        nb_notify_scratch_t *scratch, nb_notify_sink_t sink, void *opaque,
                        nb_notify_due_t *due)
{
    nb_err_t err = nb_notify_scratch_reserve(scratch, nb_notify_plan_bound(res));
    if (!err && !scratch->note && !(scratch->note = malloc(sizeof(*scratch->note))))
        err = NB_ERR_NOMEM;
    if (err)
        return err;
    int64_t esc;
    size_t n = nb_notify_plan(res, ns, now_ms, audit_quiet, scratch->acts, scratch->cap, &esc);
    if (n > scratch->cap)
        return NB_ERR_LIMIT; /* nb_notify_plan_bound() says it cannot be */
    /* The child's timer: its next escalation, or the next absence deadline that would fire if
     * the family went quiet, whichever comes first. */
    int64_t absent = nb_policy_result_next_due(res);
    if (due) {
        due->escalation = esc;
        due->next = absent != NB_TIME_NONE && (esc == NB_TIME_NONE || absent < esc) ? absent
                                                                                    : esc;
    }
    /* Ledger changes wait for the end: they invalidate the result's pointers. */
    size_t n_add = 0, n_drop = 0;
    for (size_t i = 0; i < n && !err; i++) {
        const nb_notify_action_t *a = &scratch->acts[i];
        nb_notify_out_t out = {a, NULL, false, cause};
        if (sink && nb__build(pol, a, led, child, cause, now_ms, scratch->note)) {
            out.note = scratch->note;
            out.digest = a->act == NB_NOTIFY_ACT_NEW &&
                         a->decision->digest != NB_POLICY_DIGEST_NONE &&
                         a->decision->tier <= NB_TIER_ROUTINE;
        }
        if (sink)
            err = sink(opaque, &out);
        nb__note_change(res, a, scratch, &n_add, &n_drop);
    }
    if (err)
        return err;
    /* A withdrawn notification refuses actions for a while (docs/inbox.md); its id is read
     * before the ledger changes (they move the raised records the actions point into). */
    for (size_t i = 0; i < n; i++)
        if (scratch->acts[i].act == NB_NOTIFY_ACT_WITHDRAW)
            nb__notify_withdrawn(ns, scratch->acts[i].raised->raised->id, now_ms);
    for (size_t i = 0; i < n_drop; i++)
        nb_ledger_remove_raised(led, scratch->drop[i]);
    for (size_t i = 0; i < n_add && !err; i++)
        err = nb_ledger_add_raised(led, &scratch->add[i]);
    if (!err)
        nb_notify_sync(ns, led, now_ms);
    return err;
}
