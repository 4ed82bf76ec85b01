/*
 * notbrought - policy: the working-day calendar (England and Wales bank holidays, listed in
 * the policy) and Europe/London local time, for respond-by deadlines.
 */
#include <string.h>

#include "policy/internal.h"

/* 0 = Sunday ... 6 = Saturday. 1970-01-01 was a Thursday. */
static int nb__weekday(int32_t day)
{
    int w = (int)((day + 4) % 7);
    return w < 0 ? w + 7 : w;
}

static int32_t nb__last_sunday(int year, unsigned month)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int32_t last = nb_days_from_civil(year, month, mdays[month - 1]);
    return last - nb__weekday(last);
}

/* British Summer Time runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
 * last Sunday of October (Summer Time Order 2002). */
int64_t nb_policy_london_offset(int64_t ms)
{
    int y;
    unsigned m, d;
    nb_civil_from_days(nb_day_of(ms), &y, &m, &d);
    int64_t start = (int64_t)nb__last_sunday(y, 3) * NB_MS_PER_DAY + 3600000;
    int64_t end = (int64_t)nb__last_sunday(y, 10) * NB_MS_PER_DAY + 3600000;
    return ms >= start && ms < end ? 3600000 : 0;
}

int32_t nb__policy_local_day(int64_t ms)
{
    return nb_day_of(ms + nb_policy_london_offset(ms));
}

int64_t nb__policy_local_to_utc(int32_t day, int32_t minutes)
{
    int64_t local = (int64_t)day * NB_MS_PER_DAY + (int64_t)minutes * 60000;
    int64_t off = nb_policy_london_offset(local - nb_policy_london_offset(local));
    return local - off;
}

static const nb__holiday_t *nb__find_holiday(const nb_policy_t *pol, int32_t day)
{
    size_t lo = 0, hi = pol->n_holidays;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pol->holidays[mid].day == day)
            return &pol->holidays[mid];
        if (pol->holidays[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool nb_policy_is_working_day(const nb_policy_t *pol, int32_t day)
{
    int w = nb__weekday(day);
    return w != 0 && w != 6 && !nb__find_holiday(pol, day);
}

const char *nb_policy_holiday(const nb_policy_t *pol, int32_t day)
{
    const nb__holiday_t *h = nb__find_holiday(pol, day);
    return h ? h->name : NULL;
}

int64_t nb_policy_add_working_days(const nb_policy_t *pol, int64_t from_ms, int n)
{
    int32_t day = nb__policy_local_day(from_ms);
    if (n <= 0) {
        int64_t cob = nb__policy_local_to_utc(day, pol->cob_minutes);
        if (nb_policy_is_working_day(pol, day) && from_ms < cob)
            return cob;
        n = 1;
    }
    /* Bounded: even a calendar full of holidays has weekdays within a few years. */
    for (int guard = 0; n > 0 && guard < 4000; guard++) {
        day++;
        if (nb_policy_is_working_day(pol, day))
            n--;
    }
    return nb__policy_local_to_utc(day, pol->cob_minutes);
}

int64_t nb__policy_respond_by(const nb_policy_t *pol, const nb__respond_t *r, int64_t from_ms)
{
    switch (r->kind) {
    case NB__RESPOND_HOURS:
        return from_ms + (int64_t)r->n * 3600000;
    case NB__RESPOND_SAME_DAY:
        return nb__policy_local_to_utc(nb__policy_local_day(from_ms) + 1, 0) - 1;
    case NB__RESPOND_WORKING_DAYS:
        return nb_policy_add_working_days(pol, from_ms, r->n);
    default:
        return NB_TIME_NONE;
    }
}

/* Anonymous Gregorian algorithm (Meeus/Jones/Butcher). @returns Easter Sunday. */
int32_t nb__policy_easter(int year)
{
    int a = year % 19, b = year / 100, c = year % 100, d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
    return nb_days_from_civil(year, (unsigned)month, (unsigned)day);
}

static void nb__add(nb__holiday_t *out, size_t cap, size_t *n, int32_t day, const char *name)
{
    if (*n < cap) {
        out[*n].day = day;
        out[*n].name = name;
    }
    (*n)++;
}

/* The regular pattern of the Banking and Financial Dealings Act 1971 as proclaimed each year.
 * One-off changes (2020 VE Day, 2022 Jubilee, 2023 Coronation) are not rules and must be
 * listed in the calendar file by hand. */
size_t nb__policy_ew_holidays(int year, nb__holiday_t *out, size_t cap)
{
    size_t n = 0;
    int32_t jan1 = nb_days_from_civil(year, 1, 1);
    int w = nb__weekday(jan1);
    nb__add(out, cap, &n, w == 6 ? jan1 + 2 : w == 0 ? jan1 + 1 : jan1,
            w == 6 || w == 0 ? "New Year's Day (substitute day)" : "New Year's Day");
    int32_t easter = nb__policy_easter(year);
    nb__add(out, cap, &n, easter - 2, "Good Friday");
    nb__add(out, cap, &n, easter + 1, "Easter Monday");
    int32_t may1 = nb_days_from_civil(year, 5, 1);
    nb__add(out, cap, &n, may1 + (8 - nb__weekday(may1)) % 7, "Early May bank holiday");
    int32_t may31 = nb_days_from_civil(year, 5, 31);
    nb__add(out, cap, &n, may31 - (nb__weekday(may31) + 6) % 7, "Spring bank holiday");
    int32_t aug31 = nb_days_from_civil(year, 8, 31);
    nb__add(out, cap, &n, aug31 - (nb__weekday(aug31) + 6) % 7, "Summer bank holiday");
    int32_t xmas = nb_days_from_civil(year, 12, 25);
    switch (nb__weekday(xmas)) {
    case 5: /* Friday: Boxing Day falls on Saturday */
        nb__add(out, cap, &n, xmas, "Christmas Day");
        nb__add(out, cap, &n, xmas + 3, "Boxing Day (substitute day)");
        break;
    case 6: /* Saturday */
        nb__add(out, cap, &n, xmas + 2, "Christmas Day (substitute day)");
        nb__add(out, cap, &n, xmas + 3, "Boxing Day (substitute day)");
        break;
    case 0: /* Sunday */
        nb__add(out, cap, &n, xmas + 1, "Boxing Day");
        nb__add(out, cap, &n, xmas + 2, "Christmas Day (substitute day)");
        break;
    default:
        nb__add(out, cap, &n, xmas, "Christmas Day");
        nb__add(out, cap, &n, xmas + 1, "Boxing Day");
        break;
    }
    return n;
}
