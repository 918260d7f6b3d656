/* nats_records: activation records and delivery traces on JetStream: put
 * on a queue by the caller and published by one writer thread (off the
 * delivery path, as on SQLite), kept in streams with subjects by action and
 * by registration, read newest first by walking back through the stream in
 * growing windows (oldest first: forward by subject), pruned by purging up to the retention cutoff. An
 * activation id finds its record through KV evkit_actids. */
#include "store/nats/nats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_io.h"
#include "core/log.h"

#define MAX_QUEUED 10000          /* records waiting; put blocks beyond */
#define TRACE_MAX_LIMIT 1000
#define SCAN_WINDOW 64
#define MAX_SPANS 10000           /* a trace that large is read in part, as on SQLite */

typedef struct js_rec {
    char *subject, *body;
    char *act_id;                 /* activations: indexed by id once stored */
    struct js_rec *next;
} js_rec;

/* ---- the writer ---- */

static void write_one(js_t *j, js_rec *r)
{
    /* The message id (a hash of subject and body) lets a publish whose ack
     * got lost in a leader election be sent again without a second copy. */
    char msg_id[65];
    js_hash2(r->subject, r->body, msg_id);
    uint64_t seq = 0;
    err_t err = {0};
    int rc = -1;
    for (int round = 0; round < 3 && rc < 0; round++)
        rc = js_publish(j, r->subject, r->body, msg_id, NULL, "cannot store the record", &seq,
                        NULL, &err);
    natsStatus s = NATS_OK;
    if (rc == 0 && r->act_id) {
        char at[24];
        snprintf(at, sizeof at, "%llu", (unsigned long long)seq);
        int64_t deadline = 0;
        do s = kvStore_PutString(NULL, j->actids, r->act_id, at);
        while (js_retry_idem(j, s, &deadline));
    }
    if (rc < 0)
        log_error("a record was not stored", json_pack("{s:s, s:s}", "subject", r->subject,
                                                          "error", err.msg));
    else if (s != NATS_OK)
        log_error("a record's id was not indexed", json_pack("{s:s, s:s}", "subject", r->subject,
                                                                "error", natsStatus_GetText(s)));
}

static void *writer_main(void *arg)
{
    js_t *j = arg;
    pthread_mutex_lock(&j->rec_mu);
    for (;;) {
        while (!j->rec_head && !j->rec_stopping) pthread_cond_wait(&j->rec_cv, &j->rec_mu);
        if (!j->rec_head) break;
        js_rec *r = j->rec_head;
        j->rec_head = r->next;
        if (!j->rec_head) j->rec_tail = NULL;
        pthread_mutex_unlock(&j->rec_mu);
        write_one(j, r);
        free(r->subject);
        free(r->body);
        free(r->act_id);
        free(r);
        pthread_mutex_lock(&j->rec_mu);
        j->rec_queued--;
        j->rec_done++;
        pthread_cond_broadcast(&j->rec_cv);
    }
    pthread_mutex_unlock(&j->rec_mu);
    return NULL;
}

void js_records_start(js_t *j)
{
    pthread_mutex_init(&j->rec_mu, NULL);
    pthread_cond_init(&j->rec_cv, NULL);
    if (pthread_create(&j->rec_writer, NULL, writer_main, j) != 0) abort();
    j->rec_running = true;
}

void js_records_stop(js_t *j)
{
    if (!j->rec_running) return;
    pthread_mutex_lock(&j->rec_mu);
    j->rec_stopping = true;
    pthread_cond_broadcast(&j->rec_cv);
    pthread_mutex_unlock(&j->rec_mu);
    pthread_join(j->rec_writer, NULL); /* it writes what is queued first */
    pthread_mutex_destroy(&j->rec_mu);
    pthread_cond_destroy(&j->rec_cv);
    j->rec_running = false;
}

