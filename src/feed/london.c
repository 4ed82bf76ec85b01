/*
 * notbrought - feed: UK local time (Europe/London) to UTC, in pure code, with the UK rule: BST
 * (UTC+1) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October
 * (the Summer Time Order 2002, the EU rule the UK has followed since 1996). Valid for
 * NB_FEED_LONDON_FIRST_YEAR to NB_FEED_LONDON_LAST_YEAR as long as the law does not change;
 * years outside them are refused, not guessed.
 */
#include "feed/internal.h"

#define NB__HOUR_MS 3600000LL

/* Day number of the last Sunday of @p month (31 days: March or October). */
static int32_t nb__last_sunday(int year, unsigned month)
{
    int32_t d = nb_days_from_civil(year, month, 31);
    /* 1970-01-01 was a Thursday: (d + 4) mod 7 is the weekday, 0 for Sunday. */
    int32_t wd = (int32_t)(((int64_t)d + 4) % 7);
    if (wd < 0)
        wd += 7;
    return d - wd;
}

nb_err_t nb_feed_london_to_utc(int year, unsigned month, unsigned day, int64_t ms_of_day,
                               int64_t *utc_ms)
{
    if (year < NB_FEED_LONDON_FIRST_YEAR || year > NB_FEED_LONDON_LAST_YEAR || month < 1 ||
        month > 12 || day < 1 || day > 31 || ms_of_day < 0 || ms_of_day >= NB_MS_PER_DAY || !utc_ms)
        return NB_ERR_TIMESTAMP_RANGE;
    int64_t start = (int64_t)nb__last_sunday(year, 3) * NB_MS_PER_DAY + NB__HOUR_MS;
    int64_t end = (int64_t)nb__last_sunday(year, 10) * NB_MS_PER_DAY + NB__HOUR_MS;
    int64_t local = (int64_t)nb_days_from_civil(year, month, day) * NB_MS_PER_DAY + ms_of_day;
    int64_t as_bst = local - NB__HOUR_MS, as_gmt = local;
    bool bst_ok = as_bst >= start && as_bst < end;
    /* A time that reads as BST is BST: in the autumn hour that happens twice both readings
     * hold, and the first, BST, is taken. In the spring hour that does not exist neither holds
     * (as BST it falls before the change, as GMT after it): it is read with the offset before
     * the change, GMT, as a clock not yet put forward would show it. */
    *utc_ms = bst_ok ? as_bst : as_gmt;
    return NB_ERR_OK;
}
