//! Which config or routing policy wins: an experiment's objective applied to a report's configs
//! and to the policies simulated on its recorded runs. Constraints exclude candidates; order
//! words rank the rest, earlier words first. The Pareto front over quality, cost and p95 latency
//! shows the trade-offs the order settles.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::analyze::report::{ConfigSummary, Report};
use crate::analyze::routing::Outcome;
use crate::spec::objective::{Constraint, Metric, Objective, ObjectiveError, Op, OrderWord};

/// What competes for the win: a config (its index in the report) or a routing policy (its index
/// in the simulated policies given to [`decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Candidate {
    Config(usize),
    Policy(usize),
}

/// The figures an objective reads: a config's measured summary, or a policy's simulation on
/// the same recorded runs (whose single-config figures equal the summary's).
pub trait Measured {
    fn metric(&self, metric: Metric) -> Option<f64>;
    /// Why it cannot compete at all, before any constraint.
    fn unusable(&self) -> Option<String>;
}

impl Measured for ConfigSummary {
    fn metric(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::PassRate => self.pass_rate,
            Metric::ScoreMean => self.score_mean,
            Metric::ErrorRate => (self.runs > 0).then(|| self.errors as f64 / self.runs as f64),
            Metric::P50LatencyMs => self.latency_p50_ms,
            Metric::P95LatencyMs => self.latency_p95_ms,
            Metric::P99LatencyMs => self.latency_p99_ms,
            Metric::TtftP50Ms => self.ttft_p50_ms,
            Metric::TtftP95Ms => self.ttft_p95_ms,
            Metric::CostPerRunUsd => self.cost_per_run_usd,
            Metric::CostPer1kUsd => self.cost_per_1k_usd,
            Metric::AggregateTokensPerS => self.aggregate_tokens_per_s,
        }
    }

    fn unusable(&self) -> Option<String> {
        if let Some(dropped) = &self.eliminated {
            return Some(format!(
                "dropped by the search in round {} after {} cases: {}",
                dropped.round, dropped.cases_run, dropped.reason
            ));
        }
        (self.runs == self.errors).then(|| "no successful run".to_string())
    }
}

/// A policy answers one request with several calls at most: its cost per run is its cost per
/// request. Mean score and batch throughput are figures of a config's runs, not of a policy.
impl Measured for Outcome {
    fn metric(&self, metric: Metric) -> Option<f64> {
        let estimate = match metric {
            Metric::PassRate => self.pass_rate,
            Metric::ErrorRate => self.error_rate,
            Metric::P50LatencyMs => self.latency_p50_ms,
            Metric::P95LatencyMs => self.latency_p95_ms,
            Metric::P99LatencyMs => self.latency_p99_ms,
            Metric::TtftP50Ms => self.ttft_p50_ms,
            Metric::TtftP95Ms => self.ttft_p95_ms,
            Metric::CostPer1kUsd => self.cost_per_1k_usd,
            Metric::CostPerRunUsd => return self.cost_per_1k_usd.map(|e| e.value / 1000.0),
            Metric::ScoreMean | Metric::AggregateTokensPerS => None,
        };
        estimate.map(|e| e.value)
    }

    fn unusable(&self) -> Option<String> {
        if let Some(reason) = &self.incomplete {
            return Some(format!("not simulated: {reason}"));
        }
        (self.error_rate.map(|e| e.value) == Some(1.0)).then(|| "no successful answer".to_string())
    }
}

impl Constraint {
    /// Whether the candidate meets it; a metric it lacks (no checks, no price) does not.
    pub fn holds(&self, s: &dyn Measured) -> Option<f64> {
        let value = s.metric(self.metric)?;
        let ok = match self.op {
            Op::Le => value <= self.value,
            Op::Lt => value < self.value,
            Op::Ge => value >= self.value,
            Op::Gt => value > self.value,
        };
        ok.then_some(value)
    }
}

/// A candidate the constraints excluded, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    pub candidate: Candidate,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Candidates that meet every constraint, best first.
    pub ranking: Vec<Candidate>,
    pub excluded: Vec<Excluded>,
    /// Candidates no other beats on quality, cost and p95 latency at once.
    pub pareto_front: Vec<Candidate>,
}

impl Decision {
    pub fn winner(&self) -> Option<Candidate> {
        self.ranking.first().copied()
    }

    pub fn runner_up(&self) -> Option<Candidate> {
        self.ranking.get(1).copied()
    }
}

