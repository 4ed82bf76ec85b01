/*
 * notbrought - hl7: one message read into an index of segments and fields, and values found
 * by position.
 *
 * One pass over the bytes: each segment's id is checked and the start of each of its fields
 * recorded; nothing is copied. Repetitions, components and sub-components are not indexed:
 * a field is short, and most are never asked for, so they are split when asked.
 */
#include "hl7/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char nb__hl7_empty[] = "";

nb_err_t nb__hl7_fail(char *errstr, size_t errstr_size, nb_err_t err, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

bool nb__hl7_delim_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7F && !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') &&
           !(c >= 'a' && c <= 'z');
}

static bool nb__hl7_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool nb__hl7_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool nb__hl7_seg_id_ok(const char *p, size_t len)
{
    return len == 3 && nb__hl7_upper(p[0]) && (nb__hl7_upper(p[1]) || nb__hl7_digit(p[1])) &&
           (nb__hl7_upper(p[2]) || nb__hl7_digit(p[2]));
}

/* ---- values ------------------------------------------------------------------------------ */

nb_hl7_kind_t nb_hl7_value_kind(nb_hl7_value_t v)
{
    if (v.len == 0)
        return NB_HL7_ABSENT;
    if (v.len == 2 && v.p[0] == '"' && v.p[1] == '"')
        return NB_HL7_NULL;
    return NB_HL7_VALUED;
}

void nb_hl7_delims_default(nb_hl7_delims_t *d)
{
    d->field = '|';
    d->comp = '^';
    d->rep = '~';
    d->esc = '\\';
    d->sub = '&';
    d->trunc = '\0';
}

static nb_hl7_value_t nb__hl7_absent(void)
{
    nb_hl7_value_t v = {nb__hl7_empty, 0};
    return v;
}

/* Fields and their parts are short (a few bytes to a few dozen): a plain loop finds the next
 * delimiter sooner than memchr(), whose set-up costs more than the search. */
static const char *nb__hl7_find(const char *p, const char *end, char delim)
{
    while (p < end && *p != delim)
        p++;
    return p;
}

nb_hl7_value_t nb_hl7_value_piece(nb_hl7_value_t v, char delim, size_t n)
{
    if (n == 0 || v.len == 0)
        return nb__hl7_absent();
    const char *p = v.p, *end = v.p + v.len;
    for (size_t i = 1; i < n; i++) {
        p = nb__hl7_find(p, end, delim);
        if (p == end)
            return nb__hl7_absent();
        p++;
    }
    nb_hl7_value_t out = {p, (size_t)(nb__hl7_find(p, end, delim) - p)};
    if (out.len == 0)
        out.p = nb__hl7_empty;
    return out;
}

size_t nb_hl7_value_count(nb_hl7_value_t v, char delim)
{
    if (v.len == 0)
        return 0;
    size_t n = 1;
    for (size_t i = 0; i < v.len; i++)
        n += v.p[i] == delim;
    return n;
}

/* ---- the handle -------------------------------------------------------------------------- */

void nb_hl7_limits_default(nb_hl7_limits_t *lim)
{
    lim->max_bytes = (size_t)1 << 20;
    lim->max_segments = 2000;
    lim->max_fields = 1000;
}

nb_hl7_msg_t *nb_hl7_msg_new(const nb_hl7_limits_t *lim)
{
    nb_hl7_limits_t l;
    if (lim)
        l = *lim;
    else
        nb_hl7_limits_default(&l);
    /* Offsets and counts are 32-bit: the caps keep every one of them in range. */
    if (l.max_bytes == 0 || l.max_bytes > NB__HL7_MAX_BYTES_CAP || l.max_segments == 0 ||
        l.max_segments > UINT32_MAX || l.max_fields == 0 || l.max_fields > UINT32_MAX)
        return NULL;
    nb_hl7_msg_t *msg = calloc(1, sizeof(*msg));
    if (!msg)
        return NULL;
    msg->lim = l;
    msg->data = nb__hl7_empty;
    nb_hl7_delims_default(&msg->delims);
    return msg;
}

void nb_hl7_msg_destroy(nb_hl7_msg_t *msg)
{
    if (!msg)
        return;
    free(msg->segs);
    free(msg->fields);
    free(msg);
}

NB_NODISCARD static nb_err_t nb__hl7_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return NB_ERR_OK;
    size_t n = *cap ? *cap : 32;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return NB_ERR_NOMEM;
    *arr = p;
    *cap = n;
    return NB_ERR_OK;
}

/* ---- parsing ----------------------------------------------------------------------------- */

