// Registrations created at run time (REST API and CLI) beside the manifest's,
// and webhook registrations: the challenge, Standard Webhooks signatures
// verified by the official `standardwebhooks` package (also during a secret
// rotation), CloudEvents parsed by the official `cloudevents` package,
// retries, dead letters and batches, against a loopback receiver.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { CloudEvent, HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import { Evkit } from './lib/evkit.mjs';

const token = 'registrations-token-1-0123456789abcdef01';
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
const DELETE = 'com.adobe.commerce.observer.catalog_product_delete_commit_after';
let ek;
let source;
let rx;

// A webhook receiver on loopback: answers the challenge (unless told not
// to), records every POST, answers with the status `reply` picks.
function receiver() {
  const r = {
    requests: [],
    challenge: 'text',
    reply: () => 200,
    server: null,
    url: '',
  };
  r.server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'GET') {
        const c = u.searchParams.get('challenge');
        if (r.challenge === 'text') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(c); return; }
        if (r.challenge === 'json') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ challenge: c })); return; }
        res.writeHead(200); res.end('no');
        return;
      }
      const rec = { path: u.pathname, headers: req.headers, body };
      r.requests.push(rec);
      const status = r.reply(rec, r.requests.length);
      if (status < 0) { req.socket.destroy(); return; } // no answer at all
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 300 ? `refused with ${status}` : 'ok');
    });
  });
  return new Promise((resolve) => r.server.listen(0, '127.0.0.1', () => {
    r.url = `http://127.0.0.1:${r.server.address().port}`;
    resolve(r);
  }));
}

before(async () => {
  rx = await receiver();
  ek = await new Evkit({ env: { EVKIT_API_TOKENS: token } }).start();
  const line = ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce');
  source = `urn:uuid:${line.id}`;
});
after(async () => { await ek.stop(); ek.cleanup(); rx.server.close(); });

