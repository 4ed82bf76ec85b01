/*
 * notbrought - event: the domain types.
 *
 * Plain value types (public structs, like rd_kafka_message_t) for the records that flow
 * through the system: appointment events, identity links, child context facts, notifications
 * and acknowledgements. Strings are fixed-size, NUL-terminated arrays with documented maxima,
 * so a decoded record owns no heap memory and can be copied with `=`. The codec rejects input
 * whose strings exceed the maxima (NB_ERR_FIELD_TOO_LONG).
 *
 * Times: instants are int64 milliseconds since the Unix epoch (UTC); calendar dates are
 * int32 days since 1970-01-01 (Avro logical types timestamp-millis and date). NB_DATE_NONE
 * and NB_TIME_NONE mark absent optional values.
 *
 * Pure: no I/O, no clock, no allocation.
 */
#ifndef NOTBROUGHT_EVENT_H
#define NOTBROUGHT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"

#define NB_ID_MAX 64       /**< event ids, appointment ids, identifier values */
#define NB_SYSTEM_MAX 96   /**< identifier systems (URIs), source system names */
#define NB_ORG_MAX 16      /**< ODS organisation codes */
#define NB_TYPE_MAX 48     /**< appointment types */
#define NB_NAME_MAX 64     /**< family names */
#define NB_POSTCODE_MAX 10 /**< UK postcodes, with the space */
#define NB_NHS_LEN 10      /**< digits in an NHS number */
#define NB_TEXT_MAX 512    /**< free text: rule text, actions, outcomes */
#define NB_REF_MAX 16      /**< human references */
#define NB_KEY_MAX 64      /**< pseudonymous child keys (hex HMAC-SHA256) */
#define NB_TITLE_MAX 200   /**< role titles from the policy */

/** Amendment versions of appointments and facts: 1 to NB_VERSION_MAX (16 bits). */
#define NB_VERSION_MAX 65535

#define NB_DATE_NONE INT32_MIN
#define NB_TIME_NONE INT64_MIN
#define NB_MS_PER_DAY 86400000LL

/* The identifier system of NHS numbers (FHIR NamingSystem). */
#define NB_SYSTEM_NHS_NUMBER "https://fhir.nhs.uk/Id/nhs-number"

/* Enumerations. The symbol lists are in the same order as the Avro enums in schemas/;
 * nb_<enum>_name() gives the Avro symbol and nb_<enum>_parse() reads it back. */
#define NB_AGENCY_MAP(X)                                                                           \
    X(GP, "gp")                                                                                    \
    X(MIDWIFERY, "midwifery")                                                                      \
    X(HEALTH_VISITING, "health_visiting")                                                          \
    X(SCHOOL_NURSING, "school_nursing")                                                            \
    X(OUTPATIENTS, "outpatients")                                                                  \
    X(OTHER, "other")

#define NB_STATUS_MAP(X)                                                                           \
    X(BOOKED, "booked")                                                                            \
    X(ATTENDED, "attended")                                                                        \
    X(WAS_NOT_BROUGHT, "was_not_brought")                                                          \
    X(NO_ACCESS_VISIT, "no_access_visit")                                                          \
    X(CANCELLED_BY_PATIENT, "cancelled_by_patient")                                                \
    X(CANCELLED_BY_PROVIDER, "cancelled_by_provider")                                              \
    X(RESCHEDULED, "rescheduled")                                                                  \
    X(ENTERED_IN_ERROR, "entered_in_error")

#define NB_SUBJECT_KIND_MAP(X)                                                                     \
    X(CHILD, "child")                                                                              \
    X(UNBORN, "unborn")

#define NB_CONTACT_MODE_MAP(X)                                                                     \
    X(FACE_TO_FACE, "face_to_face")                                                                \
    X(HOME_VISIT, "home_visit")                                                                    \
    X(TELEPHONE, "telephone")                                                                      \
    X(VIDEO, "video")                                                                              \
    X(OTHER, "other")

#define NB_LINK_KIND_MAP(X)                                                                        \
    X(LINK, "link")                                                                                \
    X(UNLINK, "unlink")                                                                            \
    X(SUPERSEDES, "supersedes")                                                                    \
    X(UNBORN_TO_CHILD, "unborn_to_child")

#define NB_VERIFICATION_MAP(X)                                                                     \
    X(UNVERIFIED, "unverified")                                                                    \
    X(LOCALLY_VERIFIED, "locally_verified")                                                        \
    X(PDS_TRACED, "pds_traced")                                                                    \
    X(PDS_VERIFIED, "pds_verified")

