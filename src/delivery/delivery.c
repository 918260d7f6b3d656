/* delivery: a dispatcher thread claims due deliveries from the store (one
 * claim for many, so claims share commits) and hands them to a pool of
 * workers that invoke the registration's consumer (or hand the delivery to
 * deliver_webhook.c) and record the outcome.
 * A claim is a lease: if this process dies, the lease expires and any
 * evkit process delivers again (at least once). */
#include "delivery/delivery.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/vec.h"
#include "delivery/delivery_int.h"
#include "registry/registry.h"
#include "trace/trace.h"
#include "metrics/metrics.h"

/* ---- decisions ---- */

/* The one reading of the statuses a target answers (status.h). A consumer
 * that returns 601 or more itself has answered: that is final. */
static delivery_verdict classify_code(int code)
{
    if (code >= 200 && code < 300) return VERDICT_SUCCESS;
    if (code == 429 || (code >= 500 && code < 600 && code != 505)) return VERDICT_RETRY;
    return VERDICT_FINAL;
}

delivery_verdict delivery_classify_status(int code)
{
    /* No answer at all (601 and up) is retried like a 5xx. */
    if (code >= 600) return VERDICT_RETRY;
    return classify_code(code);
}

static int status_of(const json_t *obj, int dflt)
{
    json_t *sc = json_object_get(obj, "statusCode");
    if (json_is_integer(sc)) return (int)json_integer_value(sc);
    if (json_is_real(sc)) return (int)json_real_value(sc);
    if (json_is_string(sc)) {
        int v = atoi(json_string_value(sc));
        if (v >= 100 && v <= 999) return v;
    }
    return dflt;
}

delivery_verdict delivery_classify(const invoke_result *res, int *status)
{
    int code;
    if (res->bad_input) {
        *status = DELIVERY_STATUS_UNDELIVERABLE;
        return VERDICT_UNDELIVERABLE;
    }
    /* No answer from the consumer: the hosted service's own codes. */
    if (res->status == ACT_DEV_ERROR || res->status == ACT_INTERNAL_ERROR) {
        *status = res->timed_out     ? DELIVERY_STATUS_TIMEOUT
                  : res->not_started ? DELIVERY_STATUS_CONNECT
                                     : DELIVERY_STATUS_UNEXPECTED;
        return VERDICT_RETRY;
    }
    json_t *err = json_object_get(res->result, "error");
    if (err) {
        /* An application error without a status is a failure worth retrying. */
        code = json_is_object(err) ? status_of(err, DELIVERY_STATUS_APP_ERROR)
                                    : DELIVERY_STATUS_APP_ERROR;
        *status = code;
        delivery_verdict v = classify_code(code);
        return v == VERDICT_SUCCESS ? VERDICT_RETRY : v;
    }
    code = status_of(res->result, DELIVERY_STATUS_OK);
    *status = code;
    return classify_code(code);
}

int64_t delivery_retry_delay(const registration_t *reg, int attempt, double rnd)
{
    if (!reg->nretry) return 60000;
    size_t i = attempt < 1 ? 0 : (size_t)(attempt - 1);
    if (i >= reg->nretry) i = reg->nretry - 1;
    int64_t base = reg->retry_schedule_ms[i];
    if (rnd < 0) rnd = 0;
    if (rnd > 1) rnd = 1;
    return base + (int64_t)((double)base * (double)reg->retry_jitter_pct / 100.0 * rnd);
}

store_outcome delivery_outcome(const registration_t *reg, delivery_verdict v, int attempt,
                               int64_t first_ms, int64_t ended_ms, double rnd, int64_t *next_due)
{
    *next_due = 0;
    if (v == VERDICT_SUCCESS) return DELIVERY_DONE;
    if (v == VERDICT_FINAL) return DELIVERY_FAILED;
    if (v == VERDICT_UNDELIVERABLE) return DELIVERY_UNDELIVERABLE;
    int64_t next = ended_ms + delivery_retry_delay(reg, attempt, rnd);
    if (next > first_ms + reg->retry_max_age_ms) return DELIVERY_DEAD;
    *next_due = next;
    return DELIVERY_RETRY;
}

