//! Before a run exists: [`prepare`] opens the data and builds the model, and the [`Plan`] says
//! what will be trained and what looks wrong with it ([`PlanWarning`]), so a setup that cannot
//! train fails with no run and the caller can show the plan first.

use candle_core::Device;
use candle_nn::VarMap;
use pipeline::Loader;

use super::data::Data;
use crate::config::RunConfig;
use crate::error::Result;
use crate::model::{Cnn, Head, InputShape};

/// More trainable parameters than this per training image draws a warning before training:
/// far beyond what the data can pin down (the reference CNN on the bundled 9,000 images has 47,
/// on the full Fashion-MNIST 8).
pub const WARN_PARAMS_PER_IMAGE: f64 = 1_000.0;
/// Fewer validation images than this draws a warning with the noise band of one epoch's
/// validation accuracy.
pub const WARN_VAL_IMAGES: usize = 200;

/// What a run will train, known before it starts: the caller shows it and its warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Channels, height, width of the model's input.
    pub input: InputShape,
    /// The model's head, `auto` resolved.
    pub head: Head,
    /// Trainable parameters.
    pub num_params: usize,
    /// Training images per epoch.
    pub train_size: usize,
    /// Validation images.
    pub val_size: usize,
    /// Test images (0: no test split).
    pub test_size: usize,
    /// The class names.
    pub class_names: Vec<String>,
    /// What looks wrong with this setup, most serious first (training goes ahead).
    pub warnings: Vec<PlanWarning>,
}

impl Plan {
    /// Trainable parameters per training image.
    pub fn params_per_image(&self) -> f64 {
        self.num_params as f64 / self.train_size.max(1) as f64
    }
}

/// A setup that trains, but whose results will mislead without care.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanWarning {
    /// Far more parameters than the training set can support.
    ModelTooLarge {
        /// Parameters per training image.
        params_per_image: f64,
        /// The config key to change first and a value to try.
        key: &'static str,
        /// The value to try.
        suggested: String,
    },
    /// So few validation images that one epoch's accuracy moves by `acc_se_pts` points (one
    /// standard error, at 50% accuracy) by chance alone.
    SmallValidation {
        /// Validation images.
        images: usize,
        /// One standard error of validation accuracy at 50%, in points.
        acc_se_pts: f64,
    },
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanWarning::ModelTooLarge {
                params_per_image,
                key,
                suggested,
            } => write!(
                f,
                "{params_per_image:.0} parameters per training image, far more than the data can \
                 support (above {WARN_PARAMS_PER_IMAGE:.0}): expect overfitting; make the model \
                 smaller first, e.g. --set {key}={suggested}"
            ),
            PlanWarning::SmallValidation { images, acc_se_pts } => write!(
                f,
                "only {images} validation images: one epoch's validation accuracy moves by up to \
                 ±{acc_se_pts:.1} points by chance alone (one standard error), so differences \
                 under about {:.0} points cannot be told from noise; hold out more \
                 (data.val_fraction), or repeat runs with other seeds (track sweep --repeat)",
                2.0 * acc_se_pts
            ),
        }
    }
}

/// A run's data opened and its model built, before anything is recorded: see [`prepare`].
pub struct Prepared {
    /// The config, `model.head = "auto"` resolved.
    pub(super) config: RunConfig,
    /// The run's loaders.
    pub(super) data: Data,
    /// What will be trained, with its warnings.
    pub(super) plan: Plan,
    /// The model, built on `device`.
    pub(super) model: Cnn,
    /// The model's variables.
    pub(super) varmap: VarMap,
    /// Where the model lives.
    pub(super) device: Device,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("plan", &self.plan)
            .finish()
    }
}

impl Prepared {
    /// What will be trained, with its warnings.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The config that will be trained and recorded (`model.head = "auto"` resolved).
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// The device the model was built on (where it trains).
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// Opens the data of `config` and builds its model on `device` (the one
/// [`fit_prepared`](super::fit_prepared) then trains), recording nothing.
///
/// Errors, before any run exists, when the config is invalid, the data path is missing or has
/// no images, the data has fewer than two classes, or the training or validation split is
/// empty. Setups that train but mislead (far more parameters than images, a validation split
/// too small to judge) come back as [`Plan::warnings`].
pub fn prepare(config: &RunConfig, device: &Device) -> Result<Prepared> {
    config.validate()?;
    let data = Data::open(config)?;
    let mut config = config.clone();
    let head = config
        .model
        .head
        .resolve(data.input.height, data.input.width);
    config.model.head = head;
    let varmap = VarMap::new();
    let model = Cnn::new(
        &config.model,
        data.input,
        &varmap,
        device,
        config.train.seed,
    )?;
    let mut plan = Plan {
        input: data.input,
        head,
        num_params: model.num_params(),
        train_size: data.train.len(),
        val_size: data.val.len(),
        test_size: data.test.as_ref().map_or(0, Loader::len),
        class_names: data.class_names.clone(),
        warnings: Vec::new(),
    };
    if plan.params_per_image() > WARN_PARAMS_PER_IMAGE {
        let (key, suggested) = smaller_model(&config);
        plan.warnings.push(PlanWarning::ModelTooLarge {
            params_per_image: plan.params_per_image(),
            key,
            suggested,
        });
    }
    if plan.val_size < WARN_VAL_IMAGES {
        plan.warnings.push(PlanWarning::SmallValidation {
            images: plan.val_size,
            acc_se_pts: 100.0 * (0.25 / plan.val_size.max(1) as f64).sqrt(),
        });
    }
    Ok(Prepared {
        config,
        data,
        plan,
        model,
        varmap,
        device: device.clone(),
    })
}

/// The first change that makes `config`'s model much smaller: the pooled head if it flattens,
/// else half the dense units, else half the channels.
fn smaller_model(config: &RunConfig) -> (&'static str, String) {
    let m = &config.model;
    if m.head == Head::Flatten && !m.conv_channels.is_empty() {
        return ("model.head", Head::GlobalAvgPool.as_str().to_string());
    }
    let halve = |v: &[usize]| {
        let halved: Vec<String> = v.iter().map(|u| (u / 2).max(1).to_string()).collect();
        format!("[{}]", halved.join(","))
    };
    if m.dense_units.iter().any(|&u| u > 16) {
        return ("model.dense_units", halve(&m.dense_units));
    }
    ("model.conv_channels", halve(&m.conv_channels))
}
