/* server: libmicrohttpd glue. One thread per connection, so a request that
 * waits for a durable publish holds only its own thread while concurrent
 * publishes share an fsync (group commit). Request bodies are capped at
 * WEB_MAX_BODY before any parsing. */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "http/api.h"
#include "http/invoker.h"
#include "http/console.h"
#include "http/web.h"
#include "metrics/metrics.h"
#include "runtime/runtime.h"

struct http_server {
    struct MHD_Daemon *mhd;
    engine_t *engine;
    int port;
};

typedef struct request_state {
    buf_t body;
    bool too_large;
    const char *route;      /* bounded route name for metrics */
    const char *method;     /* static: metrics folds it to a known name */
    double started;         /* mono_s() at the first call */
} request_state;

static enum MHD_Result send_response(struct MHD_Connection *c, web_response *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *)"",
                                        MHD_RESPMEM_MUST_COPY);
    const char *k;
    json_t *v;
    json_object_foreach(r->headers, k, v) {
        if (json_is_string(v)) MHD_add_response_header(resp, k, json_string_value(v));
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg)
{
    web_response r;
    web_response_init(&r);
    web_error(&r, status, "%s", msg);
    enum MHD_Result ret = send_response(c, &r);
    web_response_free(&r);
    return ret;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    json_t *obj = cls;
    char *name = xstrdup(key);
    for (char *p = name; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    json_t *jv = json_string(value ? value : "");
    if (jv) {
        /* Repeated headers fold into one comma-separated value (RFC 9110). */
        const char *prev = json_string_value(json_object_get(obj, name));
        if (prev) {
            char *joined = xasprintf("%s, %s", prev, value ? value : "");
            json_decref(jv);
            jv = json_string(joined);
            free(joined);
        }
        if (jv) json_object_set_new(obj, name, jv);
    }
    free(name);
    return MHD_YES;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    json_t *jv = json_string(value ? value : "");
    /* json_object_set_new refuses (and frees) values under keys that are not UTF-8. */
    if (jv) json_object_set_new(cls, key, jv);
    else json_decref(jv);
    return MHD_YES;
}

static enum MHD_Result append_query_raw(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    buf_t *b = cls;
    if (b->len) buf_append(b, "&", 1);
    buf_append(b, key, strlen(key));
    if (value) {
        buf_append(b, "=", 1);
        buf_append(b, value, strlen(value));
    }
    return MHD_YES;
}

/* Splits "/a/b/c/rest" into at most n segments; the last gets the rest. */
static int split_path(const char *path, char **seg, int n)
{
    int i = 0;
    const char *p = path;
    while (*p == '/') p++;
    while (*p && i < n) {
        const char *end = (i == n - 1) ? p + strlen(p) : strchr(p, '/');
        if (!end) end = p + strlen(p);
        seg[i++] = xstrndup(p, (size_t)(end - p));
        p = end;
        if (i < n) while (*p == '/') p++;
    }
    return i;
}

static void free_segs(char **seg, int n)
{
    for (int i = 0; i < n; i++) free(seg[i]);
}

static enum MHD_Result handle_web(http_server_t *srv, struct MHD_Connection *c, const char *method,
                                  const char *url, request_state *st)
{
    engine_t *e = srv->engine;
    /* url = /api/v1/web/<ns>/<pkg>/<action>[/rest] */
    char *seg[4] = {0};
    int n = split_path(url + strlen("/api/v1/web"), seg, 4);
    enum MHD_Result ret;
    if (n < 3 || strcmp(seg[0], e->namespace) != 0) {
        free_segs(seg, n);
        return send_error(c, 404, "The requested resource does not exist.");
    }
    /* The action part may carry an extension (.json, .http) as on OpenWhisk. */
    char *dot = strchr(seg[2], '.');
    if (dot && (strcmp(dot, ".json") == 0 || strcmp(dot, ".http") == 0)) *dot = '\0';
    char *fqn = xasprintf("%s/%s", seg[1], seg[2]);
    const action_t *action = app_action(e->app, fqn);
    free(fqn);
    if (!action || action->web == WEB_NO) {
        free_segs(seg, n);
        return send_error(c, 404, "The requested resource does not exist.");
    }
    char *rest = n == 4 ? xasprintf("/%s", seg[3]) : xstrdup("");
    free_segs(seg, n);

    json_t *headers = json_object();
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, headers);
    json_t *query = json_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, query);
    buf_t qraw;
    buf_init(&qraw, 0);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, append_query_raw, &qraw);

    web_response resp;
    web_response_init(&resp);
    if (action->require_auth && !web_bearer_ok(headers, e->api_tokens)) {
        web_error(&resp, 401, "The request is not authorized: a valid 'Authorization: Bearer "
                              "<token>' header is required.");
    } else {
        web_request req = {
            .method = method,
            .path = rest,
            .headers = headers,
            .query = query,
            .query_raw = qraw.data ? qraw.data : "",
            .body = st->body.data ? st->body.data : "",
            .body_len = st->body.len,
        };
        json_t *params = web_params(action, &req, &resp);
        if (params && log_get_level() <= LOG_DEBUG) {
            /* Params only ever reach the log through redaction. */
            json_t *shown = json_deep_copy(params);
            json_object_del(shown, "__ow_raw_body");
            json_object_del(shown, "__ow_body");
            log_emit(LOG_DEBUG, "web action params",
                     json_pack("{s:s, s:o}", "action", action->fqn, "params", log_redact(shown)));
            json_decref(shown);
        }
        if (params) {
            invoke_result res;
            runtime_invoke(e, action, params, NULL, &res);
            web_render(&res, &resp);
            json_decref(res.result);
            json_decref(params);
        }
    }
    ret = send_response(c, &resp);
    log_emit(LOG_DEBUG, "web request",
             json_pack("{s:s, s:s, s:i}", "method", method, "action", action->fqn, "status",
                       resp.status));
    web_response_free(&resp);
    buf_free(&qraw);
    json_decref(headers);
    json_decref(query);
    free(rest);
    return ret;
}

