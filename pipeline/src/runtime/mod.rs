//! The staged runtime: read → decode ×N → augment+normalize ×N → batch, joined by bounded
//! crossbeam channels, one [`Running`] per epoch of a persistent [`Loader`].
//!
//! Ordering and determinism: the reader walks the epoch's order (a shuffle seeded by
//! (seed, epoch)); every item carries its position; the batcher restores the order with a
//! reorder buffer whose size is bounded by a token window (the reader takes a token per item,
//! the batcher gives it back when the item leaves the buffer). Each sample's random choices come
//! from an RNG seeded by (seed, epoch, sample id), so batches are byte-identical whatever the
//! worker counts.
//!
//! Shutdown: only the reader has a stop flag; every other stage stops when its input closes or
//! its output is gone. Dropping [`Running`] sets the flag, drops the output receiver and joins
//! every thread.
//!
//! Flow: [`Loader`] (one split, across epochs) → `stages` (read, decode ×N, augment ×N: one
//! stage loop each) → `batcher` (order restored, batches built) → [`Running`] (the consumer's
//! iterator and report); `cache` holds decoded images across epochs; `slots` the batch buffers
//! the augment workers write samples straight into.

mod batcher;
mod cache;
mod loader;
mod running;
mod slots;
mod stages;

pub use crate::report::{PipelineReport, StageReport};
pub use crate::seed::{mix_seed, sample_rng};
pub use loader::{Loader, Mode};
pub use running::Running;
