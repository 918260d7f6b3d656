/* test_manifest: app folders written to a temporary directory and loaded with
 * app_load: $include, .env and $VARs, unknown keys and type errors with their
 * lines, limits, registrations and their validation against the onboarding
 * config, webhook registrations and registrations given as JSON. */
#include "testutil.h"

#include "core/util.h"
#include "manifest/manifest.h"
#include "manifest/manifest_int.h"
#include "runtime/runtime.h"

static const char *PROVIDERS =
    "[\n"
    "  {\"key\": \"commerce\", \"label\": \"Commerce Provider\", \"description\": \"c\", "
    "\"docs_url\": null},\n"
    "  {\"key\": \"backoffice\", \"label\": \"Backoffice Provider\", \"description\": \"b\", "
    "\"docs_url\": null}\n"
    "]\n";

static const char *EVENTS =
    "{\n"
    "  \"product\": {\n"
    "    \"commerce\": {\n"
    "      \"com.adobe.commerce.observer.catalog_product_save_commit_after\": "
    "{\"sampleEventTemplate\": {\"value\": {\"sku\": \"24-MB01\"}}}\n"
    "    },\n"
    "    \"backoffice\": {\n"
    "      \"be-observer.catalog_product_create\": {\"sampleEventTemplate\": {\"sku\": \"S1\"}},\n"
    "      \"be-observer.catalog_product_update\": {}\n"
    "    }\n"
    "  }\n"
    "}\n";

/* A fresh app folder with onboarding config, one Lua file and config. */
static char *app_new(const char *config)
{
    char *dir = tu_tmpdir();
    tu_write(dir, "onboarding/config/providers.json", PROVIDERS);
    tu_write(dir, "onboarding/config/events.json", EVENTS);
    tu_write(dir, "actions/a.lua", "return function(p) return p end\n");
    if (config) tu_write(dir, "app.config.yaml", config);
    return dir;
}

/* A diagnostic of severity sev whose message contains text, in file (when
 * not NULL) at line (when > 0). */
static const diag_t *find_diag(const diags_t *d, diag_severity sev, const char *text,
                               const char *file, int line)
{
    for (size_t i = 0; i < d->n; i++) {
        const diag_t *g = &d->items[i];
        if (g->severity != sev || !strstr(g->message, text)) continue;
        if (file && (!g->file || strcmp(g->file, file))) continue;
        if (line > 0 && g->line != line) continue;
        return g;
    }
    return NULL;
}

static void dump(const diags_t *d)
{
    diags_print(d, stderr);
}

#define ASSERT_DIAG(d, sev, text, file, line)                                                      \
    do {                                                                                           \
        if (!find_diag((d), (sev), (text), (file), (line))) {                                      \
            dump(d);                                                                               \
            fail_msg("no %s '%s' at %s:%d", (sev) == DIAG_ERROR ? "error" : "warning", (text),     \
                     (file) ? (file) : "?", (line));                                               \
        }                                                                                          \
    } while (0)

static const char *MINIMAL =
    "application:\n"
    "  runtimeManifest:\n"
    "    packages:\n"
    "      p:\n"
    "        license: Apache-2.0\n"
    "        actions:\n"
    "          a:\n"
    "            function: actions/a.lua\n";

