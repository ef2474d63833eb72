// gapwatch dashboard, part 5 of 6: the compare page (`#/compare?runs=<id>,<id>,...`): the params
// that differ with the outcomes, ranked as `track compare` ranks them, and one metric overlaid.
// Adds `pageCompare` to `window.gapwatch`.
'use strict';
(() => {
  const {
    MAX_POINTS, PALETTE, h, app, setLoading, verdictBadge, ApiError, fmtNum, setQuery, fail, Chart,
  } = window.gapwatch;

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

  Object.assign(window.gapwatch, {
    pageCompare,
  });
})();
