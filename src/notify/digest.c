/*
 * Digests: low-tier notifications gathered per recipient and period, published as one
 * notification when the period ends or the digest is full. The daemon (src/stream/digest.c)
 * keeps a digest in the by-child state under its key, replay (src/cli/replay_run.c) in
 * memory; both gather and build here.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "notbrought/notify.h"

void nb_notify_digest_key(const char *role, int64_t period_end,
                          uint8_t key[NB_NOTIFY_DIGEST_KEY_LEN])
{
    char seed[NB_ID_MAX + 64];
    int n = snprintf(seed, sizeof(seed), "notbrought-digest|%s|%lld", role,
                     (long long)period_end);
    SHA256((const unsigned char *)seed, n > 0 ? (size_t)n : 0, key);
}

nb_notify_digest_add_t nb_notify_digest_add(nb_notify_digest_t *d, const nb_notification_t *note)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->items[i].notification_id, note->notification_id) == 0)
            return NB_NOTIFY_DIGEST_HAD;
    nb_digest_item_t *it = &d->items[d->n++];
    memset(it, 0, sizeof(*it));
    nb_str_copy(it->notification_id, sizeof(it->notification_id), note->notification_id);
    nb_str_copy(it->reference, sizeof(it->reference), note->reference);
    nb_str_copy(it->child_key, sizeof(it->child_key), note->child_key);
    nb_str_copy(it->nhs_number, sizeof(it->nhs_number), note->nhs_number);
    nb_str_copy(it->rule_id, sizeof(it->rule_id), note->rule_id);
    it->tier = note->tier;
    it->decided_at = note->created_at;
    return d->n == NB_NOTIF_MAX_ITEMS ? NB_NOTIFY_DIGEST_FULL : NB_NOTIFY_DIGEST_ADDED;
}

void nb_notify_build_digest(const nb_policy_t *pol, const nb_notify_digest_t *d,
                            const uint8_t key[NB_NOTIFY_DIGEST_KEY_LEN], int64_t now_ms,
                            nb_notification_t *n)
{
    const nb_policy_info_t *info = nb_policy_info(pol);
    char hex[2 * NB_NOTIFY_DIGEST_KEY_LEN + 1];
    memset(n, 0, sizeof(*n));
    for (int i = 0; i < NB_NOTIFY_DIGEST_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    snprintf(n->notification_id, sizeof(n->notification_id), "digest-%.24s", hex);
    uint8_t id[NB_LEDGER_ID_BYTES];
    memcpy(id, key, NB_LEDGER_ID_BYTES);
    nb_notify_reference(id, n->reference);
    n->kind = NB_NOTIFICATION_DIGEST;
    n->date_of_birth = NB_DATE_NONE;
    n->expected_delivery_date = NB_DATE_NONE;
    n->age_months = -1;
    snprintf(n->child_key, sizeof(n->child_key), "digest");
    snprintf(n->rule_id, sizeof(n->rule_id), "digest");
    snprintf(n->rule_text, sizeof(n->rule_text),
             "Digest for %s: %zu low-priority notification%s gathered until the period ended",
             d->role, d->n, d->n == 1 ? "" : "s");
    nb_str_copy(n->policy_name, sizeof(n->policy_name), info->name);
    nb_str_copy(n->policy_version, sizeof(n->policy_version), info->version);
    nb_str_copy(n->policy_hash, sizeof(n->policy_hash), info->hash);
    n->tier = NB_TIER_CURIOSITY;
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].tier > n->tier)
            n->tier = d->items[i].tier;
    nb_str_copy(n->action, sizeof(n->action),
                "Review each child listed and acknowledge each notification by its id.");
    n->respond_by = NB_TIME_NONE;
    n->created_at = now_ms;
    n->n_recipients = 1;
    nb_str_copy(n->recipients[0].role, sizeof(n->recipients[0].role), d->role);
    nb_str_copy(n->recipients[0].route, sizeof(n->recipients[0].route), d->route);
    nb_notify_fill_titles(pol, n);
    n->n_items = d->n;
    memcpy(n->items, d->items, d->n * sizeof(d->items[0]));
}
