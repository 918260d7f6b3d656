// Several evkit nodes on one JetStream cluster: three nats-server processes
// clustered on loopback (JetStream, three replicas) and two evkit nodes of the
// control app. Events are published through both nodes under load while one
// evkit node is killed with -9 and restarted, and then one nats-server.
// Afterwards: every event that got a 200 is in the journal once, each was
// handled at least once, one sku's events never ran at the same time and ran
// in publish order, and traces and dead letters read the same from each node.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Evkit, bin } from './lib/evkit.mjs';
import { CONTROL, Ctl, sleep } from './lib/fixture.mjs';

const STOCK = 'be-observer.catalog_stock_update';

function freePorts(n) {
  const r = spawnSync(process.execPath, ['-e', `
    const net = require('net'); const out = []; let left = ${n};
    for (let i = 0; i < ${n}; i++) { const s = net.createServer(); s.listen(0, '127.0.0.1', () => {
      out.push(s.address().port); s.close(); if (--left === 0) console.log(out.join(' ')); }); }`],
  { encoding: 'utf8' });
  return r.stdout.trim().split(' ').map(Number);
}

class NatsCluster {
  constructor() {
    const ports = freePorts(6);
    this.client = ports.slice(0, 3);
    this.route = ports.slice(3);
    this.dir = mkdtempSync(path.join(tmpdir(), 'evkit-cluster-'));
    this.procs = [null, null, null];
    this.url = this.client.map((p) => `nats://127.0.0.1:${p}`).join(',');
  }

