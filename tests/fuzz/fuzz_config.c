/* Settings (config.c): every EVKIT_* value an app's .env may set, read by
 * the strict parser of evkit serve and the lenient one of the other
 * commands: durations, counts, rates, enums, token lists, address ranges,
 * store URLs. A strict read that succeeds must give what the lenient one
 * gives; `evkit config` must describe the result. Input: .env text. */
#include "fuzz.h"
#include "manifest/manifest_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_OFF);
    /* Only the app's .env may speak: nothing from the process. */
    for (size_t i = 0; i < config_count(); i++) unsetenv(config_at(i)->name);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xstrndup((const char *)data, size);
    diags_t d;
    diags_init(&d);
    app_t app;
    memset(&app, 0, sizeof app);
    app.env = json_object();
    dotenv_parse(text, ".env", app.env, &d);
    config_t strict, lenient;
    config_init(&strict);
    config_init(&lenient);
    err_t err;
    err.msg[0] = '\0';
    int rc = config_load(&strict, &app, CONFIG_APP, &err);
    if (rc < 0 && !err.msg[0]) abort();
    if (config_load(&lenient, &app, CONFIG_APP | CONFIG_LENIENT, NULL) < 0) abort();
    json_t *a = config_describe(&lenient);
    if (rc == 0) {
        json_t *b = config_describe(&strict);
        if (!json_equal(a, b)) abort();
        json_decref(b);
    }
    json_decref(a);
    config_rate r;
    (void)config_parse_rate(text, &r);
    config_free(&strict);
    config_free(&lenient);
    json_decref(app.env);
    diags_free(&d);
    free(text);
    return 0;
}
