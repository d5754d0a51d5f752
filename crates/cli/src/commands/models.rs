//! `tradeoff models list|add|remove|inspect`: the model library.

use std::path::PathBuf;
use std::process::ExitCode;

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use serde::Serialize;
use tradeoff_core::models::gguf::{self, GgufError, GgufInfo, ModelSummary};
use tradeoff_core::models::memory::{MemoryEstimate, available_memory, human_bytes, try_estimate};
use tradeoff_core::spec::target::{KvType, LocalSettings};

use super::open_store;

use crate::exit::Exit;

#[derive(Debug, Serialize)]
struct Inspection {
    #[serde(flatten)]
    summary: ModelSummary,
    sha256: String,
    /// Memory for the settings asked about (`--n-ctx`, `--kv-type`).
    memory: MemoryEstimate,
    memory_settings: LocalSettings,
}

/// The memory estimate `inspect` shows. A header whose sizes overflow it is bad input that says
/// the header is corrupt, not an estimate of 16 EiB.
fn memory_of(info: &GgufInfo, settings: &LocalSettings) -> Result<MemoryEstimate, Exit> {
    try_estimate(info, settings).map_err(Exit::bad_input)
}

/// A model argument: a path, or `default` for the default model.
pub fn resolve_model(argument: &str) -> PathBuf {
    if argument == "default" {
        tradeoff_core::paths::default_model()
    } else {
        PathBuf::from(argument)
    }
}

pub fn inspect(path: &str, json: bool, n_ctx: u32, kv_type: &str) -> Result<ExitCode, Exit> {
    let path = resolve_model(path);
    let kv_type = KvType::parse(kv_type)
        .ok_or_else(|| Exit::bad_input(format!("--kv-type `{kv_type}`: use f16, q8_0 or q4_0")))?;
    let info = gguf::read(&path).map_err(|e| match e {
        GgufError::Io { .. } => Exit::failure(e),
        other => Exit::bad_input(other),
    })?;
    let sha256 = gguf::sha256_file(&path).map_err(|e| Exit::failure(format!("{}: {e}", path.display())))?;
    let memory_settings = LocalSettings {
        n_ctx,
        threads: 1,
        batch: tradeoff_core::spec::experiment::DEFAULT_BATCH,
        kv_type,
        n_gpu_layers: 0,
        parallel: 1,
        prefix_cache: false,
    };
    let inspection = Inspection {
        summary: info.summary(),
        sha256,
        memory: memory_of(&info, &memory_settings)?,
        memory_settings,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&inspection).map_err(Exit::failure)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let s = &inspection.summary;
    let show = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    println!("file:             {}", s.path.display());
    println!("name:             {}", s.name.as_deref().unwrap_or("unknown"));
    println!(
        "architecture:     {}",
        s.architecture.as_deref().unwrap_or("unknown")
    );
    println!(
        "parameters:       {} ({:.1} M)",
        s.parameters,
        s.parameters as f64 / 1e6
    );
    println!(
        "quantization:     {}",
        s.quantization.as_deref().unwrap_or("unknown")
    );
    println!("trained context:  {}", show(s.trained_context));
    println!("layers:           {}", show(s.layers));
    println!("embedding:        {}", show(s.embedding_length));
    println!("heads / kv heads: {} / {}", show(s.heads), show(s.kv_heads));
    println!(
        "chat template:    {}",
        if s.has_chat_template {
            "yes"
        } else {
            "none (base model: use raw `prompt` variants)"
        }
    );
    println!(
        "size:             {} bytes ({:.1} MiB)",
        s.file_size,
        s.file_size as f64 / (1u64 << 20) as f64
    );
    println!(
        "gguf:             version {}, {} tensors",
        s.gguf_version, s.tensors
    );
    println!("sha256:           {}", inspection.sha256);
    let m = &inspection.memory;
    println!(
        "memory at n_ctx {} ({} KV cache): about {} = weights {} + KV cache {} + buffers {}",
        n_ctx,
        kv_type,
        human_bytes(m.total_bytes()),
        human_bytes(m.weights_bytes),
        human_bytes(m.kv_cache_bytes),
        human_bytes(m.compute_bytes)
    );
    if let Some(available) = available_memory() {
        println!("available memory: {}", human_bytes(available));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(db: Option<PathBuf>, json: bool, hash: bool) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let models = store.model_library(hash)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&models).map_err(Exit::failure)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if models.is_empty() {
        println!("no models yet: run `make model`, or `tradeoff models add PATH` for your own GGUF files");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "model", "arch", "params", "quant", "ctx", "size", "origin", "path",
    ]);
    for model in &models {
        let path = model.file.path.display().to_string();
        let name = model
            .file
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(s) = &model.file.summary else {
            let error = model.file.error.clone().unwrap_or_default();
            table.add_row([
                name,
                format!("unreadable: {error}"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                path,
            ]);
            continue;
        };
        let origin = match &model.origin {
            Some(o) if o.requantized => format!(
                "requantized from {}",
                o.source_quantization.as_deref().unwrap_or("?")
            ),
            Some(o) => format!(
                "quantized from {}",
                o.source_quantization.as_deref().unwrap_or("?")
            ),
            None => String::new(),
        };
        table.add_row([
            name,
            s.architecture.clone().unwrap_or_default(),
            format!("{:.0}M", s.parameters as f64 / 1e6),
            s.quantization.clone().unwrap_or_default(),
            s.trained_context.map(|c| c.to_string()).unwrap_or_default(),
            human_bytes(s.file_size),
            origin,
            path,
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub fn add(db: Option<PathBuf>, path: &std::path::Path) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let added = store.add_model_source(path)?;
    let found = tradeoff_core::models::library::scan(std::slice::from_ref(&added));
    println!("added {} ({} GGUF file(s))", added.display(), found.len());
    Ok(ExitCode::SUCCESS)
}

pub fn remove(db: Option<PathBuf>, path: &std::path::Path) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    if !store.remove_model_source(path)? {
        return Err(Exit::bad_input(format!(
            "{} is not a registered model source (see `tradeoff models list`)",
            path.display()
        )));
    }
    println!(
        "removed {} from the library (files are left on disk)",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tradeoff_core::models::gguf::MetaValue;

    use super::*;

    #[test]
    fn inspecting_a_header_whose_memory_estimate_overflows_is_bad_input_saying_the_header_is_corrupt() {
        let info = GgufInfo {
            path: PathBuf::from("/models/corrupt.gguf"),
            version: 3,
            file_size: 1 << 20,
            metadata: BTreeMap::from([
                (
                    "general.architecture".to_string(),
                    MetaValue::String("llama".into()),
                ),
                ("llama.block_count".to_string(), MetaValue::Uint(u64::MAX)),
            ]),
            tensor_count: 0,
            parameter_count: 0,
            data_offset: 0,
            weight_bytes: 0,
            bytes_read_per_token: 0,
        };
        let settings = LocalSettings {
            n_ctx: 4096,
            threads: 1,
            batch: 512,
            kv_type: KvType::F16,
            n_gpu_layers: 0,
            parallel: 1,
            prefix_cache: false,
        };
        let exit = memory_of(&info, &settings).unwrap_err();
        assert_eq!(exit.code, crate::exit::BAD_INPUT);
        assert!(
            exit.message
                .starts_with("/models/corrupt.gguf: the memory estimate overflows")
                && exit.message.contains("header is corrupt"),
            "{}",
            exit.message
        );
    }
}
