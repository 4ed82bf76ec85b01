/*
 * notbrought - ledger: the changelog serialisation.
 *
 * Format version 2, all integers little-endian and fixed width:
 *
 *   "NBL" u8:version
 *   i32:date_of_birth i32:expected_delivery_date          (INT32_MIN when unknown)
 *   u16:n_strings   { u8:len bytes[len] }*                (the strings the entries use)
 *   u16:n_appts     { u64:appt_hash u64:event_hash i32:start_min i32:recorded_min
 *                     u16:type u16:org u16:version u8:status u8:agency u8:mode u8:flags }*
 *   u16:n_facts     { u64:fact_hash i32:start_date i32:end_date i32:recorded_min
 *                     u16:source u16:version u8:kind u8:status }*
 *   u16:n_raised    { u8[16]:id u64:rule_hash u64:fingerprint i64:raised_at
 *                     i32:evidence_max_min u8:tier u8:level }*
 *   u16:n_ids       { u64:appt_hash u8:len bytes[len] }*  (version 2: source appointment ids,
 *                                                          sorted by appt_hash, 1 <= len <= 64)
 *
 * Version 1 is the same without n_ids and its entries; it is still read (no ids).
 * String indices are local to the record (dictionary indices differ between processes).
 * Decoding trusts nothing: every count, length, enum, index and ordering is checked.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/internal.h"

/* ---- writing ----------------------------------------------------------------------------- */

/* Fixed-width entry sizes of the format above. */
#define NB__APPT_BYTES 34
#define NB__FACT_BYTES 26
#define NB__RAISED_BYTES (NB_LEDGER_ID_BYTES + 30)

/* Maps dictionary indices to record-local indices while encoding. */
typedef struct nb__strmap_s {
    uint16_t *dict_idx;
    size_t n;
} nb__strmap_t;

static uint16_t nb__local(nb__strmap_t *m, uint16_t idx)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->dict_idx[i] == idx)
            return (uint16_t)i;
    m->dict_idx[m->n] = idx;
    return (uint16_t)m->n++;
}

/* Up to this many string references the encoder's index arrays live on the stack. */
#define NB__STACK_REFS 128

