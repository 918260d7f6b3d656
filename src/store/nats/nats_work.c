/* nats_work: deliveries on JetStream: publishing them into the work queue,
 * claiming them through each registration's durable pull consumer (one
 * node at a time holds a message; an order key runs only at the head of its
 * subject), settling them (ack, NAK with the schedule's delay, dead letter),
 * and the dead letters themselves. docs/jetstream.md says why. */
#include "store/nats/nats_int.h"

#include "core/json_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/vec.h"

#define NS_PER_MS 1000000LL
#define BLOCKED_RETRY_MS 100     /* a delivery behind its order key looks again */
#define CHECK_RETRY_MS 500       /* a check that got no answer (an election) is made again */
#define SUBS_REFRESH_MS 2000     /* other nodes' registrations are found this often */
#define STATE_CACHE_MS 1000      /* a registration's DISABLED is seen this late at most */
#define DEFAULT_ACK_WAIT_MS 60000 /* until a claim says the lease it needs */
#define PULL_EXPIRES_MS 50

static js_sub *sub_of(js_t *j, const char *registration, int64_t lease_ms, err_t *err);

/* ---- publishing ---- */

int64_t js_delivery_id(natsMsg *m)
{
    const char *h = NULL;
    if (natsMsgHeader_Get(m, "Evkit-Delivery-Id", &h) == NATS_OK && h) return strtoll(h, NULL, 10);
    return (int64_t)natsMsg_GetSequence(m);
}

int js_publish_delivery(js_t *j, const char *registration, const char *order_key,
                        const json_t *event, int64_t position, const char *msg_id,
                        int64_t delivery_id, err_t *err)
{
    /* The consumer exists before its first delivery is acknowledged, so
     * every node finds the registration (its claims subscribe then). */
    if (!sub_of(j, registration, DEFAULT_ACK_WAIT_MS, err)) return -1;
    char *subject = js_delivery_subject(registration, order_key);
    char *body = json_text(event, JSON_COMPACT);
    char pos[24];
    snprintf(pos, sizeof pos, "%lld", (long long)position);
    char did[24];
    snprintf(did, sizeof did, "%lld", (long long)delivery_id);
    const char *headers[] = {"Evkit-Registration", registration, "Evkit-Position", pos,
                             "Evkit-Order-Key", order_key, "Evkit-Delivery-Id",
                             delivery_id > 0 ? did : NULL, NULL};
    int rc = js_publish(j, subject, body, msg_id, headers, "JetStream did not take the delivery",
                        NULL, NULL, err);
    free(subject);
    free(body);
    return rc;
}

/* ---- subscriptions ---- */

static char *consumer_name(const char *registration)
{
    char *name = js_token_in("r_", registration, "");
    return name;
}

/* Creates registration's durable consumer (an existing one is used as it
 * is) and binds a pull subscription to it. */
static int subscribe(js_t *j, const char *registration, int64_t ack_wait_ms, natsSubscription **sub,
                     err_t *err)
{
    char *name = consumer_name(registration);
    char *filter = js_token_in("evkit.dlv.", registration, ".>");
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name;
    cc.Description = registration;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = ack_wait_ms * NS_PER_MS;
    cc.MaxDeliver = -1;
    cc.MaxAckPending = 10000;
    cc.FilterSubject = filter;
    cc.DeliverPolicy = js_DeliverAll;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddConsumer(&ci, j->js, JS_DELIVERIES, &cc, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK) {
        ci = NULL;
        s = js_GetConsumerInfo(&ci, j->js, JS_DELIVERIES, name, NULL, &jerr);
        jsConsumerInfo_Destroy(ci);
    }
    if (s == NATS_OK) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = JS_DELIVERIES;
        so.Consumer = name;
        s = js_PullSubscribe(sub, j->js, filter, name, NULL, &so, &jerr);
    }
    free(filter);
    free(name);
    if (s != NATS_OK) return js_fail(err, s, "cannot pull the registration's deliveries");
    return 0;
}

