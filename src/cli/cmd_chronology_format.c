/*
 * notbrought chronology: the timeline written as text, CSV or HTML (chronology.h). Pure: the
 * records, the header and a FILE in; nothing read from the clock or the environment.
 *
 * Text and HTML show each record as a title and labelled lines (nb__view()), so that the two
 * say the same things; CSV has one row per record with a fixed set of columns, raw values and
 * times in UTC (ISO 8601), for analysts' tools. Every string a record carries is escaped for
 * the format it goes into: a field must not forge a line on a terminal, a column in a
 * spreadsheet (nor start a formula), or markup on the page.
 */
#include "cli/chronology.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/util.h"
#include "notbrought/web.h"

bool nb__chron_format_parse(const char *s, nb__chron_format_t *out)
{
    static const char *const names[] = {"text", "csv", "html"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (nb__chron_format_t)i;
            return true;
        }
    return false;
}

const char *nb__chron_format_name(nb__chron_format_t f)
{
    return f == NB__CHRON_CSV ? "csv" : f == NB__CHRON_HTML ? "html" : "text";
}

/* ---- the collection ------------------------------------------------------------------------ */

nb_err_t nb__chron_add(nb__chron_t *c, const nb_audit_t *a)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        nb__chron_entry_t *e = realloc(c->e, cap * sizeof(*e));
        if (!e)
            return NB_ERR_NOMEM;
        c->e = e;
        c->cap = cap;
    }
    c->e[c->n].a = *a;
    c->e[c->n].seq = c->n;
    c->n++;
    return NB_ERR_OK;
}

int64_t nb__chron_when(const nb_audit_t *a)
{
    return a->has_event && a->event.recorded_at != NB_TIME_NONE ? a->event.recorded_at : a->at;
}

