/* daemon: the running evkit serve: start in order, periodic work, stop in
 * the reverse order. */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/scheduler.h"
#include "delivery/delivery.h"
#include "delivery/sigkeys.h"
#include "delivery/webhook.h"
#include "engine.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "registry/registry.h"
#include "runtime/runtime.h"

/* Webhook registrations made at run time must answer the challenge. */
/* The running command's settings, for EVKIT_WEBHOOK_ALLOW (the hook takes no context). */
static const config_t *challenge_config;

static int challenge_url(const char *url, err_t *err)
{
    return webhook_challenge(url, WEBHOOK_TIMEOUT_MS, challenge_config->webhook_allow, err);
}

#define RETENTION_EVERY_MS (3600 * 1000)
/* How long the per-minute delivery rollup (the console's charts) is kept. */
#define ROLLUP_KEEP_MS (8LL * 24 * 3600 * 1000)

typedef struct daemon {
    const daemon_opts *o;
    sigset_t signals;
    int lock_fd;
    app_t *app;
    store_t *store;
    engine_t engine;
    bool engine_up, scraped, serving;
    http_server_t *http;
    scheduler_t *scheduler;
    bool sample_warned;
} daemon_t;

/* In the daemon, manifest diagnostics are log lines like everything else. */
static app_t *load_app(const char *dir)
{
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    for (size_t i = 0; i < d.n; i++) {
        const diag_t *g = &d.items[i];
        log_emit(g->severity == DIAG_ERROR ? LOG_ERROR : LOG_WARN, g->message,
                 json_pack("{s:s, s:i, s:i}", "file", g->file ? g->file : "", "line", g->line,
                           "column", g->column));
    }
    diags_free(&d);
    if (!app) log_error("the app has errors; not serving", json_pack("{s:s}", "app", dir));
    return app;
}

/* One daemon per journal: deliveries it finds claimed at start are then
 * surely orphans of a crash, and are released at once instead of waiting
 * for their leases to run out. */
static int lock_journal(daemon_t *d, err_t *err)
{
    const char *dir = d->o->data_dir;
    if (mkdir_p(dir, err) < 0) return -1;
    char *lock_path = path_join(dir, "serve.lock");
    d->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int rc = 0;
    if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
        rc = err_code(err, EVK_CONFLICT, "another evkit serves the journal in '%s' (%s is locked)",
                      dir, lock_path);
    free(lock_path);
    return rc;
}

static int open_store(daemon_t *d, err_t *err)
{
    store_opts o;
    config_store_opts(d->o->config, d->o->data_dir, &o);
    if (store_open_with(&o, &d->store, err) < 0) {
        err_t cause = *err;
        if (o.url)
            return err_code(err, cause.code, "cannot open the journal on JetStream at %s: %s",
                            o.url, cause.msg);
        return err_code(err, cause.code, "cannot open the journal in '%s': %s", d->o->data_dir,
                        cause.msg);
    }
    int released = 0;
    err_t e;
    if (store_release_claims(d->store, &released, &e) < 0)
        log_error("cannot release claims", json_pack("{s:s}", "error", e.msg));
    else if (released > 0)
        log_warn("deliveries claimed by a process that stopped are due again",
                 json_pack("{s:i}", "deliveries", released));
    return 0;
}

static int log_providers(daemon_t *d, err_t *err)
{
    for (size_t i = 0; i < d->app->nproviders; i++) {
        const char *key = d->app->providers[i].key;
        char id[37];
        err_t e;
        if (store_provider_id(d->store, key, id, &e) < 0)
            return err_code(err, e.code, "provider '%s': %s", key, e.msg);
        log_info("provider", json_pack("{s:s, s:s}", "provider", key, "id", id));
    }
    return 0;
}

/* The URL actions and the CLI use: the listen host (127.0.0.1 for a
 * wildcard) with the port actually bound. */
