/*
 * notbrought - policy: the escalation policy that protocol owners write in YAML, and the
 * engine that evaluates one child's ledger against it.
 *
 * The language is described in docs/policy.md. In short: a policy is one base file and any
 * number of overlay files, loaded in order; together they define metadata, a working-day
 * calendar, roles (who is told, and how to reach them), escalation ladders, rules (count
 * rules: N matching events in a window or N in a row; absence rules: an expected contact not
 * recorded by a deadline), modifiers (raise the tier for some children) and deletions.
 *
 * Loading reads files and parses them with libyaml; every problem is reported with
 * file:line:column. A policy is immutable once loaded: a reload builds and validates a whole
 * new policy, and the caller swaps it in only when that succeeded (the old one stays in force
 * otherwise).
 *
 * Evaluation is pure: no I/O, no clock (the caller passes now_ms), no logging, no allocation
 * (the result object is reused). Decision ids are deterministic: SHA-256 over the child key,
 * the rule id and the evidence fingerprint, so re-evaluating after late events never
 * duplicates a decision, and raised notifications the ledger no longer supports are reported
 * for withdrawal.
 *
 * Thread contract: a loaded policy is read-only and may be shared by any number of threads;
 * a result object belongs to one thread.
 */
#ifndef NOTBROUGHT_POLICY_H
#define NOTBROUGHT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/ledger.h"
#include "notbrought/util.h"

#define NB_POLICY_MAX_RULES 64
#define NB_POLICY_MAX_ROLES 64
#define NB_POLICY_MAX_MODIFIERS 32
#define NB_POLICY_MAX_LADDERS 32
#define NB_POLICY_MAX_RUNGS 8
#define NB_POLICY_MAX_DECISIONS NB_POLICY_MAX_RULES
#define NB_POLICY_MAX_APPLIED 8 /**< modifiers listed per decision */
#define NB_POLICY_MAX_FILES 16

typedef struct nb_policy_s nb_policy_t;

/* ---- loading ----------------------------------------------------------------------------- */

/** One problem found while loading. */
typedef struct nb_policy_diag_s {
    nb_err_t err;        /**< NB_ERR_POLICY_* (or NB_ERR_IO for unreadable files) */
    bool warning;        /**< true for warnings, which do not stop the load */
    const char *file;    /**< as given to the loader */
    int line, column;    /**< 1-based; 0 when the problem has no position */
    const char *message; /**< without the position */
} nb_policy_diag_t;

/** Called once per problem, in file order. The diag and its strings live for the call only. */
typedef void(nb_policy_diag_cb_t)(void *opaque, const nb_policy_diag_t *diag);

/** A policy file already in memory. */
typedef struct nb_policy_source_s {
    const char *name; /**< used in messages, e.g. "base.yaml" */
    const char *data;
    size_t len;
} nb_policy_source_t;

/**
 * @brief Loads a policy from files: the first is the base, the rest are overlays applied in
 *        order. A calendar may be included from a file next to the one that includes it.
 * @param cb called for every error and warning (may be NULL).
 * @param polp set to the new policy on success, to NULL otherwise.
 * @returns NB_ERR_OK; otherwise the code of the first error, with
 *          "file:line:column: message" in errstr (and cb told of every error).
 */
NB_NODISCARD nb_err_t nb_policy_load(const char *const *files, size_t n_files,
                                     nb_policy_diag_cb_t *cb, void *opaque, nb_policy_t **polp,
                                     char *errstr, size_t errstr_size);

/**
 * @brief As nb_policy_load() from memory (tests, fuzzing, a policy fetched from a store).
 *        Includes are not available: a calendar must be given inline.
 * @remark The sources are copied; they need not outlive the call.
 */
NB_NODISCARD nb_err_t nb_policy_load_buffers(const nb_policy_source_t *srcs, size_t n_srcs,
                                             nb_policy_diag_cb_t *cb, void *opaque,
                                             nb_policy_t **polp, char *errstr, size_t errstr_size);

/** @brief Frees a policy. NULL is a no-op. Every pointer it handed out dies with it. */
void nb_policy_destroy(nb_policy_t *pol);

/* ---- what a policy says ------------------------------------------------------------------ */

