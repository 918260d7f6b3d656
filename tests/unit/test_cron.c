/* cron: parsing (what is refused and why), next fire times across minute,
 * hour, day, month, year and leap-year boundaries, the two day fields, and
 * ISO 8601 dates. Expected times are written out as dates, not computed. */
#include "testutil.h"

#include "core/cron.h"
#include "core/util.h"

static int64_t at(const char *iso)
{
    int64_t ms = -1;
    assert_int_equal(time_parse_iso(iso, &ms), 0);
    return ms;
}

/* The next fire of expr after `after`, as ISO text. */
static void expect_next(const char *expr, const char *after, const char *want)
{
    cron_t c;
    char why[256] = "";
    if (cron_parse(expr, &c, why, sizeof why) != 0) fail_msg("'%s' refused: %s", expr, why);
    int64_t next = cron_next(&c, at(after));
    char got[32];
    if (next == INT64_MAX) snprintf(got, sizeof got, "never");
    else time_iso(next, got, sizeof got);
    if (strcmp(got, want)) fail_msg("'%s' after %s: got %s, want %s", expr, after, got, want);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "* * * *", "* * * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
        "* * * 13 *", "* * * 0 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/61 * * * *",
        "a * * * *", "1,,2 * * * *", ",1 * * * *", "1, * * * *", "1- * * * *", "-1 * * * *",
        "* * * FOO *", "* * * * MONDAY", "1/ * * * *", "1.5 * * * *", "61 * * * * *",
        "99999999999999999999 * * * *", NULL};
    for (int i = 0; bad[i]; i++) {
        cron_t c;
        char why[256] = "";
        if (cron_parse(bad[i], &c, why, sizeof why) == 0) fail_msg("'%s' was accepted", bad[i]);
        assert_true(strlen(why) > 0);
    }
    cron_t c;
    char why[256];
    assert_int_equal(cron_parse("* 25 * * *", &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "hours field"));
    assert_non_null(strstr(why, "'25'"));
    assert_int_equal(cron_parse("* * * * * * *", &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "5 fields"));
}

static void test_accepted_forms(void **state)
{
    (void)state;
    cron_t c;
    char why[256];
    assert_int_equal(cron_parse("0 12 * * *", &c, why, sizeof why), 0);
    assert_false(c.has_seconds);
    assert_int_equal(c.seconds, 1);
    assert_int_equal(cron_parse("*/5 * * * * *", &c, why, sizeof why), 0);
    assert_true(c.has_seconds);
    assert_int_equal(__builtin_popcountll(c.seconds), 12);
    assert_int_equal(cron_parse("  0   0  1,15  jan-MAR  mon-fri  ", &c, why, sizeof why), 0);
    assert_int_equal(c.months, (1 << 1) | (1 << 2) | (1 << 3));
    assert_int_equal(c.wdays, 0x3e);
    assert_int_equal(cron_parse("0 0 ? * 7", &c, why, sizeof why), 0);
    assert_int_equal(c.wdays, 1); /* 7 is Sunday */
    assert_int_equal(cron_parse("10/20 * * * *", &c, why, sizeof why), 0);
    assert_int_equal(c.minutes, (1ULL << 10) | (1ULL << 30) | (1ULL << 50));
    assert_int_equal(cron_parse("1-10/3,59 * * * *", &c, why, sizeof why), 0);
    assert_int_equal(c.minutes, (1ULL << 1) | (1ULL << 4) | (1ULL << 7) | (1ULL << 10) | (1ULL << 59));
}

