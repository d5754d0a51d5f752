//! `tradeoff report` and `tradeoff list`

use std::path::PathBuf;
use std::process::ExitCode;

use super::open_store;
use crate::exit::Exit;
use crate::{ReportFormat, table};

pub fn report(experiment: &str, db: Option<PathBuf>, format: ReportFormat) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let id = if experiment == "latest" {
        store.latest_experiment_id()?
    } else {
        experiment.parse::<i64>().map_err(|_| {
            Exit::bad_input(format!(
                "`{experiment}` is not an experiment id; use a number or `latest`"
            ))
        })?
    };
    let report = store.report(id)?;
    let text = match format {
        ReportFormat::Json => report.to_json().map_err(Exit::failure)?,
        ReportFormat::Csv => report.to_csv().map_err(Exit::failure)?,
        ReportFormat::Md => report.to_markdown(),
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
