/* webhook: the HTTP side of delivery to an endpoint instead of an action
 * (deliver_webhook.c builds the requests), as the hosted event service
 * does it: a Standard Webhooks signature, a 10 s timeout, batch sizing,
 * and the challenge a URL must pass before a registration may use it. The signing and batch arithmetic are pure
 * functions, unit-tested apart from the transport. */
#ifndef EVKIT_DELIVERY_WEBHOOK_H
#define EVKIT_DELIVERY_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "delivery/status.h"

#define WEBHOOK_TIMEOUT_MS 10000
/* Response bodies kept for traces and error messages. */
#define WEBHOOK_MAX_RESPONSE (64 * 1024)

/* The webhook-signature header value: one "v1,<base64 HMAC-SHA256 of
 * msg_id.timestamp.body>" per secret (keyed with the base64-decoded part
 * after "whsec_"), space-separated. NULL with err for an invalid secret. */
char *webhook_signature(char *const *secrets, size_t nsecrets, const char *msg_id,
                        int64_t timestamp, const char *body, size_t len, err_t *err);

/* How many of the next serialized events (sizes in bytes, in order) go in
 * one batch: at most max_events, and the JSON array ("[" a "," b "]") at
 * most max_bytes. Always at least 1 when n > 0 (a single event larger than
 * max_bytes goes alone). */
size_t webhook_batch_take(const size_t *sizes, size_t n, size_t max_events, size_t max_bytes);

/* True when body answers challenge: the value as text (surrounding
 * whitespace ignored) or as JSON {"challenge": value}. */
bool webhook_challenge_ok(const char *body, size_t len, const char *challenge);

/* GET url?challenge=<uuid> (appended with & when url has a query) within
 * timeout_ms; 0 when the endpoint answered 2xx echoing the value, else -1
 * with err. The reason given to the caller (an API client) says what to
 * answer, and whether the address is refused, never how the connection
 * failed (that would map ports); the detail goes to the log.
 *
 * Webhook requests connect only to public addresses and to the ranges in
 * allow (an array of addresses and CIDR ranges, EVKIT_WEBHOOK_ALLOW; may
 * be NULL), checked at connect time (core/netpolicy.h). */
int webhook_challenge(const char *url, int timeout_ms, const json_t *allow, err_t *err);

typedef struct webhook_response {
    int status;          /* HTTP status, or a DELIVERY_STATUS_* of no answer */
    char *body;          /* response body (cut at WEBHOOK_MAX_RESPONSE), NUL-terminated */
    size_t body_len;
    json_t *headers;     /* response headers, lower-case names */
    char error[256];     /* "" on an HTTP answer, else what went wrong */
    bool refused;        /* the address was refused (EVKIT_WEBHOOK_ALLOW) */
    int64_t duration_ms;
} webhook_response;
void webhook_response_free(webhook_response *r);

/* POSTs body to url with headers (an object of strings, borrowed), to an
 * address allow admits (as webhook_challenge). Always fills out. */
void webhook_post(const char *url, const json_t *headers, const char *body, size_t len,
                  int timeout_ms, const json_t *allow, webhook_response *out);

#endif