void delivery_record(delivery_t *d, const registration_t *reg, const store_delivery *dl,
                     const store_attempt *at, delivery_verdict v, const char *what)
{
    err_t err;
    if (store_finish(delivery_engine(d)->store, at, &err) < 0)
        log_error("cannot record delivery", json_pack("{s:s, s:I}", "error", err.msg, "delivery",
                                                      (json_int_t)dl->id));
    else metrics_delivery_attempt(reg->name, (int)at->outcome, dl->attempt);
    if (v == VERDICT_SUCCESS) return;
    char msg[96];
    if (at->outcome == DELIVERY_RETRY) snprintf(msg, sizeof msg, "%s failed; will retry", what);
    else if (at->outcome == DELIVERY_DEAD)
        snprintf(msg, sizeof msg, "%s failed; retries exhausted, dead letter", what);
    else if (at->outcome == DELIVERY_UNDELIVERABLE)
        snprintf(msg, sizeof msg, "%s impossible for this event; dead letter at once", what);
    else snprintf(msg, sizeof msg, "%s rejected with a final status; dead letter", what);
    json_t *fields = json_pack("{s:s, s:s?, s:i, s:i, s:s}", "registration", reg->name, "event",
                               json_string_value(json_object_get(dl->event, "id")), "attempt",
                               dl->attempt, "status", at->status_code, "error",
                               at->error ? at->error : "");
    if (at->activation_id)
        json_object_set_new(fields, "activationId", json_string(at->activation_id));
    log_emit(at->outcome == DELIVERY_RETRY ? LOG_INFO : LOG_WARN, msg, fields);
}

reg_state delivery_health(int64_t attempts, int64_t failures, int recent_failures)
{
    if (attempts >= 10 && failures * 5 >= attempts * 4) return REG_DISABLED;
    if (recent_failures >= 3 || (attempts >= 3 && failures * 5 > attempts * 4)) return REG_UNSTABLE;
    return REG_ACTIVE;
}

json_t *delivery_params(const action_t *consumer, const json_t *event, int attempt)
{
    json_t *p = consumer->inputs ? json_deep_copy(consumer->inputs) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)event, k, v) {
        if (consumer->final && consumer->inputs && json_object_get(consumer->inputs, k)) continue;
        json_object_set(p, k, v);
    }
    json_t *id = json_object_get(event, "id");
    if (id && !json_object_get(p, "eventid")) json_object_set(p, "eventid", id);
    (void)attempt;
    return p;
}

/* ---- workers ---- */

typedef struct reg_health {
    char *name;
    reg_state state;
    int consecutive_failures;
} reg_health;

struct delivery {
    engine_t *engine;
    int nworkers;
    pthread_t dispatcher;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;   /* queue not empty or stopping */
    pthread_cond_t cv_free;   /* a worker became idle */
    store_delivery *queue;    /* claimed, not yet started */
    size_t qlen, qcap;
    int busy;                 /* deliveries queued or running */
    bool stopping;
    bool dispatcher_done;     /* nothing more will be queued */
    reg_health *health;       /* per registration name; registrations come and go */
    size_t nhealth, caphealth;
    trace_secrets *secrets;   /* values no trace may show */
};

engine_t *delivery_engine(delivery_t *d)
{
    return d->engine;
}

const trace_secrets *delivery_trace_secrets(delivery_t *d)
{
    return d->secrets;
}

/* The health entry of name, created ACTIVE. Called with d->mu held. */
static reg_health *health_of(delivery_t *d, const char *name)
{
    for (size_t i = 0; i < d->nhealth; i++)
        if (!strcmp(d->health[i].name, name)) return &d->health[i];
    VEC_GROW(d->health, d->caphealth, d->nhealth + 1);
    reg_health *h = &d->health[d->nhealth++];
    memset(h, 0, sizeof *h);
    h->name = xstrdup(name);
    h->state = REG_ACTIVE;
    return h;
}

void delivery_update_health(delivery_t *d, const registration_t *reg, bool ok)
{
    engine_t *e = d->engine;
    pthread_mutex_lock(&d->mu);
    reg_health *h = health_of(d, reg->name);
    h->consecutive_failures = ok ? 0 : h->consecutive_failures + 1;
    int recent = h->consecutive_failures;
    reg_state cached = h->state;
    pthread_mutex_unlock(&d->mu);
    if (ok && cached == REG_ACTIVE) return; /* the common case costs no query */

    store_reg_info info;
    err_t err;
    if (store_reg_info_get(e->store, reg->name, &info, &err) < 0) return;
    if (info.state == REG_DISABLED) {
        pthread_mutex_lock(&d->mu);
        health_of(d, reg->name)->state = REG_DISABLED;
        pthread_mutex_unlock(&d->mu);
        return;
    }
    reg_state next = delivery_health(info.attempts_24h, info.failures_24h, recent);
    if (next != info.state) {
        if (store_reg_set_state(e->store, reg->name, next, &err) == 0) {
            log_emit(next == REG_DISABLED ? LOG_ERROR : LOG_WARN, "registration state changed",
                     json_pack("{s:s, s:s, s:s, s:I, s:I}", "registration", reg->name, "from",
                               reg_state_name(info.state), "to", reg_state_name(next), "attempts_24h",
                               (json_int_t)info.attempts_24h, "failures_24h",
                               (json_int_t)info.failures_24h));
        }
    }
    pthread_mutex_lock(&d->mu);
    health_of(d, reg->name)->state = next;
    pthread_mutex_unlock(&d->mu);
}

