// What flows through evkit arrives as it was sent (issue 15, defects 2, 5, 8,
// 10, 11, 12): numbers keep their text through the journal, Lua actions and
// state; one nesting limit at every door; evkit.publish checks events as the
// publishing API does; CloudEvents attributes are validated; secret inputs
// never show in an action's error. On the control app
// (tests/e2e/fixtures/control).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Evkit, seedExample, testStore, natsPublish } from './lib/evkit.mjs';
import { Ctl, controlApp, activations, registration, deadletters } from './lib/fixture.mjs';
import { receiver } from './lib/receiver.mjs';

const TOKEN = 'eventdata-test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
const CREATE = 'be-observer.catalog_product_create'; // lua-flow takes it
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
const NUMBERS = '[99.99,0.1,1e-7,-0.0,5.5,12,-7,0.30000000000000004,1.5e300]';

const SECRET = 'eventdata-secret-value-4711';

// The control app plus a web action that fails quoting its secret input.
const fx = controlApp();
mkdirSync(path.join(fx.app, 'actions/sec'));
writeFileSync(path.join(fx.app, 'actions/sec/fail.lua'), `
function main(params)
  print('calling with ' .. params.API_SECRET)
  evkit.log.error('the key ' .. params.API_SECRET .. ' was refused')
  if params.mode == 'result' then return { error = 'refused key ' .. params.API_SECRET } end
  if params.mode == 'http' then return { statusCode = 401, body = { error = 'bad key ' .. params.API_SECRET } } end
  error('cannot authenticate with ' .. params.API_SECRET)
end
`);
writeFileSync(path.join(fx.app, 'actions/sec/big.lua'), `
function main()
  local ok, err = pcall(evkit.publish, 'backoffice', '${'be-observer.catalog_product_create'}',
    { big = string.rep('x', 3 * 1024 * 1024) })
  return { statusCode = 200, body = { ok = ok, error = err } }
end
`);
appendFileSync(path.join(fx.app, 'packages/control.yaml'), `
sec:
  license: Apache-2.0
  actions:
    fail:
      function: ../actions/sec/fail.lua
      runtime: lua
      web: 'yes'
      inputs:
        API_SECRET: $EVENTDATA_API_SECRET
    big:
      function: ../actions/sec/big.lua
      runtime: lua
      web: 'yes'
`);
writeFileSync(path.join(fx.app, '.env'), `EVENTDATA_API_SECRET=${SECRET}\n`);

let ek;
let ctl;
let commerce;
before(async () => {
  ek = await new Evkit({ app: fx.app, env: { EVKIT_API_TOKENS: TOKEN } }).start();
  ctl = new Ctl(ek);
  const line = ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce');
  commerce = `urn:uuid:${line.id}`;
});
after(async () => { await ek.stop(); ek.cleanup(); fx.cleanup(); });

// A JSON text nested `levels` deep (objects and arrays alternating) around 1.
const nested = (levels) => {
  let t = '1';
  for (let i = 0; i < levels; i++) t = i % 2 ? `[${t}]` : `{"k":${t}}`;
  return t;
};

async function publishRaw(body, ctype = 'application/cloudevents+json') {
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...auth, 'content-type': ctype }, body });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: text ? JSON.parse(text) : null };
}

const ce = (id, dataText, extra = '') =>
  `{"specversion":"1.0","id":"${id}","source":"${commerce}","type":"${SAVE}"${extra},"data":${dataText}}`;

async function getText(url) {
  const r = await fetch(`${ek.url}${url}`, { headers: auth });
  return { status: r.status, text: await r.text() };
}

test('numbers keep their text through the publishing API and the journal', async () => {
  const r = await publishRaw(ce('num-1', `{"n":${NUMBERS}}`));
  assert.equal(r.status, 200, r.text);
  const page = await getText('/api/v1/journal/commerce?limit=100');
  assert.equal(page.status, 200, page.text);
  assert.ok(page.text.includes(`"n":${NUMBERS}`), page.text.slice(0, 2000));
});

