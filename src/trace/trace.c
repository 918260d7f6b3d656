/* trace: see trace.h. Redaction happens before cutting, so a secret can
 * never survive half-cut at the end of a truncated body. */
#include "trace/trace.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "core/vec.h"
#include "core/json_io.h"

struct trace_secrets {
    char **values;       /* longest first: a secret inside another is replaced after it */
    size_t n, cap;
};

static const char HIDDEN[] = "<hidden>";

void trace_secrets_add(trace_secrets *sec, const char *value)
{
    if (!sec || !value || strlen(value) < TRACE_SECRET_MIN) return;
    for (size_t i = 0; i < sec->n; i++)
        if (!strcmp(sec->values[i], value)) return;
    VEC_GROW(sec->values, sec->cap, sec->n + 1);
    size_t len = strlen(value), i = sec->n;
    while (i > 0 && strlen(sec->values[i - 1]) < len) {
        sec->values[i] = sec->values[i - 1];
        i--;
    }
    sec->values[i] = xstrdup(value);
    sec->n++;
}

static void add_secret_values(trace_secrets *sec, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (log_key_is_secret(k) && json_is_string(v)) trace_secrets_add(sec, json_string_value(v));
    }
}

trace_secrets *trace_secrets_new(const app_t *app)
{
    trace_secrets *sec = xcalloc(1, sizeof *sec);
    if (!app) return sec;
    for (size_t i = 0; i < app->nactions; i++)
        if (json_is_object(app->actions[i].inputs)) add_secret_values(sec, app->actions[i].inputs);
    if (json_is_object(app->env)) add_secret_values(sec, app->env);
    return sec;
}

void trace_secrets_free(trace_secrets *sec)
{
    if (!sec) return;
    for (size_t i = 0; i < sec->n; i++) free(sec->values[i]);
    free(sec->values);
    free(sec);
}

/* s with every secret value replaced; NULL when it holds none. */
static char *scrub_text(const trace_secrets *sec, const char *s, size_t len)
{
    if (!sec || !sec->n) return NULL;
    char *cur = NULL;   /* the text so far, once something was replaced */
    size_t curlen = len;
    for (size_t i = 0; i < sec->n; i++) {
        const char *text = cur ? cur : s;
        const char *needle = sec->values[i];
        size_t nlen = strlen(needle);
        if (!memmem(text, curlen, needle, nlen)) continue;
        buf_t b;
        buf_init(&b, 0);
        const char *p = text, *end = text + curlen, *hit;
        while ((hit = memmem(p, (size_t)(end - p), needle, nlen))) {
            buf_append(&b, p, (size_t)(hit - p));
            buf_append(&b, HIDDEN, sizeof HIDDEN - 1);
            p = hit + nlen;
        }
        buf_append(&b, p, (size_t)(end - p));
        curlen = b.len;
        free(cur);
        cur = buf_steal(&b);
    }
    return cur;
}

char *trace_scrub(const trace_secrets *sec, const char *text)
{
    if (!text) return NULL;
    char *clean = scrub_text(sec, text, strlen(text));
    return clean ? clean : xstrdup(text);
}

/* Redacts v in place: secret keys (log_key_is_secret) and secret values
 * inside strings. */
static void scrub_json(const trace_secrets *sec, json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val) {
            if (log_key_is_secret(k)) json_object_set_new(v, k, json_string(HIDDEN));
            else if (json_is_string(val)) {
                char *clean = scrub_text(sec, json_string_value(val), json_string_length(val));
                if (clean) {
                    json_object_set_new(v, k, json_string(clean));
                    free(clean);
                }
            } else scrub_json(sec, val);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val) {
            if (json_is_string(val)) {
                char *clean = scrub_text(sec, json_string_value(val), json_string_length(val));
                if (clean) {
                    json_array_set_new(v, i, json_string(clean));
                    free(clean);
                }
            } else scrub_json(sec, val);
        }
    }
}

/* A string of text's first bytes, at most TRACE_BODY_LIMIT, never ending
 * inside a UTF-8 sequence; bytes that are not UTF-8 become '?'. */
static json_t *cut_string(const char *text, size_t len, bool *truncated)
{
    if (len > TRACE_BODY_LIMIT) {
        *truncated = true;
        len = TRACE_BODY_LIMIT;
        /* Back off to the start of a character. */
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) len--;
    }
    json_t *j = json_stringn(text, len);
    if (j) return j;
    char *copy = xstrndup(text, len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)copy[i] >= 0x80 || copy[i] == '\0') copy[i] = '?';
    j = json_stringn(copy, len);
    free(copy);
    return j ? j : json_string("");
}

/* v (stolen) as is when its JSON fits the limit, else the string of its
 * first bytes. */
