/* filter: Event Ruler patterns, compiled and matched; bad patterns named
 * by their path. */
#include "testutil.h"

#include <jansson.h>

#include "core/filter.h"
#include "core/json_io.h"

static const char *EVENT =
    "{\"specversion\":\"1.0\",\"type\":\"com.adobe.commerce.observer.sales_order_save_commit_after\","
    "\"source\":\"urn:uuid:5c3b1b9a-0000-4000-8000-000000000001\",\"subject\":\"Order/100\","
    "\"data\":{\"value\":{\"increment_id\":\"000000100\",\"status\":\"Processing\","
    "\"grand_total\":129.5,\"qty\":3,\"store\":\"EU-west\",\"flag\":true,\"note\":null,"
    "\"tags\":[\"vip\",\"b2b\"],\"items\":[{\"sku\":\"MUG-1\",\"qty\":1},{\"sku\":\"TEE-2\","
    "\"qty\":2}],\"path\":\"a*b\",\"empty\":[]}}}";

/* Whether pattern (JSON text) matches EVENT; fails the test when it does not compile. */
static bool m(const char *pattern)
{
    json_t *ev = json_loads(EVENT, 0, NULL);
    json_t *p = json_loads(pattern, 0, NULL);
    assert_non_null(ev);
    assert_non_null(p);
    err_t err = {0};
    filter_t *f = filter_compile(p, &err);
    if (!f) fail_msg("pattern %s did not compile: %s", pattern, err.msg);
    bool r = filter_match(f, ev);
    filter_free(f);
    json_decref(p);
    json_decref(ev);
    return r;
}

/* The error a bad pattern gets (static buffer). */
static const char *bad(const char *pattern)
{
    static err_t err;
    memset(&err, 0, sizeof err);
    json_t *p = json_loads(pattern, 0, NULL);
    assert_non_null(p);
    filter_t *f = filter_compile(p, &err);
    json_decref(p);
    if (f) {
        filter_free(f);
        fail_msg("pattern %s compiled; it should not", pattern);
    }
    assert_int_equal(err.code, EVK_INVALID);
    return err.msg;
}

#define HAS(s, sub) do { const char *s_ = (s); if (!strstr(s_, (sub))) fail_msg("'%s' lacks '%s'", s_, (sub)); } while (0)

static void test_exact(void **state)
{
    (void)state;
    assert_true(m("{\"type\":[\"com.adobe.commerce.observer.sales_order_save_commit_after\"]}"));
    assert_false(m("{\"type\":[\"com.adobe.commerce.observer.sales_order_save_commit_afte\"]}"));
    assert_true(m("{\"type\":[\"x\", \"com.adobe.commerce.observer.sales_order_save_commit_after\"]}"));
    assert_true(m("{\"data\":{\"value\":{\"status\":[\"Processing\"]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"status\":[\"processing\"]}}}"));
    /* numbers compare by value, 3 and 3.0 alike; a string "3" is not 3 */
    assert_true(m("{\"data\":{\"value\":{\"qty\":[3.0]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"grand_total\":[129.5]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"qty\":[\"3\"]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"flag\":[true]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"flag\":[false]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"note\":[null]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"status\":[null]}}}"));
    /* every field must match */
    assert_false(m("{\"data\":{\"value\":{\"status\":[\"Processing\"],\"qty\":[4]}}}"));
    /* an absent field never equals anything */
    assert_false(m("{\"data\":{\"value\":{\"nope\":[\"x\"]}}}"));
    assert_false(m("{\"nope\":{\"deeper\":[\"x\"]}}"));
}

static void test_arrays_in_event(void **state)
{
    (void)state;
    assert_true(m("{\"data\":{\"value\":{\"tags\":[\"b2b\"]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"tags\":[\"retail\"]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"items\":{\"sku\":[\"TEE-2\"]}}}}"));
    assert_false(m("{\"data\":{\"value\":{\"items\":{\"sku\":[\"CAP-3\"]}}}}"));
    /* both fields must hold in one element */
    assert_true(m("{\"data\":{\"value\":{\"items\":{\"sku\":[\"TEE-2\"],\"qty\":[2]}}}}"));
    assert_false(m("{\"data\":{\"value\":{\"items\":{\"sku\":[\"TEE-2\"],\"qty\":[1]}}}}"));
    /* an object is not a leaf */
    assert_false(m("{\"data\":{\"value\":[\"x\"]}}"));
}

