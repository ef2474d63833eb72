//! The shared layer every subcommand builds on; no module here imports a subcommand.

pub mod analysis;
pub mod data;
pub mod global;
pub mod output;
pub mod progress;
pub mod render;
pub mod reporter;
pub mod training;

pub use global::{DEFAULT_TRACKING_URI, GlobalArgs, View, experiment_ids, experiment_ids_in};
pub use output::OutputArgs;