/** Policy metadata. Strings valid until nb_policy_destroy(); "" when not given. */
typedef struct nb_policy_info_s {
    const char *name;
    const char *title;
    const char *version;
    const char *owner;
    int32_t effective_from; /**< days since the epoch */
    const char *hash;       /**< hex SHA-256 of the files' contents, in load order */
    const char *calendar;   /**< the calendar's name */
    int calendar_from, calendar_to; /**< years the calendar lists bank holidays for */
    int retention_days;     /**< how far back any rule looks (see nb_policy_horizon()) */
    size_t n_files;
    const char *files[NB_POLICY_MAX_FILES]; /**< base first, including calendar includes */
} nb_policy_info_t;

/** A recipient role. */
typedef struct nb_policy_role_s {
    const char *id;
    const char *title;
    const char *route; /**< how to reach the role, e.g. "queue:hv-duty" */
} nb_policy_role_t;

/** Digest setting of a rule, applied later by the notify module. */
typedef enum nb_policy_digest_e {
    NB_POLICY_DIGEST_NONE,
    NB_POLICY_DIGEST_DAILY,
    NB_POLICY_DIGEST_WEEKLY,
} nb_policy_digest_t;

/** The public face of a rule. Strings valid until nb_policy_destroy(). */
typedef struct nb_policy_rule_info_s {
    const char *id;
    const char *title;  /**< one line: what the rule looks for */
    const char *source; /**< the guidance it puts into practice */
    const char *action; /**< what the recipients should do */
    const char *file;   /**< the file that defined it (an overlay when overridden) */
    int line;
    bool shadow;  /**< evaluated and counted, never notified */
    bool absence; /**< an absence rule (rather than a count rule) */
    nb_tier_t tier;
    int cooldown_days;
    nb_policy_digest_t digest;
    uint64_t hash; /**< nb_ledger_id_hash(id), as stored in raised notifications */
} nb_policy_rule_info_t;

/**
 * @brief What a decision of @p rule counted, in words a nurse reads, appended to @p out (no
 *        terminating NUL): for a count rule "2 GP or health visiting appointments recorded as
 *        was not brought or no access visit in the last 90 days, from 2 agencies"; for an
 *        absence rule "No health visiting new birth visit appointments recorded as attended by
 *        day 14 of life". Type ids read as words ("6_8_week_review": "6-8 week review").
 * @param count, agencies what the decision counted (nb_policy_decision_t.counts[0]).
 * @returns NB_ERR_OK, NB_ERR_INVALID_ARG when @p rule is not one of @p pol's, or NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_policy_rule_counted(const nb_policy_t *pol,
                                             const nb_policy_rule_info_t *rule, int32_t count,
                                             int32_t agencies, nb_buf_t *out);

/** @brief Metadata. @returns a pointer valid until nb_policy_destroy(). */
const nb_policy_info_t *nb_policy_info(const nb_policy_t *pol);

/** @brief Rules in definition order (base order; overlay additions after). */
size_t nb_policy_rule_count(const nb_policy_t *pol);
const nb_policy_rule_info_t *nb_policy_rule(const nb_policy_t *pol, size_t i);
/** @returns the rule, or NULL. */
const nb_policy_rule_info_t *nb_policy_rule_find(const nb_policy_t *pol, const char *id);

/**
 * @brief Who a notification of @p rule was sent to by the time it reached escalation level
 *        @p level (0: not escalated): the rule's recipients, then those of its ladder's first
 *        @p level rungs, each once, at most @p max. Roles a modifier added are not known from
 *        the rule alone. @returns the number written to @p out (pointers valid until
 *        nb_policy_destroy()).
 */
size_t nb_policy_rule_recipients(const nb_policy_t *pol, const nb_policy_rule_info_t *rule,
                                 int level, const nb_policy_role_t **out, size_t max);

/** @brief Roles in definition order. */
size_t nb_policy_role_count(const nb_policy_t *pol);
const nb_policy_role_t *nb_policy_role(const nb_policy_t *pol, size_t i);

/**
 * @brief The oldest event time any rule can still look at when evaluating at now_ms:
 *        now minus the retention (the longest window, cool-down, plan look-back or absence
 *        look-back of any rule). Pass it to nb_ledger_prune().
 */
