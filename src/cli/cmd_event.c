/* event list | show | replay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "registry/registry.h"

static const char *EVENT_USAGE =
    "usage: evkit event list [--provider P] [--since POS] [--limit N]\n"
    "       evkit event show <id>\n"
    "       evkit event replay --registration R (--since POS | --seek DURATION)\n"
    "       evkit event sample <code> | --list\n"
    "       evkit event send-sample <code>\n"
    "\n"
    "  list     journaled events, oldest first, one {position, event} JSON per line\n"
    "           (--json: one JSON array); --since is exclusive; --limit default 100\n"
    "  show     the event with every delivery it caused and each attempt's trace\n"
    "  replay   delivers past events again to registration R: those after POS, or those\n"
    "           of the last DURATION (ISO 8601, e.g. --seek -PT2H)\n";

static int event_list(cli_ctx *ctx, const char *provider, int64_t since, int limit)
{
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    json_t *events = NULL;
    err_t err;
    int64_t floor = 0;
    if (since > 0 && store_journal_floor(s, &floor, &err) == 0 && since < floor)
        fprintf(stderr, "evkit: warning: retention removed events up to position %lld; events "
                        "after %lld may be missing\n", (long long)floor, (long long)since);
    int rc = store_read(s, provider, since, limit, &events, &err);
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (ctx->json) {
        cli_print_json(events);
    } else {
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev) {
            char *line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(line);
            free(line);
        }
    }
    json_decref(events);
    return EXIT_OK;
}

static int event_replay(cli_ctx *ctx, const char *reg_name, int64_t since, const char *seek)
{
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    regset_t *regs = registry_get(e.registry);
    const registration_t *reg = regset_find(regs, reg_name, NULL);
    if (!reg) {
        regset_release(regs);
        cli_close_engine(&e);
        return cli_fail("registration '%s' not found", reg_name);
    }
    err_t err;
    if (seek) {
        int64_t ms;
        if (dur_parse(seek, &ms) < 0 || ms > 0) {
            regset_release(regs);
            cli_close_engine(&e);
            return cli_fail("--seek '%s': a negative ISO 8601 duration is required, e.g. -PT2H", seek);
        }
        if (store_position_before(e.store, now_ms() + ms, &since, &err) < 0) {
            regset_release(regs);
            cli_close_engine(&e);
            return cli_fail("%s", err.msg);
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < reg->ninterests; i++) n += reg->interests[i].ncodes;
    const char **providers = xcalloc(n ? n : 1, sizeof *providers);
    const char **types = xcalloc(n ? n : 1, sizeof *types);
    size_t k = 0;
    for (size_t i = 0; i < reg->ninterests; i++)
        for (size_t j = 0; j < reg->interests[i].ncodes; j++) {
            providers[k] = reg->interests[i].provider;
            types[k++] = reg->interests[i].codes[j];
        }
    int count = 0;
    int rc = store_replay(e.store, reg->name, since, providers, types, n, reg->ordering_key, &count,
                          &err);
    free(providers);
    free(types);
    regset_release(regs);
    cli_close_engine(&e);
    if (rc < 0) return cli_fail("%s", err.msg);
    printf("replaying %d event(s) after position %lld to registration %s\n", count,
           (long long)since, reg_name);
    return EXIT_OK;
}

int cmd_event(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"provider", required_argument, NULL, 'p'},
        {"since", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'n'},
        {"registration", required_argument, NULL, 'r'},
        {"seek", required_argument, NULL, 'k'},
        {"list", no_argument, NULL, 'L'},
        {0, 0, 0, 0},
    };
    bool help = false;
    const char *provider = NULL, *reg = NULL, *seek = NULL;
    int64_t since = 0;
    bool have_since = false, list = false;
    int limit = 100;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_common_opt(ctx, c, &help)) continue;
        char *end;
        switch (c) {
        case 'p': provider = optarg; break;
        case 'r': reg = optarg; break;
        case 'k': seek = optarg; break;
        case 'L': list = true; break;
        case 's':
            since = strtoll(optarg, &end, 10);
            if (*end || since < 0) return cli_fail("--since '%s': a position (integer >= 0) is required", optarg);
            have_since = true;
            break;
        case 'n':
            limit = (int)strtol(optarg, &end, 10);
            if (*end || limit < 1 || limit > 100000) return cli_fail("--limit '%s': 1..100000", optarg);
            break;
        default: return cli_usage(EVENT_USAGE);
        }
    }
    if (help) {
        fputs(EVENT_USAGE, stdout);
        return EXIT_OK;
    }
    int nargs = argc - optind;
    if (nargs == 2 && !strcmp(argv[optind], "show")) return cli_event_show(ctx, argv[optind + 1]);
    if (nargs == 2 && !strcmp(argv[optind], "sample")) return cli_event_sample(ctx, argv[optind + 1], false);
    if (nargs == 1 && list && !strcmp(argv[optind], "sample")) return cli_event_sample(ctx, NULL, true);
    if (nargs == 2 && !strcmp(argv[optind], "send-sample"))
        return cli_event_send_sample(ctx, argv[optind + 1]);
    const char *sub = nargs == 1 ? argv[optind] : NULL;
    if (sub && !strcmp(sub, "list")) return event_list(ctx, provider, since, limit);
    if (sub && !strcmp(sub, "replay")) {
        if (!reg || have_since == (seek != NULL)) return cli_usage(EVENT_USAGE);
        return event_replay(ctx, reg, since, seek);
    }
    return cli_usage(EVENT_USAGE);
}
