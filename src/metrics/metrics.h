/* metrics: counters, gauges and histograms with label sets, rendered in the
 * Prometheus text exposition format 0.0.4, and evkit's own instruments.
 *
 * Recording is lock-free: a family's series live in a fixed-size open-
 * addressed table whose slots are claimed with compare-and-swap and never
 * freed, and values are C11 atomics, so hot paths (ingest, delivery, HTTP)
 * never wait on a scrape or on each other. Every family has a cap on its
 * series: label values from outside (providers, event types, actions) that
 * would pass it fold into one series whose labels are all "other", so
 * cardinality and memory stay bounded whatever clients send.
 *
 * Ownership: a registry owns its families; label values and names are copied. */
#ifndef EVKIT_METRICS_H
#define EVKIT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

typedef struct metrics_registry metrics_registry;
typedef struct metric metric;   /* one family: a name, help text, label names */

#define METRICS_MAX_LABELS 4
#define METRICS_OTHER "other"   /* the label value of the overflow series */

/* Label values for a call: METRIC_LABELS("backoffice", "x.created"). */
#define METRIC_LABELS(...) ((const char *const[]){__VA_ARGS__})

metrics_registry *metrics_registry_new(void);
void metrics_registry_free(metrics_registry *r);

/* Declares a family. labels is a comma-separated list of label names ("" or
 * NULL for none, at most METRICS_MAX_LABELS); max_series caps distinct label
 * sets (the "other" series comes on top). Names must be valid Prometheus
 * names; the help text is escaped when rendered. The family lives as long as
 * the registry. */
metric *metrics_counter(metrics_registry *r, const char *name, const char *help,
                        const char *labels, size_t max_series);
metric *metrics_gauge(metrics_registry *r, const char *name, const char *help, const char *labels,
                      size_t max_series);
/* bounds: strictly increasing upper bounds (le), without +Inf (added). */
metric *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                          const char *labels, const double *bounds, size_t nbounds,
                          size_t max_series);

/* values: one per label name (NULL counts as ""); ignored for a family
 * without labels (pass NULL). Counters only go up (a negative v is ignored). */
void metric_add(metric *m, const char *const *values, double v);
void metric_set(metric *m, const char *const *values, double v);   /* gauges */
void metric_observe(metric *m, const char *const *values, double v); /* histograms */
/* The current value of a counter or gauge series, or a histogram's count;
 * 0 when the series does not exist (tests, scrape-time logic). */
double metric_value(metric *m, const char *const *values);
/* Gauges computed at scrape time: sets every existing series to 0 first so
 * a label set that vanished reads 0 instead of a stale value. */
void metric_zero_all(metric *m);

/* The whole registry in text format 0.0.4, families in declaration order,
 * series sorted by label values. Caller frees; *len (may be NULL) gets the size. */
char *metrics_render(metrics_registry *r, size_t *len);
/* The same, limited to the gauge families (gauges true) or to the counters
 * and histograms (false). */
char *metrics_render_part(metrics_registry *r, bool gauges, size_t *len);

/* ---- evkit's instruments (one process-wide registry) ---- */

/* Declares evkit's families and notes the process start time. Called by
 * `evkit serve`; any instrument call initializes it too. */
void metrics_init(void);
metrics_registry *metrics_evkit(void);

/* A journaled event (not a duplicate). */
void metrics_event_published(const char *provider, const char *type);
/* A journaled event that registration's filter turned away. */
void metrics_event_filtered(const char *registration);
/* One delivery attempt finished: outcome is a store_outcome (DONE success,
 * RETRY error, FAILED/DEAD a dead letter); attempt is 1-based. */
void metrics_delivery_attempt(const char *registration, int outcome, int attempt);
/* One activation of action (pkg/name) ended with status, an act_status:
 * 0 success, 1 application error, 2 developer error, 3 internal error. */
void metrics_activation(const char *action, int status, double seconds);

/* "GET", "POST", ... as a static string; "other" for anything else. */
const char *metrics_http_method(const char *method);
void metrics_http_request(const char *route, const char *method, int status, double seconds);

/* Scrape-time gauges, set by the scrape callbacks of the state's owners. */
void metrics_set_journal(int64_t events, int64_t last_position, int64_t bytes);
/* Zeroes the per-registration gauges, so that a registration deleted since
 * the last scrape reads 0 rather than keeping its last value. */
void metrics_reset_registrations(void);
/* state: a reg_state (store.h). */
void metrics_set_registration(const char *registration, int64_t backlog, int64_t parked,
                              int64_t dead, int state);

/* A callback that sets scrape-time gauges from state its owner holds; it
 * runs under the scrape lock, one scrape at a time. -1 with err fails the
 * scrape. metrics_on_scrape registers one (-1 when the few slots are
 * taken); metrics_off_scrape removes it before ctx goes away. */
typedef int (*metrics_scrape_fn)(void *ctx, err_t *err);
int metrics_on_scrape(metrics_scrape_fn fn, void *ctx);
void metrics_off_scrape(metrics_scrape_fn fn, void *ctx);

/* Runs the scrape callbacks and renders everything. Caller frees *out.
 * Counters and histograms are read before the callbacks set the gauges, so
 * what a counter has counted shows in the gauges too (a counted success is
 * no longer in the backlog); their families come first. */
int metrics_scrape(char **out, size_t *len, err_t *err);

#endif
