// Issue 2 runtime features end to end, on the control app's runtime scenario: the
// OpenWhisk web-action rules, bearer auth, application errors, the Lua
// sandbox and its time and memory limits, the namespace, and the CLI
// (action list/get/invoke, check, --help, --version, exit codes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, symlinkSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Evkit, bin } from './lib/evkit.mjs';
import { controlApp } from './lib/fixture.mjs';

const TOKENS = 'tok-alpha-0123456789abcdef0123456789abcd,tok-beta-0123456789abcdef0123456789abcde';
let fx;
let ek;

before(async () => {
  fx = controlApp('runtime');
  // Beside the app folder, out of the sandbox's reach.
  writeFileSync(path.join(fx.root, 'secret.lua'), "return 'LEAKED'\n");
  symlinkSync(path.join(fx.root, 'secret.lua'), path.join(fx.app, 'actions/lib/escape.lua'));
  // A precompiled chunk inside the app: bytecode must be refused.
  const luac = ['luac5.4', 'luac'].find((c) => spawnSync(c, ['-v']).status === 0);
  if (luac) {
    const src = path.join(fx.root, 'compiled-src.lua');
    writeFileSync(src, "return 'BYTECODE'\n");
    spawnSync(luac, ['-o', path.join(fx.app, 'actions/sandbox/compiled.lua'), src]);
  }
  ek = await new Evkit({ app: fx.app, env: { EVKIT_API_TOKENS: TOKENS }, workers: 2 }).start();
});

after(async () => {
  if (ek) { await ek.stop(); ek.cleanup(); }
  fx?.cleanup();
});

async function request(url, { method = 'GET', headers = {}, body, timeout = 10000 } = {}) {
  const t0 = Date.now();
  const r = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeout) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json, ms: Date.now() - t0 };
}

