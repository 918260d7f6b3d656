// The bad-input corpus (tests/e2e/badinput/*.json): requests that evkit must
// refuse, each with the status it must answer, sent to every door (ingestion
// webhook, publishing and journal API, registrations API, console and its
// APIs, metrics, the Lua host functions through a web action). After each
// one, nothing else changed: the journal's last position, the registrations
// (definitions and state), the state store, the dead letters and the
// providers are what they were, and the daemon still answers.
//
// A corpus file: {door, daemon: "kit" (the sample app) | "lua" (the control
// app's badinput scenario), defaults: {method, path, auth, headers},
// cases: [{name, method?, path?, auth?: "api" | "metrics" | "session" |
// "none", headers?, body? (text) | json? (sent as JSON) | raw? (bytes on a
// TCP connection, for what fetch cannot send), status, error? (a regular
// expression the answer's text must match)}]}. In body, raw and header
// values: ${repeat:S:N} is S N times, ${deep:N} N nested JSON arrays,
// ${API_TOKEN}, ${METRICS_TOKEN}, ${SESSION} and ${CSRF} the run's
// credentials, ${SOURCE} the CloudEvents source of the sample app's
// backoffice provider.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Evkit, sampleApp, seedExample } from './lib/evkit.mjs';
import { controlApp } from './lib/fixture.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CORPUS = path.join(here, 'badinput');
const API_TOKEN = 'badinput-api-token-0123456789abcdef';
const METRICS_TOKEN = 'badinput-metrics-token-0123456789ab';
const ENV = { EVKIT_API_TOKENS: API_TOKEN, EVKIT_METRICS_TOKEN: METRICS_TOKEN };

const files = readdirSync(CORPUS).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ file: f, ...JSON.parse(readFileSync(path.join(CORPUS, f), 'utf8')) }));

const daemons = {};
let lua;
const creds = { API_TOKEN, METRICS_TOKEN, SESSION: '', CSRF: '', SOURCE: '' };

function expand(s) {
  return s.replace(/\$\{repeat:([^:}]*):(\d+)\}/g, (_, unit, n) => unit.repeat(Number(n)))
    .replace(/\$\{deep:(\d+)\}/g, (_, n) => '['.repeat(Number(n)) + ']'.repeat(Number(n)))
    .replace(/\$\{(API_TOKEN|METRICS_TOKEN|SESSION|CSRF|SOURCE)\}/g, (_, k) => creds[k]);
}

async function api(ek, method, p, body) {
  const r = await fetch(`${ek.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

// What no refused request may change.
async function snapshot(ek) {
  const ev = await api(ek, 'GET', '/api/v1/events?latest=true&limit=1');
  const regs = await api(ek, 'GET', '/api/v1/registrations');
  const state = await api(ek, 'GET', '/api/v1/namespaces/_/state/');
  const kept = await api(ek, 'GET', '/api/v1/namespaces/_/state/badinput.kept');
  const dead = await api(ek, 'GET', '/api/v1/deadletters?limit=1000');
  const provs = await api(ek, 'GET', '/api/v1/providers');
  for (const r of [ev, regs, state, dead, provs]) assert.equal(r.status, 200, `snapshot: ${r.text}`);
  return {
    journal: ev.json.events.map((e) => e.position),
    registrations: regs.json.registrations.map((g) => ({
      name: g.name, origin: g.origin, state: g.state, description: g.description,
      events_of_interest: g.events_of_interest, runtime_action: g.runtime_action, webhook_url: g.webhook_url,
      delivery_type: g.delivery_type, secrets: (g.webhook_secrets || []).map((s) => s.id), filter: g.filter,
    })),
    state: state.json,
    kept: kept.json,
    deadletters: dead.json.deadletters.map((d) => d.id),
    providers: provs.json,
  };
}

async function settle(ek) {
  await ek.waitFor(async () => {
    const r = await api(ek, 'GET', '/api/v1/registrations');
    return r.status === 200 && r.json.registrations.every((g) => g.backlog === 0);
  }, { what: 'deliveries to settle', timeout: 30000 });
}

// One valid thing of each kind first, so that "unchanged" is about
// something: an event, an API registration, a state key.
async function seed(ek, viaWebhook) {
  if (viaWebhook) {
    const r = await ek.post('ingestion/webhook', { data: { ...seedExample.data, uid: 'badinput-seed' } });
    assert.equal(r.status, 200, r.text);
  } else {
    const r = await ek.post('ingest/publish', { type: 'be-observer.catalog_product_create', data: { sku: 'seed' } });
    assert.equal(r.status, 200, r.text);
  }
  const reg = await api(ek, 'POST', '/api/v1/registrations', {
    name: 'badinput-existing', description: 'made before the corpus runs',
    events_of_interest: [{ provider_metadata: 'backoffice', event_codes: ['be-observer.catalog_product_create'] }],
    runtime_action: viaWebhook ? 'product-backoffice/consumer' : 'ctl/state',
  });
  assert.equal(reg.status, 201, reg.text);
  const put = await api(ek, 'PUT', '/api/v1/namespaces/_/state/badinput.kept', { value: { kept: true }, ttl: -1 });
  assert.equal(put.status, 200, put.text);
  await settle(ek);
}

async function signIn(ek) {
  const r = await fetch(`${ek.url}/console/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: API_TOKEN }),
  });
  assert.equal(r.status, 200);
  creds.SESSION = r.headers.get('set-cookie').split(';')[0];
  creds.CSRF = (await r.json()).csrf;
}

