/*
 * Unit tests: identity (keys, crosswalk, supersession, pregnancies, parking, merges,
 * demographic suggestions, explanations, determinism).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "notbrought/identity.h"

static const char SECRET[] = "test-secret-0123456789abcdef-xyz";

#define SYS_GP "urn:notbrought:gp:W91001"
#define SYS_HV "urn:notbrought:health_visiting:7A1"

/* ---- helpers ------------------------------------------------------------------------------ */

static nb_identity_t *new_idt_conf(nb_identity_conf_t *conf)
{
    char errstr[256] = "";
    conf->secret = SECRET;
    conf->secret_len = strlen(SECRET);
    nb_identity_t *idt = nb_identity_new(conf, errstr, sizeof(errstr));
    if (!idt)
        fail_msg("nb_identity_new: %s", errstr);
    return idt;
}

static nb_identity_t *new_idt(void)
{
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    return new_idt_conf(&conf);
}

/* A valid NHS number derived from i (different i, different number). */
static void nhs_of(uint32_t i, char out[NB_NHS_LEN + 1])
{
    unsigned long long base = 400000000ULL + (unsigned long long)i * 16;
    for (;;) {
        char nine[16];
        snprintf(nine, sizeof(nine), "%09llu", base);
        int c = nb_nhs_check_digit(nine);
        if (c >= 0) {
            memcpy(out, nine, 9);
            out[9] = (char)('0' + c);
            out[10] = '\0';
            return;
        }
        base++;
    }
}

static nb_identity_link_t mk_link(nb_link_kind_t kind, const char *event_id, const char *from_sys,
                                  const char *from_val, const char *to_nhs, int32_t edd)
{
    nb_identity_link_t l;
    memset(&l, 0, sizeof(l));
    snprintf(l.event_id, sizeof(l.event_id), "%s", event_id);
    l.kind = kind;
    snprintf(l.from.system, sizeof(l.from.system), "%s", from_sys);
    snprintf(l.from.value, sizeof(l.from.value), "%s", from_val);
    snprintf(l.to.system, sizeof(l.to.system), "%s", NB_SYSTEM_NHS_NUMBER);
    snprintf(l.to.value, sizeof(l.to.value), "%s", to_nhs);
    l.expected_delivery_date = edd;
    l.source.agency = NB_AGENCY_GP;
    snprintf(l.source.system, sizeof(l.source.system), "MPI");
    snprintf(l.source.organisation_code, sizeof(l.source.organisation_code), "W91001");
    l.verification = NB_VERIFICATION_PDS_VERIFIED;
    l.recorded_at = 1700000000000LL;
    return l;
}

NB_NODISCARD static nb_err_t apply(nb_identity_t *idt, const nb_identity_link_t *l,
                                   nb_identity_result_t *res)
{
    char errstr[256];
    return nb_identity_apply(idt, l, res, errstr, sizeof(errstr));
}

/* Applies a statement that must succeed with the given change; frees the result. */
static void apply_ok(nb_identity_t *idt, const nb_identity_link_t *l, nb_identity_change_t want)
{
    nb_identity_result_t res;
    char errstr[256] = "";
    nb_err_t err = nb_identity_apply(idt, l, &res, errstr, sizeof(errstr));
    if (err != NB_ERR_OK)
        fail_msg("apply %s: %s (%s)", l->event_id, nb_err_name(err), errstr);
    assert_int_equal(res.change, want);
    nb_identity_result_clear(&res);
}

static nb_appointment_event_t mk_event(const char *event_id, const char *nhs, const char *local_sys,
                                       const char *local_val)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.event_id, sizeof(e.event_id), "%s", event_id);
    e.source.agency = NB_AGENCY_HEALTH_VISITING;
    snprintf(e.source.system, sizeof(e.source.system), "CYPRIS");
    snprintf(e.source.organisation_code, sizeof(e.source.organisation_code), "7A1");
    e.subject_kind = NB_SUBJECT_CHILD;
    snprintf(e.nhs_number, sizeof(e.nhs_number), "%s", nhs ? nhs : "");
    if (local_sys) {
        snprintf(e.local_id.system, sizeof(e.local_id.system), "%s", local_sys);
        snprintf(e.local_id.value, sizeof(e.local_id.value), "%s", local_val);
    }
    e.expected_delivery_date = NB_DATE_NONE;
    e.date_of_birth = NB_DATE_NONE;
    return e;
}

static nb_appointment_event_t mk_unborn(const char *event_id, const char *mother_nhs, int32_t edd)
{
    nb_appointment_event_t e = mk_event(event_id, NULL, NULL, NULL);
    e.subject_kind = NB_SUBJECT_UNBORN;
    snprintf(e.pregnant_person_id.system, sizeof(e.pregnant_person_id.system), "%s",
             NB_SYSTEM_NHS_NUMBER);
    snprintf(e.pregnant_person_id.value, sizeof(e.pregnant_person_id.value), "%s", mother_nhs);
    e.expected_delivery_date = edd;
    return e;
}

NB_NODISCARD static nb_err_t resolve(nb_identity_t *idt, const nb_appointment_event_t *e,
                                     nb_identity_resolution_t *res)
{
    char errstr[256];
    return nb_identity_resolve_appointment(idt, e, res, errstr, sizeof(errstr));
}

static void key_of(nb_identity_t *idt, const char *nhs, char key[NB_KEY_MAX + 1])
{
    assert_int_equal(nb_identity_child_key(idt, nhs, key), NB_ERR_OK);
}

static void digest(const nb_identity_t *idt, uint8_t out[32])
{
    assert_int_equal(nb_identity_state_digest(idt, out), NB_ERR_OK);
}

/* True when s holds a run of 10 or more digits (an NHS number would be one). */
static int has_digit_run(const char *s)
{
    int run = 0;
    for (; *s; s++) {
        run = (*s >= '0' && *s <= '9') ? run + 1 : 0;
        if (run >= 10)
            return 1;
    }
    return 0;
}

/* ---- keys --------------------------------------------------------------------------------- */

static void test_child_key_is_hmac_sha256_of_the_number(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char key[NB_KEY_MAX + 1], key2[NB_KEY_MAX + 1];
    key_of(idt, "9434765919", key);
    /* The documented framing: HMAC-SHA256(secret, "nb1:nhs" 0 digits 0 0). */
    unsigned char msg[64], mac[32];
    unsigned int maclen = 0;
    size_t n = 0;
    memcpy(msg, "nb1:nhs", 7);
    n = 7;
    msg[n++] = 0;
    memcpy(msg + n, "9434765919", 10);
    n += 10;
    msg[n++] = 0;
    msg[n++] = 0;
    assert_non_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), msg, n, mac, &maclen));
    assert_int_equal(maclen, 32);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    assert_string_equal(key, hex);
    assert_int_equal(strlen(key), NB_KEY_MAX);

    /* Formatting does not change the key; the number never appears in it. */
    key_of(idt, "943 476 5919", key2);
    assert_string_equal(key, key2);
    key_of(idt, "943-476-5919", key2);
    assert_string_equal(key, key2);
    assert_null(strstr(key, "9434765919"));

    /* A different secret gives a different key. */
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    conf.secret = "another-secret-of-enough-length!";
    conf.secret_len = strlen(conf.secret);
    nb_identity_t *other = nb_identity_new(&conf, NULL, 0);
    assert_non_null(other);
    key_of(other, "9434765919", key2);
    assert_string_not_equal(key, key2);
    nb_identity_destroy(other);

    /* Invalid numbers have no key. */
    assert_int_equal(nb_identity_child_key(idt, "9434765918", key), NB_ERR_NHS_CHECK_DIGIT);
    assert_string_equal(key, "");
    assert_int_equal(nb_identity_child_key(idt, "943476591", key), NB_ERR_NHS_FORMAT);
    assert_int_equal(nb_identity_child_key(idt, "94347659x9", key), NB_ERR_NHS_FORMAT);
    nb_identity_destroy(idt);
}

static void test_new_rejects_bad_config(void **state)
{
    (void)state;
    nb_identity_conf_t conf;
    char errstr[256];
    nb_identity_conf_default(&conf);
    assert_null(nb_identity_new(&conf, errstr, sizeof(errstr))); /* no secret */
    assert_non_null(strstr(errstr, "secret"));
    conf.secret = "short";
    conf.secret_len = 5;
    assert_null(nb_identity_new(&conf, errstr, sizeof(errstr)));
    conf.secret = SECRET;
    conf.secret_len = strlen(SECRET);
    conf.park_max_events = 0;
    assert_null(nb_identity_new(&conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "parking"));
    nb_identity_destroy(NULL); /* a no-op */
    nb_identity_result_clear(NULL);
}

static void test_test_range_refused_when_configured(void **state)
{
    (void)state;
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    nb_identity_t *allow = new_idt_conf(&conf);
    conf.allow_test_nhs_numbers = false;
    nb_identity_t *deny = new_idt_conf(&conf);
    char key[NB_KEY_MAX + 1];
    nb_identity_resolution_t res;
    nb_identity_result_t r;
    char errstr[256];
    nb_appointment_event_t e = mk_event("e1", "9990000018", NULL, NULL);

    assert_int_equal(nb_identity_child_key(allow, "9990000018", key), NB_ERR_OK);
    assert_int_equal(resolve(allow, &e, &res), NB_ERR_OK);
    assert_int_equal(nb_identity_child_key(deny, "9990000018", key), NB_ERR_NHS_DISALLOWED);
    assert_int_equal(nb_identity_resolve_appointment(deny, &e, &res, errstr, sizeof(errstr)),
                     NB_ERR_NHS_DISALLOWED);
    assert_string_equal(res.key, "");
    assert_false(has_digit_run(errstr));
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", "9990000018", NB_DATE_NONE);
    assert_int_equal(nb_identity_apply(deny, &l, &r, errstr, sizeof(errstr)),
                     NB_ERR_NHS_DISALLOWED);
    assert_false(has_digit_run(errstr));
    nb_identity_stats_t st;
    nb_identity_stats(deny, 0, &st);
    assert_int_equal(st.links, 0);
    nb_identity_destroy(allow);
    nb_identity_destroy(deny);
}

