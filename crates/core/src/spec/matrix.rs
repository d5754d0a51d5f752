//! Matrix expansion: an experiment becomes configs (variant × target × the target's swept
//! settings) and runs (config × case × repetition), in the order they should execute.

use serde::{Deserialize, Serialize};

use crate::spec::experiment::Experiment;
use crate::spec::target::LocalSettings;

/// One point of the matrix. Indices refer to the experiment's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub variant: usize,
    pub target: usize,
    /// `None` for a remote target, which has no local settings.
    pub settings: Option<LocalSettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRun {
    pub config: usize,
    pub case: usize,
    /// 0-based.
    pub repetition: u32,
}

/// Runs that share one loaded model and one llama.cpp context, or all runs of a remote target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextGroup {
    pub target: usize,
    pub settings: Option<LocalSettings>,
    pub runs: Vec<PlannedRun>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In report order: variant, then target, then the target's settings.
    pub configs: Vec<Config>,
    /// In execution order.
    pub groups: Vec<ContextGroup>,
}

impl Plan {
    pub fn new(experiment: &Experiment) -> Plan {
        let target_settings: Vec<Vec<Option<LocalSettings>>> =
            experiment.targets.iter().map(|t| t.config_settings()).collect();
        let mut configs = Vec::new();
        for variant in 0..experiment.variants.len() {
            for (target, settings) in target_settings.iter().enumerate() {
                for &settings in settings {
                    configs.push(Config {
                        variant,
                        target,
                        settings,
                    });
                }
            }
        }
        // Execution order keeps one model and one context loaded as long as possible, and inside
        // a context interleaves variants and cases repetition by repetition, so a slow drift of
        // the machine (thermal, background load) spreads over every config instead of biasing
        // whichever config happened to run last.
        let per_variant: usize = target_settings.iter().map(Vec::len).sum();
        let mut groups = Vec::new();
        let mut position = 0;
        for (target, settings) in target_settings.iter().enumerate() {
            for &settings in settings {
                // The group's configs (one per variant) by their place in `configs`: scanning
                // every config for every group is quadratic in a large sweep.
                let members: Vec<usize> = (0..experiment.variants.len())
                    .map(|variant| variant * per_variant + position)
                    .collect();
                position += 1;
                let mut runs = Vec::new();
                for repetition in 0..experiment.repetitions {
                    for &config in &members {
                        for case in 0..experiment.cases.len() {
                            runs.push(PlannedRun {
                                config,
                                case,
                                repetition,
                            });
                        }
                    }
                }
                groups.push(ContextGroup {
                    target,
                    settings,
                    runs,
                });
            }
        }
        Plan { configs, groups }
    }

    /// The same configs with only the runs `keep` accepts, in the same order (resuming, one
    /// stage of a policy run).
    pub fn only(&self, keep: impl Fn(&PlannedRun) -> bool) -> Plan {
        let groups = self
            .groups
            .iter()
            .filter_map(|group| {
                let runs: Vec<PlannedRun> = group.runs.iter().copied().filter(|run| keep(run)).collect();
                (!runs.is_empty()).then(|| ContextGroup {
                    runs,
                    ..group.clone()
                })
            })
            .collect();
        Plan {
            configs: self.configs.clone(),
            groups,
        }
    }

    pub fn total_runs(&self) -> usize {
        self.groups.iter().map(|g| g.runs.len()).sum()
    }

    /// `variant · target · settings` for every config, naming only the settings that vary.
    pub fn config_labels(&self, experiment: &Experiment) -> Vec<String> {
        let settings: Vec<Option<LocalSettings>> = self.configs.iter().map(|c| c.settings).collect();
        let targets: Vec<&crate::spec::experiment::Target> = self
            .configs
            .iter()
            .map(|c| &experiment.targets[c.target])
            .collect();
        settings_labels(&settings, &targets)
            .into_iter()
            .zip(&self.configs)
            .map(|(label, c)| {
                format!(
                    "{} · {} · {label}",
                    experiment.variants[c.variant].id, experiment.targets[c.target].id
                )
            })
            .collect()
    }
}

/// The settings part of config labels: local settings named as [`LocalSettings::labels`] does
/// (among the local configs only), a remote config by its provider and model.
pub fn settings_labels(
    settings: &[Option<LocalSettings>],
    targets: &[&crate::spec::experiment::Target],
) -> Vec<String> {
    let local: Vec<LocalSettings> = settings.iter().flatten().copied().collect();
    let mut local_labels = LocalSettings::labels(&local).into_iter();
    settings
        .iter()
        .zip(targets)
        .map(|(s, target)| match (s, target.remote()) {
            (Some(_), _) => local_labels.next().unwrap_or_default(),
            (None, Some(remote)) => remote.label(),
            (None, None) => String::new(),
        })
        .collect()
}
