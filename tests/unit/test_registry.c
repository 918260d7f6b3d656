/* Registry: registrations declared as JSON, checked like the manifest,
 * persisted and seen by another process's registry; the status of each
 * change (err.code), the manifest's registrations being read-only, the
 * webhook URL check the upper layer installs, secret rotation, and the
 * flattening of a registration's interests. */
#include "testutil.h"

#include <jansson.h>
#include <sqlite3.h>

#include "core/util.h"
#include "engine.h"
#include "manifest/manifest.h"
#include "registry/registry.h"
#include "tu_store.h"

static const char *CONFIG =
    "application:\n"
    "  runtimeManifest:\n"
    "    packages:\n"
    "      p:\n"
    "        license: Apache-2.0\n"
    "        actions:\n"
    "          a:\n"
    "            function: actions/a.lua\n"
    "            runtime: lua\n"
    "  events:\n"
    "    registrations:\n"
    "      declared:\n"
    "        events_of_interest:\n"
    "          - provider_metadata: commerce\n"
    "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
    "        runtime_action: p/a\n"
    "      declared_hook:\n"
    "        events_of_interest:\n"
    "          - provider_metadata: backoffice\n"
    "            event_codes: [be-observer.catalog_product_create]\n"
    "        webhook_url: http://127.0.0.1:9/declared\n"
    "        webhook_secret: whsec_dGVzdA==\n";

static const char *ACTION_SPEC =
    "{\"events_of_interest\": [{\"provider_metadata\": \"commerce\", \"event_codes\": "
    "[\"com.adobe.commerce.observer.catalog_product_save_commit_after\"]}],"
    " \"runtime_action\": \"p/a\"}";

static const char *HOOK_SPEC =
    "{\"events_of_interest\": [{\"provider_metadata\": \"commerce\", \"event_codes\": "
    "[\"com.adobe.commerce.observer.catalog_product_save_commit_after\"]},"
    " {\"provider_metadata\": \"backoffice\", \"event_codes\": "
    "[\"be-observer.catalog_product_create\", \"be-observer.catalog_product_update\"]}],"
    " \"webhook_url\": \"http://127.0.0.1:9/hook\"}";

/* The installed URL check: counts calls, refuses URLs with "refuse". */
static int checks;
static char checked[256];

static int fake_check(const char *url, err_t *err)
{
    checks++;
    snprintf(checked, sizeof checked, "%s", url);
    if (strstr(url, "refuse")) return err_set(err, "the endpoint did not echo the challenge");
    return 0;
}

typedef struct {
    fixture store;
    char *appdir;
    app_t *app;
    registry_t *r;
} reg_fixture;

static int reg_setup(void **state)
{
    void *st = NULL;
    if (setup(&st) < 0) return -1;
    reg_fixture *f = calloc(1, sizeof *f);
    f->store = *(fixture *)st;
    free(st);
    f->appdir = tu_tmpdir();
    tu_write(f->appdir, "onboarding/config/providers.json",
             "[{\"key\": \"commerce\", \"label\": \"C\"}, {\"key\": \"backoffice\", \"label\": \"B\"}]\n");
    tu_write(f->appdir, "onboarding/config/events.json",
             "{\"product\": {\"commerce\": {\"com.adobe.commerce.observer.catalog_product_save_commit_after\": {}},"
             " \"backoffice\": {\"be-observer.catalog_product_create\": {},"
             " \"be-observer.catalog_product_update\": {}}}}\n");
    tu_write(f->appdir, "actions/a.lua", "function main(p) return p end\n");
    tu_write(f->appdir, "app.config.yaml", CONFIG);
    diags_t d;
    diags_init(&d);
    f->app = app_load(f->appdir, &d);
    for (size_t i = 0; !f->app && i < d.n; i++) fprintf(stderr, "%s\n", d.items[i].message);
    diags_free(&d);
    if (!f->app) return -1;
    f->r = registry_new(f->app, f->store.s);
    checks = 0;
    checked[0] = '\0';
    *state = f;
    return 0;
}

static int reg_teardown(void **state)
{
    reg_fixture *f = *state;
    registry_free(f->r);
    app_free(f->app);
    tu_rmrf(f->appdir);
    free(f->appdir);
    fixture *st = malloc(sizeof *st);
    *st = f->store;
    void *p = st;
    free(f);
    return teardown(&p);
}

