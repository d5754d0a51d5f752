//! The structure ARCHITECTURE.md promises, checked on every `make test`: the engine links no
//! adapter's dependencies, its modules import in one direction, and no source file outgrows 600
//! lines. Each check also runs on a case it must catch, so a check that stopped seeing anything
//! fails instead of passing quietly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The dependency rule: core holds the domain and the analysis; talking to the network, the OS
// keyring, SQLite, llama.cpp or a webview is an adapter crate's job.

/// Crates that mean network, TLS, an async runtime, a keyring, a database, llama.cpp or a
/// webview: none may be in the engine's build.
const ADAPTER_ONLY: &[&str] = &[
    "reqwest",
    "hyper",
    "hyper-util",
    "h2",
    "rustls",
    "ring",
    "openssl",
    "native-tls",
    "tokio",
    "async-std",
    "eventsource-stream",
    "axum",
    "keyring",
    "dbus",
    "libdbus-sys",
    "rusqlite",
    "libsqlite3-sys",
    "llama-cpp-2",
    "llama-cpp-sys-2",
    "tauri",
    "wry",
];

/// The packages `package` is built with (normal and build dependencies, transitively, on every
/// platform; dev-dependencies are not part of what the crate links).
fn build_closure(metadata: &Value, package: &str) -> BTreeSet<String> {
    let packages = metadata["packages"].as_array().unwrap();
    let name_of = |id: &str| {
        packages
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_string())
            .unwrap()
    };
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let start = packages.iter().find(|p| p["name"] == package).unwrap()["id"].clone();
    let mut seen = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        if !seen.insert(id.as_str().unwrap().to_string()) {
            continue;
        }
        names.insert(name_of(id.as_str().unwrap()));
        let node = nodes.iter().find(|n| n["id"] == id).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let linked = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kind| kind["kind"].is_null() || kind["kind"] == "build");
            if linked {
                stack.push(dep["pkg"].clone());
            }
        }
    }
    names
}

fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc).arg("-vV").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names its host")
        .to_string()
}

fn cargo_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // This machine's dependency graph: a fresh machine's registry holds only the crates its own
    // platform builds, and what links here is what the rule is about.
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_engine_links_no_network_tls_async_runtime_keyring_database_llama_cpp_or_webview() {
    let metadata = cargo_metadata();
    let forbidden = |package: &str| -> Vec<String> {
        build_closure(&metadata, package)
            .into_iter()
            .filter(|name| ADAPTER_ONLY.contains(&name.as_str()))
            .collect()
    };
    assert_eq!(
        forbidden("tradeoff-core"),
        Vec::<String>::new(),
        "tradeoff-core depends on adapter crates; move the code that needs them to an adapter \
         crate (ARCHITECTURE.md, the dependency rule)"
    );
    // The same walk sees them where they belong, so it is not blind.
    let remote = forbidden("tradeoff-remote");
    for expected in ["reqwest", "tokio", "rustls", "keyring"] {
        assert!(remote.contains(&expected.to_string()), "{remote:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// One direction of imports inside the engine.

/// Core's layers, in the order they may import: a module imports only from its own layer or
/// from layers before it. Modules directly under `src/` that are not a layer are the shared
/// ground (errors, paths, files) every layer may use; they import no layer.
const LAYERS: &[&str] = &["spec", "models", "execute", "analyze", "search"];

/// A core module file and what it names of the crate: `crate::a::b` paths, `use crate::{…}`
/// groups expanded, comments left out (a doc link is not a dependency).
fn crate_paths(source: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `tradeoff_crate::` or similar: not this crate
            }
            let mut paths = Vec::new();
            expand(rest, Vec::new(), &mut paths);
            for path in paths {
                found.push((number + 1, path));
            }
        }
    }
    found
}

/// Expands `a::b::{c, d::e}` into `[a, b, c]`, `[a, b, d, e]` (as far as the line goes).
fn expand(text: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&group[start..], prefix, out); // the group goes on past this line
        return;
    }
    let ident: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    }
    let mut path = prefix;
    path.push(ident.clone());
    match text[ident.len()..].strip_prefix("::") {
        Some(rest) => expand(rest, path, out),
        None => out.push(path),
    }
}

/// The unit the cycle rule is about: a layer's direct submodule (`execute::runner`), or a shared
/// module (`files`). Submodules belong to their unit (`execute::runner::tests` is `execute::runner`).
fn unit_of(path: &[String]) -> Option<String> {
    let first = path.first()?;
    if LAYERS.contains(&first.as_str()) {
        let second = path.get(1)?;
        // Lower-case names are modules; `spec::Experiment` (a re-export) is the layer itself.
        if second.chars().next().is_some_and(char::is_lowercase) {
            return Some(format!("{first}::{second}"));
        }
        return Some(first.clone());
    }
    Some(first.clone())
}

fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

type Edges = BTreeMap<(String, String), String>;

/// Unit → unit imports of a crate's `src/`, each with one place it happens (`file:line`).
fn unit_imports(src: &Path) -> Edges {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges = Edges::new();
    for file in files {
        let Some(from) = unit_of(&module_path(src, &file)) else {
            continue; // lib.rs
        };
        let source = std::fs::read_to_string(&file).unwrap();
        for (line, path) in crate_paths(&source) {
            if let Some(to) = unit_of(&path).filter(|to| *to != from) {
                let place = format!("{}:{line}", file.strip_prefix(src).unwrap().display());
                edges.entry((from.clone(), to)).or_insert(place);
            }
        }
    }
    edges
}

