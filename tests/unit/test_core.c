/* Core helpers: durations, redaction, ids, bounded buffers, json paths. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>

#include "core/log.h"
#include "core/util.h"
#include "core/vec.h"
#include "core/jsonpath.h"
#include "core/json_io.h"
#include "core/cloudevent.h"
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

/* Numbers leave evkit as they came in: the shortest text that reads back
 * as the same double, never jansson's 17 digits. */
static void test_json_numbers_as_published(void **state)
{
    (void)state;
    json_error_t je;
    const char *in = "{\"a\":[99.99,0.1,1e-7,-0.0,5.0,100.0,0.000001,1.5e300,0.30000000000000004,"
                     "1e20,-2.5e-300,5e-324,12,-7],\"s\":\"99.989999999999995 0.1\\\"1e-7\"}";
    json_t *v = json_loads(in, 0, &je);
    assert_non_null(v);
    char *out = json_text(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(out, in);
    free(out);
    out = json_text(v, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    assert_non_null(strstr(out, "\n  99.99,\n"));
    assert_non_null(strstr(out, "\n  -0.0,\n"));
    free(out);
    json_decref(v);
    char buf[48];
    assert_int_equal(json_real_text(1e17, buf, sizeof buf), 4);
    assert_string_equal(buf, "1e17");
    json_real_text(123456789.125, buf, sizeof buf);
    assert_string_equal(buf, "123456789.125");
}

/* json_text writes the tree itself: byte for byte what jansson's json_dumps
 * writes (escapes, separators, sorted keys, NUL bytes, refusals), on random
 * trees; with reals and kept numbers, what the old rewriting path (taken
 * for any other flag, here JSON_ESCAPE_SLASH on text without a slash) writes. */
static const char *const SAMPLES[] = {
    "", "a", "plain text", "quote \" and \\ backslash", "ctl \b\f\n\r\t\x01\x1f\x7f end",
    "caf\xc3\xa9", "\xe2\x82\xac euro", "\xf0\x9f\x98\x80 smile", "\xed\x9f\xbf", "12", "-3.5",
    "key with spaces", "\xef\xbf\xbf",
    /* long runs, read 8 bytes at a time, broken at every offset by a byte
     * that needs its own look */
    "0123456\"89abcdef\\123456789\x1f" "bcdef01234\x7f" "6789abcdef\xc3\xa9" "cdef0123456789abcdef\nx"};
#define NSAMPLES (sizeof SAMPLES / sizeof *SAMPLES)

static json_t *random_tree(unsigned *seed, int depth, bool reals)
{
    int kind = rand_r(seed) % (depth > 4 ? 6 : 9);
    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(rand_r(seed) % 2);
    case 2: {
        json_int_t v = (json_int_t)rand_r(seed) * (rand_r(seed) % 2 ? 1 : -1);
        if (rand_r(seed) % 7 == 0) v = rand_r(seed) % 2 ? INT64_MIN : INT64_MAX;
        return json_integer(v);
    }
    case 3:
        if (reals) return json_real((double)rand_r(seed) / ((rand_r(seed) % 1000) + 1));
        return json_string(SAMPLES[rand_r(seed) % NSAMPLES]);
    case 4: return json_string(SAMPLES[rand_r(seed) % NSAMPLES]);
    case 5:
        if (reals) return json_kept_new("123456789012345678901234567890", 30);
        return json_stringn("nul\0inside", 10);
    case 6: case 7: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 5; i > 0; i--)
            json_object_set_new(o, SAMPLES[rand_r(seed) % NSAMPLES], random_tree(seed, depth + 1, reals));
        return o;
    }
    default: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 5; i > 0; i--) json_array_append_new(a, random_tree(seed, depth + 1, reals));
        return a;
    }
    }
}

static void test_json_text_as_jansson(void **state)
{
    (void)state;
    unsigned seed = 12345;
    const size_t flags[] = {JSON_COMPACT, 0, JSON_COMPACT | JSON_SORT_KEYS, JSON_SORT_KEYS,
                            JSON_COMPACT | JSON_ENCODE_ANY, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER};
    for (int i = 0; i < 3000; i++) {
        json_t *v = random_tree(&seed, 0, false);
        for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
            char *mine = json_text(v, flags[f]);
            char *theirs = json_dumps(v, flags[f]);
            if (!theirs) assert_null(mine);
            else assert_string_equal(mine, theirs);
            free(mine);
            free(theirs);
        }
        json_decref(v);
        v = random_tree(&seed, 0, true);
        char *mine = json_text(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char *old = json_text(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ESCAPE_SLASH);
        assert_string_equal(mine, old);
        free(mine);
        free(old);
        json_decref(v);
    }
    /* Refusals: invalid UTF-8, a NUL in a key, a scalar without JSON_ENCODE_ANY. */
    json_t *bad = json_pack("{s:o}", "k", json_stringn_nocheck("\xc3(", 2));
    assert_null(json_text(bad, JSON_COMPACT));
    assert_null(json_dumps(bad, JSON_COMPACT));
    json_decref(bad);
    json_t *nulkey = json_object();
    json_object_setn_new(nulkey, "a\0b", 3, json_true());
    char *mine = json_text(nulkey, JSON_COMPACT), *theirs = json_dumps(nulkey, JSON_COMPACT);
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);
    json_decref(nulkey);
    json_t *one = json_integer(1);
    assert_null(json_text(one, JSON_COMPACT));
    mine = json_text(one, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_string_equal(mine, "1");
    free(mine);
    json_decref(one);
}

