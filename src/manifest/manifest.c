/* manifest: reads an app folder into an app_t. app.config.yaml (App Builder
 * shape: application.runtimeManifest.packages and application.events.
 * registrations) is loaded by ytree.c with $include applied; this file checks
 * every key against what evkit understands, resolves paths, $VARs and
 * defaults, and validates registrations against the onboarding config.
 *
 * Everything is checked in one pass so a user sees all problems at once;
 * app_load only decides at the end, from the error count, whether the app is
 * usable. Unknown keys are warnings (a typo must not go unnoticed, but the
 * hosted platform knows keys evkit does not use). */
#include "manifest/manifest_int.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/util.h"
#include "core/vec.h"

#define CONFIG_FILE "app.config.yaml"

static const char *const APP_KEYS[] = {"runtimeManifest", "events", NULL};
static const char *const RM_KEYS[] = {"packages", NULL};
static const char *const PKG_KEYS[] = {"license", "inputs",   "actions", "sequences",
                                       "triggers", "rules", NULL};
static const char *const ACTION_KEYS[] = {"function", "runtime",     "web",    "inputs",
                                          "annotations", "limits", "main", NULL};
static const char *const LIMIT_KEYS[] = {"timeout", "memory", "concurrency", NULL};
static const char *const EVENTS_KEYS[] = {"registrations", NULL};
static const char *const REG_KEYS[] = {"description", "events_of_interest", "runtime_action",
                                       "webhook_url", "delivery_type",      "webhook_secret",
                                       "retry",       "ordering",           "filter",
                                       "flow_control", NULL};
static const char *const EOI_KEYS[] = {"provider_metadata", "event_codes", NULL};
static const char *const RETRY_KEYS[] = {"schedule", "max_age", "jitter", NULL};
static const char *const ORDERING_KEYS[] = {"key", NULL};
static const char *const FLOW_KEYS[] = {"concurrency", "rate", NULL};

/* ---- helpers ---- */

static bool in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (!strcmp(*list, s)) return true;
    return false;
}

void warn_unknown(lctx_t *c, const mnode_t *map, const char *const *known, const char *where,
                  ...)
{
    for (size_t i = 0; i < map->npairs; i++) {
        if (in_list(known, map->pairs[i].key->str)) continue;
        va_list ap;
        va_start(ap, where);
        char *w = xvasprintf(where, ap);
        va_end(ap);
        mdiag(c->d, DIAG_WARNING, map->pairs[i].key, "unknown key '%s' %s; ignored",
              map->pairs[i].key->str, w);
        free(w);
    }
}

/* True for a mapping. Absent or empty values are false without a word (the
 * caller decides whether that is a problem); anything else is a type error. */
bool want_map(lctx_t *c, const mnode_t *n, const char *what, ...)
{
    if (mn_is_null(n)) return false;
    if (n->kind == MN_MAP) return true;
    va_list ap;
    va_start(ap, what);
    char *w = xvasprintf(what, ap);
    va_end(ap);
    mdiag(c->d, DIAG_ERROR, n, "%s must be a mapping, not %s", w, mn_describe(n));
    free(w);
    return false;
}

/* A string value, NULL when absent or empty (and an error when of another type). */
const char *want_str(lctx_t *c, const mnode_t *n, const char *what)
{
    if (mn_is_null(n)) return NULL;
    if (mn_is_str(n)) return n->str;
    mdiag(c->d, DIAG_ERROR, n, "%s must be a string, not %s", what, mn_describe(n));
    return NULL;
}

/* Milliseconds from an integer or a duration string ("500ms", "1m", "PT1M"). */
bool want_ms(lctx_t *c, const mnode_t *n, const char *what, int64_t *out)
{
    if (n->kind == MN_SCALAR && n->st == MS_INT) {
        *out = n->ival;
        return true;
    }
    if (mn_is_str(n) && dur_parse(n->str, out) == 0) return true;
    if (mn_is_str(n))
        mdiag(c->d, DIAG_ERROR, n, "%s: '%s' is not a duration (milliseconds, or like 500ms, 2s, "
              "1m, 1h, PT1M)", what, n->str);
    else
        mdiag(c->d, DIAG_ERROR, n, "%s must be milliseconds or a duration like 1m, not %s", what,
              mn_describe(n));
    return false;
}

static bool want_int(lctx_t *c, const mnode_t *n, const char *what, int64_t lo, int64_t hi,
                     int64_t *out)
{
    if (n->kind != MN_SCALAR || n->st != MS_INT) {
        mdiag(c->d, DIAG_ERROR, n, "%s must be an integer, not %s", what, mn_describe(n));
        return false;
    }
    if (n->ival < lo || n->ival > hi) {
        mdiag(c->d, DIAG_ERROR, n, "%s is %lld; it must be within %lld..%lld", what,
              (long long)n->ival, (long long)lo, (long long)hi);
        return false;
    }
    *out = n->ival;
    return true;
}

/* OpenWhisk entity names, minus spaces: they end up in URLs. */
bool valid_name(const char *s)
{
    if (!*s || !(isalnum((unsigned char)*s) || *s == '_')) return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("_@.-", *s))) return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Inputs as JSON: typed scalars stay typed (quoted ones are strings), and
 * every string has its $VARs expanded. */
json_t *input_json(lctx_t *c, const mnode_t *n)
{
    switch (n->kind) {
    case MN_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < n->npairs; i++)
            json_object_set_new(o, n->pairs[i].key->str, input_json(c, n->pairs[i].val));
        return o;
    }
    case MN_SEQ: {
        json_t *a = json_array();
        for (size_t i = 0; i < n->nitems; i++) json_array_append_new(a, input_json(c, n->items[i]));
        return a;
    }
    default: break;
    }
    if (n->st != MS_STR) return mn_to_json(n);
    char *s = env_expand(n->str, c->app->env, c->missing, c->d, n);
    json_t *j = json_string(s);
    free(s);
    return j ? j : json_string("");
}

