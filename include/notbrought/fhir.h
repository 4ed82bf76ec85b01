/*
 * notbrought - fhir: a reader of FHIR R4 Appointment, Encounter, Patient and Bundle resources,
 * in JSON or XML, into a plain C view; the pure layer under the FHIR adapter of issue 22, as
 * the hl7 module is under the HL7 v2 one. No HTTP, no Kafka, no mappings and no policy: bytes
 * in, the elements a mapping needs out, and an OperationOutcome writer for what is refused.
 *
 * - JSON is read with jansson and XML with libxml2 (from memory, no network, no DTD, no
 *   entities). Both are first turned into one tree of elements (FHIR XML keeps values in
 *   `value` attributes and names resources by their element; JSON by `resourceType`), and one
 *   walker reads the view from that tree, so the same resource gives the same view in both.
 * - References to a Patient are resolved against the contained resources ("#id") and, in a
 *   Bundle, against the entries (fullUrl, or "Type/id"); the view then points at that Patient.
 * - Dates and times (date, dateTime, instant) are read into milliseconds since the epoch (UTC)
 *   with the precision written. A time without a zone is refused, as FHIR demands one.
 *
 * Error texts name the element in FHIR's path style ("Appointment.participant[1].actor.
 * reference: ...", indexes from 0) and never a value: resources carry NHS numbers, names and
 * dates of birth, and the texts may go into logs and OperationOutcomes. What is read and what
 * is refused is in docs/fhir.md.
 *
 * Pure: no I/O, no clock, no logging. A document handle belongs to one thread. libxml2 must be
 * initialised once before threads use it: nb_fhir_doc_new() does it, so make the first handle
 * on the main thread.
 */
#ifndef NOTBROUGHT_FHIR_H
#define NOTBROUGHT_FHIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/util.h" /* nb_buf_t, which the OperationOutcome writer fills */

/* ---- small types --------------------------------------------------------------------------- */

/*
 * Every string of the view is NUL-terminated and NULL when the element is absent. Strings and
 * lists live until the next nb_fhir_read() on the same handle or nb_fhir_doc_destroy().
 */

/** How much of a date/time was written. */
typedef enum nb_fhir_prec_e {
    NB_FHIR_PREC_NONE = 0, /**< absent */
    NB_FHIR_PREC_YEAR,     /**< "2021" */
    NB_FHIR_PREC_MONTH,    /**< "2021-02" */
    NB_FHIR_PREC_DAY,      /**< "2021-02-11" */
    NB_FHIR_PREC_SECOND,   /**< "2021-02-11T15:39:00+00:00" */
    NB_FHIR_PREC_MILLI     /**< with a fraction (digits beyond the third are dropped) */
} nb_fhir_prec_t;

/** A date, dateTime or instant. */
typedef struct nb_fhir_time_s {
    nb_fhir_prec_t prec; /**< NB_FHIR_PREC_NONE when absent */
    int64_t ms;          /**< the start of what was written, ms since 1970-01-01T00:00:00Z;
                              a date without time is midnight UTC of that date */
    bool has_zone;       /**< a time was given, with Z or an offset */
    int zone_minutes;    /**< the offset written (+01:00 is 60); 0 for Z and without a time */
} nb_fhir_time_t;

/** A Coding (CodeableConcepts are flattened into their codings). */
typedef struct nb_fhir_coding_s {
    const char *system, *code, *display;
} nb_fhir_coding_t;

/** The codings of one CodeableConcept element, or of all repetitions of one. */
typedef struct nb_fhir_codings_s {
    size_t n;
    const nb_fhir_coding_t *v;
    const char *text; /**< CodeableConcept.text of the first that has one */
} nb_fhir_codings_t;

/** An Identifier. */
typedef struct nb_fhir_identifier_s {
    const char *system, *value, *use;
    /** The code of the UK Core NHS number verification status extension
     *  (Extension-UKCore-NHSNumberVerificationStatus, e.g. "01"), where one is present. */
    const char *verification_status;
} nb_fhir_identifier_t;

typedef struct nb_fhir_identifiers_s {
    size_t n;
    const nb_fhir_identifier_t *v;
} nb_fhir_identifiers_t;

