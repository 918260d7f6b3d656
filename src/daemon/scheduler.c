/* scheduler: one thread waits for the earliest slot of any scheduled
 * trigger, then claims and fires every trigger that is due. Fires of one
 * trigger never overlap: a fire that outlasts the next slot makes the
 * following fire a catch-up of the latest slot passed. */
#include "daemon/scheduler.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "runtime/runtime.h"

/* How long the thread sleeps at most, so a trigger whose store record was
 * changed by another process is looked at again. */
#define SCHEDULER_IDLE_MS 60000

struct scheduler {
    engine_t *e;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
};

static void fire_claimed(scheduler_t *s, const trigger_t *t, const trigger_fire *how)
{
    err_t err;
    runtime_fire_trigger(s->e, t, NULL, how, NULL);
    if (store_trigger_done(s->e->store, t->name, how->id, &err) < 0)
        log_error("cannot record a trigger's fire as finished",
                  json_pack("{s:s, s:s}", "trigger", t->name, "error", err.msg));
}

/* Fires t when a slot is due; returns the time of its next slot. */
static int64_t tick(scheduler_t *s, const trigger_t *t, int64_t now)
{
    err_t err;
    store_trigger_rec rec;
    if (store_trigger_get(s->e->store, t->name, now, &rec, &err) < 0) {
        log_error("cannot read a trigger's last fire",
                  json_pack("{s:s, s:s}", "trigger", t->name, "error", err.msg));
        return now + 1000;
    }
    if (rec.pending && rec.last_id[0]) {
        /* The process died while firing: run that fire again, same id. */
        trigger_fire how = {.id = rec.last_id, .scheduled_ms = rec.last_ms, .recovered = true};
        fire_claimed(s, t, &how);
    }
    int64_t base = rec.last_ms > rec.since_ms ? rec.last_ms : rec.since_ms;
    int64_t slot = trigger_next_slot(t, rec.since_ms, base);
    if (slot > now) return slot;
    /* The latest slot that is due; the ones before it are passed over. */
    int64_t missed = 0;
    for (int64_t n; (n = trigger_next_slot(t, rec.since_ms, slot)) <= now; missed++) slot = n;
    char id[33];
    hex_id32(id);
    bool claimed = false;
    if (store_trigger_claim(s->e->store, t->name, slot, id, &claimed, &err) < 0) {
        log_error("cannot claim a trigger's fire",
                  json_pack("{s:s, s:s}", "trigger", t->name, "error", err.msg));
        return now + 1000;
    }
    if (claimed) {
        if (missed)
            log_warn("trigger slots missed; firing the latest once",
                     json_pack("{s:s, s:I}", "trigger", t->name, "missed", (json_int_t)missed));
        trigger_fire how = {.id = id, .scheduled_ms = slot, .missed = missed};
        fire_claimed(s, t, &how);
    }
    return trigger_next_slot(t, rec.since_ms, slot);
}

static void *scheduler_main(void *arg)
{
    scheduler_t *s = arg;
    const app_t *app = s->e->app;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->mu);
        int64_t now = now_ms(), wake = now + SCHEDULER_IDLE_MS;
        for (size_t i = 0; i < app->ntriggers; i++) {
            if (app->triggers[i].feed == FEED_NONE) continue;
            int64_t next = tick(s, &app->triggers[i], now);
            if (next < wake) wake = next;
        }
        pthread_mutex_lock(&s->mu);
        if (s->stopping) break;
        struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (long)(wake % 1000) * 1000000};
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    lua_backend_thread_cleanup();
    return NULL;
}

int scheduler_start(engine_t *e, scheduler_t **out, err_t *err)
{
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; e->app && i < e->app->ntriggers; i++) n += e->app->triggers[i].feed != FEED_NONE;
    if (!n || !e->store) return 0;
    scheduler_t *s = xcalloc(1, sizeof *s);
    s->e = e;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL); /* CLOCK_REALTIME: slots are wall-clock times */
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return err_set(err, "cannot start the trigger scheduler");
    }
    log_info("trigger scheduler started", json_pack("{s:I}", "triggers", (json_int_t)n));
    *out = s;
    return 0;
}

void scheduler_stop(scheduler_t *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
