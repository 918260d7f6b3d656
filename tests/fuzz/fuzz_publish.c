/* The publishing API (POST /api/v1/events): CloudEvents in structured
 * (application/cloudevents+json), batch (application/cloudevents-batch+json)
 * and binary (ce-* headers) mode, through the handler the route table calls,
 * over a real store. Input: "name: value" header lines, an empty line, the
 * body. An answer is a 2xx or a 4xx with a JSON error, never a 5xx. */
#include "fuzz.h"
#include "http/ratelimit.h"

static fz_world w;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_world_open(&w, NULL);
    ratelimit_free(w.h.publish_limit); /* the fuzzer would only meet 429s */
    w.h.publish_limit = NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body;
    size_t blen;
    json_t *headers = fz_headers((const char *)data, size, &body, &blen);
    json_t *query = json_object();
    api_request req = {.method = "POST", .url = "/api/v1/events", .query = query,
                       .query_raw = "", .headers = headers, .body = body, .body_len = blen};
    web_response out;
    web_response_init(&out);
    api_publish(&w.h, &req, &out);
    if (out.status < 200 || out.status >= 500) {
        fprintf(stderr, "status %d: %.*s\n", out.status, (int)out.body_len, out.body ? out.body : "");
        abort();
    }
    if (out.status >= 400) {
        json_t *j = json_loadb(out.body, out.body_len, 0, NULL);
        if (!json_is_string(json_object_get(j, "error"))) abort();
        json_decref(j);
    }
    web_response_free(&out);
    json_decref(query);
    json_decref(headers);
    return 0;
}
