/* publish: evkit.publish(provider, type, data [, {idempotency_key}]) ->
 * {id, duplicate, position} | nil, message, status. The event passes the
 * publishing API's checks (engine_check_event); one that fails them raises
 * an error. Under `evkit test` the test's world records the event instead
 * of the journal. */
#include <string.h>

#include "runtime/lua/lua_int.h"
#include "store/store.h"

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
    void **g = lua_host_guard(L, lua_host_json_free); /* 6 */
    json_t *data = lua_host_check_json(L, 3, "evkit.publish: data");
    *g = data;
    err_t err = {0};
    /* The same checks under `evkit test` as when serving. */
    if (a->engine && engine_check_event(a->engine, provider, type, data, key, NULL, &err) < 0) {
        lua_host_guard_release(L, 6);
        return luaL_error(L, "evkit.publish: %s", err.msg);
    }
    if (lua_test_active()) {
        lua_host_guard_release(L, 6);
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        lua_pushvalue(L, 5);
        return lua_test_call(L, "_publish", 4, 2);
    }
    if (!a->engine || !a->engine->store) {
        lua_host_guard_release(L, 6);
        lua_pushnil(L);
        lua_pushliteral(L, "publishing is not available here");
        return 2;
    }
    store_append_result res;
    memset(&res, 0, sizeof res);
    /* The event continues the publishing activation's trace. */
    char tp[TRACEPARENT_LEN + 1];
    tracectx_format(&a->trace, tp);
    engine_event ev = {.provider_key = provider, .type = type, .data = data, .idempotency_key = key,
                       .traceparent = a->trace.trace_id[0] ? tp : NULL,
                       .checked = true}; /* just above */
    int rc = engine_publish_events(a->engine, &ev, 1, &res, NULL, &err);
    lua_host_guard_release(L, 6);
    /* A wrong event is the action's mistake: an error, as from any misuse
     * of a host function. A failing journal is a moment's trouble: nil,
     * message and the status word ("unavailable" when the disk is full). */
    if (rc < 0 && (err.code == EVK_INVALID || err.code == EVK_TOO_LARGE))
        return luaL_error(L, "evkit.publish: %s", err.msg);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg[0] ? err.msg : "publish failed");
        lua_pushstring(L, evk_status_name(err.code));
        return 3;
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

void lua_open_publish(lua_State *L)
{
    lua_pushcfunction(L, l_publish);
    lua_setfield(L, -2, "publish");
}
