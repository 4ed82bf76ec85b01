/*
 * notbrought - report: counting AuditRecords into the board's figures (docs/reporting.md
 * "Report" says what each figure means).
 */
#include "report/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB__REPORT_TABLES 8

/* The latest version of an appointment seen. */
typedef struct nb__appt_s {
    int64_t start;
    int32_t version;
    int8_t agency; /* -1 unknown */
    uint8_t status;
} nb__appt_t;

/* A notification that asks for a response ('fired'), raised in the period. */
typedef struct nb__notif_s {
    int64_t raised;
    int64_t respond_by;
    int64_t first_ack; /* NB_TIME_NONE until the first taken or closed verdict */
    uint32_t group;
} nb__notif_t;

/* A table with the storage behind it. */
typedef struct nb__table_s {
    nb_report_table_t pub;
    char **rows;
    double *values;
} nb__table_t;

/* Counters of the breakdown groups (nb__names_t counts). */
enum { NB__G_RAISED, NB__G_SHADOW, NB__G_FIRED, NB__G_DIGESTED };

struct nb_report_s {
    int64_t from, to;
    nb_report_by_t by;
    bool finished;
    nb__map_t appt_map;
    nb__appt_t *appts;
    size_t n_appts, cap_appts;
    nb__map_t notif_map;
    nb__notif_t *notifs;
    size_t n_notifs, cap_notifs;
    nb__names_t groups;    /* the --by breakdown */
    nb__names_t rule_tier; /* "rule / tier" */
    nb__names_t rungs, reasons, sources, dead;
    uint64_t *received_ids; /* hashes of the event ids received, any time */
    size_t n_received, cap_received;
    uint64_t *parked_ids; /* hashes of the event ids parked in the period */
    size_t n_parked, cap_parked;
    nb__table_t tables[NB__REPORT_TABLES];
    size_t n_tables;
    nb_report_counts_t counts;
};

#define NB__REPORT_BY_NAME(sym, str) str,
static const char *const nb__by_names[] = {NB_REPORT_BY_MAP(NB__REPORT_BY_NAME)};

const char *nb_report_by_name(nb_report_by_t by)
{
    return (unsigned)by < NB_REPORT_BY__COUNT ? nb__by_names[by] : "?";
}

bool nb_report_by_parse(const char *s, nb_report_by_t *out)
{
    for (int i = 0; s && i < NB_REPORT_BY__COUNT; i++)
        if (strcmp(s, nb__by_names[i]) == 0) {
            *out = (nb_report_by_t)i;
            return true;
        }
    return false;
}

static nb_report_str_t nb__str(const char *s)
{
    return (nb_report_str_t){s, strlen(s)};
}

void nb_report_rec_from_audit(const nb_audit_t *a, nb_report_rec_t *out)
{
    out->kind = a->kind;
    out->at = a->at;
    out->notification_id = nb__str(a->notification_id);
    out->rule = nb__str(a->rule_id);
    out->tier = a->tier;
    out->level = a->level;
    out->agency = a->agency;
    out->organisation = nb__str(a->organisation);
    out->respond_by = a->respond_by;
    out->reason = nb__str(a->reason);
    out->has_event = a->has_event;
    out->event_id = nb__str(a->has_event ? a->event.event_id : "");
    out->context = a->has_event && a->event.context;
    out->appointment_id = nb__str(a->has_event ? a->event.appointment_id : "");
    out->status = nb__str(a->has_event ? a->event.status : "");
    out->scheduled_start = a->has_event ? a->event.scheduled_start : NB_TIME_NONE;
    out->version = a->has_event ? a->event.version : 0;
    out->source_system = nb__str(a->has_event ? a->event.source_system : "");
    out->nhs_number_known = a->has_event && a->event.nhs_number_known;
}

nb_report_t *nb_report_new(int64_t from_ms, int64_t to_ms, nb_report_by_t by)
{
    nb_report_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->from = from_ms;
    r->to = to_ms;
    r->by = by;
    return r;
}

