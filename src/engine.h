/* engine: the running system as one value: the loaded app, the store and
 * the settings every subsystem reads. Created by the CLI, passed everywhere.
 * Process-wide state is kept to the log level and the metrics registry
 * (metrics/, counters every layer adds to); the HTTP server keeps its own
 * state in its own context (http/). */
#ifndef EVKIT_ENGINE_H
#define EVKIT_ENGINE_H

#include <jansson.h>

#include "config.h"
#include "core/util.h"
#include "manifest/manifest.h"
#include "store/store.h"

typedef struct delivery delivery_t;
typedef struct engine_known engine_known;
typedef struct registry registry_t;
typedef struct sigkeys sigkeys_t;

typedef struct engine {
    app_t *app;
    store_t *store;
    char *namespace;              /* config->namespace (AIO_runtime_namespace) */
    char *api_host;               /* "http://127.0.0.1:8080" for __OW_API_HOST */
    char *api_key;                /* for __OW_API_KEY; first EVKIT_API_TOKENS token or "" */
    json_t *api_tokens;           /* config->api_tokens: accepted bearer tokens */
    const config_t *config;       /* the settings, parsed at start (never NULL) */
    config_t own_config;          /* the defaults, when engine_init got no settings */
    delivery_t *delivery;         /* NULL when not serving */
    registry_t *registry;         /* manifest + API registrations (NULL without app or store) */
    sigkeys_t *sigkeys;           /* RSA keys signing webhook deliveries (delivery/sigkeys.h);
                                   * the daemon's, NULL elsewhere: deliveries go unsigned */
    engine_known *known;          /* run-time providers and event codes the store confirmed */
} engine_t;

/* Fills the engine from parsed settings (borrowed, must outlive the engine;
 * NULL: the defaults, for tests). */
void engine_init(engine_t *e, app_t *app, store_t *store, const config_t *config,
                 const char *api_host);
void engine_fini(engine_t *e);

/* The largest event data evkit journals, as JSON text (the hosted service's
 * payload limit, and the web layer's body limit). */
#define ENGINE_EVENT_MAX_BYTES (1024u * 1024)

/* The checks every publisher's event passes, whichever door it came in by
 * (the publishing API, the events ingress, evkit.publish): provider, type
 * and idempotency key (may be NULL) are valid UTF-8 without control
 * characters; type is one of the provider's event codes when events.json
 * declares any; data (may be NULL) nests at most EVK_JSON_MAX_DEPTH levels
 * and is at most ENGINE_EVENT_MAX_BYTES; attributes (may be NULL) are a
 * valid CloudEvent (core/cloudevent.h). 0, or -1 with err (EVK_INVALID or
 * EVK_TOO_LARGE) naming what is wrong. engine_publish_ex applies them. */
int engine_check_event(const engine_t *e, const char *provider_key, const char *type,
                       const json_t *data, const char *idempotency_key, const json_t *attributes,
                       err_t *err);

/* store_state_put behind the state value limit (EVKIT_STATE_VALUE_MAX,
 * the value's compact JSON text): EVK_TOO_LARGE over it, for every door
 * (evkit.state.put, the state API). */
int engine_state_put(engine_t *e, const char *key, json_t *value, int64_t ttl_ms, err_t *err);

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

/* engine_publish continuing the W3C trace of traceparent (the publishing
 * activation's; NULL or invalid: a new trace). Every event gets a span of
 * its own, kept as its traceparent attribute, which deliveries continue. */
int engine_publish_traced(engine_t *e, const char *provider_key, const char *type, json_t *data,
                          const char *idempotency_key, const char *traceparent,
                          store_append_result *res, err_t *err);

/* A provider made at run time (the I/O Management API) by its id or key:
 * its key into key (len bytes) and, with type, whether that event code is
 * in its metadata (*known_type). The store is asked only for what it has
 * not confirmed yet: providers and their event codes are never removed, so
 * a publisher's provider and code are read once, not per event. false when
 * there is none (err->code EVK_OK) or the store could not tell (err). */
bool engine_runtime_provider(engine_t *e, const char *id_or_key, const char *type, char *key,
                             size_t len, bool *known_type, err_t *err);

/* One event for engine_publish_events. */
typedef struct engine_event {
    const char *provider_key;
    const char *type;
    json_t *data;                 /* borrowed, may be NULL */
    const char *idempotency_key;  /* may be NULL */
    json_t *attributes;           /* borrowed, may be NULL: CloudEvent attributes to keep */
    const char *traceparent;      /* the trace to continue when attributes have none */
    bool checked;                 /* the caller ran engine_check_event on exactly these
                                   * values: not checked again */
} engine_event;

/* Publishes n events as one durable write: all of them or none (one
 * commit). res (and matched, may be NULL: how many registrations take each)
 * have n entries. */
int engine_publish_events(engine_t *e, const engine_event *evs, size_t n, store_append_result *res,
                          size_t *matched, err_t *err);

/* The provider whose CloudEvent source this is: "urn:uuid:<provider id>"
 * (or the bare provider key). NULL when none (err->code EVK_OK) or when
 * the store cannot tell (err filled). */
const provider_t *engine_provider_by_source(engine_t *e, const char *source, err_t *err);

#endif
