/* lua_host: the `evkit` module that Lua actions use to reach the rest of
 * evkit (json, log, publish, invoke, crypto, state, http, schema), and the JSON <->
 * Lua conversion the Lua backend applies to params and results.
 *
 * Every function here runs inside a protected call of an activation; the
 * activation comes from the interpreter's slot (lua_host_slot). The memory
 * cap can make any allocating Lua API call raise, so C-owned memory is
 * parked in guards (userdata with __gc) before such calls: a raise then
 * frees it at the next collection instead of leaking it. */
#include "runtime/lua_host.h"

#include <curl/curl.h>
#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "schema/schema.h"
#include "store/store.h"

/* Registry keys are addresses (lua_rawgetp): looking them up never
 * allocates, so it cannot raise. */
static char null_tag;          /* its address is evkit.json.null */
static char array_mt_key;
static char guard_mt_key;
static char module_key;
static char schema_cache_key;
static char schema_mt_key;

#define JSON_NULL_UD ((void *)&null_tag)
#ifndef EVKIT_VERSION
#define EVKIT_VERSION "dev"
#endif
#define HTTP_MAX_BODY (10u * 1024 * 1024)
#define HTTP_MAX_HEADERS (1u * 1024 * 1024)

activation_t *lua_host_activation(lua_State *L)
{
    lua_slot *s = lua_host_slot(L);
    if (!s || !s->a) luaL_error(L, "evkit: no activation is running");
    return s->a;
}

void lua_host_log(activation_t *a, const char *stream, const char *text, size_t len)
{
    if (!a) return;
    /* One log line per line, as OpenWhisk records them; a trailing newline
     * ends the last line rather than starting an empty one. */
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == '\n') {
            if (i == len && start == len && len > 0) break;
            activation_log(a, stream, text + start, i - start);
            start = i + 1;
        }
    }
}

/* ---- guards ---- */

typedef struct guard {
    void (*fn)(void *);
    void *p;
} guard;

static int guard_gc(lua_State *L)
{
    guard *g = lua_touserdata(L, 1);
    if (g && g->p) {
        void *p = g->p;
        g->p = NULL;
        g->fn(p);
    }
    return 0;
}

void **lua_host_guard(lua_State *L, void (*fn)(void *))
{
    guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->fn = fn;
    g->p = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &guard_mt_key);
    lua_setmetatable(L, -2);
    return &g->p;
}

void lua_host_guard_release(lua_State *L, int idx)
{
    guard *g = lua_touserdata(L, idx);
    if (g && g->p) {
        void *p = g->p;
        g->p = NULL;
        g->fn(p);
    }
}

void lua_host_json_free(void *p)
{
    json_decref(p);
}

/* ---- JSON -> Lua ---- */

static void push_json(lua_State *L, const json_t *v, int depth)
{
    if (!lua_checkstack(L, 4)) luaL_error(L, "JSON nesting too deep");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= LUA_HOST_MAX_DEPTH)
            luaL_error(L, "JSON nesting deeper than %d levels", LUA_HOST_MAX_DEPTH);
        size_t n = json_object_size(v);
        lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            lua_pushlstring(L, json_object_iter_key(it), json_object_iter_key_len(it));
            push_json(L, json_object_iter_value(it), depth + 1);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        if (depth >= LUA_HOST_MAX_DEPTH)
            luaL_error(L, "JSON nesting deeper than %d levels", LUA_HOST_MAX_DEPTH);
        size_t n = json_array_size(v);
        lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_json(L, json_array_get(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
        lua_setmetatable(L, -2);
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    default:
        lua_pushlightuserdata(L, JSON_NULL_UD);
        break;
    }
}

void lua_host_push_json(lua_State *L, const json_t *v)
{
    if (!v) {
        lua_pushlightuserdata(L, JSON_NULL_UD);
        return;
    }
    push_json(L, v, 0);
}

bool lua_host_is_array(lua_State *L, int idx)
{
    if (!lua_checkstack(L, 2) || !lua_getmetatable(L, idx)) return false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    bool is = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return is;
}

bool lua_host_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == JSON_NULL_UD;
}

/* ---- Lua -> JSON ----
 * Uses only Lua API calls that do not allocate (lua_next, lua_rawgeti,
 * lua_tolstring on strings, lua_checkstack), so it never raises and can run
 * while the caller holds C memory. */

typedef struct enc {
    lua_State *L;
    char *err;
    size_t errlen;
    char path[160];
    size_t plen;
} enc;

