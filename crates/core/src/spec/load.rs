//! Reading experiment files: syntax and schema errors with file, line, column and field path.

use std::path::Path;

mod limits;
#[cfg(test)]
mod policy_tests;
mod validate;
#[cfg(test)]
mod validation_tests;

use crate::spec::experiment::{Experiment, ExperimentError, Problem, Written};
use crate::spec::file::ExperimentFile;
use crate::spec::surroundings::Surroundings;

pub use limits::{DEFAULT_MAX_CONFIGS, DEFAULT_MAX_RUNS, PlanLimits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Yaml,
}

impl FileFormat {
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(FileFormat::Json),
            "yaml" | "yml" => Some(FileFormat::Yaml),
            _ => None,
        }
    }
}

/// The largest experiment file read: cases with their inputs written out run to hundreds of
/// kilobytes; past this, a path is more likely `/dev/zero`'s kind than an experiment.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// Loads and validates an experiment file. Relative model paths resolve against its folder.
/// The plan may be as large as [`PlanLimits::default`].
pub fn load_file(path: &Path) -> Result<Experiment, ExperimentError> {
    load_file_with(path, &PlanLimits::default())
}

/// [`load_file`] with the caller's plan limits (`tradeoff run/plan --max-runs`).
pub fn load_file_with(path: &Path, limits: &PlanLimits) -> Result<Experiment, ExperimentError> {
    let file = read_spec(path)?;
    validate_as(file, path, limits)
}

/// Reads an experiment file as written, for editing: syntax and schema are checked, values not.
pub fn read_spec(path: &Path) -> Result<ExperimentFile, ExperimentError> {
    read_file(path, MAX_FILE_BYTES, "an experiment file")
}

/// Reads and parses one of Tradeoff's files (JSON or YAML by its extension) within `limit`
/// bytes, errors naming the file, line and field.
fn read_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<T, ExperimentError> {
    let shown = path.display().to_string();
    let format = format_of(path)?;
    let text = crate::files::read_text(path, limit, what).map_err(|source| ExperimentError::Read {
        path: shown.clone(),
        source,
    })?;
    parse_text(&text, format, &shown)
}

/// Writes `value` as YAML or JSON by the path's extension, creating its folder.
fn write_file<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ExperimentError> {
    let write_error = |message: String| ExperimentError::Write {
        path: path.display().to_string(),
        message,
    };
    let text = match format_of(path)? {
        FileFormat::Json => serde_json::to_string_pretty(value)
            .map(|t| t + "\n")
            .map_err(|e| e.to_string()),
        FileFormat::Yaml => serde_yaml_ng::to_string(value).map_err(|e| e.to_string()),
    }
    .map_err(write_error)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| write_error(e.to_string()))?;
    }
    std::fs::write(path, text).map_err(|e| write_error(e.to_string()))
}

/// Validates `file` as if it were at `path` and, only if it is valid, writes it there as YAML
/// or JSON (by the file's extension). Comments of a file read earlier are not kept.
pub fn write_spec(path: &Path, file: &ExperimentFile) -> Result<Experiment, ExperimentError> {
    write_spec_with(path, file, &PlanLimits::default())
}

/// [`write_spec`] with the caller's plan limits.
pub fn write_spec_with(
    path: &Path,
    file: &ExperimentFile,
    limits: &PlanLimits,
) -> Result<Experiment, ExperimentError> {
    format_of(path)?;
    let experiment = validate_as(file.clone(), path, limits)?;
    write_file(path, file)?;
    Ok(experiment)
}

/// Validates `file` as if it were at `path` (relative model paths from its folder), without
/// writing it: the editor's plan view of a draft.
pub fn validate_spec(path: &Path, file: &ExperimentFile) -> Result<Experiment, ExperimentError> {
    validate_spec_with(path, file, &PlanLimits::default())
}

/// [`validate_spec`] with the caller's plan limits.
pub fn validate_spec_with(
    path: &Path,
    file: &ExperimentFile,
    limits: &PlanLimits,
) -> Result<Experiment, ExperimentError> {
    validate_as(file.clone(), path, limits)
}

fn format_of(path: &Path) -> Result<FileFormat, ExperimentError> {
    FileFormat::from_path(path).ok_or_else(|| ExperimentError::UnknownFormat {
        path: path.display().to_string(),
    })
}

fn validate_as(
    file: ExperimentFile,
    path: &Path,
    limits: &PlanLimits,
) -> Result<Experiment, ExperimentError> {
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let mut experiment = validate::validate(
        file,
        &path.display().to_string(),
        &Surroundings::here(base_dir),
        limits,
    )?;
    experiment.source = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    Ok(experiment)
}

/// Parses and validates experiment text. `origin` names it in errors; `base_dir` anchors
/// relative model paths.
pub fn parse_str(
    text: &str,
    format: FileFormat,
    origin: &str,
    base_dir: &Path,
) -> Result<Experiment, ExperimentError> {
    parse_str_with(text, format, origin, base_dir, &PlanLimits::default())
}

