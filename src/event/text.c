/*
 * notbrought - event: untrusted text. What a field may hold, checked where records come in, and
 * how text is escaped where people read it.
 *
 * UTF-8 is decoded as RFC 3629 (Table 3-7 of the Unicode standard) defines it: the lead byte
 * decides which second bytes are allowed, so overlong forms, surrogates and code points above
 * U+10FFFF are refused without decoding them first.
 */
#include "notbrought/event.h"

#include <stdio.h>
#include <string.h>

/* The code point at s (len > 0 bytes). @returns its length in bytes, or 0 when s does not start
 * with a well-formed UTF-8 sequence. */
static size_t nb__utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char b = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
        *cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        *cp = b & 0x0F;
        if (b == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (b == 0xED)
            hi = 0x9F; /* surrogates U+D800-U+DFFF */
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        *cp = b & 0x07;
        if (b == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (b == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 (overlong) or F5-FF */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = s[i];
        if (c < (i == 1 ? lo : 0x80) || c > (i == 1 ? hi : 0xBF))
            return 0;
        *cp = (*cp << 6) | (c & 0x3F);
    }
    return n;
}

static bool nb__is_bidi_control(uint32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool nb__is_invisible(uint32_t cp)
{
    return cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2060 && cp <= 0x2064) ||
           cp == 0xFEFF;
}

nb_text_fault_t nb_text_check(const char *s, size_t len, nb_text_class_t cls)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        if (p[i] >= 0x20 && p[i] < 0x7F) { /* the common case: printable ASCII */
            i++;
            continue;
        }
        size_t n = nb__utf8_next(p + i, len - i, &cp);
        if (n == 0)
            return NB_TEXT_NOT_UTF8;
        i += n;
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            if (cls == NB_TEXT_FREE && (cp == '\t' || cp == '\n' || cp == '\r'))
                continue;
            return NB_TEXT_CONTROL;
        }
        if (nb__is_bidi_control(cp))
            return NB_TEXT_BIDI;
        if ((cp == 0x2028 || cp == 0x2029) && cls != NB_TEXT_FREE)
            return NB_TEXT_CONTROL;
        if (cls == NB_TEXT_ID && nb__is_invisible(cp))
            return NB_TEXT_INVISIBLE;
    }
    return NB_TEXT_OK;
}

const char *nb_text_fault_str(nb_text_fault_t fault)
{
    switch (fault) {
    case NB_TEXT_OK:
        return "is valid text";
    case NB_TEXT_NOT_UTF8:
        return "is not valid UTF-8";
    case NB_TEXT_CONTROL:
        return "holds a control character or line break";
    case NB_TEXT_BIDI:
        return "holds a bidirectional embedding, override or isolate";
    case NB_TEXT_INVISIBLE:
        return "holds an invisible character";
    }
    return "is not valid text";
}

/* Shown as "\uNNNN" by nb_text_escape(): they reorder, break or hide what is printed. */
static bool nb__escape_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || nb__is_bidi_control(cp) || cp == 0x061C ||
           cp == 0x200B || cp == 0x200E || cp == 0x200F || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x2060 || cp == 0xFEFF;
}

char *nb_text_escape(char *dst, size_t cap, const char *src)
{
    const unsigned char *p = (const unsigned char *)(src ? src : "");
    size_t len = strlen((const char *)p), o = 0;
    char esc[16];
    if (cap == 0)
        return dst;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = nb__utf8_next(p + i, len - i, &cp);
        const char *out;
        size_t out_len;
        if (n == 0) {
            snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
            n = 1;
            out = esc;
        } else if (cp == '\\') {
            out = "\\\\";
        } else if (cp == '\n') {
            out = "\\n";
        } else if (cp == '\t') {
            out = "\\t";
        } else if (cp == '\r') {
            out = "\\r";
        } else if (cp < 0x20 || cp == 0x7F) {
            snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
            out = esc;
        } else if (nb__escape_cp(cp)) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
            out = esc;
        } else {
            out = (const char *)p + i;
        }
        out_len = out == (const char *)p + i ? n : strlen(out);
        if (o + out_len >= cap)
            break;
        memcpy(dst + o, out, out_len);
        o += out_len;
        i += n;
    }
    dst[o] = '\0';
    return dst;
}
