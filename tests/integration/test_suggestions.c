/*
 * Integration test: demographic link suggestions leave the identity module (issue 20, item 8),
 * on the embedded broker.
 *
 * A child is seen with an NHS number, date of birth, family name and postcode. Then two events
 * of another service's record without an NHS number (one unknown local identifier) carry the
 * same demographics, written differently: they are parked, not joined, and exactly one
 * IdentitySuggestion appears on topics.identity_suggestions, decoded and checked field by
 * field. An event whose postcode differs suggests nothing. After a restart (the learned
 * demographics are gone; the child is seen again and relearned) a third event of the same
 * identifier suggests nothing new: the pair is remembered in the changelogged state. A human
 * publishing the suggested link then joins the parked events. With suggestions off, the topic
 * stays empty. Once an identifier's parked events have expired, the pair may be suggested
 * again.
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
#define LOCAL_SYSTEM "urn:notbrought:hv:7A1"

static int64_t t0; /* Monday 2 March 2026, 09:00 UTC */

static nb_codec_t *codec;
static nb_registry_t *reg;

/* ---- input -------------------------------------------------------------------------------- */

typedef struct batch_s {
    FILE *f;
    char path[64];
    int n;
} batch_t;

static void batch_open(batch_t *b)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->path, sizeof(b->path), "/tmp/nb-suggest-%d.rec", (int)getpid());
    b->f = fopen(b->path, "w");
    assert_non_null(b->f);
}

/* A health-visiting contact that was not brought, for a child known by @p nhs, or by the local
 * identifier @p local only (then with no NHS number). */
static void contact(batch_t *b, const char *id, const char *nhs, const char *local, int32_t dob,
                    const char *family, const char *postcode, int64_t when)
{
    char errstr[512];
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec.u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "%s-v1", id);
    a->source.agency = NB_AGENCY_HEALTH_VISITING;
    snprintf(a->source.system, sizeof(a->source.system), "CYPRIS");
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "7A1");
    a->subject_kind = NB_SUBJECT_CHILD;
    if (nhs)
        snprintf(a->nhs_number, sizeof(a->nhs_number), "%s", nhs);
    if (local) {
        snprintf(a->local_id.system, sizeof(a->local_id.system), LOCAL_SYSTEM);
        snprintf(a->local_id.value, sizeof(a->local_id.value), "%s", local);
    }
    a->date_of_birth = dob;
    a->expected_delivery_date = NB_DATE_NONE;
    snprintf(a->family_name, sizeof(a->family_name), "%s", family);
    snprintf(a->postcode, sizeof(a->postcode), "%s", postcode);
    snprintf(a->appointment_id, sizeof(a->appointment_id), "%s", id);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "12_month_review");
    a->mandated_contact = true;
    a->contact_mode = NB_CONTACT_HOME_VISIT;
    a->scheduled_start = when;
    a->status = NB_STATUS_WAS_NOT_BROUGHT;
    a->recorded_at = when + HOUR;
    a->version = 1;
    nb_buf_t buf = {0};
    assert_int_equal(nb_codec_encode(codec, &rec, &buf, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_recfile_write(b->f, "hv.contacts", id, buf.data, buf.len, when + HOUR),
                     0);
    nb_buf_free(&buf);
    b->n++;
}

static void link_statement(batch_t *b, const nb_identity_link_t *l)
{
    char errstr[512];
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_IDENTITY_LINK;
    rec.u.link = *l;
    nb_buf_t buf = {0};
    assert_int_equal(nb_codec_encode(codec, &rec, &buf, errstr, sizeof(errstr)), NB_ERR_OK);
    assert_int_equal(nb_recfile_write(b->f, "identity.links", l->from.value, buf.data, buf.len,
                                      l->recorded_at),
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

static nb_config_t *make_conf(const char *bootstrap, bool suggest)
{
    nb_it_conf_opts_t o = {NULL, false, false, t0, 0};
    nb_config_t *c = nb_it_conf(bootstrap, "nb-suggest", &o);
    c->suggest_demographic_links = suggest;
    return c;
}

/* Waits until the daemon is ready, has read @p records records, and has run two more ticks
 * than before (the second after whatever the first decided has committed). */
static void settle(nb_it_daemon_t *in, uint64_t records)
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

static double metric(nb_it_daemon_t *in, const char *family, const char *label)
{
    nb_stream_collect_metrics(in->st, in->m);
    size_t len = 0;
    char *text = nb_metrics_render(in->m, &len);
    assert_non_null(text);
    double sum = 0;
    size_t flen = strlen(family);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, family, flen) != 0 || (line[flen] != '{' && line[flen] != ' '))
            continue;
        if (label && !strstr(line, label))
            continue;
        const char *sp = strrchr(line, ' ');
        if (sp)
            sum += strtod(sp + 1, NULL);
    }
    free(text);
    return sum;
}

