/*
 * bench_policy: policy evaluations per second on one core over realistic 10-event ledgers,
 * and ledger bytes per tracked child over the synthetic population. Prints JSON lines.
 *
 *   bench_policy [SOURCE_DIR] [CHILDREN]   (SOURCE_DIR holds config/policy; default ".")
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notbrought/cli.h"
#include "notbrought/ledger.h"
#include "notbrought/policy.h"

static double nb__secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t nb__rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A child with ten appointments over the last year across agencies, about one in eight
 * missed, some on plans, a few pregnancies. @returns the first error of the ledger: one that
 * refuses an event would measure another workload. */
NB_NODISCARD static nb_err_t nb__ledger10(nb_ledger_t *led, uint64_t *s, int64_t now)
{
    nb_err_t err = NB_ERR_OK;
    static const struct {
        nb_agency_t agency;
        const char *type;
        bool mandated;
        nb_contact_mode_t mode;
    } kinds[] = {{NB_AGENCY_GP, "immunisation", false, NB_CONTACT_FACE_TO_FACE},
                 {NB_AGENCY_GP, "consultation", false, NB_CONTACT_FACE_TO_FACE},
                 {NB_AGENCY_HEALTH_VISITING, "6_8_week_review", true, NB_CONTACT_HOME_VISIT},
                 {NB_AGENCY_HEALTH_VISITING, "1_year_review", true, NB_CONTACT_FACE_TO_FACE},
                 {NB_AGENCY_MIDWIFERY, "antenatal_16w", false, NB_CONTACT_FACE_TO_FACE}};
    bool unborn = nb__rng(s) % 8 == 0;
    int32_t today = nb_day_of(now);
    if (unborn)
        nb_ledger_set_dates(led, NB_DATE_NONE, today + (int32_t)(nb__rng(s) % 200));
    else
        nb_ledger_set_dates(led, today - 20 - (int32_t)(nb__rng(s) % 1800), NB_DATE_NONE);
    for (int i = 0; i < 10; i++) {
        nb_appointment_event_t e;
        memset(&e, 0, sizeof(e));
        int k = unborn ? 4 : (int)(nb__rng(s) % 4);
        e.source.agency = kinds[k].agency;
        snprintf(e.appointment_type, sizeof(e.appointment_type), "%s", kinds[k].type);
        snprintf(e.source.organisation_code, sizeof(e.source.organisation_code), "W9%04d",
                 (int)(nb__rng(s) % 40));
        e.mandated_contact = kinds[k].mandated;
        e.contact_mode = kinds[k].mode;
        e.subject_kind = unborn ? NB_SUBJECT_UNBORN : NB_SUBJECT_CHILD;
        snprintf(e.appointment_id, sizeof(e.appointment_id), "a-%d", i);
        snprintf(e.event_id, sizeof(e.event_id), "a-%d-v2", i);
        e.scheduled_start = now - (int64_t)(nb__rng(s) % 365) * NB_MS_PER_DAY;
        e.recorded_at = e.scheduled_start;
        unsigned r = (unsigned)(nb__rng(s) % 100);
        e.status = r < 12 ? (kinds[k].mode == NB_CONTACT_HOME_VISIT ? NB_STATUS_NO_ACCESS_VISIT
                                                                     : NB_STATUS_WAS_NOT_BROUGHT)
                   : r < 17 ? NB_STATUS_CANCELLED_BY_PATIENT
                            : NB_STATUS_ATTENDED;
        e.version = 2;
        e.date_of_birth = e.expected_delivery_date = NB_DATE_NONE;
        if ((err = nb_ledger_apply(led, &e, NULL)))
            return err;
    }
    if (nb__rng(s) % 20 == 0) {
        nb_context_fact_t f;
        memset(&f, 0, sizeof(f));
        snprintf(f.event_id, sizeof(f.event_id), "cpp");
        f.kind = NB_FACT_CHILD_PROTECTION_PLAN;
        f.start_date = today - 200;
        f.end_date = NB_DATE_NONE;
        f.version = 1;
        err = nb_ledger_apply_fact(led, &f, NULL);
    }
    return err;
}

/* ---- bytes per child over the synthetic population --------------------------------------- */

typedef struct nb__pop_s {
    nb_codec_t *codec;
    nb_ledger_dict_t *dict;
    char (*keys)[NB_KEY_MAX + 1];
    nb_ledger_t **leds;
    size_t n, cap;
    size_t events;
    nb_err_t err; /**< why a ledger refused an event, which stops the generation */
} nb__pop_t;

