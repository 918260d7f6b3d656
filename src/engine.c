/* engine: the running system's shared context, and publishing: an event and
 * one delivery per matching registration, appended in one durable step. */
#include "engine.h"

#include "core/cloudevent.h"
#include "core/filter.h"
#include "core/tracectx.h"
#include "core/json_io.h"
#include "core/jsonpath.h"
#include "core/log.h"
#include "registry/registry.h"
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/vec.h"

/* What the store confirmed about run-time providers: pairs of strings,
 * (id or key asked, the provider's key) and (key, event code). */
struct engine_known {
    pthread_mutex_t mu;
    VEC(char *) providers;
    VEC(char *) codes;
};

static void known_free(engine_known *k)
{
    if (!k) return;
    for (size_t i = 0; i < k->providers.n; i++) free(k->providers.v[i]);
    for (size_t i = 0; i < k->codes.n; i++) free(k->codes.v[i]);
    free(k->providers.v);
    free(k->codes.v);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

/* The second string of the pair whose first is a (and second b, when b). */
static const char *known_find(const engine_known *k, bool codes, const char *a, const char *b)
{
    const char *const *v = (const char *const *)(codes ? k->codes.v : k->providers.v);
    size_t n = codes ? k->codes.n : k->providers.n;
    for (size_t i = 0; i + 1 < n; i += 2)
        if (!strcmp(v[i], a) && (!b || !strcmp(v[i + 1], b))) return v[i + 1];
    return NULL;
}

static void known_add(engine_known *k, bool codes, const char *a, const char *b)
{
    pthread_mutex_lock(&k->mu);
    if (!known_find(k, codes, a, b)) {
        if (codes) {
            VEC_PUSH(&k->codes, xstrdup(a));
            VEC_PUSH(&k->codes, xstrdup(b));
        } else {
            VEC_PUSH(&k->providers, xstrdup(a));
            VEC_PUSH(&k->providers, xstrdup(b));
        }
    }
    pthread_mutex_unlock(&k->mu);
}

void engine_init(engine_t *e, app_t *app, store_t *store, const config_t *config,
                 const char *api_host)
{
    memset(e, 0, sizeof *e);
    e->app = app;
    e->store = store;
    if (!config) {
        config_init(&e->own_config);
        config = &e->own_config;
    }
    e->config = config;
    e->namespace = xstrdup(config->namespace);
    e->api_host = xstrdup(api_host ? api_host : "http://127.0.0.1:8080");
    e->api_tokens = json_incref(config->api_tokens);
    const char *first = json_string_value(json_array_get(e->api_tokens, 0));
    e->api_key = xstrdup(first ? first : "");
    if (app && store) e->registry = registry_new(app, store);
    e->known = xcalloc(1, sizeof *e->known);
    pthread_mutex_init(&e->known->mu, NULL);
}

int engine_state_put(engine_t *e, const char *key, json_t *value, int64_t ttl_ms, err_t *err)
{
    size_t max = (size_t)e->config->state_value_max;
    size_t n = json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n > max)
        return err_code(err, EVK_TOO_LARGE,
                        "the value is %zu bytes as JSON, over the state value limit of %zu bytes "
                        "(EVKIT_STATE_VALUE_MAX)", n, max);
    return store_state_put(e->store, key, value, ttl_ms, err);
}

void engine_fini(engine_t *e)
{
    registry_free(e->registry);
    known_free(e->known);
    free(e->namespace);
    free(e->api_host);
    free(e->api_key);
    json_decref(e->api_tokens);
    if (e->config == &e->own_config) config_free(&e->own_config);
    memset(e, 0, sizeof *e);
}

int engine_publish(engine_t *e, const char *provider_key, const char *type, json_t *data,
                   const char *idempotency_key, store_append_result *res, err_t *err)
{
    return engine_publish_ex(e, provider_key, type, data, idempotency_key, NULL, res, NULL, err);
}

const provider_t *engine_provider_by_source(engine_t *e, const char *source, err_t *err)
{
    err->code = EVK_OK;
    if (!source || !e->app) return NULL;
    const char *uuid = strncmp(source, "urn:uuid:", 9) == 0 ? source + 9 : NULL;
    for (size_t i = 0; i < e->app->nproviders; i++) {
        const provider_t *p = &e->app->providers[i];
        if (!uuid) {
            if (strcmp(p->key, source) == 0) return p;
            continue;
        }
        char id[37];
        if (store_provider_id(e->store, p->key, id, err) < 0) return NULL;
        if (strcasecmp(id, uuid) == 0) return p;
    }
    return NULL;
}