static void enqueue(js_t *j, char *subject, char *body, char *act_id)
{
    js_rec *r = xcalloc(1, sizeof *r);
    r->subject = subject;
    r->body = body;
    r->act_id = act_id;
    pthread_mutex_lock(&j->rec_mu);
    while (j->rec_queued >= MAX_QUEUED && !j->rec_stopping)
        pthread_cond_wait(&j->rec_cv, &j->rec_mu);
    if (j->rec_tail) j->rec_tail->next = r;
    else j->rec_head = r;
    j->rec_tail = r;
    j->rec_queued++;
    j->rec_in++;
    pthread_cond_broadcast(&j->rec_cv);
    pthread_mutex_unlock(&j->rec_mu);
}

void js_flush(store_t *s)
{
    js_t *j = JS(s);
    pthread_mutex_lock(&j->rec_mu);
    uint64_t target = j->rec_in;
    while (j->rec_done < target) pthread_cond_wait(&j->rec_cv, &j->rec_mu);
    pthread_mutex_unlock(&j->rec_mu);
}

/* ---- putting ---- */

/* "pkg/action" of a record, as the SQLite store names it. */
static char *record_name(const json_t *rec)
{
    const char *name = json_string_value(json_object_get(rec, "name"));
    const char *path = json_string_value(json_object_get(rec, "path"));
    const char *pkg = json_string_value(json_object_get(rec, "package"));
    if (name && strchr(name, '/')) return xstrdup(name);
    if (path && *path) return xstrdup(path);
    if (pkg && *pkg && name) return xasprintf("%s/%s", pkg, name);
    return xstrdup(name ? name : "");
}

static char *act_subject(const char *full)
{
    const char *slash = strrchr(full, '/');
    char *a = js_token(slash ? slash + 1 : full), *f = js_token(full);
    char *subject = xasprintf("evkit.act.%s.%s", a, f);
    free(a);
    free(f);
    return subject;
}

void js_activation_put(store_t *s, json_t *record)
{
    js_t *j = JS(s);
    if (!record) return;
    const char *id = json_string_value(json_object_get(record, "activationId"));
    if (!json_is_object(record) || !id || !*id) {
        log_error("activation record without activationId not stored", NULL);
        json_decref(record);
        return;
    }
    char *name = record_name(record);
    char *subject = act_subject(name);
    free(name);
    char *body = json_text(record, JSON_COMPACT);
    char *act_id = xstrdup(id);
    json_decref(record);
    if (!body) {
        free(subject);
        free(act_id);
        return;
    }
    enqueue(j, subject, body, act_id);
}

void js_trace_put(store_t *s, const store_trace *t)
{
    js_t *j = JS(s);
    char *tok = js_token(t->registration ? t->registration : "");
    char *subject = xasprintf("evkit.trace.%s.%s", tok, t->success ? "s" : "e");
    free(tok);
    json_t *rec = json_pack(
        "{s:s, s:s, s:s, s:I, s:i, s:I, s:I, s:b, s:i, s:b, s:s?, s:s?, s:s, s:s}",
        "registration", t->registration ? t->registration : "", "eventId",
        t->event_id ? t->event_id : "", "eventType", t->event_type ? t->event_type : "",
        "deliveryId", (json_int_t)t->delivery_id, "attempt", t->attempt, "start",
        (json_int_t)t->start_ms, "duration", (json_int_t)t->duration_ms, "ok", t->success,
        "status", t->status_code, "retried", t->retried, "activationId",
        t->activation_id && *t->activation_id ? t->activation_id : NULL, "error",
        t->error && *t->error ? t->error : NULL, "request", t->request ? t->request : "{}",
        "response", t->response ? t->response : "{}");
    char *body = rec ? json_text(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!body) {
        free(subject);
        return;
    }
    enqueue(j, subject, body, NULL);
}

