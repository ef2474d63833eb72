//! `track sweep`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {}

/// Runs `track sweep`.
pub fn run(_args: SweepArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track sweep` is not available yet")
}
