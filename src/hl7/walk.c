/*
 * notbrought - hl7: every value of a message visited in one pass over its bytes.
 *
 * Fetching each position by its numbers finds the field from the index and then splits it
 * again for every repetition, component and sub-component asked for; a walk over everything
 * would read each byte several times. This reads each once, keeping count of where it is.
 */
#include "hl7/internal.h"

#include <string.h>

enum { NB__HL7_PLAIN, NB__HL7_FS, NB__HL7_REP, NB__HL7_COMP, NB__HL7_SUB };

/* Walks segment @p s from its piece @p piece (field number @p field) to its end. @returns
 * false when the visitor asked to stop. */
static bool nb__hl7_walk_fields(const nb_hl7_msg_t *msg, const unsigned char kind[256], size_t s,
                                size_t piece, size_t field, nb_hl7_visit_fn fn, void *opaque,
                                size_t *visited)
{
    const nb__hl7_seg_t *seg = &msg->segs[s];
    const char *p = msg->data + msg->fields[seg->first + piece - 1];
    const char *end = msg->data + seg->off + seg->len, *leaf = p;
    nb_hl7_pos_t pos = {s, field, 1, 1, 1};
    for (;; p++) {
        unsigned char k = p < end ? kind[(unsigned char)*p] : NB__HL7_FS;
        if (k == NB__HL7_PLAIN)
            continue;
        if (p > leaf) {
            nb_hl7_value_t v = {leaf, (size_t)(p - leaf)};
            (*visited)++;
            if (!fn(opaque, &pos, v))
                return false;
        }
        if (p >= end)
            return true;
        leaf = p + 1;
        switch (k) {
        case NB__HL7_FS:
            pos.field++;
            pos.rep = pos.comp = pos.sub = 1;
            break;
        case NB__HL7_REP:
            pos.rep++;
            pos.comp = pos.sub = 1;
            break;
        case NB__HL7_COMP:
            pos.comp++;
            pos.sub = 1;
            break;
        default:
            pos.sub++;
            break;
        }
    }
}

size_t nb_hl7_walk(const nb_hl7_msg_t *msg, nb_hl7_visit_fn fn, void *opaque)
{
    unsigned char kind[256];
    memset(kind, NB__HL7_PLAIN, sizeof(kind));
    kind[(unsigned char)msg->delims.field] = NB__HL7_FS;
    kind[(unsigned char)msg->delims.rep] = NB__HL7_REP;
    kind[(unsigned char)msg->delims.comp] = NB__HL7_COMP;
    kind[(unsigned char)msg->delims.sub] = NB__HL7_SUB;
    size_t visited = 0;
    for (size_t s = 0; s < msg->nsegs; s++) {
        size_t piece = 1, field = 1;
        if (s == 0) { /* MSH-1 and MSH-2, whole: they are the delimiters */
            for (size_t f = 1; f <= 2 && f <= nb_hl7_field_count(msg, 0); f++) {
                nb_hl7_value_t v = nb_hl7_get(msg, 0, f, 0, 0, 0);
                nb_hl7_pos_t pos = {0, f, 1, 1, 1};
                if (v.len == 0)
                    continue;
                visited++;
                if (!fn(opaque, &pos, v))
                    return visited;
            }
            piece = 2;
            field = 3;
        }
        if (piece > msg->segs[s].pieces)
            continue;
        if (!nb__hl7_walk_fields(msg, kind, s, piece, field, fn, opaque, &visited))
            return visited;
    }
    return visited;
}
