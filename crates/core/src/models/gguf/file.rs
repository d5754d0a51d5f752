//! Opening a model path the user gave, through the one opener of user-named paths
//! ([`crate::files::open_regular`]: regular files only). Every reader of a model path in this
//! crate opens it here, so none of them can hang on `/dev/zero` or a FIFO.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::GgufError;
use crate::files::{OpenError, open_regular};

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
/// `InvalidInput` error carrying a [`NotRegularFile`](crate::files::NotRegularFile).
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
