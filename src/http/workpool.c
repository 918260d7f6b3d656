/* workpool: see workpool.h. */
#include "http/workpool.h"

#include <pthread.h>
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

struct workpool {
    pthread_mutex_t mu;
    pthread_cond_t work;    /* a job was queued, or stopping */
    pthread_cond_t gone;    /* a thread ended */
    job *q;                 /* ring of queued jobs */
    size_t head, n, cap;
    int threads, idle, keep;
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

static void *work_main(void *arg)
{
    workpool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        job j;
        if (take(p, &j)) {
            pthread_mutex_unlock(&p->mu);
            j.fn(j.arg);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        if (p->stopping) break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += IDLE_END_S;
        p->idle++;
        int rc = pthread_cond_timedwait(&p->work, &p->mu, &until);
        p->idle--;
        if (rc != 0 && !p->n && p->threads > p->keep) break;
    }
    p->threads--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

workpool_t *workpool_new(int keep)
{
    workpool_t *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
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

void workpool_run(workpool_t *p, work_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    push(p, (job){fn, arg});
    if ((size_t)p->idle < p->n && !p->stopping) {
        pthread_attr_t attr;
        pthread_t th;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, work_main, p) == 0) p->threads++;
        pthread_attr_destroy(&attr);
    }
    if (p->threads == 0) {
        /* No thread at all (stopped, or none could start): the caller runs it. */
        job j = {0};
        take(p, &j);
        bool stopped = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (!stopped) log_warn("http: cannot start a request thread; answering on the event thread", NULL);
        j.fn(j.arg);
        return;
    }
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void workpool_stop(workpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    while (p->threads > 0) pthread_cond_wait(&p->gone, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void workpool_free(workpool_t *p)
{
    if (!p) return;
    workpool_stop(p);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    pthread_mutex_destroy(&p->mu);
    free(p->q);
    free(p);
}