static json_t *enc_fail(enc *e, const char *fmt, const char *what)
{
    char msg[200];
    snprintf(msg, sizeof msg, fmt, what);
    if (e->plen)
        snprintf(e->err, e->errlen, "%s at '%s'", msg, e->path[0] == '.' ? e->path + 1 : e->path);
    else
        snprintf(e->err, e->errlen, "%s", msg);
    return NULL;
}

/* Moves the path end past what snprintf wrote (it may have truncated). */
static void enc_advance(enc *e, int n)
{
    if (n <= 0) return;
    e->plen += (size_t)n;
    if (e->plen >= sizeof e->path) e->plen = sizeof e->path - 1;
}

/* Appends a path segment for error messages; returns the length to restore. */
static size_t enc_push_key(enc *e, const char *key, size_t klen)
{
    size_t saved = e->plen;
    if (e->plen < sizeof e->path - 1)
        enc_advance(e, snprintf(e->path + e->plen, sizeof e->path - e->plen, ".%.*s",
                                (int)(klen > 60 ? 60 : klen), key));
    return saved;
}

static size_t enc_push_index(enc *e, lua_Integer i)
{
    size_t saved = e->plen;
    if (e->plen < sizeof e->path - 1)
        enc_advance(e, snprintf(e->path + e->plen, sizeof e->path - e->plen, "[%lld]",
                                (long long)i));
    return saved;
}

static void enc_pop(enc *e, size_t saved)
{
    e->plen = saved;
    e->path[saved] = '\0';
}

static json_t *enc_value(enc *e, int idx, int depth);

static json_t *enc_array(enc *e, int idx, lua_Integer n, int depth)
{
    lua_State *L = e->L;
    json_t *arr = json_array();
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        size_t saved = enc_push_index(e, i);
        json_t *child = enc_value(e, -1, depth + 1);
        enc_pop(e, saved);
        lua_pop(L, 1);
        if (!child) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, child);
    }
    return arr;
}

static json_t *enc_table(enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    if (depth >= LUA_HOST_MAX_DEPTH) {
        char lim[32];
        snprintf(lim, sizeof lim, "%d", LUA_HOST_MAX_DEPTH);
        return enc_fail(e, "cannot encode a table nested deeper than %s levels (is there a cycle?)",
                        lim);
    }
    if (!lua_checkstack(L, 6)) return enc_fail(e, "cannot encode: %s", "Lua stack exhausted");
    idx = lua_absindex(L, idx);
    if (lua_host_is_array(L, idx)) return enc_array(e, idx, (lua_Integer)lua_rawlen(L, idx), depth);

    /* An unmarked table is an array when its keys are exactly 1..n, an
     * object when they are all strings; anything else has no JSON form. */
    size_t nstr = 0, nint = 0;
    lua_Integer maxk = 0;
    const char *badkey = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int kt = lua_type(L, -1);
        if (kt == LUA_TSTRING) {
            nstr++;
        } else if (kt == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            nint++;
            if (lua_tointeger(L, -1) > maxk) maxk = lua_tointeger(L, -1);
        } else if (!badkey) {
            badkey = kt == LUA_TNUMBER ? "number" : lua_typename(L, kt);
        }
    }
    if (badkey) return enc_fail(e, "cannot encode a table with a key of type %s", badkey);
    if (nint && nstr)
        return enc_fail(e, "cannot encode mixed table (%s)",
                        "keys must be all strings, or exactly 1..n");
    if (nint) {
        if ((lua_Integer)nint != maxk)
            return enc_fail(e, "cannot encode sparse array (%s)", "keys must be exactly 1..n");
        return enc_array(e, idx, maxk, depth);
    }
    json_t *obj = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen); /* a string key: no conversion */
        size_t saved = enc_push_key(e, k, klen);
        json_t *child = enc_value(e, -1, depth + 1);
        lua_pop(L, 1);
        if (!child) {
            json_decref(obj);
            lua_pop(L, 1);
            return NULL;
        }
        if (json_object_setn_new(obj, k, klen, child) < 0) {
            json_decref(obj);
            lua_pop(L, 1);
            enc_fail(e, "cannot encode a key that is %s", "not valid UTF-8");
            enc_pop(e, saved);
            return NULL;
        }
        enc_pop(e, saved);
    }
    return obj;
}

