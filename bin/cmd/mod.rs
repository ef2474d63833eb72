//! One module per subcommand, each with its clap `Args` and a `run` function.

pub mod pipeline;
pub mod stats;
pub mod train;
pub mod daemon;
pub mod query;
pub mod show;
pub mod runs;
pub mod experiments;
pub mod export;
pub mod analyze;
pub mod compare;
pub mod plot;
pub mod sweep;
pub mod demo;
