//! ImageFolder sources: `root/<class>/*.{jpg,jpeg,png}` (or a flat folder of images: one
//! class), optionally with `train/`, `val/` and `test/` sub-folders.

use std::path::{Path, PathBuf};

use super::listing::{Classes, Listing};
use super::sample::{Location, Sample};
use crate::error::{Error, Result};

/// File extensions an ImageFolder lists (case-insensitive), as torchvision's loader does.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn sorted_entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let read = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for entry in read {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Follow symlinks, as torchvision does.
        if path.is_dir() {
            dirs.push(path);
        } else if is_image_file(&path) {
            files.push(path);
        }
    }
    dirs.sort();
    files.sort();
    Ok((dirs, files))
}

/// An ImageFolder root (`root/<class>/*`) or a flat folder of images (one class named after the
/// folder). With `known`, class names must be among them and labels index into them.
pub(super) fn list_folder(
    root: &Path,
    known: Option<&[String]>,
) -> Result<(Vec<String>, Vec<Sample>)> {
    let (dirs, files) = sorted_entries(root)?;
    let mut classes = Vec::new();
    let mut samples = Vec::new();
    let push_class = |name: String, classes: &mut Vec<String>| -> Result<i32> {
        match known {
            Some(known) => known
                .iter()
                .position(|k| *k == name)
                .map(|i| i as i32)
                .ok_or_else(|| Error::Dataset {
                    path: root.join(&name),
                    message: format!(
                        "class `{name}` is not a training class ({})",
                        known.join(", ")
                    ),
                }),
            None => {
                classes.push(name);
                Ok(classes.len() as i32 - 1)
            }
        }
    };
    if dirs.is_empty() {
        if files.is_empty() {
            return Err(Error::Dataset {
                path: root.to_path_buf(),
                message: "no images (*.jpg, *.jpeg, *.png) and no class folders".into(),
            });
        }
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "images".into());
        let label = match known {
            Some(k) if k.len() == 1 => 0,
            _ => push_class(name, &mut classes)?,
        };
        for f in files {
            samples.push(Sample {
                id: samples.len() as u64,
                label,
                location: Location::File(f),
            });
        }
        return Ok((classes, samples));
    }
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (_, class_files) = sorted_entries(&dir)?;
        if class_files.is_empty() {
            return Err(Error::Dataset {
                path: dir,
                message: "class folder has no images (*.jpg, *.jpeg, *.png)".into(),
            });
        }
        let label = push_class(name, &mut classes)?;
        for f in class_files {
            samples.push(Sample {
                id: samples.len() as u64,
                label,
                location: Location::File(f),
            });
        }
    }
    Ok((classes, samples))
}

pub(super) fn open_folder(root: &Path) -> Result<Listing> {
    let train_dir = root.join("train");
    if train_dir.is_dir() {
        let (names, train) = list_folder(&train_dir, None)?;
        let val_dir = root.join("val");
        let val = if val_dir.is_dir() {
            Some(list_folder(&val_dir, Some(names.as_slice()))?.1)
        } else {
            None
        };
        let test_dir = root.join("test");
        let test = if test_dir.is_dir() {
            Some(list_folder(&test_dir, Some(names.as_slice()))?.1)
        } else {
            None
        };
        return Ok(Listing {
            classes: Classes { names },
            train,
            val,
            test,
            idx_sets: Vec::new(),
            native_size: None,
        });
    }
    Ok(Listing::single(list_folder(root, None)?))
}
