/* cli: command dispatch and what the commands share. */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/progress.h"
#include "core/log.h"
#include "delivery/webhook.h"
#include "registry/registry.h"
#include "core/json_io.h"

static const char *TOP_USAGE =
    "usage: evkit <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve          serve the app: web actions, ingestion, event delivery\n"
    "  check          validate the app's manifests and onboarding config\n"
    "  action         list | get <pkg>/<name> [--url] | invoke <pkg>/<name> [-p K V]...\n"
    "  event          list [--provider P] [--since POS] [--limit N] | show <id> | replay ...\n"
    "                 | sample <code> | sample --list | send-sample <code>\n"
    "  onboard        create missing providers, event metadata and registrations\n"
    "  registration   list | enable <name>\n"
    "  deadletter     list [--registration R] | replay <id> | replay --registration R\n"
    "  activation     list [--name N] [--limit N] | get <id> | logs <id> | result <id>\n"
    "  trace          list [--registration R] [--outcome O] [--status S] ... | show <id>\n"
    "  trigger        list | fire <name> [-p K V]...: scheduled triggers and their rules\n"
    "  keys           [list] | rotate: the RSA keys that sign webhook deliveries\n"
    "  config         the effective settings and where each comes from\n"
    "  test           run the app's Lua tests [FILE...] (fake HTTP, state, publish)\n"
    "  exec           -- COMMAND [ARG...]: run an app's own script (npm run onboard) against\n"
    "                 evkit, with its .env and the preload that sends Adobe hosts to evkit\n"
    "\n"
    "options every command takes:\n"
    "  --app DIR      the app folder (default $EVKIT_APP or ./app)\n"
    "  --data DIR     the journal folder (default $EVKIT_DATA or ./var)\n"
    "  --json         print JSON\n"
    "  --log-format F json (default, $EVKIT_LOG_FORMAT) or text: readable lines, colored on\n"
    "                 a terminal\n"
    "  --help         help for the command\n"
    "  --version      print the version\n";

/* Long options without a letter take values above any character. */
enum { OPT_VAL_BASE = 0x1000, OPT_VAL_LOG_FORMAT = 0x2000 };

static const struct option all_opts[OPT_COUNT] = {
    [OPT_LISTEN] = {"listen", required_argument, NULL, 0},
    [OPT_WORKERS] = {"workers", required_argument, NULL, 0},
    [OPT_URL] = {"url", no_argument, NULL, 0},
    [OPT_PARAM_FILE] = {"param-file", required_argument, NULL, 0},
    [OPT_PROVIDER] = {"provider", required_argument, NULL, 0},
    [OPT_SINCE] = {"since", required_argument, NULL, 0},
    [OPT_LIMIT] = {"limit", required_argument, NULL, 0},
    [OPT_REGISTRATION] = {"registration", required_argument, NULL, 0},
    [OPT_SEEK] = {"seek", required_argument, NULL, 0},
    [OPT_LIST] = {"list", no_argument, NULL, 0},
    [OPT_TYPE] = {"type", required_argument, NULL, 0},
    [OPT_PAYLOAD] = {"payload", required_argument, NULL, 0},
    [OPT_PAYLOAD_FILE] = {"payload-file", required_argument, NULL, 0},
    [OPT_ID] = {"id", required_argument, NULL, 0},
    [OPT_NAME] = {"name", required_argument, NULL, 0},
    [OPT_FILE] = {"file", required_argument, NULL, 0},
    [OPT_EVENTS] = {"events", required_argument, NULL, 0},
    [OPT_ACTION] = {"action", required_argument, NULL, 0},
    [OPT_WEBHOOK_URL] = {"webhook-url", required_argument, NULL, 0},
    [OPT_DESCRIPTION] = {"description", required_argument, NULL, 0},
    [OPT_SECRET] = {"secret", required_argument, NULL, 0},
    [OPT_BATCH] = {"batch", no_argument, NULL, 0},
    [OPT_OUTCOME] = {"outcome", required_argument, NULL, 0},
    [OPT_STATUS] = {"status", required_argument, NULL, 0},
    [OPT_RETRIED] = {"retried", required_argument, NULL, 0},
    [OPT_BEFORE] = {"before", required_argument, NULL, 0},
    [OPT_UNTIL] = {"until", required_argument, NULL, 0},
    [OPT_FROM] = {"from", required_argument, NULL, 0},
    [OPT_TO] = {"to", required_argument, NULL, 0},
};

/* -p KEY VALUE takes two words, which getopt cannot express: the pairs go
 * to a->params and the other words stay in argv. -1 when a pair is cut. */
