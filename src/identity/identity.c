/*
 * notbrought - identity: keys, the crosswalk, resolution and demographic suggestions.
 *
 * Layout: four open-addressing tables of fixed-size slots (table.h), a string arena for the
 * event ids of the statements in force, and a small intern table of sources. Local
 * identifiers, pregnancies and demographic tuples are stored as 16-byte truncated HMACs, never
 * as values; NHS numbers as integers. Every mutation first reserves what it needs, so an error
 * leaves the table exactly as it was.
 *
 * This file holds the handle, NHS number parsing and the keyed hashes every key comes from.
 * The rest of the module (what its files share is in identity/internal.h):
 *   resolve.c    resolving an event's subject to a child, and demographic suggestions
 *   links.c      applying link, unlink and unborn_to_child statements
 *   merge.c      supersedes: one NHS number replacing another, and the chains they make
 *   state.c      the string arena, interned sources, references to statements, and what
 *                the table holds (statistics, the state digest)
 *   pregnancy.c  pregnancies and their joins; park.c parking; explain.c explanations
 */
#include "identity/internal.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ----------------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
nb_err_t nb__fail(char *errstr, size_t errstr_size, nb_err_t err, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

static uint64_t nb__hash_digest(const void *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h)); /* the key is already a keyed hash: uniformly distributed */
    return h;
}

static uint64_t nb__hash_u64(const void *key)
{
    uint64_t v;
    memcpy(&v, key, sizeof(v));
    return nb__mix64(v);
}

void nb__identity_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void nb__identity_nhs_format(uint64_t nhs, char out[NB_NHS_LEN + 1])
{
    for (int i = NB_NHS_LEN - 1; i >= 0; i--) {
        out[i] = (char)('0' + nhs % 10);
        nhs /= 10;
    }
    out[NB_NHS_LEN] = '\0';
}

/* Normalises and validates an NHS number into an integer. The message names the field only. */
nb_err_t nb__nhs_parse(const nb_identity_t *idt, const char *in, uint64_t *out,
                       const char *field, char *errstr, size_t errstr_size)
{
    char norm[NB_NHS_LEN + 1];
    nb_err_t err = nb_nhs_normalise(in ? in : "", norm);
    if (err == NB_ERR_OK)
        err = nb_nhs_validate(norm);
    if (err != NB_ERR_OK)
        return nb__fail(errstr, errstr_size, err, "%s is not a valid NHS number (%s)", field,
                        err == NB_ERR_NHS_FORMAT        ? "not 10 digits"
                        : err == NB_ERR_NHS_PLACEHOLDER ? "a placeholder, never issued"
                                                        : "Modulus 11 check fails");
    if (!idt->conf.allow_test_nhs_numbers && nb_nhs_is_test_range(norm))
        return nb__fail(errstr, errstr_size, NB_ERR_NHS_DISALLOWED,
                        "%s is in the 999 test range, which this deployment refuses", field);
    uint64_t v = 0;
    for (int i = 0; i < NB_NHS_LEN; i++)
        v = v * 10 + (uint64_t)(norm[i] - '0');
    *out = v;
    return NB_ERR_OK;
}

/* ---- keyed hashing ----------------------------------------------------------------------- */

/* HMAC-SHA256(secret, domain 0 a 0 b 0 c). The parts are C strings (no NUL inside) or
 * fixed-length binary fields whose position the domain fixes, so encodings cannot collide. */
nb_err_t nb__identity_mac(nb_identity_t *idt, const char *domain, const void *a, size_t alen,
                          const void *b, size_t blen, const void *c, size_t clen,
                          uint8_t out[NB__MAC_LEN])
{
    /* Nettle's updates are plain calls (OpenSSL's went through its provider layer, which
     * made assembling the message first worth it): the parts go in as they are, each after a
     * NUL (an absent part, NULL, adds nothing but its separator). */
    static const uint8_t nul = 0;
    const void *parts[3] = {a, b, c};
    size_t lens[3] = {alen, blen, clen};
    hmac_sha256_update(&idt->mac, strlen(domain), (const uint8_t *)domain);
    for (int i = 0; i < 3; i++) {
        hmac_sha256_update(&idt->mac, 1, &nul);
        if (lens[i])
            hmac_sha256_update(&idt->mac, lens[i], parts[i]);
    }
    hmac_sha256_digest(&idt->mac, NB__MAC_LEN, out); /* and keyed again for the next */
    return NB_ERR_OK;
}