/// Applies `objective` to a report's configs and to `policies` simulated on its runs
/// (`analyze::routing::simulate`; empty: configs only).
pub fn decide(
    report: &Report,
    policies: &[Outcome],
    objective: &Objective,
) -> Result<Decision, ObjectiveError> {
    let constraints = objective.parsed_constraints()?;
    let candidates: Vec<(Candidate, &dyn Measured)> = report
        .configs
        .iter()
        .enumerate()
        .map(|(i, c)| (Candidate::Config(i), c as &dyn Measured))
        .chain(
            policies
                .iter()
                .enumerate()
                .map(|(i, p)| (Candidate::Policy(i), p as &dyn Measured)),
        )
        .collect();
    let mut ranking = Vec::new();
    let mut excluded = Vec::new();
    let mut usable = Vec::new();
    for &(candidate, measured) in &candidates {
        if let Some(reason) = measured.unusable() {
            excluded.push(Excluded { candidate, reason });
            continue;
        }
        usable.push((candidate, measured));
        match constraints.iter().find(|c| c.holds(measured).is_none()) {
            Some(failed) => excluded.push(Excluded {
                candidate,
                reason: match measured.metric(failed.metric) {
                    Some(value) => format!("{failed} fails: {} is {value:.4}", failed.metric.name()),
                    None => format!("{failed} fails: {} is not measured", failed.metric.name()),
                },
            }),
            None => ranking.push((candidate, measured)),
        }
    }
    ranking.sort_by(|(_, a), (_, b)| rank(*a, *b, &objective.order));
    let pareto_front = usable
        .iter()
        .filter(|(_, i)| !usable.iter().any(|(_, j)| dominates(*j, *i)))
        .map(|(candidate, _)| *candidate)
        .collect();
    Ok(Decision {
        ranking: ranking.into_iter().map(|(candidate, _)| candidate).collect(),
        excluded,
        pareto_front,
    })
}

/// Every config of `summaries`, best first under `objective`: those that meet its constraints,
/// then the others, each part in the objective's order. Successive halving keeps the head.
pub fn rank_all(summaries: &[ConfigSummary], objective: &Objective) -> Result<Vec<usize>, ObjectiveError> {
    let constraints = objective.parsed_constraints()?;
    let meets: Vec<bool> = summaries
        .iter()
        .map(|s| s.unusable().is_none() && constraints.iter().all(|c| c.holds(s).is_some()))
        .collect();
    let mut positions: Vec<usize> = (0..summaries.len()).collect();
    positions.sort_by(|&a, &b| {
        meets[b]
            .cmp(&meets[a])
            .then_with(|| rank(&summaries[a], &summaries[b], &objective.order))
    });
    Ok(positions)
}

