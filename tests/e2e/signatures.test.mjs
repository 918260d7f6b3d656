// RSA digital signatures on webhook deliveries as Adobe I/O Events sends
// them (x-adobe-digital-signature-1/-2, x-adobe-public-key1-path/-2-path),
// verified by @adobe/aio-lib-events' own verifyDigitalSignatureForEvent in
// a child node with nodejs/preload.js, which sends the library's requests
// for https://static.adobeioevents.com<path> to evkit on loopback (and its
// aio-lib-state key cache to evkit's state store). Beside them the Standard
// Webhooks HMAC signature still verifies. Keys survive a restart and
// rotate with `evkit keys rotate` while the daemon runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import { Evkit, repo } from './lib/evkit.mjs';
import { receiver } from './lib/receiver.mjs';

const token = 'signatures-token-1-0123456789abcdef01234';
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
const nodeModules = path.join(repo, 'tests/e2e/node_modules');
const preload = path.join(repo, 'nodejs/preload.js');
let ek, rx, source, work, secret;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'evkit-sig-'));
  rx = await receiver();
  ek = await new Evkit({ env: { EVKIT_API_TOKENS: token } }).start();
  source = `urn:uuid:${ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce').id}`;
  const r = await fetch(`${ek.url}/api/v1/registrations`, {
    method: 'POST', headers: auth,
    body: JSON.stringify({
      name: 'signed-hook', webhook_url: `${rx.url}/signed`,
      events_of_interest: [{ provider_metadata: 'commerce', event_codes: [SAVE] }],
    }),
  });
  const made = await r.json();
  assert.equal(r.status, 201, JSON.stringify(made));
  secret = made.webhook_secret;
});
after(async () => { await ek.stop(); ek.cleanup(); await rx.close(); rmSync(work, { recursive: true, force: true }); });

async function publish(data) {
  const msg = HTTP.structured(new CloudEvent({ id: crypto.randomUUID(), source, type: SAVE, data }));
  const r = await fetch(`${ek.url}/api/v1/events`, { method: 'POST', headers: { ...msg.headers, authorization: `Bearer ${token}` }, body: msg.body });
  assert.equal(r.status, 200, await r.text());
}

async function delivered(sku) {
  await ek.waitFor(() => rx.forPath('/signed').some((q) => JSON.parse(q.body).data.sku === sku), { what: `delivery of ${sku}` });
  return rx.forPath('/signed').find((q) => JSON.parse(q.body).data.sku === sku);
}

// @adobe/aio-lib-events' verification, in a child node with the preload.
function verify(body, headers, recipient = 'signed-hook') {
  const dir = mkdtempSync(path.join(work, 'peer-'));
  const file = path.join(dir, 'verify.cjs');
  writeFileSync(file, `'use strict'
const args = JSON.parse(process.env.PEER_ARGS)
;(async () => {
  const { init } = require('@adobe/aio-lib-events')
  const client = await init('38AAAAAA@AdobeOrg', 'evkit-client', 'not-used-by-verification')
  return client.verifyDigitalSignatureForEvent(args.body, args.recipient, {
    digiSignature1: args.headers['x-adobe-digital-signature-1'],
    digiSignature2: args.headers['x-adobe-digital-signature-2'],
    publicKeyPath1: args.headers['x-adobe-public-key1-path'],
    publicKeyPath2: args.headers['x-adobe-public-key2-path'],
  })
})().then((v) => require('fs').writeFileSync(process.env.PEER_OUT, JSON.stringify({ value: v === undefined ? null : v })),
  (e) => require('fs').writeFileSync(process.env.PEER_OUT, JSON.stringify({ error: String(e && e.message || e) })))
`);
  const outFile = path.join(dir, 'out.json');
  const env = {
    PATH: process.env.PATH, HOME: dir, NODE_PATH: nodeModules,
    EVKIT_ADOBE_ENDPOINT: ek.url, EVKIT_STATE_KEY: token,
    PEER_ARGS: JSON.stringify({ body, headers, recipient }), PEER_OUT: outFile,
  };
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--require', preload, file], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => {
      try { resolve(JSON.parse(readFileSync(outFile, 'utf8'))); } catch { reject(new Error(`verifier exited ${code}: ${out}\n${err}`)); }
    });
  });
}

const KEY_PATH = /^\/prod\/keys\/pub-key-[0-9a-f-]{36}\.pem$/;

