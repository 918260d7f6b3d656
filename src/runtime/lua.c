/* lua: the Lua backend. Runs `main(params)` of an action file in an
 * embedded Lua 5.4 interpreter and turns what it returns into the
 * activation's result.
 *
 * - Pool: each thread keeps one interpreter per action (thread-local, no
 *   lock), reloaded when the file changes; a warm activation skips loading.
 *   A nested activation of an action whose interpreter is busy further up
 *   this thread's stack (evkit.invoke recursion) gets a temporary one.
 * - Sandbox: base, string, table, math, utf8, coroutine and os.time/clock/
 *   date only; no way to load bytecode, reach files or finalizers; require
 *   resolves text modules inside the app folder only.
 * - Limits: wall clock through a count hook, memory through the allocator.
 *   An interpreter that breached either is closed, never reused. */
#include "runtime/runtime.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "runtime/lua_host.h"

#define LUA_HOOK_INSTRUCTIONS 1000 /* VM instructions between deadline checks */
#define LUA_POOL_MAX 64            /* idle interpreters kept per thread */
#define LUA_MAX_NESTING 8          /* Lua activations stacked on one thread (evkit.invoke) */
#define MB (1024u * 1024u)

typedef struct lua_pool {
    lua_slot *head;
    size_t n;
} lua_pool;

static _Thread_local lua_pool *tls_pool;
static _Thread_local int tls_depth;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* ---- allocator: counts the bytes of one state and enforces its cap ---- */

static void *slot_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lua_slot *s = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is an object kind */
    if (nsize == 0) {
        free(ptr);
        s->mem_used -= old;
        return NULL;
    }
    if (nsize > old) {
        bool retry = s->refused_pending && s->refused_ptr == ptr && s->refused_osize == osize &&
                     s->refused_nsize == nsize;
        /* Lua answers most refusals with an emergency collection and asks
         * again at once (retry). Any other request after a refusal means
         * the refusal was final: the action needed more than its cap. */
        if (s->refused_pending && !retry) s->mem_breached = true;
        s->refused_pending = false;
        if (s->mem_limit && s->mem_used - old + nsize > s->mem_limit) {
            if (retry) {
                s->mem_breached = true;
            } else {
                s->refused_pending = true;
                s->refused_ptr = ptr;
                s->refused_osize = osize;
                s->refused_nsize = nsize;
            }
            return NULL;
        }
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    s->mem_used = s->mem_used - old + nsize;
    return p;
}

/* True when the memory cap was breached. A refusal still pending here was
 * final (nothing retried it: lauxlib's buffers raise at once). */
static bool slot_mem_breached(lua_slot *s)
{
    if (s->refused_pending) {
        s->refused_pending = false;
        s->mem_breached = true;
    }
    return s->mem_breached;
}

/* Garbage counts against the cap, and lauxlib's buffers fail without the
 * emergency collection Lua gives its own allocations; so past a threshold a
 * full collection runs at the next safe point (the count hook), and the
 * threshold moves halfway to the cap from what survives it. */
static void slot_gc_check(lua_State *L, lua_slot *s)
{
    if (!s->mem_limit || s->mem_used < s->gc_threshold) return;
    lua_gc(L, LUA_GCCOLLECT);
    size_t used = s->mem_used < s->mem_limit ? s->mem_used : s->mem_limit;
    size_t gap = (s->mem_limit - used) / 2;
    if (gap < s->mem_limit / 32) gap = s->mem_limit / 32; /* no collection per hook near the cap */
    s->gc_threshold = used + gap > s->mem_limit / 2 ? used + gap : s->mem_limit / 2;
}

/* ---- time limit ---- */

static void slot_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_slot *s = lua_host_slot(L);
    if (!s || !s->a) return;
    if (!s->timed_out && !slot_mem_breached(s)) {
        if (s->deadline_ms <= 0 || now_ms() < s->deadline_ms) {
            slot_gc_check(L, s);
            return;
        }
        s->timed_out = true;
    }
    /* From now on raise at every instruction of this thread, so a pcall in
     * the action cannot swallow the breach and carry on. */
    lua_sethook(L, slot_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "%s", s->timed_out ? "time limit exceeded" : "memory limit exceeded");
}

