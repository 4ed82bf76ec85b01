/*
 * notbrought - ingest: one MLLP connection. Bytes are read into a buffer and framed
 * (nb_hl7_mllp_find); each message is handed to the listener's mapper at once and joins the
 * connection's queue, in the order it came. Its records (or, refused, its dead letter) go to
 * the publisher; the delivery reports decide its answer. ACKs are written from the head of the
 * queue only, so a sender that pipelines gets them in the order it sent, whatever order Kafka
 * acknowledged in.
 */
#include "ingest/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notbrought/codec.h"

#define NB__TEXT_RESEND "the receiving application cannot store the message now; resend"
#define NB__TEXT_BUSY "the receiving application cannot process the message now; resend"
#define NB__BATCH_FIELD_MAX 200 /* bytes of a batch header's field copied into the answer */

void nb__count(nb_ingest_t *in, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&in->stats_lock);
    *field += n;
    pthread_mutex_unlock(&in->stats_lock);
}

static const char *nb__src(const nb_ingest_t *in, size_t li)
{
    return in->ls[li].conf->name;
}

static const char *const nb__codes[] = {"AA", "AE", "AR"};

nb__conn_t *nb__conn_new(nb_ingest_t *in, size_t li, int fd, const char *peer)
{
    nb__conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->listener = li;
    c->last_ms = in->now;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    if (in->ls[li].tls) {
        c->ssl = SSL_new(in->ls[li].tls);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
            SSL_free(c->ssl);
            free(c);
            return NULL;
        }
    } else {
        c->handshaken = true;
    }
    return c;
}

static void nb__msg_free(nb__msg_t *m)
{
    if (!m)
        return;
    free(m->msh);
    free(m->batch_head);
    free(m);
}

void nb__conn_free(nb_ingest_t *in, nb__conn_t *c)
{
    (void)in;
    if (!c)
        return;
    for (nb__msg_t *m = c->head, *next; m; m = next) {
        next = m->next;
        m->next = NULL;
        if (m->waiting > 0)
            m->conn = NULL; /* freed when its last report comes */
        else
            nb__msg_free(m);
    }
    if (c->ssl) {
        if (c->handshaken)
            SSL_shutdown(c->ssl); /* one try: the close_notify, if the socket takes it */
        SSL_free(c->ssl);
    }
    close(c->fd);
    nb_buf_free(&c->in);
    nb_buf_free(&c->out);
    nb_buf_free(&c->batch);
    free(c);
}

bool nb__conn_readable(const nb_ingest_t *in, const nb__conn_t *c)
{
    if (c->closing || c->eof || c->dead)
        return false;
    size_t held = c->in.len + c->pending_bytes + (c->out.len - c->out_off);
    return c->pending_bytes == 0 || held < (size_t)in->conf->ingest_max_buffered_bytes;
}

/* Keeps printable ASCII of @p v in @p out (a control id for logs and headers). */
static void nb__printable(nb_hl7_value_t v, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < v.len && n + 1 < size; i++)
        if (v.p[i] > ' ' && v.p[i] < 0x7f)
            out[n++] = v.p[i];
    out[n] = '\0';
}

/* Where a frame's first segment starts (after a UTF-8 byte order mark and blank lines). */
static size_t nb__skip_lead(const char *data, size_t len)
{
    size_t i = 0;
    if (len >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
        (unsigned char)data[2] == 0xBF)
        i = 3;
    while (i < len && (data[i] == '\r' || data[i] == '\n' || data[i] == ' ' || data[i] == '\t'))
        i++;
    return i;
}

