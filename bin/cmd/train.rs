//! `track train`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

/// Runs `track train`.
pub fn run(_args: TrainArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track train` is not available yet")
}
