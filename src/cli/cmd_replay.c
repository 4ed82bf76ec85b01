/*
 * notbrought replay: backtest a policy over recorded events, and compare two policies.
 *
 * This file reads the input (record files, or JSON lines of readable events, facts, identity
 * links and clock steps), orders it, and prints what each policy did; replay_run.c replays
 * it as the daemon would (identity, ledger, policy, notification lifecycle, timers).
 */
#include "cli/commands.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/replay.h"
#include "notbrought/identity.h"
#include "notbrought/ledger.h"
#include "notbrought/ops.h"
#include "notbrought/policy.h"

static const char nb__replay_help[] =
    "usage: notbrought replay --policy FILE [--policy FILE...] [--compare FILE...]\n"
    "                         [--now TIME] [--limit N] [--timezone ZONE] [--json]\n"
    "                         [--emit-notifications FILE] [--hmac-key-file FILE]\n"
    "                         [--park-retention-ms N] EVENTS...\n"
    "\n"
    "Backtests a policy (base file, then overlays, each after --policy) over recorded events\n"
    "as the daemon would handle them, and prints how many notifications each rule would have\n"
    "raised, escalated and withdrawn, and how many decisions each shadow rule made. With\n"
    "--compare (the other policy's files, each after --compare: the base again, then the\n"
    "overlays) it replays under both and reports, for each child and each decision (a rule on\n"
    "the same evidence: the same notification in both runs), what changes: raised with one\n"
    "policy only, tier, recipients added or removed, respond-by, escalation ladder (rungs:\n"
    "roles, tier, when), escalations sent by the end, withdrawn with one policy only; with\n"
    "totals per kind of change, per rule and overall.\n"
    "\n"
    "EVENTS are record files (JSON lines with base64 Avro values, as 'notbrought generate'\n"
    "writes: appointments, context facts and identity links) or JSON lines of readable\n"
    "events, facts, identity links and clock steps, one object per line, e.g.\n"
    "  {\"nhs_number\":\"9990001234\",\"agency\":\"gp\",\"id\":\"a1\",\"type\":\"immunisation\",\n"
    "   "
    "\"at\":\"2025-03-03T09:30Z\",\"status\":\"was_not_brought\",\"date_of_birth\":\"2021-05-01\"}"
    "\n"
    "  "
    "{\"nhs_number\":\"9990001234\",\"fact\":\"child_protection_plan\",\"start\":\"2024-06-01\"}\n"
    "  "
    "{\"link\":\"link\",\"from\":{\"system\":\"urn:emis\",\"value\":\"E1\"},\"to\":\"9990001234\"}"
    "\n"
    "  {\"clock\":\"2025-03-10T09:00Z\"}\n"
    "  {\"acknowledge\":\"wnb_child_on_plan\",\"nhs_number\":\"9990001234\",\"action\":\"seen\"}\n"
    "  {\"acknowledge\":\"wnb_child_on_plan\",\"nhs_number\":\"9990001234\",\"intent\":\"take\",\n"
    "   \"user\":\"staff-7\",\"role\":\"named_nurse\"}\n"
    "An acknowledgement acts on the latest notification of the rule for the child, as the\n"
    "daemon decides an action (docs/inbox.md): \"intent\" take, reassign (\"to_queue\",\n"
    "\"to_user\", \"reason\") or close (the default; \"action\", and \"reason\" for\n"
    "no_further_action); \"user\" and \"role\" say who acts. One that fails validation is\n"
    "counted invalid and not applied.\n"
    "Identity is resolved as the daemon does (NHS number; local identifiers through links;\n"
    "pregnancies; supersessions and unborn-to-child links merge histories). Items are\n"
    "replayed in the order they were recorded; in a file with clock lines, in file order,\n"
    "each at the clock of the line before it. Output shows NHS numbers masked.\n"
    "\n"
    "  --now TIME   move the clock to TIME at the end (default: the latest item): timers\n"
    "               (absence deadlines, escalations, digests) due by then fire\n"
    "  --limit N    list at most N changed children, and N decisions a child (default 50;\n"
    "               text only: the JSON report lists them all)\n"
    "  --timezone ZONE\n"
    "               Europe/London (default: GMT or BST) or UTC: the zone of the times shown,\n"
    "               as notify.timezone sets it for the notification text\n"
    "  --json, --format json|text\n"
    "               print the report as one JSON document (default: text):\n"
    "                 {\"replayed\": {items, children, until, timezone}, \"not_applied\": {...},\n"
    "                  \"acknowledged\": {...}, \"policy\": {name, version, sha256},\n"
    "                  \"compare\": {name, version, sha256},\n"
    "                  \"rules\": [{rule, policy: COUNTS|null, compare: COUNTS|null,\n"
    "                             changes: KINDS}],\n"
    "                  \"digests\": {policy, compare},\n"
    "                  \"changes\": {notifications: {policy, compare, in_both, differ},\n"
    "                              by_kind: KINDS, children_changed, children_total,\n"
    "                              children: [{child, decisions: [DECISION]}]}}\n"
    "               COUNTS {tier, shadow, raised, escalated, withdrawn, shadow_decisions};\n"
    "               KINDS {only_policy, only_compare, tier, recipients, respond_by, ladder,\n"
    "               escalations, withdrawn}: numbers of decisions; DECISION {rule, evidence:\n"
    "               {appointments, latest, deadline}, changes: [kind...], recipients: {added,\n"
    "               removed}, policy: SIDE|null, compare: SIDE|null}; SIDE {raised, tier,\n"
    "               recipients, respond_by, ladder: [{roles, tier, due}], escalations,\n"
    "               withdrawn}; times {at (UTC, ISO 8601), local} or null. Without --compare:\n"
    "               no \"compare\", \"changes\" or per-rule \"changes\"\n"
    "  --emit-notifications FILE\n"
    "               write every notification the policy would publish (new, escalated,\n"
    "               withdrawn, digest) to FILE as a record file (topic notifications), as\n"
    "               the daemon would publish them; 'notbrought decode FILE' shows them. The\n"
    "               file holds NHS numbers, as the notifications topic does.\n"
    "  --hmac-key-file FILE\n"
    "               the deployment's pseudonymisation key (identity.hmac_key_file): children\n"
    "               are keyed, and notifications given the ids and references, that the\n"
    "               daemon gives them (default: replay's own key)\n"
    "  --park-retention-ms N\n"
    "               identity.park_retention_ms (default: the daemon's, 30 days): an event\n"
    "               that waits this long for an identity link expires, as the daemon\n"
    "               dead-letters it, and is reported as expired\n"
    "\n"
    "Not simulated: the sources' watermark. Replay has read every source up to its clock\n"
    "whenever the clock moves, so absence deadlines are judged at the clock, as the daemon\n"
    "judges them once its sources are read to their end; the daemon holds one back while a\n"
    "source is read behind the clock (a backlog), which the events do not record.\n";

