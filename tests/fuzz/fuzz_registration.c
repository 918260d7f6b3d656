/* A registration as the registrations API receives it (JSON body), checked
 * against the sample app by registration_from_json, the same rules as
 * app.config.yaml. Input: the JSON body; its first line may be
 * "name: <registration name>". */
#include "fuzz.h"

static app_t *app;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_OFF);
    diags_t d;
    diags_init(&d);
    json_t *env = json_object();
    app = app_load_env(getenv("EVKIT_FUZZ_APP") ? getenv("EVKIT_FUZZ_APP") : "app", env, &d);
    json_decref(env);
    if (!app) {
        diags_print(&d, stderr);
        abort();
    }
    diags_free(&d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char *name = xstrdup("fuzz-reg");
    if (size > 6 && !memcmp(s, "name: ", 6)) {
        const char *eol = memchr(s, '\n', size);
        if (eol) {
            free(name);
            name = xstrndup(s + 6, (size_t)(eol - s - 6));
            size -= (size_t)(eol + 1 - s);
            s = eol + 1;
        }
    }
    json_t *spec = json_loadb(s, size, JSON_DECODE_ANY, NULL);
    bool valid_name = registration_name_valid(name);
    if (spec && valid_name) {
        diags_t d;
        diags_init(&d);
        registration_t *r = registration_from_json(app, name, spec, &d);
        FILE *null = fopen("/dev/null", "w");
        diags_print(&d, null);
        fclose(null);
        if (r && d.errors) abort();
        if (r) {
            for (size_t i = 0; i < r->nsecrets; i++)
                if (!webhook_secret_valid(r->secrets[i])) abort();
            registration_free(r);
        }
        diags_free(&d);
    }
    json_decref(spec);
    free(name);
    return 0;
}
