/* registry: manifest and API registrations as one reference-counted
 * snapshot; the changes of the registrations API, checked with the
 * manifest's own rules and persisted in the store. */
#include "registry/registry.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/cron.h"
#include "core/filter.h"
#include "core/log.h"

struct registry {
    const app_t *app;
    store_t *store;
    pthread_mutex_t mu;        /* current */
    regset_t *current;
    pthread_mutex_t change_mu; /* one change at a time: check, challenge, store */
    registry_url_check url_check; /* NULL: webhook registrations refused */
};

/* Keys a definition may have, and keys of the API's own answers that a
 * client may send back unchanged (GET, edit, PUT): those are ignored. */
static const char *const SPEC_KEYS[] = {"description", "events_of_interest", "runtime_action",
                                        "webhook_url", "delivery_type",      "webhook_secret",
                                        "retry",       "ordering",           "filter",
                                        "flow_control", NULL};
static const char *const READ_ONLY_KEYS[] = {
    "name",         "origin",       "state",       "backlog",   "parked",  "dead_letters",
    "attempts_24h", "failures_24h", "delivered_5m", "failed_5m", "last_attempt",
    "last_error",   "webhook_secrets", "created",  "updated",   "filtered", NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (!strcmp(*l, s)) return true;
    return false;
}

/* ---- snapshots ---- */

void regset_release(regset_t *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    for (size_t i = 0; i < s->nowned; i++) registration_free(s->owned[i]);
    free(s->owned);
    free(s->regs);
    free(s->from_api);
    free(s);
}

const registration_t *regset_find(const regset_t *s, const char *name, bool *from_api)
{
    if (!s || !name) return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (!strcmp(s->regs[i]->name, name)) {
            if (from_api) *from_api = s->from_api[i];
            return s->regs[i];
        }
    }
    return NULL;
}

/* A definition as stored minus the store's own fields, ready to parse. */
static json_t *def_spec(const json_t *def)
{
    json_t *spec = json_deep_copy(def);
    json_object_del(spec, "created");
    json_object_del(spec, "updated");
    return spec;
}

static char *diags_join(const diags_t *d, bool with_warnings)
{
    buf_t b;
    buf_init(&b, 0);
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].severity != DIAG_ERROR && !with_warnings) continue;
        buf_printf(&b, "%s%s", b.len ? "; " : "", d->items[i].message);
    }
    return buf_steal(&b);
}

static regset_t *build(registry_t *r, json_t *defs, int64_t generation)
{
    const app_t *app = r->app;
    size_t ndefs = json_object_size(defs);
    regset_t *s = xcalloc(1, sizeof *s);
    s->refs = 1;
    s->generation = generation;
    s->regs = xcalloc(app->nregistrations + ndefs + 1, sizeof *s->regs);
    s->from_api = xcalloc(app->nregistrations + ndefs + 1, sizeof *s->from_api);
    s->owned = xcalloc(ndefs + 1, sizeof *s->owned);
    for (size_t i = 0; i < app->nregistrations; i++) s->regs[s->n++] = &app->registrations[i];
    const char *name;
    json_t *def;
    json_object_foreach(defs, name, def) {
        if (app_registration(app, name)) {
            log_warn("a registration created through the API has the name of one in "
                     "app.config.yaml; the manifest's is used",
                     json_pack("{s:s}", "registration", name));
            continue;
        }
        diags_t d;
        diags_init(&d);
        json_t *spec = def_spec(def);
        registration_t *reg = registration_from_json(app, name, spec, &d);
        json_decref(spec);
        if (!reg) {
            /* The app changed under it (an action or event code went away). */
            char *why = diags_join(&d, false);
            log_error("a registration created through the API no longer fits the app; it gets "
                      "no deliveries until updated",
                      json_pack("{s:s, s:s}", "registration", name, "error", why));
            free(why);
        } else {
            s->owned[s->nowned++] = reg;
            s->from_api[s->n] = true;
            s->regs[s->n++] = reg;
        }
        diags_free(&d);
    }
    return s;
}

/* Re-reads the API registrations; with force even when the generation is
 * unchanged. Called with r->mu held. */
