// Issue 5 (debug tracing) end to end, on the control app's traces scenario: one trace
// per delivery attempt with the right codes (the consumer's status, 601
// crash, 602 could not start, 604 timeout), attempt numbers and retried
// flags; secrets hidden; bodies cut at 64 KB; the traces API's filters and
// cursor; retention; the events and dead-letter APIs; the CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Evkit } from './lib/evkit.mjs';
import { Ctl, controlApp, activations, sleep } from './lib/fixture.mjs';

const FX = controlApp('traces');
const APP = FX.app;
const TOKEN = 'e2e-traces-token-0123456789abcdef0123456';
const ENV = { EVKIT_API_TOKENS: TOKEN };
const SECRET = 'tr-s3cret-9f8e7d6c'; // TRACE_API_SECRET in the scenario's .env (traces.env)
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const T = {
  flow: 'be-observer.catalog_product_create',
  timeout: 'be-observer.customer_update',
  crash: 'be-observer.customer_create',
  nostart: 'be-observer.customer_delete',
  gate: 'be-observer.customer_group_create',
};

let ek;
let ctl;
before(async () => {
  ek = await new Evkit({ app: APP, env: ENV, workers: 4 }).start();
  ctl = new Ctl(ek);
});
after(async () => { if (ek) { await ek.stop(); ek.cleanup(); } FX.cleanup(); });

async function withEvkit(fn, opts = {}) {
  const e = await new Evkit({ app: APP, env: ENV, workers: 4, ...opts }).start();
  try { await fn(e, new Ctl(e)); } finally { await e.stop(); e.cleanup(); }
}

// GET (or POST) an API path with the token; returns {status, json, text}.
async function api(e, pathAndQuery, { method = 'GET', token = TOKEN } = {}) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const r = await fetch(`${e.url}${pathAndQuery}`, { method, headers });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

