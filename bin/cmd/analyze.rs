//! `track analyze`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {}

/// Runs `track analyze`.
pub fn run(_args: AnalyzeArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track analyze` is not available yet")
}