/* ---- output ------------------------------------------------------------------------------- */

typedef struct seen_s {
    size_t n;
    nb_suggestion_t v[8];
    char key[8][NB_ID_MAX + 1];
} seen_t;

static int suggestion_cb(void *opaque, const char *topic, const char *key, const void *value,
                         size_t len, int64_t ts)
{
    seen_t *s = opaque;
    char errstr[256];
    nb_record_t rec;
    (void)topic;
    (void)ts;
    assert_int_equal(
        nb_codec_decode(codec, value, len, NB_RECORD_SUGGESTION, &rec, errstr, sizeof(errstr)),
        NB_ERR_OK);
    assert_int_equal(nb_codec_validate(&rec, NULL, t0 + 7 * DAY, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    if (s->n < 8) {
        s->v[s->n] = rec.u.sugg;
        snprintf(s->key[s->n], sizeof(s->key[0]), "%s", key ? key : "");
    }
    s->n++;
    return 0;
}

static void read_suggestions(nb_config_t *conf, seen_t *s)
{
    char errstr[256];
    memset(s, 0, sizeof(*s));
    assert_int_equal(nb_stream_consume(conf, conf->identity_suggestions_topic, 0, 1500, false,
                                       suggestion_cb, s, errstr, sizeof(errstr)),
                     NB_ERR_OK);
}

/* Notifications that cite one of the events of @p ids as evidence. */
typedef struct cited_s {
    const char *const *ids;
    size_t n_ids;
    int cited;
    int notes;
} cited_t;

static int note_cb(void *opaque, const char *topic, const char *key, const void *value,
                   size_t len, int64_t ts)
{
    cited_t *c = opaque;
    char errstr[256];
    nb_record_t rec;
    (void)topic;
    (void)key;
    (void)ts;
    assert_int_equal(nb_codec_decode(codec, value, len, NB_RECORD_NOTIFICATION, &rec, errstr,
                                     sizeof(errstr)),
                     NB_ERR_OK);
    c->notes++;
    for (size_t i = 0; i < rec.u.notif.n_evidence; i++)
        for (size_t k = 0; k < c->n_ids; k++)
            c->cited += strcmp(rec.u.notif.evidence[i].event_id, c->ids[k]) == 0;
    return 0;
}

static int cited(nb_config_t *conf, const char *const *ids, size_t n)
{
    char errstr[256];
    cited_t c = {ids, n, 0, 0};
    assert_int_equal(nb_stream_consume(conf, conf->notifications_topic, 0, 1500, false, note_cb, &c,
                                       errstr, sizeof(errstr)),
                     NB_ERR_OK);
    return c.cited;
}

/* ---- the tests ---------------------------------------------------------------------------- */

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

static void test_one_suggestion_per_pair_and_no_join(void **state)
{
    (void)state;
    char errstr[512], key[NB_KEY_MAX + 1];
    const char *nhs = "9990000026"; /* Modulus 11, test range */
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_config_t *conf = make_conf(bs, true);
    nb_broker_create_topics(b, conf, 1);
    child_key(conf, nhs, key);
    int32_t dob = nb_day_of(t0) - 400;

    /* The child with its NHS number; then two events of an unknown local identifier with the
     * same demographics, written differently; then one whose postcode differs. */
    batch_t bt;
    batch_open(&bt);
    contact(&bt, "hv-a", nhs, NULL, dob, "O'Brien", "CF10 1AA", t0 - 20 * DAY);
    contact(&bt, "hv-b1", NULL, "HV-77", dob, "obrien", "cf101aa", t0 - 10 * DAY);
    contact(&bt, "hv-b2", NULL, "HV-77", dob, "O BRIEN", "CF10 1AA", t0 - 5 * DAY);
    contact(&bt, "hv-c", NULL, "HV-78", dob, "O'Brien", "CF10 1AB", t0 - 4 * DAY);
    batch_send(&bt, conf);

    nb_it_daemon_t in;
    nb_it_daemon_start(&in, conf, true);
    settle(&in, 4);
    nb_stream_stats_t s;
    nb_stream_stats(in.st, &s);
    assert_int_equal(s.parked, 3);
    assert_int_equal(s.released, 0);
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"published\"") ==
                1);
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"repeated\"") ==
                1);

    seen_t seen;
    read_suggestions(conf, &seen);
    assert_int_equal(seen.n, 1);
    const nb_suggestion_t *sg = &seen.v[0];
    assert_int_equal(strncmp(sg->suggestion_id, "suggest-", 8), 0);
    assert_string_equal(seen.key[0], sg->suggestion_id);
    assert_int_equal(sg->link.kind, NB_LINK_LINK);
    assert_string_equal(sg->link.event_id, sg->suggestion_id);
    assert_string_equal(sg->link.from.system, LOCAL_SYSTEM);
    assert_string_equal(sg->link.from.value, "HV-77");
    assert_string_equal(sg->link.to.system, NB_SYSTEM_NHS_NUMBER);
    assert_string_equal(sg->link.to.value, nhs);
    assert_int_equal(sg->link.verification, NB_VERIFICATION_UNVERIFIED);
    assert_string_equal(sg->link.source.system, "notbrought");
    assert_int_equal(sg->link.recorded_at, t0);
    assert_string_equal(sg->candidate_key, key);
    assert_string_equal(sg->cause_event_id, "hv-b1-v1");
    assert_int_equal(sg->cause_source.agency, NB_AGENCY_HEALTH_VISITING);
    assert_string_equal(sg->cause_source.system, "CYPRIS");
    assert_string_equal(sg->cause_source.organisation_code, "7A1");
    assert_int_equal(sg->cause_recorded_at, t0 - 10 * DAY + HOUR);
    assert_int_equal(sg->matched, 1u << NB_DEMO_DATE_OF_BIRTH | 1u << NB_DEMO_FAMILY_NAME |
                                      1u << NB_DEMO_POSTCODE);
    assert_int_equal(sg->candidates, 1);
    assert_int_equal(sg->suggested_at, t0);
    nb_suggestion_t first = *sg;

    /* No join: no notification cites the parked events. */
    const char *parked_ids[] = {"hv-b1-v1", "hv-b2-v1", "hv-b3-v1", "hv-c-v1"};
    assert_int_equal(cited(conf, parked_ids, 4), 0);

    /* A restart forgets the learned demographics; the child is seen again and relearned, and
     * a third event of the same identifier is the same pair: nothing new is published. */
    nb_it_daemon_stop(&in);
    conf = make_conf(bs, true);
    batch_open(&bt);
    contact(&bt, "hv-a2", nhs, NULL, dob, "O'Brien", "CF10 1AA", t0 - 3 * DAY);
    contact(&bt, "hv-b3", NULL, "HV-77", dob, "OBrien", "CF101AA", t0 - 2 * DAY);
    batch_send(&bt, conf);
    nb_it_daemon_start(&in, conf, true);
    settle(&in, 2);
    /* At least hv-b3 is a repeat. The mock cluster forgets transactional offset commits, so
     * this run reads the topic from its start again, as a replay after a crash would: hv-b1
     * and hv-b2 are then repeats too, and still nothing is published twice. */
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"repeated\"") >=
                1);
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"published\"") ==
                0);
    read_suggestions(conf, &seen);
    assert_int_equal(seen.n, 1);
    assert_memory_equal(&seen.v[0], &first, sizeof(first));
    assert_int_equal(cited(conf, parked_ids, 4), 0);

    /* A human confirms it: publishing the suggested link joins the three parked events of
     * HV-77 (not HV-78's) to the child. */
    nb_identity_link_t confirmed = first.link;
    confirmed.verification = NB_VERIFICATION_LOCALLY_VERIFIED;
    batch_open(&bt);
    link_statement(&bt, &confirmed);
    batch_send(&bt, conf);
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(50)) {
        nb_stream_stats(in.st, &s);
        if (s.released >= 3)
            break;
    }
    settle(&in, 0);
    nb_stream_stats(in.st, &s);
    assert_true(s.released >= 3); /* more when the mock cluster had the events read again */
    read_suggestions(conf, &seen);
    assert_int_equal(seen.n, 1);
    nb_it_daemon_stop(&in);

    nb_broker_destroy(b);
}