#define NB_FACT_KIND_MAP(X)                                                                        \
    X(CHILD_PROTECTION_PLAN, "child_protection_plan")                                              \
    X(UNBORN_CHILD_PROTECTION_PLAN, "unborn_child_protection_plan")                                \
    X(LOOKED_AFTER, "looked_after")                                                                \
    X(CHILD_IN_NEED, "child_in_need")

#define NB_FACT_STATUS_MAP(X)                                                                      \
    X(CURRENT, "current")                                                                          \
    X(ENTERED_IN_ERROR, "entered_in_error")

#define NB_NOTIFICATION_KIND_MAP(X)                                                                \
    X(NEW, "new")                                                                                  \
    X(ESCALATED, "escalated")                                                                      \
    X(REMINDER, "reminder")                                                                        \
    X(WITHDRAWN, "withdrawn")                                                                      \
    X(DIGEST, "digest")

/* Tiers are ordered: a modifier that raises the tier moves one step down this list. */
#define NB_TIER_MAP(X)                                                                             \
    X(CURIOSITY, "curiosity")                                                                      \
    X(ROUTINE, "routine")                                                                          \
    X(PRIORITY, "priority")                                                                        \
    X(URGENT, "urgent")

/* NotificationAck version 2's AckAction; version 1's "seen" is read as OTHER. */
#define NB_ACK_ACTION_MAP(X)                                                                       \
    X(CONTACTED_FAMILY, "contacted_family")                                                        \
    X(REBOOKED, "rebooked")                                                                        \
    X(DISCUSSED_WITH_NAMED_NURSE, "discussed_with_named_nurse")                                    \
    X(REFERRED, "referred")                                                                        \
    X(NO_FURTHER_ACTION, "no_further_action")                                                      \
    X(OTHER, "other")

/* What an action on a notification does (NotificationAck version 2's AckIntent); a version 1
 * record is CLOSE, which is first so that a zeroed nb_ack_t closes as acks always did. */
#define NB_ACK_INTENT_MAP(X)                                                                       \
    X(CLOSE, "close")                                                                              \
    X(TAKE, "take")                                                                                \
    X(REASSIGN, "reassign")

/* Demographic fields a link suggestion compared (IdentitySuggestion.evidence.matched_fields). */
#define NB_DEMO_FIELD_MAP(X)                                                                       \
    X(DATE_OF_BIRTH, "date_of_birth")                                                              \
    X(FAMILY_NAME, "family_name")                                                                  \
    X(POSTCODE, "postcode")

/* AuditRecord.kind (schemas/audit_record.avsc; docs/reporting.md says what each means). */
#define NB_AUDIT_KIND_MAP(X)                                                                       \
    X(RECEIVED, "received")                                                                        \
    X(PARKED, "parked")                                                                            \
    X(FIRED, "fired")                                                                              \
    X(FIRED_CLOSED, "fired_closed")                                                                \
    X(DIGESTED, "digested")                                                                        \
    X(DIGEST, "digest")                                                                            \
    X(ESCALATED, "escalated")                                                                      \
    X(WITHDRAWN, "withdrawn")                                                                      \
    X(CORRECTED, "corrected")                                                                      \
    X(SUPPRESSED, "suppressed")                                                                    \
    X(SHADOW, "shadow")                                                                            \
    X(TAKEN, "taken")                                                                              \
    X(REASSIGNED, "reassigned")                                                                    \
    X(CLOSED, "closed")                                                                            \
    X(ACTION_DUPLICATE, "action_duplicate")                                                        \
    X(ACTION_EARLY, "action_early")                                                                \
    X(ACTION_REFUSED, "action_refused")                                                            \
    X(ACTION_UNKNOWN, "action_unknown")                                                            \
    X(DELIVERED, "delivered")                                                                      \
    X(DELIVERY_FAILED, "delivery_failed")                                                          \
    X(VIEWED, "viewed")                                                                            \
    X(CHRONOLOGY_READ, "chronology_read")                                                          \
    X(PURGED, "purged")                                                                            \
    X(OTHER, "other")

