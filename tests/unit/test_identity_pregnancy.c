/*
 * Unit tests: identity, pregnancies named by a maternity (local) number or by the pregnant
 * person's NHS number, in every order of events, `link` and `unborn_to_child`, and across a
 * rebuild of the table (a restart). See docs/identity.md, "Pregnancies".
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

#define SYS_MAT "urn:notbrought:maternity:7A4"
#define MOTHER "9434765919"
#define OTHER_MOTHER "9434765870"
#define BABY "4010232137"
#define BABY2 "4010232145"
#define EDD 20000 /* days since the epoch */

static nb_identity_t *new_idt(void)
{
    char errstr[256] = "";
    nb_identity_conf_t conf;
    nb_identity_conf_default(&conf);
    conf.secret = SECRET;
    conf.secret_len = strlen(SECRET);
    nb_identity_t *idt = nb_identity_new(&conf, errstr, sizeof(errstr));
    if (!idt)
        fail_msg("nb_identity_new: %s", errstr);
    return idt;
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
    l.source.agency = NB_AGENCY_MIDWIFERY;
    snprintf(l.source.system, sizeof(l.source.system), "BadgerNet");
    snprintf(l.source.organisation_code, sizeof(l.source.organisation_code), "7A4");
    l.verification = NB_VERIFICATION_LOCALLY_VERIFIED;
    l.recorded_at = 1700000000000LL;
    return l;
}

/* The maternity-number link, the birth links by NHS number and by maternity number. */
static nb_identity_link_t maternity_link(void)
{
    return mk_link(NB_LINK_LINK, "mat-link", SYS_MAT, "MAT-0042", MOTHER, NB_DATE_NONE);
}

static nb_identity_link_t birth_by_nhs(const char *baby)
{
    return mk_link(NB_LINK_UNBORN_TO_CHILD, "birth-nhs", NB_SYSTEM_NHS_NUMBER, MOTHER, baby,
                   EDD);
}

static nb_identity_link_t birth_by_mat(const char *baby)
{
    return mk_link(NB_LINK_UNBORN_TO_CHILD, "birth-mat", SYS_MAT, "MAT-0042", baby, EDD);
}

/* Applies a statement that must succeed; the result is left for the caller to look at. */
static void apply_ok(nb_identity_t *idt, const nb_identity_link_t *l, nb_identity_result_t *res)
{
    char errstr[256] = "";
    nb_err_t err = nb_identity_apply(idt, l, res, errstr, sizeof(errstr));
    if (err != NB_ERR_OK)
        fail_msg("apply %s: %s (%s)", l->event_id, nb_err_name(err), errstr);
}

static void apply_quiet(nb_identity_t *idt, const nb_identity_link_t *l)
{
    nb_identity_result_t res;
    apply_ok(idt, l, &res);
    nb_identity_result_clear(&res);
}

/* True when the result moves @p from into @p into (first merge or any further one). */
static bool has_merge(const nb_identity_result_t *res, const char *from, const char *into)
{
    if (res->has_merge && strcmp(res->merge.from_key, from) == 0 &&
        strcmp(res->merge.into_key, into) == 0)
        return true;
    for (size_t i = 0; i < res->n_more_merges; i++)
        if (strcmp(res->more_merges[i].from_key, from) == 0 &&
            strcmp(res->more_merges[i].into_key, into) == 0)
            return true;
    return false;
}

static nb_appointment_event_t mk_antenatal(const char *event_id, const char *sys, const char *val)
{
    nb_appointment_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.event_id, sizeof(e.event_id), "%s", event_id);
    e.source.agency = NB_AGENCY_MIDWIFERY;
    snprintf(e.source.system, sizeof(e.source.system), "BadgerNet");
    snprintf(e.source.organisation_code, sizeof(e.source.organisation_code), "7A4");
    e.subject_kind = NB_SUBJECT_UNBORN;
    snprintf(e.pregnant_person_id.system, sizeof(e.pregnant_person_id.system), "%s", sys);
    snprintf(e.pregnant_person_id.value, sizeof(e.pregnant_person_id.value), "%s", val);
    e.expected_delivery_date = EDD;
    e.date_of_birth = NB_DATE_NONE;
    return e;
}

static nb_appointment_event_t by_mat(void)
{
    return mk_antenatal("ante-mat", SYS_MAT, "MAT-0042");
}

static nb_appointment_event_t by_nhs(void)
{
    return mk_antenatal("ante-nhs", NB_SYSTEM_NHS_NUMBER, MOTHER);
}