void js_span_put(store_t *s, const store_span *sp)
{
    js_t *j = JS(s);
    if (!sp->trace_id || strlen(sp->trace_id) != 32 ||
        strspn(sp->trace_id, "0123456789abcdef") != 32)
        return;
    json_t *rec = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:b, s:i}", "traceId",
                            sp->trace_id, "spanId", sp->span_id ? sp->span_id : "",
                            "parentSpanId", sp->parent_id, "kind", sp->kind ? sp->kind : "",
                            "ref", sp->ref ? sp->ref : "", "name", sp->name ? sp->name : "",
                            "start", (json_int_t)sp->start_ms, "end",
                            (json_int_t)(sp->end_ms >= sp->start_ms ? sp->end_ms : sp->start_ms),
                            "ok", sp->ok, "status", sp->status);
    char *body = rec ? json_text(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (body) enqueue(j, xasprintf("evkit.span.%s", sp->trace_id), body, NULL);
}

/* ---- walking back ---- */

static int stream_bounds(js_t *j, const char *stream, uint64_t *first, uint64_t *last,
                         uint64_t *msgs, err_t *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, j->js, stream, NULL, &jerr);
    if (s != NATS_OK) return js_fail(err, s, stream);
    *first = si->State.FirstSeq;
    *last = si->State.LastSeq;
    if (msgs) *msgs = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return 0;
}

/* Windows of growing size, read forward (the server skips other
 * subjects), handed over backward. */
int js_scan_back(js_t *j, const char *stream, const char *filter, uint64_t before, js_scan_fn fn,
                 void *ud, err_t *err)
{
    uint64_t first, last;
    if (stream_bounds(j, stream, &first, &last, NULL, err) < 0) return -1;
    uint64_t hi = before > 0 && before - 1 < last ? before - 1 : last;
    uint64_t w = SCAN_WINDOW;
    bool go = true;
    while (go && hi >= first && hi > 0) {
        uint64_t lo = hi - first + 1 > w ? hi - w + 1 : first;
        natsMsg **got = NULL;
        size_t n = 0, cap = 0;
        for (uint64_t seq = lo; seq <= hi;) {
            natsMsg *m = NULL;
            int found = js_next_msg(j, stream, seq, filter, stream, &m, err);
            if (found == 0) break;
            if (found < 0) {
                for (size_t i = 0; i < n; i++) natsMsg_Destroy(got[i]);
                free(got);
                return -1;
            }
            uint64_t at = natsMsg_GetSequence(m);
            if (at > hi || at < seq) {
                natsMsg_Destroy(m);
                break;
            }
            if (n == cap) got = xrealloc(got, (cap = cap ? 2 * cap : 16) * sizeof *got);
            got[n++] = m;
            seq = at + 1;
        }
        for (size_t i = n; i-- > 0;) {
            if (go) go = fn(got[i], ud);
            natsMsg_Destroy(got[i]);
        }
        free(got);
        if (lo <= first) break;
        hi = lo - 1;
        if (w < 4096) w *= 2;
    }
    return 0;
}

/* Messages of stream on filter with a sequence above after, oldest first,
 * to fn until it returns false: one "next message on this subject" each,
 * so the server skips the other subjects. */
static int scan_forward(js_t *j, const char *stream, const char *filter, uint64_t after,
                        js_scan_fn fn, void *ud, err_t *err)
{
    for (uint64_t seq = after + 1;;) {
        natsMsg *m = NULL;
        int found = js_next_msg(j, stream, seq, filter, stream, &m, err);
        if (found <= 0) return found;
        seq = natsMsg_GetSequence(m) + 1;
        bool go = fn(m, ud);
        natsMsg_Destroy(m);
        if (!go) return 0;
    }
}

static json_t *msg_body(natsMsg *m)
{
    json_error_t je;
    return json_load_kept(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &je);
}

/* The first sequence written at or after t_ms (last + 1 when none). */
static int seq_at_time(js_t *j, const char *stream, const char *filter, int64_t t_ms,
                       uint64_t *out, err_t *err)
{
    uint64_t first, last;
    if (stream_bounds(j, stream, &first, &last, NULL, err) < 0) return -1;
    uint64_t lo = first, hi = last + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        natsMsg *m = NULL;
        int found = js_next_msg(j, stream, mid, filter, stream, &m, err);
        if (found < 0) return -1;
        if (found == 0) {
            hi = mid;
            continue;
        }
        uint64_t at = natsMsg_GetSequence(m);
        int64_t t = natsMsg_GetTime(m) / 1000000;
        natsMsg_Destroy(m);
        if (t < t_ms) lo = at + 1;
        else hi = mid;
    }
    *out = lo;
    return 0;
}