/* Keeps a copy of the message's MSH segment (the ACK is built from it) and its control id. */
static void nb__msg_keep_msh(nb_ingest_t *in, nb__msg_t *m, const char *data, size_t len)
{
    size_t i = nb__skip_lead(data, len);
    if (len - i < 8 || memcmp(data + i, "MSH", 3) != 0)
        return;
    size_t end = i;
    while (end < len && data[end] != '\r' && data[end] != '\n' && end - i < NB__INGEST_MSH_MAX)
        end++;
    if (end - i >= NB__INGEST_MSH_MAX || !(m->msh = malloc(end - i)))
        return;
    memcpy(m->msh, data + i, end - i);
    m->msh_len = end - i;
    char why[128];
    NB_IGNORE(nb_hl7_msg_parse(in->hl7, m->msh, m->msh_len, why, sizeof(why))); /* MSH read or not:
                                                                 the segment count says */
    if (nb_hl7_segment_count(in->hl7) > 0)
        nb__printable(nb_hl7_get(in->hl7, 0, 10, 1, 1, 0), m->control_id, sizeof(m->control_id));
}

static nb__msg_t *nb__msg_new(nb_ingest_t *in, nb__conn_t *c, const char *data, size_t len)
{
    nb__msg_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->conn = c;
    m->in = in;
    m->listener = c->listener;
    m->bytes = len;
    nb__msg_keep_msh(in, m, data, len);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    c->pending_bytes += len;
    return m;
}

/* Decides the answer. A refusal is counted and logged here, once. */
static void nb__msg_decide(nb_ingest_t *in, nb__msg_t *m, nb_hl7_ack_code_t code,
                           const char *refusal, const char *text)
{
    m->done = true;
    m->code = code;
    snprintf(m->refusal, sizeof(m->refusal), "%s", refusal ? refusal : "");
    snprintf(m->text, sizeof(m->text), "%s", text ? text : "");
    if (code == NB_HL7_AA)
        return;
    const char *labels[2] = {nb__src(in, m->listener), m->refusal[0] ? m->refusal : "refused"};
    nb_metrics_add_v(in->metrics, NB_M_MLLP_REFUSED, labels, 1);
    NB_LOG(NB_LOG_WARN, "ingest", "%s: message %s from %s answered %s (%s): %s", labels[0],
           m->control_id[0] ? m->control_id : "(no control id)",
           m->conn ? m->conn->peer : "a closed connection", nb__codes[code], labels[1], m->text);
}

void nb__msg_reported(void *opaque, nb_err_t err, const char *reason)
{
    nb__msg_t *m = opaque;
    nb_ingest_t *in = m->in;
    if (m->waiting > 0)
        m->waiting--;
    if (err && !m->kafka_failed) {
        m->kafka_failed = true;
        NB_LOG(NB_LOG_WARN, "ingest", "%s: message %s: Kafka did not acknowledge it: %s: %s",
               nb__src(in, m->listener), m->control_id[0] ? m->control_id : "(no control id)",
               nb_err_name(err), reason);
    }
    if (m->waiting > 0)
        return;
    if (!m->done) {
        if (m->kafka_failed) {
            nb__msg_decide(in, m, NB_HL7_AR, "kafka_unavailable", NB__TEXT_RESEND);
        } else if (m->refused) {
            /* The dead letter is in: the refusal it was given is the answer. */
            char refusal[NB_INGEST_CODE_MAX], text[NB_INGEST_TEXT_MAX];
            memcpy(refusal, m->refusal, sizeof(refusal));
            memcpy(text, m->text, sizeof(text));
            nb__count(in, &in->stats.dead_letters, 1);
            nb__msg_decide(in, m, m->code, refusal, text);
        } else {
            nb__msg_decide(in, m, NB_HL7_AA, NULL, NULL);
        }
    }
    if (!m->conn) {
        nb__msg_free(m); /* its connection has gone: nobody to answer */
        return;
    }
    nb__conn_flush(in, m->conn);
}