test('numbers keep their text through a Lua action, evkit.state and a delivery', async () => {
  // In and out of a Lua web action and the state store.
  const put = await ek.post('ctl/state', `{"op":"put","key":"numbers","value":${NUMBERS}}`);
  assert.equal(put.status, 200, put.text);
  const got = await ek.post('ctl/state', { op: 'get', keys: ['numbers'] });
  assert.ok(got.text.includes(`"numbers":${NUMBERS}`), got.text);
  // Published by a Lua action (evkit.publish), delivered to a Lua consumer.
  const pub = await ek.post('ingest/publish', `{"type":"${CREATE}","key":"num-2","data":{"n":${NUMBERS}}}`);
  assert.equal(pub.status, 200, pub.text);
  const id = pub.json.published[0].id;
  const rec = await ek.waitFor(() => activations(ek, 'flow/consumer').find((a) => a.response.result?.body?.seen?.data?.n
    && JSON.stringify(a.response.result.body.seen.id) === JSON.stringify(id)), { what: 'the consumer activation' });
  const text = await getText(`/api/v1/namespaces/_/activations/${rec.activationId}`);
  assert.equal(text.status, 200, text.text);
  assert.ok(text.text.includes(`"data":{"n":${NUMBERS}}`), text.text.slice(0, 3000));
});

// Numbers no int64 or double holds, and strings that look like them.
const BIG = '{"n":[123456789012345678901234567890,1e400,-1e400,-99999999999999999999],"s":"1e400"}';
const BIG_LUA = '{"n":[123456789012345678901234567890,1e400,-1e400],"s":"99999999999999999999"}';

test('numbers beyond int64 or a double are kept as published: journal, webhook delivery and its trace, Lua action', async () => {
  const rx = await receiver();
  try {
    const reg = await fetch(`${ek.url}/api/v1/registrations`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'big-numbers-hook', webhook_url: `${rx.url}/big`, events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }] }),
    });
    assert.equal(reg.status, 201, await reg.text());
    const r = await publishRaw(ce('big-1', BIG));
    assert.equal(r.status, 200, r.text);
    // The journal API.
    const page = await getText('/api/v1/journal/commerce?limit=100');
    assert.equal(page.status, 200, page.text);
    assert.ok(page.text.includes(`"data":${BIG}`), page.text.slice(0, 3000));
    // The webhook delivery, byte for byte.
    const id = r.json.events[0].id;
    const mine = (q) => q.body.includes(`"id":"${id}"`);
    await ek.waitFor(() => rx.forPath('/big').some(mine), { what: 'the webhook delivery', timeout: 30000 });
    const hook = rx.forPath('/big').find(mine);
    assert.ok(hook.body.includes(`"data":${BIG}`), hook.body);
    // The delivery's trace: the request body as it was sent.
    let traced = '';
    await ek.waitFor(async () => {
      const list = JSON.parse((await getText('/api/v1/traces?registration=big-numbers-hook')).text);
      if (!list.traces?.length) return false;
      traced = (await getText(`/api/v1/traces/${list.traces[0].id}`)).text;
      return true;
    }, { what: 'the delivery trace' });
    assert.ok(traced.includes(`"data":${BIG}`), traced.slice(0, 3000));
  } finally {
    await rx.close();
  }
  // Through Lua: a web action publishes it (evkit.publish), a Lua consumer returns it.
  // Lua sees strings; one it hands back unchanged is the number again, a
  // string that only looks like such a number stays a string.
  const pub = await ek.post('ingest/publish', `{"type":"${CREATE}","key":"big-2","data":${BIG_LUA}}`);
  assert.equal(pub.status, 200, pub.text);
  const id = pub.json.published[0].id;
  const rec = await ek.waitFor(() => activations(ek, 'flow/consumer').find((a) => a.response.result?.body?.seen?.data?.s
    && JSON.stringify(a.response.result.body.seen.id) === JSON.stringify(id)), { what: 'the consumer activation' });
  const text = await getText(`/api/v1/namespaces/_/activations/${rec.activationId}`);
  assert.equal(text.status, 200, text.text);
  // A Lua table has no member order: each member as published.
  const data = text.text.match(/"seen":\{.*?"data":(\{[^{}]*\})/)?.[1] ?? '';
  assert.ok(data.includes('"n":[123456789012345678901234567890,1e400,-1e400]'), text.text.slice(0, 3000));
  assert.ok(data.includes('"s":"99999999999999999999"'), text.text.slice(0, 3000));
});