#define NB__AGENCY_E(sym, str) NB_AGENCY_##sym,
#define NB__STATUS_E(sym, str) NB_STATUS_##sym,
#define NB__SUBJECT_KIND_E(sym, str) NB_SUBJECT_##sym,
#define NB__CONTACT_MODE_E(sym, str) NB_CONTACT_##sym,
#define NB__LINK_KIND_E(sym, str) NB_LINK_##sym,
#define NB__VERIFICATION_E(sym, str) NB_VERIFICATION_##sym,
#define NB__FACT_KIND_E(sym, str) NB_FACT_##sym,
#define NB__FACT_STATUS_E(sym, str) NB_FACT_STATUS_##sym,
#define NB__NOTIFICATION_KIND_E(sym, str) NB_NOTIFICATION_##sym,
#define NB__TIER_E(sym, str) NB_TIER_##sym,
#define NB__ACK_ACTION_E(sym, str) NB_ACK_##sym,
#define NB__DEMO_FIELD_E(sym, str) NB_DEMO_##sym,
#define NB__ACK_INTENT_E(sym, str) NB_ACK_INTENT_##sym,
#define NB__AUDIT_KIND_E(sym, str) NB_AUDIT_##sym,

typedef enum nb_agency_e { NB_AGENCY_MAP(NB__AGENCY_E) NB_AGENCY__COUNT } nb_agency_t;
typedef enum nb_status_e { NB_STATUS_MAP(NB__STATUS_E) NB_STATUS__COUNT } nb_status_t;
typedef enum nb_subject_kind_e {
    NB_SUBJECT_KIND_MAP(NB__SUBJECT_KIND_E) NB_SUBJECT__COUNT
} nb_subject_kind_t;
typedef enum nb_contact_mode_e {
    NB_CONTACT_MODE_MAP(NB__CONTACT_MODE_E) NB_CONTACT__COUNT
} nb_contact_mode_t;
typedef enum nb_link_kind_e { NB_LINK_KIND_MAP(NB__LINK_KIND_E) NB_LINK__COUNT } nb_link_kind_t;
typedef enum nb_verification_e {
    NB_VERIFICATION_MAP(NB__VERIFICATION_E) NB_VERIFICATION__COUNT
} nb_verification_t;
typedef enum nb_fact_kind_e { NB_FACT_KIND_MAP(NB__FACT_KIND_E) NB_FACT__COUNT } nb_fact_kind_t;
typedef enum nb_fact_status_e {
    NB_FACT_STATUS_MAP(NB__FACT_STATUS_E) NB_FACT_STATUS__COUNT
} nb_fact_status_t;
typedef enum nb_notification_kind_e {
    NB_NOTIFICATION_KIND_MAP(NB__NOTIFICATION_KIND_E) NB_NOTIFICATION__COUNT
} nb_notification_kind_t;
typedef enum nb_tier_e { NB_TIER_MAP(NB__TIER_E) NB_TIER__COUNT } nb_tier_t;
typedef enum nb_ack_action_e { NB_ACK_ACTION_MAP(NB__ACK_ACTION_E) NB_ACK__COUNT } nb_ack_action_t;
typedef enum nb_ack_intent_e {
    NB_ACK_INTENT_MAP(NB__ACK_INTENT_E) NB_ACK_INTENT__COUNT
} nb_ack_intent_t;
typedef enum nb_demo_field_e { NB_DEMO_FIELD_MAP(NB__DEMO_FIELD_E) NB_DEMO__COUNT } nb_demo_field_t;
typedef enum nb_audit_kind_e {
    NB_AUDIT_KIND_MAP(NB__AUDIT_KIND_E) NB_AUDIT__COUNT
} nb_audit_kind_t;

/**
 * @brief Avro symbol of an enum value ("was_not_brought").
 * @returns a static string, or "?" for a value outside the enum.
 */
const char *nb_agency_name(nb_agency_t v);
const char *nb_status_name(nb_status_t v);
const char *nb_subject_kind_name(nb_subject_kind_t v);
const char *nb_contact_mode_name(nb_contact_mode_t v);
const char *nb_link_kind_name(nb_link_kind_t v);
const char *nb_verification_name(nb_verification_t v);
const char *nb_fact_kind_name(nb_fact_kind_t v);
const char *nb_fact_status_name(nb_fact_status_t v);
const char *nb_notification_kind_name(nb_notification_kind_t v);
const char *nb_tier_name(nb_tier_t v);
const char *nb_ack_action_name(nb_ack_action_t v);
const char *nb_demo_field_name(nb_demo_field_t v);
const char *nb_ack_intent_name(nb_ack_intent_t v);
const char *nb_audit_kind_name(nb_audit_kind_t v);

/**
 * @brief Parses an Avro symbol back into its enum value.
 * @returns true and sets *out when @p s is a symbol of the enum; false otherwise.
 */
