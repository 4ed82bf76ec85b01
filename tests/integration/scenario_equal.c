/*
 * The clinical scenario suite: does replay publish what the daemon publishes? The
 * notifications two runs of one scenario published, compared record for record (sc_equal(),
 * scenario.h).
 *
 * Records pair up by what names a published record: the notification id (the decision id,
 * the same in both runs when replay keys children with the daemon's key), its kind, its
 * escalation level, and which occurrence of those it is (a decision withdrawn and raised again
 * is published as new twice). Every field of a pair is compared. A record of one run with no
 * partner in the other is reported as published by that run only. The records about one child
 * (or pregnancy, or a digest's recipient) come in the same order in both runs; across children
 * there is no order to keep, since the daemon handles children in partitions.
 *
 * The daemon's records about other people are left out (one daemon runs the whole suite:
 * escalations of earlier scenarios' notifications fall due as this one moves the clock).
 * Replay runs this scenario alone, so each of its records must be about its people.
 *
 * What may differ, and why:
 *  - A digest's other items. One daemon runs the whole suite, so a digest it publishes gathers
 *    the notifications of every scenario whose people share the recipient and the period;
 *    replay runs one scenario. A digest is compared by its items about this scenario's people,
 *    and its tier (the highest of its items') and rule text (which counts them) only when the
 *    daemon's digest holds no other scenario's items.
 *  Nothing else: Kafka offsets, partitions and timestamps are not part of a notification, and
 *  created_at is the clock of the run, which the test sets to the step's time in both runs.
 */
#include "scenario.h"

#include <stdlib.h>
#include <string.h>

/* One record of a run about this scenario's people. */
typedef struct sc_rec_s {
    const nb_notification_t *n;
    char group[SC_NAME_MAX + NB_ID_MAX + 16]; /* whose: a person, a pregnancy, a recipient */
    int occurrence; /* of its id, kind and level in the run, from 0 */
    long mate;      /* its partner in the other run, or -1 */
    bool foreign;   /* a digest that holds other scenarios' items too */
} sc_rec_t;

typedef struct sc_run_s {
    const char *name; /* "the daemon", "replay" */
    sc_rec_t *v;
    size_t n;
    int strangers; /* records about nobody the scenario names */
} sc_run_t;

/* Whose the notification is, when it is about the scenario's people. */
static bool sc_group_of(const sc_scenario_t *sc, const nb_notification_t *n, char *group,
                        size_t size, bool *foreign)
{
    sc_subject_t s;
    *foreign = false;
    if (n->kind != NB_NOTIFICATION_DIGEST) {
        if (!sc_subject_of(sc, n, &s))
            return false;
        snprintf(group, size, "%s", sc_subject_name(sc, &s));
        return true;
    }
    size_t mine = 0;
    for (size_t i = 0; i < n->n_items; i++)
        mine += sc_digest_mine(sc, n, i);
    *foreign = mine < n->n_items;
    snprintf(group, size, "the digest for %s", n->n_recipients ? n->recipients[0].role : "?");
    return mine > 0;
}

static bool sc_same_name(const nb_notification_t *x, const nb_notification_t *y)
{
    return strcmp(x->notification_id, y->notification_id) == 0 && x->kind == y->kind &&
           x->escalation_level == y->escalation_level;
}

/* The records of @p seen about the scenario's people, in the order published; with @p o,
 * the others are differences, written there. @returns false when out of memory. */
static bool sc_run_collect(const sc_scenario_t *sc, const sc_seen_t *seen, size_t n,
                           sc_run_t *run, sc_out_t *o)
{
    run->v = calloc(n + 1, sizeof(*run->v));
    run->n = 0;
    if (!run->v)
        return false;
    for (size_t i = 0; i < n; i++) {
        sc_rec_t *r = &run->v[run->n];
        if (!sc_group_of(sc, &seen[i].n, r->group, sizeof(r->group), &r->foreign)) {
            if (o) {
                sc_put(o, "\n  published by %s about nobody the scenario names: ", run->name);
                sc_describe_seen(o, sc, &seen[i].n);
                run->strangers++;
            }
            continue;
        }
        r->n = &seen[i].n;
        r->mate = -1;
        for (size_t j = 0; j < run->n; j++)
            r->occurrence += sc_same_name(run->v[j].n, r->n);
        run->n++;
    }
    return true;
}

/* ---- one field at a time ---------------------------------------------------------------- */

/* Where the differences of one pair are written: its heading comes before the first. */
typedef struct sc_pair_s {
    sc_out_t *o;
    const sc_scenario_t *sc;
    const sc_rec_t *a, *b;
    const char *a_name, *b_name;
    int differences;
} sc_pair_t;