test('one nesting limit at every door: 64 levels pass, 65 are a 400 naming the limit', async () => {
  const LIMIT = /nests deeper than 64 levels of objects and arrays \(evkit's nesting limit\)/;
  // The publishing API: the limit is the data's.
  let r = await publishRaw(ce('deep-64', nested(64)));
  assert.equal(r.status, 200, r.text);
  r = await publishRaw(ce('deep-65', nested(65)));
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error, LIMIT);
  r = await publishRaw(`[${ce('deep-b65', nested(65))}]`, 'application/cloudevents-batch+json');
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error, LIMIT);
  r = await publishRaw(`[${ce('deep-b64', nested(64))},${ce('deep-b63', nested(63))}]`, 'application/cloudevents-batch+json');
  assert.equal(r.status, 200, r.text);
  // A web action (the ingestion webhook's door): the request body; from 65
  // to jansson's own 2,048 levels and beyond, a 400, never a 502.
  for (const levels of [65, 100, 2047, 3000]) {
    const w = await ek.post('ctl/state', `{"op":"put","key":"deep","value":${nested(levels - 1)}}`);
    assert.equal(w.status, 400, `${levels}: ${w.text}`);
    assert.match(w.json.error, LIMIT);
  }
  const w = await ek.post('ctl/state', `{"op":"put","key":"deep","value":${nested(63)}}`);
  assert.equal(w.status, 200, w.text);
  // The namespaces API.
  const inv = await fetch(`${ek.url}/api/v1/namespaces/_/actions/ctl/state?blocking=true`, {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: `{"op":"ping","x":${nested(64)}}`,
  });
  assert.equal(inv.status, 400);
  assert.match((await inv.json()).error, LIMIT);
  // The 64-deep event reached its Lua consumer and handler.
  await ek.waitFor(() => activations(ek, 'flow/consumer').find((a) => a.response.success
    && a.response.result?.body?.seen?.data?.k?.[0]), { what: 'the 64-deep event delivered' });
});

test('an event that can never be delivered is a dead letter at once, not a mark against the registration', async () => {
  const pub = await ctl.publish(CREATE, { mode: 'ok', sku: 'poison' }, { key: 'poison-1' });
  await ek.waitFor(() => activations(ek, 'flow/consumer').find((a) => a.response.result?.body?.seen?.id === pub.id),
    { what: 'the first delivery' });
  const before = registration(ek, 'lua-flow');
  await ek.stop();
  // As an event journaled before the limit existed: data 100 levels deep,
  // its delivery due again.
  // The stored body may be compressed: the journaled event as the CLI reads
  // it is written back as text, with the deep data.
  const stored = ek.cliJson(['event', 'list', '--json', '--limit', '100000']).find((e) => e.event.id === pub.id);
  assert.ok(stored, 'the event is in the journal');
  let attempts; // the dead letter's count: one attempt more, no retries
  if (testStore === 'nats') {
    // JetStream keeps messages as written: the deep event goes to lua-flow as a delivery message
    // of its own, as evkit publishes one (the CloudEvent, the registration and position headers).
    const deep = { ...stored.event, data: JSON.parse(nested(100)) };
    const ack = await natsPublish(ek.env.EVKIT_STORE, 'evkit.dlv.lua-flow.u',
      { 'Evkit-Registration': 'lua-flow', 'Evkit-Position': String(stored.position) }, JSON.stringify(deep));
    assert.equal(ack.stream, 'EVKIT_DELIVERIES');
    attempts = 1;
  } else {
    const text = JSON.stringify(stored.event).replaceAll("'", "''");
    const db = path.join(ek.data, 'evkit.db');
    // The id is stored as its 16 bytes and a tag byte (0x75).
    const id = `X'${pub.id.replaceAll('-', '')}75'`;
    const sql = `UPDATE events SET body = json_set('${text}', '$.data', json('${nested(100)}')) WHERE id = ${id};
      UPDATE deliveries SET state = 'pending', due_ms = 0 WHERE registration = 'lua-flow'
        AND position = (SELECT position FROM events WHERE id = ${id});`;
    const q = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
    assert.equal(q.status, 0, q.stderr);
    attempts = 2;
  }
  await ek.start();
  const dl = await ek.waitFor(() => deadletters(ek, 'lua-flow').find((d) => d.event_id === pub.id),
    { what: 'the dead letter' });
  assert.equal(dl.last_status, 422, JSON.stringify(dl));
  assert.match(dl.last_error, /nest deeper than 72 levels/);
  assert.equal(dl.attempts, attempts, 'one attempt, no retries');
  const after = registration(ek, 'lua-flow');
  assert.equal(after.state, 'ACTIVE');
  assert.equal(after.failures_24h, before.failures_24h, 'not counted against the registration');
});

