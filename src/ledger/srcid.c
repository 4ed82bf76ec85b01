/*
 * notbrought - ledger: the side store of source appointment ids.
 *
 * A nurse quotes the source system's own appointment id to the service that holds it; the
 * 32-byte appointment entry keeps only its hash. The ids live in one block per ledger beside
 * the entries (layout in ledger/internal.h), sorted by appointment hash, and only for the
 * appointments a rule can cite: an attended appointment is never the evidence of a missed
 * one, and attended is what most appointments become, so the block stays small (measured in
 * docs/benchmarks.md, "Source appointment ids"). Nothing on the evaluation path reads it:
 * nb_ledger_evidence() does, when a notification is built.
 */
#include <stdlib.h>
#include <string.h>

#include "ledger/internal.h"

typedef struct nb__srchdr_s {
    uint32_t used, cap;
} nb__srchdr_t;

static nb__srchdr_t nb__hdr(const uint8_t *b)
{
    nb__srchdr_t h;
    memcpy(&h, b, sizeof(h));
    return h;
}

static void nb__put_hdr(uint8_t *b, const nb__srchdr_t *h)
{
    memcpy(b, h, sizeof(*h));
}

static uint64_t nb__hash_at(const uint8_t *e)
{
    uint64_t h;
    memcpy(&h, e, 8);
    return h;
}

bool nb__srcid_wanted(unsigned status)
{
    return status != NB_STATUS_ATTENDED && status != NB_STATUS_ENTERED_IN_ERROR;
}

/* The entry of @p hash, or where it would go (*found false). */
static uint8_t *nb__find(const nb_ledger_t *led, uint64_t hash, bool *found)
{
    *found = false;
    if (!led->src)
        return NULL;
    nb__srchdr_t h = nb__hdr(led->src);
    uint8_t *e = led->src + NB__SRCID_HDR, *end = led->src + h.used;
    while (e < end) {
        uint64_t x = nb__hash_at(e);
        if (x >= hash) {
            *found = x == hash;
            return e;
        }
        e += 9 + e[8];
    }
    return e;
}

NB_NODISCARD static nb_err_t nb__grow(nb_ledger_t *led, size_t need)
{
    nb__srchdr_t h = {NB__SRCID_HDR, 0};
    if (led->src)
        h = nb__hdr(led->src);
    if (need <= h.cap)
        return NB_ERR_OK;
    size_t cap = need; /* exact: ids change seldom, and there is one block per child */
    uint8_t *b = realloc(led->src, cap);
    if (!b)
        return NB_ERR_NOMEM;
    h.cap = (uint32_t)cap;
    nb__put_hdr(b, &h);
    led->src = b;
    return NB_ERR_OK;
}

nb_err_t nb__srcid_set(nb_ledger_t *led, uint64_t appt_hash, const char *id, size_t len)
{
    if (len == 0 || len > NB_ID_MAX)
        return NB_ERR_OK; /* nothing quotable: the hash is shown instead */
    bool found;
    uint8_t *e = nb__find(led, appt_hash, &found);
    if (found && e[8] == len && memcmp(e + 9, id, len) == 0)
        return NB_ERR_OK;
    size_t used = led->src ? nb__hdr(led->src).used : NB__SRCID_HDR;
    size_t off = e ? (size_t)(e - led->src) : NB__SRCID_HDR;
    size_t old = found ? 9 + (size_t)e[8] : 0;
    size_t need = used - old + 9 + len;
    nb_err_t err = nb__grow(led, need);
    if (err)
        return err;
    nb__srchdr_t h = nb__hdr(led->src);
    e = led->src + off;
    memmove(e + 9 + len, e + old, used - off - old);
    memcpy(e, &appt_hash, 8);
    e[8] = (uint8_t)len;
    memcpy(e + 9, id, len);
    h.used = (uint32_t)need;
    nb__put_hdr(led->src, &h);
    return NB_ERR_OK;
}

void nb__srcid_remove(nb_ledger_t *led, uint64_t appt_hash)
{
    bool found;
    uint8_t *e = nb__find(led, appt_hash, &found);
    if (!found)
        return;
    nb__srchdr_t h = nb__hdr(led->src);
    size_t sz = 9 + (size_t)e[8];
    memmove(e, e + sz, (size_t)(led->src + h.used - (e + sz)));
    h.used -= (uint32_t)sz;
    nb__put_hdr(led->src, &h);
    if (h.used == NB__SRCID_HDR)
        nb__srcid_clear(led, true);
}

/* The status of the appointment with this hash, or -1 when the ledger has none. */
static int nb__status_of(const nb_ledger_t *led, uint64_t hash)
{
    for (size_t i = 0; i < led->n_appts; i++)
        if (led->appts[i].appt_hash == hash)
            return led->appts[i].status;
    return -1;
}

