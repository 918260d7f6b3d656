/* ratelimit: token buckets per caller, for the publishing API's per-key
 * limit (the hosted service allows 3,000 requests per 5 s per API key and
 * answers 429 with Retry-After beyond) and for failed authentications per
 * client address. Pure arithmetic on a clock the caller passes, so it is
 * unit-tested without sleeping. At most RATELIMIT_KEYS callers are kept: a
 * full bucket is the same as none, so those go first, then the stalest. */
#ifndef EVKIT_HTTP_RATELIMIT_H
#define EVKIT_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

#define RATELIMIT_KEYS 8192

/* Rates are parsed by config.c (config_parse_rate: "3000/5s", "200", "off"). */

/* NULL when per_s <= 0 (no limit). Thread-safe. */
ratelimit_t *ratelimit_new(double per_s, double burst);
void ratelimit_free(ratelimit_t *r);

/* Takes one request for caller key at now_ms: 0 when allowed, else the
 * milliseconds until one would be (nothing taken). r NULL allows all. */
int64_t ratelimit_take(ratelimit_t *r, uint64_t key, int64_t now_ms);

/* The milliseconds until key could take one, taking nothing; 0 now. */
int64_t ratelimit_peek(ratelimit_t *r, uint64_t key, int64_t now_ms);

/* A stable 64-bit key for a credential string (FNV-1a). */
uint64_t ratelimit_key(const char *s, size_t n);

#endif
