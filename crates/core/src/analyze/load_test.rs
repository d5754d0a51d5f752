//! What a load test's levels add up to: per level the offered and achieved rates, TTFT,
//! inter-token latency, TPOT and end-to-end percentiles, errors, goodput under the SLO, how late
//! the generator sent, and whether the server was saturated; across levels the knee (the highest
//! load whose SLO attainment is at least 99 %); and the capacity plan it gives.
//!
//! Timings of an open-loop level run from each request's *scheduled* send time, so a server (or
//! a generator) that falls behind shows as latency instead of as fewer requests.

use serde::{Deserialize, Serialize};

mod capacity;

pub use capacity::{CapacityPlan, HOURS_PER_MONTH, HostedAlternative, Traffic, plan_capacity};

use crate::analyze::canary::wilson;
use crate::run::ErrorClass;
use crate::spec::slo::Slo;
use crate::stats::{mean, percentile};

/// The SLO attainment a level needs to count below the knee.
pub const KNEE_ATTAINMENT: f64 = 0.99;
/// Achieved below this share of the offered rate: the server did not keep up.
pub const SATURATED_SHARE: f64 = 0.95;

/// One request as the load generator measured it. Times are milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSample {
    /// When it was due, from the level's start.
    pub scheduled_ms: f64,
    /// How late the generator sent it (0 in a closed loop, where a request is due when sent).
    pub lag_ms: f64,
    /// From the scheduled time to the first text.
    pub ttft_ms: Option<f64>,
    /// Every gap between successive pieces of text.
    pub itl_ms: Vec<f64>,
    /// From the scheduled time to the end of the answer (or of the failure).
    pub e2e_ms: f64,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    /// The server reported no usage: the token counts are estimates.
    pub tokens_estimated: bool,
    pub error_class: Option<ErrorClass>,
    /// Sent during the level's warm-up: recorded, never counted.
    pub warmup: bool,
}

impl LoadSample {
    /// Time per output token after the first.
    pub fn tpot_ms(&self) -> Option<f64> {
        let (ttft, tokens) = (self.ttft_ms?, self.output_tokens?);
        (tokens > 1).then(|| (self.e2e_ms - ttft) / f64::from(tokens - 1))
    }
}

/// What a level loads the server with.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// Closed loop: this many clients, each sending its next request when its last one ends.
    Concurrency(u32),
    /// Open loop: requests per second, on their schedule whatever the answers do.
    Rate(f64),
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

impl Percentiles {
    fn of(values: &[f64]) -> Percentiles {
        Percentiles {
            p50: percentile(values, 50.0),
            p90: percentile(values, 90.0),
            p99: percentile(values, 99.0),
        }
    }
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    pub concurrency: Option<u32>,
    pub rate: Option<f64>,
    /// Requests counted (warm-up left out).
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub requests: usize,
    /// The rate asked for (open loop), or the rate the clients were answered at, failures
    /// included (closed loop: each sends when answered).
    pub offered_rps: f64,
    /// Successful answers per second: n answers ending over t seconds are (n − 1) / t.
    pub achieved_rps: f64,
    pub output_tokens_per_s: f64,
    /// Mean tokens of a successful request, as the server reported them.
    pub input_tokens_mean: Option<f64>,
    pub output_tokens_mean: Option<f64>,
    pub ttft_ms: Percentiles,
    pub itl_ms: Percentiles,
    pub tpot_ms: Percentiles,
    pub e2e_ms: Percentiles,
    pub error_rate: f64,
    /// Requests per second that met every bound of the SLO (errors count as misses); without an
    /// SLO, successful requests per second.
    pub goodput_rps: f64,
    pub good_output_tokens_per_s: f64,
    /// Share of counted requests that met the SLO (`None` without one).
    pub slo_attainment: Option<f64>,
    /// How late the generator sent, p99: above the bound the level is not valid.
    pub send_lag_p99_ms: f64,
    pub valid: bool,
    /// Whether the server was saturated at this level, and why (`saturation`).
    pub saturated: bool,
    pub saturation: Option<String>,
    /// Some token counts are estimates (the server reported no usage).
    pub tokens_estimated: bool,
}

