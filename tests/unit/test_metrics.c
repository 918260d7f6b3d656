/* metrics: the text format (HELP/TYPE, escaping, number forms), histogram
 * buckets, the cap that folds label sets into "other", HTTP route names, and
 * lock-free recording from many threads at once. */
#include "testutil.h"

#include <pthread.h>

#include "metrics/metrics.h"

static void test_render_counter_gauge(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    metric *c = metrics_counter(r, "t_events_total", "Events seen.", "provider,type", 10);
    metric *g = metrics_gauge(r, "t_backlog", "Backlog now.", "", 1);
    metric_add(c, METRIC_LABELS("p2", "b"), 1);
    metric_add(c, METRIC_LABELS("p1", "z"), 2);
    metric_add(c, METRIC_LABELS("p1", "a"), 1);
    metric_add(c, METRIC_LABELS("p1", "a"), 0.5);
    metric_add(c, METRIC_LABELS("p1", "a"), -7); /* counters never go down */
    metric_set(g, NULL, 42);
    char *text = metrics_render(r, NULL);
    assert_string_equal(text,
                        "# HELP t_events_total Events seen.\n"
                        "# TYPE t_events_total counter\n"
                        "t_events_total{provider=\"p1\",type=\"a\"} 1.5\n"
                        "t_events_total{provider=\"p1\",type=\"z\"} 2\n"
                        "t_events_total{provider=\"p2\",type=\"b\"} 1\n"
                        "# HELP t_backlog Backlog now.\n"
                        "# TYPE t_backlog gauge\n"
                        "t_backlog 42\n");
    free(text);
    assert_true(metric_value(c, METRIC_LABELS("p1", "a")) == 1.5);
    assert_true(metric_value(c, METRIC_LABELS("nope", "a")) == 0);
    metric_set(g, NULL, -0.25);
    text = metrics_render(r, NULL);
    assert_non_null(strstr(text, "\nt_backlog -0.25\n"));
    free(text);
    metrics_registry_free(r);
}

static void test_escaping(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    metric *c = metrics_counter(r, "t_x_total", "Help with \\ backslash\nand newline \"quoted\".",
                                "v", 10);
    metric_add(c, METRIC_LABELS("a\"b\\c\nd"), 1);
    char *text = metrics_render(r, NULL);
    /* HELP escapes backslash and newline only; label values also the quote. */
    assert_non_null(strstr(text, "# HELP t_x_total Help with \\\\ backslash\\nand newline \"quoted\".\n"));
    assert_non_null(strstr(text, "t_x_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
    /* No raw newline sneaks into a sample line. */
    assert_null(strstr(text, "\nd\""));
    free(text);
    metrics_registry_free(r);
}

static void test_histogram(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    const double b[] = {0.001, 0.01, 0.1, 1};
    metric *h = metrics_histogram(r, "t_seconds", "Durations.", "action", b, 4, 10);
    metric_observe(h, METRIC_LABELS("a/x"), 0.0005);
    metric_observe(h, METRIC_LABELS("a/x"), 0.001); /* le is inclusive */
    metric_observe(h, METRIC_LABELS("a/x"), 0.05);
    metric_observe(h, METRIC_LABELS("a/x"), 0.5);
    metric_observe(h, METRIC_LABELS("a/x"), 30);
    char *text = metrics_render(r, NULL);
    assert_string_equal(text,
                        "# HELP t_seconds Durations.\n"
                        "# TYPE t_seconds histogram\n"
                        "t_seconds_bucket{action=\"a/x\",le=\"0.001\"} 2\n"
                        "t_seconds_bucket{action=\"a/x\",le=\"0.01\"} 2\n"
                        "t_seconds_bucket{action=\"a/x\",le=\"0.1\"} 3\n"
                        "t_seconds_bucket{action=\"a/x\",le=\"1\"} 4\n"
                        "t_seconds_bucket{action=\"a/x\",le=\"+Inf\"} 5\n"
                        "t_seconds_sum{action=\"a/x\"} 30.5515\n"
                        "t_seconds_count{action=\"a/x\"} 5\n");
    free(text);
    assert_true(metric_value(h, METRIC_LABELS("a/x")) == 5);
    /* Without labels: only le. */
    metric *h2 = metrics_histogram(r, "t_plain_seconds", "Plain.", NULL, b, 1, 1);
    metric_observe(h2, NULL, 2);
    text = metrics_render(r, NULL);
    assert_non_null(strstr(text, "t_plain_seconds_bucket{le=\"0.001\"} 0\n"
                                 "t_plain_seconds_bucket{le=\"+Inf\"} 1\n"
                                 "t_plain_seconds_sum 2\n"
                                 "t_plain_seconds_count 1\n"));
    free(text);
    metrics_registry_free(r);
}

static void test_cap_folds_into_other(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    metric *c = metrics_counter(r, "t_capped_total", "Capped.", "type", 3);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "type-%03d", i);
        metric_add(c, METRIC_LABELS(name), 1);
    }
    /* Known series keep counting after the cap. */
    metric_add(c, METRIC_LABELS("type-000"), 1);
    char *text = metrics_render(r, NULL);
    assert_non_null(strstr(text, "t_capped_total{type=\"type-000\"} 2\n"));
    assert_non_null(strstr(text, "t_capped_total{type=\"type-002\"} 1\n"));
    assert_null(strstr(text, "type-003"));
    assert_non_null(strstr(text, "t_capped_total{type=\"other\"} 997\n"));
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 2 + 4);
    free(text);
    /* Until something folds, the "other" series stays out of the output. */
    metric *quiet = metrics_counter(r, "t_quiet_total", "Quiet.", "type", 3);
    metric_add(quiet, METRIC_LABELS("a"), 1);
    text = metrics_render(r, NULL);
    assert_null(strstr(text, "t_quiet_total{type=\"other\"}"));
    free(text);
    metrics_registry_free(r);
}

