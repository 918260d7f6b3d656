/* workpool: see workpool.h.
 *
 * Each thread has its own semaphore: a job is handed to one idle thread
 * (the one idle the shortest, whose stack is still in cache) and only that
 * thread wakes, without taking the pool's lock again to find its job. One
 * lock and condition variable shared by every thread made each hand-off
 * and each finished job contend for the lock: about a quarter of the
 * context switches of the webhook under load. */
#include "http/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "core/vec.h"

/* An idle thread beyond the kept ones ends after this long (and with it
 * what it holds per thread, such as its idle Lua interpreters). */
#define IDLE_END_S 5

typedef struct job {
    work_fn fn;
    void *arg;
} job;

typedef struct worker {
    struct worker *next, *prev; /* in the idle list, or next in the spare list */
    sem_t wake;                 /* posted once its job (or its end) was handed */
    job j;                      /* what to run; fn NULL: end */
    bool handed;                /* j was handed while it was idle (mu) */
    workpool_t *pool;
} worker;

struct workpool {
    pthread_mutex_t mu;
    pthread_cond_t gone;    /* a thread ended */
    job *q;                 /* ring of jobs no thread was free for */
    size_t head, n, cap;
    worker *idle;           /* idle threads, the latest first */
    worker *spare;          /* structs of ended threads, reused (freed with the pool) */
    int threads, keep;
    bool stopping;
};

static bool take(workpool_t *p, job *out)
{
    if (!p->n) return false;
    *out = p->q[p->head];
    p->head = (p->head + 1) % p->cap;
    p->n--;
    return true;
}

static void idle_push(workpool_t *p, worker *w)
{
    w->prev = NULL;
    w->next = p->idle;
    if (p->idle) p->idle->prev = w;
    p->idle = w;
}

static void idle_remove(workpool_t *p, worker *w)
{
    if (w->prev) w->prev->next = w->next;
    else p->idle = w->next;
    if (w->next) w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

/* Waits (mu not held) until a job or the end is handed to w; false when
 * it should end for being idle too long (then mu is held and w is out of
 * the idle list). */
static bool await_job(workpool_t *p, worker *w)
{
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += IDLE_END_S;
        int rc;
        while ((rc = sem_timedwait(&w->wake, &until)) != 0 && errno == EINTR) {}
        if (rc == 0) return true;
        pthread_mutex_lock(&p->mu);
        if (w->handed) {
            /* Handed just as the wait ended: its post is coming. */
            pthread_mutex_unlock(&p->mu);
            while (sem_wait(&w->wake) != 0) {}
            return true;
        }
        if (p->threads > p->keep) {
            idle_remove(p, w);
            return false;
        }
        pthread_mutex_unlock(&p->mu);
    }
}

static void *work_main(void *arg)
{
    worker *w = arg;
    workpool_t *p = w->pool;
    pthread_setname_np(pthread_self(), "evkit-http");
    for (;;) {
        if (!w->j.fn) {
            pthread_mutex_lock(&p->mu);
            break; /* stopping */
        }
        w->j.fn(w->j.arg);
        pthread_mutex_lock(&p->mu);
        if (take(p, &w->j)) {
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        if (p->stopping) break;
        w->j = (job){0};
        w->handed = false;
        idle_push(p, w);
        pthread_mutex_unlock(&p->mu);
        if (!await_job(p, w)) break;
    }
    /* mu held */
    w->next = p->spare;
    p->spare = w;
    p->threads--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

workpool_t *workpool_new(int keep)
{
    workpool_t *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->gone, NULL);
    p->keep = keep;
    return p;
}

/* Queues j in the ring (mu held), growing it when full. */
static void push(workpool_t *p, job j)
{
    RING_GROW(p->q, p->cap, p->head, p->n);
    p->q[(p->head + p->n) % p->cap] = j;
    p->n++;
}

/* A new thread starting with j (mu held); false when none could start. */
static bool start_thread(workpool_t *p, job j)
{
    worker *w = p->spare;
    if (w) {
        p->spare = w->next;
    } else {
        w = xcalloc(1, sizeof *w);
        sem_init(&w->wake, 0, 0);
        w->pool = p;
    }
    w->next = w->prev = NULL;
    w->j = j;
    w->handed = false;
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    bool ok = pthread_create(&th, &attr, work_main, w) == 0;
    pthread_attr_destroy(&attr);
    if (ok) {
        p->threads++;
    } else {
        w->next = p->spare;
        p->spare = w;
    }
    return ok;
}

void workpool_run(workpool_t *p, work_fn fn, void *arg)
{
    job j = {fn, arg};
    pthread_mutex_lock(&p->mu);
    worker *w = p->idle;
    if (w) {
        idle_remove(p, w);
        w->j = j;
        w->handed = true;
        pthread_mutex_unlock(&p->mu);
        sem_post(&w->wake); /* outside the lock: it wakes to run, not to wait for it */
        return;
    }
    if (!p->stopping && start_thread(p, j)) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    if (p->threads > 0) {
        /* A busy thread takes it when its job is done. */
        push(p, j);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    /* No thread at all (stopped, or none could start): the caller runs it. */
    bool stopped = p->stopping;
    pthread_mutex_unlock(&p->mu);
    if (!stopped) log_warn("http: cannot start a request thread; answering on the event thread", NULL);
    fn(arg);
}

void workpool_stop(workpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    while (p->idle) {
        worker *w = p->idle;
        idle_remove(p, w);
        w->j = (job){0};
        w->handed = true;
        sem_post(&w->wake);
    }
    while (p->threads > 0) pthread_cond_wait(&p->gone, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void workpool_free(workpool_t *p)
{
    if (!p) return;
    workpool_stop(p);
    while (p->spare) {
        worker *w = p->spare;
        p->spare = w->next;
        sem_destroy(&w->wake);
        free(w);
    }
    pthread_cond_destroy(&p->gone);
    pthread_mutex_destroy(&p->mu);
    free(p->q);
    free(p);
}
