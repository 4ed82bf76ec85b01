/*
 * notbrought - cli: synthetic sample data.
 *
 * Realistic in shape, synthetic in content: NHS numbers come from the 999 test range with
 * valid check digits; names and postcodes are drawn from small made-up lists; organisation
 * codes are in the ODS formats but not real organisations. Everything is derived from the
 * seed, so the same options give the same bytes.
 */
#include "notbrought/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nb_sample_opts_default(nb_sample_opts_t *opts, int64_t now_ms)
{
    opts->seed = 1;
    opts->children = 100;
    opts->missed_share = 0.12;
    opts->local_id_share = 0.2;
    opts->malformed = 8;
    opts->now = now_ms;
}

/* splitmix64: small, fast, and good enough for synthetic data. */
static uint64_t nb__rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int nb__rint(uint64_t *s, int lo, int hi) /* inclusive */
{
    return lo + (int)(nb__rand(s) % (uint64_t)(hi - lo + 1));
}

static double nb__runit(uint64_t *s)
{
    return (double)(nb__rand(s) >> 11) / 9007199254740992.0;
}

static void nb__nhs(uint64_t *s, char out[NB_NHS_LEN + 1])
{
    for (;;) {
        snprintf(out, NB_NHS_LEN + 1, "999%06d", nb__rint(s, 0, 999999));
        int check = nb_nhs_check_digit(out);
        if (check >= 0) {
            out[9] = (char)('0' + check);
            out[10] = '\0';
            return;
        }
    }
}

static const char *const nb__family_names[] = {
    "Abbot",   "Brynmor", "Carrow",  "Delyth",  "Evanson", "Ffrancon", "Gwillam", "Harwell",
    "Ifor",    "Jenkyn",  "Kettley", "Llewes",  "Maddox",  "Nantlle",  "Owainby", "Pryddel",
    "Quellyn", "Rhysart", "Selwood", "Tudwal",  "Umfrey",  "Vaughn",   "Wynstay", "Yarrow"};

typedef struct nb__pending_s {
    int64_t ts;
    uint64_t order;
    const char *topic;
    char key[NB_KEY_MAX + 1];
    uint8_t *value;
    size_t len;
} nb__pending_t;

typedef struct nb__gen_s {
    const nb_sample_opts_t *opts;
    nb_codec_t *codec;
    uint64_t rng;
    nb__pending_t *v;
    size_t n, cap;
    uint64_t seq;
    char *errstr;
    size_t errstr_size;
} nb__gen_t;

static int nb__push(nb__gen_t *g, const char *topic, const char *key, const uint8_t *bytes,
                    size_t len, int64_t ts)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        nb__pending_t *v = realloc(g->v, cap * sizeof(*v));
        if (!v)
            return -1;
        g->v = v;
        g->cap = cap;
    }
    nb__pending_t *p = &g->v[g->n];
    p->value = malloc(len ? len : 1);
    if (!p->value)
        return -1;
    memcpy(p->value, bytes, len);
    p->len = len;
    p->ts = ts;
    p->order = g->seq++;
    p->topic = topic;
    snprintf(p->key, sizeof(p->key), "%s", key);
    g->n++;
    return 0;
}

static int nb__emit(nb__gen_t *g, const char *topic, const char *key, const nb_record_t *rec,
                    int64_t ts)
{
    nb_buf_t buf = {0};
    nb_err_t err = nb_codec_encode(g->codec, rec, &buf, g->errstr, g->errstr_size);
    int rc = err ? -1 : nb__push(g, topic, key, buf.data, buf.len, ts);
    nb_buf_free(&buf);
    return rc;
}

static const char *nb__topic_of(nb_agency_t agency)
{
    switch (agency) {
    case NB_AGENCY_GP:
        return "gp.appointments";
    case NB_AGENCY_MIDWIFERY:
        return "midwifery.appointments";
    default:
        return "hv.contacts";
    }
}

typedef struct nb__child_s {
    char nhs[NB_NHS_LEN + 1];
    int32_t dob; /* NB_DATE_NONE while unborn */
    char mother_nhs[NB_NHS_LEN + 1];
    int32_t edd;
    char family[NB_NAME_MAX + 1];
    char postcode[NB_POSTCODE_MAX + 1];
    char gp_code[NB_ORG_MAX + 1];
    int index;
    bool unborn_link_sent;
} nb__child_t;

