/* stats_api: the console's charts. GET /api/v1/stats/deliveries answers,
 * per minute over the last hours, a registration's (or every
 * registration's) delivery attempts by outcome, their latency percentiles
 * and the backlog, from the rollup the store keeps (store_rollup_read), so
 * the charts need no Prometheus. */
#include "http/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "registry/registry.h"

#define STATS_HOURS_DEFAULT 3
#define STATS_HOURS_MAX 168

/* The q quantile (0..1) of a minute's latency buckets, interpolated within
 * its bucket; null without attempts. */
static json_t *quantile(const json_t *buckets, double q)
{
    int64_t total = 0;
    for (size_t i = 0; i < json_array_size(buckets); i++)
        total += json_integer_value(json_array_get(buckets, i));
    if (!total) return json_null();
    double rank = q * (double)total, cum = 0;
    for (int b = 0; b < STORE_LATENCY_BUCKETS; b++) {
        double n = (double)json_integer_value(json_array_get(buckets, (size_t)b));
        if (n <= 0 || cum + n < rank) {
            cum += n;
            continue;
        }
        double lo = b ? (double)STORE_LATENCY_BOUNDS[b - 1] : 0;
        double hi = b < STORE_LATENCY_BUCKETS - 1 ? (double)STORE_LATENCY_BOUNDS[b] : lo;
        return json_integer((json_int_t)(lo + (hi - lo) * ((rank - cum) / n) + 0.5));
    }
    return json_integer(STORE_LATENCY_BOUNDS[STORE_LATENCY_BUCKETS - 2]);
}

/* One entry per minute from `from` to `to`, empty minutes included. */
static json_t *dense(const json_t *rows, int64_t from, int64_t to, json_t *totals)
{
    json_t *series = json_array();
    size_t k = 0;
    int64_t sums[3] = {0, 0, 0};
    static const char *const keys[] = {"success", "retry", "dead"};
    for (int64_t m = from; m <= to; m += 60000) {
        const json_t *row = json_array_get(rows, k);
        while (row && json_integer_value(json_object_get(row, "minute")) < m)
            row = json_array_get(rows, ++k);
        bool here = row && json_integer_value(json_object_get(row, "minute")) == m;
        json_t *e = json_pack("{s:I}", "t", (json_int_t)m);
        for (int i = 0; i < 3; i++) {
            int64_t v = here ? json_integer_value(json_object_get(row, keys[i])) : 0;
            sums[i] += v;
            json_object_set_new(e, keys[i], json_integer(v));
        }
        json_object_set_new(e, "backlog",
                            json_integer(here ? json_integer_value(json_object_get(row, "backlog"))
                                              : 0));
        const json_t *lat = here ? json_object_get(row, "latency") : NULL;
        json_object_set_new(e, "p50", lat ? quantile(lat, 0.50) : json_null());
        json_object_set_new(e, "p95", lat ? quantile(lat, 0.95) : json_null());
        json_object_set_new(e, "p99", lat ? quantile(lat, 0.99) : json_null());
        json_array_append_new(series, e);
    }
    for (int i = 0; i < 3; i++) json_object_set_new(totals, keys[i], json_integer(sums[i]));
    return series;
}

/* The backlog now, of reg or of every registration: the current minute shows
 * it live rather than waiting for the daemon's next sample. -1 on failure. */
static int64_t backlog_now(engine_t *e, const char *reg)
{
    regset_t *set = e->registry ? registry_get(e->registry) : NULL;
    int64_t total = 0;
    for (size_t i = 0; set && i < set->n; i++) {
        const char *name = set->regs[i]->name;
        if (reg && strcmp(reg, name)) continue;
        store_reg_info info;
        err_t err;
        if (store_reg_info_get(e->store, name, &info, &err) < 0) {
            total = -1;
            break;
        }
        total += info.backlog;
    }
    regset_release(set);
    return total;
}

void api_stats_deliveries(http_ctx *h, const api_request *req, web_response *out)
{
    engine_t *e = h->e;
    const char *reg = json_string_value(json_object_get(req->query, "registration"));
    const char *hv = json_string_value(json_object_get(req->query, "hours"));
    long hours = STATS_HOURS_DEFAULT;
    if (hv) {
        char *end;
        errno = 0;
        hours = strtol(hv, &end, 10);
        if (!*hv || *end || errno || hours < 1 || hours > STATS_HOURS_MAX) {
            web_error(out, 400, "Invalid hours '%s': an integer from 1 to %d is required.", hv,
                      STATS_HOURS_MAX);
            return;
        }
    }
    if (reg && *reg) {
        regset_t *set = e->registry ? registry_get(e->registry) : NULL;
        bool known = set && regset_find(set, reg, NULL);
        regset_release(set);
        if (!known) {
            web_error(out, 404, "Registration '%s' does not exist.", reg);
            return;
        }
    } else {
        reg = NULL;
    }
    int64_t to = now_ms() / 60000 * 60000, from = to - (int64_t)hours * 3600000 + 60000;
    json_t *rows = NULL;
    err_t err;
    if (store_rollup_read(e->store, reg, from, &rows, &err) < 0) {
        web_fail(out, &err);
        return;
    }
    json_t *bounds = json_array();
    for (int i = 0; i < STORE_LATENCY_BUCKETS - 1; i++)
        json_array_append_new(bounds, json_integer(STORE_LATENCY_BOUNDS[i]));
    json_t *totals = json_object();
    json_t *series = dense(rows, from, to, totals);
    json_decref(rows);
    int64_t live = backlog_now(e, reg);
    json_t *last = json_array_get(series, json_array_size(series) - 1);
    if (live >= 0 && last) json_object_set_new(last, "backlog", json_integer(live));
    char fs[32], ts[32];
    time_iso(from, fs, sizeof fs);
    time_iso(to + 60000, ts, sizeof ts);
    web_json(out, 200,
             json_pack("{s:s?, s:s, s:s, s:i, s:o, s:o, s:o}", "registration", reg, "from", fs,
                       "to", ts, "hours", (int)hours, "latencyBounds", bounds, "totals", totals,
                       "series", series));
}