/* The refused message to the dead-letter topic; its ACK waits for Kafka's. */
static void nb__msg_refuse(nb_ingest_t *in, nb__msg_t *m, const char *data, size_t len,
                           const nb_ingest_result_t *r)
{
    char errstr[512];
    nb__listener_t *l = &in->ls[m->listener];
    nb_hl7_ack_code_t code = r->ack == NB_HL7_AR ? NB_HL7_AR : NB_HL7_AE;
    const char *text = r->text[0] ? r->text : "the message cannot be processed";
    const char *refusal = r->code[0] ? r->code : "refused";
    nb_publish_header_t extra[3] = {
        {"nb.refusal.code", refusal, strlen(refusal)},
        {"nb.hl7.ack_code", nb__codes[code], 2},
        {"nb.hl7.control_id", m->control_id, strlen(m->control_id)},
    };
    nb_publish_origin_t o = {"mllp", l->conf->name, in->now};
    nb_err_t err =
        nb_publisher_dead_letter(in->pub, &o, data, len, r->err ? r->err : NB_ERR_INVALID_ARG, text,
                                 extra, 3, m, errstr, sizeof(errstr));
    if (err) {
        NB_LOG(NB_LOG_WARN, "ingest", "%s: message %s: its dead letter was not queued: %s",
               l->conf->name, m->control_id, errstr);
        nb__msg_decide(in, m, NB_HL7_AR, "kafka_unavailable", NB__TEXT_RESEND);
        return;
    }
    m->refused = true;
    m->waiting = 1;
    /* The answer once the dead letter is in (nb__msg_reported decides it then). */
    m->code = code;
    snprintf(m->refusal, sizeof(m->refusal), "%s", refusal);
    snprintf(m->text, sizeof(m->text), "%s", text);
}

/* Where a record goes: appointments to the listener's topic, links and facts to theirs. */
const char *nb__ingest_topic(const nb_ingest_t *in, const nb_mllp_conf_t *l, const nb_record_t *rec)
{
    switch (rec->type) {
    case NB_RECORD_APPOINTMENT:
        return l->topic;
    case NB_RECORD_IDENTITY_LINK:
        return in->conf->links_topic;
    case NB_RECORD_CONTEXT_FACT:
        return in->conf->context_topic;
    default:
        return NULL;
    }
}

/* Checks every record as the daemon will (nb_codec_validate): a record it would dead-letter
 * is refused here, where the sender hears of it. @returns false with @p r made a refusal. */
bool nb__ingest_records_valid(nb_ingest_t *in, const nb_mllp_conf_t *l, nb_ingest_result_t *r)
{
    char errstr[256], text[NB_INGEST_TEXT_MAX];
    nb_validate_opts_t opts;
    nb_validate_opts_default(&opts);
    opts.allow_test_nhs_numbers = in->conf->allow_test_nhs_numbers;
    if (r->n_records > NB_INGEST_MAX_RECORDS) {
        nb_ingest_result_refuse(r, NB_HL7_AR, NB_ERR_FIELD_COUNT, "too_many_records",
                                "the mapping made more records than one message may become");
        return false;
    }
    for (size_t i = 0; i < r->n_records; i++) {
        nb_err_t err =
            nb__ingest_topic(in, l, &r->records[i])
                ? nb_codec_validate(&r->records[i], &opts, in->now, errstr, sizeof(errstr))
                : NB_ERR_SCHEMA_MISMATCH;
        if (err == NB_ERR_SCHEMA_MISMATCH)
            snprintf(errstr, sizeof(errstr), "a %s is not taken from a feed",
                     nb_record_type_name(r->records[i].type));
        if (err) {
            snprintf(text, sizeof(text), "%s", errstr);
            nb_ingest_result_refuse(r, NB_HL7_AE, err, "invalid_record", text);
            return false;
        }
    }
    return true;
}

