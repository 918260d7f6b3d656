// evkit console: a single-page app on hash routes, plain DOM, no framework
// and no build step. Every API call goes through api(), which sends the
// session's CSRF token; the session itself is an HttpOnly cookie this script
// cannot read. Text from the server only ever reaches the page as text nodes.
'use strict';

const REFRESH_MS = 5000;
const PAGE = 50;
const STATUS_NAMES = { 601: 'unexpected error', 602: 'connection failure', 604: 'timeout' };

const state = {
  csrf: null,
  auto: localStorage.getItem('evkit.autorefresh') === 'on',
  timer: null,
  seq: 0,           // bumps on every render: answers of older renders are dropped
  lastLoad: 0,
  open: new Map(),  // per page: the ids of expanded rows, kept across refreshes
};

// ---------- DOM helpers ----------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// ---------- formatting ----------

function toMs(t) {
  if (t === null || t === undefined || t === '') return null;
  if (typeof t === 'number') return t < 1e12 ? t * 1000 : t;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

function relative(ms) {
  const d = Date.now() - ms;
  const a = Math.abs(d);
  const fmt = (n, unit) => (d >= 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`);
  if (a < 5000) return d >= 0 ? 'just now' : 'in a moment';
  if (a < 60000) return fmt(Math.round(a / 1000), 's');
  if (a < 3600000) return fmt(Math.round(a / 60000), 'min');
  if (a < 86400000) return fmt(Math.round(a / 3600000), 'h');
  return fmt(Math.round(a / 86400000), 'd');
}

function exact(ms) {
  const d = new Date(ms);
  return `${d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })} (${d.toISOString()})`;
}

// A relative time with the exact time on hover; ticks every 10 s.
function when(t) {
  const ms = toMs(t);
  if (ms === null) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: new Date(ms).toISOString(), title: exact(ms), 'data-ts': ms, class: 'nowrap' }, relative(ms));
}

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function count(n) { return typeof n === 'number' ? n.toLocaleString() : (n ?? '—'); }
function short(id, n = 8) { return id ? String(id).slice(0, n) : '—'; }
function pct(a, b) { return b ? Math.round((100 * a) / b) : 0; }

function badge(text, kind, title) { return h('span', { class: `badge dot ${kind || ''}`, title }, text); }

function stateBadge(s) {
  const up = String(s || '').toUpperCase();
  const kind = { ACTIVE: 'ok', UNSTABLE: 'warn', DISABLED: 'bad' }[up] || '';
  const tips = {
    ACTIVE: 'Delivering normally',
    UNSTABLE: 'Recent deliveries failed; still delivering',
    DISABLED: 'Too many failures: deliveries are parked until `evkit registration enable`',
  };
  return badge(up || 'UNKNOWN', kind, tips[up]);
}

function statusBadge(code, outcome) {
  if (code === null || code === undefined) return badge(outcome || '—', outcome === 'success' ? 'ok' : outcome === 'error' ? 'bad' : '');
  const name = STATUS_NAMES[code];
  const ok = outcome ? outcome === 'success' : code >= 200 && code < 300;
  return badge(name ? `${code} ${name}` : String(code), ok ? 'ok' : 'bad', name ? `evkit code ${code}: ${name}` : `HTTP ${code}`);
}

function deliveryStateBadge(s) {
  const v = String(s || '').toLowerCase();
  let kind = '';
  if (/deliver|done|success|ok/.test(v)) kind = 'ok';
  else if (/dead|reject|expire|fail/.test(v)) kind = 'bad';
  else if (/park|retry|pending|due|claim|running/.test(v)) kind = 'warn';
  return badge(s || '—', kind);
}

// ---------- JSON and bodies ----------

const JSON_TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\b(null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

function jsonView(value) {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  const pre = h('pre', { class: 'json' });
  let last = 0;
  for (const m of text.matchAll(JSON_TOKEN)) {
    pre.append(text.slice(last, m.index));
    let cls = 'num';
    if (m[1]) cls = m[2] ? 'k' : 's';
    else if (m[3]) cls = 'b';
    else if (m[4]) cls = 'n';
    pre.append(h('span', { class: `j-${cls}` }, m[1] || m[0]));
    if (m[2]) pre.append(m[2]);
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

function copyButton(getText) {
  const b = h('button', { type: 'button', class: 'ghost small', title: 'Copy to the clipboard' }, 'Copy');
  b.addEventListener('click', async (e) => {
    e.stopPropagation();
    try {
      await navigator.clipboard.writeText(getText());
      b.textContent = 'Copied';
    } catch {
      b.textContent = 'Copy failed';
    }
    setTimeout(() => { b.textContent = 'Copy'; }, 1500);
  });
  return b;
}

// A body: JSON (also JSON inside a string) pretty-printed and highlighted,
// anything else as text; a truncated body says so.
function bodyView(body, truncated) {
  const out = [];
  if (truncated) out.push(h('div', { class: 'notice' }, 'Truncated: traces keep the first 64 KB of a body.'));
  if (body === undefined || body === null || body === '') {
    out.push(h('div', { class: 'muted small' }, body === null ? 'null' : '(empty)'));
    return out;
  }
  let value = body;
  if (typeof body === 'string') {
    try { value = JSON.parse(body); } catch { value = undefined; }
  }
  out.push(value === undefined || typeof value !== 'object' || value === null
    ? (typeof body === 'string' ? h('pre', { class: 'text' }, body) : jsonView(body))
    : jsonView(value));
  return out;
}

function headersView(headers) {
  const keys = Object.keys(headers || {});
  if (!keys.length) return null;
  return h('table', { class: 'headers' },
    h('tbody', {}, keys.sort().map((k) => h('tr', {}, h('td', {}, k), h('td', {}, String(headers[k]))))));
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (state.csrf) headers['x-evkit-csrf'] = state.csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `evkit is not reachable (${e.message}). Is it still running?`);
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (r.status === 401 && !path.startsWith('/console/')) {
    showLogin('Your session has ended: sign in again.');
    throw new ApiError(401, 'Signed out.');
  }
  if (!r.ok) {
    let msg = (json && json.error) || `${r.status} ${r.statusText}`;
    if (r.status === 404 && !(json && json.error && !/does not exist/.test(json.error))) {
      msg = `This evkit does not offer ${path.split('?')[0]} (404).`;
    }
    throw new ApiError(r.status, msg);
  }
  return json;
}

const qs = (o) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};

// ---------- routing ----------

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'registrations', args: parts.slice(1), query: new URLSearchParams(query || '') };
}

function link(page, args = [], query = {}) {
  return `#/${[page, ...args.map(encodeURIComponent)].join('/')}${qs(query)}`;
}

function go(page, args, query) { location.hash = link(page, args, query); }

const ROUTES = {};

async function render({ refresh = false } = {}) {
  if (!state.csrf) return;
  const route = parseHash();
  const view = ROUTES[route.page] || notFound;
  const seq = ++state.seq;
  for (const a of $$('.nav a')) a.classList.toggle('active', a.dataset.page === navPage(route.page));
  const main = $('#main');
  if (!refresh) main.replaceChildren(h('div', { class: 'loading' }, 'Loading…'));
  const focusKey = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
  const scroll = window.scrollY;
  let content;
  try {
    content = await view(route);
  } catch (e) {
    if (e.status === 401) return;
    content = [pageHead(titleOf(route.page)), errorBox(e)];
  }
  if (seq !== state.seq) return; // a newer render is under way
  main.replaceChildren(...[content].flat(Infinity).filter(Boolean));
  if (refresh) {
    window.scrollTo(0, scroll);
    if (focusKey) { const el = main.querySelector(`[data-key="${CSS.escape(focusKey)}"]`); if (el) el.focus(); }
  } else {
    main.focus({ preventScroll: true });
  }
  state.lastLoad = Date.now();
  tickUpdated();
  // Which route is on screen, for people's tools and the browser tests.
  document.body.dataset.route = location.hash || '#/registrations';
  document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
}

