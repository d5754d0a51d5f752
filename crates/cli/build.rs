//! llama.cpp is linked as shared libraries (libllama.so.0, libggml*.so.0), and its per-CPU
//! `libggml-cpu-*.so` are loaded at run time (crates/llama/src/cpu_backend.rs). The executable
//! finds the shared libraries by its run path, so that it starts the same when the app, a script or
//! `make run` starts it as under `cargo run`: first where this build of llama.cpp installed them
//! (so a stale copy elsewhere can never be picked up), then beside itself (a packaged install).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_LLAMA_BACKENDS_DIR");
    // The sys crate announces `<its OUT_DIR>/backends`; its shared libraries are in `lib` beside.
    if let Some(build) = std::env::var_os("DEP_LLAMA_BACKENDS_DIR")
        .as_deref()
        .map(Path::new)
        .and_then(Path::parent)
    {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,-rpath,{}",
            build.join("lib").display()
        );
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN");
    remove_dangling_library_links();
}

/// llama-cpp-sys-2 hard-links `libllama.so` and friends into the target folder, but those are
/// symlinks to `libllama.so.0`, which it does not copy: the links dangle, and the next build of
/// the sys crate (new features, a new build folder) fails on them with "File exists", as it only
/// skips links that resolve. Removing the dangling ones after each of its builds keeps the next
/// one working; nothing uses them (the run path above points at the real files).
fn remove_dangling_library_links() {
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return;
    };
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let Some(profile_dir) = Path::new(&out_dir).ancestors().nth(3) else {
        return;
    };
    for dir in [
        profile_dir.to_path_buf(),
        profile_dir.join("deps"),
        profile_dir.join("examples"),
    ] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let is_library = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("libllama") || n.starts_with("libggml")) && n.contains(".so")
            });
            let dangling =
                path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) && !path.exists();
            if is_library && dangling {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
