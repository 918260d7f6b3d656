/* ims: client-credentials tokens as Adobe IMS issues them, and their
 * verification. See ims.h. */
#include "http/ims.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/log.h"
#include "core/util.h"
#include "core/json_io.h"

/* The store's name of the signing key. */
#define IMS_KEY_NAME "ims-hs256"
#define FORM_MAX_FIELDS 64

struct ims {
    char *client_id, *client_secret;  /* NULL when not configured */
    unsigned char key[IMS_KEY_LEN];
};

static char *setting_or_null(const char *v)
{
    return v && *v ? xstrdup(v) : NULL;
}

ims_t *ims_new(engine_t *e)
{
    ims_t *m = xcalloc(1, sizeof *m);
    m->client_id = setting_or_null(e->config->oauth_client_id);
    m->client_secret = setting_or_null(e->config->oauth_client_secret);
    if (!ims_enabled(m)) return m;
    err_t err;
    if (!e->store || store_key_get(e->store, IMS_KEY_NAME, m->key, sizeof m->key, &err) < 0) {
        /* Tokens then last as long as this process: still usable, said once. */
        if (e->store)
            log_warn("cannot read the IMS signing key; tokens will not survive a restart",
                     json_pack("{s:s}", "error", err.msg));
        if (random_bytes(m->key, sizeof m->key) < 0) abort();
    }
    return m;
}

static void secret_free(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void ims_free(ims_t *m)
{
    if (!m) return;
    free(m->client_id);
    secret_free(m->client_secret);
    OPENSSL_cleanse(m->key, sizeof m->key);
    free(m);
}

bool ims_enabled(const ims_t *m)
{
    return m && m->client_id && m->client_secret;
}

/* ---- JWT ---- */

static char *b64url(const void *data, size_t len)
{
    char *s = base64_encode(data, len, NULL);
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '=') continue;
        *o++ = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    }
    *o = '\0';
    return s;
}

static void hs256(const unsigned char *key, size_t keylen, const char *data, size_t n,
                  unsigned char mac[32])
{
    unsigned int maclen = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n, mac, &maclen);
}

char *ims_jwt_sign(const unsigned char *key, size_t keylen, const json_t *payload)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"evkit-ims\"}";
    char *body = json_text(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *h64 = b64url(header, strlen(header));
    char *p64 = b64url(body, strlen(body));
    char *signing = xasprintf("%s.%s", h64, p64);
    unsigned char mac[32];
    hs256(key, keylen, signing, strlen(signing), mac);
    char *s64 = b64url(mac, sizeof mac);
    char *jwt = xasprintf("%s.%s", signing, s64);
    free(body);
    free(h64);
    free(p64);
    free(signing);
    free(s64);
    return jwt;
}

/* A JSON object from one base64url segment of n characters, or NULL. */
static json_t *segment_json(const char *s, size_t n)
{
    size_t len = 0;
    unsigned char *raw = base64_decode(s, n, &len, NULL);
    json_t *j = raw ? json_loadb((const char *)raw, len, 0, NULL) : NULL;
    free(raw);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool b64url_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return false;
    return n > 0;
}

json_t *ims_jwt_verify(const unsigned char *key, size_t keylen, const char *token, err_t *err)
{
    const char *d1 = token ? strchr(token, '.') : NULL;
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || strchr(d2 + 1, '.') || strlen(token) > 8192 ||
        !b64url_chars(token, (size_t)(d1 - token)) ||
        !b64url_chars(d1 + 1, (size_t)(d2 - d1 - 1)) || !b64url_chars(d2 + 1, strlen(d2 + 1))) {
        err_code(err, EVK_UNAUTHORIZED, "not a JWT");
        return NULL;
    }
    json_t *header = segment_json(token, (size_t)(d1 - token));
    const char *alg = json_string_value(json_object_get(header, "alg"));
    bool hs = alg && !strcmp(alg, "HS256");
    json_decref(header);
    if (!hs) {
        err_code(err, EVK_UNAUTHORIZED, "the token is not signed HS256");
        return NULL;
    }
    unsigned char mac[32];
    hs256(key, keylen, token, (size_t)(d2 - token), mac);
    size_t siglen = 0;
    unsigned char *sig = base64_decode(d2 + 1, strlen(d2 + 1), &siglen, NULL);
    bool ok = sig && siglen == sizeof mac && CRYPTO_memcmp(sig, mac, sizeof mac) == 0;
    free(sig);
    if (!ok) {
        err_code(err, EVK_UNAUTHORIZED, "the token's signature does not verify");
        return NULL;
    }
    json_t *payload = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!payload) err_code(err, EVK_UNAUTHORIZED, "the token's payload is not a JSON object");
    return payload;
}