static int nb__chron_cmp(const void *x, const void *y)
{
    const nb__chron_entry_t *a = x, *b = y;
    int64_t wa = nb__chron_when(&a->a), wb = nb__chron_when(&b->a);
    if (wa != wb)
        return wa < wb ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void nb__chron_sort(nb__chron_t *c)
{
    if (c->n > 1)
        qsort(c->e, c->n, sizeof(*c->e), nb__chron_cmp);
}

void nb__chron_free(nb__chron_t *c)
{
    free(c->e);
    memset(c, 0, sizeof(*c));
}

const char *nb__chron_kind_words(nb_audit_kind_t kind)
{
    static const char *const words[] = {
        [NB_AUDIT_RECEIVED] = "Event received",
        [NB_AUDIT_PARKED] = "Event received, waiting for an identity link",
        [NB_AUDIT_FIRED] = "Notification raised",
        [NB_AUDIT_FIRED_CLOSED] = "Notification raised, already closed by an earlier action",
        [NB_AUDIT_DIGESTED] = "Decision gathered into a digest",
        [NB_AUDIT_DIGEST] = "Digest sent",
        [NB_AUDIT_ESCALATED] = "Escalated: not acknowledged in time",
        [NB_AUDIT_WITHDRAWN] = "Notification withdrawn",
        [NB_AUDIT_CORRECTED] = "Closed notification no longer supported (record corrected)",
        [NB_AUDIT_SUPPRESSED] = "Decision suppressed (cool-down)",
        [NB_AUDIT_SHADOW] = "Decision of a shadow rule (not sent)",
        [NB_AUDIT_TAKEN] = "Taken",
        [NB_AUDIT_REASSIGNED] = "Reassigned",
        [NB_AUDIT_CLOSED] = "Closed",
        [NB_AUDIT_ACTION_DUPLICATE] = "Action repeated (no change)",
        [NB_AUDIT_ACTION_EARLY] = "Action before the notification (kept for it)",
        [NB_AUDIT_ACTION_REFUSED] = "Action refused",
        [NB_AUDIT_ACTION_UNKNOWN] = "Action on an unknown notification",
        [NB_AUDIT_DELIVERED] = "Delivered",
        [NB_AUDIT_DELIVERY_FAILED] = "Delivery failed",
        [NB_AUDIT_VIEWED] = "Viewed in the inbox",
        [NB_AUDIT_CHRONOLOGY_READ] = "Chronology read",
        [NB_AUDIT_PURGED] = "Purged",
        [NB_AUDIT_OTHER] = "Other",
    };
    return (unsigned)kind < NB_AUDIT__COUNT && words[kind] ? words[kind] : "Other";
}

/* ---- one record as a title and labelled lines (text and HTML) ------------------------------ */

#define NB__VIEW_MAX 16
#define NB__VALUE_MAX 1536

typedef struct nb__view_s {
    size_t n;
    struct {
        const char *label;
        char value[NB__VALUE_MAX];
    } f[NB__VIEW_MAX];
} nb__view_t;

/* Appends a formatted line to @p v (cut to fit; nothing past NB__VIEW_MAX lines). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
nb__line(nb__view_t *v, const char *label, const char *fmt, ...)
{
    if (v->n >= NB__VIEW_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->f[v->n].value, NB__VALUE_MAX, fmt, ap);
    va_end(ap);
    v->f[v->n].label = label;
    v->n++;
}

/* Appends @p s to @p buf (of @p size, holding @p *used bytes), cut to fit. */
static void nb__cat(char *buf, size_t size, size_t *used, const char *s)
{
    int w = snprintf(buf + *used, size - *used, "%s", s);
    if (w > 0)
        *used += (size_t)w < size - *used ? (size_t)w : size - *used - 1;
}

static const char *nb__tz(int64_t ms, nb_notify_zone_t zone, char *buf, size_t size)
{
    return nb_notify_format_time(ms, zone, false, buf, size);
}

/* What was received: the agency and organisation, the appointment (or context fact), its
 * times, version and source, and how the child was identified. */
static void nb__view_event(nb__view_t *v, const nb_audit_t *a, nb_notify_zone_t zone)
{
    char t[64], w[NB_TYPE_MAX + 1];
    nb_status_t st;
    nb_fact_kind_t fk;
    const char *status =
        nb_status_parse(a->event.status, &st) ? nb_notify_status_words(st) : a->event.status;
    if (a->event.context) {
        const char *kind = nb_fact_kind_parse(a->event.appointment_id, &fk)
                               ? nb_notify_fact_words(fk)
                               : a->event.appointment_id;
        nb__line(v, "Context", "%s, %s", kind, status);
    } else {
        nb_notify_words(a->event.appointment_type, w, sizeof(w));
        nb__line(v, "Appointment", "%s, %s (appointment id %s)", w[0] ? w : "type not given",
                 status, a->event.appointment_id[0] ? a->event.appointment_id : "not given");
        nb__line(v, "Scheduled", "%s", nb__tz(a->event.scheduled_start, zone, t, sizeof(t)));
    }
    nb__line(v, "Recorded", "%s", nb__tz(a->event.recorded_at, zone, t, sizeof(t)));
    nb__line(v, "Received", "%s", nb__tz(a->at, zone, t, sizeof(t)));
    nb__line(v, "Source", "version %d from %s", (int)a->event.version,
             a->event.source_system[0] ? a->event.source_system : "an unnamed system");
    nb__line(v, "Event id", "%s (%s)", a->event.event_id,
             a->event.nhs_number_known ? "came with the NHS number"
                                       : "identified by a local identifier");
}

/* A decision's notification, rule, tier, rung, recipients, deadline and evidence. */
static void nb__view_decision(nb__view_t *v, const nb_audit_t *a, nb_notify_zone_t zone)
{
    char t[64];
    if (a->notification_id[0])
        nb__line(v, "Notification", "%s (id %s)", a->reference[0] ? a->reference : "no reference",
                 a->notification_id);
    else if (a->reference[0])
        nb__line(v, "Notification", "%s", a->reference);
    if (a->rule_id[0])
        nb__line(v, "Rule", "%s, tier %s, rung %d", a->rule_id,
                 a->tier >= 0 ? nb_tier_name((nb_tier_t)a->tier) : "not given", (int)a->level);
    for (size_t i = 0; i < a->n_recipients; i++)
        nb__line(v, "To", "%s via %s", a->recipients[i].role, a->recipients[i].route);
    if (a->respond_by != NB_TIME_NONE)
        nb__line(v, "Respond by", "%s", nb__tz(a->respond_by, zone, t, sizeof(t)));
    if (a->n_evidence) {
        char ev[NB__VALUE_MAX];
        size_t used = 0;
        ev[0] = '\0';
        for (size_t i = 0; i < a->n_evidence; i++) {
            nb__cat(ev, sizeof(ev), &used, i ? ", " : "");
            nb__cat(ev, sizeof(ev), &used, a->evidence[i]);
        }
        nb__line(v, "Evidence", "%s", ev);
    }
    if (a->has_policy)
        nb__line(v, "Policy", "%s version %s", a->policy.name, a->policy.version);
}

/* A person's action and the verdict on it. */
static void nb__view_action(nb__view_t *v, const nb_audit_t *a, nb_notify_zone_t zone)
{
    char t[64], t2[64];
    nb__line(v, "Action", "%s at %s (ack %s)", nb_ack_intent_name(a->action.intent),
             nb__tz(a->action.acted_at, zone, t, sizeof(t)), a->action.ack_id);
    if (a->action.owner_user[0] || a->action.owner_queue[0])
        nb__line(v, "Owner", "%s%s%s", a->action.owner_user,
                 a->action.owner_user[0] && a->action.owner_queue[0] ? ", queue " : "",
                 a->action.owner_queue);
    if (a->action.target_queue[0] || a->action.target_user[0])
        nb__line(v, "Reassigned to", "%s%s%s", a->action.target_user,
                 a->action.target_user[0] && a->action.target_queue[0] ? ", queue " : "",
                 a->action.target_queue);
    if (a->action.close_action >= 0)
        nb__line(v, "Done", "%s", nb_ack_action_name((nb_ack_action_t)a->action.close_action));
    if (a->action.closed_by[0])
        nb__line(v, "Closed before", "by %s at %s", a->action.closed_by,
                 nb__tz(a->action.closed_at, zone, t2, sizeof(t2)));
}

static void nb__view(nb__view_t *v, const nb_audit_t *a, nb_notify_zone_t zone)
{
    v->n = 0;
    if (a->agency >= 0 || a->organisation[0])
        nb__line(v, "Agency", "%s%s%s",
                 a->agency >= 0 ? nb_notify_agency_words((nb_agency_t)a->agency) : "",
                 a->agency >= 0 && a->organisation[0] ? ", organisation " : "", a->organisation);
    if (a->has_event)
        nb__view_event(v, a, zone);
    nb__view_decision(v, a, zone);
    if (a->has_action)
        nb__view_action(v, a, zone);
    if (a->has_delivery)
        nb__line(v, "Delivery", "%s to %s, attempt %d", a->delivery.channel, a->delivery.route,
                 (int)a->delivery.attempt);
    if (a->has_actor)
        nb__line(v, "By", "%s%s%s%s%s", a->actor.user_id, a->actor.queue[0] ? ", queue " : "",
                 a->actor.queue, a->actor.via[0] ? ", through " : "", a->actor.via);
    if (a->subject[0])
        nb__line(v, "Subject", "%s", a->subject);
    if (a->reason[0])
        nb__line(v, a->kind == NB_AUDIT_ACTION_REFUSED ? "Refused because" : "Reason", "%s",
                 a->reason);
}

/* ---- text ------------------------------------------------------------------------------------ */

/* "943 476 5919" */
static const char *nb__nhs_spaced(const char *nhs, char *buf, size_t size)
{
    snprintf(buf, size, "%.3s %.3s %.4s", nhs, strlen(nhs) > 3 ? nhs + 3 : "",
             strlen(nhs) > 6 ? nhs + 6 : "");
    return buf;
}

static void nb__text_head(FILE *out, const nb__chron_t *c, const nb__chron_head_t *h)
{
    char t[64], nhs[32], e[NB_TEXT_ESCAPED_MAX(NB_TEXT_MAX)];
#define E(s) nb_text_escape(e, sizeof(e), (s))
    fprintf(out, "CHRONOLOGY FOR A PRACTICE REVIEW\n");
    if (h->nhs_number && h->nhs_number[0])
        fprintf(out, "  Child:      NHS %s\n", nb__nhs_spaced(h->nhs_number, nhs, sizeof(nhs)));
    if (h->reference && h->reference[0])
        fprintf(out, "  Found by:   notification %s\n", E(h->reference));
    fprintf(out, "  Child key:  %s\n", E(h->child_key));
    fprintf(out, "  Read by:    %s", E(h->reader));
    fprintf(out, " on %s (this reading is recorded on the audit topic)\n",
            nb_notify_format_time(h->read_at, h->zone, false, t, sizeof(t)));
    fprintf(out, "  Reason:     %s\n", E(h->reason));
    fprintf(out, "  Records:    %zu, oldest first; times in %s\n", c->n,
            nb_notify_zone_name(h->zone));
    if (h->unreadable)
        fprintf(out, "  NOT SHOWN:  %zu record%s of this child could not be read\n", h->unreadable,
                h->unreadable == 1 ? "" : "s");
    fputc('\n', out);
#undef E
}

static void nb__text_write(FILE *out, const nb__chron_t *c, const nb__chron_head_t *h)
{
    nb__view_t v; /* some 25 KB */
    char t[64], e[NB_TEXT_ESCAPED_MAX(NB__VALUE_MAX)];
    nb__text_head(out, c, h);
    if (!c->n)
        fprintf(out, "No records about this child on the audit topic.\n");
    for (size_t i = 0; i < c->n; i++) {
        const nb_audit_t *a = &c->e[i].a;
        fprintf(out, "%zu. %s  %s\n", i + 1, nb__tz(nb__chron_when(a), h->zone, t, sizeof(t)),
                nb__chron_kind_words(a->kind));
        nb__view(&v, a, h->zone);
        for (size_t k = 0; k < v.n; k++)
            fprintf(out, "     %-16s%s\n", v.f[k].label,
                    nb_text_escape(e, sizeof(e), v.f[k].value));
        fputc('\n', out);
    }
}

/* ---- CSV ------------------------------------------------------------------------------------- */

const char nb__chron_csv_header[] =
    "seq,at,kind,child_key,nhs_number,notification_id,reference,rule,tier,level,agency,"
    "organisation,event_id,record_type,appointment_id,appointment_type,status,scheduled_start,"
    "recorded_at,version,source_system,nhs_number_known,recipients,respond_by,evidence,reason,"
    "action_intent,ack_id,acted_at,owner_user,owner_queue,target_queue,target_user,close_action,"
    "closed_by,closed_at,actor_user,actor_queue,actor_via,delivery_channel,delivery_route,"
    "delivery_attempt,subject,policy_name,policy_version,audit_id";

/* One field (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled. A field
 * a spreadsheet would take for a formula (a leading = + - @, TAB or CR) is given a leading
 * apostrophe (the usual guard): the CSV is for analysts' tools. */
static void nb__csv(FILE *out, const char *s, bool first)
{
    if (!first)
        fputc(',', out);
    bool formula = s[0] && strchr("=+-@\t\r", s[0]);
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        fputc('"', out);
    if (formula)
        fputc('\'', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    if (quote)
        fputc('"', out);
}

/* An instant as ISO 8601 in UTC with milliseconds; "" when absent. */
static const char *nb__iso(int64_t ms, char *buf, size_t size)
{
    buf[0] = '\0';
    if (ms == NB_TIME_NONE)
        return buf;
    int64_t s = ms / 1000, r = ms % 1000;
    if (r < 0) {
        r += 1000;
        s--;
    }
    time_t tt = (time_t)s;
    struct tm tm;
    if (gmtime_r(&tt, &tm) && tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999)
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)r);
    return buf;
}

