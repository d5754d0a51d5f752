//! What validation reads from where it runs rather than from the file: where relative model
//! paths start, which file `model: default` names, how many threads a target that names none
//! gets, and how many a target may ask for. Recorded with each experiment, so that validating
//! the same file again later, on any machine, gives the same experiment.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surroundings {
    /// Relative model paths resolve against it: the experiment file's folder.
    pub base_dir: PathBuf,
    /// The file `model: default` names.
    pub default_model: PathBuf,
    /// The threads of a local target that names none: the logical cores of the machine.
    pub default_threads: u32,
    /// The most threads a target may ask for (`spec::target::max_threads`); `None` for an
    /// experiment read back from the store, which was checked where it ran.
    pub max_threads: Option<u32>,
}

impl Surroundings {
    /// This machine, for a file in `base_dir`.
    pub fn here(base_dir: &Path) -> Surroundings {
        Surroundings {
            base_dir: base_dir.to_path_buf(),
            default_model: crate::paths::default_model(),
            default_threads: std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            max_threads: Some(crate::spec::target::max_threads()),
        }
    }

    /// The surroundings an experiment was validated in, to validate it again as it was.
    pub fn recorded(&self) -> Surroundings {
        Surroundings {
            max_threads: None,
            ..self.clone()
        }
    }
}
