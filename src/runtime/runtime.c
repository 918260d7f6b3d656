/* runtime: dispatches an invocation to the backend of its kind, times it,
 * and turns it into an OpenWhisk activation record written off the hot path. */
#include "runtime/runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_io.h"
#include "core/log.h"
#include "metrics/metrics.h"

static _Thread_local const char *current_activation_id;
/* The deadline of the activation running on this thread: a nested
 * invocation never outlives its caller. */
static _Thread_local int64_t current_deadline_ms;
static _Thread_local const tracectx *current_trace;

const char *act_status_name(act_status st)
{
    switch (st) {
    case ACT_SUCCESS: return "success";
    case ACT_APP_ERROR: return "application error";
    case ACT_DEV_ERROR: return "action developer error";
    default: return "whisk internal error";
    }
}

const char *runtime_current_activation(void)
{
    return current_activation_id ? current_activation_id : "";
}

const tracectx *runtime_current_trace(void)
{
    return current_trace;
}

/* time_iso of now into ts (24 bytes and a NUL); the date and time up to the
 * second are formatted once per second and thread. */
static size_t log_time(char ts[32])
{
    static _Thread_local int64_t cached_sec = -1;
    static _Thread_local char cached[24]; /* "YYYY-MM-DDTHH:MM:SS." */
    int64_t ms = now_ms();
    if (ms < 0) {
        time_iso(ms, ts, 32);
        return strlen(ts);
    }
    if (ms / 1000 != cached_sec) {
        char full[32];
        time_iso(ms - ms % 1000, full, sizeof full);
        if (strlen(full) != 24) { /* a year beyond 9999: no cache */
            time_iso(ms, ts, 32);
            return strlen(ts);
        }
        memcpy(cached, full, 20);
        cached_sec = ms / 1000;
    }
    int frac = (int)(ms % 1000);
    memcpy(ts, cached, 20);
    ts[20] = (char)('0' + frac / 100);
    ts[21] = (char)('0' + frac / 10 % 10);
    ts[22] = (char)('0' + frac % 10);
    ts[23] = 'Z';
    ts[24] = '\0';
    return 24;
}

/* True when every byte is ASCII: valid UTF-8 without looking further. */
static bool all_ascii(const char *s, size_t n)
{
    unsigned char any = 0;
    for (size_t i = 0; i < n; i++) any |= (unsigned char)s[i];
    return any < 0x80;
}

void activation_log(activation_t *a, const char *stream, const char *line, size_t len)
{
    if (!a->logs) a->logs = json_array();
    if (a->logs_truncated) return;
    /* Trailing newlines belong to the transport, not the line. */
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    char ts[32];
    size_t tslen = log_time(ts), slen = strlen(stream);
    size_t need = tslen + slen + len + 4;
    if (a->logs_bytes + need > ACTIVATION_LOG_LIMIT) {
        a->logs_truncated = true;
        char *note = xasprintf("%s stderr: Logs were truncated because the total bytes size "
                               "exceeds the limit of %u bytes.", ts, ACTIVATION_LOG_LIMIT);
        json_array_append_new(a->logs, json_string(note));
        free(note);
        return;
    }
    char small[1024];
    char *s = need + 1 <= sizeof small ? small : xmalloc(need + 1);
    size_t n = 0;
    memcpy(s, ts, tslen);
    n += tslen;
    s[n++] = ' ';
    memcpy(s + n, stream, slen);
    n += slen;
    s[n++] = ':';
    s[n++] = ' ';
    memcpy(s + n, line, len);
    s[n + len] = '\0';
    json_t *js = all_ascii(s + n, len) ? json_stringn_nocheck(s, n + len) : json_stringn(s, n + len);
    /* Invalid UTF-8 from a process must not lose the line. */
    if (!js) {
        for (size_t i = n; i < n + len; i++)
            if ((unsigned char)s[i] >= 0x80 || s[i] == '\0') s[i] = '?';
        js = json_stringn(s, n + len);
    }
    if (js) json_array_append_new(a->logs, js);
    a->logs_bytes += need;
    if (s != small) free(s);
}

void activation_fail(activation_t *a, act_status st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(a->result);
    a->result = json_pack("{s:s}", "error", msg);
    a->status = st;
}

json_t *runtime_params(const action_t *action, const json_t *request, err_t *err)
{
    json_t *p = action->inputs ? json_deep_copy(action->inputs) : json_object();
    if (!json_is_object(request)) return p;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)request, k, v) {
        if (action->final && action->inputs && json_object_get(action->inputs, k)) {
            json_decref(p);
            err_code(err, EVK_INVALID,
                     "Request defines parameters that are not allowed (e.g., reserved properties).");
            return NULL;
        }
        json_object_set(p, k, v);
    }
    return p;
}