double delivery_rnd01(void)
{
    uint32_t r;
    if (random_bytes(&r, sizeof r) < 0) return 0.5;
    return (double)r / 4294967295.0;
}

static void deliver_one(delivery_t *d, store_delivery *dl)
{
    engine_t *e = d->engine;
    regset_t *regs = registry_get(e->registry);
    const registration_t *reg = regset_find(regs, dl->registration, NULL);
    store_attempt at = {.delivery_id = dl->id, .started_ms = now_ms()};
    /* The trace of this attempt; the transport fills request and response. */
    trace_attempt tr = {
        .registration = dl->registration,
        .event_id = json_string_value(json_object_get(dl->event, "id")),
        .event_type = json_string_value(json_object_get(dl->event, "type")),
        .delivery_id = dl->id,
        .attempt = dl->attempt,
        .start_ms = at.started_ms,
    };
    err_t err;
    if (!reg || (!reg->action && !reg->webhook_url)) {
        at.outcome = DELIVERY_FAILED;
        at.status_code = DELIVERY_STATUS_NO_REGISTRATION;
        at.error = "the registration no longer exists";
        at.ended_ms = now_ms();
        tr.end_ms = at.ended_ms;
        tr.status_code = at.status_code;
        tr.error = at.error;
        trace_record(e->store, d->secrets, &tr);
        if (store_finish(e->store, &at, &err) < 0)
            log_error("cannot record delivery", json_pack("{s:s}", "error", err.msg));
        regset_release(regs);
        return;
    }
    if (reg->webhook_url) {
        webhook_deliver(d, reg, dl);
        regset_release(regs);
        return;
    }
    json_t *params = delivery_params(reg->action, dl->event, dl->attempt);
    json_object_set_new(params, "__evkit",
                        json_pack("{s:i, s:i, s:s, s:I}", "attempt", dl->attempt, "retryCount",
                                  dl->attempt - 1, "registration", reg->name, "delivery",
                                  (json_int_t)dl->id));
    invoke_result res;
    runtime_invoke(e, reg->action, params, NULL, &res);

    int code = 0;
    delivery_verdict v = delivery_classify(&res, &code);
    at.ended_ms = now_ms();
    at.status_code = code;
    at.activation_id = res.activation_id;
    char errbuf[256] = "";
    if (v != VERDICT_SUCCESS) {
        json_t *ej = json_object_get(res.result, "error");
        json_t *body = json_object_get(ej ? ej : res.result, "body");
        json_t *msg = json_is_string(ej) ? ej : json_object_get(body, "error");
        if (!msg) msg = json_object_get(ej, "error");
        if (!msg) msg = json_object_get(body, "message");
        if (json_is_string(msg)) {
            /* What the consumer said may quote a secret: the error text is
             * kept (last_error) and logged, so it is scrubbed first. */
            char *clean = trace_scrub(d->secrets, json_string_value(msg));
            snprintf(errbuf, sizeof errbuf, "%s", clean);
            free(clean);
        } else if (res.timed_out) snprintf(errbuf, sizeof errbuf, "the consumer timed out");
        else snprintf(errbuf, sizeof errbuf, "status %d", code);
        at.error = errbuf;
    }
    int64_t first = dl->first_attempt_ms ? dl->first_attempt_ms : at.started_ms;
    at.outcome = delivery_outcome(reg, v, dl->attempt, first, at.ended_ms, delivery_rnd01(),
                                  &at.next_due_ms);
    tr.end_ms = at.ended_ms;
    tr.params = params;
    tr.result = res.result;
    tr.status_code = code;
    tr.success = v == VERDICT_SUCCESS;
    tr.retried = at.outcome == DELIVERY_RETRY;
    tr.activation_id = res.activation_id;
    tr.error = at.error;
    /* Before the finish: the trace is then committed no later than it. */
    trace_record(e->store, d->secrets, &tr);
    json_decref(params);
    delivery_record(d, reg, dl, &at, v, "delivery");
    json_decref(res.result);
    if (v != VERDICT_UNDELIVERABLE) delivery_update_health(d, reg, v == VERDICT_SUCCESS);
    regset_release(regs);
}

static void *worker_main(void *arg)
{
    delivery_t *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        /* Stop only once the dispatcher is gone: a claim it made while
         * stopping still reaches the queue and must be delivered. */
        while (d->qlen == 0 && !d->dispatcher_done) pthread_cond_wait(&d->cv_work, &d->mu);
        if (d->qlen == 0 && d->dispatcher_done) {
            pthread_mutex_unlock(&d->mu);
            break;
        }
        store_delivery dl = d->queue[0];
        memmove(d->queue, d->queue + 1, (d->qlen - 1) * sizeof *d->queue);
        d->qlen--;
        pthread_mutex_unlock(&d->mu);

        deliver_one(d, &dl);
        store_delivery_free(&dl);

        pthread_mutex_lock(&d->mu);
        d->busy--;
        pthread_cond_signal(&d->cv_free);
        pthread_mutex_unlock(&d->mu);
    }
    lua_backend_thread_cleanup();
    return NULL;
}

