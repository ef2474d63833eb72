//! What a data set is made of: its [`Split`]s and their [`Sample`]s, each with where its bytes
//! are ([`Location`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The splits of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training samples (augmented, shuffled).
    Train,
    /// Validation samples (deterministic transforms).
    Val,
    /// Test samples, where the data set has them (IDX `t10k`, a `test/` folder).
    Test,
}

impl Split {
    /// `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            other => Err(Error::config(
                "split",
                format!("`{other}`: expected train, val or test"),
            )),
        }
    }
}

/// Where a sample's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// Image `index` of the IDX image set `set` (pixels already in memory).
    Idx { set: usize, index: usize },
    /// An image file.
    File(PathBuf),
}

/// One sample: a stable id (unique in the data set), its label and where its bytes are.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Unique, stable id: the sample's index in the sorted listing of its source.
    pub id: u64,
    /// Class index into [`Dataset::classes`](crate::Dataset::classes).
    pub label: i32,
    pub(crate) location: Location,
}
