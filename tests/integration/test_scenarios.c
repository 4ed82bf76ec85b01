/*
 * The clinical scenario suite (the YAML files of tests/scenarios/, format in
 * tests/scenarios/README.md), run two ways and compared with what each scenario expects:
 *
 *   it_scenarios            through the daemon, on the embedded broker, with the clock the
 *                           test controls (ctest integration.scenarios); then through
 *                           replay keyed with the daemon's key, and the two runs'
 *                           notifications compared record for record (scenario_equal.c);
 *   it_scenarios --replay   through `notbrought replay --emit-notifications` (ctest
 *                           cli.scenarios_replay), then checks that every rule of the default
 *                           policy is covered by a scenario.
 *
 * Replay runs in this process (nb__cmd_replay(), the command's own function: under a second
 * for the whole suite), with --json so that what it did not apply can be compared with what
 * the daemon dead-lettered (a scenario's `dead_letters`).
 *
 * One thing of the daemon replay does not model is the sources' watermark: replay has read
 * every source up to its clock when the clock moves, so absence deadlines are judged at the
 * clock (docs/cli.md). This runner keeps the daemon's sources at the clock too (the clock
 * records below), which is what a daemon with caught-up sources sees, so the comparison is of
 * like with like; deadlines held back by a slow source are tested in integration.absence and
 * cli.backlog.
 *
 * NB_TEST_FILTER=<file name without .yaml> runs one scenario (cmocka's filter: '*' allowed).
 * A scenario marked `pending: "item N"` is run too: its failure is reported as XFAIL, and it
 * fails the suite when it passes (the behaviour it waits for has landed: remove `pending`).
 *
 * Through the daemon, one broker and one daemon run the whole suite; scenarios are kept apart
 * by their people (each has its own NHS numbers and local identifiers). Records go where
 * production sends them: appointments to their agency's topic, facts to the context topic,
 * links to the links topic. Each step moves the clock (nb_stream_set_fixed_now), then sends
 * "clock" records (of a child of no scenario, recorded at the new time, one on each source
 * topic) and waits until the daemon has handled them and run a tick that published nothing:
 * what fell due by the step's time has then fired, and every source's watermark is at the
 * clock. Then the step's links are sent (and the ticks after them waited for: parked events
 * are released and histories merged in the tick), then its facts and events, in the
 * scenario's order (the daemon has handled what went to one topic before anything goes to
 * another). Every wait is on the daemon's counters, never on time alone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "cli/commands.h"
#include "notbrought/cli.h"
#include "notbrought/identity.h"
#include "notbrought/policy.h"
#include "notbrought/stream.h"

#include "common.h"
#include "scenario.h"

#define SCENARIO_DIR "tests/scenarios"
#define POLICY_BASE NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml"
#define POLICY_OVERLAY NB_SOURCE_DIR "/config/policy/cardiff-and-vale.yaml"

static bool replay_mode;
static sc_scenario_t **all; /* every scenario loaded */
static size_t n_all;
static int xfails;

/* ---- the seen notifications --------------------------------------------------------------- */

typedef struct seen_list_s {
    sc_seen_t *v;
    size_t n, cap;
} seen_list_t;

static void seen_add(seen_list_t *l, const nb_notification_t *n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    l->v[l->n].n = *n;
    l->v[l->n++].used = false;
}

/* Checks a run's notifications: pending scenarios are expected to fail (XFAIL). Reports are
 * printed with printf(): cmocka's print_message() cuts a message at 1024 bytes. */
static void judge(const sc_scenario_t *sc, sc_seen_t *seen, size_t n, const char *how)
{
    char *report = malloc(16384);
    assert_non_null(report);
    bool ok = sc_check(sc, seen, n, report, 16384);
    if (sc->pending[0]) {
        if (ok) {
            free(report);
            fail_msg("%s (%s) is marked pending (%s) but passes %s now: remove 'pending'",
                     sc->id, sc->file, sc->pending, how);
        }
        printf("XFAIL %s (pending: %s):%s\n", sc->id, sc->pending, report);
        xfails++;
        free(report);
        return;
    }
    if (!ok) {
        printf("%s: \"%s\" %s:%s\n", sc->id, sc->title, how, report);
        fflush(stdout);
        free(report);
        fail_msg("%s: the notifications %s differ from the scenario's expectations", sc->id,
                 how);
    }
    free(report);
}