function navPage(page) {
  return { trace: 'traces', events: 'journal', tracectx: 'traces' }[page] || page;
}

function titleOf(page) {
  return {
    registrations: 'Registrations', traces: 'Debug tracing', trace: 'Trace', events: 'Event', journal: 'Journal',
    activations: 'Activations', deadletters: 'Dead letters', charts: 'Charts', tracectx: 'Trace',
  }[page] || 'Not found';
}

async function notFound() {
  return [pageHead('Not found'), empty('There is no such page.', 'Pick a page from the menu above.')];
}

function pageHead(title, sub, actions, crumbs) {
  document.title = `${title} · evkit console`;
  return h('div', { class: 'page-head' },
    h('div', {}, crumbs ? h('div', { class: 'crumbs' }, crumbs) : null, h('h1', {}, title), sub ? h('p', { class: 'sub' }, sub) : null),
    actions ? h('div', { class: 'actions' }, actions) : null);
}

function empty(title, hint) {
  return h('div', { class: 'card empty' }, h('strong', {}, title), hint);
}

function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, e.message || String(e));
}

// A table whose rows open and close a detail row below them (Enter, Space
// or a click), keeping what is open across refreshes.
function expandTable(pageKey, columns, rows, { rowKey, cells, detail, rowClass }) {
  const open = state.open.get(pageKey) || new Set();
  state.open.set(pageKey, open);
  const tbody = h('tbody');
  for (const row of rows) {
    const key = String(rowKey(row));
    const tr = h('tr', { class: `row ${rowClass ? rowClass(row) : ''}`, tabindex: 0, 'data-key': `${pageKey}:${key}`, 'aria-expanded': 'false' },
      cells(row).map((c, i) => h('td', { class: columns[i].cls || '' }, i === 0 ? [h('span', { class: 'chev', 'aria-hidden': 'true' }), ' '] : null, c)));
    const toggle = async () => {
      const next = tr.nextElementSibling;
      if (next && next.classList.contains('detail')) {
        next.remove();
        tr.classList.remove('open');
        tr.setAttribute('aria-expanded', 'false');
        open.delete(key);
        return;
      }
      open.add(key);
      tr.classList.add('open');
      tr.setAttribute('aria-expanded', 'true');
      const td = h('td', { colspan: columns.length }, h('div', { class: 'loading' }, 'Loading…'));
      tr.after(h('tr', { class: 'detail' }, td));
      try {
        td.replaceChildren(...[await detail(row)].flat(Infinity).filter(Boolean));
      } catch (e) {
        if (e.status !== 401) td.replaceChildren(errorBox(e));
      }
    };
    tr.addEventListener('click', (e) => { if (!e.target.closest('a, button')) toggle(); });
    tr.addEventListener('keydown', (e) => {
      if ((e.key === 'Enter' || e.key === ' ') && e.target === tr) { e.preventDefault(); toggle(); }
    });
    tbody.append(tr);
    if (open.has(key)) toggle();
  }
  return h('div', { class: 'card table-wrap' },
    h('table', {}, h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.cls || '' }, c.title)))), tbody));
}

// A plain table whose rows navigate somewhere.
function linkTable(columns, rows, { rowKey, cells, href }) {
  const tbody = h('tbody');
  for (const row of rows) {
    const target = href(row);
    const tr = h('tr', { class: 'row', tabindex: 0, 'data-key': `link:${rowKey(row)}` },
      cells(row).map((c, i) => h('td', { class: columns[i].cls || '' }, c)));
    tr.addEventListener('click', (e) => { if (!e.target.closest('a, button')) location.hash = target; });
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target === tr) location.hash = target; });
    tbody.append(tr);
  }
  return h('div', { class: 'card table-wrap' },
    h('table', {}, h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.cls || '' }, c.title)))), tbody));
}

function segmented(label, options, current, onPick) {
  return h('div', { class: 'field' }, h('label', {}, label),
    h('div', { class: 'seg', role: 'group', 'aria-label': label },
      options.map(([value, text]) => h('button', {
        type: 'button', 'aria-pressed': String((current || '') === value), onclick: () => onPick(value), 'data-filter': `${label}:${value || 'all'}`,
      }, text))));
}

// ---------- Registrations ----------

ROUTES.registrations = async () => {
  const { registrations = [] } = await api('/api/v1/registrations');
  const head = pageHead('Registrations', 'Where each event type goes, and how delivery is going. Open one for its debug tracing.');
  if (!registrations.length) {
    return [head, empty('No registrations yet.',
      h('span', {}, 'Declare one under ', h('code', {}, 'application.events.registrations'), ' in app.config.yaml (or through the registrations API) and restart evkit.'))];
  }
  const columns = [
    { title: 'Registration' }, { title: 'State' }, { title: 'Delivers to' }, { title: 'Events' },
    { title: 'Backlog', cls: 'num' }, { title: 'Dead letters', cls: 'num' }, { title: 'Last 5 min' }, { title: 'Last 24 h' }, { title: 'Last attempt' },
  ];
  return [head, linkTable(columns, registrations, {
    rowKey: (r) => r.name,
    href: (r) => link('traces', [r.name]),
    cells: (r) => {
      const codes = (r.events_of_interest || []).flatMap((e) => (e.event_codes || []).map((c) => `${e.provider_metadata}: ${c}`));
      const att = r.attempts_24h ?? 0;
      const fail = r.failures_24h ?? 0;
      const ok5 = r.delivered_5m ?? 0;
      const bad5 = r.failed_5m ?? 0;
      return [
        [h('a', { href: link('traces', [r.name]), class: 'nowrap strong' }, r.name),
          r.origin === 'api' ? [' ', h('span', { class: 'tag', title: 'created through the registrations API' }, 'API')] : null,
          r.description ? h('span', { class: 'sub clamp', title: r.description }, r.description) : null],
        [stateBadge(r.state), String(r.state).toUpperCase() === 'DISABLED' ? enableButton(r.name) : null],
        h('span', { class: 'mono ellipsis narrow', title: r.runtime_action || r.webhook_url }, r.runtime_action || r.webhook_url || '—'),
        h('span', { title: codes.join('\n') }, codes.length ? `${codes.length} type${codes.length > 1 ? 's' : ''}` : '—',
          codes[0] ? h('span', { class: 'sub ellipsis narrow mono' }, codes[0].split(': ')[1]) : null),
        r.backlog > 0 ? h('span', { class: 'badge warn' }, count(r.backlog)) : count(r.backlog ?? 0),
        r.dead_letters > 0 ? h('a', { href: link('deadletters', [], { registration: r.name }), class: 'badge bad', title: 'Open its dead letters' }, count(r.dead_letters)) : count(r.dead_letters ?? 0),
        ok5 || bad5 ? [h('span', { class: 'nowrap' }, `${count(ok5)} delivered`), h('span', { class: `sub nowrap ${bad5 ? 'error-text' : ''}` }, `${count(bad5)} failed`)]
          : h('span', { class: 'muted' }, 'idle'),
        [att ? [h('span', { class: 'nowrap' }, `${count(att)} attempt${att === 1 ? '' : 's'}`),
          h('span', { class: `sub nowrap ${fail * 2 > att ? 'error-text' : ''}` }, fail ? `${count(fail)} failed (${pct(fail, att)}%)` : 'no failures')]
          : h('span', { class: 'muted nowrap' }, 'no attempts'),
        h('a', { href: link('charts', [r.name]), class: 'sub chart-link', title: `Charts of ${r.name}` }, 'Charts →')],
        [r.last_attempt ? when(r.last_attempt) : h('span', { class: 'muted' }, 'never'),
          r.last_error ? h('span', { class: 'sub ellipsis lasterr error-text', title: r.last_error }, r.last_error) : null],
      ];
    },
  })];
};

