/*
 * notbrought - ledger internals, shared by ledger.c and serial.c.
 */
#ifndef NB_LEDGER_INTERNAL_H
#define NB_LEDGER_INTERNAL_H

#include <glib.h>

#include "notbrought/ledger.h"

typedef struct nb__dict_entry_s {
    char *str;
    uint64_t hash;
    uint8_t len; /* strlen(str): strings hold at most 255 bytes */
} nb__dict_entry_t;

struct nb_ledger_dict_s {
    nb__dict_entry_t *entries; /* by index; indices are stable */
    GHashTable *index;         /* entry string -> index + 1 (keys are the entries' strings) */
    size_t n, cap;
    size_t bytes; /* string bytes */
};

/* 64 bytes: kept small because there is one per tracked child. */
struct nb_ledger_s {
    nb_ledger_dict_t *dict;
    nb_ledger_appt_t *appts;
    nb_ledger_fact_t *facts;
    nb_ledger_raised_t *raised;
    uint8_t *src; /* source appointment ids (srcid.c), NULL until one is kept */
    int32_t dob, edd;
    uint16_t n_appts, cap_appts;
    uint16_t n_facts, cap_facts;
    uint16_t n_raised, cap_raised;
    uint8_t last_limit; /* the limit behind the last NB_ERR_LIMIT (nb__limit_t), for messages */
};

/* The ledger's limits, all fixed in the code (nb_ledger_limit_str()). */
typedef enum nb__limit_e {
    NB__LIMIT_NONE = 0,
    NB__LIMIT_APPTS,
    NB__LIMIT_FACTS,
    NB__LIMIT_RAISED,
    NB__LIMIT_DICT,
} nb__limit_t;

/** @brief Makes room for one more element (small growth steps). */
NB_NODISCARD nb_err_t nb__ledger_reserve(void **arr, uint16_t *cap, uint16_t n, size_t elem,
                                         size_t max);

/** @brief The appointment key hash: agency name + "/" + appointment id. */
uint64_t nb__ledger_appt_key(nb_agency_t agency, const char *appointment_id);

/* ---- source appointment ids (srcid.c) -------------------------------------------------------
 * The side store of the source systems' own appointment ids, off the 32-byte appointment
 * entries and read only when evidence is rendered. One block per ledger:
 *   u32 used (bytes, header included), u32 cap, then entries sorted by appt_hash:
 *   u64 appt_hash, u8 len, bytes[len]   (host byte order in memory; little-endian on the wire)
 * Kept only for appointments a rule can cite: every status but attended (the common case,
 * never evidence of a missed contact) and entered in error (a tombstone). */

#define NB__SRCID_HDR 8

/** @brief Whether an appointment with this status keeps its source id. */
bool nb__srcid_wanted(unsigned status);

/** @brief Sets (or replaces) the id of an appointment. @returns NB_ERR_OK or NB_ERR_NOMEM
 *  (nothing changed). */
NB_NODISCARD nb_err_t nb__srcid_set(nb_ledger_t *led, uint64_t appt_hash, const char *id,
                                    size_t len);

/** @brief Forgets the id of an appointment (no-op when none is kept). */
void nb__srcid_remove(nb_ledger_t *led, uint64_t appt_hash);

/** @brief Drops the ids of appointments the ledger no longer holds or no longer wants. */
void nb__srcid_tidy(nb_ledger_t *led);

/** @brief Takes the ids of @p src that @p dst's appointments want. @returns NB_ERR_NOMEM or OK. */
NB_NODISCARD nb_err_t nb__srcid_merge(nb_ledger_t *dst, const nb_ledger_t *src);

/** @brief Number of ids kept, and the bytes of their entries (what the changelog carries). */
size_t nb__srcid_count(const nb_ledger_t *led);
size_t nb__srcid_entry_bytes(const nb_ledger_t *led);

/** @brief Writes the entries (sorted by hash) at @p w, little-endian. @returns the end. */
uint8_t *nb__srcid_write(const nb_ledger_t *led, uint8_t *w);

/** @brief Makes room for entries of @p entry_bytes in all and empties the store (decoding). */
NB_NODISCARD nb_err_t nb__srcid_reserve(nb_ledger_t *led, size_t entry_bytes);

/** @brief Appends an entry after nb__srcid_reserve(): hashes must come in increasing order. */
void nb__srcid_append(nb_ledger_t *led, uint64_t appt_hash, const char *id, size_t len);

/** @brief Bytes allocated for ids. */
size_t nb__srcid_memory(const nb_ledger_t *led);

/** @brief Empties the store (keeps its block for reuse); frees it with @p release. */
void nb__srcid_clear(nb_ledger_t *led, bool release);

#endif
