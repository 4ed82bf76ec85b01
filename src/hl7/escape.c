/*
 * notbrought - hl7: escape sequences (HL7 v2 chapter 2, "Use of escape sequences in text
 * fields"), undone on demand into the caller's buffer, and done for the text notbrought writes.
 *
 * A sequence is the escape character, a code, and the escape character again: \F\. The code
 * never holds a delimiter (delimiters in text are themselves escaped), so a value is split at
 * its delimiters first and unescaped after, never the other way round.
 */
#include "hl7/internal.h"

#include <string.h>

/* What one sequence (its code: the bytes between the two escape characters) becomes. */
typedef enum nb__hl7_esc_kind_e {
    NB__ESC_BYTES,   /* out[0..n) */
    NB__ESC_DROP,    /* nothing, with a note */
    NB__ESC_LITERAL, /* unknown or malformed: kept as written */
    NB__ESC_FULL,    /* no room left in the caller's buffer */
} nb__hl7_esc_kind_t;

typedef struct nb__hl7_esc_s {
    nb__hl7_esc_kind_t kind;
    unsigned note;   /* NB_HL7_NOTE_* for DROP and LITERAL */
    const char *why; /* for LITERAL: what is wrong, for the strict error */
    size_t n;        /* bytes in out for BYTES */
} nb__hl7_esc_t;

static int nb__hl7_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool nb__hl7_all_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (nb__hl7_hex(p[i]) < 0)
            return false;
    return true;
}

static nb__hl7_esc_t nb__hl7_literal(const char *why)
{
    nb__hl7_esc_t e = {NB__ESC_LITERAL, NB_HL7_NOTE_LITERAL, why, 0};
    return e;
}

static nb__hl7_esc_t nb__hl7_drop(unsigned note)
{
    nb__hl7_esc_t e = {NB__ESC_DROP, note, NULL, 0};
    return e;
}

/* The formatting commands of FT values: \.br\, \.sp n\, \.in n\ ... (code starts with '.'). */
static nb__hl7_esc_t nb__hl7_format(const char *c, size_t n, char *out, size_t room)
{
    nb__hl7_esc_t full = {NB__ESC_FULL, 0, NULL, 0};
    static const char *const layout[] = {"in", "ti", "sk", "ce", "fi", "nf"};
    if (n == 3 && memcmp(c, ".br", 3) == 0) {
        if (room < 1)
            return full;
        out[0] = '\n';
        nb__hl7_esc_t e = {NB__ESC_BYTES, 0, NULL, 1};
        return e;
    }
    if (n < 3)
        return nb__hl7_literal("a formatting command that HL7 does not define");
    /* The commands that take a number: ".sp", ".sp 2", ".in +4", ".ti -2", ".sk 3". */
    size_t k = 3;
    if (k < n && c[k] == ' ')
        k++;
    if (k < n && (c[k] == '+' || c[k] == '-'))
        k++;
    size_t digits = k;
    while (k < n && c[k] >= '0' && c[k] <= '9')
        k++;
    bool arg_ok = k == n && (n == 3 || k > digits);
    if (memcmp(c + 1, "sp", 2) == 0 && arg_ok) {
        /* One line feed, whatever the count: a count of blank lines is layout. */
        if (room < 1)
            return full;
        out[0] = '\n';
        nb__hl7_esc_t e = {NB__ESC_BYTES, 0, NULL, 1};
        return e;
    }
    for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
        if (memcmp(c + 1, layout[i], 2) == 0 && arg_ok)
            return nb__hl7_drop(NB_HL7_NOTE_FORMAT);
    return nb__hl7_literal("a formatting command that HL7 does not define");
}

/* Decodes the code @p c (@p n bytes) of one sequence into out, which has @p room bytes. */
static nb__hl7_esc_t nb__hl7_decode(const nb_hl7_delims_t *d, const char *c, size_t n, char *out,
                                    size_t room)
{
    nb__hl7_esc_t one = {NB__ESC_BYTES, 0, NULL, 1};
    nb__hl7_esc_t full = {NB__ESC_FULL, 0, NULL, 0};
    if (n == 0)
        return nb__hl7_literal("an empty escape sequence");
    if (n == 1 && room < 1 && c[0] != '\0' && strchr("FSTREP", c[0]))
        return full;
    if (n == 1) {
        switch (c[0]) {
        case 'F':
            out[0] = d->field;
            return one;
        case 'S':
            out[0] = d->comp;
            return one;
        case 'T':
            out[0] = d->sub;
            return one;
        case 'R':
            out[0] = d->rep;
            return one;
        case 'E':
            out[0] = d->esc;
            return one;
        case 'P':
            if (!d->trunc)
                return nb__hl7_literal("\\P\\ in a message without a truncation character");
            out[0] = d->trunc;
            return one;
        case 'H':
        case 'N':
            return nb__hl7_drop(NB_HL7_NOTE_FORMAT);
        default:
            break;
        }
    }
    switch (c[0]) {
    case 'X': {
        if (n < 3 || (n - 1) % 2 != 0 || !nb__hl7_all_hex(c + 1, n - 1))
            return nb__hl7_literal("a hexadecimal escape without pairs of hexadecimal digits");
        if ((n - 1) / 2 > room)
            return full;
        size_t k = 0;
        for (size_t i = 1; i + 1 < n; i += 2)
            out[k++] = (char)(nb__hl7_hex(c[i]) << 4 | nb__hl7_hex(c[i + 1]));
        nb__hl7_esc_t e = {NB__ESC_BYTES, 0, NULL, k};
        return e;
    }
    case 'C':
    case 'M':
        /* \Cxxyy\ (single-byte) and \Mxxyy\ or \Mxxyyzz\ (multi-byte) switch character
         * sets, which a text that is UTF-8 downstream cannot follow: the switch is dropped, and
         * said. */
        if ((n == 5 || (c[0] == 'M' && n == 7)) && nb__hl7_all_hex(c + 1, n - 1))
            return nb__hl7_drop(NB_HL7_NOTE_CHARSET);
        return nb__hl7_literal("a character set escape of the wrong length");
    case '.':
        return nb__hl7_format(c, n, out, room);
    case 'Z':
        return nb__hl7_literal("a locally defined escape (\\Z..\\), unknown here");
    default:
        return nb__hl7_literal("an escape sequence that HL7 does not define");
    }
}

