//! `track pipeline`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {}

/// Runs `track pipeline`.
pub fn run(_args: PipelineArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track pipeline` is not available yet")
}