/* ---- through replay ------------------------------------------------------------------------ */

typedef struct read_ctx_s {
    nb_codec_t *codec;
    seen_list_t *l;
} read_ctx_t;

static int read_note(void *opaque, const char *topic, const char *key, const void *value,
                     size_t len, int64_t ts)
{
    read_ctx_t *r = opaque;
    nb_record_t *rec = malloc(sizeof(*rec));
    char errstr[256];
    (void)topic;
    (void)key;
    (void)ts;
    assert_non_null(rec);
    if (nb_codec_decode(r->codec, value, len, NB_RECORD_NOTIFICATION, rec, errstr,
                        sizeof(errstr)))
        fail_msg("a notification replay wrote does not decode: %s", errstr);
    seen_add(r->l, &rec->u.notif);
    free(rec);
    return 0;
}

/* The records replay's report (--json) says it did not apply and the daemon dead-letters:
 * those that expired waiting for an identity link, and those refused. */
static int replay_not_applied(const char *report)
{
    json_error_t jerr;
    json_t *root = json_load_file(report, 0, &jerr);
    if (!root)
        fail_msg("replay's report does not parse: %s", jerr.text);
    json_t *na = json_object_get(root, "not_applied");
    json_t *expired = json_object_get(na, "expired"), *refused = json_object_get(na, "refused");
    json_t *invalid = json_object_get(na, "invalid"); /* e.g. an action validation refuses */
    assert_true(json_is_integer(expired) && json_is_integer(refused) && json_is_integer(invalid));
    int k = (int)(json_integer_value(expired) + json_integer_value(refused) +
                  json_integer_value(invalid));
    json_decref(root);
    return k;
}

/* Runs the scenario through `notbrought replay --emit-notifications` (in this process: the
 * command's own function), and reads what it would publish into @p l. With @p key_file,
 * replay keys children with the key in it (--hmac-key-file), as the daemon that has it does.
 * @returns how many records replay did not apply that the daemon dead-letters. */
static int replay_scenario(const sc_scenario_t *sc, const char *key_file, nb_codec_t *codec,
                           seen_list_t *l)
{
    char in[64], out[64], report[64], errstr[512];
    snprintf(in, sizeof(in), "/tmp/nb-scenario-%d.jsonl", (int)getpid());
    snprintf(out, sizeof(out), "/tmp/nb-scenario-%d.rec", (int)getpid());
    snprintf(report, sizeof(report), "/tmp/nb-scenario-%d.json", (int)getpid());
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    assert_int_equal(sc_write_replay(sc, f), 0);
    assert_int_equal(fclose(f), 0);
    char *argv[] = {"replay", "--policy", POLICY_BASE, "--policy", POLICY_OVERLAY,
                    "--json", "--emit-notifications", out, in, "--hmac-key-file",
                    (char *)key_file, NULL};
    int argc = key_file ? 11 : 9;
    /* Replay's report (on stdout) goes to a file, read for what it did not apply. */
    fflush(stdout);
    int saved = dup(1), fd = open(report, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    int rc = nb__cmd_replay(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);
    assert_int_equal(rc, NB_EXIT_OK);
    read_ctx_t ctx = {codec, l};
    assert_int_equal(nb_recfile_read(out, read_note, &ctx, errstr, sizeof(errstr)), 0);
    int not_applied = replay_not_applied(report);
    unlink(in);
    unlink(out);
    unlink(report);
    return not_applied;
}

/* What the daemon dead-lettered (@p by_daemon), or replay did not apply, is what the scenario
 * says (dead_letters). */
static void judge_dead_letters(const sc_scenario_t *sc, int k, bool by_daemon)
{
    if (k == sc->dead_letters)
        return;
    if (by_daemon)
        fail_msg("%s: the daemon dead-lettered %d of the scenario's records, the scenario says "
                 "%d (dead_letters; run with NB_TEST_LOG=info to see why)",
                 sc->id, k, sc->dead_letters);
    fail_msg("%s: replay did not apply %d of the scenario's records (expired or refused), the "
             "scenario says %d (dead_letters)",
             sc->id, k, sc->dead_letters);
}

static void run_replay(const sc_scenario_t *sc)
{
    char errstr[512];
    nb_registry_t *reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(reg, errstr, sizeof(errstr)), NB_ERR_OK);
    nb_codec_t *codec = nb_codec_new(reg, errstr, sizeof(errstr));
    assert_non_null(codec);
    seen_list_t l = {0};
    int not_applied = replay_scenario(sc, NULL, codec, &l);
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
    judge(sc, l.v, l.n, "through replay");
    free(l.v);
    judge_dead_letters(sc, not_applied, false);
}

