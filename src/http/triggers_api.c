/* triggers_api: the OpenWhisk namespaces API for triggers and rules. GET
 * lists them with what the scheduler keeps (last fire, next slot); POST
 * /triggers/<name> fires one as `wsk trigger fire` does, with the request
 * body as params over the trigger's, and answers 202 with the trigger's
 * activation id once its rules' actions ran. */
#include "http/api.h"

#include <string.h>

#include "core/util.h"
#include "runtime/runtime.h"

static const char *feed_name(feed_kind f)
{
    switch (f) {
    case FEED_ALARM: return "/whisk.system/alarms/alarm";
    case FEED_INTERVAL: return "/whisk.system/alarms/interval";
    case FEED_ONCE: return "/whisk.system/alarms/once";
    default: return NULL;
    }
}

static json_t *iso_or_null(int64_t ms)
{
    if (ms <= 0 || ms == INT64_MAX) return json_null();
    char iso[32];
    time_iso(ms, iso, sizeof iso);
    return json_string(iso);
}

static json_t *trigger_json(engine_t *e, const trigger_t *t)
{
    json_t *rules = json_array();
    for (size_t i = 0; i < e->app->nrules; i++)
        if (e->app->rules[i].trigger == t)
            json_array_append_new(rules, json_string(e->app->rules[i].name));
    json_t *j = json_pack("{s:s, s:s, s:s?, s:O, s:o}", "name", t->name, "namespace",
                          e->namespace, "feed", feed_name(t->feed), "parameters", t->params,
                          "rules", rules);
    if (t->cron) json_object_set_new(j, "cron", json_string(t->cron));
    if (t->interval_ms) json_object_set_new(j, "minutes", json_integer(t->interval_ms / 60000));
    if (t->date_ms) json_object_set_new(j, "date", iso_or_null(t->date_ms));
    if (t->start_ms) json_object_set_new(j, "startDate", iso_or_null(t->start_ms));
    if (t->stop_ms) json_object_set_new(j, "stopDate", iso_or_null(t->stop_ms));
    store_trigger_rec rec;
    err_t err;
    if (t->feed != FEED_NONE && e->store && store_trigger_get(e->store, t->name, now_ms(), &rec,
                                                              &err) == 0) {
        int64_t base = rec.last_ms > rec.since_ms ? rec.last_ms : rec.since_ms;
        json_object_set_new(j, "lastFire", iso_or_null(rec.last_ms));
        json_object_set_new(j, "lastActivationId",
                            rec.last_id[0] ? json_string(rec.last_id) : json_null());
        json_object_set_new(j, "nextFire", iso_or_null(trigger_next_slot(t, rec.since_ms, base)));
    }
    return j;
}

void api_ns_triggers(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    engine_t *e = h->e;
    if (req->arg[1]) {
        const trigger_t *t = app_trigger(e->app, req->arg[1]);
        if (!t) web_error(out, 404, "The requested resource does not exist.");
        else web_json(out, 200, trigger_json(e, t));
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < e->app->ntriggers; i++)
        json_array_append_new(list, trigger_json(e, &e->app->triggers[i]));
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
