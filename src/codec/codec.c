/*
 * notbrought - codec: framed Avro decode and encode.
 */
#include "codec/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/prescan.h"

/* libavro keeps the message of its last error in one buffer for the whole process (Debian
 * builds it without THREADSAFE) and codecs run on several threads (the stream decodes ahead
 * on a second one). So a message is only read under this lock, from a call repeated under it
 * until two runs give the same message: a thread failing outside the lock writes the buffer
 * during that one call, then waits here before it reads. Calls that may write the buffer even
 * when they succeed (resolver construction tries union branches) run under it throughout. */
static pthread_mutex_t nb__avro_error_lock = PTHREAD_MUTEX_INITIALIZER;

void nb__avro_lock(void)
{
    pthread_mutex_lock(&nb__avro_error_lock);
}

void nb__avro_unlock(void)
{
    pthread_mutex_unlock(&nb__avro_error_lock);
}

/** Most runs of a failing call under the lock before its message is taken as it is. */
#define NB__AVRO_RERUNS 8

/* Per record type: the reader schema and a reusable value of it. */
typedef struct nb__reader_s {
    int32_t id;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    bool has_value;
} nb__reader_t;

/* Per writer schema id seen: how to read it into the reader value. */
typedef struct nb__writer_s {
    int32_t id;
    nb_record_type_t type;
    avro_schema_t schema;
    avro_value_iface_t *resolver; /* NULL when the writer is the reader schema */
    avro_value_t resolved;
    avro_value_iface_t *own_iface; /* read as written (nb__adds_fields()), or NULL */
    avro_value_t own;
} nb__writer_t;

struct nb_codec_s {
    const nb_registry_t *reg;
    nb__reader_t readers[NB_RECORD__COUNT];
    nb__writer_t *writers;
    size_t n_writers;
    size_t cap_writers;
    avro_reader_t areader;
    avro_writer_t awriter;
    bool appt_wire; /* the AppointmentEvent reader is the schema appt_wire.c reads */
    nb__fslot_t fcache[NB__FCACHE_SLOTS];
};

nb_codec_t *nb_codec_new(const nb_registry_t *reg, char *errstr, size_t errstr_size)
{
    nb_codec_t *codec = calloc(1, sizeof(*codec));
    if (!codec) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    codec->reg = reg;
    for (int t = NB_RECORD_NONE + 1; t < NB_RECORD__COUNT; t++) {
        nb__reader_t *r = &codec->readers[t];
        r->id = nb_registry_reader_id(reg, (nb_record_type_t)t);
        if (r->id < 0) {
            snprintf(errstr, errstr_size, "no schema registered for %s",
                     nb_record_type_name((nb_record_type_t)t));
            goto fail;
        }
        r->schema = nb__registry_find(reg, r->id)->schema;
        nb__avro_lock();
        r->iface = avro_generic_class_from_schema(r->schema);
        if (!r->iface || avro_generic_value_new(r->iface, &r->value)) {
            snprintf(errstr, errstr_size, "%s: %s", nb_record_type_name((nb_record_type_t)t),
                     avro_strerror());
            nb__avro_unlock();
            goto fail;
        }
        nb__avro_unlock();
        r->has_value = true;
    }
    codec->appt_wire = nb__appt_wire_fits(codec->readers[NB_RECORD_APPOINTMENT].schema);
    codec->areader = avro_reader_memory(NULL, 0);
    if (!codec->areader) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return codec;
fail:
    nb_codec_destroy(codec);
    return NULL;
}

void nb_codec_destroy(nb_codec_t *codec)
{
    if (!codec)
        return;
    for (size_t i = 0; i < codec->n_writers; i++) {
        nb__writer_t *w = &codec->writers[i];
        if (w->resolver) {
            avro_value_decref(&w->resolved);
            avro_value_iface_decref(w->resolver);
        }
        if (w->own_iface) {
            avro_value_decref(&w->own);
            avro_value_iface_decref(w->own_iface);
        }
    }
    free(codec->writers);
    for (int t = 0; t < NB_RECORD__COUNT; t++) {
        nb__reader_t *r = &codec->readers[t];
        if (r->has_value)
            avro_value_decref(&r->value);
        if (r->iface)
            avro_value_iface_decref(r->iface);
    }
    if (codec->areader)
        avro_reader_free(codec->areader);
    if (codec->awriter)
        avro_writer_free(codec->awriter);
    free(codec);
}

