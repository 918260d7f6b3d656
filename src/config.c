/* config: the settings table and its parsers. Defaults are written as text
 * and go through the same parser as a value from the environment, so the
 * table, `evkit config` and the README say the same thing. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/netpolicy.h"

typedef enum { T_STRING, T_LIST, T_DURATION, T_COUNT, T_RATE, T_ENUM, T_ADDRESS, T_STORE_URL,
               T_RANGES, T_URL } kind;

typedef struct setting {
    config_info info;
    kind kind;
    size_t off;                 /* the field in config_t */
    int64_t min, max;           /* count: range; duration: min (ms) */
    const char *const *choices; /* enum: NULL-ended, "warn|warning" = aliases; value = index */
} setting;

/* Index order is each enum's value (log_level, log_format, CONFIG_*). */
_Static_assert(LOG_DEBUG == 0 && LOG_INFO == 1 && LOG_WARN == 2 && LOG_ERROR == 3 && LOG_OFF == 4,
               "EVKIT_LOG_LEVEL choices follow log_level");
_Static_assert(LOG_FORMAT_JSON == 0 && LOG_FORMAT_TEXT == 1, "EVKIT_LOG_FORMAT choices");
static const char *const LOG_LEVELS[] = {"debug|trace", "info", "warn|warning", "error",
                                         "off|none", NULL};
static const char *const LOG_FORMATS[] = {"json", "text", NULL};
static const char *const PROGRESS_MODES[] = {"auto", "never", NULL};
static const char *const METRICS_AUTHS[] = {"token", "none", NULL};

#define STORE_URL_FORMS                                                                    \
    "nats://HOST:PORT or tls://HOST:PORT, comma-separated for several servers, without "   \
    "user or password (those go in EVKIT_STORE_TOKEN or EVKIT_STORE_CREDS)"
#define RANGE_FORMS "comma-separated IP addresses or CIDR ranges such as 127.0.0.0/8, ::1"
#define DURATION_FORMS "duration such as 7d, 36h, 90m, 500ms or P2D"
#define F(field) offsetof(config_t, field)
/* name, type, default, forms, help, secret, from .env */
#define INFO(name, type, dflt, forms, help, secret, app) {name, type, dflt, forms, help, secret, app}