bool nb_agency_parse(const char *s, nb_agency_t *out);
bool nb_status_parse(const char *s, nb_status_t *out);
bool nb_subject_kind_parse(const char *s, nb_subject_kind_t *out);
bool nb_contact_mode_parse(const char *s, nb_contact_mode_t *out);
bool nb_link_kind_parse(const char *s, nb_link_kind_t *out);
bool nb_verification_parse(const char *s, nb_verification_t *out);
bool nb_fact_kind_parse(const char *s, nb_fact_kind_t *out);
bool nb_fact_status_parse(const char *s, nb_fact_status_t *out);
bool nb_notification_kind_parse(const char *s, nb_notification_kind_t *out);
bool nb_tier_parse(const char *s, nb_tier_t *out);
bool nb_ack_action_parse(const char *s, nb_ack_action_t *out);
bool nb_demo_field_parse(const char *s, nb_demo_field_t *out);
bool nb_ack_intent_parse(const char *s, nb_ack_intent_t *out);
bool nb_audit_kind_parse(const char *s, nb_audit_kind_t *out);

/** @brief nb_ack_action_parse() that also reads NotificationAck version 1's "seen", as OTHER. */
bool nb_ack_action_parse_any(const char *s, nb_ack_action_t *out);

/** @brief True for the outcomes that mean the child was not seen through no fault of the
 *  provider: was_not_brought and no_access_visit. */
bool nb_status_is_missed(nb_status_t st);

/** A local or national identifier: system (URI or name) + value. Absent when system is "". */
typedef struct nb_identifier_s {
    char system[NB_SYSTEM_MAX + 1];
    char value[NB_ID_MAX + 1];
} nb_identifier_t;

/** @brief True when the identifier is present (has a system and a value). */
bool nb_identifier_present(const nb_identifier_t *id);

/** Who published an event. */
typedef struct nb_source_s {
    nb_agency_t agency;
    char system[NB_SYSTEM_MAX + 1];        /**< publishing system, e.g. "EMIS Web" */
    char organisation_code[NB_ORG_MAX + 1]; /**< ODS code of the owning organisation */
} nb_source_t;

/** schemas/appointment_event.avsc */
typedef struct nb_appointment_event_s {
    char event_id[NB_ID_MAX + 1];
    nb_source_t source;
    /* subject */
    nb_subject_kind_t subject_kind;
    char nhs_number[NB_NHS_LEN + 1];     /**< "" when not known; digits only once validated */
    nb_identifier_t local_id;            /**< the source system's own record id, if any */
    nb_identifier_t pregnant_person_id;  /**< unborn subjects: the pregnant person */
    int32_t expected_delivery_date;      /**< unborn subjects: days since epoch */
    int32_t date_of_birth;               /**< days since epoch, NB_DATE_NONE if unknown */
    char family_name[NB_NAME_MAX + 1];   /**< for demographic link suggestions only */
    char postcode[NB_POSTCODE_MAX + 1];  /**< for demographic link suggestions only */
    /* appointment */
    char appointment_id[NB_ID_MAX + 1];
    char appointment_type[NB_TYPE_MAX + 1];
    bool mandated_contact;
    nb_contact_mode_t contact_mode;
    int64_t scheduled_start; /**< ms since epoch, event time for windows */
    nb_status_t status;
    int64_t recorded_at; /**< ms since epoch, when the source recorded this version */
    int32_t version;     /**< amendment version; the highest version of an appointment wins */
} nb_appointment_event_t;

/** schemas/identity_link.avsc */
typedef struct nb_identity_link_s {
    char event_id[NB_ID_MAX + 1];
    nb_link_kind_t kind;
    /** link/unlink: the local identifier; supersedes: the old NHS number;
     *  unborn_to_child: the pregnant person's identifier. */
    nb_identifier_t from;
    /** link/unlink: the child's identifier (NHS number); supersedes: the new NHS number;
     *  unborn_to_child: the baby's NHS number. */
    nb_identifier_t to;
    int32_t expected_delivery_date; /**< unborn_to_child: the pregnancy's EDD */
    nb_source_t source;
    nb_verification_t verification;
    int64_t recorded_at;
} nb_identity_link_t;

/** schemas/context_fact.avsc */
typedef struct nb_context_fact_s {
    char event_id[NB_ID_MAX + 1];
    char nhs_number[NB_NHS_LEN + 1];
    nb_identifier_t local_id;
    nb_fact_kind_t kind;
    int32_t start_date;
    int32_t end_date; /**< NB_DATE_NONE while the fact is current */
    nb_fact_status_t status;
    char source_system[NB_SYSTEM_MAX + 1];
    char organisation_code[NB_ORG_MAX + 1];
    int64_t recorded_at;
    int32_t version;
} nb_context_fact_t;

