//! The GGUF reader (`gguf::read`, the summary, the memory estimate and the hash) on arbitrary
//! bytes and on small valid headers whose counts, lengths, types and sizes lie.

use std::io::Write;

use proptest::prelude::*;
use tradeoff_core::models::gguf::{self, GgufError};
use tradeoff_core::models::memory;
use tradeoff_core::spec::target::{KvType, LocalSettings};

use super::driver::fuzz;

/// Values that break size arithmetic.
fn boundary_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0,
            1,
            2,
            3,
            24,
            255,
            256,
            4096,
            u64::from(u32::MAX),
            1 << 32,
            1 << 40,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX / 8,
            u64::MAX - 1,
            u64::MAX,
        ]),
        1 => any::<u64>(),
        1 => 0u64..100_000,
    ]
}

#[derive(Debug, Clone)]
enum Field {
    U32(u32),
    U64(u64),
    /// A string whose length field says `claimed` and whose bytes are `text`.
    Str {
        claimed: Option<u64>,
        text: String,
    },
    Raw(Vec<u8>),
}

/// A header as a list of fields, some of which lie.
fn header_fields() -> impl Strategy<Value = Vec<Field>> {
    let arch = prop::sample::select(vec!["llama", "gemma3", "gemma2", "cohere2", "qwen2"]);
    let key_suffix = prop::sample::select(vec![
        "block_count",
        "embedding_length",
        "feed_forward_length",
        "attention.head_count",
        "attention.head_count_kv",
        "attention.key_length",
        "attention.value_length",
        "attention.sliding_window",
        "context_length",
    ]);
    let entry = (
        arch.clone(),
        key_suffix,
        prop::sample::select(vec![4u32, 5, 10, 11, 6, 8]),
        prop_oneof![3 => 0u64..5000, 1 => boundary_u64()],
    )
        .prop_map(|(arch, suffix, value_type, value)| {
            let mut fields = vec![
                Field::Str {
                    claimed: None,
                    text: format!("{arch}.{suffix}"),
                },
                Field::U32(value_type),
            ];
            fields.push(match value_type {
                4..=6 => Field::U32(value as u32),
                8 => Field::Str {
                    claimed: Some(value),
                    text: "x".repeat((value % 64) as usize),
                },
                _ => Field::U64(value),
            });
            fields
        });
    let array = (
        prop::sample::select(vec![0u32, 4, 8, 9, 10, 13, u32::MAX]),
        prop::option::weighted(0.3, boundary_u64()),
        0usize..6,
    )
        .prop_map(|(element_type, claimed, actual)| {
            // Honest unless `claimed`: a string array of `actual` entries.
            let (element_type, claimed) = match claimed {
                Some(claimed) => (element_type, claimed),
                None => (8, actual as u64),
            };
            let mut fields = vec![
                Field::Str {
                    claimed: None,
                    text: "tokenizer.ggml.tokens".into(),
                },
                Field::U32(9),
                Field::U32(element_type),
                Field::U64(claimed),
            ];
            for index in 0..actual {
                fields.push(Field::Str {
                    claimed: None,
                    text: format!("t{index}"),
                });
            }
            fields
        });
    let tensor = (
        prop::sample::select(vec![
            "token_embd.weight",
            "output.weight",
            "blk.0.attn_q.weight",
            "",
        ]),
        prop_oneof![
            // Mostly honest: a small F32 tensor at the start of the data.
            3 => prop::collection::vec(1u64..4, 0..3).prop_map(|dims| (dims.len() as u32, dims, 0u32, 0u64)),
            1 => (
                0u32..10,
                prop::collection::vec(boundary_u64(), 0..5),
                prop::sample::select(vec![0u32, 1, 2, 8, 12, 14, 30, 31, 39, 1000]),
                boundary_u64(),
            ),
        ],
    )
        .prop_map(|(name, (n_dims, dims, ggml_type, offset))| {
            let mut fields = vec![
                Field::Str {
                    claimed: None,
                    text: name.into(),
                },
                Field::U32(n_dims),
            ];
            fields.extend(dims.into_iter().map(Field::U64));
            fields.push(Field::U32(ggml_type));
            fields.push(Field::U64(offset));
            fields
        });
    (
        prop_oneof![4 => Just(3u32), 1 => Just(2), 1 => prop::sample::select(vec![0u32, 1, 4, u32::MAX])],
        prop::sample::select(vec!["llama", "gemma3", ""]),
        prop::collection::vec(prop_oneof![3 => entry, 1 => array], 0..6),
        prop::collection::vec(tensor, 0..3),
        prop::option::weighted(0.15, boundary_u64()),
        prop::option::weighted(0.15, boundary_u64()),
        0usize..256,
    )
        .prop_map(
            |(version, arch, entries, tensors, kv_count, tensor_count, data)| {
                let mut fields = vec![Field::Raw(b"GGUF".to_vec()), Field::U32(version)];
                fields.push(Field::U64(tensor_count.unwrap_or(tensors.len() as u64)));
                fields.push(Field::U64(kv_count.unwrap_or(entries.len() as u64 + 1)));
                fields.push(Field::Str {
                    claimed: None,
                    text: "general.architecture".into(),
                });
                fields.push(Field::U32(8));
                fields.push(Field::Str {
                    claimed: None,
                    text: arch.into(),
                });
                fields.extend(entries.into_iter().flatten());
                fields.extend(tensors.into_iter().flatten());
                fields.push(Field::Raw(vec![0; data]));
                fields
            },
        )
}

