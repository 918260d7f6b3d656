/* Delivery traces: building (redaction of secret keys and values, cutting
 * at 64 KB), the trace store (insert, filters, cursor, retention) and
 * browsing events with their deliveries, on a fresh store. */
#include "testutil.h"

#include <jansson.h>

#include "core/util.h"
#include "store/store.h"
#include "tu_store.h"
#include "trace/trace.h"

#define DAY (24LL * 3600 * 1000)


/* A store_trace with small request and response. */
static void put(store_t *s, const char *reg, int64_t delivery, int attempt, int64_t start, bool ok,
                int status, bool retried)
{
    char ev[40];
    snprintf(ev, sizeof ev, "ev-%lld", (long long)delivery);
    store_trace t = {.registration = reg, .event_id = ev, .event_type = "t.created",
                     .delivery_id = delivery, .attempt = attempt, .start_ms = start,
                     .duration_ms = 5, .success = ok, .status_code = status, .retried = retried,
                     .activation_id = ok ? "act" : NULL, .error = ok ? NULL : "failed",
                     .request = "{\"params\":{},\"truncated\":false}",
                     .response = "{\"statusCode\":200,\"body\":null,\"truncated\":false}"};
    store_trace_put(s, &t);
}

static json_t *list(store_t *s, store_trace_filter f, bool *more)
{
    json_t *out = NULL;
    err_t err;
    int rc = store_trace_list(s, &f, &out, more, &err);
    if (rc < 0) fprintf(stderr, "store_trace_list: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return out;
}

#define ANY .outcome = -1, .retried = -1

static void test_record_and_get(void **state)
{
    fixture *f = *state;
    /* An app whose consumer has a secret input and whose environment has a
     * secret variable. */
    action_t act;
    memset(&act, 0, sizeof act);
    act.inputs = json_pack("{s:s, s:s, s:s}", "DB_PASSWORD", "hunter2-long", "PLAIN", "visible",
                           "SHORT_KEY", "abc");
    app_t app;
    memset(&app, 0, sizeof app);
    app.actions = &act;
    app.nactions = 1;
    app.env = json_pack("{s:s, s:s}", "MY_API_TOKEN", "tok-123456", "HOME", "/root");
    trace_secrets *sec = trace_secrets_new(&app);

    json_t *params = json_pack("{s:s, s:s, s:s, s:{s:s, s:[s]}}", "DB_PASSWORD", "hunter2-long",
                               "PLAIN", "visible", "note", "pw=hunter2-long;t=tok-123456", "data",
                               "sku", "A-1", "list", "has tok-123456 inside");
    json_t *result = json_pack("{s:{s:i, s:{s:s}, s:{s:s, s:s}}}", "error", "statusCode", 503,
                               "headers", "authorization", "Bearer x", "body", "error",
                               "down, token tok-123456", "why", "maintenance");
    trace_attempt t = {.registration = "reg-a", .event_id = "e-1", .event_type = "t.created",
                       .delivery_id = 7, .attempt = 2, .start_ms = now_ms() - 40,
                       .end_ms = now_ms(), .params = params, .result = result,
                       .status_code = 503, .success = false, .retried = true,
                       .activation_id = "a1b2", .error = "down, token tok-123456"};
    trace_record(f->s, sec, &t);
    store_flush(f->s);

    json_t *l = list(f->s, (store_trace_filter){ANY}, NULL);
    assert_int_equal(json_array_size(l), 1);
    json_t *sum = json_array_get(l, 0);
    assert_string_equal(json_string_value(json_object_get(sum, "registration")), "reg-a");
    assert_string_equal(json_string_value(json_object_get(sum, "eventId")), "e-1");
    assert_string_equal(json_string_value(json_object_get(sum, "eventType")), "t.created");
    assert_int_equal(json_integer_value(json_object_get(sum, "deliveryId")), 7);
    assert_int_equal(json_integer_value(json_object_get(sum, "attempt")), 2);
    assert_int_equal(json_integer_value(json_object_get(sum, "statusCode")), 503);
    assert_string_equal(json_string_value(json_object_get(sum, "outcome")), "error");
    assert_true(json_is_true(json_object_get(sum, "retried")));
    assert_string_equal(json_string_value(json_object_get(sum, "activationId")), "a1b2");
    assert_string_equal(json_string_value(json_object_get(sum, "error")), "down, token <hidden>");
    int64_t dur = json_integer_value(json_object_get(sum, "duration"));
    assert_true(dur >= 40 && dur < 5000);
    const char *start = json_string_value(json_object_get(sum, "start"));
    assert_int_equal(strlen(start), 24); /* 2026-01-01T00:00:00.000Z */
    assert_int_equal(start[23], 'Z');
    assert_int_equal(start[19], '.');
    const char *id = json_string_value(json_object_get(sum, "id"));

    json_t *full = NULL;
    err_t err;
    assert_int_equal(store_trace_get(f->s, atoll(id), &full, &err), 0);
    assert_non_null(full);
    json_t *req = json_object_get(full, "request");
    json_t *p = json_object_get(req, "params");
    assert_string_equal(json_string_value(json_object_get(p, "DB_PASSWORD")), "<hidden>");
    assert_string_equal(json_string_value(json_object_get(p, "PLAIN")), "visible");
    assert_string_equal(json_string_value(json_object_get(p, "note")), "pw=<hidden>;t=<hidden>");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(p, "data"), "list"), 0)),
                        "has <hidden> inside");
    assert_true(json_is_false(json_object_get(req, "truncated")));
    json_t *resp = json_object_get(full, "response");
    assert_int_equal(json_integer_value(json_object_get(resp, "statusCode")), 503);
    json_t *body = json_object_get(resp, "body");
    assert_string_equal(json_string_value(json_object_get(body, "error")), "down, token <hidden>");
    assert_string_equal(json_string_value(json_object_get(body, "why")), "maintenance");
    assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "headers"), "authorization")),
                        "<hidden>");
    /* Nothing anywhere holds a secret value. */
    char *dump = json_dumps(full, 0);
    assert_null(strstr(dump, "hunter2"));
    assert_null(strstr(dump, "tok-123456"));
    free(dump);
    json_decref(full);

    /* Unknown ids are absent, not errors. */
    assert_int_equal(store_trace_get(f->s, 999999, &full, &err), 0);
    assert_null(full);

    json_decref(l);
    json_decref(params);
    json_decref(result);
    trace_secrets_free(sec);
    json_decref(act.inputs);
    json_decref(app.env);
}