static void test_zero_all(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    metric *g = metrics_gauge(r, "t_g", "G.", "reg", 10);
    metric_set(g, METRIC_LABELS("a"), 5);
    metric_set(g, METRIC_LABELS("b"), 7);
    metric_zero_all(g);
    metric_set(g, METRIC_LABELS("b"), 1);
    assert_true(metric_value(g, METRIC_LABELS("a")) == 0);
    assert_true(metric_value(g, METRIC_LABELS("b")) == 1);
    metrics_registry_free(r);
}

static void test_http_methods(void **state)
{
    (void)state;
    assert_string_equal(metrics_http_method("GET"), "GET");
    assert_string_equal(metrics_http_method("BREW"), "other");
}

typedef struct {
    metric *shared, *own, *hist;
    int id;
} worker_arg;

#define THREADS 8
#define ROUNDS 20000

static void *hammer(void *p)
{
    worker_arg *a = p;
    char mine[16], fresh[32];
    snprintf(mine, sizeof mine, "t%d", a->id);
    for (int i = 0; i < ROUNDS; i++) {
        metric_add(a->shared, METRIC_LABELS("same"), 1);
        metric_add(a->own, METRIC_LABELS(mine), 1);
        metric_observe(a->hist, METRIC_LABELS("same"), (i % 4) * 0.5);
        /* New series appear while others record and a scrape may run. */
        if (i % 100 == 0) {
            snprintf(fresh, sizeof fresh, "n%d", i / 100);
            metric_add(a->shared, METRIC_LABELS(fresh), 1);
        }
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    metric *shared = metrics_counter(r, "t_shared_total", "Shared.", "k", 1000);
    metric *own = metrics_counter(r, "t_own_total", "Own.", "k", 100);
    const double b[] = {0.25, 0.75};
    metric *hist = metrics_histogram(r, "t_h_seconds", "H.", "k", b, 2, 10);
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){shared, own, hist, i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 20; i++) free(metrics_render(r, NULL)); /* scrapes meanwhile */
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    assert_true(metric_value(shared, METRIC_LABELS("same")) == (double)THREADS * ROUNDS);
    for (int i = 0; i < ROUNDS / 100; i++) {
        char fresh[32];
        snprintf(fresh, sizeof fresh, "n%d", i);
        assert_true(metric_value(shared, METRIC_LABELS(fresh)) == THREADS);
    }
    for (int i = 0; i < THREADS; i++) {
        char mine[16];
        snprintf(mine, sizeof mine, "t%d", i);
        assert_true(metric_value(own, METRIC_LABELS(mine)) == ROUNDS);
    }
    assert_true(metric_value(hist, METRIC_LABELS("same")) == (double)THREADS * ROUNDS);
    char *text = metrics_render(r, NULL);
    char want[128];
    /* 0 and 0.5 are <= 0.75; 1 and 1.5 are not. */
    snprintf(want, sizeof want, "t_h_seconds_bucket{k=\"same\",le=\"0.75\"} %d\n", THREADS * ROUNDS / 2);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "t_h_seconds_sum{k=\"same\"} %d\n", THREADS * (ROUNDS / 4) * 3);
    assert_non_null(strstr(text, want));
    free(text);
    metrics_registry_free(r);
}

/* The scrape: the owners' callbacks set the scrape-time gauges, a failing
 * one fails the scrape, a removed one no longer runs. */