static void nb__event_id(nb_appointment_event_t *a, int version)
{
    /* Appointment ids are generated short, so this never truncates. */
    if (snprintf(a->event_id, sizeof(a->event_id), "%s-v%d", a->appointment_id, version) >=
        (int)sizeof(a->event_id))
        a->event_id[0] = '\0';
}

/* The source system and organisation that record appointments of @p agency. */
static void nb__appt_source(nb_appointment_event_t *a, const nb__child_t *c,
                            nb_agency_t agency)
{
    a->source.agency = agency;
    switch (agency) {
    case NB_AGENCY_GP:
        snprintf(a->source.system, sizeof(a->source.system), "%s",
                 c->index % 2 ? "EMIS Web" : "Vision");
        snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "%s",
                 c->gp_code);
        break;
    case NB_AGENCY_MIDWIFERY:
        snprintf(a->source.system, sizeof(a->source.system), "BadgerNet");
        snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "7A4");
        break;
    default:
        snprintf(a->source.system, sizeof(a->source.system), "CYPRIS");
        snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "7A1");
        break;
    }
}

/* Whom the appointment is for: the pregnant person for an unborn child, else the child,
 * known by NHS number or (when @p local) only by the source's local identifier. */
static void nb__appt_subject(nb_appointment_event_t *a, const nb__child_t *c,
                             nb_agency_t agency, bool unborn, bool local)
{
    if (unborn) {
        a->subject_kind = NB_SUBJECT_UNBORN;
        snprintf(a->pregnant_person_id.system, sizeof(a->pregnant_person_id.system), "%s",
                 NB_SYSTEM_NHS_NUMBER);
        snprintf(a->pregnant_person_id.value, sizeof(a->pregnant_person_id.value), "%s",
                 c->mother_nhs);
        a->expected_delivery_date = c->edd;
        a->date_of_birth = NB_DATE_NONE;
    } else {
        a->subject_kind = NB_SUBJECT_CHILD;
        a->date_of_birth = c->dob;
        a->expected_delivery_date = NB_DATE_NONE;
        if (local) {
            snprintf(a->local_id.system, sizeof(a->local_id.system), "urn:notbrought:%s:%s",
                     nb_agency_name(agency), a->source.organisation_code);
            snprintf(a->local_id.value, sizeof(a->local_id.value), "L%06d", c->index);
        } else {
            memcpy(a->nhs_number, c->nhs, sizeof(a->nhs_number));
        }
        snprintf(a->family_name, sizeof(a->family_name), "%s", c->family);
        snprintf(a->postcode, sizeof(a->postcode), "%s", c->postcode);
    }
}

/* The outcome of a due appointment: mostly attended, a share missed (as @p mode allows),
 * a few cancelled. */
static nb_status_t nb__appt_outcome(nb__gen_t *g, nb_contact_mode_t mode)
{
    const nb_sample_opts_t *o = g->opts;
    double r = nb__runit(&g->rng);
    if (r < o->missed_share)
        return mode == NB_CONTACT_HOME_VISIT ? NB_STATUS_NO_ACCESS_VISIT
                                             : NB_STATUS_WAS_NOT_BROUGHT;
    if (r < o->missed_share + 0.05)
        return NB_STATUS_CANCELLED_BY_PATIENT;
    if (r < o->missed_share + 0.07)
        return NB_STATUS_CANCELLED_BY_PROVIDER;
    return NB_STATUS_ATTENDED;
}

/* One appointment: a booking (v1), then an outcome (v2) once it is due, sometimes an amendment
 * (v3) later. */