/* What trace_record stores for an attempt is what trace_request_json and
 * trace_response_json say (it writes the common case straight, without
 * copying params and result): a clean action delivery, one whose result
 * holds a secret deep inside (redacted), and one whose params do. */
static void test_record_matches_json(void **state)
{
    fixture *f = *state;
    action_t act;
    memset(&act, 0, sizeof act);
    act.inputs = json_pack("{s:s}", "API_SECRET", "s3cr3t-value");
    app_t app;
    memset(&app, 0, sizeof app);
    app.actions = &act;
    app.nactions = 1;
    trace_secrets *sec = trace_secrets_new(&app);
    json_t *clean = json_pack("{s:s, s:{s:s, s:f, s:[i, s]}, s:{s:i, s:s}}", "id", "e-1", "data",
                              "sku", "caf\xc3\xa9 \"x\"", "price", 9.99, "list", 1, "two",
                              "__evkit", "attempt", 1, "traceparent", "00-ab");
    json_t *results[] = {
        json_pack("{s:i, s:{s:s}, s:{s:b}}", "statusCode", 200, "headers", "x-a", "b", "body",
                  "ok", 1),
        json_pack("{s:i, s:{s:{s:s}}}", "statusCode", 201, "body", "deep", "note",
                  "echo s3cr3t-value"),
        json_pack("{s:s}", "plain", "no statusCode: the whole result is the body"),
    };
    json_t *secret_params = json_pack("{s:s, s:{s:s}}", "id", "e-2", "data", "password", "pw");
    for (int i = 0; i < 4; i++) {
        json_t *params = i == 3 ? secret_params : clean;
        json_t *result = results[i == 3 ? 0 : i];
        trace_attempt t = {.registration = "reg-m", .event_id = "e", .event_type = "t",
                           .delivery_id = 100 + i, .attempt = 1, .start_ms = now_ms(),
                           .end_ms = now_ms(), .params = params, .result = result,
                           .status_code = 200, .success = true};
        trace_record(f->s, sec, &t);
        store_flush(f->s);
        json_t *l = list(f->s, (store_trace_filter){ANY, .delivery_id = 100 + i}, NULL), *full = NULL;
        assert_int_equal(json_array_size(l), 1);
        err_t err;
        const char *id = json_string_value(json_object_get(json_array_get(l, 0), "id"));
        assert_int_equal(store_trace_get(f->s, atoll(id), &full, &err), 0);
        json_t *req = trace_request_json(&t, sec), *resp = trace_response_json(&t, sec);
        assert_true(json_equal(json_object_get(full, "request"), req));
        assert_true(json_equal(json_object_get(full, "response"), resp));
        char *dump = json_dumps(full, 0);
        assert_null(strstr(dump, "s3cr3t-value"));
        assert_null(strstr(dump, "\"pw\""));
        free(dump);
        json_decref(req);
        json_decref(resp);
        json_decref(full);
        json_decref(l);
    }
    for (int i = 0; i < 3; i++) json_decref(results[i]);
    json_decref(clean);
    json_decref(secret_params);
    trace_secrets_free(sec);
    json_decref(act.inputs);
}