/// Sums up one level. `max_lag_ms`: the p99 send lag above which the level is not valid.
pub fn summarize_level(
    load: Load,
    samples: &[LoadSample],
    slo: Option<&Slo>,
    max_lag_ms: f64,
) -> LevelSummary {
    let counted: Vec<&LoadSample> = samples.iter().filter(|s| !s.warmup).collect();
    let ok: Vec<&LoadSample> = counted
        .iter()
        .copied()
        .filter(|s| s.error_class.is_none())
        .collect();
    let output = |s: &&LoadSample| f64::from(s.output_tokens.unwrap_or(0));
    let good: Vec<&LoadSample> = ok
        .iter()
        .copied()
        .filter(|s| slo.is_none_or(|slo| slo.met_by(s.ttft_ms, s.tpot_ms(), s.e2e_ms)))
        .collect();
    // Rates are counted between events, not over the level's window: a window from the first
    // send to the last end adds one latency to it, which at a few seconds a level and a second
    // a request reads a server that keeps up as 10 % short of its load. Answers come as often
    // as requests are sent while the server keeps up, as often as it serves them when it does
    // not: n answers spanning t seconds are (n − 1) / t per second.
    let ends: Vec<f64> = ok.iter().map(|s| s.scheduled_ms + s.e2e_ms).collect();
    let sends: Vec<f64> = counted.iter().map(|s| s.scheduled_ms).collect();
    let achieved_rps = rate_between(&ends);
    let sent_rps = rate_between(&sends);
    let share = |n: usize| {
        if ok.is_empty() {
            0.0
        } else {
            n as f64 / ok.len() as f64
        }
    };
    let offered_rps = match load {
        Load::Rate(rate) => rate,
        // A closed loop's clients send as fast as they are answered (failures included): the
        // rate between its sends would count the first round, sent all at once, as a burst.
        Load::Concurrency(_) => rate_between(
            &counted
                .iter()
                .map(|s| s.scheduled_ms + s.e2e_ms)
                .collect::<Vec<_>>(),
        ),
    };
    let lags: Vec<f64> = counted.iter().map(|s| s.lag_ms).collect();
    let send_lag_p99_ms = percentile(&lags, 99.0).unwrap_or(0.0);
    let itl: Vec<f64> = ok.iter().flat_map(|s| s.itl_ms.iter().copied()).collect();
    let mut summary = LevelSummary {
        concurrency: match load {
            Load::Concurrency(n) => Some(n),
            Load::Rate(_) => None,
        },
        rate: match load {
            Load::Rate(rate) => Some(rate),
            Load::Concurrency(_) => None,
        },
        requests: counted.len(),
        offered_rps,
        achieved_rps,
        output_tokens_per_s: achieved_rps * share(1) * ok.iter().map(output).sum::<f64>(),
        input_tokens_mean: mean(
            &ok.iter()
                .filter_map(|s| s.input_tokens.map(f64::from))
                .collect::<Vec<_>>(),
        ),
        output_tokens_mean: mean(
            &ok.iter()
                .filter_map(|s| s.output_tokens.map(f64::from))
                .collect::<Vec<_>>(),
        ),
        ttft_ms: Percentiles::of(&ok.iter().filter_map(|s| s.ttft_ms).collect::<Vec<_>>()),
        itl_ms: Percentiles::of(&itl),
        tpot_ms: Percentiles::of(&ok.iter().filter_map(|s| s.tpot_ms()).collect::<Vec<_>>()),
        e2e_ms: Percentiles::of(&ok.iter().map(|s| s.e2e_ms).collect::<Vec<_>>()),
        error_rate: if counted.is_empty() {
            0.0
        } else {
            (counted.len() - ok.len()) as f64 / counted.len() as f64
        },
        goodput_rps: achieved_rps * share(good.len()),
        good_output_tokens_per_s: achieved_rps * share(1) * good.iter().map(output).sum::<f64>(),
        slo_attainment: slo.and((!counted.is_empty()).then(|| good.len() as f64 / counted.len() as f64)),
        send_lag_p99_ms,
        valid: send_lag_p99_ms <= max_lag_ms,
        saturated: false,
        saturation: None,
        tokens_estimated: counted.iter().any(|s| s.tokens_estimated),
    };
    summary.saturation = saturation(load, &summary, sent_rps, &ok);
    summary.saturated = summary.saturation.is_some();
    summary
}

