/* The web console's sessions (cookie + CSRF token) and embedded files. */
#include "testutil.h"

#include <jansson.h>
#include <time.h>

#include "http/console.h"

static json_t *hdrs(const char *cookie, const char *csrf)
{
    json_t *h = json_object();
    if (cookie) json_object_set_new(h, "cookie", json_string(cookie));
    if (csrf) json_object_set_new(h, CONSOLE_CSRF_HEADER, json_string(csrf));
    return h;
}

static void test_session_needs_cookie_and_csrf(void **st)
{
    (void)st;
    console_sessions_t *s = console_sessions_new(60000);
    char id[65], csrf[65], got[65];
    console_session_create(s, id, csrf);
    assert_int_equal(strlen(id), 64);
    assert_int_equal(strlen(csrf), 64);
    assert_string_not_equal(id, csrf);

    char *cookie = xasprintf("theme=dark; evkit_session=%s; other=1", id);
    json_t *h = hdrs(cookie, csrf);
    assert_true(console_session_ok(s, h));
    assert_true(console_session_find(s, h, got));
    assert_string_equal(got, csrf);
    json_decref(h);

    /* The cookie without the CSRF header, or with another, is refused. */
    h = hdrs(cookie, NULL);
    assert_false(console_session_ok(s, h));
    assert_true(console_session_find(s, h, got));
    json_decref(h);
    char wrong[65];
    memcpy(wrong, csrf, 65);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    h = hdrs(cookie, wrong);
    assert_false(console_session_ok(s, h));
    json_decref(h);
    /* The CSRF token without the cookie, or an unknown session. */
    h = hdrs(NULL, csrf);
    assert_false(console_session_ok(s, h));
    json_decref(h);
    h = hdrs("evkit_session=0000000000000000000000000000000000000000000000000000000000000000", csrf);
    assert_false(console_session_ok(s, h));
    json_decref(h);
    /* Malformed cookies and look-alike names. */
    const char *bad[] = {"evkit_session=", "evkit_session=xyz", "xevkit_session=", "evkit_sessionx=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        h = hdrs(bad[i], csrf);
        assert_false(console_session_ok(s, h));
        json_decref(h);
    }
    h = hdrs(cookie, csrf);
    char *prefixed = xasprintf("xevkit_session=%s", id);
    json_t *h2 = hdrs(prefixed, csrf);
    assert_false(console_session_ok(s, h2));
    json_decref(h2);
    free(prefixed);

    /* Signing out ends it. */
    console_session_end(s, h);
    assert_false(console_session_ok(s, h));
    assert_false(console_session_find(s, h, got));
    json_decref(h);
    free(cookie);
    assert_false(console_session_ok(NULL, NULL));
    console_sessions_free(s);
}

static void test_session_expires(void **st)
{
    (void)st;
    console_sessions_t *s = console_sessions_new(30);
    char id[65], csrf[65];
    console_session_create(s, id, csrf);
    char *cookie = xasprintf("evkit_session=%s", id);
    json_t *h = hdrs(cookie, csrf);
    assert_true(console_session_ok(s, h));
    struct timespec ts = {0, 60 * 1000000L};
    nanosleep(&ts, NULL);
    assert_false(console_session_ok(s, h));
    json_decref(h);
    free(cookie);
    console_sessions_free(s);
}

static void test_sessions_bounded(void **st)
{
    (void)st;
    /* Past the table's size the oldest sign-in gives way; newer ones stay. */
    console_sessions_t *s = console_sessions_new(60000);
    char first[65], first_csrf[65], id[65], csrf[65];
    console_session_create(s, first, first_csrf);
    for (int i = 0; i < 200; i++) console_session_create(s, id, csrf);
    char *cookie = xasprintf("evkit_session=%s", first);
    json_t *h = hdrs(cookie, first_csrf);
    assert_false(console_session_ok(s, h));
    json_decref(h);
    free(cookie);
    cookie = xasprintf("evkit_session=%s", id);
    h = hdrs(cookie, csrf);
    assert_true(console_session_ok(s, h));
    json_decref(h);
    free(cookie);
    console_sessions_free(s);
}

static void test_assets_embedded(void **st)
{
    (void)st;
    const console_asset *a = console_asset_find("index.html");
    assert_non_null(a);
    assert_string_equal(a->content_type, "text/html; charset=utf-8");
    assert_true(a->len > 100);
    assert_non_null(strstr((const char *)a->data, "app.js"));
    assert_int_equal(a->etag[0], '"');
    assert_non_null(console_asset_find("app.js"));
    assert_non_null(console_asset_find("app.css"));
    assert_null(console_asset_find("../Makefile"));
    assert_null(console_asset_find(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_needs_cookie_and_csrf),
        cmocka_unit_test(test_session_expires),
        cmocka_unit_test(test_sessions_bounded),
        cmocka_unit_test(test_assets_embedded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