#define NB_NOTIF_MAX_EVIDENCE 16
#define NB_NOTIF_MAX_RECIPIENTS 8
#define NB_NOTIF_MAX_CONTEXT 8
#define NB_NOTIF_MAX_COUNTS 4
#define NB_NOTIF_MAX_ITEMS 32 /**< notifications gathered in one digest */

/** One notification gathered into a digest. */
typedef struct nb_digest_item_s {
    char notification_id[NB_ID_MAX + 1];
    char reference[NB_REF_MAX + 1];
    char child_key[NB_KEY_MAX + 1];
    char nhs_number[NB_NHS_LEN + 1]; /**< "" when not known */
    char rule_id[NB_ID_MAX + 1];
    nb_tier_t tier;
    int64_t decided_at;
} nb_digest_item_t;

typedef struct nb_evidence_s {
    char event_id[NB_ID_MAX + 1];
    char appointment_id[NB_ID_MAX + 1];
    nb_agency_t agency;
    char appointment_type[NB_TYPE_MAX + 1];
    int64_t scheduled_start;
    nb_status_t status;
    char organisation_code[NB_ORG_MAX + 1];
    int64_t recorded_at;
} nb_evidence_t;

typedef struct nb_recipient_s {
    char role[NB_ID_MAX + 1];          /**< the role's id in the policy (machine field) */
    char title[NB_TITLE_MAX + 1];      /**< its title, e.g. "Health visiting team leader"; or "" */
    char route[NB_SYSTEM_MAX + 1]; /**< contact route from the policy, e.g. a queue or mailbox */
} nb_recipient_t;

typedef struct nb_context_summary_s {
    nb_fact_kind_t kind;
    int32_t start_date;
    int32_t end_date;
    char source[NB_SYSTEM_MAX + 1];
    int64_t as_of;
} nb_context_summary_t;

typedef struct nb_window_count_s {
    int32_t window_days;
    int32_t count;
    int32_t agencies; /**< distinct agencies among the counted events */
    char counted[NB_TEXT_MAX + 1]; /**< what the rule counted, in words; or "" */
} nb_window_count_t;

/** schemas/notification.avsc */
typedef struct nb_notification_s {
    char notification_id[NB_ID_MAX + 1];
    char reference[NB_REF_MAX + 1];
    nb_notification_kind_t kind;
    /* child */
    char nhs_number[NB_NHS_LEN + 1];
    int32_t date_of_birth;
    int32_t age_months; /**< -1 when unknown or unborn */
    char child_key[NB_KEY_MAX + 1];
    char pregnant_person_nhs[NB_NHS_LEN + 1]; /**< unborn child: the pregnant person; or "" */
    int32_t expected_delivery_date;           /**< unborn child: the pregnancy's EDD */
    /* rule */
    char rule_id[NB_ID_MAX + 1];
    char rule_text[NB_TEXT_MAX + 1];
    char policy_name[NB_ID_MAX + 1];
    char policy_version[NB_ID_MAX + 1];
    char policy_hash[NB_KEY_MAX + 1];
    nb_tier_t tier;
    char action[NB_TEXT_MAX + 1];
    int64_t respond_by;
    int32_t escalation_level;
    char supersedes[NB_ID_MAX + 1]; /**< "" when none */
    int64_t created_at;
    size_t n_recipients;
    nb_recipient_t recipients[NB_NOTIF_MAX_RECIPIENTS];
    size_t n_context;
    nb_context_summary_t context[NB_NOTIF_MAX_CONTEXT];
    size_t n_evidence;
    nb_evidence_t evidence[NB_NOTIF_MAX_EVIDENCE];
    size_t n_counts;
    nb_window_count_t counts[NB_NOTIF_MAX_COUNTS];
    size_t n_items; /**< digests only */
    nb_digest_item_t items[NB_NOTIF_MAX_ITEMS];
} nb_notification_t;

/** schemas/notification_ack_v2.avsc (version 1, notification_ack.avsc, reads as a close with
 *  an empty user_id): a person's action on a notification (docs/inbox.md). */
typedef struct nb_ack_s {
    char ack_id[NB_ID_MAX + 1];
    char notification_id[NB_ID_MAX + 1];
    char reference[NB_REF_MAX + 1];
    nb_ack_intent_t intent;
    char acknowledged_by[NB_NAME_MAX + 1];
    char user_id[NB_ID_MAX + 1];           /**< stable staff id; "" in version 1 records */
    char role[NB_ID_MAX + 1];              /**< the queue or role acted in */
    char reassign_to_queue[NB_ID_MAX + 1]; /**< REASSIGN: target queue, or "" */
    char reassign_to_user[NB_ID_MAX + 1];  /**< REASSIGN: target person, or "" */
    char reason[NB_TEXT_MAX + 1];          /**< REASSIGN, CLOSE with no_further_action: why */
    nb_ack_action_t action;                /**< CLOSE: what was done (OTHER otherwise) */
    char outcome[NB_TEXT_MAX + 1];         /**< the note: may hold personal data */
    int64_t acknowledged_at;
} nb_ack_t;

