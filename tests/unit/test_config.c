/* config: the settings table's parsers, the environment-then-.env lookup,
 * bad values named with their accepted forms, and secrets hidden. */
#include "testutil.h"

#include "config.h"
#include "core/log.h"

/* Every setting the tests touch, unset before each test. */
static const char *const TOUCHED[] = {
    "EVKIT_APP", "EVKIT_LISTEN", "EVKIT_WORKERS", "EVKIT_LOG_LEVEL", "EVKIT_LOG_FORMAT",
    "AIO_runtime_namespace", "EVKIT_API_TOKENS", "EVKIT_METRICS_TOKEN", "EVKIT_METRICS_AUTH",
    "EVKIT_ACTIVATION_RETENTION", "EVKIT_TRACE_RETENTION", "EVKIT_TRACE_KEEP",
    "EVKIT_PUBLISH_RATE", "EVKIT_BLOCKING_WAIT", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET",
    "EVKIT_STORE", "EVKIT_STORE_TOKEN", "EVKIT_STORE_REPLICAS", NULL,
};

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; TOUCHED[i]; i++) unsetenv(TOUCHED[i]);
    return 0;
}

static const json_t *setting(const json_t *all, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s)
        if (!strcmp(json_string_value(json_object_get(s, "name")), name)) return s;
    fail_msg("no setting %s", name);
    return NULL;
}

static const char *field(const json_t *all, const char *name, const char *key)
{
    return json_string_value(json_object_get(setting(all, name), key));
}

/* Loads with the environment as set; -1 and err on a bad value. */
static int load(config_t *c, const app_t *app, err_t *err)
{
    config_init(c);
    return config_load(c, app, CONFIG_ALL, err);
}

static void test_defaults(void **state)
{
    (void)state;
    config_t c;
    err_t err;
    assert_int_equal(load(&c, NULL, &err), 0);
    assert_string_equal(c.app_dir, "app");
    assert_string_equal(c.data_dir, "var");
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.log_format, LOG_FORMAT_JSON);
    assert_int_equal(c.progress, CONFIG_PROGRESS_AUTO);
    assert_string_equal(c.namespace, "evkit");
    assert_int_equal(json_array_size(c.api_tokens), 0);
    assert_int_equal(json_array_size(c.metrics_tokens), 0);
    assert_int_equal(c.metrics_auth, CONFIG_METRICS_TOKEN);
    assert_true(c.activation_retention_ms == 7LL * 24 * 3600 * 1000);
    assert_true(c.journal_retention_ms == 7LL * 24 * 3600 * 1000);
    assert_true(c.trace_retention_ms == 7LL * 24 * 3600 * 1000);
    assert_int_equal(c.trace_keep, 100);
    assert_true(c.publish_rate.per_s == 600 && c.publish_rate.burst == 3000);
    assert_int_equal(c.async_max, 100);
    assert_true(c.blocking_wait_ms == 60000);
    json_t *all = config_describe(&c);
    assert_int_equal(json_array_size(all), config_count());
    assert_string_equal(field(all, "EVKIT_TRACE_KEEP", "value"), "100");
    assert_string_equal(field(all, "EVKIT_TRACE_KEEP", "source"), "default");
    json_decref(all);
    config_free(&c);
}

