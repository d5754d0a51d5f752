//! How llama.cpp was compiled for the CPUs a build must run on (ARCHITECTURE.md, "llama.cpp
//! build"): checked on the built libraries themselves, since the machine running the tests may
//! lack the CPU features whose code is checked.

use std::path::PathBuf;
use std::process::Command;

/// The CPU variant libraries the build made, newest build first.
fn cpu_libraries() -> Vec<PathBuf> {
    let deps = std::env::current_exe().unwrap();
    let target = deps.parent().unwrap().parent().unwrap();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(target.join("build"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("out/build/bin"))
        .filter(|dir| dir.join("libggml-cpu-x64.so").exists())
        .collect();
    dirs.sort_by_key(|dir| std::cmp::Reverse(std::fs::metadata(dir).and_then(|m| m.modified()).ok()));
    let newest = dirs
        .first()
        .expect("llama.cpp's build folder with libggml-cpu-*.so");
    let mut libraries: Vec<PathBuf> = std::fs::read_dir(newest)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libggml-cpu-") && n.ends_with(".so"))
        })
        .collect();
    libraries.sort();
    libraries
}

#[test]
fn the_build_has_a_portable_cpu_variant_and_one_per_x86_64_family() {
    let names: Vec<String> = cpu_libraries()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for variant in ["x64", "haswell", "skylakex", "zen4", "sapphirerapids"] {
        assert!(
            names.contains(&format!("libggml-cpu-{variant}.so")),
            "{variant} missing from {names:?}"
        );
    }
}

/// Regression: GCC's `_tile_loadconfig` declares that `ldtilecfg` reads 8 of its 64 bytes, so the
/// row and column sizes ggml stores just before it were dead-store-eliminated, every tile had 0
/// rows, and the first tile load died with SIGILL on Intel AMX CPUs. The 64-byte configuration
/// starts with the palette (byte 0), column sizes at 16..48 and row counts at 48..64: before
/// each `ldtilecfg OFFSET(%reg)`, the function must write the row counts at OFFSET+48.
#[test]
fn the_amx_variant_writes_its_whole_tile_configuration_before_loading_it() {
    let library = cpu_libraries()
        .into_iter()
        .find(|p| p.ends_with("libggml-cpu-sapphirerapids.so"))
        .expect("the sapphirerapids variant");
    let output = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(&library)
        .output()
        .expect("objdump (binutils) runs");
    assert!(output.status.success());
    let disassembly = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = disassembly.lines().collect();
    let mut checked = 0;
    for (at, line) in lines.iter().enumerate() {
        let Some(operand) = line.split("ldtilecfg").nth(1).map(str::trim) else {
            continue;
        };
        // e.g. `0xc0(%rsp)`
        let (offset, register) = operand.split_once('(').expect("a memory operand");
        let offset = i64::from_str_radix(offset.trim_start_matches("0x"), 16).unwrap_or(0);
        let rows = format!("{:#x}({register}", offset + 48);
        let function_start = lines[..at].iter().rposition(|l| l.ends_with(">:")).unwrap_or(0);
        let rows_written = lines[function_start..at]
            .iter()
            .any(|l| l.trim_end().ends_with(&rows) && l.contains("mov"));
        assert!(
            rows_written,
            "no store of the tile row counts at {rows} before `{}` in {}",
            line.trim(),
            library.display()
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no ldtilecfg in {}: was AMX compiled in?",
        library.display()
    );
}
