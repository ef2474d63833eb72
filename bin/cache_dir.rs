//! Where `track` keeps its on-disk cache (the pipeline's channel statistics): the library takes
//! the directory from its caller; the binary resolves it from the environment.

use std::path::PathBuf;

/// `GAPWATCH_CACHE_DIR`, else `$XDG_CACHE_HOME/gapwatch`, else `$HOME/.cache/gapwatch`; none
/// when none of them is set (nothing is then cached on disk).
pub fn resolve() -> Option<PathBuf> {
    std::env::var_os("GAPWATCH_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("gapwatch")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/gapwatch")))
}
