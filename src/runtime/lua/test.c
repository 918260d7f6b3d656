/* test: `evkit test`. A test file is a Lua file run by the real Lua backend
 * (same sandbox, same `evkit` module) as an activation of its own. It gets
 * `require("evkit.test")`: test(name, fn) to declare tests, world(env) for
 * a fake outside world, eq/ok to check. While a test drives a world (its
 * invoke, web_post or deliver), the actions it runs are real activations of
 * the app's actions, but their outbound HTTP, state, publish and nested
 * invokes go to that world, in the test file's interpreter (lua_test_call):
 * the world records them and answers from the test's responders. Each
 * world loads the app with exactly its env as the $VARs, and starts with
 * fresh interpreters. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "runtime/lua/lua_int.h"
#include "runtime/testing.h"

#define TEST_FILE_MEMORY_MB 1024 /* the test file's interpreter holds its worlds */
#define TEST_ERROR_MAX 2048      /* bytes of an error carried between interpreters */

typedef struct test_ctx {
    engine_t engine;
    app_t *base;           /* the app with an empty env: engine.app between runs */
    action_t file;         /* the test file as an action */
    lua_State *T;          /* the test file's interpreter, once it required evkit.test */
    int world_ref;         /* the world in T's registry, LUA_NOREF when none */
} test_ctx;

static _Thread_local test_ctx *tls_ctx;
static char module_key;
static char app_mt_key;

/* The world's side, in Lua: test(), world(), the World methods that stand in
 * for the outside (the `_` ones, called through lua_test_call) and main,
 * which runs the declared tests. */
