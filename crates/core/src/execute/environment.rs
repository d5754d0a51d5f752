//! The machine an experiment ran on, recorded with it: numbers without their machine are
//! not comparable.

use serde::{Deserialize, Serialize};

use crate::execute::cpu_backend::CpuBackend;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub machine: Machine,
    pub tradeoff_version: String,
    /// llama.cpp build and CPU features, when a local engine took part.
    pub llama_build: Option<String>,
    /// The CPU code llama.cpp ran (variant, features, whether a self-test verified it), when a
    /// local engine took part. Absent in experiments recorded before it was kept.
    #[serde(default)]
    pub cpu_backend: Option<CpuBackend>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub logical_cores: u32,
    pub memory_bytes: u64,
    pub os: String,
    pub arch: String,
}

impl Environment {
    pub fn detect(llama_build: Option<String>) -> Environment {
        Environment {
            machine: Machine::detect(),
            tradeoff_version: env!("CARGO_PKG_VERSION").to_string(),
            llama_build,
            cpu_backend: None,
        }
    }

    /// The same environment with the CPU backend the local engine used.
    pub fn with_cpu_backend(self, cpu_backend: Option<CpuBackend>) -> Environment {
        Environment { cpu_backend, ..self }
    }
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_string()),
            logical_cores: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            memory_bytes: memory_bytes(&meminfo).unwrap_or(0),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn memory_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_and_memory_are_read_from_proc_files() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(
            memory_bytes("MemTotal:       1024 kB\nMemFree: 1 kB\n"),
            Some(1024 * 1024)
        );
    }
}
