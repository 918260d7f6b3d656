/* The Lua backend and the evkit host module: params and results, errors,
 * the sandbox and require, time and memory limits, the per-thread pool,
 * crypto vectors, JSON, logs, state, publish, invoke and http.
 *
 * Actions are written into a temporary app folder and run through
 * lua_backend_run (or runtime_invoke) with a hand-built engine. */
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "core/json_io.h"
#include "core/util.h"
#include "engine.h"
#include "manifest/manifest.h"
#include "runtime/runtime.h"
#include "store/store.h"

/* ---- stand-ins for backends this test does not exercise ----
 * Weak: when the library's own definitions are linked in, they win. The
 * store, manifest lookups, runtime_invoke and engine_publish are the real
 * ones from libevkit. */

__attribute__((weak)) void exec_backend_run(activation_t *a)
{
    activation_fail(a, ACT_INTERNAL_ERROR, "exec is not linked in this test");
}

__attribute__((weak)) void actionloop_backend_run(activation_t *a)
{
    activation_fail(a, ACT_INTERNAL_ERROR, "actionloop is not linked in this test");
}

/* ---- fixture ---- */

#define MAX_ACTIONS 100

static char *appdir;
static char *outside;           /* a folder beside the app */
static char *datadir;           /* the store */
static app_t app;
static action_t actions[MAX_ACTIONS];
static provider_t providers[1];
static engine_t engine;
static store_t *store;

/* Writes actions/<pkg>/<rel> with src and registers it as pkg/name. */
static const action_t *def_action(const char *fqn, const char *rel, const char *src)
{
    char path[512];
    snprintf(path, sizeof path, "actions/%s", rel);
    tu_write(appdir, path, src);
    action_t *a = NULL;
    for (size_t i = 0; i < app.nactions; i++)
        if (!strcmp(actions[i].fqn, fqn)) a = &actions[i];
    if (!a) {
        assert_true(app.nactions < MAX_ACTIONS);
        a = &actions[app.nactions++];
        const char *slash = strchr(fqn, '/');
        a->package = strndup(fqn, (size_t)(slash - fqn));
        a->name = strdup(slash + 1);
        a->fqn = strdup(fqn);
        a->function = xasprintf("%s/%s", appdir, path);
        a->dir = path_dirname(a->function);
        a->runtime = strdup("lua");
        a->kind = RUNTIME_LUA;
        a->inputs = json_object();
        a->timeout_ms = 5000;
        a->memory_mb = 32;
        a->concurrency = 1;
    }
    return a;
}

static void run_with(const action_t *act, const char *params, int timeout_ms, int memory_mb,
                     activation_t *a)
{
    memset(a, 0, sizeof *a);
    a->engine = &engine;
    a->action = act;
    a->params = params ? json_load_kept(params, strlen(params), 0, NULL) : json_object();
    assert_non_null(a->params);
    hex_id32(a->id);
    a->start_ms = now_ms();
    a->deadline_ms = a->start_ms + timeout_ms;
    a->memory_limit = (size_t)memory_mb * 1024 * 1024;
    a->status = ACT_SUCCESS;
    ((action_t *)act)->timeout_ms = timeout_ms;
    ((action_t *)act)->memory_mb = memory_mb;
    lua_backend_run(a);
}

static void run(const action_t *act, const char *params, activation_t *a)
{
    run_with(act, params, 5000, 32, a);
}

static void done(activation_t *a)
{
    json_decref(a->params);
    json_decref(a->result);
    json_decref(a->logs);
    memset(a, 0, sizeof *a);
}

static const char *result_str(const activation_t *a, const char *key)
{
    return json_string_value(json_object_get(a->result, key));
}

static json_int_t result_int(const activation_t *a, const char *key)
{
    return json_integer_value(json_object_get(a->result, key));
}

static bool result_true(const activation_t *a, const char *key)
{
    return json_is_true(json_object_get(a->result, key));
}

static bool logs_have(const activation_t *a, const char *needle)
{
    size_t i;
    json_t *l;
    json_array_foreach(a->logs, i, l) if (strstr(json_string_value(l), needle)) return true;
    return false;
}