/** What a reference points at: from its "Type/id" form, its `type`, or the resource found. */
typedef enum nb_fhir_kind_e {
    NB_FHIR_KIND_UNKNOWN = 0,
    NB_FHIR_KIND_PATIENT,
    NB_FHIR_KIND_PRACTITIONER,
    NB_FHIR_KIND_PRACTITIONER_ROLE,
    NB_FHIR_KIND_RELATED_PERSON,
    NB_FHIR_KIND_LOCATION,
    NB_FHIR_KIND_HEALTHCARE_SERVICE,
    NB_FHIR_KIND_DEVICE,
    NB_FHIR_KIND_ORGANIZATION,
    NB_FHIR_KIND_APPOINTMENT,
    NB_FHIR_KIND_OTHER /**< another resource type; `type` says which */
} nb_fhir_kind_t;

typedef struct nb_fhir_patient_s nb_fhir_patient_t;

/** A Reference. */
typedef struct nb_fhir_ref_s {
    bool present;
    const char *reference; /**< as written: "Patient/123", "urn:uuid:...", "#p1", a URL */
    const char *type;      /**< the resource type it names (from `type`, the reference or the
                                resource found), or NULL */
    nb_fhir_kind_t kind;
    nb_fhir_identifier_t identifier; /**< Reference.identifier (logical reference) */
    const char *display;
    /** The Patient it resolves to, contained or in the same Bundle; NULL when it points at
     *  something else, outside, or nowhere this document holds. */
    const nb_fhir_patient_t *patient;
} nb_fhir_ref_t;

typedef struct nb_fhir_refs_s {
    size_t n;
    const nb_fhir_ref_t *v;
} nb_fhir_refs_t;

/** The version and time of a resource (Resource.meta). */
typedef struct nb_fhir_meta_s {
    const char *id;         /**< Resource.id */
    const char *version_id; /**< meta.versionId */
    nb_fhir_time_t last_updated;
} nb_fhir_meta_t;

/* ---- resources ----------------------------------------------------------------------------- */

/** A Patient: only what identifies the child (no names, addresses or contacts are read). */
struct nb_fhir_patient_s {
    nb_fhir_meta_t meta;
    nb_fhir_identifiers_t identifiers;
    nb_fhir_time_t birth_date; /**< a date (precision year, month or day) */
};

/** Appointment.participant. */
typedef struct nb_fhir_participant_s {
    nb_fhir_ref_t actor;
    const char *status;   /**< accepted | declined | tentative | needs-action, as written */
    const char *required; /**< required | optional | information-only */
    nb_fhir_codings_t type;
} nb_fhir_participant_t;

/** An Appointment. */
typedef struct nb_fhir_appointment_s {
    nb_fhir_meta_t meta;
    nb_fhir_identifiers_t identifiers;
    const char *status; /**< required; as written (no code list is enforced here) */
    nb_fhir_codings_t cancelation_reason;
    nb_fhir_codings_t appointment_type;
    nb_fhir_codings_t service_type;     /**< all repetitions */
    nb_fhir_codings_t service_category; /**< all repetitions */
    nb_fhir_codings_t specialty;        /**< all repetitions */
    nb_fhir_time_t start, end;          /**< instants */
    nb_fhir_time_t created;             /**< a dateTime */
    bool has_minutes_duration;
    int64_t minutes_duration;
    size_t n_participants;
    const nb_fhir_participant_t *participants;
    nb_fhir_refs_t based_on;
    nb_fhir_refs_t supporting_information;
    /** The first participant whose actor is a Patient (by kind), or NULL. */
    const nb_fhir_participant_t *patient;
} nb_fhir_appointment_t;

/** An Encounter. */
typedef struct nb_fhir_encounter_s {
    nb_fhir_meta_t meta;
    nb_fhir_identifiers_t identifiers;
    const char *status;     /**< required */
    nb_fhir_coding_t class; /**< Encounter.class (a Coding): e.g. system v3-ActCode, code HH */
    nb_fhir_codings_t type; /**< all repetitions */
    nb_fhir_codings_t service_type;
    nb_fhir_time_t period_start, period_end;
    nb_fhir_ref_t subject; /**< resolved to a Patient where possible */
    nb_fhir_refs_t appointment;
    nb_fhir_ref_t service_provider; /**< its identifier holds the ODS code, where sent so */
    bool has_hospitalization;
    nb_fhir_codings_t admit_source, discharge_disposition;
} nb_fhir_encounter_t;

