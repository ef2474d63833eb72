//! The dashboard's login, for a daemon with a token: a small self-contained form (no script,
//! no style, no run data), `POST /login` that checks the token and sets it as an HttpOnly,
//! SameSite=Strict cookie, and `POST /logout` that clears it. Requests then carry the token in
//! the cookie `gapwatch_token` instead of `Authorization: Bearer`.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::assets::secure;
use crate::api::AppState;

/// The cookie holding the token.
pub const COOKIE_NAME: &str = "gapwatch_token";

/// What is escaped in the cookie's value: everything but letters, digits and `-._~` (a token
/// made of those is stored as is).
const COOKIE_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `Set-Cookie` value that logs a browser in with `token`.
pub fn set_cookie_value(token: &str) -> String {
    format!(
        "{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/",
        utf8_percent_encode(token, COOKIE_ESCAPED)
    )
}

/// The token of the request's `gapwatch_token` cookie, if any.
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .and_then(|(_, value)| percent_decode_str(value.trim()).decode_utf8().ok())
        .map(|value| value.into_owned())
}

/// The login page with `status`, and a line saying the token was wrong when `wrong`.
pub(crate) fn login_page(status: StatusCode, wrong: bool) -> Response {
    let note = if wrong {
        "<p id=\"login-error\" role=\"alert\">That token is wrong.</p>\n"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>gapwatch: sign in</title>\n</head>\n<body>\n<h1>gapwatch</h1>\n\
         <p>This daemon needs its token (the contents of its <code>--token-file</code>).</p>\n\
         {note}<form id=\"login\" method=\"post\" action=\"/login\">\n\
         <label>Token <input name=\"token\" type=\"password\" autocomplete=\"current-password\" \
         required autofocus></label>\n<button type=\"submit\">Sign in</button>\n</form>\n\
         </body>\n</html>\n"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(headers);
    response
}

/// A 303 to `/`, with `cookie` set when given.
fn to_dashboard(cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    secure(response.headers_mut());
    response
}

/// The login form's fields.
#[derive(Debug, serde::Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /login` (form `token=...`): the right token gets the cookie and a 303 to `/`; a wrong
/// one the login page again, 401. A daemon without a token just sends the browser to `/`.
pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    form: std::result::Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Some(token) = &state.token else {
        return to_dashboard(None);
    };
    let given = form.map(|Form(f)| f.token).unwrap_or_default();
    if crate::api::constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
        tracing::debug!("dashboard login");
        to_dashboard(Some(set_cookie_value(token)))
    } else {
        tracing::info!("dashboard login with a wrong token");
        login_page(StatusCode::UNAUTHORIZED, true)
    }
}

/// `GET /login`: the form (a daemon without a token sends the browser to `/`).
pub(super) async fn login_get(State(state): State<Arc<AppState>>) -> Response {
    match state.token {
        Some(_) => login_page(StatusCode::OK, false),
        None => to_dashboard(None),
    }
}

/// `POST /logout`: clears the cookie and sends the browser to `/`.
pub(super) async fn logout() -> Response {
    to_dashboard(Some(format!(
        "{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    )))
}