static void set_api_host(daemon_t *d)
{
    const char *listen = d->o->listen;
    engine_t *e = &d->engine;
    free(e->api_host);
    const char *colon = strrchr(listen, ':');
    size_t hostlen = colon ? (size_t)(colon - listen) : 0;
    if (hostlen == 0 || strncmp(listen, "0.0.0.0", hostlen) == 0)
        e->api_host = xasprintf("http://127.0.0.1:%d", http_port(d->http));
    else e->api_host = xasprintf("http://%.*s:%d", (int)hostlen, listen, http_port(d->http));
}

static int write_serve_file(const daemon_t *d)
{
    char *path = path_join(d->o->data_dir, "serve.json");
    char *tmp = xasprintf("%s.tmp", path);
    json_t *j = json_pack("{s:I, s:s, s:s}", "pid", (json_int_t)getpid(), "url",
                          d->engine.api_host, "namespace", d->engine.namespace);
    int rc = json_dump_file(j, tmp, JSON_INDENT(2));
    if (rc == 0) rc = rename(tmp, path);
    json_decref(j);
    free(tmp);
    free(path);
    return rc;
}

static void log_serving(const daemon_t *d)
{
    const engine_t *e = &d->engine;
    json_t *webs = json_array();
    for (size_t i = 0; i < d->app->nactions; i++)
        if (d->app->actions[i].web != WEB_NO)
            json_array_append_new(webs, json_sprintf("%s/api/v1/web/%s/%s", e->api_host,
                                                     e->namespace, d->app->actions[i].fqn));
    log_info("evkit serving",
             json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:o}", "version", EVKIT_VERSION, "url",
                       e->api_host, "namespace", e->namespace, "data", d->o->data_dir, "actions",
                       (int)d->app->nactions, "registrations", (int)d->app->nregistrations,
                       "web_actions", webs));
}

/* Scrape-time gauges from the state the daemon owns: the journal's size and,
 * for every registration (manifest and API alike), its backlog, parked and
 * dead deliveries and its state. */
static int scrape_gauges(void *ctx, err_t *err)
{
    engine_t *e = ctx;
    store_size sz;
    if (store_size_get(e->store, &sz, err) < 0) return -1;
    metrics_set_journal(sz.events, sz.last_position, sz.bytes);
    metrics_reset_registrations();
    regset_t *regs = e->registry ? registry_get(e->registry) : NULL;
    int rc = 0;
    for (size_t i = 0; regs && i < regs->n; i++) {
        const char *name = regs->regs[i]->name;
        store_reg_info info;
        if ((rc = store_reg_info_get(e->store, name, &info, err)) < 0) break;
        metrics_set_registration(name, info.backlog, info.parked, info.dead, (int)info.state);
    }
    regset_release(regs);
    return rc;
}

static void daemon_stop(daemon_t *d)
{
    scheduler_stop(d->scheduler);
    d->scheduler = NULL;
    if (d->http) http_stop(d->http);
    d->http = NULL;
    if (d->engine.delivery) delivery_stop(d->engine.delivery);
    d->engine.delivery = NULL;
    if (d->serving) {
        actionloop_backend_shutdown();
        lua_backend_thread_cleanup();
        char *path = path_join(d->o->data_dir, "serve.json");
        unlink(path);
        free(path);
    }
    if (d->scraped) metrics_off_scrape(scrape_gauges, &d->engine);
    sigkeys_free(d->engine.sigkeys);
    d->engine.sigkeys = NULL;
    if (d->engine_up) engine_fini(&d->engine);
    if (d->store) store_close(d->store);
    if (d->app) app_free(d->app);
    if (d->lock_fd >= 0) close(d->lock_fd);
    d->lock_fd = -1;
}

