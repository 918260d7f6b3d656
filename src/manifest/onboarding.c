/* onboarding: the starter kit's onboarding/config/providers.json (the event
 * providers) and events.json (entity -> provider -> event code ->
 * {sampleEventTemplate}, or entity -> provider -> [event codes] as the
 * commerce starter kit writes it). Registrations are checked against them.
 *
 * jansson gives positions only for syntax errors; for the rest we look the
 * offending key up in the text, which is good enough to jump to it. */
#include "manifest/manifest_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core/vec.h"

#define PROVIDERS_REL "onboarding/config/providers.json"
#define EVENTS_REL "onboarding/config/events.json"

typedef struct jfile {
    const char *rel;
    char *text;
    json_t *root;
} jfile_t;

static bool jfile_load(jfile_t *jf, const char *appdir, const char *rel, diags_t *d)
{
    memset(jf, 0, sizeof *jf);
    jf->rel = rel;
    char *path = path_join(appdir, rel);
    if (!path_is_file(path)) {
        diags_add(d, DIAG_ERROR, rel, 0, 0, "missing onboarding file %s (the starter kit's %s)",
                  path, rel);
        free(path);
        return false;
    }
    err_t err;
    size_t len = 0;
    jf->text = file_read(path, &len, &err);
    free(path);
    if (!jf->text) {
        diags_add(d, DIAG_ERROR, rel, 0, 0, "cannot read: %s", err.msg);
        return false;
    }
    json_error_t je;
    jf->root = json_loadb(jf->text, len, JSON_REJECT_DUPLICATES, &je);
    if (!jf->root) {
        diags_add(d, DIAG_ERROR, rel, je.line, je.column, "JSON: %s", je.text);
        return false;
    }
    return true;
}

static void jfile_free(jfile_t *jf)
{
    free(jf->text);
    json_decref(jf->root);
}

/* Where "key" is first written at or after *from (which moves there). */
static int line_of(const jfile_t *jf, const char **from, const char *key)
{
    char *needle = xasprintf("\"%s\"", key);
    const char *start = *from ? *from : jf->text;
    const char *hit = strstr(start, needle);
    free(needle);
    if (!hit) return 0;
    *from = hit;
    int line = 1;
    for (const char *p = jf->text; p < hit; p++)
        if (*p == '\n') line++;
    return line;
}

static char *opt_string(const jfile_t *jf, const json_t *obj, const char *field, const char *owner,
                        diags_t *d)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v)) {
        const char *at = NULL;
        diags_add(d, DIAG_ERROR, jf->rel, line_of(jf, &at, owner), 0,
                  "'%s' of provider '%s' must be a string", field, owner);
        return NULL;
    }
    return xstrdup(json_string_value(v));
}

static void providers_read(app_t *app, const jfile_t *jf, diags_t *d)
{
    if (!json_is_array(jf->root)) {
        diags_add(d, DIAG_ERROR, jf->rel, 1, 1,
                  "must be a JSON array of {key, label, description, docs_url}");
        return;
    }
    size_t n = json_array_size(jf->root);
    app->providers = xcalloc(n ? n : 1, sizeof *app->providers);
    const char *cursor = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(jf->root, i);
        json_t *key = json_object_get(o, "key");
        if (!json_is_object(o) || !json_is_string(key) || !*json_string_value(key)) {
            diags_add(d, DIAG_ERROR, jf->rel, 0, 0,
                      "provider #%zu needs a \"key\" string (the provider key registrations use)",
                      i + 1);
            continue;
        }
        const char *k = json_string_value(key);
        int line = line_of(jf, &cursor, k);
        if (app_provider(app, k)) {
            diags_add(d, DIAG_ERROR, jf->rel, line, 0, "duplicate provider key '%s'", k);
            continue;
        }
        const char *f;
        json_t *v;
        json_object_foreach(o, f, v) {
            if (strcmp(f, "key") && strcmp(f, "label") && strcmp(f, "description") &&
                strcmp(f, "docs_url"))
                diags_add(d, DIAG_WARNING, jf->rel, line, 0, "unknown key '%s' in provider '%s'",
                          f, k);
        }
        char *dummy = opt_string(jf, o, "docs_url", k, d);
        free(dummy);
        provider_t *p = &app->providers[app->nproviders++];
        p->key = xstrdup(k);
        p->label = opt_string(jf, o, "label", k, d);
        p->description = opt_string(jf, o, "description", k, d);
    }
}

