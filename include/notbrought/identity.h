/*
 * notbrought - identity: the consistent child identifier.
 *
 * Resolves every event to one pseudonymous child key, and keeps the crosswalk that makes that
 * possible:
 *
 *  - NHS numbers are normalised and validated (10 digits, Modulus 11); an invalid number is an
 *    error, never a join. The 999 test range can be refused (conf.allow_test_nhs_numbers).
 *  - Keys are HMAC-SHA256 (Nettle) of the identifier under a deployment secret, in lowercase
 *    hex (NB_KEY_MAX characters). The NHS number itself is never a key.
 *  - identity.links statements are applied in order: `link` joins a local identifier to a
 *    child; `unlink` withdraws it; `supersedes` replaces an NHS number by a new one (the old
 *    number and everything linked to it resolve to the new one); `unborn_to_child` joins a
 *    pregnancy (pregnant person's identifier + expected delivery date) to the baby.
 *  - A statement that contradicts the crosswalk (a local identifier already linked to another
 *    child, a number already superseded by another, a pregnancy already linked to another
 *    child, a supersession cycle) is refused with a conflict record for a human. Nothing is
 *    silently re-pointed.
 *  - When a statement shows that two keys are one child, the result carries a merge
 *    (from-key -> into-key) so the caller combines the histories and re-evaluates policy.
 *  - Events that cannot be resolved yet are parked (bounded) and released, in arrival order,
 *    by the link that resolves them; expired ones are handed back for dead-lettering.
 *  - Optionally, an event without an NHS number whose date of birth + family name + postcode
 *    match exactly one known child yields a suggested link for a human to confirm. It never
 *    joins by itself.
 *  - Every resolution says how it was made; nb_identity_explain() renders that without
 *    personal data.
 *
 * Pure: no I/O, no clock (now_ms is passed in), no logging. Errors carry a message in errstr
 * that never contains an NHS number, name, date of birth, postcode or identifier value.
 *
 * Thread contract: an nb_identity_t belongs to one thread at a time (it holds a reusable MAC
 * context and learns from resolutions); share it only under an external lock. Different
 * handles are independent.
 *
 * See docs/identity.md for the rules and their safety rationale.
 */
#ifndef NOTBROUGHT_IDENTITY_H
#define NOTBROUGHT_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/util.h"

#define NB_IDENTITY_SECRET_MIN 16 /**< minimum secret length in bytes (32 recommended) */
#define NB_IDENTITY_WANT_LEN 16   /**< bytes of the opaque "what would resolve it" digest */
#define NB_IDENTITY_TOPIC_MAX 249 /**< Kafka's maximum topic name length */

typedef struct nb_identity_s nb_identity_t;

/* ---- configuration ----------------------------------------------------------------------- */

typedef struct nb_identity_conf_s {
    /** HMAC key for every pseudonymous key and digest. Copied by nb_identity_new(); at least
     *  NB_IDENTITY_SECRET_MIN bytes. All instances of a deployment must use the same secret,
     *  and changing it changes every child key (the ledger must then be rebuilt). */
    const void *secret;
    size_t secret_len;
    /** Accept NHS numbers of the 999 test range (default true; set false in production). */
    bool allow_test_nhs_numbers;
    /** Learn demographic hashes of resolved children and suggest links for events without an
     *  NHS number (default false). */
    bool suggest_demographic_links;
    /** Most demographic tuples to remember; learning stops (counted) beyond it (default 4M). */
    size_t demographics_max;
    /** Parking limits: events, bytes (payload + bookkeeping), retention (defaults 100000,
     *  64 MiB, 7 days). */
    size_t park_max_events;
    size_t park_max_bytes;
    int64_t park_retention_ms;
    /** Presize hint: local identifiers expected (default 0: grow as needed). */
    size_t expected_links;
} nb_identity_conf_t;

/** @brief Fills @p conf with the defaults above (secret NULL: the caller must set it). */
void nb_identity_conf_default(nb_identity_conf_t *conf);

/* ---- handle ------------------------------------------------------------------------------ */

/**
 * @brief A new, empty identity table.
 * @returns the handle, or NULL with the reason in errstr (secret missing or too short,
 *          limits of zero, out of memory).
 * @remark The secret is copied; conf may be freed after the call.
 */