/// Strongly connected groups of more than one unit (Tarjan's algorithm, iteration order fixed).
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    let mut units: BTreeSet<&String> = BTreeSet::new();
    for (from, to) in edges.keys() {
        units.insert(from);
        units.insert(to);
    }
    let units: Vec<&String> = units.into_iter().collect();
    let index_of = |u: &String| units.iter().position(|x| *x == u).unwrap();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); units.len()];
    for (from, to) in edges.keys() {
        next[index_of(from)].push(index_of(to));
    }
    struct Tarjan {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        groups: Vec<Vec<usize>>,
    }
    fn visit(t: &mut Tarjan, next: &[Vec<usize>], v: usize) {
        t.index[v] = Some(t.counter);
        t.low[v] = t.counter;
        t.counter += 1;
        t.stack.push(v);
        t.on_stack[v] = true;
        for &w in &next[v] {
            match t.index[w] {
                None => {
                    visit(t, next, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(i) if t.on_stack[w] => t.low[v] = t.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut group = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                t.groups.push(group);
            }
        }
    }
    let n = units.len();
    let mut t = Tarjan {
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        groups: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, &next, v);
        }
    }
    t.groups
        .into_iter()
        .map(|g| {
            let mut names: Vec<String> = g.into_iter().map(|i| units[i].clone()).collect();
            names.sort();
            names
        })
        .collect()
}

/// The layer a unit is in (`None` for the shared ground).
fn layer_of(unit: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|l| unit == *l || unit.starts_with(&format!("{l}::")))
}

/// Imports that point against the layer order, or from the shared ground into a layer.
fn backward_imports(edges: &Edges) -> Vec<String> {
    edges
        .iter()
        .filter(|((from, to), _)| match (layer_of(from), layer_of(to)) {
            (Some(f), Some(t)) => t > f,
            (None, Some(_)) => true,
            _ => false,
        })
        .map(|((from, to), place)| format!("{from} → {to} ({place})"))
        .collect()
}

fn describe(groups: &[Vec<String>], edges: &Edges) -> String {
    let mut text = String::new();
    for group in groups {
        text.push_str(&format!("cycle of {} modules:\n", group.len()));
        for ((from, to), place) in edges {
            if group.contains(from) && group.contains(to) {
                text.push_str(&format!("  {from} → {to} ({place})\n"));
            }
        }
    }
    text
}

#[test]
fn the_engines_modules_import_in_one_direction_with_no_cycle_between_modules() {
    let src = workspace_root().join("crates/core/src");
    let edges = unit_imports(&src);
    assert!(edges.len() > 20, "the scan found only {} imports", edges.len());
    let groups = cycles(&edges);
    assert!(groups.is_empty(), "{}", describe(&groups, &edges));
    let backward = backward_imports(&edges);
    assert!(
        backward.is_empty(),
        "imports against the layer order {LAYERS:?}:\n{}",
        backward.join("\n")
    );
}

#[test]
fn the_cycle_check_sees_a_cycle_through_grouped_imports_and_a_backward_import() {
    let mut edges = Edges::new();
    let sources = [
        (
            "spec::experiment",
            "use crate::{spec::prompt::Render, files};\n// crate::analyze::x\n",
        ),
        (
            "spec::prompt",
            "fn f() { crate::spec::experiment::Experiment::new() }\n",
        ),
        ("files", "use crate::analyze::report::Report;\n"),
    ];
    for (from, source) in sources {
        for (line, path) in crate_paths(source) {
            let to = unit_of(&path).unwrap();
            if to != from {
                edges.insert((from.to_string(), to), format!("{from}:{line}"));
            }
        }
    }
    assert_eq!(
        cycles(&edges),
        vec![vec!["spec::experiment".to_string(), "spec::prompt".to_string()]]
    );
    assert_eq!(
        backward_imports(&edges),
        vec!["files → analyze::report (files:1)".to_string()]
    );
}

// ---------------------------------------------------------------------------------------------
// Files small enough to read.

const MAX_LINES: usize = 600;

/// Generated files are read by no one; the generator is what is kept small.
const GENERATED: &[&str] = &["ui/src/bindings.ts"];

fn source_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !["node_modules", "target", "dist", "output", "gen"].contains(&name.as_ref())
                && !name.starts_with('.')
            {
                source_files(&path, root, out);
            }
        } else if ["rs", "ts", "tsx"]
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

#[test]
fn no_source_file_is_longer_than_600_lines() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "src-tauri/src", "tests", "ui/src", "e2e"] {
        source_files(&root.join(dir), &root, &mut files);
    }
    assert!(files.len() > 100, "found only {} source files", files.len());
    let mut long: Vec<String> = files
        .iter()
        .filter(|f| !GENERATED.contains(&f.to_string_lossy().as_ref()))
        .filter_map(|f| {
            let lines = std::fs::read_to_string(root.join(f)).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    long.sort();
    assert!(long.is_empty(), "split these by concern:\n{}", long.join("\n"));
}
