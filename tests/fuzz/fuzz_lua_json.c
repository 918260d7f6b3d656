/* The Lua JSON module (evkit.json): decode any text in an interpreter set
 * up as actions get it, encode the result back (compact and pretty), and
 * check that a second round trip changes nothing. Input: the JSON text. */
#include "fuzz.h"
#include "runtime/lua/lua_int.h"

#include <lualib.h>

static lua_State *L;

static const char SCRIPT[] =
    "local text = ...\n"
    "local ok, v = pcall(evkit.json.decode, text)\n"
    "if not ok then return 'refused' end\n"
    "local ok2, once = pcall(evkit.json.encode, v)\n"
    "if not ok2 then return 'unencodable' end\n"
    "local again = evkit.json.encode(evkit.json.decode(once))\n"
    "if again ~= once then error('round trip changed ' .. once .. ' into ' .. again) end\n"
    "local pretty = evkit.json.encode(v, {pretty = true})\n"
    "if evkit.json.encode(evkit.json.decode(pretty)) ~= once then error('pretty differs') end\n"
    "if type(v) == 'table' then local _ = evkit.json.is_array(v) end\n"
    "return 'ok'\n";

static int open_host(lua_State *l)
{
    luaL_openlibs(l);
    lua_host_open(l);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_OFF);
    L = luaL_newstate();
    /* No activation slot, as host code reads it from the extra space. */
    *(void **)lua_getextraspace(L) = NULL;
    lua_pushcfunction(L, open_host);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) abort();
    if (luaL_loadbuffer(L, SCRIPT, sizeof SCRIPT - 1, "=fuzz") != LUA_OK) abort();
    lua_setglobal(L, "fuzz_round_trip");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_getglobal(L, "fuzz_round_trip");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pop(L, 1);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
