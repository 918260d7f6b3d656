/* log: the text format for people (layout, quoting, no raw control bytes,
 * color only when asked) and redaction applied the same in both formats. */
#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>

#include "core/log.h"

static void test_text_layout(void **state)
{
    (void)state;
    json_t *f = json_pack("{s:s, s:i, s:s, s:{s:i}, s:s, s:b, s:n, s:s}", "registration", "lua-flow",
                          "attempt", 3, "error", "status 503 from \"backend\"", "obj", "k", 1, "empty",
                          "", "ok", 1, "none", "eq", "a=b");
    char *line = log_text_line("2026-11-28T09:00:00.000Z", LOG_WARN, "delivery failed; will retry",
                               f, false);
    assert_string_equal(line, "2026-11-28T09:00:00.000Z WARN  delivery failed; will retry "
                              "registration=lua-flow attempt=3 "
                              "error=\"status 503 from \\\"backend\\\"\" obj={\"k\":1} empty=\"\" "
                              "ok=true none=null eq=\"a=b\"");
    free(line);
    json_decref(f);
    line = log_text_line("T", LOG_INFO, "no fields", NULL, false);
    assert_string_equal(line, "T INFO  no fields");
    free(line);
    line = log_text_line("T", LOG_ERROR, "e", NULL, false);
    assert_string_equal(line, "T ERROR e");
    free(line);
}

static void test_text_control_characters(void **state)
{
    (void)state;
    /* A consumer's error text may carry terminal escapes and newlines. */
    json_t *f = json_pack("{s:s, s:s}", "error", "red\033[31m\nnext", "plain\033", "x");
    char *line = log_text_line("T", LOG_INFO, "msg\033]0;title\007\nforged line", f, false);
    assert_null(strchr(line, '\033'));
    assert_null(strchr(line, '\n'));
    assert_null(strchr(line, '\007'));
    assert_non_null(strstr(line, "msg\\x1b]0;title\\x07\\nforged line"));
    assert_non_null(strstr(line, "error=\"red\\u001B[31m\\nnext\""));
    assert_non_null(strstr(line, "plain\\x1b=x"));
    free(line);
    json_decref(f);
}

static void test_text_color(void **state)
{
    (void)state;
    json_t *f = json_pack("{s:s}", "k", "v");
    char *plain = log_text_line("T", LOG_ERROR, "m", f, false);
    char *colored = log_text_line("T", LOG_ERROR, "m", f, true);
    assert_null(strchr(plain, '\033'));
    assert_non_null(strstr(colored, "\033[1;31mERROR"));
    assert_non_null(strstr(colored, "k=\033[0mv"));
    free(plain);
    free(colored);
    json_decref(f);
}

static void test_format_parse(void **state)
{
    (void)state;
    log_format f = LOG_FORMAT_JSON;
    assert_int_equal(log_format_parse("TEXT", &f), 0);
    assert_int_equal(f, LOG_FORMAT_TEXT);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("xml", &f), -1);
    assert_int_equal(log_format_parse(NULL, &f), -1);
    assert_int_equal(log_setup_format("yaml"), -1);
}

/* What log_emit writes to stderr in format f. Caller frees. */
static char *emit_captured(log_format f, const char *msg, json_t *fields)
{
    char path[] = "/tmp/evkit-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_set_format(f, false);
    log_emit(LOG_WARN, msg, fields);
    log_set_format(LOG_FORMAT_JSON, false);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *out = calloc(1, 4096);
    assert_true(pread(fd, out, 4095, 0) > 0);
    close(fd);
    unlink(path);
    return out;
}

static void test_redaction_in_both_formats(void **state)
{
    (void)state;
    for (int f = LOG_FORMAT_JSON; f <= LOG_FORMAT_TEXT; f++) {
        json_t *fields = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "registration", "r1", "api_token",
                                   "tok-SECRET-1", "headers", "Authorization", "Bearer tok-SECRET-2",
                                   "accept", "json", "webhook_secret", "whsec_SECRET3");
        char *out = emit_captured((log_format)f, "redaction check", fields);
        assert_null(strstr(out, "SECRET"));
        assert_non_null(strstr(out, "<hidden>"));
        assert_non_null(strstr(out, "r1"));
        assert_non_null(strstr(out, "json"));
        assert_non_null(strstr(out, "redaction check"));
        if (f == LOG_FORMAT_TEXT) {
            assert_int_equal(out[0] == '{', 0);
            assert_non_null(strstr(out, "api_token=<hidden>"));
        } else {
            json_t *j = json_loads(out, 0, NULL);
            assert_non_null(j);
            assert_string_equal(json_string_value(json_object_get(j, "api_token")), "<hidden>");
            json_decref(j);
        }
        free(out);
    }
}

/* Which keys are secret: the words anywhere in the key, any case; the
 * exact names; keys longer than the lower-case copy's buffer too. */
static void test_secret_keys(void **state)
{
    (void)state;
    const char *secret[] = {"Authorization", "x-api-KEY", "ClientSecret", "access_token",
                            "PASSWORD", "webhookSignature", "cookie", "COOKIE", "key"};
    const char *plain[] = {"authorization-x", "cookies", "name", "data", "ke", "sig", "", "k-e-y"};
    for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
        assert_true(log_key_is_secret(secret[i]));
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        assert_false(log_key_is_secret(plain[i]));
    assert_false(log_key_is_secret(NULL));
    char longkey[300];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_false(log_key_is_secret(longkey));
    memcpy(longkey + 200, "ToKeN", 5);
    assert_true(log_key_is_secret(longkey));
    memcpy(longkey + 200, "aaaaa", 5);
    memcpy(longkey + 120, "Secret", 6); /* across the end of the copy's buffer */
    assert_true(log_key_is_secret(longkey));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_layout),
        cmocka_unit_test(test_text_control_characters),
        cmocka_unit_test(test_text_color),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_redaction_in_both_formats),
        cmocka_unit_test(test_secret_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
