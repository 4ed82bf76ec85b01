/*
 * notbrought - stream: restore and rebalance: a by-child partition assigned is restored from its changelog
 * (on restore threads) before its records are handled; one revoked is let go.
 */
#include "stream/runtime.h"

/* ---- restore and rebalance ------------------------------------------------------------------ */

/* Reads one changelog partition (read_committed, to the last stable offset) into a new store,
 * then sets each state's timer and lists what the pipeline's indexes need (@p restored).
 * @locality any thread: touches only @p rk (one restorer per thread), the new store,
 *           @p restored, and the thread-safe metrics registry. */
NB_NODISCARD static nb_err_t nb__restore_build(nb_stream_t *st, rd_kafka_t *rk, int32_t p,
                                               int64_t span, atomic_llong *remaining,
                                               nb__store_t **out, long *records,
                                               nb__restored_t *restored)
{
    nb_err_t result = NB_ERR_OK;
    nb__store_t *fresh = nb__store_new();
    int64_t left = span > 0 ? span : 0; /* of this partition's share of *remaining */
    *out = NULL;
    *records = 0;
    if (!fresh)
        return NB_ERR_NOMEM;
    /* An empty changelog partition needs no read (waiting for its end costs a fetch). */
    if (span == 0) {
        *out = fresh;
        return NB_ERR_OK;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, st->conf->changelog_topic, p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *batch[1024];
    bool done = false;
    while (!done && result == NB_ERR_OK) {
        /* Returns when the batch is full or after 20 ms: at the end of the partition a long
         * timeout would be waited in full. */
        ssize_t n = rd_kafka_consume_batch_queue(q, 20, batch, 1024);
        nb_metrics_heartbeat(st->metrics, nb__now());
        if (n > 0) {
            int64_t d = n < left ? n : left;
            left -= d;
            nb_metrics_add(st->metrics, NB_M_RESTORE_RECORDS, NULL, (double)n);
            nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL,
                           (double)(atomic_fetch_sub(remaining, d) - d));
        }
        if (n <= 0) {
            if (st->fatal)
                result = NB_ERR_KAFKA_FATAL;
            continue;
        }
        for (ssize_t k = 0; k < n; k++) {
            rd_kafka_message_t *rkm = batch[k];
            if (done || result != NB_ERR_OK || rkm->partition != p) {
                /* after the end, or not ours */
            } else if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                done = true;
            } else if (rkm->err) {
                NB_LOG(NB_LOG_WARN, "stream", "restore of partition %d: %s", (int)p,
                       rd_kafka_message_errstr(rkm));
            } else {
                uint8_t key[NB__KEY_LEN];
                if (!rkm->key || !nb__key_unhex(rkm->key, rkm->key_len, key))
                    NB_LOG(NB_LOG_WARN, "stream", "changelog %d offset %lld: bad key, skipped",
                           (int)p, (long long)rkm->offset);
                else if (!rkm->payload || rkm->len == 0)
                    nb__store_del(fresh, key);
                else if (nb__store_put(fresh, key, rkm->payload, rkm->len))
                    result = NB_ERR_NOMEM;
                (*records)++;
            }
            rd_kafka_message_destroy(rkm);
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_assign(rk, NULL);
    /* Offsets compaction removed and transaction markers are not records. */
    nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL,
                   (double)(atomic_fetch_sub(remaining, left) - left));
    if (result != NB_ERR_OK) {
        nb__store_destroy(fresh);
        return result;
    }
    nb__store_scan(fresh, nb__pipeline_restore_scan, restored);
    *out = fresh;
    return NB_ERR_OK;
}

/* Partitions to restore, shared by the restoring threads. */
typedef struct nb__restore_job_s {
    nb_stream_t *st;
    const int32_t *ps;
    size_t np;
    atomic_size_t next;
    nb__store_t **stores; /* [np] */
    nb__restored_t *restored; /* [np]: what the pipeline's timers and indexes need */
    int64_t *spans;       /* [np]: high - low watermark of each changelog partition (-1: unknown) */
    atomic_llong remaining;
    long *records;        /* [np] */
    nb_err_t *errs;       /* [np] */
    int64_t *ms;          /* [np] */
} nb__restore_job_t;