nb_identity_t *nb_identity_new(const nb_identity_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * @brief Frees the table, every parked event and the copy of the secret (cleansed).
 *        NULL is a no-op. Results already returned stay valid (they own their memory).
 */
void nb_identity_destroy(nb_identity_t *idt);

/* ---- keys -------------------------------------------------------------------------------- */

/**
 * @brief The pseudonymous child key of an NHS number: lowercase hex HMAC-SHA256 of the
 *        normalised number under the secret.
 * @param nhs_number the number as received (spaces and dashes allowed)
 * @param key        receives NB_KEY_MAX hex characters and a NUL
 * @returns NB_ERR_OK; NB_ERR_NHS_FORMAT, NB_ERR_NHS_CHECK_DIGIT or NB_ERR_NHS_DISALLOWED
 *          (key is then "").
 * @remark The key does not follow supersessions: it is the key of this number. Use
 *         nb_identity_resolve() to find the current child.
 */
NB_NODISCARD nb_err_t nb_identity_child_key(nb_identity_t *idt, const char *nhs_number,
                                            char key[NB_KEY_MAX + 1]);

/**
 * @brief The pseudonymous key of a pregnancy: HMAC of the pregnant person's identifier and
 *        the expected delivery date, in a domain separate from child keys.
 * @returns NB_ERR_OK; NB_ERR_MISSING_IDENTIFIER (no identifier or date); an NHS error when
 *          the person's identifier is an NHS number that does not validate.
 */
NB_NODISCARD nb_err_t nb_identity_pregnancy_key(nb_identity_t *idt, const nb_identifier_t *person,
                                                int32_t expected_delivery_date,
                                                char key[NB_KEY_MAX + 1]);

/* ---- explanations, merges, conflicts ----------------------------------------------------- */

/** How a resolution was made. */
typedef enum nb_identity_method_e {
    NB_IDENTITY_METHOD_NONE = 0,       /**< not resolved: see park_reason */
    NB_IDENTITY_METHOD_NHS_NUMBER,     /**< the event's own NHS number */
    NB_IDENTITY_METHOD_LINK,           /**< the event's local identifier, through a link */
    NB_IDENTITY_METHOD_PREGNANCY,      /**< unborn, no child linked yet: the pregnancy key */
    NB_IDENTITY_METHOD_PREGNANCY_LINK, /**< unborn, joined to the child by unborn_to_child */
} nb_identity_method_t;

/** Why an event was not resolved. */
typedef enum nb_identity_park_reason_e {
    NB_IDENTITY_PARK_NONE = 0,
    NB_IDENTITY_PARK_UNKNOWN_LOCAL_ID,  /**< no link has ever named this local identifier */
    NB_IDENTITY_PARK_UNLINKED_LOCAL_ID, /**< its link was withdrawn by an unlink */
} nb_identity_park_reason_t;

/** A statement of identity.links as the crosswalk remembers it (no identifier values). */
typedef struct nb_identity_link_ref_s {
    char event_id[NB_ID_MAX + 1];
    nb_source_t source;
    nb_verification_t verification;
} nb_identity_link_ref_t;

/** A link proposed from demographics. Carries an NHS number: for a protected review queue,
 *  never for logs. */
typedef struct nb_identity_suggestion_s {
    char child_key[NB_KEY_MAX + 1]; /**< the candidate child's current key */
    /** Ready to publish once a human confirms it: kind link, from = the event's local id,
     *  to = the candidate's current NHS number, verification unverified, source system
     *  "notbrought", event_id "suggest-" + 24 hex (deterministic), recorded_at NB_TIME_NONE
     *  (the caller sets it). */
    nb_identity_link_t link;
    /** The evidence, as field names: bit (1u << nb_demo_field_t) per demographic field of the
     *  event that equals the candidate's (today always date of birth, family name and
     *  postcode: the tuple is compared whole). */
    uint32_t matched;
    /** Known children with this tuple: 1 (a tuple seen with two children never suggests). */
    int32_t candidates;
} nb_identity_suggestion_t;

typedef enum nb_identity_conflict_kind_e {
    NB_IDENTITY_CONFLICT_NONE = 0,
    NB_IDENTITY_CONFLICT_LOCAL_ID,   /**< the local identifier is linked to another child */
    NB_IDENTITY_CONFLICT_SUPERSEDED, /**< the old number is already superseded by another */
    NB_IDENTITY_CONFLICT_PREGNANCY,  /**< the pregnancy is linked to another child (twins?) */
    NB_IDENTITY_CONFLICT_SUBJECT,    /**< an event's NHS number and local id name two children */
} nb_identity_conflict_kind_t;

/** For a human to decide; pseudonymous (keys and event ids only). */
typedef struct nb_identity_conflict_s {
    nb_identity_conflict_kind_t kind;
    char existing_key[NB_KEY_MAX + 1]; /**< the child the crosswalk says now (current key) */
    char proposed_key[NB_KEY_MAX + 1]; /**< the child the refused statement/event names */
    nb_identity_link_ref_t existing;   /**< the statement in force */
    nb_identity_link_ref_t proposed;   /**< the refused statement (or the event: id + source) */
} nb_identity_conflict_t;

/** What identifies a pregnancy keyed by a local (maternity) identifier: the identifier's
 *  keyed digest (no value) and the expected delivery date. Opaque; 20 bytes when stored. */
typedef struct nb_identity_preg_ref_s {
    uint8_t person[NB_IDENTITY_WANT_LEN];
    int32_t expected_delivery_date;
} nb_identity_preg_ref_t;

/** The outcome of resolving one event. A plain value: owns no memory. */
typedef struct nb_identity_resolution_s {
    nb_identity_method_t method;
    /** The child key (or the pregnancy key for METHOD_PREGNANCY); "" when unresolved. Use it
     *  as the Kafka key, state key and log id. */
    char key[NB_KEY_MAX + 1];
    /** The child's current NHS number (after supersessions), for the notification body
     *  only; "" for pregnancies and unresolved events. Never log it. */
    char nhs_number[NB_NHS_LEN + 1];
    nb_identity_link_ref_t via;        /**< METHOD_LINK / PREGNANCY_LINK: the link used */
    uint32_t supersession_hops;        /**< supersedes statements followed (0: none) */
    nb_identity_link_ref_t supersession; /**< the last of them, when hops > 0 */
    nb_identity_park_reason_t park_reason; /**< METHOD_NONE: why */
    uint8_t want[NB_IDENTITY_WANT_LEN];    /**< METHOD_NONE: opaque; what would resolve it */
    bool has_suggestion;
    nb_identity_suggestion_t suggestion; /**< METHOD_NONE with suggestions enabled */
    nb_identity_conflict_t conflict;     /**< when resolve returned NB_ERR_IDENTITY_CONFLICT */
    /** Unborn subjects: the pregnant person's NHS number, given or found through a link
     *  from her local (maternity) identifier; "" when not known. Never log it. */
    char pregnant_nhs[NB_NHS_LEN + 1];
    /** Unborn subjects named by a local identifier whose link is known: the pregnancy's
     *  literal key (the key it had while no link was known, and under older versions), whose
     *  history belongs to key. Merge it into key (nothing to do when no state is there). */
    bool has_merge_from;
    char merge_from[NB_KEY_MAX + 1];
    /** METHOD_PREGNANCY keyed by a local identifier that no link names yet: what the state
     *  under key must remember so that nb_identity_pregnancy_locate() can move it once a link
     *  arrives (the identifier's keyed digest and the expected delivery date). */
    bool preg_provisional;
    nb_identity_preg_ref_t preg_ref;
} nb_identity_resolution_t;

/**
 * @brief Renders how a resolution was made, e.g.
 *        "child=<key> by=link link=<event_id> source=gp/EMIS Web/W91001 verification=pds_verified"
 *        (format in docs/identity.md). Contains keys, event ids, system names and
 *        organisation codes only; runs of 10 or more digits are replaced by "<redacted>" and
 *        control characters by '?', in case a source put personal data in an id.
 * @returns the length the full text needs (as snprintf); the text is truncated to size - 1.
 */
size_t nb_identity_explain(const nb_identity_resolution_t *res, char *buf, size_t size);

/** @brief Stable lower-case names of the enums above, e.g. "link", "unknown_local_id". */
const char *nb_identity_method_name(nb_identity_method_t m);
const char *nb_identity_park_reason_name(nb_identity_park_reason_t r);
const char *nb_identity_conflict_kind_name(nb_identity_conflict_kind_t k);

/* ---- resolving events -------------------------------------------------------------------- */

/** The identifying fields of an event. Pointers are borrowed for the duration of the call. */
typedef struct nb_identity_subject_s {
    nb_subject_kind_t kind;
    const char *event_id;                      /**< for conflict records and suggestions */
    const nb_source_t *source;                 /**< may be NULL */
    const char *nhs_number;                    /**< NULL or "" when absent */
    const nb_identifier_t *local_id;           /**< NULL or absent */
    const nb_identifier_t *pregnant_person_id; /**< unborn subjects */
    int32_t expected_delivery_date;            /**< unborn subjects */
    int32_t date_of_birth;                     /**< NB_DATE_NONE when unknown */
    const char *family_name;                   /**< NULL or "" when unknown */
    const char *postcode;                      /**< NULL or "" when unknown */
} nb_identity_subject_t;

/** @brief The subject of an appointment event. @remark Points into @p ev. */
void nb_identity_subject_of_appointment(nb_identity_subject_t *subj,
                                        const nb_appointment_event_t *ev);

/** @brief The subject of a context fact (always a child). @remark Points into @p fact. */
void nb_identity_subject_of_fact(nb_identity_subject_t *subj, const nb_context_fact_t *fact);

/**
 * @brief Resolves an event's subject to a child (or pregnancy) key.
 *
 * Rules, in order: an unborn subject resolves through its pregnancy (to the child once an
 * unborn_to_child link names it, otherwise to the pregnancy key). A child subject with an NHS
 * number resolves by that number (following supersessions); if it also has a local id that
 * is linked to a different child, that is a conflict. A child subject with only a local id
 * resolves through its link; without one it is unresolved.
 *
 * @param res overwritten with the resolution and its explanation
 * @returns NB_ERR_OK; NB_ERR_IDENTITY_UNRESOLVED (res->park_reason and res->want say why;
 *          pass res to nb_identity_park()); NB_ERR_IDENTITY_CONFLICT (res->conflict);
 *          NB_ERR_NHS_FORMAT / NB_ERR_NHS_CHECK_DIGIT / NB_ERR_NHS_DISALLOWED;
 *          NB_ERR_MISSING_IDENTIFIER. Only NB_ERR_OK joins.
 * @remark With conf.suggest_demographic_links, a resolved child's demographic tuple is
 *         learned (as a keyed hash) and an unresolved one may carry res->suggestion.
 */
NB_NODISCARD nb_err_t nb_identity_resolve(nb_identity_t *idt, const nb_identity_subject_t *subj,
                                          nb_identity_resolution_t *res, char *errstr,
                                          size_t errstr_size);

/** @brief nb_identity_resolve() of an appointment event's subject. */
NB_NODISCARD nb_err_t nb_identity_resolve_appointment(nb_identity_t *idt,
                                                      const nb_appointment_event_t *ev,
                                                      nb_identity_resolution_t *res, char *errstr,
                                                      size_t errstr_size);

/**
 * @brief What a state kept under the literal key of a pregnancy named by a local identifier
 *        must remember for nb_identity_pregnancy_locate(): fills @p ref and that literal key
 *        (nb_identity_pregnancy_key() of the same person and date).
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG when the person is named by NHS number (her
 *          pregnancy's key is canonical already); NB_ERR_MISSING_IDENTIFIER; NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_identity_pregnancy_ref(nb_identity_t *idt, const nb_identifier_t *person,
                                                int32_t expected_delivery_date,
                                                nb_identity_preg_ref_t *ref,
                                                char literal_key[NB_KEY_MAX + 1]);

/**
 * @brief Where a pregnancy that was keyed by a local identifier (res.preg_provisional) belongs
 *        now: its child once an unborn_to_child names it (under the local identifier or under
 *        the NHS number a link joins it to), else the pregnancy key of that NHS number, else
 *        @p literal_key itself.
 * @param literal_key the key the pregnancy's state is stored under (res.key when it was made)
 * @param res         overwritten: method PREGNANCY or PREGNANCY_LINK and the key
 * @returns NB_ERR_OK; NB_ERR_IDENTITY_CONFLICT (the two routes name different children:
 *          leave the state where it is); NB_ERR_INVALID_ARG (a key that is not 64 hex
 *          digits); NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_identity_pregnancy_locate(nb_identity_t *idt,
                                                   const nb_identity_preg_ref_t *ref,
                                                   const char *literal_key,
                                                   nb_identity_resolution_t *res);

/* ---- parking ----------------------------------------------------------------------------- */

/** What the caller needs to put a parked event back where it came from. */
typedef struct nb_identity_meta_s {
    char topic[NB_IDENTITY_TOPIC_MAX + 1];
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
} nb_identity_meta_t;

/** A parked event, as handed back (released or expired) or enumerated. */
typedef struct nb_identity_parked_s {
    uint64_t seq;          /**< arrival order: increasing, unique within a table */
    int64_t parked_at_ms;  /**< now_ms when parked */
    nb_identity_park_reason_t reason;
    uint8_t want[NB_IDENTITY_WANT_LEN];
    nb_identity_meta_t meta;
    void *data; /**< the caller's bytes; see the owner of the enclosing struct */
    size_t len;
    /** Released entries: how the event now resolves (method link). Otherwise zeroed. */
    nb_identity_resolution_t resolution;
} nb_identity_parked_t;

/** What a change to the table did. */
typedef enum nb_identity_change_e {
    NB_IDENTITY_CHANGE_NONE = 0,           /**< the same statement again: nothing changed */
    NB_IDENTITY_CHANGE_LINKED,             /**< a local identifier now resolves to a child */
    NB_IDENTITY_CHANGE_RESTATED,           /**< same child, newer statement kept as evidence */
    NB_IDENTITY_CHANGE_UNLINKED,           /**< a local identifier no longer resolves */
    NB_IDENTITY_CHANGE_SUPERSEDED,         /**< an NHS number now resolves to a new one */
    NB_IDENTITY_CHANGE_PREGNANCY_LINKED,   /**< a pregnancy now resolves to a child */
    NB_IDENTITY_CHANGE_PREGNANCY_UNLINKED, /**< a pregnancy resolves to its own key again */
} nb_identity_change_t;

const char *nb_identity_change_name(nb_identity_change_t c);

typedef struct nb_identity_merge_s {
    char from_key[NB_KEY_MAX + 1]; /**< the key whose history moves (old number/pregnancy) */
    char into_key[NB_KEY_MAX + 1]; /**< the child's current key */
} nb_identity_merge_t;

/**
 * The outcome of nb_identity_apply() and nb_identity_expire(). Those functions overwrite it
 * entirely: call nb_identity_result_clear() before reusing it, or the entries it holds leak.
 */
typedef struct nb_identity_result_s {
    nb_identity_change_t change;
    char child_key[NB_KEY_MAX + 1]; /**< the (current) child the statement is about, or "" */
    bool has_merge;
    nb_identity_merge_t merge;      /**< combine the histories, then re-evaluate policy */
    /** More merges of the same statement, after merge (e.g. a link from a maternity number
     *  that joins pregnancies to a child, one per pregnancy). Owned by the result. */
    nb_identity_merge_t *more_merges;
    size_t n_more_merges;
    nb_identity_conflict_t conflict; /**< valid when the call returned NB_ERR_IDENTITY_CONFLICT */
    /** Parked events this call released, in arrival order. Each data is owned by the result. */
    nb_identity_parked_t *released;
    size_t n_released;
    /** Parked events that expired, in arrival order, to dead-letter with
     *  NB_ERR_IDENTITY_EXPIRED. Each data is owned by the result. */
    nb_identity_parked_t *expired;
    size_t n_expired;
} nb_identity_result_t;

/** @brief Frees what a result owns (released and expired entries) and zeroes it. NULL-safe. */
void nb_identity_result_clear(nb_identity_result_t *res);

/**
 * @brief Parks an event that nb_identity_resolve() could not resolve.
 * @param res   the resolution that returned NB_ERR_IDENTITY_UNRESOLVED, unchanged
 * @param data  the event's bytes (copied); may be NULL when len is 0
 * @param meta  copied; may be NULL
 * @param seq   receives the entry's arrival number (may be NULL)
 * @returns NB_ERR_OK; NB_ERR_IDENTITY_PARK_FULL (count or byte limit; nothing is kept, the
 *          caller dead-letters the event); NB_ERR_INVALID_ARG when res is not an unresolved
 *          resolution or when it resolves by now (resolve it again); NB_ERR_NOMEM.
 * @remark Call nb_identity_resolve() and nb_identity_park() for the same event with no
 *         nb_identity_apply() between them. now_ms must not decrease from call to call.
 */
NB_NODISCARD nb_err_t nb_identity_park(nb_identity_t *idt, const nb_identity_resolution_t *res,
                                       const void *data, size_t len, const nb_identity_meta_t *meta,
                                       int64_t now_ms, uint64_t *seq, char *errstr,
                                       size_t errstr_size);

/**
 * @brief Hands back, in res->expired, every parked event parked at or before
 *        now_ms - conf.park_retention_ms. Call once per loop tick.
 * @returns NB_ERR_OK or NB_ERR_NOMEM (nothing expired).
 */
NB_NODISCARD nb_err_t nb_identity_expire(nb_identity_t *idt, int64_t now_ms,
                                         nb_identity_result_t *res);

/* ---- applying identity.links ------------------------------------------------------------- */

/**
 * @brief Applies one identity.links statement. Deterministic and idempotent: applying the
 *        same statement (same event_id) again changes nothing; the same sequence of
 *        statements always builds the same table (see nb_identity_state_digest()).
 *
 * - link (from = local id, to = NHS number): joins them; re-stating the same child is fine
 *   (RESTATED); a local id linked to another child is a conflict. Releases the events parked
 *   for that local id.
 * - unlink (from, to as the link; with expected_delivery_date set, the pregnancy
 *   from + date): withdraws the link.
 * - supersedes (from = old NHS number, to = new): the old number and all linked to it now
 *   resolve to the new one; result->merge moves the old key's history.
 * - unborn_to_child (from = pregnant person, expected_delivery_date, to = the baby's NHS
 *   number): result->merge moves the pregnancy key's history into the child's.
 *
 * @param res overwritten (call nb_identity_result_clear() on it afterwards)
 * @returns NB_ERR_OK; NB_ERR_IDENTITY_CONFLICT (res->conflict); NB_ERR_IDENTITY_CYCLE;
 *          NB_ERR_IDENTITY_UNKNOWN_LINK; NHS number errors; NB_ERR_INCONSISTENT (e.g. a link
 *          whose target is not an NHS number); NB_ERR_FIELD_EMPTY / NB_ERR_MISSING_IDENTIFIER;
 *          NB_ERR_NOMEM / NB_ERR_LIMIT. On any error the table is unchanged.
 * @remark While rebuilding from the compacted topic, NB_ERR_IDENTITY_UNKNOWN_LINK for an
 *         unlink is expected (compaction removed the link it withdrew) and harmless.
 */
NB_NODISCARD nb_err_t nb_identity_apply(nb_identity_t *idt, const nb_identity_link_t *link,
                                        nb_identity_result_t *res, char *errstr,
                                        size_t errstr_size);

/* ---- observation ------------------------------------------------------------------------- */

typedef struct nb_identity_stats_s {
    size_t links;         /**< local identifiers linked to a child */
    size_t unlinked;      /**< local identifiers whose link was withdrawn */
    size_t supersessions; /**< NHS numbers superseded */
    size_t pregnancies;   /**< pregnancies linked to a child */
    size_t demographics;  /**< demographic tuples learned */
    uint64_t demographics_dropped; /**< tuples not learned (limit or memory) */
    size_t parked;
    size_t parked_bytes;
    int64_t oldest_parked_age_ms; /**< 0 when nothing is parked */
    uint64_t parked_total, released_total, expired_total, park_rejected_total;
    size_t memory_bytes; /**< heap held by tables, strings and parked events */
} nb_identity_stats_t;

/** @brief Counters and sizes at now_ms. */
void nb_identity_stats(const nb_identity_t *idt, int64_t now_ms, nb_identity_stats_t *st);

/**
 * @brief An order-independent SHA-256 digest of the crosswalk built from identity.links
 *        (links, tombstones, supersessions, pregnancies with their evidence). Two tables
 *        built from the same statements have the same digest, whatever their layout; parked
 *        events and learned demographics are not included.
 * @returns NB_ERR_OK or NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_identity_state_digest(const nb_identity_t *idt, uint8_t out[32]);

#endif /* NOTBROUGHT_IDENTITY_H */
