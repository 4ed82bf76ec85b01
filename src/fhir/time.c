/*
 * notbrought - fhir: FHIR's date, dateTime and instant.
 *
 *   date      YYYY[-MM[-DD]]
 *   dateTime  YYYY[-MM[-DD[Thh:mm:ss[.f...](Z|+hh:mm|-hh:mm)]]]
 *   instant   YYYY-MM-DDThh:mm:ss[.f...](Z|+hh:mm|-hh:mm)
 *
 * A time always has a zone in FHIR ("If hours and minutes are specified, a time zone SHALL be
 * populated"), so one without is refused rather than guessed. Fractions beyond milliseconds
 * are dropped; a leap second (60) counts as the first second of the next minute.
 */
#include "fhir/internal.h"

#include <string.h>

static int nb__fhir_mdays(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (the well-known era computation). */
static int64_t nb__fhir_days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool nb__fhir_num(const char *s, size_t len, size_t *i, size_t n, int *out)
{
    int v = 0;
    if (*i + n > len)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s[*i + k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

#define NB__FHIR_TBAD(why)                                                                         \
    do {                                                                                           \
        reason = (why);                                                                            \
        goto bad;                                                                                  \
    } while (0)

/* The time of day and zone after the 'T' at s[*i]; adds them to out->ms. */
static const char *nb__fhir_time_of_day(const char *s, size_t len, size_t *i, nb_fhir_time_t *out)
{
    int hh, mi, ss, zh, zm, ms = 0;
    if (!nb__fhir_num(s, len, i, 2, &hh) || *i >= len || s[(*i)++] != ':' ||
        !nb__fhir_num(s, len, i, 2, &mi))
        return "the time is not hh:mm:ss";
    if (*i >= len || s[*i] != ':' || (++*i, !nb__fhir_num(s, len, i, 2, &ss)))
        return "the time has no seconds (FHIR writes hh:mm:ss)";
    if (hh > 23 || mi > 59 || ss > 60)
        return "an hour, minute or second out of range";
    out->prec = NB_FHIR_PREC_SECOND;
    if (*i < len && s[*i] == '.') {
        size_t k = ++*i;
        while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
            if (*i - k < 3)
                ms = ms * 10 + (s[*i] - '0');
            ++*i;
        }
        if (*i == k)
            return "a '.' without digits after the seconds";
        for (size_t d = *i - k; d < 3; d++)
            ms *= 10;
        out->prec = NB_FHIR_PREC_MILLI;
    }
    out->ms += ((int64_t)hh * 3600 + mi * 60 + ss) * 1000 + ms;
    if (*i >= len)
        return "a time without a zone (FHIR requires Z or an offset)";
    if (s[*i] == 'Z') {
        ++*i;
    } else if (s[*i] == '+' || s[*i] == '-') {
        int sign = s[(*i)++] == '-' ? -1 : 1;
        if (!nb__fhir_num(s, len, i, 2, &zh) || *i >= len || s[(*i)++] != ':' ||
            !nb__fhir_num(s, len, i, 2, &zm))
            return "the zone offset is not +hh:mm or -hh:mm";
        if (zm > 59 || zh > 14 || (zh == 14 && zm > 0))
            return "the zone offset is beyond 14:00";
        out->zone_minutes = sign * (zh * 60 + zm);
        out->ms -= (int64_t)out->zone_minutes * 60000;
    } else {
        return "a time without a zone (FHIR requires Z or an offset)";
    }
    out->has_zone = true;
    return NULL;
}

nb_err_t nb_fhir_time_parse(const char *s, size_t len, nb_fhir_ttype_t what, nb_fhir_time_t *out,
                            char *errstr, size_t errstr_size)
{
    const char *reason = NULL;
    size_t i = 0;
    int y, m = 1, d = 1;
    memset(out, 0, sizeof(*out));
    if (!nb__fhir_num(s, len, &i, 4, &y) || y == 0)
        NB__FHIR_TBAD("the year is not 4 digits from 0001");
    out->prec = NB_FHIR_PREC_YEAR;
    if (i < len && s[i] == '-') {
        i++;
        if (!nb__fhir_num(s, len, &i, 2, &m) || m < 1 || m > 12)
            NB__FHIR_TBAD("the month is not 01 to 12");
        out->prec = NB_FHIR_PREC_MONTH;
        if (i < len && s[i] == '-') {
            i++;
            if (!nb__fhir_num(s, len, &i, 2, &d) || d < 1 || d > nb__fhir_mdays(y, m))
                NB__FHIR_TBAD("the day is not a day of its month");
            out->prec = NB_FHIR_PREC_DAY;
        }
    }
    out->ms = nb__fhir_days(y, m, d) * 86400000;
    if (i < len && s[i] == 'T') {
        if (what == NB_FHIR_T_DATE)
            NB__FHIR_TBAD("a date has no time");
        if (out->prec != NB_FHIR_PREC_DAY)
            NB__FHIR_TBAD("a time after a date without its day");
        i++;
        if ((reason = nb__fhir_time_of_day(s, len, &i, out)) != NULL)
            goto bad;
    } else if (what == NB_FHIR_T_INSTANT) {
        NB__FHIR_TBAD("an instant needs a date, a time to the second and a zone");
    }
    if (i != len)
        NB__FHIR_TBAD("something follows the date or time");
    return NB_ERR_OK;
bad:
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s (character %zu)", reason, i + 1);
    memset(out, 0, sizeof(*out));
    return NB_ERR_FHIR_TIMESTAMP;
}