void nb__srcid_tidy(nb_ledger_t *led)
{
    if (!led->src)
        return;
    nb__srchdr_t h = nb__hdr(led->src);
    uint8_t *r = led->src + NB__SRCID_HDR, *w = r, *end = led->src + h.used;
    uint32_t n = 0;
    while (r < end) {
        size_t sz = 9 + (size_t)r[8];
        int st = nb__status_of(led, nb__hash_at(r));
        if (st >= 0 && nb__srcid_wanted((unsigned)st)) {
            memmove(w, r, sz);
            w += sz;
            n++;
        }
        r += sz;
    }
    h.used = (uint32_t)(w - led->src);
    nb__put_hdr(led->src, &h);
    if (n == 0) {
        nb__srcid_clear(led, true);
    } else if (h.used < h.cap) {
        uint8_t *b = realloc(led->src, h.used); /* pruning gives memory back */
        if (b) {
            led->src = b;
            h.cap = h.used;
            nb__put_hdr(b, &h);
        }
    }
}

nb_err_t nb__srcid_merge(nb_ledger_t *dst, const nb_ledger_t *src)
{
    if (!src->src)
        return NB_ERR_OK;
    nb__srchdr_t h = nb__hdr(src->src);
    const uint8_t *e = src->src + NB__SRCID_HDR, *end = src->src + h.used;
    /* An appointment's id is the same wherever it was read (its hash is of agency and id). */
    for (; e < end; e += 9 + e[8]) {
        uint64_t hash = nb__hash_at(e);
        int st = nb__status_of(dst, hash);
        if (st < 0 || !nb__srcid_wanted((unsigned)st))
            continue;
        nb_err_t err = nb__srcid_set(dst, hash, (const char *)e + 9, e[8]);
        if (err)
            return err;
    }
    return NB_ERR_OK;
}

size_t nb__srcid_count(const nb_ledger_t *led)
{
    if (!led->src)
        return 0;
    nb__srchdr_t h = nb__hdr(led->src);
    size_t n = 0;
    for (const uint8_t *e = led->src + NB__SRCID_HDR; e < led->src + h.used; e += 9 + e[8])
        n++;
    return n;
}

size_t nb__srcid_entry_bytes(const nb_ledger_t *led)
{
    return led->src ? nb__hdr(led->src).used - NB__SRCID_HDR : 0;
}

uint8_t *nb__srcid_write(const nb_ledger_t *led, uint8_t *w)
{
    if (!led->src)
        return w;
    nb__srchdr_t h = nb__hdr(led->src);
    const uint8_t *e = led->src + NB__SRCID_HDR, *end = led->src + h.used;
    while (e < end) {
        w = nb_le_put(w, nb__hash_at(e), 8);
        memcpy(w, e + 8, 1 + (size_t)e[8]);
        w += 1 + e[8];
        e += 9 + e[8];
    }
    return w;
}

nb_err_t nb__srcid_reserve(nb_ledger_t *led, size_t entry_bytes)
{
    nb__srcid_clear(led, false);
    if (entry_bytes == 0)
        return NB_ERR_OK;
    nb_err_t err = nb__grow(led, NB__SRCID_HDR + entry_bytes);
    if (!err) {
        nb__srchdr_t h = nb__hdr(led->src);
        h.used = NB__SRCID_HDR;
        nb__put_hdr(led->src, &h);
    }
    return err;
}

void nb__srcid_append(nb_ledger_t *led, uint64_t appt_hash, const char *id, size_t len)
{
    nb__srchdr_t h = nb__hdr(led->src);
    uint8_t *e = led->src + h.used;
    memcpy(e, &appt_hash, 8);
    e[8] = (uint8_t)len;
    memcpy(e + 9, id, len);
    h.used += (uint32_t)(9 + len);
    nb__put_hdr(led->src, &h);
}

size_t nb__srcid_memory(const nb_ledger_t *led)
{
    return led->src ? nb__hdr(led->src).cap : 0;
}

void nb__srcid_clear(nb_ledger_t *led, bool release)
{
    if (!led->src)
        return;
    if (release) {
        free(led->src);
        led->src = NULL;
        return;
    }
    nb__srchdr_t h = nb__hdr(led->src);
    h.used = NB__SRCID_HDR;
    nb__put_hdr(led->src, &h);
}

bool nb_ledger_source_id(const nb_ledger_t *led, const nb_ledger_appt_t *appt,
                         char out[NB_ID_MAX + 1])
{
    bool found;
    const uint8_t *e = nb__find(led, appt->appt_hash, &found);
    out[0] = '\0';
    if (!found)
        return false;
    memcpy(out, e + 9, e[8]);
    out[e[8]] = '\0';
    return true;
}
