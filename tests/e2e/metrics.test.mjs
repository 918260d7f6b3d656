// GET /metrics end to end, on the control app: the exposition is parsed
// by a strict parser of the Prometheus text format 0.0.4 written here (every
// family needs HELP and TYPE before its samples, histograms must be
// cumulative and agree with _count, no duplicate series), and the counters
// must move by exactly what the test did: published events, delivery
// outcomes, retries, dead letters, backlog, activations, HTTP requests,
// journal size. Auth: EVKIT_METRICS_TOKEN or an API token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Evkit } from './lib/evkit.mjs';
import { Ctl, CONTROL, registration, deadletters, sleep } from './lib/fixture.mjs';

const APP = CONTROL;
const API_TOKEN = 'e2e-metrics-api-token-0123456789abcdef01';
const SCRAPE_TOKEN = 'e2e-scrape-only-0123456789abcdef01234567';
const ENV = { EVKIT_API_TOKENS: API_TOKEN, EVKIT_METRICS_TOKEN: SCRAPE_TOKEN };
const T = {
  luaFlow: 'be-observer.catalog_product_create',
  fragile: 'be-observer.customer_delete',
  expiring: 'be-observer.customer_group_create',
};

// The families evkit promises (README, docs/grafana-evkit.json).
export const FAMILIES = {
  evkit_build_info: 'gauge',
  evkit_process_start_time_seconds: 'gauge',
  evkit_events_published_total: 'counter',
  evkit_events_filtered_total: 'counter',
  evkit_deliveries_total: 'counter',
  evkit_delivery_retries_total: 'counter',
  evkit_deadletters_total: 'counter',
  evkit_deadletters: 'gauge',
  evkit_delivery_backlog: 'gauge',
  evkit_delivery_parked: 'gauge',
  evkit_registration_state: 'gauge',
  evkit_activations_total: 'counter',
  evkit_activation_duration_seconds: 'histogram',
  evkit_http_requests_total: 'counter',
  evkit_http_request_duration_seconds: 'histogram',
  evkit_journal_events: 'gauge',
  evkit_journal_last_position: 'gauge',
  evkit_store_size_bytes: 'gauge',
};

// ---- a strict parser of the text format 0.0.4 ----

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s, line) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value '${s}' in: ${line}`);
  return Number(s);
}

// name{a="x",b="y"} value [timestamp] -> {name, labels, value}
function parseSample(line) {
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i])) i++;
  const name = line.slice(0, i);
  if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
  const labels = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      let j = i;
      while (j < line.length && /[a-zA-Z0-9_]/.test(line[j])) j++;
      const lname = line.slice(i, j);
      if (!LABEL.test(lname)) throw new Error(`bad label name in: ${line}`);
      if (line[j] !== '=' || line[j + 1] !== '"') throw new Error(`expected =" after ${lname} in: ${line}`);
      j += 2;
      let v = '';
      for (;;) {
        if (j >= line.length) throw new Error(`unterminated label value in: ${line}`);
        const ch = line[j];
        if (ch === '"') break;
        if (ch === '\\') {
          const n = line[j + 1];
          if (n === 'n') v += '\n';
          else if (n === '\\') v += '\\';
          else if (n === '"') v += '"';
          else throw new Error(`bad escape \\${n} in: ${line}`);
          j += 2;
        } else { v += ch; j++; }
      }
      if (lname in labels) throw new Error(`label ${lname} twice in: ${line}`);
      labels[lname] = v;
      j++;
      if (line[j] === ',') j++;
      else if (line[j] !== '}') throw new Error(`expected , or } in: ${line}`);
      i = j;
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`expected a space before the value in: ${line}`);
  const rest = line.slice(i + 1).split(' ');
  if (rest.length < 1 || rest.length > 2) throw new Error(`bad sample: ${line}`);
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1])) throw new Error(`bad timestamp in: ${line}`);
  return { name, labels, value: parseValue(rest[0], line) };
}

function familyOf(name, families) {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (families.get(base)?.type === 'histogram') return base;
    }
  }
  return null;
}

