//! `tracker`: records every run and answers questions about them.
//!
//! (Crate docs, data flow and a runnable example: to be written by the store's owner.)
#![warn(missing_docs)]

pub mod analysis;
pub mod api;
pub mod client;
pub mod entities;
pub mod error;
pub mod export;
pub mod plot;
pub mod query;
pub mod store;