static json_t *enc_value(enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        double d = (double)lua_tonumber(L, idx);
        if (!isfinite(d)) return enc_fail(e, "cannot encode %s", "NaN or infinity");
        /* 10/2 is 5.0 in Lua; JSON readers expect 5. */
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return json_integer((json_int_t)d);
        return json_real(d);
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *j = json_stringn(s, len);
        if (!j) return enc_fail(e, "cannot encode a string that is %s", "not valid UTF-8");
        return j;
    }
    case LUA_TTABLE:
        return enc_table(e, idx, depth);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == JSON_NULL_UD) return json_null();
        return enc_fail(e, "cannot encode a value of type %s", "userdata");
    default:
        return enc_fail(e, "cannot encode a value of type %s", lua_typename(L, lua_type(L, idx)));
    }
}

int lua_host_to_json(lua_State *L, int idx, json_t **out, char *err, size_t errlen)
{
    enc e = {.L = L, .err = err, .errlen = errlen};
    e.path[0] = '\0';
    *out = enc_value(&e, lua_absindex(L, idx), 0);
    return *out ? 0 : -1;
}

bool lua_host_push_encoded(lua_State *L, int idx, size_t flags)
{
    idx = lua_absindex(L, idx);
    void **g = lua_host_guard(L, free);
    json_t *j;
    char err[256];
    if (lua_host_to_json(L, idx, &j, err, sizeof err) < 0) {
        lua_pop(L, 1);
        return false;
    }
    *g = json_dumps(j, flags | JSON_ENCODE_ANY);
    json_decref(j);
    if (!*g) {
        lua_pop(L, 1);
        return false;
    }
    lua_pushstring(L, *g);
    lua_host_guard_release(L, -2);
    lua_remove(L, -2);
    return true;
}

/* ---- evkit.json ---- */

static int l_json_encode(lua_State *L)
{
    lua_settop(L, 2);
    size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "pretty");
        if (lua_toboolean(L, -1)) flags = JSON_INDENT(2) | JSON_SORT_KEYS;
        lua_pop(L, 1);
    }
    void **g = lua_host_guard(L, free);
    json_t *j;
    char err[256];
    if (lua_host_to_json(L, 1, &j, err, sizeof err) < 0)
        return luaL_error(L, "evkit.json.encode: %s", err);
    *g = json_dumps(j, flags | JSON_ENCODE_ANY);
    json_decref(j);
    if (!*g) return luaL_error(L, "evkit.json.encode: cannot encode the value");
    lua_pushstring(L, *g);
    lua_host_guard_release(L, 3);
    return 1;
}

static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    void **g = lua_host_guard(L, lua_host_json_free);
    json_error_t je;
    *g = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*g)
        return luaL_error(L, "evkit.json.decode: invalid JSON at line %d, column %d: %s", je.line,
                          je.column, je.text);
    lua_host_push_json(L, *g);
    lua_host_guard_release(L, 2);
    return 1;
}

