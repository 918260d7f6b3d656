// The starter kit as users have it: a temporary copy of
// ../shared/starter-kit-2024 with `npm ci` from its own lock file, its
// ingestion package enabled as the kit's README says, and a .env as the only
// change. The npm install is done once per lock file in build/starter-kit-npm/
// (itself a copy of the kit's package.json and lock file) and linked into each
// copy, so the gcc and the sanitizer runs do not download it twice.
//
// Every Node process of the test (the kit's actions, npm and the onboarding
// script) runs through a `node` wrapper first on PATH that records each
// outgoing connection (net.Socket#connect) in a file: the test reads it to
// prove that nothing left 127.0.0.0/8 or ::1.
import { spawnSync } from 'node:child_process';
import {
  cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repo } from './evkit.mjs';

// ../shared/starter-kit-2024 beside the clone, or beside a folder above it (a
// worktree of the clone); EVKIT_STARTER_KIT names another copy.
function findKit() {
  if (process.env.EVKIT_STARTER_KIT) return path.resolve(process.env.EVKIT_STARTER_KIT);
  for (let dir = path.dirname(repo); ; dir = path.dirname(dir)) {
    const kit = path.join(dir, 'shared/starter-kit-2024');
    if (existsSync(path.join(kit, 'app.config.yaml'))) return kit;
    if (path.dirname(dir) === dir) return path.resolve(repo, '../shared/starter-kit-2024');
  }
}
export const KIT = findKit();
export const KIT_DATA = path.resolve(KIT, '../starter-kit-data');

function npmInstall() {
  const lock = readFileSync(path.join(KIT, 'package-lock.json'));
  const hash = createHash('sha256').update(lock).update(readFileSync(path.join(KIT, 'package.json'))).digest('hex').slice(0, 16);
  const dir = path.join(repo, 'build/starter-kit-npm', hash);
  if (existsSync(path.join(dir, '.done'))) return path.join(dir, 'node_modules');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(KIT, 'package.json'), path.join(dir, 'package.json'));
  cpSync(path.join(KIT, 'package-lock.json'), path.join(dir, 'package-lock.json'));
  const r = spawnSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: dir, encoding: 'utf8', timeout: 900000,
  });
  if (r.status !== 0) throw new Error(`npm ci of the starter kit failed:\n${r.stderr}`);
  writeFileSync(path.join(dir, '.done'), `${new Date().toISOString()}\n`);
  return path.join(dir, 'node_modules');
}

const recorder = (file) => `'use strict'
const net = require('net')
const fs = require('fs')
const file = ${JSON.stringify(file)}
const original = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  let o = args[0]
  if (Array.isArray(o)) o = o[0]
  const entry = typeof o === 'object' && o !== null
    ? { host: o.host ?? (o.path ? 'unix:' + o.path : 'localhost'), port: o.port ?? null }
    : { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: o }
  try { fs.appendFileSync(file, JSON.stringify({ pid: process.pid, ...entry }) + '\\n') } catch (e) {}
  return original.apply(this, args)
}
const dns = require('dns')
const lookup = dns.lookup
dns.lookup = function (host, ...rest) {
  try { fs.appendFileSync(file, JSON.stringify({ pid: process.pid, lookup: host }) + '\\n') } catch (e) {}
  return lookup.call(this, host, ...rest)
}
`;

// A kit copy ready to serve. env: the .env lines (object). Returns
// { dir, bin, connectLog, cleanup }.
export function prepareKit(env) {
  const nodeModules = npmInstall();
  const dir = mkdtempSync(path.join(tmpdir(), 'evkit-kit-'));
  cpSync(KIT, dir, { recursive: true, filter: (src) => !src.split(path.sep).includes('node_modules') });
  symlinkSync(nodeModules, path.join(dir, 'node_modules'), 'dir');
  // The kit's README: uncomment the ingestion package to receive back-office events.
  const cfgPath = path.join(dir, 'app.config.yaml');
  const cfg = readFileSync(cfgPath, 'utf8')
    .replace('    #  ingestion:\n    #    license: Apache-2.0\n    #    actions:\n    #      $include: ./actions/ingestion/actions.config.yaml\n',
      '      ingestion:\n        license: Apache-2.0\n        actions:\n          $include: ./actions/ingestion/actions.config.yaml\n');
  if (!cfg.includes('      ingestion:\n')) throw new Error('the kit\'s app.config.yaml no longer has the commented ingestion package');
  writeFileSync(cfgPath, cfg);
  writeFileSync(path.join(dir, '.env'), Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');

  // The recording node wrapper, first on PATH.
  const bin = mkdtempSync(path.join(tmpdir(), 'evkit-kit-bin-'));
  const realNode = process.execPath;
  const connectLog = path.join(bin, 'connects.jsonl');
  writeFileSync(path.join(bin, 'recorder.cjs'), recorder(connectLog));
  writeFileSync(path.join(bin, 'node'), `#!/bin/sh\nexec "${realNode}" --require "${bin}/recorder.cjs" "$@"\n`);
  chmodSync(path.join(bin, 'node'), 0o755);
  writeFileSync(connectLog, '');
  return {
    dir,
    bin,
    connectLog,
    env: { PATH: `${bin}:${process.env.PATH}` },
    connects() {
      return readFileSync(connectLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
      rmSync(bin, { recursive: true, force: true });
    },
  };
}

// The samples of the kit's event catalogue: [{entity, provider, code, sample}].
export function kitSamples() {
  const events = JSON.parse(readFileSync(path.join(KIT_DATA, 'events.json'), 'utf8'));
  const out = [];
  for (const [entity, providers] of Object.entries(events)) {
    for (const [provider, codes] of Object.entries(providers)) {
      for (const [code, meta] of Object.entries(codes)) out.push({ entity, provider, code, sample: meta.sampleEventTemplate });
    }
  }
  return out;
}

export const isLoopback = (host) => host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '::ffff:127.0.0.1'
  || /^unix:/.test(host);

// `node tests/e2e/lib/kit.mjs --install` (scripts/deps.sh): the kit's npm ci,
// once per lock file, before the tests need it.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--install') {
  if (!existsSync(path.join(KIT, 'package-lock.json'))) {
    process.stderr.write(`deps: no starter kit at ${KIT}; starter-kit.test.mjs will be skipped\n`);
  } else {
    process.stderr.write(`deps: the starter kit's packages in ${path.dirname(npmInstall())}\n`);
  }
}
