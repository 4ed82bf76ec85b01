/*
 * notbrought - stream: the pipeline: what each record means, by calling the pure core (codec,
 * identity, ledger, policy); its construction, the ingest of a source record and the
 * handling of a record delivered to its child's key. State layout: stream/pipeline.h.
 */
#include "stream/pipeline.h"

/* ---- small helpers ------------------------------------------------------------------------ */

bool nb__unhex32(const char *hex, uint8_t out[NB__KEY_LEN])
{
    return nb__key_unhex(hex, strlen(hex), out);
}

const uint8_t *nb__take(nb__rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

/* The next @p n bytes as a little-endian unsigned integer; 0 when they are not there. */
uint64_t nb__rd_le(nb__rd_t *r, size_t n)
{
    const uint8_t *q = nb__take(r, n);
    return q ? nb_le_get(q, n) : 0;
}

/* ---- construction --------------------------------------------------------------------------- */

static void nb__policy_diag(void *opaque, const nb_policy_diag_t *d)
{
    (void)opaque;
    NB_LOG(d->warning ? NB_LOG_WARN : NB_LOG_ERROR, "policy", "%s:%d:%d: %s", d->file, d->line,
           d->column, d->message);
}

nb__pipeline_t *nb__pipeline_new(const nb_config_t *conf, char *errstr, size_t errstr_size)
{
    nb__pipeline_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->conf = conf;
    p->absence_now = NB_TIME_NONE;
    if (!(p->pregs = nb__pregidx_new())) {
        free(p);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->last_recorded = NB_TIME_NONE;
    nb_validate_opts_default(&p->vopts);
    p->vopts.allow_test_nhs_numbers = conf->allow_test_nhs_numbers;
    p->reg = nb_registry_new();
    if (!p->reg || nb_registry_add_builtin(p->reg, errstr, errstr_size) ||
        (conf->schemas_dir[0] &&
         nb_registry_load_dir(p->reg, conf->schemas_dir, errstr, errstr_size)) ||
        !(p->codec = nb_codec_new(p->reg, errstr, errstr_size)))
        goto fail;
    if (!(p->audit = calloc(1, sizeof(*p->audit)))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    nb_identity_conf_t ic;
    nb_identity_conf_default(&ic);
    ic.secret = conf->hmac_key;
    ic.secret_len = conf->hmac_key ? strlen(conf->hmac_key) : 0;
    ic.allow_test_nhs_numbers = conf->allow_test_nhs_numbers;
    ic.suggest_demographic_links = conf->suggest_demographic_links;
    if (!(p->idt = nb_identity_new(&ic, errstr, errstr_size)))
        goto fail;
    if (nb_policy_load((const char *const *)conf->policy_files, conf->n_policy_files,
                       nb__policy_diag, NULL, &p->pol, errstr, errstr_size))
        goto fail;
    if (!(p->dict = nb_ledger_dict_new()) || !(p->res = nb_policy_result_new()) ||
        !(p->led = nb_ledger_new(p->dict)) || !(p->led_from = nb_ledger_new(p->dict))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    const nb_policy_info_t *info = nb_policy_info(p->pol);
    NB_LOG(NB_LOG_INFO, "policy", "policy %s version %s loaded (%zu rules, hash %.12s)",
           info->name, info->version, nb_policy_rule_count(p->pol), info->hash);
    return p;
fail:
    nb__pipeline_destroy(p);
    return NULL;
}

void nb__pipeline_destroy(nb__pipeline_t *p)
{
    if (!p)
        return;
    nb__prov_t *v, *tmp;
    HASH_ITER(hh, p->prov, v, tmp)
    {
        HASH_DEL(p->prov, v);
        free(v);
    }
    nb__pregidx_destroy(p->pregs);
    free(p->merges);
    free(p->audit);
    nb_buf_free(&p->save);
    nb_buf_free(&p->enc);
    nb_notify_scratch_free(&p->plan);
    free(p->heap.v);
    free(p->held.v);
    nb_policy_result_destroy(p->res);
    nb_policy_destroy(p->pol);
    nb_ledger_destroy(p->led);
    nb_ledger_destroy(p->led_from);
    nb_ledger_dict_destroy(p->dict);
    nb_identity_destroy(p->idt);
    nb_codec_destroy(p->codec);
    nb_registry_destroy(p->reg);
    free(p);
}

void nb__pipeline_flush_metrics(nb__pipeline_t *p, nb_metrics_t *m)
{
    if (!p->counted)
        return;
    p->counted = false;
    for (size_t i = 0; i <= NB_AGENCY__COUNT; i++) {
        if (p->n_events[i])
            nb_metrics_add(m, NB_M_EVENTS,
                           i < NB_AGENCY__COUNT ? nb_agency_name((nb_agency_t)i) : "context",
                           (double)p->n_events[i]);
        p->n_events[i] = 0;
    }
    const size_t parked = NB_IDENTITY_METHOD_PREGNANCY_LINK + 1, refused = parked + 1;
    for (size_t i = 0; i <= refused; i++) {
        if (p->n_resolved[i])
            nb_metrics_add(m, NB_M_RESOLUTIONS,
                           i == parked    ? "parked"
                           : i == refused ? "refused"
                                          : nb_identity_method_name((nb_identity_method_t)i),
                           (double)p->n_resolved[i]);
        p->n_resolved[i] = 0;
    }
}

void nb__pipeline_report(nb__pipeline_t *p, nb_metrics_t *m)
{
    const nb_policy_info_t *info = nb_policy_info(p->pol);
    const char *values[3] = {info->name, info->version, info->hash};
    nb_metrics_set_info(m, NB_M_POLICY_INFO, values);
}

nb_err_t nb__pipeline_reload(nb__pipeline_t *p, char *errstr, size_t errstr_size)
{
    nb_policy_t *pol = NULL;
    nb_err_t err = nb_policy_load((const char *const *)p->conf->policy_files,
                                  p->conf->n_policy_files, nb__policy_diag, NULL, &pol, errstr,
                                  errstr_size);
    if (err)
        return err;
    nb_policy_destroy(p->pol);
    p->pol = pol;
    const nb_policy_info_t *info = nb_policy_info(pol);
    NB_LOG(NB_LOG_INFO, "policy", "policy %s version %s in force (hash %.12s)", info->name,
           info->version, info->hash);
    return NB_ERR_OK;
}

/* ---- ingest --------------------------------------------------------------------------------- */

/* The record type a source topic carries; NB_RECORD_NONE when a topic is configured both for
 * appointments and for context facts (one topic keeps a child's events in one order). */
nb_record_type_t nb__expect(const nb_config_t *c, const char *topic)
{
    bool context = strcmp(topic, c->context_topic) == 0;
    for (size_t i = 0; i < c->n_appointment_topics; i++)
        if (strcmp(topic, c->appointment_topics[i]) == 0)
            return context ? NB_RECORD_NONE : NB_RECORD_APPOINTMENT;
    if (context)
        return NB_RECORD_CONTEXT_FACT;
    if (strcmp(topic, c->acks_topic) == 0)
        return NB_RECORD_ACK;
    return NB_RECORD_NONE;
}

NB_NODISCARD static nb_err_t nb__handle(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                                        const nb__msg_t *m, int64_t now);

/* A notification as Avro (digest items travel as notifications). */
NB_NODISCARD static nb_err_t nb__encode_note(nb__pipeline_t *p, const nb_notification_t *n,
                                             nb_buf_t *b)
{
    nb_record_t rec;
    rec.type = NB_RECORD_NOTIFICATION;
    rec.u.notif = *n;
    return nb_codec_encode(p->codec, &rec, b, p->errstr, sizeof(p->errstr));
}

/* The origin of a message, with the source record's headers packed into @p scratch when the
 * message is that record (the origin then lives as long as both). */
void nb__msg_origin(const nb__msg_t *m, nb_buf_t *scratch, nb__origin_t *o)
{
    *o = m->src;
    if (m->src_rkm && !o->headers && nb__headers_pack(m->src_rkm, scratch)) {
        o->headers = scratch->data;
        o->headers_len = scratch->len;
    }
}

/* When a record was recorded at its source: recorded_at (acknowledged_at for an
 * acknowledgement), or NB_TIME_NONE. */
int64_t nb__recorded_of(const nb_record_t *rec)
{
    if (!rec)
        return NB_TIME_NONE;
    return rec->type == NB_RECORD_APPOINTMENT    ? rec->u.appt.recorded_at
           : rec->type == NB_RECORD_CONTEXT_FACT ? rec->u.fact.recorded_at
           : rec->type == NB_RECORD_ACK          ? rec->u.ack.acknowledged_at
                                                 : NB_TIME_NONE;
}

/* Delivers a message to its key: handled here, in this transaction, when this instance owns the
 * key's partition (and has caught up with what the by-child topic held for it when it got it);
 * otherwise produced to the by-child topic for the instance that owns it. */
nb_err_t nb__deliver(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m, int64_t now)
{
    int32_t part = nb__partition_of(st, m->key);
    if (nb__deliver_here(st, part)) {
        nb__stream_counters(st)->local++;
        return nb__handle(p, st, part, m, now);
    }
    const void *value = m->value;
    size_t len = m->len;
    nb_buf_t enc = {0};
    nb_err_t err;
    if (m->kind == NB__K_DIGEST && !value) {
        if ((err = nb__encode_note(p, m->note, &enc)))
            return err;
        value = enc.data;
        len = enc.len;
    }
    char buf[32];
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "nb.kind", -1, nb__kind_name[m->kind], -1);
    if (m->nhs && m->nhs[0])
        rd_kafka_header_add(h, "nb.nhs", -1, m->nhs, -1);
    if (m->mother && m->mother[0])
        rd_kafka_header_add(h, "nb.mother", -1, m->mother, -1);
    if (m->kind == NB__K_DIGEST) {
        rd_kafka_header_add(h, "nb.role", -1, m->role, -1);
        rd_kafka_header_add(h, "nb.route", -1, m->route, -1);
        snprintf(buf, sizeof(buf), "%lld", (long long)m->period_end);
        rd_kafka_header_add(h, "nb.period_end", -1, buf, -1);
    }
    if (m->sugg)
        rd_kafka_header_add(h, "nb.suggestion", -1, m->sugg, (ssize_t)m->sugg_len);
    /* When the source recorded it: the owner's watermark of the by-child partition. */
    int64_t recorded = nb__recorded_of(m->rec);
    if (recorded != NB_TIME_NONE) {
        snprintf(buf, sizeof(buf), "%lld", (long long)recorded);
        rd_kafka_header_add(h, "nb.recorded", -1, buf, -1);
    }
    nb_buf_t packed = {0};
    nb__origin_t o;
    nb__msg_origin(m, &packed, &o);
    nb__origin_to_headers(&o, h);
    nb__stream_counters(st)->repartitioned++;
    err = nb__emit(st, nb__stream_conf(st)->by_child_topic, part, m->key_hex, strlen(m->key_hex),
                   value, len, h);
    nb_buf_free(&enc);
    nb_buf_free(&packed);
    return err;
}

/* Sends what a key received to the dead-letter topic: the consumed record when there is one
 * (a by-child record goes as the record first read), else the value with its origin. */
nb_err_t nb__msg_dead_letter(nb__pipeline_t *p, nb_stream_t *st, const nb__msg_t *m,
                                    nb_err_t code, const char *why)
{
    if (m->rkm)
        return nb__dead_letter(st, m->rkm, code, why);
    nb_buf_t enc = {0};
    const void *value = m->value;
    size_t len = m->len;
    if (m->kind == NB__K_DIGEST && !value && m->note && !nb__encode_note(p, m->note, &enc)) {
        value = enc.data;
        len = enc.len;
    }
    nb__origin_t o = m->src;
    if (!o.topic) { /* made here: the key it was for */
        o.topic = nb__stream_conf(st)->by_child_topic;
        o.partition = nb__partition_of(st, m->key);
        o.offset = o.ts = -1;
        o.key = m->key_hex;
        o.key_len = strlen(m->key_hex);
    }
    nb_err_t err = nb__dead_letter_origin(st, &o, value, len, code, why);
    nb_buf_free(&enc);
    return err;
}

/* The pregnant person's NHS number of an antenatal event (for maternity services). */
const char *nb__mother_of(const nb_record_t *rec)
{
    if (rec->type != NB_RECORD_APPOINTMENT || rec->u.appt.subject_kind != NB_SUBJECT_UNBORN ||
        strcmp(rec->u.appt.pregnant_person_id.system, NB_SYSTEM_NHS_NUMBER) != 0)
        return NULL;
    return rec->u.appt.pregnant_person_id.value;
}

/* The provisional key of an unresolved event: SHA-256 of what would resolve it. */
void nb__provisional_key(const nb_identity_resolution_t *res, char hex[NB_KEY_MAX + 1])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(res->want, sizeof(res->want), digest);
    nb__key_hex(digest, hex);
}

/* Applies an appointment event or a context fact to the child's ledger; one that changes it
 * is kept on the audit topic as a compact record (no personal data), in this transaction, so
 * that the child's chronology outlives the source topics' retention. */
NB_NODISCARD static nb_err_t nb__apply_event(nb__pipeline_t *p, nb_stream_t *st, nb__child_t *c,
                                             const nb__msg_t *m, int64_t now, bool *changed)
{
    nb_record_t dec;
    const nb_record_t *rec = m->rec;
    const nb_ledger_keys_t *keys = m->rec ? m->keys : NULL;
    nb_ledger_change_t ch = NB_LEDGER_UNCHANGED;
    nb_err_t err;
    if (!rec) {
        if ((err = nb_codec_decode(p->codec, m->value, m->len, NB_RECORD_NONE, &dec, p->errstr,
                                   sizeof(p->errstr))))
            return err;
        rec = &dec;
    }
    if (rec->type == NB_RECORD_APPOINTMENT) {
        const nb_appointment_event_t *a = &rec->u.appt;
        /* A pregnancy kept under its local identifier's own key (no link known when it was
         * resolved) remembers what moves it once a link is known (state kind 6). */
        if (a->subject_kind == NB_SUBJECT_UNBORN && !c->has_preg &&
            strcmp(a->pregnant_person_id.system, NB_SYSTEM_NHS_NUMBER) != 0) {
            char lit[NB_KEY_MAX + 1];
            nb_identity_preg_ref_t ref;
            if (nb_identity_pregnancy_ref(p->idt, &a->pregnant_person_id,
                                          a->expected_delivery_date, &ref, lit) == NB_ERR_OK &&
                strcmp(lit, m->key_hex) == 0) {
                c->has_preg = true;
                c->preg = ref;
            }
        }
        nb_notify_evidence_of(a, &p->cause);
        p->has_cause = true;
        err = keys ? nb_ledger_apply_keyed(c->led, a, keys, &ch)
                   : nb_ledger_apply(c->led, a, &ch);
        if (!err && ch != NB_LEDGER_UNCHANGED)
            nb_audit_received_appointment(a, m->key_hex, now, &p->audit->u.audit);
    }
    else if (rec->type == NB_RECORD_CONTEXT_FACT) {
        p->fact_cause = rec->u.fact;
        p->has_fact_cause = true;
        err = nb_ledger_apply_fact(c->led, &rec->u.fact, &ch);
        if (!err && ch != NB_LEDGER_UNCHANGED)
            nb_audit_received_fact(&rec->u.fact, m->key_hex, now, &p->audit->u.audit);
    }
    else
        return NB_ERR_SCHEMA_MISMATCH;
    if (!err && ch != NB_LEDGER_UNCHANGED)
        err = nb__audit(p, st);
    *changed = *changed || ch != NB_LEDGER_UNCHANGED;
    return err;
}

static const char *nb__header(const rd_kafka_message_t *rkm, const char *name, char *buf,
                              size_t size)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(rkm, &h))
        h = NULL;
    return nb__header_str(h, name, buf, size);
}