static void nb__msg_publish(nb_ingest_t *in, nb__msg_t *m, const nb_ingest_result_t *r)
{
    char errstr[512];
    nb__listener_t *l = &in->ls[m->listener];
    for (size_t i = 0; i < r->n_records; i++) {
        const nb_record_t *rec = &r->records[i];
        nb_err_t err = nb_publisher_publish_record(in->pub, nb__ingest_topic(in, l->conf, rec), rec,
                                                   m, errstr, sizeof(errstr));
        if (err) {
            /* Those queued before it still report; the answer is AR whatever they say. */
            NB_LOG(NB_LOG_WARN, "ingest", "%s: message %s: record %zu not queued: %s: %s",
                   l->conf->name, m->control_id, i + 1, nb_err_name(err), errstr);
            m->kafka_failed = true;
            break;
        }
        m->waiting++;
    }
    if (m->waiting == 0)
        nb__msg_decide(in, m, m->kafka_failed ? NB_HL7_AR : NB_HL7_AA,
                       m->kafka_failed ? "kafka_unavailable" : NULL,
                       m->kafka_failed ? NB__TEXT_RESEND : "nothing to publish");
}

/* One framed message: counted, mapped, published or refused. @returns it, or NULL when there
 * was no memory for it (the connection is then dead). */
static nb__msg_t *nb__msg_handle(nb_ingest_t *in, nb__conn_t *c, const char *data, size_t len)
{
    nb__listener_t *l = &in->ls[c->listener];
    nb_ingest_result_t *r = in->result;
    nb__msg_t *m = nb__msg_new(in, c, data, len);
    if (!m) {
        c->dead = true; /* out of memory: the sender resends what it has no ACK for */
        return NULL;
    }
    nb__count(in, &in->stats.received, 1);
    nb_metrics_add(in->metrics, NB_M_MLLP_RECEIVED, l->conf->name, 1);
    nb_metrics_set(in->metrics, NB_M_MLLP_LAST_MESSAGE, l->conf->name, (double)in->now / 1e3);
    nb_ingest_result_reset(r);
    nb_err_t err = l->mapper.map(l->mapper.opaque, l->conf->name, data, len, in->now, r);
    if (err) {
        NB_LOG(NB_LOG_WARN, "ingest", "%s: message %s: the mapper failed: %s", l->conf->name,
               m->control_id, nb_err_name(err));
        nb__msg_decide(in, m, NB_HL7_AR, "mapper_error", NB__TEXT_BUSY);
        return m;
    }
    if (r->outcome == NB_INGEST_IGNORE) {
        nb__msg_decide(in, m, NB_HL7_AA, NULL, r->text);
        return m;
    }
    if (r->outcome == NB_INGEST_PUBLISH && !nb__ingest_records_valid(in, l->conf, r))
        r->outcome = NB_INGEST_REFUSE;
    if (r->outcome == NB_INGEST_REFUSE)
        nb__msg_refuse(in, m, data, len, r);
    else
        nb__msg_publish(in, m, r);
    return m;
}

/* ---- batches: FHS/BHS ... BTS/FTS in one frame --------------------------------------------- */

/* Whether the frame is a batch: its first segment FHS or BHS, with a field separator (one that
 * is not is a message to refuse as the parser does). */
static bool nb__is_batch(const char *data, size_t len)
{
    size_t i = nb__skip_lead(data, len);
    if (len - i < 5 || (memcmp(data + i, "FHS", 3) != 0 && memcmp(data + i, "BHS", 3) != 0))
        return false;
    unsigned char sep = (unsigned char)data[i + 3]; /* as MSH-1: not a letter, digit or space */
    return sep > ' ' && sep < 0x7f && !isalnum(sep);
}

/* Field @p n (1: the separator itself) of the header segment at @p seg (its delimiters as
 * sent), printable bytes only, at most @p size - 1. */
static void nb__header_field(const char *seg, size_t len, int n, char *out, size_t size)
{
    char sep = seg[3];
    size_t i = 4, o = 0;
    for (int f = 2; f < n && i < len; i++)
        if (seg[i] == sep)
            f++;
    for (; i < len && seg[i] != sep && o + 1 < size; i++)
        if ((unsigned char)seg[i] >= ' ' && seg[i] != 0x7f)
            out[o++] = seg[i];
    out[o] = '\0';
}

