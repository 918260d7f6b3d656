/* JSON Schema validation: the official JSON-Schema-Test-Suite (Debian
 * package json-schema-test-suite, draft7 folder) for every supported
 * keyword, then evkit's own cases for error paths, keywords and messages,
 * and for schemas that must be refused.
 *
 * The suite folder is $JSON_SCHEMA_TEST_SUITE or the Debian location; a
 * missing suite fails the test (scripts/deps.sh installs it). */
#include "testutil.h"

#include <jansson.h>

#include "schema/schema.h"

#define SUITE_DEFAULT "/usr/share/json-schema-test-suite/tests/draft7"

/* Cases skipped on purpose: each needs something evkit does not support.
 * (file, group description, test description or NULL for the whole group) */
static const struct skip {
    const char *file, *group, *test;
} skips[] = {
    /* Both need the draft-07 meta-schema, a remote document; definitions.json
     * has nothing else, so it is not run at all. */
    {"definitions", "valid definition", NULL},
    {"definitions", "invalid definition", NULL},
    {"ref", "remote ref, containing refs itself", NULL},
    /* Resolving "node" and "tree" against "$id": "http://localhost:1234/tree"
     * needs $id-based base URIs in sub-schemas (only the root $id is
     * honoured). */
    {"ref", "Recursive references between schemas", NULL},
};

static bool skipped(const char *file, const char *group, const char *test)
{
    for (size_t i = 0; i < sizeof skips / sizeof skips[0]; i++)
        if (!strcmp(skips[i].file, file) && !strcmp(skips[i].group, group) &&
            (!skips[i].test || !strcmp(skips[i].test, test)))
            return true;
    return false;
}

/* Runs one draft7 file; fails with every failing case listed. */
static void run_suite_file(const char *file)
{
    const char *dir = getenv("JSON_SCHEMA_TEST_SUITE");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", dir ? dir : SUITE_DEFAULT, file);
    json_error_t je;
    json_t *groups = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!groups) fail_msg("cannot read %s: %s (install json-schema-test-suite)", path, je.text);
    size_t gi, ran = 0, failures = 0, skipped_n = 0;
    json_t *g;
    json_array_foreach(groups, gi, g) {
        const char *gdesc = json_string_value(json_object_get(g, "description"));
        json_t *tests = json_object_get(g, "tests");
        if (skipped(file, gdesc, "")) {
            skipped_n += json_array_size(tests);
            continue;
        }
        err_t err = {0};
        schema_t *s = schema_compile(json_object_get(g, "schema"), &err);
        size_t ti;
        json_t *t;
        json_array_foreach(tests, ti, t) {
            const char *tdesc = json_string_value(json_object_get(t, "description"));
            if (skipped(file, gdesc, tdesc)) {
                skipped_n++;
                continue;
            }
            ran++;
            if (!s) {
                printf("FAIL %s / %s / %s: schema refused: %s\n", file, gdesc, tdesc, err.msg);
                failures++;
                continue;
            }
            bool want = json_is_true(json_object_get(t, "valid"));
            json_t *data = json_object_get(t, "data");
            schema_errors_t errs = {0};
            bool got = schema_validate(s, data, &errs);
            bool fast = schema_validate(s, data, NULL);
            /* Reporting mode and fast mode agree, and errors match the verdict. */
            if (got != want || fast != want || (errs.count == 0) != want) {
                printf("FAIL %s / %s / %s: expected %s, got %s (fast %s, %zu errors%s%s)\n", file,
                       gdesc, tdesc, want ? "valid" : "invalid", got ? "valid" : "invalid",
                       fast ? "valid" : "invalid", errs.count, errs.count ? ": " : "",
                       errs.count ? errs.items[0].message : "");
                failures++;
            }
            schema_errors_free(&errs);
        }
        schema_free(s);
    }
    json_decref(groups);
    printf("%s: %zu cases, %zu failed, %zu skipped\n", file, ran, failures, skipped_n);
    assert_true(ran > 0);
    assert_int_equal(failures, 0);
}

#define SUITE_FILE(name, file)                                                                     \
    static void suite_##name(void **st) { (void)st; run_suite_file(file); }