/* ---- actions ---- */

action_t *action_push(lctx_t *c)
{
    app_t *app = c->app;
    VEC_GROW(app->actions, c->capactions, app->nactions + 1);
    action_t *a = &app->actions[app->nactions++];
    memset(a, 0, sizeof *a);
    return a;
}

static void action_function(lctx_t *c, action_t *a, const mnode_t *key, const mnode_t *spec)
{
    const mnode_t *fn = mn_get(spec, "function");
    if (mn_is_null(fn)) {
        mdiag(c->d, DIAG_ERROR, fn ? fn : key, "action '%s' has no 'function'", a->fqn);
        return;
    }
    char *what = xasprintf("'function' of action '%s'", a->fqn);
    const char *rel = want_str(c, fn, what);
    free(what);
    if (!rel) return;
    /* Relative to the YAML file that declares it, which with $include is not
     * necessarily app.config.yaml. */
    char *path = path_join(fn->file->dir, rel);
    char *real = path_real(path);
    if (!real || !path_is_file(real)) {
        mdiag(c->d, DIAG_ERROR, fn, "function '%s' of action '%s' not found (looked for %s)", rel,
              a->fqn, path);
        free(real);
    } else {
        a->function = real;
        a->dir = path_dirname(real);
    }
    free(path);
}

/* nodejs, nodejs:default, nodejs:16 .. nodejs:24 (the hosted platform's
 * kinds); *major 0 for the default. False for anything else. */
static bool nodejs_kind(const char *r, int *major)
{
    static const char *const majors[] = {"16", "18", "20", "22", "24", NULL};
    *major = 0;
    if (!strcmp(r, "nodejs") || !strcmp(r, "nodejs:default")) return true;
    if (strncmp(r, "nodejs:", 7) != 0) return false;
    for (int i = 0; majors[i]; i++)
        if (!strcmp(r + 7, majors[i])) {
            *major = atoi(majors[i]);
            return true;
        }
    return false;
}

static void action_runtime(lctx_t *c, action_t *a, const mnode_t *key, const mnode_t *spec)
{
    const mnode_t *rt = mn_get(spec, "runtime");
    const mnode_t *fn = mn_get(spec, "function");
    if (mn_is_null(rt)) {
        if (mn_is_str(fn) && ends_with(fn->str, ".lua")) {
            a->runtime = xstrdup("lua");
            a->kind = RUNTIME_LUA;
        } else if (mn_is_str(fn) || mn_is_null(fn)) {
            /* (A function of the wrong type is already an error of its own.) */
            mdiag(c->d, DIAG_ERROR, rt ? rt : key,
                  "action '%s' has no 'runtime': set lua, exec, actionloop or nodejs:<version> "
                  "(only a .lua function implies lua)",
                  a->fqn);
        }
        return;
    }
    char *what = xasprintf("'runtime' of action '%s'", a->fqn);
    const char *r = want_str(c, rt, what);
    free(what);
    if (!r) return;
    a->runtime = xstrdup(r);
    if (!strcmp(r, "lua") || !strncmp(r, "lua:", 4)) a->kind = RUNTIME_LUA;
    else if (!strcmp(r, "exec")) a->kind = RUNTIME_EXEC;
    else if (!strcmp(r, "actionloop")) a->kind = RUNTIME_ACTIONLOOP;
    else if (nodejs_kind(r, &a->node_major)) a->kind = RUNTIME_NODEJS;
    else if (!strncmp(r, "nodejs:", 7))
        mdiag(c->d, DIAG_ERROR, rt,
              "runtime '%s' of action '%s' is not supported: Node.js actions declare nodejs:16, "
              "nodejs:18, nodejs:20, nodejs:22, nodejs:24 or nodejs:default",
              r, a->fqn);
    else
        mdiag(c->d, DIAG_ERROR, rt,
              "runtime '%s' of action '%s' is not supported: evkit runs lua, exec, actionloop and "
              "nodejs:<version>",
              r, a->fqn);
    /* exec and actionloop start the file itself: say so now rather than at
     * the first invocation. */
    if (a->function && (a->kind == RUNTIME_EXEC || a->kind == RUNTIME_ACTIONLOOP) &&
        access(a->function, X_OK) != 0)
        mdiag(c->d, DIAG_WARNING, fn, "function of %s action '%s' is not executable (chmod +x %s)",
              r, a->fqn, a->function);
}

/* main: the function a nodejs action exports (OpenWhisk's "main" key). */
static void action_main(lctx_t *c, action_t *a, const mnode_t *spec)
{
    const mnode_t *m = mn_get(spec, "main");
    a->main_name = xstrdup("main");
    if (!m) return;
    char *what = xasprintf("'main' of action '%s'", a->fqn);
    const char *name = want_str(c, m, what);
    free(what);
    if (!name) return;
    bool ident = *name && !isdigit((unsigned char)*name);
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '$') ident = false;
    if (!ident)
        mdiag(c->d, DIAG_ERROR, m, "'main' of action '%s' must name an exported function, not '%s'",
              a->fqn, name);
    else if (a->kind != RUNTIME_NODEJS)
        mdiag(c->d, DIAG_WARNING, m, "'main' of action '%s' is ignored: only nodejs actions use it",
              a->fqn);
    else {
        free(a->main_name);
        a->main_name = xstrdup(name);
    }
}