typedef struct nb__hl7_parse_s {
    nb_hl7_msg_t *msg;
    size_t pos; /* next byte to read */
    char *errstr;
    size_t errstr_size;
} nb__hl7_parse_t;

/* The encoding characters of MSH-2: four or five bytes, each a legal delimiter, all different
 * from each other and from the field separator. */
NB_NODISCARD static nb_err_t nb__hl7_read_delims(nb__hl7_parse_t *ps, size_t at)
{
    nb_hl7_msg_t *msg = ps->msg;
    const unsigned char *d = (const unsigned char *)msg->data;
    unsigned char fs = d[at + 3];
    if (!nb__hl7_delim_ok(fs))
        return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_HL7_SYNTAX,
                            "MSH-1 (byte %zu): the field separator must be a printable ASCII "
                            "character other than a letter, a digit or a space",
                            at + 3);
    size_t n = 0;
    while (at + 4 + n < msg->len && d[at + 4 + n] != fs && d[at + 4 + n] != '\r' &&
           d[at + 4 + n] != '\n' && n < 6)
        n++;
    if (n < 4 || n > 5)
        return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_HL7_SYNTAX,
                            "MSH-2 (byte %zu): %s encoding characters where HL7 has 4 "
                            "(component, repetition, escape, sub-component) or 5 (and "
                            "truncation, v2.7)",
                            at + 4, n < 4 ? "fewer" : "more");
    unsigned char seen[6] = {fs};
    for (size_t i = 0; i < n; i++) {
        unsigned char c = d[at + 4 + i];
        bool again = false;
        for (size_t k = 0; k <= i; k++) /* a few bytes: a loop, not memchr()'s set-up */
            again |= seen[k] == c;
        if (!nb__hl7_delim_ok(c) || again)
            return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_HL7_SYNTAX,
                                "MSH-2 (byte %zu): encoding character %zu is %s", at + 4 + i, i + 1,
                                nb__hl7_delim_ok(c) ? "the same as another delimiter"
                                                    : "a letter, a digit, a space or not "
                                                      "printable ASCII");
        seen[i + 1] = c;
    }
    msg->delims.field = (char)fs;
    msg->delims.comp = (char)d[at + 4];
    msg->delims.rep = (char)d[at + 5];
    msg->delims.esc = (char)d[at + 6];
    msg->delims.sub = (char)d[at + 7];
    msg->delims.trunc = n == 5 ? (char)d[at + 8] : '\0';
    return NB_ERR_OK;
}

/* Where MSH must start: after blank lines and a UTF-8 byte order mark. */
NB_NODISCARD static nb_err_t nb__hl7_find_msh(nb__hl7_parse_t *ps)
{
    const nb_hl7_msg_t *msg = ps->msg;
    const char *d = msg->data;
    size_t i = 0;
    if (msg->len >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (;;) { /* blank lines: nothing but spaces and tabs up to CR or LF */
        size_t j = i;
        while (j < msg->len && (d[j] == ' ' || d[j] == '\t'))
            j++;
        if (j < msg->len && d[j] != '\r' && d[j] != '\n')
            break;
        while (j < msg->len && (d[j] == '\r' || d[j] == '\n'))
            j++;
        i = j;
        if (i == msg->len)
            break;
    }
    const char *why = NULL;
    if (i == msg->len)
        why = "the message is empty";
    else if (d[i] == NB_HL7_MLLP_START)
        why = "the message starts with an MLLP start block (VT): strip the frame first";
    else if (msg->len - i >= 3 && (memcmp(d + i, "FHS", 3) == 0 || memcmp(d + i, "BHS", 3) == 0))
        why = "the input is a batch (it starts with FHS or BHS): split it into messages first";
    else if (msg->len - i < 3 || memcmp(d + i, "MSH", 3) != 0)
        why = "the message does not start with an MSH segment";
    else if (msg->len - i < 8)
        why = "the MSH segment is too short to hold its delimiters";
    if (why)
        return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_HL7_SYNTAX, "byte %zu: %s", i, why);
    ps->pos = i;
    return NB_ERR_OK;
}