int64_t nb_policy_horizon(const nb_policy_t *pol, int64_t now_ms);

/* ---- calendar ---------------------------------------------------------------------------- */

/** @brief True for Monday to Friday days that are not bank holidays in the calendar. */
bool nb_policy_is_working_day(const nb_policy_t *pol, int32_t day);

/** @brief Name of the bank holiday on a day, or NULL. */
const char *nb_policy_holiday(const nb_policy_t *pol, int32_t day);

/**
 * @brief Close of business (calendar time, Europe/London) on the n-th working day after the
 *        local day of @p from_ms; n = 0 means the same day when it is a working day and
 *        before close of business, else the next working day.
 * @returns ms since the epoch.
 */
int64_t nb_policy_add_working_days(const nb_policy_t *pol, int64_t from_ms, int n);

/** @brief UTC offset of Europe/London at an instant, in ms (0 or 3600000). */
int64_t nb_policy_london_offset(int64_t ms);

/* ---- evaluation -------------------------------------------------------------------------- */

/** Who is being evaluated. */
typedef struct nb_policy_subject_s {
    const char *child_key; /**< pseudonymous child key (goes into decision ids) */
    int32_t date_of_birth; /**< NB_DATE_NONE: use the ledger's */
    int32_t expected_delivery_date; /**< NB_DATE_NONE: use the ledger's */
    bool self_managing; /**< a 16-17 year old who manages their own appointments */
    /** When absence deadlines are judged (no later than now): how far every source that
     *  could record the expected contact has been read (the watermark). NB_TIME_NONE: now. */
    int64_t absence_now;
} nb_policy_subject_t;

/** What the notify module should do with a decision. */
typedef enum nb_policy_state_e {
    NB_POLICY_NEW,        /**< not raised before: raise it */
    NB_POLICY_RAISED,     /**< already raised with this very evidence (same id) */
    NB_POLICY_SUPPRESSED, /**< the rule was raised within its cool-down and nothing newer
                               has happened since: do not raise */
} nb_policy_state_t;

#define NB_POLICY_MAX_REASSIGNERS 8 /**< roles in 'may_reassign_owned' */

/** The 'ownership:' keys (docs/inbox.md, section 1; docs/policy.md), at policy level or a
 *  ladder's own. The defaults are those of a policy that does not say. */
typedef struct nb_policy_ownership_s {
    bool stops_on_take;     /**< escalation_stops_on: take [false: close] */
    bool reassign_restarts; /**< reassign_restarts_respond_by [true] */
    size_t n_may_reassign;  /**< may_reassign_owned: roles that may reassign what another person
                                 owns [none] */
    const char *may_reassign[NB_POLICY_MAX_REASSIGNERS];       /**< their role ids */
    const char *may_reassign_route[NB_POLICY_MAX_REASSIGNERS]; /**< each one's route
                                                                    ("queue:hv-team-leader") */
} nb_policy_ownership_t;

/** @brief The ownership keys that apply to notifications of the rule whose hash is
 *         @p rule_hash (nb_policy_rule_info_t.hash) raised at the rule's own tier: its
 *         ladder's block when that ladder has one, else the policy's (the defaults when
 *         neither says). Never NULL; valid until nb_policy_destroy(). A rule the policy no
 *         longer has gets the policy's. nb_policy_ownership_at() for a notification whose
 *         modifiers may have changed its tier. */
const nb_policy_ownership_t *nb_policy_ownership(const nb_policy_t *pol, uint64_t rule_hash);

/** @brief As nb_policy_ownership(), for a notification raised at @p tier (its tier after the
 *         modifiers, nb_ledger_raised_t.tier): the block of the ladder it follows, which is
 *         its tier's when the modifiers moved it to a tier with a ladder of its own
 *         (nb_policy_ladder()), else its rule's. */
const nb_policy_ownership_t *nb_policy_ownership_at(const nb_policy_t *pol, uint64_t rule_hash,
                                                    nb_tier_t tier);