static json_t *nested(int levels)
{
    json_t *v = json_integer(1);
    for (int i = 0; i < levels; i++) v = i % 2 ? json_pack("[o]", v) : json_pack("{s:o}", "k", v);
    return v;
}

/* One nesting limit: 64 levels pass, 65 are refused with the limit named. */
static void test_json_nesting_limit(void **state)
{
    (void)state;
    err_t err;
    json_t *ok = nested(EVK_JSON_MAX_DEPTH), *deep = nested(EVK_JSON_MAX_DEPTH + 1);
    assert_int_equal(json_depth(ok, EVK_JSON_MAX_DEPTH), EVK_JSON_MAX_DEPTH);
    assert_int_equal(json_check_depth(ok, "data", &err), 0);
    assert_int_equal(json_check_depth(deep, "data", &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "data nests deeper than 64 levels"));
    char *text = json_text(deep, JSON_COMPACT);
    assert_null(json_parse(text, strlen(text), 0, EVK_JSON_MAX_DEPTH, "the body", &err));
    assert_non_null(strstr(err.msg, "the body nests deeper than 64"));
    free(text);
    text = json_text(ok, JSON_COMPACT);
    json_t *back = json_parse(text, strlen(text), 0, EVK_JSON_MAX_DEPTH, "the body", &err);
    assert_non_null(back);
    json_decref(back);
    free(text);
    json_decref(ok);
    json_decref(deep);
    /* Past jansson's own limit (2,048) the message is the same. */
    char big[6000];
    memset(big, '[', 3000);
    memset(big + 3000, ']', 3000);
    assert_null(json_parse(big, sizeof big, 0, EVK_JSON_MAX_DEPTH, "the body", &err));
    assert_non_null(strstr(err.msg, "nests deeper than 64"));
}

