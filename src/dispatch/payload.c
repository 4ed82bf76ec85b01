/*
 * notbrought - dispatch: what a webhook and an email say. Only the reference, the kind, the
 * tier, the rule, the respond-by, the escalation level and a link: a child's details are read
 * in the inbox, never sent to an endpoint.
 */
#include "notbrought/dispatch.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void nb_dispatch_link(const char *inbox_url, const char *notification_id, char *buf, size_t size)
{
    size_t n = strlen(inbox_url);
    while (n && inbox_url[n - 1] == '/')
        n--;
    snprintf(buf, size, "%.*s/n/%s", (int)n, inbox_url, notification_id);
}

static json_t *nb__time_or_null(int64_t ms)
{
    char buf[32];
    if (ms == NB_TIME_NONE || ms <= 0)
        return json_null();
    nb_format_time(ms, buf, sizeof(buf));
    return json_string(buf);
}

char *nb_dispatch_webhook_body(const nb_notification_t *n, const char *inbox_url,
                               nb_notify_zone_t zone, size_t *len)
{
    char link[1024], local[64];
    nb_dispatch_link(inbox_url, n->notification_id, link, sizeof(link));
    nb_notify_format_time(n->respond_by, zone, true, local, sizeof(local));
    /* json_pack's "s" refuses invalid UTF-8 (the codec's validation keeps it out); "s?"
     * takes NULL as null. */
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:i, s:s?, s:o, s:s}", "type",
        "notbrought.notification", "notification_id", n->notification_id, "reference", n->reference,
        "kind", nb_notification_kind_name(n->kind), "tier", nb_tier_name(n->tier), "rule", "id",
        n->rule_id, "title", n->rule_text, "respond_by", nb__time_or_null(n->respond_by),
        "respond_by_local", local, "escalation_level", (json_int_t)n->escalation_level,
        "supersedes", n->supersedes[0] ? n->supersedes : NULL, "created_at",
        nb__time_or_null(n->created_at), "link", link);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s && len)
        *len = strlen(s);
    return s;
}

static bool nb__address_ok(const char *a)
{
    return a && a[0] && !strpbrk(a, "\r\n<>");
}

/* Text for a header: printable ASCII only (a reference and enum names are). */
static void nb__ascii(const char *in, char *out, size_t size)
{
    size_t k = 0;
    for (; *in && k + 1 < size; in++)
        out[k++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
    out[k] = '\0';
}

/* Text for one body line: control characters (a line break would start a header-looking
 * line or a lone "." ) become spaces; UTF-8 stays. */
static void nb__flat(const char *in, char *out, size_t size)
{
    size_t k = 0;
    for (; *in && k + 1 < size; in++)
        out[k++] = ((unsigned char)*in < 0x20 || *in == 0x7f) ? ' ' : *in;
    out[k] = '\0';
}

static void nb__upper(const char *in, char *out, size_t size)
{
    size_t k = 0;
    for (; *in && k + 1 < size; in++)
        out[k++] = (*in >= 'a' && *in <= 'z') ? (char)(*in - 32) : *in;
    out[k] = '\0';
}

/* The RFC 5322 Date of @p now_ms (UTC). */
static void nb__rfc5322_date(int64_t now_ms, char *buf, size_t size)
{
    static const char *const wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t s = now_ms / 1000, days = s / 86400, rem = s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int y;
    unsigned m, d;
    nb_civil_from_days((int32_t)days, &y, &m, &d);
    snprintf(buf, size, "%s, %02u %s %04d %02d:%02d:%02d +0000", wd[((days % 7) + 7) % 7], d,
             mon[(m - 1) % 12], y, (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60));
}

static void nb__addf(nb_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void nb__addf(nb_buf_t *b, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        nb_buf_add(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* What a person is asked, by kind. */
static const char *nb__ask(nb_notification_kind_t kind)
{
    switch (kind) {
    case NB_NOTIFICATION_WITHDRAWN:
        return "This notification has been withdrawn: it is off your list and needs nothing "
               "more.";
    case NB_NOTIFICATION_ESCALATED:
        return "This notification was not acted on in time and has been escalated to you.";
    case NB_NOTIFICATION_REMINDER:
        return "A reminder: this notification still needs action.";
    default:
        return "A safeguarding notification needs action.";
    }
}

nb_err_t nb_dispatch_email(const nb_notification_t *n, const char *inbox_url, nb_notify_zone_t zone,
                           const char *from, const char *const *to, size_t n_to, int64_t now_ms,
                           nb_buf_t *out)
{
    char date[64], ref[NB_REF_MAX + 1], tier[32], id[NB_ID_MAX + 1], link[1024], local[64];
    if (!nb__address_ok(from) || n_to == 0)
        return NB_ERR_INVALID_ARG;
    for (size_t i = 0; i < n_to; i++)
        if (!nb__address_ok(to[i]))
            return NB_ERR_INVALID_ARG;
    nb__rfc5322_date(now_ms, date, sizeof(date));
    nb__ascii(n->reference, ref, sizeof(ref));
    nb__ascii(n->notification_id, id, sizeof(id));
    nb__upper(nb_tier_name(n->tier), tier, sizeof(tier));
    nb_dispatch_link(inbox_url, n->notification_id, link, sizeof(link));
    nb_notify_format_time(n->respond_by, zone, true, local, sizeof(local));
    nb__addf(out, "Date: %s\r\nFrom: <%s>\r\nTo: ", date, from);
    for (size_t i = 0; i < n_to; i++)
        nb__addf(out, "%s<%s>", i ? ", " : "", to[i]);
    nb__addf(out, "\r\nSubject: [notbrought] %s %s: %s\r\n", tier,
             nb_notification_kind_name(n->kind), ref);
    nb__addf(out, "Message-ID: <%s@notbrought>\r\nX-Notbrought-Notification: %s\r\n", id, id);
    nb__addf(out, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n");
    nb__addf(out, "%s\r\n\r\n", nb__ask(n->kind));
    nb__addf(out, "Reference:    %s\r\n", ref);
    nb__addf(out, "What:         %s\r\n", nb_notify_kind_words(n->kind));
    nb__addf(out, "Tier:         %s\r\n", nb_tier_name(n->tier));
    char why[NB_TEXT_MAX + 1];
    nb__flat(n->rule_text, why, sizeof(why));
    nb__addf(out, "Why:          %s\r\n", why);
    if (n->kind != NB_NOTIFICATION_WITHDRAWN)
        nb__addf(out, "Respond by:   %s\r\n", local);
    if (n->escalation_level > 0)
        nb__addf(out, "Escalation:   level %d\r\n", (int)n->escalation_level);
    nb__addf(out,
             "\r\nOpen it in the safeguarding inbox (sign in to see the child's details):"
             "\r\n%s\r\n\r\n",
             link);
    nb__addf(out, "This message carries no details of the child on purpose. Quote the reference "
                  "on the phone.\r\n");
    return out->err;
}
