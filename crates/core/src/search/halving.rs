//! Successive halving's schedule: all configs on a first rung of a few cases, the best 1/η of
//! them on η times as many, and so on until one rung runs every case. It has no confidence
//! guarantee (a config can be unlucky on a small rung); racing has.

/// The cases each rung has run when it ends (cumulative, the last = `cases`), for `configs`
/// configs cut by `eta` after every rung but the last.
pub fn rungs(configs: usize, cases: usize, eta: u32) -> Vec<usize> {
    let eta = eta.max(2) as usize;
    // Cuts needed to get from `configs` down to one.
    let mut cuts = 0;
    let mut left = configs.max(1);
    while left > 1 {
        left = left.div_ceil(eta);
        cuts += 1;
    }
    let mut ends: Vec<usize> = (0..=cuts)
        .map(|rung| {
            let shrink = eta.saturating_pow((cuts - rung) as u32).max(1);
            cases.div_ceil(shrink).clamp(1, cases.max(1))
        })
        .collect();
    ends.dedup();
    ends
}

/// How many configs a rung keeps of `alive`.
pub fn kept(alive: usize, eta: u32) -> usize {
    alive.div_ceil(eta.max(2) as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_eta_and_the_last_runs_every_case() {
        assert_eq!(rungs(24, 54, 3), vec![2, 6, 18, 54]);
        assert_eq!(rungs(9, 20, 3), vec![3, 7, 20]);
        assert_eq!(rungs(1, 20, 3), vec![20]);
        // Fewer cases than rungs would want: rungs that would repeat are one.
        assert_eq!(rungs(24, 4, 3), vec![1, 2, 4]);
        assert_eq!(kept(24, 3), 8);
        assert_eq!(kept(2, 3), 1);
    }
}
