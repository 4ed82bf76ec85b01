/*
 * The clinical scenario suite: checking published notifications against a scenario, and the
 * scenario as replay input (scenario.h).
 */
#include "scenario.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- checking ------------------------------------------------------------------------------- */

bool sc_subject_of(const sc_scenario_t *sc, const nb_notification_t *n,
                            sc_subject_t *s)
{
    s->person = s->pregnancy = -1;
    if (n->nhs_number[0]) {
        for (size_t i = 0; i < sc->n_people; i++)
            if (strcmp(sc->people[i].nhs, n->nhs_number) == 0)
                s->person = (int)i;
        return s->person >= 0;
    }
    for (size_t i = 0; i < sc->n_pregnancies; i++) {
        const sc_pregnancy_t *p = &sc->pregnancies[i];
        if (strcmp(sc->people[p->mother].nhs, n->pregnant_person_nhs) == 0 &&
            (n->expected_delivery_date == NB_DATE_NONE || n->expected_delivery_date == p->edd))
            s->pregnancy = (int)i;
    }
    return s->pregnancy >= 0;
}

bool sc_is_about(const sc_scenario_t *sc, const nb_notification_t *n, const sc_subject_t *s)
{
    sc_subject_t t;
    return sc_subject_of(sc, n, &t) && t.person == s->person && t.pregnancy == s->pregnancy;
}

bool sc_digest_mine(const sc_scenario_t *sc, const nb_notification_t *n, size_t i)
{
    for (size_t k = 0; k < sc->n_people; k++)
        if (strcmp(sc->people[k].nhs, n->items[i].nhs_number) == 0)
            return true;
    return false;
}

const char *sc_evidence_name(const sc_scenario_t *sc, const char *hashed)
{
    for (size_t i = 0; i < sc->n_appts; i++)
        if (strcmp(sc->appts[i].hashed, hashed) == 0)
            return sc->appts[i].name;
    return hashed;
}

