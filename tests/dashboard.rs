//! The web dashboard that `track daemon` serves, in a real headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`, the `fantoccini` client), against a real
//! daemon holding runs trained by `track train` on the bundled data and logged by the official
//! MLflow client. What the pages should show is read from `track analyze --json`,
//! `track compare --json` and `track query`, never written into the tests.
//!
//! Every test saves a screenshot of its browser at `target/dashboard-screenshots/<test>.png`
//! (passing or not) for a person to look at. Without chromedriver or the venv of
//! `scripts/test.sh` these fail, naming what to install.
//!
//! # Layout
//!
//! - `browser`: chromedriver, a headless Chromium session and blocking helpers over it (also
//!   used by `benches/dashboard.rs`);
//! - `fixture`: the shared daemon and its runs, made once per test binary;
//! - `experiment_page`: the runs table, its verdicts and its filter;
//! - `run_page`: the verdict, onset, causes and charts of a run; the MLflow client's run link;
//! - `compare_page`: the params that differ between runs;
//! - `live`: a RUNNING run's page as epochs arrive;
//! - `security`: a run name that is HTML; a daemon with a token.

mod browser;
mod compare_page;
mod experiment_page;
mod fixture;
mod live;
mod run_page;
mod security;

use browser::Browser;

use crate::util::target_dir;

/// A fresh headless Chromium whose window is saved, when the test ends, at
/// `target/dashboard-screenshots/<test name>.png` (the name of the test's thread, less its
/// module path).
fn browser() -> Browser {
    let thread = std::thread::current();
    let test = thread
        .name()
        .and_then(|name| name.rsplit("::").next())
        .unwrap_or("dashboard");
    let path = target_dir()
        .join("dashboard-screenshots")
        .join(format!("{test}.png"));
    Browser::open(Some(path)).unwrap_or_else(|e| panic!("{e}"))
}