static int64_t max_timeout_ms(registry_t *r)
{
    regset_t *regs = registry_get(r);
    int64_t m = 0;
    for (size_t i = 0; i < regs->n; i++) {
        const registration_t *reg = regs->regs[i];
        int64_t t = reg->action ? reg->action->timeout_ms : reg->webhook_url ? WEBHOOK_TIMEOUT_MS : 0;
        if (t > m) m = t;
    }
    regset_release(regs);
    return m ? m : ACTION_DEFAULT_TIMEOUT_MS;
}

int64_t delivery_lease_ms(delivery_t *d)
{
    /* A lease outlives the longest consumer, with room for nested handlers. */
    return 2 * max_timeout_ms(d->engine->registry) + 30000;
}

static void *dispatcher_main(void *arg)
{
    delivery_t *d = arg;
    engine_t *e = d->engine;
    for (;;) {
        int64_t lease = delivery_lease_ms(d);
        pthread_mutex_lock(&d->mu);
        while (d->busy >= d->nworkers && !d->stopping) pthread_cond_wait(&d->cv_free, &d->mu);
        int free_slots = d->nworkers - d->busy;
        bool stop = d->stopping;
        pthread_mutex_unlock(&d->mu);
        if (stop) break;

        store_delivery *got = NULL;
        size_t n = 0;
        err_t err;
        if (store_claim(e->store, free_slots, lease, &got, &n, &err) < 0) {
            log_error("cannot claim deliveries", json_pack("{s:s}", "error", err.msg));
            store_wait_work(e->store, now_ms() + 1000);
            continue;
        }
        if (n == 0) {
            /* Sleep until the next retry is due, new work arrives in this
             * process, or a second passes (work added by another process). */
            int64_t until = now_ms() + 1000;
            int64_t due = store_next_due(e->store);
            if (due < until) until = due;
            if (until > now_ms()) store_wait_work(e->store, until);
            continue;
        }
        pthread_mutex_lock(&d->mu);
        VEC_GROW(d->queue, d->qcap, d->qlen + n);
        memcpy(d->queue + d->qlen, got, n * sizeof *got);
        d->qlen += n;
        d->busy += (int)n;
        pthread_cond_broadcast(&d->cv_work);
        pthread_mutex_unlock(&d->mu);
        free(got);
    }
    pthread_mutex_lock(&d->mu);
    d->dispatcher_done = true;
    pthread_cond_broadcast(&d->cv_work);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int delivery_start(engine_t *e, int workers, delivery_t **out, err_t *err)
{
    delivery_t *d = xcalloc(1, sizeof *d);
    d->engine = e;
    d->nworkers = workers;
    d->secrets = trace_secrets_new(e->app);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv_work, NULL);
    pthread_cond_init(&d->cv_free, NULL);
    d->workers = xcalloc((size_t)workers, sizeof *d->workers);
    regset_t *regs = registry_get(e->registry);
    for (size_t i = 0; i < regs->n; i++) {
        store_reg_info info;
        if (store_reg_info_get(e->store, regs->regs[i]->name, &info, err) < 0) {
            regset_release(regs);
            for (size_t k = 0; k < d->nhealth; k++) free(d->health[k].name);
            free(d->workers);
            free(d->health);
            trace_secrets_free(d->secrets);
            free(d);
            return -1;
        }
        health_of(d, regs->regs[i]->name)->state = info.state;
    }
    regset_release(regs);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&d->workers[i], NULL, worker_main, d) != 0) abort();
    }
    if (pthread_create(&d->dispatcher, NULL, dispatcher_main, d) != 0) abort();
    *out = d;
    return 0;
}

void delivery_stop(delivery_t *d)
{
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_broadcast(&d->cv_work);
    pthread_cond_broadcast(&d->cv_free);
    pthread_mutex_unlock(&d->mu);
    store_kick(d->engine->store);
    pthread_join(d->dispatcher, NULL);
    for (int i = 0; i < d->nworkers; i++) pthread_join(d->workers[i], NULL);
    /* Workers drain the queue before they exit, so nothing claimed is dropped. */
    free(d->queue);
    free(d->workers);
    for (size_t k = 0; k < d->nhealth; k++) free(d->health[k].name);
    free(d->health);
    trace_secrets_free(d->secrets);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv_work);
    pthread_cond_destroy(&d->cv_free);
    free(d);
}
