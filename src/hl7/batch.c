/*
 * notbrought - hl7: where messages start and end. A file or batch split into its messages
 * (FHS/BHS ... BTS/FTS, or messages one after another), and MLLP frames found in the bytes a
 * connection has delivered so far.
 */
#include "hl7/internal.h"

#include <string.h>

/* ---- batches ----------------------------------------------------------------------------- */

void nb_hl7_batch_init(nb_hl7_batch_t *b, const char *data, size_t len)
{
    memset(b, 0, sizeof(*b));
    b->data = data ? data : "";
    b->len = data ? len : 0;
}

/* The end of the line at @p i (the first CR or LF, or the end). One pass: searching for CR
 * over the whole rest of an LF-only file at every line would make a large file quadratic. */
static size_t nb__hl7_eol(const nb_hl7_batch_t *b, size_t i)
{
    while (i < b->len && b->data[i] != '\r' && b->data[i] != '\n')
        i++;
    return i;
}

/* The start of the line after the one ending at @p eol. */
static size_t nb__hl7_next_line(const nb_hl7_batch_t *b, size_t eol)
{
    while (eol < b->len && (b->data[eol] == '\r' || b->data[eol] == '\n'))
        eol++;
    return eol;
}

static bool nb__hl7_line_blank(const nb_hl7_batch_t *b, size_t i, size_t eol)
{
    for (; i < eol; i++)
        if (b->data[i] != ' ' && b->data[i] != '\t')
            return false;
    return true;
}

/* Which of the segments that frame messages the line at @p i is: MSH, FHS, BHS, BTS, FTS, or
 * NULL for any other line. */
static const char *nb__hl7_header(const nb_hl7_batch_t *b, size_t i, size_t eol)
{
    static const char *const ids[] = {"MSH", "FHS", "BHS", "BTS", "FTS"};
    if (eol - i < 3 || (eol - i > 3 && !nb__hl7_delim_ok((unsigned char)b->data[i + 3])))
        return NULL;
    for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++)
        if (memcmp(b->data + i, ids[k], 3) == 0)
            return ids[k];
    return NULL;
}

/* The count in field 1 of a BTS or FTS line: -1 when it is empty or not a number. */
static long nb__hl7_trailer_count(const nb_hl7_batch_t *b, size_t i, size_t eol)
{
    if (eol - i < 5)
        return -1;
    char fs = b->data[i + 3];
    long n = 0;
    size_t k = i + 4, digits = 0;
    while (k < eol && b->data[k] == ' ')
        k++;
    for (; k < eol && b->data[k] >= '0' && b->data[k] <= '9' && digits < 9; k++, digits++)
        n = n * 10 + (b->data[k] - '0');
    while (k < eol && b->data[k] == ' ')
        k++;
    if (digits == 0 || (k < eol && b->data[k] != fs))
        return -1;
    return n;
}

/* The end of the message whose MSH line starts at @p i: the start of the next line that frames
 * messages, or the end of the input. */
static size_t nb__hl7_message_end(const nb_hl7_batch_t *b, size_t i)
{
    size_t j = nb__hl7_next_line(b, nb__hl7_eol(b, i));
    while (j < b->len) {
        size_t eol = nb__hl7_eol(b, j);
        if (nb__hl7_header(b, j, eol))
            return j;
        j = nb__hl7_next_line(b, eol);
    }
    return b->len;
}

/* A batch or file header or trailer at @p i; NB_ERR_OK when it fits where it is. */
NB_NODISCARD static nb_err_t nb__hl7_frame_line(nb_hl7_batch_t *b, const char *id, size_t i,
                                                size_t eol, char *errstr, size_t errstr_size)
{
    if (strcmp(id, "FHS") == 0) {
        bool again = b->in_file;
        b->in_file = true;
        b->ended = false;
        b->batches = 0;
        if (again)
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                                "byte %zu: FHS before the FTS of the file before it", i);
    } else if (strcmp(id, "BHS") == 0) {
        bool again = b->in_batch;
        b->in_batch = true;
        b->in_this = 0;
        b->batches++;
        if (again)
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                                "byte %zu: BHS before the BTS of the batch before it", i);
    } else if (strcmp(id, "BTS") == 0) {
        long n = nb__hl7_trailer_count(b, i, eol);
        if (!b->in_batch)
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                                "byte %zu: BTS without a BHS before it", i);
        b->in_batch = false;
        if (n >= 0 && (size_t)n != b->in_this)
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                                "byte %zu: BTS-1 counts %ld messages, the batch held %zu", i, n,
                                b->in_this);
    } else { /* FTS */
        long n = nb__hl7_trailer_count(b, i, eol);
        if (!b->in_file)
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                                "byte %zu: FTS without an FHS before it", i);
        b->in_file = false;
        b->ended = true;
        if (n >= 0 && (size_t)n != b->batches)
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                                "byte %zu: FTS-1 counts %ld batches, the file held %zu", i, n,
                                b->batches);
    }
    return NB_ERR_OK;
}

