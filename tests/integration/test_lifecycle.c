/*
 * Integration test: the notification lifecycle on the embedded broker, with the evaluation
 * clock moved by the test (escalation rungs fall due hours after a notification).
 *
 * Three children on child protection plans each miss an appointment, which raises an urgent
 * notification whose ladder escalates after 4 and 8 hours (config/policy/wnb-wales-base.yaml):
 *   A is never acknowledged: it escalates up the whole ladder, the second rung after a
 *     restart, and each escalation is published exactly once;
 *   B is acknowledged: it never escalates;
 *   C's outcome is corrected to attended: the notification is withdrawn.
 * A fourth child, D, has three appointments cancelled by the family: a curiosity-tier rule
 * with a weekly digest, so D appears in one digest to the GP safeguarding lead when the week
 * ends, and in no notification of its own.
 * The inbox's view fed from the same topics then holds A open at level 2, B closed, C
 * withdrawn and nothing for D, and follows a verdict written after it caught up.
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
#include "notbrought/inbox.h"
#include "notbrought/stream.h"

#include "common.h"

#define HOUR 3600000LL

static int64_t t0;
static char recfile[64];

typedef struct instance_s {
    nb_config_t *conf;
    nb_stream_t *st;
    pthread_t thread;
    nb_err_t result;
} instance_t;

/* Absence deadlines stay held (tests/integration/test_absence.c tests them). */
static nb_config_t *make_conf(const char *bootstrap, int64_t fixed)
{
    nb_it_conf_opts_t o = {"lifecycle-test-hmac-key-0123456789", true, true, fixed, 86400000};
    return nb_it_conf(bootstrap, "notbrought-1", &o);
}

static void *run_instance(void *arg)
{
    instance_t *in = arg;
    in->result = nb_stream_run(in->st, NULL, NULL);
    return NULL;
}

static void start(instance_t *in, const char *bs, int64_t fixed)
{
    char errstr[1024];
    memset(in, 0, sizeof(*in));
    in->conf = make_conf(bs, fixed);
    in->st = nb_stream_new(in->conf, errstr, sizeof(errstr));
    if (!in->st)
        fail_msg("nb_stream_new: %s", errstr);
    assert_int_equal(pthread_create(&in->thread, NULL, run_instance, in), 0);
}

static void stop(instance_t *in)
{
    nb_stream_stop(in->st); /* not a signal flag: this is another thread */
    pthread_join(in->thread, NULL);
    assert_int_equal(in->result, NB_ERR_OK);
    nb_stream_destroy(in->st);
    nb_config_destroy(in->conf);
}

/* ---- inputs ---------------------------------------------------------------------------------- */

static const char *const nhs[4] = {"9434765919", "9990000018", "9990000026", "9990000034"};

static nb_codec_t *codec;
static nb_registry_t *reg;

static void write_rec(FILE *f, const char *topic, const char *key, nb_record_t *rec)
{
    char errstr[256];
    nb_buf_t b = {0};
    assert_int_equal(nb_codec_encode(codec, rec, &b, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_recfile_write(f, topic, key, b.data, b.len, t0), 0);
    nb_buf_free(&b);
}

static void fact(FILE *f, int child)
{
    nb_record_t r;
    memset(&r, 0, sizeof(r));
    r.type = NB_RECORD_CONTEXT_FACT;
    snprintf(r.u.fact.event_id, sizeof(r.u.fact.event_id), "cp-%d", child);
    strcpy(r.u.fact.nhs_number, nhs[child]);
    r.u.fact.kind = NB_FACT_CHILD_PROTECTION_PLAN;
    r.u.fact.start_date = nb_day_of(t0) - 90;
    r.u.fact.end_date = NB_DATE_NONE;
    r.u.fact.status = NB_FACT_STATUS_CURRENT;
    strcpy(r.u.fact.source_system, "WCCIS");
    strcpy(r.u.fact.organisation_code, "W04000");
    r.u.fact.recorded_at = t0 - 90 * 24 * HOUR;
    r.u.fact.version = 1;
    write_rec(f, "events", nhs[child], &r);
}

static void appointment(FILE *f, int child, nb_status_t status, int version)
{
    nb_record_t r;
    memset(&r, 0, sizeof(r));
    r.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &r.u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "gp-%d-v%d", child, version);
    a->source.agency = NB_AGENCY_GP;
    strcpy(a->source.system, "EMIS Web");
    strcpy(a->source.organisation_code, "W91001");
    a->subject_kind = NB_SUBJECT_CHILD;
    strcpy(a->nhs_number, nhs[child]);
    a->date_of_birth = nb_day_of(t0) - 700;
    a->expected_delivery_date = NB_DATE_NONE;
    snprintf(a->appointment_id, sizeof(a->appointment_id), "gp-%d", child);
    strcpy(a->appointment_type, "immunisation");
    a->contact_mode = NB_CONTACT_FACE_TO_FACE;
    a->scheduled_start = t0 - 3 * HOUR;
    a->status = status;
    a->recorded_at = t0 - 2 * HOUR + version;
    a->version = version;
    write_rec(f, "events", nhs[child], &r);
}

