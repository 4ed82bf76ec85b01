/*
 * notbrought replay: backtest a policy over recorded events, and compare two policies.
 *
 * Children are joined on NHS number, and unborn children on the pregnancy (the pregnant
 * person's identifier + the expected delivery date) only: the identity crosswalk is the
 * daemon's job, so events that carry only a local identifier are counted and skipped.
 * Events are replayed in the order they were recorded; each child is evaluated when one of
 * its events arrives and once more at the end (--now), as the notify module would see it:
 * new decisions are remembered as raised, withdrawn ones forgotten.
 */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/ledger.h"
#include "notbrought/policy.h"

static const char nb__replay_help[] =
    "usage: notbrought replay --policy FILE [--policy FILE...] [--compare FILE...]\n"
    "                         [--now TIME] [--limit N] EVENTS...\n"
    "\n"
    "Backtests a policy (base file, then overlays, each after --policy) over recorded events\n"
    "and prints how many notifications each rule would have raised and withdrawn, and how\n"
    "many decisions each shadow rule made. With --compare (the other policy's files, each\n"
    "after --compare) it also lists the children who would gain or lose notifications.\n"
    "\n"
    "EVENTS are record files (JSON lines with base64 Avro values, as 'notbrought generate'\n"
    "writes) or JSON lines of readable events, one object per line, e.g.\n"
    "  {\"nhs_number\":\"9990001234\",\"agency\":\"gp\",\"id\":\"a1\",\"type\":\"immunisation\",\n"
    "   \"at\":\"2025-03-03T09:30Z\",\"status\":\"was_not_brought\",\"date_of_birth\":\"2021-05-01\"}\n"
    "  {\"nhs_number\":\"9990001234\",\"fact\":\"child_protection_plan\",\"start\":\"2024-06-01\"}\n"
    "Children are joined on NHS number (unborn children on the pregnancy) only; output shows\n"
    "NHS numbers masked.\n"
    "\n"
    "  --now TIME   evaluate every child a last time at TIME (default: the latest event)\n"
    "  --limit N    list at most N changed children (default 50)\n";

typedef struct nb__item_s {
    int64_t at; /* when it was recorded: the replay order */
    uint64_t seq;
    size_t child;
    bool is_fact;
    union {
        nb_appointment_event_t appt;
        nb_context_fact_t fact;
    } u;
} nb__item_t;

typedef struct nb__child_s {
    char key[NB_KEY_MAX + 1]; /* "nhs:<number>" or "preg:<id>:<edd>" */
} nb__child_t;

typedef struct nb__replay_s {
    nb__item_t *items;
    size_t n, cap;
    char (*keys)[NB_KEY_MAX + 1]; /* per item, before children are numbered */
    size_t skipped_local, invalid, other;
    int64_t latest;
    nb_codec_t *codec;
    nb_validate_opts_t vopts;
    int64_t validate_now; /* --now, or the wall clock (as 'decode' validates) */
} nb__replay_t;

static nb__item_t *nb__push(nb__replay_t *r, const char *key)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        nb__item_t *v = realloc(r->items, cap * sizeof(*v));
        if (!v)
            return NULL;
        r->items = v;
        char(*k)[NB_KEY_MAX + 1] = realloc(r->keys, cap * sizeof(*k));
        if (!k)
            return NULL;
        r->keys = k;
        r->cap = cap;
    }
    snprintf(r->keys[r->n], sizeof(r->keys[0]), "%s", key);
    nb__item_t *it = &r->items[r->n];
    memset(it, 0, sizeof(*it));
    it->seq = r->n++;
    return it;
}

/* The join key of an appointment, or "" when it has none replay can use. */
static void nb__appt_key(const nb_appointment_event_t *a, char *key, size_t size)
{
    key[0] = '\0';
    if (a->subject_kind == NB_SUBJECT_UNBORN && a->pregnant_person_id.value[0] &&
        a->expected_delivery_date != NB_DATE_NONE) {
        char edd[16];
        nb_format_date(a->expected_delivery_date, edd, sizeof(edd));
        snprintf(key, size, "preg:%.20s:%s", a->pregnant_person_id.value, edd);
    } else if (a->nhs_number[0]) {
        snprintf(key, size, "nhs:%s", a->nhs_number);
    }
}

static int nb__add_appt(nb__replay_t *r, const nb_appointment_event_t *a)
{
    char key[NB_KEY_MAX + 1];
    nb__appt_key(a, key, sizeof(key));
    if (!key[0]) {
        r->skipped_local++;
        return 0;
    }
    nb__item_t *it = nb__push(r, key);
    if (!it)
        return -1;
    it->u.appt = *a;
    it->at = a->recorded_at;
    if (it->at > r->latest)
        r->latest = it->at;
    return 0;
}

