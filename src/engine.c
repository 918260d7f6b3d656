/* engine: the running system's shared context, and publishing: an event and
 * one delivery per matching registration, appended in one durable step. */
#include "engine.h"

#include "core/jsonpath.h"
#include "core/log.h"
#include "registry/registry.h"
#include "metrics/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *env_get(const app_t *app, const char *name)
{
    const char *v = getenv(name);
    if (v) return v;
    json_t *j = app && app->env ? json_object_get(app->env, name) : NULL;
    return json_string_value(j);
}

void engine_init(engine_t *e, app_t *app, store_t *store, const char *api_host)
{
    memset(e, 0, sizeof *e);
    e->app = app;
    e->store = store;
    const char *ns = env_get(app, "AIO_runtime_namespace");
    e->namespace = xstrdup(ns && *ns ? ns : "evkit");
    e->api_host = xstrdup(api_host ? api_host : "http://127.0.0.1:8080");
    e->api_tokens = json_array();
    const char *toks = env_get(app, "EVKIT_API_TOKENS");
    if (toks) {
        char *copy = xstrdup(toks), *save = NULL;
        for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
            json_array_append_new(e->api_tokens, json_string(t));
        free(copy);
    }
    const char *first = json_string_value(json_array_get(e->api_tokens, 0));
    e->api_key = xstrdup(first ? first : "");
    e->activation_retention_ms = 7LL * 24 * 3600 * 1000;
    e->journal_retention_ms = 7LL * 24 * 3600 * 1000;
    int64_t ms;
    const char *ret = env_get(app, "EVKIT_ACTIVATION_RETENTION");
    if (ret && dur_parse(ret, &ms) == 0 && ms > 0) e->activation_retention_ms = ms;
    ret = env_get(app, "EVKIT_JOURNAL_RETENTION");
    if (ret && dur_parse(ret, &ms) == 0 && ms > 0) e->journal_retention_ms = ms;
    e->trace_retention_ms = 7LL * 24 * 3600 * 1000;
    e->trace_keep = 100;
    ret = env_get(app, "EVKIT_TRACE_RETENTION");
    if (ret && *ret) {
        if (dur_parse(ret, &ms) == 0 && ms >= 0) e->trace_retention_ms = ms;
        else log_warn("EVKIT_TRACE_RETENTION is not a duration such as 7d or 36h; using 7d",
                      json_pack("{s:s}", "value", ret));
    }
    ret = env_get(app, "EVKIT_TRACE_KEEP");
    if (ret && *ret) {
        char *end;
        long k = strtol(ret, &end, 10);
        if (!*end && k >= 0 && k <= 1000000) e->trace_keep = (int)k;
        else log_warn("EVKIT_TRACE_KEEP is not a count from 0 to 1000000; using 100",
                      json_pack("{s:s}", "value", ret));
    }
    if (app && store) e->registry = registry_new(app, store);
}

void engine_fini(engine_t *e)
{
    registry_free(e->registry);
    free(e->namespace);
    free(e->api_host);
    free(e->api_key);
    json_decref(e->api_tokens);
    memset(e, 0, sizeof *e);
}

int engine_publish(engine_t *e, const char *provider_key, const char *type, json_t *data,
                   const char *idempotency_key, store_append_result *res, err_t *err)
{
    return engine_publish_ex(e, provider_key, type, data, idempotency_key, NULL, res, NULL, err);
}

const provider_t *engine_provider_by_source(engine_t *e, const char *source)
{
    if (!source || !e->app) return NULL;
    const char *uuid = strncmp(source, "urn:uuid:", 9) == 0 ? source + 9 : NULL;
    for (size_t i = 0; i < e->app->nproviders; i++) {
        const provider_t *p = &e->app->providers[i];
        if (!uuid) {
            if (strcmp(p->key, source) == 0) return p;
            continue;
        }
        char id[37];
        err_t err;
        if (store_provider_id(e->store, p->key, id, &err) == 0 && strcasecmp(id, uuid) == 0) return p;
    }
    return NULL;
}

int engine_publish_ex(engine_t *e, const char *provider_key, const char *type, json_t *data,
                      const char *idempotency_key, json_t *attributes, store_append_result *res,
                      size_t *matched, err_t *err)
{
    if (!provider_key || !*provider_key) return err_set(err, "provider is required");
    if (!type || !*type) return err_set(err, "event type is required");
    if (e->app && !app_provider(e->app, provider_key))
        return err_set(err, "unknown provider '%s'", provider_key);

    regset_t *regs = e->registry ? registry_get(e->registry) : NULL;
    size_t nregs = regs ? regs->n : 0;
    store_delivery_spec *specs = xcalloc(nregs ? nregs : 1, sizeof *specs);
    char **keys = xcalloc(nregs ? nregs : 1, sizeof *keys);
    size_t n = 0;
    json_t *probe = NULL;
    for (size_t i = 0; i < nregs; i++) {
        const registration_t *r = regs->regs[i];
        if (!registration_matches(r, provider_key, type)) continue;
        if (r->ordering_key) {
            /* The key path is written against the CloudEvent ("data.sku"). */
            if (!probe) probe = json_pack("{s:s, s:O}", "type", type, "data", data);
            keys[n] = json_path_string(probe, r->ordering_key);
        }
        specs[n].registration = r->name;
        specs[n].order_key = keys[n];
        n++;
    }
    json_decref(probe);
    store_event_in ev = {
        .provider = provider_key,
        .type = type,
        .data = data,
        .idempotency_key = idempotency_key && *idempotency_key ? idempotency_key : NULL,
        .attributes = attributes,
        .deliveries = specs,
        .ndeliveries = n,
    };
    if (matched) *matched = n;
    int rc = store_append(e->store, &ev, res, err);
    if (rc == 0 && !res->duplicate) metrics_event_published(provider_key, type);
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    free(specs);
    regset_release(regs);
    return rc;
}
