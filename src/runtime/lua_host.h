/* lua_host: private to the Lua backend. The per-interpreter record that
 * lua.c (pool, allocator, limits, sandbox) and lua_host.c (the `evkit`
 * module, JSON <-> Lua conversion) share, and the helpers between them.
 *
 * Raising: every Lua API call that allocates may raise (longjmp), e.g. when
 * the memory cap refuses. C code that owns malloc'd memory must park it in a
 * guard (lua_host_guard) before calling such functions, or not call them. */
#ifndef EVKIT_RUNTIME_LUA_HOST_H
#define EVKIT_RUNTIME_LUA_HOST_H

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"

/* JSON nesting limit in both directions; deeper is refused (it also stops
 * cycles when encoding). */
#define LUA_HOST_MAX_DEPTH 64

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
    char result_error[300];    /* set when the result could not be used */
    char *traceback;           /* of the last uncaught error (owned) */

    char warn_buf[512];        /* pieces of a Lua warning being assembled */
    size_t warn_len;

    struct lua_slot *next;
} lua_slot;

static inline lua_slot *lua_host_slot(lua_State *L)
{
    return *(lua_slot **)lua_getextraspace(L);
}

/* The activation the calling code runs for; raises when there is none. */
activation_t *lua_host_activation(lua_State *L);

/* Creates the `evkit` module (registry and global `evkit`, and
 * package.loaded.evkit). Raises on allocation failure: call protected. */
void lua_host_open(lua_State *L);
/* Pushes the `evkit` module kept in the registry. */
void lua_host_push_module(lua_State *L);

/* Pushes v (borrowed) converted to Lua: objects -> tables, arrays -> tables
 * marked as arrays, null -> evkit.json.null. Raises on nesting deeper than
 * LUA_HOST_MAX_DEPTH and on allocation failure, so v must be owned by
 * something that survives a raise (the activation, or a guard). */
void lua_host_push_json(lua_State *L, const json_t *v);
/* Converts the value at idx to JSON into *out (new reference). Never raises:
 * returns -1 with a message in err (and *out NULL) when the value cannot be
 * encoded (functions, NaN, mixed tables, nesting, invalid UTF-8). */
int lua_host_to_json(lua_State *L, int idx, json_t **out, char *err, size_t errlen);
/* True when the table at idx carries the array marker. */
bool lua_host_is_array(lua_State *L, int idx);
/* True when the value at idx is evkit.json.null. */
bool lua_host_is_null(lua_State *L, int idx);
/* Pushes the JSON text (jansson dump flags) of the value at idx; false, with
 * nothing pushed, when it cannot be encoded. Raises only on allocation. */
bool lua_host_push_encoded(lua_State *L, int idx, size_t flags);

/* A guard: a userdata pushed on the stack owning p (set through the returned
 * pointer) and freeing it with fn when collected, so a raise cannot leak it.
 * lua_host_guard_release frees now (the guard stays, empty). */
void **lua_host_guard(lua_State *L, void (*fn)(void *));
void lua_host_guard_release(lua_State *L, int idx);
/* Guard free function for json_t. */
void lua_host_json_free(void *p);

/* Appends text to the activation's logs on stream, one log line per line. */
void lua_host_log(activation_t *a, const char *stream, const char *text, size_t len);

#endif
