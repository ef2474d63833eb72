//! Training curves as an image: the `plot` module of the `insight` crate, re-exported so that
//! `tracker::plot::plot_runs` keeps its path (its errors convert into the tracker's
//! [`crate::error::Error`]).

pub use insight::plot::*;