nb_err_t nb__pipeline_by_child(nb__pipeline_t *p, nb_stream_t *st, const rd_kafka_message_t *rkm,
                               int64_t now)
{
    char kind[16], nhs[NB_NHS_LEN + 1], mother[NB_NHS_LEN + 1], topic[NB_IDENTITY_TOPIC_MAX + 1];
    char role[NB_ID_MAX + 1], route[NB_SYSTEM_MAX + 1], buf[32];
    nb__msg_t m;
    memset(&m, 0, sizeof(m));
    size_t klen = rkm->key_len < NB_KEY_MAX ? rkm->key_len : NB_KEY_MAX;
    memcpy(m.key_hex, rkm->key ? rkm->key : "", rkm->key ? klen : 0);
    m.key_hex[rkm->key ? klen : 0] = '\0';
    if (!nb__unhex32(m.key_hex, m.key) || !rkm->payload)
        return nb__dead_letter(st, rkm, NB_ERR_INVALID_ARG, "by-child record without a child key");
    nb__header(rkm, "nb.kind", kind, sizeof(kind));
    m.kind = NB__K__COUNT;
    for (int k = 0; k < NB__K__COUNT; k++)
        if (strcmp(kind, nb__kind_name[k]) == 0)
            m.kind = (nb__kind_t)k;
    if (m.kind == NB__K__COUNT)
        return nb__dead_letter(st, rkm, NB_ERR_INVALID_ARG, "by-child record of unknown kind");
    m.value = rkm->payload;
    m.len = rkm->len;
    m.rkm = rkm;
    m.nhs = nb__header(rkm, "nb.nhs", nhs, sizeof(nhs));
    m.mother = nb__header(rkm, "nb.mother", mother, sizeof(mother));
    m.role = nb__header(rkm, "nb.role", role, sizeof(role));
    m.route = nb__header(rkm, "nb.route", route, sizeof(route));
    m.period_end = atoll(nb__header(rkm, "nb.period_end", buf, sizeof(buf)));
    nb__origin_from_headers(rkm, &m.src, topic, sizeof(topic));
    rd_kafka_headers_t *h = NULL;
    if (m.kind == NB__K_PARK && !rd_kafka_message_headers(rkm, &h) && h &&
        rd_kafka_header_get_last(h, "nb.suggestion", &m.sugg, &m.sugg_len))
        m.sugg = NULL;
    return nb__handle(p, st, rkm->partition, &m, now);
}

