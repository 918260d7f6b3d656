/* routes: the table, its matcher, and authorization. See routes.h. */
#include "http/routes.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/util.h"
#include "http/actkey.h"
#include "http/adobe.h"
#include "http/console.h"
#include "http/ims.h"
#include "http/ratelimit.h"

#define API(name) .auth = ROUTE_API, .api = name
#define ADOBE .auth = ROUTE_ADOBE

/* Rows are tried in order: the first whose method and pattern fit wins. */
static const http_route ROUTES[] = {
    {M_ANY, "/healthz", http_healthz, "healthz", .auth = ROUTE_OPEN},
    {M_ANY, "/api/v1/web/**", http_web_action, "web_action", .auth = ROUTE_ACTION},

    /* @adobe/aio-lib-state through nodejs/preload.js: the collection, then keys. */
    {M_GET, "/api/v1/namespaces/*/state/", state_api_get, "state_api", API("state API")},
    {M_DELETE, "/api/v1/namespaces/*/state/", state_api_delete, "state_api", API("state API")},
    {M_GET, "/api/v1/namespaces/*/state/*", state_api_get, "state_api", API("state API")},
    {M_PUT, "/api/v1/namespaces/*/state/*", state_api_put, "state_api", API("state API")},
    {M_DELETE, "/api/v1/namespaces/*/state/*", state_api_delete, "state_api", API("state API")},
    {M_ANY, "/api/v1/namespaces/*/state/*", route_refuse_here, "state_api", API("state API"),
     .note = ": use GET, PUT or DELETE on a key"},
    {M_ANY, "/api/v1/namespaces/*/state**", route_not_found, "state_api", API("state API")},

    /* The namespaces API answers a wrong method 404, as OpenWhisk does. */
    {M_POST, "/api/v1/namespaces/*/actions/**", api_ns_invoke, "namespaces_api", API("namespaces API")},
    {M_GET, "/api/v1/namespaces/*/actions", api_ns_actions, "namespaces_api", API("namespaces API")},
    {M_GET, "/api/v1/namespaces/*/actions/**", api_ns_action, "namespaces_api", API("namespaces API")},
    {M_GET, "/api/v1/namespaces/*/activations", api_ns_activations, "namespaces_api", API("namespaces API")},
    {M_GET, "/api/v1/namespaces/*/activations/**", api_ns_activations, "namespaces_api", API("namespaces API")},
    {M_GET, "/api/v1/namespaces/*/triggers", api_ns_triggers, "namespaces_api", API("namespaces API")},
    {M_GET, "/api/v1/namespaces/*/triggers/*", api_ns_triggers, "namespaces_api", API("namespaces API")},
    {M_POST, "/api/v1/namespaces/*/triggers/*", api_ns_fire, "namespaces_api", API("namespaces API")},
    {M_GET, "/api/v1/namespaces/*/rules", api_ns_rules, "namespaces_api", API("namespaces API")},
    {M_ANY, "/api/v1/namespaces/**", route_not_found, "namespaces_api", API("namespaces API")},

    {M_GET, "/api/v1/registrations", api_reg_list, "registrations_api", API("registrations API"), .lax = true},
    {M_POST, "/api/v1/registrations", api_reg_create, "registrations_api", API("registrations API"), .lax = true},
    {M_ANY, "/api/v1/registrations", route_refuse, "registrations_api", API("registrations API"),
     .note = "Use GET or POST on /api/v1/registrations.", .lax = true},
    {M_GET, "/api/v1/registrations/*", api_reg_get, "registrations_api", API("registrations API"), .lax = true},
    {M_PUT, "/api/v1/registrations/*", api_reg_update, "registrations_api", API("registrations API"), .lax = true},
    {M_DELETE, "/api/v1/registrations/*", api_reg_delete, "registrations_api", API("registrations API"),
     .lax = true},
    {M_ANY, "/api/v1/registrations/*", route_refuse, "registrations_api", API("registrations API"),
     .note = "Use GET, PUT or DELETE on a registration.", .lax = true},
    {M_POST, "/api/v1/registrations/*/enable", api_reg_enable, "registrations_api", API("registrations API"), .lax = true},
    {M_ANY, "/api/v1/registrations/*/enable", route_refuse, "registrations_api", API("registrations API"),
     .note = "Use POST to enable a registration.", .lax = true},
    {M_POST, "/api/v1/registrations/*/replay", api_reg_replay, "registrations_api", API("registrations API"), .lax = true},
    {M_ANY, "/api/v1/registrations/*/replay", route_refuse, "registrations_api", API("registrations API"),
     .note = "Use POST to replay a range of the journal to a registration.", .lax = true},
    {M_POST, "/api/v1/registrations/*/secrets", api_reg_secret_add, "registrations_api", API("registrations API"), .lax = true},
    {M_DELETE, "/api/v1/registrations/*/secrets/**", api_reg_secret_remove, "registrations_api", API("registrations API"), .lax = true},
    {M_ANY, "/api/v1/registrations/*/secrets", route_refuse, "registrations_api", API("registrations API"),
     .note = "Use POST .../secrets to add a secret and DELETE .../secrets/<id> to remove one.",
     .lax = true},
    {M_ANY, "/api/v1/registrations/*/secrets/**", route_refuse, "registrations_api", API("registrations API"),
     .note = "Use POST .../secrets to add a secret and DELETE .../secrets/<id> to remove one.",
     .lax = true},
    {M_ANY, "/api/v1/registrations/**", route_not_found, "registrations_api", API("registrations API"),
     .lax = true},
    {M_ANY, "/api/v1/registrations**", route_not_found, "registrations_api", .auth = ROUTE_OPEN},

    {M_GET, "/api/v1/providers", api_providers, "providers_api", API("API")},
    {M_GET, "/api/v1/providers/", api_providers, "providers_api", API("API")},
    {M_GET, "/api/v1/providers/*", api_provider, "providers_api", API("API")},
    {M_GET, "/api/v1/providers/*/eventmetadata", api_provider_metadata, "providers_api", API("API")},
    {M_GET, "/api/v1/providers/*/**", api_provider_other, "providers_api", API("API")},
    {M_ANY, "/api/v1/providers", route_refuse_here, "providers_api", API("API"),
     .note = ": providers are read-only (evkit onboard creates them)"},
    {M_ANY, "/api/v1/providers/**", route_refuse_here, "providers_api", API("API"),
     .note = ": providers are read-only (evkit onboard creates them)"},
    {M_ANY, "/api/v1/providers**", route_not_found, "providers_api", .auth = ROUTE_OPEN},

    {M_POST, "/api/v1/events", api_publish, "publish", API("publishing API")},
    {M_GET, "/api/v1/events", api_events, "events_api", API("API")},
    {M_GET, "/api/v1/events/", api_events, "events_api", API("API")},
    {M_GET, "/api/v1/events/*", api_event, "events_api", API("API")},
    {M_GET, "/api/v1/events/**", route_not_found, "events_api", API("API")},
    {M_ANY, "/api/v1/events", route_refuse_here, "events_api", API("API"), .note = ""},
    {M_ANY, "/api/v1/events/**", route_refuse_here, "events_api", API("API"), .note = ""},

    {M_GET, "/api/v1/journal/**", api_journal, "journal", API("journaling API")},
    {M_ANY, "/api/v1/journal/**", route_not_found, "journal", .auth = ROUTE_OPEN},

    {M_GET, "/api/v1/stats/deliveries", api_stats_deliveries, "stats_api", API("API")},
    {M_ANY, "/api/v1/stats**", route_not_found, "stats_api", API("API")},
    {M_GET, "/api/v1/trace-context/*", api_trace_context, "traces_api", API("API")},
    {M_ANY, "/api/v1/trace-context/**", route_not_found, "traces_api", API("API")},
    {M_GET, "/api/v1/traces", api_traces, "traces_api", API("API")},
    {M_GET, "/api/v1/traces/", api_traces, "traces_api", API("API")},
    {M_GET, "/api/v1/traces/*", api_trace, "traces_api", API("API")},
    {M_GET, "/api/v1/traces/**", route_not_found, "traces_api", API("API")},
    {M_ANY, "/api/v1/traces", route_refuse_here, "traces_api", API("API"), .note = ""},
    {M_ANY, "/api/v1/traces/**", route_refuse_here, "traces_api", API("API"), .note = ""},
    {M_ANY, "/api/v1/traces**", route_not_found, "traces_api", .auth = ROUTE_OPEN},

    {M_GET, "/api/v1/deadletters", api_deadletters, "deadletters_api", API("API")},
    {M_GET, "/api/v1/deadletters/", api_deadletters, "deadletters_api", API("API")},
    {M_ANY, "/api/v1/deadletters", route_refuse_here, "deadletters_api", API("API"), .note = ""},
    {M_ANY, "/api/v1/deadletters/", route_refuse_here, "deadletters_api", API("API"), .note = ""},
    {M_POST, "/api/v1/deadletters/replay", api_deadletters_replay, "deadletters_api", API("API")},
    {M_ANY, "/api/v1/deadletters/replay", route_refuse_here, "deadletters_api", API("API"),
     .note = ": POST to replay"},
    {M_POST, "/api/v1/deadletters/*/replay", api_deadletter_replay, "deadletters_api", API("API")},
    {M_ANY, "/api/v1/deadletters/*/replay", route_refuse_here, "deadletters_api", API("API"),
     .note = ": POST to replay"},
    {M_ANY, "/api/v1/deadletters/**", route_not_found, "deadletters_api", API("API")},
    {M_ANY, "/api/v1/deadletters**", route_not_found, "deadletters_api", .auth = ROUTE_OPEN},

    {M_ANY, "/api/v1/activations**", route_not_found, "activations_api", .auth = ROUTE_OPEN},

    /* Public keys of the webhook signatures: open, as Adobe's CDN serves them. */
    {M_GET | M_HEAD, "/prod/keys/*", api_public_key, "signing_keys", .auth = ROUTE_OPEN},
    {M_GET | M_HEAD, "/adobeioevents/prod/keys/*", api_public_key, "signing_keys", .auth = ROUTE_OPEN},

    /* A wrong method is refused before the token is asked for. */
    {M_GET | M_HEAD, "/metrics", api_metrics, "metrics", .auth = ROUTE_METRICS},
    {M_ANY, "/metrics", route_refuse_get_only, "metrics", .auth = ROUTE_OPEN,
     .note = "Only GET is allowed on /metrics."},

    {M_ANY, "/console", console_redirect, "console", .auth = ROUTE_OPEN, .headers = console_headers},
    {M_POST, "/console/login", console_login, "console", .auth = ROUTE_OPEN, .headers = console_private_headers,
     .creds = true},
    {M_ANY, "/console/login", route_refuse, "console", .auth = ROUTE_OPEN, .note = "Use POST to sign in.",
     .headers = console_private_headers},
    {M_POST, "/console/logout", console_logout, "console", .auth = ROUTE_SESSION,
     .headers = console_private_headers},
    {M_ANY, "/console/logout", route_refuse, "console", .auth = ROUTE_OPEN, .note = "Use POST to sign out.",
     .headers = console_private_headers},
    {M_GET | M_HEAD, "/console/session", console_session, "console", .auth = ROUTE_OPEN,
     .headers = console_private_headers},
    {M_ANY, "/console/session", route_refuse, "console", .auth = ROUTE_OPEN, .note = "Use GET.",
     .headers = console_private_headers},
    {M_GET | M_HEAD, "/console/**", console_file, "console", .auth = ROUTE_OPEN, .headers = console_headers},
    {M_ANY, "/console/**", route_refuse_get_only, "console", .auth = ROUTE_OPEN, .note = "Method not allowed.",
     .headers = console_headers},
    {M_ANY, "/console**", route_not_found, "console", .auth = ROUTE_OPEN},

    /* The Adobe hosts nodejs/preload.js reroutes here: IMS (ims-na1.adobelogin.com),
     * the I/O Management API (api.adobe.io) and the events ingress. */
    {M_POST, "/ims/token/v2", api_ims_token, "ims", .auth = ROUTE_OPEN, .creds = true},
    {M_POST, "/ims/token/v3", api_ims_token, "ims", .auth = ROUTE_OPEN, .creds = true},
    {M_ANY, "/ims/token/*", route_refuse_here, "ims", .auth = ROUTE_OPEN, .note = ": POST a form"},
    {M_ANY, "/ims/**", route_not_found, "ims", .auth = ROUTE_OPEN},
    {M_GET, "/events/providers/*", io_provider_get, "io_management", ADOBE},
    {M_GET, "/events/providers/*/eventmetadata", io_metadata_list, "io_management", ADOBE},
    {M_GET, "/events/*/providers", io_providers_list, "io_management", ADOBE},
    {M_POST, "/events/*/*/*/providers", io_provider_create, "io_management", ADOBE},
    {M_POST, "/events/*/*/*/providers/*/eventmetadata", io_metadata_create, "io_management", ADOBE},
    {M_GET, "/events/*/*/*/registrations", io_reg_list, "io_management", ADOBE},
    {M_POST, "/events/*/*/*/registrations", io_reg_create, "io_management", ADOBE},
    {M_ANY, "/events/**", route_not_found, "io_management", ADOBE},
    {M_POST, "/eventsingress", io_ingress, "events_ingress", ADOBE},
    {M_POST, "/eventsingress/", io_ingress, "events_ingress", ADOBE},
    {M_ANY, "/eventsingress", route_refuse_here, "events_ingress", .auth = ROUTE_OPEN,
     .note = ": POST a CloudEvent"},
    {M_ANY, "/eventsingress/", route_refuse_here, "events_ingress", .auth = ROUTE_OPEN,
     .note = ": POST a CloudEvent"},
    {M_ANY, "/eventsingress/**", route_not_found, "events_ingress", .auth = ROUTE_OPEN},

    {M_ANY, "/api/v1/**", route_not_found, "api_other", .auth = ROUTE_OPEN},
    {M_ANY, "**", route_not_found, "other", .auth = ROUTE_OPEN},
};

