// The nodejs:* runtime: JavaScript actions as App Builder users write them
// (CommonJS, ES modules, packages from the app's node_modules, main:, web
// actions), run unchanged in warm Node.js processes, with OpenWhisk's params,
// __OW_* environment, results, errors and logs; time and memory limits; a
// consumer that calls its handler through the real `openwhisk` npm client
// with its own per-activation key (causedBy); and `evkit check` on Node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import openwhisk from 'openwhisk';
import { Evkit, bin, copyApp, fixtures } from './lib/evkit.mjs';
import { KIT } from './lib/kit.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const key = 'nodejs-test-token-0123456789abcdef012345';
let ek;
let ow;
let app;
let tmp;

// The fixture in a temp folder with a node_modules made here: a small package
// of our own and the openwhisk client the e2e tests already install.
function nodeApp() {
  const dir = copyApp(path.join(fixtures, 'nodejs'));
  const dep = path.join(dir, 'node_modules/evkit-fixture-dep');
  mkdirSync(dep, { recursive: true });
  writeFileSync(path.join(dep, 'package.json'), JSON.stringify({ name: 'evkit-fixture-dep', version: '1.0.0', main: 'index.js' }));
  writeFileSync(path.join(dep, 'index.js'), "exports.shout = (s) => s.toUpperCase() + '!'\n");
  symlinkSync(path.join(here, 'node_modules/openwhisk'), path.join(dir, 'node_modules/openwhisk'));
  return dir;
}

