// Settings: one table, parsed at start. A bad value stops evkit serve with
// the variable's name and accepted forms (from the environment or the app's
// .env alike); evkit config prints the effective settings with where each
// comes from, secrets hidden.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bin, copyApp, Evkit } from './lib/evkit.mjs';

function run(args, env = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVKIT_') && k !== 'AIO_runtime_namespace'));
  return spawnSync(bin, args, { env: { ...clean, ...env }, encoding: 'utf8', timeout: 30000 });
}

test('a bad setting stops evkit serve, naming the variable and its accepted forms', () => {
  const data = mkdtempSync(path.join(tmpdir(), 'evkit-cfg-'));
  const serve = (env, app) => run(['serve', '--app', app ?? copyApp(), '--data', data, '--listen', '127.0.0.1:0'], env);
  try {
    let r = serve({ EVKIT_ACTIVATION_RETENTION: 'a week' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /EVKIT_ACTIVATION_RETENTION 'a week' is not a positive duration such as 7d/);
    r = serve({ EVKIT_WORKERS: 'many' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /EVKIT_WORKERS 'many' is not a whole number from 1 to 256/);
    const app = copyApp();
    writeFileSync(path.join(app, '.env'), 'EVKIT_TRACE_RETENTION=forever\n');
    r = serve({}, app);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /EVKIT_TRACE_RETENTION 'forever' is not a duration .*\(set in the app's \.env\)/);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('evkit config prints each setting with its value and source, secrets hidden', () => {
  const app = copyApp();
  writeFileSync(path.join(app, '.env'), 'EVKIT_TRACE_KEEP=7\nEVKIT_METRICS_TOKEN=scrape-secret\nEVKIT_JOURNAL_RETENTION=1d\n');
  const r = run(['config', '--app', app, '--json'], { EVKIT_API_TOKENS: 'api-secret', EVKIT_JOURNAL_RETENTION: '2h' });
  assert.equal(r.status, 0, r.stderr);
  const all = Object.fromEntries(JSON.parse(r.stdout).map((s) => [s.name, s]));
  assert.deepEqual(all.EVKIT_TRACE_KEEP, { name: 'EVKIT_TRACE_KEEP', value: '7', source: '.env' });
  assert.deepEqual(all.EVKIT_JOURNAL_RETENTION, { name: 'EVKIT_JOURNAL_RETENTION', value: '2h', source: 'env' });
  assert.deepEqual(all.EVKIT_ASYNC_MAX, { name: 'EVKIT_ASYNC_MAX', value: '100', source: 'default' });
  assert.equal(all.EVKIT_API_TOKENS.value, '<hidden>');
  assert.equal(all.EVKIT_METRICS_TOKEN.value, '<hidden>');
  assert.doesNotMatch(r.stdout, /secret/);
  const text = run(['config', '--app', app]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^EVKIT_TRACE_KEEP\s+\.env\s+7$/m);
  const bad = run(['config', '--app', app], { EVKIT_PUBLISH_RATE: 'fast' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /EVKIT_PUBLISH_RATE 'fast' is not COUNT\/DURATION such as 3000\/5s/);
});

test('the settings reach the subsystems: a retention and the namespace from .env', async () => {
  const app = copyApp();
  writeFileSync(path.join(app, '.env'), 'AIO_runtime_namespace=from-dotenv\n');
  const e = await new Evkit({ app }).start();
  try {
    const line = e.logs().find((l) => l.message === 'evkit serving');
    assert.equal(line.namespace, 'from-dotenv');
    const r = await fetch(`${e.url}/api/v1/web/from-dotenv/ingestion/webhook`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.notEqual(r.status, 404);
  } finally {
    await e.stop();
  }
});