typedef struct nb__replay_s {
    nb__item_t *items;
    size_t n, cap;
    size_t invalid, other;
    int64_t latest;
    bool scripted;     /* the file being read has clock lines */
    int64_t clock;     /* its clock */
    nb_codec_t *codec;
    nb_validate_opts_t vopts;
    int64_t validate_now; /* --now, or the wall clock (as 'decode' validates) */
} nb__replay_t;

static nb__item_t *nb__push(nb__replay_t *r, nb__item_kind_t kind, int64_t recorded)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        nb__item_t *v = realloc(r->items, cap * sizeof(*v));
        if (!v)
            return NULL;
        r->items = v;
        r->cap = cap;
    }
    nb__item_t *it = &r->items[r->n];
    memset(it, 0, sizeof(*it));
    it->seq = r->n++;
    it->kind = kind;
    it->at = r->scripted && kind != NB__ITEM_CLOCK ? r->clock : recorded;
    if (it->at > r->latest)
        r->latest = it->at;
    return it;
}

static int nb__add_appt(nb__replay_t *r, const nb_appointment_event_t *a)
{
    nb__item_t *it = nb__push(r, NB__ITEM_APPT, a->recorded_at);
    if (!it)
        return -1;
    it->u.appt = *a;
    return 0;
}

static int nb__add_fact(nb__replay_t *r, const nb_context_fact_t *f)
{
    nb__item_t *it = nb__push(r, NB__ITEM_FACT, f->recorded_at);
    if (!it)
        return -1;
    it->u.fact = *f;
    return 0;
}

static int nb__add_link(nb__replay_t *r, const nb_identity_link_t *l)
{
    nb__item_t *it = nb__push(r, NB__ITEM_LINK, l->recorded_at);
    if (!it)
        return -1;
    it->u.link = *l;
    return 0;
}

static int nb__record_cb(void *opaque, const char *topic, const char *key, const void *value,
                         size_t len, int64_t ts)
{
    nb__replay_t *r = opaque;
    nb_record_t rec;
    char errstr[256];
    (void)topic;
    (void)key;
    (void)ts;
    if (nb_codec_decode(r->codec, value, len, NB_RECORD_NONE, &rec, errstr, sizeof(errstr)) ||
        nb_codec_validate(&rec, &r->vopts, r->validate_now, errstr, sizeof(errstr))) {
        r->invalid++;
        return 0;
    }
    if (rec.type == NB_RECORD_APPOINTMENT)
        return nb__add_appt(r, &rec.u.appt);
    if (rec.type == NB_RECORD_CONTEXT_FACT)
        return nb__add_fact(r, &rec.u.fact);
    if (rec.type == NB_RECORD_IDENTITY_LINK)
        return nb__add_link(r, &rec.u.link);
    r->other++;
    return 0;
}

