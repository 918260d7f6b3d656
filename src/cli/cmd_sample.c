/* event sample | send-sample: the sample payloads of
 * onboarding/config/events.json, printed or sent through the entry point a
 * real event of that code takes, as the hosted console's "send sample event"
 * does: back-office events to the ingestion webhook web action, every other
 * provider's through the publishing API into its journal. */
#include <curl/curl.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli_int.h"
#include "delivery/webhook.h"
#include "core/json_io.h"

#define INGESTION_ACTION "ingestion/webhook"
#define BACKOFFICE_PROVIDER "backoffice"
#define SEND_TIMEOUT_MS 70000   /* above the webhook's own 60 s limit */

/* ---- finding the code ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xcalloc(lb + 1, sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = prev + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

/* The event code, or NULL after printing an error with the nearest codes. */
static const event_code_t *find_code(const app_t *app, const char *code)
{
    for (size_t i = 0; i < app->nevents; i++)
        if (!strcmp(app->events[i].code, code)) return &app->events[i];
    /* Near matches: containing what was typed, or a few edits away. */
    typedef struct { size_t dist; const char *code; } near_t;
    near_t *near = xcalloc(app->nevents + 1, sizeof *near);
    size_t n = 0, limit = strlen(code) / 3 > 3 ? strlen(code) / 3 : 3;
    for (size_t i = 0; i < app->nevents; i++) {
        size_t d = strcasestr(app->events[i].code, code) ? 0 : edit_distance(code, app->events[i].code);
        if (d <= limit) near[n++] = (near_t){d, app->events[i].code};
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful */
        for (size_t j = i; j > 0 && near[j].dist < near[j - 1].dist; j--) {
            near_t t = near[j];
            near[j] = near[j - 1];
            near[j - 1] = t;
        }
    fprintf(stderr, "evkit: unknown event code '%s' (not in onboarding/config/events.json)\n", code);
    if (n) {
        fprintf(stderr, "did you mean:\n");
        for (size_t i = 0; i < n && i < 8; i++) fprintf(stderr, "  %s\n", near[i].code);
    } else {
        fprintf(stderr, "`evkit event sample --list` lists the %zu known codes\n", app->nevents);
    }
    free(near);
    return NULL;
}

static void print_pretty(const json_t *j)
{
    char *s = json_text(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    puts(s ? s : "null");
    free(s);
}

int cli_event_sample(cli_ctx *ctx, const char *code, bool list)
{
    app_t *app = cli_load_app(ctx, false);
    if (!app) return EXIT_FAIL;
    int rc = EXIT_OK;
    if (list) {
        for (size_t i = 0; i < app->nevents; i++)
            printf("%-12s %-12s %s\n", app->events[i].entity, app->events[i].provider,
                   app->events[i].code);
    } else {
        const event_code_t *ev = find_code(app, code);
        if (!ev) rc = EXIT_FAIL;
        else if (!ev->sample) rc = cli_fail("event code '%s' has no sampleEventTemplate", code);
        else print_pretty(ev->sample);
    }
    app_free(app);
    return rc;
}

/* ---- sending ---- */

static const char *input_str(const action_t *a, const char *key)
{
    const char *v = json_string_value(json_object_get(a->inputs, key));
    return v && *v ? v : NULL;
}

/* The ingestion webhook request of the seed: {"data": {uid, event, value}},
 * with the token header and the Standard Webhooks signature the webhook
 * checks when its .env configures them. */
static int build_ingestion(const cli_ctx *ctx, const engine_t *e, const event_code_t *ev,
                           char **url, json_t **body, struct curl_slist **headers)
{
    const action_t *a = app_action(e->app, INGESTION_ACTION);
    if (!a || a->web == WEB_NO)
        return cli_fail("the app has no web action %s to send back-office events to",
                        INGESTION_ACTION);
    char *base = cli_base_url(ctx);
    *url = xasprintf("%s/api/v1/web/%s/%s", base, e->namespace, a->fqn);
    free(base);
    char uid[37];
    uuid_v4(uid);
    *body = json_pack("{s:{s:s, s:s, s:O}}", "data", "uid", uid, "event", ev->code, "value",
                      ev->sample);
    *headers = curl_slist_append(*headers, "Content-Type: application/json");
    const char *token = input_str(a, "WEBHOOK_TOKEN");
    if (token) {
        const char *h = input_str(a, "WEBHOOK_TOKEN_HEADER");
        char *line = xasprintf("%s: %s", h ? h : "x-webhook-token", token);
        *headers = curl_slist_append(*headers, line);
        free(line);
    }
    return EXIT_OK;
}

/* A structured CloudEvent for the publishing API, from provider's id. */
static int build_publish(const cli_ctx *ctx, const engine_t *e, const event_code_t *ev,
                         char **url, json_t **body, struct curl_slist **headers)
{
    if (!e->api_key || !*e->api_key)
        return cli_fail("the publishing API needs a token: set EVKIT_API_TOKENS (environment or "
                        "the app's .env) as for the running daemon");
    char pid[37];
    err_t err;
    if (store_provider_id(e->store, ev->provider, pid, &err) < 0) return cli_fail("%s", err.msg);
    char *base = cli_base_url(ctx);
    *url = xasprintf("%s/api/v1/events", base);
    free(base);
    char id[37], source[48], iso[32];
    uuid_v4(id);
    snprintf(source, sizeof source, "urn:uuid:%s", pid);
    time_iso(now_ms(), iso, sizeof iso);
    *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "specversion", "1.0", "id", id,
                      "source", source, "type", ev->code, "time", iso, "datacontenttype",
                      "application/json", "data", ev->sample);
    *headers = curl_slist_append(*headers, "Content-Type: application/cloudevents+json");
    char *auth = xasprintf("Authorization: Bearer %s", e->api_key);
    *headers = curl_slist_append(*headers, auth);
    free(auth);
    return EXIT_OK;
}

int cli_event_send_sample(cli_ctx *ctx, const char *code)
{
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    const event_code_t *ev = find_code(e.app, code);
    if (!ev) {
        cli_close_engine(&e);
        return EXIT_FAIL;
    }
    if (!ev->sample) {
        cli_close_engine(&e);
        return cli_fail("event code '%s' has no sampleEventTemplate", code);
    }
    bool backoffice = !strcmp(ev->provider, BACKOFFICE_PROVIDER);
    char *url = NULL;
    json_t *body = NULL;
    struct curl_slist *headers = NULL;
    int rc = backoffice ? build_ingestion(ctx, &e, ev, &url, &body, &headers)
                        : build_publish(ctx, &e, ev, &url, &body, &headers);
    char *text = NULL;
    if (rc == EXIT_OK) {
        text = json_text(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        const action_t *a = backoffice ? app_action(e.app, INGESTION_ACTION) : NULL;
        const char *secret = a ? input_str(a, "WEBHOOK_SECRET") : NULL;
        if (secret) {
            char id[37], ts[24];
            uuid_v4(id);
            int64_t now_s = now_ms() / 1000;
            snprintf(ts, sizeof ts, "%lld", (long long)now_s);
            /* The webhook's check takes the secret with or without whsec_. */
            char *full = strncmp(secret, "whsec_", 6) ? xasprintf("whsec_%s", secret) : xstrdup(secret);
            err_t serr;
            char *sig = webhook_signature(&full, 1, id, now_s, text, strlen(text), &serr);
            free(full);
            if (!sig) {
                rc = cli_fail("INGESTION_WEBHOOK_SECRET is not a valid whsec_<base64> secret");
            } else {
                char *l1 = xasprintf("webhook-id: %s", id), *l2 = xasprintf("webhook-timestamp: %s", ts),
                     *l3 = xasprintf("webhook-signature: %s", sig);
                headers = curl_slist_append(headers, l1);
                headers = curl_slist_append(headers, l2);
                headers = curl_slist_append(headers, l3);
                free(l1);
                free(l2);
                free(l3);
                free(sig);
            }
        }
    }
    if (rc == EXIT_OK) {
        cli_http_out out = {0};
        int sent = cli_http_post(url, headers, text, SEND_TIMEOUT_MS, &out);
        json_t *answer = NULL;
        if (sent == 0 && out.body.len)
            answer = json_loadb(out.body.data, out.body.len, JSON_DECODE_ANY, NULL);
        if (!answer && sent == 0)
            answer = json_stringn(out.body.data ? out.body.data : "", out.body.len);
        if (ctx->json) {
            json_t *report = json_pack("{s:{s:s, s:s, s:O}, s:o}", "request", "method", "POST",
                                       "url", url, "body", body, "response",
                                       sent == 0 ? json_pack("{s:i, s:O}", "status", (int)out.status,
                                                             "body", answer)
                                                 : json_pack("{s:s}", "error", out.error));
            cli_print_json(report);
            json_decref(report);
        } else {
            printf("%s event %s (provider %s) through %s\n", "sending", ev->code, ev->provider,
                   backoffice ? "the ingestion webhook" : "the publishing API");
            printf("POST %s\n", url);
            print_pretty(body);
            if (sent == 0) {
                printf("-> %ld\n", out.status);
                if (out.body.len) print_pretty(answer);
            }
        }
        if (sent < 0) rc = cli_fail("cannot reach evkit at %s: %s (is `evkit serve` running?)", url, out.error);
        else if (out.status < 200 || out.status >= 300) rc = EXIT_FAIL;
        json_decref(answer);
        buf_free(&out.body);
    }
    free(text);
    curl_slist_free_all(headers);
    json_decref(body);
    free(url);
    cli_close_engine(&e);
    return rc;
}
