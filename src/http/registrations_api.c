/* registrations_api: GET/POST/PUT/DELETE /api/v1/registrations[/<name>],
 * enabling, and webhook secret rotation, one handler per route row.
 * Manifest registrations are shown and may be enabled, but not changed
 * here. Secrets are never returned, except a secret evkit generated, once,
 * in the answer that created it. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_io.h"
#include "core/log.h"
#include "http/api.h"
#include "registry/registry.h"

/* The registry, or a 503 when there is none (no app or store). */
static registry_t *need_registry(const http_ctx *h, web_response *out)
{
    if (!h->e->registry) web_error(out, 503, "Registrations are not available.");
    return h->e->registry;
}

static void describe_one(registry_t *r, const char *name, int status, const char *secret,
                         web_response *out)
{
    regset_t *regs = registry_get(r);
    bool api = false;
    const registration_t *reg = regset_find(regs, name, &api);
    err_t err;
    json_t *o = reg ? registry_describe(r, reg, api, &err) : NULL;
    regset_release(regs);
    if (!reg) {
        web_error(out, 404, "registration '%s' not found", name);
        return;
    }
    if (!o) {
        web_fail(out, &err);
        return;
    }
    if (secret) json_object_set_new(o, "webhook_secret", json_string(secret));
    web_json(out, status, o);
}

static json_t *body_json(const api_request *req, bool required, web_response *out)
{
    if (!req->body_len) {
        if (required) web_error(out, 400, "The request body must be a JSON object.");
        return required ? NULL : json_object();
    }
    json_error_t je;
    json_t *j = json_load_kept(req->body, req->body_len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        if (je.text[0] && !j)
            web_error(out, 400, "The request body is not valid JSON: %s (line %d, column %d).",
                      je.text, je.line, je.column);
        else
            web_error(out, 400, "The request body must be a JSON object.");
        return NULL;
    }
    return j;
}

static void secret_drop(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void api_reg_list(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = need_registry(h, out);
    if (!r) return;
    regset_t *regs = registry_get(r);
    json_t *arr = json_array();
    err_t err;
    bool ok = true;
    for (size_t i = 0; i < regs->n && ok; i++) {
        json_t *o = registry_describe(r, regs->regs[i], regs->from_api[i], &err);
        if (!o) ok = false;
        else json_array_append_new(arr, o);
    }
    regset_release(regs);
    if (!ok) {
        json_decref(arr);
        web_fail(out, &err);
        return;
    }
    web_json(out, 200, json_pack("{s:o}", "registrations", arr));
}

/* POST (create, the name in the body) and PUT (update): 201 or 200 with
 * the registration, and once the secret evkit generated. */
static void put_definition(http_ctx *h, const api_request *req, web_response *out, bool create)
{
    registry_t *r = need_registry(h, out);
    json_t *body = r ? body_json(req, true, out) : NULL;
    if (!body) return;
    const char *name = create ? json_string_value(json_object_get(body, "name")) : req->arg[0];
    char *secret = NULL;
    err_t err;
    int rc = create ? registry_create(r, NULL, body, &secret, &err)
                    : registry_update(r, name, body, &secret, &err);
    if (rc < 0) web_fail(out, &err);
    else describe_one(r, name, create ? 201 : 200, secret, out);
    secret_drop(secret);
    json_decref(body);
}

void api_reg_create(http_ctx *h, const api_request *req, web_response *out)
{
    put_definition(h, req, out, true);
}

void api_reg_get(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = need_registry(h, out);
    if (r) describe_one(r, req->arg[0], 200, NULL, out);
}

void api_reg_update(http_ctx *h, const api_request *req, web_response *out)
{
    put_definition(h, req, out, false);
}

/* The answer of a removal: err's status, or done (stolen) with 200. */
static void removed(web_response *out, int rc, const err_t *err, json_t *done)
{
    if (rc < 0) web_fail(out, err);
    else web_json(out, 200, json_incref(done));
    json_decref(done);
}

void api_reg_delete(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = need_registry(h, out);
    err_t err;
    if (r) removed(out, registry_delete(r, req->arg[0], &err), &err,
                   json_pack("{s:s}", "deleted", req->arg[0]));
}

void api_reg_enable(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = need_registry(h, out);
    if (!r) return;
    int resumed = 0;
    err_t err;
    if (registry_enable(r, req->arg[0], &resumed, &err) < 0) web_fail(out, &err);
    else web_json(out, 200, json_pack("{s:s, s:s, s:i}", "name", req->arg[0], "state", "ACTIVE",
                                      "resumed", resumed));
}

void api_reg_secret_add(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = need_registry(h, out);
    json_t *body = r ? body_json(req, false, out) : NULL;
    if (!body) return;
    json_t *given = json_object_get(body, "secret");
    char *secret = NULL;
    err_t err;
    if (given && !json_is_string(given)) {
        web_error(out, 400, "\"secret\" must be a string (whsec_<base64>).");
    } else if (registry_secret_add(r, req->arg[0], json_string_value(given), &secret, &err) < 0) {
        web_fail(out, &err);
    } else {
        const char *s = secret ? secret : json_string_value(given);
        char id[9], hint[32];
        registry_secret_id(s, id);
        registry_secret_hint(s, hint, sizeof hint);
        json_t *o = json_pack("{s:s, s:s}", "id", id, "hint", hint);
        if (secret) json_object_set_new(o, "webhook_secret", json_string(secret));
        web_json(out, 201, o);
    }
    secret_drop(secret);
    json_decref(body);
}

void api_reg_secret_remove(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = need_registry(h, out);
    err_t err;
    if (r) removed(out, registry_secret_remove(r, req->arg[0], req->arg[1], &err), &err,
                   json_pack("{s:s}", "removed", req->arg[1]));
}

/* A bound of the replay body: a position (number) for since/until, a time
 * (ISO 8601 or a duration before now) for from/to. */
static int replay_bound(const json_t *body, const char *key, bool position, int64_t now,
                        int64_t *out, err_t *err)
{
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (position) {
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            *out = json_integer_value(v);
            return 0;
        }
        return err_code(err, EVK_INVALID, "\"%s\" must be a journal position (an integer >= 0)",
                        key);
    }
    int64_t pos = -1, ms = -1;
    if (!json_is_string(v) ||
        registry_range_bound(key, json_string_value(v), now, &pos, &ms, err) < 0 || ms < 0)
        return err_code(err, EVK_INVALID,
                        "\"%s\" must be an ISO 8601 time (2026-12-06T10:00:00Z) or a duration "
                        "before now (-PT2H)",
                        key);
    *out = ms;
    return 0;
}

