/*
 * notbrought - notify internals shared by the module's source files.
 */
#ifndef NB_NOTIFY_INTERNAL_H
#define NB_NOTIFY_INTERNAL_H

#include "notbrought/notify.h"

/* The raised record of @p id in @p led, or NULL (notify.c). */
const nb_ledger_raised_t *nb__notify_find_raised(const nb_ledger_t *led,
                                                 const uint8_t id[NB_LEDGER_ID_BYTES]);
/* Records @p id as closed (notify.c). */
void nb__notify_close(nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES]);
/* True when an early close of @p id waits (notify.c). */
bool nb__notify_pending(const nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES]);
/* The id of a notification id ("<32 hex>", "<32 hex>-e<n>", "<32 hex>-w"); false when it is
 * none (notify.c). */
bool nb__notify_parse_id(const char *notification_id, uint8_t id[NB_LEDGER_ID_BYTES]);

/* Owner entries (own.c). */
nb_notify_owner_t *nb__notify_owner_put(nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES]);
void nb__notify_withdrawn(nb_notify_state_t *s, const uint8_t id[NB_LEDGER_ID_BYTES],
                          int64_t now_ms);
void nb__notify_owners_sync(nb_notify_state_t *s, const nb_ledger_t *led, int64_t now_ms);
NB_NODISCARD nb_err_t nb__notify_owners_encode(const nb_notify_state_t *s, nb_buf_t *out);
/* Reads @p n entries from @p p (at most @p len bytes; @p used receives the bytes read).
 * @returns false when they are corrupt. */
bool nb__notify_owners_decode(nb_notify_state_t *s, size_t n, const uint8_t *p, size_t len,
                              size_t *used);

#endif
