// Issue 2 end to end: the bundled app's ingestion webhook on the real
// binary, the journal seen through the CLI, durability across kill -9.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { Evkit, seedExample, copyApp } from './lib/evkit.mjs';

let ek;
before(async () => { ek = await new Evkit().start(); });
after(async () => { await ek.stop(); ek.cleanup(); });

const okBody = (type) => ({ type, response: { success: true, message: 'Event published successfully' } });

test('the seed example is accepted with exactly the documented body and journaled as a CloudEvent', async () => {
  const r = await ek.post('ingestion/webhook', seedExample);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, okBody('be-observer.catalog_product_create'));
  assert.match(r.headers.get('x-openwhisk-activation-id'), /^[0-9a-f]{32}$/);

  const events = ek.events(['--provider', 'backoffice']);
  assert.equal(events.length, 1);
  const { position, event } = events[0];
  assert.equal(position, 1);
  assert.equal(event.specversion, '1.0');
  assert.equal(event.type, 'be-observer.catalog_product_create');
  assert.match(event.source, /^urn:uuid:[0-9a-f-]{36}$/);
  assert.match(event.id, /^[0-9a-f-]{36}$/);
  assert.equal(event.datacontenttype, 'application/json');
  assert.deepEqual(event.data, seedExample.data.value);
  assert.ok(!Number.isNaN(Date.parse(event.time)));

  // The human form of the list shows the same CloudEvent.
  const plain = ek.cli(['event', 'list']);
  assert.equal(plain.code, 0);
  assert.match(plain.stdout, /"type":"be-observer.catalog_product_create"/);
});

test('the provider keeps its UUID: every backoffice event has the same source', async () => {
  const r = await ek.post('ingestion/webhook', { data: { uid: 'src-check', event: 'be-observer.customer_create', value: { email: 'a@b.c' } } });
  assert.equal(r.status, 200, r.text);
  const events = ek.events(['--provider', 'backoffice']);
  assert.ok(events.length >= 2);
  assert.equal(new Set(events.map((e) => e.event.source)).size, 1);
});

test('the same uid twice yields one event', async () => {
  const body = { data: { uid: 'dup-1', event: 'be-observer.catalog_product_update', value: { sku: 'D1', name: 'n', description: 'd', price: 2 } } };
  const before1 = ek.events().length;
  const a = await ek.post('ingestion/webhook', body);
  const b = await ek.post('ingestion/webhook', body);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.deepEqual(b.json, okBody('be-observer.catalog_product_update'));
  const after1 = ek.events();
  assert.equal(after1.length, before1 + 1);
  assert.equal(after1.filter((e) => e.event.type === 'be-observer.catalog_product_update' && e.event.data.sku === 'D1').length, 1);
});

test('every backoffice event the seed lists is accepted', async () => {
  const codes = [
    'be-observer.catalog_product_create', 'be-observer.catalog_product_update', 'be-observer.catalog_product_delete',
    'be-observer.customer_create', 'be-observer.customer_update', 'be-observer.customer_delete',
    'be-observer.customer_group_create', 'be-observer.customer_group_update', 'be-observer.customer_group_delete',
    'be-observer.sales_order_status_update', 'be-observer.sales_order_shipment_create', 'be-observer.sales_order_shipment_update',
    'be-observer.catalog_stock_update',
  ];
  for (const [i, code] of codes.entries()) {
    const r = await ek.post('ingestion/webhook', { data: { uid: `all-${i}`, event: code, value: { sku: 'X', id: i } } });
    assert.equal(r.status, 200, `${code}: ${r.text}`);
    assert.deepEqual(r.json, okBody(code));
  }
});