nb_err_t nb__identity_key_of(nb_identity_t *idt, uint64_t nhs, char key[NB_KEY_MAX + 1])
{
    char digits[NB_NHS_LEN + 1];
    uint8_t mac[NB__MAC_LEN];
    nb__identity_nhs_format(nhs, digits);
    nb_err_t err = nb__identity_mac(idt, "nb1:nhs", digits, NB_NHS_LEN, NULL, 0, NULL, 0, mac);
    if (err) {
        key[0] = '\0';
        return err;
    }
    nb__identity_hex(mac, NB__MAC_LEN, key);
    return NB_ERR_OK;
}

nb_err_t nb__local_digest(nb_identity_t *idt, const nb_identifier_t *id,
                          uint8_t dig[NB__DIGEST_LEN])
{
    uint8_t mac[NB__MAC_LEN];
    nb_err_t err = nb__identity_mac(idt, "nb1:local", id->system, strlen(id->system), id->value,
                                    strlen(id->value), NULL, 0, mac);
    if (err == NB_ERR_OK)
        memcpy(dig, mac, NB__DIGEST_LEN);
    return err;
}

/* The pregnancy MAC: the first 16 bytes are its table key, all 32 in hex its public key. A
 * pregnant person identified by NHS number is normalised first, so formatting cannot split
 * one pregnancy in two. */
nb_err_t nb__preg_mac(nb_identity_t *idt, const nb_identifier_t *person, int32_t edd,
                      const char *field, uint8_t mac[NB__MAC_LEN], char *errstr,
                      size_t errstr_size)
{
    if (!person || !nb_identifier_present(person) || edd == NB_DATE_NONE)
        return nb__fail(errstr, errstr_size, NB_ERR_MISSING_IDENTIFIER,
                        "%s needs the pregnant person's identifier and the expected delivery "
                        "date",
                        field);
    const char *value = person->value;
    char digits[NB_NHS_LEN + 1];
    if (strcmp(person->system, NB_SYSTEM_NHS_NUMBER) == 0) {
        uint64_t v;
        char what[64];
        snprintf(what, sizeof(what), "%s pregnant person", field);
        nb_err_t err = nb__nhs_parse(idt, person->value, &v, what, errstr, errstr_size);
        if (err)
            return err;
        nb__identity_nhs_format(v, digits);
        value = digits;
    }
    uint8_t be[4];
    nb_be_put(be, (uint32_t)edd, 4);
    /* value is a C string and be has a fixed length, so putting be last is unambiguous. */
    return nb__identity_mac(idt, "nb1:preg", person->system, strlen(person->system), value,
                            strlen(value), be, sizeof(be), mac);
}

/* ---- handle ------------------------------------------------------------------------------ */

void nb_identity_conf_default(nb_identity_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->allow_test_nhs_numbers = true;
    conf->suggest_demographic_links = false;
    conf->demographics_max = 4u * 1000u * 1000u;
    conf->park_max_events = 100000;
    conf->park_max_bytes = 64u * 1024u * 1024u;
    conf->park_retention_ms = 7 * NB_MS_PER_DAY;
    conf->expected_links = 0;
}