static int nb__appointment(nb__gen_t *g, nb__child_t *c, nb_agency_t agency, const char *type,
                           bool mandated, nb_contact_mode_t mode, int64_t when, bool unborn,
                           int seq)
{
    const nb_sample_opts_t *o = g->opts;
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec.u.appt;
    nb__appt_source(a, c, agency);
    bool local = nb__runit(&g->rng) < o->local_id_share;
    nb__appt_subject(a, c, agency, unborn, local);
    snprintf(a->appointment_id, sizeof(a->appointment_id), "%s-%d-%d",
             nb_agency_name(agency), c->index, seq);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "%s", type);
    a->mandated_contact = mandated;
    a->contact_mode = mode;
    a->scheduled_start = when;
    const char *topic = nb__topic_of(agency);
    const char *key = a->appointment_id;
    char keybuf[NB_ID_MAX + 1];
    snprintf(keybuf, sizeof(keybuf), "%s", key);

    /* v1: booked a few weeks before. */
    a->status = NB_STATUS_BOOKED;
    a->version = 1;
    a->recorded_at = when - (int64_t)nb__rint(&g->rng, 7, 28) * NB_MS_PER_DAY;
    if (a->recorded_at > o->now)
        a->recorded_at = o->now - NB_MS_PER_DAY;
    nb__event_id(a, 1);
    if (nb__emit(g, topic, keybuf, &rec, a->recorded_at))
        return -1;
    if (when > o->now - 3600 * 1000)
        return 0; /* not due yet: no outcome */

    /* v2: the outcome, recorded within hours. */
    a->status = nb__appt_outcome(g, mode);
    a->version = 2;
    a->recorded_at = when + (int64_t)nb__rint(&g->rng, 1, 8) * 3600 * 1000;
    if (a->recorded_at > o->now)
        a->recorded_at = o->now;
    nb__event_id(a, 2);
    if (nb__emit(g, topic, keybuf, &rec, a->recorded_at))
        return -1;

    /* v3: now and then a missed outcome is corrected (attended after all, or a mistake). */
    if (nb_status_is_missed(a->status) && nb__runit(&g->rng) < 0.1) {
        a->status = nb__runit(&g->rng) < 0.5 ? NB_STATUS_ATTENDED : NB_STATUS_ENTERED_IN_ERROR;
        a->version = 3;
        a->recorded_at += (int64_t)nb__rint(&g->rng, 1, 3) * NB_MS_PER_DAY;
        if (a->recorded_at > o->now)
            a->recorded_at = o->now;
        nb__event_id(a, 3);
        if (nb__emit(g, topic, keybuf, &rec, a->recorded_at))
            return -1;
    }
    return 0;
}

static int nb__link(nb__gen_t *g, nb_link_kind_t kind, const char *from_system,
                    const char *from_value, const char *to_nhs, int32_t edd, nb_agency_t agency,
                    const char *org, int64_t ts, const char *event_id)
{
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_IDENTITY_LINK;
    nb_identity_link_t *l = &rec.u.link;
    snprintf(l->event_id, sizeof(l->event_id), "%s", event_id);
    l->kind = kind;
    snprintf(l->from.system, sizeof(l->from.system), "%s", from_system);
    snprintf(l->from.value, sizeof(l->from.value), "%s", from_value);
    snprintf(l->to.system, sizeof(l->to.system), "%s", NB_SYSTEM_NHS_NUMBER);
    snprintf(l->to.value, sizeof(l->to.value), "%s", to_nhs);
    l->expected_delivery_date = edd;
    l->source.agency = agency;
    snprintf(l->source.system, sizeof(l->source.system), "MPI");
    snprintf(l->source.organisation_code, sizeof(l->source.organisation_code), "%s", org);
    l->verification = NB_VERIFICATION_PDS_VERIFIED;
    l->recorded_at = ts;
    /* Compacted topic: the key names what the statement is about, so that compaction keeps
     * the last statement per identifier (per pregnancy for unborn_to_child). */
    char key[NB_SYSTEM_MAX + NB_ID_MAX + 16];
    if (kind == NB_LINK_UNBORN_TO_CHILD)
        snprintf(key, sizeof(key), "%s|%s|%d", from_system, from_value, (int)edd);
    else
        snprintf(key, sizeof(key), "%s|%s", from_system, from_value);
    return nb__emit(g, "identity.links", key, &rec, ts);
}

static int nb__fact(nb__gen_t *g, nb__child_t *c, nb_fact_kind_t kind, int32_t start,
                    int32_t end, int64_t ts)
{
    nb_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_CONTEXT_FACT;
    nb_context_fact_t *f = &rec.u.fact;
    snprintf(f->event_id, sizeof(f->event_id), "fact-%d-%s", c->index, nb_fact_kind_name(kind));
    memcpy(f->nhs_number, c->nhs, sizeof(f->nhs_number));
    f->kind = kind;
    f->start_date = start;
    f->end_date = end;
    f->status = NB_FACT_STATUS_CURRENT;
    snprintf(f->source_system, sizeof(f->source_system), "WCCIS");
    snprintf(f->organisation_code, sizeof(f->organisation_code), "W04000");
    f->recorded_at = ts;
    f->version = 1;
    return nb__emit(g, "child.context", f->event_id, &rec, ts);
}

