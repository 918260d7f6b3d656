// Helpers the e2e tests share: the control app (tests/e2e/fixtures/control)
// and its scenarios in temp folders, and its two web actions (ingest/publish
// to publish events, ctl/state to read and steer what actions record).
import { mkdtempSync, cpSync, copyFileSync, chmodSync, existsSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fixtures } from './evkit.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function chmodScripts(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) chmodScripts(p);
    else if (/\.(py|sh)$/.test(name)) chmodSync(p, 0o755);
  }
}

// The control app every e2e test runs on: tests/e2e/fixtures/control, whose
// app.config.yaml is the delivery scenario (used in place).
export const CONTROL = path.join(fixtures, 'control');

// Copies the control app to <root>/app in a fresh temp folder, so tests may
// edit it and put files beside it. With a scenario, scenarios/<scenario>.yaml
// becomes its app.config.yaml and scenarios/<scenario>.env (when there is
// one) its .env. Returns { root, app, cleanup }.
export function controlApp(scenario) {
  const root = mkdtempSync(path.join(tmpdir(), `evkit-fx-${scenario || 'control'}-`));
  const app = path.join(root, 'app');
  cpSync(CONTROL, app, { recursive: true });
  if (scenario) {
    const scenarios = path.join(app, 'scenarios');
    copyFileSync(path.join(scenarios, `${scenario}.yaml`), path.join(app, 'app.config.yaml'));
    const env = path.join(scenarios, `${scenario}.env`);
    if (existsSync(env)) copyFileSync(env, path.join(app, '.env'));
  }
  chmodScripts(app);
  return { root, app, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

// The control app's control surface on a running Evkit.
export class Ctl {
  constructor(ek) { this.ek = ek; }

  async call(fqn, body) {
    const r = await this.ek.post(fqn, body);
    if (r.status !== 200) throw new Error(`${fqn} answered ${r.status}: ${r.text}`);
    return r.json;
  }

  // Publishes one event to provider (default backoffice); returns {id, duplicate, position}.
  async publish(type, data, { provider, key } = {}) {
    const r = await this.call('ingest/publish', { type, data, provider, key });
    return r.published[0];
  }

  // Publishes events in order in one request; returns [{id, duplicate, position}].
  async publishMany(events) {
    const r = await this.call('ingest/publish', { events });
    return r.published;
  }

  // The values of keys (absent keys are missing from the object).
  async get(keys) {
    const r = await this.call('ctl/state', { op: 'get', keys });
    const v = r.values;
    return Array.isArray(v) ? {} : v;
  }

  async put(key, value) { await this.call('ctl/state', { op: 'put', key, value }); }

  async ping() {
    const r = await this.ek.post('ctl/state', { op: 'ping' });
    return r.status;
  }
}

// Activation records of action `name`, oldest first.
export function activations(ek, name) {
  const list = ek.cliJson(['activation', 'list', '--name', name, '--limit', '10000']);
  return list.sort((a, b) => a.start - b.start);
}

export function annotation(rec, key) {
  const a = (rec.annotations || []).find((x) => x.key === key);
  return a ? a.value : undefined;
}

export function registration(ek, name) {
  return ek.cliJson(['registration', 'list']).find((r) => r.name === name);
}

export function deadletters(ek, reg) {
  return ek.cliJson(['deadletter', 'list', ...(reg ? ['--registration', reg] : [])]);
}
