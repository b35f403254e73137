//! The tantivy index: schema, building it atomically on disk, opening it, and knowing when it is
//! stale.
//!
//! On disk, `index/` holds generations `gen-*` and a symlink `current` to the one in use. A build
//! writes a new generation beside the old one and then renames a fresh symlink over `current`,
//! so a failed or interrupted build leaves the old index serving. Each generation carries a
//! `madoguchi-manifest.json` with the FAQ fingerprint and analyzer version it was built from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexWriter, TantivyDocument, doc};

use crate::analysis::{self, ANALYZER_VERSION, AnalysisOptions, Analyzer};
use crate::faq::{self, Corpus};

/// Bumped whenever the schema or the way documents are written changes.
pub const SCHEMA_VERSION: u32 = 5;
const MANIFEST: &str = "madoguchi-manifest.json";
const CURRENT: &str = "current";

/// Errors from building or opening the index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// tantivy failed.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A file operation on the index directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// There is no index yet.
    #[error("no index in {0}: run `madoguchi index`")]
    Missing(PathBuf),
    /// The manifest is unreadable.
    #[error("bad index manifest {path}: {message}")]
    Manifest {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The FAQ files are invalid.
    #[error(transparent)]
    Faq(#[from] faq::Error),
    /// Files of the generation fail tantivy's checksums (damaged on disk).
    #[error("damaged index {path}: {files} fail their checksums")]
    Corrupt {
        /// The generation.
        path: PathBuf,
        /// The files, comma-separated.
        files: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The fields of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// FAQ id (raw).
    pub id: Field,
    /// `national` or a municipality code (raw).
    pub scope: Field,
    /// Municipalities that override or hide this national entry (raw, multi-valued).
    pub hidden_in: Field,
    /// The question, word-analysed.
    pub question: Field,
    /// Other phrasings, word-analysed.
    pub alt_questions: Field,
    /// The answer, word-analysed.
    pub answer: Field,
    /// The category path, word-analysed.
    pub category: Field,
    /// Tags, word-analysed.
    pub tags: Field,
    /// The whole entry as JSON (stored only).
    pub entry: Field,
}

/// Builds the schema.
pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        scope: b.add_text_field("scope", STRING),
        hidden_in: b.add_text_field("hidden_in", STRING | STORED),
        question: b.add_text_field("question", text(analysis::TOKENIZER)),
        alt_questions: b.add_text_field("alt_questions", text(analysis::TOKENIZER)),
        answer: b.add_text_field("answer", text(analysis::TOKENIZER)),
        category: b.add_text_field("category", text(analysis::TOKENIZER)),
        tags: b.add_text_field("tags", text(analysis::TOKENIZER)),
        entry: b.add_text_field("entry", STORED),
    };
    (b.build(), fields)
}

/// The fields of `schema`, found by name: an index built by an earlier schema version (with a
/// field this one no longer writes) is still read right while a rebuild is pending or failed.
pub fn fields(schema: &Schema) -> tantivy::Result<Fields> {
    let f = |name: &str| schema.get_field(name);
    Ok(Fields {
        id: f("id")?,
        scope: f("scope")?,
        hidden_in: f("hidden_in")?,
        question: f("question")?,
        alt_questions: f("alt_questions")?,
        answer: f("answer")?,
        category: f("category")?,
        tags: f("tags")?,
        entry: f("entry")?,
    })
}

/// What an index generation was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`] at build time.
    pub schema_version: u32,
    /// [`ANALYZER_VERSION`] at build time.
    pub analyzer_version: u32,
    /// The analyzer's pipeline switches at build time.
    #[serde(default)]
    pub analysis: AnalysisOptions,
    /// SHA-256 over the FAQ files (see [`faq_fingerprint`]).
    pub faq_fingerprint: String,
    /// Number of entries indexed (hidden markers excluded).
    pub entries: usize,
    /// The municipalities served (declared, or named by entries), by code.
    pub municipalities: BTreeMap<String, crate::faq::Municipality>,
    /// The widget's opening screen for everyone (`menu.yaml`).
    #[serde(default)]
    pub menu: crate::faq::Menu,
    /// Build time, RFC 3339.
    pub built_at: String,
}