/* Malformed records of every kind the ingest must dead-letter. */
static int nb__malformed(nb__gen_t *g, int i, nb__child_t *c)
{
    int64_t ts = g->opts->now - (int64_t)nb__rint(&g->rng, 1, 300) * NB_MS_PER_DAY;
    nb_record_t rec;
    nb_buf_t buf = {0};
    int rc = 0;
    memset(&rec, 0, sizeof(rec));
    rec.type = NB_RECORD_APPOINTMENT;
    nb_appointment_event_t *a = &rec.u.appt;
    snprintf(a->event_id, sizeof(a->event_id), "bad-%d", i);
    a->source.agency = NB_AGENCY_GP;
    snprintf(a->source.system, sizeof(a->source.system), "EMIS Web");
    snprintf(a->source.organisation_code, sizeof(a->source.organisation_code), "%s", c->gp_code);
    a->subject_kind = NB_SUBJECT_CHILD;
    memcpy(a->nhs_number, c->nhs, sizeof(a->nhs_number));
    a->date_of_birth = c->dob;
    a->expected_delivery_date = NB_DATE_NONE;
    snprintf(a->appointment_id, sizeof(a->appointment_id), "bad-appt-%d", i);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "immunisation");
    a->scheduled_start = ts;
    a->status = NB_STATUS_WAS_NOT_BROUGHT;
    a->recorded_at = ts;
    a->version = 2;
    switch (i % 8) {
    case 0: { /* garbage */
        uint8_t junk[24];
        for (size_t k = 0; k < sizeof(junk); k++)
            junk[k] = (uint8_t)nb__rand(&g->rng);
        junk[0] = 0x7b;
        return nb__push(g, "gp.appointments", "garbage", junk, sizeof(junk), ts);
    }
    case 1: /* invalid NHS check digit */
        a->nhs_number[9] = (char)('0' + (a->nhs_number[9] - '0' + 1) % 10);
        break;
    case 2: /* no identifier at all */
        a->nhs_number[0] = '\0';
        break;
    case 3: /* absurd timestamp: scheduled in 1970 */
        a->scheduled_start = 86400000;
        break;
    default:
        break;
    }
    if (nb_codec_encode(g->codec, &rec, &buf, g->errstr, g->errstr_size)) {
        nb_buf_free(&buf);
        return -1;
    }
    switch (i % 8) {
    case 4: /* wrong magic byte */
        buf.data[0] = 1;
        break;
    case 5: /* unknown schema id */
        buf.data[4] = 99;
        break;
    case 6: /* truncated */
        buf.len = buf.len / 2;
        break;
    case 7: /* negative string length for event_id (zig-zag 0x01 is -1) */
        buf.data[NB_FRAME_HEADER_LEN] = 0x01;
        break;
    default:
        break;
    }
    rc = nb__push(g, "gp.appointments", a->appointment_id, buf.data, buf.len, ts);
    nb_buf_free(&buf);
    return rc;
}

