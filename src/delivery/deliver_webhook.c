/* deliver_webhook: carries deliveries to a registration's webhook_url as
 * the hosted event service does: structured CloudEvents JSON, or a JSON
 * array of at most 20 events and 2 MB in batch mode, signed by Standard
 * Webhooks with every current secret, with x-adobe-event-id and, on
 * retries, x-adobe-retry-count. Outcomes follow the action rules. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "delivery/delivery_int.h"
#include "delivery/sigkeys.h"
#include "metrics/metrics.h"
#include "trace/trace.h"
#include "core/json_io.h"

/* The envelope the hosted service delivers: the CloudEvent plus eventid
 * and recipientclientid. */
static char *envelope(const registration_t *reg, const json_t *event)
{
    json_t *ev = json_deep_copy(event);
    if (!json_is_object(ev)) {
        json_decref(ev);
        ev = json_object();
    }
    json_t *id = json_object_get(ev, "id");
    if (id && !json_object_get(ev, "eventid")) json_object_set(ev, "eventid", id);
    json_object_set_new(ev, "recipientclientid", json_string(reg->name));
    /* What @adobe/aio-lib-events checks before a digital signature, which
     * it verifies on one event: not in a batch, whose CloudEvents readers
     * refuse the name (no underscore in an attribute). */
    if (!reg->batch) json_object_set_new(ev, "recipient_client_id", json_string(reg->name));
    char *s = json_text(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(ev);
    return s ? s : xstrdup("{}");
}

/* The RSA signatures Adobe I/O Events adds beside the HMAC one: each
 * current key signs the body; the headers say where its public key is. */
static void digital_signature(engine_t *e, json_t *h, const char *body, size_t len)
{
    if (!e->sigkeys) return;
    sigkeys_signature sig;
    err_t err;
    if (sigkeys_sign(e->sigkeys, body ? body : "", len, &sig, &err) < 0) {
        log_error("cannot sign a webhook delivery; sent with the HMAC signature only",
                  json_pack("{s:s}", "error", err.msg));
        return;
    }
    json_object_set_new(h, "x-adobe-digital-signature-1", json_string(sig.sig[0]));
    json_object_set_new(h, "x-adobe-digital-signature-2", json_string(sig.sig[1]));
    json_object_set_new(h, "x-adobe-public-key1-path", json_string(sig.path[0]));
    json_object_set_new(h, "x-adobe-public-key2-path", json_string(sig.path[1]));
    sigkeys_signature_free(&sig);
}

/* Records one delivery's outcome, its trace first (base holds the
 * request and response the batch shared). */
static void finish(delivery_t *d, const registration_t *reg, store_delivery *dl, int64_t started,
                   int64_t ended, delivery_verdict v, int status, const char *error,
                   int64_t retry_after_ms, const trace_attempt *base)
{
    engine_t *e = delivery_engine(d);
    store_attempt at = {
        .delivery_id = dl->id,
        .started_ms = started,
        .ended_ms = ended,
        .status_code = status,
        .error = v == VERDICT_SUCCESS ? NULL : error,
    };
    int64_t first = dl->first_attempt_ms ? dl->first_attempt_ms : started;
    at.outcome = delivery_outcome_hint(reg, v, status, dl->attempt, first, ended, delivery_rnd01(),
                                       retry_after_ms, &at.next_due_ms);
    trace_attempt tr = *base;
    tr.registration = reg->name;
    tr.event_id = json_string_value(json_object_get(dl->event, "id"));
    tr.event_type = json_string_value(json_object_get(dl->event, "type"));
    tr.delivery_id = dl->id;
    tr.attempt = dl->attempt;
    tr.start_ms = started;
    tr.end_ms = ended;
    tr.status_code = status;
    tr.success = v == VERDICT_SUCCESS;
    tr.retried = at.outcome == DELIVERY_RETRY;
    tr.error = at.error;
    trace_record(e->store, delivery_trace_secrets(d), &tr);
    delivery_record(d, reg, dl, &at, v, "webhook delivery");
}

/* One request carrying dls[0..n) (n == 1 outside batch mode). */
static void send_batch(delivery_t *d, const registration_t *reg, store_delivery *dls, char **bodies,
                       size_t n)
{
    buf_t body;
    buf_init(&body, 0);
    if (reg->batch) buf_append(&body, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(&body, ",", 1);
        buf_append(&body, bodies[i], strlen(bodies[i]));
    }
    if (reg->batch) buf_append(&body, "]", 1);

    const char *first_id = json_string_value(json_object_get(dls[0].event, "id"));
    char *msg_id = reg->batch ? xasprintf("batch_%s_%zu", first_id ? first_id : "", n)
                              : xstrdup(first_id ? first_id : "");
    buf_t ids;
    buf_init(&ids, 0);
    int retries = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(dls[i].event, "id"));
        buf_printf(&ids, "%s%s", i ? "," : "", id ? id : "");
        if (dls[i].attempt - 1 > retries) retries = dls[i].attempt - 1;
    }
    int64_t started = now_ms();
    int64_t ts = started / 1000;
    /* One request, one span: in the trace of its first event. */
    tracectx span;
    char parent[17], tp[TRACEPARENT_LEN + 1];
    delivery_span(dls[0].event, &span, parent);
    tracectx_format(&span, tp);
    err_t err;
    char *sig = webhook_signature(reg->secrets, reg->nsecrets, msg_id, ts, body.data, body.len, &err);
    delivery_verdict v;
    int status;
    char error[600] = "";
    json_t *h = json_object();
    webhook_response r;
    memset(&r, 0, sizeof r);
    if (!sig) {
        /* Cannot sign: nothing is sent; the registration needs fixing. */
        v = VERDICT_RETRY;
        status = DELIVERY_STATUS_UNEXPECTED;
        snprintf(error, sizeof error, "%s", err.msg);
    } else {
        json_object_set_new(h, "content-type",
                            json_string(reg->batch ? "application/cloudevents-batch+json"
                                                   : "application/cloudevents+json"));
        json_object_set_new(h, "webhook-id", json_string(msg_id));
        json_object_set_new(h, "webhook-timestamp", json_sprintf("%lld", (long long)ts));
        json_object_set_new(h, "webhook-signature", json_string(sig));
        json_object_set_new(h, "x-adobe-event-id", json_string(ids.data ? ids.data : ""));
        if (!reg->batch) {
            const char *type = json_string_value(json_object_get(dls[0].event, "type"));
            if (type) json_object_set_new(h, "x-adobe-event-code", json_string(type));
        }
        if (retries > 0) json_object_set_new(h, "x-adobe-retry-count", json_sprintf("%d", retries));
        json_object_set_new(h, "traceparent", json_string(tp));
        digital_signature(delivery_engine(d), h, body.data, body.len);
        webhook_post(reg->webhook_url, h, body.data, body.len, WEBHOOK_TIMEOUT_MS,
                     delivery_engine(d)->config->webhook_allow, &r);
        status = r.status;
        v = delivery_classify_status(status);
        if (r.error[0]) {
            snprintf(error, sizeof error, "%s", r.error);
        } else if (v != VERDICT_SUCCESS) {
            /* The start of the answer says why, as the receiver put it. */
            size_t show = r.body_len < 200 ? r.body_len : 200;
            snprintf(error, sizeof error, "HTTP %d%s%.*s", status, show ? ": " : "", (int)show,
                     r.body);
        }
        OPENSSL_cleanse(sig, strlen(sig));
        free(sig);
    }
    int64_t ended = now_ms();
    trace_attempt base = {
        .req_headers = h,
        .req_body = body.data ? body.data : "",
        .req_body_len = body.len,
        .resp_headers = r.headers,
        .resp_body = r.body,
        .resp_body_len = r.body_len,
    };
    int64_t retry_after = delivery_retry_after(
        json_string_value(json_object_get(r.headers, "retry-after")), ended);
    for (size_t i = 0; i < n; i++) {
        base.span = i == 0 ? &span : NULL;
        base.parent_span = parent;
        finish(d, reg, &dls[i], started, ended, v, status, error, retry_after, &base);
    }
    delivery_update_health(d, reg, v == VERDICT_SUCCESS);
    webhook_response_free(&r);
    json_decref(h);
    buf_free(&ids);
    buf_free(&body);
    free(msg_id);
}