static json_t *cut_json(json_t *v, bool *truncated)
{
    if (!json_is_object(v) && !json_is_array(v) && !json_is_string(v)) return v;
    if (json_is_string(v)) {
        if (json_string_length(v) <= TRACE_BODY_LIMIT) return v;
        json_t *s = cut_string(json_string_value(v), json_string_length(v), truncated);
        json_decref(v);
        return s;
    }
    char *text = json_text(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t len = text ? strlen(text) : 0;
    if (!text || len <= TRACE_BODY_LIMIT) {
        free(text);
        return v;
    }
    json_decref(v);
    json_t *s = cut_string(text, len, truncated);
    free(text);
    return s;
}

/* Raw bytes as a body: JSON when they are JSON, else a string; redacted, cut. */
static json_t *raw_body(const trace_secrets *sec, const char *body, size_t len, bool *truncated)
{
    if (!body) return json_null();
    char *clean = scrub_text(sec, body, len);
    const char *text = clean ? clean : body;
    size_t tlen = clean ? strlen(clean) : len;
    json_t *v = json_load_kept(text, tlen, JSON_DECODE_ANY, NULL);
    if (v) {
        scrub_json(sec, v);
        v = cut_json(v, truncated);
    } else {
        v = cut_string(text, tlen, truncated);
    }
    free(clean);
    return v;
}

static json_t *copy_scrubbed(const trace_secrets *sec, const json_t *v)
{
    json_t *c = json_deep_copy(v);
    if (json_is_string(c)) {
        char *clean = scrub_text(sec, json_string_value(c), json_string_length(c));
        if (clean) {
            json_decref(c);
            c = json_string(clean);
            free(clean);
        }
    } else {
        scrub_json(sec, c);
    }
    return c;
}

json_t *trace_request_json(const trace_attempt *t, const trace_secrets *sec)
{
    bool truncated = false;
    json_t *req = json_object();
    if (t->params) json_object_set_new(req, "params", cut_json(copy_scrubbed(sec, t->params), &truncated));
    if (t->req_headers)
        json_object_set_new(req, "headers", cut_json(copy_scrubbed(sec, t->req_headers), &truncated));
    if (t->req_body)
        json_object_set_new(req, "body", raw_body(sec, t->req_body, t->req_body_len, &truncated));
    json_object_set_new(req, "truncated", json_boolean(truncated));
    return req;
}

/* An action result in HTTP terms: {statusCode, headers, body} (or the same
 * inside "error") gives its headers and body; anything else is the body. */
static void result_parts(const json_t *result, const json_t **headers, const json_t **body)
{
    *headers = NULL;
    *body = result;
    const json_t *shape = result;
    json_t *err = json_object_get(result, "error");
    if (json_is_object(err)) shape = err;
    json_t *b = json_object_get(shape, "body");
    if (b && (json_object_get(shape, "statusCode") || json_object_get(shape, "headers"))) {
        *body = b;
        *headers = json_object_get(shape, "headers");
        if (!json_is_object(*headers)) *headers = NULL;
    }
}

json_t *trace_response_json(const trace_attempt *t, const trace_secrets *sec)
{
    bool truncated = false;
    json_t *resp = json_object();
    json_object_set_new(resp, "statusCode", json_integer(t->status_code));
    const json_t *headers = t->resp_headers, *body = NULL;
    if (t->result) {
        const json_t *rh;
        result_parts(t->result, &rh, &body);
        if (!headers) headers = rh;
    }
    if (headers) json_object_set_new(resp, "headers", cut_json(copy_scrubbed(sec, headers), &truncated));
    if (t->resp_body)
        json_object_set_new(resp, "body", raw_body(sec, t->resp_body, t->resp_body_len, &truncated));
    else if (body)
        json_object_set_new(resp, "body", cut_json(copy_scrubbed(sec, body), &truncated));
    else
        json_object_set_new(resp, "body", json_null());
    json_object_set_new(resp, "truncated", json_boolean(truncated));
    return resp;
}

/* Whether text (len bytes) holds a secret value. */
static bool has_secret(const trace_secrets *sec, const char *text, size_t len)
{
    for (size_t i = 0; sec && i < sec->n; i++)
        if (memmem(text, len, sec->values[i], strlen(sec->values[i]))) return true;
    return false;
}

/* Whether copy_scrubbed would change v: a secret key at any depth, or a
 * secret value inside a string. */
static bool needs_scrub(const trace_secrets *sec, const json_t *v)
{
    if (json_is_string(v)) return has_secret(sec, json_string_value(v), json_string_length(v));
    if (json_is_object(v)) {
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            if (log_key_is_secret(k) || needs_scrub(sec, val)) return true;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val) {
            if (needs_scrub(sec, val)) return true;
        }
    }
    return false;
}

#define OUT_LIT(o, lit) json_out_raw((o), (lit), sizeof(lit) - 1)

