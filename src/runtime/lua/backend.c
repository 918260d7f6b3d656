/* backend: the Lua backend. Runs `main(params)` of an action file in an
 * embedded Lua 5.4 interpreter and turns what it returns into the
 * activation's result.
 *
 * - Pool: each thread keeps one interpreter per action (thread-local, no
 *   lock), reloaded when the file changes; a warm activation skips loading.
 *   A nested activation of an action whose interpreter is busy further up
 *   this thread's stack (evkit.invoke recursion) gets a temporary one.
 * - Sandbox: see sandbox.c; the `evkit` module: host.c.
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
#include "runtime/lua/lua_int.h"

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
        if (lua_host_push_encoded(L, idx, JSON_COMPACT | JSON_SORT_KEYS, false))
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

/* Calls main(params) and converts its result into the slot (or says in
 * result_err why it cannot be used). */
static int run_main(lua_State *L)
{
    lua_slot *s = lua_host_slot(L);
    activation_t *a = s->a;
    if (lua_getglobal(L, "main") != LUA_TFUNCTION)
        return luaL_error(L, "the action does not define a function main(params)");
    lua_host_forget_kept(L);
    if (a->params) lua_host_push_json(L, a->params);
    else lua_newtable(L);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        s->result = json_object();
        return 0;
    }
    if (!lua_istable(L, -1)) {
        err_code(&s->result_err, EVK_INVALID, "action result must be a table");
        return 0;
    }
    json_t *r;
    err_t err;
    if (lua_host_to_json(L, -1, &r, &err) < 0) {
        err_code(&s->result_err, EVK_INVALID, "cannot encode the action result: %s", err.msg);
        return 0;
    }
    if (!json_is_object(r)) {
        json_decref(r);
        if (lua_rawlen(L, -1) > 0) {
            err_code(&s->result_err, EVK_INVALID,
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
    /* Most of what an activation allocates dies with it: the generational
     * collector frees that young garbage without marking the interpreter's
     * long-lived modules each cycle. */
    lua_gc(s->L, LUA_GCGEN, 0, 0);
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
    lua_pushcfunction(L, lua_sandbox_open);
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
    /* Params no Lua run could take: the input's fault, whatever the action
     * (delivery makes such an event a dead letter at once). */
    if (a->params && json_depth(a->params, LUA_HOST_MAX_DEPTH) > LUA_HOST_MAX_DEPTH) {
        activation_fail(a, ACT_DEV_ERROR,
                        "the params nest deeper than %d levels, more than the Lua runtime "
                        "takes; the action was not run", LUA_HOST_MAX_DEPTH);
        a->bad_input = true;
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
    s->result_err = (err_t){0};
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
        } else if (s->result_err.code != EVK_OK) {
            activation_fail(a, ACT_DEV_ERROR, "%s", s->result_err.msg);
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
