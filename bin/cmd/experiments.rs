//! `track experiments`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track experiments`.
#[derive(Debug, clap::Args)]
pub struct ExperimentsArgs {}

/// Runs `track experiments`.
pub fn run(_args: ExperimentsArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track experiments` is not available yet")
}