void nb_report_destroy(nb_report_t *r)
{
    if (!r)
        return;
    nb__map_free(&r->appt_map);
    nb__map_free(&r->notif_map);
    free(r->appts);
    free(r->notifs);
    nb__names_t *names[] = {&r->groups,  &r->rule_tier, &r->rungs,
                            &r->reasons, &r->sources,   &r->dead};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        nb__names_free(names[i]);
    free(r->received_ids);
    free(r->parked_ids);
    for (size_t i = 0; i < r->n_tables; i++) {
        for (size_t j = 0; j < r->tables[i].pub.n_rows; j++)
            free(r->tables[i].rows[j]);
        free(r->tables[i].rows);
        free(r->tables[i].values);
    }
    free(r);
}

NB_NODISCARD static nb_err_t nb__push_id(uint64_t **arr, size_t *n, size_t *cap, uint64_t id)
{
    if (nb_grow((void **)arr, cap, *n, sizeof(**arr), 1024))
        return NB_ERR_NOMEM;
    (*arr)[(*n)++] = id;
    return NB_ERR_OK;
}

static bool nb__in(const nb_report_t *r, int64_t t)
{
    return t != NB_TIME_NONE && t >= r->from && t < r->to;
}

static bool nb__is(nb_report_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* The appointment's latest version wins; an older version read later changes nothing. */
NB_NODISCARD static nb_err_t nb__add_appointment(nb_report_t *r, const nb_report_rec_t *rec)
{
    if (rec->appointment_id.len == 0)
        return NB_ERR_OK;
    uint64_t h = nb__report_hash(NB__FNV_SEED, rec->source_system.p, rec->source_system.len);
    h = nb__report_hash(h, "\x1f", 1);
    h = nb__report_hash(h, rec->appointment_id.p, rec->appointment_id.len);
    uint8_t status = NB_STATUS__COUNT;
    if (nb__is(rec->status, "was_not_brought"))
        status = NB_STATUS_WAS_NOT_BROUGHT;
    else if (nb__is(rec->status, "no_access_visit"))
        status = NB_STATUS_NO_ACCESS_VISIT;
    else if (nb__is(rec->status, "entered_in_error"))
        status = NB_STATUS_ENTERED_IN_ERROR;
    nb__appt_t a = {rec->scheduled_start, rec->version,
                    (int8_t)(rec->agency >= 0 && rec->agency < NB_AGENCY__COUNT ? rec->agency : -1),
                    status};
    uint32_t i = nb__map_find(&r->appt_map, h);
    if (i != UINT32_MAX) {
        if (rec->version >= r->appts[i].version)
            r->appts[i] = a;
        return NB_ERR_OK;
    }
    if (r->n_appts >= UINT32_MAX - 1 ||
        nb_grow((void **)&r->appts, &r->cap_appts, r->n_appts, sizeof(*r->appts), 1024))
        return NB_ERR_NOMEM;
    r->appts[r->n_appts] = a;
    nb_err_t err = nb__map_put(&r->appt_map, h, (uint32_t)r->n_appts);
    if (!err)
        r->n_appts++;
    return err;
}

NB_NODISCARD static nb_err_t nb__add_received(nb_report_t *r, const nb_report_rec_t *rec)
{
    if (!rec->has_event)
        return NB_ERR_OK;
    nb_err_t err = nb__push_id(&r->received_ids, &r->n_received, &r->cap_received,
                               nb__report_hash(NB__FNV_SEED, rec->event_id.p, rec->event_id.len));
    if (!err && nb__in(r, rec->at)) {
        int32_t s = nb__names_get(&r->sources, rec->source_system.p, rec->source_system.len);
        if (s < 0)
            return NB_ERR_NOMEM;
        r->sources.counts[s][0]++;
        if (!rec->nhs_number_known)
            r->sources.counts[s][1]++;
    }
    if (!err && !rec->context)
        err = nb__add_appointment(r, rec);
    return err;
}

/* The name of the breakdown group a notification falls in. */
static nb_report_str_t nb__group_of(const nb_report_t *r, const nb_report_rec_t *rec)
{
    nb_report_str_t s = {"", 0};
    switch (r->by) {
    case NB_REPORT_BY_AGENCY:
        s = nb__str(rec->agency >= 0 ? nb_agency_name((nb_agency_t)rec->agency) : "");
        break;
    case NB_REPORT_BY_RULE:
        s = rec->rule;
        break;
    case NB_REPORT_BY_TIER:
        s = nb__str(rec->tier >= 0 ? nb_tier_name((nb_tier_t)rec->tier) : "");
        break;
    case NB_REPORT_BY_ORGANISATION:
    case NB_REPORT_BY__COUNT:
        s = rec->organisation;
        break;
    }
    return s.len ? s : nb__str("unknown");
}

NB_NODISCARD static nb_err_t nb__add_raised(nb_report_t *r, const nb_report_rec_t *rec)
{
    uint64_t h = nb__report_hash(NB__FNV_SEED, rec->notification_id.p, rec->notification_id.len);
    if (rec->kind == NB_AUDIT_FIRED && nb__map_find(&r->notif_map, h) != UINT32_MAX)
        return NB_ERR_OK; /* the same raise read twice */
    nb_report_str_t g = nb__group_of(r, rec);
    int32_t gi = nb__names_get(&r->groups, g.p, g.len);
    char rt[2 * NB_ID_MAX + 8];
    const char *tier = rec->tier >= 0 ? nb_tier_name((nb_tier_t)rec->tier) : "none";
    int n = snprintf(rt, sizeof(rt), "%.*s / %s",
                     (int)(rec->rule.len < NB_ID_MAX ? rec->rule.len : NB_ID_MAX),
                     rec->rule.len ? rec->rule.p : "unknown", tier);
    int32_t ti = nb__names_get(&r->rule_tier, rt, n > 0 ? (size_t)n : 0);
    if (gi < 0 || ti < 0)
        return NB_ERR_NOMEM;
    r->groups.counts[gi][NB__G_RAISED]++;
    r->rule_tier.counts[ti][0]++;
    r->counts.notifications++;
    if (rec->kind == NB_AUDIT_DIGESTED)
        r->groups.counts[gi][NB__G_DIGESTED]++;
    if (rec->kind != NB_AUDIT_FIRED)
        return NB_ERR_OK;
    r->groups.counts[gi][NB__G_FIRED]++;
    if (r->n_notifs >= UINT32_MAX - 1 ||
        nb_grow((void **)&r->notifs, &r->cap_notifs, r->n_notifs, sizeof(*r->notifs), 1024))
        return NB_ERR_NOMEM;
    r->notifs[r->n_notifs] = (nb__notif_t){rec->at, rec->respond_by, NB_TIME_NONE, (uint32_t)gi};
    nb_err_t err = nb__map_put(&r->notif_map, h, (uint32_t)r->n_notifs);
    if (!err)
        r->n_notifs++;
    return err;
}

NB_NODISCARD static nb_err_t nb__count(nb__names_t *t, nb_report_str_t name, const char *none)
{
    if (!name.len)
        name = nb__str(none);
    int32_t i = nb__names_get(t, name.p, name.len);
    if (i < 0)
        return NB_ERR_NOMEM;
    t->counts[i][0]++;
    return NB_ERR_OK;
}

/* The kind of a withdrawal's reason: its words without "No action needed: withdrawn because"
 * and without the details in brackets that name one appointment ("... entered in error (GP
 * appointment A1 at Y01234, now entered in error)."), so that withdrawals group by why. */
static nb_report_str_t nb__reason_kind(nb_report_str_t s)
{
    static const char *const prefixes[] = {"No action needed: ", "withdrawn because ",
                                           "Withdrawn because "};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);
        if (s.len >= n && memcmp(s.p, prefixes[i], n) == 0) {
            s.p += n;
            s.len -= n;
        }
    }
    for (size_t i = 0; i + 1 < s.len; i++)
        if (s.p[i] == ' ' && s.p[i + 1] == '(') {
            s.len = i;
            break;
        }
    while (s.len > 0 && (s.p[s.len - 1] == '.' || s.p[s.len - 1] == ' '))
        s.len--;
    return s;
}