/* Purges stream (or one subject of it) below sequence upto; *gone gets how
 * many messages went. */
static int purge_below(js_t *j, const char *stream, const char *subject, uint64_t upto,
                       int64_t *gone, err_t *err)
{
    uint64_t first, last, before, after;
    if (stream_bounds(j, stream, &first, &last, &before, err) < 0) return -1;
    if (upto <= first) return 0;
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subject;
    o.Stream.Purge.Sequence = upto;
    jsErrCode jerr = 0;
    natsStatus s = js_PurgeStream(j->js, stream, &o, &jerr);
    if (s != NATS_OK) return js_fail(err, s, stream);
    if (stream_bounds(j, stream, &first, &last, &after, err) < 0) return -1;
    if (gone) *gone += (int64_t)(before - after);
    return 0;
}

/* ---- activations ---- */

typedef struct {
    int64_t since, upto;
    int skip, limit, seen;
    json_t *arr;
} act_scan;

static bool take_activation(natsMsg *m, void *ud)
{
    act_scan *a = ud;
    /* Written when it ended, so written before since means started before. */
    if (a->since > 0 && natsMsg_GetTime(m) / 1000000 < a->since) return false;
    json_t *rec = msg_body(m);
    int64_t start = json_integer_value(json_object_get(rec, "start"));
    bool in = rec && start >= a->since && (a->upto <= 0 || start <= a->upto);
    if (in && a->seen++ >= a->skip) json_array_append(a->arr, rec);
    json_decref(rec);
    return (int)json_array_size(a->arr) < a->limit;
}

/* js_scan_back into arr, which fn appends to (through ud): *out is arr
 * sorted with cmp (NULL: in the scan's order), or NULL with arr freed on
 * -1. */
static int scan_array(js_t *j, const char *stream, const char *filter, uint64_t before,
                      js_scan_fn fn, void *ud, json_t *arr,
                      int (*cmp)(const void *, const void *), json_t **out, err_t *err)
{
    *out = NULL;
    if (js_scan_back(j, stream, filter, before, fn, ud, err) < 0) {
        json_decref(arr);
        return -1;
    }
    if (cmp) js_sort_array(arr, cmp);
    *out = arr;
    return 0;
}

static int by_start_desc(const void *x, const void *y)
{
    int64_t a = json_integer_value(json_object_get(*(json_t *const *)x, "start"));
    int64_t b = json_integer_value(json_object_get(*(json_t *const *)y, "start"));
    return a < b ? 1 : a > b ? -1 : 0;
}

int js_activation_query(store_t *s, const char *name, int64_t since_ms, int64_t upto_ms,
                        int skip, int limit, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    char *filter;
    if (name && *name) {
        char *tok = js_token(name);
        /* "pkg/action" matches the full name, a bare name the action part. */
        filter = strchr(name, '/') ? xasprintf("evkit.act.*.%s", tok)
                                   : xasprintf("evkit.act.%s.*", tok);
        free(tok);
    } else {
        filter = xstrdup("evkit.act.>");
    }
    act_scan a = {.since = since_ms, .upto = upto_ms, .skip = skip < 0 ? 0 : skip,
                  .limit = limit <= 0 ? 30 : limit, .arr = json_array()};
    /* Stream order is the order they ended; the APIs list by start. */
    int rc = scan_array(j, "EVKIT_ACTIVATIONS", filter, 0, take_activation, &a, a.arr,
                        by_start_desc, out, err);
    free(filter);
    return rc;
}

int js_activation_list(store_t *s, const char *name, int limit, json_t **out, err_t *err)
{
    return js_activation_query(s, name, 0, 0, 0, limit, out, err);
}

