/* tracectx: W3C traceparent, version 00. */
#include "core/tracectx.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

static bool hex_field(const char *s, size_t n, bool nonzero)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        any |= c != '0';
    }
    return any || !nonzero;
}

bool tracectx_parse(const char *s, tracectx *out)
{
    if (!s) return false;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n < TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
    if (!hex_field(s, 2, false) || !strncmp(s, "ff", 2)) return false;
    /* Version 00 is exactly 55 characters; a later one may add fields after a dash. */
    if (!strncmp(s, "00", 2) ? n != TRACEPARENT_LEN : (n > TRACEPARENT_LEN && s[55] != '-'))
        return false;
    if (!hex_field(s + 3, 32, true) || !hex_field(s + 36, 16, true) || !hex_field(s + 53, 2, false))
        return false;
    memcpy(out->trace_id, s + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, s + 36, 16);
    out->span_id[16] = '\0';
    memcpy(out->flags, s + 53, 2);
    out->flags[2] = '\0';
    return true;
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[16];
    do {
        if (random_bytes(b, nbytes) < 0) memset(b, 0x5a, nbytes);
    } while (nbytes == 8 ? !(b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7]) : false);
    hex_encode(b, nbytes, out);
}

void tracectx_new(tracectx *out)
{
    hex_id32(out->trace_id);
    random_hex(out->span_id, 8);
    memcpy(out->flags, "01", 3);
}

void tracectx_child(const tracectx *parent, tracectx *out)
{
    if (!parent || !parent->trace_id[0]) {
        tracectx_new(out);
        return;
    }
    memcpy(out->trace_id, parent->trace_id, sizeof out->trace_id);
    memcpy(out->flags, parent->flags[0] ? parent->flags : "01", 3);
    random_hex(out->span_id, 8);
}

void tracectx_format(const tracectx *t, char out[TRACEPARENT_LEN + 1])
{
    /* What "00-%.32s-%.16s-%.2s" prints, without a printf per activation. */
    size_t n = 0, k;
    memcpy(out, "00-", 3);
    n = 3;
    k = strnlen(t->trace_id, 32);
    memcpy(out + n, t->trace_id, k);
    n += k;
    out[n++] = '-';
    k = strnlen(t->span_id, 16);
    memcpy(out + n, t->span_id, k);
    n += k;
    out[n++] = '-';
    k = strnlen(t->flags, 2);
    memcpy(out + n, t->flags, k);
    out[n + k] = '\0';
}
