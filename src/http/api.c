/* api: see api.h. Invocations run on threads of their own (http/invoker.c):
 * a non-blocking invoke answers 202 at once; a blocking one waits up to
 * EVKIT_BLOCKING_WAIT (60 s as OpenWhisk) and then answers 202 with the id
 * while the activation runs on (and logs that it did). */
#include "http/api.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "http/console.h"
#include "http/invoker.h"
#include "runtime/runtime.h"

static bool token_ok(const json_t *tokens, const char *tok, size_t n)
{
    bool ok = false;
    size_t i;
    json_t *t;
    json_array_foreach(tokens, i, t) {
        const char *s = json_string_value(t);
        if (s && n > 0 && strlen(s) == n && CRYPTO_memcmp(s, tok, n) == 0) ok = true;
    }
    return ok;
}

bool api_authorized(engine_t *e, const json_t *headers)
{
    if (web_bearer_ok(headers, e->api_tokens)) return true;
    /* The web console: its session cookie with the session's CSRF token. */
    if (console_session_ok(e->console_sessions, headers)) return true;
    const char *auth = json_string_value(json_object_get(headers, "authorization"));
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0) return false;
    const char *b64 = auth + 6;
    size_t n = strlen(b64);
    if (n == 0 || n > 4096) return false;
    unsigned char *dec = xmalloc(n);
    int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    bool ok = false;
    if (len > 0) {
        while (n > 0 && b64[n - 1] == '=' && len > 0) { len--; n--; }
        ok = token_ok(e->api_tokens, (const char *)dec, (size_t)len);
    }
    OPENSSL_cleanse(dec, (size_t)(len > 0 ? len : 0));
    free(dec);
    return ok;
}

static bool query_true(const json_t *q, const char *k)
{
    const char *v = json_string_value(json_object_get(q, k));
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static void invoke(engine_t *e, const api_request *req, const char *fqn, web_response *out)
{
    const action_t *a = app_action(e->app, fqn);
    if (!a) {
        web_error(out, 404, "The requested resource does not exist.");
        return;
    }
    json_t *request = NULL;
    if (req->body_len) {
        json_error_t je;
        request = json_loadb(req->body, req->body_len, 0, &je);
        if (!json_is_object(request)) {
            json_decref(request);
            web_error(out, 400, "The request body must be a JSON object: %s", je.text);
            return;
        }
    }
    err_t err;
    json_t *params = runtime_params(a, request, &err);
    json_decref(request);
    if (!params) {
        web_error(out, 400, "%s", err.msg);
        return;
    }
    /* An exec or actionloop action that invokes another through this API
     * names itself (its __OW_ACTIVATION_ID) so the chain shows causedBy. */
    const char *cause = json_string_value(json_object_get(req->headers, "x-evkit-caused-by"));
    if (cause && (strlen(cause) != 32 || strspn(cause, "0123456789abcdef") != 32)) cause = NULL;
    bool blocking = query_true(req->query, "blocking");
    invoke_result own;
    const invoke_result *res = &own;
    invoke_job_t *job = NULL;
    if (!e->invoker) {
        /* Outside a server (no invoker): run here, to the end. */
        runtime_invoke(e, a, params, cause, &own);
        json_decref(params);
    } else {
        job = invoker_start(e->invoker, e, a, params, cause, !blocking);
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
    if (job && blocking && !invoke_job_wait(job, e->blocking_wait_ms, &res)) {
        log_info("a blocking invoke passed the wait limit; answered 202, the activation runs on",
                 json_pack("{s:s, s:s, s:I}", "action", a->fqn, "activationId", id, "wait_ms",
                           (json_int_t)e->blocking_wait_ms));
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

static void activations(engine_t *e, const api_request *req, const char *rest, web_response *out)
{
    err_t err;
    if (*rest == '\0') {
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
        bool docs = query_true(q, "docs");
        json_t *list = NULL;
        store_flush(e->store);
        if (store_activation_query(e->store, name, num[2], num[3], (int)num[1], (int)num[0], &list,
                                   &err) < 0) {
            web_error(out, 500, "%s", err.msg);
            return;
        }
        if (!docs) {
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
        web_error(out, 500, "%s", err.msg);
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

void api_handle(engine_t *e, const api_request *req, web_response *out)
{
    if (json_array_size(e->api_tokens) == 0) {
        web_error(out, 401, "The namespaces API is off: set EVKIT_API_TOKENS to enable it.");
        return;
    }
    if (!api_authorized(e, req->headers)) {
        web_error(out, 401, "The supplied authentication is invalid.");
        return;
    }
    if (strcmp(req->ns, "_") != 0 && strcmp(req->ns, e->namespace) != 0) {
        web_error(out, 404, "The requested resource does not exist.");
        return;
    }
    if (!strncmp(req->rest, "actions/", 8) && !strcasecmp(req->method, "POST")) {
        invoke(e, req, req->rest + 8, out);
    } else if (!strncmp(req->rest, "actions", 7) && !strcasecmp(req->method, "GET") &&
               (req->rest[7] == '\0' || req->rest[7] == '/')) {
        json_t *list = json_array();
        for (size_t i = 0; i < e->app->nactions; i++) {
            const action_t *a = &e->app->actions[i];
            if (req->rest[7] == '/' && strcmp(req->rest + 8, a->fqn) != 0) continue;
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:{s:i, s:i}}", "name", a->name,
                                                  "namespace", e->namespace, "package", a->package,
                                                  "limits", "timeout", a->timeout_ms, "memory", a->memory_mb));
        }
        if (req->rest[7] == '/' && json_array_size(list) == 0) web_error(out, 404, "The requested resource does not exist.");
        else if (req->rest[7] == '/') web_json(out, 200, json_incref(json_array_get(list, 0)));
        else web_json(out, 200, json_incref(list));
        json_decref(list);
    } else if (!strncmp(req->rest, "activations", 11) && !strcasecmp(req->method, "GET") &&
               (req->rest[11] == '\0' || req->rest[11] == '/')) {
        activations(e, req, req->rest[11] ? req->rest + 12 : "", out);
    } else {
        web_error(out, 404, "The requested resource does not exist.");
    }
}
