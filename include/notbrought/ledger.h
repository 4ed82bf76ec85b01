/*
 * notbrought - ledger: one child's history, kept in event time.
 *
 * A ledger holds what the policy needs to know about one child (or one unborn child):
 *   - appointments: the latest version of each appointment (highest version wins, then the
 *     later recorded_at); entered_in_error leaves a tombstone so that an older version that
 *     arrives late cannot bring the appointment back;
 *   - context facts (child protection plan, looked after, ...) with their dates;
 *   - the notifications already raised for the child (id, rule, evidence fingerprint, time),
 *     which is what suppression, cool-down and withdrawal need.
 *
 * Compact by design (goal: under 256 bytes per tracked child on average). An appointment is
 * 32 bytes: the appointment id and event id are kept only as 64-bit hashes (the first eight
 * bytes of SHA-256, see nb_ledger_id_hash()), times are kept to the minute, and the strings
 * that repeat across children (appointment types, organisation codes, fact source systems)
 * are interned in a dictionary shared by all ledgers of one partition. The source system's
 * own appointment id, which a nurse quotes to the service that holds it, is kept off the
 * entries in a side store read only when evidence is rendered (nb_ledger_source_id()), and
 * only for appointments a rule can cite (every status but attended and entered in error).
 * Event ids are kept as hashes only: evidence names its event by "sha256:" + 16 hex digits of
 * the id (the source's id hashes to the same value, so an auditor can still match them), and
 * the appointment by hash too when its id is not kept. Everything else a nurse reads (agency,
 * type, time, status, organisation, recorded time) is kept exactly (times to the minute).
 *
 * The child's pseudonymous key is not stored: the caller keys its map of ledgers by it and
 * passes it to nb_policy_evaluate(); in the changelog it is the Kafka record key.
 *
 * Pure: no I/O, no clock, no logging.
 *
 * Thread contract: a dictionary and the ledgers that use it belong to one thread (one
 * partition's state). A ledger may be read from several threads while nobody modifies it.
 */
#ifndef NOTBROUGHT_LEDGER_H
#define NOTBROUGHT_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/util.h"

/** Limits. Beyond them nb_ledger_apply() returns NB_ERR_LIMIT. */
#define NB_LEDGER_MAX_APPTS 4096
#define NB_LEDGER_MAX_FACTS 64
#define NB_LEDGER_MAX_RAISED 256
#define NB_LEDGER_DICT_MAX 65535
/** Decision and notification ids: 32 lower-case hex digits (128 bits of SHA-256). */
#define NB_LEDGER_ID_BYTES 16
#define NB_LEDGER_ID_HEX (2 * NB_LEDGER_ID_BYTES)

/** Changelog format version written by nb_ledger_encode(): 2 adds the source appointment ids
 *  (version 1 is still read: its ledgers have no ids, and their evidence shows hashes). */
#define NB_LEDGER_FORMAT_VERSION 2

/* ---- dictionary of shared strings -------------------------------------------------------- */

typedef struct nb_ledger_dict_s nb_ledger_dict_t;

/** @brief An empty dictionary (index 0 is always ""). @returns NULL on allocation failure. */
nb_ledger_dict_t *nb_ledger_dict_new(void);

/** @brief Frees the dictionary. NULL is a no-op. Ledgers that use it must be gone first. */
void nb_ledger_dict_destroy(nb_ledger_dict_t *dict);

/**
 * @brief Interns a string (at most 255 bytes).
 * @returns NB_ERR_OK and its index in *idx; NB_ERR_LIMIT when the dictionary is full or the
 *          string too long; NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_ledger_dict_intern(nb_ledger_dict_t *dict, const char *s, uint16_t *idx);

/** @brief The string at an index. @returns a string valid until nb_ledger_dict_destroy(),
 *  or "" for an index that is not in use. */
const char *nb_ledger_dict_str(const nb_ledger_dict_t *dict, uint16_t idx);

/** @brief The 64-bit hash (nb_ledger_id_hash()) of the string at an index. */
uint64_t nb_ledger_dict_hash(const nb_ledger_dict_t *dict, uint16_t idx);

/** @brief Strings held. */
size_t nb_ledger_dict_size(const nb_ledger_dict_t *dict);

/** @brief Bytes the dictionary has allocated (its hash index estimated). */
size_t nb_ledger_dict_memory(const nb_ledger_dict_t *dict);