/* ---- resolution by NHS number and by link -------------------------------------------------- */

static void test_resolve_by_nhs_number(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    nb_identity_resolution_t res;
    char key[NB_KEY_MAX + 1], text[256], want[256];
    key_of(idt, "9434765919", key);
    /* The event field holds 10 characters: the codec has already removed spaces. */
    nb_appointment_event_t e = mk_event("e1", "9434765919", NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_NHS_NUMBER);
    assert_string_equal(res.key, key);
    assert_string_equal(res.nhs_number, "9434765919");
    assert_int_equal(res.supersession_hops, 0);
    size_t n = nb_identity_explain(&res, text, sizeof(text));
    snprintf(want, sizeof(want), "child=%s by=nhs_number", key);
    assert_string_equal(text, want);
    assert_int_equal(n, strlen(want));
    nb_identity_destroy(idt);
}

static void test_invalid_nhs_number_never_joins(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    nb_identity_resolution_t res;
    char errstr[256];
    /* Even when the local id is linked, a bad NHS number on the event is an error. */
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", "9434765919", NB_DATE_NONE);
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_LINKED);
    nb_appointment_event_t e = mk_event("e1", "9434765918", SYS_GP, "L1");
    assert_int_equal(nb_identity_resolve_appointment(idt, &e, &res, errstr, sizeof(errstr)),
                     NB_ERR_NHS_CHECK_DIGIT);
    assert_string_equal(res.key, "");
    assert_int_equal(res.method, NB_IDENTITY_METHOD_NONE);
    assert_false(has_digit_run(errstr));
    assert_non_null(strstr(errstr, "subject.nhs_number"));
    e = mk_event("e2", "12345", NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_NHS_FORMAT);
    e = mk_event("e3", NULL, NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_MISSING_IDENTIFIER);
    nb_identity_destroy(idt);
}

/* Regression (issue 18): 0000000000 passes Modulus 11 (so does any digit ten times) and was
 * given a child key, joining every record that carries the placeholder into one "child". */
static void test_placeholder_nhs_number_never_joins(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    nb_identity_resolution_t res;
    char key[NB_KEY_MAX + 1], errstr[256];
    assert_int_equal(nb_identity_child_key(idt, "0000000000", key), NB_ERR_NHS_PLACEHOLDER);
    assert_int_equal(nb_identity_child_key(idt, "000 000 0000", key), NB_ERR_NHS_PLACEHOLDER);
    assert_int_equal(nb_identity_child_key(idt, "7777777777", key), NB_ERR_NHS_PLACEHOLDER);
    nb_appointment_event_t e = mk_event("e1", "0000000000", NULL, NULL);
    assert_int_equal(nb_identity_resolve_appointment(idt, &e, &res, errstr, sizeof(errstr)),
                     NB_ERR_NHS_PLACEHOLDER);
    assert_string_equal(res.key, "");
    assert_non_null(strstr(errstr, "subject.nhs_number"));
    assert_non_null(strstr(errstr, "placeholder"));
    assert_null(strstr(errstr, "0000"));
    /* A published sample outside the 999 range still joins (PDS sandbox). */
    key_of(idt, "9000000009", key);
    nb_identity_destroy(idt);
}

static void test_link_resolves_local_id_with_explanation(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    nb_identity_resolution_t res;
    char key[NB_KEY_MAX + 1], text[512], want[512];
    key_of(idt, "9434765919", key);
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "link-7", SYS_GP, "L0001", "9434765919",
                                   NB_DATE_NONE);
    nb_identity_result_t r;
    assert_int_equal(apply(idt, &l, &r), NB_ERR_OK);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_LINKED);
    assert_string_equal(r.child_key, key);
    assert_false(r.has_merge);
    assert_int_equal(r.n_released, 0);
    nb_identity_result_clear(&r);

    nb_appointment_event_t e = mk_event("e1", NULL, SYS_GP, "L0001");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_LINK);
    assert_string_equal(res.key, key);
    assert_string_equal(res.nhs_number, "9434765919");
    assert_string_equal(res.via.event_id, "link-7");
    assert_string_equal(res.via.source.system, "MPI");
    assert_string_equal(res.via.source.organisation_code, "W91001");
    assert_int_equal(res.via.verification, NB_VERIFICATION_PDS_VERIFIED);
    nb_identity_explain(&res, text, sizeof(text));
    snprintf(want, sizeof(want),
             "child=%s by=link link=link-7 source=gp/MPI/W91001 verification=pds_verified", key);
    assert_string_equal(text, want);

    /* The same value in another system is another identifier. */
    e = mk_event("e2", NULL, SYS_HV, "L0001");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_int_equal(res.park_reason, NB_IDENTITY_PARK_UNKNOWN_LOCAL_ID);
    nb_identity_explain(&res, text, sizeof(text));
    assert_string_equal(text, "unresolved reason=unknown_local_id");

    /* Both identifiers naming the same child is fine and resolves by NHS number. */
    e = mk_event("e3", "9434765919", SYS_GP, "L0001");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_NHS_NUMBER);
    assert_string_equal(res.key, key);
    nb_identity_destroy(idt);
}

static void test_link_restated_is_fine_and_same_event_is_a_noop(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    uint8_t d1[32], d2[32];
    nb_identity_resolution_t res;
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", "9434765919", NB_DATE_NONE);
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_LINKED);
    digest(idt, d1);
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_NONE);
    digest(idt, d2);
    assert_memory_equal(d1, d2, 32);

    nb_identity_link_t l2 = mk_link(NB_LINK_LINK, "l2", SYS_GP, "L1", "943-476-5919",
                                    NB_DATE_NONE);
    l2.verification = NB_VERIFICATION_LOCALLY_VERIFIED;
    apply_ok(idt, &l2, NB_IDENTITY_CHANGE_RESTATED);
    digest(idt, d2);
    assert_memory_not_equal(d1, d2, 32);
    nb_appointment_event_t e = mk_event("e1", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.via.event_id, "l2");
    assert_int_equal(res.via.verification, NB_VERIFICATION_LOCALLY_VERIFIED);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 0, &st);
    assert_int_equal(st.links, 1);
    nb_identity_destroy(idt);
}

static void test_conflicting_link_is_refused_with_a_record(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char kx[NB_KEY_MAX + 1], ky[NB_KEY_MAX + 1], x[11], y[11], errstr[256];
    uint8_t d1[32], d2[32];
    nhs_of(1, x);
    nhs_of(2, y);
    key_of(idt, x, kx);
    key_of(idt, y, ky);
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", x, NB_DATE_NONE);
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_LINKED);
    digest(idt, d1);

    nb_identity_link_t bad = mk_link(NB_LINK_LINK, "l2", SYS_GP, "L1", y, NB_DATE_NONE);
    bad.source.agency = NB_AGENCY_HEALTH_VISITING;
    nb_identity_result_t r;
    assert_int_equal(nb_identity_apply(idt, &bad, &r, errstr, sizeof(errstr)),
                     NB_ERR_IDENTITY_CONFLICT);
    assert_int_equal(r.conflict.kind, NB_IDENTITY_CONFLICT_LOCAL_ID);
    assert_string_equal(r.conflict.existing_key, kx);
    assert_string_equal(r.conflict.proposed_key, ky);
    assert_string_equal(r.conflict.existing.event_id, "l1");
    assert_string_equal(r.conflict.proposed.event_id, "l2");
    assert_int_equal(r.conflict.proposed.source.agency, NB_AGENCY_HEALTH_VISITING);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_NONE);
    assert_string_equal(r.child_key, "");
    assert_false(has_digit_run(errstr));
    assert_string_equal(nb_identity_conflict_kind_name(r.conflict.kind),
                        "local_id_linked_elsewhere");
    nb_identity_result_clear(&r);
    digest(idt, d2);
    assert_memory_equal(d1, d2, 32);

    /* Still resolves to the first child. */
    nb_identity_resolution_t res;
    nb_appointment_event_t e = mk_event("e1", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, kx);

    /* An event naming y by NHS number and L1 by local id is a conflict, not a join. */
    e = mk_event("e2", y, SYS_GP, "L1");
    assert_int_equal(nb_identity_resolve_appointment(idt, &e, &res, errstr, sizeof(errstr)),
                     NB_ERR_IDENTITY_CONFLICT);
    assert_int_equal(res.conflict.kind, NB_IDENTITY_CONFLICT_SUBJECT);
    assert_string_equal(res.conflict.existing_key, kx);
    assert_string_equal(res.conflict.proposed_key, ky);
    assert_string_equal(res.conflict.proposed.event_id, "e2");
    assert_string_equal(res.key, "");
    assert_false(has_digit_run(errstr));

    /* After unlinking, the new link is accepted. */
    nb_identity_link_t u = mk_link(NB_LINK_UNLINK, "u1", SYS_GP, "L1", x, NB_DATE_NONE);
    apply_ok(idt, &u, NB_IDENTITY_CHANGE_UNLINKED);
    apply_ok(idt, &bad, NB_IDENTITY_CHANGE_LINKED);
    e = mk_event("e3", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, ky);
    nb_identity_destroy(idt);
}