void action_web(lctx_t *c, action_t *a, const mnode_t *spec)
{
    const mnode_t *w = mn_get(spec, "web");
    if (mn_is_null(w)) return;
    if (w->kind == MN_SCALAR && w->st == MS_BOOL) {
        a->web = w->bval ? WEB_YES : WEB_NO;
        return;
    }
    if (mn_is_str(w)) {
        if (!strcmp(w->str, "yes") || !strcmp(w->str, "true")) a->web = WEB_YES;
        else if (!strcmp(w->str, "no") || !strcmp(w->str, "false")) a->web = WEB_NO;
        else if (!strcmp(w->str, "raw")) a->web = WEB_RAW, a->raw_http = true;
        else
            mdiag(c->d, DIAG_ERROR, w,
                  "'web' of action '%s' must be 'yes', 'no' or 'raw', not '%s'", a->fqn, w->str);
        return;
    }
    mdiag(c->d, DIAG_ERROR, w, "'web' of action '%s' must be 'yes', 'no' or 'raw', not %s", a->fqn,
          mn_describe(w));
}

void action_annotations(lctx_t *c, action_t *a, const mnode_t *spec)
{
    const mnode_t *an = mn_get(spec, "annotations");
    if (!want_map(c, an, "'annotations' of action '%s'", a->fqn)) return;
    for (size_t i = 0; i < an->npairs; i++) {
        const char *k = an->pairs[i].key->str;
        const mnode_t *v = an->pairs[i].val;
        json_object_set_new(a->annotations, k, mn_to_json(v));
        bool *flag = !strcmp(k, "final") ? &a->final
                     : !strcmp(k, "require-adobe-auth") ? &a->require_auth
                     : !strcmp(k, "raw-http") ? &a->raw_http
                     : NULL;
        if (!flag) continue;
        if (v->kind != MN_SCALAR || v->st != MS_BOOL) {
            mdiag(c->d, DIAG_ERROR, v,
                  "annotation '%s' of action '%s' must be true or false, not %s%s%s%s", k, a->fqn,
                  mn_describe(v), v->kind == MN_SCALAR ? " ('" : "",
                  v->kind == MN_SCALAR ? v->str : "", v->kind == MN_SCALAR ? "')" : "");
            continue;
        }
        /* web: raw already asked for raw HTTP; raw-http: false does not undo it. */
        *flag = v->bval || (flag == &a->raw_http && a->web == WEB_RAW);
        if (flag == &a->raw_http && v->bval && a->web == WEB_NO)
            mdiag(c->d, DIAG_WARNING, v, "annotation raw-http has no effect: action '%s' is not a "
                  "web action", a->fqn);
    }
}

static void action_limits(lctx_t *c, action_t *a, const mnode_t *spec)
{
    const mnode_t *lim = mn_get(spec, "limits");
    if (!want_map(c, lim, "'limits' of action '%s'", a->fqn)) return;
    warn_unknown(c, lim, LIMIT_KEYS, "in the limits of action '%s'", a->fqn);
    char *what;

    const mnode_t *n;
    int64_t v;
    if ((n = mn_get(lim, "timeout")) != NULL) {
        what = xasprintf("limits.timeout of action '%s'", a->fqn);
        if (want_ms(c, n, what, &v)) {
            if (v < ACTION_MIN_TIMEOUT_MS || v > ACTION_MAX_TIMEOUT_MS)
                mdiag(c->d, DIAG_ERROR, n, "%s is %lld ms; it must be within %d..%d ms", what,
                      (long long)v, ACTION_MIN_TIMEOUT_MS, ACTION_MAX_TIMEOUT_MS);
            else
                a->timeout_ms = (int)v;
        }
        free(what);
    }
    if ((n = mn_get(lim, "memory")) != NULL) {
        what = xasprintf("limits.memory (MB) of action '%s'", a->fqn);
        if (want_int(c, n, what, ACTION_MIN_MEMORY_MB, ACTION_MAX_MEMORY_MB, &v))
            a->memory_mb = (int)v;
        free(what);
    }
    if ((n = mn_get(lim, "concurrency")) != NULL) {
        what = xasprintf("limits.concurrency of action '%s'", a->fqn);
        if (want_int(c, n, what, ACTION_MIN_CONCURRENCY, ACTION_MAX_CONCURRENCY, &v))
            a->concurrency = (int)v;
        free(what);
    }
}

static void action_parse(lctx_t *c, const char *pkg, const json_t *pkg_inputs, const mnode_t *key,
                         const mnode_t *spec)
{
    action_t *a = action_push(c);
    a->package = xstrdup(pkg);
    a->name = xstrdup(key->str);
    a->fqn = xasprintf("%s/%s", pkg, key->str);
    a->kind = RUNTIME_LUA;
    a->web = WEB_NO;
    a->inputs = json_deep_copy(pkg_inputs);
    a->annotations = json_object();
    a->timeout_ms = ACTION_DEFAULT_TIMEOUT_MS;
    a->memory_mb = ACTION_DEFAULT_MEMORY_MB;
    a->concurrency = ACTION_DEFAULT_CONCURRENCY;

    if (!valid_name(key->str))
        mdiag(c->d, DIAG_ERROR, key, "invalid action name '%s' (letters, digits and _ @ . -)",
              key->str);
    if (mn_is_null(spec)) {
        mdiag(c->d, DIAG_ERROR, key, "action '%s' is empty: it needs at least 'function'", a->fqn);
        return;
    }
    if (!want_map(c, spec, "action '%s'", a->fqn)) return;
    warn_unknown(c, spec, ACTION_KEYS, "in action '%s'", a->fqn);

    action_function(c, a, key, spec);
    action_runtime(c, a, key, spec);
    action_main(c, a, spec);
    action_web(c, a, spec);
    action_annotations(c, a, spec);
    action_limits(c, a, spec);

    const mnode_t *in = mn_get(spec, "inputs");
    if (want_map(c, in, "'inputs' of action '%s'", a->fqn)) {
        /* Package inputs first, the action's own override them. */
        json_t *own = input_json(c, in);
        json_object_update(a->inputs, own);
        json_decref(own);
    }
}

