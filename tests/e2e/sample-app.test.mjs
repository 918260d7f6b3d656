// The bundled sample app end to end against a stand-in Commerce API on
// loopback: the webhook publishes, the registration delivers to the
// consumer, the handler sends the product to "Commerce"; a Commerce outage
// (503) is retried; a rejection (400) is final; the echo of a change evkit
// itself propagated is recognized and skipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Evkit, copyApp, seedExample } from './lib/evkit.mjs';

let ek;
let app;
let server;
const received = [];
let answers = []; // statuses to answer next, in order; empty: 200

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, auth: req.headers.authorization, body: body ? JSON.parse(body) : null });
      const status = answers.length ? answers.shift() : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status === 200 ? { id: 42 } : { message: `stand-in answered ${status}` }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  app = copyApp();
  writeFileSync(path.join(app, '.env'), `COMMERCE_BASE_URL=http://127.0.0.1:${port}/rest/default\nCOMMERCE_ACCESS_TOKEN=commerce-tok\n`);
  // Millisecond retries for the product registration, so the outage test is quick.
  const cfgPath = path.join(app, 'app.config.yaml');
  const cfg = readFileSync(cfgPath, 'utf8').replace(
    '        runtime_action: product-backoffice/consumer\n',
    '        runtime_action: product-backoffice/consumer\n        retry: {schedule: [50ms, 100ms], max_age: 10s}\n',
  );
  assert.ok(cfg.includes('schedule: [50ms, 100ms]'));
  writeFileSync(cfgPath, cfg);
  ek = await new Evkit({ app }).start();
});

after(async () => {
  await ek.stop();
  ek.cleanup();
  server.close();
  rmSync(app, { recursive: true, force: true });
});

const productCalls = (sku) => received.filter((r) => JSON.stringify(r.body ?? '').includes(sku) || r.url.includes(sku));

test('the seed example travels webhook -> journal -> consumer -> handler -> Commerce API', async () => {
  const r = await ek.post('ingestion/webhook', seedExample);
  assert.equal(r.status, 200, r.text);
  const call = await ek.waitFor(() => productCalls('PRODUCT_SKU')[0], { what: 'the handler calling the stand-in Commerce' });
  assert.equal(call.method, 'POST');
  assert.equal(call.url, '/rest/default/V1/products');
  assert.equal(call.auth, 'Bearer commerce-tok');
  assert.equal(call.body.product.sku, 'PRODUCT_SKU');
  assert.equal(call.body.product.name, 'Product SKU');
  // The consumer -> handler chain, both successful, the handler caused by the consumer.
  const handler = await ek.waitFor(() => ek.cliJson(['activation', 'list', '--name', 'product-backoffice/created'])[0], { what: 'handler activation' });
  assert.equal(handler.response.success, true);
  assert.equal(handler.response.result.statusCode, 200);
  const consumer = ek.cliJson(['activation', 'get', handler.cause]);
  assert.equal(consumer.path, 'product-backoffice/consumer');
  assert.equal(consumer.response.result.statusCode, 200);
  assert.ok(!JSON.stringify(ek.cliJson(['activation', 'list', '--limit', '50'])).includes('commerce-tok'), 'the token is not in any activation');
});

test('a Commerce outage (503) is retried until Commerce takes the change', async () => {
  answers = [503, 503];
  const r = await ek.post('ingestion/webhook', { data: { uid: 'outage-1', event: 'be-observer.catalog_product_update', value: { sku: 'SKU-OUT', name: 'Out', description: 'd', price: 3 } } });
  assert.equal(r.status, 200, r.text);
  await ek.waitFor(() => productCalls('SKU-OUT').length >= 3, { what: 'three calls to Commerce' });
  const calls = productCalls('SKU-OUT');
  assert.equal(calls.length, 3);
  assert.ok(calls.every((c) => c.method === 'PUT' && c.url === '/rest/default/V1/products/SKU-OUT'));
  const regs = await ek.waitFor(() => {
    const reg = ek.cliJson(['registration', 'list']).find((x) => x.name === 'product-backoffice');
    return reg.backlog === 0 ? reg : null;
  }, { what: 'backlog drained' });
  assert.equal(regs.dead, 0);
});

test('a Commerce rejection (400) is final: a dead letter, not retried', async () => {
  answers = [400];
  const r = await ek.post('ingestion/webhook', { data: { uid: 'reject-1', event: 'be-observer.catalog_product_update', value: { sku: 'SKU-REJ', name: 'Rej', description: 'd', price: 3 } } });
  assert.equal(r.status, 200);
  const dl = await ek.waitFor(() => ek.cliJson(['deadletter', 'list', '--registration', 'product-backoffice']).find((d) => d.reason === 'rejected'), { what: 'dead letter' });
  assert.equal(dl.last_status, 400);
  await new Promise((res) => setTimeout(res, 400));
  assert.equal(productCalls('SKU-REJ').length, 1, 'not retried');
});

test('invalid data is rejected by the handler with the field named, without calling Commerce', async () => {
  const r = await ek.post('ingestion/webhook', { data: { uid: 'invalid-1', event: 'be-observer.catalog_product_create', value: { sku: 'SKU-INV' } } });
  assert.equal(r.status, 200, 'the webhook accepts any value; the handler validates');
  const act = await ek.waitFor(() => ek.cliJson(['activation', 'list', '--name', 'product-backoffice/created']).find((a) => JSON.stringify(a.response.result).includes('name')), { what: 'a failed handler activation' });
  assert.equal(act.response.result.statusCode, 400);
  assert.match(JSON.stringify(act.response.result.body), /name/);
  assert.equal(productCalls('SKU-INV').length, 0);
});