/* Checks the id of the segment at @p at and adds the segment to the index. */
NB_NODISCARD static nb_err_t nb__hl7_add_segment(nb__hl7_parse_t *ps, size_t at)
{
    nb_hl7_msg_t *msg = ps->msg;
    const char *s = msg->data + at;
    size_t idlen = 0;
    while (at + idlen < msg->len && idlen < 4 && s[idlen] != msg->delims.field &&
           s[idlen] != '\r' && s[idlen] != '\n')
        idlen++;
    size_t no = msg->nsegs + 1;
    if (!nb__hl7_seg_id_ok(s, idlen))
        return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_HL7_SYNTAX,
                            "segment %zu (byte %zu): the segment id is not a capital letter "
                            "followed by two capital letters or digits",
                            no, at);
    if (msg->nsegs > 0 &&
        (memcmp(s, "MSH", 3) == 0 || memcmp(s, "FHS", 3) == 0 || memcmp(s, "BHS", 3) == 0 ||
         memcmp(s, "BTS", 3) == 0 || memcmp(s, "FTS", 3) == 0))
        return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_HL7_SYNTAX,
                            "segment %zu (byte %zu) is %.3s: the input holds more than one "
                            "message or a batch; split it into messages first",
                            no, at, s);
    if (msg->nsegs >= msg->lim.max_segments)
        return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_LIMIT,
                            "segment %zu (byte %zu): the message has more than %zu segments, "
                            "the limit",
                            no, at, msg->lim.max_segments);
    if (nb__hl7_grow((void **)&msg->segs, &msg->segs_cap, msg->nsegs + 1, sizeof(*msg->segs)))
        return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_NOMEM, "out of memory");
    nb__hl7_seg_t *seg = &msg->segs[msg->nsegs];
    seg->off = (uint32_t)at;
    seg->len = 0;
    seg->first = (uint32_t)msg->nfields;
    seg->pieces = 0;
    memcpy(seg->id, s, 3);
    seg->id[3] = '\0';
    return NB_ERR_OK;
}

NB_NODISCARD static nb_err_t nb__hl7_too_many_fields(nb__hl7_parse_t *ps)
{
    const nb_hl7_msg_t *msg = ps->msg;
    const nb__hl7_seg_t *seg = &msg->segs[msg->nsegs];
    return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_LIMIT,
                        "segment %zu (%s, byte %" PRIu32 ") has more than %zu fields, the limit",
                        msg->nsegs + 1, seg->id, seg->off, msg->lim.max_fields);
}

/* ---- the segment scan: eight bytes at a time ------------------------------------------ */

#define NB__HL7_ONES UINT64_C(0x0101010101010101)
#define NB__HL7_HIGH UINT64_C(0x8080808080808080)
#define NB__HL7_LOW7 UINT64_C(0x7F7F7F7F7F7F7F7F)

/* Eight bytes as one word, byte k in bits 8k to 8k + 7 whatever the machine's byte order. */
static uint64_t nb__hl7_load8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The high bit of each byte of the result is set where that byte of @p w equals the byte
 * repeated in @p rep. Exact for every byte: adding 0x7F to the low seven bits never carries
 * into the next byte. */
static uint64_t nb__hl7_bytes_eq(uint64_t w, uint64_t rep)
{
    uint64_t x = w ^ rep; /* a zero byte where equal */
    return ~(((x & NB__HL7_LOW7) + NB__HL7_LOW7) | x) & NB__HL7_HIGH;
}

/* As nb__hl7_bytes_eq(), set where the byte is a control byte, 0x1C or below: 0x63 added to
 * its low seven bits reaches 0x80 from 0x1D up, and a byte of 0x80 or more is not one. */
static uint64_t nb__hl7_bytes_ctl(uint64_t w)
{
    return ~(((w & NB__HL7_LOW7) + NB__HL7_ONES * (0x80 - 0x1D)) | w) & NB__HL7_HIGH;
}

/* The byte of the lowest set high bit of @p mask (not 0), 0 to 7. */
static size_t nb__hl7_first_byte(uint64_t mask)
{
    return (size_t)__builtin_ctzll(mask) >> 3;
}

/* Reads the segment just added, from its id to the first CR or LF or the end of the input, in
 * one pass: the start of each field is recorded, and bytes that have no place in a message are
 * refused. ps->pos is left at the terminator.
 *
 * The bytes are tested eight at a time: the field separators of a word are found from one
 * mask, without a branch per byte on where they are, which no branch predictor can guess. A
 * control byte (0x1C or below: CR, LF, the refused NUL, VT and FS, or text such as a tab;
 * never a separator, which is printable) ends a word's fields early and is looked at alone. */
