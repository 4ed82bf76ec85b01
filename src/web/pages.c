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

const char nb__web_mine[] = "yours";

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

/* A route as a URL's query value: what is not unreserved (or ':') is percent-encoded. */
static void nb__query_value(nb_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~:", *p)) {
            nb_buf_add(b, p, 1);
        } else {
            char pct[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            nb_buf_add(b, pct, 3);
        }
    }
}

/* The inbox's address for a selection and page ("/", "/?queue=...&amp;page=2"), as an href. */
static void nb__list_href(nb_buf_t *b, const char *queue, size_t page)
{
    char num[32];
    LIT(b, "/");
    if (queue) {
        LIT(b, "?queue=");
        nb__query_value(b, queue);
    }
    if (page > 1) {
        snprintf(num, sizeof(num), "%spage=%zu", queue ? "&amp;" : "?", page);
        nb__str(b, num);
    }
}

/* What a page of the list shows, read under the view's lock: the items of the selection
 * (@p list), and the counts of each of the user's queues and of hers. */
typedef struct nb__list_s {
    nb_inbox_item_t *items;
    size_t n, total, page, pages;
    nb_inbox_count_t counts[NB_WEB_MAX_QUEUES];
    nb_inbox_count_t mine;
} nb__list_t;

static bool nb__items(const nb_web_session_t *s, nb_web_view_t view, const nb__web_list_t *sel,
                      int64_t now_ms, nb__list_t *l)
{
    const char *queues[NB_WEB_MAX_QUEUES];
    size_t nq = nb__web_queues(s, queues);
    memset(l, 0, sizeof(*l));
    l->page = l->pages = 1;
    if (!view.view)
        return true;
    if (!(l->items = calloc(NB__WEB_PAGE_ITEMS, sizeof(*l->items))))
        return false;
    /* All: her queues and what she owns; one queue: that one; hers: what she owns. */
    nb_inbox_query_t all = {queues, nq, false, now_ms, 0, 0, s->user.id};
    nb_inbox_query_t q = all;
    const char *one[1] = {sel->queue};
    if (sel->queue == NB__WEB_MINE)
        q.n_queues = 0;
    else if (sel->queue)
        q = (nb_inbox_query_t){one, 1, false, now_ms, 0, 0, NULL};
    q.offset = (sel->page > 1 ? sel->page - 1 : 0) * NB__WEB_PAGE_ITEMS;
    q.limit = NB__WEB_PAGE_ITEMS;
    nb__web_view_lock(view);
    bool ok = nb_inbox_count(view.view, &all, l->counts, &l->mine);
    l->total = ok ? nb_inbox_list(view.view, &q, l->items) : (size_t)-1;
    if (l->total != (size_t)-1 && l->total && q.offset >= l->total) {
        /* Past the end (the list became shorter, or a made-up page): the last page. */
        q.offset = (l->total - 1) / NB__WEB_PAGE_ITEMS * NB__WEB_PAGE_ITEMS;
        l->total = nb_inbox_list(view.view, &q, l->items);
    }
    nb__web_view_unlock(view);
    if (l->total == (size_t)-1) {
        free(l->items);
        l->items = NULL;
        return false;
    }
    l->page = q.offset / NB__WEB_PAGE_ITEMS + 1;
    l->pages = l->total ? (l->total + NB__WEB_PAGE_ITEMS - 1) / NB__WEB_PAGE_ITEMS : 1;
    l->n = l->total > q.offset ? l->total - q.offset : 0;
    if (l->n > NB__WEB_PAGE_ITEMS)
        l->n = NB__WEB_PAGE_ITEMS;
    return true;
}

static void nb__count_cells(nb_buf_t *b, nb_inbox_count_t c)
{
    char cells[96];
    snprintf(cells, sizeof(cells), "</th><td>%zu</td><td>%zu</td></tr>\n", c.open, c.overdue);
    nb__str(b, cells);
}

/* Each of her queues with its counts, each a link to that queue's list alone; then what she
 * owns. The link of the list shown says so (aria-current). */
