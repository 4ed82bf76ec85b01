/*
 * notbrought - stream: demographic link suggestions leave the identity module.
 *
 * When identity.suggest_demographic_links is on, nb_identity_resolve() may attach to an
 * unresolved event a suggested link (docs/identity.md, "Demographic suggestions"). The event is
 * parked as ever; the suggestion becomes an IdentitySuggestion record (schemas/
 * identity_suggestion.avsc) on topics.identity_suggestions, for the people who review identity.
 * Nothing joins until one of them publishes the link.
 *
 * Exactly once, and once per pair. The record is made where the event is read (that instance
 * learned the demographics) and published by the owner of the event's provisional key, in the
 * transaction that parks the event: locally, or after the by-child hop, where the encoded
 * record travels in the by-child record's nb.suggestion header. The owner remembers the pairs
 * (local identifier, candidate child) it has suggested for a provisional key in a marker entry
 * of the same partition's state, so the remembering is changelogged, rolled back by an abort
 * and moved by a rebalance like the parked events themselves: a replayed batch publishes
 * nothing a read_committed reader saw, and the tenth event of the same unknown identifier
 * suggests nothing new. The marker goes when the key's last parked event leaves (released by a
 * link, or expired); a later event of that identifier may then be suggested again.
 *
 * Marker entry: key = SHA-256("nb1:suggested" 0 provisional key) with the provisional key's
 * first four bytes (which choose the partition, nb__partition_of()); value "NBS" 1, kind 5,
 * u8 n, then n suggestion digests of NB__SUGG_ID_LEN bytes (the hex of "suggest-<24 hex>"
 * read back as bytes), oldest first, at most NB__SUGG_MAX (the oldest is forgotten first).
 *
 * Nothing here logs: a suggestion carries an NHS number and a local identifier. It is counted
 * in notbrought_identity_suggestions_total{result}.
 */
#include "stream/internal.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/ops.h"

#define NB__STATE_SUGGESTED 5
#define NB__SUGG_ID_LEN 12 /* "suggest-" + 24 hex digits: 12 bytes */
#define NB__SUGG_MAX 16    /* pairs remembered per provisional key */
#define NB__SUGG_PREFIX "suggest-"

nb_err_t nb__suggestion_encode(nb_codec_t *codec, const nb_identity_suggestion_t *sg,
                               const nb_record_t *cause, int64_t now, nb_buf_t *out,
                               char *errstr, size_t errstr_size)
{
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_SUGGESTION;
    nb_suggestion_t *s = &rec.u.sugg;
    nb_str_copy(s->suggestion_id, sizeof(s->suggestion_id), sg->link.event_id);
    s->link = sg->link;
    s->link.recorded_at = now; /* when it was suggested; the reviewer re-stamps it */
    nb_str_copy(s->candidate_key, sizeof(s->candidate_key), sg->child_key);
    s->cause_recorded_at = NB_TIME_NONE;
    if (cause && cause->type == NB_RECORD_APPOINTMENT) {
        const nb_appointment_event_t *a = &cause->u.appt;
        nb_str_copy(s->cause_event_id, sizeof(s->cause_event_id), a->event_id);
        s->cause_source = a->source;
        s->cause_recorded_at = a->recorded_at;
    } else if (cause && cause->type == NB_RECORD_CONTEXT_FACT) {
        const nb_context_fact_t *f = &cause->u.fact;
        nb_str_copy(s->cause_event_id, sizeof(s->cause_event_id), f->event_id);
        s->cause_source.agency = NB_AGENCY_OTHER;
        nb_str_copy(s->cause_source.system, sizeof(s->cause_source.system), f->source_system);
        nb_str_copy(s->cause_source.organisation_code, sizeof(s->cause_source.organisation_code),
                    f->organisation_code);
        s->cause_recorded_at = f->recorded_at;
    }
    s->matched = sg->matched;
    s->candidates = sg->candidates;
    s->suggested_at = now;
    return nb_codec_encode(codec, &rec, out, errstr, errstr_size);
}

/* The marker key of a provisional key: in the same partition, never equal to a child key. */
static void nb__marker_key(const uint8_t prov[NB__KEY_LEN], uint8_t out[NB__KEY_LEN])
{
    uint8_t msg[sizeof("nb1:suggested") + NB__KEY_LEN];
    memcpy(msg, "nb1:suggested", sizeof("nb1:suggested")); /* with its NUL */
    memcpy(msg + sizeof("nb1:suggested"), prov, NB__KEY_LEN);
    SHA256(msg, sizeof(msg), out);
    memcpy(out, prov, 4);
}

