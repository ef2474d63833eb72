//! What listing a source gives the data set: class names, the samples of each split, IDX
//! pixels held in memory.

use std::path::PathBuf;

use super::sample::Sample;

/// An IDX image file, decoded into memory: `count` images of `rows × cols` bytes.
#[derive(Debug)]
pub(crate) struct IdxImages {
    pub(crate) path: PathBuf,
    pub(crate) rows: u32,
    pub(crate) cols: u32,
    pub(crate) pixels: Vec<u8>,
}

impl IdxImages {
    pub(crate) fn image(&self, index: usize) -> &[u8] {
        let n = self.rows as usize * self.cols as usize;
        &self.pixels[index * n..(index + 1) * n]
    }
}

pub(super) struct Classes {
    pub(super) names: Vec<String>,
}

pub(super) struct Listing {
    pub(super) classes: Classes,
    pub(super) train: Vec<Sample>,
    pub(super) val: Option<Vec<Sample>>,
    pub(super) test: Option<Vec<Sample>>,
    pub(super) idx_sets: Vec<IdxImages>,
    pub(super) native_size: Option<(u32, u32)>,
}

impl Listing {
    pub(super) fn single((classes, train): (Vec<String>, Vec<Sample>)) -> Listing {
        Listing {
            classes: Classes { names: classes },
            train,
            val: None,
            test: None,
            idx_sets: Vec::new(),
            native_size: None,
        }
    }
}
