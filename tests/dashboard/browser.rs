//! A real headless Chromium driven over WebDriver: a `chromedriver` process on a free loopback
//! port, one session of the `fantoccini` client on a tokio runtime of its own, and blocking
//! helpers for what the dashboard tests and the dashboard benchmark ask of a page.
//!
//! Self-contained (no `crate::util`): `benches/dashboard.rs` includes this file as a module too.

use std::error::Error;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

/// What the helpers return.
pub(crate) type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The Chromium binary (Debian's `chromium`); `GAPWATCH_TEST_CHROMIUM` overrides it.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// The ChromeDriver binary (Debian's `chromium-driver`); `GAPWATCH_TEST_CHROMEDRIVER`
/// overrides it.
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show its data (`#app[data-loading="false"]`).
pub(crate) const PAGE_LOAD: Duration = Duration::from_secs(20);
/// How long chromedriver may take to listen.
const DRIVER_START: Duration = Duration::from_secs(20);
/// Between two looks at the page while waiting.
const POLL: Duration = Duration::from_millis(50);

/// The selector of a page whose data is shown.
pub(crate) const LOADED: &str = r#"#app[data-loading="false"]"#;

/// A binary: `variable` when set, else `default`; fails naming the Debian packages when missing.
fn binary(variable: &str, default: &str) -> Result<PathBuf> {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: the dashboard's browser tests need Debian's chromium and \
             chromium-driver packages (`apt-get install chromium chromium-driver`, as .ci/run \
             does), or {variable} naming the binary",
            path.display()
        )
        .into())
    }
}