// Returns Map name -> {help, type, samples: [{name, labels, value}]}.
export function parseExposition(text) {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map();
  const done = new Set(); // families whose samples ended: no more may come
  let current = null;
  const seen = new Set();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kw, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`bad name in: ${line}`);
      if (done.has(name)) throw new Error(`${kw} for ${name} after its samples ended`);
      const f = families.get(name) ?? { help: null, type: null, samples: [] };
      if (f.samples.length) throw new Error(`${kw} for ${name} after its samples`);
      if (kw === 'HELP') {
        if (f.help !== null) throw new Error(`HELP twice for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`bad escape in HELP: ${line}`);
        f.help = rest.replace(/\\(\\|n)/g, (_, c) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (f.type !== null) throw new Error(`TYPE twice for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad TYPE: ${line}`);
        f.type = rest;
      }
      families.set(name, f);
      if (current && current !== name) done.add(current);
      current = name;
      continue;
    }
    const s = parseSample(line);
    const fam = familyOf(s.name, families);
    if (!fam) throw new Error(`sample without HELP/TYPE: ${line}`);
    if (done.has(fam)) throw new Error(`samples of ${fam} are not together: ${line}`);
    if (current && current !== fam) done.add(current);
    current = fam;
    const key = s.name + JSON.stringify(Object.entries(s.labels).sort());
    if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
    seen.add(key);
    families.get(fam).samples.push(s);
  }
  for (const [name, f] of families) {
    if (f.help === null) throw new Error(`${name} has no HELP`);
    if (f.type === null) throw new Error(`${name} has no TYPE`);
    if (f.type === 'counter') for (const s of f.samples) if (!(s.value >= 0)) throw new Error(`negative counter ${name}`);
    if (f.type === 'histogram') checkHistogram(name, f);
  }
  return families;
}

function checkHistogram(name, f) {
  const groups = new Map();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(k) ?? { buckets: [], sum: null, count: null };
    if (s.name === `${name}_bucket`) {
      if (le === undefined) throw new Error(`${name}_bucket without le`);
      g.buckets.push({ le: parseValue(le, le), v: s.value });
    } else if (s.name === `${name}_sum`) g.sum = s.value;
    else if (s.name === `${name}_count`) g.count = s.value;
    else throw new Error(`unexpected sample ${s.name} in histogram ${name}`);
    groups.set(k, g);
  }
  for (const [k, g] of groups) {
    if (g.sum === null || g.count === null) throw new Error(`${name}${k}: _sum and _count are required`);
    const last = g.buckets.at(-1);
    if (!last || last.le !== Infinity) throw new Error(`${name}${k}: the last bucket must be le="+Inf"`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i].le > g.buckets[i - 1].le)) throw new Error(`${name}${k}: le not increasing`);
      if (g.buckets[i].v < g.buckets[i - 1].v) throw new Error(`${name}${k}: buckets not cumulative`);
    }
    if (last.v !== g.count) throw new Error(`${name}${k}: +Inf bucket ${last.v} != _count ${g.count}`);
  }
}

// The value of one series (0 when absent): sample name and a subset of labels that identifies it.
function val(fams, sample, labels = {}) {
  const fam = familyOf(sample, fams);
  if (!fam) return 0;
  const hits = fams.get(fam).samples.filter((s) => s.name === sample &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v) &&
    Object.keys(s.labels).filter((k) => k !== 'le').length === Object.keys(labels).filter((k) => k !== 'le').length);
  if (hits.length > 1) throw new Error(`${sample} ${JSON.stringify(labels)} matches ${hits.length} series`);
  return hits.length ? hits[0].value : 0;
}

// ---- the daemon ----

let ek;
let ctl;
before(async () => {
  ek = await new Evkit({ app: APP, env: ENV, workers: 4 }).start();
  ctl = new Ctl(ek);
});
after(async () => { if (ek) { await ek.stop(); ek.cleanup(); } });

async function scrape(e = ek, token = SCRAPE_TOKEN) {
  const r = await fetch(`${e.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, await r.clone().text());
  assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await r.text());
}

test('the strict parser rejects what Prometheus would', () => {
  assert.throws(() => parseExposition('x 1\n'), /without HELP\/TYPE/);
  assert.throws(() => parseExposition('# TYPE x counter\nx 1\n'), /no HELP/);
  assert.throws(() => parseExposition('# HELP x h\n# TYPE x counter\nx{a="b} 1\n'), /unterminated/);
  assert.throws(() => parseExposition('# HELP x h\n# TYPE x counter\nx{a="\\t"} 1\n'), /bad escape/);
  assert.throws(() => parseExposition('# HELP x h\n# TYPE x counter\nx 1\nx 2\n'), /duplicate/);
  assert.throws(() => parseExposition('# HELP x h\n# TYPE x counter\nx 1'), /newline/);
  assert.throws(() => parseExposition('# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'), /cumulative/);
  assert.throws(() => parseExposition('# HELP h h\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'), /_count/);
  const ok = parseExposition('# HELP x a \\\\ b\\n c\n# TYPE x counter\nx{a="q\\"\\n\\\\"} 1.5e3\n');
  assert.equal(ok.get('x').help, 'a \\ b\n c');
  assert.equal(ok.get('x').samples[0].labels.a, 'q"\n\\');
  assert.equal(ok.get('x').samples[0].value, 1500);
});

