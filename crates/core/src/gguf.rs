//! Reading GGUF model files without loading weights: metadata for `models inspect`, and the
//! checks that turn a file llama.cpp would reject (not GGUF, truncated) into a clear message
//! before llama.cpp sees it.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md> (little-endian).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: model file not found")]
    NotFound { path: PathBuf },
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
pub fn read(path: &Path) -> Result<GgufInfo, GgufError> {
    let file = File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => GgufError::NotFound {
            path: path.to_path_buf(),
        },
        _ => GgufError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let file_size = file
        .metadata()
        .map_err(|source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
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
    reader.plausible_count(tensor_count, 24, "tensors")?;

    let mut metadata = BTreeMap::new();
    for index in 0..kv_count {
        let key = reader.string(&format!("metadata key #{index}"))?;
        let value_type = reader.u32(&format!("the type of `{key}`"))?;
        let value = reader.value(value_type, &key)?;
        metadata.insert(key, value);
    }

    let mut tensors = Vec::with_capacity(tensor_count.min(1 << 16) as usize);
    for index in 0..tensor_count {
        let name = reader.string(&format!("tensor #{index}"))?;
        let n_dims = reader.u32(&format!("tensor `{name}`"))?;
        if n_dims > 8 {
            return Err(reader.malformed(format!("tensor `{name}` has {n_dims} dimensions")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
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

    let alignment = metadata
        .get("general.alignment")
        .and_then(MetaValue::as_u64)
        .filter(|a| *a > 0)
        .unwrap_or(DEFAULT_ALIGNMENT);
    let data_offset = reader.position.div_ceil(alignment) * alignment;

    let mut parameter_count: u64 = 0;
    let mut weight_bytes: u64 = 0;
    let mut embedding_bytes: u64 = 0;
    let mut needed = data_offset;
    for tensor in &tensors {
        let elements = tensor.dims.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d));
        let Some(elements) = elements else {
            return Err(reader.malformed(format!("tensor `{}` has an impossible shape", tensor.name)));
        };
        parameter_count = parameter_count.saturating_add(elements);
        if let Some(bytes) = tensor_bytes(tensor.ggml_type, elements) {
            weight_bytes = weight_bytes.saturating_add(bytes);
            if tensor.name == "token_embd.weight" {
                embedding_bytes = bytes;
            }
            let end = data_offset.saturating_add(tensor.offset).saturating_add(bytes);
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
    let bytes_read_per_token = if tied_embeddings {
        weight_bytes
    } else {
        weight_bytes - embedding_bytes
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

/// sha256 of a file, hex-encoded.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

struct Reader<'a> {
    inner: BufReader<File>,
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

    fn plausible_count(&self, count: u64, min_bytes: u64, what: &str) -> Result<(), GgufError> {
        if count.saturating_mul(min_bytes) > self.size.saturating_sub(self.position) {
            return Err(GgufError::Implausible {
                path: self.path.to_path_buf(),
                count,
                what: what.to_string(),
                size: self.size,
            });
        }
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        if len > self.size.saturating_sub(self.position) {
            return Err(self.truncated(what));
        }
        let mut bytes = vec![0u8; len as usize];
        if self.read_up_to(&mut bytes)? < bytes.len() {
            return Err(self.truncated(what));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn skip(&mut self, bytes: u64, what: &str) -> Result<(), GgufError> {
        if bytes > self.size.saturating_sub(self.position) {
            return Err(self.truncated(what));
        }
        self.inner
            .seek(SeekFrom::Current(bytes as i64))
            .map_err(|source| GgufError::Io {
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
            8 => MetaValue::String(self.string(&what)?),
            9 => {
                let element_type = self.u32(&what)?;
                let len = self.u64(&what)?;
                match scalar_size(element_type) {
                    Some(size) => self.skip(len.saturating_mul(size), &what)?,
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

fn scalar_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

fn type_name(value_type: u32) -> &'static str {
    match value_type {
        0 => "u8",
        1 => "i8",
        2 => "u16",
        3 => "i16",
        4 => "u32",
        5 => "i32",
        6 => "f32",
        7 => "bool",
        8 => "string",
        9 => "array",
        10 => "u64",
        11 => "i64",
        12 => "f64",
        _ => "unknown",
    }
}

/// Bytes of a tensor of `elements` elements of a ggml type: (block bytes, elements per block)
/// from ggml's type traits. Unknown types (newer than this table) are skipped by the size check.
fn tensor_bytes(ggml_type: u32, elements: u64) -> Option<u64> {
    let (block_bytes, block_elements): (u64, u64) = match ggml_type {
        0 => (4, 1),      // F32
        1 => (2, 1),      // F16
        2 => (18, 32),    // Q4_0
        3 => (20, 32),    // Q4_1
        6 => (22, 32),    // Q5_0
        7 => (24, 32),    // Q5_1
        8 => (34, 32),    // Q8_0
        9 => (36, 32),    // Q8_1
        10 => (84, 256),  // Q2_K
        11 => (110, 256), // Q3_K
        12 => (144, 256), // Q4_K
        13 => (176, 256), // Q5_K
        14 => (210, 256), // Q6_K
        15 => (292, 256), // Q8_K
        16 => (66, 256),  // IQ2_XXS
        17 => (74, 256),  // IQ2_XS
        18 => (98, 256),  // IQ3_XXS
        19 => (50, 256),  // IQ1_S
        20 => (18, 32),   // IQ4_NL
        21 => (110, 256), // IQ3_S
        22 => (82, 256),  // IQ2_S
        23 => (136, 256), // IQ4_XS
        24 => (1, 1),     // I8
        25 => (2, 1),     // I16
        26 => (4, 1),     // I32
        27 => (8, 1),     // I64
        28 => (8, 1),     // F64
        29 => (56, 256),  // IQ1_M
        30 => (2, 1),     // BF16
        _ => return None,
    };
    Some(elements.div_ceil(block_elements).saturating_mul(block_bytes))
}

/// `general.file_type` values and llama.cpp's names for them (`llama_ftype`).
const FILE_TYPES: [(u64, &str); 33] = [
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (7, "Q8_0"),
    (8, "Q5_0"),
    (9, "Q5_1"),
    (10, "Q2_K"),
    (11, "Q3_K_S"),
    (12, "Q3_K_M"),
    (13, "Q3_K_L"),
    (14, "Q4_K_S"),
    (15, "Q4_K_M"),
    (16, "Q5_K_S"),
    (17, "Q5_K_M"),
    (18, "Q6_K"),
    (19, "IQ2_XXS"),
    (20, "IQ2_XS"),
    (21, "Q2_K_S"),
    (22, "IQ3_XS"),
    (23, "IQ3_XXS"),
    (24, "IQ1_S"),
    (25, "IQ4_NL"),
    (26, "IQ3_S"),
    (27, "IQ3_M"),
    (28, "IQ2_S"),
    (29, "IQ2_M"),
    (30, "IQ4_XS"),
    (31, "IQ1_M"),
    (32, "BF16"),
    (36, "TQ1_0"),
    (37, "TQ2_0"),
    (38, "MXFP4_MOE"),
];

pub fn file_type_name(file_type: u64) -> String {
    FILE_TYPES.iter().find(|(id, _)| *id == file_type).map_or_else(
        || format!("file type {file_type}"),
        |(_, name)| (*name).to_string(),
    )
}

/// The `general.file_type` value of a type name (case-insensitive), e.g. `q8_0` → 7.
pub fn file_type_by_name(name: &str) -> Option<u64> {
    FILE_TYPES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(id, _)| *id)
}

impl GgufInfo {
    /// The model's quantization (`general.file_type`), if the header says.
    pub fn file_type(&self) -> Option<u64> {
        self.metadata.get("general.file_type").and_then(MetaValue::as_u64)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

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
}