/// Lower first; a missing value sorts last.
fn ascending(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn rank(a: &dyn Measured, b: &dyn Measured, order: &[OrderWord]) -> Ordering {
    let by = |metric: Metric| ascending(a.metric(metric), b.metric(metric));
    let reversed = |metric: Metric| ascending(b.metric(metric), a.metric(metric));
    for word in order {
        let ordering = match word {
            OrderWord::Cheapest => by(Metric::CostPerRunUsd),
            OrderWord::Fastest => by(Metric::P95LatencyMs),
            OrderWord::BestScore => reversed(Metric::PassRate).then_with(|| reversed(Metric::ScoreMean)),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

/// Quality (pass rate, else mean score) higher is better; cost and p95 latency lower are.
fn axes(s: &dyn Measured) -> [Option<f64>; 3] {
    [
        s.metric(Metric::PassRate)
            .or(s.metric(Metric::ScoreMean))
            .map(|q| -q),
        s.metric(Metric::CostPerRunUsd),
        s.metric(Metric::P95LatencyMs),
    ]
}

/// `a` is at least as good on every axis both have and strictly better on one.
fn dominates(a: &dyn Measured, b: &dyn Measured) -> bool {
    let mut better = false;
    for (x, y) in axes(a).into_iter().zip(axes(b)) {
        match (x, y) {
            (Some(x), Some(y)) if x > y => return false,
            (Some(x), Some(y)) if x < y => better = true,
            _ => {}
        }
    }
    better
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::environment::Environment;
    use crate::spec::target::{KvType, LocalSettings};

    fn config(variant: &str, pass_rate: Option<f64>, cost: Option<f64>, p95: f64) -> ConfigSummary {
        ConfigSummary {
            variant: variant.into(),
            target: "t".into(),
            settings: Some(LocalSettings {
                n_ctx: 512,
                threads: 2,
                batch: 512,
                kv_type: KvType::F16,
                n_gpu_layers: 0,
                parallel: 1,
                prefix_cache: false,
            }),
            settings_label: "n_ctx 512".into(),
            runs: 10,
            errors: 0,
            latency_p50_ms: Some(p95 * 0.8),
            latency_p95_ms: Some(p95),
            latency_p99_ms: Some(p95),
            latency_mean_ms: Some(p95 * 0.8),
            latency_sd_ms: Some(1.0),
            ttft_p50_ms: None,
            ttft_p95_ms: None,
            prompt_tokens_per_s_mean: None,
            gen_tokens_per_s_mean: None,
            input_tokens_mean: None,
            output_tokens_mean: None,
            kv_cache_bytes: None,
            peak_rss_bytes_max: None,
            pass_rate,
            score_mean: pass_rate,
            consistency_similarity: None,
            consistency_exact_rate: None,
            cost_per_run_usd: cost,
            cost_per_1k_usd: cost.map(|c| c * 1000.0),
            model_load_ms: None,
            context_create_ms: None,
            aggregate_tokens_per_s: None,
            cache_hits: 0,
            cache_saved_ms: None,
            cache_saved_usd: None,
            eliminated: None,
            warm_runs: 0,
            contended_runs: 0,
            cached_tokens_mean: None,
            ttft_saved_ms_estimate: None,
            ttft_p50_saved_vs_cold_ms: None,
        }
    }

    fn report(configs: Vec<ConfigSummary>) -> Report {
        Report {
            experiment_id: 1,
            name: "e".into(),
            source: None,
            created_at: String::new(),
            finished_at: None,
            status: crate::execute::resume::ExperimentStatus::Completed,
            planned_runs: 0,
            environment: Environment::detect(None),
            targets: vec![],
            configs,
            runs: vec![],
            comparison: None,
            search: None,
            grading: vec![],
            judgements: vec![],
        }
    }

    fn objective(constraints: &[&str], order: &[OrderWord]) -> Objective {
        Objective {
            constraints: constraints.iter().map(|c| c.to_string()).collect(),
            order: order.to_vec(),
        }
    }

    #[test]
    fn constraints_exclude_and_order_words_rank_the_rest() {
        let r = report(vec![
            config("accurate-slow", Some(1.0), Some(0.004), 900.0),
            config("good-fast", Some(0.95), Some(0.002), 400.0),
            config("cheap-bad", Some(0.5), Some(0.001), 300.0),
            config("good-cheap", Some(0.92), Some(0.001), 600.0),
        ]);
        let d = decide(
            &r,
            &[],
            &objective(
                &["pass_rate >= 0.9", "p95_latency_ms <= 800"],
                &[OrderWord::Cheapest, OrderWord::Fastest],
            ),
        )
        .unwrap();
        assert_eq!(d.ranking, [Candidate::Config(3), Candidate::Config(1)]);
        assert_eq!(d.winner(), Some(Candidate::Config(3)));
        assert_eq!(d.runner_up(), Some(Candidate::Config(1)));
        assert_eq!(d.excluded.len(), 2);
        assert!(
            d.excluded[0].reason.contains("p95_latency_ms <= 800 fails"),
            "{:?}",
            d.excluded
        );
        assert!(
            d.excluded[1].reason.contains("pass_rate >= 0.9 fails"),
            "{:?}",
            d.excluded
        );

        let fastest = decide(&r, &[], &objective(&["pass_rate >= 0.9"], &[OrderWord::Fastest])).unwrap();
        assert_eq!(fastest.winner(), Some(Candidate::Config(1)));
        let best = decide(&r, &[], &objective(&[], &[OrderWord::BestScore])).unwrap();
        assert_eq!(best.winner(), Some(Candidate::Config(0)));
    }

    #[test]
    fn the_pareto_front_keeps_exactly_the_undominated_configs() {
        let r = report(vec![
            config("a", Some(1.0), Some(0.004), 900.0),
            config("b", Some(0.95), Some(0.002), 400.0),
            config("dominated-by-b", Some(0.9), Some(0.003), 500.0),
            config("c", Some(0.5), Some(0.001), 300.0),
        ]);
        let d = decide(&r, &[], &Objective::default()).unwrap();
        assert_eq!(d.pareto_front, [0, 1, 3].map(Candidate::Config));
    }

    fn policy(id: &str, pass_rate: f64, cost_per_1k: f64, p95: f64) -> Outcome {
        use crate::analyze::routing::{Estimate, OutcomeKind};
        let point = |value: f64| {
            Some(Estimate {
                value,
                low: value,
                high: value,
            })
        };
        Outcome {
            id: id.into(),
            kind: OutcomeKind::Cascade,
            incomplete: None,
            pass_rate: point(pass_rate),
            error_rate: point(0.0),
            cost_per_1k_usd: point(cost_per_1k),
            latency_p50_ms: point(p95 * 0.8),
            latency_p95_ms: point(p95),
            latency_p99_ms: point(p95),
            ttft_p50_ms: None,
            ttft_p95_ms: None,
            stages: vec![],
        }
    }

    #[test]
    fn a_policy_competes_with_the_configs_and_wins_when_the_objective_prefers_it() {
        let r = report(vec![
            config("big", Some(1.0), Some(0.004), 900.0),
            config("small", Some(0.6), Some(0.001), 300.0),
        ]);
        let cascade = policy("small-first", 1.0, 2.5, 950.0);
        let mut unsimulated = policy("by-length", 1.0, 0.1, 10.0);
        unsimulated.incomplete = Some("2 requests have no recorded run".into());
        let policies = [cascade, unsimulated];
        let cheapest = objective(&["pass_rate >= 0.95"], &[OrderWord::Cheapest]);
        let d = decide(&r, &policies, &cheapest).unwrap();
        // $2.50 per 1k requests is $0.0025 a request, under big's $0.004.
        assert_eq!(d.ranking, [Candidate::Policy(0), Candidate::Config(0)]);
        assert_eq!(d.excluded.len(), 2);
        assert_eq!(d.excluded[0].candidate, Candidate::Config(1));
        assert_eq!(d.excluded[1].candidate, Candidate::Policy(1));
        assert!(d.excluded[1].reason.starts_with("not simulated: 2 requests"));
        // Every candidate is on the front but the unsimulated one: each is best on some axis.
        assert_eq!(
            d.pareto_front,
            [Candidate::Config(0), Candidate::Config(1), Candidate::Policy(0)]
        );
        let fastest = decide(
            &r,
            &policies,
            &objective(&["pass_rate >= 0.95"], &[OrderWord::Fastest]),
        )
        .unwrap();
        assert_eq!(fastest.winner(), Some(Candidate::Config(0)));
        // A figure only configs have excludes a policy with the reason.
        let by_score = decide(
            &r,
            &policies,
            &objective(&["score_mean >= 0.9"], &[OrderWord::Cheapest]),
        )
        .unwrap();
        assert_eq!(by_score.winner(), Some(Candidate::Config(0)));
        assert!(
            by_score
                .excluded
                .iter()
                .any(|e| e.candidate == Candidate::Policy(0)
                    && e.reason.contains("score_mean is not measured")),
            "{:?}",
            by_score.excluded
        );
    }

    #[test]
    fn a_metric_that_was_not_measured_fails_its_constraint_and_bad_constraints_are_refused() {
        let r = report(vec![config("unpriced", Some(1.0), None, 100.0)]);
        let d = decide(
            &r,
            &[],
            &objective(&["cost_per_run_usd <= 0.01"], &[OrderWord::Cheapest]),
        )
        .unwrap();
        assert_eq!(d.winner(), None);
        assert!(d.excluded[0].reason.contains("not measured"));
        for bad in [
            "pass_rate => 0.9",
            "speed <= 3",
            "pass_rate >= high",
            "pass_rate >=",
        ] {
            assert!(Constraint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn with_every_axis_in_the_order_the_winner_is_always_on_the_pareto_front() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1000) as f64 / 1000.0
        };
        for _ in 0..500 {
            let configs = (0..6)
                .map(|i| {
                    config(
                        &format!("c{i}"),
                        Some((next() * 10.0).round() / 10.0),
                        Some(next()),
                        next() * 1000.0,
                    )
                })
                .collect();
            let r = report(configs);
            let d = decide(&r, &[], &Objective::default()).unwrap();
            let winner = d.winner().unwrap();
            assert!(
                d.pareto_front.contains(&winner),
                "{winner:?} not in {:?}",
                d.pareto_front
            );
        }
    }
}
