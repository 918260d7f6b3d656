/* json_io: the nesting limit, parsing with clear refusals, and output with
 * numbers as published. See json_io.h. */
#include "core/json_io.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- kept numbers ---- */

static char kept_key[JSON_KEPT_KEY_LEN + 1];
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void kept_key_init(void)
{
    unsigned char b[JSON_KEPT_KEY_LEN / 2];
    if (random_bytes(b, sizeof b) < 0) abort(); /* no key: a client could forge one */
    for (size_t i = 0; i < sizeof b; i++) snprintf(kept_key + 2 * i, 3, "%02x", b[i]);
    kept_key[JSON_KEPT_KEY_LEN] = '\0';
}

static const char *key(void)
{
    pthread_once(&kept_once, kept_key_init);
    return kept_key;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The length of the JSON number at t (at most n bytes), or 0 if none. */
static size_t number_token(const char *t, size_t n)
{
    size_t i = 0;
    if (i < n && t[i] == '-') i++;
    if (i < n && t[i] == '0') i++;
    else if (i < n && is_digit(t[i])) while (i < n && is_digit(t[i])) i++;
    else return 0;
    if (i < n && t[i] == '.') {
        if (++i >= n || !is_digit(t[i])) return 0;
        while (i < n && is_digit(t[i])) i++;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-')) i++;
        if (i >= n || !is_digit(t[i])) return 0;
        while (i < n && is_digit(t[i])) i++;
    }
    return i;
}

/* Whether jansson refuses the number t (n bytes): an integer beyond int64
 * ("too big integer") or a real that overflows ("real number overflow"). */
static bool refused_number(const char *t, size_t n)
{
    if (n < 19 && !memchr(t, '.', n) && !memchr(t, 'e', n) && !memchr(t, 'E', n))
        return false; /* at most 18 digits: always an int64 */
    char *s = xstrndup(t, n);
    bool real = strpbrk(s, ".eE") != NULL;
    errno = 0;
    bool out;
    if (real) {
        double d = strtod(s, NULL);
        out = errno == ERANGE && isinf(d);
    } else {
        (void)strtoll(s, NULL, 10);
        out = errno == ERANGE;
    }
    free(s);
    return out;
}

typedef struct {
    char *p;
    size_t len, cap;
} kbuf;

static void kb_add(kbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

char *json_kept_rewrite(const char *t, size_t len, bool allow_nul, size_t *out_len)
{
    kbuf b = {0};
    size_t from = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\') {
                if (!allow_nul && len - i > 5 && memcmp(t + i + 1, "u0000", 5) == 0) {
                    free(b.p); /* jansson refuses the NUL: leave the text as it is */
                    return NULL;
                }
                i++;
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '-' || is_digit(c)) {
            size_t n = number_token(t + i, len - i);
            if (n && refused_number(t + i, n)) {
                kb_add(&b, t + from, i - from);
                kb_add(&b, "\"", 1);
                kb_add(&b, t + i, n);
                kb_add(&b, "\\u0000", 6);
                kb_add(&b, key(), JSON_KEPT_KEY_LEN);
                kb_add(&b, "\"", 1);
                from = i + n;
            }
            if (n) i += n - 1;
        }
    }
    if (!b.p) return NULL;
    kb_add(&b, t + from, len - from);
    *out_len = b.len;
    return b.p;
}

json_t *json_load_kept(const char *text, size_t len, size_t flags, json_error_t *je)
{
    size_t n = 0;
    char *copy = json_kept_rewrite(text, len, flags & JSON_ALLOW_NUL, &n);
    if (!copy) return json_loadb(text, len, flags, je);
    json_t *v = json_loadb(copy, n, flags | JSON_ALLOW_NUL, je);
    free(copy);
    /* jansson's error quotes the token near it: report the client's text. */
    return v ? v : json_loadb(text, len, flags, je);
}

const char *json_kept_text(const json_t *v, size_t *len)
{
    if (!json_is_string(v)) return NULL;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (!n || json_string_length(v) != n + 1 + JSON_KEPT_KEY_LEN ||
        memcmp(s + n + 1, key(), JSON_KEPT_KEY_LEN) != 0)
        return NULL;
    if (len) *len = n;
    return s;
}

size_t json_str_len(const json_t *v)
{
    size_t n;
    return json_kept_text(v, &n) ? n : json_string_length(v);
}

bool json_number_kept(const char *text, size_t n)
{
    return n && number_token(text, n) == n && refused_number(text, n);
}

json_t *json_kept_new(const char *num, size_t n)
{
    if (!n || number_token(num, n) != n) return NULL;
    char *s = xmalloc(n + 1 + JSON_KEPT_KEY_LEN);
    memcpy(s, num, n);
    s[n] = '\0';
    memcpy(s + n + 1, key(), JSON_KEPT_KEY_LEN);
    json_t *v = json_stringn_nocheck(s, n + 1 + JSON_KEPT_KEY_LEN);
    free(s);
    return v;
}

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
    json_t *v = json_load_kept(text, len, flags, &je);
    if (!v) {
        if (strstr(je.text, "maximum parsing depth"))
            err_code(err, EVK_INVALID, "%s nests deeper than %d levels of objects and arrays "
                                       "(evkit's nesting limit)", what, EVK_JSON_MAX_DEPTH);
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

static bool is_number_char(char c) { return c && strchr("0123456789+-.eE", c); }

/* s (jansson's output, which writes a NUL as \u0000) with every kept number's
 * string written as the number's text; s is consumed. */
static char *unkeep(char *s)
{
    char pat[6 + JSON_KEPT_KEY_LEN + 2];
    snprintf(pat, sizeof pat, "\\u0000%s\"", key());
    char *hit = strstr(s, pat);
    if (!hit) return s;
    kbuf b = {0};
    const char *from = s;
    for (; hit; hit = strstr(hit + 1, pat)) {
        const char *q = hit;
        while (q > from && is_number_char(q[-1])) q--;
        if (q == hit || q == from || q[-1] != '"') continue; /* not a kept number */
        const char *end = hit + strlen(pat), *after = end;
        while (*after == ' ' || *after == '\n' || *after == '\t') after++;
        bool is_key = *after == ':'; /* a member name stays a string */
        kb_add(&b, from, (size_t)(q - 1 - from));
        if (is_key) kb_add(&b, "\"", 1);
        kb_add(&b, q, (size_t)(hit - q));
        if (is_key) kb_add(&b, "\"", 1);
        from = end;
        hit = (char *)end - 1;
    }
    if (!b.p) return s;
    kb_add(&b, from, strlen(from));
    free(s);
    return b.p;
}

static char *json_text_reals(const json_t *v, size_t flags);

char *json_text(const json_t *v, size_t flags)
{
    char *s = json_text_reals(v, flags);
    return s ? unkeep(s) : NULL;
}

static char *json_text_reals(const json_t *v, size_t flags)
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