before(async () => {
  daemons.kit = await new Evkit({ app: sampleApp, env: ENV }).start();
  lua = controlApp('badinput');
  daemons.lua = await new Evkit({ app: lua.app, env: ENV }).start();
  await seed(daemons.kit, true);
  await seed(daemons.lua, false);
  await signIn(daemons.kit);
  const provs = await api(daemons.kit, 'GET', '/api/v1/providers');
  creds.SOURCE = `urn:uuid:${provs.json.providers.find((p) => p.key === 'backoffice').id}`;
});

after(async () => {
  for (const ek of Object.values(daemons)) {
    await ek.stop();
    ek.cleanup();
  }
  if (lua) lua.cleanup();
});

const AUTH = {
  api: () => ({ authorization: `Bearer ${API_TOKEN}` }),
  metrics: () => ({ authorization: `Bearer ${METRICS_TOKEN}` }),
  session: () => ({ cookie: creds.SESSION, 'x-evkit-csrf': creds.CSRF }),
  none: () => ({}),
};

// Sends raw bytes and reads the status line of the first answer.
function sendRaw(ek, bytes) {
  const { hostname, port } = new URL(ek.url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: hostname, port: Number(port) });
    let got = '';
    const done = () => {
      sock.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      if (m) resolve({ status: Number(m[1]), text: got });
      else reject(new Error(`no HTTP answer to the raw request: ${JSON.stringify(got.slice(0, 200))}`));
    };
    sock.setTimeout(10000, done);
    sock.on('data', (d) => { got += d.toString('latin1'); if (/\r\n\r\n/.test(got)) setTimeout(done, 50); });
    sock.on('end', done);
    sock.on('error', (e) => (got ? done() : reject(e)));
    sock.write(Buffer.from(expand(bytes), 'latin1'));
  });
}

async function send(ek, c, d) {
  if (c.raw !== undefined) return sendRaw(ek, c.raw.replace(/\$\{HOST\}/g, new URL(ek.url).host));
  const headers = { ...AUTH[c.auth ?? d.auth ?? 'none'](), ...(d.headers || {}), ...(c.headers || {}) };
  for (const k of Object.keys(headers)) headers[k] = expand(String(headers[k]));
  let body;
  if (c.json !== undefined) body = JSON.stringify(c.json);
  else if (c.body !== undefined) body = expand(c.body);
  const r = await fetch(`${ek.url}${expand(c.path ?? d.path)}`, { method: c.method ?? d.method ?? 'GET', headers, body });
  return { status: r.status, text: await r.text() };
}

for (const { file, door, daemon, defaults = {}, cases } of files) {
  const names = new Set();
  for (const c of cases) {
    assert.ok(!names.has(c.name), `${file}: the case name "${c.name}" is used twice`);
    names.add(c.name);
    test(`${door}: ${c.name} -> ${c.status}`, async () => {
      const ek = daemons[daemon];
      const before = await snapshot(ek);
      const r = await send(ek, c, defaults);
      assert.equal(r.status, c.status, `${file} "${c.name}" answered ${r.status}: ${r.text.slice(0, 300)}`);
      if (c.error) assert.match(r.text, new RegExp(c.error), `${file} "${c.name}"`);
      assert.deepEqual(await snapshot(ek), before, `${file} "${c.name}" changed something`);
    });
  }
}

test('the corpus has at least 200 requests and reaches every door', () => {
  const total = files.reduce((n, f) => n + f.cases.length, 0);
  assert.ok(total >= 200, `${total} requests`);
  const doors = new Set(files.map((f) => f.door));
  for (const d of ['ingestion webhook', 'publishing API', 'registrations API', 'console API', 'metrics', 'Lua host functions'])
    assert.ok(doors.has(d), `no case for the ${d}`);
});

// Last, as they change things: the doors take a valid request, and the
// snapshot sees what it changed (so the checks above could fail).
test('the doors take valid requests, and the snapshot sees the change', async () => {
  const { kit } = daemons;
  let before = await snapshot(kit);
  const r = await kit.post('ingestion/webhook', { data: { ...seedExample.data, uid: 'badinput-after' } });
  assert.equal(r.status, 200, r.text);
  assert.notDeepEqual((await snapshot(kit)).journal, before.journal);
  before = await snapshot(daemons.lua);
  const call = await daemons.lua.post('hostcall/call', { fn: 'state.put', args: ['badinput.probe', 1] });
  assert.equal(call.status, 200, call.text);
  assert.deepEqual(call.json, { accepted: true });
  assert.notDeepEqual((await snapshot(daemons.lua)).state, before.state);
  before = await snapshot(kit);
  const reg = await api(kit, 'DELETE', '/api/v1/registrations/badinput-existing');
  assert.equal(reg.status, 200, reg.text);
  assert.notDeepEqual((await snapshot(kit)).registrations, before.registrations);
});

test('both daemons still serve and log no sanitizer report', async () => {
  for (const ek of Object.values(daemons)) {
    assert.equal((await fetch(`${ek.url}/healthz`)).status, 200);
    ek.checkSanitizer();
    assert.equal(ek.proc.exitCode, null);
  }
});
