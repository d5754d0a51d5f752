//! Reading a child process's output within fixed bounds. A `tradeoff` child is ours, but what it
//! prints is not under our control (llama.cpp logs, a model's output in events, a crash dump),
//! so the app never holds more of it than it can use: stderr keeps a tail of fixed size, stdout
//! is read line by line with a longest line, a whole-output read has a ceiling. Every stream is
//! still read to its end, so a child never blocks on a full pipe while the app waits for it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::thread::JoinHandle;

/// How much of a child's stderr is kept for an error's details: its end, where the reason is.
pub const STDERR_TAIL_BYTES: usize = 16 * 1024;

/// The longest event line the app reads from a child's stdout. An event carries one run's
/// output, which `max_tokens` bounds far below this; a longer line is not a valid event.
pub const MAX_EVENT_LINE_BYTES: usize = 8 * 1024 * 1024;

/// The last `capacity` bytes of everything written into it: a ring, so memory stays fixed
/// however much passes through.
#[derive(Debug)]
pub struct Tail {
    bytes: VecDeque<u8>,
    capacity: usize,
    dropped: u64,
}

impl Tail {
    pub fn new(capacity: usize) -> Self {
        Tail {
            bytes: VecDeque::with_capacity(capacity.min(64 * 1024)),
            capacity,
            dropped: 0,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        // Only the end of a chunk larger than the ring can survive; skip the rest unseen.
        let keep = chunk.len().min(self.capacity);
        self.dropped += (chunk.len() - keep) as u64;
        let chunk = &chunk[chunk.len() - keep..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.dropped += overflow as u64;
        self.bytes.extend(chunk);
    }

    /// The kept bytes as text. When the start was cut, the text starts at the next line (or
    /// character) boundary and says how much came before.
    pub fn text(&self) -> String {
        let (front, back) = self.bytes.as_slices();
        let mut bytes = Vec::with_capacity(self.bytes.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(back);
        if self.dropped == 0 {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        // A cut inside a line (or a UTF-8 sequence) would start with a fragment: begin at the
        // next line when there is one close by, else at the next character.
        let start = bytes
            .iter()
            .take(1024)
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or_else(|| {
                bytes
                    .iter()
                    .position(|&b| (b as i8) >= -0x40)
                    .unwrap_or(bytes.len())
            });
        let skipped = self.dropped + start as u64;
        format!(
            "[… {skipped} earlier bytes not kept]\n{}",
            String::from_utf8_lossy(&bytes[start..])
        )
    }
}

/// Reads `reader` to its end on a thread of its own, keeping the last `capacity` bytes.
pub fn spawn_tail<R: Read + Send + 'static>(reader: Option<R>, capacity: usize) -> JoinHandle<String> {
    std::thread::spawn(move || match reader {
        Some(reader) => read_tail(reader, capacity),
        None => String::new(),
    })
}

pub fn read_tail(mut reader: impl Read, capacity: usize) -> String {
    let mut tail = Tail::new(capacity);
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => tail.push(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    tail.text()
}

/// Reads `reader` to its end on a thread of its own, keeping at most `limit` bytes; the flag
/// says whether more came (and was read and dropped).
pub fn spawn_limited<R: Read + Send + 'static>(
    reader: Option<R>,
    limit: usize,
) -> JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || match reader {
        Some(reader) => read_limited(reader, limit),
        None => (Vec::new(), false),
    })
}

pub fn read_limited(mut reader: impl Read, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut more = false;
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
                more |= n > room;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    (kept, more)
}

/// One line of a child's stdout.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line without its end (`\n` or `\r\n`); invalid UTF-8 replaced, not fatal.
    Text(String),
    /// A line longer than the limit, read to its end and dropped; its length in bytes.
    TooLong(u64),
}

/// The lines of a stream, none kept longer than `max` bytes. Unlike `BufRead::lines`, a line
/// that is not UTF-8 or is too long does not end the reading: the stream is always drained.
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: BufReader<R>,
    max: usize,
}

impl<R: Read> BoundedLines<R> {
    pub fn new(reader: R, max: usize) -> Self {
        BoundedLines {
            reader: BufReader::new(reader),
            max,
        }
    }
}