static const char prelude[] =
    "local c = ...\n"
    "local t, tests, World = {}, {}, {}\n"
    "World.__index = World\n"
    "local null = evkit.json.null\n"
    "function t.test(name, fn)\n"
    "  if type(name) ~= 'string' or type(fn) ~= 'function' then\n"
    "    error('evkit.test.test(name, fn): a name and a function', 2)\n"
    "  end\n"
    "  tests[#tests + 1] = { name = name, fn = fn }\n"
    "end\n"
    "local function equal(a, b)\n"
    "  if a == b then return true end\n"
    "  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
    "  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "function t.show(v)\n"
    "  local ok, text = pcall(evkit.json.encode, v)\n"
    "  return ok and text or tostring(v)\n"
    "end\n"
    "function t.eq(actual, expected, what)\n"
    "  if not equal(actual, expected) then\n"
    "    error((what and (what .. ': ') or '') .. 'expected ' .. t.show(expected) ..\n"
    "          ', got ' .. t.show(actual), 2)\n"
    "  end\n"
    "end\n"
    "function t.ok(cond, what) if not cond then error(what or 'assertion failed', 2) end end\n"
    "t.read = c.read\n"
    "function t.world(env)\n"
    "  local w = setmetatable({ env = env or {}, clock = os.time(), state = {}, published = {},\n"
    "    http_calls = {}, invocations = {}, logs = {}, keys = {} }, World)\n"
    "  w:reload()\n"
    "  c.fresh()\n"
    "  c.use(w)\n"
    "  return w\n"
    "end\n"
    "function World:reload()\n"
    "  local text = evkit.json.encode(self.env)\n"
    "  if text == self.loaded_env then return end\n"
    "  self.app_ud, self.app = c.load(self.env)\n"
    "  self.actions, self.loaded_env = self.app.actions, text\n"
    "end\n"
    "function World:invoke(fqn, request, extra)\n"
    "  self:reload()\n"
    "  c.use(self)\n"
    "  local params, err = c.params(self.app_ud, fqn, request, extra)\n"
    "  if not params then return nil, err end\n"
    "  self.invocations[#self.invocations + 1] = { fqn = fqn, params = params }\n"
    "  local result, info, logs = c.run(self.app_ud, fqn, params)\n"
    "  for _, line in ipairs(logs) do self.logs[#self.logs + 1] = line end\n"
    "  return result, info\n"
    "end\n"
    "function World:web_post(fqn, body, headers)\n"
    "  local action = assert(self.actions[fqn], fqn)\n"
    "  assert(action.web ~= 'no', fqn .. ' is not a web action')\n"
    "  local raw = type(body) == 'string' and body or evkit.json.encode(body)\n"
    "  local lower = {}\n"
    "  for k, v in pairs(headers or {}) do lower[string.lower(k)] = v end\n"
    "  lower['content-type'] = lower['content-type'] or 'application/json'\n"
    "  local extra = { __ow_method = 'post', __ow_headers = lower, __ow_path = '' }\n"
    "  if action.annotations['signed-body'] == true then extra.__ow_raw_body = raw end\n"
    "  return self:invoke(fqn, evkit.json.decode(raw), extra)\n"
    "end\n"
    "function World:deliver(name, event)\n"
    "  local reg = assert(self.app.registrations[name], 'no registration ' .. tostring(name))\n"
    "  return self:invoke(reg.runtime_action, event)\n"
    "end\n"
    "function World:invoked(fqn)\n"
    "  local n = 0\n"
    "  for _, call in ipairs(self.invocations) do if call.fqn == fqn then n = n + 1 end end\n"
    "  return n\n"
    "end\n"
    "function World:_invoke(fqn, params)\n"
    "  if self.on_invoke then return self.on_invoke(fqn, params) end\n"
    "  return self:invoke(fqn, params)\n"
    "end\n"
    "function World:_http(req)\n"
    "  self.http_calls[#self.http_calls + 1] = req\n"
    "  if not self.http then\n"
    "    error('evkit.test: no HTTP answer for ' .. tostring(req.method or 'GET') .. ' ' ..\n"
    "          tostring(req.url) .. ' (set world.http to a responder)', 0)\n"
    "  end\n"
    "  local res, a, b = self.http(req)\n"
    "  if res == nil then\n"
    "    if b == nil then return nil, 'connect', a end\n"
    "    return nil, a, b\n"
    "  end\n"
    "  if type(res) ~= 'table' or math.type(res.status) ~= 'integer' then\n"
    "    error('evkit.test: a responder answers {status = <integer>, headers, body}', 0)\n"
    "  end\n"
    "  return { status = res.status, headers = res.headers or {}, body = res.body or '' }\n"
    "end\n"
    "function World:_state(op, key, value, ttl)\n"
    "  local e = self.state[key]\n"
    "  local live = e and (not e.expires or e.expires > self.clock)\n"
    "  if op == 'get' then return live and e.value or nil end\n"
    "  if op == 'put' then\n"
    "    self.state[key] = { value = value, expires = ttl > 0 and self.clock + ttl or nil }\n"
    "    return true\n"
    "  end\n"
    "  self.state[key] = nil\n"
    "  return live and true or false\n"
    "end\n"
    "function World:_publish(provider, type_, data, key)\n"
    "  if self.publish_error then return nil, self.publish_error end\n"
    "  local seen = key and self.keys[provider .. '\\0' .. key]\n"
    "  if seen then return { id = seen.id, duplicate = true, position = seen.position } end\n"
    "  local event = { provider = provider, type = type_, data = data, idempotency_key = key,\n"
    "                  id = evkit.crypto.uuid(), position = #self.published + 1 }\n"
    "  self.published[#self.published + 1] = event\n"
    "  if key then self.keys[provider .. '\\0' .. key] = event end\n"
    "  return { id = event.id, duplicate = false, position = event.position }\n"
    "end\n"
    "function main()\n"
    "  local results, passed, failed = {}, 0, 0\n"
    "  for _, case in ipairs(tests) do\n"
    "    local good, why = pcall(case.fn)\n"
    "    c.use(nil)\n"
    "    if good then passed = passed + 1 else failed = failed + 1 end\n"
    "    results[#results + 1] = { name = case.name, ok = good, error = not good and tostring(why) or nil }\n"
    "  end\n"
    "  return { results = evkit.json.array(results), passed = passed, failed = failed }\n"
    "end\n"
    "return t\n";

/* ---- calls from an action into the world ---- */

bool lua_test_active(void)
{
    return tls_ctx && tls_ctx->T && tls_ctx->world_ref != LUA_NOREF;
}

typedef struct test_call {
    const char *name;
    json_t *args;       /* array; null stands for nil */
    int nres;
    json_t *results;    /* array, filled in the test interpreter */
} test_call;

