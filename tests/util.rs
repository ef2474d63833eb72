//! What every module of the root test binary shares: the `track` binary as a [`Command`] with no
//! `TRACK_*`, `MLFLOW_*` or `GAPWATCH_*` variable inherited from the test's environment (a test
//! that needs one sets it explicitly), its JSON output, the bundled data, the Python test venv,
//! a real `track daemon` on 127.0.0.1 that reports its address through `--addr-file`, a process
//! tied to the test binary's lifetime (for fixtures held by statics), and cargo's target
//! directory (where tests leave files for a person to look at).

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// What a test returns when it uses `?`.
pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The `track` binary under test.
pub(crate) const TRACK: &str = env!("CARGO_BIN_EXE_track");

/// The bundled data set (`data/fashion-mnist-mini`).
pub(crate) const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist-mini");

/// The prefixes of the environment variables `track` (and the MLflow client) read.
const SCRUBBED: [&str; 3] = ["TRACK_", "MLFLOW_", "GAPWATCH_"];

/// The workspace root.
pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `program` with every `TRACK_*`, `MLFLOW_*` and `GAPWATCH_*` variable removed from its
/// environment.
pub(crate) fn scrubbed(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| SCRUBBED.iter().any(|prefix| name.starts_with(prefix)))
        {
            command.env_remove(name);
        }
    }
    command
}

/// The `track` binary, with nothing of its configuration inherited (see [`scrubbed`]).
pub(crate) fn track() -> Command {
    scrubbed(TRACK)
}

/// `track --tracking-uri URI` (a database file or a daemon's `http://` address), nothing
/// inherited from the environment.
pub(crate) fn track_at(uri: impl AsRef<OsStr>) -> Command {
    let mut command = track();
    command.arg("--tracking-uri").arg(uri);
    command
}

/// `--set VALUE` for each value: `track train` and friends' config overrides.
pub(crate) fn sets(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| ["--set".to_string(), (*value).to_string()])
        .collect()
}

/// `data.path="..."`: the config override that points at `path`.
pub(crate) fn data_path(path: impl AsRef<Path>) -> String {
    format!("data.path={:?}", path.as_ref().display().to_string())
}

/// What a command printed on stdout; fails with its exit status, stdout and stderr unless it
/// succeeded.
#[track_caller]
pub(crate) fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The one JSON document a successful command printed on stdout (see [`ok`]).
#[track_caller]
pub(crate) fn json(output: &Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap_or_else(|e| panic!("one JSON document on stdout: {e}"))
}

/// A fresh temporary directory, removed when dropped.
#[track_caller]
pub(crate) fn tempdir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The Python interpreter of the test venv: `GAPWATCH_TEST_PYTHON`, else `.venv/bin/python`.
pub(crate) fn python() -> PathBuf {
    let candidate = std::env::var_os("GAPWATCH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        candidate.exists(),
        "no Python test environment at {}: run the tests with scripts/test.sh, which creates .venv \
         with mlflow-skinny, pandas, pyarrow and duckdb (or set GAPWATCH_TEST_PYTHON)",
        candidate.display()
    );
    candidate
}

/// The test script `tests/python/NAME`.
pub(crate) fn script(name: &str) -> PathBuf {
    repo().join("tests/python").join(name)
}

/// How long a daemon may take to write its address.
const DAEMON_START: Duration = Duration::from_secs(60);

/// A `track daemon` process over a database file, serving on the address it wrote to its
/// `--addr-file`; killed (SIGKILL) when dropped.
pub(crate) struct Daemon {
    child: Child,
    url: String,
    /// Holds the address file and the daemon's stderr (`stderr.log`).
    dir: TempDir,
}

impl Daemon {
    /// `track daemon --db DB --addr 127.0.0.1:0`, once it serves.
    #[track_caller]
    pub(crate) fn start(db: &Path) -> Daemon {
        Daemon::start_with(db, "127.0.0.1:0", &[])
    }

    /// `track daemon --db DB --addr ADDR FLAGS...`, once it serves.
    #[track_caller]
    pub(crate) fn start_with(db: &Path, addr: &str, flags: &[&str]) -> Daemon {
        let mut command = track();
        command
            .args(["daemon", "--db"])
            .arg(db)
            .args(["--addr", addr])
            .args(flags);
        Daemon::spawn(command)
    }

    /// Spawns a prepared `track [GLOBAL FLAGS] daemon [FLAGS]` command (from [`track`]) with an
    /// `--addr-file`, and waits until the daemon has written its address; fails with the
    /// daemon's stderr if it exits first or writes nothing for a minute.
    #[track_caller]
    pub(crate) fn spawn(mut command: Command) -> Daemon {
        let dir = tempdir();
        let addr_file = dir.path().join("addr");
        let stderr = File::create(dir.path().join("stderr.log")).expect("the daemon's stderr file");
        let child = command
            .arg("--addr-file")
            .arg(&addr_file)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("track daemon starts");
        let mut daemon = Daemon {
            child,
            url: String::new(),
            dir,
        };
        let started = Instant::now();
        // The daemon writes the file whole (a temporary file renamed into place).
        daemon.url = loop {
            if let Ok(line) = std::fs::read_to_string(&addr_file) {
                break line.trim().to_string();
            }
            if let Some(status) = daemon.child.try_wait().expect("the daemon's status") {
                panic!(
                    "track daemon exited {status} before serving: {}",
                    daemon.stderr()
                );
            }
            assert!(
                started.elapsed() < DAEMON_START,
                "track daemon wrote no address in {DAEMON_START:?}: {}",
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        daemon
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The port it serves on.
    pub(crate) fn port(&self) -> &str {
        self.url.rsplit(':').next().unwrap_or_default()
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The text of its `--addr-file`, as written (newline included).
    pub(crate) fn addr_file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("addr")).unwrap_or_default()
    }

    /// Everything it printed on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Kills it with SIGKILL, waits until it is gone, and returns everything it printed on
    /// stderr.
    pub(crate) fn kill(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        self.stderr()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `command` (program, arguments, environment and working directory) run under `sh`, which
/// SIGTERMs it when this test process exits however it exits: `sh` keeps the read end of a pipe
/// whose write end only this process holds (the child's stdin), and kills the command when that
/// pipe closes. For a fixture held by a static, which Rust never drops. `sh` exits with the
/// command's status when the command exits first.
pub(crate) fn tied_to_this_process(command: &Command) -> Command {
    const SCRIPT: &str = r#"exec 3<&0
"$@" 3<&- </dev/null &
child=$!
{ while read -r _ <&3; do :; done; kill "$child"; } 2>/dev/null &
wait "$child""#;
    let mut tied = Command::new("sh");
    tied.args(["-c", SCRIPT, "sh"])
        .arg(command.get_program())
        .args(command.get_args())
        .stdin(Stdio::piped());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => tied.env(name, value),
            None => tied.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        tied.current_dir(dir);
    }
    tied
}

/// Where cargo writes build outputs: `CARGO_TARGET_DIR`, else the directory two levels above
/// the `track` binary under test (`target/debug/track`).
pub(crate) fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            repo().join(dir)
        };
    }
    Path::new(TRACK)
        .ancestors()
        .nth(2)
        .map_or_else(|| repo().join("target"), Path::to_path_buf)
}
