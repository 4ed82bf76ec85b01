/*
 * notbrought - web: a notification's page (docs/inbox.md §6). What a nurse needs to act, in
 * the order she reads it: where it stands and by when; the child; why; the evidence with each
 * source system's appointment id to quote to the service that holds it; context; what to do;
 * who else was told; what happens next (the escalation ladder rung by rung); the child's other
 * notifications. Everything that did not come from this file is escaped with nb_web_html().
 */
#include "web/internal.h"

#include <stdio.h>
#include <string.h>

#define LIT(b, s) nb_buf_add((b), (s), sizeof(s) - 1)

static void nb__str(nb_buf_t *b, const char *s)
{
    nb_buf_add(b, s, strlen(s));
}

static void nb__esc(nb_buf_t *b, const char *s)
{
    nb_web_html(b, s);
}

bool nb__web_notification_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > NB_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return false;
    }
    return true;
}

/* "943 476 5919". */
static void nb__nhs(nb_buf_t *b, const char *nhs)
{
    char buf[16];
    if (strlen(nhs) == NB_NHS_LEN && strspn(nhs, "0123456789") == NB_NHS_LEN) {
        snprintf(buf, sizeof(buf), "%.3s %.3s %.4s", nhs, nhs + 3, nhs + 6);
        nb__str(b, buf);
    } else {
        nb__esc(b, nhs);
    }
}

/* Where it stands: tier, escalation, state and owner, respond-by and the time left. */
static void nb__standing(nb_buf_t *b, const nb_inbox_item_t *it, int64_t now_ms,
                         nb_notify_zone_t zone)
{
    char t[64], line[96];
    LIT(b, "<dl>\n<dt>Tier</dt><dd>");
    nb__esc(b, nb_tier_name(it->tier));
    if (it->level > 0) {
        snprintf(line, sizeof(line), ", escalated (level %d)", (int)it->level);
        nb__str(b, line);
    }
    LIT(b, "</dd>\n<dt>State</dt><dd>");
    nb__esc(b, nb_inbox_state_name(it->state));
    if (it->owner[0]) {
        LIT(b, ", taken by ");
        nb__esc(b, it->owner);
    }
    if (it->owner_queue[0]) {
        LIT(b, ", with ");
        nb__esc(b, it->owner_queue);
    }
    LIT(b, "</dd>\n<dt>Respond by</dt><dd>");
    if (it->respond_by == NB_TIME_NONE) {
        LIT(b, "no time set");
    } else {
        nb__esc(b, nb_notify_format_time(it->respond_by, zone, true, t, sizeof(t)));
        bool open = it->state == NB_INBOX_OPEN || it->state == NB_INBOX_OWNED;
        int64_t left = it->respond_by - now_ms, hours = (left < 0 ? -left : left) / 3600000;
        if (open && left < 0)
            snprintf(line, sizeof(line), " <strong>(overdue by %lld hour%s)</strong>",
                     (long long)hours, hours == 1 ? "" : "s");
        else if (open)
            snprintf(line, sizeof(line), " (%lld hour%s left)", (long long)hours,
                     hours == 1 ? "" : "s");
        else
            line[0] = '\0';
        nb__str(b, line);
    }
    LIT(b, "</dd>\n</dl>\n");
}

static void nb__child(nb_buf_t *b, const nb_notification_t *n)
{
    char d[32], age[32];
    LIT(b, "<h2>The child</h2>\n<p>");
    if (n->nhs_number[0]) {
        LIT(b, "NHS number ");
        nb__nhs(b, n->nhs_number);
        if (n->date_of_birth != NB_DATE_NONE) {
            LIT(b, ", born ");
            nb__esc(b, nb_notify_format_date(n->date_of_birth, d, sizeof(d)));
            LIT(b, " (");
            nb__esc(b, nb_notify_age_text(n->date_of_birth, nb_day_of(n->created_at), age,
                                          sizeof(age)));
            LIT(b, " when this was raised)");
        } else {
            LIT(b, ", date of birth not known");
        }
    } else if (n->pregnant_person_nhs[0]) {
        LIT(b, "An unborn child: the pregnant person's NHS number ");
        nb__nhs(b, n->pregnant_person_nhs);
        LIT(b, ", due ");
        nb__esc(b, nb_notify_format_date(n->expected_delivery_date, d, sizeof(d)));
    } else {
        LIT(b, "Not yet identified by an NHS number.");
    }
    LIT(b, "</p>\n");
}

