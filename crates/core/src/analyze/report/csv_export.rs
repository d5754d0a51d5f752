//! The CSV export: one line per run, opened in spreadsheets.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and, in some, tab or
//! carriage return) as a formula, and model output, error messages from servers, ids and check
//! labels are text anyone can make start that way. Text cells that do are prefixed with `'`,
//! as OWASP's CSV-injection advice says. Which cells are text is decided by the column, never
//! by looking at the value: a number column keeps `-3.5` a number, a text column turns `-3.5`
//! into `'-3.5`.

use super::{Report, ReportError, RunRow};
use crate::run::RunMetrics;
use crate::spec::target::LocalSettings;

/// A cell as the column defines it.
#[derive(Debug)]
pub enum Cell {
    /// Written as it is: numbers and booleans Tradeoff formats itself.
    Number(String),
    /// Neutralized if a spreadsheet would read it as a formula.
    Text(String),
}

impl Cell {
    pub fn into_field(self) -> String {
        match self {
            Cell::Number(number) => number,
            Cell::Text(text) => neutralize(text),
        }
    }
}

/// `'` in front of text a spreadsheet would otherwise evaluate.
fn neutralize(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

const HEADERS: [&str; 33] = [
    "experiment_id",
    "variant",
    "target",
    "n_ctx",
    "threads",
    "batch",
    "kv_type",
    "n_gpu_layers",
    "case",
    "repetition",
    "started_at",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "prompt_tokens_per_s",
    "gen_tokens_per_s",
    "peak_rss_bytes",
    "kv_cache_bytes",
    "cached_tokens",
    "batch_sequences",
    "other_cpu_cores",
    "contended",
    "logprob_mean",
    "logprob_min",
    "passed",
    "score",
    "failed_checks",
    "cost_usd",
    "finish_reason",
    "error_class",
    "error",
    "output",
];

impl Report {
    /// One line per run; the summary is derivable from it and lives in the other formats.
    pub fn to_csv(&self) -> Result<String, ReportError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(HEADERS)?;
        for run in &self.runs {
            writer.write_record(self.cells(run).map(Cell::into_field))?;
        }
        let bytes = writer.into_inner().map_err(|e| ReportError::Io(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn cells(&self, run: &RunRow) -> [Cell; HEADERS.len()] {
        use Cell::{Number, Text};
        let real = |v: Option<f64>| Number(v.map(|v| format!("{v:.3}")).unwrap_or_default());
        let whole = |v: Option<u64>| Number(v.map(|v| v.to_string()).unwrap_or_default());
        let setting =
            |f: fn(&LocalSettings) -> u32| whole(run.labels.settings.as_ref().map(|s| u64::from(f(s))));
        [
            Number(self.experiment_id.to_string()),
            Text(run.labels.variant.clone()),
            Text(run.labels.target.clone()),
            setting(|s| s.n_ctx),
            setting(|s| s.threads),
            setting(|s| s.batch),
            Text(
                run.labels
                    .settings
                    .map(|s| s.kv_type.to_string())
                    .unwrap_or_default(),
            ),
            setting(|s| s.n_gpu_layers),
            Text(run.labels.case.clone()),
            Number(run.run.repetition.to_string()),
            Text(run.run.started_at.clone()),
            real(run.latency_ms()),
            real(run.ttft_ms()),
            whole(run.input_tokens().map(u64::from)),
            whole(run.output_tokens().map(u64::from)),
            real(run.metric(RunMetrics::prompt_tokens_per_s)),
            real(run.gen_tokens_per_s()),
            whole(run.metric(|m| m.peak_rss_bytes)),
            whole(run.metric(|m| m.kv_cache_bytes)),
            whole(run.metric(|m| m.cached_tokens).map(u64::from)),
            whole(run.metric(|m| m.batch_sequences).map(u64::from)),
            real(run.metric(|m| m.other_cpu_cores)),
            Number(
                run.metric(|m| m.contended)
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            ),
            real(run.metric(|m| m.logprob_mean)),
            real(run.metric(|m| m.logprob_min)),
            Number(run.passed.map(|p| p.to_string()).unwrap_or_default()),
            real(run.score),
            Text(
                run.run
                    .checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| c.check.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Number(run.run.cost_usd.map(|c| format!("{c:.8}")).unwrap_or_default()),
            Text(
                run.run
                    .finish_reason
                    .map(|f| f.as_str().to_string())
                    .unwrap_or_default(),
            ),
            Text(
                run.run
                    .error
                    .as_ref()
                    .map(|e| e.class.as_str().to_string())
                    .unwrap_or_default(),
            ),
            Text(
                run.run
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
            ),
            Text(run.run.output.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::report::RunLabels;
    use crate::execute::environment::Environment;
    use crate::execute::record::RunRecord;
    use crate::run::{ErrorClass, RunError, RunMetrics};
    use crate::spec::target::KvType;

    fn row() -> RunRow {
        let labels = RunLabels {
            variant: "a".into(),
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
            case: "c".into(),
        };
        let run = RunRecord {
            output: "out".into(),
            metrics: Some(RunMetrics::new(100.0, 10, 4)),
            ..RunRecord::new(0, 0, 0, String::new())
        };
        RunRow::new(labels, run)
    }

    #[test]
    fn csv_text_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralized_but_numbers_stay_numbers() {
        let mut hostile = row();
        hostile.labels.variant = "=1+1".into();
        hostile.labels.target = "+cmd|' /C calc'!A0".into();
        hostile.labels.case = "-2+3".into();
        hostile.run.started_at = "@SUM(1)".into();
        hostile.run.output = "=HYPERLINK(\"http://evil\", \"x\")".into();
        hostile.run.metrics = Some(RunMetrics::new(-1.5, 10, 4));
        hostile.run.error = Some(RunError::new(ErrorClass::Decode, "\t=cmd"));
        let mut plain = row();
        plain.run.output = "fine = good".into();
        plain.run.error = Some(RunError::new(ErrorClass::Decode, "\r=cmd"));
        let report = Report {
            experiment_id: 1,
            name: "n".into(),
            source: None,
            created_at: String::new(),
            finished_at: None,
            status: crate::execute::resume::ExperimentStatus::Completed,
            planned_runs: 0,
            environment: Environment::detect(None),
            targets: Vec::new(),
            configs: Vec::new(),
            runs: vec![hostile, plain],
            comparison: None,
            search: None,
            grading: Vec::new(),
            judgements: Vec::new(),
        };
        let csv = report.to_csv().unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let cell = |row: usize, name: &str| {
            let column = headers.iter().position(|h| h == name).unwrap();
            rows[row][column].to_string()
        };
        assert_eq!(cell(0, "variant"), "'=1+1");
        assert_eq!(cell(0, "target"), "'+cmd|' /C calc'!A0");
        assert_eq!(cell(0, "case"), "'-2+3");
        assert_eq!(cell(0, "started_at"), "'@SUM(1)");
        assert_eq!(cell(0, "output"), "'=HYPERLINK(\"http://evil\", \"x\")");
        assert_eq!(cell(0, "error"), "'\t=cmd");
        assert_eq!(cell(1, "error"), "'\r=cmd");
        // A number column keeps a negative number a number; ordinary text is untouched.
        assert_eq!(cell(0, "latency_ms"), "-1.500");
        assert_eq!(cell(0, "n_ctx"), "512");
        assert_eq!(cell(1, "output"), "fine = good");
        assert_eq!(cell(1, "variant"), "a");
    }
}
