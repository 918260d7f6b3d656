// The namespaces API against the official `openwhisk` npm client, an
// independent peer: blocking invokes, activations, auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import openwhisk from 'openwhisk';
import path from 'node:path';
import { Evkit, fixtures } from './lib/evkit.mjs';

const key = '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';
let ek;
let ow;
before(async () => {
  ek = await new Evkit({ app: path.join(fixtures, 'runtime'), env: { EVKIT_API_TOKENS: `other-token,${key}` } }).start();
  ow = openwhisk({ apihost: ek.url, api_key: key, namespace: 'evkit' });
});
after(async () => { await ek.stop(); ek.cleanup(); });

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