static int nb__add_fact(nb__replay_t *r, const nb_context_fact_t *f)
{
    char key[NB_KEY_MAX + 1];
    if (!f->nhs_number[0]) {
        r->skipped_local++;
        return 0;
    }
    snprintf(key, sizeof(key), "nhs:%s", f->nhs_number);
    nb__item_t *it = nb__push(r, key);
    if (!it)
        return -1;
    it->is_fact = true;
    it->u.fact = *f;
    it->at = f->recorded_at;
    if (it->at > r->latest)
        r->latest = it->at;
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
    r->other++;
    return 0;
}

/* One readable JSON event or fact. @returns 0, or -1 with a reason. */
static int nb__json_line(nb__replay_t *r, json_t *o, char *why, size_t size)
{
    const char *nhs = json_string_value(json_object_get(o, "nhs_number"));
    const char *fact = json_string_value(json_object_get(o, "fact"));
    char norm[NB_NHS_LEN + 1] = "";
    if (nhs && nb_nhs_normalise(nhs, norm)) {
        snprintf(why, size, "nhs_number is not 10 digits");
        return -1;
    }
    if (fact) {
        nb_context_fact_t f;
        memset(&f, 0, sizeof(f));
        const char *start = json_string_value(json_object_get(o, "start"));
        const char *end = json_string_value(json_object_get(o, "end"));
        if (!nb_fact_kind_parse(fact, &f.kind) || !start || !nb_parse_date(start, &f.start_date)) {
            snprintf(why, size, "a fact needs a known 'fact' kind and a 'start' date");
            return -1;
        }
        f.end_date = NB_DATE_NONE;
        if (end && !nb_parse_date(end, &f.end_date)) {
            snprintf(why, size, "'end' is not a date");
            return -1;
        }
        snprintf(f.nhs_number, sizeof(f.nhs_number), "%s", norm);
        snprintf(f.event_id, sizeof(f.event_id), "%s",
                 json_string_value(json_object_get(o, "id")) ? json_string_value(
                                                                   json_object_get(o, "id"))
                                                             : fact);
        snprintf(f.source_system, sizeof(f.source_system), "replay");
        f.version = json_integer_value(json_object_get(o, "version")) > 0
                        ? (int32_t)json_integer_value(json_object_get(o, "version"))
                        : 1;
        f.recorded_at = (int64_t)f.start_date * NB_MS_PER_DAY;
        return nb__add_fact(r, &f);
    }
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
    a.version = json_integer_value(json_object_get(o, "version")) > 0
                    ? (int32_t)json_integer_value(json_object_get(o, "version"))
                    : 1;
    snprintf(a.event_id, sizeof(a.event_id), "%s-v%d", id, (int)a.version);
    const char *rec = json_string_value(json_object_get(o, "recorded"));
    a.recorded_at = a.scheduled_start;
    if (rec && !nb_parse_time(rec, &a.recorded_at)) {
        snprintf(why, size, "'recorded' is not a time");
        return -1;
    }
    const char *org = json_string_value(json_object_get(o, "org"));
    snprintf(a.source.organisation_code, sizeof(a.source.organisation_code), "%s",
             org ? org : "");
    snprintf(a.nhs_number, sizeof(a.nhs_number), "%s", norm);
    a.date_of_birth = a.expected_delivery_date = NB_DATE_NONE;
    const char *dob = json_string_value(json_object_get(o, "date_of_birth"));
    const char *edd = json_string_value(json_object_get(o, "expected_delivery_date"));
    const char *preg = json_string_value(json_object_get(o, "pregnant_person"));
    if (dob)
        nb_parse_date(dob, &a.date_of_birth);
    a.subject_kind = NB_SUBJECT_CHILD;
    if (preg && edd && nb_parse_date(edd, &a.expected_delivery_date)) {
        a.subject_kind = NB_SUBJECT_UNBORN;
        snprintf(a.pregnant_person_id.system, sizeof(a.pregnant_person_id.system), "%s",
                 NB_SYSTEM_NHS_NUMBER);
        snprintf(a.pregnant_person_id.value, sizeof(a.pregnant_person_id.value), "%s", preg);
    }
    return nb__add_appt(r, &a);
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

static int nb__cmp_key(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Results of replaying one policy. */
typedef struct nb__outcome_s {
    nb_policy_t *pol;
    size_t n_rules;
    long *raised;    /* per rule */
    long *withdrawn; /* per rule */
    uint16_t *per_child; /* [child * n_rules + rule]: notifications raised */
} nb__outcome_t;

static void nb__evaluate(nb__outcome_t *o, nb_ledger_t *led, size_t child, const char *key,
                         int64_t now, nb_policy_result_t *res)
{
    nb_policy_subject_t subj = {key, NB_DATE_NONE, NB_DATE_NONE, false, NB_TIME_NONE};
    size_t nd, nr;
    if (nb_policy_evaluate(o->pol, led, &subj, now, res))
        return;
    const nb_policy_decision_t *ds = nb_policy_result_decisions(res, &nd);
    const nb_policy_raised_status_t *rs = nb_policy_result_raised(res, &nr);
    uint8_t gone[NB_LEDGER_MAX_RAISED][NB_LEDGER_ID_BYTES];
    size_t n_gone = 0;
    for (size_t i = 0; i < nr; i++) {
        if (rs[i].support != NB_POLICY_WITHDRAWN)
            continue;
        for (size_t k = 0; k < o->n_rules; k++)
            if (rs[i].rule == nb_policy_rule(o->pol, k))
                o->withdrawn[k]++;
        memcpy(gone[n_gone++], rs[i].raised->id, NB_LEDGER_ID_BYTES);
    }
    nb_ledger_raised_t add[NB_POLICY_MAX_DECISIONS];
    size_t n_add = 0;
    for (size_t i = 0; i < nd; i++) {
        if (ds[i].state != NB_POLICY_NEW)
            continue;
        for (size_t k = 0; k < o->n_rules; k++) {
            if (ds[i].rule == nb_policy_rule(o->pol, k)) {
                o->raised[k]++;
                uint16_t *c = &o->per_child[child * o->n_rules + k];
                if (*c < UINT16_MAX)
                    (*c)++;
            }
        }
        /* Shadow decisions are remembered too, so that they are counted once, like live. */
        nb_policy_decision_to_raised(&ds[i], &add[n_add++]);
    }
    for (size_t i = 0; i < n_gone; i++)
        nb_ledger_remove_raised(led, gone[i]);
    for (size_t i = 0; i < n_add; i++)
        nb_ledger_add_raised(led, &add[i]);
}

static int nb__replay_one(nb__outcome_t *o, const nb__replay_t *r, const nb__child_t *children,
                          size_t n_children, int64_t end)
{
    nb_ledger_dict_t *dict = nb_ledger_dict_new();
    nb_ledger_t **leds = calloc(n_children ? n_children : 1, sizeof(*leds));
    nb_policy_result_t *res = nb_policy_result_new();
    int rc = 0;
    o->n_rules = nb_policy_rule_count(o->pol);
    o->raised = calloc(o->n_rules + 1, sizeof(long));
    o->withdrawn = calloc(o->n_rules + 1, sizeof(long));
    o->per_child = calloc(n_children * o->n_rules + 1, sizeof(uint16_t));
    if (!dict || !leds || !res || !o->raised || !o->withdrawn || !o->per_child) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < r->n; i++) {
        const nb__item_t *it = &r->items[i];
        nb_ledger_t **led = &leds[it->child];
        if (!*led && !(*led = nb_ledger_new(dict))) {
            rc = -1;
            goto out;
        }
        nb_ledger_change_t ch = NB_LEDGER_UNCHANGED;
        nb_err_t err = it->is_fact ? nb_ledger_apply_fact(*led, &it->u.fact, &ch)
                                   : nb_ledger_apply(*led, &it->u.appt, &ch);
        if (err || ch == NB_LEDGER_UNCHANGED)
            continue;
        nb_ledger_prune(*led, nb_policy_horizon(o->pol, it->at));
        nb__evaluate(o, *led, it->child, children[it->child].key, it->at, res);
    }
    for (size_t c = 0; c < n_children; c++)
        if (leds[c])
            nb__evaluate(o, leds[c], c, children[c].key, end, res);
out:
    for (size_t c = 0; leds && c < n_children; c++)
        nb_ledger_destroy(leds[c]);
    free(leds);
    nb_policy_result_destroy(res);
    nb_ledger_dict_destroy(dict);
    return rc;
}

/* "******1234", or for a pregnancy "pregnancy ******1234 EDD 2025-06-01"; escaped (the
 * identifiers come from the events file). */
static void nb__mask_key(const char *key, char *out, size_t size)
{
    char raw[128];
    if (strncmp(key, "nhs:", 4) == 0) {
        size_t n = strlen(key + 4);
        snprintf(raw, sizeof(raw), "child ******%s", key + 4 + (n > 4 ? n - 4 : 0));
    } else {
        const char *id = key + 5, *colon = strrchr(key, ':');
        int idlen = colon ? (int)(colon - id) : (int)strlen(id);
        snprintf(raw, sizeof(raw), "pregnancy ******%.4s EDD %.16s",
                 idlen > 4 ? id + idlen - 4 : id, colon ? colon + 1 : "?");
    }
    nb_text_escape(out, size, raw);
}

static void nb__print_counts(const nb__outcome_t *a, const nb__outcome_t *b)
{
    if (!b) {
        printf("%-32s %-9s %9s %10s\n", "rule", "tier", "raised", "withdrawn");
        for (size_t k = 0; k < a->n_rules; k++) {
            const nb_policy_rule_info_t *r = nb_policy_rule(a->pol, k);
            printf("%-32s %-9s %9ld %10ld%s\n", r->id, nb_tier_name(r->tier), a->raised[k],
                   a->withdrawn[k], r->shadow ? "  (shadow: never notified)" : "");
        }
        return;
    }
    printf("%-32s %10s %10s %8s\n", "rule", "policy", "compare", "change");
    for (size_t k = 0; k < a->n_rules; k++) {
        const nb_policy_rule_info_t *r = nb_policy_rule(a->pol, k);
        const nb_policy_rule_info_t *o = nb_policy_rule_find(b->pol, r->id);
        long other = 0;
        for (size_t j = 0; o && j < b->n_rules; j++)
            if (nb_policy_rule(b->pol, j) == o)
                other = b->raised[j];
        char ob[16];
        snprintf(ob, sizeof(ob), o ? "%ld" : "-", other);
        printf("%-32s %10ld %10s %+8ld%s%s\n", r->id, a->raised[k], ob, other - a->raised[k],
               r->shadow ? "  (shadow)" : "", o ? "" : "  (not in the compared policy)");
    }
    for (size_t j = 0; j < b->n_rules; j++) {
        const nb_policy_rule_info_t *o = nb_policy_rule(b->pol, j);
        if (!nb_policy_rule_find(a->pol, o->id))
            printf("%-32s %10s %10ld %+8ld%s  (only in the compared policy)\n", o->id, "-",
                   b->raised[j], b->raised[j], o->shadow ? "  (shadow)" : "");
    }
}

int nb__cmd_replay(int argc, char **argv)
{
    char *pfiles[NB_POLICY_MAX_FILES], *cfiles[NB_POLICY_MAX_FILES];
    int np = 0, nc = 0, limit = 50;
    int64_t now = NB_TIME_NONE;
    char *events[64];
    int ne = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(nb__replay_help, stdout);
            return NB_EXIT_OK;
        } else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc && np < NB_POLICY_MAX_FILES) {
            pfiles[np++] = argv[++i];
        } else if (strcmp(argv[i], "--compare") == 0 && i + 1 < argc &&
                   nc < NB_POLICY_MAX_FILES) {
            cfiles[nc++] = argv[++i];
        } else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
            if (!nb_parse_time(argv[++i], &now))
                goto usage;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = atoi(argv[++i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            goto usage;
        } else if (ne < 64) {
            events[ne++] = argv[i];
        }
    }
    if (np == 0 || ne == 0)
        goto usage;

    nb__outcome_t a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    char errstr[1024];
    if (nb_policy_load((const char *const *)pfiles, (size_t)np, NULL, NULL, &a.pol, errstr,
                       sizeof(errstr))) {
        fprintf(stderr, "notbrought replay: %s\n", errstr);
        return NB_EXIT_FAILURE;
    }
    if (nc && nb_policy_load((const char *const *)cfiles, (size_t)nc, NULL, NULL, &b.pol,
                             errstr, sizeof(errstr))) {
        fprintf(stderr, "notbrought replay: --compare: %s\n", errstr);
        nb_policy_destroy(a.pol);
        return NB_EXIT_FAILURE;
    }
    nb__replay_t r;
    memset(&r, 0, sizeof(r));
    nb_validate_opts_default(&r.vopts);
    r.validate_now = now != NB_TIME_NONE ? now : nb__cli_now();
    nb_registry_t *reg = NULL;
    int rc = NB_EXIT_OK;
    nb__child_t *children = NULL;
    size_t n_children = 0;
    if (nb__cli_codec(&reg, &r.codec)) {
        rc = NB_EXIT_SOFTWARE;
        goto out;
    }
    for (int i = 0; i < ne; i++) {
        if (nb__read_events(&r, events[i])) {
            rc = NB_EXIT_FAILURE;
            goto out;
        }
    }
    /* Number the children: sort the distinct keys. */
    children = malloc((r.n ? r.n : 1) * sizeof(*children));
    if (!children) {
        rc = NB_EXIT_SOFTWARE;
        goto out;
    }
    for (size_t i = 0; i < r.n; i++)
        memcpy(children[i].key, r.keys[i], sizeof(children[i].key));
    qsort(children, r.n, sizeof(*children), nb__cmp_key);
    for (size_t i = 0; i < r.n; i++)
        if (n_children == 0 || strcmp(children[n_children - 1].key, children[i].key) != 0)
            children[n_children++] = children[i];
    for (size_t i = 0; i < r.n; i++) {
        nb__child_t *c = bsearch(r.keys[i], children, n_children, sizeof(*children), nb__cmp_key);
        r.items[i].child = (size_t)(c - children);
    }
    qsort(r.items, r.n, sizeof(*r.items), nb__cmp_item);
    int64_t end = now != NB_TIME_NONE ? now : r.latest;
    if (nb__replay_one(&a, &r, children, n_children, end) ||
        (b.pol && nb__replay_one(&b, &r, children, n_children, end))) {
        rc = NB_EXIT_SOFTWARE;
        goto out;
    }
    char endbuf[32];
    nb_format_time(end, endbuf, sizeof(endbuf));
    printf("replayed %zu events and facts for %zu children and pregnancies, until %s\n", r.n,
           n_children, endbuf);
    printf("skipped: %zu with only a local identifier (replay joins on NHS number and "
           "pregnancy only), %zu invalid, %zu other records\n",
           r.skipped_local, r.invalid, r.other);
    printf("policy %s %s (sha256 %.12s)", nb_policy_info(a.pol)->name,
           nb_policy_info(a.pol)->version, nb_policy_info(a.pol)->hash);
    if (b.pol)
        printf("; compared with %s %s (sha256 %.12s)", nb_policy_info(b.pol)->name,
               nb_policy_info(b.pol)->version, nb_policy_info(b.pol)->hash);
    printf("\n\n");
    nb__print_counts(&a, b.pol ? &b : NULL);
    if (b.pol) {
        size_t changed = 0;
        printf("\nchildren whose notifications change (+ gained, - lost with the compared "
               "policy):\n");
        for (size_t c = 0; c < n_children; c++) {
            char line[1024];
            size_t off = 0;
            line[0] = '\0';
            for (size_t k = 0; k < a.n_rules; k++) {
                const nb_policy_rule_info_t *ra = nb_policy_rule(a.pol, k);
                const nb_policy_rule_info_t *rb = nb_policy_rule_find(b.pol, ra->id);
                long na = a.per_child[c * a.n_rules + k], nbv = 0;
                for (size_t j = 0; rb && j < b.n_rules; j++)
                    if (nb_policy_rule(b.pol, j) == rb)
                        nbv = b.per_child[c * b.n_rules + j];
                if (na != nbv && off < sizeof(line))
                    off += (size_t)snprintf(line + off, sizeof(line) - off, " %c%s",
                                            nbv > na ? '+' : '-', ra->id);
            }
            for (size_t j = 0; j < b.n_rules; j++) {
                const nb_policy_rule_info_t *rb = nb_policy_rule(b.pol, j);
                if (!nb_policy_rule_find(a.pol, rb->id) && b.per_child[c * b.n_rules + j] &&
                    off < sizeof(line))
                    off += (size_t)snprintf(line + off, sizeof(line) - off, " +%s", rb->id);
            }
            if (off) {
                if ((int)changed < limit) {
                    char who[96];
                    nb__mask_key(children[c].key, who, sizeof(who));
                    printf("  %-40s%s\n", who, line);
                }
                changed++;
            }
        }
        if ((int)changed > limit)
            printf("  ... and %zu more\n", changed - (size_t)limit);
        printf("%zu of %zu children change\n", changed, n_children);
    }
out:
    nb__cli_codec_free(reg, r.codec);
    free(r.items);
    free(r.keys);
    free(children);
    free(a.raised);
    free(a.withdrawn);
    free(a.per_child);
    free(b.raised);
    free(b.withdrawn);
    free(b.per_child);
    nb_policy_destroy(a.pol);
    nb_policy_destroy(b.pol);
    return rc;
usage:
    fprintf(stderr, "notbrought replay: invalid arguments\n\n%s", nb__replay_help);
    return NB_EXIT_USAGE;
}
