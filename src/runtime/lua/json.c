/* json: the JSON <-> Lua conversion the Lua backend applies to params,
 * results and every host function, and the evkit.json module
 * (encode, decode, array, is_array, null). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "runtime/lua/lua_int.h"
#include "core/json_io.h"

/* Registry keys are addresses (lua_rawgetp): looking them up never
 * allocates, so it cannot raise. */
static char null_tag; /* its address is evkit.json.null */
static char array_mt_key;

#define JSON_NULL_UD ((void *)&null_tag)

/* ---- JSON -> Lua ---- */

/* The texts of the kept numbers (beyond any int64 or double) this
 * activation was handed: Lua sees each as a string of the number's text,
 * and such a string handed back is written as that number again, unless
 * the same text also came as a string (then it stays a string: true marks
 * a text that came only as a number, false one that also came as a string). */
static const char kept_reg = 'k';

static void remember_text(lua_State *L, const char *text, size_t n, bool as_number)
{
    lua_slot *s = lua_host_slot(L);
    if (s) s->has_kept = true;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kept_reg) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &kept_reg);
    }
    lua_pushlstring(L, text, n);
    bool seen_as_string = lua_rawget(L, -2) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_pushlstring(L, text, n);
    lua_pushboolean(L, as_number && !seen_as_string);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static bool is_kept(lua_State *L, int idx)
{
    const lua_slot *s = lua_host_slot(L);
    if (s && !s->has_kept) return false; /* most activations: no registry look-up per string */
    if (!lua_checkstack(L, 2)) return false;
    idx = lua_absindex(L, idx);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kept_reg) != LUA_TTABLE) {
        lua_pop(L, 1);
        return false;
    }
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    bool kept = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return kept;
}

void lua_host_forget_kept(lua_State *L)
{
    lua_slot *s = lua_host_slot(L);
    if (s) s->has_kept = false;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kept_reg);
}

static void push_json(lua_State *L, const json_t *v, int depth)
{
    if (!lua_checkstack(L, 6)) luaL_error(L, "JSON nesting too deep");
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
        lua_host_mark_array(L);
        break;
    }
    case JSON_STRING: {
        size_t n;
        const char *num = json_kept_text(v, &n);
        if (num) {
            remember_text(L, num, n, true);
            lua_pushlstring(L, num, n);
        } else {
            const char *str = json_string_value(v);
            n = json_string_length(v);
            if (json_number_kept(str, n)) remember_text(L, str, n, false);
            lua_pushlstring(L, str, n);
        }
        break;
    }
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

void lua_host_mark_array(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, -2);
}

bool lua_host_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == JSON_NULL_UD;
}

void lua_host_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, JSON_NULL_UD);
}

/* ---- Lua -> JSON ----
 * Uses only Lua API calls that do not allocate (lua_next, lua_rawgeti,
 * lua_tolstring on strings, lua_checkstack), so it never raises and can run
 * while the caller holds C memory. */

/* The path to the value being encoded, for error messages: segments
 * (a key still on the Lua stack, or an index), formatted only on failure. */
typedef struct enc_seg {
    const char *key; /* NULL for an index */
    size_t klen;
    lua_Integer i;
} enc_seg;

typedef struct enc {
    lua_State *L;
    err_t *err;
    enc_seg seg[LUA_HOST_MAX_DEPTH + 2];
    size_t nseg;
} enc;

/* ".a.b[2]"-style path of the current segments; each key cut to 60 bytes,
 * the whole to the buffer (it moves past what snprintf wrote). */
static void enc_path(const enc *e, char *path, size_t size)
{
    size_t plen = 0;
    path[0] = '\0';
    for (size_t s = 0; s < e->nseg && plen < size - 1; s++) {
        const enc_seg *g = &e->seg[s];
        int n = g->key ? snprintf(path + plen, size - plen, ".%.*s",
                                  (int)(g->klen > 60 ? 60 : g->klen), g->key)
                       : snprintf(path + plen, size - plen, "[%lld]", (long long)g->i);
        if (n > 0) plen += (size_t)n;
        if (plen >= size) plen = size - 1;
    }
}

static json_t *enc_fail(enc *e, const char *fmt, const char *what)
{
    char msg[200], path[160];
    snprintf(msg, sizeof msg, fmt, what);
    enc_path(e, path, sizeof path);
    if (path[0])
        err_code(e->err, EVK_INVALID, "%s at '%s'", msg, path[0] == '.' ? path + 1 : path);
    else
        err_code(e->err, EVK_INVALID, "%s", msg);
    return NULL;
}

/* Enters a path segment; returns what enc_pop restores. */
static size_t enc_push(enc *e, const char *key, size_t klen, lua_Integer i)
{
    size_t saved = e->nseg;
    if (e->nseg < sizeof e->seg / sizeof e->seg[0])
        e->seg[e->nseg++] = (enc_seg){.key = key, .klen = klen, .i = i};
    return saved;
}

