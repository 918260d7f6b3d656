/* test_delivery: delivery/delivery.c's decisions: what is retried (for
 * actions and webhook statuses), outcomes, the schedule, health, params. */
#include "testutil.h"

#include "delivery/delivery.h"
#include "store/store.h"

static delivery_verdict classify(const char *result, act_status st, bool timed_out, int *code)
{
    invoke_result r = {.status = st, .timed_out = timed_out};
    r.result = json_loads(result, 0, NULL);
    delivery_verdict v = delivery_classify(&r, code);
    json_decref(r.result);
    return v;
}

static void test_classify(void **state)
{
    (void)state;
    int code;
    assert_int_equal(classify("{}", ACT_SUCCESS, false, &code), VERDICT_SUCCESS);
    assert_int_equal(code, 200);
    assert_int_equal(classify("{\"statusCode\":204}", ACT_SUCCESS, false, &code), VERDICT_SUCCESS);
    assert_int_equal(classify("{\"statusCode\":500}", ACT_SUCCESS, false, &code), VERDICT_RETRY);
    assert_int_equal(classify("{\"statusCode\":503}", ACT_SUCCESS, false, &code), VERDICT_RETRY);
    assert_int_equal(classify("{\"statusCode\":429}", ACT_SUCCESS, false, &code), VERDICT_RETRY);
    assert_int_equal(classify("{\"statusCode\":505}", ACT_SUCCESS, false, &code), VERDICT_FINAL);
    assert_int_equal(classify("{\"statusCode\":400}", ACT_SUCCESS, false, &code), VERDICT_FINAL);
    assert_int_equal(classify("{\"statusCode\":404}", ACT_SUCCESS, false, &code), VERDICT_FINAL);
    assert_int_equal(code, 404);
    assert_int_equal(classify("{\"error\":{\"statusCode\":400,\"body\":{\"error\":\"x\"}}}", ACT_APP_ERROR, false, &code), VERDICT_FINAL);
    assert_int_equal(classify("{\"error\":{\"statusCode\":500,\"body\":{\"error\":\"x\"}}}", ACT_APP_ERROR, false, &code), VERDICT_RETRY);
    assert_int_equal(classify("{\"error\":\"bare\"}", ACT_APP_ERROR, false, &code), VERDICT_RETRY);
    assert_int_equal(code, 500);
    assert_int_equal(classify("{\"error\":\"t\"}", ACT_DEV_ERROR, true, &code), VERDICT_RETRY);
    assert_int_equal(code, 604);
    assert_int_equal(classify("{\"error\":\"crash\"}", ACT_DEV_ERROR, false, &code), VERDICT_RETRY);
    assert_int_equal(code, 601);
    assert_int_equal(classify("{\"error\":\"x\"}", ACT_INTERNAL_ERROR, false, &code), VERDICT_RETRY);
    assert_int_equal(code, 601);
    invoke_result r = {.status = ACT_DEV_ERROR, .not_started = true};
    r.result = json_pack("{s:s}", "error", "The action file x does not exist.");
    assert_int_equal(delivery_classify(&r, &code), VERDICT_RETRY);
    assert_int_equal(code, 602);
    json_decref(r.result);
    /* Params the runtime can never take: the event's fault, not the target's. */
    invoke_result poison = {.status = ACT_DEV_ERROR, .bad_input = true};
    poison.result = json_pack("{s:s}", "error", "the params nest deeper than 72 levels");
    assert_int_equal(delivery_classify(&poison, &code), VERDICT_UNDELIVERABLE);
    assert_int_equal(code, DELIVERY_STATUS_UNDELIVERABLE);
    json_decref(poison.result);
}