static void test_nothing_when_suggestions_are_off(void **state)
{
    (void)state;
    char errstr[512];
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_config_t *conf = make_conf(bs, false);
    nb_broker_create_topics(b, conf, 1);
    int32_t dob = nb_day_of(t0) - 400;
    batch_t bt;
    batch_open(&bt);
    contact(&bt, "hv-a", "9990000026", NULL, dob, "O'Brien", "CF10 1AA", t0 - 20 * DAY);
    contact(&bt, "hv-b1", NULL, "HV-77", dob, "obrien", "cf101aa", t0 - 10 * DAY);
    batch_send(&bt, conf);
    nb_it_daemon_t in;
    nb_it_daemon_start(&in, conf, true);
    settle(&in, 2);
    nb_stream_stats_t s;
    nb_stream_stats(in.st, &s);
    assert_int_equal(s.parked, 1);
    assert_true(metric(&in, "notbrought_identity_suggestions_total", NULL) == 0);
    seen_t seen;
    read_suggestions(conf, &seen);
    assert_int_equal(seen.n, 0);
    nb_it_daemon_stop(&in);
    nb_broker_destroy(b);
}

/* The pair is remembered while the identifier has events parked: once they have expired (to
 * the dead letters), the marker goes with them, and a later event of the same identifier is
 * suggested again rather than silently never. */
