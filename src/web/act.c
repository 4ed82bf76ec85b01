/*
 * notbrought - web: what a person does with a notification (docs/inbox.md §1): take it,
 * reassign it to a queue or a person with a reason, or close it with what was done. A form
 * becomes a NotificationAck (version 2) that the command writes to Kafka; the daemon decides,
 * in order per child, and its verdict comes back through the view. Until then the user's own
 * action is kept here (a small ring, the server's thread only) so that her page shows it at
 * once.
 */
#include "web/internal.h"

#include <stdio.h>
#include <string.h>

/* The close actions, as a nurse reads them, in the order the form offers them. */
static const struct {
    nb_ack_action_t action;
    const char *words;
} nb__close_actions[] = {
    {NB_ACK_CONTACTED_FAMILY, "Contacted the family"},
    {NB_ACK_REBOOKED, "Appointment rebooked"},
    {NB_ACK_DISCUSSED_WITH_NAMED_NURSE, "Discussed with the named nurse"},
    {NB_ACK_REFERRED, "Referred to children's services"},
    {NB_ACK_NO_FURTHER_ACTION, "No further action (say why)"},
    {NB_ACK_OTHER, "Other (say what in the note)"},
};

size_t nb__web_close_actions(void)
{
    return sizeof(nb__close_actions) / sizeof(nb__close_actions[0]);
}

const char *nb__web_close_action(size_t i, nb_ack_action_t *action)
{
    *action = nb__close_actions[i].action;
    return nb__close_actions[i].words;
}

const char *nb__web_intent_words(nb_ack_intent_t intent)
{
    switch (intent) {
    case NB_ACK_INTENT_TAKE:
        return "take";
    case NB_ACK_INTENT_REASSIGN:
        return "reassignment";
    default:
        return "close";
    }
}

/* Whether the form has a field called @p name (whatever its value). */
static bool nb__has_field(const char *body, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i >= nl && memcmp(body + i, name, nl) == 0 &&
            (end - i == nl || body[i + nl] == '='))
            return true;
        i = end + 1;
    }
    return false;
}

/* A form field into out: "" when the form has none; false when it is there but malformed,
 * given twice or too long. */
static bool nb__field(const char *body, size_t len, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    if (nb_web_form_get(body, len, name, out, size) >= 0)
        return true;
    out[0] = '\0';
    return !nb__has_field(body, len, name);
}

/* The queue the user acts in, which the ack carries as its role. A reassignment of what
 * another person owns is made in a queue that holds a role the policy lets reassign it (a team
 * leader's queue), when the command knows the policy and the user is in one; otherwise, the
 * first of her queues the notification has; someone given it in person, in none of its
 * queues, acts in her first queue, or, in none, in the queue it is with. */
static void nb__acting_queue(const nb_web_session_t *s, const nb_inbox_item_t *it,
                             nb_ack_intent_t intent, const nb_web_backend_t *be, char *out,
                             size_t size)
{
    bool others = it->owner[0] && strcmp(it->owner, s->user.id) != 0;
    if (intent == NB_ACK_INTENT_REASSIGN && others && be && be->may_reassign)
        for (size_t i = 0; i < s->user.n_queues; i++)
            if (be->may_reassign(be->opaque, it, s->user.queues[i])) {
                nb_str_copy(out, size, s->user.queues[i]);
                return;
            }
    const char *q = s->user.n_queues     ? s->user.queues[0]
                    : it->owner_queue[0] ? it->owner_queue
                    : it->n_queues       ? it->queues[0]
                                         : "";
    for (size_t i = 0; i < s->user.n_queues; i++) {
        const char *one[1] = {s->user.queues[i]};
        if (nb_inbox_visible(it, one, 1)) {
            q = s->user.queues[i];
            break;
        }
    }
    nb_str_copy(out, size, q);
}

/* A person a notification is reassigned to: one of the users file when the inbox has one
 * (whoever signs in through the proxy is then known by it too, as their queues are); with
 * the proxy alone, any well-formed user id, since the inbox cannot know who the identity
 * provider has. */
static bool nb__known_person(const nb_web_users_t *users, const char *id, char *why,
                             size_t why_size)
{
    if (!nb__web_id_ok(id)) {
        snprintf(why, why_size,
                 "A user id has only letters, digits and . _ - @: check the person's user id.");
        return false;
    }
    if (users && !nb_web_users_find(users, id)) {
        snprintf(why, why_size, "Nobody with the user id %.64s is in this inbox: check it.", id);
        return false;
    }
    return true;
}

