/*
 * notbrought - stream: the sources' watermarks: how far each source partition has been read, in the time
 * its records were recorded, here or as another instance reports it.
 */
#include "stream/runtime.h"

/* ---- watermarks ------------------------------------------------------------------------------ */

/* The entry of a source partition (made when @p make), or NULL. */
static nb__srcwm_t *nb__srcwm_find(nb_stream_t *st, const char *topic, int32_t partition,
                                   bool make)
{
    if (st->wm.hit < st->wm.n) {
        nb__srcwm_t *w = &st->wm.src[st->wm.hit];
        if (w->partition == partition && strcmp(w->topic, topic) == 0)
            return w;
    }
    for (size_t i = 0; i < st->wm.n; i++) {
        nb__srcwm_t *w = &st->wm.src[i];
        if (w->partition == partition && strcmp(w->topic, topic) == 0) {
            st->wm.hit = i;
            return w;
        }
    }
    if (!make)
        return NULL;
    if (st->wm.n == st->wm.cap) {
        size_t cap = st->wm.cap ? 2 * st->wm.cap : 16;
        nb__srcwm_t *v = realloc(st->wm.src, cap * sizeof(*v));
        if (!v)
            return NULL;
        st->wm.src = v;
        st->wm.cap = cap;
    }
    nb__srcwm_t *w = &st->wm.src[st->wm.n];
    memset(w, 0, sizeof(*w));
    nb_str_copy(w->topic, sizeof(w->topic), topic);
    w->partition = partition;
    w->seen = nb__now();
    st->wm.hit = st->wm.n++;
    return w;
}

static void nb__srcwm_drop(nb_stream_t *st, size_t i)
{
    st->wm.src[i] = st->wm.src[--st->wm.n];
    st->wm.hit = 0;
}

/* Every partition of the subscribed topics, as the brokers say (NULL when they cannot). */
rd_kafka_topic_partition_list_t *nb__group_partitions(nb_stream_t *st)
{
    const nb_config_t *c = st->conf;
    const rd_kafka_metadata_t *md = NULL;
    if (rd_kafka_metadata(st->producer, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(64);
    for (int i = 0; i < md->topic_cnt; i++) {
        const char *t = md->topics[i].topic;
        bool ours = strcmp(t, c->context_topic) == 0 || strcmp(t, c->acks_topic) == 0 ||
                    strcmp(t, c->by_child_topic) == 0;
        for (size_t k = 0; k < c->n_appointment_topics && !ours; k++)
            ours = strcmp(t, c->appointment_topics[k]) == 0;
        if (ours && !md->topics[i].err)
            for (int p = 0; p < md->topics[i].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(all, t, md->topics[i].partitions[p].id);
    }
    rd_kafka_metadata_destroy(md);
    return all;
}

/* How many partitions the subscribed topics have (0 when the brokers cannot say): the
 * watermark holds until each has an entry, here or reported by another instance. */
static size_t nb__srcwm_expected(nb_stream_t *st)
{
    rd_kafka_topic_partition_list_t *all = nb__group_partitions(st);
    size_t total = all ? (size_t)all->cnt : 0;
    if (all)
        rd_kafka_topic_partition_list_destroy(all);
    return total;
}

/* The partitions of an assignment (the sources, and the by-child partitions, whose records
 * are events read from a source and not yet applied) start unknown: they hold absence
 * deadlines back until they have been read to their end and stayed quiet. Revoked ones are
 * forgotten. */
void nb__srcwm_assign(nb_stream_t *st, const rd_kafka_topic_partition_list_t *parts,
                             bool assign)
{
    if (assign)
        st->wm.expected = nb__srcwm_expected(st);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        nb__srcwm_t *w = nb__srcwm_find(st, tp->topic, tp->partition, assign);
        if (!w)
            continue;
        if (assign) {
            memset(&w->remote, 0, sizeof(*w) - offsetof(nb__srcwm_t, remote));
            w->seen = nb__now();
        } else if (!w->remote) {
            nb__srcwm_drop(st, (size_t)(w - st->wm.src));
        }
    }
}

/* A record or the end of a source partition, in the order handled. */
void nb__srcwm_note(nb_stream_t *st, const rd_kafka_message_t *rkm, int64_t recorded)
{
    nb__srcwm_t *w = nb__srcwm_find(st, rd_kafka_topic_name(rkm->rkt), rkm->partition, true);
    if (!w)
        return;
    w->remote = false;
    if (rkm->err) {
        if (!w->at_end)
            w->at_end = nb__now();
        return;
    }
    w->at_end = 0; /* (seen is a report's time: a local entry needs no clock per record) */
    if (recorded != NB_TIME_NONE && recorded > w->recorded)
        w->recorded = recorded;
}

/* The watermark of one partition as of @p now (the evaluation clock), or NB_TIME_NONE when it
 * holds nothing back: a partition read to its end and quiet for processing.watermark_idle_ms
 * (the end alone is no proof: a source catching up may still be sending its backlog), or a
 * report no longer renewed. @p wall is the wall clock. */
static int64_t nb__srcwm_of(const nb_stream_t *st, const nb__srcwm_t *w, int64_t now,
                            int64_t wall)
{
    if (w->remote ? wall - w->seen > st->conf->watermark_idle_ms
                  : w->at_end && wall - w->at_end >= st->conf->watermark_idle_ms)
        return NB_TIME_NONE;
    return w->recorded < now ? w->recorded : NB_TIME_NONE;
}

/*
 * How far every source that could record an expected contact has been read, in recorded
 * time: the least watermark of the source and by-child partitions, those assigned here and
 * those the other instances report; NB_TIME_NONE when none holds deadlines back. How long a
 * slow or stuck partition may hold a deadline back is bounded by the pipeline
 * (processing.watermark_max_hold_ms).
 */
static int64_t nb__watermark(nb_stream_t *st, int64_t now, int64_t wall)
{
    if (st->conf->watermark_max_hold_ms == 0)
        return NB_TIME_NONE;
    /* A partition nobody has said anything about yet (an instance that has just joined and
     * owns no source partition, before the others' first report; or no assignment at all)
     * holds every deadline: what it has not read may be the contact that was expected. */
    if (st->wm.expected == 0 || st->wm.n < st->wm.expected)
        return 0;
    int64_t wm = NB_TIME_NONE;
    for (size_t i = 0; i < st->wm.n; i++) {
        int64_t w = nb__srcwm_of(st, &st->wm.src[i], now, wall);
        if (w != NB_TIME_NONE && (wm == NB_TIME_NONE || w < wm))
            wm = w;
    }
    return wm;
}

/* Every turn: the watermark for the pipeline; once a tick (@p gauges) the metrics too. */
void nb__watermark_update(nb_stream_t *st, int64_t now, int64_t wall, bool gauges)
{
    st->wm.value = nb__watermark(st, now, wall);
    nb__pipeline_set_watermark(st->pipe, st->wm.value, wall);
    if (!st->metrics || !gauges)
        return;
    uint64_t released = nb__pipeline_released(st->pipe);
    if (released > st->wm.released_seen) {
        nb_metrics_add(st->metrics, NB_M_WATERMARK_RELEASED, NULL,
                       (double)(released - st->wm.released_seen));
        st->wm.released_seen = released;
    }
    nb_metrics_set(st->metrics, NB_M_ABSENCE_WATERMARK_LAG, NULL,
                   st->wm.value == NB_TIME_NONE ? 0.0 : (double)(now - st->wm.value) / 1e3);
    nb_metrics_set(st->metrics, NB_M_TIMERS_HELD, NULL, (double)nb__pipeline_held(st->pipe));
    for (size_t i = 0; i < st->wm.n; i++) {
        const nb__srcwm_t *w = &st->wm.src[i];
        if (w->remote)
            continue;
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)w->partition);
        const char *labels[2] = {w->topic, part};
        int64_t v = nb__srcwm_of(st, w, now, wall);
        nb_metrics_set_v(st->metrics, NB_M_SOURCE_WATERMARK_LAG, labels,
                         v == NB_TIME_NONE ? 0.0 : (double)(now - v) / 1e3);
    }
}

