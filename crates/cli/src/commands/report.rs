//! `tradeoff report` and `tradeoff list`

use std::path::PathBuf;
use std::process::ExitCode;

use super::open_store;
use crate::exit::Exit;
use crate::{ReportFormat, table};

/// An experiment named on the command line: its id, or `latest`.
pub fn experiment_id(store: &tradeoff_store::Store, experiment: &str) -> Result<i64, Exit> {
    if experiment == "latest" {
        return Ok(store.latest_experiment_id()?);
    }
    experiment.parse::<i64>().map_err(|_| {
        Exit::bad_input(format!(
            "`{experiment}` is not an experiment id; use a number or `latest`"
        ))
    })
}

/// `baseline` is a config number as the summary lists them, from 1.
pub fn report(
    experiment: &str,
    db: Option<PathBuf>,
    format: ReportFormat,
    baseline: Option<usize>,
) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let id = experiment_id(&store, experiment)?;
    let mut report = store.report(id)?;
    if let Some(baseline) = baseline {
        if baseline == 0 {
            return Err(Exit::bad_input("--baseline counts configs from 1"));
        }
        report.compare_with(baseline - 1).map_err(Exit::bad_input)?;
    }
    let text = match format {
        ReportFormat::Json => report.to_json().map_err(Exit::failure)?,
        ReportFormat::Csv => report.to_csv().map_err(Exit::failure)?,
        // Markdown is read in a terminal as often as in a file; JSON and CSV escape their own.
        ReportFormat::Md => crate::terminal::safe(&report.to_markdown()),
    };
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(db: Option<PathBuf>, json: bool) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let experiments = store.list_experiments()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&experiments).map_err(Exit::failure)?
        );
    } else {
        table::print_listing(&experiments);
    }
    Ok(ExitCode::SUCCESS)
}
