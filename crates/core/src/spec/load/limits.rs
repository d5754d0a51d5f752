//! How big an experiment's plan may be. A file of a few lines can ask for billions of runs
//! (`repetitions: 4294967295`) or a sweep of 100,000 values; the plan's size is computed from
//! the lists' lengths, with saturating arithmetic, and refused before anything proportional to
//! it is allocated or looped over.

use crate::format::thousands;
use crate::spec::experiment::Target;

/// Runs a plan may have unless the caller raises it (`--max-runs`): a day of local runs at one
/// a second, and a large remote sweep.
pub const DEFAULT_MAX_RUNS: u64 = 100_000;

/// Configs (variant × target × swept setting) a plan may have unless the caller raises it
/// (`--max-configs`). Each local config creates a context; a thousand is hours of loading.
pub const DEFAULT_MAX_CONFIGS: u64 = 1_000;

/// The largest plan validation accepts. The CLI raises these with `--max-runs` and
/// `--max-configs`; the desktop app uses the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    pub max_runs: u64,
    pub max_configs: u64,
}

impl Default for PlanLimits {
    fn default() -> Self {
        PlanLimits {
            max_runs: DEFAULT_MAX_RUNS,
            max_configs: DEFAULT_MAX_CONFIGS,
        }
    }
}

impl PlanLimits {
    /// No limit: for an experiment read back from the store, which was within its caller's
    /// limits when it ran.
    pub fn unbounded() -> Self {
        PlanLimits {
            max_runs: u64::MAX,
            max_configs: u64::MAX,
        }
    }
}

/// A plan over its limits: the field that contributes most and what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TooLarge {
    pub field: String,
    pub message: String,
}

/// A product that saturated is past any limit; it is shown as such rather than as a number.
fn count(n: u128) -> String {
    if n == u128::MAX {
        "more than 10^38".to_string()
    } else {
        thousands(n)
    }
}

/// The number of settings combinations of a target, from its lists' lengths (one for a remote
/// target), with the swept field that has the most values.
fn settings_count(target: &Target) -> (u128, &'static str, usize) {
    let Some(local) = target.local() else {
        return (1, "", 1);
    };
    let sweeps = local.sweep_lengths();
    let product = sweeps
        .iter()
        .fold(1u128, |acc, (_, len)| acc.saturating_mul(*len as u128));
    let (field, len) = sweeps
        .iter()
        .copied()
        .max_by_key(|(_, len)| *len)
        .unwrap_or(("n_ctx", 1));
    (product, field, len)
}

/// Refuses a plan with more configs or runs than `limits` allow.
pub(super) fn check_plan_size(
    variants: usize,
    targets: &[Target],
    cases: usize,
    repetitions: u32,
    limits: &PlanLimits,
) -> Result<(), TooLarge> {
    let per_target: Vec<(u128, &str, usize)> = targets.iter().map(settings_count).collect();
    let settings = per_target
        .iter()
        .fold(0u128, |acc, (count, _, _)| acc.saturating_add(*count));
    let configs = (variants as u128).saturating_mul(settings);
    // The sweep with the most values is what to shorten, unless the variants are more.
    let widest = per_target
        .iter()
        .enumerate()
        .filter(|(_, (_, field, _))| !field.is_empty())
        .max_by_key(|(_, (_, _, len))| *len)
        .map(|(index, (_, field, len))| (format!("targets[{index}].{field}"), *len));
    let configs_field = match widest {
        Some((field, len)) if len > variants => field,
        _ => "variants".to_string(),
    };
    if configs > u128::from(limits.max_configs) {
        return Err(TooLarge {
            field: configs_field,
            message: format!(
                "the plan has {} variants × {} target settings = {} configs; the limit is {} \
                 (raise it with --max-configs)",
                thousands(variants as u64),
                count(settings),
                count(configs),
                thousands(limits.max_configs)
            ),
        });
    }
    let runs = configs
        .saturating_mul(cases as u128)
        .saturating_mul(u128::from(repetitions));
    if runs > u128::from(limits.max_runs) {
        let largest = [
            (u128::from(repetitions), "repetitions".to_string()),
            (cases as u128, "cases".to_string()),
            (configs, configs_field),
        ]
        .into_iter()
        .max_by_key(|(n, _)| *n)
        .map(|(_, field)| field)
        .unwrap_or_default();
        return Err(TooLarge {
            field: largest,
            message: format!(
                "the plan has {} configs × {} cases × {} repetitions = {} runs; the limit is {} \
                 (raise it with --max-runs)",
                count(configs),
                thousands(cases as u64),
                thousands(repetitions),
                count(runs),
                thousands(limits.max_runs)
            ),
        });
    }
    Ok(())
}
