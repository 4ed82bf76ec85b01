/*
 * notbrought - ingest: the FHIR R4 HTTP endpoint (ingest.fhir; docs/fhir.md, "The HTTP
 * endpoint"). libmicrohttpd runs without threads of its own: each listener's daemon is in
 * epoll mode, its epoll descriptor is polled by the server's one loop (server.c), and
 * MHD_run() is called from there. A request whose records wait for Kafka is suspended
 * (MHD_suspend_connection) and resumed from the delivery report, which the publisher calls on
 * the same thread: the publisher keeps one owner, and no lock is needed.
 *
 *   POST /fhir/<source>/Appointment, /Encounter   one resource      201 / 200 / 4xx / 503
 *   POST /fhir/<source>                            a Bundle (batch, transaction, history)
 *                                                 200 with a batch-response (or 422 / 503)
 */
#include "ingest/internal.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define NB__TEXT_RESEND_HTTP "Kafka did not acknowledge the records in time; resend the request"
/* A body past ingest.max_message_bytes is read and thrown away, so that the client, still
 * sending, gets its 413 rather than a reset; past this many bytes the 413 goes at once and the
 * connection closes. Four times the limit, and at least 1 MiB past it. */
#define NB__DISCARD_MAX(max) ((max)*4 > (max) + (1u << 20) ? (max)*4 : (max) + (1u << 20))
#define NB__LOCATION_MAX 320 /* "<Type>/<event id>/_history/1", and the base before it */

/* One entry's answer (a single resource is entry 0). */
typedef struct nb__fans_s {
    int status; /* 201 mapped, 200 ignored, 4xx refused */
    char issue[24];
    char text[NB_INGEST_TEXT_MAX];
    char expression[NB_INGEST_TEXT_MAX];
    char location[NB__LOCATION_MAX]; /* a 201's "<Type>/<event id>/_history/1", else "" */
} nb__fans_t;

typedef struct nb__req_s {
    int kind; /* NB__KIND_FHIR: first, as nb__msg_t's */
    nb_ingest_t *in;
    nb__fsrv_t *srv;
    struct MHD_Connection *conn;
    nb_buf_t body;
    size_t received; /* bytes of the body, kept or not */
    bool answered;   /* a response is queued: the handler has nothing more to do */
    bool too_large, processed, suspended, decided, kafka_failed, dead_letter;
    bool bundle;      /* the answer is a batch-response (or transaction-response) */
    bool transaction; /* the request was a transaction Bundle */
    nb_fhir_format_t fmt;
    size_t waiting;
    int status; /* the HTTP status, once decided */
    size_t n_ans;
    nb__fans_t *ans;
} nb__req_t;

/* ---- answers ----------------------------------------------------------------------------- */

static const char *nb__reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "200 OK";
    case 201:
        return "201 Created";
    case 400:
        return "400 Bad Request";
    case 422:
        return "422 Unprocessable Entity";
    default:
        return "500 Internal Server Error";
    }
}

static void nb__ans_set(nb__fans_t *a, int status, const char *issue, const char *text,
                        const char *expr)
{
    a->status = status;
    snprintf(a->issue, sizeof(a->issue), "%s", issue ? issue : "informational");
    snprintf(a->text, sizeof(a->text), "%s", text ? text : "");
    snprintf(a->expression, sizeof(a->expression), "%s", expr ? expr : "");
    a->location[0] = '\0';
}

/* The service base the client reached, "<scheme>://<Host>/fhir/<source>": the Host header when
 * it is a plain host[:port] (what it may hold is checked, as it goes into a header and a
 * body), else the listener's own address. */