static void test_unlink(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char x[11], y[11], kx[NB_KEY_MAX + 1], errstr[256];
    uint8_t d1[32], d2[32];
    nhs_of(1, x);
    nhs_of(2, y);
    key_of(idt, x, kx);
    nb_identity_result_t r;
    nb_identity_resolution_t res;

    nb_identity_link_t u0 = mk_link(NB_LINK_UNLINK, "u0", SYS_GP, "L1", x, NB_DATE_NONE);
    digest(idt, d1);
    assert_int_equal(nb_identity_apply(idt, &u0, &r, errstr, sizeof(errstr)),
                     NB_ERR_IDENTITY_UNKNOWN_LINK);
    assert_false(has_digit_run(errstr));
    digest(idt, d2);
    assert_memory_equal(d1, d2, 32);

    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", x, NB_DATE_NONE);
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_LINKED);
    digest(idt, d1);
    /* Unlinking from the wrong child names a link that does not exist. */
    nb_identity_link_t uy = mk_link(NB_LINK_UNLINK, "u1", SYS_GP, "L1", y, NB_DATE_NONE);
    assert_int_equal(apply(idt, &uy, &r), NB_ERR_IDENTITY_UNKNOWN_LINK);
    digest(idt, d2);
    assert_memory_equal(d1, d2, 32);

    nb_identity_link_t u = mk_link(NB_LINK_UNLINK, "u2", SYS_GP, "L1", x, NB_DATE_NONE);
    assert_int_equal(apply(idt, &u, &r), NB_ERR_OK);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_UNLINKED);
    assert_string_equal(r.child_key, kx);
    nb_identity_result_clear(&r);
    digest(idt, d1);
    apply_ok(idt, &u, NB_IDENTITY_CHANGE_NONE); /* the same unlink again */
    digest(idt, d2);
    assert_memory_equal(d1, d2, 32);
    nb_identity_link_t u3 = mk_link(NB_LINK_UNLINK, "u3", SYS_GP, "L1", x, NB_DATE_NONE);
    assert_int_equal(apply(idt, &u3, &r), NB_ERR_IDENTITY_UNKNOWN_LINK);

    nb_appointment_event_t e = mk_event("e1", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_int_equal(res.park_reason, NB_IDENTITY_PARK_UNLINKED_LOCAL_ID);
    assert_string_equal(res.key, "");
    nb_identity_stats_t st;
    nb_identity_stats(idt, 0, &st);
    assert_int_equal(st.links, 0);
    assert_int_equal(st.unlinked, 1);

    /* A link re-made after the unlink works again. */
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_LINKED);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, kx);
    nb_identity_destroy(idt);
}

/* ---- supersession ---------------------------------------------------------------------------- */

static void test_supersedes_moves_everything_to_the_new_number(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char x[11], y[11], z[11], kx[NB_KEY_MAX + 1], ky[NB_KEY_MAX + 1], kz[NB_KEY_MAX + 1];
    char text[512], want[512], errstr[256];
    nhs_of(10, x);
    nhs_of(11, y);
    nhs_of(12, z);
    key_of(idt, x, kx);
    key_of(idt, y, ky);
    key_of(idt, z, kz);
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", x, NB_DATE_NONE);
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_LINKED);

    nb_identity_link_t s = mk_link(NB_LINK_SUPERSEDES, "s1", NB_SYSTEM_NHS_NUMBER, x, y,
                                   NB_DATE_NONE);
    nb_identity_result_t r;
    assert_int_equal(apply(idt, &s, &r), NB_ERR_OK);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_SUPERSEDED);
    assert_true(r.has_merge);
    assert_string_equal(r.merge.from_key, kx);
    assert_string_equal(r.merge.into_key, ky);
    assert_string_equal(r.child_key, ky);
    nb_identity_result_clear(&r);
    apply_ok(idt, &s, NB_IDENTITY_CHANGE_NONE);

    nb_identity_resolution_t res;
    nb_appointment_event_t e = mk_event("e1", x, NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_NHS_NUMBER);
    assert_string_equal(res.key, ky);
    assert_string_equal(res.nhs_number, y); /* never the old number */
    assert_int_equal(res.supersession_hops, 1);
    assert_string_equal(res.supersession.event_id, "s1");
    nb_identity_explain(&res, text, sizeof(text));
    snprintf(want, sizeof(want),
             "child=%s by=nhs_number superseded=1 supersession=s1 source=gp/MPI/W91001 "
             "verification=pds_verified",
             ky);
    assert_string_equal(text, want);
    assert_null(strstr(text, kx));

    e = mk_event("e2", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_LINK);
    assert_string_equal(res.key, ky);
    assert_string_equal(res.nhs_number, y);
    assert_string_equal(res.via.event_id, "l1");

    /* A chain: y -> z. x and L1 follow it to z. */
    nb_identity_link_t s2 = mk_link(NB_LINK_SUPERSEDES, "s2", NB_SYSTEM_NHS_NUMBER, y, z,
                                    NB_DATE_NONE);
    assert_int_equal(apply(idt, &s2, &r), NB_ERR_OK);
    assert_string_equal(r.merge.from_key, ky);
    assert_string_equal(r.merge.into_key, kz);
    nb_identity_result_clear(&r);
    e = mk_event("e3", x, NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, kz);
    assert_string_equal(res.nhs_number, z);
    assert_int_equal(res.supersession_hops, 2);
    assert_string_equal(res.supersession.event_id, "s2");
    e = mk_event("e4", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, kz);

    /* Cycles are refused, at any distance. */
    uint8_t d1[32], d2[32];
    digest(idt, d1);
    nb_identity_link_t c1 = mk_link(NB_LINK_SUPERSEDES, "c1", NB_SYSTEM_NHS_NUMBER, z, x,
                                    NB_DATE_NONE);
    assert_int_equal(nb_identity_apply(idt, &c1, &r, errstr, sizeof(errstr)),
                     NB_ERR_IDENTITY_CYCLE);
    assert_false(has_digit_run(errstr));
    nb_identity_link_t c2 = mk_link(NB_LINK_SUPERSEDES, "c2", NB_SYSTEM_NHS_NUMBER, z, y,
                                    NB_DATE_NONE);
    assert_int_equal(apply(idt, &c2, &r), NB_ERR_IDENTITY_CYCLE);
    /* x is already superseded by y: a different new number is a conflict. */
    char w[11], kw[NB_KEY_MAX + 1];
    nhs_of(13, w);
    key_of(idt, w, kw);
    nb_identity_link_t c3 = mk_link(NB_LINK_SUPERSEDES, "c3", NB_SYSTEM_NHS_NUMBER, x, w,
                                    NB_DATE_NONE);
    assert_int_equal(apply(idt, &c3, &r), NB_ERR_IDENTITY_CONFLICT);
    assert_int_equal(r.conflict.kind, NB_IDENTITY_CONFLICT_SUPERSEDED);
    assert_string_equal(r.conflict.existing_key, kz);
    assert_string_equal(r.conflict.proposed_key, kw);
    assert_string_equal(r.conflict.existing.event_id, "s1");
    digest(idt, d2);
    assert_memory_equal(d1, d2, 32);
    /* x -> z directly names the same final child: restated, no cycle. */
    nb_identity_link_t s3 = mk_link(NB_LINK_SUPERSEDES, "s3", NB_SYSTEM_NHS_NUMBER, x, z,
                                    NB_DATE_NONE);
    apply_ok(idt, &s3, NB_IDENTITY_CHANGE_RESTATED);
    e = mk_event("e5", x, NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, kz);
    assert_int_equal(res.supersession_hops, 1);
    /* Regression (found by the property test): v -> x makes v upstream of x with the same
     * final child; re-pointing x at v would be a "restatement" that closes a cycle. */
    char v[11];
    nhs_of(14, v);
    nb_identity_link_t sv = mk_link(NB_LINK_SUPERSEDES, "sv", NB_SYSTEM_NHS_NUMBER, v, x,
                                    NB_DATE_NONE);
    apply_ok(idt, &sv, NB_IDENTITY_CHANGE_SUPERSEDED);
    digest(idt, d1);
    nb_identity_link_t back = mk_link(NB_LINK_SUPERSEDES, "back", NB_SYSTEM_NHS_NUMBER, x, v,
                                      NB_DATE_NONE);
    assert_int_equal(apply(idt, &back, &r), NB_ERR_IDENTITY_CYCLE);
    digest(idt, d2);
    assert_memory_equal(d1, d2, 32);
    e = mk_event("e6", v, NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, kz);
    assert_int_equal(res.supersession_hops, 2);
    /* Supersedes of a number by itself is inconsistent. */
    nb_identity_link_t same = mk_link(NB_LINK_SUPERSEDES, "x", NB_SYSTEM_NHS_NUMBER, z, z,
                                      NB_DATE_NONE);
    assert_int_equal(apply(idt, &same, &r), NB_ERR_INCONSISTENT);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 0, &st);
    assert_int_equal(st.supersessions, 3);
    nb_identity_destroy(idt);
}

static void test_link_to_superseded_number_conflicts_only_across_children(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char x[11], y[11], ky[NB_KEY_MAX + 1];
    nhs_of(20, x);
    nhs_of(21, y);
    key_of(idt, y, ky);
    nb_identity_link_t s = mk_link(NB_LINK_SUPERSEDES, "s1", NB_SYSTEM_NHS_NUMBER, x, y,
                                   NB_DATE_NONE);
    apply_ok(idt, &s, NB_IDENTITY_CHANGE_SUPERSEDED);
    /* L1 -> x (old number) then L1 -> y (new number): the same child, restated. */
    nb_identity_link_t l1 = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", x, NB_DATE_NONE);
    nb_identity_link_t l2 = mk_link(NB_LINK_LINK, "l2", SYS_GP, "L1", y, NB_DATE_NONE);
    apply_ok(idt, &l1, NB_IDENTITY_CHANGE_LINKED);
    apply_ok(idt, &l2, NB_IDENTITY_CHANGE_RESTATED);
    nb_identity_resolution_t res;
    nb_appointment_event_t e = mk_event("e", x, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, ky);
    /* Unlinking under the old number withdraws the same link. */
    nb_identity_link_t u = mk_link(NB_LINK_UNLINK, "u1", SYS_GP, "L1", x, NB_DATE_NONE);
    apply_ok(idt, &u, NB_IDENTITY_CHANGE_UNLINKED);
    nb_identity_destroy(idt);
}

