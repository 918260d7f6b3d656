/* io_api: the I/O Management API subset the commerce starter kit calls
 * (see adobe.h), answered in that API's HAL shapes.
 *
 * Providers: the app's providers (providers.json) are always there, with
 * their stable ids. Creating a provider whose label is an app provider's,
 * or that label followed by " - <suffix>" (the kit appends its namespace's
 * suffix), creates nothing new: it IS that provider, and the created label
 * is what the list shows from then on (the kit finds providers by that
 * label). Any other label makes a run-time provider with a key and UUID of
 * its own, whose events the ingress journals under it.
 *
 * Registrations become run-time registrations of the registry (the same
 * checks and delivery as the manifest's). The kit names them "Commerce
 * Product Synchronization", which is not a registry name (no spaces, they
 * end up in URLs): the I/O record keeps the display name, and the registry
 * gets a name derived from it once ("commerce-product-synchronization"),
 * kept in the record so that it never changes. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "core/base64.h"
#include "core/log.h"
#include "core/util.h"
#include "http/adobe.h"
#include "registry/registry.h"
#include "core/json_io.h"

#define IO_PAGE_MAX 100

static const char *hdr(const json_t *headers, const char *name)
{
    return json_string_value(json_object_get(headers, name));
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* An error as the I/O Management API words them. */
static void io_error(web_response *out, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void io_error(web_response *out, int status, const char *reason, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    web_json(out, status, json_pack("{s:s, s:s}", "reason", reason, "message", msg));
}

/* Links point where the caller thinks it is: the Adobe host the preload
 * rerouted (so a client following them is rerouted again), else evkit. */
static char *base_url(const http_ctx *h, const api_request *req)
{
    const char *host = hdr(req->headers, "x-evkit-adobe-host");
    if (host && *host && strlen(host) < 256 && strspn(host, "abcdefghijklmnopqrstuvwxyz"
                                                            "0123456789.-") == strlen(host))
        return xasprintf("https://%s", host);
    return xstrdup(h->e->api_host);
}

static json_t *href(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *href(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    json_t *o = json_pack("{s:s}", "href", s);
    free(s);
    return o;
}

/* The request body as a JSON object, or NULL with a 400 in out. */
static json_t *io_body(const api_request *req, web_response *out)
{
    json_t *j = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        io_error(out, 400, "Invalid data provided", "The request body must be a JSON object.");
        return NULL;
    }
    return j;
}

/* ---- providers ---- */

static json_t *app_record(const http_ctx *h, const provider_t *p, const char *id)
{
    char source[64];
    snprintf(source, sizeof source, "urn:uuid:%s", id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:n, s:s, s:s}", "id", id, "key", p->key,
                     "label", p->label ? p->label : p->key, "description",
                     p->description ? p->description : "", "source", source, "docs_url",
                     "provider_metadata", "3rd_party_custom_events", "instance_id", "publisher",
                     h->e->namespace, "event_delivery_format", "cloud_events_v1");
}

/* Every provider the API shows, as stored records: the app's (the record
 * made when one was created, else one from providers.json), then the
 * run-time ones. NULL with err. */
static json_t *all_providers(const http_ctx *h, err_t *err)
{
    engine_t *e = h->e;
    json_t *stored = NULL;
    if (store_io_provider_list(e->store, &stored, err) < 0) return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *rec;
    for (size_t k = 0; e->app && k < e->app->nproviders; k++) {
        const provider_t *p = &e->app->providers[k];
        char id[37];
        if (store_provider_id(e->store, p->key, id, err) < 0) {
            json_decref(stored);
            json_decref(out);
            return NULL;
        }
        json_t *mine = NULL;
        json_array_foreach(stored, i, rec) {
            if (!strcmp(str(rec, "key"), p->key)) mine = rec;
        }
        json_array_append_new(out, mine ? json_incref(mine) : app_record(h, p, id));
    }
    json_array_foreach(stored, i, rec) {
        if (!app_provider(e->app, str(rec, "key"))) json_array_append(out, rec);
    }
    json_decref(stored);
    return out;
}

