/* delivery: a dispatcher thread claims due deliveries from the store (one
 * claim for many, so claims share commits) and hands them to a pool of
 * workers that invoke the registration's consumer (or hand the delivery to
 * deliver_webhook.c) and record the outcome.
 * A claim is a lease: if this process dies, the lease expires and any
 * evkit process delivers again (at least once). */
#include "delivery/delivery.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* What delivery keeps per registration name: its health as last seen,
 * its deliveries in flight and its rate bucket. */
typedef struct reg_entry {
    char *name;
    reg_state state;
    int consecutive_failures;
    int inflight;
    delivery_bucket bucket;
} reg_entry;

/* A claimed delivery waiting for a worker, and when it was claimed: one
 * waiting so long that its lease could run out before it ends goes back. */
typedef struct queued {
    store_delivery dl;
    int64_t claimed_ms, lease_ms;
} queued;

/* A success waiting for the recorder's next batch. */
typedef struct done_rec {
    store_attempt at;              /* activation_id set when the batch is written */
    char activation_id[33];
    char *registration;
    int attempt;
} done_rec;

struct delivery {
    engine_t *engine;
    int nworkers;
    pthread_t dispatcher;
    pthread_t recorder;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;   /* queue not empty or stopping */
    pthread_cond_t cv_free;   /* room for a claim */
    pthread_cond_t cv_done;   /* a success to record, or the recorder stopping */
    queued *queue;            /* claimed, not yet started (a ring) */
    size_t qhead, qlen, qcap;
    int busy;                 /* deliveries queued or running */
    int prefetch;             /* how many may wait beyond the workers (from avg_s) */
    double avg_s;             /* moving average of an attempt's duration */
    bool dispatcher_waiting;  /* in cv_free */
    bool stopping;
    bool dispatcher_done;     /* nothing more will be queued */
    done_rec *done;           /* successes not yet recorded */
    size_t ndone, capdone;
    bool recorder_stop;
    reg_entry *regs;          /* per registration name; registrations come and go */
    size_t nregs, capregs;
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

/* The entry of name, created ACTIVE with nothing in flight. Called with
 * d->mu held. */
static reg_entry *reg_of(delivery_t *d, const char *name)
{
    for (size_t i = 0; i < d->nregs; i++)
        if (!strcmp(d->regs[i].name, name)) return &d->regs[i];
    VEC_GROW(d->regs, d->capregs, d->nregs + 1);
    reg_entry *e = &d->regs[d->nregs++];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    e->state = REG_ACTIVE;
    return e;
}

/* The registrations a claim leaves out now: at their concurrency cap, or
 * without a token (*wake gets when the first comes). Names are borrowed
 * from regs. Called with d->mu held. */
static size_t flow_skip(delivery_t *d, const regset_t *regs, const char **skip, int64_t now,
                        int64_t *wake)
{
    size_t n = 0;
    for (size_t i = 0; i < regs->n; i++) {
        const registration_t *r = regs->regs[i];
        if (!r->max_concurrency && !r->rate_count) continue;
        reg_entry *f = reg_of(d, r->name);
        delivery_bucket peek = f->bucket;
        int64_t wait = 0;
        if (r->max_concurrency && f->inflight >= r->max_concurrency) {
            skip[n++] = r->name;
        } else if (!delivery_bucket_take(&peek, r->rate_count, r->rate_window_ms, now, &wait)) {
            skip[n++] = r->name;
            if (now + wait < *wake) *wake = now + wait;
        }
    }
    return n;
}

/* Whether a claimed delivery of reg (NULL: gone) may go now: it takes a
 * slot and a token; else *due says when to offer it again. Called with
 * d->mu held. */
static bool flow_admit(delivery_t *d, const registration_t *reg, const char *name, int64_t now,
                       int64_t *due)
{
    reg_entry *f = reg_of(d, name);
    if (reg && reg->max_concurrency && f->inflight >= reg->max_concurrency) {
        *due = now;   /* left out of claims until a slot frees */
        return false;
    }
    int64_t wait = 0;
    if (reg && !delivery_bucket_take(&f->bucket, reg->rate_count, reg->rate_window_ms, now, &wait)) {
        *due = now + wait;
        return false;
    }
    f->inflight++;
    return true;
}

void delivery_update_health(delivery_t *d, const registration_t *reg, bool ok)
{
    engine_t *e = d->engine;
    pthread_mutex_lock(&d->mu);
    reg_entry *h = reg_of(d, reg->name);
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
        reg_of(d, reg->name)->state = REG_DISABLED;
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
    reg_of(d, reg->name)->state = next;
    pthread_mutex_unlock(&d->mu);
}

/* ---- recording successes in batches ---- */

/* Queues the success at of dl for the recorder, when reg's health as last
 * seen is ACTIVE (a success then changes no decision the store would be
 * asked about); false when it must be recorded now. The delivery stays
 * running under its lease until the batch commits: a crash before that
 * delivers it again, as a crash before any finish does. */
static bool record_later(delivery_t *d, const registration_t *reg, const store_delivery *dl,
                         const store_attempt *at)
{
    pthread_mutex_lock(&d->mu);
    bool later = !d->recorder_stop && reg_of(d, reg->name)->state == REG_ACTIVE;
    if (later) {
        VEC_GROW(d->done, d->capdone, d->ndone + 1);
        done_rec *r = &d->done[d->ndone++];
        r->at = *at;
        r->at.error = NULL;
        r->at.activation_id = NULL;
        snprintf(r->activation_id, sizeof r->activation_id, "%s",
                 at->activation_id ? at->activation_id : "");
        r->registration = xstrdup(reg->name);
        r->attempt = dl->attempt;
        if (d->ndone == 1) pthread_cond_signal(&d->cv_done);
    }
    pthread_mutex_unlock(&d->mu);
    return later;
}

/* Writes one batch of successes (one store write, so one commit for all). */
static void record_batch(delivery_t *d, done_rec *recs, size_t n)
{
    store_attempt *at = xcalloc(n, sizeof *at);
    for (size_t i = 0; i < n; i++) {
        at[i] = recs[i].at;
        at[i].activation_id = recs[i].activation_id[0] ? recs[i].activation_id : NULL;
    }
    err_t err;
    if (store_finish_batch(d->engine->store, at, n, NULL, &err) < 0) {
        /* They stay running under their leases and go again when those end. */
        log_error("cannot record deliveries",
                  json_pack("{s:s, s:I}", "error", err.msg, "deliveries", (json_int_t)n));
    } else {
        for (size_t i = 0; i < n; i++)
            metrics_delivery_attempt(recs[i].registration, (int)DELIVERY_DONE, recs[i].attempt);
    }
    for (size_t i = 0; i < n; i++) free(recs[i].registration);
    free(at);
}

static void *recorder_main(void *arg)
{
    delivery_t *d = arg;
    pthread_setname_np(pthread_self(), "evkit-record");
    done_rec *spare = NULL;   /* the buffer of the last batch, reused */
    size_t spare_cap = 0;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (d->ndone == 0 && !d->recorder_stop) pthread_cond_wait(&d->cv_done, &d->mu);
        if (d->ndone == 0) break;
        /* Everything that came while the last batch was written goes in this one. */
        done_rec *recs = d->done;
        size_t n = d->ndone, cap = d->capdone;
        d->done = spare;
        d->capdone = spare_cap;
        d->ndone = 0;
        pthread_mutex_unlock(&d->mu);
        record_batch(d, recs, n);
        spare = recs;
        spare_cap = cap;
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    free(spare);
    return NULL;
}

void delivery_record(delivery_t *d, const registration_t *reg, const store_delivery *dl,
                     const store_attempt *at, delivery_verdict v, const char *what)
{
    /* A success of a healthy registration is recorded in the next batch. */
    if (v == VERDICT_SUCCESS && at->outcome == DELIVERY_DONE && record_later(d, reg, dl, at)) return;
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

double delivery_rnd01(void)
{
    uint32_t r;
    if (random_bytes(&r, sizeof r) < 0) return 0.5;
    return (double)r / 4294967295.0;
}

/* A consumer's Retry-After: in the headers of its result, or of its error
 * (web-action shape), any case. -1 when none. */
static int64_t result_retry_after(const json_t *result, int64_t now)
{
    const json_t *err = json_object_get(result, "error");
    const json_t *h = json_object_get(json_is_object(err) ? err : result, "headers");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)h, k, v) {
        if (!strcasecmp(k, "retry-after"))
            return json_is_integer(v) ? json_integer_value(v) * 1000
                                      : delivery_retry_after(json_string_value(v), now);
    }
    return -1;
}

