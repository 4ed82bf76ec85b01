/*
 * notbrought - feed: what a source system sends, turned into canonical records (issue 22).
 *
 * A source's *mapping* (a YAML file per sending system, docs/integration.md) says where in its
 * messages the appointment, the child and the outcome are, and how its codes read in the
 * vocabulary of notbrought (docs/schemas.md) and of the policy (appointment types). The
 * mappers take one message as the system sent it and give either the records to publish
 * (appointment events, and identity links where the mapping asks), or "ignored" (a valid
 * message that is not about an appointment: ACK AA, nothing published), or a refusal with an
 * HL7 ACK code, a stable code and a text naming the segment and field.
 *
 * The HL7 v2 mapper (nb_feed_hl7()), the FHIR R4 one (nb_feed_fhir(), over the fhir module's
 * view) and the CSV row mapper (nb_feed_csv_row()) exist: a mapping has one or more of the
 * sections hl7v2, fhir and csv.
 *
 * Refusal texts and load diagnostics name positions (segment-field, file:line:column) and
 * codes, never a value that may be personal (NHS numbers, names, dates of birth, postcodes):
 * they may go into logs, ACKs and dead-letter headers.
 *
 * Pure: no I/O but nb_feed_mapping_load()'s reading of its file, no clock, no logging. A
 * mapping is immutable once loaded and may be shared by threads; an nb_feed_out_t belongs to
 * one thread.
 */
#ifndef NOTBROUGHT_FEED_H
#define NOTBROUGHT_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/fhir.h"
#include "notbrought/hl7.h"

/* ---- mappings ---------------------------------------------------------------------------- */

/** One source's mapping: opaque, immutable once loaded. */
typedef struct nb_feed_mapping_s nb_feed_mapping_t;

/** One problem found while loading a mapping (the policy loader's shape). */
typedef struct nb_feed_diag_s {
    nb_err_t err;        /**< NB_ERR_CONFIG (or NB_ERR_IO for an unreadable file) */
    bool warning;        /**< true for warnings, which do not stop the load */
    const char *file;    /**< as given to the loader */
    int line, column;    /**< 1-based; 0 when the problem has no position */
    const char *message; /**< without the position */
} nb_feed_diag_t;

/** Called once per problem, in file order. The diag and its strings live for the call only. */
typedef void(nb_feed_diag_cb_t)(void *opaque, const nb_feed_diag_t *diag);

/**
 * @brief Loads a mapping from a YAML file. Every key is checked: an unknown key, a value of the
 *        wrong type, an unknown status or agency, an HL7 path that does not read are each an
 *        error with file:line:column. A mapping has one or more of the sections hl7v2, fhir
 *        and csv.
 * @param cb called for every error and warning (may be NULL).
 * @param mp set to the new mapping on success, to NULL otherwise.
 * @returns NB_ERR_OK; otherwise NB_ERR_CONFIG or NB_ERR_IO, with "file:line:column: message" of
 *          the first error in errstr (and cb told of every one).
 */
NB_NODISCARD nb_err_t nb_feed_mapping_load(const char *path, nb_feed_diag_cb_t *cb, void *opaque,
                                           nb_feed_mapping_t **mp, char *errstr,
                                           size_t errstr_size);

/**
 * @brief As nb_feed_mapping_load() from memory; @p name is used in messages.
 * @remark The bytes are not kept: they need not outlive the call.
 */
NB_NODISCARD nb_err_t nb_feed_mapping_load_buffer(const char *name, const char *data, size_t len,
                                                  nb_feed_diag_cb_t *cb, void *opaque,
                                                  nb_feed_mapping_t **mp, char *errstr,
                                                  size_t errstr_size);

/** @brief Frees a mapping. NULL is a no-op. */
void nb_feed_mapping_free(nb_feed_mapping_t *m);

/**
 * @brief One line saying what the mapping does: its name, agency, organisation, the message
 *        types it maps and ignores, how many codes each map holds, and what an unmapped
 *        appointment type becomes (refused, or the default), e.g. for `mapping check`.
 */
