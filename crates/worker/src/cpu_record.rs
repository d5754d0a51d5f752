//! The self-test's record: which CPU variant decoded on this machine for this build, kept in
//! the data folder (`cpu-check.json`) so the test runs once per CPU, kernel and build.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the self-test concluded on one machine for one build, kept in the data folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuCheckRecord {
    /// [`machine_signature`] when the test ran.
    pub machine: String,
    /// The worker build that was tested (executable and its llama.cpp build).
    pub build: String,
    /// The variant that decoded correctly.
    pub variant: String,
    /// Better-rated variants that failed the test, and how.
    pub rejected: Vec<RejectedVariant>,
    /// Seconds since the Unix epoch.
    pub checked_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedVariant {
    pub variant: String,
    pub features: Vec<String>,
    pub reason: String,
}

/// Where the self-test's conclusion is kept.
pub fn record_path() -> PathBuf {
    tradeoff_core::paths::data_dir().join("cpu-check.json")
}

/// The record at `path` if it was made on this machine for this build; anything else (absent,
/// unreadable, another CPU, kernel or build) means the test has to run again.
pub fn read_record(path: &Path, build: &str) -> Option<CpuCheckRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    let record: CpuCheckRecord = serde_json::from_str(&text).ok()?;
    (record.machine == machine_signature() && record.build == build).then_some(record)
}

/// Writes the record atomically (a half-written record would read as absent, not as wrong).
pub fn write_record(path: &Path, record: &CpuCheckRecord) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(record).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, json)?;
    std::fs::rename(&temporary, path)
}

/// The CPU model, its feature flags and the kernel: what decides whether a CPU path works.
pub fn machine_signature() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    signature_of(&cpuinfo, kernel.trim())
}

fn signature_of(cpuinfo: &str, kernel: &str) -> String {
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let digest = blake3::hash(flags.as_bytes()).to_hex();
    format!(
        "{} | flags {} | kernel {kernel}",
        field("model name"),
        &digest.as_str()[..16]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_signature_changes_with_the_cpu_flags_and_the_kernel() {
        let cpu = "model name\t: Intel Xeon\nflags\t\t: fpu avx2\n";
        let amx = "model name\t: Intel Xeon\nflags\t\t: fpu avx2 amx_tile\n";
        assert_ne!(signature_of(cpu, "6.1.0"), signature_of(amx, "6.1.0"));
        assert_ne!(signature_of(cpu, "6.1.0"), signature_of(cpu, "6.8.0"));
        assert_eq!(signature_of(cpu, "6.1.0"), signature_of(cpu, "6.1.0"));
        assert!(signature_of(cpu, "6.1.0").starts_with("Intel Xeon | flags "));
    }

    #[test]
    fn a_record_counts_only_for_the_build_and_machine_it_was_made_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cpu-check.json");
        let record = CpuCheckRecord {
            machine: machine_signature(),
            build: "build A".into(),
            variant: "haswell".into(),
            rejected: vec![RejectedVariant {
                variant: "sapphirerapids".into(),
                features: vec!["AMX_INT8".into()],
                reason: "killed by signal 4 (SIGILL)".into(),
            }],
            checked_at: 1,
        };
        write_record(&path, &record).unwrap();
        assert_eq!(read_record(&path, "build A"), Some(record.clone()));
        assert_eq!(read_record(&path, "build B"), None);

        let other_machine = CpuCheckRecord {
            machine: "another CPU".into(),
            ..record
        };
        write_record(&path, &other_machine).unwrap();
        assert_eq!(read_record(&path, "build A"), None);

        std::fs::write(&path, "{ half a rec").unwrap();
        assert_eq!(read_record(&path, "build A"), None);
    }
}
