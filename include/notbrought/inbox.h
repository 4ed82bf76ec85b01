/*
 * notbrought - inbox: the safeguarding inbox's view of notifications (docs/inbox.md §2).
 *
 * The inbox keeps no store of its own: it reads the notifications topic and the audit topic
 * (the daemon's verdicts on what people did) and builds this view in memory, one entry per
 * notification, whatever escalations and withdrawals followed it. Queries answer what a page
 * shows: the open notifications of a user's queues, most urgent and most overdue first; one
 * notification by its human reference or id; a child's notifications.
 *
 * The two topics are read side by side, so a verdict may come before the notification it is
 * about: it is kept and applied when the notification comes. A record read twice (a restart
 * reads from the start) changes nothing. An entry holds ids, times and interned strings, and
 * where its latest record is (partition, offset) so that a detail page reads the whole record
 * from Kafka rather than the view holding it: a few hundred bytes per notification.
 *
 * Pure: no I/O, no clock (queries take now_ms). Not thread-safe: one owner.
 */
#ifndef NOTBROUGHT_INBOX_H
#define NOTBROUGHT_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/event.h"
#include "notbrought/util.h"

typedef struct nb_inbox_s nb_inbox_t;

/** Where a notification stands, as the daemon last said. */
typedef enum nb_inbox_state_e {
    NB_INBOX_OPEN = 0,  /**< raised, nobody has taken it */
    NB_INBOX_OWNED,     /**< a person (or a queue, after a reassignment) has it */
    NB_INBOX_CLOSED,    /**< closed with what was done */
    NB_INBOX_WITHDRAWN, /**< the daemon withdrew it: its evidence no longer holds */
} nb_inbox_state_t;

/** @brief "open", "owned", "closed", "withdrawn". */
const char *nb_inbox_state_name(nb_inbox_state_t s);

/** Where a record is on its topic. */
typedef struct nb_inbox_where_s {
    int32_t partition;
    int64_t offset; /**< -1: not known */
} nb_inbox_where_t;

/** @brief An empty view. @returns NULL on no memory. */
nb_inbox_t *nb_inbox_new(void);

/** @brief Frees it. NULL is a no-op. */
void nb_inbox_destroy(nb_inbox_t *v);

/**
 * @brief A record of the notifications topic. "new" makes the entry (a notification that
 *        follows an earlier one of its rule is an entry of its own); "escalated" raises its
 *        notification's level, tier and respond-by and adds the rung's recipients;
 *        "withdrawn" withdraws it; "reminder" moves where its latest record is; digests are
 *        not entries (each item is a notification of its own).
 * @param at where the record is (its detail is read from there).
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG for a NULL argument or a notification without an id;
 *          NB_ERR_NOMEM (the view is unchanged).
 */
NB_NODISCARD nb_err_t nb_inbox_notification(nb_inbox_t *v, const nb_notification_t *n,
                                            nb_inbox_where_t at);

/**
 * @brief A record of the audit topic (schemas/audit_record.avsc). The daemon's verdicts on
 *        actions change an entry: taken and reassigned (the owner after it, action.owner_*, and
 *        a restarted respond_by), closed. Every verdict with an action is kept by its ack id
 *        (nb_inbox_verdict()); taken, reassigned, closed and action_refused are steps of the
 *        notification's history. Other records (decisions, events received, views) change
 *        nothing here.
 * @returns NB_ERR_OK (also for a record that changes nothing); NB_ERR_INVALID_ARG for a NULL
 *          argument or a verdict without a notification id, with why in @p errstr; NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_inbox_audit(nb_inbox_t *v, const nb_audit_t *a, char *errstr,
                                     size_t errstr_size);

/**
 * @brief An audit record as versions before the AuditRecord schema wrote it (a JSON object whose
 *        "decision" is the kind), read into @p out, so that an upgraded inbox still sees the
 *        verdicts recorded before the upgrade. Its audit_id is made from what it says.
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG for a value that is not a JSON object with a
 *          "decision" string, with why in @p errstr.
 */