static void nb__evidence(nb_buf_t *b, const nb_notification_t *n, nb_notify_zone_t zone)
{
    char t[64], w[NB_TYPE_MAX + 1];
    LIT(b, "<h2>Evidence</h2>\n<table>\n<caption>The appointments the rule counted</caption>\n"
           "<thead><tr><th scope=\"col\">When</th><th scope=\"col\">Service</th>"
           "<th scope=\"col\">Appointment</th><th scope=\"col\">Outcome</th>"
           "<th scope=\"col\">Appointment id at the service</th><th scope=\"col\">Recorded</th>"
           "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n->n_evidence; i++) {
        const nb_evidence_t *e = &n->evidence[i];
        LIT(b, "<tr><td>");
        nb__esc(b, nb_notify_format_time(e->scheduled_start, zone, false, t, sizeof(t)));
        LIT(b, "</td><td>");
        nb__esc(b, nb_notify_agency_words(e->agency));
        if (e->organisation_code[0]) {
            LIT(b, " (");
            nb__esc(b, e->organisation_code);
            LIT(b, ")");
        }
        LIT(b, "</td><td>");
        nb__esc(b, nb_notify_words(e->appointment_type, w, sizeof(w)));
        LIT(b, "</td><td>");
        nb__esc(b, nb_notify_status_words(e->status));
        LIT(b, "</td><td>");
        if (strncmp(e->appointment_id, "sha256:", 7) == 0)
            LIT(b, "not kept by the source");
        else
            nb__esc(b, e->appointment_id);
        LIT(b, "</td><td>");
        nb__esc(b, nb_notify_format_time(e->recorded_at, zone, false, t, sizeof(t)));
        LIT(b, "</td></tr>\n");
    }
    LIT(b, "</tbody>\n</table>\n");
}

/* Why, the counts, the context, the action and who was told. */
static void nb__record(nb_buf_t *b, const nb_notification_t *n, nb_notify_zone_t zone)
{
    char d[32];
    nb__child(b, n);
    LIT(b, "<h2>Why</h2>\n<p>");
    nb__esc(b, n->rule_text);
    LIT(b, "</p>\n");
    for (size_t i = 0; i < n->n_counts; i++)
        if (n->counts[i].counted[0]) {
            LIT(b, "<p>Counted: ");
            nb__esc(b, n->counts[i].counted);
            LIT(b, "</p>\n");
        }
    nb__evidence(b, n, zone);
    if (n->n_context) {
        LIT(b, "<h2>Context</h2>\n<ul>\n");
        for (size_t i = 0; i < n->n_context; i++) {
            LIT(b, "<li>");
            nb__esc(b, nb_notify_fact_words(n->context[i].kind));
            LIT(b, " since ");
            nb__esc(b, nb_notify_format_date(n->context[i].start_date, d, sizeof(d)));
            LIT(b, " (");
            nb__esc(b, n->context[i].source);
            LIT(b, ")</li>\n");
        }
        LIT(b, "</ul>\n");
    }
    LIT(b, "<h2>What to do</h2>\n<p>");
    nb__esc(b, n->action);
    LIT(b, "</p>\n<h2>Who was told</h2>\n<ul>\n");
    for (size_t i = 0; i < n->n_recipients; i++) {
        const nb_recipient_t *r = &n->recipients[i];
        LIT(b, "<li>");
        nb__esc(b, r->title[0] ? r->title : r->role);
        LIT(b, " (");
        nb__esc(b, r->route);
        LIT(b, ")</li>\n");
    }
    LIT(b, "</ul>\n");
}

/* "3 hours", "2 days". */
static void nb__span(nb_buf_t *b, int64_t ms)
{
    char line[48];
    long long h = (long long)((ms < 0 ? -ms : ms) / 3600000);
    if (h >= 48)
        snprintf(line, sizeof(line), "%lld days", h / 24);
    else
        snprintf(line, sizeof(line), "%lld hour%s", h, h == 1 ? "" : "s");
    nb__str(b, line);
}

