/* IMS: the JWT signing and verification of client-credentials tokens, their
 * expiry as aio-lib-ims computes it, the two form encodings the token
 * endpoint reads, the endpoint's answers through the route table, and the
 * signing key kept in the store across a restart. Also the store's other
 * records for the Adobe services (providers, registrations, state as a
 * collection). */
#include "tu_store.h"

#include <jansson.h>

#include "config.h"
#include "engine.h"
#include "http/ims.h"
#include "http/routes.h"

static const unsigned char KEY[IMS_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static json_t *payload_at(int64_t created, int64_t ttl)
{
    char c[24], t[24];
    snprintf(c, sizeof c, "%lld", (long long)created);
    snprintf(t, sizeof t, "%lld", (long long)ttl);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "x", "type", "access_token", "client_id",
                     "cid", "created_at", c, "expires_in", t);
}

static void test_jwt_sign_verify(void **state)
{
    (void)state;
    json_t *p = payload_at(1000, 5000);
    char *jwt = ims_jwt_sign(KEY, sizeof KEY, p);
    assert_int_equal(strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
                     strlen(jwt));
    err_t err;
    json_t *back = ims_jwt_verify(KEY, sizeof KEY, jwt, &err);
    assert_non_null(back);
    assert_true(json_equal(back, p));
    json_decref(back);

    /* Another key, a changed payload, a cut signature, alg none: refused. */
    unsigned char other[IMS_KEY_LEN];
    memcpy(other, KEY, sizeof other);
    other[0] ^= 1;
    assert_null(ims_jwt_verify(other, sizeof other, jwt, &err));
    assert_int_equal(err.code, EVK_UNAUTHORIZED);
    char *dot1 = strchr(jwt, '.'), *dot2 = strrchr(jwt, '.');
    json_t *p2 = payload_at(1000, 999999999);
    char *jwt2 = ims_jwt_sign(KEY, sizeof KEY, p2);
    char *forged = xasprintf("%.*s%.*s%s", (int)(dot1 - jwt), jwt,
                             (int)(strrchr(jwt2, '.') - strchr(jwt2, '.')), strchr(jwt2, '.'), dot2);
    assert_null(ims_jwt_verify(KEY, sizeof KEY, forged, &err));
    char *cut = xstrndup(jwt, strlen(jwt) - 2);
    assert_null(ims_jwt_verify(KEY, sizeof KEY, cut, &err));
    /* {"alg":"none"} with the same payload and signature. */
    char *none = xasprintf("eyJhbGciOiJub25lIn0%s", dot1);
    assert_null(ims_jwt_verify(KEY, sizeof KEY, none, &err));
    assert_null(ims_jwt_verify(KEY, sizeof KEY, "a.b", &err));
    assert_null(ims_jwt_verify(KEY, sizeof KEY, "a.b.c.d", &err));
    assert_null(ims_jwt_verify(KEY, sizeof KEY, "a+b.c.d", &err));
    assert_null(ims_jwt_verify(KEY, sizeof KEY, NULL, &err));
    free(none);
    free(cut);
    free(forged);
    free(jwt2);
    json_decref(p2);
    free(jwt);
    json_decref(p);
}

static void test_payload_expiry(void **state)
{
    (void)state;
    json_t *p = payload_at(1000, 5000);
    assert_true(ims_payload_live(p, 5999));
    assert_false(ims_payload_live(p, 6000));
    json_object_set_new(p, "type", json_string("refresh_token"));
    assert_false(ims_payload_live(p, 2000));
    json_decref(p);
    /* Numbers instead of strings of digits are not IMS's shape. */
    json_t *q = json_pack("{s:s, s:I, s:s}", "type", "access_token", "created_at",
                          (json_int_t)1000, "expires_in", "5000");
    assert_false(ims_payload_live(q, 2000));
    json_object_set_new(q, "created_at", json_string("1e3"));
    assert_false(ims_payload_live(q, 2000));
    json_decref(q);
}