/* Reports the watermarks of the source partitions assigned here to the by-child partitions
 * other instances own (a record of kind "watermark": "topic TAB partition TAB ms" lines), in
 * the open transaction, at most once a second. Nothing when this instance owns them all. */
nb_err_t nb__watermark_report(nb_stream_t *st, int64_t now, int64_t wall)
{
    if (wall - st->wm.reported < NB__TICK_MS || st->stats.owned >= st->partitions)
        return NB_ERR_OK;
    st->wm.reported = wall;
    nb_buf_t b = {0};
    for (size_t i = 0; i < st->wm.n; i++) {
        const nb__srcwm_t *w = &st->wm.src[i];
        if (w->remote)
            continue;
        int64_t v = nb__srcwm_of(st, w, now, wall);
        char line[300];
        int n = snprintf(line, sizeof(line), "%s\t%d\t%lld\n", w->topic, (int)w->partition,
                         (long long)(v == NB_TIME_NONE ? now : v));
        if (n > 0 && (size_t)n < sizeof(line) && nb_buf_append(&b, line, (size_t)n)) {
            nb_buf_free(&b);
            return NB_ERR_NOMEM;
        }
    }
    nb_err_t err = NB_ERR_OK;
    for (int32_t p = 0; b.len > 0 && p < st->partitions && !err; p++) {
        if (nb__owns(st, p))
            continue;
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "nb.kind", -1, "watermark", -1);
        rd_kafka_header_add(h, "nb.instance", -1, st->conf->instance_id, -1);
        err = nb__emit(st, st->conf->by_child_topic, p, "watermark", 9, b.data, b.len, h);
    }
    nb_buf_free(&b);
    return err;
}

/* A watermark report of another instance (nb__watermark_report). @returns true when
 * @p rkm is one. */
bool nb__watermark_heard(nb_stream_t *st, const rd_kafka_message_t *rkm)
{
    rd_kafka_headers_t *h = NULL;
    char kind[16];
    if (rd_kafka_message_headers(rkm, &h) || !h ||
        strcmp(nb__header_str(h, "nb.kind", kind, sizeof(kind)), "watermark") != 0)
        return false;
    const char *p = rkm->payload, *end = p ? p + rkm->len : NULL;
    int64_t wall = nb__now();
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[300], topic[250];
        int part;
        long long ms;
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
            if (sscanf(line, "%249[^\t]\t%d\t%lld", topic, &part, &ms) == 3) {
                /* One assigned here is known better here (a report from before a rebalance);
                 * one not known yet is made a remote entry. */
                nb__srcwm_t *w = nb__srcwm_find(st, topic, part, false);
                if (!w && (w = nb__srcwm_find(st, topic, part, true)))
                    w->remote = true;
                if (w && w->remote) {
                    w->recorded = ms;
                    w->seen = wall;
                }
            }
        }
        p += len + 1;
    }
    return true;
}
