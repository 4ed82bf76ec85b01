/*
 * notbrought - stream: the run loop: links, subscription, the handling of each record polled, ticks, and
 * the statistics the daemon publishes.
 */
#include "stream/runtime.h"

/* The time rules are evaluated at: the wall clock, or processing.fixed_now in tests. */

int64_t nb__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t nb__eval_now(const nb_stream_t *st)
{
    int64_t fixed = atomic_load(&((nb_stream_t *)st)->fixed_now);
    return fixed != NB_TIME_NONE ? fixed : nb__now();
}

void nb_stream_set_metrics(nb_stream_t *st, nb_metrics_t *m)
{
    st->metrics = m;
    nb__pipeline_report(st->pipe, m);
}

nb_metrics_t *nb__stream_metrics(const nb_stream_t *st)
{
    return st->metrics;
}

void nb_stream_set_fault_hook(nb_stream_t *st, nb_stream_fault_fn *fn, void *opaque)
{
    st->fault_fn = fn;
    st->fault_opaque = opaque;
}

void nb_stream_set_catch_up_test(nb_stream_t *st, uint64_t hold_until)
{
    st->test_hold_until = hold_until;
}

void nb_stream_set_fixed_now(nb_stream_t *st, int64_t now_ms)
{
    atomic_store(&st->fixed_now, now_ms);
}

void nb_stream_stop(nb_stream_t *st)
{
    atomic_store(&st->stop_asked, true);
}

/* *stop is a signal flag, for the handler's own thread; nb_stream_stop() for any thread. */
static bool nb__stopping(nb_stream_t *st, volatile sig_atomic_t *stop)
{
    return (stop && *stop) || atomic_load(&st->stop_asked);
}

/* ---- running ------------------------------------------------------------------------------- */

/* One identity link into the table; a refused one is counted by its reason. */
static void nb__link(nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    if (!rkm->payload) {
        /* Not applied: a tombstone removes the link's record for instances that start after
         * compaction but not from the tables of those running, so they would disagree. A
         * link is withdrawn with an unlink record. (The key may hold an identifier: never
         * logged.) */
        NB_LOG(NB_LOG_WARN, "identity", "link at %s [%d] offset %lld refused: a tombstone "
               "(null value) is not applied; withdraw a link with an unlink record",
               rd_kafka_topic_name(rkm->rkt), (int)rkm->partition, (long long)rkm->offset);
        nb_metrics_add(st->metrics, NB_M_LINKS_REFUSED, "tombstone", 1);
        return;
    }
    nb_err_t err = nb__pipeline_link(st->pipe, rkm, nb__eval_now(st));
    st->stats.links++;
    if (err)
        nb_metrics_add(st->metrics, NB_M_LINKS_REFUSED, nb_err_name(err), 1);
    else
        st->iddigest.dirty = true; /* a refused link leaves the table as it was */
}

/* Works out the identity table's digest again (@p force: now; else once links changed, and
 * no sooner than 20 times what the last one cost after it, at least a second) and exports
 * it. It hashes every entry of the table (about a microsecond each): on this thread, so the
 * loop waits for it; the spacing keeps that under 5% of the loop's time however large the
 * table. */
static void nb__identity_digest(nb_stream_t *st, int64_t now, bool force)
{
    if (!force && (!st->iddigest.dirty || now < st->iddigest.next_ms))
        return;
    struct timespec t0, t1;
    uint8_t d[32];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (nb__pipeline_identity_digest(st->pipe, d) != NB_ERR_OK) {
        /* Out of memory for a hashing context: the old digest stays, tried again later. */
        st->iddigest.next_ms = now + 1000;
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t cost_us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    int64_t wait_ms = cost_us * 20 / 1000;
    st->iddigest.dirty = false;
    st->iddigest.next_ms = now + (wait_ms > 1000 ? wait_ms : 1000);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        st->stats.identity_digest[2 * i] = hex[d[i] >> 4];
        st->stats.identity_digest[2 * i + 1] = hex[d[i] & 15];
    }
    st->stats.identity_digest[64] = '\0';
    st->stats.identity_digest_links = st->stats.links;
    st->stats.identity_digest_cost_us = cost_us;
    nb_metrics_set_identity_digest(st->metrics, st->stats.identity_digest, st->stats.links);
}

