/* events_api: the hosted event service's publishing API (CloudEvents in)
 * and journaling API (pull by position), on the same journal the webhook
 * and the delivery workers use. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/cloudevent.h"
#include "core/util.h"
#include "http/api.h"
#include "http/ratelimit.h"
#include "registry/registry.h"
#include "core/json_io.h"

/* A journal page holds at most this much event JSON (the hosted service's cap). */
#define JOURNAL_PAGE_BYTES (1536u * 1024)

#define BATCH_MAX 100

static const char *hdr(const json_t *headers, const char *name)
{
    return json_string_value(json_object_get(headers, name));
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ce-* header values are percent-encoded (CloudEvents HTTP binding 3.1.3.2).
 * NULL when one decodes to a NUL byte. */
static char *pct_decode(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            char ch = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            if (!ch) { /* a NUL would cut the value short: a distinct id would look a duplicate */
                free(out);
                return NULL;
            }
            out[o++] = ch;
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static bool is_json_type(const char *ctype)
{
    return !ctype || strncasecmp(ctype, "application/json", 16) == 0 || strcasestr(ctype, "+json");
}

/* A structured CloudEvent from binary mode: attributes from ce-* headers. */
static json_t *from_binary(const api_request *req, char *why, size_t len)
{
    json_t *ev = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(req->headers, k, v) {
        if (strncmp(k, "ce-", 3) != 0 || !json_is_string(v) || !k[3]) continue;
        char *val = pct_decode(json_string_value(v));
        if (!val) {
            snprintf(why, len, "header %s holds a NUL byte (%%00)", k);
            json_decref(ev);
            return NULL;
        }
        json_t *jv = json_string(val);
        free(val);
        if (!jv) {
            snprintf(why, len, "header %s is not valid UTF-8", k);
            json_decref(ev);
            return NULL;
        }
        json_object_set_new(ev, k + 3, jv);
    }
    const char *ctype = hdr(req->headers, "content-type");
    if (ctype) json_object_set_new(ev, "datacontenttype", json_string(ctype));
    if (req->body_len) {
        if (is_json_type(ctype)) {
            err_t err;
            json_t *data = json_parse(req->body, req->body_len, JSON_DECODE_ANY,
                                      EVK_JSON_MAX_DEPTH, "the body", &err);
            if (!data) {
                snprintf(why, len, "%s", err.msg);
                json_decref(ev);
                return NULL;
            }
            json_object_set_new(ev, "data", data);
        } else {
            json_t *text = json_stringn(req->body, req->body_len);
            if (text && !memchr(req->body, '\0', req->body_len)) {
                json_object_set_new(ev, "data", text);
            } else {
                json_decref(text);
                char *b64 = base64_encode(req->body, req->body_len, NULL);
                json_object_set_new(ev, "data_base64", json_string(b64));
                free(b64);
            }
        }
    }
    return ev;
}

typedef struct checked {
    char key[128];        /* the provider key: an app provider's or a run-time one's */
    json_t *event;        /* borrowed */
    evk_status status;    /* why it was refused: EVK_INVALID unless too large */
} checked;

/* A provider made at run time through the I/O Management API whose
 * source this is: its key in key, and whether it has event code type.
 * err->code is EVK_OK unless the store could not tell. */
static bool runtime_provider(engine_t *e, const char *source, const char *type, char *key,
                             size_t len, bool *known_type, err_t *err)
{
    *known_type = false;
    err->code = EVK_OK;
    if (strncmp(source, "urn:uuid:", 9) != 0) return false;
    return engine_runtime_provider(e, source + 9, type, key, len, known_type, err) &&
           !app_provider(e->app, key);
}

/* Validates one CloudEvent; on failure writes why. */
static bool check_event(engine_t *e, json_t *ev, size_t index, bool batch, checked *out, char *why,
                        size_t len)
{
    char where[32] = "";
    if (batch) snprintf(where, sizeof where, "event %zu: ", index);
    if (!json_is_object(ev)) {
        snprintf(why, len, "%sa CloudEvent must be a JSON object", where);
        return false;
    }
    static const char *required[] = {"specversion", "id", "source", "type"};
    for (size_t i = 0; i < 4; i++) {
        const char *v = json_string_value(json_object_get(ev, required[i]));
        if (!v || !*v) {
            snprintf(why, len, "%sthe CloudEvent attribute '%s' is required (a non-empty string)",
                     where, required[i]);
            return false;
        }
    }
    if (strcmp(json_string_value(json_object_get(ev, "specversion")), "1.0") != 0) {
        snprintf(why, len, "%sspecversion must be \"1.0\"", where);
        return false;
    }
    const char *source = json_string_value(json_object_get(ev, "source"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    /* A store that cannot tell is not an unknown source: 503, the sender retries. */
    err_t perr;
    const provider_t *p = engine_provider_by_source(e, source, &perr);
    bool known_type = false, found = p != NULL;
    if (p) {
        snprintf(out->key, sizeof out->key, "%s", p->key);
        known_type = app_event_code(e->app, p->key, type) != NULL;
    } else if (perr.code == EVK_OK) {
        found = runtime_provider(e, source, type, out->key, sizeof out->key, &known_type, &perr);
    }
    if (perr.code != EVK_OK) { /* about the store, not this event of the batch */
        snprintf(why, len, "Unable to publish event %.100s: %.380s", type, perr.msg);
        out->status = perr.code;
        return false;
    }
    if (!found) {
        snprintf(why, len, "%sunknown source '%s': use urn:uuid:<provider id> of a provider in "
                           "providers.json (see the 'provider' lines evkit logs at start)",
                 where, source);
        return false;
    }
    if (!known_type) {
        snprintf(why, len, "%sUnable to publish event %s: Unknown event type for provider %s",
                 where, type, out->key);
        return false;
    }
    if (json_object_get(ev, "data") && json_object_get(ev, "data_base64")) {
        snprintf(why, len, "%sdata and data_base64 cannot both be present", where);
        return false;
    }
    /* The attributes as CloudEvents 1.0.2 has them; the data as every door. */
    err_t err;
    if (cloudevent_check(ev, &err) < 0 ||
        engine_check_event(e, out->key, type, json_object_get(ev, "data"),
                           json_string_value(json_object_get(ev, "id")), NULL, &err) < 0) {
        snprintf(why, len, "%s%s", where, err.msg);
        out->status = err.code;
        return false;
    }
    out->event = ev;
    return true;
}

/* One bucket per credential: the authorization header, or the console's
 * session cookie. false with a 429 in out past the limit. */
static bool rate_ok(http_ctx *h, const api_request *req, web_response *out)
{
    const char *cred = hdr(req->headers, "authorization");
    if (!cred) cred = hdr(req->headers, "cookie");
    if (!cred) cred = "";
    int64_t wait = ratelimit_take(h->publish_limit, ratelimit_key(cred, strlen(cred)), mono_ms());
    if (wait <= 0) return true;
    char *ra = xasprintf("%lld", (long long)((wait + 999) / 1000));
    web_error(out, 429, "Too many requests: the publishing rate limit is exceeded; retry after "
                        "%s s.", ra);
    json_object_set_new(out->headers, "retry-after", json_string(ra));
    free(ra);
    return false;
}

/* The request's CloudEvents as an array (structured and binary mode: one),
 * or NULL with the refusal in out. */
static json_t *request_events(const api_request *req, bool *batch, web_response *out)
{
    const char *ctype = hdr(req->headers, "content-type");
    *batch = ctype && strncasecmp(ctype, "application/cloudevents-batch+json", 34) == 0;
    bool structured = ctype && strncasecmp(ctype, "application/cloudevents+json", 28) == 0;
    char why[512] = "";
    if (*batch || structured) {
        err_t err;
        /* The limit is the data's: a batch and an event are two levels around it. */
        json_t *body = json_parse(req->body, req->body_len, 0, EVK_JSON_MAX_DEPTH + 2,
                                  "The request body", &err);
        if (!body) {
            web_error(out, 400, "%s.", err.msg);
            return NULL;
        }
        if (*batch && !json_is_array(body)) {
            json_decref(body);
            web_error(out, 400, "A batch must be a JSON array of CloudEvents.");
            return NULL;
        }
        return *batch ? body : json_pack("[o]", body);
    }
    if (!hdr(req->headers, "ce-specversion")) {
        web_error(out, 400, "Not a CloudEvent: send Content-Type application/cloudevents+json "
                            "(structured), application/cloudevents-batch+json (batch), or "
                            "ce-* headers (binary).");
        return NULL;
    }
    json_t *ev = from_binary(req, why, sizeof why);
    if (!ev) {
        web_error(out, 400, "%s", why);
        return NULL;
    }
    return json_pack("[o]", ev);
}

/* The attributes of a checked event as the journal keeps them: the
 * CloudEvent without its data (shared, not copied), the request's
 * traceparent unless the event has its own (the distributed tracing
 * extension wins), the publisher's id as publisherid. */
static json_t *journal_attrs(const checked *c, const char *traceparent)
{
    json_t *attrs = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(c->event, k, v)
        if (strcmp(k, "data")) json_object_set(attrs, k, v); /* data_base64 kept verbatim */
    if (traceparent && !json_object_get(attrs, "traceparent"))
        json_object_set_new(attrs, "traceparent", json_string(traceparent));
    /* The publisher's id is the idempotency key: source + id is unique. */
    json_object_set(attrs, "publisherid", json_object_get(c->event, "id"));
    return attrs;
}

/* Journals the n checked events as one write (all or none); their results
 * in *list. The number of deliveries made, or -1 with the refusal in out. */
static long publish_checked(engine_t *e, const checked *ok, size_t n, const char *traceparent,
                            json_t **list, web_response *out)
{
    engine_event *evs = xcalloc(n, sizeof *evs);
    store_append_result *res = xcalloc(n, sizeof *res);
    size_t *matched = xcalloc(n, sizeof *matched);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = ok[i].event;
        bool b64 = json_object_get(ev, "data_base64") != NULL;
        evs[i] = (engine_event){.provider_key = ok[i].key,
                                .type = json_string_value(json_object_get(ev, "type")),
                                .data = b64 ? NULL : json_object_get(ev, "data"),
                                .idempotency_key = json_string_value(json_object_get(ev, "id")),
                                .attributes = journal_attrs(&ok[i], traceparent),
                                .checked = true}; /* check_event did */
    }
    err_t err;
    long taken = 0;
    if (engine_publish_events(e, evs, n, res, matched, &err) < 0) {
        web_error(out, http_status_of(err.code), "Unable to publish event %s: %s", evs[0].type,
                  err.msg);
        taken = -1;
    } else {
        *list = json_array();
        for (size_t i = 0; i < n; i++) {
            taken += (long)matched[i];
            json_array_append_new(*list, json_pack("{s:s, s:s, s:I, s:b}", "id", res[i].id,
                                                   "publisherid", evs[i].idempotency_key,
                                                   "position", (json_int_t)res[i].position,
                                                   "duplicate", res[i].duplicate));
        }
    }
    for (size_t i = 0; i < n; i++) json_decref(evs[i].attributes);
    free(evs);
    free(res);
    free(matched);
    return taken;
}

long api_publish_events(http_ctx *h, const api_request *req, json_t **results,
                        web_response *out)
{
    engine_t *e = h->e;
    *results = NULL;
    bool batch = false;
    json_t *events = rate_ok(h, req, out) ? request_events(req, &batch, out) : NULL;
    if (!events) return -1;
    size_t n = json_array_size(events);
    if (n == 0 || n > BATCH_MAX) {
        json_decref(events);
        web_error(out, 400, "A batch holds 1 to %d CloudEvents.", BATCH_MAX);
        return -1;
    }
    /* Validate everything first: a batch is accepted whole or not at all. */
    char why[512] = "";
    checked *ok = xcalloc(n, sizeof *ok);
    for (size_t i = 0; i < n; i++) {
        if (!check_event(e, json_array_get(events, i), i, batch, &ok[i], why, sizeof why)) {
            int status = ok[i].status == EVK_TOO_LARGE ? 413
                         : ok[i].status == EVK_UNAVAILABLE ? 503 : 400;
            free(ok);
            json_decref(events);
            web_error(out, status, "%s", why);
            return -1;
        }
    }
    json_t *list = NULL;
    long taken = publish_checked(e, ok, n, hdr(req->headers, "traceparent"), &list, out);
    free(ok);
    json_decref(events);
    if (taken >= 0) *results = list;
    return taken;
}

void api_publish(http_ctx *h, const api_request *req, web_response *out)
{
    json_t *results = NULL;
    long taken = api_publish_events(h, req, &results, out);
    if (taken < 0) return;
    if (taken == 0) {
        out->status = 204;
        json_decref(results);
        return;
    }
    web_json(out, 200, json_pack("{s:o}", "events", results));
}

static void journal_page(engine_t *e, const api_request *req, const char *provider,
                         const registration_t *reg, web_response *out);

void api_journal(http_ctx *h, const api_request *req, web_response *out)
{
    engine_t *e = h->e;
    const char *provider = req->arg[0];
    /* A registration's journal: the events it subscribes to. A provider
     * key is accepted too (every event of that provider) unless a
     * registration has the same name. */
    regset_t *regs = e->registry ? registry_get(e->registry) : NULL;
    const registration_t *reg = regset_find(regs, provider, NULL);
    if (!reg && !app_provider(e->app, provider))
        web_error(out, 404, "Unknown registration '%s' (nor a provider of that name).", provider);
    else journal_page(e, req, provider, reg, out);
    regset_release(regs);
}

static void journal_page(engine_t *e, const api_request *req, const char *provider,
                         const registration_t *reg, web_response *out)
{
    const char *since_s = hdr(req->query, "since");
    const char *seek_s = hdr(req->query, "seek");
    const char *limit_s = hdr(req->query, "limit");
    const char *latest_s = hdr(req->query, "latest");
    if (since_s && seek_s) {
        web_error(out, 400, "since and seek cannot be used together.");
        return;
    }
    int64_t since = 0;
    err_t err;
    if (since_s) {
        char *end;
        since = strtoll(since_s, &end, 10);
        if (*end || since < 0) {
            web_error(out, 400, "since must be a position from a previous page.");
            return;
        }
    } else if (seek_s) {
        int64_t ms;
        if (dur_parse(seek_s, &ms) < 0 || ms > 0) {
            web_error(out, 400, "seek must be a negative ISO 8601 duration such as -PT2H.");
            return;
        }
        if (store_position_before(e->store, now_ms() + ms, &since, &err) < 0) {
            web_fail(out, &err);
            return;
        }
    } else if (latest_s && !strcmp(latest_s, "true")) {
        if (store_position_before(e->store, now_ms() + 1000, &since, &err) < 0) {
            web_fail(out, &err);
            return;
        }
    }
    int64_t floor = 0;
    if (since > 0 && store_journal_floor(e->store, &floor, &err) == 0 && since < floor) {
        web_error(out, 410, "Position %lld has expired: retention removed events up to position "
                            "%lld. Start again without since, or with seek.",
                  (long long)since, (long long)floor);
        return;
    }
    int limit = 100;
    if (limit_s) {
        char *end;
        long l = strtol(limit_s, &end, 10);
        if (*end || l < 1 || l > 1000) {
            web_error(out, 400, "limit must be 1 to 1000.");
            return;
        }
        limit = (int)l;
    }
    json_t *events = NULL;
    int rc;
    if (reg) {
        const char **provs, **types;
        size_t n = registry_interests(reg, &provs, &types);
        rc = store_read_matching(e->store, provs, types, n, since, limit, JOURNAL_PAGE_BYTES,
                                 &events, &err);
        free(provs);
        free(types);
    } else {
        rc = store_read(e->store, provider, since, limit, &events, &err);
        /* The same byte cap as a registration's page. */
        size_t bytes = 0, keep = 0;
        for (; rc == 0 && keep < json_array_size(events); keep++) {
            char *t = json_text(json_object_get(json_array_get(events, keep), "event"), JSON_COMPACT);
            size_t len = t ? strlen(t) : 0;
            free(t);
            if (keep && bytes + len > JOURNAL_PAGE_BYTES) break;
            bytes += len;
        }
        while (rc == 0 && json_array_size(events) > keep) json_array_remove(events, keep);
    }
    if (rc < 0) {
        web_fail(out, &err);
        return;
    }
    size_t n = json_array_size(events);
    if (n == 0) {
        json_decref(events);
        out->status = 204;
        json_object_set_new(out->headers, "retry-after", json_string("10"));
        char *next = xasprintf("<%s/api/v1/journal/%s?since=%lld&limit=%d>; rel=\"next\"",
                               e->api_host, provider, (long long)since, limit);
        json_object_set_new(out->headers, "link", json_string(next));
        free(next);
        return;
    }
    json_t *list = json_array();
    size_t i;
    json_t *item;
    long long last = 0;
    json_array_foreach(events, i, item) {
        last = (long long)json_integer_value(json_object_get(item, "position"));
        char pos[32];
        snprintf(pos, sizeof pos, "%lld", last);
        json_array_append_new(list, json_pack("{s:s, s:O}", "position", pos, "event",
                                              json_object_get(item, "event")));
    }
    json_decref(events);
    char lastpos[32];
    snprintf(lastpos, sizeof lastpos, "%lld", last);
    char *next = xasprintf("<%s/api/v1/journal/%s?since=%s&limit=%d>; rel=\"next\"", e->api_host,
                           provider, lastpos, limit);
    json_object_set_new(out->headers, "link", json_string(next));
    free(next);
    web_json(out, 200, json_pack("{s:o, s:{s:s, s:i}}", "events", list, "_page", "last", lastpos,
                                 "count", (int)n));
}