static void resolve_ok(nb_identity_t *idt, const nb_appointment_event_t *e,
                       nb_identity_resolution_t *res)
{
    char errstr[256] = "";
    nb_err_t err = nb_identity_resolve_appointment(idt, e, res, errstr, sizeof(errstr));
    if (err != NB_ERR_OK)
        fail_msg("resolve %s: %s (%s)", e->event_id, nb_err_name(err), errstr);
}

/* The keys every test compares against. */
typedef struct keys_s {
    char lit[NB_KEY_MAX + 1];   /* the pregnancy of the maternity number */
    char canon[NB_KEY_MAX + 1]; /* the pregnancy of her NHS number */
    char baby[NB_KEY_MAX + 1];
    char baby2[NB_KEY_MAX + 1];
} keys_t;

static void keys_of(nb_identity_t *idt, keys_t *k)
{
    nb_identifier_t mat, nhs;
    memset(&mat, 0, sizeof(mat));
    memset(&nhs, 0, sizeof(nhs));
    snprintf(mat.system, sizeof(mat.system), SYS_MAT);
    snprintf(mat.value, sizeof(mat.value), "MAT-0042");
    snprintf(nhs.system, sizeof(nhs.system), NB_SYSTEM_NHS_NUMBER);
    snprintf(nhs.value, sizeof(nhs.value), MOTHER);
    assert_int_equal(nb_identity_pregnancy_key(idt, &mat, EDD, k->lit), NB_ERR_OK);
    assert_int_equal(nb_identity_pregnancy_key(idt, &nhs, EDD, k->canon), NB_ERR_OK);
    assert_int_equal(nb_identity_child_key(idt, BABY, k->baby), NB_ERR_OK);
    assert_int_equal(nb_identity_child_key(idt, BABY2, k->baby2), NB_ERR_OK);
    assert_string_not_equal(k->lit, k->canon);
}

/* Where a pregnancy kept under the maternity number's key (@p ref) belongs now. */
static const char *located(nb_identity_t *idt, const nb_identity_preg_ref_t *ref,
                           const char *lit, char out[NB_KEY_MAX + 1])
{
    nb_identity_resolution_t res;
    assert_int_equal(nb_identity_pregnancy_locate(idt, ref, lit, &res), NB_ERR_OK);
    snprintf(out, NB_KEY_MAX + 1, "%s", res.key);
    return out;
}

static void digest(const nb_identity_t *idt, uint8_t out[32])
{
    assert_int_equal(nb_identity_state_digest(idt, out), NB_ERR_OK);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Keys of pregnancies named by NHS number are what every earlier version computed (HMAC over
 * "nb1:preg", the system, the normalised number and the big-endian date): state kept under
 * them before an upgrade is found after it. */
static void test_nhs_pregnancy_keys_are_unchanged(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    keys_t k;
    keys_of(idt, &k);
    unsigned char msg[256], mac[32];
    size_t n = 0;
    const char *dom = "nb1:preg", *sys = NB_SYSTEM_NHS_NUMBER;
    memcpy(msg + n, dom, strlen(dom) + 1);
    n += strlen(dom) + 1;
    memcpy(msg + n, sys, strlen(sys) + 1);
    n += strlen(sys) + 1;
    memcpy(msg + n, MOTHER, strlen(MOTHER) + 1);
    n += strlen(MOTHER) + 1;
    uint32_t d = EDD;
    msg[n++] = (uint8_t)(d >> 24);
    msg[n++] = (uint8_t)(d >> 16);
    msg[n++] = (uint8_t)(d >> 8);
    msg[n++] = (uint8_t)d;
    unsigned int ml = 0;
    assert_non_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), msg, n, mac, &ml));
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    assert_string_equal(k.canon, hex);
    /* An event naming her NHS number resolves to that key, links or not. */
    nb_identity_resolution_t res;
    nb_appointment_event_t e = by_nhs();
    resolve_ok(idt, &e, &res);
    assert_string_equal(res.key, hex);
    assert_false(res.has_merge_from);
    assert_false(res.preg_provisional);
    assert_string_equal(res.pregnant_nhs, MOTHER);
    nb_identity_link_t l = maternity_link();
    apply_quiet(idt, &l);
    resolve_ok(idt, &e, &res);
    assert_string_equal(res.key, hex);
    nb_identity_destroy(idt);
}

