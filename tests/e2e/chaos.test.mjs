// Chaos: evkit killed with -9 while it group-commits concurrent publishes,
// a journal on a full filesystem, and webhook targets that hang, reset the
// connection, answer byte by byte, or flood their answer. After each, every
// event evkit acknowledged (a 2xx from the publishing API) is in the journal
// exactly once and was delivered at least once. Events get in through the
// publishing API and leave through webhook registrations to a TCP target in
// this process, whose behaviour each test sets per path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, statfsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Evkit } from './lib/evkit.mjs';
import { controlApp, sleep } from './lib/fixture.mjs';

const TOKEN = 'chaos-api-token-0123456789abcdef0123';
const ENV = { EVKIT_API_TOKENS: TOKEN, EVKIT_WEBHOOK_ALLOW: '127.0.0.0/8' };
const TYPES = {
  ok: 'be-observer.catalog_product_create',
  hang: 'be-observer.catalog_product_update',
  reset: 'be-observer.catalog_product_delete',
  slow: 'be-observer.customer_create',
  trickle: 'be-observer.customer_update',
  flood: 'be-observer.customer_delete',
  headers: 'be-observer.customer_group_create',
};

// The webhook target: a raw TCP server, so it can misbehave below HTTP. It
// reads each request whole (Content-Length), notes the events in it (by
// data.sku, which the tests set to the id they publish with), and then does what behave[path](attempt) says: 'ok', 'hang',
// 'reset', 'slow' (a whole answer a byte at a time), 'trickle' (a byte a
// second, never done), 'flood' (a body without end), 'headers' (header
// lines without end). attempt counts the requests for the same event.
function target() {
  const t = {
    behave: {},
    attempts: new Map(),      // published id -> requests seen
    delivered: new Map(),     // published id -> answers completed with 200
    sockets: new Set(),
    url: '',
  };
  const answer = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok';
  t.server = net.createServer((sock) => {
    t.sockets.add(sock);
    sock.on('close', () => t.sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      sock.removeAllListeners('data');
      const [, method, url] = /^(\S+) (\S+)/.exec(head);
      const u = new URL(url, 'http://x');
      if (method === 'GET' && u.searchParams.has('challenge')) {
        const c = u.searchParams.get('challenge');
        sock.end(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${c.length}\r\nconnection: close\r\n\r\n${c}`);
        return;
      }
      let body = JSON.parse(buf.subarray(end + 4, end + 4 + len).toString('utf8'));
      if (!Array.isArray(body)) body = [body];
      const ids = body.map((e) => e.data?.sku ?? e.id);
      const attempt = Math.max(...ids.map((id) => { const n = (t.attempts.get(id) || 0) + 1; t.attempts.set(id, n); return n; }));
      const how = (t.behave[u.pathname] || (() => 'ok'))(attempt);
      const done = () => { for (const id of ids) t.delivered.set(id, (t.delivered.get(id) || 0) + 1); };
      if (how === 'ok') {
        sock.end(answer, done);
      } else if (how === 'reset') {
        sock.resetAndDestroy();
      } else if (how === 'hang') {
        // Says nothing until evkit gives up.
      } else if (how === 'slow' || how === 'trickle') {
        const bytes = how === 'slow' ? answer : 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(100000);
        let i = 0;
        // evkit may close as soon as it has the whole answer: the last
        // byte written is the answer delivered.
        const step = () => {
          if (sock.destroyed) return;
          const last = i === bytes.length - 1;
          sock.write(bytes[i++], last ? done : undefined);
          if (last) sock.end();
          else setTimeout(step, how === 'slow' ? 25 : 1000);
        };
        step();
      } else if (how === 'flood' || how === 'headers') {
        sock.write(how === 'flood' ? 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n' : 'HTTP/1.1 200 OK\r\n');
        const chunk = how === 'flood' ? Buffer.alloc(1 << 20, 'x') : Buffer.from('x-flood: y\r\n'.repeat(4096));
        const pump = () => { while (!sock.destroyed && sock.write(chunk)); };
        sock.on('drain', pump);
        pump();
      }
    });
  });
  return new Promise((resolve) => t.server.listen(0, '127.0.0.1', () => {
    t.url = `http://127.0.0.1:${t.server.address().port}`;
    resolve(t);
  }));
}

let tgt;
const fixtures = [];
before(async () => { tgt = await target(); });
after(async () => {
  for (const s of tgt.sockets) s.destroy();
  await new Promise((r) => tgt.server.close(r));
  for (const f of fixtures) f.cleanup();
});

async function api(ek, method, p, body, headers = {}) {
  const r = await fetch(`${ek.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, json, text };
}

async function daemon(extra = {}) {
  const fx = controlApp('chaos');
  fixtures.push(fx);
  const ek = await new Evkit({ app: fx.app, env: ENV, ...extra }).start();
  const provs = await api(ek, 'GET', '/api/v1/providers');
  ek.source = `urn:uuid:${provs.json.providers.find((p) => p.key === 'backoffice').id}`;
  return ek;
}

async function hook(ek, name, type, retry = { schedule: [100, 200, 400], max_age: 120000 }) {
  const r = await api(ek, 'POST', '/api/v1/registrations', {
    name, webhook_url: `${tgt.url}/${name}`, retry,
    events_of_interest: [{ provider_metadata: 'backoffice', event_codes: [type] }],
  });
  assert.equal(r.status, 201, r.text);
}

function publish(ek, id, type, data = { sku: id }) {
  return fetch(`${ek.url}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id, source: ek.source, type, data }),
  });
}

