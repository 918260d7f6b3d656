// The HTTP doors under abuse: idle and slow connections, malformed framing,
// NUL bytes in headers (issue 15, defects 3, 4, 9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Evkit, bin, repo } from './lib/evkit.mjs';
import { controlApp } from './lib/fixture.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One request on a fresh connection from a given loopback address.
function get(url, localAddress) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get(url, { agent: false, localAddress, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// Raw bytes to the server; resolves with everything it answered before closing.
function raw(port, chunks, { gapMs = 0, waitMs = 3000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let out = Buffer.alloc(0);
    const t0 = Date.now();
    s.on('data', (d) => { out = Buffer.concat([out, d]); });
    s.on('error', () => {});
    s.on('close', () => resolve({ text: out.toString('latin1'), closedAfterMs: Date.now() - t0 }));
    s.setTimeout(waitMs, () => { s.destroy(); });
    (async () => {
      for (const c of chunks) {
        if (s.destroyed) return;
        s.write(c);
        if (gapMs) await sleep(gapMs);
      }
    })();
  });
}

const statusLines = (text) => text.match(/HTTP\/1\.1 \d{3}/g) || [];
const portOf = (ek) => Number(new URL(ek.url).port);

test('2,000 idle and slow connections from one address: another address still gets answers, p99 <= 100 ms', async () => {
  const ek = await new Evkit().start();
  // The attacker holds its sockets in a child whose descriptor limit is raised
  // for them; evkit raises its own to what EVKIT_HTTP_MAX_CONNECTIONS needs.
  const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || 4096;
  const nofile = Math.min(hard, 8192);
  assert.ok(nofile >= 2200, `ulimit -Hn ${hard} is too low to hold 2,000 connections`);
  const attacker = spawn('sh', ['-c', `ulimit -n ${nofile} && exec "${process.execPath}" "${path.join(repo, 'tests/e2e/lib/slowclients.mjs')}" ${portOf(ek)} 2000`],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let report = {};
  attacker.stdout.setEncoding('utf8');
  attacker.stdout.on('data', (d) => {
    const lines = d.toString().trim().split('\n');
    try { report = JSON.parse(lines[lines.length - 1]); } catch { /* partial line */ }
  });
  try {
    // Measure only once every attacker socket is open or was refused.
    const deadline = Date.now() + 60000;
    while (!(report.live + report.ended >= 2000) && Date.now() < deadline) await sleep(200);
    assert.ok(report.live + report.ended >= 2000, `the attacker opened its sockets: ${JSON.stringify(report)}`);
    // Starvation by the attacker is lasting; a busy machine's stall is not: the best of
    // up to three rounds of 300 requests must meet the bound.
    let p99 = Infinity;
    let median = Infinity;
    for (let round = 0; round < 3 && p99 > 100; round += 1) {
      const times = [];
      for (let i = 0; i < 300; i += 1) {
        const r = await get(`${ek.url}/healthz`, '127.0.0.2');
        assert.equal(r.status, 200);
        times.push(r.ms);
      }
      times.sort((a, b) => a - b);
      const p = times[Math.ceil(times.length * 0.99) - 1];
      if (p < p99) { p99 = p; median = times[150]; }
    }
    assert.ok(p99 <= 100, `p99 ${p99.toFixed(1)} ms from 127.0.0.2 while 127.0.0.1 holds connections (median ${median.toFixed(1)} ms), best of 3 rounds`);
    // The per-address cap (256 by default) held the attacker: most of its
    // 2,000 sockets were closed at once.
    assert.ok(report.ended > 1000 && report.live <= 300, `the attacker's sockets were capped: ${JSON.stringify(report)}`);
  } finally {
    attacker.kill('SIGKILL');
    await ek.stop();
    ek.cleanup();
  }
});

test('a connection that sends its headers too slowly, or nothing, is closed at the header deadline; an idle kept-alive one at the idle timeout', async () => {
  const ek = await new Evkit({ env: { EVKIT_HTTP_HEADER_TIMEOUT: '1s', EVKIT_HTTP_IDLE_TIMEOUT: '1500ms' } }).start();
  const port = portOf(ek);
  try {
    const drip = ['GET /healthz HTTP/1.1\r\n', ...Array.from({ length: 40 }, () => 'x')];
    const [slow, silent] = await Promise.all([
      raw(port, drip, { gapMs: 200, waitMs: 8000 }),
      raw(port, [], { waitMs: 8000 }),
    ]);
    assert.equal(slow.text, '', 'no answer for a head never finished');
    assert.ok(slow.closedAfterMs >= 900 && slow.closedAfterMs < 4000, `slow head closed after ${slow.closedAfterMs} ms`);
    assert.ok(silent.closedAfterMs >= 900 && silent.closedAfterMs < 4000, `silent connection closed after ${silent.closedAfterMs} ms`);
    // Kept alive after an answer: closed once idle for 1.5 s, not before.
    const kept = await raw(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { waitMs: 8000 });
    assert.equal(statusLines(kept.text).length, 1);
    assert.ok(kept.closedAfterMs >= 1300 && kept.closedAfterMs < 5000, `idle kept-alive connection closed after ${kept.closedAfterMs} ms`);
    // A second request within the idle time is answered on the same connection.
    const two = await raw(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { gapMs: 500, waitMs: 8000 });
    assert.deepEqual(statusLines(two.text), ['HTTP/1.1 200', 'HTTP/1.1 200']);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('connections past the per-address cap are closed at once; another address is not affected', async () => {
  const ek = await new Evkit({ env: { EVKIT_HTTP_MAX_CONNECTIONS_PER_IP: '5' } }).start();
  const port = portOf(ek);
  const socks = [];
  try {
    const closed = [];
    for (let i = 0; i < 10; i += 1) {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
      s.on('error', () => {});
      s.on('close', () => closed.push(i));
      socks.push(s);
    }
    await sleep(1000);
    // At most 5 stay open (the harness's own kept-alive connection may be one).
    assert.ok(closed.length >= 5 && closed.length <= 6, `5 of 10 idle connections closed, got ${closed.length}`);
    assert.equal((await get(`${ek.url}/healthz`, '127.0.0.2')).status, 200);
    // Once the held ones end, the address may connect again.
    for (const s of socks) s.destroy();
    await sleep(300);
    assert.equal((await get(`${ek.url}/healthz`, '127.0.0.1')).status, 200);
  } finally {
    for (const s of socks) s.destroy();
    await ek.stop();
    ek.cleanup();
  }
});

test('a raw NUL byte in a header value is a 400, on a fresh and on a kept-alive connection', async () => {
  const ek = await new Evkit().start();
  const port = portOf(ek);
  try {
    const fresh = await raw(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Id: a\0b\r\n\r\n']);
    assert.deepEqual(statusLines(fresh.text), ['HTTP/1.1 400']);
    assert.match(fresh.text, /NUL byte/);
    const ok = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const kept = await raw(port, [ok, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Id: a\0b\r\n\r\n'], { gapMs: 300 });
    assert.deepEqual(statusLines(kept.text), ['HTTP/1.1 200', 'HTTP/1.1 400']);
    assert.equal((await get(`${ek.url}/healthz`)).status, 200);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('HTTP framing: a malformed or conflicting Content-Length gets one 400 and the connection ends', async () => {
  const ek = await new Evkit().start();
  const port = portOf(ek);
  const web = '/api/v1/web/evkit/ingestion/webhook';
  try {
    const cases = [
      [`POST ${web} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello`, /Content-Length '-5'/],
      [`POST ${web} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello12`, /conflicting Content-Length/],
      [`POST ${web} HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 7\r\n\r\nhello12`, /Content-Length '5, 7'/],
      [`POST ${web} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, /Transfer-Encoding/],
    ];
    for (const [req, why] of cases) {
      const r = await raw(port, [req]);
      assert.deepEqual(statusLines(r.text), ['HTTP/1.1 400'], `${JSON.stringify(req)} answered:\n${r.text}`);
      assert.match(r.text, why);
      const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
      assert.equal(Number(/Content-Length: (\d+)/i.exec(r.text)[1]), Buffer.byteLength(body), 'one response, its length as declared');
      // The same on a kept-alive connection, after a good request.
      const kept = await raw(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', req], { gapMs: 300 });
      assert.deepEqual(statusLines(kept.text), ['HTTP/1.1 200', 'HTTP/1.1 400'], kept.text);
      assert.match(kept.text.slice(kept.text.indexOf('HTTP/1.1 400')), why, kept.text);
    }
    // Equal duplicates are one length (RFC 9112), and nothing was journaled above.
    const same = await raw(port, ['POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}']);
    assert.deepEqual(statusLines(same.text), ['HTTP/1.1 200']);
    assert.equal(ek.events().length, 0);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('a kept-alive connection: pipelined requests are answered in order (a web action among them); a later head with white space in a name or a NUL in its line is a 400', async () => {
  const ek = await new Evkit().start();
  const port = portOf(ek);
  const web = '/api/v1/web/evkit/ingestion/webhook';
  const event = JSON.stringify({ data: { uid: 'pipelined-1', event: 'be-observer.catalog_product_create', value: { sku: 'S' } } });
  try {
    // Three requests in one write: the web action in the middle waits for
    // the journal, the answers still come in the order asked.
    const piped = await raw(port, [
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
      + `POST ${web} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(event)}\r\n\r\n${event}`
      + 'GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ]);
    assert.deepEqual(statusLines(piped.text), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 404'], piped.text);
    assert.ok(piped.text.indexOf('"status":"ok"') < piped.text.indexOf('Event published'), piped.text);
    assert.equal(ek.events().length, 1);
    const ok = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    for (const [later, why] of [
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Id : a\r\n\r\n', /white space/],
      ['GET /healthz\0junk HTTP/1.1\r\nHost: x\r\n\r\n', /NUL byte/],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Id: a\0b\r\nX-Other: c\r\n\r\n', /NUL byte/],
    ]) {
      const kept = await raw(port, [ok, later], { gapMs: 300 });
      assert.deepEqual(statusLines(kept.text), ['HTTP/1.1 200', 'HTTP/1.1 400'], JSON.stringify(later));
      assert.match(kept.text, why);
    }
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('request heads over 16 KiB get 431, on a fresh and on a kept-alive connection; a 10 KiB head and a 16 KiB head of 100 lines pass', async () => {
  const ek = await new Evkit().start();
  const port = portOf(ek);
  const head = (n) => `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(n)}\r\n\r\n`;
  const ok = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  try {
    assert.deepEqual(statusLines((await raw(port, [head(10000) + ok.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')])).text), ['HTTP/1.1 200', 'HTTP/1.1 200']);
    const fresh = await raw(port, [head(20000)]);
    assert.deepEqual(statusLines(fresh.text), ['HTTP/1.1 431']);
    assert.match(fresh.text, /exceed 16384 bytes/);
    for (const n of [10000, 20000, 40000]) {
      const kept = await raw(port, [ok, head(n)], { gapMs: 300 });
      assert.deepEqual(statusLines(kept.text), ['HTTP/1.1 200', n > 16384 ? 'HTTP/1.1 431' : 'HTTP/1.1 200'], `a later head of ${n} bytes`);
    }
    // Just under 16 KiB in 100 header lines (Apache's default cap): libmicrohttpd's
    // memory per connection holds it with every line's bookkeeping.
    const lines = 'GET /healthz HTTP/1.1\r\nHost: x\r\n'
      + Array.from({ length: 100 }, (_, i) => `X-H${String(i).padStart(3, '0')}: ${'v'.repeat(150)}\r\n`).join('') + '\r\n';
    assert.ok(lines.length > 16000 && lines.length <= 16384, `${lines.length}`);
    const manyFresh = await raw(port, [lines + ok.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')]);
    assert.deepEqual(statusLines(manyFresh.text), ['HTTP/1.1 200', 'HTTP/1.1 200'], 'a fresh head of 100 lines');
    const manyKept = await raw(port, [ok, lines], { gapMs: 300 });
    assert.deepEqual(statusLines(manyKept.text), ['HTTP/1.1 200', 'HTTP/1.1 200'], 'a later head of 100 lines');
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('a kept-alive connection whose next head trickles in is closed at the idle timeout plus the header deadline', async () => {
  const ek = await new Evkit({ env: { EVKIT_HTTP_HEADER_TIMEOUT: '1s', EVKIT_HTTP_IDLE_TIMEOUT: '1s' } }).start();
  try {
    // One byte every 300 ms keeps any inactivity timer from firing.
    const drip = ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', ...Array.from('GET /healthz HTTP/1.1\r\nX-Pad: ' + 'x'.repeat(60))];
    const slow = await raw(portOf(ek), drip, { gapMs: 300, waitMs: 15000 });
    assert.deepEqual(statusLines(slow.text), ['HTTP/1.1 200']);
    assert.ok(slow.closedAfterMs >= 1800 && slow.closedAfterMs < 6000, `closed after ${slow.closedAfterMs} ms`);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('actions that take long do not hold up other requests: /healthz and the namespaces API answer while 8 blocking invokes sleep', async () => {
  const fx = controlApp();
  writeFileSync(path.join(fx.app, 'actions/slow/nap.sh'), '#!/bin/sh\nsleep 1.5\necho \'{"napped":true}\'\n', { mode: 0o755 });
  const token = 'tok-naps-0123456789abcdef0123456789abcdef';
  const ek = await new Evkit({ app: fx.app, env: { EVKIT_API_TOKENS: token } }).start();
  try {
    const t0 = Date.now();
    const naps = Array.from({ length: 8 }, () => fetch(`${ek.url}/api/v1/namespaces/evkit/actions/slow/nap?blocking=true&result=true`,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' })
      .then(async (r) => ({ status: r.status, body: await r.json(), ms: Date.now() - t0 })));
    await sleep(300);
    const quick = [];
    for (let i = 0; i < 5; i += 1) {
      const s = Date.now();
      quick.push((await get(`${ek.url}/healthz`)).status);
      const r = await fetch(`${ek.url}/api/v1/namespaces/evkit/actions`, { headers: { authorization: `Bearer ${token}` } });
      quick.push(r.status);
      assert.ok(Date.now() - s < 1000, `a quick request took ${Date.now() - s} ms while the naps ran`);
    }
    const done = await Promise.all(naps);
    assert.deepEqual(quick, Array(10).fill(200));
    for (const n of done) assert.deepEqual([n.status, n.body], [200, { napped: true }]);
    assert.ok(Math.max(...done.map((n) => n.ms)) >= 1400, 'the naps slept');
  } finally {
    await ek.stop();
    ek.cleanup();
    fx.cleanup();
  }
});

// A request from a given loopback address; resolves {status, headers, body}.
function request(url, { localAddress = '127.0.0.1', headers = {}, method = 'GET' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, localAddress, headers, timeout: 10000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('a token shorter than 32 characters stops evkit serve with a clear error that does not show it', () => {
  for (const [name, value] of [['EVKIT_API_TOKENS', `${'x'.repeat(40)},short-secret`], ['EVKIT_METRICS_TOKEN', 'scrape-me']]) {
    const ek = new Evkit({ env: { [name]: value } });
    const t0 = Date.now();
    const r = spawnSync(bin,
      ['serve', '--app', ek.app, '--data', ek.data, '--listen', '127.0.0.1:0'],
      { encoding: 'utf8', timeout: 20000, env: { ...ek.env, EVKIT_LOG_FORMAT: 'text' } });
    ek.cleanup();
    assert.ok(Date.now() - t0 < 15000, `evkit serve kept running with a short ${name}`);
    assert.equal(r.signal, null);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`${name}: token \\d of \\d has \\d+ characters; every token needs at least 32`));
    assert.doesNotMatch(r.stderr, /short-secret|scrape-me/);
  }
});

test('wrong tokens are throttled per client address: 429 with Retry-After past 100 failures, other addresses unaffected', async () => {
  const token = 'doors-e2e-token-0123456789abcdef0123456789';
  const ek = await new Evkit({ env: { EVKIT_API_TOKENS: token } }).start();
  const url = `${ek.url}/api/v1/registrations`;
  try {
    const counts = {};
    let retryAfter = null;
    const t0 = Date.now();
    for (let i = 0; i < 30; i += 1) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) =>
        request(url, { headers: { authorization: `Bearer guess-${i}-${j}-0123456789abcdef0123456789` } })));
      for (const r of batch) {
        counts[r.status] = (counts[r.status] || 0) + 1;
        if (r.status === 429) retryAfter = r.headers['retry-after'];
      }
    }
    // 100 at once, then 100 a minute: what the guessing took refilled a few.
    const refilled = Math.ceil(((Date.now() - t0) / 60000) * 100);
    assert.ok(counts[401] >= 100 && counts[401] <= 101 + refilled, `about 100 guesses answered 401: ${JSON.stringify(counts)}, ${refilled} refilled`);
    assert.equal(counts[401] + counts[429], 300, JSON.stringify(counts));
    assert.match(retryAfter, /^\d+$/);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60);
    // Even the right token waits on the guessing address; another address is served.
    assert.equal((await request(url, { headers: { authorization: `Bearer ${token}` } })).status, 429);
    const other = await request(url, { localAddress: '127.0.0.2', headers: { authorization: `Bearer ${token}` } });
    assert.equal(other.status, 200);
    // Requests without a credential to open routes are not throttled.
    assert.equal((await request(`${ek.url}/healthz`)).status, 200);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('the console session cookie is Secure when clients come over HTTPS (EVKIT_PUBLIC_URL=https://...), not otherwise', async () => {
  const token = 'doors-console-token-0123456789abcdef01234';
  const login = async (ek) => {
    const r = await fetch(`${ek.url}/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal(r.status, 200);
    const csrf = (await r.json()).csrf;
    const cookie = r.headers.get('set-cookie');
    const out = await fetch(`${ek.url}/console/logout`, { method: 'POST', headers: { cookie: cookie.split(';')[0], 'x-evkit-csrf': csrf } });
    assert.equal(out.status, 200);
    return [cookie, out.headers.get('set-cookie')];
  };
  const proxied = await new Evkit({ env: { EVKIT_API_TOKENS: token, EVKIT_PUBLIC_URL: 'https://events.example.test' } }).start();
  try {
    for (const c of await login(proxied)) assert.match(c, /; Secure(;|$)/, c);
  } finally {
    await proxied.stop();
    proxied.cleanup();
  }
  const plain = await new Evkit({ env: { EVKIT_API_TOKENS: token, EVKIT_PUBLIC_URL: 'http://127.0.0.1:8080' } }).start();
  try {
    for (const c of await login(plain)) assert.doesNotMatch(c, /Secure/, c);
  } finally {
    await plain.stop();
    plain.cleanup();
  }
  // A value that is not a URL stops evkit serve, naming the setting.
  const bad = new Evkit({ env: { EVKIT_PUBLIC_URL: 'events.example.test' } });
  const r = spawnSync(bin, ['serve', '--app', bad.app, '--data', bad.data, '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20000, env: bad.env });
  bad.cleanup();
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /EVKIT_PUBLIC_URL 'events\.example\.test' is not an http:\/\/ or https:\/\/ URL/);
});

// The control app with one more web action, big/put, that puts a state value
// of params.mb MiB: one string, or (shape=table) a table of 1 KiB strings.
function bigStateApp() {
  const fx = controlApp();
  mkdirSync(path.join(fx.app, 'actions/big'), { recursive: true });
  writeFileSync(path.join(fx.app, 'actions/big/put.lua'), `
function main(params)
  local mb = tonumber(params.mb) or 1
  local value
  if params.shape == "table" then
    value = {}
    local piece = string.rep("y", 1000)
    for i = 1, math.floor(mb * 1024) do value[i] = piece .. i end
  else
    value = string.rep("x", math.floor(mb * 1024 * 1024))
  end
  local ok, err = pcall(evkit.state.put, "big." .. (params.key or "a"), value)
  return { body = { ok = ok, error = (not ok) and tostring(err) or nil } }
end
`);
  const cfg = path.join(fx.app, 'app.config.yaml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('    packages:\n', `    packages:
      big:
        license: Apache-2.0
        actions:
          put:
            function: actions/big/put.lua
            runtime: lua
            web: 'yes'
            limits:
              memory: 1024
              timeout: 60000
`));
  return fx;
}

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

test('memory: 30 MB state values are refused with a clear error, and RSS comes back near where it started', async () => {
  const fx = bigStateApp();
  const ek = await new Evkit({ app: fx.app }).start();
  try {
    const small = await ek.post('big/put?mb=0.5&key=small', {});
    assert.equal(small.status, 200);
    assert.deepEqual(small.json, { ok: true });
    await sleep(3000);
    const base = rssKiB(ek.proc.pid);
    for (let i = 0; i < 5; i += 1) {
      const r = await ek.post(`big/put?mb=30&key=s${i}`, {});
      assert.equal(r.json.ok, false);
      assert.match(r.json.error, /the value is \d+ bytes as JSON, over the state value limit of 1048576 bytes \(EVKIT_STATE_VALUE_MAX\)/);
    }
    for (let i = 0; i < 3; i += 1) {
      const r = await ek.post(`big/put?mb=30&key=t${i}&shape=table`, {});
      assert.equal(r.json.ok, false);
    }
    // Bodies near the 1 MB limit, many at once.
    const body = JSON.stringify({ pad: 'z'.repeat(1000 * 1000) });
    await Promise.all(Array.from({ length: 24 }, () => fetch(ek.webUrl('big/put?mb=0.01&key=b'), { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text())));
    // An ASan build keeps freed memory in its quarantine: the bound is for
    // the real allocator.
    if (!readFileSync(`/proc/${ek.proc.pid}/maps`, 'utf8').includes('libasan')) {
      let rss = 0;
      await ek.waitFor(() => { rss = rssKiB(ek.proc.pid); return rss < base + 40 * 1024; },
        { timeout: 15000, interval: 500, what: 'memory returned' }).catch(() => {});
      assert.ok(rss < base + 40 * 1024, `RSS ${Math.round(rss / 1024)} MiB after the large requests, ${Math.round(base / 1024)} MiB before`);
    }
  } finally {
    await ek.stop();
    ek.cleanup();
    fx.cleanup();
  }
  // The state API refuses the same way: 413 naming the setting.
  const token = 'doors-state-token-0123456789abcdef0123456';
  const e2 = await new Evkit({ env: { EVKIT_API_TOKENS: token, EVKIT_STATE_VALUE_MAX: '1024' } }).start();
  try {
    const put = (value) => fetch(`${e2.url}/api/v1/namespaces/evkit/state/k1`, {
      method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ value }) });
    assert.equal((await put('v'.repeat(900))).status, 200);
    const r = await put('v'.repeat(5000));
    assert.equal(r.status, 413);
    assert.match((await r.json()).error, /over the state value limit of 1024 bytes \(EVKIT_STATE_VALUE_MAX\)/);
  } finally {
    await e2.stop();
    e2.cleanup();
  }
});