static void package_parse(lctx_t *c, const mnode_t *key, const mnode_t *spec)
{
    const char *pkg = key->str;
    if (!valid_name(pkg))
        mdiag(c->d, DIAG_ERROR, key, "invalid package name '%s' (letters, digits and _ @ . -)",
              pkg);
    if (!want_map(c, spec, "package '%s'", pkg)) {
        if (mn_is_null(spec)) mdiag(c->d, DIAG_WARNING, key, "package '%s' is empty", pkg);
        return;
    }
    warn_unknown(c, spec, PKG_KEYS, "in package '%s'", pkg);
    char *what;

    what = xasprintf("'license' of package '%s'", pkg);
    want_str(c, mn_get(spec, "license"), what);
    free(what);

    json_t *inputs = NULL;
    const mnode_t *in = mn_get(spec, "inputs");
    /* Expanded once here, not once per action. */
    inputs = want_map(c, in, "'inputs' of package '%s'", pkg) ? input_json(c, in) : json_object();

    const mnode_t *acts = mn_get(spec, "actions");
    if (want_map(c, acts, "'actions' of package '%s'", pkg))
        for (size_t i = 0; i < acts->npairs; i++)
            action_parse(c, pkg, inputs, acts->pairs[i].key, acts->pairs[i].val);
    flows_package_parse(c, pkg, inputs, spec);
    json_decref(inputs);
}

/* ---- registrations ---- */

static char *provider_list(const app_t *app)
{
    buf_t b;
    buf_init(&b, 0);
    for (size_t i = 0; i < app->nproviders; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", app->providers[i].key);
    return buf_steal(&b);
}

static void interest_parse(lctx_t *c, const registration_t *r, const mnode_t *item, interest_t *it)
{
    char *what = xasprintf("an events_of_interest entry of registration '%s'", r->name);
    bool ok = item->kind == MN_MAP;
    if (!ok)
        mdiag(c->d, DIAG_ERROR, item,
              "%s must be a mapping {provider_metadata, event_codes}, not %s", what,
              mn_describe(item));
    free(what);
    if (!ok) return;
    warn_unknown(c, item, EOI_KEYS, "in events_of_interest of registration '%s'", r->name);

    const mnode_t *pm = mn_get(item, "provider_metadata");
    what = xasprintf("provider_metadata of registration '%s'", r->name);
    const char *prov = want_str(c, pm, what);
    free(what);
    bool known = false;
    if (!prov) {
        if (mn_is_null(pm))
            mdiag(c->d, DIAG_ERROR, pm ? pm : item,
                  "events_of_interest of registration '%s' needs provider_metadata (a provider "
                  "key)",
                  r->name);
    } else {
        it->provider = xstrdup(prov);
        known = app_provider(c->app, prov) != NULL;
        /* Without a providers.json (already an error) every key would be unknown. */
        if (!known && c->app->nproviders) {
            char *list = provider_list(c->app);
            mdiag(c->d, DIAG_ERROR, pm,
                  "unknown provider '%s' in registration '%s' (providers.json has: %s)", prov,
                  r->name, list);
            free(list);
        }
    }

    const mnode_t *codes = mn_get(item, "event_codes");
    const mnode_t *const *list = NULL;
    size_t n = 0;
    const mnode_t *single = codes;
    if (codes && codes->kind == MN_SEQ) {
        list = (const mnode_t *const *)codes->items;
        n = codes->nitems;
    } else if (mn_is_str(codes)) {
        list = &single;
        n = 1;
    } else if (!mn_is_null(codes)) {
        mdiag(c->d, DIAG_ERROR, codes, "event_codes of registration '%s' must be a list, not %s",
              r->name, mn_describe(codes));
        return;
    }
    if (!n) {
        mdiag(c->d, DIAG_ERROR, codes ? codes : item,
              "events_of_interest of registration '%s' needs event_codes (at least one)", r->name);
        return;
    }
    it->codes = xcalloc(n, sizeof *it->codes);
    for (size_t i = 0; i < n; i++) {
        const mnode_t *cn = list[i];
        if (!mn_is_str(cn)) {
            mdiag(c->d, DIAG_ERROR, cn, "event code of registration '%s' must be a string, not %s",
                  r->name, mn_describe(cn));
            continue;
        }
        it->codes[it->ncodes++] = xstrdup(cn->str);
        if (known && c->app->nevents && !app_event_code(c->app, prov, cn->str))
            mdiag(c->d, DIAG_ERROR, cn,
                  "event code '%s' of provider '%s' is not in events.json (registration '%s')",
                  cn->str, prov, r->name);
    }
}

static void retry_parse(lctx_t *c, registration_t *r, const mnode_t *retry)
{
    if (!want_map(c, retry, "'retry' of registration '%s'", r->name)) return;
    warn_unknown(c, retry, RETRY_KEYS, "in the retry of registration '%s'", r->name);
    char *what;

    const mnode_t *s = mn_get(retry, "schedule");
    if (s && s->kind == MN_SEQ && s->nitems) {
        int64_t *sched = xcalloc(s->nitems, sizeof *sched);
        size_t n = 0;
        what = xasprintf("retry.schedule of registration '%s'", r->name);
        for (size_t i = 0; i < s->nitems; i++) {
            int64_t v;
            if (!want_ms(c, s->items[i], what, &v)) continue;
            if (v < 0) {
                mdiag(c->d, DIAG_ERROR, s->items[i], "%s: a delay cannot be negative", what);
                continue;
            }
            sched[n++] = v;
        }
        free(what);
        if (n == s->nitems) {
            free(r->retry_schedule_ms);
            r->retry_schedule_ms = sched;
            r->nretry = n;
        } else {
            free(sched);
        }
    } else if (s && !mn_is_null(s)) {
        mdiag(c->d, DIAG_ERROR, s,
              "retry.schedule of registration '%s' must be a non-empty list of delays, not %s",
              r->name, s->kind == MN_SEQ ? "an empty list" : mn_describe(s));
    }

    const mnode_t *m = mn_get(retry, "max_age");
    if (!mn_is_null(m)) {
        int64_t v;
        what = xasprintf("retry.max_age of registration '%s'", r->name);
        if (want_ms(c, m, what, &v)) {
            if (v <= 0) mdiag(c->d, DIAG_ERROR, m, "%s must be positive", what);
            else r->retry_max_age_ms = v;
        }
        free(what);
    }
    const mnode_t *j = mn_get(retry, "jitter");
    if (!mn_is_null(j)) {
        int64_t v;
        what = xasprintf("retry.jitter (percent) of registration '%s'", r->name);
        if (want_int(c, j, what, 0, 100, &v)) r->retry_jitter_pct = v;
        free(what);
    }
}

static void ordering_parse(lctx_t *c, registration_t *r, const mnode_t *o)
{
    if (mn_is_null(o)) return;
    const mnode_t *k = o;
    if (o->kind == MN_MAP) {
        warn_unknown(c, o, ORDERING_KEYS, "in the ordering of registration '%s'", r->name);
        k = mn_get(o, "key");
        if (mn_is_null(k)) {
            mdiag(c->d, DIAG_ERROR, k ? k : o,
                  "ordering of registration '%s' needs a key (a path into the event, like "
                  "data.sku)",
                  r->name);
            return;
        }
    }
    if (!mn_is_str(k) || !*k->str) {
        mdiag(c->d, DIAG_ERROR, k,
              "ordering key of registration '%s' must be a path into the event like data.sku, "
              "not %s",
              r->name, mn_describe(k));
        return;
    }
    r->ordering_key = xstrdup(k->str);
}

/* "COUNT/DURATION" (10/1s, 600/1m) or COUNT alone (per second). */
static bool rate_parse(const char *s, int64_t *count, int64_t *window_ms)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 1 || n > 1000000) return false;
    *count = n;
    *window_ms = 1000;
    if (!*end) return true;
    if (*end != '/') return false;
    return dur_parse(end + 1, window_ms) == 0 && *window_ms >= 1 &&
           *window_ms <= 24LL * 3600 * 1000;
}

