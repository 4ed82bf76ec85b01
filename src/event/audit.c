/*
 * notbrought - event: the AuditRecord model's constructor and its ids (schemas/audit_record.avsc).
 */
#include "notbrought/event.h"

#include <string.h>

#include <nettle/sha2.h>

void nb_audit_init(nb_audit_t *a, nb_audit_kind_t kind, int64_t at)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->at = at;
    a->tier = -1;
    a->agency = -1;
    a->respond_by = NB_TIME_NONE;
    a->event.scheduled_start = NB_TIME_NONE;
    a->event.recorded_at = NB_TIME_NONE;
    a->action.close_action = -1;
    a->action.acted_at = NB_TIME_NONE;
    a->action.closed_at = NB_TIME_NONE;
}

/* Appends @p s and a NUL (the parts' separator, so that ("ab", "c") and ("a", "bc") differ). */
static size_t nb__part(char *seed, size_t at, size_t cap, const char *s)
{
    size_t n = s ? strnlen(s, cap - at - 1) : 0;
    memcpy(seed + at, s ? s : "", n);
    seed[at + n] = '\0';
    return at + n + 1;
}

void nb_audit_set_id(nb_audit_t *a, const char *part1, const char *part2, int64_t part3)
{
    static const char hex[] = "0123456789abcdef";
    char seed[2 * NB_TEXT_MAX + 64];
    size_t n = nb__part(seed, 0, sizeof(seed), nb_audit_kind_name(a->kind));
    n = nb__part(seed, n, sizeof(seed), part1);
    n = nb__part(seed, n, sizeof(seed) - 8, part2);
    uint64_t v = (uint64_t)part3;
    for (int i = 0; i < 8; i++)
        seed[n++] = (char)(v >> (8 * i));
    /* Nettle's SHA-256 on the stack: no context allocated per id (a few ids per event). */
    struct sha256_ctx c;
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, n, (const uint8_t *)seed);
    sha256_digest(&c, sizeof(md), md);
    memcpy(a->audit_id, "aud-", 4);
    for (int i = 0; i < 12; i++) {
        a->audit_id[4 + 2 * i] = hex[md[i] >> 4];
        a->audit_id[5 + 2 * i] = hex[md[i] & 15];
    }
    a->audit_id[28] = '\0';
}

void nb_audit_received_appointment(const nb_appointment_event_t *e, const char *child_key,
                                   int64_t at, nb_audit_t *out)
{
    nb_audit_init(out, NB_AUDIT_RECEIVED, at);
    nb_str_copy(out->child_key, sizeof(out->child_key), child_key);
    out->agency = (int)e->source.agency;
    nb_str_copy(out->organisation, sizeof(out->organisation), e->source.organisation_code);
    out->has_event = true;
    nb_str_copy(out->event.event_id, sizeof(out->event.event_id), e->event_id);
    nb_str_copy(out->event.appointment_id, sizeof(out->event.appointment_id), e->appointment_id);
    nb_str_copy(out->event.appointment_type, sizeof(out->event.appointment_type),
                e->appointment_type);
    nb_str_copy(out->event.status, sizeof(out->event.status), nb_status_name(e->status));
    out->event.scheduled_start = e->scheduled_start;
    out->event.recorded_at = e->recorded_at;
    out->event.version = e->version;
    nb_str_copy(out->event.source_system, sizeof(out->event.source_system), e->source.system);
    out->event.nhs_number_known = e->nhs_number[0] != '\0';
    nb_audit_set_id(out, e->event_id, child_key, 0);
}

void nb_audit_received_fact(const nb_context_fact_t *f, const char *child_key, int64_t at,
                            nb_audit_t *out)
{
    nb_audit_init(out, NB_AUDIT_RECEIVED, at);
    nb_str_copy(out->child_key, sizeof(out->child_key), child_key);
    nb_str_copy(out->organisation, sizeof(out->organisation), f->organisation_code);
    out->has_event = true;
    out->event.context = true;
    nb_str_copy(out->event.event_id, sizeof(out->event.event_id), f->event_id);
    nb_str_copy(out->event.appointment_id, sizeof(out->event.appointment_id),
                nb_fact_kind_name(f->kind));
    nb_str_copy(out->event.status, sizeof(out->event.status), nb_fact_status_name(f->status));
    out->event.recorded_at = f->recorded_at;
    out->event.version = f->version;
    nb_str_copy(out->event.source_system, sizeof(out->event.source_system), f->source_system);
    out->event.nhs_number_known = f->nhs_number[0] != '\0';
    nb_audit_set_id(out, f->event_id, child_key, 0);
}
