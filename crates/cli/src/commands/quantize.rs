//! `tradeoff quantize SRC --type Q8_0,Q4_0`: quantized copies of a model, made by llama.cpp's
//! quantizer in the worker, registered in the model library with their origin.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tradeoff_core::format::now_rfc3339;
use tradeoff_core::models::gguf::{self, GgufError};
use tradeoff_core::models::quantize::{QuantizeEvent, QuantizeRequest, plan};
use tradeoff_store::ModelOrigin;
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use super::models::resolve_model;
use super::open_store;
use crate::exit::Exit;

pub struct QuantizeArgs {
    pub source: String,
    pub types: Vec<String>,
    pub allow_requantize: bool,
    pub out_dir: Option<PathBuf>,
    pub threads: Option<u32>,
    pub db: Option<PathBuf>,
    pub events: bool,
}

pub fn quantize(args: &QuantizeArgs) -> Result<ExitCode, Exit> {
    let result = quantize_inner(args);
    if args.events
        && let Err(exit) = &result
    {
        emit(&QuantizeEvent::Failed {
            type_name: None,
            message: exit.message.clone(),
        });
    }
    result
}

fn quantize_inner(args: &QuantizeArgs) -> Result<ExitCode, Exit> {
    let source = resolve_model(&args.source);
    let info = gguf::read(&source).map_err(|e| match e {
        GgufError::Io { .. } => Exit::failure(e),
        other => Exit::bad_input(other),
    })?;
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(tradeoff_core::paths::models_dir);
    // Every requested type is checked before the first one is made.
    let plans = args
        .types
        .iter()
        .map(|t| plan(&source, &info, t, args.allow_requantize, &out_dir))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Exit::bad_input)?;
    if plans.is_empty() {
        return Err(Exit::bad_input("name at least one --type, e.g. --type Q8_0,Q4_0"));
    }
    let store = open_store(args.db.clone())?;
    let source_sha256 = store.file_sha256(&source).ok();
    let source_quantization = info.file_type().map(gguf::file_type_name);
    let threads = args.threads.unwrap_or_else(super::bench::default_threads);
    let command = WorkerCommand::current_exe()
        .map_err(|e| Exit::failure(format!("cannot find the tradeoff executable: {e}")))?;
    let mut worker = WorkerEngine::start(command).map_err(|e| Exit::failure(e.to_string()))?;

    let mut failures = 0;
    let mut made = Vec::new();
    for plan in &plans {
        let request = QuantizeRequest {
            source: source.clone(),
            destination: plan.destination.clone(),
            file_type: plan.file_type,
            allow_requantize: plan.requantize,
            threads,
        };
        let bar = (!args.events).then(|| progress_bar(&plan.type_name));
        let result = worker.quantize(&request, &mut |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(u64::from(total));
                bar.set_position(u64::from(done));
            } else {
                emit(&QuantizeEvent::Progress {
                    type_name: plan.type_name.clone(),
                    done,
                    total,
                });
            }
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match result {
            Ok(report) => {
                store.record_model_origin(&ModelOrigin {
                    path: report.destination.clone(),
                    source_path: source.clone(),
                    source_sha256: source_sha256.clone(),
                    source_quantization: source_quantization.clone(),
                    quantization: plan.type_name.clone(),
                    requantized: plan.requantize,
                    created_at: now_rfc3339(),
                })?;
                if args.events {
                    emit(&QuantizeEvent::Quantized {
                        type_name: plan.type_name.clone(),
                        path: report.destination.clone(),
                        bytes: report.bytes,
                        duration_ms: report.duration_ms,
                        requantized: plan.requantize,
                        warnings: report.warnings.clone(),
                    });
                }
                made.push((plan.type_name.clone(), plan.requantize, report));
            }
            Err(error) => {
                failures += 1;
                if args.events {
                    emit(&QuantizeEvent::Failed {
                        type_name: Some(plan.type_name.clone()),
                        message: error.to_string(),
                    });
                } else {
                    eprintln!("error: {}: {error}", plan.type_name);
                }
            }
        }
    }
    if !args.events {
        for (type_name, requantized, report) in &made {
            println!(
                "{type_name:<7} {:>9.1} MiB  {:>6.1} s  {}{}",
                report.bytes as f64 / f64::from(1u32 << 20),
                report.duration_ms / 1000.0,
                report.destination.display(),
                if *requantized {
                    format!(
                        "  (requantized from {})",
                        source_quantization.as_deref().unwrap_or("?")
                    )
                } else {
                    String::new()
                }
            );
            for warning in &report.warnings {
                println!("        llama.cpp: {warning}");
            }
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::FAILURE)
    })
}

fn progress_bar(type_name: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:<8} {bar:30} {pos}/{len} tensors, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(type_name.to_string());
    bar
}

fn emit(event: &QuantizeEvent) {
    if let Ok(line) = serde_json::to_string(event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
