/* cli_int: what the command files share: common options, opening the app
 * and the store, printing JSON. */
#ifndef EVKIT_CLI_INT_H
#define EVKIT_CLI_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct cli_ctx {
    const char *app_dir;   /* --app, $EVKIT_APP, "app" */
    const char *data_dir;  /* --data, $EVKIT_DATA, "var" */
    const char *listen;    /* --listen, $EVKIT_LISTEN, "127.0.0.1:8080" */
    bool json;             /* --json: machine-readable output */
    /* The settings: the process ones read at start; the app's are read
     * when a command loads the app (cli_load_config). */
    config_t *config;
} cli_ctx;

/* Every option of the command line, once; a command names those it takes.
 * (--log-format, --app, --data, --json and --help every command takes.) */
typedef enum cli_opt {
    OPT_LISTEN, OPT_WORKERS, OPT_URL, OPT_PARAM_FILE, OPT_PROVIDER, OPT_SINCE, OPT_LIMIT,
    OPT_REGISTRATION, OPT_SEEK, OPT_LIST, OPT_TYPE, OPT_PAYLOAD, OPT_PAYLOAD_FILE, OPT_ID,
    OPT_NAME, OPT_FILE, OPT_EVENTS, OPT_ACTION, OPT_WEBHOOK_URL, OPT_DESCRIPTION, OPT_SECRET,
    OPT_BATCH, OPT_OUTCOME, OPT_STATUS, OPT_RETRIED, OPT_BEFORE, OPT_UNTIL, OPT_FROM, OPT_TO,
    OPT_PARAM, /* -p KEY VALUE, two words: taken out before getopt */
    OPT_COUNT
} cli_opt;
#define OPT(o) (1ull << (o))

/* A command's options and operands once parsed. */
typedef struct cli_args {
    const char *opt[OPT_COUNT]; /* the last value given; "" for a flag; NULL when absent */
    json_t *params;             /* -p KEY VALUE pairs, VALUE as JSON when it parses */
    int n;                      /* operands */
    char **v;
} cli_args;

typedef struct cli_command {
    const char *name;
    const char *usage;
    unsigned long long opts; /* OPT() bits besides the common options */
    bool operands;           /* false: any operand is a usage error */
    int (*run)(cli_ctx *ctx, const cli_args *a);
    bool ordered; /* options end at the first operand (exec's COMMAND has its own) */
} cli_command;

extern const cli_command cli_cmd_serve, cli_cmd_check, cli_cmd_action, cli_cmd_event,
    cli_cmd_deadletter, cli_cmd_registration, cli_cmd_activation, cli_cmd_trace,
    cli_cmd_onboard, cli_cmd_config, cli_cmd_test, cli_cmd_exec, cli_cmd_keys, cli_cmd_trigger;

/* An integer option or operand within [lo, hi]; -1 (printed, naming what)
 * otherwise. */
int cli_parse_ll(const char *what, const char *v, long long lo, long long hi, long long *out);

/* Loads the app printing diagnostics to stderr (warnings too when
 * print_warnings). NULL on errors. */
app_t *cli_load_app(const cli_ctx *ctx, bool print_warnings);
/* Opens the store in ctx->data_dir, creating it. NULL (printed) on failure. */
store_t *cli_open_store(const cli_ctx *ctx);
/* Reads the app's settings into ctx->config (environment, then the app's
 * .env); a bad value is a warning and keeps the default. */
void cli_load_config(const cli_ctx *ctx, const app_t *app);
/* Loads app and store and fills an engine; false on failure (printed). */
/* engine_init, with delivery's webhook challenge installed as the
 * registry's URL check (the registry sits below delivery). */
void cli_engine_init(engine_t *e, app_t *app, store_t *store, const config_t *config,
                     const char *api_host);
bool cli_open_engine(const cli_ctx *ctx, engine_t *e, const char *api_host);
void cli_close_engine(engine_t *e);

/* The base URL of the running server: from <data>/serve.json when that
 * process is alive, else http://<listen>. Caller frees. */
char *cli_base_url(const cli_ctx *ctx);
/* POSTs body to url with headers (a curl_slist *) within timeout_ms: 0 with
 * out->status and out->body (free with buf_free), or -1 with out->error. */
typedef struct cli_http_out {
    long status;
    buf_t body;
    char error[256];
} cli_http_out;
int cli_http_post(const char *url, void *headers, const char *body, long timeout_ms,
                  cli_http_out *out);

void cli_print_json(const json_t *j);
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* returns 1 */
int cli_usage(const char *usage);                                           /* returns 2 */

/* evkit event show <id>: the event with every delivery and attempt (cmd_trace.c). */
int cli_event_show(cli_ctx *ctx, const char *id);
/* evkit event sample <code> | --list, evkit event send-sample <code> (cmd_sample.c). */
int cli_event_sample(cli_ctx *ctx, const char *code, bool list);
int cli_event_send_sample(cli_ctx *ctx, const char *code);

#endif
