/* json_io: the nesting limit, parsing with clear refusals, and output with
 * numbers as published. See json_io.h. */
#include "core/json_io.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
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

static bool is_number_char(char c) { return c && strchr("0123456789+-.eE", c); }

/* The end of the number token at s (digits, sign, point, exponent). */
static size_t number_len(const char *s)
{
    size_t i = 0;
    while (is_number_char(s[i])) i++;
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

/* ---- the direct writer ----
 * json_text writes the tree itself, in one pass into one buffer, byte for
 * byte what jansson's json_dumps and the two rewriting passes above make of
 * it (an allocation per container, a pointer printed for loop detection and
 * the rescans cost more than the writing). Whatever it does not handle the
 * same way (indentation, escaping options, invalid UTF-8, a NUL in a key,
 * very deep trees) goes the old way. */

typedef json_out wbuf;

static void wb_grow(wbuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static inline void wb_add(wbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) wb_grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static inline void wb_ch(wbuf *b, char c)
{
    if (b->len + 2 > b->cap) wb_grow(b, 1);
    b->p[b->len++] = c;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

/* Bytes a string copies as they are: printable ASCII but '"' and '\\'. */
static const unsigned char PLAIN[256] = {
    ['\x20'] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x20-0x2f, '"' no */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,               /* 0x30-0x3f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,               /* 0x40-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,               /* 0x50-0x5f, '\\' no */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,               /* 0x60-0x6f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,               /* 0x70-0x7f */
};

/* True when none of the 8 bytes at s needs a look of its own: each is
 * printable ASCII, neither '"' nor '\\'. ("Bit Twiddling Hacks": (v - 1s) &
 * ~v & 0x80s is nonzero exactly when some byte of v is below the 1s' byte.) */
static inline bool plain8(const unsigned char *s)
{
    uint64_t x;
    memcpy(&x, s, 8);
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t bad = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | x;
    return !(bad & high);
}

/* s (n bytes) as a JSON string, escaped as jansson does; false on invalid UTF-8. */
static bool wb_string(wbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    wb_ch(b, '"');
    size_t run = 0, i = 0;
    while (i < n) {
        if (i + 8 <= n && plain8(s + i)) {
            i += 8;
            continue;
        }
        unsigned char c = s[i];
        if (PLAIN[c]) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, n - i);
            if (!k) return false;
            i += k;
            continue;
        }
        wb_add(b, str + run, i - run);
        char esc[8];
        switch (c) {
        case '"': wb_add(b, "\\\"", 2); break;
        case '\\': wb_add(b, "\\\\", 2); break;
        case '\b': wb_add(b, "\\b", 2); break;
        case '\f': wb_add(b, "\\f", 2); break;
        case '\n': wb_add(b, "\\n", 2); break;
        case '\r': wb_add(b, "\\r", 2); break;
        case '\t': wb_add(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", c);
            wb_add(b, esc, 6);
        }
        run = ++i;
    }
    wb_add(b, str + run, n - run);
    wb_ch(b, '"');
    return true;
}

/* v's decimal digits at the end of t; returns where they start. */
static size_t int_text(char t[24], long long v)
{
    size_t i = 24;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        t[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) t[--i] = '-';
    return i;
}

static void wb_int(wbuf *b, json_int_t v)
{
    char t[24];
    size_t i = int_text(t, v);
    wb_add(b, t + i, sizeof t - i);
}

/* jansson's order of sorted keys: bytes, then length. */
typedef struct {
    const char *key;
    size_t len;
    json_t *value;
} wkey;

static int wkey_cmp(const void *x, const void *y)
{
    const wkey *a = x, *b = y;
    int r = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return r ? r : (a->len > b->len) - (a->len < b->len);
}

static bool wb_value(wbuf *b, const json_t *v, int depth);

static bool wb_member(wbuf *b, const char *k, size_t klen, const json_t *v, int depth, bool first)
{
    bool compact = b->flags & JSON_COMPACT;
    if (!first) wb_add(b, ", ", compact ? 1 : 2);
    if (memchr(k, '\0', klen) || !wb_string(b, k, klen)) return false;
    wb_add(b, ": ", compact ? 1 : 2);
    return wb_value(b, v, depth + 1);
}

static bool wb_object(wbuf *b, const json_t *v, int depth)
{
    wb_ch(b, '{');
    size_t n = json_object_size(v);
    if (b->flags & JSON_SORT_KEYS && n > 1) {
        wkey *keys = xmalloc(n * sizeof *keys);
        size_t i = 0;
        for (void *it = json_object_iter((json_t *)v); it && i < n;
             it = json_object_iter_next((json_t *)v, it), i++)
            keys[i] = (wkey){json_object_iter_key(it), json_object_iter_key_len(it),
                             json_object_iter_value(it)};
        qsort(keys, i, sizeof *keys, wkey_cmp);
        bool ok = true;
        for (size_t k = 0; k < i && ok; k++)
            ok = wb_member(b, keys[k].key, keys[k].len, keys[k].value, depth, k == 0);
        free(keys);
        if (!ok) return false;
    } else {
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it), first = false)
            if (!wb_member(b, json_object_iter_key(it), json_object_iter_key_len(it),
                           json_object_iter_value(it), depth, first))
                return false;
    }
    wb_ch(b, '}');
    return true;
}