test('a webhook delivery carries both RSA signatures and key paths, and aio-lib-events verifies it', async () => {
  await publish({ sku: 'SIG-1' });
  const q = await delivered('SIG-1');
  for (const h of ['x-adobe-digital-signature-1', 'x-adobe-digital-signature-2']) assert.match(q.headers[h], /^[A-Za-z0-9+/]+=*$/);
  assert.match(q.headers['x-adobe-public-key1-path'], KEY_PATH);
  assert.match(q.headers['x-adobe-public-key2-path'], KEY_PATH);
  assert.notEqual(q.headers['x-adobe-public-key1-path'], q.headers['x-adobe-public-key2-path']);
  assert.equal(JSON.parse(q.body).recipient_client_id, 'signed-hook');

  let v = await verify(q.body, q.headers);
  assert.deepEqual(v, { value: true });
  // A body changed on the way fails; so does a delivery meant for someone else.
  v = await verify(q.body.replace('SIG-1', 'SIG-2'), q.headers);
  assert.notEqual(v.value, true, JSON.stringify(v));
  v = await verify(q.body, q.headers, 'someone-else');
  assert.equal(v.value.error.statusCode, 401, JSON.stringify(v));
  // Both signatures hold on their own, checked with node's crypto and the PEMs evkit serves.
  for (const i of [1, 2]) {
    const pem = await (await fetch(`${ek.url}${q.headers[`x-adobe-public-key${i}-path`]}`)).text();
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----/);
    assert.ok(crypto.verify('rsa-sha256', Buffer.from(q.body), pem, Buffer.from(q.headers[`x-adobe-digital-signature-${i}`], 'base64')), `signature ${i}`);
  }
  // The Standard Webhooks signature is still there and holds.
  new Webhook(secret).verify(q.body, q.headers);
});

test('public keys: served without a token at their path and under /adobeioevents; anything else is 404', async () => {
  await publish({ sku: 'SIG-PATHS' });
  const q = await delivered('SIG-PATHS');
  const p = q.headers['x-adobe-public-key1-path'];
  let r = await fetch(`${ek.url}${p}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/x-pem-file');
  r = await fetch(`${ek.url}/adobeioevents${p}`);
  assert.equal(r.status, 200);
  for (const bad of ['/prod/keys/pub-key-00000000-0000-4000-8000-000000000000.pem', '/prod/keys/keys.json',
    '/prod/keys/..%2Fkeys.json', `/prod/keys/${path.basename(p).replace('pub-key-', '').replace('.pem', '.key')}`]) {
    r = await fetch(`${ek.url}${bad}`);
    assert.equal(r.status, 404, bad);
  }
  // The private keys are the owner's only.
  const dir = path.join(ek.data, 'signing-keys');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.key'))) assert.equal(statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
});

test('evkit keys rotate while serving: the next delivery is signed by the new pair and still verifies; the keys survive a restart', async () => {
  await publish({ sku: 'SIG-BEFORE' });
  const before1 = await delivered('SIG-BEFORE');
  const listed = ek.cliJson(['keys']);
  assert.deepEqual(listed.current.map((k) => k.path), [before1.headers['x-adobe-public-key1-path'], before1.headers['x-adobe-public-key2-path']]);

  const rotated = ek.cliJson(['keys', 'rotate']);
  assert.equal(rotated.current[0].path, before1.headers['x-adobe-public-key2-path'], 'key 2 became key 1');
  assert.ok(rotated.retired.includes(listed.current[0].id));
  await publish({ sku: 'SIG-AFTER' });
  const after1 = await delivered('SIG-AFTER');
  assert.equal(after1.headers['x-adobe-public-key1-path'], before1.headers['x-adobe-public-key2-path']);
  assert.equal(after1.headers['x-adobe-public-key2-path'], rotated.current[1].path);
  assert.deepEqual(await verify(after1.body, after1.headers), { value: true });
  // A delivery signed before the rotation still verifies: the retired public key is still served.
  assert.deepEqual(await verify(before1.body, before1.headers), { value: true });
  assert.equal((await fetch(`${ek.url}${before1.headers['x-adobe-public-key1-path']}`)).status, 200);

  await ek.stop();
  await ek.start();
  await publish({ sku: 'SIG-RESTART' });
  const again = await delivered('SIG-RESTART');
  assert.equal(again.headers['x-adobe-public-key1-path'], after1.headers['x-adobe-public-key1-path']);
  assert.equal(again.headers['x-adobe-public-key2-path'], after1.headers['x-adobe-public-key2-path']);
  assert.deepEqual(await verify(again.body, again.headers), { value: true });
});