static void test_truncation(void **state)
{
    (void)state;
    trace_secrets *sec = trace_secrets_new(NULL);
    trace_secrets_add(sec, "s3cret-tail");
    /* A secret, then 70 000 bytes of three-byte characters. */
    buf_t b;
    buf_init(&b, 0);
    buf_append(&b, "s3cret-tail", 11);
    for (int i = 0; i < 23000; i++) buf_append(&b, "\xe2\x82\xac", 3); /* € */
    char *big = buf_steal(&b);
    json_t *params = json_pack("{s:s}", "text", big);
    trace_attempt t = {.params = params, .status_code = 200,
                       .resp_body = "{\"ok\":true}", .resp_body_len = 11};
    json_t *req = trace_request_json(&t, sec);
    json_t *p = json_object_get(req, "params");
    assert_true(json_is_string(p));
    assert_true(json_string_length(p) <= TRACE_BODY_LIMIT);
    assert_true(json_string_length(p) > TRACE_BODY_LIMIT - 4);
    assert_true(json_is_true(json_object_get(req, "truncated")));
    /* Cut on a character boundary: still valid UTF-8, ends with a whole €. */
    const char *ps = json_string_value(p);
    assert_memory_equal(ps + json_string_length(p) - 3, "\xe2\x82\xac", 3);
    assert_null(strstr(ps, "s3cret"));
    assert_non_null(strstr(ps, "<hidden>"));
    json_t *resp = trace_response_json(&t, sec);
    assert_true(json_is_false(json_object_get(resp, "truncated")));
    assert_true(json_is_true(json_object_get(json_object_get(resp, "body"), "ok")));
    json_decref(req);
    json_decref(resp);

    /* A webhook: raw bodies, JSON when they are JSON, cut otherwise; a
     * secret just past the cut is hidden before cutting. */
    size_t n = TRACE_BODY_LIMIT + 100;
    char *raw = xmalloc(n + 1);
    memset(raw, 'r', n);
    memcpy(raw + TRACE_BODY_LIMIT - 5, "s3cret-tail", 11);
    raw[n] = '\0';
    json_t *hdrs = json_pack("{s:s, s:s, s:s}", "content-type", "text/plain", "authorization",
                             "Bearer abc", "webhook-signature", "v1,xyz");
    trace_attempt w = {.req_headers = hdrs, .req_body = raw, .req_body_len = n,
                       .status_code = 602};
    req = trace_request_json(&w, sec);
    json_t *body = json_object_get(req, "body");
    assert_true(json_is_string(body));
    assert_int_equal(json_string_length(body), TRACE_BODY_LIMIT);
    assert_null(strstr(json_string_value(body), "s3cret"));
    assert_non_null(strstr(json_string_value(body), "<hid")); /* cut inside the mark */
    assert_true(json_is_true(json_object_get(req, "truncated")));
    assert_null(json_object_get(req, "params"));
    json_t *h = json_object_get(req, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "authorization")), "<hidden>");
    assert_string_equal(json_string_value(json_object_get(h, "webhook-signature")), "<hidden>");
    assert_string_equal(json_string_value(json_object_get(h, "content-type")), "text/plain");
    resp = trace_response_json(&w, sec);
    assert_int_equal(json_integer_value(json_object_get(resp, "statusCode")), 602);
    assert_true(json_is_null(json_object_get(resp, "body")));
    assert_true(json_is_false(json_object_get(resp, "truncated")));
    json_decref(req);
    json_decref(resp);

    /* Bytes that are not UTF-8 still give a string. */
    trace_attempt bad = {.req_body = "ab\xff\xfe", .req_body_len = 4};
    req = trace_request_json(&bad, NULL);
    assert_string_equal(json_string_value(json_object_get(req, "body")), "ab??");
    json_decref(req);

    /* A result without the HTTP shape is the body as it is. */
    json_t *result = json_pack("{s:s}", "error", "The action exceeded its time limit.");
    trace_attempt to = {.result = result, .status_code = 604};
    resp = trace_response_json(&to, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "body"), "error")),
                        "The action exceeded its time limit.");
    json_decref(resp);
    json_decref(result);

    json_decref(hdrs);
    free(raw);
    json_decref(params);
    free(big);
    trace_secrets_free(sec);
}

