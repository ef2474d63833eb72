//! The flags every subcommand accepts, the tracking URI they resolve to, and the one way a
//! command opens its tracking client and picks experiments.

use anyhow::Context;
use tracker::client::Client;
use tracker::entities::ViewType;

/// Where runs are recorded when neither a flag nor an environment variable says otherwise.
pub const DEFAULT_TRACKING_URI: &str = "gapwatch.db";

/// Flags every subcommand accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Where runs are recorded: `http://host:port` (a `track daemon`), a file path or
    /// `sqlite:PATH` (the store, embedded). Falls back to `MLFLOW_TRACKING_URI`, then
    /// `gapwatch.db` in the working directory.
    #[arg(long, global = true, env = "TRACK_TRACKING_URI")]
    pub tracking_uri: Option<String>,
    /// No progress bars and no informational output on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `pipeline=debug`.
    #[arg(long, global = true, env = "TRACK_LOG", default_value = "warn")]
    pub log: String,
}

impl GlobalArgs {
    /// The tracking URI: `--tracking-uri`, `TRACK_TRACKING_URI`, `MLFLOW_TRACKING_URI`, default.
    pub fn tracking_uri(&self) -> String {
        self.tracking_uri
            .clone()
            .or_else(|| {
                std::env::var("MLFLOW_TRACKING_URI")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_TRACKING_URI.to_string())
    }

    /// Opens the client of the tracking URI (an error names the URI).
    pub fn open_client(&self) -> anyhow::Result<Client> {
        let uri = self.tracking_uri();
        Client::open(&uri).with_context(|| format!("opening tracking URI {uri}"))
    }
}

/// Which lifecycle stages a command sees: MLflow's `view_type` (`ACTIVE_ONLY`, `DELETED_ONLY`,
/// `ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    /// Active ones only.
    Active,
    /// Deleted ones only.
    Deleted,
    /// Both.
    All,
}

impl View {
    /// The store's view type.
    pub fn view_type(self) -> ViewType {
        match self {
            View::Active => ViewType::ActiveOnly,
            View::Deleted => ViewType::DeletedOnly,
            View::All => ViewType::All,
        }
    }
}

/// The ids of the experiments named `names` (every active one when empty); a deleted one
/// named is refused.
pub fn experiment_ids(client: &Client, names: &[String]) -> anyhow::Result<Vec<String>> {
    experiment_ids_in(client, names, ViewType::ActiveOnly, "restore it first")
}

/// The ids of the experiments named `names` (every one in `view` when empty). A named
/// experiment outside `view` is refused, the error ending with `hint` (how to include it).
pub fn experiment_ids_in(
    client: &Client,
    names: &[String],
    view: ViewType,
    hint: &str,
) -> anyhow::Result<Vec<String>> {
    let experiments = client.resolve_experiments(names, view)?;
    if let Some(outside) = experiments
        .iter()
        .find(|e| !view.stages().contains(&e.lifecycle_stage.as_str()))
    {
        anyhow::bail!(
            "experiment {:?} is {}: {hint}",
            outside.name,
            outside.lifecycle_stage
        );
    }
    Ok(experiments.into_iter().map(|e| e.experiment_id).collect())
}