/* ---- through the daemon -------------------------------------------------------------------- */

static struct {
    nb_broker_t *b;
    nb_it_daemon_t d;
    nb_registry_t *reg;
    nb_codec_t *codec;
    rd_kafka_t *prod, *cons;
    uint64_t records, links, dead;
    int clock_version;
    char clock_nhs[NB_NHS_LEN + 1];
    char clock_key[NB_KEY_MAX + 1]; /* its child key, the Kafka key of acknowledgements */
    bool acks_sent; /* the acknowledgements topic has a watermark to keep at the clock */
    seen_list_t seen;
    char key_file[64]; /* the daemon's pseudonymisation key, for replay's --hmac-key-file */
} g;

static void produce(const char *topic, const char *key, const nb_record_t *rec, int64_t ts)
{
    char errstr[512];
    nb_buf_t buf = {0};
    assert_int_equal(nb_codec_encode(g.codec, rec, &buf, errstr, sizeof(errstr)), NB_ERR_OK);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        g.prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(buf.data, buf.len), RD_KAFKA_V_TIMESTAMP(ts),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    nb_buf_free(&buf);
}

static void flush(void)
{
    assert_int_equal(rd_kafka_flush(g.prod, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Waits until the daemon has read every record and link sent so far and has run a tick after
 * that. @returns true when that tick published something. */
static bool settle_tick(void)
{
    nb_stream_stats_t s;
    uint64_t ticks = 0, notes = 0;
    bool seen_all = false;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(2)) {
        nb_stream_stats(g.d.st, &s);
        if (!seen_all) {
            if (s.ready && !s.catching_up && s.records_in >= g.records && s.links >= g.links) {
                seen_all = true;
                ticks = s.ticks;
                notes = s.notifications;
            }
            continue;
        }
        if (s.ticks > ticks)
            return s.notifications != notes;
    }
    fail_msg("the daemon did not settle: %llu of %llu records, %llu of %llu links, ready %d",
             (unsigned long long)s.records_in, (unsigned long long)g.records,
             (unsigned long long)s.links, (unsigned long long)g.links, (int)s.ready);
    return false;
}

/* Waits until the daemon has handled every record sent so far (what they raise is published
 * as they are handled; nothing waits for a tick). */
static void settle_records(void)
{
    nb_stream_stats_t s;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(2)) {
        nb_stream_stats(g.d.st, &s);
        if (s.ready && !s.catching_up && s.records_in >= g.records)
            return;
    }
    fail_msg("the daemon did not read the scenario's records: %llu of %llu",
             (unsigned long long)s.records_in, (unsigned long long)g.records);
}

/* Records of a child of no scenario, recorded at @p at, one on each source topic: the daemon
 * handles something (a transaction, so a tick follows within a commit interval), and has read
 * every source up to the clock (no watermark holds an absence deadline back). */
static void clock_record(int64_t at)
{
    const nb_config_t *conf = g.d.conf;
    nb_record_t *rec = calloc(1, sizeof(*rec));
    assert_non_null(rec);
    for (size_t t = 0; t < conf->n_appointment_topics; t++) {
        memset(rec, 0, sizeof(*rec));
        rec->type = NB_RECORD_APPOINTMENT;
        nb_appointment_event_t *a = &rec->u.appt;
        a->version = ++g.clock_version;
        snprintf(a->event_id, sizeof(a->event_id), "clock-%zu-v%d", t, (int)a->version);
        a->source.agency = NB_AGENCY_GP;
        snprintf(a->source.system, sizeof(a->source.system), "EMIS Web");
        snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "W91001");
        a->subject_kind = NB_SUBJECT_CHILD;
        snprintf(a->nhs_number, sizeof(a->nhs_number), "%s", g.clock_nhs);
        a->date_of_birth = nb_days_from_civil(2012, 1, 1);
        a->expected_delivery_date = NB_DATE_NONE;
        snprintf(a->appointment_id, sizeof(a->appointment_id), "clock-%zu", t);
        snprintf(a->appointment_type, sizeof(a->appointment_type), "consultation");
        a->contact_mode = NB_CONTACT_FACE_TO_FACE;
        a->scheduled_start = at + NB_MS_PER_DAY;
        a->status = NB_STATUS_BOOKED;
        a->recorded_at = at;
        produce(conf->appointment_topics[t], g.clock_nhs, rec, at);
        g.records++;
    }
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_CONTEXT_FACT;
    nb_context_fact_t *f = &rec->u.fact;
    f->version = ++g.clock_version;
    snprintf(f->event_id, sizeof(f->event_id), "clock-fact");
    snprintf(f->nhs_number, sizeof(f->nhs_number), "%s", g.clock_nhs);
    f->kind = NB_FACT_CHILD_IN_NEED;
    f->start_date = nb_days_from_civil(2020, 1, 1);
    f->end_date = NB_DATE_NONE;
    snprintf(f->source_system, sizeof(f->source_system), "WCCIS");
    snprintf(f->organisation_code, sizeof(f->organisation_code), "W00001");
    f->recorded_at = at;
    produce(conf->context_topic, g.clock_nhs, rec, at);
    g.records++;
    if (g.acks_sent) {
        /* An acknowledgement of no notification (audited, changes nothing), so that the
         * acknowledgements topic, a source too, is read up to the clock. */
        memset(rec, 0, sizeof(*rec));
        rec->type = NB_RECORD_ACK;
        nb_ack_t *ack = &rec->u.ack;
        snprintf(ack->ack_id, sizeof(ack->ack_id), "clock-ack-%d", ++g.clock_version);
        snprintf(ack->notification_id, sizeof(ack->notification_id), "clock");
        snprintf(ack->acknowledged_by, sizeof(ack->acknowledged_by), "Scenario clock");
        snprintf(ack->role, sizeof(ack->role), "clock");
        ack->action = NB_ACK_OTHER;
        ack->acknowledged_at = at;
        produce(conf->acks_topic, g.clock_key, rec, at);
        g.records++;
    }
    free(rec);
    flush();
}

