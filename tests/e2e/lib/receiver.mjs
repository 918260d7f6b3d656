// A webhook receiver on loopback for delivery tests: answers evkit's
// challenge, records every POST (path, headers, raw body, arrival time) and
// answers with what `reply` returns: a status, or {status, headers, body},
// or a negative number to drop the connection. `hold` (ms, or a function of
// the request) delays the answer, to see how many requests are in flight.
import http from 'node:http';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function receiver() {
  const r = {
    requests: [],
    inFlight: 0,
    maxInFlight: {},        // per path
    reply: () => 200,
    hold: 0,
    server: null,
    url: '',
    forPath(p) { return this.requests.filter((q) => q.path === p); },
    close() { return new Promise((resolve) => { this.server.closeAllConnections?.(); this.server.close(resolve); }); },
  };
  const active = {};
  r.server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      if (req.method === 'GET' && u.searchParams.has('challenge')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(u.searchParams.get('challenge'));
        return;
      }
      const rec = { path: u.pathname, headers: req.headers, body, at: Date.now() };
      r.requests.push(rec);
      active[rec.path] = (active[rec.path] || 0) + 1;
      r.maxInFlight[rec.path] = Math.max(r.maxInFlight[rec.path] || 0, active[rec.path]);
      const hold = typeof r.hold === 'function' ? r.hold(rec) : r.hold;
      if (hold > 0) await sleep(hold);
      active[rec.path]--;
      let out = r.reply(rec, r.forPath(rec.path).length);
      if (typeof out === 'number') out = { status: out };
      if (out.status < 0) { req.socket.destroy(); return; }
      res.writeHead(out.status, { 'content-type': 'text/plain', ...(out.headers || {}) });
      res.end(out.body ?? (out.status >= 300 ? `refused with ${out.status}` : 'ok'));
    });
  });
  return new Promise((resolve) => r.server.listen(0, '127.0.0.1', () => {
    r.url = `http://127.0.0.1:${r.server.address().port}`;
    resolve(r);
  }));
}
