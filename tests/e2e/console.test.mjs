// The web console over plain HTTP: its embedded files (content types,
// ETags, CSP), signing in and out, and the session cookie + CSRF header that
// the API accepts in place of a token. The browser tests are in
// console-browser.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Evkit } from './lib/evkit.mjs';
import { CONTROL } from './lib/fixture.mjs';

const TOKEN = 'console-e2e-token-0123456789-0123456789a';
let ek;
before(async () => { ek = await new Evkit({ app: CONTROL, env: { EVKIT_API_TOKENS: `other-token-0123456789abcdef0123456789ab,${TOKEN}` } }).start(); });
after(async () => { if (ek) { await ek.stop(); ek.cleanup(); } });

async function login(token) {
  const r = await fetch(`${ek.url}/console/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
  });
  return { r, json: await r.json() };
}

function cookieOf(r) {
  const c = r.headers.get('set-cookie');
  assert.ok(c, 'a session cookie is set');
  return c.split(';')[0];
}

test('the console files come from the binary with types, ETags and a strict CSP', async () => {
  const redirect = await fetch(`${ek.url}/console`, { redirect: 'manual' });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get('location'), '/console/');

  const files = [['', 'text/html; charset=utf-8', /<script src="app.js" defer><\/script>/], ['app.js', 'text/javascript; charset=utf-8', /^\/\/ evkit console/],
    ['app.css', 'text/css; charset=utf-8', /--accent/], ['favicon.svg', 'image/svg+xml', /^<svg /]];
  for (const [url, type, content] of files) {
    const r = await fetch(`${ek.url}/console/${url}`);
    assert.equal(r.status, 200, url);
    assert.equal(r.headers.get('content-type'), type, url);
    const bytes = Buffer.from(await r.arrayBuffer());
    assert.match(bytes.toString('utf8'), content, url);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const etag = r.headers.get('etag');
    assert.equal(etag, `"${createHash('sha256').update(bytes).digest('hex').slice(0, 20)}"`, `${url}: the ETag is the bytes' hash`);
    const again = await fetch(`${ek.url}/console/${url}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304, `${url} revalidates to 304`);
    assert.equal(await again.text(), '');
    if (!url) {
      // Nothing from another origin (works offline), nothing inline that the CSP would block.
      const html = bytes.toString('utf8');
      assert.doesNotMatch(html, /https?:\/\//);
      assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son[a-z]+=/);
    }
  }
  assert.equal((await fetch(`${ek.url}/console/missing.js`)).status, 404);
  assert.equal((await fetch(`${ek.url}/console/../README.md`)).status, 404);
  assert.equal((await fetch(`${ek.url}/console/app.js`, { method: 'PUT' })).status, 405);
});

test('a wrong token is refused with a clear message and no cookie', async () => {
  const { r, json } = await login('not-the-token');
  assert.equal(r.status, 401);
  assert.match(json.error, /token is not valid.*EVKIT_API_TOKENS/);
  assert.equal(r.headers.get('set-cookie'), null);
  const empty = await login('');
  assert.equal(empty.r.status, 400);
  const form = await fetch(`${ek.url}/console/login`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}`,
  });
  assert.equal(form.status, 415, 'a cross-site form post cannot sign in');
  assert.equal((await fetch(`${ek.url}/console/session`)).status, 401);
});

test('signing in gives an HttpOnly SameSite=Strict cookie that the API takes only with its CSRF token', async () => {
  const { r, json } = await login(TOKEN);
  assert.equal(r.status, 200);
  assert.match(json.csrf, /^[0-9a-f]{64}$/);
  const raw = r.headers.get('set-cookie');
  assert.match(raw, /^evkit_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  assert.ok(!raw.includes(TOKEN) && !JSON.stringify(json).includes(TOKEN), 'the token is not echoed');
  const cookie = cookieOf(r);
  const acts = `${ek.url}/api/v1/namespaces/_/activations?limit=1`;

  const session = await fetch(`${ek.url}/console/session`, { headers: { cookie } });
  assert.equal(session.status, 200);
  assert.equal((await session.json()).csrf, json.csrf, 'a reloaded page gets its CSRF token back');

  assert.equal((await fetch(acts, { headers: { cookie } })).status, 401, 'the cookie alone is not enough');
  assert.equal((await fetch(acts, { headers: { cookie, 'x-evkit-csrf': '0'.repeat(64) } })).status, 401, 'a wrong CSRF token is refused');
  assert.equal((await fetch(acts, { headers: { 'x-evkit-csrf': json.csrf } })).status, 401, 'the CSRF token alone is not enough');
  const ok = await fetch(acts, { headers: { cookie, 'x-evkit-csrf': json.csrf } });
  assert.equal(ok.status, 200);
  assert.ok(Array.isArray(await ok.json()));
  // The journal API (api_authorized) takes it too.
  const journal = await fetch(`${ek.url}/api/v1/journal/backoffice?latest=true`, { headers: { cookie, 'x-evkit-csrf': json.csrf } });
  assert.ok([200, 204].includes(journal.status), `journal answered ${journal.status}`);

  // Signing out ends the session for good.
  assert.equal((await fetch(`${ek.url}/console/logout`, { method: 'POST', headers: { cookie } })).status, 401, 'sign-out needs the CSRF token');
  const out = await fetch(`${ek.url}/console/logout`, { method: 'POST', headers: { cookie, 'x-evkit-csrf': json.csrf } });
  assert.equal(out.status, 200);
  assert.match(out.headers.get('set-cookie'), /^evkit_session=; .*Max-Age=0$/);
  assert.equal((await fetch(acts, { headers: { cookie, 'x-evkit-csrf': json.csrf } })).status, 401);
  assert.equal((await fetch(`${ek.url}/console/session`, { headers: { cookie } })).status, 401);

  // Tokens never reach the logs.
  assert.ok(!ek.stderr.includes(TOKEN), 'the token is not logged');
  assert.ok(!ek.stderr.includes(json.csrf), 'the CSRF token is not logged');
  assert.ok(!ek.stderr.includes(cookie.split('=')[1]), 'the session id is not logged');
  assert.ok(ek.logs().some((l) => l.message === 'console sign-in refused'));
});

test('without EVKIT_API_TOKENS the console says it is off', async () => {
  const off = await new Evkit({ app: CONTROL, env: { EVKIT_API_TOKENS: '' } }).start();
  try {
    const r = await fetch(`${off.url}/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"token":"x"}' });
    assert.equal(r.status, 403);
    assert.match((await r.json()).error, /console is off: set EVKIT_API_TOKENS/);
    assert.equal((await fetch(`${off.url}/console/session`)).status, 403);
  } finally { await off.stop(); off.cleanup(); }
});
