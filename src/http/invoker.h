/* invoker: runs namespaces-API invocations on threads of their own, so a
 * non-blocking invoke answers 202 at once and a blocking one can stop
 * waiting (202 past the wait limit) while the activation runs on.
 * Non-blocking activations in flight are bounded; the invoker waits for
 * every activation it started before it is freed (shutdown). */
#ifndef EVKIT_HTTP_INVOKER_H
#define EVKIT_HTTP_INVOKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "runtime/runtime.h"

typedef struct invoker invoker_t;
typedef struct invoke_job invoke_job_t;

/* max_async: non-blocking activations running at once (beyond: refused). */
invoker_t *invoker_new(int max_async);
/* Waits for every started activation, then frees. */
void invoker_free(invoker_t *inv);

/* Starts action with params (stolen) on its own thread; the activation
 * id is known at once (invoke_job_id). NULL when async and the limit is
 * reached (params freed). */
invoke_job_t *invoker_start(invoker_t *inv, engine_t *e, const action_t *a, json_t *params,
                            const char *cause, bool async);
const char *invoke_job_id(const invoke_job_t *j);
/* Waits up to timeout_ms; true with *res filled (result borrowed from the
 * job: valid until invoke_job_release) when the activation ended. */
bool invoke_job_wait(invoke_job_t *j, int64_t timeout_ms, const invoke_result **res);
void invoke_job_release(invoke_job_t *j);

#endif
