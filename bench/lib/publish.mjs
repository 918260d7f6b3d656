// Publishes N events through a web action with C requests in flight
// (keep-alive connections), checks that every answer is 200, and prints one
// JSON line: {sent, ok, first_ms, last_ms, latency_ms: {mean, p50, p99, max}}.
// With a 4th argument FILE, also writes the send time (epoch ms) of each
// request i as a JSON array to FILE, to join with handler activations.
// With PUBLISH_RATE=R in the environment the load is open loop instead: request
// i is sent at first + i/R s whatever the answers (up to C connections; a
// request waiting for one counts that wait), and its send time in FILE is the
// scheduled one, so queueing anywhere shows in the latencies.
// Usage: node bench/lib/publish.mjs URL N C [FILE]
import { writeFileSync } from 'node:fs';
import http from 'node:http';

const [url, nArg, cArg, sendFile] = process.argv.slice(2);
const N = Number(nArg);
const C = Number(cArg);
if (!url || !(N > 0) || !(C > 0)) {
  console.error('usage: publish.mjs URL N CONCURRENCY');
  process.exit(2);
}
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: C });
const deadline = setTimeout(() => {
  console.error(`publish.mjs: not done after 300 s (${done}/${N})`);
  process.exit(1);
}, 300000);

function post(i) {
  const body = JSON.stringify({ i });
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({
      agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, us: Number(process.hrtime.bigint() - t0) / 1000 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let next = 0;
let done = 0;
let firstBad = null;
let bad = 0;
const lat = [];
const sent = new Array(N);
const first = Date.now();
async function lane() {
  while (next < N) {
    const i = next++;
    sent[i] = Date.now();
    const r = await post(i);
    done++;
    lat.push(r.us);
    if (r.status !== 200) {
      bad++;
      if (!firstBad) firstBad = `${r.status} ${r.text.slice(0, 200)}`;
    }
  }
}
const RATE = Number(process.env.PUBLISH_RATE || 0);
async function openLoop() {
  const pending = [];
  for (let i = 0; i < N; i++) {
    const at = first + (i * 1000) / RATE;
    const wait = at - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    sent[i] = at;
    pending.push(post(i).then((r) => {
      done++;
      lat.push(r.us);
      if (r.status !== 200) {
        bad++;
        if (!firstBad) firstBad = `${r.status} ${r.text.slice(0, 200)}`;
      }
    }));
  }
  await Promise.all(pending);
}
if (RATE > 0) await openLoop();
else await Promise.all(Array.from({ length: C }, lane));
const last = Date.now();
clearTimeout(deadline);
agent.destroy();
if (sendFile) writeFileSync(sendFile, JSON.stringify(sent));
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] / 1000;
const mean = lat.reduce((a, b) => a + b, 0) / lat.length / 1000;
console.log(JSON.stringify({
  sent: N, ok: N - bad, bad, first_bad: firstBad, first_ms: first, last_ms: last,
  latency_ms: { mean: +mean.toFixed(3), p50: pct(50), p99: pct(99), max: lat[lat.length - 1] / 1000 },
}));
if (bad) process.exit(1);
