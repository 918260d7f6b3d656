// The console's charts in headless Chromium (Debian's chromium through
// playwright-core) against the real evkit on tests/e2e/fixtures/flows: a
// known mix of deliveries (successes, one retry each for flaky orders, dead
// letters for broken ones, deliveries left waiting for a retry in an hour)
// over three registrations must show as those counts in the deliveries
// chart per registration and overall, with latency points where attempts
// were and the waiting ones as the backlog; strict CSP, no script errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Evkit, fixtures, repo } from '../lib/evkit.mjs';

const CHROMIUM = process.env.EVKIT_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(repo, 'tests/artifacts');
const TOKEN = 'charts-browser-token-9a1e-0123456789abcd';
const auth = { authorization: `Bearer ${TOKEN}` };

let ek;
let browser;
let page;
const problems = [];

// What the test sends: per registration, what its deliveries must count.
const CREATED = 5;
const BROKEN = 2;
const FLAKY = 3;
const LATER = 4; // always busy, retried in an hour: the backlog
const want = {
  orders: { success: CREATED + FLAKY, retry: FLAKY, dead: BROKEN },
  audit: { success: CREATED, retry: 0, dead: 0 },
  later: { success: 0, retry: LATER, dead: 0 },
};
const backlog = { orders: 0, audit: 0, later: LATER };

async function publish(source, type, id, n) {
  const r = await fetch(`${ek.url}/api/v1/events`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: `${type}-${id}`, source, type, data: { id, n } }),
  });
  assert.equal(r.status, 200, await r.text());
}

async function stats(registration) {
  const r = await fetch(`${ek.url}/api/v1/stats/deliveries?hours=1${registration ? `&registration=${registration}` : ''}`, { headers: auth });
  assert.equal(r.status, 200);
  return r.json();
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs Debian's chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  ek = await new Evkit({ app: path.join(fixtures, 'flows'), env: { EVKIT_API_TOKENS: TOKEN } }).start();
  const prov = await (await fetch(`${ek.url}/api/v1/providers/shop`, { headers: auth })).json();
  const source = `urn:uuid:${prov.id}`;
  for (let i = 0; i < CREATED; i++) await publish(source, 'order.created', `c${i}`, i);
  for (let i = 0; i < BROKEN; i++) await publish(source, 'order.broken', `b${i}`, i);
  for (let i = 0; i < FLAKY; i++) await publish(source, 'order.flaky', `f${i}`, i);
  for (let i = 0; i < LATER; i++) await publish(source, 'order.later', `l${i}`, i);
  // Every delivery settled: the rollup's totals reach what was sent.
  await ek.waitFor(async () => {
    const all = (await stats()).totals;
    return all.success === want.orders.success + want.audit.success && all.dead === BROKEN
      && all.retry === FLAKY + LATER ? all : null;
  }, { what: 'every delivery to settle', timeout: 20000 });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  await page.goto(`${ek.url}/console`);
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#token', TOKEN);
  await page.click('#login-submit');
  await page.waitForSelector('#top:not([hidden])');
});

after(async () => {
  if (browser) await browser.close();
  if (ek) { await ek.stop(); ek.cleanup(); }
});

async function open(hash) {
  await page.goto(`${ek.url}/console/#/${hash}`);
  await page.waitForFunction((h) => document.body.dataset.route === h, `#/${hash}`);
  await page.waitForSelector('#chart-deliveries');
}

// What the deliveries chart draws: the sums of its bars, the legend's totals.
async function drawn() {
  return page.evaluate(() => {
    const sum = { success: 0, retry: 0, dead: 0 };
    const bars = [...document.querySelectorAll('#chart-deliveries g.bar')];
    for (const g of bars) for (const k of Object.keys(sum)) sum[k] += Number(g.dataset[k]);
    const legend = Object.fromEntries([...document.querySelectorAll('[data-total]')].map((e) => [e.dataset.total, e.textContent]));
    const rects = bars.map((g) => g.querySelectorAll('rect').length);
    const titles = bars.map((g) => g.querySelector('title').textContent);
    const latency = [...document.querySelectorAll('#chart-latency circle')].map((c) => ({ s: c.dataset.series, v: Number(c.dataset.value), t: Number(c.dataset.t) }));
    const line = document.querySelectorAll('#chart-backlog polyline[data-series="backlog"]').length;
    const pts = [...document.querySelectorAll('#chart-backlog circle')].map((c) => ({ v: Number(c.dataset.value), t: Number(c.dataset.t) }));
    const now = document.querySelector('[data-backlog-now]')?.dataset.backlogNow;
    return { sum, legend, rects, titles, latency, line, pts, now: Number(now), bars: bars.map((g) => Number(g.dataset.t)) };
  });
}