/* In the test interpreter: world[name](world, args...) -> nres results. */
static int test_dispatch(lua_State *T)
{
    test_call *c = lua_touserdata(T, 1);
    lua_rawgeti(T, LUA_REGISTRYINDEX, tls_ctx->world_ref);
    lua_getfield(T, -1, c->name);
    lua_pushvalue(T, -2);
    size_t n = json_array_size(c->args);
    luaL_checkstack(T, (int)n + 2, "too many arguments");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(c->args, i);
        if (json_is_null(v)) lua_pushnil(T);
        else lua_host_push_json(T, v);
    }
    lua_call(T, (int)n + 1, c->nres);
    c->results = json_array();
    int top = lua_gettop(T);
    for (int i = top - c->nres + 1; i <= top; i++) {
        json_t *r = NULL;
        if (lua_isnil(T, i)) r = json_null();
        else r = lua_host_check_json(T, i, "evkit.test: an answer of the world");
        json_array_append_new(c->results, r);
    }
    return 0;
}

int lua_test_call(lua_State *L, const char *name, int nargs, int nres)
{
    if (!lua_test_active()) return -1;
    test_call c = {.name = name, .args = json_array(), .nres = nres};
    int first = lua_gettop(L) - nargs + 1;
    for (int i = first; i < first + nargs; i++) {
        json_t *v = NULL;
        err_t err;
        if (lua_isnil(L, i)) v = json_null();
        else if (lua_host_to_json(L, i, &v, &err) < 0) {
            json_decref(c.args);
            return luaL_error(L, "evkit test: cannot hand over to the world: %s", err.msg);
        }
        json_array_append_new(c.args, v);
    }
    lua_pop(L, nargs);
    lua_State *T = tls_ctx->T;
    char msg[TEST_ERROR_MAX] = "";
    if (!lua_checkstack(T, 3)) {
        snprintf(msg, sizeof msg, "evkit test: the test interpreter's stack is exhausted");
    } else {
        lua_pushcfunction(T, test_dispatch);
        lua_pushlightuserdata(T, &c);
        if (lua_pcall(T, 1, 0, 0) != LUA_OK) {
            const char *m = lua_tostring(T, -1);
            snprintf(msg, sizeof msg, "%s", m ? m : "the world failed");
            lua_pop(T, 1);
        }
    }
    json_decref(c.args);
    if (msg[0]) {
        json_decref(c.results);
        return luaL_error(L, "%s", msg);
    }
    void **g = lua_host_guard(L, lua_host_json_free);
    *g = c.results;
    luaL_checkstack(L, nres + 1, "too many results");
    for (int i = 0; i < nres; i++) {
        json_t *v = json_array_get(c.results, (size_t)i);
        if (!v || json_is_null(v)) lua_pushnil(L);
        else lua_host_push_json(L, v);
    }
    lua_host_guard_release(L, -nres - 1);
    lua_remove(L, -nres - 1);
    return nres;
}

/* ---- the primitives of the world (in the test interpreter) ---- */

static int app_gc(lua_State *L)
{
    app_t **ud = lua_touserdata(L, 1);
    if (ud && *ud) {
        app_free(*ud);
        *ud = NULL;
    }
    return 0;
}

static app_t *check_app(lua_State *L, int idx)
{
    app_t **ud = lua_touserdata(L, idx);
    if (!ud || !*ud || !lua_getmetatable(L, idx)) luaL_error(L, "evkit.test: not a loaded app");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &app_mt_key);
    if (!lua_rawequal(L, -1, -2)) luaL_error(L, "evkit.test: not a loaded app");
    lua_pop(L, 2);
    return *ud;
}

/* The app as the tests see it: actions, registrations, events, warnings. */
static json_t *app_snapshot(const app_t *app, const diags_t *d);

static void diags_free_void(void *p)
{
    diags_free(p);
    free(p);
}

