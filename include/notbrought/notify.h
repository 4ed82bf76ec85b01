/*
 * notbrought - notify: notifications that someone owns.
 *
 * Turns policy decisions into notifications (content, ids, human references), and runs the
 * lifecycle of each raised notification as a state machine over the child's ledger and a
 * small per-child notify state:
 *
 *   (decision NEW) --publish--> OPEN --ack--> CLOSED
 *   OPEN --respond-by passed, rung n due--> OPEN at level n+1 (an "escalated" notification)
 *   OPEN --evidence amended / absence resolved--> WITHDRAWN (a "withdrawn" notification)
 *   CLOSED --evidence amended--> correction recorded in the audit, nothing sent
 *   ack before the notification exists --> remembered; closes it the moment it is raised
 *
 * Every transition yields an audit record (JSON, no personal data). Pure: no I/O, no clock;
 * the caller passes now_ms and publishes what the plan says, in one transaction.
 */
#ifndef NOTBROUGHT_NOTIFY_H
#define NOTBROUGHT_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/event.h"
#include "notbrought/ledger.h"
#include "notbrought/policy.h"
#include "notbrought/util.h"

#define NB_NOTIFY_MAX_CLOSED 64
#define NB_NOTIFY_MAX_PENDING 16
#define NB_NOTIFY_PENDING_MS (30LL * NB_MS_PER_DAY) /**< how long an early ack waits */

#define NB_NOTIFY_MAX_OWNED 16

/** What an owner entry says of its notification. */
typedef enum nb_notify_own_e {
    NB_NOTIFY_OWN_OPEN = 1,  /**< open: owned by user_id in queue (user_id "": by nobody yet,
                                  routed to queue by a reassignment) */
    NB_NOTIFY_OWN_CLOSED,    /**< closed by user_id ("" for a version 1 ack) at since */
    NB_NOTIFY_OWN_WITHDRAWN, /**< withdrawn at since (kept NB_NOTIFY_PENDING_MS to refuse
                                  actions on it) */
} nb_notify_own_t;

/** Who owns a raised notification, and since when (docs/inbox.md, section 1). */
typedef struct nb_notify_owner_s {
    uint8_t id[NB_LEDGER_ID_BYTES];
    uint8_t state;               /**< nb_notify_own_t */
    char user_id[NB_ID_MAX + 1]; /**< the owner (or who closed it); "" when none */
    char queue[NB_ID_MAX + 1];   /**< the queue owned in, or reassigned to; "" when none */
    int64_t since;               /**< the last ownership change */
    int64_t respond_by;          /**< restarted by a reassignment, or NB_TIME_NONE */
    uint64_t last_ack;           /**< nb_ledger_id_hash() of the ack_id that made it so */
} nb_notify_owner_t;

/** Per-child lifecycle state kept beside the ledger (changelogged with it). */
typedef struct nb_notify_state_s {
    size_t n_closed;
    uint8_t closed[NB_NOTIFY_MAX_CLOSED][NB_LEDGER_ID_BYTES]; /**< acknowledged raised ids */
    size_t n_pending;
    struct {
        uint8_t id[NB_LEDGER_ID_BYTES];
        int64_t at;
    } pending[NB_NOTIFY_MAX_PENDING]; /**< acks that came before their notification */
    size_t n_owned;
    nb_notify_owner_t owned[NB_NOTIFY_MAX_OWNED]; /**< owners, closers, withdrawals */
} nb_notify_state_t;

/** @brief The owner entry of raised notification @p id, or NULL (open and never acted on). */
const nb_notify_owner_t *nb_notify_owner(const nb_notify_state_t *s,
                                         const uint8_t id[NB_LEDGER_ID_BYTES]);

/** @brief True when the raised notification @p id was acknowledged. */
bool nb_notify_is_closed(const nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES]);

