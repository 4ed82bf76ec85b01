/*
 * notbrought - ledger: one child's history, and the dictionary of shared strings.
 */
#include "notbrought/ledger.h"

#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/internal.h"

_Static_assert(sizeof(nb_ledger_appt_t) == 32, "appointment entries are 32 bytes");
_Static_assert(sizeof(nb_ledger_raised_t) == 48, "raised entries are 48 bytes");

/* ---- ids --------------------------------------------------------------------------------- */

/* Nettle's SHA-256 on the stack: OpenSSL's one-shot EVP_Digest() allocated and freed a context
 * per id, which cost more than the hashing (one or two ids per event). */
uint64_t nb_ledger_id_hash(const void *data, size_t len)
{
    struct sha256_ctx c;
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, len, data);
    sha256_digest(&c, sizeof(md), md);
    return nb_le_get(md, 8); /* the digest's first 8 bytes, little-endian */
}

void nb_ledger_id_format(const uint8_t id[NB_LEDGER_ID_BYTES], char *buf)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < NB_LEDGER_ID_BYTES; i++) {
        buf[2 * i] = hex[id[i] >> 4];
        buf[2 * i + 1] = hex[id[i] & 15];
    }
    buf[NB_LEDGER_ID_HEX] = '\0';
}

static int nb__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool nb_ledger_id_parse(const char *hex, uint8_t id[NB_LEDGER_ID_BYTES])
{
    if (strlen(hex) != NB_LEDGER_ID_HEX)
        return false;
    for (int i = 0; i < NB_LEDGER_ID_BYTES; i++) {
        int hi = nb__hexval(hex[2 * i]), lo = nb__hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

int32_t nb_ledger_minutes(int64_t ms)
{
    int64_t m = ms / 60000;
    if (ms % 60000 < 0)
        m--;
    if (m > INT32_MAX)
        return INT32_MAX;
    if (m < INT32_MIN + 1)
        return INT32_MIN + 1;
    return (int32_t)m;
}

/* ---- dictionary -------------------------------------------------------------------------- */

nb_ledger_dict_t *nb_ledger_dict_new(void)
{
    nb_ledger_dict_t *dict = calloc(1, sizeof(*dict));
    uint16_t idx;
    if (!dict)
        return NULL;
    dict->index = g_hash_table_new(g_str_hash, g_str_equal);
    if (nb_ledger_dict_intern(dict, "", &idx)) {
        nb_ledger_dict_destroy(dict);
        return NULL;
    }
    return dict;
}

void nb_ledger_dict_destroy(nb_ledger_dict_t *dict)
{
    if (!dict)
        return;
    g_hash_table_destroy(dict->index);
    for (size_t i = 0; i < dict->n; i++)
        free(dict->entries[i].str);
    free(dict->entries);
    free(dict);
}

nb_err_t nb_ledger_dict_intern(nb_ledger_dict_t *dict, const char *s, uint16_t *idx)
{
    /* A hash lookup: every event interns its strings and every decoded state its own. */
    uintptr_t at = (uintptr_t)g_hash_table_lookup(dict->index, s);
    if (at) {
        *idx = (uint16_t)(at - 1);
        return NB_ERR_OK;
    }
    size_t len = strlen(s);
    if (dict->n >= NB_LEDGER_DICT_MAX || len > 255)
        return NB_ERR_LIMIT;
    if (dict->n == dict->cap) {
        size_t cap = dict->cap ? dict->cap * 2 : 64;
        nb__dict_entry_t *e = realloc(dict->entries, cap * sizeof(*e));
        if (!e)
            return NB_ERR_NOMEM;
        dict->entries = e;
        dict->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NB_ERR_NOMEM;
    memcpy(copy, s, len + 1);
    dict->entries[dict->n].str = copy;
    dict->entries[dict->n].hash = nb_ledger_id_hash(s, len);
    dict->entries[dict->n].len = (uint8_t)len;
    dict->bytes += len + 1;
    g_hash_table_insert(dict->index, copy, (gpointer)(uintptr_t)(dict->n + 1));
    *idx = (uint16_t)dict->n;
    dict->n++;
    return NB_ERR_OK;
}

const char *nb_ledger_dict_str(const nb_ledger_dict_t *dict, uint16_t idx)
{
    return idx < dict->n ? dict->entries[idx].str : "";
}

uint64_t nb_ledger_dict_hash(const nb_ledger_dict_t *dict, uint16_t idx)
{
    return idx < dict->n ? dict->entries[idx].hash : dict->entries[0].hash;
}

size_t nb_ledger_dict_size(const nb_ledger_dict_t *dict)
{
    return dict->n;
}

size_t nb_ledger_dict_memory(const nb_ledger_dict_t *dict)
{
    /* The index: GLib's table keeps a key, a value and a hash a slot, with at most twice as
     * many slots as entries (an estimate: GLib does not report its own memory). */
    return sizeof(*dict) + dict->cap * sizeof(nb__dict_entry_t) +
           dict->n * 2 * (2 * sizeof(void *) + sizeof(guint)) + dict->bytes;
}

/* ---- ledger ------------------------------------------------------------------------------ */

nb_ledger_t *nb_ledger_new(nb_ledger_dict_t *dict)
{
    nb_ledger_t *led = calloc(1, sizeof(*led));
    if (!led)
        return NULL;
    led->dict = dict;
    led->dob = NB_DATE_NONE;
    led->edd = NB_DATE_NONE;
    return led;
}

void nb_ledger_clear(nb_ledger_t *led)
{
    led->n_appts = led->n_facts = led->n_raised = 0;
    nb__srcid_clear(led, false);
    led->last_limit = NB__LIMIT_NONE;
    led->dob = NB_DATE_NONE;
    led->edd = NB_DATE_NONE;
}

void nb_ledger_destroy(nb_ledger_t *led)
{
    if (!led)
        return;
    free(led->appts);
    free(led->facts);
    free(led->raised);
    free(led->src);
    free(led);
}

nb_ledger_dict_t *nb_ledger_dict(const nb_ledger_t *led)
{
    return led->dict;
}

/* Grows an array by small steps: most children have a handful of entries, so exact-ish
 * capacities keep the memory per child low. */
nb_err_t nb__ledger_reserve(void **arr, uint16_t *cap, uint16_t n, size_t elem, size_t max)
{
    if (n < *cap)
        return NB_ERR_OK;
    if (n >= max)
        return NB_ERR_LIMIT;
    size_t ncap = (size_t)*cap + (*cap < 8 ? 2 : *cap / 2);
    if (ncap > max)
        ncap = max;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return NB_ERR_NOMEM;
    *arr = p;
    *cap = (uint16_t)ncap;
    return NB_ERR_OK;
}

/* Remembers which limit an NB_ERR_LIMIT was (nb_ledger_limit_str()). @returns err. */
NB_NODISCARD static nb_err_t nb__limit(nb_ledger_t *led, nb__limit_t which, nb_err_t err)
{
    if (err == NB_ERR_LIMIT)
        led->last_limit = (uint8_t)which;
    return err;
}

/* Gives back memory after pruning when more than two slots are spare. */
static void nb__ledger_shrink(void **arr, uint16_t *cap, uint16_t n, size_t elem)
{
    if (*cap - n <= 2)
        return;
    if (n == 0) {
        free(*arr);
        *arr = NULL;
        *cap = 0;
        return;
    }
    void *p = realloc(*arr, n * elem);
    if (p) {
        *arr = p;
        *cap = n;
    }
}

static int nb__appt_cmp(const nb_ledger_appt_t *a, int32_t start, uint64_t hash)
{
    if (a->start_min != start)
        return a->start_min < start ? -1 : 1;
    if (a->appt_hash != hash)
        return a->appt_hash < hash ? -1 : 1;
    return 0;
}

/* Inserts at the sorted position. The caller has reserved room. */
static void nb__appt_insert(nb_ledger_t *led, const nb_ledger_appt_t *a)
{
    size_t pos = led->n_appts;
    while (pos > 0 && nb__appt_cmp(&led->appts[pos - 1], a->start_min, a->appt_hash) > 0)
        pos--;
    memmove(led->appts + pos + 1, led->appts + pos, (led->n_appts - pos) * sizeof(*a));
    led->appts[pos] = *a;
    led->n_appts++;
}

static void nb__appt_remove_at(nb_ledger_t *led, size_t i)
{
    memmove(led->appts + i, led->appts + i + 1, (led->n_appts - i - 1) * sizeof(*led->appts));
    led->n_appts--;
}

static bool nb__newer(uint16_t v_new, int32_t rec_new, uint16_t v_old, int32_t rec_old)
{
    if (v_new != v_old)
        return v_new > v_old;
    return rec_new > rec_old;
}

/* Where a status stands in an appointment's life: booked (or moved) before its outcome, and
 * "entered in error" after anything. */
static int nb__lifecycle_rank(uint8_t status)
{
    switch (status) {
    case NB_STATUS_BOOKED:
        return 0;
    case NB_STATUS_RESCHEDULED:
        return 1;
    case NB_STATUS_ENTERED_IN_ERROR:
        return 3;
    default:
        return 2; /* an outcome: attended, not brought, no access, cancelled */
    }
}

/* As nb__newer(), for appointments, with two last tie-breaks for different events about one
 * appointment with the same version and recording minute (HL7 v2 feeds give every message
 * version 1 and its message time, docs/integration.md): first the later step of the
 * appointment's life (a booking and its no-show in one minute keep the no-show), then the
 * event id's hash (two outcomes in one minute), so that every replica and every replay keeps
 * the same event whichever arrives first. The same event again (a resend, a redelivery) has
 * the same hash and changes nothing. */
static bool nb__appt_newer(const nb_ledger_appt_t *n, const nb_ledger_appt_t *o)
{
    if (n->version != o->version || n->recorded_min != o->recorded_min)
        return nb__newer(n->version, n->recorded_min, o->version, o->recorded_min);
    int rn = nb__lifecycle_rank(n->status), ro = nb__lifecycle_rank(o->status);
    if (rn != ro)
        return rn > ro;
    return n->event_hash > o->event_hash;
}

uint64_t nb__ledger_appt_key(nb_agency_t agency, const char *appointment_id)
{
    char buf[NB_ID_MAX + 32];
    int n = snprintf(buf, sizeof(buf), "%s/%s", nb_agency_name(agency), appointment_id);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = (int)sizeof(buf) - 1;
    return nb_ledger_id_hash(buf, (size_t)n);
}

void nb_ledger_keys_of(const nb_appointment_event_t *ev, nb_ledger_keys_t *keys)
{
    keys->appt_hash = nb__ledger_appt_key(ev->source.agency, ev->appointment_id);
    keys->event_hash = nb_ledger_id_hash(ev->event_id, strlen(ev->event_id));
}

nb_err_t nb_ledger_apply(nb_ledger_t *led, const nb_appointment_event_t *ev,
                         nb_ledger_change_t *change)
{
    nb_ledger_keys_t keys;
    nb_ledger_keys_of(ev, &keys);
    return nb_ledger_apply_keyed(led, ev, &keys, change);
}

nb_err_t nb_ledger_apply_keyed(nb_ledger_t *led, const nb_appointment_event_t *ev,
                               const nb_ledger_keys_t *keys, nb_ledger_change_t *change)
{
    nb_ledger_change_t dummy;
    nb_err_t err;
    if (!change)
        change = &dummy;
    *change = NB_LEDGER_UNCHANGED;
    if (ev->version < 0 || ev->version > 65535 || (unsigned)ev->status >= NB_STATUS__COUNT ||
        (unsigned)ev->source.agency >= NB_AGENCY__COUNT ||
        (unsigned)ev->contact_mode >= NB_CONTACT__COUNT ||
        (unsigned)ev->subject_kind >= NB_SUBJECT__COUNT)
        return NB_ERR_INVALID_ARG;

    nb_ledger_appt_t a;
    memset(&a, 0, sizeof(a));
    a.appt_hash = keys->appt_hash;
    a.event_hash = keys->event_hash;
    a.start_min = nb_ledger_minutes(ev->scheduled_start);
    a.recorded_min = nb_ledger_minutes(ev->recorded_at);
    a.version = (uint16_t)ev->version;
    a.status = (uint8_t)ev->status;
    a.agency = (uint8_t)ev->source.agency & 7;
    a.mode = (uint8_t)ev->contact_mode & 7;
    a.flags = (uint8_t)((ev->mandated_contact ? NB_LEDGER_MANDATED : 0) |
                        (ev->subject_kind == NB_SUBJECT_UNBORN ? NB_LEDGER_UNBORN : 0));

    size_t i;
    for (i = 0; i < led->n_appts; i++)
        if (led->appts[i].appt_hash == a.appt_hash)
            break;
    if (i < led->n_appts && !nb__appt_newer(&a, &led->appts[i]))
        return NB_ERR_OK; /* an older or the same version: the one held wins */

    /* Intern only once we know the event changes something, so stale events cost nothing. */
    if ((err = nb_ledger_dict_intern(led->dict, ev->appointment_type, &a.type)) ||
        (err = nb_ledger_dict_intern(led->dict, ev->source.organisation_code, &a.org)))
        return nb__limit(led, NB__LIMIT_DICT, err);
    if (i == led->n_appts) {
        if ((err = nb__ledger_reserve((void **)&led->appts, &led->cap_appts, led->n_appts,
                                      sizeof(*led->appts), NB_LEDGER_MAX_APPTS)))
            return nb__limit(led, NB__LIMIT_APPTS, err);
    }
    /* The source id goes beside the entry (or goes away) before anything else changes, so
     * that running out of memory leaves the ledger as it was. */
    if (nb__srcid_wanted(a.status)) {
        if ((err = nb__srcid_set(led, a.appt_hash, ev->appointment_id,
                                 strlen(ev->appointment_id))))
            return err;
    } else {
        nb__srcid_remove(led, a.appt_hash);
    }
    if (i == led->n_appts) {
        *change = ev->status == NB_STATUS_ENTERED_IN_ERROR ? NB_LEDGER_REMOVED : NB_LEDGER_ADDED;
    } else {
        bool was_live = led->appts[i].status != NB_STATUS_ENTERED_IN_ERROR;
        nb__appt_remove_at(led, i);
        *change = ev->status == NB_STATUS_ENTERED_IN_ERROR
                      ? (was_live ? NB_LEDGER_REMOVED : NB_LEDGER_UNCHANGED)
                      : (was_live ? NB_LEDGER_UPDATED : NB_LEDGER_ADDED);
    }
    nb__appt_insert(led, &a);
    if (ev->subject_kind == NB_SUBJECT_UNBORN) {
        if (ev->expected_delivery_date != NB_DATE_NONE)
            led->edd = ev->expected_delivery_date;
    } else if (ev->date_of_birth != NB_DATE_NONE) {
        led->dob = ev->date_of_birth;
    }
    return NB_ERR_OK;
}

nb_err_t nb_ledger_apply_fact(nb_ledger_t *led, const nb_context_fact_t *fact,
                              nb_ledger_change_t *change)
{
    nb_ledger_change_t dummy;
    nb_err_t err;
    if (!change)
        change = &dummy;
    *change = NB_LEDGER_UNCHANGED;
    if (fact->version < 0 || fact->version > 65535 || (unsigned)fact->kind >= NB_FACT__COUNT ||
        (unsigned)fact->status >= NB_FACT_STATUS__COUNT || fact->start_date == NB_DATE_NONE)
        return NB_ERR_INVALID_ARG;
    nb_ledger_fact_t f;
    memset(&f, 0, sizeof(f));
    f.fact_hash = nb_ledger_id_hash(fact->event_id, strlen(fact->event_id));
    f.start_date = fact->start_date;
    f.end_date = fact->end_date;
    f.recorded_min = nb_ledger_minutes(fact->recorded_at);
    f.version = (uint16_t)fact->version;
    f.kind = (uint8_t)fact->kind;
    f.status = (uint8_t)fact->status;
    size_t i;
    for (i = 0; i < led->n_facts; i++)
        if (led->facts[i].fact_hash == f.fact_hash)
            break;
    if (i < led->n_facts &&
        !nb__newer(f.version, f.recorded_min, led->facts[i].version, led->facts[i].recorded_min))
        return NB_ERR_OK;
    if ((err = nb_ledger_dict_intern(led->dict, fact->source_system, &f.source)))
        return nb__limit(led, NB__LIMIT_DICT, err);
    if (i == led->n_facts) {
        if ((err = nb__ledger_reserve((void **)&led->facts, &led->cap_facts, led->n_facts,
                                      sizeof(*led->facts), NB_LEDGER_MAX_FACTS)))
            return nb__limit(led, NB__LIMIT_FACTS, err);
        led->n_facts++;
        *change = f.status == NB_FACT_STATUS_ENTERED_IN_ERROR ? NB_LEDGER_REMOVED
                                                             : NB_LEDGER_ADDED;
    } else {
        bool was_live = led->facts[i].status != NB_FACT_STATUS_ENTERED_IN_ERROR;
        *change = f.status == NB_FACT_STATUS_ENTERED_IN_ERROR
                      ? (was_live ? NB_LEDGER_REMOVED : NB_LEDGER_UNCHANGED)
                      : (was_live ? NB_LEDGER_UPDATED : NB_LEDGER_ADDED);
    }
    led->facts[i] = f;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__reintern(nb_ledger_t *dst, const nb_ledger_t *src, uint16_t idx,
                                          uint16_t *out)
{
    if (dst->dict == src->dict) {
        *out = idx;
        return NB_ERR_OK;
    }
    return nb_ledger_dict_intern(dst->dict, nb_ledger_dict_str(src->dict, idx), out);
}

nb_err_t nb_ledger_merge(nb_ledger_t *dst, const nb_ledger_t *src)
{
    nb_err_t err;
    for (size_t k = 0; k < src->n_appts; k++) {
        nb_ledger_appt_t a = src->appts[k];
        size_t i;
        for (i = 0; i < dst->n_appts; i++)
            if (dst->appts[i].appt_hash == a.appt_hash)
                break;
        if (i < dst->n_appts && !nb__appt_newer(&a, &dst->appts[i]))
            continue;
        if ((err = nb__reintern(dst, src, a.type, &a.type)) ||
            (err = nb__reintern(dst, src, a.org, &a.org)))
            return nb__limit(dst, NB__LIMIT_DICT, err);
        if (i == dst->n_appts) {
            if ((err = nb__ledger_reserve((void **)&dst->appts, &dst->cap_appts, dst->n_appts,
                                          sizeof(*dst->appts), NB_LEDGER_MAX_APPTS)))
                return nb__limit(dst, NB__LIMIT_APPTS, err);
        } else {
            nb__appt_remove_at(dst, i);
        }
        nb__appt_insert(dst, &a);
    }
    for (size_t k = 0; k < src->n_facts; k++) {
        nb_ledger_fact_t f = src->facts[k];
        size_t i;
        for (i = 0; i < dst->n_facts; i++)
            if (dst->facts[i].fact_hash == f.fact_hash)
                break;
        if (i < dst->n_facts && !nb__newer(f.version, f.recorded_min, dst->facts[i].version,
                                           dst->facts[i].recorded_min))
            continue;
        if ((err = nb__reintern(dst, src, f.source, &f.source)))
            return nb__limit(dst, NB__LIMIT_DICT, err);
        if (i == dst->n_facts) {
            if ((err = nb__ledger_reserve((void **)&dst->facts, &dst->cap_facts, dst->n_facts,
                                          sizeof(*dst->facts), NB_LEDGER_MAX_FACTS)))
                return nb__limit(dst, NB__LIMIT_FACTS, err);
            dst->n_facts++;
        }
        dst->facts[i] = f;
    }
    for (size_t k = 0; k < src->n_raised; k++)
        if ((err = nb_ledger_add_raised(dst, &src->raised[k])))
            return err;
    /* Versions taken from src may have changed what dst's appointments keep. */
    nb__srcid_tidy(dst);
    if ((err = nb__srcid_merge(dst, src)))
        return err;
    if (dst->dob == NB_DATE_NONE)
        dst->dob = src->dob;
    if (dst->edd == NB_DATE_NONE)
        dst->edd = src->edd;
    return NB_ERR_OK;
}

void nb_ledger_set_dates(nb_ledger_t *led, int32_t date_of_birth, int32_t expected_delivery)
{
    if (date_of_birth != NB_DATE_NONE)
        led->dob = date_of_birth;
    if (expected_delivery != NB_DATE_NONE)
        led->edd = expected_delivery;
}

int32_t nb_ledger_date_of_birth(const nb_ledger_t *led)
{
    return led->dob;
}

int32_t nb_ledger_expected_delivery(const nb_ledger_t *led)
{
    return led->edd;
}

nb_err_t nb_ledger_add_raised(nb_ledger_t *led, const nb_ledger_raised_t *raised)
{
    nb_err_t err;
    for (size_t i = 0; i < led->n_raised; i++) {
        if (memcmp(led->raised[i].id, raised->id, NB_LEDGER_ID_BYTES) == 0) {
            led->raised[i] = *raised;
            return NB_ERR_OK;
        }
    }
    if ((err = nb__ledger_reserve((void **)&led->raised, &led->cap_raised, led->n_raised,
                                  sizeof(*led->raised), NB_LEDGER_MAX_RAISED)))
        return nb__limit(led, NB__LIMIT_RAISED, err);
    /* Oldest first: insert by raised_at. */
    size_t pos = led->n_raised;
    while (pos > 0 && led->raised[pos - 1].raised_at > raised->raised_at)
        pos--;
    memmove(led->raised + pos + 1, led->raised + pos,
            (led->n_raised - pos) * sizeof(*led->raised));
    led->raised[pos] = *raised;
    led->n_raised++;
    return NB_ERR_OK;
}

bool nb_ledger_remove_raised(nb_ledger_t *led, const uint8_t id[NB_LEDGER_ID_BYTES])
{
    for (size_t i = 0; i < led->n_raised; i++) {
        if (memcmp(led->raised[i].id, id, NB_LEDGER_ID_BYTES) == 0) {
            memmove(led->raised + i, led->raised + i + 1,
                    (led->n_raised - i - 1) * sizeof(*led->raised));
            led->n_raised--;
            nb__ledger_shrink((void **)&led->raised, &led->cap_raised, led->n_raised,
                              sizeof(*led->raised));
            return true;
        }
    }
    return false;
}

size_t nb_ledger_prune(nb_ledger_t *led, int64_t horizon_ms)
{
    int32_t hmin = nb_ledger_minutes(horizon_ms);
    int32_t hday = nb_day_of(horizon_ms);
    size_t removed = 0, k = 0;
    /* Appointments are sorted by start: drop the prefix before the horizon. */
    while (k < led->n_appts && led->appts[k].start_min < hmin)
        k++;
    if (k) {
        memmove(led->appts, led->appts + k, (led->n_appts - k) * sizeof(*led->appts));
        led->n_appts = (uint16_t)(led->n_appts - k);
        removed += k;
        nb__srcid_tidy(led);
    }
    k = 0;
    for (size_t i = 0; i < led->n_facts; i++) {
        const nb_ledger_fact_t *f = &led->facts[i];
        bool gone = f->status == NB_FACT_STATUS_ENTERED_IN_ERROR
                        ? f->recorded_min < hmin
                        : f->end_date != NB_DATE_NONE && f->end_date < hday;
        if (gone)
            removed++;
        else
            led->facts[k++] = *f;
    }
    led->n_facts = (uint16_t)k;
    k = 0;
    for (size_t i = 0; i < led->n_raised; i++) {
        if (led->raised[i].raised_at < horizon_ms)
            removed++;
        else
            led->raised[k++] = led->raised[i];
    }
    led->n_raised = (uint16_t)k;
    nb__ledger_shrink((void **)&led->appts, &led->cap_appts, led->n_appts, sizeof(*led->appts));
    nb__ledger_shrink((void **)&led->facts, &led->cap_facts, led->n_facts, sizeof(*led->facts));
    nb__ledger_shrink((void **)&led->raised, &led->cap_raised, led->n_raised,
                      sizeof(*led->raised));
    return removed;
}

const nb_ledger_appt_t *nb_ledger_appts(const nb_ledger_t *led, size_t *n)
{
    *n = led->n_appts;
    return led->appts;
}

const nb_ledger_fact_t *nb_ledger_facts(const nb_ledger_t *led, size_t *n)
{
    *n = led->n_facts;
    return led->facts;
}

const nb_ledger_raised_t *nb_ledger_raised(const nb_ledger_t *led, size_t *n)
{
    *n = led->n_raised;
    return led->raised;
}

bool nb_ledger_empty(const nb_ledger_t *led)
{
    return led->n_appts == 0 && led->n_facts == 0 && led->n_raised == 0;
}

size_t nb_ledger_memory(const nb_ledger_t *led)
{
    return sizeof(*led) + (size_t)led->cap_appts * sizeof(nb_ledger_appt_t) +
           (size_t)led->cap_facts * sizeof(nb_ledger_fact_t) +
           (size_t)led->cap_raised * sizeof(nb_ledger_raised_t) + nb__srcid_memory(led);
}

void nb_ledger_evidence(const nb_ledger_t *led, const nb_ledger_appt_t *a, nb_evidence_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->event_id, sizeof(out->event_id), "sha256:%016llx",
             (unsigned long long)a->event_hash);
    /* The source system's own id when the side store keeps it (srcid.c); else its hash. */
    if (!nb_ledger_source_id(led, a, out->appointment_id))
        snprintf(out->appointment_id, sizeof(out->appointment_id), "sha256:%016llx",
                 (unsigned long long)a->appt_hash);
    out->agency = (nb_agency_t)a->agency;
    snprintf(out->appointment_type, sizeof(out->appointment_type), "%s",
             nb_ledger_dict_str(led->dict, a->type));
    out->scheduled_start = (int64_t)a->start_min * 60000;
    out->status = (nb_status_t)a->status;
    snprintf(out->organisation_code, sizeof(out->organisation_code), "%s",
             nb_ledger_dict_str(led->dict, a->org));
    out->recorded_at = (int64_t)a->recorded_min * 60000;
}

void nb_ledger_context(const nb_ledger_t *led, const nb_ledger_fact_t *f,
                       nb_context_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = (nb_fact_kind_t)f->kind;
    out->start_date = f->start_date;
    out->end_date = f->end_date;
    snprintf(out->source, sizeof(out->source), "%s", nb_ledger_dict_str(led->dict, f->source));
    out->as_of = (int64_t)f->recorded_min * 60000;
}

#define NB__STR_(x) #x
#define NB__STR(x) NB__STR_(x)
#define NB__FIXED "; the limit is fixed in notbrought's code (no setting changes it)"

const char *nb_ledger_limit_str(const nb_ledger_t *led)
{
    switch ((nb__limit_t)led->last_limit) {
    case NB__LIMIT_APPTS:
        return "the child's history already holds " NB__STR(
            NB_LEDGER_MAX_APPTS) " appointments, the most one child can have" NB__FIXED;
    case NB__LIMIT_FACTS:
        return "the child's history already holds " NB__STR(
            NB_LEDGER_MAX_FACTS) " context facts, the most one child can have" NB__FIXED;
    case NB__LIMIT_RAISED:
        return "the child already has " NB__STR(
            NB_LEDGER_MAX_RAISED) " open notifications, the most one child can have" NB__FIXED;
    case NB__LIMIT_DICT:
        return "the dictionary of appointment types, organisation codes and source systems "
               "already holds " NB__STR(NB_LEDGER_DICT_MAX) " strings, or a string is longer "
               "than 255 bytes" NB__FIXED;
    case NB__LIMIT_NONE:
        break;
    }
    return nb_err_str(NB_ERR_LIMIT);
}
