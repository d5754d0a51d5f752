//! How much of the CPU the rest of the machine used while a run decoded. On a machine with few
//! cores, anything else running (the app's own window, a build, a VM neighbour's steal time)
//! takes time from llama.cpp's threads and makes a run slower than the model is; this measures
//! it so the run can say so. Linux only (`/proc`); elsewhere nothing is measured.

use tradeoff_core::run::{RunMetrics, contended};

/// CPU time counters at one moment, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuTimes {
    /// Every CPU's busy time (user, nice, system, irq, softirq, steal).
    busy: u64,
    /// Every CPU's time, idle included.
    total: u64,
    /// This process's own user and system time (all its threads).
    own: u64,
    cpus: u32,
}

impl CpuTimes {
    pub(crate) fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse(&stat, &own)
    }

    /// What others used since `self`, for a run with `threads` threads.
    pub(crate) fn since(&self, threads: u32) -> Option<Contention> {
        let now = CpuTimes::now()?;
        let other_cores = other_cores(self, &now)?;
        Some(Contention {
            other_cores,
            contended: contended(other_cores, threads, now.cpus),
        })
    }
}

/// The CPU others used during a run, and whether that slowed it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Contention {
    other_cores: f64,
    contended: bool,
}

impl Contention {
    pub(crate) fn record(self, metrics: &mut RunMetrics) {
        metrics.other_cpu_cores = Some(self.other_cores);
        metrics.contended = Some(self.contended);
    }
}

fn parse(stat: &str, own: &str) -> Option<CpuTimes> {
    let mut lines = stat.lines();
    let all: Vec<u64> = lines
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let field = |i: usize| all.get(i).copied().unwrap_or(0);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    let total = busy + field(3) + field(4);
    let cpus = lines
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    // The command name in parentheses may hold spaces: fields are counted after its last `)`;
    // utime and stime are the 14th and 15th fields, the 12th and 13th after it.
    let after_name = own.rsplit_once(')')?.1;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(CpuTimes {
        busy,
        total,
        own: utime + stime,
        cpus: u32::try_from(cpus).ok().filter(|&n| n > 0)?,
    })
}

/// Cores the rest of the machine kept busy on average between two samples; `None` when less than
/// a clock tick passed.
fn other_cores(before: &CpuTimes, after: &CpuTimes) -> Option<f64> {
    let total = after.total.checked_sub(before.total).filter(|&t| t > 0)?;
    let busy = after.busy.saturating_sub(before.busy);
    let own = after.own.saturating_sub(before.own);
    let other = busy.saturating_sub(own) as f64 / total as f64 * f64::from(after.cpus);
    Some(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  1000 0 500 8000 100 0 0 0 0 0\ncpu0 500 0 250 4000 50 0 0 0 0 0\ncpu1 500 0 250 4000 50 0 0 0 0 0\nintr 1\n";

    fn own(utime: u64, stime: u64) -> String {
        format!("42 (tradeoff (worker)) S 1 2 3 4 5 6 7 8 9 10 {utime} {stime} 0 0 20 0 3 0")
    }

    #[test]
    fn the_others_share_is_the_machines_busy_time_less_the_workers_own_in_cores() {
        let before = parse(STAT, &own(100, 20)).unwrap();
        // 200 ticks of wall time on 2 CPUs (400 in all): 300 busy, 250 of them the worker's.
        let after_stat = STAT.replacen("cpu  1000 0 500 8000", "cpu  1250 0 550 8100", 1);
        let after = parse(&after_stat, &own(320, 50)).unwrap();
        assert_eq!(after.cpus, 2);
        let other = other_cores(&before, &after).unwrap();
        assert!((other - 0.25).abs() < 1e-9, "{other}");
    }

    #[test]
    fn a_run_shorter_than_a_tick_measures_nothing() {
        let sample = parse(STAT, &own(1, 1)).unwrap();
        assert_eq!(other_cores(&sample, &sample), None);
    }

    #[test]
    fn this_machine_can_be_sampled() {
        assert!(CpuTimes::now().is_some_and(|t| t.cpus >= 1));
    }
}
