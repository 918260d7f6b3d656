// evkit test: a tiny app whose action calls an API, with one passing and one
// failing test; the summary line and the exit status say so, and a broken
// action makes its test fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bin } from './lib/evkit.mjs';

function write(root, rel, text) {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
}

const ACTION = `
function main(params)
  local res, err = evkit.http.request{ method = "POST", url = params.API_URL .. "/items",
                                       body = { sku = params.sku } }
  if not res then return { error = tostring(err) } end
  evkit.state.put("last", params.sku, { ttl = 60 })
  evkit.publish("shop", "item.sent", { sku = params.sku, status = res.status })
  return { sent = res.status, limit = require("limits").max }
end
`;

const PROVIDERS = JSON.stringify([{ key: 'shop', label: 'Shop', description: 'The shop' }]);
const EVENTS = JSON.stringify({ item: { shop: { 'item.sent': { sampleEventTemplate: { sku: 'A1' } } } } });

function bareApp(prefix) {
  const app = mkdtempSync(path.join(tmpdir(), prefix));
  write(app, 'onboarding/config/providers.json', PROVIDERS);
  write(app, 'onboarding/config/events.json', EVENTS);
  return app;
}

function fixtureApp() {
  const app = bareApp('evkit-test-app-');
  write(app, 'app.config.yaml', [
    'application:',
    '  runtimeManifest:',
    '    packages:',
    '      shop:',
    '        actions:',
    '          send:',
    '            function: actions/shop/send.lua',
    '            runtime: lua',
    '            inputs:',
    '              API_URL: $API_URL',
    '',
  ].join('\n'));
  write(app, 'actions/shop/send.lua', ACTION);
  write(app, 'actions/shop/limits.json', '{"max": 5}');
  write(app, 'actions/shop/tests/send.lua', `
local t = require("evkit.test")
t.test("sends the item and records it", function()
  local w = t.world({ API_URL = "https://api.test" })
  w.http = function(req) return { status = 201, body = "{}" } end
  local result = w:invoke("shop/send", { sku = "A1" })
  t.eq(result, { sent = 201, limit = 5 })
  t.eq({ w.http_calls[1].method, w.http_calls[1].url, w.http_calls[1].body }, { "POST", "https://api.test/items", { sku = "A1" } })
  t.eq(w.state.last.value, "A1")
  t.eq({ w.published[1].type, w.published[1].data.sku }, { "item.sent", "A1" })
end)
t.test("expects what the action does not do", function()
  local w = t.world({ API_URL = "https://api.test" })
  w.http = function() return nil, "refused" end
  t.eq(w:invoke("shop/send", { sku = "A1" }), { sent = 201 })
end)
`);
  return app;
}

function run(app, ...args) {
  return spawnSync(bin, ['test', '--app', app, ...args], { encoding: 'utf8', env: { ...process.env, API_URL: 'https://not.used' } });
}

test('evkit test reports each test, the summary, and exits 1 on a failure', () => {
  const app = fixtureApp();
  const r = run(app);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok {3}actions\/shop\/tests\/send\.lua: sends the item and records it$/m);
  assert.match(r.stdout, /^FAIL actions\/shop\/tests\/send\.lua: expects what the action does not do$/m);
  assert.match(r.stdout, /expected \{"sent":201\}, got \{"error":"connect: refused"\}/);
  assert.match(r.stdout, /^1 passed, 1 failed$/m);
});

test('evkit test exits 0 when every test passes; FILE arguments pick the files', () => {
  const app = fixtureApp();
  write(app, 'tests/only.lua', `
local t = require("evkit.test")
t.test("passes", function() t.ok(true) end)
`);
  const r = run(app, path.join(app, 'tests/only.lua'));
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok {3}tests\/only\.lua: passes$/m);
  assert.match(r.stdout, /^1 passed, 0 failed$/m);
});

test('evkit test fails a test whose action is broken, and a file without tests', () => {
  const app = fixtureApp();
  write(app, 'actions/shop/send.lua', 'function main(params) return { sent = 201, limit = 5 } end\nlocal broken = (');
  write(app, 'tests/empty.lua', 'local t = require("evkit.test")\n');
  const r = run(app);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^FAIL actions\/shop\/tests\/send\.lua: sends the item and records it$/m);
  assert.match(r.stdout, /^FAIL tests\/empty\.lua: no tests/m);
  assert.match(r.stdout, /^0 passed, 3 failed$/m);
});

test('evkit test without test files is an error', () => {
  const app = fixtureApp();
  const r = spawnSync(bin, ['test', '--app', app, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /usage: evkit test/);
  const none = bareApp('evkit-test-none-');
  write(none, 'app.config.yaml', 'application:\n  runtimeManifest:\n    packages: {}\n');
  const e = run(none);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /no test files/);
});