test('invalid requests get their exact status and message', async () => {
  const cases = [
    [{ data: { event: 'be-observer.catalog_product_create', value: {} } }, 400, "missing parameter(s) 'data.uid'"],
    [{ data: { uid: 'x', value: {} } }, 400, "missing parameter(s) 'data.event'"],
    [{ data: { uid: 'x', event: 'be-observer.catalog_product_create' } }, 400, "missing parameter(s) 'data.value'"],
    [{}, 400, "missing parameter(s) 'data.uid, data.event, data.value'"],
    [{ data: { uid: 'x', event: 'be-observer.nope', value: {} } }, 400, 'Unable to publish event be-observer.nope: Unknown event type'],
    // A commerce code is not a backoffice event.
    [{ data: { uid: 'x', event: 'com.adobe.commerce.observer.catalog_product_save_commit_after', value: {} } }, 400,
      'Unable to publish event com.adobe.commerce.observer.catalog_product_save_commit_after: Unknown event type'],
  ];
  const n = ek.events().length;
  for (const [body, status, error] of cases) {
    const r = await ek.post('ingestion/webhook', body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.deepEqual(r.json, { error }, JSON.stringify(body));
  }
  assert.equal(ek.events().length, n, 'nothing journaled for invalid requests');
});

test('malformed JSON, oversized bodies and reserved params are refused with a JSON error', async () => {
  let r = await ek.post('ingestion/webhook', '{"data": {"uid": ');
  assert.equal(r.status, 400);
  assert.match(r.json.error, /not valid JSON/);

  r = await ek.post('ingestion/webhook', JSON.stringify({ data: { uid: 'big', event: 'be-observer.catalog_product_create', value: { blob: 'x'.repeat(1024 * 1024) } } }));
  assert.equal(r.status, 413);
  assert.match(r.json.error, /exceeds the limit of 1048576 bytes/);

  r = await ek.post('ingestion/webhook', { ...seedExample, __ow_method: 'get' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /not allowed/);

  // final: true: a request cannot override a declared input.
  r = await ek.post('ingestion/webhook', { ...seedExample, LOG_LEVEL: 'error' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /not allowed/);
});

test('unknown and non-web actions are not reachable on the web route; /healthz answers', async () => {
  let r = await fetch(ek.webUrl('ingestion/nope'));
  assert.equal(r.status, 404);
  assert.ok((await r.json()).error);
  r = await fetch(ek.webUrl('product-commerce/consumer'));
  assert.equal(r.status, 404);
  r = await fetch(`${ek.url}/api/v1/web/other-namespace/ingestion/webhook`, { method: 'POST', body: '{}' });
  assert.equal(r.status, 404);
  r = await fetch(`${ek.url}/healthz`);
  assert.equal(r.status, 200);
});

test('evkit action get --url prints exactly the URL the running server answers', async () => {
  const r = ek.cli(['action', 'get', 'ingestion/webhook', '--url']);
  assert.equal(r.code, 0, r.stderr);
  const url = r.stdout.trim();
  assert.equal(url, ek.webUrl('ingestion/webhook'));
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { ...seedExample.data, uid: 'via-url' } }) });
  assert.equal(res.status, 200);
});

test('a kill -9 right after a 200 loses nothing', async () => {
  const e2 = await new Evkit().start();
  try {
    const uids = [];
    const posts = [];
    for (let i = 0; i < 20; i++) {
      uids.push(`k9-${i}`);
      posts.push(e2.post('ingestion/webhook', { data: { uid: `k9-${i}`, event: 'be-observer.catalog_product_create', value: { sku: `S${i}`, name: `n${i}`, description: 'd', price: i } } }));
    }
    const results = await Promise.all(posts);
    for (const r of results) assert.equal(r.status, 200);
    await e2.kill9();
    await e2.start();
    const events = e2.events();
    const skus = new Set(events.map((e) => e.event.data.sku));
    for (let i = 0; i < 20; i++) assert.ok(skus.has(`S${i}`), `S${i} survived`);
    // Positions stay monotonic after the restart.
    const r = await e2.post('ingestion/webhook', { data: { uid: 'after-restart', event: 'be-observer.catalog_product_update', value: { sku: 'AR', name: 'n', description: 'd' } } });
    assert.equal(r.status, 200);
    const all = e2.events();
    const positions = all.map((e) => e.position);
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
    assert.equal(new Set(positions).size, positions.length);
  } finally {
    await e2.stop();
    e2.cleanup();
  }
});