/* Moves the history kept under @p key (an owned partition's) to @p into_hex: delivered there
 * as a merge, and removed here, in this transaction. Nothing when the key holds no child
 * state. */
nb_err_t nb__move_here(nb__pipeline_t *p, nb_stream_t *st, int32_t part,
                              const uint8_t key[NB__KEY_LEN], const char *key_hex,
                              const char *into_hex, int64_t now)
{
    size_t len;
    nb__msg_t msg;
    if (strcmp(key_hex, into_hex) == 0)
        return NB_ERR_OK;
    const uint8_t *val = nb__state_get(st, part, key, &len);
    if (!val || len < 5 || !NB__IS_CHILD(val[4]))
        return NB_ERR_OK;
    memset(&msg, 0, sizeof(msg));
    msg.kind = NB__K_MERGE;
    nb_str_copy(msg.key_hex, sizeof(msg.key_hex), into_hex);
    if (!nb__unhex32(msg.key_hex, msg.key))
        return NB_ERR_INVALID_ARG;
    /* A copy: delivering here may change the store the value lives in. */
    uint8_t *copy = malloc(len);
    if (!copy)
        return NB_ERR_NOMEM;
    memcpy(copy, val, len);
    msg.value = copy;
    msg.len = len;
    NB_LOG(NB_LOG_INFO, "identity", "history of %.12s moves to %.12s", key_hex, into_hex);
    nb_err_t err = nb__deliver(p, st, &msg, now);
    if (!err)
        err = nb__state_put(st, part, key, NULL, 0); /* its timer goes with it */
    if (!err)
        nb__preg_note(p, part, key, NULL, 0);
    free(copy);
    return err;
}

