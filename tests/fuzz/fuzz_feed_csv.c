/*
 * libFuzzer harness: the feed module's CSV row mapper (nb_feed_csv_row()) over arbitrary rows,
 * with a mapping written here that reads every kind of key (NHS number, local id, a date and
 * a time column in UK local time, a date of birth, status, type and contact mode maps). The
 * bytes are split here, not by libcsv: each line is a row, each ',' ends a field, so any byte
 * (NUL, quotes, invalid UTF-8) reaches the mapper inside a field. Whatever the row, the result
 * keeps the promises of include/notbrought/feed.h:
 *   - the return value is out->err, and OK exactly when the row was mapped;
 *   - mapped: one record, an event id "csv-" and 32 hex digits, enumerations in range, the
 *     appointment id and identifiers valid identifier text, an NHS number that passes
 *     nb_nhs_validate(), recorded_at the extract time;
 *   - refused: no records, a code, and a text starting "row N" without control characters;
 *   - the same row again gives the same outcome, code and event id.
 *
 *   ./fuzz_feed_csv /tmp/scratch-corpus tests/fuzz/corpus/feed_csv
 *
 * Each abort() is a broken promise, not a refused input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char mapping[] =
    "format: notbrought-mapping/1\n"
    "name: fuzz-csv\n"
    "source: {agency: health_visiting, system: Fuzz, organisation_code: F0001}\n"
    "csv:\n"
    "  appointment_id: Ref\n"
    "  nhs_number: NHS\n"
    "  local_id: {column: Local, system: 'urn:fuzz'}\n"
    "  date_of_birth: {column: DOB, format: 'YYYY-MM-DD'}\n"
    "  scheduled_start: {column: Date, format: 'D/M/YYYY', time_column: Time,\n"
    "                    time_format: 'h:mm'}\n"
    "  recorded_at: extract_time\n"
    "  status: {column: Outcome, map: {attended: [ATT], was_not_brought: [DNA],\n"
    "           booked: [BKD], entered_in_error: [ERR]}}\n"
    "  appointment_type: {column: Type, map: {immunisation: [IMM], 1_year_review: [1YR]},\n"
    "                     default: consultation}\n"
    "  contact_mode: {column: Venue, map: {home_visit: [HOME], telephone: [TEL]}}\n"
    "  mandated: [1_year_review]\n";

#define EXTRACT_MS 1733536800000LL
#define MAX_FIELDS 16

static nb_feed_mapping_t *m;
static nb_feed_out_t *out;
static nb_feed_csv_header_t hdr;

static void init(void)
{
    static const char *const names[] = {"Ref",  "NHS",     "Local", "DOB",  "Date",
                                        "Time", "Outcome", "Type",  "Venue"};
    size_t lens[9];
    char err[512];
    if (nb_feed_mapping_load_buffer("fuzz", mapping, sizeof(mapping) - 1, NULL, NULL, &m, err,
                                    sizeof(err)) != NB_ERR_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    for (size_t i = 0; i < 9; i++)
        lens[i] = strlen(names[i]);
    if (!(out = nb_feed_out_new()) ||
        nb_feed_csv_header(m, names, lens, 9, &hdr, err, sizeof(err)) != NB_ERR_OK)
        abort();
}

static bool is_id(const char *s)
{
    return nb_text_check(s, strlen(s), NB_TEXT_ID) == NB_TEXT_OK;
}

static void check(const nb_feed_out_t *o, nb_err_t err, uint64_t number)
{
    if (err != o->err || (err == NB_ERR_OK) != (o->outcome == NB_FEED_MAPPED))
        abort();
    if (o->outcome != NB_FEED_MAPPED) {
        char want[32];
        snprintf(want, sizeof(want), "row %llu", (unsigned long long)number);
        if (o->n_records || !o->code[0] || strncmp(o->text, want, strlen(want)) != 0)
            abort();
        for (const char *p = o->text; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        return;
    }
    const nb_appointment_event_t *ev = &o->records[0].u.appt;
    if (o->n_records != 1 || strncmp(ev->event_id, "csv-", 4) != 0 || strlen(ev->event_id) != 36 ||
        strspn(ev->event_id + 4, "0123456789abcdef") != 32)
        abort();
    if ((unsigned)ev->status >= NB_STATUS__COUNT ||
        (unsigned)ev->contact_mode >= NB_CONTACT__COUNT || ev->recorded_at != EXTRACT_MS ||
        !ev->appointment_id[0] || !is_id(ev->appointment_id))
        abort();
    if (ev->nhs_number[0] && nb_nhs_validate(ev->nhs_number) != NB_ERR_OK)
        abort();
    if (!ev->nhs_number[0] && (!ev->local_id.value[0] || !is_id(ev->local_id.value)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *fields[MAX_FIELDS];
    size_t lens[MAX_FIELDS], n = 0, start = 0;
    uint64_t number = 0;
    if (!m)
        init();
    for (size_t i = 0; i <= size; i++) {
        bool eol = i == size || data[i] == '\n';
        if (i < size && data[i] != ',' && !eol)
            continue;
        if (n < MAX_FIELDS) {
            fields[n] = (const char *)data + start;
            lens[n++] = i - start;
        }
        start = i + 1;
        if (!eol)
            continue;
        nb_feed_csv_row_t row = {++number, fields, lens, n, EXTRACT_MS};
        nb_err_t err = nb_feed_csv_row(m, &hdr, &row, out);
        check(out, err, number);
        char code[NB_FEED_CODE_MAX], id[NB_ID_MAX + 1];
        nb_feed_outcome_t outcome = out->outcome;
        memcpy(code, out->code, sizeof(code));
        memcpy(id, out->records[0].u.appt.event_id, sizeof(id));
        if (nb_feed_csv_row(m, &hdr, &row, out) != err || out->outcome != outcome ||
            strcmp(out->code, code) != 0 ||
            (outcome == NB_FEED_MAPPED && strcmp(out->records[0].u.appt.event_id, id) != 0))
            abort();
        n = 0;
    }
    return 0;
}
