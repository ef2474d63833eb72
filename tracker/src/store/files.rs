//! Files written atomically beside their final place, with the permissions a plain
//! `File::create` would give them.

use std::path::Path;

use tempfile::NamedTempFile;

/// How much of the final name a temporary file's name repeats.
const NAME_BYTES: usize = 32;

/// A new, hidden temporary file `.<name>.<random>.tmp` in `dir`, for an atomic write: write it,
/// sync it, then [`NamedTempFile::persist`] it over the final file `name`. Only the first 32
/// bytes of `name` are used, so a final name near the file system's limit still gets one.
///
/// On Unix the file is created with mode `0o666` less the process umask (`0o644` under the
/// usual umask `022`), as [`std::fs::File::create`] would, not with tempfile's owner-only
/// `0o600` that the rename would otherwise carry over to the final file. Exports and stored
/// artifacts are written through it.
///
/// # Errors
/// The file cannot be created in `dir`.
pub fn temp_file_in(dir: &Path, name: &str) -> std::io::Result<NamedTempFile> {
    let mut end = name.len().min(NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = format!(".{}.", &name[..end]);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_persisted_temp_file_has_the_mode_file_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let reference = dir.path().join("reference");
        std::fs::File::create(&reference).expect("create");
        let target = dir.path().join("target");
        let file = temp_file_in(dir.path(), "target").expect("temp file");
        let name = file.path().file_name().expect("name").to_string_lossy();
        assert!(
            name.starts_with(".target.") && name.ends_with(".tmp"),
            "{name}"
        );
        file.persist(&target).expect("persist");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&target), mode(&reference));
    }

    #[test]
    fn a_final_name_of_255_bytes_gets_a_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["a".repeat(255), "é".repeat(127)] {
            let file = temp_file_in(dir.path(), &name).expect("temp file");
            let target = dir.path().join(&name);
            file.persist(&target).expect("persist");
            assert!(target.is_file());
        }
    }
}
