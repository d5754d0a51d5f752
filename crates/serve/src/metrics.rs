//! `/metrics`: histograms and counters of the served traffic in the OpenMetrics text format
//! Prometheus scrapes, named after OpenTelemetry's GenAI semantic conventions where they have a
//! name (`gen_ai_server_time_to_first_token_seconds`, `gen_ai_client_token_usage`, …) and
//! `tradeoff_…` where they have none.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use tradeoff_core::analyze::canary::CanaryRound;
use tradeoff_core::analyze::traffic::TrafficRecord;

type Labels = Vec<(String, String)>;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// OpenTelemetry's advised bucket boundaries for each of its GenAI histograms.
const TTFT_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
const PER_TOKEN_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    ttft: Histogram,
    per_token: Histogram,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    token_usage: Family<Labels, Histogram, fn() -> Histogram>,
    requests: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    cost: Counter<f64, AtomicU64>,
    waiting: Gauge,
    canary_pass_rate: Gauge<f64, AtomicU64>,
    canary_similarity: Gauge<f64, AtomicU64>,
    canary_flagged: Gauge,
    canary_rounds: Family<Labels, Counter>,
}

impl Metrics {
    pub fn new(model: &str) -> Metrics {
        let mut registry = Registry::with_labels(
            [(
                std::borrow::Cow::Borrowed("gen_ai_request_model"),
                std::borrow::Cow::Owned(model.to_string()),
            )]
            .into_iter(),
        );
        let ttft = Histogram::new(TTFT_BUCKETS);
        let per_token = Histogram::new(PER_TOKEN_BUCKETS);
        let duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS)
        });
        let token_usage = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
            Histogram::new(TOKEN_BUCKETS)
        });
        let requests = Family::<Labels, Counter>::default();
        let tokens = Family::<Labels, Counter>::default();
        let cost = Counter::<f64, AtomicU64>::default();
        let waiting = Gauge::default();
        let canary_pass_rate = Gauge::<f64, AtomicU64>::default();
        let canary_similarity = Gauge::<f64, AtomicU64>::default();
        let canary_flagged = Gauge::default();
        let canary_rounds = Family::<Labels, Counter>::default();
        registry.register_with_unit(
            "gen_ai_server_time_to_first_token",
            "Time from a request's arrival to its first output text",
            Unit::Seconds,
            ttft.clone(),
        );
        registry.register_with_unit(
            "gen_ai_server_time_per_output_token",
            "A request's mean time per output token after the first",
            Unit::Seconds,
            per_token.clone(),
        );
        registry.register_with_unit(
            "gen_ai_server_request_duration",
            "Time from a request's arrival to the end of its answer, by error type",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register(
            "gen_ai_client_token_usage",
            "Tokens per request, by gen_ai_token_type (input or output)",
            token_usage.clone(),
        );
        registry.register(
            "tradeoff_requests",
            "Requests answered, by route and error type (none when it succeeded)",
            requests.clone(),
        );
        registry.register(
            "tradeoff_tokens",
            "Tokens processed, by gen_ai_token_type",
            tokens.clone(),
        );
        registry.register(
            "tradeoff_cost_usd",
            "What the requests cost at the winner's price",
            cost.clone(),
        );
        registry.register(
            "tradeoff_requests_waiting",
            "Requests waiting for a slot",
            waiting.clone(),
        );
        registry.register(
            "tradeoff_canary_pass_rate",
            "The last canary round's pass rate",
            canary_pass_rate.clone(),
        );
        registry.register(
            "tradeoff_canary_similarity",
            "The last canary round's word similarity to the recorded answers",
            canary_similarity.clone(),
        );
        registry.register(
            "tradeoff_canary_flagged",
            "1 when the last canary round fell outside what was measured",
            canary_flagged.clone(),
        );
        registry.register(
            "tradeoff_canary_rounds",
            "Canary rounds, by whether they were flagged",
            canary_rounds.clone(),
        );
        Metrics {
            registry,
            ttft,
            per_token,
            duration,
            token_usage,
            requests,
            tokens,
            cost,
            waiting,
            canary_pass_rate,
            canary_similarity,
            canary_flagged,
            canary_rounds,
        }
    }

    /// Shows a judged canary round.
    pub fn observe_canary(&self, round: &CanaryRound) {
        if let Some(rate) = round.pass_rate {
            self.canary_pass_rate.set(rate);
        }
        if let Some(similarity) = round.similarity {
            self.canary_similarity.set(similarity);
        }
        self.canary_flagged.set(i64::from(round.flagged));
        self.canary_rounds
            .get_or_create(&vec![("flagged".into(), round.flagged.to_string())])
            .inc();
    }

    /// Counts a finished request.
    pub fn observe(&self, record: &TrafficRecord) {
        let error = record
            .error_class
            .map_or("none", tradeoff_core::run::ErrorClass::as_str)
            .to_string();
        self.requests
            .get_or_create(&vec![
                ("route".into(), record.route.clone()),
                ("error_type".into(), error.clone()),
            ])
            .inc();
        self.duration
            .get_or_create(&vec![("error_type".into(), error)])
            .observe(record.latency_ms / 1000.0);
        if let Some(ttft) = record.ttft_ms {
            self.ttft.observe(ttft / 1000.0);
            if let Some(output) = record.output_tokens.filter(|n| *n > 1) {
                self.per_token
                    .observe((record.latency_ms - ttft).max(0.0) / 1000.0 / f64::from(output - 1));
            }
        }
        for (kind, count) in [("input", record.input_tokens), ("output", record.output_tokens)] {
            let Some(count) = count else { continue };
            let labels = vec![("gen_ai_token_type".to_string(), kind.to_string())];
            self.token_usage.get_or_create(&labels).observe(f64::from(count));
            self.tokens.get_or_create(&labels).inc_by(u64::from(count));
        }
        if let Some(cost) = record.cost_usd {
            self.cost.inc_by(cost);
        }
    }

    pub fn set_waiting(&self, waiting: usize) {
        self.waiting.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// Everything, as `/metrics` answers it.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