static void nb__restore_work(nb__restore_job_t *job, rd_kafka_t *rk)
{
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->np)
            return;
        int64_t t0 = nb__now();
        job->errs[i] = nb__restore_build(job->st, rk, job->ps[i], job->spans[i], &job->remaining,
                                         &job->stores[i], &job->records[i], &job->restored[i]);
        job->ms[i] = nb__now() - t0;
    }
}

static void *nb__restore_thread(void *arg)
{
    nb__restore_job_t *job = arg;
    nb__restore_work(job, job->st->restore.client2);
    return NULL;
}

/* Asks for the changelog topic's metadata with @p rk, which keeps the topic (@p known, to be
 * destroyed after the restore) and its partitions' leaders. A failure costs only time: the
 * restorer then waits for librdkafka's own refresh. */
static void nb__restore_leaders(nb_stream_t *st, rd_kafka_t *rk, rd_kafka_topic_t **known)
{
    const struct rd_kafka_metadata *md = NULL;
    *known = rd_kafka_topic_new(rk, st->conf->changelog_topic, NULL);
    if (!*known)
        return;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, *known, &md, 2000);
    if (err)
        NB_LOG(NB_LOG_WARN, "stream", "restore: the changelog's leaders not known yet: %s",
               rd_kafka_err2str(err));
    if (md)
        rd_kafka_metadata_destroy(md);
}

/* Rebuilds the state of the given by-child partitions from their changelog partitions: two
 * threads with a restorer each read partitions (the per-record work is the limit, and the
 * broker serves both), then this thread installs the stores and rebuilds the indexes. */
NB_NODISCARD static nb_err_t nb__restore(nb_stream_t *st, const int32_t *ps, size_t np)
{
    int64_t t0 = nb__now();
    nb__restore_job_t job;
    memset(&job, 0, sizeof(job));
    job.st = st;
    job.ps = ps;
    job.np = np;
    atomic_init(&job.next, 0);
    job.stores = calloc(np ? np : 1, sizeof(*job.stores));
    job.records = calloc(np ? np : 1, sizeof(*job.records));
    job.errs = calloc(np ? np : 1, sizeof(*job.errs));
    job.ms = calloc(np ? np : 1, sizeof(*job.ms));
    job.spans = calloc(np ? np : 1, sizeof(*job.spans));
    job.restored = calloc(np ? np : 1, sizeof(*job.restored));
    atomic_init(&job.remaining, 0);
    nb_err_t result = NB_ERR_OK;
    if (!job.stores || !job.records || !job.errs || !job.ms || !job.spans || !job.restored) {
        result = NB_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < np; i++)
        if (ps[i] < 0 || ps[i] >= st->partitions)
            result = NB_ERR_INVALID_ARG;
    if (result)
        goto done;
    /* What there is to read, for the progress gauges (and to skip empty partitions). */
    int64_t total = 0;
    for (size_t i = 0; i < np; i++) {
        int64_t low = 0, high = 0;
        job.spans[i] =
            rd_kafka_query_watermark_offsets(st->restore.client, st->conf->changelog_topic, ps[i],
                                             &low, &high, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR
                ? (high > low ? high - low : 0)
                : -1;
        total += job.spans[i] > 0 ? job.spans[i] : 0;
    }
    atomic_store(&job.remaining, total);
    nb_metrics_set(st->metrics, NB_M_RESTORING_PARTITIONS, NULL, (double)np);
    nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL, (double)total);
    /* Each restorer learns the changelog's partition leaders before its first assignment:
     * without them, librdkafka put off the first partition's start by its offset query timer
     * and its refresh of unknown topics (0.5-1.2 s of every restore). */
    rd_kafka_topic_t *known[2] = {NULL, NULL};
    if (total > 0)
        nb__restore_leaders(st, st->restore.client, &known[0]);
    if (total > 0 && np > 1 && st->restore.client2)
        nb__restore_leaders(st, st->restore.client2, &known[1]);
    pthread_t helper;
    bool two = np > 1 && st->restore.client2 &&
               nb_thread_create(&helper, nb__restore_thread, &job) == 0;
    nb__restore_work(&job, st->restore.client);
    if (two)
        pthread_join(helper, NULL);
    for (int i = 0; i < 2; i++)
        if (known[i])
            rd_kafka_topic_destroy(known[i]);
    nb_metrics_set(st->metrics, NB_M_RESTORING_PARTITIONS, NULL, 0);
    nb_metrics_set(st->metrics, NB_M_RESTORE_REMAINING, NULL, 0);
    for (size_t i = 0; i < np && result == NB_ERR_OK; i++)
        result = job.errs[i];
    if (result)
        goto done;
    for (size_t i = 0; i < np; i++) {
        int32_t p = ps[i];
        if (st->stores[p]) {
            /* Restored again: what the pipeline indexed of the old state goes with it. */
            nb__store_destroy(st->stores[p]);
            nb__pipeline_partition_dropped(st->pipe, p);
        } else {
            st->stats.owned++;
        }
        st->stores[p] = job.stores[i];
        job.stores[i] = NULL;
        nb__pipeline_partition_restored(st->pipe, st, p, &job.restored[i]);
        st->stats.restored += nb__store_count(st->stores[p]);
        NB_LOG(NB_LOG_INFO, "stream",
               "restored partition %d: %zu children from %ld changelog records in %lld ms",
               (int)p, nb__store_count(st->stores[p]), job.records[i], (long long)job.ms[i]);
    }
    size_t keys = nb__stream_keys(st), bytes = nb__pipeline_state_bytes(st->pipe, st),
           stores = nb__stream_state_bytes(st);
    NB_LOG(NB_LOG_INFO, "stream",
           "restored %zu partitions in %lld ms; the state holds %zu keys in %zu bytes (%zu per "
           "key; the stores %zu, the timers' heaps %zu, %zu timers)",
           np, (long long)(nb__now() - t0), keys, bytes, keys ? bytes / keys : 0, stores,
           bytes - stores, nb__stream_timed(st));
done:
    for (size_t i = 0; job.stores && i < np; i++)
        nb__store_destroy(job.stores[i]);
    for (size_t i = 0; job.restored && i < np; i++)
        nb__restored_free(&job.restored[i]);
    free(job.restored);
    free(job.stores);
    free(job.records);
    free(job.errs);
    free(job.ms);
    free(job.spans);
    return result;
}

