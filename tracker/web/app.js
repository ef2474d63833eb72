// gapwatch dashboard: experiments, runs, learning curves, verdicts and comparisons, served by
// `track daemon` at `/` and drawn with the vendored uPlot (global `uPlot`).
//
// Plain ES2020, no framework, no build step. Every user-controlled string goes into the page with
// textContent, createTextNode or setAttribute (the `h` helper), never innerHTML. Routes are the
// MLflow UI's hash routes, so the links the MLflow client prints open here.
//
// Layout, in load order (index.html loads each with `defer`, so they run in this order, after
// vendored uPlot); they share one namespace, `window.gapwatch`, that util.js starts and each
// later file reads from and adds to:
// - util.js: constants, DOM helpers, fetch, format, the address and a page's lifetime;
// - charts.js: the uPlot charts (series alignment, smoothing, gap shading, markers);
// - page-experiments.js: the experiments list and an experiment's runs table;
// - page-run.js: the run page;
// - page-compare.js: the compare page;
// - app.js (this file): the router, the not-found page and the start.
'use strict';
(() => {
  const {
    h, app, setLoading, parseHash, newView, fail, pageExperiments, pageExperiment, pageRun,
    pageCompare,
  } = window.gapwatch;

  // ---- router --------------------------------------------------------------------------------

  let view = null;

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

  async function pageNotFound() {
    document.title = 'Not found · gapwatch';
    app().append(h('h1', null, 'Not found'),
      h('p', { id: 'not-found' }, 'Nothing lives at this address. ', h('a', { href: '#/' }, 'Back to the experiments.')));
    setLoading(false);
  }

  const PAGES = {
    experiments: pageExperiments, experiment: pageExperiment, run: pageRun, compare: pageCompare, notFound: pageNotFound,
  };

  // ---- start ---------------------------------------------------------------------------------

  window.addEventListener('hashchange', route);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', route);
  else route();
})();
