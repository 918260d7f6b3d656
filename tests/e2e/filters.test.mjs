// Subscriber-defined filters (Event Ruler patterns) on registrations: made
// through the registrations API, the manifest and the I/O Management API,
// checked when made (400 naming the bad part), applied when an event is
// published (no delivery for an event the filter turns away) and counted
// per registration (`filtered` in the API and the CLI, and a metric).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { Evkit, copyApp } from './lib/evkit.mjs';
import { receiver } from './lib/receiver.mjs';

const token = 'filters-token-1-0123456789abcdef01234567';
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
const DELETE = 'com.adobe.commerce.observer.catalog_product_delete_commit_after';
let ek, rx, source;

before(async () => {
  rx = await receiver();
  ek = await new Evkit({ env: { EVKIT_API_TOKENS: token, EVKIT_METRICS_AUTH: 'none' } }).start();
  const line = ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce');
  source = `urn:uuid:${line.id}`;
});
after(async () => { await ek.stop(); ek.cleanup(); await rx.close(); });

const api = (method, p, body) => ek.request(method, p, body, auth);

async function publish(type, data, extra = {}) {
  const msg = HTTP.structured(new CloudEvent({ id: crypto.randomUUID(), source, type, data, ...extra }));
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...msg.headers, authorization: `Bearer ${token}` }, body: msg.body });
  assert.ok(r.status === 200 || r.status === 204, await r.text());
  return r.status;
}

const hook = (name, filter, codes = [SAVE]) => ({
  name,
  events_of_interest: [{ provider_metadata: 'commerce', event_codes: codes }],
  webhook_url: `${rx.url}/${name}`,
  retry: { schedule: ['100ms'], max_age: '3s' },
  ...(filter ? { filter } : {}),
});
const skus = (name) => rx.forPath(`/${name}`).map((q) => JSON.parse(q.body).data.sku);

test('a filtered registration gets only the events its pattern matches; the others are counted', async () => {
  const filter = {
    data: {
      sku: [{ prefix: 'MUG-' }, { wildcard: 'TEE-*-XL' }],
      price: [{ numeric: ['>=', 10, '<', 100] }],
      store: [{ 'anything-but': ['test', 'staging'] }],
      $or: [{ status: [{ 'equals-ignore-case': 'ENABLED' }] }, { featured: [true] }],
    },
    subject: [{ exists: false }],
  };
  let r = await api('POST', '/api/v1/registrations', hook('mugs', filter));
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.filter, filter);
  assert.equal(r.json.filtered, 0);
  r = await api('POST', '/api/v1/registrations', hook('all-saves'));
  assert.equal(r.status, 201, r.text);

  const events = [
    [{ sku: 'MUG-1', price: 12, store: 'eu', status: 'enabled' }, true],
    [{ sku: 'TEE-9-XL', price: 99.5, store: 'us', featured: true }, true],
    [{ sku: 'MUG-2', price: 100, store: 'eu', status: 'enabled' }, false],   // price out of range
    [{ sku: 'CAP-1', price: 12, store: 'eu', status: 'enabled' }, false],    // sku
    [{ sku: 'MUG-3', price: 12, store: 'test', status: 'enabled' }, false],  // store
    [{ sku: 'MUG-4', price: 12, store: 'eu', status: 'disabled' }, false],   // neither $or branch
    [{ sku: 'TEE-9-M', price: 20, store: 'eu', status: 'Enabled' }, false],  // wildcard
    [{ sku: 'MUG-5', price: '12', store: 'eu', status: 'enabled' }, false],  // a string is not a number
  ];
  for (const [data] of events) await publish(SAVE, data);
  await publish(SAVE, { sku: 'MUG-6', price: 12, store: 'eu', status: 'enabled' }, { subject: 'x' }); // subject exists
  const want = events.filter(([, ok]) => ok).map(([d]) => d.sku);
  await ek.waitFor(() => skus('all-saves').length === events.length + 1, { what: 'every save at the unfiltered hook' });
  await ek.waitFor(() => skus('mugs').length >= want.length, { what: 'the matching saves at the filtered hook' });
  await new Promise((res) => setTimeout(res, 500));
  assert.deepEqual(skus('mugs').sort(), want.sort());

  r = await api('GET', '/api/v1/registrations/mugs');
  assert.equal(r.json.filtered, events.length + 1 - want.length);
  assert.equal(r.json.backlog, 0, 'a filtered event leaves no delivery behind');
  r = await api('GET', '/api/v1/registrations/all-saves');
  assert.equal(r.json.filtered, 0);
  const listed = ek.cliJson(['registration', 'list']).find((x) => x.name === 'mugs');
  assert.equal(listed.filtered, events.length + 1 - want.length);
  const metrics = await (await fetch(`${ek.url}/metrics`)).text();
  assert.match(metrics, new RegExp(`evkit_events_filtered_total\\{registration="mugs"\\} ${events.length + 1 - want.length}\\b`));
  assert.doesNotMatch(metrics, /evkit_events_filtered_total\{registration="all-saves"\}/);

  // PUT of what GET returned keeps the filter; a new filter applies at once.
  const got = (await api('GET', '/api/v1/registrations/mugs')).json;
  r = await api('PUT', '/api/v1/registrations/mugs', got);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.filter, filter);
  r = await api('PUT', '/api/v1/registrations/mugs', { ...got, filter: { data: { sku: ['CAP-2'] } } });
  assert.equal(r.status, 200, r.text);
  await publish(SAVE, { sku: 'CAP-2' });
  await publish(SAVE, { sku: 'MUG-7', price: 12, store: 'eu', status: 'enabled' });
  await ek.waitFor(() => skus('mugs').includes('CAP-2'), { what: 'the event of the new filter' });
  await ek.waitFor(() => skus('all-saves').includes('MUG-7'), { what: 'the unfiltered hook' });
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(!skus('mugs').includes('MUG-7'));
  // Without a filter again, everything goes.
  delete got.filter;
  r = await api('PUT', '/api/v1/registrations/mugs', got);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.filter, undefined);
  await publish(SAVE, { sku: 'ANY-1' });
  await ek.waitFor(() => skus('mugs').includes('ANY-1'), { what: 'an unfiltered delivery' });
});