/* The provider with id (new reference), or NULL with a 404 (or a store
 * failure) in out. */
static json_t *provider_by_id(const http_ctx *h, const char *id, web_response *out)
{
    err_t err;
    json_t *all = all_providers(h, &err);
    if (!all) {
        web_fail(out, &err);
        return NULL;
    }
    json_t *found = NULL, *rec;
    size_t i;
    json_array_foreach(all, i, rec) {
        if (id && !strcasecmp(str(rec, "id"), id)) found = rec;
    }
    json_incref(found);
    json_decref(all);
    if (!found) io_error(out, 404, "Not Found", "No provider with id '%s'.", id ? id : "");
    return found;
}

/* A record as the API answers it: without evkit's key, with _links. */
static json_t *provider_view(const char *base, const json_t *rec)
{
    json_t *o = json_deep_copy(rec);
    json_object_del(o, "key");
    const char *id = str(rec, "id");
    json_object_set_new(o, "_links",
                        json_pack("{s:o, s:o}", "rel:eventmetadata",
                                  href("%s/events/providers/%s/eventmetadata", base, id), "self",
                                  href("%s/events/providers/%s", base, id)));
    return o;
}

void io_providers_list(http_ctx *h, const api_request *req, web_response *out)
{
    err_t err;
    json_t *all = all_providers(h, &err);
    if (!all) {
        web_fail(out, &err);
        return;
    }
    char *base = base_url(h, req);
    json_t *list = json_array(), *rec;
    size_t i;
    json_array_foreach(all, i, rec) json_array_append_new(list, provider_view(base, rec));
    json_decref(all);
    web_json(out, 200, json_pack("{s:{s:o}, s:{s:o}}", "_embedded", "providers", list, "_links",
                                 "self", href("%s/events/%s/providers", base, req->arg[0])));
    free(base);
}

void io_provider_get(http_ctx *h, const api_request *req, web_response *out)
{
    json_t *rec = provider_by_id(h, req->arg[0], out);
    if (!rec) return;
    char *base = base_url(h, req);
    web_json(out, 200, provider_view(base, rec));
    free(base);
    json_decref(rec);
}

/* The app provider a created label names: its own label, or its label
 * followed by " - <suffix>". */
static const provider_t *app_match(const app_t *app, const char *label)
{
    for (size_t i = 0; app && i < app->nproviders; i++) {
        const char *l = app->providers[i].label;
        size_t n = l ? strlen(l) : 0;
        if (n && !strncmp(label, l, n) && (!label[n] || !strncmp(label + n, " - ", 3)))
            return &app->providers[i];
    }
    return NULL;
}

/* Whether label is taken: by another provider, or by key's own record. */
static int label_taken(const http_ctx *h, const char *label, const char *key, bool *taken,
                       err_t *err)
{
    *taken = false;
    json_t *all = all_providers(h, err), *own = NULL, *rec;
    if (!all || store_io_provider_get(h->e->store, key, &own, err) < 0) {
        json_decref(all);
        return -1;
    }
    size_t i;
    json_array_foreach(all, i, rec) {
        if (!strcmp(str(rec, "label"), label) && (strcmp(str(rec, "key"), key) || own))
            *taken = true;
    }
    json_decref(all);
    json_decref(own);
    return 0;
}

/* The new provider's record: key and id, and what the body says. */
static json_t *new_provider(const http_ctx *h, const api_request *req, const json_t *body,
                            const char *key, const char *id)
{
    char source[64];
    snprintf(source, sizeof source, "urn:uuid:%s", id);
    const char *meta = str(body, "provider_metadata");
    /* An app provider keeps the description of providers.json unless given one. */
    const provider_t *app = app_provider(h->e->app, key);
    const char *desc = str(body, "description");
    if (!desc) desc = app && app->description ? app->description : "";
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s?, s:s, s:s, s:s, s:s, s:s}", "id",
                     id, "key", key, "label", str(body, "label"), "description", desc, "source",
                     source,
                     "docs_url", str(body, "docs_url"), "provider_metadata",
                     meta ? meta : "3rd_party_custom_events", "instance_id",
                     str(body, "instance_id"), "publisher", h->e->namespace,
                     "event_delivery_format", "cloud_events_v1", "consumer_id", req->arg[0],
                     "project_id", req->arg[1], "workspace_id", req->arg[2]);
}