static const setting TABLE[] = {
    {INFO("EVKIT_APP", "string", "app", "a folder", "The app folder (--app).", false, false),
     T_STRING, F(app_dir), 0, 0, NULL},
    {INFO("EVKIT_DATA", "string", "var", "a folder",
          "The journal folder: SQLite store, serve.json (--data).", false, false),
     T_STRING, F(data_dir), 0, 0, NULL},
    {INFO("EVKIT_LISTEN", "address", "127.0.0.1:8080",
          "HOST:PORT, [IPv6]:PORT or :PORT with a port from 0 to 65535",
          "Where evkit serve listens (--listen); port 0 picks a free one. The other commands "
          "reach the daemon there when <data>/serve.json names none.", false, false),
     T_ADDRESS, F(listen), 0, 0, NULL},
    {INFO("EVKIT_WORKERS", "count", "4", "a whole number from 1 to 256",
          "Delivery workers of evkit serve (--workers).", false, false),
     T_COUNT, F(workers), 1, 256, NULL},
    {INFO("EVKIT_LOG_LEVEL", "enum", "info", "debug, info, warn, error or off",
          "The lowest level logged.", false, false),
     T_ENUM, F(log_level), 0, 0, LOG_LEVELS},
    {INFO("EVKIT_LOG_FORMAT", "enum", "json", "json or text",
          "JSON lines on stderr, or readable lines, colored on a terminal (--log-format).",
          false, false),
     T_ENUM, F(log_format), 0, 0, LOG_FORMATS},
    {INFO("EVKIT_PROGRESS", "enum", "auto", "auto or never",
          "never turns the progress line of long commands off on a terminal too.", false, false),
     T_ENUM, F(progress), 0, 0, PROGRESS_MODES},
    {INFO("EVKIT_STORE", "string", "", STORE_URL_FORMS,
          "Where the journal lives: unset, SQLite in EVKIT_DATA; a NATS JetStream cluster for "
          "several evkit nodes on one journal (docs/jetstream.md).", false, false),
     T_STORE_URL, F(store_url), 0, 0, NULL},
    {INFO("EVKIT_STORE_CREDS", "string", "", "a NATS credentials file (JWT and NKey seed)",
          "How evkit authenticates to NATS with a user JWT.", false, false),
     T_STRING, F(store_creds), 0, 0, NULL},
    {INFO("EVKIT_STORE_TOKEN", "string", "", "a NATS token",
          "How evkit authenticates to NATS with a token.", true, false),
     T_STRING, F(store_token), 0, 0, NULL},
    {INFO("EVKIT_STORE_TLS_CA", "string", "", "a PEM file of CA certificates",
          "The CAs that sign the NATS servers' certificates; setting it turns TLS on.", false,
          false),
     T_STRING, F(store_tls_ca), 0, 0, NULL},
    {INFO("EVKIT_STORE_TLS_CERT", "string", "", "a PEM certificate file",
          "evkit's client certificate for NATS servers that verify clients (with the key).",
          false, false),
     T_STRING, F(store_tls_cert), 0, 0, NULL},
    {INFO("EVKIT_STORE_TLS_KEY", "string", "", "a PEM private key file",
          "The key of EVKIT_STORE_TLS_CERT.", false, false),
     T_STRING, F(store_tls_key), 0, 0, NULL},
    {INFO("EVKIT_STORE_REPLICAS", "count", "0", "a whole number from 0 to 5",
          "Replicas of evkit's JetStream streams and buckets when it creates them; 0: 3 when "
          "the cluster has 3 servers or more, else 1.", false, false),
     T_COUNT, F(store_replicas), 0, 5, NULL},
    {INFO("AIO_runtime_namespace", "string", "evkit", "a namespace name",
          "The namespace in URLs (/api/v1/web/<namespace>/...) and __OW_NAMESPACE.", false, true),
     T_STRING, F(namespace), 0, 0, NULL},
    {INFO("EVKIT_API_TOKENS", "list", "", "comma-separated tokens",
          "Bearer tokens of the JSON APIs, the console and actions annotated "
          "require-adobe-auth: true; without one those are off.", true, true),
     T_LIST, F(api_tokens), 0, 0, NULL},
    {INFO("EVKIT_METRICS_TOKEN", "list", "", "comma-separated tokens",
          "Scrape-only tokens for GET /metrics, which open nothing else.", true, true),
     T_LIST, F(metrics_tokens), 0, 0, NULL},
    {INFO("EVKIT_METRICS_AUTH", "enum", "token", "token or none",
          "none serves /metrics without a token (a scraper on a private network).", false, true),
     T_ENUM, F(metrics_auth), 0, 0, METRICS_AUTHS},
    {INFO("EVKIT_ACTIVATION_RETENTION", "duration", "7d", "a positive " DURATION_FORMS,
          "How long activation records are kept.", false, true),
     T_DURATION, F(activation_retention_ms), 1, 0, NULL},
    {INFO("EVKIT_JOURNAL_RETENTION", "duration", "7d", "a positive " DURATION_FORMS,
          "How long events are kept; an event whose delivery is pending, parked or a dead "
          "letter is kept until that is settled. Applied at start and hourly.", false, true),
     T_DURATION, F(journal_retention_ms), 1, 0, NULL},
    {INFO("EVKIT_TRACE_RETENTION", "duration", "7d", "a " DURATION_FORMS ", or 0",
          "How long delivery traces are all kept.", false, true),
     T_DURATION, F(trace_retention_ms), 0, 0, NULL},
    {INFO("EVKIT_TRACE_KEEP", "count", "100", "a whole number from 0 to 1000000",
          "How many of the newest successes and of the newest errors each registration keeps "
          "beyond EVKIT_TRACE_RETENTION.", false, true),
     T_COUNT, F(trace_keep), 0, 1000000, NULL},
    {INFO("EVKIT_PUBLISH_RATE", "rate", "3000/5s",
          "COUNT/DURATION such as 3000/5s, COUNT per second such as 200, or off",
          "Requests per credential on the publishing API, a token bucket; 429 beyond.", false,
          true),
     T_RATE, F(publish_rate), 0, 0, NULL},
    {INFO("EVKIT_ASYNC_MAX", "count", "100", "a whole number from 1 to 100000",
          "Non-blocking namespaces-API invocations in flight; 429 beyond.", false, true),
     T_COUNT, F(async_max), 1, 100000, NULL},
    {INFO("EVKIT_BLOCKING_WAIT", "duration", "60s", "a positive " DURATION_FORMS,
          "How long a blocking namespaces-API invocation waits before it answers 202 with the "
          "activation id.", false, true),
     T_DURATION, F(blocking_wait_ms), 1, 0, NULL},
    {INFO("OAUTH_CLIENT_ID", "string", "", "a client id",
          "The client id of IMS client-credentials tokens (POST /ims/token/v2, v3), as the "
          "Adobe libraries ask for them; with OAUTH_CLIENT_SECRET it turns IMS tokens on.",
          false, true),
     T_STRING, F(oauth_client_id), 0, 0, NULL},
    {INFO("OAUTH_CLIENT_SECRET", "string", "", "a client secret",
          "The secret that client must present for a token.", true, true),
     T_STRING, F(oauth_client_secret), 0, 0, NULL},
    {INFO("EVKIT_NODE", "string", "", "a path to a node executable",
          "The Node.js that runs nodejs actions; without it, node on PATH.", false, true),
     T_STRING, F(node), 0, 0, NULL},
    {INFO("EVKIT_HTTP_MAX_CONNECTIONS", "count", "1024", "a whole number from 16 to 65536",
          "Open HTTP connections in all; a connection past it is closed at once.", false, true),
     T_COUNT, F(http_max_conns), 16, 65536, NULL},
    {INFO("EVKIT_HTTP_MAX_CONNECTIONS_PER_IP", "count", "256", "a whole number from 1 to 65536",
          "Open HTTP connections of one client address (an IPv6 /64); past it a new one is "
          "closed at once, so one client cannot take every connection.", false, true),
     T_COUNT, F(http_max_per_ip), 1, 65536, NULL},
    {INFO("EVKIT_HTTP_HEADER_TIMEOUT", "duration", "10s", "a positive " DURATION_FORMS,
          "How long a connection's first request line and headers may take to arrive (from "
          "the connection's start); a kept-alive connection's next head must be whole within "
          "EVKIT_HTTP_IDLE_TIMEOUT plus this after the answer before it. Past it the connection "
          "is closed.", false, true),
     T_DURATION, F(http_header_timeout_ms), 1, 0, NULL},
    {INFO("EVKIT_HTTP_IDLE_TIMEOUT", "duration", "30s", "a positive " DURATION_FORMS,
          "How long a kept-alive connection may wait for its next request, and a request body "
          "may stall, in whole seconds (rounded up); past it the connection is closed.",
          false, true),
     T_DURATION, F(http_idle_timeout_ms), 1, 0, NULL},
    {INFO("EVKIT_WEBHOOK_ALLOW", "ranges", "", RANGE_FORMS,
          "Internal addresses webhooks may reach. A webhook registration's challenge and every "
          "delivery connect only to public addresses, checked after name resolution when the "
          "connection is made; loopback, private, link-local, multicast and cloud-metadata "
          "addresses are refused unless named here.", false, true),
     T_RANGES, F(webhook_allow), 0, 0, NULL},
    {INFO("EVKIT_ACTION_HTTP_ALLOW", "ranges", "", RANGE_FORMS,
          "Link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, "
          "100.100.100.200) that evkit.http from actions may reach; refused otherwise, checked "
          "when the connection is made. Other addresses are open to actions.", false, true),
     T_RANGES, F(action_http_allow), 0, 0, NULL},
    {INFO("EVKIT_AUTH_FAILURES", "rate", "100/1m",
          "COUNT/DURATION such as 100/1m, COUNT per second such as 2, or off",
          "Failed authentications (401s) per client address, a token bucket; past it every "
          "request that needs or presents a credential gets 429 with Retry-After.", false, true),
     T_RATE, F(auth_failures), 0, 0, NULL},
    {INFO("EVKIT_PUBLIC_URL", "url", "", "an http:// or https:// URL",
          "The URL clients reach evkit at, when a proxy in front of it terminates TLS; an "
          "https:// one marks the console's session cookie Secure.", false, true),
     T_URL, F(public_url), 0, 0, NULL},
    {INFO("EVKIT_STATE_VALUE_MAX", "count", "1048576", "a number of bytes from 1024 to 268435456",
          "The largest state value (its JSON text) that evkit.state.put and the state API "
          "store; a larger one is refused (a Lua error; 413).", false, true),
     T_COUNT, F(state_value_max), 1024, 268435456, NULL},
};
#define NTABLE (sizeof TABLE / sizeof TABLE[0])
_Static_assert(NTABLE <= CONFIG_MAX_SETTINGS, "room for every setting in config_t");