nb_err_t nb_ledger_encode(const nb_ledger_t *led, nb_buf_t *out)
{
    size_t n_refs = (size_t)led->n_appts * 2 + led->n_facts + 1;
    uint16_t stack_map[NB__STACK_REFS], stack_loc[NB__STACK_REFS];
    uint16_t *map_idx = stack_map, *loc = stack_loc;
    if (n_refs > NB__STACK_REFS) {
        map_idx = malloc(n_refs * sizeof(uint16_t));
        loc = malloc(n_refs * sizeof(uint16_t));
        if (!map_idx || !loc) {
            free(map_idx);
            free(loc);
            return NB_ERR_NOMEM;
        }
    }
    nb__strmap_t map = {map_idx, 0}, *m = &map;
    size_t k = 0;
    for (size_t i = 0; i < led->n_appts; i++) {
        loc[k++] = nb__local(m, led->appts[i].type);
        loc[k++] = nb__local(m, led->appts[i].org);
    }
    for (size_t i = 0; i < led->n_facts; i++)
        loc[k++] = nb__local(m, led->facts[i].source);

    /* The exact size first, then one reservation and plain stores. */
    size_t size = 4 + 8 + 2 + 2 + (size_t)led->n_appts * NB__APPT_BYTES + 2 +
                  (size_t)led->n_facts * NB__FACT_BYTES + 2 +
                  (size_t)led->n_raised * NB__RAISED_BYTES + 2 + nb__srcid_entry_bytes(led);
    /* The ledger's indices are the dictionary's own, so its entries are read directly. */
    const nb__dict_entry_t *ents = led->dict->entries;
    for (size_t i = 0; i < m->n; i++)
        size += 1 + (size_t)ents[m->dict_idx[i]].len;
    nb_err_t err = nb_buf_reserve(out, size);
    if (err)
        goto done;
    uint8_t *start = out->data + out->len, *w = start;
    memcpy(w, "NBL", 3);
    w = nb_le_put(w + 3, NB_LEDGER_FORMAT_VERSION, 1);
    w = nb_le_put(w, (uint32_t)led->dob, 4);
    w = nb_le_put(w, (uint32_t)led->edd, 4);
    w = nb_le_put(w, m->n, 2);
    for (size_t i = 0; i < m->n; i++) {
        const nb__dict_entry_t *e = &ents[m->dict_idx[i]];
        *w++ = e->len;
        memcpy(w, e->str, e->len);
        w += e->len;
    }
    k = 0;
    w = nb_le_put(w, led->n_appts, 2);
    for (size_t i = 0; i < led->n_appts; i++) {
        const nb_ledger_appt_t *a = &led->appts[i];
        w = nb_le_put(w, a->appt_hash, 8);
        w = nb_le_put(w, a->event_hash, 8);
        w = nb_le_put(w, (uint32_t)a->start_min, 4);
        w = nb_le_put(w, (uint32_t)a->recorded_min, 4);
        w = nb_le_put(w, loc[k++], 2);
        w = nb_le_put(w, loc[k++], 2);
        w = nb_le_put(w, a->version, 2);
        *w++ = a->status;
        *w++ = a->agency;
        *w++ = a->mode;
        *w++ = a->flags;
    }
    w = nb_le_put(w, led->n_facts, 2);
    for (size_t i = 0; i < led->n_facts; i++) {
        const nb_ledger_fact_t *f = &led->facts[i];
        w = nb_le_put(w, f->fact_hash, 8);
        w = nb_le_put(w, (uint32_t)f->start_date, 4);
        w = nb_le_put(w, (uint32_t)f->end_date, 4);
        w = nb_le_put(w, (uint32_t)f->recorded_min, 4);
        w = nb_le_put(w, loc[k++], 2);
        w = nb_le_put(w, f->version, 2);
        *w++ = f->kind;
        *w++ = f->status;
    }
    w = nb_le_put(w, led->n_raised, 2);
    for (size_t i = 0; i < led->n_raised; i++) {
        const nb_ledger_raised_t *r = &led->raised[i];
        memcpy(w, r->id, NB_LEDGER_ID_BYTES);
        w += NB_LEDGER_ID_BYTES;
        w = nb_le_put(w, r->rule_hash, 8);
        w = nb_le_put(w, r->fingerprint, 8);
        w = nb_le_put(w, (uint64_t)r->raised_at, 8);
        w = nb_le_put(w, (uint32_t)r->evidence_max_min, 4);
        *w++ = r->tier;
        *w++ = r->level;
    }
    w = nb_le_put(w, nb__srcid_count(led), 2);
    w = nb__srcid_write(led, w);
    assert((size_t)(w - start) == size);
    out->len += (size_t)(w - start);
done:
    if (map_idx != stack_map) {
        free(map_idx);
        free(loc);
    }
    return err;
}

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct nb__r_s {
    const uint8_t *p;
    size_t len, off;
    bool bad;
    const char *what; /* the first thing that did not fit */
} nb__r_t;

static uint64_t nb__get_u(nb__r_t *r, size_t n, const char *what)
{
    if (r->bad || r->len - r->off < n) {
        if (!r->bad)
            r->what = what;
        r->bad = true;
        return 0;
    }
    uint64_t v = nb_le_get(r->p + r->off, n);
    r->off += n;
    return v;
}