static json_t *spec_of(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_create_update_delete(void **state)
{
    reg_fixture *f = *state;
    registry_t *r = f->r;
    err_t err;
    regset_t *set = registry_get(r);
    assert_int_equal(set->n, 2);
    bool api = true;
    assert_non_null(regset_find(set, "declared", &api));
    assert_false(api);
    regset_release(set);

    json_t *spec = spec_of(ACTION_SPEC);
    char *secret = (char *)"untouched";
    assert_int_equal(registry_create(r, "made", spec, &secret, &err), 0);
    assert_null(secret);
    assert_int_equal(registry_create(r, "made", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_CONFLICT);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(registry_create(r, "bad name!", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_int_equal(registry_create(r, NULL, spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "needs a \"name\""));
    assert_int_equal(registry_update(r, "ghost", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_NOT_FOUND);
    json_object_set_new(spec, "colour", json_string("red"));
    assert_int_equal(registry_create(r, "other", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "unknown key 'colour'"));
    json_object_del(spec, "colour");
    json_object_set_new(spec, "runtime_action", json_string("p/none"));
    assert_int_equal(registry_create(r, "other", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    json_object_set_new(spec, "runtime_action", json_string("p/a"));

    /* Another process's registry sees the new one on its next get. */
    store_t *s2;
    assert_int_equal(store_open(f->store.dir, &s2, &err), 0);
    registry_t *r2 = registry_new(f->app, s2);
    set = registry_get(r2);
    assert_int_equal(set->n, 3);
    const registration_t *made = regset_find(set, "made", &api);
    assert_non_null(made);
    assert_true(api);
    assert_string_equal(made->runtime_action, "p/a");
    /* A snapshot stays valid while held, whatever changes. */
    json_object_set_new(spec, "description", json_string("changed"));
    json_object_set_new(spec, "name", json_string("renamed"));
    assert_int_equal(registry_update(r, "made", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "cannot be renamed"));
    json_object_del(spec, "name");
    assert_int_equal(registry_update(r, "made", spec, NULL, &err), 0);
    assert_null(made->description);
    regset_release(set);
    set = registry_get(r2);
    assert_string_equal(regset_find(set, "made", NULL)->description, "changed");
    json_t *view = registry_describe(r2, regset_find(set, "made", NULL), true, &err);
    assert_string_equal(json_string_value(json_object_get(view, "origin")), "api");
    assert_string_equal(json_string_value(json_object_get(view, "state")), "ACTIVE");
    assert_string_equal(json_string_value(json_object_get(view, "delivery_type")), "list");
    assert_string_equal(json_string_value(json_object_get(view, "description")), "changed");
    json_decref(view);
    regset_release(set);

    assert_int_equal(registry_delete(r, "made", &err), 0);
    assert_int_equal(registry_delete(r, "made", &err), -1);
    assert_int_equal(err.code, EVK_NOT_FOUND);
    set = registry_get(r2);
    assert_null(regset_find(set, "made", NULL));
    regset_release(set);
    registry_free(r2);
    store_close(s2);
    json_decref(spec);
}

/* Publishing reads no generation per event: the store checks the one the
 * deliveries were chosen with when it writes the event. A registration
 * another process (its own store handle: another SQLite connection) made
 * meanwhile is still routed by the very next publish. */
static void test_publish_sees_another_process_change(void **state)
{
    reg_fixture *f = *state;
    err_t err;
    assert_true(store_checks_generation(f->store.s));
    engine_t e;
    engine_init(&e, f->app, f->store.s, NULL, NULL);
    const char *type = "com.adobe.commerce.observer.catalog_product_save_commit_after";
    store_append_result res;
    size_t matched = 0;
    json_t *data = json_pack("{s:i}", "n", 1);
    assert_int_equal(engine_publish_ex(&e, "commerce", type, data, NULL, NULL, &res, &matched, &err), 0);
    assert_int_equal(matched, 1); /* "declared" */

    store_t *s2;
    assert_int_equal(store_open(f->store.dir, &s2, &err), 0);
    registry_t *r2 = registry_new(f->app, s2);
    json_t *spec = json_loads(ACTION_SPEC, 0, NULL);
    assert_int_equal(registry_create(r2, "other", spec, NULL, &err), 0);
    json_decref(spec);

    /* The engine's registry has not read it yet... */
    regset_t *seen = registry_current(e.registry);
    assert_null(regset_find(seen, "other", NULL));
    regset_release(seen);
    /* ...and the publish routes to it all the same. */
    assert_int_equal(engine_publish_ex(&e, "commerce", type, data, NULL, NULL, &res, &matched, &err), 0);
    assert_false(res.stale);
    assert_int_equal(matched, 2);
    seen = registry_current(e.registry);
    assert_non_null(regset_find(seen, "other", NULL));
    regset_release(seen);

    /* An append with a generation that is not the store's stores nothing. */
    store_delivery_spec one = {.registration = "declared"};
    store_event_in ev = {.provider = "commerce", .type = type, .data = data, .deliveries = &one,
                         .ndeliveries = 1, .check_generation = true, .generation = -7};
    json_t *before = NULL, *after = NULL;
    assert_int_equal(store_read(f->store.s, NULL, 0, 1000, &before, &err), 0);
    assert_int_equal(store_append(f->store.s, &ev, &res, &err), 0);
    assert_true(res.stale);
    assert_int_equal(res.position, 0);
    assert_int_equal(store_read(f->store.s, NULL, 0, 1000, &after, &err), 0);
    assert_int_equal(json_array_size(after), json_array_size(before));
    int64_t gen = -1;
    assert_int_equal(store_regdef_generation(f->store.s, &gen, &err), 0);
    ev.generation = gen;
    assert_int_equal(store_append(f->store.s, &ev, &res, &err), 0);
    assert_false(res.stale);
    assert_true(res.position > 0);
    json_decref(before);
    json_decref(after);

    /* A change in this process is seen at once too. */
    assert_int_equal(registry_delete(r2, "other", &err), 0);
    assert_int_equal(engine_publish_ex(&e, "commerce", type, data, NULL, NULL, &res, &matched, &err), 0);
    assert_int_equal(matched, 1);
    json_decref(data);
    registry_free(r2);
    store_close(s2);
    engine_fini(&e);
}

/* A run-time provider (I/O Management API) and its event codes are read
 * from the store once: an event of theirs costs no read afterwards (the
 * rows gone from under it show it), while what the store has not confirmed
 * is asked again (a code added by another process is seen). */
static void test_runtime_providers_read_once(void **state)
{
    reg_fixture *f = *state;
    err_t err;
    json_t *rec = json_pack("{s:s, s:s, s:s}", "id", "11111111-2222-4333-8444-555555555555", "key",
                            "made-at-runtime", "label", "R");
    bool conflict = false;
    assert_int_equal(store_io_provider_put(f->store.s, rec, &conflict, &err), 0);
    json_decref(rec);
    store_event_meta m = {.provider = "made-at-runtime", .code = "r.one"};
    assert_int_equal(store_event_meta_put(f->store.s, &m, NULL, &err), 0);
    engine_t e;
    engine_init(&e, f->app, f->store.s, NULL, NULL);
    char key[128];
    bool known = false;
    const char *id = "11111111-2222-4333-8444-555555555555";
    assert_true(engine_runtime_provider(&e, id, "r.one", key, sizeof key, &known, &err));
    assert_string_equal(key, "made-at-runtime");
    assert_true(known);
    assert_true(engine_runtime_provider(&e, id, "r.two", key, sizeof key, &known, &err));
    assert_false(known);
    m.code = "r.two";
    store_t *s2;
    assert_int_equal(store_open(f->store.dir, &s2, &err), 0);
    assert_int_equal(store_event_meta_put(s2, &m, NULL, &err), 0);
    store_close(s2);
    assert_true(engine_runtime_provider(&e, id, "r.two", key, sizeof key, &known, &err));
    assert_true(known);

    /* Gone from the store: still known to this engine, unknown to a new one. */
    char *path = path_join(f->store.dir, "evkit.db");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM io_providers; DELETE FROM event_metadata", NULL, NULL,
                                  NULL), SQLITE_OK);
    sqlite3_close(db);
    free(path);
    assert_true(engine_runtime_provider(&e, id, "r.one", key, sizeof key, &known, &err));
    assert_true(known);
    engine_t fresh;
    engine_init(&fresh, f->app, f->store.s, NULL, NULL);
    assert_false(engine_runtime_provider(&fresh, id, "r.one", key, sizeof key, &known, &err));
    assert_int_equal(err.code, EVK_OK);
    engine_fini(&fresh);
    engine_fini(&e);
}

static void test_manifest_ones_are_read_only(void **state)
{
    reg_fixture *f = *state;
    err_t err;
    json_t *spec = spec_of(ACTION_SPEC);
    assert_int_equal(registry_create(f->r, "declared", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_CONFLICT);
    assert_non_null(strstr(err.msg, "declared in app.config.yaml"));
    assert_int_equal(registry_update(f->r, "declared", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_FORBIDDEN);
    assert_non_null(strstr(err.msg, "declared in app.config.yaml and is read-only"));
    assert_int_equal(registry_delete(f->r, "declared", &err), -1);
    assert_int_equal(err.code, EVK_FORBIDDEN);
    assert_int_equal(registry_secret_add(f->r, "declared_hook", NULL, NULL, &err), -1);
    assert_int_equal(err.code, EVK_FORBIDDEN);
    assert_int_equal(registry_secret_remove(f->r, "declared_hook", "da9cff11", &err), -1);
    assert_int_equal(err.code, EVK_FORBIDDEN);
    /* Enabling is allowed: an action registration needs no check. */
    int resumed = -1;
    assert_int_equal(registry_enable(f->r, "declared", &resumed, &err), 0);
    assert_int_equal(resumed, 0);
    assert_int_equal(registry_enable(f->r, "ghost", &resumed, &err), -1);
    assert_int_equal(err.code, EVK_NOT_FOUND);
    json_decref(spec);
}

static void test_webhooks_need_the_check(void **state)
{
    reg_fixture *f = *state;
    err_t err;
    json_t *spec = spec_of(HOOK_SPEC);
    char *secret = NULL;
    /* No check installed: refused, nothing stored. */
    assert_int_equal(registry_create(f->r, "hook", spec, &secret, &err), -1);
    assert_int_equal(err.code, EVK_UNAVAILABLE);
    assert_null(secret);
    int resumed;
    assert_int_equal(registry_enable(f->r, "declared_hook", &resumed, &err), -1);
    assert_int_equal(err.code, EVK_UNAVAILABLE);

    registry_set_url_check(f->r, fake_check);
    json_object_set_new(spec, "webhook_url", json_string("http://127.0.0.1:9/refuse"));
    assert_int_equal(registry_create(f->r, "hook", spec, &secret, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_non_null(strstr(err.msg, "did not echo"));
    assert_null(secret);
    assert_int_equal(checks, 1);

    json_object_set_new(spec, "webhook_url", json_string("http://127.0.0.1:9/hook"));
    assert_int_equal(registry_create(f->r, "hook", spec, &secret, &err), 0);
    assert_int_equal(checks, 2);
    assert_string_equal(checked, "http://127.0.0.1:9/hook");
    assert_non_null(secret);
    assert_true(webhook_secret_valid(secret));
    free(secret);
    secret = NULL;

    /* The same URL again: no new check; a new URL: checked (and refused). */
    json_object_set_new(spec, "description", json_string("d"));
    assert_int_equal(registry_update(f->r, "hook", spec, &secret, &err), 0);
    assert_null(secret); /* kept its secret */
    assert_int_equal(checks, 2);
    json_object_set_new(spec, "webhook_url", json_string("http://127.0.0.1:9/refuse-too"));
    assert_int_equal(registry_update(f->r, "hook", spec, NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_int_equal(checks, 3);

    assert_int_equal(registry_enable(f->r, "declared_hook", &resumed, &err), 0);
    assert_string_equal(checked, "http://127.0.0.1:9/declared");
    json_decref(spec);
}

static void test_secret_rotation(void **state)
{
    reg_fixture *f = *state;
    err_t err;
    registry_set_url_check(f->r, fake_check);
    json_t *spec = spec_of(HOOK_SPEC);
    json_object_set_new(spec, "webhook_secret", json_string("whsec_dGVzdA=="));
    char *secret = NULL;
    assert_int_equal(registry_create(f->r, "hook", spec, &secret, &err), 0);
    assert_null(secret); /* one was given */
    json_decref(spec);
    spec = spec_of(ACTION_SPEC);
    assert_int_equal(registry_create(f->r, "act", spec, NULL, &err), 0);
    json_decref(spec);

    assert_int_equal(registry_secret_add(f->r, "act", NULL, NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_int_equal(registry_secret_add(f->r, "hook", "not-a-secret", NULL, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_int_equal(registry_secret_add(f->r, "ghost", NULL, NULL, &err), -1);
    assert_int_equal(err.code, EVK_NOT_FOUND);
    /* The only secret cannot go; a second may come; a third may not. */
    assert_int_equal(registry_secret_remove(f->r, "hook", "da9cff11", &err), -1);
    assert_int_equal(err.code, EVK_CONFLICT);
    assert_int_equal(registry_secret_add(f->r, "hook", NULL, &secret, &err), 0);
    assert_non_null(secret);
    assert_true(webhook_secret_valid(secret));
    assert_int_equal(registry_secret_add(f->r, "hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                         NULL, &err),
                     -1);
    assert_int_equal(err.code, EVK_CONFLICT);
    regset_t *set = registry_get(f->r);
    const registration_t *hook = regset_find(set, "hook", NULL);
    assert_int_equal(hook->nsecrets, 2);
    assert_string_equal(hook->secrets[1], secret);
    json_t *view = registry_describe(f->r, hook, true, &err);
    json_t *secs = json_object_get(view, "webhook_secrets");
    assert_int_equal(json_array_size(secs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(secs, 0), "id")),
                        "da9cff11");
    assert_string_equal(json_string_value(json_object_get(json_array_get(secs, 0), "hint")),
                        "whsec_dGVz...");
    char *dump = json_dumps(view, 0);
    assert_null(strstr(dump, "dGVzdA=="));
    assert_null(strstr(dump, secret + 10));
    free(dump);
    json_decref(view);
    regset_release(set);

    assert_int_equal(registry_secret_remove(f->r, "hook", "00000000", &err), -1);
    assert_int_equal(err.code, EVK_NOT_FOUND);
    assert_int_equal(registry_secret_remove(f->r, "hook", "da9cff11", &err), 0);
    set = registry_get(f->r);
    hook = regset_find(set, "hook", NULL);
    assert_int_equal(hook->nsecrets, 1);
    assert_string_equal(hook->secrets[0], secret);
    regset_release(set);
    free(secret);
}

static void test_secret_helpers(void **state)
{
    (void)state;
    char id[9], hint[32];
    registry_secret_id("whsec_dGVzdA==", id);
    assert_string_equal(id, "da9cff11");
    registry_secret_hint("whsec_dGVzdA==", hint, sizeof hint);
    assert_string_equal(hint, "whsec_dGVz...");
    char *a = registry_secret_new(), *b = registry_secret_new();
    assert_true(webhook_secret_valid(a));
    assert_int_equal(strlen(a), 6 + 44); /* 32 bytes in base64 */
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_interests_flattened(void **state)
{
    reg_fixture *f = *state;
    err_t err;
    registry_set_url_check(f->r, fake_check);
    json_t *spec = spec_of(HOOK_SPEC);
    assert_int_equal(registry_create(f->r, "hook", spec, NULL, &err), 0);
    json_decref(spec);
    regset_t *set = registry_get(f->r);
    const char **provs = NULL, **types = NULL;
    size_t n = registry_interests(regset_find(set, "hook", NULL), &provs, &types);
    assert_int_equal(n, 3);
    assert_string_equal(provs[0], "commerce");
    assert_string_equal(types[0], "com.adobe.commerce.observer.catalog_product_save_commit_after");
    assert_string_equal(provs[1], "backoffice");
    assert_string_equal(types[1], "be-observer.catalog_product_create");
    assert_string_equal(provs[2], "backoffice");
    assert_string_equal(types[2], "be-observer.catalog_product_update");
    free(provs);
    free(types);
    n = registry_interests(regset_find(set, "declared", NULL), &provs, &types);
    assert_int_equal(n, 1);
    assert_string_equal(provs[0], "commerce");
    free(provs);
    free(types);
    regset_release(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_update_delete, reg_setup, reg_teardown),
        cmocka_unit_test_setup_teardown(test_publish_sees_another_process_change, reg_setup,
                                        reg_teardown),
        cmocka_unit_test_setup_teardown(test_runtime_providers_read_once, reg_setup, reg_teardown),
        cmocka_unit_test_setup_teardown(test_manifest_ones_are_read_only, reg_setup, reg_teardown),
        cmocka_unit_test_setup_teardown(test_webhooks_need_the_check, reg_setup, reg_teardown),
        cmocka_unit_test_setup_teardown(test_secret_rotation, reg_setup, reg_teardown),
        cmocka_unit_test(test_secret_helpers),
        cmocka_unit_test_setup_teardown(test_interests_flattened, reg_setup, reg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
