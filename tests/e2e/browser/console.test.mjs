// The web console in headless Chromium (Debian's chromium driven through
// playwright-core), against the real evkit on the control app's console scenario: signing
// in (and a wrong token refused), registrations, debug tracing filtered to
// errors with a response body read, an event's timeline, the journal,
// activations with logs, and a dead letter replayed until it succeeds.
// Every page is saved as a screenshot under tests/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Evkit, repo } from '../lib/evkit.mjs';
import { Ctl, controlApp, deadletters } from '../lib/fixture.mjs';

const CHROMIUM = process.env.EVKIT_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(repo, 'tests/artifacts');
const TOKEN = 'console-browser-token-5f1c-0123456789abc';
const FRAGILE = 'be-observer.customer_delete';     // registration fragile: 500 while frag.broken
const EXPIRING = 'be-observer.customer_group_create'; // registration expiring: 503 while dl.broken, short max age
const BULK = 'be-observer.customer_group_update';     // registration bulk: the same, for Replay all

let fx;
let ek;
let ctl;
let browser;
let page;
const problems = []; // script errors and CSP violations seen by the page

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs Debian's chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  fx = controlApp('console');
  ek = await new Evkit({ app: fx.app, env: { EVKIT_API_TOKENS: TOKEN } }).start();
  ctl = new Ctl(ek);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
});

after(async () => {
  if (browser) await browser.close();
  if (ek) { await ek.stop(); ek.cleanup(); }
  if (fx) fx.cleanup();
});

const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, `console-${name}.png`), fullPage: true });

// Opens a page and waits until the console has rendered it.
async function open(hash) {
  const url = `${ek.url}/console/#/${hash}`;
  if (page.url() === url) await page.reload(); // the same hash would not render again
  else await page.goto(url);
  await page.waitForFunction((h) => document.body.dataset.route === h, `#/${hash}`);
}

// Waits for a render after an action (a filter, a pager button).
async function rendered(action) {
  const n = await page.evaluate(() => Number(document.body.dataset.renders || 0));
  await action();
  await page.waitForFunction((k) => Number(document.body.dataset.renders || 0) > k, n);
}

// Refreshes (key r) until selector shows: for data that is still arriving.
async function refreshUntil(selector, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (!(await page.locator(selector).count())) {
    if (Date.now() > deadline) throw new Error(`${selector} did not show in ${timeout} ms`);
    await page.waitForTimeout(250);
    await rendered(async () => { await page.locator('#main').focus(); await page.keyboard.press('r'); });
  }
}

test('a wrong token is refused; the right one signs in', async () => {
  await page.goto(`${ek.url}/console`);
  await page.waitForSelector('#login:not([hidden])');
  assert.equal(new URL(page.url()).pathname, '/console/');
  await page.fill('#token', 'wrong-token');
  await page.click('#login-submit');
  const err = page.locator('#login-error');
  await err.waitFor({ state: 'visible' });
  assert.match(await err.textContent(), /That token is not valid/);
  assert.equal(await page.locator('#top').isVisible(), false, 'still signed out');
  await shot('login-refused');

  await page.fill('#token', TOKEN);
  await page.click('#login-submit');
  await page.waitForSelector('#top:not([hidden])');
  assert.equal(await page.locator('#login').isVisible(), false);
  assert.ok(!page.url().includes(TOKEN), 'the token is not in the URL');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'evkit_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session');
  assert.equal(await page.evaluate(() => JSON.stringify(sessionStorage) + JSON.stringify(localStorage)).then((s) => s.includes(TOKEN)), false);
  // A reload keeps the session.
  await page.reload();
  await page.waitForSelector('#top:not([hidden])');
});

test('registrations show their health; a click opens its debug tracing', async () => {
  // fragile fails twice, then succeeds: errors and a retried success.
  await ctl.put('frag.broken', true);
  const ev = await ctl.publish(FRAGILE, { id: 'browser-1' });
  await ek.waitFor(async () => ((await ctl.get([`frag.calls.${ev.id}`]))[`frag.calls.${ev.id}`] ?? 0) >= 2, { what: 'two failed attempts' });
  await ctl.put('frag.broken', false);
  await ek.waitFor(async () => (await ctl.get([`frag.ok.${ev.id}`]))[`frag.ok.${ev.id}`], { what: 'the retried success' });

  await open('registrations');
  const row = page.locator('tr.row', { hasText: 'fragile' }).first();
  await row.waitFor();
  assert.match(await row.locator('.badge').first().textContent(), /ACTIVE|UNSTABLE|DISABLED/);
  assert.equal(await page.locator('tr.row', { hasText: 'lua-flow' }).count(), 1);
  assert.equal(await page.locator('tr.row').count(), 4, 'the four registrations of the fixture');
  await shot('registrations');
  await row.locator('a', { hasText: 'fragile' }).click();
  await page.waitForFunction(() => document.body.dataset.route === '#/traces/fragile');
  await page.waitForSelector('tr.trace');
  assert.match(await page.locator('#main h1').textContent(), /Debug tracing: fragile/);
  await shot('traces');
});

