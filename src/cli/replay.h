/*
 * notbrought - cli internals: the engine of `notbrought replay` (src/cli/replay_run.c).
 *
 * Replays items (appointment events, context facts, identity links and clock steps) in order
 * under one policy, doing what the daemon does with them (src/stream/pipeline.c): identity
 * links are applied with the identity module (link, unlink, supersedes, unborn_to_child),
 * events resolve through it (NHS number, local identifier by link, pregnancy), events that do
 * not resolve yet are parked until a link releases them (or identity.park_retention_ms
 * passes: they expire, as the daemon dead-letters them), merges move a history into the
 * child's, and each evaluation goes through the notify module's lifecycle
 * (nb_notify_plan()): new, escalated and withdrawn notifications, low tiers gathered into
 * digests, absence deadlines and escalations on per-child timers that fall due as the clock
 * moves.
 */
#ifndef NB_CLI_REPLAY_H
#define NB_CLI_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "notbrought/codec.h"
#include "notbrought/event.h"
#include "notbrought/notify.h"
#include "notbrought/policy.h"

typedef enum nb__item_kind_e {
    NB__ITEM_APPT,
    NB__ITEM_FACT,
    NB__ITEM_LINK,
    NB__ITEM_CLOCK, /* the clock moves to `at`: timers that fall due fire */
    NB__ITEM_ACK,   /* a nurse acknowledges the latest notification of a rule for a subject */
} nb__item_kind_t;

/* An acknowledgement in a replay: replay cannot read the acknowledgements topic (its keys are
 * the deployment's pseudonyms), so it names the rule and the subject instead of the id. */
typedef struct nb__replay_ack_s {
    char rule[NB_ID_MAX + 1];
    nb_appointment_event_t subject; /* the subject's identifiers only */
    nb_ack_t ack; /* the action (intent, who, target, reason, close action): its ids are
                     filled in when it is applied */
} nb__replay_ack_t;

/* The action of an acknowledgement line, @p o (replay_ack.c): "intent", "user", "role",
 * "to_queue", "to_user", "reason", "action", "note"; its ids are filled in when applied.
 * @returns 0, or -1 with a reason in @p why. */
int nb__json_ack_action(json_t *o, int64_t at, nb_ack_t *a, char *why, size_t size);

typedef struct nb__item_s {
    int64_t at;   /* when it arrives: the replay order and the evaluation time */
    uint64_t seq; /* input order, for equal times */
    nb__item_kind_t kind;
    union {
        nb_appointment_event_t appt;
        nb_context_fact_t fact;
        nb_identity_link_t link;
        nb__replay_ack_t ack;
    } u;
} nb__item_t;

/* One rung of a notification's escalation ladder, as the run planned it when it was raised. */
typedef struct nb__rrung_s {
    int64_t due;
    nb_tier_t tier;
    size_t n_roles;
    const nb_policy_role_t *roles[NB_NOTIF_MAX_RECIPIENTS];
} nb__rrung_t;

/* A notification a run raised, one per decision id: what it said when it was (last) raised,
 * and what became of it. Pointers are the run's policy's (valid until nb_policy_destroy()). */
typedef struct nb__rnote_s {
    /* The decision id (SHA-256 over the child key, the rule id and the evidence fingerprint):
     * the same decision has the same id under any policy, so the two runs pair up by it. */
    uint8_t id[NB_LEDGER_ID_BYTES];
    size_t child; /* index in the outcome's children (keys, who); SIZE_MAX: none left */
    size_t next;  /* while the run lasts: the next notification of the same child */
    const nb_policy_rule_info_t *rule;
    nb_tier_t tier;
    int64_t raised_at;
    int64_t respond_by;      /* NB_TIME_NONE when the rule gives no response time */
    int64_t deadline;        /* absence rules: the deadline that passed; else NB_TIME_NONE */
    int64_t evidence_latest; /* the latest scheduled start among the evidence, or NB_TIME_NONE */
    size_t n_evidence;
    size_t n_recipients;
    const nb_policy_role_t *recipients[NB_NOTIF_MAX_RECIPIENTS];
    size_t rung0, n_rungs; /* its ladder: the notes' rungs[rung0 .. rung0 + n_rungs) */
    unsigned escalations;  /* rungs published */
    unsigned times_raised; /* more than 1 when raised again after a withdrawal */
    int64_t withdrawn_at;  /* NB_TIME_NONE: not withdrawn (or raised again since) */
} nb__rnote_t;

