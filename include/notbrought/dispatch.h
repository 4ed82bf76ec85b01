/*
 * notbrought - dispatch: what `notbrought dispatch` sends, decided without I/O (docs/inbox.md
 * §4). Which recipients of a notification are reached outside the inbox (routes
 * `webhook:NAME`, `email:NAME`), the webhook's JSON body and its signature, the email's text,
 * what an answer means (delivered, retry, refused), when to try again, and which offsets may
 * be committed. Pure: no clock (times are passed in), no log, no socket. The deliver module
 * does the I/O (libcurl) and the Kafka side.
 *
 * Nothing built here carries a child's details: no NHS number, name, date of birth or
 * evidence. A delivery says that something needs a person (reference, kind, tier, rule,
 * respond-by, link); the person reads the child's details in the inbox, signed in.
 */
#ifndef NOTBROUGHT_DISPATCH_H
#define NOTBROUGHT_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/event.h"
#include "notbrought/notify.h"
#include "notbrought/util.h"

/* ---- which recipients, which kinds --------------------------------------------------------- */

typedef enum nb_dispatch_channel_e {
    NB_DISPATCH_WEBHOOK = 0, /**< route "webhook:NAME" */
    NB_DISPATCH_EMAIL = 1,   /**< route "email:NAME" */
} nb_dispatch_channel_t;

/** @brief "webhook" or "email" (the metrics' route label). */
const char *nb_dispatch_channel_name(nb_dispatch_channel_t ch);

#define NB_DISPATCH_NAME_MAX 64

/** One endpoint a notification goes to. */
typedef struct nb_dispatch_target_s {
    nb_dispatch_channel_t channel;
    char endpoint[NB_DISPATCH_NAME_MAX + 1]; /**< the route's NAME */
} nb_dispatch_target_t;

/**
 * @brief Reads a route: "webhook:NAME" or "email:NAME" (NAME: 1-64 of letters, digits, '_',
 *        '-', '.'). @returns false for any other route (a queue, a malformed NAME).
 */
bool nb_dispatch_route_parse(const char *route, nb_dispatch_target_t *out);

/** @brief Whether a notification of @p kind is delivered: new, escalated, reminder and
 *         withdrawn (so the person knows it is off their list); a digest when @p digests. */
bool nb_dispatch_kind_delivered(nb_notification_kind_t kind, bool digests);

/**
 * @brief The endpoints of a notification: one per distinct route among its recipients that
 *        nb_dispatch_route_parse() reads (two roles routed to one endpoint get one delivery),
 *        in the recipients' order. None when its kind is not delivered.
 * @returns how many were written to @p out (at most @p max).
 */
size_t nb_dispatch_targets(const nb_notification_t *n, bool digests, nb_dispatch_target_t *out,
                           size_t max);

/* ---- what is sent --------------------------------------------------------------------------- */

/**
 * @brief The webhook's JSON body (UTF-8, one line): type, notification_id, reference, kind,
 *        tier, rule {id, title}, respond_by (UTC, ISO 8601; null when not set),
 *        respond_by_local (text in @p zone), escalation_level, supersedes (or null),
 *        created_at, link (@p inbox_url + "/n/" + notification id). Nothing else: never the
 *        NHS number, names, dates of birth, evidence or context.
 * @returns a malloc'ed NUL-terminated string (length in @p len), or NULL on no memory.
 */
char *nb_dispatch_webhook_body(const nb_notification_t *n, const char *inbox_url,
                               nb_notify_zone_t zone, size_t *len);

/** @brief The link of a notification: @p inbox_url (a trailing '/' dropped) + "/n/" + id. */
void nb_dispatch_link(const char *inbox_url, const char *notification_id, char *buf, size_t size);

/**
 * @brief The email (RFC 5322, CRLF line ends, plain text, UTF-8): Date (@p now_ms), From,
 *        To, a Subject of ASCII words only (tier, kind, reference), a Message-ID made from
 *        the notification id (a repeat is recognisably the same message) and a body with the
 *        reference, what kind, the tier, the rule's title, respond by (local time) and the
 *        link. The same no-personal-data rule as the webhook.
 * @returns NB_ERR_OK, NB_ERR_INVALID_ARG (an address with CR, LF, '<' or '>'),
 *          NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_dispatch_email(const nb_notification_t *n, const char *inbox_url,
                                        nb_notify_zone_t zone, const char *from,
                                        const char *const *to, size_t n_to, int64_t now_ms,
                                        nb_buf_t *out);

/* ---- the signature ------------------------------------------------------------------------- */

/** "t=<unix seconds>,v1=<64 hex>" and its NUL. */
#define NB_DISPATCH_SIG_MAX 96

/**
 * @brief X-Notbrought-Signature: "t=<unix>,v1=<hex>", v1 being HMAC-SHA256 with @p secret
 *        over "<unix>.<body>" (the decimal timestamp, a dot, the body's bytes).
 */