// Resumes a DISABLED registration's parked deliveries.
function enableButton(name) {
  const b = h('button', { type: 'button', class: 'small enable', title: `Resume delivering to ${name}` }, 'Enable');
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const r = await api(`/api/v1/registrations/${encodeURIComponent(name)}/enable`, { method: 'POST' });
      b.replaceWith(h('span', { class: 'sub ok-text' }, `enabled; ${count(r.resumed ?? 0)} resumed`));
      setTimeout(() => render({ refresh: true }), 1500);
    } catch (e) {
      b.replaceWith(h('span', { class: 'sub error-text' }, e.message));
    }
  });
  return h('div', { class: 'enable-wrap' }, b);
}

// ---------- Charts ----------

const SVG_NS = 'http://www.w3.org/2000/svg';

// An SVG element, built like h() (attributes, then children); text only as text nodes.
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined) el.append(k instanceof Node ? k : String(k));
  return el;
}

const CHART = { w: 960, h: 200, left: 48, right: 12, top: 12, bottom: 26 };

function hhmm(t) {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

// A 1-2-5 ceiling, so the axis reads in round numbers (2 at least: its middle is whole).
function niceMax(v) {
  if (!(v > 2)) return 2;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// The frame of a chart: axes, the y scale's top and middle, the time range.
function chartFrame(id, title, series, yMax, unit) {
  const { w, h: hh, left, right, top, bottom } = CHART;
  const plotH = hh - top - bottom;
  const root = svg('svg', { id, class: 'chart', viewBox: `0 0 ${w} ${hh}`, role: 'img', 'aria-label': title });
  for (const f of [0, 0.5, 1]) {
    const y = top + plotH * (1 - f);
    root.append(svg('line', { class: 'grid', x1: left, x2: w - right, y1: y, y2: y }),
      svg('text', { class: 'axis', x: left - 6, y: y + 4, 'text-anchor': 'end' },
        `${Number.isInteger(yMax * f) ? yMax * f : (yMax * f).toFixed(1)}${f ? unit : ''}`));
  }
  if (series.length) {
    root.append(svg('text', { class: 'axis', x: left, y: hh - 6 }, hhmm(series[0].t)),
      svg('text', { class: 'axis', x: w - right, y: hh - 6, 'text-anchor': 'end' }, hhmm(series[series.length - 1].t + 60000)));
  }
  const slot = (w - left - right) / Math.max(1, series.length);
  const x = (i) => left + i * slot;
  const y = (v) => top + plotH * (1 - Math.min(v, yMax) / yMax);
  return { root, slot, x, y };
}

// Deliveries per minute: stacked bars of successes, retries and dead letters.
function deliveriesChart(series) {
  const most = Math.max(0, ...series.map((m) => m.success + m.retry + m.dead));
  const yMax = niceMax(most);
  const f = chartFrame('chart-deliveries', 'Deliveries per minute', series, yMax, '');
  series.forEach((m, i) => {
    const total = m.success + m.retry + m.dead;
    if (!total) return;
    const g = svg('g', { class: 'bar', 'data-t': m.t, 'data-success': m.success, 'data-retry': m.retry, 'data-dead': m.dead },
      svg('title', {}, `${hhmm(m.t)}: ${m.success} delivered, ${m.retry} retried, ${m.dead} dead letter${m.dead === 1 ? '' : 's'}`));
    let base = 0;
    for (const [k, cls] of [['success', 'ok'], ['retry', 'warn'], ['dead', 'bad']]) {
      if (!m[k]) continue;
      const y0 = f.y(base), y1 = f.y(base + m[k]);
      g.append(svg('rect', { class: cls, x: f.x(i) + f.slot * 0.1, width: Math.max(1, f.slot * 0.8), y: y1, height: Math.max(0.5, y0 - y1) }));
      base += m[k];
    }
    f.root.append(g);
  });
  return f.root;
}

// Lines through the minutes that have a value; each point carries its value.
function lineChart(id, title, series, lines, unit) {
  const most = Math.max(0, ...series.flatMap((m) => lines.map(([k]) => m[k] ?? 0)));
  const f = chartFrame(id, title, series, niceMax(most), unit);
  for (const [k, cls, label] of lines) {
    const shown = series.map((m, i) => [m, i]).filter(([m]) => m[k] !== null && m[k] !== undefined);
    if (!shown.length) continue;
    const coords = shown.map(([m, i]) => `${(f.x(i) + f.slot / 2).toFixed(1)},${f.y(m[k]).toFixed(1)}`);
    f.root.append(svg('polyline', { class: `line ${cls}`, points: coords.join(' '), 'data-series': k }));
    for (const [m, i] of shown) {
      if (k === 'backlog' && !m[k]) continue;
      f.root.append(svg('circle', { class: `pt ${cls}`, cx: f.x(i) + f.slot / 2, cy: f.y(m[k]), r: 2.5, 'data-series': k, 'data-t': m.t, 'data-value': m[k] },
        svg('title', {}, `${hhmm(m.t)}: ${label} ${m[k]}${unit}`)));
    }
  }
  return f.root;
}

function legend(items) {
  return h('div', { class: 'legend' }, items.map(([cls, text, attrs]) => h('span', { class: 'key', ...(attrs || {}) }, h('i', { class: `swatch ${cls}` }), text)));
}

ROUTES.charts = async ({ args, query }) => {
  const reg = args[0] || '';
  const hours = query.get('hours') || '3';
  const [names, stats] = await Promise.all([registrationNames(), api(`/api/v1/stats/deliveries${qs({ registration: reg, hours })}`)]);
  const select = h('select', { id: 'chart-registration', 'aria-label': 'Registration' },
    h('option', { value: '' }, 'All registrations'), names.map((n) => h('option', { value: n, selected: n === reg }, n)));
  select.addEventListener('change', () => go('charts', select.value ? [select.value] : [], { hours }));
  const range = segmented('Last', [['1', '1 h'], ['3', '3 h'], ['12', '12 h'], ['24', '24 h']], hours,
    (v) => go('charts', reg ? [reg] : [], { hours: v }));
  const t = stats.totals;
  const series = stats.series;
  const card = (title, sub, chart, keys) => h('section', { class: 'card chart-card' },
    h('div', { class: 'chart-head' }, h('h2', {}, title), keys), sub ? h('p', { class: 'sub' }, sub) : null, chart);
  return [
    pageHead('Charts', `${reg ? `Registration ${reg}` : 'Every registration'}, per minute over the last ${stats.hours} h, from the rollup evkit keeps.`),
    h('div', { class: 'card filters', role: 'search' }, h('div', { class: 'field' }, h('label', { for: 'chart-registration' }, 'Registration'), select), range),
    card('Deliveries per minute', null, deliveriesChart(series), legend([
      ['ok', `${count(t.success)} delivered`, { 'data-total': 'success' }],
      ['warn', `${count(t.retry)} retried`, { 'data-total': 'retry' }],
      ['bad', `${count(t.dead)} dead letter${t.dead === 1 ? '' : 's'}`, { 'data-total': 'dead' }]])),
    card('Latency', 'Attempt duration percentiles per minute, in milliseconds.',
      lineChart('chart-latency', 'Latency percentiles', series, [['p50', 'ok', 'p50'], ['p95', 'warn', 'p95'], ['p99', 'bad', 'p99']], ' ms'),
      legend([['ok', 'p50'], ['warn', 'p95'], ['bad', 'p99']])),
    card('Backlog', 'Deliveries waiting (pending, running or parked), sampled each minute.',
      lineChart('chart-backlog', 'Backlog', series, [['backlog', 'accent', 'backlog']], ''),
      legend([['accent', `now ${count(series.length ? series[series.length - 1].backlog : 0)}`,
        { 'data-backlog-now': series.length ? series[series.length - 1].backlog : 0 }]])),
  ];
};


// What each registration's replay panel holds, kept across re-renders.
const replayState = {};

// Delivers a range of the journal to one registration again: a bound is a
// journal position (digits) or a time (ISO 8601, or a duration before now
// like -PT2H); the registration's filter applies.
function replayPanel(name) {
  const st = replayState[name] || (replayState[name] = { open: false, from: '', to: '', note: '', cls: 'sub' });
  const from = h('input', { id: 'replay-from', placeholder: '120, 2026-12-06T10:00:00Z or -PT2H', 'aria-label': 'Replay from' });
  const to = h('input', { id: 'replay-to', placeholder: 'optional: 180 or a time', 'aria-label': 'Replay until' });
  from.value = st.from;
  to.value = st.to;
  from.addEventListener('input', () => { st.from = from.value; });
  to.addEventListener('input', () => { st.to = to.value; });
  const note = h('span', { class: st.cls, id: 'replay-result', role: 'status' }, st.note);
  const show = (cls, text) => { st.cls = cls; st.note = text; note.className = cls; note.textContent = text; };
  const button = h('button', { type: 'button', class: 'small', id: 'replay-go' }, 'Replay');
  button.addEventListener('click', async () => {
    const body = {};
    const put = (v, posKey, timeKey) => {
      const t = v.trim();
      if (t) body[/^\d+$/.test(t) ? posKey : timeKey] = /^\d+$/.test(t) ? Number(t) : t;
    };
    put(from.value, 'since', 'from');
    put(to.value, 'until', 'to');
    button.disabled = true;
    try {
      const r = await api(`/api/v1/registrations/${encodeURIComponent(name)}/replay`, { method: 'POST', body });
      show('sub ok-text', `${count(r.replayed)} event${r.replayed === 1 ? '' : 's'} replayed after position ${r.since}`
        + `${r.until ? ` up to ${r.until}` : ''}${r.filtered ? `; ${count(r.filtered)} left out by its filter` : ''}`);
    } catch (e) {
      show('sub error-text', e.message);
    } finally {
      button.disabled = false;
    }
  });
  const panel = h('details', { class: 'card replay', open: st.open }, h('summary', {}, `Replay a range of the journal to ${name}`),
    h('div', { class: 'filters' },
      h('div', { class: 'field' }, h('label', { for: 'replay-from' }, 'After position, or from time'), from),
      h('div', { class: 'field' }, h('label', { for: 'replay-to' }, 'Up to position, or before time'), to),
      button, note));
  panel.addEventListener('toggle', () => { st.open = panel.open; });
  return panel;
}

// ---------- Debug tracing ----------

async function registrationNames() {
  try {
    const { registrations = [] } = await api('/api/v1/registrations');
    return registrations.map((r) => r.name);
  } catch (e) {
    if (e.status === 401) throw e;
    return [];
  }
}

function traceDetail(t) {
  const req = t.request || {};
  const res = t.response || {};
  const meta = h('dl', { class: 'kv' },
    h('dt', {}, 'Trace'), h('dd', { class: 'mono' }, String(t.id)),
    h('dt', {}, 'Registration'), h('dd', {}, h('a', { href: link('traces', [t.registration]) }, t.registration)),
    h('dt', {}, 'Event'), h('dd', {}, h('a', { href: link('events', [t.eventId]), class: 'mono' }, t.eventId), ' ', h('span', { class: 'muted' }, t.eventType)),
    h('dt', {}, 'Attempt'), h('dd', {}, `#${t.attempt}`, t.retried ? h('span', { class: 'muted' }, ' · a retry was scheduled after it') : null),
    h('dt', {}, 'Started'), h('dd', {}, when(t.start), h('span', { class: 'muted small' }, ` ${new Date(toMs(t.start)).toISOString()}`)),
    h('dt', {}, 'Duration'), h('dd', {}, duration(t.duration)),
    h('dt', {}, 'Outcome'), h('dd', {}, statusBadge(t.statusCode, t.outcome)),
    h('dt', {}, 'Activation'), h('dd', {}, t.activationId ? h('a', { class: 'mono', href: link('activations', [t.activationId]) }, t.activationId) : h('span', { class: 'muted' }, 'none')),
    t.error ? [h('dt', {}, 'Error'), h('dd', { class: 'error-text' }, t.error)] : null);
  const reqBody = req.params !== undefined ? req.params : req.body;
  const reqText = () => (typeof reqBody === 'string' ? reqBody : JSON.stringify(reqBody, null, 2));
  const resText = () => (typeof res.body === 'string' ? res.body : JSON.stringify(res.body, null, 2));
  return h('div', { class: 'trace-detail' },
    h('div', { class: 'card card-pad' }, meta),
    h('div', { class: 'grid2' },
      h('section', { class: 'card card-pad', 'aria-label': 'Request' },
        h('h3', { class: 'panel-title' }, 'Request', h('span', { class: 'spacer' }), copyButton(reqText)),
        req.headers ? [h('div', { class: 'section-label' }, 'Headers'), headersView(req.headers)] : null,
        h('div', { class: 'section-label' }, req.params !== undefined ? 'Params' : 'Body'),
        h('div', { class: 'request-body' }, bodyView(reqBody, req.truncated))),
      h('section', { class: 'card card-pad', 'aria-label': 'Response' },
        h('h3', { class: 'panel-title' }, 'Response', statusBadge(res.statusCode ?? t.statusCode, t.outcome), h('span', { class: 'spacer' }), copyButton(resText)),
        res.headers ? [h('div', { class: 'section-label' }, 'Headers'), headersView(res.headers)] : null,
        h('div', { class: 'section-label' }, 'Body'),
        h('div', { class: 'response-body' }, bodyView(res.body, res.truncated)))));
}

ROUTES.traces = async ({ args, query }) => {
  const reg = args[0] || '';
  const filters = {
    outcome: query.get('outcome') || '', status: query.get('status') || '', retried: query.get('retried') || '',
  };
  const before = query.get('before') || '';
  const set = (changes) => go('traces', reg ? [reg] : [], { ...filters, ...changes, before: changes.before ?? '' });
  const [names, page] = await Promise.all([
    registrationNames(),
    api(`/api/v1/traces${qs({ registration: reg, ...filters, limit: PAGE, before })}`),
  ]);
  const traces = page.traces || [];
  if (reg && !names.includes(reg)) names.unshift(reg);
  const regSelect = h('select', { id: 'trace-registration', 'aria-label': 'Registration' },
    h('option', { value: '' }, 'All registrations'),
    names.map((n) => h('option', { value: n, selected: n === reg }, n)));
  regSelect.addEventListener('change', () => go('traces', regSelect.value ? [regSelect.value] : [], { ...filters }));
  const status = h('input', {
    type: 'number', min: 100, max: 999, id: 'trace-status', placeholder: 'any', value: filters.status, 'aria-label': 'Status code', title: 'An HTTP status, or 601, 602, 604',
  });
  status.addEventListener('change', () => set({ status: status.value }));
  status.addEventListener('keydown', (e) => { if (e.key === 'Enter') set({ status: status.value }); });
  const filterBar = h('div', { class: 'card filters', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'trace-registration' }, 'Registration'), regSelect),
    segmented('Outcome', [['', 'All'], ['success', 'Success'], ['error', 'Error']], filters.outcome, (v) => set({ outcome: v })),
    h('div', { class: 'field' }, h('label', { for: 'trace-status' }, 'Status'), status),
    segmented('Retried', [['', 'Any'], ['true', 'Retried'], ['false', 'Not retried']], filters.retried, (v) => set({ retried: v })),
    (filters.outcome || filters.status || filters.retried)
      ? h('button', { type: 'button', class: 'ghost', onclick: () => go('traces', reg ? [reg] : []) }, 'Clear filters') : null);
  const head = pageHead(reg ? `Debug tracing: ${reg}` : 'Debug tracing',
    'Every delivery attempt, newest first: what was sent, what came back. Open a row to see both.',
    reg ? h('a', { class: 'button', href: link('deadletters', [], { registration: reg }) }, 'Dead letters') : null,
    reg ? h('a', { href: '#/registrations' }, 'Registrations') : null);
  const out = [head, filterBar, reg ? replayPanel(reg) : null];
  if (!traces.length) {
    const filtered = filters.outcome || filters.status || filters.retried || before;
    out.push(empty(filtered ? 'No traces match these filters.' : 'No delivery attempts yet.',
      filtered ? 'Clear the filters, or wait for more deliveries (turn on auto-refresh).'
        : 'Publish an event this registration takes, then refresh: each attempt shows up here.'));
  } else {
    const columns = [
      { title: 'When' }, { title: 'Event type' }, { title: 'Attempt', cls: 'num' }, { title: 'Status' }, { title: 'Duration', cls: 'num' },
      reg ? null : { title: 'Registration' }, { title: 'Event' }, { title: 'Activation' },
    ].filter(Boolean);
    out.push(expandTable(`traces:${reg}`, columns, traces, {
      rowKey: (t) => t.id,
      rowClass: (t) => `trace outcome-${t.outcome}`,
      cells: (t) => [
        when(t.start),
        h('span', { class: 'mono' }, t.eventType),
        h('span', { title: t.retried ? 'a retry was scheduled after this attempt' : '' }, `#${t.attempt}`, t.retried ? h('span', { class: 'retried', 'aria-label': 'retried' }, ' ↻') : null),
        statusBadge(t.statusCode, t.outcome),
        duration(t.duration),
        reg ? null : h('a', { href: link('traces', [t.registration]), class: 'nowrap' }, t.registration),
        h('a', { class: 'mono', href: link('events', [t.eventId]), title: t.eventId }, short(t.eventId)),
        t.activationId ? h('a', { class: 'mono', href: link('activations', [t.activationId]), title: t.activationId }, short(t.activationId)) : h('span', { class: 'muted' }, '—'),
      ].filter((c) => c !== null),
      detail: async (t) => traceDetail(await api(`/api/v1/traces/${encodeURIComponent(t.id)}`)),
    }));
  }
  out.push(h('div', { class: 'pager' },
    h('span', { class: 'muted' }, traces.length ? `${traces.length} attempt${traces.length > 1 ? 's' : ''}${before ? ' (older page)' : ''}` : ''),
    before ? h('button', { type: 'button', onclick: () => set({ before: '' }) }, '⇤ Newest') : null,
    page.next ? h('button', { type: 'button', id: 'older', onclick: () => set({ before: String(page.next) }) }, 'Older →') : null));
  return out;
};

