/* triggers_api: the OpenWhisk namespaces API for triggers and rules. GET
 * lists them with what the scheduler keeps (last fire, next slot); POST
 * /triggers/<name> fires one as `wsk trigger fire` does, with the request
 * body as params over the trigger's, and answers 202 with the trigger's
 * activation id once its rules' actions ran. */
#include "http/api.h"

#include <string.h>

#include "core/util.h"
#include "runtime/runtime.h"

void api_ns_triggers(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    engine_t *e = h->e;
    if (req->arg[1]) {
        const trigger_t *t = app_trigger(e->app, req->arg[1]);
        if (!t) web_error(out, 404, "The requested resource does not exist.");
        else web_json(out, 200, trigger_describe(e, t));
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < e->app->ntriggers; i++)
        json_array_append_new(list, trigger_describe(e, &e->app->triggers[i]));
    web_json(out, 200, list);
}

void api_ns_rules(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    engine_t *e = h->e;
    json_t *list = json_array();
    for (size_t i = 0; i < e->app->nrules; i++) {
        const rule_t *r = &e->app->rules[i];
        char *trig = xasprintf("/%s/%s", e->namespace, r->trigger->name);
        char *act = xasprintf("/%s/%s", e->namespace, r->action->fqn);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", r->name,
                                              "namespace", e->namespace, "status", "active",
                                              "trigger", trig, "action", act));
        free(trig);
        free(act);
    }
    web_json(out, 200, list);
}

void api_ns_fire(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    const trigger_t *t = app_trigger(h->e->app, req->arg[1]);
    if (!t) {
        web_error(out, 404, "The requested resource does not exist.");
        return;
    }
    json_t *params;
    if (!api_params_body(req, &params, out)) return;
    char id[33];
    runtime_fire_trigger(h->e, t, params, NULL, id);
    json_decref(params);
    json_object_set_new(out->headers, "x-openwhisk-activation-id", json_string(id));
    web_json(out, 202, json_pack("{s:s}", "activationId", id));
}
