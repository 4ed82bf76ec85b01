/*
 * notbrought - identity: keys, the crosswalk, resolution and demographic suggestions.
 *
 * Layout: four open-addressing tables of fixed-size slots (table.h), a string arena for the
 * event ids of the statements in force, and a small intern table of sources. Local
 * identifiers, pregnancies and demographic tuples are stored as 16-byte truncated HMACs, never
 * as values; NHS numbers as integers. Every mutation first reserves what it needs, so an error
 * leaves the table exactly as it was.
 */
#include "identity/internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
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
    size_t outl = 0;
    size_t dlen = strlen(domain), total = dlen + 1 + alen + 1 + blen + 1 + clen;
    /* One update over the assembled message: each update is a call through OpenSSL's provider
     * layer. The inputs' field limits keep it on the stack. */
    unsigned char stack[512], *msg = total <= sizeof(stack) ? stack : malloc(total);
    if (!msg)
        return NB_ERR_NOMEM;
    unsigned char *w = msg;
    memcpy(w, domain, dlen);
    w += dlen;
    *w++ = 0;
    if (alen)
        memcpy(w, a, alen);
    w += alen;
    *w++ = 0;
    if (blen)
        memcpy(w, b, blen);
    w += blen;
    *w++ = 0;
    if (clen)
        memcpy(w, c, clen);
    /* Re-initialising with a NULL key keeps the key set by nb_identity_new(). */
    bool ok = EVP_MAC_init(idt->mctx, NULL, 0, NULL) && EVP_MAC_update(idt->mctx, msg, total) &&
              EVP_MAC_final(idt->mctx, out, &outl, NB__MAC_LEN) && outl == NB__MAC_LEN;
    if (msg != stack)
        free(msg);
    return ok ? NB_ERR_OK : NB_ERR_NOMEM; /* OpenSSL fails here only when it cannot allocate */
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
    uint8_t be[4] = {(uint8_t)((uint32_t)edd >> 24), (uint8_t)((uint32_t)edd >> 16),
                     (uint8_t)((uint32_t)edd >> 8), (uint8_t)edd};
    /* value is a C string and be has a fixed length, so putting be last is unambiguous. */
    return nb__identity_mac(idt, "nb1:preg", person->system, strlen(person->system), value,
                            strlen(value), be, sizeof(be), mac);
}

/* ---- string arena and sources ------------------------------------------------------------ */

nb_err_t nb__arena_reserve(nb_identity_t *idt, size_t n)
{
    if (idt->arena_len + n <= idt->arena_cap)
        return NB_ERR_OK;
    if (idt->arena_len + n > UINT32_MAX)
        return NB_ERR_LIMIT;
    size_t cap = idt->arena_cap ? idt->arena_cap : 4096;
    while (cap < idt->arena_len + n)
        cap *= 2;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    char *p = realloc(idt->arena, cap);
    if (!p)
        return NB_ERR_NOMEM;
    idt->arena = p;
    idt->arena_cap = cap;
    return NB_ERR_OK;
}

/* After nb__arena_reserve(). */
uint32_t nb__arena_put(nb_identity_t *idt, const char *s, size_t len)
{
    uint32_t off = (uint32_t)idt->arena_len;
    memcpy(idt->arena + off, s, len);
    idt->arena_len += len;
    return off;
}

static void nb__compact_tab(nb__tab_t *t, size_t ev_off_at, size_t ev_len_at, const char *old,
                            char *fresh, size_t *len)
{
    for (size_t i = 0; i < t->cap; i++) {
        uint8_t *s = nb__tab_at(t, i);
        if (!s)
            continue;
        uint32_t off;
        memcpy(&off, s + ev_off_at, sizeof(off));
        uint8_t n = s[ev_len_at];
        memcpy(fresh + *len, old + off, n);
        off = (uint32_t)*len;
        memcpy(s + ev_off_at, &off, sizeof(off));
        *len += n;
    }
}

/* Rewrites the arena without the strings of replaced statements, once they are most of it.
 * Best effort: without memory it simply waits for the next time. */
static void nb__arena_maybe_compact(nb_identity_t *idt)
{
    if (idt->arena_hold || idt->arena_garbage < 65536 || idt->arena_garbage * 2 < idt->arena_len)
        return;
    size_t live = idt->arena_len - idt->arena_garbage;
    size_t cap = live < 4096 ? 4096 : live + live / 2;
    char *fresh = malloc(cap);
    if (!fresh)
        return;
    size_t len = 0;
    nb__compact_tab(&idt->local, offsetof(nb__link_slot_t, ev_off),
                    offsetof(nb__link_slot_t, ev_len), idt->arena, fresh, &len);
    nb__compact_tab(&idt->preg, offsetof(nb__link_slot_t, ev_off),
                    offsetof(nb__link_slot_t, ev_len), idt->arena, fresh, &len);
    nb__compact_tab(&idt->sup, offsetof(nb__sup_slot_t, ev_off), offsetof(nb__sup_slot_t, ev_len),
                    idt->arena, fresh, &len);
    free(idt->arena);
    idt->arena = fresh;
    idt->arena_len = len;
    idt->arena_cap = cap;
    idt->arena_garbage = 0;
}

static uint64_t nb__source_hash(const nb_source_t *s)
{
    uint64_t h = nb__mix64((uint64_t)s->agency + 1);
    for (const char *p = s->system; *p; p++)
        h = nb__mix64(h ^ (uint8_t)*p);
    h = nb__mix64(h ^ 0xff);
    for (const char *p = s->organisation_code; *p; p++)
        h = nb__mix64(h ^ (uint8_t)*p);
    return h;
}

static bool nb__source_eq(const nb_source_t *a, const nb_source_t *b)
{
    return a->agency == b->agency && strcmp(a->system, b->system) == 0 &&
           strcmp(a->organisation_code, b->organisation_code) == 0;
}

