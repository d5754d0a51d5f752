//! Racing against a scripted engine of known pass rates, over many seeded races: how often it
//! picks a config the full grid would not, and how many runs it spends; and the same race with
//! a fixed-level interval checked at every round, to show that the guard is needed.

use crate::search::race::{Race, RaceRules};
use crate::spec::objective::Objective;
use crate::stats::SplitMix64;

/// Each config's outcome on every case (1 pass, 0 fail), drawn from its pass rate.
fn scripted_outcomes(rates: &[f64], cases: usize, rng: &mut SplitMix64) -> Vec<Vec<f64>> {
    rates
        .iter()
        .map(|&p| {
            (0..cases)
                .map(|_| {
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    if u < p { 1.0 } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

fn shuffled(cases: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cases).collect();
    for i in (1..cases).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// What drops configs as the cases come in.
trait Judge {
    fn observe(&mut self, config: usize, value: f64);
    /// The configs among `alive` that are out now.
    fn out(&self, alive: &[bool]) -> Vec<usize>;
}

/// What an unguarded race does: after every round, a one-sided two-proportion z-test at a fixed
/// 5 % level of each config against the leader, as if each look were the only one.
struct FixedLevel {
    passed: Vec<f64>,
    seen: Vec<f64>,
}

impl Judge for FixedLevel {
    fn observe(&mut self, config: usize, value: f64) {
        self.passed[config] += value;
        self.seen[config] += 1.0;
    }
    fn out(&self, alive: &[bool]) -> Vec<usize> {
        let rate = |c: usize| self.passed[c] / self.seen[c].max(1.0);
        let Some(leader) = (0..alive.len())
            .filter(|&c| alive[c])
            .max_by(|&a, &b| rate(a).total_cmp(&rate(b)))
        else {
            return Vec::new();
        };
        (0..alive.len())
            .filter(|&c| alive[c] && c != leader)
            .filter(|&c| {
                let n = self.seen[c].max(1.0);
                let pooled = (self.passed[c] + self.passed[leader]) / (2.0 * n);
                let sd = (pooled * (1.0 - pooled) * 2.0 / n).sqrt();
                sd > 0.0 && (rate(leader) - rate(c)) / sd > 1.645
            })
            .collect()
    }
}

/// The race as `search` runs it.
impl Judge for Race {
    fn observe(&mut self, config: usize, value: f64) {
        Race::observe(self, config, value);
    }
    fn out(&self, alive: &[bool]) -> Vec<usize> {
        let mut race = self.clone();
        race.eliminate(1)
            .into_iter()
            .map(|e| e.config)
            .filter(|&c| alive[c])
            .collect()
    }
}

struct Outcome {
    wrong: bool,
    runs: usize,
}

/// One race with the default objective (best pass rate wins): rounds of `batch` cases, a config
/// out once its upper bound is below the best lower bound, stopping with one config left.
fn race(outcomes: &[Vec<f64>], order: &[usize], batch: usize, judge: &mut dyn Judge) -> Outcome {
    let configs = outcomes.len();
    let mut alive = vec![true; configs];
    let mut runs = 0;
    let mut drawn = 0;
    while drawn < order.len() && alive.iter().filter(|a| **a).count() > 1 {
        let end = (drawn + batch).min(order.len());
        for &case in &order[drawn..end] {
            for config in (0..configs).filter(|&c| alive[c]) {
                judge.observe(config, outcomes[config][case]);
                runs += 1;
            }
        }
        drawn = end;
        for config in judge.out(&alive) {
            alive[config] = false;
        }
    }
    let full: Vec<f64> = outcomes
        .iter()
        .map(|o| o.iter().sum::<f64>() / o.len() as f64)
        .collect();
    let best = full.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Among the configs left, the best on the cases they ran (all of them, unless one is left).
    let pick = (0..configs)
        .filter(|&c| alive[c])
        .max_by(|&a, &b| full[a].total_cmp(&full[b]))
        .unwrap_or(0);
    Outcome {
        wrong: full[pick] < best,
        runs,
    }
}

const RATES: [f64; 5] = [0.80, 0.76, 0.70, 0.60, 0.40];
const CASES: usize = 120;
const RACES: u64 = 1_000;
const CONFIDENCE: f64 = 0.95;

fn many_races(rates: &[f64], batch: usize, mut judge: impl FnMut() -> Box<dyn Judge>) -> (f64, f64) {
    let mut wrong = 0;
    let mut runs = 0;
    for seed in 0..RACES {
        let mut rng = SplitMix64(seed);
        let outcomes = scripted_outcomes(rates, CASES, &mut rng);
        let order = shuffled(CASES, &mut rng);
        let outcome = race(&outcomes, &order, batch, judge().as_mut());
        wrong += usize::from(outcome.wrong);
        runs += outcome.runs;
    }
    (
        wrong as f64 / RACES as f64,
        runs as f64 / RACES as f64 / (rates.len() * CASES) as f64,
    )
}

fn racing() -> Box<dyn Judge> {
    let labels = (0..RATES.len()).map(|c| format!("c{c}")).collect();
    let rules = RaceRules::of(&Objective::default()).expect("the default objective");
    Box::new(Race::new(labels, CASES, 1, CONFIDENCE, rules))
}

#[test]
fn over_a_thousand_seeded_races_racing_picks_what_the_grid_picks_at_least_as_often_as_its_confidence() {
    let (wrong, share) = many_races(&RATES, 1, racing);
    eprintln!(
        "racing, 5 configs (pass rates {RATES:?}) × {CASES} cases, one case a round, {RACES} races: wrong winner {:.1} %, mean runs {:.1} % of the grid's",
        wrong * 100.0,
        share * 100.0
    );
    assert!(
        wrong <= 1.0 - CONFIDENCE,
        "wrong winner in {:.1} % of races",
        wrong * 100.0
    );
    assert!(
        share < 0.8,
        "racing saved too little: {:.1} % of the grid",
        share * 100.0
    );
}

#[test]
fn a_fixed_level_test_repeated_every_round_picks_wrong_more_often_than_its_level_promises() {
    // Configs as good as each other: every drop is a bet on noise.
    let close = [0.7; 5];
    let (naive, naive_share) = many_races(&close, 1, || {
        Box::new(FixedLevel {
            passed: vec![0.0; close.len()],
            seen: vec![0.0; close.len()],
        })
    });
    let (guarded, guarded_share) = many_races(&close, 1, racing);
    eprintln!(
        "5 configs of pass rate 0.7 × {CASES} cases, {RACES} races: a 5 % z-test at every round picks wrong in {:.1} % ({:.1} % of the grid's runs); racing in {:.1} % ({:.1} %)",
        naive * 100.0,
        naive_share * 100.0,
        guarded * 100.0,
        guarded_share * 100.0
    );
    assert!(
        naive > 1.0 - CONFIDENCE,
        "the naive race was wrong in only {:.1} % of races: the guard would not be needed",
        naive * 100.0
    );
    assert!(
        guarded <= 1.0 - CONFIDENCE,
        "racing was wrong in {:.1} %",
        guarded * 100.0
    );
}