async function traces(e, query = '') {
  const r = await api(e, `/api/v1/traces${query}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// The traces of one event, oldest first, once there are n of them.
async function eventTraces(e, reg, eventId, n) {
  return e.waitFor(async () => {
    const list = (await traces(e, `?registration=${reg}&limit=500`)).traces.filter((t) => t.eventId === eventId);
    return list.length >= n && list.reverse();
  }, { what: `${n} traces of ${eventId} on ${reg}` });
}

test('a failing then succeeding delivery: one trace per attempt with codes, attempt numbers, retried flags; secrets hidden', async () => {
  const pub = await ctl.publish(T.flow, { sku: 'TR-1', mode: 'flaky' });
  const list = await eventTraces(ek, 'tr-flow', pub.id, 3);
  assert.equal(list.length, 3);
  assert.deepEqual(list.map((t) => t.attempt), [1, 2, 3]);
  assert.deepEqual(list.map((t) => t.statusCode), [500, 500, 200]);
  assert.deepEqual(list.map((t) => t.outcome), ['error', 'error', 'success']);
  assert.deepEqual(list.map((t) => t.retried), [true, true, false]);
  assert.deepEqual(list.map((t) => t.error), ['flaky failure 1', 'flaky failure 2', null]);
  const ids = new Set(list.map((t) => t.deliveryId));
  assert.equal(ids.size, 1, 'one delivery, three attempts');
  for (const t of list) {
    assert.equal(t.registration, 'tr-flow');
    assert.equal(t.eventType, T.flow);
    assert.match(t.id, /^\d+$/);
    assert.match(t.start, ISO_MS);
    assert.ok(Number.isInteger(t.duration) && t.duration >= 0 && t.duration < 2000, String(t.duration));
    assert.match(t.activationId, /^[0-9a-f]{32}$/);
  }
  assert.ok(Date.parse(list[0].start) <= Date.parse(list[1].start) && Date.parse(list[1].start) <= Date.parse(list[2].start));
  // Each trace names the activation it produced.
  const acts = activations(ek, 'tr/consumer');
  for (const t of list) assert.ok(acts.some((a) => a.activationId === t.activationId), t.activationId);

  // One trace whole: the params the consumer got and what it answered.
  const one = await api(ek, `/api/v1/traces/${list[0].id}`);
  assert.equal(one.status, 200);
  const tr = one.json;
  assert.deepEqual({ ...tr, request: undefined, response: undefined }, { ...list[0], request: undefined, response: undefined });
  assert.equal(tr.request.truncated, false);
  assert.equal(tr.request.params.id, pub.id);
  assert.equal(tr.request.params.type, T.flow);
  assert.deepEqual(tr.request.params.data, { sku: 'TR-1', mode: 'flaky' });
  assert.equal(tr.request.params.__evkit.attempt, 1);
  assert.equal(tr.request.params.PLAIN_INPUT, 'visible-input');
  assert.equal(tr.request.params.API_SECRET, '<hidden>', 'a secret-named input is hidden');
  assert.equal(tr.response.statusCode, 500);
  assert.equal(tr.response.truncated, false);
  assert.equal(tr.response.body.error, 'flaky failure 1');
  assert.equal(tr.response.body.echo.said, 'the value is <hidden>!', 'a secret value is hidden wherever it appears');
  assert.equal(tr.response.body.echo.plain, 'visible-input');
  const ok = (await api(ek, `/api/v1/traces/${list[2].id}`)).json;
  assert.equal(ok.response.statusCode, 200);
  assert.deepEqual(ok.response.headers, { 'x-consumer': 'tr' });
  assert.equal(ok.response.body.ok, true);
  assert.equal(ok.response.body.attempt, 3);
  for (const t of list) {
    const whole = await api(ek, `/api/v1/traces/${t.id}`);
    assert.ok(!whole.text.includes(SECRET), `trace ${t.id} holds the secret`);
  }

  assert.equal((await api(ek, '/api/v1/traces/999999999')).status, 404);
  assert.equal((await api(ek, '/api/v1/traces/abc')).status, 404);
});

test('a consumer past its time limit shows 604, then the retry succeeds', async () => {
  const pub = await ctl.publish(T.timeout, { n: 1 });
  const list = await eventTraces(ek, 'tr-timeout', pub.id, 2);
  assert.deepEqual(list.map((t) => [t.attempt, t.statusCode, t.outcome, t.retried]), [[1, 604, 'error', true], [2, 200, 'success', false]]);
  assert.match(list[0].error, /time limit of 300 milliseconds/);
  assert.ok(list[0].duration >= 290 && list[0].duration < 3000, `ran about 300 ms: ${list[0].duration}`);
  const whole = (await api(ek, `/api/v1/traces/${list[0].id}`)).json;
  assert.equal(whole.response.statusCode, 604);
  assert.match(whole.response.body.error, /time limit/);
});

test('an exec consumer that crashes shows 601; one that cannot start shows 602 until its dead letter', async () => {
  const crash = await ctl.publish(T.crash, { n: 1 });
  const c = await eventTraces(ek, 'tr-crash', crash.id, 2);
  assert.deepEqual(c.map((t) => [t.attempt, t.statusCode, t.retried]), [[1, 601, true], [2, 200, false]]);
  assert.match(c[0].error, /exited unexpectedly \(signal 11/);

  const ns = await ctl.publish(T.nostart, { n: 1 });
  const dl = await ek.waitFor(async () => (await api(ek, '/api/v1/deadletters?registration=tr-nostart')).json.deadletters.find((d) => d.eventId === ns.id),
    { what: 'the tr-nostart dead letter' });
  const n = await eventTraces(ek, 'tr-nostart', ns.id, dl.attempts);
  assert.ok(n.length >= 2, `${n.length} attempts`);
  assert.ok(n.every((t) => t.statusCode === 602 && t.outcome === 'error'), JSON.stringify(n));
  assert.deepEqual(n.map((t) => t.attempt), n.map((_, i) => i + 1));
  assert.deepEqual(n.map((t) => t.retried), n.map((_, i) => i < n.length - 1), 'every attempt but the last was retried');
  assert.match(n[0].error, /could not be started/);
  assert.equal(dl.lastStatus, 602);
  assert.equal(dl.attempts, n.length);
});

test('a Lua error is 601 too; an error text quoting a secret is scrubbed in traces, dead letters and logs', async () => {
  const thrown = await ctl.publish(T.flow, { sku: 'TH', mode: 'throw' });
  const t = await eventTraces(ek, 'tr-flow', thrown.id, 2);
  assert.deepEqual(t.map((x) => [x.attempt, x.statusCode, x.retried]), [[1, 601, true], [2, 200, false]]);
  assert.match(t[0].error, /thrown on attempt 1/);

  const leak = await ctl.publish(T.flow, { sku: 'LK', mode: 'leak' });
  const [l] = await eventTraces(ek, 'tr-flow', leak.id, 1);
  assert.equal(l.statusCode, 401);
  assert.equal(l.retried, false);
  assert.equal(l.error, 'login failed with <hidden>');
  const whole = await api(ek, `/api/v1/traces/${l.id}`);
  assert.equal(whole.json.response.body.error, 'login failed with <hidden>');
  const dl = await ek.waitFor(async () => (await api(ek, '/api/v1/deadletters?registration=tr-flow')).json.deadletters.find((d) => d.eventId === leak.id),
    { what: 'the dead letter' });
  assert.equal(dl.lastError, 'login failed with <hidden>');
  assert.equal(dl.reason, 'rejected');
  const cli = ek.cli(['deadletter', 'list']);
  assert.ok(cli.stdout.includes('login failed with <hidden>'), cli.stdout);
  assert.ok(!cli.stdout.includes(SECRET));
  await ek.waitFor(() => ek.stderr.includes('login failed with <hidden>'), { what: 'the failure logged' });
  assert.ok(!ek.stderr.includes(SECRET), 'the secret is not');
});

test('bodies over 64 KB are cut in the trace only and flagged', async () => {
  const pub = await ctl.publish(T.flow, { sku: 'BIG', mode: 'big', pad: 'p'.repeat(70000) });
  const [t] = await eventTraces(ek, 'tr-flow', pub.id, 1);
  assert.equal(t.outcome, 'success');
  const whole = (await api(ek, `/api/v1/traces/${t.id}`)).json;
  assert.equal(whole.request.truncated, true);
  assert.equal(typeof whole.request.params, 'string', 'cut params are the text of their first 64 KB');
  assert.ok(Buffer.byteLength(whole.request.params) <= 65536 && Buffer.byteLength(whole.request.params) > 65000);
  assert.ok(!whole.request.params.includes(SECRET));
  assert.equal(whole.response.truncated, true);
  assert.equal(typeof whole.response.body, 'string');
  assert.ok(Buffer.byteLength(whole.response.body) <= 65536);
  // The consumer itself got everything.
  const act = ek.cliJson(['activation', 'get', t.activationId]);
  assert.equal(act.response.result.body.blob.length, 70000);
});

test('filters return exactly what they should; the cursor pages through everything; bad values are 400s naming the parameter', async () => {
  await withEvkit(async (e, c) => {
    const flaky = await c.publish(T.flow, { sku: 'F', mode: 'flaky' });          // 500 r, 500 r, 200
    const rej = await c.publish(T.flow, { sku: 'R', mode: 'reject' });          // 400 final
    const slow = await c.publish(T.timeout, { n: 2 });                           // 604 r, 200
    await eventTraces(e, 'tr-flow', flaky.id, 3);
    await eventTraces(e, 'tr-flow', rej.id, 1);
    await eventTraces(e, 'tr-timeout', slow.id, 2);
    const all = (await traces(e)).traces;
    assert.equal(all.length, 6);
    const ids = all.map((t) => Number(t.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    const pick = (pred) => all.filter(pred).map((t) => t.id);
    const q = async (query) => (await traces(e, query)).traces.map((t) => t.id);

    assert.deepEqual(await q('?registration=tr-flow'), pick((t) => t.registration === 'tr-flow'));
    assert.equal((await q('?registration=tr-flow')).length, 4);
    assert.deepEqual(await q('?registration=tr-timeout'), pick((t) => t.registration === 'tr-timeout'));
    assert.deepEqual(await q('?registration=nobody'), []);
    assert.deepEqual(await q('?outcome=success'), pick((t) => t.outcome === 'success'));
    assert.equal((await q('?outcome=success')).length, 2);
    assert.deepEqual(await q('?outcome=error'), pick((t) => t.outcome === 'error'));
    assert.equal((await q('?outcome=error')).length, 4);
    assert.deepEqual(await q('?status=500'), pick((t) => t.statusCode === 500));
    assert.equal((await q('?status=500')).length, 2);
    assert.deepEqual(await q('?status=604'), pick((t) => t.statusCode === 604));
    assert.deepEqual(await q('?status=400'), pick((t) => t.statusCode === 400));
    assert.equal((await q('?status=400')).length, 1);
    assert.deepEqual(await q('?retried=true'), pick((t) => t.retried));
    assert.equal((await q('?retried=true')).length, 3);
    assert.deepEqual(await q('?retried=false'), pick((t) => !t.retried));
    assert.deepEqual(await q('?registration=tr-flow&outcome=error&retried=false'), pick((t) => t.statusCode === 400));
    assert.deepEqual(await q('?registration=tr-timeout&status=500'), []);

    // Pages of 2 through next/before: every trace once, in order.
    const seen = [];
    let next = null;
    let pages = 0;
    do {
      const page = await traces(e, `?limit=2${next ? `&before=${next}` : ''}`);
      seen.push(...page.traces.map((t) => t.id));
      next = page.next;
      pages++;
      if (next !== null) assert.equal(typeof next, 'string');
    } while (next !== null);
    assert.deepEqual(seen, all.map((t) => t.id));
    assert.equal(pages, 3);
    const last = await traces(e, '?limit=6');
    assert.equal(last.next, null, 'no next page when everything fitted');

    for (const [query, param] of [['outcome=maybe', 'outcome'], ['status=abc', 'status'], ['status=42', 'status'],
      ['retried=yes', 'retried'], ['limit=0', 'limit'], ['limit=501', 'limit'], ['before=x', 'before'], ['registration=', 'registration']]) {
      const r = await api(e, `/api/v1/traces?${query}`);
      assert.equal(r.status, 400, query);
      assert.ok(r.json.error.includes(param), `${query}: ${r.json.error}`);
    }
    // Behind the token like the other APIs.
    assert.equal((await api(e, '/api/v1/traces', { token: null })).status, 401);
    assert.equal((await api(e, '/api/v1/traces', { token: 'wrong' })).status, 401);
    assert.equal((await api(e, '/api/v1/events', { token: null })).status, 401);
    assert.equal((await api(e, '/api/v1/deadletters', { token: null })).status, 401);
  });
});

test('retention keeps the newest successes and errors per registration beyond the window, and everything within it', async () => {
  const data = (await import('node:fs')).mkdtempSync(path.join((await import('node:os')).tmpdir(), 'evkit-e2e-ret-'));
  const first = await new Evkit({ app: APP, env: { ...ENV, EVKIT_TRACE_KEEP: '2' }, data }).start();
  let all;
  try {
    const c = new Ctl(first);
    const pubs = await c.publishMany([
      ...Array.from({ length: 4 }, (_, i) => ({ type: T.flow, data: { sku: `OK-${i}` } })),
      { type: T.flow, data: { sku: 'RJ-1', mode: 'reject' } },
      { type: T.flow, data: { sku: 'RJ-2', mode: 'reject' } },
      { type: T.flow, data: { sku: 'RJ-3', mode: 'reject' } },
      { type: T.timeout, data: { n: 3 } },
    ]);
    await first.waitFor(async () => (await traces(first, '?limit=500')).traces.length === 9, { what: '9 traces' });
    // Within the 7-day window nothing goes, whatever the count.
    all = (await traces(first, '?limit=500')).traces;
    assert.equal(all.length, 9);
    assert.ok(pubs.length === 8);
  } finally { await first.stop(); }

  // The same journal with a window of 1 ms: at start, retention keeps only
  // the newest 2 successes and 2 errors of each registration.
  const second = await new Evkit({ app: APP, env: { ...ENV, EVKIT_TRACE_KEEP: '2', EVKIT_TRACE_RETENTION: '1ms' }, data }).start();
  try {
    const expect = [];
    for (const reg of ['tr-flow', 'tr-timeout']) {
      for (const outcome of ['success', 'error']) {
        expect.push(...all.filter((t) => t.registration === reg && t.outcome === outcome).slice(0, 2).map((t) => t.id));
      }
    }
    expect.sort((a, b) => Number(b) - Number(a));
    assert.equal(expect.length, 6); // flow: 2 + 2; timeout: 1 + 1
    const kept = await second.waitFor(async () => {
      const l = (await traces(second, '?limit=500')).traces.map((t) => t.id);
      return l.length === expect.length && l;
    }, { what: 'retention at start' });
    assert.deepEqual(kept, expect);
    // The log line follows the deletion: wait for it rather than race it.
    await second.waitFor(() => second.logs().some((l) => l.message === 'trace retention removed old traces' && l.deleted === 3),
      { what: 'the retention log line' });
  } finally { await second.stop(); }

  // Keep 0 with a long window: everything young stays.
  const third = await new Evkit({ app: APP, env: { ...ENV, EVKIT_TRACE_KEEP: '0', EVKIT_TRACE_RETENTION: '1h' }, data }).start();
  try {
    await sleep(300);
    assert.equal((await traces(third, '?limit=500')).traces.length, 6);
  } finally { await third.stop(); third.cleanup(); }
});

test('events API: browse by provider, type and position; an event end to end with its deliveries and attempts', async () => {
  await withEvkit(async (e, c) => {
    const [a, b, d] = await c.publishMany([
      { type: T.flow, data: { sku: 'E-1', mode: 'flaky' } },
      { type: T.timeout, data: { n: 4 } },
      { type: 'be-observer.catalog_product_update', data: { sku: 'nobody' } },
    ]);
    const cm = await c.publish('com.adobe.commerce.observer.catalog_product_save_commit_after', { sku: 'C-1' }, { provider: 'commerce' });
    const page = (await api(e, '/api/v1/events')).json;
    assert.deepEqual(page.events.map((x) => x.event.id), [a.id, b.id, d.id, cm.id]);
    assert.deepEqual(page.events.map((x) => x.position), [a.position, b.position, d.position, cm.position]);
    assert.deepEqual(page.events.map((x) => x.provider), ['backoffice', 'backoffice', 'backoffice', 'commerce']);
    assert.equal(page.next, null);
    assert.equal(page.events[0].event.type, T.flow);
    assert.deepEqual(page.events[0].event.data, { sku: 'E-1', mode: 'flaky' });
    const ids = async (query) => (await api(e, `/api/v1/events?${query}`)).json.events.map((x) => x.event.id);
    assert.deepEqual(await ids('provider=commerce'), [cm.id]);
    assert.deepEqual(await ids(`type=${T.timeout}`), [b.id]);
    assert.deepEqual(await ids(`provider=backoffice&type=${T.flow}`), [a.id]);
    assert.deepEqual(await ids(`since=${a.position}`), [b.id, d.id, cm.id]);
    assert.deepEqual(await ids('latest=true&limit=2'), [d.id, cm.id]);
    assert.deepEqual(await ids(`before=${d.position}`), [a.id, b.id]);
    const p1 = (await api(e, '/api/v1/events?limit=2')).json;
    assert.equal(p1.next, b.position);
    assert.deepEqual((await api(e, `/api/v1/events?limit=2&since=${p1.next}`)).json.events.map((x) => x.event.id), [d.id, cm.id]);
    for (const [query, param] of [['since=-1', 'since'], ['limit=0', 'limit'], ['latest=maybe', 'latest']]) {
      const r = await api(e, `/api/v1/events?${query}`);
      assert.equal(r.status, 400, query);
      assert.ok(r.json.error.includes(param), r.json.error);
    }

    await eventTraces(e, 'tr-flow', a.id, 3);
    // A trace may commit a batch before its attempt's outcome.
    const show = await e.waitFor(async () => {
      const j = (await api(e, `/api/v1/events/${a.id}`)).json;
      return j.deliveries[0]?.state === 'done' && j;
    }, { what: 'the delivery done' });
    assert.equal(show.position, a.position);
    assert.equal(show.provider, 'backoffice');
    assert.equal(show.event.id, a.id);
    assert.equal(show.deliveries.length, 1);
    const del = show.deliveries[0];
    assert.equal(del.registration, 'tr-flow');
    assert.equal(del.state, 'done');
    assert.equal(del.attempt, 3);
    assert.equal(del.lastStatus, 200);
    assert.match(del.due, ISO_MS);
    assert.deepEqual(del.traces.map((t) => [t.attempt, t.statusCode, t.retried]), [[1, 500, true], [2, 500, true], [3, 200, false]]);
    assert.ok(del.traces.every((t) => t.deliveryId === del.id));
    const none = (await api(e, `/api/v1/events/${d.id}`)).json;
    assert.deepEqual(none.deliveries, [], 'no registration took it');
    assert.equal((await api(e, '/api/v1/events/no-such-event')).status, 404);
    // Publishing is still POST /api/v1/events.
    assert.notEqual((await api(e, '/api/v1/events', { method: 'POST' })).status, 404);

    // The CLI shows the same, readable.
    const r = e.cli(['event', 'show', a.id]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Event ${a.id}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^Delivery ${del.id} to tr-flow: done after 3 attempts$`, 'm'));
    const lines = r.stdout.split('\n').filter((l) => /^\s+attempt \d/.test(l));
    assert.equal(lines.length, 3);
    assert.match(lines[0], /attempt 1 .* error +500 .* retried +trace \d+ +activation [0-9a-f]{32} +flaky failure 1$/);
    assert.match(lines[2], /attempt 3 .* success 200 .* final +trace \d+/);
    assert.deepEqual(e.cliJson(['event', 'show', a.id]), show);
    const missing = e.cli(['event', 'show', 'no-such-event']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /event 'no-such-event' not found/);
  });
});