/** @brief True when @p role may reassign a notification another person owns: @p role is a
 *         role of may_reassign_owned, named by its id or by its route. The inbox sends the
 *         queue a person acts in (a route: "queue:hv-team-leader"), and a user holds a role
 *         by being in the queue that is its route (docs/inbox.md, "Who may reassign what
 *         another person owns"); replay and scenarios may name the role's id. */
bool nb_policy_ownership_may_reassign(const nb_policy_ownership_t *own, const char *role);

/** @brief The respond-by a reassignment at @p from_ms gives a notification of the rule whose
 *         hash is @p rule_hash raised at @p tier (nb_ledger_raised_t.tier), as the ownership
 *         block of the ladder it follows says (nb_policy_ownership_at()):
 *         respond_by_after_reassign when set, else the rule's own response time (or, when
 *         the modifiers moved it to another tier, that tier's when sooner: a higher tier
 *         never waits longer), counted from @p from_ms. NB_TIME_NONE when the policy does not
 *         restart it (reassign_restarts_respond_by: false) or sets no time. */
int64_t nb_policy_respond_by_after_reassign(const nb_policy_t *pol, uint64_t rule_hash,
                                            nb_tier_t tier, int64_t from_ms);

/** One rung of an escalation ladder, flattened (chained ladders are followed). */
typedef struct nb_policy_rung_s {
    int64_t after_ms; /**< after the decision time, if still unacknowledged */
    int64_t due;      /**< decided_at + after_ms; never before respond_by unless early */
    nb_tier_t tier;
    size_t n_roles;
    const nb_policy_role_t *roles[NB_NOTIF_MAX_RECIPIENTS];
    bool early; /**< an early alert (the policy says 'early: true'): may be before respond_by */
} nb_policy_rung_t;

/** The escalation ladder a notification follows (nb_policy_ladder()), rung by rung: what the
 *  daemon escalates by (nb_policy_decision_t's rungs are these) and what the inbox shows. */
typedef struct nb_policy_ladder_s {
    /** The named ladder (the rule's 'escalation', or its tier's); NULL for rungs given in the
     *  rule itself, or when the rule has no ladder. A ladder continued with 'then' is part of
     *  it: its rungs follow. */
    const char *id;
    const char *title; /**< that ladder's title, or NULL */
    /** The modifiers moved the notification to a tier with a ladder of its own ('tiers'), and
     *  it follows that ladder rather than its rule's. */
    bool of_tier;
    nb_tier_t rule_tier; /**< the rule's own tier (of_tier: the tier was changed from it) */
    /** The ownership keys of the ladder (nb_policy_ownership_at()). Never NULL. */
    const nb_policy_ownership_t *ownership;
    size_t n_rungs;
    nb_policy_rung_t rungs[NB_POLICY_MAX_RUNGS];
} nb_policy_ladder_t;

/**
 * @brief The ladder a notification of @p rule follows, and when each rung falls due, exactly
 *        as the daemon decides it (its decisions are made by this function): the rule's own
 *        ladder, or, when @p tier (the tier after the modifiers) is not the rule's and that
 *        tier has a ladder of its own, the tier's. A rung counted from the respond-by is due
 *        @p respond_by + after; one counted from the notification @p decided_at + after, never
 *        before @p respond_by unless it is an early alert; never before the rung before it.
 *        A reassignment that restarted the respond-by moves every rung by as much (the caller
 *        adds it: nb_notify_plan()).
 * @param decided_at when it was raised (nb_notification_t.created_at of its "new" record).
 * @param respond_by its first respond-by (the "new" record's; NB_TIME_NONE when none).
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG when @p rule is not one of @p pol's or @p tier is
 *          not a tier (*out is then an empty ladder with the policy's ownership keys).
 * @remark Pure. Pointers are valid until nb_policy_destroy().
 */
NB_NODISCARD nb_err_t nb_policy_ladder(const nb_policy_t *pol, const nb_policy_rule_info_t *rule,
                                       nb_tier_t tier, int64_t decided_at, int64_t respond_by,
                                       nb_policy_ladder_t *out);

/** One rule that fires. Pointers are valid until nb_policy_destroy() (rule, roles,
 *  modifiers) or until the ledger is next modified (evidence, context). */