/* At the end of the input: a batch or file still open is an error, once. */
NB_NODISCARD static nb_err_t nb__hl7_batch_end(nb_hl7_batch_t *b, char *errstr, size_t errstr_size)
{
    if (b->in_batch) {
        b->in_batch = false;
        return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                            "the input ends inside a batch: no BTS after its BHS");
    }
    if (b->in_file) {
        b->in_file = false;
        return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                            "the input ends inside a file: no FTS after its FHS");
    }
    return NB_ERR_NOT_FOUND;
}

nb_err_t nb_hl7_batch_next(nb_hl7_batch_t *b, const char **msg, size_t *msg_len, char *errstr,
                           size_t errstr_size)
{
    *msg = NULL;
    *msg_len = 0;
    for (;;) {
        size_t i = b->pos;
        if (i >= b->len)
            return nb__hl7_batch_end(b, errstr, errstr_size);
        size_t eol = nb__hl7_eol(b, i);
        if (nb__hl7_line_blank(b, i, eol)) {
            b->pos = nb__hl7_next_line(b, eol);
            continue;
        }
        const char *id = nb__hl7_header(b, i, eol);
        if (b->ended && (!id || strcmp(id, "FHS") != 0)) {
            b->ended = false; /* said once; what follows is still read */
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                                "byte %zu: more after the FTS that ended the file", i);
        }
        if (id && strcmp(id, "MSH") == 0) {
            b->pos = nb__hl7_message_end(b, i);
            *msg = b->data + i;
            *msg_len = b->pos - i;
            b->in_this++;
            b->messages++;
            return NB_ERR_OK;
        }
        if (id) {
            b->pos = nb__hl7_next_line(b, eol);
            nb_err_t err = nb__hl7_frame_line(b, id, i, eol, errstr, errstr_size);
            if (err)
                return err;
            continue;
        }
        /* Segments that belong to no message: refused together, up to the next MSH. */
        b->pos = nb__hl7_message_end(b, i);
        return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_BATCH,
                            "bytes %zu to %zu: segments outside any message (before its MSH)", i,
                            b->pos);
    }
}

/* ---- MLLP -------------------------------------------------------------------------------- */

static bool nb__hl7_blank_bytes(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\r' && p[i] != '\n' && p[i] != ' ' && p[i] != '\t')
            return false;
    return true;
}

/* Bytes [from, to) of the buffer are outside any frame. */
static void nb__hl7_garbage(nb_hl7_mllp_t *out, const char *buf, size_t from, size_t to)
{
    if (to > from && !nb__hl7_blank_bytes(buf + from, to - from))
        out->garbage_blank = false;
    out->garbage += to - from;
}

nb_hl7_mllp_status_t nb_hl7_mllp_find(const char *buf, size_t len, size_t max_msg,
                                      nb_hl7_mllp_t *out)
{
    memset(out, 0, sizeof(*out));
    out->garbage_blank = true;
    size_t i = 0;
    for (;;) {
        const char *vt = i < len ? memchr(buf + i, NB_HL7_MLLP_START, len - i) : NULL;
        if (!vt) {
            nb__hl7_garbage(out, buf, i, len);
            out->consumed = len;
            return NB_HL7_MLLP_NONE;
        }
        size_t start = (size_t)(vt - buf);
        nb__hl7_garbage(out, buf, i, start);
        size_t j = start + 1;
        while (j < len && buf[j] != NB_HL7_MLLP_END && buf[j] != NB_HL7_MLLP_START &&
               j - (start + 1) <= max_msg)
            j++;
        if (j - (start + 1) > max_msg) {
            nb__hl7_garbage(out, buf, start, j);
            out->garbage_blank = false;
            out->consumed = j;
            return NB_HL7_MLLP_TOO_LARGE;
        }
        if (j == len || (buf[j] == NB_HL7_MLLP_END && j + 1 == len)) {
            out->consumed = start; /* the garbage before the frame */
            return NB_HL7_MLLP_PARTIAL;
        }
        if (buf[j] == NB_HL7_MLLP_START) { /* a new frame before this one ended */
            nb__hl7_garbage(out, buf, start, j);
            out->garbage_blank = false;
            out->cut = true;
            i = j;
            continue;
        }
        out->msg = buf + start + 1;
        out->msg_len = j - (start + 1);
        out->no_cr = buf[j + 1] != '\r';
        out->consumed = out->no_cr ? j + 1 : j + 2;
        return NB_HL7_MLLP_FRAME;
    }
}

void nb_hl7_mllp_wrap(nb_buf_t *out, const char *msg, size_t len)
{
    static const char start[1] = {NB_HL7_MLLP_START};
    static const char end[2] = {NB_HL7_MLLP_END, '\r'};
    nb_buf_add(out, start, 1);
    nb_buf_add(out, msg, len);
    nb_buf_add(out, end, 2);
}
