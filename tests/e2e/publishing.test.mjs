// The publishing and journaling APIs against the official `cloudevents` npm
// client: structured, binary and batch CloudEvents in, pages of the journal out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CloudEvent, HTTP, Mode, emitterFor, httpTransport } from 'cloudevents';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Evkit, copyApp } from './lib/evkit.mjs';

const token = 'publisher-token-1-0123456789abcdef012345';
let ek;
let commerceSource;
before(async () => {
  ek = await new Evkit({ env: { EVKIT_API_TOKENS: token } }).start();
  const line = ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce');
  commerceSource = `urn:uuid:${line.id}`;
});
after(async () => { await ek.stop(); ek.cleanup(); });

const auth = { authorization: `Bearer ${token}` };
async function send(message, extraHeaders = auth) {
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...message.headers, ...extraHeaders }, body: message.body });
  const text = await r.text();
  return { status: r.status, text, json: text ? JSON.parse(text) : null };
}

const productSaved = (id, sku) => new CloudEvent({
  id, source: commerceSource, type: 'com.adobe.commerce.observer.catalog_product_save_commit_after',
  data: { value: { id: 2, sku, name: 'Joust Duffle Bag', created_at: '2024-06-12 16:31:43', updated_at: '2024-08-05 10:03:49' } },
});

test('a structured CloudEvent from the commerce provider is journaled and delivered', async () => {
  const r = await send(HTTP.structured(productSaved('ce-1', 'SKU-S')));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.events[0].publisherid, 'ce-1');
  assert.equal(r.json.events[0].duplicate, false);
  const ev = ek.events(['--provider', 'commerce']).find((e) => e.event.data.value?.sku === 'SKU-S');
  assert.ok(ev);
  assert.equal(ev.event.source, commerceSource);
  assert.equal(ev.event.publisherid, 'ce-1');
  // The product-commerce registration takes it: its consumer runs.
  await ek.waitFor(() => ek.cliJson(['activation', 'list', '--name', 'product-commerce/consumer']).length > 0, { what: 'consumer activation' });
});

test('binary mode and the same id twice: one event', async () => {
  const msg = HTTP.binary(productSaved('ce-2', 'SKU-B'));
  const a = await send(msg);
  const b = await send(msg);
  assert.equal(a.status, 200, a.text);
  assert.equal(b.status, 200, b.text);
  assert.equal(b.json.events[0].duplicate, true);
  assert.equal(ek.events(['--provider', 'commerce']).filter((e) => e.event.data.value?.sku === 'SKU-B').length, 1);
});

test('a batch is all or nothing', async () => {
  const good = productSaved('ce-3', 'SKU-BATCH').toJSON();
  const bad = { ...good, id: 'ce-4', type: 'com.adobe.commerce.observer.nope' };
  let r = await send({ headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify([good, bad]) });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /event 1: Unable to publish event com.adobe.commerce.observer.nope/);
  assert.equal(ek.events(['--provider', 'commerce']).filter((e) => e.event.data.value?.sku === 'SKU-BATCH').length, 0);
  r = await send({ headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify([good]) });
  assert.equal(r.status, 200, r.text);
});

test('invalid CloudEvents and missing auth are refused with a clear error', async () => {
  let r = await send(HTTP.structured(productSaved('ce-5', 'X')), {});
  assert.equal(r.status, 401);
  r = await send({ headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ specversion: '1.0', id: 'x', source: 'urn:uuid:00000000-0000-0000-0000-000000000000', type: 't' }) });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /unknown source/);
  r = await send({ headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ specversion: '1.0', source: commerceSource, type: 't' }) });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /'id' is required/);
  r = await send({ headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /Not a CloudEvent/);
});