void io_provider_create(http_ctx *h, const api_request *req, web_response *out)
{
    json_t *body = io_body(req, out);
    if (!body) return;
    const char *label = str(body, "label");
    static const char *const text[] = {"description", "docs_url", "provider_metadata",
                                       "instance_id", NULL};
    const char *bad = NULL;
    for (int i = 0; text[i]; i++) {
        json_t *v = json_object_get(body, text[i]);
        if (v && !json_is_string(v) && !json_is_null(v)) bad = text[i];
    }
    err_t err;
    bool taken = false;
    const provider_t *app = label ? app_match(h->e->app, label) : NULL;
    char key[64], id[37];
    if (app) {
        snprintf(key, sizeof key, "%s", app->key);
    } else {
        char hex[33];
        hex_id32(hex);
        snprintf(key, sizeof key, "io-%.12s", hex);
    }
    if (!label || !*label || strlen(label) > 255) {
        io_error(out, 400, "Invalid data provided", "label is required (1 to 255 characters).");
    } else if (bad) {
        io_error(out, 400, "Invalid data provided", "%s must be a string.", bad);
    } else if (label_taken(h, label, key, &taken, &err) < 0) {
        web_fail(out, &err);
    } else if (taken) {
        io_error(out, 409, "Conflict", "A provider with label '%s' already exists.", label);
    } else if (store_provider_id(h->e->store, key, id, &err) < 0) {
        web_fail(out, &err);
    } else {
        json_t *rec = new_provider(h, req, body, key, id);
        if (store_io_provider_put(h->e->store, rec, &taken, &err) < 0) {
            web_fail(out, &err);
        } else if (taken) {
            io_error(out, 409, "Conflict", "A provider with label '%s' already exists.", label);
        } else {
            log_info("provider created", json_pack("{s:s, s:s, s:s}", "provider", key, "id", id,
                                                   "label", label));
            char *base = base_url(h, req);
            web_json(out, 201, provider_view(base, rec));
            free(base);
        }
        json_decref(rec);
    }
    json_decref(body);
}

/* ---- event metadata ---- */