static int take_params(int *argc, char **argv, cli_args *a)
{
    int n = 0;
    for (int i = 0; i < *argc; i++) {
        if (i > 0 && (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--param"))) {
            if (i + 2 >= *argc) return -1;
            json_t *v = json_loads(argv[i + 2], JSON_DECODE_ANY, NULL);
            json_object_set_new(a->params, argv[i + 1], v ? v : json_string(argv[i + 2]));
            i += 2;
            continue;
        }
        argv[n++] = argv[i];
    }
    *argc = n;
    return 0;
}

/* The common options, then the command's: a table of exactly those, so
 * that abbreviations resolve among them alone. */
static int parse_opts(cli_ctx *ctx, const cli_command *cmd, int argc, char **argv, cli_args *a,
                      bool *help)
{
    struct option opts[OPT_COUNT + 6] = {
        {"app", required_argument, NULL, 'A'},
        {"data", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'J'},
        {"log-format", required_argument, NULL, OPT_VAL_LOG_FORMAT},
        {"help", no_argument, NULL, 'h'},
    };
    size_t n = 5;
    for (int o = 0; o < OPT_COUNT; o++) {
        if (!(cmd->opts & OPT(o)) || !all_opts[o].name) continue;
        opts[n] = all_opts[o];
        opts[n++].val = OPT_VAL_BASE + o;
    }
    int c;
    while ((c = getopt_long(argc, argv, cmd->ordered ? "+h" : "h", opts, NULL)) != -1) {
        switch (c) {
        case 'A': ctx->app_dir = optarg; break;
        case 'D': ctx->data_dir = optarg; break;
        case 'J': ctx->json = true; break;
        case 'h': *help = true; break;
        case OPT_VAL_LOG_FORMAT:
            if (log_setup_format(optarg) < 0) {
                cli_fail("--log-format '%s': json or text is required", optarg);
                return -2;
            }
            break;
        default:
            if (c < OPT_VAL_BASE || c >= OPT_VAL_BASE + OPT_COUNT) return -1;
            a->opt[c - OPT_VAL_BASE] = optarg ? optarg : "";
        }
    }
    return 0;
}

static int run_parsed(cli_ctx *ctx, const cli_command *cmd, int argc, char **argv)
{
    cli_args a = {.params = json_object()};
    bool help = false;
    optind = 1;
    int rc = (cmd->opts & OPT(OPT_PARAM)) ? take_params(&argc, argv, &a) : 0;
    if (rc == 0) rc = parse_opts(ctx, cmd, argc, argv, &a, &help);
    if (rc == -2) {
        rc = EXIT_USAGE; /* said why */
    } else if (rc < 0) {
        rc = cli_usage(cmd->usage);
    } else if (help) {
        fputs(cmd->usage, stdout);
        rc = EXIT_OK;
    } else {
        a.n = argc - optind;
        a.v = argv + optind;
        rc = a.n && !cmd->operands ? cli_usage(cmd->usage) : cmd->run(ctx, &a);
    }
    json_decref(a.params);
    return rc;
}

int cli_parse_ll(const char *what, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        cli_fail("%s '%s': an integer from %lld to %lld is required", what, v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("evkit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage(const char *usage)
{
    fputs(usage, stderr);
    return EXIT_USAGE;
}

void cli_print_json(const json_t *j)
{
    char *s = json_text(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
}

app_t *cli_load_app(const cli_ctx *ctx, bool print_warnings)
{
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(ctx->app_dir, &d);
    if (!app || print_warnings) diags_print(&d, stderr);
    if (!app) fprintf(stderr, "evkit: the app in '%s' has %zu error(s)\n", ctx->app_dir, d.errors);
    diags_free(&d);
    return app;
}

store_t *cli_open_store(const cli_ctx *ctx)
{
    err_t err;
    if (mkdir_p(ctx->data_dir, &err) < 0) {
        cli_fail("%s", err.msg);
        return NULL;
    }
    store_t *s = NULL;
    store_opts o;
    config_store_opts(ctx->config, ctx->data_dir, &o);
    if (store_open_with(&o, &s, &err) < 0) {
        if (o.url) cli_fail("cannot open the journal on JetStream at %s: %s", o.url, err.msg);
        else cli_fail("cannot open the journal in '%s': %s", ctx->data_dir, err.msg);
        return NULL;
    }
    return s;
}

/* The running command's settings, for EVKIT_WEBHOOK_ALLOW (the hook takes no context). */
static const config_t *challenge_config;

static int challenge_url(const char *url, err_t *err)
{
    return webhook_challenge(url, WEBHOOK_TIMEOUT_MS, challenge_config->webhook_allow, err);
}

void cli_engine_init(engine_t *e, app_t *app, store_t *store, const config_t *config,
                     const char *api_host)
{
    engine_init(e, app, store, config, api_host);
    challenge_config = e->config;
    if (e->registry) registry_set_url_check(e->registry, challenge_url);
}

void cli_load_config(const cli_ctx *ctx, const app_t *app)
{
    config_load(ctx->config, app, CONFIG_APP | CONFIG_LENIENT, NULL);
}

bool cli_open_engine(const cli_ctx *ctx, engine_t *e, const char *api_host)
{
    app_t *app = cli_load_app(ctx, false);
    if (!app) return false;
    store_t *s = cli_open_store(ctx);
    if (!s) {
        app_free(app);
        return false;
    }
    cli_load_config(ctx, app);
    cli_engine_init(e, app, s, ctx->config, api_host);
    return true;
}

void cli_close_engine(engine_t *e)
{
    app_t *app = e->app;
    store_t *s = e->store;
    engine_fini(e);
    if (s) store_close(s);
    if (app) app_free(app);
}

char *cli_base_url(const cli_ctx *ctx)
{
    char *path = path_join(ctx->data_dir, "serve.json");
    json_t *j = json_load_file(path, 0, NULL);
    free(path);
    char *url = NULL;
    if (j) {
        json_int_t pid = json_integer_value(json_object_get(j, "pid"));
        const char *u = json_string_value(json_object_get(j, "url"));
        if (pid > 0 && u && kill((pid_t)pid, 0) == 0) url = xstrdup(u);
        json_decref(j);
    }
    if (!url) {
        const char *l = ctx->listen;
        if (l[0] == ':') url = xasprintf("http://127.0.0.1%s", l);
        else url = xasprintf("http://%s", l);
    }
    return url;
}

static int cmd_version(void)
{
    printf("evkit %s\n", EVKIT_VERSION);
    return EXIT_OK;
}

/* The process settings, once: a bad one stops serve and config (which
 * report the settings) and is a warning for the other commands. */
static bool load_settings(config_t *cfg, const char *cmd)
{
    bool strict = cmd && (!strcmp(cmd, "serve") || !strcmp(cmd, "config"));
    config_init(cfg);
    err_t err;
    if (config_load(cfg, NULL, CONFIG_PROCESS | (strict ? 0 : CONFIG_LENIENT), &err) < 0) {
        cli_fail("%s", err.msg);
        return false;
    }
    log_set_level((log_level)cfg->log_level);
    if (cfg->log_format == LOG_FORMAT_TEXT) log_setup_format("text");
    progress_allow(cfg->progress != CONFIG_PROGRESS_NEVER);
    return true;
}

static int run_command(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) return cli_usage(TOP_USAGE);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(TOP_USAGE, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) return cmd_version();
    static const cli_command *const cmds[] = {
        &cli_cmd_serve,        &cli_cmd_check,      &cli_cmd_action,     &cli_cmd_event,
        &cli_cmd_deadletter,   &cli_cmd_registration, &cli_cmd_activation, &cli_cmd_trace,
        &cli_cmd_onboard,      &cli_cmd_config,     &cli_cmd_test,       &cli_cmd_exec,
        &cli_cmd_keys,         &cli_cmd_trigger,
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i]->name) == 0) return run_parsed(ctx, cmds[i], argc - 1, argv + 1);
    fprintf(stderr, "evkit: unknown command '%s'\n\n", cmd);
    return cli_usage(TOP_USAGE);
}

int cli_main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    config_t cfg;
    if (!load_settings(&cfg, argc > 1 ? argv[1] : NULL)) {
        config_free(&cfg);
        return EXIT_FAIL;
    }
    cli_ctx ctx = {
        .app_dir = cfg.app_dir,
        .data_dir = cfg.data_dir,
        .listen = cfg.listen,
        .config = &cfg,
    };
    int rc = run_command(&ctx, argc, argv);
    config_free(&cfg);
    return rc;
}

/* ---- HTTP to a running daemon ---- */

#define CLI_HTTP_MAX_RESPONSE (4u * 1024 * 1024)

static size_t cli_http_on_body(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n) < 0 ? 0 : size * n;
}

int cli_http_post(const char *url, void *headers, const char *body, long timeout_ms,
                  cli_http_out *out)
{
    _Static_assert(sizeof out->error >= CURL_ERROR_SIZE, "room for curl's error text");
    buf_init(&out->body, CLI_HTTP_MAX_RESPONSE);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(out->error, sizeof out->error, "cannot create an HTTP client");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, out->error);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else if (!out->error[0]) snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}
