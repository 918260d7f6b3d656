// The sample integration end to end, for every event code of events.json:
// back-office samples enter through the ingestion webhook, Commerce samples
// through the publishing API (CloudEvents from urn:uuid:<commerce provider
// id>); the stand-in Commerce (tests/standins/commerce.mjs, verifying OAuth
// 1.0a signatures and bearer tokens) or the stand-in back office must receive
// exactly the starter kit's request, and the delivery must end in success.
// Then: both Commerce auth modes, a schema-failing sample, a Commerce outage
// that loses nothing, and the loop breaker.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Evkit, copyApp, sampleApp } from './lib/evkit.mjs';
import { startCommerce, oauth1Signature, percentEncode } from '../standins/commerce.mjs';
import { startBackoffice } from '../standins/backoffice.mjs';
import { TO_COMMERCE, SEED } from './lib/kit-calls.mjs';

const EVENTS = JSON.parse(readFileSync(path.join(sampleApp, 'onboarding/config/events.json'), 'utf8'));
const API_TOKEN = 'publisher-token-1-0123456789abcdef012345';
const OAUTH1 = { consumerKey: 'ck-1', consumerSecret: 'cs-secret-1', accessToken: 'at-1', accessTokenSecret: 'ats-secret-1' };
const IMS = { clientId: 'client-1', clientSecret: 'client-secret-1', scopes: 'AdobeID,openid,commerce.accs' };
const BO_KEY = 'bo-key-secret-1';

const sample = (code) => {
  for (const providers of Object.values(EVENTS)) {
    for (const codes of Object.values(providers)) if (codes[code]) return structuredClone(codes[code].sampleEventTemplate);
  }
  throw new Error(`no sample for ${code}`);
};
const codesOf = (provider) => Object.values(EVENTS).flatMap((p) => Object.keys(p[provider] ?? {}));

// What goes to the back office for each Commerce sample: the entity as
// Commerce sent it (the kit's transformers pass it through), per operation.
const TO_BACKOFFICE = {
  'com.adobe.commerce.observer.catalog_product_save_commit_after': (v) => [v.created_at === v.updated_at ? 'POST' : 'PUT', v.created_at === v.updated_at ? '/product' : `/product/${v.sku}`],
  'com.adobe.commerce.observer.catalog_product_delete_commit_after': (v) => ['DELETE', `/product/${v.sku}`],
  'com.adobe.commerce.observer.customer_save_commit_after': (v) => [v.created_at === v.updated_at ? 'POST' : 'PUT', v.created_at === v.updated_at ? '/customer' : `/customer/${v.id}`],
  'com.adobe.commerce.observer.customer_delete_commit_after': (v) => ['DELETE', `/customer/${v.id}`],
  'com.adobe.commerce.observer.customer_group_save_commit_after': (v) => ['PUT', `/customer-group/${v.customer_group_id}`],
  'com.adobe.commerce.observer.customer_group_delete_commit_after': (v) => ['DELETE', `/customer-group/${v.customer_group_id}`],
  'com.adobe.commerce.observer.sales_order_save_commit_after': (v) => [v.created_at === v.updated_at ? 'POST' : 'PUT', v.created_at === v.updated_at ? '/order' : `/order/${v.id}`],
  'com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after': (v) => ['PUT', `/stock/${v.product_id}`],
};

const REGISTRATION = (code) => {
  for (const [entity, providers] of Object.entries(EVENTS)) {
    for (const [provider, codes] of Object.entries(providers)) if (codes[code]) return `${entity}-${provider}`;
  }
  throw new Error(code);
};

