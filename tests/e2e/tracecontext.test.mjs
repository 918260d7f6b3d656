// W3C trace context end to end (tests/e2e/fixtures/tracing): a traceparent
// on the ingestion web action or the publishing API is kept with the event,
// continued by every delivery attempt (a webhook gets a traceparent header
// in the same trace with a span of its own), by the consumer and the
// handler it invokes (activation annotations, __evkit.traceparent), by
// evkit.http requests and by an exec action's TRACEPARENT; every hop is a
// span of GET /api/v1/trace-context/<trace id>.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { Evkit, fixtures } from './lib/evkit.mjs';
import { receiver } from './lib/receiver.mjs';

const token = 'trace-context-token-0123456789abcdef0123';
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const TYPE = 'shop.order_placed';
const TP = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
let ek, rx;

before(async () => {
  rx = await receiver();
  ek = await new Evkit({ app: path.join(fixtures, 'tracing'), env: { EVKIT_API_TOKENS: token } }).start();
  const r = await fetch(`${ek.url}/api/v1/registrations`, {
    method: 'POST', headers: auth,
    body: JSON.stringify({ name: 'orders-hook', webhook_url: `${rx.url}/hook`, events_of_interest: [{ provider_metadata: 'shop', event_codes: [TYPE] }] }),
  });
  assert.equal(r.status, 201, await r.text());
});
after(async () => { await ek.stop(); ek.cleanup(); await rx.close(); });

const hex = (n) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, '0')).join('');
const parse = (tp) => { const m = TP.exec(tp || ''); assert.ok(m, `a traceparent: ${tp}`); return { trace: m[1], span: m[2], flags: m[3] }; };
const ann = (a, k) => (a.annotations || []).find((x) => x.key === k)?.value;

async function spans(trace, want) {
  let got = [];
  await ek.waitFor(async () => {
    const r = await fetch(`${ek.url}/api/v1/trace-context/${trace}`, { headers: auth });
    got = r.status === 200 ? (await r.json()).spans : [];
    return got.length >= want;
  }, { what: `${want} spans of ${trace}`, timeout: 20000 });
  return got;
}

test('a traceparent on the ingestion web action runs through the event, its deliveries, the actions and their requests', async () => {
  const trace = hex(16), caller = hex(8);
  const r = await ek.post('trc/publish', { data: { n: 1, url: rx.url }, url: rx.url }, { traceparent: `00-${trace}-${caller}-01` });
  assert.equal(r.status, 200, r.text);
  const eventId = r.json.id;

  // The event keeps the trace, with a span of its own.
  const ev = ek.events().find((x) => x.event.id === eventId).event;
  const evtp = parse(ev.traceparent);
  assert.equal(evtp.trace, trace);
  assert.notEqual(evtp.span, caller);

  // The webhook delivery: the same trace, a new span, as a header.
  await ek.waitFor(() => rx.forPath('/hook').some((q) => JSON.parse(q.body).id === eventId), { what: 'the webhook delivery' });
  const hook = parse(rx.forPath('/hook').find((q) => JSON.parse(q.body).id === eventId).headers.traceparent);
  assert.equal(hook.trace, trace);
  assert.ok(![caller, evtp.span].includes(hook.span));

  // evkit.http from the publishing web action, the consumer and the handler: the same trace.
  await ek.waitFor(() => ['/from-publish', '/from-consumer', '/from-handler'].every((p) => rx.forPath(p).length > 0), { what: 'the actions\' requests' });
  const outgoing = ['/from-publish', '/from-consumer', '/from-handler'].map((p) => parse(rx.forPath(p)[0].headers.traceparent));
  for (const o of outgoing) assert.equal(o.trace, trace);
  assert.equal(new Set(outgoing.map((o) => o.span)).size, 3, 'each request a span of its own');

  // The activations: web action under the caller, consumer under its delivery attempt, handler under the consumer.
  const all = await spans(trace, 6);
  const by = (kind, name) => all.filter((s) => s.kind === kind && (!name || s.name === name));
  const [web] = by('activation', 'trc/publish');
  assert.equal(web.parentSpanId, caller);
  const [event] = by('event');
  assert.equal(event.ref, eventId);
  assert.equal(event.spanId, evtp.span);
  assert.equal(event.parentSpanId, web.spanId);
  const deliveries = by('delivery');
  assert.deepEqual(deliveries.map((d) => d.name).sort(), ['orders', 'orders-hook']);
  for (const d of deliveries) assert.equal(d.parentSpanId, event.spanId);
  assert.equal(deliveries.find((d) => d.name === 'orders-hook').spanId, hook.span);
  const [consumer] = by('activation', 'trc/consumer');
  assert.equal(consumer.parentSpanId, deliveries.find((d) => d.name === 'orders').spanId);
  const [handler] = by('activation', 'trc/handler');
  assert.equal(handler.parentSpanId, consumer.spanId);

  // The consumer saw its attempt's traceparent; its activation record carries its own.
  const rec = ek.cliJson(['activation', 'get', consumer.ref]);
  assert.equal(rec.response.result.body.evkit.traceparent, `00-${trace}-${consumer.parentSpanId}-01`);
  assert.equal(ann(rec, 'traceparent'), `00-${trace}-${consumer.spanId}-01`);
  assert.equal(ann(rec, 'parentSpanId'), consumer.parentSpanId);
  assert.equal(rec.response.result.body.handler, handler.ref);
});