NB_NODISCARD static nb_err_t nb__hl7_scan_segment(nb__hl7_parse_t *ps)
{
    nb_hl7_msg_t *msg = ps->msg;
    nb__hl7_seg_t *seg = &msg->segs[msg->nsegs];
    const unsigned char *d = (const unsigned char *)msg->data;
    const uint64_t fs_rep = NB__HL7_ONES * (unsigned char)msg->delims.field;
    /* MSH-1 has no piece of its own: MSH may have one piece fewer. */
    size_t limit = msg->lim.max_fields - (msg->nsegs == 0 ? 1 : 0);
    size_t i = seg->off + 3, n = msg->len, nf = msg->nfields;
    while (i < n) {
        uint64_t w;
        if (n - i >= 8) {
            w = nb__hl7_load8(d + i);
        } else { /* the last bytes, after them 'A's, which test as neither */
            unsigned char tail[8];
            memset(tail, 'A', sizeof(tail));
            memcpy(tail, d + i, n - i);
            w = nb__hl7_load8(tail);
        }
        uint64_t seps = nb__hl7_bytes_eq(w, fs_rep), ctl = nb__hl7_bytes_ctl(w);
        if (ctl) /* only the separators before the first control byte count */
            seps &= (ctl & (0 - ctl)) - 1;
        if (nf + 8 > msg->fields_cap &&
            nb__hl7_grow((void **)&msg->fields, &msg->fields_cap, nf + 8, sizeof(*msg->fields)))
            return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_NOMEM, "out of memory");
        for (; seps; seps &= seps - 1)
            msg->fields[nf++] = (uint32_t)(i + nb__hl7_first_byte(seps) + 1);
        if (nf - seg->first > limit)
            return nb__hl7_too_many_fields(ps);
        if (!ctl) {
            i = n - i >= 8 ? i + 8 : n;
            continue;
        }
        i += nb__hl7_first_byte(ctl);
        unsigned char c = d[i];
        if (c == '\r' || c == '\n')
            break;
        if (c == 0 || c == NB_HL7_MLLP_START || c == NB_HL7_MLLP_END)
            return nb__hl7_fail(ps->errstr, ps->errstr_size, NB_ERR_HL7_SYNTAX,
                                "byte %zu (segment %zu) is %s, which has no place in a message", i,
                                msg->nsegs + 1,
                                c == 0 ? "a NUL byte" : "an MLLP framing byte (VT or FS)");
        i++; /* another control byte, a tab: text */
    }
    msg->nfields = nf;
    seg->pieces = (uint32_t)(nf - seg->first);
    seg->len = (uint32_t)(i - seg->off);
    msg->nsegs++;
    ps->pos = i;
    return NB_ERR_OK;
}

/* At the start of a line: true (and ps->pos past it) for a blank line, nothing but spaces and
 * tabs up to CR, LF or the end. */
static bool nb__hl7_skip_blank(nb__hl7_parse_t *ps)
{
    const char *d = ps->msg->data;
    size_t i = ps->pos, n = ps->msg->len;
    while (i < n && (d[i] == ' ' || d[i] == '\t'))
        i++;
    if (i < n && d[i] != '\r' && d[i] != '\n')
        return false;
    ps->pos = i;
    return true;
}

nb_err_t nb_hl7_msg_parse(nb_hl7_msg_t *msg, const char *data, size_t len, char *errstr,
                          size_t errstr_size)
{
    nb__hl7_parse_t ps = {msg, 0, errstr, errstr_size};
    msg->data = data ? data : nb__hl7_empty;
    msg->len = data ? len : 0;
    msg->nsegs = 0;
    msg->nfields = 0;
    nb_hl7_delims_default(&msg->delims);
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (msg->len > msg->lim.max_bytes) {
        msg->len = 0;
        return nb__hl7_fail(errstr, errstr_size, NB_ERR_LIMIT,
                            "the message is %zu bytes, more than the limit of %zu", len,
                            msg->lim.max_bytes);
    }
    nb_err_t err = nb__hl7_find_msh(&ps);
    if (!err)
        err = nb__hl7_read_delims(&ps, ps.pos);
    while (!err && ps.pos < msg->len) {
        if (!nb__hl7_skip_blank(&ps)) {
            err = nb__hl7_add_segment(&ps, ps.pos);
            if (!err)
                err = nb__hl7_scan_segment(&ps);
        }
        while (ps.pos < msg->len && (msg->data[ps.pos] == '\r' || msg->data[ps.pos] == '\n'))
            ps.pos++;
    }
    return err;
}

/* ---- access ------------------------------------------------------------------------------ */

const nb_hl7_delims_t *nb_hl7_msg_delims(const nb_hl7_msg_t *msg)
{
    return &msg->delims;
}

size_t nb_hl7_segment_count(const nb_hl7_msg_t *msg)
{
    return msg->nsegs;
}

const char *nb_hl7_segment_id(const nb_hl7_msg_t *msg, size_t seg)
{
    return seg < msg->nsegs ? msg->segs[seg].id : nb__hl7_empty;
}

