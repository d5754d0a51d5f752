//! What the user asks for: experiment files (`file`), their loading and validation (`load`) into
//! the domain types (`experiment`, `target`), prompt templates, checks, objectives, prices, and
//! the plan of configs (`matrix`), and `resolve`, which adds the facts a file does not state
//! (table prices, model hashes), `search` (how the configs are searched), and `recorded`, the form the store keeps: the file as written
//! with those facts and the `surroundings` validation read. Imports nothing from `models`, `execute` or `analyze`.

pub mod budget;
pub mod checks;
pub mod cost;
pub mod experiment;
pub mod file;
pub mod load;
pub mod matrix;
pub mod objective;
pub mod one_or_many;
pub mod policy;
pub mod pricing;
pub mod prompt;
pub mod recorded;
pub mod resolve;
pub mod search;
pub mod slo;
pub mod surroundings;
pub mod target;
pub mod template;
