/*
 * notbrought mapping: tools for integration teams (docs/integration.md, docs/cli.md).
 *   mapping check FILE                        validate; every problem as file:line:column
 *   mapping test FILE MESSAGE [--expect JSONL] what a message (HL7 v2, or a FHIR resource
 *                                             or Bundle) maps to, as JSON lines
 */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notbrought/feed.h"
#include "notbrought/fhir.h"
#include "notbrought/hl7.h"
#include "notbrought/util.h"

static const char nb__mapping_help[] =
    "usage: notbrought mapping check FILE\n"
    "       notbrought mapping test FILE MESSAGE [--expect JSONL]\n"
    "\n"
    "FILE is a source's mapping (YAML, docs/integration.md).\n"
    "\n"
    "  check  validate the mapping; print every problem as file:line:column: message.\n"
    "         Exit 0 and a one-line summary when valid, 1 when not.\n"
    "  test   map the HL7 v2 message(s) in MESSAGE (one message, several one after another,\n"
    "         or a batch; CR, LF or CRLF line ends) and print one JSON line per record, or\n"
    "         per message ignored or refused (outcome, ACK code, refusal code and text).\n"
    "         A MESSAGE that starts with '{' or '<' is a FHIR R4 resource (JSON or XML): an\n"
    "         Appointment or Encounter, or a Bundle whose Appointment and Encounter entries\n"
    "         are each mapped (\"entry\" gives the index; refusals carry the FHIR path).\n"
    "         Resources are received now (NB_NOW=2026-01-01T00:00:00Z fixes the time).\n"
    "         With --expect, compare those lines with the JSON lines of JSONL (as JSON\n"
    "         values, key order aside) and exit 1 on any difference.\n"
    "\n"
    "Exit status: 0 success, 1 invalid mapping or a difference, 2 usage error, 3 I/O error.\n";

#define NB__MESSAGE_MAX (16u << 20)

static void nb__diag_print(void *opaque, const nb_feed_diag_t *d)
{
    int *n = opaque;
    if (d->line)
        fprintf(stderr, "%s:%d:%d: error: %s [%s]\n", d->file, d->line, d->column, d->message,
                nb_err_name(d->err));
    else
        fprintf(stderr, "%s: error: %s [%s]\n", d->file, d->message, nb_err_name(d->err));
    (*n)++;
}

nb_feed_mapping_t *nb__mapping_load(const char *file, int *rc)
{
    nb_feed_mapping_t *m = NULL;
    char errstr[512] = "";
    int n = 0;
    nb_err_t err = nb_feed_mapping_load(file, nb__diag_print, &n, &m, errstr, sizeof(errstr));
    if (err) {
        if (!n)
            fprintf(stderr, "notbrought mapping: %s\n", errstr);
        fprintf(stderr, "%d error%s: the mapping is not valid\n", n ? n : 1, n == 1 ? "" : "s");
        *rc = err == NB_ERR_IO || err == NB_ERR_NOMEM ? NB_EXIT_SOFTWARE : NB_EXIT_FAILURE;
        return NULL;
    }
    return m;
}

static int nb__mapping_check(int argc, char **argv)
{
    int rc = NB_EXIT_OK;
    char summary[1024];
    if (argc != 1 || argv[0][0] == '-')
        return -1;
    nb_feed_mapping_t *m = nb__mapping_load(argv[0], &rc);
    if (!m)
        return rc;
    nb_feed_mapping_summary(m, summary, sizeof(summary));
    printf("ok: %s\n", summary);
    nb_feed_mapping_free(m);
    return NB_EXIT_OK;
}

static const char *nb__ack_name(nb_hl7_ack_code_t a)
{
    return a == NB_HL7_AA ? "AA" : a == NB_HL7_AE ? "AE" : "AR";
}

/* The JSON lines of one message's result, appended to @p lines. */
static void nb__result_json(const nb_feed_out_t *out, size_t msg_no, json_t *lines)
{
    if (out->outcome == NB_FEED_MAPPED) {
        for (size_t i = 0; i < out->n_records; i++)
            json_array_append_new(lines, json_pack("{s:I, s:s, s:s, s:o}", "message",
                                                   (json_int_t)msg_no, "outcome", "mapped", "type",
                                                   nb_record_type_name(out->records[i].type),
                                                   "record", nb__record_to_json(&out->records[i])));
        return;
    }
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "message", (json_int_t)msg_no, "outcome",
                  nb_feed_outcome_name(out->outcome), "ack", nb__ack_name(out->ack), "code",
                  out->code, "text", out->text, "message_type", out->message_type);
    if (o && out->outcome == NB_FEED_REFUSED)
        json_object_set_new(o, "error", json_string(nb_err_name(out->err)));
    json_array_append_new(lines, o ? o : json_null());
}

