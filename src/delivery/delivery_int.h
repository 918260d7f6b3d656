/* delivery_int: what the delivery files share: the health bookkeeping,
 * outcome rules and outcome recording of delivery.c, used by the webhook
 * transport too. */
#ifndef EVKIT_DELIVERY_INT_H
#define EVKIT_DELIVERY_INT_H

#include "core/tracectx.h"
#include "delivery/delivery.h"
#include "delivery/webhook.h"

engine_t *delivery_engine(delivery_t *d);
/* Values no trace may show (trace/trace.h). */
const struct trace_secrets *delivery_trace_secrets(delivery_t *d);
/* Records one attempt's success or failure in reg's health (state changes
 * are logged and stored). */
void delivery_update_health(delivery_t *d, const registration_t *reg, bool ok);
/* Stores the outcome of the attempt at on dl (its trace recorded before),
 * counts it, and logs it when it failed as "<what> failed; will retry" and
 * the like. */
void delivery_record(delivery_t *d, const registration_t *reg, const store_delivery *dl,
                     const store_attempt *at, delivery_verdict v, const char *what);
/* An attempt's W3C trace context: a span in the trace of the event's
 * traceparent (a new trace when it has none); *parent gets the event's
 * span ("" when none). */
void delivery_span(const json_t *event, tracectx *span, char parent[17]);
/* A uniform random number in 0..1 for retry jitter. */
double delivery_rnd01(void);
/* The lease a claim takes: twice the longest consumer time limit and 30 s. */
int64_t delivery_lease_ms(delivery_t *d);

/* Delivers dl (claimed) to reg's webhook_url; in batch mode it claims more
 * due deliveries of reg and sends them together. Records every outcome. */
void webhook_deliver(delivery_t *d, const registration_t *reg, store_delivery *dl);

#endif