/* Antenatal events by maternity number, then the link, then the birth link by NHS number. */
static void test_maternity_events_then_link_then_birth_by_nhs(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    keys_t k;
    keys_of(idt, &k);
    char where[NB_KEY_MAX + 1];
    nb_identity_resolution_t res;
    nb_identity_result_t r;
    nb_appointment_event_t em = by_mat(), en = by_nhs();

    /* No link yet: the maternity number's own pregnancy key, with what moves it later. */
    resolve_ok(idt, &em, &res);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY);
    assert_string_equal(res.key, k.lit);
    assert_true(res.preg_provisional);
    assert_false(res.has_merge_from);
    assert_string_equal(res.pregnant_nhs, "");
    nb_identity_preg_ref_t ref = res.preg_ref;
    assert_string_equal(located(idt, &ref, k.lit, where), k.lit);

    /* The link: events by either identifier reach her NHS number's pregnancy; the history
     * under the maternity number's key is named to merge into it. */
    nb_identity_link_t l = maternity_link();
    apply_ok(idt, &l, &r);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_LINKED);
    assert_false(r.has_merge); /* no pregnancy joined under the maternity number */
    nb_identity_result_clear(&r);
    resolve_ok(idt, &em, &res);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY);
    assert_string_equal(res.key, k.canon);
    assert_true(res.has_merge_from);
    assert_string_equal(res.merge_from, k.lit);
    assert_false(res.preg_provisional);
    assert_string_equal(res.pregnant_nhs, MOTHER);
    resolve_ok(idt, &en, &res);
    assert_string_equal(res.key, k.canon);
    assert_string_equal(located(idt, &ref, k.lit, where), k.canon);

    /* The birth link by NHS number: everything reaches the baby. */
    nb_identity_link_t b = birth_by_nhs(BABY);
    apply_ok(idt, &b, &r);
    assert_true(has_merge(&r, k.canon, k.baby));
    nb_identity_result_clear(&r);
    resolve_ok(idt, &em, &res);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY_LINK);
    assert_string_equal(res.key, k.baby);
    assert_true(res.has_merge_from);
    assert_string_equal(res.merge_from, k.lit);
    resolve_ok(idt, &en, &res);
    assert_string_equal(res.key, k.baby);
    assert_string_equal(located(idt, &ref, k.lit, where), k.baby);

    /* A restart: the table is rebuilt from the (compacted) links alone, nothing learned from
     * events. A state kept under the maternity number's key still finds the baby. */
    nb_identity_t *again = new_idt();
    apply_quiet(again, &l);
    apply_quiet(again, &b);
    assert_string_equal(located(again, &ref, k.lit, where), k.baby);
    /* The birth link read before the maternity link (other partitions of the links topic). */
    nb_identity_t *other = new_idt();
    apply_quiet(other, &b);
    assert_string_equal(located(other, &ref, k.lit, where), k.lit);
    apply_quiet(other, &l);
    assert_string_equal(located(other, &ref, k.lit, where), k.baby);
    nb_identity_destroy(other);
    nb_identity_destroy(again);
    nb_identity_destroy(idt);
}

/* The birth link names the maternity number before the link to her NHS number is known:
 * events by NHS number reach the baby once the link arrives, and the pregnancy of her NHS
 * number is merged into the baby then. */
static void test_birth_by_maternity_number_then_link(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    keys_t k;
    keys_of(idt, &k);
    nb_identity_resolution_t res;
    nb_identity_result_t r;
    nb_appointment_event_t em = by_mat(), en = by_nhs();

    nb_identity_link_t b = birth_by_mat(BABY);
    apply_ok(idt, &b, &r);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_PREGNANCY_LINKED);
    assert_true(has_merge(&r, k.lit, k.baby));
    assert_int_equal(r.n_more_merges, 0);
    nb_identity_result_clear(&r);
    resolve_ok(idt, &em, &res);
    assert_string_equal(res.key, k.baby);
    assert_false(res.preg_provisional);
    resolve_ok(idt, &en, &res); /* the link is not known yet */
    assert_string_equal(res.key, k.canon);

    nb_identity_link_t l = maternity_link();
    apply_ok(idt, &l, &r);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_LINKED);
    assert_true(has_merge(&r, k.canon, k.baby));
    nb_identity_result_clear(&r);
    resolve_ok(idt, &en, &res);
    assert_int_equal(res.method, NB_IDENTITY_METHOD_PREGNANCY_LINK);
    assert_string_equal(res.key, k.baby);
    resolve_ok(idt, &em, &res);
    assert_string_equal(res.key, k.baby);

    /* Applying the same statements again changes nothing and merges nothing more. */
    apply_ok(idt, &l, &r);
    assert_int_equal(r.change, NB_IDENTITY_CHANGE_NONE);
    assert_false(r.has_merge);
    nb_identity_result_clear(&r);

    /* Either order builds the same table. */
    nb_identity_t *fwd = new_idt();
    apply_quiet(fwd, &l);
    apply_ok(fwd, &b, &r);
    /* Link first: the birth link joins both pregnancies and merges both into the baby. */
    assert_true(has_merge(&r, k.lit, k.baby));
    assert_true(has_merge(&r, k.canon, k.baby));
    nb_identity_result_clear(&r);
    uint8_t d1[32], d2[32];
    digest(idt, d1);
    digest(fwd, d2);
    assert_memory_equal(d1, d2, 32);
    resolve_ok(fwd, &en, &res);
    assert_string_equal(res.key, k.baby);
    nb_identity_destroy(fwd);
    nb_identity_destroy(idt);
}

