/*
 * notbrought - web: the pages, plain server-rendered HTML that works without JavaScript and
 * without styles (the CSP allows neither inline), with labels for every field, a language, a
 * skip link and headings for screen readers. Everything that did not come from this file is
 * escaped with nb_web_html(). Lists name notifications by reference and id only; the child's
 * details are on the notification's own page (detail.c), whose views are recorded.
 */
#include "web/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIT(b, s) nb_buf_add((b), (s), sizeof(s) - 1)

static void nb__str(nb_buf_t *b, const char *s)
{
    nb_buf_add(b, s, strlen(s));
}

void nb__page_begin(nb_buf_t *b, const char *title)
{
    LIT(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    nb_web_html(b, title);
    LIT(b, " - notbrought inbox</title>\n<link rel=\"stylesheet\" href=\"/inbox.css\">\n"
           "</head>\n<body>\n"
           "<a href=\"#main\">Skip to the content</a>\n<main id=\"main\">\n");
}

void nb__page_end(nb_buf_t *b)
{
    LIT(b, "</main>\n</body>\n</html>\n");
}

void nb__page_message(nb_buf_t *b, const char *title, const char *text)
{
    nb__page_begin(b, title);
    LIT(b, "<h1>");
    nb_web_html(b, title);
    LIT(b, "</h1>\n<p>");
    nb_web_html(b, text);
    LIT(b, "</p>\n<p><a href=\"/\">The inbox</a></p>\n");
    nb__page_end(b);
}

void nb__page_signin(nb_buf_t *b, const char *csrf, const char *error, bool local)
{
    nb__page_begin(b, "Sign in");
    LIT(b, "<h1>Sign in to the safeguarding inbox</h1>\n");
    if (error) {
        LIT(b, "<p role=\"alert\" id=\"signin-error\"><strong>");
        nb_web_html(b, error);
        LIT(b, "</strong></p>\n");
    }
    if (!local) {
        LIT(b, "<p>Sign in through your organisation's sign-in page, then open the inbox "
               "again.</p>\n");
        nb__page_end(b);
        return;
    }
    LIT(b, "<form method=\"post\" action=\"/signin\">\n<input type=\"hidden\" name=\"csrf\" "
           "value=\"");
    nb_web_html(b, csrf);
    LIT(b, "\">\n<p><label for=\"user\">User id</label><br>\n<input id=\"user\" name=\"user\" "
           "type=\"text\" autocomplete=\"username\" required maxlength=\"64\" "
           "autocapitalize=\"none\" spellcheck=\"false\"");
    if (error)
        LIT(b, " aria-describedby=\"signin-error\"");
    LIT(b, "></p>\n<p><label for=\"password\">Password</label><br>\n<input id=\"password\" "
           "name=\"password\" type=\"password\" autocomplete=\"current-password\" required "
           "maxlength=\"1024\"></p>\n<p><button type=\"submit\">Sign in</button></p>\n"
           "</form>\n");
    nb__page_end(b);
}

static void nb__signout_form(nb_buf_t *b, const nb_web_session_t *s)
{
    LIT(b, "<form method=\"post\" action=\"/signout\">\n<input type=\"hidden\" name=\"csrf\" "
           "value=\"");
    nb_web_html(b, s->csrf);
    LIT(b, "\">\n<button type=\"submit\">Sign out</button>\n</form>\n");
}

/* "Mon 7 Dec 2026 17:00 GMT (overdue)": the time in notify.timezone and what it means now. */
static void nb__respond_by(nb_buf_t *b, const nb_inbox_item_t *it, nb_notify_zone_t zone,
                           int64_t now_ms)
{
    char when[64], left[64];
    if (it->respond_by == NB_TIME_NONE) {
        LIT(b, "none set");
        return;
    }
    nb_web_html(b, nb_notify_format_time(it->respond_by, zone, false, when, sizeof(when)));
    int64_t ms = it->respond_by - now_ms, mins = (ms < 0 ? -ms : ms) / 60000;
    if (mins >= 48 * 60)
        snprintf(left, sizeof(left), "%lld days", (long long)(mins / (24 * 60)));
    else if (mins >= 60)
        snprintf(left, sizeof(left), "%lld hour%s", (long long)(mins / 60),
                 mins / 60 == 1 ? "" : "s");
    else
        snprintf(left, sizeof(left), "%lld minute%s", (long long)mins, mins == 1 ? "" : "s");
    if (it->overdue) {
        LIT(b, " <strong>(overdue by ");
        nb__str(b, left);
        LIT(b, ")</strong>");
    } else if (it->state == NB_INBOX_OPEN || it->state == NB_INBOX_OWNED) {
        LIT(b, " (");
        nb__str(b, left);
        LIT(b, " left)");
    }
}

static void nb__item_row(nb_buf_t *b, const nb_inbox_item_t *it, nb_notify_zone_t zone,
                         int64_t now_ms)
{
    LIT(b, "<tr><th scope=\"row\"><a href=\"/n/");
    nb_web_html(b, it->notification_id);
    LIT(b, "\">");
    nb_web_html(b, it->reference[0] ? it->reference : it->notification_id);
    LIT(b, "</a></th><td>");
    nb_web_html(b, nb_tier_name(it->tier));
    if (it->level > 0) {
        char lvl[48];
        snprintf(lvl, sizeof(lvl), ", escalated (level %d)", (int)it->level);
        nb__str(b, lvl);
    }
    LIT(b, "</td><td>");
    nb_web_html(b, it->rule_id);
    LIT(b, "</td><td>");
    nb__respond_by(b, it, zone, now_ms);
    LIT(b, "</td><td>");
    nb_web_html(b, nb_inbox_state_name(it->state));
    if (it->owner[0]) {
        LIT(b, " by ");
        nb_web_html(b, it->owner);
    }
    if (it->owner_queue[0]) {
        LIT(b, " in ");
        nb_web_html(b, it->owner_queue);
    }
    LIT(b, "</td></tr>\n");
}

/* The open notifications of the session's queues, read under the view's lock. */
static bool nb__items(const nb_web_session_t *s, nb_web_view_t view, int64_t now_ms,
                      nb_inbox_item_t **items, size_t *n, size_t *total)
{
    const char *queues[NB_WEB_MAX_QUEUES];
    nb__web_queues(s, queues);
    *items = NULL;
    *n = *total = 0;
    if (!view.view)
        return true;
    if (!(*items = calloc(NB__WEB_PAGE_ITEMS, sizeof(**items))))
        return false;
    /* Her queues' and what she owns (given to her in person, in none of them). */
    nb_inbox_query_t q = {queues, s->user.n_queues, false, now_ms, 0, NB__WEB_PAGE_ITEMS,
                          s->user.id};
    nb__web_view_lock(view);
    *total = nb_inbox_list(view.view, &q, *items);
    nb__web_view_unlock(view);
    if (*total == (size_t)-1) {
        free(*items);
        *items = NULL;
        return false;
    }
    *n = *total < NB__WEB_PAGE_ITEMS ? *total : NB__WEB_PAGE_ITEMS;
    return true;
}

bool nb__page_inbox(nb_buf_t *b, const nb_web_session_t *s, nb_web_view_t view, int64_t now_ms,
                    nb_notify_zone_t zone, const char *find_error)
{
    nb_inbox_item_t *items;
    size_t n, total;
    char count[96];
    if (!nb__items(s, view, now_ms, &items, &n, &total))
        return false;
    nb__page_begin(b, "Inbox");
    LIT(b, "<h1>Safeguarding inbox</h1>\n<p>Signed in as <strong>");
    nb_web_html(b, s->user.name[0] ? s->user.name : s->user.id);
    LIT(b, "</strong>.</p>\n");
    nb__signout_form(b, s);
    LIT(b, "<h2>Your queues</h2>\n");
    if (s->user.n_queues == 0)
        LIT(b, "<p>You are in no queue yet: ask the inbox's administrator to add you to "
               "one.</p>\n");
    else {
        LIT(b, "<ul>\n");
        for (size_t i = 0; i < s->user.n_queues; i++) {
            LIT(b, "<li>");
            nb_web_html(b, s->user.queues[i]);
            LIT(b, "</li>\n");
        }
        LIT(b, "</ul>\n");
    }
    LIT(b, "<h2>Find a notification</h2>\n<form method=\"get\" action=\"/find\">\n<p><label "
           "for=\"ref\">Its reference (WNB-XXXX-XXXX)</label><br>\n<input id=\"ref\" name=\"ref\" "
           "type=\"text\" maxlength=\"20\" autocapitalize=\"characters\" spellcheck=\"false\"");
    if (find_error)
        LIT(b, " aria-describedby=\"find-error\"");
    LIT(b, "> <button type=\"submit\">Find</button></p>\n</form>\n");
    if (find_error) {
        LIT(b, "<p role=\"alert\" id=\"find-error\"><strong>");
        nb_web_html(b, find_error);
        LIT(b, "</strong></p>\n");
    }
    snprintf(count, sizeof(count), "<h2>Open notifications (%zu)</h2>\n", total);
    nb__str(b, count);
    if (n == 0) {
        LIT(b, "<p>No open notifications in your queues.</p>\n");
    } else {
        if (n < total) {
            snprintf(count, sizeof(count), "<p>The %zu most urgent are shown.</p>\n", n);
            nb__str(b, count);
        }
        LIT(b, "<table>\n<caption>Most urgent first, then the most overdue</caption>\n<thead><tr>"
               "<th scope=\"col\">Reference</th><th scope=\"col\">Tier</th>"
               "<th scope=\"col\">Rule</th><th scope=\"col\">Respond by</th>"
               "<th scope=\"col\">State</th></tr></thead>\n<tbody>\n");
        for (size_t i = 0; i < n; i++)
            nb__item_row(b, &items[i], zone, now_ms);
        LIT(b, "</tbody>\n</table>\n");
    }
    nb__page_end(b);
    free(items);
    return b->err == NB_ERR_OK;
}