/* flow_control: at most `concurrency` deliveries in flight and `rate`
 * requests per window, so a slow receiver is not flooded. */
static void flow_parse(lctx_t *c, registration_t *r, const mnode_t *f)
{
    if (!want_map(c, f, "flow_control of registration '%s'", r->name)) return;
    warn_unknown(c, f, FLOW_KEYS, "in the flow_control of registration '%s'", r->name);
    const mnode_t *cc = mn_get(f, "concurrency");
    if (!mn_is_null(cc)) {
        int64_t v;
        char *what = xasprintf("flow_control.concurrency of registration '%s'", r->name);
        if (want_int(c, cc, what, 1, 1000, &v)) r->max_concurrency = (int)v;
        free(what);
    }
    const mnode_t *rt = mn_get(f, "rate");
    if (mn_is_null(rt)) return;
    const char *text = rt->kind == MN_SCALAR && (rt->st == MS_INT || rt->st == MS_STR) ? rt->str : NULL;
    if (!text || !rate_parse(text, &r->rate_count, &r->rate_window_ms)) {
        mdiag(c->d, DIAG_ERROR, rt,
              "flow_control.rate of registration '%s' must be COUNT/DURATION like 10/1s or "
              "600/1m (COUNT 1 to 1000000, DURATION up to 24h), or COUNT per second; not %s",
              r->name, text ? text : mn_describe(rt));
        r->rate_count = r->rate_window_ms = 0;
    }
}

/* A subscriber-defined filter: checked where it is written. */
static void filter_parse(lctx_t *c, registration_t *r, const mnode_t *f)
{
    if (mn_is_null(f)) return;
    json_t *pattern = mn_to_json(f);
    err_t err;
    filter_t *compiled = filter_compile(pattern, &err);
    if (!compiled) {
        mdiag(c->d, DIAG_ERROR, f, "filter of registration '%s': %s", r->name, err.msg);
        json_decref(pattern);
        return;
    }
    r->filter_spec = pattern;
    r->filter = compiled;
}

bool webhook_secret_valid(const char *s)
{
    if (!s || strncmp(s, "whsec_", 6) != 0) return false;
    s += 6;
    size_t n = strlen(s), pad = 0;
    if (n == 0 || n % 4 != 0 || n > 1024) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad || !(isalnum((unsigned char)ch) || ch == '+' || ch == '/')) return false;
    }
    return pad <= 2 && n > pad;
}

static bool url_is_http(const char *u)
{
    const char *rest = !strncmp(u, "http://", 7) ? u + 7 : !strncmp(u, "https://", 8) ? u + 8 : NULL;
    if (!rest || !*rest || *rest == '/' || *rest == ':') return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '#') return false;
    return true;
}