NB_NODISCARD nb_err_t nb_inbox_audit_legacy(const char *json, size_t len, nb_audit_t *out,
                                            char *errstr, size_t errstr_size);

/** One notification as a page shows it in a list. */
typedef struct nb_inbox_item_s {
    char notification_id[NB_ID_MAX + 1]; /**< the id of its first ("new") record */
    char reference[NB_REF_MAX + 1];      /**< WNB-XXXX-XXXX */
    char child_key[NB_KEY_MAX + 1];
    char rule_id[NB_ID_MAX + 1];
    nb_tier_t tier;     /**< after escalations */
    int32_t level;      /**< escalation level: 0 until escalated */
    int64_t created_at; /**< the first record's */
    int64_t respond_by; /**< NB_TIME_NONE when the rule sets none */
    /** What escalations and reassignments overwrite, kept for the escalation ladder (the
     *  decision's tier and respond-by, from which its rungs' due times are worked out):
     *  raised is true once its "new" record was read (else, retention having dropped it, the
     *  raised_* are not known: raised_tier is then the tier and raised_respond_by none). */
    bool raised;
    nb_tier_t raised_tier;     /**< the "new" record's tier (after the modifiers) */
    int64_t raised_respond_by; /**< the "new" record's respond-by; NB_TIME_NONE when none */
    /** The respond-by the latest reassignment restarted (NB_TIME_NONE: none did): the daemon
     *  moves every rung still to come by restarted_respond_by - raised_respond_by. */
    int64_t restarted_respond_by;
    int64_t updated_at; /**< the latest record or verdict */
    nb_inbox_state_t state;
    bool overdue;                /**< open or owned, and respond_by is before the query's now */
    char owner[NB_NAME_MAX + 1]; /**< the owner's user id; "" when none */
    char owner_queue[NB_SYSTEM_MAX + 1]; /**< the queue it is with after a take or reassignment */
    size_t n_queues;
    char queues[NB_NOTIF_MAX_RECIPIENTS][NB_SYSTEM_MAX + 1]; /**< its recipients' routes */
    nb_inbox_where_t latest; /**< its latest record on the notifications topic */
} nb_inbox_item_t;

/** What a list shows. */
typedef struct nb_inbox_query_s {
    const char *const *queues; /**< routes ("queue:hv-duty"): notifications with a recipient on
                                    one of them, or with one of them as owner_queue */
    size_t n_queues;
    bool closed;    /**< closed and withdrawn ones too (default: open and owned only) */
    int64_t now_ms; /**< for overdue */
    size_t offset;  /**< skip this many */
    size_t limit;   /**< at most this many into out */
    const char *user; /**< a user id: also the notifications this person owns (taken, or
                           reassigned to her in person), whatever their queues; NULL: none */
} nb_inbox_query_t;

/**
 * @brief The notifications a query shows, most urgent first (tier), then by respond-by (the
 *        most overdue first, then the soonest due; none last), then the oldest first.
 * @param out room for q->limit items.
 * @returns how many match (all of them, not only those written), or (size_t)-1 on no memory.
 */
size_t nb_inbox_list(const nb_inbox_t *v, const nb_inbox_query_t *q, nb_inbox_item_t *out);

/** @brief The notification with this human reference (any case, with or without its
 *         dashes). @returns false when there is none. */
bool nb_inbox_by_reference(const nb_inbox_t *v, const char *reference, int64_t now_ms,
                           nb_inbox_item_t *out);

/** @brief The notification with this id (of any of its records: "<id>-e2" finds "<id>").
 *  @returns false when there is none. */
bool nb_inbox_by_id(const nb_inbox_t *v, const char *notification_id, int64_t now_ms,
                    nb_inbox_item_t *out);

/** @brief Whether a user of these queues may see the item (a recipient route or its queue is
 *         one of them). */