test('/metrics needs the scrape token or an API token; answers 405 to anything but GET', async () => {
  let r = await fetch(`${ek.url}/metrics`);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^Bearer/);
  assert.match((await r.json()).error, /EVKIT_METRICS_TOKEN/);
  r = await fetch(`${ek.url}/metrics`, { headers: { authorization: 'Bearer wrong' } });
  assert.equal(r.status, 401);
  assert.doesNotMatch(await r.text(), new RegExp(`${SCRAPE_TOKEN}|${API_TOKEN}`), 'no token in the answer');
  await scrape(ek, SCRAPE_TOKEN);
  await scrape(ek, API_TOKEN);
  // The scrape-only token opens nothing else.
  r = await fetch(`${ek.url}/api/v1/namespaces/_/activations`, { headers: { authorization: `Bearer ${SCRAPE_TOKEN}` } });
  assert.equal(r.status, 401);
  r = await fetch(`${ek.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${SCRAPE_TOKEN}` } });
  assert.equal(r.status, 405);
});

test('every promised family is there with HELP and TYPE; process info is sane', async () => {
  const fams = await scrape();
  for (const [name, type] of Object.entries(FAMILIES)) {
    assert.ok(fams.has(name), `family ${name} is missing`);
    assert.equal(fams.get(name).type, type, name);
    assert.ok(fams.get(name).help.length > 10, `${name} has a real HELP text`);
  }
  for (const name of fams.keys()) assert.ok(name in FAMILIES, `${name} is exported but not listed here`);
  const info = fams.get('evkit_build_info').samples;
  assert.equal(info.length, 1);
  assert.match(info[0].labels.version, /^\d+\.\d+\.\d+/);
  const start = val(fams, 'evkit_process_start_time_seconds');
  assert.ok(start > Date.now() / 1000 - 120 && start <= Date.now() / 1000, String(start));
  // Every registration of the fixture has its gauges, even before any event.
  for (const reg of ['lua-flow', 'fragile', 'expiring']) {
    assert.equal(val(fams, 'evkit_delivery_backlog', { registration: reg }), 0, reg);
    assert.equal(val(fams, 'evkit_registration_state', { registration: reg, state: 'ACTIVE' }), 1, reg);
  }
});

test('publishing N events moves the published counter by exactly N, deliveries and activations follow, the journal grows', async () => {
  const before0 = await scrape();
  const N = 7;
  const pub = await ctl.publishMany(Array.from({ length: N }, (_, i) => ({ type: T.luaFlow, data: { sku: `M-${i}`, pad: 'x'.repeat(2000) } })));
  assert.equal(pub.length, N);
  // A duplicate idempotency key is not a second event.
  await ctl.publish(T.luaFlow, { sku: 'DUP' }, { key: 'metrics-dup' });
  await ctl.publish(T.luaFlow, { sku: 'DUP' }, { key: 'metrics-dup' });
  const labels = { provider: 'backoffice', type: T.luaFlow };
  const done = await ek.waitFor(async () => {
    const f = await scrape();
    return val(f, 'evkit_deliveries_total', { registration: 'lua-flow', outcome: 'success' }) -
      val(before0, 'evkit_deliveries_total', { registration: 'lua-flow', outcome: 'success' }) >= N + 1 && f;
  }, { what: 'lua-flow successes' });
  const d = (name, l) => val(done, name, l) - val(before0, name, l);
  assert.equal(d('evkit_events_published_total', labels), N + 1);
  assert.equal(d('evkit_deliveries_total', { registration: 'lua-flow', outcome: 'success' }), N + 1);
  assert.equal(d('evkit_deliveries_total', { registration: 'lua-flow', outcome: 'error' }), 0);
  assert.equal(d('evkit_delivery_retries_total', { registration: 'lua-flow' }), 0);
  // The consumer invokes its handler once per event; ingest/publish ran 3 times.
  await ek.waitFor(async () => {
    const f = await scrape();
    return val(f, 'evkit_activation_duration_seconds_count', { action: 'flow/handler' }) -
      val(before0, 'evkit_activation_duration_seconds_count', { action: 'flow/handler' }) === N + 1;
  }, { what: 'handler activations counted' });
  assert.equal(d('evkit_activation_duration_seconds_count', { action: 'flow/consumer' }), N + 1);
  assert.equal(d('evkit_activations_total', { action: 'flow/consumer', status: 'success' }), N + 1);
  assert.equal(d('evkit_activation_duration_seconds_count', { action: 'ingest/publish' }), 3);
  assert.ok(d('evkit_activation_duration_seconds_sum', { action: 'flow/consumer' }) > 0);
  assert.equal(d('evkit_journal_events'), N + 1);
  assert.equal(d('evkit_journal_last_position'), N + 1);
  assert.equal(val(done, 'evkit_journal_last_position'), pub.at(-1).position + 1);
  assert.ok(d('evkit_store_size_bytes') > 0, 'seven 2 KB events take room');
  assert.equal(val(done, 'evkit_delivery_backlog', { registration: 'lua-flow' }), 0);
});