static js_sub *find_sub(js_t *j, const char *registration)
{
    for (js_sub *x = j->subs; x; x = x->next)
        if (!strcmp(x->registration, registration)) return x;
    return NULL;
}

/* This node's subscription of registration, made on first use. */
static js_sub *sub_of(js_t *j, const char *registration, int64_t lease_ms, err_t *err)
{
    pthread_mutex_lock(&j->mu);
    js_sub *x = find_sub(j, registration);
    pthread_mutex_unlock(&j->mu);
    if (x) return x;
    natsSubscription *sub = NULL;
    if (subscribe(j, registration, lease_ms, &sub, err) < 0) return NULL;
    pthread_mutex_lock(&j->mu);
    x = find_sub(j, registration);
    if (!x) {
        x = xcalloc(1, sizeof *x);
        x->registration = xstrdup(registration);
        x->sub = sub;
        pthread_mutex_init(&x->fetch_mu, NULL);
        x->ack_wait_ms = lease_ms;
        x->next = j->subs;
        j->subs = x;
        sub = NULL;
    }
    pthread_mutex_unlock(&j->mu);
    if (sub) natsSubscription_Destroy(sub);
    return x;
}

/* Registrations whose consumers other nodes created (their description
 * is the registration's name). */
static void refresh_subs(js_t *j, int64_t lease_ms)
{
    static _Thread_local int64_t last;
    int64_t now = now_ms();
    if (now - last < SUBS_REFRESH_MS) return;
    last = now;
    jsConsumerInfoList *list = NULL;
    jsErrCode jerr = 0;
    if (js_Consumers(&list, j->js, JS_DELIVERIES, NULL, &jerr) != NATS_OK) return;
    for (int i = 0; i < list->Count; i++) {
        const char *reg = list->List[i]->Config ? list->List[i]->Config->Description : NULL;
        err_t err;
        if (reg && *reg && !sub_of(j, reg, lease_ms, &err))
            log_warn("cannot pull a registration's deliveries",
                     json_pack("{s:s, s:s}", "registration", reg, "error", err.msg));
    }
    jsConsumerInfoList_Destroy(list);
}

void js_work_state_changed(js_t *j, const char *registration)
{
    pthread_mutex_lock(&j->mu);
    js_sub *x = find_sub(j, registration);
    if (x) x->checked_ms = 0;
    pthread_mutex_unlock(&j->mu);
}

void js_work_free(js_t *j)
{
    for (js_held *c = j->claims; c;) {
        js_held *next = c->next;
        natsMsg_Nak(c->msg, NULL); /* due again at once on another node */
        natsMsg_Destroy(c->msg);
        free(c->registration);
        free(c->order_key);
        free(c);
        c = next;
    }
    j->claims = NULL;
    for (int gone = 0; gone < 2; gone++) {
        for (js_sub *x = gone ? j->gone_subs : j->subs; x;) {
            js_sub *next = x->next;
            natsSubscription_Destroy(x->sub);
            pthread_mutex_destroy(&x->fetch_mu);
            free(x->registration);
            free(x);
            x = next;
        }
    }
    j->subs = j->gone_subs = NULL;
}

/* ---- claiming ---- */

/* Whether m is the oldest unsettled delivery of its subject (the work
 * queue keeps only unsettled ones), which alone may run. */
static int at_head(js_t *j, natsMsg *m, uint64_t seq, bool *head, err_t *err)
{
    natsMsg *first = NULL;
    int found = js_next_msg(j, JS_DELIVERIES, 1, natsMsg_GetSubject(m),
                            "cannot check the order key", &first, err);
    if (found < 0) return -1;
    /* m itself is in the stream: a replica that finds nothing is behind,
     * and knows nothing of what may be ahead of m. Look again later. */
    if (found == 0) {
        *head = false;
        return 0;
    }
    *head = natsMsg_GetSequence(first) >= seq;
    natsMsg_Destroy(first);
    return 0;
}

