//! Reading an image file with its kind and size checked before a byte is read.

use std::io::Read;
use std::path::Path;

use super::decoded::{DecodeError, SkipReason};

/// Reads an image file with its size and kind checked first: the path must be a regular file
/// once symlinks are followed (a FIFO, device or directory is [`SkipReason::NotAFile`] and is
/// never opened, so neither a FIFO nor `/dev/zero` can hang or exhaust memory) of at most
/// `max_bytes` ([`SkipReason::FileTooLarge`], checked from the metadata, then enforced while
/// reading, so a file that grows is still bounded). A symlink loop or a missing file is
/// [`SkipReason::Unreadable`].
pub fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, DecodeError> {
    let unreadable = |e: std::io::Error| DecodeError::new(SkipReason::Unreadable, e.to_string());
    let check = |meta: &std::fs::Metadata| -> Result<u64, DecodeError> {
        if !meta.is_file() {
            return Err(DecodeError::new(
                SkipReason::NotAFile,
                format!("not a regular file ({})", file_kind(meta)),
            ));
        }
        if meta.len() > max_bytes {
            return Err(too_big(meta.len(), max_bytes));
        }
        Ok(meta.len())
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer appears.
    check(&std::fs::metadata(path).map_err(unreadable)?)?;
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // And again on the opened file, in case the path was replaced in between.
    let len = check(&file.metadata().map_err(unreadable)?)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big(bytes.len() as u64, max_bytes));
    }
    Ok(bytes)
}

fn too_big(len: u64, max_bytes: u64) -> DecodeError {
    DecodeError::new(
        SkipReason::FileTooLarge,
        format!(
            "{len} bytes, over the limit of {max_bytes} bytes (data.max_file_mb = {})",
            max_bytes >> 20
        ),
    )
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}