test('debug tracing filtered to errors; a trace opens into its response body', async () => {
  await open('traces/fragile');
  const all = await page.locator('tr.trace').count();
  assert.ok(all >= 3, `at least 2 errors and 1 success, saw ${all}`);
  assert.ok(await page.locator('tr.trace.outcome-success').count() >= 1);

  await rendered(() => page.click('button[data-filter="Outcome:error"]'));
  assert.match(page.url(), /outcome=error/);
  const rows = page.locator('tr.trace');
  const n = await rows.count();
  assert.ok(n >= 2, `errors: ${n}`);
  assert.equal(await page.locator('tr.trace.outcome-success').count(), 0, 'only errors are listed');
  for (let i = 0; i < n; i++) assert.match(await rows.nth(i).locator('.badge').textContent(), /^500/);

  // Keyboard: focus the first row and open it with Enter.
  await rows.first().focus();
  await page.keyboard.press('Enter');
  const body = page.locator('tr.detail .response-body');
  await body.waitFor();
  assert.match(await body.textContent(), /fragile is broken/);
  assert.ok(await page.locator('tr.detail .response-body .j-k').count() > 0, 'the JSON is highlighted');
  assert.match(await page.locator('tr.detail .trace-detail').textContent(), /Attempt#\d · a retry was scheduled after it/);

  // Retried filter: the two errors were retried, the success was not.
  await rendered(() => page.click('button[data-filter="Retried:false"]'));
  assert.match(page.url(), /retried=false/);
  await page.waitForSelector('#main .empty');
  assert.match(await page.locator('#main .empty').textContent(), /No traces match these filters/);
  await rendered(() => page.click('button[data-filter="Outcome:all"]'));
  assert.ok(await page.locator('tr.trace.outcome-success').count() >= 1);
  assert.equal(await page.locator('tr.trace.outcome-error').count(), 0);
  await shot('trace-error');
});

test("an event's timeline shows its attempts in time order", async () => {
  await open('traces/fragile');
  await page.locator('tr.trace a[href^="#/events/"]').first().click();
  await page.waitForFunction(() => document.body.dataset.route.startsWith('#/events/'));
  await page.waitForSelector('.timeline li.attempt');
  const lines = await page.locator('.timeline li.attempt .line1').allTextContents();
  assert.ok(lines.length >= 3, lines.join('\n'));
  const attempts = (await page.locator('.timeline li.attempt .attempt-no').evaluateAll((els) => els.map((e) => e.dataset.attempt))).map(Number);
  assert.deepEqual(attempts, attempts.map((_, i) => i + 1), `attempts 1, 2, ... in order:\n${lines.join('\n')}`);
  const times = await page.locator('.timeline li.attempt time').evaluateAll((ts) => ts.map((t) => t.getAttribute('datetime')));
  assert.deepEqual(times, [...times].sort(), 'in time order');
  assert.match(lines[lines.length - 1], /success|200/);
  await shot('event-timeline');

  // The successful attempt's trace on a page of its own.
  await page.locator('.timeline li.attempt').last().locator('a', { hasText: 'trace' }).click();
  await page.waitForFunction(() => /^#\/trace\/\d+$/.test(document.body.dataset.route));
  assert.match(await page.locator('#main h1').textContent(), /^Trace \d+$/);
  assert.match(await page.locator('.response-body').textContent(), /"id"/);
  assert.match(await page.locator('section[aria-label="Response"] .badge').textContent(), /^200/);
});

test('the journal lists events by position; one opens into its CloudEvent', async () => {
  await open('journal');
  await page.waitForSelector('tr.row');
  const positions = (await page.locator('tr.row td:first-child').allTextContents()).map((t) => Number(t.replace(/\D/g, '')));
  assert.ok(positions.length >= 1);
  assert.deepEqual(positions, [...positions].sort((a, b) => b - a), 'newest first');
  await page.locator('tr.row td').first().click();
  await page.waitForSelector('tr.detail pre.json');
  assert.match(await page.locator('tr.detail pre.json').textContent(), /"specversion": "1.0"/);
  await page.fill('#journal-type', FRAGILE);
  await rendered(() => page.press('#journal-type', 'Enter'));
  assert.match(page.url(), /type=/);
  const types = await page.locator('tr.row td:nth-child(4)').allTextContents();
  assert.ok(types.length >= 1 && types.every((t) => t === FRAGILE), types.join(','));
  // By provider: commerce has no such event, backoffice has them all.
  await rendered(() => page.selectOption('#journal-provider', 'commerce'));
  assert.match(await page.locator('#main .empty').textContent(), /No events here/);
  await rendered(() => page.selectOption('#journal-provider', 'backoffice'));
  const providers = await page.locator('tr.row td:nth-child(3)').allTextContents();
  assert.ok(providers.length === types.length && providers.every((p) => p === 'backoffice'), providers.join(','));
  await shot('journal');

  // Auto-refresh (key a) brings in a new event without a reload.
  await page.locator('#main').focus();
  await page.keyboard.press('a');
  assert.equal(await page.getAttribute('#autorefresh', 'aria-pressed'), 'true');
  const before = types.length;
  await ctl.publish(FRAGILE, { id: 'browser-auto' });
  await page.waitForFunction((n) => document.querySelectorAll('#main tr.row').length > n, before, { timeout: 12000 });
  await page.click('#autorefresh');
  assert.equal(await page.getAttribute('#autorefresh', 'aria-pressed'), 'false');
});

test('activations list; one opens with its logs and result', async () => {
  const ev = await ctl.publish('be-observer.catalog_product_create', { sku: 'BROWSER-1', name: 'Browser product' });
  await open('activations?name=flow/consumer');
  await refreshUntil('tr.row:has-text("flow/consumer")');
  const row = page.locator('tr.row', { hasText: 'flow/consumer' }).first();
  await row.locator('td').first().click();
  await page.waitForSelector('tr.detail pre.logs');
  assert.match(await page.locator('tr.detail pre.logs').textContent(), new RegExp(`consumer handling ${ev.id} attempt 1`));
  await shot('activations');
  await row.locator('a[href^="#/activations/"]').last().click();
  await page.waitForFunction(() => /^#\/activations\/[0-9a-f]{32}$/.test(document.body.dataset.route));
  await page.waitForSelector('section[aria-label="Result"] pre');
  assert.match(await page.locator('#main h1').textContent(), /Activation/);
  assert.match(await page.locator('.kv').textContent(), /flow\/consumer/);
  assert.match(await page.locator('section[aria-label="Logs"]').textContent(), /consumer info line/);
  assert.match(await page.locator('section[aria-label="Result"]').textContent(), /"statusCode": 200/);
  await shot('activation');

  // Paging: more than a page of activations (each ping is one), older ones behind Older.
  for (let i = 0; i < 55; i++) assert.equal(await ctl.ping(), 200);
  await open('activations');
  await page.waitForSelector('#older');
  const first = await page.locator('tr.row td:last-child a').evaluateAll((as) => as.map((a) => a.title));
  assert.equal(first.length, 50);
  await rendered(() => page.click('#older'));
  assert.match(page.url(), /skip=50/);
  assert.match(await page.locator('.pager .muted').textContent(), /^51–/);
  const second = await page.locator('tr.row td:last-child a').evaluateAll((as) => as.map((a) => a.title));
  assert.ok(second.length >= 1 && second.every((id) => !first.includes(id)), 'the next page holds other activations');
});

test('a dead letter is replayed from the console and succeeds', async () => {
  await ctl.put('dl.broken', true);
  const ev = await ctl.publish(EXPIRING, { id: 'browser-dead' });
  await ek.waitFor(() => deadletters(ek, 'expiring').some((d) => (d.event_id ?? d.eventId) === ev.id), { what: 'the dead letter' });
  await ctl.put('dl.broken', false);

  await open('deadletters?registration=expiring');
  const row = page.locator('tr.deadletter', { hasText: ev.id.slice(0, 8) });
  await row.waitFor();
  await shot('deadletters');
  await row.locator('button.replay').click();
  const status = row.locator('.replay-status');
  await page.waitForFunction((el) => /Delivered/.test(el.textContent), await status.elementHandle(), { timeout: 20000 });
  assert.match(await status.textContent(), /Delivered on attempt #\d+/);
  await shot('deadletter-replayed');
  const ok = await ctl.get([`dl.ok.${ev.id}`]);
  assert.ok(ok[`dl.ok.${ev.id}`], 'the consumer took it');
  assert.ok(!deadletters(ek, 'expiring').some((d) => (d.event_id ?? d.eventId) === ev.id), 'no longer a dead letter');
});

test('Replay all replays every dead letter of a registration', async () => {
  await ctl.put('dl.broken', true);
  const evs = [await ctl.publish(BULK, { id: 'browser-all-1' }), await ctl.publish(BULK, { id: 'browser-all-2' })];
  const dead = () => deadletters(ek, 'bulk').filter((d) => evs.some((e) => e.id === (d.event_id ?? d.eventId)));
  await ek.waitFor(() => dead().length === 2, { what: 'two dead letters' });
  await ctl.put('dl.broken', false);

  await open('deadletters?registration=bulk');
  await page.waitForSelector('#replay-all');
  assert.match(await page.locator('#replay-all').textContent(), /Replay all \(2\)/);
  await page.click('#replay-all');
  await page.waitForSelector('.flash');
  assert.match(await page.locator('.flash').textContent(), /Replayed 2 dead letters of bulk/);
  await ek.waitFor(async () => {
    const ok = await ctl.get(evs.map((e) => `dl.ok.${e.id}`));
    return evs.every((e) => ok[`dl.ok.${e.id}`]);
  }, { what: 'both delivered' });
  await page.waitForSelector('#main .empty', { timeout: 10000 });
  assert.match(await page.locator('#main .empty').textContent(), /No dead letters/);
  await shot('deadletters-replayed-all');
});

test('replay of a position range to one registration from its debug tracing page', async () => {
  const LUA = 'be-observer.catalog_product_create';
  const evs = [];
  for (let i = 1; i <= 3; i++) evs.push(await ctl.publish(LUA, { sku: `REPLAY-${i}` }));
  const tracesOf = async (ids) => {
    const r = await fetch(`${ek.url}/api/v1/traces?registration=lua-flow&limit=200`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return (await r.json()).traces.filter((t) => ids.includes(t.eventId));
  };
  await ek.waitFor(async () => (await tracesOf(evs.map((e) => e.id))).length === 3, { what: 'three first deliveries' });

  await open('traces/lua-flow');
  await page.click('details.replay summary');
  await page.fill('#replay-from', String(evs[0].position));
  await page.fill('#replay-to', String(evs[2].position));
  await page.click('#replay-go');
  await page.waitForFunction(() => /replayed/.test(document.querySelector('#replay-result').textContent));
  assert.equal(await page.locator('#replay-result').textContent(),
    `2 events replayed after position ${evs[0].position} up to ${evs[2].position}`);
  await ek.waitFor(async () => (await tracesOf([evs[1].id, evs[2].id])).length === 4, { what: 'the two replayed' });
  assert.equal((await tracesOf([evs[0].id])).length, 1, 'the first is outside the range');
  await shot('traces-replay');
  // A bound that is neither a position nor a time is refused in words.
  await page.fill('#replay-from', 'yesterday');
  await page.click('#replay-go');
  await page.waitForFunction(() => /must be/.test(document.querySelector('#replay-result').textContent));
  assert.match(await page.locator('#replay-result').textContent(), /"from" must be an ISO 8601 time/);
});

test('an event opens the trace view of its W3C trace: web action, event, delivery, consumer, handler', async () => {
  const trace = 'b'.repeat(8) + Date.now().toString(16).padStart(24, '0').slice(-24);
  const r = await ek.post('ingest/publish', { type: 'be-observer.catalog_product_create', data: { sku: 'TRACE-1' } },
    { traceparent: `00-${trace}-00f067aa0ba902b7-01` });
  assert.equal(r.status, 200, r.text);
  const id = r.json.published[0].id;
  const spansOf = async () => (await (await fetch(`${ek.url}/api/v1/trace-context/${trace}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()).spans || [];
  await ek.waitFor(async () => (await spansOf()).length >= 5, { what: 'the spans of the trace' });

  await open(`events/${id}`);
  await page.waitForSelector('a.trace-link');
  assert.equal(await page.locator('a.trace-link').textContent(), trace);
  await page.click('a.trace-link');
  await page.waitForFunction((t) => document.body.dataset.route === `#/tracectx/${t}`, trace);
  const kinds = await page.locator('li.span').evaluateAll((els) => els.map((e) => e.dataset.kind));
  assert.deepEqual(kinds, ['activation', 'event', 'delivery', 'activation', 'activation'], 'one chain, each under the span it continues');
  const nested = await page.locator('li.span-activation li.span-event li.span-delivery li.span-activation li.span-activation').count();
  assert.equal(nested, 1, 'the handler sits under the consumer, under the attempt, under the event, under the web action');
  assert.match(await page.locator('li.span-event a').first().textContent(), /be-observer.catalog_product_create/);
  await shot('trace-context');
});

test('no script error or CSP violation on any page; signing out', async () => {
  await open('registrations');
  await page.waitForSelector('tr.row');
  await shot('registrations-after');
  await page.click('#signout');
  await page.waitForSelector('#login:not([hidden])');
  await page.goto(`${ek.url}/console/#/registrations`);
  await page.waitForSelector('#login:not([hidden])');
  assert.deepEqual(problems, []);
});
