/* server: libmicrohttpd glue, the HTTP context, /healthz and web actions.
 * The door (door.c) accepts, caps connections and screens each connection's
 * first request on its raw bytes before libmicrohttpd takes it. Then
 * libmicrohttpd's event threads (epoll, one per core) read, parse and write
 * every connection; a later request on a kept-alive connection is screened
 * here, in its callbacks (screen.c). A request whose answer may wait (a web
 * action, a durable publish, an invoke) is suspended and handed to a pool
 * thread (workpool.c), which resumes it with the answer: the event threads
 * never wait, and concurrent publishes still share an fsync (group commit).
 * Request bodies are capped at WEB_MAX_BODY before any parsing; routing,
 * authorization and the metrics route label are the route table's
 * (routes.c). */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/vec.h"
#include "http/api.h"
#include "http/console.h"
#include "http/door.h"
#include "http/ims.h"
#include "http/invoker.h"
#include "config.h"
#include "http/ratelimit.h"
#include "http/routes.h"
#include "http/screen.h"
#include "http/web.h"
#include "http/workpool.h"
#include "metrics/metrics.h"
#include "runtime/runtime.h"

/* One per connection (libmicrohttpd's socket context). */
typedef struct conn_state {
    int fd;
    size_t slot;            /* its index in the server's table */
    unsigned requests;      /* requests it has finished */
    _Atomic int64_t due;    /* kept alive: its next head must be whole by then (mono ms); 0: none */
} conn_state;

struct http_server {
    struct MHD_Daemon *mhd;
    door_t *door;
    workpool_t *pool;
    pthread_t returner;
    bool returner_up;
    pthread_mutex_t mu;
    pthread_cond_t stop_cv;
    bool stopping;
    atomic_bool closing;    /* stopping: answers no more requests on a pool thread */
    pthread_mutex_t conns_mu;
    conn_state **conns;     /* every open connection, for the header deadline */
    size_t nconns, conns_cap;
    int64_t next_head_ms;   /* a kept-alive connection's wait for its next whole head */
    http_ctx ctx;
    int port;
};

typedef struct request_state {
    http_server_t *srv;
    struct MHD_Connection *conn;
    buf_t body;
    const char *uri_end;    /* the raw URI's first NUL, seen before libmicrohttpd changed it */
    screen_pending pend;    /* until its head reaches on_head (screen.h) */
    bool headed;            /* its head was seen (on_head) */
    bool keep_alive;        /* the client keeps the connection for another request */
    bool closing;           /* answered before its body was read: the connection ends */
    bool too_large;
    bool answered;          /* a pool thread left its answer in resp */
    route_match match;      /* found on arrival: its row's label counts even a 413 */
    const char *method;     /* static: metrics folds it to a known name */
    double started;         /* mono_s() when its request line arrived */
    /* What a pool thread needs, gathered on the event thread. */
    api_request req;
    json_t *headers, *query;
    buf_t qraw;
    web_response resp;
} request_state;

static enum MHD_Result send_response(struct MHD_Connection *c, web_response *r, bool closing)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *)"",
                                        MHD_RESPMEM_MUST_COPY);
    const char *k;
    json_t *v;
    json_object_foreach(r->headers, k, v) {
        if (json_is_string(v)) MHD_add_response_header(resp, k, json_string_value(v));
    }
    if (closing) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* An answer before the body is read: the connection ends with it. */