/* A whole number written as a string (IMS writes created_at and expires_in so). */
static bool ms_field(const json_t *payload, const char *name, int64_t *out)
{
    const char *s = json_string_value(json_object_get(payload, name));
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 15) return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

bool ims_payload_live(const json_t *payload, int64_t now_ms)
{
    const char *type = json_string_value(json_object_get(payload, "type"));
    int64_t created, expires;
    return type && !strcmp(type, "access_token") && ms_field(payload, "created_at", &created) &&
           ms_field(payload, "expires_in", &expires) && created + expires > now_ms;
}

json_t *ims_token_check(const ims_t *m, const char *token, int64_t now_ms)
{
    if (!ims_enabled(m)) return NULL;
    err_t err;
    json_t *p = ims_jwt_verify(m->key, sizeof m->key, token, &err);
    const char *client = json_string_value(json_object_get(p, "client_id"));
    if (p && (!client || strcmp(client, m->client_id) || !ims_payload_live(p, now_ms))) {
        json_decref(p);
        p = NULL;
    }
    return p;
}

bool ims_bearer_ok(const ims_t *m, const json_t *headers)
{
    const char *auth = json_string_value(json_object_get(headers, "authorization"));
    if (!ims_enabled(m) || !auth || strncasecmp(auth, "Bearer ", 7) != 0) return false;
    const char *tok = auth + 7;
    while (*tok == ' ') tok++;
    json_t *p = ims_token_check(m, tok, now_ms());
    json_decref(p);
    return p != NULL;
}

/* ---- forms ---- */

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* n bytes of urlencoded text decoded ('+' is a space), or NULL when not UTF-8. */
static json_t *url_decoded(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            out[o++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

static json_t *parse_urlencoded(const char *body, size_t len, err_t *err)
{
    json_t *fields = json_object();
    size_t count = 0;
    for (size_t at = 0; at < len;) {
        const char *amp = memchr(body + at, '&', len - at);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + at, '=', end - at);
        size_t klen = eq ? (size_t)(eq - body) - at : end - at;
        if (klen > 0) {
            json_t *k = url_decoded(body + at, klen);
            json_t *v = eq ? url_decoded(eq + 1, end - (size_t)(eq + 1 - body)) : json_string("");
            if (!k || !v || ++count > FORM_MAX_FIELDS) {
                json_decref(k);
                json_decref(v);
                json_decref(fields);
                err_code(err, EVK_INVALID, "the form is malformed");
                return NULL;
            }
            json_object_set_new(fields, json_string_value(k), v);
            json_decref(k);
        }
        at = end + 1;
    }
    return fields;
}

/* The boundary parameter of a multipart content type, or NULL. Caller frees. */
static char *boundary_of(const char *ctype)
{
    const char *b = strcasestr(ctype, "boundary=");
    if (!b) return NULL;
    b += 9;
    size_t n;
    if (*b == '"') {
        b++;
        n = strcspn(b, "\"");
    } else {
        n = strcspn(b, "; \t");
    }
    return n > 0 && n <= 70 ? xstrndup(b, n) : NULL;
}

static const char *mem_find(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || n < m) return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && !memcmp(hay + i, needle, m)) return hay + i;
    return NULL;
}

/* The name="..." of a part's headers (hlen bytes), or NULL. Caller frees. */
static char *part_name(const char *headers, size_t hlen)
{
    char *h = xstrndup(headers, hlen);
    char *name = NULL;
    for (char *line = h; line && *line;) {
        char *next = strstr(line, "\r\n");
        if (next) *next = '\0';
        if (!strncasecmp(line, "content-disposition:", 20)) {
            const char *p = strstr(line, " name=\"");
            if (!p) p = strstr(line, ";name=\"");
            if (p) {
                p += 7;
                name = xstrndup(p, strcspn(p, "\""));
            }
        }
        line = next ? next + 2 : NULL;
    }
    free(h);
    return name;
}

