// Samples and onboarding from the CLI: `evkit event sample`, `evkit event
// send-sample` (through the real entry points of a running daemon) and
// `evkit onboard` (idempotent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Evkit, bin, copyApp, sampleApp } from './lib/evkit.mjs';

const catalogue = JSON.parse(readFileSync(path.join(sampleApp, 'onboarding/config/events.json'), 'utf8'));
const sampleOf = (entity, provider, code) => catalogue[entity][provider][code].sampleEventTemplate;
const TOKEN = 'sample-test-token-0123456789abcdef012345';

test('event sample prints the sample payload; an unknown code names the near ones', () => {
  const ek = new Evkit();
  try {
    const r = ek.cli(['event', 'sample', 'be-observer.catalog_product_create']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), sampleOf('product', 'backoffice', 'be-observer.catalog_product_create'));
    assert.match(r.stdout, /\n {2}"sku"/); // pretty

    const c = ek.cli(['event', 'sample', 'com.adobe.commerce.observer.sales_order_save_commit_after']);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(JSON.parse(c.stdout), sampleOf('order', 'commerce', 'com.adobe.commerce.observer.sales_order_save_commit_after'));

    const bad = ek.cli(['event', 'sample', 'be-observer.catalog_product_creat']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /unknown event code 'be-observer.catalog_product_creat'/);
    assert.match(bad.stderr, /did you mean:\n {2}be-observer\.catalog_product_create\n/);

    const list = ek.cli(['event', 'sample', '--list']);
    assert.equal(list.code, 0);
    let codes = 0;
    for (const entity of Object.values(catalogue)) for (const p of Object.values(entity)) codes += Object.keys(p).length;
    assert.equal(list.stdout.trim().split('\n').length, codes);
  } finally {
    ek.cleanup();
  }
});

