// The end-to-end harness: starts the real evkit binary on a free loopback
// port with its own journal folder, runs CLI commands against the same
// folder, and stops it (gracefully or with kill -9).
//
// EVKIT_TEST_STORE=nats runs every instance on NATS JetStream instead of
// SQLite: each journal folder gets a nats-server of its own (loopback, a
// free port, -js with its store inside the folder) that outlives restarts
// and kill -9 of evkit, as a cluster would, and is stopped by cleanup() or
// when the test process exits.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../..');
export const bin = process.env.EVKIT_BIN ? path.resolve(repo, process.env.EVKIT_BIN) : path.join(repo, 'build/evkit');
export const sampleApp = path.join(repo, 'app');
export const fixtures = path.join(repo, 'tests/e2e/fixtures');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const testStore = process.env.EVKIT_TEST_STORE || 'sqlite';
const natsServers = new Map(); // journal folder -> { proc, url, port, ready }
const killNats = () => { for (const n of natsServers.values()) n.proc.kill('SIGKILL'); };
process.on('exit', killNats);
if (testStore === 'nats') {
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killNats(); process.exit(128 + (sig === 'SIGINT' ? 2 : 15)); });
}

function freePortSync() {
  const r = spawnSync(process.execPath, ['-e',
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"],
  { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

// Each server is named after this test run (EVKIT_TEST_RUN, set by scripts/run-tests.sh, which
// looks for leftovers by that name), this process and a counter, so that the harness knows that
// what answers on the port is its own server and not another one that took the port meanwhile.
const runTag = `evkit-e2e-${process.env.EVKIT_TEST_RUN || 'x'}-${process.pid}`;
let natsCount = 0;

// Starts a nats-server for folder data on a free port; waits (synchronously, so that the CLI
// may be the first to use it) until it answers with its own name. null when another process
// took the port first.
function startNats(data, port = freePortSync()) {
  const name = `${runTag}-${++natsCount}`;
  const proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-n', name, '-js',
    '-sd', path.join(data, 'nats')], { stdio: 'ignore' });
  proc.unref(); // a test that does not clean up must still end; 'exit' stops it
  // Exit 2: it died (a zombie until node reaps it) or another server answers on the port.
  const up = spawnSync('bash', ['-c', `for i in $(seq 200); do
      st=$(cut -d' ' -f3 /proc/${proc.pid}/stat 2>/dev/null); [[ -z $st || $st == Z ]] && exit 2
      info=$( (exec 3<>/dev/tcp/127.0.0.1/${port} && read -r -t 5 line <&3 && echo "$line") 2>/dev/null)
      if [[ -n $info ]]; then [[ $info == *'"server_name":"${name}"'* ]] && exit 0; exit 2; fi
      sleep 0.05; done; exit 1`]);
  if (up.status === 0) return { proc, port, url: `nats://127.0.0.1:${port}` };
  proc.kill('SIGKILL');
  if (up.status === 2) return null;
  throw new Error(`nats-server did not start on port ${port}`);
}

// The nats-server of journal folder data, started on first use.
export function natsFor(data) {
  let n = natsServers.get(data);
  for (let i = 0; !n && i < 5; i++) n = startNats(data);
  if (!n) throw new Error('nats-server could not get a free port in 5 tries');
  natsServers.set(data, n);
  return n.url;
}

// The environment that puts a journal folder's store on the backend under test: EVKIT_STORE
// with EVKIT_TEST_STORE=nats, else nothing (SQLite in the folder). For tests that spawn evkit
// themselves; stopNats(data) when done.
export function storeEnv(data) {
  return testStore === 'nats' ? { EVKIT_STORE: natsFor(data) } : {};
}

// Publishes one message with headers to a JetStream stream's subject on a nats-server and
// resolves with JetStream's ack ({stream, seq}): for a test that must put into the store what no
// evkit door takes, as a SQLite test edits the database. Only the protocol this needs.
export async function natsPublish(url, subject, headers, body) {
  const { port, hostname } = new URL(url);
  const { connect } = await import('node:net');
  const hdr = `NATS/1.0\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const payload = Buffer.from(body);
  const inbox = `_INBOX.evkit_e2e_${process.pid}`;
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname);
    let got = '';
    let sent = false;
    const done = (f, v) => { clearTimeout(timer); sock.destroy(); f(v); };
    const timer = setTimeout(() => done(reject, new Error(`no JetStream ack from ${url}: ${got}`)), 10000);
    sock.on('error', (e) => done(reject, e));
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (!sent && got.includes('\r\n')) {
        sent = true;
        sock.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nSUB ${inbox} 1\r\n`);
        sock.write(`HPUB ${subject} ${inbox} ${Buffer.byteLength(hdr)} ${Buffer.byteLength(hdr) + payload.length}\r\n`);
        sock.write(Buffer.concat([Buffer.from(hdr), payload, Buffer.from('\r\n')]));
      }
      if (/-ERR/.test(got)) return done(reject, new Error(got));
      const m = /MSG \S+ 1 +(?:\S+ +)?(\d+)\r\n/.exec(got); // MSG subject sid [reply] size
      if (m && got.length >= m.index + m[0].length + Number(m[1])) {
        const ack = JSON.parse(got.slice(m.index + m[0].length, m.index + m[0].length + Number(m[1])));
        return ack.error ? done(reject, new Error(JSON.stringify(ack.error))) : done(resolve, ack);
      }
    });
  });
}

