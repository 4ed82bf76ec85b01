/*
 * notbrought - codec: the local schema registry.
 *
 * Schema ids are assigned in schemas/registry.tsv (see docs/schemas.md) and never reused.
 * The version compiled into the program is the reader schema of its type.
 */
#include "codec/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/embedded.h"

nb_registry_t *nb_registry_new(void)
{
    return calloc(1, sizeof(nb_registry_t));
}

void nb_registry_destroy(nb_registry_t *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++) {
        avro_schema_decref(reg->v[i].schema);
        free(reg->v[i].subject);
        free(reg->v[i].json);
    }
    free(reg->v);
    free(reg);
}

const nb__schema_entry_t *nb__registry_find(const nb_registry_t *reg, int32_t id)
{
    for (size_t i = 0; i < reg->n; i++)
        if (reg->v[i].id == id)
            return &reg->v[i];
    return NULL;
}

static nb_record_type_t nb__type_of_subject(const char *subject)
{
    for (int t = NB_RECORD_NONE + 1; t < NB_RECORD__COUNT; t++)
        if (strcmp(subject, nb_record_type_name((nb_record_type_t)t)) == 0)
            return (nb_record_type_t)t;
    return NB_RECORD_NONE;
}

nb_err_t nb_registry_add(nb_registry_t *reg, int32_t id, const char *subject, int version,
                         const char *json, size_t json_len, char *errstr, size_t errstr_size)
{
    nb_record_type_t type = nb__type_of_subject(subject);
    avro_schema_t schema = NULL;
    if (type == NB_RECORD_NONE) {
        snprintf(errstr, errstr_size, "schema %d: unknown subject '%s'", (int)id, subject);
        return NB_ERR_SCHEMA_INVALID;
    }
    if (id <= 0 || nb__registry_find(reg, id)) {
        snprintf(errstr, errstr_size, "schema id %d is not positive or already registered",
                 (int)id);
        return NB_ERR_INVALID_ARG;
    }
    nb__avro_lock();
    if (avro_schema_from_json_length(json, json_len, &schema)) {
        snprintf(errstr, errstr_size, "schema %d (%s): %s", (int)id, subject, avro_strerror());
        nb__avro_unlock();
        return NB_ERR_SCHEMA_INVALID;
    }
    nb__avro_unlock();
    if (avro_typeof(schema) != AVRO_RECORD) {
        snprintf(errstr, errstr_size, "schema %d (%s): top level is not a record", (int)id,
                 subject);
        avro_schema_decref(schema);
        return NB_ERR_SCHEMA_INVALID;
    }
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 8;
        nb__schema_entry_t *v = realloc(reg->v, cap * sizeof(*v));
        if (!v) {
            avro_schema_decref(schema);
            return NB_ERR_NOMEM;
        }
        reg->v = v;
        reg->cap = cap;
    }
    nb__schema_entry_t *e = &reg->v[reg->n];
    e->id = id;
    e->type = type;
    e->version = version;
    e->builtin = false;
    e->schema = schema;
    e->subject = strdup(subject);
    e->json = malloc(json_len + 1);
    if (!e->subject || !e->json) {
        free(e->subject);
        free(e->json);
        avro_schema_decref(schema);
        return NB_ERR_NOMEM;
    }
    memcpy(e->json, json, json_len);
    e->json[json_len] = '\0';
    reg->n++;
    return NB_ERR_OK;
}

nb_err_t nb_registry_add_builtin(nb_registry_t *reg, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < nb__embedded_schema_count; i++) {
        const nb__embedded_schema_t *s = &nb__embedded_schemas[i];
        nb_err_t err = nb_registry_add(reg, s->id, s->subject, s->version, s->json, s->json_len,
                                       errstr, errstr_size);
        if (err)
            return err;
        reg->v[reg->n - 1].builtin = true;
    }
    return NB_ERR_OK;
}

/* A schema file is a few kilobytes; this bounds what a wrong path can make us read. */
#define NB__MAX_SCHEMA_FILE_BYTES (4u << 20)

nb_err_t nb_registry_load_dir(nb_registry_t *reg, const char *dir, char *errstr,
                              size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/registry.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NB_ERR_IO;
    }
    char line[1024];
    int lineno = 0;
    nb_err_t err = NB_ERR_OK;
    while (!err && fgets(line, sizeof(line), f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        int id, version;
        char subject[256], file[256];
        if (sscanf(line, "%d %255s %d %255s", &id, subject, &version, file) != 4) {
            snprintf(errstr, errstr_size, "%s:%d:1: expected 'id subject version file'", path,
                     lineno);
            err = NB_ERR_SCHEMA_INVALID;
            break;
        }
        char fpath[4096];
        size_t len = 0;
        snprintf(fpath, sizeof(fpath), "%s/%s", dir, file);
        char *json = NULL;
        const char *why;
        switch (nb_file_read(fpath, 0, NB__MAX_SCHEMA_FILE_BYTES, &json, &len, &why)) {
        case NB_FILE_OK:
            break;
        case NB_FILE_CANNOT:
            snprintf(errstr, errstr_size, "%s: %s", fpath, why);
            err = NB_ERR_IO;
            break;
        case NB_FILE_KIND:
            snprintf(errstr, errstr_size, "%s: not a regular file (%s)", fpath, why);
            err = NB_ERR_IO;
            break;
        case NB_FILE_SIZE:
            snprintf(errstr, errstr_size, "%s: larger than %u MiB", fpath,
                     NB__MAX_SCHEMA_FILE_BYTES >> 20);
            err = NB_ERR_LIMIT;
            break;
        case NB_FILE_NOMEM:
            snprintf(errstr, errstr_size, "out of memory");
            err = NB_ERR_NOMEM;
            break;
        }
        if (err)
            break;
        err = nb_registry_add(reg, id, subject, version, json, len, errstr, errstr_size);
        free(json);
    }
    fclose(f);
    return err;
}

int32_t nb_registry_reader_id(const nb_registry_t *reg, nb_record_type_t type)
{
    const nb__schema_entry_t *best = NULL;
    for (size_t i = 0; i < reg->n; i++) {
        const nb__schema_entry_t *e = &reg->v[i];
        if (e->type != type)
            continue;
        /* A built-in schema beats any other; among equals the highest version wins. */
        if (!best || (e->builtin && !best->builtin) ||
            (e->builtin == best->builtin && e->version > best->version))
            best = e;
    }
    return best ? best->id : -1;
}

nb_record_type_t nb_registry_type_of(const nb_registry_t *reg, int32_t id)
{
    const nb__schema_entry_t *e = nb__registry_find(reg, id);
    return e ? e->type : NB_RECORD_NONE;
}

const char *nb_registry_schema_json(const nb_registry_t *reg, int32_t id)
{
    const nb__schema_entry_t *e = nb__registry_find(reg, id);
    return e ? e->json : NULL;
}
