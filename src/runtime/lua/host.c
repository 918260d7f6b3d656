/* host: the `evkit` module that Lua actions use to reach the rest of evkit.
 * It gathers the host modules (json.c, log.c, publish.c, invoke.c, state.c,
 * crypto.c, http.c, schema.c) and holds what they share: the running
 * activation, guards for C memory, and activation logs.
 *
 * Every host function runs inside a protected call of an activation; the
 * activation comes from the interpreter's slot (lua_host_slot). The memory
 * cap can make any allocating Lua API call raise, so C-owned memory is
 * parked in guards (userdata with __gc) before such calls: a raise then
 * frees it at the next collection instead of leaking it. */
#include <stdlib.h>
#include <string.h>

#include "runtime/lua/lua_int.h"

/* Registry keys are addresses (lua_rawgetp): looking them up never
 * allocates, so it cannot raise. */
static char guard_mt_key;
static char module_key;

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
    for (;;) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (!nl && start == len && len > 0) break;
        activation_log(a, stream, text + start, end - start);
        if (!nl) break;
        start = end + 1;
    }
}

/* ---- guards ---- */

typedef struct guard {
    void (*fn)(void *);
    void *p;
} guard;

void lua_host_guard_release(lua_State *L, int idx)
{
    guard *g = lua_touserdata(L, idx);
    if (g && g->p) {
        void *p = g->p;
        g->p = NULL;
        g->fn(p);
    }
}

static int guard_gc(lua_State *L)
{
    lua_host_guard_release(L, 1);
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

void lua_host_json_free(void *p)
{
    json_decref(p);
}

/* ---- the module ---- */

void lua_host_add_lib(lua_State *L, const char *name, const luaL_Reg *fns)
{
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    lua_setfield(L, -2, name);
}

void lua_host_new_mt(lua_State *L, const void *key, const char *name, const luaL_Reg *fns)
{
    lua_createtable(L, 0, 3);
    if (fns) luaL_setfuncs(L, fns, 0);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void lua_host_open(lua_State *L)
{
    /* Guards free C memory when collected. */
    static const luaL_Reg guard_mt[] = {{"__gc", guard_gc}, {NULL, NULL}};
    lua_host_new_mt(L, &guard_mt_key, "guard", guard_mt);

    lua_createtable(L, 0, 8);
    lua_open_json(L);
    lua_open_log(L);
    lua_open_crypto(L);
    lua_open_state(L);
    lua_open_http(L);
    lua_open_schema(L);
    lua_open_publish(L);
    lua_open_invoke(L);

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
