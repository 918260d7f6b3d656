/* providers_api: GET /api/v1/providers[/<key>[/eventmetadata]]: the event
 * providers of the app with their ids (the urn:uuid: of their events'
 * source), and the event metadata `evkit onboard` recorded for each
 * (label, description, sample payload), as the hosted service lists a
 * provider's event metadata. Read-only. */
#include <stdlib.h>
#include <string.h>

#include "http/api.h"

static json_t *provider_json(engine_t *e, const provider_t *p, err_t *err)
{
    char id[37];
    bool found;
    if (store_provider_find(e->store, p->key, id, &found, err) < 0) return NULL;
    size_t codes = 0;
    for (size_t i = 0; i < e->app->nevents; i++)
        if (!strcmp(e->app->events[i].provider, p->key)) codes++;
    return json_pack("{s:s, s:s?, s:s?, s:s?, s:I}", "key", p->key, "id", found ? id : NULL,
                     "label", p->label, "description", p->description, "event_codes",
                     (json_int_t)codes);
}

static void eventmetadata(engine_t *e, const provider_t *p, web_response *out)
{
    json_t *list;
    err_t err;
    if (store_event_meta_list(e->store, p->key, &list, &err) < 0) {
        web_fail(out, &err);
        return;
    }
    static const char *const fields[][2] = {
        {"code", "event_code"},
        {"label", "label"},
        {"description", "description"},
        {"sample", "sample_event_template"},
    };
    json_t *items = web_rows_renamed(list, fields, sizeof fields / sizeof fields[0]);
    json_decref(list);
    web_json(out, 200, json_pack("{s:s, s:o}", "provider", p->key, "eventmetadata", items));
}

void api_providers(http_ctx *h, const api_request *req, web_response *out)
{
    engine_t *e = h->e;
    err_t err;
    json_t *arr = json_array();
    for (size_t i = 0; i < e->app->nproviders; i++) {
        json_t *o = provider_json(e, &e->app->providers[i], &err);
        if (!o) {
            json_decref(arr);
            web_fail(out, &err);
            return;
        }
        json_array_append_new(arr, o);
    }
    web_json(out, 200, json_pack("{s:o}", "providers", arr));
}

/* The provider named by arg[0], or a 404 naming it. */
static const provider_t *provider_of(const http_ctx *h, const api_request *req, web_response *out)
{
    const provider_t *p = app_provider(h->e->app, req->arg[0]);
    if (!p) web_error(out, 404, "provider '%s' not found (providers.json)", req->arg[0]);
    return p;
}

void api_provider(http_ctx *h, const api_request *req, web_response *out)
{
    const provider_t *p = provider_of(h, req, out);
    if (!p) return;
    err_t err;
    json_t *o = provider_json(h->e, p, &err);
    if (o) web_json(out, 200, o);
    else web_fail(out, &err);
}

void api_provider_metadata(http_ctx *h, const api_request *req, web_response *out)
{
    const provider_t *p = provider_of(h, req, out);
    if (p) eventmetadata(h->e, p, out);
}

void api_provider_other(http_ctx *h, const api_request *req, web_response *out)
{
    if (provider_of(h, req, out)) web_error(out, 404, "The requested resource does not exist.");
}
