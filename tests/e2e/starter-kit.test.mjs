// The Adobe commerce starter kit's own JavaScript, unchanged, on evkit: a
// temporary copy of ../shared/starter-kit-2024 with `npm ci` from its lock
// file, its ingestion package enabled, and a .env as the only change.
// The kit's onboarding creates its providers, event metadata and
// registrations through evkit's I/O Management API; every back-office sample
// travels webhook (or @adobe/aio-lib-events) -> journal -> the kit's consumer
// -> the kit's handler -> a stand-in Commerce that verifies the kit's OAuth
// 1.0a signatures; every Commerce sample runs its consumer and handler; a
// failing Commerce ends in retries and a dead letter that replays; a restart
// mid-load loses nothing; and no Node process connects anywhere but loopback.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Evkit, bin } from './lib/evkit.mjs';
import { prepareKit, kitSamples, isLoopback } from './lib/kit.mjs';
import { TO_COMMERCE, SEED } from './lib/kit-calls.mjs';
import { startCommerce } from '../standins/commerce.mjs';

const OAUTH1 = { consumerKey: 'kit-ck', consumerSecret: 'kit-cs-secret', accessToken: 'kit-at', accessTokenSecret: 'kit-ats-secret' };
const NAMESPACE = '1234-kitstage';
const CLIENT = { id: 'kit-client-id', secret: 'kit-client-secret' };
const IO = { consumer: '111111', project: '222222', workspace: '333333' };
const samples = kitSamples();
const backoffice = samples.filter((s) => s.provider === 'backoffice');
const commerceSamples = samples.filter((s) => s.provider === 'commerce');

let kit;
let commerce;
let ek;

// Runs a command the way a user would: `evkit exec -- <command>` in the kit's folder.
function evkitExec(args, { timeout = 180000 } = {}) {
  const r = spawnSync(bin, ['exec', '--app', kit.dir, '--data', ek.data, '--', ...args], {
    cwd: kit.dir, env: { ...process.env, ...kit.env }, encoding: 'utf8', timeout,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

async function imsToken(secret = CLIENT.secret) {
  const r = await fetch(`${ek.url}/ims/token/v3`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.id, client_secret: secret, scope: 'AdobeID,openid' }),
  });
  return { status: r.status, json: await r.json() };
}

async function ioGet(token, pathname) {
  const r = await fetch(`${ek.url}/events/${pathname}`, {
    headers: { authorization: `Bearer ${token}`, 'x-api-key': CLIENT.id, accept: 'application/hal+json' },
  });
  return { status: r.status, json: await r.json().catch(() => null) };
}

const registrations = () => ek.cliJson(['registration', 'list']);
const regFor = (entity, provider) => {
  const r = registrations().find((x) => x.runtime_action === `${entity}-${provider}/consumer`);
  assert.ok(r, `a registration delivering to ${entity}-${provider}/consumer: ${JSON.stringify(registrations().map((x) => x.name))}`);
  return r;
};

async function settled(name) {
  return ek.waitFor(() => {
    const x = registrations().find((y) => y.name === name);
    return x && x.backlog === 0 ? x : null;
  }, { timeout: 60000, what: `${name} backlog drained` });
}

async function webhook(code, value, uid) {
  return ek.post(`ingestion/webhook`, { data: { uid, event: code, value } });
}

// Sends one back-office sample and returns the Commerce request it caused.
async function expectCommerceCall(send, { code, sample }) {
  const before = commerce.requests.length;
  await send();
  const req = await ek.waitFor(() => commerce.requests.slice(before).find((r) => r.status !== 0),
    { timeout: 60000, what: `the Commerce call for ${code}` });
  const [method, resource, body] = TO_COMMERCE[code](structuredClone(sample));
  assert.equal(req.method, method, code);
  assert.equal(req.path, `/rest/V1/${resource}`, code);
  assert.deepEqual(req.body, body, code);
  assert.equal(req.auth, 'oauth1', `${code}: ${req.auth}`);
  assert.equal(req.status, 200, `${code}: ${JSON.stringify(req)}`);
  return req;
}