function checkCounts(d, w, queued) {
  assert.deepEqual(d.sum, w);
  assert.match(d.legend.success, new RegExp(`^${w.success} delivered`));
  assert.match(d.legend.retry, new RegExp(`^${w.retry} retried`));
  assert.match(d.legend.dead, new RegExp(`^${w.dead} dead letter`));
  assert.ok(d.bars.length >= 1);
  assert.equal(d.line, 1, 'a backlog line is drawn');
  // The backlog now: the legend and the last minute's point (none drawn for 0).
  assert.equal(d.now, queued);
  const last = d.pts.sort((a, b) => a.t - b.t).at(-1);
  if (queued) assert.equal(last.v, queued);
  else assert.ok(!last || last.t < Date.now() - 60000 || last.v === 0);
  for (const title of d.titles) assert.match(title, /^\d\d:\d\d: \d+ delivered, \d+ retried, \d+ dead letters?$/);
}

test('per registration: the deliveries chart counts what was delivered, retried and dead-lettered', async () => {
  for (const [reg, w] of Object.entries(want)) {
    await open(`charts/${reg}?hours=1`);
    const d = await drawn();
    checkCounts(d, w, backlog[reg]);
    // Latency: one p50 point per minute with attempts, p99 never below p50.
    const p50 = d.latency.filter((p) => p.s === 'p50');
    assert.deepEqual(p50.map((p) => p.t).sort(), [...d.bars].sort());
    for (const p of p50) {
      const p99 = d.latency.find((q) => q.s === 'p99' && q.t === p.t);
      assert.ok(p99 && p99.v >= p.v && p.v >= 0);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, `console-charts-${reg}.png`), fullPage: true });
  }
});

test('overall: every registration summed, and the API agrees with the drawing', async () => {
  await open('charts?hours=1');
  const d = await drawn();
  const total = { success: want.orders.success + want.audit.success, retry: FLAKY + LATER, dead: BROKEN };
  checkCounts(d, total, LATER);
  assert.deepEqual((await stats()).totals, total);
  assert.deepEqual((await stats('orders')).totals, want.orders);
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-charts.png'), fullPage: true });
});

test('the registration picker and key 6 lead to the charts; registrations link to theirs', async () => {
  await page.goto(`${ek.url}/console/#/registrations`);
  await page.waitForFunction(() => document.body.dataset.route === '#/registrations');
  await page.click('a.chart-link[href="#/charts/audit"]');
  await page.waitForFunction(() => document.body.dataset.route === '#/charts/audit');
  await page.waitForSelector('#chart-deliveries');
  checkCounts(await drawn(), want.audit, 0);
  await page.selectOption('#chart-registration', 'orders');
  await page.waitForFunction(() => document.body.dataset.route.startsWith('#/charts/orders'));
  await page.waitForFunction(() => document.querySelector('#chart-registration')?.value === 'orders');
  checkCounts(await drawn(), want.orders, 0);
  await page.locator('#main').focus();
  await page.keyboard.press('1');
  await page.waitForFunction(() => document.body.dataset.route === '#/registrations');
  await page.keyboard.press('6');
  await page.waitForFunction(() => document.body.dataset.route === '#/charts');
  assert.deepEqual(problems, []);
});

test('an unknown registration or range is refused by the API, named', async () => {
  let r = await fetch(`${ek.url}/api/v1/stats/deliveries?registration=nope`, { headers: auth });
  assert.equal(r.status, 404);
  assert.match((await r.json()).error, /nope/);
  r = await fetch(`${ek.url}/api/v1/stats/deliveries?hours=500`, { headers: auth });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /hours/);
  r = await fetch(`${ek.url}/api/v1/stats/deliveries`);
  assert.equal(r.status, 401);
});
