/*
 * notbrought - policy: the working-day calendar (England and Wales bank holidays, listed in
 * the policy) and Europe/London local time, for respond-by deadlines.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

/* 0 = Sunday ... 6 = Saturday. 1970-01-01 was a Thursday. */
static int nb__weekday(int32_t day)
{
    int w = (int)((day + 4) % 7);
    return w < 0 ? w + 7 : w;
}

int nb__policy_weekday(int32_t day)
{
    return nb__weekday(day);
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

/*
 * The worst case of a response time: how long after a decision its respond-by can fall.
 * Hours are exact. Same day: the longest local day (the 25-hour day when the clocks go back),
 * the same every year. Working days: the respond-by depends on the local day of the decision
 * (and, for 0 working days, on whether it is before close of business), so the candidates are
 * local midnight on every day of the calendar's years (and close of business, for 0). Beyond
 * the listed years only weekends are non-working, which is never worse.
 *
 * The daemon loads policies on its main loop, so the cost is linear in the days scanned
 * whatever the years and the number of working days: the n-th working day after each day is
 * kept by two pointers, and only the days whose deadline is furthest away in days are timed
 * exactly (the clock changes move a deadline by an hour at most). The unit tests compare the
 * result with nb__policy_respond_by() at every candidate instant.
 */
static void nb__scan_range(const nb_policy_t *pol, int32_t *first, int32_t *last)
{
    int from = 2024, to = 2030;
    if (pol->cal_from != NB__UNSET) {
        from = (int)pol->cal_from;
        to = (int)pol->cal_to;
    }
    *first = nb_days_from_civil(from, 1, 1);
    *last = nb_days_from_civil(to, 12, 31);
}

bool nb__policy_workdays(const nb_policy_t *pol, nb__workdays_t *wd)
{
    int32_t first, last;
    nb__scan_range(pol, &first, &last);
    wd->first = first;
    wd->n = last - first + 1 + 400; /* 60 working days after the last day, with holidays */
    wd->bits = calloc((size_t)wd->n / 8 + 1, 1);
    if (!wd->bits)
        return false;
    for (int32_t i = 0; i < wd->n; i++)
        if (nb_policy_is_working_day(pol, first + i))
            wd->bits[i / 8] |= (uint8_t)(1u << (i % 8));
    return true;
}

static bool nb__working(const nb_policy_t *pol, const nb__workdays_t *wd, int32_t day)
{
    if (wd && wd->bits && day >= wd->first && day - wd->first < wd->n) {
        int32_t i = day - wd->first;
        return wd->bits[i / 8] >> (i % 8) & 1;
    }
    return nb_policy_is_working_day(pol, day);
}

int64_t nb__policy_respond_worst(const nb_policy_t *pol, const nb__respond_t *r,
                                 const nb__workdays_t *wd, int64_t *at)
{
    int64_t worst = 0;
    *at = NB_TIME_NONE;
    if (r->kind == NB__RESPOND_NONE)
        return 0;
    if (r->kind == NB__RESPOND_HOURS)
        return (int64_t)r->n * 3600000;
    int32_t first, last;
    nb__scan_range(pol, &first, &last);
    if (r->kind == NB__RESPOND_SAME_DAY) {
        for (int32_t day = first; day <= first + 366; day++) {
            int64_t start = nb__policy_local_to_utc(day, 0);
            int64_t by = nb__policy_respond_by(pol, r, start);
            if (by - start > worst) {
                worst = by - start;
                *at = start;
            }
        }
        return worst;
    }
    /* Working days: target is the k-th working day after day (k = 1 for 0 working days, from
     * close of business on a working day, or from midnight on another day). */
    int k = r->n > 0 ? (int)r->n : 1;
    int32_t target = first;
    for (int c = 0; c < k;)
        c += nb__working(pol, wd, ++target);
    int32_t most = 0;
    for (int pass = 0; pass < 2; pass++) {
        int32_t t = target;
        for (int32_t day = first; day <= last; day++) {
            if (day > first && nb__working(pol, wd, day))
                while (!nb__working(pol, wd, ++t))
                    ;
            if (pass == 0) {
                if (t - day > most)
                    most = t - day;
                continue;
            }
            /* From midnight, a day less is at least 24 hours less, and the clocks move an
             * hour. For 0 working days a working day starts at close of business, so a day
             * less from midnight on another day may still be as long. */
            if (t - day < most - (r->n == 0))
                continue;
            int64_t start = r->n == 0 && nb__working(pol, wd, day)
                                ? nb__policy_local_to_utc(day, pol->cob_minutes)
                                : nb__policy_local_to_utc(day, 0);
            /* As nb_policy_add_working_days() computes it: close of business on that day. */
            int64_t by = nb__policy_local_to_utc(t, pol->cob_minutes);
            if (by - start > worst) {
                worst = by - start;
                *at = start;
            }
        }
    }
    return worst;
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