// One trace on its own page (links from the event timeline).
ROUTES.trace = async ({ args }) => {
  const t = await api(`/api/v1/traces/${encodeURIComponent(args[0] || '')}`);
  return [pageHead(`Trace ${t.id}`, `${t.eventType} to ${t.registration}, attempt #${t.attempt}`, null,
    [h('a', { href: link('traces', [t.registration]) }, `Debug tracing: ${t.registration}`)]), traceDetail(t)];
};

// ---------- Event timeline ----------

ROUTES.events = async ({ args }) => {
  const id = args[0] || '';
  const d = await api(`/api/v1/events/${encodeURIComponent(id)}`);
  const ev = d.event || {};
  const deliveries = d.deliveries || [];
  const head = pageHead(ev.type || 'Event', null, null, [h('a', { href: link('journal', [], { provider: d.provider }) }, `Journal: ${d.provider}`), ` · position ${d.position}`]);
  const meta = h('div', { class: 'card card-pad' }, h('dl', { class: 'kv' },
    h('dt', {}, 'Event id'), h('dd', { class: 'mono' }, ev.id),
    h('dt', {}, 'Type'), h('dd', { class: 'mono' }, ev.type),
    h('dt', {}, 'Provider'), h('dd', {}, d.provider, ' ', h('span', { class: 'muted mono small' }, ev.source)),
    h('dt', {}, 'Position'), h('dd', {}, String(d.position)),
    h('dt', {}, 'Time'), h('dd', {}, when(ev.time), h('span', { class: 'muted small' }, ev.time ? ` ${ev.time}` : '')),
    h('dt', {}, 'Deliveries'), h('dd', {}, deliveries.length ? `${deliveries.length} registration${deliveries.length > 1 ? 's' : ''}` : 'none: no registration takes this type'),
    traceLink(ev.traceparent)));
  // Every attempt of every delivery, in time order, after the event itself.
  const attempts = deliveries.flatMap((dl) => (dl.traces || []).map((t) => ({ ...t, delivery: dl })));
  attempts.sort((a, b) => (toMs(a.start) - toMs(b.start)) || (a.attempt - b.attempt));
  const t0 = toMs(ev.time);
  const since = (t) => (t0 !== null && toMs(t) !== null ? `+${duration(Math.max(0, toMs(t) - t0))}` : '');
  const items = [h('li', {}, h('span', { class: 'mark ev' }),
    h('div', { class: 'line1' }, h('strong', {}, 'Published'), when(ev.time), h('span', { class: 'mono muted small' }, ev.time || '')),
    h('div', { class: 'line2' }, `to the ${d.provider} journal at position ${d.position}`))];
  for (const t of attempts) {
    const ok = t.outcome === 'success';
    items.push(h('li', { class: 'attempt' }, h('span', { class: `mark ${ok ? 'ok' : 'bad'}` }),
      h('div', { class: 'line1' },
        h('a', { href: link('traces', [t.registration]) }, h('strong', {}, t.registration)),
        h('span', { class: 'attempt-no', 'data-attempt': t.attempt }, `attempt #${t.attempt}`), statusBadge(t.statusCode, t.outcome), h('span', { class: 'muted' }, duration(t.duration)),
        h('a', { href: link('trace', [t.id]) }, 'trace'),
        t.activationId ? h('a', { class: 'mono', href: link('activations', [t.activationId]) }, `activation ${short(t.activationId)}`) : null),
      h('div', { class: 'line2' }, when(t.start), ` · ${since(t.start)} after publishing`, t.error ? ` · ${t.error}` : '')));
  }
  for (const dl of deliveries) {
    if (!(dl.traces || []).length) {
      items.push(h('li', {}, h('span', { class: 'mark' }),
        h('div', { class: 'line1' }, h('strong', {}, dl.registration), deliveryStateBadge(dl.state)),
        h('div', { class: 'line2' }, dl.due ? ['no attempt yet; due ', when(dl.due)] : 'no attempt yet')));
    }
  }
  const delTable = deliveries.length ? h('div', { class: 'card table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Registration', 'State', 'Attempts', 'Last status', 'Next due', 'Last error'].map((t) => h('th', {}, t)))),
    h('tbody', {}, deliveries.map((dl) => h('tr', {},
      h('td', {}, h('a', { href: link('traces', [dl.registration]) }, dl.registration)),
      h('td', {}, deliveryStateBadge(dl.state)),
      h('td', { class: 'num' }, String(dl.attempt ?? (dl.traces || []).length)),
      h('td', {}, dl.lastStatus ? statusBadge(dl.lastStatus) : h('span', { class: 'muted' }, '—')),
      h('td', {}, dl.due && !/done|deliver|dead|reject|expire/i.test(dl.state || '') ? when(dl.due) : h('span', { class: 'muted' }, '—')),
      h('td', {}, dl.lastError ? h('span', { class: 'ellipsis', title: dl.lastError }, dl.lastError) : h('span', { class: 'muted' }, '—'))))))) : null;
  return [head, meta,
    h('h2', {}, 'Timeline'), h('div', { class: 'card card-pad' }, h('ol', { class: 'timeline' }, items)),
    delTable ? [h('h2', {}, 'Deliveries'), delTable] : null,
    h('h2', {}, 'CloudEvent'), h('div', { class: 'card card-pad' }, h('div', { class: 'panel-title' }, h('span', { class: 'spacer' }), copyButton(() => JSON.stringify(ev, null, 2))), jsonView(ev))];
};

