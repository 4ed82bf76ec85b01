/*
 * notbrought - stream: the state stores as the batch sees them (with pre-images to undo an abort) and
 * producing into the open transaction (records that wait for it while the last one commits).
 */
#include "stream/runtime.h"

/* ---- state and undo ----------------------------------------------------------------------- */

const nb_config_t *nb__stream_conf(const nb_stream_t *st)
{
    return st->conf;
}

nb_stream_stats_t *nb__stream_counters(nb_stream_t *st)
{
    return &st->stats;
}

int32_t nb__partition_of(const nb_stream_t *st, const uint8_t key[NB__KEY_LEN])
{
    uint32_t h = (uint32_t)nb_be_get(key, 4);
    return (int32_t)(h % (uint32_t)st->partitions);
}

/* A count summed over the stores of the owned partitions. */
static size_t nb__stores_sum(const nb_stream_t *st, size_t (*count)(const nb__store_t *))
{
    size_t n = 0;
    for (int p = 0; p < st->partitions; p++)
        if (st->stores[p])
            n += count(st->stores[p]);
    return n;
}

size_t nb__stream_keys(const nb_stream_t *st)
{
    return nb__stores_sum(st, nb__store_count);
}

size_t nb__stream_state_bytes(const nb_stream_t *st)
{
    return nb__stores_sum(st, nb__store_bytes);
}

int32_t nb__stream_partitions(const nb_stream_t *st)
{
    return st->partitions;
}

size_t nb__stream_timed(const nb_stream_t *st)
{
    return nb__stores_sum(st, nb__store_timed);
}

bool nb__state_timer(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                     nb__timer_slot_t *out)
{
    if (!nb__owns(st, partition)) {
        out->due = out->esc = NB_TIME_NONE;
        return false;
    }
    return nb__store_timer(st->stores[partition], key, out);
}

bool nb__state_timer_set(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                         const nb__timer_slot_t *timer, nb__timer_slot_t *old)
{
    if (!nb__owns(st, partition)) {
        old->due = old->esc = NB_TIME_NONE;
        return false;
    }
    return nb__store_timer_set(st->stores[partition], key, timer, old);
}

int nb__state_scan(nb_stream_t *st, int32_t partition, nb__store_scan_cb_t *cb, void *opaque)
{
    return nb__owns(st, partition) ? nb__store_scan(st->stores[partition], cb, opaque) : 0;
}

bool nb__owns(const nb_stream_t *st, int32_t partition)
{
    return partition >= 0 && partition < st->partitions && st->stores[partition] != NULL;
}

bool nb__deliver_here(const nb_stream_t *st, int32_t partition)
{
    return st->conf->local_by_child && !st->restore.catching_up && nb__owns(st, partition);
}

const uint8_t *nb__state_get(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                             size_t *len)
{
    if (!nb__owns(st, partition))
        return NULL;
    return nb__store_get(st->stores[partition], key, len);
}

nb_err_t nb__state_put(nb_stream_t *st, int32_t partition, const uint8_t key[NB__KEY_LEN],
                       const void *val, size_t len)
{
    nb_err_t err = nb__owns(st, partition) ? nb__begin(st) : NB_ERR_INVALID_ARG;
    if (err)
        return err;
    nb__undo_log_t *log = &st->batch.undo;
    if (nb_grow((void **)&log->v, &log->cap, log->n, sizeof(*log->v), 1024))
        return NB_ERR_NOMEM;
    uint8_t *old = NULL;
    size_t old_len = 0;
    bool existed = false, marked = false;
    if ((err = nb__store_swap(st->stores[partition], key, len ? val : NULL, len, st->batch.seq,
                              &old, &old_len, &existed, &marked)))
        return err;
    if (!marked) {
        /* The first change of this key in the batch: its pre-image, for an abort. */
        nb__undo_t *u = &log->v[log->n++];
        u->partition = partition;
        memcpy(u->key, key, NB__KEY_LEN);
        u->existed = existed;
        u->val = old;
        u->len = old_len;
    }
    char hex[2 * NB__KEY_LEN + 1];
    nb__key_hex(key, hex);
    return nb__emit(st, st->conf->changelog_topic, partition, hex, 2 * NB__KEY_LEN, val, len,
                    NULL);
}

void nb__undo_clear(nb__undo_log_t *log)
{
    for (size_t i = 0; i < log->n; i++)
        free(log->v[i].val);
    log->n = 0;
}

void nb__undo_free(nb__undo_log_t *log)
{
    nb__undo_clear(log);
    free(log->v);
    memset(log, 0, sizeof(*log));
}

