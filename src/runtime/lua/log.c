/* log: evkit.log.debug/info/warn/error, lines in the activation's logs at
 * or above the action's LOG_LEVEL param (default info). */
#include "core/log.h"
#include "runtime/lua/lua_int.h"

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
        /* Tables are logged through the daemon's redaction, so that logging
         * params never writes a secret, whatever the action forgot to hide. */
        if (lua_host_is_null(L, i)) lua_pushliteral(L, "null");
        else if (!lua_istable(L, i) ||
                 !lua_host_push_encoded(L, i, JSON_COMPACT | JSON_SORT_KEYS, true))
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

void lua_open_log(lua_State *L)
{
    static const luaL_Reg fns[] = {{"debug", l_log_debug}, {"info", l_log_info},
                                   {"warn", l_log_warn},   {"error", l_log_error},
                                   {NULL, NULL}};
    lua_host_add_lib(L, "log", fns);
}
