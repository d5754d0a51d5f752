//! The inference worker: crash isolation, restart, and its lifetime tied to its parent.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tradeoff_core::execute::engine::{GenerateRequest, LoadRequest, LocalEngine};
use tradeoff_core::execute::events::RunEvent;
use tradeoff_core::run::ErrorClass;
use tradeoff_core::spec::experiment::{ChatTemplateChoice, Sampling};
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_llama::LlamaEngine;
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use crate::support::{FEWSHOT, children_of, model_turn, stderr, stdout, tradeoff, worker_command, write};

fn load_request() -> LoadRequest {
    crate::serving_worker::load(1)
}

fn generate_request(max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        load: load_request(),
        prompt: RenderedPrompt::Raw {
            prompt: FEWSHOT.into(),
        },
        chat_template: ChatTemplateChoice::Auto,
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
            max_tokens,
            stop: vec!["\n".into()],
        },
    }
}

fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_worker_counts_prompt_tokens_exactly_as_the_engine_in_process() {
    let _turn = model_turn();
    let mut worker = WorkerEngine::start(worker_command()).unwrap();
    let prompt = RenderedPrompt::Raw {
        prompt: FEWSHOT.into(),
    };
    let (count, warnings) = worker
        .count_prompt_tokens(&load_request(), &prompt, &ChatTemplateChoice::Auto)
        .unwrap();
    let expected = LlamaEngine::new().count_tokens(&load_request(), FEWSHOT).unwrap();
    assert_eq!(count as usize, expected);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(
        worker.build_info().contains("llama-cpp-2"),
        "{}",
        worker.build_info()
    );
}

#[test]
fn a_worker_that_died_between_runs_is_replaced_and_the_next_run_succeeds() {
    let _turn = model_turn();
    let mut worker = WorkerEngine::start(worker_command()).unwrap();
    worker.load(&load_request()).unwrap();
    let cancel = AtomicBool::new(false);
    let first = worker
        .generate(&generate_request(24), &mut |_| {}, &cancel)
        .unwrap();
    assert!(first.output.contains("Berlin"), "{}", first.output);

    let pid = worker.pid().unwrap();
    kill("-KILL", pid);
    // Dead for good once every thread is gone, not only the main one.
    while is_alive(pid) || std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|t| t.count() > 1) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = worker
        .generate(&generate_request(24), &mut |_| {}, &cancel)
        .unwrap();
    assert_eq!(
        second.output, first.output,
        "greedy output is the same after the restart"
    );
    assert_ne!(worker.pid(), Some(pid));
    assert_eq!(worker.restarts(), 1);
    assert!(
        second.warnings.iter().any(|w| w.contains("loaded again")),
        "{:?}",
        second.warnings
    );
}

#[test]
fn a_failed_load_leaves_the_worker_serving() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let text = write(dir.path(), "text.gguf", "not weights\n");
    let mut worker = WorkerEngine::start(worker_command()).unwrap();
    let pid = worker.pid();
    let mut bad = load_request();
    bad.model_path = text;
    let error = worker.load(&bad).unwrap_err();
    assert_eq!(error.class, ErrorClass::ModelLoad);
    assert!(error.message.contains("not a GGUF model file"), "{error}");
    worker.load(&load_request()).unwrap();
    assert_eq!(worker.pid(), pid, "no restart was needed");
}

#[test]
fn killing_the_worker_mid_generation_costs_that_run_only_and_the_experiment_finishes() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "e.yaml",
        "schema: 1
