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

/* 56 bytes: kept small because there is one per tracked child. */
struct nb_ledger_s {
    nb_ledger_dict_t *dict;
    nb_ledger_appt_t *appts;
    nb_ledger_fact_t *facts;
    nb_ledger_raised_t *raised;
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
nb_err_t nb__ledger_reserve(void **arr, uint16_t *cap, uint16_t n, size_t elem, size_t max);

/** @brief The appointment key hash: agency name + "/" + appointment id. */
uint64_t nb__ledger_appt_key(nb_agency_t agency, const char *appointment_id);

#endif
