/*
 * notbrought - codec: bounds-checking walk of Avro binary data over its writer schema.
 */
#ifndef NB_CODEC_PRESCAN_H
#define NB_CODEC_PRESCAN_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"

/** Deepest nesting of records, arrays, maps and unions the walk accepts. */
#define NB__PRESCAN_MAX_DEPTH 32
/** Most items (array or map entries) in one record, over all its arrays and maps. */
#define NB__PRESCAN_MAX_ITEMS 65536

/**
 * @brief Proves that @p len bytes are exactly one well-formed Avro datum of @p schema: every
 *        varint at most 10 bytes, every length non-negative and within the input, every enum
 *        and union index in range, nothing left over.
 * @returns NB_ERR_OK or the specific NB_ERR_AVRO_* code, with the byte offset and the field
 *          name in errstr.
 */
NB_NODISCARD nb_err_t nb__codec_prescan(avro_schema_t schema, const uint8_t *buf, size_t len,
                                        char *errstr, size_t errstr_size);

#endif