void delivery_span(const json_t *event, tracectx *span, char parent[17])
{
    tracectx ev;
    bool traced = tracectx_parse(json_string_value(json_object_get(event, "traceparent")), &ev);
    tracectx_child(traced ? &ev : NULL, span);
    snprintf(parent, 17, "%s", traced ? ev.span_id : "");
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
    tracectx span;
    char parent[17], tp[TRACEPARENT_LEN + 1];
    delivery_span(dl->event, &span, parent);
    tracectx_format(&span, tp);
    tr.span = &span;
    tr.parent_span = parent;
    json_t *params = delivery_params(reg->action, dl->event, dl->attempt);
    json_object_set_new(params, "__evkit",
                        json_pack("{s:i, s:i, s:s, s:I, s:s}", "attempt", dl->attempt, "retryCount",
                                  dl->attempt - 1, "registration", reg->name, "delivery",
                                  (json_int_t)dl->id, "traceparent", tp));
    invoke_result res;
    runtime_invoke_traced(e, reg->action, params, NULL, tp, &res);

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
    at.outcome = delivery_outcome_hint(reg, v, code, dl->attempt, first, at.ended_ms,
                                       delivery_rnd01(), result_retry_after(res.result, at.ended_ms),
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

/* ---- the queue between the dispatcher and the workers ---- */

/* How many claimed deliveries may wait beyond the workers: as many as the
 * workers get through in PREFETCH_S at the recent pace, so a claim (one
 * commit) is made for many deliveries while the workers keep going, and a
 * slow consumer gets no more claimed than it can start soon. */
#define PREFETCH_MAX 64
#define PREFETCH_S 0.05
#define AVG_START_S 0.01

static int prefetch_for(double avg_s, int nworkers)
{
    double n = PREFETCH_S * nworkers / (avg_s > 1e-6 ? avg_s : 1e-6);
    return n >= PREFETCH_MAX ? PREFETCH_MAX : (int)n;
}

/* Room for a claim, and the least worth claiming for (one commit each).
 * Called with d->mu held. */
static int queue_room(const delivery_t *d) { return d->nworkers + d->prefetch - d->busy; }
static int claim_min(const delivery_t *d) { return d->prefetch > 2 ? d->prefetch / 2 : 1; }

/* Called with d->mu held. */
static void queue_push(delivery_t *d, const store_delivery *dl, int64_t claimed_ms,
                       int64_t lease_ms)
{
    RING_GROW(d->queue, d->qcap, d->qhead, d->qlen);
    queued *slot = &d->queue[(d->qhead + d->qlen++) % d->qcap];
    slot->dl = *dl;
    slot->claimed_ms = claimed_ms;
    slot->lease_ms = lease_ms;
}

/* Called with d->mu held, qlen > 0. */
static queued queue_pop(delivery_t *d)
{
    queued q = d->queue[d->qhead];
    d->qhead = (d->qhead + 1) % d->qcap;
    d->qlen--;
    return q;
}

/* Gives deliveries back to the store, due at due_ms (one call for all). */
static void give_back(delivery_t *d, const int64_t *ids, size_t n, int64_t due_ms)
{
    err_t err;
    if (store_unclaim(d->engine->store, ids, n, due_ms, &err) < 0)
        log_error("cannot give a delivery back",
                  json_pack("{s:s, s:I}", "error", err.msg, "deliveries", (json_int_t)n));
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

static void *worker_main(void *arg)
{
    delivery_t *d = arg;
    pthread_setname_np(pthread_self(), "evkit-deliver");
    pthread_mutex_lock(&d->mu);
    for (;;) {
        /* Stop only once the dispatcher is gone: it empties the queue last. */
        while (d->qlen == 0 && !d->dispatcher_done) pthread_cond_wait(&d->cv_work, &d->mu);
        if (d->qlen == 0) break;
        queued q = queue_pop(d);
        pthread_mutex_unlock(&d->mu);

        double t0 = mono_s();
        /* The lease is at least twice the longest time limit and 30 s: one
         * that waited less than half of it still outlives the attempt. */
        if (now_ms() - q.claimed_ms < q.lease_ms / 2) deliver_one(d, &q.dl);
        else give_back(d, &q.dl.id, 1, now_ms());
        double took = mono_s() - t0;

        pthread_mutex_lock(&d->mu);
        reg_entry *f = reg_of(d, q.dl.registration);
        if (f->inflight > 0) f->inflight--;
        d->busy--;
        d->avg_s += (took - d->avg_s) / 16;
        d->prefetch = prefetch_for(d->avg_s, d->nworkers);
        if (d->dispatcher_waiting && queue_room(d) >= claim_min(d))
            pthread_cond_signal(&d->cv_free);
        pthread_mutex_unlock(&d->mu);
        store_delivery_free(&q.dl);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    lua_backend_thread_cleanup();
    return NULL;
}

/* Queues the claimed deliveries flow control lets go now, gives the
 * others back to the store, due when they may go. */
static void dispatch(delivery_t *d, const regset_t *regs, store_delivery *got, size_t n,
                     int64_t lease_ms)
{
    int64_t now = now_ms();
    int64_t *back = xcalloc(n, sizeof *back), *due = xcalloc(n, sizeof *due);
    size_t nback = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        const registration_t *reg = regset_find(regs, got[i].registration, NULL);
        if (flow_admit(d, reg, got[i].registration, now, &due[nback])) {
            queue_push(d, &got[i], now, lease_ms);
            d->busy++;
        } else {
            back[nback++] = got[i].id;
            store_delivery_free(&got[i]);
        }
    }
    pthread_cond_broadcast(&d->cv_work);
    pthread_mutex_unlock(&d->mu);
    /* One call per due time (those left out for their concurrency cap share "now"). */
    for (size_t i = 0; i < nback; i++) {
        if (!back[i]) continue;
        size_t k = 0;
        for (size_t j = i; j < nback; j++) {
            if (!back[j] || due[j] != due[i]) continue;
            int64_t id = back[j];
            back[j] = 0;
            back[i + k++] = id;
        }
        give_back(d, &back[i], k, due[i]);
        for (size_t j = i; j < i + k; j++) back[j] = 0;
    }
    free(back);
    free(due);
}

/* Gives back what was claimed and not started, once claiming stopped. */
static void dispatcher_finish(delivery_t *d)
{
    pthread_mutex_lock(&d->mu);
    size_t n = d->qlen;
    int64_t *ids = xcalloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        queued q = queue_pop(d);
        ids[i] = q.dl.id;
        reg_entry *f = reg_of(d, q.dl.registration);
        if (f->inflight > 0) f->inflight--;
        d->busy--;
        store_delivery_free(&q.dl);
    }
    pthread_mutex_unlock(&d->mu);
    if (n) give_back(d, ids, n, now_ms());
    free(ids);
    pthread_mutex_lock(&d->mu);
    d->dispatcher_done = true;
    pthread_cond_broadcast(&d->cv_work);
    pthread_mutex_unlock(&d->mu);
}

static void *dispatcher_main(void *arg)
{
    delivery_t *d = arg;
    pthread_setname_np(pthread_self(), "evkit-dispatch");
    engine_t *e = d->engine;
    for (;;) {
        int64_t lease = delivery_lease_ms(d);
        pthread_mutex_lock(&d->mu);
        while (queue_room(d) < claim_min(d) && !d->stopping) {
            d->dispatcher_waiting = true;
            pthread_cond_wait(&d->cv_free, &d->mu);
            d->dispatcher_waiting = false;
        }
        int room = queue_room(d);
        bool stop = d->stopping;
        pthread_mutex_unlock(&d->mu);
        if (stop) break;

        regset_t *regs = registry_get(e->registry);
        const char **skip = xcalloc(regs->n + 1, sizeof *skip);
        int64_t wake = INT64_MAX;
        pthread_mutex_lock(&d->mu);
        size_t nskip = flow_skip(d, regs, skip, now_ms(), &wake);
        pthread_mutex_unlock(&d->mu);
        store_delivery *got = NULL;
        size_t n = 0;
        err_t err;
        /* With nothing due, the claim waits until the next retry is due, a
         * registration left out gets a token, new work or a free slot
         * arrives in this process (a finish wakes it), or a second passes
         * (work added by another process). */
        int64_t until = now_ms() + 1000;
        if (wake < until) until = wake;
        if (store_claim_wait(e->store, room, lease, skip, nskip, until, &got, &n, &err) < 0) {
            log_error("cannot claim deliveries", json_pack("{s:s}", "error", err.msg));
            store_wait_work(e->store, now_ms() + 1000);
        } else if (n > 0) {
            dispatch(d, regs, got, n, lease);
        }
        free(got);
        free(skip);
        regset_release(regs);
    }
    dispatcher_finish(d);
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
    pthread_cond_init(&d->cv_done, NULL);
    d->avg_s = AVG_START_S;
    d->prefetch = prefetch_for(d->avg_s, workers);
    d->workers = xcalloc((size_t)workers, sizeof *d->workers);
    regset_t *regs = registry_get(e->registry);
    for (size_t i = 0; i < regs->n; i++) {
        store_reg_info info;
        if (store_reg_info_get(e->store, regs->regs[i]->name, &info, err) < 0) {
            regset_release(regs);
            for (size_t k = 0; k < d->nregs; k++) free(d->regs[k].name);
            free(d->workers);
            free(d->regs);
            trace_secrets_free(d->secrets);
            free(d);
            return -1;
        }
        reg_of(d, regs->regs[i]->name)->state = info.state;
    }
    regset_release(regs);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&d->workers[i], NULL, worker_main, d) != 0) abort();
    }
    if (pthread_create(&d->recorder, NULL, recorder_main, d) != 0) abort();
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
    /* The dispatcher gives back what no worker started; the workers end
     * the attempts under way; the recorder writes their outcomes last. */
    pthread_join(d->dispatcher, NULL);
    for (int i = 0; i < d->nworkers; i++) pthread_join(d->workers[i], NULL);
    pthread_mutex_lock(&d->mu);
    d->recorder_stop = true;
    pthread_cond_signal(&d->cv_done);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->recorder, NULL);
    free(d->done);
    free(d->queue);
    free(d->workers);
    for (size_t k = 0; k < d->nregs; k++) free(d->regs[k].name);
    free(d->regs);
    trace_secrets_free(d->secrets);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv_work);
    pthread_cond_destroy(&d->cv_free);
    pthread_cond_destroy(&d->cv_done);
    free(d);
}
