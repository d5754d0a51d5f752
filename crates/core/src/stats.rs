//! Descriptive statistics used by reports.

pub mod confidence_sequence;

/// The p-th percentile (0–100) of `values` by linear interpolation between closest ranks
/// (numpy's default, "type 7"), so p50 of an even-sized sample is the mean of the middle two.
/// `None` for an empty sample; non-finite values are ignored.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let fraction = rank - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * fraction)
}

pub fn mean(values: &[f64]) -> Option<f64> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    Some(finite.iter().sum::<f64>() / finite.len() as f64)
}

/// Sample standard deviation (n − 1); `None` below two values.
pub fn std_dev(values: &[f64]) -> Option<f64> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return None;
    }
    let m = finite.iter().sum::<f64>() / finite.len() as f64;
    let var = finite.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (finite.len() - 1) as f64;
    Some(var.sqrt())
}

/// A small, well-mixed generator: reproducible resampling without a dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias for n ≪ 2^64 is negligible).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        // numpy.percentile([1, 2, 3, 4], 95) == 3.85
        assert!((percentile(&v, 95.0).unwrap() - 3.85).abs() < 1e-12);
    }

    #[test]
    fn percentile_ignores_order_and_non_finite_values() {
        assert_eq!(percentile(&[9.0, f64::NAN, 1.0, 5.0], 50.0), Some(5.0));
    }

    #[test]
    fn empty_samples_have_no_statistics() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(mean(&[]), None);
        assert_eq!(std_dev(&[1.0]), None);
    }

    #[test]
    fn std_dev_uses_n_minus_one() {
        // numpy.std([2, 4, 4, 4, 5, 5, 7, 9], ddof=1) == 2.138089935299395
        let sd = std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!((sd - 2.138_089_935_299_395).abs() < 1e-12);
    }
}