static void nb__base(const nb__req_t *rq, char *buf, size_t cap)
{
    const nb__fsrv_t *srv = rq->srv;
    const char *host = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char own[96];
    bool ok = host && host[0] && strlen(host) < 200;
    for (const char *p = host; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             strchr(".-_:[]", *p) != NULL;
    if (!ok) {
        snprintf(own, sizeof(own), strchr(srv->conf->bind, ':') ? "[%s]:%d" : "%s:%d",
                 srv->conf->bind, srv->port);
        host = own;
    }
    snprintf(buf, cap, "%s://%s/fhir/%s", srv->tls_cert ? "https" : "http", host, srv->conf->name);
}

/* An OperationOutcome of one answer, appended to @p out. */
static void nb__outcome(const nb__fans_t *a, nb_fhir_format_t fmt, nb_buf_t *out)
{
    nb_fhir_issue_t is = {a->status >= 400 ? "error" : "information", a->issue, a->text,
                          a->expression};
    if (nb_fhir_outcome_write(&is, 1, fmt, out) != NB_ERR_OK)
        out->err = NB_ERR_NOMEM;
}

/* The batch-response Bundle: one entry per entry of the request, in order. */
static void nb__batch_response(const nb__req_t *rq, const char *base, nb_buf_t *out)
{
    bool xml = rq->fmt == NB_FHIR_XML;
    const char *type = rq->transaction ? "transaction-response" : "batch-response";
    char head_xml[96];
    snprintf(head_xml, sizeof(head_xml),
             "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"%s\"/>", type);
    json_t *entries = xml ? NULL : json_array();
    if (xml)
        nb_buf_add(out, head_xml, strlen(head_xml));
    for (size_t i = 0; i < rq->n_ans; i++) {
        nb_buf_t oo = {0};
        nb__outcome(&rq->ans[i], rq->fmt, &oo);
        const char *st = nb__reason_phrase(rq->ans[i].status);
        if (xml) {
            /* The outcome without its XML declaration, inside entry.response.outcome. */
            const char *p = (const char *)oo.data, *end = p ? p + oo.len : NULL;
            for (const char *q = p; q && q + 1 < end; q++) /* the buffer has no NUL: bounded */
                if (q[0] == '?' && q[1] == '>') {
                    p = q + 2;
                    break;
                }
            char buf[2 * NB__LOCATION_MAX];
            int n = snprintf(buf, sizeof(buf), "<entry><response><status value=\"%s\"/>", st);
            if (rq->ans[i].location[0])
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, "<location value=\"%s/%s\"/>", base,
                              rq->ans[i].location);
            snprintf(buf + n, sizeof(buf) - (size_t)n, "<outcome>");
            nb_buf_add(out, buf, strlen(buf));
            if (p && !oo.err)
                nb_buf_add(out, p, (size_t)(end - p));
            static const char tail[] = "</outcome></response></entry>";
            nb_buf_add(out, tail, strlen(tail));
        } else if (entries) {
            json_t *o = oo.err ? NULL : json_loadb((const char *)oo.data, oo.len, 0, NULL);
            char loc[2 * NB__LOCATION_MAX];
            snprintf(loc, sizeof(loc), "%s/%s", base, rq->ans[i].location);
            json_array_append_new(
                entries, json_pack("{s:{s:s, s:s*, s:o*}}", "response", "status", st, "location",
                                   rq->ans[i].location[0] ? loc : NULL, "outcome", o));
        }
        nb_buf_free(&oo);
    }
    if (xml) {
        nb_buf_add(out, "</Bundle>", 9);
        return;
    }
    json_t *b =
        json_pack("{s:s, s:s, s:o}", "resourceType", "Bundle", "type", type, "entry", entries);
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    if (s)
        nb_buf_add(out, s, strlen(s));
    else
        out->err = NB_ERR_NOMEM;
    free(s);
    json_decref(b);
}

/* Decides the HTTP status of the whole request from its answers. */
static void nb__decide(nb__req_t *rq)
{
    if (rq->decided)
        return;
    rq->decided = true;
    if (rq->kafka_failed) {
        rq->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        rq->bundle = false;
        rq->n_ans = 1;
        nb__ans_set(&rq->ans[0], 503, "transient", NB__TEXT_RESEND_HTTP, "");
        return;
    }
    rq->status = rq->bundle ? MHD_HTTP_OK : rq->ans[0].status;
}