/* Assigns every partition of the links topic from the beginning and reads to the end, so that
 * ingest can resolve any event before it starts. */
NB_NODISCARD static nb_err_t nb__links_start(nb_stream_t *st, volatile sig_atomic_t *stop)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(st->links, st->conf->links_topic, NULL);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_metadata(st->links, 0, rkt, &md, 5000)) != RD_KAFKA_RESP_ERR_NO_ERROR ||
           md->topic_cnt < 1 || md->topics[0].err) {
        if (md) {
            if (!err)
                err = md->topics[0].err;
            rd_kafka_metadata_destroy(md);
            md = NULL;
        }
        NB_LOG(NB_LOG_WARN, "stream", "waiting for topic %s: %s", st->conf->links_topic,
               rd_kafka_err2str(err));
        if (nb__stopping(st, stop) || st->fatal) {
            rd_kafka_topic_destroy(rkt);
            return NB_ERR_KAFKA;
        }
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, st->conf->links_topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(st->links, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int eofs = 0;
    int64_t t0 = nb__now();
    while (eofs < n && !nb__stopping(st, stop) && !st->fatal) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->links, 1000);
        nb_metrics_heartbeat(st->metrics, nb__now());
        if (!rkm)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!rkm->err) {
            nb__link(st, rkm);
        }
        rd_kafka_message_destroy(rkm);
    }
    nb__identity_digest(st, nb__now(), true);
    NB_LOG(NB_LOG_INFO, "stream", "identity table loaded: %llu links in %lld ms (digest %.16s)",
           (unsigned long long)st->stats.links, (long long)(nb__now() - t0),
           st->stats.identity_digest);
    nb__publish_stats(st);
    return NB_ERR_OK;
}

static void nb__links_poll(nb_stream_t *st)
{
    for (int i = 0; i < NB__LINKS_PER_TICK; i++) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->links, 0);
        if (!rkm)
            return;
        if (!rkm->err) {
            nb__link(st, rkm);
        }
        rd_kafka_message_destroy(rkm);
    }
}

