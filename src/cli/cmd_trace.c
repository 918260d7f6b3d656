/* trace list | show, and event show: debug tracing on the command line,
 * read from the store directly like the other admin commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "trace/trace.h"

static const char *TRACE_USAGE =
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

static int parse_ll(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        cli_fail("%s '%s': an integer from %lld to %lld is required", flag, v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
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
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
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

static int trace_show(cli_ctx *ctx, const char *id_s)
{
    long long id;
    if (parse_ll("trace id", id_s, 1, INT64_MAX, &id) < 0) return EXIT_FAIL;
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    json_t *t = NULL;
    err_t err;
    int rc = store_trace_get(s, id, &t, &err);
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (!t) return cli_fail("trace %s not found", id_s);
    if (ctx->json) {
        cli_print_json(t);
        json_decref(t);
        return EXIT_OK;
    }
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

int cmd_trace(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"registration", required_argument, NULL, 'r'},
        {"outcome", required_argument, NULL, 'o'},
        {"status", required_argument, NULL, 's'},
        {"retried", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'n'},
        {"before", required_argument, NULL, 'b'},
        {0, 0, 0, 0},
    };
    store_trace_filter f = {.outcome = -1, .retried = -1, .limit = 50};
    bool help = false;
    long long v;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_common_opt(ctx, c, &help)) continue;
        switch (c) {
        case 'r': f.registration = optarg; break;
        case 'o':
            if (strcmp(optarg, "success") && strcmp(optarg, "error"))
                return cli_fail("--outcome '%s': success or error is required", optarg);
            f.outcome = !strcmp(optarg, "success");
            break;
        case 't':
            if (strcmp(optarg, "true") && strcmp(optarg, "false"))
                return cli_fail("--retried '%s': true or false is required", optarg);
            f.retried = !strcmp(optarg, "true");
            break;
        case 's':
            if (parse_ll("--status", optarg, 100, 999, &v) < 0) return EXIT_FAIL;
            f.status = (int)v;
            break;
        case 'n':
            if (parse_ll("--limit", optarg, 1, 500, &v) < 0) return EXIT_FAIL;
            f.limit = (int)v;
            break;
        case 'b':
            if (parse_ll("--before", optarg, 1, INT64_MAX, &v) < 0) return EXIT_FAIL;
            f.before = v;
            break;
        default: return cli_usage(TRACE_USAGE);
        }
    }
    if (help) {
        fputs(TRACE_USAGE, stdout);
        return EXIT_OK;
    }
    int nargs = argc - optind;
    const char *sub = nargs >= 1 ? argv[optind] : NULL;
    if (sub && !strcmp(sub, "list") && nargs == 1) return trace_list(ctx, &f);
    if (sub && !strcmp(sub, "show") && nargs == 2) return trace_show(ctx, argv[optind + 1]);
    return cli_usage(TRACE_USAGE);
}

/* ---- event show ---- */

int cli_event_show(cli_ctx *ctx, const char *id)
{
    store_t *s = cli_open_store(ctx);
    if (!s) return EXIT_FAIL;
    json_t *ev = NULL;
    err_t err;
    int rc = trace_event_detail(s, id, &ev, &err);
    store_close(s);
    if (rc < 0) return cli_fail("%s", err.msg);
    if (!ev) return cli_fail("event '%s' not found", id);
    if (ctx->json) {
        cli_print_json(ev);
        json_decref(ev);
        return EXIT_OK;
    }
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
