//! The worker's own memory, as the kernel accounts it: what a config really costs in RAM.

/// Peak resident set size of this process (VmHWM) since the last [`reset_peak_rss`].
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    tradeoff_core::models::memory::proc_kib_field("/proc/self/status", "VmHWM")
}

/// Starts a new peak-RSS measurement at the current RSS (Linux ≥ 4.0), so that a config's peak
/// is not an earlier, larger config's. Elsewhere the peak stays process-wide.
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