static const char *nb__int(long long v, char *buf, size_t size)
{
    snprintf(buf, size, "%lld", v);
    return buf;
}

/* The columns up to the event's (seq .. nhs_number_known). */
static void nb__csv_row_event(FILE *out, const nb_audit_t *a, size_t seq, const char *nhs)
{
    char b[64];
    nb__csv(out, nb__int((long long)seq, b, sizeof(b)), true);
    nb__csv(out, nb__iso(a->at, b, sizeof(b)), false);
    nb__csv(out, nb_audit_kind_name(a->kind), false);
    nb__csv(out, a->child_key, false);
    nb__csv(out, nhs, false);
    nb__csv(out, a->notification_id, false);
    nb__csv(out, a->reference, false);
    nb__csv(out, a->rule_id, false);
    nb__csv(out, a->tier >= 0 ? nb_tier_name((nb_tier_t)a->tier) : "", false);
    nb__csv(out, nb__int(a->level, b, sizeof(b)), false);
    nb__csv(out, a->agency >= 0 ? nb_agency_name((nb_agency_t)a->agency) : "", false);
    nb__csv(out, a->organisation, false);
    bool ev = a->has_event;
    nb__csv(out, ev ? a->event.event_id : "", false);
    nb__csv(out, ev ? (a->event.context ? "context" : "appointment") : "", false);
    nb__csv(out, ev ? a->event.appointment_id : "", false);
    nb__csv(out, ev ? a->event.appointment_type : "", false);
    nb__csv(out, ev ? a->event.status : "", false);
    nb__csv(out, ev ? nb__iso(a->event.scheduled_start, b, sizeof(b)) : "", false);
    nb__csv(out, ev ? nb__iso(a->event.recorded_at, b, sizeof(b)) : "", false);
    nb__csv(out, ev ? nb__int(a->event.version, b, sizeof(b)) : "", false);
    nb__csv(out, ev ? a->event.source_system : "", false);
    nb__csv(out, ev ? (a->event.nhs_number_known ? "true" : "false") : "", false);
}

