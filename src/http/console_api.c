/* console_api: the JSON APIs behind debug tracing and the web console:
 * traces, browsing events with the deliveries and attempts they caused,
 * and dead letters with replay. The route table (routes.c) admits the same
 * callers as for the other /api/v1 APIs. */
#include "http/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "trace/trace.h"

#define TRACE_LIMIT_DEFAULT 50
#define TRACE_LIMIT_MAX 500
#define EVENT_LIMIT_DEFAULT 50
#define EVENT_LIMIT_MAX 500
#define DEAD_LIMIT_DEFAULT 100
#define DEAD_LIMIT_MAX 1000

static const char *qv(const api_request *req, const char *name)
{
    return json_string_value(json_object_get(req->query, name));
}

/* An integer query parameter in [lo, hi]; absent keeps *out. false (and a
 * 400 naming it) when malformed. */
static bool q_int(const api_request *req, const char *name, int64_t lo, int64_t hi, int64_t *out,
                  web_response *resp)
{
    const char *v = qv(req, name);
    if (!v) return true;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        web_error(resp, 400, "Invalid %s '%s': an integer from %lld to %lld is required.", name, v,
                  (long long)lo, (long long)hi);
        return false;
    }
    *out = n;
    return true;
}

/* true|false; absent leaves *out (-1 for any). */
static bool q_bool(const api_request *req, const char *name, int *out, web_response *resp)
{
    const char *v = qv(req, name);
    if (!v) return true;
    if (!strcmp(v, "true")) *out = 1;
    else if (!strcmp(v, "false")) *out = 0;
    else {
        web_error(resp, 400, "Invalid %s '%s': true or false is required.", name, v);
        return false;
    }
    return true;
}

/* A non-empty string parameter; absent gives NULL. */
static bool q_str(const api_request *req, const char *name, const char **out, web_response *resp)
{
    const char *v = qv(req, name);
    if (v && !*v) {
        web_error(resp, 400, "Invalid %s: it is empty.", name);
        return false;
    }
    *out = v;
    return true;
}

/* ---- traces ---- */

void api_traces(http_ctx *h, const api_request *req, web_response *out)
{
    engine_t *e = h->e;
    store_trace_filter f = {.outcome = -1, .retried = -1};
    int64_t limit = TRACE_LIMIT_DEFAULT, status = 0, before = 0;
    const char *outcome = qv(req, "outcome");
    if (outcome && strcmp(outcome, "success") && strcmp(outcome, "error")) {
        web_error(out, 400, "Invalid outcome '%s': success or error is required.", outcome);
        return;
    }
    if (outcome) f.outcome = !strcmp(outcome, "success");
    if (!q_str(req, "registration", &f.registration, out) ||
        !q_int(req, "status", 100, 999, &status, out) || !q_bool(req, "retried", &f.retried, out) ||
        !q_int(req, "limit", 1, TRACE_LIMIT_MAX, &limit, out) ||
        !q_int(req, "before", 1, INT64_MAX, &before, out))
        return;
    f.status = (int)status;
    f.limit = (int)limit;
    f.before = before;
    json_t *list = NULL;
    bool more = false;
    err_t err;
    if (store_trace_list(e->store, &f, &list, &more, &err) < 0) {
        web_fail(out, &err);
        return;
    }
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    json_t *next = more && last ? json_incref(json_object_get(last, "id")) : json_null();
    web_json(out, 200, json_pack("{s:o, s:o}", "traces", list, "next", next));
}

/* A positive integer id from a URL segment; 0 when it is not one. */
static int64_t parse_id(const char *s)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    return (!*s || *end || errno || n <= 0) ? 0 : n;
}

void api_trace(http_ctx *h, const api_request *req, web_response *out)
{
    const char *id_s = req->arg[0];
    engine_t *e = h->e;
    int64_t id = parse_id(id_s);
    json_t *t = NULL;
    err_t err;
    int rc = id > 0 ? store_trace_get(e->store, id, &t, &err) : 0;
    web_found(out, rc, &err, t, "Trace", id_s);
}

/* ---- events ---- */

