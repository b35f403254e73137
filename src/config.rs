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
    /// A value is out of its range (a negative weight, a threshold that is not a number).
    #[error("{path}: {}", problems.join("; "))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem, as `[section] key = value: what it must be`.
        problems: Vec<String>,
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
        let config: Config = toml::from_str(&text).map_err(|e| Error::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::Invalid {
                path: path.display().to_string(),
                problems,
            })
        }
    }

    /// The retrieval weights and answer thresholds that are out of range: every one must be a
    /// finite number of at least 0 (a negative weight would push entries down for containing
    /// the resident's words; `nan` would make every comparison false), and at least one
    /// candidate must be offered.
    pub fn problems(&self) -> Vec<String> {
        let s = &self.search;
        let d = &self.decision;
        let values = [
            ("search", "question", s.question),
            ("search", "alt_questions", s.alt_questions),
            ("search", "answer", s.answer),
            ("search", "category", s.category),
            ("search", "tags", s.tags),
            ("search", "reading_weight", s.reading_weight),
            ("search", "abbreviation_weight", s.abbreviation_weight),
            ("search", "coverage_exponent", s.coverage_exponent),
            ("search", "synonym_weight", s.synonym_weight),
            ("decision", "answer_coverage", d.answer_coverage),
            ("decision", "answer_margin", d.answer_margin),
            ("decision", "candidates_coverage", d.candidates_coverage),
            ("decision", "evidence_coverage", d.evidence_coverage),
            ("decision", "evidence_score", d.evidence_score),
            ("decision", "answer_unknown", d.answer_unknown),
        ];
        let mut problems: Vec<String> = values
            .iter()
            .filter(|(_, _, v)| !(v.is_finite() && *v >= 0.0))
            .map(|(section, key, v)| {
                format!("[{section}] {key} = {v}: must be a finite number of at least 0")
            })
            .collect();
        if d.max_candidates == 0 {
            problems.push("[decision] max_candidates = 0: must be at least 1".to_owned());
        }
        problems
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

    #[test]
    fn rejects_negative_weights_and_thresholds_that_are_not_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "[search]\nanswer = -1.0\nsynonym_weight = 0.0\n\n[decision]\nanswer_margin = nan\nmax_candidates = 0\n",
        )
        .unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("[search] answer = -1: must be"), "{err}");
        assert!(err.contains("[decision] answer_margin = NaN"), "{err}");
        assert!(err.contains("[decision] max_candidates = 0"), "{err}");
        // 0 turns a lever off and is allowed.
        assert!(!err.contains("synonym_weight"), "{err}");
    }
}
