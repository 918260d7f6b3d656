/* invoker: one detached thread per activation, a reference-counted job
 * shared by that thread and the HTTP request that may wait for it. */
#include "http/invoker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

struct invoker {
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* running dropped */
    int running;             /* activations started and not ended */
    int async_running;
    int max_async;
};

struct invoke_job {
    invoker_t *inv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done, async;
    engine_t *e;
    const action_t *a;
    json_t *params;
    char cause[33];
    char id[33];
    invoke_result res;
};

invoker_t *invoker_new(int max_async)
{
    invoker_t *inv = xcalloc(1, sizeof *inv);
    pthread_mutex_init(&inv->mu, NULL);
    pthread_cond_init(&inv->cv, NULL);
    inv->max_async = max_async > 0 ? max_async : 1;
    return inv;
}

void invoker_free(invoker_t *inv)
{
    if (!inv) return;
    pthread_mutex_lock(&inv->mu);
    while (inv->running > 0) pthread_cond_wait(&inv->cv, &inv->mu);
    pthread_mutex_unlock(&inv->mu);
    pthread_mutex_destroy(&inv->mu);
    pthread_cond_destroy(&inv->cv);
    free(inv);
}

void invoke_job_release(invoke_job_t *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left > 0) return;
    json_decref(j->res.result);
    json_decref(j->params);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void *job_main(void *arg)
{
    invoke_job_t *j = arg;
    invoke_result res;
    runtime_invoke_as(j->e, j->a, j->params, j->cause[0] ? j->cause : NULL, j->id, &res);
    lua_backend_thread_cleanup();
    pthread_mutex_lock(&j->mu);
    j->res = res;
    j->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    invoker_t *inv = j->inv;
    bool async = j->async;
    invoke_job_release(j);
    /* Last: once running drops to 0 the invoker may be freed. */
    pthread_mutex_lock(&inv->mu);
    inv->running--;
    if (async) inv->async_running--;
    pthread_cond_broadcast(&inv->cv);
    pthread_mutex_unlock(&inv->mu);
    return NULL;
}

invoke_job_t *invoker_start(invoker_t *inv, engine_t *e, const action_t *a, json_t *params,
                            const char *cause, bool async)
{
    pthread_mutex_lock(&inv->mu);
    if (async && inv->async_running >= inv->max_async) {
        pthread_mutex_unlock(&inv->mu);
        json_decref(params);
        return NULL;
    }
    inv->running++;
    if (async) inv->async_running++;
    pthread_mutex_unlock(&inv->mu);

    invoke_job_t *j = xcalloc(1, sizeof *j);
    j->inv = inv;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 2; /* the caller and the thread */
    j->async = async;
    j->e = e;
    j->a = a;
    j->params = params;
    if (cause) snprintf(j->cause, sizeof j->cause, "%s", cause);
    hex_id32(j->id);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Blocked signals are inherited: the thread never takes SIGINT/SIGTERM. */
    if (pthread_create(&(pthread_t){0}, &attr, job_main, j) != 0) {
        pthread_attr_destroy(&attr);
        log_error("cannot start an activation thread", NULL);
        abort();
    }
    pthread_attr_destroy(&attr);
    return j;
}

const char *invoke_job_id(const invoke_job_t *j)
{
    return j->id;
}

bool invoke_job_wait(invoke_job_t *j, int64_t timeout_ms, const invoke_result **res)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        int rc = pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (rc == ETIMEDOUT) break;
    }
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    if (done && res) *res = &j->res;
    return done;
}