/* An identifier given as {"system": ..., "value": ...}, or as a string (an NHS number).
 * @returns true when absent or well-formed. */
static bool nb__json_ident(json_t *v, nb_identifier_t *id)
{
    memset(id, 0, sizeof(*id));
    if (!v || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        char norm[NB_NHS_LEN + 1];
        if (nb_nhs_normalise(json_string_value(v), norm))
            return false;
        nb_str_copy(id->system, sizeof(id->system), NB_SYSTEM_NHS_NUMBER);
        nb_str_copy(id->value, sizeof(id->value), norm);
        return true;
    }
    const char *sys = json_string_value(json_object_get(v, "system"));
    const char *val = json_string_value(json_object_get(v, "value"));
    if (!json_is_object(v) || !sys || !val || !sys[0] || !val[0] ||
        strlen(sys) > NB_SYSTEM_MAX || strlen(val) > NB_ID_MAX)
        return false;
    nb_str_copy(id->system, sizeof(id->system), sys);
    nb_str_copy(id->value, sizeof(id->value), val);
    return true;
}

/* An identity link line. @returns 0, or -1 with a reason. */
static int nb__json_link(nb__replay_t *r, json_t *o, const char *kind, char *why, size_t size)
{
    nb_identity_link_t l;
    memset(&l, 0, sizeof(l));
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *edd = json_string_value(json_object_get(o, "expected_delivery_date"));
    const char *rec = json_string_value(json_object_get(o, "recorded"));
    const char *ver = json_string_value(json_object_get(o, "verification"));
    if (!nb_link_kind_parse(kind, &l.kind)) {
        snprintf(why, size, "'link' must be link, unlink, supersedes or unborn_to_child");
        return -1;
    }
    if (!nb__json_ident(json_object_get(o, "from"), &l.from) ||
        !nb__json_ident(json_object_get(o, "to"), &l.to) || !l.from.system[0] ||
        !l.to.system[0]) {
        snprintf(why, size, "a link needs 'from' and 'to' (an NHS number, or an object with "
                            "'system' and 'value')");
        return -1;
    }
    l.expected_delivery_date = NB_DATE_NONE;
    if (edd && !nb_parse_date(edd, &l.expected_delivery_date)) {
        snprintf(why, size, "'expected_delivery_date' is not a date");
        return -1;
    }
    l.verification = NB_VERIFICATION_LOCALLY_VERIFIED;
    if (ver && !nb_verification_parse(ver, &l.verification)) {
        snprintf(why, size, "unknown verification");
        return -1;
    }
    l.recorded_at = r->scripted ? r->clock : 0;
    if (rec && !nb_parse_time(rec, &l.recorded_at)) {
        snprintf(why, size, "'recorded' is not a time");
        return -1;
    }
    snprintf(l.event_id, sizeof(l.event_id), "%.60s", id ? id : "");
    if (!id)
        snprintf(l.event_id, sizeof(l.event_id), "replay-link-%zu", r->n);
    l.source.agency = NB_AGENCY_OTHER;
    snprintf(l.source.system, sizeof(l.source.system), "replay");
    return nb__add_link(r, &l);
}

/* An acknowledgement line (of rule @p ack). @returns 0, or -1 with a reason. */
static int nb__json_ack(nb__replay_t *r, json_t *o, const char *ack, char *why, size_t size)
{
    const char *nhs = json_string_value(json_object_get(o, "nhs_number"));
    const char *preg = json_string_value(json_object_get(o, "pregnant_person"));
    const char *edd = json_string_value(json_object_get(o, "expected_delivery_date"));
    const char *when = json_string_value(json_object_get(o, "recorded"));
    int64_t at = r->clock;
    if (when ? !nb_parse_time(when, &at) : !r->scripted) {
        snprintf(why, size, "an acknowledgement needs 'recorded' (a time), or a clock line "
                            "before it");
        return -1;
    }
    nb_record_t rec;
    char errstr[256];
    rec.type = NB_RECORD_ACK;
    if (nb__json_ack_action(o, at, &rec.u.ack, why, size))
        return -1;
    /* What the daemon dead-letters (a close with no_further_action without a reason, a
     * reassignment without a target) is not applied: counted as invalid, as records are. */
    if (nb_codec_validate(&rec, &r->vopts, r->validate_now, errstr, sizeof(errstr))) {
        r->invalid++;
        return 0;
    }
    nb__item_t *it = nb__push(r, NB__ITEM_ACK, at);
    if (!it)
        return -1;
    nb__replay_ack_t *a = &it->u.ack;
    nb_str_copy(a->rule, sizeof(a->rule), ack);
    a->ack = rec.u.ack;
    a->subject.date_of_birth = a->subject.expected_delivery_date = NB_DATE_NONE;
    if (preg && edd && nb_parse_date(edd, &a->subject.expected_delivery_date)) {
        a->subject.subject_kind = NB_SUBJECT_UNBORN;
        nb_str_copy(a->subject.pregnant_person_id.system,
                    sizeof(a->subject.pregnant_person_id.system), NB_SYSTEM_NHS_NUMBER);
        nb_str_copy(a->subject.pregnant_person_id.value,
                    sizeof(a->subject.pregnant_person_id.value), preg);
    } else if (!nhs || nb_nhs_normalise(nhs, a->subject.nhs_number)) {
        snprintf(why, size, "an acknowledgement needs nhs_number, or pregnant_person and "
                            "expected_delivery_date");
        return -1;
    }
    return 0;
}