/* Whether provider key has event code type in its metadata (the store's). */
static bool known_code(engine_t *e, const char *key, const char *type, err_t *err)
{
    pthread_mutex_lock(&e->known->mu);
    bool found = known_find(e->known, true, key, type) != NULL;
    pthread_mutex_unlock(&e->known->mu);
    if (found) return true;
    json_t *meta = NULL;
    size_t i;
    json_t *m;
    if (store_event_meta_list(e->store, key, &meta, err) == 0)
        json_array_foreach(meta, i, m) {
            const char *code = json_string_value(json_object_get(m, "code"));
            if (code && !strcmp(code, type)) found = true;
        }
    json_decref(meta);
    if (found) known_add(e->known, true, key, type);
    return found;
}

bool engine_runtime_provider(engine_t *e, const char *id_or_key, const char *type, char *key,
                             size_t len, bool *known_type, err_t *err)
{
    err->code = EVK_OK;
    if (known_type) *known_type = false;
    if (!e->store || !e->known || !id_or_key) return false;
    pthread_mutex_lock(&e->known->mu);
    const char *k = known_find(e->known, false, id_or_key, NULL);
    bool ok = k && strlen(k) < len;
    if (ok) snprintf(key, len, "%s", k);
    pthread_mutex_unlock(&e->known->mu);
    if (!k) {
        json_t *rec = NULL;
        if (store_io_provider_get(e->store, id_or_key, &rec, err) < 0 || !rec) return false;
        k = json_string_value(json_object_get(rec, "key"));
        ok = k && strlen(k) < len;
        if (ok) {
            snprintf(key, len, "%s", k);
            known_add(e->known, false, id_or_key, k);
        }
        json_decref(rec);
    }
    if (ok && type && known_type) *known_type = known_code(e, key, type, err);
    return ok;
}

/* A provider made at run time (the I/O Management API), by key. */
static bool runtime_provider(engine_t *e, const char *key)
{
    char k[256];
    err_t err;
    return engine_runtime_provider(e, key, NULL, k, sizeof k, NULL, &err) && !strcmp(k, key);
}

/* The event as a filter sees it: the CloudEvent being published, minus
 * the id and time the store gives it. */
static json_t *filter_view(engine_t *e, const char *provider_key, const char *type, json_t *data,
                           json_t *attributes)
{
    json_t *ev = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(attributes, k, v) json_object_set(ev, k, v);
    char id[37];
    err_t err;
    json_object_set_new(ev, "specversion", json_string("1.0"));
    if (e->store && store_provider_id(e->store, provider_key, id, &err) == 0)
        json_object_set_new(ev, "source", json_sprintf("urn:uuid:%s", id));
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "datacontenttype", json_string("application/json"));
    if (data) json_object_set(ev, "data", data);
    else json_object_del(ev, "data");
    return ev;
}