test('dead letters API: list, replay one (it then succeeds), replay a registration, 404s', async () => {
  await withEvkit(async (e, c) => {
    await c.put('tr.broken', true);
    const [x, y] = await c.publishMany([{ type: T.gate, data: { n: 'X' } }, { type: T.gate, data: { n: 'Y' } }]);
    const dls = await e.waitFor(async () => {
      const l = (await api(e, '/api/v1/deadletters?registration=tr-gate')).json.deadletters;
      return l.length === 2 && l;
    }, { what: 'two dead letters' });
    const dx = dls.find((d) => d.eventId === x.id);
    assert.ok(dx, JSON.stringify(dls));
    assert.equal(dx.registration, 'tr-gate');
    assert.equal(dx.eventType, T.gate);
    assert.equal(dx.lastStatus, 503);
    assert.equal(dx.lastError, 'down for maintenance');
    assert.ok(dx.attempts >= 1);
    assert.match(dx.lastAttempt, ISO_MS);
    assert.ok(Number.isInteger(dx.id));
    assert.equal((await api(e, '/api/v1/deadletters?registration=tr-flow')).json.deadletters.length, 0);
    assert.equal((await api(e, '/api/v1/deadletters?limit=1')).json.deadletters.length, 1);

    await c.put('tr.broken', false);
    const r = await api(e, `/api/v1/deadletters/${dx.id}/replay`, { method: 'POST' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { replayed: 1 });
    const ok = await e.waitFor(async () => (await traces(e, '?registration=tr-gate&outcome=success')).traces.find((t) => t.eventId === x.id),
      { what: 'the replayed delivery' });
    assert.equal(ok.attempt, 1, 'a replay starts again from attempt 1');
    assert.equal(ok.deliveryId, dx.id);
    assert.equal((await api(e, `/api/v1/deadletters/${dx.id}/replay`, { method: 'POST' })).status, 404, 'no longer a dead letter');
    assert.equal((await api(e, '/api/v1/deadletters/424242/replay', { method: 'POST' })).status, 404);
    assert.equal((await api(e, '/api/v1/deadletters/replay', { method: 'POST' })).status, 400);
    assert.equal((await api(e, `/api/v1/deadletters/${dx.id}/replay`)).status, 405);

    const all = await api(e, '/api/v1/deadletters/replay?registration=tr-gate', { method: 'POST' });
    assert.deepEqual(all.json, { replayed: 1 });
    await e.waitFor(async () => (await traces(e, '?registration=tr-gate&outcome=success')).traces.some((t) => t.eventId === y.id),
      { what: 'the second replayed delivery' });
    assert.equal((await api(e, '/api/v1/deadletters')).json.deadletters.length, 0);
  });
});

test('evkit trace list prints an aligned table with the same filters; trace show prints one trace', async () => {
  await withEvkit(async (e, c) => {
    const pub = await c.publish(T.flow, { sku: 'CLI', mode: 'flaky' });
    const list = await eventTraces(e, 'tr-flow', pub.id, 3);
    const r = e.cli(['trace', 'list', '--registration', 'tr-flow']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    const head = lines[0];
    assert.match(head, /^ID +START +REGISTRATION +EVENT TYPE +ATTEMPT +STATUS +OUTCOME +RETRIED +DURATION +ERROR$/);
    // Aligned: every column starts where its heading does.
    for (const col of ['START', 'REGISTRATION', 'EVENT TYPE', 'ATTEMPT', 'STATUS', 'OUTCOME', 'RETRIED', 'DURATION', 'ERROR']) {
      const at = head.indexOf(col);
      for (const l of lines.slice(1)) assert.notEqual(l[at], ' ', `${col} in ${l}`), assert.equal(l[at - 1], ' ', `${col} in ${l}`);
    }
    const rows = lines.slice(1).map((l) => l.split(/ {2,}/));
    assert.deepEqual(rows.map((x) => x[0]), [...list].reverse().map((t) => t.id));
    assert.deepEqual(rows.map((x) => [x[4], x[5], x[6], x[7]]), [['3', '200', 'success', 'no'], ['2', '500', 'error', 'yes'], ['1', '500', 'error', 'yes']]);
    assert.equal(rows[1][9], 'flaky failure 2');

    const errs = e.cli(['trace', 'list', '--outcome', 'error', '--retried', 'true', '--status', '500', '--json']);
    assert.equal(errs.code, 0, errs.stderr);
    assert.deepEqual(JSON.parse(errs.stdout).traces.map((t) => t.id), [list[1].id, list[0].id]);
    const paged = JSON.parse(e.cli(['trace', 'list', '--limit', '1', '--json']).stdout);
    assert.equal(paged.traces.length, 1);
    assert.equal(paged.next, list[2].id);
    const nextPage = JSON.parse(e.cli(['trace', 'list', '--limit', '1', '--before', paged.next, '--json']).stdout);
    assert.deepEqual(nextPage.traces.map((t) => t.id), [list[1].id]);
    const more = e.cli(['trace', 'list', '--limit', '1']);
    assert.match(more.stdout, new RegExp(`^\\(more: --before ${list[2].id}\\)$`, 'm'));
    for (const bad of [['--outcome', 'maybe'], ['--status', 'x'], ['--retried', 'yes'], ['--limit', '0']]) {
      const b = e.cli(['trace', 'list', ...bad]);
      assert.equal(b.code, 1, bad.join(' '));
      assert.ok(b.stderr.includes(bad[0]), b.stderr);
    }

    const show = e.cli(['trace', 'show', list[0].id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^Trace ${list[0].id}: tr-flow, attempt 1: error 500, retried$`, 'm'));
    assert.match(show.stdout, /^ {2}error: +flaky failure 1$/m);
    assert.match(show.stdout, /^Response 500$/m);
    assert.match(show.stdout, /^ {6}"error": "flaky failure 1",?$/m, "pretty-printed body");
    assert.match(show.stdout, /"API_SECRET": "<hidden>"/);
    assert.ok(!show.stdout.includes(SECRET));
    assert.deepEqual(e.cliJson(['trace', 'show', list[0].id]), (await api(e, `/api/v1/traces/${list[0].id}`)).json);
    const nf = e.cli(['trace', 'show', '999999']);
    assert.equal(nf.code, 1);
    assert.match(nf.stderr, /trace 999999 not found/);
  });
});