#define NROUTES (sizeof ROUTES / sizeof *ROUTES)

const http_route *route_table(size_t *n)
{
    *n = NROUTES;
    return ROUTES;
}

/* ---- matching ---- */

static unsigned method_bit(const char *m)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (unsigned i = 0; m && i < sizeof names / sizeof *names; i++)
        if (!strcmp(m, names[i])) return 1u << i;
    return M_OTHER;
}

/* url with runs of '/' as one and no trailing '/'. */
static char *lax_path(const char *url)
{
    char *out = xstrdup(url), *o = out;
    for (const char *p = url; *p; p++)
        if (*p != '/' || o == out || o[-1] != '/') *o++ = *p;
    if (o > out + 1 && o[-1] == '/') o--;
    *o = '\0';
    return out;
}

static void drop_args(route_match *m)
{
    for (int i = 0; i < m->nargs; i++) free(m->arg[i]);
    memset(m->arg, 0, sizeof m->arg);
    m->nargs = 0;
}

static bool capture(route_match *m, const char *s, size_t n)
{
    if (m->nargs == API_MAX_ARGS) return false;
    m->arg[m->nargs++] = xstrndup(s, n);
    return true;
}

static bool match(const char *pat, const char *url, route_match *m)
{
    while (*pat) {
        if (pat[0] == '*' && pat[1] == '*') return capture(m, url, strlen(url));
        if (*pat == '*') {
            size_t n = strcspn(url, "/");
            if (!capture(m, url, n)) return false;
            url += n;
            pat++;
            continue;
        }
        if (*pat++ != *url++) return false;
    }
    return *url == '\0';
}

