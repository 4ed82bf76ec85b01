/*
 * Integration test: absence deadlines fire on their own (issue 19), on the embedded broker,
 * with the clock the tests control (nb_stream_set_fixed_now).
 *
 * For every absence rule of the default policy (the national base with the Cardiff and Vale
 * overlay, as config/notbrought.yaml loads them), a quiet child or pregnancy (nothing more is
 * ever recorded for it) and one whose expected contact is recorded before the deadline. The
 * clock moves forward in steps; the daemon is stopped between the events and the deadlines
 * and started after them. The quiet ones are notified at their deadlines, not before, each
 * exactly once; the others never.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "notbrought/cli.h"
#include "notbrought/identity.h"
#include "notbrought/ops.h"
#include "notbrought/stream.h"

#include "common.h"

#define HOUR (3600 * 1000LL)
#define DAY NB_MS_PER_DAY

/* Monday 2 March 2026, 09:00 UTC (GMT: no summer time until 29 March). */
static int64_t t0;

/* A valid NHS number in the 999 test range (Modulus 11). */
static void nhs_number(int n, char out[11])
{
    for (;; n++) {
        snprintf(out, 11, "999%06d", n % 1000000);
        int sum = 0;
        for (int i = 0; i < 9; i++)
            sum += (out[i] - '0') * (10 - i);
        int check = 11 - sum % 11;
        if (check == 11)
            check = 0;
        if (check == 10)
            continue;
        out[9] = (char)('0' + check);
        out[10] = '\0';
        return;
    }
}

/* ---- events ------------------------------------------------------------------------------- */

typedef struct batch_s {
    nb_codec_t *codec;
    FILE *f;
    char path[64];
    int n;
} batch_t;

static void batch_open(batch_t *b, nb_codec_t *codec)
{
    memset(b, 0, sizeof(*b));
    b->codec = codec;
    snprintf(b->path, sizeof(b->path), "/tmp/nb-absence-%d.rec", (int)getpid());
    b->f = fopen(b->path, "w");
    assert_non_null(b->f);
}

/* An appointment version: a child (@p nhs, @p dob) or a pregnancy (@p mother, @p edd). */
static void appt(batch_t *b, const char *nhs, int32_t dob, const char *mother, int32_t edd,
                 nb_agency_t agency, const char *type, bool mandated, const char *id,
                 int64_t when, nb_status_t status, int version, int64_t recorded)
{
    char errstr[512];
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec.u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "%s-v%d", id, version);
    a->source.agency = agency;
    snprintf(a->source.system, sizeof(a->source.system), "%s",
             agency == NB_AGENCY_MIDWIFERY ? "BadgerNet" : "CYPRIS");
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "%s",
             agency == NB_AGENCY_MIDWIFERY ? "7A4" : "7A1");
    if (mother) {
        a->subject_kind = NB_SUBJECT_UNBORN;
        snprintf(a->pregnant_person_id.system, sizeof(a->pregnant_person_id.system), "%s",
                 NB_SYSTEM_NHS_NUMBER);
        snprintf(a->pregnant_person_id.value, sizeof(a->pregnant_person_id.value), "%s", mother);
        a->expected_delivery_date = edd;
        a->date_of_birth = NB_DATE_NONE;
    } else {
        a->subject_kind = NB_SUBJECT_CHILD;
        snprintf(a->nhs_number, sizeof(a->nhs_number), "%s", nhs);
        a->date_of_birth = dob;
        a->expected_delivery_date = NB_DATE_NONE;
    }
    snprintf(a->appointment_id, sizeof(a->appointment_id), "%s", id);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "%s", type);
    a->mandated_contact = mandated;
    a->contact_mode = NB_CONTACT_FACE_TO_FACE;
    a->scheduled_start = when;
    a->status = status;
    a->recorded_at = recorded;
    a->version = version;
    nb_buf_t buf = {0};
    assert_int_equal(nb_codec_encode(b->codec, &rec, &buf, errstr, sizeof(errstr)), NB_ERR_OK);
    const char *topic = agency == NB_AGENCY_MIDWIFERY ? "midwifery.appointments" : "hv.contacts";
    assert_int_equal(nb_recfile_write(b->f, topic, id, buf.data, buf.len, recorded), 0);
    nb_buf_free(&buf);
    b->n++;
}