bool nb__web_action_build(const nb_web_session_t *s, const nb_inbox_item_t *it,
                          const nb_web_users_t *users, const nb_web_backend_t *be,
                          nb_ack_intent_t intent, const char *body, size_t len, int64_t now_ms,
                          nb_ack_t *ack, char *why, size_t why_size)
{
    char form_id[NB_WEB_TOKEN_HEX + 1], action[40];
    memset(ack, 0, sizeof(*ack));
    /* The form's own token makes the id: sending the same form twice is one action. */
    if (nb_web_form_get(body, len, "form_id", form_id, sizeof(form_id)) != NB_WEB_TOKEN_HEX) {
        snprintf(why, why_size, "The form was not complete: open the notification again.");
        return false;
    }
    snprintf(ack->ack_id, sizeof(ack->ack_id), "inbox-%.32s", form_id);
    nb_str_copy(ack->notification_id, sizeof(ack->notification_id), it->notification_id);
    nb_str_copy(ack->reference, sizeof(ack->reference), it->reference);
    ack->intent = intent;
    nb_str_copy(ack->acknowledged_by, sizeof(ack->acknowledged_by),
                s->user.name[0] ? s->user.name : s->user.id);
    nb_str_copy(ack->user_id, sizeof(ack->user_id), s->user.id);
    nb__acting_queue(s, it, intent, be, ack->role, sizeof(ack->role));
    ack->action = NB_ACK_OTHER;
    ack->acknowledged_at = now_ms;
    if (!nb__field(body, len, "reason", ack->reason, sizeof(ack->reason)) ||
        !nb__field(body, len, "note", ack->outcome, sizeof(ack->outcome))) {
        snprintf(why, why_size, "The reason or the note is longer than %d characters.",
                 NB_TEXT_MAX);
        return false;
    }
    if (intent == NB_ACK_INTENT_REASSIGN) {
        if (!nb__field(body, len, "to_queue", ack->reassign_to_queue,
                       sizeof(ack->reassign_to_queue)) ||
            !nb__field(body, len, "to_user", ack->reassign_to_user,
                       sizeof(ack->reassign_to_user))) {
            snprintf(why, why_size, "The queue or the person is not one this inbox knows.");
            return false;
        }
        if (!ack->reassign_to_queue[0] && !ack->reassign_to_user[0]) {
            snprintf(why, why_size, "Say who it goes to: a queue, or a person's user id.");
            return false;
        }
        if (ack->reassign_to_user[0] &&
            !nb__known_person(users, ack->reassign_to_user, why, why_size))
            return false;
        if (!ack->reason[0]) {
            snprintf(why, why_size, "Say why it is reassigned.");
            return false;
        }
    } else if (intent == NB_ACK_INTENT_CLOSE) {
        if (nb_web_form_get(body, len, "action", action, sizeof(action)) < 0 ||
            !nb_ack_action_parse(action, &ack->action)) {
            snprintf(why, why_size, "Choose what was done.");
            return false;
        }
        if (ack->action == NB_ACK_NO_FURTHER_ACTION && !ack->reason[0]) {
            snprintf(why, why_size, "Say why no further action is needed.");
            return false;
        }
    }
    return true;
}

void nb__web_pending_add(nb__web_pending_t *ring, size_t *next, const nb_ack_t *ack)
{
    nb__web_pending_t *p = &ring[*next % NB__WEB_PENDING];
    nb_str_copy(p->ack_id, sizeof(p->ack_id), ack->ack_id);
    nb_str_copy(p->notification_id, sizeof(p->notification_id), ack->notification_id);
    nb_str_copy(p->user_id, sizeof(p->user_id), ack->user_id);
    p->intent = ack->intent;
    p->at = ack->acknowledged_at;
    (*next)++;
}

const nb__web_pending_t *nb__web_pending_find(const nb__web_pending_t *ring, size_t next,
                                              const char *notification_id, const char *user_id)
{
    size_t n = next < NB__WEB_PENDING ? next : NB__WEB_PENDING;
    for (size_t k = 1; k <= n; k++) { /* the newest first */
        const nb__web_pending_t *p = &ring[(next - k) % NB__WEB_PENDING];
        if (strcmp(p->notification_id, notification_id) == 0 && strcmp(p->user_id, user_id) == 0)
            return p;
    }
    return NULL;
}