NB_NODISCARD static nb_err_t nb__subscribe(nb_stream_t *st)
{
    const nb_config_t *c = st->conf;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(8);
    const char *names[NB_CONFIG_MAX_TOPICS + 2];
    size_t n = 0;
    for (size_t i = 0; i < c->n_appointment_topics; i++)
        names[n++] = c->appointment_topics[i];
    names[n++] = c->context_topic;
    names[n++] = c->acks_topic;
    names[n++] = c->by_child_topic;
    for (size_t i = 0; i < n; i++)
        if (!rd_kafka_topic_partition_list_find(topics, names[i], RD_KAFKA_PARTITION_UA))
            rd_kafka_topic_partition_list_add(topics, names[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(st->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        NB_LOG(NB_LOG_ERROR, "stream", "subscribe: %s", rd_kafka_err2str(err));
        return NB_ERR_KAFKA;
    }
    return NB_ERR_OK;
}

nb_err_t nb__init_transactions(nb_stream_t *st, volatile sig_atomic_t *stop)
{
    /* In slices of a second, so that a stop requested while the brokers do not answer is
     * seen at once (a call that timed out is retried: it goes on where it was). */
    for (int64_t said = 0;;) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(st->producer, 1000);
        if (!error)
            return NB_ERR_OK;
        bool retry = rd_kafka_error_is_retriable(error);
        bool timeout = rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (!timeout || nb__now() - said >= NB__TXN_TIMEOUT_MS) {
            NB_LOG(NB_LOG_WARN, "stream", "init_transactions: %s", rd_kafka_error_string(error));
            said = nb__now();
        }
        rd_kafka_error_destroy(error);
        if (nb__stopping(st, stop))
            return NB_ERR_OK; /* nothing began: a clean stop */
        if (!retry)
            return NB_ERR_KAFKA_FATAL;
    }
}

/* Processes one consumed message inside the open transaction. */
nb_err_t nb__process(nb_stream_t *st, rd_kafka_message_t *rkm, int64_t now,
                            const nb__decoded_t *pre)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    if (st->restore.catching_up && strcmp(topic, st->conf->by_child_topic) != 0) {
        nb__catch_up_hold(st, topic, rkm->partition, rkm->offset);
        return NB_ERR_OK; /* not handled, not counted: it comes again */
    }
    nb_err_t err = nb__begin(st);
    if (err)
        return err;
    st->stats.records_in++;
    nb__count_consumed(st, topic);
    if (st->poison.set && rkm->partition == st->poison.partition &&
        rkm->offset == st->poison.offset && strcmp(topic, st->poison.topic) == 0) {
        /* It failed before: set aside with the error, so that the stream goes on and the
         * record is not lost (nb__handle). */
        char why[256];
        st->poison.set = false;
        snprintf(why, sizeof(why),
                 "handling the record failed (%s); its transaction was rolled back and the "
                 "record set aside", nb_err_str(st->poison.err));
        /* Its dead letter failed before: bounded, then minimal (nb__dead_letter_bounded). */
        st->dl_force = st->poison.attempts >= 3 ? 2 : st->poison.attempts == 2 ? 1 : 0;
        err = nb__dead_letter(st, rkm, st->poison.err, why);
        st->dl_force = 0;
    } else if (st->fault_fn && (err = st->fault_fn(st->fault_opaque, topic, rkm->partition,
                                                   rkm->offset)) != NB_ERR_OK) {
        /* a test's fault: as if the pipeline had failed */
    } else if (strcmp(topic, st->conf->by_child_topic) == 0) {
        if (nb__watermark_heard(st, rkm)) {
            st->stats.watermark_reports++;
        } else {
            err = nb__pipeline_by_child(st->pipe, st, rkm, now);
            if (!err) {
                rd_kafka_headers_t *h = NULL;
                char buf[32];
                if (rd_kafka_message_headers(rkm, &h))
                    h = NULL;
                nb__srcwm_note(st, rkm,
                               nb__header_str(h, "nb.recorded", buf, sizeof(buf))[0]
                                   ? atoll(buf)
                                   : NB_TIME_NONE);
            }
        }
    } else {
        err = nb__pipeline_source(st->pipe, st, rkm, now, pre);
        if (!err)
            nb__srcwm_note(st, rkm, nb__pipeline_last_recorded(st->pipe));
    }
    if (!err) {
        nb__track_offset(st, rkm);
        st->batch.records++;
        if (st->restore.catching_up && strcmp(topic, st->conf->by_child_topic) == 0)
            nb__catch_up_read(st, rkm->partition, rkm->offset + 1);
    }
    return err;
}

/* A record, or an event of the consumer (end of a partition, an error). */
NB_NODISCARD static nb_err_t nb__handle(nb_stream_t *st, rd_kafka_message_t *rkm, int64_t now,
                                        const nb__decoded_t *pre)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (strcmp(rd_kafka_topic_name(rkm->rkt), st->conf->by_child_topic) == 0) {
            nb__catch_up_read(st, rkm->partition, rkm->offset); /* the end read to */
        }
        nb__srcwm_note(st, rkm, NB_TIME_NONE);
        return NB_ERR_OK;
    }
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        /* The group consumer's fatal error (a static member fenced by a newer member with its
         * group.instance.id, after a coordinator stalled) comes as a message, not through the
         * error callback. The consumer is finished: so is the daemon (exit 3, and the
         * orchestrator starts it again), where logging it alone left it alive and idle. */
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(st->consumer, buf, sizeof(buf));
        NB_LOG(NB_LOG_ERROR, "stream", "fatal Kafka error of the group consumer: %s: %s",
               rd_kafka_err2name(orig), orig ? buf : rd_kafka_message_errstr(rkm));
        st->fatal = true;
        return NB_ERR_KAFKA_FATAL;
    }
    if (rkm->err) {
        NB_LOG(NB_LOG_WARN, "stream", "consume: %s", rd_kafka_message_errstr(rkm));
        return NB_ERR_OK;
    }
    /* Records arrive: the brokers are reachable (assignment restored already). */
    st->stats.ready = !st->fatal;
    nb_err_t err = nb__process(st, rkm, now, pre);
    if (err && err != NB_ERR_KAFKA_ABORTABLE && err != NB_ERR_KAFKA_FATAL) {
        /* The record's own failure (not Kafka's). Going on would commit its offset with
         * whatever part of its outputs it made: roll the batch back instead, and set the
         * record aside when it comes again (nb__process). */
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        bool same = st->poison.attempts > 0 && st->poison.partition == rkm->partition &&
                    st->poison.offset == rkm->offset && strcmp(st->poison.topic, topic) == 0;
        int attempts = same ? st->poison.attempts + 1 : 1;
        if (attempts > 3) {
            /* Not even a minimal dead letter could be made: the dead-letter topic is at
             * fault, not the record. Never skip it: retry (backing off), not ready. */
            NB_LOG(NB_LOG_ERROR, "stream",
                   "%s [%d] offset %lld: its dead letter cannot be produced (%s); retrying, "
                   "the record is not skipped", topic, (int)rkm->partition,
                   (long long)rkm->offset, nb_err_name(err));
            return NB_ERR_KAFKA_ABORTABLE;
        }
        NB_LOG(NB_LOG_ERROR, "stream",
               "handling %s [%d] offset %lld failed: %s; rolling back its batch, the record "
               "goes to the dead letters", topic, (int)rkm->partition, (long long)rkm->offset,
               nb_err_name(err));
        st->poison.set = true;
        nb_str_copy(st->poison.topic, sizeof(st->poison.topic), topic);
        st->poison.partition = rkm->partition;
        st->poison.offset = rkm->offset;
        st->poison.err = same ? st->poison.err : err; /* the first failure is the reason */
        st->poison.attempts = attempts;
        return NB_ERR_KAFKA_ABORTABLE;
    }
    return err;
}

