/*
 * bench_report: `notbrought report` over N realistic audit records read from Kafka (issue 24:
 * 10 million in well under a minute). Run as bench/report_10m does:
 *
 *     bench_report NOTBROUGHT [N] [--bootstrap HOST:PORT] [--partitions P] [--decode-only]
 *
 * 1. decode: the same AuditRecords through avro-c's generic values (nb_codec_decode) and
 *    through the report's fast reader (nb_report_read), CPU time per record.
 * 2. produce: N records (a year of one area's appointments received, parked events,
 *    notifications raised, acknowledged, escalated and withdrawn, deliveries and readings) to
 *    the audit topic of the embedded broker (in this process) or of the Kafka at --bootstrap,
 *    pre-encoded (templates made by the codec with fixed-width ids patched in), lz4 batches.
 * 3. report: runs NOTBROUGHT report over the year 2026 and times it (wall, CPU, peak resident
 *    set), then checks its figures against what was produced: exit 1 when they differ.
 *
 * Prints one JSON line per phase.
 */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "notbrought/codec.h"
#include "notbrought/ops.h"
#include "notbrought/report.h"
#include "notbrought/stream.h"

#define DAY 86400000LL
#define HOUR 3600000LL
#define DAYS 427             /* 2025-12-01 .. 2027-01-31 */
#define FIRST_DAY 20423      /* 2025-12-01 as days since 1970 */
#define PERIOD_LO (31)       /* 2026-01-01 */
#define PERIOD_HI (31 + 365) /* 2027-01-01 */
#define ID_DIGITS 12

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_report: %s: %s\n", what, why);
    exit(2);
}

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 16) % n);
}

/* ---- templates ---------------------------------------------------------------------------- */

/* Kinds of record made, each a family of templates (variant x day). */
enum { T_APPT, T_PARKED, T_FIRED, T_VERDICT, T_ESCALATED, T_WITHDRAWN, T_DELIVERED, T__COUNT };
#define VARIANTS 64

typedef struct tmpl_s {
    uint8_t *bytes;
    size_t len;
    long off_e, off_a, off_n; /* where the E, A and N ids go; -1 none */
} tmpl_t;

typedef struct gen_s {
    nb_codec_t *codec;
    nb_record_t *rec;
    tmpl_t *t; /* [T__COUNT][VARIANTS][DAYS], made on first use */
} gen_t;

static const char *const rules[] = {"under5_multiagency", "wnb_child_on_plan", "no_access_twice",
                                    "antenatal_wnb_repeated"};
static const nb_tier_t rule_tier[] = {NB_TIER_PRIORITY, NB_TIER_URGENT, NB_TIER_PRIORITY,
                                      NB_TIER_ROUTINE};
static const int64_t ack_delay[] = {1 * HOUR, 4 * HOUR, 26 * HOUR, 80 * HOUR};
static const nb_agency_t agencies[] = {NB_AGENCY_GP, NB_AGENCY_MIDWIFERY,
                                       NB_AGENCY_HEALTH_VISITING};
static const char *const systems[] = {"EMIS Web", "BadgerNet", "CYPRIS"};
static const nb_status_t statuses[] = {NB_STATUS_BOOKED, NB_STATUS_ATTENDED,
                                       NB_STATUS_WAS_NOT_BROUGHT, NB_STATUS_NO_ACCESS_VISIT};
static const char *const reasons[] = {
    "No action needed: withdrawn because the expected contact has now been recorded",
    "No action needed: withdrawn because an appointment record it relied on was entered in "
    "error (GP appointment A000000000000 at W91029, now entered in error).",
    "Withdrawn because the protocol in force no longer has this rule"};

static void id(char *dst, size_t size, char letter)
{
    snprintf(dst, size, "%c%0*d", letter, ID_DIGITS, 0);
}