/* Queues the decided answer on the connection. */
static enum MHD_Result nb__answer(nb__req_t *rq)
{
    nb_buf_t body = {0};
    char base[NB__LOCATION_MAX], loc[2 * NB__LOCATION_MAX];
    if (rq->fmt == NB_FHIR_AUTO)
        rq->fmt = NB_FHIR_JSON; /* a Content-Type not taken: answered in JSON */
    nb__base(rq, base, sizeof(base));
    if (rq->bundle)
        nb__batch_response(rq, base, &body);
    else
        nb__outcome(&rq->ans[0], rq->fmt, &body);
    int status = rq->status;
    if (body.err) {
        nb_buf_free(&body);
        return MHD_NO; /* out of memory: the connection closes, the client resends */
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        body.len, body.data ? body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    nb_buf_free(&body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            rq->fmt == NB_FHIR_XML ? "application/fhir+xml; charset=utf-8"
                                                   : "application/fhir+json; charset=utf-8");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    if (status == MHD_HTTP_CREATED && !rq->bundle && rq->ans[0].location[0]) {
        snprintf(loc, sizeof(loc), "%s/%s", base, rq->ans[0].location);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
    }
    char st[8];
    snprintf(st, sizeof(st), "%d", status);
    const char *labels[2] = {rq->srv->conf->name, st};
    nb_metrics_add_v(rq->in->metrics, NB_M_FHIR_REQUESTS, labels, 1);
    enum MHD_Result r = MHD_queue_response(rq->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    rq->answered = r == MHD_YES;
    return r;
}

/* An answer before anything is published (bad method, URL, type, size): no dead letter. */
static enum MHD_Result nb__reject(nb__req_t *rq, int status, const char *issue, const char *text)
{
    rq->n_ans = 1;
    nb__ans_set(&rq->ans[0], status, issue, text, "");
    rq->status = status;
    rq->decided = true;
    rq->bundle = false;
    return nb__answer(rq);
}

/* ---- delivery ---------------------------------------------------------------------------- */

void nb__fhir_reported(void *opaque, nb_err_t err, const char *reason)
{
    nb__req_t *rq = opaque;
    if (rq->waiting > 0)
        rq->waiting--;
    if (err && !rq->kafka_failed) {
        rq->kafka_failed = true;
        NB_LOG(NB_LOG_WARN, "ingest", "%s: a FHIR request: Kafka did not acknowledge it: %s: %s",
               rq->srv->conf->name, nb_err_name(err), reason);
    }
    if (rq->waiting > 0)
        return;
    nb__decide(rq);
    if (!rq->conn) {
        /* Its connection completed while Kafka had its records (nb__completed). */
        rq->srv->in_flight--;
        nb_buf_free(&rq->body);
        free(rq->ans);
        free(rq);
        return;
    }
    if (rq->suspended) {
        rq->suspended = false;
        MHD_resume_connection(rq->conn);
    }
}

void nb__reported(void *opaque, nb_err_t err, const char *reason)
{
    if (*(const int *)opaque == NB__KIND_FHIR)
        nb__fhir_reported(opaque, err, reason);
    else
        nb__msg_reported(opaque, err, reason);
}

/* ---- mapping and publishing -------------------------------------------------------------- */

/* Publishes a mapped resource's records; a record not queued fails the request (503). */
static void nb__publish(nb__req_t *rq, const nb_ingest_result_t *r)
{
    char errstr[512];
    nb_ingest_t *in = rq->in;
    for (size_t i = 0; i < r->n_records && !rq->kafka_failed; i++) {
        const nb_record_t *rec = &r->records[i];
        const char *topic = nb__ingest_topic(in, rq->srv->conf, rec);
        nb_err_t err = nb_publisher_publish_record(in->pub, topic, rec, rq, errstr, sizeof(errstr));
        if (err) {
            NB_LOG(NB_LOG_WARN, "ingest", "%s: record not queued: %s: %s", rq->srv->conf->name,
                   nb_err_name(err), errstr);
            rq->kafka_failed = true;
            return;
        }
        rq->waiting++;
    }
}

/* The raw body to the dead-letter topic, once per request, with the first refusal's reason. */
static void nb__dead_letter(nb__req_t *rq, nb_err_t err, const char *code, const char *text)
{
    char errstr[512];
    nb_ingest_t *in = rq->in;
    if (rq->dead_letter)
        return;
    rq->dead_letter = true;
    nb_publish_header_t extra[1] = {{"nb.refusal.code", code, strlen(code)}};
    nb_publish_origin_t o = {"http", rq->srv->conf->name, in->now};
    nb_err_t e = nb_publisher_dead_letter(in->pub, &o, rq->body.data ? rq->body.data : (void *)"",
                                          rq->body.len, err ? err : NB_ERR_INVALID_ARG, text, extra,
                                          1, rq, errstr, sizeof(errstr));
    if (e) {
        NB_LOG(NB_LOG_WARN, "ingest", "%s: a dead letter was not queued: %s", rq->srv->conf->name,
               errstr);
        rq->kafka_failed = true;
        return;
    }
    rq->waiting++;
    const char *labels[2] = {rq->srv->conf->name, code};
    nb_metrics_add_v(in->metrics, NB_M_FHIR_REFUSED, labels, 1);
    NB_LOG(NB_LOG_WARN, "ingest", "%s: FHIR request refused (%s): %s", rq->srv->conf->name, code,
           text);
}

/* Maps one resource into answer @p a: published, ignored, or refused (dead-lettered). */
static void nb__map_one(nb__req_t *rq, const nb_fhir_resource_t *res, const char *where,
                        nb__fans_t *a, bool dry)
{
    nb_ingest_t *in = rq->in;
    nb_ingest_result_t *r = in->result;
    nb_ingest_result_reset(r);
    nb_err_t err = rq->srv->mapper.map_fhir(rq->srv->mapper.opaque, rq->srv->conf->name, res, where,
                                            in->now, r);
    if (err) {
        rq->kafka_failed = true; /* cannot decide now: 503, resend */
        return;
    }
    if (r->outcome == NB_INGEST_PUBLISH && !nb__ingest_records_valid(in, rq->srv->conf, r))
        snprintf(r->issue, sizeof(r->issue), "invalid");
    if (r->outcome == NB_INGEST_IGNORE) {
        nb__ans_set(a, 200, "informational", r->text, r->expression);
    } else if (r->outcome == NB_INGEST_REFUSE) {
        nb__ans_set(a, 422, r->issue[0] ? r->issue : "invalid", r->text, r->expression);
        if (!dry)
            nb__dead_letter(rq, r->err, r->code[0] ? r->code : "refused", r->text);
    } else if (dry) {
        nb__ans_set(a, 201, "informational", "", "");
    } else {
        char text[NB_INGEST_TEXT_MAX];
        snprintf(text, sizeof(text), "published: %zu record%s", r->n_records,
                 r->n_records == 1 ? "" : "s");
        nb__ans_set(a, 201, "informational", text, "");
        /* Where the created resource is: the event's id is its logical id here, and version 1
         * (a new version of the source's resource is a new event, with a new id). */
        for (size_t i = 0; i < r->n_records; i++) {
            if (r->records[i].type != NB_RECORD_APPOINTMENT)
                continue;
            snprintf(a->location, sizeof(a->location), "%s/%s/_history/1",
                     res->resource_type ? res->resource_type : "Resource",
                     r->records[i].u.appt.event_id);
            break;
        }
        nb__publish(rq, r);
    }
}

/* The request's resource type as the URL names it: "Appointment", "Encounter", or NULL for a
 * Bundle at the base. @returns false when the URL is not this listener's. */
static bool nb__route(const nb__req_t *rq, const char *url, const char **type)
{
    const char *name = rq->srv->conf->name;
    size_t n = strlen(name);
    if (strncmp(url, "/fhir/", 6) != 0 || strncmp(url + 6, name, n) != 0)
        return false;
    const char *rest = url + 6 + n;
    *type = NULL;
    if (!*rest || strcmp(rest, "/") == 0)
        return true;
    if (strcmp(rest, "/Appointment") == 0 || strcmp(rest, "/Encounter") == 0) {
        *type = rest + 1;
        return true;
    }
    return false;
}

/* Reads, maps and publishes the request's body; the answer waits for Kafka. */
static void nb__process(nb__req_t *rq, const char *type)
{
    char errstr[256], where[64];
    nb_fhir_doc_t *doc = rq->srv->doc;
    nb_err_t err = nb_fhir_read(doc, rq->body.data ? (const char *)rq->body.data : "", rq->body.len,
                                rq->fmt, errstr, sizeof(errstr));
    rq->n_ans = 1;
    if (err) {
        nb__ans_set(&rq->ans[0], 400, nb_fhir_issue_code(err), errstr, nb_fhir_doc_error_path(doc));
        nb__dead_letter(rq, err, nb_err_name(err), errstr);
        return;
    }
    const nb_fhir_resource_t *res = nb_fhir_doc_resource(doc);
    const nb_fhir_bundle_t *b = res->bundle;
    if (type ? !res->resource_type || strcmp(res->resource_type, type) != 0 : !b) {
        snprintf(errstr, sizeof(errstr), "this URL takes %s, not a %s", type ? type : "a Bundle",
                 res->resource_type ? res->resource_type : "resource");
        nb__ans_set(&rq->ans[0], 400, "not-supported", errstr, "");
        nb__dead_letter(rq, NB_ERR_FHIR_UNSUPPORTED, "resource_type_unsupported", errstr);
        return;
    }
    if (!b) {
        nb__map_one(rq, res, NULL, &rq->ans[0], false);
        return;
    }
    bool history = b->type && strcmp(b->type, "history") == 0;
    if (!b->type ||
        (strcmp(b->type, "batch") != 0 && strcmp(b->type, "transaction") != 0 && !history)) {
        nb__ans_set(&rq->ans[0], 400, "not-supported",
                    "Bundle.type: this endpoint takes batch, transaction and history",
                    "Bundle.type");
        nb__dead_letter(rq, NB_ERR_FHIR_UNSUPPORTED, "bundle_type_unsupported", rq->ans[0].text);
        return;
    }
    nb__fans_t *ans = calloc(b->n_entries ? b->n_entries : 1, sizeof(*ans));
    if (!ans) {
        rq->kafka_failed = true;
        return;
    }
    free(rq->ans);
    rq->ans = ans;
    rq->n_ans = b->n_entries;
    rq->bundle = true;
    /* A transaction is all or nothing: its entries are mapped once without publishing (the
     * mapper is pure), and one refusal refuses the whole Bundle, nothing published. */
    rq->transaction = strcmp(b->type, "transaction") == 0;
    for (int pass = rq->transaction ? 0 : 1; pass < 2; pass++) {
        for (size_t i = 0; i < b->n_entries && !rq->kafka_failed; i++) {
            const nb_fhir_entry_t *e = &b->entries[i];
            const nb_fhir_resource_t *r = &e->resource;
            snprintf(where, sizeof(where), "Bundle.entry[%zu].resource", i);
            /* Only Appointments and Encounters (in a notification, the focus ones) carry
             * events; the rest (Patients, Locations, the SubscriptionStatus) are context. */
            if ((r->appointment || r->encounter) && (!history || e->focus))
                nb__map_one(rq, r, where, &ans[i], pass == 0);
            else
                nb__ans_set(&ans[i], 200, "informational", "not an event: nothing published",
                            where);
            if (pass == 0 && ans[i].status >= 400) {
                /* The transaction's answer: this entry's OperationOutcome, alone. */
                rq->bundle = false;
                rq->n_ans = 1;
                if (i > 0)
                    ans[0] = ans[i];
                nb__map_one(rq, r, where, &ans[0], false); /* dead-letters the Bundle */
                return;
            }
        }
    }
}

/* ---- the access handler ------------------------------------------------------------------ */

static nb_fhir_format_t nb__format_of(struct MHD_Connection *conn)
{
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct)
        return NB_FHIR_AUTO;
    if (strncmp(ct, "application/fhir+json", 21) == 0 || strncmp(ct, "application/json", 16) == 0)
        return NB_FHIR_JSON;
    if (strncmp(ct, "application/fhir+xml", 20) == 0 || strncmp(ct, "application/xml", 15) == 0 ||
        strncmp(ct, "text/xml", 8) == 0)
        return NB_FHIR_XML;
    return NB_FHIR_AUTO;
}

/* 413, nothing published. */
static enum MHD_Result nb__too_large(nb__req_t *rq)
{
    return nb__reject(rq, MHD_HTTP_CONTENT_TOO_LARGE, "too-costly",
                      "the body is larger than ingest.max_message_bytes");
}

static enum MHD_Result nb__first_call(nb__fsrv_t *srv, struct MHD_Connection *conn, void **con_cls)
{
    nb__req_t *rq = calloc(1, sizeof(*rq));
    if (rq && !(rq->ans = calloc(1, sizeof(*rq->ans)))) {
        free(rq);
        rq = NULL;
    }
    if (!rq)
        return MHD_NO;
    rq->kind = NB__KIND_FHIR;
    rq->in = srv->in;
    rq->srv = srv;
    rq->conn = conn;
    rq->fmt = nb__format_of(conn);
    *con_cls = rq;
    srv->in_flight++;
    /* A body announced past the limit with "Expect: 100-continue" is answered now: the client
     * waits for "100 Continue" before sending it, and gets the 413 instead. One announced past
     * what would be read and discarded is answered now too (the connection then closes). */
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *ex = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    size_t max = (size_t)srv->in->conf->ingest_max_message_bytes;
    char *end = NULL;
    unsigned long long len = cl ? strtoull(cl, &end, 10) : 0;
    if (cl && end != cl && len > max &&
        ((ex && strcasecmp(ex, "100-continue") == 0) || len > NB__DISCARD_MAX(max)))
        return nb__too_large(rq);
    return MHD_YES;
}

static enum MHD_Result nb__handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    nb__fsrv_t *srv = cls;
    nb__req_t *rq = *con_cls;
    const char *type = NULL;
    (void)version;
    if (!rq)
        return nb__first_call(srv, conn, con_cls);
    if (*upload_data_size) {
        size_t max = (size_t)srv->in->conf->ingest_max_message_bytes;
        rq->received += *upload_data_size;
        if (rq->decided) {
            *upload_data_size = 0; /* answered already (413): the rest is not read */
            return MHD_YES;
        }
        if (!rq->too_large && rq->body.len + *upload_data_size <= max) {
            nb_buf_add(&rq->body, upload_data, *upload_data_size);
        } else if (!rq->too_large) {
            rq->too_large = true;
            nb_buf_free(&rq->body); /* what is read from now on is thrown away */
        }
        *upload_data_size = 0;
        if (rq->received > NB__DISCARD_MAX(max))
            return nb__too_large(rq); /* enough read: answer, and the connection closes */
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    if (rq->decided)
        return nb__answer(rq);
    if (rq->processed)
        return MHD_YES; /* resumed before its answer: cannot happen, but wait */
    rq->processed = true;
    if (!nb__fhir_client_ok(srv, conn))
        return nb__reject(rq, MHD_HTTP_FORBIDDEN, "security",
                          "a client certificate the listener's CA verifies is required");
    if (strcmp(method, "POST") != 0)
        return nb__reject(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "not-supported",
                          "only POST is taken here");
    if (!nb__route(rq, url, &type))
        return nb__reject(rq, MHD_HTTP_NOT_FOUND, "not-found",
                          "not a URL of this listener: POST /fhir/<source>/Appointment, "
                          "/Encounter, or a Bundle to /fhir/<source>");
    if (rq->fmt == NB_FHIR_AUTO)
        return nb__reject(rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "not-supported",
                          "Content-Type must be application/fhir+json or application/fhir+xml");
    if (rq->too_large || rq->body.err)
        return nb__too_large(rq);
    nb__count(srv->in, &srv->in->stats.received, 1);
    nb_metrics_set(srv->in->metrics, NB_M_FHIR_LAST_REQUEST, srv->conf->name,
                   (double)srv->in->now / 1e3);
    nb__process(rq, type);
    if (rq->waiting == 0) {
        nb__decide(rq);
        return nb__answer(rq);
    }
    rq->suspended = true;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

static void nb__completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    nb__fsrv_t *srv = cls;
    nb__req_t *rq = *con_cls;
    (void)conn;
    (void)toe;
    if (!rq)
        return;
    if (rq->waiting > 0) {
        /* Reports still to come point at it: they free it (cannot happen while suspended). */
        rq->conn = NULL;
        return;
    }
    srv->in_flight--;
    nb_buf_free(&rq->body);
    free(rq->ans);
    free(rq);
    *con_cls = NULL;
}

/* ---- the listeners ----------------------------------------------------------------------- */

static bool nb__fsrv_start(nb_ingest_t *in, nb__fsrv_t *s, char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (inet_pton(AF_INET, s->conf->bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)s->conf->port);
    } else if (inet_pton(AF_INET6, s->conf->bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)s->conf->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(errstr, errstr_size, "ingest.fhir %s: bind: not a numeric address", s->conf->name);
        return false;
    }
    if (!(s->doc = nb_fhir_doc_new(NULL))) {
        snprintf(errstr, errstr_size, "out of memory");
        return false;
    }
    struct MHD_OptionItem tls[5];
    size_t n_tls = nb__fhir_tls_options(s, tls, errstr, errstr_size);
    if (n_tls == (size_t)-1)
        return false;
    tls[n_tls] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (n_tls)
        flags |= MHD_USE_TLS;
    s->d = MHD_start_daemon(
        flags, (uint16_t)s->conf->port, NULL, NULL, nb__handler, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, nb__completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(in->conf->ingest_idle_timeout_ms / 1000),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)in->conf->ingest_max_connections, MHD_OPTION_ARRAY,
        tls, MHD_OPTION_END);
    if (!s->d) {
        snprintf(errstr, errstr_size, "ingest.fhir %s: %s port %d: cannot listen", s->conf->name,
                 s->conf->bind, s->conf->port);
        return false;
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    s->port = pi ? pi->port : s->conf->port;
    nb_metrics_set(in->metrics, NB_M_FHIR_LAST_REQUEST, s->conf->name, (double)in->now / 1e3);
    s->epoll_fd = ei ? ei->epoll_fd : -1;
    return true;
}