/* The rest of the row (recipients .. audit_id): lists joined with ';', "role=route". */
static void nb__csv_row_rest(FILE *out, const nb_audit_t *a)
{
    char b[64], list[NB__VALUE_MAX];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < a->n_recipients; i++) {
        nb__cat(list, sizeof(list), &used, i ? ";" : "");
        nb__cat(list, sizeof(list), &used, a->recipients[i].role);
        nb__cat(list, sizeof(list), &used, "=");
        nb__cat(list, sizeof(list), &used, a->recipients[i].route);
    }
    nb__csv(out, list, false);
    nb__csv(out, nb__iso(a->respond_by, b, sizeof(b)), false);
    used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < a->n_evidence; i++) {
        nb__cat(list, sizeof(list), &used, i ? ";" : "");
        nb__cat(list, sizeof(list), &used, a->evidence[i]);
    }
    nb__csv(out, list, false);
    nb__csv(out, a->reason, false);
    bool ac = a->has_action;
    nb__csv(out, ac ? nb_ack_intent_name(a->action.intent) : "", false);
    nb__csv(out, ac ? a->action.ack_id : "", false);
    nb__csv(out, ac ? nb__iso(a->action.acted_at, b, sizeof(b)) : "", false);
    nb__csv(out, ac ? a->action.owner_user : "", false);
    nb__csv(out, ac ? a->action.owner_queue : "", false);
    nb__csv(out, ac ? a->action.target_queue : "", false);
    nb__csv(out, ac ? a->action.target_user : "", false);
    nb__csv(out,
            ac && a->action.close_action >= 0
                ? nb_ack_action_name((nb_ack_action_t)a->action.close_action)
                : "",
            false);
    nb__csv(out, ac ? a->action.closed_by : "", false);
    nb__csv(out, ac ? nb__iso(a->action.closed_at, b, sizeof(b)) : "", false);
    nb__csv(out, a->has_actor ? a->actor.user_id : "", false);
    nb__csv(out, a->has_actor ? a->actor.queue : "", false);
    nb__csv(out, a->has_actor ? a->actor.via : "", false);
    nb__csv(out, a->has_delivery ? a->delivery.channel : "", false);
    nb__csv(out, a->has_delivery ? a->delivery.route : "", false);
    nb__csv(out, a->has_delivery ? nb__int(a->delivery.attempt, b, sizeof(b)) : "", false);
    nb__csv(out, a->subject, false);
    nb__csv(out, a->has_policy ? a->policy.name : "", false);
    nb__csv(out, a->has_policy ? a->policy.version : "", false);
    nb__csv(out, a->audit_id, false);
}

