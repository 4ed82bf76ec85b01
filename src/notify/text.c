/*
 * notbrought - notify: the words a nurse reads. Times in the deployment's local time, ages as
 * people say them, enum values as words. Pure: no I/O, no clock, no process-wide state (the
 * local time comes from the policy calendar's Europe/London rules, not from TZ and
 * localtime(), which would make the zone a property of the whole process).
 */
#include <stdio.h>
#include <string.h>

#include "notbrought/notify.h"

bool nb_notify_zone_parse(const char *name, nb_notify_zone_t *out)
{
    if (strcmp(name, "Europe/London") == 0)
        *out = NB_NOTIFY_ZONE_EUROPE_LONDON;
    else if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        *out = NB_NOTIFY_ZONE_UTC;
    else
        return false;
    return true;
}

const char *nb_notify_zone_name(nb_notify_zone_t zone)
{
    return zone == NB_NOTIFY_ZONE_UTC ? "UTC" : "Europe/London";
}

/* The local wall-clock ms of an instant, and the zone's abbreviation then. */
static int64_t nb__local(int64_t ms, nb_notify_zone_t zone, const char **abbr)
{
    if (zone == NB_NOTIFY_ZONE_UTC) {
        *abbr = "UTC";
        return ms;
    }
    int64_t off = nb_policy_london_offset(ms);
    *abbr = off ? "BST" : "GMT";
    return ms + off;
}

static const char *const nb__wday[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
static const char *const nb__month[] = {"January", "February", "March",     "April",
                                        "May",     "June",     "July",      "August",
                                        "September", "October", "November", "December"};

char *nb_notify_format_time(int64_t ms, nb_notify_zone_t zone, bool weekday, char *buf,
                            size_t size)
{
    const char *abbr;
    if (ms == NB_TIME_NONE) {
        snprintf(buf, size, "not set");
        return buf;
    }
    int64_t local = nb__local(ms, zone, &abbr);
    int32_t day = nb_day_of(local);
    int64_t in_day = local - (int64_t)day * NB_MS_PER_DAY;
    int y;
    unsigned m, d;
    nb_civil_from_days(day, &y, &m, &d);
    int w = (int)((day + 4) % 7);
    if (w < 0)
        w += 7;
    char date[48];
    if (weekday)
        snprintf(date, sizeof(date), "%s %u %s %d", nb__wday[w], d, nb__month[m - 1], y);
    else
        snprintf(date, sizeof(date), "%u %.3s %d", d, nb__month[m - 1], y);
    snprintf(buf, size, "%s%s%02d:%02d %s", date, weekday ? " at " : " ",
             (int)(in_day / 3600000), (int)(in_day / 60000 % 60), abbr);
    return buf;
}

char *nb_notify_format_date(int32_t day, char *buf, size_t size)
{
    int y;
    unsigned m, d;
    if (day == NB_DATE_NONE) {
        snprintf(buf, size, "not known");
        return buf;
    }
    nb_civil_from_days(day, &y, &m, &d);
    snprintf(buf, size, "%u %s %d", d, nb__month[m - 1], y);
    return buf;
}

/* "1 day", "3 days". */
static int nb__n(char *buf, size_t size, int n, const char *unit)
{
    return snprintf(buf, size, "%d %s%s", n, unit, n == 1 ? "" : "s");
}

char *nb_notify_age_text(int32_t date_of_birth, int32_t on_day, char *buf, size_t size)
{
    if (date_of_birth == NB_DATE_NONE || on_day == NB_DATE_NONE || on_day < date_of_birth) {
        snprintf(buf, size, "age not known");
        return buf;
    }
    int days = (int)(on_day - date_of_birth);
    int32_t months = nb_age_months(date_of_birth, on_day);
    if (days < 28) {
        nb__n(buf, size, days, "day");
    } else if (days < 13 * 7 || months < 3) {
        nb__n(buf, size, days / 7, "week");
    } else if (months < 24) {
        nb__n(buf, size, (int)months, "month");
    } else {
        int n = nb__n(buf, size, (int)(months / 12), "year");
        if (months % 12 && n > 0 && (size_t)n < size) {
            buf[n] = ' ';
            nb__n(buf + n + 1, size - (size_t)n - 1, (int)(months % 12), "month");
        }
    }
    return buf;
}

const char *nb_notify_status_words(nb_status_t status)
{
    static const char *const w[] = {"booked, no outcome recorded", "attended",
                                    "was not brought",             "no access at home visit",
                                    "cancelled by the family",     "cancelled by the service",
                                    "rescheduled",                 "entered in error"};
    return (unsigned)status < NB_STATUS__COUNT ? w[status] : "unknown status";
}

const char *nb_notify_agency_words(nb_agency_t agency)
{
    static const char *const w[] = {"GP",          "Midwifery",   "Health visiting",
                                    "School nursing", "Outpatients", "Other service"};
    return (unsigned)agency < NB_AGENCY__COUNT ? w[agency] : "Unknown service";
}

const char *nb_notify_fact_words(nb_fact_kind_t kind)
{
    static const char *const w[] = {"Child protection plan", "Unborn child protection plan",
                                    "Looked after child", "Child in need plan"};
    return (unsigned)kind < NB_FACT__COUNT ? w[kind] : "Unknown context";
}

const char *nb_notify_kind_words(nb_notification_kind_t kind)
{
    static const char *const w[] = {"new", "escalated: not acknowledged in time", "reminder",
                                    "withdrawn", "digest"};
    return (unsigned)kind < NB_NOTIFICATION__COUNT ? w[kind] : "unknown kind";
}

char *nb_notify_words(const char *id, char *buf, size_t size)
{
    size_t i = 0;
    if (size == 0)
        return buf;
    for (; id[i] && i + 1 < size; i++) {
        bool digits = i > 0 && id[i - 1] >= '0' && id[i - 1] <= '9' && id[i + 1] >= '0' &&
                      id[i + 1] <= '9';
        buf[i] = id[i] != '_' ? id[i] : digits ? '-' : ' ';
    }
    buf[i] = '\0';
    return buf;
}
