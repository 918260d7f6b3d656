/* manifest: loads an app folder (app.config.yaml with $include, .env,
 * onboarding/config/events.json and providers.json) into an immutable app_t,
 * and reports every problem with file and line.
 *
 * Ownership: app_load returns an app_t the caller frees with app_free; every
 * pointer inside it lives as long as the app. diags_t is caller-owned
 * (diags_free). */
#ifndef EVKIT_MANIFEST_H
#define EVKIT_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/filter.h"

/* RUNTIME_SEQUENCE: a `sequences:` entry of a package, run by the runtime
 * step by step (no function file). */
typedef enum {
    RUNTIME_LUA,
    RUNTIME_EXEC,
    RUNTIME_ACTIONLOOP,
    RUNTIME_NODEJS,
    RUNTIME_SEQUENCE
} runtime_kind;
typedef enum { WEB_NO, WEB_YES, WEB_RAW } web_mode;

#define ACTION_DEFAULT_TIMEOUT_MS 60000
#define ACTION_MIN_TIMEOUT_MS 100
#define ACTION_MAX_TIMEOUT_MS 600000
#define ACTION_DEFAULT_MEMORY_MB 256
#define ACTION_MIN_MEMORY_MB 1      /* below OpenWhisk's 128: Lua actions are small */
#define ACTION_MAX_MEMORY_MB 4096
#define ACTION_DEFAULT_CONCURRENCY 2
#define ACTION_MIN_CONCURRENCY 1
#define ACTION_MAX_CONCURRENCY 500  /* OpenWhisk's per-container maximum */

typedef struct action {
    char *package;        /* "ingestion" */
    char *name;           /* "webhook" */
    char *fqn;            /* "ingestion/webhook" */
    char *function;       /* absolute path of the function file */
    char *dir;            /* absolute folder of the function file */
    char *runtime;        /* as written: "lua", "exec", "actionloop", "nodejs:16" */
    runtime_kind kind;
    int node_major;       /* nodejs:N: the declared Node.js major version; 0 for nodejs:default */
    char *main_name;      /* main: the exported function a nodejs action runs, default "main" */
    web_mode web;
    json_t *inputs;       /* package inputs overlaid by action inputs, $VARs resolved */
    bool final;           /* annotation final */
    bool require_auth;    /* annotation require-adobe-auth */
    bool raw_http;        /* annotation raw-http (or web: raw) */
    json_t *annotations;  /* every annotation as written */
    int timeout_ms;       /* limits.timeout, default 60000 */
    int memory_mb;        /* limits.memory, default 256 */
    int concurrency;      /* limits.concurrency (actionloop pool size), default 2 */
    /* RUNTIME_SEQUENCE: the actions run in order, each one's result the next
     * one's params (function and dir are NULL). */
    char **step_names;    /* as written in `actions:` */
    const struct action **steps;
    size_t nsteps;
} action_t;

/* Scheduled triggers: `triggers:` of a package with a feed of the OpenWhisk
 * alarms package, and the `rules:` that bind them to actions. */
typedef enum { FEED_NONE, FEED_ALARM, FEED_INTERVAL, FEED_ONCE } feed_kind;

typedef struct trigger {
    char *name;           /* triggers are namespace-wide: unique across packages */
    char *package;        /* where it is declared */
    feed_kind feed;
    char *cron;           /* FEED_ALARM: the cron expression (5 or 6 fields, UTC) */
    int64_t interval_ms;  /* FEED_INTERVAL: minutes */
    int64_t date_ms;      /* FEED_ONCE: date */
    int64_t start_ms;     /* startDate, 0 = none */
    int64_t stop_ms;      /* stopDate, 0 = none */
    json_t *params;       /* trigger_payload's keys, over the trigger's other inputs */
} trigger_t;

typedef struct rule {
    char *name;
    char *package;
    const trigger_t *trigger;
    const action_t *action;
} rule_t;

typedef struct interest {
    char *provider;       /* provider key, e.g. "backoffice" */
    char **codes;         /* event codes */
    size_t ncodes;
} interest_t;

/* Webhook deliveries: at most this many events and bytes per batch. */
#define WEBHOOK_BATCH_MAX_EVENTS 20
#define WEBHOOK_BATCH_MAX_BYTES (2 * 1024 * 1024)
#define WEBHOOK_MAX_SECRETS 2     /* the current one and, during a rotation, the next */

