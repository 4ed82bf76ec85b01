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

NB_NODISCARD nb_err_t nb__extract(nb_record_type_t type, avro_value_t *val, nb_record_t *rec,
                                  nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__fill(const nb_record_t *rec, avro_value_t *val, nb__xerr_t *x);

/* The field @p name of record @p rec, through the codec's field-index cache (map.c).
 * @returns 0 or avro-c's error. */
int nb__by_name(avro_value_t *rec, const char *name, avro_value_t *out, nb__xerr_t *x);

/* The field readers and writers of map.c, for the record types mapped in files of their own
 * (map_suggestion.c). Each records the first failure in x and returns it; calls chain with ||.
 * Messages name fields (with x->at as the enclosing record), never values. */
NB_NODISCARD nb_err_t nb__xfail(nb__xerr_t *x, nb_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
NB_NODISCARD nb_err_t nb__field(avro_value_t *rec, const char *name, avro_value_t *out,
                                nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_str(avro_value_t *rec, const char *name, char *dst, size_t cap,
                                  nb_text_class_t cls, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_int(avro_value_t *rec, const char *name, int32_t *out, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_long(avro_value_t *rec, const char *name, int64_t *out,
                                   nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_opt_long(avro_value_t *rec, const char *name, int64_t *out,
                                       nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_enum(avro_value_t *rec, const char *name, int count, int *out,
                                   nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_source(avro_value_t *rec, nb_source_t *src, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__array(avro_value_t *rec, const char *name, size_t max, avro_value_t *arr,
                                size_t *n, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__x_link(avro_value_t *v, nb_identity_link_t *l, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__wfield(avro_value_t *rec, const char *name, avro_value_t *out,
                                 nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_str(avro_value_t *rec, const char *name, const char *s,
                                  nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_int(avro_value_t *rec, const char *name, int32_t v, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_long(avro_value_t *rec, const char *name, int64_t v, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_opt_long(avro_value_t *rec, const char *name, int64_t v,
                                       nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_enum(avro_value_t *rec, const char *name, int v, int count,
                                   nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_source(avro_value_t *rec, const nb_source_t *src, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__append(avro_value_t *rec, const char *name, size_t n, size_t max,
                                 avro_value_t *arr, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__f_link(const nb_identity_link_t *l, avro_value_t *v, nb__xerr_t *x);

/* IdentitySuggestion (map_suggestion.c). */
NB_NODISCARD nb_err_t nb__optional(avro_value_t *rec, const char *name, avro_value_t *out,
                                   bool *present, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_strv(avro_value_t *v, const char *name, char *dst, size_t cap,
                                   nb_text_class_t cls, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_opt_str(avro_value_t *rec, const char *name, char *dst, size_t cap,
                                      nb_text_class_t cls, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__get_bool(avro_value_t *rec, const char *name, bool *out, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_branch(avro_value_t *rec, const char *name, bool present,
                                     avro_value_t *branch, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_opt_str(avro_value_t *rec, const char *name, const char *s,
                                      nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__set_bool(avro_value_t *rec, const char *name, bool v, nb__xerr_t *x);
/* The AuditRecord schema audit_wire.c writes directly (schemas/registry.tsv). */
#define NB__AUDIT_WIRE_ID 9
NB_NODISCARD nb_err_t nb__audit_wire_encode(const nb_audit_t *a, int32_t schema_id, nb_buf_t *out,
                                            char *errstr, size_t errstr_size);

/* The AppointmentEvent read straight from its bytes (appt_wire.c), for data written with the
 * reader schema. A fast path: every verdict but DECODED sends the record to the generic path,
 * which stays the authority for errors. */
typedef enum nb__appt_wire_e {
    NB__APPT_WIRE_DECODED = 0, /* *out is exactly what the generic path reads */
    NB__APPT_WIRE_MALFORMED,   /* not one well-formed datum: the generic path fails too */
    NB__APPT_WIRE_REFUSED,     /* a value nb__x_appt() refuses: the generic path fails too */
    NB__APPT_WIRE_UNUSUAL      /* an encoding no Avro writer produces (a boolean byte other than
                                  0 or 1): the generic path decides */
} nb__appt_wire_t;

/** An NHS number as the model holds it: digits only when it normalises, else as received so
 *  that validation reports it; false when it is too long for that (map.c, appt_wire.c). */
bool nb__nhs_as_received(const char *raw, char dst[NB_NHS_LEN + 1]);

/** True when @p reader is the schema appt_wire.c reads (schemas/appointment_event.avsc). */
bool nb__appt_wire_fits(avro_schema_t reader);

/** Reads one AppointmentEvent body (no frame); writes *out only when DECODED. */
nb__appt_wire_t nb__appt_wire_decode(const uint8_t *body, size_t len, nb_appointment_event_t *out);

/** nb_codec_decode() without the fast path: what tests and benchmarks compare it with. */
NB_NODISCARD nb_err_t nb__codec_decode_generic(nb_codec_t *codec, const void *buf, size_t len,
                                               nb_record_type_t expect, nb_record_t *rec,
                                               char *errstr, size_t errstr_size);

NB_NODISCARD nb_err_t nb__x_audit(avro_value_t *v, nb_audit_t *a, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__f_audit(const nb_audit_t *a, avro_value_t *v, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__x_suggestion(avro_value_t *v, nb_suggestion_t *s, nb__xerr_t *x);
NB_NODISCARD nb_err_t nb__f_suggestion(const nb_suggestion_t *s, avro_value_t *v, nb__xerr_t *x);

#endif
