//! Matrix expansion: an experiment becomes configs (variant × target × n_ctx) and runs
//! (config × case × repetition), in the order they should execute.

use serde::{Deserialize, Serialize};

use crate::experiment::Experiment;

/// One point of the matrix. Indices refer to the experiment's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub variant: usize,
    pub target: usize,
    pub n_ctx: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRun {
    pub config: usize,
    pub case: usize,
    /// 0-based.
    pub repetition: u32,
}

/// Runs that share one loaded model and one llama.cpp context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextGroup {
    pub target: usize,
    pub n_ctx: u32,
    pub runs: Vec<PlannedRun>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In report order: variant, then target, then n_ctx.
    pub configs: Vec<Config>,
    /// In execution order.
    pub groups: Vec<ContextGroup>,
}

impl Plan {
    pub fn new(experiment: &Experiment) -> Plan {
        let mut configs = Vec::new();
        for variant in 0..experiment.variants.len() {
            for (target, spec) in experiment.targets.iter().enumerate() {
                for &n_ctx in &spec.n_ctx {
                    configs.push(Config {
                        variant,
                        target,
                        n_ctx,
                    });
                }
            }
        }
        // Execution order keeps one model and one context loaded as long as possible, and inside
        // a context interleaves variants and cases repetition by repetition, so a slow drift of
        // the machine (thermal, background load) spreads over every config instead of biasing
        // whichever config happened to run last.
        let mut groups = Vec::new();
        for (target, spec) in experiment.targets.iter().enumerate() {
            for &n_ctx in &spec.n_ctx {
                let mut runs = Vec::new();
                for repetition in 0..experiment.repetitions {
                    for (config, c) in configs.iter().enumerate() {
                        if c.target != target || c.n_ctx != n_ctx {
                            continue;
                        }
                        for case in 0..experiment.cases.len() {
                            runs.push(PlannedRun {
                                config,
                                case,
                                repetition,
                            });
                        }
                    }
                }
                groups.push(ContextGroup { target, n_ctx, runs });
            }
        }
        Plan { configs, groups }
    }

    pub fn total_runs(&self) -> usize {
        self.groups.iter().map(|g| g.runs.len()).sum()
    }
}
