/* http: the HTTP server (libmicrohttpd). Routes web actions
 * (/api/v1/web/<ns>/<pkg>/<action>), the namespaces API for blocking
 * invokes and activations, and /healthz. */
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
void http_stop(http_server_t *s);

#endif
