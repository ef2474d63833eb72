// gapwatch dashboard, part 4 of 6: the run page (`#/experiments/<id>/runs/<run_id>`): status,
// verdict and causes, loss and accuracy charts (smoothing, x-axis, extra metrics), live polling
// while RUNNING, the per-epoch table, params, tags and artifacts. Adds `pageRun` to
// `window.gapwatch`.
'use strict';
(() => {
  const {
    POLL_MS, MAX_POINTS, MAX_EPOCH_ROWS, PALETTE, h, $, app, setLoading, badge, verdictBadge,
    statusBadge, table, ApiError, fmtTime, fmtDur, fmtGap, runDuration, fail, showError, clearError,
    Chart,
  } = window.gapwatch;

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
      // The daemon keeps the table's share of a long run's epochs (the first and last, the best
      // and the onset) rather than shipping all of them.
      return { analysis: await v.api('/gapwatch/runs/analysis', { run_id: runId, per_epoch_rows: MAX_EPOCH_ROWS }) };
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
    const n = a.per_epoch_total != null ? a.per_epoch_total : list.length;
    if (list.length > MAX_EPOCH_ROWS) {
      const keep = (r, i) => i < MAX_EPOCH_ROWS / 2 || i >= list.length - MAX_EPOCH_ROWS / 2 || r.epoch === a.best.epoch || r.epoch === a.onset_epoch;
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

  Object.assign(window.gapwatch, {
    pageRun,
  });
})();
