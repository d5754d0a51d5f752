//! Reading GGUF model files without loading weights: metadata for `models inspect`, and the
//! checks that turn a file llama.cpp would reject (not GGUF, truncated) into a clear message
//! before llama.cpp sees it.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md> (little-endian).

mod file;
mod types;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::files::NotRegularFile;
pub use file::{open_model, sha256_file};
pub use types::{file_type_by_name, file_type_name};
use types::{scalar_size, tensor_bytes, type_name};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// The bytes of the smallest tensor entry: an empty name (its u64 length), the dimension count,
/// the type and the offset.
const MIN_TENSOR_ENTRY: u64 = 24;
/// The GGUF specification limits keys to 65,535 bytes.
const MAX_KEY_BYTES: u64 = 65_535;
/// ggml refuses tensor names of 64 bytes or more; this leaves room for a future ggml.
const MAX_TENSOR_NAME_BYTES: u64 = 1024;
/// The longest string value a converter writes is a whole `tokenizer.json`
/// (`tokenizer.huggingface.json`): a few MiB. A longer one is corruption, and it would be
/// allocated whole.
const MAX_STRING_VALUE_BYTES: u64 = 64 << 20;
/// Architecture keys that size tensors and the memory estimate (which multiplies them): no
/// tensor of a file has more elements in one dimension than the file has bytes.
const DIMENSION_KEYS: [&str; 6] = [
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
];

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: model file not found")]
    NotFound { path: PathBuf },
    #[error("{path}: {reason}; a model is a .gguf file")]
    NotAFile { path: PathBuf, reason: NotRegularFile },
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a GGUF model file (it starts with {found:?}, a GGUF file starts with \"GGUF\")")]
    NotGguf { path: PathBuf, found: String },
    #[error("{path}: GGUF version {version} is not supported (versions 2 and 3 are)")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("{path}: truncated: the file ends at byte {size} while reading {what}")]
    TruncatedHeader { path: PathBuf, size: u64, what: String },
    #[error("{path}: truncated: its tensors need {needed} bytes but the file has {size}")]
    TruncatedData { path: PathBuf, needed: u64, size: u64 },
    #[error(
        "{path}: truncated or corrupt: the header announces {count} {what}, more than its {size} bytes can hold"
    )]
    Implausible {
        path: PathBuf,
        count: u64,
        what: String,
        size: u64,
    },
    /// A header value no file of this size can hold, named with the key or tensor it belongs to.
    #[error("{path}: corrupt header: {what} is {value}, more than {limit}: {why}")]
    ImplausibleValue {
        path: PathBuf,
        what: String,
        value: u64,
        limit: u64,
        why: String,
    },
    /// Sizes computed from the header that exceed 64 bits: only a corrupt header says that.
    #[error("{path}: corrupt header: {what} exceeds 2^64")]
    Overflow { path: PathBuf, what: String },
    #[error("{path}: malformed GGUF: {message}")]
    Malformed { path: PathBuf, message: String },
}

/// Metadata values, with arrays summarized (a vocabulary has 262,144 entries).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetaValue {
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
    String(String),
    Array { element_type: String, len: u64 },
}

impl MetaValue {
    fn as_u64(&self) -> Option<u64> {
        match self {
            MetaValue::Uint(v) => Some(*v),
            MetaValue::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub offset: u64,
}

/// What a GGUF header says about a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GgufInfo {
    pub path: PathBuf,
    pub version: u32,
    pub file_size: u64,
    pub metadata: BTreeMap<String, MetaValue>,
    pub tensor_count: u64,
    pub parameter_count: u64,
    pub data_offset: u64,
    /// Bytes of all tensor data.
    pub weight_bytes: u64,
    /// Bytes of weights one generated token reads: everything except the token-embedding table
    /// when the model has a separate output matrix (a lookup reads one row of it). Models with
    /// tied embeddings read the whole table as their output projection.
    pub bytes_read_per_token: u64,
}

/// The facts users compare models by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub path: PathBuf,
    pub name: Option<String>,
    pub architecture: Option<String>,
    pub parameters: u64,
    pub quantization: Option<String>,
    pub trained_context: Option<u64>,
    pub layers: Option<u64>,
    pub embedding_length: Option<u64>,
    pub heads: Option<u64>,
    pub kv_heads: Option<u64>,
    pub has_chat_template: bool,
    pub file_size: u64,
    pub gguf_version: u32,
    pub tensors: u64,
    pub weight_bytes: u64,
    pub bytes_read_per_token: u64,
}