/* A nurse acknowledges a notification (keyed by the child, as the notification was). */
static void ack(batch_t *b, const char *child_key, const char *notification_id, int64_t when)
{
    char errstr[512];
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_ACK;
    snprintf(rec.u.ack.ack_id, sizeof(rec.u.ack.ack_id), "ack-%.40s", notification_id);
    snprintf(rec.u.ack.notification_id, sizeof(rec.u.ack.notification_id), "%s",
             notification_id);
    snprintf(rec.u.ack.acknowledged_by, sizeof(rec.u.ack.acknowledged_by), "staff-7");
    snprintf(rec.u.ack.role, sizeof(rec.u.ack.role), "health_visitor");
    rec.u.ack.action = NB_ACK_CONTACTED_FAMILY;
    rec.u.ack.acknowledged_at = when;
    nb_buf_t buf = {0};
    assert_int_equal(nb_codec_encode(b->codec, &rec, &buf, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_recfile_write(b->f, "notification.acks", child_key, buf.data, buf.len,
                                      when),
                     0);
    nb_buf_free(&buf);
    b->n++;
}

static void batch_send(batch_t *b, nb_config_t *conf)
{
    char errstr[512];
    long n = 0;
    fclose(b->f);
    b->f = NULL;
    assert_int_equal(nb_stream_produce_file(conf, b->path, &n, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    assert_int_equal(n, b->n);
    unlink(b->path);
}

/* ---- the daemon --------------------------------------------------------------------------- */

typedef nb_it_daemon_t instance_t;

/* Absence deadlines are judged once the sources have been quiet for a second, so that each
 * step of the test needs no longer. */
static nb_config_t *make_conf(const char *bootstrap, int64_t clock)
{
    nb_it_conf_opts_t o = {NULL, false, false, clock, 1000};
    return nb_it_conf(bootstrap, "nb-absence", &o);
}

static void start_instance(instance_t *in, const char *bootstrap, int64_t clock)
{
    nb_it_daemon_start(in, make_conf(bootstrap, clock), false);
}

static void stop_instance(instance_t *in)
{
    nb_it_daemon_stop(in);
}

/* Waits until the instance is ready, has read @p records records, and has run two more
 * ticks than before (the second after whatever the first decided has committed). */
static void settle(instance_t *in, uint64_t records)
{
    nb_stream_stats_t s;
    nb_stream_stats(in->st, &s);
    uint64_t ticks = s.ticks;
    for (int64_t until = nb_it_now_ms() + 120000; nb_it_now_ms() < until; nb_it_sleep_ms(50)) {
        nb_stream_stats(in->st, &s);
        if (s.ready && s.records_in >= records && s.ticks >= ticks + 2 && !s.catching_up)
            return;
    }
    fail_msg("not settled: %llu of %llu records, %llu ticks, ready %d",
             (unsigned long long)s.records_in, (unsigned long long)records,
             (unsigned long long)s.ticks, (int)s.ready);
}

/* ---- the notifications -------------------------------------------------------------------- */

typedef struct note_s {
    char child[NB_KEY_MAX + 1], rule[80], kind[16], id[80];
} note_t;

typedef struct notes_s {
    nb_codec_t *codec;
    note_t v[256];
    size_t n;
} notes_t;

static int note_cb(void *opaque, const char *topic, const char *key, const void *value,
                   size_t len, int64_t ts)
{
    notes_t *ns = opaque;
    char errstr[256];
    nb_record_t rec;
    (void)topic;
    (void)key;
    (void)ts;
    assert_int_equal(
        nb_codec_decode(ns->codec, value, len, NB_RECORD_NOTIFICATION, &rec, errstr, sizeof(errstr)),
        NB_ERR_OK);
    if (ns->n < sizeof(ns->v) / sizeof(ns->v[0])) {
        note_t *n = &ns->v[ns->n++];
        snprintf(n->child, sizeof(n->child), "%s", rec.u.notif.child_key);
        snprintf(n->rule, sizeof(n->rule), "%s", rec.u.notif.rule_id);
        snprintf(n->kind, sizeof(n->kind), "%s", nb_notification_kind_name(rec.u.notif.kind));
        snprintf(n->id, sizeof(n->id), "%s", rec.u.notif.notification_id);
    }
    return 0;
}

static void read_notes(nb_config_t *conf, notes_t *ns)
{
    char errstr[256];
    ns->n = 0;
    assert_int_equal(nb_stream_consume(conf, "notifications", 0, 1500, false, note_cb, ns, errstr,
                                       sizeof(errstr)),
                     NB_ERR_OK);
}

/* Notifications of @p rule for @p child (of kind new), and of any kind in all. */
static int count(const notes_t *ns, const char *child, const char *rule)
{
    int n = 0;
    for (size_t i = 0; i < ns->n; i++)
        n += strcmp(ns->v[i].child, child) == 0 && strcmp(ns->v[i].rule, rule) == 0 &&
             strcmp(ns->v[i].kind, "new") == 0;
    return n;
}

/* Reads the topic until @p child has a notification of @p rule (the tick that fires a
 * deadline comes once the sources have stayed quiet for watermark_idle_ms after their end,
 * and its transaction commits after that: how many ticks that takes depends on the
 * machine), or a minute has passed. */
static void await_note(nb_config_t *conf, notes_t *ns, const char *child, const char *rule)
{
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(200)) {
        read_notes(conf, ns);
        if (count(ns, child, rule) > 0)
            return;
    }
}

/* ---- the test ----------------------------------------------------------------------------- */

typedef struct subject_s {
    const char *name, *rule;
    char nhs[11], key[NB_KEY_MAX + 1];
    int32_t dob, edd;
    bool quiet; /* expected to be notified */
} subject_t;

static void key_of(const nb_config_t *conf, subject_t *s, bool pregnancy)
{
    char errstr[256];
    nb_identity_conf_t ic;
    nb_identity_conf_default(&ic);
    ic.secret = (const uint8_t *)conf->hmac_key;
    ic.secret_len = strlen(conf->hmac_key);
    nb_identity_t *idt = nb_identity_new(&ic, errstr, sizeof(errstr));
    assert_non_null(idt);
    if (pregnancy) {
        nb_identifier_t person;
        memset(&person, 0, sizeof(person));
        snprintf(person.system, sizeof(person.system), "%s", NB_SYSTEM_NHS_NUMBER);
        snprintf(person.value, sizeof(person.value), "%s", s->nhs);
        assert_int_equal(nb_identity_pregnancy_key(idt, &person, s->edd, s->key), NB_ERR_OK);
    } else {
        assert_int_equal(nb_identity_child_key(idt, s->nhs, s->key), NB_ERR_OK);
    }
    nb_identity_destroy(idt);
}

static void test_quiet_children_are_notified_at_their_deadlines(void **state)
{
    (void)state;
    char errstr[512];
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_config_t *conf = make_conf(bs, t0);
    nb_broker_create_topics(b, conf, 1);
    nb_registry_t *reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    assert_non_null(codec);
    int32_t today = nb_day_of(t0);

    /* new_birth_visit_overdue (by day 14): born 5 days ago, the visit booked for day 12. */
    subject_t nbv_quiet = {"baby A", "new_birth_visit_overdue", "", "", today - 5, 0, true};
    subject_t nbv_seen = {"baby B", "new_birth_visit_overdue", "", "", today - 5, 0, false};
    /* booking_overdue (by 10+0): 8 weeks pregnant; then booking_not_done_by_20_weeks. */
    subject_t book_quiet = {"pregnancy P", "booking_overdue", "", "", 0, today + 280 - 56, true};
    subject_t book_done = {"pregnancy Q", "booking_overdue", "", "", 0, today + 280 - 56, false};
    /* hv_not_seen_after_missed (5 working days after a missed mandated contact). */
    subject_t hv_quiet = {"baby C", "hv_not_seen_after_missed", "", "", today - 60, 0, true};
    subject_t hv_seen = {"baby D", "hv_not_seen_after_missed", "", "", today - 60, 0, false};
    subject_t *all[] = {&nbv_quiet, &nbv_seen, &book_quiet, &book_done, &hv_quiet, &hv_seen};
    for (size_t i = 0; i < 6; i++) {
        nhs_number(4100 + (int)i * 37, all[i]->nhs);
        key_of(conf, all[i], all[i]->edd != 0);
    }
    int64_t nbv_deadline = (int64_t)(today - 5 + 15) * DAY;         /* day 15, 00:00 */
    int64_t book_deadline = (int64_t)(today - 56 + 71) * DAY;       /* 10+1, 00:00 */
    /* Five working days after Monday 07:00: the next Monday, by close of business. */
    int64_t hv_before = t0 + 4 * DAY, hv_after = t0 + 8 * DAY;
    int64_t book20_deadline = (int64_t)(today - 56 + 141) * DAY;    /* 20+1, 00:00 */

    /* At t0: what each child has so far. */
    batch_t bt;
    batch_open(&bt, codec);
    for (int i = 0; i < 2; i++) {
        subject_t *s = i ? &nbv_seen : &nbv_quiet;
        char id[32];
        snprintf(id, sizeof(id), "nbv-%d", i);
        appt(&bt, s->nhs, s->dob, NULL, 0, NB_AGENCY_HEALTH_VISITING, "new_birth_visit", true,
             id, (int64_t)(s->dob + 12) * DAY + 10 * HOUR, NB_STATUS_BOOKED, 1, t0 - DAY);
    }
    for (int i = 0; i < 2; i++) {
        subject_t *s = i ? &book_done : &book_quiet;
        char id[32];
        snprintf(id, sizeof(id), "scan-%d", i);
        appt(&bt, NULL, 0, s->nhs, s->edd, NB_AGENCY_MIDWIFERY, "dating_scan", false, id,
             (int64_t)(s->edd - 280 + 12 * 7) * DAY + 10 * HOUR, NB_STATUS_BOOKED, 1, t0 - DAY);
        if (i) {
            snprintf(id, sizeof(id), "booking-%d", i);
            appt(&bt, NULL, 0, s->nhs, s->edd, NB_AGENCY_MIDWIFERY, "antenatal_booking", true,
                 id, (int64_t)(s->edd - 280 + 9 * 7) * DAY + 10 * HOUR, NB_STATUS_BOOKED, 1,
                 t0 - DAY);
        }
    }
    for (int i = 0; i < 2; i++) {
        subject_t *s = i ? &hv_seen : &hv_quiet;
        char id[32];
        snprintf(id, sizeof(id), "review-%d", i);
        appt(&bt, s->nhs, s->dob, NULL, 0, NB_AGENCY_HEALTH_VISITING, "6_8_week_review", true,
             id, t0 - 2 * HOUR, NB_STATUS_WAS_NOT_BROUGHT, 2, t0 - HOUR);
    }
    batch_send(&bt, conf);
    uint64_t records = (uint64_t)bt.n;

    instance_t in;
    start_instance(&in, bs, t0);
    settle(&in, records);
    static notes_t ns;
    ns.codec = codec;
    read_notes(conf, &ns);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(count(&ns, all[i]->key, all[i]->rule), 0);

    /* The health visitor acknowledges babies C's and D's missed reviews (she is arranging to
     * see them), so their ladders stop before the team leader hears of them. Baby C not seen
     * within 5 working days is then news to the team leader (hv_not_seen_after_missed, the
     * health visitor left out: the rules overlap); had the ladder gone on, its escalation
     * would have told the team leader already and nothing new would be raised. */
    batch_open(&bt, codec);
    for (int i = 0; i < 2; i++) {
        subject_t *s = i ? &hv_seen : &hv_quiet;
        const char *first = NULL;
        for (size_t k = 0; k < ns.n && !first; k++)
            if (strcmp(ns.v[k].child, s->key) == 0 &&
                strcmp(ns.v[k].rule, "hv_missed_under1") == 0)
                first = ns.v[k].id;
        assert_non_null(first);
        ack(&bt, s->key, first, t0 + HOUR);
    }
    batch_send(&bt, conf);
    records += (uint64_t)bt.n;
    settle(&in, records);

    /* Baby D seen two days after the missed review. */
    int64_t clock = t0 + 2 * DAY + 2 * HOUR;
    nb_stream_set_fixed_now(in.st, clock);
    batch_open(&bt, codec);
    appt(&bt, hv_seen.nhs, hv_seen.dob, NULL, 0, NB_AGENCY_HEALTH_VISITING, "home_visit", false,
         "visit-1", t0 + 2 * DAY, NB_STATUS_ATTENDED, 2, clock - HOUR);
    batch_send(&bt, conf);
    records += (uint64_t)bt.n;
    settle(&in, records);

    /* Before any deadline: nothing. */
    nb_stream_set_fixed_now(in.st, hv_before);
    settle(&in, records);
    read_notes(conf, &ns);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(count(&ns, all[i]->key, all[i]->rule), 0);

    /* Baby B's new birth visit and pregnancy Q's booking happen and are recorded. */
    clock = (int64_t)(today - 5 + 12) * DAY + 14 * HOUR;
    nb_stream_set_fixed_now(in.st, clock);
    batch_open(&bt, codec);
    appt(&bt, nbv_seen.nhs, nbv_seen.dob, NULL, 0, NB_AGENCY_HEALTH_VISITING, "new_birth_visit",
         true, "nbv-1", (int64_t)(nbv_seen.dob + 12) * DAY + 10 * HOUR, NB_STATUS_ATTENDED, 2,
         clock - HOUR);
    batch_send(&bt, conf);
    records += (uint64_t)bt.n;
    clock = (int64_t)(book_done.edd - 280 + 9 * 7) * DAY + 14 * HOUR;
    nb_stream_set_fixed_now(in.st, clock);
    batch_open(&bt, codec);
    appt(&bt, NULL, 0, book_done.nhs, book_done.edd, NB_AGENCY_MIDWIFERY, "antenatal_booking",
         true, "booking-1", (int64_t)(book_done.edd - 280 + 9 * 7) * DAY + 10 * HOUR,
         NB_STATUS_ATTENDED, 2, clock - HOUR);
    batch_send(&bt, conf);
    records += (uint64_t)bt.n;
    settle(&in, records);

    /* Past the health visiting deadline: baby C, not D. */
    nb_stream_set_fixed_now(in.st, hv_after);
    await_note(conf, &ns, hv_quiet.key, hv_quiet.rule);
    settle(&in, records);
    read_notes(conf, &ns);
    assert_int_equal(count(&ns, hv_quiet.key, hv_quiet.rule), 1);
    assert_int_equal(count(&ns, hv_seen.key, hv_seen.rule), 0);

    /* The family goes quiet and the daemon stops before the other deadlines. */
    nb_stream_set_fixed_now(in.st, nbv_deadline - HOUR);
    settle(&in, records);
    read_notes(conf, &ns);
    assert_int_equal(count(&ns, nbv_quiet.key, nbv_quiet.rule), 0);
    assert_int_equal(count(&ns, book_quiet.key, book_quiet.rule), 0);
    stop_instance(&in);

    /* Started again after them: restored timers fire, once. */
    start_instance(&in, bs, book_deadline + HOUR);
    settle(&in, 0);
    await_note(conf, &ns, nbv_quiet.key, nbv_quiet.rule);
    await_note(conf, &ns, book_quiet.key, book_quiet.rule);
    settle(&in, 0); /* a few ticks more: still once */
    read_notes(conf, &ns);
    print_message("%zu notifications after the restart\n", ns.n);
    assert_int_equal(count(&ns, nbv_quiet.key, nbv_quiet.rule), 1);
    assert_int_equal(count(&ns, nbv_seen.key, nbv_seen.rule), 0);
    assert_int_equal(count(&ns, book_quiet.key, book_quiet.rule), 1);
    assert_int_equal(count(&ns, book_done.key, book_done.rule), 0);
    assert_int_equal(count(&ns, hv_quiet.key, hv_quiet.rule), 1);
    assert_int_equal(count(&ns, hv_seen.key, hv_seen.rule), 0);

    /* And at 20+1 weeks the quiet pregnancy's second deadline; nothing twice. */
    nb_stream_set_fixed_now(in.st, book20_deadline + HOUR);
    await_note(conf, &ns, book_quiet.key, "booking_not_done_by_20_weeks");
    settle(&in, 0);
    read_notes(conf, &ns);
    assert_int_equal(count(&ns, book_quiet.key, "booking_not_done_by_20_weeks"), 1);
    assert_int_equal(count(&ns, book_done.key, "booking_not_done_by_20_weeks"), 0);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(count(&ns, all[i]->key, all[i]->rule), all[i]->quiet ? 1 : 0);
    for (size_t i = 0; i < ns.n; i++)
        assert_string_not_equal(ns.v[i].kind, "withdrawn");
    stop_instance(&in);

    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
    nb_config_destroy(conf);
    nb_broker_destroy(b);
}

/* Two instances in the group: each reports the watermarks of its partitions to the owners of
 * the other by-child partitions; a report of a partition it does not hold itself must hold
 * nothing back for ever (it once made an empty local entry that held deadlines at time 0). A
 * quiet baby is notified once, by whichever instance owns it. */
static void test_two_instances_report_their_watermarks(void **state)
{
    (void)state;
    char errstr[512];
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_config_t *conf = make_conf(bs, t0);
    nb_broker_create_topics(b, conf, 1);
    nb_registry_t *reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    int32_t today = nb_day_of(t0);
    subject_t baby = {"baby E", "new_birth_visit_overdue", "", "", today - 5, 0, true};
    nhs_number(7700, baby.nhs);
    key_of(conf, &baby, false);
    batch_t bt;
    batch_open(&bt, codec);
    appt(&bt, baby.nhs, baby.dob, NULL, 0, NB_AGENCY_HEALTH_VISITING, "new_birth_visit", true,
         "nbv-e", (int64_t)(baby.dob + 12) * DAY + 10 * HOUR, NB_STATUS_BOOKED, 1, t0 - DAY);
    batch_send(&bt, conf);

    instance_t in[2];
    nb_it_conf_opts_t o = {NULL, false, false, t0, 1000};
    nb_it_daemon_start(&in[0], nb_it_conf(bs, "nb-absence-a", &o), false);
    settle(&in[0], 1);
    nb_it_daemon_start(&in[1], nb_it_conf(bs, "nb-absence-b", &o), false);
    /* Both own by-child partitions, neither restores or catches up. */
    nb_stream_stats_t s[2];
    for (int64_t until = nb_it_now_ms() + 120000; nb_it_now_ms() < until; nb_it_sleep_ms(50)) {
        nb_stream_stats(in[0].st, &s[0]);
        nb_stream_stats(in[1].st, &s[1]);
        if (s[0].ready && s[1].ready && s[0].owned > 0 && s[1].owned > 0 &&
            s[0].owned + s[1].owned == in[0].conf->partitions && !s[0].catching_up &&
            !s[1].catching_up)
            break;
    }
    assert_true(s[0].owned > 0 && s[1].owned > 0);
    /* Reports go out once a second: a few ticks on both, so that each has heard the other's
     * before the deadline passes. */
    for (int i = 0; i < 2; i++) {
        settle(&in[0], 0);
        settle(&in[1], 0);
    }
    int64_t after = (int64_t)(baby.dob + 15) * DAY + HOUR;
    nb_stream_set_fixed_now(in[0].st, after);
    nb_stream_set_fixed_now(in[1].st, after);
    static notes_t ns;
    ns.codec = codec;
    int n = 0;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until && n == 0;
         nb_it_sleep_ms(200)) {
        read_notes(conf, &ns);
        n = count(&ns, baby.key, baby.rule);
    }
    /* A few ticks more on both: still once. */
    settle(&in[0], 0);
    settle(&in[1], 0);
    read_notes(conf, &ns);
    print_message("two instances own %d and %d partitions; %d notification(s)\n",
                  (int)s[0].owned, (int)s[1].owned, count(&ns, baby.key, baby.rule));
    assert_int_equal(count(&ns, baby.key, baby.rule), 1);
    stop_instance(&in[1]);
    stop_instance(&in[0]);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
    nb_config_destroy(conf);
    nb_broker_destroy(b);
}

static int group_setup(void **state)
{
    (void)state;
    assert_true(nb_parse_time("2026-03-02T09:00:00Z", &t0));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_children_are_notified_at_their_deadlines),
        cmocka_unit_test(test_two_instances_report_their_watermarks),
    };
    const char *filter = getenv("NB_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
