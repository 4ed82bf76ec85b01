/*
 * notbrought - the project's one error table.
 *
 * Every error that any module returns is listed here once. The X-macro generates the enum,
 * nb_err_name() (a stable lower-case code used in dead-letter headers and metric labels) and
 * nb_err_str() (a sentence for humans), so the three never drift apart.
 *
 * Add new codes at the end of the section of the module that returns them. Codes are
 * identified by name on the wire, never by number, so inserting is safe.
 *
 * The table belongs to the util module (its functions are in src/util/err.c), the lowest
 * layer, so that every module may return these codes.
 */
#ifndef NOTBROUGHT_ERR_H
#define NOTBROUGHT_ERR_H

#include <stdbool.h>

/* X(ENUM_SUFFIX, "stable_code", "human description") */
#define NB_ERR_MAP(X)                                                                              \
    X(OK, "ok", "success")                                                                         \
    X(INVALID_ARG, "invalid_arg", "invalid argument")                                              \
    X(NOMEM, "nomem", "out of memory")                                                             \
    X(IO, "io", "input/output error")                                                              \
    X(NOT_FOUND, "not_found", "not found")                                                         \
    X(LIMIT, "limit", "a limit fixed in notbrought's code was reached")                            \
    X(CONFIG, "config", "invalid configuration")                                                   \
    /* codec: Confluent framing and the schema registry */                                         \
    X(FRAME_TRUNCATED, "frame_truncated", "message shorter than the 5-byte Confluent header")      \
    X(FRAME_MAGIC, "frame_magic", "first byte is not the Confluent magic byte 0")                  \
    X(SCHEMA_UNKNOWN, "schema_unknown", "schema id is not in the registry")                        \
    X(SCHEMA_MISMATCH, "schema_mismatch", "schema id names a record type this input does not take") \
    X(SCHEMA_INVALID, "schema_invalid", "schema text is not a valid Avro schema")                  \
    X(SCHEMA_RESOLVE, "schema_resolve", "writer schema cannot be resolved to the reader schema")   \
    /* codec: Avro binary (checked before avro-c sees the bytes) */                                \
    X(AVRO_TRUNCATED, "avro_truncated", "Avro data ends before the record is complete")            \
    X(AVRO_VARINT, "avro_varint", "Avro varint is longer than 10 bytes")                           \
    X(AVRO_NEGATIVE_LENGTH, "avro_negative_length", "Avro string or bytes length is negative")     \
    X(AVRO_LENGTH, "avro_length", "Avro string or bytes length exceeds the remaining input")       \
    X(AVRO_ENUM_INDEX, "avro_enum_index", "Avro enum index is out of range")                       \
    X(AVRO_UNION_INDEX, "avro_union_index", "Avro union branch index is out of range")             \
    X(AVRO_TRAILING, "avro_trailing", "bytes remain after the end of the Avro record")             \
    X(AVRO_DEPTH, "avro_depth", "Avro data nests deeper than allowed")                             \
    X(AVRO_DECODE, "avro_decode", "Avro decoding failed")                                          \
    X(AVRO_ENCODE, "avro_encode", "Avro encoding failed")                                          \
    X(FIELD_TOO_LONG, "field_too_long", "a field is longer than its maximum length")               \
    X(FIELD_COUNT, "field_count", "a list field has more items than allowed")                      \
    /* codec: semantic validation of decoded records */                                            \
    X(NHS_FORMAT, "nhs_format", "NHS number is not 10 digits")                                     \
    X(NHS_CHECK_DIGIT, "nhs_check_digit", "NHS number fails the Modulus 11 check")                 \
    X(NHS_DISALLOWED, "nhs_disallowed", "NHS number is in a range this deployment does not accept") \
    X(NHS_PLACEHOLDER, "nhs_placeholder", "NHS number is a placeholder that is never issued")      \
    X(MISSING_IDENTIFIER, "missing_identifier", "a required identifier is missing")                \
    X(FIELD_EMPTY, "field_empty", "a required field is empty")                                     \
    X(TIMESTAMP_RANGE, "timestamp_range", "a timestamp is outside the accepted range")             \
    X(DATE_RANGE, "date_range", "a date is outside the accepted range")                            \
    X(INCONSISTENT, "inconsistent", "fields of the record contradict each other")                  \
    X(FIELD_RANGE, "field_range", "a number is outside its accepted range")                        \
    X(TEXT_INVALID, "text_invalid",                                                                \
      "a text field is not valid UTF-8 or holds a character it has no use for")                    \
    /* identity */                                                                                 \
    X(IDENTITY_CONFLICT, "identity_conflict", "identifier is already linked to another child")     \
    X(IDENTITY_CYCLE, "identity_cycle", "link would create a cycle of identifiers")                \
    X(IDENTITY_UNKNOWN_LINK, "identity_unknown_link", "unlink names a link that does not exist")   \
    X(IDENTITY_UNRESOLVED, "identity_unresolved", "identity cannot be resolved yet")               \
    X(IDENTITY_PARK_FULL, "identity_park_full", "the parking area for unresolved events is full")  \
    X(IDENTITY_EXPIRED, "identity_expired", "parked event expired before its identity resolved")   \
    X(IDENTITY_PARK_CORRUPT, "identity_park_corrupt", "persisted parked event cannot be decoded")  \
    /* ledger and policy */                                                                        \
    X(POLICY_SYNTAX, "policy_syntax", "policy file is not well-formed YAML")                       \
    X(POLICY_UNKNOWN_KEY, "policy_unknown_key", "policy has a key the language does not define")   \
    X(POLICY_TYPE, "policy_type", "policy value has the wrong type")                               \
    X(POLICY_VALUE, "policy_value", "policy value is out of range")                                \
    X(POLICY_REFERENCE, "policy_reference", "policy refers to something it does not define")       \
    X(POLICY_DUPLICATE, "policy_duplicate", "policy defines the same id twice")                    \
    X(POLICY_CYCLE, "policy_cycle", "policy escalation ladder is cyclic")                          \
    X(LEDGER_CORRUPT, "ledger_corrupt", "changelog record of a ledger cannot be decoded")          \
    /* notify */                                                                                   \
    X(NOTIFY_UNKNOWN, "notify_unknown", "acknowledgement names an unknown notification")           \
    X(NOTIFY_CLOSED, "notify_closed", "notification is already closed")                           \
    /* hl7: HL7 v2 messages (src/hl7, docs/hl7.md) */                                              \
    X(HL7_SYNTAX, "hl7_syntax", "HL7 v2 message is not well-formed")                               \
    X(HL7_ESCAPE, "hl7_escape", "HL7 v2 value holds a malformed or unknown escape sequence")       \
    X(HL7_TIMESTAMP, "hl7_timestamp", "HL7 v2 date/time is not a valid DTM")                       \
    X(HL7_BATCH, "hl7_batch", "HL7 v2 batch or file does not hold together")                       \
    /* fhir: FHIR R4 resources (src/fhir, docs/fhir.md) */                                         \
    X(FHIR_SYNTAX, "fhir_syntax", "FHIR document is not well-formed JSON or XML")                  \
    X(FHIR_INVALID, "fhir_invalid", "FHIR element is missing, repeated or of the wrong type")      \
    X(FHIR_TIMESTAMP, "fhir_timestamp", "FHIR date or time is not valid or has no zone")           \
    X(FHIR_UNSUPPORTED, "fhir_unsupported", "FHIR resource type is not one notbrought reads")      \
    /* feed: source messages mapped to canonical records (src/feed, docs/integration.md) */        \
    X(FEED_UNMAPPED, "feed_unmapped", "a message holds a code its mapping does not map")           \
    X(FEED_UNSUPPORTED, "feed_unsupported", "a message type its mapping does not take")            \
    /* stream and ops */                                                                           \
    X(KAFKA, "kafka", "Kafka client error")                                                        \
    X(KAFKA_FATAL, "kafka_fatal", "fatal Kafka client error")                                      \
    X(KAFKA_ABORTABLE, "kafka_abortable", "Kafka transaction must be aborted")                     \
    X(RECORD_TOO_LARGE, "record_too_large",                                                       \
      "a record is larger than Kafka accepts (message.max.bytes)")                                 \
    X(TIMEOUT, "timeout", "operation timed out")

