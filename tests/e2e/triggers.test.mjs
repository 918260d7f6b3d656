// Scheduled triggers and rules of the OpenWhisk manifest: an alarm trigger
// with a per-second cron fires on schedule across a restart without a slot
// fired twice and with the slots missed while stopped made up by one fire;
// stopDate ends a schedule; a fire interrupted by a crash runs again with
// its activation id; triggers fire through the namespaces API; bad
// declarations are refused by `evkit check`; `evkit trigger` lists and fires.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, rmSync } from 'node:fs';
import { Evkit, fixtures, copyApp } from './lib/evkit.mjs';
import { annotation, sleep } from './lib/fixture.mjs';

const token = 'trigger-token-0123456789abcdef0123456789';
const auth = { authorization: `Bearer ${token}` };
const cleanups = [];
after(() => { for (const f of cleanups) f(); });

function app(config) {
  const dir = copyApp(path.join(fixtures, 'flows'));
  writeFileSync(path.join(dir, 'app.config.yaml'), config);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function api(ek, p, init = {}) {
  const r = await fetch(`${ek.url}/api/v1/namespaces/_/${p}`, { ...init, headers: { ...auth, ...init.headers } });
  return { status: r.status, json: await r.json().catch(() => null) };
}

// Full activation records of name, oldest first.
async function records(ek, name) {
  const { json } = await api(ek, `activations?name=${name}&docs=true&limit=200`);
  return json.sort((a, b) => a.start - b.start);
}

const scheduled = (rec) => Date.parse(annotation(rec, 'scheduled'));

const config = (stopDate) => `application:
  runtimeManifest:
    packages:
      steps:
        actions:
          record:
            function: actions/steps/record.lua
            runtime: lua
          double:
            function: actions/steps/double.lua
            runtime: lua
        triggers:
          everySecond:
            feed: /whisk.system/alarms/alarm
            inputs:
              cron: '* * * * * *'
              trigger_payload: {source: alarm}
              greeting: hello
          window:
            feed: alarm
            inputs:
              cron: '* * * * * *'
              stopDate: '${stopDate}'
          manual:
        rules:
          onSecond:
            trigger: everySecond
            action: record
          onWindow:
            trigger: window
            action: /_/steps/double
          onManual:
            trigger: manual
            action: steps/double
`;

test('a per-second cron trigger fires on schedule across a restart, no slot twice', async () => {
  // Far enough ahead that a slow start on a loaded machine still sees some fires.
  const stop = new Date(Date.now() + 6000);
  const dir = app(config(stop.toISOString()));
  const ek = await new Evkit({ app: dir, env: { EVKIT_API_TOKENS: token } }).start();
  cleanups.push(() => ek.cleanup());
  try {
    const before = await ek.waitFor(async () => {
      const l = await records(ek, 'everySecond');
      return l.length >= 3 ? l : null;
    }, { what: 'three fires', timeout: 20000 });
    for (const rec of before) {
      assert.equal(annotation(rec, 'kind'), 'trigger');
      const slot = scheduled(rec);
      assert.equal(slot % 1000, 0, 'slots are whole seconds');
      // On schedule: the fire starts at its slot (generous bound on a loaded machine).
      assert.ok(rec.start >= slot && rec.start - slot < 1500, `fire ${rec.start - slot} ms after its slot`);
      assert.deepEqual(rec.response.result, { greeting: 'hello', source: 'alarm' });
      // The rule's action: one activation caused by the fire, with its params.
      const [line] = rec.logs.map((l) => JSON.parse(l));
      assert.equal(line.rule, 'evkit/onSecond');
      assert.equal(line.success, true);
      const { json: act } = await api(ek, `activations/${line.activationId}`);
      assert.equal(act.cause, rec.activationId);
      assert.equal(act.response.result.source, 'alarm');
    }
    const { json: trig } = await api(ek, 'triggers/everySecond');
    assert.equal(trig.cron, '* * * * * *');
    assert.ok(Date.parse(trig.nextFire) > Date.parse(trig.lastFire));
    await ek.stop();
    const stoppedAt = Date.now();
    await sleep(3500);
    await ek.start();
    const restartedAt = Date.now();
    const all = await ek.waitFor(async () => {
      const l = await records(ek, 'everySecond');
      return l.filter((r) => r.start >= restartedAt - 1000).length >= 3 ? l : null;
    }, { what: 'fires after the restart', timeout: 20000 });
    const slots = all.map(scheduled);
    assert.equal(new Set(slots).size, slots.length, 'no slot fired twice');
    for (let i = 1; i < all.length; i++) {
      assert.ok(slots[i] > slots[i - 1]);
      // Every slot passed over is counted by the next fire.
      assert.equal(annotation(all[i], 'missed'), (slots[i] - slots[i - 1]) / 1000 - 1);
    }
    const first = all.find((r) => scheduled(r) > stoppedAt);
    assert.ok(annotation(first, 'missed') >= 2, `one fire made up the downtime (missed ${annotation(first, 'missed')})`);
    assert.ok(first.start - restartedAt < 1500, 'the catch-up fire comes at once');
    // The rule ran once per fire: the action's own count agrees.
    const { json: fires } = await api(ek, 'state/fires');
    assert.equal(fires.value, all.length);
    // stopDate ended the window trigger's schedule.
    const win = await records(ek, 'window');
    assert.ok(win.length >= 1);
    for (const rec of win) assert.ok(scheduled(rec) <= stop.getTime());
    const { json: w } = await api(ek, 'triggers/window');
    assert.equal(w.nextFire, null);
    // Fired through the namespaces API, with params over the trigger's.
    const fired = await api(ek, 'triggers/manual', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n": 21}' });
    assert.equal(fired.status, 202);
    const [man] = (await records(ek, 'manual')).filter((r) => r.activationId === fired.json.activationId);
    const line = JSON.parse(man.logs[0]);
    const { json: act } = await api(ek, `activations/${line.activationId}`);
    assert.equal(act.cause, fired.json.activationId);
    assert.equal(act.response.result.n, 42);
    assert.equal((await api(ek, 'triggers/nope', { method: 'POST' })).status, 404);
    const { json: rules } = await api(ek, 'rules');
    assert.deepEqual(rules.map((r) => r.name).sort(), ['onManual', 'onSecond', 'onWindow']);
    // The command line: the same list, and a fire run in the CLI's own process.
    const listed = ek.cliJson(['trigger', 'list']);
    assert.deepEqual(listed.map((t) => t.name), ['everySecond', 'window', 'manual']);
    assert.equal(listed[0].cron, '* * * * * *');
    assert.deepEqual(listed[2].rules, ['onManual']);
    const r = ek.cli(['trigger', 'fire', 'manual', '-p', 'n', '5']);
    assert.equal(r.code, 0, r.stderr);
    const cliRec = JSON.parse(r.stdout);
    assert.equal(cliRec.name, 'manual');
    const { json: cliAct } = await api(ek, `activations/${JSON.parse(cliRec.logs[0]).activationId}`);
    assert.equal(cliAct.cause, cliRec.activationId);
    assert.equal(cliAct.response.result.n, 10);
    assert.equal(ek.cli(['trigger', 'fire', 'nope']).code, 1);
  } finally {
    await ek.stop();
  }
});

test('a fire interrupted by a crash runs again at start, with the same activation id', async () => {
  // Ahead of a slow start: a date already past when evkit first sees the trigger never fires.
  const date = new Date(Math.ceil((Date.now() + 8000) / 1000) * 1000);
  const dir = app(`application:
  runtimeManifest:
    packages:
      steps:
        actions:
          nap:
            function: actions/steps/nap.lua
            runtime: lua
        triggers:
          soon:
            feed: /whisk.system/alarms/once
            inputs:
              date: '${date.toISOString()}'
        rules:
          napSoon:
            trigger: soon
            action: nap
`);
  writeFileSync(path.join(dir, 'actions/steps/nap.lua'), `
function main(params)
  local n = (evkit.state.get('nap.runs') or 0) + 1
  evkit.state.put('nap.runs', n)
  if n == 1 then
    local t0 = os.clock()
    while os.clock() - t0 < 20 do end
  end
  return { run = n }
end
`);
  const ek = await new Evkit({ app: dir, env: { EVKIT_API_TOKENS: token } }).start();
  cleanups.push(() => ek.cleanup());
  try {
    await ek.waitFor(async () => (await api(ek, 'state/nap.runs')).status === 200, { what: 'the fire to start', timeout: 25000 });
    const { json: trig } = await api(ek, 'triggers/soon');
    assert.equal(Date.parse(trig.lastFire), date.getTime());
    const claimed = trig.lastActivationId;
    await ek.kill9();
    await ek.start();
    const [rec] = await ek.waitFor(async () => {
      const l = await records(ek, 'soon');
      return l.length ? l : null;
    }, { what: 'the recovered fire' });
    assert.equal(rec.activationId, claimed);
    assert.equal(annotation(rec, 'recovered'), true);
    assert.equal(scheduled(rec), date.getTime());
    const line = JSON.parse(rec.logs[0]);
    const { json: act } = await api(ek, `activations/${line.activationId}`);
    assert.equal(act.cause, claimed);
    assert.equal(act.response.result.run, 2);
    // A once trigger fires once: nothing more comes.
    await sleep(1500);
    assert.equal((await records(ek, 'soon')).length, 1);
    assert.equal((await api(ek, 'triggers/soon')).json.nextFire, null);
  } finally {
    await ek.stop();
  }
});

test('evkit check refuses bad schedules, feeds and rules, naming them', () => {
  const dir = app(`application:
  runtimeManifest:
    packages:
      p:
        actions:
          a:
            function: actions/steps/inc.lua
            runtime: lua
        triggers:
          badCron:
            feed: /whisk.system/alarms/alarm
            inputs: {cron: '61 * * * *'}
          noCron:
            feed: alarm
          badFeed:
            feed: /whisk.system/messaging/messageHubFeed
          badDates:
            feed: /whisk.system/alarms/interval
            inputs: {minutes: 5, startDate: '2026-12-06T10:00:00Z', stopDate: '2026-12-06T09:00:00Z'}
          badZone:
            feed: alarm
            inputs: {cron: '* * * * *', timezone: 'Europe/Paris', maxTriggers: 3}
        rules:
          r1: {trigger: missing, action: a}
          r2: {trigger: badCron, action: nope}
`);
  const ek = new Evkit({ app: dir });
  const r = ek.cli(['check', '--app', dir]);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 1, out);
  assert.match(out, /cron '61 \* \* \* \*' of trigger 'badCron': minutes field: '61' is not valid/);
  assert.match(out, /trigger 'noCron' \(alarm feed\) needs input 'cron'/);
  assert.match(out, /feed '\/whisk.system\/messaging\/messageHubFeed' of trigger 'badFeed' is not supported/);
  assert.match(out, /stopDate of trigger 'badDates' must be after its startDate/);
  assert.match(out, /timezone 'Europe\/Paris' of trigger 'badZone'/);
  assert.match(out, /warning: input 'maxTriggers' of trigger 'badZone' is not supported by evkit; ignored/);
  assert.match(out, /rule 'r1' names trigger 'missing', which is not declared/);
  assert.match(out, /rule 'r2' names action 'nope', which is not an action of this app/);
});
