//! Sources: IDX files, ImageFolder trees (or a flat folder), CSV/TSV manifests; the seeded,
//! stratified train/validation split; the [`Dataset`] the loaders read from.
//!
//! Flow: a source lister (`idx`, `folder`, `manifest`) gives a listing, `split` carves
//! validation from it, `dataset` holds the result in a [`Dataset`], which reads and decodes one
//! sample at a time ([`Dataset::load`]).

mod dataset;
mod folder;
mod idx;
mod listing;
mod manifest;
mod sample;
mod split;

pub use dataset::Dataset;
pub(crate) use dataset::Payload;
pub use folder::IMAGE_EXTENSIONS;
pub use idx::FASHION_MNIST_CLASSES;
pub use sample::{Sample, Split};
pub(crate) use split::seeded_subset;
