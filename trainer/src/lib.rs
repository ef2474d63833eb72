//! `trainer`: trains a CNN from a config on batches from the `pipeline` crate.
//!
//! (Crate docs, data flow and a runnable example: to be written by the fit loop's owner.)
#![warn(missing_docs)]

pub mod conv;
