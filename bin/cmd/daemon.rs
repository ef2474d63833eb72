//! `track daemon`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track daemon`.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {}

/// Runs `track daemon`.
pub fn run(_args: DaemonArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track daemon` is not available yet")
}