static void test_form_urlencoded(void **state)
{
    (void)state;
    err_t err;
    const char *body = "grant_type=client_credentials&client_id=a%2Bb&scope=AdobeID%2Copenid+x"
                       "&empty=&flag&client_id=last";
    json_t *f = ims_form_parse("application/x-www-form-urlencoded; charset=utf-8", body,
                               strlen(body), &err);
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "grant_type")), "client_credentials");
    assert_string_equal(json_string_value(json_object_get(f, "client_id")), "last");
    assert_string_equal(json_string_value(json_object_get(f, "scope")), "AdobeID,openid x");
    assert_string_equal(json_string_value(json_object_get(f, "empty")), "");
    assert_string_equal(json_string_value(json_object_get(f, "flag")), "");
    json_decref(f);
    /* Not UTF-8 once decoded. */
    assert_null(ims_form_parse("application/x-www-form-urlencoded", "a=%ff", 5, &err));
    assert_int_equal(err.code, EVK_INVALID);
    assert_null(ims_form_parse("application/json", "{}", 2, &err));
    assert_null(ims_form_parse(NULL, "a=b", 3, &err));
}

/* What the form-data npm package (aio-lib-ims) sends. */
static const char MULTIPART[] =
    "--------------------------123456789\r\n"
    "Content-Disposition: form-data; name=\"grant_type\"\r\n\r\n"
    "client_credentials\r\n"
    "--------------------------123456789\r\n"
    "Content-Disposition: form-data; name=\"client_secret\"\r\n\r\n"
    "s3c=r\r\net\r\n"
    "--------------------------123456789\r\n"
    "Content-Disposition: form-data; name=\"scope\"\r\n"
    "Content-Type: text/plain\r\n\r\n"
    "AdobeID,openid\r\n"
    "--------------------------123456789--\r\n";

static void test_form_multipart(void **state)
{
    (void)state;
    err_t err;
    const char *ct = "multipart/form-data; boundary=------------------------123456789";
    json_t *f = ims_form_parse(ct, MULTIPART, strlen(MULTIPART), &err);
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "grant_type")), "client_credentials");
    assert_string_equal(json_string_value(json_object_get(f, "client_secret")), "s3c=r\r\net");
    assert_string_equal(json_string_value(json_object_get(f, "scope")), "AdobeID,openid");
    json_decref(f);
    const char *quoted = "multipart/form-data; boundary=\"------------------------123456789\"";
    f = ims_form_parse(quoted, MULTIPART, strlen(MULTIPART), &err);
    assert_non_null(f);
    json_decref(f);
    /* No closing delimiter, another boundary, none at all: malformed. */
    assert_null(ims_form_parse(ct, MULTIPART, strlen(MULTIPART) - 6, &err));
    assert_null(ims_form_parse("multipart/form-data; boundary=zzz", MULTIPART, strlen(MULTIPART),
                               &err));
    assert_null(ims_form_parse("multipart/form-data", MULTIPART, strlen(MULTIPART), &err));
    assert_int_equal(err.code, EVK_INVALID);
}

typedef struct {
    fixture st;
    config_t c;
    engine_t e;
    http_ctx h;
} ims_fixture;

static void ims_up(ims_fixture *f)
{
    config_init(&f->c);
    setenv("OAUTH_CLIENT_ID", "cid", 1);
    setenv("OAUTH_CLIENT_SECRET", "csecret", 1);
    unsetenv("EVKIT_API_TOKENS");
    assert_int_equal(config_load(&f->c, NULL, CONFIG_PROCESS | CONFIG_APP, NULL), 0);
    engine_init(&f->e, NULL, f->st.s, &f->c, NULL);
    http_ctx_init(&f->h, &f->e, false);
}

static void ims_down(ims_fixture *f)
{
    http_ctx_fini(&f->h);
    engine_fini(&f->e);
    config_free(&f->c);
}

static int ims_setup(void **state)
{
    ims_fixture *f = calloc(1, sizeof *f);
    void *st = NULL;
    if (setup(&st) < 0) return -1;
    f->st = *(fixture *)st;
    free(st);
    ims_up(f);
    *state = f;
    return 0;
}

