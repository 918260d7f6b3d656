/* serve and check. serve parses its options and runs the daemon
 * (src/daemon/) until SIGINT/SIGTERM. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli_int.h"
#include "daemon/daemon.h"
#include "runtime/nodejs.h"

static const char SERVE_USAGE[] =
    "usage: evkit serve [--app DIR] [--data DIR] [--listen ADDR:PORT] [--workers N]\n"
    "\n"
    "Serves the app's web actions under /api/v1/web/<namespace>/<pkg>/<action>, journals\n"
    "published events in DIR (SQLite, durable before any 200) and delivers them to the\n"
    "registrations' consumer actions with retries.\n"
    "  --listen ADDR:PORT   default 127.0.0.1:8080 ($EVKIT_LISTEN); port 0 picks a free one\n"
    "  --workers N          delivery workers (default 4, $EVKIT_WORKERS)\n";

static const char CHECK_USAGE[] =
    "usage: evkit check [--app DIR]\n"
    "\n"
    "Validates app.config.yaml (with $include), .env inputs, events.json and providers.json,\n"
    "and that the Node.js found (EVKIT_NODE, else node on PATH) runs the nodejs actions.\n"
    "With EVKIT_STORE set, also that the JetStream cluster answers and that evkit's streams\n"
    "and buckets are usable (creating the missing ones).\n"
    "Prints each problem as file:line:column; exits 1 when there are errors.\n";

/* With EVKIT_STORE: the cluster answers, JetStream is on, evkit's streams
 * exist with a config it can use (created when missing). */
static bool check_store(cli_ctx *ctx)
{
    if (!ctx->config->store_url || !*ctx->config->store_url) return true;
    store_t *s = cli_open_store(ctx);
    if (!s) return false;
    printf("store: JetStream at %s: ok\n", ctx->config->store_url);
    store_close(s);
    return true;
}

static int check_run(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(ctx->app_dir, &d);
    /* The Node.js that nodejs actions would run on (EVKIT_NODE, else PATH). */
    if (app) nodejs_check(app, config_lookup(app, "EVKIT_NODE", NULL), &d);
    diags_print(&d, stderr);
    if (app && d.errors) {
        app_free(app);
        app = NULL;
    }
    if (app) {
        printf("%s: ok: %zu action(s), %zu registration(s), %zu provider(s), %zu event code(s); "
               "%zu warning(s)\n",
               ctx->app_dir, app->nactions, app->nregistrations, app->nproviders, app->nevents,
               d.warnings);
        app_free(app);
    } else {
        printf("%s: %zu error(s), %zu warning(s)\n", ctx->app_dir, d.errors, d.warnings);
    }
    bool store_ok = check_store(ctx);
    int rc = d.errors || !store_ok ? EXIT_FAIL : EXIT_OK;
    diags_free(&d);
    return rc;
}

static int serve_run(cli_ctx *ctx, const cli_args *a)
{
    int workers = ctx->config->workers;
    if (a->opt[OPT_LISTEN]) ctx->listen = a->opt[OPT_LISTEN];
    if (a->opt[OPT_WORKERS]) workers = atoi(a->opt[OPT_WORKERS]);
    if (workers < 1 || workers > 256) return cli_usage(SERVE_USAGE);
    daemon_opts o = {
        .app_dir = ctx->app_dir,
        .data_dir = ctx->data_dir,
        .listen = ctx->listen,
        .workers = workers,
        .config = ctx->config,
    };
    err_t err;
    if (daemon_run(&o, &err) == 0) return EXIT_OK;
    if (err.msg[0]) cli_fail("%s", err.msg); /* else logged: the app's diagnostics */
    return EXIT_FAIL;
}

const cli_command cli_cmd_serve = {.name = "serve", .usage = SERVE_USAGE,
    .opts = OPT(OPT_LISTEN) | OPT(OPT_WORKERS), .run = serve_run};
const cli_command cli_cmd_check = {.name = "check", .usage = CHECK_USAGE, .run = check_run};