impl GgufInfo {
    pub fn architecture(&self) -> Option<&str> {
        self.metadata
            .get("general.architecture")
            .and_then(MetaValue::as_str)
    }

    pub(crate) fn arch_u64(&self, key: &str) -> Option<u64> {
        let arch = self.architecture()?;
        self.metadata
            .get(&format!("{arch}.{key}"))
            .and_then(MetaValue::as_u64)
    }

    pub fn has_chat_template(&self) -> bool {
        self.metadata.contains_key("tokenizer.chat_template")
    }

    pub fn summary(&self) -> ModelSummary {
        ModelSummary {
            path: self.path.clone(),
            name: self
                .metadata
                .get("general.name")
                .and_then(MetaValue::as_str)
                .map(str::to_string),
            architecture: self.architecture().map(str::to_string),
            parameters: self.parameter_count,
            quantization: self.file_type().map(file_type_name),
            trained_context: self.arch_u64("context_length"),
            layers: self.arch_u64("block_count"),
            embedding_length: self.arch_u64("embedding_length"),
            heads: self.arch_u64("attention.head_count"),
            kv_heads: self.arch_u64("attention.head_count_kv"),
            has_chat_template: self.has_chat_template(),
            file_size: self.file_size,
            gguf_version: self.version,
            tensors: self.tensor_count,
            weight_bytes: self.weight_bytes,
            bytes_read_per_token: self.bytes_read_per_token,
        }
    }
}

/// Reads the header, metadata and tensor table, and checks that the file holds every tensor's data.
/// Every value read from the header is bounded by the file's size before it is used to allocate,
/// loop or compute a size, so a corrupt or hostile header ends in an error, not a hang.
pub fn read(path: &Path) -> Result<GgufInfo, GgufError> {
    let (file, file_size) = open_model(path)?;
    let mut reader = Reader {
        inner: BufReader::with_capacity(1 << 16, file),
        path,
        size: file_size,
        position: 0,
    };

    let mut magic = [0u8; 4];
    let got = reader.read_up_to(&mut magic)?;
    if got < 4 || &magic != MAGIC {
        return Err(GgufError::NotGguf {
            path: path.to_path_buf(),
            found: String::from_utf8_lossy(&magic[..got]).into_owned(),
        });
    }
    let version = reader.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let tensor_count = reader.u64("the tensor count")?;
    let kv_count = reader.u64("the metadata count")?;
    // Each entry needs at least 12 bytes; a larger count can only come from a corrupt header.
    reader.plausible_count(kv_count, 12, "metadata entries")?;
    reader.plausible_count(tensor_count, MIN_TENSOR_ENTRY, "tensors")?;

    let mut metadata = BTreeMap::new();
    for index in 0..kv_count {
        let what = format!("metadata key #{index}");
        let key = reader.string(&what, MAX_KEY_BYTES, "GGUF keys are at most 65,535 bytes")?;
        let value_type = reader.u32(&format!("the type of `{key}`"))?;
        let value = reader.value(value_type, &key)?;
        metadata.insert(key, value);
    }
    check_dimensions(&metadata, path, file_size)?;

    let mut tensors = Vec::with_capacity(usize::try_from(tensor_count.min(1 << 16)).unwrap_or(0));
    for index in 0..tensor_count {
        let name = reader.string(
            &format!("the name of tensor #{index}"),
            MAX_TENSOR_NAME_BYTES,
            "ggml refuses tensor names of 64 bytes or more",
        )?;
        let n_dims = reader.u32(&format!("tensor `{name}`"))?;
        if n_dims > 8 {
            return Err(reader.malformed(format!("tensor `{name}` has {n_dims} dimensions")));
        }
        let mut dims = Vec::with_capacity(8);
        for _ in 0..n_dims {
            dims.push(reader.u64(&format!("tensor `{name}`"))?);
        }
        let ggml_type = reader.u32(&format!("tensor `{name}`"))?;
        let offset = reader.u64(&format!("tensor `{name}`"))?;
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
        });
    }

    // llama.cpp refuses an alignment that is not a power of two; so does the arithmetic below.
    let alignment = match metadata.get("general.alignment").and_then(MetaValue::as_u64) {
        None => DEFAULT_ALIGNMENT,
        Some(a) if a.is_power_of_two() => a,
        Some(a) => return Err(reader.malformed(format!("`general.alignment` is {a}, not a power of two"))),
    };
    let overflow = |what: String| GgufError::Overflow {
        path: path.to_path_buf(),
        what,
    };
    let data_offset = reader
        .position
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| overflow("the start of the tensor data".into()))?;

    let mut parameter_count: u64 = 0;
    let mut weight_bytes: u64 = 0;
    let mut embedding_bytes: u64 = 0;
    let mut needed = data_offset;
    for tensor in &tensors {
        let elements = tensor.dims.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d));
        let Some(elements) = elements else {
            return Err(reader.malformed(format!("tensor `{}` has an impossible shape", tensor.name)));
        };
        parameter_count = parameter_count
            .checked_add(elements)
            .ok_or_else(|| overflow("the parameter count".into()))?;
        if let Some(bytes) = tensor_bytes(tensor.ggml_type, elements) {
            let bytes = bytes.ok_or_else(|| overflow(format!("the size of tensor `{}`", tensor.name)))?;
            weight_bytes = weight_bytes
                .checked_add(bytes)
                .ok_or_else(|| overflow("the size of all tensors".into()))?;
            if tensor.name == "token_embd.weight" {
                embedding_bytes = bytes;
            }
            let end = data_offset
                .checked_add(tensor.offset)
                .and_then(|start| start.checked_add(bytes))
                .ok_or_else(|| overflow(format!("the end of tensor `{}`", tensor.name)))?;
            needed = needed.max(end);
        }
    }
    if needed > file_size {
        return Err(GgufError::TruncatedData {
            path: path.to_path_buf(),
            needed,
            size: file_size,
        });
    }

    let tied_embeddings = !tensors.iter().any(|t| t.name == "output.weight");
    // A duplicated `token_embd.weight` is counted in the total at least once more than here.
    let bytes_read_per_token = if tied_embeddings {
        weight_bytes
    } else {
        weight_bytes.saturating_sub(embedding_bytes)
    };
    Ok(GgufInfo {
        path: path.to_path_buf(),
        version,
        file_size,
        metadata,
        tensor_count,
        parameter_count,
        data_offset,
        weight_bytes,
        bytes_read_per_token,
    })
}

