/* Routes: the route table's matching of paths and methods, the auth class
 * and metric route name of each route, unknown paths and wrong methods,
 * and dispatch through authorization on a context without a server; the
 * evk_status -> HTTP status mapping. */
#include "testutil.h"

#include <jansson.h>

#include "config.h"
#include "core/base64.h"
#include "engine.h"
#include "http/console.h"
#include "http/routes.h"
#include "http/web.h"

/* The row of method url, with its captures checked against args
 * (NULL-terminated). */
static const http_route *row(const char *method, const char *url, const char *const *args)
{
    route_match m;
    route_find(method, url, &m);
    assert_non_null(m.route);
    int n = 0;
    for (; args && args[n]; n++) {
        assert_true(n < m.nargs);
        assert_string_equal(m.arg[n], args[n]);
    }
    if (args) assert_int_equal(m.nargs, n);
    const http_route *r = m.route;
    route_match_free(&m);
    return r;
}

static const char *label(const char *method, const char *url)
{
    return row(method, url, NULL)->label;
}

static void test_route_labels(void **state)
{
    (void)state;
    /* The names metrics and dashboards know (evkit_http_requests_total). */
    assert_string_equal(label("GET", "/healthz"), "healthz");
    assert_string_equal(label("GET", "/metrics"), "metrics");
    assert_string_equal(label("POST", "/metrics"), "metrics");
    assert_string_equal(label("POST", "/api/v1/web/evkit/a/b/extra"), "web_action");
    assert_string_equal(label("POST", "/api/v1/events"), "publish");
    assert_string_equal(label("GET", "/api/v1/events"), "events_api");
    assert_string_equal(label("DELETE", "/api/v1/events"), "events_api");
    assert_string_equal(label("GET", "/api/v1/events/abc"), "events_api");
    assert_string_equal(label("GET", "/api/v1/journal/backoffice"), "journal");
    assert_string_equal(label("POST", "/api/v1/journal/backoffice"), "journal");
    assert_string_equal(label("GET", "/api/v1/namespaces/_/activations"), "namespaces_api");
    assert_string_equal(label("GET", "/api/v1/providers/backoffice"), "providers_api");
    assert_string_equal(label("GET", "/api/v1/providersX"), "providers_api");
    assert_string_equal(label("GET", "/api/v1/traces/7"), "traces_api");
    assert_string_equal(label("GET", "/api/v1/tracesX"), "traces_api");
    assert_string_equal(label("PUT", "/api/v1/registrations/a"), "registrations_api");
    assert_string_equal(label("GET", "/api/v1/registrationsX"), "registrations_api");
    assert_string_equal(label("POST", "/api/v1/deadletters/3/replay"), "deadletters_api");
    assert_string_equal(label("GET", "/api/v1/activations"), "activations_api");
    assert_string_equal(label("GET", "/console/app.js"), "console");
    assert_string_equal(label("GET", "/consolex"), "console");
    assert_string_equal(label("GET", "/api/v1/nothing"), "api_other");
    assert_string_equal(label("GET", "/api/v1/web"), "api_other");
    assert_string_equal(label("GET", "/api/v1/eventsX"), "api_other");
    assert_string_equal(label("GET", "/wp-admin/../../etc/passwd"), "other");
    assert_string_equal(label("BREW", "/healthz"), "healthz");
    assert_string_equal(label("POST", "/ims/token/v3"), "ims");
    assert_string_equal(label("GET", "/ims/token/v2"), "ims");
    assert_string_equal(label("GET", "/events/123/providers"), "io_management");
    assert_string_equal(label("POST", "/events/1/2/3/registrations"), "io_management");
    assert_string_equal(label("GET", "/events/providers/x/eventmetadata"), "io_management");
    assert_string_equal(label("POST", "/eventsingress/"), "events_ingress");
    assert_string_equal(label("GET", "/eventsingress"), "events_ingress");
    assert_string_equal(label("GET", "/prod/keys/pub-key-x.pem"), "signing_keys");
    assert_string_equal(label("GET", "/adobeioevents/prod/keys/pub-key-x.pem"), "signing_keys");
    assert_string_equal(label("PUT", "/api/v1/namespaces/_/state/k"), "state_api");
    assert_string_equal(label("GET", "/api/v1/namespaces/_/state/"), "state_api");
    assert_string_equal(label("GET", "/api/v1/namespaces/_/statex"), "state_api");
    assert_string_equal(label("GET", "/api/v1/namespaces/_/actions"), "namespaces_api");

    /* Every row's label is one of a bounded, known set. */
    static const char *const known[] = {
        "healthz", "metrics", "web_action", "namespaces_api", "publish", "events_api",
        "journal", "traces_api", "stats_api", "registrations_api", "deadletters_api", "activations_api",
        "providers_api", "api_other", "console", "other", "ims", "io_management",
        "events_ingress", "state_api", "signing_keys", NULL};
    size_t n;
    const http_route *t = route_table(&n);
    assert_true(n > 40);
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (size_t k = 0; known[k]; k++) ok = ok || !strcmp(known[k], t[i].label);
        if (!ok) fail_msg("row %s has label %s", t[i].pattern, t[i].label);
        assert_non_null(t[i].handler);
        if (t[i].auth == ROUTE_API) assert_non_null(t[i].api);
    }
    /* The last row takes everything. */
    assert_string_equal(t[n - 1].pattern, "**");
}

