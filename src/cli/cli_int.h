/* cli_int: what the command files share: common options, opening the app
 * and the store, printing JSON. */
#ifndef EVKIT_CLI_INT_H
#define EVKIT_CLI_INT_H

#include <getopt.h>
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

/* Common options without a letter take values above any character, so a
 * command's own letters never collide with them. */
enum { CLI_OPT_LOG_FORMAT = 0x1000 };

/* Long options every command accepts; append to a command's own table. */
#define CLI_COMMON_OPTS                                   \
    {"app", required_argument, NULL, 'A'},                \
    {"data", required_argument, NULL, 'D'},               \
    {"json", no_argument, NULL, 'J'},                     \
    {"log-format", required_argument, NULL, CLI_OPT_LOG_FORMAT}, \
    {"help", no_argument, NULL, 'h'}

/* Handles a common option; returns true when c was one (help sets *help). */
bool cli_common_opt(cli_ctx *ctx, int c, bool *help);
/* For a command that takes the common options only, no arguments: -1 to go
 * on, else the exit status (--help printed usage: EXIT_OK; EXIT_USAGE). */
int cli_common_opts_only(cli_ctx *ctx, int argc, char **argv, const char *usage);

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

int cmd_serve(cli_ctx *ctx, int argc, char **argv);
int cmd_check(cli_ctx *ctx, int argc, char **argv);
int cmd_action(cli_ctx *ctx, int argc, char **argv);
int cmd_event(cli_ctx *ctx, int argc, char **argv);
int cmd_deadletter(cli_ctx *ctx, int argc, char **argv);
int cmd_registration(cli_ctx *ctx, int argc, char **argv);
int cmd_activation(cli_ctx *ctx, int argc, char **argv);
int cmd_trace(cli_ctx *ctx, int argc, char **argv);
int cmd_onboard(cli_ctx *ctx, int argc, char **argv);
int cmd_config(cli_ctx *ctx, int argc, char **argv);
int cmd_test(cli_ctx *ctx, int argc, char **argv);
int cmd_exec(cli_ctx *ctx, int argc, char **argv);
/* evkit event show <id>: the event with every delivery and attempt (cmd_trace.c). */
int cli_event_show(cli_ctx *ctx, const char *id);
/* evkit event sample <code> | --list, evkit event send-sample <code> (cmd_sample.c). */
int cli_event_sample(cli_ctx *ctx, const char *code, bool list);
int cli_event_send_sample(cli_ctx *ctx, const char *code);

#endif
