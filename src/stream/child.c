/*
 * notbrought - stream: the identity links table, a child's state (ledger, notify state, timers) and
 * the notification lifecycle run on it (nb_notify_step()).
 */
#include "stream/pipeline.h"

/* ---- identity links (global table) ------------------------------------------------------------ */

/* Asks the owner of @p from_hex to move its history to @p into_hex (a "move" message; nothing
 * happens when it holds none). */
nb_err_t nb__move_to(nb__pipeline_t *p, nb_stream_t *st, const char *from_hex,
                            const char *into_hex, int64_t now)
{
    nb__msg_t mv;
    if (strcmp(from_hex, into_hex) == 0)
        return NB_ERR_OK;
    memset(&mv, 0, sizeof(mv));
    mv.kind = NB__K_MOVE;
    nb_str_copy(mv.key_hex, sizeof(mv.key_hex), from_hex);
    if (!nb__unhex32(mv.key_hex, mv.key) || strlen(into_hex) != NB_KEY_MAX)
        return NB_ERR_INVALID_ARG;
    mv.value = into_hex;
    mv.len = NB_KEY_MAX;
    return nb__deliver(p, st, &mv, now);
}

static void nb__add_merge(nb__pipeline_t *p, const nb_identity_merge_t *m)
{
    nb__merge_t mg;
    if (!nb__unhex32(m->from_key, mg.from) || !nb__unhex32(m->into_key, mg.into))
        return;
    nb_str_copy(mg.into_hex, sizeof(mg.into_hex), m->into_key);
    if (p->n_merges == p->cap_merges) {
        size_t cap = p->cap_merges ? p->cap_merges * 2 : 64;
        nb__merge_t *v = realloc(p->merges, cap * sizeof(*v));
        if (!v)
            return;
        p->merges = v;
        p->cap_merges = cap;
    }
    p->merges[p->n_merges++] = mg;
    p->merges_dirty = true;
}

nb_err_t nb__pipeline_link(nb__pipeline_t *p, const rd_kafka_message_t *rkm, int64_t now)
{
    nb_record_t rec;
    nb_identity_result_t res;
    (void)now;
    if (!rkm->payload)
        return NB_ERR_OK; /* a compaction tombstone */
    memset(&res, 0, sizeof(res));
    nb_err_t err = nb_codec_decode(p->codec, rkm->payload, rkm->len, NB_RECORD_IDENTITY_LINK,
                                   &rec, p->errstr, sizeof(p->errstr));
    if (!err)
        err = nb_codec_validate(&rec, &p->vopts, now, p->errstr, sizeof(p->errstr));
    if (!err)
        err = nb_identity_apply(p->idt, &rec.u.link, &res, p->errstr, sizeof(p->errstr));
    if (err) {
        /* The links topic is read by every instance outside any transaction, so a bad link
         * cannot be dead-lettered exactly once here; it is logged (no personal data) and
         * counted by the caller (notbrought_identity_links_refused_total), and the table
         * stays consistent. The link itself stays in the (compacted) links topic. */
        char why[600];
        if (err == NB_ERR_IDENTITY_CONFLICT) {
            nb_identity_resolution_t r;
            memset(&r, 0, sizeof(r));
            r.conflict = res.conflict;
            snprintf(why, sizeof(why), "conflict %s",
                     nb_identity_conflict_kind_name(res.conflict.kind));
        } else {
            nb_str_copy(why, sizeof(why), p->errstr);
        }
        /* An unlink of a link not in force is expected while the compacted topic is read
         * from its start (compaction removed the link it withdrew): logged, not warned. */
        NB_LOG(err == NB_ERR_IDENTITY_UNKNOWN_LINK ? NB_LOG_INFO : NB_LOG_WARN, "identity",
               "link at %s [%d] offset %lld refused: %s: %s", rd_kafka_topic_name(rkm->rkt),
               (int)rkm->partition, (long long)rkm->offset, nb_err_name(err), why);
    } else if (res.change != NB_IDENTITY_CHANGE_NONE) {
        p->recheck = true;
        if (res.has_merge)
            nb__add_merge(p, &res.merge);
        for (size_t i = 0; i < res.n_more_merges; i++)
            nb__add_merge(p, &res.more_merges[i]);
    }
    nb_identity_result_clear(&res);
    return err;
}

