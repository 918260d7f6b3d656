/* console: see console.h. The session cookie, not a token kept by the page,
 * is what the browser holds: HttpOnly keeps it out of reach of any script
 * (an injected one cannot carry the token away), SameSite=Strict keeps
 * other sites' pages from sending it, and the per-session CSRF token in a
 * custom header is a second lock that a cross-site form cannot pick. */
#include "http/console.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/json_io.h"
#include "core/log.h"
#include "core/util.h"
#include "http/web.h"

#define SESSIONS_MAX 64
#define TOKEN_MAX 4096
#define LOGIN_FAIL_DELAY_MS 250

/* Only the console's own files, scripts and API calls; nothing inline, no
 * other origin, no framing. */
static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

typedef struct session {
    char id[65];
    char csrf[65];
    int64_t expires;           /* epoch ms; 0 = free slot */
} session;

struct console_sessions {
    pthread_mutex_t mu;
    int64_t ttl_ms;
    session slot[SESSIONS_MAX];
};

const console_asset *console_asset_find(const char *path)
{
    for (size_t i = 0; i < console_assets_count; i++)
        if (strcmp(console_assets[i].path, path) == 0) return &console_assets[i];
    return NULL;
}

console_sessions_t *console_sessions_new(int64_t ttl_ms)
{
    console_sessions_t *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->ttl_ms = ttl_ms;
    return s;
}

void console_sessions_free(console_sessions_t *s)
{
    if (!s) return;
    OPENSSL_cleanse(s->slot, sizeof s->slot);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void random_hex(char out[65])
{
    unsigned char b[32];
    if (random_bytes(b, sizeof b) < 0) abort();
    hex_encode(b, sizeof b, out);
    OPENSSL_cleanse(b, sizeof b);
}

void console_session_create(console_sessions_t *s, char id[65], char csrf[65])
{
    random_hex(id);
    random_hex(csrf);
    int64_t now = now_ms();
    pthread_mutex_lock(&s->mu);
    /* A free or expired slot, else the one closest to expiry. */
    session *pick = &s->slot[0];
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        session *x = &s->slot[i];
        if (x->expires <= now) {
            pick = x;
            break;
        }
        if (x->expires < pick->expires) pick = x;
    }
    memcpy(pick->id, id, 65);
    memcpy(pick->csrf, csrf, 65);
    pick->expires = now + s->ttl_ms;
    pthread_mutex_unlock(&s->mu);
}

static bool is_hex64(const char *p, size_t n)
{
    return n == 64 && strspn(p, "0123456789abcdef") >= 64;
}

/* The session id from "cookie: a=b; evkit_session=<64 hex>; c=d"; false
 * when absent or malformed. */
static bool cookie_session_id(const json_t *headers, char out[65])
{
    const char *c = json_string_value(json_object_get(headers, "cookie"));
    const size_t klen = strlen(CONSOLE_COOKIE);
    while (c && *c) {
        while (*c == ' ' || *c == ';' || *c == ',') c++;
        size_t n = strcspn(c, ";,");
        if (n > klen && strncmp(c, CONSOLE_COOKIE, klen) == 0 && c[klen] == '=') {
            const char *v = c + klen + 1;
            size_t vlen = n - klen - 1;
            while (vlen && v[vlen - 1] == ' ') vlen--;
            if (!is_hex64(v, vlen)) return false;
            memcpy(out, v, 64);
            out[64] = '\0';
            return true;
        }
        c += n;
    }
    return false;
}

/* The live slot with this id, under the lock; NULL when none. */
static session *slot_of(console_sessions_t *s, const char id[65])
{
    int64_t now = now_ms();
    session *found = NULL;
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        session *x = &s->slot[i];
        /* Every slot is compared, so timing does not tell which matched. */
        if (x->expires > now && CRYPTO_memcmp(x->id, id, 64) == 0) found = x;
    }
    return found;
}

bool console_session_find(console_sessions_t *s, const json_t *headers, char csrf[65])
{
    char id[65];
    if (!s || !cookie_session_id(headers, id)) return false;
    pthread_mutex_lock(&s->mu);
    session *x = slot_of(s, id);
    if (x) memcpy(csrf, x->csrf, 65);
    pthread_mutex_unlock(&s->mu);
    OPENSSL_cleanse(id, sizeof id);
    return x != NULL;
}

bool console_session_ok(console_sessions_t *s, const json_t *headers)
{
    const char *sent = json_string_value(json_object_get(headers, CONSOLE_CSRF_HEADER));
    if (!s || !sent || !is_hex64(sent, strlen(sent))) return false;
    char csrf[65];
    if (!console_session_find(s, headers, csrf)) return false;
    bool ok = CRYPTO_memcmp(csrf, sent, 64) == 0;
    OPENSSL_cleanse(csrf, sizeof csrf);
    return ok;
}

void console_session_end(console_sessions_t *s, const json_t *headers)
{
    char id[65];
    if (!s || !cookie_session_id(headers, id)) return;
    pthread_mutex_lock(&s->mu);
    session *x = slot_of(s, id);
    if (x) OPENSSL_cleanse(x, sizeof *x);
    pthread_mutex_unlock(&s->mu);
}