size_t config_count(void) { return NTABLE; }

const config_info *config_at(size_t i) { return i < NTABLE ? &TABLE[i].info : NULL; }

const char *config_source_name(config_source s)
{
    switch (s) {
    case CONFIG_ENV: return "env";
    case CONFIG_DOTENV: return ".env";
    default: return "default";
    }
}

const char *config_lookup(const app_t *app, const char *name, config_source *from)
{
    const char *v = getenv(name);
    config_source src = CONFIG_ENV;
    if (!v && app && json_is_object(app->env)) {
        v = json_string_value(json_object_get(app->env, name));
        src = CONFIG_DOTENV;
    }
    if (from) *from = v ? src : CONFIG_DEFAULT;
    return v;
}

/* ---- parsers: 0 and the value in *field, or -1 ---- */

static int parse_count(const char *s, int64_t min, int64_t max, int *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

static int parse_enum(const char *s, const char *const *choices, int *out)
{
    size_t n = strlen(s);
    for (int i = 0; choices[i]; i++) {
        for (const char *c = choices[i]; *c;) {
            size_t len = strcspn(c, "|");
            if (len == n && strncasecmp(c, s, n) == 0) {
                *out = i;
                return 0;
            }
            c += len + (c[len] == '|');
        }
    }
    return -1;
}

/* "3000/5s" (requests per duration), "200" (per second), "off" or "0". The
 * burst is the count: 3000/5s allows 3,000 at once, refilled at 600/s. */
int config_parse_rate(const char *s, config_rate *out)
{
    if (!strcasecmp(s, "off") || !strcmp(s, "0")) {
        out->per_s = out->burst = 0;
        return 0;
    }
    char *end;
    double count = strtod(s, &end);
    if (end == s || !(count > 0) || !isfinite(count)) return -1;
    int64_t window = 1000;
    if (*end == '/') {
        if (dur_parse(end + 1, &window) < 0 || window <= 0) return -1;
    } else if (*end) {
        return -1;
    }
    out->per_s = count * 1000.0 / (double)window;
    out->burst = count < 1 ? 1 : count;
    return 0;
}

static int parse_address(const char *s)
{
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':') return -1;
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) return -1;
        port = colon + 1;
    }
    size_t n = strlen(port);
    if (n == 0 || n > 5 || strspn(port, "0123456789") != n) return -1;
    return atoi(port) <= 65535 ? 0 : -1;
}