/** schemas/identity_suggestion.avsc: a link suggested from demographics, for a human to
 *  confirm or reject. Carries an NHS number and a local identifier: never log it. */
typedef struct nb_suggestion_s {
    char suggestion_id[NB_ID_MAX + 1]; /**< "suggest-" + 24 hex; also link.event_id */
    nb_identity_link_t link;           /**< ready for identity.links once confirmed */
    char candidate_key[NB_KEY_MAX + 1]; /**< the candidate child's key */
    char cause_event_id[NB_ID_MAX + 1]; /**< the event that made the suggestion */
    nb_source_t cause_source;
    int64_t cause_recorded_at; /**< NB_TIME_NONE when not known */
    uint32_t matched;          /**< bit (1u << nb_demo_field_t) per field that matched */
    int32_t candidates;        /**< known children with these values (1) */
    int64_t suggested_at;
} nb_suggestion_t;

/** An AuditRecord's recipient: a role of the policy and its contact route. */
typedef struct nb_audit_recipient_s {
    char role[NB_ID_MAX + 1];
    char route[NB_SYSTEM_MAX + 1];
} nb_audit_recipient_t;

/** schemas/audit_record.avsc: one step of a child's safeguarding record, for a practice review
 *  and the board's figures (docs/reporting.md). No personal data: child keys, ids, codes. Text
 *  fields are "" and times NB_TIME_NONE when absent (null in the record); the has_* flags say
 *  whether the optional nested records are present. */
typedef struct nb_audit_s {
    char audit_id[NB_ID_MAX + 1];
    nb_audit_kind_t kind;
    int64_t at;
    char child_key[NB_KEY_MAX + 1];
    char notification_id[NB_ID_MAX + 1];
    char reference[NB_REF_MAX + 1];
    char rule_id[NB_ID_MAX + 1];
    int tier; /**< an nb_tier_t, or -1 when none */
    int32_t level;
    int agency; /**< an nb_agency_t, or -1 when none */
    char organisation[NB_ORG_MAX + 1];
    size_t n_evidence;
    char evidence[NB_NOTIF_MAX_EVIDENCE][NB_ID_MAX + 1];
    size_t n_recipients;
    nb_audit_recipient_t recipients[NB_NOTIF_MAX_RECIPIENTS];
    int64_t respond_by;
    char reason[NB_TEXT_MAX + 1];
    bool has_event; /**< RECEIVED, PARKED */
    struct {
        char event_id[NB_ID_MAX + 1];
        bool context;                           /**< a context fact (else an appointment event) */
        char appointment_id[NB_ID_MAX + 1];     /**< or the fact's kind */
        char appointment_type[NB_TYPE_MAX + 1]; /**< "" for a fact */
        char status[NB_ID_MAX + 1];             /**< nb_status_name() or nb_fact_status_name() */
        int64_t scheduled_start;
        int64_t recorded_at;
        int32_t version;
        char source_system[NB_SYSTEM_MAX + 1];
        bool nhs_number_known;
    } event;
    bool has_action; /**< a verdict on a person's action */
    struct {
        char ack_id[NB_ID_MAX + 1];
        nb_ack_intent_t intent;
        int64_t acted_at;
        char owner_user[NB_ID_MAX + 1];
        char owner_queue[NB_ID_MAX + 1];
        char target_queue[NB_ID_MAX + 1];
        char target_user[NB_ID_MAX + 1];
        int close_action; /**< an nb_ack_action_t, or -1 when none */
        char closed_by[NB_ID_MAX + 1];
        int64_t closed_at;
    } action;
    bool has_actor;
    struct {
        char user_id[NB_ID_MAX + 1];
        char queue[NB_ID_MAX + 1];
        char via[NB_ID_MAX + 1];
    } actor;
    bool has_delivery;
    struct {
        char channel[NB_ID_MAX + 1];
        char route[NB_SYSTEM_MAX + 1];
        int32_t attempt;
    } delivery;
    char subject[NB_TEXT_MAX + 1];
    bool has_policy;
    struct {
        char name[NB_ID_MAX + 1];
        char version[NB_ID_MAX + 1];
        char hash[NB_KEY_MAX + 1];
    } policy;
} nb_audit_t;