void nb_feed_mapping_summary(const nb_feed_mapping_t *m, char *buf, size_t size);

/** @brief The mapping's name (its `name` key). Valid until nb_feed_mapping_free(). */
const char *nb_feed_mapping_name(const nb_feed_mapping_t *m);

/* ---- mapping a message ------------------------------------------------------------------- */

/** Records one message may map to: an appointment event and an identity link. */
#define NB_FEED_MAX_RECORDS 4

/** What became of a message. */
typedef enum nb_feed_outcome_e {
    NB_FEED_MAPPED = 0, /**< records to publish (ACK AA once Kafka has them) */
    NB_FEED_IGNORED,    /**< valid, not about an appointment: ACK AA, nothing published */
    NB_FEED_REFUSED     /**< ACK AE or AR with the reason; the raw message to dead letters */
} nb_feed_outcome_t;

/** @brief "mapped", "ignored", "refused". */
const char *nb_feed_outcome_name(nb_feed_outcome_t o);

#define NB_FEED_CODE_MAX 40  /**< refusal codes */
#define NB_FEED_TEXT_MAX 240 /**< refusal and ignore texts */
#define NB_FEED_HDR_MAX 200  /**< MSH values kept for the ACK (app, facility, control id) */

/**
 * The result of one message. Allocate with nb_feed_out_new() (it is large, and keeps the HL7
 * parser between calls so that mapping allocates nothing per message) and reuse it.
 */
typedef struct nb_feed_out_s {
    nb_feed_outcome_t outcome;
    /** NB_ERR_OK when mapped or ignored; for a refusal the error closest to its reason
     *  (NB_ERR_HL7_SYNTAX, NB_ERR_NHS_CHECK_DIGIT, NB_ERR_MISSING_IDENTIFIER, NB_ERR_LIMIT,
     *  NB_ERR_FEED_UNMAPPED, NB_ERR_FEED_UNSUPPORTED, ...). */
    nb_err_t err;
    nb_hl7_ack_code_t ack; /**< AA for mapped and ignored, AE (content) or AR (message type) */
    /** Refused: a stable snake_case code, e.g. "status_unmapped", "nhs_check_digit",
     *  "message_type_unsupported" (docs/integration.md lists them); ignored: "ignored". */
    char code[NB_FEED_CODE_MAX];
    /** Why, naming the segment-field ("SCH-25: status 'Xyz' is not in the mapping's status
     *  map"); never a personal value. For mapped messages, which field decided the status. */
    char text[NB_FEED_TEXT_MAX];
    /* From MSH, unescaped, for the ACK and for logs; "" when the message had none. */
    char control_id[NB_FEED_HDR_MAX];       /**< MSH-10, spaces around it removed */
    char sending_app[NB_FEED_HDR_MAX];      /**< MSH-3, all components as sent */
    char sending_facility[NB_FEED_HDR_MAX]; /**< MSH-4, all components as sent */
    char message_type[16];                  /**< MSH-9.1 "^" MSH-9.2, e.g. "SIU^S12" */
    char processing_id[4];                  /**< MSH-11.1 ("P", "T", "D") */
    char version[16];                       /**< MSH-12.1 ("2.4") */
    size_t n_records;
    nb_record_t records[NB_FEED_MAX_RECORDS];
    /** The parsed message, for nb_hl7_ack_build() (NULL before the first call). Owned. */
    nb_hl7_msg_t *msg;
    /* FHIR (nb_feed_fhir()); "" for HL7 v2. */
    /** A refusal's OperationOutcome IssueType (invalid, required, value, code-invalid,
     *  not-supported, too-long, ...); "informational" when ignored. */
    char issue_code[24];
    /** The FHIR path of the element that decided a refusal or an ignore, for the
     *  OperationOutcome's expression ("Appointment.participant[0].actor.resolve().
     *  identifier[1]"), "" when the fault is not at one element. */
    char expression[NB_FEED_TEXT_MAX];
    /** The SHA-256 context nb_feed_hl7() hashes ids with, kept from one message to the next:
     *  a new one is an allocation. NULL until the first message that needs it. Owned. */
    struct evp_md_ctx_st *sha256;
} nb_feed_out_t;