void api_reg_replay(http_ctx *h, const api_request *req, web_response *out)
{
    registry_t *r = need_registry(h, out);
    json_t *body = r ? body_json(req, true, out) : NULL;
    if (!body) return;
    static const char *const keys[] = {"since", "until", "from", "to", NULL};
    registry_range g = {0};
    int64_t *slots[] = {&g.since, &g.until, &g.from_ms, &g.to_ms};
    err_t err = {0};
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        bool known = false;
        for (int i = 0; keys[i]; i++) known |= !strcmp(keys[i], k);
        if (!known && rc == 0)
            rc = err_code(&err, EVK_INVALID, "unknown key '%s' (since, until, from, to)", k);
    }
    for (int i = 0; keys[i] && rc == 0; i++)
        rc = replay_bound(body, keys[i], i < 2, now_ms(), slots[i], &err);
    if (rc == 0 && (g.since && g.from_ms))
        rc = err_code(&err, EVK_INVALID, "give \"since\" (a position) or \"from\" (a time), not both");
    if (rc == 0 && (g.until && g.to_ms))
        rc = err_code(&err, EVK_INVALID, "give \"until\" (a position) or \"to\" (a time), not both");
    int count = 0, filtered = 0;
    if (rc == 0) rc = registry_replay(r, req->arg[0], &g, NULL, NULL, &count, &filtered, &err);
    json_decref(body);
    if (rc < 0) {
        web_fail(out, &err);
        return;
    }
    /* The daemon's log says what the API replayed (the CLI prints its own summary). */
    log_info("replay", json_pack("{s:s, s:I, s:I, s:i}", "registration", req->arg[0], "since",
                                 (json_int_t)g.since, "until", (json_int_t)g.until, "deliveries",
                                 count));
    web_json(out, 200, json_pack("{s:s, s:I, s:I, s:i, s:i}", "registration", req->arg[0], "since",
                                 (json_int_t)g.since, "until", (json_int_t)g.until, "replayed",
                                 count, "filtered", filtered));
}