static void test_next_simple(void **state)
{
    (void)state;
    expect_next("* * * * *", "2026-12-06T10:00:00Z", "2026-12-06T10:01:00.000Z");
    expect_next("* * * * *", "2026-12-06T10:00:59.999Z", "2026-12-06T10:01:00.000Z");
    expect_next("* * * * * *", "2026-12-06T10:00:00.500Z", "2026-12-06T10:00:01.000Z");
    expect_next("*/2 * * * * *", "2026-12-06T10:00:01Z", "2026-12-06T10:00:02.000Z");
    expect_next("*/2 * * * * *", "2026-12-06T10:00:02Z", "2026-12-06T10:00:04.000Z");
    expect_next("30 * * * * *", "2026-12-06T10:00:30Z", "2026-12-06T10:01:30.000Z");
    expect_next("15 10 * * *", "2026-12-06T10:14:59Z", "2026-12-06T10:15:00.000Z");
    expect_next("15 10 * * *", "2026-12-06T10:15:00Z", "2026-12-07T10:15:00.000Z");
    expect_next("0 * * * *", "2026-12-06T23:30:00Z", "2026-12-07T00:00:00.000Z");
}

static void test_next_calendar(void **state)
{
    (void)state;
    /* Year end. */
    expect_next("0 0 1 1 *", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00.000Z");
    /* Month lengths: the 31st skips months without one. */
    expect_next("0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00.000Z");
    /* February 29th: the next leap year. */
    expect_next("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00.000Z");
    /* Never: February 30th. */
    expect_next("0 0 30 2 *", "2026-01-01T00:00:00Z", "never");
    /* Day of week: 2026-12-06 is a Sunday. */
    expect_next("0 9 * * MON", "2026-12-06T12:00:00Z", "2026-12-07T09:00:00.000Z");
    expect_next("0 9 * * 0", "2026-12-06T08:00:00Z", "2026-12-06T09:00:00.000Z");
    expect_next("0 9 * * 7", "2026-12-06T10:00:00Z", "2026-12-13T09:00:00.000Z");
    /* Both day fields restricted: either matches (the 13th, or a Friday). */
    expect_next("0 0 13 * FRI", "2026-12-06T00:00:00Z", "2026-12-11T00:00:00.000Z");
    expect_next("0 0 13 * FRI", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00.000Z");
    /* One starting with '*': both must match (a Friday on an odd day). */
    expect_next("0 0 */2 * FRI", "2026-12-06T00:00:00Z", "2026-12-11T00:00:00.000Z");
    expect_next("0 0 */2 * FRI", "2026-12-11T00:00:00Z", "2026-12-25T00:00:00.000Z");
    /* Hours and minutes lists, month names. */
    expect_next("30 8,17 * * *", "2026-12-06T08:30:00Z", "2026-12-06T17:30:00.000Z");
    expect_next("0 0 1 jun *", "2026-12-06T00:00:00Z", "2027-06-01T00:00:00.000Z");
}

static void test_iso(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(time_parse_iso("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(time_parse_iso("2026-12-06T10:00:00.250Z", &ms), 0);
    assert_int_equal(ms, 1796551200250LL);
    assert_int_equal(time_parse_iso("2026-12-06T11:00:00+01:00", &ms), 0);
    assert_int_equal(ms, 1796551200000LL);
    assert_int_equal(time_parse_iso("2026-12-06T09:30:00-0030", &ms), 0);
    assert_int_equal(ms, 1796551200000LL);
    assert_int_equal(time_parse_iso("2026-12-06", &ms), 0);
    assert_int_equal(ms, 1796515200000LL);
    assert_int_equal(time_parse_iso("2026-12-06T10:00Z", &ms), 0);
    assert_int_equal(ms, 1796551200000LL);
    static const char *const bad[] = {"", "2026", "2026-13-01", "2026-02-30", "2026-12-06T25:00Z",
                                      "2026-12-06T10:00:00Zjunk", "2026-12-06X", "tomorrow",
                                      "2026-12-06T10:00:00.Z", "1969-12-31", NULL};
    for (int i = 0; bad[i]; i++)
        if (time_parse_iso(bad[i], &ms) == 0) fail_msg("'%s' was accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_next_simple),
        cmocka_unit_test(test_next_calendar),
        cmocka_unit_test(test_iso),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