/* ---- catching up: the by-child partitions before the sources --------------------------------
 *
 * An instance that owns a key's by-child partition handles the key's events from the sources
 * it reads at once (nb__deliver_here). The previous owner of those sources sent the same key's
 * earlier events through the by-child topic, in the transactions that committed the sources'
 * offsets past them. So, after an assignment, the sources stay paused until every owned
 * by-child partition has been read past every record forwarded before the sources' committed
 * offsets. Reading to the end once (partition EOF) is not that: a read_committed end is the
 * last stable offset, and it was taken too early when the previous owner, cut off from the
 * group (a paused process, a broker that stalled), still had a transaction open that then
 * committed both the forwarded records and the offsets. The new owner started after those
 * events on the source and handled a later version of an appointment first (e2e.cluster).
 * Hence two steps: the rebalance callback waits until the group's committed offsets are
 * stable (nb__offsets_settle: require_stable, the coordinator answers once no transaction
 * that commits them is open), and only then, at the next turns, the by-child partitions'
 * high watermarks are taken, read_uncommitted, as the offsets to read to.
 * A read_committed read reaches a high watermark once every transaction below it has ended.
 */

/* Pauses or resumes every assigned partition of the source topics (all but by-child). */
static void nb__sources_pause(nb_stream_t *st, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL, *src;
    if (pause && st->test_hold_until)
        return; /* a test: as if librdkafka let records through (nb_stream_set_catch_up_test) */
    if (rd_kafka_assignment(st->consumer, &parts) || !parts)
        return;
    src = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    for (int i = 0; i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) != 0)
            rd_kafka_topic_partition_list_add(src, parts->elems[i].topic,
                                              parts->elems[i].partition);
    if (src->cnt > 0) {
        rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(st->consumer, src)
                                        : rd_kafka_resume_partitions(st->consumer, src);
        if (err)
            NB_LOG(NB_LOG_WARN, "stream", "%s sources: %s", pause ? "pause" : "resume",
                   rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(src);
    rd_kafka_topic_partition_list_destroy(parts);
}

void nb__catch_up_hold(nb_stream_t *st, const char *topic, int32_t partition, int64_t offset)
{
    st->stats.held_back++;
    if (!st->restore.held)
        st->restore.held = rd_kafka_topic_partition_list_new(8);
    if (!rd_kafka_topic_partition_list_find(st->restore.held, topic, partition)) {
        rd_kafka_topic_partition_list_add(st->restore.held, topic, partition)->offset = offset;
        NB_LOG(NB_LOG_INFO, "stream",
               "%s [%d] offset %lld delivered while the sources are paused for the catch-up: "
               "held back, read again once they resume",
               topic, (int)partition, (long long)offset);
    }
    /* A test's catch-up ends with this record (nb_stream_set_catch_up_test), while records
     * polled after it wait in the ring, as when the by-child partitions' end is read while
     * handling what was polled. */
    if (st->test_hold_until && st->stats.held_back == st->test_hold_until)
        nb__catch_up_check(st, false);
}

void nb__catch_up_forget(nb_stream_t *st)
{
    if (st->restore.held)
        rd_kafka_topic_partition_list_destroy(st->restore.held);
    st->restore.held = NULL;
}

/* The sources resumed: each partition that delivered records while paused is sought back to
 * the first of them, and what of it was polled meanwhile is dropped from the ring. */
static void nb__catch_up_release(nb_stream_t *st)
{
    rd_kafka_topic_partition_list_t *held = st->restore.held;
    if (!held)
        return;
    st->restore.held = NULL;
    nb__ahead_skip(st, held);
    rd_kafka_error_t *error = rd_kafka_seek_partitions(st->consumer, held, 30000);
    bool failed = error != NULL;
    if (error) {
        NB_LOG(NB_LOG_ERROR, "stream", "seeking back what was held during the catch-up: %s",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    for (int i = 0; i < held->cnt; i++)
        if (held->elems[i].err) {
            NB_LOG(NB_LOG_ERROR, "stream", "seeking back %s [%d]: %s", held->elems[i].topic,
                   (int)held->elems[i].partition, rd_kafka_err2str(held->elems[i].err));
            failed = true;
        }
    /* Not sought back, handling on would skip what was held: stop instead (exit 3; the next
     * start restores and reads from the committed offsets). */
    if (failed)
        st->fatal = true;
    rd_kafka_topic_partition_list_destroy(held);
}

static bool nb__caught(const nb_stream_t *st, int32_t p)
{
    return st->restore.targets_known && st->restore.read_to[p] >= st->restore.target[p];
}

/* Starts catching up (sources paused) when some owned by-child partition is not read to its
 * target; ends it when all are. */
void nb__catch_up_check(nb_stream_t *st, bool force)
{
    bool all = true, any = false;
    for (int p = 0; p < st->partitions; p++) {
        if (!st->stores[p])
            continue;
        any = true;
        all = all && nb__caught(st, p);
    }
    bool want = st->conf->local_by_child && any && !all;
    if (st->test_hold_until && st->restore.catching_up)
        want = st->stats.held_back < st->test_hold_until; /* nb_stream_set_catch_up_test */
    if (want == st->restore.catching_up && !force)
        return;
    bool changed = want != st->restore.catching_up;
    st->restore.catching_up = want;
    st->stats.catching_up = want;
    if (changed && want)
        st->restore.catch_up_since = nb__now();
    nb__sources_pause(st, want);
    if (!want)
        nb__catch_up_release(st);
    if (changed && want)
        NB_LOG(NB_LOG_INFO, "stream",
               "reading the by-child partitions to their end before the "
               "sources");
    else if (changed)
        NB_LOG(NB_LOG_INFO, "stream",
               "by-child partitions read to their end; sources resumed after %lld ms",
               (long long)(nb__now() - st->restore.catch_up_since));
}

/* Rewound (an abort): the by-child records handled in the rolled-back transaction come again
 * before any source record may be handled here. The targets stay: only this instance commits
 * the sources' offsets now. */
void nb__catch_up_restart(nb_stream_t *st)
{
    nb__catch_up_forget(st); /* the rewind sought every partition */
    for (int p = 0; p < st->partitions; p++)
        st->restore.read_to[p] = -1;
    nb__catch_up_check(st, false);
}

void nb__catch_up_read(nb_stream_t *st, int32_t p, int64_t offset)
{
    if (p < 0 || p >= st->partitions || offset <= st->restore.read_to[p])
        return;
    bool was = nb__caught(st, p);
    st->restore.read_to[p] = offset;
    if (st->restore.catching_up && !was && nb__caught(st, p))
        nb__catch_up_check(st, false);
}

/* The high watermarks' client asks the leaders it knows, and nothing else refreshes what it
 * knows (it reads no partition): after a leader moved (a broker killed) it was refused
 * (NOT_LEADER_FOR_PARTITION) for good. A failed ask refreshes the by-child topic's metadata. */
static void nb__ends_refresh(nb_stream_t *st)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(st->restore.ends, st->conf->by_child_topic, NULL);
    if (!rkt)
        return;
    if (rd_kafka_metadata(st->restore.ends, 0, rkt, &md, NB__STABLE_ASK_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
}

void nb__catch_up_targets(nb_stream_t *st, int64_t now)
{
    if (!st->restore.catching_up || st->restore.targets_known ||
        now - st->restore.targets_asked < NB__STABLE_RETRY_MS)
        return;
    st->restore.targets_asked = now;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(st->consumer, &parts) || !parts)
        return;
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (strcmp(tp->topic, st->conf->by_child_topic) == 0 && nb__owns(st, tp->partition))
            rd_kafka_topic_partition_list_add(ends, tp->topic, tp->partition)->offset =
                RD_KAFKA_OFFSET_END; /* the latest offset: a time of -1 */
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ends->cnt > 0) {
        err = rd_kafka_offsets_for_times(st->restore.ends, ends, NB__STABLE_ASK_MS);
        for (int i = 0; !err && i < ends->cnt; i++)
            err = ends->elems[i].err;
    }
    if (err) {
        /* Retried at the next turn: a leader moving. The 30 s warning (nb__turn_chores)
         * says when it lasts. */
        NB_LOG(NB_LOG_DEBUG, "stream", "catching up: the by-child partitions' high watermarks: %s",
               rd_kafka_err2str(err));
        st->restore.ask_err = err;
        nb__ends_refresh(st);
    } else {
        for (int i = 0; i < ends->cnt; i++)
            st->restore.target[ends->elems[i].partition] =
                ends->elems[i].offset > 0 ? ends->elems[i].offset : 0;
        st->restore.targets_known = true;
        NB_LOG(NB_LOG_INFO, "stream",
               "catching up: reading %d by-child partitions to their high watermarks", ends->cnt);
        nb__catch_up_check(st, false);
    }
    rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(parts);
}

/*
 * Before a restore, every transaction that commits offsets of the group's partitions has
 * ended. A previous owner cut off from the group (paused, or behind a stalled broker) may
 * have had its offsets accepted before the generation moved on and commit its transaction
 * after: the changelog records it wrote were then past the end (the last stable offset) this
 * restore read to, while the group's offsets, read stable, started after the events they
 * came from. The child's state lacked those events for good (e2e.cluster: a rule that needs
 * two missed appointments saw one). Every partition is asked, not only the assigned ones:
 * the previous owner's transaction carried the offsets of the partitions it read, which may
 * now be another instance's. The coordinator answers once none is pending; each
 * transaction that writes a changelog carries offsets (a tick's too: nb__fence_offset).
 * The same wait comes before catching up (the sources' offsets stable: restore.c above), and
 * the answer gives the group's offsets of the assigned partitions, for fencing and rewinding
 * (nb__fence_offset, nb__rewind) where this instance has committed none yet.
 */
static void nb__done_offsets_seed(nb_stream_t *st, const rd_kafka_topic_partition_list_t *assigned,
                                  const rd_kafka_topic_partition_list_t *all)
{
    for (int i = 0; i < all->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &all->elems[i];
        if (tp->offset >= 0 &&
            rd_kafka_topic_partition_list_find(assigned, tp->topic, tp->partition) &&
            !rd_kafka_topic_partition_list_find(st->done_offsets, tp->topic, tp->partition))
            rd_kafka_topic_partition_list_add(st->done_offsets, tp->topic, tp->partition)->offset =
                tp->offset;
    }
}

NB_NODISCARD static nb_err_t nb__offsets_settle(nb_stream_t *st,
                                                const rd_kafka_topic_partition_list_t *assigned)
{
    int64_t t0 = nb__now(), said = t0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (;;) {
        rd_kafka_topic_partition_list_t *all = nb__group_partitions(st);
        if (!all) {
            err = RD_KAFKA_RESP_ERR__TRANSPORT; /* no metadata: asked again */
        } else {
            err = rd_kafka_committed(st->consumer, all, NB__STABLE_ASK_MS);
            for (int i = 0; !err && i < all->cnt; i++)
                err = all->elems[i].err;
            if (!err)
                nb__done_offsets_seed(st, assigned, all);
            rd_kafka_topic_partition_list_destroy(all);
        }
        int64_t now = nb__now();
        if (!err) {
            if (now - t0 >= 1000)
                NB_LOG(NB_LOG_INFO, "stream",
                       "the group's offsets are stable after %lld ms; restoring",
                       (long long)(now - t0));
            return NB_ERR_OK;
        }
        if ((st->stop && *st->stop) || atomic_load(&st->stop_asked))
            return NB_ERR_KAFKA; /* stopping: nothing restored, nothing handled */
        if (now - t0 >= NB__SETTLE_MAX_MS) {
            NB_LOG(NB_LOG_ERROR, "stream",
                   "the group's committed offsets are not stable after %lld ms (%s): not "
                   "restoring",
                   (long long)(now - t0), rd_kafka_err2name(err));
            return NB_ERR_KAFKA;
        }
        if (now - said >= 10000) {
            NB_LOG(NB_LOG_WARN, "stream",
                   "restore waits for a transaction of an earlier owner to end (%s) for %lld s",
                   rd_kafka_err2name(err), (long long)((now - t0) / 1000));
            said = now;
        }
        if (err != RD_KAFKA_RESP_ERR__TIMED_OUT) {
            struct timespec ts = {0, NB__STABLE_RETRY_MS * 1000000L};
            nanosleep(&ts, NULL); /* an answer at once (no coordinator yet): not a busy loop */
        }
    }
}

static void nb__drop(nb_stream_t *st, int32_t p)
{
    if (p < 0 || p >= st->partitions || !st->stores[p])
        return;
    nb__store_destroy(st->stores[p]);
    st->stores[p] = NULL;
    st->stats.owned--;
    nb__pipeline_partition_dropped(st->pipe, p);
}

void nb__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    nb_stream_t *st = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    /* What was polled before the rebalance is handled before it, as if it had been handled
     * at once; or dropped with partitions lost, whose records another instance handles. */
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && rd_kafka_assignment_lost(rk))
        nb__ahead_discard(st);
    else if (nb__ahead_handle(st, UINT64_MAX, false) == NB_ERR_KAFKA_FATAL)
        nb__ahead_discard(st);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* A failed commit rewinds before the restore, not after. Rolled back
         * (NB_ERR_KAFKA_ABORTABLE), its records come again; fatal, nothing is restored. */
        if (nb__commit_settle(st) == NB_ERR_KAFKA_FATAL)
            st->fatal = true;
        nb__done_offsets_reset(st);
        nb__srcwm_assign(st, parts, true);
        st->stats.ready = false;
        nb__publish_stats(st); /* /readyz says so while the restore runs, not after it */
        int32_t *ps = calloc((size_t)parts->cnt + 1, sizeof(*ps));
        size_t np = 0;
        for (int i = 0; ps && i < parts->cnt; i++) {
            if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) != 0)
                continue;
            if (parts->elems[i].partition >= st->partitions) {
                NB_LOG(NB_LOG_ERROR, "stream",
                       "%s has partition %d but topics.partitions is %d: the configuration "
                       "must match the topic (and the changelog)",
                       st->conf->by_child_topic, (int)parts->elems[i].partition, st->partitions);
                st->fatal = true;
                continue;
            }
            ps[np++] = parts->elems[i].partition;
        }
        /* Before a restore, and before catching up (an incremental assignment of sources
         * alone while owning by-child partitions). Stopped while waiting for offsets to
         * settle: nothing restored, so nothing taken (the stop leaves the group; the
         * partitions go to the others). */
        bool settle = np > 0 || (st->conf->local_by_child && st->stats.owned > 0);
        if (ps && settle && !st->fatal && nb__offsets_settle(st, parts)) {
            free(ps);
            if (!((st->stop && *st->stop) || atomic_load(&st->stop_asked)))
                st->fatal = true;
            if (cooperative) {
                rd_kafka_topic_partition_list_t *none = rd_kafka_topic_partition_list_new(0);
                rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, none);
                if (e)
                    rd_kafka_error_destroy(e);
                rd_kafka_topic_partition_list_destroy(none);
            } else {
                rd_kafka_assign(rk, NULL);
            }
            NB_LOG(NB_LOG_INFO, "stream", "%d partitions assigned but not taken (%s)", parts->cnt,
                   st->fatal ? "offsets never stable" : "stopping");
            return;
        }
        /* One partition at a time per thread, two threads (docs/benchmarks.md). */
        if (ps && np > 0 && !st->fatal && nb__restore(st, ps, np)) {
            NB_LOG(NB_LOG_ERROR, "stream", "restore of %zu partitions failed", np);
            st->fatal = true;
        }
        if (!ps) {
            NB_LOG(NB_LOG_ERROR, "stream", "restore: out of memory");
            st->fatal = true;
        }
        free(ps);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
        st->stats.ready = !st->fatal;
        NB_LOG(NB_LOG_INFO, "stream", "assigned %d partitions", parts->cnt);
        /* Sources assigned may have forwarded to any owned by-child partition: every target
         * is taken again. */
        for (int i = 0; i < parts->cnt; i++)
            if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) == 0 &&
                parts->elems[i].partition >= 0 && parts->elems[i].partition < st->partitions)
                st->restore.read_to[parts->elems[i].partition] = -1;
        st->restore.targets_known = false;
        st->restore.targets_asked = 0;
        nb__catch_up_forget(st);      /* every partition starts at its committed offset */
        nb__catch_up_check(st, true); /* pause what the assignment brings if need be */
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        /* Finish what we did with these partitions before another instance gets them: the
         * commit in flight, then the open batch (rolled back when the partitions are lost). */
        nb_err_t cerr = rd_kafka_assignment_lost(rk) ? nb__abort(st) : nb__commit(st);
        /* Rolled back (NB_ERR_KAFKA_ABORTABLE), the batch's offsets are not committed and the
         * partitions' next owner handles its records again; fatal, the run stops. */
        if (cerr == NB_ERR_KAFKA_FATAL)
            st->fatal = true;
        nb__done_offsets_reset(st);
        nb__srcwm_assign(st, parts, false);
        for (int i = 0; i < parts->cnt; i++)
            if (strcmp(parts->elems[i].topic, st->conf->by_child_topic) == 0)
                nb__drop(st, parts->elems[i].partition);
        if (!cooperative)
            st->restore.catching_up = false; /* nothing left to pause */
        for (int i = 0; st->restore.held && i < parts->cnt; i++)
            rd_kafka_topic_partition_list_del(st->restore.held, parts->elems[i].topic,
                                              parts->elems[i].partition);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        NB_LOG(NB_LOG_INFO, "stream", "revoked %d partitions", parts->cnt);
    } else {
        NB_LOG(NB_LOG_ERROR, "stream", "rebalance: %s", rd_kafka_err2str(err));
        rd_kafka_assign(rk, NULL);
    }
}
