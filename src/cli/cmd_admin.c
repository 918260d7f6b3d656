/* registration, deadletter and activation commands: reading and steering
 * the journal, also while a daemon runs on it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli_int.h"
#include "cli/progress.h"
#include "registry/registry.h"
#include "core/json_io.h"

static const char REG_USAGE[] =
    "usage: evkit registration list\n"
    "       evkit registration get <name>\n"
    "       evkit registration create <name> [--file SPEC.json] [OPTIONS]\n"
    "       evkit registration update <name> [--file SPEC.json] [OPTIONS]\n"
    "       evkit registration delete <name>\n"
    "       evkit registration enable <name>\n"
    "       evkit registration secret add <name> [--secret whsec_...]\n"
    "       evkit registration secret remove <name> <id>\n"
    "\n"
    "  list     each registration: origin (manifest or api), state (ACTIVE, UNSTABLE,\n"
    "           DISABLED), backlog, dead letters, attempts and failures in 24 h, last error\n"
    "  create   a registration kept in the journal beside the manifest's, from a JSON spec\n"
    "           (the shape of app.config.yaml's registrations) and/or OPTIONS:\n"
    "             --provider P --events CODE[,CODE...]  one events_of_interest entry\n"
    "             --action PKG/NAME | --webhook-url URL  where events go\n"
    "             --batch  --description TEXT\n"
    "           a webhook must answer the challenge; without a secret one is generated\n"
    "           and printed once\n"
    "  update   replaces the definition (a webhook keeps its secrets)\n"
    "  enable   makes a DISABLED registration ACTIVE and resumes its parked deliveries\n"
    "  secret   rotation: add a second signing secret, then remove the old one by id\n"
    "\n"
    "A running daemon picks up changes within a second. Manifest registrations are\n"
    "read-only here.\n";

static const char DL_USAGE[] =
    "usage: evkit deadletter list [--registration R] [--limit N]\n"
    "       evkit deadletter replay <id>\n"
    "       evkit deadletter replay --registration R\n"
    "\n"
    "Dead letters are deliveries whose retries ran out (expired) or that got a final\n"
    "status (rejected). They are kept until replayed.\n";

static const char ACT_USAGE[] =
    "usage: evkit activation list [--name N] [--limit N]\n"
    "       evkit activation get <id>\n"
    "       evkit activation logs <id>\n"
    "       evkit activation result <id>\n";

static int registration_list(cli_ctx *ctx)
{
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    json_t *arr = json_array();
    int rc = EXIT_OK;
    if (!ctx->json)
        printf("%-24s %-9s %-8s %-6s %-8s %-8s %-8s %s\n", "REGISTRATION", "STATE", "BACKLOG",
               "DEAD", "ATTEMPTS", "FAILURES", "ORIGIN", "LAST ERROR");
    regset_t *regs = registry_get(e.registry);
    for (size_t i = 0; i < regs->n; i++) {
        err_t err;
        json_t *o = registry_describe(e.registry, regs->regs[i], regs->from_api[i], &err);
        if (!o) {
            rc = cli_fail("%s: %s", regs->regs[i]->name, err.msg);
            break;
        }
        if (!ctx->json) {
            const char *le = json_string_value(json_object_get(o, "last_error"));
            printf("%-24s %-9s %-8lld %-6lld %-8lld %-8lld %-8s %s\n", regs->regs[i]->name,
                   json_string_value(json_object_get(o, "state")),
                   (long long)json_integer_value(json_object_get(o, "backlog")),
                   (long long)json_integer_value(json_object_get(o, "dead_letters")),
                   (long long)json_integer_value(json_object_get(o, "attempts_24h")),
                   (long long)json_integer_value(json_object_get(o, "failures_24h")),
                   json_string_value(json_object_get(o, "origin")), le ? le : "-");
        }
        /* Names of the earlier CLI output, kept for scripts. */
        json_object_set_new(o, "action", json_string(regs->regs[i]->runtime_action
                                                         ? regs->regs[i]->runtime_action
                                                         : regs->regs[i]->webhook_url));
        json_object_set(o, "dead", json_object_get(o, "dead_letters"));
        json_array_append_new(arr, o);
    }
    regset_release(regs);
    if (ctx->json && rc == EXIT_OK) cli_print_json(arr);
    json_decref(arr);
    cli_close_engine(&e);
    return rc;
}

