/*
 * notbrought - stream: transactions: offsets, the commit (here or on the committer thread), the abort and
 * its rollback of state and offsets, setting aside a record that makes a transaction fail.
 */
#include "stream/runtime.h"

/* ---- transactions ------------------------------------------------------------------------- */

void nb__track_offset(nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    rd_kafka_topic_partition_list_t *l = st->batch.offsets;
    rd_kafka_topic_partition_t *tp = NULL;
    if (st->batch.last_offset < l->cnt &&
        l->elems[st->batch.last_offset].partition == rkm->partition &&
        strcmp(l->elems[st->batch.last_offset].topic, topic) == 0)
        tp = &l->elems[st->batch.last_offset]; /* records come in runs of one partition */
    else if (!(tp = rd_kafka_topic_partition_list_find(l, topic, rkm->partition)))
        tp = rd_kafka_topic_partition_list_add(l, topic, rkm->partition);
    st->batch.last_offset = (int)(tp - l->elems);
    tp->offset = rkm->offset + 1;
}

/* Seeks every assigned partition back to its committed offset: the one this instance's last
 * transaction on it committed, or else the group's. */
static void nb__rewind(nb_stream_t *st)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(st->consumer, &parts) || !parts)
        return;
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        rd_kafka_topic_partition_t *done =
            rd_kafka_topic_partition_list_find(st->done_offsets, tp->topic, tp->partition);
        if (done)
            tp->offset = done->offset;
        else
            rd_kafka_topic_partition_list_add(ask, tp->topic, tp->partition);
    }
    if (ask->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_committed(st->consumer, ask, 30000);
        if (err)
            NB_LOG(NB_LOG_WARN, "stream", "committed offsets: %s", rd_kafka_err2str(err));
        for (int i = 0; i < ask->cnt; i++)
            rd_kafka_topic_partition_list_find(parts, ask->elems[i].topic,
                                               ask->elems[i].partition)
                ->offset = err || ask->elems[i].offset < 0 ? RD_KAFKA_OFFSET_BEGINNING
                                                           : ask->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(ask);
    if (parts->cnt > 0) {
        rd_kafka_error_t *error = rd_kafka_seek_partitions(st->consumer, parts, 30000);
        if (error) {
            NB_LOG(NB_LOG_WARN, "stream", "rewind: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Forgets the offsets committed (a rebalance: the group's are looked up again). */
void nb__done_offsets_reset(nb_stream_t *st)
{
    if (st->done_offsets)
        rd_kafka_topic_partition_list_destroy(st->done_offsets);
    st->done_offsets = rd_kafka_topic_partition_list_new(16);
    st->fence_asked = false;
}

/* Reports the records consumed by topic (once per transaction, not per record). */
static void nb__report_consumed(nb_stream_t *st, const nb__counted_t *counted, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        nb_metrics_add(st->metrics, NB_M_RECORDS_CONSUMED, counted[i].topic,
                       (double)counted[i].n);
    *n = 0;
}

void nb__count_consumed(nb_stream_t *st, const char *topic)
{
    for (size_t i = 0; i < st->batch.n_consumed; i++) {
        if (st->batch.consumed[i].name == topic ||
            strcmp(st->batch.consumed[i].topic, topic) == 0) {
            st->batch.consumed[i].name = topic;
            st->batch.consumed[i].n++;
            return;
        }
    }
    if (st->batch.n_consumed == NB__MAX_COUNTED_TOPICS)
        nb__report_consumed(st, st->batch.consumed, &st->batch.n_consumed);
    snprintf(st->batch.consumed[st->batch.n_consumed].topic, sizeof(st->batch.consumed[0].topic),
             "%s", topic);
    st->batch.consumed[st->batch.n_consumed].name = topic;
    st->batch.consumed[st->batch.n_consumed++].n = 1;
}

static void nb__batch_reset(nb_stream_t *st)
{
    st->batch.n_consumed = 0; /* reported on commit; after an abort they are read again */
    st->batch.open = false;
    st->batch.begun = false;
    rd_kafka_topic_partition_list_destroy(st->batch.offsets);
    st->batch.offsets = rd_kafka_topic_partition_list_new(16);
    st->batch.records = 0;
    st->batch.emitted = 0;
}

/*
 * Replaces the transactional producer with a new one of the same transactional.id, whose
 * init_transactions fences the old one and aborts its open transaction on the brokers. This is
 * the way out when an abort cannot finish: librdkafka's abort first waits for every record it
 * sent, and a partition whose sequence broke (OUT_OF_ORDER_SEQUENCE_NUMBER after a refused
 * request) holds its records until the epoch is bumped, which only the abort would do. The
 * records left behind belong to the transaction being aborted, which no read_committed reader
 * sees. A stop requested meanwhile is honoured.
 */
NB_NODISCARD static nb_err_t nb__producer_renew(nb_stream_t *st)
{
    char errstr[512];
    NB_LOG(NB_LOG_WARN, "stream",
           "the aborted transaction's records cannot be flushed: the producer is replaced (same "
           "transactional.id, which aborts the transaction on the brokers)");
    for (size_t i = 0; i < st->n_topics; i++)
        rd_kafka_topic_destroy(st->topics[i].rkt);
    st->n_topics = 0;
    rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                     RD_KAFKA_PURGE_F_NON_BLOCKING);
    rd_kafka_destroy(st->producer);
    st->producer = NULL;
    st->batch.begun = false;
    rd_kafka_conf_t *pc = nb__producer_conf(st->conf, st, errstr, sizeof(errstr));
    if (!pc || !(st->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr)))) {
        if (pc)
            rd_kafka_conf_destroy(pc);
        NB_LOG(NB_LOG_ERROR, "stream", "a new producer cannot be made: %s", errstr);
        st->fatal = true;
        return NB_ERR_KAFKA_FATAL;
    }
    st->stats.producers_renewed++;
    nb_err_t err = nb__init_transactions(st, st->stop);
    if (err)
        st->fatal = true;
    return err;
}

/* Aborts the producer's transaction (the open one, or the one whose commit failed). */
NB_NODISCARD static nb_err_t nb__abort_producer(nb_stream_t *st)
{
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *error = rd_kafka_abort_transaction(st->producer, NB__ABORT_ATTEMPT_MS);
        if (!error)
            return NB_ERR_OK;
        bool retry = rd_kafka_error_is_retriable(error);
        NB_LOG(NB_LOG_WARN, "stream", "abort_transaction: %s", rd_kafka_error_string(error));
        bool fatal = rd_kafka_error_is_fatal(error);
        rd_kafka_error_destroy(error);
        if (fatal) {
            st->fatal = true;
            return NB_ERR_KAFKA_FATAL;
        }
        if (!retry || attempt >= 1)
            return nb__producer_renew(st);
        /* Records the brokers never acknowledge (see nb__producer_renew) are purged rather
         * than waited for again; if the abort still cannot finish, the producer is renewed. */
        rd_kafka_resp_err_t perr =
            rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (perr)
            NB_LOG(NB_LOG_WARN, "stream", "purge before retrying the abort: %s",
                   rd_kafka_err2str(perr));
    }
}

