//! Run artifacts: where a run's `artifact_uri` points, and the local-directory operations used
//! by the embedded store (and by a daemon that hands out `file://` URIs), and the client's
//! artifact calls that pick between them.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::http::HttpBackend;
use super::{Backend, Client};
use crate::entities::de_opt_i64;
use crate::error::{Error, Result};

/// One entry of an artifact listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactFile {
    /// Path relative to the run's artifact root, `/`-separated (`configs/train.toml`).
    pub path: String,
    /// Whether this is a directory.
    #[serde(default)]
    pub is_dir: bool,
    /// Size in bytes (files only).
    #[serde(
        default,
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_size: Option<i64>,
}

/// Where a run's artifacts live, from its `artifact_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArtifactLocation {
    /// Served by the daemon's `mlflow-artifacts` routes under this path (`<exp>/<run>/artifacts`).
    Served(String),
    /// A local directory (`file://` URI or a plain path).
    Local(PathBuf),
}

impl ArtifactLocation {
    /// Parses `mlflow-artifacts:/<exp>/<run>/artifacts` (with or without a `//host:port`
    /// authority), `file:///dir` or a plain path.
    pub(crate) fn parse(run_id: &str, uri: &str) -> Result<ArtifactLocation> {
        if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
            let rest = match rest.strip_prefix("//") {
                Some(with_authority) => with_authority.split_once('/').map_or("", |(_, path)| path),
                None => rest,
            };
            let path = rest.trim_matches('/');
            if path.is_empty() {
                return Err(invalid_uri(run_id, uri));
            }
            return Ok(ArtifactLocation::Served(path.to_string()));
        }
        let path = match uri.strip_prefix("file://") {
            Some(path) => percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .map_err(|_| invalid_uri(run_id, uri))?
                .into_owned(),
            None => uri.to_string(),
        };
        if path.is_empty() || path.contains("://") {
            return Err(invalid_uri(run_id, uri));
        }
        Ok(ArtifactLocation::Local(PathBuf::from(path)))
    }
}

fn invalid_uri(run_id: &str, uri: &str) -> Error {
    Error::invalid(format!(
        "run {run_id} has an artifact_uri this client cannot use: {uri:?}"
    ))
}

/// Checks that `path` is relative and stays inside the artifact root: no `..`, no absolute
/// path, no empty or `.` segments. `""` is the root itself.
pub(crate) fn check_relative(path: &str) -> Result<()> {
    let refuse = |reason: &str| Error::ArtifactPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    if path.is_empty() {
        return Ok(());
    }
    if path.starts_with('/') || path.contains('\\') {
        return Err(refuse("must be a relative path with '/' separators"));
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(refuse("'..', '.' and empty segments are not allowed"));
        }
    }
    Ok(())
}