/* Handles the records polled, in order, up to ring index @p upto (UINT64_MAX: all), and
 * (@p bounded) until the open batch holds processing.max_batch records. @returns NB_ERR_OK,
 * NB_ERR_KAFKA_ABORTABLE (aborted and rewound; what was polled is dropped) or
 * NB_ERR_KAFKA_FATAL. */
nb_err_t nb__ahead_handle(nb_stream_t *st, uint64_t upto, bool bounded)
{
    /* Rules are evaluated as of now, not as of the poll (a turn or a restore ago): never
     * earlier than the last tick. */
    int64_t now = nb__eval_now(st);
    while (st->ahead.ring && st->ahead.head < st->ahead.tail && st->ahead.head < upto && !st->fatal) {
        if (st->isolation.commit_alone)
            break; /* a suspect record waits for its commit */
        const nb__decoded_t *pre;
        if (st->ahead.ring[st->ahead.head % NB__RING].skip) {
            /* Its partition was sought back (the catch-up held it): it comes again. */
            rd_kafka_message_destroy(nb__ahead_take(st, &pre));
            continue;
        }
        bool suspect = st->isolation.suspects &&
                       nb__suspect(st, st->ahead.ring[st->ahead.head % NB__RING].rkm);
        if (suspect && st->batch.open) {
            st->isolation.commit_alone = true; /* what the batch holds commits first, without it */
            break;
        }
        rd_kafka_message_t *rkm = nb__ahead_take(st, &pre);
        if (suspect) {
            st->isolation.record.set = true;
            nb_str_copy(st->isolation.record.topic, sizeof(st->isolation.record.topic),
                        rd_kafka_topic_name(rkm->rkt));
            st->isolation.record.partition = rkm->partition;
            st->isolation.record.offset = rkm->offset;
            st->isolation.commit_alone = true;
            st->stats.handled_alone++;
        }
        nb_err_t err = nb__handle(st, rkm, now, pre);
        rd_kafka_message_destroy(rkm);
        if (err == NB_ERR_KAFKA_ABORTABLE)
            return nb__abort(st) ? NB_ERR_KAFKA_FATAL : NB_ERR_KAFKA_ABORTABLE;
        if (err == NB_ERR_KAFKA_FATAL)
            return err;
        if (bounded && st->batch.open && st->batch.records >= st->conf->max_batch)
            break;
    }
    return st->fatal ? NB_ERR_KAFKA_FATAL : NB_ERR_OK;
}

