//! Loads llama.cpp's CPU code: one of the per-CPU-family builds of ggml's CPU backend
//! (`libggml-cpu-<variant>.so`), the best this CPU supports or the one `TRADEOFF_CPU_BACKEND`
//! pins (the verified choice of the self-test, see `tradeoff_core::execute::cpu_backend`).
//!
//! ggml's own `ggml_backend_load_all` picks the best variant too, but does not say which, and
//! cannot be told to skip one that fails here; this module ranks them with the same score
//! function each library exports, and loads exactly one.

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};

use tradeoff_core::execute::cpu_backend::{CPU_BACKEND_ENV, CpuBackend, CpuVariant};

const CPU_PREFIX: &str = "libggml-cpu-";
const LIBRARY_SUFFIX: &str = ".so";

#[derive(Debug, thiserror::Error)]
pub enum CpuBackendError {
    #[error("no llama.cpp CPU backend (libggml-cpu-*.so) in {0}; the build is incomplete")]
    NoLibraries(PathBuf),
    #[error("{CPU_BACKEND_ENV}={name} names no CPU backend; the build has: {available}")]
    UnknownVariant { name: String, available: String },
    #[error(
        "the CPU backend {name} needs CPU features this CPU lacks; usable here: {usable} (set {CPU_BACKEND_ENV} to one of them)"
    )]
    Unsupported { name: String, usable: String },
    #[error("none of llama.cpp's CPU backends ({available}) supports this CPU")]
    NoneSupported { available: String },
    #[error("llama.cpp could not load its CPU backend {0}")]
    LoadFailed(PathBuf),
}

/// A CPU backend library and ggml's score of it for this CPU.
#[derive(Debug, Clone)]
struct Library {
    variant: CpuVariant,
    path: PathBuf,
}

/// Loads the pinned or best CPU backend, and any GPU backend built beside it, into ggml's
/// registry. Must run once, before the llama.cpp backend is initialised.
pub(crate) fn load() -> Result<CpuBackend, CpuBackendError> {
    let dir = libraries_dir();
    let libraries = rank(&dir)?;
    let available = || names(libraries.iter());
    let usable: Vec<&Library> = libraries.iter().filter(|l| l.variant.score > 0).collect();
    let chosen = match std::env::var(CPU_BACKEND_ENV).ok().filter(|v| !v.is_empty()) {
        Some(name) => {
            let library = libraries.iter().find(|l| l.variant.name == name).ok_or_else(|| {
                CpuBackendError::UnknownVariant {
                    name: name.clone(),
                    available: available(),
                }
            })?;
            if library.variant.score == 0 {
                return Err(CpuBackendError::Unsupported {
                    name,
                    usable: names(usable.iter().copied()),
                });
            }
            library
        }
        None => usable
            .first()
            .copied()
            .ok_or_else(|| CpuBackendError::NoneSupported {
                available: available(),
            })?,
    };
    let registered =
        register(&chosen.path).ok_or_else(|| CpuBackendError::LoadFailed(chosen.path.clone()))?;
    load_other_backends(&dir);
    Ok(CpuBackend {
        variant: chosen.variant.name.clone(),
        features: features(registered),
        candidates: usable.iter().map(|l| l.variant.clone()).collect(),
        verified: false,
    })
}

/// Beside the executable when the libraries were installed with it (a packaged app), else
/// where the build put them.
fn libraries_dir() -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .filter(|dir| has_cpu_libraries(dir));
    beside_exe.unwrap_or_else(|| PathBuf::from(llama_cpp_sys_2::BACKENDS_DIR.unwrap_or(".")))
}

fn has_cpu_libraries(dir: &Path) -> bool {
    cpu_libraries(dir).next().is_some()
}

fn cpu_libraries(dir: &Path) -> impl Iterator<Item = (String, PathBuf)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_str()?.to_string();
            let variant = file
                .strip_prefix(CPU_PREFIX)?
                .strip_suffix(LIBRARY_SUFFIX)?
                .to_string();
            Some((variant, entry.path()))
        })
}

