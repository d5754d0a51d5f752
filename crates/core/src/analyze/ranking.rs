//! Which config wins: an experiment's objective applied to a report's configs. Constraints
//! exclude configs; order words rank the rest, earlier words first. The Pareto front over
//! quality, cost and p95 latency shows the trade-offs the order settles.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::analyze::report::{ConfigSummary, Report};
use crate::spec::objective::{Constraint, Metric, Objective, ObjectiveError, Op, OrderWord};

impl Metric {
    /// The metric's value in a config's summary.
    pub fn of(self, s: &ConfigSummary) -> Option<f64> {
        match self {
            Metric::PassRate => s.pass_rate,
            Metric::ScoreMean => s.score_mean,
            Metric::ErrorRate => (s.runs > 0).then(|| s.errors as f64 / s.runs as f64),
            Metric::P50LatencyMs => s.latency_p50_ms,
            Metric::P95LatencyMs => s.latency_p95_ms,
            Metric::P99LatencyMs => s.latency_p99_ms,
            Metric::TtftP50Ms => s.ttft_p50_ms,
            Metric::TtftP95Ms => s.ttft_p95_ms,
            Metric::CostPerRunUsd => s.cost_per_run_usd,
            Metric::CostPer1kUsd => s.cost_per_1k_usd,
            Metric::AggregateTokensPerS => s.aggregate_tokens_per_s,
        }
    }
}

impl Constraint {
    /// Whether the config meets it; a metric the config lacks (no checks, no price) does not.
    pub fn holds(&self, s: &ConfigSummary) -> Option<f64> {
        let value = self.metric.of(s)?;
        let ok = match self.op {
            Op::Le => value <= self.value,
            Op::Lt => value < self.value,
            Op::Ge => value >= self.value,
            Op::Gt => value > self.value,
        };
        ok.then_some(value)
    }
}

/// A config the constraints excluded, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    pub config: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Configs that meet every constraint, best first.
    pub ranking: Vec<usize>,
    pub excluded: Vec<Excluded>,
    /// Configs no other config beats on quality, cost and p95 latency at once.
    pub pareto_front: Vec<usize>,
}

impl Decision {
    pub fn winner(&self) -> Option<usize> {
        self.ranking.first().copied()
    }

    pub fn runner_up(&self) -> Option<usize> {
        self.ranking.get(1).copied()
    }
}

/// Applies `objective` to a report's configs.
pub fn decide(report: &Report, objective: &Objective) -> Result<Decision, ObjectiveError> {
    let constraints = objective.parsed_constraints()?;
    let mut ranking = Vec::new();
    let mut excluded = Vec::new();
    for (index, config) in report.configs.iter().enumerate() {
        if config.runs == config.errors {
            excluded.push(Excluded {
                config: index,
                reason: "no successful run".into(),
            });
            continue;
        }
        match constraints.iter().find(|c| c.holds(config).is_none()) {
            Some(failed) => excluded.push(Excluded {
                config: index,
                reason: match failed.metric.of(config) {
                    Some(value) => format!("{failed} fails: {} is {value:.4}", failed.metric.name()),
                    None => format!("{failed} fails: {} is not measured", failed.metric.name()),
                },
            }),
            None => ranking.push(index),
        }
    }
    ranking.sort_by(|a, b| rank(&report.configs[*a], &report.configs[*b], &objective.order));
    let candidates: Vec<usize> = (0..report.configs.len())
        .filter(|i| report.configs[*i].runs > report.configs[*i].errors)
        .collect();
    let pareto_front = candidates
        .iter()
        .copied()
        .filter(|i| {
            !candidates
                .iter()
                .any(|j| dominates(&report.configs[*j], &report.configs[*i]))
        })
        .collect();
    Ok(Decision {
        ranking,
        excluded,
        pareto_front,
    })
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

fn rank(a: &ConfigSummary, b: &ConfigSummary, order: &[OrderWord]) -> Ordering {
    for word in order {
        let ordering = match word {
            OrderWord::Cheapest => ascending(a.cost_per_run_usd, b.cost_per_run_usd),
            OrderWord::Fastest => ascending(a.latency_p95_ms, b.latency_p95_ms),
            OrderWord::BestScore => {
                ascending(b.pass_rate, a.pass_rate).then_with(|| ascending(b.score_mean, a.score_mean))
            }
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

/// Quality (pass rate, else mean score) higher is better; cost and p95 latency lower are.
fn axes(s: &ConfigSummary) -> [Option<f64>; 3] {
    [
        s.pass_rate.or(s.score_mean).map(|q| -q),
        s.cost_per_run_usd,
        s.latency_p95_ms,
    ]
}

/// `a` is at least as good on every axis both have and strictly better on one.
fn dominates(a: &ConfigSummary, b: &ConfigSummary) -> bool {
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
            &objective(
                &["pass_rate >= 0.9", "p95_latency_ms <= 800"],
                &[OrderWord::Cheapest, OrderWord::Fastest],
            ),
        )
        .unwrap();
        assert_eq!(d.ranking, [3, 1]);
        assert_eq!(d.winner(), Some(3));
        assert_eq!(d.runner_up(), Some(1));
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

        let fastest = decide(&r, &objective(&["pass_rate >= 0.9"], &[OrderWord::Fastest])).unwrap();
        assert_eq!(fastest.winner(), Some(1));
        let best = decide(&r, &objective(&[], &[OrderWord::BestScore])).unwrap();
        assert_eq!(best.winner(), Some(0));
    }

    #[test]
    fn the_pareto_front_keeps_exactly_the_undominated_configs() {
        let r = report(vec![
            config("a", Some(1.0), Some(0.004), 900.0),
            config("b", Some(0.95), Some(0.002), 400.0),
            config("dominated-by-b", Some(0.9), Some(0.003), 500.0),
            config("c", Some(0.5), Some(0.001), 300.0),
        ]);
        let d = decide(&r, &Objective::default()).unwrap();
        assert_eq!(d.pareto_front, [0, 1, 3]);
    }

    #[test]
    fn a_metric_that_was_not_measured_fails_its_constraint_and_bad_constraints_are_refused() {
        let r = report(vec![config("unpriced", Some(1.0), None, 100.0)]);
        let d = decide(
            &r,
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
            let d = decide(&r, &Objective::default()).unwrap();
            let winner = d.winner().unwrap();
            assert!(
                d.pareto_front.contains(&winner),
                "{winner} not in {:?}",
                d.pareto_front
            );
        }
    }
}
