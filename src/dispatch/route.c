/*
 * notbrought - dispatch: which recipients of a notification are reached outside the inbox,
 * and which kinds of notification are delivered at all.
 */
#include "notbrought/dispatch.h"

#include <string.h>

const char *nb_dispatch_channel_name(nb_dispatch_channel_t ch)
{
    return ch == NB_DISPATCH_EMAIL ? "email" : "webhook";
}

static bool nb__name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NB_DISPATCH_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

bool nb_dispatch_route_parse(const char *route, nb_dispatch_target_t *out)
{
    static const struct {
        const char *prefix;
        nb_dispatch_channel_t ch;
    } kinds[] = {{"webhook:", NB_DISPATCH_WEBHOOK}, {"email:", NB_DISPATCH_EMAIL}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(route, kinds[i].prefix, n) != 0 || !nb__name_ok(route + n))
            continue;
        out->channel = kinds[i].ch;
        memcpy(out->endpoint, route + n, strlen(route + n) + 1);
        return true;
    }
    return false;
}

bool nb_dispatch_kind_delivered(nb_notification_kind_t kind, bool digests)
{
    switch (kind) {
    case NB_NOTIFICATION_NEW:
    case NB_NOTIFICATION_ESCALATED:
    case NB_NOTIFICATION_REMINDER:
    case NB_NOTIFICATION_WITHDRAWN:
        return true;
    case NB_NOTIFICATION_DIGEST:
        return digests;
    default:
        return false;
    }
}

size_t nb_dispatch_targets(const nb_notification_t *n, bool digests, nb_dispatch_target_t *out,
                           size_t max)
{
    size_t k = 0;
    if (!nb_dispatch_kind_delivered(n->kind, digests))
        return 0;
    for (size_t i = 0; i < n->n_recipients && i < NB_NOTIF_MAX_RECIPIENTS && k < max; i++) {
        nb_dispatch_target_t t;
        if (!nb_dispatch_route_parse(n->recipients[i].route, &t))
            continue;
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = out[j].channel == t.channel && strcmp(out[j].endpoint, t.endpoint) == 0;
        if (!seen)
            out[k++] = t;
    }
    return k;
}