/* Whether role @p k of rung @p i was told before that rung: the policy says so (its rule's
 * recipients, an earlier rung's), or the record does (the "new" record's recipients, those a
 * modifier added among them; an escalation's, before the rungs after it), or, for a rung not
 * reached yet, the view does (every route told so far). */
static bool nb__told_before(const nb_web_detail_t *d, size_t i, size_t k)
{
    const nb_web_rung_t *g = &d->ladder.rungs[i];
    const nb_recipient_t *role = &g->roles[k];
    if (g->again[k])
        return true;
    const nb_notification_t *n = &d->record;
    bool before =
        d->have_record && (n->kind == NB_NOTIFICATION_NEW ||
                           (n->kind == NB_NOTIFICATION_ESCALATED && n->escalation_level >= 0 &&
                            i >= (size_t)n->escalation_level));
    for (size_t j = 0; before && j < n->n_recipients; j++)
        if (strcmp(n->recipients[j].role, role->role) == 0)
            return true;
    for (size_t j = 0; (int64_t)i >= d->item.level && role->route[0] && j < d->item.n_queues; j++)
        if (strcmp(d->item.queues[j], role->route) == 0)
            return true;
    return false;
}

/* A rung's roles: "Named nurse for safeguarding children (again); ...". */
static void nb__rung_roles(nb_buf_t *b, const nb_web_detail_t *d, size_t i)
{
    const nb_web_rung_t *g = &d->ladder.rungs[i];
    for (size_t k = 0; k < g->n_roles; k++) {
        if (k)
            LIT(b, "; ");
        nb__esc(b, g->roles[k].title[0] ? g->roles[k].title : g->roles[k].role);
        if (nb__told_before(d, i, k))
            LIT(b, " (again)");
    }
    if (g->n_roles == 0)
        LIT(b, "nobody the policy names");
}

/* The tier that moved the notification to its tier's ladder: "followed because modifiers
 * raised it from priority to urgent". */
static void nb__of_tier(nb_buf_t *b, const nb_web_ladder_t *l)
{
    LIT(b, "followed because modifiers raised it from ");
    nb__esc(b, nb_tier_name(l->rule_tier));
    LIT(b, " to ");
    nb__esc(b, nb_tier_name(l->tier));
    LIT(b, " (the ");
    nb__esc(b, nb_tier_name(l->tier));
    LIT(b, " tier's ladder, not its rule's)");
}

/* When the history says rung @p i was reached (NB_TIME_NONE: it does not). */
static int64_t nb__escalated_at(const nb_web_detail_t *d, size_t i)
{
    size_t n = d->n_steps < NB__WEB_DETAIL_STEPS ? d->n_steps : NB__WEB_DETAIL_STEPS;
    for (size_t k = 0; k < n; k++)
        if (strcmp(d->steps[k].what, "escalated") == 0 && d->steps[k].level == (int32_t)i + 1)
            return d->steps[k].at;
    return NB_TIME_NONE;
}

/* Where a rung stands. */
typedef enum nb__rung_state_e {
    NB__RUNG_DONE,  /* reached: its roles were told */
    NB__RUNG_NEXT,  /* the next one, if nobody acts */
    NB__RUNG_LATER, /* after the next */
    NB__RUNG_NEVER, /* will not happen: closed, withdrawn, or taken under a ladder that stops */
} nb__rung_state_t;

static nb__rung_state_t nb__rung_state(const nb_web_detail_t *d, size_t i, bool stopped)
{
    const nb_inbox_item_t *it = &d->item;
    if ((int64_t)i < it->level)
        return NB__RUNG_DONE;
    if (stopped)
        return NB__RUNG_NEVER;
    return (int64_t)i == it->level ? NB__RUNG_NEXT : NB__RUNG_LATER;
}

/* Why the rungs not reached will not happen ("" when they may). */
static const char *nb__stopped(const nb_web_detail_t *d)
{
    const nb_inbox_item_t *it = &d->item;
    if (it->state == NB_INBOX_CLOSED)
        return "it is closed";
    if (it->state == NB_INBOX_WITHDRAWN)
        return "it was withdrawn";
    if (it->state == NB_INBOX_OWNED && it->owner[0] && d->ladder.stops_on_take)
        return "it is taken, and taking it stops this ladder";
    return "";
}

