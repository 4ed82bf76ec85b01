/*
 * notbrought - web: the safeguarding inbox's web server (docs/inbox.md §3): signing in (a
 * local users file with Argon2id hashes, or a header from a trusted authenticating proxy),
 * sessions, CSRF tokens, sign-in rate limits, security headers, and the pages that show a
 * user the open notifications of their queues from an inbox view (notbrought/inbox.h).
 *
 * The pure parts (users file parsing, CIDR matching, token comparison, the rate limiter, the
 * session table, cookies, HTML escaping, form parsing) take bytes and now_ms and are tested on
 * their own (unit.web*). The server (nb_web_new) is the I/O edge: libmicrohttpd on one polling
 * thread of its own, which alone touches the session table and the rate limiter.
 *
 * The view is filled by the caller (the command that reads Kafka into it): the server reads
 * it only while holding the caller's lock (nb_web_view_t), so the reader changes the view
 * under the same lock.
 *
 * Nothing here logs personal data: no user id, name, password, address or notification
 * detail reaches a log line or a URL.
 */
#ifndef NOTBROUGHT_WEB_H
#define NOTBROUGHT_WEB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/inbox.h"
#include "notbrought/ops.h"
#include "notbrought/util.h"

/* ---- users ------------------------------------------------------------------------------- */

#define NB_WEB_USER_MAX 64   /**< longest user id */
#define NB_WEB_NAME_MAX 128  /**< longest display name */
#define NB_WEB_MAX_QUEUES 32 /**< most queues of one user */
#define NB_WEB_HASH_MAX 128  /**< crypto_pwhash_STRBYTES, with room */

/** One user of the users file. */
typedef struct nb_web_user_s {
    char id[NB_WEB_USER_MAX + 1];   /**< stable staff id: letters, digits, . _ - @ */
    char name[NB_WEB_NAME_MAX + 1]; /**< display name */
    size_t n_queues;
    char queues[NB_WEB_MAX_QUEUES][NB_SYSTEM_MAX + 1]; /**< routes: "queue:cav-hv-duty" */
    char hash[NB_WEB_HASH_MAX + 1]; /**< "$argon2id$..."; "" signs in only through the proxy */
} nb_web_user_t;

typedef struct nb_web_users_s nb_web_users_t;

/**
 * @brief Parses a users file: a mapping with `users:`, a list of mappings of `id` (required,
 *        unique), `name` (required), `queues` (a list of routes, each with a "kind:" prefix)
 *        and `password_hash` (an Argon2id string from crypto_pwhash_str; optional). Unknown
 *        keys, keys given twice and wrong types are errors with @p name:line:column; every
 *        error is reported, one per line, and never quotes a hash.
 * @returns NB_ERR_OK with *out set; NB_ERR_CONFIG with why in @p errstr; NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_web_users_parse(const char *text, size_t len, const char *name,
                                         nb_web_users_t **out, char *errstr, size_t errstr_size);
/** @brief nb_web_users_parse() of a file (at most 16 MiB). NB_ERR_IO when it cannot be read. */
NB_NODISCARD nb_err_t nb_web_users_load(const char *path, nb_web_users_t **out, char *errstr,
                                        size_t errstr_size);
/** @brief Frees them. NULL is a no-op. */
void nb_web_users_destroy(nb_web_users_t *u);
/** @brief How many users. */
size_t nb_web_users_count(const nb_web_users_t *u);

/** @brief The @p i th user of the file (0 to count - 1), or NULL. */
const nb_web_user_t *nb_web_users_at(const nb_web_users_t *u, size_t i);
/** @brief The user with this id, or NULL. Valid until nb_web_users_destroy(). */
const nb_web_user_t *nb_web_users_find(const nb_web_users_t *u, const char *id);

/**
 * @brief Whether @p password is the user's. A NULL user or one without a hash is checked
 *        against a fixed hash all the same, so that an unknown id takes as long as a wrong
 *        password. @locality any thread
 */
bool nb_web_password_ok(const nb_web_user_t *user, const char *password, size_t len);

/**
 * @brief An Argon2id hash of @p password (libsodium's crypto_pwhash_str, interactive limits).
 * @param out room for NB_WEB_HASH_MAX + 1 bytes.
 * @returns NB_ERR_OK; NB_ERR_INVALID_ARG for an empty password; NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_web_password_hash(const char *password, size_t len, char *out);

/* ---- addresses --------------------------------------------------------------------------- */