// Every acknowledged id (the data.sku the event was published with, as
// evkit journals its own CloudEvent id): in the journal once, delivered (a completed 200)
// at least once. Unacknowledged ones may be in the journal, once at most.
async function assertKept(ek, acked, sent, { timeout = 60000 } = {}) {
  const missing = () => acked.filter((id) => !(tgt.delivered.get(id) >= 1));
  await ek.waitFor(() => missing().length === 0, { timeout }).catch((e) => {
    const seen = missing().map((id) => `${id}: ${tgt.attempts.get(id) || 0} attempts`);
    throw new Error(`${missing().length} of ${acked.length} acknowledged events not delivered (${seen.slice(0, 20).join(', ')})\n${e.message}`);
  });
  const counts = new Map();
  for (const e of ek.events(['--provider', 'backoffice'])) {
    const id = e.event.data?.sku;
    counts.set(id, (counts.get(id) || 0) + 1);
  }
  for (const id of acked) assert.equal(counts.get(id), 1, `acknowledged event ${id} is in the journal once`);
  for (const id of sent) assert.ok((counts.get(id) || 0) <= 1, `event ${id} is in the journal at most once`);
}

test('kill -9 while concurrent publishes are group-committed: every acknowledged event survives once and is delivered', async () => {
  const ek = await daemon();
  await hook(ek, 'chaos-kill', TYPES.ok);
  const acked = [];
  const sent = [];
  for (let round = 0; round < 4; round++) {
    let stop = false;
    const before = acked.length;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const id = `kill-${round}-${w}-${i}`;
        sent.push(id);
        const r = await publish(ek, id, TYPES.ok).catch(() => null);
        if (!r) return;
        await r.arrayBuffer();
        assert.ok([200, 204, 503].includes(r.status), `publish answered ${r.status}`);
        if (r.status === 200 || r.status === 204) acked.push(id);
      }
    });
    // Killed while writes are in flight: once this round has some
    // acknowledged, at a random moment after.
    await ek.waitFor(() => acked.length >= before + 5, { what: 'publishes to be acknowledged', timeout: 30000 });
    await sleep(Math.floor(Math.random() * 200));
    await ek.kill9();
    stop = true;
    await Promise.all(writers);
    await ek.start();
  }
  console.log(`# kill -9 during group commit: ${acked.length} acknowledged of ${sent.length} sent over 4 kills`);
  await assertKept(ek, acked, sent);
  await ek.stop();
  ek.cleanup();
});

