/* The sample app's ingestion webhook (POST /api/v1/web/<ns>/ingestion/
 * webhook): the web-action rules (web_params: query, headers, JSON or raw
 * body, __ow_* fields), then the Lua action itself: its body validation,
 * its signature checks (x-webhook-token, Standard Webhooks webhook-id,
 * webhook-timestamp, webhook-signature) and evkit.publish. Requests that
 * carry a token or signature header go to an app with both checks on.
 * Parts: "name: value" header lines, an empty line and the body; then the
 * query string; then the path after the action. Never a 5xx other than the
 * 502 of an action error, never an unknown status. */
#include "fuzz.h"

static fz_world open_app, signed_app;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_world_open(&open_app, NULL);
    json_t *env = json_pack("{s:s, s:s}", "INGESTION_WEBHOOK_TOKEN", "fuzz-shared-token",
                            "INGESTION_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    fz_world_open(&signed_app, env);
    json_decref(env);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    const char *body;
    size_t blen;
    json_t *headers = fz_headers(p.p[0], p.len[0], &body, &blen);
    buf_t raw;
    buf_init(&raw, 0);
    json_t *query = p.n > 1 ? fz_query(p.p[1], p.len[1], &raw) : json_object();
    fz_world *w = json_object_get(headers, "webhook-signature") ||
                          json_object_get(headers, "x-webhook-token")
                      ? &signed_app : &open_app;
    char *url = xasprintf("%s/ingestion/webhook%s", w->e.namespace, p.n > 2 ? p.p[2] : "");
    api_request req = {.method = "POST", .url = url, .query = query,
                       .query_raw = raw.data ? raw.data : "", .headers = headers, .body = body,
                       .body_len = blen};
    req.arg[0] = url;
    web_response out;
    web_response_init(&out);
    http_web_action(&w->h, &req, &out);
    if (out.status < 200 || out.status > 599 || (out.status >= 500 && out.status != 502)) {
        fprintf(stderr, "status %d: %.*s\n", out.status, (int)out.body_len, out.body ? out.body : "");
        abort();
    }
    web_response_free(&out);
    free(url);
    buf_free(&raw);
    json_decref(query);
    json_decref(headers);
    fz_parts_free(&p);
    return 0;
}