static void cancellation(FILE *f, int child, int k)
{
    nb_record_t r;
    memset(&r, 0, sizeof(r));
    r.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &r.u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "gp-%d-%d-v2", child, k);
    a->source.agency = NB_AGENCY_GP;
    strcpy(a->source.system, "EMIS Web");
    strcpy(a->source.organisation_code, "W91001");
    a->subject_kind = NB_SUBJECT_CHILD;
    strcpy(a->nhs_number, nhs[child]);
    a->date_of_birth = nb_day_of(t0) - 1500;
    a->expected_delivery_date = NB_DATE_NONE;
    snprintf(a->appointment_id, sizeof(a->appointment_id), "gp-%d-%d", child, k);
    strcpy(a->appointment_type, "asthma_review");
    a->contact_mode = NB_CONTACT_FACE_TO_FACE;
    a->scheduled_start = t0 - (int64_t)(20 + 30 * k) * 24 * HOUR;
    a->status = NB_STATUS_CANCELLED_BY_PATIENT;
    a->recorded_at = a->scheduled_start - 24 * HOUR;
    a->version = 2;
    write_rec(f, "events", nhs[child], &r);
}

static void produce_file(const char *bs)
{
    char errstr[256];
    long n;
    nb_config_t *c = make_conf(bs, t0);
    assert_int_equal(nb_stream_produce_file(c, recfile, &n, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_config_destroy(c);
}

/* ---- outputs --------------------------------------------------------------------------------- */

typedef struct seen_s {
    char id[NB_ID_MAX + 1];
    char key[NB_KEY_MAX + 1];
    char nhs[NB_NHS_LEN + 1];
    nb_notification_kind_t kind;
    int level;
    int count;
} seen_t;

typedef struct seen_set_s {
    seen_t v[64];
    size_t n;
    size_t digest_items;
    char digest_item_nhs[NB_NHS_LEN + 1];
    char digest_title[NB_TITLE_MAX + 1]; /* the digest's recipient, as a nurse reads it */
    long audit_acknowledged;
    long audit_received;
} seen_set_t;

static int seen_cb(void *opaque, const char *topic, const char *key, const void *value,
                   size_t len, int64_t ts)
{
    seen_set_t *s = opaque;
    nb_record_t rec;
    char errstr[256];
    (void)topic;
    (void)key;
    (void)ts;
    assert_int_equal(nb_codec_decode(codec, value, len, NB_RECORD_NOTIFICATION, &rec, errstr,
                                     sizeof(errstr)),
                     NB_ERR_OK);
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].id, rec.u.notif.notification_id) == 0) {
            s->v[i].count++;
            return 0;
        }
    }
    assert_true(s->n < 64);
    if (rec.u.notif.kind == NB_NOTIFICATION_DIGEST) {
        s->digest_items = rec.u.notif.n_items;
        if (rec.u.notif.n_recipients)
            snprintf(s->digest_title, sizeof(s->digest_title), "%s",
                     rec.u.notif.recipients[0].title);
        if (rec.u.notif.n_items)
            snprintf(s->digest_item_nhs, sizeof(s->digest_item_nhs), "%s",
                     rec.u.notif.items[0].nhs_number);
    }
    seen_t *e = &s->v[s->n++];
    snprintf(e->id, sizeof(e->id), "%s", rec.u.notif.notification_id);
    snprintf(e->key, sizeof(e->key), "%s", rec.u.notif.child_key);
    snprintf(e->nhs, sizeof(e->nhs), "%s", rec.u.notif.nhs_number);
    e->kind = rec.u.notif.kind;
    e->level = rec.u.notif.escalation_level;
    e->count = 1;
    return 0;
}

