//! One worker child process: starting it, its handshake, its replies and its end.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::stderr_tail::StderrTail;
use tradeoff_core::execute::cpu_backend::{CPU_BACKEND_ENV, CpuBackend};
use tradeoff_core::execute::worker_protocol::{PROTOCOL_VERSION, Reply, Request};
use tradeoff_core::run::{ErrorClass, RunError};

/// How long a new worker may take to say hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
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

    /// Identifies the worker's build: a rebuilt or replaced executable is a new build whose CPU
    /// code has to prove itself again.
    pub fn build_key(&self) -> String {
        let stamp = std::fs::metadata(&self.program)
            .map(|m| {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                format!("{} bytes, modified {modified}", m.len())
            })
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        format!("{} ({stamp})", self.program.display())
    }
}

/// What a worker says when it starts.
#[derive(Debug, Clone)]
pub(super) struct Greeting {
    pub build_info: String,
    pub cpu_backend: Result<CpuBackend, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerStartError {
    #[error("could not start the inference worker {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("the inference worker {program} did not start properly: {reason}")]
    Handshake { program: String, reason: String },
}

/// A running worker and the threads that read its output.
#[derive(Debug)]
pub(super) struct WorkerProcess {
    child: Child,
    pub pid: u32,
    stdin: Option<ChildStdin>,
    /// Parsed stdout lines; `Err` holds a line that was not a reply.
    pub replies: Receiver<Result<Reply, String>>,
    tail: StderrTail,
    stderr_reader: Option<JoinHandle<()>>,
}

impl WorkerProcess {
    /// Starts a worker, pinned to one CPU variant when `cpu_variant` is given (else it loads
    /// the one the user pinned, or the best this CPU supports), and waits for its greeting.
    pub fn spawn(
        command: &WorkerCommand,
        cpu_variant: Option<&str>,
    ) -> Result<(WorkerProcess, Greeting), WorkerStartError> {
        let program = command.program.display().to_string();
        let mut builder = Command::new(&command.program);
        // Unpinned, the worker inherits the user's own TRADEOFF_CPU_BACKEND, if any.
        if let Some(variant) = cpu_variant {
            builder.env(CPU_BACKEND_ENV, variant);
        }
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
        let mut child = spawn_from_lasting_thread(builder).map_err(|source| WorkerStartError::Spawn {
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
                protocol,
                build_info,
                cpu_backend,
                ..
            })) => {
                if protocol != PROTOCOL_VERSION {
                    return Err(handshake_error(format!(
                        "it speaks protocol {protocol}, this build speaks {PROTOCOL_VERSION}"
                    )));
                }
                Ok((
                    process,
                    Greeting {
                        build_info,
                        cpu_backend,
                    },
                ))
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

    pub fn send(&mut self, request: &Request) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        let line = serde_json::to_string(request).map_err(std::io::Error::other)?;
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Closes the worker's stdin (its signal to exit), kills it if it lingers, and returns how
    /// it ended with the last lines of its stderr.
    pub fn end(mut self) -> (Option<ExitStatus>, String) {
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

type SpawnJob = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` from one thread that lives as long as this process. A worker asks the kernel
/// to kill it when its parent goes (`PR_SET_PDEATHSIG`), and the kernel means the *thread* that
/// spawned it: a worker spawned from a short-lived thread (a Tokio blocking-pool thread idles out
/// after ten seconds) would be killed with that thread in the middle of its work.
fn spawn_from_lasting_thread(command: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<SpawnJob>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, incoming) = channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("worker-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("cannot start the worker-spawning thread: {e}"));
        std::sync::Mutex::new(jobs)
    });
    let (reply, child) = channel();
    spawner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the worker-spawning thread is gone"))?;
    child
        .recv()
        .map_err(|_| std::io::Error::other("the worker-spawning thread is gone"))?
}

/// A worker's end as a run's error: how it ended, and the last lines it wrote.
pub(crate) fn death_error(pid: u32, during: &str, how: String, tail: &str) -> RunError {
    let mut message = format!(
        "the inference worker (pid {pid}) ended during {during}: {how}; a new worker takes the next request"
    );
    if !tail.is_empty() {
        message.push_str(". Its last messages:\n");
        message.push_str(tail);
    }
    RunError::new(ErrorClass::WorkerCrashed, message)
}

pub(super) fn describe_exit(status: Option<ExitStatus>) -> String {
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