static void test_suggested_again_after_its_events_expired(void **state)
{
    (void)state;
    char errstr[512];
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_config_t *conf = make_conf(bs, true);
    conf->park_retention_ms = DAY;
    nb_broker_create_topics(b, conf, 1);
    int32_t dob = nb_day_of(t0) - 400;
    batch_t bt;
    batch_open(&bt);
    contact(&bt, "hv-a", "9990000026", NULL, dob, "O'Brien", "CF10 1AA", t0 - 20 * DAY);
    contact(&bt, "hv-b1", NULL, "HV-77", dob, "obrien", "cf101aa", t0 - 10 * DAY);
    batch_send(&bt, conf);
    nb_it_daemon_t in;
    nb_it_daemon_start(&in, conf, true);
    settle(&in, 2);
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"published\"") ==
                1);

    /* Two days on, hv-b1 has waited longer than the retention: dead-lettered. */
    nb_stream_set_fixed_now(in.st, t0 + 2 * DAY);
    nb_stream_stats_t s;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(50)) {
        nb_stream_stats(in.st, &s);
        if (s.dead_letters >= 1)
            break;
    }
    assert_int_equal(s.dead_letters, 1);

    batch_open(&bt);
    contact(&bt, "hv-b2", NULL, "HV-77", dob, "O'Brien", "CF10 1AA", t0 + DAY);
    batch_send(&bt, conf);
    settle(&in, 3);
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"published\"") ==
                2);
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"repeated\"") ==
                0);
    seen_t seen;
    read_suggestions(conf, &seen);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.v[0].suggestion_id, seen.v[1].suggestion_id);
    assert_string_equal(seen.v[1].cause_event_id, "hv-b2-v1");
    assert_int_equal(seen.v[1].suggested_at, t0 + 2 * DAY);
    nb_it_daemon_stop(&in);
    nb_broker_destroy(b);
}

/* When the provisional key's partition is handled through the by-child topic (as when
 * another instance owns it), the suggestion travels with the event in the by-child record and
 * is published, once, by the owner. */
static void test_through_the_by_child_topic(void **state)
{
    (void)state;
    char errstr[512], key[NB_KEY_MAX + 1];
    nb_broker_t *b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(b);
    const char *bs = nb_broker_bootstraps(b);
    nb_config_t *conf = make_conf(bs, true);
    conf->local_by_child = false;
    nb_broker_create_topics(b, conf, 1);
    child_key(conf, "9990000026", key);
    int32_t dob = nb_day_of(t0) - 400;
    batch_t bt;
    batch_open(&bt);
    contact(&bt, "hv-a", "9990000026", NULL, dob, "O'Brien", "CF10 1AA", t0 - 20 * DAY);
    contact(&bt, "hv-b1", NULL, "HV-77", dob, "obrien", "cf101aa", t0 - 10 * DAY);
    contact(&bt, "hv-b2", NULL, "HV-77", dob, "O BRIEN", "CF10 1AA", t0 - 5 * DAY);
    batch_send(&bt, conf);
    nb_it_daemon_t in;
    nb_it_daemon_start(&in, conf, true);
    settle(&in, 6); /* three source records, three by-child records */
    nb_stream_stats_t s;
    nb_stream_stats(in.st, &s);
    assert_int_equal(s.local, 0);
    assert_true(s.repartitioned >= 3);
    seen_t seen;
    read_suggestions(conf, &seen);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.v[0].candidate_key, key);
    assert_string_equal(seen.v[0].link.from.value, "HV-77");
    assert_string_equal(seen.v[0].cause_event_id, "hv-b1-v1");
    assert_true(metric(&in, "notbrought_identity_suggestions_total", "result=\"repeated\"") ==
                1);
    nb_it_daemon_stop(&in);
    nb_broker_destroy(b);
}

static int group_setup(void **state)
{
    char errstr[512];
    (void)state;
    assert_true(nb_parse_time("2026-03-02T09:00:00Z", &t0));
    reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    codec = nb_codec_new(reg, errstr, sizeof(errstr));
    assert_non_null(codec);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_suggestion_per_pair_and_no_join),
        cmocka_unit_test(test_nothing_when_suggestions_are_off),
        cmocka_unit_test(test_suggested_again_after_its_events_expired),
        cmocka_unit_test(test_through_the_by_child_topic),
    };
    const char *filter = getenv("NB_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