static void webhook_parse(lctx_t *c, registration_t *r, const mnode_t *spec, const mnode_t *wu)
{
    char *what = xasprintf("webhook_url of registration '%s'", r->name);
    const char *url = want_str(c, wu, what);
    free(what);
    if (url) {
        char *u = c->literal ? xstrdup(url) : env_expand(url, c->app->env, c->missing, c->d, wu);
        if (!url_is_http(u))
            mdiag(c->d, DIAG_ERROR, wu,
                  "webhook_url of registration '%s' must be an http:// or https:// URL, not '%s'",
                  r->name, u);
        r->webhook_url = u;
    }
    const mnode_t *dt = mn_get(spec, "delivery_type");
    what = xasprintf("delivery_type of registration '%s'", r->name);
    const char *t = want_str(c, dt, what);
    free(what);
    if (t && !strcmp(t, "batch")) r->batch = true;
    else if (t && strcmp(t, "list") && strcmp(t, "single"))
        mdiag(c->d, DIAG_ERROR, dt,
              "delivery_type of registration '%s' must be 'list' (one event per request) or "
              "'batch', not '%s'",
              r->name, t);

    const mnode_t *sec = mn_get(spec, "webhook_secret");
    const mnode_t *const *list = NULL;
    size_t n = 0;
    if (sec && sec->kind == MN_SEQ) {
        list = (const mnode_t *const *)sec->items;
        n = sec->nitems;
    } else if (!mn_is_null(sec)) {
        list = &sec;
        n = 1;
    }
    if (!n) {
        mdiag(c->d, DIAG_ERROR, sec ? sec : wu,
              "webhook registration '%s' needs webhook_secret (whsec_<base64>, the Standard "
              "Webhooks signing secret)",
              r->name);
        return;
    }
    if (n > WEBHOOK_MAX_SECRETS) {
        mdiag(c->d, DIAG_ERROR, sec,
              "webhook_secret of registration '%s' has %zu secrets; at most %d (the current one "
              "and the next during a rotation)",
              r->name, n, WEBHOOK_MAX_SECRETS);
        return;
    }
    r->secrets = xcalloc(n, sizeof *r->secrets);
    for (size_t i = 0; i < n; i++) {
        if (!mn_is_str(list[i])) {
            mdiag(c->d, DIAG_ERROR, list[i],
                  "webhook_secret of registration '%s' must be a string, not %s", r->name,
                  mn_describe(list[i]));
            continue;
        }
        char *v = c->literal ? xstrdup(list[i]->str)
                             : env_expand(list[i]->str, c->app->env, c->missing, c->d, list[i]);
        /* Never echo the value: it is a secret. */
        if (!webhook_secret_valid(v))
            mdiag(c->d, DIAG_ERROR, list[i],
                  "webhook_secret of registration '%s' must be whsec_ followed by base64",
                  r->name);
        r->secrets[r->nsecrets++] = v;
    }
}

static void registration_parse(lctx_t *c, const mnode_t *key, const mnode_t *spec,
                               registration_t *r)
{
    r->name = xstrdup(key->str);
    registration_default_retry(r);
    if (mn_is_null(spec)) {
        mdiag(c->d, DIAG_ERROR, key,
              "registration '%s' is empty: it needs events_of_interest and runtime_action",
              r->name);
        return;
    }
    if (!want_map(c, spec, "registration '%s'", r->name)) return;
    warn_unknown(c, spec, REG_KEYS, "in registration '%s'", r->name);
    char *what;

    what = xasprintf("description of registration '%s'", r->name);
    const char *desc = want_str(c, mn_get(spec, "description"), what);
    free(what);
    if (desc) r->description = xstrdup(desc);

    const mnode_t *eoi = mn_get(spec, "events_of_interest");
    if (mn_is_null(eoi)) {
        mdiag(c->d, DIAG_ERROR, eoi ? eoi : key, "registration '%s' has no events_of_interest",
              r->name);
    } else if (eoi->kind == MN_MAP) {
        /* One entry written without the list around it. */
        r->interests = xcalloc(1, sizeof *r->interests);
        r->ninterests = 1;
        interest_parse(c, r, eoi, &r->interests[0]);
    } else if (eoi->kind == MN_SEQ && eoi->nitems) {
        r->interests = xcalloc(eoi->nitems, sizeof *r->interests);
        r->ninterests = eoi->nitems;
        for (size_t i = 0; i < eoi->nitems; i++)
            interest_parse(c, r, eoi->items[i], &r->interests[i]);
    } else {
        mdiag(c->d, DIAG_ERROR, eoi,
              "events_of_interest of registration '%s' must be a non-empty list, not %s", r->name,
              eoi->kind == MN_SEQ ? "an empty list" : mn_describe(eoi));
    }

    const mnode_t *ra = mn_get(spec, "runtime_action");
    const mnode_t *wu = mn_get(spec, "webhook_url");
    if (!mn_is_null(ra) && !mn_is_null(wu)) {
        mdiag(c->d, DIAG_ERROR, wu,
              "registration '%s' has both runtime_action and webhook_url; it delivers to one of "
              "them",
              r->name);
    } else if (!mn_is_null(wu)) {
        webhook_parse(c, r, spec, wu);
    } else {
        what = xasprintf("runtime_action of registration '%s'", r->name);
        const char *fqn = want_str(c, ra, what);
        free(what);
        if (fqn) {
            r->runtime_action = xstrdup(fqn);
            r->action = app_action(c->app, fqn);
            if (!strchr(fqn, '/'))
                mdiag(c->d, DIAG_ERROR, ra,
                      "runtime_action '%s' of registration '%s' must be <package>/<action>", fqn,
                      r->name);
            else if (!r->action)
                mdiag(c->d, DIAG_ERROR, ra,
                      "runtime_action '%s' of registration '%s' names no action of this app", fqn,
                      r->name);
        } else if (mn_is_null(ra)) {
            mdiag(c->d, DIAG_ERROR, ra ? ra : key,
                  "registration '%s' has no runtime_action (<package>/<action>) or webhook_url",
                  r->name);
        }
        /* Actions take one event per activation: "list" is what they get. */
        const mnode_t *dt = mn_get(spec, "delivery_type");
        if (!mn_is_null(dt) && !(mn_is_str(dt) && !strcmp(dt->str, "list")))
            mdiag(c->d, DIAG_WARNING, dt,
                  "delivery_type of registration '%s' only applies to a webhook_url (actions get "
                  "one event at a time); ignored",
                  r->name);
        if (!mn_is_null(mn_get(spec, "webhook_secret")))
            mdiag(c->d, DIAG_WARNING, mn_get(spec, "webhook_secret"),
                  "webhook_secret of registration '%s' only applies to a webhook_url; ignored",
                  r->name);
    }

    const mnode_t *retry = mn_get(spec, "retry");
    if (retry) retry_parse(c, r, retry);
    ordering_parse(c, r, mn_get(spec, "ordering"));
    filter_parse(c, r, mn_get(spec, "filter"));
    if (!mn_is_null(mn_get(spec, "flow_control"))) flow_parse(c, r, mn_get(spec, "flow_control"));
}

/* ---- the config file ---- */