static void slot_warn(void *ud, const char *msg, int tocont)
{
    lua_slot *s = ud;
    if (s->warn_len == 0 && !tocont && msg[0] == '@') return; /* control message */
    size_t n = strlen(msg), room = sizeof s->warn_buf - 1 - s->warn_len;
    if (n > room) n = room;
    memcpy(s->warn_buf + s->warn_len, msg, n);
    s->warn_len += n;
    s->warn_buf[s->warn_len] = '\0';
    if (tocont) return;
    if (s->a) {
        char line[sizeof s->warn_buf + 16];
        int len = snprintf(line, sizeof line, "Lua warning: %s", s->warn_buf);
        size_t shown = len < 0 ? 0 : (size_t)len < sizeof line ? (size_t)len : sizeof line - 1;
        lua_host_log(s->a, "stderr", line, shown);
    }
    s->warn_len = 0;
}

/* ---- sandbox ---- */

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

/* A module name is a dotted (or slashed) path of plain segments. */
static bool module_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > 200 || strlen(name) != len) return false;
    if (name[0] == '/' || name[0] == '.' || strstr(name, "..") || strstr(name, "//")) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '/'))
            return false;
    }
    return name[len - 1] != '.' && name[len - 1] != '/';
}

/* Finds module name for activation a: the action's own folder first, then
 * <app>/actions/lib. Fills path and chunk ("@<path in the app>"). Returns 1
 * when found, 0 when not, -1 when refused; msg says why. No allocation
 * survives the call, so the caller may raise afterwards. */
static int module_find(const activation_t *a, const char *name, char *path, size_t pathlen,
                       char *chunk, size_t chunklen, char *msg, size_t msglen)
{
    const char *appdir = a->engine && a->engine->app ? a->engine->app->dir : NULL;
    char *root = path_real(appdir ? appdir : a->action->dir);
    if (!root) {
        snprintf(msg, msglen, "module '%s' not found: the app folder is not readable", name);
        return -1;
    }
    char rel[256];
    snprintf(rel, sizeof rel, "%s", name);
    for (char *c = rel; *c; c++)
        if (*c == '.') *c = '/';
    char *lib = path_join(root, "actions/lib");
    const char *dirs[2] = {a->action->dir, lib};
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        char *cand = xasprintf("%s/%s.lua", dirs[i], rel);
        char *real = path_real(cand);
        free(cand);
        if (!real) continue;
        if (!path_within(root, real)) {
            snprintf(msg, msglen, "module '%s' refused: it resolves outside the app folder", name);
            found = -1;
        } else if (path_is_file(real)) {
            const char *inside = real + strlen(root);
            while (*inside == '/') inside++;
            snprintf(path, pathlen, "%s", real);
            snprintf(chunk, chunklen, "@%s", inside);
            found = 1;
        }
        free(real);
    }
    if (!found)
        snprintf(msg, msglen, "module '%s' not found (looked for %s.lua in the action's folder "
                              "and in actions/lib)", name, rel);
    free(lib);
    free(root);
    return found;
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
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* 2 */
    if (lua_getfield(L, 2, name) != LUA_TNIL && lua_toboolean(L, -1)) return 1;
    lua_pop(L, 1);
    if (!module_name_valid(name, len))
        return luaL_error(L, "module '%s' refused: names are dotted paths inside the app folder",
                          name);
    activation_t *a = lua_host_activation(L);
    char path[PATH_MAX], chunk[PATH_MAX + 2], msg[PATH_MAX + 300];
    if (module_find(a, name, path, sizeof path, chunk, sizeof chunk, msg, sizeof msg) <= 0)
        return luaL_error(L, "%s", msg);
    err_t err;
    size_t srclen;
    char *src = file_read(path, &srclen, &err);
    if (!src) return luaL_error(L, "cannot read module '%s': %s", name, err.msg);
    /* Text only: Lua bytecode can be crafted to break out of the VM. */
    int st = luaL_loadbufferx(L, src, srclen, chunk, "t");
    free(src);
    if (st != LUA_OK)
        return luaL_error(L, "cannot load module '%s': %s", name, lua_tostring(L, -1));
    lua_pushvalue(L, 1);
    lua_pushstring(L, chunk + 1);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
}