nb_err_t nb_report_add(nb_report_t *r, const nb_report_rec_t *rec)
{
    if (r->finished)
        return NB_ERR_INVALID_ARG;
    r->counts.records++;
    bool in = nb__in(r, rec->at);
    switch (rec->kind) {
    case NB_AUDIT_RECEIVED:
        return nb__add_received(r, rec);
    case NB_AUDIT_PARKED:
        if (!in || !rec->has_event)
            return NB_ERR_OK;
        return nb__push_id(&r->parked_ids, &r->n_parked, &r->cap_parked,
                           nb__report_hash(NB__FNV_SEED, rec->event_id.p, rec->event_id.len));
    case NB_AUDIT_FIRED:
    case NB_AUDIT_FIRED_CLOSED:
    case NB_AUDIT_DIGESTED:
        return in ? nb__add_raised(r, rec) : NB_ERR_OK;
    case NB_AUDIT_SHADOW: {
        if (!in)
            return NB_ERR_OK;
        nb_report_str_t g = nb__group_of(r, rec);
        int32_t gi = nb__names_get(&r->groups, g.p, g.len);
        if (gi < 0)
            return NB_ERR_NOMEM;
        r->groups.counts[gi][NB__G_SHADOW]++;
        return NB_ERR_OK;
    }
    case NB_AUDIT_TAKEN:
    case NB_AUDIT_CLOSED: {
        uint32_t i =
            nb__map_find(&r->notif_map, nb__report_hash(NB__FNV_SEED, rec->notification_id.p,
                                                        rec->notification_id.len));
        if (i == UINT32_MAX)
            r->counts.orphan_verdicts++;
        else if (r->notifs[i].first_ack == NB_TIME_NONE || rec->at < r->notifs[i].first_ack)
            r->notifs[i].first_ack = rec->at;
        return NB_ERR_OK;
    }
    case NB_AUDIT_ESCALATED: {
        if (!in)
            return NB_ERR_OK;
        char rung[16];
        int n = snprintf(rung, sizeof(rung), "%d", rec->level > 0 ? (int)rec->level : 0);
        return nb__count(&r->rungs, (nb_report_str_t){rung, (size_t)n}, "0");
    }
    case NB_AUDIT_WITHDRAWN:
        return in ? nb__count(&r->reasons, nb__reason_kind(rec->reason), "unstated") : NB_ERR_OK;
    default:
        return NB_ERR_OK;
    }
}