static void refresh_locked(registry_t *r, bool force)
{
    err_t err;
    int64_t gen = 0;
    if (!force) {
        if (store_regdef_generation(r->store, &gen, &err) < 0) {
            log_error("cannot read registrations", json_pack("{s:s}", "error", err.msg));
            return;
        }
        if (r->current && gen == r->current->generation) return;
    }
    json_t *defs = NULL;
    if (store_regdef_list(r->store, &defs, &gen, &err) < 0) {
        log_error("cannot read registrations", json_pack("{s:s}", "error", err.msg));
        return;
    }
    regset_t *next = build(r, defs, gen);
    json_decref(defs);
    regset_t *old = r->current;
    r->current = next;
    regset_release(old);
}

registry_t *registry_new(const app_t *app, store_t *store)
{
    registry_t *r = xcalloc(1, sizeof *r);
    r->app = app;
    r->store = store;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->change_mu, NULL);
    pthread_mutex_lock(&r->mu);
    refresh_locked(r, true);
    if (!r->current) {
        json_t *none = json_object();
        r->current = build(r, none, -1);
        json_decref(none);
    }
    pthread_mutex_unlock(&r->mu);
    return r;
}

void registry_free(registry_t *r)
{
    if (!r) return;
    regset_release(r->current);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->change_mu);
    free(r);
}

static regset_t *snapshot(registry_t *r, int refresh)
{
    pthread_mutex_lock(&r->mu);
    if (refresh) refresh_locked(r, refresh > 1);
    regset_t *s = r->current;
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&r->mu);
    return s;
}

regset_t *registry_get(registry_t *r)
{
    /* The store's generation per call: a change another process committed
     * (the CLI) is seen by the very next call. */
    return snapshot(r, 1);
}

regset_t *registry_current(registry_t *r) { return snapshot(r, 0); }

regset_t *registry_reload(registry_t *r) { return snapshot(r, 2); }

static void refresh_now(registry_t *r)
{
    pthread_mutex_lock(&r->mu);
    refresh_locked(r, true);
    pthread_mutex_unlock(&r->mu);
}

/* ---- secrets ---- */

static void secret_free(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

char *registry_secret_new(void)
{
    unsigned char raw[32];
    if (random_bytes(raw, sizeof raw) < 0) abort();
    char *b = base64_encode(raw, sizeof raw, NULL);
    OPENSSL_cleanse(raw, sizeof raw);
    char *s = xasprintf("whsec_%s", b);
    secret_free(b);
    return s;
}

void registry_secret_id(const char *secret, char id[9])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 4; i++) snprintf(id + 2 * i, 3, "%02x", md[i]);
}

void registry_secret_hint(const char *secret, char *hint, size_t len)
{
    const char *p = strncmp(secret, "whsec_", 6) == 0 ? secret + 6 : secret;
    snprintf(hint, len, "whsec_%.4s...", p);
}

/* ---- changes ---- */

void registry_set_url_check(registry_t *r, registry_url_check check)
{
    r->url_check = check;
}

/* The stored definition of an API registration (new reference) or NULL
 * with err. */
static json_t *stored_def(registry_t *r, const char *name, err_t *err)
{
    json_t *defs = NULL;
    if (store_regdef_list(r->store, &defs, NULL, err) < 0) return NULL;
    json_t *def = json_incref(json_object_get(defs, name));
    json_decref(defs);
    if (!def) err_code(err, EVK_NOT_FOUND, "registration '%s' not found", name);
    return def;
}

/* spec as a definition to store: only known keys (read-only ones dropped,
 * others refused), webhook_secret always a list. */
static int clean_spec(const json_t *spec, json_t **out, err_t *err)
{
    *out = NULL;
    if (!json_is_object(spec))
        return err_code(err, EVK_INVALID, "a registration must be a JSON object");
    json_t *def = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)spec, k, v) {
        if (in_list(SPEC_KEYS, k)) {
            if (!strcmp(k, "webhook_secret") && json_is_string(v))
                json_object_set_new(def, k, json_pack("[O]", v));
            else
                json_object_set(def, k, v);
        } else if (!in_list(READ_ONLY_KEYS, k)) {
            json_decref(def);
            return err_code(err, EVK_INVALID,
                            "unknown key '%s' in the registration (known: description, "
                            "events_of_interest, runtime_action, webhook_url, delivery_type, "
                            "webhook_secret, retry, ordering, filter, flow_control)",
                            k);
        }
    }
    *out = def;
    return 0;
}