  start(i) {
    const routes = this.route.map((p) => `nats://127.0.0.1:${p}`).join(',');
    this.procs[i] = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(this.client[i]), '-n', `nats-${i + 1}`,
      '-js', '-sd', path.join(this.dir, `n${i + 1}`), '--cluster_name', 'evkit',
      '--cluster', `nats://127.0.0.1:${this.route[i]}`, '--routes', routes], { stdio: 'ignore' });
  }

  kill9(i) { this.procs[i].kill('SIGKILL'); }

  stop() {
    for (const p of this.procs) if (p && p.exitCode === null) p.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const cluster = new NatsCluster();
const nodes = [];
after(async () => {
  for (const n of nodes) { await n.stop().catch(() => {}); n.cleanup(); }
  cluster.stop();
});

// evkit check against the cluster until JetStream has its meta leader.
async function clusterReady() {
  const deadline = Date.now() + 60000;
  let r;
  while (Date.now() < deadline) {
    r = spawnSync(bin, ['check', '--app', CONTROL], { env: { ...process.env, EVKIT_STORE: cluster.url }, encoding: 'utf8', timeout: 30000 });
    if (r.status === 0) return;
    await sleep(500);
  }
  throw new Error(`the cluster did not become ready: ${r.stdout}${r.stderr}`);
}

async function publishRetrying(ctl, type, data) {
  // A node that is down, or a cluster electing a leader, may refuse for a moment:
  // the publisher retries, as a webhook sender would; only a 200 counts.
  for (let i = 0; i < 40; i++) {
    const r = await ctl.ek.post('ingest/publish', { type, data }).catch(() => null);
    if (r && r.status === 200) return r.json.published[0];
    await sleep(250);
  }
  throw new Error(`publish of ${JSON.stringify(data)} kept failing`);
}

test('two evkit nodes on a 3-server JetStream cluster: kill -9 of a node and of a server lose nothing, keep order per key', { timeout: 300000 }, async () => {
  for (let i = 0; i < 3; i++) cluster.start(i);
  await clusterReady();
  for (let i = 0; i < 2; i++) nodes.push(await new Evkit({ app: CONTROL, env: { EVKIT_STORE: cluster.url } }).start());
  const ctls = nodes.map((n) => new Ctl(n));

  const SKUS = 4, N = 48;
  const published = [];
  for (let seq = 0; seq < N; seq++) {
    const node = seq % 2;
    if (seq === 12) {                                // a node dies under load
      await nodes[0].kill9();
      // A consumer it killed mid-run leaves its sku marked busy; its delivery stays
      // held (blocking that sku) until the lease runs out, so clearing the marks now
      // hides no real overlap.
      for (let k = 0; k < SKUS; k++) await ctls[1].put(`ord.busy.S${k}`, false);
    }
    if (seq === 20) await nodes[0].start();          // and comes back
    if (seq === 28) cluster.kill9(2);                // a server dies: two of three keep quorum
    if (seq === 40) cluster.start(2);
    const ctl = node === 0 && seq >= 12 && seq < 20 ? ctls[1] : ctls[node];
    published.push(await publishRetrying(ctl, STOCK, { sku: `S${seq % SKUS}`, seq }));
  }

  // Handled at least once each, in publish order per sku, never two at once.
  const keys = [];
  for (let k = 0; k < SKUS; k++) keys.push(`ord.seq.S${k}`, `ord.overlap.S${k}`);
  const state = await nodes[1].waitFor(async () => {
    const v = await ctls[1].get(keys);
    const done = [...Array(SKUS).keys()].every((k) => {
      const got = new Set(v[`ord.seq.S${k}`] || []);
      return [...Array(N).keys()].filter((s) => s % SKUS === k).every((s) => got.has(s));
    });
    return done && v;
  }, { timeout: 120000, interval: 250, what: 'every event handled' });
  const failed = nodes.flatMap((n) => n.logs().filter((l) => l.level === 'warn' || l.level === 'error'))
    .filter((l) => /ord|state|store|JetStream/.test(JSON.stringify(l))).slice(-10).map((l) => JSON.stringify(l)).join('\n');
  for (let k = 0; k < SKUS; k++) {
    assert.equal(state[`ord.overlap.S${k}`], undefined, `two S${k} events ran at once; warnings:\n${failed}`);
    // A node killed mid-delivery may have run one attempt that another node runs again:
    // at least once, so a repeat of the same seq is allowed; going back is not.
    const runs = state[`ord.seq.S${k}`].filter((s, i, a) => i === 0 || s !== a[i - 1]);
    const want = [...Array(N).keys()].filter((s) => s % SKUS === k);
    assert.deepEqual(runs, want, `S${k} in publish order`);
  }

  // Every event that got a 200 is in the journal once, read from either node.
  for (const n of nodes) {
    const events = n.events().filter((e) => e.event.type === STOCK);
    const ids = events.map((e) => e.event.id);
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    for (const p of published) assert.ok(ids.includes(p.id), `event ${p.id} in the journal`);
  }

  // Traces and the registration's health read the same from both nodes.
  const regs = nodes.map((n) => n.cliJson(['registration', 'list']).find((r) => r.name === 'ordered'));
  assert.equal(regs[0].backlog, 0);
  assert.equal(regs[1].backlog, 0);
  assert.equal(regs[0].attempts_24h, regs[1].attempts_24h);
  const tr = nodes[1].cliJson(['trace', 'list', '--registration', 'ordered', '--limit', '500']).traces;
  const distinct = new Set(tr.map((t) => `${t.deliveryId}/${t.attempt}`)).size;
  assert.ok(regs[0].attempts_24h >= N, `attempts counted: ${regs[0].attempts_24h}, traces ${tr.length} (${distinct} distinct), deliveries ${new Set(tr.map((t) => t.deliveryId)).size}; warnings:\n${failed}`);
  // Each node writes its traces a moment after the attempt: both read the same once written.
  await nodes[1].waitFor(() => {
    const [a, b] = nodes.map((n) => n.cliJson(['trace', 'list', '--registration', 'ordered', '--limit', '500']).traces.map((t) => t.id));
    return a.length >= N && JSON.stringify(a) === JSON.stringify(b);
  }, { timeout: 30000, what: 'the same traces from both nodes' });
});