/// Why a level counts as saturated: an open loop's server answered fewer than it was sent, or
/// latency kept rising through the level (a queue that grows: the last third of requests took
/// half as long again as the first, and at least 10 ms more).
fn saturation(load: Load, level: &LevelSummary, sent_rps: f64, ok: &[&LoadSample]) -> Option<String> {
    // Against the rate the schedule really sent at: a Poisson level of a few dozen requests
    // sends 20 % more or less than its mean rate.
    // Both rates are estimates from n events, within about 2/√n of the truth by chance (a Poisson
    // level of 50 requests easily reads 10 % short): only a larger shortfall is the server's.
    let noise = 2.0 / (ok.len().max(1) as f64).sqrt();
    if let Load::Rate(_) = load
        && sent_rps > 0.0
        && level.achieved_rps < (SATURATED_SHARE.min(1.0 - noise)) * sent_rps
    {
        return Some(format!(
            "answered {:.2} requests/s of {:.2} sent (below {:.0} %)",
            level.achieved_rps,
            sent_rps,
            SATURATED_SHARE * 100.0
        ));
    }
    let mut by_time: Vec<&&LoadSample> = ok.iter().collect();
    by_time.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    let third = by_time.len() / 3;
    if third < 5 {
        return None;
    }
    let median = |part: &[&&LoadSample]| percentile(&part.iter().map(|s| s.e2e_ms).collect::<Vec<_>>(), 50.0);
    let (first, last) = (
        median(&by_time[..third])?,
        median(&by_time[by_time.len() - third..])?,
    );
    (last > 1.5 * first && last - first > 10.0).then(|| {
        format!("latency rose through the level: median end-to-end {first:.0} ms in its first third, {last:.0} ms in its last")
    })
}

/// (n − 1) / t for n events spanning t milliseconds (0 with fewer than two).
fn rate_between(times_ms: &[f64]) -> f64 {
    let (first, last) = times_ms
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| {
            (lo.min(t), hi.max(t))
        });
    if times_ms.len() < 2 || last <= first {
        return 0.0;
    }
    (times_ms.len() - 1) as f64 * 1000.0 / (last - first)
}

/// Marks closed-loop levels where more clients stopped buying throughput (less than 5 % more
/// answers per second than the level before): the server is at its capacity.
pub fn mark_plateaus(levels: &mut [LevelSummary]) {
    for i in 1..levels.len() {
        let (before, now) = (levels[i - 1].clone(), &mut levels[i]);
        if !now.saturated
            && now.concurrency.is_some()
            && before.concurrency.is_some_and(|b| Some(b) < now.concurrency)
            && now.achieved_rps < 1.05 * before.achieved_rps
        {
            now.saturated = true;
            now.saturation = Some(format!(
                "{} clients answered {:.2} requests/s, {} answered {:.2}: more clients no longer add throughput",
                now.concurrency.unwrap_or(0),
                now.achieved_rps,
                before.concurrency.unwrap_or(0),
                before.achieved_rps
            ));
        }
    }
}

/// The highest load the server takes within the SLO.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// The level (its place in the list).
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub level: usize,
    /// The requests per second the knee level offered (open loop) or achieved (closed loop).
    pub rps: f64,
    pub goodput_rps: f64,
    /// The next level's, which missed: the real knee lies between (`None`: every level passed,
    /// the knee may be higher).
    pub next_rps: Option<f64>,
    /// The knee level's SLO attainment with its 95 % Wilson interval.
    pub attainment: Option<f64>,
    pub attainment_low: Option<f64>,
    pub attainment_high: Option<f64>,
    /// What decided it, in words.
    pub reason: String,
}

