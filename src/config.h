/* config: evkit's settings, one table. Every EVKIT_* variable (and
 * AIO_runtime_namespace) is declared once in config.c with its type, default,
 * accepted forms and help, parsed once at start into a config_t that the
 * subsystems read; nothing else calls getenv for a setting.
 *
 * A setting is looked up in the process environment first, then (for the
 * settings that may come from the app) in the app's .env. A value that does
 * not parse is an error naming the variable and the forms it accepts; a
 * secret's value is never shown, in an error or in config_describe. */
#ifndef EVKIT_CONFIG_H
#define EVKIT_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"
#include "manifest/manifest.h"
#include "store/store.h"

typedef enum { CONFIG_DEFAULT = 0, CONFIG_ENV, CONFIG_DOTENV } config_source;

/* Which settings config_load reads. PROCESS: environment only, known before
 * the app is (the app folder itself, the log); APP: environment, then the
 * app's .env. LENIENT: a bad value keeps its default and is logged as a
 * warning instead of failing (the commands other than serve and config). */
enum { CONFIG_PROCESS = 1u, CONFIG_APP = 2u, CONFIG_ALL = 3u, CONFIG_LENIENT = 4u };

#define CONFIG_MAX_SETTINGS 64

/* The values of the enum settings besides the log's (log_level, log_format). */
enum { CONFIG_PROGRESS_AUTO = 0, CONFIG_PROGRESS_NEVER };
enum { CONFIG_METRICS_TOKEN = 0, CONFIG_METRICS_NONE };

typedef struct config_rate {
    double per_s;   /* refill rate; 0 = no limit ("off") */
    double burst;   /* bucket size */
} config_rate;

typedef struct config {
    /* process settings */
    char *app_dir;                   /* EVKIT_APP */
    char *data_dir;                  /* EVKIT_DATA */
    char *listen;                    /* EVKIT_LISTEN */
    int workers;                     /* EVKIT_WORKERS */
    int log_level;                   /* EVKIT_LOG_LEVEL, a log_level */
    int log_format;                  /* EVKIT_LOG_FORMAT, a log_format */
    int progress;                    /* EVKIT_PROGRESS: CONFIG_PROGRESS_* */
    char *store_url;                 /* EVKIT_STORE ("" when unset: SQLite) */
    char *store_creds;               /* EVKIT_STORE_CREDS ("" when unset) */
    char *store_token;               /* EVKIT_STORE_TOKEN ("" when unset) */
    char *store_tls_ca;              /* EVKIT_STORE_TLS_CA ("" when unset) */
    char *store_tls_cert;            /* EVKIT_STORE_TLS_CERT ("" when unset) */
    char *store_tls_key;             /* EVKIT_STORE_TLS_KEY ("" when unset) */
    int store_replicas;              /* EVKIT_STORE_REPLICAS, 0: by the cluster's size */
    /* app settings */
    char *namespace;                 /* AIO_runtime_namespace */
    json_t *api_tokens;              /* EVKIT_API_TOKENS: array of strings */
    json_t *metrics_tokens;          /* EVKIT_METRICS_TOKEN: array of strings */
    int metrics_auth;                /* EVKIT_METRICS_AUTH: CONFIG_METRICS_* */
    int64_t activation_retention_ms; /* EVKIT_ACTIVATION_RETENTION */
    int64_t journal_retention_ms;    /* EVKIT_JOURNAL_RETENTION */
    int64_t trace_retention_ms;      /* EVKIT_TRACE_RETENTION */
    int trace_keep;                  /* EVKIT_TRACE_KEEP */
    config_rate publish_rate;        /* EVKIT_PUBLISH_RATE */
    int async_max;                   /* EVKIT_ASYNC_MAX */
    int64_t blocking_wait_ms;        /* EVKIT_BLOCKING_WAIT */
    char *oauth_client_id;           /* OAUTH_CLIENT_ID ("" when unset) */
    char *oauth_client_secret;       /* OAUTH_CLIENT_SECRET ("" when unset) */
    char *node;                      /* EVKIT_NODE ("" when unset: node on PATH) */
    json_t *webhook_allow;           /* EVKIT_WEBHOOK_ALLOW: addresses and CIDR ranges */
    json_t *action_http_allow;       /* EVKIT_ACTION_HTTP_ALLOW: likewise */
    int http_max_conns;              /* EVKIT_HTTP_MAX_CONNECTIONS */
    int http_max_per_ip;             /* EVKIT_HTTP_MAX_CONNECTIONS_PER_IP */
    int64_t http_header_timeout_ms;  /* EVKIT_HTTP_HEADER_TIMEOUT */
    int64_t http_idle_timeout_ms;    /* EVKIT_HTTP_IDLE_TIMEOUT */
    config_rate auth_failures;       /* EVKIT_AUTH_FAILURES */
    char *public_url;                /* EVKIT_PUBLIC_URL ("" when unset) */
    int state_value_max;             /* EVKIT_STATE_VALUE_MAX, bytes */
    /* where each setting's value came from, and the text it was read from
     * (NULL for a default), by table index */
    config_source from[CONFIG_MAX_SETTINGS];
    char *raw[CONFIG_MAX_SETTINGS];
} config_t;

/* The table, for documentation and checks. forms: the accepted forms in
 * words ("a duration such as 7d, 36h or P2D"). */
typedef struct config_info {
    const char *name;
    const char *type;       /* "string", "list", "duration", "count", "rate", "enum", "address",
                             * "ranges", "url" */
    const char *dflt;       /* as written in the README ("" for none) */
    const char *forms;
    const char *help;
    bool secret;
    bool app;               /* may come from the app's .env */
} config_info;
size_t config_count(void);
const config_info *config_at(size_t i);

/* Fills every setting with its default. */
void config_init(config_t *c);
/* Reads the settings in scopes (CONFIG_PROCESS, CONFIG_APP, with
 * CONFIG_LENIENT or not) from the environment and app's .env (app may be
 * NULL: the environment only). -1 with err (EVK_INVALID) at the first bad
 * value unless lenient. */
int config_load(config_t *c, const app_t *app, unsigned scopes, err_t *err);

/* Tokens that evkit serve accepts: every one of EVKIT_API_TOKENS and
 * EVKIT_METRICS_TOKEN at least CONFIG_TOKEN_MIN characters long (a short
 * one could be guessed); else -1 naming the setting, never the token. */
#define CONFIG_TOKEN_MIN 32
int config_check_tokens(const config_t *c, err_t *err);
void config_free(config_t *c);

/* The one "environment, then the app's .env" lookup: the value of name or
 * NULL; *from (may be NULL) tells where it was found. app may be NULL. */
const char *config_lookup(const app_t *app, const char *name, config_source *from);

const char *config_source_name(config_source s);

/* A rate as EVKIT_PUBLISH_RATE takes it: "3000/5s" (requests per duration,
 * burst 3000 refilled at 600/s), "200" (per second) or "off"/"0" (per_s 0).
 * -1 when malformed. */
int config_parse_rate(const char *s, config_rate *out);   /* "default", "env", ".env" */

/* The store options the settings give, the journal folder dir beside
 * (strings borrowed from c; "" settings become NULL). */
void config_store_opts(const config_t *c, const char *dir, store_opts *o);

/* The effective settings: [{name, value, source}] in table order, a secret
 * that is set shown as "<hidden>". Caller decrefs. */
json_t *config_describe(const config_t *c);

#endif
