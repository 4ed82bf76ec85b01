/*
 * notbrought - ingest: the adapters' I/O edge. An MLLP server (HL7 v2 over TCP, optional TLS
 * with client certificates) that frames each message, asks a mapper what it means, publishes
 * what the mapper returns through the stream module's publisher, and answers the sender only
 * once Kafka has acknowledged it (docs/mllp.md):
 *
 *   publish -> every record acknowledged by Kafka        -> ACK AA
 *   refuse  -> the raw message acknowledged on the dead-letter topic with the reason
 *                                                        -> ACK AE or AR with the reason
 *   ignore  -> nothing published                          -> ACK AA with a note
 *   Kafka does not acknowledge (brokers down, timeout)    -> ACK AR "resend"; nothing is
 *                                                            dead-lettered: the sender keeps it
 *
 * Never AA before Kafka's acknowledgement. ACKs on one connection go in the order the
 * messages came, whatever order Kafka acknowledges them in.
 *
 * One thread: a poll() loop over the listeners, the connections (non-blocking sockets, OpenSSL
 * on them) and the publisher's delivery reports. The mapper runs on that thread. FHIR
 * listeners (libmicrohttpd without threads of its own, run from the same loop; a request
 * waits for Kafka suspended, and is resumed from the delivery report) answer 201/200 only
 * after Kafka's acknowledgement, 422/400 with an OperationOutcome after the dead letter's,
 * 503 when Kafka did not acknowledge (docs/fhir.md, "The HTTP endpoint").
 *
 * Logs carry the source name, the peer address, the message control id (MSH-10: a message's
 * identifier, not personal data) and the reason, never a message's fields otherwise.
 */
#ifndef NOTBROUGHT_INGEST_H
#define NOTBROUGHT_INGEST_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/fhir.h"
#include "notbrought/hl7.h"
#include "notbrought/ops.h"

/* ---- the mapper's contract ----------------------------------------------------------------- */

#define NB_INGEST_MAX_RECORDS 4 /**< records one message may become */
#define NB_INGEST_CODE_MAX 64   /**< a refusal code, snake_case */
#define NB_INGEST_TEXT_MAX 256  /**< a refusal's text */

/** What a mapper decided about one message. */
typedef enum nb_ingest_outcome_e {
    NB_INGEST_PUBLISH = 0, /**< records[0..n_records) go to Kafka; AA once all are there */
    NB_INGEST_REFUSE,      /**< the raw message goes to the dead-letter topic; then ack */
    NB_INGEST_IGNORE       /**< nothing to publish (a message type the source may send but
                                that carries no event); AA with the note in text */
} nb_ingest_outcome_t;

/** A mapper's answer. Zero it before the call (nb_ingest_result_reset()). */
typedef struct nb_ingest_result_s {
    nb_ingest_outcome_t outcome;
    size_t n_records;
    /** Appointment events go to the listener's topic, identity links to topics.links,
     *  context facts to topics.context; each with the key its type carries. */
    nb_record_t records[NB_INGEST_MAX_RECORDS];
    nb_hl7_ack_code_t ack; /**< refuse: NB_HL7_AE (cannot be processed as sent) or NB_HL7_AR */
    nb_err_t err;          /**< refuse: the error class, the dead letter's nb.error.code (e.g.
                                NB_ERR_HL7_SYNTAX, NB_ERR_NHS_CHECK_DIGIT) */
    char code[NB_INGEST_CODE_MAX]; /**< refuse: snake_case refusal code (nb.refusal.code, the
                                        metrics' reason); ignore: why */
    char text[NB_INGEST_TEXT_MAX]; /**< refuse: MSA-3 / ERR text naming the field, never its
                                        value ("PID-3 repetition 2: NHS number fails the
                                        Modulus 11 check"); ignore: the note */
    /* FHIR (nb_ingest_fhir_map_fn): the OperationOutcome of a refusal or an ignore. */
    char issue[24];                      /**< IssueType: invalid, required, value, ... */
    char expression[NB_INGEST_TEXT_MAX]; /**< the FHIR path, or "" */
} nb_ingest_result_t;

/** @brief Zeroes a result: outcome publish, no records. */
void nb_ingest_result_reset(nb_ingest_result_t *out);

/** @brief Fills @p out as a refusal (text cut to NB_INGEST_TEXT_MAX - 1). */
void nb_ingest_result_refuse(nb_ingest_result_t *out, nb_hl7_ack_code_t ack, nb_err_t err,
                             const char *code, const char *text);

