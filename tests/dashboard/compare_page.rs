//! The compare page: the params that differ between runs, as `track compare` lists them.

use std::time::Duration;

use super::browser;
use super::fixture::fixture;
use crate::util::TestResult;

#[test]
fn the_compare_page_lists_the_params_track_compare_says_differ() -> TestResult {
    let fixture = fixture();
    let (a, b) = (&fixture.baseline, &fixture.regularized);
    let comparison = fixture.track_json(&["compare", "--json", &a.id, &b.id]);
    let mut differing: Vec<&str> = comparison["differing"]
        .as_array()
        .ok_or("track compare lists no differing params")?
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(!differing.is_empty(), "{comparison:#}");

    let browser = browser();
    browser.open_page(&format!(
        "{}/#/compare?runs={},{}",
        fixture.url(),
        a.id,
        b.id
    ))?;
    let mut shown =
        browser.attributes("table#compare-params tbody tr[data-param]", "data-param")?;
    shown.sort();
    differing.sort_unstable();
    assert_eq!(shown, differing);
    browser.wait_for(
        r#"#chart-compare[data-drawn="true"]"#,
        Duration::from_secs(10),
    )?;
    Ok(())
}