/* Checks def as registration name, with every problem in err. */
static int check_def(registry_t *r, const char *name, const json_t *def, err_t *err)
{
    diags_t d;
    diags_init(&d);
    registration_t *reg = registration_from_json(r->app, name, def, &d);
    int rc = 0;
    if (!reg || d.warnings) {
        char *why = diags_join(&d, true);
        rc = err_code(err, EVK_INVALID, "%s", why);
        free(why);
    }
    registration_free(reg);
    diags_free(&d);
    return rc;
}

/* The installed check on a webhook URL; a URL that fails it is the
 * caller's input problem whatever the transport said. */
static int check_url(registry_t *r, const char *url, err_t *err)
{
    if (!url) return 0;
    if (!r->url_check)
        return err_code(err, EVK_UNAVAILABLE, "webhook URLs cannot be checked here, so a webhook "
                                              "registration cannot be made");
    if (r->url_check(url, err) < 0) {
        err->code = EVK_INVALID;
        return -1;
    }
    return 0;
}

/* A generated secret for a webhook def that has none. */
static void ensure_secret(json_t *def, char **new_secret)
{
    if (!json_object_get(def, "webhook_url") || json_array_size(json_object_get(def, "webhook_secret")))
        return;
    char *sec = registry_secret_new();
    json_object_set_new(def, "webhook_secret", json_pack("[s]", sec));
    if (new_secret) *new_secret = sec;
    else secret_free(sec);
}

static const char *spec_name(const char *name, const json_t *spec)
{
    if (name && *name) return name;
    return json_string_value(json_object_get(spec, "name"));
}

/* Stores def as name's new definition; a definition deleted meanwhile is
 * not found. */
static int put_update(registry_t *r, const char *name, const json_t *def, err_t *err)
{
    bool existed = false;
    if (store_regdef_put(r->store, name, def, REGDEF_UPDATE, &existed, err) < 0) return -1;
    if (!existed) return err_code(err, EVK_NOT_FOUND, "registration '%s' not found", name);
    return 0;
}

/* The end of a change made under change_mu (already released): on failure
 * drop the secret it may have generated; on success make the change visible
 * at once, log it and hand the generated secret to the caller (or drop it). */
static int change_done(registry_t *r, int rc, const char *what, const char *name,
                       char *generated, char **new_secret)
{
    if (rc < 0) {
        secret_free(generated);
        return -1;
    }
    refresh_now(r);
    log_info(what, json_pack("{s:s}", "registration", name));
    if (new_secret) *new_secret = generated;
    else secret_free(generated);
    return 0;
}

/* The checks of a new registration's name. */
static int check_new_name(registry_t *r, const char *name, const json_t *spec, err_t *err)
{
    if (!name) return err_code(err, EVK_INVALID, "the registration needs a \"name\"");
    const char *inner = json_string_value(json_object_get(spec, "name"));
    if (inner && strcmp(inner, name))
        return err_code(err, EVK_INVALID, "the name in the body ('%s') differs from the URL's ('%s')",
                        inner, name);
    if (!registration_name_valid(name))
        return err_code(err, EVK_INVALID,
                        "registration name '%s' is invalid: 1 to 128 characters of letters, "
                        "digits, _ . @ -, starting with a letter, digit or _",
                        name);
    if (app_registration(r->app, name))
        return err_code(err, EVK_CONFLICT, "registration '%s' is declared in app.config.yaml", name);
    return 0;
}

int registry_create(registry_t *r, const char *name, const json_t *spec, char **new_secret,
                    err_t *err)
{
    if (new_secret) *new_secret = NULL;
    name = spec_name(name, spec);
    json_t *def = NULL;
    if (check_new_name(r, name, spec, err) < 0 || clean_spec(spec, &def, err) < 0) return -1;
    char *generated = NULL;
    ensure_secret(def, &generated);
    int rc = check_def(r, name, def, err);
    pthread_mutex_lock(&r->change_mu);
    if (rc == 0) {
        /* Refuse a taken name before bothering the webhook. */
        regset_t *cur = registry_get(r);
        if (regset_find(cur, name, NULL))
            rc = err_code(err, EVK_CONFLICT, "registration '%s' already exists", name);
        regset_release(cur);
    }
    if (rc == 0) rc = check_url(r, json_string_value(json_object_get(def, "webhook_url")), err);
    if (rc == 0) {
        bool existed = false;
        rc = store_regdef_put(r->store, name, def, REGDEF_CREATE, &existed, err);
        if (rc == 0 && existed)
            rc = err_code(err, EVK_CONFLICT, "registration '%s' already exists", name);
    }
    pthread_mutex_unlock(&r->change_mu);
    json_decref(def);
    return change_done(r, rc, "registration created", name, generated, new_secret);
}

