//! What an experiment will send and cost before it runs (`tradeoff plan`, the editor's plan
//! view): every config × case's input tokens after templating — llama.cpp's tokenizer with the
//! chat template for local models (in the worker), tiktoken for OpenAI models, a marked estimate
//! otherwise — whether prompt + `max_tokens` fits the context, each config's memory, and the
//! bound on token cost.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::execute::context_budget::{cut_case_variable, hosted_count, local_count, with_cut};
use crate::execute::engine::LocalTokenCounter;
use crate::models::memory::{available_memory, estimate};
use crate::models::tokens::{TokenCount, count_hosted};
use crate::spec::experiment::{Case, Experiment, TargetKind};
use crate::spec::matrix::{Config, Plan};
use crate::spec::pricing::PriceTable;
use crate::spec::prompt::{PromptRenderer, TemplateError};

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCell {
    pub config: String,
    pub case: String,
    pub input_tokens: Option<u32>,
    /// `true` when no tokenizer of the model is at hand: about 4 characters per token.
    pub tokens_estimated: bool,
    /// `llama.cpp`, `tiktoken o200k_base`, or `estimate (~4 characters per token)`.
    pub counted_by: Option<String>,
    pub max_tokens: u32,
    /// n_ctx, or a hosted model's context window from the price table.
    pub n_ctx: Option<u32>,
    /// prompt + max_tokens <= n_ctx
    pub fits_context: Option<bool>,
    /// Upper bound from token prices (all `max_tokens` generated); `None` without token prices.
    pub max_token_cost_usd: Option<f64>,
    /// The target is priced by the run's time (machine hours or power), which no plan can bound:
    /// its cost is known once it has run.
    #[serde(default)]
    pub time_priced: bool,
    pub problem: Option<String>,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedConfig {
    pub config: String,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub memory_bytes: Option<u64>,
    pub fits_memory: Option<bool>,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub runs: usize,
    pub repetitions: u32,
    pub configs: Vec<PlannedConfig>,
    pub cells: Vec<PlannedCell>,
    /// Sum over every run (repetitions included) of the token-price bound.
    pub max_token_cost_usd: Option<f64>,
}

/// `case` as `config`'s variant renders it: with its budgeted variable cut by the target's own
/// tokenizer.
fn budgeted<'c>(
    experiment: &Experiment,
    config: &Config,
    case: &'c Case,
    local: &mut dyn LocalTokenCounter,
) -> Result<Cow<'c, Case>, String> {
    let (Some(budget), Some(choice)) = (&experiment.budget, experiment.variants[config.variant].budget)
    else {
        return Ok(Cow::Borrowed(case));
    };
    let target = &experiment.targets[config.target];
    let cut = match (config.settings, &target.kind) {
        (Some(settings), TargetKind::Local(model)) => {
            let load = settings.load_request(model.model.path.clone());
            cut_case_variable(budget, choice, case, &mut |text| {
                local_count(&mut *local, &load, text)
            })
        }
        (_, TargetKind::Remote(remote)) => {
            cut_case_variable(budget, choice, case, &mut |text| Ok(hosted_count(remote, text).0))
        }
        _ => return Ok(Cow::Borrowed(case)),
    };
    cut.map(|cut| Cow::Owned(with_cut(budget, case, &cut.text)))
        .map_err(|e| e.to_string())
}