/** Which kind of resource a nb_fhir_resource_t holds. */
typedef enum nb_fhir_rtype_e {
    NB_FHIR_OTHER = 0, /**< a resource this module does not read: only resource_type and id */
    NB_FHIR_APPOINTMENT,
    NB_FHIR_ENCOUNTER,
    NB_FHIR_PATIENT,
    NB_FHIR_BUNDLE
} nb_fhir_rtype_t;

typedef struct nb_fhir_bundle_s nb_fhir_bundle_t;

/** One resource, of whichever type; the pointer for its type is set, the others NULL. */
typedef struct nb_fhir_resource_s {
    nb_fhir_rtype_t rtype;
    const char *resource_type; /**< as written: "Appointment", "Slot", ... */
    const char *id;
    const nb_fhir_appointment_t *appointment;
    const nb_fhir_encounter_t *encounter;
    const nb_fhir_patient_t *patient;
    const nb_fhir_bundle_t *bundle;
} nb_fhir_resource_t;

/** Bundle.entry. */
typedef struct nb_fhir_entry_s {
    const char *full_url;
    const char *request_method; /**< entry.request.method (batch, transaction, history) */
    const char *request_url;
    /** The entry's resource; rtype NB_FHIR_OTHER (resource_type set) for a type not read
     *  here, resource_type NULL for an entry without one (a history DELETE). */
    nb_fhir_resource_t resource;
    /** In a subscription notification: this entry is the focus of a notification event. */
    bool focus;
} nb_fhir_entry_t;

/** A subscription notification (R4 Subscriptions Backport IG): Bundle.type history whose
 *  first entry is a SubscriptionStatus, or the Parameters of the R4 backport. */
typedef struct nb_fhir_notification_s {
    bool present;
    const char *status_type;  /**< SubscriptionStatus.type / parameter "type": event-notification,
                                   handshake, heartbeat, query-status, query-event */
    const char *subscription; /**< the Subscription's reference */
    size_t n_focus;           /**< focus references named by the notification's events */
} nb_fhir_notification_t;

/** A Bundle. */
struct nb_fhir_bundle_s {
    nb_fhir_meta_t meta;
    const char *type; /**< required: batch, transaction, history, collection, searchset,
                           message, document, ... as written */
    size_t n_entries;
    const nb_fhir_entry_t *entries;
    nb_fhir_notification_t notification;
};

/* ---- reading ------------------------------------------------------------------------------- */

/** Limits of one document; each one reached is NB_ERR_LIMIT with the limit and the path. */
typedef struct nb_fhir_limits_s {
    size_t max_bytes;        /**< bytes of one document; default 4 MiB, at most 256 MiB */
    size_t max_depth;        /**< nesting of elements; default 64, at most 200 */
    size_t max_entries;      /**< Bundle.entry; default 1,000 */
    size_t max_participants; /**< Appointment.participant; default 100 */
    size_t max_list;         /**< identifiers, codings, references of one element; default 100 */
    size_t max_string;       /**< bytes of any string the view reads; default 8 KiB */
} nb_fhir_limits_t;

/** @brief The default limits (above). */
void nb_fhir_limits_default(nb_fhir_limits_t *lim);

/** The syntax of the bytes. */
typedef enum nb_fhir_format_e {
    NB_FHIR_AUTO = 0, /**< by the first byte that is not white space (or a BOM): '<' is XML */
    NB_FHIR_JSON,
    NB_FHIR_XML
} nb_fhir_format_t;

/** A document handle: what one read built; reused from one read to the next. */
typedef struct nb_fhir_doc_s nb_fhir_doc_t;

/**
 * @brief A document handle with these limits (NULL: the defaults). Initialises libxml2.
 * @returns NULL on allocation failure or when a limit is 0 or above its maximum.
 */
nb_fhir_doc_t *nb_fhir_doc_new(const nb_fhir_limits_t *lim);

/** @brief Frees the handle and all it read. NULL is a no-op. */
void nb_fhir_doc_destroy(nb_fhir_doc_t *doc);