static void test_matching(void **state)
{
    (void)state;
    const http_route *r;
    r = row("GET", "/api/v1/namespaces/_/actions/pkg/act", (const char *[]){"_", "pkg/act", NULL});
    assert_ptr_equal(r->handler, api_ns_action);
    r = row("POST", "/api/v1/namespaces/evkit/actions/pkg/act", (const char *[]){"evkit", "pkg/act", NULL});
    assert_ptr_equal(r->handler, api_ns_invoke);
    assert_ptr_equal(row("GET", "/api/v1/namespaces/_/actions", NULL)->handler, api_ns_actions);
    r = row("GET", "/api/v1/namespaces/_/activations/abc/logs", (const char *[]){"_", "abc/logs", NULL});
    assert_ptr_equal(r->handler, api_ns_activations);
    /* OpenWhisk answers a wrong method on the namespaces API 404. */
    assert_ptr_equal(row("DELETE", "/api/v1/namespaces/_/actions/p/a", NULL)->handler, route_not_found);
    assert_ptr_equal(row("POST", "/api/v1/namespaces/_/actions", NULL)->handler, route_not_found);

    /* Registrations: repeated and trailing slashes do not count. */
    assert_ptr_equal(row("GET", "/api/v1/registrations/", NULL)->handler, api_reg_list);
    assert_ptr_equal(row("POST", "/api/v1/registrations", NULL)->handler, api_reg_create);
    r = row("GET", "/api/v1/registrations//hook/", (const char *[]){"hook", NULL});
    assert_ptr_equal(r->handler, api_reg_get);
    assert_ptr_equal(row("PUT", "/api/v1/registrations/hook", NULL)->handler, api_reg_update);
    assert_ptr_equal(row("DELETE", "/api/v1/registrations/hook", NULL)->handler, api_reg_delete);
    assert_ptr_equal(row("POST", "/api/v1/registrations/hook/enable", NULL)->handler, api_reg_enable);
    assert_ptr_equal(row("POST", "/api/v1/registrations/hook/secrets/", NULL)->handler,
                     api_reg_secret_add);
    r = row("DELETE", "/api/v1/registrations/hook/secrets/ab12cd34", (const char *[]){"hook", "ab12cd34", NULL});
    assert_ptr_equal(r->handler, api_reg_secret_remove);
    assert_ptr_equal(row("GET", "/api/v1/registrations/hook/other", NULL)->handler, route_not_found);

    /* Collections answer with or without a trailing slash; ids are one segment. */
    assert_ptr_equal(row("GET", "/api/v1/traces/", NULL)->handler, api_traces);
    r = row("GET", "/api/v1/traces/12", (const char *[]){"12", NULL});
    assert_ptr_equal(r->handler, api_trace);
    assert_ptr_equal(row("GET", "/api/v1/traces/12/x", NULL)->handler, route_not_found);
    assert_ptr_equal(row("GET", "/api/v1/events/", NULL)->handler, api_events);
    assert_ptr_equal(row("GET", "/api/v1/events/e1", NULL)->handler, api_event);
    assert_ptr_equal(row("POST", "/api/v1/deadletters/replay", NULL)->handler, api_deadletters_replay);
    r = row("POST", "/api/v1/deadletters/9/replay", (const char *[]){"9", NULL});
    assert_ptr_equal(r->handler, api_deadletter_replay);
    assert_ptr_equal(row("GET", "/api/v1/providers/", NULL)->handler, api_providers);
    r = row("GET", "/api/v1/providers/commerce/eventmetadata", (const char *[]){"commerce", NULL});
    assert_ptr_equal(r->handler, api_provider_metadata);
    assert_ptr_equal(row("GET", "/api/v1/providers/commerce/x", NULL)->handler, api_provider_other);
    r = row("GET", "/api/v1/journal/a/b", (const char *[]){"a/b", NULL});
    assert_ptr_equal(r->handler, api_journal);
    r = row("GET", "/console/", (const char *[]){"", NULL});
    assert_ptr_equal(r->handler, console_file);
    assert_ptr_equal(row("HEAD", "/console/app.js", NULL)->handler, console_file);
    assert_ptr_equal(row("GET", "/console", NULL)->handler, console_redirect);
    assert_ptr_equal(row("GET", "/console/login", NULL)->handler, route_refuse);
    r = row("PUT", "/api/v1/web/evkit/p/a.json/x/y", (const char *[]){"evkit/p/a.json/x/y", NULL});
    assert_ptr_equal(r->handler, http_web_action);
}