// ---------- Journal ----------

ROUTES.journal = async ({ query }) => {
  const f = { provider: query.get('provider') || '', type: query.get('type') || '' };
  const since = query.get('since') || '';
  const before = query.get('before') || '';
  const paging = since ? { since } : before ? { before } : { latest: 'true' };
  const optional = (p) => api(p).catch((e) => { if (e.status === 401) throw e; return {}; });
  const [page, { providers = [] }, { registrations = [] }] = await Promise.all([
    api(`/api/v1/events${qs({ ...f, ...paging, limit: PAGE })}`), optional('/api/v1/providers'), optional('/api/v1/registrations'),
  ]);
  const events = (page.events || []).slice().sort((a, b) => b.position - a.position);
  const set = (changes) => go('journal', [], { ...f, ...changes });
  // Providers from the providers API; types from the registrations and the page.
  const keys = [...new Set([...providers.map((p) => p.key), ...events.map((e) => e.provider), f.provider].filter(Boolean))];
  const labelOf = (k) => { const p = providers.find((x) => x.key === k); return p && p.label && p.label !== k ? `${k} (${p.label})` : k; };
  const provider = h('select', { id: 'journal-provider', 'aria-label': 'Provider' },
    h('option', { value: '' }, 'Any provider'), keys.map((k) => h('option', { value: k, selected: k === f.provider }, labelOf(k))));
  const type = h('input', { id: 'journal-type', placeholder: 'any', value: f.type, 'aria-label': 'Event type', list: 'journal-types', size: 40 });
  const apply = () => set({ provider: provider.value, type: type.value.trim() });
  provider.addEventListener('change', apply);
  type.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
  type.addEventListener('change', apply);
  const from = h('input', { id: 'journal-position', type: 'number', min: 1, class: 'short', placeholder: 'newest', 'aria-label': 'From position', value: since ? Number(since) + 1 : '' });
  from.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') set(from.value ? { since: String(Math.max(0, Number(from.value) - 1)) } : {});
  });
  const knownTypes = [...new Set([
    ...registrations.flatMap((r) => (r.events_of_interest || []).filter((x) => !f.provider || x.provider_metadata === f.provider).flatMap((x) => x.event_codes || [])),
    ...events.map((e) => e.event && e.event.type).filter(Boolean),
  ])].sort();
  const bar = h('div', { class: 'card filters', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'journal-provider' }, 'Provider'), provider),
    h('div', { class: 'field' }, h('label', { for: 'journal-type' }, 'Type'), type),
    h('div', { class: 'field' }, h('label', { for: 'journal-position', title: 'Show events from this position on' }, 'From position'), from),
    h('datalist', { id: 'journal-types' }, knownTypes.map((t) => h('option', { value: t }))),
    (f.provider || f.type) ? h('button', { type: 'button', class: 'ghost', onclick: () => go('journal') }, 'Clear filters') : null);
  const out = [pageHead('Journal', 'Every published event by position, newest first. Open one for its CloudEvent; follow its id for the deliveries it caused.'), bar];
  if (!events.length) {
    out.push(empty(f.provider || f.type || since || before ? 'No events here.' : 'The journal is empty.',
      f.provider || f.type ? 'Check the provider and type, or clear the filters.' : 'Publish an event (the ingestion webhook, POST /api/v1/events, or evkit.publish) and it shows up here.'));
  } else {
    const columns = [{ title: 'Position' }, { title: 'Time' }, { title: 'Provider' }, { title: 'Type' }, { title: 'Event' }, { title: '' }];
    out.push(expandTable('journal', columns, events, {
      rowKey: (e) => e.position,
      cells: (e) => [
        String(e.position), when(e.event && e.event.time), e.provider, h('span', { class: 'mono' }, e.event && e.event.type),
        h('span', { class: 'mono', title: e.event && e.event.id }, short(e.event && e.event.id, 13)),
        h('a', { href: link('events', [e.event && e.event.id]) }, 'Timeline →'),
      ],
      detail: (e) => h('div', {}, h('div', { class: 'panel-title' }, h('a', { href: link('events', [e.event.id]) }, 'Deliveries and attempts of this event →'), h('span', { class: 'spacer' }), copyButton(() => JSON.stringify(e.event, null, 2))), jsonView(e.event)),
    }));
  }
  const newest = !since && !before;
  out.push(h('div', { class: 'pager' },
    h('span', { class: 'muted' }, events.length ? `positions ${events[events.length - 1].position}–${events[0].position}` : ''),
    !newest ? h('button', { type: 'button', onclick: () => set({}) }, '⇤ Newest') : null,
    page.next !== null && page.next !== undefined && !newest ? h('button', { type: 'button', onclick: () => set({ since: String(page.next) }) }, '← Newer') : null,
    page.prev !== null && page.prev !== undefined && page.prev > 1 ? h('button', { type: 'button', id: 'older', onclick: () => set({ before: String(page.prev) }) }, 'Older →') : null));
  return out;
};