/* Valid UTF-8 without control characters, non-empty. */
static bool text_ok(const char *s)
{
    if (!s || !*s) return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return false;
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static bool has_event_codes(const app_t *app, const char *provider_key)
{
    for (size_t i = 0; i < app->nevents; i++)
        if (!strcmp(app->events[i].provider, provider_key)) return true;
    return false;
}

int engine_check_event(const engine_t *e, const char *provider_key, const char *type,
                       const json_t *data, const char *idempotency_key, const json_t *attributes,
                       err_t *err)
{
    if (!text_ok(provider_key))
        return err_code(err, EVK_INVALID, "the provider must be a non-empty string of text");
    if (!text_ok(type))
        return err_code(err, EVK_INVALID, "the event type must be a non-empty string of text");
    if (idempotency_key && *idempotency_key && !text_ok(idempotency_key))
        return err_code(err, EVK_INVALID, "the idempotency key (the CloudEvent id) must be a "
                                          "non-empty string of text");
    if (e->app && app_provider(e->app, provider_key) && has_event_codes(e->app, provider_key) &&
        !app_event_code(e->app, provider_key, type))
        return err_code(err, EVK_INVALID, "Unknown event type %s for provider %s (not in "
                                          "events.json)", type, provider_key);
    if (data && json_check_depth(data, "the event's data", err) < 0) return -1;
    if (data) {
        /* Measured as json_text writes it (what is stored), not by jansson's
         * slower writer. */
        char *text = json_text(data, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t size = text ? strlen(text) : 0;
        free(text);
        if (size > ENGINE_EVENT_MAX_BYTES)
            return err_code(err, EVK_TOO_LARGE, "the event's data is %zu bytes of JSON; the "
                                                "limit is %u bytes (1 MB)", size,
                            ENGINE_EVENT_MAX_BYTES);
    }
    return attributes ? cloudevent_check(attributes, err) : 0;
}

static int publish(engine_t *e, const char *provider_key, const char *type, json_t *data,
                   const char *idempotency_key, json_t *attributes, const char *traceparent,
                   store_append_result *res, size_t *matched, err_t *err);

int engine_publish_ex(engine_t *e, const char *provider_key, const char *type, json_t *data,
                      const char *idempotency_key, json_t *attributes, store_append_result *res,
                      size_t *matched, err_t *err)
{
    return publish(e, provider_key, type, data, idempotency_key, attributes, NULL, res, matched,
                   err);
}

int engine_publish_traced(engine_t *e, const char *provider_key, const char *type, json_t *data,
                          const char *idempotency_key, const char *traceparent,
                          store_append_result *res, err_t *err)
{
    return publish(e, provider_key, type, data, idempotency_key, NULL, traceparent, res, NULL,
                   err);
}

/* Where one event goes: a delivery per registration that takes it, and
 * the registrations whose filter turned it away. */
typedef struct route {
    store_delivery_spec *specs;
    const char **filtered;
    char **keys;
    size_t n, nfiltered;
} route;

static void route_free(route *rt)
{
    for (size_t i = 0; i < rt->n; i++) free(rt->keys[i]);
    free(rt->keys);
    free(rt->specs);
    free(rt->filtered);
    memset(rt, 0, sizeof *rt);
}

static void route_event(engine_t *e, const regset_t *regs, const char *provider_key,
                        const char *type, json_t *data, json_t *attributes, route *rt)
{
    size_t nregs = regs ? regs->n : 0;
    rt->specs = xcalloc(nregs ? nregs : 1, sizeof *rt->specs);
    rt->filtered = xcalloc(nregs ? nregs : 1, sizeof *rt->filtered);
    rt->keys = xcalloc(nregs ? nregs : 1, sizeof *rt->keys);
    rt->n = rt->nfiltered = 0;
    json_t *probe = NULL, *view = NULL;
    for (size_t i = 0; i < nregs; i++) {
        const registration_t *r = regs->regs[i];
        if (!registration_matches(r, provider_key, type)) continue;
        if (r->filter) {
            if (!view) view = filter_view(e, provider_key, type, data, attributes);
            if (!filter_match(r->filter, view)) {
                rt->filtered[rt->nfiltered++] = r->name;
                continue;
            }
        }
        if (r->ordering_key) {
            /* The key path is written against the CloudEvent ("data.sku"). */
            if (!probe) probe = json_pack("{s:s, s:O}", "type", type, "data", data);
            rt->keys[rt->n] = json_path_string(probe, r->ordering_key);
        }
        rt->specs[rt->n].registration = r->name;
        rt->specs[rt->n].order_key = rt->keys[rt->n];
        rt->n++;
    }
    json_decref(probe);
    json_decref(view);
}

/* One event on its way: its span, attributes and route. */
typedef struct prepared {
    tracectx parent, span;
    bool traced;
    json_t *attrs;
    route rt;
} prepared;

/* Routes the n events with the registrations last seen and appends them
 * as one write; when the store says the registrations changed meanwhile,
 * reads them again and routes again. */
static int append_routed(engine_t *e, store_event_in *in, prepared *p, size_t n, regset_t **regs,
                         store_append_result *res, err_t *err)
{
    bool checked = e->registry && store_checks_generation(e->store);
    *regs = !e->registry ? NULL : checked ? registry_current(e->registry)
                                          : registry_get(e->registry);
    for (int tries = 0;; tries++) {
        for (size_t i = 0; i < n; i++) {
            route *rt = &p[i].rt;
            route_event(e, *regs, in[i].provider, in[i].type, in[i].data, in[i].attributes, rt);
            in[i].deliveries = rt->specs;
            in[i].ndeliveries = rt->n;
            in[i].filtered = rt->filtered;
            in[i].nfiltered = rt->nfiltered;
            in[i].check_generation = checked;
            in[i].generation = *regs ? (*regs)->generation : 0;
        }
        int rc = store_append_batch(e->store, in, n, res, err);
        if (rc < 0 || !res[0].stale) return rc;
        if (tries == 4)
            return err_code(err, EVK_UNAVAILABLE,
                            "the registrations kept changing while the event was published; "
                            "try again");
        for (size_t i = 0; i < n; i++) route_free(&p[i].rt);
        regset_release(*regs);
        *regs = registry_reload(e->registry);
    }
}

static int prepare(engine_t *e, const engine_event *ev, prepared *p, store_event_in *in,
                   err_t *err)
{
    if (!ev->checked && engine_check_event(e, ev->provider_key, ev->type, ev->data,
                                           ev->idempotency_key, ev->attributes, err) < 0)
        return -1;
    if (e->app && !app_provider(e->app, ev->provider_key) && !runtime_provider(e, ev->provider_key))
        return err_code(err, EVK_INVALID, "unknown provider '%s'", ev->provider_key);
    /* The event's own span, in the trace its publisher sent (attribute
     * traceparent; a new trace when none or invalid): deliveries continue it. */
    const char *given = json_string_value(json_object_get(ev->attributes, "traceparent"));
    p->traced = tracectx_parse(given ? given : ev->traceparent, &p->parent);
    tracectx_child(p->traced ? &p->parent : NULL, &p->span);
    char tp[TRACEPARENT_LEN + 1];
    tracectx_format(&p->span, tp);
    p->attrs = ev->attributes ? json_copy(ev->attributes) : json_object();
    json_object_set_new(p->attrs, "traceparent", json_string(tp));
    *in = (store_event_in){
        .provider = ev->provider_key,
        .type = ev->type,
        .data = ev->data,
        .idempotency_key = ev->idempotency_key && *ev->idempotency_key ? ev->idempotency_key : NULL,
        .attributes = p->attrs,
    };
    return 0;
}

int engine_publish_events(engine_t *e, const engine_event *evs, size_t n, store_append_result *res,
                          size_t *matched, err_t *err)
{
    prepared *p = xcalloc(n ? n : 1, sizeof *p);
    store_event_in *in = xcalloc(n ? n : 1, sizeof *in);
    int rc = n ? 0 : err_code(err, EVK_INVALID, "no event to publish");
    for (size_t i = 0; i < n && rc == 0; i++) rc = prepare(e, &evs[i], &p[i], &in[i], err);
    regset_t *regs = NULL;
    if (rc == 0) rc = append_routed(e, in, p, n, &regs, res, err);
    for (size_t i = 0; i < n; i++) {
        if (matched) matched[i] = p[i].rt.n;
        if (rc == 0 && !res[i].duplicate) {
            metrics_event_published(evs[i].provider_key, evs[i].type);
            for (size_t k = 0; k < p[i].rt.nfiltered; k++) metrics_event_filtered(p[i].rt.filtered[k]);
            int64_t t = now_ms();
            store_span sp = {.trace_id = p[i].span.trace_id, .span_id = p[i].span.span_id,
                             .parent_id = p[i].traced ? p[i].parent.span_id : NULL,
                             .kind = "event", .ref = res[i].id, .name = evs[i].type,
                             .start_ms = t, .end_ms = t, .ok = true};
            store_span_put(e->store, &sp);
        }
        json_decref(p[i].attrs);
        route_free(&p[i].rt);
    }
    regset_release(regs);
    free(in);
    free(p);
    return rc;
}

static int publish(engine_t *e, const char *provider_key, const char *type, json_t *data,
                   const char *idempotency_key, json_t *attributes, const char *traceparent,
                   store_append_result *res, size_t *matched, err_t *err)
{
    engine_event ev = {.provider_key = provider_key, .type = type, .data = data,
                       .idempotency_key = idempotency_key, .attributes = attributes,
                       .traceparent = traceparent};
    return engine_publish_events(e, &ev, 1, res, matched, err);
}
