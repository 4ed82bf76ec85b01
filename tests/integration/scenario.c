/*
 * The clinical scenario suite: loading a scenario file into records (scenario.h); checking
 * what a run published is in scenario_check.c. Test code: errors are reported as
 * "file:line: reason" for the protocol owner who wrote the scenario.
 */
#include "scenario.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "notbrought/identity.h"
#include "notbrought/ledger.h"

int sc_nhs_number(int n, char out[NB_NHS_LEN + 1])
{
    for (;; n++) {
        char nine[16];
        snprintf(nine, sizeof(nine), "999%06d", n % 1000000);
        int check = nb_nhs_check_digit(nine);
        if (check < 0)
            continue;
        memcpy(out, nine, 9);
        out[9] = (char)('0' + check);
        out[10] = '\0';
        if (nb_nhs_validate(out) == NB_ERR_OK)
            return n;
    }
}

/* ---- YAML ----------------------------------------------------------------------------------- */

typedef struct sc_ctx_s {
    yaml_document_t doc;
    const char *file;
    char *err;
    size_t err_size;
    bool failed;
} sc_ctx_t;

static bool sc_fail(sc_ctx_t *c, yaml_node_t *n, const char *fmt, ...)
{
    if (c->failed)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->err_size, "%s:%d: %s", c->file, n ? (int)n->start_mark.line + 1 : 0, msg);
    c->failed = true;
    return false;
}

static yaml_node_t *sc_node(sc_ctx_t *c, int i)
{
    return yaml_document_get_node(&c->doc, i);
}

static const char *sc_str(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of @p key in mapping @p m, or NULL. */
static yaml_node_t *sc_get(sc_ctx_t *c, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = sc_str(sc_node(c, p->key));
        if (k && strcmp(k, key) == 0)
            return sc_node(c, p->value);
    }
    return NULL;
}

/* Every key of @p m must be one of @p keys (NULL-terminated): a misspelt key is an error,
 * never silently ignored. */
static bool sc_keys(sc_ctx_t *c, yaml_node_t *m, const char *what, const char *const *keys)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return sc_fail(c, m, "%s must be a mapping", what);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = sc_node(c, p->key);
        const char *k = sc_str(kn);
        bool ok = false;
        for (size_t i = 0; k && keys[i]; i++)
            ok = ok || strcmp(k, keys[i]) == 0;
        if (!ok)
            return sc_fail(c, kn, "unknown key '%s' in %s", k ? k : "?", what);
    }
    return true;
}

static size_t sc_len(yaml_node_t *n)
{
    return n && n->type == YAML_SEQUENCE_NODE
               ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
               : 0;
}

static yaml_node_t *sc_at(sc_ctx_t *c, yaml_node_t *n, size_t i)
{
    return sc_node(c, n->data.sequence.items.start[i]);
}

static bool sc_time(sc_ctx_t *c, yaml_node_t *n, const char *what, int64_t *out)
{
    const char *s = sc_str(n);
    if (!s || !nb_parse_time(s, out))
        return sc_fail(c, n, "%s must be a time such as 2025-03-10T09:00Z", what);
    return true;
}

static bool sc_date(sc_ctx_t *c, yaml_node_t *n, const char *what, int32_t *out)
{
    const char *s = sc_str(n);
    if (!s || !nb_parse_date(s, out))
        return sc_fail(c, n, "%s must be a date such as 2025-03-10", what);
    return true;
}

static bool sc_bool(yaml_node_t *n)
{
    const char *s = sc_str(n);
    return s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0);
}

/* A list of names (or one name) into @p out. */
static int sc_names(sc_ctx_t *c, yaml_node_t *n, const char *what,
                    char out[SC_MAX_NAMES][NB_ID_MAX + 1])
{
    if (n && n->type == YAML_SCALAR_NODE) {
        snprintf(out[0], NB_ID_MAX + 1, "%s", sc_str(n));
        return 1;
    }
    if (!n || n->type != YAML_SEQUENCE_NODE || sc_len(n) > SC_MAX_NAMES) {
        sc_fail(c, n, "%s must be a list (of at most %d)", what, SC_MAX_NAMES);
        return -1;
    }
    for (size_t i = 0; i < sc_len(n); i++) {
        const char *s = sc_str(sc_at(c, n, i));
        if (!s) {
            sc_fail(c, sc_at(c, n, i), "%s: each entry must be a name", what);
            return -1;
        }
        snprintf(out[i], NB_ID_MAX + 1, "%s", s);
    }
    return (int)sc_len(n);
}

/* ---- names ---------------------------------------------------------------------------------- */

