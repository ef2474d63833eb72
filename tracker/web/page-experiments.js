// gapwatch dashboard, part 3 of 6: the experiments list (`#/`) and an experiment's runs table
// (`#/experiments/<id>`): filter in `track query`'s language, server and page sorts, paging,
// the column chooser, run selection for Compare. Adds its pages to `window.gapwatch`.
'use strict';
(() => {
  const {
    PAGE_SIZE, MAX_DEFAULT_PARAMS, h, app, setLoading, verdictBadge, statusBadge, table, ApiError,
    fmtTime, fmtDur, fmtNum, runDuration, setQuery, fail, clearError,
  } = window.gapwatch;

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

  Object.assign(window.gapwatch, {
    pageExperiments, pageExperiment,
  });
})();