typedef struct registration {
    char *name;
    char *description;
    char *runtime_action; /* "<package>/<action>"; NULL for a webhook registration */
    const action_t *action;
    char *webhook_url;    /* http(s) URL instead of runtime_action, else NULL */
    bool batch;           /* delivery_type: batch (webhooks only) */
    char **secrets;       /* "whsec_<base64>" signing secrets of a webhook, oldest first */
    size_t nsecrets;
    interest_t *interests;
    size_t ninterests;
    int64_t *retry_schedule_ms; /* delays after attempt 1, 2, ...; the last repeats */
    size_t nretry;
    int64_t retry_max_age_ms;   /* from the first attempt; then dead letter */
    int64_t retry_jitter_pct;   /* 0..100, default 10 */
    char *ordering_key;         /* JSON path into the CloudEvent, e.g. "data.sku"; NULL = unordered */
    json_t *filter_spec;        /* the filter: an Event Ruler pattern as written; NULL = every event */
    filter_t *filter;           /* filter_spec compiled */
    int max_concurrency;        /* flow_control.concurrency: deliveries in flight; 0 = no cap */
    int64_t rate_count;         /* flow_control.rate: requests per rate_window_ms; 0 = no limit */
    int64_t rate_window_ms;
} registration_t;

typedef struct provider {
    char *key;
    char *label;
    char *description;
} provider_t;

typedef struct event_code {
    char *entity;         /* "product" */
    char *provider;       /* "backoffice" */
    char *code;           /* "be-observer.catalog_product_create" */
    json_t *sample;       /* sampleEventTemplate (may be NULL) */
} event_code_t;

typedef struct app {
    char *dir;            /* absolute app folder */
    char *name;           /* from package.json / folder name */
    action_t *actions;
    size_t nactions;
    registration_t *registrations;
    size_t nregistrations;
    provider_t *providers;
    size_t nproviders;
    event_code_t *events;
    size_t nevents;
    json_t *env;          /* merged environment seen by $VAR: process env over .env */
    trigger_t *triggers;
    size_t ntriggers;
    rule_t *rules;
    size_t nrules;
} app_t;

typedef enum { DIAG_ERROR, DIAG_WARNING } diag_severity;
typedef struct diag {
    diag_severity severity;
    char *file;           /* path relative to the app folder when inside it */
    int line;             /* 1-based; 0 when unknown */
    int column;
    char *message;
} diag_t;
typedef struct diags {
    diag_t *items;
    size_t n, cap;
    size_t errors, warnings;
} diags_t;

void diags_init(diags_t *d);
void diags_add(diags_t *d, diag_severity sev, const char *file, int line, int column,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "file:line:col: error: message" one per line. */
void diags_print(const diags_t *d, FILE *out);
void diags_free(diags_t *d);

/* Loads dir. Returns NULL when there are errors (all in d); warnings alone
 * still return the app. Missing $VARs are warnings naming each variable and
 * resolve to "". */
app_t *app_load(const char *dir, diags_t *d);
/* app_load with env (an object of strings, or NULL) as all that $VARs see,
 * in place of .env and the process environment (evkit test). */
app_t *app_load_env(const char *dir, const json_t *env, diags_t *d);
void app_free(app_t *app);

const action_t *app_action(const app_t *app, const char *fqn);
/* An action as OpenWhisk manifests name it from package pkg: "action" (in
 * pkg), "pkg/action", "/namespace/pkg/action" or "/_/pkg/action". */
const action_t *app_action_ref(const app_t *app, const char *pkg, const char *ref);
const trigger_t *app_trigger(const app_t *app, const char *name);
const registration_t *app_registration(const app_t *app, const char *name);
const provider_t *app_provider(const app_t *app, const char *key);
const event_code_t *app_event_code(const app_t *app, const char *provider, const char *code);
/* True when reg takes events of (provider, type); provider NULL matches any
 * provider. Codes match exactly. */
bool registration_matches(const registration_t *reg, const char *provider, const char *type);

/* A registration declared as JSON (the registrations API), checked by the
 * same rules as app.config.yaml against app's actions, providers and event
 * codes. Problems go to d (an unknown key is a warning there); NULL when
 * there are errors. Free with registration_free. */
registration_t *registration_from_json(const app_t *app, const char *name, const json_t *spec,
                                       diags_t *d);
/* reg's events_of_interest as the JSON that declares them:
 * [{provider_metadata, event_codes: [...]}, ...]. */
json_t *registration_interests_json(const registration_t *reg);
/* Frees what r holds and r itself (only for registration_from_json's). */
void registration_free(registration_t *r);
/* True for "whsec_" followed by non-empty valid base64. */
bool webhook_secret_valid(const char *s);
/* True for a registration name: 1..128 of [A-Za-z0-9_.@-], starting with a
 * letter, digit or '_' (names end up in URLs). */
bool registration_name_valid(const char *s);

/* The default retry policy of the hosted service: 1, 2, 4, 8 minutes, then
 * every 15 minutes, until 24 h after the first attempt, 10% jitter.
 * Replaces (frees) reg->retry_schedule_ms, so reg must be zero-initialised
 * or already hold a schedule; outside an app the caller frees
 * reg->retry_schedule_ms. */
void registration_default_retry(registration_t *reg);

#endif
