//! Optimizers (Adam with L2, AdamW, SGD with momentum/Nesterov), learning-rate schedules,
//! gradient-norm clipping and cross-entropy with label smoothing.
//!
//! candle-nn has an `AdamW` and a momentum-less `SGD`, but no Adam-with-L2, no momentum, no
//! schedules, no clipping and no way to save optimizer state for an exact resume. So the three
//! update rules are written once here, with PyTorch's semantics, and their state (moments,
//! momentum buffers, step count) can be saved to and loaded from safetensors.
//!
//! # Layout
//! - `adam`: one Adam / AdamW update, as tensor ops and as one fused CPU pass.
//! - `config`: [`OptimConfig`], the `[optim]` section, its kinds, defaults and ranges.
//! - `loss`: [`cross_entropy`] (what a step minimizes), [`per_sample_nll`], [`correct_count`].
//! - `optimizer`: [`Optimizer`], the update rules and their saved state; [`clip_grad_norm`].
//! - `schedule`: [`LrSchedule`], the learning rate of each epoch.

mod adam;
mod config;
mod loss;
mod optimizer;
mod schedule;

pub use config::{
    DEFAULT_BETA1, DEFAULT_BETA2, DEFAULT_EPS, DEFAULT_LEARNING_RATE, DEFAULT_LR_DECAY_FACTOR,
    DEFAULT_MOMENTUM, DEFAULT_OPTIMIZER, DEFAULT_PLATEAU_PATIENCE_EPOCHS, DEFAULT_STEP_SIZE_EPOCHS,
    DEFAULT_WEIGHT_DECAY, OptimConfig, OptimizerKind, ScheduleKind,
};
pub use loss::{correct_count, cross_entropy, per_sample_nll};
pub use optimizer::{Optimizer, clip_grad_norm};
pub use schedule::LrSchedule;
