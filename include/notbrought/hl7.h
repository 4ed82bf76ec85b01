/*
 * notbrought - hl7: a parser of HL7 version 2 messages (ER7, the "pipe and hat" encoding), the
 * pure layer under the HL7 v2 adapter (issue 22). No sockets, no Kafka, no mappings: bytes in,
 * positions and values out.
 *
 * - A message is read in one pass into an index of segments and fields over the caller's
 *   bytes, which are never copied or changed (zero-copy): every value is a view into them.
 *   Repetitions, components and sub-components are split on demand.
 * - Values stay escaped until the caller asks for one unescaped, into its own buffer.
 * - Batches (FHS/BHS ... BTS/FTS, or several messages one after another), MLLP framing, DTM
 *   timestamps and the building of an ACK are pure functions too.
 *
 * What is accepted and what is refused, with the reasons, is in docs/hl7.md.
 *
 * Numbering is HL7's: segments are counted from 0 (0 is MSH), but fields, repetitions,
 * components and sub-components from 1, so that "PID-3.1" is field 3, component 1. In MSH
 * field 1 is the field separator itself and field 2 the encoding characters.
 *
 * Error texts give positions (segment, field, byte offset), never the message's content: they
 * may go into logs and dead-letter headers, and HL7 messages carry personal data.
 *
 * Pure: no I/O, no clock, no logging. A message handle belongs to one thread; the other
 * functions keep no state and may be called from any thread.
 */
#ifndef NOTBROUGHT_HL7_H
#define NOTBROUGHT_HL7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notbrought/err.h"
#include "notbrought/util.h" /* nb_buf_t, which the ACK builder and the escaper write */

/* ---- values ------------------------------------------------------------------------------ */

/**
 * A view of part of a message: @p len bytes at @p p, still escaped, not NUL-terminated. @p p is
 * never NULL (an absent value points to a static empty string). It lives as long as the bytes
 * given to nb_hl7_msg_parse() and until the next parse of the same handle.
 */
typedef struct nb_hl7_value_s {
    const char *p;
    size_t len;
} nb_hl7_value_t;

/** What a value holds: HL7 tells "not sent" apart from the null `""`. */
typedef enum nb_hl7_kind_e {
    NB_HL7_ABSENT = 0, /**< not sent: empty (`||`) or beyond the end of its segment */
    NB_HL7_NULL,       /**< exactly `""`: the sender says there is no value (delete it) */
    NB_HL7_VALUED      /**< anything else */
} nb_hl7_kind_t;

/** @brief Whether @p v is absent, the HL7 null `""` or a value. */
nb_hl7_kind_t nb_hl7_value_kind(nb_hl7_value_t v);

/** The delimiters a message declares in MSH-1 and MSH-2. */
typedef struct nb_hl7_delims_s {
    char field; /**< MSH-1, usually '|' */
    char comp;  /**< '^' */
    char rep;   /**< '~' */
    char esc;   /**< '\\' */
    char sub;   /**< '&' */
    char trunc; /**< the v2.7 truncation character ('#'), or '\0' when MSH-2 has only four */
} nb_hl7_delims_t;

/** @brief The delimiters HL7 recommends: | ^ ~ \ & and no truncation character. */
void nb_hl7_delims_default(nb_hl7_delims_t *d);

/**
 * @brief Piece @p n (from 1) of @p v split at @p delim: nb_hl7_value_piece(v, '^', 2) is the
 *        second component of a repetition.
 * @returns the piece, absent when there are fewer.
 */
nb_hl7_value_t nb_hl7_value_piece(nb_hl7_value_t v, char delim, size_t n);

/** @brief How many pieces @p v has when split at @p delim: 0 for an empty value. */
size_t nb_hl7_value_count(nb_hl7_value_t v, char delim);

/**
 * Goes through the pieces of a value split at one delimiter, in one pass: the way to walk all
 * the repetitions of a field, or all the components of a repetition, without finding each from
 * the start again. The pieces are those nb_hl7_value_piece() gives, in order. MSH-1 and MSH-2
 * are not to be split (they are the delimiters).
 */
