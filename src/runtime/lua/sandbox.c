/* sandbox: what a Lua action can reach. Base, string, table, math, utf8,
 * coroutine and os.time/clock/date only; no way to load bytecode, reach
 * files or finalizers; print goes to the activation's logs; require
 * resolves text modules and JSON files inside the app folder only:
 *
 *   require("a.b") looks for a/b.lua, then a/b.json, in the action's folder,
 *   then in <app>/actions/lib, then in the app folder itself. A .lua module
 *   runs as usual; a .json file is decoded (objects and arrays as tables,
 *   null as evkit.json.null). Both are cached in package.loaded. */
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/lua/lua_int.h"

#define MODULE_NAME_MAX 200 /* bytes of a module name */

/* ---- base functions ---- */

static int sandbox_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        if (lua_host_is_null(L, i)) lua_pushliteral(L, "null");
        else luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    lua_slot *s = lua_host_slot(L);
    if (s && s->a) lua_host_log(s->a, "stdout", text, len);
    return 0;
}

/* Finalizers run with hooks off, so a __gc could loop forever out of reach
 * of the time limit: tables never get one. */
static int sandbox_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not available in evkit actions");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int sandbox_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (!strcmp(opt, "count")) {
        int kb = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);
        lua_pushnumber(L, (lua_Number)kb + (lua_Number)b / 1024);
        return 1;
    }
    if (!strcmp(opt, "collect")) {
        lua_gc(L, LUA_GCCOLLECT);
        lua_pushinteger(L, 0);
        return 1;
    }
    if (!strcmp(opt, "step")) {
        lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, 0));
        return 1;
    }
    if (!strcmp(opt, "isrunning")) {
        lua_pushboolean(L, lua_gc(L, LUA_GCISRUNNING));
        return 1;
    }
    return luaL_error(L, "collectgarbage('%s') is not available in evkit actions", opt);
}

/* ---- files inside the app ---- */

/* The app folder, canonical (the action's folder outside an app). Caller frees. */
static char *app_root(const activation_t *a)
{
    const char *appdir = a->engine && a->engine->app ? a->engine->app->dir : NULL;
    return path_real(appdir ? appdir : a->action->dir);
}

int lua_sandbox_resolve(const activation_t *a, const char *base, const char *rel, char *real,
                        size_t len, err_t *err)
{
    char *root = app_root(a);
    if (!root) return err_code(err, EVK_NOT_FOUND, "the app folder is not readable");
    char *joined = path_join(base ? base : a->action->dir, rel);
    char *r = path_real(joined);
    int rc = 0;
    if (!r) rc = err_code(err, EVK_NOT_FOUND, "%s not found", rel);
    else if (!path_within(root, r))
        rc = err_code(err, EVK_FORBIDDEN, "%s refused: it resolves outside the app folder", rel);
    else if (!path_is_file(r)) rc = err_code(err, EVK_NOT_FOUND, "%s is not a file", rel);
    else snprintf(real, len, "%s", r);
    free(r);
    free(joined);
    free(root);
    return rc;
}

/* ---- require ---- */

/* A module name is a dotted (or slashed) path of plain segments. */
static bool module_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > MODULE_NAME_MAX || strlen(name) != len) return false;
    if (name[0] == '/' || name[0] == '.' || strstr(name, "..") || strstr(name, "//")) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '/'))
            return false;
    }
    return name[len - 1] != '.' && name[len - 1] != '/';
}

typedef struct module_file {
    char path[PATH_MAX];
    char chunk[PATH_MAX + 2]; /* "@<path in the app>" */
    bool json;
} module_file;

/* Looks for rel.lua, then rel.json, in dir. 1 found, 0 not, -1 refused. */
static int module_in(const char *root, const char *dir, const char *rel, module_file *m)
{
    static const char *const exts[] = {"lua", "json"};
    for (size_t i = 0; i < 2; i++) {
        char *cand = xasprintf("%s/%s.%s", dir, rel, exts[i]);
        char *real = path_real(cand);
        free(cand);
        if (!real) continue;
        int found = 0;
        if (!path_within(root, real)) {
            found = -1;
        } else if (path_is_file(real)) {
            const char *inside = real + strlen(root);
            while (*inside == '/') inside++;
            snprintf(m->path, sizeof m->path, "%s", real);
            snprintf(m->chunk, sizeof m->chunk, "@%s", inside);
            m->json = i == 1;
            found = 1;
        }
        free(real);
        if (found) return found;
    }
    return 0;
}

/* Finds module name for activation a (see the top of this file). Returns 0
 * with m filled, or -1 with err (EVK_NOT_FOUND, EVK_FORBIDDEN). No
 * allocation survives the call, so the caller may raise afterwards. */
