//! A service-level objective for load tests: `ttft=500ms,tpot=80ms,e2e=4s`. A request meets it
//! when it succeeded and each bound it names holds; goodput counts those.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The bounds, in milliseconds; an absent one is not checked.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Time to the first token.
    pub ttft_ms: Option<f64>,
    /// Time per output token after the first.
    pub tpot_ms: Option<f64>,
    /// End to end.
    pub e2e_ms: Option<f64>,
}

impl Slo {
    /// Parses `ttft=500ms,tpot=80ms,e2e=4s` (units `ms` or `s`; any subset, in any order).
    pub fn parse(text: &str) -> Result<Slo, String> {
        let mut slo = Slo::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: write name=value, e.g. ttft=500ms"))?;
            let ms = duration_ms(value.trim())
                .ok_or_else(|| format!("`{part}`: `{value}` is not a duration like 500ms or 4s"))?;
            let slot = match name.trim() {
                "ttft" => &mut slo.ttft_ms,
                "tpot" => &mut slo.tpot_ms,
                "e2e" => &mut slo.e2e_ms,
                other => return Err(format!("`{other}`: the bounds are ttft, tpot and e2e")),
            };
            if slot.replace(ms).is_some() {
                return Err(format!("`{}` is given twice", name.trim()));
            }
        }
        if slo == Slo::default() {
            return Err("an SLO names at least one bound: ttft, tpot or e2e".into());
        }
        Ok(slo)
    }

    /// Whether a successful request with these timings meets every bound. A bound on a timing the
    /// request has none of (TPOT of a one-token answer) holds.
    pub fn met_by(&self, ttft_ms: Option<f64>, tpot_ms: Option<f64>, e2e_ms: f64) -> bool {
        let within = |bound: Option<f64>, value: Option<f64>| match (bound, value) {
            (Some(bound), Some(value)) => value <= bound,
            (Some(_), None) | (None, _) => true,
        };
        // A request that never produced a first token cannot meet a TTFT bound.
        let ttft_ok = match (self.ttft_ms, ttft_ms) {
            (Some(_), None) => false,
            (bound, value) => within(bound, value),
        };
        ttft_ok && within(self.tpot_ms, tpot_ms) && within(self.e2e_ms, Some(e2e_ms))
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            ("ttft", self.ttft_ms),
            ("tpot", self.tpot_ms),
            ("e2e", self.e2e_ms),
        ]
        .into_iter()
        .filter_map(|(name, bound)| bound.map(|b| format!("{name}={b}ms")))
        .collect();
        f.write_str(&parts.join(","))
    }
}

fn duration_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value > 0.0).then_some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_slo_reads_its_bounds_in_any_order_and_refuses_what_it_cannot_read() {
        let slo = Slo::parse("tpot=80ms, e2e=4s,ttft=500ms").unwrap();
        assert_eq!(
            slo,
            Slo {
                ttft_ms: Some(500.0),
                tpot_ms: Some(80.0),
                e2e_ms: Some(4000.0)
            }
        );
        assert_eq!(Slo::parse("e2e=1.5s").unwrap().e2e_ms, Some(1500.0));
        for bad in [
            "",
            "ttft",
            "ttft=fast",
            "ttft=5",
            "ttft=-1ms",
            "p99=1s",
            "ttft=1s,ttft=2s",
        ] {
            assert!(Slo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_request_meets_the_slo_only_within_every_bound_it_names() {
        let slo = Slo::parse("ttft=500ms,tpot=80ms").unwrap();
        assert!(slo.met_by(Some(500.0), Some(80.0), 9_000.0));
        assert!(!slo.met_by(Some(501.0), Some(10.0), 600.0));
        assert!(!slo.met_by(Some(100.0), Some(81.0), 600.0));
        assert!(!slo.met_by(None, None, 600.0), "no first token, no TTFT met");
        assert!(
            slo.met_by(Some(100.0), None, 100.0),
            "a one-token answer has no TPOT to miss"
        );
    }
}
