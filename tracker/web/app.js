// gapwatch dashboard: experiments, runs, learning curves, verdicts and comparisons, served by
// `track daemon` at `/` and drawn with the vendored uPlot (global `uPlot`).
//
// Plain ES2020, no framework, no build step. Every user-controlled string goes into the page with
// textContent, createTextNode or setAttribute (the `h` helper), never innerHTML. Routes are the
// MLflow UI's hash routes, so the links the MLflow client prints open here.
//
// Layout, in flow order: helpers (DOM, fetch, format) -> router -> pages (experiments list,
// experiment, run, compare) -> charts (series alignment, smoothing, overlays).
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

  // ---- router --------------------------------------------------------------------------------

  let view = null;

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

  function route() {
    const { parts, query } = parseHash();
    let kind = 'notFound';
    let args = [];
    if (parts.length === 0) kind = 'experiments';
    else if (parts[0] === 'experiments' && parts.length === 2) { kind = 'experiment'; args = [parts[1]]; }
    else if (parts[0] === 'experiments' && parts.length >= 4 && parts[2] === 'runs') { kind = 'run'; args = [parts[1], parts[3]]; }
    else if ((parts[0] === 'compare' || parts[0] === 'compare-runs') && parts.length === 1) kind = 'compare';
    const key = `${kind}:${args.join('/')}`;
    if (view && view.key === key && view.update) { view.update(query); return; }
    if (view) view.dispose();
    app().replaceChildren();
    const v = newView(key);
    view = v;
    setLoading(true);
    PAGES[kind](v, args, query).catch((e) => fail(v, e));
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

  // ---- experiments list ----------------------------------------------------------------------

  async function pageExperiments(v) {
    document.title = 'Experiments · gapwatch';
    const res = await v.api('/mlflow/experiments/search', { max_results: 1000 });
    const exps = (res.experiments || []).slice()
      .sort((a, b) => (b.last_update_time || 0) - (a.last_update_time || 0));
    const rows = exps.map((e) => h('tr', { 'data-experiment-id': e.experiment_id },
      h('td', null, h('a', { href: `#/experiments/${encodeURIComponent(e.experiment_id)}`, 'data-experiment-id': e.experiment_id }, e.name)),
      h('td', { class: 'num' }, e.experiment_id),
      h('td', null, fmtTime(e.last_update_time)),
      h('td', null, fmtTime(e.creation_time))));
    app().append(h('h1', null, 'Experiments'),
      exps.length
        ? table({ id: 'experiments', class: 'grid' }, ['name', 'id', 'last update', 'created'], rows)
        : h('p', { id: 'experiments', class: 'empty' }, 'No experiments yet: log runs with `track train`, `track demo` or the MLflow client.'));
    setLoading(false);
  }

  // ---- experiment page -----------------------------------------------------------------------

  const BASE_COLS = [
    ['name', 'name', 'attributes.run_name'], ['status', 'status', 'attributes.status'],
    ['start', 'start', 'attributes.start_time'], ['duration', 'duration', '~duration'],
    ['verdict', 'verdict', '~verdict'], ['onset', 'onset', '~onset'], ['best', 'best val', '~best'],
  ];
  const quoteKey = (k) => (/^[A-Za-z0-9_.]+$/.test(k) ? k : `\`${k}\``);
  const colsStoreKey = (id) => `gapwatch.columns.${id}`;

  function defaultColumns(data) {
    const runs = data.runs;
    const differing = data.param_keys.filter((k) => new Set(runs.map((r) => r.params[k]).filter((x) => x != null)).size > 1);
    const metrics = ['val_loss', 'val_acc'].filter((k) => data.metric_keys.includes(k));
    return [...differing.slice(0, MAX_DEFAULT_PARAMS).map((k) => `params.${k}`), ...metrics.map((k) => `metrics.${k}`)];
  }

  const CLIENT_SORT = {
    duration: (r) => runDuration(r.start_time, r.end_time, r.status),
    verdict: (r) => (r.verdict ? r.verdict.label : null),
    onset: (r) => r.onset_epoch,
    best: (r) => (r.best ? r.best.value : null),
  };

  async function pageExperiment(v, [id], query) {
    const st = { selected: new Set(), data: null, query };
    const name = h('h1', { id: 'experiment-name' }, id);
    const filter = h('input', {
      id: 'filter', type: 'search', spellcheck: 'false', autocomplete: 'off', 'aria-label': 'filter runs',
      placeholder: 'filter: metrics.val_loss < 0.5 and params.`optim.learning_rate` = "0.01" (Enter applies)',
    });
    filter.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') setQuery({ filter: filter.value.trim() || null, page: null });
    });
    const ferr = h('div', { id: 'filter-error', role: 'alert', hidden: true });
    const total = h('span', { id: 'runs-total' }, '…');
    const compare = h('button', { id: 'compare', type: 'button', disabled: true }, 'Compare');
    compare.addEventListener('click', () => {
      location.hash = `#/compare?runs=${[...st.selected].map(encodeURIComponent).join(',')}`;
    });
    const chooser = h('details', { id: 'columns', class: 'chooser' }, h('summary', null, 'columns'));
    const prev = h('button', { id: 'page-prev', type: 'button' }, '‹ prev');
    const next = h('button', { id: 'page-next', type: 'button' }, 'next ›');
    const info = h('span', { id: 'page-info' });
    prev.addEventListener('click', () => setQuery({ page: String(Math.max(1, page() - 1)) }));
    next.addEventListener('click', () => setQuery({ page: String(page() + 1) }));
    const runsTable = h('table', { id: 'runs', class: 'grid' }, h('thead'), h('tbody'));
    const page = () => Math.max(1, parseInt(st.query.get('page'), 10) || 1);

    app().append(
      h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Experiments'), ' / '),
      name,
      h('div', { class: 'toolbar' }, filter, chooser),
      ferr,
      h('div', { class: 'toolbar' }, h('span', null, total, ' runs'), compare,
        h('span', { class: 'spacer' }), prev, info, next),
      h('div', { class: 'scroll' }, runsTable));

    const columns = () => {
      try {
        const saved = JSON.parse(localStorage.getItem(colsStoreKey(id)) || 'null');
        if (Array.isArray(saved)) return saved;
      } catch (_) { /* defaults */ }
      return defaultColumns(st.data);
    };

    function renderChooser() {
      const chosen = new Set(columns());
      const box = (col) => {
        const input = h('input', { type: 'checkbox', value: col, checked: chosen.has(col) });
        input.addEventListener('change', () => {
          const now = new Set(columns());
          if (input.checked) now.add(col); else now.delete(col);
          const order = [...st.data.param_keys.map((k) => `params.${k}`), ...st.data.metric_keys.map((k) => `metrics.${k}`)];
          localStorage.setItem(colsStoreKey(id), JSON.stringify(order.filter((c) => now.has(c))));
          renderTable();
        });
        return h('label', null, input, ' ', col.replace(/^(params|metrics)\./, ''));
      };
      chooser.replaceChildren(h('summary', null, 'columns'),
        h('div', { class: 'chooser-body' },
          h('fieldset', null, h('legend', null, 'params'), st.data.param_keys.map((k) => box(`params.${k}`))),
          h('fieldset', null, h('legend', null, 'metrics'), st.data.metric_keys.map((k) => box(`metrics.${k}`))),
          h('button', {
            type: 'button',
            onclick: () => { localStorage.removeItem(colsStoreKey(id)); renderChooser(); renderTable(); },
          }, 'defaults')));
    }

    function updateCompare() {
      compare.disabled = st.selected.size < 2;
      compare.textContent = st.selected.size ? `Compare (${st.selected.size})` : 'Compare';
    }

    function renderTable() {
      const data = st.data;
      const order = st.query.get('order') || 'attributes.start_time DESC';
      const [orderKey, orderDir] = order.split(/\s+(?=(?:ASC|DESC)$)/i);
      const sort = st.query.get('sort') || '';
      const extra = columns();
      const cols = [...BASE_COLS, ...extra.map((c) => {
        const [kind, ...rest] = c.split('.');
        const key = rest.join('.');
        return [c, key, `${kind}.${quoteKey(key)}`];
      })];
      const all = h('input', { type: 'checkbox', 'aria-label': 'select all on this page' });
      all.checked = data.runs.length > 0 && data.runs.every((r) => st.selected.has(r.run_id));
      all.addEventListener('change', () => {
        data.runs.forEach((r) => (all.checked ? st.selected.add(r.run_id) : st.selected.delete(r.run_id)));
        renderTable();
      });
      const head = h('tr', null, h('th', { class: 'sel' }, all), cols.map(([col, label, sortKey]) => {
        const client = sortKey.startsWith('~');
        const active = client ? sort.replace(/^-/, '') === col : !sort && orderKey === sortKey;
        const desc = client ? sort.startsWith('-') : /desc/i.test(orderDir || 'ASC');
        const th = h('th', {
          'data-sort': client ? col : sortKey, 'data-col': col, class: active ? 'sorted' : null,
          title: client ? 'sort this page' : `sort by ${sortKey}`,
          'aria-sort': active ? (desc ? 'descending' : 'ascending') : null,
        }, label, active ? (desc ? ' ▼' : ' ▲') : '');
        th.addEventListener('click', () => {
          if (client) setQuery({ sort: active && !desc ? `-${col}` : col });
          else setQuery({ order: `${sortKey} ${active && !desc ? 'DESC' : 'ASC'}`, sort: null, page: null });
        });
        return th;
      }));
      let runs = data.runs;
      if (sort) {
        const col = sort.replace(/^-/, '');
        const f = CLIENT_SORT[col];
        const dir = sort.startsWith('-') ? -1 : 1;
        if (f) {
          runs = runs.slice().sort((a, b) => {
            const x = f(a); const y = f(b);
            if (x == null || y == null) return (x == null) - (y == null);
            return (x < y ? -1 : x > y ? 1 : 0) * dir;
          });
        }
      }
      const rows = runs.map((r) => {
        const sel = h('input', { type: 'checkbox', class: 'select-run', 'data-run-id': r.run_id, 'aria-label': 'select run' });
        sel.checked = st.selected.has(r.run_id);
        sel.addEventListener('change', () => {
          if (sel.checked) st.selected.add(r.run_id); else st.selected.delete(r.run_id);
          updateCompare();
        });
        const verdict = r.verdict ? verdictBadge(r.verdict.label) : h('span', { class: 'muted' }, '—');
        const vtitle = r.verdict ? r.verdict.summary : r.analysis_error;
        const cells = {
          name: h('a', { href: `#/experiments/${encodeURIComponent(id)}/runs/${encodeURIComponent(r.run_id)}` }, r.run_name || r.run_id),
          status: statusBadge(r.status),
          start: fmtTime(r.start_time),
          duration: fmtDur(runDuration(r.start_time, r.end_time, r.status)),
          verdict,
          onset: r.onset_epoch == null ? '—' : String(r.onset_epoch),
          best: r.best ? `${fmtNum(r.best.value)} @ ${r.best.epoch}` : '—',
        };
        return h('tr', { 'data-run-id': r.run_id, class: sel.checked ? 'selected' : null },
          h('td', { class: 'sel' }, sel),
          cols.map(([col]) => {
            let content = cells[col];
            let cls = null;
            if (content === undefined) {
              const [kind, ...rest] = col.split('.');
              const value = (kind === 'params' ? r.params : r.metrics)[rest.join('.')];
              content = kind === 'metrics' ? fmtNum(value) : value == null ? '—' : value;
              cls = kind === 'metrics' ? 'num' : null;
            }
            if (col === 'onset' || col === 'best' || col === 'duration') cls = 'num';
            return h('td', {
              'data-col': col, class: cls,
              title: col === 'verdict' ? vtitle : col === 'best' && r.best ? `best by ${r.best.metric} at epoch ${r.best.epoch}` : null,
            }, content);
          }));
      });
      runsTable.replaceChildren(h('thead', null, head), h('tbody', null, rows.length ? rows
        : h('tr', { class: 'empty' }, h('td', { colspan: cols.length + 1 }, 'No runs match.'))));
      updateCompare();
    }

    function showFilterError(e) {
      const pos = e.body.position;
      const token = e.body.token;
      const text = st.query.get('filter') || st.query.get('order') || '';
      ferr.replaceChildren(h('div', null, e.message));
      if (pos != null) {
        ferr.setAttribute('data-position', pos);
        ferr.append(h('div', { class: 'muted' }, `at position ${pos}${token != null ? `, near "${token}"` : ''}`),
          h('pre', { class: 'caret' }, text, '\n', `${' '.repeat(Math.max(0, pos))}^`));
      } else ferr.removeAttribute('data-position');
      if (token != null) ferr.setAttribute('data-token', token); else ferr.removeAttribute('data-token');
      ferr.hidden = false;
    }

    async function load(query) {
      st.query = query;
      if (document.activeElement !== filter) filter.value = query.get('filter') || '';
      setLoading(true);
      clearError();
      const offset = (page() - 1) * PAGE_SIZE;
      let data;
      try {
        data = await v.api('/gapwatch/experiments/runs', {
          experiment_id: id, filter: query.get('filter'), order_by: query.get('order'), offset, limit: PAGE_SIZE,
        });
      } catch (e) {
        if (e instanceof ApiError && e.status === 400 && v.alive) {
          // The rows of the last good query stay, under the error.
          showFilterError(e);
          if (!st.data) { total.textContent = '0'; prev.disabled = true; next.disabled = true; }
          setLoading(false);
          return;
        }
        throw e;
      }
      if (!v.alive) return;
      ferr.hidden = true;
      ferr.replaceChildren();
      ferr.removeAttribute('data-position');
      ferr.removeAttribute('data-token');
      st.data = data;
      name.textContent = data.experiment.name;
      document.title = `${data.experiment.name} · gapwatch`;
      total.textContent = String(data.total);
      const shown = data.runs.length;
      info.textContent = shown ? `${offset + 1}–${offset + shown} of ${data.total}` : `page ${page()}`;
      prev.disabled = page() <= 1;
      next.disabled = offset + shown >= data.total;
      renderChooser();
      renderTable();
      setLoading(false);
    }

    v.api('/mlflow/experiments/get', { experiment_id: id }).then((e) => {
      if (!st.data) name.textContent = e.experiment.name;
    }).catch(() => {});
    v.update = (q) => load(q).catch((e) => fail(v, e));
    await load(query);
  }

  // ---- run page ------------------------------------------------------------------------------

  const ROLE_NAMES = {
    train_loss: 'train', train_eval_loss: 'train_eval', val_loss: 'val',
    train_acc: 'train', train_eval_acc: 'train_eval', val_acc: 'val',
  };

  /** Metric names the analysis recognises (gapwatch's, Keras's, common others). */
  const KNOWN_NAMES = new Set(['train_loss', 'loss', 'train_eval_loss', 'val_loss', 'validation_loss', 'valid_loss',
    'eval_loss', 'val/loss', 'epoch_val_loss', 'train_acc', 'acc', 'accuracy', 'train_eval_acc', 'val_acc',
    'val_accuracy', 'validation_acc', 'valid_acc', 'eval_acc', 'val/acc']);

  /** The loss and accuracy charts' lines: by role from the analysis, else by metric name. */
  function chartSpecs(analysis, metricKeys) {
    const m = analysis && analysis.metrics;
    const pick = (roles, re) => {
      if (m) return roles.filter((r) => m[r]).map((r) => ({ key: m[r], role: ROLE_NAMES[r] }));
      const known = metricKeys.filter((k) => KNOWN_NAMES.has(k) && re.test(k));
      const keys = known.length ? known : metricKeys.filter((k) => re.test(k) && !/^(best|test)/i.test(k));
      return keys.slice(0, 4).map((k) => ({
        key: k, role: /^val|valid/i.test(k) ? 'val' : /eval/i.test(k) ? 'train_eval' : /train/i.test(k) ? 'train' : 'extra',
      }));
    };
    let loss = pick(['train_loss', 'train_eval_loss', 'val_loss'], /loss/i);
    const acc = pick(['train_acc', 'train_eval_acc', 'val_acc'], /acc/i);
    if (!loss.length && !acc.length) loss = metricKeys.slice(0, 4).map((k, i) => ({ key: k, role: null, color: PALETTE[i] }));
    return { loss, acc };
  }

  async function pageRun(v, [expId, runId], query) {
    // `?x=wall&smoothing=0.6` in the address overrides the last choice (kept in localStorage).
    const st = {
      runId, run: null, analysis: null, analysisError: null, series: new Map(), charts: [],
      smoothing: Math.min(0.99, Math.max(0, parseFloat(query.get('smoothing') || localStorage.getItem('gapwatch.smoothing')) || 0)),
      xMode: query.get('x') || localStorage.getItem('gapwatch.xaxis') || 'step',
    };
    if (!['step', 'relative', 'wall'].includes(st.xMode)) st.xMode = 'step';
    // The analysis of a long run is slow to build: the charts are drawn from the run's metric
    // names first, and take the analysis's roles, best epoch and onset when it arrives.
    const analysisP = loadAnalysis(v, runId);
    analysisP.catch(() => {});
    const runRes = await v.api('/mlflow/runs/get', { run_id: runId });
    st.run = runRes.run;
    const info = st.run.info;
    const experimentId = info.experiment_id || expId;
    const expLink = h('a', { id: 'experiment-link', href: `#/experiments/${encodeURIComponent(experimentId)}` }, experimentId);
    v.api('/mlflow/experiments/get', { experiment_id: experimentId })
      .then((e) => { expLink.textContent = e.experiment.name; }).catch(() => {});
    document.title = `${info.run_name || runId} · gapwatch`;

    const statusEl = statusBadge(info.status, { id: 'run-status' });
    const live = badge('live', 'live', { id: 'live', hidden: true, title: 'updating every 2 s while the run is RUNNING' });
    const times = h('dl', { class: 'facts' });
    const verdictCard = h('section', { class: 'card', id: 'verdict-card' });
    const note = h('p', { id: 'chart-note', class: 'muted' });
    const grid = h('div', { class: 'charts' });
    const epochs = h('section', { class: 'card' });
    const smoothing = h('input', {
      id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', value: String(st.smoothing),
    });
    const smoothOut = h('output', { for: 'smoothing' }, st.smoothing.toFixed(2));
    const xAxis = h('select', { id: 'x-axis' },
      h('option', { value: 'step' }, 'step (epoch)'), h('option', { value: 'relative' }, 'relative time'),
      h('option', { value: 'wall' }, 'wall time'));
    xAxis.value = st.xMode;
    const extra = h('select', { id: 'extra-metric' });

    app().append(
      h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Experiments'), ' / ', expLink, ' / '),
      h('div', { class: 'run-head' }, h('h1', { id: 'run-name' }, info.run_name || runId), statusEl, live),
      times, verdictCard,
      h('section', { class: 'card' },
        h('div', { class: 'toolbar' },
          h('label', null, 'smoothing ', smoothing, ' ', smoothOut),
          h('label', null, 'x-axis ', xAxis),
          h('label', null, 'add metric ', extra)),
        note, grid),
      epochs,
      h('div', { class: 'two' },
        h('section', { class: 'card' }, h('h2', null, 'Params'), kvTable('params', st.run.data.params)),
        h('section', { class: 'card' }, h('h2', null, 'Tags'), kvTable('tags', st.run.data.tags))),
      h('section', { class: 'card' }, h('h2', null, 'Artifacts'), h('ul', { id: 'artifacts' }, h('li', { class: 'muted' }, '…'))));

    const renderHead = () => {
      const i = st.run.info;
      statusEl.textContent = i.status;
      statusEl.className = `badge status-${(i.status || '').toLowerCase()}`;
      times.replaceChildren(
        h('dt', null, 'start'), h('dd', null, fmtTime(i.start_time)),
        h('dt', null, 'end'), h('dd', null, fmtTime(i.end_time)),
        h('dt', null, 'duration'), h('dd', null, fmtDur(runDuration(i.start_time, i.end_time, i.status))),
        h('dt', null, 'run id'), h('dd', null, h('code', { id: 'run-id' }, i.run_id)));
    };
    const renderAnalysis = () => {
      verdictCard.replaceChildren(...verdictNodes(st));
      epochs.replaceChildren(h('h2', null, 'Per epoch'), epochTable(st.analysis));
    };
    renderHead();
    verdictCard.replaceChildren(h('h2', null, 'Verdict'), h('p', { class: 'muted' }, 'analysing…'));
    listArtifacts(v, runId);

    // Charts.
    const metricKeys = () => (st.run.data.metrics || []).map((m) => m.key).sort();
    const maxPoints = () => Math.min(MAX_POINTS, Math.max(200, 2 * Math.round(grid.clientWidth / 2)));
    const fetchSeries = async (key) => {
      const s = st.series.get(key);
      const res = await v.api('/gapwatch/runs/series', {
        run_id: runId, key, max_points: maxPoints(), after_step: s && s.steps.length ? s.steps[s.steps.length - 1] : null,
      });
      if (!s) {
        st.series.set(key, {
          steps: res.steps, ts: res.timestamps, vals: res.values, total: res.total, downsampled: res.downsampled,
        });
      } else if (res.steps.length) {
        s.steps.push(...res.steps); s.ts.push(...res.timestamps); s.vals.push(...res.values);
        s.total += res.total;
      }
    };
    const chartKeys = () => [...new Set(st.charts.flatMap((c) => c.spec.lines.map((l) => l.key)))];
    const renderNote = () => {
      const parts = [];
      for (const key of chartKeys()) {
        const s = st.series.get(key);
        if (s && s.downsampled) parts.push([key, `showing ${s.steps.length} of ${s.total} points`]);
      }
      const same = parts.every((p) => p[1] === (parts[0] || [])[1]);
      note.textContent = !parts.length ? '' : same && parts.length > 1
        ? `${parts[0][1]} in each of ${parts.map((p) => p[0]).join(', ')} (downsampled on the server)`
        : `${parts.map((p) => `${p[0]}: ${p[1]}`).join('; ')} (downsampled on the server)`;
      note.hidden = !parts.length;
    };
    const renderExtraOptions = () => {
      const shown = new Set(chartKeys());
      extra.replaceChildren(h('option', { value: '' }, '—'),
        metricKeys().filter((k) => !shown.has(k)).map((k) => h('option', { value: k }, k)));
    };
    const addChart = (spec) => {
      const el = h('div', { id: spec.id, class: 'chart' });
      const fig = h('figure', { class: 'chart-box', 'data-chart': spec.id }, h('figcaption', null, spec.title), el);
      if (spec.removable) {
        fig.firstChild.append(' ', h('button', {
          type: 'button', class: 'link', title: 'remove',
          onclick: () => { chart.destroy(); v.charts.delete(chart); st.charts.splice(st.charts.indexOf(chart), 1); fig.remove(); renderExtraOptions(); renderNote(); },
        }, '×'));
      }
      grid.append(fig);
      const chart = new Chart(el, spec, st);
      st.charts.push(chart);
      v.charts.add(chart);
      return chart;
    };
    /** Gives the loss and accuracy charts the lines the analysis (or the metric names) picks. */
    const respec = () => {
      const next = chartSpecs(st.analysis, metricKeys());
      for (const [id, lines] of [['chart-loss', next.loss], ['chart-acc', next.acc]]) {
        const chart = st.charts.find((c) => c.spec.id === id);
        if (chart && lines.map((l) => l.key + l.role).join() !== chart.spec.lines.map((l) => l.key + l.role).join()) {
          chart.spec.lines = lines;
          chart.needsRebuild = true;
        }
      }
    };
    const specs = chartSpecs(null, metricKeys());
    await Promise.all([...new Set([...specs.loss, ...specs.acc].map((l) => l.key))].map(fetchSeries));
    if (!v.alive) return;
    addChart({ id: 'chart-loss', title: 'Loss', lines: specs.loss, gap: true });
    addChart({ id: 'chart-acc', title: 'Accuracy', lines: specs.acc, gap: true });
    setAnalysis(st, await analysisP);
    if (!v.alive) return;
    renderAnalysis();
    respec();
    await Promise.all(chartKeys().filter((k) => !st.series.has(k)).map(fetchSeries));
    if (!v.alive) return;
    st.charts.forEach((c) => c.refresh(c.needsRebuild));
    renderExtraOptions();
    renderNote();
    setLoading(false);

    smoothing.addEventListener('input', () => {
      st.smoothing = parseFloat(smoothing.value) || 0;
      smoothOut.textContent = st.smoothing.toFixed(2);
      localStorage.setItem('gapwatch.smoothing', String(st.smoothing));
      st.charts.forEach((c) => c.refresh());
    });
    xAxis.addEventListener('change', () => {
      st.xMode = xAxis.value;
      localStorage.setItem('gapwatch.xaxis', st.xMode);
      st.charts.forEach((c) => c.refresh(true));
    });
    extra.addEventListener('change', async () => {
      const key = extra.value;
      if (!key) return;
      extra.value = '';
      try {
        if (!st.series.has(key)) await fetchSeries(key);
        if (!v.alive) return;
        addChart({ id: `chart-extra-${key}`, title: key, lines: [{ key, role: 'extra' }], removable: true });
        renderExtraOptions();
        renderNote();
      } catch (e) { fail(v, e); }
    });
    const onResize = () => st.charts.forEach((c) => c.resize());
    window.addEventListener('resize', onResize);
    const dispose = v.dispose;
    v.dispose = () => { window.removeEventListener('resize', onResize); dispose(); };

    // Live: while RUNNING, poll the run, the new points of each series, and the analysis.
    const tick = async () => {
      if (!v.alive) return;
      try {
        const [runRes2, analysis2] = await Promise.all([
          v.api('/mlflow/runs/get', { run_id: runId }), loadAnalysis(v, runId),
        ]);
        if (!v.alive) return;
        st.run = runRes2.run;
        setAnalysis(st, analysis2);
        respec();
        await Promise.all(chartKeys().map(fetchSeries));
        if (!v.alive) return;
        renderHead();
        renderAnalysis();
        st.charts.forEach((c) => c.refresh(c.needsRebuild));
        renderExtraOptions();
        renderNote();
        clearError();
      } catch (e) {
        if (e.name === 'AbortError') return;
        showError(e);
      }
      if (st.run.info.status === 'RUNNING') v.later(tick, POLL_MS);
      else live.hidden = true;
    };
    if (info.status === 'RUNNING') {
      live.hidden = false;
      v.later(tick, POLL_MS);
    }
  }

  async function loadAnalysis(v, runId) {
    try {
      return { analysis: await v.api('/gapwatch/runs/analysis', { run_id: runId }) };
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) return { error: e.message };
      throw e;
    }
  }
  function setAnalysis(st, res) {
    st.analysis = res.analysis || null;
    st.analysisError = res.error || null;
  }

  function verdictNodes(st) {
    const a = st.analysis;
    if (!a) {
      return [h('div', { class: 'verdict-main' }, h('h2', null, 'Verdict'),
        h('div', { id: 'verdict', 'data-label': '', class: 'verdict' },
          verdictBadge(null), ' ', h('span', { class: 'muted' }, `No analysis: ${st.analysisError || 'unavailable'}`)),
        h('dl', { class: 'facts' }, h('dt', null, 'best epoch'), h('dd', { id: 'best-epoch' }, '—'),
          h('dt', null, 'onset'), h('dd', { id: 'onset' }, '—'))),
      h('div', { class: 'verdict-causes' }, h('ol', { id: 'causes' }))];
    }
    const b = a.best;
    const se = b.se != null ? ` ± ${b.se.toFixed(4)}` : '';
    const acc = b.val_acc != null ? `, val acc ${(b.val_acc * 100).toFixed(2)}%` : '';
    const basis = a.gap_basis === 'running_train' || a.gap_basis === 'RunningTrain'
      ? 'running training metrics' : 'training set evaluated like validation';
    const causes = (a.causes || []).map((c) => h('li', { 'data-config-key': c.config_key, 'data-kind': c.kind },
      h('div', null, c.evidence),
      h('div', { class: 'fix' }, '→ set ', h('code', null, c.config_key),
        c.current != null ? ` (now ${c.current})` : '', ' to ', h('code', null, c.suggested),
        h('span', { class: 'muted' }, ' · '), h('code', { class: 'set', title: 'to try: track train … (the first word of the suggestion)' },
          `--set ${c.config_key}=${String(c.suggested).split(/\s/)[0]}`))));
    return [h('div', { class: 'verdict-main' },
      h('h2', null, 'Verdict'),
      h('div', { id: 'verdict', class: 'verdict', 'data-label': a.verdict.label },
        verdictBadge(a.verdict.label), ' ', h('span', { class: 'summary' }, a.summary)),
      h('dl', { class: 'facts' },
        h('dt', null, 'best epoch'), h('dd', null, h('span', { id: 'best-epoch' }, String(b.epoch)),
          ` by ${b.metric} = ${b.value.toFixed(4)}${se} (val loss ${b.val_loss.toFixed(4)}${acc})`),
        h('dt', null, 'onset'), h('dd', null, h('span', { id: 'onset' }, a.onset_epoch == null ? 'none' : String(a.onset_epoch))),
        h('dt', null, 'final gap'), h('dd', null, `loss ${fmtGap(a.final_loss_gap)}, accuracy ${fmtGap(a.final_acc_gap, true)}`,
          a.gap_basis ? ` (against the ${basis})` : ''),
        h('dt', null, 'epochs'), h('dd', null, String(a.epochs)))),
    h('div', { class: 'verdict-causes' },
      h('h3', null, causes.length ? 'Likely causes, most likely first' : 'Likely causes: none to report'),
      h('ol', { id: 'causes' }, causes))];
  }

  function epochTable(a) {
    if (!a) return h('p', { class: 'muted' }, 'No per-epoch analysis for this run.');
    const cols = ['epoch', 'train_loss', 'train_eval_loss', 'val_loss', 'loss_gap', 'train_acc', 'val_acc', 'acc_gap'];
    // A long run shows its first and last epochs, and its best and onset (`track analyze
    // --format csv` has them all).
    let list = a.per_epoch;
    const n = list.length;
    if (n > MAX_EPOCH_ROWS) {
      const keep = (r, i) => i < MAX_EPOCH_ROWS / 2 || i >= n - MAX_EPOCH_ROWS / 2 || r.epoch === a.best.epoch || r.epoch === a.onset_epoch;
      list = list.filter(keep);
    }
    const rows = list.map((r) => {
      const after = a.onset_epoch != null && r.epoch >= a.onset_epoch;
      const mark = [r.epoch === a.best.epoch && 'best', r.epoch === a.onset_epoch && 'onset'].filter(Boolean).join(', ');
      const val = { ...r, train_acc: r.train_eval_acc != null ? r.train_eval_acc : r.train_acc };
      return h('tr', { 'data-epoch': r.epoch, class: mark ? mark.replace(', ', ' ') : null },
        cols.map((c) => h('td', { class: `num${after && c.endsWith('_gap') ? ' after-onset' : ''}`, 'data-col': c },
          c === 'epoch' ? String(r.epoch) : val[c] == null ? '—' : val[c].toFixed(4))),
        h('td', { class: 'mark' }, mark));
    });
    return h('div', { class: 'scroll' },
      n > list.length ? h('p', { class: 'muted' }, `showing ${list.length} of ${n} epochs: the first and last ${MAX_EPOCH_ROWS / 2}, the best and the onset`) : null,
      table({ id: 'epochs', class: 'grid' }, [...cols, ''], rows));
  }

  function kvTable(id, items) {
    const list = (items || []).slice().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (!list.length) return h('table', { id, class: 'grid kv' }, h('tbody', null, h('tr', null, h('td', { class: 'muted' }, 'none'))));
    return h('table', { id, class: 'grid kv' }, h('tbody', null, list.map((p) => h('tr', { 'data-key': p.key },
      h('th', null, p.key), h('td', null, longText(p.value))))));
  }

  /** A value, folded to its first line when it is long (configs logged as tags). */
  function longText(value) {
    const text = String(value == null ? '' : value);
    if (text.length <= 160 && !text.includes('\n')) return text;
    const first = text.split('\n').find((l) => l.trim()) || '';
    return h('details', null, h('summary', null, `${first.slice(0, 80)}… (${text.split('\n').length} lines)`), h('pre', null, text));
  }

  async function listArtifacts(v, runId) {
    const ul = $('artifacts');
    const items = [];
    let budget = 500;
    const walk = async (path, depth) => {
      const res = await v.api('/mlflow/artifacts/list', { run_id: runId, path });
      for (const f of res.files || []) {
        if (budget-- <= 0) return;
        if (f.is_dir) { if (depth < 4) await walk(f.path, depth + 1); } else items.push(f);
      }
    };
    try {
      await walk(null, 0);
    } catch (e) {
      if (e.name !== 'AbortError' && ul) ul.replaceChildren(h('li', { class: 'muted' }, `artifacts unavailable: ${e.message}`));
      return;
    }
    if (!v.alive || !ul) return;
    ul.replaceChildren(...(items.length ? items.map((f) => h('li', null,
      h('a', {
        href: `/get-artifact?run_id=${encodeURIComponent(runId)}&path=${encodeURIComponent(f.path)}`,
        'data-path': f.path, download: f.path.split('/').pop(),
      }, f.path),
      f.file_size != null ? h('span', { class: 'muted' }, ` ${fmtBytes(f.file_size)}`) : null))
      : [h('li', { class: 'muted' }, 'none')]));
  }
  function fmtBytes(n) {
    const u = ['B', 'KB', 'MB', 'GB'];
    let i = 0;
    let x = Number(n);
    while (x >= 1024 && i < u.length - 1) { x /= 1024; i += 1; }
    return `${i ? x.toFixed(1) : x} ${u[i]}`;
  }

  // ---- compare page --------------------------------------------------------------------------

  function compareIds(query) {
    const raw = query.get('runs') || '';
    if (raw.startsWith('[')) {
      try { return JSON.parse(raw).map(String); } catch (_) { return []; }
    }
    return raw.split(',').map((s) => s.trim()).filter(Boolean);
  }

  async function pageCompare(v, _args, query) {
    document.title = 'Compare · gapwatch';
    const ids = [...new Set(compareIds(query))];
    app().append(h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Experiments'), ' / '),
      h('h1', null, `Compare ${ids.length} runs`));
    if (ids.length < 2) {
      app().append(h('p', null, 'Pick two or more runs on an experiment page, then press Compare.'));
      setLoading(false);
      return;
    }
    const [cmp, runs] = await Promise.all([
      v.api('/gapwatch/runs/compare', { run_ids: ids.join(',') }).catch((e) => {
        if (e instanceof ApiError && e.status === 400) return { error: e.message };
        throw e;
      }),
      Promise.all(ids.map((id) => v.api('/mlflow/runs/get', { run_id: id }).then((r) => r.run))),
    ]);
    const byId = new Map(runs.map((r) => [r.info.run_id, r]));
    const order = cmp.runs ? cmp.runs.map((r) => r.run_id) : ids;
    const color = new Map(order.map((id, i) => [id, PALETTE[i % PALETTE.length]]));
    const runName = (id) => { const r = byId.get(id); return (r && r.info.run_name) || id; };
    const head = [h('th', null, ''), order.map((id) => {
      const r = byId.get(id);
      return h('th', { 'data-run-id': id },
        h('span', { class: 'swatch', 'data-color': color.get(id) }),
        h('a', { href: `#/experiments/${encodeURIComponent(r ? r.info.experiment_id : '0')}/runs/${encodeURIComponent(id)}` }, runName(id)));
    })];
    const section = h('section', { class: 'card' }, h('h2', null, 'Params that differ, and outcomes'));
    if (cmp.error) {
      section.append(h('p', { class: 'error-inline' }, `No comparison: ${cmp.error}`));
    } else {
      const rowsP = cmp.differing.length
        ? cmp.differing.map((key, j) => h('tr', { 'data-param': key }, h('th', null, key),
          cmp.runs.map((r) => h('td', null, r.params[j] == null ? '—' : r.params[j]))))
        : [h('tr', { class: 'muted' }, h('td', { colspan: order.length + 1 }, 'The runs share every param.'))];
      const outcome = (key, label, f) => h('tr', { 'data-outcome': key, class: 'outcome' }, h('th', null, label),
        cmp.runs.map((r) => h('td', { class: key === 'verdict' ? null : 'num' }, f(r))));
      const rowsO = [
        outcome('rank', 'rank', (r) => `${r.tied ? '=' : ''}${r.rank}`),
        outcome('best', 'best', (r) => `${r.best_metric} ${r.best_value.toFixed(4)}`),
        outcome('se', '±', (r) => (r.repeat_mean != null && r.repeat_spread != null
          ? `mean ${r.repeat_mean.toFixed(4)} sd ${r.repeat_spread.toFixed(4)} over ${r.repeats} seeds`
          : r.best_se != null ? r.best_se.toFixed(4) : '—')),
        outcome('best_epoch', 'best epoch', (r) => String(r.best_epoch)),
        outcome('best_val_acc', 'best val acc', (r) => fmtNum(r.best_val_acc)),
        outcome('final_loss_gap', 'final loss gap', (r) => fmtNum(r.final_loss_gap)),
        outcome('final_acc_gap', 'final acc gap', (r) => fmtNum(r.final_acc_gap)),
        outcome('onset', 'onset', (r) => (r.onset_epoch == null ? '—' : String(r.onset_epoch))),
        outcome('verdict', 'verdict', (r) => verdictBadge(r.verdict)),
      ];
      const tbl = h('table', { id: 'compare-params', class: 'grid' }, h('thead', null, h('tr', null, head)),
        h('tbody', null, rowsP), h('tbody', { class: 'outcomes' }, rowsO));
      section.append(h('div', { class: 'scroll' }, tbl), h('p', { class: 'muted' }, `Best outcome first (${cmp.ranking}).`));
    }
    const keys = [...new Set(runs.flatMap((r) => (r.data.metrics || []).map((m) => m.key)))].sort();
    const select = h('select', { id: 'compare-metric' }, keys.map((k) => h('option', { value: k }, k)));
    select.value = keys.includes(query.get('metric')) ? query.get('metric') : keys.includes('val_loss') ? 'val_loss' : keys[0] || '';
    const el = h('div', { id: 'chart-compare', class: 'chart' });
    const note = h('p', { id: 'chart-note', class: 'muted', hidden: true });
    app().append(section, h('section', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h2', null, 'Curves'), h('label', null, 'metric ', select)), note, el));
    document.querySelectorAll('.swatch').forEach((s) => { s.style.background = s.getAttribute('data-color'); });

    let chart = null;
    const draw = async () => {
      const key = select.value;
      if (!key) return;
      const maxPoints = Math.min(MAX_POINTS, Math.max(200, el.clientWidth * 2));
      const st = { series: new Map(), smoothing: 0, xMode: 'step' };
      const res = await Promise.all(order.map((id) => v.api('/gapwatch/runs/series', { run_id: id, key, max_points: maxPoints })
        .catch((e) => { if (e instanceof ApiError && e.status < 500) return null; throw e; })));
      if (!v.alive) return;
      const lines = [];
      const notes = [];
      order.forEach((id, i) => {
        const r = res[i];
        if (!r || !r.steps.length) return;
        st.series.set(id, { steps: r.steps, ts: r.timestamps, vals: r.values, total: r.total, downsampled: r.downsampled });
        lines.push({ key: id, label: runName(id), color: color.get(id) });
        if (r.downsampled) notes.push(`${runName(id)}: showing ${r.steps.length} of ${r.total} points (downsampled on the server)`);
      });
      note.textContent = notes.join('; ');
      note.hidden = !notes.length;
      if (chart) { chart.destroy(); v.charts.delete(chart); }
      chart = new Chart(el, { id: 'chart-compare', lines, gap: false, markers: false }, st);
      v.charts.add(chart);
    };
    select.addEventListener('change', () => { setQuery({ metric: select.value }); });
    v.update = (q) => { if (q.get('metric') && q.get('metric') !== select.value) select.value = q.get('metric'); draw().catch((e) => fail(v, e)); };
    await draw();
    setLoading(false);
  }

  async function pageNotFound() {
    document.title = 'Not found · gapwatch';
    app().append(h('h1', null, 'Not found'),
      h('p', { id: 'not-found' }, 'Nothing lives at this address. ', h('a', { href: '#/' }, 'Back to the experiments.')));
    setLoading(false);
  }

  const PAGES = {
    experiments: pageExperiments, experiment: pageExperiment, run: pageRun, compare: pageCompare, notFound: pageNotFound,
  };

  // ---- charts --------------------------------------------------------------------------------

  /** TensorBoard's debiased exponential moving average, skipping nulls. */
  function smooth(vals, w) {
    const out = new Array(vals.length);
    let last = 0;
    let n = 0;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v == null || !Number.isFinite(v)) { out[i] = null; continue; }
      last = last * w + (1 - w) * v;
      n += 1;
      out[i] = last / (1 - w ** n);
    }
    return out;
  }

  /**
   * Puts several series on one x grid (the union of their x values; nulls where a series has no
   * point), raw and, with smoothing, smoothed. Returns the uPlot data and each line's columns.
   */
  function align(lines, st, t0) {
    const mode = st.xMode;
    const xsOf = (s) => (mode === 'step' ? s.steps : mode === 'relative'
      ? s.ts.map((t) => (t - t0) / 1000) : s.ts.map((t) => t / 1000));
    const perLine = lines.map((l) => {
      const s = st.series.get(l.key);
      return s ? { xs: xsOf(s), vals: s.vals } : { xs: [], vals: [] };
    });
    let xs;
    if (perLine.length === 1) xs = perLine[0].xs.slice();
    else {
      const set = new Set();
      perLine.forEach((p) => p.xs.forEach((x) => set.add(x)));
      xs = Float64Array.from(set).sort();
      xs = Array.from(xs);
    }
    let sorted = true;
    for (let i = 1; i < xs.length; i++) if (xs[i] < xs[i - 1]) { sorted = false; break; }
    if (!sorted) xs = Array.from(Float64Array.from(new Set(xs)).sort());
    const index = new Map();
    xs.forEach((x, i) => index.set(x, i));
    const w = st.smoothing;
    const cols = [];
    perLine.forEach((p) => {
      const raw = new Array(xs.length).fill(null);
      p.xs.forEach((x, i) => { raw[index.get(x)] = p.vals[i]; });
      if (w > 0) {
        const sm = new Array(xs.length).fill(null);
        const s = smooth(p.vals, w);
        p.xs.forEach((x, i) => { sm[index.get(x)] = s[i]; });
        cols.push({ raw, shown: sm });
      } else cols.push({ raw, shown: raw });
    });
    return { xs, cols };
  }

  function rgba(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
  }

  class Chart {
    constructor(el, spec, st) {
      this.el = el;
      this.spec = spec;
      this.st = st;
      this.u = null;
      this.smoothed = null;
      this.needsRebuild = false;
      this.build();
    }

    t0() {
      const run = this.st.run;
      if (run && run.info.start_time) return run.info.start_time;
      let t = Infinity;
      this.spec.lines.forEach((l) => { const s = this.st.series.get(l.key); if (s && s.ts.length) t = Math.min(t, s.ts[0]); });
      return Number.isFinite(t) ? t : 0;
    }

    data() {
      const { xs, cols } = align(this.spec.lines, this.st, this.t0());
      this.points = cols.reduce((n, c) => n + c.raw.reduce((m, v) => m + (v != null), 0), 0);
      this.cols = cols;
      const smoothed = this.st.smoothing > 0;
      const data = [xs];
      cols.forEach((c) => { if (smoothed) data.push(c.raw); data.push(c.shown); });
      return data;
    }

    build() {
      if (this.u) { this.u.destroy(); this.u = null; }
      this.needsRebuild = false;
      this.el.removeAttribute('data-drawn');
      const { lines } = this.spec;
      if (!lines.length) {
        this.el.replaceChildren(h('p', { class: 'muted empty' }, 'No metric of this kind was logged.'));
        return;
      }
      this.el.replaceChildren();
      const data = this.data();
      const smoothed = this.st.smoothing > 0;
      this.smoothed = smoothed;
      const mode = this.st.xMode;
      const xSeries = { label: mode === 'step' ? 'step' : mode === 'relative' ? 'time' : 'wall time' };
      if (mode === 'relative') xSeries.value = (u, x) => (x == null ? '—' : fmtDur(x * 1000));
      if (mode === 'step') xSeries.value = (u, x) => (x == null ? '—' : String(x));
      const series = [xSeries];
      lines.forEach((l, i) => {
        const color = l.color || ROLE_COLORS[l.role] || PALETTE[i % PALETTE.length];
        const base = { spanGaps: true, value: (u, v) => fmtNum(v) };
        if (smoothed) series.push({ ...base, label: `${l.label || l.key} (raw)`, stroke: rgba(color, 0.25), width: 1, points: { show: false } });
        const line = { ...base, label: l.label || l.key, stroke: color, width: 2 };
        if (l.role === 'train') line.dash = [6, 3];
        series.push(line);
      });
      const self = this;
      const opts = {
        width: this.width(),
        height: CHART_HEIGHT,
        scales: { x: { time: mode === 'wall' } },
        axes: [mode === 'relative' ? { values: (u, ticks) => ticks.map((t) => fmtDur(t * 1000)) } : {}, { size: 56 }],
        series,
        cursor: { drag: { x: true, y: false } },
        hooks: { draw: [(u) => self.overlay(u)] },
      };
      this.u = new uPlot(opts, data, this.el);
      if (smoothed) {
        const rows = this.el.querySelectorAll('.u-legend .u-series');
        for (let i = 1; i < rows.length; i += 2) rows[i].style.display = 'none';
      }
    }

    /** Redraws with the current data; rebuilds when the series or the x-axis changed. */
    refresh(rebuild) {
      if (rebuild || !this.u || (this.st.smoothing > 0) !== this.smoothed) this.build();
      else this.u.setData(this.data());
    }

    width() { return Math.max(300, this.el.clientWidth || this.el.parentNode.clientWidth || 600); }

    resize() { if (this.u) this.u.setSize({ width: this.width(), height: CHART_HEIGHT }); }

    destroy() { if (this.u) this.u.destroy(); this.u = null; }

    /** The gap between validation and train shaded; the best and onset epochs marked. */
    overlay(u) {
      const c = u.ctx;
      const { left, top, width, height } = u.bbox;
      const pr = uPlot.pxRatio || window.devicePixelRatio || 1;
      c.save();
      c.beginPath();
      c.rect(left, top, width, height);
      c.clip();
      const { lines } = this.spec;
      const stride = this.smoothed ? 2 : 1;
      const col = (i) => 1 + i * stride + (this.smoothed ? 1 : 0);
      const xs = u.data[0];
      if (this.spec.gap) {
        const vi = lines.findIndex((l) => l.role === 'val');
        let ti = lines.findIndex((l) => l.role === 'train_eval');
        if (ti < 0) ti = lines.findIndex((l) => l.role === 'train');
        if (vi >= 0 && ti >= 0) {
          const a = u.data[col(vi)];
          const b = u.data[col(ti)];
          const pts = [];
          for (let i = 0; i < xs.length; i++) if (a[i] != null && b[i] != null) pts.push(i);
          if (pts.length > 1) {
            c.beginPath();
            pts.forEach((i, k) => { const x = u.valToPos(xs[i], 'x', true); const y = u.valToPos(a[i], 'y', true); if (k) c.lineTo(x, y); else c.moveTo(x, y); });
            for (let k = pts.length - 1; k >= 0; k--) { const i = pts[k]; c.lineTo(u.valToPos(xs[i], 'x', true), u.valToPos(b[i], 'y', true)); }
            c.closePath();
            c.fillStyle = 'rgba(214,39,40,0.12)';
            c.fill();
          }
        }
      }
      const a = this.st.analysis;
      if (a && this.spec.gap !== false && this.spec.markers !== false) {
        const marks = [[a.best && a.best.epoch, 'best', '#2ca02c']];
        if (a.onset_epoch != null) marks.push([a.onset_epoch, 'onset', '#d62728']);
        c.font = `${11 * pr}px system-ui, sans-serif`;
        c.textBaseline = 'top';
        marks.forEach(([epoch, label, color], j) => {
          const x = this.epochX(epoch);
          if (x == null) return;
          const px = Math.round(u.valToPos(x, 'x', true));
          if (px < left || px > left + width) return;
          c.strokeStyle = color;
          c.lineWidth = pr;
          c.setLineDash(label === 'onset' ? [4 * pr, 3 * pr] : []);
          c.beginPath();
          c.moveTo(px, top);
          c.lineTo(px, top + height);
          c.stroke();
          c.fillStyle = color;
          const text = `${label} ${epoch}`;
          const right = px + 3 * pr + c.measureText(text).width > left + width;
          c.textAlign = right ? 'right' : 'left';
          const tx = right ? px - 3 * pr : px + 3 * pr;
          const ty = top + 2 * pr + j * 13 * pr;
          c.setLineDash([]);
          c.lineWidth = 3 * pr;
          c.strokeStyle = 'rgba(255,255,255,0.9)';
          c.strokeText(text, tx, ty);
          c.fillText(text, tx, ty);
        });
      }
      c.restore();
      this.el.setAttribute('data-points', String(this.points));
      if (!this.el.hasAttribute('data-drawn-ms')) this.el.setAttribute('data-drawn-ms', String(Math.round(performance.now())));
      this.el.setAttribute('data-drawn', 'true');
    }

    /** The x value of an epoch in the current x mode (epochs are logged at step = epoch). */
    epochX(epoch) {
      if (epoch == null) return null;
      if (this.st.xMode === 'step') return epoch;
      const val = this.spec.lines.find((l) => l.role === 'val') || this.spec.lines[0];
      const s = this.st.series.get(val.key);
      if (!s) return null;
      const i = s.steps.indexOf(epoch);
      if (i < 0) return null;
      return this.st.xMode === 'relative' ? (s.ts[i] - this.t0()) / 1000 : s.ts[i] / 1000;
    }
  }

  // ---- start ---------------------------------------------------------------------------------

  window.addEventListener('hashchange', route);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', route);
  else route();
})();
