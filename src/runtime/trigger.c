/* trigger: firing a trigger as OpenWhisk does, and the schedule slots of the
 * alarms feeds. A fire is one activation of the trigger (its result the
 * trigger's params, its logs one JSON line per rule as OpenWhisk writes
 * them) and one activation of each rule's action, caused by it. */
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/log.h"
#include "core/json_io.h"

int64_t trigger_next_slot(const trigger_t *t, int64_t since_ms, int64_t after_ms)
{
    int64_t next = INT64_MAX;
    switch (t->feed) {
    case FEED_ALARM: {
        cron_t c;
        char why[256];
        if (!t->cron || cron_parse(t->cron, &c, why, sizeof why) < 0) return INT64_MAX;
        int64_t from = after_ms;
        if (t->start_ms && from < t->start_ms - 1) from = t->start_ms - 1;
        next = cron_next(&c, from);
        break;
    }
    case FEED_INTERVAL: {
        /* Every interval from startDate (which fires), or from when the
         * store first saw the trigger (which does not). */
        int64_t anchor = t->start_ms ? t->start_ms : since_ms, iv = t->interval_ms;
        if (iv <= 0) return INT64_MAX;
        if (after_ms < anchor) next = t->start_ms ? anchor : anchor + iv;
        else next = anchor + ((after_ms - anchor) / iv + 1) * iv;
        break;
    }
    case FEED_ONCE: next = t->date_ms > after_ms ? t->date_ms : INT64_MAX; break;
    default: return INT64_MAX;
    }
    if (t->stop_ms && next > t->stop_ms) return INT64_MAX;
    return next;
}

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

json_t *trigger_describe(engine_t *e, const trigger_t *t)
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

/* One rule: its action invoked with the trigger's params, caused by the
 * trigger's activation; the OpenWhisk log line of the outcome. */
static json_t *rule_run(engine_t *e, const rule_t *r, const json_t *params, const char *cause,
                        const char *traceparent)
{
    err_t err;
    json_t *p = runtime_params(r->action, params, &err);
    char rule[512], action[512];
    snprintf(rule, sizeof rule, "%s/%s", e->namespace, r->name);
    snprintf(action, sizeof action, "%s/%s", e->namespace, r->action->fqn);
    json_t *line;
    if (!p) {
        line = json_pack("{s:i, s:b, s:s, s:s, s:s}", "statusCode", 1, "success", 0, "rule", rule,
                         "action", action, "error", err.msg);
    } else {
        invoke_result res;
        runtime_invoke_traced(e, r->action, p, cause, traceparent, &res);
        json_decref(p);
        json_decref(res.result);
        line = json_pack("{s:i, s:b, s:s, s:s, s:s}", "statusCode", (int)res.status, "success",
                         res.status == ACT_SUCCESS, "activationId", res.activation_id, "rule",
                         rule, "action", action);
    }
    char *text = json_text(line, JSON_COMPACT);
    json_decref(line);
    json_t *s = json_string(text ? text : "{}");
    free(text);
    return s;
}

int runtime_fire_trigger(engine_t *e, const trigger_t *t, const json_t *params,
                         const trigger_fire *how, char out_id[33])
{
    char id[33];
    if (how && how->id && strlen(how->id) == 32) memcpy(id, how->id, 33);
    else hex_id32(id);
    json_t *p = json_deep_copy(t->params);
    if (json_is_object(params)) json_object_update(p, (json_t *)params);
    int64_t start = now_ms();
    json_t *logs = json_array();
    int ran = 0;
    /* A fire starts a trace; its rules' actions are spans in it. */
    tracectx tc;
    char tp[TRACEPARENT_LEN + 1];
    tracectx_new(&tc);
    tracectx_format(&tc, tp);
    for (size_t i = 0; e->app && i < e->app->nrules; i++) {
        const rule_t *r = &e->app->rules[i];
        if (r->trigger != t || !r->action) continue;
        json_array_append_new(logs, rule_run(e, r, p, id, tp));
        ran++;
    }
    int64_t end = now_ms();
    json_t *ann = json_array();
    json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "kind", "value", "trigger"));
    json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "traceparent", "value", tp));
    if (how && how->scheduled_ms) {
        char iso[32];
        time_iso(how->scheduled_ms, iso, sizeof iso);
        json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "scheduled", "value", iso));
        json_array_append_new(ann, json_pack("{s:s, s:I}", "key", "missed", "value",
                                             (json_int_t)how->missed));
        if (how->recovered)
            json_array_append_new(ann, json_pack("{s:s, s:b}", "key", "recovered", "value", 1));
    }
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:{s:s, s:i, s:b, s:O}}",
                            "activationId", id, "namespace", e->namespace, "name", t->name,
                            "path", t->name, "start", (json_int_t)start, "end", (json_int_t)end,
                            "duration", (json_int_t)(end - start), "logs", logs, "annotations",
                            ann, "response", "status", "success", "statusCode", 0, "success", 1,
                            "result", p);
    json_decref(p);
    if (e->store) {
        store_activation_put(e->store, rec);
        store_span sp = {.trace_id = tc.trace_id, .span_id = tc.span_id, .kind = "trigger",
                         .ref = id, .name = t->name, .start_ms = start, .end_ms = end, .ok = true};
        store_span_put(e->store, &sp);
    } else {
        json_decref(rec);
    }
    if (out_id) memcpy(out_id, id, 33);
    log_info("trigger fired", json_pack("{s:s, s:s, s:i}", "trigger", t->name, "activationId", id,
                                        "rules", ran));
    return ran;
}
