/* json_io: the nesting limit, parsing with clear refusals, and output with
 * numbers as published. See json_io.h. */
#include "core/json_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int json_depth(const json_t *v, int limit)
{
    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (limit <= 0) return 1; /* one level already past the limit */
    int deepest = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && deepest < limit; i++) {
            int d = json_depth(json_array_get(v, i), limit - 1);
            if (d > deepest) deepest = d;
        }
    } else {
        for (void *it = json_object_iter((json_t *)v); it && deepest < limit;
             it = json_object_iter_next((json_t *)v, it)) {
            int d = json_depth(json_object_iter_value(it), limit - 1);
            if (d > deepest) deepest = d;
        }
    }
    return 1 + deepest;
}

int json_check_depth(const json_t *v, const char *what, err_t *err)
{
    if (json_depth(v, EVK_JSON_MAX_DEPTH) <= EVK_JSON_MAX_DEPTH) return 0;
    return err_code(err, EVK_INVALID,
                    "%s nests deeper than %d levels of objects and arrays (evkit's nesting limit)",
                    what, EVK_JSON_MAX_DEPTH);
}

json_t *json_parse(const char *text, size_t len, size_t flags, int max_depth, const char *what,
                   err_t *err)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, flags, &je);
    if (!v) {
        if (strstr(je.text, "maximum parsing depth"))
            err_code(err, EVK_INVALID, "%s nests deeper than %d levels of objects and arrays "
                                       "(evkit's nesting limit)", what, EVK_JSON_MAX_DEPTH);
        else if (strstr(je.text, "too big integer") || strstr(je.text, "real number overflow"))
            err_code(err, EVK_INVALID,
                     "%s holds a number beyond what evkit keeps exactly (line %d, column %d): "
                     "integers must be within -9223372036854775808..9223372036854775807 and "
                     "other numbers within +-1.7976931348623157e308; send larger ones as strings",
                     what, je.line, je.column);
        else
            err_code(err, EVK_INVALID, "%s is not valid JSON: %s (line %d, column %d)", what,
                     je.text, je.line, je.column);
        return NULL;
    }
    if (json_depth(v, max_depth) > max_depth) {
        json_decref(v);
        err_code(err, EVK_INVALID, "%s nests deeper than %d levels of objects and arrays "
                                   "(evkit's nesting limit)", what, EVK_JSON_MAX_DEPTH);
        return NULL;
    }
    return v;
}

size_t json_real_text(double d, char *out, size_t len)
{
    char sci[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, d);
        if (strtod(sci, NULL) == d) break;
    }
    if (p == 17) snprintf(sci, sizeof sci, "%.16e", d);
    char *e = strchr(sci, 'e');
    int exp10 = atoi(e + 1);
    *e = '\0';
    if (exp10 < -6 || exp10 > 16) {
        int n = snprintf(out, len, "%se%d", sci, exp10);
        return n > 0 ? (size_t)n : 0;
    }
    /* Fixed notation from the shortest digits (as JavaScript writes 1e-6 on). */
    char digits[24];
    size_t nd = 0;
    const char *m = sci;
    bool neg = *m == '-';
    if (neg) m++;
    for (; *m; m++)
        if (*m != '.') digits[nd++] = *m;
    char buf[64];
    size_t o = 0;
    if (neg) buf[o++] = '-';
    if (exp10 < 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int z = exp10 + 1; z < 0; z++) buf[o++] = '0';
        memcpy(buf + o, digits, nd);
        o += nd;
    } else {
        for (size_t i = 0; i < nd || (int)i <= exp10; i++) {
            if ((int)i == exp10 + 1) buf[o++] = '.';
            buf[o++] = i < nd ? digits[i] : '0';
        }
        if ((int)nd <= exp10 + 1) { /* a real stays a real */
            buf[o++] = '.';
            buf[o++] = '0';
        }
    }
    buf[o] = '\0';
    snprintf(out, len, "%s", buf);
    return o < len ? o : len - 1;
}

/* The end of the number token at s (digits, sign, point, exponent). */
static size_t number_len(const char *s)
{
    size_t i = 0;
    while (s[i] && strchr("0123456789+-.eE", s[i])) i++;
    return i;
}

/* The offset of the next real in jansson's output from i on, or the end. */
static size_t next_real(const char *s, size_t i, size_t *toklen)
{
    bool in_str = false;
    for (; s[i]; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\' && s[i + 1]) i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t n = number_len(s + i);
            if (strcspn(s + i, ".eE") < n) {
                *toklen = n;
                return i;
            }
            i += n - 1;
        }
    }
    return i;
}

char *json_text(const json_t *v, size_t flags)
{
    char *s = json_dumps(v, flags);
    if (!s) return NULL;
    size_t tok = 0, at = next_real(s, 0, &tok);
    if (!s[at]) return s; /* no real: as jansson wrote it */
    size_t len = strlen(s), o = 0, from = 0, cap = len + 64;
    char *out = xmalloc(cap);
    while (s[at]) {
        char num[40], txt[48];
        size_t n = tok < sizeof num ? tok : sizeof num - 1;
        memcpy(num, s + at, n);
        num[n] = '\0';
        size_t m = json_real_text(strtod(num, NULL), txt, sizeof txt);
        /* Fixed notation may be longer than jansson's exponent form. */
        if (o + (at - from) + m + (len - at) + 1 > cap) {
            cap = o + (at - from) + m + (len - at) + 64;
            out = xrealloc(out, cap);
        }
        memcpy(out + o, s + from, at - from);
        o += at - from;
        memcpy(out + o, txt, m);
        o += m;
        from = at + tok;
        at = next_real(s, from, &tok);
    }
    memcpy(out + o, s + from, at - from + 1);
    free(s);
    return out;
}
