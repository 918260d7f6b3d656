// A stand-in Adobe Commerce for tests: the REST endpoints the sample app's
// back-office handlers call (the starter kit's calls), over in-memory data,
// behind the same authentication Commerce applies, plus a stand-in OAuth
// token endpoint (IMS's /ims/token/v3) issuing server-to-server tokens.
//
//   const commerce = await startCommerce({ oauth1: {...}, ims: {...} });
//   commerce.restUrl    -> http://127.0.0.1:<port>/rest/       (COMMERCE_BASE_URL)
//   commerce.oauthUrl   -> http://127.0.0.1:<port>/ims/token/  (OAUTH_BASE_URL)
//
// Every REST request must carry either an OAuth 1.0a Authorization header
// signed with HMAC-SHA256 by the configured integration (RFC 5849: the
// signature is recomputed here from the method, the URL as received, the
// query and oauth_* parameters; the timestamp must be within 5 minutes and a
// nonce is accepted once), or a bearer token this server issued and that has
// not expired. Anything else is 401. commerce.fail(status, n) answers the
// next n REST requests with status (500, 429, ...); commerce.hang(n) leaves
// them unanswered. Requests are recorded in commerce.requests.
//
// Run standalone: node tests/standins/commerce.mjs [port] prints the .env lines.
import http from 'node:http';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