/* Opens the allowed libraries and removes what an action must not reach.
 * Runs protected: any step may fail for memory. */
static int sandbox_open(lua_State *L)
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

    /* os: only the clock and calendar */
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

/* ---- running ---- */

/* The text of an error value. Pushes it and returns it. */
static const char *error_text(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
        lua_pushvalue(L, idx);
        return lua_tostring(L, -1);
    case LUA_TTABLE:
        if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
            lua_pop(L, 1);
            return luaL_tolstring(L, idx, NULL);
        }
        if (lua_host_push_encoded(L, idx, JSON_COMPACT | JSON_SORT_KEYS))
            return lua_tostring(L, -1);
        break;
    case LUA_TNIL:
        return lua_pushliteral(L, "nil");
    default:
        break;
    }
    return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}

/* Message handler: keeps the traceback for the logs, returns the message. */
static int slot_msgh(lua_State *L)
{
    lua_slot *s = lua_host_slot(L);
    if (s->timed_out || slot_mem_breached(s)) return 1;
    const char *msg = error_text(L, 1);
    luaL_traceback(L, L, msg, 1);
    free(s->traceback);
    s->traceback = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return 1;
}

/* Calls main(params) and converts its result into the slot. */
static int run_main(lua_State *L)
{
    lua_slot *s = lua_host_slot(L);
    activation_t *a = s->a;
    if (lua_getglobal(L, "main") != LUA_TFUNCTION)
        return luaL_error(L, "the action does not define a function main(params)");
    if (a->params) lua_host_push_json(L, a->params);
    else lua_newtable(L);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        s->result = json_object();
        return 0;
    }
    if (!lua_istable(L, -1)) {
        snprintf(s->result_error, sizeof s->result_error, "action result must be a table");
        return 0;
    }
    json_t *r;
    char err[256];
    if (lua_host_to_json(L, -1, &r, err, sizeof err) < 0) {
        snprintf(s->result_error, sizeof s->result_error, "cannot encode the action result: %s",
                 err);
        return 0;
    }
    if (!json_is_object(r)) {
        json_decref(r);
        if (lua_rawlen(L, -1) > 0) {
            snprintf(s->result_error, sizeof s->result_error,
                     "action result must be a table with string keys, not an array");
            return 0;
        }
        r = json_object(); /* an empty marked array: nothing in it either way */
    }
    s->result = r;
    return 0;
}

static void slot_close(lua_slot *s)
{
    if (s->L) lua_close(s->L);
    json_decref(s->result);
    free(s->traceback);
    free(s->fqn);
    free(s->function);
    free(s);
}

static void pool_unlink(lua_pool *p, lua_slot *s)
{
    for (lua_slot **pp = &p->head; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            p->n--;
            return;
        }
    }
}

static void pool_free(lua_pool *p)
{
    lua_slot *s = p->head;
    while (s) {
        lua_slot *next = s->next;
        slot_close(s);
        s = next;
    }
    free(p);
}

static void pool_key_destroy(void *p)
{
    /* Thread exit: a thread that ends without lua_backend_thread_cleanup. */
    if (p == tls_pool) tls_pool = NULL;
    pool_free(p);
}

static void pool_key_create(void)
{
    if (pthread_key_create(&pool_key, pool_key_destroy) != 0) abort();
}

static lua_pool *pool_get(void)
{
    if (!tls_pool) {
        pthread_once(&pool_once, pool_key_create);
        tls_pool = xcalloc(1, sizeof *tls_pool);
        pthread_setspecific(pool_key, tls_pool);
    }
    return tls_pool;
}

