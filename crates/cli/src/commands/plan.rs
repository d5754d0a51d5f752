//! `tradeoff plan FILE`: what an experiment will send before it runs: every config × case's
//! exact input tokens (the model's own tokenizer, chat template applied, in the worker), whether
//! prompt + max_tokens fits n_ctx, the memory each config needs, and the token cost bound. For a
//! hosted model the input tokens are an estimate (marked), its context window and prices come
//! from the price table.

use std::path::Path;
use std::process::ExitCode;

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use serde::Serialize;
use tradeoff_core::experiment::load_file;
use tradeoff_core::matrix::Plan;
use tradeoff_core::memory::{available_memory, estimate, human_bytes};
use tradeoff_core::pricing::PriceTable;
use tradeoff_core::prompt::PromptRenderer;
use tradeoff_core::remote::estimate_tokens;
use tradeoff_core::worker::{WorkerCommand, WorkerEngine};

use crate::exit::Exit;

#[derive(Debug, Serialize)]
struct PlannedCell {
    config: String,
    case: String,
    input_tokens: Option<u32>,
    /// `true` for a hosted model: about 4 characters per token, no tokenizer of it here.
    tokens_estimated: bool,
    max_tokens: u32,
    /// n_ctx, or a hosted model's context window from the price table.
    n_ctx: Option<u32>,
    /// prompt + max_tokens <= n_ctx
    fits_context: Option<bool>,
    /// Upper bound from token prices (all `max_tokens` generated); `None` without token prices.
    max_token_cost_usd: Option<f64>,
    problem: Option<String>,
}

#[derive(Debug, Serialize)]
struct PlannedConfig {
    config: String,
    memory_bytes: Option<u64>,
    fits_memory: Option<bool>,
}

#[derive(Debug, Serialize)]
struct PlanReport {
    runs: usize,
    repetitions: u32,
    configs: Vec<PlannedConfig>,
    cells: Vec<PlannedCell>,
    /// Sum over every run (repetitions included) of the token-price bound.
    max_token_cost_usd: Option<f64>,
}

pub fn plan(file: &Path, json: bool) -> Result<ExitCode, Exit> {
    let experiment = load_file(file).map_err(Exit::bad_input)?;
    let plan = Plan::new(&experiment);
    let labels = plan.config_labels(&experiment);
    let renderer = PromptRenderer::new(&experiment.variants).map_err(Exit::bad_input)?;
    let command = WorkerCommand::current_exe()
        .map_err(|e| Exit::failure(format!("cannot find the tradeoff executable: {e}")))?;
    let mut worker = WorkerEngine::start(command).map_err(|e| Exit::failure(e.to_string()))?;
    let available = available_memory();

    let prices = PriceTable::load().map_err(Exit::bad_input)?;
    let mut configs = Vec::new();
    let mut cells = Vec::new();
    let mut total_cost: Option<f64> = None;
    for (index, config) in plan.configs.iter().enumerate() {
        let target = &experiment.targets[config.target];
        let variant = &experiment.variants[config.variant];
        let max_tokens = target.sampling.max_tokens;
        // Local: the model's memory and n_ctx. Remote: the server holds the model; its context
        // window comes from the price table when the model is there.
        let (memory, context) = match (config.settings, &target.remote) {
            (Some(settings), _) => {
                let memory = tradeoff_core::gguf::read(&target.model.path)
                    .ok()
                    .map(|info| estimate(&info, &settings).total_bytes());
                (memory, Some(settings.n_ctx))
            }
            (None, Some(remote)) => (
                None,
                prices
                    .lookup(remote.provider.as_str(), &remote.model)
                    .and_then(|e| e.context_window),
            ),
            (None, None) => (None, None),
        };
        configs.push(PlannedConfig {
            config: labels[index].clone(),
            memory_bytes: memory,
            fits_memory: memory.zip(available).map(|(m, a)| m <= a),
        });
        for case in &experiment.cases {
            // Exact counts from the model's own tokenizer (chat template applied) in the
            // worker; for a hosted model an estimate, marked as such.
            let counted = renderer
                .render(variant, case)
                .map_err(|e| e.to_string())
                .and_then(|prompt| match config.settings {
                    Some(settings) => worker
                        .count_prompt_tokens(
                            &settings.load_request(target.model.path.clone()),
                            &prompt,
                            &target.chat_template,
                        )
                        .map(|(tokens, _)| (tokens, false))
                        .map_err(|e| e.to_string()),
                    None => Ok((estimate_tokens(&prompt.plain_text()), true)),
                });
            let mut cell = PlannedCell {
                config: labels[index].clone(),
                case: case.id.clone(),
                input_tokens: None,
                tokens_estimated: false,
                max_tokens,
                n_ctx: context,
                fits_context: None,
                max_token_cost_usd: None,
                problem: None,
            };
            match counted {
                Ok((tokens, estimated)) => {
                    cell.input_tokens = Some(tokens);
                    cell.tokens_estimated = estimated;
                    cell.fits_context =
                        context.map(|n| u64::from(tokens) + u64::from(max_tokens) <= u64::from(n));
                    cell.max_token_cost_usd = target.price.as_ref().and_then(|p| {
                        (p.input_per_mtok.is_some() || p.output_per_mtok.is_some()).then(|| {
                            p.input_per_mtok.unwrap_or(0.0) * f64::from(tokens) / 1e6
                                + p.output_per_mtok.unwrap_or(0.0) * f64::from(max_tokens) / 1e6
                        })
                    });
                    if let Some(cost) = cell.max_token_cost_usd {
                        *total_cost.get_or_insert(0.0) += cost * f64::from(experiment.repetitions);
                    }
                }
                Err(problem) => cell.problem = Some(problem),
            }
            cells.push(cell);
        }
    }
    let report = PlanReport {
        runs: plan.total_runs(),
        repetitions: experiment.repetitions,
        configs,
        cells,
        max_token_cost_usd: total_cost,
    };
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

fn print_plan(report: &PlanReport) {
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
    if report.cells.iter().any(|c| c.tokens_estimated) {
        println!(
            "~: estimated (about 4 characters per token); the provider's usage gives the real count when the run is made"
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
