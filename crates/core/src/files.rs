//! Opening and reading paths the user names. Only regular files are read: `/dev/zero` never
//! ends, a FIFO blocks `open()` until some writer appears, a directory cannot be read. Every
//! reader of such a path in this crate (model files, experiment files, the price overrides)
//! opens it here, so none of them can hang on such a path; text files are read within a size
//! limit as well, so none of them can fill memory.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use crate::format::thousands;

/// A path that names something other than a regular file (after following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a regular file but {kind}")]
pub struct NotRegularFile {
    /// `a directory`, `a FIFO (named pipe)`, `a character device`, …
    pub kind: &'static str,
}

/// Why a path could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Io(io::Error),
    #[error(transparent)]
    NotRegular(NotRegularFile),
}

/// Why a text file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Io(io::Error),
    #[error(
        "{}it is over {} MiB, the limit for {what}",
        size.map(|s| format!("{} bytes: ", thousands(s))).unwrap_or_default(),
        limit >> 20
    )]
    TooLarge {
        /// The size the file had when it was opened; `None` when it grew past the limit while
        /// it was read.
        size: Option<u64>,
        limit: u64,
        /// `an experiment file`, `a price file`.
        what: &'static str,
    },
}

impl ReadError {
    /// Whether the path does not exist (a caller may treat that as "no file").
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Open(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// Reads the regular file at `path` as UTF-8 text of at most `limit` bytes (a whole number of
/// MiB, as errors say it in MiB). `what` names the kind of file in the error.
pub fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, ReadError> {
    let (file, metadata) = open_regular(path)?;
    let too_large = |size| ReadError::TooLarge { size, limit, what };
    if metadata.len() > limit {
        return Err(too_large(Some(metadata.len())));
    }
    // A file can grow after its size was read: one byte past the limit is enough to know.
    let mut text = String::new();
    file.take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(ReadError::Io)?;
    if text.len() as u64 > limit {
        return Err(too_large(None));
    }
    Ok(text)
}

/// The one place a user-named path is opened. The path is checked before `open()` (a FIFO
/// would block in it), opened without blocking in case it was swapped for a FIFO since, and the
/// opened file is checked again: that check is the one that counts, since it describes what
/// was actually opened. Symlinks are followed both times, so a link to `/dev/zero` is refused.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), OpenError> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Three files no reader may hang on or read whole, in `dir`: a FIFO, a link to /dev/zero,
    /// and a regular file one byte over `limit`; named `fifo.EXT`, `zero.EXT`, `large.EXT`.
    pub(crate) fn hostile_files(dir: &Path, extension: &str, limit: u64) -> [std::path::PathBuf; 3] {
        let fifo = dir.join(format!("fifo.{extension}"));
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let zero = dir.join(format!("zero.{extension}"));
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let large = dir.join(format!("large.{extension}"));
        std::fs::write(&large, " ".repeat(limit as usize + 1)).unwrap();
        [fifo, zero, large]
    }

    /// `f`'s answer, which must come within `seconds`: a reader stuck on a FIFO never answers.
    pub(crate) fn within_seconds<T: Send + 'static>(
        seconds: u64,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(f());
        });
        receiver
            .recv_timeout(std::time::Duration::from_secs(seconds))
            .unwrap_or_else(|_| panic!("no answer within {seconds} s"))
    }

    #[test]
    fn text_is_read_whole_within_its_limit_and_refused_past_it_with_the_size_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(read_text(&path, MIB, "an experiment file").unwrap(), "a: 1\n");
        std::fs::write(&path, vec![b'a'; MIB as usize + 1]).unwrap();
        let error = read_text(&path, MIB, "an experiment file").unwrap_err();
        assert_eq!(
            error.to_string(),
            "1,048,577 bytes: it is over 1 MiB, the limit for an experiment file"
        );
        let missing = read_text(&dir.path().join("none"), MIB, "a price file").unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }
}
