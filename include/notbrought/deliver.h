/*
 * notbrought - deliver: `notbrought dispatch`, the I/O of docs/inbox.md §4. Reads
 * topics.notifications in a consumer group of its own (stream's group consumer), decides with
 * the dispatch module what each notification's webhook and email endpoints get, sends it
 * (libcurl: HTTPS POST, SMTP through the configured relay) with retries, and commits a
 * notification's offset only when every one of its deliveries is finished: delivered, refused
 * for good, or given up (both logged and counted). At least once: a restart sends again at
 * most what was not confirmed; receivers drop a repeat by its Idempotency-Key.
 */
#ifndef NOTBROUGHT_DELIVER_H
#define NOTBROUGHT_DELIVER_H

#include <signal.h>
#include <stddef.h>

#include "notbrought/err.h"
#include "notbrought/ops.h"

typedef struct nb_deliver_s nb_deliver_t;

/**
 * @brief The dispatcher: reads every secret (webhooks' secret_file / secret_env, the SMTP
 *        password file) and joins the consumer group lazily.
 * @remark @p conf and @p m are borrowed and must outlive it; @p m may be NULL.
 * @param env NULL-terminated "NAME=value" strings (environ), where secret_env is looked up.
 * @returns NULL with why in @p errstr (a secret missing or empty: its source is named, never
 *          its value).
 */
nb_deliver_t *nb_deliver_new(const nb_config_t *conf, char **env, nb_metrics_t *m, char *errstr,
                             size_t errstr_size);

/**
 * @brief Runs until *stop becomes non-zero: what is in hand and not finished is left
 *        uncommitted (the next run sends it), then the group is left.
 * @returns NB_ERR_OK after a stop; NB_ERR_KAFKA_FATAL when the consumer can go on no more.
 */
NB_NODISCARD nb_err_t nb_deliver_run(nb_deliver_t *d, volatile sig_atomic_t *stop);

/** @brief Frees it. NULL is a no-op. */
void nb_deliver_destroy(nb_deliver_t *d);

#endif /* NOTBROUGHT_DELIVER_H */