/* The notifications a run raised; sorted by id once the run ends. */
typedef struct nb__notes_s {
    nb__rnote_t *v;
    size_t n, cap;
    nb__rrung_t *rungs;
    size_t n_rungs, cap_rungs;
    void *by_id; /* while the run lasts: id (hex) -> index + 1 (a GHashTable) */
} nb__notes_t;

/* The deployment settings a run follows, where the daemon's configuration gives them. */
typedef struct nb__replay_conf_s {
    /* identity.hmac_key: children are keyed, and notifications numbered, as the daemon keys
     * and numbers them (the ids and references of the notifications topic); NULL: replay's own
     * key, which is in the source. */
    const char *secret;
    size_t secret_len;
    /* identity.park_retention_ms: an event waiting for an identity link this long is expired,
     * as the daemon dead-letters it. */
    int64_t park_retention_ms;
} nb__replay_conf_t;

/* What one policy did over the items. */
typedef struct nb__outcome_s {
    nb_policy_t *pol;
    size_t n_rules;
    long *raised;    /* per rule: new notifications (digested ones included) */
    long *withdrawn; /* per rule */
    long *escalated; /* per rule */
    long *shadow;    /* per rule: decisions of shadow rules, each once */
    long digests;    /* digest notifications */
    size_t n_children;
    char (*keys)[NB_KEY_MAX + 1]; /* per child (sorted): the pseudonymous key */
    char (*who)[96];              /* per child: the masked name to print */
    size_t parked, refused, links_refused;
    size_t expired; /* waited identity.park_retention_ms for a link: the daemon dead-letters */
    size_t acks, acks_unmatched; /* acknowledgements applied, and those that named nothing */
    size_t acks_refused;         /* actions the lifecycle refused (owned, closed, withdrawn) */
    bool record;       /* set before the run: keep every notification raised, in notes */
    nb__notes_t notes; /* with record: the notifications raised, by id */
} nb__outcome_t;

/**
 * @brief Replays @p items (in order) under o->pol until @p end (NB_TIME_NONE: the last
 *        item), with the settings @p conf, filling @p o. With @p emit, every notification
 *        published (as the daemon would publish it to the notifications topic) is written
 *        there as a record-file line.
 * @returns 0, or -1 on an internal error (out of memory, an encoding failure) with the reason
 *          in errstr.
 */
int nb__replay_run(nb__outcome_t *o, const nb__replay_conf_t *conf, const nb__item_t *items,
                   size_t n, int64_t end, nb_codec_t *codec, FILE *emit, char *errstr,
                   size_t errstr_size);

/** @brief Frees what nb__replay_run() allocated in @p o (not the policy). */
void nb__replay_outcome_free(nb__outcome_t *o);

/* ---- the notifications a run raised (replay_notes.c) -------------------------------------- */

/**
 * @brief Keeps the notification of decision @p d, raised at @p now: a new note at the end of
 *        the child's list (@p head, @p tail: note indices, SIZE_MAX when empty), or, for an id
 *        raised before (and withdrawn since), the same note brought up to date.
 * @returns 0, or -1 when out of memory.
 */
int nb__notes_raise(nb__notes_t *ns, const nb_policy_decision_t *d, int64_t now, size_t *head,
                    size_t *tail);
/** @brief The notification @p id_hex was escalated to rung @p level (1 for the first). */
void nb__notes_escalated(nb__notes_t *ns, const char *id_hex, unsigned level);
/** @brief The notification @p id_hex was withdrawn at @p now. */
void nb__notes_withdrawn(nb__notes_t *ns, const char *id_hex, int64_t now);
/** @brief A merge: the notifications of one child's list join the end of another's. */
void nb__notes_splice(nb__notes_t *ns, size_t *from_head, size_t *from_tail, size_t *into_head,
                      size_t *into_tail);
/** @brief Every note of the list from @p head belongs to outcome child @p child. */
void nb__notes_own(nb__notes_t *ns, size_t head, size_t child);
/** @brief The run is over: the notes are sorted by id (the lists end). */
void nb__notes_finish(nb__notes_t *ns);
/** @brief Frees the notes. */
void nb__notes_free(nb__notes_t *ns);

/* ---- comparing two runs (replay_diff.c) --------------------------------------------------- */

