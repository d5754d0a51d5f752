//! The log-probability the model gave each token it generated, from the logits the runner already
//! reads to pick it: `logit[token] − max − ln Σ exp(logit − max)`, under the model's own
//! distribution (temperature 1, before any sampler). Routing policies escalate on it.
//!
//! It runs once per generated token over the whole vocabulary (262,144 logits for Gemma), so the
//! sum of exponentials is written for the vector unit: a polynomial `exp` the compiler vectorizes,
//! 16 independent lanes, and AVX-512 or AVX2 + FMA builds of the same loop chosen at run time
//! where the CPU has them (never assumed at compile time: the binary runs on any x86-64). On a
//! 2-core EPYC it costs about 0.07 ms per token, against about 15 ms for the decode of the
//! default model (docs/measurements.md, "Runner overhead").

const LANES: usize = 16;

/// Differences below this are left out of the sum: each adds less than e⁻⁸⁰ (about 2·10⁻³⁵).
const FLOOR: f32 = -80.0;

/// The largest value, ignoring NaN, over 16 lanes so that it vectorizes.
pub(crate) fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane = if *value > *lane { *value } else { *lane };
        }
    }
    lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |a, b| if *b > a { *b } else { a })
}

/// ln P(token) given the logits and their maximum (`lane_max`, which the greedy pick has already
/// computed).
pub(crate) fn token_logprob(logits: &[f32], token: usize, max: f32) -> f64 {
    let Some(logit) = logits.get(token) else {
        return f64::NEG_INFINITY;
    };
    if !max.is_finite() {
        return f64::NEG_INFINITY;
    }
    f64::from(*logit - max) - sum_exp(logits, max).ln()
}

/// Σ exp(v − max) over the values (each v ≤ max), to about 10⁻⁵ relative.
fn sum_exp(values: &[f32], max: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the running CPU (and its OS) reported AVX-512F just now.
            #[allow(unsafe_code)]
            return unsafe { sum_exp_avx512(values, max) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the running CPU reported AVX2 and FMA just now.
            #[allow(unsafe_code)]
            return unsafe { sum_exp_avx2(values, max) };
        }
    }
    sum_exp_lanes(values, max)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sum_exp_avx512(values: &[f32], max: f32) -> f64 {
    sum_exp_lanes(values, max)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sum_exp_avx2(values: &[f32], max: f32) -> f64 {
    sum_exp_lanes(values, max)
}

#[inline(always)]
fn sum_exp_lanes(values: &[f32], max: f32) -> f64 {
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += exp_nonpositive(*value - max);
        }
    }
    lanes.iter().map(|v| f64::from(*v)).sum::<f64>()
        + rest
            .iter()
            .map(|v| f64::from(exp_nonpositive(*v - max)))
            .sum::<f64>()
}

/// e^x for x ≤ 0: x = (n + f)·ln 2 with n an integer and |f| ≤ ½, 2^f by its Taylor polynomial
/// (error below 3·10⁻⁶), 2^n put into the exponent bits. Plain arithmetic, so it vectorizes.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // `max` also turns NaN (a broken model's logit) into the floor: it cannot poison the sum.
    let x = x.max(FLOOR);
    let t = x * std::f32::consts::LOG2_E;
    // Adding 1.5·2²³ rounds to an integer and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let shifted = t + ROUND;
    let n = shifted - ROUND;
    let k = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let y = (t - n) * std::f32::consts::LN_2;
    let p = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0)))));
    f32::from_bits((p.to_bits() as i32).wrapping_add(k << 23) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(logits: &[f32], token: usize) -> f64 {
        let max = logits.iter().fold(f64::NEG_INFINITY, |a, b| a.max(f64::from(*b)));
        let sum: f64 = logits.iter().map(|v| (f64::from(*v) - max).exp()).sum();
        f64::from(logits[token]) - max - sum.ln()
    }

    fn logits(n: usize, spread: f32, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * spread - spread / 2.0
            })
            .collect()
    }

    #[test]
    fn a_tokens_logprob_equals_the_exact_log_softmax_over_a_gemma_sized_vocabulary() {
        for (spread, seed) in [(2.0, 1), (30.0, 2), (200.0, 3)] {
            let values = logits(262_147, spread, seed);
            let max = lane_max(&values);
            for token in [0, 17, 131_072, 262_146] {
                let got = token_logprob(&values, token, max);
                let want = exact(&values, token);
                assert!(
                    (got - want).abs() < 1e-4,
                    "spread {spread}, token {token}: {got} against {want}"
                );
            }
        }
    }

    #[test]
    fn the_vector_exponential_is_exact_to_a_few_millionths_across_its_range() {
        for i in 0..=8000 {
            let x = -(i as f32) * 0.01;
            let (got, want) = (f64::from(exp_nonpositive(x)), f64::from(x).exp());
            // An f32 argument of magnitude |x| is itself only known to |x|·6e-8.
            let bound = want * (3e-6 + f64::from(-x) * 1.2e-7) + 1e-38;
            assert!((got - want).abs() <= bound, "exp({x}) = {got}, not {want}");
        }
    }

    #[test]
    fn a_certain_token_has_logprob_zero_and_nan_logits_do_not_poison_it() {
        let mut values = vec![-1000.0f32; 100];
        values[3] = 5.0;
        values[50] = f32::NAN;
        let max = lane_max(&values);
        assert_eq!(max, 5.0);
        assert!(token_logprob(&values, 3, max).abs() < 1e-9);
        assert_eq!(
            token_logprob(&values, 1000, max),
            f64::NEG_INFINITY,
            "a token past the vocabulary"
        );
    }
}