/* c.load(env) -> app, snapshot: the app with exactly env as its $VARs. */
static int t_load(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    void **genv = lua_host_guard(L, lua_host_json_free); /* 2 */
    json_t *env = lua_host_check_json(L, 1, "evkit.test.world: env");
    if (!json_is_object(env) && json_array_size(env) == 0) { /* {} reads as an empty array */
        json_decref(env);
        env = json_object();
    }
    *genv = env;
    if (!json_is_object(env)) return luaL_error(L, "evkit.test.world: env must be a table of strings");
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
        if (!json_is_string(v)) return luaL_error(L, "evkit.test.world: env.%s must be a string", k);
    void **gd = lua_host_guard(L, diags_free_void); /* 3 */
    diags_t *d = xmalloc(sizeof *d);
    diags_init(d);
    *gd = d;
    app_t **ud = lua_newuserdatauv(L, sizeof *ud, 0); /* 4 */
    *ud = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &app_mt_key);
    lua_setmetatable(L, -2);
    *ud = app_load_env(tls_ctx->base->dir, env, d);
    if (!*ud) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            diags_print(d, f);
            fclose(f);
        }
        lua_pushlstring(L, text ? text : "", len);
        free(text);
        return luaL_error(L, "evkit.test.world: the app does not load:\n%s", lua_tostring(L, -1));
    }
    void **gs = lua_host_guard(L, lua_host_json_free); /* 5 */
    *gs = app_snapshot(*ud, d);
    lua_host_push_json(L, *gs);
    lua_host_guard_release(L, 5);
    lua_remove(L, 5);
    return 2;
}

/* The action named by arguments 1 (app) and 2 (fqn); NULL when none. The
 * stack is set to nargs. */
static const action_t *arg_action(lua_State *L, int nargs)
{
    app_t *app = check_app(L, 1);
    const char *fqn = luaL_checkstring(L, 2);
    lua_settop(L, nargs);
    return app_action(app, fqn);
}

/* c.params(app, fqn, request, extra) -> params | nil, message */
static int t_params(lua_State *L)
{
    const action_t *act = arg_action(L, 4);
    if (!act) {
        lua_pushnil(L);
        lua_pushfstring(L, "action '%s' not found", lua_tostring(L, 2));
        return 2;
    }
    void **greq = lua_host_guard(L, lua_host_json_free); /* 5 */
    void **gfull = lua_host_guard(L, lua_host_json_free); /* 6 */
    if (!lua_isnil(L, 3)) *greq = lua_host_check_json(L, 3, "evkit.test: the request");
    err_t err = {0};
    *gfull = runtime_params(act, *greq, &err);
    if (!*gfull) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    if (!lua_isnil(L, 4)) {
        json_t *extra = lua_host_check_json(L, 4, "evkit.test: the extra params");
        json_object_update(*gfull, extra);
        json_decref(extra);
    }
    lua_host_push_json(L, *gfull);
    return 1;
}

/* c.run(app, fqn, params) -> result, {activationId, status, duration}, logs */
static int t_run(lua_State *L)
{
    app_t *app = check_app(L, 1);
    const action_t *act = arg_action(L, 3);
    if (!act) return luaL_error(L, "evkit.test: action '%s' not found", lua_tostring(L, 2));
    void **gp = lua_host_guard(L, lua_host_json_free); /* 4 */
    void **gr = lua_host_guard(L, lua_host_json_free); /* 5 */
    void **gl = lua_host_guard(L, lua_host_json_free); /* 6 */
    *gp = lua_host_check_json(L, 3, "evkit.test: params");
    invoke_result res;
    memset(&res, 0, sizeof res);
    json_t *logs = NULL;
    tls_ctx->engine.app = app;
    runtime_invoke_logged(&tls_ctx->engine, act, *gp, NULL, &res, &logs);
    tls_ctx->engine.app = tls_ctx->base;
    *gr = res.result;
    *gl = logs;
    lua_host_push_json(L, res.result);
    lua_host_push_invoke_info(L, &res);
    lua_host_push_json(L, logs);
    return 3;
}

