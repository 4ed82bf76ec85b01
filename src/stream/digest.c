/*
 * notbrought - stream: digests: low-tier notifications gathered per recipient and period, published
 * as one when the period ends.
 */
#include "stream/pipeline.h"

/* ---- digests ---------------------------------------------------------------------------------- */


static void nb__put_str8(nb_buf_t *b, const char *s)
{
    uint8_t n = (uint8_t)strlen(s);
    nb_buf_add(b, &n, 1);
    nb_buf_add(b, s, n);
}

static bool nb__get_str8(nb__rd_t *r, char *dst, size_t cap)
{
    const uint8_t *l = nb__take(r, 1);
    size_t n = l ? l[0] : 0;
    const uint8_t *v = nb__take(r, n);
    if (r->bad || n >= cap)
        return false;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return true;
}

nb_err_t nb__digest_load(const uint8_t *val, size_t len, nb__digest_t *d)
{
    nb__rd_t r = {val, val + len, false};
    const uint8_t *hdr = nb__take(&r, 5);
    memset(d, 0, sizeof(*d));
    if (!hdr || memcmp(hdr, "NBS\1", 4) != 0 || hdr[4] != NB__STATE_DIGEST)
        return NB_ERR_LEDGER_CORRUPT;
    d->period_end = (int64_t)nb__rd_le(&r, 8);
    const uint8_t *n = NULL;
    if (!nb__get_str8(&r, d->role, sizeof(d->role)) ||
        !nb__get_str8(&r, d->route, sizeof(d->route)) || !(n = nb__take(&r, 1)) ||
        n[0] > NB_NOTIF_MAX_ITEMS)
        return NB_ERR_LEDGER_CORRUPT;
    d->n = n[0];
    for (size_t i = 0; i < d->n; i++) {
        nb_digest_item_t *it = &d->items[i];
        const uint8_t *tier;
        if (!nb__get_str8(&r, it->notification_id, sizeof(it->notification_id)) ||
            !nb__get_str8(&r, it->reference, sizeof(it->reference)) ||
            !nb__get_str8(&r, it->child_key, sizeof(it->child_key)) ||
            !nb__get_str8(&r, it->nhs_number, sizeof(it->nhs_number)) ||
            !nb__get_str8(&r, it->rule_id, sizeof(it->rule_id)) || !(tier = nb__take(&r, 1)) ||
            tier[0] >= NB_TIER__COUNT)
            return NB_ERR_LEDGER_CORRUPT;
        it->tier = (nb_tier_t)tier[0];
        it->decided_at = (int64_t)nb__rd_le(&r, 8);
    }
    return r.bad || r.p != r.end ? NB_ERR_LEDGER_CORRUPT : NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__digest_save(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                             const uint8_t key[NB__KEY_LEN], const nb__digest_t *d)
{
    nb_buf_t b = {0};
    uint8_t kind = NB__STATE_DIGEST, n = (uint8_t)d->n;
    nb_buf_add(&b, "NBS\1", 4);
    nb_buf_add(&b, &kind, 1);
    nb_buf_add_le(&b, (uint64_t)d->period_end, 8);
    nb__put_str8(&b, d->role);
    nb__put_str8(&b, d->route);
    nb_buf_add(&b, &n, 1);
    for (size_t i = 0; i < d->n; i++) {
        const nb_digest_item_t *it = &d->items[i];
        uint8_t tier = (uint8_t)it->tier;
        nb__put_str8(&b, it->notification_id);
        nb__put_str8(&b, it->reference);
        nb__put_str8(&b, it->child_key);
        nb__put_str8(&b, it->nhs_number);
        nb__put_str8(&b, it->rule_id);
        nb_buf_add(&b, &tier, 1);
        nb_buf_add_le(&b, (uint64_t)it->decided_at, 8);
    }
    nb_err_t err = b.err ? b.err : nb__state_put(st, part, key, b.data, b.len);
    if (!err)
        nb__timer_set(p, st, part, key, d->period_end);
    nb_buf_free(&b);
    return err;
}

/* Sends a gathered notification to the digest of each of its recipients for the period. */
nb_err_t nb__digest_forward(nb__pipeline_t *p, nb_stream_t *st,
                                   const nb_policy_decision_t *d, const nb_notification_t *note,
                                   int64_t now)
{
    int64_t end = nb_notify_digest_period_end(d->digest, d->decided_at);
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; i < d->n_recipients && !err; i++) {
        nb__msg_t m;
        memset(&m, 0, sizeof(m));
        nb_notify_digest_key(d->recipients[i]->id, end, m.key);
        nb__key_hex(m.key, m.key_hex);
        m.kind = NB__K_DIGEST;
        m.note = note;
        m.role = d->recipients[i]->id;
        m.route = d->recipients[i]->route;
        m.period_end = end;
        err = nb__deliver(p, st, &m, now);
    }
    return err;
}

/* Publishes a digest and forgets it. */
nb_err_t nb__digest_publish(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                   const uint8_t key[NB__KEY_LEN], const nb__digest_t *d,
                                   int64_t now)
{
    nb_notification_t n;
    nb_notify_build_digest(p->pol, d, key, now, &n);
    nb_err_t err = nb__publish(p, st, &n);
    if (!err) {
        nb_notify_audit_note(p->pol, NB_AUDIT_DIGEST, &n, now, &p->audit->u.audit);
        err = nb__audit(p, st);
    }
    if (!err)
        err = nb__state_put(st, part, key, NULL, 0); /* its timer goes with it */
    return err;
}

/* A gathered notification arrives at its digest key. */
nb_err_t nb__digest_add(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m,
                               int32_t part, int64_t now)
{
    nb__digest_t d;
    nb_record_t rec;
    const nb_notification_t *note = m->note;
    size_t len;
    const uint8_t *val = nb__state_get(st, part, m->key, &len);
    nb_err_t err;
    if (!note) {
        if ((err = nb_codec_decode(p->codec, m->value, m->len, NB_RECORD_NOTIFICATION, &rec,
                                   p->errstr, sizeof(p->errstr))))
            return err;
        note = &rec.u.notif;
    }
    if (val) {
        if ((err = nb__digest_load(val, len, &d)))
            return err;
    } else {
        memset(&d, 0, sizeof(d));
        nb_str_copy(d.role, sizeof(d.role), m->role);
        nb_str_copy(d.route, sizeof(d.route), m->route);
        d.period_end = m->period_end;
    }
    nb_notify_digest_add_t added = nb_notify_digest_add(&d, note);
    if (added == NB_NOTIFY_DIGEST_HAD)
        return NB_ERR_OK; /* already gathered */
    /* A full digest goes out at once; the period's later items start the next one. */
    if (added == NB_NOTIFY_DIGEST_FULL)
        return nb__digest_publish(p, st, part, m->key, &d, now);
    return nb__digest_save(p, st, part, m->key, &d);
}
