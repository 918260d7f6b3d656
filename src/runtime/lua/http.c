/* http: evkit.http.request{url, method, headers, body, timeout,
 * follow_redirects} -> {status, headers, body} | nil, {kind, message}.
 * libcurl, TLS always verified, bounded by the activation's deadline and
 * HTTP_MAX_BODY. Under `evkit test` the test's world answers instead. */
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/netpolicy.h"
#include "runtime/lua/lua_int.h"
#include "core/json_io.h"

#ifndef EVKIT_VERSION
#define EVKIT_VERSION "dev"
#endif
#define HTTP_MAX_BODY (10u * 1024 * 1024)
#define HTTP_MAX_HEADERS (1u * 1024 * 1024)
#define HTTP_DEFAULT_TIMEOUT_MS 60000 /* outside an activation with a deadline */
#define HTTP_MAX_REDIRECTS 5L

/* Connections (and DNS answers and TLS sessions) are kept per thread in a
 * CURLSH, so an action calling one host again and again reuses its TCP/TLS
 * connection, across activations too. One share per thread needs no locks;
 * it is cleaned up when the thread ends. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t http_share_key;
static char http_err_mt_key;

static void http_share_free(void *p)
{
    curl_share_cleanup(p);
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_key_create(&http_share_key, http_share_free) != 0) abort();
}

static CURLSH *http_share(void)
{
    CURLSH *sh = pthread_getspecific(http_share_key);
    if (sh) return sh;
    sh = curl_share_init();
    if (!sh) return NULL;
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    pthread_setspecific(http_share_key, sh);
    return sh;
}

/* Errors are {kind = "...", message = "kind: detail"}; tostring(err) and
 * concatenation give the message, so code written for the earlier string
 * errors keeps working. */
static int http_err_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    return 1;
}

static void http_err_piece(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        lua_getfield(L, idx, "message");
        return;
    }
    luaL_tolstring(L, idx, NULL);
}

static int http_err_concat(lua_State *L)
{
    http_err_piece(L, 1);
    http_err_piece(L, 2);
    lua_concat(L, 2);
    return 1;
}

/* Returns nil, {kind, message}. */
static int http_fail(lua_State *L, const char *kind, const char *detail)
{
    lua_pushnil(L);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushfstring(L, "%s: %s", kind, detail);
    lua_setfield(L, -2, "message");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &http_err_mt_key);
    lua_setmetatable(L, -2);
    return 2;
}

static const char *http_error_kind(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "resolve";
    case CURLE_COULDNT_CONNECT:
        return "connect";
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return "tls";
    case CURLE_FILESIZE_EXCEEDED:
        return "too_large";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return "url";
    case CURLE_TOO_MANY_REDIRECTS:
        return "redirect";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return "connection";
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return "protocol";
    default:
        return "other";
    }
}

/* RFC 6761: names under .invalid never resolve. Answering them here keeps
 * them from reaching the system resolver (and the network behind it). */
static bool http_host_is_invalid(const char *url, char *host_out, size_t len)
{
    bool invalid = false;
    CURLU *u = curl_url();
    char *host = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
        size_t n = strlen(host);
        while (n && host[n - 1] == '.') n--;
        invalid = (n == 7 && !strncasecmp(host, "invalid", 7)) ||
                  (n > 8 && !strncasecmp(host + n - 8, ".invalid", 8));
        snprintf(host_out, len, "%.*s", (int)n, host);
    }
    curl_free(host);
    curl_url_cleanup(u);
    return invalid;
}

/* Stack slots of l_http_request. */
enum { ARG_OPTS = 1, ARG_URL, ARG_METHOD, ARG_HEADERS, ARG_BODY, ARG_TIMEOUT, ARG_REDIRECTS, ARG_GUARD };

typedef struct http_req {
    CURL *curl;
    struct curl_slist *headers;
    char method[16];
    const char *url;             /* on the Lua stack */
    int64_t timeout_ms;
    char *json_body;             /* a table body, encoded */
    buf_t body, head;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
    net_policy policy;           /* link-local and metadata refused (EVKIT_ACTION_HTTP_ALLOW) */
} http_req;

static void http_req_free(void *p)
{
    http_req *r = p;
    if (r->curl) curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->headers);
    free(r->json_body);
    buf_free(&r->body);
    buf_free(&r->head);
    free(r);
}

static size_t http_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_req *r = ud;
    size_t n = size * nmemb;
    if (buf_append(&r->body, ptr, n) < 0) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

static size_t http_on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_req *r = ud;
    size_t n = size * nmemb;
    /* A new status line (redirect, 100 Continue): only the final response's
     * headers are returned. */
    if (n >= 5 && !memcmp(ptr, "HTTP/", 5)) r->head.len = 0;
    if (buf_append(&r->head, ptr, n) < 0) {
        r->too_big = true;
        return 0;
    }
    return n;
}