/* A policy reload asked for (SIGHUP): the old policy stays when the new one is refused. */
static void nb__reload(nb_stream_t *st)
{
    char why[1024];
    if (nb__pipeline_reload(st->pipe, why, sizeof(why))) {
        NB_LOG(NB_LOG_ERROR, "stream", "policy reload failed, old policy stays: %s", why);
        nb_metrics_add(st->metrics, NB_M_POLICY_RELOADS, "error", 1);
    } else {
        NB_LOG(NB_LOG_INFO, "stream", "policy reloaded");
        nb_metrics_add(st->metrics, NB_M_POLICY_RELOADS, "ok", 1);
        nb__pipeline_report(st->pipe, st->metrics);
    }
}

/* What this turn knows, for nb__turn_decide() / nb__turn_timeout(). */
static nb__turn_t nb__turn_facts(const nb_stream_t *st, int64_t now, bool idle, bool drained)
{
    nb__turn_t t;
    memset(&t, 0, sizeof(t));
    t.txn_open = st->batch.open;
    t.batch_age = now - st->batch.start;
    t.batch_records = st->batch.records;
    t.idle = idle;
    t.drained = drained;
    t.committing = st->commit.busy;
    t.commit_done = st->commit.busy && atomic_load(&((nb_stream_t *)st)->commit.done);
    t.catching_up = st->restore.catching_up;
    t.isolate_commit = st->isolation.commit_alone;
    t.isolate = st->isolation.suspects;
    t.tick_more = idle && nb__pipeline_tick_more(st->pipe);
    t.background_allowed = st->conf->commit_in_background;
    t.since_tick = now - st->last_tick;
    t.tick_ms = NB__TICK_MS;
    t.commit_interval_ms = st->conf->commit_interval_ms;
    t.min_commit_interval_ms = st->conf->min_commit_interval_ms;
    t.max_batch = st->conf->max_batch;
    return t;
}

/* The tick: watermarks reported, then timers, parked events and merges (nb__pipeline_tick()).
 * @returns NB_ERR_OK; NB_ERR_KAFKA_ABORTABLE when it was rolled back; NB_ERR_KAFKA_FATAL. */
NB_NODISCARD static nb_err_t nb__tick(nb_stream_t *st, int64_t now)
{
    st->last_tick = now;
    nb__watermark_update(st, nb__eval_now(st), now, true);
    nb_err_t err = nb__watermark_report(st, nb__eval_now(st), now);
    if (!err)
        err = nb__pipeline_tick(st->pipe, st, nb__eval_now(st));
    if (!err)
        st->stats.ticks++;
    if (err == NB_ERR_KAFKA_ABORTABLE)
        return nb__abort(st) ? NB_ERR_KAFKA_FATAL : NB_ERR_KAFKA_ABORTABLE;
    return err;
}

/* What a turn does besides handling records: links, statistics, progress. */
static void nb__turn_chores(nb_stream_t *st, int64_t now, bool idle)
{
    nb__links_poll(st);
    nb__identity_digest(st, now, false);
    rd_kafka_poll(st->producer, 0); /* serves the producer's statistics callback */
    nb__catch_up_targets(st, now);
    if (st->restore.catching_up && now - st->restore.catch_up_since > 30000) {
        if (st->restore.targets_known)
            NB_LOG(NB_LOG_WARN, "stream",
                   "sources still paused: a by-child partition has not "
                   "been read to its high watermark for 30 s (a "
                   "transaction open below it)");
        else
            NB_LOG(NB_LOG_WARN, "stream",
                   "sources still paused: the by-child high watermarks could not be read "
                   "for 30 s (last: %s)",
                   rd_kafka_err2name(st->restore.ask_err));
        st->restore.catch_up_since = now;
    }
    /* Nothing to do is progress too (readiness: nb_stream_stats()); not while aborts follow
     * each other, when the same records come again. */
    if (idle && !st->batch.open && !st->commit.busy &&
        (st->stats.aborts == 0 || st->stats.commits_since_abort > 0))
        atomic_store(&st->progress_ms, now);
    nb__publish_stats(st);
    nb__pipeline_flush_metrics(st->pipe, st->metrics);
    nb_metrics_heartbeat(st->metrics, now);
}

/* One turn of the run loop: polls, handles what the last turn polled, and commits or ticks as
 * nb__turn_decide() says. @returns NB_ERR_OK; NB_ERR_KAFKA_ABORTABLE (rolled back: the next
 * turn starts again); NB_ERR_KAFKA_FATAL. */