nb_err_t nb__pipeline_identity_digest(const nb__pipeline_t *p, uint8_t out[32])
{
    return nb_identity_state_digest(p->idt, out);
}

/* ---- child state ---------------------------------------------------------------------------- */

void nb__state_refusal(const uint8_t *val, size_t len, const char *detail, char *out, size_t size)
{
    if (val && len >= 5 && memcmp(val, "NBS", 3) == 0 && val[3] > NB__STATE_FORMAT)
        snprintf(out, size,
                 "state format version %u is newer than this release reads (up to %u): "
                 "kept unchanged; a newer release wrote it",
                 (unsigned)val[3], (unsigned)NB__STATE_FORMAT);
    else if (val && len >= 5 && memcmp(val, "NBS", 3) == 0 && val[4] > NB__STATE_KIND_MAX)
        snprintf(out, size,
                 "state kind %u is unknown to this release (up to %u): kept unchanged; a "
                 "newer release wrote it",
                 (unsigned)val[4], (unsigned)NB__STATE_KIND_MAX);
    else
        snprintf(out, size, "state unreadable: kept unchanged (%s)",
                 detail && detail[0] ? detail : "it does not decode as this release's format");
}

/* Decodes a child's state (NULL: a new child) into @p led, which c then borrows. */
nb_err_t nb__child_load(nb__pipeline_t *p, const uint8_t *val, size_t len,
                               nb_ledger_t *led, nb__child_t *c)
{
    memset(c, 0, sizeof(*c));
    c->due = c->due_stored = c->due_esc = NB_TIME_NONE;
    c->led = led;
    nb_ledger_clear(led);
    if (!val)
        return NB_ERR_OK;
    nb__rd_t r = {val, val + len, false};
    const uint8_t *hdr = nb__take(&r, 5);
    if (!hdr || memcmp(hdr, "NBS\1", 4) != 0 || !NB__IS_CHILD(hdr[4]))
        return NB_ERR_LEDGER_CORRUPT;
    if (hdr[4] == NB__STATE_PREG) {
        /* The pregnancy reference closes the value. */
        if ((size_t)(r.end - r.p) < NB__PREG_REF_LEN)
            return NB_ERR_LEDGER_CORRUPT;
        r.end -= NB__PREG_REF_LEN;
        c->has_preg = true;
        memcpy(c->preg.person, r.end, NB_IDENTITY_WANT_LEN);
        const uint8_t *t = r.end + NB_IDENTITY_WANT_LEN;
        c->preg.expected_delivery_date = (int32_t)(uint32_t)nb_le_get(t, 4);
    }
    const uint8_t *nl = nb__take(&r, 1);
    size_t nlen = nl ? nl[0] : 0;
    const uint8_t *nhs = nb__take(&r, nlen);
    const uint8_t *ml = nb__take(&r, 1);
    size_t mlen = ml ? ml[0] : 0;
    const uint8_t *mother = nb__take(&r, mlen);
    uint32_t llen = (uint32_t)nb__rd_le(&r, 4);
    const uint8_t *lbytes = nb__take(&r, llen);
    c->due = (int64_t)nb__rd_le(&r, 8);
    c->due_stored = c->due;
    size_t used = 0;
    if (r.bad || nlen > NB_NHS_LEN || mlen > NB_NHS_LEN ||
        nb_notify_state_decode(&c->ns, r.p, (size_t)(r.end - r.p), &used) ||
        r.p + used != r.end)
        return NB_ERR_LEDGER_CORRUPT;
    memcpy(c->nhs, nhs, nlen);
    c->nhs[nlen] = '\0';
    memcpy(c->mother, mother, mlen);
    c->mother[mlen] = '\0';
    return nb_ledger_decode_into(led, lbytes, llen, p->errstr, sizeof(p->errstr));
}

