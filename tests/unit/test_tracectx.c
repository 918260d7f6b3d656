/* tracectx: W3C traceparent parsing, new traces and child spans. */
#include "testutil.h"

#include "core/tracectx.h"

static void test_parse(void **state)
{
    (void)state;
    tracectx t;
    assert_true(tracectx_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t));
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.span_id, "00f067aa0ba902b7");
    assert_string_equal(t.flags, "01");
    assert_true(tracectx_parse("  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ", &t));
    /* A later version may add fields; version 00 may not. */
    assert_true(tracectx_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", &t));
    assert_false(tracectx_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", &t));
    const char *bad[] = {
        "", "garbage", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", NULL};
    for (int i = 0; bad[i]; i++)
        if (tracectx_parse(bad[i], &t)) fail_msg("'%s' parsed", bad[i]);
    assert_false(tracectx_parse(NULL, &t));
}

static void test_child_and_format(void **state)
{
    (void)state;
    tracectx p, c, n;
    assert_true(tracectx_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &p));
    tracectx_child(&p, &c);
    assert_string_equal(c.trace_id, p.trace_id);
    assert_string_not_equal(c.span_id, p.span_id);
    assert_string_equal(c.flags, "00");   /* the caller's sampling decision stays */
    char s[TRACEPARENT_LEN + 1];
    tracectx_format(&c, s);
    assert_int_equal(strlen(s), TRACEPARENT_LEN);
    tracectx back;
    assert_true(tracectx_parse(s, &back));
    assert_string_equal(back.span_id, c.span_id);
    tracectx_child(NULL, &n);
    assert_string_not_equal(n.trace_id, p.trace_id);
    assert_string_equal(n.flags, "01");
    tracectx_format(&n, s);
    assert_true(tracectx_parse(s, &back));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_child_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