/** What an acknowledgement did. */
typedef enum nb_notify_ack_e {
    NB_NOTIFY_ACK_CLOSED,    /**< an open notification is now closed */
    NB_NOTIFY_ACK_DUPLICATE, /**< it was already closed: recorded, nothing changes */
    NB_NOTIFY_ACK_EARLY,     /**< no such notification yet: remembered for NB_NOTIFY_PENDING_MS */
    NB_NOTIFY_ACK_UNKNOWN,   /**< not an id this child can have (malformed or pending full) */
} nb_notify_ack_t;

/** @brief "acknowledged", "ack_duplicate", "ack_early", "ack_unknown". */
const char *nb_notify_ack_name(nb_notify_ack_t a);

/**
 * @brief Applies an acknowledgement of notification @p notification_id (a decision id, or an
 *        escalation "<id>-e<n>" of it) to the child's state: nb_notify_apply() of a close by
 *        nobody in particular (a version 1 ack).
 */
nb_notify_ack_t nb_notify_ack(nb_notify_state_t *s, const nb_ledger_t *led,
                              const char *notification_id, int64_t now_ms);

/** What an action on a notification did (docs/inbox.md, section 1). */
typedef enum nb_notify_verdict_e {
    NB_NOTIFY_TAKEN,      /**< the actor owns it now */
    NB_NOTIFY_REASSIGNED, /**< the target (queue, or person) owns it now */
    NB_NOTIFY_CLOSED,     /**< closed */
    NB_NOTIFY_DUPLICATE,  /**< it was so already (or the same ack_id again): nothing changes */
    NB_NOTIFY_EARLY,      /**< a close before the notification exists: remembered for
                               NB_NOTIFY_PENDING_MS */
    NB_NOTIFY_REFUSED,    /**< refused: see nb_notify_refusal_t */
    NB_NOTIFY_UNKNOWN,    /**< not an id this child can have (malformed, or pending full) */
} nb_notify_verdict_t;

/** @brief "taken", "reassigned", "closed", "action_duplicate", "action_early",
 *         "action_refused", "action_unknown": the audit record's `what`. */
const char *nb_notify_verdict_name(nb_notify_verdict_t v);

/** Why an action was refused. */
typedef enum nb_notify_refusal_e {
    NB_NOTIFY_REFUSAL_NONE,
    NB_NOTIFY_REFUSAL_OWNED_BY,   /**< another person owns it (owner_* say who) */
    NB_NOTIFY_REFUSAL_CLOSED,     /**< it is closed (closed_by, closed_at say by whom, when) */
    NB_NOTIFY_REFUSAL_WITHDRAWN,  /**< it was withdrawn */
    NB_NOTIFY_REFUSAL_NOT_RAISED, /**< a take or reassignment of a notification not raised */
} nb_notify_refusal_t;

/** @brief "", "owned_by", "closed", "withdrawn", "not_raised". */
const char *nb_notify_refusal_name(nb_notify_refusal_t r);

/** The verdict on one action, and the state it leaves (for the audit record). */
typedef struct nb_notify_outcome_s {
    nb_notify_verdict_t verdict;
    nb_notify_refusal_t refusal;
    char owner_user[NB_ID_MAX + 1];  /**< the owner after it (a refusal: who owns it) */
    char owner_queue[NB_ID_MAX + 1]; /**< the queue it is owned in, or routed to */
    char closed_by[NB_ID_MAX + 1];   /**< REFUSAL_CLOSED: who closed it ("" when not known) */
    int64_t closed_at;               /**< REFUSAL_CLOSED: when (NB_TIME_NONE when not known) */
    int64_t respond_by;              /**< REASSIGNED: the restarted respond-by, or NB_TIME_NONE */
} nb_notify_outcome_t;

/**
 * @brief Applies a person's action @p a (take, reassign or close of a notification of this
 *        child) to the child's state, as the table in docs/inbox.md says: the first action
 *        applied wins. The actor is @p a->user_id acting in queue @p a->role. Pure.
 * @param pol the policy in force: who may reassign what another person owns, and the
 *        respond-by a reassignment restarts (nb_policy_ownership()); NULL: the defaults.
 * @param out receives the verdict and the state it leaves (may be NULL).
 * @returns the verdict.
 */
