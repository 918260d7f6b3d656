/* web: request -> params and result -> response, by OpenWhisk's web-action
 * rules. See web.h. */
#include "http/web.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/util.h"
#include "core/json_io.h"

void web_response_init(web_response *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->headers = json_object();
}

void web_response_free(web_response *r)
{
    json_decref(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

void web_json(web_response *r, int status, json_t *body)
{
    /* Unavailable (a full disk, a busy journal) is a moment's state: say when
     * to try again, on every API. */
    if (status == 503 && !json_object_get(r->headers, "retry-after"))
        json_object_set_new(r->headers, "retry-after", json_string(WEB_RETRY_AFTER_S));
    free(r->body);
    r->status = status;
    r->body = json_text(body, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    r->body_len = r->body ? strlen(r->body) : 0;
    json_object_set_new(r->headers, "content-type", json_string("application/json"));
    json_decref(body);
}

void web_error(web_response *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    web_json(r, status, json_pack("{s:s}", "error", msg));
}

int http_status_of(evk_status code)
{
    switch (code) {
    case EVK_OK: return 200;
    case EVK_INVALID: return 400;
    case EVK_UNAUTHORIZED: return 401;
    case EVK_FORBIDDEN: return 403;
    case EVK_NOT_FOUND: return 404;
    case EVK_CONFLICT: return 409;
    case EVK_TOO_LARGE: return 413;
    case EVK_TOO_MANY: return 429;
    case EVK_INTERNAL: return 500;
    case EVK_UNAVAILABLE: return 503;
    case EVK_TIMEOUT: return 504;
    }
    return 500;
}

void web_fail(web_response *r, const err_t *err)
{
    web_error(r, http_status_of(err->code), "%s", err->msg);
}

json_t *web_rows_renamed(const json_t *rows, const char *const (*fields)[2], size_t nfields)
{
    json_t *out = json_array();
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        json_t *o = json_object();
        for (size_t f = 0; f < nfields; f++) {
            json_t *v = json_object_get(row, fields[f][0]);
            json_object_set_new(o, fields[f][1], v ? json_incref(v) : json_null());
        }
        json_array_append_new(out, o);
    }
    return out;
}

void web_found(web_response *r, int rc, const err_t *err, json_t *found, const char *what,
               const char *id)
{
    if (rc < 0) web_fail(r, err);
    else if (!found) web_error(r, 404, "%s '%s' not found.", what, id);
    else web_json(r, 200, found);
}

static json_t *body_string(const char *s, size_t n)
{
    /* UTF-8 text without NUL travels as it is (checked and copied once). */
    json_t *text = memchr(s, '\0', n) ? NULL : json_stringn(s, n);
    if (text) return text;
    /* Binary bodies travel as base64, as on the hosted runtime. */
    size_t len = 0;
    char *out = base64_encode(s, n, &len);
    json_t *j = json_stringn(out, len);
    free(out);
    return j;
}

static const char *header(const json_t *headers, const char *name)
{
    return json_string_value(json_object_get(headers, name));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static char *url_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') out[o++] = ' ';
        else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

/* application/x-www-form-urlencoded into obj. */
static void parse_form(json_t *obj, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&') j++;
        const char *eq = memchr(s + i, '=', j - i);
        size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
        if (klen > 0) {
            char *k = url_decode(s + i, klen);
            char *v = eq ? url_decode(eq + 1, (size_t)((s + j) - (eq + 1))) : xstrdup("");
            json_t *jv = json_string(v);
            if (jv) json_object_set_new(obj, k, jv);
            else json_decref(jv);
            free(k);
            free(v);
        }
        i = j + 1;
    }
}

/* The first __ow_* key of obj other than allowed (NULL: none). */
static const char *reserved_key(const json_t *obj, const char *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (strncmp(k, "__ow_", 5) == 0 && !(allowed && strcmp(k, allowed) == 0)) return k;
    }
    return NULL;
}

json_t *web_params(const action_t *action, const web_request *req, err_t *err)
{
    json_t *request = json_object();
    const char *ctype = header(req->headers, "content-type");
    bool raw = action->raw_http || action->web == WEB_RAW;

    if (!raw) {
        if (req->query) json_object_update(request, req->query);
        if (req->body_len > 0) {
            if (ctype && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0) {
                parse_form(request, req->body, req->body_len);
            } else if (!ctype || strcasestr(ctype, "json")) {
                json_t *body = json_parse(req->body, req->body_len, JSON_DECODE_ANY,
                                          EVK_JSON_MAX_DEPTH, "The request body", err);
                if (!body) {
                    json_decref(request);
                    return NULL;
                }
                if (json_is_object(body)) json_object_update(request, body);
                else json_object_set_new(request, "__ow_body", body_string(req->body, req->body_len));
                json_decref(body);
            } else {
                json_object_set_new(request, "__ow_body", body_string(req->body, req->body_len));
            }
        }
        const char *bad = reserved_key(request, "__ow_body");
        if (bad) {
            err_code(err, EVK_INVALID, "Request defines parameters that are not allowed (e.g., "
                                       "reserved properties): '%s'.", bad);
            json_decref(request);
            return NULL;
        }
    } else if (req->query && reserved_key(req->query, NULL)) {
        err_code(err, EVK_INVALID, "Request defines parameters that are not allowed (e.g., "
                                   "reserved properties): '%s'.", reserved_key(req->query, NULL));
        json_decref(request);
        return NULL;
    }

    json_t *params = runtime_params(action, request, err);
    json_decref(request);
    if (!params) {
        /* What runtime_params refuses is the request's params. */
        err->code = EVK_INVALID;
        return NULL;
    }
    char *method = xstrdup(req->method ? req->method : "get");
    for (char *p = method; *p; p++) *p = (char)tolower((unsigned char)*p);
    json_object_set_new(params, "__ow_method", json_string(method));
    free(method);
    json_object_set(params, "__ow_headers", req->headers ? req->headers : json_object());
    json_object_set_new(params, "__ow_path", json_string(req->path ? req->path : ""));
    if (raw) {
        json_object_set_new(params, "__ow_query", json_string(req->query_raw ? req->query_raw : ""));
        json_object_set_new(params, "__ow_body", req->body_len ? body_string(req->body, req->body_len)
                                                               : json_string(""));
    }
    json_t *signed_body = json_object_get(action->annotations, "signed-body");
    if (json_is_true(signed_body) ||
        (json_is_string(signed_body) && strcmp(json_string_value(signed_body), "true") == 0))
        json_object_set_new(params, "__ow_raw_body", body_string(req->body ? req->body : "",
                                                                 req->body_len));
    return params;
}

static bool is_binary_type(const char *ctype)
{
    if (!ctype) return false;
    return strncasecmp(ctype, "image/", 6) == 0 || strncasecmp(ctype, "audio/", 6) == 0 ||
           strncasecmp(ctype, "video/", 6) == 0 ||
           strncasecmp(ctype, "application/octet-stream", 24) == 0 ||
           strncasecmp(ctype, "application/pdf", 15) == 0 ||
           strncasecmp(ctype, "application/zip", 15) == 0;
}

/* Maps an http-shaped object {statusCode, headers, body}. */
static void render_http(const json_t *r, int dflt_status, web_response *out)
{
    json_t *sc = json_object_get(r, "statusCode");
    json_t *hdrs = json_object_get(r, "headers");
    json_t *body = json_object_get(r, "body");
    int status = dflt_status;
    if (sc) {
        if (json_is_integer(sc)) status = (int)json_integer_value(sc);
        else if (json_is_real(sc)) status = (int)json_real_value(sc);
        else if (json_is_string(sc)) status = atoi(json_string_value(sc));
        else status = 0;
        if (status < 100 || status > 599) {
            web_error(out, 502, "The action produced an invalid statusCode.");
            return;
        }
    }
    if (hdrs && !json_is_object(hdrs)) {
        web_error(out, 502, "The action produced invalid headers: an object is required.");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(hdrs, k, v) {
        char *name = xstrdup(k);
        for (char *p = name; *p; p++) *p = (char)tolower((unsigned char)*p);
        if (json_is_string(v)) json_object_set(out->headers, name, v);
        else if (json_is_number(v) || json_is_boolean(v)) {
            char *s = json_text(v, JSON_ENCODE_ANY);
            json_object_set_new(out->headers, name, json_string(s));
            free(s);
        }
        free(name);
    }
    const char *ctype = json_string_value(json_object_get(out->headers, "content-type"));
    out->status = status;
    if (!body || json_is_null(body)) {
        if (!sc) out->status = 204;
        return;
    }
    if (json_is_string(body)) {
        const char *s = json_string_value(body);
        size_t n = json_str_len(body); /* a kept number: its text, never its key */
        if (is_binary_type(ctype)) {
            size_t len = 0;
            unsigned char *bin = base64_decode(s, n, &len, NULL);
            if (bin) {
                out->body = (char *)bin;
                out->body_len = len;
                return;
            }
        }
        out->body = xstrndup(s, n);
        out->body_len = n;
        if (!ctype) json_object_set_new(out->headers, "content-type", json_string("text/html; charset=utf-8"));
        return;
    }
    out->body = json_text(body, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    out->body_len = strlen(out->body);
    if (!ctype) json_object_set_new(out->headers, "content-type", json_string("application/json"));
}

void web_render(const invoke_result *res, web_response *out)
{
    json_object_set_new(out->headers, "x-openwhisk-activation-id", json_string(res->activation_id));
    const json_t *r = res->result;
    if (res->status == ACT_DEV_ERROR || res->status == ACT_INTERNAL_ERROR) {
        json_t *e = json_object_get(r, "error");
        json_t *body = json_pack("{s:O, s:s}", "error", e ? e : json_string("The action failed."),
                                 "activationId", res->activation_id);
        int st = res->status == ACT_INTERNAL_ERROR ? 500 : res->timed_out ? 504 : 502;
        web_json(out, st, body);
        return;
    }
    if (!json_is_object(r)) {
        web_error(out, 502, "The action did not produce a valid response.");
        return;
    }
    json_t *err = json_object_get(r, "error");
    if (err) {
        if (json_is_object(err) && (json_object_get(err, "statusCode") ||
                                    json_object_get(err, "body") || json_object_get(err, "headers")))
            render_http(err, 400, out);
        else web_json(out, 400, json_pack("{s:O}", "error", err));
        return;
    }
    if (!json_object_get(r, "statusCode") && !json_object_get(r, "headers") &&
        !json_object_get(r, "body")) {
        /* Not shaped as an HTTP response: the result itself is the JSON body. */
        if (json_object_size(r) == 0) out->status = 204;
        else web_json(out, 200, json_deep_copy(r));
        return;
    }
    render_http(r, 200, out);
}

int web_bearer_ok(const json_t *headers, const json_t *tokens)
{
    const json_t *v = json_object_get(headers, "authorization");
    const char *auth = json_string_value(v);
    /* A NUL inside would end the token early: "Bearer <token>\0junk" must not pass. */
    if (!auth || strlen(auth) != json_string_length(v)) return 0;
    if (strncasecmp(auth, "Bearer ", 7) != 0) return 0;
    const char *tok = auth + 7;
    while (*tok == ' ') tok++;
    return web_token_ok(tokens, tok, strlen(tok));
}

bool web_token_ok(const json_t *tokens, const char *tok, size_t n)
{
    bool ok = false;
    size_t i;
    json_t *t;
    json_array_foreach(tokens, i, t) {
        const char *s = json_string_value(t);
        if (s && n > 0 && strlen(s) == n && CRYPTO_memcmp(s, tok, n) == 0) ok = true;
    }
    return ok;
}
