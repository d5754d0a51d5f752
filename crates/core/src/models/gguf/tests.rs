use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use super::*;

/// A tiny but complete GGUF v3 file: two metadata entries and one F32 tensor of 8 values.
fn tiny_gguf() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(b"GGUF");
    b.extend(3u32.to_le_bytes());
    b.extend(1u64.to_le_bytes()); // tensors
    b.extend(3u64.to_le_bytes()); // metadata entries
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    string(&mut b, "general.architecture");
    b.extend(8u32.to_le_bytes());
    string(&mut b, "tiny");
    string(&mut b, "tiny.context_length");
    b.extend(4u32.to_le_bytes());
    b.extend(4096u32.to_le_bytes());
    string(&mut b, "tokenizer.ggml.tokens");
    b.extend(9u32.to_le_bytes());
    b.extend(8u32.to_le_bytes());
    b.extend(2u64.to_le_bytes());
    string(&mut b, "a");
    string(&mut b, "bc");
    string(&mut b, "weight");
    b.extend(2u32.to_le_bytes());
    b.extend(4u64.to_le_bytes());
    b.extend(2u64.to_le_bytes());
    b.extend(0u32.to_le_bytes()); // F32
    b.extend(0u64.to_le_bytes());
    while b.len() % 32 != 0 {
        b.push(0);
    }
    b.extend([0u8; 32]); // 8 × f32
    b
}

/// A header of `entries` (key, value type, value bytes) and no tensors.
fn header(entries: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(b"GGUF");
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((entries.len() as u64).to_le_bytes());
    for (key, value_type, value) in entries {
        b.extend((key.len() as u64).to_le_bytes());
        b.extend(key.as_bytes());
        b.extend(value_type.to_le_bytes());
        b.extend(value);
    }
    b
}

fn string_value(s: &str) -> Vec<u8> {
    let mut b = (s.len() as u64).to_le_bytes().to_vec();
    b.extend(s.as_bytes());
    b
}

/// Runs `f` on a thread of its own, so that a hang fails the test instead of stalling it.
fn within_seconds<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver
        .recv_timeout(Duration::from_secs(seconds))
        .unwrap_or_else(|_| panic!("no answer within {seconds} s"))
}

fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

#[test]
fn a_complete_file_yields_its_metadata() {
    let file = write(&tiny_gguf());
    let info = read(file.path()).unwrap();
    let summary = info.summary();
    assert_eq!(summary.architecture.as_deref(), Some("tiny"));
    assert_eq!(summary.trained_context, Some(4096));
    assert_eq!(summary.parameters, 8);
    assert!(!summary.has_chat_template);
    assert_eq!(
        info.metadata.get("tokenizer.ggml.tokens"),
        Some(&MetaValue::Array {
            element_type: "string".into(),
            len: 2
        })
    );
}

#[test]
fn a_file_that_is_not_gguf_says_so() {
    let file = write(b"PK\x03\x04 this is a zip");
    let error = read(file.path()).unwrap_err();
    assert!(matches!(error, GgufError::NotGguf { .. }));
    assert!(error.to_string().contains("not a GGUF model file"), "{error}");
}

#[test]
fn truncation_anywhere_is_reported_as_truncation() {
    let full = tiny_gguf();
    for cut in [6, 20, 40, 90, full.len() - 32, full.len() - 1] {
        let file = write(&full[..cut]);
        let error = read(file.path()).unwrap_err();
        assert!(error.to_string().contains("truncated"), "cut at {cut}: {error}");
    }
}

#[test]
fn an_absurd_count_in_a_corrupt_header_is_refused_without_allocating() {
    let mut bytes = tiny_gguf();
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    let error = read(write(&bytes).path()).unwrap_err();
    assert!(error.to_string().contains("more than its"), "{error}");
}

#[test]
fn a_missing_file_is_not_found() {
    assert!(matches!(
        read(Path::new("/nonexistent/m.gguf")),
        Err(GgufError::NotFound { .. })
    ));
}