/**
 * @brief Maps one HL7 v2 message (the bytes between the MLLP frame's VT and FS) of source
 *        @p source, received at @p now_ms. @p msg is valid during the call only (the records
 *        returned are copies, not views into it).
 * @returns NB_ERR_OK with the decision in @p out (a message it cannot map is a refusal, not an
 *          error); any other error means the mapper could not decide now (out of memory): the
 *          message is answered AR, to be resent, and nothing is dead-lettered.
 */
typedef NB_NODISCARD nb_err_t nb_ingest_map_fn(void *opaque, const char *source, const char *msg,
                                               size_t len, int64_t now_ms, nb_ingest_result_t *out);

/**
 * @brief Maps one FHIR R4 resource (an Appointment or an Encounter; in a Bundle, an entry's)
 *        of source @p source, received at @p now_ms; @p where is its path ("Appointment",
 *        "Bundle.entry[2].resource"). The view is valid during the call only.
 * @returns as nb_ingest_map_fn; a refusal fills out->issue and out->expression too.
 */
typedef NB_NODISCARD nb_err_t nb_ingest_fhir_map_fn(void *opaque, const char *source,
                                                    const nb_fhir_resource_t *res,
                                                    const char *where, int64_t now_ms,
                                                    nb_ingest_result_t *out);

/** A listener's mapper: its function and its state (e.g. the source's loaded mapping). MLLP
 *  listeners use map, FHIR listeners map_fhir. */
typedef struct nb_ingest_mapper_s {
    nb_ingest_map_fn *map;
    void *opaque;
    nb_ingest_fhir_map_fn *map_fhir;
} nb_ingest_mapper_t;

/* ---- the MLLP server ----------------------------------------------------------------------- */

typedef struct nb_ingest_s nb_ingest_t;

/** Counters, for tests and tools. */
typedef struct nb_ingest_stats_s {
    uint64_t received;            /**< messages framed */
    uint64_t acks[3];             /**< ACKs written, by nb_hl7_ack_code_t */
    uint64_t dead_letters;        /**< refusals Kafka acknowledged on the dead-letter topic */
    uint64_t too_large;           /**< frames refused for their size (connection closed) */
    uint64_t connections;         /**< accepted, in all */
    uint64_t refused_connections; /**< closed at once: too many, or TLS handshake failed */
    int open;                     /**< connections open now */
} nb_ingest_stats_t;

/**
 * @brief Binds every listener of conf->mllp (ingest.mllp) and conf->fhir (ingest.fhir: FHIR R4
 *        over HTTP, docs/fhir.md) and makes the publisher.
 * @param mappers one per listener, those of conf->mllp then those of conf->fhir, in order;
 *        borrowed, must outlive the server.
 * @param m a metrics registry to report to, or NULL; borrowed.
 * @remark @p conf is borrowed and must outlive the server.
 * @returns NULL with the reason in errstr (a port taken, a TLS file that does not load).
 */
nb_ingest_t *nb_ingest_new(const nb_config_t *conf, const nb_ingest_mapper_t *mappers,
                           nb_metrics_t *m, char *errstr, size_t errstr_size);

/** @brief The port listener @p i listens on (the one chosen when it was configured 0). */
int nb_ingest_port(const nb_ingest_t *in, size_t i);

/** @brief The port FHIR listener @p i (of conf->fhir) listens on. */
int nb_ingest_fhir_port(const nb_ingest_t *in, size_t i);

/**
 * @brief Serves until *stop becomes non-zero (SIGTERM) or nb_ingest_stop(): then stops
 *        accepting and reading, answers what is in flight (AA/AE/AR as Kafka decides, or AR
 *        past processing.shutdown_timeout_ms), writes the ACKs, closes, returns.
 * @returns NB_ERR_OK after a clean stop; NB_ERR_IO when poll() fails.
 */
NB_NODISCARD nb_err_t nb_ingest_run(nb_ingest_t *in, volatile sig_atomic_t *stop);

/** @brief Asks nb_ingest_run() to stop. @locality any thread */
void nb_ingest_stop(nb_ingest_t *in);

/** @brief A copy of the counters. @locality any thread. @locks stats_lock */
void nb_ingest_stats(const nb_ingest_t *in, nb_ingest_stats_t *out);

/** @brief Closes everything. NULL is a no-op. */
void nb_ingest_destroy(nb_ingest_t *in);

#endif /* NOTBROUGHT_INGEST_H */