typedef struct nb_policy_decision_s {
    char id[NB_LEDGER_ID_HEX + 1]; /**< 32 hex digits */
    uint8_t id_bytes[NB_LEDGER_ID_BYTES];
    const nb_policy_rule_info_t *rule;
    nb_policy_state_t state;
    /** NEW: the previous raised notification of the same rule that this one follows;
     *  SUPPRESSED: the raised notification that suppresses it; "" when none. */
    char related[NB_LEDGER_ID_HEX + 1];
    bool shadow; /**< a shadow rule: count it, never notify */
    bool as_dna; /**< a self-managing young person: say "did not attend", not WNB */
    /** The modifiers moved the decision to a tier with a ladder of its own ('tiers'), and its
     *  rungs are that ladder's, not the rule's. */
    bool ladder_of_tier;
    nb_tier_t base_tier; /**< the rule's tier */
    nb_tier_t tier;      /**< after modifiers */
    int64_t decided_at;  /**< now, or when it was raised (state RAISED) */
    int64_t respond_by;  /**< NB_TIME_NONE when the rule sets no response time */
    int64_t deadline;    /**< absence rules: the deadline that passed; else NB_TIME_NONE */
    nb_policy_digest_t digest;
    uint64_t fingerprint;
    int32_t evidence_max_min; /**< latest scheduled start among the evidence (minutes) */
    size_t n_recipients;
    const nb_policy_role_t *recipients[NB_NOTIF_MAX_RECIPIENTS];
    /** Overlapping rules (the policy's 'overlaps'): the open notification of another rule of
     *  the group, or the decision before this one in the group, that already reached some of
     *  this rule's recipients; they are left out of this one (and it is SUPPRESSED when no
     *  recipient is left). "" and NULL when nothing covers it. */
    char covered_by[NB_LEDGER_ID_HEX + 1];
    const nb_policy_rule_info_t *covered_by_rule;
    size_t n_covered;
    const nb_policy_role_t *covered[NB_NOTIF_MAX_RECIPIENTS]; /**< the roles left out */
    size_t n_rungs;
    nb_policy_rung_t rungs[NB_POLICY_MAX_RUNGS];
    /** The ownership keys of the ladder it follows (nb_policy_ownership_at()). Never NULL. */
    const nb_policy_ownership_t *ownership;
    size_t n_evidence; /**< the exact events, newest first (at most 16) */
    const nb_ledger_appt_t *evidence[NB_NOTIF_MAX_EVIDENCE];
    size_t n_counts;
    nb_window_count_t counts[NB_NOTIF_MAX_COUNTS];
    size_t n_context; /**< the facts the rule or a modifier relied on */
    const nb_ledger_fact_t *context[NB_NOTIF_MAX_CONTEXT];
    size_t n_modifiers;
    const char *modifiers[NB_POLICY_MAX_APPLIED]; /**< ids of the modifiers applied */
} nb_policy_decision_t;

/** Whether a notification already raised is still supported by the ledger. */
typedef enum nb_policy_support_e {
    NB_POLICY_SUPPORTED,    /**< the rule still fires */
    NB_POLICY_WITHDRAWN,    /**< given what is known now, the rule would not have fired when
                                 it was raised (evidence amended or entered in error) */
    NB_POLICY_RESOLVED,     /**< an absence rule closed: the expected contact happened */
    NB_POLICY_EXPIRED,      /**< the rule no longer fires because time moved on */
    NB_POLICY_RULE_REMOVED, /**< the policy no longer has the rule */
} nb_policy_support_t;

/** @brief "supported", "withdrawn", ... */
const char *nb_policy_support_name(nb_policy_support_t s);
/** @brief "new", "raised", "suppressed". */
const char *nb_policy_state_name(nb_policy_state_t s);
/** @brief "none", "daily", "weekly". */
const char *nb_policy_digest_name(nb_policy_digest_t d);