static void test_schedule(void **state)
{
    (void)state;
    registration_t r;
    memset(&r, 0, sizeof r);
    registration_default_retry(&r);
    assert_int_equal(delivery_retry_delay(&r, 1, 0), 60000);
    assert_int_equal(delivery_retry_delay(&r, 2, 0), 120000);
    assert_int_equal(delivery_retry_delay(&r, 3, 0), 240000);
    assert_int_equal(delivery_retry_delay(&r, 4, 0), 480000);
    assert_int_equal(delivery_retry_delay(&r, 5, 0), 900000);
    assert_int_equal(delivery_retry_delay(&r, 40, 0), 900000);
    assert_int_equal(r.retry_max_age_ms, 24LL * 3600 * 1000);
    /* jitter adds at most jitter_pct percent */
    int64_t j = delivery_retry_delay(&r, 1, 1.0);
    assert_true(j > 60000 && j <= 60000 + 60000 * r.retry_jitter_pct / 100);
    free(r.retry_schedule_ms);

    int64_t sched[] = {10, 20};
    r.retry_schedule_ms = sched;
    r.nretry = 2;
    r.retry_jitter_pct = 0;
    assert_int_equal(delivery_retry_delay(&r, 1, 0.7), 10);
    assert_int_equal(delivery_retry_delay(&r, 2, 0.7), 20);
    assert_int_equal(delivery_retry_delay(&r, 9, 0.7), 20);
}

static void test_health(void **state)
{
    (void)state;
    assert_int_equal(delivery_health(0, 0, 0), REG_ACTIVE);
    assert_int_equal(delivery_health(9, 9, 0), REG_UNSTABLE);
    assert_int_equal(delivery_health(10, 8, 0), REG_DISABLED);
    assert_int_equal(delivery_health(10, 7, 0), REG_ACTIVE);
    assert_int_equal(delivery_health(100, 79, 0), REG_ACTIVE);
    assert_int_equal(delivery_health(100, 80, 0), REG_DISABLED);
    assert_int_equal(delivery_health(2, 2, 2), REG_ACTIVE);
    assert_int_equal(delivery_health(5, 3, 3), REG_UNSTABLE);
}

static void test_params(void **state)
{
    (void)state;
    action_t a;
    memset(&a, 0, sizeof a);
    a.inputs = json_pack("{s:s, s:s}", "LOG_LEVEL", "debug", "type", "input");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", "e1", "type", "t.x", "source",
                           "urn:uuid:1", "data", "sku", "S1");
    json_t *p = delivery_params(&a, ev, 1);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "t.x");
    assert_string_equal(json_string_value(json_object_get(p, "eventid")), "e1");
    assert_string_equal(json_string_value(json_object_get(p, "LOG_LEVEL")), "debug");
    json_decref(p);
    a.final = true;
    p = delivery_params(&a, ev, 1);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "input");
    json_decref(p);
    json_decref(ev);
    json_decref(a.inputs);
}

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
    assert_int_equal(delivery_classify_status(DELIVERY_STATUS_CONNECT), VERDICT_RETRY);
    assert_int_equal(delivery_classify_status(DELIVERY_STATUS_TIMEOUT), VERDICT_RETRY);
    assert_int_equal(delivery_classify_status(DELIVERY_STATUS_TLS), VERDICT_RETRY);
    /* What the store records for a deleted registration's work is final. */
    assert_int_equal(delivery_classify_status(STORE_STATUS_REGISTRATION_GONE), VERDICT_FINAL);
}

static void test_outcome(void **state)
{
    (void)state;
    registration_t reg = {0};
    registration_default_retry(&reg);
    int64_t next;
    assert_int_equal(delivery_outcome(&reg, VERDICT_SUCCESS, 1, 1000, 2000, 0, &next), DELIVERY_DONE);
    assert_int_equal(delivery_outcome(&reg, VERDICT_FINAL, 1, 1000, 2000, 0, &next), DELIVERY_FAILED);
    assert_int_equal(delivery_outcome(&reg, VERDICT_UNDELIVERABLE, 1, 1000, 2000, 0, &next),
                     DELIVERY_UNDELIVERABLE);
    assert_int_equal(delivery_outcome(&reg, VERDICT_RETRY, 1, 1000, 2000, 0, &next), DELIVERY_RETRY);
    assert_int_equal(next, 2000 + 60000);
    /* A retry that would fall past max_age is a dead letter. */
    int64_t day = 24LL * 3600 * 1000;
    assert_int_equal(delivery_outcome(&reg, VERDICT_RETRY, 40, 1000, 1000 + day - 60000, 0, &next),
                     DELIVERY_DEAD);
    free(reg.retry_schedule_ms);
}

