/* api: the namespaces API (see api.h). Invocations run on threads of their
 * own (http/invoker.c): a non-blocking invoke answers 202 at once; a
 * blocking one waits up to EVKIT_BLOCKING_WAIT (60 s as OpenWhisk) and then
 * answers 202 with the id while the activation runs on (and logs that it
 * did). */
#include "core/json_io.h"
#include "http/api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "http/actkey.h"
#include "http/invoker.h"
#include "runtime/runtime.h"

bool api_ns_ok(const http_ctx *h, const api_request *req, web_response *out)
{
    const char *ns = req->arg[0];
    if (ns && (!strcmp(ns, "_") || !strcmp(ns, h->e->namespace))) return true;
    web_error(out, 404, "The requested resource does not exist.");
    return false;
}

bool api_params_body(const api_request *req, json_t **params, web_response *out)
{
    *params = NULL;
    if (!req->body_len) return true;
    err_t perr;
    json_t *j = json_parse(req->body, req->body_len, 0, EVK_JSON_MAX_DEPTH, "The request body", &perr);
    if (json_is_object(j)) {
        *params = j;
        return true;
    }
    if (j) web_error(out, 400, "The request body must be a JSON object.");
    else web_error(out, 400, "%s.", perr.msg);
    json_decref(j);
    return false;
}

static bool query_true(const json_t *q, const char *k)
{
    const char *v = json_string_value(json_object_get(q, k));
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

void api_ns_invoke(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    engine_t *e = h->e;
    const action_t *a = app_action(e->app, req->arg[1]);
    if (!a) {
        web_error(out, 404, "The requested resource does not exist.");
        return;
    }
    json_t *request;
    if (!api_params_body(req, &request, out)) return;
    err_t err;
    json_t *params = runtime_params(a, request, &err);
    json_decref(request);
    if (!params) {
        /* What runtime_params refuses is the request's params. */
        web_error(out, 400, "%s", err.msg);
        return;
    }
    /* An exec or actionloop action that invokes another through this API
     * names itself (its __OW_ACTIVATION_ID) so the chain shows causedBy. */
    const char *cause = json_string_value(json_object_get(req->headers, "x-evkit-caused-by"));
    if (cause && (strlen(cause) != 32 || strspn(cause, "0123456789abcdef") != 32)) cause = NULL;
    /* Called with an activation's own key (__OW_API_KEY): caused by it. */
    char key_cause[33];
    if (http_activation_key(req->headers, key_cause)) cause = key_cause;
    bool blocking = query_true(req->query, "blocking");
    invoke_result own;
    const invoke_result *res = &own;
    invoke_job_t *job = NULL;
    if (!h->invoker) {
        /* Outside a server (no invoker): run here, to the end. */
        runtime_invoke(e, a, params, cause, &own);
        json_decref(params);
    } else {
        job = invoker_start(h->invoker, e, a, params, cause, !blocking);
        if (!job) {
            web_error(out, 429, "Too many non-blocking activations are running; retry later.");
            json_object_set_new(out->headers, "retry-after", json_string("1"));
            return;
        }
    }
    const char *id = job ? invoke_job_id(job) : own.activation_id;
    json_object_set_new(out->headers, "x-openwhisk-activation-id", json_string(id));
    /* Non-blocking: the id now, the activation runs on. Blocking: the
     * outcome, or the id again once the wait limit passes (the
     * activation still runs to its end; its record shows the outcome). */
    if (job && blocking && !invoke_job_wait(job, h->blocking_wait_ms, &res)) {
        log_info("a blocking invoke passed the wait limit; answered 202, the activation runs on",
                 json_pack("{s:s, s:s, s:I}", "action", a->fqn, "activationId", id, "wait_ms",
                           (json_int_t)h->blocking_wait_ms));
        blocking = false;
    }
    if (job && !blocking) {
        web_json(out, 202, json_pack("{s:s}", "activationId", id));
        invoke_job_release(job);
        return;
    }
    int status = res->status == ACT_SUCCESS         ? 200
                 : res->status == ACT_INTERNAL_ERROR ? 500
                                                     : 502;
    if (query_true(req->query, "result")) {
        web_json(out, status, json_incref(res->result));
    } else {
        store_flush(e->store);
        json_t *rec = NULL;
        if (store_activation_get(e->store, id, &rec, &err) == 0 && rec) {
            web_json(out, status, rec);
        } else {
            web_json(out, status,
                     json_pack("{s:s, s:{s:s, s:b, s:O}}", "activationId", id, "response", "status",
                               act_status_name(res->status), "success", res->status == ACT_SUCCESS,
                               "result", res->result));
        }
    }
    if (job) invoke_job_release(job);
    else json_decref(own.result);
}

static void activations_list(engine_t *e, const api_request *req, web_response *out)
{
    /* OpenWhisk's filters: name, limit (1-200, default 30), skip, since
     * and upto (epoch ms of the start), docs (full records). */
    const json_t *q = req->query;
    int64_t num[4] = {30, 0, 0, 0};
    static const char *const keys[] = {"limit", "skip", "since", "upto"};
    for (int i = 0; i < 4; i++) {
        const char *v = json_string_value(json_object_get(q, keys[i]));
        if (!v) continue;
        char *end;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || x < 0 || (i == 0 && (x < 1 || x > 200))) {
            web_error(out, 400, "%s must be %s.", keys[i],
                      i == 0 ? "1 to 200" : "a non-negative integer (epoch milliseconds for since "
                                            "and upto)");
            return;
        }
        num[i] = x;
    }
    const char *name = json_string_value(json_object_get(q, "name"));
    json_t *list = NULL;
    err_t err;
    store_flush(e->store);
    if (store_activation_query(e->store, name, num[2], num[3], (int)num[1], (int)num[0], &list,
                               &err) < 0) {
        web_fail(out, &err);
        return;
    }
    if (!query_true(q, "docs")) {
        /* Without docs, OpenWhisk lists summaries: no logs, no result. */
        size_t i;
        json_t *rec;
        json_array_foreach(list, i, rec) {
            json_t *resp = json_object_get(rec, "response");
            json_object_set(rec, "statusCode", json_object_get(resp, "statusCode"));
            json_object_del(rec, "logs");
            json_object_del(rec, "response");
        }
    }
    web_json(out, 200, list);
}