typedef struct nb_hl7_iter_s {
    const char *p, *end;
    char delim;
    bool more;
} nb_hl7_iter_t;

/* Inline, as a walk over a whole message calls them for every field and every part of one. */

/** @brief Starts going through the pieces of @p v split at @p delim. */
static inline void nb_hl7_iter_init(nb_hl7_iter_t *it, nb_hl7_value_t v, char delim)
{
    it->p = v.p;
    it->end = v.p + v.len;
    it->delim = delim;
    it->more = v.len > 0;
}

/** @brief The next piece. @returns false when there are no more (*piece is then absent). */
static inline bool nb_hl7_iter_next(nb_hl7_iter_t *it, nb_hl7_value_t *piece)
{
    const char *d = it->p;
    if (!it->more) {
        piece->p = "";
        piece->len = 0;
        return false;
    }
    while (d < it->end && *d != it->delim)
        d++;
    piece->p = d > it->p ? it->p : "";
    piece->len = (size_t)(d - it->p);
    it->more = d < it->end; /* a delimiter: one more piece follows, perhaps empty */
    it->p = d < it->end ? d + 1 : d;
    return true;
}

/* ---- messages ---------------------------------------------------------------------------- */

/** Limits of one message; each one reached is NB_ERR_LIMIT with the limit in the text. */
typedef struct nb_hl7_limits_s {
    size_t max_bytes;    /**< bytes of one message; default 1 MiB, at most 1 GiB */
    size_t max_segments; /**< segments of one message; default 2,000 */
    size_t max_fields;   /**< fields of one segment; default 1,000 */
} nb_hl7_limits_t;

/** @brief The default limits (above). */
void nb_hl7_limits_default(nb_hl7_limits_t *lim);

/** A parsed message: opaque, reused from one parse to the next. */
typedef struct nb_hl7_msg_s nb_hl7_msg_t;

/**
 * @brief A message handle with these limits (NULL: the defaults).
 * @returns NULL on allocation failure or when a limit is 0 or above its maximum.
 */
nb_hl7_msg_t *nb_hl7_msg_new(const nb_hl7_limits_t *lim);

/** @brief Frees the handle. NULL is a no-op. The caller's bytes are not touched. */
void nb_hl7_msg_destroy(nb_hl7_msg_t *msg);

/**
 * @brief Parses one message: MSH first, then segments ended by CR, LF or CRLF.
 *
 * Accepted: any legal choice of delimiters in MSH-1 and MSH-2 (four encoding characters, or
 * five with the v2.7 truncation character); CR, LF or CRLF after each segment, mixed; a last
 * segment without a terminator; blank lines (and lines of only spaces or tabs) between
 * segments; a UTF-8 byte order mark before MSH. Refused (NB_ERR_HL7_SYNTAX): anything before
 * MSH, invalid encoding characters, a segment id that is not a capital letter and two capital
 * letters or digits, a second MSH or a batch segment (FHS, BHS, BTS, FTS) inside the message
 * (split with nb_hl7_batch_next() first), NUL bytes and MLLP framing bytes (VT, FS; strip the
 * frame with nb_hl7_mllp_find() first). NB_ERR_LIMIT when a limit is reached.
 *
 * @param data the message; it must stay unchanged while the handle's values are used.
 * @returns NB_ERR_OK, or an error with the position in errstr. After an error the segments
 *          read before it stay available (nb_hl7_segment_count() says how many), so that an
 *          ACK can still be built from a message whose MSH was read.
 * @remark Values returned earlier by this handle are invalid after the call.
 */
NB_NODISCARD nb_err_t nb_hl7_msg_parse(nb_hl7_msg_t *msg, const char *data, size_t len,
                                       char *errstr, size_t errstr_size);

/** @brief The delimiters of the last message parsed (the defaults before any). */
const nb_hl7_delims_t *nb_hl7_msg_delims(const nb_hl7_msg_t *msg);

/** @brief How many segments were read (0 when MSH was not). */
size_t nb_hl7_segment_count(const nb_hl7_msg_t *msg);