/* The source topic of a record: facts to the context topic, appointments to their agency's
 * (the default topics are gp.appointments, midwifery.appointments and hv.contacts). */
static const char *topic_of(const nb_record_t *rec)
{
    const nb_config_t *conf = g.d.conf;
    if (rec->type == NB_RECORD_CONTEXT_FACT)
        return conf->context_topic;
    const char *prefix = rec->u.appt.source.agency == NB_AGENCY_GP          ? "gp"
                         : rec->u.appt.source.agency == NB_AGENCY_MIDWIFERY ? "midwifery"
                         : rec->u.appt.source.agency == NB_AGENCY_HEALTH_VISITING ? "hv"
                                                                               : "";
    for (size_t t = 0; prefix[0] && t < conf->n_appointment_topics; t++)
        if (strncmp(conf->appointment_topics[t], prefix, strlen(prefix)) == 0)
            return conf->appointment_topics[t];
    return conf->appointment_topics[0];
}

/* The clock moves to @p at and everything that falls due by then has fired: clock records
 * until a tick after one publishes nothing (a tick escalates an overdue notification one rung;
 * the next rung, already due, waits for the next tick, which the next record brings at once
 * rather than a second later). */
static void clock_moves(int64_t at)
{
    for (int i = 0; i < 32; i++) {
        clock_record(at);
        if (!settle_tick())
            return;
    }
    fail_msg("the daemon's ticks did not become quiet");
}