/** @brief A result holder with an HL7 parser of default limits. @returns NULL on no memory. */
nb_feed_out_t *nb_feed_out_new(void);

/** @brief Frees it. NULL is a no-op. */
void nb_feed_out_destroy(nb_feed_out_t *out);

/**
 * @brief Maps one HL7 v2 message (no MLLP frame; one message, not a batch) with a source's
 *        mapping.
 *
 * The event id is "hl7-" and 32 hex digits (the first half) of SHA-256 over MSH-3, MSH-4,
 * MSH-9 and MSH-10 (each as sent, NUL-separated), an identity link's the second half: a resend
 * of the same message gives the same ids. `recorded_at` is
 * EVN-2, or MSH-7 when there is no EVN-2, and `version` is 1: a later message about the same
 * appointment supersedes an earlier one by its recording time (docs/integration.md, "Ids and
 * supersession"). Times without an offset are read as UK local time (Europe/London).
 *
 * @returns out->err: NB_ERR_OK when the message was mapped or ignored; otherwise the refusal's
 *          error, with out->outcome NB_FEED_REFUSED and the reason in out. NB_ERR_LIMIT (a
 *          refusal too) when the message would map to more than NB_FEED_MAX_RECORDS records.
 *          NB_ERR_INVALID_ARG (out not filled) for a NULL argument.
 * @remark out's previous records are overwritten. Pure: no I/O, no clock.
 */
NB_NODISCARD nb_err_t nb_feed_hl7(const nb_feed_mapping_t *m, const char *data, size_t len,
                                  nb_feed_out_t *out);

/**
 * @brief Maps one FHIR R4 Appointment or Encounter (as nb_fhir_read() gives it) with a source's
 *        mapping's `fhir` section (docs/integration.md, "The fhir section").
 *
 * The event id is "fhir-" and 32 hex digits of SHA-256 over the mapping's organisation code and
 * system, the resource type, Resource.id and meta.versionId: a version of a resource is
 * immutable in FHIR, so a resend gives the same id. Without an id or a versionId (a create, a
 * server that does not version), the hash is over the resource type, the id and the event's
 * canonical content (every field of the mapped event but its id), so a resend of the same
 * content gives the same id and a changed resource a new one. Where the fhir section's
 * identity_links asks and the child has both an NHS number and a local identifier, a second
 * record is the identity link between them, its id "fhir-" and the second half of that hash.
 * `version` is 1 and `recorded_at`
 * meta.lastUpdated, so a later version supersedes an earlier one by its time, as for HL7 v2;
 * without meta.lastUpdated the resource is refused (`recorded_at_missing`), or, where the
 * mapping says `recorded_at: received`, recorded at @p received_ms.
 *
 * A Patient, or a resource type the mapping does not take, is "ignored" with the reason; any
 * other type is refused (`resource_type_unsupported`). Refusals fill out->expression with the
 * FHIR path (under @p where, e.g. "Bundle.entry[2].resource"; NULL: the resource type) and
 * out->issue_code with an OperationOutcome IssueType; texts never carry a value that may be
 * personal.
 *
 * @param received_ms when the adapter received the resource, ms since the epoch (0: unknown).
 * @returns out->err, as nb_feed_hl7(). out->ack is AA when mapped or ignored, AE otherwise.
 * @remark Pure: no I/O, no clock. The view must stay valid for the call only.
 */
NB_NODISCARD nb_err_t nb_feed_fhir(const nb_feed_mapping_t *m, const nb_fhir_resource_t *res,
                                   const char *where, int64_t received_ms, nb_feed_out_t *out);

/** @brief Whether the mapping has a `fhir` section (and an `hl7v2` one). */
bool nb_feed_mapping_has_fhir(const nb_feed_mapping_t *m);
bool nb_feed_mapping_has_hl7v2(const nb_feed_mapping_t *m);

/* ---- CSV extracts (docs/integration.md, "CSV extracts") -------------------------------- */