static enum MHD_Result send_error(struct MHD_Connection *c, request_state *st, int status,
                                  const char *msg)
{
    web_response r;
    web_response_init(&r);
    web_error(&r, status, "%s", msg);
    st->closing = true;
    enum MHD_Result ret = send_response(c, &r, true);
    web_response_free(&r);
    return ret;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    json_t *obj = cls;
    /* Lower-cased on the stack; a name too long for it goes to the heap. */
    char small[256];
    size_t klen = strlen(key);
    char *name = klen < sizeof small ? small : xmalloc(klen + 1);
    for (size_t i = 0; i <= klen; i++)
        name[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
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
    if (name != small) free(name);
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

/* Percent-decoding of the path and query with "%00" decoded as 0xFF, a byte
 * no UTF-8 text holds: a NUL would silently cut the string short (so
 * "webhook%00.lua" would reach "webhook"), while 0xFF is seen and refused. */
static size_t unescape_keeping_nul(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    for (char *p = strstr(s, "%00"); p; p = strstr(p + 3, "%00")) {
        p[1] = 'F';
        p[2] = 'F';
    }
    return MHD_http_unescape(s);
}

static bool has_marker(const char *s, size_t n)
{
    return memchr(s, 0xff, n) != NULL;
}

/* A header or argument that holds a NUL (or a decoded %00). */
static enum MHD_Result find_nul(void *cls, enum MHD_ValueKind kind, const char *key,
                                size_t key_size, const char *value, size_t value_size)
{
    const char **bad = cls;
    bool nul = strlen(key) != key_size || (value && strlen(value) != value_size) ||
               (kind == MHD_GET_ARGUMENT_KIND &&
                (has_marker(key, key_size) || (value && has_marker(value, value_size))));
    if (!nul) return MHD_YES;
    *bad = kind == MHD_HEADER_KIND ? "a header" : "a query argument";
    return MHD_NO;
}

/* Refuses NUL bytes in the path, the headers and the query: 400, never a
 * shortened string. */
static const char *nul_in_request(struct MHD_Connection *c, const char *url)
{
    if (has_marker(url, strlen(url))) return "the path";
    const char *bad = NULL;
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, find_nul, &bad);
    if (!bad) MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, find_nul, &bad);
    return bad;
}

/* The next '/'-separated segment of *p (leading slashes skipped): its
 * start and length; *p moves past it. */
static const char *next_seg(const char **p, size_t *len)
{
    while (**p == '/') (*p)++;
    const char *start = *p;
    while (**p && **p != '/') (*p)++;
    *len = (size_t)(*p - start);
    return start;
}

const action_t *web_action_find(const http_ctx *h, const char *path, char **rest)
{
    engine_t *e = h->e;
    if (rest) *rest = NULL;
    /* path = <ns>/<pkg>/<action>[/rest], read in place: one request must
     * not pay allocations to find its action. */
    const char *p = path ? path : "";
    size_t nl, pl, al;
    const char *ns = next_seg(&p, &nl);
    const char *pkg = next_seg(&p, &pl);
    const char *act = next_seg(&p, &al);
    if (!nl || !pl || !al || strlen(e->namespace) != nl || memcmp(ns, e->namespace, nl) != 0)
        return NULL;
    /* The action part may carry an extension (.json, .http) as on OpenWhisk. */
    const char *dot = memchr(act, '.', al);
    if (dot && ((size_t)(act + al - dot) == 5 &&
                (memcmp(dot, ".json", 5) == 0 || memcmp(dot, ".http", 5) == 0)))
        al = (size_t)(dot - act);
    char small[256];
    char *fqn = pl + al + 2 <= sizeof small ? small : xmalloc(pl + al + 2);
    memcpy(fqn, pkg, pl);
    fqn[pl] = '/';
    memcpy(fqn + pl + 1, act, al);
    fqn[pl + 1 + al] = '\0';
    const action_t *action = app_action(e->app, fqn);
    if (fqn != small) free(fqn);
    if (action && action->web == WEB_NO) action = NULL;
    if (action && rest) {
        /* What follows the action segment, as "/rest" ("" if nothing). */
        while (*p == '/') p++;
        *rest = *p ? xasprintf("/%s", p) : xstrdup("");
    }
    return action;
}

