/*
 * notbrought - ingest internals: the server (server.c: listeners, the poll loop, shutdown),
 * connections and messages (conn.c: reading, framing, mapping, publishing, ACKs in order) and
 * TLS (tls.c: OpenSSL over the non-blocking sockets).
 *
 * @locality everything runs on the thread in nb_ingest_run(), but the counters (stats_lock)
 * and the stop flag.
 */
#ifndef NB_INGEST_INTERNAL_H
#define NB_INGEST_INTERNAL_H

#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "notbrought/ingest.h"
#include "notbrought/stream.h"
#include "notbrought/util.h"

#define NB__INGEST_READ_CHUNK 65536
#define NB__INGEST_MSH_MAX 4096 /* bytes of MSH kept to build the ACK */
#define NB__INGEST_TICK_MS 1000

typedef struct nb__conn_s nb__conn_t;

/* The publisher's delivery reports carry either an MLLP message or a FHIR request; the
 * first member of both says which (nb__reported). */
#define NB__KIND_MLLP 0
#define NB__KIND_FHIR 1

/* A message between its frame and its ACK. */
typedef struct nb__msg_s {
    int kind; /* NB__KIND_MLLP: first, as nb__req_t's (http.c) */
    struct nb__msg_s *next;
    nb__conn_t *conn; /* NULL once its connection has gone: freed when reported */
    struct nb_ingest_s *in;
    size_t listener;
    size_t waiting;    /* delivery reports still to come */
    bool done;         /* the ACK's code and text are decided */
    bool kafka_failed; /* a record (or the dead letter) was not acknowledged */
    bool refused;      /* the answer is the mapper's refusal once the dead letter is in */
    nb_hl7_ack_code_t code;
    char refusal[NB_INGEST_CODE_MAX]; /* metrics' reason */
    char text[NB_INGEST_TEXT_MAX];    /* MSA-3 / ERR text; for AA a note, or "" */
    char control_id[65];              /* MSH-10, for logs */
    char *msh;                        /* the MSH segment as sent, for the ACK; NULL: none */
    size_t msh_len;
    size_t bytes; /* the message's size, counted as buffered */
    /* A batch (FHS/BHS ... BTS in one frame): one answer, BHS + an ACK per message + BTS. */
    char *batch_head;  /* the first message of a batch: the answer's BHS segment; else NULL */
    bool in_batch;     /* a message of a batch: its ACK joins the connection's batch answer */
    bool batch_last;   /* the batch's last message: the answer is framed after its ACK */
    bool batch_no_ack; /* an empty batch's placeholder: BHS and BTS only */
} nb__msg_t;

struct nb__conn_s {
    int fd;
    size_t listener;
    SSL *ssl;        /* NULL without TLS */
    bool handshaken; /* TLS: the handshake has finished */
    bool want_write; /* TLS: the last read or handshake needs the socket writable */
    bool eof;        /* the peer closed its side: answer what came, then close */
    bool closing;    /* read nothing more; close once the ACKs in order are written */
    bool dead;       /* close now */
    nb_buf_t in;     /* received, not framed yet */
    nb_buf_t out;    /* ACKs framed, not written yet */
    nb_buf_t batch;  /* a batch's answer being put together (nb__conn_flush) */
    size_t batch_acks; /* ACKs in it */
    char batch_sep;    /* its field separator (the sender's BHS-1) */
    size_t out_off;
    nb__msg_t *head, *tail; /* messages in the order they came */
    size_t pending_bytes;   /* of those, the bytes */
    int64_t last_ms;        /* last byte read or written */
    char peer[64];          /* address:port, for logs */
};

typedef struct nb__listener_s {
    int fd;
    int port;
    SSL_CTX *tls; /* NULL without TLS */
    const nb_mllp_conf_t *conf;
    nb_ingest_mapper_t mapper;
    int open; /* connections now */
} nb__listener_t;

/* A FHIR listener (http.c): a libmicrohttpd daemon run from the server's loop. */
typedef struct nb__fsrv_s {
    struct nb_ingest_s *in;
    const nb_mllp_conf_t *conf;
    nb_ingest_mapper_t mapper;
    struct MHD_Daemon *d;
    int port;
    int epoll_fd;       /* polled by the loop; MHD_run() when ready */
    nb_fhir_doc_t *doc; /* the reader's handle, reused from request to request */
    size_t in_flight;   /* requests not yet completed */
    char *tls_cert, *tls_key, *tls_ca; /* PEM, read at start (http_tls.c); NULL without */
} nb__fsrv_t;

struct nb_ingest_s {
    const nb_config_t *conf;
    nb_metrics_t *metrics;
    nb_publisher_t *pub;
    nb__listener_t *ls;
    size_t n_ls;
    nb__conn_t **conns;
    size_t n_conns, cap_conns;
    nb_ingest_result_t *result; /* the mapper's answer, reused */
    nb_hl7_msg_t *hl7;          /* MSH segments read for control ids and ACKs, reused */
    int64_t stop_deadline;      /* stopping: past it, what is undecided is answered AR */
    int wake[2];                /* nb_ingest_stop() writes here */
    atomic_bool stop;
    bool stopping;
    int64_t now;
    uint64_t ack_seq; /* the ACKs' own control ids */
    pthread_mutex_t stats_lock;
    nb_ingest_stats_t stats; /* @locks stats_lock */
    nb__fsrv_t *fsrv;        /* FHIR listeners */
    size_t n_fsrv;
};