static int nb__cmp_pending(const void *a, const void *b)
{
    const nb__pending_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The child's made-up identity: NHS number, family name, postcode and GP practice. */
static void nb__child_identity(nb__gen_t *g, nb__child_t *c, int index)
{
    c->index = index;
    nb__nhs(&g->rng, c->nhs);
    snprintf(c->family, sizeof(c->family), "%s",
             nb__family_names[nb__rint(&g->rng, 0, (int)(sizeof(nb__family_names) /
                                                           sizeof(nb__family_names[0])) -
                                                    1)]);
    snprintf(c->postcode, sizeof(c->postcode), "CF%d %d%c%c", nb__rint(&g->rng, 1, 48),
             nb__rint(&g->rng, 1, 9), 'A' + nb__rint(&g->rng, 0, 25),
             'A' + nb__rint(&g->rng, 0, 25));
    snprintf(c->gp_code, sizeof(c->gp_code), "W9%04d", nb__rint(&g->rng, 1000, 1040));
}

/* A pregnancy: the pregnant person's NHS number, the expected delivery date and the
 * antenatal appointments under the pregnant person, numbered from *seq. */
static int nb__antenatal(nb__gen_t *g, nb__child_t *c, int32_t today, int *seq)
{
    nb__nhs(&g->rng, c->mother_nhs);
    c->edd = today + nb__rint(&g->rng, -90, 200);
    int32_t conception = c->edd - 280;
    static const struct {
        const char *type;
        int week;
    } ante[] = {{"antenatal_booking", 9},  {"dating_scan", 12},     {"antenatal_16w", 16},
                {"anomaly_scan", 20},      {"antenatal_25w", 25},   {"antenatal_28w", 28},
                {"antenatal_31w", 31},     {"antenatal_34w", 34},   {"antenatal_36w", 36}};
    for (size_t k = 0; k < sizeof(ante) / sizeof(ante[0]); k++) {
        int32_t day = conception + ante[k].week * 7 + nb__rint(&g->rng, -3, 3);
        if (day > today + 30 || day < today - 365)
            continue;
        int64_t when = (int64_t)day * NB_MS_PER_DAY + nb__rint(&g->rng, 9, 16) * 3600000LL;
        if (nb__appointment(g, c, NB_AGENCY_MIDWIFERY, ante[k].type, k == 0,
                            NB_CONTACT_FACE_TO_FACE, when, true, (*seq)++))
            return -1;
    }
    return 0;
}

/* The birth: the date of birth, near the expected date, and the link from the unborn
 * record to the child's NHS number a couple of days later. */
static int nb__birth(nb__gen_t *g, nb__child_t *c)
{
    c->dob = c->edd + nb__rint(&g->rng, -14, 3);
    char eid[NB_ID_MAX + 1];
    snprintf(eid, sizeof(eid), "link-u2c-%d", c->index);
    int64_t linked_at = (int64_t)(c->dob + 2) * NB_MS_PER_DAY;
    if (linked_at > g->opts->now)
        linked_at = g->opts->now; /* never recorded in the future */
    return nb__link(g, NB_LINK_UNBORN_TO_CHILD, NB_SYSTEM_NHS_NUMBER, c->mother_nhs, c->nhs,
                    c->edd, NB_AGENCY_MIDWIFERY, "7A4", linked_at, eid);
}

/* Health visiting: the Healthy Child Programme's mandated contacts, numbered from *seq. */
static int nb__hv_contacts(nb__gen_t *g, nb__child_t *c, int32_t today, int *seq)
{
    static const struct {
        const char *type;
        int day;
        nb_contact_mode_t mode;
    } hv[] = {{"new_birth_visit", 12, NB_CONTACT_HOME_VISIT},
              {"6_8_week_review", 49, NB_CONTACT_HOME_VISIT},
              {"1_year_review", 365, NB_CONTACT_FACE_TO_FACE},
              {"2_year_review", 760, NB_CONTACT_FACE_TO_FACE},
              {"3_5_year_review", 1277, NB_CONTACT_FACE_TO_FACE}};
    for (size_t k = 0; k < sizeof(hv) / sizeof(hv[0]); k++) {
        int32_t day = c->dob + hv[k].day + nb__rint(&g->rng, -2, 4);
        if (day > today + 30 || day < today - 365)
            continue;
        int64_t when = (int64_t)day * NB_MS_PER_DAY + nb__rint(&g->rng, 9, 16) * 3600000LL;
        if (nb__appointment(g, c, NB_AGENCY_HEALTH_VISITING, hv[k].type, true, hv[k].mode,
                            when, false, (*seq)++))
            return -1;
    }
    return 0;
}

/* GP: immunisations and the odd consultation over the last year, numbered from *seq. */
static int nb__gp_visits(nb__gen_t *g, nb__child_t *c, int32_t today, int *seq)
{
    static const char *const gp_types[] = {"immunisation", "consultation", "asthma_review"};
    int n_gp = nb__rint(&g->rng, 1, 4);
    for (int k = 0; k < n_gp; k++) {
        int32_t day = today - nb__rint(&g->rng, -20, 360);
        if (day < c->dob + 1)
            continue;
        int64_t when = (int64_t)day * NB_MS_PER_DAY + nb__rint(&g->rng, 8, 17) * 3600000LL;
        if (nb__appointment(g, c, NB_AGENCY_GP, gp_types[nb__rint(&g->rng, 0, 2)], false,
                            NB_CONTACT_FACE_TO_FACE, when, false, (*seq)++))
            return -1;
    }
    return 0;
}

/* Identity links for the local identifiers this child's records may carry; a few arrive
 * late, after the events they resolve. */
static int nb__local_links(nb__gen_t *g, nb__child_t *c)
{
    const nb_sample_opts_t *o = g->opts;
    static const struct {
        nb_agency_t agency;
        const char *org;
    } sys[] = {{NB_AGENCY_GP, NULL}, {NB_AGENCY_HEALTH_VISITING, "7A1"}};
    for (size_t k = 0; k < sizeof(sys) / sizeof(sys[0]); k++) {
        char system[NB_SYSTEM_MAX + 1], value[NB_ID_MAX + 1], eid[NB_ID_MAX + 1];
        snprintf(system, sizeof(system), "urn:notbrought:%s:%s", nb_agency_name(sys[k].agency),
                 sys[k].org ? sys[k].org : c->gp_code);
        snprintf(value, sizeof(value), "L%06d", c->index);
        snprintf(eid, sizeof(eid), "link-%d-%zu", c->index, k);
        int64_t ts = nb__runit(&g->rng) < 0.8
                         ? (int64_t)(c->dob + 1) * NB_MS_PER_DAY
                         : o->now - (int64_t)nb__rint(&g->rng, 0, 20) * NB_MS_PER_DAY;
        if (ts > o->now)
            ts = o->now;
        if (nb__link(g, NB_LINK_LINK, system, value, c->nhs, NB_DATE_NONE, sys[k].agency,
                     sys[k].org ? sys[k].org : c->gp_code, ts, eid))
            return -1;
    }
    return 0;
}

/* Context: a few children are on plans, looked after, or in need. */
static int nb__child_context(nb__gen_t *g, nb__child_t *c, int32_t today)
{
    double r = nb__runit(&g->rng);
    int32_t start = today - nb__rint(&g->rng, 30, 500);
    if (start < c->dob)
        start = c->dob;
    int64_t ts = (int64_t)start * NB_MS_PER_DAY + 10 * 3600000LL;
    if (r < 0.05)
        return nb__fact(g, c, NB_FACT_CHILD_PROTECTION_PLAN, start,
                        r < 0.02 ? start + nb__rint(&g->rng, 60, 300) : NB_DATE_NONE, ts);
    if (r < 0.08)
        return nb__fact(g, c, NB_FACT_CHILD_IN_NEED, start, NB_DATE_NONE, ts);
    if (r < 0.09)
        return nb__fact(g, c, NB_FACT_LOOKED_AFTER, start, NB_DATE_NONE, ts);
    return 0;
}

/* One child's records, all drawn from the generator's random stream in a fixed order. */
static int nb__child(nb__gen_t *g, int index)
{
    int32_t today = nb_day_of(g->opts->now);
    nb__child_t c;
    memset(&c, 0, sizeof(c));
    nb__child_identity(g, &c, index);
    int seq = 0;
    /* About one in six is a pregnancy: antenatal appointments under the pregnant person. */
    if (nb__runit(&g->rng) < 0.17) {
        if (nb__antenatal(g, &c, today, &seq))
            return -1;
        if (c.edd + 3 > today)
            return 0; /* not born yet */
        if (nb__birth(g, &c))
            return -1;
    } else {
        c.dob = today - nb__rint(&g->rng, 20, 6 * 365);
    }
    if (nb__hv_contacts(g, &c, today, &seq) || nb__gp_visits(g, &c, today, &seq) ||
        nb__local_links(g, &c))
        return -1;
    return nb__child_context(g, &c, today);
}

int nb_sample_generate(const nb_sample_opts_t *opts, nb_codec_t *codec, nb_record_cb_t *cb,
                       void *opaque, char *errstr, size_t errstr_size)
{
    nb__gen_t g = {opts, codec, opts->seed, NULL, 0, 0, 0, errstr, errstr_size};
    int rc = 0;
    for (int i = 0; i < opts->children && rc == 0; i++)
        rc = nb__child(&g, i);
    for (int i = 0; i < opts->malformed && rc == 0; i++) {
        nb__child_t c;
        memset(&c, 0, sizeof(c));
        nb__nhs(&g.rng, c.nhs);
        c.dob = nb_day_of(opts->now) - 400;
        snprintf(c.gp_code, sizeof(c.gp_code), "W91001");
        rc = nb__malformed(&g, i, &c);
    }
    if (rc == 0) {
        qsort(g.v, g.n, sizeof(*g.v), nb__cmp_pending);
        for (size_t i = 0; i < g.n && rc == 0; i++)
            rc = cb(opaque, g.v[i].topic, g.v[i].key, g.v[i].value, g.v[i].len, g.v[i].ts);
    } else if (rc < 0 && errstr[0] == '\0') {
        snprintf(errstr, errstr_size, "out of memory");
    }
    for (size_t i = 0; i < g.n; i++)
        free(g.v[i].value);
    free(g.v);
    return rc;
}