/// Refuses architecture values that no file of `size` bytes can describe. The memory estimate
/// multiplies them (and once looped over `block_count`); bounded here, its arithmetic is checked
/// as well.
fn check_dimensions(metadata: &BTreeMap<String, MetaValue>, path: &Path, size: u64) -> Result<(), GgufError> {
    let Some(arch) = metadata.get("general.architecture").and_then(MetaValue::as_str) else {
        return Ok(());
    };
    let value = |key: &str| {
        let key = format!("{arch}.{key}");
        let value = metadata.get(&key).and_then(MetaValue::as_u64);
        value.map(|v| (key, v))
    };
    let implausible = |key: String, value: u64, limit: u64, why: String| GgufError::ImplausibleValue {
        path: path.to_path_buf(),
        what: format!("`{key}`"),
        value,
        limit,
        why,
    };
    let max_layers = size / MIN_TENSOR_ENTRY;
    if let Some((key, layers)) = value("block_count")
        && layers > max_layers
    {
        return Err(implausible(
            key,
            layers,
            max_layers,
            format!("every layer has a tensor, and {size} bytes describe at most {max_layers} tensors"),
        ));
    }
    for name in DIMENSION_KEYS {
        if let Some((key, dimension)) = value(name)
            && dimension > size
        {
            return Err(implausible(
                key,
                dimension,
                size,
                format!("no tensor that wide fits in the file's {size} bytes"),
            ));
        }
    }
    Ok(())
}

struct Reader<'a> {
    inner: BufReader<File>,
    /// The size the opened file reported; nothing past it is read, even from a file that grows.
    path: &'a Path,
    size: u64,
    position: u64,
}