nb_notify_verdict_t nb_notify_apply(const nb_policy_t *pol, nb_notify_state_t *s,
                                    const nb_ledger_t *led, const nb_ack_t *a, int64_t now_ms,
                                    nb_notify_outcome_t *out);

/**
 * @brief The audit record of the verdict on a person's action (nb_notify_apply()): kind taken,
 *        reassigned, closed, action_duplicate, action_early, action_refused (reason: the
 *        refusal, nb_notify_refusal_name()) or action_unknown; the action (ack id, intent, when,
 *        the owner after it, a reassignment's target, a close's action; refused as closed: by
 *        whom and when), who acted (user id and queue), a reassignment's new respond-by, the
 *        policy. Never the note (nb_ack_t.outcome may hold personal data).
 */
void nb_notify_audit_action(const nb_policy_t *pol, const nb_ack_t *a, const nb_notify_outcome_t *o,
                            const char *child_key, int64_t now_ms, nb_audit_t *out);

/** What to do after an evaluation. */
typedef enum nb_notify_act_e {
    NB_NOTIFY_ACT_NEW,        /**< publish a new notification, then record it as raised */
    NB_NOTIFY_ACT_NEW_CLOSED, /**< as NEW, but an early ack already closes it */
    NB_NOTIFY_ACT_ESCALATE,   /**< publish an escalation for rung `rung`, raise the level */
    NB_NOTIFY_ACT_WITHDRAW,   /**< publish a withdrawal, forget the raised entry */
    NB_NOTIFY_ACT_CORRECTED,  /**< closed and no longer supported: audit only, forget it */
    NB_NOTIFY_ACT_SUPPRESSED, /**< audit only (cool-down) */
    NB_NOTIFY_ACT_SHADOW,     /**< audit only (shadow rule) */
} nb_notify_act_t;

const char *nb_notify_act_name(nb_notify_act_t a);

typedef struct nb_notify_action_s {
    nb_notify_act_t act;
    const nb_policy_decision_t *decision;   /**< NEW, ESCALATE, SUPPRESSED, SHADOW */
    const nb_policy_raised_status_t *raised; /**< WITHDRAW, CORRECTED */
    size_t rung;                            /**< ESCALATE: index into decision->rungs */
    /** ESCALATE: how far a reassignment that restarted the respond-by moved the rungs (the
     *  owner's respond-by minus the decision's; 0 when none did). */
    int64_t shift;
} nb_notify_action_t;

/**
 * @brief The lifecycle step after an evaluation at @p now_ms: what to publish and record.
 * @param audit_quiet leave out SUPPRESSED and SHADOW actions (timer-driven evaluations, where
 *        nothing new happened, need not re-audit them).
 * @param next_due receives the earliest time a rung of an open notification falls due
 *        (NB_TIME_NONE when none), for the caller's timer.
 * @returns the number of actions there are; at most @p max of them are written to @p out, so a
 *          result above @p max means @p out was too small (size it by nb_notify_plan_bound()).
 * @remark Pointers in the actions live as long as the policy result they came from.
 */
size_t nb_notify_plan(const nb_policy_result_t *res, const nb_notify_state_t *s, int64_t now_ms,
                      bool audit_quiet, nb_notify_action_t *out, size_t max, int64_t *next_due);

/** Room for a plan's actions and the ledger changes they bring (raised records to add or
 *  replace, ids to drop), grown to nb_notify_plan_bound() before each plan. Zero-initialise. */
typedef struct nb_notify_scratch_s {
    nb_notify_action_t *acts;
    nb_ledger_raised_t *add;
    uint8_t (*drop)[NB_LEDGER_ID_BYTES];
    size_t cap;
    nb_notification_t *note; /**< the notification being built (nb_notify_step()) */
} nb_notify_scratch_t;