/* RFC 4180: CRLF after every row, the header included. */
static void nb__csv_write(FILE *out, const nb__chron_t *c, const nb__chron_head_t *h)
{
    const char *nhs = h->csv_nhs_number && h->nhs_number ? h->nhs_number : "";
    fprintf(out, "%s\r\n", nb__chron_csv_header);
    for (size_t i = 0; i < c->n; i++) {
        nb__csv_row_event(out, &c->e[i].a, i + 1, nhs);
        nb__csv_row_rest(out, &c->e[i].a);
        fputs("\r\n", out);
    }
}

/* ---- HTML ------------------------------------------------------------------------------------ */

/* @p s escaped (nb_web_html: & < > " ' and what is not printable UTF-8). */
static void nb__h(FILE *out, const char *s)
{
    nb_buf_t b = {0};
    nb_web_html(&b, s);
    if (!b.err && b.len)
        fwrite(b.data, 1, b.len, out);
    else if (b.err) /* out of memory: a visible gap rather than the raw text */
        fputs("[not shown]", out);
    nb_buf_free(&b);
}

static const char nb__css[] =
    "body{font-family:system-ui,sans-serif;margin:2em;color:#111;max-width:70em}"
    "h1{font-size:1.5em}dl.head{display:grid;grid-template-columns:max-content auto;"
    "gap:.2em 1em}dl.head dt{font-weight:bold}table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #999;padding:.3em .5em;vertical-align:top;text-align:left}"
    "th{background:#eee}td dl{margin:0;display:grid;grid-template-columns:max-content auto;"
    "gap:0 1em}td dt{color:#444}td dd{margin:0}tr.decision td.what{font-weight:bold}"
    ".warn{color:#a00;font-weight:bold}"
    "@media print{body{margin:0}tr{break-inside:avoid}}";