/* The digest of "suggest-<24 hex>". @returns false for any other id. */
static bool nb__sugg_digest(const char *id, uint8_t out[NB__SUGG_ID_LEN])
{
    size_t pl = strlen(NB__SUGG_PREFIX);
    if (strncmp(id, NB__SUGG_PREFIX, pl) != 0 || strlen(id) != pl + 2 * NB__SUGG_ID_LEN)
        return false;
    for (size_t i = 0; i < NB__SUGG_ID_LEN; i++) {
        unsigned v = 0;
        for (size_t k = 0; k < 2; k++) {
            char c = id[pl + 2 * i + k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                                : 16u;
            if (d > 15)
                return false;
            v = v << 4 | d;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

/* The digests a marker value holds (n of them at *ids), or 0 for a value that is not one. */
static size_t nb__marker_ids(const uint8_t *val, size_t len, const uint8_t **ids)
{
    if (!val || len < 6 || memcmp(val, "NBS\1", 4) != 0 || val[4] != NB__STATE_SUGGESTED ||
        len != 6 + (size_t)val[5] * NB__SUGG_ID_LEN)
        return 0;
    *ids = val + 6;
    return val[5];
}

nb_err_t nb__suggestion_publish(nb_codec_t *codec, nb_stream_t *st, int32_t part,
                                const uint8_t prov[NB__KEY_LEN], const void *value, size_t len)
{
    const nb_config_t *conf = nb__stream_conf(st);
    if (!conf->suggest_demographic_links || !value || !len)
        return NB_ERR_OK;
    nb_record_t rec;
    char errstr[256];
    uint8_t dig[NB__SUGG_ID_LEN];
    /* Made by an instance of this program: a record that does not read back is a bug of ours,
     * said without its content, and not a reason to lose the event it came with. */
    if (nb_codec_decode(codec, value, len, NB_RECORD_SUGGESTION, &rec, errstr, sizeof(errstr)) ||
        !nb__sugg_digest(rec.u.sugg.suggestion_id, dig)) {
        NB_LOG(NB_LOG_ERROR, "identity", "partition %d: a suggestion that does not decode was "
               "not published", (int)part);
        nb_metrics_add(nb__stream_metrics(st), NB_M_IDENTITY_SUGGESTIONS, "unreadable", 1);
        return NB_ERR_OK;
    }
    uint8_t mkey[NB__KEY_LEN];
    nb__marker_key(prov, mkey);
    size_t old_len = 0;
    const uint8_t *old = nb__state_get(st, part, mkey, &old_len), *ids = NULL;
    size_t n = nb__marker_ids(old, old_len, &ids);
    for (size_t i = 0; i < n; i++) {
        if (memcmp(ids + i * NB__SUGG_ID_LEN, dig, NB__SUGG_ID_LEN) == 0) {
            nb_metrics_add(nb__stream_metrics(st), NB_M_IDENTITY_SUGGESTIONS, "repeated", 1);
            return NB_ERR_OK;
        }
    }
    size_t keep = n < NB__SUGG_MAX ? n : NB__SUGG_MAX - 1, nlen = 6 + (keep + 1) * NB__SUGG_ID_LEN;
    uint8_t *nv = malloc(nlen);
    if (!nv)
        return NB_ERR_NOMEM;
    memcpy(nv, "NBS\1", 4);
    nv[4] = NB__STATE_SUGGESTED;
    nv[5] = (uint8_t)(keep + 1);
    if (keep)
        memcpy(nv + 6, ids + (n - keep) * NB__SUGG_ID_LEN, keep * NB__SUGG_ID_LEN);
    memcpy(nv + 6 + keep * NB__SUGG_ID_LEN, dig, NB__SUGG_ID_LEN);
    /* The record first: the marker is only worth keeping when the record went out with it. */
    const char *id = rec.u.sugg.suggestion_id;
    nb_err_t err = nb__emit(st, conf->identity_suggestions_topic, RD_KAFKA_PARTITION_UA, id,
                            strlen(id), value, len, NULL);
    if (err) {
        free(nv);
        return err;
    }
    err = nb__state_put(st, part, mkey, nv, nlen);
    free(nv);
    if (err)
        return err;
    nb_metrics_add(nb__stream_metrics(st), NB_M_IDENTITY_SUGGESTIONS, "published", 1);
    return NB_ERR_OK;
}

nb_err_t nb__suggestion_forget(nb_stream_t *st, int32_t part, const uint8_t prov[NB__KEY_LEN])
{
    uint8_t mkey[NB__KEY_LEN];
    size_t len = 0;
    nb__marker_key(prov, mkey);
    if (!nb__state_get(st, part, mkey, &len))
        return NB_ERR_OK;
    return nb__state_put(st, part, mkey, NULL, 0);
}
