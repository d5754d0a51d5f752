//! `tradeoff plan FILE`: what an experiment will send before it runs (see
//! `tradeoff_core::execute::preflight`), as tables or JSON.

use std::path::Path;
use std::process::ExitCode;

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use tradeoff_core::execute::preflight::{Preflight, preflight};
use tradeoff_core::models::memory::human_bytes;
use tradeoff_core::spec::load::{PlanLimits, load_file_with};
use tradeoff_core::spec::pricing::PriceTable;
use tradeoff_core::spec::resolve::{Facts, resolve};
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use crate::exit::Exit;

pub fn plan(file: &Path, json: bool, limits: &PlanLimits) -> Result<ExitCode, Exit> {
    let prices = PriceTable::load().map_err(Exit::bad_input)?;
    let facts = Facts {
        prices: &prices,
        model_sha256: &[],
    };
    let experiment = resolve(load_file_with(file, limits).map_err(Exit::bad_input)?, &facts);
    let command = WorkerCommand::current_exe()
        .map_err(|e| Exit::failure(format!("cannot find the tradeoff executable: {e}")))?;
    let mut worker = WorkerEngine::start(command).map_err(|e| Exit::failure(e.to_string()))?;
    let report = preflight(&experiment, &prices, &mut worker).map_err(Exit::bad_input)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(Exit::failure)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_plan(&report);
    Ok(ExitCode::SUCCESS)
}

fn print_plan(report: &Preflight) {
    let mut configs = Table::new();
    configs
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["config", "memory", "fits in memory"]);
    for c in &report.configs {
        configs.add_row([
            c.config.clone(),
            c.memory_bytes.map_or_else(|| "—".into(), human_bytes),
            match c.fits_memory {
                Some(true) => "yes".into(),
                Some(false) => "NO: would be refused".into(),
                None => "unknown".into(),
            },
        ]);
    }
    println!("{configs}");
    let mut cells = Table::new();
    cells.load_preset(UTF8_FULL_CONDENSED).set_header([
        "config",
        "case",
        "input tok",
        "+ max out",
        "n_ctx",
        "fits",
        "max token cost",
    ]);
    for c in &report.cells {
        cells.add_row([
            c.config.clone(),
            c.case.clone(),
            match (c.input_tokens, c.tokens_estimated) {
                (Some(t), true) => format!("~{t}"),
                (Some(t), false) => t.to_string(),
                (None, _) => "—".into(),
            },
            c.max_tokens.to_string(),
            c.n_ctx.map_or_else(|| "—".into(), |n| n.to_string()),
            match (c.fits_context, &c.problem) {
                (_, Some(problem)) => format!("error: {problem}"),
                (Some(true), _) => "yes".into(),
                (Some(false), _) => "NO: raise n_ctx or lower max_tokens".into(),
                (None, None) => "—".into(),
            },
            c.max_token_cost_usd
                .map_or_else(|| "—".into(), |c| format!("${c:.6}")),
        ]);
    }
    println!("{cells}");
    let mut counters: Vec<&str> = report
        .cells
        .iter()
        .filter_map(|c| c.counted_by.as_deref())
        .collect();
    counters.sort_unstable();
    counters.dedup();
    if !counters.is_empty() {
        println!("input tokens counted by: {}", counters.join(", "));
    }
    if report.cells.iter().any(|c| c.tokens_estimated) {
        println!(
            "~: estimated (about 4 characters per token: no public tokenizer of the model); the provider's usage gives the real count when the run is made"
        );
    }
    println!(
        "{} runs ({} repetitions){}",
        report.runs,
        report.repetitions,
        report
            .max_token_cost_usd
            .map(|c| format!("; token cost at most ${c:.4}"))
            .unwrap_or_default()
    );
}