/* One step of nb_hl7_unescape() at v.p[i]: a plain byte, or the sequence starting there. */
static nb__hl7_esc_t nb__hl7_step(const nb_hl7_delims_t *d, nb_hl7_value_t v, size_t i, char *out,
                                  size_t room, size_t *next)
{
    nb__hl7_esc_t e = {NB__ESC_BYTES, 0, NULL, 1};
    const char *close = NULL;
    if (v.p[i] == d->esc)
        close = memchr(v.p + i + 1, d->esc, v.len - i - 1);
    if (close) {
        size_t n = (size_t)(close - (v.p + i + 1));
        e = nb__hl7_decode(d, v.p + i + 1, n, out, room);
        *next = (size_t)(close - v.p) + 1;
    } else if (v.p[i] == d->esc) {
        e = nb__hl7_literal("an escape character without a closing one");
    }
    if (e.kind == NB__ESC_LITERAL || !close) {
        /* The byte itself. A sequence kept as written goes on as plain text after its first
         * escape character, so that its closing one may still open the next sequence. */
        if (room < 1) {
            e.kind = NB__ESC_FULL;
            return e;
        }
        out[0] = v.p[i];
        e.n = 1;
        *next = i + 1;
    }
    return e;
}

nb_err_t nb_hl7_unescape(const nb_hl7_delims_t *d, nb_hl7_value_t v, char *out, size_t cap,
                         size_t *outlen, unsigned flags, unsigned *notes, char *errstr,
                         size_t errstr_size)
{
    unsigned seen = 0;
    size_t k = 0;
    *outlen = 0;
    if (notes)
        *notes = 0;
    if (cap == 0)
        return nb__hl7_fail(errstr, errstr_size, NB_ERR_FIELD_TOO_LONG,
                            "no room for the unescaped value");
    out[0] = '\0';
    size_t plain = 0; /* most values hold no escape at all: copied in one go */
    while (plain < v.len && v.p[plain] != d->esc)
        plain++;
    if (plain == v.len) {
        if (v.len >= cap)
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_FIELD_TOO_LONG,
                                "the unescaped value does not fit in %zu bytes", cap);
        memcpy(out, v.p, v.len);
        out[v.len] = '\0';
        *outlen = v.len;
        return NB_ERR_OK;
    }
    for (size_t i = 0; i < v.len;) {
        size_t next = i;
        nb__hl7_esc_t e = nb__hl7_step(d, v, i, out + k, cap - 1 - k, &next);
        if (e.kind == NB__ESC_FULL) {
            out[0] = '\0';
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_FIELD_TOO_LONG,
                                "the unescaped value does not fit in %zu bytes", cap);
        }
        if (e.kind == NB__ESC_LITERAL && (flags & NB_HL7_UNESCAPE_STRICT)) {
            out[0] = '\0';
            return nb__hl7_fail(errstr, errstr_size, NB_ERR_HL7_ESCAPE, "byte %zu of the value: %s",
                                i, e.why);
        }
        seen |= e.note;
        k += e.kind == NB__ESC_DROP ? 0 : e.n;
        i = next;
    }
    out[k] = '\0';
    *outlen = k;
    if (notes)
        *notes = seen;
    return NB_ERR_OK;
}

void nb_hl7_escape(const nb_hl7_delims_t *d, const char *s, size_t len, nb_buf_t *out)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char code = 0;
        if (c == (unsigned char)d->field)
            code = 'F';
        else if (c == (unsigned char)d->comp)
            code = 'S';
        else if (c == (unsigned char)d->sub)
            code = 'T';
        else if (c == (unsigned char)d->rep)
            code = 'R';
        else if (c == (unsigned char)d->esc)
            code = 'E';
        else if (d->trunc && c == (unsigned char)d->trunc)
            code = 'P';
        if (code) {
            char e[3] = {d->esc, code, d->esc};
            nb_buf_add(out, e, 3);
        } else if (c < 0x20 || c == 0x7F) {
            char e[5] = {d->esc, 'X', hexd[c >> 4], hexd[c & 15], d->esc};
            nb_buf_add(out, e, 5);
        } else {
            nb_buf_add(out, s + i, 1);
        }
    }
}
