/* http: the HTTP server (libmicrohttpd) and everything it serves: web
 * actions (/api/v1/web/<ns>/<pkg>/<action>), the namespaces API, the
 * publishing, journaling, registrations, providers and console APIs,
 * /metrics, the web console and /healthz. Every route is one row of the
 * route table (routes.h). The server keeps its own state (console
 * sessions, activations in flight, the publishing rate limit) beside the
 * engine it is given. */
#ifndef EVKIT_HTTP_H
#define EVKIT_HTTP_H

#include "core/util.h"
#include "engine.h"

typedef struct http_server http_server_t;

/* Listens on addr ("127.0.0.1:8080", "[::1]:8080", ":8080"; port 0 picks a
 * free one). The engine must outlive the server. */
int http_start(engine_t *e, const char *addr, http_server_t **out, err_t *err);
/* The port actually bound. */
int http_port(const http_server_t *s);
/* Stops listening, waits for the activations still running, frees. */
void http_stop(http_server_t *s);

#endif
