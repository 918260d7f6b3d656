/* trigger list | fire. list shows each trigger's schedule with its last and
 * next fire as the store keeps them; fire runs a trigger's rules here, in
 * this process, against the same journal a running daemon uses (as
 * `evkit action invoke` runs an action). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "runtime/runtime.h"

static const char TRIGGER_USAGE[] =
    "usage: evkit trigger list\n"
    "       evkit trigger fire <name> [-p KEY VALUE]...\n"
    "\n"
    "  list      every trigger: feed and schedule, last fire, next fire, rules\n"
    "  fire      fires the trigger here: its activation and one of each rule's action, the\n"
    "            params (VALUE as JSON when it parses) over the trigger's; prints the ids\n";

static const char *str_or(const json_t *j, const char *k, const char *dflt)
{
    const char *v = json_string_value(json_object_get(j, k));
    return v ? v : dflt;
}

static int cmd_list(cli_ctx *ctx)
{
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    json_t *list = json_array();
    for (size_t i = 0; i < e.app->ntriggers; i++)
        json_array_append_new(list, trigger_describe(&e, &e.app->triggers[i]));
    if (ctx->json) {
        cli_print_json(list);
    } else if (!json_array_size(list)) {
        puts("no triggers (declare them under triggers: of a package)");
    } else {
        printf("%-24s %-10s %-16s %-25s %-25s %s\n", "TRIGGER", "FEED", "SCHEDULE", "LAST FIRE",
               "NEXT FIRE", "RULES");
        size_t k;
        json_t *t;
        json_array_foreach(list, k, t) {
            const char *feed = str_or(t, "feed", "-");
            const char *slash = strrchr(feed, '/');
            char sched[64] = "-";
            if (json_object_get(t, "cron")) snprintf(sched, sizeof sched, "%s", str_or(t, "cron", ""));
            else if (json_object_get(t, "minutes"))
                snprintf(sched, sizeof sched, "every %lld min",
                         (long long)json_integer_value(json_object_get(t, "minutes")));
            else if (json_object_get(t, "date")) snprintf(sched, sizeof sched, "once");
            char *rules = json_dumps(json_object_get(t, "rules"), JSON_COMPACT);
            printf("%-24s %-10s %-16s %-25s %-25s %s\n", str_or(t, "name", ""),
                   slash ? slash + 1 : feed, sched, str_or(t, "lastFire", "-"),
                   str_or(t, "nextFire", "-"), rules ? rules : "[]");
            free(rules);
        }
    }
    json_decref(list);
    cli_close_engine(&e);
    return EXIT_OK;
}

static int cmd_fire(cli_ctx *ctx, const char *name, const json_t *params)
{
    engine_t e;
    char *base = cli_base_url(ctx);
    bool ok = cli_open_engine(ctx, &e, base);
    free(base);
    if (!ok) return EXIT_FAIL;
    const trigger_t *t = app_trigger(e.app, name);
    if (!t) {
        cli_close_engine(&e);
        return cli_fail("trigger '%s' not found (see 'evkit trigger list')", name);
    }
    char id[33];
    int rules = runtime_fire_trigger(&e, t, params, NULL, id);
    store_flush(e.store);
    json_t *rec = NULL;
    err_t err;
    if (store_activation_get(e.store, id, &rec, &err) == 0 && rec) cli_print_json(rec);
    json_decref(rec);
    fprintf(stderr, "trigger %s fired: activation %s, %d rule(s)\n", name, id, rules);
    lua_backend_thread_cleanup();
    actionloop_backend_shutdown();
    cli_close_engine(&e);
    return EXIT_OK;
}

static int trigger_run(cli_ctx *ctx, const cli_args *a)
{
    const char *sub = a->n > 0 ? a->v[0] : NULL;
    if (sub && !strcmp(sub, "list") && a->n == 1) return cmd_list(ctx);
    if (sub && !strcmp(sub, "fire") && a->n == 2) return cmd_fire(ctx, a->v[1], a->params);
    return cli_usage(TRIGGER_USAGE);
}

const cli_command cli_cmd_trigger = {.name = "trigger", .usage = TRIGGER_USAGE,
    .opts = OPT(OPT_PARAM), .operands = true, .run = trigger_run};
