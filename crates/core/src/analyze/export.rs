//! Exporting one config with its measured evidence as a JSON file a deployment can consume.

use serde::{Deserialize, Serialize};

use crate::analyze::report::{ConfigSummary, Report};
use crate::execute::environment::Machine;
use crate::spec::experiment::{Experiment, Target, TargetKind, Variant};
use crate::spec::target::LocalSettings;

/// 2: `n_ctx` became `settings` (n_ctx, threads, batch, kv_type, n_gpu_layers).
pub const EXPORT_SCHEMA: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigExport {
    pub schema: u32,
    pub experiment_id: i64,
    pub experiment: String,
    pub variant: Variant,
    /// The target with every setting narrowed to this config's single values.
    pub target: Target,
    /// This config's point of the target's sweep (`None` for a remote target).
    pub settings: Option<LocalSettings>,
    /// What was measured for this config (runs, errors, latency percentiles, tokens).
    pub summary: ConfigSummary,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub model_sha256: Option<String>,
    pub llama_build: Option<String>,
    pub machine: Machine,
    pub measured_at: String,
    pub exported_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("experiment {experiment_id} has no config number {index}")]
    NoSuchConfig { experiment_id: i64, index: usize },
    #[error("experiment {experiment_id} has no policy number {index}")]
    NoSuchPolicy { experiment_id: i64, index: usize },
    #[error("policy `{policy}` calls {config}, which has no summary in the report")]
    PolicyConfigMissing { policy: String, config: String },
    #[error("config {index} names {what} `{id}`, which the experiment does not define")]
    Inconsistent {
        index: usize,
        what: &'static str,
        id: String,
    },
}

/// The config at `index` (report order) of a recorded experiment.
pub fn export_config(
    experiment: &Experiment,
    report: &Report,
    index: usize,
) -> Result<ConfigExport, ExportError> {
    let summary = report.configs.get(index).ok_or(ExportError::NoSuchConfig {
        experiment_id: report.experiment_id,
        index,
    })?;
    let variant = experiment
        .variants
        .iter()
        .find(|v| v.id == summary.variant)
        .ok_or_else(|| ExportError::Inconsistent {
            index,
            what: "variant",
            id: summary.variant.clone(),
        })?;
    let target = experiment
        .targets
        .iter()
        .find(|t| t.id == summary.target)
        .ok_or_else(|| ExportError::Inconsistent {
            index,
            what: "target",
            id: summary.target.clone(),
        })?;
    let mut target = target.clone();
    let settings = summary.settings;
    if let (Some(settings), TargetKind::Local(local)) = (settings, &mut target.kind) {
        local.n_ctx = vec![settings.n_ctx];
        local.threads = vec![settings.threads];
        local.batch = vec![settings.batch];
        local.kv_type = vec![settings.kv_type];
        local.n_gpu_layers = vec![settings.n_gpu_layers];
        local.parallel = vec![settings.parallel];
        local.prefix_cache = vec![settings.prefix_cache];
    }
    let model_sha256 = report
        .targets
        .iter()
        .find(|t| t.id == summary.target)
        .and_then(|t| t.model_sha256.clone());
    Ok(ConfigExport {
        schema: EXPORT_SCHEMA,
        experiment_id: report.experiment_id,
        experiment: report.name.clone(),
        variant: variant.clone(),
        target,
        settings,
        summary: summary.clone(),
        provenance: Provenance {
            model_sha256,
            llama_build: report.environment.llama_build.clone(),
            machine: report.environment.machine.clone(),
            measured_at: report.created_at.clone(),
            exported_at: crate::format::now_rfc3339(),
        },
    })
}
