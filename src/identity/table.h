/*
 * notbrought - identity: a small open-addressing hash table of fixed-size slots.
 *
 * Slots are stored inline in one array (no per-entry allocation); the first key_size bytes of
 * a slot are its key and one byte at used_off says whether the slot is occupied (non-zero).
 * Linear probing, power-of-two capacity, at most 3/4 full; removal shifts the following
 * entries back (no tombstones), so lookups never degrade with churn.
 *
 * Pointers to slots are invalidated by nb__tab_reserve() (it may grow the array) and by
 * nb__tab_remove() (it may move later slots).
 */
#ifndef NB_IDENTITY_TABLE_H
#define NB_IDENTITY_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"

typedef uint64_t (*nb__tab_hash_fn)(const void *key);

typedef struct nb__tab_s {
    uint8_t *slots;
    size_t cap; /* 0 or a power of two */
    size_t count;
    size_t slot_size;
    size_t key_size;
    size_t used_off;
    nb__tab_hash_fn hash;
} nb__tab_t;

/** @brief An empty table; allocates nothing until the first reserve. */
void nb__tab_init(nb__tab_t *t, size_t slot_size, size_t key_size, size_t used_off,
                  nb__tab_hash_fn hash);

/** @brief Frees the slot array. The table may be used again after nb__tab_init(). */
void nb__tab_free(nb__tab_t *t);

/**
 * @brief Makes sure @p n more entries fit without exceeding the load limit.
 * @returns NB_ERR_OK, NB_ERR_NOMEM (the table is unchanged) or NB_ERR_LIMIT.
 */
NB_NODISCARD nb_err_t nb__tab_reserve(nb__tab_t *t, size_t n);

/** @brief The slot holding @p key, or NULL. */
void *nb__tab_find(const nb__tab_t *t, const void *key);

/**
 * @brief The slot for @p key: the existing one, or a new zeroed slot with the key copied in
 *        and the used byte set to 1 (*created is then true).
 * @remark Room must have been made with nb__tab_reserve(); returns NULL otherwise.
 */
void *nb__tab_insert(nb__tab_t *t, const void *key, int *created);

/** @brief Removes an occupied slot (a pointer returned by find or insert). */
void nb__tab_remove(nb__tab_t *t, void *slot);

/** @brief Slot @p i (0 <= i < cap), or NULL when it is empty. For iteration. */
void *nb__tab_at(const nb__tab_t *t, size_t i);

/** @brief Bytes of heap the table holds. */
size_t nb__tab_bytes(const nb__tab_t *t);

/** @brief The splitmix64 finaliser: a good 64-bit mix for integer keys. */
uint64_t nb__mix64(uint64_t x);

#endif /* NB_IDENTITY_TABLE_H */