/// A free loopback port (bound, read, released: chromedriver binds it a moment later).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A headless Chromium session; the session is closed, chromedriver killed and the profile
/// removed when dropped, after a screenshot is saved if one was asked for.
pub(crate) struct Browser {
    client: Option<Client>,
    runtime: tokio::runtime::Runtime,
    driver: Child,
    /// The Chromium profile and chromedriver's log (`chromedriver.log`).
    dir: TempDir,
    screenshot: Option<PathBuf>,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium (an empty profile: no cookies); when
    /// `screenshot` is given, the page is saved there as PNG when the browser is dropped.
    pub(crate) fn open(screenshot: Option<PathBuf>) -> Result<Browser> {
        let chromedriver = binary("GAPWATCH_TEST_CHROMEDRIVER", CHROMEDRIVER)?;
        let chromium = binary("GAPWATCH_TEST_CHROMIUM", CHROMIUM)?;
        let dir = tempfile::Builder::new()
            .prefix("gapwatch-chromium")
            .tempdir()?;
        let log = File::create(dir.path().join("chromedriver.log"))?;
        let port = free_port()?;
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", chromedriver.display()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut browser = Browser {
            client: None,
            runtime,
            driver,
            dir,
            screenshot,
        };
        browser.wait_for_driver(port)?;
        let profile = browser.dir.path().join("profile");
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = browser.runtime.block_on(
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        );
        browser.client = Some(client.map_err(|e| {
            format!(
                "no Chromium session from chromedriver: {e}\n{}",
                browser.driver_log()
            )
        })?);
        Ok(browser)
    }

    fn wait_for_driver(&mut self, port: u16) -> Result<()> {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = self.driver.try_wait()? {
                return Err(format!(
                    "chromedriver exited {status} before listening: {}",
                    self.driver_log()
                )
                .into());
            }
            if started.elapsed() > DRIVER_START {
                return Err(format!(
                    "chromedriver did not listen on port {port} in {DRIVER_START:?}: {}",
                    self.driver_log()
                )
                .into());
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// What chromedriver logged so far.
    pub(crate) fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a session while the browser is open")
    }

    /// Runs `future` (one or more WebDriver commands) to completion.
    fn block<T, E: Error + 'static>(
        &self,
        future: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<T> {
        self.runtime.block_on(future).map_err(Into::into)
    }

    /// Navigates to `url` (a hash change within the same page counts as a navigation too).
    pub(crate) fn goto(&self, url: &str) -> Result<()> {
        self.block(self.client().goto(url))
    }

    /// Navigates to `url` and waits until the page shows its data ([`LOADED`]).
    pub(crate) fn open_page(&self, url: &str) -> Result<()> {
        self.goto(url)?;
        self.wait_for(LOADED, PAGE_LOAD)
    }

    /// The page's HTML as the browser holds it now.
    pub(crate) fn source(&self) -> Result<String> {
        self.block(self.client().source())
    }

    /// Runs `script` in the page (`arguments[i]` are `args`), returning what it returns.
    pub(crate) fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.block(self.client().execute(script, args))
    }

    /// How many elements match `css`.
    pub(crate) fn count(&self, css: &str) -> Result<usize> {
        let n = self.execute(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )?;
        Ok(n.as_u64().unwrap_or(0) as usize)
    }

    /// The `textContent` of every element matching `css`, in document order.
    pub(crate) fn texts(&self, css: &str) -> Result<Vec<String>> {
        let texts = self.execute(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);",
            vec![json!(css)],
        )?;
        Ok(strings(&texts))
    }

    /// The `textContent` of the first element matching `css`; fails naming `css` when none does.
    pub(crate) fn text(&self, css: &str) -> Result<String> {
        self.texts(css)?
            .into_iter()
            .next()
            .ok_or_else(|| self.missing(css))
    }

    /// Attribute `name` of every element matching `css` (empty text where it is missing).
    pub(crate) fn attributes(&self, css: &str, name: &str) -> Result<Vec<String>> {
        let values = self.execute(
            "return Array.from(document.querySelectorAll(arguments[0]), \
             e => e.getAttribute(arguments[1]) ?? '');",
            vec![json!(css), json!(name)],
        )?;
        Ok(strings(&values))
    }

    /// Attribute `name` of the first element matching `css`; fails naming `css` when none does.
    pub(crate) fn attribute(&self, css: &str, name: &str) -> Result<String> {
        self.attributes(css, name)?
            .into_iter()
            .next()
            .ok_or_else(|| self.missing(css))
    }

    fn missing(&self, css: &str) -> Box<dyn Error> {
        format!("no element matches `{css}`: {}", self.describe()).into()
    }

    /// Clears the first element matching `css` (an input) and types `text` into it.
    pub(crate) fn type_into(&self, css: &str, text: &str) -> Result<()> {
        self.block(async {
            let input = self.client().find(Locator::Css(css)).await?;
            input.clear().await?;
            input.send_keys(text).await
        })
    }

    /// Whether a JavaScript dialog (`alert`, `confirm`, `prompt`) is open.
    pub(crate) fn alert_open(&self) -> Result<bool> {
        match self.runtime.block_on(self.client().get_alert_text()) {
            Ok(_) => Ok(true),
            Err(e) if e.is_no_such_alert() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until an element matches `css`; fails after `timeout` naming what it waited for
    /// and what the page showed.
    pub(crate) fn wait_for(&self, css: &str, timeout: Duration) -> Result<()> {
        self.wait_until(&format!("an element matching `{css}`"), timeout, |b| {
            Ok(b.count(css)? > 0)
        })
    }

    /// Waits until `ready` says so (checked every 50 ms); fails after `timeout` naming `what`
    /// and what the page showed.
    pub(crate) fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&Browser) -> Result<bool>,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            if ready(self)? {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "waited {timeout:?} for {what}, in vain: {}",
                    self.describe()
                )
                .into());
            }
            std::thread::sleep(POLL);
        }
    }

    /// The address, `#app`'s `data-loading` and the start of its text, and `#error`'s text:
    /// what a failure message says of the page.
    pub(crate) fn describe(&self) -> String {
        let script = "const app = document.querySelector('#app'); \
                      const error = document.querySelector('#error'); \
                      return [location.href, app ? app.getAttribute('data-loading') : 'no #app', \
                              app ? app.textContent.slice(0, 400) : document.title, \
                              error ? error.textContent : ''];";
        match self.execute(script, vec![]) {
            Ok(v) => {
                let v = strings(&v);
                let get = |i: usize| v.get(i).map_or("", String::as_str);
                format!(
                    "page {} (data-loading {}; #error {:?}) shows {:?}",
                    get(0),
                    get(1),
                    get(3),
                    get(2)
                )
            }
            Err(e) => format!("the page could not be read: {e}"),
        }
    }

    /// A PNG of the window.
    pub(crate) fn screenshot(&self) -> Result<Vec<u8>> {
        self.block(self.client().screenshot())
    }

    /// Saves a PNG of the window at `path` (creating its directory).
    pub(crate) fn save_screenshot(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.screenshot()?)?;
        Ok(())
    }
}

/// The strings of a JSON array (others as their JSON text, `null` as empty).
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(path) = self.screenshot.take()
            && let Err(e) = self.save_screenshot(&path)
        {
            eprintln!("no screenshot saved at {}: {e}", path.display());
        }
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