static int daemon_start(daemon_t *d, err_t *err)
{
    const daemon_opts *o = d->o;
    metrics_init(); /* notes the start time */
    /* Every thread created from here on inherits the blocked set. */
    sigemptyset(&d->signals);
    sigaddset(&d->signals, SIGINT);
    sigaddset(&d->signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &d->signals, NULL);

    if (!(d->app = load_app(o->app_dir))) return err_code(err, EVK_INVALID, "%s", "");
    if (config_load(o->config, d->app, CONFIG_APP, err) < 0) return -1;
    if (lock_journal(d, err) < 0 || open_store(d, err) < 0) return -1;
    engine_init(&d->engine, d->app, d->store, o->config, NULL);
    challenge_config = d->engine.config;
    if (d->engine.registry) registry_set_url_check(d->engine.registry, challenge_url);
    d->engine_up = true;
    if (log_providers(d, err) < 0) return -1;
    if (sigkeys_open(o->data_dir, &d->engine.sigkeys, err) < 0) return -1;
    if (http_start(&d->engine, o->listen, &d->http, err) < 0) return -1;
    set_api_host(d);
    if (delivery_start(&d->engine, o->workers, &d->engine.delivery, err) < 0) return -1;
    d->serving = true;
    if (scheduler_start(&d->engine, &d->scheduler, err) < 0) return -1;
    d->scraped = metrics_on_scrape(scrape_gauges, &d->engine) == 0;
    if (write_serve_file(d) < 0) log_warn("cannot write serve.json", NULL);
    log_serving(d);
    return 0;
}

/* Retention: activations, the journal (events whose deliveries are all
 * settled) and traces older than their settings. */
static void retention(daemon_t *d)
{
    const config_t *c = d->engine.config;
    store_t *s = d->store;
    err_t err;
    int64_t deleted = 0;
    if (store_activation_prune(s, now_ms() - c->activation_retention_ms, &deleted, &err) == 0 &&
        deleted > 0)
        log_info("pruned activations", json_pack("{s:I}", "deleted", (json_int_t)deleted));
    deleted = 0;
    if (store_journal_prune(s, now_ms() - c->journal_retention_ms, &deleted, &err) < 0)
        log_error("journal retention failed", json_pack("{s:s}", "error", err.msg));
    else if (deleted > 0)
        log_info("journal retention removed old events",
                 json_pack("{s:I}", "deleted", (json_int_t)deleted));
    deleted = 0;
    if (store_trace_prune(s, now_ms() - c->trace_retention_ms, c->trace_keep, &deleted, &err) < 0)
        log_error("trace retention failed", json_pack("{s:s}", "error", err.msg));
    else if (deleted > 0)
        log_info("trace retention removed old traces",
                 json_pack("{s:I}", "deleted", (json_int_t)deleted));
}

/* Each registration's backlog into the charts' rollup, once a minute. */
static void sample_backlog(daemon_t *d)
{
    err_t err;
    /* Said once: a backend without the rollup fails the same way every minute. */
    if (store_rollup_sample(d->store, now_ms(), ROLLUP_KEEP_MS, &err) < 0 && !d->sample_warned) {
        log_warn("cannot sample the backlog for the charts", json_pack("{s:s}", "error", err.msg));
        d->sample_warned = true;
    }
}

/* The periodic work until SIGINT or SIGTERM. */
static void daemon_wait(daemon_t *d)
{
    int64_t next_retention = 0;
    for (;;) {
        if (now_ms() >= next_retention) {
            retention(d);
            next_retention = now_ms() + RETENTION_EVERY_MS;
        }
        sample_backlog(d);
        /* Wake a second into the next minute: one sample per minute. */
        int64_t wait = 61000 - now_ms() % 60000;
        struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (long)(wait % 1000) * 1000000};
        int sig = sigtimedwait(&d->signals, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("shutting down", json_pack("{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
            return;
        }
        if (sig < 0 && errno != EAGAIN && errno != EINTR) return;
    }
}

int daemon_run(const daemon_opts *o, err_t *err)
{
    daemon_t d = {.o = o, .lock_fd = -1};
    int rc = daemon_start(&d, err);
    if (rc == 0) daemon_wait(&d);
    daemon_stop(&d);
    return rc;
}
