/*
 * notbrought - cli: the action of a replay acknowledgement line (NotificationAck version 2,
 * docs/inbox.md), read as the daemon reads the record.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/replay.h"

/* The action of an acknowledgement line (NotificationAck version 2, docs/inbox.md): "intent"
 * (take, reassign, close; default close), "user", "role", "to_queue", "to_user", "reason",
 * "action" (close only), "note". @returns 0, or -1 with a reason. */
int nb__json_ack_action(json_t *o, int64_t at, nb_ack_t *a, char *why, size_t size)
{
    static const struct {
        const char *key;
        size_t off, cap;
    } strs[] = {
        {"user", offsetof(nb_ack_t, user_id), sizeof(a->user_id)},
        {"role", offsetof(nb_ack_t, role), sizeof(a->role)},
        {"to_queue", offsetof(nb_ack_t, reassign_to_queue), sizeof(a->reassign_to_queue)},
        {"to_user", offsetof(nb_ack_t, reassign_to_user), sizeof(a->reassign_to_user)},
        {"reason", offsetof(nb_ack_t, reason), sizeof(a->reason)},
        {"note", offsetof(nb_ack_t, outcome), sizeof(a->outcome)},
    };
    const char *action = json_string_value(json_object_get(o, "action"));
    const char *intent = json_string_value(json_object_get(o, "intent"));
    memset(a, 0, sizeof(*a));
    a->action = NB_ACK_OTHER;
    a->intent = NB_ACK_INTENT_CLOSE;
    if (action && !nb_ack_action_parse_any(action, &a->action)) {
        snprintf(why, size, "unknown acknowledgement action");
        return -1;
    }
    if (intent && !nb_ack_intent_parse(intent, &a->intent)) {
        snprintf(why, size, "unknown acknowledgement intent (take, reassign or close)");
        return -1;
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *v = json_string_value(json_object_get(o, strs[i].key));
        if (v && strlen(v) >= strs[i].cap) {
            snprintf(why, size, "acknowledgement '%s' is longer than %zu bytes", strs[i].key,
                     strs[i].cap - 1);
            return -1;
        }
        if (v)
            nb_str_copy((char *)a + strs[i].off, strs[i].cap, v);
    }
    /* As the daemon reads the record: the ids are filled in when it is applied. */
    nb_str_copy(a->ack_id, sizeof(a->ack_id), "replay");
    nb_str_copy(a->notification_id, sizeof(a->notification_id), "replay");
    nb_str_copy(a->acknowledged_by, sizeof(a->acknowledged_by),
                a->user_id[0] ? a->user_id : "replay");
    if (!a->role[0])
        nb_str_copy(a->role, sizeof(a->role), "replay");
    a->acknowledged_at = at;
    return 0;
}