test('event send-sample: back-office codes through the ingestion webhook, Commerce codes through the publishing API', async () => {
  const ek = new Evkit({ env: { EVKIT_API_TOKENS: TOKEN } });
  await ek.start();
  try {
    const bo = ek.cli(['event', 'send-sample', 'be-observer.customer_create']);
    assert.equal(bo.code, 0, bo.stderr + bo.stdout);
    assert.match(bo.stdout, /POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/web\/evkit\/ingestion\/webhook\n/);
    assert.match(bo.stdout, /"event": "be-observer.customer_create"/);
    assert.match(bo.stdout, /-> 200\n/);
    assert.match(bo.stdout, /Event published successfully/);

    const co = ek.cli(['event', 'send-sample', 'com.adobe.commerce.observer.catalog_product_save_commit_after', '--json']);
    assert.equal(co.code, 0, co.stderr + co.stdout);
    const report = JSON.parse(co.stdout);
    assert.equal(report.request.url, `${ek.url}/api/v1/events`);
    assert.equal(report.request.body.type, 'com.adobe.commerce.observer.catalog_product_save_commit_after');
    assert.ok([200, 204].includes(report.response.status), JSON.stringify(report.response));

    const events = ek.events();
    const boEvent = events.find((e) => e.event.type === 'be-observer.customer_create');
    assert.ok(boEvent, 'the back-office sample is journaled');
    assert.deepEqual(boEvent.event.data, sampleOf('customer', 'backoffice', 'be-observer.customer_create'));
    const coEvent = events.find((e) => e.event.type === 'com.adobe.commerce.observer.catalog_product_save_commit_after');
    assert.ok(coEvent, 'the Commerce sample is journaled');
    assert.deepEqual(coEvent.event.data, sampleOf('product', 'commerce', 'com.adobe.commerce.observer.catalog_product_save_commit_after'));
    // Each went to its own provider.
    const byProvider = (p) => ek.events(['--provider', p]).map((e) => e.event.type);
    assert.ok(byProvider('backoffice').includes('be-observer.customer_create'));
    assert.ok(byProvider('commerce').includes('com.adobe.commerce.observer.catalog_product_save_commit_after'));
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('event send-sample signs and authenticates as the webhook\'s .env asks; clear errors without a daemon or token', async () => {
  const app = copyApp();
  const secret = `whsec_${Buffer.from('a test signing secret of 32 byte').toString('base64')}`;
  writeFileSync(path.join(app, '.env'),
    `${readFileSync(path.join(app, '.env.example'), 'utf8').replace(/^INGESTION_WEBHOOK_(SECRET|TOKEN)=.*$/mg, '')}\n` +
    `INGESTION_WEBHOOK_SECRET=${secret}\nINGESTION_WEBHOOK_TOKEN=tok-123\n`);
  const ek = new Evkit({ app, env: { EVKIT_LISTEN: '127.0.0.1:1' } }); // the fallback address when no daemon runs
  try {
    // No daemon: says so.
    const down = ek.cli(['event', 'send-sample', 'be-observer.catalog_stock_update']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach evkit at .*is `evkit serve` running\?/);

    await ek.start();
    // The webhook really checks: unsigned is refused.
    const unsigned = await ek.post('ingestion/webhook', { data: { uid: 'u1', event: 'be-observer.catalog_stock_update', value: {} } });
    assert.equal(unsigned.status, 401);

    const r = ek.cli(['event', 'send-sample', 'be-observer.catalog_stock_update']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /-> 200\n/);
    assert.ok(ek.events().some((e) => e.event.type === 'be-observer.catalog_stock_update'));

    // Commerce codes need a publishing API token.
    const notoken = ek.cli(['event', 'send-sample', 'com.adobe.commerce.observer.catalog_product_save_commit_after']);
    assert.equal(notoken.code, 1);
    assert.match(notoken.stderr, /needs a token: set EVKIT_API_TOKENS/);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

const countCodes = () => {
  let n = 0;
  for (const entity of Object.values(catalogue)) for (const p of Object.values(entity)) n += Object.keys(p).length;
  return n;
};

test('onboard creates providers and event metadata once; the manifest registrations are reported; a second run says "already present"', () => {
  const app = copyApp();
  const ek = new Evkit({ app });
  try {
    const first = ek.cli(['onboard']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^provider +commerce +created \(id [0-9a-f-]{36}\)$/m);
    assert.match(first.stdout, /^provider +backoffice +created \(id [0-9a-f-]{36}\)$/m);
    assert.match(first.stdout, /^event metadata +backoffice be-observer\.catalog_product_create +created$/m);
    assert.match(first.stdout, /^registration +product-backoffice +already present \(app\.config\.yaml\)$/m);
    const codes = countCodes();
    assert.match(first.stdout, new RegExp(`^event metadata: ${codes} created, 0 updated, 0 already present, 0 failed$`, 'm'));
    assert.match(first.stdout, /^onboarding done: \d+ created, 0 updated, \d+ already present, 0 failed$/m);

    const second = ek.cliJson(['onboard']);
    assert.deepEqual(second.summary, { created: 0, updated: 0, 'already present': 2 + codes + 8, failed: 0 });
    assert.ok(second.items.every((i) => i.outcome === 'already present'));
    const again = ek.cli(['onboard']);
    assert.doesNotMatch(again.stdout, / created$| created \(/m);
    assert.match(again.stdout, /^onboarding done: 0 created, 0 updated, \d+ already present, 0 failed$/m);

    // The providers onboarding created are the ones events are published under.
    const ids = Object.fromEntries(second.items.filter((i) => i.kind === 'provider').map((i) => [i.name, i.detail.slice(3)]));
    assert.match(ids.commerce, /^[0-9a-f-]{36}$/);

    // A changed sample is updated, and only that one.
    const file = path.join(app, 'onboarding/config/events.json');
    const text = readFileSync(file, 'utf8');
    const edited = text.replace(/("be-observer\.catalog_product_delete": \{\s*"sampleEventTemplate": \{\s*"sku": ")SKU-EXT-0001/, '$1SKU-CHANGED');
    assert.notEqual(edited, text);
    writeFileSync(file, edited);
    const third = ek.cliJson(['onboard']);
    assert.deepEqual(third.summary, { created: 0, updated: 1, 'already present': 2 + codes + 8 - 1, failed: 0 });
    assert.deepEqual(third.items.find((i) => i.outcome === 'updated').name, 'backoffice be-observer.catalog_product_delete');
  } finally {
    ek.cleanup();
  }
});

test('onboard creates the starter kit registrations the manifest lacks; the running daemon delivers to them at once', async () => {
  const app = copyApp();
  const cfg = path.join(app, 'app.config.yaml');
  const yaml = readFileSync(cfg, 'utf8');
  writeFileSync(cfg, yaml.slice(0, yaml.indexOf('  events:\n'))); // no manifest registrations
  const ek = new Evkit({ app, env: { EVKIT_API_TOKENS: TOKEN } });
  await ek.start();
  try {
    const first = ek.cli(['onboard']);
    assert.equal(first.code, 0, first.stderr);
    const kit = JSON.parse(readFileSync(path.join(app, 'onboarding/config/starter-kit-registrations.json'), 'utf8'));
    let n = 0;
    for (const [entity, providers] of Object.entries(kit)) {
      for (const p of providers) {
        n++;
        assert.match(first.stdout, new RegExp(`^registration +${entity}-${p} +created$`, 'm'));
      }
    }
    assert.match(first.stdout, new RegExp(`^registrations: ${n} created, 0 updated, 0 already present, 0 failed$`, 'm'));
    const regs = ek.cliJson(['registration', 'list']);
    const pb = regs.find((r) => r.name === 'product-backoffice');
    assert.ok(pb, JSON.stringify(regs));
    assert.equal(pb.origin, 'api');

    const second = ek.cli(['onboard']);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /^registration +product-backoffice +already present$/m);
    assert.match(second.stdout, new RegExp(`^registrations: 0 created, 0 updated, ${n} already present, 0 failed$`, 'm'));

    // The providers API shows the providers and the event metadata onboarding recorded.
    const auth = { authorization: `Bearer ${TOKEN}` };
    const get = async (p, headers = auth) => {
      const r = await fetch(`${ek.url}${p}`, { headers });
      return { status: r.status, json: await r.json() };
    };
    assert.equal((await get('/api/v1/providers', {})).status, 401);
    const provs = await get('/api/v1/providers');
    assert.equal(provs.status, 200);
    const bo = provs.json.providers.find((p) => p.key === 'backoffice');
    assert.match(bo.id, /^[0-9a-f-]{36}$/);
    assert.equal(bo.label, 'Backoffice Provider');
    const meta = await get('/api/v1/providers/backoffice/eventmetadata');
    assert.equal(meta.status, 200);
    const create = meta.json.eventmetadata.find((m) => m.event_code === 'be-observer.catalog_product_create');
    assert.deepEqual(create.sample_event_template, sampleOf('product', 'backoffice', 'be-observer.catalog_product_create'));
    assert.equal(create.description, 'product event from Backoffice Provider');
    assert.ok(meta.json.eventmetadata.every((m) => !m.event_code.startsWith('com.adobe')));
    assert.equal((await get('/api/v1/providers/nope/eventmetadata')).status, 404);
    const one = await get('/api/v1/providers/commerce');
    assert.equal(one.json.id, provs.json.providers.find((p) => p.key === 'commerce').id);

    // Live: a sample sent now is delivered to the consumer onboarding registered.
    const sent = ek.cli(['event', 'send-sample', 'be-observer.catalog_product_create']);
    assert.equal(sent.code, 0, sent.stderr + sent.stdout);
    await ek.waitFor(() => ek.cliJson(['activation', 'list', '--limit', '100'])
      .some((a) => a.path === 'product-backoffice/consumer' && a.response.success), { what: 'the consumer activation' });
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});

test('onboard draws a progress bar on a terminal that reaches every item; nothing of it on a pipe', () => {
  const app = copyApp();
  const ek = new Evkit({ app });
  try {
    const quote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
    const r = spawnSync('script', ['-q', '-e', '-c', [bin, 'onboard'].map(quote).join(' '), '/dev/null'], {
      env: { ...ek.env, EVKIT_APP: ek.app, EVKIT_DATA: ek.data, COLUMNS: '120' }, encoding: 'utf8', timeout: 60000,
    });
    assert.equal(r.status, 0, r.stdout);
    const kit = JSON.parse(readFileSync(path.join(app, 'onboarding/config/starter-kit-registrations.json'), 'utf8'));
    const total = 2 + countCodes() + 8 + Object.values(kit).reduce((n, p) => n + p.length, 0);
    assert.match(r.stdout, new RegExp(`\\ronboarding \\[#+\\] ${total}/${total} 100%`));
    // Item lines are printed over an erased bar, never glued to it.
    assert.match(r.stdout, /\r\x1b\[Kprovider +commerce +created/);
    const piped = ek.cli(['onboard']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stderr, /onboarding \[|\x1b\[K/);
  } finally {
    ek.cleanup();
  }
});
