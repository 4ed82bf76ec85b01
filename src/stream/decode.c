/*
 * notbrought - stream: decoding ahead: source records decoded and resolved on the decoder thread
 * before the main loop handles them.
 */
#include "stream/pipeline.h"

/* ---- decoding ahead --------------------------------------------------------------------------- */

struct nb__decoder_s {
    const nb_config_t *conf;
    nb_validate_opts_t vopts;
    nb_codec_t *codec; /* its own: a codec keeps reusable Avro values */
};

nb__decoder_t *nb__decoder_new(const nb__pipeline_t *p, char *errstr, size_t errstr_size)
{
    nb__decoder_t *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    d->conf = p->conf;
    d->vopts = p->vopts;
    if (!(d->codec = nb_codec_new(p->reg, errstr, errstr_size))) {
        free(d);
        return NULL;
    }
    return d;
}

void nb__decoder_destroy(nb__decoder_t *d)
{
    if (!d)
        return;
    nb_codec_destroy(d->codec);
    free(d);
}

static void nb__decode(nb_codec_t *codec, const nb_config_t *conf,
                       const nb_validate_opts_t *vopts, const rd_kafka_message_t *rkm,
                       int64_t now, nb__decoded_t *out)
{
    out->errstr[0] = '\0';
    out->keyed = false;
    if (!rkm->payload) {
        out->err = NB_ERR_FRAME_TRUNCATED;
        snprintf(out->errstr, sizeof(out->errstr), "record has no value");
        return;
    }
    nb_record_type_t expect = nb__expect(conf, rd_kafka_topic_name(rkm->rkt));
    out->err = nb_codec_decode(codec, rkm->payload, rkm->len, expect, &out->rec, out->errstr,
                               sizeof(out->errstr));
    if (!out->err)
        out->err = nb_codec_validate(&out->rec, vopts, now, out->errstr, sizeof(out->errstr));
    /* The ledger's ids of the event (two SHA-256) are pure: worked out here, on the decoder
     * thread when it got to the record first, rather than where events are applied. */
    if (!out->err && out->rec.type == NB_RECORD_APPOINTMENT) {
        nb_ledger_keys_of(&out->rec.u.appt, &out->keys);
        out->keyed = true;
    }
}

void nb__decoder_run(nb__decoder_t *d, const rd_kafka_message_t *rkm, int64_t now,
                     nb__decoded_t *out)
{
    nb__decode(d->codec, d->conf, &d->vopts, rkm, now, out);
}

/* An appointment or a context fact (in @p m) whose subject the identity table resolves: to
 * its child's key, parked under a provisional key, or set aside (a conflict). */