/**
 * @brief The id of segment @p seg (from 0), e.g. "PID".
 * @returns a NUL-terminated string of 3 characters valid until the next parse, or "" when
 *          there is no such segment.
 */
const char *nb_hl7_segment_id(const nb_hl7_msg_t *msg, size_t seg);

/** @brief The whole of segment @p seg, id and fields, without its terminator. */
nb_hl7_value_t nb_hl7_segment(const nb_hl7_msg_t *msg, size_t seg);

/** @brief Byte offset of segment @p seg in the parsed bytes (0 when there is none). */
size_t nb_hl7_segment_offset(const nb_hl7_msg_t *msg, size_t seg);

/**
 * @brief Finds the first segment with id @p id at index @p from or after.
 * @returns true and sets *seg when found.
 */
bool nb_hl7_segment_find(const nb_hl7_msg_t *msg, const char *id, size_t from, size_t *seg);

/**
 * @brief The number of the last field present in segment @p seg (PID|a|b has 2; MSH|^~\&|A
 *        has 3, MSH-1 being the field separator). 0 for a segment without fields.
 */
size_t nb_hl7_field_count(const nb_hl7_msg_t *msg, size_t seg);

/**
 * @brief A value by position, still escaped.
 * @param field from 1. MSH-1 is a one-byte view of the field separator and MSH-2 the encoding
 *        characters as written; neither is split further (only rep, comp, sub 0 or 1 find them).
 * @param rep repetition from 1; 0 for the whole field with all its repetitions (asking for a
 *        component of a whole field then means the first repetition).
 * @param comp component from 1; 0 for the whole repetition.
 * @param sub sub-component from 1; 0 for the whole component.
 * @returns the value; absent when the message has no such position.
 */
nb_hl7_value_t nb_hl7_get(const nb_hl7_msg_t *msg, size_t seg, size_t field, size_t rep,
                          size_t comp, size_t sub);

/** @brief Repetitions of a field: 0 when it is empty. */
size_t nb_hl7_rep_count(const nb_hl7_msg_t *msg, size_t seg, size_t field);
/** @brief Components of repetition @p rep (from 1) of a field: 0 when it is empty. */
size_t nb_hl7_comp_count(const nb_hl7_msg_t *msg, size_t seg, size_t field, size_t rep);
/** @brief Sub-components of a component: 0 when it is empty. */
size_t nb_hl7_sub_count(const nb_hl7_msg_t *msg, size_t seg, size_t field, size_t rep, size_t comp);

/** Where a value is: segment from 0; field, repetition, component, sub-component from 1. */
typedef struct nb_hl7_pos_s {
    size_t seg, field, rep, comp, sub;
} nb_hl7_pos_t;

/** A visitor of nb_hl7_walk(): @returns true to go on, false to stop. */
typedef bool (*nb_hl7_visit_fn)(void *opaque, const nb_hl7_pos_t *pos, nb_hl7_value_t v);

/**
 * @brief Visits every value of the message that is not empty, in order, with its position: each
 *        sub-component (a value without delimiters is sub-component 1 of component 1 of
 *        repetition 1), and MSH-1 and MSH-2 whole. One pass over the bytes: the way to look at
 *        everything, where fetching each position by its numbers would split each field again.
 * @returns how many values were visited (the last one included when the visitor stopped).
 */
size_t nb_hl7_walk(const nb_hl7_msg_t *msg, nb_hl7_visit_fn fn, void *opaque);

/* ---- paths ------------------------------------------------------------------------------- */

/**
 * A position written as text, the way interface specifications write it:
 *   "SCH-25"        field 25 of the first SCH, all its repetitions
 *   "PID-3[2].1"    component 1 of the second repetition of PID-3
 *   "PID-3.4.2"     sub-component 2 of component 4 of the first repetition
 *   "NTE[2]-3"      field 3 of the second NTE segment
 */