test('authentication: a shared token header and Standard Webhooks signatures', async () => {
  const app = copyApp();
  const secret = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
  writeFileSync(path.join(app, '.env'), 'INGESTION_WEBHOOK_TOKEN=tok-123\nINGESTION_WEBHOOK_TOKEN_HEADER=x-webhook-token\n');
  let e2 = await new Evkit({ app }).start();
  try {
    let r = await e2.post('ingestion/webhook', seedExample);
    assert.equal(r.status, 401);
    assert.ok(r.json.error);
    r = await e2.post('ingestion/webhook', seedExample, { 'x-webhook-token': 'wrong' });
    assert.equal(r.status, 401);
    r = await e2.post('ingestion/webhook', seedExample, { 'x-webhook-token': 'tok-123' });
    assert.equal(r.status, 200, r.text);
    assert.ok(!e2.stderr.includes('tok-123'), 'the token never reaches the logs');
  } finally { await e2.stop(); e2.cleanup(); }

  writeFileSync(path.join(app, '.env'), `INGESTION_WEBHOOK_SECRET=${secret}\n`);
  e2 = await new Evkit({ app }).start();
  try {
    const wh = new Webhook(secret);
    const body = JSON.stringify(seedExample);
    const id = 'msg_1';
    const ts = new Date();
    const sig = wh.sign(id, ts, body);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)), 'webhook-signature': sig };
    let r = await e2.post('ingestion/webhook', body, headers);
    assert.equal(r.status, 200, r.text);
    r = await e2.post('ingestion/webhook', body.replace('Product SKU', 'Product SKX'), headers);
    assert.equal(r.status, 401, 'a tampered body fails');
    const old = new Date(Date.now() - 10 * 60 * 1000);
    r = await e2.post('ingestion/webhook', body, { ...headers, 'webhook-timestamp': String(Math.floor(old.getTime() / 1000)), 'webhook-signature': wh.sign(id, old, body) });
    assert.equal(r.status, 401, 'an old timestamp fails');
    r = await e2.post('ingestion/webhook', body, headers);
    assert.equal(r.status, 401, 'a replayed request (same webhook-id) fails');
    assert.match(r.json.error, /replayed webhook-id/);
    const ahead = new Date(Date.now() + 10 * 60 * 1000);
    r = await e2.post('ingestion/webhook', body, { 'webhook-id': 'msg_2', 'webhook-timestamp': String(Math.floor(ahead.getTime() / 1000)), 'webhook-signature': wh.sign('msg_2', ahead, body) });
    assert.equal(r.status, 401, 'a timestamp too far ahead fails');
    const fresh = new Date();
    r = await e2.post('ingestion/webhook', body, { 'webhook-id': 'msg_3', 'webhook-timestamp': String(Math.floor(fresh.getTime() / 1000)), 'webhook-signature': wh.sign('msg_3', fresh, body) });
    assert.equal(r.status, 200, 'a new webhook-id passes');
    r = await e2.post('ingestion/webhook', body);
    assert.equal(r.status, 401, 'no signature fails');
    assert.ok(!e2.stderr.includes(secret));
  } finally { await e2.stop(); e2.cleanup(); rmSync(app, { recursive: true, force: true }); }
});

test('at debug level params are logged, with secrets hidden', async () => {
  const e2 = await new Evkit({ env: { EVKIT_LOG_LEVEL: 'debug' } }).start();
  try {
    const r = await e2.post('ingestion/webhook', { ...seedExample, client_secret: 'x9x9-not-for-logs', api_token: 't0k-not-for-logs' },
      { authorization: 'Bearer sup3rs3cret-not-for-logs' });
    assert.equal(r.status, 200, r.text);
    const line = e2.logs().find((l) => l.message === 'web action params');
    assert.ok(line, 'the params line is there');
    assert.equal(line.params.client_secret, '<hidden>');
    assert.equal(line.params.__ow_headers.authorization, '<hidden>');
    assert.deepEqual(line.params.data, seedExample.data);
    for (const secret of ['x9x9-not-for-logs', 't0k-not-for-logs', 'sup3rs3cret-not-for-logs']) {
      assert.ok(!e2.stderr.includes(secret), `${secret} is not in the daemon log`);
      const acts = e2.cli(['activation', 'list', '--json', '--limit', '5']).stdout;
      assert.ok(!acts.includes(secret), `${secret} is not in the activation records`);
    }
  } finally { await e2.stop(); e2.cleanup(); }
});
