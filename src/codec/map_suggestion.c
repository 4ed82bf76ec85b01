/*
 * notbrought - codec: the IdentitySuggestion record (schemas/identity_suggestion.avsc) to and
 * from the model's nb_suggestion_t, with the field readers and writers of map.c.
 *
 * The record nests a whole IdentityLink (the statement a reviewer publishes once they confirm
 * it), read and written exactly as a record of identity.links is.
 */
#include "codec/internal.h"

#include <string.h>

nb_err_t nb__x_suggestion(avro_value_t *v, nb_suggestion_t *s, nb__xerr_t *x)
{
    avro_value_t link, cause, ev, arr, item;
    size_t n;
    int e;
    x->at = NULL;
    if (nb__get_str(v, "suggestion_id", s->suggestion_id, sizeof(s->suggestion_id), NB_TEXT_ID,
                    x) ||
        nb__field(v, "link", &link, x))
        return x->err;
    x->at = "link";
    if (nb__x_link(&link, &s->link, x))
        return x->err;
    x->at = NULL;
    if (nb__get_str(v, "candidate_child_key", s->candidate_key, sizeof(s->candidate_key),
                    NB_TEXT_ID, x) ||
        nb__field(v, "cause", &cause, x))
        return x->err;
    x->at = "cause";
    if (nb__get_str(&cause, "event_id", s->cause_event_id, sizeof(s->cause_event_id),
                    NB_TEXT_ID, x) ||
        nb__get_source(&cause, &s->cause_source, x) ||
        nb__get_opt_long(&cause, "recorded_at", &s->cause_recorded_at, x))
        return x->err;
    x->at = "evidence";
    if (nb__field(v, "evidence", &ev, x) ||
        nb__array(&ev, "matched_fields", NB_DEMO__COUNT, &arr, &n, x))
        return x->err;
    s->matched = 0;
    for (size_t i = 0; i < n; i++) {
        if (avro_value_get_by_index(&arr, i, &item, NULL) || avro_value_get_enum(&item, &e))
            return nb__xfail(x, NB_ERR_AVRO_DECODE,
                             "field 'evidence.matched_fields' is not an array of enums");
        if (e < 0 || e >= NB_DEMO__COUNT)
            return nb__xfail(x, NB_ERR_AVRO_ENUM_INDEX,
                             "field 'evidence.matched_fields' has an unknown symbol");
        s->matched |= 1u << e;
    }
    if (nb__get_int(&ev, "candidates", &s->candidates, x))
        return x->err;
    x->at = NULL;
    return nb__get_long(v, "suggested_at", &s->suggested_at, x);
}

nb_err_t nb__f_suggestion(const nb_suggestion_t *s, avro_value_t *v, nb__xerr_t *x)
{
    avro_value_t link, cause, ev, arr, item;
    size_t n = 0;
    for (int f = 0; f < NB_DEMO__COUNT; f++)
        n += (s->matched >> f) & 1u;
    if (nb__set_str(v, "suggestion_id", s->suggestion_id, x) ||
        nb__wfield(v, "link", &link, x) || nb__f_link(&s->link, &link, x) ||
        nb__set_str(v, "candidate_child_key", s->candidate_key, x) ||
        nb__wfield(v, "cause", &cause, x) ||
        nb__set_str(&cause, "event_id", s->cause_event_id, x) ||
        nb__set_source(&cause, &s->cause_source, x) ||
        nb__set_opt_long(&cause, "recorded_at", s->cause_recorded_at, x) ||
        nb__wfield(v, "evidence", &ev, x) ||
        nb__append(&ev, "matched_fields", n, NB_DEMO__COUNT, &arr, x))
        return x->err;
    /* In the enum's order, each field once, whatever order the bits were set in. */
    for (int f = 0; f < NB_DEMO__COUNT; f++) {
        if (!((s->matched >> f) & 1u))
            continue;
        if (avro_value_append(&arr, &item, NULL) || avro_value_set_enum(&item, f))
            return nb__xfail(x, NB_ERR_AVRO_ENCODE, "evidence.matched_fields: %s",
                             avro_strerror());
    }
    if (s->matched >> NB_DEMO__COUNT)
        return nb__xfail(x, NB_ERR_AVRO_ENCODE, "evidence.matched_fields: unknown field bit");
    if (nb__set_int(&ev, "candidates", s->candidates, x) ||
        nb__set_long(v, "suggested_at", s->suggested_at, x))
        return x->err;
    return NB_ERR_OK;
}