typedef struct nb_hl7_path_s {
    char seg[4];    /**< segment id */
    unsigned occ;   /**< which segment with that id, from 1 */
    unsigned field; /**< from 1 */
    unsigned rep;   /**< from 1, or 0 for the whole field (no [n] and no component) */
    unsigned comp;  /**< from 1, or 0 */
    unsigned sub;   /**< from 1, or 0 */
} nb_hl7_path_t;

/**
 * @brief Reads a path ("PID-3[2].1").
 * @returns NB_ERR_OK, or NB_ERR_INVALID_ARG with the position of the fault in errstr.
 */
NB_NODISCARD nb_err_t nb_hl7_path_parse(const char *s, nb_hl7_path_t *path, char *errstr,
                                        size_t errstr_size);

/** @brief The value at a path; absent when the message has no such segment or position. */
nb_hl7_value_t nb_hl7_path_get(const nb_hl7_msg_t *msg, const nb_hl7_path_t *path);

/* ---- escapes ----------------------------------------------------------------------------- */

/* Flags of nb_hl7_unescape(). */
#define NB_HL7_UNESCAPE_STRICT 1u /**< refuse malformed and unknown escapes (NB_ERR_HL7_ESCAPE) */

/* What nb_hl7_unescape() did besides plain replacement (bits of *notes). */
#define NB_HL7_NOTE_LITERAL 1u /**< an escape it could not read was kept as written */
#define NB_HL7_NOTE_FORMAT 2u  /**< formatting (\.in\ \H\ ...) was dropped */
#define NB_HL7_NOTE_CHARSET 4u /**< a character set switch (\C..\ \M..\) was dropped */

/**
 * @brief Unescapes a value into the caller's buffer.
 *
 * \F\ \S\ \T\ \R\ \E\ become the delimiters they stand for, \P\ the truncation character,
 * \Xhhhh..\ the bytes of its hexadecimal pairs (any byte, NUL too: check text before use),
 * \.br\ and \.sp\ (with or without a count) one line feed. Dropped, with NB_HL7_NOTE_FORMAT:
 * \H\ \N\ (highlighting) and \.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\ (layout). Dropped with
 * NB_HL7_NOTE_CHARSET: \Cxxyy\, \Mxxyy\ and \Mxxyyzz\. An escape that is malformed (no closing
 * escape character, empty, odd or non-hexadecimal \X\, \P\ without a truncation character) or
 * unknown (locally defined \Z..\, anything else) is kept as written with NB_HL7_NOTE_LITERAL, or
 * refused under NB_HL7_UNESCAPE_STRICT: real feeds send Windows paths and bare backslashes in
 * free text, and losing an appointment for a note's backslash would be worse.
 *
 * The output is never longer than the input: @p cap = v.len + 1 always suffices.
 *
 * @param out receives the text, NUL-terminated after *outlen bytes.
 * @param notes receives the NB_HL7_NOTE_* bits; may be NULL.
 * @returns NB_ERR_OK; NB_ERR_FIELD_TOO_LONG when @p cap is too small (nothing useful is in
 *          out); NB_ERR_HL7_ESCAPE under NB_HL7_UNESCAPE_STRICT with the offset in errstr.
 */
NB_NODISCARD nb_err_t nb_hl7_unescape(const nb_hl7_delims_t *d, nb_hl7_value_t v, char *out,
                                      size_t cap, size_t *outlen, unsigned flags, unsigned *notes,
                                      char *errstr, size_t errstr_size);

/**
 * @brief Appends @p s escaped for a value of a message with delimiters @p d: each delimiter
 *        becomes its escape, CR and LF and other control bytes \Xhh\. Bytes from 0x80 up (UTF-8)
 *        are kept. nb_hl7_unescape() gives back exactly @p s.
 * @remark Sticky, as nb_buf_add(): an allocation failure is in out->err.
 */
void nb_hl7_escape(const nb_hl7_delims_t *d, const char *s, size_t len, nb_buf_t *out);

/* ---- batches ----------------------------------------------------------------------------- */

/**
 * Splits a file or a batch into its messages: FHS/BHS ... BTS/FTS, or several messages one
 * after another without batch headers, or one message. Zero-initialise with
 * nb_hl7_batch_init(); the fields after data/len/pos are what it has seen so far.
 */