typedef struct nb_policy_raised_status_s {
    char id[NB_LEDGER_ID_HEX + 1];
    const nb_ledger_raised_t *raised; /**< valid until the ledger is next modified */
    const nb_policy_rule_info_t *rule; /**< NULL when the rule was removed */
    nb_policy_support_t support;
    /** Who it was sent to, as far as the policy and the child now tell: the rule's
     *  recipients, the roles its modifiers add now, and those of the rungs it reached. */
    size_t n_recipients;
    const nb_policy_role_t *recipients[NB_NOTIF_MAX_RECIPIENTS];
    /** Supported: the decision its ladder runs by (nb_notify_plan() escalates it by this
     *  alone). The rule's decision when the rule makes this notification's own decision again
     *  (state raised); when the rule now decides over other evidence (a newer missed
     *  appointment raised another notification, or an older one recorded late was suppressed
     *  in the cool-down), a decision of its own, as a raised decision re-evaluated now would
     *  be (its id, its raised time, the respond-by and rungs counted from then; what the rule
     *  found when it was raised, as known now). NULL when not supported, or for a shadow
     *  rule. Lifetime as nb_policy_result_decisions(). */
    const nb_policy_decision_t *escalate_by;
} nb_policy_raised_status_t;

typedef struct nb_policy_result_s nb_policy_result_t;

/** @brief A reusable result (one per thread). @returns NULL on allocation failure. */
nb_policy_result_t *nb_policy_result_new(void);
/** @brief Frees it. NULL is a no-op. */
void nb_policy_result_destroy(nb_policy_result_t *res);

/** @brief The decisions of the last evaluation, in rule order. @returns a pointer valid
 *  until the next evaluation with this result, or its destruction. */
const nb_policy_decision_t *nb_policy_result_decisions(const nb_policy_result_t *res, size_t *n);

/** @brief The support status of every notification the ledger says was raised, in ledger
 *  order. Lifetime as nb_policy_result_decisions(). */
const nb_policy_raised_status_t *nb_policy_result_raised(const nb_policy_result_t *res,
                                                         size_t *n);

/**
 * @brief The first instant after the subject's absence_now at which an absence rule would fire
 *        if nothing more were recorded for the child (a quiet family), or NB_TIME_NONE: the
 *        time to evaluate the ledger again without an event (a durable timer). Lifetime as
 *        nb_policy_result_decisions().
 */
int64_t nb_policy_result_next_due(const nb_policy_result_t *res);

/**
 * @brief Evaluates every rule of the policy over one child's ledger at @p now_ms.
 * @returns NB_ERR_OK (the result holds the decisions), or NB_ERR_INVALID_ARG when the child
 *          key is missing or too long (more than NB_KEY_MAX bytes).
 * @remark Pure and allocation-free: the same policy, ledger, subject and now give the same
 *         result.
 */
NB_NODISCARD nb_err_t nb_policy_evaluate(const nb_policy_t *pol, const nb_ledger_t *led,
                                         const nb_policy_subject_t *subj, int64_t now_ms,
                                         nb_policy_result_t *res);

/**
 * @brief Why a rule does not fire for a child at @p now_ms, in words for a protocol owner
 *        whose test case failed: the first subject condition that fails (life stage, age,
 *        gestation, facts, self-management), else for a count rule the count against its
 *        threshold, window and agencies, for an absence rule its deadline or the contact that
 *        answered it. "the rule fires" when it does.
 * @param res scratch space; the decisions and raised statuses it holds are left as they are.
 * @returns NB_ERR_OK with the text in @p out (NUL-terminated, cut to @p size), or
 *          NB_ERR_INVALID_ARG for an unknown rule.
 * @remark Pure, as nb_policy_evaluate(); absence deadlines are judged at now_ms.
 */
NB_NODISCARD nb_err_t nb_policy_why_not(const nb_policy_t *pol, const nb_ledger_t *led,
                                        const nb_policy_subject_t *subj, int64_t now_ms,
                                        const char *rule_id, nb_policy_result_t *res, char *out,
                                        size_t size);

/**
 * @brief The ledger record of a decision, for nb_ledger_add_raised() once it is published.
 */
void nb_policy_decision_to_raised(const nb_policy_decision_t *d, nb_ledger_raised_t *out);

/**
 * @brief The policy in plain English, for sign-off: metadata, roles, every rule with its
 *        source, modifiers, ladders and the calendar. Appended to @p out, NUL-terminated.
 * @returns NB_ERR_OK or NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_policy_explain(const nb_policy_t *pol, nb_buf_t *out);

#endif /* NOTBROUGHT_POLICY_H */