static void config_parse(lctx_t *c, const mnode_t *root)
{
    if (mn_is_null(root)) {
        mdiag(c->d, DIAG_WARNING, root, "app.config.yaml is empty: the app has no actions");
        return;
    }
    if (root->kind != MN_MAP) {
        mdiag(c->d, DIAG_ERROR, root, "app.config.yaml must be a mapping, not %s",
              mn_describe(root));
        return;
    }
    /* App Builder nests everything under application:; aio also accepts the
     * sections at the top level, and so do we when application: is absent. */
    const mnode_t *scope = mn_get(root, "application");
    if (scope) {
        static const char *const top[] = {"application", NULL};
        warn_unknown(c, root, top, "at the top level");
        if (!want_map(c, scope, "'application'")) {
            if (mn_is_null(scope))
                mdiag(c->d, DIAG_WARNING, mn_key(root, "application"),
                      "'application' is empty: the app has no actions");
            return;
        }
        warn_unknown(c, scope, APP_KEYS, "in 'application'");
    } else {
        scope = root;
        warn_unknown(c, root, APP_KEYS, "at the top level");
    }

    const mnode_t *rm = mn_get(scope, "runtimeManifest");
    if (want_map(c, rm, "'runtimeManifest'")) {
        warn_unknown(c, rm, RM_KEYS, "in 'runtimeManifest'");
        const mnode_t *pk = mn_get(rm, "packages");
        if (want_map(c, pk, "'packages'"))
            for (size_t i = 0; i < pk->npairs; i++)
                package_parse(c, pk->pairs[i].key, pk->pairs[i].val);
        /* Sequence steps and rule actions point into app->actions: only now
         * is that array final. */
        flows_resolve(c);
    }

    if (!c->app->nactions)
        mdiag(c->d, DIAG_WARNING, rm ? rm : scope,
              "the app declares no actions "
              "(application.runtimeManifest.packages.<package>.actions)");

    /* Registrations point into app->actions, so they come after every action. */
    const mnode_t *ev = mn_get(scope, "events");
    if (want_map(c, ev, "'events'")) {
        warn_unknown(c, ev, EVENTS_KEYS, "in 'events'");
        const mnode_t *regs = mn_get(ev, "registrations");
        if (want_map(c, regs, "'registrations'")) {
            app_t *app = c->app;
            app->registrations = xcalloc(regs->npairs, sizeof *app->registrations);
            for (size_t i = 0; i < regs->npairs; i++)
                registration_parse(c, regs->pairs[i].key, regs->pairs[i].val,
                                   &app->registrations[app->nregistrations++]);
        }
    }
}

/* ---- the app folder ---- */

static void app_name_load(app_t *app, diags_t *d)
{
    char *path = path_join(app->dir, "package.json");
    if (path_is_file(path)) {
        json_error_t je;
        json_t *pj = json_load_file(path, 0, &je);
        if (!pj)
            diags_add(d, DIAG_WARNING, "package.json", je.line, je.column,
                      "JSON: %s (the app name falls back to the folder name)", je.text);
        const char *name = json_string_value(json_object_get(pj, "name"));
        if (name && *name) app->name = xstrdup(name);
        json_decref(pj);
    }
    free(path);
    if (!app->name) {
        const char *slash = strrchr(app->dir, '/');
        app->name = xstrdup(slash && slash[1] ? slash + 1 : "app");
    }
}

/* The environment $VARs see: .env, then the process environment over it;
 * or exactly env when given. */
static void app_env_load(app_t *app, const json_t *env, diags_t *d)
{
    if (env) {
        app->env = json_deep_copy(env);
        return;
    }
    app->env = json_object();
    char *path = path_join(app->dir, ".env");
    if (path_is_file(path)) {
        err_t err;
        char *text = file_read(path, NULL, &err);
        if (!text) diags_add(d, DIAG_WARNING, ".env", 0, 0, "cannot read: %s", err.msg);
        else dotenv_parse(text, ".env", app->env, d);
        free(text);
    }
    free(path);
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char *k = xstrndup(*e, (size_t)(eq - *e));
        json_t *v = json_string(eq + 1);
        /* Values that are not UTF-8 cannot be JSON; such variables are skipped. */
        if (v) json_object_set_new(app->env, k, v);
        free(k);
    }
}

static void registration_clear(registration_t *r)
{
    free(r->name);
    free(r->description);
    free(r->runtime_action);
    free(r->webhook_url);
    for (size_t i = 0; i < r->nsecrets; i++) {
        /* Secrets do not linger in freed memory. */
        OPENSSL_cleanse(r->secrets[i], strlen(r->secrets[i]));
        free(r->secrets[i]);
    }
    free(r->secrets);
    for (size_t j = 0; j < r->ninterests; j++) {
        for (size_t k = 0; k < r->interests[j].ncodes; k++) free(r->interests[j].codes[k]);
        free(r->interests[j].codes);
        free(r->interests[j].provider);
    }
    free(r->interests);
    free(r->retry_schedule_ms);
    free(r->ordering_key);
    json_decref(r->filter_spec);
    filter_free(r->filter);
}

json_t *registration_interests_json(const registration_t *reg)
{
    json_t *eoi = json_array();
    for (size_t i = 0; i < reg->ninterests; i++) {
        json_t *codes = json_array();
        for (size_t k = 0; k < reg->interests[i].ncodes; k++)
            json_array_append_new(codes, json_string(reg->interests[i].codes[k]));
        json_array_append_new(eoi, json_pack("{s:s?, s:o}", "provider_metadata",
                                             reg->interests[i].provider, "event_codes", codes));
    }
    return eoi;
}

void registration_free(registration_t *r)
{
    if (!r) return;
    registration_clear(r);
    free(r);
}

bool registration_name_valid(const char *s)
{
    return s && strlen(s) <= 128 && valid_name(s);
}