/* A buffer of the pipeline's, emptied for the next value (one that grew for an exceptional
 * value gives its room back). Kept from one value to the next: no allocation per event. */
static nb_buf_t *nb__scratch(nb_buf_t *b)
{
    if (b->cap > 65536)
        nb_buf_free(b);
    b->len = 0;
    b->err = NB_ERR_OK;
    return b;
}

nb_err_t nb__child_save(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                               const uint8_t key[NB__KEY_LEN], const nb__child_t *c)
{
    nb_buf_t *b = nb__scratch(&p->save); /* the store copies the value */
    uint8_t nlen = (uint8_t)strlen(c->nhs), mlen = (uint8_t)strlen(c->mother);
    uint8_t kind = c->has_preg ? NB__STATE_PREG : NB__STATE_CHILD;
    uint8_t llen[4];
    /* The ledger is encoded in place: its length is patched in after. */
    nb_err_t err = nb_buf_reserve(b, 512);
    if (err)
        return err;
    nb_buf_add(b, "NBS\1", 4);
    nb_buf_add(b, &kind, 1);
    nb_buf_add(b, &nlen, 1);
    nb_buf_add(b, c->nhs, nlen);
    nb_buf_add(b, &mlen, 1);
    nb_buf_add(b, c->mother, mlen);
    size_t at = b->len;
    nb_buf_add(b, llen, 4);
    err = nb_ledger_encode(c->led, b);
    if (!err) {
        nb_le_put(b->data + at, (uint32_t)(b->len - at - 4), 4);
        nb_buf_add_le(b, (uint64_t)c->due, 8);
        err = nb_notify_state_encode(&c->ns, b);
    }
    if (!err && c->has_preg) {
        nb_buf_add(b, c->preg.person, NB_IDENTITY_WANT_LEN);
        nb_buf_add_le(b, (uint32_t)c->preg.expected_delivery_date, 4);
    }
    if (!err)
        err = b->err; /* a value cut short would replace the child's record */
    if (!err && !b->data)
        err = NB_ERR_NOMEM;
    if (err)
        return err;
    size_t len = b->len;
    err = nb__state_put(st, part, key, b->data, b->len);
    if (!err) {
        nb__timer_set_esc(p, st, part, key, c->due, c->due_esc);
        nb__preg_note(p, part, key, c->has_preg ? nb__state_get(st, part, key, &len) : NULL,
                      len);
    }
    return err;
}

nb_err_t nb__publish(nb__pipeline_t *p, nb_stream_t *st, const nb_notification_t *n)
{
    nb_record_t rec;
    nb_buf_t *b = nb__scratch(&p->enc); /* the producer copies the record */
    rec.type = NB_RECORD_NOTIFICATION;
    rec.u.notif = *n;
    nb_err_t err = nb_codec_encode(p->codec, &rec, b, p->errstr, sizeof(p->errstr));
    if (!err) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "nb.kind", -1, nb_notification_kind_name(n->kind), -1);
        rd_kafka_header_add(h, "nb.tier", -1, nb_tier_name(n->tier), -1);
        err = nb__emit(st, nb__stream_conf(st)->notifications_topic, RD_KAFKA_PARTITION_UA,
                       n->child_key, strlen(n->child_key), b->data, b->len, h);
        if (!err) {
            nb__stream_counters(st)->notifications++;
            nb_metrics_add(nb__stream_metrics(st), NB_M_NOTIFICATIONS_BY_KIND,
                           nb_notification_kind_name(n->kind), 1);
            nb_metrics_add(nb__stream_metrics(st), NB_M_NOTIFICATIONS_BY_TIER,
                           nb_tier_name(n->tier), 1);
        }
    }
    return err;
}