test('a full disk: publishes get 503 with Retry-After, nothing acknowledged is lost, and evkit serves again once there is room', async (t) => {
  if (process.env.EVKIT_TEST_STORE === 'nats') return t.skip('the full-disk journal is the SQLite store\'s');
  if (process.getuid?.() !== 0) return t.skip('mounting a small filesystem needs root');
  const data = mkdtempSync(path.join(tmpdir(), 'evkit-full-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', data], { encoding: 'utf8' });
  if (m.status !== 0) { rmSync(data, { recursive: true, force: true }); return t.skip(`cannot mount a tmpfs: ${m.stderr.trim()}`); }
  let ek;
  try {
    ek = await daemon({ data });
    await hook(ek, 'chaos-full', TYPES.ok);
    const acked = [];
    const sent = [];
    const statuses = {};
    const filler = path.join(data, 'filler');
    const fs = statfsSync(data);
    writeFileSync(filler, Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 3 * 1024 * 1024)));
    const blob = 'x'.repeat(16 * 1024);
    let full = 0;
    for (let i = 0; full < 10 && i < 2000; i++) {
      const id = `full-${i}`;
      sent.push(id);
      const r = await api(ek, 'POST', '/api/v1/events', { specversion: '1.0', id, source: ek.source, type: TYPES.ok, data: { sku: id, blob } },
        { 'content-type': 'application/cloudevents+json' });
      statuses[r.status] = (statuses[r.status] || 0) + 1;
      if (r.status === 200 || r.status === 204) { acked.push(id); full = 0; continue; }
      assert.equal(r.status, 503, `a full disk is a 503, not ${r.status}: ${r.text}`);
      assert.ok(r.headers.get('retry-after'), 'with Retry-After');
      assert.ok(r.json && r.json.error, `with a JSON error: ${r.text}`);
      full++;
    }
    assert.equal(full, 10, `the disk filled up: ${JSON.stringify(statuses)}`);
    assert.ok(acked.length > 0, 'some events fit before it did');
    assert.equal((await fetch(`${ek.url}/healthz`)).status, 200, 'evkit still answers');
    unlinkSync(filler);
    for (let i = 0; i < 5; i++) {
      const id = `after-${i}`;
      sent.push(id);
      const r = await ek.waitFor(async () => {
        const a = await publish(ek, id, TYPES.ok, { sku: id });
        await a.arrayBuffer();
        return a.status === 200 ? a : null;
      }, { what: `publish ${id} once there is room`, timeout: 20000 });
      assert.equal(r.status, 200);
      acked.push(id);
    }
    console.log(`# full disk: ${JSON.stringify(statuses)}; ${acked.length} acknowledged`);
    await assertKept(ek, acked, sent);
    await ek.stop();
  } finally {
    if (ek && ek.proc && ek.proc.exitCode === null) await ek.kill9();
    spawnSync('umount', ['-l', data]);
    rmSync(data, { recursive: true, force: true });
  }
});

test('webhook targets that hang, reset, answer byte by byte or flood: each event is delivered once the target behaves, and evkit keeps serving', async () => {
  const ek = await daemon();
  // The first attempt misbehaves, the next ones answer 200 at once.
  tgt.behave = {
    '/chaos-hang': (n) => (n === 1 ? 'hang' : 'ok'),
    '/chaos-reset': (n) => (n <= 2 ? 'reset' : 'ok'),
    '/chaos-slow': () => 'slow',
    '/chaos-trickle': (n) => (n === 1 ? 'trickle' : 'ok'),
    '/chaos-flood': (n) => (n === 1 ? 'flood' : 'ok'),
    '/chaos-headers': (n) => (n === 1 ? 'headers' : 'ok'),
  };
  for (const kind of ['hang', 'reset', 'slow', 'trickle', 'flood', 'headers']) await hook(ek, `chaos-${kind}`, TYPES[kind]);
  const acked = [];
  const sent = [];
  for (const kind of ['hang', 'reset', 'slow', 'trickle', 'flood', 'headers']) {
    for (let i = 0; i < 2; i++) {
      const id = `${kind}-${i}`;
      sent.push(id);
      const r = await publish(ek, id, TYPES[kind]);
      await r.arrayBuffer();
      assert.equal(r.status, 200, `${id}: ${r.status}`);
      acked.push(id);
    }
  }
  // While the targets misbehave, evkit answers.
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) assert.equal((await fetch(`${ek.url}/healthz`)).status, 200);
  assert.ok(Date.now() - t0 < 5000, 'health answers stay quick');
  await assertKept(ek, acked, sent, { timeout: 90000 });
  for (const id of acked) {
    const kind = id.split('-')[0];
    const want = { hang: 2, reset: 3, slow: 1, trickle: 2, flood: 2, headers: 2 }[kind];
    assert.ok(tgt.attempts.get(id) >= want, `${id}: ${tgt.attempts.get(id)} attempts, at least ${want}`);
  }
  // What evkit recorded: no dead letter, every delivery done.
  const dead = await api(ek, 'GET', '/api/v1/deadletters');
  assert.deepEqual(dead.json.deadletters, []);
  const regs = await api(ek, 'GET', '/api/v1/registrations');
  for (const g of regs.json.registrations.filter((x) => x.name.startsWith('chaos-'))) assert.equal(g.backlog, 0, g.name);
  // The flood was read away, not kept: the daemon's memory stayed small.
  const rss = Number(/VmRSS:\s+(\d+)/.exec(spawnSync('cat', [`/proc/${ek.proc.pid}/status`], { encoding: 'utf8' }).stdout)?.[1] ?? 0);
  assert.ok(rss < 400 * 1024, `RSS ${rss} kB after the floods`);
  await ek.stop();
  ek.cleanup();
});
