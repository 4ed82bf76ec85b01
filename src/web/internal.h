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

/**
 * @brief The inbox page of a signed-in session: the user's name and queues, the open
 *        notifications of those queues (read from the view under its lock), and a sign-out
 *        form with the session's CSRF token.
 * @returns false on no memory.
 */
bool nb__page_inbox(nb_buf_t *b, const nb_web_session_t *s, nb_web_view_t view, int64_t now_ms);

/** A child's notifications shown on a detail page, at most. */
#define NB__WEB_DETAIL_OTHERS 50

/** What a detail page shows: the view's entry, the record read from Kafka when it could be,
 *  and the child's notifications (this one among them). Large: allocate it. */
typedef struct nb_web_detail_s {
    nb_inbox_item_t item;
    bool have_record;
    nb_notification_t record;
    size_t n_others;
    nb_inbox_item_t others[NB__WEB_DETAIL_OTHERS];
} nb_web_detail_t;

/**
 * @brief A notification's page (docs/inbox.md §6): where it stands; the child; why; the
 *        evidence with each source system's appointment id; context; what to do and by when;
 *        who was told; what happens next; the child's notifications the user's queues hold
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

/** @brief Whether a user id is acceptable (letters, digits, . _ - @; 1 to NB_WEB_USER_MAX). */
bool nb__web_id_ok(const char *s);

#endif
