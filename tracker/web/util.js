// gapwatch dashboard, part 1 of 6: what every page uses: constants, the DOM helper `h` (text,
// never HTML), badges and tables, the fetch wrapper `api` and its `ApiError`, number, time and
// gap formatting, the hash address (`parseHash`, `setQuery`) and a page's lifetime (`newView`,
// `fail`, `showError`). Starts the `window.gapwatch` namespace the later files read and extend.
'use strict';
(() => {
  const API = '/api/2.0';
  const PAGE_SIZE = 100;
  const POLL_MS = 2000;
  const MAX_POINTS = 4000;
  const MAX_DEFAULT_PARAMS = 6;
  const CHART_HEIGHT = 280;
  const MAX_EPOCH_ROWS = 400;
  const ROLE_COLORS = {
    train: '#1f77b4', train_eval: '#9467bd', val: '#d62728', extra: '#2a7f62',
  };
  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
    '#17becf', '#bcbd22', '#7f7f7f'];
  const VERDICT_CLASS = {
    overfitting: 'bad', 'good fit': 'good', underfitting: 'warn',
  };

  // ---- DOM ----------------------------------------------------------------------------------

  /** Creates an element: attributes via setAttribute (`on*` become listeners), children as text. */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }
  const $ = (id) => document.getElementById(id);
  const app = () => $('app');
  const setLoading = (on) => app().setAttribute('data-loading', on ? 'true' : 'false');

  function badge(text, cls, attrs) {
    return h('span', Object.assign({ class: `badge ${cls || ''}` }, attrs), text);
  }
  const verdictBadge = (label) => badge(label || '—', label ? VERDICT_CLASS[label] || 'grey' : 'none');
  const statusBadge = (status, attrs) => badge(status || '—', `status-${(status || '').toLowerCase()}`, attrs);

  function table(attrs, head, rows) {
    return h('table', attrs, h('thead', null, h('tr', null, head.map((c) => (c instanceof Node ? c : h('th', null, c))))),
      h('tbody', null, rows));
  }

  // ---- fetch ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super(body.message || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, params, signal) {
    const url = new URL(API + path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v != null && v !== '') url.searchParams.set(k, v);
    }
    const res = await fetch(url, { signal, credentials: 'same-origin', headers: { Accept: 'application/json' } });
    let body = {};
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }

  // ---- format --------------------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(ms) {
    if (ms == null) return '—';
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function fmtDur(ms) {
    if (ms == null || !Number.isFinite(ms)) return '—';
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${pad(Math.floor(s % 60))}s`;
    return `${Math.floor(m / 60)}h ${pad(m % 60)}m`;
  }
  function fmtNum(v, digits = 4) {
    if (v == null || typeof v !== 'number' || Number.isNaN(v)) return v == null ? '—' : String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-4)) return v.toExponential(3);
    if (Number.isInteger(v)) return String(v);
    return v.toFixed(digits);
  }
  const fmtGap = (v, pct) => (v == null ? '-' : pct ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)} pts` : `${v >= 0 ? '+' : ''}${v.toFixed(4)}`);
  const runDuration = (start, end, status) => (start == null ? null : (end || (status === 'RUNNING' ? Date.now() : null)) - start);

  // ---- address and page lifetime -----------------------------------------------------------

  function parseHash() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    let parts;
    try { parts = path.split('/').filter(Boolean).map(decodeURIComponent); } catch (_) { parts = ['?']; }
    return { path, parts, query };
  }

  /** Rewrites the current hash's query with `patch` (null removes a key); the router reloads. */
  function setQuery(patch) {
    const { path, query } = parseHash();
    for (const [k, v] of Object.entries(patch)) {
      if (v == null || v === '') query.delete(k); else query.set(k, v);
    }
    const qs = query.toString();
    location.hash = `#${path}${qs ? `?${qs}` : ''}`;
  }

  /** A page's lifetime: its fetches, timers and charts, all dropped when the page is left. */
  function newView(key) {
    const abort = new AbortController();
    const v = {
      key, alive: true, timers: new Set(), charts: new Set(), update: null,
      api: (path, params) => api(path, params, abort.signal),
      later(fn, ms) { const t = setTimeout(() => { v.timers.delete(t); fn(); }, ms); v.timers.add(t); },
      dispose() {
        v.alive = false;
        abort.abort();
        v.timers.forEach(clearTimeout);
        v.charts.forEach((c) => c.destroy());
      },
    };
    return v;
  }

  function fail(v, e) {
    if (!v.alive || (e && e.name === 'AbortError')) return;
    showError(e);
    setLoading(false);
  }

  function showError(e) {
    let box = $('error');
    if (!box) {
      box = h('div', { id: 'error', role: 'alert' });
      app().prepend(box);
    }
    box.replaceChildren(e instanceof Error ? e.message : String(e));
    if (e && e.status === 401) box.append(' ', h('a', { href: '/' }, 'log in'));
    if (e && e.status && !(e instanceof ApiError && e.body.message)) box.append(` (HTTP ${e.status})`);
    box.hidden = false;
  }
  const clearError = () => { const box = $('error'); if (box) box.hidden = true; };

  window.gapwatch = {
    PAGE_SIZE, POLL_MS, MAX_POINTS, MAX_DEFAULT_PARAMS, CHART_HEIGHT, MAX_EPOCH_ROWS, ROLE_COLORS,
    PALETTE, h, $, app, setLoading, badge, verdictBadge, statusBadge, table, ApiError, api, fmtTime,
    fmtDur, fmtNum, fmtGap, runDuration, parseHash, setQuery, newView, fail, showError, clearError,
  };
})();