/** @brief An empty audit record of @p kind at @p at: every optional field absent. */
void nb_audit_init(nb_audit_t *a, nb_audit_kind_t kind, int64_t at);

/**
 * @brief Sets a->audit_id from what identifies the step: the kind and up to three parts (ids,
 *        a time) hashed to "aud-" + 24 hex, so that the same step written twice has one id.
 */
void nb_audit_set_id(nb_audit_t *a, const char *part1, const char *part2, int64_t part3);

struct nb_appointment_event_s;
struct nb_context_fact_s;

/**
 * @brief The compact record of an appointment event received for a child (kind received), kept
 *        after the source topic has expired: event id, agency, organisation, appointment id and
 *        type, status, times, version, source system, whether it came with an NHS number. No
 *        NHS number, name, date of birth or postcode. Its id follows the event id and child.
 */
void nb_audit_received_appointment(const struct nb_appointment_event_s *e, const char *child_key,
                                   int64_t at, nb_audit_t *out);

/** @brief The same for a context fact (record_type context; its kind as the appointment id). */
void nb_audit_received_fact(const struct nb_context_fact_s *f, const char *child_key, int64_t at,
                            nb_audit_t *out);

/** The record types the codec knows; values are stable and appear in schemas/registry.tsv. */
typedef enum nb_record_type_e {
    NB_RECORD_NONE = 0,
    NB_RECORD_APPOINTMENT = 1,
    NB_RECORD_IDENTITY_LINK = 2,
    NB_RECORD_CONTEXT_FACT = 3,
    NB_RECORD_NOTIFICATION = 4,
    NB_RECORD_ACK = 5,
    NB_RECORD_SUGGESTION = 6,
    NB_RECORD_AUDIT = 7,
    NB_RECORD__COUNT
} nb_record_type_t;

/** @brief The Avro full name of a record type, e.g. "org.notbrought.v1.AppointmentEvent". */
const char *nb_record_type_name(nb_record_type_t t);

/** One decoded record of any type. */
typedef struct nb_record_s {
    nb_record_type_t type;
    int32_t schema_id; /**< the writer schema id it was decoded with / is to be encoded with */
    union {
        nb_appointment_event_t appt;
        nb_identity_link_t link;
        nb_context_fact_t fact;
        nb_notification_t notif;
        nb_ack_t ack;
        nb_suggestion_t sugg;
        nb_audit_t audit;
    } u;
} nb_record_t;

/**
 * @brief Normalises an NHS number: removes spaces and dashes.
 * @param in  the number as received
 * @param out buffer of at least NB_NHS_LEN + 1 bytes
 * @returns NB_ERR_OK when the result is exactly 10 digits, NB_ERR_NHS_FORMAT otherwise
 *          (out is then "").
 */
NB_NODISCARD nb_err_t nb_nhs_normalise(const char *in, char out[NB_NHS_LEN + 1]);

/**
 * @brief Validates a normalised NHS number: 10 digits, not a placeholder, and the Modulus 11
 *        check digit (weights 10..2; check = 11 - (sum mod 11); 11 means 0; 10 means invalid).
 *        Placeholders are one digit ten times (0000000000, 9999999999, ...): every one of them
 *        passes Modulus 11, none is ever issued, and systems send them for "not known".
 * @returns NB_ERR_OK, NB_ERR_NHS_FORMAT, NB_ERR_NHS_PLACEHOLDER or NB_ERR_NHS_CHECK_DIGIT.
 */
NB_NODISCARD nb_err_t nb_nhs_validate(const char *nhs);

/**
 * @brief Computes the Modulus 11 check digit of the first nine digits.
 * @returns 0..9, or -1 when no valid check digit exists (remainder gives 10) or the input is
 *          not nine digits.
 */
int nb_nhs_check_digit(const char *nine_digits);

/** @brief True for numbers in the 999 000 000 0 - 999 999 999 9 range that NHS Digital
 *  reserves for testing. */
bool nb_nhs_is_test_range(const char *nhs);

/**
 * @brief Copies a string into a fixed-size field.
 * @returns NB_ERR_OK, or NB_ERR_FIELD_TOO_LONG (dst is then "") when src does not fit in
 *          cap - 1 bytes.
 */
NB_NODISCARD nb_err_t nb_strlcpy_field(char *dst, size_t cap, const char *src, size_t len);

/**
 * @brief Copies @p src into @p dst of @p cap (> 0) bytes, cut to cap - 1 bytes and always
 *        terminated: snprintf(dst, cap, "%s", src) without the formatting machinery, which
 *        cost more than the copies on the per-event path. NULL copies as "".
 */
