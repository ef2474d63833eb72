//! The fit loop's checkpoints: after every epoch the last state (weights, optimizer, trainer
//! state) and, when the epoch improved, the best weights; on resume the last state comes back,
//! at the end the best weights (files and their format: [`crate::checkpoint`]).

use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_nn::VarMap;

use crate::checkpoint::{self, TrainerState};
use crate::error::Result;
use crate::optim::Optimizer;

/// Keeps the best and the last checkpoint of a run in its artifact directory.
pub(super) struct Checkpointer {
    dir: PathBuf,
}

impl Checkpointer {
    /// Checkpoints in `dir`, the run's artifact directory.
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The artifact directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the checkpoint `name` (one of [`checkpoint`]'s names).
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Saves the best weights when the epoch `improved`, then the last weights, optimizer and
    /// `state`; returns the names written, in the order the run records them.
    pub(super) fn save(
        &self,
        varmap: &VarMap,
        optimizer: &Optimizer,
        state: &TrainerState,
        improved: bool,
    ) -> Result<Vec<&'static str>> {
        let mut written = vec![
            checkpoint::LAST_WEIGHTS,
            checkpoint::LAST_OPTIMIZER,
            checkpoint::LAST_STATE,
        ];
        if improved {
            checkpoint::save_weights(varmap, &self.path(checkpoint::BEST_WEIGHTS))?;
            written.push(checkpoint::BEST_WEIGHTS);
        }
        checkpoint::save_weights(varmap, &self.path(checkpoint::LAST_WEIGHTS))?;
        optimizer.save_state(&self.path(checkpoint::LAST_OPTIMIZER))?;
        checkpoint::save_state(state, &self.path(checkpoint::LAST_STATE))?;
        Ok(written)
    }

    /// Loads the last checkpoint into `varmap` and `optimizer` (on `device`); returns the
    /// trainer state saved with it.
    pub(super) fn restore_last(
        &self,
        varmap: &mut VarMap,
        optimizer: &mut Optimizer,
        device: &Device,
    ) -> Result<TrainerState> {
        let state = checkpoint::load_state(&self.path(checkpoint::LAST_STATE))?;
        checkpoint::load_weights(varmap, &self.path(checkpoint::LAST_WEIGHTS))?;
        optimizer.restore(
            &self.path(checkpoint::LAST_OPTIMIZER),
            state.optimizer_steps,
            state.learning_rate,
            device,
        )?;
        Ok(state)
    }

    /// Loads the best weights into `varmap`; false when no epoch was saved as best.
    pub(super) fn restore_best(&self, varmap: &mut VarMap) -> Result<bool> {
        let path = self.path(checkpoint::BEST_WEIGHTS);
        if !path.is_file() {
            return Ok(false);
        }
        checkpoint::load_weights(varmap, &path)?;
        Ok(true)
    }
}