nb_hl7_value_t nb_hl7_segment(const nb_hl7_msg_t *msg, size_t seg)
{
    if (seg >= msg->nsegs)
        return nb__hl7_absent();
    nb_hl7_value_t v = {msg->data + msg->segs[seg].off, msg->segs[seg].len};
    return v;
}

size_t nb_hl7_segment_offset(const nb_hl7_msg_t *msg, size_t seg)
{
    return seg < msg->nsegs ? msg->segs[seg].off : 0;
}

bool nb_hl7_segment_find(const nb_hl7_msg_t *msg, const char *id, size_t from, size_t *seg)
{
    if (!id || !id[0] || !id[1] || !id[2] || id[3]) /* three bytes: strlen() costs a call */
        return false;
    for (size_t i = from; i < msg->nsegs; i++)
        if (memcmp(msg->segs[i].id, id, 3) == 0) {
            *seg = i;
            return true;
        }
    return false;
}

/* MSH-1 and MSH-2 are the delimiters: field numbers are shifted by one in MSH, whose piece 1
 * is MSH-2. Only segment 0 can be MSH (the parser refuses a second). */
static bool nb__hl7_is_msh(const nb_hl7_msg_t *msg, size_t seg)
{
    return seg == 0 && msg->nsegs > 0;
}

size_t nb_hl7_field_count(const nb_hl7_msg_t *msg, size_t seg)
{
    if (seg >= msg->nsegs)
        return 0;
    return msg->segs[seg].pieces + (nb__hl7_is_msh(msg, seg) ? 1 : 0);
}

/* The whole of field @p field; *raw is set for MSH-1 and MSH-2, which are not split. */
static nb_hl7_value_t nb__hl7_field(const nb_hl7_msg_t *msg, size_t seg, size_t field, bool *raw)
{
    *raw = false;
    if (seg >= msg->nsegs || field == 0)
        return nb__hl7_absent();
    const nb__hl7_seg_t *s = &msg->segs[seg];
    size_t k = field;
    if (nb__hl7_is_msh(msg, seg)) {
        *raw = field <= 2;
        if (field == 1) {
            nb_hl7_value_t v = {msg->data + s->off + 3, 1};
            return v;
        }
        k = field - 1;
    }
    if (k > s->pieces)
        return nb__hl7_absent();
    size_t start = msg->fields[s->first + k - 1];
    size_t end = k < s->pieces ? msg->fields[s->first + k] - 1 : (size_t)s->off + s->len;
    if (end == start)
        return nb__hl7_absent();
    nb_hl7_value_t v = {msg->data + start, end - start};
    return v;
}

nb_hl7_value_t nb_hl7_get(const nb_hl7_msg_t *msg, size_t seg, size_t field, size_t rep,
                          size_t comp, size_t sub)
{
    bool raw;
    nb_hl7_value_t v = nb__hl7_field(msg, seg, field, &raw);
    if (raw)
        return rep <= 1 && comp <= 1 && sub <= 1 ? v : nb__hl7_absent();
    const nb_hl7_delims_t *d = &msg->delims;
    if (rep == 0 && (comp > 0 || sub > 0))
        rep = 1;
    if (rep > 0)
        v = nb_hl7_value_piece(v, d->rep, rep);
    if (comp == 0 && sub > 0)
        comp = 1;
    if (comp > 0)
        v = nb_hl7_value_piece(v, d->comp, comp);
    if (sub > 0)
        v = nb_hl7_value_piece(v, d->sub, sub);
    return v;
}

size_t nb_hl7_rep_count(const nb_hl7_msg_t *msg, size_t seg, size_t field)
{
    bool raw;
    nb_hl7_value_t v = nb__hl7_field(msg, seg, field, &raw);
    return raw ? 1 : nb_hl7_value_count(v, msg->delims.rep);
}

size_t nb_hl7_comp_count(const nb_hl7_msg_t *msg, size_t seg, size_t field, size_t rep)
{
    nb_hl7_value_t v = nb_hl7_get(msg, seg, field, rep == 0 ? 1 : rep, 0, 0);
    if (nb__hl7_is_msh(msg, seg) && (field == 1 || field == 2))
        return v.len ? 1 : 0;
    return nb_hl7_value_count(v, msg->delims.comp);
}

size_t nb_hl7_sub_count(const nb_hl7_msg_t *msg, size_t seg, size_t field, size_t rep, size_t comp)
{
    nb_hl7_value_t v = nb_hl7_get(msg, seg, field, rep == 0 ? 1 : rep, comp == 0 ? 1 : comp, 0);
    if (nb__hl7_is_msh(msg, seg) && (field == 1 || field == 2))
        return v.len ? 1 : 0;
    return nb_hl7_value_count(v, msg->delims.sub);
}