/** @brief Makes room for @p n actions. @returns NB_ERR_OK or NB_ERR_NOMEM (nothing lost). */
NB_NODISCARD nb_err_t nb_notify_scratch_reserve(nb_notify_scratch_t *s, size_t n);
/** @brief Frees the room and zeroes @p s. */
void nb_notify_scratch_free(nb_notify_scratch_t *s);

/** @brief The most actions nb_notify_plan() can return for @p res (one per raised status, one
 *         per decision): an @p out of this size always holds them all. */
size_t nb_notify_plan_bound(const nb_policy_result_t *res);

/**
 * @brief Brings the state up to date after the ledger changed: ids the ledger no longer
 *        holds are forgotten, early acks past NB_NOTIFY_PENDING_MS dropped, and an early ack
 *        matching a newly raised id closes it.
 */
void nb_notify_sync(nb_notify_state_t *s, const nb_ledger_t *led, int64_t now_ms);

/* ---- content ---------------------------------------------------------------------------------- */

/** The child a notification is about. */
typedef struct nb_notify_child_s {
    const char *key;         /**< pseudonymous child key (hex) */
    const char *nhs_number;  /**< "" when not known (unborn) */
    const char *pregnant_person_nhs; /**< pregnancies: the pregnant person's number; or "" */
} nb_notify_child_t;

/**
 * @brief A short reference to quote on the phone: "WNB-" and two groups of four symbols
 *        (e.g. "WNB-7KQ4-MX9P") from a 31-symbol alphabet without 0/O, 1/I/L (about 8.5e11
 *        values), derived from the id.
 */
void nb_notify_reference(const uint8_t id[NB_LEDGER_ID_BYTES], char out[NB_REF_MAX + 1]);

/** @brief The notification for a NEW action. */
void nb_notify_build_new(const nb_policy_t *pol, const nb_policy_decision_t *d,
                         const nb_ledger_t *led, const nb_notify_child_t *child, int64_t now_ms,
                         nb_notification_t *out);

/** @brief The notification for an ESCALATE action: id "<decision id>-e<level>", kind
 *         escalated, the rung's tier and roles, referencing the original; respond by the next
 *         rung's due time moved by @p shift (nb_notify_action_t.shift), none after the last. */
void nb_notify_build_escalation(const nb_policy_t *pol, const nb_policy_decision_t *d, size_t rung,
                                int64_t shift, const nb_ledger_t *led,
                                const nb_notify_child_t *child, int64_t now_ms,
                                nb_notification_t *out);

/** @brief The notification for a WITHDRAW action: id "<decision id>-w", kind withdrawn. */
void nb_notify_build_withdrawal(const nb_policy_t *pol, const nb_policy_raised_status_t *rs,
                                const nb_ledger_t *led, const nb_notify_child_t *child,
                                int64_t now_ms, nb_notification_t *out);

/** @brief The evidence an appointment event gives (a withdrawal's cause): its ids, agency,
 *  type, time, status and organisation. */
void nb_notify_evidence_of(const nb_appointment_event_t *a, nb_evidence_t *e);

/** @brief The end of the digest period a decision at @p at falls in: UTC days; weeks end on
 *  Monday 00:00. The daemon and replay gather digests by it. */
int64_t nb_notify_digest_period_end(nb_policy_digest_t digest, int64_t at);

/** A digest being gathered: the low-tier notifications of one recipient role for one period
 *  (nb_notify_digest_period_end()). The daemon keeps it in state, replay in memory. */
typedef struct nb_notify_digest_s {
    int64_t period_end;
    char role[NB_ID_MAX + 1];
    char route[NB_SYSTEM_MAX + 1];
    size_t n;
    nb_digest_item_t items[NB_NOTIF_MAX_ITEMS];
} nb_notify_digest_t;

#define NB_NOTIFY_DIGEST_KEY_LEN 32

