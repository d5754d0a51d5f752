//! Every input a user can get wrong gets a clear error that says what and where.

use crate::support::{default_model, model_turn, stderr, stdout, tradeoff, write};

const GOOD: &str = "schema: 1
variants: [{id: v, prompt: 'Q: {{ q }}'}]
cases: [{vars: {q: hi}}]
targets: [{id: t, model: default, n_ctx: 256, max_tokens: 2}]
";

fn run_file(name: &str, text: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), name, text);
    let output = tradeoff()
        .arg("run")
        .arg(&file)
        .arg("--db")
        .arg(dir.path().join("db.sqlite3"))
        .output()
        .unwrap();
    (output, dir)
}

#[test]
fn malformed_yaml_exits_2_with_file_line_and_column() {
    let (output, _dir) = run_file("broken.yaml", "schema: 1\nvariants: [\n  {id: v, prompt: x\n");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("error: ") && err.contains("broken.yaml:"),
        "{err}"
    );
    let location = err.split("broken.yaml:").nth(1).unwrap_or_default();
    assert!(
        location.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "no line number: {err}"
    );
}

#[test]
fn malformed_json_exits_2_with_line_and_column() {
    let (output, _dir) = run_file("broken.json", "{\"schema\": 1,\n  \"variants\": [,]}");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("broken.json:2:16:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_field_is_named_with_its_path() {
    let (output, _dir) = run_file("typo.yaml", &GOOD.replace("max_tokens: 2", "max_tokns: 2"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("typo.yaml:4:") && err.contains("targets[0].max_tokns: unknown field `max_tokns`"),
        "{err}"
    );
}

#[test]
fn an_undefined_template_variable_names_the_variant_and_case() {
    let (output, _dir) = run_file("vars.yaml", &GOOD.replace("{{ q }}", "{{ question }}"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("variants[0].prompt: uses variable `question`, which case `1`"),
        "{err}"
    );
}

#[test]
fn a_missing_model_file_exits_2_naming_the_target_and_path() {
    let (output, _dir) = run_file(
        "missing.yaml",
        &GOOD.replace("model: default", "model: nowhere/m.gguf"),
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("targets[0].model: model file not found:") && err.contains("nowhere/m.gguf"),
        "{err}"
    );
}

#[test]
fn a_missing_default_model_says_to_run_make_model() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "e.yaml", GOOD);
    let output = tradeoff()
        .arg("run")
        .arg(&file)
        .env("TRADEOFF_HOME", dir.path().join("empty-home"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("run `make model`"),
        "{}",
        stderr(&output)
    );
}

/// The real model with its architecture name overwritten by one llama.cpp does not know.
fn with_unknown_architecture(model: &[u8]) -> Vec<u8> {
    let key = b"general.architecture";
    let at = model
        .windows(key.len())
        .position(|w| w == key)
        .expect("the default model names its architecture");
    // After the key: the value type (u32) and the string length (u64), then the name.
    let name = at + key.len() + 4 + 8;
    assert_eq!(&model[name..name + 6], b"gemma3");
    let mut patched = model.to_vec();
    patched[name..name + 6].copy_from_slice(b"qwerty");
    patched
}

#[test]
fn files_that_are_not_loadable_models_fail_their_runs_and_the_rest_complete() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "not-a-model.gguf",
        "this is a text file, not weights\n",
    );
    write(dir.path(), "empty.gguf", "");
    let real = std::fs::read(default_model()).unwrap();
    // Cut inside the magic, inside the metadata, after the header (tensor data missing), and
    // one byte short of the end.
    let cuts = [3, 100, 4 << 20, real.len() - 1];
    for cut in cuts {
        std::fs::write(dir.path().join(format!("cut-{cut}.gguf")), &real[..cut]).unwrap();
    }
    std::fs::write(dir.path().join("arch.gguf"), with_unknown_architecture(&real)).unwrap();
    drop(real);
    let mut targets = String::from(
        "  - {id: text, model: not-a-model.gguf, n_ctx: 256, max_tokens: 2}
  - {id: empty, model: empty.gguf, n_ctx: 256, max_tokens: 2}
  - {id: arch, model: arch.gguf, n_ctx: 256, max_tokens: 2}
",
    );
    for cut in cuts {
        targets.push_str(&format!(
            "  - {{id: cut-{cut}, model: cut-{cut}.gguf, n_ctx: 256, max_tokens: 2}}\n"
        ));
    }
    // A real model with a context no machine has memory for: refused before llama.cpp allocates.
    targets.push_str("  - {id: huge, model: default, n_ctx: 100000000, max_tokens: 2}\n");
    targets.push_str("  - {id: good, model: default, n_ctx: 256, max_tokens: 2}\n");
    let text = format!(
        "schema: 1
variants: [{{id: v, prompt: 'Q: {{{{ q }}}}'}}]
cases: [{{vars: {{q: hi}}}}, {{vars: {{q: there}}}}]
targets:
{targets}"
    );
    let file = write(dir.path(), "e.yaml", &text);
    let output = tradeoff()
        .arg("run")
        .arg(&file)
        .arg("--json")
        .arg("--db")
        .arg(dir.path().join("db.sqlite3"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * (5 + cuts.len()));
    for run in runs {
        let error = &run["error"];
        let target = run["target"].as_str().unwrap();
        let expected = match target {
            "good" => {
                assert!(error.is_null(), "{error}");
                assert!(run["latency_ms"].as_f64().unwrap() > 0.0);
                continue;
            }
            "huge" => {
                assert_eq!(error["class"], "insufficient_memory", "{error}");
                assert!(
                    error["message"].as_str().unwrap().contains("n_ctx 100000000"),
                    "{error}"
                );
                continue;
            }
            "text" | "empty" | "cut-3" => "not a GGUF model file",
            "arch" => "unknown model architecture: 'qwerty'",
            _ => "truncated",
        };
        assert_eq!(error["class"], "model_load", "{target}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(expected), "{target}: {message}");
    }
}

#[test]
fn a_prompt_longer_than_n_ctx_fails_that_run_and_the_others_complete() {
    let _turn = model_turn();
    let long = "word ".repeat(400);
    let text = format!(
        "schema: 1
variants: [{{id: v, prompt: 'Q: {{{{ q }}}}'}}]
cases: [{{id: short, vars: {{q: hi}}}}, {{id: long, vars: {{q: '{long}'}}}}]
targets: [{{id: t, model: default, n_ctx: 128, max_tokens: 2}}]
"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "e.yaml", &text);
    let output = tradeoff()
        .arg("run")
        .arg(&file)
        .arg("--json")
        .arg("--db")
        .arg(dir.path().join("db.sqlite3"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let runs = report["runs"].as_array().unwrap();
    let by_case = |id: &str| runs.iter().find(|r| r["case"] == id).unwrap();
    assert!(by_case("short")["error"].is_null());
    assert_eq!(by_case("long")["error"]["class"], "context_overflow");
    assert!(
        by_case("long")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("n_ctx is 128")
    );
    assert_eq!(report["configs"][0]["errors"], 1);
}

#[test]
fn an_unknown_experiment_id_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = tradeoff()
        .args(["report", "42", "--db"])
        .arg(dir.path().join("db.sqlite3"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no experiment with id 42"));
    let output = tradeoff()
        .args(["report", "latest", "--db"])
        .arg(dir.path().join("db.sqlite3"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no experiment yet"));
}

#[test]
fn inspecting_a_file_that_is_not_gguf_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "x.gguf", "nope");
    let output = tradeoff()
        .args(["models", "inspect"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a GGUF model file"));
}