static void nb__queues_table(nb_buf_t *b, const nb_web_session_t *s, const nb__web_list_t *sel,
                             const nb__list_t *l)
{
    LIT(b, "<table id=\"queues\">\n<caption>Open notifications in each of your queues</caption>\n"
           "<thead><tr><th scope=\"col\">Queue</th><th scope=\"col\">Open</th>"
           "<th scope=\"col\">Overdue</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < s->user.n_queues; i++) {
        LIT(b, "<tr><th scope=\"row\"><a href=\"");
        nb__list_href(b, s->user.queues[i], 1);
        LIT(b, "\"");
        if (sel->queue && sel->queue != NB__WEB_MINE && strcmp(sel->queue, s->user.queues[i]) == 0)
            LIT(b, " aria-current=\"page\"");
        LIT(b, ">");
        nb_web_html(b, s->user.queues[i]);
        LIT(b, "</a>");
        nb__count_cells(b, l->counts[i]);
    }
    LIT(b, "<tr><th scope=\"row\"><a href=\"");
    nb__list_href(b, NB__WEB_MINE, 1);
    LIT(b, "\"");
    if (sel->queue == NB__WEB_MINE)
        LIT(b, " aria-current=\"page\"");
    LIT(b, ">Taken by you or given to you</a>");
    nb__count_cells(b, l->mine);
    LIT(b, "</tbody>\n</table>\n");
    if (sel->queue)
        LIT(b, "<p><a href=\"/\">All your queues</a></p>\n");
}

/* Links to the pages before and after this one, each saying which notifications it has. */
static void nb__pager(nb_buf_t *b, const nb__web_list_t *sel, const nb__list_t *l)
{
    char words[96];
    if (l->pages < 2)
        return;
    LIT(b, "<nav aria-label=\"Pages of the list\">\n<ul>\n");
    if (l->page > 1) {
        size_t first = (l->page - 2) * NB__WEB_PAGE_ITEMS + 1;
        LIT(b, "<li><a rel=\"prev\" href=\"");
        nb__list_href(b, sel->queue, l->page - 1);
        snprintf(words, sizeof(words), "\">Previous page: notifications %zu to %zu</a></li>\n",
                 first, first + NB__WEB_PAGE_ITEMS - 1);
        nb__str(b, words);
    }
    if (l->page < l->pages) {
        size_t first = l->page * NB__WEB_PAGE_ITEMS + 1, last = first + NB__WEB_PAGE_ITEMS - 1;
        LIT(b, "<li><a rel=\"next\" href=\"");
        nb__list_href(b, sel->queue, l->page + 1);
        snprintf(words, sizeof(words), "\">Next page: notifications %zu to %zu</a></li>\n", first,
                 last < l->total ? last : l->total);
        nb__str(b, words);
    }
    LIT(b, "</ul>\n</nav>\n");
}

bool nb__page_inbox(nb_buf_t *b, const nb_web_session_t *s, nb_web_view_t view,
                    const nb__web_list_t *sel, int64_t now_ms, nb_notify_zone_t zone,
                    const char *find_error)
{
    nb__list_t l;
    char count[160];
    if (!nb__items(s, view, sel, now_ms, &l))
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
    nb__queues_table(b, s, sel, &l);
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
    LIT(b, "<h2>Open notifications");
    if (sel->queue == NB__WEB_MINE) {
        LIT(b, " taken by you or given to you");
    } else if (sel->queue) {
        LIT(b, " in ");
        nb_web_html(b, sel->queue);
    }
    snprintf(count, sizeof(count), " (%zu)</h2>\n", l.total);
    nb__str(b, count);
    if (sel->notice) {
        LIT(b, "<p role=\"alert\" id=\"list-notice\"><strong>");
        nb_web_html(b, sel->notice);
        LIT(b, "</strong></p>\n");
    }
    if (l.n == 0) {
        LIT(b, "<p>No open notifications here.</p>\n");
    } else {
        size_t first = (l.page - 1) * NB__WEB_PAGE_ITEMS + 1;
        LIT(b, "<table id=\"notifications\">\n<caption>Most urgent first, then the most overdue");
        if (l.pages > 1) {
            snprintf(count, sizeof(count), ": notifications %zu to %zu of %zu (page %zu of %zu)",
                     first, first + l.n - 1, l.total, l.page, l.pages);
            nb__str(b, count);
        }
        LIT(b, "</caption>\n<thead><tr><th scope=\"col\">Reference</th>"
               "<th scope=\"col\">Tier</th><th scope=\"col\">Rule</th>"
               "<th scope=\"col\">Respond by</th><th scope=\"col\">State</th></tr></thead>\n"
               "<tbody>\n");
        for (size_t i = 0; i < l.n; i++)
            nb__item_row(b, &l.items[i], zone, now_ms);
        LIT(b, "</tbody>\n</table>\n");
        nb__pager(b, sel, &l);
    }
    nb__page_end(b);
    free(l.items);
    return b->err == NB_ERR_OK;
}