/* ---- entries ----------------------------------------------------------------------------- */

/** Bits of nb_ledger_appt_t.flags. */
#define NB_LEDGER_MANDATED 0x01 /**< a mandated contact of the Healthy Child Programme */
#define NB_LEDGER_UNBORN 0x02   /**< an antenatal appointment (subject kind unborn) */

/** One appointment: the latest version known. 32 bytes. */
typedef struct nb_ledger_appt_s {
    uint64_t appt_hash;   /**< nb_ledger_id_hash(agency name + "/" + appointment id) */
    uint64_t event_hash;  /**< nb_ledger_id_hash(event id) of the version kept */
    int32_t start_min;    /**< scheduled start, minutes since the epoch (event time) */
    int32_t recorded_min; /**< recorded_at of the version kept, minutes since the epoch */
    uint16_t type;        /**< appointment type, a dictionary index */
    uint16_t org;         /**< organisation code, a dictionary index */
    uint16_t version;     /**< version of the record kept */
    uint8_t status;       /**< nb_status_t; NB_STATUS_ENTERED_IN_ERROR marks a tombstone */
    uint8_t agency : 3;   /**< nb_agency_t */
    uint8_t mode : 3;     /**< nb_contact_mode_t */
    uint8_t flags : 2;    /**< NB_LEDGER_MANDATED | NB_LEDGER_UNBORN */
} nb_ledger_appt_t;

/** One context fact: the latest version known. */
typedef struct nb_ledger_fact_s {
    uint64_t fact_hash;   /**< nb_ledger_id_hash(fact event id) */
    int32_t start_date;   /**< days since the epoch */
    int32_t end_date;     /**< days since the epoch; NB_DATE_NONE while current */
    int32_t recorded_min; /**< recorded_at of the version kept, minutes since the epoch */
    uint16_t source;      /**< source system, a dictionary index */
    uint16_t version;
    uint8_t kind;   /**< nb_fact_kind_t */
    uint8_t status; /**< nb_fact_status_t; entered_in_error facts are kept as tombstones */
} nb_ledger_fact_t;

/** One notification already raised for the child. 48 bytes. */
typedef struct nb_ledger_raised_s {
    uint8_t id[NB_LEDGER_ID_BYTES]; /**< the decision id, as bytes (nb_ledger_id_parse()) */
    uint64_t rule_hash;             /**< nb_ledger_id_hash(rule id) */
    uint64_t fingerprint;           /**< evidence fingerprint of the decision */
    int64_t raised_at;              /**< ms since the epoch, the decision time */
    int32_t evidence_max_min;       /**< latest scheduled start among its evidence (minutes) */
    uint8_t tier;                   /**< nb_tier_t when raised */
    uint8_t level;                  /**< escalation level reached (0 = not escalated) */
    uint8_t pad[2];
} nb_ledger_raised_t;

/** What nb_ledger_apply() did. */
typedef enum nb_ledger_change_e {
    NB_LEDGER_ADDED,     /**< a new appointment / fact */
    NB_LEDGER_UPDATED,   /**< a newer version replaced the one held */
    NB_LEDGER_REMOVED,   /**< entered_in_error: it no longer counts (a tombstone remains) */
    NB_LEDGER_UNCHANGED, /**< an older or identical version: nothing changed */
} nb_ledger_change_t;

/* ---- ledger ------------------------------------------------------------------------------ */

typedef struct nb_ledger_s nb_ledger_t;

/**
 * @brief An empty ledger.
 * @remark The dictionary is borrowed and must outlive the ledger.
 * @returns NULL on allocation failure.
 */
nb_ledger_t *nb_ledger_new(nb_ledger_dict_t *dict);

/**
 * @brief Empties the ledger (as nb_ledger_new() made it) and keeps its memory for reuse.
 */
void nb_ledger_clear(nb_ledger_t *led);

/** @brief Frees the ledger. NULL is a no-op. */
void nb_ledger_destroy(nb_ledger_t *led);

/** @brief The dictionary the ledger uses. */
nb_ledger_dict_t *nb_ledger_dict(const nb_ledger_t *led);