/* The fields of template kind @p k, variant @p v, day @p d. */
static void fill(nb_audit_t *a, int k, int v, int d)
{
    int64_t t = (int64_t)(FIRST_DAY + d) * DAY + 10 * HOUR;
    static const nb_audit_kind_t kinds[] = {
        NB_AUDIT_RECEIVED,  NB_AUDIT_PARKED,    NB_AUDIT_FIRED,    NB_AUDIT_TAKEN,
        NB_AUDIT_ESCALATED, NB_AUDIT_WITHDRAWN, NB_AUDIT_DELIVERED};
    nb_audit_init(a, kinds[k], t);
    snprintf(a->child_key, sizeof(a->child_key), "%064d", 0);
    nb_audit_set_id(a, "bench", NULL, (int64_t)k * 1000000 + v * 1000 + d);
    snprintf(a->organisation, sizeof(a->organisation), "W9%04d", 1000 + v % 7);
    if (k == T_APPT || k == T_PARKED) {
        /* variant: agency (3) x status (4) x version (2) x NHS number known (2) */
        int ag = v % 3, st = v / 3 % 4, ver = v / 12 % 2, nhs = v / 24 % 2;
        a->agency = (int)agencies[ag];
        a->has_event = true;
        id(a->event.event_id, sizeof(a->event.event_id), 'E');
        id(a->event.appointment_id, sizeof(a->event.appointment_id), 'A');
        snprintf(a->event.appointment_type, sizeof(a->event.appointment_type), "routine");
        snprintf(a->event.status, sizeof(a->event.status), "%s", nb_status_name(statuses[st]));
        a->event.scheduled_start = t - HOUR;
        a->event.recorded_at = t - HOUR / 2;
        a->event.version = 1 + ver;
        snprintf(a->event.source_system, sizeof(a->event.source_system), "%s", systems[ag]);
        a->event.nhs_number_known = nhs;
        return;
    }
    if (k == T_DELIVERED) {
        a->has_delivery = true;
        snprintf(a->delivery.channel, sizeof(a->delivery.channel), "webhook");
        snprintf(a->delivery.route, sizeof(a->delivery.route), "https-hook-%d", v % 4);
        a->delivery.attempt = 1;
    }
    id(a->notification_id, sizeof(a->notification_id), 'N');
    snprintf(a->reference, sizeof(a->reference), "WNB-ABCD-%04d", v);
    int r = v % 4;
    snprintf(a->rule_id, sizeof(a->rule_id), "%s", rules[r]);
    a->tier = (int)rule_tier[r];
    a->agency = (int)agencies[v % 3];
    if (k == T_FIRED || k == T_ESCALATED) {
        a->respond_by = t + 2 * DAY;
        a->n_evidence = 2;
        id(a->evidence[0], sizeof(a->evidence[0]), 'X');
        id(a->evidence[1], sizeof(a->evidence[1]), 'Y');
        a->n_recipients = 1;
        snprintf(a->recipients[0].role, sizeof(a->recipients[0].role), "health_visitor");
        snprintf(a->recipients[0].route, sizeof(a->recipients[0].route), "queue:hv-east");
        a->has_policy = true;
        snprintf(a->policy.name, sizeof(a->policy.name), "wnb-cardiff-and-vale");
        snprintf(a->policy.version, sizeof(a->policy.version), "2026.3");
        snprintf(a->policy.hash, sizeof(a->policy.hash), "%064d", 7);
        a->level = k == T_ESCALATED ? 1 + v / 4 % 2 : 0;
    }
    if (k == T_VERDICT) { /* variant: delay (4) x taken or closed (2) */
        a->kind = v / 4 % 2 ? NB_AUDIT_CLOSED : NB_AUDIT_TAKEN;
        a->at = t + ack_delay[v % 4];
        a->has_action = true;
        snprintf(a->action.ack_id, sizeof(a->action.ack_id), "ack-%d", v);
        a->action.intent = v / 4 % 2 ? NB_ACK_INTENT_CLOSE : NB_ACK_INTENT_TAKE;
        a->action.acted_at = a->at;
        snprintf(a->action.owner_user, sizeof(a->action.owner_user), "u-%d", v);
        a->has_actor = true;
        snprintf(a->actor.user_id, sizeof(a->actor.user_id), "u-%d", v);
    }
    if (k == T_WITHDRAWN)
        snprintf(a->reason, sizeof(a->reason), "%s", reasons[v % 3]);
}

static long find(const tmpl_t *t, char letter)
{
    char pat[ID_DIGITS + 2];
    id(pat, sizeof(pat), letter);
    for (size_t i = 0; i + ID_DIGITS + 1 <= t->len; i++)
        if (memcmp(t->bytes + i, pat, ID_DIGITS + 1) == 0)
            return (long)i;
    return -1;
}