/* The ladder, rung by rung: when (due, moved by a reassignment that restarted the respond-by),
 * who is told, the tier, and where each rung stands. */
static void nb__ladder_table(nb_buf_t *b, const nb_web_detail_t *d, int64_t shift, int64_t now_ms,
                             nb_notify_zone_t zone)
{
    char t[64], line[64];
    const nb_web_ladder_t *l = &d->ladder;
    const char *why = nb__stopped(d);
    LIT(b, "<table id=\"ladder\">\n<caption>Escalation ladder: ");
    if (l->title[0])
        nb__esc(b, l->title);
    else if (l->id[0])
        nb__esc(b, l->id);
    else
        LIT(b, "the rule's own rungs");
    if (l->of_tier) {
        LIT(b, "; ");
        nb__of_tier(b, l);
    }
    LIT(b, "</caption>\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">When</th>"
           "<th scope=\"col\">Who is told</th><th scope=\"col\">Tier</th>"
           "<th scope=\"col\">Status</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < l->n_rungs && i < NB_WEB_LADDER_RUNGS; i++) {
        const nb_web_rung_t *g = &l->rungs[i];
        nb__rung_state_t st = nb__rung_state(d, i, why[0] != '\0');
        int64_t at = st == NB__RUNG_DONE ? nb__escalated_at(d, i) : NB_TIME_NONE;
        if (at == NB_TIME_NONE)
            at = g->due + (st == NB__RUNG_DONE ? 0 : shift);
        snprintf(line, sizeof(line), "<tr><th scope=\"row\">%zu</th><td>", i + 1);
        nb__str(b, line);
        nb__esc(b, nb_notify_format_time(at, zone, false, t, sizeof(t)));
        if (g->early)
            LIT(b, " (an early alert)");
        LIT(b, "</td><td>");
        nb__rung_roles(b, d, i);
        LIT(b, "</td><td>");
        nb__esc(b, nb_tier_name(g->tier));
        LIT(b, "</td><td>");
        switch (st) {
        case NB__RUNG_DONE:
            LIT(b, "done: told");
            break;
        case NB__RUNG_NEXT:
            if (at > now_ms) {
                LIT(b, "next: in ");
                nb__span(b, at - now_ms);
            } else {
                LIT(b, "<strong>next: due ");
                nb__span(b, now_ms - at);
                LIT(b, " ago</strong>");
            }
            break;
        case NB__RUNG_LATER:
            LIT(b, "later");
            break;
        case NB__RUNG_NEVER:
            LIT(b, "will not happen: ");
            nb__str(b, why);
            break;
        }
        LIT(b, "</td></tr>\n");
    }
    LIT(b, "</tbody>\n</table>\n");
}

/* What happens next: a sentence on the next rung (or why there is none), the policy version
 * when the record's is not the inbox's, and the ladder rung by rung (docs/inbox.md §6). */
