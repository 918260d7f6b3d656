// Several evkit nodes on one JetStream cluster: three nats-server processes
// clustered on loopback (JetStream, three replicas) and three evkit nodes.
// Events of several keys are published through all three nodes at once while
// one evkit node is killed with -9 (in the middle of an attempt, which must
// run again on another node after its lease) and restarted, and separately
// one nats-server. The handler (an exec action) appends a line to a file when
// an attempt starts and when it ends: the node that ran it (its parent
// process), the event, the times. Afterwards: every event that got a 200 is
// in the journal once; each was handled at least once; no two attempts of one
// key (so of one event) overlapped in time, on one node or two; each key ran
// in publish order; dead letters (events the handler refuses for good) and
// traces read the same through the API of every node.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Evkit, bin } from './lib/evkit.mjs';
import { controlApp, sleep } from './lib/fixture.mjs';

const TYPE = 'be-observer.catalog_stock_update';
const TOKEN = 'cluster-test-token-0123456789abcdef0123456789';
const KEYS = 6;
const PER_KEY = 24;                 // 144 events in all
const failsForGood = (seq) => seq % 11 === 5; // the handler answers 400: a dead letter

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

// The control app with one more registration: "clu", an exec handler that
// records each attempt in runs (one JSON line, appended in one write).
function clusterApp(runs) {
  const fx = controlApp();
  const { app } = fx;
  mkdirSync(path.join(app, 'actions/clu'), { recursive: true });
  const handler = path.join(app, 'actions/clu/handler.py');
  writeFileSync(handler, `#!/usr/bin/env python3
import json, os, sys, time
node = os.getppid()
text = sys.stdin.read()
p = json.loads(text) if text.strip() else json.loads(sys.argv[1])
d = p.get('data') or {}
rec = {'node': node, 'act': os.environ.get('__OW_ACTIVATION_ID'), 'id': p.get('id'),
       'sku': d.get('sku'), 'seq': d.get('seq'), 't0': time.time()}
def note(phase):
    fd = os.open(${JSON.stringify(runs)}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps({**rec, 'phase': phase}) + '\\n').encode())
    os.close(fd)
note('start')
time.sleep(0.1)
rec['t1'] = time.time()
note('end')
code = 400 if d.get('fail') else 200
print(json.dumps({'statusCode': code, 'body': {'seq': d.get('seq')}}))
`);
  chmodSync(handler, 0o755);
  writeFileSync(path.join(app, 'app.config.yaml'), `application:
  runtimeManifest:
    packages:
      $include: packages/control.yaml
      clu:
        license: Apache-2.0
        actions:
          handler:
            function: actions/clu/handler.py
            runtime: exec
            web: 'no'
            limits:
              timeout: 5000
  events:
    registrations:
      clu:
        description: one sku at a time, in publish order, on whichever node
        events_of_interest:
          - provider_metadata: backoffice
            event_codes:
              - ${TYPE}
        runtime_action: clu/handler
        ordering:
          key: data.sku
        retry:
          schedule: [100, 200, 400]
          max_age: 600000
`);
  return fx;
}

const cluster = new NatsCluster();
const nodes = [];
const dir = mkdtempSync(path.join(tmpdir(), 'evkit-cluster-runs-'));
const runsFile = path.join(dir, 'runs.jsonl');
const fx = clusterApp(runsFile);
const { app } = fx;
after(async () => {
  for (const n of nodes) { await n.stop().catch(() => {}); n.cleanup(); }
  cluster.stop();
  rmSync(dir, { recursive: true, force: true });
  fx.cleanup();
});

// evkit check against the cluster until JetStream has its meta leader.
async function clusterReady() {
  const deadline = Date.now() + 90000;
  let r;
  while (Date.now() < deadline) {
    r = spawnSync(bin, ['check', '--app', app], { env: { ...process.env, EVKIT_STORE: cluster.url }, encoding: 'utf8', timeout: 30000 });
    if (r.status === 0) return;
    await sleep(500);
  }
  throw new Error(`the cluster did not become ready: ${r.stdout}${r.stderr}`);
}

const auth = { authorization: `Bearer ${TOKEN}` };
const up = new Set();                 // nodes taking requests now

// One event through node `first`, or the next one up when it refuses (a node
// down, the cluster electing a leader): as a webhook sender retries, with its
// idempotency key. Only a 200 counts.
async function publish(first, sku, seq) {
  const data = { sku, seq, ...(failsForGood(seq) ? { fail: true } : {}) };
  for (let i = 0; i < 400; i++) {
    const n = (first + i) % nodes.length;
    if (up.has(n)) {
      const r = await nodes[n].post('ingest/publish', { type: TYPE, data, key: `${sku}-${seq}` }).catch(() => null);
      if (r && r.status === 200) return { ...r.json.published[0], sku, seq };
    }
    await sleep(150);
  }
  throw new Error(`publish of ${sku}/${seq} kept failing`);
}

