//! When an open-loop load test sends each request: at a constant rate, or as a Poisson process
//! (exponential gaps, seeded, so a level is the same schedule every time). Latency in an open
//! loop is measured from these scheduled times, never from when the generator got round to
//! sending, so a generator that falls behind cannot hide the queueing it causes.

use serde::{Deserialize, Serialize};

use crate::stats::SplitMix64;

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    Constant,
    Poisson,
}

impl Arrivals {
    pub fn parse(text: &str) -> Result<Arrivals, String> {
        match text {
            "constant" => Ok(Arrivals::Constant),
            "poisson" => Ok(Arrivals::Poisson),
            other => Err(format!("`{other}`: arrivals are poisson or constant")),
        }
    }
}

/// How long a level lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LevelLimit {
    Requests(usize),
    DurationMs(f64),
}

/// The send times of one level, in milliseconds from its start, ascending: `rate` requests per
/// second until `limit`.
pub fn schedule(arrivals: Arrivals, rate: f64, limit: LevelLimit, seed: u64) -> Vec<f64> {
    if !(rate.is_finite() && rate > 0.0) {
        return Vec::new();
    }
    let mean_gap_ms = 1000.0 / rate;
    let mut rng = SplitMix64(seed);
    let mut at = 0.0;
    let mut times = Vec::new();
    loop {
        match limit {
            LevelLimit::Requests(n) if times.len() >= n => break,
            LevelLimit::DurationMs(d) if at >= d => break,
            _ => {}
        }
        times.push(at);
        at += match arrivals {
            Arrivals::Constant => mean_gap_ms,
            Arrivals::Poisson => {
                // Uniform in (0, 1]: 53 random bits, never 0, so the logarithm is finite.
                let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
                -u.ln() * mean_gap_ms
            }
        };
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_schedule_sends_evenly_and_a_poisson_one_at_the_asked_mean_rate() {
        let even = schedule(Arrivals::Constant, 4.0, LevelLimit::Requests(5), 1);
        assert_eq!(even, vec![0.0, 250.0, 500.0, 750.0, 1000.0]);
        let timed = schedule(Arrivals::Constant, 10.0, LevelLimit::DurationMs(1000.0), 1);
        assert_eq!(timed.len(), 10);

        let poisson = schedule(Arrivals::Poisson, 200.0, LevelLimit::Requests(20_000), 7);
        let gaps: Vec<f64> = poisson.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 5.0).abs() < 0.15, "mean gap {mean} ms, expected 5 ms");
        // Exponential gaps: the standard deviation equals the mean.
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((sd / mean - 1.0).abs() < 0.05, "sd/mean {}", sd / mean);
        assert_eq!(
            poisson,
            schedule(Arrivals::Poisson, 200.0, LevelLimit::Requests(20_000), 7),
            "seeded"
        );
        assert!(schedule(Arrivals::Poisson, 0.0, LevelLimit::Requests(3), 7).is_empty());
    }
}
