//! The run's record outside the epochs: the params, tags and config artifact of a new run, and
//! the FAILED status with the error's chain when a fit fails.

use std::path::Path;

use candle_core::Device;
use pipeline::Loader;

use super::data::Data;
use crate::checkpoint;
use crate::config::RunConfig;
use crate::device::device_name;
use crate::error::{Error, Result};
use crate::report::{Reporter, RunStatus};

/// The run config as recorded in the artifact directory.
pub const CONFIG_ARTIFACT: &str = "config.toml";

/// Params, tags and the config artifact of a new run.
pub(super) fn record_run(
    config: &RunConfig,
    data: &Data,
    num_params: usize,
    device: &Device,
    reporter: &mut dyn Reporter,
    dir: &Path,
) -> Result<()> {
    let mut params = config.flatten_params()?;
    let [c, h, w] = data.train.shape();
    params.extend([
        ("train_size".to_string(), data.train.len().to_string()),
        ("val_size".to_string(), data.val.len().to_string()),
        (
            "train_eval_size".to_string(),
            data.train_eval.len().to_string(),
        ),
        (
            "test_size".to_string(),
            data.test.as_ref().map_or(0, Loader::len).to_string(),
        ),
        ("num_classes".to_string(), data.classes.to_string()),
        ("image_shape".to_string(), format!("[{c}, {h}, {w}]")),
        ("num_params".to_string(), num_params.to_string()),
        ("device".to_string(), device_name(device)),
        ("seed".to_string(), config.train.seed.to_string()),
        (
            "gapwatch_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    reporter.log_params(&params).map_err(Error::Report)?;
    let toml = config.to_toml_string()?;
    let path = dir.join(CONFIG_ARTIFACT);
    checkpoint::write_atomically(&path, |tmp| {
        std::fs::write(tmp, &toml).map_err(|source| Error::Artifact {
            path: tmp.to_path_buf(),
            source,
        })
    })?;
    reporter
        .set_tags(&[
            ("gapwatch.config".to_string(), toml),
            (
                "gapwatch.artifact_dir".to_string(),
                dir.display().to_string(),
            ),
        ])
        .map_err(Error::Report)?;
    reporter
        .log_artifact(CONFIG_ARTIFACT, &path)
        .map_err(Error::Report)
}

/// Records FAILED with the error's message; the error itself goes back to the caller, which
/// prints it (so it is not logged here a second time).
pub(super) fn record_failure(reporter: &mut dyn Reporter, error: &Error) {
    let message = error_chain(error);
    tracing::debug!(error = %message, "training failed");
    if let Err(report_error) = reporter.finish(&RunStatus::Failed { error: message }) {
        tracing::warn!(error = %report_error, "could not record the FAILED status");
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
