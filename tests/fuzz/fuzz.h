/* fuzz: what the libFuzzer harnesses share: splitting one input into the
 * parts a parser reads (files, headers, body), a scratch folder, and a
 * running engine over a throw-away store for the harnesses that go through
 * an HTTP handler. Harnesses are built with clang -fsanitize=fuzzer,
 * address,undefined (make fuzz); each calls the module's public functions. */
#ifndef EVKIT_FUZZ_H
#define EVKIT_FUZZ_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "config.h"
#include "core/log.h"
#include "core/util.h"
#include "engine.h"
#include "http/api.h"
#include "http/ratelimit.h"
#include "manifest/manifest.h"
#include "store/store.h"

/* Parts of an input are separated by this line (seeds stay readable). */
#define FZ_SEP "\n--8<--\n"
#define FZ_MAX_PARTS 8

typedef struct fz_parts {
    char *p[FZ_MAX_PARTS]; /* NUL-terminated copies (may hold NULs inside) */
    size_t len[FZ_MAX_PARTS];
    size_t n;
} fz_parts;

static inline void fz_split(const uint8_t *data, size_t size, fz_parts *out)
{
    memset(out, 0, sizeof *out);
    const char *s = (const char *)data, *end = s + size;
    size_t seplen = strlen(FZ_SEP);
    while (out->n < FZ_MAX_PARTS) {
        const char *cut = out->n == FZ_MAX_PARTS - 1 ? NULL : memmem(s, (size_t)(end - s), FZ_SEP, seplen);
        const char *e = cut ? cut : end;
        out->len[out->n] = (size_t)(e - s);
        out->p[out->n] = malloc(out->len[out->n] + 1);
        memcpy(out->p[out->n], s, out->len[out->n]);
        out->p[out->n][out->len[out->n]] = '\0';
        out->n++;
        if (!cut) break;
        s = cut + seplen;
    }
}

static inline void fz_parts_free(fz_parts *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->p[i]);
    memset(p, 0, sizeof *p);
}

static inline void fz_rmrf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Scratch folders, removed when the harness exits. */
static char *fz_dirs[4];
static size_t fz_ndirs;

static inline void fz_remove_dirs(void)
{
    for (size_t i = 0; i < fz_ndirs; i++) fz_rmrf(fz_dirs[i]);
}

/* A scratch folder in memory when the machine has /dev/shm. */
static inline char *fz_tmpdir(void)
{
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "%s/evkit-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) abort();
    if (fz_ndirs == 0) atexit(fz_remove_dirs);
    if (fz_ndirs < sizeof fz_dirs / sizeof *fz_dirs) fz_dirs[fz_ndirs++] = strdup(d);
    return strdup(d);
}

/* Writes n bytes to dir/rel (folders must exist); n == (size_t)-1 removes it. */
static inline void fz_write(const char *dir, const char *rel, const char *data, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (n == (size_t)-1) {
        unlink(path);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

/* Copies a file (for fixed parts of an app folder). */
static inline void fz_copy(const char *from, const char *dir, const char *rel)
{
    FILE *f = fopen(from, "rb");
    if (!f) {
        fprintf(stderr, "fuzz: cannot read %s (run from the repository root)\n", from);
        abort();
    }
    buf_t b;
    buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    fz_write(dir, rel, b.data ? b.data : "", b.len);
    buf_free(&b);
}

/* Headers "name: value" one per line (names lower-cased), up to an empty
 * line; *body is what follows. */
static inline json_t *fz_headers(const char *s, size_t n, const char **body, size_t *body_len)
{
    json_t *h = json_object();
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if (le == p) {
            p = eol ? eol + 1 : end;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            char *name = xstrndup(p, (size_t)(colon - p));
            for (char *c = name; *c; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
            const char *v = colon + 1;
            while (v < le && *v == ' ') v++;
            json_t *jv = json_stringn(v, (size_t)(le - v));
            if (jv) json_object_set_new(h, name, jv);
            free(name);
        }
        p = eol ? eol + 1 : end;
    }
    *body = p;
    *body_len = (size_t)(end - p);
    return h;
}

/* A query string as libmicrohttpd hands it to evkit: "&"-separated
 * name[=value], each percent-decoded with %00 kept visible as 0xFF (as the
 * server's unescape callback does). Into an object (later names win) and
 * the raw text re-joined. */
static inline json_t *fz_query(const char *q, size_t n, buf_t *raw)
{
    json_t *o = json_object();
    char *s = xstrndup(q, n);
    char *save = NULL;
    for (char *kv = strtok_r(s, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq) *eq++ = '\0';
        for (char *z = strstr(kv, "%00"); z; z = strstr(z + 3, "%00")) z[1] = z[2] = 'F';
        MHD_http_unescape(kv);
        if (eq) {
            for (char *z = strstr(eq, "%00"); z; z = strstr(z + 3, "%00")) z[1] = z[2] = 'F';
            MHD_http_unescape(eq);
        }
        if (raw->len) buf_append(raw, "&", 1);
        buf_append(raw, kv, strlen(kv));
        if (eq) {
            buf_append(raw, "=", 1);
            buf_append(raw, eq, strlen(eq));
        }
        json_t *jv = json_string(eq ? eq : "");
        if (jv) json_object_set_new(o, kv, jv);
    }
    free(s);
    buf_append(raw, "", 1);
    raw->len--;
    return o;
}

/* The token the engine harnesses accept as "Authorization: Bearer ...". */
#define FZ_TOKEN "fuzz-token-0123456789abcdef0123456789"

/* The sample app (app/ of the repository, or $EVKIT_FUZZ_APP) served over a
 * fresh store: an engine and an HTTP context as the daemon makes them, with
 * no rate limit and no delivery workers. env: what $VARs see (NULL: none). */
typedef struct fz_world {
    char *dir;
    app_t *app;
    store_t *store;
    config_t config;
    engine_t e;
    http_ctx h;
} fz_world;

static inline void fz_world_open(fz_world *w, const json_t *env)
{
    memset(w, 0, sizeof *w);
    log_set_level(LOG_OFF);
    const char *appdir = getenv("EVKIT_FUZZ_APP") ? getenv("EVKIT_FUZZ_APP") : "app";
    diags_t d;
    diags_init(&d);
    json_t *none = json_object();
    w->app = app_load_env(appdir, env ? env : none, &d);
    json_decref(none);
    if (!w->app) {
        diags_print(&d, stderr);
        abort();
    }
    diags_free(&d);
    w->dir = fz_tmpdir();
    err_t err;
    if (store_open(w->dir, &w->store, &err) < 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        abort();
    }
    config_init(&w->config);
    json_decref(w->config.api_tokens);
    w->config.api_tokens = json_pack("[s]", FZ_TOKEN);
    engine_init(&w->e, w->app, w->store, &w->config, "http://127.0.0.1:9");
    http_ctx_init(&w->h, &w->e, false);
    /* The failed-authentication throttle would soon answer every input 429. */
    ratelimit_free(w->h.auth_failures);
    w->h.auth_failures = NULL;
}

#endif