static int consume_note(void)
{
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(g.cons, 100);
    if (!rkm)
        return 0;
    if (rkm->err) {
        rd_kafka_message_destroy(rkm);
        return 0;
    }
    nb_record_t *rec = malloc(sizeof(*rec));
    char errstr[256];
    assert_non_null(rec);
    if (nb_codec_decode(g.codec, rkm->payload, rkm->len, NB_RECORD_NOTIFICATION, rec, errstr,
                        sizeof(errstr)))
        fail_msg("a notification the daemon published does not decode: %s", errstr);
    seen_add(&g.seen, &rec->u.notif);
    free(rec);
    rd_kafka_message_destroy(rkm);
    return 1;
}

/* Reads the notifications topic until it holds every notification the daemon produced. */
static void read_notes(void)
{
    nb_stream_stats_t s;
    nb_stream_stats(g.d.st, &s);
    for (int64_t until = nb_it_now_ms() + 30000; nb_it_now_ms() < until;) {
        if (g.seen.n >= s.notifications)
            return;
        consume_note();
        nb_stream_stats(g.d.st, &s);
    }
    fail_msg("read %zu notifications of the %llu the daemon produced", g.seen.n,
             (unsigned long long)s.notifications);
}

static const char *record_key(const nb_record_t *rec)
{
    if (rec->type == NB_RECORD_IDENTITY_LINK)
        return rec->u.link.from.value;
    if (rec->type == NB_RECORD_CONTEXT_FACT)
        return rec->u.fact.nhs_number[0] ? rec->u.fact.nhs_number : rec->u.fact.local_id.value;
    const nb_appointment_event_t *a = &rec->u.appt;
    return a->nhs_number[0] ? a->nhs_number
           : a->local_id.value[0] ? a->local_id.value
                                  : a->pregnant_person_id.value;
}

/* A nurse acknowledges the latest new notification of the rule about the subject, for each
 * acknowledgement of the step (the scenario's notifications are those from @p first on). */
static void send_acks(const sc_scenario_t *sc, const sc_step_t *st, size_t first)
{
    for (size_t i = 0; i < st->n_acks; i++) {
        const sc_ack_t *a = &st->acks[i];
        const nb_notification_t *n = NULL;
        for (size_t j = first; j < g.seen.n; j++)
            if (g.seen.v[j].n.kind == NB_NOTIFICATION_NEW &&
                strcmp(g.seen.v[j].n.rule_id, a->rule) == 0 &&
                sc_is_about(sc, &g.seen.v[j].n, &a->subj))
                n = &g.seen.v[j].n;
        if (!n)
            fail_msg("%s:%d: no notification of %s to acknowledge", sc->file, a->line,
                     a->rule);
        nb_record_t *rec = calloc(1, sizeof(*rec));
        assert_non_null(rec);
        rec->type = NB_RECORD_ACK;
        nb_ack_t *ack = &rec->u.ack;
        char ack_id[160];
        snprintf(ack_id, sizeof(ack_id), "ack-%s-%d", sc->id, a->line);
        nb_str_copy(ack->ack_id, sizeof(ack->ack_id), ack_id);
        nb_str_copy(ack->notification_id, sizeof(ack->notification_id), n->notification_id);
        nb_str_copy(ack->reference, sizeof(ack->reference), n->reference);
        nb_str_copy(ack->acknowledged_by, sizeof(ack->acknowledged_by), "Scenario nurse");
        nb_str_copy(ack->role, sizeof(ack->role),
                    a->role[0]        ? a->role
                    : n->n_recipients ? n->recipients[0].role
                                      : "-");
        ack->action = a->action;
        ack->intent = a->intent;
        nb_str_copy(ack->user_id, sizeof(ack->user_id), a->user);
        nb_str_copy(ack->reassign_to_queue, sizeof(ack->reassign_to_queue), a->to_queue);
        nb_str_copy(ack->reassign_to_user, sizeof(ack->reassign_to_user), a->to_user);
        nb_str_copy(ack->reason, sizeof(ack->reason), a->reason);
        ack->acknowledged_at = st->at;
        produce(g.d.conf->acks_topic, n->child_key, rec, st->at);
        free(rec);
        g.records++;
        g.acks_sent = true;
    }
    if (st->n_acks) {
        flush();
        settle_records();
    }
}

