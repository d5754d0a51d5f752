//! [`WorkerEngine`]: a [`LocalEngine`] whose inference happens in a child process.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::cpu_check::{self, CpuCheckError};
use crate::cpu_record;
use crate::process::{WorkerCommand, WorkerProcess, WorkerStartError, death_error, describe_exit};
use crate::serving::ServingWorker;
use tradeoff_core::execute::bench::{BenchRequest, BenchSamples};
use tradeoff_core::execute::cpu_backend::{self, CpuBackend};
use tradeoff_core::execute::engine::{
    GenerateError, GenerateRequest, Generation, LoadReport, LoadRequest, LocalEngine,
};
use tradeoff_core::execute::worker_protocol::{Reply, Request};
use tradeoff_core::models::quantize::{QuantizeReport, QuantizeRequest};
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::experiment::ChatTemplateChoice;
use tradeoff_core::spec::prompt::RenderedPrompt;

/// How often a request checks the caller's cancel flag and the worker's deadline.
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// A worker that has not stopped this long after `Cancel` is stuck, and is killed.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// Local inference in a worker process that is restarted whenever it dies.
#[derive(Debug)]
pub struct WorkerEngine {
    command: WorkerCommand,
    process: Option<WorkerProcess>,
    build_info: String,
    /// The CPU code the current worker loaded.
    cpu_backend: Option<CpuBackend>,
    cpu_check: CpuCheck,
    /// What the current worker has loaded; a restarted worker has nothing loaded.
    loaded: Option<LoadRequest>,
    next_generation: u64,
    restarts: u32,
    /// The caller's stop flag: a load or tokenization that is waited for ends when it is set.
    interrupt: Option<Arc<AtomicBool>>,
    /// Where the CPU self-test's conclusion is kept.
    cpu_record: PathBuf,
}

/// Where the CPU self-test stands for this engine's workers.
#[derive(Debug, Clone)]
enum CpuCheck {
    /// Not run yet, or inconclusive for these models (tried again with another model).
    Pending { inconclusive_for: Vec<PathBuf> },
    /// Every worker is started on this verified variant.
    Verified { variant: String },
    /// No variant decodes here: every local request fails with this error.
    Failed(RunError),
}

impl WorkerEngine {
    /// Starts the worker and waits for its handshake, so that a worker that cannot start at
    /// all is reported before any run is attempted. A CPU variant that an earlier self-test on
    /// this machine verified for this build is used from the start.
    pub fn start(command: WorkerCommand) -> Result<WorkerEngine, WorkerStartError> {
        WorkerEngine::start_with_cpu_record(command, cpu_record::record_path())
    }

    /// [`WorkerEngine::start`], keeping the CPU self-test's conclusion at `record_path`.
    pub fn start_with_cpu_record(
        command: WorkerCommand,
        record_path: PathBuf,
    ) -> Result<WorkerEngine, WorkerStartError> {
        let record = match cpu_backend::user_pin() {
            Some(_) => None,
            None => cpu_record::read_record(&record_path, &command.build_key()),
        };
        let mut cpu_check = match &record {
            Some(record) => CpuCheck::Verified {
                variant: record.variant.clone(),
            },
            None => CpuCheck::Pending {
                inconclusive_for: Vec::new(),
            },
        };
        let mut started = WorkerProcess::spawn(&command, record.as_ref().map(|r| r.variant.as_str()))?;
        if record.is_some() && started.1.cpu_backend.is_err() {
            // The verified variant is gone (a changed build): start over with the best one.
            cpu_check = CpuCheck::Pending {
                inconclusive_for: Vec::new(),
            };
            started = WorkerProcess::spawn(&command, None)?;
        }
        let (process, greeting) = started;
        let cpu_backend = greeting
            .cpu_backend
            .map_err(|reason| WorkerStartError::Handshake {
                program: command.program.display().to_string(),
                reason: format!("it could not load llama.cpp's CPU code: {reason}"),
            })?;
        Ok(WorkerEngine {
            command,
            process: Some(process),
            build_info: greeting.build_info,
            cpu_backend: Some(cpu_backend),
            cpu_check,
            loaded: None,
            next_generation: 1,
            restarts: 0,
            interrupt: None,
            cpu_record: record_path,
        })
    }

