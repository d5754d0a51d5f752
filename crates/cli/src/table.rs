//! Terminal tables.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use tradeoff_core::analyze::report::{Report, SUMMARY_HEADERS};
use tradeoff_core::execute::resume::status_text;
use tradeoff_store::ExperimentListing;

use crate::terminal::safe;

const PREVIEW_CHARS: usize = 70;

pub fn print_report(report: &Report) {
    println!(
        "{} — experiment {} ({})",
        safe(&report.name),
        report.experiment_id,
        status_text(report.status, report.runs.len(), report.planned_runs)
    );
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(SUMMARY_HEADERS);
    for config in &report.configs {
        let mut cells = config.cells();
        if let Some(dropped) = &config.eliminated {
            // Its runs stay in every number; it just cannot win.
            cells[0] = format!("{} (dropped, round {})", cells[0], dropped.round);
        }
        table.add_row(cells.iter().map(|c| safe(c)));
    }
    for column in 2..SUMMARY_HEADERS.len() {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    println!("{table}");
    if let Some(search) = &report.search {
        // Only racing's drops rest on the confidence.
        let confidence = if search.strategy == "racing" {
            format!(" at {}% confidence", search.confidence * 100.0)
        } else {
            String::new()
        };
        println!(
            "search: {}{confidence} (seed {}): {} of the grid's {} runs ({:.0} %), {} rounds; stopped: {}",
            search.strategy,
            search.seed,
            search.runs_used,
            search.runs_grid,
            100.0 * search.runs_used as f64 / search.runs_grid.max(1) as f64,
            search.rounds,
            safe(&search.stopped)
        );
        println!("  {}", safe(&search.sureness));
        for dropped in &search.eliminated {
            println!(
                "  dropped {} in round {} after {} cases: {}",
                safe(&dropped.config),
                dropped.round,
                dropped.cases_run,
                safe(&dropped.reason)
            );
        }
    }
    for line in report.grading_lines() {
        println!("{} (not in the configs' numbers)", safe(&line));
    }

    // Numbers alone do not show quality: one output per variant and case, so a reader can
    // judge what each variant actually produced (first target, its first settings, first repetition).
    if let Some(first) = report.runs.first() {
        let mut outputs = Table::new();
        outputs
            .load_preset(UTF8_FULL_CONDENSED)
            .set_header(["case", "variant", "output"]);
        let mut shown: Vec<&tradeoff_core::analyze::report::RunRow> = report
            .runs
            .iter()
            .filter(|r| {
                r.labels.target == first.labels.target
                    && r.labels.settings == first.labels.settings
                    && r.run.repetition == 0
            })
            .collect();
        shown.sort_by(|a, b| a.labels.case.cmp(&b.labels.case));
        for run in shown {
            let text = match &run.run.error {
                Some(error) => format!("[{}] {}", error.class, error.message),
                None => preview(&run.run.output),
            };
            outputs.add_row([safe(&run.labels.case), safe(&run.labels.variant), safe(&text)]);
        }
        let settings = report
            .configs
            .iter()
            .find(|c| c.target == first.labels.target && c.settings == first.labels.settings)
            .map(|c| c.settings_label.as_str())
            .unwrap_or_default();
        println!(
            "outputs ({} · {} · repetition 1):",
            safe(&first.labels.target),
            safe(settings)
        );
        println!("{outputs}");
    }
    for warning in report.distinct_warnings() {
        println!("warning: {}", safe(&warning));
    }
    let errors: usize = report.configs.iter().map(|c| c.errors).sum();
    if errors > 0 {
        println!(
            "{errors} run(s) failed; `tradeoff report {} --format md` lists them",
            report.experiment_id
        );
    }
}

fn preview(output: &str) -> String {
    let flat: String = output.trim().replace('\n', "⏎");
    if flat.chars().count() > PREVIEW_CHARS {
        format!("{}…", flat.chars().take(PREVIEW_CHARS).collect::<String>())
    } else if flat.is_empty() {
        "(empty)".to_string()
    } else {
        flat
    }
}

pub fn print_listing(experiments: &[ExperimentListing]) {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["id", "name", "created", "status", "configs", "runs", "errors"]);
    for e in experiments {
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        table.add_row([
            e.id.to_string(),
            safe(&e.name),
            e.created_at.clone(),
            status_text(e.status, count(e.runs), count(e.planned_runs)),
            e.configs.to_string(),
            e.runs.to_string(),
            e.errors.to_string(),
        ]);
    }
    println!("{table}");
}
