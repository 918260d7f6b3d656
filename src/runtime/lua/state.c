/* state: evkit.state.get/put/delete, the app's key-value state in the
 * store (TTL in seconds). Under `evkit test` the test's world keeps it in
 * memory on its own clock. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/lua/lua_int.h"
#include "store/store.h"

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

/* Asks the test's world (lua_test_active): op, key and the rest of the
 * arguments (value, ttl in seconds) go over; one result comes back. */
static int state_test(lua_State *L, const char *op, int nargs)
{
    lua_pushstring(L, op);
    for (int i = 1; i <= nargs; i++) lua_pushvalue(L, i);
    return lua_test_call(L, "_state", nargs + 1, 1);
}

static int l_state_get(lua_State *L)
{
    store_t *st = lua_test_active() ? NULL : state_store(L, "get");
    state_key(L, 1);
    lua_settop(L, 1);
    if (!st) return state_test(L, "get", 1);
    void **g = lua_host_guard(L, lua_host_json_free);
    json_t *v = NULL;
    err_t err = {0};
    if (store_state_get(st, lua_tostring(L, 1), &v, &err) < 0)
        return luaL_error(L, "evkit.state.get: %s", err.msg);
    *g = v;
    if (v) lua_host_push_json(L, v);
    else lua_pushnil(L);
    lua_host_guard_release(L, 2);
    return 1;
}

/* opts.ttl in seconds as milliseconds (0: none). */
static int64_t state_ttl_ms(lua_State *L, int idx)
{
    if (lua_isnil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "ttl");
    int64_t ttl_ms = 0;
    if (!lua_isnil(L, -1)) {
        int ok = 0;
        lua_Number ttl = lua_tonumberx(L, -1, &ok);
        if (!ok || !isfinite(ttl) || ttl < 0 || ttl > 1e12)
            luaL_error(L, "evkit.state.put: opts.ttl must be a number of seconds");
        ttl_ms = (int64_t)(ttl * 1000.0);
        if (ttl > 0 && ttl_ms == 0) ttl_ms = 1;
    }
    lua_pop(L, 1);
    return ttl_ms;
}

static int l_state_put(lua_State *L)
{
    store_t *st = lua_test_active() ? NULL : state_store(L, "put");
    state_key(L, 1);
    lua_settop(L, 3);
    if (lua_isnil(L, 2))
        return luaL_error(L, "evkit.state.put: the value must not be nil (use evkit.state.delete)");
    int64_t ttl_ms = state_ttl_ms(L, 3);
    if (!st) {
        lua_pushnumber(L, (lua_Number)ttl_ms / 1000.0);
        lua_replace(L, 3);
        return state_test(L, "put", 3);
    }
    void **g = lua_host_guard(L, lua_host_json_free); /* 4 */
    json_t *v = lua_host_check_json(L, 2, "evkit.state.put");
    *g = v;
    err_t err = {0};
    int rc = engine_state_put(lua_host_activation(L)->engine, lua_tostring(L, 1), v, ttl_ms, &err);
    lua_host_guard_release(L, 4);
    if (rc < 0) return luaL_error(L, "evkit.state.put: %s", err.msg);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_state_delete(lua_State *L)
{
    store_t *st = lua_test_active() ? NULL : state_store(L, "delete");
    state_key(L, 1);
    lua_settop(L, 1);
    if (!st) return state_test(L, "delete", 1);
    bool existed = false;
    err_t err = {0};
    if (store_state_delete(st, lua_tostring(L, 1), &existed, &err) < 0)
        return luaL_error(L, "evkit.state.delete: %s", err.msg);
    lua_pushboolean(L, existed);
    return 1;
}

void lua_open_state(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"get", l_state_get}, {"put", l_state_put}, {"delete", l_state_delete}, {NULL, NULL}};
    lua_host_add_lib(L, "state", fns);
}
