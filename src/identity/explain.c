/*
 * notbrought - identity: names of the enums and the explanation of a resolution.
 */
#include "identity/internal.h"

#include <stdio.h>
#include <string.h>

const char *nb_identity_method_name(nb_identity_method_t m)
{
    switch (m) {
    case NB_IDENTITY_METHOD_NONE:
        return "unresolved";
    case NB_IDENTITY_METHOD_NHS_NUMBER:
        return "nhs_number";
    case NB_IDENTITY_METHOD_LINK:
        return "link";
    case NB_IDENTITY_METHOD_PREGNANCY:
        return "pregnancy";
    case NB_IDENTITY_METHOD_PREGNANCY_LINK:
        return "pregnancy_link";
    }
    return "?";
}

const char *nb_identity_park_reason_name(nb_identity_park_reason_t r)
{
    switch (r) {
    case NB_IDENTITY_PARK_NONE:
        return "none";
    case NB_IDENTITY_PARK_UNKNOWN_LOCAL_ID:
        return "unknown_local_id";
    case NB_IDENTITY_PARK_UNLINKED_LOCAL_ID:
        return "unlinked_local_id";
    }
    return "?";
}

const char *nb_identity_conflict_kind_name(nb_identity_conflict_kind_t k)
{
    switch (k) {
    case NB_IDENTITY_CONFLICT_NONE:
        return "none";
    case NB_IDENTITY_CONFLICT_LOCAL_ID:
        return "local_id_linked_elsewhere";
    case NB_IDENTITY_CONFLICT_SUPERSEDED:
        return "already_superseded";
    case NB_IDENTITY_CONFLICT_PREGNANCY:
        return "pregnancy_linked_elsewhere";
    case NB_IDENTITY_CONFLICT_SUBJECT:
        return "subject_ids_disagree";
    }
    return "?";
}

const char *nb_identity_change_name(nb_identity_change_t c)
{
    switch (c) {
    case NB_IDENTITY_CHANGE_NONE:
        return "none";
    case NB_IDENTITY_CHANGE_LINKED:
        return "linked";
    case NB_IDENTITY_CHANGE_RESTATED:
        return "restated";
    case NB_IDENTITY_CHANGE_UNLINKED:
        return "unlinked";
    case NB_IDENTITY_CHANGE_SUPERSEDED:
        return "superseded";
    case NB_IDENTITY_CHANGE_PREGNANCY_LINKED:
        return "pregnancy_linked";
    case NB_IDENTITY_CHANGE_PREGNANCY_UNLINKED:
        return "pregnancy_unlinked";
    }
    return "?";
}

/* A bounded writer that keeps counting past the end, as snprintf does. */
typedef struct nb__w_s {
    char *buf;
    size_t size, len;
} nb__w_t;

static void nb__w_ch(nb__w_t *w, char c)
{
    if (w->len + 1 < w->size)
        w->buf[w->len] = c;
    w->len++;
}

static void nb__w_str(nb__w_t *w, const char *s)
{
    for (; *s; s++)
        nb__w_ch(w, *s);
}

/* Copies text from a source system: control characters become '?', and any run of ten or
 * more digits (an NHS number, a phone number) becomes "<redacted>". */
static void nb__w_safe(nb__w_t *w, const char *s)
{
    while (*s) {
        size_t run = 0;
        while (s[run] >= '0' && s[run] <= '9')
            run++;
        if (run >= 10) {
            nb__w_str(w, "<redacted>");
            s += run;
            continue;
        }
        if (run) {
            for (size_t i = 0; i < run; i++)
                nb__w_ch(w, s[i]);
            s += run;
            continue;
        }
        unsigned char c = (unsigned char)*s++;
        nb__w_ch(w, c < 0x20 || c == 0x7f ? '?' : (char)c);
    }
}

static void nb__w_ref(nb__w_t *w, const char *label, const nb_identity_link_ref_t *ref)
{
    nb__w_ch(w, ' ');
    nb__w_str(w, label);
    nb__w_ch(w, '=');
    nb__w_safe(w, ref->event_id[0] ? ref->event_id : "-");
    nb__w_str(w, " source=");
    nb__w_str(w, nb_agency_name(ref->source.agency));
    nb__w_ch(w, '/');
    nb__w_safe(w, ref->source.system);
    nb__w_ch(w, '/');
    nb__w_safe(w, ref->source.organisation_code);
    nb__w_str(w, " verification=");
    nb__w_str(w, nb_verification_name(ref->verification));
}

size_t nb_identity_explain(const nb_identity_resolution_t *res, char *buf, size_t size)
{
    nb__w_t w = {buf, size, 0};
    char hops[16];
    switch (res->method) {
    case NB_IDENTITY_METHOD_NONE:
        nb__w_str(&w, "unresolved reason=");
        nb__w_str(&w, nb_identity_park_reason_name(res->park_reason));
        if (res->has_suggestion) {
            nb__w_str(&w, " suggestion=");
            nb__w_str(&w, res->suggestion.child_key);
        }
        break;
    case NB_IDENTITY_METHOD_PREGNANCY:
        nb__w_str(&w, "pregnancy=");
        nb__w_str(&w, res->key);
        nb__w_str(&w, " by=pregnancy");
        break;
    default:
        nb__w_str(&w, "child=");
        nb__w_str(&w, res->key); /* our own hex, not source text */
        nb__w_str(&w, " by=");
        nb__w_str(&w, nb_identity_method_name(res->method));
        if (res->method == NB_IDENTITY_METHOD_LINK ||
            res->method == NB_IDENTITY_METHOD_PREGNANCY_LINK)
            nb__w_ref(&w, "link", &res->via);
        if (res->supersession_hops) {
            snprintf(hops, sizeof(hops), "%u", (unsigned)res->supersession_hops);
            nb__w_str(&w, " superseded=");
            nb__w_str(&w, hops);
            nb__w_ref(&w, "supersession", &res->supersession);
        }
        break;
    }
    if (size)
        buf[w.len < size ? w.len : size - 1] = '\0';
    return w.len;
}