/* A context fact line (of kind @p fact), for the subject @p norm or @p local. @returns 0, or
 * -1 with a reason. */
static int nb__json_fact(nb__replay_t *r, json_t *o, const char *fact, const char *norm,
                         const nb_identifier_t *local, int version, char *why, size_t size)
{
    const char *rec = json_string_value(json_object_get(o, "recorded"));
    nb_context_fact_t f;
    memset(&f, 0, sizeof(f));
    const char *start = json_string_value(json_object_get(o, "start"));
    const char *end = json_string_value(json_object_get(o, "end"));
    const char *status = json_string_value(json_object_get(o, "status"));
    if (!nb_fact_kind_parse(fact, &f.kind) || !start || !nb_parse_date(start, &f.start_date)) {
        snprintf(why, size, "a fact needs a known 'fact' kind and a 'start' date");
        return -1;
    }
    f.end_date = NB_DATE_NONE;
    if (end && !nb_parse_date(end, &f.end_date)) {
        snprintf(why, size, "'end' is not a date");
        return -1;
    }
    if (status && !nb_fact_status_parse(status, &f.status)) {
        snprintf(why, size, "a fact's 'status' is current or entered_in_error");
        return -1;
    }
    snprintf(f.nhs_number, sizeof(f.nhs_number), "%s", norm);
    f.local_id = *local;
    snprintf(f.event_id, sizeof(f.event_id), "%.60s",
             json_string_value(json_object_get(o, "id")) ? json_string_value(
                                                               json_object_get(o, "id"))
                                                         : fact);
    /* The system that recorded it: the notification text names it ("the child protection
     * plan (WCCIS) was entered in error"). */
    const char *source = json_string_value(json_object_get(o, "source"));
    const char *org = json_string_value(json_object_get(o, "org"));
    if ((source && (!source[0] || strlen(source) > NB_SYSTEM_MAX)) ||
        (org && strlen(org) > NB_ORG_MAX)) {
        snprintf(why, size, "a fact's 'source' is 1 to %d characters, its 'org' at most %d",
                 NB_SYSTEM_MAX, NB_ORG_MAX);
        return -1;
    }
    nb_str_copy(f.source_system, sizeof(f.source_system), source ? source : "replay");
    nb_str_copy(f.organisation_code, sizeof(f.organisation_code), org ? org : "");
    f.version = (int32_t)version;
    f.recorded_at = r->scripted ? r->clock : (int64_t)f.start_date * NB_MS_PER_DAY;
    if (rec && !nb_parse_time(rec, &f.recorded_at)) {
        snprintf(why, size, "'recorded' is not a time");
        return -1;
    }
    return nb__add_fact(r, &f);
}

/* An appointment event line, for the subject @p norm or @p local. @returns 0, or -1 with a
 * reason. */