int js_activation_get(store_t *s, const char *id, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    uint64_t seq = 0;
    natsMsg *m = NULL;
    int found = js_index_seq(j->actids, id, "cannot look the activation up", &seq, err);
    if (found > 0)
        found = js_msg_at(j, "EVKIT_ACTIVATIONS", seq, "cannot read the activation", &m, err);
    if (found <= 0) return found;
    *out = msg_body(m);
    natsMsg_Destroy(m);
    return 0;
}

int js_activation_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    js_t *j = JS(s);
    if (deleted) *deleted = 0;
    uint64_t upto;
    if (seq_at_time(j, "EVKIT_ACTIVATIONS", "evkit.act.>", cutoff_ms, &upto, err) < 0) return -1;
    return purge_below(j, "EVKIT_ACTIVATIONS", NULL, upto, deleted, err);
}

/* ---- spans ---- */

static int by_span_start(const void *x, const void *y)
{
    int64_t a = json_integer_value(json_object_get(*(json_t *const *)x, "start"));
    int64_t b = json_integer_value(json_object_get(*(json_t *const *)y, "start"));
    return a < b ? -1 : a > b;
}

typedef struct {
    json_t *arr;
} span_scan;

static bool take_span(natsMsg *m, void *ud)
{
    span_scan *sc = ud;
    json_t *rec = msg_body(m);
    if (rec) json_array_append_new(sc->arr, rec);
    return json_array_size(sc->arr) < MAX_SPANS;
}

int js_span_list(store_t *s, const char *trace_id, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    if (!trace_id || strlen(trace_id) != 32 || strspn(trace_id, "0123456789abcdef") != 32)
        return err_code(err, EVK_INVALID, "a trace id is 32 hex digits");
    char *subject = xasprintf("evkit.span.%s", trace_id);
    span_scan sc = {.arr = json_array()};
    int rc = scan_array(j, JS_SPANS, subject, 0, take_span, &sc, sc.arr, by_span_start, out, err);
    free(subject);
    return rc;
}

/* ---- traces ---- */

static json_t *trace_summary(natsMsg *m, bool full)
{
    json_t *r = msg_body(m);
    if (!r) return NULL;
    char id[24], start[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)natsMsg_GetSequence(m));
    time_iso(json_integer_value(json_object_get(r, "start")), start, sizeof start);
    json_t *act = json_object_get(r, "activationId"), *error = json_object_get(r, "error");
    json_t *j = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:s, s:O, s:s, s:O, s:O, s:O, s:O}",
                          "id", id, "registration", json_object_get(r, "registration"),
                          "eventId", json_object_get(r, "eventId"), "eventType",
                          json_object_get(r, "eventType"), "deliveryId",
                          json_object_get(r, "deliveryId"), "attempt",
                          json_object_get(r, "attempt"), "start", start, "duration",
                          json_object_get(r, "duration"), "outcome",
                          json_is_true(json_object_get(r, "ok")) ? "success" : "error",
                          "statusCode", json_object_get(r, "status"), "retried",
                          json_object_get(r, "retried"), "activationId",
                          act ? act : json_null(), "error", error ? error : json_null());
    for (int i = 0; j && full && i < 2; i++) {
        const char *text = json_string_value(json_object_get(r, i ? "response" : "request"));
        json_error_t je;
        json_t *v = text ? json_load_kept(text, strlen(text), 0, &je) : NULL;
        json_object_set_new(j, i ? "response" : "request", v ? v : json_object());
    }
    json_decref(r);
    return j;
}

typedef struct {
    const store_trace_filter *f;
    int limit;
    json_t *arr;
    bool more;
} trace_scan;

static bool take_trace(natsMsg *m, void *ud)
{
    trace_scan *t = ud;
    const store_trace_filter *f = t->f;
    json_t *r = msg_body(m);
    bool ok = r != NULL;
    if (ok && f->status > 0) ok = json_integer_value(json_object_get(r, "status")) == f->status;
    if (ok && f->retried >= 0)
        ok = json_is_true(json_object_get(r, "retried")) == (f->retried == 1);
    if (ok && f->delivery_id > 0)
        ok = json_integer_value(json_object_get(r, "deliveryId")) == f->delivery_id;
    json_decref(r);
    if (!ok) return true;
    if ((int)json_array_size(t->arr) == t->limit) {
        t->more = true;
        return false;
    }
    json_t *sum = trace_summary(m, false);
    if (sum) json_array_append_new(t->arr, sum);
    return true;
}