typedef enum nb_err_e {
#define NB__ERR_ENUM(sym, code, desc) NB_ERR_##sym,
    NB_ERR_MAP(NB__ERR_ENUM)
#undef NB__ERR_ENUM
        NB_ERR__COUNT
} nb_err_t;

/*
 * NB_NODISCARD stands before the return type of every function that returns nb_err_t (and in
 * every typedef of such a function or a pointer to one): a caller that drops the error then
 * gets a warning, which -Werror makes a failed build. Errors are never swallowed by accident;
 * tests/layers/check_nodiscard.py (ctest unit.nodiscard) fails when a declaration lacks it.
 */
#if defined(__GNUC__) || defined(__clang__)
#define NB_NODISCARD __attribute__((warn_unused_result))
#else
#define NB_NODISCARD
#endif

/*
 * NB_IGNORE(expr) evaluates an nb_err_t expression and drops its value on purpose, where no
 * error could change what the caller does (cleanup paths, best-effort metrics). A cast to void
 * does not silence GCC's warn_unused_result, this does. Each use says in a comment why the
 * error cannot matter there.
 */
#define NB_IGNORE(expr)                                                                            \
    do {                                                                                           \
        nb_err_t nb__ignored = (expr);                                                             \
        (void)nb__ignored;                                                                         \
    } while (0)

/**
 * @brief Stable lower-case code of an error, e.g. "nhs_check_digit".
 * @returns a static string; "unknown" for values outside the table.
 */
const char *nb_err_name(nb_err_t err);

/**
 * @brief One-sentence human description of an error.
 * @returns a static string.
 */
const char *nb_err_str(nb_err_t err);

/**
 * @brief Looks an error up by its stable code.
 * @returns the error, or NB_ERR__COUNT when the code is not in the table.
 */
NB_NODISCARD nb_err_t nb_err_from_name(const char *name);

#endif /* NOTBROUGHT_ERR_H */
