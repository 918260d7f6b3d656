/* keys_api: the public halves of the keys that sign webhook deliveries,
 * at the paths the x-adobe-public-key1-path and -2-path headers name
 * (/prod/keys/pub-key-<uuid>.pem), and under /adobeioevents/ where
 * nodejs/preload.js sends what @adobe/aio-lib-events fetches from
 * static.adobeioevents.com. Public keys: no credential. */
#include <stdlib.h>
#include <string.h>

#include "delivery/sigkeys.h"
#include "http/api.h"

void api_public_key(http_ctx *h, const api_request *req, web_response *out)
{
    err_t err;
    char *pem = h->e->sigkeys ? sigkeys_public_pem(h->e->sigkeys, req->arg[0], &err) : NULL;
    if (!pem) {
        web_error(out, 404, "no public key '%s' here", req->arg[0] ? req->arg[0] : "");
        return;
    }
    out->status = 200;
    out->body = pem;
    out->body_len = strlen(pem);
    json_object_set_new(out->headers, "content-type", json_string("application/x-pem-file"));
    json_object_set_new(out->headers, "cache-control", json_string("public, max-age=86400"));
}
