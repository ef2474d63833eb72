//! CSV/TSV manifest sources: `path,label` rows, paths relative to the manifest.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::sample::{Location, Sample};
use crate::error::{Error, Result};

/// A CSV or TSV manifest: `path,label` rows, an optional header naming `path` and `label`
/// columns, paths relative to the manifest. Labels are class names (classes sorted) or, when
/// every label is an integer, class indices.
pub(super) fn list_manifest(
    path: &Path,
    known: Option<&[String]>,
) -> Result<(Vec<String>, Vec<Sample>)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
        || text.lines().next().is_some_and(|l| l.contains('\t'));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(if tsv { b'\t' } else { b',' })
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let base = path.parent().unwrap_or(Path::new("."));
    let bad = |line: u64, message: String| Error::Manifest {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut rows: Vec<(u64, PathBuf, String)> = Vec::new();
    let (mut path_col, mut label_col) = (0, 1);
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 1;
        let record = record.map_err(|e| bad(line, e.to_string()))?;
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if i == 0 {
            let lower: Vec<String> = record.iter().map(|f| f.to_ascii_lowercase()).collect();
            if let Some(p) = lower
                .iter()
                .position(|f| f == "path" || f == "file" || f == "filename")
            {
                path_col = p;
                label_col = lower
                    .iter()
                    .position(|f| f == "label" || f == "class")
                    .ok_or_else(|| bad(line, "header has no `label` column".into()))?;
                continue;
            }
        }
        let file = record.get(path_col).unwrap_or_default();
        let label = record
            .get(label_col)
            .ok_or_else(|| bad(line, format!("row `{file}` has no label column")))?;
        if label.is_empty() {
            return Err(bad(line, format!("row `{file}` has an empty label")));
        }
        let full = base.join(file);
        if !full.is_file() {
            return Err(bad(line, format!("file {} does not exist", full.display())));
        }
        rows.push((line, full, label.to_string()));
    }
    if rows.is_empty() {
        return Err(Error::Dataset {
            path: path.to_path_buf(),
            message: "manifest lists no images".into(),
        });
    }
    let all_ints = rows.iter().all(|(_, _, l)| l.parse::<u32>().is_ok());
    let classes: Vec<String> = match known {
        Some(k) => k.to_vec(),
        None if all_ints => {
            let max = rows
                .iter()
                .filter_map(|(_, _, l)| l.parse::<u32>().ok())
                .max()
                .unwrap_or(0);
            (0..=max).map(|i| i.to_string()).collect()
        }
        None => rows
            .iter()
            .map(|(_, _, l)| l.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let mut samples = Vec::with_capacity(rows.len());
    for (line, file, label) in rows {
        let index = classes
            .iter()
            .position(|c| *c == label)
            .ok_or_else(|| bad(line, format!("label `{label}` is not a known class")))?;
        samples.push(Sample {
            id: samples.len() as u64,
            label: index as i32,
            location: Location::File(file),
        });
    }
    Ok((classes, samples))
}
