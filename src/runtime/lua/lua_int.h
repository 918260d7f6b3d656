/* lua_int: private to the Lua backend (src/runtime/lua/). The
 * per-interpreter record that backend.c (pool, allocator, limits, run
 * driver), sandbox.c (libraries, require) and the host modules of the
 * `evkit` table (json, log, publish, invoke, state, crypto, http, schema,
 * test) share, and the helpers between them.
 *
 * Raising: every Lua API call that allocates may raise (longjmp), e.g. when
 * the memory cap refuses. C code that owns malloc'd memory must park it in a
 * guard (lua_host_guard) before calling such functions, or not call them. */
#ifndef EVKIT_RUNTIME_LUA_INT_H
#define EVKIT_RUNTIME_LUA_INT_H

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/json_io.h"
#include "core/util.h"
#include "runtime/runtime.h"

/* JSON nesting limit in both directions; deeper is refused (it also stops
 * cycles when encoding). The doors let values in up to EVK_JSON_MAX_DEPTH;
 * the margin is for what evkit wraps around them (params around an event's
 * data, a handler's params around its consumer's), so that nothing a door
 * accepted fails here. */
#define LUA_HOST_MAX_DEPTH (EVK_JSON_MAX_DEPTH + 8)

/* One interpreter: cached per thread and action, or temporary for a nested
 * invocation of an action whose cached interpreter is busy. Reached from a
 * lua_State through its extra space (coroutines inherit it). */
typedef struct lua_slot {
    lua_State *L;
    char *fqn;                 /* cache key: action and function file ... */
    char *function;
    dev_t dev;                 /* ... and the file version it loaded */
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    bool temporary;            /* not in the pool: closed after one activation */
    bool busy;                 /* an activation runs in it (maybe further up this thread's stack) */
    int64_t last_used_ms;      /* mono, for evicting the least recently used */

    /* the running activation; NULL between activations */
    activation_t *a;
    int64_t deadline_ms;       /* epoch */
    bool timed_out;            /* sticky until the state is discarded */
    bool mem_breached;         /* sticky until the state is discarded */

    /* allocator accounting: bytes live in this state, and the cap (0 = none) */
    size_t mem_used;
    size_t mem_limit;
    size_t gc_threshold;       /* a full collection runs past it (at a safe point) */
    /* the last refused request, to recognise Lua's retry after its emergency
     * collection: refusing the retry too is the real breach */
    const void *refused_ptr;
    size_t refused_osize, refused_nsize;
    bool refused_pending;

    /* filled by the run driver */
    json_t *result;            /* the converted result (owned) */
    err_t result_err;          /* code set when the result could not be used */
    char *traceback;           /* of the last uncaught error (owned) */
    bool has_kept;             /* the kept-numbers table has entries (json.c) */

    char warn_buf[512];        /* pieces of a Lua warning being assembled */
    size_t warn_len;

    struct lua_slot *next;
} lua_slot;

static inline lua_slot *lua_host_slot(lua_State *L)
{
    return *(lua_slot **)lua_getextraspace(L);
}

/* ---- host.c: the module, guards, logs ---- */

/* The activation the calling code runs for; raises when there is none. */
activation_t *lua_host_activation(lua_State *L);

/* Creates the `evkit` module (registry and global `evkit`, and
 * package.loaded.evkit). Raises on allocation failure: call protected. */
void lua_host_open(lua_State *L);
/* Pushes the `evkit` module kept in the registry. */
void lua_host_push_module(lua_State *L);
/* Sets fns as the table `name` of the table on top of the stack. */
void lua_host_add_lib(lua_State *L, const char *name, const luaL_Reg *fns);
/* Creates a metatable kept in the registry under key, protected by
 * __metatable = name, with the given metamethods (NULL-terminated). */
void lua_host_new_mt(lua_State *L, const void *key, const char *name, const luaL_Reg *fns);

/* A guard: a userdata pushed on the stack owning p (set through the returned
 * pointer) and freeing it with fn when collected, so a raise cannot leak it.
 * lua_host_guard_release frees now (the guard stays, empty). */