int registry_update(registry_t *r, const char *name, const json_t *spec, char **new_secret,
                    err_t *err)
{
    if (new_secret) *new_secret = NULL;
    if (app_registration(r->app, name))
        return err_code(err, EVK_FORBIDDEN,
                        "registration '%s' is declared in app.config.yaml and is read-only "
                        "here; change it in the manifest",
                        name);
    const char *inner = json_string_value(json_object_get(spec, "name"));
    if (inner && strcmp(inner, name))
        return err_code(err, EVK_INVALID, "the name in the body ('%s') differs from the URL's "
                        "('%s'); a registration cannot be renamed", inner, name);
    json_t *def = NULL;
    if (clean_spec(spec, &def, err) < 0) return -1;
    pthread_mutex_lock(&r->change_mu);
    json_t *old = stored_def(r, name, err);
    char *generated = NULL;
    int rc = old ? 0 : -1;
    if (old) {
        /* Secrets are never shown, so a definition sent back without them
         * keeps the ones it had. */
        json_t *olds = json_object_get(old, "webhook_secret");
        if (!json_object_get(def, "webhook_secret") && json_object_get(def, "webhook_url") && olds)
            json_object_set(def, "webhook_secret", olds);
        ensure_secret(def, &generated);
        rc = check_def(r, name, def, err);
        const char *ou = json_string_value(json_object_get(old, "webhook_url"));
        const char *nu = json_string_value(json_object_get(def, "webhook_url"));
        if (rc == 0 && nu && (!ou || strcmp(ou, nu))) rc = check_url(r, nu, err);
        if (rc == 0) rc = put_update(r, name, def, err);
    }
    pthread_mutex_unlock(&r->change_mu);
    json_decref(old);
    json_decref(def);
    return change_done(r, rc, "registration updated", name, generated, new_secret);
}

int registry_delete(registry_t *r, const char *name, err_t *err)
{
    if (app_registration(r->app, name))
        return err_code(err, EVK_FORBIDDEN,
                        "registration '%s' is declared in app.config.yaml and is read-only "
                        "here; remove it from the manifest",
                        name);
    bool existed = false;
    int dropped = 0;
    if (store_regdef_delete(r->store, name, &existed, &dropped, err) < 0) return -1;
    if (!existed) return err_code(err, EVK_NOT_FOUND, "registration '%s' not found", name);
    refresh_now(r);
    log_info("registration deleted",
             json_pack("{s:s, s:i}", "registration", name, "undelivered", dropped));
    return 0;
}

/* Loads an API webhook registration's definition for a secret change. */
static json_t *webhook_def(registry_t *r, const char *name, err_t *err)
{
    if (app_registration(r->app, name)) {
        err_code(err, EVK_FORBIDDEN,
                 "registration '%s' is declared in app.config.yaml; its secrets come from there "
                 "(webhook_secret)",
                 name);
        return NULL;
    }
    json_t *def = stored_def(r, name, err);
    if (def && !json_object_get(def, "webhook_url")) {
        err_code(err, EVK_INVALID, "registration '%s' delivers to an action and has no secrets",
                 name);
        json_decref(def);
        return NULL;
    }
    return def;
}

int registry_secret_add(registry_t *r, const char *name, const char *secret, char **new_secret,
                        err_t *err)
{
    if (new_secret) *new_secret = NULL;
    if (secret && !webhook_secret_valid(secret))
        return err_code(err, EVK_INVALID, "a webhook secret must be whsec_ followed by base64");
    pthread_mutex_lock(&r->change_mu);
    json_t *def = webhook_def(r, name, err);
    char *generated = NULL;
    int rc = def ? 0 : -1;
    if (def) {
        json_t *secs = json_object_get(def, "webhook_secret");
        if (!json_is_array(secs)) {
            secs = json_array();
            json_object_set_new(def, "webhook_secret", secs);
        }
        if (json_array_size(secs) >= WEBHOOK_MAX_SECRETS) {
            rc = err_code(err, EVK_CONFLICT,
                          "registration '%s' already has %d secrets (a rotation is under way); "
                          "remove the old one first",
                          name, WEBHOOK_MAX_SECRETS);
        } else {
            if (!secret) secret = generated = registry_secret_new();
            json_array_append_new(secs, json_string(secret));
            rc = put_update(r, name, def, err);
        }
    }
    pthread_mutex_unlock(&r->change_mu);
    json_decref(def);
    return change_done(r, rc, "webhook secret added", name, generated, new_secret);
}