static int calls;

static int fill_gauges(void *ctx, err_t *err)
{
    (void)err;
    calls++;
    metrics_set_journal(12, 34, 4096);
    metrics_reset_registrations();
    if (ctx) metrics_set_registration(ctx, 5, 2, 1, 2 /* REG_DISABLED */);
    return 0;
}

static int failing(void *ctx, err_t *err)
{
    (void)ctx;
    return err_set(err, "store is gone");
}

static void test_scrape_callbacks(void **state)
{
    (void)state;
    char *text = NULL;
    err_t err;
    char reg[] = "orders";
    assert_int_equal(metrics_on_scrape(fill_gauges, reg), 0);
    assert_int_equal(metrics_scrape(&text, NULL, &err), 0);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(text, "evkit_journal_events 12\n"));
    assert_non_null(strstr(text, "evkit_journal_last_position 34\n"));
    assert_non_null(strstr(text, "evkit_store_size_bytes 4096\n"));
    assert_non_null(strstr(text, "evkit_delivery_backlog{registration=\"orders\"} 5\n"));
    assert_non_null(strstr(text, "evkit_delivery_parked{registration=\"orders\"} 2\n"));
    assert_non_null(strstr(text, "evkit_deadletters{registration=\"orders\"} 1\n"));
    assert_non_null(strstr(text, "evkit_registration_state{registration=\"orders\",state=\"DISABLED\"} 1\n"));
    assert_non_null(strstr(text, "evkit_registration_state{registration=\"orders\",state=\"ACTIVE\"} 0\n"));
    free(text);

    assert_int_equal(metrics_on_scrape(failing, NULL), 0);
    assert_int_equal(metrics_scrape(&text, NULL, &err), -1);
    assert_null(text);
    assert_string_equal(err.msg, "store is gone");
    metrics_off_scrape(failing, NULL);

    /* The registration went away: its gauges read 0, not a stale value. */
    metrics_off_scrape(fill_gauges, reg);
    assert_int_equal(metrics_on_scrape(fill_gauges, NULL), 0);
    assert_int_equal(metrics_scrape(&text, NULL, &err), 0);
    assert_non_null(strstr(text, "evkit_delivery_backlog{registration=\"orders\"} 0\n"));
    free(text);
    metrics_off_scrape(fill_gauges, NULL);
    int before = calls;
    assert_int_equal(metrics_scrape(&text, NULL, &err), 0);
    free(text);
    assert_int_equal(calls, before);
}

/* A delivery finishes while a scrape reads the backlog: its success is
 * counted after its commit. The counters are read before the gauges, so
 * the scrape never shows the success counted and the delivery still in the
 * backlog (counted + backlog is never more than the deliveries there were). */
static int pending = 1;

static int backlog_then_commit(void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    metrics_reset_registrations();
    metrics_set_registration("race", pending, 0, 0, 0);
    /* The recorder thread commits and counts right after the read. */
    pending--;
    metrics_delivery_attempt("race", 0 /* DONE */, 1);
    return 0;
}

static void test_scrape_counts_before_gauges(void **state)
{
    (void)state;
    char *text = NULL;
    err_t err;
    assert_int_equal(metrics_on_scrape(backlog_then_commit, NULL), 0);
    assert_int_equal(metrics_scrape(&text, NULL, &err), 0);
    metrics_off_scrape(backlog_then_commit, NULL);
    assert_non_null(strstr(text, "evkit_delivery_backlog{registration=\"race\"} 1\n"));
    assert_null(strstr(text, "evkit_deliveries_total{registration=\"race\",outcome=\"success\"}"));
    /* Counter families come before the gauges in a scrape. */
    assert_true(strstr(text, "# TYPE evkit_deliveries_total") < strstr(text, "# TYPE evkit_delivery_backlog"));
    free(text);
    /* The next scrape shows the success and an empty backlog. */
    pending = 0;
    assert_int_equal(metrics_on_scrape(backlog_then_commit, NULL), 0);
    assert_int_equal(metrics_scrape(&text, NULL, &err), 0);
    metrics_off_scrape(backlog_then_commit, NULL);
    assert_non_null(strstr(text, "evkit_delivery_backlog{registration=\"race\"} 0\n"));
    assert_non_null(strstr(text, "evkit_deliveries_total{registration=\"race\",outcome=\"success\"} 1\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_counter_gauge),
        cmocka_unit_test(test_scrape_counts_before_gauges),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_cap_folds_into_other),
        cmocka_unit_test(test_zero_all),
        cmocka_unit_test(test_http_methods),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_scrape_callbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