/** A CIDR block. IPv4 blocks also match IPv4-mapped IPv6 addresses (::ffff:a.b.c.d). */
typedef struct nb_web_cidr_s {
    int family;       /**< AF_INET or AF_INET6 */
    uint8_t addr[16]; /**< network order; the host bits are zero */
    int prefix;       /**< 0..32 or 0..128 */
} nb_web_cidr_t;

/** @brief Parses "10.0.0.0/8", "::1/128" or a bare address (one host). Host bits set below
 *         the prefix ("10.0.0.1/8") are refused as a likely mistake. @returns false when it
 *         is not one. */
bool nb_web_cidr_parse(const char *s, nb_web_cidr_t *out);
/** @brief Whether the address (AF_INET 4 bytes, AF_INET6 16 bytes) is in the block. */
bool nb_web_cidr_match(const nb_web_cidr_t *c, int family, const uint8_t *addr);
/** @brief Whether the numeric address @p addr is in any of the blocks. */
bool nb_web_cidr_match_text(const nb_web_cidr_t *c, size_t n, const char *addr);

/* ---- tokens, cookies, HTML, forms ----------------------------------------------------------- */

#define NB_WEB_TOKEN_HEX 64 /**< a 256-bit random token as lower-case hex */

/** @brief Fills @p out (NB_WEB_TOKEN_HEX + 1 bytes) with a new 256-bit random token as hex
 *         (libsodium's randombytes_buf). */
void nb_web_token_new(char *out);
/** @brief Whether two tokens are equal, in time independent of where they differ
 *         (sodium_memcmp). NULL, empty or a length other than NB_WEB_TOKEN_HEX: false. */
bool nb_web_token_equal(const char *a, const char *b);

/** The session cookie's name: the __Host- prefix makes browsers refuse it without Secure, with
 *  a Domain or with a Path other than "/". */
#define NB_WEB_COOKIE "__Host-nb_session"

/**
 * @brief The value of a Set-Cookie header for the session: "__Host-nb_session=VALUE; Path=/;
 *        Secure; HttpOnly; SameSite=Strict", with "; Max-Age=0" when @p value is NULL (the
 *        cookie is deleted). @returns false when it does not fit or the value is not a
 *        token (hex).
 */
bool nb_web_cookie_set(char *out, size_t size, const char *value);
/** @brief The session cookie's value in a Cookie header into @p out (NB_WEB_TOKEN_HEX + 1
 *         bytes). @returns false when there is none, or it is not a token. */
bool nb_web_cookie_get(const char *header, char *out);

/** @brief Appends @p s to @p b with & < > " ' escaped, control characters (but tab) and
 *         invalid UTF-8 bytes replaced by U+FFFD. Errors are kept in b->err (nb_buf_add). */
void nb_web_html(nb_buf_t *b, const char *s);

/**
 * @brief The value of field @p name in an application/x-www-form-urlencoded body, decoded
 *        ('+' and %XX), into @p out. @returns the decoded length, or -1 when the field is
 *        missing, given twice, malformed (a bad %XX or a NUL) or longer than size - 1.
 */
long nb_web_form_get(const char *body, size_t len, const char *name, char *out, size_t size);

/* ---- sign-in rate limits ------------------------------------------------------------------ */

typedef struct nb_web_limiter_s nb_web_limiter_t;

/**
 * @brief A limiter that refuses a key (a user id, an address) after @p max_failures failures
 *        within @p window_ms, until the oldest of them is window_ms old. It holds at most
 *        @p capacity keys: past it, keys whose failures are all older than the window go,
 *        then the key with the oldest latest failure. @returns NULL on no memory.
 */
nb_web_limiter_t *nb_web_limiter_new(int max_failures, int64_t window_ms, size_t capacity);
/** @brief Frees it. NULL is a no-op. */
void nb_web_limiter_destroy(nb_web_limiter_t *l);
/** @brief 0 when the key may try now; else how many ms until it may. */
int64_t nb_web_limiter_wait(const nb_web_limiter_t *l, const char *key, int64_t now_ms);
/** @brief Records a failure of the key. @returns NB_ERR_OK or NB_ERR_NOMEM. */
NB_NODISCARD nb_err_t nb_web_limiter_fail(nb_web_limiter_t *l, const char *key, int64_t now_ms);
/** @brief Forgets the key's failures (a user who signed in). */
void nb_web_limiter_clear(nb_web_limiter_t *l, const char *key);
/** @brief Keys held. */
size_t nb_web_limiter_size(const nb_web_limiter_t *l);

