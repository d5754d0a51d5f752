//! `tradeoff bench MODEL`: pp and tg speed as llama-bench measures them, plus how close tg comes
//! to the memory-bandwidth bound.

use std::process::ExitCode;

use tradeoff_core::execute::bench::{
    BandwidthBound, BenchReport, BenchRequest, Rate, measure_read_bandwidth,
};
use tradeoff_core::execute::engine::LocalEngine;
use tradeoff_core::models::gguf::{self, GgufError};
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use super::models::resolve_model;
use crate::exit::Exit;

pub struct BenchArgs {
    pub model: String,
    pub threads: Option<u32>,
    pub n_prompt: u32,
    pub n_gen: u32,
    pub reps: u32,
    pub batch: u32,
    pub json: bool,
    pub bandwidth: bool,
}

pub fn bench(args: &BenchArgs) -> Result<ExitCode, Exit> {
    let path = resolve_model(&args.model);
    let info = gguf::read(&path).map_err(|e| match e {
        GgufError::Io { .. } => Exit::failure(e),
        other => Exit::bad_input(other),
    })?;
    if args.reps == 0 {
        return Err(Exit::bad_input("--reps must be at least 1"));
    }
    let threads = args.threads.unwrap_or_else(default_threads);
    let request = BenchRequest {
        model_path: path.clone(),
        threads,
        n_prompt: args.n_prompt,
        n_gen: args.n_gen,
        reps: args.reps,
        batch: args.batch,
    };
    let command = WorkerCommand::current_exe()
        .map_err(|e| Exit::failure(format!("cannot find the tradeoff executable: {e}")))?;
    let mut worker = WorkerEngine::start(command).map_err(|e| Exit::failure(e.to_string()))?;
    let samples = worker
        .bench(&request)
        .map_err(|e| Exit::failure(format!("{}: {e}", path.display())))?;
    let build = worker.build_info();
    // The worker is done: the bandwidth pass must not share the machine with it.
    drop(worker);
    let tg = Rate::from_ns(args.n_gen, &samples.tg_ns);
    let bandwidth = args.bandwidth.then(|| {
        BandwidthBound::new(
            measure_read_bandwidth(threads),
            info.bytes_read_per_token,
            tg.as_ref().map(|r| r.mean),
        )
    });
    let summary = info.summary();
    let report = BenchReport {
        model: path,
        model_description: format!(
            "{} {:.0}M {}",
            summary.architecture.as_deref().unwrap_or("unknown"),
            summary.parameters as f64 / 1e6,
            summary.quantization.as_deref().unwrap_or("")
        )
        .trim()
        .to_string(),
        threads,
        n_prompt: args.n_prompt,
        n_gen: args.n_gen,
        reps: args.reps,
        build,
        pp_tokens_per_s: Rate::from_ns(args.n_prompt, &samples.pp_ns),
        tg_tokens_per_s: tg,
        bandwidth,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(Exit::failure)?
        );
    } else {
        print_report(&report, info.file_size);
    }
    Ok(ExitCode::SUCCESS)
}

/// One thread per core: llama.cpp's own default of 4 threads ran at about half speed on a
/// 2-core machine.
pub fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
}

fn print_report(report: &BenchReport, file_size: u64) {
    println!(
        "model: {} ({:.0} MiB) · {} threads · {} repetitions",
        report.model_description,
        file_size as f64 / (1 << 20) as f64,
        report.threads,
        report.reps
    );
    println!("build: {}", report.build);
    println!("{:<8} {:>20}", "test", "t/s");
    let row = |name: String, rate: &Option<Rate>| {
        if let Some(rate) = rate {
            println!("{name:<8} {:>11.2} ± {:>6.2}", rate.mean, rate.sd);
        }
    };
    row(format!("pp{}", report.n_prompt), &report.pp_tokens_per_s);
    row(format!("tg{}", report.n_gen), &report.tg_tokens_per_s);
    if let Some(bound) = &report.bandwidth {
        println!(
            "memory read bandwidth {:.1} GB/s ÷ {:.0} MB read per token = tg bound {:.0} t/s",
            bound.read_gb_per_s,
            bound.bytes_read_per_token as f64 / 1e6,
            bound.bound_tokens_per_s
        );
        if let Some(fraction) = bound.tg_fraction_of_bound {
            // llama.cpp reaches roughly 70-80 % of read bandwidth when memory is the limit.
            let verdict = if fraction < 0.6 {
                "compute-bound here: more threads or batched decoding (throughput mode) raise it"
            } else {
                "near the memory limit: a smaller quantization raises it"
            };
            println!("tg reaches {:.0} % of that bound: {verdict}", fraction * 100.0);
        }
    }
}