/* Maps every message of @p data. @returns the number refused by the batch splitter. */
static void nb__map_all(const nb_feed_mapping_t *m, nb_feed_out_t *out, const char *data,
                        size_t len, json_t *lines)
{
    nb_hl7_batch_t b;
    const char *msg;
    size_t msg_len, n = 0;
    char errstr[256];
    nb_hl7_batch_init(&b, data, len);
    for (;;) {
        nb_err_t err = nb_hl7_batch_next(&b, &msg, &msg_len, errstr, sizeof(errstr));
        if (err == NB_ERR_NOT_FOUND)
            break;
        n++;
        if (err) {
            json_array_append_new(lines,
                                  json_pack("{s:I, s:s, s:s, s:s, s:s}", "message", (json_int_t)n,
                                            "outcome", "refused", "code", "hl7_batch", "error",
                                            nb_err_name(err), "text", errstr));
            continue;
        }
        /* Each outcome, refusals included, is in out and printed: nothing to act on here. */
        NB_IGNORE(nb_feed_hl7(m, msg, msg_len, out));
        nb__result_json(out, n, lines);
    }
}

/* The JSON line of one FHIR resource's result: as HL7's, with the entry and the path. */
static void nb__fhir_json(const nb_feed_out_t *out, int entry, json_t *lines)
{
    size_t first = json_array_size(lines);
    nb__result_json(out, 1, lines);
    for (size_t i = first; i < json_array_size(lines); i++) {
        json_t *o = json_array_get(lines, i);
        json_object_del(o, "message");
        json_object_del(o, "ack");
        if (entry >= 0)
            json_object_set_new(o, "entry", json_integer(entry));
        if (out->outcome != NB_FEED_MAPPED) {
            json_object_set_new(o, "expression", json_string(out->expression));
            json_object_set_new(o, "issue", json_string(out->issue_code));
        }
    }
}

/* Maps a FHIR resource, or each Appointment and Encounter of a Bundle. */
static void nb__map_fhir(const nb_feed_mapping_t *m, nb_feed_out_t *out, const char *data,
                         size_t len, json_t *lines)
{
    char errstr[256], where[64];
    /* "Received" now, for mappings that record resources without meta.lastUpdated so; the
     * environment variable NB_NOW fixes it, for --expect files. */
    int64_t now = nb__cli_now();
    nb_fhir_doc_t *doc = nb_fhir_doc_new(NULL);
    nb_err_t err =
        doc ? nb_fhir_read(doc, data, len, NB_FHIR_AUTO, errstr, sizeof(errstr)) : NB_ERR_NOMEM;
    if (err) {
        json_array_append_new(lines,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "outcome", "refused",
                                        "code", nb_err_name(err), "error", nb_err_name(err), "text",
                                        doc ? errstr : "out of memory", "expression",
                                        doc ? nb_fhir_doc_error_path(doc) : "", "issue",
                                        nb_fhir_issue_code(err)));
        nb_fhir_doc_destroy(doc);
        return;
    }
    const nb_fhir_resource_t *res = nb_fhir_doc_resource(doc);
    if (!res->bundle) {
        /* The outcome, refusals included, is in out and printed. */
        NB_IGNORE(nb_feed_fhir(m, res, NULL, now, out));
        nb__fhir_json(out, -1, lines);
    }
    for (size_t i = 0; res->bundle && i < res->bundle->n_entries; i++) {
        const nb_fhir_resource_t *r = &res->bundle->entries[i].resource;
        if (!r->appointment && !r->encounter)
            continue;
        snprintf(where, sizeof(where), "Bundle.entry[%zu].resource", i);
        NB_IGNORE(nb_feed_fhir(m, r, where, now, out)); /* as above */
        nb__fhir_json(out, (int)i, lines);
    }
    nb_fhir_doc_destroy(doc);
}

