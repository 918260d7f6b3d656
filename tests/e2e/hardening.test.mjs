// Defects found by trying to break evkit, one regression test each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Evkit, bin, sampleApp, storeEnv, stopNats } from './lib/evkit.mjs';

test('a second evkit on a port in use exits with "ADDR is in use" instead of sharing it', async () => {
  const first = await new Evkit().start();
  const port = new URL(first.url).port;
  const data = mkdtempSync(path.join(tmpdir(), 'evkit-second-'));
  try {
    const addr = `127.0.0.1:${port}`;
    const r = spawnSync(bin, ['serve', '--app', sampleApp, '--data', data, '--listen', addr],
      { encoding: 'utf8', timeout: 20000, env: { ...process.env, ...storeEnv(data), EVKIT_LOG_FORMAT: 'text' } });
    assert.notEqual(r.status, 0, 'the second daemon must not keep running');
    assert.equal(r.signal, null, 'it exits by itself');
    assert.match(r.stderr, new RegExp(`${addr.replace(/\./g, '\\.')} is in use`));
    // The first one still serves every request.
    for (let i = 0; i < 20; i += 1) assert.equal((await fetch(`${first.url}/healthz`)).status, 200);
  } finally {
    stopNats(data);
    rmSync(data, { recursive: true, force: true });
    await first.stop();
    first.cleanup();
  }
});

test('NUL bytes: a %00 in the path, a query or a binary-mode ce-id is a 400', async () => {
  const ek = await new Evkit({ env: { EVKIT_API_TOKENS: 'tok-nul-0123456789abcdef0123456789abcdef' } }).start();
  try {
    const path00 = await fetch(`${ek.url}/api/v1/web/evkit/ingestion/webhook%00.lua`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(path00.status, 400);
    assert.match(await path00.text(), /NUL byte/);
    const query00 = await fetch(`${ek.url}/api/v1/web/evkit/ingestion/webhook?x=a%00b`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(query00.status, 400);
    const ce = await fetch(`${ek.url}/api/v1/events`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer tok-nul-0123456789abcdef0123456789abcdef', 'content-type': 'application/json', 'ce-specversion': '1.0',
        'ce-id': 'a%00b', 'ce-source': 'backoffice', 'ce-type': 'be-observer.catalog_product_create',
      },
      body: '{"sku":"x"}',
    });
    assert.equal(ce.status, 400);
    assert.match(await ce.text(), /NUL/);
    assert.equal((await fetch(`${ek.url}/healthz`)).status, 200);
  } finally {
    await ek.stop();
    ek.cleanup();
  }
});
