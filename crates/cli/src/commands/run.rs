//! `tradeoff run FILE` and `tradeoff run --resume ID`

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tradeoff_core::execute::backends::Backends;
use tradeoff_core::execute::engine::LocalEngine;
use tradeoff_core::execute::environment::Environment;
use tradeoff_core::execute::events::{EventWriter, RunEvent};
use tradeoff_core::execute::resume::ExperimentStatus;
use tradeoff_core::execute::resume::missing_runs;
use tradeoff_core::execute::runner::run_experiment;
use tradeoff_core::execute::sink::{RunObserver, RunOutcome};
use tradeoff_core::search::run_search;
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::load::{PlanLimits, load_file_with};
use tradeoff_core::spec::matrix::Plan;
use tradeoff_core::spec::pricing::PriceTable;
use tradeoff_core::spec::resolve::{Facts, resolve};
use tradeoff_core::spec::search::{SearchSpec, Strategy};
use tradeoff_remote::HttpRemote;
use tradeoff_store::Owner;
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use super::open_store;
use crate::exit::Exit;
use crate::progress::Progress;
use crate::table;

/// What runs an experiment's calls: the worker for local targets (its CPU path proved), the HTTP
/// client for remote ones, the Ctrl-C flag both stop on, and the machine they run on.
pub(crate) struct Engines {
    pub engine: WorkerEngine,
    pub remote: HttpRemote,
    pub cancel: Arc<AtomicBool>,
    pub environment: Environment,
}

pub(crate) fn start_engines(experiment: &Experiment) -> Result<Engines, Exit> {
    // Inference runs in a worker process: a llama.cpp abort costs one run, not the experiment.
    let command = WorkerCommand::current_exe()
        .map_err(|e| Exit::failure(format!("cannot find the tradeoff executable: {e}")))?;
    let mut engine = WorkerEngine::start(command).map_err(|e| Exit::failure(e.to_string()))?;
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = Arc::clone(&cancel);
        // Without a handler Ctrl-C kills the process mid-run; with it the run in flight stops,
        // finished runs stay recorded and the experiment is marked cancelled.
        let _ = ctrlc::set_handler(move || cancel.store(true, Ordering::Relaxed));
    }
    engine.interrupt_with(Arc::clone(&cancel));
    // The CPU self-test runs before anything is recorded: a CPU path that cannot work here is
    // one clear error now, not a crash in every run, and the environment names the verified path.
    let first_local = experiment
        .targets
        .iter()
        .find_map(|t| t.local())
        .and_then(|l| l.settings().first().map(|s| s.load_request(l.model.path.clone())));
    if let Some(load) = first_local {
        engine
            .check_cpu_path(&load)
            .map_err(|e| Exit::failure(e.message))?;
    }
    let environment = Environment::detect(Some(engine.build_info())).with_cpu_backend(engine.cpu_backend());
    let remote = HttpRemote::new().map_err(|e| Exit::failure(e.to_string()))?;
    Ok(Engines {
        engine,
        remote,
        cancel,
        environment,
    })
}

/// Exit code after Ctrl-C, as shells report a SIGINT.
pub(crate) const INTERRUPTED: u8 = 130;

/// What `run` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Summary and output tables for a person.
    Tables,
    /// The full report as one JSON document, at the end.
    Json,
    /// JSON lines while running (see `tradeoff_core::execute::events`).
    Events,
}

/// What `run` runs.
#[derive(Debug, Clone)]
pub enum Source {
    /// An experiment file: a new experiment.
    File(PathBuf),
    /// `--resume ID`: the recorded spec of an interrupted or cancelled experiment, only the runs
    /// it has not recorded, into the same experiment.
    Resume(i64),
}

pub fn run(
    source: &Source,
    db: Option<PathBuf>,
    output: Output,
    strategy: Option<Strategy>,
    limits: &PlanLimits,
) -> Result<ExitCode, Exit> {
    let result = run_inner(source, db, output, strategy, limits);
    if output == Output::Events
        && let Err(exit) = &result
    {
        EventWriter::new(std::io::stdout()).emit(&RunEvent::Failed {
            message: exit.message.clone(),
        });
    }
    result
}

