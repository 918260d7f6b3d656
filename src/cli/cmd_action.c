/* action list | get | invoke. invoke runs the action in this process
 * against the same journal a running daemon uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "core/log.h"
#include "runtime/runtime.h"

static const char ACTION_USAGE[] =
    "usage: evkit action list\n"
    "       evkit action get <pkg>/<name> [--url]\n"
    "       evkit action invoke <pkg>/<name> [-p KEY VALUE]... [--param-file FILE]\n"
    "\n"
    "  list      every action: name, runtime, web, URL\n"
    "  get       the action's definition (inputs with secrets hidden), or with --url exactly\n"
    "            the URL the running server answers for it\n"
    "  invoke    runs the action here and prints its result; VALUE is JSON when it parses,\n"
    "            else a string; exits 1 unless the activation succeeded\n";

static const char *web_name(web_mode w)
{
    return w == WEB_YES ? "yes" : w == WEB_RAW ? "raw" : "no";
}

static char *action_url(const cli_ctx *ctx, const char *ns, const action_t *a)
{
    char *base = cli_base_url(ctx);
    char *url = a->web != WEB_NO
                    ? xasprintf("%s/api/v1/web/%s/%s", base, ns, a->fqn)
                    : xasprintf("%s/api/v1/namespaces/%s/actions/%s", base, ns, a->fqn);
    free(base);
    return url;
}

/* AIO_runtime_namespace from the settings (environment, then the app's .env). */
static const char *namespace_of(const cli_ctx *ctx, const app_t *app)
{
    cli_load_config(ctx, app);
    return ctx->config->namespace;
}

static int action_list(cli_ctx *ctx)
{
    app_t *app = cli_load_app(ctx, false);
    if (!app) return EXIT_FAIL;
    const char *ns = namespace_of(ctx, app);
    json_t *arr = json_array();
    if (!ctx->json) printf("%-40s %-12s %-4s %s\n", "ACTION", "RUNTIME", "WEB", "URL");
    for (size_t i = 0; i < app->nactions; i++) {
        const action_t *a = &app->actions[i];
        char *url = action_url(ctx, ns, a);
        if (ctx->json)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name", a->fqn, "runtime",
                                                 a->runtime, "web", web_name(a->web), "url", url));
        else printf("%-40s %-12s %-4s %s\n", a->fqn, a->runtime, web_name(a->web), url);
        free(url);
    }
    if (ctx->json) cli_print_json(arr);
    json_decref(arr);
    app_free(app);
    return EXIT_OK;
}

static int action_get(cli_ctx *ctx, const char *name, bool url_only)
{
    app_t *app = cli_load_app(ctx, false);
    if (!app) return EXIT_FAIL;
    const action_t *a = app_action(app, name);
    if (!a) {
        app_free(app);
        return cli_fail("action '%s' not found (see 'evkit action list')", name);
    }
    const char *ns = namespace_of(ctx, app);
    char *url = action_url(ctx, ns, a);
    if (url_only) {
        puts(url);
    } else {
        json_t *empty = json_object();
        json_t *j = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:o, s:O, s:{s:i, s:i, s:i}, s:s}", "name",
                              a->fqn, "function", a->function, "runtime", a->runtime, "web",
                              web_name(a->web), "namespace", ns, "inputs",
                              log_redact(a->inputs), "annotations", a->annotations ? a->annotations : empty,
                              "limits", "timeout", a->timeout_ms, "memory", a->memory_mb,
                              "concurrency", a->concurrency, "url", url);
        if (a->kind == RUNTIME_SEQUENCE) {
            json_t *steps = json_array();
            for (size_t i = 0; i < a->nsteps; i++)
                json_array_append_new(steps, json_string(a->steps[i]->fqn));
            json_object_set_new(j, "steps", steps);
        }
        cli_print_json(j);
        json_decref(j);
        json_decref(empty);
    }
    free(url);
    app_free(app);
    return EXIT_OK;
}

static int action_invoke(cli_ctx *ctx, const char *name, json_t *request)
{
    engine_t e;
    char *base = cli_base_url(ctx);
    bool ok = cli_open_engine(ctx, &e, base);
    free(base);
    if (!ok) return EXIT_FAIL;
    const action_t *a = app_action(e.app, name);
    if (!a) {
        cli_close_engine(&e);
        return cli_fail("action '%s' not found (see 'evkit action list')", name);
    }
    err_t err;
    json_t *params = runtime_params(a, request, &err);
    if (!params) {
        cli_close_engine(&e);
        return cli_fail("%s", err.msg);
    }
    invoke_result res;
    runtime_invoke(&e, a, params, NULL, &res);
    cli_print_json(res.result);
    fprintf(stderr, "activation %s: %s (%lld ms)\n", res.activation_id, act_status_name(res.status),
            (long long)res.duration_ms);
    json_decref(res.result);
    json_decref(params);
    lua_backend_thread_cleanup();
    actionloop_backend_shutdown();
    cli_close_engine(&e);
    return res.status == ACT_SUCCESS ? EXIT_OK : EXIT_FAIL;
}

static int action_run(cli_ctx *ctx, const cli_args *a)
{
    if (a->opt[OPT_LISTEN]) ctx->listen = a->opt[OPT_LISTEN];
    const char *file = a->opt[OPT_PARAM_FILE];
    json_t *request = json_deep_copy(a->params);
    if (file) {
        json_error_t je;
        json_t *f = json_load_file(file, 0, &je);
        if (!json_is_object(f)) {
            json_decref(f);
            json_decref(request);
            return cli_fail("%s:%d:%d: %s", file, je.line, je.column,
                            f ? "a JSON object is required" : je.text);
        }
        json_object_update(request, f);
        json_decref(f);
    }
    const char *sub = a->n > 0 ? a->v[0] : NULL;
    int rc;
    if (sub && !strcmp(sub, "list") && a->n == 1) rc = action_list(ctx);
    else if (sub && !strcmp(sub, "get") && a->n == 2) rc = action_get(ctx, a->v[1], a->opt[OPT_URL] != NULL);
    else if (sub && !strcmp(sub, "invoke") && a->n == 2) rc = action_invoke(ctx, a->v[1], request);
    else rc = cli_usage(ACTION_USAGE);
    json_decref(request);
    return rc;
}

const cli_command cli_cmd_action = {.name = "action", .usage = ACTION_USAGE,
    .opts = OPT(OPT_URL) | OPT(OPT_PARAM_FILE) | OPT(OPT_LISTEN) | OPT(OPT_PARAM),
    .operands = true, .run = action_run};
