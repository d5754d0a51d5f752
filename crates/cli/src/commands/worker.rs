//! `tradeoff worker`: the process that owns llama.cpp for a parent `tradeoff` (see
//! `tradeoff_worker`). Not meant to be run by hand; it speaks JSON lines on stdio.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::process::ExitCode;

use crate::exit::Exit;

pub fn worker() -> Result<ExitCode, Exit> {
    #[cfg(target_os = "linux")]
    {
        // A worker outliving its parent would hold a model in memory for nobody.
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    }
    // The protocol gets a private copy of stdout, and fd 1 then points at stderr: whatever
    // llama.cpp or ggml print can never corrupt the protocol stream.
    let protocol = nix::unistd::dup(std::io::stdout())
        .map_err(|e| Exit::failure(format!("worker: cannot duplicate stdout: {e}")))?;
    nix::unistd::dup2_stdout(std::io::stderr())
        .map_err(|e| Exit::failure(format!("worker: cannot redirect stdout: {e}")))?;
    tradeoff_llama::worker::serve(
        BufReader::new(std::io::stdin()),
        BufWriter::new(File::from(protocol)),
    )
    .map_err(|e| Exit::failure(format!("worker: parent went away: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
