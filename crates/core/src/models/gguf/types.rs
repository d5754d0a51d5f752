//! GGUF's value types and ggml's tensor types: their sizes and names.

use super::{GgufInfo, MetaValue};

pub(super) fn scalar_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

pub(super) fn type_name(value_type: u32) -> &'static str {
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
/// `Some(None)`: a known type whose size does not fit in 64 bits.
pub(super) fn tensor_bytes(ggml_type: u32, elements: u64) -> Option<Option<u64>> {
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
    Some(elements.div_ceil(block_elements).checked_mul(block_bytes))
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