/* Whether this node runs message seq, handed out for the dc-th time.
 * JetStream 2.9 hands a message out again at once when the new leader of
 * its consumer never learnt of a delivery (its server died just after):
 * that copy carries the same delivery count, while a real redelivery (ack
 * wait, NAK) counts one more. The first node to claim "<seq>.<dc>" runs
 * it. 1: this node, 0: another, -1: unknown (err). */
static int run_token(js_t *j, uint64_t seq, uint64_t dc, err_t *err)
{
    char msg_id[48];
    snprintf(msg_id, sizeof msg_id, "%llu.%llu", (unsigned long long)seq, (unsigned long long)dc);
    return js_first_to(j, "evkit.run.d", msg_id, err);
}

static char *seq_key(int64_t seq)
{
    return xasprintf("%lld", (long long)seq);
}

/* Whether this node may run m now: at the head of its order key and
 * handed to this node alone. What could not be checked (a request that
 * timed out or found no responder during an election) is not assumed:
 * the message comes back after a pause. Another node's copy is left alone
 * (a NAK would hand it out once more while that node runs it). */
static bool may_run(js_t *j, natsMsg *m, uint64_t seq, uint64_t dc, bool ordered, err_t *err)
{
    bool head = true;
    if (ordered && at_head(j, m, seq, &head, err) < 0) {
        natsMsg_NakWithDelay(m, CHECK_RETRY_MS, NULL);
        return false;
    }
    if (!head) {
        natsMsg_NakWithDelay(m, BLOCKED_RETRY_MS, NULL);
        return false;
    }
    int mine = run_token(j, seq, dc, err);
    if (mine < 0) natsMsg_NakWithDelay(m, CHECK_RETRY_MS, NULL);
    return mine > 0;
}

/* The attempts a redelivered message already had (its record in
 * evkit_attempts; none: it ran on a node that died before finishing). */
static int attempts_of(js_t *j, int64_t seq, int *attempt, int64_t *first_ms, err_t *err)
{
    json_t *v = NULL;
    char *k = seq_key(seq);
    int rc = js_kv_get_json(j, j->attempts, k, &v, NULL, err);
    free(k);
    if (rc == 0 && v) {
        *attempt = (int)json_integer_value(json_object_get(v, "attempts")) + 1;
        *first_ms = json_integer_value(json_object_get(v, "first"));
    }
    json_decref(v);
    return rc;
}

/* The delivery of a pulled message, or NULL (nothing to run now: NAKed
 * to come back, or another node's). */
static js_held *claim_of(js_t *j, natsMsg *m, store_delivery *d, err_t *err)
{
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
        /* Not a JetStream delivery as expected: it comes back, never lost. */
        natsMsg_NakWithDelay(m, CHECK_RETRY_MS, NULL);
        return NULL;
    }
    int64_t seq = (int64_t)meta->Sequence.Stream;
    uint64_t dc = meta->NumDelivered;
    jsMsgMetaData_Destroy(meta);
    const char *reg = NULL, *key = NULL, *pos = NULL;
    natsMsgHeader_Get(m, "Evkit-Registration", &reg);
    natsMsgHeader_Get(m, "Evkit-Order-Key", &key);
    natsMsgHeader_Get(m, "Evkit-Position", &pos);
    if (!may_run(j, m, (uint64_t)seq, dc, key != NULL, err)) return NULL;
    int attempt = 1;
    int64_t first_ms = 0;
    /* An attempt count not read is not restarted from 1: back off. */
    if (dc > 1 && attempts_of(j, seq, &attempt, &first_ms, err) < 0) {
        natsMsg_NakWithDelay(m, CHECK_RETRY_MS, NULL);
        return NULL;
    }
    js_held *c = xcalloc(1, sizeof *c);
    c->seq = seq;
    const char *did = NULL;
    c->id = natsMsgHeader_Get(m, "Evkit-Delivery-Id", &did) == NATS_OK && did
                ? strtoll(did, NULL, 10)
                : seq;
    c->registration = xstrdup(reg ? reg : "");
    c->order_key = key ? xstrdup(key) : NULL;
    c->attempt = attempt;
    c->first_attempt_ms = first_ms;
    json_error_t je;
    *d = (store_delivery){
        .id = c->id,
        .registration = xstrdup(c->registration),
        .event = json_load_kept(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &je),
        .position = pos ? strtoll(pos, NULL, 10) : 0,
        .attempt = c->attempt,
        .first_attempt_ms = c->first_attempt_ms,
        .order_key = key ? xstrdup(key) : NULL,
    };
    c->msg = m;
    return c;
}

