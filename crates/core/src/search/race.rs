//! Racing's decisions, apart from running anything: every config's pass rate over the cases
//! seen so far, bounded by a confidence sequence (`stats::confidence_sequence`) that targets the
//! pass rate the full grid would measure, and the rules that drop a config once it is
//! confidently out under the objective.
//!
//! With K configs each sequence runs at (1 − confidence)/K, so all K hold together, at every
//! round, with probability ≥ confidence. While they hold, no rule below drops the config the
//! grid would pick: racing then picks what the grid picks.

use crate::execute::search_log::Elimination;
use crate::spec::objective::{Constraint, Metric, Objective, ObjectiveError, Op, OrderWord};
use crate::stats::confidence_sequence::{Bounds, MeanSequence};

/// What racing may drop a config for, read from the objective.
#[derive(Debug, Clone, PartialEq)]
pub struct RaceRules {
    /// The objective's `pass_rate` constraints.
    pass_rate: Vec<Constraint>,
    /// Drop a config whose pass rate is confidently below a leader's: only when the objective
    /// ranks by quality first and every constraint is one racing can bound (a leader whose
    /// latency might fail a constraint could still lose to the config dropped).
    leader: bool,
    /// Why the leader rule is off, for the report.
    pub leader_off: Option<String>,
}

impl RaceRules {
    pub fn of(objective: &Objective) -> Result<RaceRules, ObjectiveError> {
        let constraints = objective.parsed_constraints()?;
        let pass_rate = constraints
            .iter()
            .filter(|c| c.metric == Metric::PassRate)
            .copied()
            .collect();
        let unbounded: Vec<String> = constraints
            .iter()
            .filter(|c| c.metric != Metric::PassRate)
            .map(|c| c.to_string())
            .collect();
        let leader_off = if objective.order.first() != Some(&OrderWord::BestScore) {
            Some("the objective does not rank by quality first".to_string())
        } else if !unbounded.is_empty() {
            Some(format!("{} cannot be bounded while racing", unbounded.join(", ")))
        } else {
            None
        };
        Ok(RaceRules {
            pass_rate,
            leader: leader_off.is_none(),
            leader_off,
        })
    }

    /// A constraint the bounds show the config cannot meet over all cases.
    fn fails(&self, bounds: Bounds) -> Option<String> {
        self.pass_rate.iter().find_map(|c| {
            let out = match c.op {
                Op::Ge => bounds.upper < c.value,
                Op::Gt => bounds.upper <= c.value,
                Op::Le => bounds.lower > c.value,
                Op::Lt => bounds.lower >= c.value,
            };
            out.then(|| c.to_string())
        })
    }

    /// Whether the bounds show the config meets every pass-rate constraint over all cases.
    fn surely_meets(&self, bounds: Bounds) -> bool {
        self.pass_rate.iter().all(|c| match c.op {
            Op::Ge => bounds.lower >= c.value,
            Op::Gt => bounds.lower > c.value,
            Op::Le => bounds.upper <= c.value,
            Op::Lt => bounds.upper < c.value,
        })
    }
}

/// Every config's pass rate as a race sees it, and which configs are still in.
#[derive(Debug, Clone)]
pub struct Race {
    rules: RaceRules,
    labels: Vec<String>,
    confidence: f64,
    sequences: Vec<MeanSequence>,
    alive: Vec<bool>,
}

impl Race {
    /// A race of `labels.len()` configs over `cases` checked cases of `repetitions` each.
    pub fn new(
        labels: Vec<String>,
        cases: usize,
        repetitions: u32,
        confidence: f64,
        rules: RaceRules,
    ) -> Race {
        let alpha = (1.0 - confidence) / labels.len().max(1) as f64;
        Race {
            rules,
            sequences: vec![MeanSequence::new(cases, repetitions, alpha); labels.len()],
            alive: vec![true; labels.len()],
            labels,
            confidence,
        }
    }

    pub fn rules(&self) -> &RaceRules {
        &self.rules
    }

    /// Configs still in, by position.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.alive.len()).filter(|&c| self.alive[c]).collect()
    }

    pub fn is_alive(&self, config: usize) -> bool {
        self.alive.get(config).copied().unwrap_or(false)
    }

    /// The next case of `config`: the share of its repetitions that passed. Cases must come in
    /// the race's draw order, the same for every config.
    pub fn observe(&mut self, config: usize, passed_share: f64) {
        if let Some(sequence) = self.sequences.get_mut(config) {
            sequence.observe(passed_share);
        }
    }

    pub fn bounds(&self, config: usize) -> Bounds {
        self.sequences[config].bounds()
    }

    /// Drops every config that is confidently out after `round`, and says why.
    pub fn eliminate(&mut self, round: u32) -> Vec<Elimination> {
        let percent = self.percent();
        let mut dropped = Vec::new();
        for config in self.alive() {
            let bounds = self.bounds(config);
            if let Some(constraint) = self.rules.fails(bounds) {
                dropped.push(self.drop(
                    config,
                    round,
                    format!(
                        "pass rate between {:.3} and {:.3} at {percent}: cannot meet {constraint}",
                        bounds.lower, bounds.upper
                    ),
                ));
            }
        }
        if self.rules.leader {
            // The leader must surely meet the constraints, or it might not be in the grid's
            // ranking at all.
            let leader = self
                .alive()
                .into_iter()
                .filter(|&c| self.rules.surely_meets(self.bounds(c)))
                .max_by(|&a, &b| self.bounds(a).lower.total_cmp(&self.bounds(b).lower));
            if let Some(leader) = leader {
                let floor = self.bounds(leader).lower;
                for config in self.alive() {
                    let upper = self.bounds(config).upper;
                    if config != leader && upper < floor {
                        dropped.push(self.drop(
                            config,
                            round,
                            format!(
                                "pass rate ≤ {upper:.3} at {percent}, below {}'s ≥ {floor:.3}",
                                self.labels[leader]
                            ),
                        ));
                    }
                }
            }
        }
        dropped
    }

    fn drop(&mut self, config: usize, round: u32, reason: String) -> Elimination {
        self.alive[config] = false;
        Elimination {
            config,
            round,
            reason,
            cases_run: self.sequences[config].seen() as u32,
        }
    }

    /// The one config left, when it surely meets the constraints: racing can stop there.
    pub fn sole_survivor(&self) -> Option<usize> {
        match self.alive().as_slice() {
            [only] if self.rules.surely_meets(self.bounds(*only)) => Some(*only),
            _ => None,
        }
    }

    /// How sure the pick among the configs left is, in words.
    pub fn sureness(&self) -> String {
        let percent = self.percent();
        let alive = self.alive();
        let best = alive
            .iter()
            .copied()
            .max_by(|&a, &b| self.bounds(a).lower.total_cmp(&self.bounds(b).lower));
        match (alive.len(), best) {
            (0, _) | (_, None) => format!("no config can meet the constraints (each at {percent})"),
            (1, Some(only)) => format!(
                "{} is the only config left; its pass rate is between {:.3} and {:.3} at {percent}",
                self.labels[only],
                self.bounds(only).lower,
                self.bounds(only).upper
            ),
            (n, Some(best)) => {
                let floor = self.bounds(best).lower;
                if alive.iter().all(|&c| c == best || self.bounds(c).upper < floor) {
                    format!("{} leads every other config left at {percent}", self.labels[best])
                } else {
                    format!(
                        "{n} configs left that the pass rate does not separate at {percent}; the objective's order decides among them on their runs"
                    )
                }
            }
        }
    }

    fn percent(&self) -> String {
        format!("{}% confidence", (self.confidence * 1000.0).round() / 10.0)
    }
}
