/* bench/scalegen: builds a store as large as issue 12's "flat at scale"
 * target asks, straight through the store API (build/libevkit.a), and
 * measures on it what a delivery claim and a journal page cost.
 *
 *   scalegen DIR EVENTS PENDING THREADS
 *
 * Appends EVENTS sample-app-like events to the store in DIR from THREADS
 * threads (the store's group commit batches them; every append is durable
 * as in the daemon), PENDING of them spread evenly with one delivery to the
 * registration "bench-scale-pending", which is then left pending, due in ten
 * years (so that a daemon on this store does not deliver them meanwhile).
 * Then, ROUNDS times: appends 64 events with a due delivery each, times
 * store_claim of 64 and store_read of a 100-event page at the journal's end,
 * and finishes the claims. Prints one JSON line:
 *   {"events", "pending", "build_s", "claim_us_p50", "page_us_p50"}
 * EVENTS 0 measures an empty store, the baseline. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "store/store.h"

#define ROUNDS 20
#define PROBE 64
#define FAR_MS (10LL * 365 * 24 * 3600 * 1000)

typedef struct {
    store_t *s;
    long from, to, every; /* events [from, to); a delivery on every every-th */
    int failed;
} gen_arg;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int append_one(store_t *s, long i, const char *reg)
{
    char sku[48];
    snprintf(sku, sizeof sku, "SCALE-%ld", i);
    json_t *data = json_pack("{s:s, s:s, s:i, s:s}", "sku", sku, "name", "Scale product", "price",
                             (int)(i % 1000), "description", "bench/scalegen");
    store_delivery_spec spec = {.registration = reg};
    store_event_in ev = {.provider = "backoffice", .type = "be-observer.catalog_product_create",
                         .data = data, .deliveries = reg ? &spec : NULL, .ndeliveries = reg ? 1 : 0};
    store_append_result res;
    err_t err;
    int rc = store_append(s, &ev, &res, &err);
    json_decref(data);
    if (rc < 0) fprintf(stderr, "scalegen: append %ld: %s\n", i, err.msg);
    return rc;
}

static void *gen(void *p)
{
    gen_arg *a = p;
    for (long i = a->from; i < a->to && !a->failed; i++)
        if (append_one(a->s, i, a->every && i % a->every == 0 ? "bench-scale-pending" : NULL) < 0)
            a->failed = 1;
    return NULL;
}

/* Claims every due delivery and gives it back due in ten years. */
static int park_pending(store_t *s, long *parked)
{
    err_t err;
    for (;;) {
        store_delivery *d = NULL;
        size_t n = 0;
        if (store_claim(s, 4096, 60000, &d, &n, &err) < 0) {
            fprintf(stderr, "scalegen: claim: %s\n", err.msg);
            return -1;
        }
        if (n == 0) return 0;
        int64_t *ids = malloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            ids[i] = d[i].id;
            store_delivery_free(&d[i]);
        }
        free(d);
        int rc = store_unclaim(s, ids, n, now_ms() + FAR_MS, &err);
        free(ids);
        if (rc < 0) {
            fprintf(stderr, "scalegen: unclaim: %s\n", err.msg);
            return -1;
        }
        *parked += (long)n;
    }
}

/* One probe event (or one finish) per thread, so that they share commits. */
typedef struct {
    store_t *s;
    long i;
    const store_delivery *d;
    int rc;
} probe_arg;

static void *probe_append(void *p)
{
    probe_arg *a = p;
    a->rc = append_one(a->s, a->i, "bench-scale-probe");
    return NULL;
}

static void *probe_finish(void *p)
{
    probe_arg *a = p;
    store_attempt at = {.delivery_id = a->d->id, .outcome = DELIVERY_DONE, .started_ms = now_ms(),
                        .ended_ms = now_ms(), .status_code = 200};
    err_t err;
    a->rc = store_finish(a->s, &at, &err);
    if (a->rc < 0) fprintf(stderr, "scalegen: finish: %s\n", err.msg);
    return NULL;
}