/// [`parse_str`] with the caller's plan limits.
pub fn parse_str_with(
    text: &str,
    format: FileFormat,
    origin: &str,
    base_dir: &Path,
    limits: &PlanLimits,
) -> Result<Experiment, ExperimentError> {
    let file = match format {
        FileFormat::Json => parse_json(text, origin)?,
        FileFormat::Yaml => parse_yaml(text, origin)?,
    };
    validate::validate(file, origin, &Surroundings::here(base_dir), limits)
}

/// A policy file holds a list of short policies.
const MAX_POLICY_FILE_BYTES: u64 = 1 << 20;

/// Reads a policy file (`policies:` as an experiment file writes them, YAML or JSON) and
/// validates it against a recorded experiment.
pub fn read_policy_file(
    path: &Path,
    experiment: &Experiment,
) -> Result<Vec<crate::spec::policy::Policy>, ExperimentError> {
    let file: crate::spec::file::policies::PolicyFile =
        read_file(path, MAX_POLICY_FILE_BYTES, "a policy file")?;
    let plan = crate::spec::matrix::Plan::new(experiment);
    crate::spec::policy::validate_policies(&file.policies, experiment, &plan, &path.display().to_string())
}

/// Writes policies as a policy file (YAML or JSON by the extension) that [`read_policy_file`]
/// reads back. The caller has validated them against their experiment.
pub fn write_policy_file(
    path: &Path,
    file: &crate::spec::file::policies::PolicyFile,
) -> Result<(), ExperimentError> {
    write_file(path, file)
}

/// Validates a recorded experiment's file again in the surroundings it was validated in, within
/// no plan limit (it was within the caller's when it ran).
pub fn validate_written(written: &Written) -> Result<Experiment, ExperimentError> {
    validate::validate(
        written.file.clone(),
        &written.origin,
        &written.surroundings.recorded(),
        &PlanLimits::unbounded(),
    )
}

/// Parses a file of any of Tradeoff's shapes (an experiment, a policy file) with the same
/// file:line:column and field path in its errors.
fn parse_text<T: serde::de::DeserializeOwned>(
    text: &str,
    format: FileFormat,
    origin: &str,
) -> Result<T, ExperimentError> {
    match format {
        FileFormat::Json => parse_json(text, origin),
        FileFormat::Yaml => parse_yaml(text, origin),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, ExperimentError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let file: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = field_path(error.path());
        let inner = error.into_inner();
        let message = strip_location_suffix(&inner.to_string());
        ExperimentError::Parse(Problem {
            file: origin.to_string(),
            line: Some(inner.line()),
            column: Some(inner.column()),
            field,
            message,
        })
    })?;
    deserializer.end().map_err(|inner| {
        ExperimentError::Parse(Problem {
            file: origin.to_string(),
            line: Some(inner.line()),
            column: Some(inner.column()),
            field: None,
            message: strip_location_suffix(&inner.to_string()),
        })
    })?;
    Ok(file)
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, ExperimentError> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = field_path(error.path());
        let inner = error.into_inner();
        let location = inner.location();
        let message = strip_location_suffix(&inner.to_string());
        ExperimentError::Parse(Problem {
            file: origin.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message: strip_path_prefix(&message, field.as_deref()),
            field,
        })
    })
}

/// `serde_path_to_error` prints `.` for the document root, which says nothing to a user.
fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    let shown = path.to_string();
    (shown != ".").then_some(shown)
}

/// serde_yaml prefixes messages with the path of the enclosing value (`targets[0]: unknown
/// field ...`); the full path is shown separately.
fn strip_path_prefix(message: &str, field: Option<&str>) -> String {
    if let (Some((prefix, rest)), Some(field)) = (message.split_once(": "), field)
        && field.starts_with(prefix)
    {
        return rest.to_string();
    }
    message.to_string()
}

/// serde_json and serde_yaml append " at line L column C" to their messages; the location is
/// shown separately, in front, so it is cut from the message.
fn strip_location_suffix(message: &str) -> String {
    if let Some(index) = message.rfind(" at line ") {
        let tail = &message[index + " at line ".len()..];
        let mut parts = tail.split(" column ");
        let is_location = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(l), Some(c), None) if l.chars().all(|ch| ch.is_ascii_digit())
                && c.chars().all(|ch| ch.is_ascii_digit())
        );
        if is_location {
            return message[..index].to_string();
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_experiment_path_that_is_a_fifo_a_link_to_dev_zero_or_over_8_mib_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::files::tests::hostile_files(dir.path(), "yaml", MAX_FILE_BYTES);
        let errors = crate::files::tests::within_seconds(10, move || {
            paths.map(|path| {
                let loaded = load_file(&path).map(|_| ()).unwrap_err().to_string();
                let read = read_spec(&path).map(|_| ()).unwrap_err().to_string();
                assert_eq!(loaded, read, "the editor reads as loading does");
                loaded
            })
        });
        for (error, says) in errors.iter().zip([
            "cannot read the experiment file: not a regular file but a FIFO (named pipe)",
            "cannot read the experiment file: not a regular file but a character device",
            "cannot read the experiment file: 8,388,609 bytes: it is over 8 MiB, the limit for an \
             experiment file",
        ]) {
            assert!(error.contains(says), "{error}");
        }
    }
}
