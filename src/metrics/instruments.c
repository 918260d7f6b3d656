/* instruments: evkit's metric families in one process-wide registry, the
 * one-line hooks the subsystems call, and the scrape: callbacks registered
 * by the owners of the state set the scrape-time gauges, then everything is
 * rendered. Label values that come from outside are capped per family (see
 * metrics.h); registrations and actions come from the app's manifests. */
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

/* 1 ms .. 60 s: a Lua handler answers in a millisecond, a consumer that
 * calls a slow backend runs up to its time limit (60 s by default). */
static const double DURATION_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,   1,      2.5,   5,    10,    30,    60};
#define NBUCKETS (sizeof DURATION_BUCKETS / sizeof DURATION_BUCKETS[0])

static struct {
    metrics_registry *reg;
    metric *build_info, *start_time;
    metric *published, *filtered, *deliveries, *retries, *dead_total;
    metric *backlog, *parked, *dead, *reg_state;
    metric *activations, *activation_seconds;
    metric *http_requests, *http_seconds;
    metric *journal_events, *journal_position, *store_bytes;
} M;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void declare_all(void)
{
    metrics_registry *r = metrics_registry_new();
    M.reg = r;
    M.build_info = metrics_gauge(r, "evkit_build_info",
                                 "Always 1; the labels tell the running evkit version.", "version", 1);
    M.start_time = metrics_gauge(r, "evkit_process_start_time_seconds",
                                 "Start time of the process since the Unix epoch, in seconds.", "", 1);
    M.published = metrics_counter(r, "evkit_events_published_total",
                                  "Events journaled, by provider and event type (duplicates not "
                                  "counted).", "provider,type", 2000);
    M.filtered = metrics_counter(r, "evkit_events_filtered_total",
                                 "Events a registration subscribes to that its filter turned "
                                 "away (no delivery), by registration.", "registration", 500);
    M.deliveries = metrics_counter(r, "evkit_deliveries_total",
                                   "Delivery attempts by registration and outcome: success, error "
                                   "(retried later) or dead (kept as a dead letter).",
                                   "registration,outcome", 1000);
    M.retries = metrics_counter(r, "evkit_delivery_retries_total",
                                "Delivery attempts after the first, by registration.",
                                "registration", 500);
    M.dead_total = metrics_counter(r, "evkit_deadletters_total",
                                   "Deliveries that became dead letters, by registration and "
                                   "reason (expired: retries exhausted; rejected: a final status).",
                                   "registration,reason", 1000);
    M.dead = metrics_gauge(r, "evkit_deadletters",
                           "Dead letters kept now, by registration (read at scrape time).",
                           "registration", 500);
    M.backlog = metrics_gauge(r, "evkit_delivery_backlog",
                              "Deliveries pending, running or parked, by registration (read at "
                              "scrape time).", "registration", 500);
    M.parked = metrics_gauge(r, "evkit_delivery_parked",
                             "Deliveries parked while their registration is DISABLED (read at "
                             "scrape time).", "registration", 500);
    M.reg_state = metrics_gauge(r, "evkit_registration_state",
                                "1 for the state each registration is in (ACTIVE, UNSTABLE, "
                                "DISABLED), 0 for the others.", "registration,state", 1500);
    M.activations = metrics_counter(r, "evkit_activations_total",
                                    "Activations by action and status (success, application_error, "
                                    "developer_error, internal_error).", "action,status", 4000);
    M.activation_seconds = metrics_histogram(r, "evkit_activation_duration_seconds",
                                             "Activation duration by action, in seconds.", "action",
                                             DURATION_BUCKETS, NBUCKETS, 1000);
    M.http_requests = metrics_counter(r, "evkit_http_requests_total",
                                      "HTTP requests by route, method and status code.",
                                      "route,method,code", 2000);
    M.http_seconds = metrics_histogram(r, "evkit_http_request_duration_seconds",
                                       "HTTP request duration by route, in seconds.", "route",
                                       DURATION_BUCKETS, NBUCKETS, 50);
    M.journal_events = metrics_gauge(r, "evkit_journal_events",
                                     "Events held in the journal (read at scrape time).", "", 1);
    M.journal_position = metrics_gauge(r, "evkit_journal_last_position",
                                       "The last journal position given to an event.", "", 1);
    M.store_bytes = metrics_gauge(r, "evkit_store_size_bytes",
                                  "Bytes the journal's store occupies (events, deliveries, "
                                  "activations, state).", "", 1);
    metric_set(M.build_info, METRIC_LABELS(EVKIT_VERSION), 1);
    metric_set(M.start_time, NULL, (double)now_ms() / 1000.0);
}

void metrics_init(void) { pthread_once(&once, declare_all); }

metrics_registry *metrics_evkit(void)
{
    metrics_init();
    return M.reg;
}

void metrics_event_published(const char *provider, const char *type)
{
    metrics_init();
    metric_add(M.published, METRIC_LABELS(provider, type), 1);
}

void metrics_event_filtered(const char *registration)
{
    metrics_init();
    metric_add(M.filtered, METRIC_LABELS(registration), 1);
}

