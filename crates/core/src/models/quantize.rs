//! Quantizing a model into other types, so that quantizations can be A/B'd against each other
//! in one experiment. The work happens in the worker through llama.cpp's own quantizer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::models::gguf::{self, GgufInfo};

/// Types llama.cpp can produce without an importance matrix, best quality first.
pub const QUANT_TYPES: [&str; 16] = [
    "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0",
    "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K",
];

/// Source types that are not quantized: converting from them loses nothing twice.
const UNQUANTIZED: [&str; 3] = ["F32", "F16", "BF16"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizeRequest {
    pub source: PathBuf,
    pub destination: PathBuf,
    /// `general.file_type` of the result (see [`QUANT_TYPES`]).
    pub file_type: u64,
    /// The source is itself quantized; the user accepted the compounded loss.
    pub allow_requantize: bool,
    pub threads: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizeReport {
    pub destination: PathBuf,
    pub bytes: u64,
    pub duration_ms: f64,
    /// llama.cpp's notes, e.g. that some tensors could not take the type and fell back to another.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantizeError {
    #[error("`{name}` is not a type Tradeoff can quantize to; use one of {}", QUANT_TYPES.join(", "))]
    UnknownType { name: String },
    #[error(
        "{path} is already quantized ({from}); quantizing it again to {to} compounds the loss of both. \
         Quantize from an F16/BF16/F32 file, or pass --allow-requantize to do it anyway (the result is labelled requantized)"
    )]
    AlreadyQuantized { path: String, from: String, to: String },
}

/// A quantization to make: its type and whether it requantizes an already quantized source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizePlan {
    pub type_name: String,
    pub file_type: u64,
    pub requantize: bool,
    pub destination: PathBuf,
}

/// Checks a requested type against the source and names the output file:
/// `<source stem>-<type>.gguf`, or `<source stem>-requant-<type>.gguf` when the source was
/// quantized already, in `out_dir`.
pub fn plan(
    source: &Path,
    info: &GgufInfo,
    type_name: &str,
    allow_requantize: bool,
    out_dir: &Path,
) -> Result<QuantizePlan, QuantizeError> {
    let canonical = QUANT_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(type_name.trim()))
        .ok_or_else(|| QuantizeError::UnknownType {
            name: type_name.to_string(),
        })?;
    let file_type = gguf::file_type_by_name(canonical).ok_or_else(|| QuantizeError::UnknownType {
        name: type_name.to_string(),
    })?;
    let source_type = info.file_type().map(gguf::file_type_name);
    let requantize = source_type.as_deref().is_some_and(|t| !UNQUANTIZED.contains(&t));
    if requantize && !allow_requantize {
        return Err(QuantizeError::AlreadyQuantized {
            path: source.display().to_string(),
            from: source_type.unwrap_or_default(),
            to: (*canonical).to_string(),
        });
    }
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let name = if requantize {
        format!("{stem}-requant-{}.gguf", canonical.to_lowercase())
    } else {
        format!("{stem}-{}.gguf", canonical.to_lowercase())
    };
    Ok(QuantizePlan {
        type_name: (*canonical).to_string(),
        file_type,
        requantize,
        destination: out_dir.join(name),
    })
}

/// Progress of `tradeoff quantize --events`, one JSON object per line (what the app reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum QuantizeEvent {
    Progress {
        type_name: String,
        done: u32,
        total: u32,
    },
    Quantized {
        type_name: String,
        path: PathBuf,
        bytes: u64,
        duration_ms: f64,
        requantized: bool,
        warnings: Vec<String>,
    },
    Failed {
        type_name: Option<String>,
        message: String,
    },
}