static int nb__json_appt(nb__replay_t *r, json_t *o, const char *norm,
                         const nb_identifier_t *local, int version, char *why, size_t size)
{
    const char *rec = json_string_value(json_object_get(o, "recorded"));
    nb_appointment_event_t a;
    memset(&a, 0, sizeof(a));
    const char *agency = json_string_value(json_object_get(o, "agency"));
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *at = json_string_value(json_object_get(o, "at"));
    const char *status = json_string_value(json_object_get(o, "status"));
    if (!agency || !id || !type || !at || !status || !nb_agency_parse(agency, &a.source.agency) ||
        !nb_status_parse(status, &a.status) || !nb_parse_time(at, &a.scheduled_start) ||
        strlen(id) > 40 || strlen(type) > NB_TYPE_MAX) {
        snprintf(why, size, "an event needs agency, id, type, at (ISO time) and status");
        return -1;
    }
    const char *mode = json_string_value(json_object_get(o, "mode"));
    a.contact_mode = NB_CONTACT_FACE_TO_FACE;
    if (mode && !nb_contact_mode_parse(mode, &a.contact_mode)) {
        snprintf(why, size, "unknown mode");
        return -1;
    }
    a.mandated_contact = json_is_true(json_object_get(o, "mandated"));
    snprintf(a.appointment_id, sizeof(a.appointment_id), "%s", id);
    snprintf(a.appointment_type, sizeof(a.appointment_type), "%s", type);
    a.version = (int32_t)version;
    snprintf(a.event_id, sizeof(a.event_id), "%s-v%d", id, (int)a.version);
    a.recorded_at = r->scripted ? r->clock : a.scheduled_start;
    if (rec && !nb_parse_time(rec, &a.recorded_at)) {
        snprintf(why, size, "'recorded' is not a time");
        return -1;
    }
    const char *org = json_string_value(json_object_get(o, "org"));
    snprintf(a.source.organisation_code, sizeof(a.source.organisation_code), "%s",
             org ? org : "");
    snprintf(a.nhs_number, sizeof(a.nhs_number), "%s", norm);
    a.local_id = *local;
    a.date_of_birth = a.expected_delivery_date = NB_DATE_NONE;
    const char *dob = json_string_value(json_object_get(o, "date_of_birth"));
    const char *edd = json_string_value(json_object_get(o, "expected_delivery_date"));
    /* The pregnant person: her NHS number, or a local identifier (a maternity number) as
     * {"system": ..., "value": ...}, which a link may join to her NHS number. */
    json_t *preg = json_object_get(o, "pregnant_person");
    if (dob)
        nb_parse_date(dob, &a.date_of_birth);
    a.subject_kind = NB_SUBJECT_CHILD;
    if (preg && edd && nb_parse_date(edd, &a.expected_delivery_date)) {
        a.subject_kind = NB_SUBJECT_UNBORN;
        if (!nb__json_ident(preg, &a.pregnant_person_id) || !a.pregnant_person_id.system[0]) {
            snprintf(why, size, "'pregnant_person' needs an NHS number, or 'system' and 'value'");
            return -1;
        }
    }
    if (!a.nhs_number[0] && !a.local_id.system[0] && a.subject_kind != NB_SUBJECT_UNBORN) {
        snprintf(why, size, "an event needs nhs_number, local_id, or pregnant_person and "
                            "expected_delivery_date");
        return -1;
    }
    return nb__add_appt(r, &a);
}

/* One readable JSON event, fact, identity link or clock step. @returns 0, or -1 with a
 * reason. */
static int nb__json_line(nb__replay_t *r, json_t *o, char *why, size_t size)
{
    const char *nhs = json_string_value(json_object_get(o, "nhs_number"));
    const char *fact = json_string_value(json_object_get(o, "fact"));
    const char *clock = json_string_value(json_object_get(o, "clock"));
    const char *link = json_string_value(json_object_get(o, "link"));
    char norm[NB_NHS_LEN + 1] = "";
    nb_identifier_t local;
    if (clock) {
        int64_t t;
        if (!nb_parse_time(clock, &t)) {
            snprintf(why, size, "'clock' is not a time");
            return -1;
        }
        if (r->scripted && t < r->clock) {
            snprintf(why, size, "the clock must not go back");
            return -1;
        }
        r->scripted = true;
        r->clock = t;
        return nb__push(r, NB__ITEM_CLOCK, t) ? 0 : -1;
    }
    if (link)
        return nb__json_link(r, o, link, why, size);
    const char *ack = json_string_value(json_object_get(o, "acknowledge"));
    if (ack)
        return nb__json_ack(r, o, ack, why, size);
    if (nhs && nb_nhs_normalise(nhs, norm)) {
        snprintf(why, size, "nhs_number is not 10 digits");
        return -1;
    }
    if (!nb__json_ident(json_object_get(o, "local_id"), &local)) {
        snprintf(why, size, "'local_id' needs 'system' and 'value'");
        return -1;
    }
    int version = json_integer_value(json_object_get(o, "version")) > 0
                      ? (int)json_integer_value(json_object_get(o, "version"))
                      : 1;
    if (version > NB_VERSION_MAX) {
        snprintf(why, size, "'version' is more than %d", NB_VERSION_MAX);
        return -1;
    }
    if (fact)
        return nb__json_fact(r, o, fact, norm, &local, version, why, size);
    return nb__json_appt(r, o, norm, &local, version, why, size);
}

static int nb__read_events(nb__replay_t *r, const char *path)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    bool recfile = false, decided = false;
    if (!fp) {
        perror(path);
        return -1;
    }
    r->scripted = false;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (len == 0 || line[0] == '\n' || line[0] == '#')
            continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        if (!o || !json_is_object(o)) {
            fprintf(stderr, "%s:%d:%d: %s\n", path, lineno, o ? 1 : jerr.column,
                    o ? "not a JSON object" : jerr.text);
            json_decref(o);
            rc = -1;
            break;
        }
        if (!decided) {
            recfile = json_object_get(o, "topic") && json_object_get(o, "value");
            decided = true;
        }
        if (recfile) {
            json_decref(o);
            break;
        }
        char why[200];
        if (nb__json_line(r, o, why, sizeof(why))) {
            fprintf(stderr, "%s:%d:1: %s\n", path, lineno, why);
            json_decref(o);
            rc = -1;
            break;
        }
        json_decref(o);
    }
    free(line);
    fclose(fp);
    if (rc == 0 && recfile) {
        char errstr[512] = "";
        if (nb_recfile_read(path, nb__record_cb, r, errstr, sizeof(errstr))) {
            fprintf(stderr, "notbrought replay: %s\n", errstr[0] ? errstr : "out of memory");
            return -1;
        }
    }
    return rc;
}