static void test_auth_classes_and_refusals(void **state)
{
    (void)state;
    assert_int_equal(row("GET", "/healthz", NULL)->auth, ROUTE_OPEN);
    assert_int_equal(row("GET", "/api/v1/web/evkit/p/a", NULL)->auth, ROUTE_ACTION);
    assert_int_equal(row("GET", "/metrics", NULL)->auth, ROUTE_METRICS);
    assert_int_equal(row("HEAD", "/metrics", NULL)->auth, ROUTE_METRICS);
    assert_int_equal(row("POST", "/console/logout", NULL)->auth, ROUTE_SESSION);
    assert_int_equal(row("POST", "/console/login", NULL)->auth, ROUTE_OPEN);
    assert_int_equal(row("GET", "/console/session", NULL)->auth, ROUTE_OPEN);
    const http_route *r = row("POST", "/api/v1/events", NULL);
    assert_int_equal(r->auth, ROUTE_API);
    assert_string_equal(r->api, "publishing API");
    assert_string_equal(row("GET", "/api/v1/journal/x", NULL)->api, "journaling API");
    assert_string_equal(row("GET", "/api/v1/registrations", NULL)->api, "registrations API");
    assert_string_equal(row("GET", "/api/v1/namespaces/_/actions", NULL)->api, "namespaces API");
    assert_string_equal(row("GET", "/api/v1/traces", NULL)->api, "API");
    /* Unknown paths are nobody's: 404 without asking for a token. */
    r = row("GET", "/nope", NULL);
    assert_ptr_equal(r->handler, route_not_found);
    assert_int_equal(r->auth, ROUTE_OPEN);
    assert_int_equal(row("POST", "/api/v1/journal/x", NULL)->auth, ROUTE_OPEN);
    /* Wrong methods: a refusal row each, after the token where the API asks
     * for one, before it on /metrics. */
    r = row("PATCH", "/api/v1/registrations/x", NULL);
    assert_ptr_equal(r->handler, route_refuse);
    assert_int_equal(r->auth, ROUTE_API);
    assert_string_equal(r->note, "Use GET, PUT or DELETE on a registration.");
    r = row("PUT", "/api/v1/traces", NULL);
    assert_ptr_equal(r->handler, route_refuse_here);
    assert_int_equal(r->auth, ROUTE_API);
    r = row("GET", "/api/v1/deadletters/4/replay", NULL);
    assert_ptr_equal(r->handler, route_refuse_here);
    assert_string_equal(r->note, ": POST to replay");
    r = row("POST", "/metrics", NULL);
    assert_ptr_equal(r->handler, route_refuse_get_only);
    assert_int_equal(r->auth, ROUTE_OPEN);
    r = row("DELETE", "/console/app.js", NULL);
    assert_ptr_equal(r->handler, route_refuse_get_only);
}

