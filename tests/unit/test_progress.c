/* progress: the line it draws (bar, counts, rate, ETA, fitting the width)
 * and that it stays silent when its stream is not a terminal. */
#include "testutil.h"

#include "cli/progress.h"

static void test_format_known_total(void **state)
{
    (void)state;
    char buf[256];
    progress_format(buf, sizeof buf, "replaying", 50, 100, 2.0, 80);
    /* 50 in 2 s: 25/s, 50 left: 2 s. */
    assert_non_null(strstr(buf, "replaying ["));
    assert_non_null(strstr(buf, "] 50/100  50%  25.0/s  ETA 0:02"));
    const char *open = strchr(buf, '['), *close = strchr(buf, ']');
    int width = (int)(close - open - 1), hashes = 0;
    for (const char *p = open + 1; p < close; p++) hashes += *p == '#';
    assert_int_equal(hashes, width / 2);
    assert_true(strlen(buf) <= 79);

    progress_format(buf, sizeof buf, "replaying", 100, 100, 4.0, 80);
    assert_non_null(strstr(buf, "100/100 100%  25.0/s  in 0:04"));
    assert_null(strchr(buf, '-'));
    /* More than the total (work added meanwhile) never passes 100%. */
    progress_format(buf, sizeof buf, "x", 150, 100, 1.0, 80);
    assert_non_null(strstr(buf, "100/100 100%"));
    /* Nothing done yet: no rate, no ETA guess. */
    progress_format(buf, sizeof buf, "x", 0, 100, 0.0, 80);
    assert_non_null(strstr(buf, "0/100   0%  0.0/s  ETA --:--"));
    progress_format(buf, sizeof buf, "x", 1, 100000, 1.0, 80);
    assert_non_null(strstr(buf, "ETA 27:46:39"));
}

static void test_format_narrow_and_unknown(void **state)
{
    (void)state;
    char buf[256];
    /* Too narrow for a bar: the figures alone. */
    progress_format(buf, sizeof buf, "replaying dead letters", 5, 10, 1.0, 40);
    assert_null(strchr(buf, '['));
    assert_non_null(strstr(buf, "replaying dead letters 5/10  50%"));
    progress_format(buf, sizeof buf, "onboarding", 42, 0, 2.0, 80);
    assert_string_equal(buf, "onboarding 42  21.0/s");
    /* A wide terminal gets at most a 40-column bar. */
    progress_format(buf, sizeof buf, "x", 1, 2, 1.0, 300);
    const char *open = strchr(buf, '['), *close = strchr(buf, ']');
    assert_int_equal((int)(close - open - 1), 40);
}

static void test_silent_without_terminal(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    progress_t *p = progress_start_on(f, "replaying", 3);
    assert_false(progress_active(p));
    progress_add(p, 1);
    progress_set(p, 3);
    cli_progress_cb(p, 3, 3);
    progress_finish(p);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    /* NULL is accepted everywhere, so callers need no checks. */
    progress_add(NULL, 1);
    progress_set_total(NULL, 1);
    progress_finish(NULL);
    assert_false(progress_active(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_total),
        cmocka_unit_test(test_format_narrow_and_unknown),
        cmocka_unit_test(test_silent_without_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