static json_t *limits_json(const action_t *action)
{
    return json_pack("{s:i, s:i, s:i, s:i}", "timeout", action->timeout_ms, "memory",
                     action->memory_mb, "logs", 10, "concurrency", action->concurrency);
}

static const char *kind_name(const action_t *action)
{
    switch (action->kind) {
    case RUNTIME_LUA: return "lua:5.4";
    case RUNTIME_EXEC: return "blackbox";
    case RUNTIME_NODEJS: return action->runtime;
    case RUNTIME_SEQUENCE: return "sequence";
    default: return "actionloop";
    }
}

/* The OpenWhisk activation record; steals nothing from a. */
static json_t *activation_record(engine_t *e, activation_t *a, int64_t end_ms, int64_t wait_ms)
{
    json_t *ann = json_array();
    json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "path", "value", a->action->fqn));
    json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "kind", "value",
                                         kind_name(a->action)));
    json_array_append_new(ann, json_pack("{s:s, s:I}", "key", "waitTime", "value",
                                         (json_int_t)wait_ms));
    if (a->cold)
        json_array_append_new(ann, json_pack("{s:s, s:I}", "key", "initTime", "value",
                                             (json_int_t)a->init_ms));
    json_array_append_new(ann, json_pack("{s:s, s:o}", "key", "limits", "value",
                                         limits_json(a->action)));
    if (a->cause[0])
        json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "causedBy", "value", a->cause));
    if (a->timed_out)
        json_array_append_new(ann, json_pack("{s:s, s:b}", "key", "timeout", "value", 1));
    char tp[TRACEPARENT_LEN + 1];
    tracectx_format(&a->trace, tp);
    if (a->trace.trace_id[0])
        json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "traceparent", "value", tp));
    if (a->parent_span[0])
        json_array_append_new(ann, json_pack("{s:s, s:s}", "key", "parentSpanId", "value",
                                             a->parent_span));

    json_t *result = a->result ? json_deep_copy(a->result) : json_object();
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:s*}",
                     "activationId", a->id, "namespace", e->namespace, "name", a->action->name,
                     "package", a->action->package, "path", a->action->fqn,
                     "start", (json_int_t)a->start_ms, "end", (json_int_t)end_ms,
                     "duration", (json_int_t)(end_ms - a->start_ms),
                     "logs", a->logs ? json_incref(a->logs) : json_array(), "annotations", ann,
                     "response",
                     json_pack("{s:s, s:i, s:b, s:o}", "status", act_status_name(a->status),
                               "statusCode", (int)a->status, "success",
                               a->status == ACT_SUCCESS, "result", result),
                     "cause", a->cause[0] ? a->cause : NULL);
}

/* A literal written as it is. */
#define OUT_LIT(o, lit) json_out_raw((o), (lit), sizeof(lit) - 1)

/* Writes key (a literal with its quotes and colon) and a string value. */
static bool out_str(json_out *o, const char *key, const char *v)
{
    json_out_raw(o, key, strlen(key));
    return json_out_string(o, v ? v : "", v ? strlen(v) : 0);
}

static void out_int(json_out *o, const char *key, int64_t v)
{
    json_out_raw(o, key, strlen(key));
    json_out_int(o, v);
}

/* The annotations of activation_record, as json_text writes them. */
static bool annotations_text(json_out *o, const activation_t *a, int64_t wait_ms)
{
    const action_t *act = a->action;
    bool ok = out_str(o, "[{\"key\":\"path\",\"value\":", act->fqn) &&
              out_str(o, "},{\"key\":\"kind\",\"value\":", kind_name(act));
    out_int(o, "},{\"key\":\"waitTime\",\"value\":", wait_ms);
    if (a->cold) out_int(o, "},{\"key\":\"initTime\",\"value\":", a->init_ms);
    out_int(o, "},{\"key\":\"limits\",\"value\":{\"timeout\":", act->timeout_ms);
    out_int(o, ",\"memory\":", act->memory_mb);
    out_int(o, ",\"logs\":", 10);
    out_int(o, ",\"concurrency\":", act->concurrency);
    OUT_LIT(o, "}");
    if (a->cause[0]) ok = ok && out_str(o, "},{\"key\":\"causedBy\",\"value\":", a->cause);
    if (a->timed_out) OUT_LIT(o, "},{\"key\":\"timeout\",\"value\":true");
    if (a->trace.trace_id[0]) {
        char tp[TRACEPARENT_LEN + 1];
        tracectx_format(&a->trace, tp);
        ok = ok && out_str(o, "},{\"key\":\"traceparent\",\"value\":", tp);
    }
    if (a->parent_span[0])
        ok = ok && out_str(o, "},{\"key\":\"parentSpanId\",\"value\":", a->parent_span);
    OUT_LIT(o, "}]");
    return ok;
}