static int nb__cmp_item(const void *a, const void *b)
{
    const nb__item_t *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void nb__print_counts(const nb__outcome_t *a, const nb__outcome_t *b)
{
    if (!b) {
        printf("%-32s %-9s %9s %10s %10s\n", "rule", "tier", "raised", "escalated",
               "withdrawn");
        for (size_t k = 0; k < a->n_rules; k++) {
            const nb_policy_rule_info_t *r = nb_policy_rule(a->pol, k);
            printf("%-32s %-9s %9ld %10ld %10ld%s\n", r->id, nb_tier_name(r->tier),
                   r->shadow ? a->shadow[k] : a->raised[k], a->escalated[k], a->withdrawn[k],
                   r->shadow ? "  (shadow: never notified)" : "");
        }
        if (a->digests)
            printf("%ld digest notifications gathered the low-tier ones\n", a->digests);
        return;
    }
    printf("%-32s %10s %10s %8s\n", "rule", "policy", "compare", "change");
    for (size_t k = 0; k < a->n_rules; k++) {
        const nb_policy_rule_info_t *r = nb_policy_rule(a->pol, k);
        const nb_policy_rule_info_t *o = nb_policy_rule_find(b->pol, r->id);
        long mine = r->shadow ? a->shadow[k] : a->raised[k], other = 0;
        for (size_t j = 0; o && j < b->n_rules; j++)
            if (nb_policy_rule(b->pol, j) == o)
                other = o->shadow ? b->shadow[j] : b->raised[j];
        char ob[16];
        snprintf(ob, sizeof(ob), o ? "%ld" : "-", other);
        printf("%-32s %10ld %10s %+8ld%s%s\n", r->id, mine, ob, other - mine,
               r->shadow ? "  (shadow)" : "", o ? "" : "  (not in the compared policy)");
    }
    for (size_t j = 0; j < b->n_rules; j++) {
        const nb_policy_rule_info_t *o = nb_policy_rule(b->pol, j);
        long other = o->shadow ? b->shadow[j] : b->raised[j];
        if (!nb_policy_rule_find(a->pol, o->id))
            printf("%-32s %10s %10ld %+8ld%s  (only in the compared policy)\n", o->id, "-",
                   other, other, o->shadow ? "  (shadow)" : "");
    }
}

/* identity.park_retention_ms as the daemon has it by default. */
static int64_t nb__default_park_retention(void)
{
    nb_config_t *conf = nb_config_new();
    int64_t ms = conf ? conf->park_retention_ms : (int64_t)30 * NB_MS_PER_DAY;
    nb_config_destroy(conf);
    return ms;
}

/* The deployment's key from @p path, as the daemon reads identity.hmac_key_file (trailing
 * blanks and line ends are not part of it), into @p key (@p size bytes: wiped by the caller).
 * @returns 0, or -1 after saying why, without the key. */
static int nb__read_key(const char *path, char *key, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t n = fread(key, 1, size - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    while (n && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' '))
        n--;
    key[n] = '\0';
    if (more || n < 16 || n > 511) {
        fprintf(stderr, "notbrought replay: --hmac-key-file %s: the key must be 16 to 511 "
                        "characters\n", path);
        return -1;
    }
    return 0;
}

/* The command line. */
typedef struct nb__replay_args_s {
    char *pfiles[NB_POLICY_MAX_FILES], *cfiles[NB_POLICY_MAX_FILES];
    int np, nc, limit;
    int64_t now;
    const char *emit_path;
    const char *key_path; /* --hmac-key-file */
    int64_t park_retention_ms;
    char *events[64];
    int ne;
    bool json;
    nb_notify_zone_t zone;
} nb__replay_args_t;

/* @returns -1, after the usage. */
static int nb__usage(void)
{
    fprintf(stderr, "notbrought replay: invalid arguments\n\n%s", nb__replay_help);
    return -1;
}

/* An option's value that is wrong: say which and what it takes. @returns -1. */
static int nb__bad_value(const char *opt, const char *value, const char *takes)
{
    char shown[64];
    nb_text_escape(shown, sizeof(shown), value);
    fprintf(stderr, "notbrought replay: %s '%s': %s\n", opt, shown, takes);
    return -1;
}

/* The value of the option at argv[*i] (moving past it), or NULL when there is none. */
static const char *nb__value(int argc, char **argv, int *i)
{
    return *i + 1 < argc ? argv[++*i] : NULL;
}

/* One option with a value. @returns 0, or -1 (a message was printed). */
static int nb__replay_opt(nb__replay_args_t *ra, const char *opt, const char *v)
{
    char *endp;
    if (strcmp(opt, "--policy") == 0 && ra->np < NB_POLICY_MAX_FILES) {
        ra->pfiles[ra->np++] = (char *)v;
    } else if (strcmp(opt, "--compare") == 0 && ra->nc < NB_POLICY_MAX_FILES) {
        ra->cfiles[ra->nc++] = (char *)v;
    } else if (strcmp(opt, "--now") == 0) {
        if (!nb_parse_time(v, &ra->now))
            return nb__bad_value(opt, v, "not a time (ISO 8601, e.g. 2025-03-10T09:00Z)");
    } else if (strcmp(opt, "--limit") == 0) {
        long n = strtol(v, &endp, 10);
        if (!v[0] || *endp || n < 0 || n > 1000000)
            return nb__bad_value(opt, v, "a whole number from 0 to 1000000");
        ra->limit = (int)n;
    } else if (strcmp(opt, "--emit-notifications") == 0) {
        ra->emit_path = v;
    } else if (strcmp(opt, "--hmac-key-file") == 0) {
        ra->key_path = v;
    } else if (strcmp(opt, "--park-retention-ms") == 0) {
        long long n = strtoll(v, &endp, 10);
        if (!v[0] || *endp || n < 1000 || n > 0x7fffffffffffLL)
            return nb__bad_value(opt, v, "milliseconds, from 1000 to 140737488355327");
        ra->park_retention_ms = (int64_t)n;
    } else if (strcmp(opt, "--format") == 0) {
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
            return nb__bad_value(opt, v, "text or json");
        ra->json = strcmp(v, "json") == 0;
    } else if (strcmp(opt, "--timezone") == 0) {
        if (!nb_notify_zone_parse(v, &ra->zone))
            return nb__bad_value(opt, v, "Europe/London or UTC");
    } else {
        return nb__usage(); /* a --policy or --compare file too many */
    }
    return 0;
}

/* @returns 0, 1 for --help, or -1 (a message was printed). */
static int nb__replay_args(int argc, char **argv, nb__replay_args_t *ra)
{
    static const char *const with_value[] = {
        "--policy",   "--compare", "--now",           "--limit",
        "--timezone", "--format",  "--emit-notifications", "--hmac-key-file",
        "--park-retention-ms"};
    memset(ra, 0, sizeof(*ra));
    ra->limit = 50;
    ra->park_retention_ms = nb__default_park_retention();
    ra->now = NB_TIME_NONE;
    ra->zone = NB_NOTIFY_ZONE_EUROPE_LONDON;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool valued = false;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
            valued = valued || strcmp(a, with_value[k]) == 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strcmp(a, "--json") == 0) {
            ra->json = true;
        } else if (valued) {
            const char *v = nb__value(argc, argv, &i);
            if (!v)
                return nb__usage();
            if (nb__replay_opt(ra, a, v))
                return -1;
        } else if (a[0] == '-' && a[1]) {
            return nb__usage();
        } else if (ra->ne == 64) {
            fprintf(stderr, "notbrought replay: at most 64 EVENTS files\n");
            return -1;
        } else {
            ra->events[ra->ne++] = argv[i];
        }
    }
    return ra->np == 0 || ra->ne == 0 ? nb__usage() : 0;
}