static int l_json_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (lua_getmetatable(L, 1)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
        if (!lua_rawequal(L, -1, -2))
            return luaL_error(L, "evkit.json.array: the table already has a metatable");
        lua_pop(L, 2);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_json_is_array(lua_State *L)
{
    lua_pushboolean(L, lua_istable(L, 1) && lua_host_is_array(L, 1));
    return 1;
}

/* ---- evkit.log ---- */

/* Tables are logged through the daemon's redaction, so that logging params
 * never writes a secret, whatever the action forgot to hide. */
static bool push_encoded_redacted(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    void **g = lua_host_guard(L, free);
    json_t *j;
    char err[256];
    if (lua_host_to_json(L, idx, &j, err, sizeof err) < 0) {
        lua_pop(L, 1);
        return false;
    }
    json_t *r = log_redact(j);
    json_decref(j);
    *g = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(r);
    if (!*g) {
        lua_pop(L, 1);
        return false;
    }
    lua_pushstring(L, *g);
    lua_host_guard_release(L, -2);
    lua_remove(L, -2);
    return true;
}

static int log_at(lua_State *L, log_level lvl, const char *tag)
{
    activation_t *a = lua_host_activation(L);
    json_t *ll = a->params ? json_object_get(a->params, "LOG_LEVEL") : NULL;
    if (lvl < log_level_parse(json_string_value(ll), LOG_INFO)) return 0;
    int n = lua_gettop(L);
    luaL_checkstack(L, 2 * n + 4, "too many arguments");
    lua_pushstring(L, tag);
    for (int i = 1; i <= n; i++) {
        lua_pushliteral(L, " ");
        if (lua_host_is_null(L, i)) lua_pushliteral(L, "null");
        else if (!lua_istable(L, i) || !push_encoded_redacted(L, i))
            luaL_tolstring(L, i, NULL);
    }
    lua_concat(L, 2 * n + 1);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    lua_host_log(a, "stdout", s, len);
    return 0;
}

static int l_log_debug(lua_State *L) { return log_at(L, LOG_DEBUG, "[DEBUG]"); }
static int l_log_info(lua_State *L) { return log_at(L, LOG_INFO, "[INFO]"); }
static int l_log_warn(lua_State *L) { return log_at(L, LOG_WARN, "[WARN]"); }
static int l_log_error(lua_State *L) { return log_at(L, LOG_ERROR, "[ERROR]"); }

/* ---- evkit.publish ---- */

static int l_publish(lua_State *L)
{
    activation_t *a = lua_host_activation(L);
    const char *provider = luaL_checkstring(L, 1);
    const char *type = luaL_checkstring(L, 2);
    lua_settop(L, 4);
    const char *key = NULL;
    if (!lua_isnil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_getfield(L, 4, "idempotency_key"); /* stays at 5 while key is used */
        if (!lua_isnil(L, 5)) {
            if (lua_type(L, 5) != LUA_TSTRING)
                return luaL_error(L, "evkit.publish: opts.idempotency_key must be a string");
            key = lua_tostring(L, 5);
        }
    } else {
        lua_pushnil(L);
    }
    if (!a->engine || !a->engine->store) {
        lua_pushnil(L);
        lua_pushliteral(L, "publishing is not available here");
        return 2;
    }
    void **g = lua_host_guard(L, lua_host_json_free); /* 6 */
    json_t *data;
    char msg[256];
    if (lua_host_to_json(L, 3, &data, msg, sizeof msg) < 0)
        return luaL_error(L, "evkit.publish: data: %s", msg);
    *g = data;
    store_append_result res;
    memset(&res, 0, sizeof res);
    err_t err = {0};
    int rc = engine_publish(a->engine, provider, type, data, key, &res, &err);
    lua_host_guard_release(L, 6);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg[0] ? err.msg : "publish failed");
        return 2;
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, res.id);
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, res.duplicate);
    lua_setfield(L, -2, "duplicate");
    lua_pushinteger(L, (lua_Integer)res.position);
    lua_setfield(L, -2, "position");
    return 1;
}

/* ---- evkit.invoke ---- */

static int l_invoke(lua_State *L)
{
    activation_t *a = lua_host_activation(L);
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    const action_t *act = a->engine && a->engine->app ? app_action(a->engine->app, name) : NULL;
    if (!act) {
        lua_pushnil(L);
        lua_pushfstring(L, "action '%s' not found", name);
        return 2;
    }
    void **greq = lua_host_guard(L, lua_host_json_free); /* 3 */
    void **gres = lua_host_guard(L, lua_host_json_free); /* 4 */
    json_t *req = NULL;
    char msg[256];
    if (lua_isnil(L, 2)) {
        req = json_object();
    } else if (lua_host_to_json(L, 2, &req, msg, sizeof msg) < 0) {
        return luaL_error(L, "evkit.invoke: params: %s", msg);
    } else if (!json_is_object(req)) {
        json_decref(req);
        if (lua_rawlen(L, 2) > 0)
            return luaL_error(L, "evkit.invoke: params must be a table with string keys");
        req = json_object(); /* {} read as an empty array */
    }
    *greq = req;
    err_t err = {0};
    json_t *full = runtime_params(act, req, &err);
    lua_host_guard_release(L, 3);
    if (!full) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    invoke_result res;
    memset(&res, 0, sizeof res);
    runtime_invoke(a->engine, act, full, a->id, &res);
    json_decref(full);
    *gres = res.result;
    if (res.result) lua_host_push_json(L, res.result);
    else lua_newtable(L);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, res.activation_id);
    lua_setfield(L, -2, "activationId");
    lua_pushstring(L, act_status_name(res.status));
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, (lua_Integer)res.duration_ms);
    lua_setfield(L, -2, "duration");
    lua_host_guard_release(L, 4);
    return 2;
}

/* ---- evkit.crypto ---- */

static int l_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL))
        return luaL_error(L, "evkit.crypto.sha256: digest failed");
    lua_pushlstring(L, (const char *)md, mdlen);
    return 1;
}

