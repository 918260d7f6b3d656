/* onboard: what the starter kit's onboarding script creates in the hosted
 * service, created idempotently in evkit's store: the providers of
 * onboarding/config/providers.json, the event metadata of events.json
 * (label, description, sample per provider and code), and registrations:
 * those of onboarding/config/starter-kit-registrations.json (the kit's
 * {entity: [provider, ...]} -> registration <entity>-<provider> delivering
 * that entity's codes of that provider to <entity>-<provider>/consumer)
 * through the registrations store, beside the manifest's own. Prints one
 * line per item and a summary; running it again creates nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "cli/progress.h"
#include "registry/registry.h"

#define KIT_REGISTRATIONS_REL "onboarding/config/starter-kit-registrations.json"

static const char ONBOARD_USAGE[] =
    "usage: evkit onboard [--app DIR] [--data DIR] [--json]\n"
    "\n"
    "  Creates what the app's onboarding config describes, and only what is missing:\n"
    "  providers (providers.json), event metadata (events.json: label, description,\n"
    "  sample) and registrations (starter-kit-registrations.json: <entity>-<provider>\n"
    "  to <entity>-<provider>/consumer; app.config.yaml's are reported). One line per\n"
    "  item (created, updated, already present, failed) and a summary.\n";

typedef enum { O_CREATED, O_UPDATED, O_PRESENT, O_FAILED, O_COUNT } outcome_t;
static const char *const outcome_names[] = {"created", "updated", "already present", "failed"};

typedef struct report {
    const cli_ctx *ctx;
    int width;                   /* of the name column */
    json_t *items;               /* --json */
    int counts[3][O_COUNT];      /* per kind */
    progress_t *progress;        /* on a terminal: items done of all */
} report_t;

enum { K_PROVIDER, K_EVENT, K_REGISTRATION };
static const char *const kind_names[] = {"provider", "event metadata", "registration"};