/// Every CPU backend library in `dir` with its score, best first.
fn rank(dir: &Path) -> Result<Vec<Library>, CpuBackendError> {
    let mut libraries: Vec<Library> = cpu_libraries(dir)
        .map(|(name, path)| Library {
            variant: CpuVariant {
                name,
                score: score(&path),
            },
            path,
        })
        .collect();
    if libraries.is_empty() {
        return Err(CpuBackendError::NoLibraries(dir.to_path_buf()));
    }
    libraries.sort_by(|a, b| {
        b.variant
            .score
            .cmp(&a.variant.score)
            .then_with(|| a.variant.name.cmp(&b.variant.name))
    });
    Ok(libraries)
}

fn names<'a>(libraries: impl Iterator<Item = &'a Library>) -> String {
    libraries
        .map(|l| l.variant.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// ggml's score of a CPU backend library for this CPU, 0 when it cannot run here. The scoring
/// code is compiled for the baseline CPU in every variant (ggml-cpu's cpu-feats), so asking a
/// variant the CPU cannot run is safe; ggml's own loader does the same.
#[allow(unsafe_code)]
fn score(path: &Path) -> u32 {
    let Some(c_path) = path.to_str().and_then(|p| CString::new(p).ok()) else {
        return 0;
    };
    // SAFETY: dlopen/dlsym/dlclose on a library path; the symbol, when present, has ggml's
    // `int ggml_backend_score(void)` signature (ggml-backend-dl.h), and the handle is closed
    // after the call.
    unsafe {
        let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            return 0;
        }
        let symbol = libc::dlsym(handle, c"ggml_backend_score".as_ptr());
        let score = if symbol.is_null() {
            0
        } else {
            let score_fn = std::mem::transmute::<*mut libc::c_void, extern "C" fn() -> i32>(symbol);
            u32::try_from(score_fn()).unwrap_or(0)
        };
        libc::dlclose(handle);
        score
    }
}

#[allow(unsafe_code)]
fn register(path: &Path) -> Option<llama_cpp_sys_2::ggml_backend_reg_t> {
    let c_path = CString::new(path.to_str()?).ok()?;
    // SAFETY: ggml_backend_load takes a NUL-terminated path and returns null on failure.
    let registered = unsafe { llama_cpp_sys_2::ggml_backend_load(c_path.as_ptr()) };
    (!registered.is_null()).then_some(registered)
}

/// GPU backends of a GPU-enabled build (libggml-cuda.so, libggml-vulkan.so, …) sit beside the
/// CPU ones; ggml decides per device whether they can run.
fn load_other_backends(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if file.starts_with("libggml-") && !file.starts_with(CPU_PREFIX) && file.ends_with(LIBRARY_SUFFIX) {
            let _ = register(&entry.path());
        }
    }
}

/// The features the registered CPU backend was compiled to use, as llama.cpp names them.
#[allow(unsafe_code)]
fn features(registered: llama_cpp_sys_2::ggml_backend_reg_t) -> Vec<String> {
    type GetFeatures = unsafe extern "C" fn(
        llama_cpp_sys_2::ggml_backend_reg_t,
    ) -> *const llama_cpp_sys_2::ggml_backend_feature;
    let mut found = Vec::new();
    // SAFETY: the proc address, when present, is ggml's `ggml_backend_get_features_t`, which
    // returns an array of {name, value} C strings ended by a null name, owned by the backend.
    unsafe {
        let address = llama_cpp_sys_2::ggml_backend_reg_get_proc_address(
            registered,
            c"ggml_backend_get_features".as_ptr(),
        );
        if address.is_null() {
            return found;
        }
        let get_features = std::mem::transmute::<*mut std::ffi::c_void, GetFeatures>(address);
        let mut feature = get_features(registered);
        while !feature.is_null() && !(*feature).name.is_null() {
            let name = c_text((*feature).name);
            let value = c_text((*feature).value);
            if value != "0" {
                found.push(if value == "1" {
                    name
                } else {
                    format!("{name}={value}")
                });
            }
            feature = feature.add(1);
        }
    }
    found
}

/// # Safety
/// `text` is null or a NUL-terminated string.
#[allow(unsafe_code)]
unsafe fn c_text(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: as the function's contract says.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}
