//! The configuration file (`madoguchi.toml`): retrieval weights and answer thresholds, read by
//! `search`, `eval` and the server, written by `eval --calibrate`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisOptions;
use crate::answer::DecisionConfig;
use crate::retrieve::SearchConfig;

/// Default path of the configuration file.
pub const DEFAULT_PATH: &str = "madoguchi.toml";

/// Everything in the configuration file; every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Retrieval weights.
    pub search: SearchConfig,
    /// Answer policy thresholds.
    pub decision: DecisionConfig,
    /// Analyzer pipeline switches.
    pub analysis: AnalysisOptions,
    /// The HTTP service.
    pub server: crate::server::ServerConfig,
    /// The optional LLM endpoint.
    pub llm: crate::llm::LlmConfig,
}

/// Errors reading or writing the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong (with line and column).
        message: String,
    },
}

impl Config {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| Error::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Writes `path` (whole file), with a header saying where the values came from.
    pub fn save(&self, path: &Path, header: &str) -> Result<(), Error> {
        let body = toml::to_string_pretty(self).expect("config serializes");
        let text: String = header
            .lines()
            .map(|l| format!("# {l}\n"))
            .collect::<String>()
            + "\n"
            + &body;
        std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        let mut c = Config::default();
        c.decision.answer_coverage = 0.75;
        c.save(&path, "calibrated on tests/eval").unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        std::fs::write(&path, "[decision]\nanswer_coverag = 1\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("answer_coverag"), "{err}");
    }
}
