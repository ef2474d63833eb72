//! `track demo`.

use std::process::ExitCode;

use crate::GlobalArgs;

/// Flags of `track demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `track demo`.
pub fn run(_args: DemoArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`track demo` is not available yet")
}