static int in_parallel(void *(*fn)(void *), probe_arg *args, size_t n)
{
    pthread_t tid[PROBE];
    for (size_t i = 0; i < n; i++)
        if (pthread_create(&tid[i], NULL, fn, &args[i]) != 0) abort();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        rc |= args[i].rc;
    }
    return rc < 0 ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ROUNDS of: PROBE due deliveries appended, one timed claim of them, one
 * timed page at the journal's end; the medians. */
static int measure(store_t *s, long base, double *claim_us, double *page_us)
{
    double cl[ROUNDS], pg[ROUNDS];
    err_t err;
    for (int r = 0; r < ROUNDS; r++) {
        probe_arg pa[PROBE];
        for (int i = 0; i < PROBE; i++) pa[i] = (probe_arg){.s = s, .i = base + (long)r * PROBE + i};
        if (in_parallel(probe_append, pa, PROBE) < 0) return -1;
        store_delivery *d = NULL;
        size_t n = 0;
        double t0 = now_us();
        if (store_claim(s, PROBE, 60000, &d, &n, &err) < 0) {
            fprintf(stderr, "scalegen: claim: %s\n", err.msg);
            return -1;
        }
        cl[r] = now_us() - t0;
        if (n != PROBE) {
            fprintf(stderr, "scalegen: claimed %zu of %d due deliveries\n", n, PROBE);
            return -1;
        }
        for (size_t i = 0; i < n; i++) pa[i] = (probe_arg){.s = s, .d = &d[i]};
        int frc = in_parallel(probe_finish, pa, n);
        for (size_t i = 0; i < n; i++) store_delivery_free(&d[i]);
        free(d);
        if (frc < 0) return -1;
        store_size sz;
        if (store_size_get(s, &sz, &err) < 0) return -1;
        json_t *page = NULL;
        t0 = now_us();
        if (store_read(s, NULL, sz.last_position > 100 ? sz.last_position - 100 : 0, 100, &page,
                       &err) < 0) {
            fprintf(stderr, "scalegen: read: %s\n", err.msg);
            return -1;
        }
        pg[r] = now_us() - t0;
        json_decref(page);
    }
    qsort(cl, ROUNDS, sizeof cl[0], cmp_double);
    qsort(pg, ROUNDS, sizeof pg[0], cmp_double);
    *claim_us = cl[ROUNDS / 2];
    *page_us = pg[ROUNDS / 2];
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: scalegen DIR EVENTS PENDING THREADS\n");
        return 2;
    }
    long events = atol(argv[2]), pending = atol(argv[3]);
    int threads = atoi(argv[4]);
    if (events < 0 || pending < 0 || pending > events || threads < 1 || threads > 4096) {
        fprintf(stderr, "scalegen: need 0 <= PENDING <= EVENTS and 1 <= THREADS <= 4096\n");
        return 2;
    }
    store_t *s = NULL;
    err_t err;
    if (store_open(argv[1], &s, &err) < 0) {
        fprintf(stderr, "scalegen: %s\n", err.msg);
        return 1;
    }
    double t0 = now_us();
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    gen_arg *ga = calloc((size_t)threads, sizeof *ga);
    long every = pending ? events / pending : 0;
    for (int t = 0; t < threads; t++) {
        ga[t] = (gen_arg){.s = s, .from = events * t / threads, .to = events * (t + 1) / threads,
                          .every = every};
        if (pthread_create(&tid[t], NULL, gen, &ga[t]) != 0) abort();
    }
    int failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        failed |= ga[t].failed;
    }
    free(tid);
    free(ga);
    long parked = 0;
    if (failed || park_pending(s, &parked) < 0) {
        store_close(s);
        return 1;
    }
    double build_s = (now_us() - t0) / 1e6;
    double claim_us = 0, page_us = 0;
    if (measure(s, events, &claim_us, &page_us) < 0) {
        store_close(s);
        return 1;
    }
    store_close(s);
    printf("{\"events\":%ld,\"pending\":%ld,\"build_s\":%.1f,\"claim_us_p50\":%.0f,"
           "\"page_us_p50\":%.0f}\n",
           events, parked, build_s, claim_us, page_us);
    return 0;
}
