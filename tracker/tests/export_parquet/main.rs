//! Parquet export read back with arrow-rs: row counts, types and values equal the store's;
//! every partition of a table has one schema; files are replaced atomically, with the usual
//! permissions; any valid experiment name exports, and one failing experiment does not stop
//! the others; write → read is the identity (property test).
//!
//! # Layout
//! - `support`: reading the files back, a populated store, paths of the export's files.
//! - `content`: what the files hold, their schemas, and write → read as the identity.
//! - `files`: replacing, names, deleted experiments, failures and permissions of the files.

mod content;
mod files;
mod support;
