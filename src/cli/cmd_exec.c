/* exec: runs a command in the app folder with what an App Builder app's own
 * scripts need to work against the running evkit instead of Adobe's hosts
 * (`evkit exec -- npm run onboard`): the app's .env in the environment (the
 * process environment wins, as dotenv does), evkit's base URL for the Adobe
 * services it serves, and evkit's preload given to every Node.js process
 * (NODE_OPTIONS --require), which reroutes those hosts. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli_int.h"
#include "runtime/nodejs.h"

static const char EXEC_USAGE[] =
    "usage: evkit exec [--app DIR] [--data DIR] -- COMMAND [ARG...]\n"
    "\n"
    "Runs COMMAND in the app folder against the running evkit (found as the other commands\n"
    "find it: <data>/serve.json, else $EVKIT_LISTEN), e.g. `evkit exec -- npm run onboard`.\n"
    "Its environment: the process environment over the app's .env; EVKIT_ADOBE_ENDPOINT,\n"
    "__OW_API_HOST (evkit's URL), __OW_NAMESPACE, and with EVKIT_API_TOKENS __OW_API_KEY and\n"
    "EVKIT_STATE_KEY (its first token), each unless already set; NODE_OPTIONS with\n"
    "--require of evkit's preload, which sends the Adobe hosts the App Builder libraries call\n"
    "(IMS, I/O Management, events ingress) to evkit and keeps aio-lib-state in evkit.\n"
    "Exits with COMMAND's status (128+N when signal N ended it, 127 when it cannot run).\n";

#define EXEC_CANNOT_RUN 127
#define EXEC_PROBE_MS 2000L

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

/* Sets name unless the process environment already has it. */
static void env_default(json_t *env, const char *name, const char *value)
{
    if (!getenv(name) && value) json_object_set_new(env, name, json_string(value));
}

/* The child's environment as NAME=VALUE strings, NULL-terminated. */
static char **env_build(const cli_ctx *ctx, const app_t *app, const char *url,
                        const char *preload)
{
    json_t *env = json_deep_copy(app->env);
    const json_t *tokens = ctx->config->api_tokens;
    const char *token = json_string_value(json_array_get(tokens, 0));
    env_default(env, "EVKIT_ADOBE_ENDPOINT", url);
    env_default(env, "__OW_API_HOST", url);
    env_default(env, "__OW_NAMESPACE", ctx->config->namespace);
    env_default(env, "__OW_API_KEY", token);
    env_default(env, "EVKIT_STATE_KEY", token);
    const char *prior = json_string_value(json_object_get(env, "NODE_OPTIONS"));
    char *opts = xasprintf("%s%s--require \"%s\"", prior ? prior : "", prior && *prior ? " " : "",
                           preload);
    json_object_set_new(env, "NODE_OPTIONS", json_string(opts));
    free(opts);
    char **out = xcalloc(json_object_size(env) + 1, sizeof *out);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v) {
        if (json_is_string(v)) out[n++] = xasprintf("%s=%s", k, json_string_value(v));
    }
    json_decref(env);
    return out;
}

static void env_free(char **env)
{
    for (char **e = env; *e; e++) free(*e);
    free(env);
}

/* Whether evkit answers at url (a warning otherwise: the command may not
 * need it). */
static bool daemon_up(const char *url)
{
    char *health = xasprintf("%s/healthz", url);
    CURL *c = curl_easy_init();
    long status = 0;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, health);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, EXEC_PROBE_MS);
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
    }
    free(health);
    return status >= 200 && status < 300;
}

/* Runs argv in dir with env and waits: its exit status as a shell gives it. */
static int run_child(const char *dir, char **argv, char **env)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return cli_fail("cannot start '%s': %s", argv[0], strerror(errno));
    if (pid == 0) {
        extern char **environ;
        if (chdir(dir) < 0) {
            fprintf(stderr, "evkit: cannot enter the app folder '%s': %s\n", dir, strerror(errno));
            _exit(EXEC_CANNOT_RUN);
        }
        environ = env; /* so execvp looks COMMAND up on the PATH it gets */
        execvp(argv[0], argv);
        fprintf(stderr, "evkit: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(EXEC_CANNOT_RUN);
    }
    /* The terminal's ^C and ^\ reach the command itself; evkit waits for it. */
    child_pid = pid;
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward_signal};
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGQUIT, &ign, NULL);
    sigaction(SIGTERM, &fwd, NULL);
    sigaction(SIGHUP, &fwd, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return cli_fail("waiting for '%s': %s", argv[0], strerror(errno));
    }
    child_pid = 0;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAIL;
}

static int exec_run(cli_ctx *ctx, const cli_args *a)
{
    if (a->n == 0) return cli_usage(EXEC_USAGE);
    app_t *app = cli_load_app(ctx, false);
    if (!app) return EXIT_FAIL;
    cli_load_config(ctx, app);
    char preload[4096];
    err_t err;
    if (nodejs_preload_path(preload, sizeof preload, &err) < 0) {
        app_free(app);
        return cli_fail("%s", err.msg);
    }
    char *url = cli_base_url(ctx);
    if (!daemon_up(url))
        fprintf(stderr, "evkit: warning: no evkit answers at %s (start `evkit serve` with this "
                        "--data first); running '%s' all the same\n", url, a->v[0]);
    char **env = env_build(ctx, app, url, preload);
    int rc = run_child(app->dir, a->v, env);
    env_free(env);
    free(url);
    app_free(app);
    return rc;
}

/* Options end at COMMAND, whose own options are its own. */
const cli_command cli_cmd_exec = {.name = "exec", .usage = EXEC_USAGE, .operands = true,
    .run = exec_run, .ordered = true};
