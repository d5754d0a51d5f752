//! Opening a model path the user gave. Only regular files are models: `/dev/zero` never ends, a
//! FIFO blocks `open()` until some writer appears, a directory cannot be read. Every reader of
//! a model path in this crate opens it here, so none of them can hang on such a path.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::GgufError;

/// A path that names something other than a regular file (after following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a regular file but {kind}; a model is a .gguf file")]
pub struct NotRegularFile {
    /// `a directory`, `a FIFO (named pipe)`, `a character device`, …
    pub kind: &'static str,
}

enum OpenError {
    Io(io::Error),
    NotRegular(NotRegularFile),
}

/// Opens a model file for reading, with its size as the opened file reports it.
pub fn open_model(path: &Path) -> Result<(File, u64), GgufError> {
    open_regular(path)
        .map(|(file, metadata)| (file, metadata.len()))
        .map_err(|error| match error {
            OpenError::NotRegular(reason) => GgufError::NotAFile {
                path: path.to_path_buf(),
                reason,
            },
            OpenError::Io(source) if source.kind() == io::ErrorKind::NotFound => GgufError::NotFound {
                path: path.to_path_buf(),
            },
            OpenError::Io(source) => GgufError::Io {
                path: path.to_path_buf(),
                source,
            },
        })
}

/// sha256 of a model file, hex-encoded. It reads the size the file had when it was opened and
/// no more, so a file that keeps growing still ends. A path that is not a regular file is an
/// `InvalidInput` error carrying a [`NotRegularFile`].
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let (file, metadata) = open_regular(path).map_err(|error| match error {
        OpenError::Io(error) => error,
        OpenError::NotRegular(reason) => io::Error::new(io::ErrorKind::InvalidInput, reason),
    })?;
    let size = metadata.len();
    let mut limited = file.take(size);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut hashed: u64 = 0;
    loop {
        let n = limited.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        hashed = hashed.saturating_add(n as u64);
    }
    if hashed != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file shrank from {size} to {hashed} bytes while it was hashed"),
        ));
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The one place a model path is opened. The path is checked before `open()` (a FIFO would
/// block in it), opened without blocking in case it was swapped for a FIFO since, and the
/// opened file is checked again: that check is the one that counts, since it describes what
/// was actually opened. Symlinks are followed both times, so a link to `/dev/zero` is refused.
fn open_regular(path: &Path) -> Result<(File, Metadata), OpenError> {
    let metadata = std::fs::metadata(path).map_err(OpenError::Io)?;
    regular(&metadata)?;
    let file = open_nonblocking(path).map_err(OpenError::Io)?;
    let metadata = file.metadata().map_err(OpenError::Io)?;
    regular(&metadata)?;
    Ok((file, metadata))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK changes nothing for reads of a regular file; for a FIFO it makes open() return
    // at once. O_NOCTTY keeps a terminal device from becoming this process's terminal.
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

fn regular(metadata: &Metadata) -> Result<(), OpenError> {
    if metadata.is_file() {
        return Ok(());
    }
    Err(OpenError::NotRegular(NotRegularFile {
        kind: kind_of(metadata),
    }))
}

fn kind_of(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}