/**
 * @brief Applies one appointment event. Out-of-order and late versions are handled: the
 *        highest version wins, then the later recorded_at; an equal or older version changes
 *        nothing. entered_in_error removes the appointment from every count. The child's date
 *        of birth and expected delivery date are taken from the event when it carries them.
 * @param change set to what happened (may be NULL).
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG for a version outside 0..65535 or an unknown enum
 *          value; NB_ERR_LIMIT when the ledger or the dictionary is full; NB_ERR_NOMEM.
 *          On error the ledger is unchanged.
 */
NB_NODISCARD nb_err_t nb_ledger_apply(nb_ledger_t *led, const nb_appointment_event_t *ev,
                                      nb_ledger_change_t *change);

/** The ids nb_ledger_apply() derives from an event (SHA-256 based, see nb_ledger_id_hash()). */
typedef struct nb_ledger_keys_s {
    uint64_t appt_hash;  /**< the appointment: agency and appointment id */
    uint64_t event_hash; /**< the event: its event id */
} nb_ledger_keys_t;

/**
 * @brief Works out the ids nb_ledger_apply() needs from @p ev. Pure and thread-safe: the
 *        stream works them out on its decoder thread, off the path that applies events.
 */
void nb_ledger_keys_of(const nb_appointment_event_t *ev, nb_ledger_keys_t *keys);

/**
 * @brief nb_ledger_apply() with the ids already worked out by nb_ledger_keys_of() for the
 *        same @p ev (they are not checked).
 * @returns as nb_ledger_apply().
 */
NB_NODISCARD nb_err_t nb_ledger_apply_keyed(nb_ledger_t *led, const nb_appointment_event_t *ev,
                                            const nb_ledger_keys_t *keys,
                                            nb_ledger_change_t *change);

/**
 * @brief Applies one context fact (same version rules as appointments; the fact's event id
 *        names the fact across versions).
 * @returns as nb_ledger_apply().
 */
NB_NODISCARD nb_err_t nb_ledger_apply_fact(nb_ledger_t *led, const nb_context_fact_t *fact,
                                           nb_ledger_change_t *change);

/**
 * @brief Merges another ledger's history into this one (an unborn child's ledger joining the
 *        born child's, or an old NHS number's history joining the new one). Entries are
 *        combined with the same version rules as nb_ledger_apply(); raised notifications are
 *        united by id; dates the destination does not know are taken from the source.
 * @remark The source is not modified; it may use another dictionary.
 * @returns NB_ERR_OK, NB_ERR_LIMIT or NB_ERR_NOMEM (the destination may then hold part of
 *          the source).
 */
NB_NODISCARD nb_err_t nb_ledger_merge(nb_ledger_t *dst, const nb_ledger_t *src);

/**
 * @brief Which limit the last NB_ERR_LIMIT of this ledger (from nb_ledger_apply(),
 *        nb_ledger_apply_fact(), nb_ledger_merge() or nb_ledger_add_raised()) was: a sentence
 *        for a dead-letter reason naming the limit and its number, all fixed in the code.
 * @returns a static string; nb_err_str(NB_ERR_LIMIT) when no limit was reached.
 */
const char *nb_ledger_limit_str(const nb_ledger_t *led);

/** @brief Sets the date of birth / expected delivery date (NB_DATE_NONE leaves one as is). */
void nb_ledger_set_dates(nb_ledger_t *led, int32_t date_of_birth, int32_t expected_delivery);

/** @brief The date of birth, or NB_DATE_NONE. */
int32_t nb_ledger_date_of_birth(const nb_ledger_t *led);

/** @brief The expected delivery date, or NB_DATE_NONE. */
int32_t nb_ledger_expected_delivery(const nb_ledger_t *led);

/**
 * @brief Records a raised notification (the notify module calls this when it publishes a
 *        decision). A record with the same id is replaced.
 * @returns NB_ERR_OK, NB_ERR_LIMIT or NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_ledger_add_raised(nb_ledger_t *led, const nb_ledger_raised_t *raised);

/** @brief Forgets a raised notification (closed or withdrawn). @returns true when found. */
bool nb_ledger_remove_raised(nb_ledger_t *led, const uint8_t id[NB_LEDGER_ID_BYTES]);

/**
 * @brief Drops what no rule can look at any more: appointments scheduled before @p horizon_ms
 *        (tombstones included), facts that ended before it, and raised notifications raised
 *        before it. Use nb_policy_horizon() for the horizon. Dates of birth are kept.
 * @returns the number of entries removed.
 */