void route_find(const char *method, const char *url, route_match *m)
{
    memset(m, 0, sizeof *m);
    unsigned bit = method_bit(method);
    char *lax = lax_path(url ? url : "");
    for (size_t i = 0; i < NROUTES; i++) {
        const http_route *r = &ROUTES[i];
        if (!(r->methods & bit)) continue;
        if (match(r->pattern, r->lax ? lax : url ? url : "", m)) {
            m->route = r;
            break;
        }
        drop_args(m);
    }
    free(lax);
}

void route_match_free(route_match *m)
{
    drop_args(m);
    m->route = NULL;
}

/* ---- authorization ---- */

/* Authorization: Basic with an API token as the whole user:password pair. */
static bool basic_ok(const json_t *headers, const json_t *tokens)
{
    const json_t *v = json_object_get(headers, "authorization");
    const char *auth = json_string_value(v);
    /* As web_bearer_ok: a NUL inside must not end the credentials early. */
    if (!auth || strlen(auth) != json_string_length(v) || strncasecmp(auth, "Basic ", 6) != 0)
        return false;
    size_t n = strlen(auth + 6), len = 0;
    if (n == 0 || n > 4096) return false;
    unsigned char *dec = base64_decode(auth + 6, n, &len, NULL);
    if (!dec) return false;
    bool ok = web_token_ok(tokens, (const char *)dec, len);
    OPENSSL_cleanse(dec, len);
    free(dec);
    return ok;
}