static void test_prefix_suffix(void **state)
{
    (void)state;
    assert_true(m("{\"data\":{\"value\":{\"store\":[{\"prefix\":\"EU-\"}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"store\":[{\"prefix\":\"eu-\"}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"store\":[{\"prefix\":{\"equals-ignore-case\":\"eu-\"}}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"store\":[{\"suffix\":\"west\"}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"store\":[{\"suffix\":\"east\"}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"store\":[{\"suffix\":{\"equals-ignore-case\":\"WEST\"}}]}}}"));
    assert_true(m("{\"type\":[{\"prefix\":\"com.adobe.commerce.\"}]}"));
    assert_true(m("{\"data\":{\"value\":{\"store\":[{\"prefix\":\"\"}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"store\":[{\"prefix\":\"EU-west-and-more\"}]}}}"));
    /* prefix on a number never matches */
    assert_false(m("{\"data\":{\"value\":{\"qty\":[{\"prefix\":\"3\"}]}}}"));
}

static void test_ignore_case_and_wildcard(void **state)
{
    (void)state;
    assert_true(m("{\"data\":{\"value\":{\"status\":[{\"equals-ignore-case\":\"PROCESSING\"}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"status\":[{\"equals-ignore-case\":\"PROCESS\"}]}}}"));
    assert_true(m("{\"type\":[{\"wildcard\":\"com.adobe.*.sales_order_*\"}]}"));
    assert_false(m("{\"type\":[{\"wildcard\":\"com.adobe.*.catalog_*\"}]}"));
    assert_true(m("{\"subject\":[{\"wildcard\":\"Order/*\"}]}"));
    assert_true(m("{\"subject\":[{\"wildcard\":\"*\"}]}"));
    assert_true(m("{\"subject\":[{\"wildcard\":\"*/100\"}]}"));
    assert_false(m("{\"subject\":[{\"wildcard\":\"*/10\"}]}"));
    assert_true(m("{\"subject\":[{\"wildcard\":\"O*r*1*0\"}]}"));
    /* \\* is a literal star */
    assert_true(m("{\"data\":{\"value\":{\"path\":[{\"wildcard\":\"a\\\\*b\"}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"increment_id\":[{\"wildcard\":\"0\\\\*\"}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"increment_id\":[{\"wildcard\":\"0*\"}]}}}"));
}

static void test_anything_but(void **state)
{
    (void)state;
    assert_true(m("{\"data\":{\"value\":{\"status\":[{\"anything-but\":\"Canceled\"}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"status\":[{\"anything-but\":[\"Canceled\",\"Processing\"]}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"qty\":[{\"anything-but\":[1, 2]}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"qty\":[{\"anything-but\":3}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"store\":[{\"anything-but\":{\"prefix\":\"EU\"}}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"store\":[{\"anything-but\":{\"prefix\":\"US\"}}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"store\":[{\"anything-but\":{\"suffix\":\"west\"}}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"status\":[{\"anything-but\":{\"equals-ignore-case\":[\"processing\"]}}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"status\":[{\"anything-but\":{\"equals-ignore-case\":\"closed\"}}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"store\":[{\"anything-but\":{\"wildcard\":\"EU-*\"}}]}}}"));
    /* an absent field is not "anything but" */
    assert_false(m("{\"data\":{\"value\":{\"nope\":[{\"anything-but\":\"x\"}]}}}"));
}

