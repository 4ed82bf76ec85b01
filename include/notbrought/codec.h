/*
 * notbrought - codec: Avro (avro-c) with Confluent framing, the schema registry interface,
 * and semantic validation of decoded records.
 *
 * Wire format (Confluent): byte 0 is the magic byte 0, bytes 1-4 the schema id (big-endian
 * int32), then the Avro binary encoding of one record written with that schema.
 *
 * Untrusted bytes are checked by a bounds-checking walk over the writer schema before avro-c
 * reads them. avro-c 1.11.1 (Debian bookworm) writes out of bounds on a negative string
 * length and leaks on truncated strings (both fixed upstream in 2026), so nothing reaches
 * avro_value_read() that the walk has not proven well-formed. The walk also gives each
 * malformation its own error code.
 *
 * Thread contract: a registry is read-only once built and may be shared; a codec holds
 * reusable decode/encode state and belongs to one thread. Codecs on different threads may fail
 * at once: libavro's error message lives in one buffer for the whole process, so each failure's
 * message is read under a process-wide lock from a call repeated under it.
 */
#ifndef NOTBROUGHT_CODEC_H
#define NOTBROUGHT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/util.h" /* nb_buf_t, which codec's encoder writes */

#define NB_FRAME_HEADER_LEN 5
#define NB_FRAME_MAGIC 0

/* ---- registry ---------------------------------------------------------------------------- */

typedef struct nb_registry_s nb_registry_t;

/** @brief An empty registry. @returns NULL on allocation failure. */
nb_registry_t *nb_registry_new(void);

/** @brief Frees the registry. NULL is a no-op. Codecs made from it must be gone first. */
void nb_registry_destroy(nb_registry_t *reg);

/**
 * @brief Adds the schemas compiled into the binary from schemas/registry.tsv.
 * @returns NB_ERR_OK, or an error with the detail in errstr.
 */
NB_NODISCARD nb_err_t nb_registry_add_builtin(nb_registry_t *reg, char *errstr, size_t errstr_size);

/**
 * @brief Registers one schema version under a schema id.
 * @param subject the record's Avro full name, e.g. "org.notbrought.v1.AppointmentEvent";
 *                it decides which record type the schema carries.
 * @returns NB_ERR_OK; NB_ERR_SCHEMA_INVALID when the text does not parse or names a
 *          subject this program does not know; NB_ERR_INVALID_ARG when the id is taken.
 */
NB_NODISCARD nb_err_t nb_registry_add(nb_registry_t *reg, int32_t id, const char *subject,
                                      int version, const char *json, size_t json_len, char *errstr,
                                      size_t errstr_size);

/**
 * @brief Loads a registry directory: DIR/registry.tsv naming DIR/<file>.avsc (the same
 *        format as schemas/). Reads files; used by tools, not by the core.
 */
NB_NODISCARD nb_err_t nb_registry_load_dir(nb_registry_t *reg, const char *dir, char *errstr,
                                           size_t errstr_size);

/**
 * @brief The id of the reader schema of a record type: the version compiled into this
 *        program (nb_registry_add_builtin()), or else the highest version registered. Data
 *        written with any other registered version is resolved to it.
 * @returns the id, or -1 when none is registered.
 */
int32_t nb_registry_reader_id(const nb_registry_t *reg, nb_record_type_t type);

/** @brief The record type a schema id carries, or NB_RECORD_NONE when unknown. */
nb_record_type_t nb_registry_type_of(const nb_registry_t *reg, int32_t id);

/**
 * @brief The JSON text of a registered schema.
 * @returns a string valid until nb_registry_destroy(), or NULL when the id is unknown.
 */
const char *nb_registry_schema_json(const nb_registry_t *reg, int32_t id);

/* ---- codec ------------------------------------------------------------------------------- */

typedef struct nb_codec_s nb_codec_t;

/**
 * @brief A codec over a registry.
 * @remark The registry is borrowed and must outlive the codec.
 * @returns NULL with the reason in errstr when a record type has no reader schema.
 */
nb_codec_t *nb_codec_new(const nb_registry_t *reg, char *errstr, size_t errstr_size);

/** @brief Frees the codec. NULL is a no-op. */
void nb_codec_destroy(nb_codec_t *codec);

/**
 * @brief Reads the schema id from a Confluent frame without decoding.
 * @returns NB_ERR_OK, NB_ERR_FRAME_TRUNCATED or NB_ERR_FRAME_MAGIC.
 */
NB_NODISCARD nb_err_t nb_frame_schema_id(const void *buf, size_t len, int32_t *schema_id);

/**
 * @brief Decodes one framed record. The writer schema comes from the frame's schema id; the
 *        record is resolved to the reader schema of its type (nb_registry_reader_id()), so
 *        data written with a newer or older compatible schema decodes.
 * @param expect the record type this input accepts, or NB_RECORD_NONE for any.
 * @returns NB_ERR_OK, or the specific framing / Avro / length error, with a message fit for a
 *          dead-letter header (no field values, so no personal data) in errstr.
 * @remark Strings are normalised as the model requires (NHS numbers lose spaces and dashes)
 *         but not validated; call nb_codec_validate() for that.
 */
NB_NODISCARD nb_err_t nb_codec_decode(nb_codec_t *codec, const void *buf, size_t len,
                                      nb_record_type_t expect, nb_record_t *rec, char *errstr,
                                      size_t errstr_size);

/**
 * @brief Encodes a record with the reader schema of its type, in the Confluent frame, and
 *        appends it to @p out (rec->schema_id is ignored).
 * @returns NB_ERR_OK, NB_ERR_AVRO_ENCODE or NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_codec_encode(nb_codec_t *codec, const nb_record_t *rec, nb_buf_t *out,
                                      char *errstr, size_t errstr_size);

/**
 * @brief Renders a framed record as JSON with avro-c's own JSON encoding (for debugging and
 *        for tools that print raw records).
 * @returns a malloc'ed string the caller frees, or NULL with the reason in errstr.
 */
char *nb_codec_to_avro_json(nb_codec_t *codec, const void *buf, size_t len, char *errstr,
                            size_t errstr_size);

/* ---- validation -------------------------------------------------------------------------- */

typedef struct nb_validate_opts_s {
    bool allow_test_nhs_numbers; /**< accept the 999 test range (default true) */
    int64_t earliest;            /**< no instant before this (default 2000-01-01) */
    int64_t future_schedule_ms;  /**< scheduled start at most this far after now (400 days) */
    int64_t future_record_ms;    /**< recorded_at at most this far after now (1 day skew) */
} nb_validate_opts_t;

/** @brief The defaults above. */
void nb_validate_opts_default(nb_validate_opts_t *opts);

/**
 * @brief Semantic validation of a decoded record at time @p now_ms: NHS number format and
 *        check digit, required identifiers present, timestamps and dates within bounds,
 *        fields consistent with each other.
 * @returns NB_ERR_OK or the first failure's code, with a message naming the field (never its
 *          value) in errstr.
 */
NB_NODISCARD nb_err_t nb_codec_validate(const nb_record_t *rec, const nb_validate_opts_t *opts,
                                        int64_t now_ms, char *errstr, size_t errstr_size);

#endif /* NOTBROUGHT_CODEC_H */