/* The spec of create/update: --file, then the options over it. */
static json_t *spec_from_opts(const cli_args *a)
{
    const char *const *o = a->opt;
    json_t *spec;
    if (o[OPT_FILE]) {
        json_error_t je;
        spec = !strcmp(o[OPT_FILE], "-") ? json_loadf(stdin, 0, &je) : json_load_file(o[OPT_FILE], 0, &je);
        if (!json_is_object(spec)) {
            json_decref(spec);
            cli_fail("%s: not a JSON object: %s (line %d)", o[OPT_FILE], je.text, je.line);
            return NULL;
        }
    } else {
        spec = json_object();
    }
    if (o[OPT_DESCRIPTION]) json_object_set_new(spec, "description", json_string(o[OPT_DESCRIPTION]));
    if (o[OPT_ACTION]) json_object_set_new(spec, "runtime_action", json_string(o[OPT_ACTION]));
    if (o[OPT_WEBHOOK_URL]) json_object_set_new(spec, "webhook_url", json_string(o[OPT_WEBHOOK_URL]));
    if (o[OPT_BATCH]) json_object_set_new(spec, "delivery_type", json_string("batch"));
    if (o[OPT_SECRET]) json_object_set_new(spec, "webhook_secret", json_string(o[OPT_SECRET]));
    if (o[OPT_PROVIDER] || o[OPT_EVENTS]) {
        json_t *codes = json_array();
        if (o[OPT_EVENTS]) {
            char *copy = xstrdup(o[OPT_EVENTS]), *save = NULL;
            for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
                json_array_append_new(codes, json_string(t));
            free(copy);
        }
        json_object_set_new(spec, "events_of_interest",
                            json_pack("[{s:s?, s:o}]", "provider_metadata", o[OPT_PROVIDER],
                                      "event_codes", codes));
    }
    return spec;
}