static int l_hmac_sha256(lua_State *L)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    if (klen > INT_MAX) return luaL_error(L, "evkit.crypto.hmac_sha256: key too long");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, md, &mdlen))
        return luaL_error(L, "evkit.crypto.hmac_sha256: HMAC failed");
    lua_pushlstring(L, (const char *)md, mdlen);
    return 1;
}

static int l_hex(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 2 * len);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, 2 * len);
    return 1;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int l_base64_encode(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    size_t outlen = (len + 2) / 3 * 4;
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, outlen);
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < len) v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < len) v |= s[i + 2];
        o[j++] = b64_alphabet[(v >> 18) & 63];
        o[j++] = b64_alphabet[(v >> 12) & 63];
        o[j++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        o[j++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    luaL_pushresultsize(&b, j);
    return 1;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62; /* standard and URL-safe alphabets */
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Accepts padded or unpadded input and ignores whitespace (PEM-style line
 * breaks); anything else is refused rather than skipped. */
static int l_base64_decode(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, len / 4 * 3 + 3);
    size_t j = 0, pad = 0, n = 0;
    unsigned acc = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < len && !bad; i++) {
        unsigned char c = s[i];
        if (isspace(c)) continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0) bad = "invalid base64 character";
        else if (pad) bad = "invalid base64: data after padding";
        else {
            acc = (acc << 6) | (unsigned)v;
            if (++n % 4 == 0) {
                o[j++] = (char)(acc >> 16);
                o[j++] = (char)(acc >> 8);
                o[j++] = (char)acc;
                acc = 0;
            }
        }
    }
    if (!bad) {
        size_t rest = n % 4;
        if (rest == 1) bad = "invalid base64: truncated input";
        else if (pad && (rest == 0 || rest + pad != 4)) bad = "invalid base64: bad padding";
        else if (rest == 2) o[j++] = (char)(acc >> 4);
        else if (rest == 3) {
            o[j++] = (char)(acc >> 10);
            o[j++] = (char)(acc >> 2);
        }
    }
    if (bad) {
        lua_pushnil(L);
        lua_pushstring(L, bad);
        return 2;
    }
    luaL_pushresultsize(&b, j);
    return 1;
}

static int l_equals(lua_State *L)
{
    size_t la, lb;
    const char *x = luaL_checklstring(L, 1, &la);
    const char *y = luaL_checklstring(L, 2, &lb);
    if (la != lb) {
        /* Same work as a comparison of x, so the time says no more than the
         * length, which the caller's format usually makes public anyway. */
        (void)CRYPTO_memcmp(x, x, la);
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, CRYPTO_memcmp(x, y, la) == 0);
    return 1;
}

static int l_uuid(lua_State *L)
{
    char id[37];
    uuid_v4(id);
    lua_pushstring(L, id);
    return 1;
}

/* ---- evkit.state ---- */

static store_t *state_store(lua_State *L, const char *fn)
{
    activation_t *a = lua_host_activation(L);
    if (!a->engine || !a->engine->store)
        luaL_error(L, "evkit.state.%s: no state store is available", fn);
    return a->engine->store;
}

static const char *state_key(lua_State *L, int idx)
{
    size_t len;
    const char *k = luaL_checklstring(L, idx, &len);
    if (strlen(k) != len || !store_state_key_valid(k)) {
        char shown[80];
        snprintf(shown, sizeof shown, "%.64s%s", k, strlen(k) > 64 ? "..." : "");
        luaL_error(L, "invalid state key '%s': keys are 1-1024 characters of [a-zA-Z0-9-_.]",
                   shown);
    }
    return k;
}

static int l_state_get(lua_State *L)
{
    store_t *st = state_store(L, "get");
    const char *key = state_key(L, 1);
    lua_settop(L, 1);
    void **g = lua_host_guard(L, lua_host_json_free);
    json_t *v = NULL;
    err_t err = {0};
    if (store_state_get(st, key, &v, &err) < 0)
        return luaL_error(L, "evkit.state.get: %s", err.msg);
    *g = v;
    if (v) lua_host_push_json(L, v);
    else lua_pushnil(L);
    lua_host_guard_release(L, 2);
    return 1;
}