/* Whether the bytes are a FHIR document: '{' or '<' first, after white space and a BOM. */
static bool nb__is_fhir(const char *data, size_t len)
{
    size_t i = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    return i < len && (data[i] == '{' || data[i] == '<');
}

static bool nb__read(const char *path, char **buf, size_t *len)
{
    const char *why = "";
    nb_file_status_t fs = nb_file_read(path, 0, NB__MESSAGE_MAX, buf, len, &why);
    if (fs == NB_FILE_OK)
        return true;
    fprintf(stderr, "notbrought mapping: %s: %s\n", path,
            fs == NB_FILE_SIZE    ? "larger than 16 MiB"
            : fs == NB_FILE_NOMEM ? "out of memory"
                                  : why);
    return false;
}

/* Compares the lines made with those of @p path. @returns NB_EXIT_OK or _FAILURE. */
static int nb__expect(json_t *lines, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[65536];
    size_t i = 0;
    int diffs = 0;
    if (!f) {
        fprintf(stderr, "notbrought mapping: %s: cannot open\n", path);
        return NB_EXIT_SOFTWARE;
    }
    while (fgets(line, sizeof(line), f)) {
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        json_error_t je;
        json_t *want = json_loads(line, 0, &je);
        json_t *got = json_array_get(lines, i);
        if (!want) {
            fprintf(stderr, "%s: line %zu is not JSON: %s\n", path, i + 1, je.text);
            diffs++;
        } else if (!got || !json_equal(want, got)) {
            char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(stderr, "line %zu differs:\n  expected %s\n  got      %s\n", i + 1, w ? w : "?",
                    g ? g : "(nothing)");
            free(g);
            free(w);
            diffs++;
        }
        json_decref(want);
        i++;
    }
    fclose(f);
    if (i < json_array_size(lines)) {
        fprintf(stderr, "%zu more line%s than expected\n", json_array_size(lines) - i,
                json_array_size(lines) - i == 1 ? "" : "s");
        diffs++;
    }
    if (diffs)
        fprintf(stderr, "FAIL: %d difference%s from %s\n", diffs, diffs == 1 ? "" : "s", path);
    else
        printf("PASS: %zu line%s as expected\n", i, i == 1 ? "" : "s");
    return diffs ? NB_EXIT_FAILURE : NB_EXIT_OK;
}

static int nb__mapping_test(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *expect = NULL;
    int n = 0, rc = NB_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
            expect = argv[++i];
        else if (argv[i][0] == '-' || n == 2)
            return -1;
        else
            files[n++] = argv[i];
    }
    if (n != 2)
        return -1;
    char *data = NULL;
    size_t len = 0;
    nb_feed_mapping_t *m = nb__mapping_load(files[0], &rc);
    if (!m)
        return rc;
    nb_feed_out_t *out = nb_feed_out_new();
    json_t *lines = json_array();
    if (!out || !lines) {
        rc = NB_EXIT_SOFTWARE;
    } else if (!nb__read(files[1], &data, &len)) {
        rc = NB_EXIT_SOFTWARE;
    } else {
        if (nb__is_fhir(data, len))
            nb__map_fhir(m, out, data, len, lines);
        else
            nb__map_all(m, out, data, len, lines);
        if (!expect) {
            for (size_t i = 0; i < json_array_size(lines); i++) {
                json_dumpf(json_array_get(lines, i), stdout, JSON_COMPACT);
                fputc('\n', stdout);
            }
        } else {
            rc = nb__expect(lines, expect);
        }
    }
    free(data);
    json_decref(lines);
    nb_feed_out_destroy(out);
    nb_feed_mapping_free(m);
    return rc;
}

int nb__cmd_mapping(int argc, char **argv)
{
    int rc = -1;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(nb__mapping_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? NB_EXIT_USAGE : NB_EXIT_OK;
    }
    /* "mapping check --help" asks for help; it does not name a file. */
    if (nb__wants_help(argc, argv)) {
        fputs(nb__mapping_help, stdout);
        return NB_EXIT_OK;
    }
    if (strcmp(argv[1], "check") == 0)
        rc = nb__mapping_check(argc - 2, argv + 2);
    else if (strcmp(argv[1], "test") == 0)
        rc = nb__mapping_test(argc - 2, argv + 2);
    if (rc < 0) {
        fprintf(stderr, "notbrought mapping: invalid arguments\n\n%s", nb__mapping_help);
        return NB_EXIT_USAGE;
    }
    return rc;
}
