// Flow control per registration, against a loopback receiver: a
// concurrency cap (a slow receiver never has more requests in flight than
// it allows), a rate limit (a token bucket), Retry-After on 429/503 honoured
// within the retry schedule's bounds, and replay of a position or time
// range to one registration (API and CLI), its filter applied.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CloudEvent, HTTP } from 'cloudevents';
import { Evkit } from './lib/evkit.mjs';
import { receiver } from './lib/receiver.mjs';
import { Ctl, controlApp } from './lib/fixture.mjs';

const token = 'flow-token-1-0123456789abcdef0123456789ab';
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
const DELETE = 'com.adobe.commerce.observer.catalog_product_delete_commit_after';
let ek, rx, source;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  rx = await receiver();
  ek = await new Evkit({ env: { EVKIT_API_TOKENS: token }, workers: 8 }).start();
  source = `urn:uuid:${ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce').id}`;
});
after(async () => { await ek.stop(); ek.cleanup(); await rx.close(); });

const api = (method, p, body) => ek.request(method, p, body, auth);

async function publish(type, data) {
  const msg = HTTP.structured(new CloudEvent({ id: crypto.randomUUID(), source, type, data }));
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...msg.headers, authorization: `Bearer ${token}` }, body: msg.body });
  assert.ok(r.status === 200 || r.status === 204, await r.text());
}

async function hook(name, extra = {}, codes = [SAVE]) {
  const r = await api('POST', '/api/v1/registrations', {
    name, webhook_url: `${rx.url}/${name}`,
    events_of_interest: [{ provider_metadata: 'commerce', event_codes: codes }],
    ...extra,
  });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
const tagged = (name, tag) => rx.forPath(`/${name}`).filter((q) => JSON.parse(q.body).data.tag === tag);

test('a concurrency cap: never more requests in flight than allowed; without one, more', async () => {
  rx.hold = (q) => (q.path === '/capped' || q.path === '/uncapped' ? 400 : 0);
  const made = await hook('capped', { flow_control: { concurrency: 2 } });
  assert.deepEqual(made.flow_control, { concurrency: 2 });
  await hook('uncapped');
  for (let i = 0; i < 8; i++) await publish(SAVE, { tag: 'cap', i });
  await ek.waitFor(() => tagged('capped', 'cap').length === 8 && tagged('uncapped', 'cap').length === 8,
    { what: 'both hooks got 8', timeout: 30000 });
  await ek.waitFor(async () => (await api('GET', '/api/v1/registrations/capped')).json.backlog === 0, { what: 'capped drained' });
  rx.hold = 0;
  assert.equal(rx.maxInFlight['/capped'], 2, `capped: ${rx.maxInFlight['/capped']} in flight at most`);
  assert.ok(rx.maxInFlight['/uncapped'] > 2, `uncapped reached ${rx.maxInFlight['/uncapped']}`);
  await api('DELETE', '/api/v1/registrations/capped');
  await api('DELETE', '/api/v1/registrations/uncapped');
});

test('a rate limit: 2/1s lets a burst of 2, then one every 500 ms', async () => {
  await hook('rated', { flow_control: { rate: '2/1s' } });
  const t0 = Date.now();
  for (let i = 0; i < 8; i++) await publish(SAVE, { tag: 'rate', i });
  await ek.waitFor(() => tagged('rated', 'rate').length === 8, { what: '8 at the rated hook', timeout: 30000 });
  const at = tagged('rated', 'rate').map((q) => q.at).sort((a, b) => a - b);
  // 2 at once, then 6 more at 500 ms each: at least 3 s for all 8 (a little slack for rounding).
  assert.ok(at[7] - t0 >= 2800, `8 requests took ${at[7] - t0} ms`);
  for (let i = 2; i < 8; i++) assert.ok(at[i] - at[0] >= (i - 1) * 500 - 150, `request ${i} came ${at[i] - at[0]} ms after the first`);
  const r = await api('GET', '/api/v1/registrations/rated');
  assert.equal(r.json.flow_control.rate, '2/1000ms');
  await api('DELETE', '/api/v1/registrations/rated');
});

test('Retry-After on 503 and 429 is honoured, within the schedule bounds', async () => {
  const first = {};
  rx.reply = (q, n) => {
    const tag = JSON.parse(q.body).data.tag;
    if (tag !== 'ra' || n > 1) return 200;
    first[q.path] = q.at;
    if (q.path === '/ra-seconds') return { status: 503, headers: { 'retry-after': '2' } };
    if (q.path === '/ra-date') return { status: 429, headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } };
    if (q.path === '/ra-long') return { status: 503, headers: { 'retry-after': '3600' } };
    return 503; // no Retry-After: the schedule's 100 ms
  };
  const retry = { schedule: ['100ms', '2500ms'], max_age: '1m', jitter: 0 };
  for (const name of ['ra-seconds', 'ra-date', 'ra-long', 'ra-none']) await hook(name, { retry });
  await publish(SAVE, { tag: 'ra' });
  await ek.waitFor(() => ['ra-seconds', 'ra-date', 'ra-long', 'ra-none'].every((n) => tagged(n, 'ra').length >= 2),
    { what: 'a second attempt at each hook', timeout: 30000 });
  rx.reply = () => 200;
  const gap = (n) => tagged(n, 'ra')[1].at - tagged(n, 'ra')[0].at;
  assert.ok(gap('ra-none') < 1500, `no Retry-After: retried after ${gap('ra-none')} ms`);
  assert.ok(gap('ra-seconds') >= 1900 && gap('ra-seconds') < 2500 + 1500, `Retry-After: 2 -> ${gap('ra-seconds')} ms`);
  assert.ok(gap('ra-date') >= 1000 && gap('ra-date') < 2500 + 1500, `Retry-After: <date in 3 s> -> ${gap('ra-date')} ms (capped at the schedule's 2.5 s)`);
  assert.ok(gap('ra-long') >= 2400 && gap('ra-long') < 2500 + 1500, `Retry-After: 3600 -> ${gap('ra-long')} ms (capped at the schedule's 2.5 s)`);
  assert.equal(tagged('ra-seconds', 'ra')[1].headers['x-adobe-retry-count'], '1');
  for (const name of ['ra-seconds', 'ra-date', 'ra-long', 'ra-none']) await api('DELETE', `/api/v1/registrations/${name}`);
});

