//! Runs a search round by round: each round is a slice of the plan (the configs still in, the
//! next cases in the seeded draw order, every repetition) run by `execute::runner`, its runs
//! recorded as they finish; then the strategy drops configs, each drop recorded at once.

use std::collections::HashMap;
use std::time::Instant;

use crate::analyze::ranking::rank_all;
use crate::analyze::report::{ConfigKey, RunLabels, RunRow, summarize};
use crate::execute::backends::Backends;
use crate::execute::record::RunRecord;
use crate::execute::runner::run_experiment;
use crate::execute::search_log::{Elimination, SearchRecord, SearchRound};
use crate::execute::sink::{Capture, RunObserver, RunOutcome, RunnerError};
use crate::search::halving;
use crate::search::race::{Race, RaceRules};
use crate::spec::experiment::Experiment;
use crate::spec::matrix::{Plan, PlannedRun};
use crate::spec::objective::ObjectiveError;
use crate::spec::search::{Search, Strategy};
use crate::stats::SplitMix64;

/// How a search went: how it ended, what it dropped and the runs it made.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRun {
    pub outcome: RunOutcome,
    pub record: SearchRecord,
    pub eliminated: Vec<Elimination>,
    pub runs_used: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
}

/// Runs `experiment`'s search over `plan` (every config, every case), recording through
/// `backends.sink`. A grid search runs the whole plan.
pub fn run_search(
    experiment: &Experiment,
    plan: &Plan,
    backends: Backends<'_>,
) -> Result<SearchRun, SearchError> {
    let search = experiment.search;
    let objective = experiment.objective.clone().unwrap_or_default();
    let labels = plan.config_labels(experiment);
    let checked: Vec<bool> = (0..experiment.cases.len())
        .map(|case| experiment.checks_for(case).next().is_some())
        .collect();
    let mut searching = Searching {
        experiment,
        plan,
        backends,
        search,
        order: draw_order(experiment.cases.len(), search.seed),
        drawn: 0,
        used: 0,
        cost_usd: 0.0,
        started: Instant::now(),
        records: HashMap::new(),
        checked,
        eliminated: Vec::new(),
    };
    let configs = plan.configs.len();
    let (outcome, rounds, stopped, sureness) = match search.strategy {
        Strategy::Grid => {
            let (outcome, rounds, stopped) = searching.grid()?;
            (
                outcome,
                rounds,
                stopped,
                "every config ran every case".to_string(),
            )
        }
        Strategy::Racing => {
            let population = searching.checked.iter().filter(|c| **c).count();
            let mut race = Race::new(
                labels,
                population,
                experiment.repetitions,
                search.confidence,
                RaceRules::of(&objective)?,
            );
            let (outcome, rounds, stopped) = searching.race(&mut race)?;
            let sureness = if population == 0 {
                "no case has checks: racing cannot compare quality".to_string()
            } else {
                race.sureness()
            };
            (outcome, rounds, stopped, sureness)
        }
        Strategy::Halving => {
            let (outcome, rounds, stopped) = searching.halve(&objective, &labels)?;
            (
                outcome,
                rounds,
                stopped,
                "halving keeps the best by the objective on growing rungs; it gives no confidence"
                    .to_string(),
            )
        }
    };
    let record = SearchRecord {
        strategy: search.strategy.as_str().to_string(),
        confidence: search.confidence,
        seed: search.seed,
        runs_grid: plan.total_runs(),
        rounds,
        stopped,
        sureness,
    };
    searching
        .backends
        .sink
        .record_search(&record)
        .map_err(RunnerError::from)?;
    debug_assert!(searching.eliminated.iter().all(|e| e.config < configs));
    Ok(SearchRun {
        outcome,
        record,
        eliminated: searching.eliminated,
        runs_used: searching.used,
    })
}

