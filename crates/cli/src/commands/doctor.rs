//! `tradeoff doctor`: proves that local inference works on this machine and says how it runs:
//! the CPU, the llama.cpp CPU variants it supports, the one the self-test verified with a real
//! decode (run now unless an earlier one on this machine and build is recorded), its features.

use std::process::ExitCode;

use tradeoff_core::execute::cpu_backend::CpuBackend;
use tradeoff_core::execute::engine::{LoadRequest, LocalEngine};
use tradeoff_core::execute::environment::Machine;
use tradeoff_core::spec::target::{ContextSettings, KvType};
use tradeoff_worker::cpu_record;
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use super::bench::default_threads;
use super::models::resolve_model;
use crate::exit::Exit;

#[derive(Debug, serde::Serialize)]
struct Doctor {
    machine: Machine,
    cpu_backend: Option<CpuBackend>,
    build: String,
    record: String,
}

pub fn doctor(model: &str, json: bool) -> Result<ExitCode, Exit> {
    let model_path = resolve_model(model);
    if !model_path.is_file() {
        return Err(Exit::bad_input(format!(
            "model not found: {} (run `make model`, or name a GGUF file)",
            model_path.display()
        )));
    }
    let command = WorkerCommand::current_exe()
        .map_err(|e| Exit::failure(format!("cannot find the tradeoff executable: {e}")))?;
    let mut worker = WorkerEngine::start(command).map_err(|e| Exit::failure(e.to_string()))?;
    let load = LoadRequest {
        model_path,
        n_gpu_layers: 0,
        context: ContextSettings {
            n_ctx: 512,
            threads: default_threads(),
            batch: 512,
            kv_type: KvType::F16,
            sequences: 1,
            prefix_cache: false,
        },
    };
    let checked = worker.check_cpu_path(&load);
    let report = Doctor {
        machine: Machine::detect(),
        cpu_backend: worker.cpu_backend(),
        build: worker.build_info(),
        record: cpu_record::record_path().display().to_string(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(Exit::failure)?
        );
    } else {
        print_report(&report);
    }
    match checked {
        Ok(()) if report.cpu_backend.as_ref().is_some_and(|cpu| cpu.verified) => Ok(ExitCode::SUCCESS),
        Ok(()) => Err(Exit::failure(format!(
            "the CPU self-test could not run with {}: the model did not load (see `tradeoff models inspect`)",
            load.model_path.display()
        ))),
        Err(error) => Err(Exit::failure(error.message)),
    }
}

fn print_report(report: &Doctor) {
    println!(
        "machine: {} ({} logical cores, {:.1} GiB)",
        report.machine.cpu_model,
        report.machine.logical_cores,
        report.machine.memory_bytes as f64 / (1u64 << 30) as f64
    );
    if let Some(cpu) = &report.cpu_backend {
        let names: Vec<&str> = cpu.candidates.iter().map(|c| c.name.as_str()).collect();
        println!("CPU variants this CPU supports, best first: {}", names.join(", "));
        println!(
            "local inference runs on: {} ({}), {}",
            cpu.variant,
            cpu.features.join(" "),
            if cpu.verified {
                "verified by a test decode on this machine"
            } else {
                "NOT verified"
            }
        );
    }
    println!("llama.cpp: {}", report.build);
    println!("self-test record: {}", report.record);
}
