//! Which build of llama.cpp's CPU code runs local inference on this machine, and the record of
//! the self-test that verified it.
//!
//! llama.cpp is compiled once per x86-64 CPU family (`libggml-cpu-<variant>.so`: x64, haswell,
//! zen4, sapphirerapids, …) and the worker loads one of them. ggml ranks the variants by the
//! CPU's CPUID bits, which say what the CPU has, not what this process can use: a hypervisor or
//! kernel may not enable a feature, a compiler may miscompile a path (GCC's AMX intrinsics did,
//! see crates/llama/ggml/amx-intrinsics-fix.h). So the choice is proved once by a tiny decode in
//! a throw-away worker (`tradeoff_worker::cpu_check`) and remembered per CPU, kernel and build.

use serde::{Deserialize, Serialize};

/// Environment variable that pins the worker to one CPU variant (e.g. `haswell`), for the self-
/// test and for users who need a way out.
pub const CPU_BACKEND_ENV: &str = "TRADEOFF_CPU_BACKEND";

/// The variant the user pinned with [`CPU_BACKEND_ENV`], if any: it is the only one tried and
/// its test is not recorded, so that unsetting the variable brings back the best variant.
pub fn user_pin() -> Option<String> {
    std::env::var(CPU_BACKEND_ENV).ok().filter(|v| !v.is_empty())
}

/// One build of ggml's CPU code and how well ggml rates it for this CPU (0 = unusable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuVariant {
    pub name: String,
    pub score: u32,
}

/// The CPU backend a worker loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuBackend {
    /// The variant loaded, e.g. `zen4`; `built-in` for a build with one CPU backend linked in.
    pub variant: String,
    /// The CPU features that code uses, as llama.cpp names them (AVX2, AVX512, AMX_INT8, …).
    pub features: Vec<String>,
    /// Every variant this CPU supports by its CPUID bits, best first.
    pub candidates: Vec<CpuVariant>,
    /// True when a self-test on this machine proved this variant decodes.
    #[serde(default)]
    pub verified: bool,
}
