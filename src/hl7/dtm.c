/*
 * notbrought - hl7: DTM, the date/time of HL7 v2 (and the first component of the older TS).
 *
 *   YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]
 *
 * Read as written: the precision is how much the sender gave, the offset whether it gave one.
 * Turning local time into an instant (UK feeds send local time without an offset, ambiguous at
 * the clock changes) is the mapping's job, with its stated rule; not this parser's.
 */
#include "hl7/internal.h"

#include <string.h>

static int nb__hl7_days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* @p n digits at s[*i] as a number; false when any is not a digit. */
static bool nb__hl7_digits(const char *s, size_t len, size_t *i, size_t n, int *out)
{
    if (*i + n > len)
        return false;
    int v = 0;
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

typedef struct nb__hl7_dtm_part_s {
    const char *name;
    int min, max;
} nb__hl7_dtm_part_t;

/* The date and time parts, two digits each after the year, up to the first that is not
 * there. @returns NULL, or what is wrong with *i where: a part's name when it is out of range. */
static const char *nb__hl7_dtm_parts(const char *s, size_t len, size_t *i, nb_hl7_dtm_t *t)
{
    static const nb__hl7_dtm_part_t parts[] = {
        {"month", 1, 12}, {"day", 1, 31}, {"hour", 0, 23}, {"minute", 0, 59}, {"second", 0, 59}};
    int *slot[] = {&t->month, &t->day, &t->hour, &t->minute, &t->second};
    if (!nb__hl7_digits(s, len, i, 4, &t->year))
        return "the year is not 4 digits";
    t->precision = NB_HL7_YEAR;
    for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            break;
        int v;
        if (!nb__hl7_digits(s, len, i, 2, &v))
            return "a part is 1 digit where HL7 has 2";
        if (v < parts[k].min || v > parts[k].max) {
            *i -= 2;
            return parts[k].name;
        }
        if (k == 1 && v > nb__hl7_days_in_month(t->year, t->month)) {
            *i -= 2;
            return "the day is past the end of its month";
        }
        *slot[k] = v;
        t->precision = (nb_hl7_precision_t)(NB_HL7_MONTH + k);
    }
    return NULL;
}

nb_err_t nb_hl7_dtm_parse(const char *s, size_t len, nb_hl7_dtm_t *out, char *errstr,
                          size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    out->month = out->day = 1;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    const char *why = len == i ? "it is empty" : nb__hl7_dtm_parts(s, len, &i, out);
    if (!why && i < len && s[i] == '.') {
        size_t start = ++i;
        if (out->precision != NB_HL7_SECOND)
            why = "a fraction of a second without the seconds";
        while (!why && i < len && s[i] >= '0' && s[i] <= '9' && i - start < 4)
            out->frac = out->frac * 10 + (s[i++] - '0');
        out->frac_digits = (int)(i - start);
        if (!why && (out->frac_digits == 0 || (i < len && s[i] >= '0' && s[i] <= '9')))
            why = "the fraction of a second is not 1 to 4 digits";
        out->precision = NB_HL7_FRACTION;
    }
    if (!why && i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, hh, mm;
        if (!nb__hl7_digits(s, len, &i, 2, &hh) || !nb__hl7_digits(s, len, &i, 2, &mm))
            why = "the time zone offset is not 4 digits";
        else if (hh > 14 || mm > 59 || (hh == 14 && mm > 0))
            why = "the time zone offset is beyond 14 hours";
        else {
            out->has_zone = true;
            out->zone_minutes = sign * (hh * 60 + mm);
        }
    }
    if (!why && i < len)
        why = "it goes on after the date/time";
    if (!why)
        return NB_ERR_OK;
    memset(out, 0, sizeof(*out));
    return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_TIMESTAMP, "date/time, character %zu: %s%s",
                        i + 1, why, strchr(why, ' ') ? "" : " is out of range");
}

int nb_hl7_dtm_ms(const nb_hl7_dtm_t *t)
{
    int ms = t->frac;
    for (int d = t->frac_digits; d < 3; d++)
        ms *= 10;
    for (int d = t->frac_digits; d > 3; d--)
        ms /= 10;
    return ms;
}