nb_err_t nb_frame_schema_id(const void *buf, size_t len, int32_t *schema_id)
{
    const uint8_t *b = buf;
    if (len < NB_FRAME_HEADER_LEN)
        return NB_ERR_FRAME_TRUNCATED;
    if (b[0] != NB_FRAME_MAGIC)
        return NB_ERR_FRAME_MAGIC;
    *schema_id = (int32_t)(uint32_t)nb_be_get(b + 1, 4);
    return NB_ERR_OK;
}

/*
 * True when the reader schema @p r has a record field that the writer schema @p w lacks, at
 * any depth. avro-c 1.11.1 cannot resolve such a writer to the reader (defaults of reader
 * fields are not implemented: "Reader field ... doesn't appear in writer", and building that
 * resolver crashed in avro_resolved_writer_new()). Data written without a field a later
 * version added is therefore read as written, and the mapping (map.c) gives the added fields
 * their defaults.
 */
static bool nb__adds_fields(avro_schema_t w, avro_schema_t r, int depth)
{
    if (depth > 32 || !w || !r)
        return false;
    if (is_avro_record(w) && is_avro_record(r)) {
        for (size_t i = 0; i < avro_schema_record_size(r); i++) {
            int wi = avro_schema_record_field_get_index(w, avro_schema_record_field_name(r, (int)i));
            if (wi < 0)
                return true;
            if (nb__adds_fields(avro_schema_record_field_get_by_index(w, wi),
                                avro_schema_record_field_get_by_index(r, (int)i), depth + 1))
                return true;
        }
    } else if (is_avro_array(w) && is_avro_array(r)) {
        return nb__adds_fields(avro_schema_array_items(w), avro_schema_array_items(r), depth + 1);
    } else if (is_avro_map(w) && is_avro_map(r)) {
        return nb__adds_fields(avro_schema_map_values(w), avro_schema_map_values(r), depth + 1);
    } else if (is_avro_union(w) && is_avro_union(r) &&
               avro_schema_union_size(w) == avro_schema_union_size(r)) {
        for (size_t i = 0; i < avro_schema_union_size(r); i++)
            if (nb__adds_fields(avro_schema_union_branch(w, (int)i),
                                avro_schema_union_branch(r, (int)i), depth + 1))
                return true;
    }
    return false;
}

/* Finds or prepares the state for reading data written with schema @p id. */
NB_NODISCARD static nb_err_t nb__writer_for(nb_codec_t *codec, int32_t id, nb__writer_t **out,
                                            char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < codec->n_writers; i++) {
        if (codec->writers[i].id == id) {
            *out = &codec->writers[i];
            return NB_ERR_OK;
        }
    }
    const nb__schema_entry_t *e = nb__registry_find(codec->reg, id);
    if (!e) {
        snprintf(errstr, errstr_size, "schema id %d is not in the registry", (int)id);
        return NB_ERR_SCHEMA_UNKNOWN;
    }
    if (codec->n_writers == codec->cap_writers) {
        size_t cap = codec->cap_writers ? codec->cap_writers * 2 : 8;
        nb__writer_t *v = realloc(codec->writers, cap * sizeof(*v));
        if (!v)
            return NB_ERR_NOMEM;
        codec->writers = v;
        codec->cap_writers = cap;
    }
    nb__writer_t *w = &codec->writers[codec->n_writers];
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->type = e->type;
    w->schema = e->schema;
    nb__reader_t *r = &codec->readers[e->type];
    if (r->id != id && !avro_schema_equal(e->schema, r->schema) &&
        nb__adds_fields(e->schema, r->schema, 0)) {
        nb__avro_lock();
        w->own_iface = avro_generic_class_from_schema(e->schema);
        if (!w->own_iface || avro_generic_value_new(w->own_iface, &w->own)) {
            snprintf(errstr, errstr_size, "schema id %d: %s", (int)id, avro_strerror());
            if (w->own_iface)
                avro_value_iface_decref(w->own_iface);
            w->own_iface = NULL;
            nb__avro_unlock();
            return NB_ERR_SCHEMA_RESOLVE;
        }
        nb__avro_unlock();
    } else if (r->id != id && !avro_schema_equal(e->schema, r->schema)) {
        nb__avro_lock();
        w->resolver = avro_resolved_writer_new(e->schema, r->schema);
        if (!w->resolver) {
            snprintf(errstr, errstr_size, "schema id %d cannot be read as schema id %d: %s",
                     (int)id, (int)r->id, avro_strerror());
            nb__avro_unlock();
            return NB_ERR_SCHEMA_RESOLVE;
        }
        if (avro_resolved_writer_new_value(w->resolver, &w->resolved)) {
            avro_value_iface_decref(w->resolver);
            w->resolver = NULL;
            snprintf(errstr, errstr_size, "schema id %d: %s", (int)id, avro_strerror());
            nb__avro_unlock();
            return NB_ERR_SCHEMA_RESOLVE;
        }
        nb__avro_unlock();
        avro_resolved_writer_set_dest(&w->resolved, &r->value);
    }
    codec->n_writers++;
    *out = w;
    return NB_ERR_OK;
}

