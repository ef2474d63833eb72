//! The experiment page: one row per run with the verdict `track analyze` gives it, and a filter
//! box that takes `track query`'s language and shows where a bad filter goes wrong.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::browser;
use super::browser::{Browser, Result};
use super::fixture::{EXPERIMENT, fixture, http_get};
use crate::util::TestResult;

/// The rows of the runs table.
const ROWS: &str = "table#runs tbody tr[data-run-id]";
/// WebDriver's Enter key.
const ENTER: &str = "\u{e007}";
/// How long a filter may take to change the rows.
const FILTERED: Duration = Duration::from_secs(10);

/// The run ids of the rows shown, as a set.
fn row_ids(browser: &Browser) -> Result<BTreeSet<String>> {
    Ok(browser
        .attributes(ROWS, "data-run-id")?
        .into_iter()
        .collect())
}

/// The text of cell `col` of the row of `run_id`, trimmed.
fn cell(browser: &Browser, run_id: &str, col: &str) -> Result<String> {
    let css = format!(r#"{ROWS}[data-run-id="{run_id}"] td[data-col="{col}"]"#);
    Ok(browser.text(&css)?.trim().to_string())
}

/// Whether `#filter-error` is absent or not displayed.
fn filter_error_hidden(browser: &Browser) -> Result<bool> {
    let hidden = browser.execute(
        "const e = document.querySelector('#filter-error'); \
         return !e || e.hidden || getComputedStyle(e).display === 'none';",
        vec![],
    )?;
    Ok(hidden == Value::Bool(true))
}

#[test]
fn the_experiment_table_lists_every_run_with_the_verdict_track_analyze_gives() -> TestResult {
    let fixture = fixture();
    let browser = browser();
    browser.open_page(&fixture.experiment_page())?;

    assert_eq!(browser.text("#experiment-name")?.trim(), EXPERIMENT);
    let expected: BTreeSet<String> = fixture.runs().iter().map(|r| r.id.clone()).collect();
    assert_eq!(row_ids(&browser)?, expected);
    let total = browser.text("#runs-total")?;
    assert!(
        total
            .split(|c: char| !c.is_ascii_digit())
            .any(|n| n == expected.len().to_string()),
        "#runs-total says {total:?} of {} runs",
        expected.len()
    );
    for run in fixture.runs() {
        assert_eq!(cell(&browser, &run.id, "name")?, run.name);
        let verdict = fixture
            .analysis(run)
            .and_then(|a| a["verdict"]["label"].as_str().map(str::to_string))
            .unwrap_or_else(|| "—".into());
        assert_eq!(cell(&browser, &run.id, "verdict")?, verdict, "{}", run.name);
        assert_eq!(
            cell(&browser, &run.id, "status")?,
            "FINISHED",
            "{}",
            run.name
        );
        // The name links to the run's page.
        let link = format!(r#"{ROWS}[data-run-id="{}"] td[data-col="name"] a"#, run.id);
        let href = browser.attribute(&link, "href")?;
        assert!(href.contains(&run.id), "{} links to {href}", run.name);
    }
    Ok(())
}

#[test]
fn a_filter_narrows_the_table_to_the_runs_track_query_finds() -> TestResult {
    let fixture = fixture();
    let filter = "params.`model.dense_dropout` = '0.5'";
    let queried = fixture.track_json(&[
        "query",
        "--experiment",
        EXPERIMENT,
        "--format",
        "json",
        filter,
    ]);
    let expected: BTreeSet<String> = queried
        .as_array()
        .ok_or("track query prints an array")?
        .iter()
        .filter_map(|row| row["run_id"].as_str().map(str::to_string))
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < fixture.runs().len(),
        "the filter should keep some runs, not all: {expected:?}"
    );

    let browser = browser();
    browser.open_page(&fixture.experiment_page())?;
    assert_eq!(row_ids(&browser)?.len(), fixture.runs().len());
    browser.type_into("input#filter", &format!("{filter}{ENTER}"))?;
    browser.wait_until(&format!("the rows of {expected:?}"), FILTERED, |b| {
        Ok(row_ids(b)? == expected)
    })?;
    browser.wait_for(browser::LOADED, FILTERED)?;
    assert!(
        filter_error_hidden(&browser)?,
        "a good filter shows #filter-error"
    );
    let total = browser.text("#runs-total")?;
    assert!(
        total
            .split(|c: char| !c.is_ascii_digit())
            .any(|n| n == expected.len().to_string()),
        "#runs-total says {total:?} of {} runs",
        expected.len()
    );
    Ok(())
}

#[test]
fn a_bad_filter_shows_its_position_and_token_and_leaves_the_rows() -> TestResult {
    let fixture = fixture();
    let bad = "metrics.val_loss < 1 and banana > 2";
    // Where the daemon says the filter goes wrong.
    let (status, body) = http_get(
        &format!("{}/api/2.0/gapwatch/experiments/runs", fixture.url()),
        &[("experiment_id", &fixture.experiment_id), ("filter", bad)],
        &[],
    );
    assert_eq!(status, 400, "{body}");
    let error: Value = serde_json::from_str(&body)?;
    let position = error["position"].as_u64().ok_or("no position")? as usize;
    let token = error["token"].as_str().ok_or("no token")?;
    assert!(
        bad.get(position..)
            .is_some_and(|rest| rest.starts_with(token)),
        "the daemon places {token:?} at {position} of {bad:?}"
    );

    let browser = browser();
    browser.open_page(&fixture.experiment_page())?;
    let before = row_ids(&browser)?;
    browser.type_into("input#filter", &format!("{bad}{ENTER}"))?;
    browser.wait_until("#filter-error to show", FILTERED, |b| {
        Ok(!filter_error_hidden(b)?)
    })?;
    assert_eq!(
        browser.attribute("#filter-error", "data-position")?,
        position.to_string()
    );
    assert_eq!(browser.attribute("#filter-error", "data-token")?, token);
    let shown = browser.text("#filter-error")?;
    assert!(
        shown.contains(token) && shown.contains(&position.to_string()),
        "#filter-error says {shown:?}, not where ({position}) and what ({token:?})"
    );
    assert_eq!(row_ids(&browser)?, before, "a bad filter changed the rows");
    Ok(())
}
