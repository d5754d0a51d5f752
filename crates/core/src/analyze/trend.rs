//! A served deployment's traffic over time, for the Monitor: requests folded into one aggregate
//! per minute as they are logged (counts, sums, and histograms of latency, TTFT and inter-token
//! latency), so that a month of a busy deployment is read as 43,200 small rows, not a million
//! requests. Percentiles of a span come from its merged histograms: bins 19 % wide (four per
//! doubling), so an estimate is within about 9 % of the exact value `tradeoff traffic` computes
//! from the rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analyze::traffic::TrafficRecord;

/// Bins per doubling of a histogram of milliseconds.
const BINS_PER_DOUBLING: f64 = 4.0;

/// Counts of milliseconds in log-spaced bins: bin `k` holds `[2^(k/4), 2^((k+1)/4))` ms, bin 0
/// everything below 1.19 ms. Sparse: only the bins with counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram(pub BTreeMap<u16, u64>);

impl Histogram {
    pub fn add(&mut self, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        let bin = (ms.max(1.0).log2() * BINS_PER_DOUBLING)
            .floor()
            .clamp(0.0, f64::from(u16::MAX)) as u16;
        *self.0.entry(bin).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bin, count) in &other.0 {
            *self.0.entry(*bin).or_insert(0) += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The `p`-th percentile, as the geometric middle of the bin it falls in.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bin, count) in &self.0 {
            seen += count;
            if seen >= rank {
                return Some(2f64.powf((f64::from(*bin) + 0.5) / BINS_PER_DOUBLING));
            }
        }
        None
    }
}

/// What one minute (or a span folded from minutes) of a deployment's traffic adds up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub requests: u64,
    pub errors: u64,
    /// Errors by class.
    pub error_classes: BTreeMap<String, u64>,
    /// Successful requests, over which the token and time figures are taken.
    pub answered: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency: Histogram,
    pub ttft: Histogram,
    /// Each request's median gap between tokens.
    pub itl: Histogram,
    /// Canary answers that were checked, and those that passed.
    pub checked: u64,
    pub passed: u64,
}

impl Aggregate {
    pub fn add(&mut self, record: &TrafficRecord) {
        self.requests += 1;
        if let Some(class) = record.error_class {
            self.errors += 1;
            *self.error_classes.entry(class.as_str().to_string()).or_insert(0) += 1;
        } else {
            self.answered += 1;
            self.input_tokens += u64::from(record.input_tokens.unwrap_or(0));
            self.output_tokens += u64::from(record.output_tokens.unwrap_or(0));
            self.latency.add(record.latency_ms);
            if let Some(ttft) = record.ttft_ms {
                self.ttft.add(ttft);
            }
            if let Some(itl) = record.itl_p50_ms {
                self.itl.add(itl);
            }
        }
        self.cost_usd += record.cost_usd.unwrap_or(0.0);
        if let Some(passed) = record.passed {
            self.checked += 1;
            self.passed += u64::from(passed);
        }
    }

    pub fn merge(&mut self, other: &Aggregate) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (class, n) in &other.error_classes {
            *self.error_classes.entry(class.clone()).or_insert(0) += n;
        }
        self.answered += other.answered;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd += other.cost_usd;
        self.latency.merge(&other.latency);
        self.ttft.merge(&other.ttft);
        self.itl.merge(&other.itl);
        self.checked += other.checked;
        self.passed += other.passed;
    }
}

/// One point of a trend: a bucket of time and what its traffic added up to.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// The bucket's start, in Unix milliseconds.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub at_ms: i64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub requests: u64,
    pub error_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub itl_p50_ms: Option<f64>,
    pub input_tokens_mean: Option<f64>,
    pub output_tokens_mean: Option<f64>,
    /// What the bucket's requests cost, per hour of the bucket.
    pub cost_per_hour_usd: Option<f64>,
    /// The canary's pass rate in the bucket.
    pub canary_pass_rate: Option<f64>,
}

impl TrendPoint {
    pub fn of(at_ms: i64, bucket_ms: i64, clients: &Aggregate, canary: &Aggregate) -> TrendPoint {
        let per = |sum: u64| (clients.answered > 0).then(|| sum as f64 / clients.answered as f64);
        TrendPoint {
            at_ms,
            requests: clients.requests,
            error_rate: (clients.requests > 0).then(|| clients.errors as f64 / clients.requests as f64),
            latency_p50_ms: clients.latency.percentile(50.0),
            latency_p95_ms: clients.latency.percentile(95.0),
            ttft_p50_ms: clients.ttft.percentile(50.0),
            ttft_p95_ms: clients.ttft.percentile(95.0),
            itl_p50_ms: clients.itl.percentile(50.0),
            input_tokens_mean: per(clients.input_tokens),
            output_tokens_mean: per(clients.output_tokens),
            cost_per_hour_usd: (clients.requests > 0)
                .then(|| clients.cost_usd * 3_600_000.0 / bucket_ms as f64),
            canary_pass_rate: (canary.checked > 0).then(|| canary.passed as f64 / canary.checked as f64),
        }
    }
}