static json_t *metadata_view(const char *base, const char *provider_id, const json_t *m)
{
    const char *code = str(m, "code");
    json_t *o = json_pack("{s:s, s:O, s:O}", "event_code", code, "label",
                          json_object_get(m, "label"), "description",
                          json_object_get(m, "description"));
    json_t *sample = json_object_get(m, "sample");
    if (sample && !json_is_null(sample)) {
        char *text = json_text(sample, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b64 = base64_encode(text, strlen(text), NULL);
        json_object_set_new(o, "sample_event_template", json_string(b64));
        free(text);
        free(b64);
    }
    json_object_set_new(o, "_links",
                        json_pack("{s:o, s:o}", "rel:provider",
                                  href("%s/events/providers/%s", base, provider_id), "self",
                                  href("%s/events/providers/%s/eventmetadata/%s", base,
                                       provider_id, code)));
    return o;
}

/* The metadata of (key, code) as stored, or NULL. */
static json_t *metadata_of(store_t *s, const char *key, const char *code)
{
    json_t *list = NULL, *m, *found = NULL;
    err_t err;
    size_t i;
    if (store_event_meta_list(s, key, &list, &err) < 0) return NULL;
    json_array_foreach(list, i, m) {
        if (!strcmp(str(m, "code"), code)) found = m;
    }
    json_incref(found);
    json_decref(list);
    return found;
}

/* sample_event_template: base64 of JSON as the API takes it, or JSON itself. */
static json_t *sample_of(const json_t *v)
{
    if (!json_is_string(v)) return json_is_null(v) ? NULL : json_incref((json_t *)v);
    size_t n = 0;
    const char *s = json_string_value(v);
    unsigned char *raw = base64_decode(s, strlen(s), &n, NULL);
    json_t *j = raw ? json_loadb((const char *)raw, n, JSON_DECODE_ANY, NULL) : NULL;
    free(raw);
    return j;
}

void io_metadata_create(http_ctx *h, const api_request *req, web_response *out)
{
    json_t *prov = provider_by_id(h, req->arg[3], out);
    json_t *body = prov ? io_body(req, out) : NULL;
    if (!body) {
        json_decref(prov);
        return;
    }
    const char *key = str(prov, "key"), *code = str(body, "event_code");
    json_t *old = code ? metadata_of(h->e->store, key, code) : NULL;
    json_t *sample = json_object_get(body, "sample_event_template")
                         ? sample_of(json_object_get(body, "sample_event_template"))
                         : json_incref(json_object_get(old, "sample"));
    if (json_is_null(sample)) {
        json_decref(sample);
        sample = NULL;
    }
    err_t err;
    store_event_meta m = {.provider = key, .code = code, .label = str(body, "label"),
                          .description = str(body, "description"), .sample = sample};
    if (!code || !*code || strlen(code) > 255) {
        io_error(out, 400, "Invalid data provided",
                 "event_code is required (1 to 255 characters).");
    } else if (json_object_get(body, "sample_event_template") && !sample &&
               !json_is_null(json_object_get(body, "sample_event_template"))) {
        io_error(out, 400, "Invalid data provided",
                 "sample_event_template must be base64 of a JSON document.");
    } else if (store_event_meta_put(h->e->store, &m, NULL, &err) < 0) {
        web_fail(out, &err);
    } else {
        json_t *now = metadata_of(h->e->store, key, code);
        char *base = base_url(h, req);
        if (now) web_json(out, 201, metadata_view(base, str(prov, "id"), now));
        else io_error(out, 500, "Internal Server Error", "The event metadata was not kept.");
        free(base);
        json_decref(now);
    }
    json_decref(sample);
    json_decref(old);
    json_decref(body);
    json_decref(prov);
}

void io_metadata_list(http_ctx *h, const api_request *req, web_response *out)
{
    json_t *prov = provider_by_id(h, req->arg[0], out);
    if (!prov) return;
    json_t *list = NULL, *m;
    err_t err;
    if (store_event_meta_list(h->e->store, str(prov, "key"), &list, &err) < 0) {
        web_fail(out, &err);
        json_decref(prov);
        return;
    }
    char *base = base_url(h, req);
    json_t *items = json_array();
    size_t i;
    json_array_foreach(list, i, m) {
        json_array_append_new(items, metadata_view(base, str(prov, "id"), m));
    }
    web_json(out, 200, json_pack("{s:{s:o}, s:{s:o}}", "_embedded", "eventmetadata", items,
                                 "_links", "self",
                                 href("%s/events/providers/%s/eventmetadata", base,
                                      str(prov, "id"))));
    free(base);
    json_decref(list);
    json_decref(prov);
}

/* ---- registrations ---- */

static char *scope_of(const api_request *req)
{
    return xasprintf("%s/%s/%s", req->arg[0], req->arg[1], req->arg[2]);
}

/* The registry's name for display name: lower-case letters and digits, a
 * '-' for every run of anything else; with taken, the id's start added. */
static char *internal_name(const char *display, const char *reg_id, const regset_t *regs,
                           const app_t *app)
{
    buf_t b;
    buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)display; *p && b.len < 100; p++) {
        if (isalnum(*p) && *p < 128) buf_printf(&b, "%c", tolower(*p));
        else if (b.len && b.data[b.len - 1] != '-') buf_printf(&b, "-");
    }
    while (b.len && b.data[b.len - 1] == '-') b.data[--b.len] = '\0';
    char *name = buf_steal(&b);
    if (!name || !registration_name_valid(name) || regset_find(regs, name, NULL) ||
        app_registration(app, name)) {
        char *alt = xasprintf("%s%sio-%.8s", name && *name ? name : "", name && *name ? "-" : "",
                              reg_id);
        free(name);
        name = alt;
    }
    return name;
}

/* events_of_interest [{provider_id, event_code}] as the registry's spec
 * ([{provider_metadata: key, event_codes}], one entry per provider) and as
 * the record shows it. -1 with a 400 in out. */