/* ---- pregnancies ------------------------------------------------------------------------- */

static void test_unborn_resolves_to_pregnancy_then_child(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char mother[11], baby[11], twin[11], kb[NB_KEY_MAX + 1], kp[NB_KEY_MAX + 1];
    char kp2[NB_KEY_MAX + 1], text[512], want[512];
    nhs_of(30, mother);
    nhs_of(31, baby);
    nhs_of(32, twin);
    key_of(idt, baby, kb);
    int32_t edd = nb_days_from_civil(2026, 3, 14);
    nb_identifier_t person;
    memset(&person, 0, sizeof(person));
    snprintf(person.system, sizeof(person.system), "%s", NB_SYSTEM_NHS_NUMBER);
    snprintf(person.value, sizeof(person.value), "%.3s %.3s %.4s", mother, mother + 3,
             mother + 6);
    assert_int_equal(nb_identity_pregnancy_key(idt, &person, edd, kp), NB_ERR_OK);
    assert_int_equal(strlen(kp), NB_KEY_MAX);
    assert_string_not_equal(kp, kb);
    assert_int_equal(nb_identity_pregnancy_key(idt, &person, edd + 1, kp2), NB_ERR_OK);
    assert_string_not_equal(kp, kp2);
    assert_int_equal(nb_identity_pregnancy_key(idt, &person, NB_DATE_NONE, kp2),
                     NB_ERR_MISSING_IDENTIFIER);

    nb_identity_resolution_t res;
    nb_appointment_event_t a1 = mk_unborn("a1", mother, edd);
    assert_int_equal(resolve(idt, &a1, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY);
    assert_string_equal(res.key, kp); /* stable, and formatting-insensitive */
    assert_string_equal(res.nhs_number, "");
    nb_identity_explain(&res, text, sizeof(text));
    snprintf(want, sizeof(want), "pregnancy=%s by=pregnancy", kp);
    assert_string_equal(text, want);
    /* The pregnant person's own NHS number must be valid too. */
    nb_appointment_event_t bad = mk_unborn("a0", "9434765918", edd);
    assert_int_equal(resolve(idt, &bad, &res), NB_ERR_NHS_CHECK_DIGIT);
    bad = mk_unborn("a0", mother, NB_DATE_NONE);
    assert_int_equal(resolve(idt, &bad, &res), NB_ERR_MISSING_IDENTIFIER);

    nb_identity_link_t u2c = mk_link(NB_LINK_UNBORN_TO_CHILD, "u2c-1", NB_SYSTEM_NHS_NUMBER,
                                     mother, baby, edd);
    u2c.source.agency = NB_AGENCY_MIDWIFERY;
    snprintf(u2c.source.system, sizeof(u2c.source.system), "BadgerNet");
    snprintf(u2c.source.organisation_code, sizeof(u2c.source.organisation_code), "7A4");
    nb_identity_result_t r;
    assert_int_equal(apply(idt, &u2c, &r), NB_ERR_OK);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_PREGNANCY_LINKED);
    assert_true(r.has_merge);
    assert_string_equal(r.merge.from_key, kp);
    assert_string_equal(r.merge.into_key, kb);
    nb_identity_result_clear(&r);
    apply_ok(idt, &u2c, NB_IDENTITY_CHANGE_NONE);

    assert_int_equal(resolve(idt, &a1, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY_LINK);
    assert_string_equal(res.key, kb);
    assert_string_equal(res.nhs_number, baby);
    nb_identity_explain(&res, text, sizeof(text));
    snprintf(want, sizeof(want),
             "child=%s by=pregnancy_link link=u2c-1 source=midwifery/BadgerNet/7A4 "
             "verification=pds_verified",
             kb);
    assert_string_equal(text, want);
    /* Another pregnancy of the same person is another key. */
    nb_appointment_event_t a2 = mk_unborn("a2", mother, edd + 400);
    assert_int_equal(resolve(idt, &a2, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY);

    /* A second baby for the same pregnancy needs a human (twins, or an error). */
    nb_identity_link_t u2c_twin = mk_link(NB_LINK_UNBORN_TO_CHILD, "u2c-2",
                                          NB_SYSTEM_NHS_NUMBER, mother, twin, edd);
    assert_int_equal(apply(idt, &u2c_twin, &r), NB_ERR_IDENTITY_CONFLICT);
    assert_int_equal(r.conflict.kind, NB_IDENTITY_CONFLICT_PREGNANCY);
    assert_string_equal(r.conflict.existing_key, kb);
    nb_identity_result_clear(&r);
    assert_int_equal(resolve(idt, &a1, &res), NB_ERR_OK);
    assert_string_equal(res.key, kb);

    /* Unlinking the pregnancy (unlink with the EDD) returns it to its own key. */
    nb_identity_link_t un = mk_link(NB_LINK_UNLINK, "un-1", NB_SYSTEM_NHS_NUMBER, mother, baby,
                                    edd);
    apply_ok(idt, &un, NB_IDENTITY_CHANGE_PREGNANCY_UNLINKED);
    assert_int_equal(resolve(idt, &a1, &res), NB_ERR_OK);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY);
    assert_string_equal(res.key, kp);
    apply_ok(idt, &u2c_twin, NB_IDENTITY_CHANGE_PREGNANCY_LINKED);

    /* Supersession of the baby's number is followed from the pregnancy too. */
    char newer[11], kn[NB_KEY_MAX + 1];
    nhs_of(33, newer);
    key_of(idt, newer, kn);
    nb_identity_link_t s = mk_link(NB_LINK_SUPERSEDES, "s1", NB_SYSTEM_NHS_NUMBER, twin, newer,
                                   NB_DATE_NONE);
    apply_ok(idt, &s, NB_IDENTITY_CHANGE_SUPERSEDED);
    assert_int_equal(resolve(idt, &a1, &res), NB_ERR_OK);
    assert_string_equal(res.key, kn);
    assert_string_equal(res.nhs_number, newer);
    assert_int_equal(res.supersession_hops, 1);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 0, &st);
    assert_int_equal(st.pregnancies, 1);
    nb_identity_destroy(idt);
}

/* ---- bad statements leave the table as it was --------------------------------------------- */

static void test_bad_statements_are_refused_and_change_nothing(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char x[11], y[11], errstr[256];
    uint8_t d1[32], d2[32];
    nhs_of(40, x);
    nhs_of(41, y);
    nb_identity_link_t ok = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", x, NB_DATE_NONE);
    apply_ok(idt, &ok, NB_IDENTITY_CHANGE_LINKED);
    nb_identity_link_t s = mk_link(NB_LINK_SUPERSEDES, "s1", NB_SYSTEM_NHS_NUMBER, x, y,
                                   NB_DATE_NONE);
    apply_ok(idt, &s, NB_IDENTITY_CHANGE_SUPERSEDED);
    digest(idt, d1);

    struct {
        nb_identity_link_t l;
        nb_err_t want;
    } cases[16];
    size_t n = 0;
    cases[n].l = mk_link(NB_LINK_LINK, "b1", SYS_GP, "L2", "9434765918", NB_DATE_NONE);
    cases[n++].want = NB_ERR_NHS_CHECK_DIGIT;
    cases[n].l = mk_link(NB_LINK_LINK, "b2", SYS_GP, "L2", "94347659", NB_DATE_NONE);
    cases[n++].want = NB_ERR_NHS_FORMAT;
    cases[n].l = mk_link(NB_LINK_LINK, "b3", SYS_GP, "L2", x, NB_DATE_NONE);
    snprintf(cases[n].l.to.system, sizeof(cases[n].l.to.system), "urn:other");
    cases[n++].want = NB_ERR_INCONSISTENT;
    cases[n].l = mk_link(NB_LINK_LINK, "b4", NB_SYSTEM_NHS_NUMBER, y, x, NB_DATE_NONE);
    cases[n++].want = NB_ERR_INCONSISTENT; /* NHS numbers are joined by supersedes */
    cases[n].l = mk_link(NB_LINK_LINK, "", SYS_GP, "L2", x, NB_DATE_NONE);
    cases[n++].want = NB_ERR_FIELD_EMPTY;
    cases[n].l = mk_link(NB_LINK_LINK, "b6", SYS_GP, "", x, NB_DATE_NONE);
    cases[n++].want = NB_ERR_MISSING_IDENTIFIER;
    cases[n].l = mk_link(NB_LINK_SUPERSEDES, "b7", SYS_GP, "L1", x, NB_DATE_NONE);
    cases[n++].want = NB_ERR_INCONSISTENT;
    cases[n].l = mk_link(NB_LINK_SUPERSEDES, "b8", NB_SYSTEM_NHS_NUMBER, y, x, NB_DATE_NONE);
    cases[n++].want = NB_ERR_IDENTITY_CYCLE;
    cases[n].l = mk_link(NB_LINK_UNBORN_TO_CHILD, "b9", NB_SYSTEM_NHS_NUMBER, x, y,
                         NB_DATE_NONE);
    cases[n++].want = NB_ERR_MISSING_IDENTIFIER;
    cases[n].l = mk_link(NB_LINK_UNBORN_TO_CHILD, "b10", NB_SYSTEM_NHS_NUMBER, "9434765918", y,
                         20000);
    cases[n++].want = NB_ERR_NHS_CHECK_DIGIT;
    cases[n].l = mk_link(NB_LINK_UNLINK, "b11", SYS_GP, "L9", x, NB_DATE_NONE);
    cases[n++].want = NB_ERR_IDENTITY_UNKNOWN_LINK;
    cases[n].l = mk_link(NB_LINK_UNLINK, "b12", NB_SYSTEM_NHS_NUMBER, x, y, 20000);
    cases[n++].want = NB_ERR_IDENTITY_UNKNOWN_LINK;
    cases[n].l = mk_link(NB_LINK_LINK, "b13", SYS_GP, "L1", "9434765919", NB_DATE_NONE);
    cases[n++].want = NB_ERR_IDENTITY_CONFLICT;
    cases[n].l = mk_link((nb_link_kind_t)99, "b14", SYS_GP, "L1", x, NB_DATE_NONE);
    cases[n++].want = NB_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        nb_identity_result_t r;
        errstr[0] = '\0';
        nb_err_t err = nb_identity_apply(idt, &cases[i].l, &r, errstr, sizeof(errstr));
        if (err != cases[i].want)
            fail_msg("case %zu: got %s want %s", i, nb_err_name(err), nb_err_name(cases[i].want));
        assert_true(errstr[0] != '\0');
        assert_false(has_digit_run(errstr));
        assert_null(strstr(errstr, "L1"));
        assert_false(r.has_merge);
        assert_int_equal(r.n_released, 0);
        nb_identity_result_clear(&r);
        digest(idt, d2);
        assert_memory_equal(d1, d2, 32);
    }
    /* And the table still works. */
    nb_identity_resolution_t res;
    char ky[NB_KEY_MAX + 1];
    key_of(idt, y, ky);
    nb_appointment_event_t e = mk_event("e", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.key, ky);
    nb_identity_destroy(idt);
}