/// Plans every config × case. A prompt that does not render or a model that cannot be read is
/// that cell's `problem`, not a failure of the whole plan.
pub fn preflight(
    experiment: &Experiment,
    prices: &PriceTable,
    local: &mut dyn LocalTokenCounter,
) -> Result<Preflight, TemplateError> {
    let plan = Plan::new(experiment);
    let labels = plan.config_labels(experiment);
    let renderer = PromptRenderer::new(&experiment.variants)?;
    let available = available_memory();
    let mut configs = Vec::new();
    let mut cells = Vec::new();
    let mut total_cost: Option<f64> = None;
    for (index, config) in plan.configs.iter().enumerate() {
        let target = &experiment.targets[config.target];
        let variant = &experiment.variants[config.variant];
        let max_tokens = target.sampling.max_tokens;
        // Local: the model's memory and n_ctx. Remote: the server holds the model; its context
        // window comes from the price table when the model is there.
        let (memory, context) = match (config.settings, &target.kind) {
            (Some(settings), TargetKind::Local(local)) => {
                let memory = crate::models::gguf::read(&local.model.path)
                    .ok()
                    .map(|info| estimate(&info, &settings).total_bytes());
                (memory, Some(settings.n_ctx))
            }
            (None, TargetKind::Remote(remote)) => (
                None,
                prices
                    .lookup(remote.provider.as_str(), &remote.model)
                    .and_then(|e| e.context_window),
            ),
            _ => (None, None),
        };
        configs.push(PlannedConfig {
            config: labels[index].clone(),
            memory_bytes: memory,
            fits_memory: memory.zip(available).map(|(m, a)| m <= a),
        });
        for case in &experiment.cases {
            let counted: Result<TokenCount, String> = budgeted(experiment, config, case, local)
                .and_then(|case| renderer.render(variant, &case).map_err(|e| e.to_string()))
                .and_then(|prompt| match (config.settings, &target.kind) {
                    (Some(settings), TargetKind::Local(target)) => local
                        .count_prompt_tokens(
                            &settings.load_request(target.model.path.clone()),
                            &prompt,
                            &target.chat_template,
                        )
                        .map(|(tokens, _)| TokenCount {
                            tokens,
                            exact: true,
                            counted_by: "llama.cpp".into(),
                        })
                        .map_err(|e| e.to_string()),
                    (None, TargetKind::Remote(remote)) => {
                        Ok(count_hosted(remote.provider, &remote.model, &prompt))
                    }
                    // The plan gives every local config its settings and a remote one none.
                    _ => Err("the config's settings do not match its target's kind".into()),
                });
            let mut cell = PlannedCell {
                config: labels[index].clone(),
                case: case.id.clone(),
                input_tokens: None,
                tokens_estimated: false,
                counted_by: None,
                max_tokens,
                n_ctx: context,
                fits_context: None,
                max_token_cost_usd: None,
                time_priced: target.price.as_ref().is_some_and(|p| p.charges_time()),
                problem: None,
            };
            match counted {
                Ok(count) => {
                    let tokens = count.tokens;
                    cell.input_tokens = Some(tokens);
                    cell.tokens_estimated = !count.exact;
                    cell.counted_by = Some(count.counted_by);
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
    Ok(Preflight {
        runs: plan.total_runs(),
        repetitions: experiment.repetitions,
        configs,
        cells,
        max_token_cost_usd: total_cost,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::execute::engine::LoadRequest;
    use crate::run::RunError;
    use crate::spec::experiment::ChatTemplateChoice;
    use crate::spec::load::{FileFormat, parse_str};
    use crate::spec::prompt::RenderedPrompt;

    struct OneToken;

    impl LocalTokenCounter for OneToken {
        fn count_prompt_tokens(
            &mut self,
            _load: &LoadRequest,
            _prompt: &RenderedPrompt,
            _chat_template: &ChatTemplateChoice,
        ) -> Result<(u32, Vec<String>), RunError> {
            Ok((1, Vec::new()))
        }
    }

    #[test]
    fn the_plan_view_shows_a_template_over_its_limits_as_the_cells_problem_instead_of_spinning() {
        let text = "\
schema: 1
variants:
  - {id: loops, prompt: \"{% for a in items %}{% for b in items %}{% for c in items %}{% endfor %}{% endfor %}{% endfor %}\"}
  - {id: fine, prompt: \"{{ items | length }}\"}
cases:
  - {id: big, vars: {items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
     20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
     43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
     66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88,
     89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
     110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128,
     129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147,
     148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166,
     167, 168, 169, 170, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185,
     186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199]}}
targets:
  - {id: t, model: missing.gguf, n_ctx: 512}
";
        let experiment = parse_str(text, FileFormat::Yaml, "x.yaml", Path::new("/nowhere")).unwrap();
        let prices = PriceTable::builtin(Path::new("/nowhere/prices.json")).unwrap();
        let plan = preflight(&experiment, &prices, &mut OneToken).unwrap();
        let problems: Vec<Option<&str>> = plan.cells.iter().map(|c| c.problem.as_deref()).collect();
        let stopped = problems[0].unwrap_or_default();
        assert!(
            stopped.contains("variant `loops`")
                && stopped.contains("case `big`")
                && stopped.contains("steps"),
            "{stopped}"
        );
        assert_eq!(problems[1], None);
    }

    #[test]
    fn a_target_priced_by_its_time_says_so_instead_of_a_token_cost_bound() {
        let text = "\
schema: 1
variants: [{id: v, prompt: 'Q: {{ q }}'}]
cases: [{id: one, vars: {q: x}}]
targets:
  - {id: hourly, model: m.gguf, price: {per_hour: 0.35}}
  - {id: free, model: m.gguf}
";
        let experiment = parse_str(text, FileFormat::Yaml, "x.yaml", Path::new("/nowhere")).unwrap();
        let prices = PriceTable::builtin(Path::new("/nowhere/prices.json")).unwrap();
        let plan = preflight(&experiment, &prices, &mut OneToken).unwrap();
        let cells: Vec<(bool, Option<f64>)> = plan
            .cells
            .iter()
            .map(|c| (c.time_priced, c.max_token_cost_usd))
            .collect();
        assert_eq!(cells, [(true, None), (false, None)]);
    }
}
