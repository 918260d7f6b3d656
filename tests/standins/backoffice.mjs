// A stand-in back office for tests: records every request it receives
// (method, path, headers, JSON body) and answers 200 {"ok":true}, or the
// statuses queued with fail(status, n). Loopback only.
//
//   const bo = await startBackoffice({ apiKey: 'k' });  // BACKOFFICE_BASE_URL = bo.url
//
// With apiKey set, requests without "Authorization: Bearer <apiKey>" get 401.
// Run standalone: node tests/standins/backoffice.mjs [port]
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export async function startBackoffice({ apiKey = null, port = 0 } = {}) {
  const requests = [];
  const failures = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      let body = null;
      try { body = raw ? JSON.parse(raw) : null; } catch { body = raw; }
      const entry = { method: req.method, path: req.url, headers: req.headers, body, status: 200 };
      requests.push(entry);
      if (failures.length) entry.status = failures.shift();
      else if (apiKey && req.headers.authorization !== `Bearer ${apiKey}`) entry.status = 401;
      res.writeHead(entry.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(entry.status === 200 ? { ok: true } : { error: `stand-in back office answered ${entry.status}` }));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    fail(status, n = 1) { for (let i = 0; i < n; i += 1) failures.push(status); },
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bo = await startBackoffice({ port: Number(process.argv[2] ?? 0) });
  process.stdout.write(`stand-in back office on ${bo.url}\nBACKOFFICE_BASE_URL=${bo.url}\n`);
  setInterval(() => {
    while (bo.requests.length) {
      const r = bo.requests.shift();
      process.stdout.write(`${r.method} ${r.path} ${r.body ? JSON.stringify(r.body) : ''}\n`);
    }
  }, 200);
  process.on('SIGINT', async () => { await bo.close(); process.exit(0); });
}