static bool http_token(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return false;
    return true;
}

/* Pushes the response headers as a table with lower-case names; repeated
 * headers are joined with ", ". */
static void http_push_headers(lua_State *L, http_req *r)
{
    lua_newtable(L);
    int t = lua_gettop(L);
    char *p = r->head.data, *end = p ? p + r->head.len : NULL;
    while (p && p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *line_end = eol ? eol : end;
        char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && colon > p && memcmp(p, "HTTP/", 5) != 0) {
            for (char *c = p; c < colon; c++) *c = (char)tolower((unsigned char)*c);
            char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            lua_pushlstring(L, p, (size_t)(colon - p));
            lua_pushvalue(L, -1);
            if (lua_rawget(L, t) == LUA_TNIL) {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            } else {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            }
            lua_rawset(L, t);
        }
        p = eol ? eol + 1 : end;
    }
}

/* Checks the request table's fields (pushed at ARG_URL..ARG_REDIRECTS) and
 * fills r's method and url; raises on a malformed request. */
static void http_check_args(lua_State *L, http_req *r)
{
    if (lua_type(L, ARG_URL) != LUA_TSTRING)
        luaL_error(L, "evkit.http.request: url is required");
    r->url = lua_tostring(L, ARG_URL);
    snprintf(r->method, sizeof r->method, "GET");
    if (!lua_isnil(L, ARG_METHOD)) {
        const char *m = luaL_checkstring(L, ARG_METHOD);
        if (strlen(m) >= sizeof r->method || !http_token(m))
            luaL_error(L, "evkit.http.request: invalid method");
        for (size_t i = 0; m[i]; i++) r->method[i] = (char)toupper((unsigned char)m[i]);
        r->method[strlen(m)] = '\0';
    }
    if (!lua_isnil(L, ARG_HEADERS)) luaL_checktype(L, ARG_HEADERS, LUA_TTABLE);
    int bt = lua_type(L, ARG_BODY);
    if (bt != LUA_TNIL && bt != LUA_TSTRING && bt != LUA_TTABLE)
        luaL_error(L, "evkit.http.request: body must be a string or a table");
}

/* The timeout: the activation's time left, or less when asked. */
static int64_t http_timeout(lua_State *L, const activation_t *a)
{
    int64_t timeout = a->deadline_ms > 0 ? a->deadline_ms - now_ms() : HTTP_DEFAULT_TIMEOUT_MS;
    if (!lua_isnil(L, ARG_TIMEOUT)) {
        int ok = 0;
        lua_Number t = lua_tonumberx(L, ARG_TIMEOUT, &ok);
        if (!ok || !(t > 0))
            luaL_error(L, "evkit.http.request: timeout must be milliseconds > 0");
        if (t < (lua_Number)timeout) timeout = (int64_t)t;
    }
    return timeout;
}