#define SUITE(name) SUITE_FILE(name, #name)
SUITE(type)
SUITE(properties)
SUITE(patternProperties)
SUITE(additionalProperties)
SUITE(required)
SUITE(propertyNames)
SUITE(dependencies)
SUITE(minProperties)
SUITE(maxProperties)
SUITE(items)
SUITE(additionalItems)
SUITE(contains)
SUITE(minItems)
SUITE(maxItems)
SUITE(uniqueItems)
SUITE(enum)
SUITE(const)
SUITE(minimum)
SUITE(maximum)
SUITE(exclusiveMinimum)
SUITE(exclusiveMaximum)
SUITE(multipleOf)
SUITE(minLength)
SUITE(maxLength)
SUITE(pattern)
SUITE(allOf)
SUITE(anyOf)
SUITE(oneOf)
SUITE(not)
SUITE_FILE(if_then_else, "if-then-else")
SUITE(ref)
SUITE(boolean_schema)
SUITE(default)
/* An optional file on a supported keyword: 1.0 is an integer. (optional/bignum
 * is not run: jansson cannot read integers beyond 64 bits.) */
SUITE_FILE(optional_zero_floats, "optional/zeroTerminatedFloats")

/* ---- evkit's own cases ---- */

static schema_t *compile_ok(const char *text)
{
    err_t err = {0};
    schema_t *s = schema_compile_text(text, strlen(text), &err);
    if (!s) fail_msg("schema refused: %s", err.msg);
    return s;
}

/* Validates JSON text; returns the errors as "path|keyword|message" lines. */
static char *errors_of(schema_t *s, const char *value)
{
    json_error_t je;
    json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
    if (!v) fail_msg("bad test value %s: %s", value, je.text);
    schema_errors_t errs = {0};
    bool ok = schema_validate(s, v, &errs);
    assert_int_equal(ok, errs.count == 0);
    assert_int_equal(schema_validate(s, v, NULL), ok);
    buf_t out;
    buf_init(&out, 0);
    buf_append(&out, "", 0);
    for (size_t i = 0; i < errs.count; i++)
        buf_printf(&out, "%s|%s|%s\n", errs.items[i].path, errs.items[i].keyword,
                   errs.items[i].message);
    schema_errors_free(&errs);
    json_decref(v);
    return out.data ? buf_steal(&out) : xstrdup("");
}

#define EXPECT_ERRORS(s, value, expected)                                                          \
    do {                                                                                           \
        char *got_ = errors_of(s, value);                                                          \
        assert_string_equal(got_, expected);                                                       \
        free(got_);                                                                                \
    } while (0)