/* Each comma-separated server a nats:// or tls:// URL with a host; no
 * credentials in it, since evkit config shows the value. */
static int parse_store_url(const char *s)
{
    char *copy = xstrdup(s), *save = NULL;
    int rc = 0, n = 0;
    for (char *t = strtok_r(copy, ", \t", &save); t && rc == 0;
         t = strtok_r(NULL, ", \t", &save)) {
        const char *host = !strncmp(t, "nats://", 7)  ? t + 7
                           : !strncmp(t, "tls://", 6) ? t + 6
                                                      : NULL;
        if (!host || !*host || *host == ':' || strchr(host, '@') || strchr(host, '/')) rc = -1;
        n++;
    }
    free(copy);
    return rc; /* "" (the default): SQLite */
}

static json_t *parse_list(const char *s)
{
    json_t *a = json_array();
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
        json_array_append_new(a, json_string(t));
    free(copy);
    return a;
}

static int parse_into(const setting *st, config_t *c, const char *s)
{
    void *field = (char *)c + st->off;
    int64_t ms;
    switch (st->kind) {
    case T_STRING:
        free(*(char **)field);
        *(char **)field = xstrdup(s);
        return 0;
    case T_URL: /* "" (the default: none), or http(s):// and a host */
        if (*s && strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) return -1;
        if (*s && (!s[strcspn(s, ":") + 3] || strchr(s, ' '))) return -1;
        free(*(char **)field);
        *(char **)field = xstrdup(s);
        return 0;
    case T_ADDRESS:
        if (parse_address(s) < 0) return -1;
        free(*(char **)field);
        *(char **)field = xstrdup(s);
        return 0;
    case T_STORE_URL:
        if (parse_store_url(s) < 0) return -1;
        free(*(char **)field);
        *(char **)field = xstrdup(s);
        return 0;
    case T_LIST:
        json_decref(*(json_t **)field);
        *(json_t **)field = parse_list(s);
        return 0;
    case T_RANGES: {
        json_t *l = parse_list(s);
        size_t i;
        json_t *r;
        json_array_foreach(l, i, r) {
            if (!net_range_valid(json_string_value(r))) {
                json_decref(l);
                return -1;
            }
        }
        json_decref(*(json_t **)field);
        *(json_t **)field = l;
        return 0;
    }
    case T_DURATION:
        if (dur_parse(s, &ms) < 0 || ms < st->min) return -1;
        *(int64_t *)field = ms;
        return 0;
    case T_COUNT: return parse_count(s, st->min, st->max, field);
    case T_RATE: return config_parse_rate(s, field);
    case T_ENUM: return parse_enum(s, st->choices, field);
    }
    return -1;
}

