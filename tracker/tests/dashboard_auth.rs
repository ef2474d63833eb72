//! The dashboard behind a token (a real daemon on 127.0.0.1:0 with `token` set): without it,
//! pages and assets get the login form and nothing else, the API a 401; `POST /login` with the
//! right token sets an HttpOnly, SameSite=Strict cookie that then opens everything; a wrong
//! token gets the form again; logout clears the cookie.

mod common;

use common::{Api, loopback, read, start};
use tracker::api::DaemonConfig;
use tracker::dashboard::{ASSETS, COOKIE_NAME};

const TOKEN: &str = "s3cret-token_1";
/// A run name that must never appear on the login page.
const SECRET_RUN: &str = "confidential-run-name";

fn guarded() -> Api {
    let api = start(DaemonConfig {
        token: Some(TOKEN.into()),
        ..loopback()
    });
    let (_, run_id) = api.run("guarded");
    let (status, _) = api.post(
        "runs/update",
        serde_json::json!({ "run_id": run_id, "run_name": SECRET_RUN }),
    );
    assert_eq!(status, 200);
    api
}

/// An agent that neither follows redirects nor treats error statuses as failures.
fn browser() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// Status, headers and body text of a GET of `path` with `cookie` (if any).
fn get(api: &Api, path: &str, cookie: Option<&str>) -> (u16, ureq::http::HeaderMap, String) {
    let mut request = browser().get(api.url(path));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let response = request.call().expect("sent");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let body = response.into_body().read_to_string().unwrap_or_default();
    (status, headers, body)
}

fn login(api: &Api, token: &str) -> ureq::http::Response<ureq::Body> {
    browser()
        .post(api.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={token}"))
        .expect("sent")
}

fn assert_login_page(status: u16, body: &str, what: &str) {
    assert_eq!(status, 401, "{what}");
    assert!(
        body.contains("<form id=\"login\" method=\"post\" action=\"/login\">")
            && body.contains("name=\"token\" type=\"password\""),
        "{what}: {body}"
    );
    assert!(!body.contains(SECRET_RUN), "{what} shows run data");
    assert!(
        !body.contains("<script") && !body.contains("style"),
        "{what}: {body}"
    );
    assert!(
        !body.contains("src=") && !body.contains("href="),
        "{what} loads something"
    );
}

#[test]
fn without_the_token_pages_and_assets_get_only_the_login_page() {
    let api = guarded();
    for asset in ASSETS {
        for path in asset.routes {
            let (status, headers, body) = get(&api, path, None);
            assert_login_page(status, &body, path);
            assert_ne!(
                body.as_bytes(),
                asset.bytes,
                "{path} served without the token"
            );
            assert_eq!(
                headers.get("content-security-policy").map(|v| v.as_bytes()),
                Some(tracker::dashboard::CONTENT_SECURITY_POLICY.as_bytes())
            );
        }
    }
    let (status, _, body) = get(&api, "/assets/anything-else.js", None);
    assert_login_page(status, &body, "an unknown asset");
}

#[test]
fn without_the_token_the_dashboards_api_answers_401_json() {
    let api = guarded();
    for path in [
        "/api/2.0/gapwatch/experiments/runs?experiment_id=1",
        "/api/2.0/gapwatch/runs/series?run_id=x&key=loss",
        "/api/2.0/gapwatch/runs/compare?run_ids=a,b",
        "/get-artifact?run_id=x&path=a.txt",
        "/api/2.0/mlflow/experiments/search?max_results=10",
    ] {
        let (status, body) = read(browser().get(api.url(path)).call().expect("sent"));
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error_code"], "UNAUTHENTICATED", "{path}: {body}");
        assert!(!body.to_string().contains(SECRET_RUN));
        let wrong = browser()
            .get(api.url(path))
            .header("Cookie", format!("{COOKIE_NAME}=wrong"))
            .call()
            .expect("sent");
        assert_eq!(wrong.status(), 401, "{path} with a wrong cookie");
    }
}

#[test]
fn login_sets_an_httponly_strict_cookie_that_opens_pages_and_the_api() {
    let api = guarded();
    let response = login(&api, TOKEN);
    assert_eq!(response.status(), 303);
    assert_eq!(
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/")
    );
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_string();
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert_eq!(attributes[0], format!("{COOKIE_NAME}={TOKEN}"));
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&attribute), "{cookie}");
    }
    let jar = attributes[0];
    for asset in ASSETS {
        for path in asset.routes {
            let (status, _, body) = get(&api, path, Some(jar));
            assert_eq!(status, 200, "{path} with the cookie");
            if asset.file == "index.html" {
                assert!(
                    body.contains("action=\"/logout\""),
                    "{path} offers no log out"
                );
            }
        }
    }
    let (status, _, body) = get(
        &api,
        "/api/2.0/mlflow/experiments/search?max_results=10",
        Some(jar),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("guarded"));
    // Other cookies beside it are fine.
    let (status, _, _) = get(&api, "/", Some(&format!("theme=dark; {jar}; lang=en")));
    assert_eq!(status, 200);
    // The bearer token works as before.
    let (status, _) = api.get("experiments/search", &[("max_results", "10")]);
    assert_eq!(status, 200);
}

#[test]
fn a_wrong_token_gets_the_login_page_again_saying_so() {
    let api = guarded();
    let response = login(&api, "not-the-token");
    assert!(response.headers().get("set-cookie").is_none());
    let status = response.status().as_u16();
    let body = response.into_body().read_to_string().expect("body");
    assert_login_page(status, &body, "a wrong token");
    assert!(body.contains("wrong"), "{body}");
}

#[test]
fn logout_clears_the_cookie() {
    let api = guarded();
    let response = browser()
        .post(api.url("/logout"))
        .header("Cookie", format!("{COOKIE_NAME}={TOKEN}"))
        .send_empty()
        .expect("sent");
    assert_eq!(response.status(), 303);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_string();
    assert!(cookie.starts_with(&format!("{COOKIE_NAME}=;")), "{cookie}");
    assert!(
        cookie.contains("Max-Age=0") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[test]
fn without_a_token_configured_login_just_leads_to_the_dashboard() {
    let api = start(loopback());
    let response = login(&api, "anything");
    assert_eq!(response.status(), 303);
    assert!(response.headers().get("set-cookie").is_none());
    let (status, _, _) = get(&api, "/", None);
    assert_eq!(status, 200);
}