nb_err_t nb_report_add_audit(nb_report_t *r, const nb_audit_t *a)
{
    nb_report_rec_t rec;
    nb_report_rec_from_audit(a, &rec);
    return nb_report_add(r, &rec);
}

nb_err_t nb_report_add_dead_letter(nb_report_t *r, const char *code, int64_t at)
{
    if (r->finished)
        return NB_ERR_INVALID_ARG;
    r->counts.dead_letters++;
    if (!nb__in(r, at))
        return NB_ERR_OK;
    return nb__count(&r->dead, nb__str(code ? code : ""), "unclassified");
}

void nb_report_counts(const nb_report_t *r, nb_report_counts_t *out)
{
    *out = r->counts;
    out->appointments = r->n_appts;
}

size_t nb_report_n_tables(const nb_report_t *r)
{
    return r->n_tables;
}

const nb_report_table_t *nb_report_table(const nb_report_t *r, size_t i)
{
    return i < r->n_tables ? &r->tables[i].pub : NULL;
}

const nb_report_table_t *nb_report_find(const nb_report_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_tables; i++)
        if (strcmp(r->tables[i].pub.name, name) == 0)
            return &r->tables[i].pub;
    return NULL;
}

double nb_report_value(const nb_report_t *r, const char *table, const char *group,
                       const char *measure)
{
    const nb_report_table_t *t = nb_report_find(r, table);
    if (!t)
        return NAN;
    for (size_t m = 0; m < t->n_measures; m++) {
        if (strcmp(t->measures[m], measure) != 0)
            continue;
        for (size_t i = 0; i < t->n_rows; i++)
            if (strcmp(t->rows[i], group) == 0)
                return t->values[i * t->n_measures + m];
    }
    return NAN;
}

/* ---- the tables ------------------------------------------------------------------------- */