/* Retry-After: seconds or an HTTP-date, used within the schedule's bounds. */
static void test_retry_after(void **state)
{
    (void)state;
    int64_t now = 1765000000000LL;  /* 2025-12-06T05:46:40Z */
    assert_int_equal(delivery_retry_after("120", now), 120000);
    assert_int_equal(delivery_retry_after(" 0 ", now), 0);
    assert_int_equal(delivery_retry_after("Sat, 06 Dec 2025 05:47:10 GMT", now), 30000);
    assert_int_equal(delivery_retry_after("Sat, 06 Dec 2025 05:40:00 GMT", now), 0);
    assert_int_equal(delivery_retry_after("soon", now), -1);
    assert_int_equal(delivery_retry_after("12s", now), -1);
    assert_int_equal(delivery_retry_after("-5", now), -1);
    assert_int_equal(delivery_retry_after(NULL, now), -1);

    registration_t reg = {0};
    registration_default_retry(&reg);   /* 1, 2, 4, 8, 15 min; 24 h */
    reg.retry_jitter_pct = 0;
    int64_t next;
    /* 503 with 5 min: honoured instead of the schedule's 1 min. */
    assert_int_equal(delivery_outcome_hint(&reg, VERDICT_RETRY, 503, 1, 0, 1000, 0, 300000, &next),
                     DELIVERY_RETRY);
    assert_int_equal(next, 1000 + 300000);
    /* Bounded: at least the smallest delay, at most the largest. */
    delivery_outcome_hint(&reg, VERDICT_RETRY, 429, 1, 0, 1000, 0, 1000, &next);
    assert_int_equal(next, 1000 + 60000);
    delivery_outcome_hint(&reg, VERDICT_RETRY, 429, 1, 0, 1000, 0, 86400000, &next);
    assert_int_equal(next, 1000 + 15 * 60000);
    /* Other statuses, or none given: the schedule. */
    delivery_outcome_hint(&reg, VERDICT_RETRY, 500, 2, 0, 1000, 0, 300000, &next);
    assert_int_equal(next, 1000 + 120000);
    delivery_outcome_hint(&reg, VERDICT_RETRY, 503, 2, 0, 1000, 0, -1, &next);
    assert_int_equal(next, 1000 + 120000);
    /* Past max_age: a dead letter all the same. */
    int64_t day = 24LL * 3600 * 1000;
    assert_int_equal(delivery_outcome_hint(&reg, VERDICT_RETRY, 503, 3, 0, day - 120000, 0, 600000,
                                           &next), DELIVERY_DEAD);
    /* A success stays one. */
    assert_int_equal(delivery_outcome_hint(&reg, VERDICT_SUCCESS, 200, 1, 0, 1000, 0, 5000, &next),
                     DELIVERY_DONE);
    free(reg.retry_schedule_ms);
}

static void test_bucket(void **state)
{
    (void)state;
    delivery_bucket b = {0};
    int64_t wait = 0, t = 10000;
    /* 2 per second: a burst of 2, then one per 500 ms. */
    assert_true(delivery_bucket_take(&b, 2, 1000, t, &wait));
    assert_true(delivery_bucket_take(&b, 2, 1000, t, &wait));
    assert_false(delivery_bucket_take(&b, 2, 1000, t, &wait));
    assert_true(wait >= 499 && wait <= 501);
    assert_false(delivery_bucket_take(&b, 2, 1000, t + 400, &wait));
    assert_true(wait >= 99 && wait <= 101);
    assert_true(delivery_bucket_take(&b, 2, 1000, t + 500, &wait));
    assert_false(delivery_bucket_take(&b, 2, 1000, t + 500, NULL));
    /* Never more than the burst, however long it rested. */
    assert_true(delivery_bucket_take(&b, 2, 1000, t + 100000, NULL));
    assert_true(delivery_bucket_take(&b, 2, 1000, t + 100000, NULL));
    assert_false(delivery_bucket_take(&b, 2, 1000, t + 100000, NULL));
    /* No limit. */
    assert_true(delivery_bucket_take(&b, 0, 0, t, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_outcome),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests_name("delivery", tests, NULL, NULL);
}
