/*
 * notbrought - hl7: what the files of the module share.
 */
#ifndef NB_HL7_INTERNAL_H
#define NB_HL7_INTERNAL_H

#include "notbrought/hl7.h"

/* A limit no setting may raise: offsets are kept in 32 bits. */
#define NB__HL7_MAX_BYTES_CAP ((size_t)1 << 30)

/* One segment of a parsed message. Its pieces (the text between two field separators) start
 * at fields[first .. first + pieces - 1]; a piece ends one byte before the next one starts, the
 * last at the end of the segment. In MSH piece 1 is MSH-2: MSH-1 is the separator itself. */
typedef struct nb__hl7_seg_s {
    uint32_t off;    /* of the segment id in the message */
    uint32_t len;    /* without the terminator */
    uint32_t first;  /* index of its first piece in fields[] */
    uint32_t pieces; /* pieces after the id */
    char id[4];
} nb__hl7_seg_t;

struct nb_hl7_msg_s {
    nb_hl7_limits_t lim;
    const char *data;
    size_t len;
    nb_hl7_delims_t delims;
    nb__hl7_seg_t *segs;
    size_t nsegs, segs_cap;
    uint32_t *fields; /* start offsets of every piece of every segment */
    size_t nfields, fields_cap;
};

/* Writes the detail of an error into errstr (NULL-tolerant) and returns err. */
NB_NODISCARD nb_err_t nb__hl7_fail(char *errstr, size_t errstr_size, nb_err_t err, const char *fmt,
                                   ...) __attribute__((format(printf, 4, 5)));

/* True for a byte that may be a delimiter: printable ASCII, neither a letter, a digit nor a
 * space. */
bool nb__hl7_delim_ok(unsigned char c);

/* True for a segment id: a capital letter, then two capital letters or digits. */
bool nb__hl7_seg_id_ok(const char *p, size_t len);

/* Whether a MSH-12 version (its first component) is at least major.minor.patch. An empty or
 * unreadable version counts as the newest, so that the ACK of a message without one has the
 * current layout. */
bool nb__hl7_version_at_least(nb_hl7_value_t v, int major, int minor, int patch);

#endif /* NB_HL7_INTERNAL_H */