static int l_state_put(lua_State *L)
{
    store_t *st = state_store(L, "put");
    const char *key = state_key(L, 1);
    lua_settop(L, 3);
    if (lua_isnil(L, 2))
        return luaL_error(L, "evkit.state.put: the value must not be nil (use evkit.state.delete)");
    int64_t ttl_ms = 0;
    if (!lua_isnil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "ttl");
        if (!lua_isnil(L, -1)) {
            int ok = 0;
            lua_Number ttl = lua_tonumberx(L, -1, &ok);
            if (!ok || !isfinite(ttl) || ttl < 0 || ttl > 1e12)
                return luaL_error(L, "evkit.state.put: opts.ttl must be a number of seconds");
            ttl_ms = (int64_t)(ttl * 1000.0);
            if (ttl > 0 && ttl_ms == 0) ttl_ms = 1;
        }
        lua_pop(L, 1);
    }
    void **g = lua_host_guard(L, lua_host_json_free); /* 4 */
    json_t *v;
    char msg[256];
    if (lua_host_to_json(L, 2, &v, msg, sizeof msg) < 0)
        return luaL_error(L, "evkit.state.put: %s", msg);
    *g = v;
    err_t err = {0};
    int rc = store_state_put(st, key, v, ttl_ms, &err);
    lua_host_guard_release(L, 4);
    if (rc < 0) return luaL_error(L, "evkit.state.put: %s", err.msg);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_state_delete(lua_State *L)
{
    store_t *st = state_store(L, "delete");
    const char *key = state_key(L, 1);
    bool existed = false;
    err_t err = {0};
    if (store_state_delete(st, key, &existed, &err) < 0)
        return luaL_error(L, "evkit.state.delete: %s", err.msg);
    lua_pushboolean(L, existed);
    return 1;
}

/* ---- evkit.http ---- */

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

