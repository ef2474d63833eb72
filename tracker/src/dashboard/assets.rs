//! The dashboard's files, embedded in the binary from `tracker/web/` (no build step, no network
//! from the browser), served with their content type, an ETag (a hash of the bytes, computed
//! once) that answers `If-None-Match` with 304, and the security headers of every page.

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use crate::api::AppState;

/// The Content-Security-Policy of the dashboard's pages: scripts and styles from the daemon
/// only (no inline script or style), no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

/// One embedded file of the dashboard.
#[derive(Debug)]
pub struct Asset {
    /// The URL paths it is served at.
    pub routes: &'static [&'static str],
    /// Its file under `tracker/web/`.
    pub file: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file of the dashboard, with the paths it is served at: `index.html` first (the route
/// strips its "log out" form for a daemon without a token), then the scripts in the order the
/// page loads them (see the layout at the top of `app.js`).
pub static ASSETS: &[Asset] = &[
    Asset {
        routes: &["/", "/index.html"],
        file: "index.html",
        content_type: HTML,
        bytes: include_bytes!("../../web/index.html"),
    },
    Asset {
        routes: &["/assets/util.js"],
        file: "util.js",
        content_type: JS,
        bytes: include_bytes!("../../web/util.js"),
    },
    Asset {
        routes: &["/assets/charts.js"],
        file: "charts.js",
        content_type: JS,
        bytes: include_bytes!("../../web/charts.js"),
    },
    Asset {
        routes: &["/assets/page-experiments.js"],
        file: "page-experiments.js",
        content_type: JS,
        bytes: include_bytes!("../../web/page-experiments.js"),
    },
    Asset {
        routes: &["/assets/page-run.js"],
        file: "page-run.js",
        content_type: JS,
        bytes: include_bytes!("../../web/page-run.js"),
    },
    Asset {
        routes: &["/assets/page-compare.js"],
        file: "page-compare.js",
        content_type: JS,
        bytes: include_bytes!("../../web/page-compare.js"),
    },
    Asset {
        routes: &["/assets/app.js"],
        file: "app.js",
        content_type: JS,
        bytes: include_bytes!("../../web/app.js"),
    },
    Asset {
        routes: &["/assets/app.css"],
        file: "app.css",
        content_type: CSS,
        bytes: include_bytes!("../../web/app.css"),
    },
    Asset {
        routes: &["/assets/favicon.svg"],
        file: "favicon.svg",
        content_type: SVG,
        bytes: include_bytes!("../../web/favicon.svg"),
    },
    Asset {
        routes: &["/assets/uPlot.iife.min.js"],
        file: "vendor/uplot/uPlot.iife.min.js",
        content_type: JS,
        bytes: include_bytes!("../../web/vendor/uplot/uPlot.iife.min.js"),
    },
    Asset {
        routes: &["/assets/uPlot.min.css"],
        file: "vendor/uplot/uPlot.min.css",
        content_type: CSS,
        bytes: include_bytes!("../../web/vendor/uplot/uPlot.min.css"),
    },
];

/// The bytes of every dashboard file together (what a first visit downloads at most).
pub fn assets_total_bytes() -> usize {
    ASSETS.iter().map(|a| a.bytes.len()).sum()
}

/// Each asset's ETag, in the order of [`ASSETS`]: a quoted FNV-1a hash of its bytes.
static ETAGS: LazyLock<Vec<HeaderValue>> =
    LazyLock::new(|| ASSETS.iter().map(|asset| etag_of(asset.bytes)).collect());

/// A quoted FNV-1a hash of `bytes` and their length.
fn etag_of(bytes: &[u8]) -> HeaderValue {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    HeaderValue::from_str(&format!("\"{hash:016x}-{}\"", bytes.len()))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Whether a request is for a page or an asset (what gets the login page, not JSON, when the
/// token is missing).
pub(crate) fn is_page(path: &str) -> bool {
    ASSETS.iter().any(|a| a.routes.contains(&path))
        || path.starts_with("/assets/")
        || path == "/login"
}

/// The page's "log out" form: served only by a daemon with a token (without one there is
/// nothing to log out of).
const LOGOUT_FORM_START: &str = "<form class=\"logout\"";

/// `index.html` without its "log out" form, for a daemon without a token.
static INDEX_WITHOUT_LOGOUT: LazyLock<(Vec<u8>, HeaderValue)> = LazyLock::new(|| {
    let page = String::from_utf8_lossy(ASSETS[0].bytes);
    let page = match page.find(LOGOUT_FORM_START) {
        Some(start) => {
            let end = page[start..]
                .find("</form>")
                .map_or(page.len(), |e| start + e + "</form>".len());
            format!("{}{}", &page[..start], &page[end..])
        }
        None => page.into_owned(),
    };
    let bytes = page.into_bytes();
    let etag = etag_of(&bytes);
    (bytes, etag)
});

/// The route serving `asset` (`index.html` without its "log out" form when the daemon has
/// no token).
pub(super) fn route(asset: &'static Asset) -> MethodRouter<Arc<AppState>> {
    get(
        move |State(state): State<Arc<AppState>>, headers: HeaderMap| async move {
            if std::ptr::eq(asset, &ASSETS[0]) && state.token.is_none() {
                let (bytes, etag) = &*INDEX_WITHOUT_LOGOUT;
                return serve_bytes(bytes.clone(), asset.content_type, etag.clone(), &headers);
            }
            serve(asset, &headers)
        },
    )
}

/// Adds the headers every dashboard page and file carries.
pub(crate) fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
}

/// `asset`'s bytes, or 304 when the request's `If-None-Match` names its ETag.
fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let index = ASSETS
        .iter()
        .position(|a| std::ptr::eq(a, asset))
        .unwrap_or(0);
    let etag = ETAGS
        .get(index)
        .cloned()
        .unwrap_or(HeaderValue::from_static("\"0\""));
    serve_bytes(asset.bytes, asset.content_type, etag, request)
}

/// `bytes` as `content_type` with `etag`, or 304 when the request's `If-None-Match` names it.
fn serve_bytes(
    bytes: impl IntoResponse,
    content_type: &'static str,
    etag: HeaderValue,
    request: &HeaderMap,
) -> Response {
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || etag.to_str().is_ok_and(|e| e == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = bytes.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}