void metrics_delivery_attempt(const char *registration, int outcome, int attempt)
{
    metrics_init();
    const char *o = "error";
    switch ((store_outcome)outcome) {
    case DELIVERY_DONE: o = "success"; break;
    case DELIVERY_RETRY: o = "error"; break;
    case DELIVERY_FAILED:
    case DELIVERY_DEAD:
    case DELIVERY_UNDELIVERABLE:
        o = "dead";
        metric_add(M.dead_total,
                   METRIC_LABELS(registration, outcome == DELIVERY_DEAD ? "expired" : "rejected"), 1);
        break;
    }
    metric_add(M.deliveries, METRIC_LABELS(registration, o), 1);
    if (attempt > 1) metric_add(M.retries, METRIC_LABELS(registration), 1);
}

void metrics_activation(const char *action, int status, double seconds)
{
    metrics_init();
    /* In act_status order (runtime.h). */
    static const char *names[] = {"success", "application_error", "developer_error",
                                  "internal_error"};
    const int n = (int)(sizeof names / sizeof names[0]);
    const char *st = status >= 0 && status < n ? names[status] : "internal_error";
    metric_add(M.activations, METRIC_LABELS(action, st), 1);
    metric_observe(M.activation_seconds, METRIC_LABELS(action), seconds);
}

const char *metrics_http_method(const char *m)
{
    static const char *known[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
    for (size_t i = 0; m && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(m, known[i]) == 0) return known[i];
    return "other";
}

void metrics_http_request(const char *route, const char *method, int status, double seconds)
{
    metrics_init();
    char code[8];
    /* Anything outside 100..599 is one label value, not thousands. */
    if (status >= 100 && status <= 599) snprintf(code, sizeof code, "%d", status);
    else snprintf(code, sizeof code, "other");
    metric_add(M.http_requests, METRIC_LABELS(route, metrics_http_method(method), code), 1);
    metric_observe(M.http_seconds, METRIC_LABELS(route), seconds);
}

void metrics_set_journal(int64_t events, int64_t last_position, int64_t bytes)
{
    metrics_init();
    metric_set(M.journal_events, NULL, (double)events);
    metric_set(M.journal_position, NULL, (double)last_position);
    metric_set(M.store_bytes, NULL, (double)bytes);
}

void metrics_reset_registrations(void)
{
    metrics_init();
    metric_zero_all(M.backlog);
    metric_zero_all(M.parked);
    metric_zero_all(M.dead);
    metric_zero_all(M.reg_state);
}

void metrics_set_registration(const char *name, int64_t backlog, int64_t parked, int64_t dead,
                              int state)
{
    metrics_init();
    metric_set(M.backlog, METRIC_LABELS(name), (double)backlog);
    metric_set(M.parked, METRIC_LABELS(name), (double)parked);
    metric_set(M.dead, METRIC_LABELS(name), (double)dead);
    for (int st = REG_ACTIVE; st <= REG_DISABLED; st++)
        metric_set(M.reg_state, METRIC_LABELS(name, reg_state_name((reg_state)st)),
                   state == st ? 1 : 0);
}

/* One scrape at a time: the gauges are zeroed and refilled, and a second
 * scraper must not render them in between. The callbacks are few (one per
 * owner of scrape-time state) and registered at start. */
#define MAX_SCRAPE_FNS 8
static pthread_mutex_t scrape_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    metrics_scrape_fn fn;
    void *ctx;
} scrape_fns[MAX_SCRAPE_FNS];
static size_t nscrape_fns;

int metrics_on_scrape(metrics_scrape_fn fn, void *ctx)
{
    pthread_mutex_lock(&scrape_mu);
    int rc = -1;
    if (nscrape_fns < MAX_SCRAPE_FNS) {
        scrape_fns[nscrape_fns].fn = fn;
        scrape_fns[nscrape_fns].ctx = ctx;
        nscrape_fns++;
        rc = 0;
    }
    pthread_mutex_unlock(&scrape_mu);
    return rc;
}

void metrics_off_scrape(metrics_scrape_fn fn, void *ctx)
{
    pthread_mutex_lock(&scrape_mu);
    for (size_t i = 0; i < nscrape_fns; i++) {
        if (scrape_fns[i].fn != fn || scrape_fns[i].ctx != ctx) continue;
        memmove(&scrape_fns[i], &scrape_fns[i + 1], (nscrape_fns - i - 1) * sizeof scrape_fns[0]);
        nscrape_fns--;
        break;
    }
    pthread_mutex_unlock(&scrape_mu);
}

int metrics_scrape(char **out, size_t *len, err_t *err)
{
    metrics_init();
    *out = NULL;
    pthread_mutex_lock(&scrape_mu);
    size_t nt = 0, ng = 0;
    char *tallies = metrics_render_part(M.reg, false, &nt);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nscrape_fns; i++) rc = scrape_fns[i].fn(scrape_fns[i].ctx, err);
    if (rc == 0) {
        char *gauges = metrics_render_part(M.reg, true, &ng);
        *out = xmalloc(nt + ng + 1);
        memcpy(*out, tallies, nt);
        memcpy(*out + nt, gauges, ng + 1);
        if (len) *len = nt + ng;
        free(gauges);
    }
    free(tallies);
    pthread_mutex_unlock(&scrape_mu);
    return rc;
}