/* A kept number whose text is a number's (what unkeep rewrites). */
static const char *kept_number(const json_t *v, size_t *len)
{
    /* Most strings are not: a NUL before the key's place says maybe. */
    size_t n = json_string_length(v);
    if (n < JSON_KEPT_KEY_LEN + 2 || json_string_value(v)[n - JSON_KEPT_KEY_LEN - 1] != '\0')
        return NULL;
    const char *t = json_kept_text(v, len);
    for (size_t i = 0; t && i < *len; i++)
        if (!is_number_char(t[i])) return NULL;
    return t;
}

static bool wb_value(wbuf *b, const json_t *v, int depth)
{
    if (depth > 2048) return false; /* a loop, or deeper than anything evkit makes */
    switch (json_typeof(v)) {
    case JSON_OBJECT: return wb_object(b, v, depth);
    case JSON_ARRAY: {
        wb_ch(b, '[');
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i) wb_add(b, ", ", b->flags & JSON_COMPACT ? 1 : 2);
            if (!wb_value(b, json_array_get(v, i), depth + 1)) return false;
        }
        wb_ch(b, ']');
        return true;
    }
    case JSON_STRING: {
        size_t n;
        const char *num = kept_number(v, &n);
        if (num) {
            wb_add(b, num, n);
            return true;
        }
        return wb_string(b, json_string_value(v), json_string_length(v));
    }
    case JSON_INTEGER: wb_int(b, json_integer_value(v)); return true;
    case JSON_REAL: {
        char t[48];
        double d = json_real_value(v);
        if (!isfinite(d)) return false;
        wb_add(b, t, json_real_text(d, t, sizeof t));
        return true;
    }
    case JSON_TRUE: wb_add(b, "true", 4); return true;
    case JSON_FALSE: wb_add(b, "false", 5); return true;
    case JSON_NULL: wb_add(b, "null", 4); return true;
    }
    return false;
}

void json_out_raw(json_out *o, const char *s, size_t n) { wb_add(o, s, n); }

void json_out_int(json_out *o, long long v) { wb_int(o, v); }

bool json_out_string(json_out *o, const char *s, size_t n) { return wb_string(o, s, n); }

bool json_out_value(json_out *o, const json_t *v) { return v && wb_value(o, v, 0); }

char *json_out_steal(json_out *o)
{
    if (!o->p) wb_grow(o, 0);
    o->p[o->len] = '\0';
    char *t = o->p;
    o->p = NULL;
    o->len = o->cap = 0;
    return t;
}

char *json_text(const json_t *v, size_t flags)
{
    if (!v) return NULL;
    size_t other = flags & ~(size_t)(JSON_COMPACT | JSON_SORT_KEYS | JSON_PRESERVE_ORDER |
                                      JSON_ENCODE_ANY);
    if (!other) {
        if (!(flags & JSON_ENCODE_ANY) && !json_is_object(v) && !json_is_array(v)) return NULL;
        wbuf b = {.flags = flags};
        if (wb_value(&b, v, 0)) return json_out_steal(&b);
        free(b.p);
    }
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