async function invoke(name, params = {}) {
  const r = await fetch(`${ek.url}/api/v1/namespaces/_/actions/${name}?blocking=true`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return { status: r.status, rec: await r.json() };
}

const result = async (name, params) => {
  const { status, rec } = await invoke(name, params);
  assert.equal(status, 200, JSON.stringify(rec));
  return rec.response.result;
};

before(async () => {
  app = nodeApp();
  // Its own TMPDIR, to see the launcher's private folder come and go.
  tmp = mkdtempSync(path.join(tmpdir(), 'evkit-node-tmp-'));
  ek = await new Evkit({ app, env: { EVKIT_API_TOKENS: key, TMPDIR: tmp } }).start();
  ow = openwhisk({ apihost: ek.url, api_key: key, namespace: 'evkit' });
});

after(async () => {
  await ek?.stop();
  ek?.cleanup();
  rmSync(app, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

test('module shapes: module.exports.main, exports.main, main: <name>, .mjs and "type": "module"', async () => {
  assert.equal((await result('js/cjs', { n: 1 })).kind, 'cjs');
  assert.deepEqual(await result('js/exports', { n: 2 }), { kind: 'exports', got: 2 });
  assert.deepEqual(await result('js/named', { n: 3 }), { kind: 'handler', got: 3 });
  assert.deepEqual(await result('js/esm', { n: 4 }), { kind: 'mjs', got: 4, meta: 'string' });
  assert.deepEqual(await result('js/typemodule', { n: 5 }), { kind: 'type-module', got: 5 });
});

test("require and import of a package from the app's node_modules", async () => {
  assert.deepEqual(await result('js/dep', { word: 'hey' }), { kind: 'dep', shout: 'HEY!' });
  assert.deepEqual(await result('js/depesm', { word: 'ho' }), { kind: 'depesm', shout: 'HO!' });
});

test('params and the __OW_* environment as OpenWhisk gives them', async () => {
  const { rec } = await invoke('js/cjs', { n: 7, s: 'x' });
  const r = rec.response.result;
  assert.deepEqual(r.params, { FROM_PACKAGE: 'pkg', n: 7, s: 'x' });
  assert.equal(r.env.__OW_ACTIVATION_ID, rec.activationId);
  assert.equal(r.env.__OW_ACTION_NAME, '/evkit/js/cjs');
  assert.equal(r.env.__OW_NAMESPACE, 'evkit');
  assert.equal(r.env.__OW_API_HOST, ek.url);
  assert.equal(r.env.EVKIT_ADOBE_ENDPOINT, ek.url);
  // Its own key, not the daemon's token.
  assert.ok(r.env.__OW_API_KEY.startsWith(`${rec.activationId}:`), r.env.__OW_API_KEY);
  assert.notEqual(r.env.__OW_API_KEY, key);
  const deadline = Number(r.env.__OW_DEADLINE);
  assert.ok(Math.abs(deadline - (rec.start + 60000)) < 1000, `deadline ${deadline}, start ${rec.start}`);
  assert.ok(rec.annotations.some((a) => a.key === 'kind' && a.value === 'nodejs:16'));
  // The next activation sees its own values, not the previous one's.
  const { rec: rec2 } = await invoke('js/cjs', {});
  assert.equal(rec2.response.result.env.__OW_ACTIVATION_ID, rec2.activationId);
  assert.deepEqual(rec2.response.result.params, { FROM_PACKAGE: 'pkg' });
});

test('a web action answers its statusCode, headers and body', async () => {
  const r = await fetch(`${ek.webUrl('js/web')}/some/path?name=ada`);
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('x-js'), 'yes');
  assert.deepEqual(await r.json(), { method: 'get', path: '/some/path', hello: 'ada' });
});

test('a throw and a rejection are application errors; {error} too', async () => {
  for (const how of ['throw', 'reject']) {
    const { status, rec } = await invoke('js/fail', { how });
    assert.equal(status, 502);
    assert.equal(rec.response.status, 'application error', JSON.stringify(rec.response));
    assert.equal(rec.response.result.error.message, `${how === 'throw' ? 'thrown' : 'rejected'} on purpose`);
  }
  const { rec } = await invoke('js/fail', { how: 'error' });
  assert.equal(rec.response.status, 'application error');
  assert.deepEqual(rec.response.result, { error: { code: 42 } });
  await assert.rejects(ow.actions.invoke({ name: 'js/fail', blocking: true, params: { how: 'throw' } }),
    (err) => err.statusCode === 502);
  assert.deepEqual(await result('js/fail', {}), { ok: true });
});

test('a function file that does not load, or lacks its main, is a developer error each time', async () => {
  for (let i = 0; i < 2; i++) {
    const { status, rec } = await invoke('js/broken', {});
    assert.equal(status, 502);
    assert.equal(rec.response.status, 'action developer error');
    assert.match(rec.response.result.error, /^Initialization has failed due to: Error: broken at load/);
    assert.ok(rec.logs.some((l) => l.includes('stderr: Initialization has failed')), JSON.stringify(rec.logs));
  }
  const { rec } = await invoke('js/nomain', {});
  assert.equal(rec.response.status, 'action developer error');
  assert.match(rec.response.result.error, /exports\.js exports no function 'absent'/);
});

test('console.* and direct process.stdout/stderr writes are the activation logs', async () => {
  const { rec } = await invoke('js/logs', { n: 9 });
  assert.equal(rec.response.success, true);
  // stdout and stderr are two pipes: the order within each is kept, not the
  // interleaving between them (as on OpenWhisk, whose logs have one per stream).
  const lines = rec.logs.map((l) => l.replace(/^\S+ /, ''));
  const of = (stream) => lines.filter((l) => l.startsWith(`${stream}: `));
  assert.equal(lines.length, 4, JSON.stringify(lines));
  assert.deepEqual(of('stdout'), ['stdout: console.log line 9', 'stdout: direct stdout write']);
  assert.deepEqual(of('stderr'), ['stderr: console.error line', 'stderr: direct stderr write']);
  const { rec: again } = await invoke('js/logs', { n: 10 });
  assert.equal(again.logs.length, 4, 'nothing of the previous activation');
});

test('processes are warm; a timeout kills the process and the next activation gets a fresh one', async () => {
  const first = await invoke('js/slow', { ms: 0 });
  const pid = first.rec.response.result.pid;
  const second = await invoke('js/slow', { ms: 0 });
  assert.equal(second.rec.response.result.pid, pid, 'the same process');
  assert.ok(!second.rec.annotations.some((a) => a.key === 'initTime'), 'warm: no initTime');
  const t0 = Date.now();
  const late = await invoke('js/slow', { ms: 10000 });
  assert.ok(Date.now() - t0 < 5000, `answered after ${Date.now() - t0} ms`);
  assert.equal(late.rec.response.status, 'action developer error');
  assert.match(late.rec.response.result.error, /time limit of 1500 milliseconds/);
  assert.ok(late.rec.annotations.some((a) => a.key === 'timeout' && a.value === true));
  assert.throws(() => process.kill(pid, 0), 'the timed-out process is gone');
  const next = await invoke('js/slow', { ms: 0 });
  assert.equal(next.rec.response.success, true);
  assert.notEqual(next.rec.response.result.pid, pid);
  assert.ok(next.rec.annotations.some((a) => a.key === 'initTime'), 'cold again');
});

test('running out of memory is a developer error naming the limit; the next activation recovers', async () => {
  const pid = (await result('js/hog', {})).pid;
  const { rec } = await invoke('js/hog', { hog: true });
  assert.equal(rec.response.status, 'action developer error');
  assert.match(rec.response.result.error, /memory limit of 128 MB/);
  const next = await result('js/hog', {});
  assert.notEqual(next.pid, pid);
});

test('a consumer calls its handler through the openwhisk npm client with its own key: causedBy', async () => {
  const rec = await ow.actions.invoke({ name: 'js/consumer', blocking: true, params: { data: { sku: 'S1' } } });
  const r = rec.response.result;
  assert.equal(r.me, rec.activationId);
  assert.equal(r.success, true);
  assert.equal(r.status, 'success');
  assert.deepEqual(r.result, { statusCode: 200, body: { handled: { sku: 'S1' }, activation: r.handlerId } });
  const handler = await ow.activations.get({ name: r.handlerId });
  assert.equal(handler.cause, rec.activationId);
  assert.ok(handler.annotations.some((a) => a.key === 'causedBy' && a.value === rec.activationId));
  // A key of another shape, a forged one and an expired one are refused.
  const basic = (k) => ({ authorization: `Basic ${Buffer.from(k).toString('base64')}` });
  const url = `${ek.url}/api/v1/namespaces/_/actions/js/exports?blocking=true`;
  const forged = `${rec.activationId}:${Date.now() + 60000}.${'0'.repeat(64)}`;
  const cjs = (await invoke('js/cjs', {})).rec;
  const real = cjs.response.result.env.__OW_API_KEY;
  const [id, rest] = real.split(':');
  const moved = `${id}:${Number(rest.split('.')[0]) + 1}.${rest.split('.')[1]}`;
  for (const k of [forged, moved, 'nobody:nothing']) {
    for (const headers of [basic(k), { authorization: `Bearer ${k}` }]) {
      const r2 = await fetch(url, { method: 'POST', headers });
      assert.equal(r2.status, 401, `${k} ${headers.authorization}`);
    }
  }
  // The real one, still within its deadline, is taken: caused by that activation.
  const ok = await fetch(url, { method: 'POST', headers: basic(real) });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).cause, cjs.activationId);
  const bearer = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${real}` } });
  assert.equal(bearer.status, 200);
  assert.equal((await bearer.json()).cause, cjs.activationId);
});

test('the launcher is written to a private folder (0700) removed when evkit stops', async () => {
  const dirs = readdirSync(tmp).filter((n) => n.startsWith('evkit-node-'));
  assert.equal(dirs.length, 1, JSON.stringify(dirs));
  const dir = path.join(tmp, dirs[0]);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(dir).sort(), ['launcher.js', 'preload.js']);
  assert.equal(readFileSync(path.join(dir, 'launcher.js'), 'utf8'), readFileSync(path.join(here, '../../nodejs/launcher.js'), 'utf8'));
  await ek.stop();
  assert.equal(existsSync(dir), false);
  await ek.start();
});

// `evkit check` and `evkit action invoke` with EVKIT_NODE set as given.
function run(args, envNode, dir = app) {
  return spawnSync(bin, args, { env: { ...process.env, EVKIT_APP: dir, EVKIT_NODE: envNode }, encoding: 'utf8', timeout: 60000 });
}

test('evkit check: no node, and a node older than the declared runtime', () => {
  const ok = run(['check'], '');
  assert.equal(ok.status, 0, ok.stderr);
  const none = run(['check'], '/nonexistent');
  assert.equal(none.status, 1);
  assert.match(none.stderr, /nodejs action\(s\) .* cannot run: EVKIT_NODE=\/nonexistent: No such file/);
  // A node that says it is 18, for an app whose actions declare nodejs:20.
  const dir = mkdtempSync(path.join(tmpdir(), 'evkit-oldnode-'));
  try {
    const fake = path.join(dir, 'node');
    writeFileSync(fake, '#!/bin/sh\necho v18.19.0\n');
    chmodSync(fake, 0o755);
    const old = run(['check'], fake);
    assert.equal(old.status, 1);
    assert.match(old.stderr, /\(js\/typemodule\) cannot run: it declares nodejs:20 but \S+ is Node\.js 18/);
    assert.doesNotMatch(old.stderr, /nodejs:16|nodejs:18 but/, 'older declarations run on 18');
    const inv = run(['action', 'invoke', 'js/typemodule'], fake);
    assert.equal(inv.status, 1);
    assert.match(inv.stdout + inv.stderr, /declares nodejs:20 but \S+ is Node\.js 18/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("evkit check accepts the commerce starter kit (list-form events.json, nodejs:16), ingestion enabled", { skip: !existsSync(path.join(KIT, 'app.config.yaml')) && 'no starter kit copy' }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'evkit-kitcheck-'));
  try {
    cpSync(KIT, dir, { recursive: true, filter: (s) => !s.includes('node_modules') });
    const cfg = path.join(dir, 'app.config.yaml');
    // Uncommented as the kit's README says.
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^( {4})#/gm, '$1'));
    assert.match(readFileSync(cfg, 'utf8'), /^ {6}ingestion:\n {8}license: Apache-2.0\n {8}actions:\n {10}\$include: \.\/actions\/ingestion/m);
    const r = run(['check'], '', dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok: 34 action\(s\), 0 registration\(s\), 2 provider\(s\), 21 event code\(s\)/);
    assert.doesNotMatch(r.stderr, /error/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