static void test_numeric(void **state)
{
    (void)state;
    assert_true(m("{\"data\":{\"value\":{\"grand_total\":[{\"numeric\":[\">\", 100]}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"grand_total\":[{\"numeric\":[\">\", 129.5]}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"grand_total\":[{\"numeric\":[\">=\", 129.5]}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"grand_total\":[{\"numeric\":[\">\", 0, \"<=\", 129.5]}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"grand_total\":[{\"numeric\":[\">\", 0, \"<\", 129.5]}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"qty\":[{\"numeric\":[\"=\", 3]}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"qty\":[{\"numeric\":[\"=\", 4]}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"qty\":[{\"numeric\":[\"<\", 10, \">\", 1]}]}}}"));
    /* a numeric matcher on a string never matches */
    assert_false(m("{\"data\":{\"value\":{\"increment_id\":[{\"numeric\":[\">\", 0]}]}}}"));
    /* any element of an array */
    assert_true(m("{\"data\":{\"value\":{\"items\":{\"qty\":[{\"numeric\":[\">=\", 2]}]}}}}"));
}

/* Numbers beyond int64 or a double are kept as their text: filters match
 * them as strings of that text, never numerically. */
static bool kept_match(const char *pattern)
{
    const char *text = "{\"data\":{\"n\":123456789012345678901234567890,\"r\":-1e400}}";
    json_t *ev = json_load_kept(text, strlen(text), 0, NULL);
    json_t *p = json_loads(pattern, 0, NULL);
    assert_non_null(ev);
    assert_non_null(p);
    err_t err = {0};
    filter_t *f = filter_compile(p, &err);
    assert_non_null(f);
    bool r = filter_match(f, ev);
    filter_free(f);
    json_decref(p);
    json_decref(ev);
    return r;
}

static void test_kept_numbers(void **state)
{
    (void)state;
    assert_true(kept_match("{\"data\":{\"n\":[\"123456789012345678901234567890\"]}}"));
    assert_true(kept_match("{\"data\":{\"r\":[{\"suffix\":\"e400\"}]}}"));
    assert_true(kept_match("{\"data\":{\"r\":[{\"equals-ignore-case\":\"-1E400\"}]}}"));
    assert_false(kept_match("{\"data\":{\"n\":[{\"numeric\":[\">\",0]}]}}"));
    assert_false(kept_match("{\"data\":{\"n\":[\"12345678901234567890123456789\"]}}"));
}

static void test_exists(void **state)
{
    (void)state;
    assert_true(m("{\"subject\":[{\"exists\":true}]}"));
    assert_false(m("{\"subject\":[{\"exists\":false}]}"));
    assert_true(m("{\"dataschema\":[{\"exists\":false}]}"));
    assert_false(m("{\"dataschema\":[{\"exists\":true}]}"));
    /* an empty array holds no value; null is a value */
    assert_true(m("{\"data\":{\"value\":{\"empty\":[{\"exists\":false}]}}}"));
    assert_true(m("{\"data\":{\"value\":{\"note\":[{\"exists\":true}]}}}"));
    /* below an absent object: nothing exists */
    assert_true(m("{\"data\":{\"missing\":{\"x\":[{\"exists\":false}]}}}"));
    assert_false(m("{\"data\":{\"missing\":{\"x\":[{\"exists\":true}]}}}"));
    /* objects are not leaves */
    assert_false(m("{\"data\":[{\"exists\":true}]}"));
    /* one of the alternatives: absent or a given value */
    assert_true(m("{\"data\":{\"value\":{\"status\":[{\"exists\":false}, \"Processing\"]}}}"));
}

static void test_or(void **state)
{
    (void)state;
    assert_true(m("{\"$or\":[{\"type\":[\"nope\"]},{\"data\":{\"value\":{\"qty\":[3]}}}]}"));
    assert_false(m("{\"$or\":[{\"type\":[\"nope\"]},{\"data\":{\"value\":{\"qty\":[4]}}}]}"));
    /* $or beside fields: both must hold */
    assert_false(m("{\"subject\":[\"Order/1\"],\"$or\":[{\"type\":[{\"prefix\":\"com.\"}]},{\"x\":[1]}]}"));
    assert_true(m("{\"subject\":[\"Order/100\"],\"$or\":[{\"type\":[{\"prefix\":\"com.\"}]},{\"x\":[1]}]}"));
    /* nested inside an object */
    assert_true(m("{\"data\":{\"value\":{\"$or\":[{\"store\":[\"US\"]},{\"tags\":[\"vip\"]}]}}}"));
    assert_false(m("{\"data\":{\"value\":{\"$or\":[{\"store\":[\"US\"]},{\"tags\":[\"none\"]}]}}}"));
}