/* ---- parking ------------------------------------------------------------------------------ */

static void park_event(nb_identity_t *idt, const char *sys, const char *val, const char *payload,
                       int64_t now, nb_err_t want)
{
    nb_identity_resolution_t res;
    char errstr[256];
    nb_appointment_event_t e = mk_event(payload, NULL, sys, val);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_IDENTITY_UNRESOLVED);
    nb_identity_meta_t meta;
    memset(&meta, 0, sizeof(meta));
    snprintf(meta.topic, sizeof(meta.topic), "gp.appointments");
    meta.partition = 3;
    meta.offset = now;
    meta.timestamp_ms = now - 5;
    nb_err_t err = nb_identity_park(idt, &res, payload, strlen(payload), &meta, now, NULL,
                                    errstr, sizeof(errstr));
    assert_int_equal(err, want);
    assert_false(has_digit_run(errstr));
}

static void test_parked_events_are_released_once_in_arrival_order(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    char x[11], y[11], kx[NB_KEY_MAX + 1];
    nhs_of(50, x);
    nhs_of(51, y);
    key_of(idt, x, kx);
    park_event(idt, SYS_GP, "L1", "a1", 100, NB_ERR_OK);
    park_event(idt, SYS_HV, "H1", "b1", 110, NB_ERR_OK);
    park_event(idt, SYS_GP, "L1", "a2", 120, NB_ERR_OK);
    park_event(idt, SYS_GP, "L1", "a3", 130, NB_ERR_OK);
    park_event(idt, SYS_HV, "H1", "b2", 140, NB_ERR_OK);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 1100, &st);
    assert_int_equal(st.parked, 5);
    assert_int_equal(st.oldest_parked_age_ms, 1000);
    assert_int_equal(st.parked_total, 5);

    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", x, NB_DATE_NONE);
    nb_identity_result_t r;
    assert_int_equal(apply(idt, &l, &r), NB_ERR_OK);
    assert_int_equal(r.n_released, 3);
    const char *want[] = {"a1", "a2", "a3"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(r.released[i].len, 2);
        assert_memory_equal(r.released[i].data, want[i], 2);
        assert_string_equal(r.released[i].meta.topic, "gp.appointments");
        assert_int_equal(r.released[i].meta.partition, 3);
        assert_int_equal(r.released[i].reason, NB_IDENTITY_PARK_UNKNOWN_LOCAL_ID);
        assert_int_equal(r.released[i].resolution.method, NB_IDENTITY_METHOD_LINK);
        assert_string_equal(r.released[i].resolution.key, kx);
        assert_string_equal(r.released[i].resolution.via.event_id, "l1");
        if (i)
            assert_true(r.released[i].seq > r.released[i - 1].seq);
    }
    assert_int_equal(r.released[0].parked_at_ms, 100);
    nb_identity_result_clear(&r);
    nb_identity_stats(idt, 1100, &st);
    assert_int_equal(st.parked, 2);
    assert_int_equal(st.oldest_parked_age_ms, 990);
    assert_int_equal(st.released_total, 3);

    /* Applying the link again releases nothing more. */
    assert_int_equal(apply(idt, &l, &r), NB_ERR_OK);
    assert_int_equal(r.n_released, 0);
    nb_identity_result_clear(&r);

    /* Events that resolve cannot be parked. */
    nb_identity_resolution_t res;
    char errstr[128];
    nb_appointment_event_t e = mk_event("c", NULL, SYS_GP, "L1");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_int_equal(nb_identity_park(idt, &res, "c", 1, NULL, 200, NULL, errstr, sizeof(errstr)),
                     NB_ERR_INVALID_ARG);

    nb_identity_link_t l2 = mk_link(NB_LINK_LINK, "l2", SYS_HV, "H1", y, NB_DATE_NONE);
    assert_int_equal(apply(idt, &l2, &r), NB_ERR_OK);
    assert_int_equal(r.n_released, 2);
    assert_memory_equal(r.released[0].data, "b1", 2);
    assert_memory_equal(r.released[1].data, "b2", 2);
    nb_identity_result_clear(&r);
    nb_identity_stats(idt, 1100, &st);
    assert_int_equal(st.parked, 0);
    assert_int_equal(st.parked_bytes, 0);
    assert_int_equal(st.oldest_parked_age_ms, 0);
    nb_identity_destroy(idt);
}

static void test_park_limits(void **state)
{
    (void)state;
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    conf.park_max_events = 2;
    nb_identity_t *idt = new_idt_conf(&conf);
    park_event(idt, SYS_GP, "L1", "a1", 1, NB_ERR_OK);
    park_event(idt, SYS_GP, "L2", "a2", 2, NB_ERR_OK);
    park_event(idt, SYS_GP, "L3", "a3", 3, NB_ERR_IDENTITY_PARK_FULL);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 3, &st);
    assert_int_equal(st.parked, 2);
    assert_int_equal(st.park_rejected_total, 1);
    nb_identity_destroy(idt);

    nb_identity_conf_default(&conf);
    conf.park_max_bytes = 2 * (sizeof(void *) * 4 + 512) + 300; /* room for about 2 small */
    idt = new_idt_conf(&conf);
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        nb_identity_resolution_t res;
        nb_appointment_event_t e = mk_event("e", NULL, SYS_GP, "L1");
        assert_int_equal(resolve(idt, &e, &res), NB_ERR_IDENTITY_UNRESOLVED);
        nb_err_t err = nb_identity_park(idt, &res, "0123456789", 10, NULL, i, NULL, NULL, 0);
        if (err == NB_ERR_OK)
            ok++;
        else
            assert_int_equal(err, NB_ERR_IDENTITY_PARK_FULL);
    }
    nb_identity_stats(idt, 10, &st);
    assert_true(ok >= 1 && ok < 10);
    assert_int_equal(st.parked, (size_t)ok);
    assert_true(st.parked_bytes <= conf.park_max_bytes);
    nb_identity_destroy(idt);
}

static void test_parked_events_expire_in_order_and_are_handed_back(void **state)
{
    (void)state;
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    conf.park_retention_ms = 1000;
    nb_identity_t *idt = new_idt_conf(&conf);
    park_event(idt, SYS_GP, "L1", "a1", 0, NB_ERR_OK);
    park_event(idt, SYS_GP, "L2", "a2", 500, NB_ERR_OK);
    park_event(idt, SYS_GP, "L1", "a3", 600, NB_ERR_OK);
    nb_identity_result_t r;
    assert_int_equal(nb_identity_expire(idt, 999, &r), NB_ERR_OK);
    assert_int_equal(r.n_expired, 0);
    nb_identity_result_clear(&r);
    assert_int_equal(nb_identity_expire(idt, 1000, &r), NB_ERR_OK);
    assert_int_equal(r.n_expired, 1);
    assert_memory_equal(r.expired[0].data, "a1", 2);
    assert_int_equal(r.expired[0].parked_at_ms, 0);
    nb_identity_result_clear(&r);
    assert_int_equal(nb_identity_expire(idt, 1600, &r), NB_ERR_OK);
    assert_int_equal(r.n_expired, 2);
    assert_memory_equal(r.expired[0].data, "a2", 2);
    assert_memory_equal(r.expired[1].data, "a3", 2);
    nb_identity_result_clear(&r);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 1600, &st);
    assert_int_equal(st.parked, 0);
    assert_int_equal(st.expired_total, 3);
    /* Nothing left to release. */
    char x[11];
    nhs_of(60, x);
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", x, NB_DATE_NONE);
    assert_int_equal(apply(idt, &l, &r), NB_ERR_OK);
    assert_int_equal(r.n_released, 0);
    nb_identity_result_clear(&r);
    nb_identity_destroy(idt);
}

/* ---- demographic suggestions ------------------------------------------------------------- */

static nb_appointment_event_t with_demo(nb_appointment_event_t e, int32_t dob, const char *name,
                                        const char *postcode)
{
    e.date_of_birth = dob;
    snprintf(e.family_name, sizeof(e.family_name), "%s", name);
    snprintf(e.postcode, sizeof(e.postcode), "%s", postcode);
    return e;
}

