/* Manifests: app.config.yaml with an $include'd file and .env, loaded as
 * `evkit serve` loads an app folder (app_load). Parts: app.config.yaml,
 * inc.yaml, .env. */
#include "fuzz.h"

#include <sys/stat.h>

static char *dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_OFF);
    dir = fz_tmpdir();
    char sub[600];
    snprintf(sub, sizeof sub, "%s/actions", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/onboarding", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/onboarding/config", dir);
    mkdir(sub, 0755);
    fz_write(dir, "actions/a.lua", "function main(p) return p end\n", 30);
    fz_copy("app/onboarding/config/events.json", dir, "onboarding/config/events.json");
    fz_copy("app/onboarding/config/providers.json", dir, "onboarding/config/providers.json");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    static const char *files[] = {"app.config.yaml", "inc.yaml", ".env"};
    for (size_t i = 0; i < 3; i++)
        fz_write(dir, files[i], p.p[i < p.n ? i : 0], i < p.n ? p.len[i] : (size_t)-1);
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    FILE *null = fopen("/dev/null", "w");
    diags_print(&d, null);
    fclose(null);
    if (app) {
        /* What the registry and the routes ask of a loaded app. */
        for (size_t i = 0; i < app->nregistrations; i++) {
            const registration_t *r = &app->registrations[i];
            if (app_registration(app, r->name) == NULL) abort();
            for (size_t k = 0; k < r->ninterests; k++)
                for (size_t c = 0; c < r->interests[k].ncodes; c++)
                    if (!registration_matches(r, r->interests[k].provider, r->interests[k].codes[c]))
                        abort();
        }
        for (size_t i = 0; i < app->nactions; i++)
            if (app_action(app, app->actions[i].fqn) == NULL) abort();
        app_free(app);
    }
    diags_free(&d);
    fz_parts_free(&p);
    return 0;
}
