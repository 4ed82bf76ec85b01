/*
 * notbrought inbox: the web server's backend (nb_web_backend_t) over Kafka: records read back
 * for a notification's page, and access records on the audit topic (docs/inbox.md §5).
 */
#ifndef NB_CLI_INBOX_BACKEND_H
#define NB_CLI_INBOX_BACKEND_H

#include <stdbool.h>

#include "cli/commands.h"
#include "notbrought/codec.h"
#include "notbrought/policy.h"
#include "notbrought/stream.h"
#include "notbrought/web.h"

typedef struct nb__inbox_backend_s {
    nb_web_backend_t web; /* what nb_web_new() takes */
    const nb_config_t *conf;
    nb_registry_t *reg;
    nb_codec_t *codec;
    nb_record_t *rec;    /* large: one, reused */
    nb_publisher_t *pub; /* made on the server's thread at its first access record */
    nb_policy_t *pol;    /* the configured policy: who each ladder tells next (NULL: not loaded) */
    bool done;           /* the access record's delivery was reported */
    nb_err_t result;
} nb__inbox_backend_t;

/** @brief Ready to serve @p conf (which must outlive it). @returns NB_ERR_OK, or an error
 *         after printing why (the schema registry). */
NB_NODISCARD nb_err_t nb__inbox_backend_init(nb__inbox_backend_t *be, const nb_config_t *conf);

/** @brief Frees it; after the server has stopped. */
void nb__inbox_backend_free(nb__inbox_backend_t *be);

#endif