// ---------- Activations ----------

function activationStatus(a) {
  const r = a.response || {};
  const s = r.status || (r.success ? 'success' : 'error');
  return badge(s, r.success ? 'ok' : s === 'application error' ? 'warn' : 'bad');
}

function annotation(a, key) {
  const x = (a.annotations || []).find((n) => n.key === key);
  return x ? x.value : undefined;
}

const LOG_LINE = /^(\S+)\s+(stdout|stderr):\s?(.*)$/s;

function logsView(lines) {
  if (!lines || !lines.length) return h('div', { class: 'muted small' }, 'No log lines.');
  return h('pre', { class: 'logs' }, lines.map((l) => {
    const m = LOG_LINE.exec(l);
    if (!m) return [l, '\n'];
    return [h('span', { class: 'ts', title: m[1] }, `${m[1]} `), h('span', { class: m[2] === 'stderr' ? 'stderr' : '' }, `${m[2]}: ${m[3]}`), '\n'];
  }));
}

ROUTES.activations = async ({ args, query }) => {
  if (args[0]) return activationPage(args[0]);
  const name = query.get('name') || '';
  const skip = Math.max(0, Number(query.get('skip')) || 0);
  const list = await api(`/api/v1/namespaces/_/activations${qs({ name, limit: PAGE, skip: skip || '', docs: 'true' })}`);
  const input = h('input', { id: 'activation-name', placeholder: 'any action', value: name, 'aria-label': 'Action name' });
  const apply = () => go('activations', [], { name: input.value.trim() });
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
  input.addEventListener('change', apply);
  const bar = h('div', { class: 'card filters', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'activation-name' }, 'Action'), input),
    name ? h('button', { type: 'button', class: 'ghost', onclick: () => go('activations') }, 'Clear filter') : null);
  const out = [pageHead('Activations', 'Every run of an action, newest first, with its logs and result.'), bar];
  if (!list.length && skip > 0) {
    out.push(empty('No older activations.', h('a', { href: link('activations', [], { name }) }, 'Back to the newest')));
    return out;
  }
  if (!list.length) {
    out.push(empty(name ? `No activations of ${name}.` : 'No activations yet.', name ? 'Check the name (the action name or package/action), or clear the filter.' : 'Invoke an action or publish an event: each run shows up here.'));
    return out;
  }
  const columns = [{ title: 'When' }, { title: 'Action' }, { title: 'Status' }, { title: 'Duration', cls: 'num' }, { title: 'Caused by' }, { title: 'Activation' }];
  out.push(expandTable('activations', columns, list, {
    rowKey: (a) => a.activationId,
    cells: (a) => [
      when(a.start), h('span', { class: 'mono' }, a.path || annotation(a, 'path') || a.name), activationStatus(a), duration(a.duration),
      a.cause ? h('a', { class: 'mono', href: link('activations', [a.cause]) }, short(a.cause)) : h('span', { class: 'muted' }, '—'),
      h('a', { class: 'mono', href: link('activations', [a.activationId]), title: a.activationId }, short(a.activationId)),
    ],
    detail: async (a) => activationDetail(a.logs ? a : await api(`/api/v1/namespaces/_/activations/${a.activationId}`)),
  }));
  const page = (n) => go('activations', [], { name, skip: n > 0 ? String(n) : '' });
  out.push(h('div', { class: 'pager' },
    h('span', { class: 'muted' }, `${skip + 1}–${skip + list.length}`),
    skip > 0 ? h('button', { type: 'button', onclick: () => page(0) }, '⇤ Newest') : null,
    skip > 0 ? h('button', { type: 'button', onclick: () => page(skip - PAGE) }, '← Newer') : null,
    list.length >= PAGE ? h('button', { type: 'button', id: 'older', onclick: () => page(skip + PAGE) }, 'Older →') : null));
  return out;
};