static void expect_result(const activation_t *a, const char *json)
{
    json_t *want = json_loads(json, 0, NULL);
    assert_non_null(want);
    if (!json_equal(want, a->result)) {
        char *got = json_dumps(a->result, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("result %s, expected %s\n", got ? got : "NULL", json);
        free(got);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

static int setup(void **state)
{
    (void)state;
    appdir = tu_tmpdir();
    outside = tu_tmpdir();
    datadir = tu_tmpdir();
    err_t err;
    if (store_open(datadir, &store, &err) < 0) {
        print_error("store_open: %s\n", err.msg);
        return -1;
    }
    memset(&app, 0, sizeof app);
    app.dir = appdir;
    app.name = "lua-test";
    app.actions = actions;
    providers[0].key = "backoffice";
    providers[0].label = "Back office";
    app.providers = providers;
    app.nproviders = 1;
    engine_init(&engine, &app, store, NULL, "http://127.0.0.1:1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lua_backend_thread_cleanup();
    engine_fini(&engine);
    store_close(store);
    for (size_t i = 0; i < app.nactions; i++) {
        action_t *a = &actions[i];
        free(a->package);
        free(a->name);
        free(a->fqn);
        free(a->function);
        free(a->dir);
        free(a->runtime);
        json_decref(a->inputs);
    }
    tu_rmrf(appdir);
    tu_rmrf(outside);
    tu_rmrf(datadir);
    free(appdir);
    free(outside);
    free(datadir);
    return 0;
}

/* ---- results and params ---- */

static void test_simple_result(void **state)
{
    (void)state;
    const action_t *act = def_action("t/hello", "t/hello.lua",
                                     "function main(params)\n"
                                     "  return { greeting = 'hello ' .. params.name, half = 10 / 4,\n"
                                     "           whole = 10 / 2, n = 7 }\n"
                                     "end\n");
    activation_t a;
    run(act, "{\"name\":\"ada\"}", &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    expect_result(&a, "{\"greeting\":\"hello ada\",\"half\":2.5,\"whole\":5,\"n\":7}");
    assert_true(a.cold);
    assert_true(a.init_ms >= 0);
    done(&a);

    /* nil -> {} */
    act = def_action("t/nothing", "t/nothing.lua", "function main() end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    expect_result(&a, "{}");
    done(&a);
}

static void test_params_conversion(void **state)
{
    (void)state;
    const char *params =
        "{\"a\":null,\"arr\":[],\"obj\":{},\"nested\":{\"x\":[1,2.5,{\"y\":true,\"z\":null}],"
        "\"s\":\"t\\u00e9\"},\"i\":3,\"f\":1.5,\"list\":[null,null,3]}";
    const action_t *act = def_action(
        "t/params", "t/params.lua",
        "function main(params)\n"
        "  return { echo = params,\n"
        "    a_is_null = params.a == evkit.json.null,\n"
        "    arr_len = #params.arr, list_len = #params.list,\n"
        "    arr_marked = evkit.json.is_array(params.arr), obj_marked = evkit.json.is_array(params.obj),\n"
        "    i_type = math.type(params.i), f_type = math.type(params.f),\n"
        "    third = params.nested.x[3].y }\n"
        "end\n");
    activation_t a;
    run(act, params, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    json_t *want = json_loads(params, 0, NULL);
    assert_true(json_equal(want, json_object_get(a.result, "echo")));
    json_decref(want);
    assert_true(result_true(&a, "a_is_null"));
    assert_int_equal(result_int(&a, "arr_len"), 0);
    assert_int_equal(result_int(&a, "list_len"), 3);
    assert_true(result_true(&a, "arr_marked"));
    assert_false(result_true(&a, "obj_marked"));
    assert_string_equal(result_str(&a, "i_type"), "integer");
    assert_string_equal(result_str(&a, "f_type"), "float");
    assert_true(result_true(&a, "third"));
    done(&a);

    /* built in Lua: plain sequences are arrays, json.array marks empty ones */
    act = def_action("t/build", "t/build.lua",
                     "function main()\n"
                     "  return { seq = {1, 'two', {3}}, empty_obj = {}, empty_arr = evkit.json.array{},\n"
                     "           null = evkit.json.null, deep = { a = { b = { c = false } } } }\n"
                     "end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    expect_result(&a, "{\"seq\":[1,\"two\",[3]],\"empty_obj\":{},\"empty_arr\":[],\"null\":null,"
                      "\"deep\":{\"a\":{\"b\":{\"c\":false}}}}");
    done(&a);
}

/* Numbers beyond int64 and double reach Lua as strings of their text; a
 * string equal to one is written as that number again, unless the same
 * text also came as a string. */
static void test_kept_numbers(void **state)
{
    (void)state;
    const char *params = "{\"big\":123456789012345678901234567890,\"inf\":1e400,"
                         "\"s\":\"99999999999999999999\",\"dup\":\"-1e400\",\"neg\":-1e400}";
    const action_t *act = def_action(
        "t/kept", "t/kept.lua",
        "function main(params)\n"
        "  return { echo = params, t = type(params.big), len = #params.big,\n"
        "    made = '1' .. 'e400', text = evkit.json.encode({ params.inf, params.s }),\n"
        "    back = evkit.json.decode('[1e400, 5e999]'),\n"
        "    huge = tonumber(params.inf) == math.huge, near = tonumber(params.big) == 1.2345678901234568e29 }\n"
        "end\n");
    activation_t a;
    run(act, params, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    char *got = json_text(a.result, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, "{\"back\":[1e400,5e999],\"echo\":{\"big\":123456789012345678901234567890,"
                             "\"dup\":\"-1e400\",\"inf\":1e400,\"neg\":\"-1e400\","
                             "\"s\":\"99999999999999999999\"},\"huge\":true,\"len\":30,\"made\":1e400,\"near\":true,"
                             "\"t\":\"string\",\"text\":\"[1e400,\\\"99999999999999999999\\\"]\"}");
    free(got);
    done(&a);
}

static void test_errors(void **state)
{
    (void)state;
    activation_t a;
    const action_t *act = def_action("t/apperr", "t/apperr.lua",
                                     "function main()\n"
                                     "  return { error = { statusCode = 400, body = { error = 'bad' } } }\n"
                                     "end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_APP_ERROR);
    expect_result(&a, "{\"error\":{\"statusCode\":400,\"body\":{\"error\":\"bad\"}}}");
    done(&a);

    act = def_action("t/deverr", "t/deverr.lua",
                     "local function inner() error('boom') end\n"
                     "function main()\n"
                     "  inner()\n"
                     "end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_string_equal(result_str(&a, "error"), "actions/t/deverr.lua:1: boom");
    assert_true(logs_have(&a, "stderr: actions/t/deverr.lua:1: boom"));
    assert_true(logs_have(&a, "stack traceback:"));
    done(&a);
    /* the state survives an uncaught error */
    run(act, NULL, &a);
    assert_false(a.cold);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    done(&a);

    act = def_action("t/errtable", "t/errtable.lua",
                     "function main() error({ code = 7 }) end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_string_equal(result_str(&a, "error"), "{\"code\":7}");
    done(&a);

    act = def_action("t/number", "t/number.lua", "function main() return 42 end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_string_equal(result_str(&a, "error"), "action result must be a table");
    done(&a);

    act = def_action("t/array", "t/array.lua", "function main() return {1, 2} end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(result_str(&a, "error"), "not an array"));
    done(&a);

    act = def_action("t/fnres", "t/fnres.lua",
                     "function main() return { ok = true, cb = { print } } end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_string_equal(result_str(&a, "error"),
                        "cannot encode the action result: cannot encode a value of type function "
                        "at 'cb[1]'");
    done(&a);

    act = def_action("t/syntax", "t/syntax.lua", "function main()\n  return {\nend\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(result_str(&a, "error"), "actions/t/syntax.lua:3:"));
    done(&a);

    act = def_action("t/nomain", "t/nomain.lua", "local x = 1\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(result_str(&a, "error"), "does not define a function main"));
    done(&a);

    act = def_action("t/toperr", "t/toperr.lua", "error('at load')\nfunction main() end\n");
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_string_equal(result_str(&a, "error"), "actions/t/toperr.lua:1: at load");
    done(&a);

    /* a missing file */
    action_t ghost = *def_action("t/ghost", "t/ghost.lua", "");
    ghost.function = "/nonexistent/evkit/ghost.lua";
    run(&ghost, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    done(&a);
}

/* ---- sandbox ---- */

static void test_sandbox(void **state)
{
    (void)state;
    const action_t *act = def_action(
        "t/sandbox", "t/sandbox.lua",
        "function main()\n"
        "  return {\n"
        "    io = io == nil, debug = debug == nil, load = load == nil, loadfile = loadfile == nil,\n"
        "    dofile = dofile == nil, loadstring = loadstring == nil, dump = string.dump == nil,\n"
        "    sdump = ('').dump == nil,\n"
        "    execute = os.execute == nil, exit = os.exit == nil, getenv = os.getenv == nil,\n"
        "    remove = os.remove == nil, rename = os.rename == nil, tmpname = os.tmpname == nil,\n"
        "    loadlib = package.loadlib == nil, searchers = package.searchers == nil,\n"
        "    time = type(os.time()) == 'number', clock = type(os.clock()) == 'number',\n"
        "    date = type(os.date('!%Y')) == 'string',\n"
        "    gc_count = type(collectgarbage('count')) == 'number',\n"
        "    gc_stop = not pcall(collectgarbage, 'stop'),\n"
        "    gc_meta = not pcall(setmetatable, {}, { __gc = function() end }),\n"
        "    setmt = getmetatable(setmetatable({}, { __index = { x = 1 } })) ~= nil,\n"
        "    evkit = require('evkit') == evkit,\n"
        "    libs = type(string) == 'table' and type(table) == 'table' and type(math) == 'table'\n"
        "       and type(utf8) == 'table' and type(coroutine) == 'table',\n"
        "  }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    const char *k;
    json_t *v;
    json_object_foreach(a.result, k, v) {
        if (!json_is_true(v)) print_error("sandbox check %s failed\n", k);
        assert_true(json_is_true(v));
    }
    assert_int_equal(json_object_size(a.result), 25);
    done(&a);
}

static void test_require(void **state)
{
    (void)state;
    tu_write(appdir, "actions/lib/shared.lua",
             "loads = (loads or 0) + 1\nreturn { from = 'lib', name = ..., loads = loads }\n");
    tu_write(appdir, "actions/lib/util.lua", "return { from = 'lib' }\n");
    tu_write(appdir, "actions/lib/deep/mod.lua", "return { from = 'deep' }\n");
    tu_write(appdir, "actions/req/util.lua", "return { from = 'own' }\n");
    tu_write(outside, "evil.lua", "return { from = 'outside' }\n");
    char link[1024], target[1024];
    snprintf(link, sizeof link, "%s/actions/lib/evil.lua", appdir);
    snprintf(target, sizeof target, "%s/evil.lua", outside);
    assert_int_equal(symlink(target, link), 0);
    tu_write(appdir, "actions/lib/bytecode.lua", "\x1bLua\x54\x00 fake bytecode");
    tu_write(appdir, "actions/lib/broken.lua", "return {\n");

    const action_t *act = def_action(
        "req/main", "req/main.lua",
        "local function try(name)\n"
        "  local ok, err = pcall(require, name)\n"
        "  return ok and 'ok' or err\n"
        "end\n"
        "function main()\n"
        "  local s1, s2 = require('shared'), require('shared')\n"
        "  return { util = require('util').from, deep = require('deep.mod').from,\n"
        "    same = s1 == s2, loads = s1.loads, name = s1.name,\n"
        "    up = try('../x'), abs = try('/etc/passwd'), evil = try('evil'),\n"
        "    bytecode = try('bytecode'), missing = try('nope'), broken = try('broken'),\n"
        "    dotdot = try('lib..x') }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_string_equal(result_str(&a, "util"), "own");
    assert_string_equal(result_str(&a, "deep"), "deep");
    assert_true(result_true(&a, "same"));
    assert_int_equal(result_int(&a, "loads"), 1);
    assert_string_equal(result_str(&a, "name"), "shared");
    assert_non_null(strstr(result_str(&a, "up"), "refused"));
    assert_non_null(strstr(result_str(&a, "abs"), "refused"));
    assert_non_null(strstr(result_str(&a, "dotdot"), "refused"));
    assert_non_null(strstr(result_str(&a, "evil"), "outside the app folder"));
    assert_non_null(strstr(result_str(&a, "bytecode"), "binary chunk"));
    assert_non_null(strstr(result_str(&a, "missing"), "not found"));
    assert_non_null(strstr(result_str(&a, "broken"), "actions/lib/broken.lua:2:"));
    done(&a);
}

/* require of a .json file: decoded (null as evkit.json.null, arrays marked),
 * .lua first in a folder, the app folder searched last, bad JSON named. */
static void test_require_json(void **state)
{
    (void)state;
    tu_write(appdir, "actions/jreq/schema.json",
             "{\"type\": \"object\", \"required\": [], \"n\": null, \"list\": [1, 2]}");
    tu_write(appdir, "actions/lib/both.lua", "return { from = 'lua' }\n");
    tu_write(appdir, "actions/lib/both.json", "{\"from\": \"json\"}");
    tu_write(appdir, "config/settings.json", "{\"level\": 3}");
    tu_write(appdir, "actions/lib/badjson.json", "{\"a\": ");
    const action_t *act = def_action(
        "jreq/main", "jreq/main.lua",
        "local function try(name)\n"
        "  local ok, err = pcall(require, name)\n"
        "  return ok and 'ok' or err\n"
        "end\n"
        "function main()\n"
        "  local s = require('schema')\n"
        "  return { type = s.type, null = s.n == evkit.json.null, list = #s.list,\n"
        "    marked = evkit.json.is_array(s.required), same = require('schema') == s,\n"
        "    both = require('both').from, level = require('config.settings').level,\n"
        "    encoded = evkit.json.encode(s.required), bad = try('badjson') }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_string_equal(result_str(&a, "type"), "object");
    assert_true(result_true(&a, "null"));
    assert_int_equal(result_int(&a, "list"), 2);
    assert_true(result_true(&a, "marked"));
    assert_true(result_true(&a, "same"));
    assert_string_equal(result_str(&a, "both"), "lua");
    assert_int_equal(result_int(&a, "level"), 3);
    assert_string_equal(result_str(&a, "encoded"), "[]");
    assert_non_null(strstr(result_str(&a, "bad"), "cannot load module 'badjson': invalid JSON"));
    done(&a);
}

/* evkit.schema.validate_file: a path relative to the action's folder,
 * inside the app folder only. */
static void test_schema_file(void **state)
{
    (void)state;
    tu_write(appdir, "actions/sfile/schema.json",
             "{\"type\": \"object\", \"required\": [\"sku\"]}");
    tu_write(appdir, "schemas/shared.json", "{\"type\": \"string\"}");
    tu_write(appdir, "actions/sfile/bad.json", "{\"type\": \"strin\"}");
    tu_write(outside, "schema.json", "{}");
    char link[1024], target[1024];
    snprintf(link, sizeof link, "%s/actions/sfile/evil.json", appdir);
    snprintf(target, sizeof target, "%s/schema.json", outside);
    assert_int_equal(symlink(target, link), 0);
    const action_t *act = def_action(
        "sfile/main", "sfile/main.lua",
        "local function err(f, ...) local ok, e = pcall(f, ...) return not ok and e or 'no error' end\n"
        "function main()\n"
        "  local ok1, e1 = evkit.schema.validate_file('schema.json', { sku = 'A' })\n"
        "  local ok2, e2 = evkit.schema.validate_file('schema.json', {})\n"
        "  local ok3 = evkit.schema.validate_file('../../schemas/shared.json', 'x')\n"
        "  local ok4 = evkit.schema.validate_file('../../schemas/shared.json', 4)\n"
        "  return { ok1 = ok1, n1 = #e1, ok2 = ok2, path2 = e2[1].path, ok3 = ok3, ok4 = ok4,\n"
        "    missing = err(evkit.schema.validate_file, 'nope.json', 1),\n"
        "    outside = err(evkit.schema.validate_file, 'evil.json', 1),\n"
        "    bad = err(evkit.schema.validate_file, 'bad.json', 1) }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(result_true(&a, "ok1"));
    assert_int_equal(result_int(&a, "n1"), 0);
    assert_false(json_is_true(json_object_get(a.result, "ok2")));
    assert_string_equal(result_str(&a, "path2"), "/sku");
    assert_true(result_true(&a, "ok3"));
    assert_false(json_is_true(json_object_get(a.result, "ok4")));
    assert_non_null(strstr(result_str(&a, "missing"), "validate_file: nope.json not found"));
    assert_non_null(strstr(result_str(&a, "outside"), "outside the app folder"));
    assert_non_null(strstr(result_str(&a, "bad"), "bad.json: invalid schema at #/type"));
    done(&a);
}

/* ---- limits ---- */

static void test_timeout(void **state)
{
    (void)state;
    static const char *const loops[] = {
        "function main() while true do end end\n",
        "function main() while true do pcall(function() while true do end end) end end\n",
        "function main()\n"
        "  for i = 1, math.huge do\n"
        "    local ok = xpcall(function() local x = 0 while true do x = x + 1 end end,\n"
        "                      function(e) return e end)\n"
        "  end\n"
        "end\n",
        "function main() coroutine.wrap(function() while true do end end)() end\n",
        "function main()\n"
        "  local co = coroutine.create(function() while true do end end)\n"
        "  while true do coroutine.resume(co) end\n"
        "end\n",
    };
    for (size_t i = 0; i < sizeof loops / sizeof *loops; i++) {
        char name[32], file[32];
        snprintf(name, sizeof name, "lim/spin%zu", i);
        snprintf(file, sizeof file, "lim/spin%zu.lua", i);
        const action_t *act = def_action(name, file, loops[i]);
        activation_t a;
        int64_t t0 = mono_ms();
        run_with(act, NULL, 200, 32, &a);
        int64_t took = mono_ms() - t0;
        assert_int_equal(a.status, ACT_DEV_ERROR);
        assert_true(a.timed_out);
        assert_string_equal(result_str(&a, "error"),
                            "The action exceeded its time limit of 200 milliseconds.");
        assert_true(took < 5000);
        done(&a);
    }

    /* a loop at the top level of the file is bounded too */
    const action_t *act = def_action("lim/top", "lim/top.lua", "while true do end\n");
    activation_t a;
    run_with(act, NULL, 150, 32, &a);
    assert_true(a.timed_out);
    done(&a);
}

static void test_memory(void **state)
{
    (void)state;
    static const char *const hogs[] = {
        "function main() local t = {} for i = 1, 1e9 do t[i] = i end end\n",
        "function main() local s = string.rep('x', 64 * 1024 * 1024) return { n = #s } end\n",
        /* caught by the action: still a breach */
        "function main()\n"
        "  local ok = pcall(string.rep, 'x', 1e9)\n"
        "  local t = {} for i = 1, 1e5 do t[i] = i end\n"
        "  return { ok = ok }\n"
        "end\n",
        "function main()\n"
        "  local parts = {}\n"
        "  for i = 1, 1e9 do parts[#parts + 1] = ('y'):rep(1000) .. i end\n"
        "end\n",
    };
    for (size_t i = 0; i < sizeof hogs / sizeof *hogs; i++) {
        char name[32], file[32];
        snprintf(name, sizeof name, "lim/hog%zu", i);
        snprintf(file, sizeof file, "lim/hog%zu.lua", i);
        const action_t *act = def_action(name, file, hogs[i]);
        activation_t a;
        run_with(act, NULL, 20000, 8, &a);
        assert_int_equal(a.status, ACT_DEV_ERROR);
        assert_false(a.timed_out);
        assert_string_equal(result_str(&a, "error"), "The action exceeded its memory limit of 8 MB.");
        done(&a);
    }

    /* garbage within the cap is fine: collection keeps up */
    const action_t *act = def_action("lim/churn", "lim/churn.lua",
                                     "function main()\n"
                                     "  local n = 0\n"
                                     "  for i = 1, 2000 do local s = ('z'):rep(10000) .. i n = n + #s end\n"
                                     "  return { n = n }\n"
                                     "end\n");
    activation_t a;
    run_with(act, NULL, 20000, 4, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    done(&a);
}

/* Scripts that try to break out of the limits or crash the host: each must
 * end as a developer error (or cleanly), never hang or crash. */
static void test_hostile(void **state)
{
    (void)state;
    static const char *const scripts[] = {
        /* the message handler would call a looping __tostring */
        "function main() error(setmetatable({}, { __tostring = function() while true do end end })) end\n",
        /* __tostring that raises */
        "function main() error(setmetatable({}, { __tostring = function() error('again') end })) end\n",
        "local function f() return f() + 1 end\nfunction main() f() end\n",
        "function main() local t = setmetatable({}, { __index = function(t, k) return t[k] end }) return { v = t.x } end\n",
        "function main() return { s = string.rep('x', 1 << 62) } end\n",
        "local function nest(n) return coroutine.wrap(function() return n > 0 and nest(n - 1)() or 0 end) end\n"
        "function main() return { v = nest(10000)() } end\n",
        /* a loop in a __close handler while the timeout unwinds */
        "function main()\n"
        "  local x <close> = setmetatable({}, { __close = function() while true do end end })\n"
        "  while true do end\n"
        "end\n",
        "function main() local t = {} for i = 1, 100 do t = { t } end return t end\n",
        "function main() return { v = ('a'):rep(1e7):gsub('a', function(c) return c .. c end) } end\n",
        "function main() return { v = table.concat(setmetatable({}, { __index = function() return 'x' end }), '', 1, 1e8) } end\n",
    };
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        char name[32], file[32];
        snprintf(name, sizeof name, "bad/s%zu", i);
        snprintf(file, sizeof file, "bad/s%zu.lua", i);
        const action_t *act = def_action(name, file, scripts[i]);
        activation_t a;
        int64_t t0 = mono_ms();
        run_with(act, NULL, 300, 16, &a);
        if (getenv("EVKIT_TEST_VERBOSE"))
            print_message("script %zu: %s (%lld ms)\n", i, result_str(&a, "error"),
                          (long long)(mono_ms() - t0));
        if (a.status != ACT_DEV_ERROR) print_error("script %zu: status %d\n", i, (int)a.status);
        assert_int_equal(a.status, ACT_DEV_ERROR);
        assert_non_null(result_str(&a, "error"));
        assert_true(mono_ms() - t0 < 10000);
        done(&a);
    }
}

/* ---- the pool ---- */

static void test_warm_state(void **state)
{
    (void)state;
    const char *src = "function main(params)\n"
                      "  count = (count or 0) + 1\n"
                      "  if params.spin then while true do end end\n"
                      "  if params.hog then local t = {} for i = 1, 1e9 do t[i] = i end end\n"
                      "  return { count = count }\n"
                      "end\n";
    const action_t *act = def_action("pool/counter", "pool/counter.lua", src);
    activation_t a;
    run(act, NULL, &a);
    assert_true(a.cold);
    assert_int_equal(result_int(&a, "count"), 1);
    done(&a);
    run(act, NULL, &a);
    assert_false(a.cold);
    assert_int_equal(result_int(&a, "count"), 2);
    done(&a);

    /* a timeout discards the state */
    run_with(act, "{\"spin\":true}", 150, 32, &a);
    assert_true(a.timed_out);
    done(&a);
    run(act, NULL, &a);
    assert_true(a.cold);
    assert_int_equal(result_int(&a, "count"), 1);
    done(&a);

    /* so does a memory breach */
    run_with(act, "{\"hog\":true}", 20000, 8, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    done(&a);
    run(act, NULL, &a);
    assert_true(a.cold);
    assert_int_equal(result_int(&a, "count"), 1);
    done(&a);

    /* editing the file reloads it */
    def_action("pool/counter", "pool/counter.lua",
               "function main() count = (count or 100) + 1 return { count = count } end\n");
    struct timespec ts[2] = {{.tv_sec = time(NULL) + 5}, {.tv_sec = time(NULL) + 5}};
    assert_int_equal(utimensat(AT_FDCWD, act->function, ts, 0), 0);
    run(act, NULL, &a);
    assert_true(a.cold);
    assert_int_equal(result_int(&a, "count"), 101);
    done(&a);
}

static void *thread_run(void *arg)
{
    const action_t *act = arg;
    activation_t a;
    run(act, NULL, &a);
    bool ok = a.status == ACT_SUCCESS && a.cold && result_int(&a, "count") == 1;
    done(&a);
    /* no lua_backend_thread_cleanup: the key destructor closes the pool */
    return ok ? arg : NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const action_t *act = def_action("pool/threaded", "pool/threaded.lua",
                                     "count = (count or 0) + 1\n"
                                     "function main() return { count = count } end\n");
    pthread_t t[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, thread_run, (void *)act), 0);
    for (int i = 0; i < 3; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_ptr_equal(ret, act);
    }
}

/* ---- evkit module ---- */

static void test_crypto(void **state)
{
    (void)state;
    const action_t *act = def_action(
        "host/crypto", "host/crypto.lua",
        "local c = evkit.crypto\n"
        "function main()\n"
        "  local all = {} for i = 0, 255 do all[#all + 1] = string.char(i) end\n"
        "  all = table.concat(all)\n"
        "  local bad, err = c.base64_decode('!!!')\n"
        "  return {\n"
        "    sha = c.hex(c.sha256('abc')), sha_len = #c.sha256('abc'),\n"
        "    hmac = c.hex(c.hmac_sha256('Jefe', 'what do ya want for nothing?')),\n"
        "    b64 = c.base64_encode('foobar'), b64_2 = c.base64_encode('fo'), b64_1 = c.base64_encode('f'),\n"
        "    dec = c.base64_decode('Zm9vYg=='), dec_nopad = c.base64_decode('Zm9vYg'),\n"
        "    round = c.base64_decode(c.base64_encode(all)) == all,\n"
        "    bad = bad == nil and type(err) == 'string',\n"
        "    eq = c.equals('abc', 'abc'), ne = c.equals('abc', 'abd'), len = c.equals('abc', 'abcd'),\n"
        "    uuid = c.uuid(),\n"
        "  }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_string_equal(result_str(&a, "sha"),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(result_int(&a, "sha_len"), 32);
    /* RFC 4231, test case 2 */
    assert_string_equal(result_str(&a, "hmac"),
                        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_string_equal(result_str(&a, "b64"), "Zm9vYmFy");
    assert_string_equal(result_str(&a, "b64_2"), "Zm8=");
    assert_string_equal(result_str(&a, "b64_1"), "Zg==");
    assert_string_equal(result_str(&a, "dec"), "foob");
    assert_string_equal(result_str(&a, "dec_nopad"), "foob");
    assert_true(result_true(&a, "round"));
    assert_true(result_true(&a, "bad"));
    assert_true(result_true(&a, "eq"));
    assert_false(result_true(&a, "ne"));
    assert_false(result_true(&a, "len"));
    const char *u = result_str(&a, "uuid");
    assert_int_equal(strlen(u), 36);
    assert_int_equal(u[14], '4');
    done(&a);
}

static void test_json(void **state)
{
    (void)state;
    const action_t *act = def_action(
        "host/json", "host/json.lua",
        "local j = evkit.json\n"
        "local function err(f, ...) local ok, e = pcall(f, ...) return not ok and e or 'no error' end\n"
        "function main()\n"
        "  local text = '{\"d\":{},\"c\":[1,2.5,\"x\",null],\"b\":[],\"a\":null,\"e\":\"\\\\u0000z\"}'\n"
        "  local v = j.decode(text)\n"
        "  local cyc = {} cyc.self = cyc\n"
        "  local many, parts = {}, {}\n"
        "  for i = 40, 1, -1 do many[string.format('k%02d', i)] = i end\n"
        "  for i = 1, 40 do parts[i] = string.format('\"k%02d\":%d', i, i) end\n"
        "  return {\n"
        "    round = j.encode(v), null = v.a == j.null, nul = #v.e,\n"
        "    scalar = j.decode('3'), str = j.encode('a\"b'), encnil = j.encode(nil),\n"
        "    pretty = j.encode({ a = 1 }, { pretty = true }),\n"
        "    invalid = err(j.decode, '{\"a\":'),\n"
        "    mixed = err(j.encode, { 1, x = 2 }), sparse = err(j.encode, { [1] = 1, [3] = 3 }),\n"
        "    nan = err(j.encode, { x = 0/0 }), inf = err(j.encode, { x = math.huge }),\n"
        "    fn = err(j.encode, { f = print }), cycle = err(j.encode, cyc),\n"
        "    boolkey = err(j.encode, { [true] = 1 }), utf8 = err(j.encode, '\\xff'),\n"
        "    deep = err(j.decode, string.rep('[', 100) .. string.rep(']', 100)),\n"
        "    numbers = j.encode(j.decode('[99.99,0.1,1e-7,-0.0,5.0,12]')), negzero = j.encode(-0.0),\n"
        "    order = j.encode({ b = 1, aa = 2, a = 3, ab = 4, A = 5, ['a\\1'] = 6, t = '\\t\\1' }),\n"
        "    many = j.encode(many) == '{' .. table.concat(parts, ',') .. '}',\n"
        "    path = err(j.encode, { a = { b = { 1, print } } }),\n"
        "  }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_string_equal(result_str(&a, "round"),
                        "{\"a\":null,\"b\":[],\"c\":[1,2.5,\"x\",null],\"d\":{},\"e\":\"\\u0000z\"}");
    assert_true(result_true(&a, "null"));
    assert_int_equal(result_int(&a, "nul"), 2);
    assert_int_equal(result_int(&a, "scalar"), 3);
    assert_string_equal(result_str(&a, "str"), "\"a\\\"b\"");
    assert_string_equal(result_str(&a, "encnil"), "null");
    assert_string_equal(result_str(&a, "pretty"), "{\n  \"a\": 1\n}");
    assert_non_null(strstr(result_str(&a, "invalid"), "invalid JSON at line 1"));
    assert_non_null(strstr(result_str(&a, "mixed"), "mixed table"));
    assert_non_null(strstr(result_str(&a, "sparse"), "sparse array"));
    assert_non_null(strstr(result_str(&a, "nan"), "NaN or infinity at 'x'"));
    assert_non_null(strstr(result_str(&a, "inf"), "NaN or infinity"));
    assert_non_null(strstr(result_str(&a, "fn"), "type function at 'f'"));
    assert_non_null(strstr(result_str(&a, "cycle"), "nested deeper than 72"));
    assert_non_null(strstr(result_str(&a, "boolkey"), "key of type boolean"));
    assert_non_null(strstr(result_str(&a, "utf8"), "not valid UTF-8"));
    assert_non_null(strstr(result_str(&a, "deep"), "deeper than 72"));
    /* Numbers as published, -0.0 included (5.0 is 5 in Lua's JSON). */
    assert_string_equal(result_str(&a, "numbers"), "[99.99,0.1,1e-7,-0.0,5,12]");
    assert_string_equal(result_str(&a, "negzero"), "-0.0");
    /* Keys sorted by bytes, then length, as json_text sorts them. */
    assert_string_equal(result_str(&a, "order"),
                        "{\"A\":5,\"a\":3,\"a\\u0001\":6,\"aa\":2,\"ab\":4,\"b\":1,"
                        "\"t\":\"\\t\\u0001\"}");
    assert_true(result_true(&a, "many"));
    assert_non_null(strstr(result_str(&a, "path"), "type function at 'a.b[2]'"));
    done(&a);
}

static void test_schema(void **state)
{
    (void)state;
    const action_t *act = def_action(
        "host/schema", "host/schema.lua",
        "local S = { type = 'object', required = evkit.json.array{ 'sku', 'name' },\n"
        "  properties = { sku = { type = 'string', pattern = '^[A-Z]+$' },\n"
        "    items = { type = 'array', items = { type = 'object', required = evkit.json.array{ 'qty' } } } } }\n"
        "local function err(f, ...) local ok, e = pcall(f, ...) return not ok and e or 'no error' end\n"
        "function main()\n"
        "  local ok1, e1 = evkit.schema.validate(S, { sku = 'ABC', name = 'x' })\n"
        "  local ok2, e2 = evkit.schema.validate(S, { sku = 'abc', items = { {}, { qty = 1 } } })\n"
        "  -- object keys come in Lua's table order: sort for a stable comparison\n"
        "  table.sort(e2, function(x, y) return x.path < y.path end)\n"
        "  local ok3, e3 = evkit.schema.validate('{\"type\":\"string\",\"minLength\":2}', 'a')\n"
        "  local ok4 = evkit.schema.validate('{\"type\":\"string\",\"minLength\":2}', 'ab')\n"
        "  local ok5, e5 = evkit.schema.validate({ type = 'null' }, nil)\n"
        "  -- the same schema many times: compiled once per interpreter\n"
        "  local n = 0\n"
        "  for i = 1, 200 do if evkit.schema.validate(S, { sku = 'A', name = i }) then n = n + 1 end end\n"
        "  return { ok1 = ok1, e1 = evkit.json.encode(e1), ok2 = ok2, e2 = e2, ok3 = ok3,\n"
        "    e3 = e3[1].message, ok4 = ok4, ok5 = ok5, n = n,\n"
        "    bad = err(evkit.schema.validate, { type = 'strin' }, 1),\n"
        "    badjson = err(evkit.schema.validate, '{', 1),\n"
        "    badarg = err(evkit.schema.validate, 42, 1),\n"
        "    badvalue = err(evkit.schema.validate, S, { f = print }) }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(result_true(&a, "ok1"));
    assert_string_equal(result_str(&a, "e1"), "[]");
    assert_false(json_is_true(json_object_get(a.result, "ok2")));
    char *e2 = json_dumps(json_object_get(a.result, "e2"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(e2,
                        "[{\"keyword\":\"required\",\"message\":\"is required\",\"path\":\"/items/0/qty\"},"
                        "{\"keyword\":\"required\",\"message\":\"is required\",\"path\":\"/name\"},"
                        "{\"keyword\":\"pattern\",\"message\":\"must match pattern ^[A-Z]+$\","
                        "\"path\":\"/sku\"}]");
    free(e2);
    assert_false(json_is_true(json_object_get(a.result, "ok3")));
    assert_string_equal(result_str(&a, "e3"), "must be at least 2 characters");
    assert_true(result_true(&a, "ok4"));
    assert_true(result_true(&a, "ok5"));
    assert_int_equal(result_int(&a, "n"), 200);
    assert_non_null(strstr(result_str(&a, "bad"), "invalid schema at #/type: type \"strin\""));
    assert_non_null(strstr(result_str(&a, "badjson"), "invalid schema: not JSON"));
    assert_non_null(strstr(result_str(&a, "badarg"), "must be a table or a JSON string"));
    assert_non_null(strstr(result_str(&a, "badvalue"), "cannot be validated"));
    done(&a);
}

static void test_logs(void **state)
{
    (void)state;
    const action_t *act = def_action(
        "host/logs", "host/logs.lua",
        "function main()\n"
        "  print('hello', 1, nil, true, evkit.json.null)\n"
        "  print('two\\nlines')\n"
        "  evkit.log.debug('dbg')\n"
        "  evkit.log.info('info', { a = 1 }, 2)\n"
        "  evkit.log.info('params', { CLIENT_SECRET = 's3cr3t', __ow_headers = { authorization = 'Bearer t0k' } })\n"
        "  evkit.log.warn('careful')\n"
        "  evkit.log.error('bad', evkit.json.array{})\n"
        "  warn('lua ', 'warning')\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(logs_have(&a, "Z stdout: hello\t1\tnil\ttrue\tnull"));
    assert_true(logs_have(&a, "stdout: two"));
    assert_true(logs_have(&a, "stdout: lines"));
    assert_false(logs_have(&a, "dbg"));
    assert_true(logs_have(&a, "stdout: [INFO] info {\"a\":1} 2"));
    assert_true(logs_have(&a, "stdout: [WARN] careful"));
    assert_true(logs_have(&a, "stdout: [ERROR] bad []"));
    assert_true(logs_have(&a, "<hidden>"));
    assert_false(logs_have(&a, "s3cr3t"));
    assert_false(logs_have(&a, "t0k"));
    assert_true(logs_have(&a, "stderr: Lua warning: lua warning"));
    done(&a);

    run(act, "{\"LOG_LEVEL\":\"warn\"}", &a);
    assert_false(logs_have(&a, "[INFO]"));
    assert_true(logs_have(&a, "[WARN] careful"));
    assert_true(logs_have(&a, "[ERROR] bad"));
    assert_true(logs_have(&a, "stdout: hello"));
    done(&a);

    run(act, "{\"LOG_LEVEL\":\"DEBUG\"}", &a);
    assert_true(logs_have(&a, "[DEBUG] dbg"));
    done(&a);
}

static void test_state(void **state)
{
    (void)state;
    const action_t *act = def_action(
        "host/state", "host/state.lua",
        "local s = evkit.state\n"
        "function main()\n"
        "  local before = s.get('fp.sku-1')\n"
        "  local put = s.put('fp.sku-1', { hash = 'abc', list = evkit.json.array{} }, { ttl = 60 })\n"
        "  local got = s.get('fp.sku-1')\n"
        "  s.put('plain', 'text')\n"
        "  local existed, again = s.delete('fp.sku-1'), s.delete('fp.sku-1')\n"
        "  local ok, err = pcall(s.get, 'bad key!')\n"
        "  local ok2, err2 = pcall(s.put, 'k', nil)\n"
        "  local deep = 1 for i = 1, 65 do deep = { deep } end\n"
        "  local ok3, err3 = pcall(s.put, 'deep', deep)\n"
        "  return { before = before == nil, put = put, hash = got.hash,\n"
        "    list = evkit.json.is_array(got.list), plain = s.get('plain'),\n"
        "    existed = existed, again = again, bad = err, nilval = err2, deep = err3, after = s.get('fp.sku-1') == nil }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(result_true(&a, "before"));
    assert_true(result_true(&a, "put"));
    assert_string_equal(result_str(&a, "hash"), "abc");
    assert_true(result_true(&a, "list"));
    assert_string_equal(result_str(&a, "plain"), "text");
    assert_true(result_true(&a, "existed"));
    assert_false(result_true(&a, "again"));
    assert_true(result_true(&a, "after"));
    assert_non_null(strstr(result_str(&a, "bad"),
                           "invalid state key 'bad key!': keys are 1-1024 characters of "
                           "[a-zA-Z0-9-_.]"));
    assert_non_null(strstr(result_str(&a, "nilval"), "must not be nil"));
    assert_non_null(strstr(result_str(&a, "deep"), "the state value nests deeper than 64 levels"));
    done(&a);
}

static void test_publish(void **state)
{
    (void)state;
    const action_t *act = def_action(
        "host/publish", "host/publish.lua",
        "function main(params)\n"
        "  local r1 = evkit.publish('backoffice', 'be-observer.catalog_product_create',\n"
        "                           { sku = params.sku, tags = evkit.json.array{} },\n"
        "                           { idempotency_key = 'k-' .. params.sku })\n"
        "  local r2 = evkit.publish('backoffice', 'be-observer.catalog_product_create',\n"
        "                           { sku = params.sku }, { idempotency_key = 'k-' .. params.sku })\n"
        "  local function err(...) local ok, e = pcall(evkit.publish, ...) return not ok and e or 'no error' end\n"
        "  local deep = 1 for i = 1, 65 do deep = { deep } end\n"
        "  local ok64 = 1 for i = 1, 64 do ok64 = { ok64 } end\n"
        "  local r3 = evkit.publish('backoffice', 'x', ok64)\n"
        "  return { id = r1.id, dup1 = r1.duplicate, dup2 = r2.duplicate, same = r1.id == r2.id,\n"
        "           pos = r1.position, r3 = r3 ~= nil, err = err('nowhere', 'x', {}),\n"
        "           deep = err('backoffice', 'x', deep),\n"
        "           big = err('backoffice', 'x', { s = string.rep('x', 1100000) }),\n"
        "           badtype = err('backoffice', 'a\\nb', {}), bintype = err('backoffice', '\\xff', {}),\n"
        "           key = err('backoffice', 'x', {}, { idempotency_key = {} }) }\n"
        "end\n");
    activation_t a;
    run(act, "{\"sku\":\"p-1\"}", &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_int_equal(strlen(result_str(&a, "id")), 36);
    assert_false(result_true(&a, "dup1"));
    assert_true(result_true(&a, "dup2"));
    assert_true(result_true(&a, "same"));
    assert_true(result_int(&a, "pos") >= 1);
    /* The publishing API's checks, as Lua errors (issue 15, defect 8). */
    assert_true(result_true(&a, "r3"));
    assert_non_null(strstr(result_str(&a, "err"), "evkit.publish: unknown provider 'nowhere'"));
    assert_non_null(strstr(result_str(&a, "deep"),
                           "evkit.publish: the event's data nests deeper than 64 levels"));
    assert_non_null(strstr(result_str(&a, "big"), "the limit is 1048576 bytes"));
    assert_non_null(strstr(result_str(&a, "badtype"), "the event type must be a non-empty string"));
    assert_non_null(strstr(result_str(&a, "bintype"), "the event type must be a non-empty string"));
    assert_non_null(strstr(result_str(&a, "key"), "opts.idempotency_key must be a string"));
    done(&a);
}

static void test_invoke(void **state)
{
    (void)state;
    action_t *dbl = (action_t *)def_action(
        "inv/double", "inv/double.lua",
        "function main(p) return { value = p.x * 2, from = p.greeting } end\n");
    json_decref(dbl->inputs);
    dbl->inputs = json_pack("{s:s}", "greeting", "hi");
    def_action("inv/fail", "inv/fail.lua", "function main() error('nested failure') end\n");
    def_action("inv/rec", "inv/rec.lua",
               "function main(p)\n"
               "  local depth = p.depth or 1\n"
               "  if depth >= (p.stop or 1e9) then return { depth = depth } end\n"
               "  local r, meta = evkit.invoke('inv/rec', { depth = depth + 1, stop = p.stop })\n"
               "  if meta.status ~= 'success' then return { depth = depth, status = meta.status,\n"
               "                                         err = r.error } end\n"
               "  return r\n"
               "end\n");
    const action_t *act = def_action(
        "inv/caller", "inv/caller.lua",
        "function main()\n"
        "  local r, meta = evkit.invoke('inv/double', { x = 21 })\n"
        "  local f, fmeta = evkit.invoke('inv/fail')\n"
        "  local none, err = evkit.invoke('inv/none', {})\n"
        "  local deep = evkit.invoke('inv/rec', { stop = 3 })\n"
        "  local runaway = evkit.invoke('inv/rec', {})\n"
        "  return { value = r.value, from = r.from, status = meta.status, id = meta.activationId,\n"
        "    fstatus = fmeta.status, ferr = f.error, none = none == nil, err = err,\n"
        "    depth = deep.depth, runaway = runaway }\n"
        "end\n");
    activation_t a;
    run(act, NULL, &a);
    if (a.status != ACT_SUCCESS) print_error("%s\n", result_str(&a, "error"));
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_int_equal(result_int(&a, "value"), 42);
    assert_string_equal(result_str(&a, "from"), "hi");
    assert_string_equal(result_str(&a, "status"), "success");
    assert_int_equal(strlen(result_str(&a, "id")), 32);
    assert_string_equal(result_str(&a, "fstatus"), "action developer error");
    assert_string_equal(result_str(&a, "ferr"), "actions/inv/fail.lua:1: nested failure");
    assert_true(result_true(&a, "none"));
    assert_string_equal(result_str(&a, "err"), "action 'inv/none' not found");
    assert_int_equal(result_int(&a, "depth"), 3);
    /* recursion without end stops at the nesting limit, without crashing */
    json_t *runaway = json_object_get(a.result, "runaway");
    assert_string_equal(json_string_value(json_object_get(runaway, "status")),
                        "action developer error");
    assert_non_null(strstr(json_string_value(json_object_get(runaway, "err")), "nested"));
    done(&a);
}

/* A one-shot HTTP server: answers one request, echoing method and body. */
typedef struct mini_http {
    int fd;
    int port;
    char request[4096];
} mini_http;

static void *mini_http_serve(void *arg)
{
    mini_http *m = arg;
    int c = accept(m->fd, NULL, NULL);
    if (c < 0) return NULL;
    size_t n = 0;
    while (n < sizeof m->request - 1) {
        ssize_t r = read(c, m->request + n, sizeof m->request - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        m->request[n] = '\0';
        char *end = strstr(m->request, "\r\n\r\n");
        if (!end) continue;
        char *cl = strcasestr(m->request, "content-length:");
        size_t want = cl ? (size_t)atoi(cl + 15) : 0;
        if (n >= (size_t)(end + 4 - m->request) + want) break;
    }
    char *body = strstr(m->request, "\r\n\r\n");
    body = body ? body + 4 : "";
    char method[16] = "";
    sscanf(m->request, "%15s", method);
    char resp[8192];
    size_t blen = strlen(method) + 1 + strlen(body);
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 201 Created\r\nX-Test: One\r\nX-Test: Two\r\n"
                       "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n"
                       "\r\n%s %s", blen, method, body);
    if (write(c, resp, (size_t)len) < 0) perror("write");
    close(c);
    return NULL;
}

static void test_http(void **state)
{
    (void)state;
    mini_http m;
    memset(&m, 0, sizeof m);
    m.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(m.fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(m.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(m.fd, (struct sockaddr *)&sa, &sl), 0);
    assert_int_equal(listen(m.fd, 4), 0);
    m.port = ntohs(sa.sin_port);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, mini_http_serve, &m), 0);

    const action_t *act = def_action(
        "host/http", "host/http.lua",
        "function main(p)\n"
        "  local r, err = evkit.http.request{ method = 'put', url = p.url,\n"
        "    headers = { ['X-Sig'] = 'abc', ['X-Num'] = 5 }, body = { sku = 'p-1' }, timeout = 3000 }\n"
        "  if not r then return { error = err } end\n"
        "  local none, nerr = evkit.http.request{ url = 'file:///etc/passwd' }\n"
        "  local bad = pcall(evkit.http.request, { url = p.url, headers = { ['X-Bad'] = 'a\\r\\nb' } })\n"
        "  return { status = r.status, body = r.body, x = r.headers['x-test'],\n"
        "    ctype = r.headers['content-type'], file = none == nil and nerr ~= nil, bad = bad }\n"
        "end\n");
    char params[128];
    snprintf(params, sizeof params, "{\"url\":\"http://127.0.0.1:%d/hook\"}", m.port);
    activation_t a;
    run(act, params, &a);
    pthread_join(t, NULL);
    close(m.fd);
    if (a.status != ACT_SUCCESS) print_error("%s\n", json_dumps(a.result, 0));
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_int_equal(result_int(&a, "status"), 201);
    assert_string_equal(result_str(&a, "body"), "PUT {\"sku\":\"p-1\"}");
    assert_string_equal(result_str(&a, "x"), "One, Two");
    assert_string_equal(result_str(&a, "ctype"), "text/plain");
    assert_true(result_true(&a, "file"));
    assert_false(result_true(&a, "bad"));
    assert_non_null(strcasestr(m.request, "x-sig: abc"));
    assert_non_null(strcasestr(m.request, "x-num: 5"));
    assert_non_null(strcasestr(m.request, "content-type: application/json"));
    done(&a);

    /* nothing listens: nil and an error that says so */
    act = def_action("host/http2", "host/http2.lua",
                     "function main(p)\n"
                     "  local r, err = evkit.http.request{ url = p.url, timeout = 2000 }\n"
                     "  return { none = r == nil, kind = err.kind, err = tostring(err) }\n"
                     "end\n");
    run(act, params, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(result_true(&a, "none"));
    assert_string_equal(result_str(&a, "kind"), "connect");
    assert_non_null(strstr(result_str(&a, "err"), "connect: "));
    done(&a);
}

/* ---- outbound HTTP: connection reuse and each error kind, on loopback ---- */

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    assert_int_equal(listen(fd, 8), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A keep-alive server answering every GET with "ok"; counts the TCP
 * connections it accepted. huge: answers a 20 MB Content-Length instead. */
typedef struct ka_server {
    int fd, port;
    int accepts, requests;
    bool huge;
    volatile int stop;
} ka_server;

static void *ka_serve(void *arg)
{
    ka_server *k = arg;
    struct pollfd p[9];
    char bufs[8][2048];
    size_t lens[8] = {0};
    int nconn = 0;
    p[0].fd = k->fd;
    p[0].events = POLLIN;
    while (!k->stop) {
        for (int i = 0; i < nconn; i++) p[i + 1].events = POLLIN;
        if (poll(p, (nfds_t)nconn + 1, 50) <= 0) continue;
        if ((p[0].revents & POLLIN) && nconn < 8) {
            int c = accept(k->fd, NULL, NULL);
            if (c >= 0) {
                __atomic_add_fetch(&k->accepts, 1, __ATOMIC_SEQ_CST);
                p[nconn + 1].fd = c;
                p[nconn + 1].revents = 0; /* polled from the next round */
                lens[nconn++] = 0;
            }
        }
        for (int i = 0; i < nconn; i++) {
            if (!(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = read(p[i + 1].fd, bufs[i] + lens[i], sizeof bufs[i] - 1 - lens[i]);
            if (r <= 0) { /* closed: drop it */
                close(p[i + 1].fd);
                p[i + 1] = p[nconn];
                memcpy(bufs[i], bufs[nconn - 1], lens[nconn - 1]);
                lens[i] = lens[nconn - 1];
                nconn--;
                i--;
                continue;
            }
            lens[i] += (size_t)r;
            bufs[i][lens[i]] = '\0';
            char *end;
            while ((end = strstr(bufs[i], "\r\n\r\n"))) {
                __atomic_add_fetch(&k->requests, 1, __ATOMIC_SEQ_CST);
                const char *resp = k->huge
                    ? "HTTP/1.1 200 OK\r\nContent-Length: 20000000\r\n\r\nxx"
                    : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if (write(p[i + 1].fd, resp, strlen(resp)) < 0) perror("write");
                size_t used = (size_t)(end + 4 - bufs[i]);
                memmove(bufs[i], end + 4, lens[i] - used + 1);
                lens[i] -= used;
            }
        }
    }
    for (int i = 0; i < nconn; i++) close(p[i + 1].fd);
    return NULL;
}

static void test_http_reuse(void **state)
{
    (void)state;
    ka_server k = {0};
    k.fd = listen_loopback(&k.port);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ka_serve, &k), 0);
    const action_t *act = def_action(
        "host/reuse", "host/reuse.lua",
        "function main(p)\n"
        "  local oks = 0\n"
        "  for i = 1, 5 do\n"
        "    local r, err = evkit.http.request{ url = p.url .. '/n' .. i, timeout = 3000 }\n"
        "    if r and r.body == 'ok' then oks = oks + 1 end\n"
        "  end\n"
        "  return { oks = oks }\n"
        "end\n");
    char params[128];
    snprintf(params, sizeof params, "{\"url\":\"http://127.0.0.1:%d\"}", k.port);
    activation_t a;
    /* Two activations on this thread, five requests each: one connection. */
    for (int i = 0; i < 2; i++) {
        run(act, params, &a);
        assert_int_equal(a.status, ACT_SUCCESS);
        assert_int_equal(result_int(&a, "oks"), 5);
        done(&a);
    }
    k.stop = 1;
    pthread_join(t, NULL);
    close(k.fd);
    assert_int_equal(k.requests, 10);
    assert_int_equal(k.accepts, 1);
}

/* A TLS server with a fresh self-signed certificate (openssl s_server). */
static pid_t start_tls_server(const char *dir, int *port)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout '%s/key.pem' -out '%s/cert.pem' -days 1 -subj /CN=127.0.0.1 "
             ">/dev/null 2>&1", dir, dir);
    assert_int_equal(system(cmd), 0);
    int fd = listen_loopback(port);
    close(fd); /* s_server takes the port */
    char accept_arg[64], cert[512], key[512];
    snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", *port);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execlp("openssl", "openssl", "s_server", "-accept", accept_arg, "-cert", cert, "-key",
               key, "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    /* Ready when it accepts connections. */
    for (int i = 0; i < 100; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(c, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(c);
        if (ok) return pid;
        usleep(50000);
    }
    fail_msg("openssl s_server did not start");
    return pid;
}

static void test_http_errors(void **state)
{
    (void)state;
    /* connect: a port nobody listens on */
    int closed_port;
    close(listen_loopback(&closed_port));
    /* timeout: a socket that listens but never accepts or answers */
    int silent_port;
    int silent = listen_loopback(&silent_port);
    /* too large: a server announcing 20 MB */
    ka_server k = {.huge = true};
    k.fd = listen_loopback(&k.port);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ka_serve, &k), 0);
    /* tls: a self-signed certificate */
    char *dir = tu_tmpdir();
    int tls_port;
    pid_t tls = start_tls_server(dir, &tls_port);

    const action_t *act = def_action(
        "host/httperr", "host/httperr.lua",
        "local function try(req)\n"
        "  local r, err = evkit.http.request(req)\n"
        "  if r then return { kind = 'none', message = 'status ' .. r.status } end\n"
        "  return { kind = err.kind, message = err.message, str = tostring(err),\n"
        "           cat = 'failed: ' .. err, cat2 = err .. '!' }\n"
        "end\n"
        "function main(p)\n"
        "  local long = string.rep('a', 70) .. '.example'\n"
        "  return {\n"
        "    connect = try{ url = 'http://127.0.0.1:' .. p.closed .. '/', timeout = 2000 },\n"
        "    timeout = try{ url = 'http://127.0.0.1:' .. p.silent .. '/', timeout = 300 },\n"
        "    large = try{ url = 'http://127.0.0.1:' .. p.huge .. '/', timeout = 3000 },\n"
        "    tls = try{ url = 'https://127.0.0.1:' .. p.tls .. '/', timeout = 3000 },\n"
        "    invalid = try{ url = 'http://nonexistent.invalid/x', timeout = 2000 },\n"
        "    resolve = try{ url = 'http://' .. long .. '/', timeout = 2000 },\n"
        "    url = try{ url = 'file:///etc/passwd' },\n"
        "  }\n"
        "end\n");
    char params[256];
    snprintf(params, sizeof params,
             "{\"closed\":%d,\"silent\":%d,\"huge\":%d,\"tls\":%d}", closed_port,
             silent_port, k.port, tls_port);
    activation_t a;
    /* Each request has its own short limit; the activation's is only a
     * guard, generous because a 10 MB read and a TLS handshake are slow
     * under valgrind on a loaded machine. */
    run_with(act, params, 30000, 32, &a);
    kill(tls, SIGTERM);
    waitpid(tls, NULL, 0);
    tu_rmrf(dir);
    free(dir);
    k.stop = 1;
    pthread_join(t, NULL);
    close(k.fd);
    close(silent);
    if (a.status != ACT_SUCCESS) print_error("%s\n", json_dumps(a.result, 0));
    assert_int_equal(a.status, ACT_SUCCESS);
    static const struct { const char *field, *kind, *fragment; } want[] = {
        {"connect", "connect", "connect: "},
        {"timeout", "timeout", "timeout: no complete answer within 300 ms"},
        {"large", "too_large", "too_large: the response exceeds 10 MB"},
        {"tls", "tls", "tls: "},
        {"invalid", "resolve", "resolve: cannot resolve host nonexistent.invalid"},
        {"resolve", "resolve", "resolve: "},
        {"url", "url", "url: "},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *o = json_object_get(a.result, want[i].field);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *msg = json_string_value(json_object_get(o, "message"));
        if (!kind || strcmp(kind, want[i].kind) || !msg || !strstr(msg, want[i].fragment))
            fail_msg("%s: got kind %s, message %s", want[i].field, kind ? kind : "(none)",
                     msg ? msg : "(none)");
        assert_string_equal(json_string_value(json_object_get(o, "str")), msg);
        char cat[600];
        snprintf(cat, sizeof cat, "failed: %s", msg);
        assert_string_equal(json_string_value(json_object_get(o, "cat")), cat);
        snprintf(cat, sizeof cat, "%s!", msg);
        assert_string_equal(json_string_value(json_object_get(o, "cat2")), cat);
    }
    /* The certificate problem is named. */
    assert_non_null(strcasestr(
        json_string_value(json_object_get(json_object_get(a.result, "tls"), "message")),
        "certificate"));
    done(&a);
}

/* Through runtime_invoke: secret inputs masked in result and logs (issue
 * 15, defect 12), and params too deep for Lua marked bad_input (defect 2). */
static void test_runtime_masks_and_bad_input(void **state)
{
    (void)state;
    action_t *act = (action_t *)def_action(
        "sec/fail", "sec/fail.lua",
        "function main(p)\n"
        "  print('using ' .. p.API_SECRET)\n"
        "  if p.ok then return { statusCode = 401, body = { error = 'bad ' .. p.API_SECRET } } end\n"
        "  error('cannot log in with ' .. p.API_SECRET .. ' or ' .. p.SHORT_TOKEN)\n"
        "end\n");
    json_object_set_new(act->inputs, "API_SECRET", json_string("s3cr3t-4711"));
    json_object_set_new(act->inputs, "SHORT_TOKEN", json_string("abc"));
    json_t *params = json_deep_copy(act->inputs);
    invoke_result res;
    json_t *logs = NULL;
    runtime_invoke_logged(&engine, act, params, NULL, &res, &logs);
    assert_int_equal(res.status, ACT_DEV_ERROR);
    char *text = json_text(res.result, JSON_COMPACT);
    assert_null(strstr(text, "s3cr3t-4711"));
    assert_non_null(strstr(text, "cannot log in with <hidden> or abc"));
    free(text);
    text = json_text(logs, JSON_COMPACT);
    assert_null(strstr(text, "s3cr3t-4711"));
    assert_non_null(strstr(text, "using <hidden>"));
    free(text);
    assert_false(res.bad_input);
    json_decref(res.result);
    json_decref(logs);
    json_object_set_new(params, "ok", json_true());
    runtime_invoke(&engine, act, params, NULL, &res);
    assert_int_equal(res.status, ACT_SUCCESS);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res.result, "body"),
                                                          "error")), "bad <hidden>");
    json_decref(res.result);
    /* 100 levels: more than the runtime takes, whatever the action. */
    json_t *deep = json_integer(1);
    for (int i = 0; i < 100; i++) deep = json_pack("[o]", deep);
    json_object_set_new(params, "data", deep);
    runtime_invoke(&engine, act, params, NULL, &res);
    assert_int_equal(res.status, ACT_DEV_ERROR);
    assert_true(res.bad_input);
    assert_non_null(strstr(json_string_value(json_object_get(res.result, "error")),
                           "the params nest deeper than 72 levels"));
    json_decref(res.result);
    json_object_set_new(params, "data", json_pack("[[i]]", 1));
    runtime_invoke(&engine, act, params, NULL, &res);
    if (res.bad_input) print_error("%s\n", json_string_value(json_object_get(res.result, "error")));
    assert_false(res.bad_input);
    json_decref(res.result);
    json_decref(params);
}

/* The activation record as the store keeps it: written as text by the
 * runtime, it reads back with every field of the OpenWhisk record in the
 * order it always had (activationId first, which the store relies on),
 * annotations included, for a cold parent and the handler it invokes. */
static void test_activation_record(void **state)
{
    (void)state;
    const action_t *leaf = def_action("rec/leaf", "rec/leaf.lua",
                                      "function main(p)\n"
                                      "  return { n = 1.5, s = 'caf\\u{e9} \"q\"', list = { 1, 2 } }\n"
                                      "end\n");
    const action_t *root = def_action("rec/root", "rec/root.lua",
                                      "function main(p)\n"
                                      "  print('root says ' .. tostring(p.x))\n"
                                      "  local r, info = evkit.invoke('rec/leaf', { y = 2 })\n"
                                      "  return { statusCode = 200, leaf = info.activationId }\n"
                                      "end\n");
    (void)leaf;
    json_t *params = json_pack("{s:i}", "x", 7);
    invoke_result res;
    runtime_invoke_traced(&engine, root, params, NULL,
                          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &res);
    json_decref(params);
    assert_int_equal(res.status, ACT_SUCCESS);
    const char *leaf_id = json_string_value(json_object_get(res.result, "leaf"));
    assert_non_null(leaf_id);
    store_flush(store);
    err_t err;
    json_t *rec = NULL, *lrec = NULL;
    assert_int_equal(store_activation_get(store, res.activation_id, &rec, &err), 0);
    assert_int_equal(store_activation_get(store, leaf_id, &lrec, &err), 0);
    assert_non_null(rec);
    assert_non_null(lrec);

    const char *keys[] = {"activationId", "namespace", "name", "package", "path", "start",
                          "end", "duration", "logs", "annotations", "response", "cause"};
    size_t k = 0;
    for (void *it = json_object_iter(lrec); it; it = json_object_iter_next(lrec, it), k++) {
        assert_true(k < 12);
        assert_string_equal(json_object_iter_key(it), keys[k]);
    }
    assert_int_equal(k, 12); /* the leaf has a cause */
    assert_null(json_object_get(rec, "cause"));
    assert_string_equal(json_string_value(json_object_get(rec, "activationId")), res.activation_id);
    assert_string_equal(json_string_value(json_object_get(rec, "name")), "root");
    assert_string_equal(json_string_value(json_object_get(rec, "package")), "rec");
    assert_string_equal(json_string_value(json_object_get(rec, "path")), "rec/root");
    assert_int_equal(json_integer_value(json_object_get(rec, "end")) -
                         json_integer_value(json_object_get(rec, "start")),
                     json_integer_value(json_object_get(rec, "duration")));
    const char *line = json_string_value(json_array_get(json_object_get(rec, "logs"), 0));
    assert_non_null(strstr(line, "stdout: root says 7"));
    assert_string_equal(json_string_value(json_object_get(lrec, "cause")), res.activation_id);

    /* Annotations, in order: the root started the span of a given trace. */
    const char *ann[] = {"path", "kind", "waitTime", "initTime", "limits", "traceparent",
                         "parentSpanId"};
    json_t *a = json_object_get(rec, "annotations");
    assert_int_equal(json_array_size(a), 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(a, i), "key")), ann[i]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "value")), "lua:5.4");
    json_t *lim = json_object_get(json_array_get(a, 4), "value");
    assert_int_equal(json_integer_value(json_object_get(lim, "timeout")), 5000);
    assert_int_equal(json_integer_value(json_object_get(lim, "memory")), 32);
    assert_int_equal(json_integer_value(json_object_get(lim, "logs")), 10);
    assert_int_equal(json_integer_value(json_object_get(lim, "concurrency")), 1);
    const char *tp = json_string_value(json_object_get(json_array_get(a, 5), "value"));
    assert_true(!strncmp(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36));
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 6), "value")),
                        "b7ad6b7169203331");
    /* The leaf: caused by the root, a child span of the root's. */
    json_t *la = json_object_get(lrec, "annotations");
    bool caused = false;
    for (size_t i = 0; i < json_array_size(la); i++) {
        json_t *e = json_array_get(la, i);
        if (!strcmp(json_string_value(json_object_get(e, "key")), "causedBy"))
            caused = !strcmp(json_string_value(json_object_get(e, "value")), res.activation_id);
        if (!strcmp(json_string_value(json_object_get(e, "key")), "parentSpanId"))
            assert_true(!strncmp(json_string_value(json_object_get(e, "value")), tp + 36, 16));
    }
    assert_true(caused);

    json_t *resp = json_object_get(lrec, "response");
    assert_string_equal(json_string_value(json_object_get(resp, "status")), "success");
    assert_int_equal(json_integer_value(json_object_get(resp, "statusCode")), 0);
    assert_true(json_is_true(json_object_get(resp, "success")));
    char *text = json_text(json_object_get(resp, "result"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"list\":[1,2],\"n\":1.5,\"s\":\"caf\xc3\xa9 \\\"q\\\"\"}");
    free(text);
    json_decref(rec);
    json_decref(lrec);
    json_decref(res.result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_result), cmocka_unit_test(test_params_conversion),
        cmocka_unit_test(test_kept_numbers),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_require),       cmocka_unit_test(test_require_json),
        cmocka_unit_test(test_schema_file),   cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_memory),        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_warm_state),
        cmocka_unit_test(test_threads),       cmocka_unit_test(test_crypto),
        cmocka_unit_test(test_json),          cmocka_unit_test(test_schema),
                 cmocka_unit_test(test_logs),
        cmocka_unit_test(test_state),         cmocka_unit_test(test_publish),
        cmocka_unit_test(test_runtime_masks_and_bad_input),
        cmocka_unit_test(test_invoke),        cmocka_unit_test(test_http),          cmocka_unit_test(test_http_reuse),
        cmocka_unit_test(test_http_errors), cmocka_unit_test(test_activation_record),
    };
    return cmocka_run_group_tests_name("lua", tests, setup, teardown);
}