static bool sc_same_set(char (*want)[NB_ID_MAX + 1], int n_want, const char *const *have,
                        size_t n_have)
{
    if ((size_t)n_want != n_have)
        return false;
    for (int i = 0; i < n_want; i++) {
        bool found = false;
        for (size_t j = 0; j < n_have && !found; j++)
            found = strcmp(want[i], have[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* The notification's evidence, recipients and digest items by the scenario's names. */
typedef struct sc_view_s {
    const char *recipients[NB_NOTIF_MAX_RECIPIENTS];
    size_t n_recipients;
    const char *evidence[NB_NOTIF_MAX_EVIDENCE];
    size_t n_evidence;
    const char *items[NB_NOTIF_MAX_ITEMS];
    size_t n_items;
    sc_subject_t subj;
} sc_view_t;

static void sc_view(const sc_scenario_t *sc, const nb_notification_t *n, sc_view_t *v)
{
    memset(v, 0, sizeof(*v));
    for (size_t i = 0; i < n->n_recipients; i++)
        v->recipients[v->n_recipients++] = n->recipients[i].role;
    for (size_t i = 0; i < n->n_evidence; i++)
        v->evidence[v->n_evidence++] = sc_evidence_name(sc, n->evidence[i].appointment_id);
    for (size_t i = 0; i < n->n_items; i++)
        if (sc_digest_mine(sc, n, i))
            v->items[v->n_items++] = n->items[i].rule_id;
    sc_subject_of(sc, n, &v->subj);
}

/* @p phrase in @p text, ignoring case. */
static bool sc_contains(const char *text, const char *phrase)
{
    size_t n = strlen(phrase);
    for (const char *p = text; *p; p++)
        if (strncasecmp(p, phrase, n) == 0)
            return true;
    return n == 0;
}

static bool sc_matches(const sc_scenario_t *sc, const sc_expect_t *e, const nb_notification_t *n)
{
    sc_view_t v;
    sc_view(sc, n, &v);
    if (n->kind != e->kind || (e->rule[0] && strcmp(e->rule, n->rule_id) != 0))
        return false;
    if (e->kind != NB_NOTIFICATION_DIGEST &&
        (v.subj.person != e->subj.person || v.subj.pregnancy != e->subj.pregnancy))
        return false;
    if (e->tier >= 0 && (int)n->tier != e->tier)
        return false;
    if (e->n_recipients >= 0 &&
        !sc_same_set((char(*)[NB_ID_MAX + 1])e->recipients, e->n_recipients, v.recipients,
                     v.n_recipients))
        return false;
    if (e->n_evidence >= 0 &&
        !sc_same_set((char(*)[NB_ID_MAX + 1])e->evidence, e->n_evidence, v.evidence,
                     v.n_evidence))
        return false;
    if (e->n_items >= 0 &&
        !sc_same_set((char(*)[NB_ID_MAX + 1])e->items, e->n_items, v.items, v.n_items))
        return false;
    if (e->respond_by != NB_TIME_NONE && n->respond_by != e->respond_by)
        return false;
    if (e->respond_by_none && n->respond_by != NB_TIME_NONE)
        return false;
    if (e->level >= 0 && n->escalation_level != e->level)
        return false;
    for (int i = 0; i < e->n_says; i++)
        if (!sc_contains(n->rule_text, e->says[i]) && !sc_contains(n->action, e->says[i]))
            return false;
    return true;
}

void sc_put(sc_out_t *o, const char *fmt, ...)
{
    if (o->len + 1 >= o->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->len = o->len + (size_t)k < o->size ? o->len + (size_t)k : o->size - 1;
}

static void sc_list(sc_out_t *o, const char *const *v, size_t n)
{
    sc_put(o, "[");
    for (size_t i = 0; i < n; i++)
        sc_put(o, "%s%s", i ? ", " : "", v[i]);
    sc_put(o, "]");
}

const char *sc_subject_name(const sc_scenario_t *sc, const sc_subject_t *s)
{
    return s->person >= 0      ? sc->people[s->person].name
           : s->pregnancy >= 0 ? sc->pregnancies[s->pregnancy].name
                               : "?";
}

void sc_describe_seen(sc_out_t *o, const sc_scenario_t *sc, const nb_notification_t *n)
{
    sc_view_t v;
    char t[32];
    sc_view(sc, n, &v);
    sc_put(o, "{kind: %s, rule: %s", nb_notification_kind_name(n->kind), n->rule_id);
    if (n->kind != NB_NOTIFICATION_DIGEST)
        sc_put(o, ", %s: %s", v.subj.person >= 0 ? "child" : "pregnancy",
               sc_subject_name(sc, &v.subj));
    sc_put(o, ", tier: %s, recipients: ", nb_tier_name(n->tier));
    sc_list(o, v.recipients, v.n_recipients);
    if (n->kind == NB_NOTIFICATION_DIGEST) {
        sc_put(o, ", items: ");
        sc_list(o, v.items, v.n_items);
    } else {
        sc_put(o, ", evidence: ");
        sc_list(o, v.evidence, v.n_evidence);
    }
    if (n->respond_by != NB_TIME_NONE) {
        nb_format_time(n->respond_by, t, sizeof(t));
        sc_put(o, ", respond_by: \"%s\"", t);
    }
    sc_put(o, ", level: %d, text: \"%.120s / %.200s\"}", (int)n->escalation_level,
           n->rule_text, n->action);
}

static void sc_describe_expect(sc_out_t *o, const sc_scenario_t *sc, const sc_expect_t *e)
{
    char t[32];
    sc_put(o, "line %d: {kind: %s", e->line, nb_notification_kind_name(e->kind));
    if (e->rule[0])
        sc_put(o, ", rule: %s", e->rule);
    if (e->kind != NB_NOTIFICATION_DIGEST)
        sc_put(o, ", %s: %s", e->subj.person >= 0 ? "child" : "pregnancy",
               sc_subject_name(sc, &e->subj));
    if (e->tier >= 0)
        sc_put(o, ", tier: %s", nb_tier_name((nb_tier_t)e->tier));
    const char *names[SC_MAX_NAMES];
    if (e->n_recipients >= 0) {
        for (int i = 0; i < e->n_recipients; i++)
            names[i] = e->recipients[i];
        sc_put(o, ", recipients: ");
        sc_list(o, names, (size_t)e->n_recipients);
    }
    if (e->n_evidence >= 0) {
        for (int i = 0; i < e->n_evidence; i++)
            names[i] = e->evidence[i];
        sc_put(o, ", evidence: ");
        sc_list(o, names, (size_t)e->n_evidence);
    }
    if (e->n_items >= 0) {
        for (int i = 0; i < e->n_items; i++)
            names[i] = e->items[i];
        sc_put(o, ", items: ");
        sc_list(o, names, (size_t)e->n_items);
    }
    if (e->respond_by != NB_TIME_NONE) {
        nb_format_time(e->respond_by, t, sizeof(t));
        sc_put(o, ", respond_by: \"%s\"", t);
    }
    if (e->respond_by_none)
        sc_put(o, ", respond_by: none");
    if (e->level >= 0)
        sc_put(o, ", level: %d", e->level);
    for (int i = 0; i < e->n_says; i++)
        sc_put(o, ", says: \"%s\"", e->says[i]);
    sc_put(o, "}");
}

/* How many fields an expectation pins down: the most specific are matched first. */
static int sc_weight(const sc_expect_t *e)
{
    return (e->tier >= 0) + (e->n_recipients >= 0) + (e->n_evidence >= 0) + (e->n_items >= 0) +
           (e->respond_by != NB_TIME_NONE) + e->respond_by_none + (e->level >= 0);
}

bool sc_check(const sc_scenario_t *sc, sc_seen_t *seen, size_t n_seen, char *report,
              size_t report_size)
{
    sc_out_t o = {report, report_size, 0};
    bool ok = true;
    report[0] = '\0';
    /* Only what is about this scenario's people. */
    for (size_t i = 0; i < n_seen; i++) {
        sc_subject_t s;
        sc_view_t v;
        seen[i].used = true;
        if (seen[i].n.kind == NB_NOTIFICATION_DIGEST) {
            sc_view(sc, &seen[i].n, &v);
            seen[i].used = v.n_items == 0;
        } else if (sc_subject_of(sc, &seen[i].n, &s)) {
            seen[i].used = false;
        }
    }
    for (size_t k = 0; k < sc->n_steps; k++) {
        const sc_step_t *st = &sc->steps[k];
        bool step_ok = true;
        size_t order[SC_MAX_EXPECT];
        for (size_t j = 0; j < st->n_expect; j++)
            order[j] = j;
        for (size_t a = 1; a < st->n_expect; a++)
            for (size_t b = a; b > 0 && sc_weight(&st->expect[order[b]]) >
                                            sc_weight(&st->expect[order[b - 1]]);
                 b--) {
                size_t t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        bool missing[SC_MAX_EXPECT] = {false};
        for (size_t j = 0; j < st->n_expect; j++) {
            const sc_expect_t *e = &st->expect[order[j]];
            bool found = false;
            for (size_t i = 0; i < n_seen && !found; i++) {
                if (seen[i].used || seen[i].n.created_at != st->at ||
                    !sc_matches(sc, e, &seen[i].n))
                    continue;
                seen[i].used = found = true;
            }
            missing[order[j]] = !found;
            step_ok = step_ok && found;
        }
        bool extra = false;
        for (size_t i = 0; i < n_seen; i++)
            extra = extra || (!seen[i].used && seen[i].n.created_at == st->at);
        if (step_ok && !extra)
            continue;
        ok = false;
        char t[32];
        nb_format_time(st->at, t, sizeof(t));
        sc_put(&o, "\n  %s:%d: step at %s:", sc->file, st->line, t);
        for (size_t j = 0; j < st->n_expect; j++) {
            if (!missing[j])
                continue;
            sc_put(&o, "\n    expected, not published: ");
            sc_describe_expect(&o, sc, &st->expect[j]);
        }
        for (size_t i = 0; i < n_seen; i++) {
            if (seen[i].n.created_at != st->at)
                continue;
            sc_put(&o, "\n    %s ",
                   seen[i].used ? "published as expected:" : "published, not expected:");
            sc_describe_seen(&o, sc, &seen[i].n);
            seen[i].used = true;
        }
    }
    for (size_t i = 0; i < n_seen; i++) {
        if (seen[i].used)
            continue;
        char t[32];
        nb_format_time(seen[i].n.created_at, t, sizeof(t));
        sc_put(&o, "\n  %s: published at %s, which is no step's time: ", sc->file, t);
        sc_describe_seen(&o, sc, &seen[i].n);
        ok = false;
    }
    return ok;
}

/* ---- replay input --------------------------------------------------------------------------- */

static json_t *sc_json_time(int64_t t)
{
    char buf[32];
    nb_format_time(t, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *sc_json_date(int32_t d)
{
    char buf[16];
    nb_format_date(d, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *sc_json_ident(const nb_identifier_t *id)
{
    if (strcmp(id->system, NB_SYSTEM_NHS_NUMBER) == 0)
        return json_string(id->value);
    return json_pack("{s:s, s:s}", "system", id->system, "value", id->value);
}

int sc_write_replay(const sc_scenario_t *sc, FILE *f)
{
    for (size_t k = 0; k < sc->n_steps; k++) {
        const sc_step_t *st = &sc->steps[k];
        json_t *line = json_pack("{s:o}", "clock", sc_json_time(st->at));
        json_dumpf(line, f, JSON_COMPACT);
        fputc('\n', f);
        json_decref(line);
        /* Links first, then acknowledgements, then facts and events (the daemon's order). */
        size_t n_links = 0;
        while (n_links < st->n_inputs && st->inputs[n_links].type == NB_RECORD_IDENTITY_LINK)
            n_links++;
        for (size_t i = 0; i <= st->n_inputs; i++) {
            if (i == n_links) {
                for (size_t k2 = 0; k2 < st->n_acks; k2++) {
                    const sc_ack_t *a = &st->acks[k2];
                    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "acknowledge",
                                          a->rule, "action", nb_ack_action_name(a->action),
                                          "intent", nb_ack_intent_name(a->intent), "user", a->user,
                                          "role", a->role[0] ? a->role : "scenario", "to_queue",
                                          a->to_queue, "to_user", a->to_user, "reason", a->reason);
                    if (a->subj.person >= 0) {
                        json_object_set_new(o, "nhs_number",
                                            json_string(sc->people[a->subj.person].nhs));
                    } else {
                        const sc_pregnancy_t *p = &sc->pregnancies[a->subj.pregnancy];
                        json_object_set_new(o, "pregnant_person",
                                            json_string(sc->people[p->mother].nhs));
                        json_object_set_new(o, "expected_delivery_date", sc_json_date(p->edd));
                    }
                    int rc = json_dumpf(o, f, JSON_COMPACT);
                    json_decref(o);
                    if (rc || fputc('\n', f) == EOF)
                        return -1;
                }
            }
            if (i == st->n_inputs)
                break;
            const nb_record_t *rec = &st->inputs[i];
            json_t *o = json_object();
            if (rec->type == NB_RECORD_IDENTITY_LINK) {
                const nb_identity_link_t *l = &rec->u.link;
                json_object_set_new(o, "link", json_string(nb_link_kind_name(l->kind)));
                json_object_set_new(o, "id", json_string(l->event_id));
                json_object_set_new(o, "from", sc_json_ident(&l->from));
                json_object_set_new(o, "to", sc_json_ident(&l->to));
                if (l->expected_delivery_date != NB_DATE_NONE)
                    json_object_set_new(o, "expected_delivery_date",
                                        sc_json_date(l->expected_delivery_date));
                json_object_set_new(o, "verification",
                                    json_string(nb_verification_name(l->verification)));
            } else if (rec->type == NB_RECORD_CONTEXT_FACT) {
                const nb_context_fact_t *fa = &rec->u.fact;
                json_object_set_new(o, "fact", json_string(nb_fact_kind_name(fa->kind)));
                json_object_set_new(o, "id", json_string(fa->event_id));
                if (fa->nhs_number[0])
                    json_object_set_new(o, "nhs_number", json_string(fa->nhs_number));
                if (fa->local_id.system[0])
                    json_object_set_new(o, "local_id", sc_json_ident(&fa->local_id));
                json_object_set_new(o, "start", sc_json_date(fa->start_date));
                if (fa->end_date != NB_DATE_NONE)
                    json_object_set_new(o, "end", sc_json_date(fa->end_date));
                json_object_set_new(o, "status", json_string(nb_fact_status_name(fa->status)));
                json_object_set_new(o, "version", json_integer(fa->version));
                json_object_set_new(o, "source", json_string(fa->source_system));
                json_object_set_new(o, "org", json_string(fa->organisation_code));
            } else {
                const nb_appointment_event_t *a = &rec->u.appt;
                json_object_set_new(o, "agency", json_string(nb_agency_name(a->source.agency)));
                json_object_set_new(o, "id", json_string(a->appointment_id));
                json_object_set_new(o, "type", json_string(a->appointment_type));
                json_object_set_new(o, "at", sc_json_time(a->scheduled_start));
                json_object_set_new(o, "status", json_string(nb_status_name(a->status)));
                json_object_set_new(o, "version", json_integer(a->version));
                json_object_set_new(o, "mandated", json_boolean(a->mandated_contact));
                json_object_set_new(o, "mode", json_string(nb_contact_mode_name(a->contact_mode)));
                json_object_set_new(o, "org", json_string(a->source.organisation_code));
                json_object_set_new(o, "recorded", sc_json_time(a->recorded_at));
                if (a->nhs_number[0])
                    json_object_set_new(o, "nhs_number", json_string(a->nhs_number));
                if (a->local_id.system[0])
                    json_object_set_new(o, "local_id", sc_json_ident(&a->local_id));
                if (a->date_of_birth != NB_DATE_NONE)
                    json_object_set_new(o, "date_of_birth", sc_json_date(a->date_of_birth));
                if (a->subject_kind == NB_SUBJECT_UNBORN) {
                    json_object_set_new(o, "pregnant_person",
                                        sc_json_ident(&a->pregnant_person_id));
                    json_object_set_new(o, "expected_delivery_date",
                                        sc_json_date(a->expected_delivery_date));
                }
            }
            int rc = json_dumpf(o, f, JSON_COMPACT);
            json_decref(o);
            if (rc || fputc('\n', f) == EOF)
                return -1;
        }
    }
    return 0;
}