// The CLI without blocking this process: the receiver must answer its challenge.
function cliAsync(args) {
  return new Promise((resolve) => {
    const p = spawn(ek.proc.spawnargs[0], args, { env: { ...ek.env, EVKIT_APP: ek.app, EVKIT_DATA: ek.data } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function api(method, path, body, headers = auth) {
  const r = await fetch(`${ek.url}/api/v1/registrations${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, text };
}

async function publish(type, data, id = crypto.randomUUID()) {
  const msg = HTTP.structured(new CloudEvent({ id, source, type, data }));
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...msg.headers, authorization: `Bearer ${token}` }, body: msg.body });
  assert.equal(r.status, 200, await r.text());
}

const webhookSpec = (name, path, extra = {}) => ({
  name,
  events_of_interest: [{ provider_metadata: 'commerce', event_codes: [DELETE] }],
  webhook_url: `${rx.url}${path}`,
  retry: { schedule: ['100ms'], max_age: '3s' },
  ...extra,
});
const forPath = (path) => rx.requests.filter((q) => q.path === path);

test('registrations API: create, list beside the manifest, read, replace, delete', async () => {
  let r = await api('GET', '', undefined, {});
  assert.equal(r.status, 401);
  r = await api('POST', '', {
    name: 'api-products', description: 'made at run time',
    events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }],
    runtime_action: 'product-commerce/consumer',
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.origin, 'api');
  assert.equal(r.json.runtime_action, 'product-commerce/consumer');
  assert.equal(r.json.state, 'ACTIVE');

  r = await api('GET', '');
  assert.equal(r.status, 200);
  const names = r.json.registrations.map((x) => `${x.name}:${x.origin}`);
  assert.ok(names.includes('product-commerce:manifest'), names.join());
  assert.ok(names.includes('api-products:api'));
  for (const key of ['name', 'description', 'events_of_interest', 'delivery_type', 'origin', 'state', 'backlog', 'dead_letters',
    'attempts_24h', 'failures_24h', 'delivered_5m', 'failed_5m', 'last_attempt', 'last_error'])
    assert.ok(key in r.json.registrations[0], key);

  r = await api('POST', '', { name: 'api-products', events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }], runtime_action: 'product-commerce/consumer' });
  assert.equal(r.status, 409);
  r = await api('POST', '', { name: 'product-commerce', events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }], runtime_action: 'product-commerce/consumer' });
  assert.equal(r.status, 409);
  assert.match(r.json.error, /app.config.yaml/);

  // Validation: the exact reason.
  r = await api('POST', '', { name: 'bad', events_of_interest: [{ provider_metadata: 'nope', event_codes: [SAVE] }], runtime_action: 'product-commerce/consumer' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /unknown provider 'nope' in registration 'bad'/);
  r = await api('POST', '', { name: 'bad', events_of_interest: [{ provider_metadata: 'commerce', event_codes: ['x.y'] }], runtime_action: 'no/such' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /event code 'x.y' of provider 'commerce' is not in events.json/);
  assert.match(r.json.error, /runtime_action 'no\/such' of registration 'bad' names no action/);
  r = await api('POST', '', { name: 'bad', events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }], runtime_action: 'product-commerce/consumer', colour: 'red' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /unknown key 'colour'/);
  r = await api('POST', '', { name: 'bad name!', events_of_interest: [], runtime_action: 'product-commerce/consumer' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /registration name 'bad name!' is invalid/);

  // Replace: what GET returned, edited, goes back as it is.
  r = await api('GET', '/api-products');
  const edited = { ...r.json, description: 'changed' };
  r = await api('PUT', '/api-products', edited);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.description, 'changed');
  r = await api('PUT', '/product-commerce', edited);
  assert.equal(r.status, 403);
  r = await api('DELETE', '/product-commerce');
  assert.equal(r.status, 403);

  r = await api('DELETE', '/api-products');
  assert.equal(r.status, 200);
  r = await api('GET', '/api-products');
  assert.equal(r.status, 404);
  r = await api('DELETE', '/api-products');
  assert.equal(r.status, 404);
});

test('a registration created at run time gets deliveries at once; deleted, none', async () => {
  // customer-commerce/consumer takes no product events in the manifest.
  let r = await api('POST', '', { name: 'live', events_of_interest: [{ provider_metadata: 'commerce', event_codes: [DELETE] }], runtime_action: 'customer-commerce/consumer' });
  assert.equal(r.status, 201, r.text);
  await publish(DELETE, { value: { sku: 'LIVE-1' } });
  await ek.waitFor(async () => (await api('GET', '/live')).json.attempts_24h >= 1, { what: 'delivery to the new registration' });
  r = await api('DELETE', '/live');
  assert.equal(r.status, 200);
  const before = ek.cliJson(['activation', 'list', '--name', 'customer-commerce/consumer', '--limit', '1000']).length;
  await publish(DELETE, { value: { sku: 'LIVE-2' } });
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(ek.cliJson(['activation', 'list', '--name', 'customer-commerce/consumer', '--limit', '1000']).length, before);
});

test('a webhook that fails the challenge is refused; one that passes gets signed CloudEvents', async () => {
  rx.challenge = 'wrong';
  let r = await api('POST', '', webhookSpec('hook-bad', '/bad'));
  assert.equal(r.status, 400);
  assert.match(r.json.error, /did not pass the challenge/);
  assert.equal((await api('GET', '/hook-bad')).status, 404);

  rx.challenge = 'json';
  r = await api('POST', '', webhookSpec('hook-1', '/one'));
  assert.equal(r.status, 201, r.text);
  const secret = r.json.webhook_secret;
  assert.match(secret, /^whsec_/);
  assert.equal(r.json.webhook_secrets.length, 1);
  assert.ok(!JSON.stringify((await api('GET', '/hook-1')).json).includes(secret.slice(10)), 'a secret is never shown again');
  assert.ok(!JSON.stringify((await api('GET', '')).json).includes(secret.slice(10)));
  rx.challenge = 'text';

  await publish(DELETE, { value: { sku: 'HOOK-1' } });
  const got = await ek.waitFor(() => forPath('/one')[0], { what: 'webhook delivery' });
  assert.equal(got.headers['content-type'], 'application/cloudevents+json');
  // The official verifier accepts evkit's signature.
  const payload = new Webhook(secret).verify(got.body, got.headers);
  assert.equal(payload.data.value.sku, 'HOOK-1');
  assert.throws(() => new Webhook(secret).verify(got.body.replace('HOOK-1', 'HOOK-2'), got.headers));
  // The official CloudEvents parser gets the journaled event back.
  const ce = HTTP.toEvent({ headers: got.headers, body: got.body });
  const journaled = ek.events(['--provider', 'commerce']).find((e) => e.event.data.value?.sku === 'HOOK-1').event;
  assert.equal(ce.id, journaled.id);
  assert.equal(ce.type, DELETE);
  assert.equal(ce.source, journaled.source);
  assert.deepEqual(ce.data, journaled.data);
  assert.equal(got.headers['x-adobe-event-id'], journaled.id);
  assert.equal(got.headers['webhook-id'], journaled.id);
  assert.equal(JSON.parse(got.body).eventid, journaled.id);

  // The attempt's trace: what was sent and what came back, the signature hidden.
  const list = await (await fetch(`${ek.url}/api/v1/traces?registration=hook-1`, { headers: auth })).json();
  assert.equal(list.traces.length, 1);
  assert.equal(list.traces[0].statusCode, 200);
  assert.equal(list.traces[0].outcome, 'success');
  const tr = await (await fetch(`${ek.url}/api/v1/traces/${list.traces[0].id}`, { headers: auth })).json();
  assert.equal(tr.request.headers['webhook-id'], journaled.id);
  assert.equal(tr.request.headers['webhook-signature'], '<hidden>');
  assert.deepEqual(JSON.parse(typeof tr.request.body === 'string' ? tr.request.body : JSON.stringify(tr.request.body)).data, journaled.data);
  assert.equal(tr.response.statusCode, 200);
  assert.ok(!JSON.stringify(tr).includes(secret.slice(10)));
});

test('secret rotation: two signatures while both secrets live, then only the new one', async () => {
  const r = await api('POST', '', webhookSpec('hook-rot', '/rot'));
  assert.equal(r.status, 201, r.text);
  const oldSecret = r.json.webhook_secret;
  const oldId = r.json.webhook_secrets[0].id;
  let s = await api('POST', '/hook-rot/secrets', {});
  assert.equal(s.status, 201, s.text);
  const newSecret = s.json.webhook_secret;
  assert.equal((await api('GET', '/hook-rot')).json.webhook_secrets.length, 2);
  assert.equal((await api('POST', '/hook-rot/secrets', {})).status, 409);

  await publish(DELETE, { value: { sku: 'ROT-1' } });
  const both = await ek.waitFor(() => forPath('/rot')[0], { what: 'delivery during rotation' });
  assert.equal(both.headers['webhook-signature'].split(' ').length, 2);
  new Webhook(oldSecret).verify(both.body, both.headers);
  new Webhook(newSecret).verify(both.body, both.headers);

  s = await api('DELETE', `/hook-rot/secrets/${oldId}`);
  assert.equal(s.status, 200, s.text);
  await publish(DELETE, { value: { sku: 'ROT-2' } });
  const after = await ek.waitFor(() => forPath('/rot').find((q) => q.body.includes('ROT-2')), { what: 'delivery after rotation' });
  assert.equal(after.headers['webhook-signature'].split(' ').length, 1);
  new Webhook(newSecret).verify(after.body, after.headers);
  assert.throws(() => new Webhook(oldSecret).verify(after.body, after.headers));
  const last = (await api('GET', '/hook-rot')).json.webhook_secrets;
  assert.equal(last.length, 1);
  assert.equal((await api('DELETE', `/hook-rot/secrets/${last[0].id}`)).status, 409);
});

test('webhook retries 5xx with x-adobe-retry-count, dead-letters a final 4xx and expired retries', async () => {
  rx.reply = (q) => {
    if (q.path === '/flaky') return forPath('/flaky').length === 1 ? 503 : 200;
    if (q.path === '/reject') return 400;
    if (q.path === '/down') return forPath('/down').length === 1 ? -1 : 500;
    return 200;
  };
  // hook-down: few enough attempts before max_age that health does not disable it first.
  for (const [n, p, retry] of [['hook-flaky', '/flaky'], ['hook-reject', '/reject'], ['hook-down', '/down', { schedule: ['400ms'], max_age: '1500ms' }]])
    assert.equal((await api('POST', '', webhookSpec(n, p, { events_of_interest: [{ provider_metadata: 'commerce', event_codes: ['com.adobe.commerce.observer.customer_save_commit_after'] }], ...(retry ? { retry } : {}) }))).status, 201);
  await publish('com.adobe.commerce.observer.customer_save_commit_after', { value: { email: 'a@b.c' } });
  await ek.waitFor(() => forPath('/flaky').length >= 2, { what: 'retry' });
  assert.equal(forPath('/flaky')[0].headers['x-adobe-retry-count'], undefined);
  assert.equal(forPath('/flaky')[1].headers['x-adobe-retry-count'], '1');
  const dl = await ek.waitFor(() => {
    const list = ek.cliJson(['deadletter', 'list']);
    const rej = list.find((d) => d.registration === 'hook-reject');
    const exp = list.find((d) => d.registration === 'hook-down');
    return rej && exp && { rej, exp };
  }, { timeout: 10000, what: 'dead letters' });
  assert.equal(dl.rej.reason, 'rejected');
  assert.equal(dl.rej.last_status, 400);
  assert.equal(forPath('/reject').length, 1);
  assert.equal(dl.exp.reason, 'expired');
  assert.ok(forPath('/down').length >= 2);
  const reg = (await api('GET', '/hook-reject')).json;
  assert.match(reg.last_error, /HTTP 400/);
  // No answer at all is 602 (connection failure) in the traces, and retried.
  const down = (await (await fetch(`${ek.url}/api/v1/traces?registration=hook-down&limit=500`, { headers: auth })).json()).traces;
  const first = down[down.length - 1];
  assert.equal(first.statusCode, 602);
  assert.equal(first.retried, true);
  assert.equal(down[0].statusCode, 500);
  rx.reply = () => 200;
});

test('batch webhooks: JSON arrays of at most 20 events, each event once', async () => {
  const code = 'com.adobe.commerce.observer.sales_order_save_commit_after';
  assert.equal((await api('POST', '', webhookSpec('hook-batch', '/batch', {
    delivery_type: 'batch', events_of_interest: [{ provider_metadata: 'commerce', event_codes: [code] }],
  }))).status, 201);
  const batch = [];
  for (let i = 0; i < 45; i++) batch.push(new CloudEvent({ id: `b-${i}`, source, type: code, data: { value: { n: i } } }).toJSON());
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json', authorization: `Bearer ${token}` }, body: JSON.stringify(batch) });
  assert.equal(r.status, 200, await r.text());
  await ek.waitFor(() => forPath('/batch').reduce((n, q) => n + JSON.parse(q.body).length, 0) >= 45, { what: '45 batched events' });
  const seen = [];
  const wh = forPath('/batch');
  for (const q of wh) {
    assert.equal(q.headers['content-type'], 'application/cloudevents-batch+json');
    const arr = JSON.parse(q.body);
    assert.ok(Array.isArray(arr) && arr.length >= 1 && arr.length <= 20, `batch of ${arr.length}`);
    for (const ev of arr) seen.push(ev.data.value.n);
    // The official parser reads a batch too.
    const evs = HTTP.toEvent({ headers: q.headers, body: q.body });
    assert.equal(evs.length, arr.length);
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 45 }, (_, i) => i));
  assert.ok(wh.some((q) => JSON.parse(q.body).length > 1), 'events were batched');
});

test('evkit registration create/update/delete from the CLI; the daemon picks them up', async () => {
  let c = await cliAsync(['registration', 'create', 'cli-hook', '--provider', 'commerce', '--events', 'com.adobe.commerce.observer.customer_delete_commit_after',
    '--webhook-url', `${rx.url}/cli`, '--json']);
  assert.equal(c.code, 0, c.stderr);
  const created = JSON.parse(c.stdout);
  assert.equal(created.origin, 'api');
  await publish('com.adobe.commerce.observer.customer_delete_commit_after', { value: { id: 7 } });
  const got = await ek.waitFor(() => forPath('/cli')[0], { what: 'delivery to a CLI-made registration' });
  new Webhook(created.webhook_secret).verify(got.body, got.headers);
  c = await cliAsync(['registration', 'update', 'cli-hook', '--provider', 'commerce', '--events', 'com.adobe.commerce.observer.customer_delete_commit_after',
    '--webhook-url', `${rx.url}/cli`, '--description', 'from the cli']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal((await api('GET', '/cli-hook')).json.description, 'from the cli');
  c = ek.cli(['registration', 'create', 'cli-bad', '--provider', 'commerce', '--events', 'nope']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /needs runtime_action|no runtime_action/);
  assert.match(c.stderr, /event code 'nope'/);
  c = ek.cli(['registration', 'list']);
  assert.match(c.stdout, /^cli-hook\s+ACTIVE\s.*\sapi\s/m);
  c = ek.cli(['registration', 'delete', 'cli-hook']);
  assert.equal(c.code, 0, c.stderr);
  await ek.waitFor(async () => (await api('GET', '/cli-hook')).status === 404, { what: 'deletion seen by the daemon' });
});

test('journaling API per registration: follow rel="next" from the start, every event once, then 204', async () => {
  const r = await api('POST', '', { name: 'puller', events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }], runtime_action: 'product-commerce/consumer' });
  assert.equal(r.status, 201, r.text);
  const mine = [];
  for (let i = 0; i < 23; i++) {
    const id = `pull-${i}`;
    mine.push(id);
    await publish(SAVE, { value: { sku: id } }, id);
    if (i % 5 === 0) await publish(DELETE, { value: { sku: `other-${i}` } }); // not the registration's
  }
  const seen = [];
  let url = `${ek.url}/api/v1/journal/puller?limit=4`;
  let pages = 0;
  for (;;) {
    const res = await fetch(url, { headers: auth });
    if (res.status === 204) {
      assert.equal(res.headers.get('retry-after'), '10');
      break;
    }
    assert.equal(res.status, 200);
    const page = await res.json();
    assert.ok(page.events.length >= 1 && page.events.length <= 4);
    assert.equal(page._page.count, page.events.length);
    assert.equal(page._page.last, page.events.at(-1).position);
    for (const e of page.events) {
      assert.equal(e.event.type, SAVE);
      seen.push(e.event.publisherid);
    }
    const link = res.headers.get('link');
    const m = link.match(/^<([^>]+)>; rel="next"$/);
    assert.ok(m, link);
    url = m[1];
    pages++;
  }
  assert.deepEqual(seen, mine, 'every event of the registration exactly once, in order');
  assert.equal(pages, 6);
  // latest=true: the end, nothing; seek: the last hours, everything again.
  assert.equal((await fetch(`${ek.url}/api/v1/journal/puller?latest=true`, { headers: auth })).status, 204);
  const sk = await (await fetch(`${ek.url}/api/v1/journal/puller?seek=-PT1H&limit=100`, { headers: auth })).json();
  assert.deepEqual(sk.events.map((e) => e.event.publisherid), mine);
  assert.equal((await fetch(`${ek.url}/api/v1/journal/no-such-reg`, { headers: auth })).status, 404);
  assert.equal((await fetch(`${ek.url}/api/v1/journal/puller`)).status, 401);

  // Pages stop at 1.5 MB: 700 KB events come two per page.
  const big = 'x'.repeat(700 * 1024);
  const since = sk._page.last;
  for (let i = 0; i < 3; i++) await publish(SAVE, { value: { sku: `big-${i}`, blob: big } }, `big-${i}`);
  const p1 = await fetch(`${ek.url}/api/v1/journal/puller?since=${since}&limit=10`, { headers: auth });
  const body = await p1.text();
  assert.equal(JSON.parse(body).events.length, 2);
  assert.ok(body.length <= 1.5 * 1024 * 1024 + 4096);
  const next = p1.headers.get('link').match(/^<([^>]+)>/)[1];
  assert.equal((await (await fetch(next, { headers: auth })).json()).events.length, 1);
});
