/*
 * notbrought - deliver internals: one attempt of one delivery over libcurl (send.c), used by
 * the loop (run.c).
 */
#ifndef NB_DELIVER_INTERNAL_H
#define NB_DELIVER_INTERNAL_H

#include <curl/curl.h>
#include <stdint.h>

#include "notbrought/dispatch.h"
#include "notbrought/ops.h"

/**
 * @brief One POST of @p body to @p w, signed with @p secret at @p now_s, with
 *        Idempotency-Key: @p notification_id. No redirect is followed.
 * @param status receives the HTTP status, 0 without an answer
 * @param why receives curl's reason when there was no answer (never the URL or the body)
 */
nb_dispatch_verdict_t nb__post_webhook(CURL *h, const nb_dispatch_conf_t *dc,
                                       const nb_webhook_conf_t *w, const char *secret,
                                       size_t secret_len, const char *notification_id,
                                       const char *body, size_t len, int64_t now_s, long *status,
                                       char *why, size_t why_size);

/**
 * @brief One SMTP send of @p msg (a whole RFC 5322 message) to @p m's addresses through the
 *        relay of @p dc (STARTTLS required when dc->smtp_starttls on smtp://).
 * @param reply receives the relay's last reply code (0 without one)
 */
nb_dispatch_verdict_t nb__send_email(CURL *h, const nb_dispatch_conf_t *dc, const char *password,
                                     const nb_email_conf_t *m, const void *msg, size_t len,
                                     long *reply, char *why, size_t why_size);

#endif /* NB_DELIVER_INTERNAL_H */