test('a bad filter is refused with a 400 that names the bad part, and nothing is made', async () => {
  const cases = [
    [{ data: { price: [{ numeric: ['>>', 1] }] } }, /filter of registration 'bad-f': data\.price\[0\]: numeric: '>>' is not an operator/],
    [{ data: { sku: 'MUG-1' } }, /data\.sku: needs a non-empty array/],
    [{ data: { sku: [{ prefx: 'M' }] } }, /data\.sku\[0\]: unknown matcher 'prefx'/],
    [{ $or: [{ type: ['a'] }, { data: { x: [{ wildcard: 'a**' }] } }] }, /\$or\[1\]\.data\.x\[0\]: wildcard: consecutive \*/],
    [{ data: { sku: [{ exists: 'yes' }] } }, /data\.sku\[0\]: exists needs true or false/],
    ['{"data": 1}', /the filter: a pattern is an object/],
  ];
  for (const [filter, re] of cases) {
    const r = await api('POST', '/api/v1/registrations', hook('bad-f', filter));
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, re);
  }
  const r = await api('GET', '/api/v1/registrations/bad-f');
  assert.equal(r.status, 404);
});

test('I/O Management registrations carry a filter as subscriber_filters; a bad one is a 400', async () => {
  const io = (body) => fetch(`${ek.url}/events/1/2/3/registrations`, {
    method: 'POST', headers: { ...auth, 'x-api-key': 'any' }, body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, json: await r.json().catch(() => null) }));
  const provs = await (await fetch(`${ek.url}/events/1/providers`, { headers: { ...auth, 'x-api-key': 'any' } })).json();
  const commerce = provs._embedded.providers.find((p) => /Commerce/.test(p.label));
  const base = {
    name: 'IO Filtered', client_id: 'c1', delivery_type: 'webhook', webhook_url: `${rx.url}/io-filtered`,
    events_of_interest: [{ provider_id: commerce.id, event_code: DELETE }],
  };
  let r = await io({ ...base, subscriber_filters: [{ name: 'big', subscriber_filter: '{"data":{"qty":[{"numeric":["<"]}]}}' }] });
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.match(JSON.stringify(r.json), /data\.qty\[0\]: numeric needs/);
  r = await io({ ...base, subscriber_filters: [{ name: 'x', subscriber_filter: 'not json' }] });
  assert.equal(r.status, 400);
  r = await io({ ...base, subscriber_filters: [{ name: 'big', description: 'big ones', subscriber_filter: '{"data":{"qty":[{"numeric":[">",5]}]}}' }] });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json.subscriber_filters[0].name, 'big');
  const internal = r.json.evkit_registration;
  await publish(DELETE, { sku: 'S', qty: 1 });
  await publish(DELETE, { sku: 'B', qty: 9 });
  await ek.waitFor(() => rx.forPath('/io-filtered').length >= 1, { what: 'the big one' });
  await ek.waitFor(async () => (await api('GET', `/api/v1/registrations/${internal}`)).json.filtered === 1, { what: 'the small one counted' });
  assert.deepEqual(rx.forPath('/io-filtered').map((q) => JSON.parse(q.body).data.sku), ['B']);
});

test('a filter in app.config.yaml is checked by evkit check, with its file and line', async () => {
  const app = copyApp();
  const cfg = path.join(app, 'app.config.yaml');
  const text = readFileSync(cfg, 'utf8');
  // The sample app's product-commerce registration, with a filter added.
  const anchor = /(registrations:\n {6}product-commerce:\n)/;
  assert.match(text, anchor);
  const bad = text.replace(anchor, '$1        filter:\n          data:\n            sku: [{ suffix: 5 }]\n');
  writeFileSync(cfg, bad);
  const e = new Evkit({ app });
  let r = e.cli(['check', '--app', app]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /app\.config\.yaml:\d+:\d+: error: filter of registration 'product-commerce': data\.sku\[0\]: suffix needs a string/);
  writeFileSync(cfg, text.replace(anchor, '$1        filter:\n          data:\n            sku: [{ suffix: "-5" }]\n'));
  r = e.cli(['check', '--app', app]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  e.cleanup();
});