/**
 * @brief Reads one resource (Appointment, Encounter, Patient or Bundle) into the handle.
 *
 * Errors: NB_ERR_FHIR_SYNTAX (not well-formed JSON or XML, a DTD, not in the FHIR namespace),
 * NB_ERR_FHIR_INVALID (an element of the wrong shape, a required one missing, no resourceType,
 * a value that is not what its type allows), NB_ERR_FHIR_TIMESTAMP (a date or time that is not
 * valid, or a time without a zone), NB_ERR_FHIR_UNSUPPORTED (a resource of another type at the
 * top), NB_ERR_LIMIT (also for more elements than one per 8 bytes of max_bytes), NB_ERR_NOMEM,
 * NB_ERR_INVALID_ARG (NULL data with a length). errstr gets "path: what is wrong", and
 * nb_fhir_doc_error_path() the path alone.
 *
 * @param data the bytes, UTF-8 (XML is read as UTF-8 whatever it declares; a byte order mark
 *        is skipped); not kept after the call (the view holds copies).
 * @remark Everything read by an earlier call on this handle is invalid after the call.
 */
NB_NODISCARD nb_err_t nb_fhir_read(nb_fhir_doc_t *doc, const char *data, size_t len,
                                   nb_fhir_format_t fmt, char *errstr, size_t errstr_size);

/** @brief The resource read by the last successful nb_fhir_read(), or NULL. */
const nb_fhir_resource_t *nb_fhir_doc_resource(const nb_fhir_doc_t *doc);

/**
 * @brief The FHIR path of the element the last nb_fhir_read() refused ("Appointment.status"),
 *        "" when it did not refuse one, or the fault was not at an element.
 */
const char *nb_fhir_doc_error_path(const nb_fhir_doc_t *doc);

/** @brief The format the last nb_fhir_read() found (JSON or XML; AUTO before any read). */
nb_fhir_format_t nb_fhir_doc_format(const nb_fhir_doc_t *doc);

/** The FHIR types of dates and times. */
typedef enum nb_fhir_ttype_e {
    NB_FHIR_T_DATE,     /**< "2021", "2021-02", "2021-02-11" */
    NB_FHIR_T_DATETIME, /**< a date, or a date with a time and a zone */
    NB_FHIR_T_INSTANT   /**< a date with a time to the second (or finer) and a zone */
} nb_fhir_ttype_t;

/**
 * @brief Reads a FHIR date, dateTime or instant (@p what).
 * @returns NB_ERR_OK, or NB_ERR_FHIR_TIMESTAMP with the reason in errstr (never the value).
 */
NB_NODISCARD nb_err_t nb_fhir_time_parse(const char *s, size_t len, nb_fhir_ttype_t what,
                                         nb_fhir_time_t *out, char *errstr, size_t errstr_size);

/** @brief A name for a kind: "Patient", "Location", ...; "unknown" for NB_FHIR_KIND_UNKNOWN. */
const char *nb_fhir_kind_name(nb_fhir_kind_t kind);

/* ---- OperationOutcome ---------------------------------------------------------------------- */

/** One OperationOutcome.issue. */
typedef struct nb_fhir_issue_s {
    const char *severity;    /**< fatal | error | warning | information */
    const char *code;        /**< IssueType: invalid, structure, required, value, not-supported,
                                  too-costly, exception, ... */
    const char *diagnostics; /**< text for humans; must carry no personal data */
    const char *expression;  /**< the FHIR path, or NULL/"" for none */
} nb_fhir_issue_t;

/**
 * @brief The IssueType code for an error of this module: invalid (NB_ERR_FHIR_INVALID),
 *        structure (NB_ERR_FHIR_SYNTAX), value (NB_ERR_FHIR_TIMESTAMP), not-supported,
 *        too-costly (NB_ERR_LIMIT), exception (anything else).
 */
const char *nb_fhir_issue_code(nb_err_t err);

/**
 * @brief Writes an OperationOutcome with these issues, as JSON or XML, appended to @p out.
 *        Control characters other than tab and newline are dropped from the texts.
 * @returns NB_ERR_OK, NB_ERR_INVALID_ARG (no issue, an issue without severity or code, or fmt
 *          AUTO), NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_fhir_outcome_write(const nb_fhir_issue_t *issues, size_t n,
                                            nb_fhir_format_t fmt, nb_buf_t *out);

#endif /* NOTBROUGHT_FHIR_H */
