/*
 * Integration test: antenatal history named by a maternity number reaches the baby (issue 20,
 * item 1), on the embedded broker.
 *
 * Midwifery names the pregnant woman by her maternity number only; a `link` joins that number
 * to her NHS number; the birth link (`unborn_to_child`) names her NHS number. The baby then
 * misses a health visiting contact: with the antenatal misses in the baby's history that is
 * two agencies (under5_multiagency); without them, one miss with one agency and no
 * notification.
 *
 * Mother A, the hard order: antenatal misses by maternity number, then the link, then a
 * restart of the daemon (the identity table is rebuilt from the links topic; nothing learned
 * from events survives), then the birth link. Mother B: the link and the birth link first,
 * then the antenatal misses by maternity number arrive late. Mother C, still pregnant: three
 * recent misses by maternity number raise antenatal_wnb_repeated under that number's key; the
 * link then moves the pregnancy to her NHS number's key, and the open notification is neither
 * withdrawn nor raised again.
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
#define SYS_MAT "urn:notbrought:maternity:7A4"

/* Monday 2 March 2026, 09:00 UTC. */
static const int64_t t0 = 1772442000000LL;

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
    snprintf(b->path, sizeof(b->path), "/tmp/nb-pregnancy-%d.rec", (int)getpid());
    b->f = fopen(b->path, "w");
    assert_non_null(b->f);
}

static void put(batch_t *b, const nb_record_t *rec, const char *topic, const char *key)
{
    char errstr[512];
    nb_buf_t buf = {0};
    assert_int_equal(nb_codec_encode(b->codec, rec, &buf, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_recfile_write(b->f, topic, key, buf.data, buf.len, t0 - DAY), 0);
    nb_buf_free(&buf);
    b->n++;
}

/* An antenatal appointment of the pregnancy of (@p sys, @p person, @p edd). */
static void antenatal(batch_t *b, const char *sys, const char *person, int32_t edd,
                      const char *id, const char *type, int64_t when, nb_status_t status)
{
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec.u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "%s-v1", id);
    a->source.agency = NB_AGENCY_MIDWIFERY;
    snprintf(a->source.system, sizeof(a->source.system), "BadgerNet");
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "7A4");
    a->subject_kind = NB_SUBJECT_UNBORN;
    snprintf(a->pregnant_person_id.system, sizeof(a->pregnant_person_id.system), "%s", sys);
    snprintf(a->pregnant_person_id.value, sizeof(a->pregnant_person_id.value), "%s", person);
    a->expected_delivery_date = edd;
    a->date_of_birth = NB_DATE_NONE;
    snprintf(a->appointment_id, sizeof(a->appointment_id), "%s", id);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "%s", type);
    a->contact_mode = NB_CONTACT_FACE_TO_FACE;
    a->scheduled_start = when;
    a->status = status;
    a->recorded_at = when + HOUR;
    a->version = 1;
    put(b, &rec, "midwifery.appointments", id);
}

/* A missed antenatal appointment of the pregnancy (maternity number @p mat, @p edd). */
static void antenatal_missed(batch_t *b, const char *mat, int32_t edd, const char *id,
                             const char *type, int64_t when)
{
    antenatal(b, SYS_MAT, mat, edd, id, type, when, NB_STATUS_WAS_NOT_BROUGHT);
}

/* The baby's missed health visiting contact. */
static void hv_missed(batch_t *b, const char *nhs, int32_t dob, const char *id, int64_t when)
{
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec.u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "%s-v1", id);
    a->source.agency = NB_AGENCY_HEALTH_VISITING;
    snprintf(a->source.system, sizeof(a->source.system), "CYPRIS");
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "7A1");
    a->subject_kind = NB_SUBJECT_CHILD;
    snprintf(a->nhs_number, sizeof(a->nhs_number), "%s", nhs);
    a->date_of_birth = dob;
    a->expected_delivery_date = NB_DATE_NONE;
    snprintf(a->appointment_id, sizeof(a->appointment_id), "%s", id);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "home_visit");
    a->contact_mode = NB_CONTACT_FACE_TO_FACE;
    a->scheduled_start = when;
    a->status = NB_STATUS_WAS_NOT_BROUGHT;
    a->recorded_at = when + HOUR;
    a->version = 1;
    put(b, &rec, "hv.contacts", id);
}

