/* ratelimit: token buckets in a small table keyed by credential hash. The
 * table only holds callers that passed authentication, so it stays as
 * small as the set of API keys. */
#include "http/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core/vec.h"

typedef struct bucket {
    uint64_t key;
    double tokens;
    int64_t last_ms;
} bucket;

struct ratelimit {
    double per_ms, burst;
    pthread_mutex_t mu;
    bucket *b;
    size_t n, cap;
};

ratelimit_t *ratelimit_new(double per_s, double burst)
{
    if (!(per_s > 0)) return NULL;
    ratelimit_t *r = xcalloc(1, sizeof *r);
    r->per_ms = per_s / 1000.0;
    r->burst = burst < 1 ? 1 : burst;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void ratelimit_free(ratelimit_t *r)
{
    if (!r) return;
    pthread_mutex_destroy(&r->mu);
    free(r->b);
    free(r);
}

/* Brings a bucket up to now; true when it is full (as good as absent). */
static bool refill(const ratelimit_t *r, bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * r->per_ms;
        if (b->tokens > r->burst) b->tokens = r->burst;
        b->last_ms = now_ms;
    }
    return b->tokens >= r->burst;
}

/* Room for one more caller: full buckets go, else the stalest one. */
static void make_room(ratelimit_t *r, int64_t now_ms)
{
    size_t kept = 0, stalest = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (refill(r, &r->b[i], now_ms)) continue;
        r->b[kept++] = r->b[i];
    }
    r->n = kept;
    if (r->n < RATELIMIT_KEYS) return;
    for (size_t i = 1; i < r->n; i++)
        if (r->b[i].last_ms < r->b[stalest].last_ms) stalest = i;
    r->b[stalest] = r->b[--r->n];
}

static bucket *find(ratelimit_t *r, uint64_t key)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->b[i].key == key) return &r->b[i];
    return NULL;
}

static int64_t wait_of(const ratelimit_t *r, const bucket *b)
{
    if (b->tokens >= 1) return 0;
    int64_t wait = (int64_t)ceil((1 - b->tokens) / r->per_ms);
    return wait < 1 ? 1 : wait;
}

int64_t ratelimit_take(ratelimit_t *r, uint64_t key, int64_t now_ms)
{
    if (!r) return 0;
    pthread_mutex_lock(&r->mu);
    bucket *b = find(r, key);
    if (!b) {
        if (r->n >= RATELIMIT_KEYS) make_room(r, now_ms);
        VEC_GROW(r->b, r->cap, r->n + 1);
        b = &r->b[r->n++];
        b->key = key;
        b->tokens = r->burst;
        b->last_ms = now_ms;
    }
    refill(r, b, now_ms);
    int64_t wait = wait_of(r, b);
    if (wait == 0) b->tokens -= 1;
    pthread_mutex_unlock(&r->mu);
    return wait;
}

int64_t ratelimit_peek(ratelimit_t *r, uint64_t key, int64_t now_ms)
{
    if (!r) return 0;
    pthread_mutex_lock(&r->mu);
    bucket *b = find(r, key);
    int64_t wait = 0;
    if (b) {
        refill(r, b, now_ms);
        wait = wait_of(r, b);
    }
    pthread_mutex_unlock(&r->mu);
    return wait;
}

uint64_t ratelimit_key(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}
