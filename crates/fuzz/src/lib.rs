//! Nothing here: the fuzz targets are this crate's integration test, `tests/fuzz.rs`.
