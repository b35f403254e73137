//! One search engine, built in one place.
//!
//! Every caller — `serve` at start and on each reload, the CLI commands, `eval` and the
//! benchmarks — describes what it wants as a [`Setup`] (the data locations and the configuration
//! file, read once) and gets an [`Engine`] from [`Engine::open`]: the analyzer with the FAQ's
//! user dictionary and the configured switches, the synonym dictionaries, the index (opened,
//! built when missing or stale, rebuilt, or built in memory) and the retriever over it. So
//! `madoguchi analyze` shows the terms the server searches with, and `eval` measures the engine
//! that serves residents.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::analysis::{Analyzer, DictSource};
use crate::config::Config;
use crate::faq::{Contact, Corpus};
use crate::index;
use crate::retrieve::{Retriever, SearchConfig};
use crate::synonyms::Synonyms;

/// Where the data lives: the FAQ files, the index, the dictionary and the configuration file.
#[derive(Debug, Clone)]
pub struct Locations {
    /// Directory of FAQ files (with `synonyms.csv` and `userdict.csv`).
    pub faq: PathBuf,
    /// Directory of the generated index.
    pub index: PathBuf,
    /// The IPADIC dictionary.
    pub dict: DictSource,
    /// National synonym dictionary replacing the FAQ directory's `synonyms.csv`.
    pub synonyms: Option<PathBuf>,
    /// The configuration file (`madoguchi.toml`).
    pub config: PathBuf,
    /// The sentence model of the semantic leg (`scripts/setup-e5.sh`), used when
    /// `[search] semantic_weight` is above 0. Its vector cache lives beside it in `vectors/`.
    pub model: PathBuf,
    /// An OpenAI-compatible embeddings endpoint used instead of the bundled model
    /// (`[embedding] url`; [`Setup::load`] fills it from the configuration file).
    pub embedding: Option<crate::semantic::EmbeddingConfig>,
}

impl Locations {
    /// The synonym dictionaries for `analyzer`: the FAQ directory's national and municipal
    /// `synonyms.csv`, the national one replaced by [`Locations::synonyms`] when set.
    pub fn load_synonyms(&self, analyzer: &Analyzer) -> Result<Synonyms> {
        Ok(Synonyms::load(
            &self.faq,
            self.synonyms.as_deref(),
            analyzer,
        )?)
    }
}

/// What every command reads before it does anything: the locations and the configuration file,
/// read once.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Where the data lives.
    pub locations: Locations,
    /// The configuration file's contents (the defaults when it is missing).
    pub config: Config,
}

impl Setup {
    /// Reads the configuration file (a missing file gives the defaults; an invalid one is an
    /// error naming the file and every problem).
    pub fn load(locations: Locations) -> Result<Setup> {
        let config = Config::load(&locations.config)?;
        let mut locations = locations;
        locations.embedding = config
            .embedding
            .url
            .is_some()
            .then(|| config.embedding.clone());
        Ok(Setup { locations, config })
    }

    /// The system dictionary with the configured `[analysis]` switches, without the FAQ
    /// directory's user dictionary (each [`Engine::open`] adds it, so that a reload picks up a
    /// changed `userdict.csv`). Loading the dictionary is the slow part: the server does it once.
    pub fn system_analyzer(&self) -> Result<Analyzer> {
        system_analyzer(&self.locations.dict, &self.config)
    }

    /// The analyzer exactly as the engine searches with it: the system dictionary, the
    /// configured switches and the FAQ directory's user dictionary.
    pub fn analyzer(&self) -> Result<Analyzer> {
        Ok(self
            .system_analyzer()?
            .with_faq_user_dictionary(&self.locations.faq)?)
    }

    /// Loads the system analyzer and opens the engine: for one-shot commands.
    pub fn engine(&self, build: Build) -> Result<Engine> {
        Engine::open(
            &self.locations,
            &self.config.search,
            &self.system_analyzer()?,
            build,
        )
    }
}

/// The system dictionary with `config`'s `[analysis]` switches.
pub fn system_analyzer(dict: &DictSource, config: &Config) -> Result<Analyzer> {
    Ok(Analyzer::load(dict)
        .context("loading the Japanese analyzer")?
        .with_options(config.analysis))
}

/// How [`Engine::open`] gets its index.
pub enum Build {
    /// Open the index on disk, building it first when it is missing or stale.
    Ensure,
    /// Build a new generation from the FAQ files whatever is on disk (a reload: invalid files
    /// are an error and the previous generation stays current).
    Rebuild,
    /// Build in memory from this corpus, touching nothing on disk (`eval --corpus`, tests).
    InMemory(Corpus),
}

/// One loaded index generation and what a conversation turn needs with it.
pub struct Engine {
    /// The searcher.
    pub retriever: Retriever,
    /// Whether the semantic leg runs, and why not.
    pub semantic: crate::semantic::Status,
}

