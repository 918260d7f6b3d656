/* state_api: @adobe/aio-lib-state's store, kept in evkit's action state
 * (store_kv.c) as nodejs/preload.js calls it. The state of a namespace is
 * shared by its actions (Lua ones too: same keys); evkit serves one
 * namespace, "_" naming it as well. See adobe.h. */
#include <stdlib.h>
#include <string.h>

#include "http/adobe.h"

#define STATE_TTL_DEFAULT_S 86400

/* arg[0] the namespace, arg[1] the key ("" or NULL for the collection). */
static bool ns_ok(const http_ctx *h, const api_request *req, web_response *out)
{
    const char *ns = req->arg[0];
    if (ns && (!strcmp(ns, "_") || !strcmp(ns, h->e->namespace))) return true;
    web_error(out, 404, "No namespace '%s' here (this evkit serves '%s').", ns ? ns : "",
              h->e->namespace);
    return false;
}

/* What a request does on the collection (/state/). */
enum { ON_ALL_COUNT, ON_ALL_CLEAR, ON_ALL_REFUSE };

/* The key of a request on one key (true); else false with the answer in
 * out: a refusal, or the collection's (its count, or every key deleted). */
static bool one_key(http_ctx *h, const api_request *req, int on_all, const char **key,
                    web_response *out)
{
    if (!ns_ok(h, req, out)) return false;
    *key = req->arg[1] && *req->arg[1] ? req->arg[1] : NULL;
    if (*key && store_state_key_valid(*key)) return true;
    if (*key) {
        web_error(out, 400, "Invalid state key: 1 to 1024 characters of a-z A-Z 0-9 - _ .");
        return false;
    }
    if (on_all == ON_ALL_REFUSE) {
        web_error(out, 405, "%s takes a key: /state/<key>.", req->method);
        return false;
    }
    int64_t n = 0;
    err_t err;
    bool clear = on_all == ON_ALL_CLEAR;
    int rc = clear ? store_state_clear(h->e->store, &n, &err)
                   : store_state_count(h->e->store, &n, &err);
    if (rc < 0) web_fail(out, &err);
    else web_json(out, 200, json_pack("{s:I}", clear ? "deleted" : "count", (json_int_t)n));
    return false;
}

void state_api_get(http_ctx *h, const api_request *req, web_response *out)
{
    const char *key;
    if (!one_key(h, req, ON_ALL_COUNT, &key, out)) return;
    json_t *value = NULL;
    int64_t expires = 0;
    err_t err;
    if (store_state_entry(h->e->store, key, &value, &expires, &err) < 0) {
        web_fail(out, &err);
        return;
    }
    if (!value) {
        web_error(out, 404, "No state for key '%s'.", key);
        return;
    }
    char iso[32];
    if (expires > 0) time_iso(expires, iso, sizeof iso);
    web_json(out, 200, json_pack("{s:o, s:o}", "value", value, "expiration",
                                 expires > 0 ? json_string(iso) : json_null()));
}

void state_api_put(http_ctx *h, const api_request *req, web_response *out)
{
    const char *key;
    if (!one_key(h, req, ON_ALL_REFUSE, &key, out)) return;
    json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    json_t *value = json_object_get(body, "value"), *ttl = json_object_get(body, "ttl");
    err_t err;
    if (!json_is_object(body) || !value) {
        web_error(out, 400, "The body must be {\"value\": ..., \"ttl\": seconds}.");
    } else if (ttl && !json_is_integer(ttl) && !json_is_null(ttl)) {
        web_error(out, 400, "ttl must be a whole number of seconds (negative: no expiry).");
    } else {
        /* As aio-lib-state: 0 or none is the default day, negative never expires. */
        json_int_t s = json_is_integer(ttl) ? json_integer_value(ttl) : 0;
        if (s == 0) s = STATE_TTL_DEFAULT_S;
        if (s > 100LL * 365 * 86400) s = 100LL * 365 * 86400;
        int64_t ttl_ms = s < 0 ? 0 : (int64_t)s * 1000;
        if (engine_state_put(h->e, key, value, ttl_ms, &err) < 0) web_fail(out, &err);
        else web_json(out, 200, json_pack("{s:s}", "key", key));
    }
    json_decref(body);
}

void state_api_delete(http_ctx *h, const api_request *req, web_response *out)
{
    const char *key;
    if (!one_key(h, req, ON_ALL_CLEAR, &key, out)) return;
    bool existed = false;
    err_t err;
    if (store_state_delete(h->e->store, key, &existed, &err) < 0) web_fail(out, &err);
    else if (!existed) web_error(out, 404, "No state for key '%s'.", key);
    else web_json(out, 200, json_pack("{s:s}", "key", key));
}
