/*
 * libFuzzer harness: the ledger changelog decoder over arbitrary bytes, into a new ledger and
 * into one that held a bigger ledger before (the daemon decodes state after state into the
 * same two ledgers). Both must agree; a decoded ledger must encode to the same bytes either
 * way, and encoding must be idempotent (decode(encode(l)) encodes as l); a refused record must
 * leave the reused ledger empty.
 *
 *   ./fuzz_ledger corpus/   (seed corpus: valid changelog values, tests/fuzz/corpus/ledger)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DAY NB_MS_PER_DAY

static void nb__fail(const char *what)
{
    fprintf(stderr, "fuzz_ledger: %s\n", what);
    abort();
}

/* A ledger with more strings, appointments, facts and raised entries than most inputs: the
 * reused ledger holds it before each input, so its arrays are big and full of old entries. */
static nb_buf_t nb__big;

static void nb__make_big(void)
{
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *led = dict ? nb_ledger_new(dict) : NULL;
    if (!led)
        nb__fail("out of memory");
    for (int i = 0; i < 120; i++) {
        nb_appointment_event_t e;
        memset(&e, 0, sizeof(e));
        snprintf(e.appointment_id, sizeof(e.appointment_id), "big-%d", i);
        snprintf(e.event_id, sizeof(e.event_id), "big-%d-v1", i);
        snprintf(e.appointment_type, sizeof(e.appointment_type), "type_%d", i);
        snprintf(e.source.organisation_code, sizeof(e.source.organisation_code), "W9%04d", i);
        e.source.agency = (nb_agency_t)(i % NB_AGENCY__COUNT);
        e.subject_kind = NB_SUBJECT_CHILD;
        e.contact_mode = NB_CONTACT_FACE_TO_FACE;
        e.status = i % 3 ? NB_STATUS_BOOKED : NB_STATUS_WAS_NOT_BROUGHT;
        e.scheduled_start = (20000LL + i) * DAY;
        e.recorded_at = e.scheduled_start;
        e.version = 1;
        e.date_of_birth = 19500;
        e.expected_delivery_date = NB_DATE_NONE;
        if (nb_ledger_apply(led, &e, NULL))
            nb__fail("big ledger: apply");
    }
    for (int i = 0; i < 8; i++) {
        nb_context_fact_t f;
        memset(&f, 0, sizeof(f));
        snprintf(f.event_id, sizeof(f.event_id), "fact-%d", i);
        snprintf(f.source_system, sizeof(f.source_system), "system-%d", i);
        f.kind = (nb_fact_kind_t)(i % NB_FACT__COUNT);
        f.start_date = 19600 + i;
        f.end_date = NB_DATE_NONE;
        f.status = NB_FACT_STATUS_CURRENT;
        f.version = 1;
        f.recorded_at = (int64_t)f.start_date * DAY;
        if (nb_ledger_apply_fact(led, &f, NULL))
            nb__fail("big ledger: fact");
    }
    for (int i = 0; i < 20; i++) {
        nb_ledger_raised_t r;
        memset(&r, 0, sizeof(r));
        r.id[0] = (uint8_t)i;
        r.id[1] = 0xAB;
        r.rule_hash = (uint64_t)i * 7919u;
        r.fingerprint = (uint64_t)i * 104729u;
        r.raised_at = (20000LL + i) * DAY;
        r.evidence_max_min = 20000 * 1440 + i;
        r.tier = (uint8_t)(i % NB_TIER__COUNT);
        if (nb_ledger_add_raised(led, &r))
            nb__fail("big ledger: raised");
    }
    nb_ledger_set_dates(led, 19500, NB_DATE_NONE);
    if (nb_ledger_encode(led, &nb__big))
        nb__fail("big ledger: encode");
    nb_ledger_destroy(led);
    nb_ledger_dict_destroy(dict);
}

static bool nb__empty(const nb_ledger_t *led)
{
    size_t a, f, r;
    nb_ledger_appts(led, &a);
    nb_ledger_facts(led, &f);
    nb_ledger_raised(led, &r);
    return a == 0 && f == 0 && r == 0 && nb_ledger_date_of_birth(led) == NB_DATE_NONE &&
           nb_ledger_expected_delivery(led) == NB_DATE_NONE;
}

static bool nb__same(const nb_buf_t *a, const nb_buf_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[512];
    if (!nb__big.len)
        nb__make_big();
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t *reused = dict ? nb_ledger_new(dict) : NULL;
    if (!reused) {
        nb_ledger_dict_destroy(dict);
        return 0;
    }
    if (nb_ledger_decode_into(reused, nb__big.data, nb__big.len, errstr, sizeof(errstr)))
        nb__fail("the big ledger does not decode");

    nb_ledger_t *fresh = NULL;
    nb_err_t e1 = nb_ledger_decode_into(reused, data, size, errstr, sizeof(errstr));
    nb_err_t e2 = nb_ledger_decode(dict, data, size, &fresh, errstr, sizeof(errstr));
    if (e1 != e2)
        nb__fail("decode_into and decode disagree");
    if (e1 == NB_ERR_OK) {
        nb_buf_t b1 = {0}, b2 = {0}, b3 = {0};
        nb_ledger_t *again = NULL;
        if (nb_ledger_encode(reused, &b1) || nb_ledger_encode(fresh, &b2))
            nb__fail("a decoded ledger does not encode");
        if (!nb__same(&b1, &b2))
            nb__fail("the reused and the new ledger encode differently");
        if (nb_ledger_decode(dict, b1.data, b1.len, &again, errstr, sizeof(errstr)))
            nb__fail("an encoded ledger does not decode");
        if (nb_ledger_encode(again, &b3) || !nb__same(&b1, &b3))
            nb__fail("encoding is not idempotent");
        nb_ledger_destroy(again);
        nb_buf_free(&b1);
        nb_buf_free(&b2);
        nb_buf_free(&b3);
    } else if (!nb__empty(reused)) {
        nb__fail("a refused record left entries in the reused ledger");
    }
    nb_ledger_destroy(fresh);
    nb_ledger_destroy(reused);
    nb_ledger_dict_destroy(dict);
    return 0;
}
