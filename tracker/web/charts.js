// gapwatch dashboard, part 2 of 6: the uPlot charts (global `uPlot`): TensorBoard's smoothing,
// several downsampled series aligned on one x grid (step, relative or wall time), the gap between
// validation and train shaded, the best and onset epochs marked. Adds `Chart` to `window.gapwatch`.
'use strict';
(() => {
  const { CHART_HEIGHT, ROLE_COLORS, PALETTE, h, fmtDur, fmtNum } = window.gapwatch;

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

  Object.assign(window.gapwatch, {
    Chart,
  });
})();