/* Interns a source. Interning is invisible state: an unused entry changes no behaviour. */
static nb_err_t nb__source_intern(nb_identity_t *idt, const nb_source_t *src, uint16_t *out)
{
    nb_source_t s;
    memset(&s, 0, sizeof(s));
    s.agency = src->agency;
    snprintf(s.system, sizeof(s.system), "%s", src->system);
    snprintf(s.organisation_code, sizeof(s.organisation_code), "%s", src->organisation_code);
    uint64_t h = nb__source_hash(&s);
    if (idt->src_index_cap) {
        size_t mask = idt->src_index_cap - 1;
        for (size_t i = (size_t)h & mask; idt->src_index[i]; i = (i + 1) & mask) {
            if (nb__source_eq(&idt->sources[idt->src_index[i] - 1], &s)) {
                *out = (uint16_t)(idt->src_index[i] - 1);
                return NB_ERR_OK;
            }
        }
    }
    if (idt->n_sources >= UINT16_MAX)
        return NB_ERR_LIMIT;
    if (idt->n_sources == idt->sources_cap) {
        size_t cap = idt->sources_cap ? idt->sources_cap * 2 : 16;
        nb_source_t *p = realloc(idt->sources, cap * sizeof(*p));
        if (!p)
            return NB_ERR_NOMEM;
        idt->sources = p;
        idt->sources_cap = cap;
    }
    if ((idt->n_sources + 1) * 2 > idt->src_index_cap) {
        size_t cap = idt->src_index_cap ? idt->src_index_cap * 2 : 32;
        uint32_t *ix = calloc(cap, sizeof(*ix));
        if (!ix)
            return NB_ERR_NOMEM;
        for (size_t k = 0; k < idt->n_sources; k++) {
            size_t i = (size_t)nb__source_hash(&idt->sources[k]) & (cap - 1);
            while (ix[i])
                i = (i + 1) & (cap - 1);
            ix[i] = (uint32_t)k + 1;
        }
        free(idt->src_index);
        idt->src_index = ix;
        idt->src_index_cap = cap;
    }
    size_t mask = idt->src_index_cap - 1;
    size_t i = (size_t)h & mask;
    while (idt->src_index[i])
        i = (i + 1) & mask;
    idt->sources[idt->n_sources] = s;
    idt->src_index[i] = (uint32_t)++idt->n_sources;
    *out = (uint16_t)(idt->n_sources - 1);
    return NB_ERR_OK;
}

static uint8_t nb__verif_flags(nb_verification_t v)
{
    unsigned u = (unsigned)v;
    if (u > 7)
        u = 0;
    return (uint8_t)(u << NB__F_VERIF_SHIFT);
}

void nb__identity_ref(const nb_identity_t *idt, uint32_t ev_off, uint8_t ev_len, uint16_t src,
                      uint8_t flags, nb_identity_link_ref_t *ref)
{
    memset(ref, 0, sizeof(*ref));
    memcpy(ref->event_id, idt->arena + ev_off, ev_len);
    ref->event_id[ev_len] = '\0';
    if (src < idt->n_sources)
        ref->source = idt->sources[src];
    ref->verification = (nb_verification_t)((flags & NB__F_VERIF_MASK) >> NB__F_VERIF_SHIFT);
}

void nb__ref_of_link(const nb_identity_link_t *link, nb_identity_link_ref_t *ref)
{
    memset(ref, 0, sizeof(*ref));
    snprintf(ref->event_id, sizeof(ref->event_id), "%s", link->event_id);
    ref->source = link->source;
    ref->verification = link->verification;
}

bool nb__same_event(const nb_identity_t *idt, uint32_t ev_off, uint8_t ev_len,
                    const char *event_id)
{
    return strlen(event_id) == ev_len && memcmp(idt->arena + ev_off, event_id, ev_len) == 0;
}

/* ---- supersession chains ---------------------------------------------------------------- */

uint64_t nb__identity_final(const nb_identity_t *idt, uint64_t nhs, uint32_t *hops,
                            const nb__sup_slot_t **last)
{
    uint32_t n = 0;
    const nb__sup_slot_t *l = NULL;
    /* Chains are acyclic by construction (nb__apply_supersedes); the bound is a backstop. */
    for (size_t guard = 0; guard <= idt->sup.count; guard++) {
        const nb__sup_slot_t *s = nb__tab_find(&idt->sup, &nhs);
        if (!s)
            break;
        l = s;
        nhs = s->new_nhs;
        n++;
    }
    if (hops)
        *hops = n;
    if (last)
        *last = l;
    return nhs;
}

/* True when the supersession chain starting at @p from passes through @p node. */
static bool nb__chain_contains(const nb_identity_t *idt, uint64_t from, uint64_t node)
{
    for (size_t guard = 0; guard <= idt->sup.count; guard++) {
        if (from == node)
            return true;
        const nb__sup_slot_t *s = nb__tab_find(&idt->sup, &from);
        if (!s)
            return false;
        from = s->new_nhs;
    }
    return true; /* unreachable: chains are acyclic; refuse rather than loop */
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
    if (!conf || !conf->secret || conf->secret_len < NB_IDENTITY_SECRET_MIN) {
        nb__fail(errstr, errstr_size, NB_ERR_CONFIG,
                 "identity secret is missing or shorter than %d bytes", NB_IDENTITY_SECRET_MIN);
        return NULL;
    }
    if (!conf->park_max_events || !conf->park_max_bytes || conf->park_retention_ms <= 0) {
        nb__fail(errstr, errstr_size, NB_ERR_CONFIG,
                 "identity parking limits must be greater than zero");
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

    idt->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!idt->mac)
        goto crypto;
    idt->mctx = EVP_MAC_CTX_new(idt->mac);
    if (!idt->mctx)
        goto crypto;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    if (!EVP_MAC_init(idt->mctx, idt->secret, conf->secret_len, params))
        goto crypto;
    if (conf->expected_links && nb__tab_reserve(&idt->local, conf->expected_links) != NB_ERR_OK)
        goto nomem;
    return idt;

crypto:
    nb__fail(errstr, errstr_size, NB_ERR_CONFIG, "OpenSSL cannot provide HMAC-SHA256");
    nb_identity_destroy(idt);
    return NULL;
nomem:
    nb__fail(errstr, errstr_size, NB_ERR_NOMEM, "out of memory creating the identity table");
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
    EVP_MAC_CTX_free(idt->mctx);
    EVP_MAC_free(idt->mac);
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

/* ---- demographics ------------------------------------------------------------------------ */

/* Family name: ASCII letters upper-cased; whitespace, hyphens and apostrophes (', U+2018,
 * U+2019) removed; other bytes (non-ASCII letters) kept as they are. */
static size_t nb__norm_name(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '-' || *p == '\'')
            continue;
        if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x98 || p[2] == 0x99)) {
            p += 2;
            continue;
        }
        if (n + 1 >= cap)
            break;
        out[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    out[n] = '\0';
    return n;
}