bool nb_inbox_visible(const nb_inbox_item_t *it, const char *const *queues, size_t n_queues);
/** @brief Whether the user @p user_id, of these queues, may see the item: one of her queues
 *         has it (nb_inbox_visible()), or she owns it (she took it, or it was reassigned to
 *         her in person). */
bool nb_inbox_visible_to(const nb_inbox_item_t *it, const char *user_id, const char *const *queues,
                         size_t n_queues);
/** How many open (or owned) notifications one queue of a query holds. */
typedef struct nb_inbox_count_s {
    size_t open;    /**< open or owned */
    size_t overdue; /**< of those, past their respond-by */
} nb_inbox_count_t;
/**
 * @brief Counts, for each of @p q's queues, the open notifications it holds (as
 *        nb_inbox_list() would list them for that queue alone), into @p per_queue
 *        (q->n_queues of them), and into @p mine those q->user owns (zero when q->user is
 *        NULL). q->closed, offset and limit are not used.
 * @returns false on no memory.
 */
bool nb_inbox_count(const nb_inbox_t *v, const nb_inbox_query_t *q, nb_inbox_count_t *per_queue,
                    nb_inbox_count_t *mine);

/**
 * @brief A child's notifications, newest first.
 * @returns how many the child has; at most @p max are written to @p out; (size_t)-1 on no
 *          memory.
 */
size_t nb_inbox_child(const nb_inbox_t *v, const char *child_key, int64_t now_ms,
                      nb_inbox_item_t *out, size_t max);

/** The daemon's verdict on one action (a NotificationAck), from the audit record that names
 *  its ack id. */
typedef struct nb_inbox_verdict_s {
    char decision[24]; /**< "taken", "reassigned", "closed", "action_duplicate",
                            "action_refused", ... */
    char refused[24];  /**< a refusal's reason: "owned_by", "closed", "withdrawn", ...; "" */
    char owner[NB_NAME_MAX + 1]; /**< who has it after the action (user id); "" */
} nb_inbox_verdict_t;

/** @brief The verdict on the action @p ack_id, once the view has read it. @returns false
 *         while there is none. */
bool nb_inbox_verdict(const nb_inbox_t *v, const char *ack_id, nb_inbox_verdict_t *out);

/** One step of a notification's history. */
typedef struct nb_inbox_step_s {
    int64_t at;
    char what[24];                       /**< "raised", "escalated", "withdrawn", "taken",
                                              "reassigned", "closed", "action_refused", ... */
    int32_t level;                       /**< escalated: the level reached */
    char actor[NB_NAME_MAX + 1];         /**< who acted (user id); "" for the daemon's steps */
    char owner[NB_NAME_MAX + 1];         /**< who has it after the step; "" */
    char owner_queue[NB_SYSTEM_MAX + 1]; /**< the queue it is with after the step; "" */
    char target[NB_SYSTEM_MAX + 1];      /**< reassigned: to which queue or person; "" */
    char close_action[32];               /**< closed: what was done; "" */
    char refused[24];                    /**< action_refused: why; "" */
} nb_inbox_step_t;

/**
 * @brief A notification's history in the order it happened: its records (raised, each
 *        escalation, withdrawn) and the daemon's verdicts on what people did.
 * @returns how many steps it has; at most @p max are written to @p out (the first ones).
 */
size_t nb_inbox_history(const nb_inbox_t *v, const char *notification_id, nb_inbox_step_t *out,
                        size_t max);

/** Counts, for metrics and the benchmark. */
typedef struct nb_inbox_stats_s {
    size_t notifications; /**< entries with their first record */
    size_t waiting;       /**< verdicts kept for a notification not read yet */
    size_t by_state[4];   /**< by nb_inbox_state_t */
} nb_inbox_stats_t;

/** @brief The view's counts. */
void nb_inbox_stats(const nb_inbox_t *v, nb_inbox_stats_t *out);

#endif /* NOTBROUGHT_INBOX_H */