/* The same scenario through replay, keyed as the daemon keys children: the same
 * notifications as the daemon's from @p first on, record for record, and what it does not
 * apply is what the daemon dead-lettered (the scenario's dead_letters, checked before). */
static void compare_with_replay(const sc_scenario_t *sc, size_t first)
{
    seen_list_t r = {0};
    int not_applied = replay_scenario(sc, g.key_file, g.codec, &r);
    char *diff = malloc(32768);
    assert_non_null(diff);
    bool same = sc_equal(sc, g.seen.v + first, g.seen.n - first, r.v, r.n, diff, 32768);
    free(r.v);
    if (!same) {
        printf("%s: \"%s\": replay does not publish what the daemon publishes:%s\n", sc->id,
               sc->title, diff);
        fflush(stdout);
    }
    free(diff);
    judge(sc, g.seen.v + first, g.seen.n - first, "through the daemon");
    if (!same)
        fail_msg("%s: replay and the daemon published different notifications", sc->id);
    judge_dead_letters(sc, not_applied, false);
}

static void run_daemon(const sc_scenario_t *sc)
{
    size_t first = g.seen.n;
    for (size_t k = 0; k < sc->n_steps; k++) {
        const sc_step_t *st = &sc->steps[k];
        nb_stream_set_fixed_now(g.d.st, st->at);
        clock_moves(st->at);
        size_t links = 0;
        for (size_t i = 0; i < st->n_inputs; i++) {
            const nb_record_t *rec = &st->inputs[i];
            if (rec->type != NB_RECORD_IDENTITY_LINK)
                continue;
            produce(g.d.conf->links_topic, record_key(rec), rec, st->at);
            links++;
        }
        if (links) {
            flush();
            g.links += links;
            clock_moves(st->at); /* ticks after the links: releases and merges */
        }
        send_acks(sc, st, first);
        /* Facts and events in the scenario's order: Kafka orders records within a partition
         * only, so the daemon has handled what went to one topic before anything goes to
         * another. */
        const char *last = NULL;
        for (size_t i = 0; i < st->n_inputs; i++) {
            const nb_record_t *rec = &st->inputs[i];
            if (rec->type == NB_RECORD_IDENTITY_LINK)
                continue;
            const char *topic = topic_of(rec);
            if (last && strcmp(last, topic) != 0) {
                flush();
                settle_records();
            }
            produce(topic, record_key(rec), rec, st->at);
            g.records++;
            last = topic;
        }
        if (last) {
            flush();
            settle_records();
        }
        read_notes();
    }
    nb_stream_stats_t s;
    nb_stream_stats(g.d.st, &s);
    int dead = (int)(s.dead_letters - g.dead);
    g.dead = s.dead_letters;
    judge_dead_letters(sc, dead, true);
    compare_with_replay(sc, first);
}

