//! An experiment as the store keeps it: the file as the user wrote it, and the facts that are
//! not in it — what validation read around it (`Surroundings`) and what resolution added
//! (prices from the table, model hashes). Reading it back validates the file again in its
//! recorded surroundings and applies the facts, which gives the experiment that ran, on any
//! machine, without the store keeping the domain types.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::spec::cost::Price;
use crate::spec::experiment::{Experiment, ExperimentError, Problem, Target, TargetKind, Written};
use crate::spec::file::ExperimentFile;
use crate::spec::load::validate_written;
use crate::spec::surroundings::Surroundings;

/// An experiment's file and its facts, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub file: ExperimentFile,
    pub facts: RecordedFacts,
}

/// What the experiment file does not say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedFacts {
    /// The name errors give the file.
    pub origin: String,
    /// The file's absolute path, when the experiment came from one.
    pub source: Option<PathBuf>,
    pub surroundings: Surroundings,
    /// One entry per target, in order.
    pub targets: Vec<ResolvedTarget>,
    /// One entry per grader, in order.
    pub graders: Vec<ResolvedTarget>,
}

/// The facts `spec::resolve` gave a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedTarget {
    pub price: Option<Price>,
    pub price_source: Option<String>,
    pub model_sha256: Option<String>,
}

impl ResolvedTarget {
    fn of(target: &Target) -> Self {
        ResolvedTarget {
            price: target.price.clone(),
            price_source: target.price_source.clone(),
            model_sha256: target.local().and_then(|l| l.model_sha256.clone()),
        }
    }

    fn apply(self, target: &mut Target) {
        target.price = self.price;
        target.price_source = self.price_source;
        if let TargetKind::Local(local) = &mut target.kind {
            local.model_sha256 = self.model_sha256;
        }
    }
}

impl Recorded {
    /// What to store of a validated (and resolved) experiment; `None` for one read from a
    /// database older than this record, which has no file to keep.
    pub fn of(experiment: &Experiment) -> Option<Recorded> {
        let written = experiment.written.as_ref()?;
        Some(Recorded {
            file: written.file.clone(),
            facts: RecordedFacts {
                origin: written.origin.clone(),
                source: experiment.source.clone(),
                surroundings: written.surroundings.clone(),
                targets: experiment.targets.iter().map(ResolvedTarget::of).collect(),
                graders: experiment.graders.iter().map(ResolvedTarget::of).collect(),
            },
        })
    }

    /// The experiment that was recorded. Fails, saying why, when this version no longer accepts
    /// the file; what was recorded of its runs stays readable through the report.
    pub fn experiment(self) -> Result<Experiment, ExperimentError> {
        let Recorded { file, facts } = self;
        let written = Written {
            file,
            origin: facts.origin,
            surroundings: facts.surroundings,
        };
        let mut experiment = validate_written(&written)?;
        experiment.source = facts.source;
        experiment.written = Some(written);
        let mismatch = |what: &str, facts: usize, file: usize| {
            ExperimentError::Invalid(Problem {
                file: experiment.name.clone(),
                line: None,
                column: None,
                field: Some(what.to_string()),
                message: format!("the recorded facts name {facts} {what}, the recorded file {file}"),
            })
        };
        if facts.targets.len() != experiment.targets.len() {
            return Err(mismatch("targets", facts.targets.len(), experiment.targets.len()));
        }
        if facts.graders.len() != experiment.graders.len() {
            return Err(mismatch("graders", facts.graders.len(), experiment.graders.len()));
        }
        for (target, resolved) in experiment.targets.iter_mut().zip(facts.targets) {
            resolved.apply(target);
        }
        for (grader, resolved) in experiment.graders.iter_mut().zip(facts.graders) {
            resolved.apply(grader);
        }
        Ok(experiment)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::load::{FileFormat, parse_str};
    use crate::spec::pricing::PriceTable;
    use crate::spec::resolve::{Facts, resolve};

    #[test]
    fn a_recorded_experiment_reads_back_as_the_experiment_that_ran_even_on_another_machine() {
        let experiment = parse_str(
            "schema: 1
variants: [{id: v, prompt: 'Q: {{ q }}'}]
cases: [{vars: {q: x}}]
targets:
  - {id: local, model: m.gguf}
  - {id: hosted, provider: openai, model: gpt-4o-mini}
",
            FileFormat::Yaml,
            "r.yaml",
            Path::new("/models"),
        )
        .unwrap();
        let prices = PriceTable::builtin(Path::new("/nowhere/prices.json")).unwrap();
        let hashes = [Some("ab".repeat(32))];
        let resolved = resolve(
            experiment,
            &Facts {
                prices: &prices,
                model_sha256: &hashes,
            },
        );
        let recorded = Recorded::of(&resolved).unwrap();
        let stored = |recorded: &Recorded| Recorded {
            file: recorded.file.clone(),
            facts: serde_json::from_str(&serde_json::to_string(&recorded.facts).unwrap()).unwrap(),
        };
        let again = stored(&recorded).experiment().unwrap();
        assert_eq!(again, resolved);
        assert!(
            again.targets[1].price_source.is_some(),
            "the table's price is a recorded fact"
        );

        // Recorded on a 64-core machine: read here, its local target keeps the 64 threads it ran
        // with, which this machine could not have run, and is not refused for them.
        let mut elsewhere = recorded.clone();
        elsewhere.facts.surroundings.default_threads = 64;
        elsewhere.facts.surroundings.max_threads = Some(256);
        let there = stored(&elsewhere).experiment().unwrap();
        assert_eq!(there.targets[0].local().unwrap().threads, vec![64]);
    }
}