static int sc_person(const sc_scenario_t *sc, const char *name)
{
    for (size_t i = 0; name && i < sc->n_people; i++)
        if (strcmp(sc->people[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int sc_preg(const sc_scenario_t *sc, const char *name)
{
    for (size_t i = 0; name && i < sc->n_pregnancies; i++)
        if (strcmp(sc->pregnancies[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int sc_local(const sc_scenario_t *sc, const char *name)
{
    for (size_t i = 0; name && i < sc->n_locals; i++)
        if (strcmp(sc->locals[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The subject named by 'child:' or 'pregnancy:' in @p m; the only one when neither is given
 * and the scenario has exactly one child or pregnancy (mothers aside). */
static bool sc_subject(sc_ctx_t *c, sc_scenario_t *sc, yaml_node_t *m, bool required,
                       sc_subject_t *s)
{
    yaml_node_t *cn = sc_get(c, m, "child"), *pn = sc_get(c, m, "pregnancy");
    s->person = s->pregnancy = -1;
    if (cn) {
        s->person = sc_person(sc, sc_str(cn));
        if (s->person < 0 || sc->people[s->person].mother)
            return sc_fail(c, cn, "no child called '%s' in 'children'",
                           sc_str(cn) ? sc_str(cn) : "?");
        return true;
    }
    if (pn) {
        s->pregnancy = sc_preg(sc, sc_str(pn));
        if (s->pregnancy < 0)
            return sc_fail(c, pn, "no pregnancy called '%s' in 'pregnancies'",
                           sc_str(pn) ? sc_str(pn) : "?");
        return true;
    }
    size_t kids = 0;
    int last = -1;
    for (size_t i = 0; i < sc->n_people; i++)
        if (!sc->people[i].mother) {
            kids++;
            last = (int)i;
        }
    if (kids + sc->n_pregnancies == 1) {
        s->person = kids ? last : -1;
        s->pregnancy = kids ? -1 : 0;
        return true;
    }
    return required ? sc_fail(c, m, "say which child ('child: NAME') or pregnancy "
                                     "('pregnancy: NAME') this is about")
                    : true;
}

static void sc_appt_name(sc_scenario_t *sc, nb_agency_t agency, const char *id)
{
    char raw[NB_ID_MAX + 32];
    snprintf(raw, sizeof(raw), "%s/%s", nb_agency_name(agency), id);
    uint64_t h = nb_ledger_id_hash(raw, strlen(raw));
    char hashed[32];
    snprintf(hashed, sizeof(hashed), "sha256:%016llx", (unsigned long long)h);
    for (size_t i = 0; i < sc->n_appts; i++)
        if (strcmp(sc->appts[i].hashed, hashed) == 0)
            return;
    if (sc->n_appts < SC_MAX_APPTS) {
        snprintf(sc->appts[sc->n_appts].name, NB_ID_MAX + 1, "%s", id);
        memcpy(sc->appts[sc->n_appts++].hashed, hashed, sizeof(hashed));
    }
}

/* ---- inputs --------------------------------------------------------------------------------- */

typedef struct sc_versions_s {
    size_t n;
    struct {
        char key[NB_ID_MAX * 2];
        int version;
    } v[SC_MAX_APPTS];
} sc_versions_t;

static int sc_next_version(sc_versions_t *vs, const char *key, int given)
{
    for (size_t i = 0; i < vs->n; i++) {
        if (strcmp(vs->v[i].key, key) == 0) {
            vs->v[i].version = given > 0 ? given : vs->v[i].version + 1;
            return vs->v[i].version;
        }
    }
    if (vs->n < SC_MAX_APPTS) {
        snprintf(vs->v[vs->n].key, sizeof(vs->v[0].key), "%s", key);
        vs->v[vs->n++].version = given > 0 ? given : 1;
    }
    return given > 0 ? given : 1;
}

static const char *const sc_event_keys[] = {
    "id", "agency", "type", "at", "status", "version", "mandated", "mode", "org", "recorded",
    "child", "pregnancy", "local_id", "nhs_number", "date_of_birth", "maternity_id", NULL};

static bool sc_event(sc_ctx_t *c, sc_scenario_t *sc, sc_step_t *st, yaml_node_t *m,
                     sc_versions_t *vs, nb_record_t *rec)
{
    if (!sc_keys(c, m, "an event", sc_event_keys))
        return false;
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec->u.appt;
    const char *id = sc_str(sc_get(c, m, "id")), *agency = sc_str(sc_get(c, m, "agency"));
    const char *type = sc_str(sc_get(c, m, "type")), *status = sc_str(sc_get(c, m, "status"));
    if (!id || !agency || !type || !status || !sc_get(c, m, "at"))
        return sc_fail(c, m, "an event needs id, agency, type, at and status");
    if (!nb_agency_parse(agency, &a->source.agency))
        return sc_fail(c, sc_get(c, m, "agency"), "unknown agency '%s'", agency);
    if (!nb_status_parse(status, &a->status))
        return sc_fail(c, sc_get(c, m, "status"), "unknown status '%s'", status);
    if (!sc_time(c, sc_get(c, m, "at"), "'at'", &a->scheduled_start))
        return false;
    if (strlen(id) > 40 || strlen(type) > NB_TYPE_MAX)
        return sc_fail(c, m, "the id or type is too long");
    snprintf(a->appointment_id, sizeof(a->appointment_id), "%s", id);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "%s", type);
    a->mandated_contact = sc_bool(sc_get(c, m, "mandated"));
    const char *mode = sc_str(sc_get(c, m, "mode"));
    a->contact_mode =
        a->status == NB_STATUS_NO_ACCESS_VISIT ? NB_CONTACT_HOME_VISIT : NB_CONTACT_FACE_TO_FACE;
    if (mode && !nb_contact_mode_parse(mode, &a->contact_mode))
        return sc_fail(c, sc_get(c, m, "mode"), "unknown mode '%s'", mode);
    const char *org = sc_str(sc_get(c, m, "org"));
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "%s",
             org ? org
                 : a->source.agency == NB_AGENCY_GP          ? "W91001"
                 : a->source.agency == NB_AGENCY_MIDWIFERY ? "7A4"
                                                           : "7A1");
    snprintf(a->source.system, sizeof(a->source.system), "%s",
             a->source.agency == NB_AGENCY_GP          ? "EMIS Web"
             : a->source.agency == NB_AGENCY_MIDWIFERY ? "BadgerNet"
                                                       : "CYPRIS");
    a->recorded_at = st->at;
    if (sc_get(c, m, "recorded") && !sc_time(c, sc_get(c, m, "recorded"), "'recorded'",
                                             &a->recorded_at))
        return false;
    a->date_of_birth = a->expected_delivery_date = NB_DATE_NONE;
    a->subject_kind = NB_SUBJECT_CHILD;
    yaml_node_t *ln = sc_get(c, m, "local_id");
    sc_subject_t s = {-1, -1};
    if (ln) {
        int l = sc_local(sc, sc_str(ln));
        if (l < 0)
            return sc_fail(c, ln, "no local identifier called '%s' in 'local_ids'",
                           sc_str(ln) ? sc_str(ln) : "?");
        a->local_id = sc->locals[l].id;
        if ((sc_get(c, m, "child") || sc_get(c, m, "pregnancy")) &&
            !sc_subject(c, sc, m, true, &s))
            return false;
    } else if (!sc_subject(c, sc, m, true, &s)) {
        return false;
    }
    yaml_node_t *mn = sc_get(c, m, "maternity_id");
    if (mn && s.pregnancy < 0)
        return sc_fail(c, mn, "'maternity_id' is for an event about a pregnancy");
    if (s.pregnancy >= 0) {
        const sc_pregnancy_t *p = &sc->pregnancies[s.pregnancy];
        a->subject_kind = NB_SUBJECT_UNBORN;
        snprintf(a->pregnant_person_id.system, sizeof(a->pregnant_person_id.system), "%s",
                 NB_SYSTEM_NHS_NUMBER);
        snprintf(a->pregnant_person_id.value, sizeof(a->pregnant_person_id.value), "%s",
                 sc->people[p->mother].nhs);
        if (mn) {
            /* The maternity system's own number for the pregnant person, not the NHS number. */
            int l = sc_local(sc, sc_str(mn));
            if (l < 0)
                return sc_fail(c, mn, "no local identifier called '%s' in 'local_ids'",
                               sc_str(mn) ? sc_str(mn) : "?");
            a->pregnant_person_id = sc->locals[l].id;
        }
        a->expected_delivery_date = p->edd;
    } else if (s.person >= 0) {
        a->date_of_birth = sc->people[s.person].dob;
        /* With a local identifier, the NHS number only when the scenario says so. */
        const char *with = sc_str(sc_get(c, m, "nhs_number"));
        if (!ln || (with && strcmp(with, "true") == 0))
            snprintf(a->nhs_number, sizeof(a->nhs_number), "%s", sc->people[s.person].nhs);
    }
    if (sc_get(c, m, "date_of_birth") &&
        !sc_date(c, sc_get(c, m, "date_of_birth"), "'date_of_birth'", &a->date_of_birth))
        return false;
    char vkey[NB_ID_MAX * 2];
    snprintf(vkey, sizeof(vkey), "%d/%d/%s/%s", s.person, s.pregnancy, agency, id);
    const char *ver = sc_str(sc_get(c, m, "version"));
    a->version = sc_next_version(vs, vkey, ver ? atoi(ver) : 0);
    snprintf(a->event_id, sizeof(a->event_id), "%s-v%d", id, (int)a->version);
    sc_appt_name(sc, a->source.agency, id);
    return true;
}

static const char *const sc_fact_keys[] = {"kind",  "start",    "end",     "status", "id",
                                           "child", "local_id", "version", "mother", NULL};

static bool sc_fact(sc_ctx_t *c, sc_scenario_t *sc, sc_step_t *st, yaml_node_t *m,
                    sc_versions_t *vs, nb_record_t *rec)
{
    if (!sc_keys(c, m, "a fact", sc_fact_keys))
        return false;
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_CONTEXT_FACT;
    nb_context_fact_t *f = &rec->u.fact;
    const char *kind = sc_str(sc_get(c, m, "kind"));
    if (!kind || !nb_fact_kind_parse(kind, &f->kind))
        return sc_fail(c, m, "a fact needs a 'kind' (child_protection_plan, "
                             "unborn_child_protection_plan, looked_after, child_in_need)");
    if (!sc_date(c, sc_get(c, m, "start"), "'start'", &f->start_date))
        return false;
    f->end_date = NB_DATE_NONE;
    if (sc_get(c, m, "end") && !sc_date(c, sc_get(c, m, "end"), "'end'", &f->end_date))
        return false;
    const char *status = sc_str(sc_get(c, m, "status"));
    if (status && !nb_fact_status_parse(status, &f->status))
        return sc_fail(c, sc_get(c, m, "status"), "a fact's status is current or "
                                                  "entered_in_error");
    yaml_node_t *ln = sc_get(c, m, "local_id"), *mn = sc_get(c, m, "mother");
    if (ln) {
        int l = sc_local(sc, sc_str(ln));
        if (l < 0)
            return sc_fail(c, ln, "no local identifier called '%s'", sc_str(ln) ? sc_str(ln) : "?");
        f->local_id = sc->locals[l].id;
    } else if (mn) {
        /* An unborn child's plan, as children's services record it: against the mother. */
        int p = sc_person(sc, sc_str(mn));
        if (p < 0 || !sc->people[p].mother)
            return sc_fail(c, mn, "no mother called '%s' in 'mothers'",
                           sc_str(mn) ? sc_str(mn) : "?");
        snprintf(f->nhs_number, sizeof(f->nhs_number), "%s", sc->people[p].nhs);
    } else {
        sc_subject_t s;
        if (!sc_subject(c, sc, m, true, &s))
            return false;
        if (s.person < 0)
            return sc_fail(c, m, "a fact is about a child (for a pregnancy, name the mother "
                                 "as a child with no date of birth is not supported)");
        snprintf(f->nhs_number, sizeof(f->nhs_number), "%s", sc->people[s.person].nhs);
    }
    const char *id = sc_str(sc_get(c, m, "id"));
    char eid[256];
    snprintf(eid, sizeof(eid), "%s-%s", sc->id, id ? id : kind);
    nb_str_copy(f->event_id, sizeof(f->event_id), eid);
    snprintf(f->source_system, sizeof(f->source_system), "WCCIS");
    snprintf(f->organisation_code, sizeof(f->organisation_code), "W00001");
    f->recorded_at = st->at;
    const char *ver = sc_str(sc_get(c, m, "version"));
    f->version = sc_next_version(vs, f->event_id, ver ? atoi(ver) : 0);
    return true;
}

static const char *const sc_link_keys[] = {"link",       "to", "unlink", "from",
                                           "supersedes", "by", "child",  "unborn_to_child",
                                           "id",         NULL};

static bool sc_link(sc_ctx_t *c, sc_scenario_t *sc, sc_step_t *st, yaml_node_t *m,
                    const char *uniq, nb_record_t *rec)
{
    if (!sc_keys(c, m, "a link", sc_link_keys))
        return false;
    memset(rec, 0, sizeof(*rec));
    rec->type = NB_RECORD_IDENTITY_LINK;
    nb_identity_link_t *l = &rec->u.link;
    l->expected_delivery_date = NB_DATE_NONE;
    const char *child = NULL;
    yaml_node_t *kn;
    if ((kn = sc_get(c, m, "link")) || (kn = sc_get(c, m, "unlink"))) {
        int li = sc_local(sc, sc_str(kn));
        l->kind = sc_get(c, m, "link") ? NB_LINK_LINK : NB_LINK_UNLINK;
        child = sc_str(sc_get(c, m, l->kind == NB_LINK_LINK ? "to" : "from"));
        if (li < 0)
            return sc_fail(c, kn, "no local identifier called '%s'", sc_str(kn) ? sc_str(kn) : "?");
        l->from = sc->locals[li].id;
    } else if ((kn = sc_get(c, m, "supersedes"))) {
        int old = sc_person(sc, sc_str(kn));
        l->kind = NB_LINK_SUPERSEDES;
        child = sc_str(sc_get(c, m, "by"));
        if (old < 0)
            return sc_fail(c, kn, "no child called '%s'", sc_str(kn) ? sc_str(kn) : "?");
        snprintf(l->from.system, sizeof(l->from.system), "%s", NB_SYSTEM_NHS_NUMBER);
        snprintf(l->from.value, sizeof(l->from.value), "%s", sc->people[old].nhs);
    } else if ((kn = sc_get(c, m, "unborn_to_child"))) {
        int p = sc_preg(sc, sc_str(kn));
        l->kind = NB_LINK_UNBORN_TO_CHILD;
        child = sc_str(sc_get(c, m, "child"));
        if (p < 0)
            return sc_fail(c, kn, "no pregnancy called '%s'", sc_str(kn) ? sc_str(kn) : "?");
        snprintf(l->from.system, sizeof(l->from.system), "%s", NB_SYSTEM_NHS_NUMBER);
        snprintf(l->from.value, sizeof(l->from.value), "%s",
                 sc->people[sc->pregnancies[p].mother].nhs);
        l->expected_delivery_date = sc->pregnancies[p].edd;
    } else {
        return sc_fail(c, m, "a link is one of {link: LOCAL, to: CHILD}, {unlink: LOCAL, "
                             "from: CHILD}, {supersedes: OLD, by: NEW}, "
                             "{unborn_to_child: PREGNANCY, child: CHILD}");
    }
    int to = sc_person(sc, child);
    /* A local identifier may be linked to a mother too (a maternity number). */
    if (to < 0 || (sc->people[to].mother && l->kind != NB_LINK_LINK && l->kind != NB_LINK_UNLINK))
        return sc_fail(c, m, "the link names no child of 'children' ('%s')", child ? child : "");
    snprintf(l->to.system, sizeof(l->to.system), "%s", NB_SYSTEM_NHS_NUMBER);
    snprintf(l->to.value, sizeof(l->to.value), "%s", sc->people[to].nhs);
    const char *id = sc_str(sc_get(c, m, "id"));
    char buf[256];
    snprintf(buf, sizeof(buf), "%s-%s-%d", uniq, id ? id : "link", (int)m->start_mark.line + 1);
    nb_str_copy(l->event_id, sizeof(l->event_id), buf);
    l->source.agency = NB_AGENCY_GP;
    snprintf(l->source.system, sizeof(l->source.system), "EMIS Web");
    snprintf(l->source.organisation_code, sizeof(l->source.organisation_code), "W91001");
    l->verification = NB_VERIFICATION_PDS_VERIFIED;
    l->recorded_at = st->at;
    return true;
}

/* ---- expectations --------------------------------------------------------------------------- */

static const char *const sc_expect_keys[] = {
    "rule", "kind", "child", "pregnancy", "tier", "recipients", "evidence", "items",
    "respond_by", "level", "says", NULL};

static bool sc_expectation(sc_ctx_t *c, sc_scenario_t *sc, yaml_node_t *m, sc_expect_t *e)
{
    if (!sc_keys(c, m, "an expectation", sc_expect_keys))
        return false;
    memset(e, 0, sizeof(*e));
    e->line = (int)m->start_mark.line + 1;
    e->tier = e->n_recipients = e->n_evidence = e->n_items = e->level = -1;
    e->respond_by = NB_TIME_NONE;
    const char *kind = sc_str(sc_get(c, m, "kind"));
    e->kind = NB_NOTIFICATION_NEW;
    if (kind && !nb_notification_kind_parse(kind, &e->kind))
        return sc_fail(c, sc_get(c, m, "kind"), "kind is new, escalated, withdrawn, reminder or "
                                                "digest");
    const char *rule = sc_str(sc_get(c, m, "rule"));
    snprintf(e->rule, sizeof(e->rule), "%s", rule ? rule : "");
    e->subj.person = e->subj.pregnancy = -1;
    if (e->kind != NB_NOTIFICATION_DIGEST && !sc_subject(c, sc, m, true, &e->subj))
        return false;
    const char *tier = sc_str(sc_get(c, m, "tier"));
    if (tier) {
        nb_tier_t t;
        if (!nb_tier_parse(tier, &t))
            return sc_fail(c, sc_get(c, m, "tier"), "unknown tier '%s'", tier);
        e->tier = (int)t;
    }
    yaml_node_t *n;
    if ((n = sc_get(c, m, "recipients")) &&
        (e->n_recipients = sc_names(c, n, "recipients", e->recipients)) < 0)
        return false;
    if ((n = sc_get(c, m, "evidence")) &&
        (e->n_evidence = sc_names(c, n, "evidence", e->evidence)) < 0)
        return false;
    if ((n = sc_get(c, m, "items")) && (e->n_items = sc_names(c, n, "items", e->items)) < 0)
        return false;
    if ((n = sc_get(c, m, "respond_by"))) {
        if (sc_str(n) && strcmp(sc_str(n), "none") == 0)
            e->respond_by_none = true;
        else if (!sc_time(c, n, "'respond_by'", &e->respond_by))
            return false;
    }
    if ((n = sc_get(c, m, "level")))
        e->level = atoi(sc_str(n) ? sc_str(n) : "-1");
    if ((n = sc_get(c, m, "says"))) {
        size_t k = n->type == YAML_SEQUENCE_NODE ? sc_len(n) : 1;
        if (k > 4)
            return sc_fail(c, n, "'says' takes at most 4 phrases");
        for (size_t i = 0; i < k; i++) {
            const char *p = sc_str(n->type == YAML_SEQUENCE_NODE ? sc_at(c, n, i) : n);
            if (!p || !p[0])
                return sc_fail(c, n, "'says' is a phrase, or a list of phrases");
            snprintf(e->says[e->n_says++], sizeof(e->says[0]), "%s", p);
        }
    }
    return true;
}

/* ---- a scenario ----------------------------------------------------------------------------- */

static const char *const sc_top_keys[] = {"scenario",    "pending",   "covers",
                                          "dead_letters", "children",  "mothers",
                                          "pregnancies",  "local_ids", "steps",
                                          NULL};
static const char *const sc_step_keys[] = {"at",     "links",  "acks", "facts",
                                           "events", "expect", NULL};

/* The title, what it is pending on, its dead letters and the rules it covers. */
static bool sc_header(sc_ctx_t *c, yaml_node_t *m, sc_scenario_t *sc)
{
    if (!sc_keys(c, m, "a scenario", sc_top_keys))
        return false;
    sc->line = (int)m->start_mark.line + 1;
    const char *title = sc_str(sc_get(c, m, "scenario"));
    if (!title)
        return sc_fail(c, m, "a scenario needs a title ('scenario: ...')");
    snprintf(sc->title, sizeof(sc->title), "%s", title);
    const char *pending = sc_str(sc_get(c, m, "pending"));
    snprintf(sc->pending, sizeof(sc->pending), "%s", pending ? pending : "");
    yaml_node_t *n;
    if ((n = sc_get(c, m, "dead_letters"))) {
        const char *v = sc_str(n);
        char *end = NULL;
        long k = v ? strtol(v, &end, 10) : -1;
        if (!v || !v[0] || *end || k < 0 || k > 100)
            return sc_fail(c, n, "'dead_letters' is a number of records, 0 to 100");
        sc->dead_letters = (int)k;
    }
    if ((n = sc_get(c, m, "covers"))) {
        char names[SC_MAX_NAMES][NB_ID_MAX + 1];
        int k = sc_names(c, n, "covers", names);
        if (k < 0)
            return false;
        for (int i = 0; i < k && i < 8; i++)
            nb_str_copy(sc->covers[sc->n_covers++], NB_ID_MAX + 1, names[i]);
    }
    return true;
}

/* Its people: children (with a date of birth), mothers, pregnancies, local identifiers. */
static bool sc_people(sc_ctx_t *c, yaml_node_t *m, int *nhs_seq, const char *uniq,
                      sc_scenario_t *sc)
{
    yaml_node_t *n;
    const char *groups[] = {"children", "mothers"};
    for (int g = 0; g < 2; g++) {
        yaml_node_t *ps = sc_get(c, m, groups[g]);
        if (!ps)
            continue;
        if (ps->type != YAML_MAPPING_NODE)
            return sc_fail(c, ps, "'%s' maps names to people", groups[g]);
        for (yaml_node_pair_t *p = ps->data.mapping.pairs.start; p < ps->data.mapping.pairs.top;
             p++) {
            const char *name = sc_str(sc_node(c, p->key));
            yaml_node_t *v = sc_node(c, p->value);
            if (!name || sc->n_people == SC_MAX_PEOPLE)
                return sc_fail(c, v, "too many people, or a name that is not text");
            if (sc_person(sc, name) >= 0)
                return sc_fail(c, sc_node(c, p->key), "'%s' is named twice", name);
            sc_person_t *pp = &sc->people[sc->n_people++];
            snprintf(pp->name, sizeof(pp->name), "%s", name);
            *nhs_seq = sc_nhs_number(*nhs_seq, pp->nhs) + 1;
            pp->dob = NB_DATE_NONE;
            pp->mother = g == 1;
            if (g == 0) {
                static const char *const keys[] = {"date_of_birth", NULL};
                if (!sc_keys(c, v, "a child", keys) ||
                    !sc_date(c, sc_get(c, v, "date_of_birth"), "a child's 'date_of_birth'",
                             &pp->dob))
                    return false;
            }
        }
    }
    if ((n = sc_get(c, m, "pregnancies"))) {
        if (n->type != YAML_MAPPING_NODE)
            return sc_fail(c, n, "'pregnancies' maps names to pregnancies");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *name = sc_str(sc_node(c, p->key));
            yaml_node_t *v = sc_node(c, p->value);
            static const char *const keys[] = {"mother", "expected_delivery_date", NULL};
            if (!name || sc->n_pregnancies == SC_MAX_PEOPLE || !sc_keys(c, v, "a pregnancy", keys))
                return sc_fail(c, v, "a pregnancy is {mother: NAME, expected_delivery_date: DATE}");
            if (sc_preg(sc, name) >= 0 || sc_person(sc, name) >= 0)
                return sc_fail(c, sc_node(c, p->key), "'%s' is named twice", name);
            sc_pregnancy_t *pg = &sc->pregnancies[sc->n_pregnancies++];
            snprintf(pg->name, sizeof(pg->name), "%s", name);
            pg->mother = sc_person(sc, sc_str(sc_get(c, v, "mother")));
            if (pg->mother < 0 || !sc->people[pg->mother].mother)
                return sc_fail(c, v, "the pregnancy's mother must be named in 'mothers'");
            if (!sc_date(c, sc_get(c, v, "expected_delivery_date"), "'expected_delivery_date'",
                         &pg->edd))
                return false;
        }
    }
    if ((n = sc_get(c, m, "local_ids"))) {
        if (n->type != YAML_MAPPING_NODE)
            return sc_fail(c, n, "'local_ids' maps names to {system, value}");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *name = sc_str(sc_node(c, p->key));
            yaml_node_t *v = sc_node(c, p->value);
            static const char *const keys[] = {"system", "value", NULL};
            const char *sys = sc_str(sc_get(c, v, "system")), *val = sc_str(sc_get(c, v, "value"));
            if (!name || sc->n_locals == SC_MAX_PEOPLE ||
                !sc_keys(c, v, "a local identifier", keys) || !sys || !val)
                return sc_fail(c, v, "a local identifier is {system: URI, value: TEXT}");
            if (sc_local(sc, name) >= 0)
                return sc_fail(c, sc_node(c, p->key), "'%s' is named twice", name);
            sc_local_t *l = &sc->locals[sc->n_locals++];
            snprintf(l->name, sizeof(l->name), "%s", name);
            snprintf(l->id.system, sizeof(l->id.system), "%s", sys);
            /* Unique per run, so that scenarios can share one daemon. */
            char buf[256];
            snprintf(buf, sizeof(buf), "%s-%s", uniq, val);
            nb_str_copy(l->id.value, sizeof(l->id.value), buf);
        }
    }
    return true;
}

/* The ownership keys of an acknowledgement (docs/inbox.md): intent, user, role, to_queue,
 * to_user, reason. */
static bool sc_ack_v2(sc_ctx_t *c, yaml_node_t *a, sc_ack_t *ack)
{
    const char *intent = sc_str(sc_get(c, a, "intent"));
    ack->intent = NB_ACK_INTENT_CLOSE;
    if (intent && !nb_ack_intent_parse(intent, &ack->intent))
        return sc_fail(c, sc_get(c, a, "intent"), "unknown intent '%s' (take, reassign, close)",
                       intent);
    static const struct {
        const char *key;
        size_t off, cap;
    } strs[] = {
        {"user", offsetof(sc_ack_t, user), NB_ID_MAX + 1},
        {"role", offsetof(sc_ack_t, role), NB_ID_MAX + 1},
        {"to_queue", offsetof(sc_ack_t, to_queue), NB_ID_MAX + 1},
        {"to_user", offsetof(sc_ack_t, to_user), NB_ID_MAX + 1},
        {"reason", offsetof(sc_ack_t, reason), NB_TEXT_MAX + 1},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *v = sc_str(sc_get(c, a, strs[i].key));
        char *dst = (char *)ack + strs[i].off;
        dst[0] = '\0';
        if (v && strlen(v) >= strs[i].cap)
            return sc_fail(c, sc_get(c, a, strs[i].key), "'%s' is too long", strs[i].key);
        if (v)
            snprintf(dst, strs[i].cap, "%s", v);
    }
    return true;
}

/* Step @p i of the scenario, from @p s. */
static bool sc_step(sc_ctx_t *c, sc_scenario_t *sc, yaml_node_t *s, size_t i, const char *uniq,
                    sc_versions_t *vs, const nb_validate_opts_t *vopts)
{
    sc_step_t *st = &sc->steps[sc->n_steps++];
    if (!sc_keys(c, s, "a step", sc_step_keys) ||
        !sc_time(c, sc_get(c, s, "at"), "a step's 'at'", &st->at))
        return false;
    st->line = (int)s->start_mark.line + 1;
    if (i > 0 && st->at < sc->steps[i - 1].at)
        return sc_fail(c, s, "steps must not go back in time");
    st->inputs = calloc(SC_MAX_INPUTS, sizeof(nb_record_t));
    if (!st->inputs)
        return sc_fail(c, s, "out of memory");
    const char *lists[] = {"links", "facts", "events"};
    for (int k = 0; k < 3; k++) {
        yaml_node_t *l = sc_get(c, s, lists[k]);
        if (!l)
            continue;
        if (l->type != YAML_SEQUENCE_NODE)
            return sc_fail(c, l, "'%s' must be a list", lists[k]);
        for (size_t j = 0; j < sc_len(l); j++) {
            yaml_node_t *e = sc_at(c, l, j);
            if (st->n_inputs == SC_MAX_INPUTS)
                return sc_fail(c, e, "more than %d records in one step", SC_MAX_INPUTS);
            nb_record_t *rec = &st->inputs[st->n_inputs];
            bool ok = k == 0   ? sc_link(c, sc, st, e, uniq, rec)
                      : k == 1 ? sc_fact(c, sc, st, e, vs, rec)
                               : sc_event(c, sc, st, e, vs, rec);
            if (!ok)
                return false;
            char why[256];
            /* What the daemon would dead-letter is the scenario's mistake: say so here. */
            if (nb_codec_validate(rec, vopts, st->at, why, sizeof(why)))
                return sc_fail(c, e, "the daemon would refuse this record: %s", why);
            st->input_line[st->n_inputs++] = (int)e->start_mark.line + 1;
        }
    }
    yaml_node_t *al = sc_get(c, s, "acks");
    if (al && (al->type != YAML_SEQUENCE_NODE || sc_len(al) > 4))
        return sc_fail(c, al, "'acks' must be a list (of at most 4)");
    for (size_t j = 0; al && j < sc_len(al); j++) {
        static const char *const keys[] = {"rule",    "child",  "pregnancy", "action",
                                           "intent",  "user",   "role",      "to_queue",
                                           "to_user", "reason", NULL};
        yaml_node_t *a = sc_at(c, al, j);
        sc_ack_t *ack = &st->acks[st->n_acks++];
        const char *rule = sc_str(sc_get(c, a, "rule"));
        const char *action = sc_str(sc_get(c, a, "action"));
        if (!sc_keys(c, a, "an acknowledgement", keys) ||
            !sc_subject(c, sc, a, true, &ack->subj))
            return false;
        if (!rule)
            return sc_fail(c, a, "an acknowledgement names the 'rule' of the notification");
        ack->line = (int)a->start_mark.line + 1;
        snprintf(ack->rule, sizeof(ack->rule), "%s", rule);
        ack->action = NB_ACK_OTHER;
        if (action && !nb_ack_action_parse_any(action, &ack->action))
            return sc_fail(c, sc_get(c, a, "action"), "unknown action '%s'", action);
        if (!sc_ack_v2(c, a, ack))
            return false;
    }
    yaml_node_t *ex = sc_get(c, s, "expect");
    if (ex && ex->type != YAML_SEQUENCE_NODE)
        return sc_fail(c, ex, "'expect' must be a list ([] for no notification)");
    for (size_t j = 0; ex && j < sc_len(ex); j++) {
        if (st->n_expect == SC_MAX_EXPECT)
            return sc_fail(c, ex, "too many expectations in one step");
        if (!sc_expectation(c, sc, sc_at(c, ex, j), &st->expect[st->n_expect++]))
            return false;
    }
    return true;
}

static bool sc_one(sc_ctx_t *c, yaml_node_t *m, int *nhs_seq, const char *uniq,
                   sc_scenario_t *sc)
{
    if (!sc_header(c, m, sc) || !sc_people(c, m, nhs_seq, uniq, sc))
        return false;
    yaml_node_t *steps = sc_get(c, m, "steps");
    if (!steps || steps->type != YAML_SEQUENCE_NODE || sc_len(steps) == 0 ||
        sc_len(steps) > SC_MAX_STEPS)
        return sc_fail(c, m, "a scenario needs 'steps' (1 to %d)", SC_MAX_STEPS);
    sc_versions_t vs;
    memset(&vs, 0, sizeof(vs));
    nb_validate_opts_t vopts;
    nb_validate_opts_default(&vopts);
    for (size_t i = 0; i < sc_len(steps); i++)
        if (!sc_step(c, sc, sc_at(c, steps, i), i, uniq, &vs, &vopts))
            return false;
    return true;
}

void sc_free(sc_scenario_t *sc)
{
    for (size_t i = 0; i < sc->n_steps; i++)
        free(sc->steps[i].inputs);
    sc->n_steps = 0;
}

int sc_load(const char *root, const char *path, int *nhs_seq, const char *uniq,
            sc_scenario_t **out, char *err, size_t err_size)
{
    char full[1024];
    snprintf(full, sizeof(full), "%s/%s", root, path);
    FILE *f = fopen(full, "rb");
    *out = NULL;
    if (!f) {
        snprintf(err, err_size, "%s: cannot open", path);
        return -1;
    }
    yaml_parser_t parser;
    sc_ctx_t c;
    memset(&c, 0, sizeof(c));
    c.file = path;
    c.err = err;
    c.err_size = err_size;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &c.doc)) {
        snprintf(err, err_size, "%s:%d:%d: %s", path, (int)parser.problem_mark.line + 1,
                 (int)parser.problem_mark.column + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    yaml_node_t *root_node = yaml_document_get_root_node(&c.doc);
    yaml_node_t *list = sc_get(&c, root_node, "scenarios");
    size_t n = list ? sc_len(list) : 1;
    sc_scenario_t *v = calloc(n ? n : 1, sizeof(*v));
    int rc = -1;
    if (!v || !root_node || (list && list->type != YAML_SEQUENCE_NODE) || n == 0) {
        sc_fail(&c, root_node, "a scenario file holds one scenario, or a list under "
                               "'scenarios:'");
        goto out;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    for (size_t i = 0; i < n; i++) {
        sc_scenario_t *sc = &v[i];
        snprintf(sc->file, sizeof(sc->file), "%s", path);
        snprintf(sc->id, sizeof(sc->id), "%.*s%s", (int)(strlen(base) - 5), base, "");
        if (n > 1)
            snprintf(sc->id + strlen(sc->id), sizeof(sc->id) - strlen(sc->id), "#%zu", i + 1);
        char u[64];
        snprintf(u, sizeof(u), "%s.%zu", uniq, i);
        if (!sc_one(&c, list ? sc_at(&c, list, i) : root_node, nhs_seq, u, sc)) {
            for (size_t j = 0; j <= i; j++)
                sc_free(&v[j]);
            goto out;
        }
    }
    *out = v;
    v = NULL;
    rc = (int)n;
out:
    free(v);
    yaml_document_delete(&c.doc);
    return rc;
}