static int ims_teardown(void **state)
{
    ims_fixture *f = *state;
    ims_down(f);
    fixture *st = calloc(1, sizeof *st);
    *st = f->st;
    void *p = st;
    teardown(&p);
    free(f);
    unsetenv("OAUTH_CLIENT_ID");
    unsetenv("OAUTH_CLIENT_SECRET");
    return 0;
}

/* POSTs body (urlencoded) to path through the route table. */
static void post_form(ims_fixture *f, const char *method, const char *path, const char *body,
                      const char *auth, web_response *out)
{
    route_match m;
    route_find(method, path, &m);
    json_t *h = json_pack("{s:s}", "content-type", "application/x-www-form-urlencoded");
    if (auth) json_object_set_new(h, "authorization", json_string(auth));
    json_t *q = json_object();
    api_request req = {.method = method, .url = path, .query = q, .query_raw = "", .headers = h,
                       .body = body, .body_len = strlen(body)};
    web_response_init(out);
    route_dispatch(&f->h, &m, &req, out);
    route_match_free(&m);
    json_decref(h);
    json_decref(q);
}

static const char *answer(const web_response *out, const char *field, json_t **keep)
{
    *keep = json_loadb(out->body, out->body_len, 0, NULL);
    return json_string_value(json_object_get(*keep, field));
}

static void test_token_endpoint(void **state)
{
    ims_fixture *f = *state;
    web_response out;
    json_t *j;
    post_form(f, "POST", "/ims/token/v3",
              "grant_type=client_credentials&client_id=cid&client_secret=wrong", NULL, &out);
    assert_int_equal(out.status, 401);
    assert_string_equal(answer(&out, "error", &j), "invalid_client");
    json_decref(j);
    web_response_free(&out);
    post_form(f, "POST", "/ims/token/v2", "grant_type=client_credentials&client_id=x&client_secret=csecret",
              NULL, &out);
    assert_int_equal(out.status, 400);
    assert_string_equal(answer(&out, "error", &j), "invalid_client");
    json_decref(j);
    web_response_free(&out);
    post_form(f, "POST", "/ims/token/v2", "grant_type=password&client_id=cid&client_secret=csecret",
              NULL, &out);
    assert_int_equal(out.status, 400);
    assert_string_equal(answer(&out, "error", &j), "unsupported_grant_type");
    json_decref(j);
    web_response_free(&out);

    post_form(f, "POST", "/ims/token/v2",
              "grant_type=client_credentials&client_id=cid&client_secret=csecret&scope=openid", NULL,
              &out);
    assert_int_equal(out.status, 200);
    char *jwt = xstrdup(answer(&out, "access_token", &j));
    assert_string_equal(json_string_value(json_object_get(j, "token_type")), "bearer");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 86400);
    json_decref(j);
    web_response_free(&out);
    json_t *p = ims_token_check(f->h.ims, jwt, now_ms());
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "client_id")), "cid");
    assert_string_equal(json_string_value(json_object_get(p, "scope")), "openid");
    json_decref(p);
    assert_null(ims_token_check(f->h.ims, jwt, now_ms() + IMS_TOKEN_TTL_MS + 1));

    /* The token opens the API (no EVKIT_API_TOKENS here), a wrong one does not. */
    char *auth = xasprintf("Bearer %s", jwt);
    post_form(f, "GET", "/api/v1/namespaces/_/state/", "", auth, &out);
    assert_int_equal(out.status, 200);
    web_response_free(&out);
    post_form(f, "GET", "/api/v1/namespaces/_/state/", "", "Bearer nope.nope.nope", &out);
    assert_int_equal(out.status, 401);
    web_response_free(&out);
    json_t *hdrs = json_pack("{s:s}", "authorization", auth);
    assert_true(ims_bearer_ok(f->h.ims, hdrs));
    json_decref(hdrs);

    /* A restart (a new context on the same store) verifies the same token. */
    ims_down(f);
    ims_up(f);
    p = ims_token_check(f->h.ims, jwt, now_ms());
    assert_non_null(p);
    json_decref(p);
    /* Another client configured: the old client's tokens are no longer its. */
    ims_down(f);
    setenv("OAUTH_CLIENT_ID", "cid2", 1);
    config_init(&f->c);
    assert_int_equal(config_load(&f->c, NULL, CONFIG_PROCESS | CONFIG_APP, NULL), 0);
    engine_init(&f->e, NULL, f->st.s, &f->c, NULL);
    http_ctx_init(&f->h, &f->e, false);
    assert_null(ims_token_check(f->h.ims, jwt, now_ms()));
    free(auth);
    free(jwt);
}