bool nb__fhir_start(nb_ingest_t *in, const nb_ingest_mapper_t *mappers, char *errstr,
                    size_t errstr_size)
{
    if (!in->conf->n_fhir)
        return true;
    if (!(in->fsrv = calloc(in->conf->n_fhir, sizeof(*in->fsrv)))) {
        snprintf(errstr, errstr_size, "out of memory");
        return false;
    }
    in->n_fsrv = in->conf->n_fhir;
    for (size_t i = 0; i < in->n_fsrv; i++) {
        nb__fsrv_t *s = &in->fsrv[i];
        s->in = in;
        s->conf = &in->conf->fhir[i];
        s->mapper = mappers[i];
        s->epoll_fd = -1;
        if (!s->mapper.map_fhir) {
            snprintf(errstr, errstr_size, "ingest.fhir %s: no mapper", s->conf->name);
            return false;
        }
        if (!nb__fsrv_start(in, s, errstr, errstr_size))
            return false;
    }
    return true;
}

int nb_ingest_fhir_port(const nb_ingest_t *in, size_t i)
{
    return i < in->n_fsrv ? in->fsrv[i].port : -1;
}

size_t nb__fhir_pollfds(nb_ingest_t *in, struct pollfd *pfd)
{
    for (size_t i = 0; i < in->n_fsrv; i++)
        pfd[i] = (struct pollfd){in->fsrv[i].epoll_fd, POLLIN, 0};
    return in->n_fsrv;
}

