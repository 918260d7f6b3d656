/* providers_api: GET /api/v1/providers[/<key>[/eventmetadata]]: the event
 * providers of the app with their ids (the urn:uuid: of their events'
 * source), and the event metadata `evkit onboard` recorded for each
 * (label, description, sample payload), as the hosted service lists a
 * provider's event metadata. Read-only; needs an API token. */
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
        web_error(out, 500, "%s", err.msg);
        return;
    }
    json_t *items = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) {
        json_array_append_new(items, json_pack("{s:O, s:O, s:O, s:O}", "event_code",
                                               json_object_get(m, "code"), "label",
                                               json_object_get(m, "label"), "description",
                                               json_object_get(m, "description"),
                                               "sample_event_template",
                                               json_object_get(m, "sample")));
    }
    json_decref(list);
    web_json(out, 200, json_pack("{s:s, s:o}", "provider", p->key, "eventmetadata", items));
}

void api_providers(engine_t *e, const api_request *req, web_response *out)
{
    if (json_array_size(e->api_tokens) == 0) {
        web_error(out, 401, "The API is off: set EVKIT_API_TOKENS to enable it.");
        return;
    }
    if (!api_authorized(e, req->headers)) {
        web_error(out, 401, "The supplied authentication is invalid.");
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        web_error(out, 405, "Method %s is not allowed here: providers are read-only (evkit onboard "
                            "creates them).", req->method);
        return;
    }
    const char *rest = req->rest[0] == '/' ? req->rest + 1 : req->rest;
    err_t err;
    if (!*rest) {
        json_t *arr = json_array();
        for (size_t i = 0; i < e->app->nproviders; i++) {
            json_t *o = provider_json(e, &e->app->providers[i], &err);
            if (!o) {
                json_decref(arr);
                web_error(out, 500, "%s", err.msg);
                return;
            }
            json_array_append_new(arr, o);
        }
        web_json(out, 200, json_pack("{s:o}", "providers", arr));
        return;
    }
    const char *slash = strchr(rest, '/');
    char *key = slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
    const provider_t *p = app_provider(e->app, key);
    if (!p) {
        web_error(out, 404, "provider '%s' not found (providers.json)", key);
    } else if (!slash) {
        json_t *o = provider_json(e, p, &err);
        if (o) web_json(out, 200, o);
        else web_error(out, 500, "%s", err.msg);
    } else if (!strcmp(slash, "/eventmetadata")) {
        eventmetadata(e, p, out);
    } else {
        web_error(out, 404, "The requested resource does not exist.");
    }
    free(key);
}