static const tmpl_t *tmpl(gen_t *g, int k, int v, int d)
{
    tmpl_t *t = &g->t[((size_t)k * VARIANTS + (size_t)v) * DAYS + (size_t)d];
    if (t->bytes)
        return t;
    g->rec->type = NB_RECORD_AUDIT;
    fill(&g->rec->u.audit, k, v, d);
    nb_buf_t buf = {0};
    char errstr[256];
    if (nb_codec_encode(g->codec, g->rec, &buf, errstr, sizeof(errstr)) != NB_ERR_OK)
        die("encode", errstr);
    t->bytes = buf.data;
    t->len = buf.len;
    t->off_e = find(t, 'E');
    t->off_a = find(t, 'A');
    t->off_n = find(t, 'N');
    return t;
}

static void patch(uint8_t *out, long off, uint64_t v)
{
    char digits[ID_DIGITS + 2];
    if (off < 0)
        return;
    snprintf(digits, sizeof(digits), "%0*" PRIu64, ID_DIGITS, (uint64_t)(v % 1000000000000ULL));
    memcpy(out + off + 1, digits, ID_DIGITS);
}

/* ---- the records -------------------------------------------------------------------------- */

/* What the report must find in 2026 (the figures checked), and the state that makes each
 * record follow from those before it. */
typedef struct model_s {
    uint32_t n_children;
    uint64_t *last_appt;  /* per child: appointment id + 1, 0 none */
    uint64_t *last_fired; /* per child: notification id + 1, 0 none or acknowledged */
    uint16_t *fired_day;
    uint64_t *parked;     /* per child: parked event id + 1, 0 none */
    uint8_t *appt_status; /* per appointment: the latest version's status and day */
    uint16_t *appt_day;
    uint64_t n_appts, cap_appts;
    uint64_t raised, acked, within, escalated, withdrawn, parked_in, resolved_in;
    uint8_t *parked_in_period; /* per parked event id: parked in the period */
} model_t;

/* One record into @p out (at most @p cap bytes). @returns its length and its partition. */
static size_t next(gen_t *g, model_t *m, uint64_t i, uint8_t *out, int n_parts, int *part)
{
    uint32_t c = rnd(m->n_children);
    int d = (int)rnd(DAYS), roll = (int)rnd(100);
    bool in = d >= PERIOD_LO && d < PERIOD_HI;
    const tmpl_t *t;
    *part = (int)(c % (uint32_t)n_parts);
    uint64_t e = i, a = 0, n = 0;
    if (roll < 5 && !m->parked[c]) { /* an event parked for want of an identity link */
        m->parked[c] = i + 1;
        m->parked_in_period[i] = in;
        m->parked_in += in;
        t = tmpl(g, T_PARKED, (int)rnd(48), d);
    } else if (roll >= 5 && roll < 15 && m->last_fired[c]) { /* a verdict on the open one */
        n = m->last_fired[c] - 1;
        int v = (int)rnd(8);
        d = m->fired_day[c];
        if (d >= PERIOD_LO && d < PERIOD_HI) {
            m->acked++;
            m->within += ack_delay[v % 4] <= 2 * DAY;
        }
        m->last_fired[c] = 0;
        t = tmpl(g, T_VERDICT, v, d);
    } else if (roll < 77) { /* an appointment event received */
        int ag = (int)rnd(3), st = (int)rnd(100), ver = 0;
        st = st < 30 ? 0 : st < 82 ? 1 : st < 96 || ag != 2 ? 2 : 3;
        if (m->last_appt[c] && rnd(100) < 35) { /* its outcome: version 2 of the last one */
            a = m->last_appt[c] - 1;
            ver = 1;
            d = m->appt_day[a];
            ag = m->appt_status[a] >> 4;
            st = st == 0 ? 1 : st;
        } else {
            a = m->n_appts++;
            m->last_appt[c] = a + 1;
            m->appt_day[a] = (uint16_t)d;
        }
        m->appt_status[a] = (uint8_t)(ag << 4 | st);
        if (m->parked[c]) { /* a parked event released by its link */
            e = m->parked[c] - 1;
            m->resolved_in += m->parked_in_period[e];
            m->parked[c] = 0;
        }
        t = tmpl(g, T_APPT, ag + 3 * st + 12 * ver + 24 * (rnd(100) < 80), d);
    } else if (roll < 86) {
        n = i;
        m->last_fired[c] = i + 1;
        m->fired_day[c] = (uint16_t)d;
        m->raised += in;
        t = tmpl(g, T_FIRED, (int)rnd(12), d);
    } else if (roll < 89) {
        m->escalated += in;
        n = i;
        t = tmpl(g, T_ESCALATED, (int)rnd(8), d);
    } else if (roll < 91) {
        m->withdrawn += in;
        n = i;
        t = tmpl(g, T_WITHDRAWN, (int)rnd(3), d);
    } else {
        n = i;
        t = tmpl(g, T_DELIVERED, (int)rnd(8), d);
    }
    memcpy(out, t->bytes, t->len);
    patch(out, t->off_e, e);
    patch(out, t->off_a, a);
    patch(out, t->off_n, n);
    return t->len;
}