void nb__fhir_run(nb_ingest_t *in)
{
    for (size_t i = 0; i < in->n_fsrv; i++)
        if (in->fsrv[i].d)
            MHD_run(in->fsrv[i].d);
}

int nb__fhir_timeout(nb_ingest_t *in, int ms)
{
    for (size_t i = 0; i < in->n_fsrv; i++) {
        MHD_UNSIGNED_LONG_LONG t;
        if (in->fsrv[i].d && MHD_get_timeout(in->fsrv[i].d, &t) == MHD_YES && (long long)t < ms)
            ms = (int)t;
    }
    return ms;
}

void nb__fhir_quiesce(nb_ingest_t *in)
{
    for (size_t i = 0; i < in->n_fsrv; i++) {
        if (!in->fsrv[i].d)
            continue;
        MHD_socket fd = MHD_quiesce_daemon(in->fsrv[i].d);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

size_t nb__fhir_in_flight(const nb_ingest_t *in)
{
    size_t n = 0;
    for (size_t i = 0; i < in->n_fsrv; i++)
        n += in->fsrv[i].in_flight;
    return n;
}

void nb__fhir_destroy(nb_ingest_t *in)
{
    for (size_t i = 0; i < in->n_fsrv; i++) {
        if (in->fsrv[i].d)
            MHD_stop_daemon(in->fsrv[i].d);
        nb_fhir_doc_destroy(in->fsrv[i].doc);
        nb__fhir_tls_free(&in->fsrv[i]);
    }
    free(in->fsrv);
    in->fsrv = NULL;
    in->n_fsrv = 0;
}
