/* engine: the running system as one value: the loaded app, the store and
 * the settings every subsystem reads. Created by the CLI, passed everywhere.
 * Process-wide state is kept to the log level and the metrics registry
 * (metrics/, counters every layer adds to); the HTTP server keeps its own
 * state in its own context (http/). */
#ifndef EVKIT_ENGINE_H
#define EVKIT_ENGINE_H

#include <jansson.h>

#include "core/util.h"
#include "manifest/manifest.h"
#include "store/store.h"

typedef struct delivery delivery_t;
typedef struct registry registry_t;

typedef struct engine {
    app_t *app;
    store_t *store;
    char *namespace;              /* AIO_runtime_namespace or "evkit" */
    char *api_host;               /* "http://127.0.0.1:8080" for __OW_API_HOST */
    char *api_key;                /* for __OW_API_KEY; first EVKIT_API_TOKENS token or "" */
    json_t *api_tokens;           /* array of accepted bearer tokens (EVKIT_API_TOKENS) */
    int64_t activation_retention_ms; /* default 7 days, EVKIT_ACTIVATION_RETENTION */
    int64_t journal_retention_ms;    /* default 7 days, EVKIT_JOURNAL_RETENTION */
    int64_t trace_retention_ms;      /* default 7 days, EVKIT_TRACE_RETENTION */
    int trace_keep;                  /* per registration and outcome kept beyond it
                                      * (default 100, EVKIT_TRACE_KEEP) */
    delivery_t *delivery;         /* NULL when not serving */
    registry_t *registry;         /* manifest + API registrations (NULL without app or store) */
} engine_t;

/* Fills namespace, api tokens from the environment (app->env first). */
void engine_init(engine_t *e, app_t *app, store_t *store, const char *api_host);
void engine_fini(engine_t *e);

/* Publishes an event of provider_key (must be in providers.json): one
 * delivery per matching registration is created with the event, atomically.
 * Durable when it returns. */
int engine_publish(engine_t *e, const char *provider_key, const char *type, json_t *data,
                   const char *idempotency_key, store_append_result *res, err_t *err);

/* engine_publish with more: CloudEvent attributes to keep (borrowed, may be
 * NULL) and, in *matched (may be NULL), how many registrations take it. */
int engine_publish_ex(engine_t *e, const char *provider_key, const char *type, json_t *data,
                      const char *idempotency_key, json_t *attributes, store_append_result *res,
                      size_t *matched, err_t *err);

/* The provider whose CloudEvent source this is: "urn:uuid:<provider id>"
 * (or the bare provider key). NULL when none. */
const provider_t *engine_provider_by_source(engine_t *e, const char *source);

#endif
