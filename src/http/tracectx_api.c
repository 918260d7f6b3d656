/* tracectx_api: GET /api/v1/trace-context/<trace id>: every span evkit
 * recorded in one W3C trace (activations, events, delivery attempts,
 * trigger fires), oldest first, for the console's trace view. */
#include <string.h>

#include "http/api.h"

void api_trace_context(http_ctx *h, const api_request *req, web_response *out)
{
    const char *id = req->arg[0];
    if (!id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32) {
        web_error(out, 400, "a trace id is 32 lower-case hex digits (the second field of a "
                            "traceparent)");
        return;
    }
    json_t *spans = NULL;
    err_t err;
    if (store_span_list(h->e->store, id, &spans, &err) < 0) {
        web_fail(out, &err);
        return;
    }
    if (!json_array_size(spans)) {
        json_decref(spans);
        web_error(out, 404, "no span of trace %s is kept (or it is past retention)", id);
        return;
    }
    web_json(out, 200, json_pack("{s:s, s:o}", "traceId", id, "spans", spans));
}
