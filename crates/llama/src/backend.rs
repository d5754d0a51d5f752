//! The process-wide llama.cpp backend. llama.cpp allows one per process: a second
//! `LlamaBackend::init()` fails while the first is alive, so it is created once and kept, after
//! its CPU code was loaded ([`crate::cpu_backend`]).

use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::{LogOptions, send_logs_to_tracing};
use tradeoff_core::execute::cpu_backend::CpuBackend;
use tradeoff_core::run::{ErrorClass, RunError};

static CPU_BACKEND: OnceLock<Result<CpuBackend, String>> = OnceLock::new();
static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// The CPU code this process loaded, loading it on first use.
pub fn cpu_backend() -> Result<&'static CpuBackend, String> {
    CPU_BACKEND
        .get_or_init(|| {
            // Routed to `tracing` rather than silenced: voided logs hide why a model failed.
            send_logs_to_tracing(LogOptions::default());
            crate::cpu_backend::load().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

pub(crate) fn backend() -> Result<&'static LlamaBackend, RunError> {
    cpu_backend().map_err(|e| RunError::new(ErrorClass::Internal, format!("llama.cpp CPU backend: {e}")))?;
    BACKEND
        .get_or_init(|| LlamaBackend::init().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| RunError::new(ErrorClass::Internal, format!("llama.cpp backend: {e}")))
}

/// llama.cpp's description of its build: CPU features it was compiled with.
#[allow(unsafe_code)]
pub(crate) fn system_info() -> String {
    // SAFETY: llama_print_system_info returns a pointer to a static, NUL-terminated buffer
    // owned by llama.cpp; it is copied immediately.
    let info = unsafe {
        let ptr = llama_cpp_sys_2::llama_print_system_info();
        if ptr.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(ptr).to_string_lossy().into_owned()
    };
    info.trim().trim_end_matches('|').trim().to_string()
}
