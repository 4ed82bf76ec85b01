/*
 * notbrought - report internals: the tables the aggregation keeps while records are added.
 */
#ifndef NB_REPORT_INTERNAL_H
#define NB_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "notbrought/report.h"

/** @brief FNV-1a 64 of @p len bytes, continuing from @p h (start with NB__FNV_SEED); never 0. */
#define NB__FNV_SEED 0xcbf29ce484222325ULL
uint64_t nb__report_hash(uint64_t h, const void *p, size_t len);

/* Names seen (rules, organisations, reasons, ...), each with NB__NAME_COUNTERS counters. */
#define NB__NAME_COUNTERS 4
typedef struct nb__names_s {
    char **names;
    uint64_t (*counts)[NB__NAME_COUNTERS];
    size_t n, cap;
    uint32_t *slots; /* index + 1, 0 empty */
    uint64_t *slot_hash;
    size_t n_slots;
} nb__names_t;

/** @returns the name's index (added when new, with zero counters), or -1 out of memory. */
int32_t nb__names_get(nb__names_t *t, const char *p, size_t len);
void nb__names_free(nb__names_t *t);
/** @brief The indexes sorted by name (numbers by value when every name is one); malloc'ed. */
size_t *nb__names_sorted(const nb__names_t *t);

/* A map of 64-bit hashes (never 0) to indexes. */
typedef struct nb__map_s {
    uint64_t *keys;
    uint32_t *vals;
    size_t n, n_slots;
} nb__map_t;

/** @returns the index of @p key, or UINT32_MAX when absent. */
uint32_t nb__map_find(const nb__map_t *m, uint64_t key);
/** @brief Sets @p key to @p val. @returns NB_ERR_OK or NB_ERR_NOMEM. */
NB_NODISCARD nb_err_t nb__map_put(nb__map_t *m, uint64_t key, uint32_t val);
void nb__map_free(nb__map_t *m);

/** @brief The nearest-rank quantile @p q (0 < q <= 1) of @p n sorted values; NAN when n is 0. */
double nb__report_quantile(const int64_t *sorted, size_t n, double q);

#endif
