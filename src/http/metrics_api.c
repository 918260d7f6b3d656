/* metrics_api: GET /metrics for Prometheus. Secure by default: a scrape needs
 * a bearer token, either a scrape-only one from EVKIT_METRICS_TOKEN (so the
 * scraper holds no token that can publish or invoke) or one of
 * EVKIT_API_TOKENS. EVKIT_METRICS_AUTH=none serves it to anyone who can
 * reach the port, for a scraper on a private network. */
#include "http/api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics/metrics.h"

static const char *setting(const engine_t *e, const char *name)
{
    const char *v = getenv(name);
    if (v) return v;
    return e->app && e->app->env ? json_string_value(json_object_get(e->app->env, name)) : NULL;
}

static bool metrics_token_ok(const engine_t *e, const json_t *headers)
{
    const char *list = setting(e, "EVKIT_METRICS_TOKEN");
    if (!list || !*list) return false;
    json_t *tokens = json_array();
    char *copy = xstrdup(list), *save = NULL;
    for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
        json_array_append_new(tokens, json_string(t));
    free(copy);
    bool ok = web_bearer_ok(headers, tokens);
    json_decref(tokens);
    return ok;
}

void api_metrics(engine_t *e, const api_request *req, web_response *out)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        web_error(out, 405, "Only GET is allowed on /metrics.");
        json_object_set_new(out->headers, "allow", json_string("GET, HEAD"));
        return;
    }
    const char *mode = setting(e, "EVKIT_METRICS_AUTH");
    bool open = mode && strcasecmp(mode, "none") == 0;
    if (!open && !metrics_token_ok(e, req->headers) && !api_authorized(e, req->headers)) {
        web_error(out, 401, "The request is not authorized: /metrics needs 'Authorization: Bearer "
                            "<token>' with a token from EVKIT_METRICS_TOKEN or EVKIT_API_TOKENS "
                            "(or EVKIT_METRICS_AUTH=none to serve it without one).");
        json_object_set_new(out->headers, "www-authenticate", json_string("Bearer realm=\"evkit\""));
        return;
    }
    char *text = NULL;
    size_t len = 0;
    err_t err;
    if (metrics_scrape(&text, &len, &err) < 0) {
        web_error(out, 500, "cannot collect metrics: %s", err.msg);
        return;
    }
    out->status = 200;
    free(out->body);
    out->body = text;
    out->body_len = len;
    json_object_set_new(out->headers, "content-type",
                        json_string("text/plain; version=0.0.4; charset=utf-8"));
    json_object_set_new(out->headers, "cache-control", json_string("no-store"));
}
