/* registration, deadletter and activation commands: reading and steering
 * the journal, also while a daemon runs on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

static const char *REG_USAGE =
    "usage: evkit registration list\n"
    "       evkit registration enable <name>\n"
    "\n"
    "  list     each registration: state (ACTIVE, UNSTABLE, DISABLED), backlog, dead\n"
    "           letters, attempts and failures in 24 h, last error\n"
    "  enable   makes a DISABLED registration ACTIVE and resumes its parked deliveries\n";

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
} sub_opts;

/* Parses the options the admin commands share; returns optind or -1. */
static int parse_sub(cli_ctx *ctx, int argc, char **argv, sub_opts *o)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"registration", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'N'},
        {"limit", required_argument, NULL, 'n'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_common_opt(ctx, c, &o->help)) continue;
        if (c == 'r') o->registration = optarg;
        else if (c == 'N') o->name = optarg;
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
        printf("%-24s %-9s %-8s %-6s %-8s %-8s %s\n", "REGISTRATION", "STATE", "BACKLOG", "DEAD",
               "ATTEMPTS", "FAILURES", "LAST ERROR");
    for (size_t i = 0; i < e.app->nregistrations; i++) {
        const registration_t *r = &e.app->registrations[i];
        store_reg_info info;
        err_t err;
        if (store_reg_info_get(e.store, r->name, &info, &err) < 0) {
            rc = cli_fail("%s: %s", r->name, err.msg);
            break;
        }
        if (ctx->json) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "name", r->name,
                               "action", r->runtime_action, "state", reg_state_name(info.state),
                               "backlog", (json_int_t)info.backlog, "parked", (json_int_t)info.parked,
                               "dead", (json_int_t)info.dead, "attempts_24h",
                               (json_int_t)info.attempts_24h, "failures_24h",
                               (json_int_t)info.failures_24h, "last_error", info.last_error,
                               "last_attempt", (json_int_t)info.last_attempt_ms));
        } else {
            printf("%-24s %-9s %-8lld %-6lld %-8lld %-8lld %s\n", r->name, reg_state_name(info.state),
                   (long long)info.backlog, (long long)info.dead, (long long)info.attempts_24h,
                   (long long)info.failures_24h, info.last_error[0] ? info.last_error : "-");
        }
    }
    if (ctx->json && rc == EXIT_OK) cli_print_json(arr);
    json_decref(arr);
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
    if (nargs == 2 && !strcmp(argv[i], "enable")) {
        app_t *app = cli_load_app(ctx, false);
        if (!app) return EXIT_FAIL;
        bool known = app_registration(app, argv[i + 1]) != NULL;
        app_free(app);
        if (!known) return cli_fail("registration '%s' not found", argv[i + 1]);
        store_t *s = cli_open_store(ctx);
        if (!s) return EXIT_FAIL;
        int resumed = 0;
        err_t err;
        int rc = store_reg_enable(s, argv[i + 1], &resumed, &err);
        store_close(s);
        if (rc < 0) return cli_fail("%s", err.msg);
        printf("registration %s is ACTIVE; %d parked deliver%s resumed\n", argv[i + 1], resumed,
               resumed == 1 ? "y" : "ies");
        return EXIT_OK;
    }
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
        int rc = store_deadletter_replay(s, id, o.registration, &count, &err);
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