void console_headers(web_response *out)
{
    json_object_set_new(out->headers, "content-security-policy", json_string(CSP));
    json_object_set_new(out->headers, "x-content-type-options", json_string("nosniff"));
    json_object_set_new(out->headers, "referrer-policy", json_string("no-referrer"));
    json_object_set_new(out->headers, "x-frame-options", json_string("DENY"));
    json_object_set_new(out->headers, "cross-origin-opener-policy", json_string("same-origin"));
}

void console_private_headers(web_response *out)
{
    console_headers(out);
    json_object_set_new(out->headers, "cache-control", json_string("no-store"));
}

/* Secure when clients come over HTTPS, so the browser never sends the
 * session over plain HTTP. */
static void set_cookie(const http_ctx *h, web_response *out, const char *id, int64_t max_age_s)
{
    char *c = xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", CONSOLE_COOKIE,
                        id, (long long)max_age_s, h->https ? "; Secure" : "");
    json_object_set_new(out->headers, "set-cookie", json_string(c));
    OPENSSL_cleanse(c, strlen(c));
    free(c);
}

static bool is_json_request(const api_request *req)
{
    const char *ct = json_string_value(json_object_get(req->headers, "content-type"));
    return ct && strncasecmp(ct, "application/json", 16) == 0;
}

void console_redirect(http_ctx *h, const api_request *req, web_response *out)
{
    /* /console -> /console/ so the page's relative URLs resolve. */
    out->status = 308;
    json_object_set_new(out->headers, "location", json_string("/console/"));
}

void console_login(http_ctx *h, const api_request *req, web_response *out)
{
    const json_t *tokens = h->e->api_tokens;
    if (json_array_size(tokens) == 0) {
        web_error(out, 403, "The console is off: set EVKIT_API_TOKENS to enable it.");
        return;
    }
    /* JSON only: a cross-site HTML form cannot send it without a preflight. */
    if (!is_json_request(req)) {
        web_error(out, 415, "Send the token as JSON: {\"token\": \"...\"}.");
        return;
    }
    json_t *body = json_load_kept(req->body, req->body_len, 0, NULL);
    const char *tok = json_string_value(json_object_get(body, "token"));
    size_t n = tok ? strlen(tok) : 0;
    if (!tok || n == 0 || n > TOKEN_MAX) {
        web_error(out, 400, "Enter an API token (one of EVKIT_API_TOKENS).");
    } else if (!web_token_ok(tokens, tok, n)) {
        /* A short pause makes guessing slow; the connection has its own thread. */
        struct timespec ts = {0, LOGIN_FAIL_DELAY_MS * 1000000L};
        nanosleep(&ts, NULL);
        log_warn("console sign-in refused", json_pack("{s:s}", "reason", "unknown token"));
        web_error(out, 401, "That token is not valid: use one of the tokens in EVKIT_API_TOKENS.");
    } else {
        char id[65], csrf[65];
        console_session_create(h->sessions, id, csrf);
        set_cookie(h, out, id, CONSOLE_SESSION_TTL_MS / 1000);
        web_json(out, 200, json_pack("{s:s}", "csrf", csrf));
        log_info("console sign-in", NULL);
        OPENSSL_cleanse(id, sizeof id);
        OPENSSL_cleanse(csrf, sizeof csrf);
    }
    json_decref(body);
}

void console_logout(http_ctx *h, const api_request *req, web_response *out)
{
    console_session_end(h->sessions, req->headers);
    set_cookie(h, out, "", 0);
    web_json(out, 200, json_pack("{s:b}", "signedOut", 1));
}

void console_session(http_ctx *h, const api_request *req, web_response *out)
{
    char csrf[65];
    if (json_array_size(h->e->api_tokens) == 0) {
        web_error(out, 403, "The console is off: set EVKIT_API_TOKENS to enable it.");
    } else if (console_session_find(h->sessions, req->headers, csrf)) {
        web_json(out, 200, json_pack("{s:s, s:s}", "csrf", csrf, "namespace", h->e->namespace));
        OPENSSL_cleanse(csrf, sizeof csrf);
    } else {
        web_error(out, 401, "Sign in with an API token.");
    }
}

void console_file(http_ctx *h, const api_request *req, web_response *out)
{
    const char *path = req->arg[0] ? req->arg[0] : "";
    const console_asset *a = console_asset_find(*path ? path : "index.html");
    if (!a) {
        web_error(out, 404, "The requested resource does not exist.");
        return;
    }
    json_object_set_new(out->headers, "etag", json_string(a->etag));
    /* Revalidate every time: a new binary's files show at once, and an
     * unchanged file costs a 304. */
    json_object_set_new(out->headers, "cache-control", json_string("no-cache"));
    const char *inm = json_string_value(json_object_get(req->headers, "if-none-match"));
    if (inm && strstr(inm, a->etag)) {
        out->status = 304;
        return;
    }
    out->status = 200;
    json_object_set_new(out->headers, "content-type", json_string(a->content_type));
    free(out->body);
    out->body = xmalloc(a->len ? a->len : 1);
    memcpy(out->body, a->data, a->len);
    out->body_len = a->len;
}
