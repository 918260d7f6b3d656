/* invoke: evkit.invoke(name [, params]) -> result, {activationId, status,
 * duration} | nil, message: runs another action of the app, nested in this
 * activation (its deadline bounds the callee). Under `evkit test` the
 * test's world runs it, so that it sees the world's inputs and records it. */
#include <string.h>

#include "runtime/lua/lua_int.h"

/* The request params at idx (a table or nil) as a JSON object (owned). */
static json_t *request_params(lua_State *L, int idx)
{
    if (lua_isnil(L, idx)) return json_object();
    json_t *req = lua_host_check_json(L, idx, "evkit.invoke: params");
    if (json_is_object(req)) return req;
    json_decref(req);
    if (lua_rawlen(L, idx) > 0)
        luaL_error(L, "evkit.invoke: params must be a table with string keys");
    return json_object(); /* {} read as an empty array */
}

static int l_invoke(lua_State *L)
{
    activation_t *a = lua_host_activation(L);
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_test_active()) {
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        return lua_test_call(L, "_invoke", 2, 2);
    }
    const action_t *act = a->engine && a->engine->app ? app_action(a->engine->app, name) : NULL;
    if (!act) {
        lua_pushnil(L);
        lua_pushfstring(L, "action '%s' not found", name);
        return 2;
    }
    void **greq = lua_host_guard(L, lua_host_json_free); /* 3 */
    void **gres = lua_host_guard(L, lua_host_json_free); /* 4 */
    *greq = request_params(L, 2);
    err_t err = {0};
    json_t *full = runtime_params(act, *greq, &err);
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
    lua_host_push_invoke_info(L, &res);
    lua_host_guard_release(L, 4);
    return 2;
}

void lua_host_push_invoke_info(lua_State *L, const invoke_result *res)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, res->activation_id);
    lua_setfield(L, -2, "activationId");
    lua_pushstring(L, act_status_name(res->status));
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, (lua_Integer)res->duration_ms);
    lua_setfield(L, -2, "duration");
}

void lua_open_invoke(lua_State *L)
{
    lua_pushcfunction(L, l_invoke);
    lua_setfield(L, -2, "invoke");
}