static nb_ledger_t *nb__child(nb__pop_t *p, const char *key)
{
    /* Linear probing over a power-of-two table. */
    uint64_t h = nb_ledger_id_hash(key, strlen(key));
    for (size_t i = h & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
        if (!p->leds[i]) {
            snprintf(p->keys[i], sizeof(p->keys[i]), "%s", key);
            p->leds[i] = nb_ledger_new(p->dict);
            p->n++;
            return p->leds[i];
        }
        if (strcmp(p->keys[i], key) == 0)
            return p->leds[i];
    }
}

static int nb__pop_cb(void *opaque, const char *topic, const char *key, const void *value,
                      size_t len, int64_t ts)
{
    nb__pop_t *p = opaque;
    nb_record_t rec;
    char errstr[256], k[NB_KEY_MAX + 1];
    (void)topic;
    (void)key;
    (void)ts;
    if (nb_codec_decode(p->codec, value, len, NB_RECORD_NONE, &rec, errstr, sizeof(errstr)))
        return 0;
    if (rec.type == NB_RECORD_APPOINTMENT) {
        const nb_appointment_event_t *a = &rec.u.appt;
        /* The identity module joins local ids too; here NHS number and pregnancy suffice. */
        if (a->subject_kind == NB_SUBJECT_UNBORN)
            snprintf(k, sizeof(k), "p:%.20s:%d", a->pregnant_person_id.value,
                     (int)a->expected_delivery_date);
        else if (a->nhs_number[0])
            snprintf(k, sizeof(k), "n:%s", a->nhs_number);
        else
            snprintf(k, sizeof(k), "l:%.40s", a->local_id.value);
        if ((p->err = nb_ledger_apply(nb__child(p, k), a, NULL)))
            return 1;
        p->events++;
    } else if (rec.type == NB_RECORD_CONTEXT_FACT && rec.u.fact.nhs_number[0]) {
        snprintf(k, sizeof(k), "n:%s", rec.u.fact.nhs_number);
        if ((p->err = nb_ledger_apply_fact(nb__child(p, k), &rec.u.fact, NULL)))
            return 1;
        p->events++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    int children = argc > 2 ? atoi(argv[2]) : 20000;
    char base[1024], overlay[1024], errstr[512];
    snprintf(base, sizeof(base), "%s/config/policy/wnb-wales-base.yaml", dir);
    snprintf(overlay, sizeof(overlay), "%s/config/policy/cardiff-and-vale.yaml", dir);
    const char *files[] = {base, overlay};
    nb_policy_t *pol = NULL;
    if (nb_policy_load(files, 2, NULL, NULL, &pol, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_policy: %s\n", errstr);
        return 1;
    }
    int64_t now = 20150LL * NB_MS_PER_DAY + 12 * 3600000LL; /* 2025-03-03 12:00 */

    /* Evaluations per second. */
    enum { N_LEDGERS = 1024 };
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *leds[N_LEDGERS];
    uint64_t seed = 42;
    size_t appts = 0;
    for (int i = 0; i < N_LEDGERS; i++) {
        leds[i] = nb_ledger_new(dict);
        nb_err_t err = nb__ledger10(leds[i], &seed, now);
        if (err) {
            fprintf(stderr, "bench_policy: a synthetic ledger refused an event: %s\n",
                    nb_err_str(err));
            return 1;
        }
        size_t n;
        nb_ledger_appts(leds[i], &n);
        appts += n;
    }
    nb_policy_result_t *res = nb_policy_result_new();
    nb_policy_subject_t subj = {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    long evals = 0, decisions = 0;
    double t0 = nb__secs(), t1;
    do {
        for (int i = 0; i < N_LEDGERS; i++) {
            nb_err_t err = nb_policy_evaluate(pol, leds[i], &subj, now, res);
            if (err) {
                fprintf(stderr, "bench_policy: evaluation failed: %s\n", nb_err_str(err));
                return 1;
            }
            size_t n;
            nb_policy_result_decisions(res, &n);
            decisions += (long)n;
        }
        evals += N_LEDGERS;
        t1 = nb__secs();
    } while (t1 - t0 < 2.0);
    printf("{\"bench\":\"policy_evaluate\",\"ledgers\":%d,\"events_per_ledger\":%.1f,"
           "\"rules\":%zu,\"evaluations\":%ld,\"seconds\":%.3f,\"evaluations_per_second\":%.0f,"
           "\"decisions_per_evaluation\":%.3f,\"goal\":2500000}\n",
           N_LEDGERS, (double)appts / N_LEDGERS, nb_policy_rule_count(pol), evals, t1 - t0,
           (double)evals / (t1 - t0), (double)decisions / (double)evals);
    for (int i = 0; i < N_LEDGERS; i++)
        nb_ledger_destroy(leds[i]);
    nb_ledger_dict_destroy(dict);

    /* Bytes per tracked child over the synthetic population. */
    nb_registry_t *reg = nb_registry_new();
    nb__pop_t p;
    memset(&p, 0, sizeof(p));
    if (!reg || nb_registry_add_builtin(reg, errstr, sizeof(errstr)) ||
        !(p.codec = nb_codec_new(reg, errstr, sizeof(errstr)))) {
        fprintf(stderr, "bench_policy: %s\n", errstr);
        return 1;
    }
    p.dict = nb_ledger_dict_new();
    p.cap = 1;
    while (p.cap < (size_t)children * 4)
        p.cap <<= 1;
    p.keys = calloc(p.cap, sizeof(*p.keys));
    p.leds = calloc(p.cap, sizeof(*p.leds));
    nb_sample_opts_t opts;
    nb_sample_opts_default(&opts, now);
    opts.children = children;
    opts.malformed = 0;
    opts.local_id_share = 0; /* one ledger per child: no crosswalk in this bench */
    if (nb_sample_generate(&opts, p.codec, nb__pop_cb, &p, errstr, sizeof(errstr))) {
        if (p.err)
            fprintf(stderr, "bench_policy: a ledger of the population refused an event: %s\n",
                    nb_err_str(p.err));
        else
            fprintf(stderr, "bench_policy: %s\n", errstr);
        return 1;
    }
    size_t bytes = 0, usable = 0, n_appts = 0, n_ids = 0, id_chars = 0, n_facts = 0, n_raised = 0,
           encoded = 0;
    nb_buf_t enc = {0};
    int64_t horizon = nb_policy_horizon(pol, now);
    for (size_t i = 0; i < p.cap; i++) {
        if (!p.leds[i])
            continue;
        nb_ledger_prune(p.leds[i], horizon);
        bytes += nb_ledger_memory(p.leds[i]);
        size_t n;
        const nb_ledger_appt_t *a = nb_ledger_appts(p.leds[i], &n);
        const nb_ledger_fact_t *f;
        const nb_ledger_raised_t *r;
        size_t nf, nr;
        f = nb_ledger_facts(p.leds[i], &nf);
        r = nb_ledger_raised(p.leds[i], &nr);
        n_appts += n;
        n_facts += nf;
        n_raised += nr;
        /* As the daemon keeps it between events: the changelog encoding (nb_ledger_encode). */
        enc.len = 0;
        if (nb_ledger_encode(p.leds[i], &enc) == NB_ERR_OK)
            encoded += enc.len;
        for (size_t k = 0; k < n; k++) {
            char sid[NB_ID_MAX + 1];
            if (nb_ledger_source_id(p.leds[i], &a[k], sid)) {
                n_ids++;
                id_chars += strlen(sid);
            }
        }
        /* What malloc really holds, headers and rounding included. */
        usable += malloc_usable_size(p.leds[i]) + malloc_usable_size((void *)a) +
                  malloc_usable_size((void *)f) + malloc_usable_size((void *)r);
    }
    printf("{\"bench\":\"ledger_memory\",\"children\":%zu,\"events\":%zu,"
           "\"appointments_kept\":%zu,\"bytes_per_child\":%.1f,\"malloc_bytes_per_child\":%.1f,"
           "\"source_ids_kept\":%zu,\"source_id_mean_length\":%.1f,"
           "\"facts_kept\":%zu,\"raised_kept\":%zu,\"encoded_bytes_per_child\":%.1f,"
           "\"dictionary_bytes\":%zu,\"dictionary_strings\":%zu,\"goal\":256}\n",
           p.n, p.events, n_appts, (double)bytes / (double)p.n, (double)usable / (double)p.n, n_ids,
           n_ids ? (double)id_chars / (double)n_ids : 0.0, n_facts, n_raised,
           (double)encoded / (double)p.n, nb_ledger_dict_memory(p.dict),
           nb_ledger_dict_size(p.dict));
    nb_buf_free(&enc);
    for (size_t i = 0; i < p.cap; i++)
        nb_ledger_destroy(p.leds[i]);
    free(p.leds);
    free(p.keys);
    nb_ledger_dict_destroy(p.dict);
    nb_codec_destroy(p.codec);
    nb_registry_destroy(reg);
    nb_policy_result_destroy(res);
    nb_policy_destroy(pol);
    return 0;
}