NB_NODISCARD static nb_err_t nb__turn(nb_stream_t *st)
{
    nb_err_t err;
    /* The commit in flight has finished: the next batch's transaction begins now, and its
     * records waiting go out while it fills. */
    if (st->commit.busy && atomic_load(&st->commit.done) &&
        (err = nb__commit_settle(st)) == NB_ERR_KAFKA_FATAL)
        return err;
    int64_t now = nb__now();
    nb__turn_t facts = nb__turn_facts(st, now, false, false);
    int timeout = nb__turn_timeout(&facts);
    /* This turn handles what earlier turns polled, while the decoder starts on what this one
     * polls: it stays a turn ahead of the main loop instead of racing it. */
    uint64_t upto = st->ahead.tail;
    bool leftover = st->ahead.head < upto;
    bool drained;
    size_t polled = nb__ahead_fill(st, leftover ? 0 : timeout, &drained);
    now = nb__now();
    bool idle = polled == 0 && !leftover;
    nb__brokers_probe(st, now);
    if (!st->ahead.decoder)
        upto = st->ahead.tail; /* nothing to gain from waiting a turn */
    nb__watermark_update(st, nb__eval_now(st), now, false);
    if ((err = nb__ahead_handle(st, upto, true)))
        return err;
    nb__turn_chores(st, now, idle);
    if (st->isolation.commit_alone && !st->batch.open)
        st->isolation.commit_alone = false;
    facts = nb__turn_facts(st, now, idle, drained);
    nb__turn_do_t d = nb__turn_decide(&facts);
    if (d.tick && (err = nb__tick(st, now)))
        return err;
    if (!st->batch.open || !(d.commit || d.tick))
        return NB_ERR_OK;
    err = nb__commit_start(st, d.background);
    st->isolation.commit_alone = false;
    return err == NB_ERR_KAFKA_FATAL ? err : NB_ERR_OK;
}

nb_err_t nb_stream_run(nb_stream_t *st, volatile sig_atomic_t *stop,
                       volatile sig_atomic_t *reload)
{
    nb_err_t err;
    NB_LOG(NB_LOG_INFO, "stream", "starting instance %s (group %s, %d partitions)",
           st->conf->instance_id, st->conf->group_id, st->partitions);
    st->stop = stop;
    if ((err = nb__init_transactions(st, stop)) || nb__stopping(st, stop))
        return err;
    if ((err = nb__links_start(st, stop)))
        return nb__stopping(st, stop) ? NB_ERR_OK : err;
    if ((err = nb__ahead_start(st)) || (err = nb__subscribe(st))) {
        nb__ahead_stop(st);
        return err;
    }
    st->last_tick = nb__now();
    atomic_store(&st->progress_ms, st->last_tick);
    while (!nb__stopping(st, stop) && !st->fatal) {
        if (reload && *reload) {
            *reload = 0;
            nb__reload(st);
        }
        if (nb__turn(st) == NB_ERR_KAFKA_FATAL)
            break;
    }
    /* What was polled and not handled comes again in the next run. The commit in flight, then
     * the open batch (after a fatal error only settled). */
    nb__ahead_stop(st);
    /* Rolled back (NB_ERR_KAFKA_ABORTABLE, logged where it failed), the batch's offsets are
     * not committed: its records are handled again at the next start. */
    if ((st->fatal ? nb__commit_settle(st) : nb__commit(st)) == NB_ERR_KAFKA_FATAL)
        st->fatal = true;
    NB_LOG(NB_LOG_INFO, "stream",
           "stopping: %llu records, %llu commits, %llu aborts; %lld ms waiting for commits; "
           "%llu records decoded ahead, %llu when handled",
           (unsigned long long)st->stats.records_in, (unsigned long long)st->stats.commits,
           (unsigned long long)st->stats.aborts, (long long)st->commit.wait_ms,
           (unsigned long long)st->ahead.decoded_ahead, (unsigned long long)st->ahead.decoded_inline);
    rd_kafka_consumer_close(st->consumer);
    rd_kafka_destroy(st->consumer);
    st->consumer = NULL;
    st->stats.ready = false;
    nb__publish_stats(st);
    nb__pipeline_flush_metrics(st->pipe, st->metrics);
    return st->fatal ? NB_ERR_KAFKA_FATAL : NB_ERR_OK;
}