/* Writes ,"name":v as trace_request_json and trace_response_json would,
 * when that needs no redaction and no cut; false otherwise. */
static bool out_part(json_out *o, const char *name, const trace_secrets *sec, const json_t *v)
{
    if (needs_scrub(sec, v)) return false;
    json_out_raw(o, name, strlen(name));
    size_t at = o->len;
    if (!json_out_value(o, v)) return false;
    if (json_is_string(v)) return json_string_length(v) <= TRACE_BODY_LIMIT;
    return !(json_is_object(v) || json_is_array(v)) || o->len - at <= TRACE_BODY_LIMIT;
}

/* The text of trace_request_json and trace_response_json written straight
 * from what the transport holds, for the common case of an action delivery
 * (params and a result, nothing to redact or cut): no copy of either is
 * made. NULL when the general path must run. */
static char *request_text_fast(const trace_attempt *t, const trace_secrets *sec)
{
    if (!t->params || t->req_headers || t->req_body) return NULL;
    json_out o = {.flags = JSON_COMPACT};
    OUT_LIT(&o, "{");
    bool ok = out_part(&o, "\"params\":", sec, t->params);
    OUT_LIT(&o, ",\"truncated\":false}");
    char *text = json_out_steal(&o);
    if (ok) return text;
    free(text);
    return NULL;
}

static char *response_text_fast(const trace_attempt *t, const trace_secrets *sec)
{
    if (t->resp_headers || t->resp_body) return NULL;
    const json_t *headers = NULL, *body = NULL;
    if (t->result) result_parts(t->result, &headers, &body);
    json_out o = {.flags = JSON_COMPACT};
    char num[32];
    int n = snprintf(num, sizeof num, "{\"statusCode\":%d", t->status_code);
    json_out_raw(&o, num, (size_t)n);
    bool ok = !headers || out_part(&o, ",\"headers\":", sec, headers);
    if (ok && body) ok = out_part(&o, ",\"body\":", sec, body);
    else if (ok) OUT_LIT(&o, ",\"body\":null");
    OUT_LIT(&o, ",\"truncated\":false}");
    char *text = json_out_steal(&o);
    if (ok) return text;
    free(text);
    return NULL;
}

void trace_record(store_t *s, const trace_secrets *sec, const trace_attempt *t)
{
    if (!s || !t) return;
    char *req_s = request_text_fast(t, sec), *resp_s = response_text_fast(t, sec);
    if (!req_s) {
        json_t *req = trace_request_json(t, sec);
        req_s = json_text(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(req);
    }
    if (!resp_s) {
        json_t *resp = trace_response_json(t, sec);
        resp_s = json_text(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(resp);
    }
    /* An error text may quote what the consumer said. */
    char *error = t->error ? scrub_text(sec, t->error, strlen(t->error)) : NULL;
    store_trace rec = {
        .registration = t->registration,
        .event_id = t->event_id,
        .event_type = t->event_type,
        .delivery_id = t->delivery_id,
        .attempt = t->attempt,
        .start_ms = t->start_ms,
        .duration_ms = t->end_ms > t->start_ms ? t->end_ms - t->start_ms : 0,
        .success = t->success,
        .status_code = t->status_code,
        .retried = t->retried,
        .activation_id = t->activation_id,
        .error = error ? error : t->error,
        .request = req_s ? req_s : "{}",
        .response = resp_s ? resp_s : "{}",
    };
    store_trace_put(s, &rec);
    if (t->span) {
        char ref[64];
        snprintf(ref, sizeof ref, "%lld", (long long)t->delivery_id);
        store_span sp = {
            .trace_id = t->span->trace_id, .span_id = t->span->span_id,
            .parent_id = t->parent_span, .kind = "delivery", .ref = ref,
            .name = t->registration, .start_ms = t->start_ms, .end_ms = t->end_ms,
            .ok = t->success, .status = t->status_code,
        };
        store_span_put(s, &sp);
    }
    free(error);
    free(req_s);
    free(resp_s);
}

int trace_event_detail(store_t *s, const char *event_id, json_t **out, err_t *err)
{
    *out = NULL;
    json_t *ev = NULL;
    if (store_event_detail(s, event_id, &ev, err) < 0) return -1;
    if (!ev) return 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(ev, "deliveries"), i, d) {
        /* With its registration: the JetStream store then reads one subject. */
        store_trace_filter f = {.outcome = -1, .retried = -1, .oldest_first = true, .limit = 1000,
                                .delivery_id = json_integer_value(json_object_get(d, "id")),
                                .registration = json_string_value(json_object_get(d, "registration"))};
        json_t *traces = NULL;
        if (store_trace_list(s, &f, &traces, NULL, err) < 0) {
            json_decref(ev);
            return -1;
        }
        json_object_set_new(d, "traces", traces);
    }
    *out = ev;
    return 0;
}