// Every page of a list API of node n.
async function pages(n, p, field, pager) {
  const out = [];
  let next = null;
  for (let i = 0; i < 200; i++) {
    const r = await nodes[n].request('GET', pager(p, next), undefined, auth);
    assert.equal(r.status, 200, `${p} on node ${n}: ${r.text}`);
    out.push(...r.json[field]);
    next = r.json.next;
    if (!next) return out;
  }
  throw new Error(`${p}: too many pages`);
}

const journal = (n) => pages(n, `/api/v1/events?type=${TYPE}&limit=500`, 'events',
  (p, next) => (next ? `${p}&since=${next}` : p));
const traces = (n) => pages(n, '/api/v1/traces?registration=clu&limit=500', 'traces',
  (p, next) => (next ? `${p}&before=${next}` : p));

// An attempt node pid started and has not ended.
function running(pid) {
  const ended = new Set(runs().filter((r) => r.phase === 'end').map((r) => r.act));
  return runs().find((r) => r.phase === 'start' && r.node === pid && !ended.has(r.act)) || null;
}

function runs() {
  if (!existsSync(runsFile)) return [];
  return readFileSync(runsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// evkit check and evkit serve against store settings that cannot work: each
// ends soon with an error saying what is wrong, never a hang.
function refuses(args, store, want) {
  const t0 = Date.now();
  const r = spawnSync(bin, args, { env: { ...process.env, EVKIT_STORE: store }, encoding: 'utf8', timeout: 60000 });
  const took = Date.now() - t0;
  assert.notEqual(r.status, 0, `evkit ${args[0]} on ${store} succeeded`);
  assert.equal(r.signal, null, `evkit ${args[0]} on ${store} hung (killed after ${took} ms)`);
  assert.match(r.stderr, want, `evkit ${args[0]} on ${store}`);
  assert.ok(took < 45000, `evkit ${args[0]} on ${store} took ${took} ms`);
}

test('bad store settings: a clear error from evkit check and evkit serve, never a hang', { timeout: 300000 }, async () => {
  const [down, plain, alone, r0, r1, r2] = freePorts(6);
  const check = ['check', '--app', app];
  const serve = ['serve', '--app', app, '--data', dir, '--listen', '127.0.0.1:0'];
  refuses(check, 'http://127.0.0.1:4222', /nats:\/\/HOST:PORT or tls:\/\/HOST:PORT/);
  for (const args of [check, serve]) refuses(args, `nats://127.0.0.1:${down}`, /no NATS server answers/);
  const sd = mkdtempSync(path.join(tmpdir(), 'evkit-badcfg-'));
  const procs = [
    spawn('nats-server', ['-a', '127.0.0.1', '-p', String(plain)], { stdio: 'ignore' }),
    // One server of a three-server JetStream cluster whose others never come: no leader.
    spawn('nats-server', ['-a', '127.0.0.1', '-p', String(alone), '-js', '-sd', sd, '-n', 'alone',
      '--cluster_name', 'lonely', '--cluster', `nats://127.0.0.1:${r0}`,
      '--routes', [r0, r1, r2].map((p) => `nats://127.0.0.1:${p}`).join(',')], { stdio: 'ignore' }),
  ];
  try {
    for (const port of [plain, alone]) {
      spawnSync('bash', ['-c', `for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && exit 0; sleep 0.05; done; exit 1`]);
    }
    for (const args of [check, serve]) {
      refuses(args, `nats://127.0.0.1:${plain}`, /JetStream is not enabled/);
      refuses(args, `nats://127.0.0.1:${alone}`, /most of its servers are up/);
    }
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(sd, { recursive: true, force: true });
  }
});

test('three evkit nodes on a 3-server JetStream cluster: kill -9 of a node and of a server lose nothing, run one attempt of a key at a time, in order', { timeout: 900000 }, async () => {
  for (let i = 0; i < 3; i++) cluster.start(i);
  await clusterReady();
  const env = { EVKIT_STORE: cluster.url, EVKIT_API_TOKENS: TOKEN };
  for (let i = 0; i < 3; i++) {
    nodes.push(await new Evkit({ app, env }).start());
    up.add(i);
  }
  const pids = new Set(nodes.map((n) => n.proc.pid));
  let killedAt = 0;
  let cut = null; // the attempt the killed node was running

  // One publisher per key (a key's events one after another, so publish order
  // is defined), all keys at once, each event through the next node in turn.
  const total = KEYS * PER_KEY;
  let done = 0;
  const steps = [
    [Math.floor(total * 0.2), async () => {
      // Killed in the middle of an attempt (waiting a while for one to be running there).
      const pid = nodes[0].proc.pid;
      for (let i = 0; i < 300 && !(cut = running(pid)); i++) await sleep(20);
      up.delete(0);
      killedAt = Date.now() / 1000;
      await nodes[0].kill9();
    }],
    [Math.floor(total * 0.35), async () => { await nodes[0].start(); pids.add(nodes[0].proc.pid); up.add(0); }],
    [Math.floor(total * 0.5), async () => cluster.kill9(2)],
    [Math.floor(total * 0.7), async () => cluster.start(2)],
  ];
  let chain = Promise.resolve();
  const published = [];
  const publishers = [...Array(KEYS).keys()].map(async (k) => {
    for (let seq = 0; seq < PER_KEY; seq++) {
      published.push(await publish((k + seq) % 3, `S${k}`, seq));
      done++;
      while (steps.length && done >= steps[0][0]) chain = chain.then(steps.shift()[1]);
    }
  });
  await Promise.all(publishers);
  await chain;
  assert.equal(published.length, total);

  // Handled at least once each. A delivery a killed node held comes back after
  // its lease (the consumer's ack wait, 60 s): wait well past that.
  const want = new Set(published.map((p) => p.id));
  // The attempt cut by the kill runs again on another node after that lease.
  await nodes[1].waitFor(() => {
    const ends = runs().filter((r) => r.phase === 'end');
    const handled = new Set(ends.map((r) => r.id));
    const again = !cut || ends.some((r) => r.id === cut.id && r.t0 > killedAt && r.node !== cut.node);
    return again && [...want].every((id) => handled.has(id));
  }, { timeout: 300000, interval: 500, what: `every event handled at least once, the one cut by the kill (${cut && cut.id}) again` });
  await sleep(2000); // a late duplicate attempt would show now
  assert.ok(cut, 'the killed node was running an attempt when it was killed');
  const all = runs().filter((r) => r.phase === 'end');

  // No two attempts of one key (so of one event) at once, on any nodes.
  for (let k = 0; k < KEYS; k++) {
    const sku = `S${k}`;
    const mine = all.filter((r) => r.sku === sku).sort((a, b) => a.t0 - b.t0);
    for (let i = 1; i < mine.length; i++) {
      const [a, b] = [mine[i - 1], mine[i]];
      assert.ok(b.t0 >= a.t1, `${sku}: seq ${a.seq} on node ${a.node} (${a.t0}-${a.t1}) and seq ${b.seq} on node ${b.node} (${b.t0}-${b.t1}) ran at once`);
    }
    // In publish order: a repeat of an attempt (at least once) is allowed, going back is not.
    const order = mine.map((r) => r.seq).filter((s, i, a) => i === 0 || s !== a[i - 1]);
    assert.deepEqual(order, [...Array(PER_KEY).keys()], `${sku} in publish order`);
  }
  // A handler the killed node had just started finds itself orphaned at once.
  const orphan = (r) => killedAt && r.t0 >= killedAt - 1 && r.t0 <= killedAt + 10;
  for (const r of all) assert.ok(pids.has(r.node) || orphan(r), `attempt ${r.act} ran under a process that is no evkit node (${r.node})`);
  assert.ok(new Set(all.map((r) => r.node)).size >= 3, 'the attempts were shared by the nodes');

  // Every event that got a 200 is in the journal once, read through every node.
  for (let n = 0; n < 3; n++) {
    const events = await journal(n);
    const ids = events.map((e) => e.event.id);
    assert.equal(new Set(ids).size, ids.length, `no event twice (node ${n})`);
    for (const id of want) assert.ok(ids.includes(id), `event ${id} in the journal (node ${n})`);
    const perKey = new Set(events.map((e) => `${e.event.data.sku}/${e.event.data.seq}`));
    assert.equal(perKey.size, events.length, `one event per published (sku, seq) (node ${n})`);
  }

  // Dead letters: the refused events, once each, the same through every node.
  const refused = published.filter((p) => failsForGood(p.seq)).map((p) => p.id).sort();
  const dead = [];
  for (let n = 0; n < 3; n++) {
    const r = await nodes[n].request('GET', '/api/v1/deadletters?registration=clu&limit=1000', undefined, auth);
    assert.equal(r.status, 200, r.text);
    dead.push(r.json.deadletters.map((d) => d.eventId).sort());
  }
  for (const d of dead) assert.deepEqual(d, refused, 'the dead letters, through each node');

  // Traces: every node writes its own a moment after the attempt; all nodes read
  // the same list, with a trace of every event.
  let lists;
  await nodes[1].waitFor(async () => {
    lists = await Promise.all([0, 1, 2].map((n) => traces(n)));
    const ids = lists.map((l) => JSON.stringify(l.map((t) => t.id)));
    const traced = new Set(lists[0].map((t) => t.eventId));
    return ids[0] === ids[1] && ids[1] === ids[2] && [...want].every((id) => traced.has(id));
  }, { timeout: 60000, interval: 1000, what: 'the same traces, of every event, from every node' });
  const errors = new Set(lists[0].filter((t) => t.outcome === 'error' && t.statusCode === 400).map((t) => t.eventId));
  for (const id of refused) assert.ok(errors.has(id), `the refused event ${id} traced as an error`);
});