static void event_add(app_t *app, size_t *cap, const char *entity, const char *prov,
                      const char *code, json_t *sample)
{
    VEC_GROW(app->events, *cap, app->nevents + 1);
    event_code_t *e = &app->events[app->nevents++];
    e->entity = xstrdup(entity);
    e->provider = xstrdup(prov);
    e->code = xstrdup(code);
    e->sample = sample ? json_incref(sample) : NULL;
}

/* The list form the commerce starter kit writes: provider -> [event codes],
 * without sample templates. */
static void event_list_read(app_t *app, size_t *cap, const jfile_t *jf, const char **cursor,
                            const char *entity, const char *prov, int pline, const json_t *codes,
                            diags_t *d)
{
    size_t i;
    json_t *v;
    json_array_foreach(codes, i, v) {
        const char *code = json_string_value(v);
        if (!code || !*code) {
            diags_add(d, DIAG_ERROR, jf->rel, pline, 0,
                      "event code #%zu of '%s' in entity '%s' must be a non-empty string", i + 1,
                      prov, entity);
            continue;
        }
        line_of(jf, cursor, code);
        event_add(app, cap, entity, prov, code, NULL);
    }
}

static void event_map_read(app_t *app, size_t *cap, const jfile_t *jf, const char **cursor,
                           const char *entity, const char *prov, json_t *bycode, diags_t *d)
{
    const char *code;
    json_t *spec;
    json_object_foreach(bycode, code, spec) {
        int cline = line_of(jf, cursor, code);
        if (!json_is_object(spec) && !json_is_null(spec)) {
            diags_add(d, DIAG_ERROR, jf->rel, cline, 0,
                      "event code '%s' must map to {\"sampleEventTemplate\": ...}", code);
            continue;
        }
        const char *f;
        json_t *v;
        json_object_foreach(spec, f, v) {
            if (strcmp(f, "sampleEventTemplate"))
                diags_add(d, DIAG_WARNING, jf->rel, cline, 0,
                          "unknown key '%s' in event code '%s'", f, code);
        }
        event_add(app, cap, entity, prov, code, json_object_get(spec, "sampleEventTemplate"));
    }
}

static void events_read(app_t *app, const jfile_t *jf, diags_t *d)
{
    if (!json_is_object(jf->root)) {
        diags_add(d, DIAG_ERROR, jf->rel, 1, 1,
                  "must be a JSON object: entity -> provider -> event code -> "
                  "{sampleEventTemplate} (or provider -> [event codes])");
        return;
    }
    size_t cap = 0;
    const char *entity, *prov;
    json_t *byprov, *bycode;
    const char *cursor = NULL;
    json_object_foreach(jf->root, entity, byprov) {
        int eline = line_of(jf, &cursor, entity);
        if (!json_is_object(byprov)) {
            diags_add(d, DIAG_ERROR, jf->rel, eline, 0,
                      "entity '%s' must map provider keys to event codes", entity);
            continue;
        }
        json_object_foreach(byprov, prov, bycode) {
            int pline = line_of(jf, &cursor, prov);
            if (!json_is_object(bycode) && !json_is_array(bycode)) {
                diags_add(d, DIAG_ERROR, jf->rel, pline, 0,
                          "'%s' of entity '%s' must map event codes to {sampleEventTemplate} or "
                          "list event codes",
                          prov, entity);
                continue;
            }
            /* Without a providers.json every provider would be flagged: noise. */
            if (app->nproviders && !app_provider(app, prov))
                diags_add(d, DIAG_WARNING, jf->rel, pline, 0,
                          "provider '%s' of entity '%s' is not in providers.json", prov, entity);
            if (json_is_array(bycode))
                event_list_read(app, &cap, jf, &cursor, entity, prov, pline, bycode, d);
            else
                event_map_read(app, &cap, jf, &cursor, entity, prov, bycode, d);
        }
    }
}

void onboarding_load(app_t *app, diags_t *d)
{
    jfile_t pj, ej;
    if (jfile_load(&pj, app->dir, PROVIDERS_REL, d)) providers_read(app, &pj, d);
    /* events.json is checked against the providers, so it comes second. */
    if (jfile_load(&ej, app->dir, EVENTS_REL, d)) events_read(app, &ej, d);
    jfile_free(&pj);
    jfile_free(&ej);
}