/* Adds the offsets of @p l to @p into, keeping the higher of two for a partition. */
static void nb__offsets_merge(rd_kafka_topic_partition_list_t *into,
                              const rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; l && i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_find(into, tp->topic, tp->partition);
        if (!e)
            rd_kafka_topic_partition_list_add(into, tp->topic, tp->partition)->offset =
                tp->offset;
        else if (tp->offset > e->offset)
            e->offset = tp->offset;
    }
}

/*
 * A broker refused a record of the batches being rolled back for the record itself (too
 * large for the topic, invalid). When the batch held one suspect record alone, that record is
 * the one: it is set aside when it comes again (nb__process), as a bounded dead letter, then a
 * minimal one; if even that is refused, the dead-letter topic is at fault and the stream stops
 * making progress (not ready) rather than skip the record. Otherwise every record of the
 * batches is suspect until it has been handled again in a transaction of its own.
 */
static void nb__isolate(nb_stream_t *st)
{
    if (st->isolation.record.set) {
        bool same = st->poison.attempts > 0 &&
                    st->poison.partition == st->isolation.record.partition &&
                    st->poison.offset == st->isolation.record.offset &&
                    strcmp(st->poison.topic, st->isolation.record.topic) == 0;
        int attempts = same ? st->poison.attempts + 1 : 1;
        if (attempts > 3) {
            NB_LOG(NB_LOG_ERROR, "stream",
                   "%s [%d] offset %lld: even its minimal dead letter was refused: the "
                   "dead-letter topic %s does not take records (check its max.message.bytes "
                   "and ACLs); retrying, the record is not skipped",
                   st->isolation.record.topic, (int)st->isolation.record.partition,
                   (long long)st->isolation.record.offset, st->conf->dead_letter_topic);
            return;
        }
        nb_str_copy(st->poison.topic, sizeof(st->poison.topic), st->isolation.record.topic);
        st->poison.partition = st->isolation.record.partition;
        st->poison.offset = st->isolation.record.offset;
        st->poison.err = NB_ERR_RECORD_TOO_LARGE;
        st->poison.attempts = attempts;
        st->poison.set = true;
        NB_LOG(NB_LOG_ERROR, "stream",
               "%s [%d] offset %lld: a broker refused what handling it produced; the record "
               "goes to the dead letters",
               st->isolation.record.topic, (int)st->isolation.record.partition,
               (long long)st->isolation.record.offset);
        return;
    }
    if (!st->isolation.suspects)
        st->isolation.suspects = rd_kafka_topic_partition_list_new(8);
    nb__offsets_merge(st->isolation.suspects, st->batch.offsets);
    nb__offsets_merge(st->isolation.suspects, st->isolation.failed_offsets);
    NB_LOG(NB_LOG_WARN, "stream", "a broker refused a record of the rolled-back batch for the "
                                  "record itself: handling its records one per transaction to "
                                  "find it");
}

