/* test_ratelimit: http/ratelimit.c, the publishing rate limit, and the
 * rate settings it is built from. */
#include "testutil.h"

#include "config.h"
#include "http/ratelimit.h"

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

/* Peeking takes nothing; the table keeps at most RATELIMIT_KEYS callers,
 * dropping full buckets first, so rotating addresses cannot grow it. */
static void test_ratelimit_peek_and_bound(void **state)
{
    (void)state;
    ratelimit_t *r = ratelimit_new(1, 2);
    int64_t t = 5000;
    assert_int_equal(ratelimit_peek(r, 1, t), 0);
    assert_int_equal(ratelimit_take(r, 1, t), 0);
    assert_int_equal(ratelimit_take(r, 1, t), 0);
    assert_true(ratelimit_peek(r, 1, t) > 0);
    assert_true(ratelimit_peek(r, 1, t) > 0); /* still: a peek takes nothing */
    assert_int_equal(ratelimit_peek(r, 1, t + 1000), 0);
    for (uint64_t k = 100; k < 100 + 3 * RATELIMIT_KEYS; k++) {
        ratelimit_take(r, k, t);
        ratelimit_take(r, k, t);
    }
    /* The stalest callers went; the newest is still limited. */
    assert_true(ratelimit_peek(r, 100 + 3 * RATELIMIT_KEYS - 1, t) > 0);
    ratelimit_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_ratelimit_peek_and_bound),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