static void test_messages_and_paths(void **st)
{
    (void)st;
    schema_t *s = compile_ok(
        "{\"type\":\"object\",\"required\":[\"sku\",\"name\"],"
        "\"properties\":{\"sku\":{\"type\":\"string\",\"minLength\":3,\"pattern\":\"^[A-Z]+$\"},"
        "\"name\":{\"type\":\"string\",\"maxLength\":4},"
        "\"price\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMaximum\":100},"
        "\"status\":{\"enum\":[\"a\",\"b\"]},"
        "\"qty\":{\"type\":\"integer\",\"multipleOf\":5},"
        "\"items\":{\"type\":\"array\",\"minItems\":1,\"uniqueItems\":true,"
        "\"items\":{\"type\":\"object\",\"required\":[\"sku\"],"
        "\"properties\":{\"sku\":{\"type\":[\"string\",\"null\"]}},"
        "\"additionalProperties\":false}}}}");
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"abcd\"}", "");
    EXPECT_ERRORS(s, "42", "|type|must be an object, got number\n");
    EXPECT_ERRORS(s, "{}", "/sku|required|is required\n/name|required|is required\n");
    EXPECT_ERRORS(s, "{\"sku\":\"ab\",\"name\":7}",
                  "/sku|minLength|must be at least 3 characters\n"
                  "/sku|pattern|must match pattern ^[A-Z]+$\n"
                  "/name|type|must be a string, got number\n");
    /* Code points, not bytes: 4 characters, 8 bytes. */
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", "");
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
                  "/name|maxLength|must be at most 4 characters\n");
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"n\",\"price\":-1,\"status\":\"c\",\"qty\":7.5}",
                  "/price|minimum|must be >= 0\n"
                  "/status|enum|must be one of: \"a\", \"b\"\n"
                  "/qty|type|must be an integer, got number\n");
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"n\",\"price\":100,\"qty\":12}",
                  "/price|exclusiveMaximum|must be < 100\n"
                  "/qty|multipleOf|must be a multiple of 5\n");
    /* 1 and 1.0 are one value for enum-free equality too: qty 10.0 is fine. */
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"n\",\"qty\":10.0}", "");
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"n\",\"items\":[]}",
                  "/items|minItems|must have at least 1 item\n");
    EXPECT_ERRORS(s,
                  "{\"sku\":\"ABC\",\"name\":\"n\",\"items\":[{\"sku\":1},{\"x\":2},{\"sku\":null}]}",
                  "/items/0/sku|type|must be a string or null, got number\n"
                  "/items/1/sku|required|is required\n"
                  "/items/1/x|additionalProperties|is not allowed (not a known property)\n");
    EXPECT_ERRORS(s, "{\"sku\":\"ABC\",\"name\":\"n\",\"items\":[{\"sku\":\"a\"},{\"sku\":\"a\"}]}",
                  "/items|uniqueItems|must not contain duplicates (items 0 and 1 are equal)\n");
    schema_free(s);

    /* Pointer escapes in paths: ~ and / in property names. */
    s = compile_ok("{\"properties\":{\"a/b\":{\"type\":\"string\"},\"c~d\":{\"const\":1}}}");
    EXPECT_ERRORS(s, "{\"a/b\":1,\"c~d\":1.0}", "/a~1b|type|must be a string, got number\n");
    EXPECT_ERRORS(s, "{\"c~d\":2}", "/c~0d|const|must be equal to 1\n");
    schema_free(s);

    s = compile_ok("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}],"
                   "\"not\":{\"const\":7}}");
    EXPECT_ERRORS(s, "1", "");
    EXPECT_ERRORS(s, "3", "|oneOf|must match exactly one of the schemas in oneOf, matched 0 and 1\n");
    EXPECT_ERRORS(s, "1.5", "|oneOf|must match exactly one of the 2 schemas in oneOf, matched none\n");
    EXPECT_ERRORS(s, "7.0", "|oneOf|must match exactly one of the schemas in oneOf, matched 0 and 1\n"
                            "|not|must not match the schema in not\n");
    schema_free(s);

    s = compile_ok("{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false,"
                   "\"anyOf\":[{\"maxItems\":1},{\"minItems\":3}]}");
    EXPECT_ERRORS(s, "[\"a\"]", "");
    EXPECT_ERRORS(s, "[1,2]", "/0|type|must be a string, got number\n"
                              "/1|additionalItems|is not allowed (at most 1 item)\n"
                              "|anyOf|must match at least one of the 2 schemas in anyOf\n");
    schema_free(s);

    s = compile_ok("false");
    EXPECT_ERRORS(s, "{}", "|false|is not allowed (the schema is false)\n");
    schema_free(s);
}

static void test_refs(void **st)
{
    (void)st;
    /* A recursive tree through #/definitions, with escapes and percent-encoding. */
    schema_t *s = compile_ok(
        "{\"definitions\":{\"node\":{\"type\":\"object\",\"required\":[\"v\"],"
        "\"properties\":{\"v\":{\"$ref\":\"#/definitions/a~1b%25c\"},"
        "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/node\"}}}},"
        "\"a/b%c\":{\"type\":\"integer\"}},"
        "\"$ref\":\"#/definitions/node\"}");
    EXPECT_ERRORS(s, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3}]}", "");
    EXPECT_ERRORS(s, "{\"v\":1,\"kids\":[{\"v\":\"x\",\"kids\":[{}]}]}",
                  "/kids/0/v|type|must be an integer, got string\n"
                  "/kids/0/kids/0/v|required|is required\n");
    schema_free(s);

    /* "$ref": "#" loops forever in the schema; validation stops with an error. */
    s = compile_ok("{\"$ref\":\"#\"}");
    char *got = errors_of(s, "1");
    assert_non_null(strstr(got, "nested too deeply"));
    free(got);
    schema_free(s);
}

