/* registrations_api: GET/POST/PUT/DELETE /api/v1/registrations[/<name>],
 * enabling, and webhook secret rotation. Manifest registrations are shown
 * and may be enabled, but not changed here. Secrets are never returned,
 * except a secret evkit generated, once, in the answer that created it. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/webhook.h"
#include "http/api.h"
#include "registry/registry.h"

static void fail(web_response *out, int status, const err_t *err)
{
    web_error(out, status >= 400 ? status : 500, "%s", err->msg);
}

static void describe_one(engine_t *e, const char *name, int status, const char *secret,
                         web_response *out)
{
    regset_t *regs = registry_get(e->registry);
    bool api = false;
    const registration_t *reg = regset_find(regs, name, &api);
    err_t err;
    json_t *o = reg ? registry_describe(e->registry, reg, api, &err) : NULL;
    regset_release(regs);
    if (!reg) {
        web_error(out, 404, "registration '%s' not found", name);
        return;
    }
    if (!o) {
        fail(out, 500, &err);
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
    json_t *j = json_loadb(req->body, req->body_len, 0, &je);
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

void api_registrations(engine_t *e, const api_request *req, web_response *out)
{
    if (!json_array_size(e->api_tokens)) {
        web_error(out, 401, "The registrations API is off: set EVKIT_API_TOKENS to enable it.");
        return;
    }
    if (!api_authorized(e, req->headers)) {
        web_error(out, 401, "The supplied authentication is invalid.");
        return;
    }
    if (!e->registry) {
        web_error(out, 503, "Registrations are not available.");
        return;
    }
    /* rest: "", "<name>", "<name>/enable", "<name>/secrets[/<id>]" */
    const char *rest = req->rest;
    while (*rest == '/') rest++;
    char *path = xstrdup(rest);
    size_t pl = strlen(path);
    while (pl && path[pl - 1] == '/') path[--pl] = '\0';
    char *name = path, *sub = strchr(path, '/'), *arg = NULL;
    if (sub) {
        *sub++ = '\0';
        arg = strchr(sub, '/');
        if (arg) *arg++ = '\0';
    }
    const char *m = req->method;
    err_t err = {0};
    char *secret = NULL;
    json_t *body = NULL;

    if (!*name) {
        if (!strcmp(m, "GET")) {
            regset_t *regs = registry_get(e->registry);
            json_t *arr = json_array();
            int status = 200;
            for (size_t i = 0; i < regs->n && status == 200; i++) {
                json_t *o = registry_describe(e->registry, regs->regs[i], regs->from_api[i], &err);
                if (!o) status = 500;
                else json_array_append_new(arr, o);
            }
            regset_release(regs);
            if (status != 200) {
                json_decref(arr);
                fail(out, status, &err);
            } else {
                web_json(out, 200, json_pack("{s:o}", "registrations", arr));
            }
        } else if (!strcmp(m, "POST")) {
            if (!(body = body_json(req, true, out))) goto done;
            const char *n = json_string_value(json_object_get(body, "name"));
            int status = registry_create(e->registry, NULL, body, &secret, &err);
            if (status >= 400) fail(out, status, &err);
            else describe_one(e, n, 201, secret, out);
        } else {
            web_error(out, 405, "Use GET or POST on /api/v1/registrations.");
        }
        goto done;
    }

    if (!sub) {
        int status = 0;
        if (!strcmp(m, "GET")) {
            describe_one(e, name, 200, NULL, out);
        } else if (!strcmp(m, "PUT")) {
            if (!(body = body_json(req, true, out))) goto done;
            status = registry_update(e->registry, name, body, &secret, &err);
            if (status >= 400) fail(out, status, &err);
            else describe_one(e, name, 200, secret, out);
        } else if (!strcmp(m, "DELETE")) {
            status = registry_delete(e->registry, name, &err);
            if (status >= 400) fail(out, status, &err);
            else web_json(out, 200, json_pack("{s:s}", "deleted", name));
        } else {
            web_error(out, 405, "Use GET, PUT or DELETE on a registration.");
        }
        goto done;
    }

    if (!strcmp(sub, "enable") && !arg) {
        if (strcmp(m, "POST")) {
            web_error(out, 405, "Use POST to enable a registration.");
            goto done;
        }
        int resumed = 0;
        int status = registry_enable(e->registry, name, &resumed, &err);
        if (status >= 400) fail(out, status, &err);
        else web_json(out, 200, json_pack("{s:s, s:s, s:i}", "name", name, "state", "ACTIVE",
                                          "resumed", resumed));
        goto done;
    }

    if (!strcmp(sub, "secrets")) {
        if (!arg && !strcmp(m, "POST")) {
            if (!(body = body_json(req, false, out))) goto done;
            json_t *given = json_object_get(body, "secret");
            if (given && !json_is_string(given)) {
                web_error(out, 400, "\"secret\" must be a string (whsec_<base64>).");
                goto done;
            }
            int status = registry_secret_add(e->registry, name, json_string_value(given), &secret,
                                             &err);
            if (status >= 400) {
                fail(out, status, &err);
                goto done;
            }
            const char *s = secret ? secret : json_string_value(given);
            char id[9], hint[32];
            webhook_secret_id(s, id);
            webhook_secret_hint(s, hint, sizeof hint);
            json_t *o = json_pack("{s:s, s:s}", "id", id, "hint", hint);
            if (secret) json_object_set_new(o, "webhook_secret", json_string(secret));
            web_json(out, 201, o);
        } else if (arg && *arg && !strcmp(m, "DELETE")) {
            int status = registry_secret_remove(e->registry, name, arg, &err);
            if (status >= 400) fail(out, status, &err);
            else web_json(out, 200, json_pack("{s:s}", "removed", arg));
        } else {
            web_error(out, 405,
                      "Use POST .../secrets to add a secret and DELETE .../secrets/<id> to remove "
                      "one.");
        }
        goto done;
    }
    web_error(out, 404, "The requested resource does not exist.");
done:
    secret_drop(secret);
    json_decref(body);
    free(path);
}
