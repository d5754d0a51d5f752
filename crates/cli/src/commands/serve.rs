//! `tradeoff serve WINNER.json [--host 127.0.0.1] [--port 8080] [--parallel N] [--queue N]
//! [--api-key-env VAR] [--insecure-no-auth] [--check]`: the measured winner behind an
//! OpenAI-compatible endpoint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tradeoff_core::spec::experiment::ChatTemplateChoice;
use tradeoff_serve::{Deployment, ServeError, ServeOptions};
use tradeoff_worker::WorkerCommand;

use crate::exit::Exit;

pub struct ServeArgs {
    pub host: String,
    pub port: u16,
    pub parallel: u32,
    pub queue: usize,
    pub api_key_env: Option<String>,
    pub insecure_no_auth: bool,
    pub check: bool,
    /// The traffic log's database; `None` with `--no-log`.
    pub db: Option<PathBuf>,
    pub retain: Option<Duration>,
    pub log_text: bool,
}

pub fn serve(winner: &Path, args: ServeArgs) -> Result<ExitCode, Exit> {
    if args.parallel == 0 || args.parallel > 64 {
        return Err(Exit::bad_input(format!(
            "--parallel {}: between 1 and 64 slots",
            args.parallel
        )));
    }
    let deployment = Deployment::from_file(winner, args.parallel).map_err(Exit::bad_input)?;
    if args.check {
        println!("{}", deployment.describe());
        return Ok(ExitCode::SUCCESS);
    }
    let chat_template = deployment.chat_template.clone();
    let model_name = deployment.model_name.clone();
    let label = deployment.label.clone();
    let slots = deployment.load.context.sequences;
    let worker = WorkerCommand::current_exe().map_err(Exit::failure)?;
    let options = ServeOptions {
        host: args.host,
        port: args.port,
        queue: args.queue,
        api_key_env: args.api_key_env,
        insecure_no_auth: args.insecure_no_auth,
        db: args.db.clone(),
        retain: args.retain,
        log_text: args.log_text,
        winner_path: winner.to_path_buf(),
    };
    let db = args.db;
    tradeoff_serve::run(deployment, options, worker, |ready| {
        let mut out = std::io::stdout().lock();
        // The first line is the address, for scripts (and tests) to read.
        let _ = writeln!(out, "listening on http://{}/v1", ready.address);
        let _ = writeln!(
            out,
            "serving {label} as model `{model_name}` with {slots} slots{}",
            if ready.keyed { ", clients must send the key" } else { "" }
        );
        if !ready.load.has_chat_template && chat_template == ChatTemplateChoice::Auto {
            let _ = writeln!(
                out,
                "note: the model has no chat template: /v1/chat/completions sends the messages as plain text; a base model answers few-shot completion prompts best (/v1/completions, /v1/variants/…/completions)"
            );
        }
        match &db {
            Some(db) => {
                let _ = writeln!(
                    out,
                    "every request is logged in {} (`tradeoff traffic`); metrics at /metrics",
                    db.display()
                );
            }
            None => {
                let _ = writeln!(out, "no traffic log (--no-log); metrics at /metrics");
            }
        }
        let _ = writeln!(out, "Ctrl-C stops it (requests in flight finish first)");
        let _ = out.flush();
    })
    .map_err(|e| match e {
        ServeError::Unprotected { .. } | ServeError::MissingKey { .. } => Exit::bad_input(e),
        other => Exit::failure(other),
    })?;
    Ok(ExitCode::SUCCESS)
}