test('HTTP requests are counted by bounded route, method and status; raw URLs never become labels', async () => {
  const b = await scrape();
  const get = (p) => fetch(`${ek.url}${p}`).then((r) => r.arrayBuffer());
  await get('/healthz');
  await get('/healthz');
  await get('/api/v1/web/evkit/no/such-action-4711');
  await get('/random/path-4711?x=1');
  await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: '{}' })
    .then((r) => r.arrayBuffer());
  const r = await ctl.ping();
  assert.equal(r, 200);
  await sleep(100); // the completion callback runs after the client has the answer
  const a = await scrape();
  const d = (l) => val(a, 'evkit_http_requests_total', l) - val(b, 'evkit_http_requests_total', l);
  assert.equal(d({ route: 'healthz', method: 'GET', code: '200' }), 2);
  assert.equal(d({ route: 'web_action', method: 'GET', code: '404' }), 1);
  assert.equal(d({ route: 'other', method: 'GET', code: '404' }), 1);
  assert.equal(d({ route: 'publish', method: 'POST', code: '401' }), 1);
  assert.equal(d({ route: 'web_action', method: 'POST', code: '200' }), 1);
  // The scrape before this one is counted too.
  assert.ok(d({ route: 'metrics', method: 'GET', code: '200' }) >= 1);
  const hd = (l) => val(a, 'evkit_http_request_duration_seconds_count', l) - val(b, 'evkit_http_request_duration_seconds_count', l);
  assert.equal(hd({ route: 'healthz' }), 2);
  const text = await (await fetch(`${ek.url}/metrics`, { headers: { authorization: `Bearer ${SCRAPE_TOKEN}` } })).text();
  // Only labels: a histogram's sum may hold the digits 4711 by chance.
  assert.doesNotMatch(text, /\{[^}\n]*4711[^}\n]*\}/, 'no raw path in any label');
});

test('a failing-then-succeeding delivery counts its errors, retries and the success', async () => {
  const b = await scrape();
  await ctl.put('frag.broken', true);
  const ev = await ctl.publish(T.fragile, { n: 'metrics' });
  const key = `frag.calls.${ev.id}`;
  await ek.waitFor(async () => (await ctl.get([key]))[key] >= 2, { what: 'two failed attempts' });
  await ctl.put('frag.broken', false);
  const okKey = `frag.ok.${ev.id}`;
  const okAttempt = await ek.waitFor(async () => (await ctl.get([okKey]))[okKey], { what: 'the success' });
  const calls = (await ctl.get([key]))[key];
  assert.equal(okAttempt, calls, 'the last call succeeded');
  const a = await ek.waitFor(async () => {
    const f = await scrape();
    return val(f, 'evkit_deliveries_total', { registration: 'fragile', outcome: 'success' }) >
      val(b, 'evkit_deliveries_total', { registration: 'fragile', outcome: 'success' }) && f;
  }, { what: 'the success counted' });
  const d = (name, l) => val(a, name, l) - val(b, name, l);
  assert.equal(d('evkit_deliveries_total', { registration: 'fragile', outcome: 'success' }), 1);
  assert.equal(d('evkit_deliveries_total', { registration: 'fragile', outcome: 'error' }), calls - 1);
  assert.equal(d('evkit_delivery_retries_total', { registration: 'fragile' }), calls - 1);
  assert.equal(d('evkit_deliveries_total', { registration: 'fragile', outcome: 'dead' }), 0);
  assert.equal(d('evkit_activations_total', { action: 'frag/consumer', status: 'application_error' }), calls - 1);
  assert.equal(d('evkit_activations_total', { action: 'frag/consumer', status: 'success' }), 1);
});