nb_identity_t *nb_identity_new(const nb_identity_conf_t *conf, char *errstr, size_t errstr_size)
{
    nb_identity_t *idt = NULL;
    /* A constructor fails with NULL and the reason in errstr: nb__fail() is called for the
     * reason it writes, and only hands back the code it was given. */
    if (!conf || !conf->secret || conf->secret_len < NB_IDENTITY_SECRET_MIN) {
        NB_IGNORE(nb__fail(errstr, errstr_size, NB_ERR_CONFIG,
                           "identity secret is missing or shorter than %d bytes",
                           NB_IDENTITY_SECRET_MIN));
        return NULL;
    }
    if (!conf->park_max_events || !conf->park_max_bytes || conf->park_retention_ms <= 0) {
        NB_IGNORE(nb__fail(errstr, errstr_size, NB_ERR_CONFIG,
                           "identity parking limits must be greater than zero"));
        return NULL;
    }
    idt = calloc(1, sizeof(*idt));
    if (!idt)
        goto nomem;
    idt->conf = *conf;
    idt->secret = malloc(conf->secret_len);
    if (!idt->secret)
        goto nomem;
    memcpy(idt->secret, conf->secret, conf->secret_len);
    idt->conf.secret = idt->secret;
    nb__tab_init(&idt->local, sizeof(nb__link_slot_t), NB__DIGEST_LEN,
                 offsetof(nb__link_slot_t, flags), nb__hash_digest);
    nb__tab_init(&idt->preg, sizeof(nb__link_slot_t), NB__DIGEST_LEN,
                 offsetof(nb__link_slot_t, flags), nb__hash_digest);
    nb__tab_init(&idt->sup, sizeof(nb__sup_slot_t), sizeof(uint64_t),
                 offsetof(nb__sup_slot_t, flags), nb__hash_u64);
    nb__tab_init(&idt->demo, sizeof(nb__demo_slot_t), NB__DIGEST_LEN,
                 offsetof(nb__demo_slot_t, flags), nb__hash_digest);
    nb__tab_init(&idt->pend, sizeof(nb__pend_slot_t), NB__PEND_KEY_LEN,
                 offsetof(nb__pend_slot_t, used), nb__pend_hash);
    nb__tab_init(&idt->pwant, sizeof(nb__pwant_slot_t), NB_IDENTITY_WANT_LEN,
                 offsetof(nb__pwant_slot_t, used), nb__hash_digest);
    idt->next_seq = 1;

    hmac_sha256_set_key(&idt->mac, conf->secret_len, idt->secret);
    if (conf->expected_links && nb__tab_reserve(&idt->local, conf->expected_links) != NB_ERR_OK)
        goto nomem;
    return idt;

nomem:
    NB_IGNORE(
        nb__fail(errstr, errstr_size, NB_ERR_NOMEM, "out of memory creating the identity table"));
    nb_identity_destroy(idt);
    return NULL;
}

void nb_identity_destroy(nb_identity_t *idt)
{
    if (!idt)
        return;
    nb__park_free_all(idt);
    nb__tab_free(&idt->pwant);
    nb__tab_free(&idt->local);
    nb__tab_free(&idt->preg);
    nb__tab_free(&idt->sup);
    nb__tab_free(&idt->demo);
    nb__tab_free(&idt->pend);
    free(idt->arena);
    free(idt->sources);
    free(idt->src_index);
    OPENSSL_cleanse(&idt->mac, sizeof(idt->mac)); /* the key's hashed pads */
    if (idt->secret) {
        OPENSSL_cleanse(idt->secret, idt->conf.secret_len);
        free(idt->secret);
    }
    free(idt);
}

/* ---- keys -------------------------------------------------------------------------------- */

nb_err_t nb_identity_child_key(nb_identity_t *idt, const char *nhs_number,
                               char key[NB_KEY_MAX + 1])
{
    uint64_t v = 0; /* set on success; -O3 cannot see that nb__fail() never returns OK */
    key[0] = '\0';
    nb_err_t err = nb__nhs_parse(idt, nhs_number, &v, "nhs_number", NULL, 0);
    if (err)
        return err;
    return nb__identity_key_of(idt, v, key);
}

nb_err_t nb_identity_pregnancy_key(nb_identity_t *idt, const nb_identifier_t *person,
                                   int32_t expected_delivery_date, char key[NB_KEY_MAX + 1])
{
    uint8_t mac[NB__MAC_LEN];
    key[0] = '\0';
    nb_err_t err =
        nb__preg_mac(idt, person, expected_delivery_date, "pregnancy", mac, NULL, 0);
    if (err)
        return err;
    nb__identity_hex(mac, NB__MAC_LEN, key);
    return NB_ERR_OK;
}