/* avro-c reads @p body into the reader value of @p w. @returns avro-c's result. */
static int nb__read_body(nb_codec_t *codec, nb__writer_t *w, const uint8_t *body, size_t len)
{
    avro_value_reset(&codec->readers[w->type].value);
    if (w->own_iface)
        avro_value_reset(&w->own);
    avro_reader_memory_set_source(codec->areader, (const char *)body, (int64_t)len);
    return avro_value_read(codec->areader, w->resolver    ? &w->resolved
                                           : w->own_iface ? &w->own
                                                          : &codec->readers[w->type].value);
}

/* The value a record was read into: the reader schema's, or its own (read as written). */
static avro_value_t *nb__read_value(nb_codec_t *codec, nb__writer_t *w)
{
    return w->own_iface ? &w->own : &codec->readers[w->type].value;
}

/* Frame, writer lookup, bounds walk, then avro-c reads into the reader value. */
NB_NODISCARD static nb_err_t nb__read(nb_codec_t *codec, const void *buf, size_t len,
                                      nb_record_type_t expect, nb__writer_t **wout, char *errstr,
                                      size_t errstr_size)
{
    int32_t id;
    nb__writer_t *w;
    nb_err_t err = nb_frame_schema_id(buf, len, &id);
    if (err) {
        snprintf(errstr, errstr_size, "%s", nb_err_str(err));
        return err;
    }
    if ((err = nb__writer_for(codec, id, &w, errstr, errstr_size)))
        return err;
    if (expect != NB_RECORD_NONE && w->type != expect) {
        snprintf(errstr, errstr_size, "schema id %d carries %s, expected %s", (int)id,
                 nb_record_type_name(w->type), nb_record_type_name(expect));
        return NB_ERR_SCHEMA_MISMATCH;
    }
    const uint8_t *body = (const uint8_t *)buf + NB_FRAME_HEADER_LEN;
    size_t body_len = len - NB_FRAME_HEADER_LEN;
    if ((err = nb__codec_prescan(w->schema, body, body_len, errstr, errstr_size)))
        return err;
    if (nb__read_body(codec, w, body, body_len)) {
        /* Read again under the lock for a message that is this record's (see the lock). */
        char prev[512] = "", cur[512] = "";
        bool failed = true;
        nb__avro_lock();
        for (int run = 0; run < NB__AVRO_RERUNS && failed; run++) {
            if (!(failed = nb__read_body(codec, w, body, body_len) != 0))
                break; /* not expected: the same bytes into the same value */
            snprintf(cur, sizeof(cur), "%s", avro_strerror());
            if (run > 0 && strcmp(cur, prev) == 0)
                break;
            memcpy(prev, cur, sizeof(prev));
        }
        nb__avro_unlock();
        if (failed) {
            snprintf(errstr, errstr_size, "schema id %d: %s", (int)id, cur);
            return w->resolver ? NB_ERR_SCHEMA_RESOLVE : NB_ERR_AVRO_DECODE;
        }
    }
    *wout = w;
    return NB_ERR_OK;
}

nb_err_t nb__codec_decode_generic(nb_codec_t *codec, const void *buf, size_t len,
                                  nb_record_type_t expect, nb_record_t *rec, char *errstr,
                                  size_t errstr_size)
{
    nb__writer_t *w;
    nb_err_t err = nb__read(codec, buf, len, expect, &w, errstr, errstr_size);
    if (err)
        return err;
    nb__xerr_t x = {NB_ERR_OK, errstr, errstr_size, codec->fcache, NULL};
    rec->schema_id = w->id;
    return nb__extract(w->type, nb__read_value(codec, w), rec, &x);
}

/* Most records are AppointmentEvents written with the reader schema: appt_wire.c reads those
 * without avro-c's generic values, and leaves whatever it is not sure of to the generic path. */