static int interests(const http_ctx *h, const json_t *eoi, json_t *spec_eoi, json_t *view,
                     web_response *out)
{
    if (!json_is_array(eoi) || !json_array_size(eoi)) {
        io_error(out, 400, "Invalid data provided", "events_of_interest must be a non-empty list.");
        return -1;
    }
    size_t i, j;
    json_t *it, *e;
    json_array_foreach(eoi, i, it) {
        const char *pid = str(it, "provider_id"), *code = str(it, "event_code");
        if (!pid || !code) {
            io_error(out, 400, "Invalid data provided",
                     "events_of_interest[%zu] needs provider_id and event_code.", i);
            return -1;
        }
        json_t *prov = provider_by_id(h, pid, out);
        if (!prov) return -1;
        const char *key = str(prov, "key");
        json_t *codes = NULL;
        json_array_foreach(spec_eoi, j, e) {
            if (!strcmp(str(e, "provider_metadata"), key))
                codes = json_object_get(e, "event_codes");
        }
        if (!codes) {
            codes = json_array();
            json_array_append_new(spec_eoi, json_pack("{s:s, s:o}", "provider_metadata", key,
                                                      "event_codes", codes));
        }
        json_array_append_new(codes, json_string(code));
        json_t *meta = metadata_of(h->e->store, key, code);
        json_array_append_new(
            view, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s}", "event_code", code,
                            "event_label", meta ? str(meta, "label") : code, "event_description",
                            meta ? str(meta, "description") : "", "provider_id", str(prov, "id"),
                            "provider_label", str(prov, "label"), "provider_metadata",
                            str(prov, "provider_metadata"), "event_delivery_format",
                            "cloud_events_v1"));
        json_decref(meta);
        json_decref(prov);
    }
    return 0;
}

/* subscriber_filters [{name, description, subscriber_filter}] (one filter,
 * a JSON text or object) as the registry's filter; the registry checks the
 * pattern itself. -1 with a 400 in out. */
static int subscriber_filter(const json_t *list, json_t *spec, web_response *out)
{
    if (!list || json_is_null(list) || (json_is_array(list) && !json_array_size(list))) return 0;
    if (!json_is_array(list) || json_array_size(list) > 1) {
        io_error(out, 400, "Invalid data provided",
                 "subscriber_filters must be a list of one {name, subscriber_filter}.");
        return -1;
    }
    const json_t *f = json_object_get(json_array_get(list, 0), "subscriber_filter");
    json_t *pattern = json_is_string(f) ? json_loads(json_string_value(f), 0, NULL)
                                        : json_incref((json_t *)f);
    if (!json_is_object(pattern)) {
        io_error(out, 400, "Invalid data provided",
                 "subscriber_filters[0].subscriber_filter must be a JSON object (an event "
                 "pattern), as text or as it is.");
        json_decref(pattern);
        return -1;
    }
    json_object_set_new(spec, "filter", pattern);
    return 0;
}

/* The registry spec of an I/O registration body, with the record's
 * events_of_interest in *view; NULL with a 400 in out. */
static json_t *reg_spec(const http_ctx *h, const json_t *body, json_t **view, web_response *out)
{
    const char *dt = str(body, "delivery_type");
    const char *action = str(body, "runtime_action"), *url = str(body, "webhook_url");
    *view = json_array();
    json_t *spec = json_pack("{s:s, s:[]}", "description",
                             str(body, "description") ? str(body, "description") : "",
                             "events_of_interest");
    int rc = interests(h, json_object_get(body, "events_of_interest"),
                       json_object_get(spec, "events_of_interest"), *view, out);
    if (rc == 0 && dt && strcmp(dt, "webhook") && strcmp(dt, "webhook_batch") &&
        strcmp(dt, "journal")) {
        io_error(out, 400, "Invalid data provided",
                 "delivery_type must be webhook, webhook_batch or journal.");
        rc = -1;
    } else if (rc == 0 && !action && !url) {
        io_error(out, 400, "Invalid data provided",
                 "evkit delivers a registration to a runtime_action or a webhook_url; a "
                 "journal-only registration is not served (read the provider's journal at "
                 "/api/v1/journal/<provider key> instead).");
        rc = -1;
    }
    if (rc < 0) {
        json_decref(spec);
        json_decref(*view);
        *view = NULL;
        return NULL;
    }
    if (action) json_object_set_new(spec, "runtime_action", json_string(action));
    if (url) json_object_set_new(spec, "webhook_url", json_string(url));
    if (dt && !strcmp(dt, "webhook_batch"))
        json_object_set_new(spec, "delivery_type", json_string("batch"));
    if (subscriber_filter(json_object_get(body, "subscriber_filters"), spec, out) < 0) {
        json_decref(spec);
        json_decref(*view);
        *view = NULL;
        return NULL;
    }
    return spec;
}

