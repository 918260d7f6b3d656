/* trace list | show, and event show: debug tracing on the command line,
 * read from the store directly like the other admin commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "trace/trace.h"
#include "core/json_io.h"

static const char TRACE_USAGE[] =
    "usage: evkit trace list [--registration R] [--outcome success|error] [--status CODE]\n"
    "                        [--retried true|false] [--limit N] [--before ID]\n"
    "       evkit trace show <id>\n"
    "\n"
    "One trace per delivery attempt: what the consumer got, what it answered (bodies cut\n"
    "at 64 KB, secrets hidden), the status (601 unexpected error, 602 could not start or\n"
    "connect, 604 timeout when there was no answer) and whether a retry followed.\n"
    "  list   newest first (--limit default 50, at most 500); the last line tells the\n"
    "         --before value of the next page; --json prints the API's JSON\n"
    "  show   one trace with its request and response, JSON bodies pretty-printed\n";

#define ERROR_COLUMN_MAX 60

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static long long num(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* The table of trace summaries, columns as wide as their widest cell. */
static void print_table(json_t *list)
{
    enum { C_ID, C_START, C_REG, C_TYPE, C_ATT, C_STATUS, C_OUT, C_RETRIED, C_DUR, C_ERR, NCOL };
    static const char *const heads[NCOL] = {"ID", "START", "REGISTRATION", "EVENT TYPE",
                                            "ATTEMPT", "STATUS", "OUTCOME", "RETRIED",
                                            "DURATION", "ERROR"};
    size_t n = json_array_size(list);
    char *(*cells)[NCOL] = xcalloc(n ? n : 1, sizeof *cells);
    size_t w[NCOL];
    for (int c = 0; c < NCOL; c++) w[c] = strlen(heads[c]);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(list, i);
        const char *err = json_string_value(json_object_get(t, "error"));
        cells[i][C_ID] = xstrdup(str(t, "id"));
        cells[i][C_START] = xstrdup(str(t, "start"));
        cells[i][C_REG] = xstrdup(str(t, "registration"));
        cells[i][C_TYPE] = xstrdup(str(t, "eventType"));
        cells[i][C_ATT] = xasprintf("%lld", num(t, "attempt"));
        cells[i][C_STATUS] = xasprintf("%lld", num(t, "statusCode"));
        cells[i][C_OUT] = xstrdup(str(t, "outcome"));
        cells[i][C_RETRIED] = xstrdup(json_is_true(json_object_get(t, "retried")) ? "yes" : "no");
        cells[i][C_DUR] = xasprintf("%lld ms", num(t, "duration"));
        if (!err) cells[i][C_ERR] = xstrdup("-");
        else if (strlen(err) <= ERROR_COLUMN_MAX) cells[i][C_ERR] = xstrdup(err);
        else cells[i][C_ERR] = xasprintf("%.*s...", ERROR_COLUMN_MAX - 3, err);
        /* One line per trace, whatever the consumer said. */
        for (char *p = cells[i][C_ERR]; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
        for (int c = 0; c < NCOL; c++)
            if (strlen(cells[i][c]) > w[c]) w[c] = strlen(cells[i][c]);
    }
    for (int c = 0; c < NCOL - 1; c++) printf("%-*s  ", (int)w[c], heads[c]);
    printf("%s\n", heads[C_ERR]);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < NCOL - 1; c++) printf("%-*s  ", (int)w[c], cells[i][c]);
        printf("%s\n", cells[i][C_ERR]);
        for (int c = 0; c < NCOL; c++) free(cells[i][c]);
    }
    free(cells);
}

static int trace_list(cli_ctx *ctx, const store_trace_filter *f)
{
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    json_t *list = NULL;
    bool more = false;
    err_t err;
    int rc = store_trace_list(s, f, &list, &more, &err);
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    if (ctx->json) {
        json_t *page = json_pack("{s:O, s:o}", "traces", list, "next",
                                 more && last ? json_incref(json_object_get(last, "id")) : json_null());
        cli_print_json(page);
        json_decref(page);
    } else {
        print_table(list);
        if (more && last) printf("(more: --before %s)\n", str(last, "id"));
    }
    json_decref(list);
    return EXIT_OK;
}

