//! `tradeoff keys status|set|remove VARIABLE`: API keys in the OS keyring, under the variable
//! names targets give in `api_key_env`. A key is read from standard input, never from the
//! command line (where shell history and `ps` would keep it), and never printed.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use tradeoff_core::spec::target::is_variable_name;
use tradeoff_remote::secrets::{ApiKey, KeySource, Keyring, OsKeyring, find_key};

use crate::exit::Exit;

pub fn status(variables: &[String]) -> Result<ExitCode, Exit> {
    for variable in variables {
        check(variable)?;
        let state = match find_key(variable, &OsKeyring) {
            Ok(Some((_, KeySource::Environment))) => "set in the environment".to_string(),
            Ok(Some((_, KeySource::Keyring))) => "stored in the OS keyring".to_string(),
            Ok(None) => "not set".to_string(),
            Err(error) => error.message,
        };
        println!("{variable}: {state}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn set(variable: &str) -> Result<ExitCode, Exit> {
    check(variable)?;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("paste the key for {variable} and press Enter:");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Exit::failure(format!("cannot read the key from standard input: {e}")))?;
    let key = ApiKey::new(line);
    if key.expose().is_empty() {
        return Err(Exit::bad_input("no key on standard input"));
    }
    OsKeyring.set(variable, key.expose()).map_err(|e| {
        Exit::failure(format!(
            "cannot store the key for {variable} in the OS keyring: {e}"
        ))
    })?;
    eprintln!("stored the key for {variable} in the OS keyring");
    Ok(ExitCode::SUCCESS)
}

pub fn remove(variable: &str) -> Result<ExitCode, Exit> {
    check(variable)?;
    OsKeyring
        .delete(variable)
        .map_err(|e| Exit::failure(format!("cannot remove the key for {variable}: {e}")))?;
    eprintln!("removed the key for {variable} from the OS keyring");
    Ok(ExitCode::SUCCESS)
}

fn check(variable: &str) -> Result<(), Exit> {
    if is_variable_name(variable) {
        Ok(())
    } else {
        Err(Exit::bad_input(format!(
            "`{variable}` is not a variable name (letters, digits and _); give the name, never the key"
        )))
    }
}
