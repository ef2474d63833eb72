//! `track runs`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {}

/// Runs `track runs`.
pub fn run(_args: RunsArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track runs` is not available yet")
}