/* ---- dispatch on a context without a server ---- */

typedef struct {
    config_t c;
    engine_t e;
    http_ctx h;
} ctx_fixture;

static int ctx_setup_with(void **state, const char *tokens)
{
    ctx_fixture *f = calloc(1, sizeof *f);
    if (tokens) setenv("EVKIT_API_TOKENS", tokens, 1);
    else unsetenv("EVKIT_API_TOKENS");
    setenv("EVKIT_METRICS_TOKEN", "scrape", 1);
    unsetenv("EVKIT_METRICS_AUTH");
    config_init(&f->c);
    if (config_load(&f->c, NULL, CONFIG_PROCESS | CONFIG_APP, NULL) < 0) return -1;
    engine_init(&f->e, NULL, NULL, &f->c, NULL);
    http_ctx_init(&f->h, &f->e, false);
    *state = f;
    return 0;
}

static int ctx_setup(void **state) { return ctx_setup_with(state, "tok1, tok2"); }
static int ctx_setup_throttled(void **state)
{
    setenv("EVKIT_AUTH_FAILURES", "3/1m", 1);
    int rc = ctx_setup_with(state, "tok1, tok2");
    unsetenv("EVKIT_AUTH_FAILURES");
    return rc;
}
static int ctx_setup_off(void **state) { return ctx_setup_with(state, NULL); }

static int ctx_teardown(void **state)
{
    ctx_fixture *f = *state;
    http_ctx_fini(&f->h);
    engine_fini(&f->e);
    config_free(&f->c);
    free(f);
    unsetenv("EVKIT_API_TOKENS");
    unsetenv("EVKIT_METRICS_TOKEN");
    return 0;
}

/* Dispatches method url with headers (borrowed, may be NULL) into out. */
static void call_from(ctx_fixture *f, uint64_t client, const char *method, const char *url,
                      json_t *headers, web_response *out)
{
    route_match m;
    route_find(method, url, &m);
    json_t *h = headers ? json_incref(headers) : json_object();
    json_t *q = json_object();
    api_request req = {.method = method, .url = url, .query = q, .query_raw = "", .headers = h,
                       .body = "", .body_len = 0, .client = client};
    web_response_init(out);
    route_dispatch(&f->h, &m, &req, out);
    json_decref(h);
    json_decref(q);
    route_match_free(&m);
}

static void call(ctx_fixture *f, const char *method, const char *url, json_t *headers,
                 web_response *out)
{
    call_from(f, 0, method, url, headers, out);
}

static const char *error_of(const web_response *r, char *buf, size_t len)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    snprintf(buf, len, "%s", json_string_value(json_object_get(j, "error")));
    json_decref(j);
    return buf;
}

/* Three failed authentications per minute per address: the fourth
 * request with a credential gets 429 with Retry-After, a right token too,
 * while another address and open rows are untouched. */
