/* test_protocols: the pure parts of webhook delivery (Standard Webhooks
 * signatures, secrets, batch sizing, the challenge answer, status classes
 * and outcomes) and registrations declared as JSON, checked like the
 * manifest (the registry itself: test_registry.c). */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/util.h"
#include "delivery/delivery.h"
#include "delivery/webhook.h"
#include "config.h"
#include "http/ratelimit.h"
#include "manifest/manifest.h"
#include "registry/registry.h"
#include "store/store.h"

/* ---- signatures ---- */

static void test_signature_vector(void **state)
{
    (void)state;
    /* The Standard Webhooks reference vector; the second signature was made
     * by the official `standardwebhooks` npm package. */
    char *secrets[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGVzdC1zZWNyZXQtdHdv"};
    const char *body = "{\"test\": 2432232314}";
    err_t err;
    char *sig = webhook_signature(secrets, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                  strlen(body), &err);
    assert_non_null(sig);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    free(sig);
    /* During a rotation: both, space-separated, oldest first. */
    sig = webhook_signature(secrets, 2, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                            strlen(body), &err);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
                             "v1,EjXI96lLP+nKHS3p+T2kAHzQIQCWz8I32OfNvW/eAkg=");
    free(sig);
    /* Any change to id, time or body changes it. */
    sig = webhook_signature(secrets, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                            strlen(body), &err);
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    free(sig);
    char *bad[] = {"whsec_***"};
    assert_null(webhook_signature(bad, 1, "m", 1, "", 0, &err));
    assert_non_null(strstr(err.msg, "base64"));
    assert_null(strstr(err.msg, "***")); /* never echoes the secret */
    char *plain[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    assert_null(webhook_signature(plain, 1, "m", 1, "", 0, &err));
    assert_null(webhook_signature(secrets, 0, "m", 1, "", 0, &err));
}

static void test_secrets(void **state)
{
    (void)state;
    char *a = webhook_secret_new(), *b = webhook_secret_new();
    assert_true(webhook_secret_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 6 + 44);
    char id[9], hint[32];
    webhook_secret_id(a, id);
    assert_int_equal(strlen(id), 8);
    webhook_secret_hint(a, hint, sizeof hint);
    assert_int_equal(strncmp(hint, a, 10), 0);
    assert_null(strstr(hint, a + 10));
    char id2[9];
    webhook_secret_id(b, id2);
    assert_string_not_equal(id, id2);
    free(a);
    free(b);
    assert_true(webhook_secret_valid("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_true(webhook_secret_valid("whsec_dGVzdA=="));
    assert_false(webhook_secret_valid("whsec_"));
    assert_false(webhook_secret_valid("whsec_abc"));
    assert_false(webhook_secret_valid("whsec_ab=c"));
    assert_false(webhook_secret_valid("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_false(webhook_secret_valid(NULL));
}

/* ---- batches ---- */

static void test_batch_take(void **state)
{
    (void)state;
    size_t sizes[45];
    for (size_t i = 0; i < 45; i++) sizes[i] = 100;
    assert_int_equal(webhook_batch_take(sizes, 45, 20, 2 * 1024 * 1024), 20);
    assert_int_equal(webhook_batch_take(sizes + 40, 5, 20, 2 * 1024 * 1024), 5);
    assert_int_equal(webhook_batch_take(sizes, 0, 20, 1000), 0);
    /* "[" + 100 + "," + 100 + "]" = 203 bytes */
    assert_int_equal(webhook_batch_take(sizes, 45, 20, 203), 2);
    assert_int_equal(webhook_batch_take(sizes, 45, 20, 202), 1);
    /* One event over the limit still goes, alone. */
    size_t big[] = {5000, 10};
    assert_int_equal(webhook_batch_take(big, 2, 20, 1000), 1);
    assert_int_equal(webhook_batch_take(big + 1, 1, 20, 1000), 1);
    /* 2 MB: 700 KB events go two at a time (three would pass 2 MB). */
    size_t mb[] = {700 * 1024, 700 * 1024, 700 * 1024, 700 * 1024};
    assert_int_equal(webhook_batch_take(mb, 4, 20, WEBHOOK_BATCH_MAX_BYTES), 2);
}

static void test_challenge_answer(void **state)
{
    (void)state;
    const char *c = "9f7c0e5e-2a0b-4c47-9d55-0c6b1d2b5d11";
    assert_true(webhook_challenge_ok(c, strlen(c), c));
    char *padded = xasprintf("  %s\n", c);
    assert_true(webhook_challenge_ok(padded, strlen(padded), c));
    free(padded);
    char *j = xasprintf("{\"challenge\": \"%s\"}", c);
    assert_true(webhook_challenge_ok(j, strlen(j), c));
    free(j);
    assert_false(webhook_challenge_ok("", 0, c));
    assert_false(webhook_challenge_ok("ok", 2, c));
    assert_false(webhook_challenge_ok("{\"challenge\": \"x\"}", 18, c));
    assert_false(webhook_challenge_ok(c, strlen(c) - 1, c));
}

/* ---- the transport without an answer ---- */

/* A loopback socket that listens but never answers (the kernel completes
 * connections from its backlog); *port gets its port. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_no_answer_codes(void **state)
{
    (void)state;
    int port;
    int fd = silent_listener(&port);
    char *url = xasprintf("http://127.0.0.1:%d/hook", port);
    json_t *h = json_pack("{s:s}", "content-type", "application/cloudevents+json");
    webhook_response r;
    webhook_post(url, h, "{}", 2, 300, &r);
    assert_int_equal(r.status, WEBHOOK_STATUS_TIMEOUT);
    assert_non_null(strstr(r.error, "no answer within 300 ms"));
    assert_int_equal(delivery_classify_status(r.status), VERDICT_RETRY);
    webhook_response_free(&r);
    err_t err;
    assert_int_equal(webhook_challenge(url, 300, &err), -1);
    assert_non_null(strstr(err.msg, "did not pass the challenge: no answer"));
    close(fd);
    /* Now nothing listens there: a connection failure. */
    webhook_post(url, h, "{}", 2, 300, &r);
    assert_int_equal(r.status, WEBHOOK_STATUS_CONNECT);
    assert_non_null(strstr(r.error, "connection failed"));
    webhook_response_free(&r);
    json_decref(h);
    free(url);
}

/* ---- delivery rules for webhooks ---- */

static void test_status_classes(void **state)
{
    (void)state;
    assert_int_equal(delivery_classify_status(200), VERDICT_SUCCESS);
    assert_int_equal(delivery_classify_status(204), VERDICT_SUCCESS);
    assert_int_equal(delivery_classify_status(429), VERDICT_RETRY);
    assert_int_equal(delivery_classify_status(500), VERDICT_RETRY);
    assert_int_equal(delivery_classify_status(503), VERDICT_RETRY);
    assert_int_equal(delivery_classify_status(505), VERDICT_FINAL);
    assert_int_equal(delivery_classify_status(400), VERDICT_FINAL);
    assert_int_equal(delivery_classify_status(404), VERDICT_FINAL);
    assert_int_equal(delivery_classify_status(408), VERDICT_FINAL);
    assert_int_equal(delivery_classify_status(301), VERDICT_FINAL);
    assert_int_equal(delivery_classify_status(WEBHOOK_STATUS_CONNECT), VERDICT_RETRY);
    assert_int_equal(delivery_classify_status(WEBHOOK_STATUS_TIMEOUT), VERDICT_RETRY);
    assert_int_equal(delivery_classify_status(WEBHOOK_STATUS_TLS), VERDICT_RETRY);
}

static void test_outcome(void **state)
{
    (void)state;
    registration_t reg = {0};
    registration_default_retry(&reg);
    int64_t next;
    assert_int_equal(delivery_outcome(&reg, VERDICT_SUCCESS, 1, 1000, 2000, 0, &next), DELIVERY_DONE);
    assert_int_equal(delivery_outcome(&reg, VERDICT_FINAL, 1, 1000, 2000, 0, &next), DELIVERY_FAILED);
    assert_int_equal(delivery_outcome(&reg, VERDICT_RETRY, 1, 1000, 2000, 0, &next), DELIVERY_RETRY);
    assert_int_equal(next, 2000 + 60000);
    /* A retry that would fall past max_age is a dead letter. */
    int64_t day = 24LL * 3600 * 1000;
    assert_int_equal(delivery_outcome(&reg, VERDICT_RETRY, 40, 1000, 1000 + day - 60000, 0, &next),
                     DELIVERY_DEAD);
    free(reg.retry_schedule_ms);
}

/* ---- the publishing rate limit ---- */

static void test_ratelimit(void **state)
{
    (void)state;
    config_rate rate;
    assert_int_equal(config_parse_rate("3000/5s", &rate), 0);
    assert_true(rate.per_s > 599.9 && rate.per_s < 600.1);
    assert_true(rate.burst > 2999.9 && rate.burst < 3000.1);
    assert_int_equal(config_parse_rate("200", &rate), 0);
    assert_true(rate.per_s > 199.9 && rate.per_s < 200.1);
    assert_int_equal(config_parse_rate("off", &rate), 0);
    assert_true(rate.per_s == 0);
    assert_int_equal(config_parse_rate("3/x", &rate), -1);
    assert_int_equal(config_parse_rate("-1", &rate), -1);
    assert_int_equal(config_parse_rate("5 per s", &rate), -1);
    assert_null(ratelimit_new(0, 0));
    assert_int_equal(ratelimit_take(NULL, 1, 0), 0);

    /* 3 per second: a burst of 3, then one every 333 ms; callers apart. */
    ratelimit_t *r = ratelimit_new(3, 3);
    uint64_t a = ratelimit_key("Bearer a", 8), b = ratelimit_key("Bearer b", 8);
    assert_true(a != b);
    int64_t t = 1000000;
    assert_int_equal(ratelimit_take(r, a, t), 0);
    assert_int_equal(ratelimit_take(r, a, t), 0);
    assert_int_equal(ratelimit_take(r, a, t), 0);
    int64_t wait = ratelimit_take(r, a, t);
    assert_true(wait >= 333 && wait <= 334);
    assert_int_equal(ratelimit_take(r, b, t), 0); /* another key has its own bucket */
    assert_true(ratelimit_take(r, a, t + 200) > 0);  /* refused requests take nothing */
    assert_int_equal(ratelimit_take(r, a, t + 334), 0);
    assert_true(ratelimit_take(r, a, t + 334) > 0);
    /* A long pause refills to the burst, not beyond. */
    t += 100000;
    for (int i = 0; i < 3; i++) assert_int_equal(ratelimit_take(r, a, t), 0);
    assert_true(ratelimit_take(r, a, t) > 0);
    ratelimit_free(r);
}

/* ---- registrations as JSON, and the registry ---- */

static const char *CONFIG =
    "application:\n"
    "  runtimeManifest:\n"
    "    packages:\n"
    "      p:\n"
    "        license: Apache-2.0\n"
    "        actions:\n"
    "          a:\n"
    "            function: actions/a.lua\n"
    "            runtime: lua\n"
    "  events:\n"
    "    registrations:\n"
    "      declared:\n"
    "        events_of_interest:\n"
    "          - provider_metadata: commerce\n"
    "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
    "        runtime_action: p/a\n";

static char *app_dir(void)
{
    char *dir = tu_tmpdir();
    tu_write(dir, "onboarding/config/providers.json",
             "[{\"key\": \"commerce\", \"label\": \"C\"}, {\"key\": \"backoffice\", \"label\": \"B\"}]\n");
    tu_write(dir, "onboarding/config/events.json",
             "{\"product\": {\"commerce\": {\"com.adobe.commerce.observer.catalog_product_save_commit_after\": {}},"
             " \"backoffice\": {\"be-observer.catalog_product_create\": {}}}}\n");
    tu_write(dir, "actions/a.lua", "function main(p) return p end\n");
    tu_write(dir, "app.config.yaml", CONFIG);
    return dir;
}

static char *diag_text(const diags_t *d)
{
    buf_t b;
    buf_init(&b, 0);
    for (size_t i = 0; i < d->n; i++) buf_printf(&b, "%s\n", d->items[i].message);
    return buf_steal(&b);
}

static void test_registration_from_json(void **state)
{
    (void)state;
    char *dir = app_dir();
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_non_null(app);
    diags_free(&d);

    json_t *spec = json_loads(
        "{\"events_of_interest\": [{\"provider_metadata\": \"backoffice\", \"event_codes\": "
        "[\"be-observer.catalog_product_create\"]}], \"webhook_url\": \"http://127.0.0.1:9/h\","
        " \"delivery_type\": \"batch\", \"webhook_secret\": [\"whsec_dGVzdA==\"],"
        " \"retry\": {\"schedule\": [\"50ms\"], \"max_age\": \"1s\"}}", 0, NULL);
    diags_init(&d);
    registration_t *r = registration_from_json(app, "hook", spec, &d);
    assert_non_null(r);
    assert_string_equal(r->webhook_url, "http://127.0.0.1:9/h");
    assert_true(r->batch);
    assert_int_equal(r->nsecrets, 1);
    assert_int_equal(r->retry_schedule_ms[0], 50);
    assert_int_equal(r->retry_max_age_ms, 1000);
    assert_null(r->action);
    assert_true(registration_matches(r, "backoffice", "be-observer.catalog_product_create"));
    registration_free(r);
    diags_free(&d);
    json_decref(spec);

    /* Every problem, with the manifest's words. */
    spec = json_loads("{\"events_of_interest\": [{\"provider_metadata\": \"erp\", \"event_codes\": "
                      "[\"x\"]}], \"webhook_url\": \"ftp://h\", \"runtime_action\": \"p/a\"}",
                      0, NULL);
    diags_init(&d);
    assert_null(registration_from_json(app, "bad", spec, &d));
    char *t = diag_text(&d);
    assert_non_null(strstr(t, "unknown provider 'erp' in registration 'bad'"));
    assert_non_null(strstr(t, "has both runtime_action and webhook_url"));
    diags_free(&d);
    free(t);
    json_decref(spec);

    spec = json_loads("{\"events_of_interest\": [{\"provider_metadata\": \"commerce\", \"event_codes\": "
                      "[\"com.adobe.commerce.observer.catalog_product_save_commit_after\"]}],"
                      " \"webhook_url\": \"ftp://h\", \"webhook_secret\": \"nope\", \"delivery_type\": \"bulk\"}",
                      0, NULL);
    diags_init(&d);
    assert_null(registration_from_json(app, "bad", spec, &d));
    t = diag_text(&d);
    assert_non_null(strstr(t, "must be an http:// or https:// URL"));
    assert_non_null(strstr(t, "must be whsec_ followed by base64"));
    assert_null(strstr(t, "nope")); /* a secret is never echoed */
    assert_non_null(strstr(t, "must be 'list' (one event per request) or 'batch', not 'bulk'"));
    diags_free(&d);
    free(t);
    json_decref(spec);

    /* No $VAR expansion for what the API sends. */
    setenv("EVKIT_TEST_SECRET_VAR", "whsec_dGVzdA==", 1);
    spec = json_loads("{\"events_of_interest\": [{\"provider_metadata\": \"commerce\", \"event_codes\": "
                      "[\"com.adobe.commerce.observer.catalog_product_save_commit_after\"]}],"
                      " \"webhook_url\": \"http://h/$EVKIT_TEST_SECRET_VAR\", \"webhook_secret\": \"whsec_dGVzdA==\"}",
                      0, NULL);
    diags_init(&d);
    r = registration_from_json(app, "lit", spec, &d);
    assert_non_null(r);
    assert_string_equal(r->webhook_url, "http://h/$EVKIT_TEST_SECRET_VAR");
    registration_free(r);
    diags_free(&d);
    json_decref(spec);

    diags_init(&d);
    json_t *empty = json_object();
    assert_null(registration_from_json(app, "bad name", empty, &d));
    json_decref(empty);
    diags_free(&d);
    assert_false(registration_name_valid(""));
    assert_true(registration_name_valid("a.b-c_d@e"));

    app_free(app);
    tu_rmrf(dir);
    free(dir);
}

static void test_manifest_webhook(void **state)
{
    (void)state;
    char *dir = app_dir();
    tu_write(dir, ".env", "HOOK_SECRET=whsec_dGVzdA==\nHOOK_URL=http://127.0.0.1:9/in\n");
    tu_write(dir, "app.config.yaml",
             "application:\n"
             "  runtimeManifest:\n"
             "    packages:\n"
             "      p:\n"
             "        actions:\n"
             "          a:\n"
             "            function: actions/a.lua\n"
             "  events:\n"
             "    registrations:\n"
             "      hook:\n"
             "        events_of_interest:\n"
             "          - provider_metadata: commerce\n"
             "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
             "        webhook_url: $HOOK_URL\n"
             "        delivery_type: batch\n"
             "        webhook_secret: $HOOK_SECRET\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    diags_print(&d, stderr);
    assert_non_null(app);
    const registration_t *r = app_registration(app, "hook");
    assert_string_equal(r->webhook_url, "http://127.0.0.1:9/in");
    assert_true(r->batch);
    assert_int_equal(r->nsecrets, 1);
    assert_string_equal(r->secrets[0], "whsec_dGVzdA==");
    app_free(app);
    diags_free(&d);

    /* Without a secret, or with both targets: errors naming the registration. */
    tu_write(dir, "app.config.yaml",
             "application:\n"
             "  runtimeManifest:\n"
             "    packages:\n"
             "      p:\n"
             "        actions:\n"
             "          a:\n"
             "            function: actions/a.lua\n"
             "  events:\n"
             "    registrations:\n"
             "      nosecret:\n"
             "        events_of_interest:\n"
             "          - provider_metadata: commerce\n"
             "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
             "        webhook_url: http://127.0.0.1:9/in\n"
             "      both:\n"
             "        events_of_interest:\n"
             "          - provider_metadata: commerce\n"
             "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
             "        webhook_url: http://127.0.0.1:9/in\n"
             "        runtime_action: p/a\n");
    diags_init(&d);
    assert_null(app_load(dir, &d));
    char *t = diag_text(&d);
    assert_non_null(strstr(t, "webhook registration 'nosecret' needs webhook_secret"));
    assert_non_null(strstr(t, "registration 'both' has both runtime_action and webhook_url"));
    free(t);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vector),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_batch_take),
        cmocka_unit_test(test_challenge_answer),
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_no_answer_codes),
        cmocka_unit_test(test_outcome),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_registration_from_json),
        cmocka_unit_test(test_manifest_webhook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
