//! `track` run against a tracking URI (a database file or a daemon's `http://` address), as the
//! tracker's tests run every command.

use std::process::Output;

use crate::util::track_at;

/// `track --tracking-uri URI ARGS...`, run to completion.
pub(super) fn run_track(uri: &str, args: &[&str]) -> Output {
    track_at(uri).args(args).output().expect("track runs")
}

/// What a command printed on stdout.
pub(super) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