test('the journal API pages by position and answers 204 at the end', async () => {
  const base = `${ek.url}/api/v1/journal/commerce`;
  let r = await fetch(`${base}?limit=2`, { headers: auth });
  assert.equal(r.status, 200);
  const page = await r.json();
  assert.equal(page.events.length, 2);
  assert.equal(typeof page.events[0].position, 'string');
  assert.equal(page._page.count, 2);
  assert.equal(page._page.last, page.events[1].position);
  assert.match(r.headers.get('link'), new RegExp(`since=${page._page.last}`));
  let since = page._page.last;
  let seen = 2;
  for (;;) {
    r = await fetch(`${base}?since=${since}&limit=2`, { headers: auth });
    if (r.status === 204) { assert.equal(r.headers.get('retry-after'), '10'); break; }
    const p = await r.json();
    seen += p.events.length;
    since = p._page.last;
  }
  assert.equal(seen, ek.events(['--provider', 'commerce']).length);
  r = await fetch(`${base}?latest=true`, { headers: auth });
  assert.equal(r.status, 204);
  r = await fetch(`${base}?seek=-PT1H`, { headers: auth });
  assert.equal(r.status, 200);
  r = await fetch(`${base}?seek=-PT1H&since=1`, { headers: auth });
  assert.equal(r.status, 400);
  r = await fetch(`${ek.url}/api/v1/journal/nope`, { headers: auth });
  assert.equal(r.status, 404);
});

test('journal retention removes delivered events; a position below it is 410 Gone', async () => {
  const e2 = await new Evkit({ env: { EVKIT_API_TOKENS: token, EVKIT_JOURNAL_RETENTION: '1s' } }).start();
  try {
    for (const uid of ['ret-1', 'ret-2', 'ret-3']) {
      const r = await e2.post('ingestion/webhook', { data: { ...seedExampleData(), uid } });
      assert.equal(r.status, 200, r.text);
    }
    // Delivered (dry run) before retention may take them.
    await e2.waitFor(() => e2.cliJson(['registration', 'list']).every((reg) => reg.backlog === 0), { what: 'deliveries done' });
    assert.equal(e2.events().length, 3);
    await new Promise((res) => setTimeout(res, 1500));
    await e2.stop();
    await e2.start(); // housekeeping runs at start
    await e2.waitFor(() => e2.events().length === 0, { what: 'retention' });
    const r = await fetch(`${e2.url}/api/v1/journal/backoffice?since=1`, { headers: auth });
    assert.equal(r.status, 410);
    assert.match((await r.json()).error, /expired/);
    const fresh = await fetch(`${e2.url}/api/v1/journal/backoffice`, { headers: auth });
    assert.equal(fresh.status, 204);
  } finally { await e2.stop(); e2.cleanup(); }
});

test('binary mode percent-decodes ce-* headers; bodies over 1 MB get 413', async () => {
  const r = await send({
    headers: {
      'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'pct-1', 'ce-source': commerceSource,
      'ce-type': 'com.adobe.commerce.observer.catalog_product_save_commit_after', 'ce-subject': 'Joust%20Duffle%20%E2%82%AC',
    },
    body: JSON.stringify({ value: { sku: 'PCT' } }),
  });
  assert.equal(r.status, 200, r.text);
  const ev = ek.events(['--provider', 'commerce']).find((e) => e.event.publisherid === 'pct-1').event;
  assert.equal(ev.subject, 'Joust Duffle €');
  const big = await send(HTTP.structured(productSaved('big-1', 'x'.repeat(1100 * 1024))));
  assert.equal(big.status, 413);
});

test('evkit event publish goes through the publishing API', async () => {
  let c = ek.cli(['event', 'publish', '--provider', 'commerce', '--type', 'com.adobe.commerce.observer.catalog_product_save_commit_after',
    '--payload', '{"value":{"sku":"CLI-PUB"}}', '--id', 'cli-pub-1']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /published cli-pub-1 as event [0-9a-f-]{36} at position \d+/);
  const ev = ek.events(['--provider', 'commerce']).find((e) => e.event.publisherid === 'cli-pub-1').event;
  assert.equal(ev.data.value.sku, 'CLI-PUB');
  c = ek.cli(['event', 'publish', '--provider', 'commerce', '--type', 'com.adobe.commerce.observer.catalog_product_save_commit_after',
    '--payload', '{"value":{"sku":"CLI-PUB"}}', '--id', 'cli-pub-1']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /a duplicate/);
  c = ek.cli(['event', 'publish', '--provider', 'commerce', '--type', 'com.adobe.commerce.observer.nope', '--payload', '{}']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /HTTP 400: Unable to publish event com.adobe.commerce.observer.nope: Unknown event type for provider commerce/);
});