/* Postcode: upper case, no whitespace. */
static size_t nb__norm_postcode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            continue;
        if (n + 1 >= cap)
            break;
        out[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    out[n] = '\0';
    return n;
}

/* The keyed digest of (date of birth, family name, postcode); false when any is missing. */
static bool nb__demo_digest(nb_identity_t *idt, const nb_identity_subject_t *subj,
                            uint8_t dig[NB__DIGEST_LEN])
{
    char name[NB_NAME_MAX * 2 + 1], pc[NB_POSTCODE_MAX * 2 + 1];
    if (subj->date_of_birth == NB_DATE_NONE || !subj->family_name || !subj->postcode)
        return false;
    size_t nn = nb__norm_name(subj->family_name, name, sizeof(name));
    size_t pn = nb__norm_postcode(subj->postcode, pc, sizeof(pc));
    if (!nn || !pn)
        return false;
    uint32_t d = (uint32_t)subj->date_of_birth;
    uint8_t be[4] = {(uint8_t)(d >> 24), (uint8_t)(d >> 16), (uint8_t)(d >> 8), (uint8_t)d};
    uint8_t mac[NB__MAC_LEN];
    if (nb__identity_mac(idt, "nb1:demo", be, sizeof(be), name, nn, pc, pn, mac))
        return false;
    memcpy(dig, mac, NB__DIGEST_LEN);
    return true;
}

static uint64_t nb__demo_nhs(const nb__demo_slot_t *s)
{
    return (uint64_t)s->nhs_lo | ((uint64_t)s->nhs_hi << 32);
}

static void nb__demo_set(nb__demo_slot_t *s, uint64_t nhs)
{
    s->nhs_lo = (uint32_t)nhs;
    s->nhs_hi = (uint8_t)(nhs >> 32);
}

/* Remembers that a resolved child has this tuple. A tuple seen with two different children
 * (twins, a shared household) becomes ambiguous for good: it will never suggest. */
static void nb__demo_learn(nb_identity_t *idt, const nb_identity_subject_t *subj, uint64_t fin)
{
    uint8_t dig[NB__DIGEST_LEN];
    if (!idt->conf.suggest_demographic_links || !nb__demo_digest(idt, subj, dig))
        return;
    nb__demo_slot_t *s = nb__tab_find(&idt->demo, dig);
    if (!s) {
        int created;
        if (idt->demo.count >= idt->conf.demographics_max ||
            nb__tab_reserve(&idt->demo, 1) != NB_ERR_OK ||
            !(s = nb__tab_insert(&idt->demo, dig, &created))) {
            idt->demo_dropped++;
            return;
        }
        nb__demo_set(s, fin);
        return;
    }
    if (s->flags & NB__DEMO_AMBIGUOUS)
        return;
    if (nb__identity_final(idt, nb__demo_nhs(s), NULL, NULL) == fin)
        nb__demo_set(s, fin);
    else
        s->flags |= NB__DEMO_AMBIGUOUS;
}

static void nb__demo_suggest(nb_identity_t *idt, const nb_identity_subject_t *subj,
                             const uint8_t local_dig[NB__DIGEST_LEN],
                             const nb__link_slot_t *tombstone, nb_identity_resolution_t *res)
{
    uint8_t dig[NB__DIGEST_LEN];
    if (!idt->conf.suggest_demographic_links || !subj->local_id ||
        !nb__demo_digest(idt, subj, dig))
        return;
    const nb__demo_slot_t *s = nb__tab_find(&idt->demo, dig);
    if (!s || (s->flags & NB__DEMO_AMBIGUOUS))
        return;
    uint64_t fin = nb__identity_final(idt, nb__demo_nhs(s), NULL, NULL);
    /* Do not suggest again the child a human has just unlinked this identifier from. */
    if (tombstone && nb__identity_final(idt, tombstone->nhs, NULL, NULL) == fin)
        return;
    nb_identity_suggestion_t *sg = &res->suggestion;
    memset(sg, 0, sizeof(*sg));
    if (nb__identity_key_of(idt, fin, sg->child_key))
        return;
    uint8_t fin_be[8], mac[NB__MAC_LEN];
    for (int i = 0; i < 8; i++)
        fin_be[i] = (uint8_t)(fin >> (56 - 8 * i));
    if (nb__identity_mac(idt, "nb1:suggest", local_dig, NB__DIGEST_LEN, fin_be, sizeof(fin_be),
                         NULL, 0, mac))
        return;
    nb_identity_link_t *l = &sg->link;
    char hex[2 * 12 + 1];
    nb__identity_hex(mac, 12, hex);
    snprintf(l->event_id, sizeof(l->event_id), "suggest-%s", hex);
    l->kind = NB_LINK_LINK;
    l->from = *subj->local_id;
    snprintf(l->to.system, sizeof(l->to.system), "%s", NB_SYSTEM_NHS_NUMBER);
    nb__identity_nhs_format(fin, l->to.value);
    l->expected_delivery_date = NB_DATE_NONE;
    l->source.agency = NB_AGENCY_OTHER;
    snprintf(l->source.system, sizeof(l->source.system), "notbrought");
    if (subj->source)
        snprintf(l->source.organisation_code, sizeof(l->source.organisation_code), "%s",
                 subj->source->organisation_code);
    l->verification = NB_VERIFICATION_UNVERIFIED;
    l->recorded_at = NB_TIME_NONE;
    sg->matched = 1u << NB_DEMO_DATE_OF_BIRTH | 1u << NB_DEMO_FAMILY_NAME | 1u << NB_DEMO_POSTCODE;
    sg->candidates = 1;
    res->has_suggestion = true;
}