/// The knee of `levels` (in the order they ran, lightest first): the last level before the first
/// that misses — SLO attainment below 99 % with an SLO, saturated without one, or not valid.
pub fn knee(levels: &[LevelSummary]) -> Option<Knee> {
    let rps = |l: &LevelSummary| {
        if l.rate.is_some() {
            l.offered_rps
        } else {
            l.achieved_rps
        }
    };
    let misses = |l: &LevelSummary| -> Option<String> {
        if !l.valid {
            return Some(format!(
                "the generator sent {:.1} ms late at p99",
                l.send_lag_p99_ms
            ));
        }
        match l.slo_attainment {
            Some(a) if a < KNEE_ATTAINMENT => Some(format!("{:.1} % of requests met the SLO", a * 100.0)),
            Some(_) => None,
            None => l.saturation.clone(),
        }
    };
    let first_miss = levels.iter().position(|l| misses(l).is_some());
    let at = match first_miss {
        Some(0) | None if levels.is_empty() => return None,
        Some(0) => return None,
        Some(miss) => miss - 1,
        None => levels.len() - 1,
    };
    let level = &levels[at];
    let trials = level.requests;
    let successes = level.slo_attainment.map(|a| (a * trials as f64).round() as usize);
    let interval = successes.and_then(|s| wilson(s, trials));
    Some(Knee {
        level: at,
        rps: rps(level),
        goodput_rps: level.goodput_rps,
        next_rps: first_miss.map(|miss| rps(&levels[miss])),
        attainment: level.slo_attainment,
        attainment_low: interval.map(|i| i.0),
        attainment_high: interval.map(|i| i.1),
        reason: match first_miss {
            Some(miss) => format!(
                "the next level missed: {}",
                misses(&levels[miss]).unwrap_or_default()
            ),
            None => "every level held: the knee may lie beyond the heaviest level tried".into(),
        },
    })
}