static void test_filters_and_cursor(void **state)
{
    fixture *f = *state;
    int64_t now = now_ms();
    /* reg-a: delivery 1 fails twice (500, retried) then succeeds; delivery
     * 2 gets 604 then 400 (final). reg-b: one success. */
    put(f->s, "reg-a", 1, 1, now, false, 500, true);
    put(f->s, "reg-a", 1, 2, now, false, 500, true);
    put(f->s, "reg-a", 1, 3, now, true, 200, false);
    put(f->s, "reg-a", 2, 1, now, false, 604, true);
    put(f->s, "reg-a", 2, 2, now, false, 400, false);
    put(f->s, "reg-b", 3, 1, now, true, 204, false);
    store_flush(f->s);

    bool more = true;
    json_t *l = list(f->s, (store_trace_filter){ANY}, &more);
    assert_int_equal(json_array_size(l), 6);
    assert_false(more);
    /* Newest first. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "registration")), "reg-b");
    json_decref(l);

    l = list(f->s, (store_trace_filter){ANY, .registration = "reg-a"}, NULL);
    assert_int_equal(json_array_size(l), 5);
    json_decref(l);
    l = list(f->s, (store_trace_filter){ANY, .registration = "nope"}, NULL);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);

    l = list(f->s, (store_trace_filter){.outcome = 1, .retried = -1}, NULL);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    l = list(f->s, (store_trace_filter){.outcome = 0, .retried = -1, .registration = "reg-a"}, NULL);
    assert_int_equal(json_array_size(l), 4);
    size_t i;
    json_t *x;
    json_array_foreach(l, i, x) assert_string_equal(json_string_value(json_object_get(x, "outcome")), "error");
    json_decref(l);

    l = list(f->s, (store_trace_filter){ANY, .status = 500}, NULL);
    assert_int_equal(json_array_size(l), 2);
    json_array_foreach(l, i, x) assert_int_equal(json_integer_value(json_object_get(x, "statusCode")), 500);
    json_decref(l);
    l = list(f->s, (store_trace_filter){ANY, .status = 604}, NULL);
    assert_int_equal(json_array_size(l), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "deliveryId")), 2);
    json_decref(l);

    l = list(f->s, (store_trace_filter){.outcome = -1, .retried = 1}, NULL);
    assert_int_equal(json_array_size(l), 3);
    json_array_foreach(l, i, x) assert_true(json_is_true(json_object_get(x, "retried")));
    json_decref(l);
    l = list(f->s, (store_trace_filter){.outcome = 0, .retried = 0}, NULL);
    assert_int_equal(json_array_size(l), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "statusCode")), 400);
    json_decref(l);

    /* One delivery's attempts, oldest first. */
    l = list(f->s, (store_trace_filter){ANY, .delivery_id = 1, .oldest_first = true}, NULL);
    assert_int_equal(json_array_size(l), 3);
    json_array_foreach(l, i, x) assert_int_equal(json_integer_value(json_object_get(x, "attempt")), (int)i + 1);
    json_decref(l);

    /* Pages of two through the cursor: every trace once, newest first. */
    int64_t before = 0, prev = INT64_MAX;
    int seen = 0, pages = 0;
    for (;;) {
        l = list(f->s, (store_trace_filter){ANY, .limit = 2, .before = before}, &more);
        pages++;
        json_array_foreach(l, i, x) {
            int64_t id = atoll(json_string_value(json_object_get(x, "id")));
            assert_true(id < prev);
            prev = id;
            seen++;
        }
        if (!more) {
            json_decref(l);
            break;
        }
        before = prev;
        json_decref(l);
    }
    assert_int_equal(seen, 6);
    assert_int_equal(pages, 3);
}