/* Request headers and a table body into r (curl lists, encoded body). */
static void http_add_headers(lua_State *L, http_req *r)
{
    bool has_ctype = false, has_trace = false;
    if (lua_istable(L, ARG_HEADERS)) {
        lua_pushnil(L);
        while (lua_next(L, ARG_HEADERS)) {
            if (lua_type(L, -2) != LUA_TSTRING ||
                (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
                luaL_error(L, "evkit.http.request: headers must map names to strings");
            const char *hn = lua_tostring(L, -2);
            lua_pushvalue(L, -1); /* convert a copy: keeps lua_next's key intact */
            const char *hv = lua_tostring(L, -1);
            if (!http_token(hn) || strpbrk(hv, "\r\n"))
                luaL_error(L, "evkit.http.request: invalid header '%s'", hn);
            if (!strcasecmp(hn, "content-type")) has_ctype = true;
            if (!strcasecmp(hn, "traceparent")) has_trace = true;
            char *line = xasprintf("%s: %s", hn, hv);
            r->headers = curl_slist_append(r->headers, line);
            free(line);
            lua_pop(L, 2);
        }
    }
    /* The request continues the activation's trace: a span of its own. */
    const tracectx *cur = runtime_current_trace();
    if (cur && !has_trace) {
        tracectx out;
        char tp[TRACEPARENT_LEN + 1], line[TRACEPARENT_LEN + 16];
        tracectx_child(cur, &out);
        tracectx_format(&out, tp);
        snprintf(line, sizeof line, "traceparent: %s", tp);
        r->headers = curl_slist_append(r->headers, line);
    }
    if (lua_type(L, ARG_BODY) == LUA_TTABLE) {
        json_t *j = lua_host_check_json(L, ARG_BODY, "evkit.http.request: body");
        r->json_body = json_text(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        if (!has_ctype)
            r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    }
}

static void http_set_options(lua_State *L, http_req *r, CURLSH *share)
{
    CURL *c = r->curl;
    curl_easy_setopt(c, CURLOPT_SHARE, share);
    net_policy_apply(c, &r->policy);
    /* TLS is always verified; there is no option to turn it off. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "evkit/" EVKIT_VERSION);
    if (lua_toboolean(L, ARG_REDIRECTS)) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS);
    }
    if (r->headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
    const char *body = NULL;
    size_t blen = 0;
    if (lua_type(L, ARG_BODY) == LUA_TSTRING) body = lua_tolstring(L, ARG_BODY, &blen);
    else if (r->json_body) {
        body = r->json_body;
        blen = strlen(body);
    }
    const char *m = r->method;
    if (!strcmp(m, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (body || !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        if (strcmp(m, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    }
}

/* Performs the request; pushes the response or nil, error. */
static int http_perform(lua_State *L, http_req *r)
{
    CURLcode rc = curl_easy_perform(r->curl);
    if (rc != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 64];
        const char *kind = http_error_kind(rc);
        if (r->policy.why[0]) {
            kind = "refused";
            snprintf(msg, sizeof msg, "address not allowed: %s", r->policy.why);
        } else if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            kind = "too_large";
            snprintf(msg, sizeof msg, "the response exceeds %u MB", HTTP_MAX_BODY / (1024 * 1024));
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(msg, sizeof msg, "no complete answer within %lld ms",
                     (long long)r->timeout_ms);
        } else {
            snprintf(msg, sizeof msg, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        }
        lua_host_guard_release(L, ARG_GUARD);
        return http_fail(L, kind, msg);
    }
    long status = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    http_push_headers(L, r);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
    lua_setfield(L, -2, "body");
    lua_host_guard_release(L, ARG_GUARD);
    return 1;
}

/* The test's world answers: response, or nil, kind, detail. */
static int http_test_answer(lua_State *L)
{
    if (!lua_isnil(L, -3)) {
        lua_pop(L, 2);
        return 1;
    }
    const char *kind = lua_isstring(L, -2) ? lua_tostring(L, -2) : "connect";
    const char *detail = lua_isstring(L, -1) ? lua_tostring(L, -1) : "no answer";
    return http_fail(L, kind, detail);
}

static int l_http_request(lua_State *L)
{
    activation_t *a = lua_host_activation(L);
    luaL_checktype(L, ARG_OPTS, LUA_TTABLE);
    lua_settop(L, ARG_OPTS);
    static const char *const fields[] = {"url", "method", "headers", "body", "timeout",
                                         "follow_redirects"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) lua_getfield(L, 1, fields[i]);
    void **g = lua_host_guard(L, http_req_free); /* ARG_GUARD */
    http_req *r = xcalloc(1, sizeof *r);
    *g = r;
    buf_init(&r->body, HTTP_MAX_BODY);
    buf_init(&r->head, HTTP_MAX_HEADERS);
    http_check_args(L, r);
    r->timeout_ms = http_timeout(L, a);
    if (r->timeout_ms <= 0)
        return http_fail(L, "timeout", "the activation's time limit has been reached");
    if (lua_test_active()) {
        http_add_headers(L, r); /* checked as for the network */
        lua_pushvalue(L, ARG_OPTS);
        lua_test_call(L, "_http", 1, 3);
        return http_test_answer(L);
    }

    pthread_once(&curl_once, curl_init_once);
    char host[256] = "";
    if (http_host_is_invalid(r->url, host, sizeof host)) {
        char detail[320];
        snprintf(detail, sizeof detail, "cannot resolve host %s (.invalid names never resolve)",
                 host);
        return http_fail(L, "resolve", detail);
    }
    http_add_headers(L, r);
    r->curl = curl_easy_init();
    CURLSH *share = http_share();
    if (!r->curl || !share) {
        lua_host_guard_release(L, ARG_GUARD);
        return http_fail(L, "other", "cannot create an HTTP client");
    }
    r->policy = (net_policy){.refuse = NET_ACTION_DEFAULT,
                             .allow = a->engine ? a->engine->config->action_http_allow : NULL,
                             .setting = "EVKIT_ACTION_HTTP_ALLOW"};
    http_set_options(L, r, share);
    return http_perform(L, r);
}

void lua_open_http(lua_State *L)
{
    static const luaL_Reg err_mt[] = {
        {"__tostring", http_err_tostring}, {"__concat", http_err_concat}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"request", l_http_request}, {NULL, NULL}};
    lua_host_new_mt(L, &http_err_mt_key, "http error", err_mt);
    lua_host_add_lib(L, "http", fns);
}
