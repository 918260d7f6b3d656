// Issue 3 end to end, on the control app (tests/e2e/fixtures/control): registrations deliver
// journaled events to Lua, exec and actionloop consumers, which invoke their
// handlers; retries on a millisecond schedule, dead letters, registration
// health, per-key ordering, replay, kill -9, and the activations that show
// it all. Events get in through the fixture's ingest/publish web action
// (evkit.publish); what actions record is read through ctl/state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Evkit, bin } from './lib/evkit.mjs';
import { Ctl, CONTROL, controlApp, activations, annotation, registration, deadletters, sleep } from './lib/fixture.mjs';

const APP = CONTROL;
const ENV = { EVKIT_API_TOKENS: 'e2e-delivery-token-0123456789abcdef01234' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX32 = /^[0-9a-f]{32}$/;

const T = {
  luaFlow: 'be-observer.catalog_product_create',
  commerceFlow: 'com.adobe.commerce.observer.catalog_product_save_commit_after',
  execFlow: 'be-observer.catalog_product_update',
  loopFlow: 'be-observer.catalog_product_delete',
  execCrash: 'be-observer.customer_create',
  luaTimeout: 'be-observer.customer_update',
  fragile: 'be-observer.customer_delete',
  expiring: 'be-observer.customer_group_create',
  ordered: 'be-observer.catalog_stock_update',
  replayable: 'be-observer.customer_group_update',
  slow: 'be-observer.sales_order_status_update',
};

// One daemon for the flows that do not depend on a fresh journal.
let ek;
let ctl;
before(async () => {
  ek = await new Evkit({ app: APP, env: ENV, workers: 4 }).start();
  ctl = new Ctl(ek);
});
after(async () => { if (ek) { await ek.stop(); ek.cleanup(); } });

// A fresh daemon with its own journal for one test.
async function withEvkit(fn, opts = {}) {
  const e = await new Evkit({ app: APP, env: ENV, workers: 4, ...opts }).start();
  try { await fn(e, new Ctl(e)); } finally { await e.stop(); e.cleanup(); }
}

const resultOf = (a) => a.response.result;
const bodyOf = (a) => resultOf(a)?.body ?? resultOf(a)?.error?.body;
const byEvent = (list, id) => list.filter((a) => bodyOf(a)?.id === id || bodyOf(a)?.seen?.id === id);

function logLines(e, id) {
  const r = e.cli(['activation', 'logs', id]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('Lua consumer -> Lua handler: the event as params, one success, and the causedBy chain in activations', async () => {
  const data = { sku: 'LUA-1', name: 'Lua product', price: 12.5 };
  const pub = await ctl.publish(T.luaFlow, data);
  assert.match(pub.id, UUID);
  assert.equal(pub.duplicate, false);
  assert.ok(Number.isInteger(pub.position) && pub.position >= 1);

  const consumer = await ek.waitFor(() => activations(ek, 'flow/consumer').find((a) => bodyOf(a)?.seen?.id === pub.id),
    { what: 'the consumer activation' });
  assert.match(consumer.activationId, HEX32);
  assert.equal(consumer.path, 'flow/consumer');
  assert.equal(consumer.name, 'consumer');
  assert.deepEqual({ ...consumer.response, result: undefined }, { status: 'success', statusCode: 0, success: true, result: undefined });
  assert.equal(consumer.cause, undefined, 'a delivery has no parent activation');
  assert.equal(annotation(consumer, 'causedBy'), undefined);
  assert.equal(annotation(consumer, 'path'), 'flow/consumer');
  assert.equal(annotation(consumer, 'limits').timeout, 3000);
  assert.equal(consumer.duration, consumer.end - consumer.start);

  const body = resultOf(consumer).body;
  assert.equal(resultOf(consumer).statusCode, 200);
  assert.equal(body.type, T.luaFlow);
  const seen = body.seen;
  assert.equal(seen.id, pub.id);
  assert.equal(seen.eventid, pub.id);
  assert.equal(seen.type, T.luaFlow);
  assert.match(seen.source, /^urn:uuid:[0-9a-f-]{36}$/);
  assert.equal(seen.specversion, '1.0');
  assert.equal(seen.datacontenttype, 'application/json');
  assert.ok(!Number.isNaN(Date.parse(seen.time)), seen.time);
  assert.deepEqual(seen.data, data);
  assert.equal(seen.input, 'from-inputs', "the consumer's inputs are added");
  assert.equal(seen.evkit.attempt, 1);
  assert.equal(seen.evkit.retryCount, 0);
  assert.equal(seen.evkit.registration, 'lua-flow');
  assert.ok(Number.isInteger(seen.evkit.delivery));
  assert.deepEqual(body.response, { success: true, message: 'handled', id: pub.id, calls: 1, input: 'handler-input', attempt: 1 });

  // The handler's activation is caused by the consumer's.
  const hid = body.handlerActivation;
  assert.match(hid, HEX32);
  const handler = ek.cliJson(['activation', 'get', hid]);
  assert.equal(handler.activationId, hid);
  assert.equal(handler.path, 'flow/handler');
  assert.equal(handler.cause, consumer.activationId);
  assert.equal(annotation(handler, 'causedBy'), consumer.activationId);
  assert.equal(handler.response.success, true);
  assert.deepEqual(handler.response.result, { statusCode: 200, body: body.response });
  assert.ok(handler.start >= consumer.start && handler.end <= consumer.end, 'the handler ran inside the consumer');
  assert.ok(activations(ek, 'handler').some((a) => a.activationId === hid), '--name matches the action name alone');

  const res = ek.cli(['activation', 'result', hid]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(JSON.parse(res.stdout), handler.response.result);
  const logs = logLines(ek, consumer.activationId);
  const line = logs.find((l) => l.includes(`consumer handling ${pub.id} attempt 1`));
  assert.ok(line, logs.join('\n'));
  assert.match(line, new RegExp(`^(\\S+) stdout: consumer handling ${pub.id} attempt 1$`));
  assert.ok(!Number.isNaN(Date.parse(line.split(' ')[0])));
  assert.ok(logs.some((l) => l.includes('consumer info line')), 'evkit.log lines are in the activation logs');

  // The human list shows the chain too.
  const plain = ek.cli(['activation', 'list', '--limit', '1000']);
  assert.equal(plain.code, 0);
  const hline = plain.stdout.split('\n').find((l) => l.includes(hid));
  assert.ok(hline && hline.trim().endsWith(consumer.activationId), hline);

  assert.deepEqual((await ctl.get([`flow.attempts.${pub.id}`]))[`flow.attempts.${pub.id}`], [1]);
  await ek.waitFor(() => registration(ek, 'lua-flow').backlog === 0, { what: 'lua-flow backlog 0' });
  const reg = registration(ek, 'lua-flow');
  assert.equal(reg.state, 'ACTIVE');
  assert.equal(reg.action, 'flow/consumer');
  assert.equal(reg.dead, 0);
});

test('a commerce event reaches the registration through its second interest; an idempotency key delivers once', async () => {
  const c = await ctl.publish(T.commerceFlow, { sku: 'COM-1' }, { provider: 'commerce' });
  const a = await ek.waitFor(() => activations(ek, 'flow/consumer').find((x) => bodyOf(x)?.seen?.id === c.id), { what: 'commerce delivery' });
  const b = activations(ek, 'flow/consumer').find((x) => bodyOf(x)?.seen?.type === T.luaFlow);
  assert.equal(bodyOf(a).seen.type, T.commerceFlow);
  assert.notEqual(bodyOf(a).seen.source, bodyOf(b).seen.source, 'each provider has its own source');

  const first = await ctl.publish(T.luaFlow, { sku: 'DUP-1' }, { key: 'dup-key-1' });
  const second = await ctl.publish(T.luaFlow, { sku: 'DUP-1' }, { key: 'dup-key-1' });
  assert.equal(first.duplicate, false);
  assert.equal(second.duplicate, true);
  assert.equal(second.id, first.id);
  await ek.waitFor(async () => (await ctl.get([`flow.handler.${first.id}`]))[`flow.handler.${first.id}`] === 1, { what: 'the handler ran' });
  await sleep(300);
  assert.equal(byEvent(activations(ek, 'flow/consumer'), first.id).length, 1, 'one delivery for a duplicate publish');
});

test('exec consumer -> exec handler: native protocol, __OW_* environment, logs from stdout and stderr', async () => {
  const data = { sku: 'EXEC-1', name: 'Exec product' };
  const pub = await ctl.publish(T.execFlow, data);
  const consumer = await ek.waitFor(() => activations(ek, 'xflow/consumer').find((a) => bodyOf(a)?.seen?.id === pub.id),
    { what: 'the exec consumer activation' });
  assert.equal(consumer.response.status, 'success', JSON.stringify(consumer.response));
  const body = resultOf(consumer).body;
  assert.equal(body.type, T.execFlow);
  assert.equal(body.seen.eventid, pub.id);
  assert.equal(body.seen.specversion, '1.0');
  assert.equal(body.seen.input, 'exec-input');
  assert.equal(body.seen.argvEqualsStdin, true, 'params in argv[1] and on stdin');
  assert.deepEqual(body.seen.evkit, { attempt: 1, retryCount: 0, registration: 'exec-flow', delivery: body.seen.evkit.delivery,
    traceparent: body.seen.evkit.traceparent });
  assert.match(body.seen.evkit.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, "the attempt's W3C trace context");
  const env = body.seen.env;
  assert.equal(env.activationId, consumer.activationId, '__OW_ACTIVATION_ID');
  assert.match(env.actionName, /xflow\/consumer$/, '__OW_ACTION_NAME');
  const deadline = Number(env.deadline);
  assert.ok(deadline >= consumer.start + 2900 && deadline <= consumer.start + 3100, `__OW_DEADLINE ${env.deadline} is start + 3000`);
  assert.equal(env.apiHost, ek.url, '__OW_API_HOST');
  assert.equal(env.apiKeySet, true, '__OW_API_KEY');

  const h = body.response;
  assert.equal(h.success, true);
  assert.equal(h.runtime, 'exec');
  assert.equal(h.id, pub.id);
  assert.equal(h.attempt, 1);
  assert.equal(h.argvEqualsStdin, true);
  const handler = ek.cliJson(['activation', 'get', body.handlerActivation]);
  assert.equal(handler.path, 'xflow/handler');
  assert.equal(h.env.activationId, handler.activationId);
  assert.equal(handler.response.status, 'success');

  const hlogs = logLines(ek, handler.activationId);
  assert.ok(hlogs.some((l) => / stdout: exec handler log line /.test(l)), hlogs.join('\n'));
  assert.ok(hlogs.some((l) => / stderr: exec handler stderr line$/.test(l)), hlogs.join('\n'));
  assert.ok(!hlogs.some((l) => l.includes('"statusCode"')), 'the result line is not a log line');
  const clogs = logLines(ek, consumer.activationId);
  assert.ok(clogs.some((l) => l.includes(`stdout: exec consumer handling ${pub.id} attempt 1`)), clogs.join('\n'));
  assert.ok(clogs.some((l) => l.endsWith('stderr: exec consumer stderr line')), clogs.join('\n'));
  assert.ok(!ek.stderr.includes('e2e-delivery-token-0123456789abcdef01234'), 'the API key never reaches the logs');
});

test('actionloop consumer -> actionloop handler: one long-lived process, restarted when it dies', async () => {
  const pubs = [];
  for (let i = 1; i <= 3; i++) pubs.push(await ctl.publish(T.loopFlow, { sku: `LOOP-${i}` }));
  const done = await ek.waitFor(() => {
    const list = activations(ek, 'alflow/consumer').filter((a) => a.response.success);
    const got = pubs.map((p) => list.find((a) => bodyOf(a)?.response?.id === p.id));
    return got.every(Boolean) && got;
  }, { what: 'three actionloop deliveries' });
  const handlerResults = done.map((a) => bodyOf(a).response);
  for (const [i, r] of handlerResults.entries()) {
    assert.equal(r.runtime, 'actionloop');
    assert.equal(r.id, pubs[i].id);
    assert.equal(r.attempt, 1);
  }
  const pids = new Set(handlerResults.map((r) => r.pid));
  assert.equal(pids.size, 1, 'limits.concurrency 1: one handler process served all three');
  assert.deepEqual(handlerResults.map((r) => r.count).sort(), [1, 2, 3]);
  const handlers = activations(ek, 'alflow/handler');
  for (const r of handlerResults) {
    assert.ok(handlers.some((a) => a.activationId === r.activationId), 'the activation_id on the line is the record id');
  }
  const [pid] = pids;

  // The handler process exits without answering on attempt 1: a developer
  // error, retried, served by a new process.
  const die = await ctl.publish(T.loopFlow, { sku: 'LOOP-DIE', mode: 'die-once' });
  const ok = await ek.waitFor(() => activations(ek, 'alflow/consumer').find((a) => a.response.success && bodyOf(a)?.response?.id === die.id),
    { what: 'the retried actionloop delivery' });
  const r = bodyOf(ok).response;
  assert.equal(r.attempt, 2);
  assert.notEqual(r.pid, pid, 'a new process after the old one died');
  assert.equal(r.count, 1);
  const failed = byEvent(activations(ek, 'alflow/consumer'), die.id).filter((a) => !a.response.success);
  assert.equal(failed.length, 1);
  assert.equal(resultOf(failed[0]).error.statusCode, 500);
  const hfail = activations(ek, 'alflow/handler').filter((a) => a.response.status === 'action developer error');
  assert.equal(hfail.length, 1, 'the dead process yields one developer error');
});

test('a handler answering 500 twice then 200 is retried on the millisecond schedule: attempts 1, 2, 3 and one success', async () => {
  const pub = await ctl.publish(T.luaFlow, { sku: 'FLAKY-1', mode: 'flaky' });
  const key = `flow.attempts.${pub.id}`;
  await ek.waitFor(async () => (await ctl.get([key]))[key]?.length === 3, { what: 'three attempts' });
  const list = await ek.waitFor(() => {
    const l = byEvent(activations(ek, 'flow/consumer'), pub.id);
    return l.length === 3 && l;
  }, { what: 'three consumer activations' });
  await sleep(400);
  const st = await ctl.get([key, `flow.handler.${pub.id}`]);
  assert.deepEqual(st[key], [1, 2, 3], 'no fourth attempt after the success');
  assert.equal(st[`flow.handler.${pub.id}`], 3);

  assert.deepEqual(list.map((a) => a.response.status), ['application error', 'application error', 'success']);
  assert.deepEqual(list.map((a) => bodyOf(a).attempt ?? bodyOf(a).seen.evkit.attempt), [1, 2, 3]);
  assert.equal(resultOf(list[0]).error.statusCode, 500);
  assert.equal(resultOf(list[0]).error.body.error, 'flaky failure 1');
  assert.equal(resultOf(list[1]).error.statusCode, 500);
  assert.equal(resultOf(list[1]).error.body.error, 'flaky failure 2');
  assert.equal(bodyOf(list[2]).seen.evkit.retryCount, 2);
  assert.equal(bodyOf(list[2]).seen.id, pub.id, 'every retry carries the same event id');
  const deliveries = list.map((a) => bodyOf(a).delivery ?? bodyOf(a).seen.evkit.delivery);
  assert.ok(Number.isInteger(deliveries[0]));
  assert.deepEqual(deliveries, [deliveries[0], deliveries[0], deliveries[0]], 'one delivery, three attempts');
  // Each failed attempt invoked the handler, which carries the same chain.
  for (const a of list) {
    const h = ek.cliJson(['activation', 'get', bodyOf(a).handlerActivation]);
    assert.equal(h.cause, a.activationId);
  }
  const gap1 = list[1].start - list[0].end;
  const gap2 = list[2].start - list[1].end;
  assert.ok(gap1 >= 50 && gap1 < 1500, `first retry after 50 ms (+jitter): ${gap1}`);
  assert.ok(gap2 >= 100 && gap2 < 1500, `second retry after 100 ms (+jitter): ${gap2}`);
  assert.equal(deadletters(ek, 'lua-flow').filter((d) => d.event_id === pub.id).length, 0);
});

test('a 400 is final: no retry, a dead letter with reason rejected', async () => {
  const pub = await ctl.publish(T.luaFlow, { sku: 'BAD-1', mode: 'reject' });
  const dl = await ek.waitFor(() => deadletters(ek, 'lua-flow').find((d) => d.event_id === pub.id), { what: 'the dead letter' });
  assert.equal(dl.registration, 'lua-flow');
  assert.equal(dl.type, T.luaFlow);
  assert.equal(dl.reason, 'rejected');
  assert.equal(dl.attempts, 1);
  assert.equal(dl.last_status, 400);
  assert.equal(dl.last_error, 'invalid sku');
  assert.ok(Number.isInteger(dl.id));
  await sleep(400);
  const st = await ctl.get([`flow.attempts.${pub.id}`, `flow.handler.${pub.id}`]);
  assert.deepEqual(st[`flow.attempts.${pub.id}`], [1]);
  assert.equal(st[`flow.handler.${pub.id}`], 1);
  const plain = ek.cli(['deadletter', 'list']);
  assert.equal(plain.code, 0);
  assert.match(plain.stdout, new RegExp(`^${dl.id}\\s+lua-flow\\s+${T.luaFlow.replace(/\./g, '\\.')}\\s+rejected\\s+1\\s+400\\s+invalid sku$`, 'm'));
});

test('a Lua consumer past its time limit is retried', async () => {
  const pub = await ctl.publish(T.luaTimeout, { id: 'LT-1' });
  const key = `lt.attempts.${pub.id}`;
  const list = await ek.waitFor(() => {
    const l = activations(ek, 'lt/consumer');
    return l.length >= 2 && l.some((a) => a.response.success) && l;
  }, { what: 'a timed-out then successful consumer' });
  assert.equal(list.length, 2);
  const [timedOut, ok] = list;
  assert.equal(timedOut.response.status, 'action developer error');
  assert.equal(timedOut.response.statusCode, 2);
  assert.equal(annotation(timedOut, 'timeout'), true);
  assert.match(String(resultOf(timedOut).error), /time limit/i);
  assert.ok(timedOut.duration >= 290 && timedOut.duration < 2000, `ran about 300 ms: ${timedOut.duration}`);
  assert.equal(ok.response.status, 'success');
  assert.deepEqual(resultOf(ok), { statusCode: 200, body: { id: pub.id, attempt: 2 } });
  assert.deepEqual((await ctl.get([key]))[key], [1, 2]);
  assert.equal(deadletters(ek, 'lua-timeout').length, 0);
});

test('an exec consumer that crashes, then hangs, is retried while the daemon keeps serving; the hang is killed with its process group', async () => {
  const sleeper = `37.${Date.now() % 100000}`;
  const pub = await ctl.publish(T.execCrash, { sleeper });
  const pings = [];
  const list = await ek.waitFor(async () => {
    const t0 = Date.now();
    pings.push({ status: await ctl.ping(), ms: Date.now() - t0 });
    const l = activations(ek, 'xcrash/handler');
    return l.some((a) => a.response.success) && l;
  }, { timeout: 30000, what: 'the third attempt' });
  assert.equal(list.length, 3);
  const [crashed, hung, ok] = list;
  assert.equal(crashed.response.status, 'action developer error');
  assert.ok(logLines(ek, crashed.activationId).some((l) => l.endsWith('stdout: about to crash')));
  assert.equal(hung.response.status, 'action developer error');
  assert.equal(annotation(hung, 'timeout'), true);
  assert.ok(hung.duration >= 1990 && hung.duration < 5000, `killed at its 2 s limit: ${hung.duration}`);
  assert.ok(logLines(ek, hung.activationId).some((l) => l.endsWith('stdout: about to hang')));
  assert.deepEqual(resultOf(ok), { statusCode: 200, body: { ok: true, attempt: 3, id: pub.id } });

  assert.ok(pings.length >= 3, `pinged ${pings.length} times`);
  assert.ok(pings.every((p) => p.status === 200), JSON.stringify(pings));
  assert.ok(Math.max(...pings.map((p) => p.ms)) < 2500, `web requests stayed fast: ${JSON.stringify(pings.map((p) => p.ms))}`);

  await ek.waitFor(() => !spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.trim() === `sleep ${sleeper}`),
    { timeout: 3000, what: "the hung action's child to be killed" });
  await ek.waitFor(() => registration(ek, 'exec-crash').backlog === 0, { what: 'exec-crash backlog 0' });
  const reg = registration(ek, 'exec-crash');
  assert.equal(reg.state, 'ACTIVE');
  assert.equal(reg.attempts_24h, 3);
  assert.equal(reg.failures_24h, 2);
  assert.equal(reg.dead, 0);
  assert.equal(ek.proc.exitCode, null);
});

test('kill -9 while deliveries are in flight, then a restart: every published event is delivered at least once', async () => {
  await withEvkit(async (e, c) => {
    const N = 20;
    const pubs = await c.publishMany(Array.from({ length: N }, (_, i) => ({ type: T.slow, data: { order: i } })));
    assert.equal(pubs.length, N);
    const keys = pubs.map((p) => `slow.seen.${p.id}`);
    await e.waitFor(async () => Object.keys(await c.get(keys)).length >= 1, { interval: 20, what: 'a first delivery' });
    const atKill = Object.keys(await c.get(keys)).length;
    await e.kill9();
    assert.ok(atKill < N, `deliveries were still in flight at the kill (${atKill} of ${N} done)`);
    const t0 = Date.now();
    await e.start();
    await e.waitFor(async () => Object.keys(await c.get(keys)).length === N,
      { timeout: 90000, interval: 250, what: 'every event delivered after the restart' });
    const seen = await c.get(keys);
    for (const k of keys) assert.ok(seen[k] >= 1, k);
    assert.equal(e.events().filter((x) => x.event.type === T.slow).length, N, 'the journal kept every event');
    assert.equal(deadletters(e, 'slow').length, 0);
    await e.waitFor(() => registration(e, 'slow').backlog === 0, { what: 'slow backlog 0' });
    // How long recovery took, for the report.
    console.log(`# kill -9 recovery: all ${N} delivered ${Date.now() - t0} ms after the restart`);
  });
});

test('a registration failing >= 80% of >= 10 attempts becomes DISABLED, parks new deliveries, and resumes on enable', async () => {
  await withEvkit(async (e, c) => {
    await c.put('frag.broken', true);
    const first = await c.publishMany(Array.from({ length: 10 }, (_, i) => ({ type: T.fragile, data: { n: i } })));
    await e.waitFor(() => registration(e, 'fragile').state === 'DISABLED', { what: 'fragile DISABLED' });
    let reg = registration(e, 'fragile');
    assert.ok(reg.attempts_24h >= 10, JSON.stringify(reg));
    assert.equal(reg.failures_24h, reg.attempts_24h);
    assert.equal(reg.last_error, 'fragile is broken');

    await sleep(300); // deliveries claimed before the switch finish (and fail)
    const parked = await c.publishMany(Array.from({ length: 3 }, (_, i) => ({ type: T.fragile, data: { n: 100 + i } })));
    const all = [...first, ...parked];
    const calls = () => c.get(all.map((p) => `frag.calls.${p.id}`));
    const snap = await calls();
    await sleep(800);
    assert.deepEqual(await calls(), snap, 'a disabled registration gets no deliveries');
    for (const p of parked) assert.equal(snap[`frag.calls.${p.id}`], undefined, 'new deliveries are parked');
    reg = registration(e, 'fragile');
    assert.equal(reg.state, 'DISABLED');
    assert.equal(reg.backlog, 13);
    assert.ok(reg.parked >= 3, JSON.stringify(reg));
    const plain = e.cli(['registration', 'list']);
    assert.match(plain.stdout, /^fragile\s+DISABLED\s+13\s/m);

    let r = e.cli(['registration', 'enable', 'nope']);
    assert.equal(r.code, 1);
    await c.put('frag.broken', false);
    r = e.cli(['registration', 'enable', 'fragile']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^registration fragile is ACTIVE; \d+ parked deliver(y|ies) resumed$/m);
    assert.ok(Number(r.stdout.match(/ACTIVE; (\d+)/)[1]) >= 3);

    const okKeys = all.map((p) => `frag.ok.${p.id}`);
    await e.waitFor(async () => Object.keys(await c.get(okKeys)).length === all.length, { what: 'all 13 delivered after enable' });
    await e.waitFor(() => registration(e, 'fragile').backlog === 0, { what: 'fragile backlog 0' });
    reg = registration(e, 'fragile');
    assert.equal(reg.state, 'ACTIVE');
    assert.equal(reg.parked, 0);
    assert.equal(reg.dead, 0);
  });
});

test('after max_age a delivery is a dead letter (expired); replay by id and by registration delivers it once fixed', async () => {
  await withEvkit(async (e, c) => {
    await c.put('dl.broken', true);
    const [a, b] = await c.publishMany([{ type: T.expiring, data: { n: 'A' } }, { type: T.expiring, data: { n: 'B' } }]);
    const dls = await e.waitFor(() => { const l = deadletters(e, 'expiring'); return l.length === 2 && l; }, { what: 'two dead letters' });
    for (const d of dls) {
      assert.ok([a.id, b.id].includes(d.event_id));
      assert.equal(d.registration, 'expiring');
      assert.equal(d.type, T.expiring);
      assert.equal(d.reason, 'expired');
      assert.equal(d.last_status, 503);
      assert.equal(d.last_error, 'down for maintenance');
      // Retried on the 50/100/100 ms schedule until 250 ms (3 or 4 attempts on a quiet machine,
      // at least 2 when a loaded one slows each attempt), fewer than the 10 that would disable it.
      assert.ok(d.attempts >= 2 && d.attempts < 10, `retried until max_age: ${d.attempts}`);
      assert.ok(d.first_attempt <= d.last_attempt);
    }
    assert.equal(deadletters(e).length, 2);
    await sleep(300);
    const calls = await c.get([`dl.calls.${a.id}`, `dl.calls.${b.id}`]);
    assert.equal(calls[`dl.calls.${a.id}`], dls.find((d) => d.event_id === a.id).attempts, 'no attempt after the dead letter');
    let reg = registration(e, 'expiring');
    assert.equal(reg.dead, 2);
    assert.equal(reg.backlog, 0);

    await c.put('dl.broken', false);
    const dla = dls.find((d) => d.event_id === a.id);
    let r = e.cli(['deadletter', 'replay', String(dla.id)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1 dead letter\(s\) queued for delivery again$/m);
    await e.waitFor(async () => (await c.get([`dl.ok.${a.id}`]))[`dl.ok.${a.id}`] === 1, { what: 'A delivered from attempt 1' });
    await sleep(300);
    assert.equal((await c.get([`dl.ok.${b.id}`]))[`dl.ok.${b.id}`], undefined, 'B stays a dead letter');
    assert.deepEqual(deadletters(e, 'expiring').map((d) => d.event_id), [b.id]);

    r = e.cli(['deadletter', 'replay', '--registration', 'expiring']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1 dead letter\(s\) queued for delivery again$/m);
    await e.waitFor(async () => (await c.get([`dl.ok.${b.id}`]))[`dl.ok.${b.id}`] === 1, { what: 'B delivered' });
    assert.equal(deadletters(e, 'expiring').length, 0);
    await sleep(200);
    const final = await c.get([`dl.calls.${a.id}`, `dl.calls.${b.id}`]);
    assert.equal(final[`dl.calls.${a.id}`], calls[`dl.calls.${a.id}`] + 1, 'A delivered exactly once after the replay');
    reg = registration(e, 'expiring');
    assert.equal(reg.dead, 0);

    r = e.cli(['deadletter', 'replay', '999999']);
    assert.equal(r.code, 1);
    r = e.cli(['deadletter', 'replay']);
    assert.equal(r.code, 2);
  });
});

test('ordering by data.sku: one sku at a time in publish order, different skus in parallel', async () => {
  await withEvkit(async (e, c) => {
    const skus = ['SKU-A', 'SKU-B', 'SKU-C', 'SKU-D'];
    const N = 8;
    const positions = {};
    // Each sku's events are published one after another; the skus concurrently.
    await Promise.all(skus.map(async (sku) => {
      positions[sku] = [];
      for (let seq = 1; seq <= N; seq++) positions[sku].push((await c.publish(T.ordered, { sku, seq })).position);
    }));
    for (const sku of skus) assert.deepEqual(positions[sku], [...positions[sku]].sort((x, y) => x - y));
    const keys = skus.map((s) => `ord.seq.${s}`);
    await e.waitFor(async () => { const v = await c.get(keys); return keys.every((k) => v[k]?.length === N); },
      { timeout: 30000, what: 'every event handled' });
    const v = await c.get([...keys, ...skus.map((s) => `ord.overlap.${s}`)]);
    for (const sku of skus) {
      assert.deepEqual(v[`ord.seq.${sku}`], Array.from({ length: N }, (_, i) => i + 1), `${sku} in publish order`);
      assert.equal(v[`ord.overlap.${sku}`], undefined, `${sku} never handled twice at once`);
    }
    const acts = await e.waitFor(() => { const l = activations(e, 'ord/consumer'); return l.length === skus.length * N && l; },
      { what: 'all activation records' });
    for (const sku of skus) {
      const mine = acts.filter((a) => bodyOf(a).sku === sku);
      assert.deepEqual(mine.map((a) => bodyOf(a).seq), Array.from({ length: N }, (_, i) => i + 1));
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i].start >= mine[i - 1].end, `${sku}: ${i + 1} started after ${i} ended`);
    }
    const parallel = acts.some((x) => acts.some((y) => bodyOf(x).sku !== bodyOf(y).sku && x.start < y.end && y.start < x.end));
    assert.ok(parallel, 'different skus were handled in parallel');

    // A failing event holds back the later events of its key until it succeeds.
    await c.publishMany([
      { type: T.ordered, data: { sku: 'SKU-R', seq: 1, failTimes: 2 } },
      { type: T.ordered, data: { sku: 'SKU-R', seq: 2 } },
      { type: T.ordered, data: { sku: 'SKU-R', seq: 3 } },
    ]);
    await e.waitFor(async () => (await c.get(['ord.seq.SKU-R']))['ord.seq.SKU-R']?.length === 3, { what: 'SKU-R handled' });
    assert.deepEqual((await c.get(['ord.seq.SKU-R']))['ord.seq.SKU-R'], [1, 2, 3], 'seq 2 waited for the retries of seq 1');
    const r = activations(e, 'ord/consumer').filter((a) => bodyOf(a).sku === 'SKU-R');
    assert.deepEqual(r.map((a) => [bodyOf(a).seq, a.response.success]), [[1, false], [1, false], [1, true], [2, true], [3, true]]);
  });
});

test('evkit event replay re-delivers past events to a registration: --since POS and --seek -PT1H', async () => {
  await withEvkit(async (e, c) => {
    const other = await c.publish(T.luaFlow, { sku: 'NOT-REPLAYED' });
    const pubs = await c.publishMany([1, 2, 3].map((n) => ({ type: T.replayable, data: { n } })));
    const keys = pubs.map((p) => `rp.n.${p.id}`);
    const counts = async () => { const v = await c.get(keys); return keys.map((k) => v[k] ?? 0); };
    await e.waitFor(async () => (await counts()).every((n) => n === 1), { what: 'first deliveries' });

    let r = e.cli(['event', 'replay', '--registration', 'replayable', '--since', String(pubs[0].position)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `replaying 2 event(s) after position ${pubs[0].position} to registration replayable`);
    await e.waitFor(async () => JSON.stringify(await counts()) === '[1,2,2]', { what: 'two replayed' });

    r = e.cli(['event', 'replay', '--registration', 'replayable', '--seek', '-PT1H']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^replaying 3 event\(s\) after position \d+ to registration replayable$/m, 'only its own event codes');
    await e.waitFor(async () => JSON.stringify(await counts()) === '[2,3,3]', { what: 'three replayed' });
    await sleep(300);
    assert.deepEqual(await counts(), [2, 3, 3]);
    assert.equal(activations(e, 'flow/consumer').filter((a) => bodyOf(a)?.seen?.id === other.id).length, 1, 'other registrations are untouched');

    assert.equal(e.cli(['event', 'replay', '--registration', 'replayable']).code, 2, 'needs --since or --seek');
    assert.equal(e.cli(['event', 'replay', '--registration', 'replayable', '--since', '1', '--seek', '-PT1H']).code, 2);
    assert.equal(e.cli(['event', 'replay', '--registration', 'replayable', '--seek', 'PT1H']).code, 1, 'a positive duration');
    assert.equal(e.cli(['event', 'replay', '--registration', 'nope', '--since', '0']).code, 1);
  });
});

test('evkit check rejects unknown providers, event codes absent from events.json and missing actions in registrations', () => {
  const copy = controlApp();
  try {
    const cfgPath = path.join(copy.app, 'app.config.yaml');
    let r = spawnSync(bin, ['check', '--app', copy.app], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok: 16 action\(s\), 10 registration\(s\), 2 provider\(s\)/);
    let cfg = readFileSync(cfgPath, 'utf8');
    const swap = (from, to) => { assert.ok(cfg.includes(from), from); cfg = cfg.replace(from, to); };
    swap('          - provider_metadata: commerce\n', '          - provider_metadata: erp\n');
    swap('              - be-observer.customer_update\n', '              - be-observer.customer_teleport\n');
    swap('        runtime_action: rp/consumer\n', '        runtime_action: rp/nothing\n');
    writeFileSync(cfgPath, cfg);
    const line = (s) => cfg.split('\n').findIndex((l) => l.includes(s)) + 1;
    r = spawnSync(bin, ['check', '--app', copy.app], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`app\\.config\\.yaml:${line('provider_metadata: erp')}:\\d+: error: .*'erp'`));
    assert.match(r.stderr, new RegExp(`app\\.config\\.yaml:${line('customer_teleport')}:\\d+: error: .*be-observer\\.customer_teleport`));
    assert.match(r.stderr, new RegExp(`app\\.config\\.yaml:${line('rp/nothing')}:\\d+: error: .*rp/nothing`));
  } finally { copy.cleanup(); }
});

test('evkit.state: values expire after their ttl; invalid keys get a clear error', async () => {
  await ctl.put('ttl.key', { v: 1 });
  await ek.post('ctl/state', { op: 'put', key: 'ttl.short', value: 'soon gone', ttl: 0.3 });
  let v = await ctl.get(['ttl.key', 'ttl.short']);
  assert.deepEqual(v, { 'ttl.key': { v: 1 }, 'ttl.short': 'soon gone' });
  await sleep(700);
  v = await ctl.get(['ttl.key', 'ttl.short']);
  assert.deepEqual(v, { 'ttl.key': { v: 1 } });
  const r = await ek.post('ctl/state', { op: 'put', key: 'bad/key', value: 1 });
  assert.equal(r.status, 502, r.text);
  assert.match(r.json.error, /invalid state key 'bad\/key'/);
  assert.match(r.json.error, /\[a-zA-Z0-9-_\.\]/);
});

test('the shared daemon is still healthy after every flow', async () => {
  assert.equal(ek.proc.exitCode, null);
  assert.equal(await ctl.ping(), 200);
  for (const r of ek.cliJson(['registration', 'list'])) {
    assert.notEqual(r.state, 'DISABLED', `${r.name} was not disabled by the tests above`);
  }
});