static int daemon_setup(void **state)
{
    (void)state;
    char errstr[512];
    memset(&g, 0, sizeof(g));
    sc_nhs_number(9000000, g.clock_nhs);
    g.b = nb_broker_new(1, errstr, sizeof(errstr));
    assert_non_null(g.b);
    const char *bs = nb_broker_bootstraps(g.b);
    int64_t t0 = n_all ? all[0]->steps[0].at : 0;
    /* Partitions that never receive a record (the by-child topic when this one instance
     * delivers every key locally; acknowledgements until a scenario sends one) hold absence
     * deadlines back until they have been quiet for processing.watermark_idle_ms: its least
     * value, and the first scenario waits until it has passed (below). The sources are at the
     * clock after every clock record. */
    nb_it_conf_opts_t o = {NULL, false, false, t0, 1000};
    nb_config_t *conf = nb_it_conf(bs, "nb-scenarios", &o);
    snprintf(g.key_file, sizeof(g.key_file), "/tmp/nb-scenario-%d.key", (int)getpid());
    FILE *kf = fopen(g.key_file, "w");
    assert_non_null(kf);
    assert_true(fprintf(kf, "%s\n", conf->hmac_key) > 0);
    assert_int_equal(fclose(kf), 0);
    nb_identity_conf_t ic;
    nb_identity_conf_default(&ic);
    ic.secret = conf->hmac_key;
    ic.secret_len = strlen(conf->hmac_key);
    nb_identity_t *idt = nb_identity_new(&ic, errstr, sizeof(errstr));
    assert_non_null(idt);
    assert_int_equal(nb_identity_child_key(idt, g.clock_nhs, g.clock_key), NB_ERR_OK);
    nb_identity_destroy(idt);
    /* The daemon sees each record as soon as it is written, rather than at the end of a
     * fetch's wait (500 ms by default): a step is a few round trips, not seconds. */
    conf->kafka_props[conf->n_kafka_props].key = strdup("fetch.wait.max.ms");
    conf->kafka_props[conf->n_kafka_props++].value = strdup("5");
    nb_broker_create_topics(g.b, conf, 1);
    g.reg = nb_registry_new();
    assert_int_equal(nb_registry_add_builtin(g.reg, errstr, sizeof(errstr)), NB_ERR_OK);
    g.codec = nb_codec_new(g.reg, errstr, sizeof(errstr));
    assert_non_null(g.codec);

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", bs, errstr, sizeof(errstr));
    rd_kafka_conf_set(pc, "enable.idempotence", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(pc, "linger.ms", "0", errstr, sizeof(errstr));
    g.prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    assert_non_null(g.prod);

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    rd_kafka_conf_set(cc, "bootstrap.servers", bs, errstr, sizeof(errstr));
    rd_kafka_conf_set(cc, "group.id", "nb-scenarios-reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(cc, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_conf_set(cc, "isolation.level", "read_committed", errstr, sizeof(errstr));
    rd_kafka_conf_set(cc, "fetch.wait.max.ms", "5", errstr, sizeof(errstr));
    g.cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof(errstr));
    assert_non_null(g.cons);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(g.cons, conf->notifications_topic, NULL);
    assert_int_equal(rd_kafka_metadata(g.cons, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, conf->notifications_topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    assert_int_equal(rd_kafka_assign(g.cons, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    nb_it_daemon_start(&g.d, conf, false);
    /* Ready, and a second tick since (ticks come a second apart when idle): the idle
     * partitions hold nothing back any more. */
    nb_stream_stats_t s;
    uint64_t first = 0;
    bool ready = false;
    for (int64_t until = nb_it_now_ms() + 60000; nb_it_now_ms() < until; nb_it_sleep_ms(20)) {
        nb_stream_stats(g.d.st, &s);
        if (!ready && s.ready && !s.catching_up) {
            ready = true;
            first = s.ticks;
        }
        if (ready && s.ticks >= first + 2)
            return 0;
    }
    fail_msg("the daemon did not become ready");
    return 0;
}

static int daemon_teardown(void **state)
{
    (void)state;
    nb_it_daemon_stop(&g.d);
    rd_kafka_consumer_close(g.cons);
    rd_kafka_destroy(g.cons);
    rd_kafka_flush(g.prod, 10000);
    rd_kafka_destroy(g.prod);
    nb_codec_destroy(g.codec);
    nb_registry_destroy(g.reg);
    nb_broker_destroy(g.b);
    free(g.seen.v);
    unlink(g.key_file);
    return 0;
}

/* ---- the tests ----------------------------------------------------------------------------- */

static void test_scenario(void **state)
{
    const sc_scenario_t *sc = *state;
    if (replay_mode)
        run_replay(sc);
    else
        run_daemon(sc);
}

/* Every rule of the default policy is what some scenario that must pass expects (a shadow
 * rule, never notified, by a scenario that says it `covers` it). */
static void test_every_rule_is_covered(void **state)
{
    (void)state;
    char errstr[1024];
    const char *files[] = {POLICY_BASE, POLICY_OVERLAY};
    nb_policy_t *pol = NULL;
    assert_int_equal(nb_policy_load(files, 2, NULL, NULL, &pol, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    int missing = 0;
    print_message("rule coverage (scenarios that must pass):\n");
    for (size_t k = 0; k < nb_policy_rule_count(pol); k++) {
        const char *id = nb_policy_rule(pol, k)->id;
        char by[512] = "";
        size_t off = 0;
        for (size_t i = 0; i < n_all; i++) {
            const sc_scenario_t *sc = all[i];
            bool uses = false;
            for (size_t c = 0; c < sc->n_covers; c++)
                uses = uses || strcmp(sc->covers[c], id) == 0;
            for (size_t s = 0; s < sc->n_steps; s++)
                for (size_t e = 0; e < sc->steps[s].n_expect; e++) {
                    const sc_expect_t *x = &sc->steps[s].expect[e];
                    uses = uses || strcmp(x->rule, id) == 0;
                    for (int j = 0; j < x->n_items; j++)
                        uses = uses || strcmp(x->items[j], id) == 0;
                }
            if (uses && !sc->pending[0] && off < sizeof(by))
                off += (size_t)snprintf(by + off, sizeof(by) - off, " %s", sc->id);
        }
        print_message("  %-32s%s\n", id, off ? by : " NOT COVERED");
        missing += off == 0;
    }
    nb_policy_destroy(pol);
    assert_int_equal(missing, 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every scenario file, in name order. */
static void load_all(void)
{
    char *names[256];
    size_t n = 0;
    DIR *dir = opendir(NB_SOURCE_DIR "/" SCENARIO_DIR);
    struct dirent *de;
    if (!dir) {
        fprintf(stderr, "cannot open %s\n", SCENARIO_DIR);
        exit(1);
    }
    while ((de = readdir(dir)) && n < 256) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof(names[0]), cmp_str);
    int nhs_seq = 1000;
    for (size_t i = 0; i < n; i++) {
        char path[512], err[1024], uniq[32];
        snprintf(path, sizeof(path), "%s/%s", SCENARIO_DIR, names[i]);
        snprintf(uniq, sizeof(uniq), "s%zu", i);
        sc_scenario_t *v = NULL;
        int k = sc_load(NB_SOURCE_DIR, path, &nhs_seq, uniq, &v, err, sizeof(err));
        if (k < 0) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        for (int j = 0; j < k; j++) {
            all = realloc(all, (n_all + 1) * sizeof(*all));
            all[n_all] = malloc(sizeof(sc_scenario_t));
            memcpy(all[n_all++], &v[j], sizeof(sc_scenario_t));
        }
        free(v);
        free(names[i]);
    }
}

int main(int argc, char **argv)
{
    replay_mode = argc > 1 && strcmp(argv[1], "--replay") == 0;
    load_all();
    struct CMUnitTest *tests = calloc(n_all + 1, sizeof(*tests));
    assert_non_null(tests);
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++) {
        tests[n].name = all[i]->id;
        tests[n].test_func = test_scenario;
        tests[n++].initial_state = all[i];
    }
    if (replay_mode) {
        tests[n].name = "every_rule_is_covered";
        tests[n++].test_func = test_every_rule_is_covered;
    }
    const char *filter = getenv("NB_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    int rc = _cmocka_run_group_tests(replay_mode ? "scenarios through replay"
                                                 : "scenarios through the daemon",
                                     tests, n, replay_mode ? NULL : daemon_setup,
                                     replay_mode ? NULL : daemon_teardown);
    if (xfails)
        printf("%d pending scenario(s) failed as expected (XFAIL)\n", xfails);
    for (size_t i = 0; i < n_all; i++) {
        sc_free(all[i]);
        free(all[i]);
    }
    free(all);
    free(tests);
    return rc;
}