test('evkit.publish checks events as the publishing API does; the sample webhook answers 400', async () => {
  // Through ingest/publish (a Lua web action calling evkit.publish).
  let r = await ek.post('ingest/publish', { type: 'be-observer.nope', data: {} });
  assert.equal(r.status, 502, r.text);
  assert.match(r.json.error, /evkit\.publish: Unknown event type be-observer\.nope for provider backoffice/);
  // An event built in Lua past the size limit (the web body limit cannot stop it).
  r = await ek.post('sec/big', {});
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, false);
  assert.match(r.json.error, /evkit\.publish: the event's data is \d+ bytes of JSON; the limit is 1048576 bytes/);
  assert.equal(ek.events().filter((e) => e.event.data?.big).length, 0, 'nothing journaled');
  // The sample app's ingestion webhook: a uid that is no string or number.
  const app = new Evkit();
  await app.start();
  try {
    for (const uid of [{ a: 1 }, [1], true]) {
      const w = await app.post('ingestion/webhook', { data: { ...seedExample.data, uid } });
      assert.equal(w.status, 400, w.text);
      assert.match(w.json.error, /data\.uid must be a string \(or a number\)/);
    }
    assert.equal(app.events().length, 0, 'nothing journaled');
    const w = await app.post('ingestion/webhook', { data: { ...seedExample.data, uid: 42 } });
    assert.equal(w.status, 200, w.text);
  } finally {
    await app.stop();
    app.cleanup();
  }
});

test('CloudEvents attributes are checked as CloudEvents 1.0.2 requires', async () => {
  const cases = [
    [',"time":"yesterday"', /'time' must be an RFC 3339 timestamp/],
    [',"time":"2026-02-30T10:00:00Z"', /'time' must be an RFC 3339/],
    [',"datacontenttype":"json"', /'datacontenttype' must be a media type/],
    [',"dataschema":"not a uri"', /'dataschema' must be an absolute URI/],
    [',"subject":""', /'subject' must be a non-empty string/],
    [',"MyExt":"x"', /extension attribute name 'MyExt' is invalid/],
    [',"my-ext":"x"', /extension attribute name 'my-ext' is invalid/],
    [',"abcdefghijklmnopqrstu":"x"', /name 'abcdefghijklmnopqrstu' is invalid/],
    [',"ext":{"a":1}', /'ext' must be a string, a boolean or a 32-bit integer/],
  ];
  for (const [extra, want] of cases) {
    const r = await publishRaw(ce(`attr-${extra.length}`, '{}', extra));
    assert.equal(r.status, 400, `${extra}: ${r.text}`);
    assert.match(r.json.error, want);
  }
  const b64 = await publishRaw(`{"specversion":"1.0","id":"b64-bad","source":"${commerce}","type":"${SAVE}","data_base64":"!!not base64!!"}`);
  assert.equal(b64.status, 400, b64.text);
  assert.match(b64.json.error, /'data_base64' must be a base64 string/);
  const bin = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...auth, 'ce-specversion': '1.0', 'ce-id': 'bin-time',
    'ce-source': commerce, 'ce-type': SAVE, 'ce-time': 'yesterday', 'content-type': 'application/json' }, body: '{}' });
  assert.equal(bin.status, 400);
  assert.match((await bin.json()).error, /'time' must be an RFC 3339/);
  const good = await publishRaw(ce('attr-good', '{}', ',"time":"2026-12-06T23:31:26.5+01:00","subject":"s","partitionkey":"p1","seq":7,"flag":true,"dataschema":"https://example.com/s.json","datacontenttype":"application/json; charset=utf-8"'));
  assert.equal(good.status, 200, good.text);
  const page = await getText('/api/v1/journal/commerce?limit=1000');
  assert.ok(page.text.includes('"partitionkey":"p1"') && page.text.includes('"time":"2026-12-06T23:31:26.5+01:00"'), page.text.slice(-2000));
  assert.ok(!page.text.includes('yesterday'));
});

test('secret inputs are masked wherever an action\'s output goes', async () => {
  for (const mode of ['raise', 'result', 'http']) {
    const r = await ek.post('sec/fail', { mode });
    assert.ok(r.status >= 400, r.text);
    assert.ok(!r.text.includes(SECRET), `${mode}: the answer shows the secret: ${r.text}`);
    assert.match(r.text, /<hidden>/);
    const id = r.headers.get('x-openwhisk-activation-id');
    const rec = await getText(`/api/v1/namespaces/_/activations/${id}`);
    assert.equal(rec.status, 200, rec.text);
    assert.ok(!rec.text.includes(SECRET), `${mode}: the activation record shows the secret: ${rec.text}`);
    assert.match(rec.text, /calling with <hidden>/);
  }
  await ek.waitFor(() => ek.stderr.includes('<hidden>'), { what: 'the log line' });
  assert.ok(!ek.stderr.includes(SECRET), 'the daemon log shows the secret');
});