static int nb__cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* True when the sorted copy of hashes has a repeat. */
static bool nb__has_dup(uint64_t *h, size_t n)
{
    qsort(h, n, sizeof(*h), nb__cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (h[i] == h[i - 1])
            return true;
    return false;
}

#define NB__CORRUPT(...)                                                                           \
    do {                                                                                           \
        snprintf(errstr, errstr_size, __VA_ARGS__);                                                \
        err = NB_ERR_LEDGER_CORRUPT;                                                               \
        goto fail;                                                                                 \
    } while (0)

/* Makes room for exactly n elements (decoding knows the count). */
NB_NODISCARD static nb_err_t nb__room(void **arr, uint16_t *cap, size_t n, size_t elem)
{
    if (n <= *cap)
        return NB_ERR_OK;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return NB_ERR_NOMEM;
    *arr = p;
    *cap = (uint16_t)n;
    return NB_ERR_OK;
}

/* Up to this many strings and appointments the decoder's scratch arrays live on the stack. */
#define NB__STACK_ITEMS 64

/* Version 2's source ids: each names an appointment of the ledger (@p hashes, sorted, holds
 * theirs), in increasing hash order, with 1 to NB_ID_MAX bytes of identifier text. */
NB_NODISCARD static nb_err_t nb__decode_srcids(nb_ledger_t *led, nb__r_t *r, const uint64_t *hashes,
                                               char *errstr, size_t errstr_size)
{
    size_t n = (size_t)nb__get_u(r, 2, "id count");
    if (r->bad) {
        snprintf(errstr, errstr_size, "truncated at %s", r->what);
        return NB_ERR_LEDGER_CORRUPT;
    }
    if (n > led->n_appts || n * 10 > r->len - r->off) {
        snprintf(errstr, errstr_size, "source id count %zu exceeds the record", n);
        return NB_ERR_LEDGER_CORRUPT;
    }
    /* A first pass checks and sizes, the second copies. */
    size_t start = r->off, bytes = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = nb__get_u(r, 8, "source id");
        size_t sl = (size_t)nb__get_u(r, 1, "source id");
        if (r->bad || r->len - r->off < sl) {
            snprintf(errstr, errstr_size, "truncated in source id %zu", i);
            return NB_ERR_LEDGER_CORRUPT;
        }
        const char *s = (const char *)r->p + r->off;
        r->off += sl;
        bytes += 9 + sl;
        if (sl == 0 || sl > NB_ID_MAX || memchr(s, '\0', sl) ||
            nb_text_check(s, sl, NB_TEXT_ID) != NB_TEXT_OK) {
            snprintf(errstr, errstr_size, "source id %zu: not an identifier", i);
            return NB_ERR_LEDGER_CORRUPT;
        }
        if (i > 0 && h <= prev) {
            snprintf(errstr, errstr_size, "source id %zu: out of order", i);
            return NB_ERR_LEDGER_CORRUPT;
        }
        prev = h;
        size_t lo = 0, hi = led->n_appts;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (hashes[mid] < h)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == led->n_appts || hashes[lo] != h) {
            snprintf(errstr, errstr_size, "source id %zu: no such appointment", i);
            return NB_ERR_LEDGER_CORRUPT;
        }
    }
    nb_err_t err = nb__srcid_reserve(led, bytes);
    if (err)
        return err;
    for (size_t i = 0, off = start; i < n; i++) {
        uint64_t h = nb_le_get(r->p + off, 8);
        size_t sl = r->p[off + 8];
        nb__srcid_append(led, h, (const char *)r->p + off + 9, sl);
        off += 9 + sl;
    }
    return NB_ERR_OK;
}

/* The fixed header: magic, format version (returned in @p version), date of birth and
 * expected delivery date. A short read is reported by the next count that is checked. */
NB_NODISCARD static nb_err_t nb__decode_header(nb_ledger_t *led, nb__r_t *r, unsigned *version,
                                               char *errstr, size_t errstr_size)
{
    nb_err_t err = NB_ERR_OK;
    if (r->len < 4 || memcmp(r->p, "NBL", 3) != 0)
        NB__CORRUPT("not a ledger record (magic)");
    r->off = 3;
    *version = (unsigned)nb__get_u(r, 1, "version");
    if (*version != 1 && *version != NB_LEDGER_FORMAT_VERSION)
        NB__CORRUPT("unsupported ledger format version %u", *version);
    led->dob = (int32_t)(uint32_t)nb__get_u(r, 4, "date of birth");
    led->edd = (int32_t)(uint32_t)nb__get_u(r, 4, "expected delivery date");
    return NB_ERR_OK;
fail:
    return err;
}

/* The record's strings, interned into @p dict; (*strs)[i] receives the dictionary index of
 * string i. *strs starts as the caller's stack array and is replaced by a heap one (which
 * the caller frees) when there are more than NB__STACK_ITEMS strings. */