nb_err_t nb_codec_decode(nb_codec_t *codec, const void *buf, size_t len, nb_record_type_t expect,
                         nb_record_t *rec, char *errstr, size_t errstr_size)
{
    int32_t id;
    if (codec->appt_wire && (expect == NB_RECORD_NONE || expect == NB_RECORD_APPOINTMENT) &&
        nb_frame_schema_id(buf, len, &id) == NB_ERR_OK &&
        id == codec->readers[NB_RECORD_APPOINTMENT].id &&
        nb__appt_wire_decode((const uint8_t *)buf + NB_FRAME_HEADER_LEN, len - NB_FRAME_HEADER_LEN,
                             &rec->u.appt) == NB__APPT_WIRE_DECODED) {
        rec->type = NB_RECORD_APPOINTMENT; /* as nb__extract() and nb__read() set them */
        rec->schema_id = id;
        return NB_ERR_OK;
    }
    return nb__codec_decode_generic(codec, buf, len, expect, rec, errstr, errstr_size);
}

NB_NODISCARD static nb_err_t nb__encode_once(nb_codec_t *codec, const nb_record_t *rec,
                                             nb_buf_t *out, char *errstr, size_t errstr_size)
{
    if (rec->type <= NB_RECORD_NONE || rec->type >= NB_RECORD__COUNT) {
        snprintf(errstr, errstr_size, "unknown record type %d", (int)rec->type);
        return NB_ERR_INVALID_ARG;
    }
    nb__reader_t *r = &codec->readers[rec->type];
    if (rec->type == NB_RECORD_AUDIT && r->id == NB__AUDIT_WIRE_ID) /* the daemon's hot path */
        return nb__audit_wire_encode(&rec->u.audit, r->id, out, errstr, errstr_size);
    nb__xerr_t x = {NB_ERR_OK, errstr, errstr_size, codec->fcache, NULL};
    avro_value_reset(&r->value);
    nb_err_t err = nb__fill(rec, &r->value, &x);
    if (err)
        return err;
    size_t size = 0;
    if (avro_value_sizeof(&r->value, &size)) {
        snprintf(errstr, errstr_size, "%s", avro_strerror());
        return NB_ERR_AVRO_ENCODE;
    }
    if (nb_buf_reserve(out, NB_FRAME_HEADER_LEN + size))
        return NB_ERR_NOMEM;
    uint8_t *p = out->data + out->len;
    p[0] = NB_FRAME_MAGIC;
    nb_be_put(p + 1, (uint32_t)r->id, 4);
    if (!codec->awriter) {
        codec->awriter = avro_writer_memory((char *)p + NB_FRAME_HEADER_LEN, (int64_t)size);
        if (!codec->awriter)
            return NB_ERR_NOMEM;
    } else {
        avro_writer_memory_set_dest(codec->awriter, (char *)p + NB_FRAME_HEADER_LEN,
                                    (int64_t)size);
    }
    if (avro_value_write(codec->awriter, &r->value)) {
        snprintf(errstr, errstr_size, "%s", avro_strerror());
        return NB_ERR_AVRO_ENCODE;
    }
    out->len += NB_FRAME_HEADER_LEN + size;
    return NB_ERR_OK;
}

nb_err_t nb_codec_encode(nb_codec_t *codec, const nb_record_t *rec, nb_buf_t *out, char *errstr,
                         size_t errstr_size)
{
    nb_err_t err = nb__encode_once(codec, rec, out, errstr, errstr_size);
    if (err != NB_ERR_AVRO_ENCODE)
        return err;
    /* Encode again under the lock for a message that is this record's (see the lock). */
    char prev[512] = "";
    nb__avro_lock();
    for (int run = 0; run < NB__AVRO_RERUNS; run++) {
        if ((err = nb__encode_once(codec, rec, out, errstr, errstr_size)) != NB_ERR_AVRO_ENCODE)
            break;
        if (run > 0 && strncmp(errstr, prev, sizeof(prev) - 1) == 0)
            break;
        snprintf(prev, sizeof(prev), "%s", errstr);
    }
    nb__avro_unlock();
    return err;
}

char *nb_codec_to_avro_json(nb_codec_t *codec, const void *buf, size_t len, char *errstr,
                            size_t errstr_size)
{
    nb__writer_t *w;
    char *json = NULL;
    if (nb__read(codec, buf, len, NB_RECORD_NONE, &w, errstr, errstr_size))
        return NULL;
    nb__avro_lock();
    if (avro_value_to_json(nb__read_value(codec, w), 1, &json))
        snprintf(errstr, errstr_size, "%s", avro_strerror());
    nb__avro_unlock();
    return json;
}