static void nb__next(nb_buf_t *b, const nb_web_detail_t *d, int64_t now_ms, nb_notify_zone_t zone)
{
    char t[64];
    const nb_inbox_item_t *it = &d->item;
    const nb_web_ladder_t *l = &d->ladder;
    bool known = d->ladder_known == NB__WEB_LADDER_KNOWN;
    bool open = it->state == NB_INBOX_OPEN || it->state == NB_INBOX_OWNED;
    /* A reassignment that restarted the respond-by moves every rung by as much. */
    int64_t shift =
        open && it->restarted_respond_by != NB_TIME_NONE && it->raised_respond_by != NB_TIME_NONE
            ? it->restarted_respond_by - it->raised_respond_by
            : 0;
    LIT(b, "<h2>What happens next</h2>\n<p>");
    if (it->state == NB_INBOX_CLOSED) {
        LIT(b, "Nothing: it is closed.");
    } else if (it->state == NB_INBOX_WITHDRAWN) {
        LIT(b, "Nothing: it was withdrawn because its evidence no longer holds (an outcome "
               "was corrected).");
    } else if (!known) {
        if (d->ladder_known == NB__WEB_LADDER_NO_RULE) {
            LIT(b, "Its escalation ladder cannot be shown: the policy the inbox loaded (");
            nb__esc(b, l->policy_name);
            LIT(b, " ");
            nb__esc(b, l->policy_version);
            LIT(b, ") has no rule ");
            nb__esc(b, it->rule_id);
            LIT(b, ". ");
        } else if (d->ladder_known == NB__WEB_LADDER_NO_RAISED) {
            LIT(b, "Its escalation ladder cannot be shown: the inbox no longer holds the record "
                   "it was raised with. ");
        } else {
            LIT(b, "Its escalation ladder cannot be shown: the inbox has no policy loaded. ");
        }
        if (it->respond_by != NB_TIME_NONE) {
            LIT(b, "If it is not acted on by ");
            nb__esc(b, nb_notify_format_time(it->respond_by, zone, true, t, sizeof(t)));
            LIT(b, ", it escalates to the next step of its policy's ladder, if there is one.");
        }
    } else if (l->n_rungs == 0) {
        LIT(b, "Its rule has no escalation ladder: there is no further step, and it stays open "
               "until someone closes it.");
    } else if (it->level >= (int32_t)l->n_rungs) {
        LIT(b, "Its escalation ladder has no further step: it stays open until someone closes "
               "it.");
    } else if (nb__stopped(d)[0]) {
        LIT(b, "It does not escalate while ");
        nb__esc(b, it->owner);
        LIT(b, " has it: this ladder stops when someone takes a notification. It stays open "
               "until it is closed.");
    } else {
        size_t i = (size_t)it->level;
        int64_t at = l->rungs[i].due + shift;
        if (at > now_ms) {
            LIT(b, "If nobody ");
            if (l->stops_on_take)
                LIT(b, "takes or ");
            LIT(b, "closes it by ");
            nb__esc(b, nb_notify_format_time(at, zone, true, t, sizeof(t)));
            LIT(b, ", it escalates: ");
        } else {
            LIT(b, "It was due to escalate at ");
            nb__esc(b, nb_notify_format_time(at, zone, true, t, sizeof(t)));
            LIT(b, ": ");
        }
        nb__rung_roles(b, d, i);
        LIT(b, " will be told.");
    }
    LIT(b, "</p>\n");
    if (!known)
        return;
    if (d->have_record && d->record.policy_hash[0] && l->policy_hash[0] &&
        strcmp(d->record.policy_hash, l->policy_hash) != 0) {
        LIT(b, "<p>This notification was ");
        if (d->record.kind == NB_NOTIFICATION_NEW)
            LIT(b, "raised");
        else
            LIT(b, "last sent");
        LIT(b, " under another version of the policy (");
        nb__esc(b, d->record.policy_name);
        LIT(b, " ");
        nb__esc(b, d->record.policy_version);
        LIT(b, ") than the one the inbox has loaded (");
        nb__esc(b, l->policy_name);
        LIT(b, " ");
        nb__esc(b, l->policy_version);
        LIT(b, "): the ladder shown is the loaded policy's.</p>\n");
    }
    if (l->n_rungs == 0)
        return;
    nb__ladder_table(b, d, shift, now_ms, zone);
    if (open) {
        if (l->stops_on_take)
            LIT(b, "<p>Taking it stops this ladder; so does closing it.</p>\n");
        else
            LIT(b, "<p>Only closing it stops this ladder: it still escalates when someone has "
                   "taken it.</p>\n");
        if (shift)
            LIT(b, "<p>A reassignment restarted its respond-by: the steps still to come moved "
                   "with it.</p>\n");
    }
}

