/* Web-action rules: param precedence, final, reserved params, result
 * mapping, bearer auth. */
#include "testutil.h"

#include "http/web.h"

static action_t make_action(bool final, web_mode web)
{
    action_t a;
    memset(&a, 0, sizeof a);
    a.package = "pkg";
    a.name = "act";
    a.fqn = "pkg/act";
    a.web = web;
    a.final = final;
    a.raw_http = web == WEB_RAW;
    a.inputs = json_pack("{s:s, s:s, s:s}", "LOG_LEVEL", "debug", "A", "input", "B", "input");
    a.annotations = json_object();
    a.timeout_ms = 1000;
    a.memory_mb = 16;
    return a;
}

static void free_action(action_t *a)
{
    json_decref(a->inputs);
    json_decref(a->annotations);
}

static json_t *params_for(action_t *a, const char *body, json_t *query, err_t *err)
{
    json_t *headers = json_pack("{s:s}", "content-type", "application/json");
    web_request req = {.method = "POST", .path = "", .headers = headers, .query = query,
                       .query_raw = "", .body = body, .body_len = body ? strlen(body) : 0};
    json_t *p = web_params(a, &req, err);
    json_decref(headers);
    return p;
}

static void test_precedence_inputs_query_body(void **state)
{
    (void)state;
    action_t a = make_action(false, WEB_YES);
    json_t *query = json_pack("{s:s, s:s}", "A", "query", "Q", "query");
    err_t err;
    json_t *p = params_for(&a, "{\"A\":\"body\",\"B\":\"body\"}", query, &err);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "A")), "body");
    assert_string_equal(json_string_value(json_object_get(p, "B")), "body");
    assert_string_equal(json_string_value(json_object_get(p, "Q")), "query");
    assert_string_equal(json_string_value(json_object_get(p, "LOG_LEVEL")), "debug");
    assert_string_equal(json_string_value(json_object_get(p, "__ow_method")), "post");
    assert_true(json_is_object(json_object_get(p, "__ow_headers")));
    assert_string_equal(json_string_value(json_object_get(p, "__ow_path")), "");
    assert_null(json_object_get(p, "__ow_body"));
    json_decref(p);
    /* query beats inputs */
    p = params_for(&a, NULL, query, &err);
    assert_string_equal(json_string_value(json_object_get(p, "A")), "query");
    assert_string_equal(json_string_value(json_object_get(p, "B")), "input");
    json_decref(p);
    json_decref(query);
    free_action(&a);
}

static void test_final_refuses_override(void **state)
{
    (void)state;
    action_t a = make_action(true, WEB_YES);
    err_t err;
    json_t *p = params_for(&a, "{\"LOG_LEVEL\":\"error\"}", NULL, &err);
    assert_null(p);
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "not allowed"));
    p = params_for(&a, "{\"data\":{\"uid\":\"1\"}}", NULL, &err);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "LOG_LEVEL")), "debug");
    json_decref(p);
    free_action(&a);
}

static void test_reserved_and_malformed(void **state)
{
    (void)state;
    action_t a = make_action(false, WEB_YES);
    err_t err;
    assert_null(params_for(&a, "{\"__ow_method\":\"get\"}", NULL, &err));
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "__ow_method"));

    json_t *q = json_pack("{s:s}", "__ow_headers", "x");
    assert_null(params_for(&a, NULL, q, &err));
    assert_int_equal(err.code, EVK_INVALID);
    json_decref(q);

    assert_null(params_for(&a, "{\"data\": {", NULL, &err));
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "not valid JSON"));
    free_action(&a);
}

static void test_raw_http(void **state)
{
    (void)state;
    action_t a = make_action(false, WEB_RAW);
    json_t *headers = json_pack("{s:s}", "content-type", "text/plain");
    web_request req = {.method = "PUT", .path = "/x/y", .headers = headers, .query = NULL,
                       .query_raw = "a=1&b=2", .body = "hello", .body_len = 5};
    err_t err;
    json_t *p = web_params(&a, &req, &err);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "__ow_body")), "hello");
    assert_string_equal(json_string_value(json_object_get(p, "__ow_query")), "a=1&b=2");
    assert_string_equal(json_string_value(json_object_get(p, "__ow_path")), "/x/y");
    assert_string_equal(json_string_value(json_object_get(p, "__ow_method")), "put");
    json_decref(p);
    /* binary bodies arrive base64-encoded */
    req.body = "\xff\xfe\x00\x01";
    req.body_len = 4;
    p = web_params(&a, &req, &err);
    assert_string_equal(json_string_value(json_object_get(p, "__ow_body")), "//4AAQ==");
    json_decref(p);
    json_decref(headers);
    free_action(&a);
}