NB_NODISCARD static nb_err_t nb__decode_strings(nb_ledger_dict_t *dict, nb__r_t *r, uint16_t **strs,
                                                size_t *n_strs, char *errstr, size_t errstr_size)
{
    nb_err_t err = NB_ERR_OK;
    size_t n = (size_t)nb__get_u(r, 2, "string count");
    if (r->bad)
        NB__CORRUPT("truncated at %s", r->what);
    if (n > 3 * NB_LEDGER_MAX_APPTS + NB_LEDGER_MAX_FACTS || n > r->len)
        NB__CORRUPT("string count %zu exceeds the limit", n);
    if (n > NB__STACK_ITEMS) {
        uint16_t *heap = malloc((n + 1) * sizeof(*heap));
        if (!heap)
            return NB_ERR_NOMEM;
        *strs = heap;
    }
    *n_strs = n;
    for (size_t i = 0; i < n; i++) {
        char s[256];
        size_t sl = (size_t)nb__get_u(r, 1, "string length");
        if (r->bad || r->len - r->off < sl)
            NB__CORRUPT("truncated in string %zu", i);
        memcpy(s, r->p + r->off, sl);
        s[sl] = '\0';
        r->off += sl;
        if (strlen(s) != sl)
            NB__CORRUPT("string %zu contains a NUL byte", i);
        if ((err = nb_ledger_dict_intern(dict, s, &(*strs)[i])))
            return err;
    }
    return NB_ERR_OK;
fail:
    return err;
}

/* The appointments, checked against the string table and for order; (*hashes)[i] receives
 * appointment i's hash, and the hashes are left sorted for the source ids. *hashes starts
 * as the caller's stack array and is replaced by a heap one (which the caller frees) when
 * there are more than NB__STACK_ITEMS appointments. */
NB_NODISCARD static nb_err_t nb__decode_appts(nb_ledger_t *led, nb__r_t *r, const uint16_t *strs,
                                              size_t n_strs, uint64_t **hashes, char *errstr,
                                              size_t errstr_size)
{
    nb_err_t err = NB_ERR_OK;
    size_t n = (size_t)nb__get_u(r, 2, "appointment count");
    if (r->bad)
        NB__CORRUPT("truncated at %s", r->what);
    if (n > NB_LEDGER_MAX_APPTS || n * NB__APPT_BYTES > r->len - r->off)
        NB__CORRUPT("appointment count %zu exceeds the record", n);
    if ((err = nb__room((void **)&led->appts, &led->cap_appts, n, sizeof(*led->appts))))
        return err;
    if (n > NB__STACK_ITEMS) {
        uint64_t *heap = malloc(n * sizeof(*heap));
        if (!heap)
            return NB_ERR_NOMEM;
        *hashes = heap;
    }
    for (size_t i = 0; i < n; i++) {
        nb_ledger_appt_t a;
        memset(&a, 0, sizeof(a));
        a.appt_hash = nb__get_u(r, 8, "appointment");
        a.event_hash = nb__get_u(r, 8, "appointment");
        a.start_min = (int32_t)(uint32_t)nb__get_u(r, 4, "appointment");
        a.recorded_min = (int32_t)(uint32_t)nb__get_u(r, 4, "appointment");
        size_t type = (size_t)nb__get_u(r, 2, "appointment");
        size_t org = (size_t)nb__get_u(r, 2, "appointment");
        a.version = (uint16_t)nb__get_u(r, 2, "appointment");
        unsigned status = (unsigned)nb__get_u(r, 1, "appointment");
        unsigned agency = (unsigned)nb__get_u(r, 1, "appointment");
        unsigned mode = (unsigned)nb__get_u(r, 1, "appointment");
        unsigned flags = (unsigned)nb__get_u(r, 1, "appointment");
        if (r->bad)
            NB__CORRUPT("truncated in appointment %zu", i);
        if (type >= n_strs || org >= n_strs)
            NB__CORRUPT("appointment %zu: string index out of range", i);
        if (status >= NB_STATUS__COUNT || agency >= NB_AGENCY__COUNT ||
            mode >= NB_CONTACT__COUNT || flags > 3)
            NB__CORRUPT("appointment %zu: enum value out of range", i);
        a.type = strs[type];
        a.org = strs[org];
        a.status = (uint8_t)status;
        a.agency = (uint8_t)agency & 7;
        a.mode = (uint8_t)mode & 7;
        a.flags = (uint8_t)flags & 3;
        if (i > 0) {
            const nb_ledger_appt_t *p = &led->appts[i - 1];
            if (p->start_min > a.start_min ||
                (p->start_min == a.start_min && p->appt_hash >= a.appt_hash))
                NB__CORRUPT("appointment %zu: out of order", i);
        }
        led->appts[i] = a;
        led->n_appts = (uint16_t)(i + 1);
        (*hashes)[i] = a.appt_hash;
    }
    if (n && nb__has_dup(*hashes, n))
        NB__CORRUPT("the same appointment appears twice");
    return NB_ERR_OK;
fail:
    return err;
}

