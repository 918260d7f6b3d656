/* serve and check. serve runs the daemon until SIGINT/SIGTERM; signals are
 * blocked in every thread and taken synchronously here, so no handler ever
 * runs inside a worker. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_int.h"
#include "core/log.h"
#include "delivery/delivery.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "runtime/runtime.h"

static const char *SERVE_USAGE =
    "usage: evkit serve [--app DIR] [--data DIR] [--listen ADDR:PORT] [--workers N]\n"
    "\n"
    "Serves the app's web actions under /api/v1/web/<namespace>/<pkg>/<action>, journals\n"
    "published events in DIR (SQLite, durable before any 200) and delivers them to the\n"
    "registrations' consumer actions with retries.\n"
    "  --listen ADDR:PORT   default 127.0.0.1:8080 ($EVKIT_LISTEN); port 0 picks a free one\n"
    "  --workers N          delivery workers (default 4, $EVKIT_WORKERS)\n";

static const char *CHECK_USAGE =
    "usage: evkit check [--app DIR]\n"
    "\n"
    "Validates app.config.yaml (with $include), .env inputs, events.json and providers.json.\n"
    "Prints each problem as file:line:column; exits 1 when there are errors.\n";

int cmd_check(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTS, {0, 0, 0, 0}};
    bool help = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
        if (!cli_common_opt(ctx, c, &help)) return cli_usage(CHECK_USAGE);
    if (help) {
        fputs(CHECK_USAGE, stdout);
        return EXIT_OK;
    }
    if (optind < argc) return cli_usage(CHECK_USAGE);
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(ctx->app_dir, &d);
    diags_print(&d, stderr);
    if (app) {
        printf("%s: ok: %zu action(s), %zu registration(s), %zu provider(s), %zu event code(s); "
               "%zu warning(s)\n",
               ctx->app_dir, app->nactions, app->nregistrations, app->nproviders, app->nevents,
               d.warnings);
        app_free(app);
    } else {
        printf("%s: %zu error(s), %zu warning(s)\n", ctx->app_dir, d.errors, d.warnings);
    }
    int rc = d.errors ? EXIT_FAIL : EXIT_OK;
    diags_free(&d);
    return rc;
}

static int write_serve_file(const cli_ctx *ctx, const engine_t *e)
{
    char *path = path_join(ctx->data_dir, "serve.json");
    char *tmp = xasprintf("%s.tmp", path);
    json_t *j = json_pack("{s:I, s:s, s:s}", "pid", (json_int_t)getpid(), "url", e->api_host,
                          "namespace", e->namespace);
    int rc = json_dump_file(j, tmp, JSON_INDENT(2));
    if (rc == 0) rc = rename(tmp, path);
    json_decref(j);
    free(tmp);
    free(path);
    return rc;
}

int cmd_serve(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"listen", required_argument, NULL, 'l'},
        {"workers", required_argument, NULL, 'w'},
        {0, 0, 0, 0},
    };
    bool help = false;
    int workers = getenv("EVKIT_WORKERS") ? atoi(getenv("EVKIT_WORKERS")) : 4;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_common_opt(ctx, c, &help)) continue;
        if (c == 'l') ctx->listen = optarg;
        else if (c == 'w') workers = atoi(optarg);
        else return cli_usage(SERVE_USAGE);
    }
    if (help) {
        fputs(SERVE_USAGE, stdout);
        return EXIT_OK;
    }
    if (optind < argc || workers < 1 || workers > 256) return cli_usage(SERVE_USAGE);
    metrics_init(); /* notes the start time */

    /* Every thread created from here on inherits the blocked set. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* In the daemon, manifest diagnostics are log lines like everything else. */
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(ctx->app_dir, &d);
    for (size_t i = 0; i < d.n; i++) {
        const diag_t *g = &d.items[i];
        log_emit(g->severity == DIAG_ERROR ? LOG_ERROR : LOG_WARN, g->message,
                 json_pack("{s:s, s:i, s:i}", "file", g->file ? g->file : "", "line", g->line,
                           "column", g->column));
    }
    diags_free(&d);
    if (!app) {
        log_error("the app has errors; not serving", json_pack("{s:s}", "app", ctx->app_dir));
        return EXIT_FAIL;
    }
    /* One daemon per journal: deliveries it finds claimed at start are then
     * surely orphans of a crash, and are released at once instead of
     * waiting for their leases to run out. */
    err_t err;
    if (mkdir_p(ctx->data_dir, &err) < 0) {
        app_free(app);
        return cli_fail("%s", err.msg);
    }
    char *lock_path = path_join(ctx->data_dir, "serve.lock");
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        cli_fail("another evkit serves the journal in '%s' (%s is locked)", ctx->data_dir, lock_path);
        free(lock_path);
        if (lock_fd >= 0) close(lock_fd);
        app_free(app);
        return EXIT_FAIL;
    }
    free(lock_path);
    store_t *store = cli_open_store(ctx);
    if (!store) {
        close(lock_fd);
        app_free(app);
        return EXIT_FAIL;
    }
    int released = 0;
    if (store_release_claims(store, &released, &err) < 0)
        log_error("cannot release claims", json_pack("{s:s}", "error", err.msg));
    else if (released > 0)
        log_warn("deliveries claimed by a process that stopped are due again",
                 json_pack("{s:i}", "deliveries", released));
    engine_t e;
    cli_engine_init(&e, app, store, NULL);
    for (size_t i = 0; i < app->nproviders; i++) {
        char id[37];
        if (store_provider_id(store, app->providers[i].key, id, &err) < 0) {
            cli_fail("provider '%s': %s", app->providers[i].key, err.msg);
            cli_close_engine(&e);
            return EXIT_FAIL;
        }
        log_info("provider", json_pack("{s:s, s:s}", "provider", app->providers[i].key, "id", id));
    }
    http_server_t *http = NULL;
    if (http_start(&e, ctx->listen, &http, &err) < 0) {
        cli_fail("%s", err.msg);
        cli_close_engine(&e);
        return EXIT_FAIL;
    }
    free(e.api_host);
    const char *colon = strrchr(ctx->listen, ':');
    size_t hostlen = colon ? (size_t)(colon - ctx->listen) : 0;
    if (hostlen == 0 || strncmp(ctx->listen, "0.0.0.0", hostlen) == 0)
        e.api_host = xasprintf("http://127.0.0.1:%d", http_port(http));
    else e.api_host = xasprintf("http://%.*s:%d", (int)hostlen, ctx->listen, http_port(http));

    if (delivery_start(&e, workers, &e.delivery, &err) < 0) {
        cli_fail("%s", err.msg);
        http_stop(http);
        cli_close_engine(&e);
        return EXIT_FAIL;
    }
    if (write_serve_file(ctx, &e) < 0) log_warn("cannot write serve.json", NULL);
    json_t *webs = json_array();
    for (size_t i = 0; i < app->nactions; i++)
        if (app->actions[i].web != WEB_NO)
            json_array_append_new(webs, json_sprintf("%s/api/v1/web/%s/%s", e.api_host,
                                                     e.namespace, app->actions[i].fqn));
    log_info("evkit serving",
             json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:o}", "version", EVKIT_VERSION, "url",
                       e.api_host, "namespace", e.namespace, "data", ctx->data_dir, "actions",
                       (int)app->nactions, "registrations", (int)app->nregistrations,
                       "web_actions", webs));

    int64_t next_prune = 0;
    for (;;) {
        if (now_ms() >= next_prune) {
            int64_t deleted = 0;
            if (store_activation_prune(store, now_ms() - e.activation_retention_ms, &deleted, &err) == 0 &&
                deleted > 0)
                log_info("pruned activations", json_pack("{s:I}", "deleted", (json_int_t)deleted));
            deleted = 0;
            if (store_journal_prune(store, now_ms() - e.journal_retention_ms, &deleted, &err) < 0)
                log_error("journal retention failed", json_pack("{s:s}", "error", err.msg));
            else if (deleted > 0)
                log_info("journal retention removed old events",
                         json_pack("{s:I}", "deleted", (json_int_t)deleted));
            deleted = 0;
            if (store_trace_prune(store, now_ms() - e.trace_retention_ms, e.trace_keep, &deleted,
                                  &err) < 0)
                log_error("trace retention failed", json_pack("{s:s}", "error", err.msg));
            else if (deleted > 0)
                log_info("trace retention removed old traces",
                         json_pack("{s:I}", "deleted", (json_int_t)deleted));
            next_prune = now_ms() + 3600 * 1000;
        }
        struct timespec ts = {.tv_sec = 60};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("shutting down", json_pack("{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
            break;
        }
        if (sig < 0 && errno != EAGAIN && errno != EINTR) break;
    }
    http_stop(http);
    delivery_stop(e.delivery);
    e.delivery = NULL;
    actionloop_backend_shutdown();
    lua_backend_thread_cleanup();
    char *path = path_join(ctx->data_dir, "serve.json");
    unlink(path);
    free(path);
    cli_close_engine(&e);
    close(lock_fd);
    return EXIT_OK;
}
