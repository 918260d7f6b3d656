// evkit exec -- COMMAND: an app's own scripts run against the running evkit
// (the starter kit's `npm run onboard` in starter-kit.test.mjs): in the app
// folder, with the app's .env under the process environment, evkit's URL
// and keys, and evkit's preload in NODE_OPTIONS, so a Node.js process's
// requests to the fixed Adobe hosts reach evkit; COMMAND's exit status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Evkit, bin, copyApp, fixtures } from './lib/evkit.mjs';

const TOKEN = 'exec-api-token-0123456789abcdef012345678';
const CLIENT = 'exec-client';
const SECRET = 'exec-client-secret-1';
let ek, app;

function exec(args, env = {}, data = ek.data) {
  const r = spawnSync(bin, ['exec', '--app', app, '--data', data, ...args], {
    encoding: 'utf8', timeout: 60000, env: { PATH: process.env.PATH, HOME: app, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A node script printing what it sees as JSON.
const nodeJson = (body, env) => {
  const r = exec(['node', '-e', `(async () => { ${body} })().then((v) => process.stdout.write(JSON.stringify(v)))`], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

before(async () => {
  app = copyApp(path.join(fixtures, 'nodejs'));
  writeFileSync(path.join(app, '.env'), [
    `EVKIT_API_TOKENS=${TOKEN}`, `OAUTH_CLIENT_ID=${CLIENT}`, `OAUTH_CLIENT_SECRET=${SECRET}`,
    'AIO_runtime_namespace=1234567-exectest', 'FROM_DOTENV=dotenv', 'BOTH=from-dotenv', '',
  ].join('\n'));
  ek = await new Evkit({ app }).start();
});

after(async () => {
  await ek?.stop();
  ek?.cleanup();
  rmSync(app, { recursive: true, force: true });
});

test('the command runs in the app folder with the .env under the environment, evkit\'s URL, keys and preload', () => {
  const seen = nodeJson(`return { cwd: process.cwd(), env: process.env }`, { BOTH: 'from-env', NODE_OPTIONS: '--no-warnings' });
  assert.equal(seen.cwd, realpathSync(app));
  assert.equal(seen.env.FROM_DOTENV, 'dotenv');
  assert.equal(seen.env.BOTH, 'from-env', 'the process environment wins over .env, as dotenv');
  assert.equal(seen.env.EVKIT_ADOBE_ENDPOINT, ek.url);
  assert.equal(seen.env.__OW_API_HOST, ek.url);
  assert.equal(seen.env.__OW_NAMESPACE, '1234567-exectest');
  assert.equal(seen.env.__OW_API_KEY, TOKEN);
  assert.equal(seen.env.EVKIT_STATE_KEY, TOKEN);
  const m = /^--no-warnings --require "([^"]+\/preload\.js)"$/.exec(seen.env.NODE_OPTIONS);
  assert.ok(m, seen.env.NODE_OPTIONS);
  assert.equal(existsSync(m[1]), false, 'the preload\'s private folder is gone once exec returns');
  // Set in the environment: left as they are.
  const own = nodeJson('return process.env.__OW_API_HOST', { __OW_API_HOST: 'http://127.0.0.1:9' });
  assert.equal(own, 'http://127.0.0.1:9');
});

test('the preload sends the fixed IMS host to evkit: a client-credentials token evkit accepts', async () => {
  const token = nodeJson(`
    const https = require('https')
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: process.env.OAUTH_CLIENT_ID,
      client_secret: process.env.OAUTH_CLIENT_SECRET, scope: 'AdobeID' }).toString()
    return await new Promise((resolve, reject) => {
      const req = https.request('https://ims-na1.adobelogin.com/ims/token/v3', { method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
        let t = ''; res.on('data', (d) => { t += d }); res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(t) }))
      })
      req.on('error', reject); req.end(body)
    })`);
  assert.equal(token.status, 200, JSON.stringify(token.body));
  const r = await fetch(`${ek.url}/api/v1/providers`, { headers: { authorization: `Bearer ${token.body.access_token}` } });
  assert.equal(r.status, 200, 'evkit accepts the token it issued');
});

test('the exit status is the command\'s: its code, 128+N for signal N, 127 when it cannot run; usage without one', () => {
  assert.equal(exec(['sh', '-c', 'exit 3']).code, 3);
  assert.equal(exec(['sh', '-c', 'kill -TERM $$']).code, 128 + 15);
  const missing = exec(['evkit-no-such-program']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /cannot run 'evkit-no-such-program': No such file or directory/);
  const usage = exec([]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: evkit exec/);
  // Options after COMMAND are COMMAND's.
  const echo = exec(['echo', '--app', 'x']);
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout, '--app x\n');
});

test('without a running evkit the command runs all the same, after a warning naming the URL', () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'evkit-exec-nodaemon-'));
  try {
    const r = exec(['sh', '-c', 'echo "$EVKIT_ADOBE_ENDPOINT"'], { EVKIT_LISTEN: '127.0.0.1:9' }, empty);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'http://127.0.0.1:9\n');
    assert.match(r.stderr, /warning: no evkit answers at http:\/\/127\.0\.0\.1:9/);
  } finally { rmSync(empty, { recursive: true, force: true }); }
});