/* True when @p rkm is to be handled in a transaction of its own (nb__isolate). */
bool nb__suspect(const nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    if (!st->isolation.suspects || rkm->err)
        return false;
    const rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_find(
        st->isolation.suspects, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    return e && rkm->offset < e->offset;
}

/* After a commit: forgets the suspects it covered. */
static void nb__isolate_done(nb_stream_t *st, const rd_kafka_topic_partition_list_t *committed)
{
    if (!st->isolation.suspects)
        return;
    for (int i = 0; i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &committed->elems[i];
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_find(st->isolation.suspects, tp->topic, tp->partition);
        if (e && tp->offset >= e->offset)
            rd_kafka_topic_partition_list_del(st->isolation.suspects, tp->topic, tp->partition);
    }
    if (st->isolation.suspects->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(st->isolation.suspects);
        st->isolation.suspects = NULL;
        NB_LOG(NB_LOG_INFO, "stream", "every suspect record handled again; batches as usual");
    }
}

/* Rolls back every batch not committed: state, outputs waiting, offsets; rewinds. */
void nb__rollback(nb_stream_t *st)
{
    /* An abort right after an abort (e.g. a topic refused until the metadata is refreshed):
     * back off, 100 ms doubling up to 5 s, rather than abort in a tight loop. */
    bool again = st->stats.aborts > 0 && st->stats.commits_since_abort == 0;
    st->abort_backoff_ms = !again                     ? 0
                           : st->abort_backoff_ms == 0 ? 100
                           : st->abort_backoff_ms >= 2500 ? 5000
                                                          : st->abort_backoff_ms * 2;
    st->stats.aborts++;
    st->stats.commits_since_abort = 0;
    /* A refusal is reported by now (the transaction's failure, logged or returned). */
    if (atomic_exchange(&st->isolation.refused, false))
        nb__isolate(st);
    if (st->isolation.failed_offsets)
        rd_kafka_topic_partition_list_destroy(st->isolation.failed_offsets);
    st->isolation.failed_offsets = NULL;
    st->isolation.record.set = false;
    st->isolation.commit_alone = false;
    memset(st->batch.dl, 0, sizeof(st->batch.dl));
    memset(st->commit.dl, 0, sizeof(st->commit.dl));
    st->batch.dl_any = st->commit.dl_any = false;
    nb__undo_apply(st, &st->batch.undo);  /* the newer batch first, */
    nb__undo_apply(st, &st->commit.undo); /* then the one whose commit failed */
    st->commit.n_consumed = 0;
    nb__pending_clear(st);
    nb__batch_reset(st);
    nb__ahead_discard(st);
    nb__rewind(st);
    /* Rewound: what was read comes again, and the watermarks with it. */
    for (size_t i = 0; i < st->wm.n; i++) {
        nb__srcwm_t *w = &st->wm.src[i];
        if (!w->remote) {
            w->recorded = 0;
            w->at_end = 0;
            w->seen = nb__now();
        }
    }
    /* Rewound: by-child records handled in the aborted transaction come again, before any
     * source record may be handled locally. */
    nb__catch_up_restart(st);
    NB_LOG(NB_LOG_WARN, "stream", "transaction aborted; state restored, rewound to committed "
                                  "offsets%s",
           st->abort_backoff_ms ? "; backing off after consecutive aborts" : "");
    if (st->abort_backoff_ms) {
        struct timespec ts = {st->abort_backoff_ms / 1000,
                              (st->abort_backoff_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Sends the offsets and commits; retries what is retriable. @returns NULL or the error.
 * @locality the committer thread, or the main thread; touches only the producer. */
static rd_kafka_error_t *nb__commit_txn(rd_kafka_t *producer,
                                        const rd_kafka_topic_partition_list_t *offsets,
                                        const rd_kafka_consumer_group_metadata_t *cgmd)
{
    rd_kafka_error_t *error = NULL;
    if (offsets->cnt > 0) {
        for (int attempt = 0;; attempt++) {
            error = rd_kafka_send_offsets_to_transaction(producer, offsets, cgmd,
                                                         NB__TXN_TIMEOUT_MS);
            if (!error || !rd_kafka_error_is_retriable(error) || attempt >= 10)
                break;
            rd_kafka_error_destroy(error);
            error = NULL;
        }
    }
    /* Short attempts, NB__TXN_TIMEOUT_MS in all (then ten more): a retry resumes the commit,
     * or reports at once that the transaction failed meanwhile and must be aborted. */
    int64_t until = nb__now() + NB__TXN_TIMEOUT_MS;
    for (int late = 0; !error; late += nb__now() >= until) {
        int64_t t0 = nb__now();
        error = rd_kafka_commit_transaction(producer, NB__COMMIT_ATTEMPT_MS);
        if (!error || !rd_kafka_error_is_retriable(error) || late >= 10)
            break;
        NB_LOG(NB_LOG_WARN, "stream", "commit_transaction (retrying): %s",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        error = NULL;
        if (nb__now() - t0 < 100) { /* refused at once: not a busy loop */
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return error;
}

static void *nb__committer_main(void *arg)
{
    nb_stream_t *st = arg;
    st->commit.error = nb__commit_txn(st->producer, st->commit.offsets, st->commit.cgmd);
    atomic_store(&st->commit.done, true);
    return NULL;
}

/* A batch that consumed nothing (a tick's timers and watermark reports) still sends an offset:
 * the one this instance last committed on a partition it owns (or, before its first commit
 * since the rebalance, the group's). The group coordinator checks the generation of every
 * transactional offset commit, so an instance whose partitions moved while it was paused (a
 * zombie) has this transaction refused and aborted instead of publishing what it decided for
 * children it no longer owns. Committing an offset already committed changes nothing. Without
 * any committed offset (a new group) the batch goes unfenced, as before.
 * A by-child partition's offset is taken when there is one: while it catches up, the instance
 * waits for the sources' committed offsets to be stable (restore.c), and a tick's transaction
 * holding one of them pending made that wait on itself, for good (e2e.cluster). */
static void nb__fence_offset(nb_stream_t *st, rd_kafka_topic_partition_list_t *offsets)
{
    if (offsets->cnt > 0)
        return;
    const char *by_child = st->conf->by_child_topic;
    if (st->done_offsets->cnt == 0 && !st->fence_asked) {
        st->fence_asked = true; /* once per rebalance: the group is asked at most that often */
        rd_kafka_topic_partition_list_t *parts = NULL, *ask;
        if (!rd_kafka_assignment(st->consumer, &parts) && parts && parts->cnt > 0) {
            ask = rd_kafka_topic_partition_list_new(parts->cnt);
            for (int i = 0; i < parts->cnt; i++)
                if (strcmp(parts->elems[i].topic, by_child) == 0)
                    rd_kafka_topic_partition_list_add(ask, by_child, parts->elems[i].partition);
            if (ask->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(ask);
                ask = rd_kafka_topic_partition_list_copy(parts);
            }
            if (!rd_kafka_committed(st->consumer, ask, NB__FENCE_ASK_MS))
                for (int i = 0; i < ask->cnt; i++)
                    if (ask->elems[i].offset >= 0 && !ask->elems[i].err)
                        rd_kafka_topic_partition_list_add(st->done_offsets, ask->elems[i].topic,
                                                          ask->elems[i].partition)
                            ->offset = ask->elems[i].offset;
            rd_kafka_topic_partition_list_destroy(ask);
        }
        if (parts)
            rd_kafka_topic_partition_list_destroy(parts);
    }
    const rd_kafka_topic_partition_t *pick = NULL;
    for (int i = 0; i < st->done_offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &st->done_offsets->elems[i];
        if (tp->offset >= 0 && (!pick || strcmp(tp->topic, by_child) == 0))
            pick = tp;
        if (pick && strcmp(pick->topic, by_child) == 0)
            break;
    }
    if (pick) {
        rd_kafka_topic_partition_list_add(offsets, pick->topic, pick->partition)->offset =
            pick->offset;
        st->stats.fenced_ticks++;
    }
}

/* Starts committing the open batch: on the committer thread when @p background, else here
 * (settled before returning). The next batch may open at once; its transaction begins when
 * this commit is settled. */
nb_err_t nb__commit_start(nb_stream_t *st, bool background)
{
    nb_err_t err = nb__commit_settle(st);
    if (err || !st->batch.open)
        return err;
    if (!st->batch.begun && (err = nb__begin(st)) == NB_ERR_OK)
        err = nb__pending_flush(st);
    if (err)
        return err == NB_ERR_KAFKA_FATAL || nb__abort(st) ? NB_ERR_KAFKA_FATAL
                                                          : NB_ERR_KAFKA_ABORTABLE;
    nb__fence_offset(st, st->batch.offsets);
    /* Fetched now: the group generation changes with every rebalance, and offsets sent with
     * an old generation are fenced. */
    st->commit.cgmd =
        st->batch.offsets->cnt > 0 ? rd_kafka_consumer_group_metadata(st->consumer) : NULL;
    st->commit.offsets = st->batch.offsets;
    st->batch.offsets = rd_kafka_topic_partition_list_new(16);
    /* The last commit is settled: its log is empty, and serves the next batch. */
    nb__undo_log_t spare = st->commit.undo;
    st->commit.undo = st->batch.undo;
    st->batch.undo = spare;
    memcpy(st->commit.consumed, st->batch.consumed,
           st->batch.n_consumed * sizeof(st->batch.consumed[0]));
    st->commit.n_consumed = st->batch.n_consumed;
    st->batch.n_consumed = 0;
    if (st->batch.dl_any) {
        memcpy(st->commit.dl, st->batch.dl, sizeof(st->commit.dl));
        memset(st->batch.dl, 0, sizeof(st->batch.dl));
        st->commit.dl_any = true;
        st->batch.dl_any = false;
    }
    st->batch.open = false;
    st->batch.begun = false;
    st->batch.records = 0;
    st->batch.emitted = 0;
    st->commit.t0 = nb__now();
    st->commit.error = NULL;
    atomic_store(&st->commit.done, false);
    st->commit.busy = true;
    if (background && nb_thread_create(&st->commit.thread, nb__committer_main, st) == 0) {
        st->stats.commits_background++;
    } else {
        nb__committer_main(st);
        st->commit.thread = pthread_self(); /* nothing to join */
        background = false;
    }
    return background ? NB_ERR_OK : nb__commit_settle(st);
}

/* Waits for the commit in flight, if any, and acts on its outcome: on success the next batch's
 * transaction begins with what waited for it; on failure both batches are rolled back.
 * @returns NB_ERR_OK, NB_ERR_KAFKA_ABORTABLE (rolled back and rewound) or
 *          NB_ERR_KAFKA_FATAL. */
nb_err_t nb__commit_settle(nb_stream_t *st)
{
    if (!st->commit.busy)
        return NB_ERR_OK;
    if (!pthread_equal(st->commit.thread, pthread_self())) {
        int64_t t0 = nb__now();
        pthread_join(st->commit.thread, NULL);
        st->commit.wait_ms += nb__now() - t0;
    } else {
        st->commit.wait_ms += nb__now() - st->commit.t0;
    }
    st->commit.busy = false;
    rd_kafka_error_t *error = st->commit.error;
    st->commit.error = NULL;
    if (st->commit.cgmd)
        rd_kafka_consumer_group_metadata_destroy(st->commit.cgmd);
    st->commit.cgmd = NULL;
    rd_kafka_topic_partition_list_t *committed = st->commit.offsets;
    st->commit.offsets = NULL;
    if (!error) {
        nb__isolate_done(st, committed);
        for (int i = 0; i < committed->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &committed->elems[i];
            rd_kafka_topic_partition_t *done = rd_kafka_topic_partition_list_find(
                st->done_offsets, tp->topic, tp->partition);
            if (!done)
                done = rd_kafka_topic_partition_list_add(st->done_offsets, tp->topic,
                                                         tp->partition);
            done->offset = tp->offset;
        }
    }
    if (error) {
        /* Kept for the rollback: a record refused may be among them (nb__isolate). */
        if (st->isolation.failed_offsets)
            rd_kafka_topic_partition_list_destroy(st->isolation.failed_offsets);
        st->isolation.failed_offsets = committed;
    } else {
        rd_kafka_topic_partition_list_destroy(committed);
    }
    if (error) {
        NB_LOG(NB_LOG_WARN, "stream", "commit: %s", rd_kafka_error_string(error));
        if (nb__names_refusal(rd_kafka_error_string(error)))
            nb__refused(st, rd_kafka_error_string(error));
        bool fatal = rd_kafka_error_is_fatal(error);
        rd_kafka_error_destroy(error);
        if (fatal) {
            st->fatal = true;
            return NB_ERR_KAFKA_FATAL;
        }
        /* Abortable (or not retriable any more): abort it, roll back both batches. */
        if (nb__abort_producer(st))
            return NB_ERR_KAFKA_FATAL;
        nb__rollback(st);
        return NB_ERR_KAFKA_ABORTABLE;
    }
    st->stats.commits++;
    st->stats.commits_since_abort++;
    /* A commit went through: the brokers are reachable again (after ALL_BROKERS_DOWN), and
     * the stream makes progress. */
    atomic_store(&st->brokers_down, false);
    atomic_store(&st->progress_ms, nb__now());
    st->isolation.record.set = false;
    if (st->poison.attempts > 0 && !st->poison.set)
        st->poison.attempts = 0; /* what was set aside is committed */
    if (st->commit.dl_any) {
        for (int code = 0; code < NB_ERR__COUNT; code++) {
            if (!st->commit.dl[code])
                continue;
            st->stats.dead_letters += st->commit.dl[code];
            nb_metrics_add(st->metrics, NB_M_DEAD_LETTERS, nb_err_name((nb_err_t)code),
                           st->commit.dl[code]);
        }
        memset(st->commit.dl, 0, sizeof(st->commit.dl));
        st->commit.dl_any = false;
    }
    nb_metrics_observe(st->metrics, NB_M_COMMIT_LATENCY, (double)(nb__now() - st->commit.t0) / 1e3);
    nb__report_consumed(st, st->commit.consumed, &st->commit.n_consumed);
    nb__undo_clear(&st->commit.undo);
    if (!st->batch.open)
        return NB_ERR_OK;
    /* The next batch: its transaction, and what it produced meanwhile. */
    nb_err_t err = nb__begin(st);
    if (!err)
        err = nb__pending_flush(st);
    if (!err)
        return NB_ERR_OK;
    if (err == NB_ERR_KAFKA_FATAL)
        return err;
    return nb__abort(st) ? NB_ERR_KAFKA_FATAL : NB_ERR_KAFKA_ABORTABLE;
}

/* Rolls back the open batch (and a commit in flight, which is settled first). */
nb_err_t nb__abort(nb_stream_t *st)
{
    nb_err_t err = nb__commit_settle(st);
    if (err == NB_ERR_KAFKA_ABORTABLE)
        return NB_ERR_OK; /* rolled back already, this batch with it */
    if (err)
        return err;
    if (!st->batch.open)
        return NB_ERR_OK;
    if (st->batch.begun && nb__abort_producer(st))
        return NB_ERR_KAFKA_FATAL;
    nb__rollback(st);
    return NB_ERR_OK;
}

/* Commits the open batch and waits for it (and for a commit in flight). */
nb_err_t nb__commit(nb_stream_t *st)
{
    return nb__commit_start(st, false);
}