variants: [{id: count, prompt: 'Count from {{ n }}:'}]
cases: [{vars: {n: '1'}}, {vars: {n: '10'}}, {vars: {n: '100'}}]
targets: [{id: t, model: default, n_ctx: 256, max_tokens: 64}]
",
    );
    let mut child = tradeoff()
        .args(["run", "--events", "--db"])
        .arg(&db)
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut records = Vec::new();
    let mut killed = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let event: RunEvent = serde_json::from_str(&line.unwrap()).unwrap();
        match event {
            RunEvent::Text { .. } if killed.is_none() => {
                let workers = children_of(child.id());
                assert_eq!(workers.len(), 1, "one worker: {workers:?}");
                kill("-KILL", workers[0]);
                killed = Some(workers[0]);
            }
            RunEvent::RunFinished { record, .. } => records.push(*record),
            _ => {}
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(killed.is_some());
    assert_eq!(records.len(), 3);
    let crashed = &records[0];
    let error = crashed.error.as_ref().unwrap();
    assert_eq!(error.class, ErrorClass::WorkerCrashed);
    assert!(error.message.contains("signal 9"), "{}", error.message);
    for record in &records[1..] {
        assert!(record.error.is_none(), "{:?}", record.error);
        assert!(record.metrics.as_ref().unwrap().output_tokens > 0);
    }
    assert!(
        records[1].warnings.iter().any(|w| w.contains("loaded again")),
        "{:?}",
        records[1].warnings
    );

    let report = tradeoff()
        .args(["report", "latest", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout(&report)).unwrap();
    assert_eq!(report["status"], "completed");
    assert_eq!(report["runs"].as_array().unwrap().len(), 3);
    assert_eq!(report["runs"][0]["error"]["class"], "worker_crashed");
}

#[test]
fn the_worker_dies_with_its_parent() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let cases: String = (0..40).map(|i| format!("  - {{vars: {{n: '{i}'}}}}\n")).collect();
    let file = write(
        dir.path(),
        "e.yaml",
        &format!(
            "schema: 1
variants: [{{id: count, prompt: 'Count from {{{{ n }}}}:'}}]
cases:
{cases}targets: [{{id: t, model: default, n_ctx: 256, max_tokens: 32}}]
"
        ),
    );
    let mut child = tradeoff()
        .args(["run", "--events", "--db"])
        .arg(dir.path().join("db.sqlite3"))
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let worker = loop {
        let line = lines.next().unwrap().unwrap();
        if line.contains("\"event\":\"text\"") {
            break children_of(child.id())[0];
        }
    };
    child.kill().unwrap(); // SIGKILL: the parent gets no chance to stop its worker
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_alive(worker) {
        assert!(Instant::now() < deadline, "worker {worker} outlived its parent");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_worker_greets_first_and_exits_when_its_input_closes() {
    let mut worker = tradeoff()
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = worker.stdin.take().unwrap();
    let mut replies = BufReader::new(worker.stdout.take().unwrap()).lines();
    let hello: serde_json::Value = serde_json::from_str(&replies.next().unwrap().unwrap()).unwrap();
    assert_eq!(hello["reply"], "hello");
    assert_eq!(
        hello["protocol"],
        tradeoff_core::execute::worker_protocol::PROTOCOL_VERSION
    );

    writeln!(stdin, "{{\"op\":\"frobnicate\"}}").unwrap();
    let failed: serde_json::Value = serde_json::from_str(&replies.next().unwrap().unwrap()).unwrap();
    assert_eq!(failed["reply"], "failed");
    assert!(
        failed["message"].as_str().unwrap().contains("malformed request"),
        "{failed}"
    );

    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the worker kept running after its input closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}

#[test]
fn the_default_model_decodes_in_a_worker_on_the_cpu_backend_the_self_test_verified_here() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("cpu-check.json");
    let mut worker = WorkerEngine::start_with_cpu_record(worker_command(), record.clone()).unwrap();
    let before = worker.cpu_backend().unwrap();
    assert!(!before.verified, "nothing was tested yet: {before:?}");
    assert!(!before.candidates.is_empty(), "{before:?}");

    let cancel = AtomicBool::new(false);
    let generation = worker
        .generate(&generate_request(24), &mut |_| {}, &cancel)
        .unwrap();
    assert!(generation.output.contains("Berlin"), "{}", generation.output);

    let cpu = worker.cpu_backend().unwrap();
    assert!(cpu.verified, "{cpu:?}");
    assert!(cpu.candidates.iter().any(|c| c.name == cpu.variant), "{cpu:?}");
    assert!(
        worker
            .build_info()
            .contains(&format!("CPU backend {}", cpu.variant))
    );
    let kept = kept_record(&record);
    assert_eq!(kept.variant, cpu.variant);
    assert!(kept.rejected.is_empty(), "{kept:?}");

    // The next engine on this build and machine starts on the verified variant, untested.
    let again = WorkerEngine::start_with_cpu_record(worker_command(), record).unwrap();
    assert_eq!(again.cpu_backend().unwrap(), cpu);
}

/// The CPU backend a fresh worker loads on this machine, before any self-test.
fn cpu_backend_here(dir: &std::path::Path) -> tradeoff_core::execute::cpu_backend::CpuBackend {
    WorkerEngine::start_with_cpu_record(worker_command(), dir.join("probe.json"))
        .unwrap()
        .cpu_backend()
        .unwrap()
}

/// The self-test's conclusion as kept on disk.
fn kept_record(path: &std::path::Path) -> tradeoff_worker::cpu_record::CpuCheckRecord {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A worker command whose CPU variant `variant` dies by SIGILL as soon as it computes.
fn worker_command_with_broken_variant(variant: &str) -> WorkerCommand {
    WorkerCommand {
        program: "/usr/bin/env".into(),
        args: vec![
            format!("{}={variant}", tradeoff_llama::worker::FAULT_SIGILL_CPU_VARIANT).into(),
            env!("CARGO_BIN_EXE_tradeoff").into(),
            "worker".into(),
        ],
    }
}

#[test]
fn a_cpu_variant_that_dies_in_the_self_test_is_skipped_for_the_next_best_and_runs_succeed() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let best = cpu_backend_here(dir.path());
    if best.candidates.len() < 2 {
        // Only the portable variant runs here: there is nothing to fall back to.
        return;
    }
    let broken = best.candidates[0].name.clone();
    let record = dir.path().join("cpu-check.json");
    let mut worker =
        WorkerEngine::start_with_cpu_record(worker_command_with_broken_variant(&broken), record.clone())
            .unwrap();
    let cancel = AtomicBool::new(false);
    let generation = worker
        .generate(&generate_request(24), &mut |_| {}, &cancel)
        .unwrap();
    assert!(generation.output.contains("Berlin"), "{}", generation.output);

    let cpu = worker.cpu_backend().unwrap();
    assert!(cpu.verified);
    assert_eq!(cpu.variant, best.candidates[1].name);
    assert_eq!(
        worker.restarts(),
        0,
        "moving onto the verified variant is not a crash"
    );
    let kept = kept_record(&record);
    assert_eq!(kept.rejected.len(), 1, "{kept:?}");
    assert_eq!(kept.rejected[0].variant, broken);
    assert!(kept.rejected[0].reason.contains("SIGILL"), "{kept:?}");
}

#[test]
fn when_no_cpu_variant_decodes_local_requests_fail_with_one_error_that_names_them_and_the_way_out() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let best = cpu_backend_here(dir.path());
    let mut worker = WorkerEngine::start_with_cpu_record(
        WorkerCommand {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                // Every variant breaks: the fault variable follows the pinned one.
                format!(
                    "exec env {}=\"$TRADEOFF_CPU_BACKEND\" {} worker",
                    tradeoff_llama::worker::FAULT_SIGILL_CPU_VARIANT,
                    env!("CARGO_BIN_EXE_tradeoff")
                )
                .into(),
            ],
        },
        dir.path().join("cpu-check.json"),
    )
    .unwrap();
    let error = worker.load(&load_request()).unwrap_err();
    assert_eq!(error.class, ErrorClass::WorkerCrashed);
    for candidate in &best.candidates {
        assert!(
            error.message.contains(&format!("- {} (uses", candidate.name)),
            "{error}"
        );
    }
    assert!(error.message.contains("SIGILL"), "{error}");
    assert!(error.message.contains("TRADEOFF_CPU_BACKEND=x64"), "{error}");
    // One self-test, then the same error at once: no crash per run.
    let started = Instant::now();
    assert_eq!(worker.load(&load_request()).unwrap_err(), error);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        !dir.path().join("cpu-check.json").exists(),
        "a failure is not recorded as a verified choice"
    );
}
