/* metrics_api: GET /metrics for Prometheus. Secure by default: a scrape needs
 * a bearer token, either a scrape-only one from EVKIT_METRICS_TOKEN (so the
 * scraper holds no token that can publish or invoke) or one of
 * EVKIT_API_TOKENS. EVKIT_METRICS_AUTH=none serves it to anyone who can
 * reach the port, for a scraper on a private network. The route table
 * (routes.c, ROUTE_METRICS) checks that before the handler runs. */
#include "http/api.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

void api_metrics(http_ctx *h, const api_request *req, web_response *out)
{
    char *text = NULL;
    size_t len = 0;
    err_t err;
    if (metrics_scrape(&text, &len, &err) < 0) {
        web_error(out, http_status_of(err.code), "cannot collect metrics: %s", err.msg);
        return;
    }
    out->status = 200;
    free(out->body);
    out->body = text;
    out->body_len = len;
    json_object_set_new(out->headers, "content-type",
                        json_string("text/plain; version=0.0.4; charset=utf-8"));
    json_object_set_new(out->headers, "cache-control", json_string("no-store"));
}
