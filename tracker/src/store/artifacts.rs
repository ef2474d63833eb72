//! Where a run's artifacts live: its directory under the artifact root, the `artifact_uri`
//! and experiment `artifact_location` written for it, and artifact paths resolved inside the
//! run's directory (never outside it).

use std::path::{Component, Path, PathBuf};

use super::{ArtifactUris, Store, read, validate};
use crate::error::{Error, Result};

impl Store {
    /// The run's artifact directory `<artifact root>/<exp>/<run>/artifacts` (not created).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run.
    pub fn run_artifact_dir(&self, run_id: &str) -> Result<PathBuf> {
        let info = self.read(|conn, path| read::run_info(conn, path, run_id))?;
        Ok(artifact_dir(
            &self.inner.artifact_root,
            &info.experiment_id,
            &info.run_id,
        ))
    }

    /// Resolves `relative` (a `/`-separated path, possibly empty) inside the run's artifact
    /// directory, refusing absolute paths, `..`, NUL bytes, names over 255 bytes, paths over
    /// [`validate::MAX_ARTIFACT_PATH_BYTES`], dangling links or link loops on the way, and
    /// anything that resolves (through links) outside the directory. The directory itself is
    /// created.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` for a refused path, `RESOURCE_DOES_NOT_EXIST` for an unknown run.
    pub fn resolve_artifact_path(&self, run_id: &str, relative: &str) -> Result<PathBuf> {
        let refused = |reason: &str| Error::ArtifactPath {
            path: relative.to_string(),
            reason: reason.to_string(),
        };
        if relative.contains('\0') {
            return Err(refused("NUL bytes are not allowed in artifact paths"));
        }
        let relative_path = Path::new(relative);
        for component in relative_path.components() {
            match component {
                Component::Normal(name) if name.len() > validate::MAX_ARTIFACT_NAME_BYTES => {
                    return Err(refused(&format!(
                        "a file or directory name is {} bytes long; the limit is {} bytes",
                        name.len(),
                        validate::MAX_ARTIFACT_NAME_BYTES
                    )));
                }
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => return Err(refused("'..' is not allowed")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refused("absolute paths are not allowed"));
                }
            }
        }
        let dir = self.run_artifact_dir(run_id)?;
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let root = dir.canonicalize().map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let target = root.join(relative_path);
        if target.as_os_str().len() > validate::MAX_ARTIFACT_PATH_BYTES {
            return Err(refused(&format!(
                "the artifact's path on disk would be {} bytes long; the limit is {} bytes",
                target.as_os_str().len(),
                validate::MAX_ARTIFACT_PATH_BYTES
            )));
        }
        // Walk down the existing part of the path (links included, dangling or not): every
        // existing prefix must resolve, and stay inside.
        let mut existing = target.as_path();
        while existing.symlink_metadata().is_err() {
            match existing.parent() {
                Some(parent) => existing = parent,
                None => break,
            }
        }
        let resolved = existing.canonicalize().map_err(|source| {
            if existing
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
                || source.kind() == std::io::ErrorKind::NotFound
            {
                refused("the path goes through a dangling link or a link loop")
            } else {
                Error::Io {
                    path: existing.to_path_buf(),
                    source,
                }
            }
        })?;
        if !resolved.starts_with(&root) {
            return Err(refused("the path leaves the run's artifact directory"));
        }
        Ok(target)
    }
}

pub(super) fn artifact_dir(root: &Path, experiment_id: &str, run_id: &str) -> PathBuf {
    root.join(experiment_id).join(run_id).join("artifacts")
}

pub(super) fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

pub(super) fn experiment_artifact_location(
    uris: &ArtifactUris,
    root: &Path,
    experiment_id: &str,
) -> String {
    match uris {
        ArtifactUris::File => file_uri(&root.join(experiment_id)),
        ArtifactUris::Served => format!("mlflow-artifacts:/{experiment_id}"),
        ArtifactUris::Root(uri) => format!("{}/{experiment_id}", uri.trim_end_matches('/')),
    }
}

/// A run's `artifact_uri`: under the store's root (in the store's form) when its experiment
/// has a default location, else `<experiment location>/<run>/artifacts`.
pub(super) fn run_artifact_uri(
    uris: &ArtifactUris,
    root: &Path,
    experiment_id: &str,
    experiment_location: &str,
    run_id: &str,
) -> String {
    let default_location = experiment_location.is_empty()
        || [ArtifactUris::File, ArtifactUris::Served]
            .iter()
            .any(|form| {
                experiment_artifact_location(form, root, experiment_id) == experiment_location
            });
    match uris {
        _ if !default_location => format!(
            "{}/{run_id}/artifacts",
            experiment_location.trim_end_matches('/')
        ),
        ArtifactUris::File => file_uri(&artifact_dir(root, experiment_id, run_id)),
        ArtifactUris::Served => format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"),
        ArtifactUris::Root(uri) => format!(
            "{}/{experiment_id}/{run_id}/artifacts",
            uri.trim_end_matches('/')
        ),
    }
}

/// An experiment's `artifact_location` as MLflow stores it (`resolve_uri_if_local`): a relative
/// local path (no URI scheme) is made absolute against the working directory; URIs and absolute
/// paths are kept.
pub(super) fn resolve_local_location(location: &str) -> Result<String> {
    let scheme = location
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|scheme| {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
    if scheme.is_some() || Path::new(location).is_absolute() {
        return Ok(location.to_string());
    }
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    Ok(cwd.join(location).display().to_string())
}

/// `<db stem>-artifacts` beside the database file.
pub(super) fn default_artifact_root(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    db.with_file_name(format!("{stem}-artifacts"))
}

/// `path` made absolute against the working directory.
pub(super) fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