/* ---- phases ------------------------------------------------------------------------------- */

/* The CPU time per record of the codec and of the fast reader over the same records. */
static void bench_decode(gen_t *g, model_t *m)
{
    enum { N = 20000 };
    uint8_t *buf = malloc((size_t)N * 2048);
    size_t *len = malloc(N * sizeof(*len));
    if (!buf || !len)
        die("decode", "out of memory");
    int part;
    for (uint64_t i = 0; i < N; i++)
        len[i] = next(g, m, i, buf + i * 2048, 1, &part);
    char errstr[256];
    for (int fast = 0; fast < 2; fast++) {
        int rounds = fast ? 50 : 5;
        double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        uint64_t ok = 0;
        for (int r = 0; r < rounds; r++)
            for (size_t i = 0; i < N; i++) {
                nb_report_rec_t rec;
                ok += fast ? nb_report_read(buf + i * 2048, len[i], &rec) == NB_ERR_OK
                           : nb_codec_decode(g->codec, buf + i * 2048, len[i], NB_RECORD_AUDIT,
                                             g->rec, errstr, sizeof(errstr)) == NB_ERR_OK;
            }
        double s = now_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
        if (ok != (uint64_t)rounds * N)
            die("decode", "a record did not decode");
        printf("{\"bench\":\"report_decode\",\"reader\":\"%s\",\"records\":%d,"
               "\"records_per_cpu_sec\":%.0f,\"us_per_record\":%.3f}\n",
               fast ? "fast (nb_report_read)" : "avro-c (nb_codec_decode)", rounds * N,
               rounds * N / s, s * 1e6 / (rounds * N));
    }
    free(buf);
    free(len);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char errstr[256];
    if (rd_kafka_conf_set(c, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        die(k, errstr);
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err || md->topic_cnt < 1 || md->topics[0].err)
        die(topic, rd_kafka_err2str(err ? err : md->topics[0].err));
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Delivery reports: every record must be acknowledged (a batch the broker refuses as too
 * large is lost otherwise, with the flush none the wiser). */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    if (rkm->err) {
        uint64_t *failed = opaque;
        if ((*failed)++ == 0)
            fprintf(stderr, "bench_report: a record was not delivered: %s\n",
                    rd_kafka_err2str(rkm->err));
    }
}

static void produce(gen_t *g, model_t *m, const char *bootstrap, const char *topic, uint64_t n)
{
    uint64_t failed = 0;
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(pc, delivered);
    rd_kafka_conf_set_opaque(pc, &failed);
    set(pc, "bootstrap.servers", bootstrap);
    set(pc, "enable.idempotence", "true"); /* each child's records stay in order */
    set(pc, "compression.codec", "lz4");
    set(pc, "linger.ms", "50");
    set(pc, "batch.size", "1000000"); /* the broker's message.max.bytes is about 1 MB */
    set(pc, "batch.num.messages", "100000");
    set(pc, "queue.buffering.max.kbytes", "1048576");
    set(pc, "queue.buffering.max.messages", "2000000");
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    if (!rk)
        die("producer", errstr);
    int parts = partitions_of(rk, topic);
    double t0 = now_s(CLOCK_MONOTONIC);
    uint8_t value[2048];
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        int part;
        size_t len = next(g, m, i, value, parts, &part);
        bytes += len;
        for (;;) {
            rd_kafka_resp_err_t err =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                  RD_KAFKA_V_VALUE(value, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (!err)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce", rd_kafka_err2str(err));
            rd_kafka_poll(rk, 50);
        }
        if (i % 10000 == 0)
            rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 600000) != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(rk) > 0 ||
        failed > 0)
        die("produce", "not every record was delivered");
    double s = now_s(CLOCK_MONOTONIC) - t0;
    rd_kafka_destroy(rk);
    printf("{\"bench\":\"report_produce\",\"records\":%" PRIu64 ",\"partitions\":%d,"
           "\"value_bytes\":%" PRIu64 ",\"seconds\":%.1f,\"records_per_sec\":%.0f}\n",
           n, parts, bytes, s, (double)n / s);
    fflush(stdout);
}

