//! The run page: the verdict, onset and ranked causes exactly as `track analyze` gives them, and
//! learning curves drawn on a canvas; the run link the MLflow client prints opens it.

use std::time::Duration;

use serde_json::json;

use super::browser;
use super::fixture::fixture;
use crate::util::TestResult;

/// How long a chart may take to draw once the page shows its data.
const DRAWN: Duration = Duration::from_secs(10);

/// Counts the pixels of the first canvas in `arguments[0]` that are not fully transparent.
const DRAWN_PIXELS: &str = "const canvas = document.querySelector(arguments[0] + ' canvas'); \
    if (!canvas) return -1; \
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data; \
    let drawn = 0; \
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) drawn += 1; \
    return drawn;";

#[test]
fn the_run_page_shows_the_verdict_onset_and_causes_of_track_analyze_and_draws_the_curves()
-> TestResult {
    let fixture = fixture();
    let run = &fixture.baseline;
    let analysis = fixture
        .analysis(run)
        .ok_or("track analyze refuses the baseline")?;
    let browser = browser();
    browser.open_page(&fixture.run_page(run))?;

    assert_eq!(browser.text("#run-name")?.trim(), run.name);
    let label = analysis["verdict"]["label"].as_str().ok_or("no verdict")?;
    assert_eq!(browser.attribute("#verdict", "data-label")?, label);
    assert!(browser.text("#verdict")?.contains(label));
    let onset = analysis["onset_epoch"]
        .as_i64()
        .map_or_else(|| "none".to_string(), |e| e.to_string());
    assert_eq!(browser.text("#onset")?.trim(), onset);

    let causes = analysis["causes"].as_array().ok_or("no causes")?;
    assert!(
        !causes.is_empty(),
        "the baseline should overfit with causes: {analysis:#}"
    );
    let keys: Vec<&str> = causes
        .iter()
        .filter_map(|c| c["config_key"].as_str())
        .collect();
    assert_eq!(
        browser.attributes("ol#causes li[data-config-key]", "data-config-key")?,
        keys
    );
    let shown = browser.texts("ol#causes li[data-config-key]")?;
    for (cause, text) in causes.iter().zip(&shown) {
        for field in ["evidence", "config_key", "suggested"] {
            let value = cause[field].as_str().ok_or(field)?;
            assert!(
                text.contains(value),
                "the cause {text:?} does not say its {field} {value:?}"
            );
        }
    }

    let epochs = analysis["epochs"].as_u64().ok_or("no epochs")? as usize;
    assert_eq!(browser.count("table#epochs tbody tr[data-epoch]")?, epochs);
    for chart in ["#chart-loss", "#chart-acc"] {
        browser.wait_for(&format!(r#"{chart}[data-drawn="true"]"#), DRAWN)?;
        let pixels = browser.execute(DRAWN_PIXELS, vec![json!(chart)])?;
        assert!(
            pixels.as_i64().unwrap_or(-1) > 0,
            "{chart} has no drawn pixels ({pixels})"
        );
        let points: usize = browser.attribute(chart, "data-points")?.parse()?;
        assert!(
            points >= epochs,
            "{chart} drew {points} points of {epochs} epochs"
        );
    }
    Ok(())
}

#[test]
fn the_run_link_the_mlflow_client_printed_opens_that_run() -> TestResult {
    let fixture = fixture();
    let link = &fixture.mlflow_link;
    assert!(
        link.starts_with(fixture.url()) && link.contains(&fixture.mlflow.id),
        "the client printed {link}"
    );
    let browser = browser();
    browser.open_page(link)?;
    assert_eq!(browser.text("#run-name")?.trim(), fixture.mlflow.name);
    assert_eq!(browser.text("#run-status")?.trim(), "FINISHED");
    Ok(())
}