/** @brief The key of the digest of @p role for the period ending at @p period_end: SHA-256 of
 *  "notbrought-digest|ROLE|END" (the by-child key it is gathered under). */
void nb_notify_digest_key(const char *role, int64_t period_end,
                          uint8_t key[NB_NOTIFY_DIGEST_KEY_LEN]);

/** What nb_notify_digest_add() did. */
typedef enum nb_notify_digest_add_e {
    NB_NOTIFY_DIGEST_ADDED, /**< gathered */
    NB_NOTIFY_DIGEST_HAD,   /**< it was there already (the same notification id) */
    NB_NOTIFY_DIGEST_FULL,  /**< gathered, and the digest is full: publish it now */
} nb_notify_digest_add_t;

/** @brief Gathers @p note (a NEW notification of a low tier) into @p d, which is not full. */
nb_notify_digest_add_t nb_notify_digest_add(nb_notify_digest_t *d, const nb_notification_t *note);

/** @brief The digest notification for @p d (key from nb_notify_digest_key()): id
 *  "digest-" and 24 hex digits of the key, the highest tier of its items, one recipient. */
void nb_notify_build_digest(const nb_policy_t *pol, const nb_notify_digest_t *d,
                            const uint8_t key[NB_NOTIFY_DIGEST_KEY_LEN], int64_t now_ms,
                            nb_notification_t *out);

/** @brief Fills each recipient's title from the policy by its role id ("" for a role the
 *         policy no longer has): for notifications built outside this module (digests). */
void nb_notify_fill_titles(const nb_policy_t *pol, nb_notification_t *n);

/** Why a notification is withdrawn. */
typedef enum nb_withdrawal_reason_e {
    NB_WITHDRAWN_CORRECTED,        /**< an appointment record it relied on was corrected */
    NB_WITHDRAWN_ENTERED_IN_ERROR, /**< an appointment record it relied on was entered in error */
    NB_WITHDRAWN_CONTACT_RECORDED, /**< the expected contact was recorded after all */
    NB_WITHDRAWN_POLICY_CHANGED,   /**< the policy in force no longer has the rule */
    NB_WITHDRAWN_CONTEXT_ENTERED_IN_ERROR, /**< a context fact it relied on (a plan) was
                                                entered in error */
    NB_WITHDRAWN_CONTEXT_CHANGED,  /**< a context fact it relied on was changed (ended) */
} nb_withdrawal_reason_t;

/** @brief "corrected", "entered_in_error", "contact_recorded", "policy_changed",
 *  "context_entered_in_error", "context_changed". */
const char *nb_withdrawal_reason_name(nb_withdrawal_reason_t r);

/**
 * @brief Why @p rs is withdrawn, given the record whose arrival withdrew it (@p cause, NULL
 *        when it was not a record: a timer, a policy reload).
 */
nb_withdrawal_reason_t nb_notify_withdrawal_reason(const nb_policy_raised_status_t *rs,
                                                   const nb_evidence_t *cause);

/** @brief As nb_notify_withdrawal_reason(), when the record that withdrew it is a context
 *  fact: CONTEXT_ENTERED_IN_ERROR or CONTEXT_CHANGED where an appointment would give
 *  CORRECTED. */
nb_withdrawal_reason_t nb_notify_withdrawal_reason_of_fact(const nb_policy_raised_status_t *rs,
                                                           const nb_context_fact_t *fact);

/**
 * @brief nb_notify_build_withdrawal() that says why and names the record that caused it: the
 *        action text gives the reason in words a nurse reads, and @p cause (when not NULL)
 *        is the notification's one piece of evidence, so its appointment id and organisation
 *        can be quoted to the agency that holds it.
 */
void nb_notify_build_withdrawal_by(const nb_policy_t *pol, const nb_policy_raised_status_t *rs,
                                   const nb_ledger_t *led, const nb_notify_child_t *child,
                                   const nb_evidence_t *cause, int64_t now_ms,
                                   nb_notification_t *out);