/* What has happened to it, in order: raised, escalations, what people did, withdrawn. */
static void nb__history(nb_buf_t *b, const nb_web_detail_t *d, nb_notify_zone_t zone)
{
    char t[64], line[96];
    size_t n = d->n_steps < NB__WEB_DETAIL_STEPS ? d->n_steps : NB__WEB_DETAIL_STEPS;
    LIT(b, "<h2>What has happened</h2>\n<ol>\n");
    for (size_t i = 0; i < n; i++) {
        const nb_inbox_step_t *st = &d->steps[i];
        LIT(b, "<li>");
        if (st->at != NB_TIME_NONE) {
            nb__esc(b, nb_notify_format_time(st->at, zone, false, t, sizeof(t)));
            LIT(b, ": ");
        }
        if (strcmp(st->what, "raised") == 0) {
            LIT(b, "raised");
        } else if (strcmp(st->what, "escalated") == 0) {
            snprintf(line, sizeof(line), "escalated to level %d: not acted on in time",
                     (int)st->level);
            nb__str(b, line);
        } else if (strcmp(st->what, "withdrawn") == 0) {
            LIT(b, "withdrawn: its evidence no longer holds");
        } else {
            nb__esc(b, st->actor[0] ? st->actor : "someone");
            if (strcmp(st->what, "taken") == 0) {
                LIT(b, " took it");
            } else if (strcmp(st->what, "reassigned") == 0) {
                LIT(b, " reassigned it to ");
                nb__esc(b, st->target[0] ? st->target : "another queue");
            } else if (strcmp(st->what, "closed") == 0 || strcmp(st->what, "acknowledged") == 0) {
                LIT(b, " closed it");
                if (st->close_action[0]) {
                    nb_ack_action_t a;
                    for (size_t k = 0; k < nb__web_close_actions(); k++) {
                        const char *words = nb__web_close_action(k, &a);
                        if (strcmp(nb_ack_action_name(a), st->close_action) == 0) {
                            LIT(b, ": ");
                            nb__esc(b, words);
                        }
                    }
                }
            } else {
                LIT(b, " tried to act on it, refused: ");
                nb__esc(b, strcmp(st->refused, "owned_by") == 0 ? "someone else had it"
                           : st->refused[0]                     ? st->refused
                                                                : "not applied");
            }
        }
        LIT(b, "</li>\n");
    }
    LIT(b, "</ol>\n");
    if (d->n_steps > n) {
        snprintf(line, sizeof(line), "<p>And %zu later steps.</p>\n", d->n_steps - n);
        nb__str(b, line);
    }
}

/* The child's notifications the user may see (her queues hold them, or she owns them), and
 * how many others there are. */
static void nb__others(nb_buf_t *b, const nb_web_detail_t *d, const char *user_id,
                       const char *const *queues, size_t n_queues, nb_notify_zone_t zone)
{
    char t[64], line[128];
    size_t shown = 0, hidden = 0,
           listed = d->n_others < NB__WEB_DETAIL_OTHERS ? d->n_others : NB__WEB_DETAIL_OTHERS;
    LIT(b, "<h2>The child's other notifications</h2>\n");
    for (size_t i = 0; i < listed; i++) {
        const nb_inbox_item_t *o = &d->others[i];
        if (strcmp(o->notification_id, d->item.notification_id) == 0)
            continue;
        if (!nb_inbox_visible_to(o, user_id, queues, n_queues)) {
            hidden++;
            continue;
        }
        if (shown++ == 0)
            LIT(b, "<ul>\n");
        LIT(b, "<li><a href=\"/n/");
        nb__esc(b, o->notification_id);
        LIT(b, "\">");
        nb__esc(b, o->reference[0] ? o->reference : o->notification_id);
        LIT(b, "</a>: ");
        nb__esc(b, o->rule_id);
        LIT(b, ", ");
        nb__esc(b, nb_inbox_state_name(o->state));
        LIT(b, ", raised ");
        nb__esc(b, nb_notify_format_time(o->created_at, zone, false, t, sizeof(t)));
        LIT(b, "</li>\n");
    }
    hidden += d->n_others > listed ? d->n_others - listed : 0;
    if (shown)
        LIT(b, "</ul>\n");
    else
        LIT(b, "<p>None in your queues.</p>\n");
    if (hidden) {
        snprintf(line, sizeof(line),
                 "<p>%zu more in other teams' queues: ask them, or the safeguarding team.</p>\n",
                 hidden);
        nb__str(b, line);
    }
}

/* The hidden fields every action form carries: the session's CSRF token and the form's own
 * token (its action's id: the same form sent twice is one action). */
