//! `tradeoff models inspect`

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use tradeoff_core::gguf::{self, GgufError, ModelSummary};

use crate::exit::Exit;

#[derive(Debug, Serialize)]
struct Inspection {
    #[serde(flatten)]
    summary: ModelSummary,
    sha256: String,
}

pub fn inspect(path: &str, json: bool) -> Result<ExitCode, Exit> {
    let path = if path == "default" {
        tradeoff_core::paths::default_model()
    } else {
        PathBuf::from(path)
    };
    let info = gguf::read(&path).map_err(|e| match e {
        GgufError::Io { .. } => Exit::failure(e),
        other => Exit::bad_input(other),
    })?;
    let sha256 = gguf::sha256_file(&path).map_err(|e| Exit::failure(format!("{}: {e}", path.display())))?;
    let inspection = Inspection {
        summary: info.summary(),
        sha256,
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
    Ok(ExitCode::SUCCESS)
}
