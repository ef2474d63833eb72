//! Checkpoints in the run's artifact directory: model weights (safetensors via the [`VarMap`]),
//! optimizer state, and the trainer state that `--resume` needs.
//!
//! ```text
//! <artifact dir>/checkpoints/best.safetensors        weights of the best epoch (by the monitor)
//! <artifact dir>/checkpoints/last.safetensors        weights after the last finished epoch
//! <artifact dir>/checkpoints/last.optim.safetensors  optimizer moments / momentum buffers
//! <artifact dir>/checkpoints/last.state.json         epoch, step count, schedule, early stopping
//! ```
//! Every file is written to a temporary name and renamed, so a crash never leaves half a file.

use std::path::{Path, PathBuf};

use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::early_stopping::EarlyStopping;
use crate::error::{Error, Result};
use crate::optim::LrSchedule;

/// Weights of the best epoch, relative to the artifact directory.
pub const BEST_WEIGHTS: &str = "checkpoints/best.safetensors";
/// Weights after the last finished epoch.
pub const LAST_WEIGHTS: &str = "checkpoints/last.safetensors";
/// Optimizer state after the last finished epoch.
pub const LAST_OPTIMIZER: &str = "checkpoints/last.optim.safetensors";
/// Trainer state after the last finished epoch.
pub const LAST_STATE: &str = "checkpoints/last.state.json";

/// Everything besides tensors that an exact resume needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Epochs finished (the next epoch is `epoch + 1`).
    pub epoch: usize,
    /// Optimizer steps taken.
    pub optimizer_steps: u64,
    /// Learning rate of the last epoch.
    pub learning_rate: f64,
    /// The learning-rate schedule's state.
    pub schedule: LrSchedule,
    /// Early stopping's state (best value and epoch, wait counter).
    pub early_stopping: EarlyStopping,
    /// Early stopping decided to stop after `epoch`: a resume has nothing left to train.
    pub stopped: bool,
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Artifact {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// Writes `write` to a temporary file next to `path`, then renames it over `path`.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    ensure_parent(path)?;
    let tmp = temp_path(path);
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Artifact {
        path: path.to_path_buf(),
        source,
    })
}

/// Saves every variable of `varmap` (weights and batch-norm statistics) to `path`.
pub fn save_weights(varmap: &VarMap, path: &Path) -> Result<()> {
    write_atomically(path, |tmp| {
        varmap.save(tmp).map_err(|e| Error::checkpoint(tmp, e))
    })
}

/// Loads `path` into the variables of `varmap`, which must already hold the model (build the
/// model first). Fails when a variable is missing from the file or has another shape.
pub fn load_weights(varmap: &mut VarMap, path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(Error::CheckpointMissing {
            path: path.to_path_buf(),
        });
    }
    varmap.load(path).map_err(|e| Error::checkpoint(path, e))
}

/// Saves the trainer state as JSON.
pub fn save_state(state: &TrainerState, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::checkpoint(path, e))?;
    write_atomically(path, |tmp| {
        std::fs::write(tmp, &json).map_err(|source| Error::Artifact {
            path: tmp.to_path_buf(),
            source,
        })
    })
}

/// Reads the trainer state written by [`save_state`].
pub fn load_state(path: &Path) -> Result<TrainerState> {
    let bytes = std::fs::read(path).map_err(|e| Error::checkpoint(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::checkpoint(path, e))
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, ModuleT, Tensor};

    use super::*;
    use crate::model::{Cnn, InputShape, ModelConfig};

    #[test]
    fn save_then_load_gives_the_same_predictions() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::checkpoint(Path::new("tempdir"), e))?;
        let input = InputShape {
            channels: 1,
            height: 12,
            width: 12,
            classes: 4,
        };
        let config = ModelConfig {
            conv_channels: vec![4],
            dense_units: vec![8],
            batch_norm: true,
            ..ModelConfig::default()
        };
        let x = Tensor::ones((2, 1, 12, 12), DType::F32, &Device::Cpu)?;
        let saved = VarMap::new();
        let model = Cnn::new(&config, input, &saved, &Device::Cpu, 1)?;
        model.forward_t(&x, true)?; // moves the batch-norm running statistics
        let path = dir.path().join(BEST_WEIGHTS);
        save_weights(&saved, &path)?;
        let mut loaded = VarMap::new();
        let other = Cnn::new(&config, input, &loaded, &Device::Cpu, 2)?;
        load_weights(&mut loaded, &path)?;
        let (a, b) = (model.forward_t(&x, false)?, other.forward_t(&x, false)?);
        assert_eq!(
            a.flatten_all()?.to_vec1::<f32>()?,
            b.flatten_all()?.to_vec1::<f32>()?
        );
        let missing = load_weights(&mut loaded, &dir.path().join("nope.safetensors")).unwrap_err();
        assert!(
            missing.to_string().contains("nope.safetensors"),
            "{missing}"
        );
        Ok(())
    }

    /// A state file that does not parse: the error names the file and keeps the parser's error
    /// as its source, without repeating its text (a `{:#}` chain prints it once).
    #[test]
    fn a_corrupt_state_file_keeps_the_parse_error_as_its_source() -> Result<()> {
        use std::error::Error as _;

        let dir = tempfile::tempdir().map_err(|e| Error::checkpoint(Path::new("tempdir"), e))?;
        let path = dir.path().join(LAST_STATE);
        write_atomically(&path, |tmp| {
            std::fs::write(tmp, "{ not json").map_err(|e| Error::checkpoint(tmp, e))
        })?;
        let err = load_state(&path).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("last.state.json"), "{message}");
        let source = err
            .source()
            .ok_or_else(|| Error::checkpoint(&path, format!("no source under `{message}`")))?;
        assert!(
            source.downcast_ref::<serde_json::Error>().is_some(),
            "{source:?}"
        );
        assert!(
            !message.contains(&source.to_string()),
            "`{message}` repeats its source `{source}`"
        );
        Ok(())
    }
}
