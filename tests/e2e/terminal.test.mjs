// For people at a terminal. The CLI's progress bar: drawn on a terminal (the
// CLI runs under script(1), which gives it a pty), silent when stderr is a
// pipe, off with EVKIT_PROGRESS=never; exercised by `evkit event replay` and
// `evkit deadletter replay --registration R` on the control app. And
// text logs (--log-format text, EVKIT_LOG_FORMAT).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Evkit, bin, storeEnv, stopNats } from './lib/evkit.mjs';
import { Ctl, CONTROL, deadletters } from './lib/fixture.mjs';

const APP = CONTROL;
const T = { replayable: 'be-observer.customer_group_update', expiring: 'be-observer.customer_group_create' };

let ek;
let ctl;
before(async () => {
  ek = await new Evkit({ app: APP, env: { EVKIT_API_TOKENS: 'e2e-progress-0123456789abcdef0123456789a' } }).start();
  ctl = new Ctl(ek);
});
after(async () => { if (ek) { await ek.stop(); ek.cleanup(); } });

const quote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

// Runs the CLI on instance e's journal (its folder and store) with a pty as its terminal;
// returns what the terminal showed.
function onTerminal(args, env = {}, e = ek) {
  const cmd = [bin, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-q', '-e', '-c', cmd, '/dev/null'], {
    env: { ...e.env, EVKIT_APP: e.app, EVKIT_DATA: e.data, COLUMNS: '100', ...env },
    encoding: 'utf8', timeout: 60000,
  });
  return { code: r.status, out: r.stdout };
}

test('event replay draws a progress bar on a terminal and nothing on a pipe', async () => {
  const N = 25;
  await ctl.publishMany(Array.from({ length: N }, (_, i) => ({ type: T.replayable, data: { n: i } })));
  const tty = onTerminal(['event', 'replay', '--registration', 'replayable', '--since', '0']);
  assert.equal(tty.code, 0, tty.out);
  assert.match(tty.out, /\rreplaying events \[#+\] 25\/25 100% {2}[\d.]+\/s {2}in \d+:\d\d\x1b\[K/);
  assert.match(tty.out, /replaying 25 event\(s\) after position 0 to registration replayable/);
  // The first draw comes before any work is done: the bar starts empty.
  assert.match(tty.out, /\rreplaying events \[-+\] 0\/25 {3}0%/);

  const piped = ek.cli(['event', 'replay', '--registration', 'replayable', '--since', '0']);
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stderr, '', 'no progress output on a pipe');
  assert.match(piped.stdout, /^replaying 25 event\(s\) after position 0 to registration replayable\n$/);

  const off = onTerminal(['event', 'replay', '--registration', 'replayable', '--since', '0'], { EVKIT_PROGRESS: 'never' });
  assert.equal(off.code, 0, off.out);
  assert.doesNotMatch(off.out, /replaying events|\x1b\[K/);
});

// A fresh daemon holding three dead letters of `expiring` (9 failed attempts:
// under the 10 that could disable the registration), fixed before fn runs.
async function withDeadLetters(fn) {
  const e = await new Evkit({ app: APP, env: { EVKIT_API_TOKENS: 'e2e-progress-0123456789abcdef0123456789a' } }).start();
  try {
    const c = new Ctl(e);
    await c.put('dl.broken', true);
    await c.publishMany([1, 2, 3].map((n) => ({ type: T.expiring, data: { n } })));
    await e.waitFor(() => deadletters(e, 'expiring').length === 3, { what: 'three dead letters' });
    await c.put('dl.broken', false);
    await fn(e);
    await e.waitFor(() => deadletters(e, 'expiring').length === 0, { what: 'all delivered' });
  } finally {
    await e.stop();
    e.cleanup();
  }
}

test('bulk dead-letter replay draws its progress on a terminal', async () => {
  await withDeadLetters(async (e) => {
    const tty = onTerminal(['deadletter', 'replay', '--registration', 'expiring'], {}, e);
    assert.equal(tty.code, 0, tty.out);
    assert.match(tty.out, /\rreplaying dead letters \[#+\] 3\/3 100%/);
    assert.match(tty.out, /3 dead letter\(s\) queued for delivery again/);
  });
});

test('bulk dead-letter replay is silent on a pipe', async () => {
  await withDeadLetters(async (e) => {
    const piped = e.cli(['deadletter', 'replay', '--registration', 'expiring']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stderr, '');
    assert.equal(piped.stdout, '3 dead letter(s) queued for delivery again\n');
  });
});

// Starts `evkit serve` with extra args/env until it logs "evkit serving";
// returns its stderr so far, then stops it.
async function serveLog(args, env = {}) {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const data = mkdtempSync(path.join(tmpdir(), 'evkit-logfmt-'));
  const p = spawn(bin, ['serve', '--app', APP, '--data', data, '--listen', '127.0.0.1:0', ...args],
    { env: { ...process.env, EVKIT_LOG_LEVEL: 'info', ...storeEnv(data), ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => p.on('exit', r));
  const deadline = Date.now() + 15000;
  while (!/evkit serving/.test(err) && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  p.kill('SIGTERM');
  await exited;
  stopNats(data);
  rmSync(data, { recursive: true, force: true });
  return err;
}

test('--log-format text and EVKIT_LOG_FORMAT=text: one readable line per entry, no color on a pipe', async () => {
  for (const [args, env] of [[['--log-format', 'text'], {}], [[], { EVKIT_LOG_FORMAT: 'text' }]]) {
    const err = await serveLog(args, env);
    const lines = err.trim().split('\n');
    const serving = lines.find((l) => / evkit serving /.test(l));
    assert.ok(serving, err);
    assert.match(serving, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  evkit serving version=\S+ url=http:\/\/127\.0\.0\.1:\d+ /);
    assert.match(lines.at(-1), /INFO  shutting down signal=SIGTERM$/);
    for (const l of lines) {
      assert.ok(!l.startsWith('{'), `not JSON: ${l}`);
      assert.ok(!l.includes('\x1b'), 'no color codes when stderr is not a terminal');
    }
  }
  // JSON stays the default.
  const json = await serveLog([]);
  assert.ok(json.split('\n').filter(Boolean).every((l) => JSON.parse(l).message), json);
});

test('a bad log format is a usage error (flag) or a warning (environment)', () => {
  const bad = spawnSync(bin, ['event', 'list', '--log-format', 'xml'], { env: { ...ek.env, EVKIT_APP: ek.app, EVKIT_DATA: ek.data }, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--log-format 'xml': json or text/);
  const env = spawnSync(bin, ['event', 'list', '--limit', '1'], { env: { ...ek.env, EVKIT_APP: ek.app, EVKIT_DATA: ek.data, EVKIT_LOG_FORMAT: 'yaml' }, encoding: 'utf8' });
  assert.equal(env.status, 0);
  assert.match(env.stderr, /EVKIT_LOG_FORMAT 'yaml' is not json or text/);
});