static void sc_heading(sc_out_t *o, const sc_rec_t *r)
{
    char t[32];
    nb_format_time(r->n->created_at, t, sizeof(t));
    sc_put(o, "\n  %s: %s %s", r->group, nb_notification_kind_name(r->n->kind),
           r->n->rule_id);
    if (r->n->escalation_level > 0)
        sc_put(o, " level %d", (int)r->n->escalation_level);
    sc_put(o, " (%s, published at %s)", r->n->reference, t);
}

static void sc_field(sc_pair_t *p, const char *field, const char *x, const char *y)
{
    if (strcmp(x, y) == 0)
        return;
    if (p->differences++ == 0) {
        sc_heading(p->o, p->a);
        sc_put(p->o, ": differs");
    }
    sc_put(p->o, "\n      %s: %s \"%s\", %s \"%s\"", field, p->a_name, x, p->b_name, y);
}

static void sc_fmt_time(int64_t t, char *buf, size_t size)
{
    if (t == NB_TIME_NONE)
        snprintf(buf, size, "none");
    else
        nb_format_time(t, buf, size);
}

static void sc_fmt_date(int32_t d, char *buf, size_t size)
{
    if (d == NB_DATE_NONE)
        snprintf(buf, size, "none");
    else
        nb_format_date(d, buf, size);
}

/* An NHS number as the report may show it: the scenario's name for it, or masked. */
static void sc_fmt_nhs(const sc_scenario_t *sc, const char *nhs, char *buf, size_t size)
{
    size_t n = strlen(nhs);
    for (size_t i = 0; i < sc->n_people; i++)
        if (n && strcmp(sc->people[i].nhs, nhs) == 0) {
            snprintf(buf, size, "%s's NHS number", sc->people[i].name);
            return;
        }
    snprintf(buf, size, n ? "******%s" : "", nhs + (n > 4 ? n - 4 : 0));
}

static void sc_field_time(sc_pair_t *p, const char *field, int64_t x, int64_t y)
{
    char a[32], b[32];
    sc_fmt_time(x, a, sizeof(a));
    sc_fmt_time(y, b, sizeof(b));
    sc_field(p, field, a, b);
}

static void sc_field_date(sc_pair_t *p, const char *field, int32_t x, int32_t y)
{
    char a[16], b[16];
    sc_fmt_date(x, a, sizeof(a));
    sc_fmt_date(y, b, sizeof(b));
    sc_field(p, field, a, b);
}

static void sc_field_int(sc_pair_t *p, const char *field, long long x, long long y)
{
    char a[24], b[24];
    snprintf(a, sizeof(a), "%lld", x);
    snprintf(b, sizeof(b), "%lld", y);
    sc_field(p, field, a, b);
}

static void sc_field_nhs(sc_pair_t *p, const char *field, const char *x, const char *y)
{
    char a[SC_NAME_MAX + 16], b[SC_NAME_MAX + 16];
    if (strcmp(x, y) == 0)
        return;
    sc_fmt_nhs(p->sc, x, a, sizeof(a));
    sc_fmt_nhs(p->sc, y, b, sizeof(b));
    sc_field(p, field, a, b);
}

/* ---- the lists of a notification, one element at a time ---------------------------------- */

typedef void (*sc_fmt_elem_t)(const sc_scenario_t *sc, const nb_notification_t *n, size_t i,
                              char *buf, size_t size);

static void sc_fmt_recipient(const sc_scenario_t *sc, const nb_notification_t *n, size_t i,
                             char *buf, size_t size)
{
    const nb_recipient_t *r = &n->recipients[i];
    (void)sc;
    snprintf(buf, size, "%s (%s) by %s", r->role, r->title, r->route);
}

static void sc_fmt_evidence(const sc_scenario_t *sc, const nb_notification_t *n, size_t i,
                            char *buf, size_t size)
{
    const nb_evidence_t *e = &n->evidence[i];
    char at[32], rec[32];
    sc_fmt_time(e->scheduled_start, at, sizeof(at));
    sc_fmt_time(e->recorded_at, rec, sizeof(rec));
    snprintf(buf, size, "%s (event %s): %s %s at %s, %s, org %s, recorded %s",
             sc_evidence_name(sc, e->appointment_id), e->event_id, nb_agency_name(e->agency),
             e->appointment_type, at, nb_status_name(e->status), e->organisation_code, rec);
}

static void sc_fmt_context(const sc_scenario_t *sc, const nb_notification_t *n, size_t i,
                           char *buf, size_t size)
{
    const nb_context_summary_t *c = &n->context[i];
    char start[16], end[16], as_of[32];
    (void)sc;
    sc_fmt_date(c->start_date, start, sizeof(start));
    sc_fmt_date(c->end_date, end, sizeof(end));
    sc_fmt_time(c->as_of, as_of, sizeof(as_of));
    snprintf(buf, size, "%s from %s to %s, from %s as of %s", nb_fact_kind_name(c->kind), start,
             end, c->source, as_of);
}