/// `dir/name`, or `name` when `dir` is the root.
pub(crate) fn join_artifact_path(dir: &str, name: &str) -> String {
    let name = name.rsplit('/').next().unwrap_or(name);
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Resolves `path` (checked) under the artifact directory `root` of a `file://` URI, refusing
/// symbolic links that lead out of it. (The embedded store resolves its own runs' paths with
/// [`crate::store::Store::resolve_artifact_path`].)
pub(crate) fn resolve(root: &Path, path: &str) -> Result<PathBuf> {
    check_relative(path)?;
    let full = path
        .split('/')
        .filter(|s| !s.is_empty())
        .fold(root.to_path_buf(), |p, s| p.join(s));
    if let (Ok(real_root), Ok(real)) = (root.canonicalize(), full.canonicalize())
        && !real.starts_with(&real_root)
    {
        return Err(Error::ArtifactPath {
            path: path.to_string(),
            reason: "leads out of the run's artifacts".into(),
        });
    }
    Ok(full)
}

/// Copies the local file `local` to the resolved artifact file `dst`, creating directories.
pub(crate) fn store_local(dst: &Path, local: &Path) -> Result<()> {
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    fs::copy(local, dst).map_err(io_error(local))?;
    Ok(())
}

/// The entries of the resolved artifact directory `dir`, which is `path` relative to the
/// artifact root, sorted by path. A missing directory is empty.
pub(crate) fn list_local(dir: &Path, path: &str) -> Result<Vec<ArtifactFile>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let metadata = entry.metadata().map_err(io_error(&entry.path()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push(ArtifactFile {
            path: join_artifact_path(path, &name),
            is_dir: metadata.is_dir(),
            file_size: (!metadata.is_dir())
                .then(|| i64::try_from(metadata.len()).unwrap_or(i64::MAX)),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Copies the resolved artifact file `src` (artifact path `path`) to the file `dst`.
pub(crate) fn fetch_local(src: &Path, path: &str, dst: &Path) -> Result<()> {
    if !src.is_file() {
        return Err(Error::ArtifactNotFound {
            path: path.to_string(),
        });
    }
    fs::copy(src, dst).map_err(io_error(src))?;
    Ok(())
}

/// Where a run's artifact is.
enum ArtifactTarget<'a> {
    /// A resolved local path.
    Local(PathBuf),
    /// A location (`<exp>/<run>/artifacts`) served by this daemon.
    Served(&'a HttpBackend, String),
}

impl Client {
    /// Where artifact `path` (checked) of a run is: a local file or directory for an embedded
    /// run or a `file://` artifact URI, else a location the daemon serves.
    fn artifact_target(&self, run_id: &str, path: &str) -> Result<ArtifactTarget<'_>> {
        check_relative(path)?;
        match &self.backend {
            Backend::Embedded(store) => Ok(ArtifactTarget::Local(
                store.resolve_artifact_path(run_id, path)?,
            )),
            Backend::Http(http) => {
                match ArtifactLocation::parse(run_id, &http.run(run_id)?.info.artifact_uri)? {
                    ArtifactLocation::Local(root) => {
                        Ok(ArtifactTarget::Local(resolve(&root, path)?))
                    }
                    ArtifactLocation::Served(location) => {
                        Ok(ArtifactTarget::Served(http, location))
                    }
                }
            }
        }
    }

    /// Stores the local file `local` among the run's artifacts, in the directory `artifact_dir`
    /// (`""` for the top) under the file's own name. Returns its artifact path.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` for a path with `..`, an absolute path or one that links out
    /// of the run's artifacts; I/O errors naming the file.
    pub fn log_artifact(&self, run_id: &str, local: &Path, artifact_dir: &str) -> Result<String> {
        check_relative(artifact_dir)?;
        let name =
            local
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::ArtifactPath {
                    path: local.display().to_string(),
                    reason: "the file has no UTF-8 name".into(),
                })?;
        let path = join_artifact_path(artifact_dir, name);
        match self.artifact_target(run_id, &path)? {
            ArtifactTarget::Local(dst) => store_local(&dst, local)?,
            ArtifactTarget::Served(http, location) => {
                http.upload_artifact(&location, &path, local)?
            }
        }
        Ok(path)
    }

    /// The artifacts directly in `artifact_dir` (`""` for the top), sorted by path; paths are
    /// relative to the run's artifact root.
    pub fn list_artifacts(&self, run_id: &str, artifact_dir: &str) -> Result<Vec<ArtifactFile>> {
        let mut files = match self.artifact_target(run_id, artifact_dir)? {
            ArtifactTarget::Local(dir) => list_local(&dir, artifact_dir)?,
            ArtifactTarget::Served(http, location) => {
                http.list_artifacts(&location, artifact_dir)?
            }
        };
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Downloads the artifact file `path` into the directory `dst_dir` (created if needed);
    /// returns the local file.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` when there is no such file; refused paths as
    /// [`Client::log_artifact`].
    pub fn download_artifact(&self, run_id: &str, path: &str, dst_dir: &Path) -> Result<PathBuf> {
        let name = path
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::ArtifactPath {
                path: path.to_string(),
                reason: "names no file".into(),
            })?;
        let target = self.artifact_target(run_id, path)?;
        std::fs::create_dir_all(dst_dir).map_err(|source| Error::Io {
            path: dst_dir.to_path_buf(),
            source,
        })?;
        let dst = dst_dir.join(name);
        match target {
            ArtifactTarget::Local(src) => fetch_local(&src, path, &dst)?,
            ArtifactTarget::Served(http, location) => {
                http.download_artifact(&location, path, &dst)?
            }
        }
        Ok(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_parse_to_served_or_local_locations() {
        let parse = |uri| ArtifactLocation::parse("r", uri).expect("parses");
        assert_eq!(
            parse("mlflow-artifacts:/1/abc/artifacts"),
            ArtifactLocation::Served("1/abc/artifacts".into())
        );
        assert_eq!(
            parse("mlflow-artifacts://127.0.0.1:5055/1/abc/artifacts"),
            ArtifactLocation::Served("1/abc/artifacts".into())
        );
        assert_eq!(
            parse("file:///tmp/a%20b/1/abc/artifacts"),
            ArtifactLocation::Local("/tmp/a b/1/abc/artifacts".into())
        );
        assert_eq!(
            parse("/srv/art/1/abc/artifacts"),
            ArtifactLocation::Local("/srv/art/1/abc/artifacts".into())
        );
        assert!(ArtifactLocation::parse("r", "").is_err());
        assert!(ArtifactLocation::parse("r", "s3://bucket/x").is_err());
    }

    #[test]
    fn paths_that_leave_the_artifact_root_are_refused() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\b"] {
            assert!(check_relative(bad).is_err(), "{bad} accepted");
        }
        for good in ["", "a", "a/b.json", "configs/train.toml"] {
            assert!(check_relative(good).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn local_artifacts_store_list_and_fetch_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("artifacts");
        let src = dir.path().join("model.bin");
        fs::write(&src, b"weights").expect("write");
        let at = |path: &str| resolve(&root, path).expect("resolves");
        store_local(&at("model.bin"), &src).expect("store");
        store_local(&at("ckpt/epoch-1.bin"), &src).expect("store nested");
        let top = list_local(&at(""), "").expect("list");
        assert_eq!(
            top,
            vec![
                ArtifactFile {
                    path: "ckpt".into(),
                    is_dir: true,
                    file_size: None
                },
                ArtifactFile {
                    path: "model.bin".into(),
                    is_dir: false,
                    file_size: Some(7)
                },
            ]
        );
        assert_eq!(
            list_local(&at("ckpt"), "ckpt").expect("list")[0].path,
            "ckpt/epoch-1.bin"
        );
        let out = dir.path().join("out.bin");
        fetch_local(&at("ckpt/epoch-1.bin"), "ckpt/epoch-1.bin", &out).expect("fetch");
        assert_eq!(fs::read(&out).expect("read"), b"weights");
        assert!(matches!(
            fetch_local(&at("nope"), "nope", &out),
            Err(Error::ArtifactNotFound { .. })
        ));
        std::os::unix::fs::symlink("/etc", root.join("out")).expect("symlink");
        assert!(
            resolve(&root, "out/passwd").is_err(),
            "a link out of the root is followed"
        );
    }
}