/** What a CSV extract's mapping reads from each row, by column (nb_feed_csv_header_t.col). */
typedef enum nb_feed_csv_key_e {
    NB_FEED_CSV_APPOINTMENT_ID = 0,
    NB_FEED_CSV_NHS_NUMBER,
    NB_FEED_CSV_LOCAL_ID,
    NB_FEED_CSV_START,      /**< the scheduled date (and time) */
    NB_FEED_CSV_START_TIME, /**< the scheduled time, where a column of its own holds it */
    NB_FEED_CSV_RECORDED,   /**< when the source recorded the row, where a column holds it */
    NB_FEED_CSV_STATUS,
    NB_FEED_CSV_TYPE,
    NB_FEED_CSV_MODE,
    NB_FEED_CSV_DOB,
    NB_FEED_CSV__KEYS
} nb_feed_csv_key_t;

/** How a mapping says its extracts are written. */
typedef struct nb_feed_csv_opts_s {
    char delimiter;         /**< `delimiter`, default ',' */
    char quote;             /**< `quote`, default '"' */
    size_t max_row_bytes;   /**< `max_row_bytes`: a longer row is refused (default 65,536) */
    size_t max_field_bytes; /**< `max_field_bytes`: a longer field refuses its row (4,096) */
    /** `recorded_at: extract_time`: every row's recorded_at is the extract's time, which the
     *  caller gives (nb_feed_csv_row_t.extracted_at); false: a column holds it. */
    bool recorded_is_extract;
    /** `encoding`: "utf-8", or the iconv name the extract is written in (each field is
     *  converted to UTF-8 with nb_feed_csv_decode()). Valid until nb_feed_mapping_free(). */
    const char *encoding;
} nb_feed_csv_opts_t;

/** @brief The mapping's csv options. @returns false when the mapping has no csv section. */
bool nb_feed_csv_opts(const nb_feed_mapping_t *m, nb_feed_csv_opts_t *o);

/**
 * A CSV extract's decoder: the bytes of a field, in the mapping's csv `encoding`, to UTF-8
 * (iconv(3)). One per import; not for use by two threads at once.
 */
typedef struct nb_feed_csv_decoder_s nb_feed_csv_decoder_t;

/**
 * @brief A decoder for the mapping's encoding (UTF-8 when the mapping names none).
 * @returns NB_ERR_OK; NB_ERR_CONFIG (errstr says why) when iconv cannot open it;
 *          NB_ERR_INVALID_ARG for a NULL argument or a mapping without a csv section;
 *          NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_feed_csv_decoder_new(const nb_feed_mapping_t *m,
                                              nb_feed_csv_decoder_t **dp, char *errstr,
                                              size_t errstr_size);

/** @brief Frees a decoder. NULL is a no-op. */
void nb_feed_csv_decoder_destroy(nb_feed_csv_decoder_t *d);

/**
 * @brief One field as UTF-8. For UTF-8 the field is given back as it is (its columns are
 *        checked when they are mapped, as before); otherwise it is converted.
 * @param out set to the UTF-8 bytes (NUL-terminated when converted), valid until the next call
 *        or nb_feed_csv_decoder_destroy() (or @p in itself, for UTF-8).
 * @param bad_offset on NB_ERR_TEXT_INVALID, the offset in the field of the first byte that
 *        does not decode (may be NULL).
 * @returns NB_ERR_OK; NB_ERR_TEXT_INVALID (a byte the encoding does not define, or a sequence
 *          cut short: the caller refuses the row); NB_ERR_NOMEM; NB_ERR_INVALID_ARG.
 */
NB_NODISCARD nb_err_t nb_feed_csv_decode(nb_feed_csv_decoder_t *d, const char *in, size_t len,
                                         const char **out, size_t *out_len, size_t *bad_offset);

/** The columns of one file: where each key's column is (-1: not read). */
typedef struct nb_feed_csv_header_s {
    int col[NB_FEED_CSV__KEYS];
    size_t n_columns; /**< fields of the header row */
} nb_feed_csv_header_t;

