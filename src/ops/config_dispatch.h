/*
 * notbrought - ops: the keys of the dispatch section (`notbrought dispatch`, docs/inbox.md
 * §4), rows of the configuration table in config.c (which defines OFF and NONE), kept here so
 * that the section is one block of its own.
 */
#ifndef NB_OPS_CONFIG_DISPATCH_H
#define NB_OPS_CONFIG_DISPATCH_H

/* clang-format off: one row of the table per key, as in config.c */
#define NB__CONFIG_DISPATCH_KEYS                                                                   \
    {"dispatch.group_id", NB__C_STR, "", NONE, OFF(dispatch.group_id), 0, 0,                       \
     "Consumer group of `notbrought dispatch` on topics.notifications (its own offsets, "          \
     "committed after a notification's deliveries). Empty: `<kafka.group_id>-dispatch`."},         \
    {"dispatch.inbox_url", NB__C_STR, "", NONE, OFF(dispatch.inbox_url), 0, 0,                     \
     "Base URL of the safeguarding inbox (e.g. `https://inbox.example.nhs.uk`); a delivery's "     \
     "link is `<inbox_url>/n/<notification_id>`. Required by `notbrought dispatch`."},             \
    {"dispatch.ca_file", NB__C_STR, "", NONE, OFF(dispatch.ca_file), 0, 0,                         \
     "PEM CA bundle that webhook and SMTP servers' certificates are verified against (the "        \
     "system's when empty). Verification is always on."},                                          \
    {"dispatch.connect_timeout_ms", NB__C_INT, "5000", 100, 120000,                                \
     OFF(dispatch.connect_timeout_ms), 0, 0,                                                       \
     "Longest wait for a connection to an endpoint."},                                             \
    {"dispatch.timeout_ms", NB__C_INT, "15000", 100, 300000, OFF(dispatch.timeout_ms), 0, 0,       \
     "Longest time one delivery attempt (connect, send, answer) may take; then it is retried."},   \
    {"dispatch.backoff_base_ms", NB__C_INT, "1000", 10, 3600000, OFF(dispatch.backoff_base_ms),    \
     0, 0,                                                                                         \
     "Wait before the first retry of a failed delivery (5xx, 408, 429, a network error); each "    \
     "further retry waits twice as long, up to dispatch.backoff_max_ms."},                         \
    {"dispatch.backoff_max_ms", NB__C_INT, "300000", 10, 86400000, OFF(dispatch.backoff_max_ms),   \
     0, 0,                                                                                         \
     "Longest wait between two attempts."},                                                        \
    {"dispatch.give_up_ms", NB__C_INT, "86400000", 0, 604800000, OFF(dispatch.give_up_ms), 0, 0,   \
     "A delivery still failing this long after its first attempt is given up: logged, counted "    \
     "(outcome gave_up) and its notification's offset committed, as a permanent refusal."},        \
    {"dispatch.max_pending", NB__C_INT, "1000", 1, 1000000, OFF(dispatch.max_pending), 0, 0,       \
     "Notifications held with deliveries unfinished before the dispatcher stops reading more "     \
     "(its partitions are paused; it stays in the group)."},                                       \
    {"dispatch.digests", NB__C_BOOL, "false", NONE, OFF(dispatch.digests), 0, 0,                   \
     "Deliver digests too. Off: a digest gathers low-tier items for a queue's periodic review, "   \
     "which the inbox shows; new, escalated, reminder and withdrawn notifications are "            \
     "delivered."},                                                                                \
    {"dispatch.smtp_url", NB__C_STR, "", NONE, OFF(dispatch.smtp_url), 0, 0,                       \
     "SMTP relay for email endpoints: `smtp://host:port` (with dispatch.smtp_starttls) or "        \
     "`smtps://host:port` (TLS from the start)."},                                                 \
    {"dispatch.smtp_from", NB__C_STR, "", NONE, OFF(dispatch.smtp_from), 0, 0,                     \
     "Sender address of the emails (envelope and From:)."},                                        \
    {"dispatch.smtp_starttls", NB__C_BOOL, "true", NONE, OFF(dispatch.smtp_starttls), 0, 0,        \
     "Require STARTTLS on an `smtp://` relay (never send in clear). Set false only for a relay "   \
     "on the same host, or in tests."},                                                            \
    {"dispatch.smtp_user", NB__C_STR, "", NONE, OFF(dispatch.smtp_user), 0, 0,                     \
     "SMTP login (optional); its password comes from dispatch.smtp_password_file."},               \
    {"dispatch.smtp_password_file", NB__C_STR, "", NONE, OFF(dispatch.smtp_password_file), 0, 0,   \
     "File holding the SMTP password (one line), e.g. a mounted Kubernetes Secret."},              \
    {"dispatch.webhooks", NB__C_ENDPOINTS, NULL, NONE, OFF(dispatch.webhooks),                     \
     OFF(dispatch.n_webhooks), NB_CONFIG_MAX_ENDPOINTS,                                            \
     "Webhook endpoints, the NAMEs of policy routes `webhook:NAME`: a list of mappings with "      \
     "`name`, `url` (https; http only to 127.0.0.1 or localhost) and where the signing secret "    \
     "is, `secret_file` (a file) or `secret_env` (an environment variable), never the secret "     \
     "itself. Only from the file."},                                                               \
    {"dispatch.email", NB__C_ENDPOINTS, NULL, NONE, OFF(dispatch.email), OFF(dispatch.n_email),    \
     NB_CONFIG_MAX_ENDPOINTS,                                                                      \
     "Email endpoints, the NAMEs of policy routes `email:NAME`: a list of mappings with `name` "   \
     "and `to` (a list of addresses: a team's mailbox). Only from the file."},
/* clang-format on */

#endif /* NB_OPS_CONFIG_DISPATCH_H */