/* ---- resolution -------------------------------------------------------------------------- */

void nb_identity_subject_of_appointment(nb_identity_subject_t *subj,
                                        const nb_appointment_event_t *ev)
{
    memset(subj, 0, sizeof(*subj));
    subj->kind = ev->subject_kind;
    subj->event_id = ev->event_id;
    subj->source = &ev->source;
    subj->nhs_number = ev->nhs_number;
    subj->local_id = &ev->local_id;
    subj->pregnant_person_id = &ev->pregnant_person_id;
    subj->expected_delivery_date = ev->expected_delivery_date;
    subj->date_of_birth = ev->date_of_birth;
    subj->family_name = ev->family_name;
    subj->postcode = ev->postcode;
}

void nb_identity_subject_of_fact(nb_identity_subject_t *subj, const nb_context_fact_t *fact)
{
    memset(subj, 0, sizeof(*subj));
    subj->kind = NB_SUBJECT_CHILD;
    subj->event_id = fact->event_id;
    subj->nhs_number = fact->nhs_number;
    subj->local_id = &fact->local_id;
    subj->expected_delivery_date = NB_DATE_NONE;
    subj->date_of_birth = NB_DATE_NONE;
}

nb_err_t nb__identity_resolve_via_link(nb_identity_t *idt, const nb__link_slot_t *slot,
                                       nb_identity_method_t method, nb_identity_resolution_t *res)
{
    uint32_t hops;
    const nb__sup_slot_t *last;
    uint64_t fin = nb__identity_final(idt, slot->nhs, &hops, &last);
    nb_err_t err = nb__identity_key_of(idt, fin, res->key);
    if (err)
        return err;
    res->method = method;
    nb__identity_nhs_format(fin, res->nhs_number);
    nb__identity_ref(idt, slot->ev_off, slot->ev_len, slot->src, slot->flags, &res->via);
    res->supersession_hops = hops;
    if (last)
        nb__identity_ref(idt, last->ev_off, last->ev_len, last->src, last->flags,
                         &res->supersession);
    return NB_ERR_OK;
}