/**
 * @brief Finds the mapping's columns in a file's header row. Names are compared as codes are
 *        (without case, spaces, '-', '_' and '.').
 * @returns NB_ERR_OK; NB_ERR_CONFIG when a column the mapping reads is not in the header or is
 *          there twice (errstr names it), or the mapping has no csv section;
 *          NB_ERR_INVALID_ARG for NULL arguments.
 */
NB_NODISCARD nb_err_t nb_feed_csv_header(const nb_feed_mapping_t *m, const char *const *fields,
                                         const size_t *lens, size_t n, nb_feed_csv_header_t *h,
                                         char *errstr, size_t errstr_size);

/** One data row of an extract, as the CSV reader split and unquoted it. */
typedef struct nb_feed_csv_row_s {
    uint64_t number;           /**< 1 for the first row after the header; refusals name it */
    const char *const *fields; /**< need not be NUL-terminated */
    const size_t *lens;
    size_t n;
    /** The extract's time (ms since the epoch, UTC), the recorded_at of every row when the
     *  mapping says `recorded_at: extract_time`; otherwise unused. */
    int64_t extracted_at;
} nb_feed_csv_row_t;

/**
 * @brief Maps one row of a CSV extract: an appointment event, or a refusal whose text names the
 *        row and the column ("row 12, column NHSNumber: NHS number fails the Modulus 11
 *        check"), never the value.
 *
 * The event id is "csv-" and 32 hex digits of SHA-256 over the source (agency, organisation,
 * system), the appointment id, the status, recorded_at, and every field of the row as read:
 * the same row of the same extract always gives the same id (a rerun publishes nothing the
 * ledger does not drop), two rows that differ in anything give two ids, and a later extract
 * (a later recorded_at) gives a new event that supersedes the earlier one. `version` is 1, as
 * for HL7 v2: supersession is by recorded_at (docs/integration.md, "Ids and supersession").
 * Times are read with the mapping's formats; without `Z` in the format they are UK local
 * time (nb_feed_london_to_utc()) unless the mapping says time_zone: UTC.
 *
 * Where the csv section's identity_links asks and the row has both an NHS number and a local
 * id, a second record is the identity link between them ("csv-" and the second half of the
 * event id's hash).
 *
 * @returns out->err: NB_ERR_OK with out->outcome NB_FEED_MAPPED and one record (two with a
 *          link), or the
 *          refusal's error with NB_FEED_REFUSED, a code and the text; NB_ERR_INVALID_ARG (out
 *          not filled) for a NULL argument or a mapping without a csv section.
 * @remark Pure: no I/O, no clock. out's HL7 header fields are left empty.
 */
NB_NODISCARD nb_err_t nb_feed_csv_row(const nb_feed_mapping_t *m, const nb_feed_csv_header_t *h,
                                      const nb_feed_csv_row_t *row, nb_feed_out_t *out);

/* ---- UK local time ----------------------------------------------------------------------- */

/** Years for which nb_feed_london_to_utc() knows the rule (the 1996 EU rule, still the UK's). */
#define NB_FEED_LONDON_FIRST_YEAR 1996
#define NB_FEED_LONDON_LAST_YEAR 2099

/**
 * @brief Converts a wall-clock time in Europe/London to ms since the epoch (UTC). BST (UTC+1)
 *        runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
 *        October. The autumn hour that happens twice (01:00-01:59 local) is read as its first
 *        occurrence, BST; the spring hour that does not exist (01:00-01:59 local) is read with
 *        the offset before the change, GMT, so it lands an hour later in UTC.
 * @param ms_of_day milliseconds since local midnight (0 to 86,399,999).
 * @returns NB_ERR_OK, or NB_ERR_TIMESTAMP_RANGE outside NB_FEED_LONDON_FIRST_YEAR to
 *          NB_FEED_LONDON_LAST_YEAR.
 */
NB_NODISCARD nb_err_t nb_feed_london_to_utc(int year, unsigned month, unsigned day,
                                            int64_t ms_of_day, int64_t *utc_ms);

#endif /* NOTBROUGHT_FEED_H */