/* ---- sessions ---------------------------------------------------------------------------- */

/** One session as the pages use it (a copy). */
typedef struct nb_web_session_s {
    char id[NB_WEB_TOKEN_HEX + 1];   /**< the cookie's value */
    char csrf[NB_WEB_TOKEN_HEX + 1]; /**< the token every form of the session carries */
    bool signed_in;                  /**< false: on the sign-in page, nobody yet */
    bool by_proxy;                   /**< signed in by the proxy's header */
    nb_web_user_t user;              /**< signed in: who (hash always "") */
    int64_t created_ms, last_ms;
} nb_web_session_t;

typedef struct nb_web_sessions_s nb_web_sessions_t;

/** @brief A table of at most @p max sessions, each ending @p idle_ms after its last use or
 *         @p absolute_ms after it began. @returns NULL on no memory. */
nb_web_sessions_t *nb_web_sessions_new(int64_t idle_ms, int64_t absolute_ms, size_t max);
/** @brief Frees it. NULL is a no-op. */
void nb_web_sessions_destroy(nb_web_sessions_t *t);
/**
 * @brief A new session with new random id and CSRF token: for @p user (signed in), or, NULL,
 *        for the sign-in page. When the table is full, expired sessions go, then the oldest
 *        session not signed in. @returns NB_ERR_OK with a copy in @p out; NB_ERR_LIMIT when
 *        every place holds a live signed-in session; NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_web_sessions_create(nb_web_sessions_t *t, const nb_web_user_t *user,
                                             bool by_proxy, int64_t now_ms, nb_web_session_t *out);
/** @brief The live session with this id, its last use set to now, copied to @p out (may be
 *         NULL). An expired one is removed. @returns false when there is none. */
bool nb_web_sessions_get(nb_web_sessions_t *t, const char *id, int64_t now_ms,
                         nb_web_session_t *out);
/** @brief Ends a session. @returns whether there was one. */
bool nb_web_sessions_end(nb_web_sessions_t *t, const char *id);
/** @brief Sessions held (live or not yet found expired). */
size_t nb_web_sessions_count(const nb_web_sessions_t *t);

/* ---- the server -------------------------------------------------------------------------- */

/** The inbox view the pages show, and the lock its writer holds while it changes it. */
typedef struct nb_web_view_s {
    const nb_inbox_t *view;
    pthread_mutex_t *lock; /**< held around every read of view; NULL: nobody writes it */
} nb_web_view_t;

typedef struct nb_web_s nb_web_t;

/* ---- a notification's escalation ladder (the page's "what happens next") -------------------- */

#define NB_WEB_LADDER_RUNGS 8 /**< rungs of a ladder, at most (the policy's limit) */

/** One rung of the ladder a notification follows, as the policy the command loaded says. */
typedef struct nb_web_rung_s {
    /** When it falls due, reckoned from when the notification was raised and its first
     *  respond-by, as the daemon reckons it. A reassignment that restarted the respond-by
     *  moves it by as much (nb_inbox_item_t.restarted_respond_by): the page adds that. */
    int64_t due;
    nb_tier_t tier; /**< the notification's tier from this rung on */
    bool early;     /**< an early alert: it may come before the respond-by */
    size_t n_roles;
    nb_recipient_t roles[NB_NOTIF_MAX_RECIPIENTS]; /**< who is told: role id, title, route */
    /** The role was told before this rung: it is one of the rule's own recipients, or of an
     *  earlier rung's (roles a modifier added are known to the page from the record). */
    bool again[NB_NOTIF_MAX_RECIPIENTS];
} nb_web_rung_t;

/** The ladder a notification follows (docs/inbox.md §6). */
typedef struct nb_web_ladder_s {
    char id[NB_ID_MAX + 1];      /**< the named ladder's id; "" for rungs the rule gives itself */
    char title[NB_TEXT_MAX + 1]; /**< its title; "" when it has none */
    /** The modifiers raised the notification from its rule's tier to one with a ladder of its
     *  own, and it follows that tier's ladder rather than its rule's. */
    bool of_tier;
    nb_tier_t rule_tier;             /**< the rule's own tier */
    nb_tier_t tier;                  /**< the tier it was raised at (after the modifiers) */
    bool stops_on_take;              /**< taking it stops the ladder (escalation_stops_on: take) */
    char policy_name[NB_ID_MAX + 1]; /**< the loaded policy's */
    char policy_version[NB_ID_MAX + 1]; /**< the loaded policy's */
    char policy_hash[NB_KEY_MAX + 1];   /**< the loaded policy's (hex SHA-256) */
    size_t n_rungs;
    nb_web_rung_t rungs[NB_WEB_LADDER_RUNGS];
} nb_web_ladder_t;

