//! A served deployment's traffic: one record per request (`tradeoff serve` writes them, the
//! store keeps them), and what a span of them adds up to (`tradeoff traffic`, the Monitor).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::run::ErrorClass;
use crate::stats::percentile;

/// One request a deployment answered (or refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficRecord {
    /// When it arrived, in Unix milliseconds.
    pub at_ms: i64,
    /// `chat`, `completions` or `variant`.
    pub route: String,
    /// A routing policy's stage that answered; `None` for a single config.
    pub stage: Option<String>,
    /// The HTTP status it got.
    pub status: u16,
    pub error_class: Option<ErrorClass>,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    /// Waiting for a slot.
    pub queue_ms: f64,
    /// From arrival to the first output text.
    pub ttft_ms: Option<f64>,
    /// Gaps between successive output tokens.
    pub itl_p50_ms: Option<f64>,
    pub itl_p95_ms: Option<f64>,
    /// From arrival to the end of the answer.
    pub latency_ms: f64,
    /// Its share of the machine (priced per hour) or its tokens (priced per token).
    pub cost_usd: Option<f64>,
    /// blake3 of the output text, to tell how consistent answers are without keeping them.
    pub output_hash: Option<String>,
    /// Kept only when the server was asked to (`--log-text`).
    pub output_text: Option<String>,
    /// Sent by the server's own canary, not by a client.
    pub canary: bool,
    /// A canary answer's verdict under its case's checks (`None`: not a canary's, or unchecked).
    pub passed: Option<bool>,
}

/// What a span of traffic adds up to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficSummary {
    pub requests: usize,
    /// Requests that got an error, by class (`rate_limited` for a 429 the server gave).
    pub errors: BTreeMap<String, usize>,
    pub error_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    /// The median over requests of each one's median gap between tokens, and of its p95.
    pub itl_p50_ms: Option<f64>,
    pub itl_p95_ms: Option<f64>,
    pub queue_p95_ms: Option<f64>,
    pub input_tokens_mean: Option<f64>,
    pub output_tokens_mean: Option<f64>,
    pub cost_usd: Option<f64>,
    /// Distinct outputs among successful requests, over those requests: 1 / n when every answer
    /// was the same, 1 when none repeated.
    pub distinct_output_share: Option<f64>,
    /// Requests by the routing policy's stages they went through, the answering one last (empty
    /// for a single config).
    pub stages: BTreeMap<String, usize>,
}

/// Sums up `records` (a canary's and clients' alike; filter first to separate them).
pub fn summarize(records: &[TrafficRecord]) -> TrafficSummary {
    let ok: Vec<&TrafficRecord> = records.iter().filter(|r| r.error_class.is_none()).collect();
    let mut errors = BTreeMap::new();
    let mut stages = BTreeMap::new();
    for stage in records.iter().filter_map(|r| r.stage.as_ref()) {
        *stages.entry(stage.clone()).or_insert(0) += 1;
    }
    for class in records.iter().filter_map(|r| r.error_class) {
        *errors.entry(class.as_str().to_string()).or_insert(0) += 1;
    }
    let of = |value: fn(&TrafficRecord) -> Option<f64>| -> Vec<f64> {
        ok.iter()
            .filter_map(|r| value(r))
            .filter(|v| v.is_finite())
            .collect()
    };
    let latencies = of(|r| Some(r.latency_ms));
    let ttfts = of(|r| r.ttft_ms);
    let mean = |values: Vec<f64>| crate::stats::mean(&values);
    let costs: Vec<f64> = records.iter().filter_map(|r| r.cost_usd).collect();
    let hashes: Vec<&str> = ok.iter().filter_map(|r| r.output_hash.as_deref()).collect();
    let distinct = hashes.iter().collect::<std::collections::BTreeSet<_>>().len();
    TrafficSummary {
        requests: records.len(),
        error_rate: (!records.is_empty()).then(|| (records.len() - ok.len()) as f64 / records.len() as f64),
        errors,
        latency_p50_ms: percentile(&latencies, 50.0),
        latency_p95_ms: percentile(&latencies, 95.0),
        ttft_p50_ms: percentile(&ttfts, 50.0),
        ttft_p95_ms: percentile(&ttfts, 95.0),
        itl_p50_ms: percentile(&of(|r| r.itl_p50_ms), 50.0),
        itl_p95_ms: percentile(&of(|r| r.itl_p95_ms), 50.0),
        queue_p95_ms: percentile(&of(|r| Some(r.queue_ms)), 95.0),
        input_tokens_mean: mean(of(|r| r.input_tokens.map(f64::from))),
        output_tokens_mean: mean(of(|r| r.output_tokens.map(f64::from))),
        cost_usd: (!costs.is_empty()).then(|| costs.iter().sum()),
        distinct_output_share: (!hashes.is_empty()).then(|| distinct as f64 / hashes.len() as f64),
        stages,
    }
}

