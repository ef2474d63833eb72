//! What the dashboard must never do: run a script hidden in a run name, or show anything to
//! someone without the daemon's token.

use serde_json::json;

use super::browser;
use super::fixture::{XSS_NAME, fixture, http_get};
use crate::util::{Daemon, TestResult, tempdir};

/// WebDriver's Enter key.
const ENTER: &str = "\u{e007}";
/// The token of the daemon with one.
const TOKEN: &str = "dashboard-test-token-5f1c";

/// A second daemon over the fixture's database, started with `--token-file`.
fn daemon_with_token() -> (Daemon, tempfile::TempDir) {
    let fixture = fixture();
    let dir = tempdir();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("the token file");
    let token_arg = token_file.to_str().expect("a UTF-8 temp path");
    let daemon = Daemon::start_with(&fixture.db, "127.0.0.1:0", &["--token-file", token_arg]);
    (daemon, dir)
}

#[test]
fn a_run_named_like_html_shows_as_text_and_runs_no_script() -> TestResult {
    let fixture = fixture();
    let browser = browser();
    let no_img = "return document.querySelectorAll('#app img').length;";

    browser.open_page(&fixture.experiment_page())?;
    let cell = format!(
        r#"table#runs tbody tr[data-run-id="{}"] td[data-col="name"]"#,
        fixture.xss.id
    );
    assert_eq!(browser.text(&cell)?.trim(), XSS_NAME);
    assert_eq!(browser.execute(no_img, vec![])?, json!(0));
    assert!(!browser.alert_open()?, "the run name ran a script");

    browser.open_page(&fixture.run_page(&fixture.xss))?;
    assert_eq!(browser.text("#run-name")?.trim(), XSS_NAME);
    assert_eq!(browser.execute(no_img, vec![])?, json!(0));
    assert!(!browser.alert_open()?, "the run name ran a script");
    Ok(())
}

#[test]
fn with_a_token_a_browser_without_it_gets_the_login_page_and_no_run_data() -> TestResult {
    let fixture = fixture();
    let (daemon, _dir) = daemon_with_token();
    let browser = browser();
    browser.goto(&format!(
        "{}/#/experiments/{}/runs/{}",
        daemon.url(),
        fixture.experiment_id,
        fixture.baseline.id
    ))?;
    browser.wait_for("form#login", browser::PAGE_LOAD)?;
    assert_eq!(
        browser.count(r#"form#login input[name="token"][type="password"]"#)?,
        1
    );
    let source = browser.source()?;
    for run in fixture.runs() {
        assert!(
            !source.contains(&run.name) && !source.contains(&run.id),
            "the login page shows run {}:\n{source}",
            run.name
        );
    }
    assert!(
        !source.contains("app.js"),
        "the login page loads the app:\n{source}"
    );
    Ok(())
}

#[test]
fn with_a_token_pages_assets_and_the_api_answer_401_without_it() -> TestResult {
    let fixture = fixture();
    let (daemon, _dir) = daemon_with_token();
    let url = daemon.url();
    let experiment = format!("experiment_id={}", fixture.experiment_id);
    let run = format!("run_id={}", fixture.baseline.id);
    let paths = [
        "/".to_string(),
        "/index.html".into(),
        "/assets/app.js".into(),
        "/assets/uPlot.iife.min.js".into(),
        "/api/2.0/mlflow/experiments/search?max_results=10".into(),
        format!("/api/2.0/mlflow/runs/get?{run}"),
        format!("/api/2.0/gapwatch/experiments/runs?{experiment}"),
        format!("/api/2.0/gapwatch/runs/analysis?{run}"),
        format!("/api/2.0/gapwatch/runs/series?{run}&key=val_loss"),
    ];
    let wrong_cookie = "gapwatch_token=not-the-token";
    let wrong_bearer = "Bearer not-the-token";
    for path in &paths {
        let full = format!("{url}{path}");
        for headers in [
            vec![],
            vec![("Cookie", wrong_cookie)],
            vec![("Authorization", wrong_bearer)],
        ] {
            let (status, body) = http_get(&full, &[], &headers);
            assert_eq!(status, 401, "GET {path} with {headers:?}: {body}");
            for run in fixture.runs() {
                assert!(
                    !body.contains(&run.id) && !body.contains(&run.name),
                    "GET {path} without the token shows run {}",
                    run.name
                );
            }
        }
    }
    // The token opens them, as a bearer header or as the cookie.
    let bearer = format!("Bearer {TOKEN}");
    let cookie = format!("gapwatch_token={TOKEN}");
    for path in &paths {
        let full = format!("{url}{path}");
        for headers in [
            [("Authorization", bearer.as_str())],
            [("Cookie", cookie.as_str())],
        ] {
            let (status, body) = http_get(&full, &[], &headers);
            assert_eq!(status, 200, "GET {path} with {headers:?}: {body}");
        }
    }
    Ok(())
}

#[test]
fn with_a_token_logging_in_through_the_form_shows_the_experiment_runs() -> TestResult {
    let fixture = fixture();
    let (daemon, _dir) = daemon_with_token();
    let browser = browser();
    browser.goto(&format!("{}/", daemon.url()))?;
    browser.wait_for("form#login", browser::PAGE_LOAD)?;
    browser.type_into(
        r#"form#login input[name="token"]"#,
        &format!("{TOKEN}{ENTER}"),
    )?;
    browser.wait_for("#app", browser::PAGE_LOAD)?;
    browser.open_page(&format!(
        "{}/#/experiments/{}",
        daemon.url(),
        fixture.experiment_id
    ))?;
    let mut shown = browser.attributes("table#runs tbody tr[data-run-id]", "data-run-id")?;
    shown.sort();
    let mut expected: Vec<String> = fixture.runs().iter().map(|r| r.id.clone()).collect();
    expected.sort();
    assert_eq!(shown, expected);
    Ok(())
}