static void test_errors_name_the_part(void **state)
{
    (void)state;
    HAS(bad("[]"), "the filter: a pattern is an object");
    HAS(bad("{}"), "an empty object");
    HAS(bad("{\"data\":{\"price\":5}}"), "data.price: needs a non-empty array");
    HAS(bad("{\"data\":{\"price\":[]}}"), "data.price: needs a non-empty array");
    HAS(bad("{\"data\":{\"price\":[1, {\"prfix\":\"a\"}]}}"), "data.price[1]: unknown matcher 'prfix'");
    HAS(bad("{\"a\":[{\"prefix\":1}]}"), "a[0]: prefix needs a string");
    HAS(bad("{\"a\":[{\"numeric\":[\">\"]}]}"), "a[0]: numeric needs");
    HAS(bad("{\"a\":[{\"numeric\":[\"~\", 1]}]}"), "'~' is not an operator");
    HAS(bad("{\"a\":[{\"numeric\":[\">\", \"1\"]}]}"), "a string after an operator");
    HAS(bad("{\"a\":[{\"numeric\":[\">\", 1, \">\", 2]}]}"), "two lower bounds");
    HAS(bad("{\"a\":[{\"numeric\":[\">\", 5, \"<\", 2]}]}"), "lower bound is above");
    HAS(bad("{\"a\":[{\"numeric\":[\"=\", 5, \"<\", 2]}]}"), "'=' stands alone");
    HAS(bad("{\"a\":[{\"exists\":\"yes\"}]}"), "exists needs true or false");
    HAS(bad("{\"a\":[{\"anything-but\":[]}]}"), "anything-but: an empty list");
    HAS(bad("{\"a\":[{\"anything-but\":{\"numeric\":[\">\",1]}}]}"), "'numeric' is not prefix");
    HAS(bad("{\"a\":[{\"anything-but\":[{\"x\":1}]}]}"), "anything-but takes strings or numbers");
    HAS(bad("{\"a\":[{\"wildcard\":\"a**b\"}]}"), "consecutive *");
    HAS(bad("{\"a\":[{\"wildcard\":\"a\\\\b\"}]}"), "a backslash may only escape");
    HAS(bad("{\"a\":[{\"prefix\":\"x\",\"suffix\":\"y\"}]}"), "exactly one key");
    HAS(bad("{\"a\":[[1]]}"), "a[0]: a matcher cannot be an array");
    HAS(bad("{\"$or\":{\"a\":[1]}}"), "$or: $or needs a list");
    HAS(bad("{\"x\":{\"$or\":[{\"a\":[1]},{\"b\":{}}]}}"), "x.$or[1].b: a pattern is an object");
}

static void test_limits(void **state)
{
    (void)state;
    /* 40 levels deep */
    char deep[1024] = "";
    for (int i = 0; i < 40; i++) strcat(deep, "{\"a\":");
    strcat(deep, "[1]");
    for (int i = 0; i < 40; i++) strcat(deep, "}");
    HAS(bad(deep), "deeper than 32");
    json_t *many = json_array();
    for (int i = 0; i < 10001; i++) json_array_append_new(many, json_integer(i));
    json_t *p = json_pack("{s:o}", "a", many);
    err_t err;
    assert_null(filter_compile(p, &err));
    HAS(err.msg, "more than 10000 matchers");
    json_decref(p);
    /* NULL filter and a non-object event match nothing */
    assert_false(filter_match(NULL, NULL));
    json_t *q = json_loads("{\"a\":[{\"exists\":false}]}", 0, NULL);
    filter_t *f = filter_compile(q, &err);
    assert_non_null(f);
    json_t *arr = json_array();
    assert_true(filter_match(f, arr));   /* nothing exists in a non-object */
    json_decref(arr);
    filter_free(f);
    json_decref(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_arrays_in_event),
        cmocka_unit_test(test_prefix_suffix),
        cmocka_unit_test(test_ignore_case_and_wildcard),
        cmocka_unit_test(test_anything_but),
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_kept_numbers),
        cmocka_unit_test(test_exists),
        cmocka_unit_test(test_or),
        cmocka_unit_test(test_errors_name_the_part),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