static void test_every_type(void **state)
{
    (void)state;
    setenv("EVKIT_APP", "/srv/app", 1);                      /* string */
    setenv("EVKIT_LISTEN", "[::1]:0", 1);                    /* address */
    setenv("EVKIT_WORKERS", "256", 1);                       /* count, at its maximum */
    setenv("EVKIT_LOG_LEVEL", "WARNING", 1);                 /* enum, an alias, any case */
    setenv("EVKIT_LOG_FORMAT", "text", 1);
    setenv("EVKIT_API_TOKENS", "one, two\tthree", 1);        /* list */
    setenv("EVKIT_TRACE_RETENTION", "0", 1);                 /* duration, 0 allowed here */
    setenv("EVKIT_ACTIVATION_RETENTION", "P2D", 1);
    setenv("EVKIT_BLOCKING_WAIT", "700ms", 1);
    setenv("EVKIT_PUBLISH_RATE", "4/2s", 1);                 /* rate */
    setenv("EVKIT_METRICS_AUTH", "none", 1);
    setenv("EVKIT_STORE", "nats://10.0.0.1:4222, tls://nats-2:4222", 1); /* store URL */
    config_t c;
    err_t err;
    assert_int_equal(load(&c, NULL, &err), 0);
    assert_string_equal(c.store_url, "nats://10.0.0.1:4222, tls://nats-2:4222");
    store_opts so;
    config_store_opts(&c, "/var/evkit", &so);
    assert_string_equal(so.url, c.store_url);
    assert_string_equal(so.dir, "/var/evkit");
    assert_null(so.token);
    assert_string_equal(c.app_dir, "/srv/app");
    assert_string_equal(c.listen, "[::1]:0");
    assert_int_equal(c.workers, 256);
    assert_int_equal(c.log_level, LOG_WARN);
    assert_int_equal(c.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(json_array_size(c.api_tokens), 3);
    assert_string_equal(json_string_value(json_array_get(c.api_tokens, 2)), "three");
    assert_true(c.trace_retention_ms == 0);
    assert_true(c.activation_retention_ms == 2LL * 24 * 3600 * 1000);
    assert_true(c.blocking_wait_ms == 700);
    assert_true(c.publish_rate.per_s == 2 && c.publish_rate.burst == 4);
    assert_int_equal(c.metrics_auth, CONFIG_METRICS_NONE);
    config_free(&c);

    setenv("EVKIT_PUBLISH_RATE", "200", 1);
    assert_int_equal(load(&c, NULL, &err), 0);
    assert_true(c.publish_rate.per_s == 200 && c.publish_rate.burst == 200);
    config_free(&c);
    setenv("EVKIT_PUBLISH_RATE", "off", 1);
    assert_int_equal(load(&c, NULL, &err), 0);
    assert_true(c.publish_rate.per_s == 0);
    config_free(&c);
}

/* Each bad value fails with the variable's name, the value and the forms. */
static void test_bad_values_named(void **state)
{
    (void)state;
    static const struct {
        const char *name, *value, *forms;
    } bad[] = {
        {"EVKIT_WORKERS", "0", "a whole number from 1 to 256"},
        {"EVKIT_WORKERS", "4x", "a whole number from 1 to 256"},
        {"EVKIT_TRACE_KEEP", "1000001", "a whole number from 0 to 1000000"},
        {"EVKIT_ACTIVATION_RETENTION", "soon", "a positive duration"},
        {"EVKIT_ACTIVATION_RETENTION", "0", "a positive duration"},
        {"EVKIT_TRACE_RETENTION", "-1h", "a duration such as 7d"},
        {"EVKIT_BLOCKING_WAIT", "1 minute", "a positive duration"},
        {"EVKIT_PUBLISH_RATE", "3000/never", "COUNT/DURATION such as 3000/5s"},
        {"EVKIT_PUBLISH_RATE", "-5", "COUNT/DURATION"},
        {"EVKIT_LOG_LEVEL", "loud", "debug, info, warn, error or off"},
        {"EVKIT_LOG_FORMAT", "yaml", "json or text"},
        {"EVKIT_METRICS_AUTH", "basic", "token or none"},
        {"EVKIT_LISTEN", "8080", "HOST:PORT"},
        {"EVKIT_LISTEN", "127.0.0.1:65536", "HOST:PORT"},
        {"EVKIT_LISTEN", "[::1]8080", "HOST:PORT"},
        {"EVKIT_STORE", "http://127.0.0.1:4222", "nats://HOST:PORT or tls://HOST:PORT"},
        {"EVKIT_STORE", "nats://", "nats://HOST:PORT"},
        {"EVKIT_STORE", "nats://a:4222,b:4222", "nats://HOST:PORT"},
        {"EVKIT_STORE_REPLICAS", "6", "a whole number from 0 to 5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clean_env(NULL);
        setenv(bad[i].name, bad[i].value, 1);
        config_t c;
        err_t err = {0};
        assert_int_equal(load(&c, NULL, &err), -1);
        assert_int_equal(err.code, EVK_INVALID);
        char want[256];
        snprintf(want, sizeof want, "%s '%s' is not ", bad[i].name, bad[i].value);
        if (!strstr(err.msg, want) || !strstr(err.msg, bad[i].forms))
            fail_msg("%s=%s: got '%s'", bad[i].name, bad[i].value, err.msg);
        config_free(&c);
    }
}

/* Lenient: the bad one keeps its default, the others are read. */
static void test_lenient(void **state)
{
    (void)state;
    setenv("EVKIT_TRACE_KEEP", "many", 1);
    setenv("EVKIT_TRACE_RETENTION", "1h", 1);
    log_set_level(LOG_OFF); /* the warning */
    config_t c;
    config_init(&c);
    assert_int_equal(config_load(&c, NULL, CONFIG_ALL | CONFIG_LENIENT, NULL), 0);
    log_set_level(LOG_INFO);
    assert_int_equal(c.trace_keep, 100);
    assert_true(c.trace_retention_ms == 3600 * 1000);
    json_t *all = config_describe(&c);
    assert_string_equal(field(all, "EVKIT_TRACE_KEEP", "source"), "default");
    assert_string_equal(field(all, "EVKIT_TRACE_RETENTION", "source"), "env");
    json_decref(all);
    config_free(&c);

    /* Except the store: its default is another journal, not a fallback. */
    setenv("EVKIT_STORE", "nats:/typo:4222", 1);
    config_init(&c);
    err_t err = {0};
    assert_int_equal(config_load(&c, NULL, CONFIG_ALL | CONFIG_LENIENT, &err), -1);
    assert_non_null(strstr(err.msg, "EVKIT_STORE 'nats:/typo:4222' is not"));
    config_free(&c);
}

/* The environment first, then the app's .env; an empty value is the
 * default; scopes: the process settings never come from .env. */
static void test_dotenv_fallback(void **state)
{
    (void)state;
    app_t app;
    memset(&app, 0, sizeof app);
    app.env = json_pack("{s:s, s:s, s:s, s:s}", "EVKIT_TRACE_KEEP", "7", "AIO_runtime_namespace",
                        "from-dotenv", "EVKIT_WORKERS", "9", "EVKIT_JOURNAL_RETENTION", "2h");
    setenv("EVKIT_TRACE_KEEP", "3", 1);
    setenv("AIO_runtime_namespace", "", 1);
    config_source from;
    assert_string_equal(config_lookup(&app, "EVKIT_TRACE_KEEP", &from), "3");
    assert_int_equal(from, CONFIG_ENV);
    assert_string_equal(config_lookup(&app, "EVKIT_JOURNAL_RETENTION", &from), "2h");
    assert_int_equal(from, CONFIG_DOTENV);
    assert_null(config_lookup(&app, "EVKIT_ASYNC_MAX", &from));
    assert_int_equal(from, CONFIG_DEFAULT);
    assert_null(config_lookup(NULL, "EVKIT_JOURNAL_RETENTION", NULL));

    config_t c;
    err_t err;
    assert_int_equal(load(&c, &app, &err), 0);
    assert_int_equal(c.trace_keep, 3);
    assert_true(c.journal_retention_ms == 2 * 3600 * 1000);
    assert_string_equal(c.namespace, "evkit"); /* empty in the environment hides .env */
    assert_int_equal(c.workers, 4);            /* a process setting: environment only */
    json_t *all = config_describe(&c);
    assert_string_equal(field(all, "EVKIT_TRACE_KEEP", "source"), "env");
    assert_string_equal(field(all, "EVKIT_JOURNAL_RETENTION", "source"), ".env");
    assert_string_equal(field(all, "EVKIT_JOURNAL_RETENTION", "value"), "2h");
    assert_string_equal(field(all, "EVKIT_WORKERS", "source"), "default");
    json_decref(all);
    config_free(&c);

    /* A bad value from .env says so. */
    json_object_set_new(app.env, "EVKIT_ASYNC_MAX", json_string("lots"));
    assert_int_equal(load(&c, &app, &err), -1);
    assert_non_null(strstr(err.msg, "EVKIT_ASYNC_MAX 'lots' is not a whole number from 1 to 100000"));
    assert_non_null(strstr(err.msg, "(set in the app's .env)"));
    config_free(&c);

    /* Only the scopes asked for are read. */
    unsetenv("AIO_runtime_namespace");
    setenv("EVKIT_WORKERS", "nope", 1);
    config_init(&c);
    assert_int_equal(config_load(&c, &app, CONFIG_APP, &err), -1); /* EVKIT_ASYNC_MAX */
    json_object_del(app.env, "EVKIT_ASYNC_MAX");
    assert_int_equal(config_load(&c, &app, CONFIG_APP, &err), 0);
    assert_string_equal(c.namespace, "from-dotenv");
    assert_int_equal(config_load(&c, &app, CONFIG_PROCESS, &err), -1);
    assert_non_null(strstr(err.msg, "EVKIT_WORKERS 'nope'"));
    config_free(&c);
    json_decref(app.env);
}

static void test_secrets_hidden(void **state)
{
    (void)state;
    setenv("EVKIT_API_TOKENS", "s3cr3t-api", 1);
    app_t app;
    memset(&app, 0, sizeof app);
    app.env = json_pack("{s:s, s:s}", "EVKIT_METRICS_TOKEN", "s3cr3t-scrape",
                        "OAUTH_CLIENT_SECRET", "s3cr3t-client");
    config_t c;
    err_t err;
    assert_int_equal(load(&c, &app, &err), 0);
    assert_string_equal(json_string_value(json_array_get(c.api_tokens, 0)), "s3cr3t-api");
    assert_string_equal(json_string_value(json_array_get(c.metrics_tokens, 0)), "s3cr3t-scrape");
    json_t *all = config_describe(&c);
    assert_string_equal(field(all, "EVKIT_API_TOKENS", "value"), "<hidden>");
    assert_string_equal(field(all, "EVKIT_METRICS_TOKEN", "value"), "<hidden>");
    assert_string_equal(field(all, "EVKIT_METRICS_TOKEN", "source"), ".env");
    assert_string_equal(field(all, "OAUTH_CLIENT_SECRET", "value"), "<hidden>");
    assert_string_equal(c.oauth_client_secret, "s3cr3t-client");
    char *text = json_dumps(all, 0);
    assert_null(strstr(text, "s3cr3t"));
    free(text);
    json_decref(all);
    config_free(&c);
    json_decref(app.env);

    /* A password in the store URL is refused without being shown. */
    setenv("EVKIT_STORE", "nats://evkit:s3cr3t-pw@127.0.0.1:4222", 1);
    setenv("EVKIT_STORE_TOKEN", "s3cr3t-token", 1);
    assert_int_equal(load(&c, NULL, &err), -1);
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_non_null(strstr(err.msg, "EVKIT_STORE '<hidden>' is not"));
    config_free(&c);
    unsetenv("EVKIT_STORE");
    assert_int_equal(load(&c, NULL, &err), 0);
    all = config_describe(&c);
    assert_string_equal(field(all, "EVKIT_STORE_TOKEN", "value"), "<hidden>");
    json_decref(all);
    config_free(&c);
    for (size_t i = 0; i < config_count(); i++) {
        const config_info *in = config_at(i);
        /* Tokens are lists; a client secret is one string. */
        if (in->secret) assert_true(!strcmp(in->type, "list") || !strcmp(in->type, "string"));
    }
    assert_null(config_at(config_count()));
}

/* evkit serve refuses tokens shorter than 32 characters, naming the
 * setting and the token's place, never the token. */
static void test_short_tokens(void **state)
{
    (void)state;
    config_t c;
    err_t err = {0};
    setenv("EVKIT_API_TOKENS", "0123456789abcdef0123456789abcdef,s3cr3t", 1);
    config_init(&c);
    assert_int_equal(config_load(&c, NULL, CONFIG_ALL, &err), 0);
    assert_int_equal(config_check_tokens(&c, &err), -1);
    assert_non_null(strstr(err.msg, "EVKIT_API_TOKENS: token 2 of 2 has 6 characters"));
    assert_non_null(strstr(err.msg, "at least 32"));
    assert_null(strstr(err.msg, "s3cr3t"));
    config_free(&c);
    setenv("EVKIT_API_TOKENS", "0123456789abcdef0123456789abcdef", 1);
    setenv("EVKIT_METRICS_TOKEN", "short", 1);
    config_init(&c);
    assert_int_equal(config_load(&c, NULL, CONFIG_ALL, &err), 0);
    assert_int_equal(config_check_tokens(&c, &err), -1);
    assert_non_null(strstr(err.msg, "EVKIT_METRICS_TOKEN"));
    config_free(&c);
    unsetenv("EVKIT_METRICS_TOKEN");
    config_init(&c);
    assert_int_equal(config_load(&c, NULL, CONFIG_ALL, &err), 0);
    assert_int_equal(config_check_tokens(&c, &err), 0);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_every_type, clean_env),
        cmocka_unit_test_setup(test_bad_values_named, clean_env),
        cmocka_unit_test_setup(test_lenient, clean_env),
        cmocka_unit_test_setup(test_dotenv_fallback, clean_env),
        cmocka_unit_test_setup(test_secrets_hidden, clean_env),
        cmocka_unit_test_setup(test_short_tokens, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
