/*
 * notbrought - event: enum names, NHS number rules, calendar arithmetic.
 */
#include "notbrought/event.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* nb_<enum>_name() and nb_<enum>_parse() from the same symbol table. */
#define NB__STR(sym, str) str,
#define NB__ENUM_FUNCS(type, MAP)                                                                  \
    static const char *const type##_names[] = {MAP(NB__STR)};                                     \
    const char *type##_name(type##_t v)                                                            \
    {                                                                                              \
        if ((int)v < 0 || (size_t)v >= sizeof(type##_names) / sizeof(type##_names[0]))            \
            return "?";                                                                            \
        return type##_names[v];                                                                    \
    }                                                                                              \
    bool type##_parse(const char *s, type##_t *out)                                                \
    {                                                                                              \
        if (!s)                                                                                    \
            return false;                                                                          \
        for (size_t i = 0; i < sizeof(type##_names) / sizeof(type##_names[0]); i++) {              \
            if (strcmp(s, type##_names[i]) == 0) {                                                 \
                *out = (type##_t)i;                                                                \
                return true;                                                                       \
            }                                                                                      \
        }                                                                                          \
        return false;                                                                              \
    }

NB__ENUM_FUNCS(nb_agency, NB_AGENCY_MAP)
NB__ENUM_FUNCS(nb_status, NB_STATUS_MAP)
NB__ENUM_FUNCS(nb_subject_kind, NB_SUBJECT_KIND_MAP)
NB__ENUM_FUNCS(nb_contact_mode, NB_CONTACT_MODE_MAP)
NB__ENUM_FUNCS(nb_link_kind, NB_LINK_KIND_MAP)
NB__ENUM_FUNCS(nb_verification, NB_VERIFICATION_MAP)
NB__ENUM_FUNCS(nb_fact_kind, NB_FACT_KIND_MAP)
NB__ENUM_FUNCS(nb_fact_status, NB_FACT_STATUS_MAP)
NB__ENUM_FUNCS(nb_notification_kind, NB_NOTIFICATION_KIND_MAP)
NB__ENUM_FUNCS(nb_tier, NB_TIER_MAP)
NB__ENUM_FUNCS(nb_ack_action, NB_ACK_ACTION_MAP)
NB__ENUM_FUNCS(nb_demo_field, NB_DEMO_FIELD_MAP)
NB__ENUM_FUNCS(nb_ack_intent, NB_ACK_INTENT_MAP)
NB__ENUM_FUNCS(nb_audit_kind, NB_AUDIT_KIND_MAP)

static const char *const nb__record_names[NB_RECORD__COUNT] = {
    [NB_RECORD_NONE] = "none",
    [NB_RECORD_APPOINTMENT] = "org.notbrought.v1.AppointmentEvent",
    [NB_RECORD_IDENTITY_LINK] = "org.notbrought.v1.IdentityLink",
    [NB_RECORD_CONTEXT_FACT] = "org.notbrought.v1.ContextFact",
    [NB_RECORD_NOTIFICATION] = "org.notbrought.v1.Notification",
    [NB_RECORD_ACK] = "org.notbrought.v1.NotificationAck",
    [NB_RECORD_SUGGESTION] = "org.notbrought.v1.IdentitySuggestion",
    [NB_RECORD_AUDIT] = "org.notbrought.v1.AuditRecord",
};

const char *nb_record_type_name(nb_record_type_t t)
{
    if ((int)t < 0 || t >= NB_RECORD__COUNT)
        return "?";
    return nb__record_names[t];
}

bool nb_status_is_missed(nb_status_t st)
{
    return st == NB_STATUS_WAS_NOT_BROUGHT || st == NB_STATUS_NO_ACCESS_VISIT;
}

bool nb_identifier_present(const nb_identifier_t *id)
{
    return id->system[0] != '\0' && id->value[0] != '\0';
}

nb_err_t nb_nhs_normalise(const char *in, char out[NB_NHS_LEN + 1])
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = in; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p < '0' || *p > '9' || n == NB_NHS_LEN) {
            out[0] = '\0';
            return NB_ERR_NHS_FORMAT;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
    if (n != NB_NHS_LEN) {
        out[0] = '\0';
        return NB_ERR_NHS_FORMAT;
    }
    return NB_ERR_OK;
}

int nb_nhs_check_digit(const char *nine)
{
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        if (nine[i] < '0' || nine[i] > '9')
            return -1;
        sum += (nine[i] - '0') * (10 - i);
    }
    int check = 11 - (sum % 11);
    if (check == 11)
        return 0;
    if (check == 10)
        return -1;
    return check;
}

nb_err_t nb_nhs_validate(const char *nhs)
{
    if (strlen(nhs) != NB_NHS_LEN)
        return NB_ERR_NHS_FORMAT;
    for (int i = 0; i < NB_NHS_LEN; i++)
        if (nhs[i] < '0' || nhs[i] > '9')
            return NB_ERR_NHS_FORMAT;
    /* One digit ten times passes Modulus 11 (the weights sum to 54, 1 less than 55) and is
     * never issued: systems send 0000000000 or 9999999999 for "not known". */
    int same = 1;
    while (same < NB_NHS_LEN && nhs[same] == nhs[0])
        same++;
    if (same == NB_NHS_LEN)
        return NB_ERR_NHS_PLACEHOLDER;
    int check = nb_nhs_check_digit(nhs);
    if (check < 0 || check != nhs[9] - '0')
        return NB_ERR_NHS_CHECK_DIGIT;
    return NB_ERR_OK;
}

bool nb_nhs_is_test_range(const char *nhs)
{
    return strncmp(nhs, "999", 3) == 0;
}

nb_err_t nb_strlcpy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap) {
        dst[0] = '\0';
        return NB_ERR_FIELD_TOO_LONG;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return NB_ERR_OK;
}

void nb_str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Howard Hinnant's days_from_civil / civil_from_days (public-domain algorithms). */
int32_t nb_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

void nb_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d)
{
    /* 64-bit arithmetic: every int32 day count converts without overflow. */
    const int64_t z = (int64_t)days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

int32_t nb_day_of(int64_t ms)
{
    int64_t d = ms / NB_MS_PER_DAY;
    if (ms % NB_MS_PER_DAY < 0)
        d--;
    if (d < INT32_MIN + 1) /* INT32_MIN is NB_DATE_NONE */
        return INT32_MIN + 1;
    if (d > INT32_MAX)
        return INT32_MAX;
    return (int32_t)d;
}

/* Days of 0000-01-01 and 9999-12-31: the calendar's four-digit years. Outside them a value is
 * printed as a plain number, so a corrupt timestamp is shown as what it is. */
#define NB__FIRST_DAY (-719528)
#define NB__LAST_DAY 2932896

void nb_format_date(int32_t days, char *buf, size_t size)
{
    int y;
    unsigned m, d;
    if (days == NB_DATE_NONE) {
        snprintf(buf, size, "-");
        return;
    }
    if (days < NB__FIRST_DAY || days > NB__LAST_DAY) {
        snprintf(buf, size, "day %" PRId32, days);
        return;
    }
    nb_civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04d-%02u-%02u", y, m, d);
}

void nb_format_time(int64_t ms, char *buf, size_t size)
{
    if (ms == NB_TIME_NONE) {
        snprintf(buf, size, "-");
        return;
    }
    int64_t days = ms / NB_MS_PER_DAY;
    if (ms % NB_MS_PER_DAY < 0)
        days--;
    if (days < NB__FIRST_DAY || days > NB__LAST_DAY) {
        snprintf(buf, size, "%" PRId64 " ms", ms);
        return;
    }
    int64_t rem = ms - days * NB_MS_PER_DAY;
    int y;
    unsigned m, d;
    nb_civil_from_days((int32_t)days, &y, &m, &d);
    snprintf(buf, size, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d, (int)(rem / 3600000),
             (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}

static bool nb__digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool nb__valid_ymd(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

bool nb_parse_date(const char *s, int32_t *days)
{
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !nb__digits(s, 4, &y) ||
        !nb__digits(s + 5, 2, &m) || !nb__digits(s + 8, 2, &d) || !nb__valid_ymd(y, m, d))
        return false;
    *days = nb_days_from_civil(y, (unsigned)m, (unsigned)d);
    return true;
}

bool nb_parse_time(const char *s, int64_t *ms)
{
    char date[11];
    int32_t days;
    int hh = 0, mi = 0, ss = 0, mss = 0;
    size_t len = strlen(s);
    if (len < 10)
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!nb_parse_date(date, &days))
        return false;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!nb__digits(p, 2, &hh) || p[2] != ':' || !nb__digits(p + 3, 2, &mi))
            return false;
        p += 5;
        if (*p == ':') {
            if (!nb__digits(p + 1, 2, &ss))
                return false;
            p += 3;
            if (*p == '.') {
                if (!nb__digits(p + 1, 3, &mss))
                    return false;
                p += 4;
            }
        }
        if (*p == 'Z')
            p++;
        else if (strncmp(p, "+00:00", 6) == 0)
            p += 6;
        else
            return false;
        if (hh > 23 || mi > 59 || ss > 60)
            return false;
    }
    if (*p != '\0')
        return false;
    *ms = (int64_t)days * NB_MS_PER_DAY + hh * 3600000LL + mi * 60000LL + ss * 1000LL + mss;
    return true;
}

int32_t nb_age_months(int32_t dob, int32_t on_day)
{
    int y1, y2;
    unsigned m1, m2, d1, d2;
    nb_civil_from_days(dob, &y1, &m1, &d1);
    nb_civil_from_days(on_day, &y2, &m2, &d2);
    int32_t months = (y2 - y1) * 12 + ((int)m2 - (int)m1);
    if (on_day >= dob) {
        if (d2 < d1)
            months--;
    } else if (d2 > d1) {
        months++;
    }
    return months;
}

bool nb_ack_action_parse_any(const char *s, nb_ack_action_t *out)
{
    if (s && strcmp(s, "seen") == 0) {
        *out = NB_ACK_OTHER;
        return true;
    }
    return nb_ack_action_parse(s, out);
}
