/*
 * notbrought - report: a reader of AuditRecord binaries written with schema id 9, straight into
 * the fields a report needs. avro-c's generic values cost several microseconds a record
 * (docs/benchmarks.md, "report"); this walks the bytes once. It is checked against the
 * writer schema it reads (nb_report_reader_check()); every read is bounds-checked, and a
 * record it cannot read is the caller's to decode with the codec, which says why.
 */
#include "report/internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The fields of AuditRecord version 1 (schemas/audit_record.avsc) as the reader walks them:
 * a field "name:type", unions as [a,b], arrays as array<t>, records as {fields}. */
static const char nb__signature[] =
    "audit_id:string,kind:enum,at:long,child_key:string,notification_id:[null,string],"
    "reference:[null,string],rule:[null,string],tier:[null,string],level:int,"
    "agency:[null,string],organisation:[null,string],evidence:array<string>,"
    "recipients:array<{role:string,route:string}>,respond_by:[null,long],"
    "reason:[null,string],event:[null,{event_id:string,record_type:string,"
    "appointment_id:[null,string],appointment_type:[null,string],status:string,"
    "scheduled_start:[null,long],recorded_at:[null,long],version:int,source_system:string,"
    "nhs_number_known:boolean}],action:[null,{ack_id:string,intent:string,acted_at:long,"
    "owner_user:[null,string],owner_queue:[null,string],target_queue:[null,string],"
    "target_user:[null,string],close_action:[null,string],closed_by:[null,string],"
    "closed_at:[null,long]}],actor:[null,{user_id:string,queue:[null,string],"
    "via:[null,string]}],delivery:[null,{channel:string,route:string,attempt:int}],"
    "subject:[null,string],policy:[null,{name:string,version:string,hash:string}]";

/* Appends the signature of a schema to @p out. @returns false when it has a shape the reader
 * does not know (a named reference, a map, ...). */
static bool nb__sig(const json_t *s, nb_buf_t *out, bool *kinds_ok);

static bool nb__sig_fields(const json_t *fields, nb_buf_t *out, bool *kinds_ok)
{
    size_t i;
    const json_t *f;
    if (!json_is_array(fields))
        return false;
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!name)
            return false;
        if (i)
            nb_buf_add(out, ",", 1);
        nb_buf_add(out, name, strlen(name));
        nb_buf_add(out, ":", 1);
        if (!nb__sig(json_object_get(f, "type"), out, kinds_ok))
            return false;
    }
    return true;
}

/* The enum's symbols must be the audit kinds in the order of NB_AUDIT_KIND_MAP: the reader
 * takes a symbol's index as the kind. */
static bool nb__kinds(const json_t *symbols)
{
    if (json_array_size(symbols) != NB_AUDIT__COUNT)
        return false;
    for (size_t i = 0; i < NB_AUDIT__COUNT; i++) {
        const char *s = json_string_value(json_array_get(symbols, i));
        if (!s || strcmp(s, nb_audit_kind_name((nb_audit_kind_t)i)) != 0)
            return false;
    }
    return true;
}

static bool nb__sig(const json_t *s, nb_buf_t *out, bool *kinds_ok)
{
    if (json_is_string(s)) {
        const char *p = json_string_value(s);
        static const char *const prims[] = {"null",  "boolean", "int",   "long",
                                            "float", "double",  "bytes", "string"};
        for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
            if (strcmp(p, prims[i]) == 0) {
                nb_buf_add(out, p, strlen(p));
                return true;
            }
        return false;
    }
    if (json_is_array(s)) {
        size_t i;
        const json_t *b;
        nb_buf_add(out, "[", 1);
        json_array_foreach(s, i, b)
        {
            if (i)
                nb_buf_add(out, ",", 1);
            if (!nb__sig(b, out, kinds_ok))
                return false;
        }
        nb_buf_add(out, "]", 1);
        return true;
    }
    const char *type = json_string_value(json_object_get(s, "type"));
    if (!type)
        return false;
    if (strcmp(type, "record") == 0) {
        nb_buf_add(out, "{", 1);
        bool ok = nb__sig_fields(json_object_get(s, "fields"), out, kinds_ok);
        nb_buf_add(out, "}", 1);
        return ok;
    }
    if (strcmp(type, "enum") == 0) {
        *kinds_ok = *kinds_ok && nb__kinds(json_object_get(s, "symbols"));
        nb_buf_add(out, "enum", 4);
        return true;
    }
    if (strcmp(type, "array") == 0) {
        nb_buf_add(out, "array<", 6);
        bool ok = nb__sig(json_object_get(s, "items"), out, kinds_ok);
        nb_buf_add(out, ">", 1);
        return ok;
    }
    return nb__sig(json_object_get(s, "type"), out, kinds_ok); /* a logical type */
}