/* activation_record's text, written straight (no tree to build, copy and
 * free per activation); NULL when some value cannot be written so, and the
 * caller writes the tree. */
static char *activation_text(engine_t *e, const activation_t *a, int64_t end_ms, int64_t wait_ms)
{
    const action_t *act = a->action;
    /* Room for the logs and the rest at once, rather than growing by doubling. */
    json_out o = {.flags = JSON_COMPACT, .cap = a->logs_bytes + a->logs_bytes / 8 + 1024};
    o.p = xmalloc(o.cap);
    bool ok = out_str(&o, "{\"activationId\":", a->id) &&
              out_str(&o, ",\"namespace\":", e->namespace) &&
              out_str(&o, ",\"name\":", act->name) && out_str(&o, ",\"package\":", act->package) &&
              out_str(&o, ",\"path\":", act->fqn);
    out_int(&o, ",\"start\":", a->start_ms);
    out_int(&o, ",\"end\":", end_ms);
    out_int(&o, ",\"duration\":", end_ms - a->start_ms);
    OUT_LIT(&o, ",\"logs\":");
    if (a->logs) ok = ok && json_out_value(&o, a->logs);
    else OUT_LIT(&o, "[]");
    OUT_LIT(&o, ",\"annotations\":");
    ok = ok && annotations_text(&o, a, wait_ms);
    ok = ok && out_str(&o, ",\"response\":{\"status\":", act_status_name(a->status));
    out_int(&o, ",\"statusCode\":", (int64_t)a->status);
    OUT_LIT(&o, ",\"success\":");
    if (a->status == ACT_SUCCESS) OUT_LIT(&o, "true");
    else OUT_LIT(&o, "false");
    OUT_LIT(&o, ",\"result\":");
    if (a->result) ok = ok && json_out_value(&o, a->result);
    else OUT_LIT(&o, "{}");
    OUT_LIT(&o, "}");
    if (a->cause[0]) ok = ok && out_str(&o, ",\"cause\":", a->cause);
    OUT_LIT(&o, "}");
    char *text = json_out_steal(&o);
    if (ok) return text;
    free(text);
    return NULL;
}

/* Queues the activation record of a (ended at end_ms) for the store. */
static void activation_put(engine_t *e, activation_t *a, int64_t end_ms)
{
    char *text = activation_text(e, a, end_ms, 0);
    if (!text) {
        store_activation_put(e->store, activation_record(e, a, end_ms, 0));
        return;
    }
    store_activation_text m = {.id = a->id, .name = a->action->fqn, .ns = e->namespace,
                               .start_ms = a->start_ms, .end_ms = end_ms};
    store_activation_put_text(e->store, &m, text);
}

static void invoke_run(engine_t *e, const action_t *action, json_t *params, const char *cause,
                       const char *id, const char *traceparent, invoke_result *out, json_t **logs);

/* Values shorter than this are not masked: they would hide innocent words. */
#define SECRET_MIN_LEN 4

/* s with every secret replaced by "<hidden>"; NULL when s has none. */
static char *masked(const char *s, const char *const *secrets, size_t n)
{
    char *out = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *cur = out ? out : s;
        if (!strstr(cur, secrets[i])) continue;
        size_t slen = strlen(secrets[i]);
        buf_t b;
        buf_init(&b, 0);
        for (const char *p = cur, *hit; *p; p = hit + slen) {
            hit = strstr(p, secrets[i]);
            if (!hit) {
                buf_append(&b, p, strlen(p));
                break;
            }
            buf_append(&b, p, (size_t)(hit - p));
            buf_append(&b, "<hidden>", 8);
        }
        free(out);
        out = buf_steal(&b);
    }
    return out;
}

/* Masks the secrets in every string inside v, in place. */
static void mask_json(json_t *v, const char *const *secrets, size_t n)
{
    if (json_is_string(v)) {
        char *m = masked(json_string_value(v), secrets, n);
        if (m) json_string_set(v, m);
        free(m);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) mask_json(json_array_get(v, i), secrets, n);
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
            mask_json(json_object_iter_value(it), secrets, n);
    }
}

/* The values of the action's secret inputs (log_key_is_secret names) never
 * leave in what it says, its logs and its result, whatever its status: an
 * error quoting its key ends in the log, the answer and the trace, and a
 * "successful" {statusCode: 401, body: ...} is an error too. Traces already
 * hide these values in every body; answers now match them. */
static void mask_secrets(activation_t *a)
{
    const char *secrets[32];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(a->action->inputs, k, v) {
        if (n < 32 && json_is_string(v) && json_string_length(v) >= SECRET_MIN_LEN &&
            log_key_is_secret(k))
            secrets[n++] = json_string_value(v);
    }
    if (!n) return;
    if (a->logs) mask_json(a->logs, secrets, n);
    mask_json(a->result, secrets, n);
}

