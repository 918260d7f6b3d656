/* runtime: invokes actions of every kind and records an OpenWhisk-shaped
 * activation for each invocation. runtime.c dispatches to one backend per
 * kind (lua.c, exec.c, actionloop.c); backends fill an activation_t.
 *
 * Threads: runtime_invoke may be called from any thread, concurrently. Lua
 * interpreters are pooled per thread; no global lock. */
#ifndef EVKIT_RUNTIME_H
#define EVKIT_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/tracectx.h"
#include "core/util.h"
#include "engine.h"
#include "manifest/manifest.h"

/* OpenWhisk response status: success/0, application error/1,
 * action developer error/2, whisk internal error/3. */
typedef enum {
    ACT_SUCCESS = 0,
    ACT_APP_ERROR = 1,
    ACT_DEV_ERROR = 2,
    ACT_INTERNAL_ERROR = 3
} act_status;
const char *act_status_name(act_status st);

#define ACTIVATION_LOG_LIMIT (10u * 1024 * 1024)

typedef struct activation {
    /* in */
    engine_t *engine;
    const action_t *action;
    json_t *params;              /* borrowed: the full params the action sees */
    char id[33];                 /* activation id */
    char cause[33];              /* parent activation id, "" when none */
    int64_t start_ms;            /* epoch */
    int64_t deadline_ms;         /* epoch; start + limits.timeout */
    size_t memory_limit;         /* bytes */
    tracectx trace;              /* W3C trace context: its trace, its own span */
    char parent_span[17];        /* the span it continues ("" when it started the trace) */
    /* out, filled by the backend */
    json_t *result;              /* owned; NULL is treated as {} */
    act_status status;
    bool timed_out;              /* the deadline passed; status is ACT_DEV_ERROR */
    bool not_started;            /* the action's process could not be started (no file,
                                  * not executable, exec failed): status is an error */
    bool bad_input;              /* the params can never be handed to this runtime (nested
                                  * too deep): status is an error, no retry can help */
    bool cold;                   /* an interpreter/process was created for it */
    int64_t init_ms;             /* time to create it when cold */
    json_t *logs;                /* owned array of "<ISO time> stdout|stderr: line" */
    size_t logs_bytes;
    bool logs_truncated;
} activation_t;

/* Appends one log line (stream "stdout" or "stderr"), stamped now; past
 * ACTIVATION_LOG_LIMIT lines are dropped and one truncation notice is kept. */