/* The birth link by NHS number first, then events by maternity number, then the link. */
static void test_birth_by_nhs_then_maternity_events_then_link(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    keys_t k;
    keys_of(idt, &k);
    char where[NB_KEY_MAX + 1];
    nb_identity_resolution_t res;
    nb_appointment_event_t em = by_mat();
    nb_identity_link_t b = birth_by_nhs(BABY), l = maternity_link();
    apply_quiet(idt, &b);
    resolve_ok(idt, &em, &res);
    assert_string_equal(res.key, k.lit);
    assert_true(res.preg_provisional);
    nb_identity_preg_ref_t ref = res.preg_ref;
    apply_quiet(idt, &l);
    assert_string_equal(located(idt, &ref, k.lit, where), k.baby);
    resolve_ok(idt, &em, &res);
    assert_string_equal(res.key, k.baby);
    assert_string_equal(res.merge_from, k.lit);
    nb_identity_destroy(idt);
}

/* Two birth links that name different babies through the two identifiers: whichever
 * statement would join them is refused with a conflict record and changes nothing. */
static void test_routes_naming_different_babies_conflict(void **state)
{
    (void)state;
    keys_t k;
    uint8_t before[32], after[32];
    char errstr[256];
    nb_identity_result_t r;
    nb_identity_link_t l = maternity_link(), bm = birth_by_mat(BABY), bn = birth_by_nhs(BABY2);

    /* Both birth links first: the maternity link is refused. */
    nb_identity_t *idt = new_idt();
    keys_of(idt, &k);
    apply_quiet(idt, &bm);
    apply_quiet(idt, &bn);
    digest(idt, before);
    assert_int_equal(nb_identity_apply(idt, &l, &r, errstr, sizeof(errstr)),
                     NB_ERR_IDENTITY_CONFLICT);
    assert_int_equal(r.conflict.kind, NB_IDENTITY_CONFLICT_PREGNANCY);
    assert_string_equal(r.conflict.existing_key, k.baby2);
    assert_string_equal(r.conflict.proposed_key, k.baby);
    assert_string_equal(r.conflict.existing.event_id, "birth-nhs");
    assert_string_equal(r.conflict.proposed.event_id, "mat-link");
    assert_null(strstr(errstr, "MAT-0042"));
    assert_null(strstr(errstr, MOTHER));
    nb_identity_result_clear(&r);
    digest(idt, after);
    assert_memory_equal(before, after, 32);
    nb_identity_resolution_t res;
    nb_appointment_event_t em = by_mat();
    resolve_ok(idt, &em, &res);
    assert_string_equal(res.key, k.baby);
    nb_identity_destroy(idt);

    /* The link and the birth link by NHS number first: the birth link by maternity number
     * naming another baby is refused. */
    idt = new_idt();
    apply_quiet(idt, &l);
    apply_quiet(idt, &bn);
    digest(idt, before);
    assert_int_equal(nb_identity_apply(idt, &bm, &r, errstr, sizeof(errstr)),
                     NB_ERR_IDENTITY_CONFLICT);
    assert_int_equal(r.conflict.kind, NB_IDENTITY_CONFLICT_PREGNANCY);
    nb_identity_result_clear(&r);
    digest(idt, after);
    assert_memory_equal(before, after, 32);
    nb_identity_destroy(idt);
}

/* A link whose target is not an NHS number is refused, never kept as something else. */
static void test_link_to_a_non_nhs_identifier_is_refused(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    uint8_t before[32], after[32];
    char errstr[256];
    nb_identity_result_t r;
    keys_t k;
    keys_of(idt, &k);
    nb_identity_link_t l = maternity_link();
    snprintf(l.to.system, sizeof(l.to.system), "urn:notbrought:maternity:7A5");
    snprintf(l.to.value, sizeof(l.to.value), "MAT-0099");
    digest(idt, before);
    assert_int_equal(nb_identity_apply(idt, &l, &r, errstr, sizeof(errstr)), NB_ERR_INCONSISTENT);
    assert_null(strstr(errstr, "MAT-0099"));
    nb_identity_result_clear(&r);
    digest(idt, after);
    assert_memory_equal(before, after, 32);
    nb_identity_resolution_t res;
    nb_appointment_event_t em = by_mat();
    resolve_ok(idt, &em, &res);
    assert_string_equal(res.key, k.lit);
    nb_identity_destroy(idt);
}