    /// Makes waits for loads and tokenizations end when `flag` is set (Ctrl-C, Cancel), by
    /// killing the worker: a load cannot be interrupted otherwise.
    pub fn interrupt_with(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// The CPU code the worker runs, marked verified once the self-test proved it here.
    pub fn cpu_backend(&self) -> Option<CpuBackend> {
        let verified = matches!(self.cpu_check, CpuCheck::Verified { .. });
        self.cpu_backend.clone().map(|cpu| CpuBackend { verified, ..cpu })
    }

    /// Proves once, with a tiny decode of `load`'s model in throw-away workers, which CPU variant
    /// works on this machine, and moves the worker onto it. Runs by itself before the first
    /// request that loads a model; callers may run it earlier to fail fast.
    pub fn check_cpu_path(&mut self, load: &LoadRequest) -> Result<(), RunError> {
        match &self.cpu_check {
            CpuCheck::Verified { .. } => return Ok(()),
            CpuCheck::Failed(error) => return Err(error.clone()),
            CpuCheck::Pending { inconclusive_for } if inconclusive_for.contains(&load.model_path) => {
                return Ok(());
            }
            CpuCheck::Pending { .. } => {}
        }
        match cpu_check::verify(&self.command, load, &self.cpu_record) {
            Ok(record) => {
                let running = self.cpu_backend.as_ref().map(|cpu| cpu.variant.clone());
                let switch = running.as_deref() != Some(record.variant.as_str());
                self.cpu_check = CpuCheck::Verified {
                    variant: record.variant,
                };
                if switch {
                    // Moving onto the verified variant is not a restart after a death.
                    self.process = None;
                    self.loaded = None;
                    self.spawn_worker()?;
                }
                Ok(())
            }
            Err(error @ CpuCheckError::NoUsableBackend { .. }) => {
                let error = RunError::new(ErrorClass::WorkerCrashed, error.to_string());
                self.cpu_check = CpuCheck::Failed(error.clone());
                Err(error)
            }
            // The request itself will say what is wrong (e.g. the model does not load).
            Err(CpuCheckError::Inconclusive(_)) => {
                if let CpuCheck::Pending { inconclusive_for } = &mut self.cpu_check {
                    inconclusive_for.push(load.model_path.clone());
                }
                Ok(())
            }
        }
    }

    /// The process id of the current worker, if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// How many times a worker was started again after dying.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Frees the loaded model and context in the worker.
    pub fn unload(&mut self) -> Result<(), RunError> {
        self.loaded = None;
        match self.exchange(&Request::Unload, "unload", &mut |_| {}, None)? {
            Reply::Unloaded => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The number of tokens `prompt` becomes for this model, counted by the worker exactly as a
    /// generation would feed it (chat template and BOS included), with notes on how.
    pub fn count_prompt_tokens(
        &mut self,
        load: &LoadRequest,
        prompt: &RenderedPrompt,
        chat_template: &ChatTemplateChoice,
    ) -> Result<(u32, Vec<String>), RunError> {
        let request = Request::Tokenize {
            load: load.clone(),
            prompt: prompt.clone(),
            chat_template: chat_template.clone(),
        };
        let reply = self.exchange(&request, "tokenization", &mut |_| {}, None);
        // Tokenizing loads the model: the worker's state is now this request's.
        self.loaded = None;
        match reply? {
            Reply::Tokens { count, warnings } => Ok((count, warnings)),
            Reply::Failed(error) => Err(error),
            other => Err(unexpected(other)),
        }
    }

    /// Times pp and tg in the worker (see [`tradeoff_core::execute::bench`]).
    pub fn bench(&mut self, request: &BenchRequest) -> Result<BenchSamples, RunError> {
        let reply = self.exchange(
            &Request::Bench(request.clone()),
            "the benchmark",
            &mut |_| {},
            None,
        );
        // The bench leaves its own context behind.
        self.loaded = None;
        match reply? {
            Reply::Benched(samples) => Ok(samples),
            Reply::Failed(error) => Err(error),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a quantized copy of a model in the worker, reporting tensors done of all.
    pub fn quantize(
        &mut self,
        request: &QuantizeRequest,
        on_progress: &mut dyn FnMut(u32, u32),
    ) -> Result<QuantizeReport, RunError> {
        let mut on_partial = |reply: &Reply| {
            if let Reply::Progress { done, total } = reply {
                on_progress(*done, *total);
            }
        };
        match self.exchange(
            &Request::Quantize(request.clone()),
            "quantization",
            &mut on_partial,
            None,
        )? {
            Reply::Quantized(report) => Ok(report),
            Reply::Failed(error) => Err(error),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces a worker that died since the last request and loads what the request needs.
    /// A restarted worker has nothing loaded; loading here, before the request, keeps the
    /// load out of the run's latency. Returns the warning that says so, if it happened.
    fn reload_if_restarted(&mut self, load: &LoadRequest) -> Result<Vec<String>, RunError> {
        self.ensure_process()?;
        if self.loaded.as_ref() == Some(load) {
            return Ok(Vec::new());
        }
        let report = self.load(load)?;
        let ms = report.model_load_ms.unwrap_or(0.0) + report.context_create_ms.unwrap_or(0.0);
        Ok(vec![format!(
            "the model was loaded again before this run ({ms:.0} ms, not part of its latency) because the worker had restarted"
        )])
    }

    fn next_generation_id(&mut self) -> u64 {
        let id = self.next_generation;
        self.next_generation += 1;
        id
    }

    /// A generation request's exchange, with the outcomes every generation shares: cancelled,
    /// failed in the worker, or the worker's death (which counts as cancelled when the caller
    /// had asked to cancel).
    fn generation_exchange(
        &mut self,
        message: &Request,
        on_partial: &mut dyn FnMut(&Reply),
        cancel: &AtomicBool,
        id: u64,
    ) -> Result<Reply, GenerateError> {
        match self.exchange(message, "generation", on_partial, Some((cancel, id))) {
            Ok(Reply::Cancelled) => Err(GenerateError::Cancelled),
            Ok(Reply::Failed(error)) => Err(GenerateError::Failed(error)),
            Ok(reply) => Ok(reply),
            Err(_) if cancel.load(Ordering::Relaxed) => Err(GenerateError::Cancelled),
            Err(error) => Err(GenerateError::Failed(error)),
        }
    }

    fn ensure_process(&mut self) -> Result<(), RunError> {
        if let Some(process) = &mut self.process
            && process.has_exited()
        {
            // It died between requests: nothing was in flight, so nothing to record.
            self.process = None;
            self.loaded = None;
        }
        if self.process.is_none() {
            self.spawn_worker()?;
            self.restarts += 1;
        }
        Ok(())
    }

    /// Starts a worker on the verified CPU variant, or on the best one before the self-test.
    fn spawn_worker(&mut self) -> Result<(), RunError> {
        let variant = match &self.cpu_check {
            CpuCheck::Verified { variant } => Some(variant.as_str()),
            _ => None,
        };
        let (process, greeting) = WorkerProcess::spawn(&self.command, variant).map_err(|e| {
            RunError::new(
                ErrorClass::WorkerCrashed,
                format!("could not start a worker: {e}"),
            )
        })?;
        self.build_info = greeting.build_info;
        self.cpu_backend = greeting.cpu_backend.ok();
        self.process = Some(process);
        Ok(())
    }

    /// Sends `request` and returns its final reply, passing streamed replies (text, progress)
    /// to `on_partial`. A request that loads a model first passes the CPU self-test. A worker
    /// silent for longer than the request's idle limit is stuck and is killed; so is one whose
    /// load the caller interrupts. When the worker dies meanwhile, the error says during what,
    /// how it died and what it said last.
    fn exchange(
        &mut self,
        request: &Request,
        during: &str,
        on_partial: &mut dyn FnMut(&Reply),
        cancel: Option<(&AtomicBool, u64)>,
    ) -> Result<Reply, RunError> {
        if let Some(load) = model_load_of(request) {
            self.check_cpu_path(&load)?;
        }
        self.ensure_process()?;
        let Some(process) = self.process.as_mut() else {
            return Err(RunError::new(ErrorClass::Internal, "no worker process"));
        };
        if process.send(request).is_err() {
            return Err(self.death(during, None));
        }
        let idle_limit = idle_limit(request);
        let mut last_heard = Instant::now();
        let mut cancel_deadline = None;
        loop {
            let Some(process) = self.process.as_mut() else {
                return Err(RunError::new(ErrorClass::Internal, "no worker process"));
            };
            match process.replies.recv_timeout(CANCEL_POLL) {
                Ok(Ok(partial @ (Reply::Text { .. } | Reply::Progress { .. }))) => {
                    last_heard = Instant::now();
                    on_partial(&partial);
                }
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(malformed)) => {
                    return Err(self.death(during, Some(format!("it sent a malformed reply: {malformed}"))));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.death(during, None)),
                Err(RecvTimeoutError::Timeout) => {
                    if last_heard.elapsed() > idle_limit {
                        let reason = format!(
                            "it sent nothing for {} s, so it was killed as stuck",
                            idle_limit.as_secs()
                        );
                        return Err(self.death(during, Some(reason)));
                    }
                    let Some((flag, id)) = cancel else {
                        if self
                            .interrupt
                            .as_ref()
                            .is_some_and(|flag| flag.load(Ordering::Relaxed))
                        {
                            let reason = "it was stopped because the caller cancelled".to_string();
                            return Err(self.death(during, Some(reason)));
                        }
                        continue;
                    };
                    match cancel_deadline {
                        None if flag.load(Ordering::Relaxed) => {
                            if process.send(&Request::Cancel { id }).is_err() {
                                return Err(self.death(during, None));
                            }
                            cancel_deadline = Some(Instant::now() + CANCEL_GRACE);
                        }
                        Some(deadline) if Instant::now() > deadline => {
                            let reason = format!(
                                "it did not stop within {} s of being cancelled, so it was killed",
                                CANCEL_GRACE.as_secs()
                            );
                            return Err(self.death(during, Some(reason)));
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Ends the current worker (it is dead or no longer trusted) and describes its end.
    fn death(&mut self, during: &str, reason: Option<String>) -> RunError {
        self.loaded = None;
        let Some(process) = self.process.take() else {
            return RunError::new(
                ErrorClass::WorkerCrashed,
                format!("the worker was gone during {during}"),
            );
        };
        let pid = process.pid;
        let (status, tail) = process.end();
        death_error(
            pid,
            during,
            reason.unwrap_or_else(|| describe_exit(status)),
            &tail,
        )
    }

    /// Turns this engine's worker into a serving session for `load` (the CPU path proved
    /// first): the model loads once with one slot per context sequence.
    pub fn into_serving(mut self, load: &LoadRequest) -> Result<ServingWorker, RunError> {
        self.check_cpu_path(load)?;
        self.ensure_process()?;
        let process = self.process.take().ok_or_else(|| {
            RunError::new(
                ErrorClass::WorkerCrashed,
                "the inference worker could not be started",
            )
        })?;
        ServingWorker::open(process, load)
    }
}

impl LocalEngine for WorkerEngine {
    fn load(&mut self, request: &LoadRequest) -> Result<LoadReport, RunError> {
        let reply = self.exchange(&Request::Load(request.clone()), "model load", &mut |_| {}, None)?;
        match reply {
            Reply::Loaded(report) => {
                self.loaded = Some(request.clone());
                Ok(report)
            }
            Reply::Failed(error) => {
                self.loaded = None;
                Err(error)
            }
            other => Err(unexpected(other)),
        }
    }

    fn generate(
        &mut self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Generation, GenerateError> {
        let mut warnings = self.reload_if_restarted(&request.load)?;
        let id = self.next_generation_id();
        let message = Request::Generate {
            id,
            request: request.clone(),
        };
        let mut on_partial = |reply: &Reply| {
            if let Reply::Text { text } = reply {
                on_text(text);
            }
        };
        match self.generation_exchange(&message, &mut on_partial, cancel, id)? {
            Reply::Generated(mut generation) => {
                warnings.append(&mut generation.warnings);
                generation.warnings = warnings;
                Ok(generation)
            }
            other => Err(GenerateError::Failed(unexpected(other))),
        }
    }

    fn generate_batch(
        &mut self,
        requests: &[GenerateRequest],
        cancel: &AtomicBool,
    ) -> Result<Vec<Result<Generation, RunError>>, GenerateError> {
        let Some(first) = requests.first() else {
            return Ok(Vec::new());
        };
        let warnings = self.reload_if_restarted(&first.load)?;
        let id = self.next_generation_id();
        let message = Request::GenerateBatch {
            id,
            requests: requests.to_vec(),
        };
        match self.generation_exchange(&message, &mut |_| {}, cancel, id)? {
            Reply::GeneratedBatch { mut results } => {
                for generation in results.iter_mut().flatten() {
                    generation.warnings.splice(0..0, warnings.iter().cloned());
                }
                Ok(results)
            }
            other => Err(GenerateError::Failed(unexpected(other))),
        }
    }

    fn build_info(&self) -> String {
        self.build_info.clone()
    }
}

/// The model a request makes the worker load, if any: such a request runs llama.cpp's CPU code.
fn model_load_of(request: &Request) -> Option<LoadRequest> {
    match request {
        Request::Load(load) | Request::Tokenize { load, .. } | Request::Serve(load) => Some(load.clone()),
        Request::Generate { request, .. } | Request::Submit { request, .. } => Some(request.load.clone()),
        Request::GenerateBatch { requests, .. } => requests.first().map(|r| r.load.clone()),
        Request::Bench(bench) => Some(LoadRequest {
            model_path: bench.model_path.clone(),
            n_gpu_layers: 0,
            context: tradeoff_core::spec::target::ContextSettings {
                n_ctx: bench.n_prompt.max(bench.n_gen).max(1),
                threads: bench.threads,
                batch: bench.batch,
                kv_type: tradeoff_core::spec::target::KvType::F16,
                sequences: 1,
                prefix_cache: false,
            },
        }),
        Request::Unload | Request::Cancel { .. } | Request::Quantize(_) | Request::EndServe => None,
    }
}

/// How long a worker may stay silent during a request before it counts as stuck. Generous: a
/// big model loads from a slow disk for minutes, a long prompt is evaluated without a word, a
/// benchmark streams nothing; none of them is silent for an hour.
fn idle_limit(request: &Request) -> Duration {
    match request {
        Request::Unload | Request::Cancel { .. } | Request::EndServe => Duration::from_secs(60),
        Request::Load(_) | Request::Tokenize { .. } | Request::Serve(_) => Duration::from_secs(15 * 60),
        Request::Generate { .. }
        | Request::GenerateBatch { .. }
        | Request::Submit { .. }
        | Request::Quantize(_) => Duration::from_secs(30 * 60),
        Request::Bench(_) => Duration::from_secs(60 * 60),
    }
}

fn unexpected(reply: Reply) -> RunError {
    RunError::new(
        ErrorClass::Internal,
        format!("the worker answered out of turn: {reply:?}"),
    )
}