static void enc_pop(enc *e, size_t saved)
{
    e->nseg = saved;
}

static json_t *enc_value(enc *e, int idx, int depth);

static json_t *enc_array(enc *e, int idx, lua_Integer n, int depth)
{
    lua_State *L = e->L;
    json_t *arr = json_array();
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        size_t saved = enc_push(e, NULL, 0, i);
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

static json_t *enc_object(enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    json_t *obj = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen); /* a string key: no conversion */
        size_t saved = enc_push(e, k, klen, 0);
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
    return enc_object(e, idx, depth);
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
        /* 10/2 is 5.0 in Lua; JSON readers expect 5. -0.0 stays itself. */
        if (d == floor(d) && !(d == 0 && signbit(d)) && d >= -9223372036854775808.0 &&
            d < 9223372036854775808.0)
            return json_integer((json_int_t)d);
        return json_real(d);
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *j = is_kept(L, idx) ? json_kept_new(s, len) : json_stringn(s, len);
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

int lua_host_to_json(lua_State *L, int idx, json_t **out, err_t *err)
{
    enc e = {.L = L, .err = err, .nseg = 0};
    *out = enc_value(&e, lua_absindex(L, idx), 0);
    return *out ? 0 : -1;
}

json_t *lua_host_check_json(lua_State *L, int idx, const char *what)
{
    json_t *j;
    err_t err;
    if (lua_host_to_json(L, idx, &j, &err) < 0) luaL_error(L, "%s: %s", what, err.msg);
    return j;
}

/* ---- Lua -> JSON text, straight ----
 * What json_text(lua_host_to_json(v), JSON_COMPACT | JSON_SORT_KEYS) writes,
 * without the tree: no allocation per value, no hashing, no second pass.
 * Anything it does not handle the same way (kept numbers, keys with a NUL,
 * and every value that cannot be encoded) answers false, and the caller
 * takes the tree's way, which also words the error. Never raises. */

typedef struct dkey {
    const char *key;
    size_t len;
    int value; /* stack index of its value */
} dkey;

/* jansson's order of sorted keys (json_text): bytes, then length. */
static int dkey_cmp(const void *x, const void *y)
{
    const dkey *a = x, *b = y;
    int r = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return r ? r : (a->len > b->len) - (a->len < b->len);
}

static bool direct_value(lua_State *L, json_out *o, int idx, int depth);

static bool direct_array(lua_State *L, json_out *o, int idx, lua_Integer n, int depth)
{
    json_out_raw(o, "[", 1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1) json_out_raw(o, ",", 1);
        lua_rawgeti(L, idx, i);
        bool ok = direct_value(L, o, -1, depth + 1);
        lua_pop(L, 1);
        if (!ok) return false;
    }
    json_out_raw(o, "]", 1);
    return true;
}

/* An object of n string keys, in sorted order: its pairs are copied to the
 * stack (no allocation), their keys sorted, their values written. */
static bool direct_object(lua_State *L, json_out *o, int idx, size_t n, int depth)
{
    if (n > INT_MAX / 4 || !lua_checkstack(L, (int)(2 * n) + 4)) return false;
    dkey small[32];
    dkey *keys = n <= 32 ? small : malloc(n * sizeof *keys);
    if (!keys) return false;
    int base = lua_gettop(L);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (k < n) {
            keys[k].key = lua_tolstring(L, -2, &keys[k].len);
            keys[k].value = lua_gettop(L);
        }
        k++;
        lua_pushvalue(L, -2); /* the key again, for lua_next; key and value stay */
    }
    bool ok = k == n;
    if (ok && n > 1) qsort(keys, n, sizeof *keys, dkey_cmp);
    json_out_raw(o, "{", 1);
    for (size_t i = 0; ok && i < n; i++) {
        if (i) json_out_raw(o, ",", 1);
        ok = !memchr(keys[i].key, '\0', keys[i].len) &&
             json_out_string(o, keys[i].key, keys[i].len);
        json_out_raw(o, ":", 1);
        ok = ok && direct_value(L, o, keys[i].value, depth + 1);
    }
    json_out_raw(o, "}", 1);
    lua_settop(L, base);
    if (keys != small) free(keys);
    return ok;
}