static enum MHD_Result handle_api(http_server_t *srv, struct MHD_Connection *c, const char *method,
                                  const char *url, request_state *st)
{
    char *seg[2] = {0};
    int n = split_path(url + strlen("/api/v1/namespaces"), seg, 2);
    json_t *headers = json_object();
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, headers);
    json_t *query = json_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, query);
    api_request req = {
        .method = method,
        .ns = n > 0 ? seg[0] : "",
        .rest = n > 1 ? seg[1] : "",
        .query = query,
        .headers = headers,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
    };
    web_response resp;
    web_response_init(&resp);
    api_handle(srv->engine, &req, &resp);
    enum MHD_Result ret = send_response(c, &resp);
    web_response_free(&resp);
    json_decref(headers);
    json_decref(query);
    free_segs(seg, n);
    return ret;
}

/* A JSON API under /api/v1 whose handler takes the path after its prefix. */
static enum MHD_Result handle_rest_api(http_server_t *srv, struct MHD_Connection *c,
                                       const char *method, const char *rest, request_state *st,
                                       void (*fn)(engine_t *, const api_request *, web_response *))
{
    json_t *headers = json_object();
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, headers);
    json_t *query = json_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, query);
    api_request req = {
        .method = method,
        .ns = "",
        .rest = rest,
        .query = query,
        .headers = headers,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
    };
    web_response resp;
    web_response_init(&resp);
    fn(srv->engine, &req, &resp);
    enum MHD_Result ret = send_response(c, &resp);
    web_response_free(&resp);
    json_decref(headers);
    json_decref(query);
    return ret;
}

/* The handlers that take their path part as an argument, adapted to
 * handle_rest_api's shape (the part arrives as req->rest). */
static void journal_api(engine_t *e, const api_request *req, web_response *out)
{
    api_journal(e, req, req->rest, out);
}

static void console_api(engine_t *e, const api_request *req, web_response *out)
{
    api_console(e, req, req->rest, out);
}

