/* trace: debug tracing of deliveries, one record per attempt (the hosted
 * service's Debug Tracing tab). A transport (action delivery, webhook
 * delivery) fills a trace_attempt with what it sent and got; trace_record
 * redacts secrets, cuts each body at TRACE_BODY_LIMIT (in the trace only)
 * and queues it for a batched store write, off the delivery's hot path.
 *
 * Threads: trace_record and the trace_secrets functions may be called
 * from any thread; a trace_secrets is read-only once built. */
#ifndef EVKIT_TRACE_H
#define EVKIT_TRACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest/manifest.h"
#include "core/tracectx.h"
#include "store/store.h"

#define TRACE_BODY_LIMIT (64u * 1024)
/* Secret values shorter than this are not searched for in trace text:
 * they would hide innocent words. Their keys are still redacted. */
#define TRACE_SECRET_MIN 4

/* One attempt as the transport saw it. Everything is borrowed; NULL (or 0)
 * for what the transport does not have. */
typedef struct trace_attempt {
    const char *registration;
    const char *event_id, *event_type;
    int64_t delivery_id;
    int attempt;                   /* 1-based */
    int64_t start_ms, end_ms;      /* epoch */

    /* The request. Action deliveries: params, the params the consumer got.
     * Webhook deliveries: headers ({name: value}) and body, the bytes sent. */
    const json_t *params;
    const json_t *req_headers;
    const char *req_body;
    size_t req_body_len;

    /* The response. status_code: the HTTP status, or with no answer 601
     * unexpected error, 602 connection failure, 604 timeout. Action
     * deliveries: result, the action's result ({statusCode, headers, body}
     * or {error: ...} or anything); webhook deliveries: resp_headers and
     * resp_body, the bytes received. */
    int status_code;
    const json_t *result;
    const json_t *resp_headers;
    const char *resp_body;
    size_t resp_body_len;

    bool success;
    bool retried;                  /* a retry was scheduled after it */
    const char *activation_id;     /* the activation it produced, or NULL */
    const char *error;             /* short error text, or NULL */
    const tracectx *span;          /* its W3C trace context, or NULL: recorded as a span */
    const char *parent_span;       /* the event's span it continues, or NULL */
} trace_attempt;

/* Values that must never appear in a trace: every string input of the
 * app's actions whose key is secret (log_key_is_secret), and every
 * secret-named variable of the app's environment (.env and the process). */
typedef struct trace_secrets trace_secrets;
trace_secrets *trace_secrets_new(const app_t *app);
/* Adds one value (tests, transports with their own secrets such as
 * webhook signing keys); only before the set is shared between threads. */
void trace_secrets_add(trace_secrets *sec, const char *value);
void trace_secrets_free(trace_secrets *sec);

/* A copy of text with every secret value replaced by "<hidden>" (caller
 * frees): for error texts that are kept or logged outside traces. */
char *trace_scrub(const trace_secrets *sec, const char *text);

/* The stored request: {"params"?, "headers"?, "body"?, "truncated"} and
 * response: {"statusCode", "headers"?, "body", "truncated"}. Secret keys
 * are "<hidden>" and secret values inside strings "<hidden>"; a part over
 * TRACE_BODY_LIMIT bytes of JSON becomes a string of its first bytes and
 * sets truncated. sec may be NULL. New references. */
json_t *trace_request_json(const trace_attempt *t, const trace_secrets *sec);
json_t *trace_response_json(const trace_attempt *t, const trace_secrets *sec);

/* Builds the trace and queues it for the store (never fails; a trace is
 * diagnostics and never holds up a delivery). Queue it before the
 * attempt's store_finish so it is committed no later than the outcome. */
void trace_record(store_t *s, const trace_secrets *sec, const trace_attempt *t);

/* An event end to end: store_event_detail with, in each delivery, its
 * attempts' trace summaries oldest first ("traces"). NULL when absent. */
int trace_event_detail(store_t *s, const char *event_id, json_t **out, err_t *err);

#endif