/* What was replayed, under which policies, and the counts per rule, as text. */
static void nb__print_text(const nb__report_t *rep)
{
    const nb__outcome_t *a = rep->a, *b = rep->b;
    char endbuf[32] = "-";
    if (rep->end != NB_TIME_NONE)
        nb_format_time(rep->end, endbuf, sizeof(endbuf));
    printf("replayed %zu events, facts and links for %zu children and pregnancies, until %s\n",
           rep->items, a->n_children, endbuf);
    printf("not applied: %zu waiting for an identity link, %zu expired waiting for one, %zu "
           "refused (identity conflicts, invalid identifiers), %zu identity links refused, %zu "
           "invalid, %zu other records\n",
           a->parked, a->expired, a->refused, a->links_refused, rep->invalid, rep->other);
    if (a->acks || a->acks_unmatched)
        printf("acknowledged: %zu notifications; %zu acknowledgements named no notification\n",
               a->acks, a->acks_unmatched);
    printf("policy %s %s (sha256 %.12s)", nb_policy_info(a->pol)->name,
           nb_policy_info(a->pol)->version, nb_policy_info(a->pol)->hash);
    if (b)
        printf("; compared with %s %s (sha256 %.12s)", nb_policy_info(b->pol)->name,
               nb_policy_info(b->pol)->version, nb_policy_info(b->pol)->hash);
    printf("\n\n");
    nb__print_counts(a, b);
    if (rep->diff)
        nb__report_changes_text(stdout, rep);
}