/* What changed about one decision between the policy (a) and the compared policy (b). */
typedef enum nb__change_kind_e {
    NB__CHANGE_ONLY_POLICY,  /* raised with the policy only: lost with the compared one */
    NB__CHANGE_ONLY_COMPARE, /* raised with the compared policy only: gained */
    NB__CHANGE_TIER,
    NB__CHANGE_RECIPIENTS,  /* roles added or removed */
    NB__CHANGE_RESPOND_BY,
    NB__CHANGE_LADDER,      /* the rungs planned: roles, tier, when */
    NB__CHANGE_ESCALATIONS, /* how many rungs were published by the end */
    NB__CHANGE_WITHDRAWN,   /* withdrawn with one policy only */
    NB__CHANGE__COUNT
} nb__change_kind_t;

#define NB__CHANGE_BIT(k) (1u << (k))

/** @brief The kind's name in the JSON report: "only_policy", "only_compare", "tier",
 *  "recipients", "respond_by", "ladder", "escalations", "withdrawn". Static. */
const char *nb__change_name(nb__change_kind_t k);

/* One decision that differs: its notification under each policy (NULL: not raised). */
typedef struct nb__change_s {
    const nb__rnote_t *a, *b;
    const char *key; /* the child's pseudonymous key, for order; "" when none is left */
    const char *who; /* the child masked, as replay prints it */
    unsigned kinds;  /* NB__CHANGE_BIT()s */
} nb__change_t;

typedef struct nb__rule_changes_s {
    const char *rule; /* the rule id (a's rules, then those only in b) */
    size_t by_kind[NB__CHANGE__COUNT];
    size_t changed; /* decisions of the rule with any change */
} nb__rule_changes_t;

typedef struct nb__diff_s {
    nb__change_t *v; /* by child key, rule id, when raised */
    size_t n;
    size_t in_a, in_b, in_both; /* notifications raised: with a, with b, paired */
    size_t by_kind[NB__CHANGE__COUNT];
    nb__rule_changes_t *rules;
    size_t n_rules;
    size_t children_changed, children_total;
} nb__diff_t;

/**
 * @brief What changed between the notification of one decision under two policies (@p a in
 *        @p na, @p b in @p nb_; either may be NULL: raised under one only).
 * @returns NB__CHANGE_BIT()s; 0 when both say the same.
 * @remark Pure. Roles and rules are compared by id, since each run has its own policy.
 */
unsigned nb__replay_note_changes(const nb__notes_t *na, const nb__rnote_t *a,
                                 const nb__notes_t *nb_, const nb__rnote_t *b);

/** @brief The same rung: when, tier and roles (by id, in any order). Pure. */
bool nb__replay_same_rung(const nb__rrung_t *x, const nb__rrung_t *y);

/**
 * @brief Pairs the notifications of two finished runs by decision id and lists each decision
 *        that differs, with totals per kind of change, per rule and overall.
 * @returns 0, or -1 when out of memory. Free @p d with nb__replay_diff_free().
 * @remark Pure. @p d points into @p a and @p b: free it first.
 */
int nb__replay_diff(const nb__outcome_t *a, const nb__outcome_t *b, nb__diff_t *d);
void nb__replay_diff_free(nb__diff_t *d);

/* ---- the report (replay_report.c) -------------------------------------------------------- */

/* What `notbrought replay` prints. */
typedef struct nb__report_s {
    const nb__outcome_t *a; /* the policy */
    const nb__outcome_t *b; /* the compared policy; NULL without --compare */
    const nb__diff_t *diff; /* with b */
    nb_notify_zone_t zone;  /* times as the notification text gives them */
    int limit;              /* children listed, and decisions listed per child (text only) */
    size_t items, invalid, other;
    int64_t end; /* the clock at the end; NB_TIME_NONE when nothing was replayed */
} nb__report_t;

/** @brief The changes per rule and per child, as text, at most rep->limit children and
 *  rep->limit decisions per child. */
void nb__report_changes_text(FILE *out, const nb__report_t *rep);

/**
 * @brief The whole report as one JSON document (docs/cli.md gives its shape): every child and
 *        decision, whatever the limit.
 * @returns 0, or -1 when it could not be built or written (out of memory, an I/O error).
 */
int nb__report_json(FILE *out, const nb__report_t *rep);

#endif