/**
 * @brief nb_notify_build_withdrawal_by() when the record whose arrival withdrew it is a context
 *        fact (a protection plan entered in error, or ended): the action text says which fact,
 *        from which system, and what became of it.
 */
void nb_notify_build_withdrawal_fact(const nb_policy_t *pol, const nb_policy_raised_status_t *rs,
                                     const nb_ledger_t *led, const nb_notify_child_t *child,
                                     const nb_context_fact_t *fact, int64_t now_ms,
                                     nb_notification_t *out);

/* ---- the lifecycle step: one for the daemon, replay and policy test --------------------------- */

/** One action of a lifecycle step, as nb_notify_step() hands it to its sink. */
typedef struct nb_notify_out_s {
    const nb_notify_action_t *action;
    /** The notification built for it: NEW, NEW_CLOSED, ESCALATE and WITHDRAW; else NULL. The
     *  sink may change it (its content is not used again). */
    nb_notification_t *note;
    /** NEW of a low tier (routine or below) whose rule gathers a digest: the note goes into the
     *  recipients' digest for the period instead of being published alone. */
    bool digest;
    /** The record whose arrival caused the evaluation (nb_notify_step()'s), or NULL. */
    const struct nb_notify_cause_s *cause;
} nb_notify_out_t;

/** What nb_notify_step() is told of the record whose arrival caused the evaluation (the
 *  reason a withdrawal gives). Both NULL for a timer or a policy reload. */
typedef struct nb_notify_cause_s {
    const nb_evidence_t *event;      /**< an appointment event, or NULL */
    const nb_context_fact_t *fact;   /**< a context fact, or NULL (wins over @c event) */
} nb_notify_cause_t;

/** Takes one action's output (publishes, audits, counts). @returns NB_ERR_OK, or an error
 *  that stops the step before the ledger changes. */
typedef NB_NODISCARD nb_err_t (*nb_notify_sink_t)(void *opaque, const nb_notify_out_t *out);

/** The timers a step leaves the child with. */
typedef struct nb_notify_due_s {
    int64_t next;       /**< the earliest of the next escalation and the next absence deadline
                             that would fire if nothing arrives (NB_TIME_NONE: none) */
    int64_t escalation; /**< the next escalation alone (NB_TIME_NONE: none) */
} nb_notify_due_t;

/**
 * @brief The notification lifecycle of one child, after its ledger @p led was evaluated into
 *        @p res at @p now_ms: what the daemon, `replay` and `policy test` all do with a result.
 *        Plans (nb_notify_plan()), builds each notification, hands each action to @p sink in
 *        order, then, when every call succeeded, records in @p led what was raised, escalated
 *        and withdrawn and brings @p ns up to date (nb_notify_sync()).
 * @param scratch room reused between calls (grown as needed; nb_notify_scratch_free()).
 * @param due receives the child's timers (may be NULL).
 * @returns NB_ERR_OK; NB_ERR_NOMEM; or the sink's error (nothing recorded in @p led).
 */
NB_NODISCARD nb_err_t nb_notify_step(const nb_policy_t *pol, const nb_policy_result_t *res,
                                     nb_ledger_t *led, nb_notify_state_t *ns,
                                     const nb_notify_child_t *child, const nb_notify_cause_t *cause,
                                     int64_t now_ms, bool audit_quiet, nb_notify_scratch_t *scratch,
                                     nb_notify_sink_t sink, void *opaque, nb_notify_due_t *due);

/** @brief Sets out->policy to the policy's name, version and hash. */
void nb_notify_audit_policy(const nb_policy_t *pol, nb_audit_t *out);

/**
 * @brief The audit record of a notification published (@p kind: fired, fired_closed, digest,
 *        escalated, withdrawn, ...): its id, reference, rule, tier, rung, evidence ids,
 *        recipients and routes, respond-by, the agency and organisation of its most recent
 *        evidence, and the policy. No personal data (the notification's NHS number, date of
 *        birth and the pregnant person's number are not copied).
 */