static int count(store_t *s, const char *reg, int outcome)
{
    json_t *l = list(s, (store_trace_filter){.registration = reg, .outcome = outcome, .retried = -1,
                                             .limit = 1000}, NULL);
    int n = (int)json_array_size(l);
    json_decref(l);
    return n;
}

static void test_retention(void **state)
{
    fixture *f = *state;
    int64_t now = now_ms(), old = now - 10 * DAY;
    /* reg-a: 150 old successes, then 150 old errors, then 20 young
     * successes and 3 young errors; reg-b: 5 old errors. */
    for (int i = 0; i < 150; i++) put(f->s, "reg-a", 100 + i, 1, old + i, true, 200, false);
    for (int i = 0; i < 150; i++) put(f->s, "reg-a", 300 + i, 1, old + i, false, 500, false);
    for (int i = 0; i < 20; i++) put(f->s, "reg-a", 500 + i, 1, now, true, 200, false);
    for (int i = 0; i < 3; i++) put(f->s, "reg-a", 600 + i, 1, now, false, 604, true);
    for (int i = 0; i < 5; i++) put(f->s, "reg-b", 700 + i, 1, old, false, 500, false);
    store_flush(f->s);
    assert_int_equal(count(f->s, "reg-a", 1), 170);
    assert_int_equal(count(f->s, "reg-a", 0), 153);

    int64_t deleted = -1;
    err_t err;
    assert_int_equal(store_trace_prune(f->s, now - 7 * DAY, 100, &deleted, &err), 0);
    /* The newest 100 of each outcome stay (the young ones among them), and
     * the young ones would stay anyway; reg-b has fewer than 100. */
    assert_int_equal(count(f->s, "reg-a", 1), 100);
    assert_int_equal(count(f->s, "reg-a", 0), 100);
    assert_int_equal(count(f->s, "reg-b", 0), 5);
    assert_int_equal(deleted, 70 + 53);
    /* The ones kept are the newest: the oldest success left is number 70. */
    json_t *l = list(f->s, (store_trace_filter){.registration = "reg-a", .outcome = 1, .retried = -1,
                                                .limit = 1000, .oldest_first = true}, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "deliveryId")), 170);
    json_decref(l);

    /* Again: nothing more goes. */
    assert_int_equal(store_trace_prune(f->s, now - 7 * DAY, 100, &deleted, &err), 0);
    assert_int_equal(deleted, 0);

    /* Keep 0: only the young ones stay. A window of 0 with keep 2: the
     * newest 2 of each group. */
    assert_int_equal(store_trace_prune(f->s, now - 7 * DAY, 0, &deleted, &err), 0);
    assert_int_equal(count(f->s, "reg-a", 1), 20);
    assert_int_equal(count(f->s, "reg-a", 0), 3);
    assert_int_equal(count(f->s, "reg-b", 0), 0);
    assert_int_equal(store_trace_prune(f->s, now + 1000, 2, &deleted, &err), 0);
    assert_int_equal(count(f->s, "reg-a", 1), 2);
    assert_int_equal(count(f->s, "reg-a", 0), 2);
    assert_int_equal(deleted, 18 + 1);
}