static void test_demographics_suggest_but_never_join(void **state)
{
    (void)state;
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    conf.suggest_demographic_links = true;
    nb_identity_t *idt = new_idt_conf(&conf);
    char x[11], twin[11], z[11], kx[NB_KEY_MAX + 1], kz[NB_KEY_MAX + 1], text[256], want[256];
    nhs_of(80, x);
    nhs_of(81, twin);
    nhs_of(82, z);
    key_of(idt, x, kx);
    key_of(idt, z, kz);
    int32_t dob = nb_days_from_civil(2024, 5, 1);
    nb_identity_resolution_t res;

    /* Learn from a resolved event. */
    nb_appointment_event_t e =
        with_demo(mk_event("e1", x, NULL, NULL), dob, "O'Brien-Smith", "cf10 1aa");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 0, &st);
    assert_int_equal(st.demographics, 1);

    /* An event without an NHS number and an unknown local id gets a suggestion. */
    nb_appointment_event_t u =
        with_demo(mk_event("e2", NULL, SYS_HV, "H77"), dob, " o\xe2\x80\x99" "brien smith ",
                  "CF101AA");
    assert_int_equal(resolve(idt, &u, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_true(res.has_suggestion);
    assert_string_equal(res.suggestion.child_key, kx);
    assert_int_equal(res.suggestion.matched, 1u << NB_DEMO_DATE_OF_BIRTH |
                                                 1u << NB_DEMO_FAMILY_NAME |
                                                 1u << NB_DEMO_POSTCODE);
    assert_int_equal(res.suggestion.candidates, 1);
    const nb_identity_link_t *sl = &res.suggestion.link;
    assert_int_equal(sl->kind, NB_LINK_LINK);
    assert_string_equal(sl->from.system, SYS_HV);
    assert_string_equal(sl->from.value, "H77");
    assert_string_equal(sl->to.system, NB_SYSTEM_NHS_NUMBER);
    assert_string_equal(sl->to.value, x);
    assert_int_equal(sl->verification, NB_VERIFICATION_UNVERIFIED);
    assert_string_equal(sl->source.system, "notbrought");
    assert_string_equal(sl->source.organisation_code, "7A1");
    assert_int_equal(strlen(sl->event_id), strlen("suggest-") + 24);
    assert_int_equal(strncmp(sl->event_id, "suggest-", 8), 0);
    char first_id[NB_ID_MAX + 1];
    snprintf(first_id, sizeof(first_id), "%s", sl->event_id);
    nb_identity_explain(&res, text, sizeof(text));
    snprintf(want, sizeof(want), "unresolved reason=unknown_local_id suggestion=%s", kx);
    assert_string_equal(text, want);
    /* Never a silent join: it is still unresolved, and the suggestion is deterministic. */
    assert_int_equal(resolve(idt, &u, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_string_equal(res.key, "");
    assert_string_equal(res.suggestion.link.event_id, first_id);

    /* Confirming it (publishing the link) resolves. */
    nb_identity_link_t confirmed = res.suggestion.link;
    confirmed.verification = NB_VERIFICATION_LOCALLY_VERIFIED;
    apply_ok(idt, &confirmed, NB_IDENTITY_CHANGE_LINKED);
    assert_int_equal(resolve(idt, &u, &res), NB_ERR_OK);
    assert_string_equal(res.key, kx);

    /* A different postcode, date or name: no suggestion. */
    nb_appointment_event_t v =
        with_demo(mk_event("e3", NULL, SYS_HV, "H78"), dob, "OBrienSmith", "CF10 1AB");
    assert_int_equal(resolve(idt, &v, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_false(res.has_suggestion);
    v = with_demo(mk_event("e3", NULL, SYS_HV, "H78"), dob + 1, "OBrienSmith", "CF10 1AA");
    assert_int_equal(resolve(idt, &v, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_false(res.has_suggestion);

    /* A twin with the same tuple makes it ambiguous: no suggestion, ever. */
    nb_appointment_event_t t =
        with_demo(mk_event("e4", twin, NULL, NULL), dob, "OBRIEN-SMITH", "CF10 1AA");
    assert_int_equal(resolve(idt, &t, &res), NB_ERR_OK);
    v = with_demo(mk_event("e5", NULL, SYS_HV, "H79"), dob, "OBrienSmith", "CF10 1AA");
    assert_int_equal(resolve(idt, &v, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_false(res.has_suggestion);

    /* Supersession is followed: learned under an old number, suggested under the new. */
    char old[11];
    nhs_of(83, old);
    e = with_demo(mk_event("e6", old, NULL, NULL), dob, "Jones", "SA1 1AA");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    nb_identity_link_t s = mk_link(NB_LINK_SUPERSEDES, "s1", NB_SYSTEM_NHS_NUMBER, old, z,
                                   NB_DATE_NONE);
    apply_ok(idt, &s, NB_IDENTITY_CHANGE_SUPERSEDED);
    e = with_demo(mk_event("e7", z, NULL, NULL), dob, "jones", "sa11aa");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK); /* same child: not ambiguous */
    v = with_demo(mk_event("e8", NULL, SYS_GP, "G1"), dob, "JONES", "SA1 1AA");
    assert_int_equal(resolve(idt, &v, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_true(res.has_suggestion);
    assert_string_equal(res.suggestion.child_key, kz);
    assert_string_equal(res.suggestion.link.to.value, z);

    /* Not re-suggested to the child a human unlinked the identifier from. */
    nb_identity_link_t lg = mk_link(NB_LINK_LINK, "lg", SYS_GP, "G1", z, NB_DATE_NONE);
    nb_identity_link_t ug = mk_link(NB_LINK_UNLINK, "ug", SYS_GP, "G1", z, NB_DATE_NONE);
    apply_ok(idt, &lg, NB_IDENTITY_CHANGE_LINKED);
    apply_ok(idt, &ug, NB_IDENTITY_CHANGE_UNLINKED);
    assert_int_equal(resolve(idt, &v, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_false(res.has_suggestion);
    nb_identity_destroy(idt);

    /* Off by default. */
    idt = new_idt();
    e = with_demo(mk_event("e1", x, NULL, NULL), dob, "Jones", "SA1 1AA");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    v = with_demo(mk_event("e2", NULL, SYS_GP, "G1"), dob, "Jones", "SA1 1AA");
    assert_int_equal(resolve(idt, &v, &res), NB_ERR_IDENTITY_UNRESOLVED);
    assert_false(res.has_suggestion);
    nb_identity_stats(idt, 0, &st);
    assert_int_equal(st.demographics, 0);
    nb_identity_destroy(idt);
}

/* ---- explanations -------------------------------------------------------------------------- */

static void test_explain_keeps_personal_data_out(void **state)
{
    (void)state;
    nb_identity_resolution_t res;
    memset(&res, 0, sizeof(res));
    res.method = NB_IDENTITY_METHOD_LINK;
    snprintf(res.key, sizeof(res.key), "abc");
    snprintf(res.nhs_number, sizeof(res.nhs_number), "9434765919");
    snprintf(res.via.event_id, sizeof(res.via.event_id), "link-9434765919-x\n1");
    res.via.source.agency = NB_AGENCY_GP;
    snprintf(res.via.source.system, sizeof(res.via.source.system), "EMIS\tWeb 943 476 5919");
    snprintf(res.via.source.organisation_code, sizeof(res.via.source.organisation_code), "W1");
    char text[256];
    size_t n = nb_identity_explain(&res, text, sizeof(text));
    assert_string_equal(text, "child=abc by=link link=link-<redacted>-x?1 "
                              "source=gp/EMIS?Web 943 476 5919/W1 verification=unverified");
    assert_int_equal(n, strlen(text));
    assert_null(strstr(text, "9434765919"));
    /* Truncation: the return value is the full length. */
    char small[10];
    assert_int_equal(nb_identity_explain(&res, small, sizeof(small)), n);
    assert_string_equal(small, "child=abc");
    assert_string_equal(nb_identity_method_name(NB_IDENTITY_METHOD_PREGNANCY_LINK),
                        "pregnancy_link");
    assert_string_equal(nb_identity_change_name(NB_IDENTITY_CHANGE_SUPERSEDED), "superseded");
    assert_string_equal(nb_identity_park_reason_name(NB_IDENTITY_PARK_UNLINKED_LOCAL_ID),
                        "unlinked_local_id");
    assert_string_equal(nb_err_name(NB_ERR_IDENTITY_PARK_CORRUPT), "identity_park_corrupt");
}

/* ---- property tests ------------------------------------------------------------------------ */

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

static int rndn(rng_t *r, int n)
{
    return (int)(rnd(r) % (uint64_t)n);
}

#define P_LOCALS 24
#define P_NHS 16
#define P_STEPS 3000
#define P_MAX_PARK 4096

/* The reference model: deliberately naive arrays. */
typedef struct {
    int loc_state[P_LOCALS]; /* 0 never, 1 linked, 2 unlinked */
    int loc_nhs[P_LOCALS];
    char loc_ev[P_LOCALS][NB_ID_MAX + 1];
    int sup[P_NHS]; /* -1 or the index of the new number */
    char sup_ev[P_NHS][NB_ID_MAX + 1];
    int parked[P_LOCALS][P_MAX_PARK / 4]; /* payload ids waiting, in order */
    int n_parked[P_LOCALS];
} model_t;

static int m_final(const model_t *m, int x)
{
    int guard = 0;
    while (m->sup[x] >= 0) {
        x = m->sup[x];
        assert_true(++guard <= P_NHS); /* chains are acyclic */
    }
    return x;
}

typedef struct {
    char nhs[P_NHS][11];
    char keys[P_NHS][NB_KEY_MAX + 1];
    char lval[P_LOCALS][16];
} universe_t;

static nb_identity_link_t p_statement(const universe_t *u, rng_t *r, int step, int *kind_out,
                                      int *a, int *b)
{
    char ev[32];
    snprintf(ev, sizeof(ev), "ev%d", step);
    int k = rndn(r, 10);
    if (k < 5) {
        *a = rndn(r, P_LOCALS);
        *b = rndn(r, P_NHS);
        *kind_out = NB_LINK_LINK;
        return mk_link(NB_LINK_LINK, ev, SYS_GP, u->lval[*a], u->nhs[*b], NB_DATE_NONE);
    }
    if (k < 8) {
        *a = rndn(r, P_LOCALS);
        *b = rndn(r, P_NHS);
        *kind_out = NB_LINK_UNLINK;
        return mk_link(NB_LINK_UNLINK, ev, SYS_GP, u->lval[*a], u->nhs[*b], NB_DATE_NONE);
    }
    *a = rndn(r, P_NHS);
    do
        *b = rndn(r, P_NHS);
    while (*b == *a);
    *kind_out = NB_LINK_SUPERSEDES;
    return mk_link(NB_LINK_SUPERSEDES, ev, NB_SYSTEM_NHS_NUMBER, u->nhs[*a], u->nhs[*b],
                   NB_DATE_NONE);
}

/* What the model says a statement does. Updates the model. */
NB_NODISCARD static nb_err_t m_apply(model_t *m, int kind, int a, int b, const char *ev,
                                     nb_identity_change_t *change, int *merge_from, int *merge_into)
{
    *merge_from = *merge_into = -1;
    *change = NB_IDENTITY_CHANGE_NONE;
    if (kind == NB_LINK_LINK) {
        if (m->loc_state[a] == 1) {
            if (m_final(m, m->loc_nhs[a]) != m_final(m, b))
                return NB_ERR_IDENTITY_CONFLICT;
            if (m->loc_nhs[a] == b && strcmp(m->loc_ev[a], ev) == 0)
                return NB_ERR_OK;
            *change = NB_IDENTITY_CHANGE_RESTATED;
        } else {
            *change = NB_IDENTITY_CHANGE_LINKED;
        }
        m->loc_state[a] = 1;
        m->loc_nhs[a] = b;
        snprintf(m->loc_ev[a], sizeof(m->loc_ev[a]), "%s", ev);
        return NB_ERR_OK;
    }
    if (kind == NB_LINK_UNLINK) {
        if (m->loc_state[a] == 2 && strcmp(m->loc_ev[a], ev) == 0 &&
            m_final(m, m->loc_nhs[a]) == m_final(m, b))
            return NB_ERR_OK;
        if (m->loc_state[a] != 1 || m_final(m, m->loc_nhs[a]) != m_final(m, b))
            return NB_ERR_IDENTITY_UNKNOWN_LINK;
        m->loc_state[a] = 2;
        snprintf(m->loc_ev[a], sizeof(m->loc_ev[a]), "%s", ev);
        *change = NB_IDENTITY_CHANGE_UNLINKED;
        return NB_ERR_OK;
    }
    if (m->sup[a] >= 0) {
        if (m->sup[a] == b && strcmp(m->sup_ev[a], ev) == 0)
            return NB_ERR_OK;
        if (m_final(m, m->sup[a]) != m_final(m, b))
            return NB_ERR_IDENTITY_CONFLICT;
        for (int c = b; c >= 0; c = m->sup[c])
            if (c == a)
                return NB_ERR_IDENTITY_CYCLE; /* b is upstream of a */
        m->sup[a] = b;
        snprintf(m->sup_ev[a], sizeof(m->sup_ev[a]), "%s", ev);
        *change = NB_IDENTITY_CHANGE_RESTATED;
        return NB_ERR_OK;
    }
    if (m_final(m, b) == a)
        return NB_ERR_IDENTITY_CYCLE;
    m->sup[a] = b;
    snprintf(m->sup_ev[a], sizeof(m->sup_ev[a]), "%s", ev);
    *change = NB_IDENTITY_CHANGE_SUPERSEDED;
    *merge_from = a;
    *merge_into = m_final(m, b);
    return NB_ERR_OK;
}

/* Every identifier resolves as the model says. */
static void p_check(nb_identity_t *idt, const model_t *m, const universe_t *u)
{
    nb_identity_resolution_t res;
    for (int x = 0; x < P_NHS; x++) {
        nb_appointment_event_t e = mk_event("c", u->nhs[x], NULL, NULL);
        assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
        int f = m_final(m, x);
        assert_string_equal(res.key, u->keys[f]);
        assert_string_equal(res.nhs_number, u->nhs[f]); /* the newest number */
        /* The newest identifier is not superseded itself. */
        assert_int_equal(m->sup[f], -1);
    }
    for (int l = 0; l < P_LOCALS; l++) {
        nb_appointment_event_t e = mk_event("c", NULL, SYS_GP, u->lval[l]);
        nb_err_t err = resolve(idt, &e, &res);
        if (m->loc_state[l] == 1) {
            assert_int_equal(err, NB_ERR_OK);
            assert_string_equal(res.key, u->keys[m_final(m, m->loc_nhs[l])]);
            assert_string_equal(res.via.event_id, m->loc_ev[l]);
        } else {
            assert_int_equal(err, NB_ERR_IDENTITY_UNRESOLVED);
            assert_int_equal(res.park_reason, m->loc_state[l] == 2
                                                  ? NB_IDENTITY_PARK_UNLINKED_LOCAL_ID
                                                  : NB_IDENTITY_PARK_UNKNOWN_LOCAL_ID);
        }
    }
}

static void p_universe(nb_identity_t *idt, universe_t *u)
{
    for (int i = 0; i < P_NHS; i++) {
        nhs_of((uint32_t)(1000 + i), u->nhs[i]);
        key_of(idt, u->nhs[i], u->keys[i]);
    }
    for (int i = 0; i < P_LOCALS; i++)
        snprintf(u->lval[i], sizeof(u->lval[i]), "LOC%03d", i);
}

static void test_property_random_sequences_match_the_model(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 42, 0x5eedULL, 0xdecafbadULL};
    for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
        rng_t r = {seeds[si] * 0x9e3779b97f4a7c15ULL + 1};
        nb_identity_t *idt = new_idt();
        universe_t u;
        p_universe(idt, &u);
        model_t *m = calloc(1, sizeof(*m));
        nb_identity_link_t *seq = calloc(P_STEPS, sizeof(*seq));
        nb_err_t *seq_err = calloc(P_STEPS, sizeof(*seq_err)); /* what each statement got */
        unsigned char *released = calloc(P_MAX_PARK, 1);
        assert_non_null(m);
        assert_non_null(seq);
        assert_non_null(seq_err);
        assert_non_null(released);
        for (int i = 0; i < P_NHS; i++)
            m->sup[i] = -1;
        int n_seq = 0, next_payload = 0;
        uint8_t d1[32], d2[32];

        for (int step = 0; step < P_STEPS; step++) {
            /* Sometimes park an event for a random local id that does not resolve. */
            if (rndn(&r, 4) == 0 && next_payload < P_MAX_PARK) {
                int l = rndn(&r, P_LOCALS);
                if (m->loc_state[l] != 1 && m->n_parked[l] < P_MAX_PARK / 4) {
                    nb_identity_resolution_t res;
                    nb_appointment_event_t e = mk_event("p", NULL, SYS_GP, u.lval[l]);
                    assert_int_equal(resolve(idt, &e, &res), NB_ERR_IDENTITY_UNRESOLVED);
                    int id = next_payload++;
                    assert_int_equal(
                        nb_identity_park(idt, &res, &id, sizeof(id), NULL, step, NULL, NULL, 0),
                        NB_ERR_OK);
                    m->parked[l][m->n_parked[l]++] = id;
                }
            }
            int kind, a, b;
            nb_identity_link_t st = p_statement(&u, &r, step, &kind, &a, &b);
            /* A tenth of the time, re-apply an earlier statement instead. */
            if (n_seq && rndn(&r, 10) == 0) {
                st = seq[rndn(&r, n_seq)];
                kind = (int)st.kind;
                if (st.kind == NB_LINK_SUPERSEDES) {
                    for (a = 0; strcmp(u.nhs[a], st.from.value); a++)
                        ;
                } else {
                    for (a = 0; strcmp(u.lval[a], st.from.value); a++)
                        ;
                }
                for (b = 0; strcmp(u.nhs[b], st.to.value); b++)
                    ;
            }
            seq[n_seq++] = st;
            nb_identity_change_t want_change;
            int mf, mi;
            int was_linked = kind != NB_LINK_SUPERSEDES && m->loc_state[a] == 1;
            nb_err_t want = m_apply(m, kind, a, b, st.event_id, &want_change, &mf, &mi);
            digest(idt, d1);
            nb_identity_result_t res;
            nb_err_t got = apply(idt, &st, &res);
            seq_err[n_seq - 1] = got;
            if (got != want)
                fail_msg("seed %zu step %d: %s, model says %s", si, step, nb_err_name(got),
                         nb_err_name(want));
            assert_int_equal(res.change, want_change);
            digest(idt, d2);
            if (got != NB_ERR_OK || want_change == NB_IDENTITY_CHANGE_NONE)
                assert_memory_equal(d1, d2, 32); /* errors and repeats change nothing */
            if (mf >= 0) {
                assert_true(res.has_merge);
                assert_string_equal(res.merge.from_key, u.keys[mf]);
                assert_string_equal(res.merge.into_key, u.keys[mi]);
            } else {
                assert_false(res.has_merge);
            }
            /* Releases: exactly the events waiting for that id, in order, once. */
            if (kind == NB_LINK_LINK && got == NB_ERR_OK && !was_linked) {
                assert_int_equal(res.n_released, m->n_parked[a]);
                for (size_t i = 0; i < res.n_released; i++) {
                    int id;
                    assert_int_equal(res.released[i].len, sizeof(id));
                    memcpy(&id, res.released[i].data, sizeof(id));
                    assert_int_equal(id, m->parked[a][i]);
                    assert_int_equal(released[id], 0);
                    released[id] = 1;
                    assert_string_equal(res.released[i].resolution.key,
                                        u.keys[m_final(m, b)]);
                }
                m->n_parked[a] = 0;
            } else {
                assert_int_equal(res.n_released, 0);
            }
            nb_identity_result_clear(&res);
            /* Re-applying the statement at once is a no-op. */
            if (got == NB_ERR_OK) {
                assert_int_equal(apply(idt, &st, &res), NB_ERR_OK);
                assert_int_equal(res.change, NB_IDENTITY_CHANGE_NONE);
                assert_int_equal(res.n_released, 0);
                nb_identity_result_clear(&res);
                digest(idt, d1);
                assert_memory_equal(d1, d2, 32);
            }
            if (step % 50 == 0)
                p_check(idt, m, &u);
        }
        p_check(idt, m, &u);

        /* Every parked event is either released once or still parked. */
        size_t still = 0;
        for (int l = 0; l < P_LOCALS; l++)
            still += (size_t)m->n_parked[l];
        nb_identity_stats_t stats;
        nb_identity_stats(idt, P_STEPS, &stats);
        assert_int_equal(stats.parked, still);
        size_t n_rel = 0;
        for (int i = 0; i < next_payload; i++)
            n_rel += released[i];
        assert_int_equal(n_rel + still, (size_t)next_payload);
        assert_int_equal(stats.released_total, n_rel);

        /* The same sequence on a fresh table builds the same crosswalk... */
        digest(idt, d1);
        nb_identity_t *again = new_idt();
        for (int i = 0; i < n_seq; i++) {
            nb_identity_result_t res;
            assert_int_equal(apply(again, &seq[i], &res), seq_err[i]); /* with the same outcomes */
            nb_identity_result_clear(&res);
        }
        digest(again, d2);
        assert_memory_equal(d1, d2, 32);
        /* ...and applying the whole sequence a second time changes nothing. A statement may
         * change the table on the way (a link that a later unlink takes back), so what each one
         * returns is not the point: the digest at the end is. */
        for (int i = 0; i < n_seq; i++) {
            nb_identity_result_t res;
            NB_IGNORE(apply(again, &seq[i], &res));
            nb_identity_result_clear(&res);
        }
        digest(again, d2);
        assert_memory_equal(d1, d2, 32);
        nb_identity_destroy(again);

        free(m);
        free(seq);
        free(seq_err);
        free(released);
        nb_identity_destroy(idt);
    }
}

/* Many identifiers: table growth, removal from the parking index, and stats. */
static void test_many_identifiers(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    const int n = 20000;
    char nhs[11], val[16], key[NB_KEY_MAX + 1];
    for (int i = 0; i < n; i++) {
        snprintf(val, sizeof(val), "P%d", i);
        park_event(idt, SYS_GP, val, "x", i, NB_ERR_OK);
    }
    for (int i = 0; i < n; i++) {
        nhs_of((uint32_t)i, nhs);
        snprintf(val, sizeof(val), "P%d", (i * 7919) % n); /* a permutation of 0..n-1 */
        char ev[16];
        snprintf(ev, sizeof(ev), "l%d", i);
        nb_identity_link_t l = mk_link(NB_LINK_LINK, ev, SYS_GP, val, nhs, NB_DATE_NONE);
        nb_identity_result_t r;
        assert_int_equal(apply(idt, &l, &r), NB_ERR_OK);
        assert_int_equal(r.n_released, 1);
        nb_identity_result_clear(&r);
    }
    nb_identity_stats_t st;
    nb_identity_stats(idt, n, &st);
    assert_int_equal(st.links, (size_t)n);
    assert_int_equal(st.parked, 0);
    for (int i = 0; i < n; i += 97) {
        nb_identity_resolution_t res;
        nhs_of((uint32_t)i, nhs);
        key_of(idt, nhs, key);
        snprintf(val, sizeof(val), "P%d", (i * 7919) % n);
        nb_appointment_event_t e = mk_event("e", NULL, SYS_GP, val);
        assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
        assert_string_equal(res.key, key);
    }
    nb_identity_destroy(idt);
}

/* Many restatements make the event-id arena mostly garbage and trigger its compaction; the
 * evidence kept must be exactly what a table built from the final statements holds. */
static void test_arena_compaction_keeps_the_evidence(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    nb_identity_t *fresh = new_idt();
    char nhs[8][11], ev[64], val[16];
    for (int i = 0; i < 8; i++)
        nhs_of((uint32_t)(500 + i), nhs[i]);
    nb_identity_link_t last_l[8], last_s;
    for (int round = 0; round < 3000; round++) {
        for (int i = 0; i < 4; i++) {
            snprintf(ev, sizeof(ev), "restatement-with-a-long-event-id-%d-%d", round, i);
            snprintf(val, sizeof(val), "R%d", i);
            last_l[i] = mk_link(NB_LINK_LINK, ev, SYS_GP, val, nhs[i], NB_DATE_NONE);
            apply_ok(idt, &last_l[i], round ? NB_IDENTITY_CHANGE_RESTATED
                                            : NB_IDENTITY_CHANGE_LINKED);
        }
        snprintf(ev, sizeof(ev), "supersession-restated-with-a-long-id-%d", round);
        last_s = mk_link(NB_LINK_SUPERSEDES, ev, NB_SYSTEM_NHS_NUMBER, nhs[6], nhs[7],
                         NB_DATE_NONE);
        apply_ok(idt, &last_s, round ? NB_IDENTITY_CHANGE_RESTATED
                                     : NB_IDENTITY_CHANGE_SUPERSEDED);
    }
    /* More churn on one link only, so that compactions also happen after the last write to
     * every other slot (a stale offset would then show). */
    for (int round = 3000; round < 6000; round++) {
        snprintf(ev, sizeof(ev), "restatement-with-a-long-event-id-%d-0", round);
        last_l[0] = mk_link(NB_LINK_LINK, ev, SYS_GP, "R0", nhs[0], NB_DATE_NONE);
        apply_ok(idt, &last_l[0], NB_IDENTITY_CHANGE_RESTATED);
    }
    for (int i = 0; i < 4; i++)
        apply_ok(fresh, &last_l[i], NB_IDENTITY_CHANGE_LINKED);
    apply_ok(fresh, &last_s, NB_IDENTITY_CHANGE_SUPERSEDED);
    uint8_t d1[32], d2[32];
    digest(idt, d1);
    digest(fresh, d2);
    assert_memory_equal(d1, d2, 32);
    nb_identity_stats_t st;
    nb_identity_stats(idt, 0, &st);
    assert_true(st.memory_bytes < 256 * 1024); /* 12000 x ~40 bytes would be ~480 KB */
    nb_identity_resolution_t res;
    nb_appointment_event_t e = mk_event("e", NULL, SYS_GP, "R3");
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.via.event_id, "restatement-with-a-long-event-id-2999-3");
    e = mk_event("e", nhs[6], NULL, NULL);
    assert_int_equal(resolve(idt, &e, &res), NB_ERR_OK);
    assert_string_equal(res.supersession.event_id, "supersession-restated-with-a-long-id-2999");
    nb_identity_destroy(idt);
    nb_identity_destroy(fresh);
}

/* A context fact resolves like an appointment. */
static void test_context_fact_subject(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    nb_context_fact_t f;
    memset(&f, 0, sizeof(f));
    snprintf(f.event_id, sizeof(f.event_id), "f1");
    snprintf(f.local_id.system, sizeof(f.local_id.system), "%s", SYS_GP);
    snprintf(f.local_id.value, sizeof(f.local_id.value), "L1");
    nb_identity_subject_t subj;
    nb_identity_subject_of_fact(&subj, &f);
    nb_identity_resolution_t res;
    assert_int_equal(nb_identity_resolve(idt, &subj, &res, NULL, 0), NB_ERR_IDENTITY_UNRESOLVED);
    nb_identity_link_t l = mk_link(NB_LINK_LINK, "l1", SYS_GP, "L1", "9434765919", NB_DATE_NONE);
    apply_ok(idt, &l, NB_IDENTITY_CHANGE_LINKED);
    assert_int_equal(nb_identity_resolve(idt, &subj, &res, NULL, 0), NB_ERR_OK);
    assert_string_equal(res.nhs_number, "9434765919");
    nb_identity_destroy(idt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_key_is_hmac_sha256_of_the_number),
        cmocka_unit_test(test_new_rejects_bad_config),
        cmocka_unit_test(test_test_range_refused_when_configured),
        cmocka_unit_test(test_resolve_by_nhs_number),
        cmocka_unit_test(test_invalid_nhs_number_never_joins),
        cmocka_unit_test(test_link_resolves_local_id_with_explanation),
        cmocka_unit_test(test_link_restated_is_fine_and_same_event_is_a_noop),
        cmocka_unit_test(test_conflicting_link_is_refused_with_a_record),
        cmocka_unit_test(test_unlink),
        cmocka_unit_test(test_supersedes_moves_everything_to_the_new_number),
        cmocka_unit_test(test_link_to_superseded_number_conflicts_only_across_children),
        cmocka_unit_test(test_unborn_resolves_to_pregnancy_then_child),
        cmocka_unit_test(test_bad_statements_are_refused_and_change_nothing),
        cmocka_unit_test(test_parked_events_are_released_once_in_arrival_order),
        cmocka_unit_test(test_park_limits),
        cmocka_unit_test(test_parked_events_expire_in_order_and_are_handed_back),
        cmocka_unit_test(test_demographics_suggest_but_never_join),
        cmocka_unit_test(test_explain_keeps_personal_data_out),
        cmocka_unit_test(test_property_random_sequences_match_the_model),
        cmocka_unit_test(test_many_identifiers),
        cmocka_unit_test(test_arena_compaction_keeps_the_evidence),
        cmocka_unit_test(test_context_fact_subject),
        cmocka_unit_test(test_placeholder_nhs_number_never_joins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
