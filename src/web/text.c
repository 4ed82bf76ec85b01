/*
 * notbrought - web: the small pure pieces of the server: CIDR blocks, random tokens and their
 * constant-time comparison, the session cookie, HTML escaping and form fields.
 */
#include "notbrought/web.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- CIDR ---------------------------------------------------------------------------------- */

bool nb_web_cidr_parse(const char *s, nb_web_cidr_t *out)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(addr))
        return false;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    int max;
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    out->prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3)
            return false;
        int n = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return false;
            n = n * 10 + (*p - '0');
        }
        if (n > max)
            return false;
        out->prefix = n;
    }
    /* Host bits under the prefix: "10.0.0.1/8" is more likely a mistake than a block. */
    for (int bit = out->prefix; bit < max; bit++)
        if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
            return false;
    return true;
}

bool nb_web_cidr_match(const nb_web_cidr_t *c, int family, const uint8_t *addr)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && c->family == AF_INET && memcmp(addr, mapped, 12) == 0) {
        family = AF_INET; /* ::ffff:a.b.c.d is the IPv4 address a.b.c.d */
        addr += 12;
    }
    if (family != c->family)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(addr, c->addr, (size_t)full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xffu << (8 - rest));
        if ((addr[full] & mask) != c->addr[full])
            return false;
    }
    return true;
}

bool nb_web_cidr_match_text(const nb_web_cidr_t *c, size_t n, const char *addr)
{
    uint8_t a[16];
    int family;
    if (inet_pton(AF_INET, addr, a) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, addr, a) == 1)
        family = AF_INET6;
    else
        return false;
    for (size_t i = 0; i < n; i++)
        if (nb_web_cidr_match(&c[i], family, a))
            return true;
    return false;
}

/* ---- tokens -------------------------------------------------------------------------------- */

void nb_web_token_new(char *out)
{
    uint8_t raw[NB_WEB_TOKEN_HEX / 2];
    if (sodium_init() < 0)
        abort(); /* no randomness: nothing safe can be done */
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, NB_WEB_TOKEN_HEX + 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
}

static bool nb__is_token(const char *s)
{
    size_t i = 0;
    for (; s[i] && i <= NB_WEB_TOKEN_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == NB_WEB_TOKEN_HEX;
}

bool nb_web_token_equal(const char *a, const char *b)
{
    if (!a || !b || strlen(a) != NB_WEB_TOKEN_HEX || strlen(b) != NB_WEB_TOKEN_HEX)
        return false;
    return sodium_memcmp(a, b, NB_WEB_TOKEN_HEX) == 0;
}

/* ---- the cookie ---------------------------------------------------------------------------- */

bool nb_web_cookie_set(char *out, size_t size, const char *value)
{
    if (value && !nb__is_token(value))
        return false;
    int n = snprintf(out, size, "%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict%s", NB_WEB_COOKIE,
                     value ? value : "", value ? "" : "; Max-Age=0");
    return n > 0 && (size_t)n < size;
}

bool nb_web_cookie_get(const char *header, char *out)
{
    static const char name[] = NB_WEB_COOKIE "=";
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == sizeof(name) - 1 + NB_WEB_TOKEN_HEX && strncmp(p, name, sizeof(name) - 1) == 0) {
            memcpy(out, p + sizeof(name) - 1, NB_WEB_TOKEN_HEX);
            out[NB_WEB_TOKEN_HEX] = '\0';
            if (nb__is_token(out))
                return true;
        }
        p = end;
    }
    out[0] = '\0';
    return false;
}

/* ---- HTML ---------------------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t nb__utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void nb_web_html(nb_buf_t *b, const char *s)
{
    static const char bad[] = "\xef\xbf\xbd"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        const char *rep = NULL;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        if (rep) {
            nb_buf_add(b, rep, strlen(rep));
            p++;
            continue;
        }
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            nb_buf_add(b, bad, 3);
            p++;
            continue;
        }
        size_t n = nb__utf8_len(p);
        if (!n) {
            nb_buf_add(b, bad, 3);
            p++;
            continue;
        }
        nb_buf_add(b, p, n);
        p += n;
    }
}

/* ---- forms --------------------------------------------------------------------------------- */

static int nb__hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..len) into out (size bytes). @returns the length, or -1. */
static long nb__urldecode(const char *src, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = nb__hex(src[i + 1]), lo = nb__hex(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

long nb_web_form_get(const char *body, size_t len, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    long found = -1;
    bool seen = false;
    size_t i = 0;
    if (size == 0)
        return -1;
    out[0] = '\0';
    while (i <= len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *f = body + i;
        size_t flen = end - i;
        if (flen > nlen && f[nlen] == '=' && memcmp(f, name, nlen) == 0) {
            if (seen)
                return -1; /* given twice: which one did the user mean? */
            seen = true;
            found = nb__urldecode(f + nlen + 1, flen - nlen - 1, out, size);
            if (found < 0)
                return -1;
        } else if (flen == nlen && memcmp(f, name, nlen) == 0) {
            if (seen)
                return -1;
            seen = true;
            found = 0;
            out[0] = '\0';
        }
        if (!amp)
            break;
        i = end + 1;
    }
    return found;
}