impl Engine {
    /// Builds the engine over `at` with the `search` weights on `system` (from
    /// [`Setup::system_analyzer`]): the FAQ's user dictionary, the synonyms, the index as
    /// `build` says and the retriever. Blocking: it may build an index.
    pub fn open(
        at: &Locations,
        search: &SearchConfig,
        system: &Analyzer,
        build: Build,
    ) -> Result<Engine> {
        Engine::open_deferring(at, search, system, build, None)
    }

    /// [`Engine::open`], but when more than `defer_above` entry texts have no cached vector the
    /// engine comes back lexical only, with [`crate::semantic::Status::Embedding`], instead of
    /// embedding them first: the server starts answering at once and builds the full engine
    /// in the background.
    pub fn open_deferring(
        at: &Locations,
        search: &SearchConfig,
        system: &Analyzer,
        build: Build,
        defer_above: Option<usize>,
    ) -> Result<Engine> {
        let analyzer = system.with_faq_user_dictionary(&at.faq)?;
        let synonyms = at.load_synonyms(&analyzer)?;
        let (idx, manifest) = match build {
            Build::Ensure => index::ensure(&at.faq, &at.index, &analyzer)?,
            Build::Rebuild => {
                index::build(&at.faq, &at.index, &analyzer)?;
                index::open(&at.index, &analyzer)?
            }
            Build::InMemory(corpus) => index::build_in_ram(&corpus, &analyzer)?,
        };
        let retriever =
            Retriever::new(idx, manifest, analyzer, search.clone())?.with_synonyms(synonyms);
        let (retriever, status) = with_semantic(retriever, at, search, defer_above);
        let mut engine = Engine::from_retriever(retriever);
        engine.semantic = status;
        Ok(engine)
    }

    /// Wraps a retriever built elsewhere (tests, benchmarks over synthetic corpora).
    pub fn from_retriever(retriever: Retriever) -> Engine {
        Engine {
            retriever,
            semantic: crate::semantic::Status::Off,
        }
    }

    /// The office to name in a fallback: the one the municipality's declaration gives
    /// (`municipality.yaml`), or `default_office` (`[server] fallback_office`).
    pub fn fallback_contact(&self, municipality: Option<&str>, default_office: &str) -> Contact {
        municipality
            .and_then(|m| self.retriever.municipalities().get(m))
            .map(|m| m.fallback.clone())
            .filter(|c| c.office.is_some())
            .unwrap_or_else(|| Contact {
                office: Some(default_office.to_owned()),
                phone: None,
                url: None,
            })
    }
}

/// Adds the semantic leg when its weight is above 0 and the model loads; otherwise lexical only,
/// with the reason logged and returned.
fn with_semantic(
    retriever: Retriever,
    at: &Locations,
    search: &SearchConfig,
    defer_above: Option<usize>,
) -> (Retriever, crate::semantic::Status) {
    use crate::semantic::{Encoder, Status, VectorCache};
    if search.semantic_weight <= 0.0 {
        return (retriever, Status::Off);
    }
    let unavailable = |retriever, reason: String| {
        tracing::warn!(%reason, "semantic leg unavailable: searching lexical only");
        (retriever, Status::Unavailable { reason })
    };
    let loaded = match &at.embedding {
        Some(remote) => Encoder::remote(remote).map(std::sync::Arc::new),
        None => Encoder::shared(&at.model)
            .map_err(|e| format!("{}: {e} (run scripts/setup-e5.sh)", at.model.display())),
    };
    let encoder = match loaded {
        Ok(e) => e,
        Err(reason) => return unavailable(retriever, reason),
    };
    // Beside the bundled model; an endpoint's vectors beside the index.
    let dir = match &at.embedding {
        Some(_) => Some(at.index.join("vectors")),
        None => at.model.parent().map(|d| d.join("vectors")),
    };
    let mut cache = VectorCache::open(dir.as_deref(), &encoder.cache_id(), encoder.dim());
    if let Some(limit) = defer_above {
        let texts = retriever.texts_to_embed();
        let missing = cache.missing(&texts);
        if missing > limit {
            tracing::info!(
                missing,
                "entry texts not embedded yet: lexical only until they are"
            );
            return (retriever, Status::Embedding { missing });
        }
    }
    let started = std::time::Instant::now();
    let cached = cache.len();
    let mut retriever = retriever;
    if let Err(e) = retriever.set_semantic(encoder.clone(), &mut cache) {
        let _ = cache.save();
        return unavailable(retriever, format!("{}: {e}", encoder.describe()));
    }
    if let Err(e) = cache.save() {
        tracing::warn!(error = %e, "the vector cache could not be written; texts will be embedded again");
    }
    let texts = retriever.embedded_texts();
    tracing::info!(
        texts,
        embedded = cache.len().saturating_sub(cached),
        ms = started.elapsed().as_millis() as u64,
        model = %encoder.describe(),
        "semantic leg on"
    );
    (
        retriever,
        Status::On {
            model: encoder.describe(),
            texts,
        },
    )
}