void api_events(http_ctx *h, const api_request *req, web_response *out)
{
    engine_t *e = h->e;
    const char *provider = NULL, *type = NULL;
    int64_t since = 0, before = 0, limit = EVENT_LIMIT_DEFAULT;
    int latest = 0;
    if (!q_str(req, "provider", &provider, out) || !q_str(req, "type", &type, out) ||
        !q_int(req, "since", 0, INT64_MAX, &since, out) ||
        !q_int(req, "before", 1, INT64_MAX, &before, out) ||
        !q_int(req, "limit", 1, EVENT_LIMIT_MAX, &limit, out) || !q_bool(req, "latest", &latest, out))
        return;
    if ((latest == 1) + (before > 0) + (qv(req, "since") != NULL) > 1) {
        web_error(out, 400, "Invalid since, before and latest: use at most one of them.");
        return;
    }
    json_t *list = NULL;
    err_t err;
    if (store_event_page(e->store, provider, type, since, before, latest == 1, (int)limit, &list,
                         &err) < 0) {
        web_fail(out, &err);
        return;
    }
    size_t n = json_array_size(list);
    /* next: where the following page starts (since=); prev: where the
     * preceding one ends (before=). */
    json_t *next = json_null(), *prev = json_null();
    if (n > 0) {
        json_t *first = json_object_get(json_array_get(list, 0), "position");
        json_t *lastp = json_object_get(json_array_get(list, n - 1), "position");
        bool forward = latest != 1 && before == 0;
        if (forward && n == (size_t)limit) next = json_incref(lastp);
        if (!forward || since > 0) prev = json_incref(first);
        if (!forward && before > 0) {
            json_decref(next);
            next = json_incref(lastp);
        }
    }
    web_json(out, 200, json_pack("{s:o, s:o, s:o}", "events", list, "next", next, "prev", prev));
}

void api_event(http_ctx *h, const api_request *req, web_response *out)
{
    const char *id = req->arg[0];
    engine_t *e = h->e;
    json_t *ev = NULL;
    err_t err;
    int rc = trace_event_detail(e->store, id, &ev, &err);
    web_found(out, rc, &err, ev, "Event", id);
}

/* ---- dead letters ---- */

void api_deadletters(http_ctx *h, const api_request *req, web_response *out)
{
    engine_t *e = h->e;
    const char *reg = NULL;
    int64_t limit = DEAD_LIMIT_DEFAULT;
    if (!q_str(req, "registration", &reg, out) ||
        !q_int(req, "limit", 1, DEAD_LIMIT_MAX, &limit, out))
        return;
    json_t *raw = NULL;
    err_t err;
    if (store_deadletter_list(e->store, reg, (int)limit, &raw, &err) < 0) {
        web_fail(out, &err);
        return;
    }
    static const char *const fields[][2] = {
        {"id", "id"}, {"registration", "registration"}, {"event_id", "eventId"},
        {"type", "eventType"}, {"reason", "reason"}, {"attempts", "attempts"},
        {"last_status", "lastStatus"}, {"last_error", "lastError"},
    };
    json_t *list = web_rows_renamed(raw, fields, sizeof fields / sizeof fields[0]);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        char last[32];
        time_iso(json_integer_value(json_object_get(json_array_get(raw, i), "last_attempt")), last,
                 sizeof last);
        json_object_set_new(d, "lastAttempt", json_string(last));
    }
    json_decref(raw);
    web_json(out, 200, json_pack("{s:o}", "deadletters", list));
}

/* One dead letter (id_s) or, id_s NULL, a registration's (?registration=). */
static void replay(engine_t *e, const api_request *req, const char *id_s, web_response *out)
{
    int64_t id = 0;
    const char *reg = NULL;
    if (id_s) {
        id = parse_id(id_s);
        if (id <= 0) {
            web_error(out, 404, "Dead letter '%s' not found.", id_s);
            return;
        }
    } else {
        if (!q_str(req, "registration", &reg, out)) return;
        if (!reg) {
            web_error(out, 400, "Missing registration: name the registration whose dead letters "
                                "to replay.");
            return;
        }
    }
    int count = 0;
    err_t err;
    if (store_deadletter_replay(e->store, id, reg, &count, &err) < 0) {
        web_fail(out, &err);
        return;
    }
    if (id > 0 && count == 0) {
        web_error(out, 404, "Dead letter '%s' not found.", id_s);
        return;
    }
    web_json(out, 200, json_pack("{s:i}", "replayed", count));
}

void api_deadletters_replay(http_ctx *h, const api_request *req, web_response *out)
{
    replay(h->e, req, NULL, out);
}

void api_deadletter_replay(http_ctx *h, const api_request *req, web_response *out)
{
    replay(h->e, req, req->arg[0], out);
}