void webhook_deliver(delivery_t *d, const registration_t *reg, store_delivery *dl)
{
    engine_t *e = delivery_engine(d);
    store_delivery *more = NULL;
    size_t nmore = 0;
    if (reg->batch) {
        err_t err;
        if (store_claim_more(e->store, reg->name, WEBHOOK_BATCH_MAX_EVENTS - 1, delivery_lease_ms(d),
                             &more, &nmore, &err) < 0)
            log_error("cannot claim a batch", json_pack("{s:s}", "error", err.msg));
    }
    size_t n = 1 + nmore;
    store_delivery *all = xcalloc(n, sizeof *all);
    all[0] = *dl;
    if (nmore) memcpy(all + 1, more, nmore * sizeof *more);
    char **bodies = xcalloc(n, sizeof *bodies);
    size_t *sizes = xcalloc(n, sizeof *sizes);
    for (size_t i = 0; i < n; i++) {
        bodies[i] = envelope(reg, all[i].event);
        sizes[i] = strlen(bodies[i]);
    }
    for (size_t at = 0; at < n;) {
        size_t k = reg->batch ? webhook_batch_take(sizes + at, n - at, WEBHOOK_BATCH_MAX_EVENTS,
                                                   WEBHOOK_BATCH_MAX_BYTES)
                              : 1;
        send_batch(d, reg, all + at, bodies + at, k);
        at += k;
    }
    for (size_t i = 0; i < n; i++) free(bodies[i]);
    /* dl stays the caller's; the extra claims are ours. */
    for (size_t i = 0; i < nmore; i++) store_delivery_free(&more[i]);
    free(more);
    free(all);
    free(bodies);
    free(sizes);
}