/* Every audit record is an AuditRecord (schemas/audit_record.avsc) that decodes; a close is
 * audited as "closed" with its action (docs/inbox.md: the verdict on an action), and each
 * event that changed a child's history as "received". */
static int audit_cb(void *opaque, const char *topic, const char *key, const void *value,
                    size_t len, int64_t ts)
{
    seen_set_t *s = opaque;
    static nb_record_t rec;
    char errstr[256];
    (void)topic;
    (void)ts;
    assert_true(len > 0 && ((const uint8_t *)value)[0] == 0); /* Avro, not JSON */
    assert_int_equal(nb_stream_audit_decode(codec, value, len, &rec, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    const nb_audit_t *a = &rec.u.audit;
    if (a->kind == NB_AUDIT_CLOSED) {
        assert_true(a->has_action);
        assert_int_equal(a->action.intent, NB_ACK_INTENT_CLOSE);
        s->audit_acknowledged++;
    }
    if (a->kind == NB_AUDIT_RECEIVED) {
        assert_true(a->has_event);
        assert_string_equal(key, a->child_key);
        s->audit_received++;
    }
    return 0;
}

static void read_outputs(const char *bs, seen_set_t *s)
{
    char errstr[256];
    nb_config_t *c = make_conf(bs, t0);
    memset(s, 0, sizeof(*s));
    assert_int_equal(nb_stream_consume(c, "notifications", 0, 1200, false, seen_cb, s, errstr,
                                       sizeof(errstr)),
                     NB_ERR_OK);
    assert_int_equal(nb_stream_consume(c, "notbrought.audit", 0, 1200, false, audit_cb, s, errstr,
                                       sizeof(errstr)),
                     NB_ERR_OK);
    nb_config_destroy(c);
}

static const seen_t *find(const seen_set_t *s, int child, nb_notification_kind_t kind, int level)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].nhs, nhs[child]) == 0 && s->v[i].kind == kind &&
            s->v[i].level == level)
            return &s->v[i];
    return NULL;
}

/* Waits, with a deadline, until pred holds over the outputs. */
static void await(const char *bs, seen_set_t *s, bool (*pred)(const seen_set_t *),
                  const char *what)
{
    int64_t deadline = nb_it_now_ms() + 90000;
    while (nb_it_now_ms() < deadline) {
        read_outputs(bs, s);
        if (pred(s))
            return;
        nb_it_sleep_ms(300);
    }
    fail_msg("timed out waiting for: %s (%zu notifications)", what, s->n);
}

static bool three_new(const seen_set_t *s)
{
    return find(s, 0, NB_NOTIFICATION_NEW, 0) && find(s, 1, NB_NOTIFICATION_NEW, 0) &&
           find(s, 2, NB_NOTIFICATION_NEW, 0);
}

static bool ack_and_withdrawal(const seen_set_t *s)
{
    return s->audit_acknowledged >= 1 && s->audit_received >= 1 &&
           find(s, 2, NB_NOTIFICATION_WITHDRAWN, 0);
}

static bool first_rung(const seen_set_t *s)
{
    return find(s, 0, NB_NOTIFICATION_ESCALATED, 1) != NULL;
}

static bool second_rung(const seen_set_t *s)
{
    return find(s, 0, NB_NOTIFICATION_ESCALATED, 2) != NULL;
}

static bool digest_out(const seen_set_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].kind == NB_NOTIFICATION_DIGEST)
            return true;
    return false;
}

/* ---- the inbox's view ---------------------------------------------------------------------- */

/* Whether the view shows A owned by nurse-7 (the verdict the test writes). */
static bool a_owned(nb_inbox_t *v, pthread_mutex_t *lock, const char *a_id)
{
    nb_inbox_item_t it;
    pthread_mutex_lock(lock);
    bool ok = nb_inbox_by_id(v, a_id, t0, &it) && it.state == NB_INBOX_OWNED &&
              strcmp(it.owner, "nurse-7") == 0;
    pthread_mutex_unlock(lock);
    return ok;
}

/* The inbox's view (docs/inbox.md §2) fed from the same topics: one entry per notification,
 * whatever followed it (A escalated twice and still open, B closed by its acknowledgement, C
 * withdrawn, D only in a digest: no entry), then following what comes (a verdict on A). */