nb_err_t nb_identity_resolve(nb_identity_t *idt, const nb_identity_subject_t *subj,
                             nb_identity_resolution_t *res, char *errstr, size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (subj->kind == NB_SUBJECT_UNBORN)
        return nb__identity_resolve_unborn(idt, subj, res, errstr, errstr_size);

    bool has_nhs = subj->nhs_number && subj->nhs_number[0];
    bool has_local = subj->local_id && nb_identifier_present(subj->local_id);
    if (!has_nhs && !has_local)
        return nb__fail(errstr, errstr_size, NB_ERR_MISSING_IDENTIFIER,
                        "subject has neither an NHS number nor a local identifier");
    nb_err_t err;
    uint8_t dig[NB__DIGEST_LEN];
    const nb__link_slot_t *slot = NULL;
    if (has_local) {
        if ((err = nb__local_digest(idt, subj->local_id, dig)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        slot = nb__tab_find(&idt->local, dig);
    }
    bool linked = slot && (slot->flags & NB__F_LINKED);

    if (has_nhs) {
        uint64_t nhs, fin;
        const nb__sup_slot_t *last;
        if ((err = nb__nhs_parse(idt, subj->nhs_number, &nhs, "subject.nhs_number", errstr,
                                 errstr_size)))
            return err;
        fin = nb__identity_final(idt, nhs, &res->supersession_hops, &last);
        if ((err = nb__identity_key_of(idt, fin, res->key)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        if (linked) {
            uint64_t other = nb__identity_final(idt, slot->nhs, NULL, NULL);
            if (other != fin) {
                nb_identity_conflict_t *c = &res->conflict;
                c->kind = NB_IDENTITY_CONFLICT_SUBJECT;
                snprintf(c->proposed_key, sizeof(c->proposed_key), "%s", res->key);
                if ((err = nb__identity_key_of(idt, other, c->existing_key)))
                    return nb__fail(errstr, errstr_size, err, "keyed hash failed");
                nb__identity_ref(idt, slot->ev_off, slot->ev_len, slot->src, slot->flags,
                                 &c->existing);
                snprintf(c->proposed.event_id, sizeof(c->proposed.event_id), "%s",
                         subj->event_id ? subj->event_id : "");
                if (subj->source)
                    c->proposed.source = *subj->source;
                c->proposed.verification = NB_VERIFICATION_UNVERIFIED;
                res->key[0] = '\0';
                res->supersession_hops = 0;
                return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                                "subject.nhs_number and subject.local_id name different "
                                "children; not joined");
            }
        }
        res->method = NB_IDENTITY_METHOD_NHS_NUMBER;
        nb__identity_nhs_format(fin, res->nhs_number);
        if (last)
            nb__identity_ref(idt, last->ev_off, last->ev_len, last->src, last->flags,
                             &res->supersession);
        nb__demo_learn(idt, subj, fin);
        return NB_ERR_OK;
    }

    if (linked) {
        if ((err = nb__identity_resolve_via_link(idt, slot, NB_IDENTITY_METHOD_LINK, res)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        nb__demo_learn(idt, subj, nb__identity_final(idt, slot->nhs, NULL, NULL));
        return NB_ERR_OK;
    }

    res->method = NB_IDENTITY_METHOD_NONE;
    res->park_reason =
        slot ? NB_IDENTITY_PARK_UNLINKED_LOCAL_ID : NB_IDENTITY_PARK_UNKNOWN_LOCAL_ID;
    memcpy(res->want, dig, NB_IDENTITY_WANT_LEN);
    nb__demo_suggest(idt, subj, dig, slot, res);
    return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_UNRESOLVED,
                    slot ? "subject.local_id was unlinked and no NHS number is given; parked"
                         : "subject.local_id is not linked to a child yet; parked");
}

nb_err_t nb_identity_resolve_appointment(nb_identity_t *idt, const nb_appointment_event_t *ev,
                                         nb_identity_resolution_t *res, char *errstr,
                                         size_t errstr_size)
{
    nb_identity_subject_t subj;
    nb_identity_subject_of_appointment(&subj, ev);
    return nb_identity_resolve(idt, &subj, res, errstr, errstr_size);
}

/* ---- applying statements ----------------------------------------------------------------- */

/* link / unborn_to_child: joins the slot @p dig of @p tab to child @p x. */
static nb_err_t nb__apply_join(nb_identity_t *idt, nb__tab_t *tab, const uint8_t *dig, uint64_t x,
                               const nb_identity_link_t *link, const char *preg_key,
                               nb_identity_result_t *res, char *errstr, size_t errstr_size)
{
    bool is_preg = preg_key != NULL;
    size_t evlen = strlen(link->event_id);
    uint16_t src;
    nb_err_t err;
    uint64_t xfin = nb__identity_final(idt, x, NULL, NULL);
    if ((err = nb__identity_key_of(idt, xfin, res->child_key)) ||
        (err = nb__source_intern(idt, &link->source, &src)))
        return nb__fail(errstr, errstr_size, err, "cannot record the statement's source");
    uint8_t flags = NB__F_USED | NB__F_LINKED | nb__verif_flags(link->verification);

    nb__link_slot_t *slot = nb__tab_find(tab, dig);
    if (slot && (slot->flags & NB__F_LINKED)) {
        uint64_t cur = nb__identity_final(idt, slot->nhs, NULL, NULL);
        if (cur != xfin) {
            nb_identity_conflict_t *c = &res->conflict;
            c->kind = is_preg ? NB_IDENTITY_CONFLICT_PREGNANCY : NB_IDENTITY_CONFLICT_LOCAL_ID;
            snprintf(c->proposed_key, sizeof(c->proposed_key), "%s", res->child_key);
            if ((err = nb__identity_key_of(idt, cur, c->existing_key)))
                return nb__fail(errstr, errstr_size, err, "keyed hash failed");
            nb__identity_ref(idt, slot->ev_off, slot->ev_len, slot->src, slot->flags,
                             &c->existing);
            nb__ref_of_link(link, &c->proposed);
            res->child_key[0] = '\0';
            return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                            is_preg ? "the pregnancy is already linked to another child (a "
                                      "multiple birth needs a human decision); not re-pointed"
                                    : "the local identifier is already linked to another "
                                      "child; not re-pointed");
        }
        if (slot->nhs == x && nb__same_event(idt, slot->ev_off, slot->ev_len, link->event_id)) {
            res->change = NB_IDENTITY_CHANGE_NONE;
            return NB_ERR_OK;
        }
        /* The same child stated again (perhaps under a newer number): keep the newest
         * statement as the evidence, as compaction of identity.links would. */
        if ((err = nb__arena_reserve(idt, evlen)))
            return nb__fail(errstr, errstr_size, err, "out of memory");
        idt->arena_garbage += slot->ev_len;
        slot->ev_off = nb__arena_put(idt, link->event_id, evlen);
        slot->ev_len = (uint8_t)evlen;
        slot->src = src;
        slot->flags = flags;
        slot->nhs = x;
        res->change = NB_IDENTITY_CHANGE_RESTATED;
        nb__arena_maybe_compact(idt);
        return NB_ERR_OK;
    }

    /* A new join: reserve everything first, so that nothing changes on failure. */
    if ((!slot && (err = nb__tab_reserve(tab, 1))) || (err = nb__arena_reserve(idt, evlen)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    nb__link_slot_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    memcpy(tmp.key, dig, NB__DIGEST_LEN);
    tmp.nhs = x;
    tmp.ev_off = nb__arena_put(idt, link->event_id, evlen);
    tmp.ev_len = (uint8_t)evlen;
    tmp.src = src;
    tmp.flags = flags;
    if (!is_preg && nb__park_waiting(idt, dig)) {
        nb_identity_resolution_t proto;
        memset(&proto, 0, sizeof(proto));
        if ((err = nb__identity_resolve_via_link(idt, &tmp, NB_IDENTITY_METHOD_LINK, &proto)) ||
            (err = nb__park_take(idt, dig, &proto, &res->released, &res->n_released))) {
            idt->arena_garbage += evlen;
            return nb__fail(errstr, errstr_size, err, "out of memory releasing parked events");
        }
    }
    int created;
    slot = nb__tab_insert(tab, dig, &created);
    if (!created)
        idt->arena_garbage += slot->ev_len; /* the tombstone's unlink statement */
    *slot = tmp;
    if (is_preg)
        idt->preg_linked++;
    else
        idt->local_linked++;
    if (is_preg) {
        res->change = NB_IDENTITY_CHANGE_PREGNANCY_LINKED;
        res->has_merge = true;
        snprintf(res->merge.from_key, sizeof(res->merge.from_key), "%s", preg_key);
        snprintf(res->merge.into_key, sizeof(res->merge.into_key), "%s", res->child_key);
    } else {
        res->change = NB_IDENTITY_CHANGE_LINKED;
    }
    nb__arena_maybe_compact(idt);
    return NB_ERR_OK;
}

/* unlink: withdraws the join of slot @p dig with child @p x. */
static nb_err_t nb__apply_unjoin(nb_identity_t *idt, nb__tab_t *tab, const uint8_t *dig,
                                 uint64_t x, const nb_identity_link_t *link, bool is_preg,
                                 nb_identity_result_t *res, char *errstr, size_t errstr_size)
{
    size_t evlen = strlen(link->event_id);
    uint16_t src;
    nb_err_t err;
    nb__link_slot_t *slot = nb__tab_find(tab, dig);
    uint64_t xfin = nb__identity_final(idt, x, NULL, NULL);
    if (slot && !(slot->flags & NB__F_LINKED) &&
        nb__same_event(idt, slot->ev_off, slot->ev_len, link->event_id) &&
        nb__identity_final(idt, slot->nhs, NULL, NULL) == xfin) {
        res->change = NB_IDENTITY_CHANGE_NONE;
        if ((err = nb__identity_key_of(idt, xfin, res->child_key)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        return NB_ERR_OK;
    }
    if (!slot || !(slot->flags & NB__F_LINKED) ||
        nb__identity_final(idt, slot->nhs, NULL, NULL) != xfin)
        return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_UNKNOWN_LINK,
                        is_preg ? "unlink names no pregnancy link in force"
                                : "unlink names no link in force for this local identifier");
    if ((err = nb__identity_key_of(idt, xfin, res->child_key)) ||
        (err = nb__source_intern(idt, &link->source, &src)) ||
        (err = nb__arena_reserve(idt, evlen)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    idt->arena_garbage += slot->ev_len;
    slot->ev_off = nb__arena_put(idt, link->event_id, evlen);
    slot->ev_len = (uint8_t)evlen;
    slot->src = src;
    slot->flags = NB__F_USED | nb__verif_flags(link->verification); /* a tombstone */
    if (is_preg)
        idt->preg_linked--;
    else
        idt->local_linked--;
    res->change = is_preg ? NB_IDENTITY_CHANGE_PREGNANCY_UNLINKED : NB_IDENTITY_CHANGE_UNLINKED;
    nb__arena_maybe_compact(idt);
    return NB_ERR_OK;
}

static nb_err_t nb__apply_supersedes(nb_identity_t *idt, const nb_identity_link_t *link,
                                     nb_identity_result_t *res, char *errstr,
                                     size_t errstr_size)
{
    uint64_t x, y;
    nb_err_t err;
    size_t evlen = strlen(link->event_id);
    uint16_t src;
    if (strcmp(link->from.system, NB_SYSTEM_NHS_NUMBER) != 0 ||
        strcmp(link->to.system, NB_SYSTEM_NHS_NUMBER) != 0)
        return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                        "supersedes needs NHS numbers in from and to");
    if ((err = nb__nhs_parse(idt, link->from.value, &x, "supersedes.from", errstr,
                             errstr_size)) ||
        (err = nb__nhs_parse(idt, link->to.value, &y, "supersedes.to", errstr, errstr_size)))
        return err;
    if (x == y)
        return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                        "supersedes names the same NHS number twice");
    uint64_t yfin = nb__identity_final(idt, y, NULL, NULL);
    if ((err = nb__identity_key_of(idt, yfin, res->child_key)) ||
        (err = nb__source_intern(idt, &link->source, &src)))
        return nb__fail(errstr, errstr_size, err, "cannot record the statement's source");
    uint8_t flags = NB__F_USED | nb__verif_flags(link->verification);

    nb__sup_slot_t *s = nb__tab_find(&idt->sup, &x);
    if (s) {
        if (s->new_nhs == y && nb__same_event(idt, s->ev_off, s->ev_len, link->event_id)) {
            res->change = NB_IDENTITY_CHANGE_NONE;
            return NB_ERR_OK;
        }
        uint64_t cur = nb__identity_final(idt, s->new_nhs, NULL, NULL);
        if (cur != yfin) {
            nb_identity_conflict_t *c = &res->conflict;
            c->kind = NB_IDENTITY_CONFLICT_SUPERSEDED;
            snprintf(c->proposed_key, sizeof(c->proposed_key), "%s", res->child_key);
            if ((err = nb__identity_key_of(idt, cur, c->existing_key)))
                return nb__fail(errstr, errstr_size, err, "keyed hash failed");
            nb__identity_ref(idt, s->ev_off, s->ev_len, s->src, s->flags, &c->existing);
            nb__ref_of_link(link, &c->proposed);
            res->child_key[0] = '\0';
            return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CONFLICT,
                            "the old NHS number is already superseded by another number; not "
                            "re-pointed");
        }
        /* Same final child, but y may lie upstream of x (y -> ... -> x -> ...): re-pointing
         * x at y would then close a cycle. */
        if (nb__chain_contains(idt, y, x)) {
            res->child_key[0] = '\0';
            return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CYCLE,
                            "supersedes would make a cycle of NHS numbers; refused");
        }
        /* Keep the newest statement. */
        if ((err = nb__arena_reserve(idt, evlen)))
            return nb__fail(errstr, errstr_size, err, "out of memory");
        idt->arena_garbage += s->ev_len;
        s->ev_off = nb__arena_put(idt, link->event_id, evlen);
        s->ev_len = (uint8_t)evlen;
        s->src = src;
        s->flags = flags;
        s->new_nhs = y;
        res->change = NB_IDENTITY_CHANGE_RESTATED;
        nb__arena_maybe_compact(idt);
        return NB_ERR_OK;
    }
    /* x is not superseded, so it ends its own chain: y's chain reaches x iff it ends there. */
    if (yfin == x || nb__chain_contains(idt, y, x)) {
        res->child_key[0] = '\0';
        return nb__fail(errstr, errstr_size, NB_ERR_IDENTITY_CYCLE,
                        "supersedes would make a cycle of NHS numbers; refused");
    }
    char from_key[NB_KEY_MAX + 1];
    int created;
    if ((err = nb__identity_key_of(idt, x, from_key)) || (err = nb__tab_reserve(&idt->sup, 1)) ||
        (err = nb__arena_reserve(idt, evlen)))
        return nb__fail(errstr, errstr_size, err, "out of memory");
    s = nb__tab_insert(&idt->sup, &x, &created);
    s->new_nhs = y;
    s->ev_off = nb__arena_put(idt, link->event_id, evlen);
    s->ev_len = (uint8_t)evlen;
    s->src = src;
    s->flags = flags;
    res->change = NB_IDENTITY_CHANGE_SUPERSEDED;
    res->has_merge = true;
    memcpy(res->merge.from_key, from_key, sizeof(from_key));
    snprintf(res->merge.into_key, sizeof(res->merge.into_key), "%s", res->child_key);
    return NB_ERR_OK;
}

/* nb__apply_join(), then what the statement does to pregnancies (planned and reserved
 * before, so that nothing can fail after the join). */
static nb_err_t nb__apply_preg(nb_identity_t *idt, nb__tab_t *tab, const uint8_t *dig,
                               uint64_t x, const nb_identity_link_t *link, const char *preg_key,
                               nb__preg_plan_t *plan, nb_identity_result_t *res, char *errstr,
                               size_t errstr_size)
{
    idt->arena_hold = true;
    nb_err_t err = nb__apply_join(idt, tab, dig, x, link, preg_key, res, errstr, errstr_size);
    if (err == NB_ERR_OK && res->change != NB_IDENTITY_CHANGE_NONE)
        nb__preg_commit(idt, link, plan, res);
    idt->arena_hold = false;
    nb__arena_maybe_compact(idt);
    return err;
}

nb_err_t nb_identity_apply(nb_identity_t *idt, const nb_identity_link_t *link,
                           nb_identity_result_t *res, char *errstr, size_t errstr_size)
{
    nb_err_t err;
    uint64_t x;
    uint8_t dig[NB__MAC_LEN];
    memset(res, 0, sizeof(*res));
    if (errstr && errstr_size)
        errstr[0] = '\0';
    size_t evlen = strnlen(link->event_id, sizeof(link->event_id));
    if (evlen == 0 || evlen > NB_ID_MAX)
        return nb__fail(errstr, errstr_size, NB_ERR_FIELD_EMPTY,
                        "event_id is empty or too long; statements are identified by it");
    if (!nb_identifier_present(&link->from) || !nb_identifier_present(&link->to))
        return nb__fail(errstr, errstr_size, NB_ERR_MISSING_IDENTIFIER,
                        "from and to are both required");

    switch (link->kind) {
    case NB_LINK_LINK:
    case NB_LINK_UNLINK: {
        const char *what = link->kind == NB_LINK_LINK ? "link" : "unlink";
        bool preg = link->kind == NB_LINK_UNLINK && link->expected_delivery_date != NB_DATE_NONE;
        if (strcmp(link->to.system, NB_SYSTEM_NHS_NUMBER) != 0)
            return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                            "%s.to must be an NHS number", what);
        if (!preg && strcmp(link->from.system, NB_SYSTEM_NHS_NUMBER) == 0)
            return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                            "%s.from is an NHS number; NHS numbers are joined by supersedes",
                            what);
        char field[16];
        snprintf(field, sizeof(field), "%s.to", what);
        if ((err = nb__nhs_parse(idt, link->to.value, &x, field, errstr, errstr_size)))
            return err;
        if (preg) {
            if ((err = nb__preg_mac(idt, &link->from, link->expected_delivery_date, "unlink",
                                    dig, errstr, errstr_size)))
                return err;
            return nb__apply_unjoin(idt, &idt->preg, dig, x, link, true, res, errstr,
                                    errstr_size);
        }
        if ((err = nb__local_digest(idt, &link->from, dig)))
            return nb__fail(errstr, errstr_size, err, "keyed hash failed");
        if (link->kind == NB_LINK_LINK) {
            /* Pregnancies joined under this local identifier are joined under the NHS
             * number too (pregnancy.c). */
            nb__preg_plan_t plan;
            if ((err = nb__preg_plan_link(idt, link, x, &plan, res, errstr, errstr_size)) ==
                NB_ERR_OK)
                err = nb__apply_preg(idt, &idt->local, dig, x, link, NULL, &plan, res, errstr,
                                     errstr_size);
            nb__preg_plan_free(&plan);
            return err;
        }
        return nb__apply_unjoin(idt, &idt->local, dig, x, link, false, res, errstr, errstr_size);
    }
    case NB_LINK_SUPERSEDES:
        return nb__apply_supersedes(idt, link, res, errstr, errstr_size);
    case NB_LINK_UNBORN_TO_CHILD: {
        char preg_key[NB_KEY_MAX + 1];
        if (strcmp(link->to.system, NB_SYSTEM_NHS_NUMBER) != 0)
            return nb__fail(errstr, errstr_size, NB_ERR_INCONSISTENT,
                            "unborn_to_child.to must be an NHS number");
        if ((err = nb__nhs_parse(idt, link->to.value, &x, "unborn_to_child.to", errstr,
                                 errstr_size)) ||
            (err = nb__preg_mac(idt, &link->from, link->expected_delivery_date,
                                "unborn_to_child", dig, errstr, errstr_size)))
            return err;
        nb__identity_hex(dig, NB__MAC_LEN, preg_key);
        nb__preg_plan_t plan;
        if ((err = nb__preg_plan_unborn(idt, link, x, &plan, res, errstr, errstr_size)) ==
            NB_ERR_OK)
            err = nb__apply_preg(idt, &idt->preg, dig, x, link, preg_key, &plan, res, errstr,
                                 errstr_size);
        nb__preg_plan_free(&plan);
        return err;
    }
    default:
        return nb__fail(errstr, errstr_size, NB_ERR_INVALID_ARG, "unknown link kind");
    }
}

/* ---- observation ------------------------------------------------------------------------- */

void nb_identity_stats(const nb_identity_t *idt, int64_t now_ms, nb_identity_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->links = idt->local_linked;
    st->unlinked = idt->local.count - idt->local_linked;
    st->pregnancies = idt->preg_linked;
    st->supersessions = idt->sup.count;
    st->demographics = idt->demo.count;
    st->demographics_dropped = idt->demo_dropped;
    st->parked = idt->pcount;
    st->parked_bytes = idt->pbytes;
    st->oldest_parked_age_ms = idt->phead ? now_ms - idt->phead->parked_at : 0;
    if (st->oldest_parked_age_ms < 0)
        st->oldest_parked_age_ms = 0;
    st->parked_total = idt->parked_total;
    st->released_total = idt->released_total;
    st->expired_total = idt->expired_total;
    st->park_rejected_total = idt->park_rejected_total;
    st->memory_bytes = sizeof(*idt) + nb__tab_bytes(&idt->local) + nb__tab_bytes(&idt->preg) +
                       nb__tab_bytes(&idt->sup) + nb__tab_bytes(&idt->demo) +
                       nb__tab_bytes(&idt->pend) +
                       nb__tab_bytes(&idt->pwant) + idt->arena_cap +
                       idt->sources_cap * sizeof(nb_source_t) +
                       idt->src_index_cap * sizeof(uint32_t) + idt->pbytes;
}

/* One entry's canonical bytes, hashed with SHA-256 and added lane-wise into acc: the sum does
 * not depend on the order of the slots. */
static bool nb__digest_entry(EVP_MD_CTX *md, const nb_identity_t *idt, uint8_t tag,
                             const void *key, size_t key_len, uint64_t a, uint64_t b,
                             uint8_t flags, uint32_t ev_off, uint8_t ev_len, uint16_t src,
                             uint64_t acc[4])
{
    uint8_t buf[1 + 16 + 8 + 8 + 1 + 1];
    size_t n = 0;
    buf[n++] = tag;
    memcpy(buf + n, key, key_len);
    n += key_len;
    for (int i = 0; i < 8; i++)
        buf[n++] = (uint8_t)(a >> (56 - 8 * i));
    for (int i = 0; i < 8; i++)
        buf[n++] = (uint8_t)(b >> (56 - 8 * i));
    buf[n++] = (uint8_t)(flags & ~NB__F_USED);
    buf[n++] = ev_len;
    const nb_source_t *s = src < idt->n_sources ? &idt->sources[src] : NULL;
    uint8_t agency = s ? (uint8_t)s->agency : 0xff;
    uint8_t out[32];
    unsigned int outl = 0;
    if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, buf, n) ||
        !EVP_DigestUpdate(md, idt->arena + ev_off, ev_len) ||
        !EVP_DigestUpdate(md, &agency, 1) ||
        (s && (!EVP_DigestUpdate(md, s->system, strlen(s->system) + 1) ||
               !EVP_DigestUpdate(md, s->organisation_code, strlen(s->organisation_code) + 1))) ||
        !EVP_DigestFinal_ex(md, out, &outl))
        return false;
    for (int l = 0; l < 4; l++) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | out[8 * l + i];
        acc[l] += v;
    }
    return true;
}