fn run_inner(
    source: &Source,
    db: Option<PathBuf>,
    output: Output,
    strategy: Option<Strategy>,
    limits: &PlanLimits,
) -> Result<ExitCode, Exit> {
    let (experiment, mut store) = match source {
        Source::File(file) => {
            let mut experiment = load_file_with(file, limits).map_err(Exit::bad_input)?;
            if let Some(strategy) = strategy {
                search_with(&mut experiment, strategy);
            }
            check_models(file, &experiment)?;
            (experiment, open_store(db)?)
        }
        Source::Resume(id) => {
            let store = open_store(db)?;
            let experiment = store.experiment(*id)?;
            if experiment.search.strategy != Strategy::Grid {
                // The missing runs of a search are mostly runs it chose not to make.
                return Err(Exit::bad_input(format!(
                    "experiment {id} was a {} search, which cannot be resumed: its runs and the configs it dropped are kept; run its file again to search anew",
                    experiment.search.strategy.as_str()
                )));
            }
            check_models(Path::new(&format!("experiment {id}")), &experiment)?;
            (experiment, store)
        }
    };
    let hashes: Vec<Option<String>> = experiment
        .targets
        .iter()
        .map(|t| t.local().and_then(|l| store.file_sha256(&l.model.path).ok()))
        .collect();
    if let Source::Resume(id) = source {
        // Refused now with its reason (still running, completed, another model file), not after
        // workers have started.
        store.check_resumable(*id, &hashes)?;
    }
    // The file's content, not its path, identifies a model in the response cache's keys; a
    // hosted model without a price takes the price table's.
    let prices = PriceTable::load().map_err(Exit::bad_input)?;
    let experiment = resolve(
        experiment,
        &Facts {
            prices: &prices,
            model_sha256: &hashes,
        },
    );
    let Engines {
        mut engine,
        mut remote,
        cancel,
        environment,
    } = start_engines(&experiment)?;
    let plan = Plan::new(&experiment);

    let mut events = EventWriter::new(std::io::stdout());
    // This process records the runs from here on; when it is gone while the experiment still
    // says `running`, readers show it interrupted.
    let owner = Owner::current();
    let (experiment_id, outcome) = {
        let (mut writer, to_run) = match source {
            Source::File(_) => (
                store.begin_experiment(&experiment, &plan, &environment, &owner)?,
                Cow::Borrowed(&plan),
            ),
            Source::Resume(id) => {
                let (writer, recorded) = store.resume_experiment(*id, &experiment, &plan, &hashes, &owner)?;
                let missing = missing_runs(&plan, &recorded);
                eprintln!(
                    "resuming experiment {id}: {} of {} runs recorded, {} to run",
                    recorded.len(),
                    plan.total_runs(),
                    missing.total_runs()
                );
                (writer, Cow::Owned(missing))
            }
        };
        let id = writer.experiment_id();
        let mut progress = Progress::new(&experiment, &to_run);
        let observer: &mut dyn RunObserver = if output == Output::Events {
            events.emit(&RunEvent::Started {
                experiment_id: id,
                total: to_run.total_runs(),
            });
            &mut events
        } else {
            &mut progress
        };
        let backends = Backends {
            local: &mut engine,
            remote: &mut remote,
            sink: &mut writer,
            observer,
            cancel: &cancel,
        };
        let outcome = if experiment.search.strategy == Strategy::Grid {
            run_experiment(&experiment, &to_run, backends).map_err(|e| e.to_string())
        } else {
            run_search(&experiment, &to_run, backends)
                .map(|search| search.outcome)
                .map_err(|e| e.to_string())
        };
        progress.finish();
        (id, outcome)
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            let _ = store.finish_experiment(experiment_id, ExperimentStatus::Interrupted);
            return Err(Exit::failure(format!(
                "experiment {experiment_id} stopped: {error}"
            )));
        }
    };
    let status = match outcome {
        RunOutcome::Completed => ExperimentStatus::Completed,
        RunOutcome::Cancelled => ExperimentStatus::Cancelled,
    };
    store.finish_experiment(experiment_id, status)?;
    match output {
        Output::Events => events.emit(&RunEvent::Finished {
            experiment_id,
            status,
        }),
        Output::Json => println!(
            "{}",
            store.report(experiment_id)?.to_json().map_err(Exit::failure)?
        ),
        Output::Tables => {
            table::print_report(&store.report(experiment_id)?);
            println!(
                "experiment {experiment_id} recorded in {}",
                store.path().display()
            );
        }
    }
    Ok(match outcome {
        RunOutcome::Completed => ExitCode::SUCCESS,
        RunOutcome::Cancelled => ExitCode::from(INTERRUPTED),
    })
}

/// `--search STRATEGY`: the experiment searches that way, and its recorded file says so.
fn search_with(experiment: &mut Experiment, strategy: Strategy) {
    experiment.search.strategy = strategy;
    if let Some(written) = &mut experiment.written {
        let spec = written.file.search.get_or_insert_with(|| SearchSpec {
            strategy,
            budget: Default::default(),
            confidence: None,
            seed: None,
            batch: None,
            eta: None,
        });
        spec.strategy = strategy;
    }
}

/// A model path that does not exist is a mistake in the file, refused before anything runs.
/// (A file that exists but is not a loadable model fails its runs instead, recorded.)
pub(crate) fn check_models(file: &Path, experiment: &Experiment) -> Result<(), Exit> {
    let targets = experiment
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| ("targets", i, t));
    let graders = experiment
        .graders
        .iter()
        .enumerate()
        .map(|(i, t)| ("graders", i, t));
    for (list, index, target) in targets.chain(graders) {
        let Some(local) = target.local().filter(|l| !l.model.path.exists()) else {
            continue;
        };
        let path = local.model.path.display();
        let message = if local.model.is_default() {
            format!(
                "{}: {list}[{index}].model: the default model is not installed (expected at {path}); run `make model` to fetch it",
                file.display()
            )
        } else {
            format!(
                "{}: {list}[{index}].model: model file not found: {path}",
                file.display()
            )
        };
        return Err(Exit::bad_input(message));
    }
    Ok(())
}