static int show_one(cli_ctx *ctx, engine_t *e, const char *name, const char *secret)
{
    regset_t *regs = registry_get(e->registry);
    bool api = false;
    const registration_t *reg = regset_find(regs, name, &api);
    err_t err;
    json_t *o = reg ? registry_describe(e->registry, reg, api, &err) : NULL;
    regset_release(regs);
    if (!reg) return cli_fail("registration '%s' not found", name);
    if (!o) return cli_fail("%s", err.msg);
    if (secret) json_object_set_new(o, "webhook_secret", json_string(secret));
    if (ctx->json) {
        cli_print_json(o);
    } else {
        char *s = json_text(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        if (secret)
            fprintf(stderr, "evkit: the generated webhook_secret is shown only now; keep it\n");
    }
    json_decref(o);
    return EXIT_OK;
}

static void secret_free(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static int registration_change(cli_ctx *ctx, const char *verb, const cli_args *a, char **args)
{
    const char *const *o = a->opt;
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    err_t err = {0};
    int status = 0, rc = EXIT_OK; /* status: the registry's 0 or -1 */
    char *secret = NULL;
    const char *name = args[0];
    if (!strcmp(verb, "get")) {
        rc = show_one(ctx, &e, name, NULL);
    } else if (!strcmp(verb, "create") || !strcmp(verb, "update")) {
        json_t *spec = spec_from_opts(a);
        if (!spec) {
            cli_close_engine(&e);
            return EXIT_FAIL;
        }
        status = !strcmp(verb, "create") ? registry_create(e.registry, name, spec, &secret, &err)
                                         : registry_update(e.registry, name, spec, &secret, &err);
        json_decref(spec);
        if (status == 0) rc = show_one(ctx, &e, name, secret);
    } else if (!strcmp(verb, "delete")) {
        status = registry_delete(e.registry, name, &err);
        if (status == 0) printf("registration %s deleted\n", name);
    } else if (!strcmp(verb, "enable")) {
        int resumed = 0;
        status = registry_enable(e.registry, name, &resumed, &err);
        if (status == 0)
            printf("registration %s is ACTIVE; %d parked deliver%s resumed\n", name, resumed,
                   resumed == 1 ? "y" : "ies");
    } else if (!strcmp(verb, "secret-add")) {
        status = registry_secret_add(e.registry, name, o[OPT_SECRET], &secret, &err);
        if (status == 0) {
            const char *s = secret ? secret : o[OPT_SECRET];
            char id[9], hint[32];
            registry_secret_id(s, id);
            registry_secret_hint(s, hint, sizeof hint);
            if (ctx->json) {
                json_t *j = json_pack("{s:s, s:s, s:s?}", "id", id, "hint", hint, "webhook_secret",
                                      secret);
                cli_print_json(j);
                json_decref(j);
            } else {
                printf("secret %s (%s) added to %s; both sign until the old one is removed\n", id,
                       hint, name);
                if (secret) printf("webhook_secret: %s\n", secret);
            }
        }
    } else if (!strcmp(verb, "secret-remove")) {
        status = registry_secret_remove(e.registry, name, args[1], &err);
        if (status == 0) printf("secret %s removed from %s\n", args[1], name);
    }
    if (status < 0) rc = cli_fail("%s", err.msg);
    secret_free(secret);
    cli_close_engine(&e);
    return rc;
}

/* --limit: dflt when absent, 0 when not a whole number from 1. */
static int limit_of(const cli_args *a, int dflt)
{
    const char *v = a->opt[OPT_LIMIT];
    if (!v) return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && n >= 1 && n <= INT_MAX ? (int)n : 0;
}

static int registration_run(cli_ctx *ctx, const cli_args *a)
{
    int n = a->n;
    char **v = a->v;
    if (!limit_of(a, 1)) return cli_usage(REG_USAGE);
    if (n == 1 && !strcmp(v[0], "list")) return registration_list(ctx);
    if (n == 2 && (!strcmp(v[0], "get") || !strcmp(v[0], "create") || !strcmp(v[0], "update") ||
                   !strcmp(v[0], "delete") || !strcmp(v[0], "enable")))
        return registration_change(ctx, v[0], a, v + 1);
    if (n == 3 && !strcmp(v[0], "secret") && !strcmp(v[1], "add"))
        return registration_change(ctx, "secret-add", a, v + 2);
    if (n == 4 && !strcmp(v[0], "secret") && !strcmp(v[1], "remove"))
        return registration_change(ctx, "secret-remove", a, v + 2);
    return cli_usage(REG_USAGE);
}

static void deadletter_rows(const json_t *list)
{
    printf("%-8s %-24s %-40s %-8s %-9s %-6s %s\n", "ID", "REGISTRATION", "TYPE", "REASON",
           "ATTEMPTS", "STATUS", "LAST ERROR");
    size_t k;
    json_t *d;
    json_array_foreach(list, k, d) {
        const char *le = json_string_value(json_object_get(d, "last_error"));
        printf("%-8lld %-24s %-40s %-8s %-9lld %-6lld %s\n",
               (long long)json_integer_value(json_object_get(d, "id")),
               json_string_value(json_object_get(d, "registration")),
               json_string_value(json_object_get(d, "type")),
               json_string_value(json_object_get(d, "reason")),
               (long long)json_integer_value(json_object_get(d, "attempts")),
               (long long)json_integer_value(json_object_get(d, "last_status")), le ? le : "-");
    }
}

static void activation_rows(const json_t *list)
{
    printf("%-24s %-32s %-40s %-8s %-22s %s\n", "START", "ACTIVATION ID", "NAME", "DURATION",
           "STATUS", "CAUSED BY");
    size_t k;
    json_t *a;
    json_array_foreach(list, k, a) {
        char ts[32];
        time_iso(json_integer_value(json_object_get(a, "start")), ts, sizeof ts);
        const char *path = json_string_value(json_object_get(a, "path"));
        const char *cause = json_string_value(json_object_get(a, "cause"));
        printf("%-24s %-32s %-40s %-8lld %-22s %s\n", ts,
               json_string_value(json_object_get(a, "activationId")),
               path ? path : json_string_value(json_object_get(a, "name")),
               (long long)json_integer_value(json_object_get(a, "duration")),
               json_string_value(json_object_get(json_object_get(a, "response"), "status")),
               cause ? cause : "-");
    }
}

/* deadletter list and activation list: from the store, as JSON or a table. */
static int store_list(cli_ctx *ctx, bool dead, const char *filter, int limit)
{
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    json_t *out = NULL;
    err_t err;
    int rc = dead ? store_deadletter_list(s, filter, limit, &out, &err)
                  : store_activation_list(s, filter, limit, &out, &err);
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (ctx->json) cli_print_json(out);
    else if (dead) deadletter_rows(out);
    else activation_rows(out);
    json_decref(out);
    return EXIT_OK;
}

static int deadletter_replay(cli_ctx *ctx, const char *id_s, const char *reg)
{
    int64_t id = 0;
    if (id_s) {
        char *end;
        id = strtoll(id_s, &end, 10);
        if (*end || id <= 0) return cli_fail("'%s' is not a dead letter id", id_s);
    }
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    int count = 0;
    err_t err;
    int rc;
    if (id > 0) {
        rc = store_deadletter_replay(s, id, reg, &count, &err);
    } else {
        /* In bulk: chunk by chunk, with a progress bar on a terminal. */
        progress_t *p = progress_start("replaying dead letters", 0);
        rc = store_deadletter_replay_all(s, reg, cli_progress_cb, p, &count, &err);
        progress_finish(p);
    }
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (count == 0 && id > 0) return cli_fail("dead letter %lld not found", (long long)id);
    printf("%d dead letter(s) queued for delivery again\n", count);
    return EXIT_OK;
}

static int deadletter_run(cli_ctx *ctx, const cli_args *a)
{
    int limit = limit_of(a, 100);
    const char *reg = a->opt[OPT_REGISTRATION];
    if (!limit) return cli_usage(DL_USAGE);
    if (a->n == 1 && !strcmp(a->v[0], "list")) return store_list(ctx, true, reg, limit);
    if (a->n >= 1 && !strcmp(a->v[0], "replay") && ((a->n == 2 && !reg) || (a->n == 1 && reg)))
        return deadletter_replay(ctx, a->n == 2 ? a->v[1] : NULL, reg);
    return cli_usage(DL_USAGE);
}

static int activation_show(cli_ctx *ctx, const char *what, const char *id)
{
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    json_t *a = NULL;
    err_t err;
    int rc = store_activation_get(s, id, &a, &err);
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (!a) return cli_fail("activation '%s' not found", id);
    if (!strcmp(what, "get")) {
        cli_print_json(a);
    } else if (!strcmp(what, "result")) {
        cli_print_json(json_object_get(json_object_get(a, "response"), "result"));
    } else {
        size_t k;
        json_t *line;
        json_array_foreach(json_object_get(a, "logs"), k, line) puts(json_string_value(line));
    }
    json_decref(a);
    return EXIT_OK;
}

static int activation_run(cli_ctx *ctx, const cli_args *a)
{
    int limit = limit_of(a, 30);
    if (!limit) return cli_usage(ACT_USAGE);
    const char *sub = a->n ? a->v[0] : "";
    if (a->n == 1 && !strcmp(sub, "list")) return store_list(ctx, false, a->opt[OPT_NAME], limit);
    if (a->n == 2 && (!strcmp(sub, "get") || !strcmp(sub, "logs") || !strcmp(sub, "result")))
        return activation_show(ctx, sub, a->v[1]);
    return cli_usage(ACT_USAGE);
}

/* The three commands share one set of options, as they always did. */
#define ADMIN_OPTS                                                                                 \
    (OPT(OPT_REGISTRATION) | OPT(OPT_NAME) | OPT(OPT_LIMIT) | OPT(OPT_FILE) | OPT(OPT_PROVIDER) |   \
     OPT(OPT_EVENTS) | OPT(OPT_ACTION) | OPT(OPT_WEBHOOK_URL) | OPT(OPT_DESCRIPTION) |              \
     OPT(OPT_SECRET) | OPT(OPT_BATCH))

const cli_command cli_cmd_registration = {.name = "registration", .usage = REG_USAGE,
    .opts = ADMIN_OPTS, .operands = true, .run = registration_run};
const cli_command cli_cmd_deadletter = {.name = "deadletter", .usage = DL_USAGE,
    .opts = ADMIN_OPTS, .operands = true, .run = deadletter_run};
const cli_command cli_cmd_activation = {.name = "activation", .usage = ACT_USAGE,
    .opts = ADMIN_OPTS, .operands = true, .run = activation_run};
