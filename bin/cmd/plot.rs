//! `track plot`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track plot`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {}

/// Runs `track plot`.
pub fn run(_args: PlotArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track plot` is not available yet")
}