registration_t *registration_from_json(const app_t *app, const char *name, const json_t *spec,
                                       diags_t *d)
{
    size_t errors0 = d->errors;
    if (!registration_name_valid(name)) {
        diags_add(d, DIAG_ERROR, NULL, 0, 0,
                  "registration name '%s' is invalid: 1 to 128 characters of letters, digits, "
                  "_ . @ -, starting with a letter, digit or _",
                  name ? name : "");
        return NULL;
    }
    lctx_t c = {.d = d, .app = (app_t *)app, .missing = json_object(), .literal = true};
    ytree_t yt;
    ytree_init(&yt, app->dir, d);
    json_t *jn = json_string(name);
    const mnode_t *key = mn_from_json(&yt, jn);
    json_decref(jn);
    const mnode_t *sn = mn_from_json(&yt, spec);
    registration_t *r = xcalloc(1, sizeof *r);
    registration_parse(&c, key, sn, r);
    ytree_free(&yt);
    json_decref(c.missing);
    if (d->errors > errors0) {
        registration_free(r);
        return NULL;
    }
    return r;
}

app_t *app_load(const char *dir, diags_t *d)
{
    return app_load_env(dir, NULL, d);
}

app_t *app_load_env(const char *dir, const json_t *env, diags_t *d)
{
    size_t errors0 = d->errors;
    char *real = path_real(dir);
    if (!real || !path_is_dir(real)) {
        diags_add(d, DIAG_ERROR, dir, 0, 0, "app folder not found");
        free(real);
        return NULL;
    }
    app_t *app = xcalloc(1, sizeof *app);
    app->dir = real;
    app_name_load(app, d);
    app_env_load(app, env, d);
    onboarding_load(app, d);

    lctx_t c = {.d = d, .app = app, .missing = json_object()};
    ytree_t yt;
    ytree_init(&yt, app->dir, d);
    char *cfg = path_join(app->dir, CONFIG_FILE);
    if (!path_is_file(cfg)) {
        diags_add(d, DIAG_ERROR, CONFIG_FILE, 0, 0, "missing %s in %s", CONFIG_FILE, app->dir);
    } else {
        const mnode_t *root = ytree_load(&yt, cfg);
        if (root) config_parse(&c, root);
    }
    free(cfg);
    ytree_free(&yt);
    env_missing_finish(c.missing, d);
    json_decref(c.missing);

    if (d->errors > errors0) {
        app_free(app);
        return NULL;
    }
    return app;
}

void app_free(app_t *app)
{
    if (!app) return;
    for (size_t i = 0; i < app->nactions; i++) {
        action_t *a = &app->actions[i];
        free(a->package);
        free(a->name);
        free(a->fqn);
        free(a->function);
        free(a->dir);
        free(a->runtime);
        free(a->main_name);
        json_decref(a->inputs);
        json_decref(a->annotations);
        for (size_t k = 0; k < a->nsteps; k++) free(a->step_names[k]);
        free(a->step_names);
        free(a->steps);
    }
    free(app->actions);
    flows_free(app);
    for (size_t i = 0; i < app->nregistrations; i++) registration_clear(&app->registrations[i]);
    free(app->registrations);
    for (size_t i = 0; i < app->nproviders; i++) {
        free(app->providers[i].key);
        free(app->providers[i].label);
        free(app->providers[i].description);
    }
    free(app->providers);
    for (size_t i = 0; i < app->nevents; i++) {
        free(app->events[i].entity);
        free(app->events[i].provider);
        free(app->events[i].code);
        json_decref(app->events[i].sample);
    }
    free(app->events);
    json_decref(app->env);
    free(app->dir);
    free(app->name);
    free(app);
}

/* ---- lookups ---- */

const void *find_by_key(const void *base, size_t n, size_t size, size_t key_off, const char *key)
{
    for (size_t i = 0; key && i < n; i++) {
        const char *elem = (const char *)base + i * size;
        const char *k = *(char *const *)(elem + key_off);
        if (k && !strcmp(k, key)) return elem;
    }
    return NULL;
}

const action_t *app_action(const app_t *app, const char *fqn)
{
    return app ? find_by_key(app->actions, app->nactions, sizeof *app->actions,
                             offsetof(action_t, fqn), fqn)
               : NULL;
}

const registration_t *app_registration(const app_t *app, const char *name)
{
    return app ? find_by_key(app->registrations, app->nregistrations, sizeof *app->registrations,
                             offsetof(registration_t, name), name)
               : NULL;
}

const provider_t *app_provider(const app_t *app, const char *key)
{
    return app ? find_by_key(app->providers, app->nproviders, sizeof *app->providers,
                             offsetof(provider_t, key), key)
               : NULL;
}

const event_code_t *app_event_code(const app_t *app, const char *provider, const char *code)
{
    if (!app || !provider || !code) return NULL;
    for (size_t i = 0; i < app->nevents; i++)
        if (!strcmp(app->events[i].provider, provider) && !strcmp(app->events[i].code, code))
            return &app->events[i];
    return NULL;
}

bool registration_matches(const registration_t *reg, const char *provider, const char *type)
{
    if (!reg || !type) return false;
    for (size_t i = 0; i < reg->ninterests; i++) {
        const interest_t *it = &reg->interests[i];
        if (provider && (!it->provider || strcmp(it->provider, provider))) continue;
        for (size_t j = 0; j < it->ncodes; j++)
            if (!strcmp(it->codes[j], type)) return true;
    }
    return false;
}

void registration_default_retry(registration_t *reg)
{
    static const int64_t sched[] = {60000, 120000, 240000, 480000, 900000};
    free(reg->retry_schedule_ms);
    reg->nretry = sizeof sched / sizeof sched[0];
    reg->retry_schedule_ms = xmalloc(sizeof sched);
    memcpy(reg->retry_schedule_ms, sched, sizeof sched);
    reg->retry_max_age_ms = 24LL * 3600 * 1000;
    reg->retry_jitter_pct = 10;
}