static void set_default(const setting *st, config_t *c)
{
    if (parse_into(st, c, st->info.dflt) < 0) abort(); /* the table is wrong */
}

void config_init(config_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NTABLE; i++) set_default(&TABLE[i], c);
}

/* "EVKIT_X 'v' is not <forms>", with where a value from .env was set. */
static int bad_value(const setting *st, const char *v, config_source from, err_t *err)
{
    /* A store URL with user and password in it is refused, unseen. */
    bool hide = st->info.secret || (st->kind == T_STORE_URL && strchr(v, '@'));
    return err_code(err, EVK_INVALID, "%s '%.80s' is not %s%s", st->info.name,
                    hide ? "<hidden>" : v, st->info.forms,
                    from == CONFIG_DOTENV ? " (set in the app's .env)" : "");
}

int config_load(config_t *c, const app_t *app, unsigned scopes, err_t *err)
{
    for (size_t i = 0; i < NTABLE; i++) {
        const setting *st = &TABLE[i];
        if (!(scopes & (st->info.app ? CONFIG_APP : CONFIG_PROCESS))) continue;
        config_source from;
        const char *v = config_lookup(st->info.app ? app : NULL, st->info.name, &from);
        free(c->raw[i]);
        c->raw[i] = NULL;
        c->from[i] = CONFIG_DEFAULT;
        set_default(st, c);
        /* Empty is unset: the default (an empty value in the environment
         * still hides the app's .env). */
        if (!v || !*v) continue;
        if (parse_into(st, c, v) < 0) {
            err_t bad;
            bad_value(st, v, from, &bad);
            /* A bad store is never worked around: the default would be
             * another journal (SQLite here instead of the cluster). */
            if (!(scopes & CONFIG_LENIENT) || st->kind == T_STORE_URL) {
                if (err) *err = bad;
                return -1;
            }
            char msg[sizeof bad.msg + 64];
            snprintf(msg, sizeof msg, "%s; using the default '%s'", bad.msg, st->info.dflt);
            log_warn(msg, json_pack("{s:s}", "setting", st->info.name));
            continue;
        }
        c->from[i] = from;
        c->raw[i] = xstrdup(v);
    }
    return 0;
}

static int check_list(const json_t *tokens, const char *name, err_t *err)
{
    size_t i;
    json_t *t;
    json_array_foreach(tokens, i, t) {
        size_t n = strlen(json_string_value(t));
        if (n < CONFIG_TOKEN_MIN)
            return err_code(err, EVK_INVALID,
                            "%s: token %zu of %zu has %zu characters; every token needs at "
                            "least %d (make one with: openssl rand -hex 32)",
                            name, i + 1, json_array_size(tokens), n, CONFIG_TOKEN_MIN);
    }
    return 0;
}

int config_check_tokens(const config_t *c, err_t *err)
{
    if (check_list(c->api_tokens, "EVKIT_API_TOKENS", err) < 0) return -1;
    return check_list(c->metrics_tokens, "EVKIT_METRICS_TOKEN", err);
}

void config_free(config_t *c)
{
    for (size_t i = 0; i < NTABLE; i++) {
        const setting *st = &TABLE[i];
        void *field = (char *)c + st->off;
        if (st->kind == T_STRING || st->kind == T_ADDRESS || st->kind == T_STORE_URL ||
            st->kind == T_URL)
            free(*(char **)field);
        else if (st->kind == T_LIST || st->kind == T_RANGES) json_decref(*(json_t **)field);
        free(c->raw[i]);
    }
    memset(c, 0, sizeof *c);
}

json_t *config_describe(const config_t *c)
{
    json_t *out = json_array();
    for (size_t i = 0; i < NTABLE; i++) {
        const config_info *in = &TABLE[i].info;
        const char *v = c->raw[i] ? c->raw[i] : in->dflt;
        if (in->secret && c->raw[i]) v = "<hidden>";
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "name", in->name, "value", v,
                                             "source", config_source_name(c->from[i])));
    }
    return out;
}

static const char *or_null(const char *s) { return s && *s ? s : NULL; }

void config_store_opts(const config_t *c, const char *dir, store_opts *o)
{
    *o = (store_opts){
        .dir = dir,
        .url = or_null(c->store_url),
        .creds = or_null(c->store_creds),
        .token = or_null(c->store_token),
        .tls_ca = or_null(c->store_tls_ca),
        .tls_cert = or_null(c->store_tls_cert),
        .tls_key = or_null(c->store_tls_key),
        .replicas = c->store_replicas,
    };
}
