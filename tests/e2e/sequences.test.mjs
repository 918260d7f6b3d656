// Sequences of the OpenWhisk manifest (tests/e2e/fixtures/flows): invoked
// through the namespaces API with the official `openwhisk` client, as a web
// action, and as a registration's runtime_action; each step one activation
// caused by the sequence's; an error stops the chain; bad declarations are
// refused by `evkit check`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, rmSync } from 'node:fs';
import openwhisk from 'openwhisk';
import { Evkit, fixtures, copyApp } from './lib/evkit.mjs';
import { activations, annotation, deadletters } from './lib/fixture.mjs';

const token = 'seq-token-0123456789abcdef0123456789abcd';
const app = path.join(fixtures, 'flows');
let ek;
let ow;
before(async () => {
  ek = await new Evkit({ app, env: { EVKIT_API_TOKENS: token } }).start();
  ow = openwhisk({ apihost: ek.url, api_key: token, namespace: '_' });
});
after(async () => { await ek.stop(); ek.cleanup(); });

const auth = { authorization: `Bearer ${token}` };

async function record(id) {
  const r = await fetch(`${ek.url}/api/v1/namespaces/_/activations/${id}`, { headers: auth });
  assert.equal(r.status, 200, `activation ${id}`);
  return r.json();
}

// The step activations of sequence activation id, in order (its logs list
// them); every activation caused by it must be one of them.
async function children(id) {
  const rec = await record(id);
  const steps = await Promise.all(rec.logs.map(record));
  const caused = ek.cliJson(['activation', 'list', '--limit', '10000']).filter((a) => a.cause === id);
  assert.deepEqual(caused.map((a) => a.activationId).sort(), [...rec.logs].sort());
  for (const s of steps) assert.equal(annotation(s, 'causedBy'), id);
  return steps;
}

test('the namespaces API describes a sequence as OpenWhisk does', async () => {
  const r = await fetch(`${ek.url}/api/v1/namespaces/_/actions/steps/calc`, { headers: auth });
  assert.equal(r.status, 200);
  const a = await r.json();
  assert.equal(a.exec.kind, 'sequence');
  assert.deepEqual(a.exec.components, ['/evkit/steps/double', '/evkit/steps/inc', '/evkit/steps/double']);
});

test('each step gets the result of the one before, over its own inputs', async () => {
  const act = await ow.actions.invoke({ name: 'steps/calc', blocking: true, params: { n: 5 } });
  assert.equal(act.response.success, true);
  // ((5 * 2) + STEP 1) * 2
  assert.equal(act.response.result.n, 22);
  assert.deepEqual(act.response.result.trail, ['double', 'inc', 'double']);
  assert.equal(act.response.result.pkg, 'from-package');
  assert.equal(annotation(act, 'kind'), 'sequence');
  // One activation per step, caused by the sequence's, listed in its logs.
  const rec = await record(act.activationId);
  assert.equal(rec.logs.length, 3);
  const steps = await Promise.all(rec.logs.map(record));
  assert.deepEqual(steps.map((s) => s.path), ['steps/double', 'steps/inc', 'steps/double']);
  for (const s of steps) {
    assert.equal(s.cause, act.activationId);
    assert.equal(annotation(s, 'causedBy'), act.activationId);
  }
  assert.equal(steps[0].response.result.n, 10);
  assert.equal(steps[1].response.result.n, 11);
});

test('an error stops the chain and is the sequence result', async () => {
  await assert.rejects(
    ow.actions.invoke({ name: 'steps/broken', blocking: true, result: true, params: { n: 4 } }),
    (err) => { assert.equal(err.statusCode, 502); return true; },
  );
  const [seq] = activations(ek, 'steps/broken').slice(-1);
  assert.equal(seq.response.status, 'application error');
  assert.equal(seq.response.result.error, 'fail step got n=8');
  const steps = await children(seq.activationId);
  // double and fail ran; inc did not.
  assert.deepEqual(steps.map((s) => s.path), ['steps/double', 'steps/fail']);
  assert.equal(seq.logs.length, 2);
});

test('a sequence in another package nests a sequence, by package-qualified names', async () => {
  const res = await ow.actions.invoke({ name: 'other/nested', blocking: true, result: true, params: { n: 5 } });
  // inc: 6, then calc: ((6 * 2) + 1) * 2
  assert.equal(res.n, 26);
  assert.deepEqual(res.trail, ['inc', 'double', 'inc', 'double']);
  const [outer] = activations(ek, 'other/nested').slice(-1);
  const direct = await children(outer.activationId);
  assert.deepEqual(direct.map((s) => s.path), ['steps/inc', 'steps/calc']);
  assert.equal((await children(direct[1].activationId)).length, 3);
});

test('a sequence with web: yes is a web action', async () => {
  const r = await ek.post('steps/calc', { n: 1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.n, 6);
  assert.deepEqual(r.json.trail, ['double', 'inc', 'double']);
});

async function publish(type, data) {
  const prov = await (await fetch(`${ek.url}/api/v1/providers/shop`, { headers: auth })).json();
  const r = await fetch(`${ek.url}/api/v1/events`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: `${type}-${data.id}`, source: `urn:uuid:${prov.id}`, type, data }),
  });
  assert.equal(r.status, 200, await r.text());
}

async function stateOf(key) {
  const r = await fetch(`${ek.url}/api/v1/namespaces/_/state/${key}`, { headers: auth });
  return r.status === 200 ? (await r.json()).value : null;
}

test('a registration delivers to a sequence (runtime_action)', async () => {
  await publish('order.created', { id: 'o-7', n: 7 });
  const stored = await ek.waitFor(() => stateOf('seq.o-7'), { what: 'the sequence to store o-7' });
  // extract (n = 7), double (14), store.
  assert.equal(stored.n, 14);
  assert.deepEqual(stored.trail, ['double']);
  const [trace] = ek.cliJson(['trace', 'list', '--registration', 'orders', '--outcome', 'success']).traces;
  const seq = await record(trace.activationId);
  assert.equal(seq.path, 'steps/consume');
  assert.deepEqual((await children(seq.activationId)).map((s) => s.path), ['steps/extract', 'steps/double', 'steps/store']);
});

test('a failing step of a registration sequence gives the delivery its status', async () => {
  await publish('order.broken', { id: 'o-8' });
  const [dl] = await ek.waitFor(() => {
    const l = deadletters(ek, 'orders');
    return l.length ? l : null;
  }, { what: 'the dead letter' });
  assert.equal(dl.reason, 'rejected');
  assert.equal(dl.last_status ?? dl.lastStatus, 400);
  assert.equal(await stateOf('seq.o-8'), null);
  const seq = activations(ek, 'steps/consume').find((a) => a.response.status !== 'success');
  assert.deepEqual((await children(seq.activationId)).map((s) => s.path), ['steps/extract']);
});

test('evkit check refuses unknown steps, cycles and empty sequences, naming them', () => {
  const dir = copyApp(app);
  try {
    const cfg = `application:
  runtimeManifest:
    packages:
      p:
        actions:
          a:
            function: actions/steps/inc.lua
            runtime: lua
        sequences:
          missing:
            actions: a, nope
          loop1:
            actions: a, loop2
          loop2:
            actions: loop1
          empty:
            actions: ''
`;
    writeFileSync(path.join(dir, 'app.config.yaml'), cfg);
    const r = ek.cli(['check', '--app', dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /step 'nope' of sequence 'p\/missing' names no action of this app/);
    assert.match(out, /sequence 'p\/loop\d' contains itself/);
    assert.match(out, /sequence 'p\/empty'/);
    assert.match(out, /app\.config\.yaml:\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
