/* api: the OpenWhisk namespaces API subset that clients such as the
 * `openwhisk` npm package use: invoking any action (blocking or not) and
 * reading activations. Requires a token from EVKIT_API_TOKENS (Bearer, or
 * Basic with the token as the whole user:password pair). */
#ifndef EVKIT_HTTP_API_H
#define EVKIT_HTTP_API_H

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"
#include "http/web.h"

typedef struct api_request {
    const char *method;     /* "GET", "POST" */
    const char *ns;         /* namespace from the URL ("_" means the default) */
    const char *rest;       /* after /api/v1/namespaces/<ns>/, e.g. "actions/pkg/name" */
    json_t *query;          /* borrowed */
    json_t *headers;        /* borrowed, lower-case names */
    const char *body;
    size_t body_len;
} api_request;

void api_handle(engine_t *e, const api_request *req, web_response *out);

/* True when headers carry a token from EVKIT_API_TOKENS (Bearer or Basic),
 * or a web console session cookie with its x-evkit-csrf header. */
bool api_authorized(engine_t *e, const json_t *headers);

/* POST /api/v1/events: the publishing API. CloudEvents 1.0 over HTTP in
 * structured, binary (ce-* headers) or batch mode; source is
 * urn:uuid:<provider id>; the CloudEvent id is the idempotency key. 200 when
 * some registration takes an event, 204 when none does, 400 for an invalid
 * event (a batch is all or nothing). */
void api_publish(engine_t *e, const api_request *req, web_response *out);

/* GET /api/v1/journal/<registration>: the journaling (pull) API over the
 * events a registration subscribes to (or, for a provider key that is no
 * registration's name, every event of that provider): since=POS,
 * seek=-PT2H, latest=true, limit=N, pages of at most 1.5 MB; 204 with
 * retry-after at the end, 410 below the retention floor. */
void api_journal(engine_t *e, const api_request *req, const char *provider, web_response *out);

/* The console's JSON APIs (console_api.c): GET /api/v1/traces[/<id>],
 * GET /api/v1/events[/<id>] (browsing; POST /api/v1/events stays the
 * publishing API), GET /api/v1/deadletters, POST /api/v1/deadletters/<id>/replay
 * and POST /api/v1/deadletters/replay?registration=R. */
bool api_console_route(const char *url);
void api_console(engine_t *e, const api_request *req, const char *url, web_response *out);
/* /api/v1/registrations[/<name>[/enable|/secrets[/<id>]]] (rest is what
 * follows /api/v1/registrations): list, create, read, replace, delete,
 * enable, and rotate webhook secrets. Needs an API token. */
void api_registrations(engine_t *e, const api_request *req, web_response *out);
/* GET /api/v1/providers[/<key>[/eventmetadata]] (rest is what follows
 * /api/v1/providers): providers with their ids, and the event metadata
 * `evkit onboard` recorded. Needs an API token. */
void api_providers(engine_t *e, const api_request *req, web_response *out);

/* GET /metrics: Prometheus text format 0.0.4 (metrics_api.c); needs a token
 * from EVKIT_METRICS_TOKEN or EVKIT_API_TOKENS unless EVKIT_METRICS_AUTH=none. */
void api_metrics(engine_t *e, const api_request *req, web_response *out);

#endif
