/* serve and check. serve parses its options and runs the daemon
 * (src/daemon/) until SIGINT/SIGTERM. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli_int.h"
#include "daemon/daemon.h"
#include "runtime/nodejs.h"

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
    "Validates app.config.yaml (with $include), .env inputs, events.json and providers.json,\n"
    "and that the Node.js found (EVKIT_NODE, else node on PATH) runs the nodejs actions.\n"
    "Prints each problem as file:line:column; exits 1 when there are errors.\n";

int cmd_check(cli_ctx *ctx, int argc, char **argv)
{
    int rc = cli_common_opts_only(ctx, argc, argv, CHECK_USAGE);
    if (rc >= 0) return rc;
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
    rc = d.errors ? EXIT_FAIL : EXIT_OK;
    diags_free(&d);
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
    int workers = ctx->config->workers;
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