/* Puts back every state entry a rolled-back batch changed, the latest change first. */
void nb__undo_apply(nb_stream_t *st, nb__undo_log_t *log)
{
    for (size_t i = log->n; i-- > 0;) {
        const nb__undo_t *u = &log->v[i];
        int32_t p = u->partition;
        if (nb__owns(st, p)) {
            if (!u->existed) {
                nb__store_del(st->stores[p], u->key);
            } else if (nb__store_put(st->stores[p], u->key, u->val, u->len) != NB_ERR_OK) {
                /* The store keeps the rolled-back value, to which the batch's records, read
                 * again, would be applied a second time. Stop: the next start restores the
                 * state from the changelog, which never saw the aborted batch. */
                NB_LOG(NB_LOG_ERROR, "stream",
                       "rollback: a state of partition %d cannot be put back (out of memory): "
                       "stopping",
                       (int)p);
                st->fatal = true;
            }
            nb__pipeline_state_loaded(st->pipe, st, p, u->key, u->existed ? u->val : NULL,
                                      u->existed ? u->len : 0);
        }
    }
    nb__undo_clear(log);
}

/* ---- producing --------------------------------------------------------------------------- */

/* Opens a batch; begins its producer transaction unless the last one is still committing. */
nb_err_t nb__begin(nb_stream_t *st)
{
    if (!st->batch.open) {
        st->batch.open = true;
        st->batch.seq++;
        st->batch.start = nb__now();
        st->batch.records = 0;
        st->batch.emitted = 0;
    }
    if (st->batch.begun || st->commit.busy)
        return NB_ERR_OK;
    rd_kafka_error_t *error = rd_kafka_begin_transaction(st->producer);
    if (error) {
        NB_LOG(NB_LOG_ERROR, "stream", "begin_transaction: %s", rd_kafka_error_string(error));
        bool fatal = rd_kafka_error_is_fatal(error);
        rd_kafka_error_destroy(error);
        if (fatal)
            st->fatal = true;
        return fatal ? NB_ERR_KAFKA_FATAL : NB_ERR_KAFKA_ABORTABLE;
    }
    st->batch.begun = true;
    return NB_ERR_OK;
}

/* The producer's handle of @p topic, made on first use (NULL when NB__MAX_TOPIC_HANDLES are
 * taken: the caller produces by name). */
static rd_kafka_topic_t *nb__topic_handle(nb_stream_t *st, const char *topic)
{
    for (size_t i = 0; i < st->n_topics; i++)
        if (st->topics[i].name == topic)
            return st->topics[i].rkt;
    for (size_t i = 0; i < st->n_topics; i++)
        if (strcmp(st->topics[i].name, topic) == 0)
            return st->topics[i].rkt;
    if (st->n_topics == NB__MAX_TOPIC_HANDLES)
        return NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(st->producer, topic, NULL);
    if (rkt) {
        st->topics[st->n_topics].name = topic;
        st->topics[st->n_topics++].rkt = rkt;
    }
    return rkt;
}

/* Produces one record into the begun transaction. @p flags: RD_KAFKA_MSG_F_COPY, or
 * RD_KAFKA_MSG_F_FREE to hand the value over (kept by the caller on error). @p hdrs are taken
 * over in either case. */
