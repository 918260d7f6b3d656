/* Core helpers: durations, redaction, ids, bounded buffers, json paths. */
#include "testutil.h"

#include <jansson.h>

#include "core/log.h"
#include "core/util.h"
#include "core/jsonpath.h"
#include "engine.h"

static void test_durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(dur_parse("250", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(dur_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(dur_parse("2s", &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(dur_parse("1m", &ms), 0);
    assert_int_equal(ms, 60000);
    assert_int_equal(dur_parse("24h", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(dur_parse("-PT2H", &ms), 0);
    assert_int_equal(ms, -7200000);
    assert_int_equal(dur_parse("PT1M30S", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(dur_parse("P1D", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(dur_parse("PT0.5S", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(dur_parse("P", &ms), -1);
    assert_int_equal(dur_parse("PT1D", &ms), -1);
    assert_int_equal(dur_parse("abc", &ms), -1);
    assert_int_equal(dur_parse("5parsecs", &ms), -1);
    assert_int_equal(dur_parse("", &ms), -1);
    /* Found by fuzzing (fuzz_registration): a retry schedule of "1e117s"
     * was converted to int64 (undefined), as were nan and inf. */
    assert_int_equal(dur_parse("1333333333333333333333333333333333333333s", &ms), -1);
    assert_int_equal(dur_parse("1e300", &ms), -1);
    assert_int_equal(dur_parse("nan", &ms), -1);
    assert_int_equal(dur_parse("infs", &ms), -1);
    assert_int_equal(dur_parse("-inf", &ms), -1);
    assert_int_equal(dur_parse("P1e300D", &ms), -1);
    assert_int_equal(dur_parse("PT9e14S", &ms), -1);
    assert_int_equal(dur_parse("P10000000DT100000000H", &ms), -1);
    assert_int_equal(dur_parse("3650d", &ms), 0);
    assert_int_equal(ms, 3650LL * 86400000);
}

static void test_redaction(void **state)
{
    (void)state;
    json_t *p = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:[{s:s}], s:s}", "OAUTH_CLIENT_SECRET", "s1",
                          "api_token", "s2", "LOG_LEVEL", "debug", "__ow_headers", "authorization",
                          "Bearer x", "content-type", "json", "list", "password", "p", "apiKey", "k");
    json_t *r = log_redact(p);
    char *s = json_dumps(r, JSON_COMPACT);
    assert_null(strstr(s, "s1"));
    assert_null(strstr(s, "s2"));
    assert_null(strstr(s, "Bearer"));
    assert_null(strstr(s, "\"p\""));
    assert_null(strstr(s, "\"k\""));
    assert_non_null(strstr(s, "debug"));
    assert_non_null(strstr(s, "\"content-type\":\"json\""));
    assert_non_null(strstr(s, "<hidden>"));
    free(s);
    json_decref(r);
    json_decref(p);
}

static void test_ids(void **state)
{
    (void)state;
    char u[37], v[37], h[33];
    uuid_v4(u);
    uuid_v4(v);
    assert_int_equal(strlen(u), 36);
    assert_int_equal(u[14], '4');
    assert_string_not_equal(u, v);
    hex_id32(h);
    assert_int_equal(strlen(h), 32);
    for (int i = 0; i < 32; i++) assert_non_null(strchr("0123456789abcdef", h[i]));
    char ts[32];
    time_iso(1700000000123LL, ts, sizeof ts);
    assert_string_equal(ts, "2023-11-14T22:13:20.123Z");
}

static void test_buf_cap(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345", 5), 0);
    assert_int_equal(buf_append(&b, "6789", 4), -1);
    assert_int_equal(b.len, 5);
    assert_int_equal(buf_append(&b, "678", 3), 0);
    assert_string_equal(b.data, "12345678");
    buf_free(&b);
}

static void test_json_path(void **state)
{
    (void)state;
    json_t *ev = json_pack("{s:{s:s, s:i, s:f, s:{s:b}}}", "data", "sku", "S1", "id", 42, "price", 1.5,
                           "nested", "x", 1);
    char *s = json_path_string(ev, "data.sku");
    assert_string_equal(s, "S1");
    free(s);
    s = json_path_string(ev, "data.id");
    assert_string_equal(s, "42");
    free(s);
    s = json_path_string(ev, "data.price");
    assert_string_equal(s, "1.5");
    free(s);
    s = json_path_string(ev, "data.nested");
    assert_string_equal(s, "{\"x\":true}");
    free(s);
    assert_null(json_path_string(ev, "data.missing"));
    assert_null(json_path_string(ev, "data.sku.deeper"));
    json_decref(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_json_path),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