static bool direct_table(lua_State *L, json_out *o, int idx, int depth)
{
    if (depth >= LUA_HOST_MAX_DEPTH || !lua_checkstack(L, 6)) return false;
    idx = lua_absindex(L, idx);
    if (lua_host_is_array(L, idx)) return direct_array(L, o, idx, (lua_Integer)lua_rawlen(L, idx), depth);
    size_t nstr = 0, nint = 0;
    lua_Integer maxk = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int kt = lua_type(L, -1);
        if (kt == LUA_TSTRING) {
            nstr++;
        } else if (kt == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            nint++;
            if (lua_tointeger(L, -1) > maxk) maxk = lua_tointeger(L, -1);
        } else {
            lua_pop(L, 1);
            return false;
        }
    }
    if (nint && (nstr || (lua_Integer)nint != maxk)) return false;
    if (nint) return direct_array(L, o, idx, maxk, depth);
    return direct_object(L, o, idx, nstr, depth);
}

static bool direct_value(lua_State *L, json_out *o, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        json_out_raw(o, "null", 4);
        return true;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx)) json_out_raw(o, "true", 4);
        else json_out_raw(o, "false", 5);
        return true;
    case LUA_TNUMBER: {
        if (lua_isinteger(L, idx)) {
            json_out_int(o, lua_tointeger(L, idx));
            return true;
        }
        double d = (double)lua_tonumber(L, idx);
        if (!isfinite(d)) return false;
        if (d == floor(d) && !(d == 0 && signbit(d)) && d >= -9223372036854775808.0 &&
            d < 9223372036854775808.0) {
            json_out_int(o, (lua_Integer)d);
        } else {
            char t[48];
            json_out_raw(o, t, json_real_text(d, t, sizeof t));
        }
        return true;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return !is_kept(L, idx) && json_out_string(o, s, len);
    }
    case LUA_TTABLE:
        return direct_table(L, o, idx, depth);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != JSON_NULL_UD) return false;
        json_out_raw(o, "null", 4);
        return true;
    default:
        return false;
    }
}

/* The compact, sorted JSON text of the value at idx (the caller frees it), or
 * NULL when the tree's way must write it (or refuse it). */
static char *direct_text(lua_State *L, int idx)
{
    json_out o = {.flags = JSON_COMPACT | JSON_SORT_KEYS};
    int top = lua_gettop(L);
    bool ok = direct_value(L, &o, lua_absindex(L, idx), 0);
    lua_settop(L, top);
    if (ok) return json_out_steal(&o);
    free(o.p);
    return NULL;
}

bool lua_host_push_encoded(lua_State *L, int idx, size_t flags, bool redact)
{
    idx = lua_absindex(L, idx);
    void **g = lua_host_guard(L, free);
    if (!redact && flags == (JSON_COMPACT | JSON_SORT_KEYS) && (*g = direct_text(L, idx))) {
        lua_pushstring(L, *g);
        lua_host_guard_release(L, -2);
        lua_remove(L, -2);
        return true;
    }
    json_t *j;
    err_t err;
    if (lua_host_to_json(L, idx, &j, &err) < 0) {
        lua_pop(L, 1);
        return false;
    }
    if (redact) {
        json_t *r = log_redact(j);
        json_decref(j);
        j = r;
    }
    *g = json_text(j, flags | JSON_ENCODE_ANY);
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

void lua_host_push_decoded(lua_State *L, const char *text, size_t len, const char *what)
{
    void **g = lua_host_guard(L, lua_host_json_free);
    json_error_t je;
    *g = json_load_kept(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*g)
        luaL_error(L, "%s: invalid JSON at line %d, column %d: %s", what, je.line, je.column,
                   je.text);
    lua_host_push_json(L, *g);
    lua_host_guard_release(L, -2);
    lua_remove(L, -2);
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
    if (flags == (JSON_COMPACT | JSON_SORT_KEYS) && (*g = direct_text(L, 1))) {
        lua_pushstring(L, *g);
        lua_host_guard_release(L, 3);
        return 1;
    }
    json_t *j = lua_host_check_json(L, 1, "evkit.json.encode");
    *g = json_text(j, flags | JSON_ENCODE_ANY);
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
    lua_host_push_decoded(L, s, len, "evkit.json.decode");
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
    lua_host_mark_array(L);
    return 1;
}

static int l_json_is_array(lua_State *L)
{
    lua_pushboolean(L, lua_istable(L, 1) && lua_host_is_array(L, 1));
    return 1;
}

void lua_open_json(lua_State *L)
{
    static const luaL_Reg fns[] = {{"encode", l_json_encode}, {"decode", l_json_decode},
                                   {"array", l_json_array}, {"is_array", l_json_is_array},
                                   {NULL, NULL}};
    /* The array marker. __metatable hides it from getmetatable, so actions
     * cannot add a __gc to it (finalizers would run without time limits). */
    lua_host_new_mt(L, &array_mt_key, "array", NULL);
    lua_host_add_lib(L, "json", fns);
    lua_getfield(L, -1, "json");
    lua_pushlightuserdata(L, JSON_NULL_UD);
    lua_setfield(L, -2, "null");
    lua_pop(L, 1);
}