void **lua_host_guard(lua_State *L, void (*fn)(void *));
void lua_host_guard_release(lua_State *L, int idx);
/* Guard free function for json_t. */
void lua_host_json_free(void *p);

/* Appends text to the activation's logs on stream, one log line per line. */
void lua_host_log(activation_t *a, const char *stream, const char *text, size_t len);

/* ---- json.c: JSON <-> Lua ---- */

/* Pushes v (borrowed) converted to Lua: objects -> tables, arrays -> tables
 * marked as arrays, null -> evkit.json.null. Raises on nesting deeper than
 * LUA_HOST_MAX_DEPTH and on allocation failure, so v must be owned by
 * something that survives a raise (the activation, or a guard). */
void lua_host_push_json(lua_State *L, const json_t *v);
/* Starts an activation's set of kept numbers afresh (see json.c). */
void lua_host_forget_kept(lua_State *L);
/* Converts the value at idx to JSON into *out (new reference). Never raises:
 * returns -1 with err (EVK_INVALID, and *out NULL) when the value cannot be
 * encoded (functions, NaN, mixed tables, nesting, invalid UTF-8). */
int lua_host_to_json(lua_State *L, int idx, json_t **out, err_t *err);
/* lua_host_to_json for a Lua function's argument: raises "<what>: <why>". */
json_t *lua_host_check_json(lua_State *L, int idx, const char *what);
/* True when the table at idx carries the array marker. */
bool lua_host_is_array(lua_State *L, int idx);
/* Marks the table on top of the stack as a JSON array. */
void lua_host_mark_array(lua_State *L);
/* True when the value at idx is evkit.json.null; pushes it. */
bool lua_host_is_null(lua_State *L, int idx);
void lua_host_push_null(lua_State *L);
/* Pushes the JSON text (jansson dump flags) of the value at idx; false, with
 * nothing pushed, when it cannot be encoded. redact passes it through the
 * daemon's log redaction first. Raises only on allocation. */
bool lua_host_push_encoded(lua_State *L, int idx, size_t flags, bool redact);
/* A JSON text decoded to Lua (pushed); raises "<what>: invalid JSON ..." */
void lua_host_push_decoded(lua_State *L, const char *text, size_t len, const char *what);

/* ---- the host modules: each adds its table (or function) to the module
 * table on top of the stack ---- */
void lua_open_json(lua_State *L);
void lua_open_log(lua_State *L);
void lua_open_publish(lua_State *L);
void lua_open_invoke(lua_State *L);
/* Pushes evkit.invoke's second result: {activationId, status, duration}. */
void lua_host_push_invoke_info(lua_State *L, const invoke_result *res);
void lua_open_state(lua_State *L);
void lua_open_crypto(lua_State *L);
void lua_open_http(lua_State *L);
void lua_open_schema(lua_State *L);

/* ---- sandbox.c ---- */

/* Opens the allowed libraries, `require` and the evkit module. Runs
 * protected (lua_pcall of this function): any step may fail for memory. */
int lua_sandbox_open(lua_State *L);
/* Resolves a file path given by an action, relative to base (NULL: the
 * action's folder), inside the app folder: fills real (absolute, canonical)
 * and returns 0, or -1 with err (EVK_NOT_FOUND, EVK_FORBIDDEN when it
 * leaves the app folder). */
int lua_sandbox_resolve(const activation_t *a, const char *base, const char *rel, char *real,
                        size_t len, err_t *err);

/* ---- test.c: `evkit test` worlds ---- */

/* While `evkit test` runs, the test file's interpreter stands in for the
 * outside world: outbound HTTP, state, publish and invoke go to the world
 * its test set up (lua_test_active). lua_test_call calls method `name` of
 * that world with the nargs values on top of L (popped; converted through
 * JSON into the test interpreter, nil stays nil) and pushes exactly nres
 * results (converted back, nil when missing); returns nres. Raises in L
 * when the world's method raises. */
bool lua_test_active(void);
/* In a test file's interpreter: pushes the evkit.test module, true.
 * Elsewhere false, nothing pushed. */
bool lua_test_push_module(lua_State *L);
int lua_test_call(lua_State *L, const char *name, int nargs, int nres);

#endif