function activationDetail(a) {
  const r = a.response || {};
  return h('div', { class: 'grid2' },
    h('section', { class: 'card card-pad', 'aria-label': 'Logs' }, h('h3', { class: 'panel-title' }, 'Logs', h('span', { class: 'spacer' }), copyButton(() => (a.logs || []).join('\n'))), logsView(a.logs)),
    h('section', { class: 'card card-pad', 'aria-label': 'Result' }, h('h3', { class: 'panel-title' }, 'Result', activationStatus(a), h('span', { class: 'spacer' }), copyButton(() => JSON.stringify(r.result, null, 2))), jsonView(r.result ?? null)));
}

async function activationPage(id) {
  const a = await api(`/api/v1/namespaces/_/activations/${encodeURIComponent(id)}`);
  const limits = annotation(a, 'limits');
  const meta = h('div', { class: 'card card-pad' }, h('dl', { class: 'kv' },
    h('dt', {}, 'Activation'), h('dd', { class: 'mono' }, a.activationId),
    h('dt', {}, 'Action'), h('dd', { class: 'mono' }, h('a', { href: link('activations', [], { name: a.path || a.name }) }, a.path || a.name)),
    h('dt', {}, 'Status'), h('dd', {}, activationStatus(a)),
    h('dt', {}, 'Started'), h('dd', {}, when(a.start), h('span', { class: 'muted small' }, a.start ? ` ${new Date(toMs(a.start)).toISOString()}` : '')),
    h('dt', {}, 'Duration'), h('dd', {}, duration(a.duration), limits ? h('span', { class: 'muted' }, ` of ${duration(limits.timeout)} allowed`) : null),
    h('dt', {}, 'Caused by'), h('dd', {}, a.cause ? h('a', { class: 'mono', href: link('activations', [a.cause]) }, a.cause) : h('span', { class: 'muted' }, '—')),
    traceLink(annotation(a, 'traceparent'))));
  return [pageHead(`Activation ${short(a.activationId, 12)}`, null, null, [h('a', { href: '#/activations' }, 'Activations')]), meta, h('h2', {}, 'Logs and result'), activationDetail(a)];
}

// ---------- W3C trace context ----------

// The dt/dd pair that opens the trace of a traceparent (nothing without one).
function traceLink(tp) {
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(tp || '');
  if (!m) return null;
  return [h('dt', {}, 'Trace'), h('dd', {}, h('a', { class: 'mono trace-link', href: link('tracectx', [m[1]]) }, m[1]),
    h('span', { class: 'muted small mono' }, ` span ${m[2]}`))];
}

const SPAN_KINDS = { trigger: 'Trigger fire', activation: 'Activation', event: 'Event', delivery: 'Delivery attempt' };

function spanTarget(sp) {
  if (sp.kind === 'activation' || sp.kind === 'trigger') return link('activations', [sp.ref]);
  if (sp.kind === 'event') return link('events', [sp.ref]);
  if (sp.kind === 'delivery') return link('traces', [sp.name]);
  return null;
}

// Every span of one trace as a tree: each under the span it continues.
ROUTES.tracectx = async ({ args }) => {
  const id = args[0] || '';
  const d = await api(`/api/v1/trace-context/${encodeURIComponent(id)}`);
  const spans = d.spans || [];
  const byId = new Map(spans.map((sp) => [sp.spanId, sp]));
  const kids = new Map();
  const roots = [];
  for (const sp of spans) {
    if (sp.parentSpanId && byId.has(sp.parentSpanId)) {
      if (!kids.has(sp.parentSpanId)) kids.set(sp.parentSpanId, []);
      kids.get(sp.parentSpanId).push(sp);
    } else {
      roots.push(sp);
    }
  }
  const t0 = Math.min(...spans.map((sp) => sp.start));
  const node = (sp) => h('li', { class: `span span-${sp.kind}`, 'data-span': sp.spanId, 'data-kind': sp.kind },
    h('div', { class: 'line1' },
      h('span', { class: `badge ${sp.ok ? 'ok' : 'bad'}` }, SPAN_KINDS[sp.kind] || sp.kind),
      spanTarget(sp) ? h('a', { class: 'mono', href: spanTarget(sp) }, sp.name) : h('span', { class: 'mono' }, sp.name),
      sp.kind === 'delivery' ? statusBadge(sp.status, sp.ok ? 'success' : 'error') : null,
      h('span', { class: 'muted' }, `+${duration(sp.start - t0)}`, sp.end > sp.start ? `, ${duration(sp.end - sp.start)}` : ''),
      h('span', { class: 'muted small mono' }, ` span ${sp.spanId}`)),
    (kids.get(sp.spanId) || []).length ? h('ul', { class: 'span-tree' }, kids.get(sp.spanId).map(node)) : null);
  return [pageHead(`Trace ${short(id, 12)}`, `W3C trace ${id}: ${spans.length} span${spans.length === 1 ? '' : 's'} evkit recorded, each under the one it continues.`),
    h('div', { class: 'card card-pad' }, h('ul', { class: 'span-tree root' }, roots.map(node)))];
};

// ---------- Dead letters ----------

const watchers = new Map(); // dead letter id -> its replay's status line, kept across refreshes
let replayedAll = null;      // {registration, node, at}: the last Replay all's message, kept across refreshes

// After a replay, follows the event's newest attempts for that registration
// until one succeeds (or 30 s pass), showing each outcome as it comes.
async function watchReplay(dl, line, startedAt) {
  const deadline = Date.now() + 30000;
  const say = (kind, ...text) => line.replaceChildren(kind ? badge(text[0], kind) : text[0], ...text.slice(1));
  say('warn', 'Replayed', ' — waiting for the next attempt…');
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 600));
    let d;
    try { d = await api(`/api/v1/events/${encodeURIComponent(dl.eventId)}`); } catch (e) { say('bad', 'Unknown', ` ${e.message}`); return; }
    const traces = (d.deliveries || []).filter((x) => x.registration === dl.registration).flatMap((x) => x.traces || [])
      .filter((t) => toMs(t.start) >= startedAt - 2000).sort((a, b) => toMs(b.start) - toMs(a.start));
    const t = traces[0];
    if (t && t.outcome === 'success') {
      say('ok', 'Delivered', ` on attempt #${t.attempt} (${t.statusCode ?? 'ok'}, ${duration(t.duration)}) `, h('a', { href: link('trace', [t.id]) }, 'trace'));
      // The list (and its Replay all) catches up; this row stays, marked replayed.
      if (parseHash().page === 'deadletters') setTimeout(() => render({ refresh: true }), 1200);
      return;
    }
    if (t) say('bad', `Failed again (${t.statusCode ?? 'error'})`, ` attempt #${t.attempt}; still retrying… `, h('a', { href: link('trace', [t.id]) }, 'trace'));
  }
  line.append(' — no success within 30 s: see its debug tracing.');
}