static void note(report_t *r, int kind, const char *name, outcome_t o, const char *detail)
{
    r->counts[kind][o]++;
    progress_clear(r->progress);
    if (r->ctx->json) {
        json_array_append_new(r->items, json_pack("{s:s, s:s, s:s, s:s?}", "kind", kind_names[kind],
                                                  "name", name, "outcome", outcome_names[o],
                                                  "detail", detail));
        return;
    }
    printf("%-14s %-*s %s%s%s%s\n", kind_names[kind], r->width, name, outcome_names[o],
           detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    fflush(stdout);
    progress_add(r->progress, 1);
}

static void onboard_providers(report_t *r, engine_t *e)
{
    for (size_t i = 0; i < e->app->nproviders; i++) {
        const provider_t *p = &e->app->providers[i];
        char id[37], detail[64];
        bool found;
        err_t err;
        if (store_provider_find(e->store, p->key, id, &found, &err) < 0 ||
            (!found && store_provider_id(e->store, p->key, id, &err) < 0)) {
            note(r, K_PROVIDER, p->key, O_FAILED, err.msg);
            continue;
        }
        snprintf(detail, sizeof detail, "id %s", id);
        note(r, K_PROVIDER, p->key, found ? O_PRESENT : O_CREATED, detail);
    }
}

static void onboard_events(report_t *r, engine_t *e)
{
    for (size_t i = 0; i < e->app->nevents; i++) {
        const event_code_t *ev = &e->app->events[i];
        const provider_t *p = app_provider(e->app, ev->provider);
        char *description = xasprintf("%s event from %s", ev->entity,
                                      p && p->label ? p->label : ev->provider);
        store_event_meta m = {.provider = ev->provider, .code = ev->code, .label = ev->code,
                              .description = description, .sample = ev->sample};
        store_put_outcome out;
        err_t err;
        char *name = xasprintf("%s %s", ev->provider, ev->code);
        if (store_event_meta_put(e->store, &m, &out, &err) < 0)
            note(r, K_EVENT, name, O_FAILED, err.msg);
        else
            note(r, K_EVENT, name,
                 out == STORE_CREATED ? O_CREATED : out == STORE_UPDATED ? O_UPDATED : O_PRESENT,
                 NULL);
        free(name);
        free(description);
    }
}

/* The registration the kit's onboarding makes for (entity, provider). */
static json_t *kit_registration(const app_t *app, const char *entity, const char *provider)
{
    json_t *codes = json_array();
    for (size_t i = 0; i < app->nevents; i++)
        if (!strcmp(app->events[i].entity, entity) && !strcmp(app->events[i].provider, provider))
            json_array_append_new(codes, json_string(app->events[i].code));
    const provider_t *p = app_provider(app, provider);
    char *description = xasprintf("%s events of the %s", entity, p && p->label ? p->label : provider);
    char *action = xasprintf("%s-%s/consumer", entity, provider);
    json_t *spec = json_pack("{s:s, s:[{s:s, s:o}], s:s}", "description", description,
                             "events_of_interest", "provider_metadata", provider, "event_codes",
                             codes, "runtime_action", action);
    free(description);
    free(action);
    return spec;
}

static int onboard_registrations(report_t *r, engine_t *e)
{
    /* The manifest's own: present whenever the app is loaded. */
    for (size_t i = 0; i < e->app->nregistrations; i++)
        note(r, K_REGISTRATION, e->app->registrations[i].name, O_PRESENT, "app.config.yaml");

    char *path = path_join(e->app->dir, KIT_REGISTRATIONS_REL);
    bool exists = path_is_file(path);
    json_error_t je;
    json_t *kit = exists ? json_load_file(path, JSON_REJECT_DUPLICATES, &je) : NULL;
    free(path);
    if (!exists) return 0;
    if (!kit)
        return cli_fail("%s:%d:%d: %s", KIT_REGISTRATIONS_REL, je.line, je.column, je.text), -1;
    int rc = 0;
    if (!json_is_object(kit)) {
        rc = cli_fail("%s: an object of entity -> [provider, ...] is required", KIT_REGISTRATIONS_REL);
        json_decref(kit);
        return -1;
    }
    const char *entity;
    json_t *providers;
    int64_t kit_items = 0;
    json_object_foreach(kit, entity, providers) kit_items += (int64_t)json_array_size(providers);
    progress_set_total(r->progress, (int64_t)(e->app->nproviders + e->app->nevents +
                                              e->app->nregistrations) + kit_items);
    json_object_foreach(kit, entity, providers) {
        if (!json_is_array(providers)) {
            rc = cli_fail("%s: \"%s\" must be an array of provider keys", KIT_REGISTRATIONS_REL, entity);
            break;
        }
        size_t i;
        json_t *pv;
        json_array_foreach(providers, i, pv) {
            const char *provider = json_string_value(pv);
            if (!provider || !app_provider(e->app, provider)) {
                char *n = xasprintf("%s-%s", entity, provider ? provider : "?");
                note(r, K_REGISTRATION, n, O_FAILED, "unknown provider (not in providers.json)");
                free(n);
                continue;
            }
            char *name = xasprintf("%s-%s", entity, provider);
            regset_t *set = registry_get(e->registry);
            bool from_api = false;
            bool present = regset_find(set, name, &from_api) != NULL;
            regset_release(set);
            if (present) {
                /* A manifest one was reported above already. */
                if (from_api) note(r, K_REGISTRATION, name, O_PRESENT, NULL);
                else progress_add(r->progress, 1);
                free(name);
                continue;
            }
            json_t *spec = kit_registration(e->app, entity, provider);
            err_t err;
            int status = registry_create(e->registry, name, spec, NULL, &err);
            json_decref(spec);
            if (status == 0)
                note(r, K_REGISTRATION, name, O_CREATED, NULL);
            else
                note(r, K_REGISTRATION, name, O_FAILED, err.msg);
            free(name);
        }
    }
    json_decref(kit);
    return rc ? -1 : 0;
}

static int onboard_run(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    engine_t e;
    if (!cli_open_engine(ctx, &e, NULL)) return EXIT_FAIL;
    report_t r = {.ctx = ctx, .items = json_array(), .width = 24};
    /* One column for every name: "<provider> <code>" are the longest. */
    for (size_t i = 0; i < e.app->nevents; i++) {
        int w = (int)(strlen(e.app->events[i].provider) + 1 + strlen(e.app->events[i].code));
        if (w > r.width) r.width = w;
    }
    if (r.width > 100) r.width = 100;
    r.progress = progress_start("onboarding", (int64_t)(e.app->nproviders + e.app->nevents +
                                                        e.app->nregistrations));
    progress_set(r.progress, 0); /* an empty bar before any work */
    onboard_providers(&r, &e);
    onboard_events(&r, &e);
    int rc = onboard_registrations(&r, &e) < 0 ? EXIT_FAIL : EXIT_OK;
    progress_finish(r.progress);
    int failed = 0, total[O_COUNT] = {0};
    for (int k = 0; k < 3; k++)
        for (int o = 0; o < O_COUNT; o++) total[o] += r.counts[k][o];
    failed = total[O_FAILED];
    if (ctx->json) {
        json_t *summary = json_object();
        for (int o = 0; o < O_COUNT; o++)
            json_object_set_new(summary, outcome_names[o], json_integer(total[o]));
        json_t *out = json_pack("{s:o, s:o}", "items", r.items, "summary", summary);
        cli_print_json(out);
        json_decref(out);
    } else {
        json_decref(r.items);
        for (int k = 0; k < 3; k++)
            printf("%s: %d created, %d updated, %d already present, %d failed\n",
                   k == K_PROVIDER ? "providers" : k == K_EVENT ? "event metadata" : "registrations",
                   r.counts[k][O_CREATED], r.counts[k][O_UPDATED], r.counts[k][O_PRESENT],
                   r.counts[k][O_FAILED]);
        printf("onboarding %s: %d created, %d updated, %d already present, %d failed\n",
               failed ? "incomplete" : "done", total[O_CREATED], total[O_UPDATED],
               total[O_PRESENT], failed);
    }
    cli_close_engine(&e);
    return failed ? EXIT_FAIL : rc;
}

const cli_command cli_cmd_onboard = {.name = "onboard", .usage = ONBOARD_USAGE, .run = onboard_run};
