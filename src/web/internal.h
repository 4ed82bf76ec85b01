/*
 * notbrought - web internals shared by server.c (requests, signing in) and pages.c (HTML).
 */
#ifndef NB_WEB_INTERNAL_H
#define NB_WEB_INTERNAL_H

#include "notbrought/notify.h"
#include "notbrought/web.h"

/** At most this many notifications on one page. */
#define NB__WEB_PAGE_ITEMS 200

/** @brief The page layout's start: doctype, language, title, and a skip link to <main>. */
void nb__page_begin(nb_buf_t *b, const char *title);
/** @brief The layout's end. */
void nb__page_end(nb_buf_t *b);

/**
 * @brief The sign-in page: a form of user id and password with the session's CSRF token;
 *        @p error (static text, or NULL) above it; @p local false when there is no users file
 *        (then the page says to sign in through the organisation's sign-in instead).
 */
void nb__page_signin(nb_buf_t *b, const char *csrf, const char *error, bool local);

/** The list selection "what I own" (GET /?queue=yours): never a route, which has a ':'. */
extern const char nb__web_mine[];
#define NB__WEB_MINE nb__web_mine

/** Which list the inbox page shows (GET /?queue=...&page=...). */
typedef struct nb__web_list_s {
    const char *queue;  /**< NULL: all her queues and what she owns; one of her queues; or
                             NB__WEB_MINE: what she owns (taken, or given to her in person) */
    size_t page;        /**< from 1; one past the end shows the last page */
    const char *notice; /**< static text above the list (a queue she is not in), or NULL */
} nb__web_list_t;

/**
 * @brief The inbox page of a signed-in session: the user's name; her queues, each with how
 *        many open and overdue notifications it holds and a link to its list alone, and what
 *        she owns; the open notifications of the selection @p sel, most urgent and most
 *        overdue first, NB__WEB_PAGE_ITEMS a page with links to the pages before and after
 *        (read from the view under its lock; times in @p zone); a form to find one by its
 *        reference (@p find_error, static text or NULL, says why the last search found
 *        nothing), and a sign-out form with the session's CSRF token.
 * @returns false on no memory.
 */
bool nb__page_inbox(nb_buf_t *b, const nb_web_session_t *s, nb_web_view_t view,
                    const nb__web_list_t *sel, int64_t now_ms, nb_notify_zone_t zone,
                    const char *find_error);

/* ---- actions (act.c) ---- */

/** Own actions kept until the view has the daemon's verdict, at most. */
#define NB__WEB_PENDING 256

/** A user's action sent to Kafka, shown on her page until the verdict comes. */
typedef struct nb__web_pending_s {
    char ack_id[NB_ID_MAX + 1];
    char notification_id[NB_ID_MAX + 1];
    char user_id[NB_WEB_USER_MAX + 1];
    nb_ack_intent_t intent;
    int64_t at;
} nb__web_pending_t;

/** @brief The close form's choices: how many, and the @p i th (its words, its action). */
size_t nb__web_close_actions(void);
const char *nb__web_close_action(size_t i, nb_ack_action_t *action);

/** @brief "take", "reassignment", "close". */
const char *nb__web_intent_words(nb_ack_intent_t intent);

/**
 * @brief The NotificationAck a form makes: its id from the form's form_id (sending the same
 *        form twice is one action), who from the session, the queue acted in (its role: the
 *        first of the user's queues the notification has; for a reassignment of what another
 *        person owns, a queue of hers that @p be's may_reassign allows), and the form's
 *        fields: reason and note; reassign: to_queue or to_user (a user of @p users when not
 *        NULL, else any well-formed id), and a reason; close: action (and a reason for
 *        no_further_action).
 * @returns false with what to correct in @p why (a sentence for the user).
 */
bool nb__web_action_build(const nb_web_session_t *s, const nb_inbox_item_t *it,
                          const nb_web_users_t *users, const nb_web_backend_t *be,
                          nb_ack_intent_t intent, const char *body, size_t len, int64_t now_ms,
                          nb_ack_t *ack, char *why, size_t why_size);

/** @brief Keeps a sent action in the ring (@p next counts every one added). */
void nb__web_pending_add(nb__web_pending_t *ring, size_t *next, const nb_ack_t *ack);