ROUTES.deadletters = async ({ query }) => {
  const reg = query.get('registration') || '';
  const [names, page] = await Promise.all([registrationNames(), api(`/api/v1/deadletters${qs({ registration: reg })}`)]);
  const list = page.deadletters || [];
  if (reg && !names.includes(reg)) names.unshift(reg);
  const select = h('select', { id: 'dl-registration', 'aria-label': 'Registration' },
    h('option', { value: '' }, 'All registrations'), names.map((n) => h('option', { value: n, selected: n === reg }, n)));
  select.addEventListener('change', () => go('deadletters', [], { registration: select.value }));
  const flash = h('div', { id: 'flash', 'aria-live': 'polite' });
  if (replayedAll && replayedAll.registration === reg && Date.now() - replayedAll.at < 60000) flash.append(replayedAll.node);
  const replayAll = reg && list.length ? h('button', { type: 'button', class: 'primary', id: 'replay-all' }, `Replay all (${list.length})`) : null;
  if (replayAll) {
    replayAll.addEventListener('click', async () => {
      replayAll.disabled = true;
      try {
        const r = await api(`/api/v1/deadletters/replay${qs({ registration: reg })}`, { method: 'POST' });
        const node = h('div', { class: 'flash' }, `Replayed ${r.replayed} dead letter${r.replayed === 1 ? '' : 's'} of ${reg}: they are being delivered again. `,
          h('a', { href: link('traces', [reg]) }, 'Watch in debug tracing →'));
        replayedAll = { registration: reg, node, at: Date.now() };
        flash.replaceChildren(node);
        setTimeout(() => render({ refresh: true }), 1500);
      } catch (e) {
        flash.replaceChildren(errorBox(e));
        replayAll.disabled = false;
      }
    });
  }
  const out = [pageHead('Dead letters', 'Deliveries that ran out of retries or were rejected. Fix the cause, then replay them.', replayAll),
    h('div', { class: 'card filters', role: 'search' }, h('div', { class: 'field' }, h('label', { for: 'dl-registration' }, 'Registration'), select)), flash];
  for (const [id, w] of watchers) if (Date.now() - w.at > 300000) watchers.delete(id);
  const watching = [...watchers.values()].filter((w) => !list.some((d) => d.id === w.dl.id) && (!reg || w.dl.registration === reg));
  if (!list.length && !watching.length) {
    out.push(empty('No dead letters.', reg ? `Every delivery to ${reg} either succeeded or is still being retried.` : 'Every delivery either succeeded or is still being retried.'));
    return out;
  }
  const columns = [{ title: 'Registration' }, { title: 'Event' }, { title: 'Reason' }, { title: 'Attempts', cls: 'num' }, { title: 'Last status' }, { title: 'Last error' }, { title: 'Last attempt' }, { title: '' }];
  const rows = [...list.map((d) => ({ d, gone: false })), ...watching.map((w) => ({ d: w.dl, gone: true }))];
  const tbody = h('tbody', {}, rows.map(({ d, gone }) => {
    const status = watchers.get(d.id)?.line || h('div', { class: 'replay-status' });
    const button = h('button', { type: 'button', class: 'small replay', 'data-key': `dl:${d.id}`, disabled: gone }, gone ? 'Replayed' : 'Replay');
    button.addEventListener('click', async () => {
      button.disabled = true;
      const startedAt = Date.now();
      try {
        const r = await api(`/api/v1/deadletters/${encodeURIComponent(d.id)}/replay`, { method: 'POST' });
        if (!r || !r.replayed) throw new Error('Nothing was replayed: it may have been replayed already.');
        button.textContent = 'Replayed';
        watchers.set(d.id, { dl: d, line: status, at: Date.now() });
        await watchReplay(d, status, startedAt);
      } catch (e) {
        status.replaceChildren(h('span', { class: 'error-text' }, e.message));
        button.disabled = false;
      }
    });
    return h('tr', { class: 'deadletter', 'data-id': d.id },
      h('td', {}, h('a', { href: link('traces', [d.registration]), class: 'nowrap' }, d.registration)),
      h('td', {}, h('a', { class: 'mono', href: link('events', [d.eventId]), title: d.eventId }, short(d.eventId)), h('span', { class: 'sub mono nowrap' }, d.eventType)),
      h('td', {}, d.reason ? h('span', { class: 'tag' }, d.reason) : '—'),
      h('td', { class: 'num' }, String(d.attempts ?? '—')),
      h('td', {}, d.lastStatus ? statusBadge(d.lastStatus) : h('span', { class: 'muted' }, '—')),
      h('td', {}, d.lastError ? h('span', { class: 'ellipsis', title: d.lastError }, d.lastError) : h('span', { class: 'muted' }, '—')),
      h('td', {}, when(d.lastAttempt)),
      h('td', { class: 'replay-cell' }, button, status));
  }));
  out.push(h('div', { class: 'card table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.cls || '' }, c.title)))), tbody)));
  return out;
};

// ---------- sign in, refresh, keys ----------

function showLogin(message) {
  state.csrf = null;
  $('#top').hidden = true;
  $('#keys').hidden = true;
  $('#main').replaceChildren();
  $('#login').hidden = false;
  const err = $('#login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('#token').focus();
}

function showApp() {
  $('#login').hidden = true;
  $('#top').hidden = false;
  $('#keys').hidden = false;
  render();
}

async function signIn(e) {
  e.preventDefault();
  const input = $('#token');
  const button = $('#login-submit');
  const err = $('#login-error');
  button.disabled = true;
  err.hidden = true;
  try {
    const r = await fetch('/console/login', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: input.value }), credentials: 'same-origin',
    });
    const json = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(json.error || `Sign-in failed (${r.status}).`);
    input.value = '';
    state.csrf = json.csrf;
    showApp();
  } catch (ex) {
    err.textContent = ex.message === 'Failed to fetch' ? 'evkit is not reachable.' : ex.message;
    err.hidden = false;
    input.select();
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try { await api('/console/logout', { method: 'POST', body: {} }); } catch { /* signed out either way */ }
  showLogin('Signed out.');
}

function setAuto(on) {
  state.auto = on;
  localStorage.setItem('evkit.autorefresh', on ? 'on' : 'off');
  const b = $('#autorefresh');
  b.setAttribute('aria-pressed', String(on));
  b.textContent = on ? 'Auto-refresh on' : 'Auto-refresh';
  clearInterval(state.timer);
  state.timer = on ? setInterval(() => {
    const a = document.activeElement;
    // Not while the user types or picks in a filter.
    if (a && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName)) return;
    if (!document.hidden && state.csrf) render({ refresh: true });
  }, REFRESH_MS) : null;
}

function tickUpdated() {
  const el = $('#updated');
  if (el && state.lastLoad) el.textContent = `Updated ${relative(state.lastLoad)}`;
  for (const t of $$('time[data-ts]')) t.textContent = relative(Number(t.dataset.ts));
}

function onKey(e) {
  if (!state.csrf || e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = e.target.tagName;
  if (/^(INPUT|SELECT|TEXTAREA)$/.test(tag)) {
    if (e.key === 'Escape') e.target.blur();
    return;
  }
  const pages = ['registrations', 'traces', 'journal', 'activations', 'deadletters', 'charts'];
  if (/^[1-6]$/.test(e.key)) { go(pages[Number(e.key) - 1]); e.preventDefault(); return; }
  if (e.key === 'r') { render({ refresh: true }); return; }
  if (e.key === 'a') { setAuto(!state.auto); return; }
  if (e.key === '/') {
    const f = $('#main .filters input, #main .filters select');
    if (f) { e.preventDefault(); f.focus(); }
    return;
  }
  if (e.key === 'j' || e.key === 'k') {
    const rows = $$('#main tr.row');
    if (!rows.length) return;
    const i = rows.indexOf(document.activeElement);
    const next = e.key === 'j' ? Math.min(rows.length - 1, i + 1) : Math.max(0, i < 0 ? 0 : i - 1);
    rows[next].focus();
    e.preventDefault();
  }
}

async function start() {
  $('#login-form').addEventListener('submit', signIn);
  $('#signout').addEventListener('click', signOut);
  $('#refresh').addEventListener('click', () => render({ refresh: true }));
  $('#autorefresh').addEventListener('click', () => setAuto(!state.auto));
  window.addEventListener('hashchange', () => render());
  document.addEventListener('keydown', onKey);
  setInterval(tickUpdated, 10000);
  setAuto(state.auto);
  try {
    const r = await fetch('/console/session', { credentials: 'same-origin', cache: 'no-store' });
    const json = await r.json().catch(() => ({}));
    if (r.ok) {
      state.csrf = json.csrf;
      showApp();
    } else {
      showLogin(r.status === 401 ? '' : json.error);
    }
  } catch {
    showLogin('evkit is not reachable.');
  }
}

start();