/* A new table of @p n_rows rows (values NAN). @returns it, or NULL out of memory. */
static nb__table_t *nb__table_new(nb_report_t *r, const char *name, const char *title,
                                  const char *group, const char *const *measures,
                                  const int *decimals, size_t n_measures, size_t n_rows)
{
    if (r->n_tables == NB__REPORT_TABLES || n_measures > NB_REPORT_MAX_MEASURES)
        return NULL;
    nb__table_t *t = &r->tables[r->n_tables];
    memset(t, 0, sizeof(*t));
    t->rows = calloc(n_rows ? n_rows : 1, sizeof(*t->rows));
    t->values = malloc((n_rows ? n_rows : 1) * n_measures * sizeof(*t->values));
    if (!t->rows || !t->values) {
        free(t->rows);
        free(t->values);
        return NULL;
    }
    for (size_t i = 0; i < n_rows * n_measures; i++)
        t->values[i] = NAN;
    t->pub.name = name;
    t->pub.title = title;
    t->pub.group = group;
    t->pub.n_measures = n_measures;
    for (size_t m = 0; m < n_measures; m++) {
        t->pub.measures[m] = measures[m];
        t->pub.decimals[m] = decimals[m];
    }
    t->pub.rows = (const char **)t->rows;
    t->pub.values = t->values;
    r->n_tables++;
    return t;
}

/* Sets row @p i's name (copied). @returns 0, or -1 out of memory. */
static int nb__row(nb__table_t *t, size_t i, const char *name)
{
    size_t len = strlen(name);
    t->rows[i] = malloc(len + 1);
    if (!t->rows[i])
        return -1;
    memcpy(t->rows[i], name, len + 1);
    if (i + 1 > t->pub.n_rows)
        t->pub.n_rows = i + 1;
    return 0;
}

/* A table of a name table's counters (counters 0..n_measures-1), and a total row "all". */
NB_NODISCARD static nb_err_t nb__names_table(nb_report_t *r, const nb__names_t *names,
                                             const char *name, const char *title, const char *group,
                                             const char *const *measures, size_t n_measures)
{
    static const int counts[NB_REPORT_MAX_MEASURES] = {0};
    size_t *order = nb__names_sorted(names);
    nb__table_t *t =
        order ? nb__table_new(r, name, title, group, measures, counts, n_measures, names->n + 1)
              : NULL;
    if (!t) {
        free(order);
        return NB_ERR_NOMEM;
    }
    double *all = &t->values[names->n * n_measures];
    for (size_t m = 0; m < n_measures; m++)
        all[m] = 0;
    for (size_t i = 0; i < names->n; i++) {
        if (nb__row(t, i, names->names[order[i]]) != 0) {
            free(order);
            return NB_ERR_NOMEM;
        }
        for (size_t m = 0; m < n_measures; m++) {
            t->values[i * n_measures + m] = (double)names->counts[order[i]][m];
            all[m] += (double)names->counts[order[i]][m];
        }
    }
    free(order);
    return nb__row(t, names->n, "all") == 0 ? NB_ERR_OK : NB_ERR_NOMEM;
}

/* Appointments and was-not-brought by agency, over appointments scheduled in the period (each
 * once, at its latest version; those entered in error left out). */
NB_NODISCARD static nb_err_t nb__finish_appointments(nb_report_t *r)
{
    static const char *const measures[] = {"appointments", "was_not_brought", "no_access_visit",
                                           "was_not_brought_per_1000"};
    static const int decimals[] = {0, 0, 0, 1};
    double c[NB_AGENCY__COUNT + 2][3] = {{0}}; /* agencies, unknown, all */
    for (size_t i = 0; i < r->n_appts; i++) {
        const nb__appt_t *a = &r->appts[i];
        if (!nb__in(r, a->start) || a->status == NB_STATUS_ENTERED_IN_ERROR)
            continue;
        size_t g = a->agency >= 0 ? (size_t)a->agency : NB_AGENCY__COUNT;
        for (size_t k = 0; k < 2; k++) {
            size_t row = k ? NB_AGENCY__COUNT + 1 : g;
            c[row][0]++;
            c[row][1] += a->status == NB_STATUS_WAS_NOT_BROUGHT;
            c[row][2] += a->status == NB_STATUS_NO_ACCESS_VISIT;
        }
    }
    size_t n_rows = 0;
    for (size_t g = 0; g < NB_AGENCY__COUNT + 2; g++)
        n_rows += c[g][0] > 0 || g == NB_AGENCY__COUNT + 1;
    nb__table_t *t = nb__table_new(r, "appointments", "Appointments and was-not-brought by agency",
                                   "agency", measures, decimals, 4, n_rows);
    if (!t)
        return NB_ERR_NOMEM;
    size_t row = 0;
    for (size_t g = 0; g < NB_AGENCY__COUNT + 2; g++) {
        if (c[g][0] == 0 && g != NB_AGENCY__COUNT + 1)
            continue;
        const char *name = g < NB_AGENCY__COUNT    ? nb_agency_name((nb_agency_t)g)
                           : g == NB_AGENCY__COUNT ? "unknown"
                                                   : "all";
        if (nb__row(t, row, name) != 0)
            return NB_ERR_NOMEM;
        double *v = &t->values[row * 4];
        v[0] = c[g][0];
        v[1] = c[g][1];
        v[2] = c[g][2];
        v[3] = c[g][0] > 0 ? 1000.0 * c[g][1] / c[g][0] : NAN;
        t->pub.chart = 3;
        row++;
    }
    return NB_ERR_OK;
}