static void sc_fmt_count(const sc_scenario_t *sc, const nb_notification_t *n, size_t i,
                         char *buf, size_t size)
{
    const nb_window_count_t *c = &n->counts[i];
    (void)sc;
    snprintf(buf, size, "%d in %d days, %d agencies: %.200s", (int)c->count,
             (int)c->window_days, (int)c->agencies, c->counted);
}

static void sc_field_list(sc_pair_t *p, const char *field, size_t n_x, size_t n_y,
                          sc_fmt_elem_t fmt)
{
    char name[64], x[640], y[640];
    for (size_t i = 0; i < n_x || i < n_y; i++) {
        snprintf(name, sizeof(name), "%s[%zu]", field, i);
        if (i < n_x)
            fmt(p->sc, p->a->n, i, x, sizeof(x));
        else
            snprintf(x, sizeof(x), "(none)");
        if (i < n_y)
            fmt(p->sc, p->b->n, i, y, sizeof(y));
        else
            snprintf(y, sizeof(y), "(none)");
        sc_field(p, name, x, y);
    }
}

/* A digest's items about the scenario's people (the daemon's may hold other scenarios'). */
static size_t sc_mine(const sc_scenario_t *sc, const nb_notification_t *n,
                      const nb_digest_item_t **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_items; i++)
        if (sc_digest_mine(sc, n, i))
            out[k++] = &n->items[i];
    return k;
}

static void sc_fmt_item(const sc_scenario_t *sc, const nb_digest_item_t *it, char *buf,
                        size_t size)
{
    char nhs[SC_NAME_MAX + 16], at[32];
    sc_fmt_nhs(sc, it->nhs_number, nhs, sizeof(nhs));
    sc_fmt_time(it->decided_at, at, sizeof(at));
    snprintf(buf, size, "%s %s (%s), %s, decided at %s, key %.12s", it->rule_id,
             it->notification_id, it->reference, nhs, at, it->child_key);
    snprintf(buf + strlen(buf), size - strlen(buf), ", %s", nb_tier_name(it->tier));
}

static void sc_field_items(sc_pair_t *p)
{
    const nb_digest_item_t *x[NB_NOTIF_MAX_ITEMS], *y[NB_NOTIF_MAX_ITEMS];
    size_t n_x = sc_mine(p->sc, p->a->n, x), n_y = sc_mine(p->sc, p->b->n, y);
    char name[32], a[400], b[400];
    for (size_t i = 0; i < n_x || i < n_y; i++) {
        snprintf(name, sizeof(name), "items[%zu]", i);
        if (i < n_x)
            sc_fmt_item(p->sc, x[i], a, sizeof(a));
        else
            snprintf(a, sizeof(a), "(none)");
        if (i < n_y)
            sc_fmt_item(p->sc, y[i], b, sizeof(b));
        else
            snprintf(b, sizeof(b), "(none)");
        sc_field(p, name, a, b);
    }
}

/* Every field of a notification, in the order of the record. */
static void sc_compare_pair(sc_pair_t *p)
{
    const nb_notification_t *x = p->a->n, *y = p->b->n;
    bool whole = !p->a->foreign && !p->b->foreign; /* a digest of this scenario's items only */
    sc_field(p, "notification_id", x->notification_id, y->notification_id);
    sc_field(p, "reference", x->reference, y->reference);
    sc_field(p, "kind", nb_notification_kind_name(x->kind), nb_notification_kind_name(y->kind));
    sc_field_nhs(p, "nhs_number", x->nhs_number, y->nhs_number);
    sc_field_date(p, "date_of_birth", x->date_of_birth, y->date_of_birth);
    sc_field_int(p, "age_months", x->age_months, y->age_months);
    sc_field(p, "child_key (pseudonym)", x->child_key, y->child_key);
    sc_field_nhs(p, "pregnant_person_nhs", x->pregnant_person_nhs, y->pregnant_person_nhs);
    sc_field_date(p, "expected_delivery_date", x->expected_delivery_date,
                  y->expected_delivery_date);
    sc_field(p, "rule_id", x->rule_id, y->rule_id);
    if (whole)
        sc_field(p, "rule_text", x->rule_text, y->rule_text);
    sc_field(p, "policy_name", x->policy_name, y->policy_name);
    sc_field(p, "policy_version", x->policy_version, y->policy_version);
    sc_field(p, "policy_hash", x->policy_hash, y->policy_hash);
    if (whole)
        sc_field(p, "tier", nb_tier_name(x->tier), nb_tier_name(y->tier));
    sc_field(p, "action", x->action, y->action);
    sc_field_time(p, "respond_by", x->respond_by, y->respond_by);
    sc_field_int(p, "escalation_level", x->escalation_level, y->escalation_level);
    sc_field(p, "supersedes", x->supersedes, y->supersedes);
    sc_field_time(p, "created_at", x->created_at, y->created_at);
    sc_field_list(p, "recipients", x->n_recipients, y->n_recipients, sc_fmt_recipient);
    sc_field_list(p, "context", x->n_context, y->n_context, sc_fmt_context);
    sc_field_list(p, "evidence", x->n_evidence, y->n_evidence, sc_fmt_evidence);
    sc_field_list(p, "counts", x->n_counts, y->n_counts, sc_fmt_count);
    sc_field_items(p);
}

