/* ingress: POST /eventsingress/, where @adobe/aio-lib-events publishEvent
 * sends a CloudEvent (application/cloudevents+json, with x-api-key and an
 * IMS token). The publishing API does the work (events_api.c); only the
 * answer is the ingress's own: 200 "OK" when a registration takes the
 * event (publishEvent resolves the body), 204 when none does (it resolves
 * nothing), errors as the publishing API words them. */
#include <stdlib.h>
#include <string.h>

#include "http/adobe.h"

void io_ingress(http_ctx *h, const api_request *req, web_response *out)
{
    json_t *results = NULL;
    long taken = api_publish_events(h, req, &results, out);
    json_decref(results);
    if (taken < 0) return;
    if (taken == 0) {
        out->status = 204;
        return;
    }
    out->status = 200;
    free(out->body);
    out->body = xstrdup("OK");
    out->body_len = 2;
    json_object_set_new(out->headers, "content-type", json_string("text/plain"));
}
