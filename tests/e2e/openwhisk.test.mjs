// The namespaces API against the official `openwhisk` npm client, an
// independent peer: blocking invokes, activations, auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import openwhisk from 'openwhisk';
import path from 'node:path';
import { writeFileSync, appendFileSync, chmodSync } from 'node:fs';
import { Evkit } from './lib/evkit.mjs';
import { controlApp } from './lib/fixture.mjs';

const key = '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';
let fx;
let ek;
let ow;
before(async () => {
  fx = controlApp('runtime');
  ek = await new Evkit({ app: fx.app, env: { EVKIT_API_TOKENS: `other-token-0123456789abcdef0123456789ab,${key}` } }).start();
  ow = openwhisk({ apihost: ek.url, api_key: key, namespace: 'evkit' });
});
after(async () => { await ek.stop(); ek.cleanup(); fx.cleanup(); });

test('a blocking invoke with result=true returns the action result', async () => {
  const res = await ow.actions.invoke({ name: 'web/echo', blocking: true, result: true, params: { hello: 'world' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.body.hello, 'world');
});

test('a blocking invoke without result returns the activation record', async () => {
  const act = await ow.actions.invoke({ name: 'web/echo', blocking: true, params: { n: 2 } });
  assert.match(act.activationId, /^[0-9a-f]{32}$/);
  assert.equal(act.response.success, true);
  assert.equal(act.response.status, 'success');
  assert.equal(act.response.result.body.n, 2);
  const got = await ow.activations.get({ name: act.activationId });
  assert.equal(got.activationId, act.activationId);
  assert.equal(got.path, 'web/echo');
  const list = await ow.activations.list({ name: 'web/echo', limit: 5 });
  assert.ok(list.some((a) => a.activationId === act.activationId));
});

test('application errors are 502 and reach the client as errors', async () => {
  await assert.rejects(
    ow.actions.invoke({ name: 'web/teapot', blocking: true, result: true }),
    (err) => { assert.equal(err.statusCode, 502); return true; },
  );
});

test('a wrong key is refused with 401; unknown actions are 404', async () => {
  const bad = openwhisk({ apihost: ek.url, api_key: 'nobody:nothing', namespace: 'evkit' });
  await assert.rejects(bad.actions.invoke({ name: 'web/echo', blocking: true }), (err) => err.statusCode === 401);
  await assert.rejects(ow.actions.invoke({ name: 'web/nope', blocking: true }), (err) => err.statusCode === 404);
});

test('an invoke naming its caller with x-evkit-caused-by carries causedBy', async () => {
  const parent = 'abcdef0123456789abcdef0123456789';
  const r = await fetch(`${ek.url}/api/v1/namespaces/_/actions/web/echo?blocking=true`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(key).toString('base64')}`, 'content-type': 'application/json', 'x-evkit-caused-by': parent },
    body: '{}',
  });
  assert.equal(r.status, 200);
  const act = await r.json();
  assert.equal(act.cause, parent);
  assert.ok(act.annotations.some((a) => a.key === 'causedBy' && a.value === parent));
  const bad = await fetch(`${ek.url}/api/v1/namespaces/_/actions/web/echo?blocking=true`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'x-evkit-caused-by': 'not-an-id' },
  });
  const act2 = await bad.json();
  assert.equal(act2.cause, undefined);
});

// A copy of the runtime scenario with slow and calling-back exec actions,
// and a short blocking wait.
async function withSlowApp(fn) {
  const copy = controlApp('runtime');
  const { app } = copy;
  writeFileSync(path.join(app, 'actions/web/sleepy.py'), `#!/usr/bin/env python3
import json, sys, time
p = json.loads(sys.argv[1])
print('going to sleep')
time.sleep(p.get('ms', 0) / 1000)
if p.get('crash'):
    sys.exit(3)
print(json.dumps({'slept': p.get('ms', 0)}))
`);
  writeFileSync(path.join(app, 'actions/web/caller.py'), `#!/usr/bin/env python3
import base64, json, os, urllib.request
host, key = os.environ['__OW_API_HOST'], os.environ['__OW_API_KEY']
req = urllib.request.Request(host + '/api/v1/namespaces/_/actions/web/echo?blocking=true&result=true',
    data=b'{"from": "caller"}', method='POST',
    headers={'content-type': 'application/json', 'authorization': 'Basic ' + base64.b64encode(key.encode()).decode()})
print(json.dumps({'echoed': json.loads(urllib.request.urlopen(req).read())}))
`);
  for (const f of ['sleepy.py', 'caller.py']) chmodSync(path.join(app, 'actions/web', f), 0o755);
  appendFileSync(path.join(app, 'app.config.yaml'), `      ow:
        license: Apache-2.0
        actions:
          sleepy:
            function: actions/web/sleepy.py
            runtime: exec
            web: 'no'
            limits:
              timeout: 5000
          caller:
            function: actions/web/caller.py
            runtime: exec
            web: 'no'
`);
  const e = await new Evkit({ app, env: { EVKIT_API_TOKENS: key, EVKIT_BLOCKING_WAIT: '2500ms' } }).start();
  try {
    await fn(e, openwhisk({ apihost: e.url, api_key: key, namespace: 'evkit' }));
  } finally { await e.stop(); e.cleanup(); copy.cleanup(); }
}

test('non-blocking invokes answer 202 at once and run on; blocking ones past the wait limit answer 202', async () => {
  await withSlowApp(async (e, c) => {
    let t0 = Date.now();
    const nb = await c.actions.invoke({ name: 'ow/sleepy', params: { ms: 3000 } });
    assert.match(nb.activationId, /^[0-9a-f]{32}$/);
    assert.ok(Date.now() - t0 < 2000, `non-blocking answered after ${Date.now() - t0} ms`);
    await assert.rejects(c.activations.get({ name: nb.activationId }), (err) => err.statusCode === 404, 'still running');
    const done = await e.waitFor(async () => c.activations.get({ name: nb.activationId }).catch(() => null), { what: 'the non-blocking activation' });
    assert.equal(done.response.success, true);
    assert.deepEqual(done.response.result, { slept: 3000 });
    const logs = await c.activations.logs({ name: nb.activationId });
    assert.ok(logs.logs.some((l) => l.endsWith('stdout: going to sleep')), JSON.stringify(logs));
    assert.deepEqual((await c.activations.result({ name: nb.activationId })).result, { slept: 3000 });

    // Blocking within the wait: the result, with the id in a header.
    let r = await fetch(`${e.url}/api/v1/namespaces/_/actions/ow/sleepy?blocking=true&result=true`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(key).toString('base64')}`, 'content-type': 'application/json' }, body: '{"ms": 10}',
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('x-openwhisk-activation-id'), /^[0-9a-f]{32}$/);
    assert.deepEqual(await r.json(), { slept: 10 });

    // Blocking past the wait: 202 with the id; the activation finishes anyway.
    t0 = Date.now();
    // (The client asks for the record; a 202 body has only the id.)
    const late = await c.actions.invoke({ name: 'ow/sleepy', blocking: true, params: { ms: 4000 } });
    assert.equal(late.response, undefined);
    const waited = Date.now() - t0;
    assert.ok(waited >= 2400 && waited < 3900, `answered after ${waited} ms`);
    assert.match(late.activationId, /^[0-9a-f]{32}$/);
    const fin = await e.waitFor(async () => c.activations.get({ name: late.activationId }).catch(() => null), { what: 'the late activation' });
    assert.deepEqual(fin.response.result, { slept: 4000 });

    // A developer error (the process exits without a result): 502.
    await assert.rejects(c.actions.invoke({ name: 'ow/sleepy', blocking: true, params: { crash: true } }), (err) => err.statusCode === 502);

    // Exec actions call back with __OW_API_HOST and __OW_API_KEY (Basic uuid:key).
    const back = await c.actions.invoke({ name: 'ow/caller', blocking: true, result: true });
    assert.equal(back.echoed.body.from, 'caller');
  });
});