void nb_notify_audit_note(const nb_policy_t *pol, nb_audit_kind_t kind, const nb_notification_t *n,
                          int64_t now_ms, nb_audit_t *out);

/**
 * @brief The audit record of one action of a lifecycle step, as nb_notify_step() hands it to
 *        its sink: fired, fired_closed, digested, escalated (the rung), withdrawn (why, as the
 *        withdrawal's action says), corrected, suppressed, shadow (why). Written by the daemon
 *        in the transaction of the decision; replay and policy test can build the same.
 */
void nb_notify_audit_step(const nb_policy_t *pol, const nb_notify_out_t *o, const char *child_key,
                          int64_t now_ms, nb_audit_t *out);

/* ---- words a nurse reads (src/notify/text.c) ---------------------------------------------- */

/** The zone times are shown in (config `notify.timezone`). Local time follows the policy
 *  calendar's rules (nb_policy_london_offset()): no TZ, no process-wide state. */
typedef enum nb_notify_zone_e {
    NB_NOTIFY_ZONE_EUROPE_LONDON, /**< GMT in winter, BST in summer (the default) */
    NB_NOTIFY_ZONE_UTC,
} nb_notify_zone_t;

/** @brief "Europe/London", "UTC" (or "Etc/UTC"). @returns false for any other name. */
bool nb_notify_zone_parse(const char *name, nb_notify_zone_t *out);

/** @brief The zone's name as nb_notify_zone_parse() reads it. */
const char *nb_notify_zone_name(nb_notify_zone_t zone);

/**
 * @brief An instant in local time: "Monday 6 July 2026 at 17:00 BST" (@p weekday), or
 *        "6 Jul 2026 17:00 BST"; "not set" for NB_TIME_NONE. @returns buf (48 bytes suffice).
 */
char *nb_notify_format_time(int64_t ms, nb_notify_zone_t zone, bool weekday, char *buf,
                            size_t size);

/** @brief A calendar date: "14 March 2025"; "not known" for NB_DATE_NONE. @returns buf. */
char *nb_notify_format_date(int32_t day, char *buf, size_t size);

/**
 * @brief An age as people say it on @p on_day: days under 4 weeks ("16 days"), weeks under 13
 *        (or under 3 whole months: "7 weeks"), months under 2 years ("11 months"), then years and months ("2 years",
 *        "17 years 3 months"); singular for 1. "age not known" without a date of birth or
 *        before it. @returns buf (32 bytes suffice).
 */
char *nb_notify_age_text(int32_t date_of_birth, int32_t on_day, char *buf, size_t size);

/** @brief Plain words for enum values: "was not brought", "Health visiting", "Child
 *         protection plan", "escalated: not acknowledged in time". Static strings. */
const char *nb_notify_status_words(nb_status_t status);
const char *nb_notify_agency_words(nb_agency_t agency);
const char *nb_notify_fact_words(nb_fact_kind_t kind);
const char *nb_notify_kind_words(nb_notification_kind_t kind);

/** @brief An id as words: underscores become spaces ("new_birth_visit" -> "new birth
 *         visit"), or dashes between digits ("6_8_week_review" -> "6-8 week review"); cut to
 *         fit. @returns buf. */
char *nb_notify_words(const char *id, char *buf, size_t size);

/* ---- serialisation -------------------------------------------------------------------------- */

/** @brief Appends the state (versioned, little-endian) to @p out. */
NB_NODISCARD nb_err_t nb_notify_state_encode(const nb_notify_state_t *s, nb_buf_t *out);

/** @brief Reads what nb_notify_state_encode() wrote; @p used receives the bytes consumed.
 *  @returns NB_ERR_OK or NB_ERR_LEDGER_CORRUPT. */
NB_NODISCARD nb_err_t nb_notify_state_decode(nb_notify_state_t *s, const void *buf, size_t len,
                                             size_t *used);

#endif /* NOTBROUGHT_NOTIFY_H */