static json_t *parse_multipart(const char *ctype, const char *body, size_t len, err_t *err)
{
    char *boundary = boundary_of(ctype);
    if (!boundary) {
        err_code(err, EVK_INVALID, "the multipart form has no boundary");
        return NULL;
    }
    char *delim = xasprintf("--%s", boundary);
    size_t dlen = strlen(delim);
    json_t *fields = json_object();
    bool ok = false;
    size_t count = 0;
    const char *p = mem_find(body, len, delim, dlen);
    while (p) {
        const char *after = p + dlen;
        size_t left = len - (size_t)(after - body);
        if (left >= 2 && !memcmp(after, "--", 2)) {
            ok = true; /* the closing delimiter */
            break;
        }
        if (left < 2 || memcmp(after, "\r\n", 2)) break;
        after += 2;
        left -= 2;
        const char *hend = mem_find(after, left, "\r\n\r\n", 4);
        if (!hend) break;
        const char *data = hend + 4;
        const char *next = mem_find(data, len - (size_t)(data - body), delim, dlen);
        if (!next || next - data < 2 || memcmp(next - 2, "\r\n", 2) || ++count > FORM_MAX_FIELDS)
            break;
        char *name = part_name(after, (size_t)(hend - after));
        json_t *v = json_stringn(data, (size_t)(next - 2 - data));
        if (name && *name && v) json_object_set(fields, name, v);
        json_decref(v);
        free(name);
        p = next;
    }
    free(boundary);
    free(delim);
    if (!ok) {
        json_decref(fields);
        err_code(err, EVK_INVALID, "the multipart form is malformed");
        return NULL;
    }
    return fields;
}

json_t *ims_form_parse(const char *content_type, const char *body, size_t len, err_t *err)
{
    if (!content_type) content_type = "";
    if (!strncasecmp(content_type, "application/x-www-form-urlencoded", 33))
        return parse_urlencoded(body ? body : "", len, err);
    if (!strncasecmp(content_type, "multipart/form-data", 19))
        return parse_multipart(content_type, body ? body : "", len, err);
    err_code(err, EVK_INVALID, "send the form as application/x-www-form-urlencoded or "
                               "multipart/form-data");
    return NULL;
}

/* ---- POST /ims/token/v2|v3 ---- */

/* An error answer in IMS's own words: {"error", "error_description"}. */
static void ims_error(web_response *out, int status, const char *error, const char *description)
{
    web_json(out, status,
             json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

static bool secret_matches(const char *want, const char *given)
{
    size_t n = strlen(want);
    return given && strlen(given) == n && CRYPTO_memcmp(want, given, n) == 0;
}

void api_ims_token(http_ctx *h, const api_request *req, web_response *out)
{
    const ims_t *m = h->ims;
    const char *ctype = json_string_value(json_object_get(req->headers, "content-type"));
    err_t err;
    json_t *form = ims_form_parse(ctype, req->body, req->body_len, &err);
    if (!form) {
        ims_error(out, 400, "invalid_request", err.msg);
        return;
    }
    /* The token endpoints also take the client in the query. */
    const char *client = json_string_value(json_object_get(form, "client_id"));
    if (!client) client = json_string_value(json_object_get(req->query, "client_id"));
    const char *secret = json_string_value(json_object_get(form, "client_secret"));
    const char *grant = json_string_value(json_object_get(form, "grant_type"));
    const char *scope = json_string_value(json_object_get(form, "scope"));
    if (!client || !*client) {
        ims_error(out, 400, "invalid_request", "missing client_id parameter");
    } else if (!ims_enabled(m) || strcmp(client, m->client_id)) {
        ims_error(out, 400, "invalid_client", "invalid client_id parameter");
    } else if (!secret_matches(m->client_secret, secret)) {
        ims_error(out, 401, "invalid_client", "invalid client_secret parameter");
    } else if (!grant || strcmp(grant, "client_credentials")) {
        ims_error(out, 400, "unsupported_grant_type", "only client_credentials is served here");
    } else {
        char id[37], created[24], expires[24];
        uuid_v4(id);
        snprintf(created, sizeof created, "%lld", (long long)now_ms());
        snprintf(expires, sizeof expires, "%lld", (long long)IMS_TOKEN_TTL_MS);
        json_t *payload = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id,
                                    "type", "access_token", "client_id", client, "user_id",
                                    client, "as", "ims-na1", "scope", scope ? scope : "",
                                    "created_at", created, "expires_in", expires, "iss", "evkit");
        char *jwt = ims_jwt_sign(m->key, sizeof m->key, payload);
        json_decref(payload);
        web_json(out, 200, json_pack("{s:s, s:s, s:I}", "access_token", jwt, "token_type", "bearer",
                                     "expires_in", (json_int_t)(IMS_TOKEN_TTL_MS / 1000)));
        OPENSSL_cleanse(jwt, strlen(jwt));
        free(jwt);
        json_object_set_new(out->headers, "cache-control", json_string("no-store"));
    }
    /* The secret was in the form: wipe it before the form goes. */
    if (secret) OPENSSL_cleanse((char *)secret, strlen(secret));
    json_decref(form);
}
