/* api: the OpenWhisk namespaces API subset that clients such as the
 * `openwhisk` npm package use: invoking any action (blocking or not) and
 * reading activations. Requires a token from EVKIT_API_TOKENS (Bearer, or
 * Basic with the token as the whole user:password pair). */
#ifndef EVKIT_HTTP_API_H
#define EVKIT_HTTP_API_H

#include <jansson.h>

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

#endif