/*
 * The answer's BHS, from the sender's BHS (or FHS when it sent no BHS): its delimiters, the
 * sending and receiving application and facility swapped, our time and batch control id, and
 * its BHS-11 as the reference batch control id (BHS-12). @returns NULL on no memory.
 */
static char *nb__batch_head(nb_ingest_t *in, const char *data, size_t len)
{
    const char *seg = NULL;
    size_t seg_len = 0;
    for (size_t i = nb__skip_lead(data, len); i + 5 <= len;) {
        size_t e = i;
        while (e < len && data[e] != '\r' && data[e] != '\n')
            e++;
        if (memcmp(data + i, "BHS", 3) == 0 || (!seg && memcmp(data + i, "FHS", 3) == 0)) {
            seg = data + i;
            seg_len = e - i;
        }
        if (memcmp(data + i, "BHS", 3) == 0 || memcmp(data + i, "MSH", 3) == 0)
            break;
        i = nb__skip_lead(data + e, len - e) + e;
    }
    char enc[8], f[5][NB__BATCH_FIELD_MAX], ts[32];
    nb__header_field(seg, seg_len, 2, enc, sizeof(enc));
    const int from[5] = {3, 4, 5, 6, 11};
    for (size_t k = 0; k < 5; k++)
        nb__header_field(seg, seg_len, from[k], f[k], sizeof(f[k]));
    time_t secs = (time_t)(in->now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(ts, sizeof(ts), "%Y%m%d%H%M%S+0000", &tm);
    char s = seg[3], *out = malloc(8 * NB__BATCH_FIELD_MAX);
    if (out)
        snprintf(out, 8 * NB__BATCH_FIELD_MAX,
                 "BHS%c%s%c%s%c%s%c%s%c%s%c%s%c%c%c%cNB%lld.%llu%c%s\r", s, enc, s, f[2], s, f[3],
                 s, f[0], s, f[1], s, ts, s, s, s, s, (long long)in->now,
                 (unsigned long long)++in->ack_seq, s, f[4]);
    return out;
}

/* A batch that does not hold together (nb_hl7_batch_next's refusal, or no memory): refused
 * as a whole, AE with the reason, the frame to the dead letters; nothing in it is published. */
static void nb__batch_refuse(nb_ingest_t *in, nb__conn_t *c, const char *data, size_t len,
                             nb_err_t err, const char *why)
{
    nb__listener_t *l = &in->ls[c->listener];
    nb_ingest_result_t *r = in->result;
    nb__msg_t *m = nb__msg_new(in, c, data, len); /* no MSH first: a plain ACK, no MSA-2 */
    if (!m) {
        c->dead = true;
        return;
    }
    char text[NB_INGEST_TEXT_MAX];
    snprintf(text, sizeof(text), "the batch does not hold together: %s", why);
    nb__count(in, &in->stats.received, 1);
    nb_metrics_add(in->metrics, NB_M_MLLP_RECEIVED, l->conf->name, 1);
    nb_ingest_result_reset(r);
    nb_ingest_result_refuse(r, NB_HL7_AE, err, "hl7_batch", text);
    nb__msg_refuse(in, m, data, len, r);
}

/*
 * A frame holding a batch: checked whole first (a batch that does not hold together is
 * refused whole), then each message handled as if it had come in its own frame; the answer
 * is one frame, BHS, each message's ACK in order, BTS with their count (HL7 v2 2.10.3).
 */
static void nb__batch_handle(nb_ingest_t *in, nb__conn_t *c, const char *data, size_t len)
{
    char why[160];
    nb_hl7_batch_t b;
    const char *msg;
    size_t msg_len, n = 0;
    nb_err_t err;
    nb_hl7_batch_init(&b, data, len);
    while ((err = nb_hl7_batch_next(&b, &msg, &msg_len, why, sizeof(why))) == NB_ERR_OK)
        n++;
    if (err != NB_ERR_NOT_FOUND) {
        nb__batch_refuse(in, c, data, len, err, why);
        return;
    }
    char *head = nb__batch_head(in, data, len);
    if (!head) {
        c->dead = true; /* out of memory: the sender resends what it has no ACK for */
        return;
    }
    if (n == 0) { /* an empty batch: answered at once, BHS and BTS */
        nb__msg_t *m = nb__msg_new(in, c, data, 0);
        if (!m) {
            free(head);
            c->dead = true;
            return;
        }
        m->batch_head = head;
        m->in_batch = m->batch_last = m->batch_no_ack = true;
        nb__msg_decide(in, m, NB_HL7_AA, NULL, NULL);
        return;
    }
    nb_hl7_batch_init(&b, data, len);
    for (size_t i = 0;
         i < n && nb_hl7_batch_next(&b, &msg, &msg_len, why, sizeof(why)) == NB_ERR_OK; i++) {
        nb__msg_t *m = nb__msg_handle(in, c, msg, msg_len);
        if (!m) {
            if (i == 0)
                free(head); /* else the first message owns it */
            return;         /* the connection is dead: nothing is answered */
        }
        m->in_batch = true;
        m->batch_last = i + 1 == n;
        if (i == 0)
            m->batch_head = head;
    }
}

/* One frame: a batch, or one message. */
static void nb__frame_handle(nb_ingest_t *in, nb__conn_t *c, const char *data, size_t len)
{
    if (nb__is_batch(data, len))
        nb__batch_handle(in, c, data, len);
    else
        (void)nb__msg_handle(in, c, data, len);
}

/* A frame past ingest.max_message_bytes: AR from its MSH when that much has come, and the
 * connection closes once the ACKs before it are written. */
static void nb__msg_too_large(nb_ingest_t *in, nb__conn_t *c, const char *start, size_t avail)
{
    char text[NB_INGEST_TEXT_MAX];
    nb__msg_t *m = nb__msg_new(in, c, start, avail);
    c->closing = true;
    nb__count(in, &in->stats.too_large, 1);
    if (!m) {
        c->dead = true;
        return;
    }
    m->bytes = 0;
    c->pending_bytes -= avail;
    snprintf(text, sizeof(text), "message larger than %d bytes (ingest.max_message_bytes)",
             in->conf->ingest_max_message_bytes);
    nb__msg_decide(in, m, NB_HL7_AR, "too_large", text);
}

/* Frames and handles every complete message in the buffer, then drops what was used. */
static void nb__conn_frames(nb_ingest_t *in, nb__conn_t *c)
{
    size_t off = 0, max = (size_t)in->conf->ingest_max_message_bytes;
    while (!c->closing && !c->dead && off < c->in.len) {
        nb_hl7_mllp_t f;
        const char *buf = (const char *)c->in.data + off;
        size_t avail = c->in.len - off;
        nb_hl7_mllp_status_t st = nb_hl7_mllp_find(buf, avail, max, &f);
        if (f.garbage && !f.garbage_blank && st != NB_HL7_MLLP_TOO_LARGE)
            NB_LOG(NB_LOG_WARN, "ingest",
                   "%s: %s sent %zu bytes outside any MLLP frame%s "
                   "(discarded)",
                   nb__src(in, c->listener), c->peer, f.garbage,
                   f.cut ? " (a frame cut short by the next)" : "");
        if (st == NB_HL7_MLLP_FRAME) {
            nb__frame_handle(in, c, f.msg, f.msg_len);
        } else if (st == NB_HL7_MLLP_TOO_LARGE) {
            const char *vt = memchr(buf, NB_HL7_MLLP_START, avail);
            size_t from = vt ? (size_t)(vt - buf) + 1 : avail;
            nb__msg_too_large(in, c, buf + from, avail - from);
        }
        off += f.consumed;
        if (st != NB_HL7_MLLP_FRAME)
            break;
    }
    if (off >= c->in.len || c->closing) {
        c->in.len = 0;
    } else if (off > 0) {
        memmove(c->in.data, c->in.data + off, c->in.len - off);
        c->in.len -= off;
    }
}

void nb__conn_read(nb_ingest_t *in, nb__conn_t *c)
{
    char why[512];
    if (c->ssl && !c->handshaken) {
        int rc = nb__tls_handshake(c, why, sizeof(why));
        if (rc < 0) {
            NB_LOG(NB_LOG_WARN, "ingest", "%s: connection from %s refused: %s",
                   nb__src(in, c->listener), c->peer, why);
            nb__count(in, &in->stats.refused_connections, 1);
            c->dead = true;
        }
        if (rc <= 0)
            return;
        NB_LOG(NB_LOG_INFO, "ingest", "%s: TLS connection from %s (%s)", nb__src(in, c->listener),
               c->peer, SSL_get_version(c->ssl));
    }
    while (nb__conn_readable(in, c)) {
        if (nb_buf_reserve(&c->in, NB__INGEST_READ_CHUNK)) {
            c->dead = true;
            return;
        }
        long n = nb__io_read(c, c->in.data + c->in.len, NB__INGEST_READ_CHUNK);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->last_ms = in->now;
            nb__conn_frames(in, c);
            continue;
        }
        if (n == 0)
            c->eof = true;
        else if (n == -2)
            c->dead = true;
        break;
    }
    nb__conn_flush(in, c);
}

