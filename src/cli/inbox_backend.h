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
    nb_policy_t *pol;    /* the configured policy: the pages' ladders (NULL: not loaded) */
    bool done;           /* the access record's delivery was reported */
    nb_err_t result;
} nb__inbox_backend_t;

/** @brief Ready to serve @p conf (which must outlive it). @returns NB_ERR_OK, or an error
 *         after printing why (the schema registry). */
NB_NODISCARD nb_err_t nb__inbox_backend_init(nb__inbox_backend_t *be, const nb_config_t *conf);

/**
 * @brief The escalation ladder the notification @p it follows under @p pol, for its page
 *        (nb_web_backend_t.ladder): the ladder and its title, whether it is its tier's, whether
 *        taking it stops it, and each rung with when it falls due (nb_policy_ladder() from the
 *        tier and respond-by of its "new" record and when it was raised), its tier and who it
 *        tells, each marked when told before. The loaded policy's name, version and hash.
 * @returns NB_ERR_OK; NB_ERR_NOT_FOUND when the rule is not in @p pol.
 */
NB_NODISCARD nb_err_t nb__inbox_ladder(const nb_policy_t *pol, const nb_inbox_item_t *it,
                                       nb_web_ladder_t *out);

/** @brief Frees it; after the server has stopped. */
void nb__inbox_backend_free(nb__inbox_backend_t *be);

#endif