typedef struct nb_hl7_batch_s {
    const char *data;
    size_t len;
    size_t pos;      /**< where the next call starts */
    bool in_file;    /**< between FHS and FTS */
    bool in_batch;   /**< between BHS and BTS */
    bool ended;      /**< an FTS was seen */
    size_t batches;  /**< BHS seen in the current file */
    size_t in_this;  /**< messages in the current batch */
    size_t messages; /**< messages returned */
} nb_hl7_batch_t;

/** @brief Starts splitting @p data (not copied: it must outlive the iteration). */
void nb_hl7_batch_init(nb_hl7_batch_t *b, const char *data, size_t len);

/**
 * @brief The next message: from an MSH line up to the next MSH, FHS, BHS, BTS or FTS line or
 *        the end. Segment ends are CR, LF or CRLF, as for nb_hl7_msg_parse().
 * @returns NB_ERR_OK with *msg and *msg_len; NB_ERR_NOT_FOUND when there is no more;
 *          NB_ERR_HL7_BATCH for what does not fit (lines before the first MSH that are not
 *          FHS/BHS, BTS without BHS, a BTS-1 or FTS-1 count that disagrees with what came, a
 *          second FHS, anything after FTS, a batch or file not closed at the end), with the
 *          byte offset in errstr. An error does not end the iteration: the next call goes on
 *          after what was refused, so one bad batch does not lose the messages after it.
 */
NB_NODISCARD nb_err_t nb_hl7_batch_next(nb_hl7_batch_t *b, const char **msg, size_t *msg_len,
                                        char *errstr, size_t errstr_size);

/* ---- MLLP -------------------------------------------------------------------------------- */

#define NB_HL7_MLLP_START 0x0B /**< VT, before a message */
#define NB_HL7_MLLP_END 0x1C   /**< FS, after it, followed by CR */

typedef enum nb_hl7_mllp_status_e {
    NB_HL7_MLLP_FRAME,    /**< a complete frame: msg/msg_len */
    NB_HL7_MLLP_PARTIAL,  /**< a frame has started and not ended: keep the bytes, read more */
    NB_HL7_MLLP_NONE,     /**< no frame starts in the buffer */
    NB_HL7_MLLP_TOO_LARGE /**< a frame is longer than the limit: it is discarded */
} nb_hl7_mllp_status_t;

/** What nb_hl7_mllp_find() found. */
typedef struct nb_hl7_mllp_s {
    const char *msg; /**< for NB_HL7_MLLP_FRAME: the message, between VT and FS */
    size_t msg_len;
    size_t consumed;    /**< drop this many bytes from the front of the buffer */
    size_t garbage;     /**< of them, bytes outside any frame (before VT, or of a frame cut short
                             by a new VT, or of a frame too large) */
    bool garbage_blank; /**< every garbage byte was CR, LF, space or tab */
    bool cut;           /**< a frame was cut short by a new VT (counted as garbage) */
    bool no_cr;         /**< FS was followed by another byte than CR (the frame is still taken) */
} nb_hl7_mllp_t;

/**
 * @brief Finds the first complete MLLP frame (VT message FS CR) in the bytes received so far.
 *
 * Pure: nothing is kept between calls. The caller drops out->consumed bytes from the front of
 * its buffer after each call and calls again while it returns NB_HL7_MLLP_FRAME. A frame whose
 * message exceeds @p max_msg bytes is NB_HL7_MLLP_TOO_LARGE: what has arrived of it is
 * consumed, and the rest will show as garbage up to the next VT. FS as the last byte is
 * PARTIAL (the CR may follow).
 */
nb_hl7_mllp_status_t nb_hl7_mllp_find(const char *buf, size_t len, size_t max_msg,
                                      nb_hl7_mllp_t *out);

/** @brief Appends VT msg FS CR. Sticky, as nb_buf_add(). */
void nb_hl7_mllp_wrap(nb_buf_t *out, const char *msg, size_t len);

/* ---- DTM (date/time) --------------------------------------------------------------------- */

