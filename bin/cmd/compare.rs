//! `track compare`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {}

/// Runs `track compare`.
pub fn run(_args: CompareArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track compare` is not available yet")
}