test('web params: __ow_method, lower-case __ow_headers, __ow_path, and package < action < query < body', async () => {
  const r = await request(`${ek.webUrl('web/echo')}/extra/path?overQ=query&qb=query&overB=query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-Custom-Header': 'Hello', 'X-UPPER': 'Up' },
    body: JSON.stringify({ qb: 'body', overB: 'body', nested: { a: [1, 2] } }),
  });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.match(r.headers.get('x-openwhisk-activation-id'), /^[0-9a-f]{32}$/);
  const p = r.json;
  assert.equal(p.__ow_method, 'post');
  assert.equal(p.__ow_path, '/extra/path');
  assert.equal(p.__ow_headers['x-custom-header'], 'Hello');
  assert.equal(p.__ow_headers['x-upper'], 'Up');
  for (const k of Object.keys(p.__ow_headers)) assert.equal(k, k.toLowerCase(), `header ${k} is lower case`);
  assert.equal(p.pkgOnly, 'pkg');
  assert.equal(p.actOnly, 'act');
  assert.equal(p.shared, 'act', 'action inputs override package inputs');
  assert.equal(p.overQ, 'query', 'the query overrides inputs');
  assert.equal(p.qb, 'body', 'the body overrides the query');
  assert.equal(p.overB, 'body');
  assert.deepEqual(p.nested, { a: [1, 2] });
  assert.equal(p.__ow_query, undefined, 'no __ow_query without raw-http');
  assert.equal(p.__ow_body, undefined, 'no __ow_body for a JSON object body');

  const g = await request(`${ek.webUrl('web/echo')}?x=1`, { method: 'GET' });
  assert.equal(g.status, 200);
  assert.equal(g.json.__ow_method, 'get');
  assert.equal(g.json.__ow_path, '');
  assert.equal(g.json.x, '1');

  const put = await request(ek.webUrl('web/echo'), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"k":true}' });
  assert.equal(put.json.__ow_method, 'put');
  assert.equal(put.json.k, true);
});

test('a request cannot set __ow_* params or override a final input', async () => {
  let r = await ek.post('web/echo', { __ow_method: 'delete' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /not allowed/);
  r = await request(`${ek.webUrl('web/echo')}?__ow_path=/x`);
  assert.equal(r.status, 400);

  r = await ek.post('web/locked', { fixed: 'from-request' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /not allowed/);
  r = await request(`${ek.webUrl('web/locked')}?fixed=from-query`);
  assert.equal(r.status, 400);
  r = await ek.post('web/locked', { other: 1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.fixed, 'from-manifest');
  assert.equal(r.json.other, 1);
});

test('a raw web action gets the query and the body unparsed, binary bodies in base64', async () => {
  let r = await request(`${ek.webUrl('web/raw')}/p?x=1&y=two`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}',
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { query: 'x=1&y=two', rawBody: '{"a":1}', method: 'post', path: '/p', parsedA: false });

  const bytes = Buffer.from([0, 1, 2, 250, 251, 255]);
  r = await request(ek.webUrl('web/raw'), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.rawBody, bytes.toString('base64'));
  assert.equal(r.json.query, '');
});

test('require-adobe-auth: 401 without or with a wrong bearer token, 200 with a token of EVKIT_API_TOKENS', async () => {
  let r = await request(ek.webUrl('web/secure'));
  assert.equal(r.status, 401);
  assert.equal(typeof r.json.error, 'string');
  r = await request(ek.webUrl('web/secure'), { headers: { authorization: 'Bearer tok-wrong' } });
  assert.equal(r.status, 401);
  r = await request(ek.webUrl('web/secure'), { headers: { authorization: 'Basic dG9rLWFscGhhOg==' } });
  assert.equal(r.status, 401, 'only a bearer token opens a web action');
  r = await request(ek.webUrl('web/secure'), { headers: { authorization: 'Bearer tok-alpha-0123456789abcdef0123456789abcd' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true });
  r = await request(ek.webUrl('web/secure'), { headers: { authorization: 'Bearer tok-beta-0123456789abcdef0123456789abcde' } });
  assert.equal(r.status, 200);
  assert.ok(!ek.stderr.includes('tok-alpha-0123456789abcdef0123456789abcd'), 'tokens never reach the logs');
});

test('an application error renders only its value: 418 {"error":"teapot"}', async () => {
  const r = await ek.post('web/teapot', {});
  assert.equal(r.status, 418);
  assert.equal(r.text, '{"error":"teapot"}');
  assert.match(r.headers.get('content-type'), /^application\/json/);
});

test('a Lua action that never returns gets 504 at its time limit, and the daemon keeps serving', async () => {
  for (const action of ['web/spin', 'web/spin-pcall']) {
    const r = await request(ek.webUrl(action), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', timeout: 8000 });
    assert.equal(r.status, 504, `${action}: ${r.text}`);
    assert.match(r.json.error, /exceeded its time limit/i, action);
    assert.match(r.json.activationId, /^[0-9a-f]{32}$/);
    assert.ok(r.ms >= 290, `${action} ran its 300 ms (${r.ms} ms)`);
    assert.ok(r.ms < 3000, `${action} stopped soon after 300 ms (${r.ms} ms)`);
    const ok = await ek.post('web/echo', { after: action });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.after, action);
  }
  // Several at once do not block other requests.
  const spins = Array.from({ length: 3 }, () => request(ek.webUrl('web/spin'), { timeout: 8000 }));
  const echo = await request(`${ek.webUrl('web/echo')}?during=spins`);
  assert.equal(echo.status, 200);
  for (const r of await Promise.all(spins)) assert.equal(r.status, 504);
  assert.equal((await fetch(`${ek.url}/healthz`)).status, 200);
});

test('a Lua action over its memory limit gets 502 with a memory-limit message, and the daemon is fine', async () => {
  const r = await request(ek.webUrl('web/hog'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', timeout: 15000 });
  assert.equal(r.status, 502, r.text);
  assert.match(r.json.error, /memory/i);
  assert.match(r.json.error, /limit/i);
  assert.match(r.json.activationId, /^[0-9a-f]{32}$/);
  const again = await request(ek.webUrl('web/hog'), { timeout: 15000 });
  assert.equal(again.status, 502, 'the limit holds on a reused interpreter too');
  const ok = await ek.post('web/echo', { after: 'hog' });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.after, 'hog');
});

test('an exec web action gets the web params; its memory is capped by limits.memory', async () => {
  const r = await request(`${ek.webUrl('web/exec-echo')}/sub?q=query`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'X-Probe': 'probe-1' }, body: '{"b":"body"}',
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, {
    method: 'post', path: '/sub', probe: 'probe-1', q: 'query', b: 'body', actOnly: 'exec-act',
    activationId: r.headers.get('x-openwhisk-activation-id'),
  });
  const hog = await request(ek.webUrl('web/exec-hog'), { timeout: 15000 });
  assert.equal(hog.status, 502, `a 100 MB string under a 64 MB cap fails: ${hog.text}`);
  assert.match(hog.json.activationId, /^[0-9a-f]{32}$/);
  assert.equal((await ek.post('web/echo', {})).status, 200);
});

test('every web invocation leaves an activation record with its logs, whatever the runtime', async () => {
  const r = await ek.post('web/echo', { rec: 1 });
  const id = r.headers.get('x-openwhisk-activation-id');
  const x = await request(ek.webUrl('web/exec-echo'));
  const xid = x.headers.get('x-openwhisk-activation-id');
  const t = await ek.post('web/teapot', {});
  const tid = t.headers.get('x-openwhisk-activation-id');
  const rec = await ek.waitFor(() => { const g = ek.cli(['activation', 'get', id]); return g.code === 0 && JSON.parse(g.stdout); }, { what: 'the echo activation' });
  assert.equal(rec.activationId, id);
  assert.equal(rec.namespace, 'evkit');
  assert.equal(rec.name, 'echo');
  assert.equal(rec.path, 'web/echo');
  assert.equal(rec.response.status, 'success');
  assert.equal(rec.response.success, true);
  assert.equal(rec.response.result.statusCode, 200);
  assert.equal(rec.response.result.body.rec, 1);
  assert.equal(rec.duration, rec.end - rec.start);
  assert.ok(rec.logs.some((l) => / stdout: echo post$/.test(l)), `logs of a successful web activation: ${JSON.stringify(rec.logs)}`);
  const xrec = await ek.waitFor(() => { const g = ek.cli(['activation', 'get', xid]); return g.code === 0 && JSON.parse(g.stdout); }, { what: 'the exec activation' });
  assert.equal(xrec.path, 'web/exec-echo');
  assert.ok(xrec.logs.some((l) => / stdout: exec echo log line$/.test(l)), JSON.stringify(xrec.logs));
  const trec = await ek.waitFor(() => { const g = ek.cli(['activation', 'get', tid]); return g.code === 0 && JSON.parse(g.stdout); }, { what: 'the teapot activation' });
  assert.equal(trec.response.status, 'application error');
  assert.equal(trec.response.statusCode, 1);
  assert.equal(trec.response.success, false);
  const logs = ek.cli(['activation', 'logs', id]);
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, / stdout: echo post\n/);
  const res = ek.cli(['activation', 'result', tid]);
  assert.deepEqual(JSON.parse(res.stdout), { error: { statusCode: 418, body: { error: 'teapot' } } });
  const list = ek.cliJson(['activation', 'list', '--name', 'web/teapot']);
  assert.ok(list.length >= 1 && list.every((a) => a.path === 'web/teapot'));
  assert.equal(ek.cli(['activation', 'get', 'f'.repeat(32)]).code, 1, 'an unknown id exits 1');
});

test('the Lua sandbox: no io, no os.execute, no load, require confined to the app folder', async () => {
  const r = await ek.post('box/sandbox', { probe: path.join(fx.root, 'secret') });
  assert.equal(r.status, 200, r.text);
  const b = r.json;
  assert.equal(b.io, 'nil');
  assert.equal(b.os_execute, 'nil');
  assert.equal(b.os_getenv, 'nil');
  assert.equal(b.os_remove, 'nil');
  assert.equal(b.load, 'nil');
  assert.equal(b.loadfile, 'nil');
  assert.equal(b.dofile, 'nil');
  assert.equal(b.debug, 'nil');
  assert.equal(b.loadlib, 'nil', 'no native modules');
  assert.equal(b.os_time, 'function');
  assert.equal(b.os_clock, 'function');
  assert.equal(b.os_date, 'function');
  assert.equal(b.string_rep, 'function');
  assert.equal(b.coroutine, 'table');
  assert.equal(b.utf8, 'table');
  assert.deepEqual(b.secret_relative, { ok: false });
  assert.deepEqual(b.probe, { ok: false }, 'an absolute path out of the app folder');
  assert.equal(b.helper, 'hello from lib', 'actions/lib is on the path');
  assert.equal(b.local_mod, 'local module', "the action's folder is on the path");
  if (existsSync(path.join(fx.app, 'actions/sandbox/compiled.lua'))) assert.deepEqual(b.bytecode, { ok: false }, 'bytecode is refused');
});

test('require does not follow a symlink out of the app folder', async () => {
  // actions/lib/escape.lua is a symlink to ../../secret.lua, beside the app folder.
  const r = await ek.post('box/sandbox', { probe: 'escape' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.probe, { ok: false }, 'a symlink out of the app folder is not followed');
});

test('AIO_runtime_namespace changes the URL namespace', async () => {
  const e2 = await new Evkit({ app: fx.app, env: { AIO_runtime_namespace: 'acme-stage' }, workers: 1 }).start();
  try {
    let r = await request(e2.webUrl('web/echo', 'acme-stage') + '?n=1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.n, '1');
    r = await request(e2.webUrl('web/echo', 'evkit'));
    assert.equal(r.status, 404);
    const url = e2.cli(['action', 'get', 'web/echo', '--url']);
    assert.equal(url.code, 0, url.stderr);
    assert.equal(url.stdout.trim(), `${e2.url}/api/v1/web/acme-stage/web/echo`);
    const list = e2.cliJson(['action', 'list']);
    assert.equal(list.find((a) => a.name === 'web/echo').url, `${e2.url}/api/v1/web/acme-stage/web/echo`);
  } finally { await e2.stop(); e2.cleanup(); }
});

test('evkit action list shows name, runtime, web and URL of every action', async () => {
  const list = ek.cliJson(['action', 'list']);
  const expected = [
    ['web/echo', 'yes'], ['web/raw', 'raw'], ['web/secure', 'yes'], ['web/locked', 'yes'], ['web/teapot', 'yes'],
    ['web/spin', 'yes'], ['web/spin-pcall', 'yes'], ['web/hog', 'yes'], ['web/exec-echo', 'yes', 'exec'],
    ['web/exec-hog', 'yes', 'exec'], ['web/private', 'no'], ['box/sandbox', 'yes'],
  ];
  assert.deepEqual(list.map((a) => a.name).sort(), expected.map(([n]) => n).sort());
  for (const [name, web, runtime = 'lua'] of expected) {
    const a = list.find((x) => x.name === name);
    assert.equal(a.runtime, runtime, name);
    assert.equal(a.web, web, name);
    assert.equal(a.url, web === 'no' ? `${ek.url}/api/v1/namespaces/evkit/actions/${name}` : `${ek.url}/api/v1/web/evkit/${name}`);
  }
  const plain = ek.cli(['action', 'list']);
  assert.equal(plain.code, 0, plain.stderr);
  const line = plain.stdout.split('\n').find((l) => l.startsWith('web/raw '));
  assert.ok(line, plain.stdout);
  assert.deepEqual(line.trim().split(/\s+/), ['web/raw', 'lua', 'raw', `${ek.url}/api/v1/web/evkit/web/raw`]);

  // A non-web action is not on the web route.
  const r = await request(ek.webUrl('web/private'));
  assert.equal(r.status, 404);
});

test('evkit action invoke runs the action with -p params and prints its result', async () => {
  let r = ek.cli(['action', 'invoke', 'web/private', '-p', 'k', 'v', '-p', 'n', '5', '-p', 'obj', '{"a":[1,"x"]}']);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.statusCode, 200);
  assert.equal(res.body.k, 'v');
  assert.equal(res.body.n, 5);
  assert.deepEqual(res.body.obj, { a: [1, 'x'] });
  assert.equal(res.body.actOnly, 'private');
  assert.equal(res.body.pkgOnly, 'pkg');
  assert.equal(res.body.__ow_method, undefined, 'not a web invocation');

  r = ek.cli(['action', 'invoke', 'web/teapot']);
  assert.equal(r.code, 1, 'an application error exits 1');
  assert.deepEqual(JSON.parse(r.stdout), { error: { statusCode: 418, body: { error: 'teapot' } } });

  r = ek.cli(['action', 'invoke', 'web/nope']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not found/);

  r = ek.cli(['action', 'invoke', 'web/locked', '-p', 'fixed', 'x']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not allowed/);
});

function lineOf(text, needle) {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `${needle} is in the text`);
  return i + 1;
}

test('evkit check: unknown keys and missing $VARs are warnings with file:line; a missing function file is an error', () => {
  const copy = controlApp('runtime');
  try {
    const cfgPath = path.join(copy.app, 'app.config.yaml');
    const env = { ...process.env };
    delete env.EVKIT_E2E_MISSING_VAR;
    let r = spawnSync(bin, ['check', '--app', copy.app], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok: 12 action\(s\), 0 registration\(s\), 2 provider\(s\)/);

    let cfg = readFileSync(cfgPath, 'utf8');
    cfg = cfg.replace('            function: actions/web/teapot.lua\n', '            function: actions/web/teapot.lua\n            colour: blue\n');
    cfg = cfg.replace('              actOnly: act\n', '              actOnly: act\n              missingVar: $EVKIT_E2E_MISSING_VAR\n');
    writeFileSync(cfgPath, cfg);
    const keyLine = lineOf(cfg, 'colour: blue');
    const varLine = lineOf(cfg, 'EVKIT_E2E_MISSING_VAR');
    r = spawnSync(bin, ['check', '--app', copy.app], { encoding: 'utf8', env });
    assert.equal(r.status, 0, `warnings alone pass: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`app\\.config\\.yaml:${keyLine}:\\d+: warning: .*colour`));
    assert.match(r.stderr, new RegExp(`app\\.config\\.yaml:${varLine}:\\d+: warning: .*EVKIT_E2E_MISSING_VAR`));
    assert.match(r.stdout, /2 warning\(s\)/);

    cfg = cfg.replace('function: actions/web/teapot.lua', 'function: actions/web/no-such-file.lua');
    writeFileSync(cfgPath, cfg);
    const fnLine = lineOf(cfg, 'no-such-file.lua');
    r = spawnSync(bin, ['check', '--app', copy.app], { encoding: 'utf8', env });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`app\\.config\\.yaml:${fnLine}:\\d+: error: .*no-such-file\\.lua`));
    assert.match(r.stderr, /colour/, 'every problem is reported, not only the first');
    assert.match(r.stdout, /1 error\(s\)/);

    // serve refuses a broken app.
    r = spawnSync(bin, ['serve', '--app', copy.app, '--data', path.join(copy.root, 'var'), '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no-such-file\.lua/);
  } finally { copy.cleanup(); }
});

test('--help on every command exits 0; unknown commands and options exit 2; --version prints', () => {
  const run = (args) => spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, EVKIT_APP: fx.app, EVKIT_DATA: ek.data } });
  for (const cmd of ['serve', 'check', 'action', 'event', 'registration', 'deadletter', 'activation']) {
    const r = run([cmd, '--help']);
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, /usage: evkit/, `${cmd} --help prints its usage`);
  }
  let r = run(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /commands:/);
  r = run(['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  r = run([]);
  assert.equal(r.status, 2);
  r = run(['action', 'list', '--bogus']);
  assert.equal(r.status, 2);
  r = run(['action', 'frob']);
  assert.equal(r.status, 2);
  r = run(['--version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^evkit \d+\.\d+\.\d+\n$/);
});

test('the daemon survived everything above and still serves', async () => {
  assert.equal(ek.proc.exitCode, null);
  assert.equal((await fetch(`${ek.url}/healthz`)).status, 200);
  const r = await ek.post('web/echo', { last: true });
  assert.equal(r.status, 200);
});