/// The CSV columns of [`to_csv`].
const CSV_HEADERS: [&str; 16] = [
    "at_ms",
    "route",
    "stage",
    "status",
    "error_class",
    "input_tokens",
    "output_tokens",
    "queue_ms",
    "ttft_ms",
    "itl_p50_ms",
    "itl_p95_ms",
    "latency_ms",
    "cost_usd",
    "output_hash",
    "output_text",
    "canary",
];

/// One line per request, text cells neutralized for spreadsheets as the report's CSV does.
pub fn to_csv(records: &[TrafficRecord]) -> Result<String, csv::Error> {
    use crate::analyze::report::csv_export::Cell::{Number, Text};
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADERS)?;
    let real = |v: Option<f64>| Number(v.map(|v| format!("{v:.3}")).unwrap_or_default());
    let whole = |v: Option<u32>| Number(v.map(|v| v.to_string()).unwrap_or_default());
    for r in records {
        let cells = [
            Number(r.at_ms.to_string()),
            Text(r.route.clone()),
            Text(r.stage.clone().unwrap_or_default()),
            Number(r.status.to_string()),
            Text(
                r.error_class
                    .map(ErrorClass::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ),
            whole(r.input_tokens),
            whole(r.output_tokens),
            real(Some(r.queue_ms)),
            real(r.ttft_ms),
            real(r.itl_p50_ms),
            real(r.itl_p95_ms),
            real(Some(r.latency_ms)),
            Number(r.cost_usd.map(|c| format!("{c:.9}")).unwrap_or_default()),
            Text(r.output_hash.clone().unwrap_or_default()),
            Text(r.output_text.clone().unwrap_or_default()),
            Number(r.canary.to_string()),
        ];
        writer.write_record(cells.map(|c| c.into_field()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(latency_ms: f64, error: Option<ErrorClass>, hash: &str) -> TrafficRecord {
        TrafficRecord {
            at_ms: 0,
            route: "completions".into(),
            stage: None,
            status: if error.is_some() { 500 } else { 200 },
            error_class: error,
            input_tokens: Some(50),
            output_tokens: Some(10),
            queue_ms: 0.0,
            ttft_ms: Some(latency_ms / 4.0),
            itl_p50_ms: Some(15.0),
            itl_p95_ms: Some(20.0),
            latency_ms,
            cost_usd: Some(0.001),
            output_hash: Some(hash.into()),
            output_text: None,
            canary: false,
            passed: None,
        }
    }

    #[test]
    fn errors_count_by_class_and_stay_out_of_the_timings() {
        let records = [
            record(100.0, None, "a"),
            record(200.0, None, "a"),
            record(300.0, None, "b"),
            record(9000.0, Some(ErrorClass::WorkerCrashed), "c"),
        ];
        let summary = summarize(&records);
        assert_eq!(summary.requests, 4);
        assert_eq!(summary.errors["worker_crashed"], 1);
        assert_eq!(summary.error_rate, Some(0.25));
        assert_eq!(summary.latency_p50_ms, Some(200.0));
        assert_eq!(summary.output_tokens_mean, Some(10.0));
        assert!((summary.cost_usd.unwrap() - 0.004).abs() < 1e-12);
        assert_eq!(summary.distinct_output_share, Some(2.0 / 3.0));
        assert_eq!(summarize(&[]).error_rate, None);
    }

    #[test]
    fn an_answer_a_spreadsheet_would_run_is_neutralized_in_the_csv() {
        let mut logged = record(100.0, None, "a");
        logged.output_text = Some("=HYPERLINK(\"x\")".into());
        let csv = to_csv(&[logged]).unwrap();
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        assert!(csv.starts_with("at_ms,route,"), "{csv}");
    }
}