int registry_secret_remove(registry_t *r, const char *name, const char *id, err_t *err)
{
    pthread_mutex_lock(&r->change_mu);
    json_t *def = webhook_def(r, name, err);
    int rc = def ? 0 : -1;
    if (def) {
        json_t *secs = json_object_get(def, "webhook_secret");
        size_t at = (size_t)-1, i;
        json_t *v;
        json_array_foreach(secs, i, v) {
            char sid[9];
            registry_secret_id(json_string_value(v), sid);
            if (!strcmp(sid, id)) at = i;
        }
        if (at == (size_t)-1) {
            rc = err_code(err, EVK_NOT_FOUND, "registration '%s' has no secret with id '%s'", name,
                          id);
        } else if (json_array_size(secs) < 2) {
            rc = err_code(err, EVK_CONFLICT,
                          "'%s' is the only secret of registration '%s'; add the new one first, "
                          "then remove this one",
                          id, name);
        } else {
            json_array_remove(secs, at);
            rc = put_update(r, name, def, err);
        }
    }
    pthread_mutex_unlock(&r->change_mu);
    json_decref(def);
    if (rc < 0) return -1;
    refresh_now(r);
    log_info("webhook secret removed", json_pack("{s:s, s:s}", "registration", name, "id", id));
    return 0;
}

int registry_enable(registry_t *r, const char *name, int *resumed, err_t *err)
{
    *resumed = 0;
    regset_t *cur = registry_get(r);
    const registration_t *reg = regset_find(cur, name, NULL);
    char *url = reg && reg->webhook_url ? xstrdup(reg->webhook_url) : NULL;
    bool found = reg != NULL;
    regset_release(cur);
    if (!found) return err_code(err, EVK_NOT_FOUND, "registration '%s' not found", name);
    int rc = check_url(r, url, err);
    free(url);
    if (rc == 0) rc = store_reg_enable(r->store, name, resumed, err);
    return rc < 0 ? -1 : 0;
}

size_t registry_interests(const registration_t *reg, const char ***providers, const char ***types)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; i < reg->ninterests; i++) n += reg->interests[i].ncodes;
    *providers = xcalloc(n ? n : 1, sizeof **providers);
    *types = xcalloc(n ? n : 1, sizeof **types);
    for (size_t i = 0; i < reg->ninterests; i++)
        for (size_t j = 0; j < reg->interests[i].ncodes; j++) {
            (*providers)[k] = reg->interests[i].provider;
            (*types)[k++] = reg->interests[i].codes[j];
        }
    return n;
}

/* ---- replay ---- */

int registry_range_bound(const char *what, const char *text, int64_t now, int64_t *pos,
                         int64_t *ms, err_t *err)
{
    char *end;
    long long n = text && *text ? strtoll(text, &end, 10) : -1;
    int64_t d;
    if (n >= 0 && !*end) {
        *pos = n;
        return 0;
    }
    if (text && time_parse_iso(text, ms) == 0) return 0;
    if (text && dur_parse(text, &d) == 0 && d <= 0) {
        *ms = now + d;
        return 0;
    }
    return err_code(err, EVK_INVALID,
                    "%s '%s': a journal position, an ISO 8601 time (2026-12-06T10:00:00Z) or a "
                    "duration before now (-PT2H) is required",
                    what, text ? text : "");
}

static bool replay_keep(void *ud, const json_t *event)
{
    return filter_match(ud, event);
}

/* Times to positions: from a time, the events at or after it; to a time,
 * those before it. *empty when no event can be in the range. */
static int resolve_range(store_t *s, registry_range *g, bool *empty, err_t *err)
{
    *empty = false;
    if (g->from_ms > 0 && store_position_before(s, g->from_ms, &g->since, err) < 0) return -1;
    if (g->to_ms > 0) {
        if (store_position_before(s, g->to_ms, &g->until, err) < 0) return -1;
        if (g->until == 0) *empty = true;   /* nothing journaled before it */
    }
    if (g->since < 0 || g->until < 0)
        return err_code(err, EVK_INVALID, "a journal position cannot be negative");
    if (g->until > 0 && g->until <= g->since) *empty = true;
    if (g->from_ms > 0 && g->to_ms > 0 && g->to_ms <= g->from_ms)
        return err_code(err, EVK_INVALID, "the range ends before it starts");
    return 0;
}