/* What a key of an owned partition received: apply to its state, evaluate, notify. */
static nb_err_t nb__handle(nb__pipeline_t *p, nb_stream_t *st, int32_t part, const nb__msg_t *m,
                           int64_t now)
{
    nb_err_t err;
    p->errstr[0] = '\0';
    p->has_cause = false;
    p->has_fact_cause = false;
    if (m->kind == NB__K_PARK)
        return nb__park(p, st, part, m, now);
    if (m->kind == NB__K_MOVE) {
        char into[NB_KEY_MAX + 1];
        if (m->len != NB_KEY_MAX)
            return nb__msg_dead_letter(p, st, m, NB_ERR_INVALID_ARG, "move without a target key");
        memcpy(into, m->value, NB_KEY_MAX);
        into[NB_KEY_MAX] = '\0';
        return nb__move_here(p, st, part, m->key, m->key_hex, into, now);
    }
    if (m->kind == NB__K_DIGEST) {
        err = nb__digest_add(p, st, m, part, now);
        return err == NB_ERR_KAFKA_ABORTABLE || err == NB_ERR_KAFKA_FATAL || !err
                   ? err
                   : nb__msg_dead_letter(p, st, m, err, p->errstr[0] ? p->errstr
                                                                      : nb_err_str(err));
    }
    size_t len = 0;
    const uint8_t *val = nb__state_get(st, part, m->key, &len);
    nb__child_t c;
    err = nb__child_load(p, val, len, p->led, &c);
    if (err) {
        /* Never start afresh over it: the next save would replace the child's history in the
         * changelog for good. State a newer release wrote (during a rolling upgrade) or a
         * value that does not decode stays as it is; the record goes to the dead letters
         * with the reason, to be replayed by a release that reads it (docs/architecture.md,
         * "Formats and rolling upgrades"). */
        char why[sizeof(p->errstr) + 160];
        nb__state_refusal(val, len, p->errstr, why, sizeof(why));
        NB_LOG(NB_LOG_ERROR, "stream", "child %.12s: %s", m->key_hex, why);
        return nb__msg_dead_letter(p, st, m, err, why);
    }
    if (m->nhs && m->nhs[0])
        nb_str_copy(c.nhs, sizeof(c.nhs), m->nhs);
    if (m->mother && m->mother[0] && nb_nhs_validate(m->mother) == NB_ERR_OK)
        nb_str_copy(c.mother, sizeof(c.mother), m->mother);
    bool changed = false;
    if (m->kind == NB__K_ACK) {
        nb_record_t dec;
        const nb_record_t *rec = m->rec;
        err = NB_ERR_OK;
        if (!rec) {
            err = nb_codec_decode(p->codec, m->value, m->len, NB_RECORD_ACK, &dec, p->errstr,
                                  sizeof(p->errstr));
            rec = &dec;
        }
        if (!err) {
            /* Take, reassign or close (docs/inbox.md): the first applied wins; the verdict
             * is the audit record the inbox learns the outcome from. */
            nb_notify_outcome_t o;
            nb_notify_verdict_t r = nb_notify_apply(p->pol, &c.ns, c.led, &rec->u.ack, now, &o);
            err = nb__audit_action(p, st, &rec->u.ack, &o, m->key_hex, now);
            if (!err && r != NB_NOTIFY_DUPLICATE && r != NB_NOTIFY_REFUSED &&
                r != NB_NOTIFY_UNKNOWN) {
                /* A closed notification has no escalation left; a taken one may stop, a
                 * reassigned one's timers move (the ladder's ownership keys). */
                err = nb__lifecycle(p, st, &c, m->key_hex, true, now);
                if (!err)
                    err = nb__child_save(p, st, part, m->key, &c);
            }
        }
        return err == NB_ERR_KAFKA_ABORTABLE || err == NB_ERR_KAFKA_FATAL || !err
                   ? err
                   : nb__msg_dead_letter(p, st, m, err, p->errstr);
    }
    if (m->kind == NB__K_MERGE) {
        /* The history of another key (an old NHS number, a pregnancy) joins this child. */
        nb__child_t from;
        err = nb__child_load(p, m->value, m->len, p->led_from, &from);
        if (!err)
            err = nb_ledger_merge(c.led, from.led);
        if (!c.nhs[0] && from.nhs[0])
            memcpy(c.nhs, from.nhs, sizeof(c.nhs));
        if (!c.mother[0] && from.mother[0])
            memcpy(c.mother, from.mother, sizeof(c.mother));
        changed = true;
    } else {
        err = nb__apply_event(p, st, &c, m, now, &changed);
    }
    if (err == NB_ERR_KAFKA_ABORTABLE || err == NB_ERR_KAFKA_FATAL)
        return err; /* the audit record was not taken: the transaction aborts */
    if (err)
        return nb__msg_dead_letter(p, st, m, err,
                                   p->errstr[0]          ? p->errstr
                                   : err == NB_ERR_LIMIT ? nb_ledger_limit_str(c.led)
                                                         : nb_err_str(err));
    if (changed) {
        nb_ledger_prune(c.led, nb_policy_horizon(p->pol, now));
        err = nb__lifecycle(p, st, &c, m->key_hex, false, now);
        if (!err)
            err = nb__child_save(p, st, part, m->key, &c);
    }
    return err;
}