static void nb__html_head(FILE *out, const nb__chron_t *c, const nb__chron_head_t *h)
{
    char t[64], nhs[32];
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<meta name=\"referrer\" content=\"no-referrer\">\n"
          "<title>Chronology for a practice review</title>\n<style>",
          out);
    fputs(nb__css, out);
    fputs("</style>\n</head>\n<body>\n<h1>Chronology for a practice review</h1>\n"
          "<dl class=\"head\">\n",
          out);
    if (h->nhs_number && h->nhs_number[0]) {
        fputs("<dt>Child</dt><dd>NHS ", out);
        nb__h(out, nb__nhs_spaced(h->nhs_number, nhs, sizeof(nhs)));
        fputs("</dd>\n", out);
    }
    if (h->reference && h->reference[0]) {
        fputs("<dt>Found by</dt><dd>notification ", out);
        nb__h(out, h->reference);
        fputs("</dd>\n", out);
    }
    fputs("<dt>Child key</dt><dd><code>", out);
    nb__h(out, h->child_key);
    fputs("</code></dd>\n<dt>Read by</dt><dd>", out);
    nb__h(out, h->reader);
    fputs(" on ", out);
    nb__h(out, nb_notify_format_time(h->read_at, h->zone, true, t, sizeof(t)));
    fputs(" (this reading is recorded on the audit topic)</dd>\n<dt>Reason</dt><dd>", out);
    nb__h(out, h->reason);
    fprintf(out, "</dd>\n<dt>Records</dt><dd>%zu, oldest first; times in ", c->n);
    nb__h(out, nb_notify_zone_name(h->zone));
    fputs("</dd>\n", out);
    if (h->unreadable)
        fprintf(out,
                "<dt class=\"warn\">Not shown</dt><dd class=\"warn\">%zu record%s of this child "
                "could not be read</dd>\n",
                h->unreadable, h->unreadable == 1 ? "" : "s");
    fputs("</dl>\n", out);
}

static void nb__html_write(FILE *out, const nb__chron_t *c, const nb__chron_head_t *h)
{
    nb__view_t v; /* some 25 KB */
    char t[64];
    nb__html_head(out, c, h);
    if (!c->n) {
        fputs("<p>No records about this child on the audit topic.</p>\n</body>\n</html>\n", out);
        return;
    }
    fputs("<table>\n<thead><tr><th>#</th><th>When</th><th>What</th><th>Details</th></tr>"
          "</thead>\n<tbody>\n",
          out);
    for (size_t i = 0; i < c->n; i++) {
        const nb_audit_t *a = &c->e[i].a;
        fprintf(out, "<tr class=\"%s\" id=\"r%zu\" data-kind=\"%s\"><td>%zu</td><td>",
                a->has_event    ? "event"
                : a->rule_id[0] ? "decision"
                                : "step",
                i + 1, nb_audit_kind_name(a->kind), i + 1);
        nb__h(out, nb__tz(nb__chron_when(a), h->zone, t, sizeof(t)));
        fputs("</td><td class=\"what\">", out);
        nb__h(out, nb__chron_kind_words(a->kind));
        fputs("</td><td><dl>", out);
        nb__view(&v, a, h->zone);
        for (size_t k = 0; k < v.n; k++) {
            fputs("<dt>", out);
            nb__h(out, v.f[k].label);
            fputs("</dt><dd>", out);
            nb__h(out, v.f[k].value);
            fputs("</dd>", out);
        }
        fputs("</dl></td></tr>\n", out);
    }
    fputs("</tbody>\n</table>\n</body>\n</html>\n", out);
}

int nb__chron_write(FILE *out, nb__chron_format_t fmt, const nb__chron_t *c,
                    const nb__chron_head_t *h)
{
    if (fmt == NB__CHRON_CSV)
        nb__csv_write(out, c, h);
    else if (fmt == NB__CHRON_HTML)
        nb__html_write(out, c, h);
    else
        nb__text_write(out, c, h);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