test('204 when no registration takes the event; over the per-key rate limit 429 with Retry-After', async () => {
  // The sample app with one more commerce event code that no registration takes.
  const app = copyApp();
  const eventsFile = path.join(app, 'onboarding/config/events.json');
  const events = JSON.parse(readFileSync(eventsFile, 'utf8'));
  events.product.commerce['com.adobe.commerce.observer.untaken_test'] = { sampleEventTemplate: {} };
  writeFileSync(eventsFile, JSON.stringify(events));
  const e2 = await new Evkit({ app, env: { EVKIT_API_TOKENS: `${token},second-token-0123456789abcdef0123456789a`, EVKIT_PUBLISH_RATE: '4/2s' } }).start();
  try {
    const c = e2.cli(['event', 'publish', '--provider', 'commerce', '--type', 'com.adobe.commerce.observer.untaken_test', '--payload', '{}', '--id', 'untaken-1']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /published untaken-1 \(no registration takes/);
    assert.equal(e2.events().filter((x) => x.event.publisherid === 'untaken-1').length, 1, 'journaled all the same');
    const src = `urn:uuid:${e2.logs().find((l) => l.message === 'provider' && l.provider === 'commerce').id}`;
    const post = (id, tok) => fetch(`${e2.url}/api/v1/events`, {
      method: 'POST', headers: { 'content-type': 'application/cloudevents+json', authorization: `Bearer ${tok}` },
      body: JSON.stringify({ specversion: '1.0', id, source: src, type: 'com.adobe.commerce.observer.catalog_product_save_commit_after', data: { value: { sku: id } } }),
    });
    for (let i = 0; i < 3; i++) assert.equal((await post(`rl-${i}`, token)).status, 200);
    const r = await post('rl-3', token);
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match((await r.json()).error, /rate limit/);
    assert.equal(e2.events().filter((x) => x.event.publisherid === 'rl-3').length, 0, 'a refused event is not journaled');
    assert.equal((await post('rl-other', 'second-token-0123456789abcdef0123456789a')).status, 200);
    await new Promise((res) => setTimeout(res, 700));
    assert.equal((await post('rl-4', token)).status, 200, 'refilled');
  } finally { await e2.stop(); e2.cleanup(); rmSync(app, { recursive: true, force: true }); }
});

test('emitterFor in binary, structured and batch mode: journaled exactly as emitted', async () => {
  // httpTransport sends the emitter's headers; the token goes with them.
  const transport = httpTransport(`${ek.url}/api/v1/events`);
  const authed = async (message) => transport({ ...message, headers: { ...message.headers, authorization: `Bearer ${token}` } });
  const make = (id, extra = {}) => new CloudEvent({
    id, source: commerceSource, type: 'com.adobe.commerce.observer.catalog_product_save_commit_after',
    subject: `products/${id}`, time: '2026-11-28T10:00:00.123Z', datacontenttype: 'application/json',
    dataschema: 'https://example.com/product.json', partitionkey: `pk-${id}`,
    data: { value: { sku: id, price: 12.5, tags: ['a', 'é'] } }, ...extra,
  });
  await emitterFor(authed, { mode: Mode.BINARY })(make('emit-bin'));
  await emitterFor(authed, { mode: Mode.STRUCTURED })(make('emit-str'));
  const batch = [make('emit-b1'), make('emit-b2')];
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json', authorization: `Bearer ${token}` }, body: JSON.stringify(batch) });
  assert.equal(r.status, 200, await r.text());
  const journaled = ek.events(['--provider', 'commerce']);
  for (const id of ['emit-bin', 'emit-str', 'emit-b1', 'emit-b2']) {
    const sent = make(id);
    const got = journaled.find((e) => e.event.publisherid === id)?.event;
    assert.ok(got, id);
    for (const attr of ['specversion', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'partitionkey'])
      assert.equal(got[attr], sent[attr], `${id}: ${attr}`);
    assert.deepEqual(got.data, sent.data, `${id}: data`);
    // Read back through the journaling API, the official parser gets the same event.
    const parsed = new CloudEvent({ ...got, id: sent.id });
    assert.deepEqual(parsed.data, sent.data);
  }
});

function seedExampleData() {
  return { event: 'be-observer.catalog_product_create', value: { sku: 'RET', name: 'Ret', description: 'd', price: 1 } };
}