#[test]
fn sha256_matches_a_known_digest() {
    let file = write(b"abc");
    assert_eq!(
        sha256_file(file.path()).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn dev_zero_is_refused_as_a_character_device_instead_of_hashed_forever() {
    let (hash, read) = within_seconds(10, || {
        (sha256_file(Path::new("/dev/zero")), read(Path::new("/dev/zero")))
    });
    let error = hash.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        error
            .to_string()
            .contains("not a regular file but a character device"),
        "{error}"
    );
    assert!(matches!(read, Err(GgufError::NotAFile { .. })), "{read:?}");
}

#[test]
fn a_symlink_to_dev_zero_is_refused_like_dev_zero() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("model.gguf");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let shown = link.clone();
    let (hash, read) = within_seconds(10, move || (sha256_file(&link), read(&link)));
    assert!(hash.is_err());
    let error = read.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: not a regular file but a character device; a model is a .gguf file",
            shown.display()
        )
    );
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.gguf");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let path = fifo.clone();
    let answers = std::thread::spawn(move || {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send((
                open_model(&path).err(),
                sha256_file(&path).err(),
                read(&path).err(),
            ));
        });
        receiver.recv_timeout(Duration::from_secs(10))
    })
    .join()
    .unwrap();
    // Without the fix a reader is stuck in open(): a writer that comes and goes releases it.
    if answers.is_err() {
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    }
    let (open, hash, read) = answers.expect("opening a FIFO returned within 10 s");
    for error in [
        open.map(|e| e.to_string()),
        hash.map(|e| e.to_string()),
        read.map(|e| e.to_string()),
    ] {
        let error = error.expect("a FIFO is refused");
        assert!(
            error.contains("not a regular file but a FIFO (named pipe)"),
            "{error}"
        );
    }
}

#[test]
fn a_directory_is_not_a_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let error = read(dir.path()).unwrap_err();
    assert!(
        error.to_string().contains("not a regular file but a directory"),
        "{error}"
    );
}

#[test]
fn a_block_count_of_u64_max_is_refused_naming_the_key_and_the_file() {
    let file = write(&header(&[
        ("general.architecture", 8, string_value("llama")),
        ("llama.block_count", 10, u64::MAX.to_le_bytes().to_vec()),
    ]));
    let error = read(file.path()).unwrap_err();
    assert!(matches!(error, GgufError::ImplausibleValue { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: corrupt header: `llama.block_count` is 18446744073709551615",
            file.path().display()
        )),
        "{message}"
    );
}

#[test]
fn an_embedding_length_larger_than_the_file_is_refused_naming_the_key() {
    let file = write(&header(&[
        ("general.architecture", 8, string_value("llama")),
        (
            "llama.embedding_length",
            10,
            (u64::MAX / 8).to_le_bytes().to_vec(),
        ),
    ]));
    let message = read(file.path()).unwrap_err().to_string();
    assert!(
        message.contains("`llama.embedding_length` is 2305843009213693951"),
        "{message}"
    );
}

#[test]
fn a_key_longer_than_gguf_allows_is_refused_without_reading_it() {
    let key = "k".repeat(70_000);
    let file = write(&header(&[(&key, 4, 1u32.to_le_bytes().to_vec())]));
    let message = read(file.path()).unwrap_err().to_string();
    assert!(
        message.contains("the length of metadata key #0 is 70000, more than 65535"),
        "{message}"
    );
}

#[test]
fn a_string_value_of_hundreds_of_mib_is_refused_before_it_is_allocated() {
    let bytes = header(&[("general.name", 8, (300u64 << 20).to_le_bytes().to_vec())]);
    let length = bytes.len() as u64 + (300 << 20);
    let file = write(&bytes);
    // Sparse: the test does not write 300 MiB.
    file.as_file().set_len(length).unwrap();
    let message = read(file.path()).unwrap_err().to_string();
    assert!(
        message.contains("the length of the string `general.name` is 314572800"),
        "{message}"
    );
}

#[test]
fn a_tensor_that_ends_beyond_2_to_the_64_is_corrupt_not_a_huge_truncation() {
    let mut bytes = tiny_gguf();
    // The tensor's offset follows its name, dimension count, two dimensions and type.
    let name = bytes.windows(6).position(|w| w == b"weight").unwrap();
    let at = name + 6 + 4 + 16 + 4;
    bytes[at..at + 8].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    let error = read(write(&bytes).path()).unwrap_err();
    assert!(matches!(error, GgufError::Overflow { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("the end of tensor `weight` exceeds 2^64"),
        "{error}"
    );
}

#[test]
fn an_alignment_that_is_not_a_power_of_two_is_malformed() {
    let file = write(&header(&[("general.alignment", 4, 24u32.to_le_bytes().to_vec())]));
    let message = read(file.path()).unwrap_err().to_string();
    assert!(
        message.contains("`general.alignment` is 24, not a power of two"),
        "{message}"
    );
}