typedef enum nb_hl7_precision_e {
    NB_HL7_YEAR = 1, /**< YYYY */
    NB_HL7_MONTH,    /**< YYYYMM */
    NB_HL7_DAY,      /**< YYYYMMDD */
    NB_HL7_HOUR,     /**< YYYYMMDDHH */
    NB_HL7_MINUTE,   /**< YYYYMMDDHHMM */
    NB_HL7_SECOND,   /**< YYYYMMDDHHMMSS */
    NB_HL7_FRACTION  /**< YYYYMMDDHHMMSS.S to .SSSS */
} nb_hl7_precision_t;

/** A DTM (or the first component of a TS) as written: no time zone conversion. */
typedef struct nb_hl7_dtm_s {
    int year, month, day, hour, minute, second; /**< parts not given are 1 (month, day) or 0 */
    int frac;        /**< the fraction's digits as a number (".25" is 25) */
    int frac_digits; /**< 0 to 4 */
    nb_hl7_precision_t precision;
    bool has_zone;    /**< a +/-ZZZZ offset was given */
    int zone_minutes; /**< east of UTC: +0215 is 135, -0500 is -300 */
} nb_hl7_dtm_t;

/**
 * @brief Reads YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. Spaces around it are ignored
 *        (feeds send "200803061000 "). Every part is checked: month 1-12, the day against its
 *        month and leap years, hour 0-23, minute and second 0-59, offset up to 14 hours.
 * @returns NB_ERR_OK, or NB_ERR_HL7_TIMESTAMP with the position of the fault in errstr (never
 *          the value).
 */
NB_NODISCARD nb_err_t nb_hl7_dtm_parse(const char *s, size_t len, nb_hl7_dtm_t *out, char *errstr,
                                       size_t errstr_size);

/** @brief The fraction of a second in milliseconds (".25" is 250, ".2416" is 241). */
int nb_hl7_dtm_ms(const nb_hl7_dtm_t *t);

/* ---- ACK --------------------------------------------------------------------------------- */

typedef enum nb_hl7_ack_code_e {
    NB_HL7_AA, /**< accepted */
    NB_HL7_AE, /**< error: the message was read but cannot be processed */
    NB_HL7_AR  /**< rejected: the message cannot be taken at all */
} nb_hl7_ack_code_t;

/** What an ACK says, beyond what it copies from the message. */
typedef struct nb_hl7_ack_s {
    nb_hl7_ack_code_t code;
    const char *control_id; /**< MSH-10 of the ACK itself; required */
    const char *timestamp;  /**< MSH-7, a DTM from the caller's clock; required */
    const char *reason;     /**< for AE and AR (required): MSA-3 and ERR; no personal data */
    unsigned error_code;    /**< HL7 table 0357 for ERR (e.g. 207); 0 means 207 */
} nb_hl7_ack_t;

/**
 * @brief Builds the ACK of a parsed message (its MSH at least): MSH with the sending and
 *        receiving application and facility swapped, the message's delimiters, MSH-9
 *        ACK^<trigger>^ACK (ACK^<trigger> before v2.3.1), MSH-11 and MSH-12 copied; MSA with
 *        the code and the message's MSH-10 as sent; for AE and AR the reason in MSA-3 (before
 *        v2.7) and an ERR segment (ERR-1 before v2.5, ERR-3/4/8 from v2.5). Every text the
 *        caller gives is escaped. Segments end with CR; no MLLP frame (nb_hl7_mllp_wrap()).
 * @returns NB_ERR_OK with the ACK appended to @p out; NB_ERR_INVALID_ARG when the message has
 *          no MSH, or the ACK's fields are missing or wrong (an unknown table 0357 code, a
 *          timestamp that is not a DTM); NB_ERR_NOMEM.
 */
NB_NODISCARD nb_err_t nb_hl7_ack_build(const nb_hl7_msg_t *msg, const nb_hl7_ack_t *ack,
                                       nb_buf_t *out, char *errstr, size_t errstr_size);

#endif /* NOTBROUGHT_HL7_H */