/* Replays the items under each policy and prints the report. @returns an NB_EXIT_* status. */
static int nb__replay_report(nb__replay_t *r, const nb__replay_args_t *ra,
                             const nb__replay_conf_t *conf, nb__outcome_t *a, nb__outcome_t *b)
{
    char errstr[1024];
    FILE *emit = NULL;
    nb__diff_t diff;
    memset(&diff, 0, sizeof(diff));
    if (ra->emit_path && !(emit = fopen(ra->emit_path, "w"))) {
        perror(ra->emit_path);
        return NB_EXIT_SOFTWARE;
    }
    qsort(r->items, r->n, sizeof(*r->items), nb__cmp_item);
    int64_t end = ra->now != NB_TIME_NONE ? ra->now : r->latest;
    a->record = b->record = b->pol != NULL; /* the notes are for the comparison */
    int failed =
        nb__replay_run(a, conf, r->items, r->n, end, r->codec, emit, errstr,
                       sizeof(errstr)) ||
        (b->pol && nb__replay_run(b, conf, r->items, r->n, end, r->codec, NULL, errstr,
                                  sizeof(errstr)));
    if (emit && fclose(emit) != 0 && !failed) {
        perror(ra->emit_path);
        return NB_EXIT_SOFTWARE;
    }
    if (!failed && b->pol && nb__replay_diff(a, b, &diff)) {
        snprintf(errstr, sizeof(errstr), "out of memory");
        failed = 1;
    }
    if (failed) {
        fprintf(stderr, "notbrought replay: %s\n", errstr);
        return NB_EXIT_SOFTWARE;
    }
    nb__report_t rep = {a,        b->pol ? b : NULL, b->pol ? &diff : NULL, ra->zone, ra->limit,
                        r->n,     r->invalid,        r->other,              end};
    int rc = NB_EXIT_OK;
    if (!ra->json)
        nb__print_text(&rep);
    else if (nb__report_json(stdout, &rep)) {
        fprintf(stderr, "notbrought replay: the JSON report could not be written\n");
        rc = NB_EXIT_SOFTWARE;
    }
    nb__replay_diff_free(&diff);
    return rc;
}

int nb__cmd_replay(int argc, char **argv)
{
    nb__replay_args_t ra;
    int parsed = nb__replay_args(argc, argv, &ra);
    if (parsed) {
        if (parsed > 0)
            fputs(nb__replay_help, stdout);
        return parsed > 0 ? NB_EXIT_OK : NB_EXIT_USAGE;
    }
    nb__outcome_t a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    char errstr[1024];
    if (nb_policy_load((const char *const *)ra.pfiles, (size_t)ra.np, NULL, NULL, &a.pol, errstr,
                       sizeof(errstr))) {
        fprintf(stderr, "notbrought replay: %s\n", errstr);
        return NB_EXIT_FAILURE;
    }
    if (ra.nc && nb_policy_load((const char *const *)ra.cfiles, (size_t)ra.nc, NULL, NULL,
                                &b.pol, errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought replay: --compare: %s\n", errstr);
        nb_policy_destroy(a.pol);
        return NB_EXIT_FAILURE;
    }
    char key[1024];
    nb__replay_conf_t conf = {NULL, 0, ra.park_retention_ms};
    if (ra.key_path) {
        if (nb__read_key(ra.key_path, key, sizeof(key))) {
            OPENSSL_cleanse(key, sizeof(key));
            nb_policy_destroy(a.pol);
            nb_policy_destroy(b.pol);
            return NB_EXIT_FAILURE;
        }
        conf.secret = key;
        conf.secret_len = strlen(key);
    }
    nb__replay_t r;
    memset(&r, 0, sizeof(r));
    r.latest = NB_TIME_NONE;
    nb_validate_opts_default(&r.vopts);
    r.validate_now = ra.now != NB_TIME_NONE ? ra.now : nb__cli_now();
    nb_registry_t *reg = NULL;
    int rc = NB_EXIT_OK;
    if (nb__cli_codec(&reg, &r.codec)) {
        rc = NB_EXIT_SOFTWARE;
        goto out;
    }
    for (int i = 0; i < ra.ne && rc == NB_EXIT_OK; i++)
        if (nb__read_events(&r, ra.events[i]))
            rc = NB_EXIT_FAILURE;
    if (rc == NB_EXIT_OK)
        rc = nb__replay_report(&r, &ra, &conf, &a, &b);
out:
    OPENSSL_cleanse(key, sizeof(key)); /* no stray copy of the secret */
    nb__cli_codec_free(reg, r.codec);
    free(r.items);
    nb__replay_outcome_free(&a);
    nb__replay_outcome_free(&b);
    nb_policy_destroy(a.pol);
    nb_policy_destroy(b.pol);
    return rc;
}
