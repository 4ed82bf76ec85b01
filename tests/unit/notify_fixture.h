/*
 * The notify tests' fixture (tests/unit/test_notify.c, test_notify_own.c): the shipped
 * national base policy and a child on a child protection plan whose GP immunisation was
 * recorded as was not brought, on a Tuesday morning in term time; appointment() records a
 * later version of that appointment. Include after <cmocka.h>.
 */
#ifndef NB_TEST_NOTIFY_FIXTURE_H
#define NB_TEST_NOTIFY_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/notify.h"

#define HOUR 3600000LL
#define KEY "a3f1000000000000000000000000000000000000000000000000000000000001"

typedef struct fx_s {
    nb_policy_t *pol;
    nb_ledger_dict_t *dict;
    nb_ledger_t *led;
    nb_policy_result_t *res;
    nb_notify_state_t ns;
    int64_t t0; /* when the outcome was recorded */
} fx_t;

static void appointment(fx_t *f, nb_status_t status, int version)
{
    nb_appointment_event_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.event_id, sizeof(a.event_id), "gp-1-v%d", version);
    a.source.agency = NB_AGENCY_GP;
    strcpy(a.source.system, "EMIS Web");
    strcpy(a.source.organisation_code, "W91001");
    a.subject_kind = NB_SUBJECT_CHILD;
    strcpy(a.nhs_number, "9434765919");
    a.date_of_birth = nb_days_from_civil(2024, 5, 1);
    a.expected_delivery_date = NB_DATE_NONE;
    strcpy(a.appointment_id, "gp-1");
    strcpy(a.appointment_type, "immunisation");
    a.contact_mode = NB_CONTACT_FACE_TO_FACE;
    a.scheduled_start = f->t0 - 2 * HOUR;
    a.status = status;
    a.recorded_at = f->t0 + version;
    a.version = version;
    assert_int_equal(nb_ledger_apply(f->led, &a, NULL), NB_ERR_OK);
}

/* The child's current child protection plan, from @p start, recorded at @p recorded_at. */
static void plan_fact(fx_t *f, int32_t start, int64_t recorded_at)
{
    nb_context_fact_t cp;
    memset(&cp, 0, sizeof(cp));
    strcpy(cp.event_id, "fact-1");
    strcpy(cp.nhs_number, "9434765919");
    cp.kind = NB_FACT_CHILD_PROTECTION_PLAN;
    cp.start_date = start;
    cp.end_date = NB_DATE_NONE;
    cp.status = NB_FACT_STATUS_CURRENT;
    strcpy(cp.source_system, "WCCIS");
    strcpy(cp.organisation_code, "W04000");
    cp.recorded_at = recorded_at;
    cp.version = 1;
    assert_int_equal(nb_ledger_apply_fact(f->led, &cp, NULL), NB_ERR_OK);
}

static int setup(void **state)
{
    char errstr[512];
    fx_t *f = calloc(1, sizeof(*f));
    const char *files[] = {NB_SOURCE_DIR "/config/policy/wnb-wales-base.yaml"};
    assert_int_equal(nb_policy_load(files, 1, NULL, NULL, &f->pol, errstr, sizeof(errstr)),
                     NB_ERR_OK);
    f->dict = nb_ledger_dict_new();
    f->led = nb_ledger_new(f->dict);
    f->res = nb_policy_result_new();
    /* A Tuesday morning in term time. */
    assert_true(nb_parse_time("2026-03-10T10:00:00Z", &f->t0));
    plan_fact(f, nb_days_from_civil(2026, 1, 5), f->t0 - 60 * 24 * HOUR);
    appointment(f, NB_STATUS_WAS_NOT_BROUGHT, 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    nb_policy_result_destroy(f->res);
    nb_ledger_destroy(f->led);
    nb_ledger_dict_destroy(f->dict);
    nb_policy_destroy(f->pol);
    free(f);
    return 0;
}

#endif
