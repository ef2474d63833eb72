//! One module per subcommand, each with its clap `Args` and a `run` function: a leaf over
//! [`crate::common`], importing no other subcommand.

pub mod analyze;
pub mod compare;
pub mod daemon;
pub mod demo;
pub mod experiments;
pub mod export;
pub mod pipeline;
pub mod plot;
pub mod query;
pub mod runs;
pub mod show;
pub mod stats;
pub mod sweep;
pub mod train;
