/* schema: evkit.schema.validate(schema, value) -> ok, errors, where schema
 * is a table or a JSON text, and evkit.schema.validate_file(path, value)
 * for a schema file (relative to the action's folder, inside the app
 * folder). errors is an array of {path (JSON Pointer), keyword, message}.
 * Compiled schemas are cached per interpreter. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/lua/lua_int.h"
#include "schema/schema.h"

/* Compiled schemas per interpreter, keyed by the schema's JSON text (or
 * "\x02" and the file's path); a full cache is dropped whole (handlers use
 * a handful of schemas). */
#define SCHEMA_CACHE_MAX 64
#define SCHEMA_COUNT_FIELD "\x01n"

static char schema_cache_key;
static char schema_mt_key;

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

/* Pushes the cache table, a fresh one when there is none or it is full. */
static void schema_cache_push(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &schema_cache_key) == LUA_TTABLE) {
        lua_getfield(L, -1, SCHEMA_COUNT_FIELD);
        lua_Integer count = lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (count < SCHEMA_CACHE_MAX) return;
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, SCHEMA_COUNT_FIELD);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &schema_cache_key);
}

/* The compiled schema cached under the key on top of the stack (popped),
 * or compiled by compile(L, arg) and cached. Raises when invalid. The
 * schema stays valid until a later call replaces the cache table. */
static schema_t *schema_cached(lua_State *L, schema_t *(*compile)(lua_State *, int, err_t *),
                               int arg, const char *fn)
{
    schema_cache_push(L);      /* key cache */
    lua_pushvalue(L, -2);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        schema_t *s = *(schema_t **)lua_touserdata(L, -1);
        lua_pop(L, 3);
        return s;
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, SCHEMA_COUNT_FIELD);
    lua_Integer count = lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushinteger(L, count + 1);
    lua_setfield(L, -2, SCHEMA_COUNT_FIELD);
    /* key cache ud: compile into a userdata kept as the cache entry */
    schema_t **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &schema_mt_key);
    lua_setmetatable(L, -2);
    err_t err = {0};
    schema_t *s = compile(L, arg, &err);
    if (!s) luaL_error(L, "%s: %s", fn, err.msg);
    *ud = s;
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_pop(L, 3);
    return s;
}

static schema_t *compile_value(lua_State *L, int idx, err_t *err)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, idx, &len);
        return schema_compile_text(text, len, err);
    }
    json_t *j = lua_host_check_json(L, idx, "evkit.schema.validate: invalid schema");
    schema_t *s = schema_compile(j, err);
    json_decref(j);
    return s;
}

/* The compiled schema for the schema at idx (a table or a JSON string). */
static schema_t *schema_for(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx); /* the key: the text as given */
    } else if (lua_type(L, idx) == LUA_TTABLE || lua_type(L, idx) == LUA_TBOOLEAN) {
        if (!lua_host_push_encoded(L, idx, JSON_COMPACT | JSON_SORT_KEYS, false)) {
            json_decref(lua_host_check_json(L, idx, "evkit.schema.validate: invalid schema"));
            luaL_error(L, "evkit.schema.validate: invalid schema: cannot encode it");
        }
    } else {
        luaL_error(L, "evkit.schema.validate: the schema must be a table or a JSON string");
    }
    return schema_cached(L, compile_value, idx, "evkit.schema.validate");
}

/* The file's path is on the stack at idx (resolved, absolute). */
static schema_t *compile_file(lua_State *L, int idx, err_t *err)
{
    const char *path = lua_tostring(L, idx);
    size_t len;
    char *text = file_read(path, &len, err);
    if (!text) return NULL;
    err_t why = {0};
    schema_t *s = schema_compile_text(text, len, &why);
    free(text);
    if (!s) err_code(err, why.code, "%s: %s", path, why.msg);
    return s;
}

/* Pushes ok, errors: the result of validating the value at idx. */
static int schema_answer(lua_State *L, const schema_t *s, int idx, const char *fn)
{
    char what[80];
    snprintf(what, sizeof what, "%s: the value cannot be validated", fn);
    void **gv = lua_host_guard(L, lua_host_json_free);
    int gvi = lua_gettop(L);
    *gv = lua_host_check_json(L, idx, what);
    void **ge = lua_host_guard(L, schema_errors_free_void);
    schema_errors_t *errs = xcalloc(1, sizeof *errs);
    *ge = errs;
    bool ok = schema_validate(s, *gv, errs);
    lua_pushboolean(L, ok);
    lua_createtable(L, errs->count > INT_MAX ? INT_MAX : (int)errs->count, 0);
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
    lua_host_mark_array(L);
    lua_host_guard_release(L, gvi + 1);
    lua_host_guard_release(L, gvi);
    return 2;
}

static int l_schema_validate(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 2);
    schema_t *s = schema_for(L, 1);
    return schema_answer(L, s, 2, "evkit.schema.validate");
}

static int l_schema_validate_file(lua_State *L)
{
    const char *rel = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    char real[PATH_MAX];
    err_t err;
    if (lua_sandbox_resolve(lua_host_activation(L), NULL, rel, real, sizeof real, &err) < 0)
        return luaL_error(L, "evkit.schema.validate_file: %s", err.msg);
    lua_pushstring(L, real);                  /* 3: the path */
    lua_pushfstring(L, "\x02%s", real);       /* the key */
    schema_t *s = schema_cached(L, compile_file, 3, "evkit.schema.validate_file");
    return schema_answer(L, s, 2, "evkit.schema.validate_file");
}

void lua_open_schema(lua_State *L)
{
    static const luaL_Reg ud_mt[] = {{"__gc", schema_ud_gc}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"validate", l_schema_validate}, {"validate_file", l_schema_validate_file}, {NULL, NULL}};
    lua_host_new_mt(L, &schema_mt_key, "schema", ud_mt);
    lua_host_add_lib(L, "schema", fns);
}