impl Reader<'_> {
    fn truncated(&self, what: &str) -> GgufError {
        GgufError::TruncatedHeader {
            path: self.path.to_path_buf(),
            size: self.size,
            what: what.to_string(),
        }
    }

    fn malformed(&self, message: String) -> GgufError {
        GgufError::Malformed {
            path: self.path.to_path_buf(),
            message,
        }
    }

    fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, GgufError> {
        let left = usize::try_from(self.size.saturating_sub(self.position)).unwrap_or(usize::MAX);
        let wanted = buf.len().min(left);
        let buf = &mut buf[..wanted];
        let mut filled = 0;
        while filled < buf.len() {
            let n = self
                .inner
                .read(&mut buf[filled..])
                .map_err(|source| GgufError::Io {
                    path: self.path.to_path_buf(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        self.position += filled as u64;
        Ok(filled)
    }

    fn exact<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        if self.read_up_to(&mut buf)? < N {
            return Err(self.truncated(what));
        }
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.exact(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.exact(what)?))
    }

    fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.position)
    }

    /// The bytes `count` items of at least `min_bytes` each take, if the rest of the file holds them.
    fn plausible_count(&self, count: u64, min_bytes: u64, what: &str) -> Result<u64, GgufError> {
        match count.checked_mul(min_bytes) {
            Some(bytes) if bytes <= self.remaining() => Ok(bytes),
            _ => Err(GgufError::Implausible {
                path: self.path.to_path_buf(),
                count,
                what: what.to_string(),
                size: self.size,
            }),
        }
    }

    /// A string of at most `limit` bytes (`why` says where the limit comes from). A length past
    /// the end of the file reads as truncation, which is what a cut-off download looks like.
    fn string(&mut self, what: &str, limit: u64, why: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        if len > self.remaining() {
            return Err(self.truncated(what));
        }
        if len > limit {
            return Err(GgufError::ImplausibleValue {
                path: self.path.to_path_buf(),
                what: format!("the length of {what}"),
                value: len,
                limit,
                why: why.to_string(),
            });
        }
        let len = usize::try_from(len).map_err(|_| self.truncated(what))?;
        let mut bytes = vec![0u8; len];
        if self.read_up_to(&mut bytes)? < bytes.len() {
            return Err(self.truncated(what));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn skip(&mut self, bytes: u64, what: &str) -> Result<(), GgufError> {
        if bytes > self.remaining() {
            return Err(self.truncated(what));
        }
        let offset = i64::try_from(bytes).map_err(|_| self.truncated(what))?;
        // Relative seeks within the buffer keep it: a vocabulary is 262,144 short skips.
        self.inner.seek_relative(offset).map_err(|source| GgufError::Io {
            path: self.path.to_path_buf(),
            source,
        })?;
        self.position += bytes;
        Ok(())
    }

    fn value(&mut self, value_type: u32, key: &str) -> Result<MetaValue, GgufError> {
        let what = format!("the value of `{key}`");
        Ok(match value_type {
            0 => MetaValue::Uint(u64::from(self.exact::<1>(&what)?[0])),
            1 => MetaValue::Int(i64::from(self.exact::<1>(&what)?[0] as i8)),
            2 => MetaValue::Uint(u64::from(u16::from_le_bytes(self.exact(&what)?))),
            3 => MetaValue::Int(i64::from(i16::from_le_bytes(self.exact(&what)?))),
            4 => MetaValue::Uint(u64::from(u32::from_le_bytes(self.exact(&what)?))),
            5 => MetaValue::Int(i64::from(i32::from_le_bytes(self.exact(&what)?))),
            6 => MetaValue::Float(f64::from(f32::from_le_bytes(self.exact(&what)?))),
            7 => MetaValue::Bool(self.exact::<1>(&what)?[0] != 0),
            8 => MetaValue::String(self.string(
                &format!("the string `{key}`"),
                MAX_STRING_VALUE_BYTES,
                "no GGUF string value is that long",
            )?),
            9 => {
                let element_type = self.u32(&what)?;
                let len = self.u64(&what)?;
                match scalar_size(element_type) {
                    Some(size) => {
                        let bytes = self.plausible_count(len, size, &format!("entries in `{key}`"))?;
                        self.skip(bytes, &what)?;
                    }
                    None if element_type == 8 => {
                        self.plausible_count(len, 8, &format!("entries in `{key}`"))?;
                        for _ in 0..len {
                            let n = self.u64(&what)?;
                            self.skip(n, &what)?;
                        }
                    }
                    None => {
                        return Err(self.malformed(format!(
                            "`{key}` is an array of type {element_type}, which GGUF does not define"
                        )));
                    }
                }
                MetaValue::Array {
                    element_type: type_name(element_type).to_string(),
                    len,
                }
            }
            10 => MetaValue::Uint(u64::from_le_bytes(self.exact(&what)?)),
            11 => MetaValue::Int(i64::from_le_bytes(self.exact(&what)?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.exact(&what)?)),
            other => {
                return Err(self.malformed(format!(
                    "`{key}` has value type {other}, which GGUF does not define"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests;