static void test_auth_failures_throttled(void **state)
{
    ctx_fixture *f = *state;
    web_response r;
    json_t *bad = json_pack("{s:s}", "authorization", "Bearer guess");
    json_t *good = json_pack("{s:s}", "authorization", "Bearer tok1");
    const char *url = "/api/v1/namespaces/other/actions"; /* 404 once authorized */
    for (int i = 0; i < 3; i++) {
        call_from(f, 7, "GET", url, bad, &r);
        assert_int_equal(r.status, 401);
        web_response_free(&r);
    }
    call_from(f, 7, "GET", url, bad, &r);
    assert_int_equal(r.status, 429);
    const char *ra = json_string_value(json_object_get(r.headers, "retry-after"));
    assert_non_null(ra);
    assert_true(atoi(ra) >= 1 && atoi(ra) <= 20);
    web_response_free(&r);
    call_from(f, 7, "GET", url, good, &r);
    assert_int_equal(r.status, 429);
    web_response_free(&r);
    /* No credential on an open row: answered. */
    call_from(f, 7, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    web_response_free(&r);
    /* The console sign-in checks a token itself: throttled too. */
    call_from(f, 7, "POST", "/console/login", NULL, &r);
    assert_int_equal(r.status, 429);
    web_response_free(&r);
    call_from(f, 8, "GET", url, good, &r);
    assert_int_equal(r.status, 404);
    web_response_free(&r);
    json_decref(bad);
    json_decref(good);
}

static void test_api_off_without_tokens(void **state)
{
    ctx_fixture *f = *state;
    web_response r;
    char msg[512];
    call(f, "POST", "/api/v1/events", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_of(&r, msg, sizeof msg),
                        "The publishing API is off: set EVKIT_API_TOKENS to enable it.");
    web_response_free(&r);
    call(f, "GET", "/api/v1/traces", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_of(&r, msg, sizeof msg),
                        "The API is off: set EVKIT_API_TOKENS to enable it.");
    web_response_free(&r);
    call(f, "GET", "/api/v1/registrations", NULL, &r);
    assert_string_equal(error_of(&r, msg, sizeof msg),
                        "The registrations API is off: set EVKIT_API_TOKENS to enable it.");
    web_response_free(&r);
    /* Open rows stay open. */
    call(f, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    web_response_free(&r);
}

static void test_api_credentials(void **state)
{
    ctx_fixture *f = *state;
    web_response r;
    char msg[512];
    /* A namespace that is not ours: 404 once past authorization. */
    const char *url = "/api/v1/namespaces/other/actions";
    call(f, "GET", url, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_of(&r, msg, sizeof msg), "The supplied authentication is invalid.");
    web_response_free(&r);

    json_t *h = json_pack("{s:s}", "authorization", "Bearer tok2");
    call(f, "GET", url, h, &r);
    assert_int_equal(r.status, 404);
    web_response_free(&r);
    json_object_set_new(h, "authorization", json_string("Bearer tok3"));
    call(f, "GET", url, h, &r);
    assert_int_equal(r.status, 401);
    web_response_free(&r);

    /* Basic with the token as the whole user:password pair. */
    char *b = base64_encode("tok1", 4, NULL);
    char *basic = xasprintf("Basic %s", b);
    json_object_set_new(h, "authorization", json_string(basic));
    call(f, "GET", url, h, &r);
    assert_int_equal(r.status, 404);
    web_response_free(&r);
    free(b);
    free(basic);
    b = base64_encode("tok1:x", 6, NULL);
    basic = xasprintf("Basic %s", b);
    json_object_set_new(h, "authorization", json_string(basic));
    call(f, "GET", url, h, &r);
    assert_int_equal(r.status, 401);
    web_response_free(&r);
    free(b);
    free(basic);
    json_decref(h);

    /* The console's session cookie, only with its CSRF token. */
    char id[65], csrf[65];
    console_session_create(f->h.sessions, id, csrf);
    char *cookie = xasprintf("%s=%s", CONSOLE_COOKIE, id);
    h = json_pack("{s:s}", "cookie", cookie);
    call(f, "GET", url, h, &r);
    assert_int_equal(r.status, 401);
    web_response_free(&r);
    json_object_set_new(h, CONSOLE_CSRF_HEADER, json_string(csrf));
    call(f, "GET", url, h, &r);
    assert_int_equal(r.status, 404);
    web_response_free(&r);

    /* A wrong method on the API: refused after the token, not before. */
    call(f, "PUT", "/api/v1/providers", NULL, &r);
    assert_int_equal(r.status, 401);
    web_response_free(&r);
    call(f, "PUT", "/api/v1/providers", h, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(error_of(&r, msg, sizeof msg), "Method PUT is not allowed here: providers "
                                                       "are read-only (evkit onboard creates them).");
    web_response_free(&r);

    /* Signing out takes the session (and its CSRF token). */
    call(f, "POST", "/console/logout", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_of(&r, msg, sizeof msg), "Not signed in.");
    assert_non_null(json_object_get(r.headers, "content-security-policy"));
    assert_string_equal(json_string_value(json_object_get(r.headers, "cache-control")), "no-store");
    web_response_free(&r);
    call(f, "POST", "/console/logout", h, &r);
    assert_int_equal(r.status, 200);
    assert_true(console_session_find(f->h.sessions, h, csrf) == false);
    web_response_free(&r);
    json_decref(h);
    free(cookie);
}

static void test_metrics_and_unknown(void **state)
{
    ctx_fixture *f = *state;
    web_response r;
    char msg[512];
    call(f, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(json_string_value(json_object_get(r.headers, "www-authenticate")),
                        "Bearer realm=\"evkit\"");
    web_response_free(&r);
    json_t *h = json_pack("{s:s}", "authorization", "Bearer tok1");
    call(f, "POST", "/metrics", h, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(json_string_value(json_object_get(r.headers, "allow")), "GET, HEAD");
    assert_string_equal(error_of(&r, msg, sizeof msg), "Only GET is allowed on /metrics.");
    web_response_free(&r);
    json_decref(h);
    call(f, "POST", "/metrics", NULL, &r);
    assert_int_equal(r.status, 405);
    web_response_free(&r);

    call(f, "GET", "/nope", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(error_of(&r, msg, sizeof msg), "The requested resource does not exist.");
    web_response_free(&r);
    call(f, "GET", "/console", NULL, &r);
    assert_int_equal(r.status, 308);
    assert_string_equal(json_string_value(json_object_get(r.headers, "location")), "/console/");
    assert_non_null(json_object_get(r.headers, "x-frame-options"));
    web_response_free(&r);
}

static void test_http_status_of(void **state)
{
    (void)state;
    assert_int_equal(http_status_of(EVK_OK), 200);
    assert_int_equal(http_status_of(EVK_INVALID), 400);
    assert_int_equal(http_status_of(EVK_UNAUTHORIZED), 401);
    assert_int_equal(http_status_of(EVK_FORBIDDEN), 403);
    assert_int_equal(http_status_of(EVK_NOT_FOUND), 404);
    assert_int_equal(http_status_of(EVK_CONFLICT), 409);
    assert_int_equal(http_status_of(EVK_TOO_LARGE), 413);
    assert_int_equal(http_status_of(EVK_TOO_MANY), 429);
    assert_int_equal(http_status_of(EVK_INTERNAL), 500);
    assert_int_equal(http_status_of(EVK_UNAVAILABLE), 503);
    assert_int_equal(http_status_of(EVK_TIMEOUT), 504);
    assert_int_equal(http_status_of((evk_status)99), 500);
    web_response r;
    web_response_init(&r);
    err_t err;
    err_code(&err, EVK_CONFLICT, "registration '%s' already exists", "x");
    web_fail(&r, &err);
    assert_int_equal(r.status, 409);
    assert_string_equal(r.body, "{\"error\":\"registration 'x' already exists\"}");
    web_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_labels),
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_auth_classes_and_refusals),
        cmocka_unit_test_setup_teardown(test_api_off_without_tokens, ctx_setup_off, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_api_credentials, ctx_setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_failures_throttled, ctx_setup_throttled,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_and_unknown, ctx_setup, ctx_teardown),
        cmocka_unit_test(test_http_status_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