static void nb__form_head(nb_buf_t *b, const nb_web_session_t *s, const char *id, const char *verb)
{
    char form_id[NB_WEB_TOKEN_HEX + 1];
    nb_web_token_new(form_id);
    LIT(b, "<form method=\"post\" action=\"/n/");
    nb__esc(b, id);
    LIT(b, "/");
    nb__str(b, verb);
    LIT(b, "\">\n<input type=\"hidden\" name=\"csrf\" value=\"");
    nb__esc(b, s->csrf);
    LIT(b, "\">\n<input type=\"hidden\" name=\"form_id\" value=\"");
    nb__str(b, form_id);
    LIT(b, "\">\n");
}

/* The queues a notification may be reassigned to: every queue of the users file and its own. */
static void nb__queue_options(nb_buf_t *b, const nb_web_detail_t *d)
{
    const char *seen[256];
    size_t n = 0;
    for (size_t k = 0; k < d->item.n_queues && n < 256; k++)
        seen[n++] = d->item.queues[k];
    for (size_t u = 0; u < nb_web_users_count(d->users); u++) {
        const nb_web_user_t *user = nb_web_users_at(d->users, u);
        for (size_t k = 0; k < user->n_queues && n < 256; k++) {
            bool have = false;
            for (size_t j = 0; j < n && !have; j++)
                have = strcmp(seen[j], user->queues[k]) == 0;
            if (!have)
                seen[n++] = user->queues[k];
        }
    }
    LIT(b, "<option value=\"\">(not to a queue)</option>\n");
    for (size_t i = 0; i < n; i++) {
        LIT(b, "<option value=\"");
        nb__esc(b, seen[i]);
        LIT(b, "\">");
        nb__esc(b, seen[i]);
        LIT(b, "</option>\n");
    }
}

/* Take, reassign, close: what the user can do while it is open or owned. */
static void nb__forms(nb_buf_t *b, const nb_web_session_t *s, const nb_web_detail_t *d)
{
    const nb_inbox_item_t *it = &d->item;
    const char *id = it->notification_id;
    LIT(b, "<h2>Act on it</h2>\n");
    if (d->error) {
        LIT(b, "<p role=\"alert\" id=\"action-error\"><strong>");
        nb__esc(b, d->error);
        LIT(b, "</strong></p>\n");
    }
    if (strcmp(it->owner, s->user.id) != 0) {
        nb__form_head(b, s, id, "take");
        LIT(b, "<p><button type=\"submit\">Take it: I will follow this up</button></p>\n"
               "</form>\n");
    }
    nb__form_head(b, s, id, "reassign");
    LIT(b, "<fieldset>\n<legend>Reassign it</legend>\n<p><label for=\"to_queue\">To a queue"
           "</label><br>\n<select id=\"to_queue\" name=\"to_queue\">\n");
    nb__queue_options(b, d);
    LIT(b, "</select></p>\n<p><label for=\"to_user\">Or to a person (their user id)</label><br>"
           "\n<input id=\"to_user\" name=\"to_user\" type=\"text\" maxlength=\"64\" "
           "autocapitalize=\"none\" spellcheck=\"false\"></p>\n<p><label for=\"reassign_"
           "reason\">Why</label><br>\n<textarea id=\"reassign_reason\" name=\"reason\" "
           "rows=\"2\" cols=\"40\" maxlength=\"500\" required></textarea></p>\n<p><button "
           "type=\"submit\">Reassign</button></p>\n</fieldset>\n</form>\n");
    nb__form_head(b, s, id, "close");
    LIT(b, "<fieldset>\n<legend>Close it: what was done</legend>\n");
    for (size_t i = 0; i < nb__web_close_actions(); i++) {
        nb_ack_action_t a;
        const char *words = nb__web_close_action(i, &a);
        char line[160];
        snprintf(line, sizeof(line),
                 "<p><input type=\"radio\" id=\"action-%s\" name=\"action\" value=\"%s\"%s> "
                 "<label for=\"action-%s\">",
                 nb_ack_action_name(a), nb_ack_action_name(a), i == 0 ? " required" : "",
                 nb_ack_action_name(a));
        nb__str(b, line);
        nb__esc(b, words);
        LIT(b, "</label></p>\n");
    }
    LIT(b, "<p><label for=\"close_reason\">Why (needed for no further action)</label><br>\n"
           "<textarea id=\"close_reason\" name=\"reason\" rows=\"2\" cols=\"40\" "
           "maxlength=\"500\"></textarea></p>\n<p><label for=\"note\">A note for the record "
           "(optional)</label><br>\n<textarea id=\"note\" name=\"note\" rows=\"3\" "
           "cols=\"40\" maxlength=\"500\"></textarea></p>\n<p><button type=\"submit\">Close"
           "</button></p>\n</fieldset>\n</form>\n");
}