void nb_dispatch_sign(const void *secret, size_t secret_len, int64_t unix_s, const void *body,
                      size_t len, char out[NB_DISPATCH_SIG_MAX]);

/**
 * @brief What a receiver does (docs/inbox.md §4): reads t and every v1 of @p header,
 *        recomputes the HMAC and compares in constant time, and refuses a timestamp more than
 *        @p tolerance_s from @p now_s (a replayed request).
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG (malformed header, no match) or NB_ERR_TIMEOUT
 *          (the timestamp is too old or in the future).
 */
NB_NODISCARD nb_err_t nb_dispatch_verify(const void *secret, size_t secret_len, const char *header,
                                         const void *body, size_t len, int64_t now_s,
                                         int64_t tolerance_s);

/* ---- answers and retries ------------------------------------------------------------------- */

typedef enum nb_dispatch_verdict_e {
    NB_DISPATCH_DELIVERED, /**< the endpoint has it */
    NB_DISPATCH_RETRY,     /**< try again later (5xx, 408, 429, no answer) */
    NB_DISPATCH_REFUSED,   /**< the endpoint will never take it (another 4xx, 5yz SMTP) */
} nb_dispatch_verdict_t;

/** @brief "delivered", "retry", "refused". */
const char *nb_dispatch_verdict_name(nb_dispatch_verdict_t v);

/** @brief An HTTP answer's meaning; @p status 0 means no answer (connection, TLS, timeout). */
nb_dispatch_verdict_t nb_dispatch_http_verdict(long status);

/** @brief An SMTP exchange's meaning: @p sent (the relay took the message), else the last
 *         reply code (5yz refused, 4yz or 0 retried). */
nb_dispatch_verdict_t nb_dispatch_smtp_verdict(bool sent, long reply);

/** Exponential backoff without jitter (one dispatcher per partition: nothing to spread). */
typedef struct nb_dispatch_backoff_s {
    int64_t base_ms;    /**< wait after the first failed attempt */
    int64_t max_ms;     /**< no wait is longer */
    int64_t give_up_ms; /**< no attempt starts later than this after the first */
} nb_dispatch_backoff_t;

/** @brief The wait after failed attempt @p attempt (1, 2, ...): base * 2^(attempt-1), at most
 *         max. */
int64_t nb_dispatch_backoff_delay(const nb_dispatch_backoff_t *b, int attempt);

/**
 * @brief When to try again after failed attempt @p attempt, the first attempt having started
 *        at @p first_ms and this one failed at @p now_ms.
 * @returns the time of the next attempt, or -1 when the next would start more than
 *          give_up_ms after the first (give up: a permanent refusal from then on).
 */
int64_t nb_dispatch_next_attempt(const nb_dispatch_backoff_t *b, int attempt, int64_t first_ms,
                                 int64_t now_ms);

/* ---- which offsets may be committed ---------------------------------------------------------- */

/*
 * The tracker holds, per partition and in the order they were read, the offsets of the
 * records in hand, each open until its deliveries are all finished. A partition's commit
 * point is the offset after the longest finished prefix: a record is never committed before
 * every record read before it on its partition is finished too, so a restart resends at
 * most what was not confirmed.
 */
typedef struct nb_dispatch_tracker_s nb_dispatch_tracker_t;

/** @returns NULL on no memory. */
nb_dispatch_tracker_t *nb_dispatch_tracker_new(void);

/** @brief Frees it. NULL is a no-op. */
void nb_dispatch_tracker_destroy(nb_dispatch_tracker_t *t);

/**
 * @brief Adds a record read at @p read_ms. Offsets of a partition must grow.
 * @returns NB_ERR_OK, NB_ERR_INVALID_ARG (an offset not above the last of its partition),
 *          NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_dispatch_tracker_add(nb_dispatch_tracker_t *t, int32_t partition,
                                              int64_t offset, int64_t read_ms);

/** @brief Marks a record finished. @returns false when it is not held. */
bool nb_dispatch_tracker_done(nb_dispatch_tracker_t *t, int32_t partition, int64_t offset);

/**
 * @brief Takes the finished prefix of @p partition off the tracker.
 * @returns the offset to commit (the last finished one + 1), or -1 when nothing new is.
 */
int64_t nb_dispatch_tracker_take(nb_dispatch_tracker_t *t, int32_t partition);

/** @brief Forgets every record of a partition (revoked: its next owner reads them again). */
void nb_dispatch_tracker_drop(nb_dispatch_tracker_t *t, int32_t partition);

/** @brief Records held and not finished. */
size_t nb_dispatch_tracker_open(const nb_dispatch_tracker_t *t);

/** @brief When the oldest record held and not finished was read, or -1 when none is. */
int64_t nb_dispatch_tracker_oldest(const nb_dispatch_tracker_t *t);

/** @brief The partitions holding records (up to @p max into @p out). @returns how many. */
size_t nb_dispatch_tracker_partitions(const nb_dispatch_tracker_t *t, int32_t *out, size_t max);

#endif /* NOTBROUGHT_DISPATCH_H */