int registry_replay(registry_t *r, const char *name, registry_range *range,
                    store_progress_fn progress, void *ud, int *count, int *filtered, err_t *err)
{
    *count = 0;
    if (filtered) *filtered = 0;
    regset_t *regs = registry_get(r);
    const registration_t *reg = regset_find(regs, name, NULL);
    bool empty = false;
    int rc = reg ? resolve_range(r->store, range, &empty, err)
                 : err_code(err, EVK_NOT_FOUND, "registration '%s' not found", name);
    if (rc == 0 && !empty) {
        const char **providers, **types;
        size_t n = registry_interests(reg, &providers, &types);
        store_replay_opts o = {
            .registration = reg->name, .since = range->since, .until = range->until,
            .providers = providers, .types = types, .n = n,
            .order_key_path = reg->ordering_key,
            .keep = reg->filter ? replay_keep : NULL, .keep_ud = reg->filter,
            .progress = progress, .progress_ud = ud,
        };
        rc = store_replay_range(r->store, &o, count, filtered, err);
        free(providers);
        free(types);
    }
    regset_release(regs);
    return rc < 0 ? -1 : 0;
}

/* ---- the API's view ---- */

json_t *registry_describe(registry_t *r, const registration_t *reg, bool from_api, err_t *err)
{
    store_reg_info info;
    if (store_reg_info_get(r->store, reg->name, &info, err) < 0) return NULL;
    int64_t a5 = 0, f5 = 0;
    if (store_reg_window(r->store, reg->name, now_ms() - 5 * 60000, &a5, &f5, err) < 0) return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(reg->name));
    json_object_set_new(o, "description", json_string(reg->description ? reg->description : ""));
    json_object_set_new(o, "events_of_interest", registration_interests_json(reg));
    if (reg->webhook_url) {
        json_object_set_new(o, "webhook_url", json_string(reg->webhook_url));
        json_t *secs = json_array();
        for (size_t i = 0; i < reg->nsecrets; i++) {
            char id[9], hint[32];
            registry_secret_id(reg->secrets[i], id);
            registry_secret_hint(reg->secrets[i], hint, sizeof hint);
            json_array_append_new(secs, json_pack("{s:s, s:s}", "id", id, "hint", hint));
        }
        json_object_set_new(o, "webhook_secrets", secs);
    } else {
        json_object_set_new(o, "runtime_action", json_string(reg->runtime_action));
    }
    json_object_set_new(o, "delivery_type", json_string(reg->batch ? "batch" : "list"));
    if (reg->filter_spec) json_object_set(o, "filter", reg->filter_spec);
    if (reg->max_concurrency || reg->rate_count) {
        json_t *fc = json_object();
        if (reg->max_concurrency)
            json_object_set_new(fc, "concurrency", json_integer(reg->max_concurrency));
        if (reg->rate_count)
            json_object_set_new(fc, "rate", json_sprintf("%lld/%lldms", (long long)reg->rate_count,
                                                         (long long)reg->rate_window_ms));
        json_object_set_new(o, "flow_control", fc);
    }
    json_object_set_new(o, "filtered", json_integer(info.filtered));
    json_object_set_new(o, "origin", json_string(from_api ? "api" : "manifest"));
    json_object_set_new(o, "state", json_string(reg_state_name(info.state)));
    json_object_set_new(o, "backlog", json_integer(info.backlog));
    json_object_set_new(o, "parked", json_integer(info.parked));
    json_object_set_new(o, "dead_letters", json_integer(info.dead));
    json_object_set_new(o, "attempts_24h", json_integer(info.attempts_24h));
    json_object_set_new(o, "failures_24h", json_integer(info.failures_24h));
    json_object_set_new(o, "delivered_5m", json_integer(a5 - f5));
    json_object_set_new(o, "failed_5m", json_integer(f5));
    if (info.last_attempt_ms > 0) {
        char iso[32];
        time_iso(info.last_attempt_ms, iso, sizeof iso);
        json_object_set_new(o, "last_attempt", json_string(iso));
    } else {
        json_object_set_new(o, "last_attempt", json_null());
    }
    json_object_set_new(o, "last_error",
                        info.last_error[0] ? json_string(info.last_error) : json_null());
    return o;
}