test('a consumer action answering 503 with Retry-After in its headers is retried after it', async () => {
  const fx = controlApp();
  const e = await new Evkit({ app: fx.app, env: { EVKIT_API_TOKENS: token } }).start();
  try {
    const ctl = new Ctl(e);
    const r = await fetch(`${e.url}/api/v1/registrations`, {
      method: 'POST', headers: auth,
      body: JSON.stringify({
        name: 'ra-action', runtime_action: 'dl/consumer',
        events_of_interest: [{ provider_metadata: 'backoffice', event_codes: ['be-observer.customer_group_create'] }],
        retry: { schedule: ['100ms', '5s'], max_age: '1m', jitter: 0 },
      }),
    });
    assert.equal(r.status, 201, await r.text());
    await ctl.put('dl.broken', true);
    await ctl.put('dl.retry_after', '2');
    const ev = await ctl.publish('be-observer.customer_group_create', { id: 'ra-1' });
    const attempts = async () => {
      const t = await (await fetch(`${e.url}/api/v1/traces?registration=ra-action&limit=50`, { headers: auth })).json();
      return t.traces.filter((x) => x.eventId === ev.id).sort((a, b) => a.attempt - b.attempt);
    };
    await e.waitFor(async () => (await attempts()).length >= 2, { what: 'a second attempt', timeout: 20000 });
    await ctl.put('dl.broken', false);
    const [a1, a2] = await attempts();
    const gap = Date.parse(a2.start) - (Date.parse(a1.start) + a1.duration);
    assert.ok(gap >= 1900 && gap < 4000, `retried ${gap} ms after the 503 with Retry-After: 2 (the schedule says 100 ms)`);
    assert.equal(a1.statusCode, 503);
  } finally {
    await e.stop();
    e.cleanup();
    fx.cleanup();
  }
});