/* c.use(world | nil): the world actions reach from now on. */
static int t_use(lua_State *L)
{
    lua_settop(L, 1);
    if (!lua_isnil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
    luaL_unref(L, LUA_REGISTRYINDEX, tls_ctx->world_ref);
    tls_ctx->world_ref = lua_isnil(L, 1) ? LUA_NOREF : luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* c.fresh(): idle interpreters go, so a new world starts cold. */
static int t_fresh(lua_State *L)
{
    (void)L;
    lua_backend_thread_cleanup();
    return 0;
}

/* c.read(path) -> text of a file of the app (path relative to the app folder). */
static int t_read(lua_State *L)
{
    const char *rel = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    char real[PATH_MAX];
    err_t err;
    if (lua_sandbox_resolve(lua_host_activation(L), tls_ctx->base->dir, rel, real, sizeof real,
                            &err) < 0)
        return luaL_error(L, "evkit.test.read: %s", err.msg);
    void **g = lua_host_guard(L, free);
    size_t len;
    *g = file_read(real, &len, &err);
    if (!*g) return luaL_error(L, "evkit.test.read: %s", err.msg);
    lua_pushlstring(L, *g, len);
    lua_host_guard_release(L, 2);
    return 1;
}

bool lua_test_push_module(lua_State *L)
{
    lua_slot *s = lua_host_slot(L);
    if (!tls_ctx || !s || !s->a || s->a->action != &tls_ctx->file) return false;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &module_key) == LUA_TTABLE) return true;
    lua_pop(L, 1);
    static const luaL_Reg app_mt[] = {{"__gc", app_gc}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"load", t_load}, {"params", t_params}, {"run", t_run},
                                   {"use", t_use},   {"fresh", t_fresh},   {"read", t_read},
                                   {NULL, NULL}};
    lua_host_new_mt(L, &app_mt_key, "app", app_mt);
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=evkit.test", "t") != LUA_OK)
        lua_error(L);
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &module_key);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    tls_ctx->T = lua_tothread(L, -1);
    lua_pop(L, 1);
    return true;
}

/* ---- the app as tests see it ---- */

static const char *web_name(web_mode w)
{
    return w == WEB_YES ? "yes" : w == WEB_RAW ? "raw" : "no";
}

static json_t *action_json(const app_t *app, const action_t *a)
{
    const char *f = a->function; /* NULL for a sequence */
    size_t n = strlen(app->dir);
    if (f && !strncmp(f, app->dir, n) && f[n] == '/') f += n + 1;
    return json_pack("{s:s?, s:s, s:s, s:O, s:O, s:{s:i, s:i, s:i}}", "path", f, "runtime",
                     a->runtime, "web", web_name(a->web), "inputs",
                     a->inputs ? a->inputs : json_object(), "annotations",
                     a->annotations ? a->annotations : json_object(), "limits", "timeout",
                     a->timeout_ms, "memory", a->memory_mb, "concurrency", a->concurrency);
}

static json_t *registration_json(const registration_t *r)
{
    json_t *j = json_pack("{s:s, s:o}", "description", r->description ? r->description : "",
                          "events_of_interest", registration_interests_json(r));
    if (r->runtime_action) json_object_set_new(j, "runtime_action", json_string(r->runtime_action));
    if (r->webhook_url) json_object_set_new(j, "webhook_url", json_string(r->webhook_url));
    return j;
}

static json_t *app_snapshot(const app_t *app, const diags_t *d)
{
    json_t *actions = json_object(), *regs = json_object(), *events = json_object();
    for (size_t i = 0; i < app->nactions; i++)
        json_object_set_new(actions, app->actions[i].fqn, action_json(app, &app->actions[i]));
    for (size_t i = 0; i < app->nregistrations; i++)
        json_object_set_new(regs, app->registrations[i].name,
                            registration_json(&app->registrations[i]));
    for (size_t i = 0; i < app->nevents; i++) {
        const event_code_t *ev = &app->events[i];
        json_t *ent = json_object_get(events, ev->entity);
        if (!ent) json_object_set_new(events, ev->entity, ent = json_object());
        json_t *prov = json_object_get(ent, ev->provider);
        if (!prov) json_object_set_new(ent, ev->provider, prov = json_object());
        json_t *def = json_object();
        if (ev->sample) json_object_set(def, "sampleEventTemplate", ev->sample);
        json_object_set_new(prov, ev->code, def);
    }
    json_t *warnings = json_array();
    for (size_t i = 0; i < d->n; i++)
        json_array_append_new(warnings, json_pack("{s:s, s:i, s:s}", "file",
                                                  d->items[i].file ? d->items[i].file : "",
                                                  "line", d->items[i].line, "message",
                                                  d->items[i].message));
    return json_pack("{s:o, s:o, s:o, s:o}", "actions", actions, "registrations", regs, "events",
                     events, "warnings", warnings);
}