typedef struct http_req {
    CURL *curl;
    struct curl_slist *headers;
    char *json_body;             /* a table body, encoded */
    buf_t body, head;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
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

static int l_http_request(lua_State *L)
{
    activation_t *a = lua_host_activation(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "url");      /* 2 */
    lua_getfield(L, 1, "method");   /* 3 */
    lua_getfield(L, 1, "headers");  /* 4 */
    lua_getfield(L, 1, "body");     /* 5 */
    lua_getfield(L, 1, "timeout");  /* 6 */
    lua_getfield(L, 1, "follow_redirects"); /* 7 */
    if (lua_type(L, 2) != LUA_TSTRING) return luaL_error(L, "evkit.http.request: url is required");
    const char *url = lua_tostring(L, 2);
    char method[16] = "GET";
    if (!lua_isnil(L, 3)) {
        const char *m = luaL_checkstring(L, 3);
        if (strlen(m) >= sizeof method || !http_token(m))
            return luaL_error(L, "evkit.http.request: invalid method");
        for (size_t i = 0; m[i]; i++) method[i] = (char)toupper((unsigned char)m[i]);
        method[strlen(m)] = '\0';
    }
    if (!lua_isnil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
    int bt = lua_type(L, 5);
    if (bt != LUA_TNIL && bt != LUA_TSTRING && bt != LUA_TTABLE)
        return luaL_error(L, "evkit.http.request: body must be a string or a table");
    int64_t remaining = a->deadline_ms > 0 ? a->deadline_ms - now_ms() : 60000;
    int64_t timeout = remaining;
    if (!lua_isnil(L, 6)) {
        int ok = 0;
        lua_Number t = lua_tonumberx(L, 6, &ok);
        if (!ok || !(t > 0))
            return luaL_error(L, "evkit.http.request: timeout must be milliseconds > 0");
        if (t < (lua_Number)timeout) timeout = (int64_t)t;
    }
    if (timeout <= 0) return http_fail(L, "timeout", "the activation's time limit has been reached");

    pthread_once(&curl_once, curl_init_once);
    char host[256] = "";
    if (http_host_is_invalid(url, host, sizeof host)) {
        char detail[320];
        snprintf(detail, sizeof detail, "cannot resolve host %s (.invalid names never resolve)",
                 host);
        return http_fail(L, "resolve", detail);
    }
    void **g = lua_host_guard(L, http_req_free); /* 8 */
    http_req *r = xcalloc(1, sizeof *r);
    *g = r;
    buf_init(&r->body, HTTP_MAX_BODY);
    buf_init(&r->head, HTTP_MAX_HEADERS);
    bool has_ctype = false;
    if (lua_istable(L, 4)) {
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            if (lua_type(L, -2) != LUA_TSTRING ||
                (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
                return luaL_error(L, "evkit.http.request: headers must map names to strings");
            const char *hn = lua_tostring(L, -2);
            lua_pushvalue(L, -1); /* convert a copy: keeps lua_next's key intact */
            const char *hv = lua_tostring(L, -1);
            if (!http_token(hn) || strpbrk(hv, "\r\n"))
                return luaL_error(L, "evkit.http.request: invalid header '%s'", hn);
            if (!strcasecmp(hn, "content-type")) has_ctype = true;
            char *line = xasprintf("%s: %s", hn, hv);
            r->headers = curl_slist_append(r->headers, line);
            free(line);
            lua_pop(L, 2);
        }
    }
    if (bt == LUA_TTABLE) {
        json_t *j;
        char msg[256];
        if (lua_host_to_json(L, 5, &j, msg, sizeof msg) < 0)
            return luaL_error(L, "evkit.http.request: body: %s", msg);
        r->json_body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        if (!has_ctype)
            r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    }

    r->curl = curl_easy_init();
    CURLSH *share = http_share();
    if (!r->curl || !share) {
        lua_host_guard_release(L, 8);
        return http_fail(L, "other", "cannot create an HTTP client");
    }
    CURL *c = r->curl;
    curl_easy_setopt(c, CURLOPT_SHARE, share);
    /* TLS is always verified; there is no option to turn it off. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "evkit/" EVKIT_VERSION);
    if (lua_toboolean(L, 7)) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    }
    if (r->headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
    const char *body = NULL;
    size_t blen = 0;
    if (bt == LUA_TSTRING) body = lua_tolstring(L, 5, &blen); /* stays on the stack */
    else if (r->json_body) {
        body = r->json_body;
        blen = strlen(body);
    }
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (body || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
               !strcmp(method, "PATCH")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        if (strcmp(method, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 64];
        const char *kind = http_error_kind(rc);
        if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            kind = "too_large";
            snprintf(msg, sizeof msg, "the response exceeds %u MB", HTTP_MAX_BODY / (1024 * 1024));
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(msg, sizeof msg, "no complete answer within %lld ms", (long long)timeout);
        } else {
            snprintf(msg, sizeof msg, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        }
        lua_host_guard_release(L, 8);
        return http_fail(L, kind, msg);
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    http_push_headers(L, r);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
    lua_setfield(L, -2, "body");
    lua_host_guard_release(L, 8);
    return 1;
}

/* ---- evkit.schema ---- */

/* Compiled schemas per interpreter, keyed by the schema's JSON text; a full
 * cache is dropped whole (handlers use a handful of schemas). */
#define SCHEMA_CACHE_MAX 64

/* A cache entry: a userdata owning one compiled schema. */
static int schema_ud_gc(lua_State *L)
{
    schema_t **ud = lua_touserdata(L, 1);
    if (ud && *ud) {
        schema_free(*ud);
        *ud = NULL;
    }
    return 0;
}

static void schema_errors_free_void(void *p)
{
    schema_errors_free(p);
    free(p);
}

/* Pushes the guard that owns the compiled schema for the schema at idx
 * (a table or a JSON string); raises when the schema is invalid. */
static schema_t *schema_for(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    char msg[300];
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx); /* the key: the text as given */
    } else if (lua_type(L, idx) == LUA_TTABLE || lua_type(L, idx) == LUA_TBOOLEAN) {
        void **g = lua_host_guard(L, lua_host_json_free);
        json_t *j;
        if (lua_host_to_json(L, idx, &j, msg, sizeof msg) < 0)
            luaL_error(L, "evkit.schema.validate: invalid schema: %s", msg);
        *g = j;
        void **gt = lua_host_guard(L, free);
        *gt = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!*gt) luaL_error(L, "evkit.schema.validate: invalid schema: cannot encode it");
        lua_pushstring(L, *gt);
        lua_replace(L, -3);
        lua_pop(L, 1);       /* frees the text at the next collection */
    } else {
        luaL_error(L, "evkit.schema.validate: the schema must be a table or a JSON string");
    }
    /* key */
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &schema_cache_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 8);
        lua_pushinteger(L, 0);
        lua_setfield(L, -2, "\x01n");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &schema_cache_key);
    }
    /* key cache */
    lua_pushvalue(L, -2);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        schema_t *s = *(schema_t **)lua_touserdata(L, -1);
        lua_pop(L, 3);
        return s;
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "\x01n");
    lua_Integer count = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (count >= SCHEMA_CACHE_MAX) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 8);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &schema_cache_key);
        count = 0;
    }
    lua_pushinteger(L, count + 1);
    lua_setfield(L, -2, "\x01n");
    /* key cache: compile into a userdata kept as the cache entry */
    schema_t **g = lua_newuserdatauv(L, sizeof *g, 0);
    *g = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &schema_mt_key);
    lua_setmetatable(L, -2);
    err_t err = {0};
    schema_t *s;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, idx, &len);
        s = schema_compile_text(text, len, &err);
    } else {
        json_t *j;
        if (lua_host_to_json(L, idx, &j, msg, sizeof msg) < 0)
            luaL_error(L, "evkit.schema.validate: invalid schema: %s", msg);
        s = schema_compile(j, &err);
        json_decref(j);
    }
    if (!s) luaL_error(L, "evkit.schema.validate: %s", err.msg);
    *g = s;
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_pop(L, 3);
    return s;
}