bool nb_report_reader_check(const nb_registry_t *reg, int32_t id, char *errstr, size_t errstr_size)
{
    const char *text = nb_registry_schema_json(reg, id);
    if (id != NB_REPORT_READER_SCHEMA_ID || !text ||
        nb_registry_type_of(reg, id) != NB_RECORD_AUDIT) {
        snprintf(errstr, errstr_size, "schema %d is not AuditRecord version 1", (int)id);
        return false;
    }
    json_error_t jerr;
    json_t *schema = json_loads(text, 0, &jerr);
    nb_buf_t sig = {0};
    bool kinds_ok = true;
    bool ok = schema && nb__sig_fields(json_object_get(schema, "fields"), &sig, &kinds_ok);
    nb_buf_add(&sig, "", 1);
    ok = ok && !sig.err && kinds_ok && strcmp((const char *)sig.data, nb__signature) == 0;
    if (!ok)
        snprintf(errstr, errstr_size,
                 "schema %d has not the fields, types and kinds the fast reader reads", (int)id);
    json_decref(schema);
    nb_buf_free(&sig);
    return ok;
}

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct nb__rd_s {
    const uint8_t *p, *end;
} nb__rd_t;

NB_NODISCARD static nb_err_t nb__long(nb__rd_t *rd, int64_t *v)
{
    uint64_t u = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (rd->p >= rd->end)
            return NB_ERR_AVRO_TRUNCATED;
        uint8_t b = *rd->p++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return NB_ERR_OK;
        }
    }
    return NB_ERR_AVRO_VARINT;
}

NB_NODISCARD static nb_err_t nb__string(nb__rd_t *rd, nb_report_str_t *s)
{
    int64_t len;
    nb_err_t err = nb__long(rd, &len);
    if (err)
        return err;
    if (len < 0)
        return NB_ERR_AVRO_NEGATIVE_LENGTH;
    if (len > rd->end - rd->p)
        return NB_ERR_AVRO_LENGTH;
    s->p = (const char *)rd->p;
    s->len = (size_t)len;
    rd->p += len;
    return NB_ERR_OK;
}

/* A union of null and @p what: @p *present says which. */
NB_NODISCARD static nb_err_t nb__branch(nb__rd_t *rd, bool *present)
{
    int64_t b = 0;
    nb_err_t err = nb__long(rd, &b);
    if (!err && b != 0 && b != 1)
        err = NB_ERR_AVRO_UNION_INDEX;
    *present = b == 1;
    return err;
}

NB_NODISCARD static nb_err_t nb__opt_string(nb__rd_t *rd, nb_report_str_t *s)
{
    bool present = false;
    nb_err_t err = nb__branch(rd, &present);
    *s = (nb_report_str_t){"", 0};
    return err || !present ? err : nb__string(rd, s);
}

NB_NODISCARD static nb_err_t nb__opt_long(nb__rd_t *rd, int64_t *v)
{
    bool present = false;
    nb_err_t err = nb__branch(rd, &present);
    *v = NB_TIME_NONE;
    return err || !present ? err : nb__long(rd, v);
}

/* Skips @p n strings. */
NB_NODISCARD static nb_err_t nb__skip(nb__rd_t *rd, int n)
{
    nb_report_str_t s;
    nb_err_t err = NB_ERR_OK;
    for (int i = 0; !err && i < n; i++)
        err = nb__string(rd, &s);
    return err;
}

/* An array of items of @p strings strings each (evidence, recipients), skipped. */
NB_NODISCARD static nb_err_t nb__skip_array(nb__rd_t *rd, int strings)
{
    for (;;) {
        int64_t n;
        nb_err_t err = nb__long(rd, &n);
        if (err || n == 0)
            return err;
        if (n < 0) { /* a block with its size in bytes */
            int64_t size;
            if ((err = nb__long(rd, &size)) != NB_ERR_OK)
                return err;
            n = n == INT64_MIN ? 0 : -n;
        }
        if (n > rd->end - rd->p) /* every item takes a byte at least */
            return NB_ERR_AVRO_LENGTH;
        for (int64_t i = 0; i < n; i++)
            if ((err = nb__skip(rd, strings)) != NB_ERR_OK)
                return err;
    }
}

/* The enum's symbol as an nb_tier_t / nb_agency_t (-1 when absent or unknown). */
static int nb__symbol(nb_report_str_t s, bool (*parse)(const char *, int *))
{
    char buf[NB_ID_MAX + 1];
    int v = -1;
    if (s.len == 0 || s.len > NB_ID_MAX)
        return -1;
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    return parse(buf, &v) ? v : -1;
}

static bool nb__parse_tier(const char *s, int *v)
{
    nb_tier_t t;
    bool ok = nb_tier_parse(s, &t);
    *v = (int)t;
    return ok;
}

static bool nb__parse_agency(const char *s, int *v)
{
    nb_agency_t a;
    bool ok = nb_agency_parse(s, &a);
    *v = (int)a;
    return ok;
}