static bool api_authorized(const http_ctx *h, const json_t *headers)
{
    const json_t *tokens = h->e->api_tokens;
    return web_bearer_ok(headers, tokens) || console_session_ok(h->sessions, headers) ||
           basic_ok(headers, tokens) || ims_bearer_ok(h->ims, headers);
}

/* ROUTE_ADOBE, refused as Adobe's API gateway words it. */
static bool adobe_authorized(const http_ctx *h, const api_request *req, web_response *out)
{
    if (!api_authorized(h, req->headers)) {
        web_json(out, 401, json_pack("{s:s, s:s}", "error_code", "401013", "message",
                                     "Oauth token is not valid"));
        return false;
    }
    const char *key = json_string_value(json_object_get(req->headers, "x-api-key"));
    if (!key || !*key) {
        web_json(out, 403, json_pack("{s:s, s:s}", "error_code", "403000", "message",
                                     "Api Key is required"));
        return false;
    }
    const char *client = h->e->config->oauth_client_id;
    if (ims_enabled(h->ims) && strcmp(key, client)) {
        web_json(out, 403, json_pack("{s:s, s:s}", "error_code", "403003", "message",
                                     "Api Key is invalid"));
        return false;
    }
    return true;
}

/* true when the caller may go on; else *out holds the refusal. */
static bool authorize(const http_ctx *h, const http_route *r, const api_request *req,
                      web_response *out)
{
    switch (r->auth) {
    case ROUTE_OPEN:
        return true;
    case ROUTE_ADOBE:
        return adobe_authorized(h, req, out);
    case ROUTE_API:
        /* An activation calling back with its own key: also when the API is
         * otherwise off, since evkit made the key for it. */
        if (http_activation_key(req->headers, NULL)) return true;
        if (json_array_size(h->e->api_tokens) == 0 && !ims_enabled(h->ims)) {
            web_error(out, 401, "The %s is off: set EVKIT_API_TOKENS to enable it.", r->api);
            return false;
        }
        if (api_authorized(h, req->headers)) return true;
        web_error(out, 401, "The supplied authentication is invalid.");
        return false;
    case ROUTE_METRICS:
        if (h->metrics_open || web_bearer_ok(req->headers, h->metrics_tokens) ||
            api_authorized(h, req->headers))
            return true;
        web_error(out, 401, "The request is not authorized: /metrics needs 'Authorization: Bearer "
                            "<token>' with a token from EVKIT_METRICS_TOKEN or EVKIT_API_TOKENS "
                            "(or EVKIT_METRICS_AUTH=none to serve it without one).");
        json_object_set_new(out->headers, "www-authenticate", json_string("Bearer realm=\"evkit\""));
        return false;
    case ROUTE_SESSION:
        if (console_session_ok(h->sessions, req->headers)) return true;
        web_error(out, 401, "Not signed in.");
        return false;
    case ROUTE_ACTION: {
        const action_t *a = web_action_find(h, req->arg[0], NULL);
        if (!a || !a->require_auth || web_bearer_ok(req->headers, h->e->api_tokens) ||
            ims_bearer_ok(h->ims, req->headers))
            return true;
        web_error(out, 401, "The request is not authorized: a valid 'Authorization: Bearer "
                            "<token>' header is required.");
        return false;
    }
    }
    return false;
}