static void link_stmt(batch_t *b, nb_link_kind_t kind, const char *id, const char *from_sys,
                      const char *from_val, const char *to_nhs, int32_t edd)
{
    nb_record_t rec;
    char key[160];
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_IDENTITY_LINK;
    nb_identity_link_t *l = &rec.u.link;
    snprintf(l->event_id, sizeof(l->event_id), "%s", id);
    l->kind = kind;
    snprintf(l->from.system, sizeof(l->from.system), "%s", from_sys);
    snprintf(l->from.value, sizeof(l->from.value), "%s", from_val);
    snprintf(l->to.system, sizeof(l->to.system), NB_SYSTEM_NHS_NUMBER);
    snprintf(l->to.value, sizeof(l->to.value), "%s", to_nhs);
    l->expected_delivery_date = edd;
    l->source.agency = NB_AGENCY_MIDWIFERY;
    snprintf(l->source.system, sizeof(l->source.system), "BadgerNet");
    snprintf(l->source.organisation_code, sizeof(l->source.organisation_code), "7A4");
    l->verification = NB_VERIFICATION_LOCALLY_VERIFIED;
    l->recorded_at = t0 - DAY;
    /* Compaction keeps one statement per key: a birth link's key names the pregnancy. */
    if (edd != NB_DATE_NONE)
        snprintf(key, sizeof(key), "%s|%s|%d", from_sys, from_val, (int)edd);
    else
        snprintf(key, sizeof(key), "%s|%s", from_sys, from_val);
    put(b, &rec, "identity.links", key);
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

/* Waits until the instance is ready, has read @p records source records and @p links links,
 * and has run two more ticks (the second after whatever the first decided committed). */
static void settle(nb_it_daemon_t *in, uint64_t records, uint64_t links)
{
    nb_stream_stats_t s;
    nb_stream_stats(in->st, &s);
    uint64_t ticks = s.ticks;
    for (int64_t until = nb_it_now_ms() + 120000; nb_it_now_ms() < until; nb_it_sleep_ms(50)) {
        nb_stream_stats(in->st, &s);
        if (s.ready && s.records_in >= records && s.links >= links && s.ticks >= ticks + 2 &&
            !s.catching_up)
            return;
    }
    fail_msg("not settled: %llu of %llu records, %llu of %llu links, ready %d",
             (unsigned long long)s.records_in, (unsigned long long)records,
             (unsigned long long)s.links, (unsigned long long)links, (int)s.ready);
}

typedef struct note_s {
    char child[NB_KEY_MAX + 1], rule[80], kind[16];
    int midwifery; /* evidence from midwifery */
    int tier;
} note_t;

typedef struct notes_s {
    nb_codec_t *codec;
    note_t v[128];
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
    assert_int_equal(nb_codec_decode(ns->codec, value, len, NB_RECORD_NOTIFICATION, &rec,
                                     errstr, sizeof(errstr)),
                     NB_ERR_OK);
    if (ns->n < sizeof(ns->v) / sizeof(ns->v[0])) {
        note_t *n = &ns->v[ns->n++];
        snprintf(n->child, sizeof(n->child), "%s", rec.u.notif.child_key);
        snprintf(n->rule, sizeof(n->rule), "%s", rec.u.notif.rule_id);
        snprintf(n->kind, sizeof(n->kind), "%s", nb_notification_kind_name(rec.u.notif.kind));
        n->tier = (int)rec.u.notif.tier;
        n->midwifery = 0;
        for (size_t i = 0; i < rec.u.notif.n_evidence; i++)
            n->midwifery += rec.u.notif.evidence[i].agency == NB_AGENCY_MIDWIFERY;
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

/* The notification of @p rule for @p child (kind new), or NULL; fails if there are two. */
static const note_t *find(const notes_t *ns, const char *child, const char *rule)
{
    const note_t *f = NULL;
    for (size_t i = 0; i < ns->n; i++) {
        if (strcmp(ns->v[i].child, child) == 0 && strcmp(ns->v[i].rule, rule) == 0 &&
            strcmp(ns->v[i].kind, "new") == 0) {
            assert_null(f);
            f = &ns->v[i];
        }
    }
    return f;
}

/* Notifications of @p rule of kind @p kind, for any key. */
static int count_rule(const notes_t *ns, const char *rule, const char *kind)
{
    int n = 0;
    for (size_t i = 0; i < ns->n; i++)
        n += strcmp(ns->v[i].rule, rule) == 0 && strcmp(ns->v[i].kind, kind) == 0;
    return n;
}

static void child_key(const nb_config_t *conf, const char *nhs, char key[NB_KEY_MAX + 1])
{
    char errstr[256];
    nb_identity_conf_t ic;
    nb_identity_conf_default(&ic);
    ic.secret = (const uint8_t *)conf->hmac_key;
    ic.secret_len = strlen(conf->hmac_key);
    nb_identity_t *idt = nb_identity_new(&ic, errstr, sizeof(errstr));
    assert_non_null(idt);
    assert_int_equal(nb_identity_child_key(idt, nhs, key), NB_ERR_OK);
    nb_identity_destroy(idt);
}

static void test_antenatal_misses_by_maternity_number_reach_the_baby(void **state)
{
    (void)state;
    char errstr[512];
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_it_conf_opts_t o = {NULL, false, false, t0, 1000};
    nb_config_t *conf = nb_it_conf(bs, "nb-pregnancy", &o);
    nb_broker_create_topics(b, conf, 1);
    nb_registry_t *reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    assert_non_null(codec);

    const char *mother_a = "9990001251", *baby_a = "9990002266";
    const char *mother_b = "9990003211", *baby_b = "9990004234";
    char key_a[NB_KEY_MAX + 1], key_b[NB_KEY_MAX + 1];
    assert_int_equal(nb_nhs_validate(mother_a), NB_ERR_OK);
    assert_int_equal(nb_nhs_validate(baby_a), NB_ERR_OK);
    assert_int_equal(nb_nhs_validate(mother_b), NB_ERR_OK);
    assert_int_equal(nb_nhs_validate(baby_b), NB_ERR_OK);
    child_key(conf, baby_a, key_a);
    child_key(conf, baby_b, key_b);
    int32_t today = nb_day_of(t0);
    int32_t dob = today - 40, edd = dob + 3;

    /* Mother A: two missed antenatal appointments, by maternity number only. Mother C: three
     * recent ones. */
    const char *mother_c = "9990005141";
    int32_t edd_c = today + 60;
    assert_int_equal(nb_nhs_validate(mother_c), NB_ERR_OK);
    batch_t bt;
    batch_open(&bt, codec);
    antenatal_missed(&bt, "MAT-C", edd_c, "anc-c1", "antenatal_25w", t0 - 20 * DAY);
    antenatal_missed(&bt, "MAT-C", edd_c, "anc-c2", "antenatal_28w", t0 - 10 * DAY);
    antenatal_missed(&bt, "MAT-C", edd_c, "anc-c3", "antenatal_31w", t0 - 5 * DAY);
    antenatal_missed(&bt, "MAT-A", edd, "anc-a1", "antenatal_31w", (int64_t)(edd - 63) * DAY);
    antenatal_missed(&bt, "MAT-A", edd, "anc-a2", "antenatal_34w", (int64_t)(edd - 42) * DAY);
    batch_send(&bt, conf);
    uint64_t records = (uint64_t)bt.n, links = 0;
    nb_it_daemon_t in;
    nb_it_daemon_start(&in, nb_it_conf(bs, "nb-pregnancy", &o), false);
    settle(&in, records, links);
    static notes_t ns;
    ns.codec = codec;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(100)) {
        read_notes(conf, &ns);
        if (count_rule(&ns, "antenatal_wnb_repeated", "new") == 1)
            break;
    }
    assert_int_equal(count_rule(&ns, "antenatal_wnb_repeated", "new"), 1);
    int wnb_before = count_rule(&ns, "antenatal_wnb", "new");
    assert_true(wnb_before >= 1);

    /* The links from their maternity numbers to their NHS numbers. */
    batch_open(&bt, codec);
    link_stmt(&bt, NB_LINK_LINK, "link-a", SYS_MAT, "MAT-A", mother_a, NB_DATE_NONE);
    link_stmt(&bt, NB_LINK_LINK, "link-c", SYS_MAT, "MAT-C", mother_c, NB_DATE_NONE);
    batch_send(&bt, conf);
    links += 2;
    settle(&in, records, links);

    /* A restart: the identity table is rebuilt from the links topic. */
    nb_it_daemon_stop(&in);
    nb_it_daemon_start(&in, nb_it_conf(bs, "nb-pregnancy", &o), false);
    settle(&in, 0, links);

    /* The birth link by her NHS number, mother B's link and birth link, then the babies'
     * missed contacts and mother B's antenatal misses, late, by maternity number. */
    batch_open(&bt, codec);
    link_stmt(&bt, NB_LINK_UNBORN_TO_CHILD, "birth-a", NB_SYSTEM_NHS_NUMBER, mother_a, baby_a,
              edd);
    link_stmt(&bt, NB_LINK_LINK, "link-b", SYS_MAT, "MAT-B", mother_b, NB_DATE_NONE);
    link_stmt(&bt, NB_LINK_UNBORN_TO_CHILD, "birth-b", NB_SYSTEM_NHS_NUMBER, mother_b, baby_b,
              edd);
    batch_send(&bt, conf);
    links += 3;
    settle(&in, 0, links);
    batch_open(&bt, codec);
    hv_missed(&bt, baby_a, dob, "hv-a", t0 - 2 * DAY);
    hv_missed(&bt, baby_b, dob, "hv-b", t0 - 2 * DAY);
    antenatal_missed(&bt, "MAT-B", edd, "anc-b1", "antenatal_31w", (int64_t)(edd - 63) * DAY);
    batch_send(&bt, conf);
    records += (uint64_t)bt.n;
    settle(&in, 0, links);
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(100)) {
        nb_stream_stats_t s;
        nb_stream_stats(in.st, &s);
        if (s.notifications >= 2)
            break;
    }
    settle(&in, 0, links);

    read_notes(conf, &ns);
    const note_t *na = find(&ns, key_a, "under5_multiagency");
    const note_t *nb = find(&ns, key_b, "under5_multiagency");
    print_message("%zu notifications\n", ns.n);
    assert_non_null(na);
    assert_int_equal(na->midwifery, 2);
    assert_non_null(nb);
    assert_int_equal(nb->midwifery, 1);
    for (size_t i = 0; i < ns.n; i++)
        assert_string_not_equal(ns.v[i].kind, "withdrawn");
    /* Mother C's pregnancy moved to her NHS number's key: raised once, never again. */
    assert_int_equal(count_rule(&ns, "antenatal_wnb_repeated", "new"), 1);
    assert_int_equal(count_rule(&ns, "antenatal_wnb", "new"), wnb_before);

    /* Past every cool-down, mother C attends an appointment, named by her NHS number: the
     * pregnancy is evaluated again under her NHS number's key, and what was raised under the
     * maternity number's key is still the same notification (not raised again). */
    int64_t later = t0 + 30 * DAY;
    nb_stream_set_fixed_now(in.st, later);
    batch_open(&bt, codec);
    antenatal(&bt, NB_SYSTEM_NHS_NUMBER, mother_c, edd_c, "anc-c4", "antenatal_34w",
              later - 2 * DAY, NB_STATUS_ATTENDED);
    nb_stream_stats_t s;
    nb_stream_stats(in.st, &s);
    batch_send(&bt, conf);
    settle(&in, s.records_in + 1, links);
    read_notes(conf, &ns);
    assert_int_equal(count_rule(&ns, "antenatal_wnb_repeated", "new"), 1);
    assert_int_equal(count_rule(&ns, "antenatal_wnb", "new"), wnb_before);
    for (size_t i = 0; i < ns.n; i++)
        assert_string_not_equal(ns.v[i].kind, "withdrawn");
    nb_it_daemon_stop(&in);

    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
    nb_config_destroy(conf);
    nb_broker_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_antenatal_misses_by_maternity_number_reach_the_baby),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