fn encode(fields: &[Field]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for field in fields {
        match field {
            Field::U32(v) => bytes.extend(v.to_le_bytes()),
            Field::U64(v) => bytes.extend(v.to_le_bytes()),
            Field::Str { claimed, text } => {
                bytes.extend(claimed.unwrap_or(text.len() as u64).to_le_bytes());
                bytes.extend(text.as_bytes());
            }
            Field::Raw(raw) => bytes.extend(raw),
        }
    }
    bytes
}

#[derive(Debug, Clone)]
struct Case {
    bytes: Vec<u8>,
    /// Byte edits: (position as a fraction of the length, new byte); then a cut.
    flips: Vec<(u16, u8)>,
    cut: Option<u16>,
    /// Extra zero bytes after the end, as a sparse file: a header may claim sizes a larger file
    /// holds.
    sparse_tail: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    let bytes = prop_oneof![
        3 => header_fields().prop_map(|f| encode(&f)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(|tail| [b"GGUF\x03\0\0\0".to_vec(), tail].concat()),
    ];
    (
        bytes,
        prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec((any::<u16>(), any::<u8>()), 1..4)],
        prop::option::weighted(0.2, any::<u16>()),
        prop_oneof![4 => Just(0u64), 1 => 0u64..(8 << 20)],
    )
        .prop_map(|(bytes, flips, cut, sparse_tail)| Case {
            bytes,
            flips,
            cut,
            sparse_tail,
        })
}

fn at(fraction: u16, len: usize) -> usize {
    usize::from(fraction) * len / (usize::from(u16::MAX) + 1)
}

fn check(case: &Case) -> Result<&'static str, String> {
    let mut bytes = case.bytes.clone();
    for (position, byte) in &case.flips {
        if !bytes.is_empty() {
            let i = at(*position, bytes.len());
            bytes[i] = *byte;
        }
    }
    if let Some(cut) = case.cut {
        bytes.truncate(at(cut, bytes.len() + 1));
    }
    let mut file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    file.write_all(&bytes).map_err(|e| e.to_string())?;
    let size = bytes.len() as u64 + case.sparse_tail;
    file.as_file().set_len(size).map_err(|e| e.to_string())?;

    let hash = gguf::sha256_file(file.path()).map_err(|e| format!("hashing a regular file failed: {e}"))?;
    if hash.len() != 64 {
        return Err(format!("a sha256 of {} characters", hash.len()));
    }
    let info = match gguf::read(file.path()) {
        Ok(info) => info,
        Err(GgufError::NotAFile { .. } | GgufError::NotFound { .. }) => {
            return Err("a regular file was refused as not a file".into());
        }
        Err(error) => {
            let message = error.to_string();
            if !message.starts_with(&file.path().display().to_string()) {
                return Err(format!("the error does not name the file: {message}"));
            }
            return Ok("refused");
        }
    };
    // What was read came from the file: counts and strings are bounded by its size.
    if info.file_size != size {
        return Err(format!("file size {} instead of {size}", info.file_size));
    }
    if info.tensor_count.saturating_mul(24) > size {
        return Err(format!(
            "{} tensors accepted from {size} bytes",
            info.tensor_count
        ));
    }
    let strings: usize = info
        .metadata
        .iter()
        .map(|(key, value)| {
            key.len()
                + if let gguf::MetaValue::String(s) = value {
                    s.len()
                } else {
                    0
                }
        })
        .sum();
    if strings as u64 > size {
        return Err(format!(
            "{strings} bytes of keys and strings from a {size}-byte file"
        ));
    }
    let summary = info.summary();
    if let Some(layers) = summary.layers
        && layers > size / 24
    {
        return Err(format!("block_count {layers} accepted from {size} bytes"));
    }
    if let Some(embedding) = summary.embedding_length
        && embedding > size
    {
        return Err(format!("embedding_length {embedding} accepted from {size} bytes"));
    }
    serde_json::to_string(&summary).map_err(|e| e.to_string())?;
    for (n_ctx, parallel, prefix_cache) in [(1, 1, false), (u32::MAX, u32::MAX, false), (4096, 4, true)] {
        for kv_type in KvType::ALL {
            let settings = LocalSettings {
                n_ctx,
                threads: 1,
                batch: u32::MAX,
                kv_type,
                n_gpu_layers: 0,
                parallel,
                prefix_cache,
            };
            let estimate = memory::estimate(&info, &settings);
            if let Ok(tried) = memory::try_estimate(&info, &settings)
                && tried != estimate
            {
                return Err(format!(
                    "estimate {estimate:?} differs from try_estimate {tried:?}"
                ));
            }
            if estimate.total_bytes() < estimate.weights_bytes {
                return Err(format!("a total below the weights: {estimate:?}"));
            }
        }
    }
    Ok("read")
}

#[test]
fn the_gguf_reader_survives_arbitrary_and_lying_headers() {
    fuzz("gguf", cases(), &[], check);
}
