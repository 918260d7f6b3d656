/* flow: a registration's own pace: its concurrency cap and rate limit
 * (token buckets the dispatcher keeps per registration), and the
 * Retry-After a receiver may answer a 429 or 503 with, honoured within the
 * bounds of the registration's retry schedule. */
#include <curl/curl.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"

int64_t delivery_retry_after(const char *value, int64_t now)
{
    if (!value) return -1;
    while (isspace((unsigned char)*value)) value++;
    if (isdigit((unsigned char)*value)) {
        char *end;
        long long s = strtoll(value, &end, 10);
        while (isspace((unsigned char)*end)) end++;
        if (*end || s < 0) return -1;
        return s > 365LL * 86400 ? 365LL * 86400 * 1000 : s * 1000;
    }
    /* An HTTP-date: the delay is from now, never negative. */
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1) return -1;
    int64_t ms = (int64_t)t * 1000 - now;
    return ms < 0 ? 0 : ms;
}

store_outcome delivery_outcome_hint(const registration_t *reg, delivery_verdict v, int status,
                                    int attempt, int64_t first_ms, int64_t ended_ms, double rnd,
                                    int64_t retry_after_ms, int64_t *next_due)
{
    store_outcome o = delivery_outcome(reg, v, attempt, first_ms, ended_ms, rnd, next_due);
    if (o != DELIVERY_RETRY && o != DELIVERY_DEAD) return o;
    if (retry_after_ms < 0 || (status != 429 && status != 503) || v != VERDICT_RETRY) return o;
    int64_t lo = 60000, hi = 60000;
    for (size_t i = 0; i < reg->nretry; i++) {
        int64_t d = reg->retry_schedule_ms[i];
        if (i == 0 || d < lo) lo = d;
        if (i == 0 || d > hi) hi = d;
    }
    int64_t delay = retry_after_ms < lo ? lo : retry_after_ms > hi ? hi : retry_after_ms;
    int64_t next = ended_ms + delay;
    if (next > first_ms + reg->retry_max_age_ms) {
        *next_due = 0;
        return DELIVERY_DEAD;
    }
    *next_due = next;
    return DELIVERY_RETRY;
}

bool delivery_bucket_take(delivery_bucket *b, int64_t count, int64_t window_ms, int64_t now,
                          int64_t *wait_ms)
{
    if (count <= 0 || window_ms <= 0) return true;
    double per_ms = (double)count / (double)window_ms;
    if (b->at_ms == 0) {
        b->tokens = (double)count;   /* a burst of count to start with */
    } else if (now > b->at_ms) {
        b->tokens += (double)(now - b->at_ms) * per_ms;
        if (b->tokens > (double)count) b->tokens = (double)count;
    }
    if (now > b->at_ms) b->at_ms = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        if (wait_ms) *wait_ms = 0;
        return true;
    }
    if (wait_ms) {
        int64_t w = (int64_t)((1.0 - b->tokens) / per_ms) + 1;
        *wait_ms = w < 1 ? 1 : w;
    }
    return false;
}