static void expect_refused(const char *text, const char *fragment)
{
    err_t err = {0};
    schema_t *s = schema_compile_text(text, strlen(text), &err);
    if (s) fail_msg("schema %s was accepted", text);
    if (!strstr(err.msg, fragment)) fail_msg("error \"%s\" lacks \"%s\"", err.msg, fragment);
}

static void test_invalid_schemas(void **st)
{
    (void)st;
    expect_refused("{\"type\":\"strin\"}", "invalid schema at #/type: type \"strin\" is not one of");
    expect_refused("{\"properties\":{\"a\":{\"minLength\":-1}}}",
                   "at #/properties/a: minLength must be a non-negative integer");
    expect_refused("{\"pattern\":\"([a-z\"}", "pattern \"([a-z\" is not a valid regular expression");
    expect_refused("{\"required\":\"sku\"}", "required must be an array of strings");
    expect_refused("{\"$ref\":\"#/definitions/nope\"}",
                   "at #/$ref: $ref \"#/definitions/nope\" does not point to anything");
    expect_refused("{\"$ref\":\"http://example.com/s.json\"}", "only references within the schema");
    expect_refused("{\"definitions\":{\"x\":{\"maximum\":\"1\"}}}",
                   "at #/definitions/x: maximum must be a number");
    expect_refused("{\"anyOf\":[]}", "anyOf must be a non-empty array");
    expect_refused("{\"items\":[{\"type\":1}]}", "at #/items/0/type");
    expect_refused("{\"multipleOf\":0}", "multipleOf must be greater than 0");
    expect_refused("[1]", "a schema must be an object or a boolean");
    expect_refused("{", "not JSON");
}

static void test_equality(void **st)
{
    (void)st;
    json_t *a = json_loads("{\"x\":[1,{\"y\":2.0}],\"z\":null}", 0, NULL);
    json_t *b = json_loads("{\"z\":null,\"x\":[1.0,{\"y\":2}]}", 0, NULL);
    json_t *c = json_loads("{\"z\":null,\"x\":[1.0,{\"y\":2.5}]}", 0, NULL);
    assert_true(schema_json_equal(a, b));
    assert_false(schema_json_equal(a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(suite_type),
        cmocka_unit_test(suite_properties),
        cmocka_unit_test(suite_patternProperties),
        cmocka_unit_test(suite_additionalProperties),
        cmocka_unit_test(suite_required),
        cmocka_unit_test(suite_propertyNames),
        cmocka_unit_test(suite_dependencies),
        cmocka_unit_test(suite_minProperties),
        cmocka_unit_test(suite_maxProperties),
        cmocka_unit_test(suite_items),
        cmocka_unit_test(suite_additionalItems),
        cmocka_unit_test(suite_contains),
        cmocka_unit_test(suite_minItems),
        cmocka_unit_test(suite_maxItems),
        cmocka_unit_test(suite_uniqueItems),
        cmocka_unit_test(suite_enum),
        cmocka_unit_test(suite_const),
        cmocka_unit_test(suite_minimum),
        cmocka_unit_test(suite_maximum),
        cmocka_unit_test(suite_exclusiveMinimum),
        cmocka_unit_test(suite_exclusiveMaximum),
        cmocka_unit_test(suite_multipleOf),
        cmocka_unit_test(suite_minLength),
        cmocka_unit_test(suite_maxLength),
        cmocka_unit_test(suite_pattern),
        cmocka_unit_test(suite_allOf),
        cmocka_unit_test(suite_anyOf),
        cmocka_unit_test(suite_oneOf),
        cmocka_unit_test(suite_not),
        cmocka_unit_test(suite_if_then_else),
        cmocka_unit_test(suite_ref),
        cmocka_unit_test(suite_boolean_schema),
        cmocka_unit_test(suite_default),
        cmocka_unit_test(suite_optional_zero_floats),
        cmocka_unit_test(test_messages_and_paths),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_invalid_schemas),
        cmocka_unit_test(test_equality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