static char *trace_filter(const store_trace_filter *f)
{
    char *reg = f->registration ? js_token(f->registration) : xstrdup("*");
    const char *out = f->outcome < 0 ? "*" : f->outcome ? "s" : "e";
    char *filter = xasprintf("evkit.trace.%s.%s", reg, out);
    free(reg);
    return filter;
}

int js_trace_list(store_t *s, const store_trace_filter *f, json_t **out, bool *more, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    if (more) *more = false;
    int limit = f->limit <= 0 ? 50 : f->limit > TRACE_MAX_LIMIT ? TRACE_MAX_LIMIT : f->limit;
    char *filter = trace_filter(f);
    trace_scan t = {.f = f, .limit = limit, .arr = json_array()};
    uint64_t cursor = f->before > 0 ? (uint64_t)f->before : 0;
    int rc;
    if (f->oldest_first) { /* before is then the id to continue after, as on SQLite */
        rc = scan_forward(j, "EVKIT_TRACES", filter, cursor, take_trace, &t, err);
        *out = rc < 0 ? NULL : t.arr;
        if (rc < 0) json_decref(t.arr);
    } else {
        rc = scan_array(j, "EVKIT_TRACES", filter, cursor, take_trace, &t, t.arr, NULL, out, err);
    }
    free(filter);
    if (rc == 0 && more) *more = t.more;
    return rc;
}

int js_trace_get(store_t *s, int64_t id, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    if (id <= 0) return 0;
    natsMsg *m = NULL;
    int found = js_msg_at(j, "EVKIT_TRACES", (uint64_t)id, "cannot read the trace", &m, err);
    if (found <= 0) return found;
    *out = trace_summary(m, true);
    natsMsg_Destroy(m);
    return 0;
}

typedef struct {
    int keep, seen;
    uint64_t bound;               /* the keep-th newest's sequence */
} keep_scan;

static bool count_keep(natsMsg *m, void *ud)
{
    keep_scan *k = ud;
    k->bound = natsMsg_GetSequence(m);
    return ++k->seen < k->keep;
}

int js_trace_prune(store_t *s, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err)
{
    js_t *j = JS(s);
    if (deleted) *deleted = 0;
    uint64_t upto;
    if (seq_at_time(j, "EVKIT_TRACES", "evkit.trace.>", cutoff_ms, &upto, err) < 0) return -1;
    jsStreamInfo *si = NULL;
    natsStatus st = js_subject_counts(j, "EVKIT_TRACES", "evkit.trace.>", &si);
    if (st != NATS_OK) return js_fail(err, st, "EVKIT_TRACES");
    int rc = 0;
    /* Per registration and outcome: below the cutoff, but never the newest keep. */
    for (int i = 0; rc == 0 && si->State.Subjects && i < si->State.Subjects->Count; i++) {
        const char *subject = si->State.Subjects->List[i].Subject;
        keep_scan k = {.keep = keep, .bound = UINT64_MAX};
        if (keep > 0) rc = js_scan_back(j, "EVKIT_TRACES", subject, 0, count_keep, &k, err);
        if (rc < 0) break;
        if (keep > 0 && k.seen < keep) continue;
        uint64_t bound = k.bound < upto ? k.bound : upto;
        rc = purge_below(j, "EVKIT_TRACES", subject, bound, deleted, err);
    }
    jsStreamInfo_Destroy(si);
    /* Spans go with the traces' time window. */
    uint64_t spans_upto;
    if (rc == 0) rc = seq_at_time(j, JS_SPANS, "evkit.span.>", cutoff_ms, &spans_upto, err);
    if (rc == 0) rc = purge_below(j, JS_SPANS, NULL, spans_upto, NULL, err);
    return rc;
}