describe('the starter kit, unchanged', { timeout: 1200000 }, () => {
  before(async () => {
    commerce = await startCommerce({ oauth1: OAUTH1 });
    commerce.seed(SEED);
    kit = prepareKit({
      OAUTH_BASE_URL: 'https://ims-na1.adobelogin.com/ims/token/',
      IO_MANAGEMENT_BASE_URL: 'https://api.adobe.io/events/',
      OAUTH_CLIENT_ID: CLIENT.id,
      OAUTH_CLIENT_SECRET: CLIENT.secret,
      OAUTH_TECHNICAL_ACCOUNT_ID: 'kit-tech@techacct.adobe.com',
      OAUTH_TECHNICAL_ACCOUNT_EMAIL: 'kit-tech-email@techacct.adobe.com',
      OAUTH_ORG_ID: 'KITORG@AdobeOrg',
      COMMERCE_BASE_URL: commerce.url,
      COMMERCE_CONSUMER_KEY: OAUTH1.consumerKey,
      COMMERCE_CONSUMER_SECRET: OAUTH1.consumerSecret,
      COMMERCE_ACCESS_TOKEN: OAUTH1.accessToken,
      COMMERCE_ACCESS_TOKEN_SECRET: OAUTH1.accessTokenSecret,
      IO_CONSUMER_ID: IO.consumer,
      IO_PROJECT_ID: IO.project,
      IO_WORKSPACE_ID: IO.workspace,
      AIO_runtime_namespace: NAMESPACE,
    });
    ek = await new Evkit({ app: kit.dir, env: { ...kit.env, AIO_runtime_namespace: NAMESPACE } }).start();
  });

  after(async () => {
    if (ek) { await ek.stop(); ek.cleanup(); }
    if (commerce) await commerce.close();
    if (kit) kit.cleanup();
  });

  test('evkit check reports no errors on the kit', () => {
    const r = ek.cli(['check', '--app', kit.dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\b0 error/);
  });

  test('IMS: the .env client gets a token evkit accepts; a wrong secret is invalid_client', async () => {
    const bad = await imsToken('wrong-secret');
    assert.equal(bad.json.error, 'invalid_client');
    const ok = await imsToken();
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const payload = JSON.parse(Buffer.from(ok.json.access_token.split('.')[1], 'base64url').toString());
    assert.ok(Number(payload.created_at) > 0 && Number(payload.expires_in) > 0, JSON.stringify(payload));
    const r = await fetch(`${ek.url}/api/v1/registrations`, { headers: { authorization: `Bearer ${ok.json.access_token}` } });
    assert.equal(r.status, 200);
  });

  test('the kit\'s onboarding (npm run onboard) creates 2 providers, the metadata and the registrations', async () => {
    const r = evkitExec(['npm', 'run', 'onboard']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Process of On-Boarding done successfully/, r.stdout + r.stderr);
    const { json: token } = await imsToken();
    const providers = (await ioGet(token.access_token, `${IO.consumer}/providers`)).json._embedded.providers;
    const labels = providers.map((p) => p.label).sort();
    assert.deepEqual(labels, ['Backoffice Provider - kitstage', 'Commerce Provider - kitstage']);
    for (const p of providers) {
      const meta = (await ioGet(token.access_token, `providers/${p.id}/eventmetadata`)).json._embedded.eventmetadata;
      const codes = new Set(meta.map((m) => m.event_code));
      const own = samples.filter((s) => p.label.startsWith(s.provider === 'commerce' ? 'Commerce' : 'Backoffice'));
      for (const s of own) assert.ok(codes.has(s.code), `${p.label} has metadata for ${s.code}`);
    }
    const regs = registrations();
    for (const entity of ['product', 'customer', 'order', 'stock']) {
      for (const provider of ['commerce', 'backoffice']) regFor(entity, provider);
    }
    assert.equal(regs.length, 8, JSON.stringify(regs.map((x) => x.name)));
    // A second run finds everything in place and creates nothing more.
    const again = evkitExec(['npm', 'run', 'onboard']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already exists/);
    assert.equal(registrations().length, 8);
  });

  test('every back-office sample through the kit\'s ingestion webhook reaches Commerce as the kit\'s request', async () => {
    assert.equal(backoffice.length, 13);
    let n = 0;
    for (const s of backoffice) {
      n += 1;
      await expectCommerceCall(async () => {
        const r = await webhook(s.code, s.sample, `kit-webhook-${n}`);
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { type: s.code, response: { success: true, message: 'Event published successfully' } });
      }, s);
      await settled(regFor(s.entity, 'backoffice').name);
    }
  });

  test('every back-office sample published with @adobe/aio-lib-events reaches Commerce', async () => {
    // The kit's own helpers and libraries, as a back-office integration would use them.
    const script = path.join(kit.dir, 'publish-sample.js');
    writeFileSync(script, `
const { Events } = require('@adobe/aio-sdk')
const { CloudEvent } = require('cloudevents')
const { getAdobeAccessToken } = require('./utils/adobe-auth')
const { getProviderByKey } = require('./utils/adobe-events-api')
require('dotenv').config()
async function main () {
  const [providerKey, type, data] = [process.argv[2], process.argv[3], JSON.parse(process.argv[4])]
  const token = await getAdobeAccessToken(process.env)
  const provider = await getProviderByKey(process.env, token, providerKey)
  const client = await Events.init(process.env.OAUTH_ORG_ID, process.env.OAUTH_CLIENT_ID, token)
  const ev = new CloudEvent({ source: 'urn:uuid:' + provider.id, type, datacontenttype: 'application/json', data, id: require('uuid').v4() })
  console.log('published:', await client.publishEvent(ev))
}
main().catch((e) => { console.error(e); process.exit(1) })
`);
    for (const s of backoffice) {
      await expectCommerceCall(async () => {
        const r = evkitExec(['node', script, 'backoffice', s.code, JSON.stringify(s.sample)]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /published: OK/);
      }, s);
      await settled(regFor(s.entity, 'backoffice').name);
    }
    // Commerce samples from the commerce provider: consumer and handler run.
    for (const s of commerceSamples) {
      const before = ek.cliJson(['activation', 'list', '--name', `${s.entity}-commerce/consumer`, '--limit', '200']).length;
      const r = evkitExec(['node', script, 'commerce', s.code, JSON.stringify(s.sample)]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const consumer = await ek.waitFor(() => {
        const list = ek.cliJson(['activation', 'list', '--name', `${s.entity}-commerce/consumer`, '--limit', '200']);
        return list.length > before ? list[0] : null;
      }, { timeout: 60000, what: `the consumer of ${s.code}` });
      assert.equal(consumer.response.success, true, JSON.stringify(consumer.response));
      assert.equal(consumer.response.result.statusCode, 200, JSON.stringify(consumer.response));
      // The handler the kit routes it to ran, caused by that consumer.
      const all = ek.cliJson(['activation', 'list', '--limit', '200']);
      const handler = all.find((a) => a.cause === consumer.activationId);
      assert.ok(handler, `a handler caused by the consumer of ${s.code}`);
      assert.match(handler.name ?? handler.path, new RegExp(`^${s.entity}-commerce/`));
      assert.equal(handler.response.success, true, JSON.stringify(handler.response));
    }
  });

  test('the kit\'s synchronous webhook/check-stock web action answers as the kit defines', async () => {
    const { json: token } = await imsToken();
    const auth = { authorization: `Bearer ${token.access_token}` };
    const ok = await ek.post('webhook/check-stock', { data: { cart_id: 'c-1', items: [{ sku: 'SKU-1', qty: 1 }] } }, auth);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { op: 'success' });
    const bad = await ek.post('webhook/check-stock', { data: {} }, auth);
    assert.equal(bad.status, 200);
    assert.equal(bad.json.op, 'exception');
    assert.match(bad.json.message, /cart_id/);
    const unauth = await ek.post('webhook/check-stock', { data: { cart_id: 'c-1', items: [] } });
    assert.equal(unauth.status, 401);
  });

  test('a failing Commerce: retries, a dead letter, traces consumer -> handler with the kit\'s log lines, replay', async () => {
    const reg = regFor('product', 'backoffice');
    // The operator shortens the retry schedule of this registration.
    const def = ek.cliJson(['registration', 'get', reg.name]);
    const spec = path.join(kit.bin, 'reg.json');
    writeFileSync(spec, JSON.stringify({ ...def.spec ?? def, retry: { schedule: ['50ms', '100ms'], max_age: '1s' } }));
    const up = ek.cli(['registration', 'update', reg.name, '--file', spec]);
    assert.equal(up.code, 0, up.stderr);
    commerce.fail(500, 100);
    const value = { sku: 'SKU-FAILING', name: 'Failing', price: 5, description: 'Commerce is down' };
    const r = await webhook('be-observer.catalog_product_create', value, 'kit-failing-1');
    assert.equal(r.status, 200, r.text);
    const dead = await ek.waitFor(() => {
      const d = ek.cliJson(['deadletter', 'list', '--registration', reg.name]);
      return d.length ? d : null;
    }, { timeout: 60000, what: 'a dead letter' });
    const attempts = commerce.requests.filter((q) => q.path === '/rest/V1/products' && q.body?.product?.sku === 'SKU-FAILING');
    assert.ok(attempts.length >= 2, `retried: ${attempts.length} attempts`);
    const traces = ek.cliJson(['trace', 'list', '--registration', reg.name, '--outcome', 'error', '--limit', '20']);
    const list = Array.isArray(traces) ? traces : traces.traces;
    assert.ok(list.length >= 2, JSON.stringify(list).slice(0, 500));
    // The consumer's activation holds the kit's winston lines, and the handler is linked to it.
    const consumers = ek.cliJson(['activation', 'list', '--name', 'product-backoffice/consumer', '--limit', '5']);
    const logs = ek.cli(['activation', 'logs', consumers[0].activationId]).stdout;
    assert.match(logs, /Start processing request/);
    const handlers = ek.cliJson(['activation', 'list', '--name', 'product-backoffice/created', '--limit', '5']);
    assert.equal(handlers[0].cause, consumers[0].activationId);
    // Commerce is back: the dead letter replays and arrives.
    commerce.recover();
    const replay = ek.cli(['deadletter', 'replay', String(dead[0].id)]);
    assert.equal(replay.code, 0, replay.stderr);
    await ek.waitFor(() => commerce.products.get('SKU-FAILING'), { timeout: 60000, what: 'the replayed product in Commerce' });
  });

  test('a restart mid-load loses nothing', async () => {
    const acked = [];
    for (let i = 0; i < 30; i += 1) {
      const sku = `SKU-LOAD-${i}`;
      const r = await webhook('be-observer.catalog_product_create', { sku, name: sku, price: i, description: 'load' }, `kit-load-${i}`);
      if (r.status === 200) acked.push(sku);
      if (i === 14) await ek.kill9();
      if (i === 14) await ek.start();
    }
    assert.ok(acked.length >= 29, `acknowledged ${acked.length}`);
    await ek.waitFor(() => acked.every((sku) => commerce.products.get(sku)), { timeout: 120000, what: 'every acknowledged product in Commerce' });
  });

  test('no Node process connected anywhere but loopback', () => {
    const entries = kit.connects();
    assert.ok(entries.some((e) => e.port), 'the recorder saw the kit\'s connections');
    const away = entries.filter((e) => (e.lookup ? !isLoopback(e.lookup) : !isLoopback(String(e.host))));
    assert.deepEqual(away, []);
  });
});