/* The audit record in p->audit, to the audit topic in the transaction of the decision. */
nb_err_t nb__audit(nb__pipeline_t *p, nb_stream_t *st)
{
    nb_buf_t *b = nb__scratch(&p->enc); /* the producer copies the record */
    p->audit->type = NB_RECORD_AUDIT;
    nb_err_t err = nb_codec_encode(p->codec, p->audit, b, p->errstr, sizeof(p->errstr));
    /* Keyed by the child (nb_stream_record_key()); a digest, about its recipients, by its id. */
    char key[NB_KEY_MAX + 1];
    size_t klen = nb_stream_record_key(p->audit, key, sizeof(key));
    if (!err)
        err = nb__emit(st, nb__stream_conf(st)->audit_topic, RD_KAFKA_PARTITION_UA, key, klen,
                       b->data, b->len, NULL);
    return err;
}

/* The audit record of a verdict on a person's action (nb_notify_apply()). */
nb_err_t nb__audit_action(nb__pipeline_t *p, nb_stream_t *st, const nb_ack_t *a,
                          const nb_notify_outcome_t *o, const char *child_key, int64_t now)
{
    nb_notify_audit_action(p->pol, a, o, child_key, now, &p->audit->u.audit);
    return nb__audit(p, st);
}

/* What nb__lifecycle() hands its sink. */
typedef struct nb__life_s {
    nb__pipeline_t *p;
    nb_stream_t *st;
    const char *key_hex;
    int64_t now;
} nb__life_t;

/* The daemon's sink of the lifecycle step: publishes, gathers digests, audits, counts. */
NB_NODISCARD static nb_err_t nb__life_sink(void *opaque, const nb_notify_out_t *o)
{
    nb__life_t *l = opaque;
    const nb_notify_action_t *a = o->action;
    const nb_notification_t *note = o->note;
    nb_metrics_t *metrics = nb__stream_metrics(l->st);
    nb_err_t err = NB_ERR_OK;
    switch (a->act) {
    case NB_NOTIFY_ACT_NEW:
    case NB_NOTIFY_ACT_NEW_CLOSED:
        nb_metrics_add(metrics, NB_M_DECISIONS_BY_RULE, a->decision->rule->id, 1);
        err = o->digest ? nb__digest_forward(l->p, l->st, a->decision, note, l->now)
                        : nb__publish(l->p, l->st, note);
        break;
    case NB_NOTIFY_ACT_ESCALATE:
    case NB_NOTIFY_ACT_WITHDRAW:
        err = nb__publish(l->p, l->st, note);
        break;
    case NB_NOTIFY_ACT_SHADOW:
        nb_metrics_add(metrics, NB_M_DECISIONS_BY_RULE, a->decision->rule->id, 1);
        break;
    case NB_NOTIFY_ACT_CORRECTED:
    case NB_NOTIFY_ACT_SUPPRESSED:
        break;
    }
    if (!err) {
        nb_notify_audit_step(l->p->pol, o, l->key_hex, l->now, &l->p->audit->u.audit);
        err = nb__audit(l->p, l->st);
    }
    return err;
}

/* Evaluates the child's ledger and runs the notification lifecycle (nb_notify_step(), as
 * replay and policy test do): publishes new, escalated and withdrawn notifications, audits
 * every decision, and updates the ledger's raised list, the notify state and the timers. */
nb_err_t nb__lifecycle(nb__pipeline_t *p, nb_stream_t *st, nb__child_t *c,
                              const char *key_hex, bool quiet, int64_t now)
{
    nb_policy_subject_t subj = {key_hex, NB_DATE_NONE, NB_DATE_NONE, false, p->absence_now};
    nb_notify_child_t child = {key_hex, c->nhs, c->mother};
    nb_err_t err = nb_policy_evaluate(p->pol, c->led, &subj, now, p->res);
    if (err)
        return err;
    nb_notify_cause_t cause = {p->has_cause && !p->has_fact_cause ? &p->cause : NULL,
                               p->has_fact_cause ? &p->fact_cause : NULL};
    nb__life_t life = {p, st, key_hex, now};
    nb_notify_due_t due;
    err = nb_notify_step(p->pol, p->res, c->led, &c->ns, &child, &cause, now, quiet, &p->plan,
                         nb__life_sink, &life, &due);
    if (!err) {
        c->due = due.next;
        c->due_esc = due.escalation;
    }
    return err;
}