/* The facts, checked against the string table, for a start date and for repeats. */
NB_NODISCARD static nb_err_t nb__decode_facts(nb_ledger_t *led, nb__r_t *r, const uint16_t *strs,
                                              size_t n_strs, char *errstr, size_t errstr_size)
{
    nb_err_t err = NB_ERR_OK;
    size_t n = (size_t)nb__get_u(r, 2, "fact count");
    if (r->bad)
        NB__CORRUPT("truncated at %s", r->what);
    if (n > NB_LEDGER_MAX_FACTS || n * NB__FACT_BYTES > r->len - r->off)
        NB__CORRUPT("fact count %zu exceeds the record", n);
    if ((err = nb__room((void **)&led->facts, &led->cap_facts, n, sizeof(*led->facts))))
        return err;
    for (size_t i = 0; i < n; i++) {
        nb_ledger_fact_t f;
        memset(&f, 0, sizeof(f));
        f.fact_hash = nb__get_u(r, 8, "fact");
        f.start_date = (int32_t)(uint32_t)nb__get_u(r, 4, "fact");
        f.end_date = (int32_t)(uint32_t)nb__get_u(r, 4, "fact");
        f.recorded_min = (int32_t)(uint32_t)nb__get_u(r, 4, "fact");
        size_t src = (size_t)nb__get_u(r, 2, "fact");
        f.version = (uint16_t)nb__get_u(r, 2, "fact");
        unsigned kind = (unsigned)nb__get_u(r, 1, "fact");
        unsigned status = (unsigned)nb__get_u(r, 1, "fact");
        if (r->bad)
            NB__CORRUPT("truncated in fact %zu", i);
        if (src >= n_strs)
            NB__CORRUPT("fact %zu: string index out of range", i);
        if (kind >= NB_FACT__COUNT || status >= NB_FACT_STATUS__COUNT)
            NB__CORRUPT("fact %zu: enum value out of range", i);
        if (f.start_date == NB_DATE_NONE)
            NB__CORRUPT("fact %zu: no start date", i);
        for (size_t j = 0; j < i; j++)
            if (led->facts[j].fact_hash == f.fact_hash)
                NB__CORRUPT("fact %zu appears twice", i);
        f.source = strs[src];
        f.kind = (uint8_t)kind;
        f.status = (uint8_t)status;
        led->facts[i] = f;
        led->n_facts = (uint16_t)(i + 1);
    }
    return NB_ERR_OK;
fail:
    return err;
}