/// A finished load test: what was loaded, each level's summary and requests, the knee and the
/// capacity plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadTest {
    /// What was loaded (`fewshot · gemma-270m-q4 · n_ctx 512`, `gpt-4o-mini at URL`).
    pub label: String,
    /// Where the prompts came from.
    pub prompts_from: String,
    pub slo: Option<Slo>,
    pub levels: Vec<LevelSummary>,
    /// Each level's requests, warm-up included (marked).
    pub samples: Vec<Vec<LoadSample>>,
    pub knee: Option<Knee>,
    pub capacity: Option<CapacityPlan>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::cost::Price;

    fn sample(at: f64, ttft: f64, tokens: u32, e2e: f64) -> LoadSample {
        LoadSample {
            scheduled_ms: at,
            lag_ms: 0.0,
            ttft_ms: Some(ttft),
            itl_ms: vec![(e2e - ttft) / f64::from(tokens.max(2) - 1); tokens.saturating_sub(1) as usize],
            e2e_ms: e2e,
            input_tokens: Some(10),
            output_tokens: Some(tokens),
            tokens_estimated: false,
            error_class: None,
            warmup: false,
        }
    }

    #[test]
    fn goodput_counts_the_requests_within_every_bound_over_the_levels_window() {
        // Four requests due at 0, 250, 500 and 750 ms (4 requests/s):
        // - 0 ms: TTFT 100, 11 tokens, 600 ms → TPOT 50: meets ttft=200ms,tpot=80ms.
        // - 250 ms: TTFT 300: misses TTFT.
        // - 500 ms: TTFT 100, 11 tokens, 1100 ms → TPOT 100: misses TPOT.
        // - 750 ms: failed (server error): a miss, and no answer.
        // The three answers end at 600, 950 and 1600 ms: 2 answers a second; one in three
        // within the SLO; 11 tokens each.
        let mut failed = sample(750.0, 50.0, 0, 100.0);
        failed.error_class = Some(ErrorClass::ServerError);
        failed.ttft_ms = None;
        let samples = [
            sample(0.0, 100.0, 11, 600.0),
            sample(250.0, 300.0, 11, 700.0),
            sample(500.0, 100.0, 11, 1100.0),
            failed,
        ];
        let slo = Slo::parse("ttft=200ms,tpot=80ms").unwrap();
        let level = summarize_level(Load::Rate(4.0), &samples, Some(&slo), 10.0);
        assert_eq!(level.requests, 4);
        assert!((level.achieved_rps - 2.0).abs() < 1e-9);
        assert!((level.goodput_rps - 2.0 / 3.0).abs() < 1e-9);
        assert!((level.good_output_tokens_per_s - 22.0 / 3.0).abs() < 1e-9);
        assert!((level.output_tokens_per_s - 22.0).abs() < 1e-9);
        assert_eq!(level.slo_attainment, Some(0.25));
        assert_eq!(level.error_rate, 0.25);
        assert_eq!(level.tpot_ms.p50, Some(50.0));
        // 2 answers a second of 4 sent, but from 3 answers: too few to tell from chance.
        assert!(!level.saturated, "{level:?}");
    }

    #[test]
    fn a_level_is_saturated_when_answers_fall_short_of_sends_beyond_chance_or_latency_climbs() {
        // 100 requests sent 100 ms apart (10/s), answered 200 ms apart (5/s): a queue that grows.
        let short: Vec<LoadSample> = (0..100)
            .map(|i| {
                let at = f64::from(i) * 100.0;
                let end = 50.0 + f64::from(i) * 200.0;
                sample(at, 20.0, 2, end - at)
            })
            .collect();
        let level = summarize_level(Load::Rate(10.0), &short, None, 10.0);
        assert!((level.achieved_rps - 5.0).abs() < 1e-9);
        assert!(
            level
                .saturation
                .as_deref()
                .is_some_and(|why| why.starts_with("answered 5.00 requests/s of 10.00 sent")),
            "{level:?}"
        );
        // The same sends answered as fast as they come: not saturated.
        let kept: Vec<LoadSample> = (0..100)
            .map(|i| sample(f64::from(i) * 100.0, 20.0, 2, 50.0))
            .collect();
        assert!(!summarize_level(Load::Rate(10.0), &kept, None, 10.0).saturated);
    }

    #[test]
    fn the_knee_is_the_last_level_before_the_first_that_misses_and_plans_the_replicas() {
        let level = |rate: f64, attainment: f64| LevelSummary {
            concurrency: None,
            rate: Some(rate),
            requests: 200,
            offered_rps: rate,
            achieved_rps: rate,
            output_tokens_per_s: rate * 50.0,
            input_tokens_mean: Some(120.0),
            output_tokens_mean: Some(40.0),
            ttft_ms: Percentiles::default(),
            itl_ms: Percentiles::default(),
            tpot_ms: Percentiles::default(),
            e2e_ms: Percentiles::default(),
            error_rate: 0.0,
            goodput_rps: rate * attainment,
            good_output_tokens_per_s: 0.0,
            slo_attainment: Some(attainment),
            send_lag_p99_ms: 0.2,
            valid: true,
            saturated: false,
            saturation: None,
            tokens_estimated: false,
        };
        let levels = [
            level(1.0, 1.0),
            level(2.0, 0.995),
            level(4.0, 0.9),
            level(8.0, 1.0),
        ];
        let found = knee(&levels).unwrap();
        assert_eq!(found.level, 1);
        assert_eq!(found.rps, 2.0);
        assert_eq!(found.next_rps, Some(4.0));
        assert!(found.attainment_low.unwrap() < 0.995 && found.attainment_high.unwrap() > 0.995);
        assert!(knee(&[level(1.0, 0.5)]).is_none(), "no level held");

        // 500,000 requests a day at a peak 3× the mean: 17.36 requests/s at peak; one replica
        // serves 1.99 within the SLO → 9 replicas at $0.08 an hour: 9 × 0.08 × 730 = $525.60.
        let traffic = Traffic::daily(500_000.0, 3.0);
        let hosted = Price {
            input_per_mtok: Some(0.15),
            output_per_mtok: Some(0.6),
            ..Price::default()
        };
        let test = LoadTest {
            label: "m".into(),
            prompts_from: "synthetic".into(),
            slo: None,
            levels: levels.to_vec(),
            samples: Vec::new(),
            knee: Some(found),
            capacity: None,
        };
        let plan = plan_capacity(&test, traffic, Some(0.08), Some(("gpt-4o-mini", &hosted))).unwrap();
        assert_eq!(plan.replicas, 9);
        assert!((plan.machines_per_month_usd.unwrap() - 525.6).abs() < 1e-9);
        // 120 × 0.15/1e6 + 40 × 0.6/1e6 = $0.000042 a request; 500,000/86,400 × 730 × 3600 a month.
        let hosted = plan.hosted.unwrap();
        assert!((hosted.per_request_usd - 0.000042).abs() < 1e-12);
        let monthly = 500_000.0 / 86_400.0 * 730.0 * 3600.0;
        assert!((hosted.per_month_usd - 0.000042 * monthly).abs() < 1e-6);
    }
}