test('a dead letter is counted and shown by the gauge until it is replayed', async () => {
  const b = await scrape();
  await ctl.put('dl.broken', true);
  await ctl.publish(T.expiring, { n: 'metrics-dead' });
  await ek.waitFor(() => deadletters(ek, 'expiring').length === 1, { what: 'the dead letter' });
  let a = await scrape();
  const d = (name, l) => val(a, name, l) - val(b, name, l);
  assert.equal(d('evkit_deadletters_total', { registration: 'expiring', reason: 'expired' }), 1);
  assert.equal(d('evkit_deadletters_total', { registration: 'expiring', reason: 'rejected' }), 0);
  assert.equal(d('evkit_deliveries_total', { registration: 'expiring', outcome: 'dead' }), 1);
  assert.ok(d('evkit_deliveries_total', { registration: 'expiring', outcome: 'error' }) >= 1);
  assert.equal(val(a, 'evkit_deadletters', { registration: 'expiring' }), 1);
  assert.equal(val(a, 'evkit_delivery_backlog', { registration: 'expiring' }), 0);

  await ctl.put('dl.broken', false);
  const r = ek.cli(['deadletter', 'replay', '--registration', 'expiring']);
  assert.equal(r.code, 0, r.stderr);
  a = await ek.waitFor(async () => {
    const f = await scrape();
    return val(f, 'evkit_deliveries_total', { registration: 'expiring', outcome: 'success' }) >
      val(b, 'evkit_deliveries_total', { registration: 'expiring', outcome: 'success' }) && f;
  }, { what: 'the replayed dead letter delivered' });
  assert.equal(val(a, 'evkit_deadletters', { registration: 'expiring' }), 0);
  assert.equal(d('evkit_deadletters_total', { registration: 'expiring', reason: 'expired' }), 1, 'the counter keeps its history');
});

test('the backlog gauge shows parked deliveries of a DISABLED registration and drops to 0 after enable', async () => {
  // A fresh daemon: the shared one's fragile registration has history.
  const e = await new Evkit({ app: APP, env: ENV, workers: 4 }).start();
  try {
    const c = new Ctl(e);
    await c.put('frag.broken', true);
    await c.publishMany(Array.from({ length: 10 }, (_, i) => ({ type: T.fragile, data: { n: i } })));
    await e.waitFor(() => registration(e, 'fragile').state === 'DISABLED', { what: 'fragile DISABLED' });
    await sleep(300); // claims taken before the switch finish
    await c.publishMany(Array.from({ length: 3 }, (_, i) => ({ type: T.fragile, data: { n: 100 + i } })));
    const reg = registration(e, 'fragile');
    let f = await scrape(e);
    assert.equal(val(f, 'evkit_registration_state', { registration: 'fragile', state: 'DISABLED' }), 1);
    assert.equal(val(f, 'evkit_registration_state', { registration: 'fragile', state: 'ACTIVE' }), 0);
    assert.equal(val(f, 'evkit_delivery_backlog', { registration: 'fragile' }), 13);
    assert.equal(val(f, 'evkit_delivery_backlog', { registration: 'fragile' }), reg.backlog);
    assert.equal(val(f, 'evkit_delivery_parked', { registration: 'fragile' }), reg.parked);
    assert.ok(val(f, 'evkit_delivery_parked', { registration: 'fragile' }) >= 3);
    assert.ok(val(f, 'evkit_deliveries_total', { registration: 'fragile', outcome: 'error' }) >= 10);

    await c.put('frag.broken', false);
    const r = e.cli(['registration', 'enable', 'fragile']);
    assert.equal(r.code, 0, r.stderr);
    // A success is counted just after its commit took it out of the backlog:
    // a scrape in between shows the backlog without the count, so wait for both.
    f = await e.waitFor(async () => {
      const x = await scrape(e);
      return val(x, 'evkit_delivery_backlog', { registration: 'fragile' }) === 0 &&
        val(x, 'evkit_deliveries_total', { registration: 'fragile', outcome: 'success' }) === 13 && x;
    }, { what: 'backlog 0 and 13 successes after enable' });
    assert.equal(val(f, 'evkit_delivery_parked', { registration: 'fragile' }), 0);
    assert.equal(val(f, 'evkit_registration_state', { registration: 'fragile', state: 'ACTIVE' }), 1);
    assert.equal(val(f, 'evkit_deliveries_total', { registration: 'fragile', outcome: 'success' }), 13);
  } finally {
    await e.stop();
    e.cleanup();
  }
});