/* The user's latest action on it: sent and waiting for the daemon, or what the daemon did. */
static void nb__pending(nb_buf_t *b, const nb_web_detail_t *d, nb_notify_zone_t zone)
{
    char t[64];
    const char *what = nb__web_intent_words(d->pending->intent);
    nb_notify_format_time(d->pending->at, zone, false, t, sizeof(t));
    LIT(b, "<p role=\"status\" id=\"pending\"><strong>Your ");
    nb__esc(b, what);
    LIT(b, " (");
    nb__esc(b, t);
    LIT(b, ")");
    if (!d->decided) {
        LIT(b, " was sent.</strong> The first action the system records wins: reload this page "
               "in a few seconds to see the outcome.</p>\n");
    } else if (strcmp(d->verdict.decision, "action_refused") == 0) {
        LIT(b, " was not recorded: ");
        if (strcmp(d->verdict.refused, "owned_by") == 0) {
            LIT(b, "someone else had already taken it");
            if (d->verdict.owner[0]) {
                LIT(b, " (");
                nb__esc(b, d->verdict.owner);
                LIT(b, ")");
            }
        } else if (strcmp(d->verdict.refused, "closed") == 0) {
            LIT(b, "it had already been closed");
        } else if (strcmp(d->verdict.refused, "withdrawn") == 0) {
            LIT(b, "it had been withdrawn");
        } else {
            LIT(b, "it could not be applied");
        }
        LIT(b, ".</strong></p>\n");
    } else if (strcmp(d->verdict.decision, "action_duplicate") == 0) {
        LIT(b, " had been recorded already.</strong></p>\n");
    } else {
        LIT(b, " is recorded.</strong></p>\n");
    }
}

bool nb__page_detail(nb_buf_t *b, const nb_web_session_t *s, const nb_web_detail_t *d,
                     const char *const *queues, size_t n_queues, int64_t now_ms,
                     nb_notify_zone_t zone)
{
    const nb_inbox_item_t *it = &d->item;
    const char *ref = it->reference[0] ? it->reference : it->notification_id;
    nb__page_begin(b, ref);
    LIT(b, "<p><a href=\"/\">Back to the inbox</a></p>\n<h1>");
    nb__esc(b, ref);
    if (d->have_record && d->record.rule_text[0]) {
        LIT(b, ": ");
        nb__esc(b, d->record.rule_text);
    }
    LIT(b, "</h1>\n");
    if (d->pending)
        nb__pending(b, d, zone);
    nb__standing(b, it, now_ms, zone);
    if (d->error && !(d->actions && (it->state == NB_INBOX_OPEN || it->state == NB_INBOX_OWNED))) {
        LIT(b, "<p role=\"alert\"><strong>");
        nb__esc(b, d->error);
        LIT(b, "</strong></p>\n");
    }
    if (d->have_record)
        nb__record(b, &d->record, zone);
    else
        LIT(b, "<p role=\"alert\">The whole notification cannot be read from the event store "
               "now: what the inbox holds is shown. Try again in a minute.</p>\n");
    nb__history(b, d, zone);
    nb__next(b, d, now_ms, zone);
    if (d->actions && (it->state == NB_INBOX_OPEN || it->state == NB_INBOX_OWNED))
        nb__forms(b, s, d);
    nb__others(b, d, s->user.id, queues, n_queues, zone);
    LIT(b, "<h2>Its ids</h2>\n<p>Notification ");
    nb__esc(b, it->notification_id);
    LIT(b, ", rule ");
    nb__esc(b, it->rule_id);
    LIT(b, ".</p>\n");
    nb__page_end(b);
    return b->err == NB_ERR_OK;
}
