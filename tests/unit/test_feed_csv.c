/*
 * unit.feed_csv: the CSV row mapper (nb_feed_csv_header(), nb_feed_csv_row()) with the shipped
 * child health system mapping (config/mappings/chis-csv.yaml) on made-up rows, the csv
 * section's load errors, and the Kaggle appointment extract in shared/realdata/csv (read in
 * place, never copied; realdata/SOURCES.md) with tests/data/mappings/realdata-kaggle-csv*.yaml.
 * The realdata expectations were written by reading the file: its No-show column is "Yes" on
 * rows 7, 8, 12, 18, 21, 22 and 23; rows 22 and 28 are one patient's two appointments.
 * Without the realdata directory (NB_REALDATA_DIR) those tests are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/feed.h"

#define CHIS_HEADER                                                                                \
    "Appointment Ref,NHS Number,CHIS ID,Date of Birth,Appointment Date,Appointment Time,"          \
    "Outcome,Contact Type,Venue Type"

typedef struct fx_s {
    nb_feed_mapping_t *m;
    nb_feed_out_t *out;
    nb_feed_csv_header_t h;
} fx_t;

/* Splits a line at commas (the made-up rows quote nothing) into at most 32 fields. */
typedef struct split_s {
    char buf[2048];
    const char *f[32];
    size_t len[32], n;
} split_t;

static void split(split_t *s, const char *line)
{
    snprintf(s->buf, sizeof(s->buf), "%s", line);
    s->n = 0;
    char *p = s->buf;
    for (;;) {
        char *c = strchr(p, ',');
        s->f[s->n] = p;
        s->len[s->n] = c ? (size_t)(c - p) : strlen(p);
        s->n++;
        if (!c || s->n == 32)
            break;
        *c = '\0'; /* each field a string too, for the tests' own checks */
        p = c + 1;
    }
}

