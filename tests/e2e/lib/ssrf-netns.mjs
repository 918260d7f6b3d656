// Run by ssrf.test.mjs inside its own network namespace (unshare -n), where
// 10.1.2.3, 192.168.7.7, 169.254.169.254 and fd00:ec2::254 are addresses of
// the namespace's own loopback device: nothing sent to them can leave the
// machine, whatever evkit does. Starts a webhook receiver on every address
// of the namespace and two evkit instances (no allowlist, then one that
// names some ranges), tries webhook registrations and evkit.http to each
// address, and prints what happened as JSON on stdout.
import http from 'node:http';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Evkit, copyApp } from './evkit.mjs';

const token = 'ssrf-token-0123456789abcdef0123456789';
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const hits = [];

const rx = http.createServer((req, res) => {
  hits.push({ local: req.socket.localAddress, url: req.url });
  const c = new URL(req.url, 'http://x').searchParams.get('challenge');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(c ?? 'metadata-secret');
});
await new Promise((resolve) => rx.listen(0, '::', resolve));
const port = rx.address().port;

// The sample app with one more web action that fetches a URL with evkit.http.
const app = copyApp();
writeFileSync(path.join(app, 'probe.lua'), `
function main(params)
  local r, err = evkit.http.request{url = params.url, timeout = 3000}
  if r then return {body = {status = r.status, text = r.body}} end
  return {body = {kind = err.kind, message = err.message}}
end
`);
const cfg = path.join(app, 'app.config.yaml');
writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('    packages:\n',
  "    packages:\n      probe:\n        actions:\n          fetch:\n            function: ./probe.lua\n" +
  "            web: 'yes'\n            runtime: lua\n"));

const targets = {
  private: `http://10.1.2.3:${port}/hook`,
  private192: `http://192.168.7.7:${port}/hook`,
  metadata: `http://169.254.169.254:${port}/latest/meta-data/`,
  metadata6: `http://[fd00:ec2::254]:${port}/latest/meta-data/`,
  mapped: `http://[::ffff:10.1.2.3]:${port}/hook`,
  decimal: `http://167838211:${port}/hook`, // 10.1.2.3 as one number
};

async function run(env) {
  const ek = await new Evkit({ app, env: { EVKIT_API_TOKENS: token, ...env } }).start();
  const out = { registrations: {}, http: {} };
  try {
    for (const [name, url] of Object.entries(targets)) {
      const r = await fetch(`${ek.url}/api/v1/registrations`, {
        method: 'POST', headers: auth,
        body: JSON.stringify({
          name: `reg-${name}`, webhook_url: url,
          events_of_interest: [{ provider_metadata: 'commerce',
            event_codes: ['com.adobe.commerce.observer.catalog_product_save_commit_after'] }],
        }),
      });
      const text = await r.text();
      out.registrations[name] = { status: r.status, error: text ? JSON.parse(text).error : undefined };
      const p = await ek.post('probe/fetch', { url });
      out.http[name] = p.json;
    }
    out.logs = ek.logs().filter((l) => l.message === 'webhook challenge failed').map((l) => l.reason);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
  return out;
}

const refusedAll = await run({ EVKIT_WEBHOOK_ALLOW: '' });
const hitsBefore = hits.length;
const allowed = await run({ EVKIT_WEBHOOK_ALLOW: '10.1.2.3/32', EVKIT_ACTION_HTTP_ALLOW: '169.254.169.254' });
rx.close();
process.stdout.write(JSON.stringify({ refusedAll, hitsBefore, allowed, hits }));
