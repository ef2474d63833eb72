//! `track show`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {}

/// Runs `track show`.
pub fn run(_args: ShowArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track show` is not available yet")
}