/* ---- the two runs -------------------------------------------------------------------------- */

/* Each record of @p a with the record of @p b of the same id, kind, level and occurrence. */
static void sc_pair_up(sc_run_t *a, sc_run_t *b)
{
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n && a->v[i].mate < 0; j++)
            if (b->v[j].mate < 0 && sc_same_name(a->v[i].n, b->v[j].n) &&
                a->v[i].occurrence == b->v[j].occurrence) {
                a->v[i].mate = (long)j;
                b->v[j].mate = (long)i;
            }
}

static int sc_only(sc_out_t *o, const sc_scenario_t *sc, const sc_run_t *run)
{
    int k = 0;
    for (size_t i = 0; i < run->n; i++) {
        if (run->v[i].mate >= 0)
            continue;
        char t[32];
        nb_format_time(run->v[i].n->created_at, t, sizeof(t));
        sc_put(o, "\n  %s: published by %s only, at %s: ", run->v[i].group, run->name, t);
        sc_describe_seen(o, sc, run->v[i].n);
        k++;
    }
    return k;
}

/* The records of one group that both runs published, as @p run published them. */
static void sc_order_list(sc_out_t *o, const sc_run_t *run, const char *group)
{
    const char *sep = "";
    for (size_t i = 0; i < run->n; i++) {
        const sc_rec_t *r = &run->v[i];
        if (r->mate < 0 || strcmp(r->group, group) != 0)
            continue;
        sc_put(o, "%s%s %s", sep, nb_notification_kind_name(r->n->kind), r->n->rule_id);
        if (r->n->escalation_level > 0)
            sc_put(o, " level %d", (int)r->n->escalation_level);
        sep = ", ";
    }
}

/* The paired records of each group in the same order in both runs. @returns the groups
 * whose order differs. */
static int sc_order(sc_out_t *o, const sc_run_t *a, const sc_run_t *b)
{
    int k = 0;
    for (size_t i = 0; i < a->n; i++) {
        const char *group = a->v[i].group;
        bool first = true, in_order = true;
        long last = -1;
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(a->v[j].group, group) != 0;
        if (!first)
            continue; /* the group was looked at from its first record */
        for (size_t j = i; j < a->n; j++) {
            if (a->v[j].mate < 0 || strcmp(a->v[j].group, group) != 0)
                continue;
            in_order = in_order && a->v[j].mate > last;
            last = a->v[j].mate;
        }
        if (in_order)
            continue;
        sc_put(o, "\n  %s: in another order:\n      %s: ", group, a->name);
        sc_order_list(o, a, group);
        sc_put(o, "\n      %s: ", b->name);
        sc_order_list(o, b, group);
        k++;
    }
    return k;
}

bool sc_equal(const sc_scenario_t *sc, const sc_seen_t *a, size_t n_a, const sc_seen_t *b,
              size_t n_b, char *report, size_t report_size)
{
    sc_out_t o = {report, report_size, 0};
    sc_run_t ra = {"the daemon", NULL, 0, 0}, rb = {"replay", NULL, 0, 0};
    int differences = 0;
    report[0] = '\0';
    if (!sc_run_collect(sc, a, n_a, &ra, NULL) || !sc_run_collect(sc, b, n_b, &rb, &o)) {
        sc_put(&o, "\n  out of memory");
        free(ra.v);
        return false;
    }
    sc_pair_up(&ra, &rb);
    for (size_t i = 0; i < ra.n; i++) {
        if (ra.v[i].mate < 0)
            continue;
        sc_pair_t p = {&o, sc, &ra.v[i], &rb.v[ra.v[i].mate], ra.name, rb.name, 0};
        sc_compare_pair(&p);
        differences += p.differences;
    }
    differences += sc_only(&o, sc, &ra);
    differences += sc_only(&o, sc, &rb);
    differences += sc_order(&o, &ra, &rb) + rb.strangers;
    if (differences)
        sc_put(&o, "\n  (%zu notifications published by the daemon, %zu by replay)", ra.n,
               rb.n);
    free(ra.v);
    free(rb.v);
    return differences == 0;
}