static void check_view(const char *bs, const seen_set_t *s)
{
    char errstr[256];
    nb_config_t *c = make_conf(bs, t0);
    nb_inbox_t *v = nb_inbox_new();
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    nb_inbox_feed_t *feed = nb_inbox_feed_start(c, v, &lock, errstr, sizeof(errstr));
    if (!feed)
        fail_msg("nb_inbox_feed_start: %s", errstr);
    for (int64_t until = nb_it_now_ms() + 60000; !nb_inbox_feed_caught_up(feed); nb_it_sleep_ms(20))
        if (nb_it_now_ms() >= until)
            fail_msg("the view did not read the topics to their end within 60 s");
    const seen_t *a = find(s, 0, NB_NOTIFICATION_NEW, 0), *b = find(s, 1, NB_NOTIFICATION_NEW, 0),
                 *cn = find(s, 2, NB_NOTIFICATION_NEW, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(cn);
    nb_inbox_item_t it;
    nb_inbox_stats_t st;
    pthread_mutex_lock(&lock);
    nb_inbox_stats(v, &st);
    assert_int_equal(st.notifications, 3);
    assert_int_equal(st.by_state[NB_INBOX_OPEN], 1);
    assert_int_equal(st.by_state[NB_INBOX_CLOSED], 1);
    assert_int_equal(st.by_state[NB_INBOX_WITHDRAWN], 1);
    assert_true(nb_inbox_by_id(v, a->id, t0, &it));
    assert_int_equal(it.state, NB_INBOX_OPEN);
    assert_int_equal(it.level, 2);
    assert_true(it.n_queues >= 1);
    assert_true(nb_inbox_by_reference(v, it.reference, t0, &it));
    assert_string_equal(it.notification_id, a->id);
    assert_true(nb_inbox_by_id(v, b->id, t0, &it));
    assert_int_equal(it.state, NB_INBOX_CLOSED);
    assert_true(nb_inbox_by_id(v, cn->id, t0, &it));
    assert_int_equal(it.state, NB_INBOX_WITHDRAWN);
    pthread_mutex_unlock(&lock);
    size_t applied, refused;
    nb_inbox_feed_counts(feed, &applied, &refused);
    assert_int_equal(refused, 0);
    assert_true(applied >= 6);

    /* What comes next is followed: a verdict on A, as the daemon writes it for a take. */
    static nb_record_t vr;
    memset(&vr, 0, sizeof(vr));
    vr.type = NB_RECORD_AUDIT;
    nb_audit_init(&vr.u.audit, NB_AUDIT_TAKEN, t0);
    snprintf(vr.u.audit.child_key, sizeof(vr.u.audit.child_key), "%s", a->key);
    snprintf(vr.u.audit.notification_id, sizeof(vr.u.audit.notification_id), "%s", a->id);
    vr.u.audit.has_action = true;
    snprintf(vr.u.audit.action.ack_id, sizeof(vr.u.audit.action.ack_id), "ack-7");
    vr.u.audit.action.intent = NB_ACK_INTENT_TAKE;
    vr.u.audit.action.acted_at = t0;
    snprintf(vr.u.audit.action.owner_user, sizeof(vr.u.audit.action.owner_user), "nurse-7");
    nb_audit_set_id(&vr.u.audit, "ack-7", a->id, 0);
    FILE *f = fopen(recfile, "w");
    write_rec(f, c->audit_topic, a->key, &vr);
    fclose(f);
    produce_file(bs);
    for (int64_t until = nb_it_now_ms() + 60000; !a_owned(v, &lock, a->id); nb_it_sleep_ms(20))
        if (nb_it_now_ms() >= until)
            fail_msg("the view did not follow a verdict within 60 s");
    nb_inbox_feed_stop(feed);
    nb_inbox_destroy(v);
    nb_config_destroy(c);
}

static void test_lifecycle(void **state)
{
    char errstr[256];
    seen_set_t s;
    (void)state;
    /* A weekday morning, so that "same day" deadlines and 4-hour rungs fall in working hours. */
    assert_true(nb_parse_time("2026-03-10T09:00:00Z", &t0));
    reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    codec = nb_codec_new(reg, errstr, sizeof(errstr));
    snprintf(recfile, sizeof(recfile), "/tmp/nb-lc-%d.jsonl", (int)getpid());

    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_config_t *c = make_conf(bs, t0);
    nb_broker_create_topics(b, c, 1);
    nb_config_destroy(c);

    FILE *f = fopen(recfile, "w");
    for (int k = 0; k < 3; k++) {
        fact(f, k);
        appointment(f, k, NB_STATUS_WAS_NOT_BROUGHT, 2);
    }
    for (int k = 0; k < 3; k++)
        cancellation(f, 3, k);
    fclose(f);
    instance_t in;
    start(&in, bs, t0);
    produce_file(bs);
    await(bs, &s, three_new, "three new notifications");
    const seen_t *nb_ = find(&s, 1, NB_NOTIFICATION_NEW, 0);
    char b_id[NB_ID_MAX + 1], b_key[NB_KEY_MAX + 1];
    snprintf(b_id, sizeof(b_id), "%s", nb_->id);
    snprintf(b_key, sizeof(b_key), "%s", nb_->key);

    /* B is acknowledged (keyed by the notification's key); C's outcome is corrected. */
    f = fopen(recfile, "w");
    nb_record_t ack;
    memset(&ack, 0, sizeof(ack));
    ack.type = NB_RECORD_ACK;
    strcpy(ack.u.ack.ack_id, "ack-b");
    snprintf(ack.u.ack.notification_id, sizeof(ack.u.ack.notification_id), "%s", b_id);
    strcpy(ack.u.ack.acknowledged_by, "staff-42");
    strcpy(ack.u.ack.role, "named_nurse");
    ack.u.ack.action = NB_ACK_CONTACTED_FAMILY;
    ack.u.ack.acknowledged_at = t0 + HOUR;
    write_rec(f, "notification.acks", b_key, &ack);
    appointment(f, 2, NB_STATUS_ATTENDED, 3);
    fclose(f);
    nb_stream_set_fixed_now(in.st, t0 + HOUR);
    produce_file(bs);
    await(bs, &s, ack_and_withdrawal, "acknowledgement and withdrawal");

    /* Four hours on: A escalates to the first rung. */
    nb_stream_set_fixed_now(in.st, t0 + 4 * HOUR + 60000);
    await(bs, &s, first_rung, "first escalation of A");
    stop(&in);

    /* The daemon restarts after the second rung fell due: it fires once, after restoring. */
    start(&in, bs, t0 + 9 * HOUR);
    await(bs, &s, second_rung, "second escalation of A after the restart");
    /* The week ends (2026-03-16T00:00Z): one digest for the GP safeguarding lead. */
    nb_stream_set_fixed_now(in.st, t0 + 6 * 24 * HOUR);
    await(bs, &s, digest_out, "the weekly digest");
    /* Two more ticks (every timer due by the clock has fired in them): nothing more may
     * appear. */
    nb_stream_stats_t was, now;
    nb_stream_stats(in.st, &was);
    for (int64_t until = nb_it_now_ms() + 60000;; nb_it_sleep_ms(20)) {
        nb_stream_stats(in.st, &now);
        if (now.ticks >= was.ticks + 2)
            break;
        if (nb_it_now_ms() >= until)
            fail_msg("no two ticks within 60 s");
    }
    stop(&in);
    read_outputs(bs, &s);

    for (size_t i = 0; i < s.n; i++)
        print_message("%-40s %-9s level %d  x%d\n", s.v[i].id,
                      nb_notification_kind_name(s.v[i].kind), s.v[i].level, s.v[i].count);
    /* A new, A e1, A e2, B new, C new, C withdrawn, and one digest naming D */
    assert_int_equal(s.n, 7);
    assert_int_equal(s.digest_items, 1);
    assert_string_equal(s.digest_item_nhs, nhs[3]);
    assert_true(s.digest_title[0] != '\0'); /* the role's title, not only its id */
    assert_null(find(&s, 3, NB_NOTIFICATION_NEW, 0));
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.v[i].count, 1); /* each exactly once */
    assert_null(find(&s, 1, NB_NOTIFICATION_ESCALATED, 1));
    assert_null(find(&s, 2, NB_NOTIFICATION_ESCALATED, 1));
    assert_non_null(find(&s, 2, NB_NOTIFICATION_WITHDRAWN, 0));
    check_view(bs, &s);

    unlink(recfile);
    nb_broker_destroy(b);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_lifecycle)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
