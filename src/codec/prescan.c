/*
 * notbrought - codec: bounds-checking walk of Avro binary data over its writer schema.
 *
 * Why this exists: avro-c 1.11.1 trusts string and bytes lengths (a negative length writes
 * before its buffer; a length past the input leaks the buffer), so untrusted bytes are walked
 * here first. The walk reads nothing into memory and allocates nothing.
 */
#include "codec/prescan.h"

#include <stdio.h>

typedef struct nb__scan_s {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    size_t items;
    char *errstr;
    size_t errstr_size;
} nb__scan_t;

NB_NODISCARD static nb_err_t nb__scan_fail(nb__scan_t *sc, nb_err_t err, const char *field)
{
    snprintf(sc->errstr, sc->errstr_size, "%s at byte %zu%s%s%s", nb_err_str(err),
             (size_t)(sc->p - sc->start), field ? " (field '" : "", field ? field : "",
             field ? "')" : "");
    return err;
}

NB_NODISCARD static nb_err_t nb__scan_long(nb__scan_t *sc, int64_t *out, const char *field)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (sc->p >= sc->end)
            return nb__scan_fail(sc, NB_ERR_AVRO_TRUNCATED, field);
        uint8_t b = *sc->p++;
        value |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((value >> 1) ^ (~(value & 1) + 1));
            return NB_ERR_OK;
        }
    }
    return nb__scan_fail(sc, NB_ERR_AVRO_VARINT, field);
}

NB_NODISCARD static nb_err_t nb__scan_skip(nb__scan_t *sc, int64_t n, const char *field)
{
    if (n < 0)
        return nb__scan_fail(sc, NB_ERR_AVRO_NEGATIVE_LENGTH, field);
    if ((uint64_t)n > (uint64_t)(sc->end - sc->p))
        return nb__scan_fail(sc, NB_ERR_AVRO_LENGTH, field);
    sc->p += n;
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__scan(nb__scan_t *sc, avro_schema_t s, const char *field,
                                      int depth);

/* Arrays and maps: blocks of items, a negative count followed by the block's byte size,
 * a zero count at the end. */
NB_NODISCARD static nb_err_t nb__scan_blocks(nb__scan_t *sc, avro_schema_t items, bool is_map,
                                             const char *field, int depth)
{
    nb_err_t err;
    for (;;) {
        int64_t count;
        if ((err = nb__scan_long(sc, &count, field)))
            return err;
        if (count == 0)
            return NB_ERR_OK;
        if (count < 0) {
            int64_t block_size;
            if (count == INT64_MIN)
                return nb__scan_fail(sc, NB_ERR_AVRO_NEGATIVE_LENGTH, field);
            count = -count;
            if ((err = nb__scan_long(sc, &block_size, field)))
                return err;
            if (block_size < 0)
                return nb__scan_fail(sc, NB_ERR_AVRO_NEGATIVE_LENGTH, field);
            if ((uint64_t)block_size > (uint64_t)(sc->end - sc->p))
                return nb__scan_fail(sc, NB_ERR_AVRO_LENGTH, field);
        }
        /* Items of type null take no bytes, so the item count is capped on its own. */
        if ((uint64_t)count > NB__PRESCAN_MAX_ITEMS - sc->items)
            return nb__scan_fail(sc, NB_ERR_FIELD_COUNT, field);
        sc->items += (size_t)count;
        for (int64_t i = 0; i < count; i++) {
            if (is_map) {
                int64_t klen;
                if ((err = nb__scan_long(sc, &klen, field)) ||
                    (err = nb__scan_skip(sc, klen, field)))
                    return err;
            }
            if ((err = nb__scan(sc, items, field, depth + 1)))
                return err;
        }
    }
}

static nb_err_t nb__scan(nb__scan_t *sc, avro_schema_t s, const char *field, int depth)
{
    nb_err_t err;
    int64_t v;
    if (depth > NB__PRESCAN_MAX_DEPTH)
        return nb__scan_fail(sc, NB_ERR_AVRO_DEPTH, field);
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return NB_ERR_OK;
    case AVRO_BOOLEAN:
        return nb__scan_skip(sc, 1, field) ? nb__scan_fail(sc, NB_ERR_AVRO_TRUNCATED, field)
                                           : NB_ERR_OK;
    case AVRO_INT32:
    case AVRO_INT64:
        return nb__scan_long(sc, &v, field);
    case AVRO_FLOAT:
        return nb__scan_skip(sc, 4, field) ? nb__scan_fail(sc, NB_ERR_AVRO_TRUNCATED, field)
                                           : NB_ERR_OK;
    case AVRO_DOUBLE:
        return nb__scan_skip(sc, 8, field) ? nb__scan_fail(sc, NB_ERR_AVRO_TRUNCATED, field)
                                           : NB_ERR_OK;
    case AVRO_STRING:
    case AVRO_BYTES:
        if ((err = nb__scan_long(sc, &v, field)))
            return err;
        return nb__scan_skip(sc, v, field);
    case AVRO_FIXED:
        return nb__scan_skip(sc, avro_schema_fixed_size(s), field)
                   ? nb__scan_fail(sc, NB_ERR_AVRO_TRUNCATED, field)
                   : NB_ERR_OK;
    case AVRO_ENUM:
        if ((err = nb__scan_long(sc, &v, field)))
            return err;
        if (v < 0 || v >= avro_schema_enum_number_of_symbols(s))
            return nb__scan_fail(sc, NB_ERR_AVRO_ENUM_INDEX, field);
        return NB_ERR_OK;
    case AVRO_UNION:
        if ((err = nb__scan_long(sc, &v, field)))
            return err;
        if (v < 0 || (uint64_t)v >= avro_schema_union_size(s))
            return nb__scan_fail(sc, NB_ERR_AVRO_UNION_INDEX, field);
        return nb__scan(sc, avro_schema_union_branch(s, (int)v), field, depth + 1);
    case AVRO_RECORD: {
        size_t n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; i++) {
            if ((err = nb__scan(sc, avro_schema_record_field_get_by_index(s, (int)i),
                                avro_schema_record_field_name(s, (int)i), depth + 1)))
                return err;
        }
        return NB_ERR_OK;
    }
    case AVRO_ARRAY:
        return nb__scan_blocks(sc, avro_schema_array_items(s), false, field, depth);
    case AVRO_MAP:
        return nb__scan_blocks(sc, avro_schema_map_values(s), true, field, depth);
    case AVRO_LINK:
        return nb__scan(sc, avro_schema_link_target(s), field, depth + 1);
    }
    return nb__scan_fail(sc, NB_ERR_AVRO_DECODE, field);
}

nb_err_t nb__codec_prescan(avro_schema_t schema, const uint8_t *buf, size_t len, char *errstr,
                           size_t errstr_size)
{
    nb__scan_t sc = {buf, buf, buf + len, 0, errstr, errstr_size};
    nb_err_t err = nb__scan(&sc, schema, NULL, 0);
    if (err)
        return err;
    if (sc.p != sc.end)
        return nb__scan_fail(&sc, NB_ERR_AVRO_TRAILING, NULL);
    return NB_ERR_OK;
}
