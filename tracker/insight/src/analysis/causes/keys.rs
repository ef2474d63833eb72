//! The param keys each cause reads, in order of preference: gapwatch's trainer first, then
//! common spellings of other trainers (Keras/MLflow scripts log `lr`, `batch_size`, ...), and
//! the readers that find a run's value of one of them.

use std::collections::BTreeMap;

/// Number of classes.
pub const NUM_CLASSES: &[&str] = &["num_classes", "classes", "n_classes"];
/// Training-set size.
pub const TRAIN_SAMPLES: &[&str] = &[
    "train_size",
    "data.train_samples",
    "train_samples",
    "data.train_size",
    "num_train_samples",
    "n_train",
];
/// The config key that limits the training set.
pub const TRAIN_LIMIT: &[&str] = &["data.limit", "data.train_limit", "data.subset"];
/// Trainable parameter count.
pub const NUM_PARAMS: &[&str] = &[
    "num_params",
    "model.num_params",
    "trainable_params",
    "params",
];
/// Augmentation preset (`none` | `standard` | `custom`).
pub const AUGMENT: &[&str] = &["transforms.augment", "augment", "augmentation"];
/// Dropout rates (every one of these present is read).
pub const DROPOUT: &[&str] = &[
    "model.conv_dropout",
    "model.dense_dropout",
    "model.dropout",
    "dropout",
    "dropout_rate",
];
/// Weight decay.
pub const WEIGHT_DECAY: &[&str] = &["optim.weight_decay", "weight_decay", "l2"];
/// Learning rate.
pub const LEARNING_RATE: &[&str] = &[
    "optim.learning_rate",
    "optim.lr",
    "learning_rate",
    "lr",
    "opt_learning_rate",
];
/// Optimizer name.
pub const OPTIMIZER: &[&str] = &["optim.optimizer", "optimizer", "opt_name"];
/// Batch size.
pub const BATCH_SIZE: &[&str] = &[
    "loader.batch_size",
    "data.batch_size",
    "train.batch_size",
    "batch_size",
];
/// Input normalization.
pub const NORMALIZE: &[&str] = &["transforms.normalize", "normalize"];
/// Early stopping on/off (gapwatch's trainer records it).
pub const EARLY_STOPPING_ENABLED: &[&str] = &["early_stopping.enabled", "early_stopping"];
/// Epochs the run was configured for.
pub const EPOCHS: &[&str] = &["train.epochs", "epochs", "num_epochs", "max_epochs"];
/// The model's head (`flatten` or `global_avg_pool`).
pub const HEAD: &[&str] = &["model.head"];
/// Units of the dense hidden layers (`[128]`).
pub const DENSE_UNITS: &[&str] = &["model.dense_units"];
/// Channels of the conv blocks (`[32, 64]`).
pub const CONV_CHANNELS: &[&str] = &["model.conv_channels"];
/// Gradient clipping by global norm (0: off).
pub const GRAD_CLIP: &[&str] = &["optim.grad_clip_norm", "grad_clip_norm", "clip_grad_norm"];
/// Share of the training source held out for validation.
pub const VAL_FRACTION: &[&str] = &["data.val_fraction", "val_fraction", "validation_split"];
/// Early-stopping patience, read only when no on/off key is recorded (0 or none: off).
pub const EARLY_STOPPING_PATIENCE: &[&str] = &[
    "early_stopping.patience_epochs",
    "early_stopping.patience",
    "patience",
];

/// The first of `candidates` the run has, with its value.
pub(crate) fn lookup<'a>(
    params: &'a BTreeMap<String, String>,
    candidates: &[&'static str],
) -> Option<(&'static str, &'a str)> {
    candidates
        .iter()
        .find_map(|k| params.get(*k).map(|v| (*k, v.trim())))
}

/// [`lookup`], parsed as a number.
pub(crate) fn lookup_f64(
    params: &BTreeMap<String, String>,
    candidates: &[&'static str],
) -> Option<(&'static str, f64)> {
    lookup(params, candidates).and_then(|(k, v)| v.parse::<f64>().ok().map(|x| (k, x)))
}

/// Whether a param value means off (`none`, `false`, `0`, ...).
pub(crate) fn is_off(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "" | "none" | "false" | "off" | "0" | "no" | "null"
    )
}

/// A list param (`[32, 64]`) as numbers.
pub(crate) fn lookup_list(
    params: &BTreeMap<String, String>,
    candidates: &[&'static str],
) -> Option<(&'static str, Vec<f64>)> {
    let (key, value) = lookup(params, candidates)?;
    let inner = value.trim().strip_prefix('[')?.strip_suffix(']')?;
    let values: Option<Vec<f64>> = inner
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().ok())
        .collect();
    Some((key, values?))
}