/* Pulls up to max deliveries of one subscription, without waiting. */
static int pull(js_t *j, js_sub *x, int max, store_delivery **out, size_t *n, size_t *cap,
                err_t *err)
{
    jsFetchRequest fr;
    jsFetchRequest_Init(&fr);
    fr.Batch = max;
    fr.NoWait = true;
    /* No wait; but with acks pending the server holds a request until it
     * expires: keep that short, a claim must not block the dispatcher. */
    fr.Expires = PULL_EXPIRES_MS * NS_PER_MS;
    natsMsgList list = {0};
    /* Threads of one node claim at once (workers claiming more of their
     * registration): one fetch at a time per subscription. */
    pthread_mutex_lock(&x->fetch_mu);
    natsStatus s = natsSubscription_FetchRequest(&list, x->sub, &fr);
    pthread_mutex_unlock(&x->fetch_mu);
    /* Invalid: its registration was deleted meanwhile (js_drop_deliveries). */
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND || (s == NATS_INVALID_SUBSCRIPTION && x->gone))
        return 0;
    if (s != NATS_OK) return js_fail(err, s, "cannot pull deliveries");
    for (int i = 0; i < list.Count; i++) {
        natsMsg *m = list.Msgs[i];
        list.Msgs[i] = NULL;
        VEC_GROW(*out, *cap, *n + 1);
        js_held *c = claim_of(j, m, &(*out)[*n], err);
        if (!c) {
            natsMsg_Destroy(m);
            continue;
        }
        pthread_mutex_lock(&j->mu);
        c->next = j->claims;
        j->claims = c;
        j->stats.ops++;
        pthread_mutex_unlock(&j->mu);
        (*n)++;
    }
    natsMsgList_Destroy(&list);
    return 0;
}

/* A lease longer than the consumer's ack wait (actions with long
 * timeouts) lengthens it, or a slow attempt would be handed to another node
 * while it still runs. */
static int fit_ack_wait(js_t *j, js_sub *x, int64_t lease_ms, err_t *err)
{
    if (lease_ms <= x->ack_wait_ms) return 0;
    char *name = consumer_name(x->registration);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, j->js, JS_DELIVERIES, name, NULL, &jerr);
    if (s == NATS_OK && ci->Config->AckWait < lease_ms * NS_PER_MS) {
        jsConsumerInfo *up = NULL;
        ci->Config->AckWait = lease_ms * NS_PER_MS;
        s = js_UpdateConsumer(&up, j->js, JS_DELIVERIES, ci->Config, NULL, &jerr);
        jsConsumerInfo_Destroy(up);
    }
    jsConsumerInfo_Destroy(ci);
    free(name);
    if (s != NATS_OK) return js_fail(err, s, "cannot lengthen the delivery lease");
    x->ack_wait_ms = lease_ms;
    return 0;
}

static bool sub_disabled(js_t *j, js_sub *x)
{
    int64_t now = now_ms();
    if (now - x->checked_ms >= STATE_CACHE_MS) {
        bool disabled = false;
        err_t err;
        if (js_reg_disabled(j, x->registration, &disabled, &err) == 0) x->disabled = disabled;
        x->checked_ms = now;
    }
    return x->disabled;
}

static bool skipped(const char *registration, const char *const *skip, size_t nskip)
{
    for (size_t i = 0; i < nskip; i++)
        if (skip[i] && !strcmp(skip[i], registration)) return true;
    return false;
}