/* The web console: its files, sign-in and sign-out (console.c). */
static enum MHD_Result handle_web_console(http_server_t *srv, struct MHD_Connection *c,
                                      const char *method, const char *path, request_state *st)
{
    json_t *headers = json_object();
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, headers);
    api_request req = {
        .method = method,
        .ns = "",
        .rest = "",
        .query = NULL,
        .headers = headers,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
    };
    web_response resp;
    web_response_init(&resp);
    console_handle(srv->engine, &req, path, &resp);
    enum MHD_Result ret = send_response(c, &resp);
    web_response_free(&resp);
    json_decref(headers);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    http_server_t *srv = cls;
    request_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof *st);
        buf_init(&st->body, WEB_MAX_BODY);
        st->route = metrics_http_route(method, url);
        st->method = metrics_http_method(method);
        st->started = mono_s();
        *con_cls = st;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
        if (len > WEB_MAX_BODY) {
            st->too_large = true;
            /* A modestly oversized body is read and dropped, so the client,
             * still sending, gets the 413 instead of a broken pipe; a huge
             * one is answered at once and the connection closed. */
            if (len > 8ull * WEB_MAX_BODY)
                return send_error(c, 413, "The request body exceeds the limit of 1048576 bytes.");
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!st->too_large && buf_append(&st->body, upload_data, *upload_data_size) < 0) {
            st->too_large = true;
            buf_free(&st->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return send_error(c, 413, "The request body exceeds the limit of 1048576 bytes.");

    if (strcmp(url, "/healthz") == 0) {
        web_response r;
        web_response_init(&r);
        r.body = xstrdup("{\"status\":\"ok\"}");
        r.body_len = strlen(r.body);
        json_object_set_new(r.headers, "content-type", json_string("application/json"));
        enum MHD_Result ret = send_response(c, &r);
        web_response_free(&r);
        return ret;
    }
    if (strncmp(url, "/api/v1/web/", 12) == 0) return handle_web(srv, c, method, url, st);
    if (strncmp(url, "/api/v1/namespaces/", 19) == 0) return handle_api(srv, c, method, url, st);
    if (strcmp(url, "/api/v1/registrations") == 0 ||
        strncmp(url, "/api/v1/registrations/", 22) == 0)
        return handle_rest_api(srv, c, method, url + 21, st, api_registrations);
    if (strcmp(url, "/api/v1/providers") == 0 || strncmp(url, "/api/v1/providers/", 18) == 0)
        return handle_rest_api(srv, c, method, url + 17, st, api_providers);
    if (strcmp(url, "/api/v1/events") == 0 && strcmp(method, "POST") == 0)
        return handle_rest_api(srv, c, method, "", st, api_publish);
    if (strncmp(url, "/api/v1/journal/", 16) == 0 && strcmp(method, "GET") == 0)
        return handle_rest_api(srv, c, method, url + 16, st, journal_api);
    if (api_console_route(url)) return handle_rest_api(srv, c, method, url, st, console_api);
    if (strcmp(url, "/console") == 0 || strncmp(url, "/console/", 9) == 0)
        return handle_web_console(srv, c, method, url + 8, st);
    if (strcmp(url, "/metrics") == 0) return handle_rest_api(srv, c, method, "", st, api_metrics);
    return send_error(c, 404, "The requested resource does not exist.");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    request_state *st = *con_cls;
    if (!st) return;
    /* The status actually sent, whichever handler sent it (0: none, the
     * client went away first). */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    metrics_http_request(st->route, st->method, ci ? (int)ci->http_status : 0,
                         mono_s() - st->started);
    buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = '\0';
    log_emit(LOG_DEBUG, "http", json_pack("{s:s}", "detail", msg));
}

static const char *server_env(const engine_t *e, const char *name)
{
    const char *v = getenv(name);
    if (v) return v;
    return e->app ? json_string_value(json_object_get(e->app->env, name)) : NULL;
}

int http_start(engine_t *e, const char *addr, http_server_t **out, err_t *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    char host[128] = "127.0.0.1";
    int port = 8080;
    bool v6 = false;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') return err_set(err, "invalid listen address '%s'", addr);
        snprintf(host, sizeof host, "%.*s", (int)(close - addr - 1), addr + 1);
        port = atoi(close + 2);
        v6 = true;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon) return err_set(err, "invalid listen address '%s': want HOST:PORT", addr);
        if (colon > addr) snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
        else snprintf(host, sizeof host, "0.0.0.0");
        port = atoi(colon + 1);
    }
    if (port < 0 || port > 65535) return err_set(err, "invalid port in '%s'", addr);
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return err_set(err, "invalid IPv6 address '%s'", host);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return err_set(err, "invalid IPv4 address '%s'", host);
    }
    http_server_t *s = xcalloc(1, sizeof *s);
    s->engine = e;
    e->console_sessions = console_sessions_new(CONSOLE_SESSION_TTL_MS);
    /* Namespaces-API activations: OpenWhisk's 60 s blocking wait, and a
     * bound on non-blocking ones in flight. */
    e->blocking_wait_ms = 60000;
    const char *bw = server_env(e, "EVKIT_BLOCKING_WAIT");
    int64_t ms;
    if (bw && dur_parse(bw, &ms) == 0 && ms > 0) e->blocking_wait_ms = ms;
    else if (bw) log_warn("EVKIT_BLOCKING_WAIT is not a duration such as 60s; using 60s",
                          json_pack("{s:s}", "value", bw));
    const char *am = server_env(e, "EVKIT_ASYNC_MAX");
    int max_async = am && atoi(am) > 0 ? atoi(am) : 100;
    e->invoker = invoker_new(max_async);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    s->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)660,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                              MHD_OPTION_END);
    if (!s->mhd) {
        console_sessions_free(e->console_sessions);
        e->console_sessions = NULL;
        invoker_free(e->invoker);
        e->invoker = NULL;
        free(s);
        return err_set(err, "cannot listen on %s (address in use or not available)", addr);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    *out = s;
    return 0;
}

int http_port(const http_server_t *s) { return s->port; }

void http_stop(http_server_t *s)
{
    if (!s) return;
    MHD_stop_daemon(s->mhd);
    /* Activations still running (non-blocking, or past a blocking wait)
     * end before the engine goes. */
    invoker_free(s->engine->invoker);
    s->engine->invoker = NULL;
    console_sessions_free(s->engine->console_sessions);
    s->engine->console_sessions = NULL;
    free(s);
}