static int module_find(const activation_t *a, const char *name, module_file *m, err_t *err)
{
    char *root = app_root(a);
    if (!root)
        return err_code(err, EVK_NOT_FOUND,
                        "module '%s' not found: the app folder is not readable", name);
    char rel[MODULE_NAME_MAX + 1];
    snprintf(rel, sizeof rel, "%s", name);
    for (char *c = rel; *c; c++)
        if (*c == '.') *c = '/';
    char *lib = path_join(root, "actions/lib");
    const char *dirs[3] = {a->action->dir, lib, root};
    int found = 0;
    for (int i = 0; i < 3 && !found; i++) found = module_in(root, dirs[i], rel, m);
    free(lib);
    free(root);
    if (found < 0)
        return err_code(err, EVK_FORBIDDEN,
                        "module '%s' refused: it resolves outside the app folder", name);
    if (!found)
        return err_code(err, EVK_NOT_FOUND,
                        "module '%s' not found (looked for %s.lua and %s.json in the action's "
                        "folder, in actions/lib and in the app folder)", name, rel, rel);
    return 0;
}

/* Pushes what the module file gives: a .lua module's return value (true
 * for nothing), a .json file's decoded value. */
static void module_load(lua_State *L, const char *name, const module_file *m)
{
    err_t err;
    size_t srclen;
    void **g = lua_host_guard(L, free);
    *g = file_read(m->path, &srclen, &err);
    if (!*g) luaL_error(L, "cannot read module '%s': %s", name, err.msg);
    if (m->json) {
        char what[MODULE_NAME_MAX + 32];
        snprintf(what, sizeof what, "cannot load module '%s'", name);
        lua_host_push_decoded(L, *g, srclen, what);
        lua_host_guard_release(L, -2);
        lua_remove(L, -2);
        return;
    }
    /* Text only: Lua bytecode can be crafted to break out of the VM. */
    int st = luaL_loadbufferx(L, *g, srclen, m->chunk, "t");
    lua_host_guard_release(L, -2);
    lua_remove(L, -2);
    if (st != LUA_OK)
        luaL_error(L, "cannot load module '%s': %s", name, lua_tostring(L, -1));
    lua_pushstring(L, name);
    lua_pushstring(L, m->chunk + 1);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
}

static int sandbox_require(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    if (!strcmp(name, "evkit")) {
        lua_host_push_module(L);
        return 1;
    }
    if (!strcmp(name, "evkit.test") && lua_test_push_module(L)) return 1;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* 2 */
    if (lua_getfield(L, 2, name) != LUA_TNIL && lua_toboolean(L, -1)) return 1;
    lua_pop(L, 1);
    if (!module_name_valid(name, len))
        return luaL_error(L, "module '%s' refused: names are dotted paths inside the app folder",
                          name);
    activation_t *a = lua_host_activation(L);
    void **g = lua_host_guard(L, free); /* 3 */
    module_file *m = xmalloc(sizeof *m);
    *g = m;
    err_t err;
    if (module_find(a, name, m, &err) < 0) return luaL_error(L, "%s", err.msg);
    module_load(L, name, m);
    lua_host_guard_release(L, 3);
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
}

/* ---- the sandbox ---- */

/* os: only the clock and calendar. The loaded table is at index 1. */
static void sandbox_trim_os(lua_State *L)
{
    lua_getglobal(L, "os");
    lua_createtable(L, 0, 3);
    static const char *const os_keep[] = {"time", "clock", "date"};
    for (size_t i = 0; i < sizeof os_keep / sizeof *os_keep; i++) {
        lua_getfield(L, -2, os_keep[i]);
        lua_setfield(L, -2, os_keep[i]);
    }
    lua_pushvalue(L, -1);
    lua_setglobal(L, "os");
    lua_setfield(L, 1, "os");
    lua_pop(L, 1);
}

int lua_sandbox_open(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},         {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},   {LUA_COLIBNAME, luaopen_coroutine},
        {LUA_OSLIBNAME, luaopen_os},       {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* 1 */
    sandbox_trim_os(L);

    static const char *const base_drop[] = {"load", "loadfile", "dofile", "loadstring"};
    for (size_t i = 0; i < sizeof base_drop / sizeof *base_drop; i++) {
        lua_pushnil(L);
        lua_setglobal(L, base_drop[i]);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);

    lua_register(L, "print", sandbox_print);
    lua_register(L, "setmetatable", sandbox_setmetatable);
    lua_register(L, "collectgarbage", sandbox_collectgarbage);
    lua_register(L, "require", sandbox_require);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "loaded");
    lua_setglobal(L, "package");

    lua_host_open(L);
    return 0;
}