// RFC 3986 percent-encoding, as RFC 5849 section 3.6 requires.
export function percentEncode(s) {
  return encodeURIComponent(String(s)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseOAuthHeader(header) {
  if (!header || !/^OAuth\s/i.test(header)) return null;
  const out = {};
  for (const m of header.slice(6).matchAll(/([A-Za-z0-9_]+)="([^"]*)"/g)) out[m[1]] = decodeURIComponent(m[2]);
  return out;
}

// The signature a client holding the integration's secrets computes.
export function oauth1Signature({ method, url, oauth, consumerSecret, tokenSecret }) {
  const u = new URL(url);
  const defaultPort = (u.protocol === 'http:' && u.port === '80') || (u.protocol === 'https:' && u.port === '443') || u.port === '';
  const baseUri = `${u.protocol}//${u.hostname.toLowerCase()}${defaultPort ? '' : `:${u.port}`}${u.pathname}`;
  const params = [];
  // The query as sent: split on & and =, decode each part ("+" is a space).
  for (const pair of u.search.replace(/^\?/, '').split('&').filter(Boolean)) {
    const i = pair.indexOf('=');
    const dec = (x) => decodeURIComponent(x.replace(/\+/g, ' '));
    params.push(i < 0 ? [dec(pair), ''] : [dec(pair.slice(0, i)), dec(pair.slice(i + 1))]);
  }
  for (const [k, v] of Object.entries(oauth)) if (k !== 'oauth_signature' && k !== 'realm') params.push([k, v]);
  const norm = params.map(([k, v]) => [percentEncode(k), percentEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const base = [method.toUpperCase(), percentEncode(baseUri), percentEncode(norm)].join('&');
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  return crypto.createHmac('sha256', key).update(base).digest('base64');
}

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

export async function startCommerce({ oauth1 = null, ims = null, port = 0 } = {}) {
  const state = {
    requests: [],        // every REST request: {method, path, resource, query, headers, body, auth, status}
    tokenRequests: [],   // every token request: {form, status}
    products: new Map(), // sku -> product
    customers: new Map(), // id -> customer
    groups: new Map(),   // id -> group
    orders: new Map(),   // id -> {id, comments: [], items: [...]}
    shipments: new Map(), // id -> shipment
    sourceItems: new Map(), // `${sku}/${source_code}` -> source item
    tokens: new Map(),   // token -> expiry (ms)
    nonces: new Set(),
    failures: [],        // statuses to answer next, in order
    hangs: 0,
    nextId: 100,
  };
  const hanging = new Set();

  function authenticate(req, fullUrl) {
    const header = req.headers.authorization || '';
    const bearer = /^Bearer\s+(.+)$/i.exec(header);
    if (bearer) {
      if (!ims) return { ok: false, why: 'bearer tokens are not accepted' };
      const expiry = state.tokens.get(bearer[1]);
      if (!expiry) return { ok: false, why: 'unknown token' };
      if (Date.now() >= expiry) return { ok: false, why: 'token expired' };
      return { ok: true, mode: 'bearer' };
    }
    const oauth = parseOAuthHeader(header);
    if (!oauth) return { ok: false, why: 'no credentials' };
    if (!oauth1) return { ok: false, why: 'OAuth 1.0a is not accepted' };
    if (oauth.oauth_signature_method !== 'HMAC-SHA256') return { ok: false, why: 'signature method must be HMAC-SHA256' };
    if (oauth.oauth_consumer_key !== oauth1.consumerKey || oauth.oauth_token !== oauth1.accessToken) {
      return { ok: false, why: 'unknown consumer or token' };
    }
    if (oauth.oauth_version !== undefined && oauth.oauth_version !== '1.0') return { ok: false, why: 'bad oauth_version' };
    const ts = Number(oauth.oauth_timestamp);
    if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > 300) return { ok: false, why: 'stale timestamp' };
    if (!oauth.oauth_nonce) return { ok: false, why: 'no nonce' };
    const expected = oauth1Signature({
      method: req.method, url: fullUrl, oauth, consumerSecret: oauth1.consumerSecret, tokenSecret: oauth1.accessTokenSecret,
    });
    const given = Buffer.from(oauth.oauth_signature || '');
    const want = Buffer.from(expected);
    if (given.length !== want.length || !crypto.timingSafeEqual(given, want)) return { ok: false, why: 'invalid signature' };
    const nonceKey = `${oauth.oauth_timestamp}:${oauth.oauth_nonce}`;
    if (state.nonces.has(nonceKey)) return { ok: false, why: 'nonce already used' };
    state.nonces.add(nonceKey);
    return { ok: true, mode: 'oauth1' };
  }

  function issueToken(req, res, raw) {
    const form = Object.fromEntries(new URLSearchParams(raw));
    // Like IMS, client_id may come in the query too.
    const q = new URL(req.url, 'http://x').searchParams;
    const clientId = form.client_id ?? q.get('client_id');
    const entry = { form: { ...form, client_secret: form.client_secret ? '<hidden>' : undefined }, status: 0 };
    state.tokenRequests.push(entry);
    if (!ims || req.method !== 'POST' || !/application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')) {
      entry.status = 400;
      return json(res, 400, { error: 'invalid_request' });
    }
    if (form.grant_type !== 'client_credentials') { entry.status = 400; return json(res, 400, { error: 'unsupported_grant_type' }); }
    if (clientId !== ims.clientId || form.client_secret !== ims.clientSecret) {
      entry.status = 401;
      return json(res, 401, { error: 'invalid_client', error_description: 'invalid client credentials' });
    }
    if (ims.scopes && form.scope !== ims.scopes) { entry.status = 400; return json(res, 400, { error: 'invalid_scope' }); }
    const token = `standin-${crypto.randomBytes(16).toString('hex')}`;
    const ttl = ims.expiresIn ?? 86399;
    state.tokens.set(token, Date.now() + ttl * 1000);
    entry.status = 200;
    entry.token = token;
    return json(res, 200, { access_token: token, token_type: 'bearer', expires_in: ttl });
  }

  // The REST resources, in memory. Returns [status, body].
  function route(method, resource, body) {
    let m;
    const id = () => state.nextId++;
    if (method === 'POST' && resource === 'products') {
      const p = { id: id(), ...body.product };
      state.products.set(p.sku, p);
      return [200, p];
    }
    if ((m = /^products\/([^/]+)$/.exec(resource))) {
      const sku = decodeURIComponent(m[1]);
      if (method === 'PUT') {
        const p = { id: state.products.get(sku)?.id ?? id(), ...state.products.get(sku), ...body.product, sku };
        state.products.set(sku, p);
        return [200, p];
      }
      if (method === 'DELETE') {
        if (!state.products.delete(sku)) return [404, { message: "The product that was requested doesn't exist. Verify the product and try again." }];
        return [200, true];
      }
    }
    if (method === 'POST' && resource === 'customers') {
      const c = { id: id(), ...body.customer };
      state.customers.set(String(c.id), c);
      return [200, c];
    }
    if ((m = /^customers\/(\d+)$/.exec(resource))) {
      const c = state.customers.get(m[1]);
      if (!c) return [404, { message: `No such entity with customerId = ${m[1]}` }];
      if (method === 'PUT') { Object.assign(c, body.customer, { id: c.id }); return [200, c]; }
      if (method === 'DELETE') { state.customers.delete(m[1]); return [200, true]; }
    }
    if (method === 'POST' && resource === 'customerGroups') {
      const g = { id: id(), ...body.group };
      state.groups.set(String(g.id), g);
      return [200, g];
    }
    if ((m = /^customerGroups\/(\d+)$/.exec(resource))) {
      const g = state.groups.get(m[1]);
      if (!g) return [404, { message: `No such entity with id = ${m[1]}` }];
      if (method === 'PUT') { Object.assign(g, body.group, { id: g.id }); return [200, g]; }
      if (method === 'DELETE') { state.groups.delete(m[1]); return [200, true]; }
    }
    if (method === 'POST' && (m = /^orders\/(\d+)\/comments$/.exec(resource))) {
      const o = state.orders.get(m[1]);
      if (!o) return [404, { message: 'The entity that was requested doesn\'t exist. Verify the entity and try again.' }];
      o.comments.push(body.statusHistory);
      return [200, true];
    }
    if (method === 'POST' && (m = /^order\/(\d+)\/ship$/.exec(resource))) {
      const o = state.orders.get(m[1]);
      if (!o) return [404, { message: 'The entity that was requested doesn\'t exist. Verify the entity and try again.' }];
      const s = { entity_id: id(), order_id: Number(m[1]), ...body };
      state.shipments.set(String(s.entity_id), s);
      return [200, s.entity_id];
    }
    if (method === 'POST' && resource === 'shipment') {
      const e = body.entity;
      if (e.entity_id !== undefined && !state.shipments.has(String(e.entity_id))) {
        return [404, { message: `Shipment ${e.entity_id} does not exist` }];
      }
      const s = { ...state.shipments.get(String(e.entity_id)), ...e };
      if (s.entity_id === undefined) s.entity_id = id();
      state.shipments.set(String(s.entity_id), s);
      return [200, s];
    }
    if (method === 'POST' && resource === 'inventory/source-items') {
      for (const item of body.sourceItems) state.sourceItems.set(`${item.sku}/${item.source_code}`, item);
      return [200, []];
    }
    return [404, { message: `Request does not match any route: ${method} ${resource}` }];
  }

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const address = server.address();
      const fullUrl = `http://${req.headers.host || `127.0.0.1:${address.port}`}${req.url}`;
      const u = new URL(fullUrl);
      if (u.pathname === '/ims/token/v3') return issueToken(req, res, raw);
      // /rest/V1/<resource> or /rest/<store code>/V1/<resource>
      const m = /^\/rest\/(?:[a-z0-9_]+\/)?V1\/(.+)$/.exec(u.pathname);
      if (!m) return json(res, 404, { message: `no such path ${u.pathname}` });
      let body = null;
      if (raw) {
        try { body = JSON.parse(raw); } catch { return json(res, 400, { message: 'Decoding error: body is not JSON' }); }
      }
      const entry = {
        method: req.method, path: u.pathname, resource: m[1], query: u.search, headers: req.headers, body, auth: null, status: 0,
      };
      state.requests.push(entry);
      if (state.hangs > 0) {
        state.hangs -= 1;
        entry.status = 'hung';
        hanging.add(res);
        return undefined;
      }
      if (state.failures.length) {
        entry.status = state.failures.shift();
        return json(res, entry.status, { message: `stand-in Commerce answered ${entry.status}` });
      }
      const auth = authenticate(req, fullUrl);
      entry.auth = auth.ok ? auth.mode : `rejected: ${auth.why}`;
      if (!auth.ok) {
        entry.status = 401;
        return json(res, 401, { message: 'The consumer isn\'t authorized to access %resources.', reason: auth.why });
      }
      if (body !== null && !/application\/json/.test(req.headers['content-type'] || '')) {
        entry.status = 415;
        return json(res, 415, { message: 'content-type must be application/json' });
      }
      let status;
      let answer;
      try {
        [status, answer] = route(req.method, m[1], body ?? {});
      } catch (e) {
        [status, answer] = [400, { message: `bad request body: ${e.message}` }];
      }
      entry.status = status;
      return json(res, status, answer);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  return {
    ...stateAccessors(state),
    url: `${base}/`,
    restUrl: `${base}/rest/`,
    oauthUrl: `${base}/ims/token/`,
    // The next n REST requests are answered with status (no auth check).
    fail(status, n = 1) { for (let i = 0; i < n; i += 1) state.failures.push(status); },
    // The next n REST requests get no answer at all.
    hang(n = 1) { state.hangs += n; },
    // Back to normal: no pending failures or hangs; hanging requests are closed.
    recover() {
      state.failures.length = 0;
      state.hangs = 0;
      for (const res of hanging) res.destroy();
      hanging.clear();
    },
    // Ends a token's life now (as if it had expired).
    expireToken(token) { if (state.tokens.has(token)) state.tokens.set(token, Date.now() - 1); },
    seed({ customers = [], groups = [], orders = [], shipments = [], products = [] } = {}) {
      for (const c of customers) state.customers.set(String(c.id), { ...c });
      for (const g of groups) state.groups.set(String(g.id), { ...g });
      for (const o of orders) state.orders.set(String(o.id), { comments: [], ...o });
      for (const s of shipments) state.shipments.set(String(s.entity_id), { ...s });
      for (const p of products) state.products.set(p.sku, { ...p });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function stateAccessors(state) {
  return {
    get requests() { return state.requests; },
    get tokenRequests() { return state.tokenRequests; },
    get products() { return state.products; },
    get customers() { return state.customers; },
    get groups() { return state.groups; },
    get orders() { return state.orders; },
    get shipments() { return state.shipments; },
    get sourceItems() { return state.sourceItems; },
    get tokens() { return state.tokens; },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const creds = {
    oauth1: { consumerKey: 'standin-ck', consumerSecret: 'standin-cs', accessToken: 'standin-at', accessTokenSecret: 'standin-ats' },
    ims: { clientId: 'standin-client', clientSecret: 'standin-secret' },
  };
  const c = await startCommerce({ ...creds, port: Number(process.argv[2] ?? 0) });
  process.stdout.write(`stand-in Commerce on ${c.url}\n`
    + `COMMERCE_BASE_URL=${c.restUrl}\n`
    + `COMMERCE_CONSUMER_KEY=${creds.oauth1.consumerKey}\nCOMMERCE_CONSUMER_SECRET=${creds.oauth1.consumerSecret}\n`
    + `COMMERCE_ACCESS_TOKEN=${creds.oauth1.accessToken}\nCOMMERCE_ACCESS_TOKEN_SECRET=${creds.oauth1.accessTokenSecret}\n`
    + `# or, for a server-to-server token:\nOAUTH_BASE_URL=${c.oauthUrl}\nOAUTH_CLIENT_ID=${creds.ims.clientId}\n`
    + `OAUTH_CLIENT_SECRET=${creds.ims.clientSecret}\n`);
  const log = setInterval(() => {
    while (c.requests.length) {
      const r = c.requests.shift();
      process.stdout.write(`${r.method} ${r.path} -> ${r.status} (${r.auth}) ${r.body ? JSON.stringify(r.body) : ''}\n`);
    }
  }, 200);
  process.on('SIGINT', async () => { clearInterval(log); await c.close(); process.exit(0); });
}