void http_web_action(http_ctx *h, const api_request *req, web_response *out)
{
    char *rest = NULL;
    const action_t *action = web_action_find(h, req->arg[0], &rest);
    if (!action) {
        web_error(out, 404, "The requested resource does not exist.");
        return;
    }
    web_request wreq = {
        .method = req->method,
        .path = rest,
        .headers = req->headers,
        .query = req->query,
        .query_raw = req->query_raw,
        .body = req->body,
        .body_len = req->body_len,
    };
    err_t err;
    json_t *params = web_params(action, &wreq, &err);
    if (!params) {
        web_fail(out, &err);
    } else {
        if (log_get_level() <= LOG_DEBUG) {
            /* Params only ever reach the log through redaction. */
            json_t *shown = json_deep_copy(params);
            json_object_del(shown, "__ow_raw_body");
            json_object_del(shown, "__ow_body");
            log_emit(LOG_DEBUG, "web action params",
                     json_pack("{s:s, s:o}", "action", action->fqn, "params", log_redact(shown)));
            json_decref(shown);
        }
        invoke_result res;
        /* A W3C traceparent on the request: the activation continues it. */
        runtime_invoke_traced(h->e, action, params, NULL,
                              json_string_value(json_object_get(req->headers, "traceparent")), &res);
        web_render(&res, out);
        json_decref(res.result);
        json_decref(params);
    }
    if (log_get_level() <= LOG_DEBUG)
        log_emit(LOG_DEBUG, "web request",
                 json_pack("{s:s, s:s, s:i}", "method", req->method, "action", action->fqn,
                           "status", out->status));
    free(rest);
}

void http_healthz(http_ctx *h, const api_request *req, web_response *out)
{
    out->status = 200;
    out->body = xstrdup("{\"status\":\"ok\"}");
    out->body_len = strlen(out->body);
    json_object_set_new(out->headers, "content-type", json_string("application/json"));
}

static conn_state *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The request, complete: what its row's handler needs, gathered on the
 * event thread (libmicrohttpd's values are read there only). */
static void gather(request_state *st, struct MHD_Connection *c, const char *method,
                   const char *url)
{
    st->headers = json_object();
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, st->headers);
    st->query = json_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, st->query);
    buf_init(&st->qraw, 0);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, append_query_raw, &st->qraw);
    uint8_t addr[16] = {0};
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci) door_addr_key(ci->client_addr, addr);
    st->req = (api_request){
        .client = ratelimit_key((const char *)addr, sizeof addr),
        .method = method,
        .url = url,
        .query = st->query,
        .query_raw = st->qraw.data ? st->qraw.data : "",
        .headers = st->headers,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
    };
}

/* On a pool thread: the row's answer, then the connection goes on. */
static void dispatch(void *arg)
{
    request_state *st = arg;
    route_dispatch(&st->srv->ctx, &st->match, &st->req, &st->resp);
    st->answered = true;
    MHD_resume_connection(st->conn);
}

/* Rows whose answer never waits are answered on the event thread. */
static bool answers_at_once(const route_match *m)
{
    api_handler h = m->route->handler;
    return m->route->auth == ROUTE_OPEN &&
           (h == http_healthz || h == route_not_found || h == route_refuse ||
            h == route_refuse_here || h == route_refuse_get_only);
}

static enum MHD_Result answer(http_server_t *srv, struct MHD_Connection *c, const char *method,
                              const char *url, request_state *st)
{
    if (st->answered) return send_response(c, &st->resp, st->closing);
    gather(st, c, method, url);
    if (answers_at_once(&st->match)) {
        route_dispatch(&srv->ctx, &st->match, &st->req, &st->resp);
        return send_response(c, &st->resp, st->closing);
    }
    if (atomic_load(&srv->closing))
        return send_error(c, st, 503, "evkit is stopping.");
    MHD_suspend_connection(c);
    workpool_run(srv->pool, dispatch, st);
    return MHD_YES;
}

/* Whether the client means to send another request on this connection
 * (HTTP/1.1 without "Connection: close"). */
static bool wants_keep_alive(struct MHD_Connection *c, const char *version)
{
    if (!version || strcmp(version, MHD_HTTP_VERSION_1_1) != 0) return false;
    const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
    return !(conn && strcasestr(conn, "close"));
}

/* The request line has arrived (libmicrohttpd's URI log callback): the
 * request's state, and where the raw URI's first NUL is before anything
 * changes it. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    request_state *st = xcalloc(1, sizeof *st);
    st->srv = cls;
    st->conn = c;
    st->uri_end = uri ? uri + strlen(uri) : NULL;
    st->started = mono_s();
    buf_init(&st->body, WEB_MAX_BODY);
    web_response_init(&st->resp);
    screen_pending_add(&st->pend, c);
    return st;
}

/* The first call of a request: the checks on its head. A kept-alive
 * connection's later request was not seen by the door: screened here. */