test('the publishing API: the header traceparent, or the CloudEvent\'s own traceparent first; without one a new trace', async () => {
  const source = `urn:uuid:${ek.logs().find((l) => l.message === 'provider' && l.provider === 'shop').id}`;
  const send = async (extra, headers) => {
    const msg = HTTP.structured(new CloudEvent({ id: crypto.randomUUID(), source, type: TYPE, data: { n: 2 }, ...extra }));
    const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...msg.headers, authorization: `Bearer ${token}`, ...headers }, body: msg.body });
    const j = await r.json();
    assert.equal(r.status, 200, JSON.stringify(j));
    return ek.events().find((x) => x.event.id === j.events[0].id).event;
  };
  const t1 = hex(16), t2 = hex(16);
  let ev = await send({}, { traceparent: `00-${t1}-${hex(8)}-01` });
  assert.equal(parse(ev.traceparent).trace, t1);
  ev = await send({ traceparent: `00-${t2}-${hex(8)}-01` }, { traceparent: `00-${t1}-${hex(8)}-01` });
  assert.equal(parse(ev.traceparent).trace, t2, 'the CloudEvent attribute wins');
  ev = await send({}, { traceparent: 'garbage' });
  const fresh = parse(ev.traceparent);
  assert.ok(![t1, t2].includes(fresh.trace), 'an invalid one starts a new trace');
  // Its delivery continues it.
  await ek.waitFor(() => rx.forPath('/hook').some((q) => JSON.parse(q.body).id === ev.id), { what: 'the delivery' });
  assert.equal(parse(rx.forPath('/hook').find((q) => JSON.parse(q.body).id === ev.id).headers.traceparent).trace, fresh.trace);
});

test('an exec action gets TRACEPARENT, a nodejs one __OW_TRACEPARENT, in the trace of the request; the trace view API checks its input', async () => {
  const trace = hex(16), caller = hex(8);
  const r = await ek.post('trc/env', {}, { traceparent: `00-${trace}-${caller}-01` });
  assert.equal(r.status, 200, r.text);
  const own = parse(r.json.traceparent);
  assert.equal(own.trace, trace);
  assert.notEqual(own.span, caller);
  const [sp] = await spans(trace, 1);
  assert.equal(sp.kind, 'activation');
  assert.equal(sp.spanId, own.span);
  assert.equal(sp.parentSpanId, caller);
  // A nodejs action (a warm process) gets its own in __OW_TRACEPARENT.
  const n = await ek.post('trc/node', {}, { traceparent: `00-${trace}-${caller}-01` });
  assert.equal(n.status, 200, n.text);
  assert.equal(parse(n.json.traceparent).trace, trace);
  assert.notEqual(parse(n.json.traceparent).span, own.span);
  // Without a traceparent, a trace of its own.
  const alone = await ek.post('trc/env', {});
  assert.notEqual(parse(alone.json.traceparent).trace, trace);

  let q = await fetch(`${ek.url}/api/v1/trace-context/nothex`, { headers: auth });
  assert.equal(q.status, 400);
  q = await fetch(`${ek.url}/api/v1/trace-context/${hex(16)}`, { headers: auth });
  assert.equal(q.status, 404);
  q = await fetch(`${ek.url}/api/v1/trace-context/${trace}`);
  assert.equal(q.status, 401);
});