static void test_minimal_defaults(void **state)
{
    (void)state;
    char *dir = app_new(MINIMAL);
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 0);
    assert_int_equal(app->nactions, 1);
    const action_t *a = app_action(app, "p/a");
    assert_non_null(a);
    assert_string_equal(a->package, "p");
    assert_string_equal(a->name, "a");
    assert_string_equal(a->runtime, "lua");
    assert_int_equal(a->kind, RUNTIME_LUA);
    assert_int_equal(a->web, WEB_NO);
    assert_false(a->raw_http);
    assert_false(a->final);
    assert_int_equal(a->timeout_ms, ACTION_DEFAULT_TIMEOUT_MS);
    assert_int_equal(a->memory_mb, ACTION_DEFAULT_MEMORY_MB);
    assert_int_equal(a->concurrency, 2);
    assert_int_equal(json_object_size(a->inputs), 0);
    assert_true(a->function[0] == '/');
    assert_non_null(strstr(a->function, "/actions/a.lua"));
    assert_non_null(strstr(a->dir, "/actions"));
    /* The folder name, as no package.json exists. */
    const char *base = strrchr(dir, '/') + 1;
    assert_string_equal(app->name, base);
    assert_int_equal(app->nproviders, 2);
    assert_string_equal(app_provider(app, "backoffice")->label, "Backoffice Provider");
    assert_int_equal(app->nevents, 3);
    const event_code_t *e = app_event_code(app, "backoffice", "be-observer.catalog_product_create");
    assert_non_null(e);
    assert_string_equal(e->entity, "product");
    assert_string_equal(json_string_value(json_object_get(e->sample, "sku")), "S1");
    assert_null(app_event_code(app, "backoffice", "be-observer.catalog_product_update")->sample);
    assert_null(app_event_code(app, "commerce", "be-observer.catalog_product_create"));
    assert_null(app_action(app, "p/b"));
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_package_json_name(void **state)
{
    (void)state;
    char *dir = app_new(MINIMAL);
    tu_write(dir, "package.json", "{\"name\": \"my-integration\", \"version\": \"1.0.0\"}\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_non_null(app);
    assert_string_equal(app->name, "my-integration");
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_include_nested(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages:\n"
                        "      ingestion:\n"
                        "        license: Apache-2.0\n"
                        "        actions:\n"
                        "          $include: ./actions/ingestion/actions.config.yaml\n"
                        "          webhook:\n"
                        "            function: actions/a.lua\n");
    /* Relative to the included file; the keys beside $include win. */
    tu_write(dir, "actions/ingestion/actions.config.yaml",
             "webhook:\n"
             "  function: ./webhook/index.lua\n"
             "  web: 'yes'\n"
             "consumer:\n"
             "  $include: ./consumer/spec.yaml\n"
             "  web: 'no'\n");
    tu_write(dir, "actions/ingestion/consumer/spec.yaml",
             "function: index.lua\n"
             "web: 'yes'\n"
             "inputs:\n"
             "  LOG_LEVEL: debug\n");
    tu_write(dir, "actions/ingestion/webhook/index.lua", "return {}\n");
    tu_write(dir, "actions/ingestion/consumer/index.lua", "return {}\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    assert_int_equal(app->nactions, 2);
    const action_t *w = app_action(app, "ingestion/webhook");
    assert_non_null(w);
    /* The overriding mapping replaced the included one as a whole. */
    assert_non_null(strstr(w->function, "/actions/a.lua"));
    assert_int_equal(w->web, WEB_NO);
    const action_t *c = app_action(app, "ingestion/consumer");
    assert_non_null(c);
    assert_non_null(strstr(c->function, "/actions/ingestion/consumer/index.lua"));
    assert_int_equal(c->web, WEB_NO);
    assert_string_equal(json_string_value(json_object_get(c->inputs, "LOG_LEVEL")), "debug");
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_include_cycle(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages:\n"
                        "      p:\n"
                        "        actions:\n"
                        "          $include: inc/a.yaml\n");
    tu_write(dir, "inc/a.yaml", "x:\n  $include: b.yaml\n");
    tu_write(dir, "inc/b.yaml", "function: ../actions/a.lua\n$include: ./a.yaml\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_null(app);
    ASSERT_DIAG(&d, DIAG_ERROR, "$include cycle: inc/a.yaml -> inc/b.yaml -> inc/a.yaml",
                "inc/b.yaml", 2);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_include_missing_and_not_mapping(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages:\n"
                        "      p:\n"
                        "        actions:\n"
                        "          $include: nope.yaml\n"
                        "      q:\n"
                        "        $include: list.yaml\n");
    tu_write(dir, "list.yaml", "- a\n- b\n");
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR, "$include 'nope.yaml': no such file", "app.config.yaml", 6);
    ASSERT_DIAG(&d, DIAG_ERROR, "must hold a mapping", "app.config.yaml", 8);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_yaml_syntax_error(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages: [unclosed\n"
                        "  events: x\n");
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    assert_true(d.errors >= 1);
    ASSERT_DIAG(&d, DIAG_ERROR, "YAML:", "app.config.yaml", 0);
    assert_true(d.items[d.n - 1].line > 0);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_dotenv_parse(void **state)
{
    (void)state;
    json_t *o = json_object();
    diags_t d;
    diags_init(&d);
    dotenv_parse("# comment\n"
                 "\n"
                 "A=plain value   # trailing comment\n"
                 "export B=exported\n"
                 "C='single $X \\n kept'\n"
                 "D=\"double\\nline \\\"q\\\"\"\n"
                 "  E = spaced\n"
                 "F=\n"
                 "G=\"multi\n"
                 "line\"\n"
                 "not a valid line\n"
                 "H=a#b\n"
                 "A=again\r\n",
                 ".env", o, &d);
    assert_string_equal(json_string_value(json_object_get(o, "A")), "again");
    assert_string_equal(json_string_value(json_object_get(o, "B")), "exported");
    assert_string_equal(json_string_value(json_object_get(o, "C")), "single $X \\n kept");
    assert_string_equal(json_string_value(json_object_get(o, "D")), "double\nline \"q\"");
    assert_string_equal(json_string_value(json_object_get(o, "E")), "spaced");
    assert_string_equal(json_string_value(json_object_get(o, "F")), "");
    assert_string_equal(json_string_value(json_object_get(o, "G")), "multi\nline");
    assert_string_equal(json_string_value(json_object_get(o, "H")), "a#b");
    assert_int_equal(json_object_size(o), 8);
    assert_int_equal(d.warnings, 1);
    ASSERT_DIAG(&d, DIAG_WARNING, "expected KEY=VALUE", ".env", 11);
    json_decref(o);
    diags_free(&d);
}

static void test_env_precedence_and_missing_var(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages:\n"
                        "      p:\n"
                        "        inputs:\n"
                        "          FROM_ENV: $EVKIT_TEST_BOTH\n"
                        "          FROM_DOTENV: ${EVKIT_TEST_DOTENV_ONLY}\n"
                        "          MIXED: \"pre-${EVKIT_TEST_DOTENV_ONLY}-$EVKIT_TEST_BOTH/x\"\n"
                        "          LITERAL: cost $5\n"
                        "        actions:\n"
                        "          a:\n"
                        "            function: actions/a.lua\n"
                        "            inputs:\n"
                        "              MISSING: $EVKIT_TEST_NOT_SET_ANYWHERE\n"
                        "          b:\n"
                        "            function: actions/a.lua\n"
                        "            inputs:\n"
                        "              AGAIN: x${EVKIT_TEST_NOT_SET_ANYWHERE}y\n");
    tu_write(dir, ".env",
             "EVKIT_TEST_BOTH=from-dotenv\n"
             "EVKIT_TEST_DOTENV_ONLY=\"dotenv value\"\n");
    setenv("EVKIT_TEST_BOTH", "from-process", 1);
    unsetenv("EVKIT_TEST_NOT_SET_ANYWHERE");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    unsetenv("EVKIT_TEST_BOTH");
    if (!app) dump(&d);
    assert_non_null(app);
    const action_t *a = app_action(app, "p/a");
    assert_string_equal(json_string_value(json_object_get(a->inputs, "FROM_ENV")), "from-process");
    assert_string_equal(json_string_value(json_object_get(a->inputs, "FROM_DOTENV")),
                        "dotenv value");
    assert_string_equal(json_string_value(json_object_get(a->inputs, "MIXED")),
                        "pre-dotenv value-from-process/x");
    assert_string_equal(json_string_value(json_object_get(a->inputs, "LITERAL")), "cost $5");
    assert_string_equal(json_string_value(json_object_get(a->inputs, "MISSING")), "");
    assert_string_equal(json_string_value(json_object_get(app_action(app, "p/b")->inputs, "AGAIN")),
                        "xy");
    /* Reported once, at its first use, with the count of the others. */
    ASSERT_DIAG(&d, DIAG_WARNING, "'EVKIT_TEST_NOT_SET_ANYWHERE' is not set", "app.config.yaml",
                14);
    ASSERT_DIAG(&d, DIAG_WARNING, "(used in 1 more place)", "app.config.yaml", 14);
    assert_int_equal(d.warnings, 1);
    /* app->env: process over .env. */
    assert_string_equal(json_string_value(json_object_get(app->env, "EVKIT_TEST_BOTH")),
                        "from-process");
    assert_string_equal(json_string_value(json_object_get(app->env, "EVKIT_TEST_DOTENV_ONLY")),
                        "dotenv value");
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_unknown_keys_warn_with_lines(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"                       /* 1 */
                        "  runtimeManifest:\n"                 /* 2 */
                        "    packages:\n"                      /* 3 */
                        "      ingestion:\n"                   /* 4 */
                        "        licence: MIT\n"               /* 5 */
                        "        actions:\n"                   /* 6 */
                        "          webhook:\n"                 /* 7 */
                        "            function: actions/a.lua\n" /* 8 */
                        "            foo: 1\n"                 /* 9 */
                        "            limits:\n"                /* 10 */
                        "              timeout: 1000\n"        /* 11 */
                        "              logs: 10\n"             /* 12 */
                        "  hooks: {}\n"                        /* 13 */
                        "extensions: {}\n");                   /* 14 */
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_non_null(app);
    assert_int_equal(d.warnings, 5);
    ASSERT_DIAG(&d, DIAG_WARNING, "unknown key 'foo' in action 'ingestion/webhook'",
                "app.config.yaml", 9);
    ASSERT_DIAG(&d, DIAG_WARNING, "unknown key 'licence' in package 'ingestion'", "app.config.yaml",
                5);
    ASSERT_DIAG(&d, DIAG_WARNING, "unknown key 'logs' in the limits of action 'ingestion/webhook'",
                "app.config.yaml", 12);
    ASSERT_DIAG(&d, DIAG_WARNING, "unknown key 'hooks' in 'application'", "app.config.yaml", 13);
    ASSERT_DIAG(&d, DIAG_WARNING, "unknown key 'extensions' at the top level", "app.config.yaml",
                14);
    const diag_t *g = find_diag(&d, DIAG_WARNING, "'foo'", NULL, 0);
    assert_int_equal(g->column, 13);
    assert_int_equal(app_action(app, "ingestion/webhook")->timeout_ms, 1000);
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_unknown_key_in_included_file(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages:\n"
                        "      p:\n"
                        "        actions:\n"
                        "          $include: actions/p.yaml\n");
    tu_write(dir, "actions/p.yaml", "a:\n  function: a.lua\n\n  bogus: true\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_non_null(app);
    ASSERT_DIAG(&d, DIAG_WARNING, "unknown key 'bogus' in action 'p/a'", "actions/p.yaml", 4);
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_type_errors(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"                          /* 1 */
                        "  runtimeManifest:\n"                    /* 2 */
                        "    packages:\n"                         /* 3 */
                        "      p:\n"                              /* 4 */
                        "        inputs: [1, 2]\n"                /* 5 */
                        "        actions:\n"                      /* 6 */
                        "          a:\n"                          /* 7 */
                        "            function: [actions/a.lua]\n" /* 8 */
                        "            web: maybe\n"                /* 9 */
                        "            annotations:\n"              /* 10 */
                        "              final: 'yes'\n"            /* 11 */
                        "          b: just a string\n"            /* 12 */
                        "          c:\n"                          /* 13 */
                        "            function: actions/a.lua\n"   /* 14 */
                        "            limits: 5\n"                 /* 15 */
                        "            runtime: 3\n");              /* 16 */
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR, "'inputs' of package 'p' must be a mapping, not a list",
                "app.config.yaml", 5);
    ASSERT_DIAG(&d, DIAG_ERROR, "'function' of action 'p/a' must be a string, not a list",
                "app.config.yaml", 8);
    ASSERT_DIAG(&d, DIAG_ERROR, "'web' of action 'p/a' must be 'yes', 'no' or 'raw', not 'maybe'",
                "app.config.yaml", 9);
    ASSERT_DIAG(&d, DIAG_ERROR, "annotation 'final' of action 'p/a' must be true or false",
                "app.config.yaml", 11);
    ASSERT_DIAG(&d, DIAG_ERROR, "action 'p/b' must be a mapping, not a string", "app.config.yaml",
                12);
    ASSERT_DIAG(&d, DIAG_ERROR, "'limits' of action 'p/c' must be a mapping, not an integer",
                "app.config.yaml", 15);
    ASSERT_DIAG(&d, DIAG_ERROR, "'runtime' of action 'p/c' must be a string", "app.config.yaml",
                16);
    assert_int_equal(d.errors, 7);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_runtime_and_function(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"                        /* 1 */
                        "  runtimeManifest:\n"                  /* 2 */
                        "    packages:\n"                       /* 3 */
                        "      p:\n"                            /* 4 */
                        "        actions:\n"                    /* 5 */
                        "          node:\n"                     /* 6 */
                        "            function: actions/a.lua\n" /* 7 */
                        "            runtime: nodejs:14\n"      /* 8 */
                        "          gone:\n"                     /* 9 */
                        "            function: actions/nope.lua\n" /* 10 */
                        "          noruntime:\n"                /* 11 */
                        "            function: actions/run.sh\n" /* 12 */
                        "          bin:\n"                      /* 13 */
                        "            function: actions/run.sh\n" /* 14 */
                        "            runtime: exec\n"           /* 15 */
                        "          loop:\n"                     /* 16 */
                        "            function: actions/run.sh\n" /* 17 */
                        "            runtime: actionloop\n"     /* 18 */
                        "          nofn:\n"                     /* 19 */
                        "            runtime: lua\n");          /* 20 */
    tu_write(dir, "actions/run.sh", "#!/bin/sh\necho '{}'\n");
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR,
                "runtime 'nodejs:14' of action 'p/node' is not supported: Node.js actions declare "
                "nodejs:16, nodejs:18, nodejs:20, nodejs:22, nodejs:24 or nodejs:default",
                "app.config.yaml", 8);
    ASSERT_DIAG(&d, DIAG_ERROR, "function 'actions/nope.lua' of action 'p/gone' not found",
                "app.config.yaml", 10);
    ASSERT_DIAG(&d, DIAG_ERROR, "action 'p/noruntime' has no 'runtime'", "app.config.yaml", 11);
    ASSERT_DIAG(&d, DIAG_WARNING, "not executable", "app.config.yaml", 14);
    ASSERT_DIAG(&d, DIAG_ERROR, "action 'p/nofn' has no 'function'", "app.config.yaml", 19);
    assert_int_equal(d.errors, 4);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_nodejs_runtimes(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"                         /* 1 */
                        "  runtimeManifest:\n"                   /* 2 */
                        "    packages:\n"                        /* 3 */
                        "      p:\n"                             /* 4 */
                        "        actions:\n"                     /* 5 */
                        "          n16:\n"                       /* 6 */
                        "            function: actions/a.js\n"   /* 7 */
                        "            runtime: nodejs:16\n"       /* 8 */
                        "          n24:\n"                       /* 9 */
                        "            function: actions/a.js\n"   /* 10 */
                        "            runtime: nodejs:24\n"       /* 11 */
                        "            main: handler\n"            /* 12 */
                        "          nd:\n"                        /* 13 */
                        "            function: actions/a.js\n"   /* 14 */
                        "            runtime: nodejs:default\n"  /* 15 */
                        "          bare:\n"                      /* 16 */
                        "            function: actions/a.js\n"   /* 17 */
                        "            runtime: nodejs\n"          /* 18 */
                        "          luamain:\n"                   /* 19 */
                        "            function: actions/a.lua\n"  /* 20 */
                        "            main: other\n");            /* 21 */
    /* Not executable, and no warning for it: node runs the file. */
    tu_write(dir, "actions/a.js", "exports.main = () => ({})\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    const action_t *a = app_action(app, "p/n16");
    assert_int_equal(a->kind, RUNTIME_NODEJS);
    assert_int_equal(a->node_major, 16);
    assert_string_equal(a->main_name, "main");
    a = app_action(app, "p/n24");
    assert_int_equal(a->node_major, 24);
    assert_string_equal(a->main_name, "handler");
    assert_string_equal(a->runtime, "nodejs:24");
    a = app_action(app, "p/nd");
    assert_int_equal(a->kind, RUNTIME_NODEJS);
    assert_int_equal(a->node_major, 0);
    a = app_action(app, "p/bare");
    assert_int_equal(a->kind, RUNTIME_NODEJS);
    assert_int_equal(a->node_major, 0);
    ASSERT_DIAG(&d, DIAG_WARNING, "'main' of action 'p/luamain' is ignored", "app.config.yaml", 21);
    assert_string_equal(app_action(app, "p/luamain")->main_name, "main");
    assert_int_equal(d.warnings, 1);
    app_free(app);
    diags_free(&d);

    tu_write(dir, "app.config.yaml",
             "application:\n"
             "  runtimeManifest:\n"
             "    packages:\n"
             "      p:\n"
             "        actions:\n"
             "          x:\n"
             "            function: actions/a.js\n"
             "            runtime: nodejs:19\n"
             "          y:\n"
             "            function: actions/a.js\n"
             "            runtime: nodejs:20\n"
             "            main: 'not a name'\n"
             "          z:\n"
             "            function: actions/a.js\n"
             "            runtime: node\n");
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR, "runtime 'nodejs:19' of action 'p/x' is not supported: Node.js",
                "app.config.yaml", 8);
    ASSERT_DIAG(&d, DIAG_ERROR, "'main' of action 'p/y' must name an exported function",
                "app.config.yaml", 12);
    ASSERT_DIAG(&d, DIAG_ERROR, "runtime 'node' of action 'p/z' is not supported: evkit runs lua",
                "app.config.yaml", 15);
    assert_int_equal(d.errors, 3);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

/* events.json as the commerce starter kit writes it: provider -> [codes]. */
static void test_events_list_form(void **state)
{
    (void)state;
    char *dir = app_new(MINIMAL);
    tu_write(dir, "onboarding/config/events.json",
             "{\n"                                                     /* 1 */
             "  \"product\": {\n"                                      /* 2 */
             "    \"commerce\": [\n"                                   /* 3 */
             "      \"com.adobe.commerce.observer.catalog_product_save_commit_after\"\n" /* 4 */
             "    ],\n"                                                /* 5 */
             "    \"backoffice\": {\"be-observer.catalog_product_create\": {}}\n" /* 6 */
             "  },\n"                                                  /* 7 */
             "  \"stock\": {\n"                                        /* 8 */
             "    \"backoffice\": [\"be-observer.catalog_stock_update\", \"be-x\"]\n" /* 9 */
             "  }\n"                                                   /* 10 */
             "}\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    assert_int_equal(app->nevents, 4);
    const event_code_t *ev =
        app_event_code(app, "commerce", "com.adobe.commerce.observer.catalog_product_save_commit_after");
    assert_non_null(ev);
    assert_string_equal(ev->entity, "product");
    assert_null(ev->sample);
    ev = app_event_code(app, "backoffice", "be-x");
    assert_non_null(ev);
    assert_string_equal(ev->entity, "stock");
    assert_non_null(app_event_code(app, "backoffice", "be-observer.catalog_product_create"));
    app_free(app);
    diags_free(&d);

    tu_write(dir, "onboarding/config/events.json",
             "{\n"
             "  \"product\": {\n"
             "    \"commerce\": [\"ok.code\", 3, \"\"],\n"
             "    \"backoffice\": \"be-observer.catalog_product_create\"\n"
             "  }\n"
             "}\n");
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR, "event code #2 of 'commerce' in entity 'product' must be a non-empty string",
                "onboarding/config/events.json", 3);
    ASSERT_DIAG(&d, DIAG_ERROR, "event code #3 of 'commerce'", "onboarding/config/events.json", 3);
    ASSERT_DIAG(&d, DIAG_ERROR, "'backoffice' of entity 'product' must map event codes",
                "onboarding/config/events.json", 4);
    assert_int_equal(d.errors, 3);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_web_annotations_inputs(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages:\n"
                        "      p:\n"
                        "        inputs:\n"
                        "          LOG_LEVEL: info\n"
                        "          SHARED: package\n"
                        "          PKG_ONLY: 1\n"
                        "        actions:\n"
                        "          raw:\n"
                        "            function: actions/a.lua\n"
                        "            web: raw\n"
                        "          yes:\n"
                        "            function: actions/a.lua\n"
                        "            web: true\n"
                        "            inputs:\n"
                        "              SHARED: action\n"
                        "              INT: 42\n"
                        "              FLOAT: 1.5\n"
                        "              BOOL: false\n"
                        "              QUOTED: '42'\n"
                        "              QUOTED_BOOL: \"true\"\n"
                        "              NUL:\n"
                        "              LIST: [a, 2]\n"
                        "              OBJ: {k: v}\n"
                        "            annotations:\n"
                        "              final: true\n"
                        "              require-adobe-auth: false\n"
                        "              raw-http: true\n"
                        "              description: hello\n"
                        "          quoted:\n"
                        "            function: actions/a.lua\n"
                        "            web: 'yes'\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    assert_int_equal(d.warnings, 0);
    const action_t *r = app_action(app, "p/raw");
    assert_int_equal(r->web, WEB_RAW);
    assert_true(r->raw_http);
    assert_string_equal(json_string_value(json_object_get(r->inputs, "SHARED")), "package");
    const action_t *y = app_action(app, "p/yes");
    assert_int_equal(y->web, WEB_YES);
    assert_true(y->final);
    assert_false(y->require_auth);
    assert_true(y->raw_http);
    json_t *in = y->inputs;
    assert_string_equal(json_string_value(json_object_get(in, "LOG_LEVEL")), "info");
    assert_string_equal(json_string_value(json_object_get(in, "SHARED")), "action");
    assert_int_equal(json_integer_value(json_object_get(in, "PKG_ONLY")), 1);
    assert_int_equal(json_integer_value(json_object_get(in, "INT")), 42);
    assert_true(json_is_real(json_object_get(in, "FLOAT")));
    assert_true(json_is_false(json_object_get(in, "BOOL")));
    assert_string_equal(json_string_value(json_object_get(in, "QUOTED")), "42");
    assert_string_equal(json_string_value(json_object_get(in, "QUOTED_BOOL")), "true");
    assert_true(json_is_null(json_object_get(in, "NUL")));
    assert_int_equal(json_array_size(json_object_get(in, "LIST")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(in, "OBJ"), "k")), "v");
    assert_true(json_is_true(json_object_get(y->annotations, "final")));
    assert_string_equal(json_string_value(json_object_get(y->annotations, "description")),
                        "hello");
    assert_int_equal(json_object_size(y->annotations), 4);
    assert_int_equal(app_action(app, "p/quoted")->web, WEB_YES);
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static const char *limits_app(const char *limits)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "application:\n"
             "  runtimeManifest:\n"
             "    packages:\n"
             "      p:\n"
             "        actions:\n"
             "          a:\n"
             "            function: actions/a.lua\n"
             "            limits:\n"
             "%s",
             limits);
    return buf;
}

static app_t *load_limits(const char *limits, diags_t *d, char **dir)
{
    *dir = app_new(limits_app(limits));
    diags_init(d);
    return app_load(*dir, d);
}

static void done(app_t *app, diags_t *d, char *dir)
{
    app_free(app);
    diags_free(d);
    tu_rmrf(dir);
    free(dir);
}

static void test_limits(void **state)
{
    (void)state;
    diags_t d;
    char *dir;
    app_t *app = load_limits("              timeout: 30s\n"
                             "              memory: 128\n"
                             "              concurrency: 4\n",
                             &d, &dir);
    assert_non_null(app);
    const action_t *a = app_action(app, "p/a");
    assert_int_equal(a->timeout_ms, 30000);
    assert_int_equal(a->memory_mb, 128);
    assert_int_equal(a->concurrency, 4);
    done(app, &d, dir);

    app = load_limits("              timeout: 100\n              memory: 1\n", &d, &dir);
    assert_non_null(app);
    assert_int_equal(app_action(app, "p/a")->timeout_ms, 100);
    assert_int_equal(app_action(app, "p/a")->memory_mb, 1);
    assert_int_equal(app_action(app, "p/a")->concurrency, 2);
    done(app, &d, dir);

    app = load_limits("              timeout: 600000\n              memory: 4096\n", &d, &dir);
    assert_non_null(app);
    done(app, &d, dir);

    app = load_limits("              timeout: 99\n"
                      "              memory: 0\n"
                      "              concurrency: 0\n",
                      &d, &dir);
    assert_null(app);
    assert_int_equal(d.errors, 3);
    ASSERT_DIAG(&d, DIAG_ERROR, "limits.timeout of action 'p/a' is 99 ms", "app.config.yaml", 9);
    ASSERT_DIAG(&d, DIAG_ERROR, "limits.memory (MB) of action 'p/a' is 0", "app.config.yaml", 10);
    ASSERT_DIAG(&d, DIAG_ERROR, "limits.concurrency of action 'p/a' is 0", "app.config.yaml", 11);
    done(app, &d, dir);

    app = load_limits("              timeout: 11m\n"
                      "              memory: 4097\n"
                      "              concurrency: lots\n",
                      &d, &dir);
    assert_null(app);
    assert_int_equal(d.errors, 3);
    ASSERT_DIAG(&d, DIAG_ERROR, "is 660000 ms", "app.config.yaml", 9);
    ASSERT_DIAG(&d, DIAG_ERROR, "is 4097", "app.config.yaml", 10);
    ASSERT_DIAG(&d, DIAG_ERROR, "must be an integer, not a string", "app.config.yaml", 11);
    done(app, &d, dir);

    app = load_limits("              timeout: soon\n", &d, &dir);
    assert_null(app);
    ASSERT_DIAG(&d, DIAG_ERROR, "'soon' is not a duration", "app.config.yaml", 9);
    done(app, &d, dir);
}

static const char *REG_APP =
    "application:\n"                                                          /* 1 */
    "  runtimeManifest:\n"                                                    /* 2 */
    "    packages:\n"                                                         /* 3 */
    "      product-backoffice:\n"                                             /* 4 */
    "        actions:\n"                                                      /* 5 */
    "          consumer:\n"                                                   /* 6 */
    "            function: actions/a.lua\n"                                   /* 7 */
    "  events:\n"                                                             /* 8 */
    "    registrations:\n"                                                    /* 9 */
    "      product-backoffice:\n"                                             /* 10 */
    "        description: Product events of the back office\n"                /* 11 */
    "        events_of_interest:\n"                                           /* 12 */
    "          - provider_metadata: backoffice\n"                             /* 13 */
    "            event_codes:\n"                                              /* 14 */
    "              - be-observer.catalog_product_create\n"                    /* 15 */
    "              - be-observer.catalog_product_update\n"                    /* 16 */
    "          - provider_metadata: commerce\n"                               /* 17 */
    "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
    "        runtime_action: product-backoffice/consumer\n"                   /* 19 */
    "        retry:\n"                                                        /* 20 */
    "          schedule: [500ms, 2000, PT1M, 1h]\n"                           /* 21 */
    "          max_age: 2h\n"                                                 /* 22 */
    "          jitter: 0\n"                                                   /* 23 */
    "        ordering:\n"                                                     /* 24 */
    "          key: data.sku\n"                                               /* 25 */
    "      defaults:\n"                                                       /* 26 */
    "        events_of_interest:\n"                                           /* 27 */
    "          provider_metadata: backoffice\n"                               /* 28 */
    "          event_codes: [be-observer.catalog_product_create]\n"           /* 29 */
    "        runtime_action: product-backoffice/consumer\n"                   /* 30 */
    "        retry:\n"                                                        /* 31 */
    "          max_age: 90000\n";                                             /* 32 */

static void test_registrations(void **state)
{
    (void)state;
    char *dir = app_new(REG_APP);
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    assert_int_equal(d.warnings, 0);
    assert_int_equal(app->nregistrations, 2);
    const registration_t *r = app_registration(app, "product-backoffice");
    assert_non_null(r);
    assert_string_equal(r->description, "Product events of the back office");
    assert_string_equal(r->runtime_action, "product-backoffice/consumer");
    assert_ptr_equal(r->action, app_action(app, "product-backoffice/consumer"));
    assert_int_equal(r->ninterests, 2);
    assert_string_equal(r->interests[0].provider, "backoffice");
    assert_int_equal(r->interests[0].ncodes, 2);
    assert_string_equal(r->interests[1].codes[0],
                        "com.adobe.commerce.observer.catalog_product_save_commit_after");
    assert_int_equal(r->nretry, 4);
    assert_int_equal(r->retry_schedule_ms[0], 500);
    assert_int_equal(r->retry_schedule_ms[1], 2000);
    assert_int_equal(r->retry_schedule_ms[2], 60000);
    assert_int_equal(r->retry_schedule_ms[3], 3600000);
    assert_int_equal(r->retry_max_age_ms, 2 * 3600000);
    assert_int_equal(r->retry_jitter_pct, 0);
    assert_string_equal(r->ordering_key, "data.sku");

    const registration_t *def = app_registration(app, "defaults");
    assert_non_null(def);
    assert_null(def->description);
    assert_null(def->ordering_key);
    assert_int_equal(def->ninterests, 1);
    assert_int_equal(def->nretry, 5);
    assert_int_equal(def->retry_schedule_ms[0], 60000);
    assert_int_equal(def->retry_schedule_ms[4], 15 * 60000);
    assert_int_equal(def->retry_max_age_ms, 90000);
    assert_int_equal(def->retry_jitter_pct, 10);
    assert_null(app_registration(app, "nope"));

    /* registration_matches */
    assert_true(registration_matches(r, "backoffice", "be-observer.catalog_product_create"));
    assert_true(registration_matches(r, "backoffice", "be-observer.catalog_product_update"));
    assert_true(registration_matches(
        r, "commerce", "com.adobe.commerce.observer.catalog_product_save_commit_after"));
    assert_false(registration_matches(r, "commerce", "be-observer.catalog_product_create"));
    assert_false(registration_matches(r, "backoffice", "be-observer.catalog_product_delete"));
    assert_true(registration_matches(r, NULL, "be-observer.catalog_product_update"));
    assert_false(registration_matches(def, "backoffice", "be-observer.catalog_product_update"));
    assert_false(registration_matches(r, "backoffice", NULL));
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_registration_validation(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"                                        /* 1 */
                        "  runtimeManifest:\n"                                  /* 2 */
                        "    packages:\n"                                       /* 3 */
                        "      p:\n"                                            /* 4 */
                        "        actions:\n"                                    /* 5 */
                        "          consumer:\n"                                 /* 6 */
                        "            function: actions/a.lua\n"                 /* 7 */
                        "  events:\n"                                           /* 8 */
                        "    registrations:\n"                                  /* 9 */
                        "      r1:\n"                                           /* 10 */
                        "        events_of_interest:\n"                         /* 11 */
                        "          - provider_metadata: erp\n"                  /* 12 */
                        "            event_codes: [x.y]\n"                      /* 13 */
                        "          - provider_metadata: backoffice\n"           /* 14 */
                        "            event_codes:\n"                            /* 15 */
                        "              - be-observer.catalog_product_create\n"  /* 16 */
                        "              - be-observer.no_such_event\n"           /* 17 */
                        "        runtime_action: p/missing\n"                   /* 18 */
                        "        retry:\n"                                      /* 19 */
                        "          schedule: [1m, soon, -5]\n"                  /* 20 */
                        "          max_age: 0\n"                                /* 21 */
                        "          jitter: 101\n"                               /* 22 */
                        "        ordering: {key: 5}\n"                          /* 23 */
                        "      r2:\n"                                           /* 24 */
                        "        events_of_interest: []\n"                      /* 25 */
                        "        runtime_action: consumer\n"                    /* 26 */
                        "      r3:\n"                                           /* 27 */
                        "        description: none\n");                         /* 28 */
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    const char *f = "app.config.yaml";
    ASSERT_DIAG(&d, DIAG_ERROR, "unknown provider 'erp' in registration 'r1' (providers.json has: "
                "commerce, backoffice)", f, 12);
    ASSERT_DIAG(&d, DIAG_ERROR,
                "event code 'be-observer.no_such_event' of provider 'backoffice' is not in "
                "events.json",
                f, 17);
    ASSERT_DIAG(&d, DIAG_ERROR, "runtime_action 'p/missing' of registration 'r1' names no action",
                f, 18);
    ASSERT_DIAG(&d, DIAG_ERROR, "'soon' is not a duration", f, 20);
    ASSERT_DIAG(&d, DIAG_ERROR, "cannot be negative", f, 20);
    ASSERT_DIAG(&d, DIAG_ERROR, "retry.max_age of registration 'r1' must be positive", f, 21);
    ASSERT_DIAG(&d, DIAG_ERROR, "retry.jitter (percent) of registration 'r1' is 101", f, 22);
    ASSERT_DIAG(&d, DIAG_ERROR, "ordering key of registration 'r1'", f, 23);
    ASSERT_DIAG(&d, DIAG_ERROR, "must be a non-empty list, not an empty list", f, 25);
    ASSERT_DIAG(&d, DIAG_ERROR, "must be <package>/<action>", f, 26);
    ASSERT_DIAG(&d, DIAG_ERROR, "registration 'r3' has no events_of_interest", f, 27);
    ASSERT_DIAG(&d, DIAG_ERROR, "registration 'r3' has no runtime_action", f, 27);
    /* No complaint about x.y: its provider is already unknown. */
    assert_null(find_diag(&d, DIAG_ERROR, "'x.y'", NULL, 0));
    assert_int_equal(d.errors, 12);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_duplicates(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"                            /* 1 */
                        "  runtimeManifest:\n"                      /* 2 */
                        "    packages:\n"                           /* 3 */
                        "      p:\n"                                /* 4 */
                        "        actions:\n"                        /* 5 */
                        "          a:\n"                            /* 6 */
                        "            function: actions/a.lua\n"     /* 7 */
                        "          a:\n"                            /* 8 */
                        "            function: actions/a.lua\n"     /* 9 */
                        "  events:\n"                               /* 10 */
                        "    registrations:\n"                      /* 11 */
                        "      r:\n"                                /* 12 */
                        "        events_of_interest:\n"             /* 13 */
                        "          provider_metadata: backoffice\n" /* 14 */
                        "          event_codes: [be-observer.catalog_product_create]\n"
                        "        runtime_action: p/a\n"             /* 16 */
                        "      r:\n"                                /* 17 */
                        "        events_of_interest:\n"             /* 18 */
                        "          provider_metadata: backoffice\n" /* 19 */
                        "          event_codes: [be-observer.catalog_product_create]\n"
                        "        runtime_action: p/a\n");           /* 21 */
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    assert_int_equal(d.errors, 2);
    ASSERT_DIAG(&d, DIAG_ERROR, "duplicate key 'a' (first at line 6)", "app.config.yaml", 8);
    ASSERT_DIAG(&d, DIAG_ERROR, "duplicate key 'r' (first at line 12)", "app.config.yaml", 17);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_onboarding_errors(void **state)
{
    (void)state;
    char *dir = app_new(MINIMAL);
    tu_write(dir, "onboarding/config/providers.json", "[\n  {\"key\": \"commerce\",}\n]\n");
    char path[1024];
    snprintf(path, sizeof path, "%s/onboarding/config/events.json", dir);
    unlink(path);
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR, "JSON:", "onboarding/config/providers.json", 2);
    ASSERT_DIAG(&d, DIAG_ERROR, "missing onboarding file", "onboarding/config/events.json", 0);
    const diag_t *g = find_diag(&d, DIAG_ERROR, "missing onboarding file", NULL, 0);
    assert_non_null(strstr(g->message, "/onboarding/config/events.json"));
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_missing_config_and_folder(void **state)
{
    (void)state;
    char *dir = app_new(NULL);
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR, "missing app.config.yaml", "app.config.yaml", 0);
    diags_free(&d);
    diags_init(&d);
    assert_null(app_load("/nonexistent/evkit/app", &d));
    assert_int_equal(d.errors, 1);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_top_level_runtime_manifest(void **state)
{
    (void)state;
    char *dir = app_new("runtimeManifest:\n"
                        "  packages:\n"
                        "    p:\n"
                        "      actions:\n"
                        "        a:\n"
                        "          function: actions/a.lua\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_non_null(app);
    assert_int_equal(d.warnings, 0);
    assert_non_null(app_action(app, "p/a"));
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_no_actions_warns(void **state)
{
    (void)state;
    char *dir = app_new("# nothing yet\napplication:\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_non_null(app);
    assert_int_equal(app->nactions, 0);
    ASSERT_DIAG(&d, DIAG_WARNING, "'application' is empty", "app.config.yaml", 2);
    app_free(app);
    diags_free(&d);
    tu_write(dir, "app.config.yaml", "application:\n  runtimeManifest:\n    packages: {}\n");
    diags_init(&d);
    app = app_load(dir, &d);
    assert_non_null(app);
    ASSERT_DIAG(&d, DIAG_WARNING, "the app declares no actions", "app.config.yaml", 3);
    done(app, &d, dir);
}

static void test_yaml_merge_key_and_alias(void **state)
{
    (void)state;
    char *dir = app_new("base: &base\n"
                        "  function: actions/a.lua\n"
                        "  web: 'yes'\n"
                        "runtimeManifest:\n"
                        "  packages:\n"
                        "    p:\n"
                        "      actions:\n"
                        "        a:\n"
                        "          <<: *base\n"
                        "          web: 'no'\n"
                        "        b: *base\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    assert_int_equal(d.warnings, 1); /* base at the top level */
    assert_int_equal(app_action(app, "p/a")->web, WEB_NO);
    assert_int_equal(app_action(app, "p/b")->web, WEB_YES);
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_alias_bomb_capped(void **state)
{
    (void)state;
    char *dir = app_new("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n");
    diags_t d;
    diags_init(&d);
    assert_null(app_load(dir, &d));
    ASSERT_DIAG(&d, DIAG_ERROR, "too large", "app.config.yaml", 0);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

static void test_diags_print(void **state)
{
    (void)state;
    diags_t d;
    diags_init(&d);
    diags_add(&d, DIAG_ERROR, "app.config.yaml", 3, 7, "bad %s", "thing");
    diags_add(&d, DIAG_WARNING, ".env", 2, 0, "odd");
    diags_add(&d, DIAG_ERROR, "onboarding/config/events.json", 0, 0, "missing");
    diags_add(&d, DIAG_WARNING, NULL, 0, 0, "general");
    assert_int_equal(d.errors, 2);
    assert_int_equal(d.warnings, 2);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    diags_print(&d, f);
    fclose(f);
    assert_string_equal(out, "app.config.yaml:3:7: error: bad thing\n"
                             ".env:2: warning: odd\n"
                             "onboarding/config/events.json: error: missing\n"
                             "warning: general\n");
    free(out);
    diags_free(&d);
    assert_int_equal(d.n, 0);
}

static void test_default_retry(void **state)
{
    (void)state;
    registration_t r = {0};
    registration_default_retry(&r);
    assert_int_equal(r.nretry, 5);
    int64_t want[] = {60000, 120000, 240000, 480000, 900000};
    for (size_t i = 0; i < 5; i++) assert_int_equal(r.retry_schedule_ms[i], want[i]);
    assert_int_equal(r.retry_max_age_ms, 86400000);
    assert_int_equal(r.retry_jitter_pct, 10);
    registration_default_retry(&r); /* again: replaces, no leak */
    assert_int_equal(r.nretry, 5);
    free(r.retry_schedule_ms);
}

/* The bundled starter-kit onboarding config loads cleanly (run from the repo root). */
static void test_bundled_onboarding_config(void **state)
{
    (void)state;
    if (!path_is_file("app/onboarding/config/events.json")) skip();
    char *dir = app_new(MINIMAL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cp app/onboarding/config/events.json app/onboarding/config/providers.json "
             "'%s/onboarding/config/'",
             dir);
    assert_int_equal(system(cmd), 0);
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    if (!app || d.n) dump(&d);
    assert_non_null(app);
    assert_int_equal(d.n, 0);
    assert_int_equal(app->nproviders, 2);
    assert_true(app->nevents > 20);
    assert_non_null(app_event_code(app, "backoffice", "be-observer.catalog_product_create"));
    assert_non_null(app_event_code(app, "backoffice", "be-observer.catalog_stock_update"));
    app_free(app);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

/* ---- webhook registrations, and registrations as JSON ---- */

static void test_webhook_secret_valid(void **state)
{
    (void)state;
    assert_true(webhook_secret_valid("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_true(webhook_secret_valid("whsec_dGVzdA=="));
    assert_false(webhook_secret_valid("whsec_"));
    assert_false(webhook_secret_valid("whsec_abc"));
    assert_false(webhook_secret_valid("whsec_ab=c"));
    assert_false(webhook_secret_valid("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_false(webhook_secret_valid(NULL));
}

static const char *HOOK_CONFIG =
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
    "        runtime_action: p/a\n";

static char *app_dir(void)
{
    char *dir = tu_tmpdir();
    tu_write(dir, "onboarding/config/providers.json",
             "[{\"key\": \"commerce\", \"label\": \"C\"}, {\"key\": \"backoffice\", \"label\": \"B\"}]\n");
    tu_write(dir, "onboarding/config/events.json",
             "{\"product\": {\"commerce\": {\"com.adobe.commerce.observer.catalog_product_save_commit_after\": {}},"
             " \"backoffice\": {\"be-observer.catalog_product_create\": {}}}}\n");
    tu_write(dir, "actions/a.lua", "function main(p) return p end\n");
    tu_write(dir, "app.config.yaml", HOOK_CONFIG);
    return dir;
}

static char *diag_text(const diags_t *d)
{
    buf_t b;
    buf_init(&b, 0);
    for (size_t i = 0; i < d->n; i++) buf_printf(&b, "%s\n", d->items[i].message);
    return buf_steal(&b);
}

static void test_registration_from_json(void **state)
{
    (void)state;
    char *dir = app_dir();
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_non_null(app);
    diags_free(&d);

    json_t *spec = json_loads(
        "{\"events_of_interest\": [{\"provider_metadata\": \"backoffice\", \"event_codes\": "
        "[\"be-observer.catalog_product_create\"]}], \"webhook_url\": \"http://127.0.0.1:9/h\","
        " \"delivery_type\": \"batch\", \"webhook_secret\": [\"whsec_dGVzdA==\"],"
        " \"retry\": {\"schedule\": [\"50ms\"], \"max_age\": \"1s\"}}", 0, NULL);
    diags_init(&d);
    registration_t *r = registration_from_json(app, "hook", spec, &d);
    assert_non_null(r);
    assert_string_equal(r->webhook_url, "http://127.0.0.1:9/h");
    assert_true(r->batch);
    assert_int_equal(r->nsecrets, 1);
    assert_int_equal(r->retry_schedule_ms[0], 50);
    assert_int_equal(r->retry_max_age_ms, 1000);
    assert_null(r->action);
    assert_true(registration_matches(r, "backoffice", "be-observer.catalog_product_create"));
    registration_free(r);
    diags_free(&d);
    json_decref(spec);

    /* Every problem, with the manifest's words. */
    spec = json_loads("{\"events_of_interest\": [{\"provider_metadata\": \"erp\", \"event_codes\": "
                      "[\"x\"]}], \"webhook_url\": \"ftp://h\", \"runtime_action\": \"p/a\"}",
                      0, NULL);
    diags_init(&d);
    assert_null(registration_from_json(app, "bad", spec, &d));
    char *t = diag_text(&d);
    assert_non_null(strstr(t, "unknown provider 'erp' in registration 'bad'"));
    assert_non_null(strstr(t, "has both runtime_action and webhook_url"));
    diags_free(&d);
    free(t);
    json_decref(spec);

    spec = json_loads("{\"events_of_interest\": [{\"provider_metadata\": \"commerce\", \"event_codes\": "
                      "[\"com.adobe.commerce.observer.catalog_product_save_commit_after\"]}],"
                      " \"webhook_url\": \"ftp://h\", \"webhook_secret\": \"nope\", \"delivery_type\": \"bulk\"}",
                      0, NULL);
    diags_init(&d);
    assert_null(registration_from_json(app, "bad", spec, &d));
    t = diag_text(&d);
    assert_non_null(strstr(t, "must be an http:// or https:// URL"));
    assert_non_null(strstr(t, "must be whsec_ followed by base64"));
    assert_null(strstr(t, "nope")); /* a secret is never echoed */
    assert_non_null(strstr(t, "must be 'list' (one event per request) or 'batch', not 'bulk'"));
    diags_free(&d);
    free(t);
    json_decref(spec);

    /* No $VAR expansion for what the API sends. */
    setenv("EVKIT_TEST_SECRET_VAR", "whsec_dGVzdA==", 1);
    spec = json_loads("{\"events_of_interest\": [{\"provider_metadata\": \"commerce\", \"event_codes\": "
                      "[\"com.adobe.commerce.observer.catalog_product_save_commit_after\"]}],"
                      " \"webhook_url\": \"http://h/$EVKIT_TEST_SECRET_VAR\", \"webhook_secret\": \"whsec_dGVzdA==\"}",
                      0, NULL);
    diags_init(&d);
    r = registration_from_json(app, "lit", spec, &d);
    assert_non_null(r);
    assert_string_equal(r->webhook_url, "http://h/$EVKIT_TEST_SECRET_VAR");
    registration_free(r);
    diags_free(&d);
    json_decref(spec);

    diags_init(&d);
    json_t *empty = json_object();
    assert_null(registration_from_json(app, "bad name", empty, &d));
    json_decref(empty);
    diags_free(&d);
    assert_false(registration_name_valid(""));
    assert_true(registration_name_valid("a.b-c_d@e"));

    app_free(app);
    tu_rmrf(dir);
    free(dir);
}

static void test_manifest_webhook(void **state)
{
    (void)state;
    char *dir = app_dir();
    tu_write(dir, ".env", "HOOK_SECRET=whsec_dGVzdA==\nHOOK_URL=http://127.0.0.1:9/in\n");
    tu_write(dir, "app.config.yaml",
             "application:\n"
             "  runtimeManifest:\n"
             "    packages:\n"
             "      p:\n"
             "        actions:\n"
             "          a:\n"
             "            function: actions/a.lua\n"
             "  events:\n"
             "    registrations:\n"
             "      hook:\n"
             "        events_of_interest:\n"
             "          - provider_metadata: commerce\n"
             "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
             "        webhook_url: $HOOK_URL\n"
             "        delivery_type: batch\n"
             "        webhook_secret: $HOOK_SECRET\n");
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    diags_print(&d, stderr);
    assert_non_null(app);
    const registration_t *r = app_registration(app, "hook");
    assert_string_equal(r->webhook_url, "http://127.0.0.1:9/in");
    assert_true(r->batch);
    assert_int_equal(r->nsecrets, 1);
    assert_string_equal(r->secrets[0], "whsec_dGVzdA==");
    app_free(app);
    diags_free(&d);

    /* Without a secret, or with both targets: errors naming the registration. */
    tu_write(dir, "app.config.yaml",
             "application:\n"
             "  runtimeManifest:\n"
             "    packages:\n"
             "      p:\n"
             "        actions:\n"
             "          a:\n"
             "            function: actions/a.lua\n"
             "  events:\n"
             "    registrations:\n"
             "      nosecret:\n"
             "        events_of_interest:\n"
             "          - provider_metadata: commerce\n"
             "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
             "        webhook_url: http://127.0.0.1:9/in\n"
             "      both:\n"
             "        events_of_interest:\n"
             "          - provider_metadata: commerce\n"
             "            event_codes: [com.adobe.commerce.observer.catalog_product_save_commit_after]\n"
             "        webhook_url: http://127.0.0.1:9/in\n"
             "        runtime_action: p/a\n");
    diags_init(&d);
    assert_null(app_load(dir, &d));
    char *t = diag_text(&d);
    assert_non_null(strstr(t, "webhook registration 'nosecret' needs webhook_secret"));
    assert_non_null(strstr(t, "registration 'both' has both runtime_action and webhook_url"));
    free(t);
    diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

/* Sequences and triggers as parsed: step resolution by every name form,
 * limits from the steps, trigger feeds and their schedule slots. */
static void test_flows(void **state)
{
    (void)state;
    char *dir = app_new("application:\n"
                        "  runtimeManifest:\n"
                        "    packages:\n"
                        "      p:\n"
                        "        actions:\n"
                        "          a: {function: actions/a.lua, limits: {timeout: 1000}}\n"
                        "          b: {function: actions/a.lua, limits: {timeout: 2000}}\n"
                        "        sequences:\n"
                        "          s1: {actions: 'a, p/b, /_/p/a', web: 'yes'}\n"
                        "        triggers:\n"
                        "          cron: {feed: /whisk.system/alarms/alarm, inputs: {cron: '0 * * * *',\n"
                        "                 startDate: '2026-12-06T10:30:00Z', stopDate: '2026-12-06T13:00:00Z',\n"
                        "                 trigger_payload: {x: 1}, y: 2}}\n"
                        "          every: {feed: alarms/interval, inputs: {minutes: 10}}\n"
                        "          from: {feed: interval, inputs: {minutes: 10, startDate: '2026-12-06T10:00:00Z'}}\n"
                        "          one: {feed: once, inputs: {date: '2026-12-06T12:00:00Z'}}\n"
                        "        rules:\n"
                        "          r: {trigger: cron, action: s2}\n"
                        "      q:\n"
                        "        sequences:\n"
                        "          s2: {actions: [p/s1, p/b]}\n"
                        "        rules:\n"
                        "          r2: {trigger: /_/every, action: p/a}\n"
                        "          r3: {trigger: from, action: p/a}\n"
                        "          r4: {trigger: one, action: p/a}\n");
    /* r's action s2 is in package q: as written from p, "s2" does not resolve. */
    diags_t d;
    diags_init(&d);
    app_t *app = app_load(dir, &d);
    assert_null(app);
    assert_non_null(find_diag(&d, DIAG_ERROR, "rule 'r' names action 's2'", NULL, 0));
    diags_free(&d);
    char *cfg = path_join(dir, "app.config.yaml");
    char *text = file_read(cfg, NULL, NULL);
    char *at = strstr(text, "action: s2");
    memmove(at + 13, at + 10, strlen(at + 10) + 1);
    memcpy(at, "action: q/s2", 12);
    tu_write(dir, "app.config.yaml", text);
    diags_init(&d);
    app = app_load(dir, &d);
    if (!app) dump(&d);
    assert_non_null(app);
    const action_t *s1 = app_action(app, "p/s1"), *s2 = app_action(app, "q/s2");
    assert_int_equal(s1->kind, RUNTIME_SEQUENCE);
    assert_int_equal(s1->nsteps, 3);
    assert_ptr_equal(s1->steps[0], app_action(app, "p/a"));
    assert_ptr_equal(s1->steps[1], app_action(app, "p/b"));
    assert_ptr_equal(s1->steps[2], app_action(app, "p/a"));
    assert_int_equal(s1->web, WEB_YES);
    assert_int_equal(s1->timeout_ms, 4000);
    assert_int_equal(s2->timeout_ms, 6000);
    assert_null(s1->function);
    assert_int_equal(app->ntriggers, 4);
    assert_int_equal(app->nrules, 4);
    const trigger_t *t = app_trigger(app, "cron");
    assert_int_equal(t->feed, FEED_ALARM);
    assert_int_equal(json_integer_value(json_object_get(t->params, "x")), 1);
    assert_int_equal(json_integer_value(json_object_get(t->params, "y")), 2);
    assert_null(json_object_get(t->params, "cron"));
    assert_ptr_equal(app->rules[0].action, s2);
    assert_ptr_equal(app->rules[1].trigger, app_trigger(app, "every"));
    int64_t h10 = 1796551200000LL; /* 2026-12-06T10:00:00Z */
    /* startDate 10:30 skips 10:00 ... the 11:00 slot; stopDate ends after 13:00. */
    assert_int_equal(trigger_next_slot(t, 0, h10 - 1), h10 + 3600000);
    assert_int_equal(trigger_next_slot(t, 0, h10 + 3 * 3600000 - 1), h10 + 3 * 3600000);
    assert_int_equal(trigger_next_slot(t, 0, h10 + 3 * 3600000), INT64_MAX);
    /* An interval counts from when the store first saw it, or from startDate (which fires). */
    const trigger_t *every = app_trigger(app, "every"), *from = app_trigger(app, "from");
    assert_int_equal(trigger_next_slot(every, h10, h10), h10 + 600000);
    assert_int_equal(trigger_next_slot(every, h10, h10 + 600000), h10 + 1200000);
    assert_int_equal(trigger_next_slot(every, h10, h10 + 600001), h10 + 1200000);
    assert_int_equal(trigger_next_slot(from, h10 + 5, h10 - 1), h10);
    assert_int_equal(trigger_next_slot(from, h10 + 5, h10), h10 + 600000);
    const trigger_t *one = app_trigger(app, "one");
    assert_int_equal(trigger_next_slot(one, 0, h10), h10 + 7200000);
    assert_int_equal(trigger_next_slot(one, 0, h10 + 7200000), INT64_MAX);
    app_free(app);
    diags_free(&d);
    free(text);
    free(cfg);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_package_json_name),
        cmocka_unit_test(test_include_nested),
        cmocka_unit_test(test_include_cycle),
        cmocka_unit_test(test_include_missing_and_not_mapping),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_dotenv_parse),
        cmocka_unit_test(test_env_precedence_and_missing_var),
        cmocka_unit_test(test_unknown_keys_warn_with_lines),
        cmocka_unit_test(test_unknown_key_in_included_file),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_runtime_and_function),
        cmocka_unit_test(test_nodejs_runtimes),
        cmocka_unit_test(test_events_list_form),
        cmocka_unit_test(test_web_annotations_inputs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_registrations),
        cmocka_unit_test(test_registration_validation),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_onboarding_errors),
        cmocka_unit_test(test_missing_config_and_folder),
        cmocka_unit_test(test_top_level_runtime_manifest),
        cmocka_unit_test(test_no_actions_warns),
        cmocka_unit_test(test_yaml_merge_key_and_alias),
        cmocka_unit_test(test_alias_bomb_capped),
        cmocka_unit_test(test_diags_print),
        cmocka_unit_test(test_default_retry),
        cmocka_unit_test(test_bundled_onboarding_config),
        cmocka_unit_test(test_webhook_secret_valid),
        cmocka_unit_test(test_registration_from_json),
        cmocka_unit_test(test_manifest_webhook),
        cmocka_unit_test(test_flows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