static json_t *reg_view(const http_ctx *h, const char *base, const json_t *rec)
{
    json_t *o = json_deep_copy(rec);
    store_reg_info info;
    err_t err;
    const char *internal = str(rec, "evkit_registration");
    if (internal && store_reg_info_get(h->e->store, internal, &info, &err) == 0)
        json_object_set_new(o, "enabled", json_boolean(info.state != REG_DISABLED));
    json_object_set_new(o, "_links",
                        json_pack("{s:o, s:o}", "rel:events",
                                  href("%s/api/v1/journal/%s", h->e->api_host, internal), "self",
                                  href("%s/events/%s/%s/%s/registrations/%s", base,
                                       str(rec, "consumer_id"), str(rec, "project_id"),
                                       str(rec, "workspace_id"), str(rec, "registration_id"))));
    return o;
}

/* Whether scope already has a registration called name. */
static int reg_name_taken(store_t *s, const char *scope, const char *name, bool *taken, err_t *err)
{
    json_t *list = NULL, *rec;
    size_t i;
    *taken = false;
    if (store_io_reg_list(s, scope, &list, err) < 0) return -1;
    json_array_foreach(list, i, rec) {
        if (!strcmp(str(rec, "name"), name)) *taken = true;
    }
    json_decref(list);
    return 0;
}

static json_t *reg_record(const http_ctx *h, const api_request *req, const json_t *body,
                          const char *reg_id, const char *internal, json_t *view)
{
    char now[32];
    time_iso(now_ms(), now, sizeof now);
    const char *client = str(body, "client_id");
    const char *dt = str(body, "delivery_type");
    json_t *rec = json_pack(
        "{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:s, s:s, s:b, s:o, s:s,"
        " s:s, s:s, s:s, s:s, s:s}",
        "registration_id", reg_id, "name", str(body, "name"), "description",
        str(body, "description") ? str(body, "description") : "", "client_id", client,
        "parent_client_id", client, "webhook_url", str(body, "webhook_url"),
        "runtime_action", str(body, "runtime_action"), "status", "VERIFIED", "type",
        "APP", "integration_status", "ENABLED", "delivery_type", dt ? dt : "webhook",
        "enabled", 1, "events_of_interest", view, "created_date", now,
        "updated_date", now, "consumer_id", req->arg[0], "project_id", req->arg[1],
        "workspace_id", req->arg[2], "evkit_registration", internal);
    const json_t *filters = json_object_get(body, "subscriber_filters");
    if (json_array_size(filters)) json_object_set(rec, "subscriber_filters", (json_t *)filters);
    return rec;
}

/* Stores the record of a registration the registry now has; undoes that
 * on failure. 0 with *id, or -1 with out set. */
static int keep_record(const http_ctx *h, const char *scope, const json_t *rec,
                       const char *internal, int64_t *id, web_response *out)
{
    bool conflict = false;
    err_t err, ignored;
    int rc = store_io_reg_put(h->e->store, scope, rec, &conflict, id, &err);
    if (rc == 0 && !conflict) return 0;
    registry_delete(h->e->registry, internal, &ignored);
    if (rc < 0) web_fail(out, &err);
    else
        io_error(out, 409, "Conflict", "A registration named '%s' already exists.",
                 str(rec, "name"));
    return -1;
}

