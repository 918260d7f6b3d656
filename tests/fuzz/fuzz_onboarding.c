/* events.json (both shapes: entity -> provider -> codes, and the starter
 * kit's entity -> [providers]) and providers.json, loaded with an
 * app.config.yaml whose registrations refer to them. Parts: events.json,
 * providers.json. */
#include "fuzz.h"

#include <sys/stat.h>

static char *dir;

static const char CONFIG[] =
    "application:\n"
    "  runtimeManifest:\n"
    "    packages:\n"
    "      p:\n"
    "        actions:\n"
    "          consumer:\n"
    "            function: ./a.lua\n"
    "            runtime: lua\n"
    "  events:\n"
    "    registrations:\n"
    "      r1:\n"
    "        description: fuzz\n"
    "        events_of_interest:\n"
    "          - provider_metadata: backoffice\n"
    "            event_codes:\n"
    "              - be-observer.catalog_product_create\n"
    "          - provider_metadata: commerce\n"
    "            event_codes:\n"
    "              - com.adobe.commerce.observer.catalog_product_save_commit_after\n"
    "        runtime_action: p/consumer\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_OFF);
    dir = fz_tmpdir();
    char sub[600];
    snprintf(sub, sizeof sub, "%s/onboarding", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/onboarding/config", dir);
    mkdir(sub, 0755);
    fz_write(dir, "a.lua", "function main(p) return p end\n", 30);
    fz_write(dir, "app.config.yaml", CONFIG, sizeof CONFIG - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    fz_write(dir, "onboarding/config/events.json", p.p[0], p.len[0]);
    fz_write(dir, "onboarding/config/providers.json", p.n > 1 ? p.p[1] : "", p.n > 1 ? p.len[1] : (size_t)-1);
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    FILE *null = fopen("/dev/null", "w");
    diags_print(&d, null);
    fclose(null);
    if (app) {
        for (size_t i = 0; i < app->nevents; i++) {
            const event_code_t *ev = &app->events[i];
            if (!app_event_code(app, ev->provider, ev->code)) abort();
            /* A provider missing from providers.json is only a warning. */
            if (!app_provider(app, ev->provider) && d.warnings == 0) abort();
        }
        app_free(app);
    }
    diags_free(&d);
    fz_parts_free(&p);
    return 0;
}