/* ---- running test files ---- */

static void print_logs(FILE *out, const json_t *logs)
{
    size_t i;
    json_t *line;
    json_array_foreach(logs, i, line) fprintf(out, "    | %s\n", json_string_value(line));
}

/* Prints what one file's activation answered and counts it. */
static void report_file(FILE *out, const char *rel, const invoke_result *res, const json_t *logs,
                        test_summary *sum)
{
    json_t *results = json_object_get(res->result, "results");
    if (res->status != ACT_SUCCESS || !json_is_array(results)) {
        json_t *e = json_object_get(res->result, "error");
        fprintf(out, "FAIL %s: %s\n", rel,
                json_is_string(e) ? json_string_value(e) : "the test file did not run");
        print_logs(out, logs);
        sum->failed++;
        return;
    }
    if (json_array_size(results) == 0) {
        fprintf(out, "FAIL %s: no tests (declare them with require('evkit.test').test)\n", rel);
        sum->failed++;
        return;
    }
    bool any_failed = false;
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        if (json_is_true(json_object_get(r, "ok"))) {
            fprintf(out, "ok   %s: %s\n", rel, name);
            sum->passed++;
            continue;
        }
        const char *why = json_string_value(json_object_get(r, "error"));
        fprintf(out, "FAIL %s: %s\n     %s\n", rel, name, why ? why : "failed");
        sum->failed++;
        any_failed = true;
    }
    if (any_failed) print_logs(out, logs);
}

static void run_file(test_ctx *ctx, const char *path, FILE *out, test_summary *sum)
{
    const char *rel = path;
    size_t n = strlen(ctx->base->dir);
    if (!strncmp(path, ctx->base->dir, n) && path[n] == '/') rel = path + n + 1;
    action_t *f = &ctx->file;
    memset(f, 0, sizeof *f);
    f->package = "tests";
    f->name = (char *)rel;
    char *fqn = xasprintf("test:%s", rel);
    f->fqn = fqn;
    f->function = (char *)path;
    char *dir = path_dirname(path);
    f->dir = dir;
    f->runtime = "lua";
    f->kind = RUNTIME_LUA;
    f->timeout_ms = ACTION_MAX_TIMEOUT_MS;
    f->memory_mb = TEST_FILE_MEMORY_MB;
    f->concurrency = 1;
    ctx->T = NULL;
    ctx->world_ref = LUA_NOREF;

    json_t *params = json_object(), *logs = NULL;
    invoke_result res;
    memset(&res, 0, sizeof res);
    runtime_invoke_logged(&ctx->engine, f, params, NULL, &res, &logs);
    json_decref(params);
    report_file(out, rel, &res, logs, sum);
    json_decref(res.result);
    json_decref(logs);
    /* The file's interpreter goes with its worlds. */
    ctx->T = NULL;
    ctx->world_ref = LUA_NOREF;
    lua_backend_thread_cleanup();
    free(dir);
    free(fqn);
}

int runtime_test_run(const char *appdir, char *const *files, size_t nfiles, FILE *out,
                     test_summary *sum, err_t *err)
{
    test_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    diags_t d;
    diags_init(&d);
    json_t *env = json_object();
    ctx.base = app_load_env(appdir, env, &d);
    json_decref(env);
    diags_free(&d);
    if (!ctx.base) return err_code(err, EVK_INVALID, "the app in '%s' does not load", appdir);
    engine_init(&ctx.engine, ctx.base, NULL, NULL, NULL);
    tls_ctx = &ctx;
    for (size_t i = 0; i < nfiles; i++) {
        char *real = path_real(files[i]);
        if (!real || !path_within(ctx.base->dir, real) || !path_is_file(real)) {
            fprintf(out, "FAIL %s: not a file inside the app folder %s\n", files[i],
                    ctx.base->dir);
            sum->failed++;
        } else {
            run_file(&ctx, real, out, sum);
        }
        free(real);
    }
    tls_ctx = NULL;
    lua_backend_thread_cleanup();
    engine_fini(&ctx.engine);
    app_free(ctx.base);
    return 0;
}