/* evkit.schema.validate(schema, value) -> ok, errors */
static int l_schema_validate(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 2);
    schema_t *s = schema_for(L, 1);
    /* Stays valid: the cache table is only replaced by a later call. */
    char msg[300];
    void **gv = lua_host_guard(L, lua_host_json_free); /* 3 */
    json_t *v;
    if (lua_host_to_json(L, 2, &v, msg, sizeof msg) < 0)
        return luaL_error(L, "evkit.schema.validate: the value cannot be validated: %s", msg);
    *gv = v;
    void **ge = lua_host_guard(L, schema_errors_free_void); /* 4 */
    schema_errors_t *errs = xcalloc(1, sizeof *errs);
    *ge = errs;
    bool ok = schema_validate(s, v, errs);
    lua_pushboolean(L, ok);
    lua_createtable(L, (int)errs->count, 0);
    for (size_t i = 0; i < errs->count; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, errs->items[i].path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, errs->items[i].keyword);
        lua_setfield(L, -2, "keyword");
        lua_pushstring(L, errs->items[i].message);
        lua_setfield(L, -2, "message");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, -2);
    lua_host_guard_release(L, 4);
    lua_host_guard_release(L, 3);
    return 2;
}

/* ---- the module ---- */

static const luaL_Reg json_fns[] = {
    {"encode", l_json_encode}, {"decode", l_json_decode}, {"array", l_json_array},
    {"is_array", l_json_is_array}, {NULL, NULL}};
static const luaL_Reg log_fns[] = {
    {"debug", l_log_debug}, {"info", l_log_info}, {"warn", l_log_warn},
    {"error", l_log_error}, {NULL, NULL}};
static const luaL_Reg crypto_fns[] = {
    {"sha256", l_sha256}, {"hmac_sha256", l_hmac_sha256}, {"hex", l_hex},
    {"base64_encode", l_base64_encode}, {"base64_decode", l_base64_decode},
    {"equals", l_equals}, {"uuid", l_uuid}, {NULL, NULL}};
static const luaL_Reg state_fns[] = {
    {"get", l_state_get}, {"put", l_state_put}, {"delete", l_state_delete}, {NULL, NULL}};
static const luaL_Reg http_fns[] = {{"request", l_http_request}, {NULL, NULL}};
static const luaL_Reg schema_fns[] = {{"validate", l_schema_validate}, {NULL, NULL}};

static void add_lib(lua_State *L, const char *name, const luaL_Reg *fns)
{
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    lua_setfield(L, -2, name);
}

void lua_host_open(lua_State *L)
{
    /* Guards free C memory when collected. */
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "guard");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &guard_mt_key);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, schema_ud_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "schema");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &schema_mt_key);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, http_err_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, http_err_concat);
    lua_setfield(L, -2, "__concat");
    lua_pushliteral(L, "http error");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &http_err_mt_key);

    /* The array marker. __metatable hides it from getmetatable, so actions
     * cannot add a __gc to it (finalizers would run without time limits). */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_mt_key);

    lua_createtable(L, 0, 8);
    lua_newtable(L);
    luaL_setfuncs(L, json_fns, 0);
    lua_pushlightuserdata(L, JSON_NULL_UD);
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "json");
    add_lib(L, "log", log_fns);
    add_lib(L, "crypto", crypto_fns);
    add_lib(L, "state", state_fns);
    add_lib(L, "http", http_fns);
    add_lib(L, "schema", schema_fns);
    lua_pushcfunction(L, l_publish);
    lua_setfield(L, -2, "publish");
    lua_pushcfunction(L, l_invoke);
    lua_setfield(L, -2, "invoke");

    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &module_key);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "evkit");
    lua_pop(L, 1);
    lua_setglobal(L, "evkit");
}

void lua_host_push_module(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &module_key);
}
