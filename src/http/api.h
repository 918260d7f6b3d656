/* api: what the HTTP handlers share: the server's context, the request as
 * a handler sees it, and the handlers the route table (routes.c) dispatches
 * to. Authorization is the table's, never a handler's: a handler runs only
 * for a caller its row admits. */
#ifndef EVKIT_HTTP_API_H
#define EVKIT_HTTP_API_H

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"
#include "http/web.h"

typedef struct console_sessions console_sessions_t;
typedef struct invoker invoker_t;
typedef struct ratelimit ratelimit_t;
typedef struct ims ims_t;
struct http_route;

/* The HTTP layer's state beside the engine, made by http_start (or
 * http_ctx_init alone, for tests). */
typedef struct http_ctx {
    engine_t *e;
    console_sessions_t *sessions; /* web console sign-ins, in memory */
    invoker_t *invoker;           /* namespaces-API activations; NULL runs them in the caller */
    ratelimit_t *publish_limit;   /* per credential, EVKIT_PUBLISH_RATE (default 3000/5s); NULL = none */
    int64_t blocking_wait_ms;     /* a blocking invoke answers 202 past it (EVKIT_BLOCKING_WAIT, 60s) */
    json_t *metrics_tokens;       /* EVKIT_METRICS_TOKEN, array of strings */
    bool metrics_open;            /* EVKIT_METRICS_AUTH=none */
    ims_t *ims;                   /* IMS tokens (OAUTH_CLIENT_ID/SECRET), never NULL */
    ratelimit_t *auth_failures;   /* per client address, EVKIT_AUTH_FAILURES; NULL = none */
    bool https;                   /* clients reach evkit over HTTPS (EVKIT_PUBLIC_URL https://) */
} http_ctx;

/* Reads the settings (process environment first, then the app's .env),
 * warning about malformed ones as before; with_invoker false leaves
 * invoker NULL. */
void http_ctx_init(http_ctx *h, engine_t *e, bool with_invoker);
/* Waits for the activations still running, then frees. */
void http_ctx_fini(http_ctx *h);
/* A setting: the process environment, else the app's .env; NULL when unset. */

#define API_MAX_ARGS 4

typedef struct api_request {
    const char *method;       /* as received: "GET", "POST", ... */
    const char *url;          /* the path as received, without the query */
    const char *arg[API_MAX_ARGS]; /* what the route's '*' and "**" matched, in order */
    const struct http_route *route;
    json_t *query;            /* borrowed */
    const char *query_raw;    /* "a=1&b=2", "" when none */
    json_t *headers;          /* borrowed, lower-case names */
    const char *body;
    size_t body_len;
    uint64_t client;          /* the client address (IPv6: its /64) as a ratelimit key */
} api_request;

/* Every route's handler; the handlers are declared with this type. */
typedef void api_handler_fn(http_ctx *h, const api_request *req, web_response *out);
typedef api_handler_fn *api_handler;

/* GET /healthz, and web actions /api/v1/web/<ns>/<pkg>/<action>[/rest]
 * (server.c). web_action_find resolves the action of what follows
 * /api/v1/web/ (NULL when none or not a web action); *rest, when not
 * NULL, gets the path after it ("" or "/...", caller frees). */
api_handler_fn http_healthz, http_web_action;
const action_t *web_action_find(const http_ctx *h, const char *path, char **rest);

/* The namespace in the URL (arg[0]): "_" or the engine's; else false with
 * a 404. */
bool api_ns_ok(const http_ctx *h, const api_request *req, web_response *out);
/* The params a request's body gives: a JSON object, or *params NULL without
 * a body; false with a 400 for anything else. */
bool api_params_body(const api_request *req, json_t **params, web_response *out);
/* The OpenWhisk namespaces API subset that clients such as the `openwhisk`
 * npm package use (api.c): arg[0] is the namespace ("_" = the default),
 * arg[1] what follows actions/ or activations/. Invocations run on the
 * invoker's threads: a non-blocking one answers 202 at once; a blocking one
 * waits up to blocking_wait_ms and then answers 202 with the id. */
api_handler_fn api_ns_invoke, api_ns_actions, api_ns_action, api_ns_activations;
/* Triggers and rules (triggers_api.c): arg[1] the trigger's name (NULL:
 * the list). */
api_handler_fn api_ns_triggers, api_ns_rules, api_ns_fire;
/* GET /api/v1/stats/deliveries?registration=&hours= (stats_api.c): the
 * charts' per-minute series. */
api_handler_fn api_stats_deliveries;

/* POST /api/v1/events: the publishing API (events_api.c). CloudEvents 1.0
 * over HTTP in structured, binary (ce-* headers) or batch mode; source is
 * urn:uuid:<provider id>; the CloudEvent id is the idempotency key. 200 when
 * some registration takes an event, 204 when none does, 400 for an invalid
 * event (a batch is all or nothing), 429 past the rate limit. */
api_handler_fn api_publish;
/* api_publish's work without its answer, for the events ingress too: the
 * rate limit, the events checked and journaled. Returns how many
 * registrations took them with *results the array api_publish answers, or
 * -1 with the refusal in out. */
long api_publish_events(http_ctx *h, const api_request *req, json_t **results,
                        web_response *out);

/* GET /api/v1/journal/<registration> (arg[0]): the journaling (pull) API
 * over the events a registration subscribes to (or, for a provider key that
 * is no registration's name, every event of that provider): since=POS,
 * seek=-PT2H, latest=true, limit=N, pages of at most 1.5 MB; 204 with
 * retry-after at the end, 410 below the retention floor. */
api_handler_fn api_journal;

/* The console's JSON APIs (console_api.c): GET /api/v1/traces[/<id>],
 * GET /api/v1/events[/<id>] (browsing; POST /api/v1/events stays the
 * publishing API), GET /api/v1/deadletters, POST /api/v1/deadletters/<id>/replay
 * and POST /api/v1/deadletters/replay?registration=R. */
api_handler_fn api_traces, api_trace, api_events, api_event, api_deadletters,
    api_deadletters_replay, api_deadletter_replay;

/* /api/v1/registrations[/<name>[/enable|/replay|/secrets[/<id>]]] (registrations_api.c;
 * arg[0] the name, arg[1] the secret id): list, create, read, replace,
 * delete, enable, replay a position or time range ({since, until | from,
 * to}), and rotate webhook secrets. */
api_handler_fn api_reg_list, api_reg_create, api_reg_get, api_reg_update, api_reg_delete,
    api_reg_enable, api_reg_secret_add, api_reg_secret_remove, api_reg_replay;

/* GET /api/v1/providers[/<key>[/eventmetadata]] (providers_api.c): providers
 * with their ids, and the event metadata `evkit onboard` recorded;
 * api_provider_other answers the other paths under a provider. */
api_handler_fn api_providers, api_provider, api_provider_metadata, api_provider_other;

/* GET /prod/keys/<file> and /adobeioevents/prod/keys/<file> (keys_api.c):
 * the PEM public keys of the webhook signatures (delivery/sigkeys.h). */
void api_public_key(http_ctx *h, const api_request *req, web_response *out);

/* GET /api/v1/trace-context/<trace id> (tracectx_api.c): the spans of a W3C
 * trace. */
api_handler_fn api_trace_context;

/* GET /metrics: Prometheus text format 0.0.4 (metrics_api.c). */
api_handler_fn api_metrics;

#endif