/* A client past its failed authentications: 429 on a row that needs or
 * takes a credential (so a right guess is not told apart either). */
static bool throttled(http_ctx *h, const http_route *r, const api_request *req, web_response *out)
{
    if (r->auth == ROUTE_OPEN && !r->creds && !json_object_get(req->headers, "authorization"))
        return false;
    int64_t wait = ratelimit_peek(h->auth_failures, req->client, now_ms());
    if (wait <= 0) return false;
    long long s = (wait + 999) / 1000;
    json_object_set_new(out->headers, "retry-after", json_sprintf("%lld", s));
    web_error(out, 429, "Too many failed authentications from this address: retry after %lld s.",
              s);
    return true;
}

void route_dispatch(http_ctx *h, const route_match *m, api_request *req, web_response *out)
{
    const http_route *r = m->route;
    req->route = r;
    for (int i = 0; i < API_MAX_ARGS; i++) req->arg[i] = i < m->nargs ? m->arg[i] : NULL;
    if (r->headers) r->headers(out);
    if (throttled(h, r, req, out)) return;
    if (authorize(h, r, req, out)) r->handler(h, req, out);
    if (out->status == 401) ratelimit_take(h->auth_failures, req->client, now_ms());
}

/* ---- generic rows ---- */

void route_not_found(http_ctx *h, const api_request *req, web_response *out)
{
    web_error(out, 404, "The requested resource does not exist.");
}

void route_refuse(http_ctx *h, const api_request *req, web_response *out)
{
    web_error(out, 405, "%s", req->route->note);
}

void route_refuse_here(http_ctx *h, const api_request *req, web_response *out)
{
    web_error(out, 405, "Method %s is not allowed here%s.", req->method, req->route->note);
}

void route_refuse_get_only(http_ctx *h, const api_request *req, web_response *out)
{
    json_object_set_new(out->headers, "allow", json_string("GET, HEAD"));
    web_error(out, 405, "%s", req->route->note);
}