static void test_store_records(void **state)
{
    ims_fixture *f = *state;
    store_t *s = f->st.s;
    err_t err;
    bool conflict;
    json_t *a = json_pack("{s:s, s:s, s:s}", "id", "11111111-1111-4111-8111-111111111111", "key",
                          "commerce", "label", "Commerce - x");
    assert_int_equal(store_io_provider_put(s, a, &conflict, &err), 0);
    assert_false(conflict);
    json_t *b = json_pack("{s:s, s:s, s:s}", "id", "22222222-2222-4222-8222-222222222222", "key",
                          "io-1", "label", "Commerce - x");
    assert_int_equal(store_io_provider_put(s, b, &conflict, &err), 0);
    assert_true(conflict);
    json_t *rec = NULL;
    assert_int_equal(store_io_provider_get(s, "11111111-1111-4111-8111-111111111111", &rec, &err), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "key")), "commerce");
    json_decref(rec);
    assert_int_equal(store_io_provider_get(s, "io-1", &rec, &err), 0);
    assert_null(rec);
    json_decref(a);
    json_decref(b);

    json_t *r = json_pack("{s:s}", "name", "My Reg");
    int64_t id = 0;
    assert_int_equal(store_io_reg_put(s, "a/b/c", r, &conflict, &id, &err), 0);
    assert_false(conflict);
    assert_true(id > 0);
    assert_int_equal(store_io_reg_put(s, "a/b/c", r, &conflict, &id, &err), 0);
    assert_true(conflict);
    assert_int_equal(store_io_reg_put(s, "a/b/d", r, &conflict, &id, &err), 0);
    assert_false(conflict);
    json_t *list = NULL;
    assert_int_equal(store_io_reg_list(s, "a/b/c", &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_true(json_integer_value(json_object_get(json_array_get(list, 0), "id")) > 0);
    json_decref(list);
    json_decref(r);

    json_t *v = json_string("v");
    assert_int_equal(store_state_put(s, "k1", v, 60000, &err), 0);
    assert_int_equal(store_state_put(s, "k2", v, 0, &err), 0);
    json_decref(v);
    json_t *got = NULL;
    int64_t exp = 0;
    assert_int_equal(store_state_entry(s, "k1", &got, &exp, &err), 0);
    assert_string_equal(json_string_value(got), "v");
    assert_true(exp > now_ms() + 50000);
    json_decref(got);
    assert_int_equal(store_state_entry(s, "k2", &got, &exp, &err), 0);
    assert_int_equal(exp, 0);
    json_decref(got);
    assert_int_equal(store_state_entry(s, "none", &got, &exp, &err), 0);
    assert_null(got);
    assert_int_equal(store_state_entry(s, "bad key", &got, &exp, &err), -1);
    int64_t n = 0;
    assert_int_equal(store_state_count(s, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_state_clear(s, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_state_count(s, &n, &err), 0);
    assert_int_equal(n, 0);

    unsigned char k1[32], k2[32];
    assert_int_equal(store_key_get(s, "test-key", k1, sizeof k1, &err), 0);
    assert_int_equal(store_key_get(s, "test-key", k2, sizeof k2, &err), 0);
    assert_memory_equal(k1, k2, sizeof k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_sign_verify),
        cmocka_unit_test(test_payload_expiry),
        cmocka_unit_test(test_form_urlencoded),
        cmocka_unit_test(test_form_multipart),
        cmocka_unit_test_setup_teardown(test_token_endpoint, ims_setup, ims_teardown),
        cmocka_unit_test_setup_teardown(test_store_records, ims_setup, ims_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
