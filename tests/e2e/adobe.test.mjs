// The Adobe services evkit serves itself, driven by the real npm clients as
// the commerce starter kit uses them: @adobe/aio-lib-ims (client-credentials
// tokens), node-fetch against the I/O Management API (providers, event
// metadata, registrations, as the kit's onboarding calls it),
// @adobe/aio-lib-events publishEvent (the events ingress) and
// @adobe/aio-lib-state. Each runs in a child `node --require
// nodejs/preload.js`, which reroutes the fixed Adobe hosts to evkit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Evkit, repo, copyApp, fixtures } from './lib/evkit.mjs';

const CLIENT = 'evkit-kit-client';
const SECRET = 'p8e-kit-secret-1234';
const TOKEN = 'adobe-e2e-token-0123456789abcdef01234567';
const NS = '1234567-evkitkit';
const SUFFIX = 'evkitkit';
const ORG = '38AAAAAA@AdobeOrg';
const [CO, PROJECT, WORKSPACE] = ['4566206088344794932', '4566206088345000000', '4566206088345111111'];
const MGMT = 'https://api.adobe.io/events/';
const nodeModules = path.join(repo, 'tests/e2e/node_modules');
const preload = path.join(repo, 'nodejs/preload.js');
const SAVE = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
const DELETE = 'com.adobe.commerce.observer.catalog_product_delete_commit_after';
const BE_CODES = ['be-observer.catalog_product_create', 'be-observer.catalog_product_update',
  'be-observer.catalog_product_delete'];

let fx, ek, work;

// Runs body (an async function body, given `args`) in a child node with the
// preload; resolves what it returns ({undefined: true} for undefined) or
// {error: message}.
function peer(body, args = {}, { home } = {}) {
  const dir = mkdtempSync(path.join(work, 'peer-'));
  const file = path.join(dir, 'peer.cjs');
  writeFileSync(file, `'use strict'
const args = JSON.parse(process.env.PEER_ARGS)
const fetch = require('node-fetch')
void fetch
;(async () => { ${body} })().then(
  (v) => process.stdout.write(JSON.stringify(v === undefined ? { undefined: true } : { value: v })),
  (e) => process.stdout.write(JSON.stringify({ error: String((e && e.message) || e) })))
`);
  const env = {
    PATH: process.env.PATH,
    HOME: home ?? dir,
    NODE_PATH: nodeModules,
    EVKIT_ADOBE_ENDPOINT: ek.url,
    EVKIT_STATE_KEY: TOKEN,
    PEER_ARGS: JSON.stringify(args),
  };
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--require', preload, file], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => {
      try { resolve(JSON.parse(out)); } catch { reject(new Error(`peer exited ${code}: ${out}\n${err}`)); }
    });
  });
}

// The kit's getAdobeAccessToken (utils/adobe-auth.js), verbatim in substance.
const GET_TOKEN = `
const { context, getToken } = require('@adobe/aio-lib-ims')
await context.setCurrent('onboarding-config')
await context.set('onboarding-config', {
  client_id: args.client, client_secrets: [args.secret],
  technical_account_id: 'tech@techacct.adobe.com', technical_account_email: 'tech@techacct.adobe.com',
  ims_org_id: args.org,
  scopes: ['AdobeID', 'openid', 'read_organizations', 'additional_info.projectedProductContext',
    'additional_info.roles', 'adobeio_api', 'read_client_secret', 'manage_client_secrets']
})
return await getToken()`;

// fetch as the kit's onboarding calls the I/O Management API.
const KIT_FETCH = `
const call = async (method, url, body) => {
  const r = await fetch(url, { method, headers: { 'x-api-key': args.client, Authorization: 'Bearer ' + args.token,
    'content-type': 'application/json', Accept: 'application/hal+json' }, body: body && JSON.stringify(body) })
  return { status: r.status, json: await r.json().catch(() => null) }
}`;

async function token(secret = SECRET) {
  const r = await peer(GET_TOKEN, { client: CLIENT, secret, org: ORG });
  return r;
}