NB_NODISCARD static nb_err_t nb__produce(nb_stream_t *st, const char *topic, int32_t partition,
                                         const void *key, size_t key_len, void *value,
                                         size_t value_len, rd_kafka_headers_t *hdrs, int flags)
{
    rd_kafka_topic_t *rkt = nb__topic_handle(st, topic);
    for (;;) {
        rd_kafka_resp_err_t rerr =
            rkt ? rd_kafka_producev(st->producer, RD_KAFKA_V_RKT(rkt),
                                    RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
                                    RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_MSGFLAGS(flags),
                                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END)
                : rd_kafka_producev(st->producer, RD_KAFKA_V_TOPIC(topic),
                                    RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
                                    RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_MSGFLAGS(flags),
                                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR) {
            st->batch.emitted++;
            return NB_ERR_OK;
        }
        if (rerr == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(st->producer, 50);
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (rerr == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            /* The record's own failure, not Kafka's (nb__emit checks first; this is the
             * client's own check, should it count differently). */
            NB_LOG(NB_LOG_WARN, "stream", "produce to %s: %zu bytes: %s", topic,
                   key_len + value_len, rd_kafka_err2str(rerr));
            return NB_ERR_RECORD_TOO_LARGE;
        }
        NB_LOG(NB_LOG_ERROR, "stream", "produce to %s: %s", topic, rd_kafka_err2str(rerr));
        if (rerr == RD_KAFKA_RESP_ERR__FATAL) {
            st->fatal = true;
            return NB_ERR_KAFKA_FATAL;
        }
        return NB_ERR_KAFKA_ABORTABLE;
    }
}

void nb__pending_clear(nb_stream_t *st)
{
    for (size_t i = 0; i < st->batch.n_pending; i++) {
        free(st->batch.pending[i].key);
        free(st->batch.pending[i].value);
        if (st->batch.pending[i].hdrs)
            rd_kafka_headers_destroy(st->batch.pending[i].hdrs);
    }
    st->batch.n_pending = 0;
}

/* Keeps a record for the batch's transaction, which begins once the last commit is settled. */
NB_NODISCARD static nb_err_t nb__pending_add(nb_stream_t *st, const char *topic, int32_t partition,
                                             const void *key, size_t key_len, const void *value,
                                             size_t value_len, rd_kafka_headers_t *hdrs)
{
    if (nb_grow((void **)&st->batch.pending, &st->batch.cap_pending, st->batch.n_pending,
                sizeof(*st->batch.pending), 1024))
        goto nomem;
    nb__pending_t *e = &st->batch.pending[st->batch.n_pending];
    e->topic = topic;
    e->partition = partition;
    e->key_len = key ? key_len : 0;
    e->value_len = value ? value_len : 0;
    e->key = e->key_len ? malloc(e->key_len) : NULL;
    e->value = e->value_len ? malloc(e->value_len) : NULL;
    if ((e->key_len && !e->key) || (e->value_len && !e->value)) {
        free(e->key);
        free(e->value);
        goto nomem;
    }
    if (e->key_len)
        memcpy(e->key, key, e->key_len);
    if (e->value_len)
        memcpy(e->value, value, e->value_len);
    e->hdrs = hdrs;
    st->batch.n_pending++;
    return NB_ERR_OK;
nomem:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    return NB_ERR_NOMEM;
}

/* Produces what waited for the batch's transaction (just begun). */
nb_err_t nb__pending_flush(nb_stream_t *st)
{
    nb_err_t err = NB_ERR_OK;
    for (size_t i = 0; i < st->batch.n_pending && !err; i++) {
        nb__pending_t *e = &st->batch.pending[i];
        err = nb__produce(st, e->topic, e->partition, e->key, e->key_len, e->value,
                          e->value_len, e->hdrs, e->value ? RD_KAFKA_MSG_F_FREE : 0);
        e->hdrs = NULL; /* taken over either way */
        if (!err)
            e->value = NULL; /* the producer frees it */
    }
    /* The keys; on error also what was not produced (the batch is rolled back). */
    nb__pending_clear(st);
    return err;
}

/* An upper bound of the size librdkafka gives a record when it checks message.max.bytes (a
 * record batch's header, the record's own varints and attributes, every header). */
size_t nb__wire_size(size_t key_len, size_t value_len, rd_kafka_headers_t *hdrs)
{
    size_t n = key_len + value_len + 128;
    const char *name;
    const void *v;
    size_t size;
    for (size_t i = 0; hdrs && rd_kafka_header_get_all(hdrs, i, &name, &v, &size) == 0; i++)
        n += strlen(name) + size + 16;
    return n;
}

nb_err_t nb__emit(nb_stream_t *st, const char *topic, int32_t partition, const void *key,
                  size_t key_len, const void *value, size_t value_len, rd_kafka_headers_t *hdrs)
{
    /* Checked before it is kept for a transaction that begins later (nb__pending_add): the
     * failure belongs to the record being handled now, which is then set aside. */
    if (key_len + value_len + 128 > st->max_msg ||
        (hdrs && nb__wire_size(key_len, value_len, hdrs) > st->max_msg)) {
        NB_LOG(NB_LOG_DEBUG, "stream", "a record for %s of %zu bytes exceeds message.max.bytes "
               "(%zu)", topic, nb__wire_size(key_len, value_len, hdrs), st->max_msg);
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return NB_ERR_RECORD_TOO_LARGE;
    }
    nb_err_t err = nb__begin(st);
    if (err) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return err;
    }
    if (!st->batch.begun)
        return nb__pending_add(st, topic, partition, key, key_len, value, value_len, hdrs);
    return nb__produce(st, topic, partition, key, key_len, (void *)value, value_len, hdrs,
                       RD_KAFKA_MSG_F_COPY);
}
