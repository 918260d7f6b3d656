/* test_door: http/door.c's screen of a request's raw head (NUL bytes,
 * Content-Length framing, header names, incomplete and oversized heads). */
#include "testutil.h"

#include "http/door.h"

static screen_verdict screen(const char *s, size_t n, screen_result *r)
{
    return door_screen(s, n, r);
}
#define SCREEN(lit, r) screen(lit, sizeof lit - 1, r)

static void test_screen_ok(void **state)
{
    (void)state;
    screen_result r;
    assert_int_equal(SCREEN("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), SCREEN_OK);
    assert_int_equal(r.head_len, 27);
    /* Bare LF line ends, leading empty lines, a body after the head. */
    assert_int_equal(SCREEN("\r\nGET / HTTP/1.1\nHost: x\n\nbody", &r), SCREEN_OK);
    assert_int_equal(r.head_len, 26);
    assert_int_equal(SCREEN("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
                            "content-length:5 \r\n\r\nhello", &r), SCREEN_OK);
    assert_int_equal(SCREEN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), SCREEN_OK);
    /* A folded line is the header before it, not a name of its own. */
    assert_int_equal(SCREEN("GET / HTTP/1.1\r\nX-A: a\r\n  b c\r\n\r\n", &r), SCREEN_OK);
    /* NUL bytes in a body are the body's business. */
    assert_int_equal(SCREEN("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na\0b", &r), SCREEN_OK);
}

static void test_screen_more(void **state)
{
    (void)state;
    screen_result r;
    assert_int_equal(SCREEN("", &r), SCREEN_MORE);
    assert_int_equal(SCREEN("GET / HTTP/1.1\r\nHost: x\r\n", &r), SCREEN_MORE);
    assert_int_equal(SCREEN("GET / HTTP/1.1\r\nHost: x\r\n\r", &r), SCREEN_MORE);
    char big[DOOR_MAX_HEAD];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    assert_int_equal(screen(big, sizeof big, &r), SCREEN_BAD);
    assert_int_equal(r.status, 431);
}

static void test_screen_bad(void **state)
{
    (void)state;
    screen_result r;
    static const struct {
        const char *head;
        size_t len;
        const char *why;
    } cases[] = {
#define C(lit, why) {lit, sizeof lit - 1, why}
        C("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", "NUL byte"),
        C("GET /a\0b HTTP/1.1\r\n\r\n", "NUL byte"),
        C("GET / HTTP/1.1\r\nX-A: a\0", "NUL byte"), /* refused before the head ends */
        C("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "'-5' is not a number"),
        C("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", "'+5'"),
        C("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", "'5, 5'"),
        C("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", "'' is not"),
        C("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", "not a number"),
        C("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n", "conflicting"),
        C("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "together"),
        C("POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", "white space"),
        C("GET / HTTP/1.1\r\nno colon here\r\n\r\n", "no ':'"),
        C("POST / HTTP/1.1\r\nContent-Length: 1\"\\\x01\r\n\r\n", "'1??\?' is not"),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(screen(cases[i].head, cases[i].len, &r), SCREEN_BAD);
        assert_int_equal(r.status, 400);
        if (!strstr(r.why, cases[i].why)) fail_msg("case %zu: '%s' lacks '%s'", i, r.why, cases[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_screen_ok),
        cmocka_unit_test(test_screen_more),
        cmocka_unit_test(test_screen_bad),
    };
    return cmocka_run_group_tests_name("door", tests, NULL, NULL);
}
