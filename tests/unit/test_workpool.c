/* test_workpool: http/workpool.c, the threads of the requests whose answer
 * may wait: every job runs once, a waiting job never holds up another, and
 * once stopped a job runs on the caller's thread. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "http/workpool.h"

static atomic_int ran;

static void count(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static void test_every_job_once(void **state)
{
    (void)state;
    atomic_store(&ran, 0);
    workpool_t *p = workpool_new(2);
    for (int i = 0; i < 2000; i++) workpool_run(p, count, NULL);
    workpool_free(p); /* waits for them */
    assert_int_equal(atomic_load(&ran), 2000);
}

/* N jobs that each wait until all N have started: only a pool that gives
 * each waiting job a thread of its own gets them all through. */
#define WAITERS 16
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int started, released_ok;

static void wait_for_all(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_mu);
    started++;
    pthread_cond_broadcast(&gate_cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (started < WAITERS) {
        if (pthread_cond_timedwait(&gate_cv, &gate_mu, &until) != 0) break;
    }
    if (started >= WAITERS) released_ok++;
    pthread_mutex_unlock(&gate_mu);
}

static void test_waiting_jobs_do_not_hold_up_others(void **state)
{
    (void)state;
    started = released_ok = 0;
    workpool_t *p = workpool_new(2);
    for (int i = 0; i < WAITERS; i++) workpool_run(p, wait_for_all, NULL);
    workpool_free(p);
    assert_int_equal(released_ok, WAITERS);
}

static pthread_t ran_on;

static void where(void *arg)
{
    (void)arg;
    ran_on = pthread_self();
}

static void test_after_stop_the_caller_runs_it(void **state)
{
    (void)state;
    workpool_t *p = workpool_new(1);
    workpool_run(p, where, NULL);
    workpool_stop(p);
    assert_false(pthread_equal(ran_on, pthread_self()));
    workpool_run(p, where, NULL);
    assert_true(pthread_equal(ran_on, pthread_self()));
    workpool_free(p);
}

/* Three jobs hold three threads, then end one after another: the next job
 * goes to the thread that ended last (its stack still in cache), and only it
 * wakes. */
static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t order_cv = PTHREAD_COND_INITIALIZER;
static int holding, turn, done_count;
static pthread_t last_done;

static void hold_then_end(void *arg)
{
    int me = (int)(intptr_t)arg;
    pthread_mutex_lock(&order_mu);
    holding++;
    pthread_cond_broadcast(&order_cv);
    while (turn != me) pthread_cond_wait(&order_cv, &order_mu);
    last_done = pthread_self();
    done_count++;
    pthread_cond_broadcast(&order_cv);
    pthread_mutex_unlock(&order_mu);
}

static void test_the_latest_idle_thread_takes_the_next_job(void **state)
{
    (void)state;
    holding = turn = done_count = 0;
    workpool_t *p = workpool_new(3);
    for (int i = 0; i < 3; i++) workpool_run(p, hold_then_end, (void *)(intptr_t)(i + 1));
    pthread_mutex_lock(&order_mu);
    while (holding < 3) pthread_cond_wait(&order_cv, &order_mu);
    /* One ends, and has a moment to be idle again, before the next ends. */
    struct timespec pause = {0, 150 * 1000000L};
    for (int k = 1; k <= 3; k++) {
        turn = k;
        pthread_cond_broadcast(&order_cv);
        while (done_count < k) pthread_cond_wait(&order_cv, &order_mu);
        pthread_mutex_unlock(&order_mu);
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&order_mu);
    }
    pthread_t last = last_done;
    pthread_mutex_unlock(&order_mu);
    workpool_run(p, where, NULL);
    workpool_stop(p); /* waits for it */
    assert_true(pthread_equal(ran_on, last));
    workpool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_job_once),
        cmocka_unit_test(test_waiting_jobs_do_not_hold_up_others),
        cmocka_unit_test(test_after_stop_the_caller_runs_it),
        cmocka_unit_test(test_the_latest_idle_thread_takes_the_next_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