/// The cases in a seeded random order: every config draws them in this order.
fn draw_order(cases: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64(seed);
    let mut order: Vec<usize> = (0..cases).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

type Rounds = (RunOutcome, u32, String);

struct Searching<'e, 'b> {
    experiment: &'e Experiment,
    plan: &'e Plan,
    backends: Backends<'b>,
    search: Search,
    order: Vec<usize>,
    /// Cases of `order` every config still in has run.
    drawn: usize,
    used: usize,
    cost_usd: f64,
    started: Instant,
    records: HashMap<(usize, usize, u32), RunRecord>,
    checked: Vec<bool>,
    eliminated: Vec<Elimination>,
}

impl Searching<'_, '_> {
    fn grid(&mut self) -> Result<Rounds, RunnerError> {
        let all: Vec<usize> = (0..self.plan.configs.len()).collect();
        let outcome = self.round(&all, self.order.len())?;
        Ok((outcome, 1, stopped_at_end(outcome)))
    }

    fn race(&mut self, race: &mut Race) -> Result<Rounds, RunnerError> {
        let mut round = 0;
        while self.drawn < self.order.len() {
            let alive = race.alive();
            if alive.is_empty() {
                return Ok((
                    RunOutcome::Completed,
                    round,
                    "no config can meet the constraints".into(),
                ));
            }
            if race.sole_survivor().is_some() {
                return Ok((RunOutcome::Completed, round, "one config left".into()));
            }
            let end = (self.drawn + self.search.batch as usize).min(self.order.len());
            if let Some(reason) = self.over_budget(alive.len(), end) {
                return Ok((RunOutcome::Completed, round, reason));
            }
            let first = self.drawn;
            let outcome = self.round(&alive, end)?;
            if outcome == RunOutcome::Cancelled {
                return Ok((outcome, round, "cancelled".into()));
            }
            round += 1;
            for &case in &self.order[first..end] {
                if !self.checked[case] {
                    continue;
                }
                for &config in &alive {
                    race.observe(config, self.passed_share(config, case));
                }
            }
            let dropped = race.eliminate(round);
            self.dropped(round, dropped, &race.alive())?;
        }
        Ok((RunOutcome::Completed, round, "every case run".into()))
    }

    fn halve(
        &mut self,
        objective: &crate::spec::objective::Objective,
        labels: &[String],
    ) -> Result<Rounds, SearchError> {
        let mut alive: Vec<usize> = (0..self.plan.configs.len()).collect();
        let rungs = halving::rungs(alive.len(), self.order.len(), self.search.eta);
        for (index, &end) in rungs.iter().enumerate() {
            let round = index as u32 + 1;
            if let Some(reason) = self.over_budget(alive.len(), end) {
                return Ok((RunOutcome::Completed, round - 1, reason));
            }
            let outcome = self.round(&alive, end)?;
            if outcome == RunOutcome::Cancelled {
                return Ok((outcome, round - 1, "cancelled".into()));
            }
            if index + 1 == rungs.len() {
                break;
            }
            let summaries = self.summaries(&alive);
            let ranked = rank_all(&summaries, objective)?;
            let keep = halving::kept(alive.len(), self.search.eta);
            let dropped: Vec<Elimination> = ranked
                .iter()
                .enumerate()
                .skip(keep)
                .map(|(place, &position)| Elimination {
                    config: alive[position],
                    round,
                    reason: format!(
                        "ranked {} of {} under the objective on the first {end} cases (kept the best {keep}; {} led)",
                        place + 1,
                        alive.len(),
                        labels[alive[ranked[0]]]
                    ),
                    cases_run: end as u32,
                })
                .collect();
            let mut next: Vec<usize> = ranked[..keep.min(ranked.len())]
                .iter()
                .map(|&p| alive[p])
                .collect();
            next.sort_unstable();
            alive = next;
            self.dropped(round, dropped, &alive)?;
        }
        Ok((RunOutcome::Completed, rungs.len() as u32, "every case run".into()))
    }

    /// Why the next round may not run (its runs, the money or the time spent so far).
    fn over_budget(&self, alive: usize, end: usize) -> Option<String> {
        let budget = self.search.budget;
        let next = alive * (end - self.drawn) * self.experiment.repetitions as usize;
        if let Some(most) = budget.max_runs
            && (self.used + next) as u64 > most
        {
            return Some(format!(
                "budget: max_runs {most} (the next round needs {next} more after {})",
                self.used
            ));
        }
        if let Some(most) = budget.max_usd
            && self.cost_usd >= most
        {
            return Some(format!("budget: max_usd {most} (spent ${:.4})", self.cost_usd));
        }
        if let Some(most) = budget.max_minutes
            && self.started.elapsed().as_secs_f64() / 60.0 >= most
        {
            return Some(format!("budget: max_minutes {most}"));
        }
        None
    }

    /// Runs every repetition of the cases drawn up to `end` for `configs`.
    fn round(&mut self, configs: &[usize], end: usize) -> Result<RunOutcome, RunnerError> {
        let mut in_round = vec![false; self.experiment.cases.len()];
        for &case in &self.order[self.drawn..end] {
            in_round[case] = true;
        }
        let mut member = vec![false; self.plan.configs.len()];
        for &config in configs {
            member[config] = true;
        }
        let slice = self
            .plan
            .only(|run: &PlannedRun| member[run.config] && in_round[run.case]);
        let left = (self.order.len() - self.drawn) * configs.len() * self.experiment.repetitions as usize;
        let Backends {
            local,
            remote,
            sink,
            observer,
            cancel,
        } = &mut self.backends;
        let mut capture = Capture::new(&mut **sink);
        let mut counted = Counted {
            inner: &mut **observer,
            before: self.used,
            total: self.used + left,
        };
        let outcome = run_experiment(
            self.experiment,
            &slice,
            Backends {
                local: &mut **local,
                remote: &mut **remote,
                sink: &mut capture,
                observer: &mut counted,
                cancel,
            },
        )?;
        for record in capture.into_records() {
            self.used += 1;
            self.cost_usd += record.cost_usd.unwrap_or(0.0);
            self.records
                .insert((record.config, record.case, record.repetition), record);
        }
        self.drawn = end;
        Ok(outcome)
    }

    /// The share of `config`'s repetitions of `case` that passed its checks (a run missing or
    /// failed does not pass).
    fn passed_share(&self, config: usize, case: usize) -> f64 {
        let repetitions = self.experiment.repetitions;
        let passed = (0..repetitions)
            .filter(|&r| {
                self.records
                    .get(&(config, case, r))
                    .and_then(|run| run.passed(true))
                    .unwrap_or(false)
            })
            .count();
        passed as f64 / f64::from(repetitions.max(1))
    }

    fn dropped(&mut self, round: u32, dropped: Vec<Elimination>, alive: &[usize]) -> Result<(), RunnerError> {
        for elimination in &dropped {
            self.backends.sink.record_elimination(elimination)?;
        }
        self.backends.observer.search_round(&SearchRound {
            round,
            alive: alive.to_vec(),
            eliminated: dropped.clone(),
            runs_used: self.used,
            runs_grid: self.plan.total_runs(),
        });
        self.eliminated.extend(dropped);
        Ok(())
    }

    /// Summaries of `configs` on their runs so far, in that order.
    fn summaries(&self, configs: &[usize]) -> Vec<crate::analyze::report::ConfigSummary> {
        let experiment = self.experiment;
        let keys: Vec<ConfigKey> = configs
            .iter()
            .map(|&c| {
                let config = &self.plan.configs[c];
                let target = &experiment.targets[config.target];
                ConfigKey {
                    variant: experiment.variants[config.variant].id.clone(),
                    target: target.id.clone(),
                    settings: config.settings,
                    remote: target.remote().map(|r| r.label()),
                }
            })
            .collect();
        let rows: Vec<RunRow> = self
            .records
            .values()
            .filter(|run| configs.contains(&run.config))
            .map(|run| {
                let config = &self.plan.configs[run.config];
                let has_checks = self.checked[run.case];
                let mut row = RunRow::new(
                    RunLabels {
                        variant: experiment.variants[config.variant].id.clone(),
                        target: experiment.targets[config.target].id.clone(),
                        settings: config.settings,
                        case: experiment.cases[run.case].id.clone(),
                    },
                    run.clone(),
                );
                row.passed = run.passed(has_checks);
                row.score = run.score(has_checks);
                row
            })
            .collect();
        summarize(&keys, &rows, false)
    }
}

fn stopped_at_end(outcome: RunOutcome) -> String {
    match outcome {
        RunOutcome::Completed => "every case run".into(),
        RunOutcome::Cancelled => "cancelled".into(),
    }
}

/// Progress counted over the whole search: each round's runs follow the earlier rounds', out
/// of what the configs still in could yet run.
struct Counted<'a> {
    inner: &'a mut dyn RunObserver,
    before: usize,
    total: usize,
}

impl RunObserver for Counted<'_> {
    fn loading(&mut self, target: &str, n_ctx: u32) {
        self.inner.loading(target, n_ctx);
    }
    fn run_started(&mut self, done: usize, _total: usize, run: &PlannedRun) {
        self.inner.run_started(self.before + done, self.total, run);
    }
    fn text(&mut self, chunk: &str) {
        self.inner.text(chunk);
    }
    fn run_finished(&mut self, done: usize, _total: usize, record: &RunRecord) {
        self.inner.run_finished(self.before + done, self.total, record);
    }
    fn graded(&mut self, done: usize, total: usize) {
        self.inner.graded(done, total);
    }
}