void activation_log(activation_t *a, const char *stream, const char *line, size_t len);
/* Sets a developer error result {"error": msg}. */
void activation_fail(activation_t *a, act_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Backends: run a->action with a->params, honouring deadline and memory.
 * They set result, status (ACT_SUCCESS unless the result has a top-level
 * "error" -> ACT_APP_ERROR, or the action failed -> ACT_DEV_ERROR), logs. */
void lua_backend_run(activation_t *a);
void exec_backend_run(activation_t *a);
void actionloop_backend_run(activation_t *a);
void nodejs_backend_run(activation_t *a);
/* A sequence: one nested activation per step (sequence.c). */
void sequence_backend_run(activation_t *a);
/* Stops pooled processes/interpreters (shutdown). */
void actionloop_backend_shutdown(void);
void lua_backend_thread_cleanup(void);

/* Per-activation API keys (actkey.c): what an activation gets as
 * __OW_API_KEY. The namespaces API takes one as Basic auth until
 * RUNTIME_KEY_MARGIN_MS after its activation's deadline, and records what
 * it invokes as caused by that activation. Keys hold no secret of the
 * daemon's and die with it. */
#define RUNTIME_KEY_SIZE 128
#define RUNTIME_KEY_MARGIN_MS 30000
void runtime_activation_key(const char *id, int64_t deadline_ms, char out[RUNTIME_KEY_SIZE]);
/* True when key (n bytes) is one runtime_activation_key made in this
 * process and still valid; cause (may be NULL) gets its activation id. */
bool runtime_key_verify(const char *key, size_t n, char cause[33]);

/* The activation id of the activation running on this thread ("" none),
 * so that nested invocations carry causedBy. */
const char *runtime_current_activation(void);
/* The trace context of the activation running on this thread (NULL none):
 * what evkit.http, evkit.publish and nested invocations continue. */
const tracectx *runtime_current_trace(void);

typedef struct invoke_result {
    char activation_id[33];
    act_status status;
    json_t *result;      /* owned by the caller: decref */
    int64_t duration_ms;
    bool timed_out;
    bool not_started;    /* the process could not be started (see activation_t) */
    bool bad_input;      /* the params can never be handed to it (see activation_t) */
} invoke_result;

/* Invokes action with params (borrowed; the action's inputs are NOT added
 * here: callers build the full params with runtime_params). cause: parent
 * activation id or NULL (then the thread's current activation is used).
 * path_kind annotates how it was reached ("web", "delivery", "invoke",
 * "cli"). Writes the activation record (asynchronously). Never fails: errors
 * become a developer or internal error result. */
void runtime_invoke(engine_t *e, const action_t *action, json_t *params, const char *cause,
                    invoke_result *out);
/* runtime_invoke with the activation id chosen by the caller (32 lower-case
 * hex; NULL or another length: a fresh one), for an id answered before the
 * activation ends (non-blocking invokes). */
void runtime_invoke_as(engine_t *e, const action_t *action, json_t *params, const char *cause,
                       const char *id, invoke_result *out);

/* runtime_invoke continuing the W3C traceparent given (a web request's
 * header, a delivery attempt's span); NULL or invalid: the thread's current
 * activation's trace, else a new trace. Every activation gets a span of its
 * own in that trace (annotations traceparent and parentSpanId). */
void runtime_invoke_traced(engine_t *e, const action_t *action, json_t *params, const char *cause,
                           const char *traceparent, invoke_result *out);

/* runtime_invoke that also hands over the activation's log lines in *logs
 * (an array the caller owns), as `evkit test` shows them to tests. */
void runtime_invoke_logged(engine_t *e, const action_t *action, json_t *params, const char *cause,
                           invoke_result *out, json_t **logs);

/* Params for an invocation: action inputs (already package < action)
 * overlaid by request (borrowed, may be NULL). With the final annotation a
 * request key that names a declared input is refused, as OpenWhisk does:
 * NULL with err "Request defines parameters that are not allowed". Returns a
 * new object. */
json_t *runtime_params(const action_t *action, const json_t *request, err_t *err);

/* ---- triggers (trigger.c) ---- */
/* The first schedule slot of t's feed strictly after after_ms within its
 * startDate and stopDate; since_ms is when the store first saw the trigger
 * (an interval without startDate counts from there). INT64_MAX when none. */
int64_t trigger_next_slot(const trigger_t *t, int64_t since_ms, int64_t after_ms);

/* t as the namespaces API and `evkit trigger list` show it: name,
 * namespace, feed, its schedule inputs, parameters, rules and, for a
 * scheduled one, lastFire, lastActivationId and nextFire (ISO or null). */
json_t *trigger_describe(engine_t *e, const trigger_t *t);

typedef struct trigger_fire {
    const char *id;        /* the activation id to use (a claimed fire), or NULL */
    int64_t scheduled_ms;  /* the schedule slot; 0 for a fire through the API */
    int64_t missed;        /* slots passed over before this one (while stopped) */
    bool recovered;        /* a fire the process died in, run again */
} trigger_fire;
/* Fires t with params (over t->params; may be NULL): the trigger's
 * activation and each rule's action, one after the other on this thread.
 * how may be NULL. Returns how many rules ran; out_id (may be NULL) gets the
 * trigger's activation id. */
int runtime_fire_trigger(engine_t *e, const trigger_t *t, const json_t *params,
                         const trigger_fire *how, char out_id[33]);

#endif
