/* web: OpenWhisk web-action semantics without any HTTP library: turning a
 * request into params, and an action result into a response. Pure
 * functions, so the rules are unit-tested apart from the server. */
#ifndef EVKIT_HTTP_WEB_H
#define EVKIT_HTTP_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"
#include "manifest/manifest.h"
#include "runtime/runtime.h"

#define WEB_MAX_BODY (1024u * 1024)  /* payload limit: 1 MB, as the hosted runtime */
#define WEB_RETRY_AFTER_S "5"         /* Retry-After of every 503 evkit answers itself */

typedef struct web_request {
    const char *method;        /* as received, e.g. "POST" */
    const char *path;          /* what follows the action in the URL, "" when nothing */
    json_t *headers;           /* object: lower-case name -> value (borrowed) */
    json_t *query;             /* object: name -> value (borrowed) */
    const char *query_raw;     /* "a=1&b=2" without '?', "" when none */
    const char *body;          /* raw body bytes (may hold NULs) */
    size_t body_len;
} web_request;

typedef struct web_response {
    int status;
    json_t *headers;           /* object: name -> value (owned) */
    char *body;                /* owned */
    size_t body_len;
} web_response;

void web_response_init(web_response *r);
void web_response_free(web_response *r);
/* Sets a JSON response: status and body (stolen), content-type. */
void web_json(web_response *r, int status, json_t *body);
/* A JSON {"error": message} response with status. */
void web_error(web_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The HTTP status of an evk_status: the one mapping in evkit (EVK_INVALID
 * 400, EVK_NOT_FOUND 404, EVK_CONFLICT 409, EVK_FORBIDDEN 403, ...; an
 * unknown one 500). */
int http_status_of(evk_status code);
/* web_error with err's message and the status of its code. */
void web_fail(web_response *r, const err_t *err);
/* Each object of rows with the members fields names ({from, to}) under
 * their new names, in that order; an absent member is null. */
json_t *web_rows_renamed(const json_t *rows, const char *const (*fields)[2], size_t nfields);
/* A lookup's answer: err's status when rc < 0, 404 "<what> '<id>' not
 * found." when found is NULL, else found (stolen) with 200. */
void web_found(web_response *r, int rc, const err_t *err, json_t *found, const char *what,
               const char *id);

/* The params of a web invocation: package/action inputs < query < body,
 * plus __ow_method, __ow_headers, __ow_path (and __ow_query, __ow_body for
 * raw-http; __ow_raw_body with annotation signed-body). Returns NULL with
 * err (EVK_INVALID) for malformed JSON, reserved __ow_* keys, or overriding
 * a final input. */
json_t *web_params(const action_t *action, const web_request *req, err_t *err);

/* Renders an action result as the hosted runtime does: statusCode (default
 * 200, 204 without body), headers, body; a top-level error renders only its
 * value; developer errors are 502, timeouts 504, internal errors 500. */
void web_render(const invoke_result *res, web_response *out);

/* True when the request carries "Authorization: Bearer <t>" with t one of
 * tokens (array of strings); compared in constant time. */
int web_bearer_ok(const json_t *headers, const json_t *tokens);
/* True when tok (n bytes, n > 0) is one of tokens; every token is compared,
 * in constant time. */
bool web_token_ok(const json_t *tokens, const char *tok, size_t n);

#endif
