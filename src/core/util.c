/* util: see util.h. */
#include "core/util.h"
#include "core/vec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(void)
{
    fputs("{\"level\":\"error\",\"message\":\"out of memory\"}\n", stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom();
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0) oom();
    return out;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = xvasprintf(fmt, ap);
    va_end(ap);
    return out;
}

int err_code(err_t *e, evk_status code, const char *fmt, ...)
{
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return -1;
}

int digits_value(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

const char *evk_status_name(evk_status code)
{
    static const char *const names[] = {
        [EVK_OK] = "ok",           [EVK_INVALID] = "invalid",     [EVK_NOT_FOUND] = "not_found",
        [EVK_CONFLICT] = "conflict", [EVK_FORBIDDEN] = "forbidden",
        [EVK_UNAUTHORIZED] = "unauthorized", [EVK_UNAVAILABLE] = "unavailable",
        [EVK_TOO_LARGE] = "too_large", [EVK_TOO_MANY] = "too_many", [EVK_TIMEOUT] = "timeout",
        [EVK_INTERNAL] = "internal",
    };
    return (unsigned)code < sizeof names / sizeof names[0] ? names[code] : "internal";
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void time_iso(int64_t epoch_ms, char *buf, size_t len)
{
    time_t s = (time_t)(epoch_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(epoch_ms % 1000));
}

int random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void uuid_v4(char out[37])
{
    unsigned char b[16];
    if (random_bytes(b, sizeof b) < 0) abort();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char h[33];
    hex_encode(b, 16, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

void hex_id32(char out[33])
{
    unsigned char b[16];
    if (random_bytes(b, sizeof b) < 0) abort();
    hex_encode(b, 16, out);
}

/* ISO 8601 duration: P[nD]T[nH][nM][nS] (weeks and fractions of seconds too). */
static int dur_parse_iso(const char *s, int64_t *ms)
{
    int64_t total = 0;
    bool in_time = false, any = false;
    if (*s != 'P') return -1;
    s++;
    while (*s) {
        if (*s == 'T') {
            if (in_time) return -1;
            in_time = true;
            s++;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || v < 0) return -1;
        s = end;
        double unit;
        switch (*s) {
        case 'W': unit = in_time ? -1 : 7 * 86400e3; break;
        case 'D': unit = in_time ? -1 : 86400e3; break;
        case 'H': unit = in_time ? 3600e3 : -1; break;
        case 'M': unit = in_time ? 60e3 : -1; break;
        case 'S': unit = in_time ? 1e3 : -1; break;
        default: return -1;
        }
        if (unit < 0 || !(v * unit <= DUR_MAX_MS - (double)total)) return -1;
        total += (int64_t)(v * unit);
        any = true;
        s++;
    }
    if (!any) return -1;
    *ms = total;
    return 0;
}

int dur_parse(const char *s, int64_t *ms)
{
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    } else if (*s == '+') {
        s++;
    }
    int64_t v;
    if (*s == 'P') {
        if (dur_parse_iso(s, &v) < 0) return -1;
    } else {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (end == s || errno || d < 0) return -1;
        double unit;
        if (*end == '\0' || strcmp(end, "ms") == 0) unit = 1;
        else if (strcmp(end, "s") == 0) unit = 1e3;
        else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) unit = 60e3;
        else if (strcmp(end, "h") == 0) unit = 3600e3;
        else if (strcmp(end, "d") == 0) unit = 86400e3;
        else return -1;
        /* Also refuses nan and inf, which strtod reads: converting them (or
         * anything past int64) to an integer is undefined. */
        if (!(d * unit <= DUR_MAX_MS)) return -1;
        v = (int64_t)(d * unit);
    }
    *ms = neg ? -v : v;
    return 0;
}

char *file_read(const char *path, size_t *len, err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b;
    buf_init(&b, 0);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        err_set(err, "%s: read error", path);
        return NULL;
    }
    if (len) *len = b.len;
    return buf_steal(&b);
}

bool path_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *path_join(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !dir || !*dir) return xstrdup(rel);
    while (rel[0] == '.' && rel[1] == '/') rel += 2;
    size_t dl = strlen(dir);
    if (dl && dir[dl - 1] == '/') return xasprintf("%s%s", dir, rel);
    return xasprintf("%s/%s", dir, rel);
}

char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

char *path_real(const char *path)
{
    char *r = realpath(path, NULL);
    if (!r) return NULL;
    char *out = xstrdup(r);
    free(r);
    return out;
}

bool path_within(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (strncmp(root, path, n) != 0) return false;
    return path[n] == '\0' || path[n] == '/' || (n > 0 && root[n - 1] == '/');
}

int mkdir_p(const char *path, err_t *err)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            err_set(err, "mkdir %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int r = 0;
    if (mkdir(p, 0755) < 0 && errno != EEXIST) r = err_set(err, "mkdir %s: %s", p, strerror(errno));
    free(p);
    return r;
}

void buf_init(buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (b->max && b->len + n > b->max) return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    int r = buf_append(b, s, strlen(s));
    free(s);
    return r;
}

void buf_free(buf_t *b)
{
    free(b->data);
    buf_init(b, b->max);
}

char *buf_steal(buf_t *b)
{
    char *d = b->data ? b->data : xstrdup("");
    buf_init(b, b->max);
    return d;
}

void *vec_grow_(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    p = xrealloc(p, c * elem);
    *cap = c;
    return p;
}

void *ring_grow_(void *p, size_t *cap, size_t *head, size_t len, size_t elem)
{
    if (len < *cap) return p;
    size_t c = *cap ? *cap * 2 : 16;
    char *q = xcalloc(c, elem);
    for (size_t i = 0; i < len; i++)
        memcpy(q + i * elem, (char *)p + ((*head + i) % *cap) * elem, elem);
    free(p);
    *cap = c;
    *head = 0;
    return q;
}
