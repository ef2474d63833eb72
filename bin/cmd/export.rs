//! `track export`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {}

/// Runs `track export`.
pub fn run(_args: ExportArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track export` is not available yet")
}