/* Whether the parsed message's MSH-12 is before v2.7, where MSA-3 was withdrawn. */
static bool nb__before_v27(const nb_hl7_msg_t *hl7)
{
    nb_hl7_value_t v = nb_hl7_get(hl7, 0, 12, 1, 1, 0);
    int major = 0, minor = 0;
    size_t i = 0;
    while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9')
        major = major * 10 + (v.p[i++] - '0');
    if (i < v.len && v.p[i] == '.')
        for (i++; i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && minor < 100; i++)
            minor = minor * 10 + (v.p[i] - '0');
    return major < 2 || (major == 2 && minor < 7);
}

/* The ACK of a decided message, not framed, appended to @p out. */
static void nb__ack_append(nb_ingest_t *in, const nb__msg_t *m, nb_buf_t *out)
{
    static const char fallback[] = "MSH|^~\\&|||||||ACK||P|2.5";
    char errstr[256], ts[32], id[40];
    nb_buf_t ack = {0};
    time_t secs = (time_t)(in->now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(ts, sizeof(ts), "%Y%m%d%H%M%S+0000", &tm);
    snprintf(id, sizeof(id), "NB%lld.%llu", (long long)in->now, (unsigned long long)++in->ack_seq);
    nb_hl7_ack_t a = {m->code, id, ts, m->text[0] ? m->text : "refused", 0};
    nb_err_t err = NB_ERR_HL7_SYNTAX;
    if (m->msh) {
        NB_IGNORE(nb_hl7_msg_parse(in->hl7, m->msh, m->msh_len, errstr, sizeof(errstr)));
        err = nb_hl7_ack_build(in->hl7, &a, &ack, errstr, sizeof(errstr)); /* needs MSH read */
    }
    if (err) {
        /* No MSH to answer from (a frame too large to have shown it, or not HL7): an ACK all
         * the same, without the message's control id. */
        ack.len = 0;
        NB_IGNORE(
            nb_hl7_msg_parse(in->hl7, fallback, sizeof(fallback) - 1, errstr, sizeof(errstr)));
        err = nb_hl7_ack_build(in->hl7, &a, &ack, errstr, sizeof(errstr));
    }
    if (!err && m->code == NB_HL7_AA && m->text[0] && ack.len > 0 && nb__before_v27(in->hl7)) {
        /* AA with a note: MSA-3 (the builder writes it for AE and AR only; withdrawn in v2.7,
         * so not from v2.7 on). */
        ack.len--; /* the MSA segment's CR: MSA is the last segment of an AA */
        const nb_hl7_delims_t *d = nb_hl7_msg_delims(in->hl7);
        nb_buf_add(&ack, &d->field, 1);
        nb_hl7_escape(d, m->text, strlen(m->text), &ack);
        nb_buf_add(&ack, "\r", 1);
    }
    if (!err && ack.err == NB_ERR_OK)
        nb_buf_add(out, ack.data, ack.len);
    nb_buf_free(&ack);
}

/* The answer of a decided message joins the output: its ACK framed, or, in a batch, its ACK
 * joins the batch's answer, which is framed after the last one's (BHS, the ACKs, BTS). */
static void nb__answer(nb_ingest_t *in, nb__conn_t *c, const nb__msg_t *m)
{
    if (!m->in_batch) {
        nb_buf_t ack = {0};
        nb__ack_append(in, m, &ack);
        if (ack.err)
            c->out.err = ack.err;
        else if (ack.len > 0)
            nb_hl7_mllp_wrap(&c->out, (const char *)ack.data, ack.len);
        nb_buf_free(&ack);
        return;
    }
    if (m->batch_head) {
        c->batch.len = 0;
        c->batch_acks = 0;
        c->batch_sep = m->batch_head[3];
        nb_buf_add(&c->batch, m->batch_head, strlen(m->batch_head));
    }
    if (!m->batch_no_ack) {
        nb__ack_append(in, m, &c->batch);
        c->batch_acks++;
    }
    if (m->batch_last) {
        char bts[48];
        int n = snprintf(bts, sizeof(bts), "BTS%c%zu\r", c->batch_sep, c->batch_acks);
        nb_buf_add(&c->batch, bts, (size_t)n);
        if (c->batch.err)
            c->out.err = c->batch.err;
        else
            nb_hl7_mllp_wrap(&c->out, (const char *)c->batch.data, c->batch.len);
        c->batch.len = 0;
    }
}

void nb__conn_flush(nb_ingest_t *in, nb__conn_t *c)
{
    while (c->head && c->head->done && c->handshaken) {
        nb__msg_t *m = c->head;
        nb__answer(in, c, m);
        const char *labels[2] = {nb__src(in, c->listener), nb__codes[m->code]};
        nb_metrics_add_v(in->metrics, NB_M_MLLP_ACKS, labels, 1);
        nb__count(in, &in->stats.acks[m->code], 1);
        c->head = m->next;
        if (!c->head)
            c->tail = NULL;
        c->pending_bytes -= m->bytes;
        m->next = NULL;
        if (m->waiting > 0)
            m->conn = NULL; /* answered AR at shutdown; freed when reported */
        else
            nb__msg_free(m);
    }
    if (c->out.err) {
        c->dead = true;
        return;
    }
    while (c->out_off < c->out.len && !c->dead) {
        long n = nb__io_write(c, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n == -1)
            break;
        if (n < 0) {
            c->dead = true;
            break;
        }
        c->out_off += (size_t)n;
        c->last_ms = in->now;
    }
    if (c->out_off == c->out.len)
        c->out.len = c->out_off = 0;
    if ((c->closing || c->eof) && !c->head && c->out.len == 0)
        c->dead = true;
}

void nb__conn_give_up(nb_ingest_t *in, nb__conn_t *c, const char *why)
{
    for (nb__msg_t *m = c->head; m; m = m->next)
        if (!m->done)
            nb__msg_decide(in, m, NB_HL7_AR, "shutdown", why);
    nb__conn_flush(in, c);
}

void nb_ingest_result_reset(nb_ingest_result_t *out)
{
    memset(out, 0, sizeof(*out));
}

void nb_ingest_result_refuse(nb_ingest_result_t *out, nb_hl7_ack_code_t ack, nb_err_t err,
                             const char *code, const char *text)
{
    out->outcome = NB_INGEST_REFUSE;
    out->n_records = 0;
    out->ack = ack;
    out->err = err;
    snprintf(out->code, sizeof(out->code), "%s", code);
    snprintf(out->text, sizeof(out->text), "%s", text);
}