typedef struct nb__ack_s {
    uint32_t group;
    int64_t ms;
} nb__ack_t;

static int nb__cmp_ack(const void *a, const void *b)
{
    const nb__ack_t *x = a, *y = b;
    if (x->group != y->group)
        return (x->group > y->group) - (x->group < y->group);
    return (x->ms > y->ms) - (x->ms < y->ms);
}

static int nb__cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One row of the notifications table: @p acks the sorted times to acknowledge of its group. */
static void nb__notif_row(double *v, const uint64_t *g, const uint64_t within[2],
                          const int64_t *acks, size_t n_acks)
{
    v[0] = (double)g[NB__G_RAISED];
    v[1] = (double)g[NB__G_DIGESTED];
    v[2] = (double)g[NB__G_SHADOW];
    v[3] = (double)g[NB__G_FIRED];
    v[4] = (double)n_acks;
    v[5] = (double)within[0];
    v[6] = (double)within[1];
    v[7] = within[0] ? (double)within[1] / (double)within[0] : NAN;
    v[8] = nb__report_quantile(acks, n_acks, 0.5) / 60000.0;
    v[9] = nb__report_quantile(acks, n_acks, 0.9) / 60000.0;
}

/* Notifications raised in the period by the breakdown, their acknowledgement and its time. */
NB_NODISCARD static nb_err_t nb__finish_notifications(nb_report_t *r)
{
    enum { NM = 10 };
    static const char *const measures[NM] = {"raised",
                                             "digested",
                                             "shadow",
                                             "asked_response",
                                             "acknowledged",
                                             "with_respond_by",
                                             "acknowledged_within_respond_by",
                                             "share_within_respond_by",
                                             "median_minutes_to_acknowledge",
                                             "p90_minutes_to_acknowledge"};
    static const int decimals[NM] = {0, 0, 0, 0, 0, 0, 0, 3, 1, 1};
    size_t ng = r->groups.n;
    nb__ack_t *acks = malloc((r->n_notifs ? r->n_notifs : 1) * sizeof(*acks));
    int64_t *ms = malloc((r->n_notifs ? r->n_notifs : 1) * sizeof(*ms));
    uint64_t(*within)[2] = calloc(ng + 1, sizeof(*within));
    size_t *order = nb__names_sorted(&r->groups);
    nb__table_t *t = acks && ms && within && order
                         ? nb__table_new(r, "notifications", "Notifications raised",
                                         nb_report_by_name(r->by), measures, decimals, NM, ng + 1)
                         : NULL;
    nb_err_t err = t ? NB_ERR_OK : NB_ERR_NOMEM;
    size_t n_acks = 0;
    for (size_t i = 0; !err && i < r->n_notifs; i++) {
        const nb__notif_t *n = &r->notifs[i];
        bool acked = n->first_ack != NB_TIME_NONE;
        if (acked)
            acks[n_acks++] = (nb__ack_t){n->group, n->first_ack - n->raised};
        if (n->respond_by != NB_TIME_NONE) {
            uint64_t in_time = acked && n->first_ack <= n->respond_by;
            within[n->group][0]++;
            within[n->group][1] += in_time;
            within[ng][0]++;
            within[ng][1] += in_time;
        }
    }
    if (!err)
        qsort(acks, n_acks, sizeof(*acks), nb__cmp_ack);
    uint64_t total[NB__NAME_COUNTERS] = {0};
    for (size_t i = 0; !err && i < ng; i++) {
        size_t g = order[i], lo = 0, hi;
        while (lo < n_acks && acks[lo].group != g)
            lo++;
        for (hi = lo; hi < n_acks && acks[hi].group == g; hi++)
            ms[hi - lo] = acks[hi].ms;
        for (size_t k = 0; k < NB__NAME_COUNTERS; k++)
            total[k] += r->groups.counts[g][k];
        if (nb__row(t, i, r->groups.names[g]) != 0)
            err = NB_ERR_NOMEM;
        else
            nb__notif_row(&t->values[i * NM], r->groups.counts[g], within[g], ms, hi - lo);
    }
    for (size_t i = 0; !err && i < n_acks; i++)
        ms[i] = acks[i].ms;
    if (!err) {
        qsort(ms, n_acks, sizeof(*ms), nb__cmp_i64);
        err = nb__row(t, ng, "all") == 0 ? NB_ERR_OK : NB_ERR_NOMEM;
    }
    if (!err)
        nb__notif_row(&t->values[ng * NM], total, within[ng], ms, n_acks);
    free(acks);
    free(ms);
    free(within);
    free(order);
    return err;
}