/* The raised notifications, checked for tier, order and repeated ids. */
NB_NODISCARD static nb_err_t nb__decode_raised(nb_ledger_t *led, nb__r_t *r, char *errstr,
                                               size_t errstr_size)
{
    nb_err_t err = NB_ERR_OK;
    size_t n = (size_t)nb__get_u(r, 2, "raised count");
    if (r->bad)
        NB__CORRUPT("truncated at %s", r->what);
    if (n > NB_LEDGER_MAX_RAISED || n * NB__RAISED_BYTES > r->len - r->off)
        NB__CORRUPT("raised count %zu exceeds the record", n);
    if ((err = nb__room((void **)&led->raised, &led->cap_raised, n, sizeof(*led->raised))))
        return err;
    for (size_t i = 0; i < n; i++) {
        nb_ledger_raised_t x;
        memset(&x, 0, sizeof(x));
        if (r->len - r->off < NB_LEDGER_ID_BYTES)
            NB__CORRUPT("truncated in raised notification %zu", i);
        memcpy(x.id, r->p + r->off, NB_LEDGER_ID_BYTES);
        r->off += NB_LEDGER_ID_BYTES;
        x.rule_hash = nb__get_u(r, 8, "raised");
        x.fingerprint = nb__get_u(r, 8, "raised");
        x.raised_at = (int64_t)nb__get_u(r, 8, "raised");
        x.evidence_max_min = (int32_t)(uint32_t)nb__get_u(r, 4, "raised");
        unsigned tier = (unsigned)nb__get_u(r, 1, "raised");
        x.level = (uint8_t)nb__get_u(r, 1, "raised");
        if (r->bad)
            NB__CORRUPT("truncated in raised notification %zu", i);
        if (tier >= NB_TIER__COUNT)
            NB__CORRUPT("raised notification %zu: tier out of range", i);
        x.tier = (uint8_t)tier;
        if (i > 0 && led->raised[i - 1].raised_at > x.raised_at)
            NB__CORRUPT("raised notification %zu: out of order", i);
        for (size_t j = 0; j < i; j++)
            if (memcmp(led->raised[j].id, x.id, NB_LEDGER_ID_BYTES) == 0)
                NB__CORRUPT("raised notification %zu appears twice", i);
        led->raised[i] = x;
        led->n_raised = (uint16_t)(i + 1);
    }
    return NB_ERR_OK;
fail:
    return err;
}

nb_err_t nb_ledger_decode_into(nb_ledger_t *led, const void *buf, size_t len, char *errstr,
                               size_t errstr_size)
{
    nb__r_t r = {buf, len, 0, false, NULL};
    nb_err_t err = NB_ERR_OK;
    uint16_t stack_strs[NB__STACK_ITEMS + 1], *strs = stack_strs;
    uint64_t stack_hashes[NB__STACK_ITEMS], *hashes = stack_hashes;
    size_t n_strs = 0;
    unsigned version = 0;
    nb_ledger_clear(led);
    if (errstr_size)
        errstr[0] = '\0';

    if ((err = nb__decode_header(led, &r, &version, errstr, errstr_size)) ||
        (err = nb__decode_strings(led->dict, &r, &strs, &n_strs, errstr, errstr_size)) ||
        (err = nb__decode_appts(led, &r, strs, n_strs, &hashes, errstr, errstr_size)) ||
        (err = nb__decode_facts(led, &r, strs, n_strs, errstr, errstr_size)) ||
        (err = nb__decode_raised(led, &r, errstr, errstr_size)))
        goto fail;
    if (version >= 2 && (err = nb__decode_srcids(led, &r, hashes, errstr, errstr_size)))
        goto fail;
    if (r.off != r.len)
        NB__CORRUPT("%zu trailing bytes", r.len - r.off);
    if (strs != stack_strs)
        free(strs);
    if (hashes != stack_hashes)
        free(hashes);
    return NB_ERR_OK;
fail:
    if (err != NB_ERR_LEDGER_CORRUPT && errstr_size && !errstr[0])
        snprintf(errstr, errstr_size, "%s", nb_err_str(err));
    if (strs != stack_strs)
        free(strs);
    if (hashes != stack_hashes)
        free(hashes);
    nb_ledger_clear(led);
    return err;
}

nb_err_t nb_ledger_decode(nb_ledger_dict_t *dict, const void *buf, size_t len, nb_ledger_t **out,
                          char *errstr, size_t errstr_size)
{
    *out = NULL;
    nb_ledger_t *led = nb_ledger_new(dict);
    if (!led) {
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s", nb_err_str(NB_ERR_NOMEM));
        return NB_ERR_NOMEM;
    }
    nb_err_t err = nb_ledger_decode_into(led, buf, len, errstr, errstr_size);
    if (err) {
        nb_ledger_destroy(led);
        return err;
    }
    *out = led;
    return NB_ERR_OK;
}