size_t nb_ledger_prune(nb_ledger_t *led, int64_t horizon_ms);

/**
 * @brief Appointments, sorted by scheduled start (then appt_hash); tombstones included.
 * @returns a pointer valid until the ledger is next modified or destroyed; *n is the count.
 */
const nb_ledger_appt_t *nb_ledger_appts(const nb_ledger_t *led, size_t *n);

/** @brief Facts, in the order they were first seen. Lifetime as nb_ledger_appts(). */
const nb_ledger_fact_t *nb_ledger_facts(const nb_ledger_t *led, size_t *n);

/** @brief Raised notifications, oldest first. Lifetime as nb_ledger_appts(). */
const nb_ledger_raised_t *nb_ledger_raised(const nb_ledger_t *led, size_t *n);

/** @brief True when the ledger holds nothing (it can be forgotten). */
bool nb_ledger_empty(const nb_ledger_t *led);

/**
 * @brief Bytes this ledger has allocated (its struct and arrays; the shared dictionary is
 *        not included).
 */
size_t nb_ledger_memory(const nb_ledger_t *led);

/**
 * @brief The source system's own id of an appointment, when the ledger keeps it (see the top
 *        of this file).
 * @returns true and the id in @p out; false (out is "") when it is not kept.
 */
bool nb_ledger_source_id(const nb_ledger_t *led, const nb_ledger_appt_t *appt,
                         char out[NB_ID_MAX + 1]);

/**
 * @brief Renders an appointment as notification evidence. The appointment id is the source
 *        system's (nb_ledger_source_id()), or "sha256:" and the 16 hex digits of its hash when
 *        it is not kept; the event id is always "sha256:" and its hash. Times are to the
 *        minute.
 */
void nb_ledger_evidence(const nb_ledger_t *led, const nb_ledger_appt_t *appt,
                        nb_evidence_t *out);

/**
 * @brief Renders a fact as a notification context summary.
 */
void nb_ledger_context(const nb_ledger_t *led, const nb_ledger_fact_t *fact,
                       nb_context_summary_t *out);

/* ---- changelog serialisation ------------------------------------------------------------- */

/**
 * @brief Appends the ledger's changelog value to @p out: "NBL", the format version, then the
 *        strings it uses and its entries (little-endian, fixed-width fields).
 * @returns NB_ERR_OK or NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_ledger_encode(const nb_ledger_t *led, nb_buf_t *out);

/**
 * @brief Rebuilds a ledger from a changelog value. Every byte is validated: magic, version,
 *        counts within the limits, string lengths, enum values, dictionary indices, sort
 *        order, no trailing bytes.
 * @param dict the dictionary the new ledger uses (its strings are interned there).
 * @returns NB_ERR_OK and a new ledger in *out that the caller destroys; NB_ERR_LEDGER_CORRUPT
 *          with the reason in errstr for bad bytes; NB_ERR_LIMIT or NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_ledger_decode(nb_ledger_dict_t *dict, const void *buf, size_t len,
                                       nb_ledger_t **out, char *errstr, size_t errstr_size);

/**
 * @brief As nb_ledger_decode(), into an existing ledger (its dictionary, its memory): what it
 *        held is replaced. For callers that decode one state after another.
 * @returns as nb_ledger_decode(); on any error @p led is left empty.
 */
NB_NODISCARD nb_err_t nb_ledger_decode_into(nb_ledger_t *led, const void *buf, size_t len,
                                            char *errstr, size_t errstr_size);

/* ---- ids --------------------------------------------------------------------------------- */

/** @brief The first eight bytes of SHA-256 of the bytes, as a little-endian integer. */
uint64_t nb_ledger_id_hash(const void *data, size_t len);

/** @brief Formats an id as 32 lower-case hex digits (buf of NB_LEDGER_ID_HEX + 1 bytes). */
void nb_ledger_id_format(const uint8_t id[NB_LEDGER_ID_BYTES], char *buf);

/** @brief Parses 32 hex digits. @returns true on success. */
bool nb_ledger_id_parse(const char *hex, uint8_t id[NB_LEDGER_ID_BYTES]);

/** @brief Minutes since the epoch of ms since the epoch (floor). */
int32_t nb_ledger_minutes(int64_t ms);

#endif /* NOTBROUGHT_LEDGER_H */
