/* delivery: the workers that carry journaled events to registrations'
 * consumer actions or webhooks, with the hosted service's retry,
 * dead-letter and health rules (what a status means: status.h). The decisions are pure functions so they are unit-tested
 * apart from the workers. */
#ifndef EVKIT_DELIVERY_H
#define EVKIT_DELIVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "delivery/status.h"
#include "engine.h"
#include "runtime/runtime.h"

/* Classifies a consumer activation: success is a result without error whose
 * statusCode is 2xx (absent counts as 200). Retried: 429, 5xx except 505,
 * timeouts, crashes, developer and internal errors. Final: other 4xx, 505.
 * *status gets the HTTP-like code, or with no answer 604 (timeout), 602
 * (could not start) or 601 (crash, Lua error, internal error). Params the
 * runtime can never take (res->bad_input) are undeliverable: 422, a dead
 * letter at once that does not count against the registration's health. */
delivery_verdict delivery_classify(const invoke_result *res, int *status);

/* What becomes of a delivery after an attempt with verdict v: done, a
 * final failure, a retry (due at *next_due by reg's schedule), or dead
 * when that retry would fall past max_age after the first attempt. */
store_outcome delivery_outcome(const registration_t *reg, delivery_verdict v, int attempt,
                               int64_t first_ms, int64_t ended_ms, double rnd, int64_t *next_due);

/* The delay a Retry-After header value asks for, in ms: seconds, or an
 * HTTP-date (from now; 0 when past); -1 when it is neither. */
int64_t delivery_retry_after(const char *value, int64_t now_ms);
/* delivery_outcome, with the delay a 429 or 503 asked for (retry_after_ms,
 * -1 none) in place of the schedule's, kept within the schedule's smallest
 * and largest delays and its max_age. */
store_outcome delivery_outcome_hint(const registration_t *reg, delivery_verdict v, int status,
                                    int attempt, int64_t first_ms, int64_t ended_ms, double rnd,
                                    int64_t retry_after_ms, int64_t *next_due);

/* A registration's rate limit: a token bucket of count per window_ms (a
 * burst of count). Takes a token when there is one; else *wait_ms (may be
 * NULL) gets how long until there is. Zero-initialise before first use. */
typedef struct delivery_bucket {
    double tokens;
    int64_t at_ms;
} delivery_bucket;
bool delivery_bucket_take(delivery_bucket *b, int64_t count, int64_t window_ms, int64_t now,
                          int64_t *wait_ms);

/* Delay before the attempt after `attempt` (1-based) by reg's schedule, the
 * last entry repeating, with up to jitter_pct percent added from rnd (0..1). */
int64_t delivery_retry_delay(const registration_t *reg, int attempt, double rnd);

/* Health by the hosted service's rules: DISABLED after at least 10 attempts
 * in the window with at least 80% failing; UNSTABLE when over 80% of at
 * least 3 attempts failed, or the last 3 failed; else ACTIVE. */
reg_state delivery_health(int64_t attempts, int64_t failures, int recent_failures);

/* The params a consumer sees for event: the CloudEvent's fields at top
 * level plus the action's inputs (inputs never override event fields), and
 * the attempt number. Returns a new object. */
json_t *delivery_params(const action_t *consumer, const json_t *event, int attempt);

/* Starts `workers` delivery threads. */
int delivery_start(engine_t *e, int workers, delivery_t **out, err_t *err);
/* Stops claiming, waits for running deliveries, joins the threads. */
void delivery_stop(delivery_t *d);

#endif