void lua_backend_thread_cleanup(void)
{
    lua_pool *p = tls_pool;
    if (!p) return;
    /* Busy interpreters belong to activations still on this thread's stack:
     * only the idle ones can go. */
    lua_slot **pp = &p->head;
    while (*pp) {
        lua_slot *s = *pp;
        if (s->busy) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        p->n--;
        slot_close(s);
    }
    if (p->head) return;
    pthread_setspecific(pool_key, NULL);
    free(p);
    tls_pool = NULL;
}

static bool slot_current(const lua_slot *s, const struct stat *st)
{
    return s->dev == st->st_dev && s->ino == st->st_ino && s->size == st->st_size &&
           s->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Drops the least recently used idle interpreter when the pool is full. */
static void pool_evict(lua_pool *p)
{
    if (p->n < LUA_POOL_MAX) return;
    lua_slot *victim = NULL;
    for (lua_slot *s = p->head; s; s = s->next)
        if (!s->busy && (!victim || s->last_used_ms < victim->last_used_ms)) victim = s;
    if (!victim) return;
    pool_unlink(p, victim);
    slot_close(victim);
}

static lua_slot *slot_new(const activation_t *a, const struct stat *st, bool temporary)
{
    lua_slot *s = xcalloc(1, sizeof *s);
    s->fqn = xstrdup(a->action->fqn);
    s->function = xstrdup(a->action->function);
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    s->temporary = temporary;
    s->mem_limit = a->memory_limit;
    s->L = lua_newstate(slot_alloc, s);
    if (!s->L) return s; /* the caller reports it */
    *(lua_slot **)lua_getextraspace(s->L) = s;
    lua_setwarnf(s->L, slot_warn, s);
    return s;
}

/* The action file's name in messages: relative to the app folder. */
static void chunk_name(const activation_t *a, char *out, size_t len)
{
    const char *f = a->action->function;
    const char *appdir = a->engine && a->engine->app ? a->engine->app->dir : NULL;
    size_t n = appdir ? strlen(appdir) : 0;
    while (n > 1 && appdir[n - 1] == '/') n--;
    if (n && !strncmp(f, appdir, n) && f[n] == '/') f += n + 1;
    snprintf(out, len, "@%s", f);
}

/* Turns the end of a protected call (status, message on top) into the
 * activation's outcome when it failed. Returns true when the state may
 * serve again. */
static bool slot_failed(lua_slot *s, activation_t *a, int status)
{
    if (s->timed_out) {
        a->timed_out = true;
        activation_fail(a, ACT_DEV_ERROR, "The action exceeded its time limit of %d milliseconds.",
                        a->action->timeout_ms);
        return false;
    }
    if (slot_mem_breached(s) || status == LUA_ERRMEM) {
        activation_fail(a, ACT_DEV_ERROR, "The action exceeded its memory limit of %zu MB.",
                        (a->memory_limit + MB - 1) / MB);
        return false;
    }
    const char *msg = lua_type(s->L, -1) == LUA_TSTRING ? lua_tostring(s->L, -1) : NULL;
    if (s->traceback) lua_host_log(a, "stderr", s->traceback, strlen(s->traceback));
    else if (msg) lua_host_log(a, "stderr", msg, strlen(msg));
    activation_fail(a, ACT_DEV_ERROR, "%s", msg ? msg : "the action failed");
    /* After an error in the error handler the state is suspect. */
    return status == LUA_ERRRUN;
}

/* Creates the interpreter's globals and runs the action file's top level.
 * Returns false (outcome set) when the state cannot serve. */
static bool slot_load(lua_slot *s, activation_t *a)
{
    lua_State *L = s->L;
    lua_pushcfunction(L, sandbox_open);
    int st = lua_pcall(L, 0, 0, 0);
    if (st != LUA_OK) {
        if (st == LUA_ERRMEM || slot_mem_breached(s)) {
            slot_failed(s, a, LUA_ERRMEM);
            return false;
        }
        activation_fail(a, ACT_INTERNAL_ERROR, "cannot set up the Lua sandbox: %s",
                        lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        return false;
    }
    err_t err;
    size_t len;
    char *src = file_read(a->action->function, &len, &err);
    if (!src) {
        activation_fail(a, ACT_DEV_ERROR, "cannot read the action file: %s", err.msg);
        return false;
    }
    char chunk[PATH_MAX + 2];
    chunk_name(a, chunk, sizeof chunk);
    lua_pushcfunction(L, slot_msgh);
    st = luaL_loadbufferx(L, src, len, chunk, "t");
    free(src);
    if (st == LUA_OK) st = lua_pcall(L, 0, 0, -2);
    if (st != LUA_OK) {
        slot_failed(s, a, st);
        return false;
    }
    lua_settop(L, 0);
    return true;
}

void lua_backend_run(activation_t *a)
{
    if (tls_depth >= LUA_MAX_NESTING) {
        activation_fail(a, ACT_DEV_ERROR,
                        "too many nested invocations on one thread (the limit is %d)",
                        LUA_MAX_NESTING);
        return;
    }
    struct stat st;
    if (stat(a->action->function, &st) < 0) {
        activation_fail(a, ACT_DEV_ERROR, "cannot read the action file %s: %s",
                        a->action->function, strerror(errno));
        return;
    }

    lua_pool *pool = pool_get();
    lua_slot *s = NULL;
    bool busy = false;
    for (lua_slot *c = pool->head; c; c = c->next) {
        if (strcmp(c->fqn, a->action->fqn) || strcmp(c->function, a->action->function)) continue;
        if (c->busy) {
            busy = true;
        } else if (!slot_current(c, &st)) {
            pool_unlink(pool, c); /* edited: load it afresh */
            slot_close(c);
        } else {
            s = c;
        }
        break;
    }

    tls_depth++;
    int64_t t0 = mono_ms();
    bool fresh = !s;
    if (fresh) {
        s = slot_new(a, &st, busy);
        if (!busy) {
            pool_evict(pool);
            s->next = pool->head;
            pool->head = s;
            pool->n++;
        }
    }
    s->busy = true;
    s->a = a;
    s->deadline_ms = a->deadline_ms;
    s->mem_limit = a->memory_limit;
    s->gc_threshold = a->memory_limit / 4 * 3;
    s->refused_pending = false;
    s->result_error[0] = '\0';
    bool keep = s->L != NULL;
    if (!s->L) {
        activation_fail(a, ACT_DEV_ERROR, "The action exceeded its memory limit of %zu MB.",
                        (a->memory_limit + MB - 1) / MB);
    } else {
        lua_sethook(s->L, slot_hook, LUA_MASKCOUNT, LUA_HOOK_INSTRUCTIONS);
        if (fresh) {
            keep = slot_load(s, a);
            a->cold = true;
            a->init_ms = mono_ms() - t0;
        }
    }
    if (keep) {
        lua_State *L = s->L;
        lua_settop(L, 0);
        lua_pushcfunction(L, slot_msgh);
        lua_pushcfunction(L, run_main);
        int rc = lua_pcall(L, 0, 0, 1);
        if (rc != LUA_OK || s->timed_out || slot_mem_breached(s)) {
            keep = slot_failed(s, a, rc);
        } else if (s->result_error[0]) {
            activation_fail(a, ACT_DEV_ERROR, "%s", s->result_error);
        } else {
            json_decref(a->result);
            a->result = s->result;
            s->result = NULL;
            a->status = json_object_get(a->result, "error") ? ACT_APP_ERROR : ACT_SUCCESS;
        }
        lua_settop(L, 0);
    }

    s->a = NULL;
    s->busy = false;
    s->last_used_ms = mono_ms();
    json_decref(s->result);
    s->result = NULL;
    free(s->traceback);
    s->traceback = NULL;
    tls_depth--;
    if (!keep || s->temporary) {
        if (!s->temporary) pool_unlink(pool, s);
        slot_close(s);
    }
}
