//! `track stats`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {}

/// Runs `track stats`.
pub fn run(_args: StatsArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track stats` is not available yet")
}