static int claim(js_t *j, const char *only, const char *const *skip, size_t nskip, int max,
                 int64_t lease_ms, store_delivery **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    if (max <= 0) return 0;
    if (only) {
        if (!sub_of(j, only, lease_ms, err)) return -1;
    } else {
        refresh_subs(j, lease_ms);
    }
    pthread_mutex_lock(&j->mu);
    size_t nsubs = 0;
    for (js_sub *x = j->subs; x; x = x->next) nsubs++;
    js_sub **subs = xcalloc(nsubs ? nsubs : 1, sizeof *subs);
    nsubs = 0;
    for (js_sub *x = j->subs; x; x = x->next)
        if ((!only || !strcmp(x->registration, only)) && !skipped(x->registration, skip, nskip))
            subs[nsubs++] = x;
    pthread_mutex_unlock(&j->mu);
    int rc = 0;
    for (size_t i = 0; i < nsubs && (int)*n < max && rc == 0; i++) {
        if (subs[i]->gone || sub_disabled(j, subs[i])) continue;
        rc = fit_ack_wait(j, subs[i], lease_ms, err);
        if (rc == 0) rc = pull(j, subs[i], max - (int)*n, out, n, &cap, err);
    }
    free(subs);
    if (rc < 0 && *n == 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int js_claim(store_t *s, int max, int64_t lease_ms, store_delivery **out, size_t *n, err_t *err)
{
    return claim(JS(s), NULL, NULL, 0, max, lease_ms > 0 ? lease_ms : 60000, out, n, err);
}

int js_claim_except(store_t *s, int max, int64_t lease_ms, const char *const *skip, size_t nskip,
                    store_delivery **out, size_t *n, err_t *err)
{
    return claim(JS(s), NULL, skip, nskip, max, lease_ms > 0 ? lease_ms : 60000, out, n, err);
}

int js_claim_more(store_t *s, const char *registration, int max, int64_t lease_ms,
                  store_delivery **out, size_t *n, err_t *err)
{
    return claim(JS(s), registration, NULL, 0, max, lease_ms > 0 ? lease_ms : 60000, out, n, err);
}

/* Several nodes share the queue: a claim this node does not hold is
 * another's, and its lease (the ack wait) is JetStream's to expire. */
int js_release_claims(store_t *s, int *released, err_t *err)
{
    *released = 0;
    return 0;
}

/* ---- settling ---- */

static js_held *take_claim(js_t *j, int64_t id)
{
    pthread_mutex_lock(&j->mu);
    js_held **pp = &j->claims;
    while (*pp && (*pp)->id != id) pp = &(*pp)->next;
    js_held *c = *pp;
    if (c) *pp = c->next;
    pthread_mutex_unlock(&j->mu);
    return c;
}

static void claim_free(js_held *c)
{
    natsMsg_Destroy(c->msg);
    free(c->registration);
    free(c->order_key);
    free(c);
}

static int dead_letter(js_t *j, const js_held *c, const store_attempt *a, const char *error,
                       err_t *err)
{
    json_error_t je;
    json_t *ev = json_load_kept(natsMsg_GetData(c->msg), (size_t)natsMsg_GetDataLength(c->msg), 0, &je);
    const char *pos = NULL;
    natsMsgHeader_Get(c->msg, "Evkit-Position", &pos);
    int64_t first = c->first_attempt_ms ? c->first_attempt_ms : a->started_ms;
    json_t *rec = json_pack("{s:I, s:s, s:o*, s:I, s:s?, s:i, s:s, s:i, s:s?, s:I, s:I}",
                            "delivery_id", (json_int_t)c->id, "registration",
                            c->registration, "event", ev, "position",
                            (json_int_t)(pos ? strtoll(pos, NULL, 10) : 0), "order_key",
                            c->order_key, "attempts", c->attempt, "reason",
                            a->outcome == DELIVERY_DEAD ? "expired" : "rejected", "last_status",
                            a->status_code, "last_error", error, "first_attempt",
                            (json_int_t)first, "last_attempt",
                            (json_int_t)(a->ended_ms ? a->ended_ms : now_ms()));
    char *body = json_text(rec, JSON_COMPACT);
    json_decref(rec);
    char *subject = js_token_in("evkit.dead.", c->registration, "");
    /* Sent again through an election; the id keeps it once (a finish
     * retried after its ack failed included). */
    char *msg_id = xasprintf("dead.%lld.%d", (long long)c->seq, c->attempt);
    int rc = js_publish(j, subject, body, msg_id, NULL, "cannot keep the dead letter", NULL, NULL,
                        err);
    free(msg_id);
    free(subject);
    free(body);
    return rc;
}

/* What an event's detail shows of a settled delivery (KV evkit_settled,
 * "<position>.<delivery id>"): the work queue forgets it once acked. */
static void record_settled(js_t *j, const js_held *c, const store_attempt *a, const char *error)
{
    const char *pos = NULL;
    natsMsgHeader_Get(c->msg, "Evkit-Position", &pos);
    if (!pos) return;
    char *k = xasprintf("%s.%lld", pos, (long long)c->id);
    const char *state = a->outcome == DELIVERY_DONE   ? "done"
                        : a->outcome == DELIVERY_DEAD ? "dead"
                                                      : "failed"; /* rejected, undeliverable */
    json_t *v = json_pack("{s:I, s:s, s:s, s:i, s:I, s:i, s:s?}", "id", (json_int_t)c->id,
                          "registration", c->registration, "state", state, "attempt", c->attempt,
                          "due", (json_int_t)(a->ended_ms ? a->ended_ms : now_ms()), "lastStatus",
                          a->status_code, "lastError", error);
    err_t err;
    if (js_kv_put_json(j, j->settled, k, v, 0, false, NULL, &err) < 0)
        log_warn("an event's delivery outcome was not kept", json_pack("{s:s}", "error", err.msg));
    json_decref(v);
    free(k);
}

/* Settles the claim's message as the attempt says; the claim stays held
 * on failure (the caller may finish it again). */
static int settle(js_t *j, js_held *c, const store_attempt *a, const char *error, err_t *err)
{
    char *k = seq_key(c->seq);
    natsStatus s = NATS_OK;
    int rc = 0;
    if (a->outcome == DELIVERY_RETRY) {
        int64_t first = c->first_attempt_ms ? c->first_attempt_ms : a->started_ms;
        json_t *v = json_pack("{s:i, s:I, s:i, s:s?}", "attempts", c->attempt, "first",
                              (json_int_t)first, "last_status", a->status_code, "last_error",
                              error);
        rc = js_kv_put_json(j, j->attempts, k, v, 0, false, NULL, err);
        json_decref(v);
        int64_t delay = a->next_due_ms - now_ms();
        if (rc == 0) s = natsMsg_NakWithDelay(c->msg, delay > 0 ? delay : 0, NULL);
        /* Look again when it is due (a lost race of two updates only
         * delays that look to the next poll). */
        if (rc == 0 && s == NATS_OK && a->next_due_ms < j->due_hint) j->due_hint = a->next_due_ms;
    } else {
        if (a->outcome != DELIVERY_DONE) rc = dead_letter(j, c, a, error, err);
        jsErrCode jerr = 0;
        int64_t deadline = 0;
        /* An ack may be sent twice: a leader elected meanwhile is waited out. */
        if (rc == 0) {
            do s = natsMsg_AckSync(c->msg, NULL, &jerr);
            while (js_retry_idem(j, s, &deadline));
        }
        if (rc == 0 && s == NATS_OK && c->attempt > 1) kvStore_Delete(j->attempts, k);
        if (rc == 0 && s == NATS_OK) record_settled(j, c, a, error);
    }
    free(k);
    if (rc == 0 && s != NATS_OK) rc = js_fail(err, s, "cannot settle the delivery");
    return rc;
}

int js_finish(store_t *s, const store_attempt *a, err_t *err)
{
    js_t *j = JS(s);
    if (!a) return err_code(err, EVK_INVALID, "no attempt to record");
    js_held *c = take_claim(j, a->delivery_id);
    if (!c)
        return err_code(err, EVK_NOT_FOUND,
                        "cannot record delivery attempt: delivery %lld is not held by this node",
                        (long long)a->delivery_id);
    bool ok = a->outcome == DELIVERY_DONE;
    char fallback[48];
    const char *error = ok ? NULL : a->error;
    if (!ok && (!error || !*error)) {
        snprintf(fallback, sizeof fallback, "status %d", a->status_code);
        error = fallback;
    }
    int64_t t = a->ended_ms > 0 ? a->ended_ms : now_ms();
    /* Counted before it is settled: a node that dies in between has the
     * attempt counted and run again, never run and not counted. */
    err_t herr;
    int rc = js_health_record(j, c->registration, a, error, t, &herr);
    if (settle(j, c, a, error, err) < 0) {
        pthread_mutex_lock(&j->mu);
        c->next = j->claims;
        j->claims = c;
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    if (rc < 0 && err) *err = herr;
    claim_free(c);
    c = NULL;
    pthread_mutex_lock(&j->mu);
    j->stats.ops++;
    j->stats.commits++;
    pthread_mutex_unlock(&j->mu);
    /* The next delivery of its order key may run now. */
    if (a->outcome != DELIVERY_RETRY) js_kick_all(j);
    return rc;
}

/* Gives claims back untried: NAKed to come back at due_ms. The attempt
 * number is unchanged (only finished attempts count, in evkit_attempts). */
int js_unclaim(store_t *s, const int64_t *ids, size_t n, int64_t due_ms, err_t *err)
{
    js_t *j = JS(s);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        js_held *c = take_claim(j, ids[i]);
        if (!c) continue;
        int64_t delay = due_ms - now_ms();
        natsStatus st = natsMsg_NakWithDelay(c->msg, delay > 0 ? delay : 0, NULL);
        if (st != NATS_OK && rc == 0) rc = js_fail(err, st, "cannot give a delivery back");
        if (st == NATS_OK && due_ms < j->due_hint) j->due_hint = due_ms;
        claim_free(c);
    }
    return rc;
}

/* ---- a deleted registration ---- */

int js_drop_deliveries(js_t *j, const char *registration, int *dropped, err_t *err)
{
    if (dropped) *dropped = 0;
    js_sub *x = sub_of(j, registration, 60000, err);
    if (!x) return -1;
    /* Claims skip it from now on; another thread's claim may still hold x,
     * so it stays allocated until close. */
    pthread_mutex_lock(&j->mu);
    js_sub **pp = &j->subs;
    while (*pp && *pp != x) pp = &(*pp)->next;
    if (*pp) {
        *pp = x->next;
        x->gone = true;
        x->next = j->gone_subs;
        j->gone_subs = x;
    }
    pthread_mutex_unlock(&j->mu);
    for (;;) {
        store_delivery *got = NULL;
        size_t n = 0, cap = 0;
        if (pull(j, x, 256, &got, &n, &cap, err) < 0) return -1;
        for (size_t i = 0; i < n; i++) {
            store_attempt a = {.delivery_id = got[i].id, .outcome = DELIVERY_FAILED,
                               .started_ms = now_ms(), .ended_ms = now_ms(),
                               .status_code = STORE_STATUS_REGISTRATION_GONE,
                               .error = "the registration was deleted"};
            js_held *c = take_claim(j, got[i].id);
            int rc = c ? settle(j, c, &a, a.error, err) : 0;
            if (c) claim_free(c);
            store_delivery_free(&got[i]);
            if (rc == 0 && dropped) (*dropped)++;
        }
        free(got);
        if (n == 0) break;
    }
    natsSubscription_Unsubscribe(x->sub);
    char *name = consumer_name(registration);
    jsErrCode jerr = 0;
    js_DeleteConsumer(j->js, JS_DELIVERIES, name, NULL, &jerr);
    free(name);
    return 0;
}
