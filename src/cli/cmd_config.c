/* config: the effective settings, as evkit serve would read them, with
 * where each comes from; secrets are shown as <hidden>. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"

static const char CONFIG_USAGE[] =
    "usage: evkit config [--app DIR] [--json]\n"
    "\n"
    "Prints every setting with its effective value and where it comes from: default,\n"
    "env (the process environment) or .env (the app's .env file). Secrets print as\n"
    "<hidden>. A value that does not parse is an error, as for evkit serve.\n";

static int config_run(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    app_t *app = cli_load_app(ctx, false);
    if (!app) return EXIT_FAIL;
    err_t err;
    int rc = config_load(ctx->config, app, CONFIG_APP, &err);
    app_free(app);
    if (rc < 0) return cli_fail("%s", err.msg);
    json_t *all = config_describe(ctx->config);
    if (ctx->json) {
        cli_print_json(all);
    } else {
        printf("%-28s %-8s %s\n", "SETTING", "SOURCE", "VALUE");
        size_t i;
        json_t *s;
        json_array_foreach(all, i, s) {
            printf("%-28s %-8s %s\n", json_string_value(json_object_get(s, "name")),
                   json_string_value(json_object_get(s, "source")),
                   json_string_value(json_object_get(s, "value")));
        }
    }
    json_decref(all);
    return EXIT_OK;
}

const cli_command cli_cmd_config = {.name = "config", .usage = CONFIG_USAGE, .run = config_run};