test('EVKIT_METRICS_AUTH=none serves /metrics without a token', async () => {
  const e = await new Evkit({ app: APP, env: { ...ENV, EVKIT_METRICS_AUTH: 'none' } }).start();
  try {
    const r = await fetch(`${e.url}/metrics`);
    assert.equal(r.status, 200);
    parseExposition(await r.text());
  } finally {
    await e.stop();
    e.cleanup();
  }
});

// ---- docs/grafana-evkit.json ----

const PROMQL_WORDS = new Set(['sum', 'rate', 'irate', 'increase', 'histogram_quantile', 'max', 'min', 'avg',
  'count', 'time', 'by', 'without', 'and', 'or', 'unless', 'bool', 'label_values', 'topk', 'bottomk', 'offset']);

// The metric names an expression reads: strings, label matchers, ranges and
// grouping label lists removed, then every identifier that is not PromQL.
export function promqlMetricNames(expr) {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)/g, ' $1 ');
  const ids = e.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return ids.filter((id) => !PROMQL_WORDS.has(id));
}

test('docs/grafana-evkit.json is an importable dashboard whose queries read only metrics evkit exports, and all of them', async () => {
  const { readFileSync } = await import('node:fs');
  const { repo } = await import('./lib/evkit.mjs');
  const dash = JSON.parse(readFileSync(path.join(repo, 'docs/grafana-evkit.json'), 'utf8'));
  assert.ok(Number.isInteger(dash.schemaVersion) && dash.schemaVersion >= 30, 'schemaVersion');
  assert.equal(dash.id, null, 'import creates a new dashboard');
  assert.ok(dash.uid && dash.title);
  const input = dash.__inputs.find((i) => i.name === 'DS_PROMETHEUS');
  assert.deepEqual([input.type, input.pluginId], ['datasource', 'prometheus']);

  // The names a live evkit exports, histogram series included.
  const fams = await scrape();
  const exported = new Set();
  for (const [name, f] of fams) {
    exported.add(name);
    if (f.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
  }
  const used = new Set();
  const exprs = [];
  const ids = new Set();
  for (const p of dash.panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
    ids.add(p.id);
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the grid`);
    if (p.type === 'row') continue;
    assert.equal(p.datasource.uid, '${DS_PROMETHEUS}', p.title);
    assert.ok(p.targets.length > 0, p.title);
    assert.equal(new Set(p.targets.map((t) => t.refId)).size, p.targets.length, `${p.title}: refIds unique`);
    for (const t of p.targets) exprs.push([p.title, t.expr]);
  }
  for (const v of dash.templating.list) {
    assert.equal(v.datasource.uid, '${DS_PROMETHEUS}', v.name);
    exprs.push([`variable ${v.name}`, v.query.query]);
  }
  for (const [title, expr] of exprs) {
    let depth = 0;
    for (const ch of expr) { depth += ch === '(' ? 1 : ch === ')' ? -1 : 0; assert.ok(depth >= 0, `${title}: ${expr}`); }
    assert.equal(depth, 0, `${title}: balanced parentheses in ${expr}`);
    const names = promqlMetricNames(expr);
    assert.ok(names.length > 0, `${title} reads some metric: ${expr}`);
    for (const n of names) {
      assert.ok(exported.has(n), `${title}: '${n}' is not a metric evkit exports (${expr})`);
      used.add(n.replace(/_(bucket|sum|count)$/, (m) => (fams.has(n) ? m : '')));
    }
  }
  for (const name of fams.keys()) assert.ok(used.has(name), `the dashboard shows ${name}`);
  // The extraction itself: a wrong name is caught.
  assert.deepEqual(promqlMetricNames('sum by (le, action) (rate(evkit_x_bucket{a="b",c=~"$d"}[5m])) / time()'), ['evkit_x_bucket']);
});