/// Folds minute aggregates `(minute start ms, canary, aggregate)` into buckets of `bucket_ms`
/// from `from_ms` to `to_ms`, every bucket present (an empty one has no figures).
pub fn trend(
    minutes: &[(i64, bool, Aggregate)],
    from_ms: i64,
    to_ms: i64,
    bucket_ms: i64,
) -> Vec<TrendPoint> {
    let bucket_ms = bucket_ms.max(60_000);
    let start = from_ms - from_ms.rem_euclid(bucket_ms);
    let count = usize::try_from((to_ms - start).max(0) / bucket_ms + 1)
        .unwrap_or(0)
        .min(100_000);
    let mut buckets = vec![(Aggregate::default(), Aggregate::default()); count];
    for (minute, canary, aggregate) in minutes {
        let Ok(index) = usize::try_from((minute - start).div_euclid(bucket_ms)) else {
            continue;
        };
        if let Some((clients, canaries)) = buckets.get_mut(index) {
            if *canary {
                canaries.merge(aggregate);
            } else {
                clients.merge(aggregate);
            }
        }
    }
    buckets
        .iter()
        .enumerate()
        .map(|(i, (clients, canary))| {
            TrendPoint::of(start + i as i64 * bucket_ms, bucket_ms, clients, canary)
        })
        .collect()
}

/// The minute a request arrived in, in Unix milliseconds.
pub fn minute_of(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(60_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ErrorClass;
    use crate::stats::percentile;

    #[test]
    fn histogram_percentiles_stay_within_a_bin_of_the_exact_ones() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut values = Vec::new();
        let mut histogram = Histogram::default();
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Log-normal-ish latencies between 20 ms and 5 s.
            let ms = 20.0 * (((state % 10_000) as f64 / 10_000.0) * 5.5).exp();
            values.push(ms);
            histogram.add(ms);
        }
        for p in [50.0, 90.0, 95.0, 99.0] {
            let exact = percentile(&values, p).unwrap();
            let estimate = histogram.percentile(p).unwrap();
            assert!(
                (estimate / exact - 1.0).abs() < 0.10,
                "p{p}: {estimate} vs {exact}"
            );
        }
        assert_eq!(Histogram::default().percentile(50.0), None);
    }

    fn record(at_ms: i64, latency_ms: f64, error: Option<ErrorClass>, canary: Option<bool>) -> TrafficRecord {
        TrafficRecord {
            at_ms,
            route: "completions".into(),
            stage: None,
            status: if error.is_some() { 500 } else { 200 },
            error_class: error,
            input_tokens: Some(40),
            output_tokens: Some(10),
            queue_ms: 0.0,
            ttft_ms: Some(latency_ms / 4.0),
            itl_p50_ms: Some(15.0),
            itl_p95_ms: Some(20.0),
            latency_ms,
            cost_usd: Some(0.001),
            output_hash: None,
            output_text: None,
            canary: canary.is_some(),
            passed: canary,
        }
    }

    #[test]
    fn minutes_fold_into_buckets_with_clients_and_the_canary_apart() {
        let hour = 3_600_000;
        let records = [
            record(10_000, 100.0, None, None),
            record(70_000, 120.0, Some(ErrorClass::WorkerCrashed), None),
            record(hour + 5_000, 400.0, None, None),
            record(hour + 6_000, 300.0, None, Some(false)),
            record(hour + 7_000, 300.0, None, Some(true)),
        ];
        let mut minutes: BTreeMap<(i64, bool), Aggregate> = BTreeMap::new();
        for r in &records {
            minutes.entry((minute_of(r.at_ms), r.canary)).or_default().add(r);
        }
        let minutes: Vec<(i64, bool, Aggregate)> = minutes.into_iter().map(|((m, c), a)| (m, c, a)).collect();
        let points = trend(&minutes, 0, 2 * hour - 1, hour);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].requests, 2);
        assert_eq!(points[0].error_rate, Some(0.5));
        assert_eq!(points[0].canary_pass_rate, None);
        assert!((points[0].cost_per_hour_usd.unwrap() - 0.002).abs() < 1e-12);
        assert_eq!(points[1].requests, 1, "the canary's requests are not clients'");
        assert_eq!(points[1].canary_pass_rate, Some(0.5));
        let p50 = points[1].latency_p50_ms.unwrap();
        assert!((p50 / 400.0 - 1.0).abs() < 0.1, "{p50}");
    }
}