static void render(const char *result, act_status st, bool timed_out, web_response *out)
{
    invoke_result res = {.status = st, .timed_out = timed_out};
    strcpy(res.activation_id, "0123456789abcdef0123456789abcdef");
    res.result = json_loads(result, 0, NULL);
    assert_non_null(res.result);
    web_response_init(out);
    web_render(&res, out);
    json_decref(res.result);
}

static void test_render(void **state)
{
    (void)state;
    web_response r;
    render("{\"statusCode\":201,\"headers\":{\"X-A\":\"1\"},\"body\":{\"ok\":true}}", ACT_SUCCESS, false, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"ok\":true}");
    assert_string_equal(json_string_value(json_object_get(r.headers, "x-a")), "1");
    assert_string_equal(json_string_value(json_object_get(r.headers, "content-type")), "application/json");
    assert_non_null(json_object_get(r.headers, "x-openwhisk-activation-id"));
    web_response_free(&r);

    render("{\"body\":{\"ok\":true}}", ACT_SUCCESS, false, &r);
    assert_int_equal(r.status, 200);
    web_response_free(&r);

    render("{\"statusCode\":200}", ACT_SUCCESS, false, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    web_response_free(&r);

    render("{}", ACT_SUCCESS, false, &r);
    assert_int_equal(r.status, 204);
    web_response_free(&r);

    render("{\"headers\":{\"a\":\"b\"}}", ACT_SUCCESS, false, &r);
    assert_int_equal(r.status, 204);
    web_response_free(&r);

    render("{\"error\":{\"statusCode\":400,\"body\":{\"error\":\"x\"}}}", ACT_APP_ERROR, false, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "{\"error\":\"x\"}");
    web_response_free(&r);

    render("{\"error\":{\"statusCode\":401,\"body\":{\"error\":\"no\"}},\"statusCode\":200}", ACT_APP_ERROR, false, &r);
    assert_int_equal(r.status, 401);
    web_response_free(&r);

    render("{\"error\":\"plain\"}", ACT_APP_ERROR, false, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "{\"error\":\"plain\"}");
    web_response_free(&r);

    render("{\"statusCode\":200,\"body\":\"<p>hi</p>\"}", ACT_SUCCESS, false, &r);
    assert_string_equal(r.body, "<p>hi</p>");
    assert_non_null(strstr(json_string_value(json_object_get(r.headers, "content-type")), "text/html"));
    web_response_free(&r);

    render("{\"statusCode\":99}", ACT_SUCCESS, false, &r);
    assert_int_equal(r.status, 502);
    web_response_free(&r);

    render("{\"error\":\"The action exceeded its time limit of 100 milliseconds.\"}", ACT_DEV_ERROR, true, &r);
    assert_int_equal(r.status, 504);
    assert_non_null(strstr(r.body, "time limit"));
    assert_non_null(strstr(r.body, "activationId"));
    web_response_free(&r);

    render("{\"error\":\"boom\"}", ACT_DEV_ERROR, false, &r);
    assert_int_equal(r.status, 502);
    web_response_free(&r);

    render("{\"statusCode\":200,\"headers\":{\"content-type\":\"image/png\"},\"body\":\"iVBORw==\"}", ACT_SUCCESS, false, &r);
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "\x89PNG", 4);
    web_response_free(&r);
}

static void test_bearer(void **state)
{
    (void)state;
    json_t *tokens = json_pack("[s, s]", "t1", "secret-two");
    json_t *h = json_pack("{s:s}", "authorization", "Bearer secret-two");
    assert_true(web_bearer_ok(h, tokens));
    json_object_set_new(h, "authorization", json_string("Bearer secret-tw"));
    assert_false(web_bearer_ok(h, tokens));
    json_object_set_new(h, "authorization", json_string("Basic secret-two"));
    assert_false(web_bearer_ok(h, tokens));
    /* Found by fuzzing (fuzz_signature): a NUL ended the token early. */
    json_object_set_new(h, "authorization", json_stringn("Bearer secret-two\0\0x", 21));
    assert_false(web_bearer_ok(h, tokens));
    json_object_del(h, "authorization");
    assert_false(web_bearer_ok(h, tokens));
    json_t *none = json_array();
    json_object_set_new(h, "authorization", json_string("Bearer "));
    assert_false(web_bearer_ok(h, none));
    json_decref(none);
    json_decref(h);
    json_decref(tokens);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence_inputs_query_body),
        cmocka_unit_test(test_final_refuses_override),
        cmocka_unit_test(test_reserved_and_malformed),
        cmocka_unit_test(test_raw_http),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_bearer),
    };
    return cmocka_run_group_tests_name("web", tests, NULL, NULL);
}
