/*
 * notbrought - codec internals shared by the codec's source files.
 */
#ifndef NB_CODEC_INTERNAL_H
#define NB_CODEC_INTERNAL_H

#include <avro.h>

#include "notbrought/codec.h"

typedef struct nb__schema_entry_s {
    int32_t id;
    nb_record_type_t type;
    int version;
    bool builtin; /* compiled into this program: the reader schema of its type */
    char *subject;
    char *json;
    avro_schema_t schema;
} nb__schema_entry_t;

struct nb_registry_s {
    nb__schema_entry_t *v;
    size_t n;
    size_t cap;
};

/* Held while a message is read from libavro's process-wide error buffer (codec.c). */
void nb__avro_lock(void);
void nb__avro_unlock(void);

/** @returns the entry of a schema id, or NULL. Valid until nb_registry_destroy(). */
const nb__schema_entry_t *nb__registry_find(const nb_registry_t *reg, int32_t id);

/* Field indexes by (record schema, field name literal), so that fields are not looked up by
 * name (a string hash and compare in avro-c) for every field of every record. Direct-mapped;
 * a miss looks the name up and takes the slot. Owned by a codec (its schemas outlive it). */
#define NB__FCACHE_SLOTS 512
typedef struct nb__fslot_s {
    const void *schema;
    const char *name;
    int index;
} nb__fslot_t;

/* Mapping between reader-schema generic values and the model's structs (map.c). */
typedef struct nb__xerr_s {
    nb_err_t err;
    char *errstr;
    size_t errstr_size;
    nb__fslot_t *fcache; /* [NB__FCACHE_SLOTS], or NULL */
    const char *at;      /* the record being read, for messages ("subject"), or NULL at the top */
} nb__xerr_t;

nb_err_t nb__extract(nb_record_type_t type, avro_value_t *val, nb_record_t *rec, nb__xerr_t *x);
nb_err_t nb__fill(const nb_record_t *rec, avro_value_t *val, nb__xerr_t *x);

#endif
