//! A target's JSON form: one flat object, as winner files (export schema 2) hold it and as
//! databases recorded before migration 011 stored it. A remote target there carries empty sweep
//! lists, an empty model path and `chat_template: "none"`; in memory it is a
//! [`TargetKind::Remote`] with none of them. The older shapes (a single `threads` number, no
//! KV type) are read here and nowhere else.

use serde::{Deserialize, Serialize};

use super::{ChatTemplateChoice, LocalTarget, ModelRef, Sampling, Target, TargetKind};
use crate::spec::cost::Price;
use crate::spec::one_or_many::vec_from_one_or_many;
use crate::spec::target::KvType;
use crate::spec::target::remote::RemoteTarget;

#[derive(Serialize, Deserialize)]
pub(crate) struct TargetJson {
    id: String,
    model: ModelRef,
    n_ctx: Vec<u32>,
    #[serde(deserialize_with = "vec_from_one_or_many")]
    threads: Vec<u32>,
    #[serde(deserialize_with = "vec_from_one_or_many")]
    batch: Vec<u32>,
    #[serde(default = "default_kv_type")]
    kv_type: Vec<KvType>,
    #[serde(default = "default_zero")]
    n_gpu_layers: Vec<u32>,
    #[serde(default = "default_one")]
    parallel: Vec<u32>,
    #[serde(default = "default_false")]
    prefix_cache: Vec<bool>,
    chat_template: ChatTemplateChoice,
    sampling: Sampling,
    #[serde(default)]
    price: Option<Price>,
    #[serde(default)]
    remote: Option<RemoteTarget>,
    #[serde(default)]
    price_source: Option<String>,
    #[serde(default)]
    model_sha256: Option<String>,
}

fn default_kv_type() -> Vec<KvType> {
    vec![KvType::F16]
}

fn default_zero() -> Vec<u32> {
    vec![0]
}

fn default_one() -> Vec<u32> {
    vec![1]
}

fn default_false() -> Vec<bool> {
    vec![false]
}

impl From<Target> for TargetJson {
    fn from(target: Target) -> Self {
        let Target {
            id,
            kind,
            sampling,
            price,
            price_source,
        } = target;
        match kind {
            TargetKind::Local(local) => TargetJson {
                id,
                model: local.model,
                n_ctx: local.n_ctx,
                threads: local.threads,
                batch: local.batch,
                kv_type: local.kv_type,
                n_gpu_layers: local.n_gpu_layers,
                parallel: local.parallel,
                prefix_cache: local.prefix_cache,
                chat_template: local.chat_template,
                sampling,
                price,
                remote: None,
                price_source,
                model_sha256: local.model_sha256,
            },
            TargetKind::Remote(remote) => TargetJson {
                id,
                model: ModelRef {
                    spec: remote.model.clone(),
                    path: std::path::PathBuf::new(),
                },
                n_ctx: Vec::new(),
                threads: Vec::new(),
                batch: Vec::new(),
                kv_type: Vec::new(),
                n_gpu_layers: Vec::new(),
                parallel: Vec::new(),
                prefix_cache: Vec::new(),
                chat_template: ChatTemplateChoice::None,
                sampling,
                price,
                remote: Some(remote),
                price_source,
                model_sha256: None,
            },
        }
    }
}

impl From<TargetJson> for Target {
    fn from(json: TargetJson) -> Self {
        let kind = match json.remote {
            Some(remote) => TargetKind::Remote(remote),
            None => TargetKind::Local(LocalTarget {
                model: json.model,
                n_ctx: json.n_ctx,
                threads: json.threads,
                batch: json.batch,
                kv_type: json.kv_type,
                n_gpu_layers: json.n_gpu_layers,
                parallel: json.parallel,
                prefix_cache: json.prefix_cache,
                chat_template: json.chat_template,
                model_sha256: json.model_sha256,
            }),
        };
        Target {
            id: json.id,
            kind,
            sampling: json.sampling,
            price: json.price,
            price_source: json.price_source,
        }
    }
}