/* ---- conn.c ---- */

/** @brief A connection accepted on listener @p li (TLS started when it has TLS). */
nb__conn_t *nb__conn_new(nb_ingest_t *in, size_t li, int fd, const char *peer);
/** @brief Closes the socket; messages still waiting for Kafka are left to be freed when
 *         reported. */
void nb__conn_free(nb_ingest_t *in, nb__conn_t *c);
/** @brief Reads what the socket has, frames and handles every complete message. */
void nb__conn_read(nb_ingest_t *in, nb__conn_t *c);
/** @brief Queues the ACKs of the decided messages at the head, in order, and writes. */
void nb__conn_flush(nb_ingest_t *in, nb__conn_t *c);
/** @brief Whether the connection may be read now (not past ingest.max_buffered_bytes). */
bool nb__conn_readable(const nb_ingest_t *in, const nb__conn_t *c);
/** @brief Answers every undecided message AR (shutdown past its time). */
void nb__conn_give_up(nb_ingest_t *in, nb__conn_t *c, const char *why);
/** @brief The publisher's delivery callback (opaque: the nb__msg_t). */
void nb__msg_reported(void *opaque, nb_err_t err, const char *reason);
/** @brief Adds @p n to a counter under the lock. */
void nb__count(nb_ingest_t *in, uint64_t *field, uint64_t n);

/** @brief Where a record goes: appointments to the listener's topic, links and facts to
 *         theirs; NULL for a type not taken from a feed. */
const char *nb__ingest_topic(const nb_ingest_t *in, const nb_mllp_conf_t *l,
                             const nb_record_t *rec);
/** @brief Checks every record as the daemon will. @returns false with @p r made a refusal. */
bool nb__ingest_records_valid(nb_ingest_t *in, const nb_mllp_conf_t *l, nb_ingest_result_t *r);

/* ---- http.c ---- */

/** @brief The publisher's delivery callback: an MLLP message's or a FHIR request's. */
void nb__reported(void *opaque, nb_err_t err, const char *reason);
/** @brief A FHIR request's delivery report: resumes it once all are in. */
void nb__fhir_reported(void *opaque, nb_err_t err, const char *reason);
/** @brief Starts the FHIR listeners of conf->fhir with their mappers. */
bool nb__fhir_start(nb_ingest_t *in, const nb_ingest_mapper_t *mappers, char *errstr,
                    size_t errstr_size);
/** @brief Fills one pollfd per FHIR listener. @returns how many. */
size_t nb__fhir_pollfds(nb_ingest_t *in, struct pollfd *pfd);
/** @brief Lets libmicrohttpd serve what is ready (and resumed). */
void nb__fhir_run(nb_ingest_t *in);
/** @brief The poll timeout: at most @p ms, less when libmicrohttpd wants to run sooner. */
int nb__fhir_timeout(nb_ingest_t *in, int ms);
/** @brief Stops accepting (stopping). */
void nb__fhir_quiesce(nb_ingest_t *in);
/** @brief Requests not yet answered and completed. */
size_t nb__fhir_in_flight(const nb_ingest_t *in);
/** @brief Stops the daemons. After the publisher's destruction (which resumes what waits). */
void nb__fhir_destroy(nb_ingest_t *in);

/* ---- http_tls.c ---- */

struct MHD_OptionItem;
struct MHD_Connection;
/** @brief The listener's TLS options (its PEM files read into @p s), into @p opts (room for
 *         4). @returns how many; 0 without TLS; (size_t)-1 with the reason in errstr. */
size_t nb__fhir_tls_options(nb__fsrv_t *s, struct MHD_OptionItem *opts, char *errstr,
                            size_t errstr_size);
/** @brief With tls.require_client_cert: whether the connection presented a certificate the
 *         CA verifies. True otherwise. */
bool nb__fhir_client_ok(const nb__fsrv_t *s, struct MHD_Connection *conn);
/** @brief Frees the PEM copies. */
void nb__fhir_tls_free(nb__fsrv_t *s);

/* ---- tls.c ---- */

/** @brief The listener's TLS context (TLS 1.2+, its certificate and key, client certificates
 *         verified against its CA when it has one). @returns NULL with the reason. */
SSL_CTX *nb__tls_ctx(const nb_mllp_conf_t *l, char *errstr, size_t errstr_size);
/** @brief Handshake step. @returns 1 done, 0 again later (c->want_write set), -1 failed. */
int nb__tls_handshake(nb__conn_t *c, char *why, size_t why_size);
/** @brief Reads. @returns bytes, 0 at the peer's end, -1 again later, -2 failed. */
long nb__io_read(nb__conn_t *c, void *buf, size_t n);
/** @brief Writes. @returns bytes, -1 again later, -2 failed. */
long nb__io_write(nb__conn_t *c, const void *buf, size_t n);

#endif /* NB_INGEST_INTERNAL_H */
