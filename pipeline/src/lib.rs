//! `pipeline`: the image data pipeline (not yet written).
#![warn(missing_docs)]
