// Server-side request forgery: webhook registrations made through the API
// reach only public addresses unless EVKIT_WEBHOOK_ALLOW names a range,
// judged after name resolution when the connection is made (127.1,
// 2130706433, ::ffff:127.0.0.1 and a name resolving to loopback are
// loopback); a failed challenge says the same whatever state the port is
// in; evkit.http from actions refuses link-local and cloud-metadata
// addresses unless EVKIT_ACTION_HTTP_ALLOW names them. Loopback is tested
// here; private and metadata addresses inside a network namespace of their
// own (lib/ssrf-netns.mjs), so nothing can leave the machine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Evkit } from './lib/evkit.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const token = 'ssrf-token-0123456789abcdef0123456789';
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
let rx;
let hits = 0;

before(async () => {
  rx = http.createServer((req, res) => {
    hits++;
    const c = new URL(req.url, 'http://x').searchParams.get('challenge');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(c ?? 'ok');
  });
  await new Promise((resolve) => rx.listen(0, '127.0.0.1', resolve));
});
after(() => rx.close());

async function register(ek, name, url) {
  const r = await fetch(`${ek.url}/api/v1/registrations`, {
    method: 'POST', headers: auth,
    body: JSON.stringify({ name, webhook_url: url, events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }] }),
  });
  const text = await r.text();
  return { status: r.status, error: text ? JSON.parse(text).error : undefined };
}

test('webhook registrations to loopback are refused in every spelling, before any connection', async () => {
  const ek = await new Evkit({ env: { EVKIT_API_TOKENS: token, EVKIT_WEBHOOK_ALLOW: '' } }).start();
  try {
    const port = rx.address().port;
    const spellings = ['127.0.0.1', '127.1', '2130706433', '0x7f000001', '[::ffff:127.0.0.1]', 'localhost'];
    for (const [i, host] of spellings.entries()) {
      const r = await register(ek, `loop-${i}`, `http://${host}:${port}/hook`);
      assert.equal(r.status, 400, `${host}: ${r.error}`);
      assert.match(r.error, /refused: its host resolves to a loopback, private/, host);
    }
    assert.equal(hits, 0, 'no request reached the loopback receiver');
    const why = ek.logs().filter((l) => l.message === 'webhook challenge failed').map((l) => l.reason);
    assert.ok(why.some((w) => /127\.0\.0\.1 is loopback \(not in EVKIT_WEBHOOK_ALLOW\)/.test(w)), why.join('\n'));
    assert.equal((await fetch(`${ek.url}/api/v1/registrations/loop-1`, { headers: auth })).status, 404);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('with loopback allowed, the challenge reaches it, and its refusal does not tell port states apart', async () => {
  const ek = await new Evkit({ env: { EVKIT_API_TOKENS: token, EVKIT_WEBHOOK_ALLOW: '127.0.0.0/8' } }).start();
  // A closed port, a port that accepts and never answers, one that answers 404.
  const closed = net.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  const silent = net.createServer(() => {});
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const notFound = http.createServer((req, res) => { res.writeHead(404); res.end('nope'); });
  await new Promise((resolve) => notFound.listen(0, '127.0.0.1', resolve));
  try {
    const ok = await register(ek, 'loop-ok', `http://127.1:${rx.address().port}/hook`);
    assert.equal(ok.status, 201, ok.error);
    const texts = [];
    for (const [name, port] of [['closed', closedPort], ['silent', silent.address().port], ['404', notFound.address().port]]) {
      const r = await register(ek, `probe-${name}`, `http://127.0.0.1:${port}/x`);
      assert.equal(r.status, 400, r.error);
      texts.push(r.error.replace(`:${port}/`, ':PORT/'));
    }
    assert.equal(new Set(texts).size, 1, `one answer for every port state:\n${texts.join('\n')}`);
    assert.doesNotMatch(texts[0], /refused|timed? ?out|no answer|HTTP 404|connect/i);
    // The operator's log has the detail.
    const why = ek.logs().filter((l) => l.message === 'webhook challenge failed').map((l) => l.reason).join('\n');
    assert.match(why, /connection failed/);
    assert.match(why, /no answer within/);
    assert.match(why, /HTTP 404/);
  } finally {
    silent.close();
    notFound.close();
    await ek.stop();
    ek.cleanup();
  }
});

test('private and metadata addresses are refused (own network namespace)', (t) => {
  const probe = spawnSync('unshare', ['-n', 'true']);
  if (probe.status !== 0) { t.skip('unshare -n is not allowed here'); return; }
  const setup = [
    'ip link set lo up',
    'ip addr add 10.1.2.3/32 dev lo', 'ip addr add 192.168.7.7/32 dev lo', 'ip addr add 169.254.169.254/32 dev lo',
    'ip -6 addr add fd00:ec2::254/128 dev lo nodad',
  ].join(' && ');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `${setup} && exec "$0" "$1"`, process.execPath, path.join(here, 'lib/ssrf-netns.mjs')],
    { encoding: 'utf8', timeout: 120000, env: process.env });
  assert.equal(r.status, 0, r.stderr);
  const { refusedAll, hitsBefore, allowed, hits } = JSON.parse(r.stdout);
  for (const [name, reg] of Object.entries(refusedAll.registrations)) {
    assert.equal(reg.status, 400, `${name}: ${reg.error}`);
    assert.match(reg.error, /refused: its host resolves to/, name);
  }
  assert.equal(hitsBefore > 0, true, 'actions reached the private address (their default allows it)');
  // Actions: private addresses are open, metadata refused by default.
  assert.equal(refusedAll.http.private.status, 200, JSON.stringify(refusedAll.http.private));
  for (const name of ['metadata', 'metadata6']) {
    assert.equal(refusedAll.http[name].kind, 'refused', JSON.stringify(refusedAll.http[name]));
    assert.match(refusedAll.http[name].message, /EVKIT_ACTION_HTTP_ALLOW/);
  }
  assert.ok(!hits.slice(0, hitsBefore).some((h) => /169\.254\.169\.254|fd00:ec2::254/.test(h.local)),
    'no request reached a metadata address');
  assert.ok(!hits.slice(0, hitsBefore).some((h) => /challenge=/.test(h.url)), 'no challenge was sent anywhere');
  // With allowlists: the named range is reached, the others still refused.
  for (const name of ['private', 'decimal', 'mapped'])
    assert.equal(allowed.registrations[name].status, 201, `${name}: ${allowed.registrations[name].error}`);
  for (const name of ['private192', 'metadata', 'metadata6'])
    assert.equal(allowed.registrations[name].status, 400, name);
  assert.equal(allowed.http.metadata.status, 200, JSON.stringify(allowed.http.metadata));
  assert.equal(allowed.http.metadata.text, 'metadata-secret');
  assert.equal(allowed.http.metadata6.kind, 'refused');
  assert.ok(hits.slice(hitsBefore).some((h) => h.local.endsWith('10.1.2.3') && /challenge=/.test(h.url)),
    'the allowed range got its challenge');
});