/* JSON indented under a label, or the label and "-" when absent. */
static void print_part(const char *label, const json_t *v)
{
    if (!v) return;
    char *text = json_text(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    printf("  %s:", label);
    if (!text) {
        printf(" ?\n");
        return;
    }
    if (!strchr(text, '\n')) {
        printf(" %s\n", text);
    } else {
        printf("\n");
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            printf("    %s\n", line);
    }
    free(text);
}

/* Reads a trace (by number) or an event (by id) and prints it with --json:
 * an exit status when done, else -1 with *out to print as text. */
static int read_one(cli_ctx *ctx, bool trace, const char *id, json_t **out)
{
    long long n = 0;
    *out = NULL;
    if (trace && cli_parse_ll("trace id", id, 1, INT64_MAX, &n) < 0) return EXIT_FAIL;
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    err_t err;
    int rc = trace ? store_trace_get(s, n, out, &err) : trace_event_detail(s, id, out, &err);
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (!*out) return trace ? cli_fail("trace %s not found", id) : cli_fail("event '%s' not found", id);
    if (!ctx->json) return -1;
    cli_print_json(*out);
    json_decref(*out);
    return EXIT_OK;
}

static int trace_show(cli_ctx *ctx, const char *id_s)
{
    json_t *t;
    int rc = read_one(ctx, true, id_s, &t);
    if (rc >= 0) return rc;
    const char *aid = json_string_value(json_object_get(t, "activationId"));
    const char *error = json_string_value(json_object_get(t, "error"));
    printf("Trace %s: %s, attempt %lld: %s %lld%s\n", str(t, "id"), str(t, "registration"),
           num(t, "attempt"), str(t, "outcome"), num(t, "statusCode"),
           json_is_true(json_object_get(t, "retried")) ? ", retried" : "");
    printf("  event:      %s (%s)\n", str(t, "eventId"), str(t, "eventType"));
    printf("  delivery:   %lld\n", num(t, "deliveryId"));
    printf("  start:      %s, %lld ms\n", str(t, "start"), num(t, "duration"));
    printf("  activation: %s\n", aid ? aid : "-");
    if (error) printf("  error:      %s\n", error);
    json_t *req = json_object_get(t, "request"), *resp = json_object_get(t, "response");
    printf("\nRequest%s\n", json_is_true(json_object_get(req, "truncated")) ? " (cut at 64 KB)" : "");
    print_part("params", json_object_get(req, "params"));
    print_part("headers", json_object_get(req, "headers"));
    print_part("body", json_object_get(req, "body"));
    printf("\nResponse %lld%s\n", num(resp, "statusCode"),
           json_is_true(json_object_get(resp, "truncated")) ? " (cut at 64 KB)" : "");
    print_part("headers", json_object_get(resp, "headers"));
    print_part("body", json_object_get(resp, "body"));
    json_decref(t);
    return EXIT_OK;
}

/* The options of trace list, checked; -1 printed. */
static int trace_filter(const cli_args *a, store_trace_filter *f)
{
    const char *const *o = a->opt;
    long long v;
    f->registration = o[OPT_REGISTRATION];
    if (o[OPT_OUTCOME]) {
        if (strcmp(o[OPT_OUTCOME], "success") && strcmp(o[OPT_OUTCOME], "error")) {
            cli_fail("--outcome '%s': success or error is required", o[OPT_OUTCOME]);
            return -1;
        }
        f->outcome = !strcmp(o[OPT_OUTCOME], "success");
    }
    if (o[OPT_RETRIED]) {
        if (strcmp(o[OPT_RETRIED], "true") && strcmp(o[OPT_RETRIED], "false")) {
            cli_fail("--retried '%s': true or false is required", o[OPT_RETRIED]);
            return -1;
        }
        f->retried = !strcmp(o[OPT_RETRIED], "true");
    }
    if (o[OPT_STATUS]) {
        if (cli_parse_ll("--status", o[OPT_STATUS], 100, 999, &v) < 0) return -1;
        f->status = (int)v;
    }
    if (o[OPT_LIMIT]) {
        if (cli_parse_ll("--limit", o[OPT_LIMIT], 1, 500, &v) < 0) return -1;
        f->limit = (int)v;
    }
    if (o[OPT_BEFORE]) {
        if (cli_parse_ll("--before", o[OPT_BEFORE], 1, INT64_MAX, &v) < 0) return -1;
        f->before = v;
    }
    return 0;
}

static int trace_run(cli_ctx *ctx, const cli_args *a)
{
    store_trace_filter f = {.outcome = -1, .retried = -1, .limit = 50};
    if (trace_filter(a, &f) < 0) return EXIT_FAIL;
    const char *sub = a->n >= 1 ? a->v[0] : NULL;
    if (sub && !strcmp(sub, "list") && a->n == 1) return trace_list(ctx, &f);
    if (sub && !strcmp(sub, "show") && a->n == 2) return trace_show(ctx, a->v[1]);
    return cli_usage(TRACE_USAGE);
}

const cli_command cli_cmd_trace = {.name = "trace", .usage = TRACE_USAGE,
    .opts = OPT(OPT_REGISTRATION) | OPT(OPT_OUTCOME) | OPT(OPT_STATUS) | OPT(OPT_RETRIED) |
            OPT(OPT_LIMIT) | OPT(OPT_BEFORE),
    .operands = true, .run = trace_run};

/* ---- event show ---- */

int cli_event_show(cli_ctx *ctx, const char *id)
{
    json_t *ev;
    int rc = read_one(ctx, false, id, &ev);
    if (rc >= 0) return rc;
    json_t *e = json_object_get(ev, "event");
    printf("Event %s\n", str(e, "id"));
    printf("  type:     %s\n", str(e, "type"));
    printf("  provider: %s (%s)\n", str(ev, "provider"), str(e, "source"));
    printf("  position: %lld\n", num(ev, "position"));
    printf("  time:     %s\n", str(e, "time"));
    print_part("data", json_object_get(e, "data"));
    json_t *dels = json_object_get(ev, "deliveries");
    if (json_array_size(dels) == 0) printf("\nNo registration took this event.\n");
    size_t i, k;
    json_t *d, *t;
    json_array_foreach(dels, i, d) {
        const char *state = str(d, "state");
        printf("\nDelivery %lld to %s: %s after %lld attempt%s", num(d, "id"), str(d, "registration"),
               state, num(d, "attempt"), num(d, "attempt") == 1 ? "" : "s");
        if (!strcmp(state, "pending")) printf(", next attempt due %s", str(d, "due"));
        printf("\n");
        json_array_foreach(json_object_get(d, "traces"), k, t) {
            const char *aid = json_string_value(json_object_get(t, "activationId"));
            const char *error = json_string_value(json_object_get(t, "error"));
            printf("  attempt %-3lld %s  %-7s %3lld  %6lld ms  %s  trace %s  activation %s%s%s\n",
                   num(t, "attempt"), str(t, "start"), str(t, "outcome"), num(t, "statusCode"),
                   num(t, "duration"), json_is_true(json_object_get(t, "retried")) ? "retried" : "final  ",
                   str(t, "id"), aid ? aid : "-", error ? "  " : "", error ? error : "");
        }
    }
    json_decref(ev);
    return EXIT_OK;
}
