/* event list | show | replay | publish. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "cli/progress.h"
#include "registry/registry.h"
#include "core/json_io.h"

static const char EVENT_USAGE[] =
    "usage: evkit event list [--provider P] [--since POS] [--limit N]\n"
    "       evkit event show <id>\n"
    "       evkit event replay --registration R (--since POS | --seek DURATION | --from T)\n"
    "                          [--until POS | --to T]\n"
    "       evkit event sample <code> | --list\n"
    "       evkit event send-sample <code>\n"
    "       evkit event publish --provider P --type T (--payload JSON | --payload-file F) [--id ID]\n"
    "\n"
    "  list     journaled events, oldest first, one {position, event} JSON per line\n"
    "           (--json: one JSON array); --since is exclusive; --limit default 100\n"
    "  show     the event with every delivery it caused and each attempt's trace\n"
    "  replay   delivers past events again to registration R (those its filter takes):\n"
    "           those after POS, or of the last DURATION (ISO 8601, e.g. --seek -PT2H), or\n"
    "           journaled at or after T (an ISO 8601 time or a duration before now);\n"
    "           --until POS (inclusive) or --to T (exclusive) ends the range\n"
    "  publish  sends a CloudEvent to the running daemon's publishing API\n"
    "           (POST /api/v1/events, the first token of EVKIT_API_TOKENS); --id is the\n"
    "           idempotency key (default a fresh UUID)\n";

static int event_publish(cli_ctx *ctx, const char *provider, const char *type, const char *data_s,
                         const char *data_file, const char *id)
{
    if (!provider || !type || (!data_s == !data_file))
        return cli_fail("publish needs --provider, --type and one of --payload or --payload-file");
    json_error_t je;
    json_t *data = data_s ? json_load_kept(data_s, strlen(data_s), JSON_DECODE_ANY, &je)
                          : json_load_file(data_file, JSON_DECODE_ANY, &je);
    if (!data) return cli_fail("%s: not JSON: %s (line %d)", data_s ? "--payload" : data_file, je.text, je.line);
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) {
        json_decref(data);
        return EXIT_FAIL;
    }
    int rc = EXIT_OK;
    char pid[37], evid[37];
    err_t err;
    if (!app_provider(e.app, provider)) {
        rc = cli_fail("unknown provider '%s'", provider);
    } else if (store_provider_id(e.store, provider, pid, &err) < 0) {
        rc = cli_fail("%s", err.msg);
    } else if (!*e.api_key) {
        rc = cli_fail("set EVKIT_API_TOKENS: the publishing API needs a token");
    }
    if (rc != EXIT_OK) {
        json_decref(data);
        cli_close_engine(&e);
        return rc;
    }
    if (!id) {
        uuid_v4(evid);
        id = evid;
    }
    char *source = xasprintf("urn:uuid:%s", pid);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id", id,
                           "source", source, "type", type, "datacontenttype", "application/json",
                           "data", data);
    char *body = json_text(ev, JSON_COMPACT);
    json_decref(ev);
    free(source);
    char *base = cli_base_url(ctx);
    char *url = xasprintf("%s/api/v1/events", base);
    char *auth = xasprintf("Authorization: Bearer %s", e.api_key);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/cloudevents+json");
    h = curl_slist_append(h, auth);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cli_http_out res = {0};
    int sent = cli_http_post(url, h, body, 60000L, &res);
    long status = res.status;
    buf_t out = res.body;
    curl_slist_free_all(h);
    free(auth);
    free(body);
    if (sent < 0) {
        rc = cli_fail("cannot reach %s (is 'evkit serve' running?): %s", url, res.error);
    } else if (status == 204) {
        if (ctx->json) puts("{\"events\": [], \"taken\": false}");
        else printf("published %s (no registration takes %s)\n", id, type);
    } else if (status == 200) {
        json_t *j = json_load_kept(out.data ? out.data : "", out.len, 0, NULL);
        json_t *first = json_array_get(json_object_get(j, "events"), 0);
        if (ctx->json) cli_print_json(j);
        else printf("published %s as event %s at position %lld%s\n", id,
                    json_string_value(json_object_get(first, "id")),
                    (long long)json_integer_value(json_object_get(first, "position")),
                    json_is_true(json_object_get(first, "duplicate")) ? " (a duplicate: already journaled)" : "");
        json_decref(j);
    } else {
        json_t *j = json_load_kept(out.data ? out.data : "", out.len, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "error"));
        rc = cli_fail("HTTP %ld: %s", status, msg ? msg : (out.data ? out.data : ""));
        json_decref(j);
    }
    buf_free(&out);
    free(url);
    free(base);
    cli_close_engine(&e);
    return rc;
}

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
            char *line = json_text(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(line);
            free(line);
        }
    }
    json_decref(events);
    return EXIT_OK;
}

static int event_replay(cli_ctx *ctx, const char *const *o)
{
    registry_range g = {0};
    err_t err;
    int64_t now = now_ms(), ms = 0;
    if (o[OPT_SEEK]) {
        if (dur_parse(o[OPT_SEEK], &ms) < 0 || ms > 0)
            return cli_fail("--seek '%s': a negative ISO 8601 duration is required, e.g. -PT2H",
                            o[OPT_SEEK]);
        g.from_ms = now + ms;
    }
    struct { int opt; const char *what; int64_t *pos, *ms; } bounds[] = {
        {OPT_SINCE, "--since", &g.since, NULL}, {OPT_FROM, "--from", NULL, &g.from_ms},
        {OPT_UNTIL, "--until", &g.until, NULL}, {OPT_TO, "--to", NULL, &g.to_ms},
    };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        const char *v = o[bounds[i].opt];
        int64_t pos = -1, t = -1;
        if (!v) continue;
        if (registry_range_bound(bounds[i].what, v, now, &pos, &t, &err) < 0)
            return cli_fail("%s", err.msg);
        if (bounds[i].pos && pos < 0) return cli_fail("%s '%s': a journal position is required", bounds[i].what, v);
        if (bounds[i].ms && t < 0) return cli_fail("%s '%s': a time is required", bounds[i].what, v);
        if (bounds[i].pos) *bounds[i].pos = pos;
        else *bounds[i].ms = t;
    }
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    int count = 0, filtered = 0;
    progress_t *p = progress_start("replaying events", 0);
    int rc = registry_replay(e.registry, o[OPT_REGISTRATION], &g, cli_progress_cb, p, &count,
                             &filtered, &err);
    progress_finish(p);
    cli_close_engine(&e);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (ctx->json) {
        json_t *j = json_pack("{s:s, s:I, s:I, s:i, s:i}", "registration", o[OPT_REGISTRATION],
                              "since", (json_int_t)g.since, "until", (json_int_t)g.until,
                              "replayed", count, "filtered", filtered);
        cli_print_json(j);
        json_decref(j);
    } else if (g.until > 0) {
        printf("replaying %d event(s) after position %lld up to %lld to registration %s\n", count,
               (long long)g.since, (long long)g.until, o[OPT_REGISTRATION]);
    } else {
        printf("replaying %d event(s) after position %lld to registration %s\n", count,
               (long long)g.since, o[OPT_REGISTRATION]);
    }
    if (filtered && !ctx->json)
        printf("%d event(s) left out by the registration's filter\n", filtered);
    return EXIT_OK;
}

static int event_run(cli_ctx *ctx, const cli_args *a)
{
    const char *const *o = a->opt;
    long long since = 0, limit = 100;
    if (o[OPT_SINCE] && cli_parse_ll("--since", o[OPT_SINCE], 0, INT64_MAX, &since) < 0)
        return EXIT_FAIL;
    if (o[OPT_LIMIT] && cli_parse_ll("--limit", o[OPT_LIMIT], 1, 100000, &limit) < 0)
        return EXIT_FAIL;
    const char *sub = a->n > 0 ? a->v[0] : NULL;
    if (a->n == 2 && !strcmp(sub, "show")) return cli_event_show(ctx, a->v[1]);
    if (a->n == 2 && !strcmp(sub, "sample")) return cli_event_sample(ctx, a->v[1], false);
    if (a->n == 1 && o[OPT_LIST] && !strcmp(sub, "sample")) return cli_event_sample(ctx, NULL, true);
    if (a->n == 2 && !strcmp(sub, "send-sample")) return cli_event_send_sample(ctx, a->v[1]);
    if (a->n != 1) return cli_usage(EVENT_USAGE);
    if (!strcmp(sub, "list")) return event_list(ctx, o[OPT_PROVIDER], since, (int)limit);
    if (!strcmp(sub, "publish"))
        return event_publish(ctx, o[OPT_PROVIDER], o[OPT_TYPE], o[OPT_PAYLOAD], o[OPT_PAYLOAD_FILE],
                             o[OPT_ID]);
    if (!strcmp(sub, "replay")) {
        int starts = !!o[OPT_SINCE] + !!o[OPT_SEEK] + !!o[OPT_FROM];
        if (!o[OPT_REGISTRATION] || starts != 1 || (o[OPT_UNTIL] && o[OPT_TO]))
            return cli_usage(EVENT_USAGE);
        return event_replay(ctx, o);
    }
    return cli_usage(EVENT_USAGE);
}

const cli_command cli_cmd_event = {.name = "event", .usage = EVENT_USAGE,
    .opts = OPT(OPT_PROVIDER) | OPT(OPT_SINCE) | OPT(OPT_LIMIT) | OPT(OPT_REGISTRATION) |
            OPT(OPT_SEEK) | OPT(OPT_LIST) | OPT(OPT_TYPE) | OPT(OPT_PAYLOAD) |
            OPT(OPT_PAYLOAD_FILE) | OPT(OPT_ID) | OPT(OPT_UNTIL) | OPT(OPT_FROM) | OPT(OPT_TO),
    .operands = true, .run = event_run};