/* Appends an event of provider/type with deliveries to regs. */
static store_append_result append(store_t *s, const char *provider, const char *type,
                                  const char *const *regs)
{
    store_delivery_spec specs[4];
    size_t nd = 0;
    for (; regs && regs[nd]; nd++) specs[nd] = (store_delivery_spec){.registration = regs[nd]};
    json_t *data = json_pack("{s:s}", "sku", type);
    store_event_in ev = {.provider = provider, .type = type, .data = data, .deliveries = specs,
                         .ndeliveries = nd};
    store_append_result res;
    err_t err;
    assert_int_equal(store_append(s, &ev, &res, &err), 0);
    json_decref(data);
    return res;
}

static void test_browse(void **state)
{
    fixture *f = *state;
    const char *both[] = {"reg-a", "reg-b", NULL};
    store_append_result r1 = append(f->s, "backoffice", "t.one", both);
    append(f->s, "commerce", "t.two", NULL);
    append(f->s, "backoffice", "t.two", NULL);
    append(f->s, "backoffice", "t.one", NULL);
    json_t *page = NULL;
    err_t err;
    assert_int_equal(store_event_page(f->s, NULL, NULL, 0, 0, false, 10, &page, &err), 0);
    assert_int_equal(json_array_size(page), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 1), "provider")), "commerce");
    json_decref(page);
    assert_int_equal(store_event_page(f->s, "backoffice", "t.one", 0, 0, false, 10, &page, &err), 0);
    assert_int_equal(json_array_size(page), 2);
    json_decref(page);
    assert_int_equal(store_event_page(f->s, NULL, "t.two", 2, 0, false, 10, &page, &err), 0);
    assert_int_equal(json_array_size(page), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 0), "position")), 3);
    json_decref(page);
    /* The newest two, oldest first; the two before position 3. */
    assert_int_equal(store_event_page(f->s, NULL, NULL, 0, 0, true, 2, &page, &err), 0);
    assert_int_equal(json_array_size(page), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 0), "position")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 1), "position")), 4);
    json_decref(page);
    assert_int_equal(store_event_page(f->s, NULL, NULL, 0, 3, false, 5, &page, &err), 0);
    assert_int_equal(json_array_size(page), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 0), "position")), 1);
    json_decref(page);

    json_t *d = NULL;
    assert_int_equal(store_event_detail(f->s, r1.id, &d, &err), 0);
    assert_non_null(d);
    assert_int_equal(json_integer_value(json_object_get(d, "position")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "provider")), "backoffice");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "event"), "id")), r1.id);
    json_t *dels = json_object_get(d, "deliveries");
    assert_int_equal(json_array_size(dels), 2);
    json_t *d0 = json_array_get(dels, 0);
    assert_string_equal(json_string_value(json_object_get(d0, "registration")), "reg-a");
    assert_string_equal(json_string_value(json_object_get(d0, "state")), "pending");
    assert_int_equal(json_integer_value(json_object_get(d0, "attempt")), 0);
    assert_true(json_is_null(json_object_get(d0, "lastStatus")));
    json_decref(d);
    assert_int_equal(store_event_detail(f->s, "no-such-event", &d, &err), 0);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_matches_json, setup, teardown),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test_setup_teardown(test_filters_and_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_browse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
