// A full disk (issue 15, defect 10): every API that writes the journal
// answers 503 with Retry-After and a correct JSON error naming what was
// refused, and serves again once there is room. The journal lives on a small
// tmpfs of its own (mounting needs root; elsewhere the test is skipped). Run
// with EVKIT_BIN on the ASan build, the harness fails on any sanitizer report
// (the error text once carried the event type from freed memory).
// On JetStream (EVKIT_TEST_STORE=nats) the tmpfs holds the nats-server's
// store: nats-server 2.9 turns JetStream off when its disk is full, until it
// is restarted, so there the service comes back with the server's restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Evkit, seedExample, testStore, stopNats, restartNats } from './lib/evkit.mjs';

const TOKEN = 'diskfull-test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';

const root = mkdtempSync(path.join(tmpdir(), 'evkit-diskfull-'));
let mounted = false;
let why = 'needs root to mount a tmpfs';
if (process.getuid && process.getuid() === 0) {
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', root], { encoding: 'utf8' });
  mounted = m.status === 0;
  if (!mounted) why = `cannot mount a tmpfs: ${m.stderr.trim()}`;
}

let ek;
let source;
before(async () => {
  if (!mounted) return;
  mkdirSync(path.join(root, 'data'));
  ek = new Evkit({ data: path.join(root, 'data'), env: { EVKIT_API_TOKENS: TOKEN } });
  await ek.start();
  const line = ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce');
  source = `urn:uuid:${line.id}`;
});
after(async () => {
  try {
    if (ek) await ek.stop();
  } finally {
    if (ek) stopNats(ek.data); // its store is on the tmpfs
    if (mounted) spawnSync('umount', [root]);
    rmSync(root, { recursive: true, force: true });
  }
});

// Fills the filesystem to the last byte; returns how to give the room back.
function fill() {
  const dir = path.join(root, 'filler');
  mkdirSync(dir, { recursive: true });
  let i = 0;
  for (const size of [256 * 1024, 16 * 1024, 1024, 64]) {
    try { for (;;) writeFileSync(path.join(dir, `f${i++}`), Buffer.alloc(size, 1)); } catch (e) {
      if (e.code !== 'ENOSPC') throw e;
    }
  }
  return () => { for (const f of readdirSync(dir)) rmSync(path.join(dir, f)); };
}

const event = (id) => ({ specversion: '1.0', id, source, type: SAVE, data: { value: { sku: `SKU-${id}`, blob: 'x'.repeat(40000) } } });

async function post(url, body, headers = {}) {
  const r = await fetch(`${ek.url}${url}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* checked below */ }
  return { status: r.status, headers: r.headers, text, json };
}

// why: what the error must say (the disk is full, or on JetStream after the first refusal:
// JetStream is off).
function unavailable(r, what, why = /disk is full/) {
  assert.equal(r.status, 503, `${what}: ${r.text}`);
  assert.ok(Number(r.headers.get('retry-after')) > 0, `${what}: Retry-After ${r.headers.get('retry-after')}`);
  assert.ok(r.json && typeof r.json.error === 'string', `${what}: not a JSON error: ${r.text}`);
  assert.match(r.json.error, why, what);
}

test('a full disk: 503 with Retry-After and an exact JSON error on every door, then service again',
  { skip: (!mounted && why) || (testStore === 'nats' && 'SQLite: see the JetStream test below') }, async () => {
  const free = fill();
  try {
    let r = await post('/api/v1/events', event('full-1'), { 'content-type': 'application/cloudevents+json' });
    unavailable(r, 'publishing API');
    assert.match(r.json.error, new RegExp(`^Unable to publish event ${SAVE.replace(/\./g, '\\.')}: `));
    r = await post('/api/v1/events', [event('full-2'), event('full-3')], { 'content-type': 'application/cloudevents-batch+json' });
    unavailable(r, 'publishing API, batch');
    assert.match(r.json.error, new RegExp(`^Unable to publish event ${SAVE.replace(/\./g, '\\.')}: `));
    r = await post('/api/v1/web/evkit/ingestion/webhook', { data: { ...seedExample.data, uid: 'full-webhook', value: { ...seedExample.data.value, blob: 'y'.repeat(40000) } } });
    unavailable(r, 'ingestion webhook');
    r = await post('/api/v1/registrations', { name: 'full-reg', description: 'x'.repeat(40000), events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }], runtime_action: 'product-commerce/consumer' });
    unavailable(r, 'registrations API');
  } finally {
    free();
  }
  const r = await post('/api/v1/events', event('full-4'), { 'content-type': 'application/cloudevents+json' });
  assert.equal(r.status, 200, r.text);
  const w = await post('/api/v1/web/evkit/ingestion/webhook', { data: { ...seedExample.data, uid: 'after-full' } });
  assert.equal(w.status, 200, w.text);
  const ids = ek.events().map((e) => e.event.publisherid);
  assert.ok(ids.includes('full-4'));
  assert.ok(!ids.includes('full-1') && !ids.includes('full-2'), 'nothing refused was journaled');
});

test('JetStream on a full disk: 503 with Retry-After and a clear JSON error on every door, nothing accepted lost, service again after the server restarts',
  { skip: (!mounted && why) || (testStore !== 'nats' && 'JetStream only (EVKIT_TEST_STORE=nats)') }, async () => {
  let r = await post('/api/v1/events', event('kept-1'), { 'content-type': 'application/cloudevents+json' });
  assert.equal(r.status, 200, r.text);
  const free = fill();
  try {
    // The first write to meet the full disk is refused as such; nats-server 2.9's JetStream
    // then answers nothing more until it is restarted. That may be this request's or one of
    // the server's own writes.
    const off = /disk is full|the NATS server did not answer in time .*full disk/;
    r = await post('/api/v1/events', event('full-1'), { 'content-type': 'application/cloudevents+json' });
    unavailable(r, 'publishing API', off);
    assert.match(r.json.error, new RegExp(`^Unable to publish event ${SAVE.replace(/\./g, '\\.')}: `));
    r = await post('/api/v1/events', [event('full-2'), event('full-3')], { 'content-type': 'application/cloudevents-batch+json' });
    unavailable(r, 'publishing API, batch', off);
    assert.match(r.json.error, new RegExp(`^Unable to publish event ${SAVE.replace(/\./g, '\\.')}: `));
    r = await post('/api/v1/web/evkit/ingestion/webhook', { data: { ...seedExample.data, uid: 'full-webhook', value: { ...seedExample.data.value, blob: 'y'.repeat(40000) } } });
    unavailable(r, 'ingestion webhook', off);
    r = await post('/api/v1/registrations', { name: 'full-reg', description: 'x'.repeat(40000), events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }], runtime_action: 'product-commerce/consumer' });
    unavailable(r, 'registrations API', off);
  } finally {
    free();
  }
  restartNats(ek.data);
  r = await ek.waitFor(async () => {
    const x = await post('/api/v1/events', event('full-4'), { 'content-type': 'application/cloudevents+json' });
    return x.status === 200 ? x : (x.status === 503 ? null : assert.fail(x.text));
  }, { timeout: 30000, what: 'publishing again after the restart' });
  const w = await post('/api/v1/web/evkit/ingestion/webhook', { data: { ...seedExample.data, uid: 'after-full' } });
  assert.equal(w.status, 200, w.text);
  const ids = ek.events().map((e) => e.event.publisherid);
  assert.ok(ids.includes('kept-1'), 'the event accepted before the disk filled is kept');
  assert.ok(ids.includes('full-4'));
  assert.ok(!ids.includes('full-1') && !ids.includes('full-2'), 'nothing refused was journaled');
});