static int nb__cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Events parked in the period, and whether each was received under a child's key since. */
NB_NODISCARD static nb_err_t nb__finish_identities(nb_report_t *r)
{
    static const char *const measures[] = {"parked", "resolved", "unresolved"};
    static const int decimals[] = {0, 0, 0};
    if (r->n_received) /* qsort() and bsearch() take no NULL, even for nothing */
        qsort(r->received_ids, r->n_received, sizeof(uint64_t), nb__cmp_u64);
    if (r->n_parked)
        qsort(r->parked_ids, r->n_parked, sizeof(uint64_t), nb__cmp_u64);
    double parked = 0, resolved = 0;
    for (size_t i = 0; i < r->n_parked; i++) {
        if (i > 0 && r->parked_ids[i] == r->parked_ids[i - 1])
            continue; /* parked twice (a restart): one event */
        parked++;
        resolved += r->n_received > 0 && bsearch(&r->parked_ids[i], r->received_ids, r->n_received,
                                                 sizeof(uint64_t), nb__cmp_u64) != NULL;
    }
    nb__table_t *t = nb__table_new(r, "identities", "Events parked for want of an identity link",
                                   "events", measures, decimals, 3, 1);
    if (!t || nb__row(t, 0, "parked") != 0)
        return NB_ERR_NOMEM;
    t->values[0] = parked;
    t->values[1] = resolved;
    t->values[2] = parked - resolved;
    return NB_ERR_OK;
}

nb_err_t nb_report_finish(nb_report_t *r)
{
    if (r->finished)
        return NB_ERR_INVALID_ARG;
    r->finished = true;
    static const char *const raised[] = {"raised"};
    static const char *const escalated[] = {"escalated"};
    static const char *const withdrawn[] = {"withdrawn"};
    static const char *const events[] = {"events", "without_nhs_number"};
    static const char *const dead[] = {"dead_letters"};
    nb_err_t err = nb__finish_appointments(r);
    if (!err)
        err = nb__finish_notifications(r);
    if (!err)
        err = nb__names_table(r, &r->rule_tier, "notifications_by_rule_tier",
                              "Notifications raised by rule and tier", "rule / tier", raised, 1);
    if (!err)
        err = nb__names_table(r, &r->rungs, "escalations", "Escalations by rung", "rung", escalated,
                              1);
    if (!err)
        err = nb__names_table(r, &r->reasons, "withdrawals", "Withdrawals by reason", "reason",
                              withdrawn, 1);
    if (!err)
        err = nb__names_table(r, &r->sources, "events_by_source",
                              "Events received by source, and those without an NHS number",
                              "source", events, 2);
    if (!err)
        err = nb__finish_identities(r);
    if (!err)
        err = nb__names_table(r, &r->dead, "dead_letters", "Dead letters by reason", "reason", dead,
                              1);
    return err;
}