static enum MHD_Result on_head(struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, request_state *st)
{
    st->headed = true;
    screen_pending_del(&st->pend);
    route_find(method, url, &st->match);
    st->method = metrics_http_method(method);
    st->keep_alive = wants_keep_alive(c, version);
    st->closing = !st->keep_alive;
    conn_state *cs = conn_of(c);
    if (cs) atomic_store(&cs->due, 0);
    char msg[160];
    if (cs && cs->requests > 0) {
        const union MHD_ConnectionInfo *hs =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        size_t size = hs ? hs->header_size : 0;
        /* The door's limit (libmicrohttpd's own buffer is about twice it). */
        if (size > DOOR_MAX_HEAD)
            return send_error(c, st, 431, "The request's headers exceed 16384 bytes.");
        const char *bad = screen_head(c, method, url, version, st->uri_end, size);
        if (bad) return send_error(c, st, 400, bad);
    }
    const char *nul = nul_in_request(c, url);
    if (nul) {
        snprintf(msg, sizeof msg, "The request is malformed: %s holds a NUL byte (%%00).", nul);
        return send_error(c, st, 400, msg);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    if (len > WEB_MAX_BODY) {
        st->too_large = true;
        /* A modestly oversized body is read and dropped, so the client,
         * still sending, gets the 413 instead of a broken pipe; a huge
         * one is answered at once and the connection closed. */
        if (len > 8ull * WEB_MAX_BODY)
            return send_error(c, st, 413, "The request body exceeds the limit of 1048576 bytes.");
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server_t *srv = cls;
    request_state *st = *con_cls;
    if (!st) return MHD_NO; /* no request line seen: cannot happen */
    if (!st->headed) return on_head(c, url, method, version, st);
    if (*upload_data_size) {
        if (!st->too_large && buf_append(&st->body, upload_data, *upload_data_size) < 0) {
            st->too_large = true;
            buf_free(&st->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return send_error(c, st, 413, "The request body exceeds the limit of 1048576 bytes.");
    return answer(srv, c, method, url, st);
}

static void request_free(request_state *st)
{
    screen_pending_del(&st->pend);
    route_match_free(&st->match);
    buf_free(&st->body);
    buf_free(&st->qraw);
    json_decref(st->headers);
    json_decref(st->query);
    web_response_free(&st->resp);
    free(st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server_t *srv = cls;
    request_state *st = *con_cls;
    if (!st) return;
    /* The status actually sent, whichever handler sent it (0: none, the
     * client went away first); libmicrohttpd's own refusals count as
     * "other". */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    metrics_http_request(st->match.route ? st->match.route->label : "other",
                         st->headed ? st->method : metrics_http_method(NULL),
                         ci ? (int)ci->http_status : 0, mono_s() - st->started);
    conn_state *cs = conn_of(c);
    if (cs && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && st->keep_alive && !st->closing) {
        /* Its next request's head must be whole by then (see reap). */
        cs->requests++;
        atomic_store(&cs->due, mono_ms() + srv->next_head_ms);
    }
    request_free(st);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server_t *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_state *cs = xcalloc(1, sizeof *cs);
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        cs->fd = fd ? fd->connect_fd : -1;
        pthread_mutex_lock(&srv->conns_mu);
        VEC_GROW(srv->conns, srv->conns_cap, srv->nconns + 1);
        cs->slot = srv->nconns;
        srv->conns[srv->nconns++] = cs;
        pthread_mutex_unlock(&srv->conns_mu);
        *socket_context = cs;
        return;
    }
    conn_state *cs = *socket_context;
    if (cs) {
        /* Out of the table before libmicrohttpd closes the descriptor. */
        pthread_mutex_lock(&srv->conns_mu);
        conn_state *last = srv->conns[--srv->nconns];
        srv->conns[cs->slot] = last;
        last->slot = cs->slot;
        pthread_mutex_unlock(&srv->conns_mu);
        free(cs);
    }
    *socket_context = NULL;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && srv->door) door_release(srv->door, ci->client_addr);
}

/* A kept-alive connection whose next head is not whole by its due time
 * (idle timeout plus header deadline after its last answer) is shut
 * down; libmicrohttpd then sees it end and closes it. A head that keeps
 * trickling in would otherwise hold it past any inactivity timeout. */
static void reap(http_server_t *s)
{
    int64_t now = mono_ms();
    pthread_mutex_lock(&s->conns_mu);
    for (size_t i = 0; i < s->nconns; i++) {
        int64_t due = atomic_load(&s->conns[i]->due);
        if (due && now > due && s->conns[i]->fd >= 0) {
            atomic_store(&s->conns[i]->due, 0);
            shutdown(s->conns[i]->fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&s->conns_mu);
}

static bool admit(void *cls, int fd, const struct sockaddr *addr, socklen_t len)
{
    http_server_t *srv = cls;
    return MHD_add_connection(srv->mhd, fd, addr, len) == MHD_YES;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    screen_on_log(fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = '\0';
    log_emit(LOG_DEBUG, "http", json_pack("{s:s}", "detail", msg));
}

void http_ctx_init(http_ctx *h, engine_t *e, bool with_invoker)
{
    memset(h, 0, sizeof *h);
    h->e = e;
    h->sessions = console_sessions_new(CONSOLE_SESSION_TTL_MS);
    /* Settings were parsed once, at start (config.c). */
    const config_t *c = e->config;
    h->blocking_wait_ms = c->blocking_wait_ms;
    if (with_invoker) h->invoker = invoker_new(c->async_max);
    h->publish_limit = ratelimit_new(c->publish_rate.per_s, c->publish_rate.burst);
    h->metrics_tokens = json_incref(c->metrics_tokens);
    h->metrics_open = c->metrics_auth == CONFIG_METRICS_NONE;
    h->ims = ims_new(e);
    h->auth_failures = ratelimit_new(c->auth_failures.per_s, c->auth_failures.burst);
    h->https = strncmp(c->public_url, "https://", 8) == 0;
}

void http_ctx_fini(http_ctx *h)
{
    ims_free(h->ims);
    /* Activations still running (non-blocking, or past a blocking wait)
     * end before the engine goes. */
    invoker_free(h->invoker);
    console_sessions_free(h->sessions);
    ratelimit_free(h->publish_limit);
    ratelimit_free(h->auth_failures);
    json_decref(h->metrics_tokens);
    memset(h, 0, sizeof *h);
}

/* ---- memory ---- */

/* Allocations from 256 KiB up are mapped on their own and unmapped when
 * freed: glibc otherwise raises that threshold after the first large free,
 * and a few 30 MB request or state values then stay in the heap for good. */
#define MMAP_FROM (256 * 1024)
/* Free memory malloc may keep before the returner gives it back. */
#define FREE_KEPT (16 * 1024 * 1024)

/* Every few seconds: when the heaps hold much free memory (after a burst
 * of large requests, freed in many small pieces), it goes back to the
 * system. A thread of its own, so an idle daemon shrinks too; it also
 * enforces the kept-alive connections' header deadline, four times a
 * second. */
static void *return_memory(void *arg)
{
    http_server_t *s = arg;
    unsigned ticks = 0;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->stop_cv, &s->mu, &until);
        if (s->stopping) break;
        pthread_mutex_unlock(&s->mu);
        reap(s);
        if (++ticks % 8 == 0) {
            struct mallinfo2 mi = mallinfo2();
            if (mi.fordblks > FREE_KEPT) malloc_trim(0);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void returner_start(http_server_t *s)
{
    mallopt(M_MMAP_THRESHOLD, MMAP_FROM);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    s->returner_up = pthread_create(&s->returner, NULL, return_memory, s) == 0;
    if (!s->returner_up) log_warn("http: cannot start the memory returner", NULL);
}

static void returner_stop(http_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->stop_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->returner_up) pthread_join(s->returner, NULL);
    pthread_cond_destroy(&s->stop_cv);
    pthread_mutex_destroy(&s->mu);
}

/* The listening socket for addr, bound; -1 with err. */
static int listen_on(const char *addr, err_t *err)
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
    /* Our own socket, without SO_REUSEPORT: a second evkit on the same
     * address must fail, not share the port (and split traffic between
     * two journals). SO_REUSEADDR only lets a restart bind past TIME_WAIT. */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_set(err, "cannot listen on %s: %s", addr, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    socklen_t sl = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
        int e2 = errno;
        close(fd);
        if (e2 == EADDRINUSE) return err_code(err, EVK_CONFLICT, "%s is in use", addr);
        return err_set(err, "cannot listen on %s: %s", addr, strerror(e2));
    }
    return fd;
}

/* Every connection holds a descriptor: the soft limit is raised to what
 * the connection cap needs (up to the hard limit), else a warning. */
static void raise_fd_limit(int max_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    rlim_t want = (rlim_t)max_conns + 512;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        log_warn("http: ulimit -n is below EVKIT_HTTP_MAX_CONNECTIONS + 512",
                 json_pack("{s:I, s:I}", "limit", (json_int_t)rl.rlim_cur, "wanted",
                           (json_int_t)want));
}

/* libmicrohttpd's memory per connection: it holds a request's head (up to
 * the door's 16 KiB) with about 56 bytes per header line, and the answer's
 * head. libmicrohttpd zeroes all of it before each request, so it costs
 * instructions per request: 24 KiB takes a 16 KiB head of 120 header lines
 * (Apache's default cap is 100), where the default 32 KiB zeroed a third
 * more for nothing. */
#define CONN_POOL_BYTES (24 * 1024)

/* libmicrohttpd's event threads: one per core, at least two. */
#define EVENT_THREADS 2
static unsigned event_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > EVENT_THREADS ? (unsigned)n : EVENT_THREADS;
}

int http_start(engine_t *e, const char *addr, http_server_t **out, err_t *err)
{
    if (config_check_tokens(e->config, err) < 0) return -1;
    int fd = listen_on(addr, err);
    if (fd < 0) return -1;
    const config_t *cfg = e->config;
    raise_fd_limit(cfg->http_max_conns);
    http_server_t *s = xcalloc(1, sizeof *s);
    http_ctx_init(&s->ctx, e, true);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    /* The door accepts and screens a connection's first request;
     * libmicrohttpd's own inactivity timeout is the idle timeout (in
     * whole seconds), and reap() bounds a later head's arrival. */
    unsigned timeout_s = (unsigned)((cfg->http_idle_timeout_ms + 999) / 1000);
    s->next_head_ms = cfg->http_idle_timeout_ms + cfg->http_header_timeout_ms;
    pthread_mutex_init(&s->conns_mu, NULL);
    s->pool = workpool_new((int)event_threads());
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_THREAD_POOL_SIZE, event_threads(),
                              MHD_OPTION_URI_LOG_CALLBACK, on_request_line, s,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_conns,
                              MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL_BYTES,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                              MHD_OPTION_UNESCAPE_CALLBACK, unescape_keeping_nul, NULL,
                              MHD_OPTION_END);
    door_limits lim = {cfg->http_max_conns, cfg->http_max_per_ip, cfg->http_header_timeout_ms,
                       cfg->http_idle_timeout_ms};
    if (s->mhd) s->door = door_start(fd, &lim, admit, s, err);
    if (!s->door) {
        if (s->mhd) MHD_stop_daemon(s->mhd);
        if (!s->mhd) err_set(err, "cannot serve on %s", addr);
        close(fd);
        workpool_free(s->pool);
        pthread_mutex_destroy(&s->conns_mu);
        http_ctx_fini(&s->ctx);
        free(s);
        return -1;
    }
    returner_start(s);
    *out = s;
    return 0;
}

int http_port(const http_server_t *s) { return s->port; }

void http_stop(http_server_t *s)
{
    if (!s) return;
    /* No new connection first; requests still arriving are answered 503
     * while the pool's finish and resume theirs; then libmicrohttpd ends
     * the open connections. */
    door_stop(s->door);
    atomic_store(&s->closing, true);
    workpool_stop(s->pool);
    MHD_stop_daemon(s->mhd);
    workpool_free(s->pool);
    door_free(s->door);
    returner_stop(s);
    pthread_mutex_destroy(&s->conns_mu);
    free(s->conns);
    http_ctx_fini(&s->ctx);
    free(s);
}
