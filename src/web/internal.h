/*
 * notbrought - web internals shared by server.c (requests, signing in) and pages.c (HTML).
 */
#ifndef NB_WEB_INTERNAL_H
#define NB_WEB_INTERNAL_H

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

/** @brief A short page: a heading and a sentence (static text). */
void nb__page_message(nb_buf_t *b, const char *title, const char *text);

/** @brief Whether a user id is acceptable (letters, digits, . _ - @; 1 to NB_WEB_USER_MAX). */
bool nb__web_id_ok(const char *s);

#endif
