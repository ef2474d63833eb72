//! `track query`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {}

/// Runs `track query`.
pub fn run(_args: QueryArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track query` is not available yet")
}