void io_reg_create(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = h->e->registry;
    json_t *body = r ? io_body(req, out) : NULL;
    if (!r) io_error(out, 503, "Service Unavailable", "Registrations are not available.");
    if (!body) return;
    const char *name = str(body, "name");
    char *scope = scope_of(req), *secret = NULL, *internal = NULL;
    json_t *view = NULL, *spec = NULL;
    bool taken = false;
    err_t err;
    char reg_id[37];
    uuid_v4(reg_id);
    if (!name || !*name || strlen(name) > 255) {
        io_error(out, 400, "Invalid data provided", "name is required (1 to 255 characters).");
    } else if (reg_name_taken(h->e->store, scope, name, &taken, &err) < 0) {
        web_fail(out, &err);
    } else if (taken) {
        io_error(out, 409, "Conflict", "A registration named '%s' already exists.", name);
    } else if ((spec = reg_spec(h, body, &view, out))) {
        regset_t *regs = registry_get(r);
        internal = internal_name(name, reg_id, regs, h->e->app);
        regset_release(regs);
        int64_t id = 0;
        if (registry_create(r, internal, spec, &secret, &err) < 0) {
            io_error(out, http_status_of(err.code), "Invalid data provided", "%s", err.msg);
        } else {
            json_t *rec = reg_record(h, req, body, reg_id, internal, json_incref(view));
            if (keep_record(h, scope, rec, internal, &id, out) == 0) {
                json_object_set_new(rec, "id", json_integer(id));
                char *base = base_url(h, req);
                web_json(out, 201, reg_view(h, base, rec));
                free(base);
            }
            json_decref(rec);
        }
    }
    if (secret) OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    free(internal);
    free(scope);
    json_decref(spec);
    json_decref(view);
    json_decref(body);
}

static long query_long(const json_t *q, const char *k, long dflt, long min, long max)
{
    const char *v = str(q, k);
    if (!v) return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && n >= min && n <= max ? n : -1;
}

void io_reg_list(http_ctx *h, const api_request *req, web_response *out)
{
    long page = query_long(req->query, "page", 0, 0, 1000000);
    long size = query_long(req->query, "size", IO_PAGE_MAX, 1, IO_PAGE_MAX);
    if (page < 0 || size < 0) {
        io_error(out, 400, "Invalid data provided", "page must be 0 or more and size 1 to %d.",
                 IO_PAGE_MAX);
        return;
    }
    char *scope = scope_of(req);
    json_t *list = NULL, *rec;
    err_t err;
    int rc = store_io_reg_list(h->e->store, scope, &list, &err);
    free(scope);
    if (rc < 0) {
        web_fail(out, &err);
        return;
    }
    /* A registration deleted through evkit's own API is gone here too. */
    regset_t *regs = h->e->registry ? registry_get(h->e->registry) : NULL;
    json_t *live = json_array();
    size_t i;
    json_array_foreach(list, i, rec) {
        if (regset_find(regs, str(rec, "evkit_registration"), NULL)) json_array_append(live, rec);
    }
    regset_release(regs);
    json_decref(list);
    char *base = base_url(h, req);
    char *self = xasprintf("%s/events/%s/%s/%s/registrations", base, req->arg[0], req->arg[1],
                           req->arg[2]);
    long total = (long)json_array_size(live);
    json_t *items = json_array();
    for (long k = page * size; k < total && k < (page + 1) * size; k++)
        json_array_append_new(items, reg_view(h, base, json_array_get(live, (size_t)k)));
    json_t *links = json_pack("{s:o}", "self", href("%s?page=%ld&size=%ld", self, page, size));
    if ((page + 1) * size < total)
        json_object_set_new(links, "next", href("%s?page=%ld&size=%ld", self, page + 1, size));
    web_json(out, 200, json_pack("{s:{s:o}, s:o, s:{s:i, s:i, s:i, s:i}}", "_embedded",
                                 "registrations", items, "_links", links, "page", "size",
                                 (int)size, "number", (int)page, "numberOfElements",
                                 (int)json_array_size(items), "totalElements", (int)total));
    json_decref(live);
    free(self);
    free(base);
}