/* A second pregnancy of the same person (another date) is another key on every route. */
static void test_other_pregnancy_of_the_same_person_stays_apart(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    keys_t k;
    keys_of(idt, &k);
    nb_identity_link_t l = maternity_link(), b = birth_by_mat(BABY);
    apply_quiet(idt, &l);
    apply_quiet(idt, &b);
    nb_appointment_event_t em = by_mat(), en = by_nhs();
    em.expected_delivery_date = en.expected_delivery_date = EDD + 400;
    nb_identity_resolution_t rm, rn;
    resolve_ok(idt, &em, &rm);
    resolve_ok(idt, &en, &rn);
    assert_int_equal(rm.method, NB_IDENTITY_METHOD_PREGNANCY);
    assert_string_equal(rm.key, rn.key);
    assert_string_not_equal(rm.key, k.canon);
    assert_string_not_equal(rm.key, k.baby);
    nb_identity_destroy(idt);
}

/* Two pregnancies joined under one maternity number: the link to her NHS number joins both
 * under the NHS number's keys, and its result carries one merge per pregnancy. */
static void test_link_merges_every_pregnancy_of_the_maternity_number(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    keys_t k;
    keys_of(idt, &k);
    nb_identity_link_t b1 = birth_by_mat(BABY), b2 = birth_by_mat(BABY2);
    snprintf(b2.event_id, sizeof(b2.event_id), "birth-mat-2");
    b2.expected_delivery_date = EDD + 400;
    apply_quiet(idt, &b1);
    apply_quiet(idt, &b2);
    nb_identifier_t nhs;
    memset(&nhs, 0, sizeof(nhs));
    snprintf(nhs.system, sizeof(nhs.system), NB_SYSTEM_NHS_NUMBER);
    snprintf(nhs.value, sizeof(nhs.value), MOTHER);
    char canon2[NB_KEY_MAX + 1];
    assert_int_equal(nb_identity_pregnancy_key(idt, &nhs, EDD + 400, canon2), NB_ERR_OK);
    nb_identity_result_t r;
    nb_identity_link_t l = maternity_link();
    apply_ok(idt, &l, &r);
    assert_true(r.has_merge);
    assert_int_equal(r.n_more_merges, 1);
    assert_true(has_merge(&r, k.canon, k.baby));
    assert_true(has_merge(&r, canon2, k.baby2));
    nb_identity_result_clear(&r);
    nb_appointment_event_t en = by_nhs();
    nb_identity_resolution_t res;
    resolve_ok(idt, &en, &res);
    assert_string_equal(res.key, k.baby);
    en.expected_delivery_date = EDD + 400;
    resolve_ok(idt, &en, &res);
    assert_string_equal(res.key, k.baby2);
    nb_identity_destroy(idt);
}

static void test_locate_refuses_a_bad_key(void **state)
{
    (void)state;
    nb_identity_t *idt = new_idt();
    nb_identity_preg_ref_t ref;
    memset(&ref, 0, sizeof(ref));
    nb_identity_resolution_t res;
    assert_int_equal(nb_identity_pregnancy_locate(idt, &ref, "abc", &res), NB_ERR_INVALID_ARG);
    char bad[65];
    memset(bad, 'z', 64);
    bad[64] = '\0';
    assert_int_equal(nb_identity_pregnancy_locate(idt, &ref, bad, &res), NB_ERR_INVALID_ARG);
    nb_identity_destroy(idt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nhs_pregnancy_keys_are_unchanged),
        cmocka_unit_test(test_maternity_events_then_link_then_birth_by_nhs),
        cmocka_unit_test(test_birth_by_maternity_number_then_link),
        cmocka_unit_test(test_birth_by_nhs_then_maternity_events_then_link),
        cmocka_unit_test(test_routes_naming_different_babies_conflict),
        cmocka_unit_test(test_link_to_a_non_nhs_identifier_is_refused),
        cmocka_unit_test(test_other_pregnancy_of_the_same_person_stays_apart),
        cmocka_unit_test(test_link_merges_every_pregnancy_of_the_maternity_number),
        cmocka_unit_test(test_locate_refuses_a_bad_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
