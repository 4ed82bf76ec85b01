/*
 * notbrought - stream: records polled ahead of the main loop and the decoder thread that decodes them.
 */
#define _GNU_SOURCE /* gettid() */
#include "stream/runtime.h"

#include <sys/resource.h>
#include <unistd.h>

/* ---- records polled ahead ----------------------------------------------------------------- */

/* The decoder thread: decodes the source records polled, in order, ahead of the main loop. */
static void *nb__decoder_main(void *arg)
{
    nb_stream_t *st = arg;
    /* Spare CPU first: the main loop is the critical path, and it decodes itself what this
     * thread has not got to. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 5) != 0)
        NB_LOG(NB_LOG_DEBUG, "stream", "decoder thread keeps its priority");
    pthread_mutex_lock(&st->ahead.lock);
    for (;;) {
        if (st->ahead.wcur < st->ahead.head)
            st->ahead.wcur = st->ahead.head; /* handled or dropped meanwhile */
        if (st->ahead.quit)
            break;
        if (st->ahead.wcur >= st->ahead.tail) {
            st->ahead.decoder_idle = true;
            pthread_cond_wait(&st->ahead.work, &st->ahead.lock);
            st->ahead.decoder_idle = false;
            continue;
        }
        nb__slot_t *s = &st->ahead.ring[st->ahead.wcur++ % NB__RING];
        if (s->state != NB__SLOT_NEW)
            continue;
        s->state = NB__SLOT_DECODING;
        pthread_mutex_unlock(&st->ahead.lock);
        nb__decoder_run(st->ahead.decoder, s->rkm, s->now, &s->dec);
        pthread_mutex_lock(&st->ahead.lock);
        s->state = NB__SLOT_READY;
        st->ahead.decoded_ahead++;
        if (st->ahead.main_waits)
            pthread_cond_signal(&st->ahead.done);
    }
    pthread_mutex_unlock(&st->ahead.lock);
    return NULL;
}

/* Waits until the decoder is not at slot @p s. @locks ahead.lock held */
static void nb__slot_wait(nb_stream_t *st, const nb__slot_t *s)
{
    while (s->state == NB__SLOT_DECODING) {
        st->ahead.main_waits = true;
        pthread_cond_wait(&st->ahead.done, &st->ahead.lock);
    }
    st->ahead.main_waits = false;
}

/* Drops every record polled and not handled (an abort rewinds to the committed offsets, a
 * stop leaves them to the next run): they will be consumed again. */
void nb__ahead_discard(nb_stream_t *st)
{
    if (!st->ahead.ring)
        return;
    pthread_mutex_lock(&st->ahead.lock);
    while (st->ahead.head < st->ahead.tail) {
        nb__slot_t *s = &st->ahead.ring[st->ahead.head % NB__RING];
        nb__slot_wait(st, s);
        rd_kafka_message_destroy(s->rkm);
        s->rkm = NULL;
        st->ahead.head++;
    }
    pthread_mutex_unlock(&st->ahead.lock);
}

void nb__ahead_skip(nb_stream_t *st, const rd_kafka_topic_partition_list_t *parts)
{
    if (!st->ahead.ring)
        return;
    for (uint64_t i = st->ahead.head; i < st->ahead.tail; i++) {
        nb__slot_t *s = &st->ahead.ring[i % NB__RING];
        if (s->rkm && !s->rkm->err &&
            rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(s->rkm->rkt),
                                               s->rkm->partition))
            s->skip = true;
    }
}

/* Takes the next record polled; *pre is its decoded form when the decoder got to it first,
 * else NULL (decoded when handled). */
rd_kafka_message_t *nb__ahead_take(nb_stream_t *st, const nb__decoded_t **pre)
{
    nb__slot_t *s = &st->ahead.ring[st->ahead.head % NB__RING];
    pthread_mutex_lock(&st->ahead.lock);
    if (s->state == NB__SLOT_NEW) {
        s->state = NB__SLOT_INLINE;
        st->ahead.decoded_inline++;
    }
    nb__slot_wait(st, s);
    st->ahead.head++;
    bool decoded = s->source && s->state == NB__SLOT_READY;
    pthread_mutex_unlock(&st->ahead.lock);
    *pre = decoded ? &s->dec : NULL;
    rd_kafka_message_t *rkm = s->rkm;
    s->rkm = NULL;
    return rkm;
}

/* Polls up to NB__AHEAD records (or consumer events) into the ring, the first poll waiting up
 * to @p timeout ms, and wakes the decoder. A rebalance callback served by these polls handles
 * what was polled before it. *@p drained tells whether the consumer had nothing more to give
 * (a poll came back empty). @returns the number of records polled (not events). */
size_t nb__ahead_fill(nb_stream_t *st, int timeout, bool *drained)
{
    size_t records = 0;
    *drained = false;
    for (int i = 0; i < NB__AHEAD && st->ahead.tail - st->ahead.head < NB__RING; i++) {
        /* Without waiting first: a poll that may wait costs more even when a record is
         * there already. */
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->consumer, 0);
        if (!rkm && i == 0 && timeout > 0)
            rkm = rd_kafka_consumer_poll(st->consumer, timeout);
        if (!rkm) {
            *drained = true;
            break;
        }
        nb__slot_t *s = &st->ahead.ring[st->ahead.tail % NB__RING];
        s->rkm = rkm;
        s->skip = false;
        s->now = nb__eval_now(st); /* per record: a rebalance callback may restore for seconds */
        s->source = st->ahead.decoder && !rkm->err &&
                    strcmp(rd_kafka_topic_name(rkm->rkt), st->conf->by_child_topic) != 0;
        if (!rkm->err)
            records++;
        pthread_mutex_lock(&st->ahead.lock);
        s->state = s->source ? NB__SLOT_NEW : NB__SLOT_READY;
        st->ahead.tail++;
        if (s->source && st->ahead.decoder_idle)
            pthread_cond_signal(&st->ahead.work);
        pthread_mutex_unlock(&st->ahead.lock);
    }
    return records;
}

nb_err_t nb__ahead_start(nb_stream_t *st)
{
    char why[512];
    if (!(st->ahead.ring = calloc(NB__RING, sizeof(*st->ahead.ring))))
        return NB_ERR_NOMEM;
    if (!st->conf->decode_ahead)
        return NB_ERR_OK;
    st->ahead.quit = false;
    if (!(st->ahead.decoder = nb__decoder_new(st->pipe, why, sizeof(why)))) {
        NB_LOG(NB_LOG_ERROR, "stream", "decoder: %s", why);
        return NB_ERR_NOMEM;
    }
    if (nb_thread_create(&st->ahead.thread, nb__decoder_main, st) != 0) {
        NB_LOG(NB_LOG_WARN, "stream", "no decoder thread: records are decoded when handled");
        nb__decoder_destroy(st->ahead.decoder);
        st->ahead.decoder = NULL;
    }
    return NB_ERR_OK;
}

void nb__ahead_stop(nb_stream_t *st)
{
    nb__ahead_discard(st);
    if (st->ahead.decoder) {
        pthread_mutex_lock(&st->ahead.lock);
        st->ahead.quit = true;
        pthread_cond_signal(&st->ahead.work);
        pthread_mutex_unlock(&st->ahead.lock);
        pthread_join(st->ahead.thread, NULL);
        nb__decoder_destroy(st->ahead.decoder);
        st->ahead.decoder = NULL;
    }
    free(st->ahead.ring);
    st->ahead.ring = NULL;
}