/* arg[1]: "" (the list), "<id>", "<id>/logs" or "<id>/result". */
void api_ns_activations(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    engine_t *e = h->e;
    const char *rest = req->arg[1] ? req->arg[1] : "";
    err_t err;
    if (*rest == '\0') {
        activations_list(e, req, out);
        return;
    }
    char *id = xstrdup(rest);
    char *slash = strchr(id, '/');
    const char *what = "";
    if (slash) {
        *slash = '\0';
        what = slash + 1;
    }
    json_t *rec = NULL;
    store_flush(e->store);
    if (store_activation_get(e->store, id, &rec, &err) < 0) {
        web_fail(out, &err);
    } else if (!rec) {
        web_error(out, 404, "The requested resource does not exist.");
    } else if (!*what) {
        web_json(out, 200, rec);
        rec = NULL;
    } else if (!strcmp(what, "logs")) {
        web_json(out, 200, json_pack("{s:O}", "logs", json_object_get(rec, "logs")));
    } else if (!strcmp(what, "result")) {
        web_json(out, 200, json_incref(json_object_get(rec, "response")));
    } else {
        web_error(out, 404, "The requested resource does not exist.");
    }
    json_decref(rec);
    free(id);
}

static json_t *action_json(const engine_t *e, const action_t *a)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:i, s:i}}", "name", a->name, "namespace",
                          e->namespace, "package", a->package, "limits", "timeout", a->timeout_ms,
                          "memory", a->memory_mb);
    if (a->kind == RUNTIME_SEQUENCE) {
        /* OpenWhisk's shape: exec.kind sequence with fully qualified components. */
        json_t *comp = json_array();
        for (size_t i = 0; i < a->nsteps; i++) {
            char *fq = xasprintf("/%s/%s", e->namespace, a->steps[i]->fqn);
            json_array_append_new(comp, json_string(fq));
            free(fq);
        }
        json_object_set_new(j, "exec", json_pack("{s:s, s:o}", "kind", "sequence", "components",
                                                 comp));
    }
    return j;
}

void api_ns_actions(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    json_t *list = json_array();
    for (size_t i = 0; i < h->e->app->nactions; i++)
        json_array_append_new(list, action_json(h->e, &h->e->app->actions[i]));
    web_json(out, 200, list);
}

void api_ns_action(http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_ns_ok(h, req, out)) return;
    const action_t *a = app_action(h->e->app, req->arg[1]);
    if (!a) web_error(out, 404, "The requested resource does not exist.");
    else web_json(out, 200, action_json(h->e, a));
}