/* AuditEvent. */
NB_NODISCARD static nb_err_t nb__event(nb__rd_t *rd, nb_report_rec_t *out)
{
    nb_report_str_t record_type, type;
    int64_t recorded, version, b;
    nb_err_t err = nb__string(rd, &out->event_id);
    if (!err)
        err = nb__string(rd, &record_type);
    if (!err)
        err = nb__opt_string(rd, &out->appointment_id);
    if (!err)
        err = nb__opt_string(rd, &type);
    if (!err)
        err = nb__string(rd, &out->status);
    if (!err)
        err = nb__opt_long(rd, &out->scheduled_start);
    if (!err)
        err = nb__opt_long(rd, &recorded);
    if (!err)
        err = nb__long(rd, &version);
    if (!err)
        err = nb__string(rd, &out->source_system);
    if (!err && rd->p >= rd->end)
        err = NB_ERR_AVRO_TRUNCATED;
    if (err)
        return err;
    b = *rd->p++;
    if (b > 1 || version < INT32_MIN || version > INT32_MAX)
        return NB_ERR_AVRO_DECODE;
    out->nhs_number_known = b == 1;
    out->version = (int32_t)version;
    out->context = record_type.len == 7 && memcmp(record_type.p, "context", 7) == 0;
    return NB_ERR_OK;
}

/* The nested records after the event, which a report does not read: skipped. */
NB_NODISCARD static nb_err_t nb__tail(nb__rd_t *rd)
{
    bool present = false;
    int64_t v;
    nb_report_str_t s;
    nb_err_t err = nb__branch(rd, &present); /* action */
    if (!err && present) {
        err = nb__skip(rd, 2);
        if (!err)
            err = nb__long(rd, &v);
        for (int i = 0; !err && i < 6; i++)
            err = nb__opt_string(rd, &s);
        if (!err)
            err = nb__opt_long(rd, &v);
    }
    if (!err)
        err = nb__branch(rd, &present); /* actor */
    if (!err && present) {
        err = nb__skip(rd, 1);
        for (int i = 0; !err && i < 2; i++)
            err = nb__opt_string(rd, &s);
    }
    if (!err)
        err = nb__branch(rd, &present); /* delivery */
    if (!err && present) {
        err = nb__skip(rd, 2);
        if (!err)
            err = nb__long(rd, &v);
    }
    if (!err)
        err = nb__opt_string(rd, &s); /* subject */
    if (!err)
        err = nb__branch(rd, &present); /* policy */
    if (!err && present)
        err = nb__skip(rd, 3);
    return err;
}

nb_err_t nb_report_read(const void *buf, size_t len, nb_report_rec_t *out)
{
    const uint8_t *b = buf;
    if (len < NB_FRAME_HEADER_LEN || b[0] != NB_FRAME_MAGIC)
        return NB_ERR_FRAME_MAGIC;
    if (((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4]) !=
        NB_REPORT_READER_SCHEMA_ID)
        return NB_ERR_NOT_FOUND;
    nb__rd_t rd = {b + NB_FRAME_HEADER_LEN, b + len};
    nb_report_str_t s, tier, agency;
    int64_t kind, level;
    memset(out, 0, sizeof(*out));
    nb_err_t err = nb__string(&rd, &s); /* audit_id */
    if (!err)
        err = nb__long(&rd, &kind);
    if (!err && (kind < 0 || kind >= NB_AUDIT__COUNT))
        err = NB_ERR_AVRO_ENUM_INDEX;
    if (!err)
        err = nb__long(&rd, &out->at);
    if (!err)
        err = nb__string(&rd, &s); /* child_key */
    if (!err)
        err = nb__opt_string(&rd, &out->notification_id);
    if (!err)
        err = nb__opt_string(&rd, &s); /* reference */
    if (!err)
        err = nb__opt_string(&rd, &out->rule);
    if (!err)
        err = nb__opt_string(&rd, &tier);
    if (!err)
        err = nb__long(&rd, &level);
    if (!err)
        err = nb__opt_string(&rd, &agency);
    if (!err)
        err = nb__opt_string(&rd, &out->organisation);
    if (!err)
        err = nb__skip_array(&rd, 1); /* evidence */
    if (!err)
        err = nb__skip_array(&rd, 2); /* recipients */
    if (!err)
        err = nb__opt_long(&rd, &out->respond_by);
    if (!err)
        err = nb__opt_string(&rd, &out->reason);
    if (!err)
        err = nb__branch(&rd, &out->has_event);
    if (!err && out->has_event)
        err = nb__event(&rd, out);
    else if (!err)
        out->scheduled_start = NB_TIME_NONE;
    if (!err)
        err = nb__tail(&rd);
    if (!err && rd.p != rd.end)
        err = NB_ERR_AVRO_TRAILING;
    if (!err && (level < INT32_MIN || level > INT32_MAX))
        err = NB_ERR_FIELD_RANGE;
    if (err)
        return err;
    static const nb_report_str_t empty = {"", 0};
    if (!out->has_event)
        out->event_id = out->appointment_id = out->status = out->source_system = empty;
    out->kind = (nb_audit_kind_t)kind;
    out->level = (int32_t)level;
    out->tier = nb__symbol(tier, nb__parse_tier);
    out->agency = nb__symbol(agency, nb__parse_agency);
    return NB_ERR_OK;
}