static nb_feed_mapping_t *load(const char *rel)
{
    char path[1024], err[512];
    nb_feed_mapping_t *m = NULL;
    snprintf(path, sizeof(path), "%s/%s", NB_SOURCE_DIR, rel);
    nb_err_t e = nb_feed_mapping_load(path, NULL, NULL, &m, err, sizeof(err));
    if (e)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(e, NB_ERR_OK);
    return m;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    split_t s;
    char err[256];
    fx->m = load("config/mappings/chis-csv.yaml");
    fx->out = nb_feed_out_new();
    split(&s, CHIS_HEADER);
    assert_int_equal(nb_feed_csv_header(fx->m, s.f, s.len, s.n, &fx->h, err, sizeof(err)),
                     NB_ERR_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    nb_feed_mapping_free(fx->m);
    nb_feed_out_destroy(fx->out);
    free(fx);
    return 0;
}

#define EXTRACT_MS 1733536800000LL /* 2024-12-07T02:00:00Z */

NB_NODISCARD static nb_err_t map_row(fx_t *fx, uint64_t number, const char *line, int64_t extracted)
{
    split_t s;
    split(&s, line);
    nb_feed_csv_row_t r = {number, s.f, s.len, s.n, extracted};
    return nb_feed_csv_row(fx->m, &fx->h, &r, fx->out);
}

static void test_maps_a_row_in_bst(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(map_row(fx, 1,
                             "A1,943 476 5919,C77,01/03/2024,12/06/2024,09:30,DNA,68W,Clinic",
                             EXTRACT_MS),
                     NB_ERR_OK);
    assert_int_equal(fx->out->outcome, NB_FEED_MAPPED);
    const nb_appointment_event_t *ev = &fx->out->records[0].u.appt;
    assert_string_equal(ev->appointment_id, "A1");
    assert_string_equal(ev->nhs_number, "9434765919");
    assert_string_equal(ev->local_id.value, "C77");
    assert_string_equal(ev->local_id.system, "https://chis.example.nhs.uk/id/child");
    assert_int_equal(ev->status, NB_STATUS_WAS_NOT_BROUGHT);
    assert_string_equal(ev->appointment_type, "6_8_week_review");
    assert_true(ev->mandated_contact);
    assert_int_equal(ev->contact_mode, NB_CONTACT_FACE_TO_FACE);
    char t[32];
    nb_format_time(ev->scheduled_start, t, sizeof(t));
    assert_string_equal(t, "2024-06-12T08:30:00.000Z"); /* BST */
    assert_int_equal(ev->recorded_at, EXTRACT_MS);
    assert_int_equal(ev->version, 1);
    nb_format_date(ev->date_of_birth, t, sizeof(t));
    assert_string_equal(t, "2024-03-01");
    assert_int_equal(strncmp(ev->event_id, "csv-", 4), 0);
    assert_int_equal(strlen(ev->event_id), 36);
}

static void test_home_visit_no_show_is_no_access_in_gmt(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(map_row(fx, 2, "A2,,C78,,15/01/2025,14:05,WNB,NBV,HOME", EXTRACT_MS),
                     NB_ERR_OK);
    const nb_appointment_event_t *ev = &fx->out->records[0].u.appt;
    assert_int_equal(ev->status, NB_STATUS_NO_ACCESS_VISIT);
    assert_int_equal(ev->contact_mode, NB_CONTACT_HOME_VISIT);
    assert_string_equal(ev->nhs_number, "");
    assert_int_equal(ev->date_of_birth, NB_DATE_NONE);
    char t[32];
    nb_format_time(ev->scheduled_start, t, sizeof(t));
    assert_string_equal(t, "2025-01-15T14:05:00.000Z"); /* GMT */
}

/* Refusals name the row and the column, never the value. */
static void expect_refused(fx_t *fx, const char *line, const char *code, const char *text,
                           const char *never)
{
    assert_int_not_equal(map_row(fx, 12, line, EXTRACT_MS), NB_ERR_OK);
    assert_int_equal(fx->out->outcome, NB_FEED_REFUSED);
    assert_int_equal(fx->out->n_records, 0);
    assert_string_equal(fx->out->code, code);
    if (!strstr(fx->out->text, text))
        fail_msg("'%s' lacks '%s'", fx->out->text, text);
    if (never && strstr(fx->out->text, never))
        fail_msg("'%s' names the value '%s'", fx->out->text, never);
}

static void test_refusals(void **state)
{
    fx_t *fx = *state;
    expect_refused(fx, "A3,9434765918,C1,,12/06/2024,09:30,ATT,IMM,Clinic", "nhs_check_digit",
                   "row 12, column NHS Number: NHS number fails the Modulus 11 check",
                   "9434765918");
    expect_refused(fx, "A3,94347659,C1,,12/06/2024,09:30,ATT,IMM,Clinic", "nhs_format",
                   "row 12, column NHS Number: NHS number is not 10 digits", "94347659");
    expect_refused(fx, "A3,,,,12/06/2024,09:30,ATT,IMM,Clinic", "missing_identifier",
                   "row 12, column NHS Number: no NHS number and no local identifier", NULL);
    expect_refused(fx, ",9434765919,C1,,12/06/2024,09:30,ATT,IMM,Clinic", "appointment_id_missing",
                   "row 12, column Appointment Ref: no appointment id", NULL);
    expect_refused(fx, "A3,9434765919,C1,,12/06/2024,09:30,XYZ,IMM,Clinic", "status_unmapped",
                   "row 12, column Outcome: status 'XYZ' is not in the mapping's status map", NULL);
    expect_refused(fx, "A3,9434765919,C1,,12/06/2024,09:30,Mum rang Mrs Jones,IMM,Clinic",
                   "status_unmapped", "status a value is not", "Jones");
    expect_refused(fx, "A3,9434765919,C1,,12/06/2024,09:30,,IMM,Clinic", "status_missing",
                   "row 12, column Outcome: no status", NULL);
    expect_refused(fx, "A3,9434765919,C1,,30/02/2024,09:30,ATT,IMM,Clinic", "timestamp_invalid",
                   "row 12, column Appointment Date: the scheduled start does not read as "
                   "DD/MM/YYYY",
                   "30/02");
    expect_refused(fx, "A3,9434765919,C1,,12/06/2024,9h30,ATT,IMM,Clinic", "timestamp_invalid",
                   "column Appointment Time", NULL);
    expect_refused(fx, "A3,9434765919,C1,,12/06/1990,09:30,ATT,IMM,Clinic", "timestamp_range",
                   "UK local time outside 1996-2099", NULL);
    expect_refused(fx, "A3,9434765919,C1,2024-03-01,12/06/2024,09:30,ATT,IMM,Clinic",
                   "timestamp_invalid", "column Date of Birth", "2024-03-01");
    expect_refused(fx, "A3,9434765919,C1,,12/06/2024,09:30,ATT,DENTAL,Clinic", "type_unmapped",
                   "row 12, column Contact Type: appointment type 'DENTAL'", NULL);
    expect_refused(fx, "A3,9434765919,C1,,12/06/2024,09:30,ATT,IMM", "column_count",
                   "row 12: 8 fields where the header has 9 columns", NULL);
}

/* A venue the map lacks becomes the default; a placeholder NHS number is "not known". */
static void test_defaults_and_placeholder(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(map_row(fx, 4, "A4,0000000000,C9,,12/06/2024,09:30,BKD,IMM,Van", EXTRACT_MS),
                     NB_ERR_OK);
    const nb_appointment_event_t *ev = &fx->out->records[0].u.appt;
    assert_int_equal(ev->contact_mode, NB_CONTACT_FACE_TO_FACE);
    assert_string_equal(ev->nhs_number, "");
    assert_string_equal(ev->local_id.value, "C9");
    assert_false(ev->mandated_contact);
}

/* The id is the same for the same row of the same extract, and differs with the extract's time
 * and with any field. */
static void test_ids(void **state)
{
    fx_t *fx = *state;
    const char *row = "A5,9434765919,C1,,12/06/2024,09:30,ATT,IMM,Clinic";
    char a[NB_ID_MAX + 1], b[NB_ID_MAX + 1], c[NB_ID_MAX + 1], d[NB_ID_MAX + 1];
    assert_int_equal(map_row(fx, 5, row, EXTRACT_MS), NB_ERR_OK);
    snprintf(a, sizeof(a), "%s", fx->out->records[0].u.appt.event_id);
    assert_int_equal(map_row(fx, 99, row, EXTRACT_MS), NB_ERR_OK);
    snprintf(b, sizeof(b), "%s", fx->out->records[0].u.appt.event_id);
    assert_int_equal(map_row(fx, 5, row, EXTRACT_MS + 86400000), NB_ERR_OK);
    snprintf(c, sizeof(c), "%s", fx->out->records[0].u.appt.event_id);
    assert_int_equal(map_row(fx, 5, "A5,9434765919,C1,,12/06/2024,09:30,ATT,IMM,Home", EXTRACT_MS),
                     NB_ERR_OK);
    snprintf(d, sizeof(d), "%s", fx->out->records[0].u.appt.event_id);
    assert_string_equal(a, b); /* the row's number is not its identity: a rerun keeps ids */
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
}

/* csv identity_links: local_to_nhs publishes the link CHIS ID -> NHS number when a row has
 * both, its id derived with the event's (a rerun gives it again). */
static void test_identity_link(void **state)
{
    fx_t *fx = *state;
    char path[1024], yaml[8192], err[512], link_id[NB_ID_MAX + 1];
    snprintf(path, sizeof(path), "%s/config/mappings/chis-csv.yaml", NB_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(yaml, 1, sizeof(yaml) - 100, f);
    fclose(f);
    snprintf(yaml + n, sizeof(yaml) - n, "  identity_links: {local_to_nhs: true}\n");
    nb_feed_mapping_free(fx->m);
    fx->m = NULL;
    nb_err_t e = nb_feed_mapping_load_buffer("chis.yaml", yaml, strlen(yaml), NULL, NULL, &fx->m,
                                             err, sizeof(err));
    if (e)
        fail_msg("%s", err);
    const char *row = "A5,9434765919,C1,,12/06/2024,09:30,ATT,IMM,Clinic";
    assert_int_equal(map_row(fx, 5, row, EXTRACT_MS), NB_ERR_OK);
    nb_feed_out_t *out = fx->out;
    assert_int_equal(out->n_records, 2);
    assert_int_equal(out->records[1].type, NB_RECORD_IDENTITY_LINK);
    const nb_identity_link_t *l = &out->records[1].u.link;
    assert_string_equal(l->from.system, "https://chis.example.nhs.uk/id/child");
    assert_string_equal(l->from.value, "C1");
    assert_string_equal(l->to.system, NB_SYSTEM_NHS_NUMBER);
    assert_string_equal(l->to.value, "9434765919");
    assert_int_equal(l->verification, NB_VERIFICATION_UNVERIFIED);
    assert_int_equal(l->recorded_at, EXTRACT_MS);
    assert_int_equal(strncmp(l->event_id, "csv-", 4), 0);
    assert_int_equal(strlen(l->event_id), 36);
    assert_string_not_equal(l->event_id, out->records[0].u.appt.event_id);
    snprintf(link_id, sizeof(link_id), "%s", l->event_id);
    assert_int_equal(map_row(fx, 99, row, EXTRACT_MS), NB_ERR_OK);
    assert_int_equal(out->n_records, 2);
    assert_string_equal(out->records[1].u.link.event_id, link_id);
    /* Without the NHS number, or without the local id: the event alone. */
    assert_int_equal(map_row(fx, 6, "A6,,C1,,12/06/2024,09:30,ATT,IMM,Clinic", EXTRACT_MS),
                     NB_ERR_OK);
    assert_int_equal(out->n_records, 1);
    assert_int_equal(map_row(fx, 7, "A7,9434765919,,,12/06/2024,09:30,ATT,IMM,Clinic", EXTRACT_MS),
                     NB_ERR_OK);
    assert_int_equal(out->n_records, 1);
    char sum[1024];
    nb_feed_mapping_summary(fx->m, sum, sizeof(sum));
    assert_non_null(strstr(sum, "; identity links: local_to_nhs"));
    /* A mapping without the local id column cannot ask for links. */
    static const char bad[] = "format: notbrought-mapping/1\nname: x\n"
                              "source: {agency: gp, system: s, organisation_code: A1}\n"
                              "csv:\n"
                              "  appointment_id: A\n"
                              "  nhs_number: N\n"
                              "  scheduled_start: {column: D, format: \"YYYY-MM-DD\"}\n"
                              "  recorded_at: extract_time\n"
                              "  status: {column: S, map: {booked: [B]}}\n"
                              "  appointment_type: {default: immunisation}\n"
                              "  identity_links: {local_to_nhs: true}\n";
    nb_feed_mapping_t *m = NULL;
    assert_int_equal(
        nb_feed_mapping_load_buffer("bad.yaml", bad, strlen(bad), NULL, NULL, &m, err, sizeof(err)),
        NB_ERR_CONFIG);
    assert_non_null(strstr(err, "bad.yaml:11:19: identity_links: local_to_nhs needs both"));
}

/* csv encoding: a Windows-1252 field becomes UTF-8 (a pound sign, an accented name); a byte
 * Windows-1252 leaves undefined is refused with its offset; UTF-8 passes as read; an encoding
 * iconv does not know, or one that is not ASCII-compatible, is a load error. */
static void test_encoding(void **state)
{
    (void)state;
    static const char fmt[] = "format: notbrought-mapping/1\nname: x\n"
                              "source: {agency: gp, system: s, organisation_code: A1}\n"
                              "csv:\n"
                              "%s"
                              "  appointment_id: A\n"
                              "  nhs_number: N\n"
                              "  scheduled_start: {column: D, format: \"YYYY-MM-DD\"}\n"
                              "  recorded_at: extract_time\n"
                              "  status: {column: S, map: {booked: [B]}}\n"
                              "  appointment_type: {default: immunisation}\n";
    char yaml[1024], err[512], sum[1024];
    nb_feed_mapping_t *m = NULL;
    nb_feed_csv_decoder_t *d = NULL;
    nb_feed_csv_opts_t o;
    const char *u;
    size_t ulen, bad = 99;
    snprintf(yaml, sizeof(yaml), fmt, "  encoding: windows-1252\n");
    nb_err_t e =
        nb_feed_mapping_load_buffer("w.yaml", yaml, strlen(yaml), NULL, NULL, &m, err, sizeof(err));
    if (e)
        fail_msg("%s", err);
    assert_true(nb_feed_csv_opts(m, &o));
    assert_string_equal(o.encoding, "windows-1252");
    nb_feed_mapping_summary(m, sum, sizeof(sum));
    assert_non_null(strstr(sum, "encoding windows-1252"));
    assert_int_equal(nb_feed_csv_decoder_new(m, &d, err, sizeof(err)), NB_ERR_OK);
    static const char pound[] = "\xa3"
                                "5 Ren\xe9"
                                "e \x80";
    assert_int_equal(nb_feed_csv_decode(d, pound, strlen(pound), &u, &ulen, &bad), NB_ERR_OK);
    assert_int_equal(ulen, strlen("\xc2\xa3"
                                  "5 Ren\xc3\xa9"
                                  "e \xe2\x82\xac"));
    assert_memory_equal(u,
                        "\xc2\xa3"
                        "5 Ren\xc3\xa9"
                        "e \xe2\x82\xac",
                        ulen);
    assert_int_equal(nb_feed_csv_decode(d,
                                        "ab\x81"
                                        "c",
                                        4, &u, &ulen, &bad),
                     NB_ERR_TEXT_INVALID);
    assert_int_equal(bad, 2);
    /* The decoder starts again at each field. */
    assert_int_equal(nb_feed_csv_decode(d, "", 0, &u, &ulen, &bad), NB_ERR_OK);
    assert_int_equal(ulen, 0);
    assert_int_equal(nb_feed_csv_decode(d, "ok", 2, &u, &ulen, &bad), NB_ERR_OK);
    assert_memory_equal(u, "ok", 2);
    nb_feed_csv_decoder_destroy(d);
    nb_feed_mapping_free(m);
    /* UTF-8, the default: as read. */
    snprintf(yaml, sizeof(yaml), fmt, "");
    assert_int_equal(
        nb_feed_mapping_load_buffer("u.yaml", yaml, strlen(yaml), NULL, NULL, &m, err, sizeof(err)),
        NB_ERR_OK);
    assert_true(nb_feed_csv_opts(m, &o));
    assert_string_equal(o.encoding, "utf-8");
    assert_int_equal(nb_feed_csv_decoder_new(m, &d, err, sizeof(err)), NB_ERR_OK);
    assert_int_equal(nb_feed_csv_decode(d,
                                        "Ren\xc3\xa9"
                                        "e",
                                        6, &u, &ulen, &bad),
                     NB_ERR_OK);
    assert_int_equal(ulen, 6);
    nb_feed_csv_decoder_destroy(d);
    nb_feed_mapping_free(m);
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"  encoding: klingon\n", "k.yaml:5:13: encoding 'klingon': not an encoding iconv knows"},
        {"  encoding: utf-16\n", "k.yaml:5:13: encoding 'utf-16': not ASCII-compatible"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(yaml, sizeof(yaml), fmt, cases[i].line);
        m = NULL;
        assert_int_equal(nb_feed_mapping_load_buffer("k.yaml", yaml, strlen(yaml), NULL, NULL, &m,
                                                     err, sizeof(err)),
                         NB_ERR_CONFIG);
        assert_null(m);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("got '%s', want '%s...'", err, cases[i].want);
    }
}

static void test_header(void **state)
{
    fx_t *fx = *state;
    split_t s;
    char err[256];
    nb_feed_csv_header_t h;
    split(&s, "appointment ref,NHS_NUMBER,chis id,Date of Birth,Appointment Date,"
              "Appointment Time,Outcome,Contact Type,Venue Type,Extra");
    assert_int_equal(nb_feed_csv_header(fx->m, s.f, s.len, s.n, &h, err, sizeof(err)), NB_ERR_OK);
    assert_int_equal(h.col[NB_FEED_CSV_NHS_NUMBER], 1);
    assert_int_equal(h.n_columns, 10);
    split(&s, "Appointment Ref,NHS Number,CHIS ID,Appointment Date,Appointment Time,Outcome,"
              "Contact Type,Venue Type");
    assert_int_equal(nb_feed_csv_header(fx->m, s.f, s.len, s.n, &h, err, sizeof(err)),
                     NB_ERR_CONFIG);
    assert_non_null(strstr(err, "no column 'Date of Birth'"));
    split(&s, CHIS_HEADER ",Outcome");
    assert_int_equal(nb_feed_csv_header(fx->m, s.f, s.len, s.n, &h, err, sizeof(err)),
                     NB_ERR_CONFIG);
    assert_non_null(strstr(err, "column 'Outcome' twice"));
}

static void test_load_errors(void **state)
{
    (void)state;
    static const char bad[] = "format: notbrought-mapping/1\n"
                              "name: x\n"
                              "source: {agency: gp, system: s, organisation_code: A1}\n"
                              "csv:\n"
                              "  appointment_id: A\n"
                              "  nhs_number: N\n"
                              "  scheduled_start: {column: D, format: \"hh:mm\"}\n"
                              "  recorded_at: extract_time\n"
                              "  status: {column: S, map: {booked: [B]}}\n"
                              "  appointment_type: {default: immunisation}\n";
    char err[512];
    nb_feed_mapping_t *m = NULL;
    assert_int_equal(
        nb_feed_mapping_load_buffer("bad.yaml", bad, strlen(bad), NULL, NULL, &m, err, sizeof(err)),
        NB_ERR_CONFIG);
    assert_null(m);
    assert_non_null(strstr(err, "bad.yaml:7:40: 'format' needs a date"));
    static const char none[] = "format: notbrought-mapping/1\nname: x\n"
                               "source: {agency: gp, system: s, organisation_code: A1}\n";
    assert_int_equal(nb_feed_mapping_load_buffer("none.yaml", none, strlen(none), NULL, NULL, &m,
                                                 err, sizeof(err)),
                     NB_ERR_CONFIG);
    assert_non_null(strstr(err, "an 'hl7v2', a 'fhir' or a 'csv' section"));
}

/* One source may send FHIR and extract CSV: a mapping with a fhir and a csv section and no
 * hl7v2 one loads, and its summary says what each section does. */
static void test_fhir_and_csv_sections(void **state)
{
    (void)state;
    static const char both[] = "format: notbrought-mapping/1\n"
                               "name: x\n"
                               "source: {agency: gp, system: s, organisation_code: A1}\n"
                               "fhir:\n"
                               "  appointment_id: [id]\n"
                               "  recorded_at: received\n"
                               "  appointment_type: {default: immunisation}\n"
                               "csv:\n"
                               "  delimiter: tab\n"
                               "  appointment_id: A\n"
                               "  nhs_number: N\n"
                               "  scheduled_start: {column: D, format: \"YYYY-MM-DD\"}\n"
                               "  recorded_at: extract_time\n"
                               "  status: {column: S, map: {booked: [B]}}\n"
                               "  appointment_type: {default: immunisation}\n";
    char err[512], sum[1024];
    nb_feed_mapping_t *m = NULL;
    nb_err_t e = nb_feed_mapping_load_buffer("both.yaml", both, strlen(both), NULL, NULL, &m, err,
                                             sizeof(err));
    if (e)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(e, NB_ERR_OK);
    assert_true(nb_feed_mapping_has_fhir(m));
    assert_false(nb_feed_mapping_has_hl7v2(m));
    nb_feed_csv_opts_t o;
    assert_true(nb_feed_csv_opts(m, &o));
    assert_int_equal(o.delimiter, '\t');
    nb_feed_mapping_summary(m, sum, sizeof(sum));
    assert_non_null(strstr(sum, "x: for gp A1 (s)"));
    assert_non_null(strstr(sum, "; fhir: Appointment"));
    assert_non_null(strstr(sum, "; csv: delimiter 'tab'"));
    nb_feed_mapping_free(m);
}

/* ---- the Kaggle extract ------------------------------------------------------------------ */

static char *read_realdata(size_t *len)
{
    const char *dir = getenv("NB_REALDATA_DIR");
#ifdef NB_REALDATA_DIR
    if (!dir)
        dir = NB_REALDATA_DIR;
#endif
    char path[1024];
    if (!dir)
        return NULL;
    snprintf(path, sizeof(path), "%s/csv/KaggleV2-May-2016.head30.csv", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

static void map_kaggle(const char *mapping, const char *expect_code)
{
    size_t len = 0;
    char *data = read_realdata(&len), err[256];
    if (!data)
        skip();
    assert_null(memchr(data, '"', len)); /* nothing quoted: a split at commas reads it */
    nb_feed_mapping_t *m = load(mapping);
    nb_feed_out_t *out = nb_feed_out_new();
    nb_feed_csv_header_t h;
    static const int yes[] = {7, 8, 12, 18, 21, 22, 23};
    char ids[30][NB_ID_MAX + 1];
    char *save = NULL, *line = strtok_r(data, "\r\n", &save);
    split_t s;
    split(&s, line);
    assert_int_equal(nb_feed_csv_header(m, s.f, s.len, s.n, &h, err, sizeof(err)), NB_ERR_OK);
    uint64_t row = 0;
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        row++;
        split(&s, line);
        nb_feed_csv_row_t r = {row, s.f, s.len, s.n, 1462082400000LL};
        nb_err_t e = nb_feed_csv_row(m, &h, &r, out);
        if (expect_code) {
            assert_int_equal(e, NB_ERR_NHS_FORMAT);
            assert_string_equal(out->code, expect_code);
            char want[64];
            snprintf(want, sizeof(want), "row %llu, column PatientId:", (unsigned long long)row);
            assert_non_null(strstr(out->text, want));
            assert_null(strstr(out->text, s.f[0])); /* PatientId, the value refused */
            continue;
        }
        assert_int_equal(e, NB_ERR_OK);
        const nb_appointment_event_t *ev = &out->records[0].u.appt;
        bool no_show = false;
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
            no_show |= (uint64_t)yes[i] == row;
        assert_int_equal(ev->status, no_show ? NB_STATUS_WAS_NOT_BROUGHT : NB_STATUS_ATTENDED);
        char t[32];
        nb_format_time(ev->scheduled_start, t, sizeof(t));
        assert_string_equal(t, "2016-04-29T00:00:00.000Z");
        assert_string_equal(ev->appointment_type, "consultation");
        snprintf(ids[row - 1], sizeof(ids[0]), "%s", ev->event_id);
        if (row == 22 || row == 28)
            assert_string_equal(ev->local_id.value, "12154843752835");
        if (row == 22)
            assert_string_equal(ev->appointment_id, "5628338");
        if (row == 28)
            assert_string_equal(ev->appointment_id, "5628345");
    }
    assert_int_equal(row, 30);
    for (size_t i = 0; !expect_code && i < 30; i++)
        for (size_t k = i + 1; k < 30; k++)
            assert_string_not_equal(ids[i], ids[k]);
    nb_feed_out_destroy(out);
    nb_feed_mapping_free(m);
    free(data);
}

static void test_kaggle_maps_every_row(void **state)
{
    (void)state;
    map_kaggle("tests/data/mappings/realdata-kaggle-csv.yaml", NULL);
}

static void test_kaggle_patient_id_is_no_nhs_number(void **state)
{
    (void)state;
    map_kaggle("tests/data/mappings/realdata-kaggle-csv-nhs.yaml", "nhs_format");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_maps_a_row_in_bst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_visit_no_show_is_no_access_in_gmt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_and_placeholder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header, setup, teardown),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_fhir_and_csv_sections),
        cmocka_unit_test(test_kaggle_maps_every_row),
        cmocka_unit_test(test_kaggle_patient_id_is_no_nhs_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
