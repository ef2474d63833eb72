//! A RUNNING run's page, as epochs arrive: it gains them without a reload.

use std::time::Duration;

use serde_json::{Value, json};

use super::browser;
use super::fixture::{api_run, epoch_metrics, finish, fixture, post};
use crate::util::TestResult;

/// How long the page may take to show an epoch logged after it loaded (it polls every 2 s).
const LIVE: Duration = Duration::from_secs(10);
/// The per-epoch rows.
const EPOCH_ROWS: &str = "table#epochs tbody tr";

#[test]
fn a_running_run_page_gains_an_epoch_row_when_one_is_logged_without_reloading() -> TestResult {
    let fixture = fixture();
    let url = fixture.url();
    // An experiment of its own, so that the other tests' tables stay as they are.
    let created = post(
        url,
        "experiments/create",
        &json!({ "name": "dashboard-live" }),
    );
    let experiment_id = created["experiment_id"]
        .as_str()
        .ok_or("no experiment id")?;
    let run_id = api_run(url, experiment_id, "live", 4);

    let browser = browser();
    browser.open_page(&format!(
        "{url}/#/experiments/{experiment_id}/runs/{run_id}"
    ))?;
    assert_eq!(browser.text("#run-status")?.trim(), "RUNNING");
    let before = browser.count(EPOCH_ROWS)?;
    assert_eq!(before, 4, "a run of 4 epochs shows {before} epoch rows");
    // Survives only if the page is not reloaded.
    browser.execute("window.__marker = 1;", vec![])?;

    let fifth: Vec<Value> = epoch_metrics(1..=5).split_off(16);
    post(
        url,
        "runs/log-batch",
        &json!({ "run_id": run_id, "metrics": fifth }),
    );
    let shown = browser.wait_until("a fifth epoch row", LIVE, |b| Ok(b.count(EPOCH_ROWS)? == 5));
    let marker = browser.execute("return window.__marker ?? null;", vec![])?;
    finish(url, &run_id);
    shown?;
    assert_eq!(marker, json!(1), "the page was reloaded");
    Ok(())
}