/* Parse text through the doors' parser and write it back compact. */
static char *kept_round_trip(const char *text, size_t flags)
{
    err_t err;
    json_t *v = json_parse(text, strlen(text), flags, EVK_JSON_MAX_DEPTH, "the body", &err);
    assert_non_null(v);
    char *out = json_text(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(v);
    return out;
}

static void assert_round_trip(const char *text, size_t flags)
{
    char *out = kept_round_trip(text, flags);
    assert_string_equal(out, text);
    free(out);
}

/* Numbers no int64 or double holds are kept as published, wherever they sit. */
static void test_json_kept_numbers(void **state)
{
    (void)state;
    assert_round_trip("[123456789012345678901234567890,1e400,-1e400,-99999999999999999999]", 0);
    assert_round_trip("{\"a\":{\"b\":[1,{\"c\":1E+400}]},\"d\":-12345678901234567890123.5e99999}", 0);
    assert_round_trip("[{\"data\":{\"n\":9223372036854775808}},{\"data\":{\"n\":1e999}}]", 0);
    assert_round_trip("1e400", JSON_DECODE_ANY);
    /* Numbers inside strings and after escapes are not numbers. */
    assert_round_trip("[\"1e400\",\"a\\\"1e400\",\"\\\\\",99999999999999999999]", 0);
    /* The edges of int64 stay integers; 1e-400 is jansson's 0.0, as before. */
    assert_round_trip("[9223372036854775807,-9223372036854775808]", 0);
    char *out = kept_round_trip("[1e-400,1.5]", 0);
    assert_string_equal(out, "[0.0,1.5]");
    free(out);
    /* In the tree: a string whose C text is the number's. */
    err_t err;
    json_t *v = json_parse("{\"n\":1e400,\"s\":\"1e400\"}", 23, 0, EVK_JSON_MAX_DEPTH, "b", &err);
    assert_non_null(v);
    size_t n = 0;
    const char *t = json_kept_text(json_object_get(v, "n"), &n);
    assert_non_null(t);
    assert_int_equal(n, 5);
    assert_string_equal(json_string_value(json_object_get(v, "n")), "1e400");
    assert_null(json_kept_text(json_object_get(v, "s"), NULL));
    /* Used as a member name, it is written as a string. */
    json_t *o = json_object();
    json_object_set(o, json_string_value(json_object_get(v, "n")), json_object_get(v, "n"));
    json_t *kept = json_kept_new("1e400", 5);
    assert_true(json_equal(kept, json_object_get(v, "n")));
    assert_null(json_kept_new("1e4x", 4));
    json_object_set_new(o, "k", kept);
    out = json_text(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    json_decref(v);
    assert_string_equal(out, "{\"1e400\":1e400,\"k\":1e400}");
    free(out);
}

/* A client's string with a NUL can never pass for a kept number, and the
 * doors that refuse \u0000 still do. */
static void test_json_kept_not_forged(void **state)
{
    (void)state;
    err_t err;
    const char *nul = "[\"1e400\\u00000123456789abcdef\",1e400]";
    assert_null(json_parse(nul, strlen(nul), 0, EVK_JSON_MAX_DEPTH, "the body", &err));
    assert_int_equal(err.code, EVK_INVALID);
    json_t *v = json_parse(nul, strlen(nul), JSON_ALLOW_NUL, EVK_JSON_MAX_DEPTH, "the body", &err);
    assert_non_null(v);
    assert_null(json_kept_text(json_array_get(v, 0), NULL));
    assert_non_null(json_kept_text(json_array_get(v, 1), NULL));
    char *out = json_text(v, JSON_COMPACT);
    assert_string_equal(out, "[\"1e400\\u00000123456789abcdef\",1e400]");
    free(out);
    json_decref(v);
    /* The scanner leaves well-formed text alone and bad numbers to jansson. */
    size_t n;
    assert_null(json_kept_rewrite("[1,2.5,-0,1e5]", 14, false, &n));
    /* Errors name the client's text, never the private key. */
    assert_null(json_parse("[01e400]", 8, 0, EVK_JSON_MAX_DEPTH, "the body", &err));
    assert_non_null(strstr(err.msg, "is not valid JSON"));
    assert_null(strstr(err.msg, "u0000"));
    assert_null(json_parse("[1e400 1e400]", 13, 0, EVK_JSON_MAX_DEPTH, "the body", &err));
    assert_null(strstr(err.msg, "u0000"));
    assert_null(json_parse("[-]", 3, 0, EVK_JSON_MAX_DEPTH, "the body", &err));
    /* A CloudEvent attribute that must be a string is not one when it is a kept number. */
    const char *ce = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
                     "\"subject\":1e400,\"data\":{\"n\":1e400}}";
    v = json_parse(ce, strlen(ce), 0, EVK_JSON_MAX_DEPTH, "the body", &err);
    assert_non_null(v);
    assert_int_equal(cloudevent_check(v, &err), -1);
    assert_non_null(strstr(err.msg, "'subject' must be a non-empty string"));
    json_object_del(v, "subject");
    json_object_set_new(v, "ext", json_kept_new("99999999999999999999", 20));
    assert_int_equal(cloudevent_check(v, &err), -1);
    json_object_del(v, "ext");
    assert_int_equal(cloudevent_check(v, &err), 0); /* in data it is fine */
    json_decref(v);
}

static int ce_check(const char *extra, err_t *err)
{
    char *text = xasprintf("{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"%s}",
                           extra);
    json_t *ev = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(ev);
    int rc = cloudevent_check(ev, err);
    json_decref(ev);
    return rc;
}

/* CloudEvents 1.0.2: time, data_base64, media types, URIs, extension names. */
static void test_cloudevent_attributes(void **state)
{
    (void)state;
    err_t err;
    static const char *good[] = {
        "", ",\"time\":\"2026-12-06T23:31:26Z\"", ",\"time\":\"2024-02-29t00:00:00.123456-05:30\"",
        ",\"time\":\"2026-06-30T23:59:60+00:00\"", ",\"data_base64\":\"aGVsbG8=\"",
        ",\"datacontenttype\":\"application/cloudevents+json; charset=utf-8\"",
        ",\"dataschema\":\"urn:x:y\"", ",\"subject\":\"sku-1\"", ",\"abcdefghij0123456789\":\"x\"",
        ",\"n\":2147483647,\"b\":false", ",\"data\":{\"any\":[1]}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (ce_check(good[i], &err) < 0) print_error("%s: %s\n", good[i], err.msg);
        assert_int_equal(ce_check(good[i], &err), 0);
    }
    static const char *bad[][2] = {
        {",\"time\":\"yesterday\"", "'time' must be an RFC 3339"},
        {",\"time\":\"2023-02-29T00:00:00Z\"", "'time'"},
        {",\"time\":\"2026-12-06 23:31:26Z\"", "'time'"},
        {",\"time\":\"2026-12-06T24:00:00Z\"", "'time'"},
        {",\"time\":\"2026-12-06T23:31:26\"", "'time'"},
        {",\"time\":\"2026-12-06T23:31:26.Z\"", "'time'"},
        {",\"time\":\"2026-12-06T23:31:26+0100\"", "'time'"},
        {",\"time\":5", "'time'"},
        {",\"data_base64\":\"not base64!\"", "'data_base64' must be a base64 string"},
        {",\"datacontenttype\":\"json\"", "'datacontenttype' must be a media type"},
        {",\"datacontenttype\":\"a/b c\"", "'datacontenttype'"},
        {",\"dataschema\":\"/relative\"", "'dataschema' must be an absolute URI"},
        {",\"subject\":\"\"", "'subject' must be a non-empty string"},
        {",\"MyExt\":\"x\"", "name 'MyExt' is invalid"},
        {",\"my-ext\":\"x\"", "name 'my-ext' is invalid"},
        {",\"my_ext\":\"x\"", "name 'my_ext' is invalid"},
        {",\"abcdefghij0123456789x\":\"x\"", "is invalid: names are 1 to 20"},
        {",\"ext\":[1]", "'ext' must be a string, a boolean or a 32-bit integer"},
        {",\"ext\":2147483648", "'ext' must be"},
        {",\"ext\":1.5", "'ext' must be"},
        {",\"id\":\"\"", "'id' must be a non-empty string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(ce_check(bad[i][0], &err), -1);
        if (!strstr(err.msg, bad[i][1])) print_error("%s: %s\n", bad[i][0], err.msg);
        assert_non_null(strstr(err.msg, bad[i][1]));
        assert_int_equal(err.code, EVK_INVALID);
    }
    json_t *noid = json_pack("{s:s, s:s, s:s}", "specversion", "1.0", "source", "s", "type", "t");
    assert_int_equal(cloudevent_check(noid, &err), -1);
    assert_non_null(strstr(err.msg, "'id' is required"));
    json_decref(noid);
}

/* Every finite double survives json_text and reads back bit for bit, in
 * no more characters than needed (random bit patterns, a fixed seed). */
static void test_json_numbers_round_trip(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) continue;
        json_t *arr = json_pack("[f, s]", d, "1.5e3 \"0.1\"");
        char *text = json_text(arr, JSON_COMPACT);
        json_error_t je;
        json_t *back = json_loads(text, 0, &je);
        if (!back) print_error("%s: %s\n", text, je.text);
        assert_non_null(back);
        double r = json_real_value(json_array_get(back, 0));
        if (memcmp(&r, &d, sizeof d) != 0) print_error("%.17g -> %s\n", d, text);
        assert_memory_equal(&r, &d, sizeof d);
        assert_string_equal(json_string_value(json_array_get(back, 1)), "1.5e3 \"0.1\"");
        char one[48];
        json_real_text(d, one, sizeof one);
        size_t digits = strspn(one + (one[0] == '-'), "0123456789.");
        assert_true(digits <= 24); /* 17 digits, a point, zeros of fixed notation */
        json_decref(back);
        json_decref(arr);
        free(text);
    }
}

/* A ring that wraps and then grows keeps its elements in order. */
static void test_ring_grow(void **state)
{
    (void)state;
    int *q = NULL;
    size_t cap = 0, head = 0, len = 0;
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 3; k++) { /* three in, two out: wraps, then fills */
            RING_GROW(q, cap, head, len);
            q[(head + len++) % cap] = next_in++;
        }
        for (int k = 0; k < 2; k++) {
            assert_int_equal(q[head], next_out++);
            head = (head + 1) % cap;
            len--;
        }
    }
    assert_int_equal(len, 200);
    assert_true(cap >= 200 && cap <= 512);
    while (len) {
        assert_int_equal(q[head], next_out++);
        head = (head + 1) % cap;
        len--;
    }
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_ring_grow),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_json_path),
        cmocka_unit_test(test_json_numbers_as_published),
        cmocka_unit_test(test_json_text_as_jansson),
        cmocka_unit_test(test_json_nesting_limit),
        cmocka_unit_test(test_json_kept_numbers),
        cmocka_unit_test(test_json_kept_not_forged),
        cmocka_unit_test(test_json_numbers_round_trip),
        cmocka_unit_test(test_cloudevent_attributes),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