/**
 * What the server asks of the command around it (which has Kafka): the whole record of a
 * notification for its detail page, and a record of who looked at it (docs/inbox.md §5).
 * Called on the server's thread; a member may be NULL (then the page shows what the view
 * holds, and nothing is recorded).
 */
typedef struct nb_web_backend_s {
    void *opaque;
    /** Reads the record at @p where into @p out. @returns NB_ERR_OK, NB_ERR_NOT_FOUND, or
     *  another error (the page says the detail cannot be read now). */
    NB_NODISCARD nb_err_t (*fetch)(void *opaque, nb_inbox_where_t where, nb_notification_t *out);
    /** Records an access before the page is shown: @p what ("viewed"), by @p user_id, of
     *  @p notification_id, about @p child_key. On an error the page is not shown (503): an
     *  access that cannot be recorded does not happen. */
    NB_NODISCARD nb_err_t (*access)(void *opaque, const char *what, const char *user_id,
                                    const char *notification_id, const char *child_key);
    /** Writes a person's action (take, reassign, close) as a NotificationAck keyed by
     *  @p child_key and waits until Kafka has it. @returns NB_ERR_OK; NB_ERR_INVALID_ARG with
     *  what to correct in @p errstr (a form error: the record would be refused); another
     *  error when it could not be stored now. */
    NB_NODISCARD nb_err_t (*act)(void *opaque, const nb_ack_t *ack, const char *child_key,
                                 char *errstr, size_t errstr_size);
    /** The escalation ladder the notification @p item follows (its rule's, or its tier's
     *  when the modifiers raised it to a tier with a ladder of its own), each rung with when
     *  it falls due (from item->created_at and item->raised_respond_by) and who it tells,
     *  into @p out. Called only for an item whose "new" record the view has read
     *  (item->raised). @returns NB_ERR_OK; NB_ERR_NOT_FOUND when the rule is not in the policy
     *  the command loaded; another error when it cannot say. */
    NB_NODISCARD nb_err_t (*ladder)(void *opaque, const nb_inbox_item_t *item,
                                    nb_web_ladder_t *out);
    /** Whether a person acting in @p queue (a route) may reassign @p it when another person
     *  owns it: the policy's may_reassign_owned names a role whose route is @p queue. The
     *  reassignment form then says the person acts in that queue, so that a team leader's
     *  role reaches the daemon, which decides all the same. NULL: the person acts in the
     *  first of her queues the notification has. */
    bool (*may_reassign)(void *opaque, const nb_inbox_item_t *it, const char *queue);
} nb_web_backend_t;

/**
 * @brief Checks the inbox section of a configuration beyond the table's ranges: tls cert and
 *        key together and readable; a way to sign in (a users file or a proxy header); the
 *        proxy's trusted_proxies given and each a CIDR block; plain HTTP only on a loopback
 *        address or behind the proxy. Every problem on its own line.
 * @returns NB_ERR_OK or NB_ERR_CONFIG.
 */
NB_NODISCARD nb_err_t nb_web_check_config(const nb_config_t *conf, char *errstr,
                                          size_t errstr_size);

/**
 * @brief Starts serving (a thread of libmicrohttpd's).
 * @param users the users file's users (may be NULL with the proxy only).
 * @param backend reading records and recording access (copied; NULL: neither).
 * @remark @p conf, @p users and the view must outlive the server.
 * @returns NULL with why in @p errstr.
 */
nb_web_t *nb_web_new(const nb_config_t *conf, const nb_web_users_t *users, nb_web_view_t view,
                     const nb_web_backend_t *backend, char *errstr, size_t errstr_size);
/** @brief The port it listens on (useful with port 0). */
int nb_web_port(const nb_web_t *w);
/** @brief Whether it serves HTTPS. */
bool nb_web_tls(const nb_web_t *w);
/** @brief Stops serving and frees it. NULL is a no-op. */
void nb_web_destroy(nb_web_t *w);

#endif /* NOTBROUGHT_WEB_H */
