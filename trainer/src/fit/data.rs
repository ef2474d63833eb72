//! The loaders of one run: the augmented training stream, the fixed training subset, the
//! validation and test splits, opened from the config and checked before anything is recorded.

use pipeline::{Dataset, Loader, Split};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::model::InputShape;

/// The loaders of one run.
pub(super) struct Data {
    /// The training split, augmented and shuffled.
    pub(super) train: Loader,
    /// A fixed training subset the size of the validation split, evaluated like it.
    pub(super) train_eval: Loader,
    /// The validation split.
    pub(super) val: Loader,
    /// The test split, when the data has one.
    pub(super) test: Option<Loader>,
    /// Number of classes.
    pub(super) classes: usize,
    /// The class names.
    pub(super) class_names: Vec<String>,
    /// The model's input shape.
    pub(super) input: InputShape,
}

impl Data {
    /// Opens the loaders of `config`; errors when the data cannot train a classifier.
    pub(super) fn open(config: &RunConfig) -> Result<Self> {
        let pipeline_config = config.pipeline_config();
        let dataset = Dataset::open(&config.data)?;
        if dataset.classes().len() < 2 {
            return Err(Error::ConfigValue {
                key: "data.path".into(),
                reason: format!(
                    "{}: {} class{} ({}); a classifier needs at least two (one folder of images \
                     per class)",
                    dataset.path().display(),
                    dataset.classes().len(),
                    if dataset.classes().len() == 1 {
                        ""
                    } else {
                        "es"
                    },
                    dataset.classes().join(", ")
                ),
            });
        }
        let train = Loader::train(&dataset, &pipeline_config)?;
        let val = Loader::eval(&dataset, Split::Val, &pipeline_config)?;
        if train.is_empty() || val.is_empty() {
            return Err(Error::ConfigValue {
                key: "data".into(),
                reason: format!(
                    "{}: {} training and {} validation samples; both must be non-empty",
                    dataset.path().display(),
                    train.len(),
                    val.len()
                ),
            });
        }
        let train_eval = Loader::train_subset(&dataset, val.len(), &pipeline_config)?;
        let test = if dataset.has_test() && dataset.len(Split::Test) > 0 {
            Some(Loader::eval(&dataset, Split::Test, &pipeline_config)?)
        } else {
            None
        };
        let [channels, height, width] = train.shape();
        let classes = dataset.classes().len();
        Ok(Self {
            train,
            train_eval,
            val,
            test,
            classes,
            class_names: dataset.classes().to_vec(),
            input: InputShape {
                channels,
                height,
                width,
                classes,
            },
        })
    }
}