nb_err_t nb_identity_state_digest(const nb_identity_t *idt, uint8_t out[32])
{
    uint64_t acc[4] = {0, 0, 0, 0};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    nb_err_t err = NB_ERR_NOMEM;
    if (!md)
        return err;
    for (size_t i = 0; i < idt->local.cap; i++) {
        const nb__link_slot_t *s = nb__tab_at(&idt->local, i);
        if (s && !nb__digest_entry(md, idt, 'L', s->key, NB__DIGEST_LEN, s->nhs, 0, s->flags,
                                   s->ev_off, s->ev_len, s->src, acc))
            goto done;
    }
    for (size_t i = 0; i < idt->preg.cap; i++) {
        const nb__link_slot_t *s = nb__tab_at(&idt->preg, i);
        if (s && !nb__digest_entry(md, idt, 'P', s->key, NB__DIGEST_LEN, s->nhs, 0, s->flags,
                                   s->ev_off, s->ev_len, s->src, acc))
            goto done;
    }
    for (size_t i = 0; i < idt->sup.cap; i++) {
        const nb__sup_slot_t *s = nb__tab_at(&idt->sup, i);
        if (s && !nb__digest_entry(md, idt, 'S', &s->old_nhs, sizeof(s->old_nhs), s->old_nhs,
                                   s->new_nhs, s->flags, s->ev_off, s->ev_len, s->src, acc))
            goto done;
    }
    uint8_t fin[4 * 8 + 3 * 8];
    size_t n = 0;
    uint64_t counts[3] = {idt->local.count, idt->preg.count, idt->sup.count};
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < 8; i++)
            fin[n++] = (uint8_t)(acc[l] >> (56 - 8 * i));
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < 8; i++)
            fin[n++] = (uint8_t)(counts[l] >> (56 - 8 * i));
    unsigned int outl = 0;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, fin, n) &&
        EVP_DigestFinal_ex(md, out, &outl))
        err = NB_ERR_OK;
done:
    EVP_MD_CTX_free(md);
    return err;
}
