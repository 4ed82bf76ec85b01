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
    pthread_mutex_lock(&st->ahead_lock);
    for (;;) {
        if (st->wcur < st->head)
            st->wcur = st->head; /* handled or dropped meanwhile */
        if (st->ahead_quit)
            break;
        if (st->wcur >= st->tail) {
            st->decoder_idle = true;
            pthread_cond_wait(&st->ahead_work, &st->ahead_lock);
            st->decoder_idle = false;
            continue;
        }
        nb__slot_t *s = &st->ring[st->wcur++ % NB__RING];
        if (s->state != NB__SLOT_NEW)
            continue;
        s->state = NB__SLOT_DECODING;
        pthread_mutex_unlock(&st->ahead_lock);
        nb__decoder_run(st->decoder, s->rkm, s->now, &s->dec);
        pthread_mutex_lock(&st->ahead_lock);
        s->state = NB__SLOT_READY;
        st->decoded_ahead++;
        if (st->main_waits)
            pthread_cond_signal(&st->ahead_done);
    }
    pthread_mutex_unlock(&st->ahead_lock);
    return NULL;
}

/* Waits until the decoder is not at slot @p s. @locks ahead_lock held */
static void nb__slot_wait(nb_stream_t *st, const nb__slot_t *s)
{
    while (s->state == NB__SLOT_DECODING) {
        st->main_waits = true;
        pthread_cond_wait(&st->ahead_done, &st->ahead_lock);
    }
    st->main_waits = false;
}

/* Drops every record polled and not handled (an abort rewinds to the committed offsets, a
 * stop leaves them to the next run): they will be consumed again. */
void nb__ahead_discard(nb_stream_t *st)
{
    if (!st->ring)
        return;
    pthread_mutex_lock(&st->ahead_lock);
    while (st->head < st->tail) {
        nb__slot_t *s = &st->ring[st->head % NB__RING];
        nb__slot_wait(st, s);
        rd_kafka_message_destroy(s->rkm);
        s->rkm = NULL;
        st->head++;
    }
    pthread_mutex_unlock(&st->ahead_lock);
}

/* Takes the next record polled; *pre is its decoded form when the decoder got to it first,
 * else NULL (decoded when handled). */
rd_kafka_message_t *nb__ahead_take(nb_stream_t *st, const nb__decoded_t **pre)
{
    nb__slot_t *s = &st->ring[st->head % NB__RING];
    pthread_mutex_lock(&st->ahead_lock);
    if (s->state == NB__SLOT_NEW) {
        s->state = NB__SLOT_INLINE;
        st->decoded_inline++;
    }
    nb__slot_wait(st, s);
    st->head++;
    bool decoded = s->source && s->state == NB__SLOT_READY;
    pthread_mutex_unlock(&st->ahead_lock);
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
    for (int i = 0; i < NB__AHEAD && st->tail - st->head < NB__RING; i++) {
        /* Without waiting first: a poll that may wait costs more even when a record is
         * there already. */
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->consumer, 0);
        if (!rkm && i == 0 && timeout > 0)
            rkm = rd_kafka_consumer_poll(st->consumer, timeout);
        if (!rkm) {
            *drained = true;
            break;
        }
        nb__slot_t *s = &st->ring[st->tail % NB__RING];
        s->rkm = rkm;
        s->now = nb__eval_now(st); /* per record: a rebalance callback may restore for seconds */
        s->source = st->decoder && !rkm->err &&
                    strcmp(rd_kafka_topic_name(rkm->rkt), st->conf->by_child_topic) != 0;
        if (!rkm->err)
            records++;
        pthread_mutex_lock(&st->ahead_lock);
        s->state = s->source ? NB__SLOT_NEW : NB__SLOT_READY;
        st->tail++;
        if (s->source && st->decoder_idle)
            pthread_cond_signal(&st->ahead_work);
        pthread_mutex_unlock(&st->ahead_lock);
    }
    return records;
}

nb_err_t nb__ahead_start(nb_stream_t *st)
{
    char why[512];
    if (!(st->ring = calloc(NB__RING, sizeof(*st->ring))))
        return NB_ERR_NOMEM;
    if (!st->conf->decode_ahead)
        return NB_ERR_OK;
    st->ahead_quit = false;
    if (!(st->decoder = nb__decoder_new(st->pipe, why, sizeof(why)))) {
        NB_LOG(NB_LOG_ERROR, "stream", "decoder: %s", why);
        return NB_ERR_NOMEM;
    }
    if (pthread_create(&st->decoder_thread, NULL, nb__decoder_main, st) != 0) {
        NB_LOG(NB_LOG_WARN, "stream", "no decoder thread: records are decoded when handled");
        nb__decoder_destroy(st->decoder);
        st->decoder = NULL;
    }
    return NB_ERR_OK;
}

void nb__ahead_stop(nb_stream_t *st)
{
    nb__ahead_discard(st);
    if (st->decoder) {
        pthread_mutex_lock(&st->ahead_lock);
        st->ahead_quit = true;
        pthread_cond_signal(&st->ahead_work);
        pthread_mutex_unlock(&st->ahead_lock);
        pthread_join(st->decoder_thread, NULL);
        nb__decoder_destroy(st->decoder);
        st->decoder = NULL;
    }
    free(st->ring);
    st->ring = NULL;
}