impl<R: Read> Iterator for BoundedLines<R> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        let mut line = Vec::new();
        let mut length: u64 = 0;
        let mut ended = false;
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // A broken pipe reads as the end of the stream.
                Err(_) => &[],
            };
            if buffer.is_empty() {
                break;
            }
            let (part, used) = match buffer.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    ended = true;
                    (&buffer[..i], i + 1)
                }
                None => (buffer, buffer.len()),
            };
            length += part.len() as u64;
            if length <= self.max as u64 {
                line.extend_from_slice(part);
            }
            self.reader.consume(used);
            if ended {
                break;
            }
        }
        if !ended && length == 0 {
            return None;
        }
        if length > self.max as u64 {
            return Some(Line::TooLong(length));
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(Line::Text(String::from_utf8_lossy(&line).into_owned()))
    }
}

/// A stand-in `tradeoff` for tests: a shell script at `dir/tradeoff` running `script`.
#[cfg(test)]
pub(crate) fn fake_tradeoff(dir: &std::path::Path, script: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("tradeoff");
    std::fs::write(
        &path,
        format!("#!/bin/sh\n[ \"$1\" = warm-up ] && exit 0\n{script}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another test thread forking while the script was open for writing holds it open until it
    // execs ("text file busy"); once one start succeeds, none does.
    for _ in 0..100 {
        match std::process::Command::new(&path).arg("warm-up").output() {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => break,
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_keeps_only_the_last_bytes_of_a_stream_far_larger_than_itself() {
        // 10 MiB of noise and then the reason: the ring stays at its size and keeps the reason.
        let mut stream = vec![b'x'; 10 * 1024 * 1024];
        stream.extend_from_slice(b"\nGGML_ASSERT failed: the real reason\n");
        let text = read_tail(stream.as_slice(), 1024);
        assert!(text.len() < 1100, "{} bytes kept", text.len());
        assert!(text.ends_with("GGML_ASSERT failed: the real reason\n"), "{text}");
        assert!(text.starts_with("[… "), "a cut tail says so: {text}");

        let mut tail = Tail::new(8);
        for chunk in [&b"abc"[..], b"defgh", b"ij"] {
            tail.push(chunk);
        }
        assert_eq!(tail.bytes.len(), 8);
        assert_eq!(tail.dropped, 2);
    }

    #[test]
    fn a_tail_that_was_not_cut_is_returned_whole_and_a_cut_one_starts_on_a_character() {
        assert_eq!(read_tail(&b"short\nerror"[..], 1024), "short\nerror");
        // "é" is two bytes; a cut between them must not leave a replacement character.
        let text = read_tail("ééééé".as_bytes(), 5);
        assert!(!text.contains('\u{fffd}'), "{text}");
        assert!(text.ends_with("éé"), "{text}");
    }

    #[test]
    fn a_limited_read_keeps_the_limit_and_still_drains_the_stream() {
        let stream = vec![b'{'; 100_000];
        let mut reader = stream.as_slice();
        let (kept, more) = read_limited(&mut reader, 1000);
        assert_eq!(kept.len(), 1000);
        assert!(more);
        assert!(reader.is_empty(), "everything was read");
        assert_eq!(read_limited(&b"{}"[..], 1000), (b"{}".to_vec(), false));
    }

    #[test]
    fn lines_longer_than_the_limit_are_dropped_without_being_held_and_reading_goes_on() {
        let mut stream = b"first\r\n".to_vec();
        stream.extend(std::iter::repeat_n(b'a', 100_000));
        stream.extend_from_slice(b"\n\xff\xfe not utf-8\nlast");
        let lines: Vec<Line> = BoundedLines::new(stream.as_slice(), 1000).collect();
        assert_eq!(
            lines,
            vec![
                Line::Text("first".into()),
                Line::TooLong(100_000),
                Line::Text("\u{fffd}\u{fffd} not utf-8".into()),
                Line::Text("last".into()),
            ]
        );
        assert_eq!(BoundedLines::new(&b""[..], 10).count(), 0);
        assert_eq!(
            BoundedLines::new(&b"\n\n"[..], 10).collect::<Vec<_>>(),
            vec![Line::Text(String::new()), Line::Text(String::new())]
        );
    }
}