async function kit(code, extra = {}) {
  const t = extra.token ?? (await token()).value;
  const r = await peer(`${KIT_FETCH}\n${code}`, { client: CLIENT, token: t, mgmt: MGMT, co: CO, p: PROJECT, w: WORKSPACE, ...extra });
  if (r.error) throw new Error(r.error);
  return r.value;
}

const api = (p, opts = {}) => fetch(`${ek.url}${p}`, {
  ...opts, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(opts.headers || {}) },
});

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'evkit-adobe-'));
  // The Adobe fixture is a kit-like app of its own (providers, events.json).
  const app = copyApp(path.join(fixtures, 'adobe'));
  fx = { app, cleanup: () => rmSync(app, { recursive: true, force: true }) };
  // The client credentials come from the app's .env, as the kit keeps them.
  writeFileSync(path.join(fx.app, '.env'),
    `OAUTH_CLIENT_ID=${CLIENT}\nOAUTH_CLIENT_SECRET=${SECRET}\nEVKIT_API_TOKENS=${TOKEN}\nAIO_runtime_namespace=${NS}\n`);
  ek = new Evkit({ app: fx.app });
  await ek.start();
});

after(async () => {
  await ek?.stop();
  ek?.cleanup();
  fx?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function decode(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

test('IMS: aio-lib-ims getToken gets a client-credentials token that evkit accepts', async () => {
  const r = await token();
  assert.equal(r.error, undefined, r.error);
  const jwt = r.value;
  const p = decode(jwt);
  assert.equal(p.type, 'access_token');
  assert.equal(p.client_id, CLIENT);
  assert.match(p.created_at, /^\d+$/);
  assert.equal(p.expires_in, String(24 * 3600 * 1000));
  assert.ok(p.id && p.scope.includes('adobeio_api'));
  // The token works wherever an API token does.
  const ok = await fetch(`${ek.url}/api/v1/registrations`, { headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(ok.status, 200);
  // A token whose payload was changed does not.
  const parts = jwt.split('.');
  const forged = Buffer.from(JSON.stringify({ ...p, client_id: 'other' })).toString('base64url');
  const bad = await fetch(`${ek.url}/api/v1/registrations`, { headers: { authorization: `Bearer ${parts[0]}.${forged}.${parts[2]}` } });
  assert.equal(bad.status, 401);
  assert.ok(!ek.stderr.includes(jwt) && !ek.stderr.includes(SECRET), 'no token or secret in the logs');
});

test('IMS: a wrong secret or an unknown client gets invalid_client', async () => {
  const r = await token('not-the-secret');
  assert.match(r.error ?? '', /401/);
  const form = (o) => new URLSearchParams(o).toString();
  const post = (o) => fetch(`${ek.url}/ims/token/v3`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(o) });
  const wrong = await post({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: 'x' });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error, 'invalid_client');
  const unknown = await post({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: SECRET });
  assert.equal(unknown.status, 400);
  assert.equal((await unknown.json()).error, 'invalid_client');
  const good = await post({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope: 'openid' });
  assert.equal(good.status, 200);
  const body = await good.json();
  assert.equal(body.token_type, 'bearer');
  assert.equal(body.expires_in, 86400);
});

let providers; // key -> {id, label}

test('I/O Management: providers as the kit lists and creates them', async () => {
  const ids = {};
  for (const key of ['commerce', 'backoffice']) {
    ids[key] = (await (await api(`/api/v1/providers/${key}`)).json()).id;
  }
  const result = await kit(`
    const list = await call('GET', args.mgmt + args.co + '/providers')
    const labels = list.json._embedded.providers.map((p) => p.label)
    const made = {}
    for (const [key, label] of [['commerce', 'Commerce Provider'], ['backoffice', 'Backoffice Provider']]) {
      const body = { ...(key === 'commerce' ? { provider_metadata: 'dx_commerce_events', instance_id: 'inst-1' } : {}),
        label: label + ' - ' + args.suffix, description: label + ' of the kit' }
      made[key] = await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/providers', body)
    }
    const other = await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/providers', { label: 'Loyalty Events' })
    const again = await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/providers', { label: 'Loyalty Events' })
    const after = await call('GET', args.mgmt + args.co + '/providers')
    return { labels, made, other, again, after: after.json }`, { suffix: SUFFIX });
  assert.deepEqual(result.labels, ['Commerce Provider', 'Backoffice Provider']);
  for (const key of ['commerce', 'backoffice']) {
    assert.equal(result.made[key].status, 201);
    assert.equal(result.made[key].json.id, ids[key], `${key} is the app's provider`);
  }
  assert.equal(result.made.commerce.json.instance_id, 'inst-1');
  assert.equal(result.made.commerce.json.provider_metadata, 'dx_commerce_events');
  assert.equal(result.other.status, 201);
  assert.ok(!Object.values(ids).includes(result.other.json.id), 'a run-time provider has an id of its own');
  assert.equal(result.again.status, 409);
  const listed = Object.fromEntries(result.after._embedded.providers.map((p) => [p.label, p]));
  assert.equal(listed[`Commerce Provider - ${SUFFIX}`].id, ids.commerce);
  assert.equal(listed[`Backoffice Provider - ${SUFFIX}`].id, ids.backoffice);
  assert.equal(listed['Loyalty Events'].id, result.other.json.id);
  assert.ok(result.after._links.self.href.startsWith('https://api.adobe.io/events/'));
  providers = { ...ids, other: result.other.json.id };
});

test('I/O Management: event metadata, Commerce codes on the back-office provider too', async () => {
  // As the kit's onboarding/metadata.js: the codes pile up across providers.
  const r = await kit(`
    const out = {}
    const pending = []
    for (const [key, codes] of args.plan) {
      const id = args.providers[key]
      const existing = await call('GET', args.mgmt + 'providers/' + id + '/eventmetadata')
      const have = (existing.json._embedded.eventmetadata || []).map((m) => m.event_code)
      for (const c of codes) if (!have.includes(c)) pending.push(c)
      out[key] = []
      for (const c of pending) {
        const m = await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/providers/' + id + '/eventmetadata',
          { event_code: c, label: c, description: c })
        out[key].push(m.status)
      }
    }
    const other = await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/providers/' + args.providers.other + '/eventmetadata',
      { event_code: 'loyalty.points_added', label: 'Points added' })
    out.other = other.status
    out.list = (await call('GET', args.mgmt + 'providers/' + args.providers.backoffice + '/eventmetadata')).json
    out.missing = (await call('GET', args.mgmt + 'providers/00000000-0000-4000-8000-000000000000/eventmetadata')).status
    return out`, { providers, plan: [['commerce', [SAVE, DELETE]], ['backoffice', BE_CODES]] });
  assert.deepEqual(r.commerce, [201, 201]);
  assert.deepEqual(r.backoffice, [201, 201, 201, 201, 201]);
  assert.equal(r.other, 201);
  const codes = r.list._embedded.eventmetadata.map((m) => m.event_code).sort();
  assert.deepEqual(codes, [...BE_CODES, DELETE, SAVE].sort());
  assert.equal(r.missing, 404);
});

let regs;

test('I/O Management: registrations as the kit creates and lists them, delivered to the named action', async () => {
  const r = await kit(`
    const created = []
    for (const [key, codes] of args.plan) {
      created.push(await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/registrations', {
        client_id: args.client, runtime_action: 'product-' + key + '/consumer',
        name: key[0].toUpperCase() + key.slice(1) + ' Product Synchronization',
        description: key[0].toUpperCase() + key.slice(1) + ' Product Synchronization',
        events_of_interest: codes.map((c) => ({ provider_id: args.providers[key], event_code: c })),
        delivery_type: 'webhook' }))
    }
    const dup = await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/registrations', {
      client_id: args.client, runtime_action: 'product-commerce/consumer', name: 'Commerce Product Synchronization',
      events_of_interest: [{ provider_id: args.providers.commerce, event_code: args.save }], delivery_type: 'webhook' })
    // The kit's getExistingRegistrationsData: follows _links.next.
    const all = []
    let next = args.mgmt + args.co + '/' + args.p + '/' + args.w + '/registrations?size=1'
    let pages = 0
    while (next) {
      const page = await call('GET', next)
      pages++
      for (const reg of page.json._embedded.registrations) all.push({ id: reg.id, registration_id: reg.registration_id, name: reg.name, enabled: reg.enabled })
      next = page.json._links.next && page.json._links.next.href
    }
    const bad = await call('POST', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/registrations', {
      client_id: args.client, runtime_action: 'nope/consumer', name: 'Broken',
      events_of_interest: [{ provider_id: args.providers.commerce, event_code: args.save }], delivery_type: 'webhook' })
    return { created, dup, all, pages, bad }`, { providers, save: SAVE, plan: [['commerce', [SAVE, DELETE]], ['backoffice', BE_CODES]] });
  for (const c of r.created) {
    assert.equal(c.status, 201);
    for (const f of ['id', 'registration_id', 'client_id', 'name', 'enabled', 'events_of_interest', 'delivery_type', 'runtime_action'])
      assert.ok(c.json[f] !== undefined, `created registration has ${f}`);
    assert.equal(c.json.client_id, CLIENT);
    assert.equal(c.json.enabled, true);
  }
  assert.equal(r.created[0].json.name, 'Commerce Product Synchronization');
  assert.equal(r.created[0].json.events_of_interest[0].provider_id, providers.commerce);
  assert.equal(r.dup.status, 409);
  assert.equal(r.bad.status, 400);
  assert.match(r.bad.json.message, /nope\/consumer/);
  assert.equal(r.pages, 2);
  assert.deepEqual(r.all.map((x) => x.name), ['Commerce Product Synchronization', 'Backoffice Product Synchronization']);
  // They are the registry's run-time registrations.
  const list = await (await api('/api/v1/registrations')).json();
  const names = list.registrations.filter((x) => x.origin === 'api').map((x) => x.name).sort();
  assert.deepEqual(names, ['backoffice-product-synchronization', 'commerce-product-synchronization']);
  regs = r.all;
});

const PUBLISH = `
const { init } = require('@adobe/aio-lib-events')
const client = await init(args.org, args.client, args.token)
const out = []
for (const ev of args.events) out.push(await client.publishEvent(ev))
return out`;

const cloudEvent = (provider, type, sku) => ({
  specversion: '1.0', id: `${sku}-${Date.now()}-${Math.random()}`, source: `urn:uuid:${provider}`, type,
  datacontenttype: 'application/json', data: { sku },
});

async function received(provider) {
  const r = await api(`/api/v1/namespaces/_/state/received-${provider}`);
  return r.status === 200 ? (await r.json()).value : [];
}

test('events ingress: publishEvent is OK when delivered, undefined (204) when no registration takes it', async () => {
  const t = (await token()).value;
  const r = await peer(PUBLISH, {
    org: ORG, client: CLIENT, token: t,
    events: [cloudEvent(providers.commerce, SAVE, 'SKU-1'), cloudEvent(providers.other, 'loyalty.points_added', 'P-1'),
      cloudEvent(providers.backoffice, BE_CODES[0], 'SKU-2')],
  });
  assert.equal(r.error, undefined, r.error);
  assert.deepEqual(r.value, ['OK', null, 'OK']); // JSON.stringify turns the 204's undefined into null
  const got = await ek.waitFor(async () => {
    const c = await received('commerce');
    return c.length >= 1 && c;
  }, { what: 'the commerce consumer' });
  assert.equal(got[0].sku, 'SKU-1');
  assert.equal(got[0].type, SAVE);
  await ek.waitFor(async () => (await received('backoffice')).some((e) => e.sku === 'SKU-2'), { what: 'the back-office consumer' });
  // The run-time provider's event is journaled under it.
  const key = (await (await api('/api/v1/events?limit=100')).json());
  const loyalty = JSON.stringify(key).includes('loyalty.points_added');
  assert.ok(loyalty, 'the run-time provider event is in the journal');
  // Unknown code, no x-api-key, no token.
  const bad = await peer(PUBLISH, { org: ORG, client: CLIENT, token: t, events: [cloudEvent(providers.other, 'loyalty.unknown', 'X')] });
  assert.match(bad.error ?? '', /400|Unknown event type/);
  const noKey = await fetch(`${ek.url}/eventsingress/`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(cloudEvent(providers.commerce, SAVE, 'Z')) });
  assert.equal(noKey.status, 403);
  const noToken = await fetch(`${ek.url}/eventsingress/`, { method: 'POST', headers: { 'x-api-key': CLIENT, 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(cloudEvent(providers.commerce, SAVE, 'Z')) });
  assert.equal(noToken.status, 401);
});

test('aio-lib-state: put with ttl, get, delete, any, deleteAll in evkit\'s state store', async () => {
  const r = await peer(`
    const stateLib = require('@adobe/aio-lib-state')
    const state = await stateLib.init()
    await state.put('kit-key', 'v1', { ttl: 60 })
    const a = await state.get('kit-key')
    await state.put('kit-day', 'v2')
    const b = await state.get('kit-day')
    await state.put('kit-forever', { n: 1 }, { ttl: -1 })
    const c = await state.get('kit-forever')
    await state.delete('kit-key')
    const gone = await state.get('kit-key')
    const any = await state.any()
    await state.deleteAll()
    const anyAfter = await state.any()
    return { a, b, c, gone: gone === undefined, any, anyAfter }`);
  assert.equal(r.error, undefined, r.error);
  const v = r.value;
  assert.equal(v.a.value, 'v1');
  const in60 = Date.parse(v.a.expiration) - Date.now();
  assert.ok(in60 > 40000 && in60 <= 61000, `expiration about 60 s ahead: ${v.a.expiration}`);
  const inDay = Date.parse(v.b.expiration) - Date.now();
  assert.ok(inDay > 86300000 && inDay <= 86401000, 'default ttl is a day');
  assert.deepEqual(v.c, { value: { n: 1 }, expiration: null });
  assert.equal(v.gone, true);
  assert.equal(v.any, true);
  assert.equal(v.anyAfter, false);
  const missing = await api('/api/v1/namespaces/_/state/kit-key');
  assert.equal(missing.status, 404);
  const badKey = await api('/api/v1/namespaces/_/state/bad*key');
  assert.equal(badKey.status, 400);
  const otherNs = await api('/api/v1/namespaces/someone-else/state/x');
  assert.equal(otherNs.status, 404);
  const noAuth = await fetch(`${ek.url}/api/v1/namespaces/_/state/x`);
  assert.equal(noAuth.status, 401);
});

test('restart: tokens, providers and registrations survive, and deliveries go on', async () => {
  const t = (await token()).value;
  await ek.stop();
  await ek.start();
  const ok = await fetch(`${ek.url}/api/v1/registrations`, { headers: { authorization: `Bearer ${t}` } });
  assert.equal(ok.status, 200, 'a token issued before the restart still works');
  const r = await kit(`
    const p = await call('GET', args.mgmt + args.co + '/providers')
    const g = await call('GET', args.mgmt + args.co + '/' + args.p + '/' + args.w + '/registrations')
    return { labels: p.json._embedded.providers.map((x) => x.label), regs: g.json._embedded.registrations.map((x) => x.registration_id) }`, { token: t });
  assert.deepEqual(r.labels, [`Commerce Provider - ${SUFFIX}`, `Backoffice Provider - ${SUFFIX}`, 'Loyalty Events']);
  assert.deepEqual(r.regs, regs.map((x) => x.registration_id));
  const pub = await peer(PUBLISH, { org: ORG, client: CLIENT, token: t, events: [cloudEvent(providers.commerce, DELETE, 'SKU-9')] });
  assert.deepEqual(pub.value, ['OK']);
  await ek.waitFor(async () => (await received('commerce')).some((e) => e.sku === 'SKU-9'), { what: 'delivery after restart' });
});
