//! A progress bar on stderr while an experiment runs (hidden when stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::execute::search_log::SearchRound;
use tradeoff_core::execute::sink::RunObserver;
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::matrix::{Plan, PlannedRun};

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    config_labels: Vec<String>,
    case_labels: Vec<String>,
}

impl Progress {
    pub fn new(experiment: &Experiment, plan: &Plan) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(plan.total_runs() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} elapsed, ETA {eta}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let config_labels = plan.config_labels(experiment);
        let case_labels = experiment.cases.iter().map(|c| c.id.clone()).collect();
        Progress {
            bar,
            config_labels,
            case_labels,
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl RunObserver for Progress {
    fn loading(&mut self, target: &str, n_ctx: u32) {
        self.bar.set_message(format!("loading {target} (n_ctx {n_ctx})"));
    }

    fn run_started(&mut self, _done: usize, _total: usize, run: &PlannedRun) {
        let config = self
            .config_labels
            .get(run.config)
            .map(String::as_str)
            .unwrap_or("");
        let case = self.case_labels.get(run.case).map(String::as_str).unwrap_or("");
        self.bar
            .set_message(format!("{config} · case {case} · rep {}", run.repetition + 1));
    }

    fn graded(&mut self, done: usize, total: usize) {
        self.bar
            .set_message(format!("grading judge checks {done}/{total}"));
    }

    fn search_round(&mut self, round: &SearchRound) {
        for dropped in &round.eliminated {
            let config = self
                .config_labels
                .get(dropped.config)
                .map(String::as_str)
                .unwrap_or("");
            self.bar.println(format!(
                "round {}: dropped {config}: {}",
                round.round,
                crate::terminal::safe(&dropped.reason)
            ));
        }
        self.bar.println(format!(
            "round {}: {} configs left, {} of the grid's {} runs used",
            round.round,
            round.alive.len(),
            round.runs_used,
            round.runs_grid
        ));
    }

    fn run_finished(&mut self, done: usize, total: usize, record: &RunRecord) {
        // A search's total shrinks as it drops configs.
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        if let Some(error) = &record.error {
            self.bar.println(format!(
                "run failed: {}",
                crate::terminal::safe(&error.to_string())
            ));
        }
    }
}