NB_NODISCARD static nb_err_t nb__source_resolve(nb__pipeline_t *p, nb_stream_t *st,
                                                const rd_kafka_message_t *rkm,
                                                const nb_record_t *rec, nb__msg_t *m, int64_t now)
{
    nb_err_t err;
    nb_identity_subject_t subj;
    if (rec->type == NB_RECORD_APPOINTMENT)
        nb_identity_subject_of_appointment(&subj, &rec->u.appt);
    else if (rec->type == NB_RECORD_CONTEXT_FACT)
        nb_identity_subject_of_fact(&subj, &rec->u.fact);
    else
        return nb__dead_letter(st, rkm, NB_ERR_SCHEMA_MISMATCH, "unexpected record type");
    p->counted = true;
    p->n_events[rec->type == NB_RECORD_APPOINTMENT &&
                        (unsigned)rec->u.appt.source.agency < NB_AGENCY__COUNT
                    ? (size_t)rec->u.appt.source.agency
                    : NB_AGENCY__COUNT]++;
    nb_identity_resolution_t res;
    err = nb_identity_resolve(p->idt, &subj, &res, p->errstr, sizeof(p->errstr));
    size_t how = NB_IDENTITY_METHOD_PREGNANCY_LINK + 2; /* refused */
    if (err == NB_ERR_OK)
        how = (unsigned)res.method <= NB_IDENTITY_METHOD_PREGNANCY_LINK ? (size_t)res.method
                                                                        : NB_IDENTITY_METHOD_NONE;
    else if (err == NB_ERR_IDENTITY_UNRESOLVED)
        how = NB_IDENTITY_METHOD_PREGNANCY_LINK + 1; /* parked */
    p->n_resolved[how]++;
    if (err == NB_ERR_OK) {
        size_t kl = strnlen(res.key, sizeof(m->key_hex) - 1);
        memcpy(m->key_hex, res.key, kl);
        m->key_hex[kl] = '\0';
        if (!nb__key_unhex(m->key_hex, kl, m->key))
            return NB_ERR_INVALID_ARG;
        m->kind = NB__K_EVENT;
        m->nhs = res.nhs_number;
        m->mother = res.pregnant_nhs[0] ? res.pregnant_nhs : nb__mother_of(rec);
        /* A pregnancy named by a local identifier whose link is known: what was kept under
         * the identifier's own key (before the link, or by an earlier version) joins it. */
        if (res.has_merge_from && (err = nb__move_to(p, st, res.merge_from, res.key, now)))
            return err;
        return nb__deliver(p, st, m, now);
    }
    if (err == NB_ERR_IDENTITY_UNRESOLVED) {
        nb__provisional_key(&res, m->key_hex);
        if (!nb__unhex32(m->key_hex, m->key))
            return NB_ERR_INVALID_ARG;
        nb__stream_counters(st)->parked++;
        m->kind = NB__K_PARK;
        /* A suggested link goes with the event to its provisional key's owner (suggest.c). */
        nb_buf_t sugg = {0};
        if (res.has_suggestion &&
            (err = nb__suggestion_encode(p->codec, &res.suggestion, rec, now, &sugg, p->errstr,
                                         sizeof(p->errstr))))
            return err;
        m->sugg = sugg.data;
        m->sugg_len = sugg.len;
        m->rec = NULL;
        m->keys = NULL;
        err = nb__deliver(p, st, m, now);
        nb_buf_free(&sugg);
        return err;
    }
    /* A conflict or an identifier the table refuses: a human must look, nothing joins. */
    char why[600];
    if (err == NB_ERR_IDENTITY_CONFLICT)
        nb_identity_explain(&res, why, sizeof(why));
    else
        nb_str_copy(why, sizeof(why), p->errstr);
    return nb__dead_letter(st, rkm, err, why);
}

nb_err_t nb__pipeline_source(nb__pipeline_t *p, nb_stream_t *st, const rd_kafka_message_t *rkm,
                             int64_t now, const nb__decoded_t *pre)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    if (!pre) {
        nb__decode(p->codec, p->conf, &p->vopts, rkm, now, &p->decoded);
        pre = &p->decoded;
    }
    p->last_recorded = NB_TIME_NONE;
    if (pre->err)
        return nb__dead_letter(st, rkm, pre->err, pre->errstr);
    const nb_record_t *rec = &pre->rec;
    /* How far this source has recorded: its watermark (runtime.c). */
    p->last_recorded = nb__recorded_of(rec);

    nb__msg_t m;
    memset(&m, 0, sizeof(m));
    m.value = rkm->payload;
    m.len = rkm->len;
    m.rec = rec;
    m.keys = pre->keyed ? &pre->keys : NULL;
    m.src.topic = topic;
    m.src.partition = rkm->partition;
    m.src.offset = rkm->offset;
    m.src.ts = rd_kafka_message_timestamp(rkm, NULL);
    m.src.key = rkm->key;
    m.src.key_len = rkm->key_len;
    m.src_rkm = rkm;
    m.rkm = rkm;
    if (rec->type == NB_RECORD_ACK) {
        /* Acknowledgements carry the notification's Kafka key: the child key. */
        size_t kl = rkm->key_len < NB_KEY_MAX ? rkm->key_len : NB_KEY_MAX;
        memcpy(m.key_hex, rkm->key ? rkm->key : "", rkm->key ? kl : 0);
        m.key_hex[rkm->key ? kl : 0] = '\0';
        if (!nb__unhex32(m.key_hex, m.key))
            return nb__dead_letter(st, rkm, NB_ERR_MISSING_IDENTIFIER,
                                   "an acknowledgement's Kafka key must be the notification's "
                                   "key (the child key)");
        m.kind = NB__K_ACK;
        return nb__deliver(p, st, &m, now);
    }
    return nb__source_resolve(p, st, rkm, rec, &m, now);
}