/// SHA-256 over every file under the FAQ directory (relative path and bytes, in path order:
/// [`faq::snapshot::fingerprint`], the same as a FAQ version's in the database), so any edit,
/// addition, removal or rename makes the index stale.
pub fn faq_fingerprint(faq_dir: &Path) -> Result<String> {
    let files = faq::snapshot::read(faq_dir).map_err(io("read FAQ directory", faq_dir))?;
    Ok(faq::snapshot::fingerprint(&files))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes every visible entry of `corpus` into `index` and commits.
fn write_corpus(index: &Index, fields: &Fields, corpus: &Corpus) -> Result<usize> {
    // One thread keeps documents in insertion order within one segment: builds are reproducible.
    let mut writer: IndexWriter = index.writer_with_num_threads(1, 50_000_000)?;
    let overlaid = corpus.overlaid();
    let mut count = 0;
    for e in corpus.entries.iter().filter(|e| !e.hidden) {
        let entry_json = serde_json::to_string(e).expect("entries serialize");
        let mut d: TantivyDocument = doc!(
            fields.id => e.id.as_str(),
            fields.scope => e.scope.as_str(),
            fields.question => e.question.as_str(),
            fields.answer => e.answer.as_str(),
            fields.category => e.category.join(" "),
            fields.entry => entry_json,
        );
        for alt in &e.alt_questions {
            d.add_text(fields.alt_questions, alt);
        }
        for tag in &e.tags {
            d.add_text(fields.tags, tag);
        }
        if e.is_national() {
            for m in overlaid.get(e.id.as_str()).into_iter().flatten() {
                d.add_text(fields.hidden_in, m);
            }
        }
        writer.add_document(d)?;
        count += 1;
    }
    writer.commit()?;
    Ok(count)
}

/// Builds an index in memory (tests, `eval --corpus`).
pub fn build_in_ram(corpus: &Corpus, analyzer: &Analyzer) -> Result<(Index, Manifest)> {
    let (schema, fields) = schema();
    let index = Index::create_in_ram(schema);
    analysis::register(&index, analyzer);
    let entries = write_corpus(&index, &fields, corpus)?;
    Ok((
        index,
        manifest(corpus, entries, String::new(), analyzer.options()),
    ))
}

fn manifest(
    corpus: &Corpus,
    entries: usize,
    faq_fingerprint: String,
    analysis: AnalysisOptions,
) -> Manifest {
    Manifest {
        schema_version: SCHEMA_VERSION,
        analyzer_version: ANALYZER_VERSION,
        analysis,
        faq_fingerprint,
        entries,
        municipalities: corpus.municipalities.clone(),
        menu: corpus.menu.clone(),
        built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// Loads the FAQ directory and builds a new index generation under `index_dir`, then makes it
/// current. On any error the previous generation stays current.
pub fn build(faq_dir: &Path, index_dir: &Path, analyzer: &Analyzer) -> Result<Manifest> {
    let fingerprint = faq_fingerprint(faq_dir)?;
    let corpus = faq::load_dir(faq_dir)?;
    std::fs::create_dir_all(index_dir).map_err(io("create", index_dir))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let name = format!("gen-{stamp}-{}", std::process::id());
    let gen_dir = index_dir.join(&name);
    let result = (|| {
        std::fs::create_dir(&gen_dir).map_err(io("create", &gen_dir))?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(&gen_dir, schema)?;
        analysis::register(&index, analyzer);
        let entries = write_corpus(&index, &fields, &corpus)?;
        let m = manifest(&corpus, entries, fingerprint, analyzer.options());
        let manifest_path = gen_dir.join(MANIFEST);
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&m).expect("manifest"),
        )
        .map_err(io("write", &manifest_path))?;
        swap_current(index_dir, &name)?;
        Ok(m)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&gen_dir);
    } else {
        remove_old_generations(index_dir, &name);
    }
    result
}

/// The generation `index_dir/current` points at, if any.
pub fn current_generation(index_dir: &Path) -> Option<String> {
    std::fs::read_link(index_dir.join(CURRENT))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Points `index_dir/current` back at generation `name` (one [`current_generation`] gave), e.g.
/// when a build succeeded but is not to be served.
pub fn make_current(index_dir: &Path, name: &str) -> Result<()> {
    swap_current(index_dir, name)
}

/// Atomically points `index_dir/current` at generation `name` (rename of a new symlink).
fn swap_current(index_dir: &Path, name: &str) -> Result<()> {
    let tmp = index_dir.join(format!(".current-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    symlink(Path::new(name), &tmp).map_err(io("create symlink", &tmp))?;
    let current = index_dir.join(CURRENT);
    std::fs::rename(&tmp, &current).map_err(io("replace", &current))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

/// Keeps the current generation and the one before it (a process may still be serving from it;
/// on Unix its open files stay readable even after removal).
fn remove_old_generations(index_dir: &Path, keep: &str) {
    let Ok(items) = std::fs::read_dir(index_dir) else {
        return;
    };
    let mut gens: Vec<String> = items
        .filter_map(|i| i.ok())
        .map(|i| i.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-") && n != keep)
        .collect();
    gens.sort();
    gens.pop();
    for g in gens {
        let _ = std::fs::remove_dir_all(index_dir.join(g));
    }
}

/// Opens the current generation and registers the analyzers.
pub fn open(index_dir: &Path, analyzer: &Analyzer) -> Result<(Index, Manifest)> {
    let current = index_dir.join(CURRENT);
    if !current.exists() {
        return Err(Error::Missing(index_dir.to_owned()));
    }
    let manifest_path = current.join(MANIFEST);
    let bytes = std::fs::read(&manifest_path).map_err(io("read", &manifest_path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
        path: manifest_path.clone(),
        message: e.to_string(),
    })?;
    let index = Index::open(in_memory(&current)?)?;
    let damaged = index.validate_checksum()?;
    if !damaged.is_empty() {
        let mut files: Vec<String> = damaged.iter().map(|p| p.display().to_string()).collect();
        files.sort();
        return Err(Error::Corrupt {
            path: current,
            files: files.join(", "),
        });
    }
    analysis::register(&index, analyzer);
    Ok((index, manifest))
}

/// A copy in memory of the generation's files. The service reads only the copy: files changed,
/// overwritten or truncated on disk while it serves cannot make a search fail or (through a
/// memory map of a truncated file) kill the process. A generation is small (520 KiB for the
/// bundled 621 entries).
fn in_memory(generation: &Path) -> Result<tantivy::directory::RamDirectory> {
    use tantivy::Directory as _;
    let ram = tantivy::directory::RamDirectory::create();
    let items = std::fs::read_dir(generation).map_err(io("read", generation))?;
    for item in items {
        let item = item.map_err(io("read", generation))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        if !item
            .file_type()
            .map_err(io("read", &item.path()))?
            .is_file()
            || name.ends_with(".lock")
            || name == MANIFEST
        {
            continue;
        }
        let bytes = std::fs::read(item.path()).map_err(io("read", &item.path()))?;
        ram.atomic_write(Path::new(name.as_ref()), &bytes)
            .map_err(io("copy into memory", &item.path()))?;
    }
    Ok(ram)
}

/// Why an index must be rebuilt, or `None` when it is up to date with the FAQ directory.
pub fn staleness(
    faq_dir: &Path,
    index_dir: &Path,
    analysis: AnalysisOptions,
) -> Result<Option<&'static str>> {
    let manifest_path = index_dir.join(CURRENT).join(MANIFEST);
    let Ok(bytes) = std::fs::read(&manifest_path) else {
        return Ok(Some("no index yet"));
    };
    let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
        return Ok(Some("unreadable manifest"));
    };
    Ok(if m.schema_version != SCHEMA_VERSION {
        Some("schema changed")
    } else if m.analyzer_version != ANALYZER_VERSION || m.analysis != analysis {
        Some("analyzer changed")
    } else if m.faq_fingerprint != faq_fingerprint(faq_dir)? {
        Some("FAQ files changed")
    } else {
        None
    })
}

/// Opens the index, building it first when it is missing or stale. When a rebuild fails but an
/// older index exists, the older index is opened and the failure logged: residents keep being
/// served while the FAQ files are fixed.
pub fn ensure(faq_dir: &Path, index_dir: &Path, analyzer: &Analyzer) -> Result<(Index, Manifest)> {
    if let Some(reason) = staleness(faq_dir, index_dir, analyzer.options())? {
        tracing::info!(reason, faq = %faq_dir.display(), index = %index_dir.display(), "building index");
        if let Err(err) = build(faq_dir, index_dir, analyzer) {
            if !index_dir.join(CURRENT).exists() {
                return Err(err);
            }
            tracing::warn!("{err}");
            tracing::warn!("the FAQ files could not be indexed; keeping the previous index");
        }
    }
    match open(index_dir, analyzer) {
        // A damaged generation is rebuilt from the FAQ files rather than stopping the service.
        Err(err @ (Error::Corrupt { .. } | Error::Tantivy(_) | Error::Manifest { .. })) => {
            tracing::warn!(error = %err, "the index is damaged; rebuilding it from the FAQ files");
            build(faq_dir, index_dir, analyzer)?;
            open(index_dir, analyzer)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_name_in_an_older_schema() {
        // Schema version 2 had a character-bigram field between the tags and the entry.
        let mut b = Schema::builder();
        for name in [
            "id",
            "scope",
            "hidden_in",
            "question",
            "alt_questions",
            "answer",
            "category",
            "tags",
            "question_bigram",
        ] {
            b.add_text_field(name, STRING);
        }
        let entry = b.add_text_field("entry", STORED);
        let old = b.build();
        assert_eq!(fields(&old).unwrap().entry, entry);
        assert_ne!(schema().1.entry, entry);
        let (current, f) = schema();
        assert_eq!(fields(&current).unwrap().entry, f.entry);
        assert!(fields(&Schema::builder().build()).is_err());
    }
}