test('replay of a position range and of a time range to one registration, its filter applied', async () => {
  await hook('replayed', { filter: { data: { n: [{ numeric: ['<', 100] }] } } }, [DELETE]);
  await hook('bystander', {}, [DELETE]);
  for (let n = 1; n <= 6; n++) await publish(DELETE, { tag: 'rp', n });
  await publish(DELETE, { tag: 'rp', n: 500 });   // the filter turns it away
  await ek.waitFor(() => tagged('replayed', 'rp').length === 6 && tagged('bystander', 'rp').length === 7, { what: 'first deliveries' });
  const list = ek.cliJson(['event', 'list', '--provider', 'commerce', '--limit', '100000']);
  const pos = Object.fromEntries(list.filter((x) => x.event.data?.tag === 'rp').map((x) => [x.event.data.n, x.position]));

  // Positions: after n=2 up to n=4 -> 3, 4 again.
  let r = await api('POST', '/api/v1/registrations/replayed/replay', { since: pos[2], until: pos[4] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual({ ...r.json }, { registration: 'replayed', since: pos[2], until: pos[4], replayed: 2, filtered: 0 });
  await ek.waitFor(() => tagged('replayed', 'rp').length === 8, { what: 'the replayed two' });
  assert.deepEqual(tagged('replayed', 'rp').slice(6).map((q) => JSON.parse(q.body).data.n).sort(), [3, 4]);

  // A time range from the CLI: from the time of n=5 to the end; n=500 is filtered.
  const t5 = list.find((x) => x.position === pos[5]).event.time;
  const cli = ek.cli(['event', 'replay', '--registration', 'replayed', '--from', t5, '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const out = JSON.parse(cli.stdout);
  assert.equal(out.replayed, 2, cli.stdout);
  assert.equal(out.filtered, 1);
  await ek.waitFor(() => tagged('replayed', 'rp').length === 10, { what: 'the CLI replay' });
  assert.deepEqual(tagged('replayed', 'rp').slice(8).map((q) => JSON.parse(q.body).data.n).sort(), [5, 6]);
  // Up to a time: --since and --to.
  const t2 = list.find((x) => x.position === pos[2]).event.time;
  const t3 = list.find((x) => x.position === pos[3]).event.time;
  if (t3 > t2) {
    const c2 = ek.cli(['event', 'replay', '--registration', 'replayed', '--since', String(pos[1] - 1), '--to', t3]);
    assert.equal(c2.code, 0, c2.stderr);
    assert.match(c2.stdout, /replaying 2 event\(s\)/);
  }
  // The other registration got nothing again.
  await sleep(300);
  assert.equal(tagged('bystander', 'rp').length, 7);

  // Bad ranges are 400s naming the problem; an unknown registration 404.
  for (const [body, re] of [
    [{ since: 'x' }, /"since" must be a journal position/],
    [{ from: 'yesterday' }, /"from" must be an ISO 8601 time/],
    [{ since: 1, from: '-PT1H' }, /not both/],
    [{ colour: 1 }, /unknown key 'colour'/],
    [{ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, /ends before it starts/],
  ]) {
    r = await api('POST', '/api/v1/registrations/replayed/replay', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.json.error, re);
  }
  r = await api('POST', '/api/v1/registrations/nope/replay', {});
  assert.equal(r.status, 404);
  r = await api('GET', '/api/v1/registrations/replayed/replay');
  assert.equal(r.status, 405);
  const bad = ek.cli(['event', 'replay', '--registration', 'replayed', '--from', 'soon']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--from 'soon'/);
});

test('flow_control is checked when the registration is made', async () => {
  for (const [fc, re] of [
    [{ concurrency: 0 }, /flow_control.concurrency of registration 'bad-fc' is 0; it must be within 1..1000/],
    [{ rate: 'fast' }, /flow_control.rate of registration 'bad-fc' must be COUNT\/DURATION/],
    [{ rate: '10/0s' }, /flow_control.rate/],
    [{ burst: 3 }, /unknown key 'burst'/],
  ]) {
    const r = await api('POST', '/api/v1/registrations', {
      name: 'bad-fc', webhook_url: `${rx.url}/bad-fc`,
      events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }], flow_control: fc,
    });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, re);
  }
});
