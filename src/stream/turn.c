/*
 * notbrought - stream: what one turn of the run loop does, decided from what it knows (pure:
 * no librdkafka, no clock of its own; unit-tested in tests/unit/test_stream.c). The loop
 * (runtime.c) gathers the facts, asks here, and acts.
 */
#include "stream/internal.h"

int nb__turn_timeout(const nb__turn_t *t)
{
    int64_t timeout = 100;
    if (t->txn_open) {
        /* Wait no longer than the commit interval, nor, while the transaction is younger than
         * the minimum, than that: an idle moment after it commits at once. */
        int64_t left = t->commit_interval_ms - t->batch_age;
        if (t->batch_age < t->min_commit_interval_ms &&
            t->min_commit_interval_ms - t->batch_age < left)
            left = t->min_commit_interval_ms - t->batch_age;
        timeout = left < 0 ? 0 : left;
    }
    if (t->committing && timeout > 2)
        timeout = 2; /* to notice the commit's end */
    return timeout > INT32_MAX ? INT32_MAX : (int)timeout;
}

nb__turn_do_t nb__turn_decide(const nb__turn_t *t)
{
    nb__turn_do_t d = {false, false, false, false};
    /* Once the transaction is min_commit_interval_ms old it commits as soon as the consumer
     * has nothing more at hand: when idle, and also under a trickle of records (a few a turn)
     * that never leaves a turn idle, which held every batch to the full commit interval at
     * 1,000 events a second. Under a backlog turns come full. */
    bool due = t->txn_open && (t->batch_age >= t->commit_interval_ms ||
                               t->batch_records >= t->max_batch ||
                               (t->drained && t->batch_age >= t->min_commit_interval_ms));
    d.alone = t->isolate_commit && t->txn_open; /* a suspect record: commit it alone, now */
    due = due || d.alone;
    /* While input waits and the last commit is still in flight, the batch grows (up to
     * max_batch) rather than wait for it: a slow commit holds nothing up. */
    if (due && !t->idle && t->committing && !t->commit_done && t->batch_records < t->max_batch)
        due = false;
    /* The tick (timers, parked events, merges) runs with a commit at most once per commit
     * interval, and at least once a tick period, and again at once when idle while escalations
     * wait (its budget ran out); not while catching up, when it could deliver here ahead of
     * what the by-child topic still holds. */
    d.tick = !t->catching_up && !d.alone &&
             (t->since_tick >= t->tick_ms || (due && t->since_tick >= t->commit_interval_ms) ||
              (t->idle && t->tick_more));
    d.commit = due;
    /* In the background only while input waits (a backlog): when the consumer has nothing
     * more there is little to overlap, and the next records go out sooner after a commit that
     * was waited for. */
    d.background = t->background_allowed && !t->drained && !d.alone && !t->isolate;
    return d;
}
