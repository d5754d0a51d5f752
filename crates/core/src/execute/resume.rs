//! Resuming an experiment whose process ended before its plan did: the runs of the plan that
//! are not recorded yet, and how an unfinished experiment's status reads.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::spec::matrix::{Plan, PlannedRun};

/// The plan with only the runs not in `recorded`, in the same execution order. Configs keep
/// their positions, so every run still maps to the rows the experiment already has; groups left
/// without runs are dropped, so nothing is loaded for them.
pub fn missing_runs(plan: &Plan, recorded: &[PlannedRun]) -> Plan {
    let key = |run: &PlannedRun| (run.config, run.case, run.repetition);
    let recorded: HashSet<(usize, usize, u32)> = recorded.iter().map(key).collect();
    plan.only(|run| !recorded.contains(&key(run)))
}

/// Where a recorded experiment stands. Stored as its snake_case name; every reader shows it
/// through the store's status rule (a `running` experiment whose process is gone reads
/// `interrupted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    /// Its process is recording runs.
    Running,
    /// Every planned run is recorded.
    Completed,
    /// Stopped by the user; `run --resume` runs the rest.
    Cancelled,
    /// Its process ended before the plan did; `run --resume` runs the rest.
    Interrupted,
}

impl ExperimentStatus {
    pub const ALL: [ExperimentStatus; 4] = [
        ExperimentStatus::Running,
        ExperimentStatus::Completed,
        ExperimentStatus::Cancelled,
        ExperimentStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentStatus::Running => "running",
            ExperimentStatus::Completed => "completed",
            ExperimentStatus::Cancelled => "cancelled",
            ExperimentStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<ExperimentStatus> {
        ExperimentStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for ExperimentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `interrupted — 31 of 48 runs recorded`: a status with how far the plan got, for every status
/// but `completed` (whose runs are all there).
pub fn status_text(status: ExperimentStatus, recorded: usize, planned: usize) -> String {
    if status == ExperimentStatus::Completed || planned == 0 {
        return status.to_string();
    }
    format!("{status} — {recorded} of {planned} runs recorded")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::load::{FileFormat, parse_str};

    fn plan() -> Plan {
        let experiment = parse_str(
            "schema: 1
variants: [{id: a, prompt: 'A {{ x }}'}, {id: b, prompt: 'B {{ x }}'}]
cases: [{vars: {x: '1'}}, {vars: {x: '2'}}]
targets: [{id: t, model: m.gguf, n_ctx: [256, 512]}]
repetitions: 2
",
            FileFormat::Yaml,
            "r.yaml",
            Path::new("/m"),
        )
        .unwrap();
        Plan::new(&experiment)
    }

    #[test]
    fn missing_runs_are_the_plan_without_the_recorded_ones_in_the_same_order() {
        let plan = plan();
        let all: Vec<PlannedRun> = plan.groups.iter().flat_map(|g| g.runs.clone()).collect();
        let recorded: Vec<PlannedRun> = all.iter().step_by(3).copied().collect();
        let missing = missing_runs(&plan, &recorded);
        let left: Vec<PlannedRun> = missing.groups.iter().flat_map(|g| g.runs.clone()).collect();
        let expected: Vec<PlannedRun> = all.iter().filter(|r| !recorded.contains(r)).copied().collect();
        assert_eq!(left, expected);
        assert_eq!(missing.configs, plan.configs);
        assert_eq!(missing.total_runs() + recorded.len(), plan.total_runs());
    }

    #[test]
    fn a_group_whose_runs_are_all_recorded_is_dropped() {
        let plan = plan();
        let missing = missing_runs(&plan, &plan.groups[0].runs);
        assert_eq!(missing.groups.len(), plan.groups.len() - 1);
        assert_eq!(missing.groups[0], plan.groups[1]);
        assert_eq!(missing_runs(&plan, &[]).groups, plan.groups);
    }

    #[test]
    fn an_unfinished_status_says_how_many_runs_are_recorded() {
        assert_eq!(
            status_text(ExperimentStatus::Interrupted, 31, 48),
            "interrupted — 31 of 48 runs recorded"
        );
        assert_eq!(status_text(ExperimentStatus::Completed, 48, 48), "completed");
    }
}