/* A figure of the report's CSV, or -1. */
static double figure(const char *csv, const char *table, const char *group, const char *measure)
{
    char pat[256];
    snprintf(pat, sizeof(pat), ",%s,%s,%s,", table, group, measure);
    const char *p = strstr(csv, pat);
    return p ? atof(p + strlen(pat)) : -1;
}

/* Runs the report, times it, and checks its figures. @returns 0 when they are right. */
static int run_report(const char *bin, const char *bootstrap, const model_t *m, uint64_t n)
{
    char out[] = "/tmp/bench_report_XXXXXX";
    int fd = mkstemp(out);
    if (fd < 0)
        die("mkstemp", strerror(errno));
    close(fd);
    char *argv[] = {(char *)bin, "report",     "--bootstrap", (char *)bootstrap,
                    "--from",    "2026-01-01", "--to",        "2027-01-01",
                    "-o",        out,          NULL};
    double t0 = now_s(CLOCK_MONOTONIC);
    pid_t pid = fork();
    if (pid == 0) {
        execv(bin, argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || getrusage(RUSAGE_CHILDREN, &ru) != 0)
        die("report", "cannot run it"); /* the only child: its usage is the children's */
    double s = now_s(CLOCK_MONOTONIC) - t0;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"bench\":\"report_run\",\"records\":%" PRIu64 ",\"seconds\":%.2f,"
           "\"cpu_seconds\":%.2f,\"records_per_sec\":%.0f,\"max_rss_mb\":%.0f,\"exit\":%d,"
           "\"command\":\"%s report --bootstrap %s --from 2026-01-01 --to 2027-01-01 -o %s\"}\n",
           n, s, cpu, (double)n / s, (double)ru.ru_maxrss / 1024.0,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, bin, bootstrap, out);
    FILE *fp = fopen(out, "r");
    static char csv[1 << 20];
    size_t len = fp ? fread(csv, 1, sizeof(csv) - 1, fp) : 0;
    csv[len] = '\0';
    if (fp)
        fclose(fp);
    unlink(out);
    uint64_t appts = 0, wnb = 0;
    for (uint64_t a = 0; a < m->n_appts; a++)
        if (m->appt_day[a] >= PERIOD_LO && m->appt_day[a] < PERIOD_HI) {
            appts++;
            wnb += (m->appt_status[a] & 15) == 2;
        }
    struct {
        const char *table, *group, *measure;
        uint64_t want;
    } checks[] = {{"appointments", "all", "appointments", appts},
                  {"appointments", "all", "was_not_brought", wnb},
                  {"notifications", "all", "raised", m->raised},
                  {"notifications", "all", "acknowledged", m->acked},
                  {"notifications", "all", "acknowledged_within_respond_by", m->within},
                  {"escalations", "all", "escalated", m->escalated},
                  {"withdrawals", "all", "withdrawn", m->withdrawn},
                  {"identities", "parked", "parked", m->parked_in},
                  {"identities", "parked", "resolved", m->resolved_in}};
    int bad = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        double got = figure(csv, checks[i].table, checks[i].group, checks[i].measure);
        if (got != (double)checks[i].want) {
            fprintf(stderr, "bench_report: %s %s %s: report %.0f, produced %" PRIu64 "\n",
                    checks[i].table, checks[i].group, checks[i].measure, got, checks[i].want);
            bad = 1;
        }
    }
    printf("{\"bench\":\"report_check\",\"figures_checked\":%zu,\"ok\":%s}\n",
           sizeof(checks) / sizeof(checks[0]), bad ? "false" : "true");
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_report NOTBROUGHT [N] [--bootstrap HOST:PORT] "
                        "[--partitions P] [--decode-only]\n");
        return 2;
    }
    const char *bin = argv[1], *bootstrap = NULL;
    uint64_t n = 10000000;
    int parts = 6;
    bool decode_only = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc)
            bootstrap = argv[++i];
        else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
            parts = atoi(argv[++i]);
        else if (strcmp(argv[i], "--decode-only") == 0)
            decode_only = true;
        else
            n = strtoull(argv[i], NULL, 10);
    }
    char errstr[256];
    nb_registry_t *reg = nb_registry_new();
    if (!reg || nb_registry_add_builtin(reg, errstr, sizeof(errstr)) != NB_ERR_OK)
        die("registry", errstr);
    gen_t g = {nb_codec_new(reg, errstr, sizeof(errstr)), calloc(1, sizeof(nb_record_t)),
               calloc((size_t)T__COUNT * VARIANTS * DAYS, sizeof(tmpl_t))};
    model_t m = {0};
    m.n_children = (uint32_t)(n / 12 > 1000 ? n / 12 : 1000);
    m.last_appt = calloc(m.n_children, sizeof(uint64_t));
    m.last_fired = calloc(m.n_children, sizeof(uint64_t));
    m.fired_day = calloc(m.n_children, sizeof(uint16_t));
    m.parked = calloc(m.n_children, sizeof(uint64_t));
    m.appt_status = calloc(n + 20000, 1);
    m.appt_day = calloc(n + 20000, sizeof(uint16_t));
    m.parked_in_period = calloc(n + 20000, 1);
    if (!g.codec || !g.rec || !g.t || !m.last_appt || !m.last_fired || !m.fired_day || !m.parked ||
        !m.appt_status || !m.appt_day || !m.parked_in_period)
        die("start", "out of memory");
    bench_decode(&g, &m);
    int rc = 0;
    if (!decode_only) {
        model_t fresh = m; /* the decode phase's records are not produced: start again */
        memset(fresh.last_appt, 0, m.n_children * sizeof(uint64_t));
        memset(fresh.last_fired, 0, m.n_children * sizeof(uint64_t));
        memset(fresh.parked, 0, m.n_children * sizeof(uint64_t));
        memset(fresh.parked_in_period, 0, n + 20000);
        fresh.n_appts = fresh.raised = fresh.acked = fresh.within = fresh.escalated = 0;
        fresh.withdrawn = fresh.parked_in = fresh.resolved_in = 0;
        nb_config_t *conf = nb_config_new();
        nb_broker_t *b = NULL;
        if (!conf)
            die("config", "out of memory");
        if (!bootstrap) {
            /* The embedded broker is librdkafka's mock cluster, which keeps at most 5 MB
             * (about 60,000 of these records, compressed) per partition and drops the
             * oldest beyond that. */
            if (n > (uint64_t)parts * 50000)
                die("the embedded broker",
                    "it keeps about 50,000 records per partition; use --bootstrap with a Kafka "
                    "(ops/kafka start) or more --partitions");
            b = nb_broker_new(1, errstr, sizeof(errstr));
            if (!b)
                die("broker", errstr);
            nb_broker_create_topics(b, conf, parts);
            bootstrap = nb_broker_bootstraps(b);
        } else {
            free(conf->bootstrap_servers);
            conf->bootstrap_servers = strdup(bootstrap);
            static nb_topics_report_t rep; /* large */
            if (nb_stream_topics(conf, parts, &rep, errstr, sizeof(errstr)) != NB_ERR_OK)
                die("topics", errstr[0] ? errstr : "the existing topics would lose records");
        }
        produce(&g, &fresh, bootstrap, conf->audit_topic, n);
        rc = run_report(bin, bootstrap, &fresh, n);
        nb_broker_destroy(b);
        nb_config_destroy(conf);
    }
    for (size_t i = 0; i < (size_t)T__COUNT * VARIANTS * DAYS; i++)
        free(g.t[i].bytes);
    free(g.t);
    free(g.rec);
    nb_codec_destroy(g.codec);
    nb_registry_destroy(reg);
    free(m.last_appt);
    free(m.last_fired);
    free(m.fired_day);
    free(m.parked);
    free(m.appt_status);
    free(m.appt_day);
    free(m.parked_in_period);
    return rc;
}