export function stopNats(data) {
  const n = natsServers.get(data);
  if (!n) return;
  // Gone before its folder is removed (or unmounted); a zombie is gone enough. A server that
  // does not end on SIGTERM within 5 s (one on a full disk may not) gets SIGKILL.
  const gone = () => spawnSync('bash', ['-c', `for i in $(seq 100); do
    st=$(cut -d' ' -f3 /proc/${n.proc.pid}/stat 2>/dev/null); [[ -z $st || $st == Z ]] && exit 0; sleep 0.05; done
    exit 1`]).status === 0;
  n.proc.kill('SIGTERM');
  if (!gone()) {
    n.proc.kill('SIGKILL');
    if (!gone()) throw new Error(`nats-server ${n.proc.pid} does not stop`);
  }
  natsServers.delete(data);
}

// Stops journal folder data's nats-server and starts it again on the same port with the same
// store, as an operator restarts a server: evkit's connection comes back by itself.
export function restartNats(data) {
  const n = natsServers.get(data);
  if (!n) throw new Error(`no nats-server for ${data}`);
  stopNats(data);
  const again = startNats(data, n.port);
  if (!again) throw new Error(`port ${n.port} was taken while nats-server restarted`);
  natsServers.set(data, again);
}
const SANITIZER = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/;

// A copy of an app folder in a temp dir, so tests may write .env files.
export function copyApp(src = sampleApp) {
  const dir = mkdtempSync(path.join(tmpdir(), 'evkit-app-'));
  cpSync(src, dir, { recursive: true });
  return dir;
}

export class Evkit {
  constructor({ app = sampleApp, env = {}, workers = 4, data } = {}) {
    this.app = app;
    this.data = data ?? mkdtempSync(path.join(tmpdir(), 'evkit-e2e-'));
    // The suite's webhook receivers listen on loopback, which evkit refuses to webhooks unless
    // allowed; a test of that refusal passes its own EVKIT_WEBHOOK_ALLOW.
    this.env = { ...process.env, EVKIT_LOG_LEVEL: 'info', EVKIT_WEBHOOK_ALLOW: '127.0.0.0/8,::1', ...env };
    delete this.env.AIO_runtime_namespace;
    if (env.AIO_runtime_namespace) this.env.AIO_runtime_namespace = env.AIO_runtime_namespace;
    this.workers = workers;
    this.stderr = '';
    this.proc = null;
    if (testStore === 'nats' && !env.EVKIT_STORE) this.env.EVKIT_STORE = natsFor(this.data);
  }

  async start() {
    const sj = path.join(this.data, 'serve.json');
    rmSync(sj, { force: true });
    this.stderr = '';
    this.proc = spawn(bin, ['serve', '--app', this.app, '--data', this.data, '--listen', '127.0.0.1:0',
      '--workers', String(this.workers)], { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`evkit exited at start:\n${this.stderr}`);
      if (existsSync(sj)) {
        try {
          const { url, pid } = JSON.parse(readFileSync(sj, 'utf8'));
          if (pid === this.proc.pid) {
            const r = await fetch(`${url}/healthz`).catch(() => null);
            if (r && r.ok) { this.url = url; return this; }
          }
        } catch { /* written atomically; retry */ }
      }
      await sleep(20);
    }
    throw new Error(`evkit did not become healthy:\n${this.stderr}`);
  }

  webUrl(fqn, ns = 'evkit') { return `${this.url}/api/v1/web/${ns}/${fqn}`; }

  // A request to one of evkit's APIs (p from the root, e.g. /api/v1/registrations), body as JSON.
  async request(method, p, body, headers = {}) {
    const r = await fetch(`${this.url}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers, text, json };
  }

  async post(fqn, body, headers = {}) {
    const r = await fetch(this.webUrl(fqn), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers, text, json };
  }

  // Runs the CLI against this instance's app and journal.
  cli(args, { input } = {}) {
    const r = spawnSync(bin, args, {
      env: { ...this.env, EVKIT_APP: this.app, EVKIT_DATA: this.data }, input, encoding: 'utf8', timeout: 60000,
    });
    if (SANITIZER.test(r.stderr)) throw new Error(`sanitizer report from CLI ${args.join(' ')}:\n${r.stderr}`);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  cliJson(args) {
    const r = this.cli([...args, '--json']);
    if (r.code !== 0) throw new Error(`evkit ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  events(extra = []) { return this.cliJson(['event', 'list', '--limit', '100000', ...extra]); }

  async waitFor(fn, { timeout = 15000, interval = 50, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    while (Date.now() < deadline) {
      last = await fn();
      if (last) return last;
      await sleep(interval);
    }
    throw new Error(`timed out waiting for ${what}; evkit stderr tail:\n${this.stderr.slice(-3000)}`);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode) return this.checkSanitizer();
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 20000);
    const res = await this.exited;
    clearTimeout(t);
    this.checkSanitizer();
    if (res.code !== 0) throw new Error(`evkit exited with ${res.code ?? res.signal}:\n${this.stderr.slice(-3000)}`);
  }

  async kill9() {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  checkSanitizer() {
    if (SANITIZER.test(this.stderr)) throw new Error(`sanitizer report:\n${this.stderr}`);
  }

  cleanup() {
    stopNats(this.data);
    rmSync(this.data, { recursive: true, force: true });
  }

  // Structured log lines evkit wrote to stderr.
  logs() {
    return this.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
  }
}

export const seedExample = {
  data: {
    uid: 'event_uid_1',
    event: 'be-observer.catalog_product_create',
    value: { sku: 'PRODUCT_SKU', name: 'Product SKU', price: 1, description: 'Product SKU description' },
  },
};