test('activations list: name, limit, skip, since, upto and docs', async () => {
  await withSlowApp(async (e, c) => {
    const ids = [];
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) {
      ids.push((await c.actions.invoke({ name: 'ow/sleepy', blocking: true, params: { ms: 0 } })).activationId);
      await new Promise((res) => setTimeout(res, 20));
    }
    await c.actions.invoke({ name: 'web/echo', blocking: true });
    const newest = [...ids].reverse();
    let list = await c.activations.list({ name: 'ow/sleepy', limit: 2 });
    assert.deepEqual(list.map((a) => a.activationId), newest.slice(0, 2));
    assert.equal(list[0].logs, undefined, 'without docs: summaries');
    assert.equal(list[0].statusCode, 0);
    list = await c.activations.list({ name: 'ow/sleepy', limit: 2, skip: 2 });
    assert.deepEqual(list.map((a) => a.activationId), newest.slice(2, 4));
    list = await c.activations.list({ name: 'ow/sleepy', docs: true, limit: 1 });
    assert.ok(Array.isArray(list[0].logs));
    assert.ok(list[0].response.success);
    const all = await c.activations.list({ name: 'ow/sleepy', limit: 10 });
    const second = all.find((a) => a.activationId === ids[1]);
    list = await c.activations.list({ name: 'ow/sleepy', since: second.start, limit: 10 });
    assert.deepEqual(list.map((a) => a.activationId), newest.slice(0, 3));
    list = await c.activations.list({ name: 'ow/sleepy', upto: second.start, limit: 10 });
    assert.deepEqual(list.map((a) => a.activationId), [ids[1], ids[0]]);
    list = await c.activations.list({ since: t0, limit: 10 });
    assert.equal(list.length, 5);
    const bad = await fetch(`${e.url}/api/v1/namespaces/_/activations?limit=0`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(bad.status, 400);
  });
});
