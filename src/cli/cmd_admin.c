/* registration, deadletter and activation commands: reading and steering
 * the journal, also while a daemon runs on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli_int.h"
#include "cli/progress.h"
#include "registry/registry.h"

static const char *REG_USAGE =
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

static const char *DL_USAGE =
    "usage: evkit deadletter list [--registration R] [--limit N]\n"
    "       evkit deadletter replay <id>\n"
    "       evkit deadletter replay --registration R\n"
    "\n"
    "Dead letters are deliveries whose retries ran out (expired) or that got a final\n"
    "status (rejected). They are kept until replayed.\n";

static const char *ACT_USAGE =
    "usage: evkit activation list [--name N] [--limit N]\n"
    "       evkit activation get <id>\n"
    "       evkit activation logs <id>\n"
    "       evkit activation result <id>\n";

typedef struct sub_opts {
    const char *registration;
    const char *name;
    int limit;
    bool help;
    const char *file, *provider, *events, *action, *webhook_url, *description, *secret;
    bool batch;
} sub_opts;

/* Parses the options the admin commands share; returns optind or -1. */
static int parse_sub(cli_ctx *ctx, int argc, char **argv, sub_opts *o)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"registration", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'N'},
        {"limit", required_argument, NULL, 'n'},
        {"file", required_argument, NULL, 'f'},
        {"provider", required_argument, NULL, 'p'},
        {"events", required_argument, NULL, 'e'},
        {"action", required_argument, NULL, 'a'},
        {"webhook-url", required_argument, NULL, 'u'},
        {"description", required_argument, NULL, 'd'},
        {"secret", required_argument, NULL, 's'},
        {"batch", no_argument, NULL, 'b'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_common_opt(ctx, c, &o->help)) continue;
        if (c == 'r') o->registration = optarg;
        else if (c == 'N') o->name = optarg;
        else if (c == 'f') o->file = optarg;
        else if (c == 'p') o->provider = optarg;
        else if (c == 'e') o->events = optarg;
        else if (c == 'a') o->action = optarg;
        else if (c == 'u') o->webhook_url = optarg;
        else if (c == 'd') o->description = optarg;
        else if (c == 's') o->secret = optarg;
        else if (c == 'b') o->batch = true;
        else if (c == 'n') {
            char *end;
            o->limit = (int)strtol(optarg, &end, 10);
            if (*end || o->limit < 1) return -1;
        } else return -1;
    }
    return optind;
}

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
static json_t *spec_from_opts(const sub_opts *o)
{
    json_t *spec;
    if (o->file) {
        json_error_t je;
        spec = !strcmp(o->file, "-") ? json_loadf(stdin, 0, &je) : json_load_file(o->file, 0, &je);
        if (!json_is_object(spec)) {
            json_decref(spec);
            cli_fail("%s: not a JSON object: %s (line %d)", o->file, je.text, je.line);
            return NULL;
        }
    } else {
        spec = json_object();
    }
    if (o->description) json_object_set_new(spec, "description", json_string(o->description));
    if (o->action) json_object_set_new(spec, "runtime_action", json_string(o->action));
    if (o->webhook_url) json_object_set_new(spec, "webhook_url", json_string(o->webhook_url));
    if (o->batch) json_object_set_new(spec, "delivery_type", json_string("batch"));
    if (o->secret) json_object_set_new(spec, "webhook_secret", json_string(o->secret));
    if (o->provider || o->events) {
        json_t *codes = json_array();
        if (o->events) {
            char *copy = xstrdup(o->events), *save = NULL;
            for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
                json_array_append_new(codes, json_string(t));
            free(copy);
        }
        json_object_set_new(spec, "events_of_interest",
                            json_pack("[{s:s?, s:o}]", "provider_metadata", o->provider,
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
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
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

static int registration_change(cli_ctx *ctx, const char *verb, const sub_opts *o, int nargs,
                               char **args)
{
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    err_t err = {0};
    int status = 0, rc = EXIT_OK; /* status: the registry's 0 or -1 */
    char *secret = NULL;
    const char *name = args[0];
    if (!strcmp(verb, "get")) {
        rc = show_one(ctx, &e, name, NULL);
    } else if (!strcmp(verb, "create") || !strcmp(verb, "update")) {
        json_t *spec = spec_from_opts(o);
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
        status = registry_secret_add(e.registry, name, o->secret, &secret, &err);
        if (status == 0) {
            const char *s = secret ? secret : o->secret;
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
    (void)nargs;
    if (status < 0) rc = cli_fail("%s", err.msg);
    secret_free(secret);
    cli_close_engine(&e);
    return rc;
}

int cmd_registration(cli_ctx *ctx, int argc, char **argv)
{
    sub_opts o = {0};
    int i = parse_sub(ctx, argc, argv, &o);
    if (i < 0) return cli_usage(REG_USAGE);
    if (o.help) {
        fputs(REG_USAGE, stdout);
        return EXIT_OK;
    }
    int nargs = argc - i;
    if (nargs == 1 && !strcmp(argv[i], "list")) return registration_list(ctx);
    if (nargs == 2 && (!strcmp(argv[i], "get") || !strcmp(argv[i], "create") ||
                       !strcmp(argv[i], "update") || !strcmp(argv[i], "delete") ||
                       !strcmp(argv[i], "enable")))
        return registration_change(ctx, argv[i], &o, 1, argv + i + 1);
    if (nargs == 3 && !strcmp(argv[i], "secret") && !strcmp(argv[i + 1], "add"))
        return registration_change(ctx, "secret-add", &o, 1, argv + i + 2);
    if (nargs == 4 && !strcmp(argv[i], "secret") && !strcmp(argv[i + 1], "remove"))
        return registration_change(ctx, "secret-remove", &o, 2, argv + i + 2);
    return cli_usage(REG_USAGE);
}

int cmd_deadletter(cli_ctx *ctx, int argc, char **argv)
{
    sub_opts o = {.limit = 100};
    int i = parse_sub(ctx, argc, argv, &o);
    if (i < 0) return cli_usage(DL_USAGE);
    if (o.help) {
        fputs(DL_USAGE, stdout);
        return EXIT_OK;
    }
    int nargs = argc - i;
    err_t err;
    if (nargs == 1 && !strcmp(argv[i], "list")) {
        store_t *s = cli_open_store(ctx);
        if (!s) return EXIT_FAIL;
        json_t *out = NULL;
        int rc = store_deadletter_list(s, o.registration, o.limit, &out, &err);
        store_close(s);
        if (rc < 0) return cli_fail("%s", err.msg);
        if (ctx->json) {
            cli_print_json(out);
        } else {
            printf("%-8s %-24s %-40s %-8s %-9s %-6s %s\n", "ID", "REGISTRATION", "TYPE", "REASON",
                   "ATTEMPTS", "STATUS", "LAST ERROR");
            size_t k;
            json_t *d;
            json_array_foreach(out, k, d) {
                printf("%-8lld %-24s %-40s %-8s %-9lld %-6lld %s\n",
                       (long long)json_integer_value(json_object_get(d, "id")),
                       json_string_value(json_object_get(d, "registration")),
                       json_string_value(json_object_get(d, "type")),
                       json_string_value(json_object_get(d, "reason")),
                       (long long)json_integer_value(json_object_get(d, "attempts")),
                       (long long)json_integer_value(json_object_get(d, "last_status")),
                       json_string_value(json_object_get(d, "last_error"))
                           ? json_string_value(json_object_get(d, "last_error"))
                           : "-");
            }
        }
        json_decref(out);
        return EXIT_OK;
    }
    if (nargs >= 1 && !strcmp(argv[i], "replay") &&
        ((nargs == 2 && !o.registration) || (nargs == 1 && o.registration))) {
        int64_t id = 0;
        if (nargs == 2) {
            char *end;
            id = strtoll(argv[i + 1], &end, 10);
            if (*end || id <= 0) return cli_fail("'%s' is not a dead letter id", argv[i + 1]);
        }
        store_t *s = cli_open_store(ctx);
        if (!s) return EXIT_FAIL;
        int count = 0;
        int rc;
        if (id > 0) {
            rc = store_deadletter_replay(s, id, o.registration, &count, &err);
        } else {
            /* In bulk: chunk by chunk, with a progress bar on a terminal. */
            progress_t *p = progress_start("replaying dead letters", 0);
            rc = store_deadletter_replay_all(s, o.registration, cli_progress_cb, p, &count, &err);
            progress_finish(p);
        }
        store_close(s);
        if (rc < 0) return cli_fail("%s", err.msg);
        if (count == 0 && id > 0) return cli_fail("dead letter %lld not found", (long long)id);
        printf("%d dead letter(s) queued for delivery again\n", count);
        return EXIT_OK;
    }
    return cli_usage(DL_USAGE);
}

int cmd_activation(cli_ctx *ctx, int argc, char **argv)
{
    sub_opts o = {.limit = 30};
    int i = parse_sub(ctx, argc, argv, &o);
    if (i < 0) return cli_usage(ACT_USAGE);
    if (o.help) {
        fputs(ACT_USAGE, stdout);
        return EXIT_OK;
    }
    int nargs = argc - i;
    err_t err;
    if (nargs == 1 && !strcmp(argv[i], "list")) {
        store_t *s = cli_open_store(ctx);
        if (!s) return EXIT_FAIL;
        json_t *out = NULL;
        int rc = store_activation_list(s, o.name, o.limit, &out, &err);
        store_close(s);
        if (rc < 0) return cli_fail("%s", err.msg);
        if (ctx->json) {
            cli_print_json(out);
        } else {
            printf("%-24s %-32s %-40s %-8s %-22s %s\n", "START", "ACTIVATION ID", "NAME", "DURATION",
                   "STATUS", "CAUSED BY");
            size_t k;
            json_t *a;
            json_array_foreach(out, k, a) {
                char ts[32];
                time_iso(json_integer_value(json_object_get(a, "start")), ts, sizeof ts);
                json_t *resp = json_object_get(a, "response");
                const char *cause = json_string_value(json_object_get(a, "cause"));
                printf("%-24s %-32s %-40s %-8lld %-22s %s\n", ts,
                       json_string_value(json_object_get(a, "activationId")),
                       json_string_value(json_object_get(a, "path"))
                           ? json_string_value(json_object_get(a, "path"))
                           : json_string_value(json_object_get(a, "name")),
                       (long long)json_integer_value(json_object_get(a, "duration")),
                       json_string_value(json_object_get(resp, "status")), cause ? cause : "-");
            }
        }
        json_decref(out);
        return EXIT_OK;
    }
    if (nargs == 2 && (!strcmp(argv[i], "get") || !strcmp(argv[i], "logs") ||
                       !strcmp(argv[i], "result"))) {
        store_t *s = cli_open_store(ctx);
        if (!s) return EXIT_FAIL;
        json_t *a = NULL;
        int rc = store_activation_get(s, argv[i + 1], &a, &err);
        store_close(s);
        if (rc < 0) return cli_fail("%s", err.msg);
        if (!a) return cli_fail("activation '%s' not found", argv[i + 1]);
        if (!strcmp(argv[i], "get")) {
            cli_print_json(a);
        } else if (!strcmp(argv[i], "result")) {
            cli_print_json(json_object_get(json_object_get(a, "response"), "result"));
        } else {
            size_t k;
            json_t *line;
            json_array_foreach(json_object_get(a, "logs"), k, line) puts(json_string_value(line));
        }
        json_decref(a);
        return EXIT_OK;
    }
    return cli_usage(ACT_USAGE);
}
