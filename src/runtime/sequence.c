/* sequence: runs the steps of a sequence action as OpenWhisk does. Each step
 * is an activation of its own, caused by the sequence's; the first step gets
 * the sequence's params, each later one the result of the step before (over
 * its own inputs). A step that fails stops the chain, and its result and
 * status become the sequence's. The sequence's logs list the step
 * activation ids, as OpenWhisk shows them. */
#include "runtime/runtime.h"

#include <string.h>

void sequence_backend_run(activation_t *a)
{
    const action_t *seq = a->action;
    json_t *params = json_incref(a->params);
    json_t *ids = json_array();
    a->status = ACT_SUCCESS;
    for (size_t i = 0; i < seq->nsteps; i++) {
        const action_t *step = seq->steps[i];
        err_t err;
        /* Each step's own inputs under what it is handed, as OpenWhisk
         * applies a component's default params. */
        json_t *p = runtime_params(step, params, &err);
        json_decref(params);
        params = NULL;
        if (!p) {
            activation_fail(a, ACT_APP_ERROR, "step %zu of sequence %s (%s): %s", i + 1,
                            seq->fqn, step->fqn, err.msg);
            break;
        }
        invoke_result r;
        runtime_invoke(a->engine, step, p, a->id, &r);
        json_decref(p);
        json_array_append_new(ids, json_string(r.activation_id));
        if (r.status != ACT_SUCCESS) {
            json_decref(a->result);
            a->result = r.result;
            a->status = r.status;
            a->timed_out = r.timed_out;
            a->not_started = r.not_started;
            break;
        }
        params = r.result;
    }
    if (params) {
        json_decref(a->result);
        a->result = json_is_object(params) ? params : json_object();
        if (!json_is_object(params)) json_decref(params);
    }
    json_decref(a->logs);
    a->logs = ids;
}
