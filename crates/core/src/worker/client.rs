//! [`WorkerEngine`]: a [`LocalEngine`] whose inference happens in a child process.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::protocol::{PROTOCOL_VERSION, Reply, Request};
use super::stderr_tail::StderrTail;
use crate::bench::{BenchRequest, BenchSamples};
use crate::engine::{GenerateError, GenerateRequest, Generation, LoadReport, LoadRequest, LocalEngine};
use crate::experiment::ChatTemplateChoice;
use crate::prompt::RenderedPrompt;
use crate::quantize::{QuantizeReport, QuantizeRequest};
use crate::run::{ErrorClass, RunError};

/// How long a new worker may take to say hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a generation checks the caller's cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// A worker that has not stopped this long after `Cancel` is stuck, and is killed.
const CANCEL_GRACE: Duration = Duration::from_secs(10);
/// How long a worker may take to exit after its stdin closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The program that runs as the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// `<this executable> worker`: the `tradeoff` binary is its own worker.
    pub fn current_exe() -> std::io::Result<WorkerCommand> {
        Ok(WorkerCommand {
            program: std::env::current_exe()?,
            args: vec!["worker".into()],
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerStartError {
    #[error("could not start the inference worker {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("the inference worker {program} did not start properly: {reason}")]
    Handshake { program: String, reason: String },
}

/// Local inference in a worker process that is restarted whenever it dies.
#[derive(Debug)]
pub struct WorkerEngine {
    command: WorkerCommand,
    process: Option<WorkerProcess>,
    build_info: String,
    /// What the current worker has loaded; a restarted worker has nothing loaded.
    loaded: Option<LoadRequest>,
    next_generation: u64,
    restarts: u32,
}

impl WorkerEngine {
    /// Starts the worker and waits for its handshake, so that a worker that cannot start at
    /// all is reported before any run is attempted.
    pub fn start(command: WorkerCommand) -> Result<WorkerEngine, WorkerStartError> {
        let (process, build_info) = WorkerProcess::spawn(&command)?;
        Ok(WorkerEngine {
            command,
            process: Some(process),
            build_info,
            loaded: None,
            next_generation: 1,
            restarts: 0,
        })
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

    /// Times pp and tg in the worker (see [`crate::bench`]).
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
            let (process, _) = WorkerProcess::spawn(&self.command)
                .map_err(|e| RunError::new(ErrorClass::WorkerCrashed, format!("could not restart: {e}")))?;
            self.process = Some(process);
            self.restarts += 1;
        }
        Ok(())
    }

    /// Sends `request` and returns its final reply, passing streamed replies (text, progress)
    /// to `on_partial`. When the
    /// worker dies meanwhile, the error says during what, how it died and what it said last.
    fn exchange(
        &mut self,
        request: &Request,
        during: &str,
        on_partial: &mut dyn FnMut(&Reply),
        cancel: Option<(&AtomicBool, u64)>,
    ) -> Result<Reply, RunError> {
        self.ensure_process()?;
        let Some(process) = self.process.as_mut() else {
            return Err(RunError::new(ErrorClass::Internal, "no worker process"));
        };
        if process.send(request).is_err() {
            return Err(self.death(during, None));
        }
        let mut cancel_deadline = None;
        loop {
            let Some(process) = self.process.as_mut() else {
                return Err(RunError::new(ErrorClass::Internal, "no worker process"));
            };
            let received = match cancel {
                Some(_) => process.replies.recv_timeout(CANCEL_POLL),
                None => process.replies.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(Ok(partial @ (Reply::Text { .. } | Reply::Progress { .. }))) => on_partial(&partial),
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(malformed)) => {
                    return Err(self.death(during, Some(format!("it sent a malformed reply: {malformed}"))));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.death(during, None)),
                Err(RecvTimeoutError::Timeout) => {
                    let Some((flag, id)) = cancel else { continue };
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
        let how = reason.unwrap_or_else(|| describe_exit(status));
        let mut message = format!(
            "the inference worker (pid {pid}) ended during {during}: {how}; a new worker takes the next run"
        );
        if !tail.is_empty() {
            message.push_str(". Its last messages:\n");
            message.push_str(&tail);
        }
        RunError::new(ErrorClass::WorkerCrashed, message)
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

fn unexpected(reply: Reply) -> RunError {
    RunError::new(
        ErrorClass::Internal,
        format!("the worker answered out of turn: {reply:?}"),
    )
}

/// A running worker and the threads that read its output.
#[derive(Debug)]
struct WorkerProcess {
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    /// Parsed stdout lines; `Err` holds a line that was not a reply.
    replies: Receiver<Result<Reply, String>>,
    tail: StderrTail,
    stderr_reader: Option<JoinHandle<()>>,
}

impl WorkerProcess {
    fn spawn(command: &WorkerCommand) -> Result<(WorkerProcess, String), WorkerStartError> {
        let program = command.program.display().to_string();
        let mut builder = Command::new(&command.program);
        builder
            .args(&command.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            // Its own process group: Ctrl-C in a terminal reaches the parent, which cancels
            // cleanly, instead of killing the worker mid-run.
            use std::os::unix::process::CommandExt;
            builder.process_group(0);
        }
        let mut child = builder.spawn().map_err(|source| WorkerStartError::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = child.id();
        let tail = StderrTail::default();
        let stderr_reader = child.stderr.take().map(|stderr| tail.collect(stderr));
        let (sender, replies) = channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let parsed = serde_json::from_str::<Reply>(&line).map_err(|e| format!("{e}: {line}"));
                    if sender.send(parsed).is_err() {
                        break;
                    }
                }
            });
        }
        let process = WorkerProcess {
            stdin: child.stdin.take(),
            child,
            pid,
            replies,
            tail,
            stderr_reader,
        };
        let handshake_error = |reason: String| WorkerStartError::Handshake {
            program: program.clone(),
            reason,
        };
        match process.replies.recv_timeout(HANDSHAKE_TIMEOUT) {
            Ok(Ok(Reply::Hello {
                protocol, build_info, ..
            })) => {
                if protocol != PROTOCOL_VERSION {
                    return Err(handshake_error(format!(
                        "it speaks protocol {protocol}, this build speaks {PROTOCOL_VERSION}"
                    )));
                }
                Ok((process, build_info))
            }
            Ok(Ok(other)) => Err(handshake_error(format!("its first message was {other:?}"))),
            Ok(Err(line)) => Err(handshake_error(format!(
                "its first line was not a handshake: {line}"
            ))),
            Err(RecvTimeoutError::Timeout) => Err(handshake_error(format!(
                "no handshake within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                let (status, tail) = process.end();
                Err(handshake_error(format!("{}; {tail}", describe_exit(status))))
            }
        }
    }

    fn send(&mut self, request: &Request) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        let line = serde_json::to_string(request).map_err(std::io::Error::other)?;
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Closes the worker's stdin (its signal to exit), kills it if it lingers, and returns how
    /// it ended with the last lines of its stderr.
    fn end(mut self) -> (Option<ExitStatus>, String) {
        let status = self.shut_down();
        (status, self.tail.text())
    }

    fn shut_down(&mut self) -> Option<ExitStatus> {
        self.stdin = None;
        let deadline = Instant::now() + EXIT_GRACE;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
            }
        };
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        status
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.stdin.is_some() || self.stderr_reader.is_some() {
            self.shut_down();
        }
    }
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "its exit status is unknown".into();
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let hint = match signal {
                6 => " (SIGABRT: llama.cpp or ggml aborted)",
                9 => " (SIGKILL: killed, e.g. by the kernel when memory ran out)",
                11 => " (SIGSEGV: invalid memory access)",
                7 => " (SIGBUS: the model file may have changed or been truncated while mapped)",
                4 => " (SIGILL: the CPU lacks an instruction this build uses)",
                _ => "",
            };
            return format!("killed by signal {signal}{hint}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "exited".into(),
    }
}