void nb_str_copy(char *dst, size_t cap, const char *src);

/* ---- untrusted text ------------------------------------------------------------------------ */

/**
 * What a text field may hold (nb_text_check()). Every class refuses what is not UTF-8 (stray or
 * truncated bytes, overlong forms, surrogates, code points above U+10FFFF), the C0 controls, DEL,
 * the C1 controls, and the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069), which make a line display in another order than it reads.
 */
typedef enum nb_text_class_e {
    /** Identifiers, codes, NHS numbers, URIs, keys: also no invisible character (U+061C,
     *  U+200B-U+200F, U+2060-U+2064, U+FEFF) and no line or paragraph separator (U+2028,
     *  U+2029): two ids that look the same must be the same. */
    NB_TEXT_ID,
    /** One line of text for people (names, appointment types, system names, roles): also no
     *  line or paragraph separator. The invisible marks right-to-left and joining scripts use
     *  (U+200B-U+200F, U+061C, U+2060-U+2064, U+FEFF) are allowed. */
    NB_TEXT_NAME,
    /** Free text (rule text, actions, acknowledgement outcomes): as NB_TEXT_NAME, and lines:
     *  TAB, LF, CR, U+2028 and U+2029 are allowed. */
    NB_TEXT_FREE
} nb_text_class_t;

/** Why nb_text_check() refused a text. */
typedef enum nb_text_fault_e {
    NB_TEXT_OK = 0,
    NB_TEXT_NOT_UTF8,  /**< not valid UTF-8 */
    NB_TEXT_CONTROL,   /**< a control character (C0, DEL, C1), or a line break in one line */
    NB_TEXT_BIDI,      /**< a bidirectional embedding, override or isolate */
    NB_TEXT_INVISIBLE, /**< an invisible character in an identifier */
} nb_text_fault_t;

/**
 * @brief Checks @p len bytes of text (NUL bytes count as control characters) against what its
 *        field may hold.
 * @returns NB_TEXT_OK, or the first fault found.
 */
nb_text_fault_t nb_text_check(const char *s, size_t len, nb_text_class_t cls);

/** @brief The fault as the end of a sentence naming a field: "is not valid UTF-8". Static. */
const char *nb_text_fault_str(nb_text_fault_t fault);

/** Room nb_text_escape() needs for a text of @p n bytes, with the terminating NUL. */
#define NB_TEXT_ESCAPED_MAX(n) (4 * (n) + 1)

/**
 * @brief Makes a text safe to print for people: what could move the cursor, clear the screen,
 *        forge a line or reorder what follows is shown as a visible escape. Backslash becomes
 *        "\\"; TAB, LF and CR "\t", "\n", "\r"; other C0 controls, DEL and bytes that are not
 *        UTF-8 "\xNN"; C1 controls, bidirectional controls and marks (U+061C, U+200E, U+200F,
 *        U+202A-U+202E, U+2066-U+2069), U+2028, U+2029, and the invisible U+200B, U+2060 and
 *        U+FEFF "\uNNNN". Everything else, other scripts included, is copied as it is.
 * @param dst receives the escaped text, cut at a character boundary when @p cap is too small
 *            (NB_TEXT_ESCAPED_MAX(strlen(src)) is always enough); always terminated (cap > 0).
 * @returns dst.
 */
char *nb_text_escape(char *dst, size_t cap, const char *src);

/** @brief Days since epoch of a calendar date (proleptic Gregorian). */
int32_t nb_days_from_civil(int y, unsigned m, unsigned d);

/** @brief Calendar date of a day number. */
void nb_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d);

/** @brief Formats a day number as YYYY-MM-DD into buf (at least 11 bytes). */
void nb_format_date(int32_t days, char *buf, size_t size);

/** @brief Formats ms since epoch as an ISO 8601 UTC timestamp (at least 25 bytes). */
void nb_format_time(int64_t ms, char *buf, size_t size);

/** @brief Parses YYYY-MM-DD. @returns true on success. */
bool nb_parse_date(const char *s, int32_t *days);

/** @brief Parses YYYY-MM-DDTHH:MM[:SS[.mmm]]Z (or a bare date, as midnight). */
bool nb_parse_time(const char *s, int64_t *ms);

/** @brief Whole months between a date of birth and a day (negative before birth). */
int32_t nb_age_months(int32_t date_of_birth, int32_t on_day);

/** @brief Floor division of ms since epoch to a day number. */
int32_t nb_day_of(int64_t ms);

#endif /* NOTBROUGHT_EVENT_H */
