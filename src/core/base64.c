/* base64: see base64.h. */
#include "core/base64.h"

#include <ctype.h>
#include <stdlib.h>

#include "core/util.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len, size_t *outlen)
{
    const unsigned char *s = data;
    char *o = xmalloc((len + 2) / 3 * 4 + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < len) v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < len) v |= s[i + 2];
        o[j++] = alphabet[(v >> 18) & 63];
        o[j++] = alphabet[(v >> 12) & 63];
        o[j++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        o[j++] = i + 2 < len ? alphabet[v & 63] : '=';
    }
    o[j] = '\0';
    if (outlen) *outlen = j;
    return o;
}

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62; /* standard and URL-safe alphabets */
    if (c == '/' || c == '_') return 63;
    return -1;
}

unsigned char *base64_decode(const char *in, size_t len, size_t *outlen, const char **why)
{
    const unsigned char *s = (const unsigned char *)in;
    unsigned char *o = xmalloc(len / 4 * 3 + 4);
    size_t j = 0, pad = 0, n = 0;
    unsigned acc = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < len && !bad; i++) {
        unsigned char c = s[i];
        if (isspace(c)) continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = value_of(c);
        if (v < 0) bad = "invalid base64 character";
        else if (pad) bad = "invalid base64: data after padding";
        else {
            acc = (acc << 6) | (unsigned)v;
            if (++n % 4 == 0) {
                o[j++] = (unsigned char)(acc >> 16);
                o[j++] = (unsigned char)(acc >> 8);
                o[j++] = (unsigned char)acc;
                acc = 0;
            }
        }
    }
    if (!bad) {
        size_t rest = n % 4;
        if (rest == 1) bad = "invalid base64: truncated input";
        else if (pad && (rest == 0 || rest + pad != 4)) bad = "invalid base64: bad padding";
        else if (rest == 2) o[j++] = (unsigned char)(acc >> 4);
        else if (rest == 3) {
            o[j++] = (unsigned char)(acc >> 10);
            o[j++] = (unsigned char)(acc >> 2);
        }
    }
    if (bad) {
        free(o);
        if (why) *why = bad;
        return NULL;
    }
    o[j] = '\0';
    if (outlen) *outlen = j;
    return o;
}