void runtime_invoke(engine_t *e, const action_t *action, json_t *params, const char *cause,
                    invoke_result *out)
{
    invoke_run(e, action, params, cause, NULL, NULL, out, NULL);
}

void runtime_invoke_traced(engine_t *e, const action_t *action, json_t *params, const char *cause,
                           const char *traceparent, invoke_result *out)
{
    invoke_run(e, action, params, cause, NULL, traceparent, out, NULL);
}

void runtime_invoke_as(engine_t *e, const action_t *action, json_t *params, const char *cause,
                       const char *id, invoke_result *out)
{
    invoke_run(e, action, params, cause, id, NULL, out, NULL);
}

void runtime_invoke_logged(engine_t *e, const action_t *action, json_t *params, const char *cause,
                           invoke_result *out, json_t **logs)
{
    invoke_run(e, action, params, cause, NULL, NULL, out, logs);
}

/* The span of a new activation: the traceparent given, else the calling
 * activation's trace, else a new trace. */
static void trace_start(activation_t *a, const char *traceparent)
{
    tracectx parent;
    const tracectx *from = NULL;
    if (traceparent && tracectx_parse(traceparent, &parent)) from = &parent;
    else if (current_trace) from = current_trace;
    tracectx_child(from, &a->trace);
    if (from) memcpy(a->parent_span, from->span_id, sizeof a->parent_span);
}

static void invoke_run(engine_t *e, const action_t *action, json_t *params, const char *cause,
                       const char *id, const char *traceparent, invoke_result *out, json_t **logs)
{
    activation_t a;
    memset(&a, 0, sizeof a);
    a.engine = e;
    a.action = action;
    a.params = params;
    if (id && strlen(id) == 32) memcpy(a.id, id, 33);
    else hex_id32(a.id);
    if (!cause || !*cause) cause = current_activation_id;
    if (cause) snprintf(a.cause, sizeof a.cause, "%s", cause);
    a.start_ms = now_ms();
    double started = mono_s();
    a.deadline_ms = a.start_ms + action->timeout_ms;
    if (current_activation_id && current_deadline_ms && current_deadline_ms < a.deadline_ms)
        a.deadline_ms = current_deadline_ms;
    a.memory_limit = (size_t)action->memory_mb * 1024 * 1024;
    a.status = ACT_SUCCESS;
    trace_start(&a, traceparent);

    const char *saved = current_activation_id;
    int64_t saved_deadline = current_deadline_ms;
    const tracectx *saved_trace = current_trace;
    current_activation_id = a.id;
    current_deadline_ms = a.deadline_ms;
    current_trace = &a.trace;
    switch (action->kind) {
    case RUNTIME_LUA: lua_backend_run(&a); break;
    case RUNTIME_EXEC: exec_backend_run(&a); break;
    case RUNTIME_ACTIONLOOP: actionloop_backend_run(&a); break;
    case RUNTIME_NODEJS: nodejs_backend_run(&a); break;
    case RUNTIME_SEQUENCE: sequence_backend_run(&a); break;
    default: activation_fail(&a, ACT_INTERNAL_ERROR, "unsupported runtime '%s'", action->runtime);
    }
    current_activation_id = saved;
    current_deadline_ms = saved_deadline;
    current_trace = saved_trace;

    if (!a.result) a.result = json_object();
    if (a.status == ACT_SUCCESS && json_object_get(a.result, "error")) a.status = ACT_APP_ERROR;
    mask_secrets(&a);
    int64_t end = now_ms();
    metrics_activation(action->fqn, (int)a.status, mono_s() - started);
    if (e->store) {
        activation_put(e, &a, end);
        store_span sp = {
            .trace_id = a.trace.trace_id, .span_id = a.trace.span_id, .parent_id = a.parent_span,
            .kind = "activation", .ref = a.id, .name = action->fqn, .start_ms = a.start_ms,
            .end_ms = end, .ok = a.status == ACT_SUCCESS, .status = (int)a.status,
        };
        store_span_put(e->store, &sp);
    }

    memcpy(out->activation_id, a.id, sizeof a.id);
    out->status = a.status;
    out->result = a.result;
    out->duration_ms = end - a.start_ms;
    out->timed_out = a.timed_out;
    out->not_started = a.not_started;
    out->bad_input = a.bad_input;
    if (logs) *logs = a.logs ? a.logs : json_array();
    else json_decref(a.logs);
    if (a.status >= ACT_DEV_ERROR)
        log_emit(LOG_WARN, "activation failed",
                 json_pack("{s:s, s:s, s:s, s:O}", "activationId", out->activation_id, "action",
                           action->fqn, "status", act_status_name(a.status), "error",
                           json_object_get(a.result, "error") ? json_object_get(a.result, "error")
                                                              : json_null()));
}