// An evkit serving a copy of the sample app against the stand-ins, with
// quick retries on every registration.
async function startWorld({ auth, retry = '{schedule: [100ms, 200ms, 300ms], max_age: 60s}' }) {
  const commerce = await startCommerce({ oauth1: OAUTH1, ims: IMS });
  commerce.seed(SEED);
  const bo = await startBackoffice({ apiKey: BO_KEY });
  const app = copyApp();
  const env = [`COMMERCE_BASE_URL=${commerce.restUrl}`, `BACKOFFICE_BASE_URL=${bo.url}`, `BACKOFFICE_API_KEY=${BO_KEY}`];
  if (auth === 'oauth1') {
    env.push(`COMMERCE_CONSUMER_KEY=${OAUTH1.consumerKey}`, `COMMERCE_CONSUMER_SECRET=${OAUTH1.consumerSecret}`,
      `COMMERCE_ACCESS_TOKEN=${OAUTH1.accessToken}`, `COMMERCE_ACCESS_TOKEN_SECRET=${OAUTH1.accessTokenSecret}`);
  } else {
    env.push(`OAUTH_BASE_URL=${commerce.oauthUrl}`, `OAUTH_CLIENT_ID=${IMS.clientId}`,
      `OAUTH_CLIENT_SECRET=${IMS.clientSecret}`, 'OAUTH_SCOPES=AdobeID, openid, commerce.accs');
  }
  writeFileSync(path.join(app, '.env'), `${env.join('\n')}\n`);
  const cfgPath = path.join(app, 'app.config.yaml');
  const cfg = readFileSync(cfgPath, 'utf8').replace(/^( +)runtime_action: (.+)$/gm, `$1runtime_action: $2\n$1retry: ${retry}`);
  writeFileSync(cfgPath, cfg);
  const ek = await new Evkit({ app, env: { EVKIT_API_TOKENS: API_TOKEN } }).start();
  const line = ek.logs().find((l) => l.message === 'provider' && l.provider === 'commerce');
  assert.ok(line, 'evkit logs the commerce provider id');
  const world = {
    commerce, bo, app, ek, source: `urn:uuid:${line.id}`, seq: 0, expectedDead: {},
    async webhook(code, value) {
      world.seq += 1;
      const r = await ek.post('ingestion/webhook', { data: { uid: `uid-${auth}-${world.seq}`, event: code, value } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { type: code, response: { success: true, message: 'Event published successfully' } });
    },
    async publish(code, data) {
      world.seq += 1;
      const event = { specversion: '1.0', id: `ce-${auth}-${world.seq}`, source: world.source, type: code, datacontenttype: 'application/json', data };
      const r = await fetch(`${ek.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json', authorization: `Bearer ${API_TOKEN}` },
        body: JSON.stringify(event),
      });
      assert.equal(r.status, 200, await r.text());
    },
    // Waits until registration has nothing left to deliver, and checks nothing died.
    async settled(registration) {
      const reg = await ek.waitFor(() => {
        const x = ek.cliJson(['registration', 'list']).find((y) => y.name === registration);
        return x && x.backlog === 0 ? x : null;
      }, { what: `${registration} backlog drained` });
      assert.equal(reg.dead, world.expectedDead[registration] ?? 0, `${registration} has dead letters: ${JSON.stringify(ek.cliJson(['deadletter', 'list', '--registration', registration]))}`);
      return reg;
    },
    // The newest delivery attempt of registration, which must be a success.
    lastTrace(registration) {
      return ek.cliJson(['trace', 'list', '--registration', registration, '--limit', '1'])[0];
    },
    async close() {
      await ek.stop();
      ek.cleanup();
      await commerce.close();
      await bo.close();
      rmSync(app, { recursive: true, force: true });
    },
  };
  return world;
}

function traces(world, registration) {
  const out = world.ek.cliJson(['trace', 'list', '--registration', registration, '--limit', '500']);
  return Array.isArray(out) ? out : out.traces;
}

// Sends every back-office sample through the webhook; each must reach the
// stand-in Commerce as the kit's request, authenticated with mode, and the
// delivery must succeed.
async function everyBackofficeSample(world, mode) {
  const codes = codesOf('backoffice');
  assert.equal(codes.length, 13);
  for (const code of codes) {
    const s = sample(code);
    const [method, resource, body] = TO_COMMERCE[code](s);
    const before = world.commerce.requests.length;
    await world.webhook(code, s);
    const req = await world.ek.waitFor(() => world.commerce.requests.slice(before).find((r) => r.status !== 0), { what: `Commerce call for ${code}` });
    assert.equal(req.method, method, code);
    assert.equal(req.path, `/rest/V1/${resource}`, code);
    assert.deepEqual(req.body, body, code);
    assert.equal(req.auth, mode, `${code}: ${req.auth}`);
    assert.equal(req.status, 200, code);
    const registration = REGISTRATION(code);
    await world.settled(registration);
    const t = traces(world, registration)[0];
    assert.equal(t.outcome ?? (t.success ? 'success' : 'error'), 'success', JSON.stringify(t));
    assert.equal(world.commerce.requests.length, before + 1, `${code}: exactly one call`);
  }
}

describe('OAuth 1.0a', () => {
  let world;
  before(async () => { world = await startWorld({ auth: 'oauth1' }); });
  after(async () => { await world.close(); });

  test('every back-office sample reaches Commerce as the kit\'s request, signed, and is delivered', async () => {
    await everyBackofficeSample(world, 'oauth1');
    // Commerce's state after the samples: the product made and removed, the rest applied.
    assert.equal(world.commerce.products.has('SKU-EXT-0001'), false);
    assert.equal(world.commerce.customers.has('15'), false);
    assert.equal(world.commerce.orders.get('1').comments[0].comment, 'Order status changed to shipped');
    assert.equal(world.commerce.sourceItems.get('SKU-EXT-0001/default').quantity, 66);
    // No secret in any activation record.
    const all = JSON.stringify(world.ek.cliJson(['activation', 'list', '--limit', '500']));
    for (const secret of [OAUTH1.consumerSecret, OAUTH1.accessTokenSecret, BO_KEY]) assert.ok(!all.includes(secret), 'a secret leaked');
    assert.ok(!world.ek.stderr.includes(OAUTH1.consumerSecret));
  });

  test('every Commerce sample reaches the back office through the publishing API and is delivered', async () => {
    const codes = codesOf('commerce');
    assert.equal(codes.length, 8);
    for (const code of codes) {
      const data = sample(code);
      const [method, p] = TO_BACKOFFICE[code](data.value);
      const before = world.bo.requests.length;
      await world.publish(code, data);
      const req = await world.ek.waitFor(() => world.bo.requests[before], { what: `back-office call for ${code}` });
      assert.equal(req.method, method, code);
      assert.equal(req.path, p, code);
      assert.deepEqual(req.body, data.value, code);
      assert.equal(req.headers.authorization, `Bearer ${BO_KEY}`);
      assert.equal(req.status, 200);
      await world.settled(REGISTRATION(code));
      assert.equal(world.bo.requests.length, before + 1, `${code}: exactly one call`);
    }
  });

  test('save events tell created from updated by created_at and updated_at', async () => {
    const cases = [
      ['com.adobe.commerce.observer.catalog_product_save_commit_after', { created_at: '2024-08-05 10:03:49', updated_at: '2024-08-05 10:03:49' }, 'POST', '/product'],
      ['com.adobe.commerce.observer.customer_save_commit_after', { created_at: '2024-08-05 10:03:49', updated_at: '2024-08-05T10:03:49' }, 'POST', '/customer'],
      ['com.adobe.commerce.observer.sales_order_save_commit_after', { updated_at: '2024-08-05 14:40:00' }, 'PUT', '/order/12'],
    ];
    for (const [code, change, method, p] of cases) {
      const data = sample(code);
      Object.assign(data.value, change);
      const before = world.bo.requests.length;
      await world.publish(code, data);
      const req = await world.ek.waitFor(() => world.bo.requests[before], { what: `back-office call for ${code}` });
      assert.deepEqual([req.method, req.path], [method, p], code);
    }
  });

  test('the stand-in refuses a wrong signature, a replayed nonce and an unknown token (401)', async () => {
    const url = `${world.commerce.restUrl}V1/products?searchCriteria=1`;
    const oauth = {
      oauth_consumer_key: OAUTH1.consumerKey, oauth_nonce: 'n-1', oauth_signature_method: 'HMAC-SHA256',
      oauth_timestamp: String(Math.floor(Date.now() / 1000)), oauth_token: OAUTH1.accessToken, oauth_version: '1.0',
    };
    const header = (o) => `OAuth ${Object.entries(o).map(([k, v]) => `${k}="${percentEncode(v)}"`).join(', ')}`;
    const sig = (secret) => oauth1Signature({ method: 'POST', url, oauth, consumerSecret: secret, tokenSecret: OAUTH1.accessTokenSecret });
    const post = (authorization) => fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: '{"product":{"sku":"X"}}' });
    assert.equal((await post(header({ ...oauth, oauth_signature: sig('wrong') }))).status, 401);
    assert.equal((await post(header({ ...oauth, oauth_signature: sig(OAUTH1.consumerSecret) }))).status, 200);
    assert.equal((await post(header({ ...oauth, oauth_signature: sig(OAUTH1.consumerSecret) }))).status, 401, 'nonce replay');
    assert.equal((await post('Bearer standin-nope')).status, 401);
  });
});

describe('OAuth server-to-server token', () => {
  let world;
  before(async () => { world = await startWorld({ auth: 'bearer' }); });
  after(async () => { await world.close(); });

  test('every back-office sample reaches Commerce with a bearer token fetched once and cached', async () => {
    await everyBackofficeSample(world, 'bearer');
    assert.equal(world.commerce.tokenRequests.length, 1, 'one token for all calls');
    const t = world.commerce.tokenRequests[0];
    assert.deepEqual(t.form, { grant_type: 'client_credentials', client_id: IMS.clientId, client_secret: '<hidden>', scope: IMS.scopes });
    assert.equal(t.status, 200);
    const all = JSON.stringify(world.ek.cliJson(['activation', 'list', '--limit', '500']));
    assert.ok(!all.includes(IMS.clientSecret) && !all.includes(t.token), 'no secret or token in activations');
    assert.ok(!world.ek.stderr.includes(IMS.clientSecret) && !world.ek.stderr.includes(t.token), 'no secret or token in logs');
  });

  test('an expired token is refused (401), a fresh one is fetched and the call goes through', async () => {
    world.commerce.expireToken(world.commerce.tokenRequests[0].token);
    const s = { sku: 'SKU-TOK', name: 'Token product', price: 5, description: 'token' };
    const before = world.commerce.requests.length;
    await world.webhook('be-observer.catalog_product_create', s);
    await world.ek.waitFor(() => world.commerce.products.get('SKU-TOK'), { what: 'the product in Commerce' });
    const calls = world.commerce.requests.slice(before);
    assert.deepEqual(calls.map((c) => c.status), [401, 200]);
    assert.equal(world.commerce.tokenRequests.length, 2);
    await world.settled('product-backoffice');
  });
});

describe('failures, outages and echoes', () => {
  let world;
  before(async () => { world = await startWorld({ auth: 'oauth1' }); });
  after(async () => { await world.close(); });

  test('a sample that fails its schema is a 400 naming the field, and nothing reaches Commerce', async () => {
    const s = sample('be-observer.catalog_product_update');
    s.price = '99.99';
    delete s.name;
    s.sku = 'SKU-BAD';
    const before = world.commerce.requests.length;
    await world.webhook('be-observer.catalog_product_update', s);
    const dl = await world.ek.waitFor(() => world.ek.cliJson(['deadletter', 'list', '--registration', 'product-backoffice'])
      .find((d) => d.reason === 'rejected'), { what: 'a rejected delivery' });
    assert.equal(dl.last_status, 400);
    assert.match(dl.last_error, /'data.name' is required/);
    world.expectedDead['product-backoffice'] = 1;
    const act = world.ek.cliJson(['activation', 'list', '--name', 'product-backoffice/updated'])[0];
    assert.equal(act.response.result.statusCode, 400);
    assert.equal(act.response.result.body.success, false);
    const error = act.response.result.body.error;
    assert.match(error, /name/, error);
    assert.match(error, /price/, error);
    const consumer = world.ek.cliJson(['activation', 'get', act.cause]);
    assert.equal(consumer.response.result.error.statusCode, 400);
    assert.match(consumer.response.result.error.body.error, /name/);
    assert.equal(world.commerce.requests.length, before);
  });

  test('a Commerce outage (500s, 429, a hung request) loses nothing: every event reaches Commerce after recovery', async () => {
    world.commerce.fail(500, 4);
    world.commerce.fail(429, 1);
    const skus = ['SKU-OUT-1', 'SKU-OUT-2', 'SKU-OUT-3'];
    for (const sku of skus) await world.webhook('be-observer.catalog_product_create', { sku, name: sku, price: 1, description: 'outage' });
    await world.webhook('be-observer.customer_group_create', { name: 'Outage Group', taxClassId: 3 });
    await world.ek.waitFor(() => skus.every((s) => world.commerce.products.has(s))
      && [...world.commerce.groups.values()].some((g) => g.code === 'Outage Group'), { timeout: 30000, what: 'every event in Commerce' });
    const failed = world.commerce.requests.filter((r) => r.status === 500 || r.status === 429);
    assert.equal(failed.length, 5, 'the outage was seen');
    await world.settled('product-backoffice');
    await world.settled('customer-backoffice');
    // Each product was created once: retries after failures, no duplicates.
    for (const sku of skus) {
      assert.equal(world.commerce.requests.filter((r) => r.status === 200 && r.body?.product?.sku === sku).length, 1, sku);
    }
  });

  test('a hung Commerce request times out and is retried', { timeout: 60000 }, async () => {
    world.commerce.hang(1);
    await world.webhook('be-observer.catalog_product_create', { sku: 'SKU-HANG', name: 'Hang', price: 1, description: 'hang' });
    await world.ek.waitFor(() => world.commerce.products.has('SKU-HANG'), { timeout: 45000, what: 'the product after the hang' });
    const calls = world.commerce.requests.filter((r) => r.body?.product?.sku === 'SKU-HANG');
    assert.deepEqual(calls.map((c) => c.status), ['hung', 200]);
    await world.settled('product-backoffice');
  });

  test('the loop breaker stops an echo and lets a real change through', async () => {
    const sku = 'SKU-LOOP';
    await world.webhook('be-observer.catalog_product_update', { sku, name: 'Loop', price: 10, description: 'first' });
    await world.ek.waitFor(() => world.commerce.products.get(sku), { what: 'the update in Commerce' });
    await world.settled('product-backoffice');
    // Commerce emits its save event for that change: an echo.
    const save = 'com.adobe.commerce.observer.catalog_product_save_commit_after';
    const value = { id: 7, sku, name: 'Loop', description: 'first', created_at: '2024-06-12 16:31:43', updated_at: '2024-08-05 10:03:49' };
    const boBefore = world.bo.requests.length;
    await world.publish(save, { value });
    const echo = await world.ek.waitFor(() => world.ek.cliJson(['activation', 'list', '--name', 'product-commerce/consumer'])
      .find((a) => JSON.stringify(a.response.result).includes('echo')), { what: 'the consumer skipping the echo' });
    assert.equal(echo.response.result.statusCode, 200);
    assert.equal(echo.response.result.body.response.success, true);
    await world.settled('product-commerce');
    assert.equal(world.bo.requests.length, boBefore, 'the echo is not sent to the back office');
    // A real change in Commerce goes through.
    await world.publish(save, { value: { ...value, description: 'changed in Commerce' } });
    const req = await world.ek.waitFor(() => world.bo.requests[boBefore], { what: 'the real change in the back office' });
    assert.deepEqual([req.method, req.path, req.body.description], ['PUT', `/product/${sku}`, 'changed in Commerce']);
    await world.settled('product-commerce');
    // And its echo from the back office does not go back to Commerce.
    const cBefore = world.commerce.requests.length;
    await world.webhook('be-observer.catalog_product_update', { sku, name: 'Loop', price: 10, description: 'changed in Commerce' });
    await world.settled('product-backoffice');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(world.commerce.requests.length, cBefore, 'the back office echo is not sent to Commerce');
  });
});