/** @brief The newest sent action of @p user_id on @p notification_id, or NULL. */
const nb__web_pending_t *nb__web_pending_find(const nb__web_pending_t *ring, size_t next,
                                              const char *notification_id, const char *user_id);

/** A child's notifications shown on a detail page, at most. */
#define NB__WEB_DETAIL_OTHERS 50
/** Steps of a notification's history shown on its page, at most (the first ones). */
#define NB__WEB_DETAIL_STEPS 40

/** Whether a detail page knows the notification's ladder (nb_web_detail_t.ladder_known). */
enum {
    NB__WEB_LADDER_KNOWN,     /**< the backend filled it */
    NB__WEB_LADDER_NO_POLICY, /**< the command has no policy loaded, or it could not say */
    NB__WEB_LADDER_NO_RULE,   /**< the loaded policy does not have the rule */
    NB__WEB_LADDER_NO_RAISED, /**< the view never read its "new" record (retention dropped it) */
};

/** What a detail page shows: the view's entry, the record read from Kafka when it could be,
 *  and the child's notifications (this one among them). Large: allocate it. */
typedef struct nb_web_detail_s {
    nb_inbox_item_t item;
    const nb__web_pending_t *pending; /**< the user's latest action on it, or NULL */
    bool decided;                     /**< the view has the daemon's verdict on it */
    nb_inbox_verdict_t verdict;       /**< that verdict */
    const char *error;                /**< a form's error to show above the forms, or NULL */
    const nb_web_users_t *users;      /**< for the reassignment form's queues (may be NULL) */
    bool actions;                     /**< the forms are offered (the command can write) */
    bool have_record;
    nb_notification_t record;
    size_t n_others;
    nb_inbox_item_t others[NB__WEB_DETAIL_OTHERS];
    int ladder_known;       /**< NB__WEB_LADDER_*: whether ladder holds its ladder */
    nb_web_ladder_t ladder; /**< the escalation ladder it follows (the backend's) */
    size_t n_steps; /**< all of them; at most NB__WEB_DETAIL_STEPS in steps */
    nb_inbox_step_t steps[NB__WEB_DETAIL_STEPS];
} nb_web_detail_t;

/**
 * @brief A notification's page (docs/inbox.md §6): where it stands; the child; why; the
 *        evidence with each source system's appointment id; context; what to do and by when;
 *        who was told; what happens next (its escalation ladder rung by rung, each with when,
 *        who is told, the tier and whether it is done, next, later or will not happen); the
 *        child's notifications the user's queues hold
 *        (and how many others there are). Times in @p zone.
 * @returns false on no memory.
 */
bool nb__page_detail(nb_buf_t *b, const nb_web_session_t *s, const nb_web_detail_t *d,
                     const char *const *queues, size_t n_queues, int64_t now_ms,
                     nb_notify_zone_t zone);

/** @brief Whether @p id can be a notification id (letters, digits, '-'; 1 to NB_ID_MAX). */
bool nb__web_notification_id_ok(const char *id);

/** @brief A short page: a heading and a sentence (static text). */
void nb__page_message(nb_buf_t *b, const char *title, const char *text);

/** @brief The session user's queues as the array nb_inbox_query_t and nb_inbox_visible()
 *         take (pointers into @p s). @returns how many. */
static inline size_t nb__web_queues(const nb_web_session_t *s,
                                    const char *queues[NB_WEB_MAX_QUEUES])
{
    for (size_t i = 0; i < s->user.n_queues; i++)
        queues[i] = s->user.queues[i];
    return s->user.n_queues;
}

/** @brief Takes and gives back the view's lock (none when nobody writes the view). */
static inline void nb__web_view_lock(nb_web_view_t v)
{
    if (v.lock)
        pthread_mutex_lock(v.lock);
}
static inline void nb__web_view_unlock(nb_web_view_t v)
{
    if (v.lock)
        pthread_mutex_unlock(v.lock);
}

/** @brief Whether a user id is acceptable (letters, digits, . _ - @; 1 to NB_WEB_USER_MAX). */
bool nb__web_id_ok(const char *s);

#endif
