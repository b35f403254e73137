//! Retrieval: turns a resident's question into a boolean OR of analysed terms over the boosted
//! fields, restricted to what one municipality sees, and returns ranked hits.
//!
//! tantivy's `QueryParser` would turn space-less Japanese into phrase queries that match almost
//! nothing, so queries are built from [`crate::analysis`] terms directly. Hits with equal scores are
//! ordered by FAQ id (then scope), so results are deterministic across builds and machines.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{Index, IndexReader, ReloadPolicy, Score, TantivyDocument, Term};

use crate::analysis::{self, Analyzer};
use crate::faq::{Entry, NATIONAL};
use crate::index::{self, Fields, Manifest};
use crate::synonyms::{Expansion, Synonyms};

/// Field weights and other retrieval settings; the one place they live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Weight of a term matched in the question.
    pub question: f32,
    /// Weight of a term matched in another phrasing.
    pub alt_questions: f32,
    /// Weight of a term matched in the answer.
    pub answer: f32,
    /// Weight of a term matched in the category path.
    pub category: f32,
    /// Weight of a term matched in the tags.
    pub tags: f32,
    /// Weight of a word read into the question from its reading (see
    /// [`Retriever::implied_words`]): 保検料 typed for 保険料, じついん for 実印; 0 turns
    /// it off.
    pub reading_weight: f32,
    /// Weight of the words of a compound the question abbreviates (児手 for 児童手当; see
    /// [`Retriever::implied_words`]); 0 turns it off.
    pub abbreviation_weight: f32,
    /// Final score = BM25 × coverage^exponent (a coordination factor: entries that contain more
    /// of the question's distinct meaning rise); 0 turns it off.
    pub coverage_exponent: f32,
    /// How many BM25 candidates the coverage factor re-orders (at least `k`).
    pub rerank_depth: usize,
    /// Weight of a word the synonym dictionary adds, relative to a word the resident typed.
    pub synonym_weight: f32,
    /// Weight of the semantic leg: hits are ordered by `score + semantic_weight × meaning`
    /// ([`Hit::meaning`]), over the lexical candidates and the `rerank_depth` entries nearest
    /// in meaning; 0 runs lexical only and loads no model. 480 and the three shares below were
    /// chosen together by 5-fold cross-validation over both dev sets and the other-language
    /// questions at once (`scripts/cv-semantic.sh all`), where this sum beat a convex
    /// combination of min-max normalised scores and reciprocal rank fusion (docs/benchmarks.md;
    /// both were measured at eaace2b).
    pub semantic_weight: f32,
    /// In the similarity of an entry that has other phrasings, the share of its best cosine
    /// over its question and phrasings; the rest is the cosine of its question with its answer.
    pub phrasing_share: f32,
    /// The same share for an entry with its question only (most municipal FAQs): the answer
    /// then says more about what the entry covers.
    pub question_share: f32,
    /// The phrasing share for a question in another language ([`Hit::foreign`]), which is
    /// ranked by its similarity (and its Japanese words: `foreign_word_weight`).
    pub foreign_phrasing_share: f32,
    /// For a question in another language, what the entries that contain its Japanese words
    /// add to its similarity: the words it writes in Japanese script (「(住民税)」), in Latin
    /// letters ("juminhyo", "tennyu todoke": [`crate::romaji`]) or in Devanagari (जुमिनह्यो:
    /// [`crate::devanagari`]) are searched by BM25, and an entry gains this weight times its
    /// BM25 over the best entry's; 0 ranks such a question by similarity alone.
    pub foreign_word_weight: f32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            question: 1.0,
            alt_questions: 1.5,
            answer: 1.0,
            category: 0.5,
            tags: 0.8,
            reading_weight: 0.6,
            abbreviation_weight: 0.6,
            coverage_exponent: 0.5,
            rerank_depth: 100,
            synonym_weight: 0.3,
            semantic_weight: 480.0,
            phrasing_share: 0.8,
            question_share: 0.3,
            foreign_phrasing_share: 0.6,
            foreign_word_weight: 0.03,
        }
    }
}

/// Errors from retrieval.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The municipality has no layer in this index.
    #[error("unknown municipality '{code}'; known: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownMunicipality {
        /// The code asked for.
        code: String,
        /// The codes this index knows.
        known: Vec<String>,
    },
    /// tantivy failed.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A stored document could not be read back.
    #[error("corrupt stored entry: {0}")]
    Corrupt(String),
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One ranked result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The entry as the resident's municipality sees it.
    pub entry: Arc<Entry>,
    /// Ranking score: BM25 of the boosted OR query times a power of `coverage` (see
    /// [`SearchConfig::coverage_exponent`]); not comparable across queries.
    pub score: f32,
    /// Share of the question's meaning found in this entry: the IDF-weighted fraction of the
    /// question's terms that occur anywhere in the entry, in `[0, 1]`. Unlike `score` it is
    /// comparable across questions, so the answer policy thresholds it.
    pub coverage: f32,
    /// `score` in units of the most one term could add to this entry: the largest IDF this
    /// index gives (a word found in one entry) times the summed weights of the fields the entry
    /// has text in. Roughly how many rare words of the question the whole entry echoes. Unlike
    /// `score` it does not grow with the size of the FAQ or with how many fields an entry
    /// fills, so one threshold on it ([`crate::answer::DecisionConfig::evidence_score`]) can
    /// serve a small FAQ without alternative phrasings and the national one alike.
    pub evidence: f32,
    /// Share of the question's meaning (IDF-weighted, like `coverage`) in words that no entry
    /// of the index contains, not even through a synonym: 宇宙 in 宇宙旅行の補助金 (numbers
    /// excepted). The same for every hit of one question.
    pub unknown: f32,
    /// The entry's best cosine with the question over its embedded texts (question, other
    /// phrasings, question + answer): how near the question is to one of them, which the
    /// decision reads; 0 when the semantic leg is off.
    pub similarity: f32,
    /// The semantic leg's score, which the ranking reads: the entry's best cosine over its
    /// question and other phrasings and the cosine of its question with its answer, mixed by
    /// `[search] phrasing_share` (`question_share` when it has no other phrasing,
    /// `foreign_phrasing_share` for a question in another language); 0 when the semantic leg is
    /// off.
    pub meaning: f32,
    /// What the hits are ordered by: `score`, plus `semantic_weight × meaning` when the
    /// semantic leg runs (so it equals `score` lexical-only), or `meaning` alone for a question
    /// in another language.
    pub ranking: f32,
    /// Whether the question is in another language than the FAQ's ([`crate::language`]) and
    /// the hits come from the semantic leg alone. The same for every hit of one question.
    pub foreign: bool,
    /// The cosines `meaning` and `similarity` were made from; `None` when the semantic leg did
    /// not run. Read by `madoguchi eval --hits` (measuring other combinations of the legs).
    pub cosines: Option<Cosines>,
    /// Whether the question is, word for word ([`wording`]), this entry's question or one of its
    /// other phrasings, and no other hit's: its editors wrote that phrasing for this entry, so
    /// it is ranked first and answered ([`crate::answer::Signals::exact`]).
    pub own_phrasing: bool,
    /// Whether the two legs agree on this hit: it is first by the ranking, no hit has a higher
    /// lexical `score` and none a higher `meaning`. Only the first hit of a Japanese question
    /// that the semantic leg ranked can be ([`crate::answer::Signals::agreed`]).
    pub agreed: bool,
}

/// Marks the first of ranked hits [`Hit::agreed`] when no other hit has a higher lexical score
/// or a higher meaning: what words alone and meaning alone would each put first is the same
/// entry. Hits without a meaning (the semantic leg off, or no vector) are never marked.
fn mark_agreement(hits: &mut [Hit]) {
    let Some((first, rest)) = hits.split_first_mut() else {
        return;
    };
    first.agreed = first.meaning > 0.0
        && rest
            .iter()
            .all(|h| h.score <= first.score && h.meaning <= first.meaning);
}

/// A text as a question is compared with the entries' phrasings word for word
/// ([`Hit::own_phrasing`]): normalised ([`analysis::normalize`]: NFKC, lowercase), letters and
/// digits only, so that spaces, punctuation and the width of a character do not count.
pub fn wording(text: &str) -> String {
    analysis::normalize(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The cosines of a question with one entry's embedded texts ([`crate::semantic::entry_texts`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Cosines {
    /// With the entry's question.
    pub question: f32,
    /// The largest with its other phrasings; `None` when it has none.
    pub phrasing: Option<f32>,
    /// With its question and answer together.
    pub answer: f32,
}

impl Cosines {
    /// The cosines of the question `q` with the text vectors of one entry, laid out as
    /// [`crate::semantic::entry_texts`] orders them: question, other phrasings, then question +
    /// answer. `None` without vectors.
    fn of(q: &[f32], vectors: &[f32]) -> Option<Cosines> {
        let dim = q.len().max(1);
        let texts = vectors.len() / dim;
        let phrasings = texts.checked_sub(1)?;
        let answer = crate::semantic::dot(q, &vectors[phrasings * dim..texts * dim]);
        let mut each = vectors[..phrasings * dim]
            .chunks_exact(dim)
            .map(|v| crate::semantic::dot(q, v));
        // A lone vector is read as the question + answer text, and as the question too.
        let question = each.next().unwrap_or(answer);
        Some(Cosines {
            question,
            phrasing: each.reduce(f32::max),
            answer,
        })
    }

    /// The largest cosine with the question or one of its other phrasings.
    fn best_phrasing(&self) -> f32 {
        self.phrasing
            .map_or(self.question, |p| p.max(self.question))
    }
}

/// An indexed entry with the terms it contains (for [`Hit::coverage`]).
struct DocInfo {
    entry: Arc<Entry>,
    /// Ids ([`VocabTerm::id`]) of every term the entry contains, sorted.
    terms: Vec<u32>,
    /// Sum of the weights of the fields this entry has text in (for [`Hit::evidence`]).
    field_weight: f32,
    /// Municipalities that override or hide this (national) entry.
    hidden_in: Vec<String>,
    /// Unit vectors of its embedded texts, one after another (empty lexical-only).
    vectors: Vec<f32>,
}

impl DocInfo {
    /// Whether a resident of `municipality` (national only when `None`) sees this entry.
    fn visible_to(&self, municipality: Option<&str>) -> bool {
        match municipality {
            None => self.entry.is_national(),
            Some(m) if self.entry.is_national() => !self.hidden_in.iter().any(|h| h == m),
            Some(m) => self.entry.scope == m,
        }
    }
}

/// A term of the entries.
struct VocabTerm {
    /// Its number, in the order terms were first met.
    id: u32,
    /// Number of entries containing it, for coverage IDF.
    df: u32,
}

/// The BM25 IDF of a term found in `df` of `n_docs` entries (the coverage weights).
fn idf_of(n_docs: u32, df: u32) -> f32 {
    let (n, df) = (n_docs as f32, df as f32);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// A question term, as [`coverage_of`] looks for it.
struct Wanted {
    /// Ids of the entry terms that count as it.
    ids: Vec<u32>,
    /// Its IDF.
    idf: f32,
}

/// Searches one index generation. Cheap to share behind an `Arc`; `search` takes `&self`.
pub struct Retriever {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    analyzer: Analyzer,
    config: SearchConfig,
    manifest: Manifest,
    /// Every indexed entry, by segment ordinal and doc id: reading stored documents per query
    /// would cost more than the search itself on a corpus this size.
    docs: Vec<Vec<DocInfo>>,
    /// Where each id's documents are in `docs` (a national entry and its overrides share an id).
    by_id: HashMap<String, Vec<(usize, usize)>>,
    /// Every term the entries contain.
    vocab: HashMap<String, VocabTerm>,
    /// Number of entries.
    n_docs: u32,
    /// Query-time synonym groups.
    synonyms: Synonyms,
    /// Words of the entries that contain a kanji, by reading (hiragana, no long-vowel marks).
    by_reading: HashMap<String, BTreeSet<String>>,
    /// Words of the entries (nouns in kanji or katakana, alone or two or three in a row), by
    /// the loose key of their reading ([`crate::romaji::loose`]), for words in Latin letters.
    by_romaji: HashMap<String, BTreeSet<String>>,
    /// Compounds of the entries (two or three nouns in a row), by their abbreviation (the first
    /// kanji of each: 児手 for 児童|手当), with the number of entries that have each.
    by_abbreviation: HashMap<String, BTreeMap<Vec<String>, u32>>,
    /// The entries by the [`wording`] of their question and each other phrasing.
    by_wording: HashMap<String, Vec<Arc<Entry>>>,
    /// The question encoder of the semantic leg ([`Retriever::set_semantic`]).
    encoder: Option<Arc<crate::semantic::Encoder>>,
}

impl Retriever {
    /// Wraps an opened index (the analyzers must already be registered).
    pub fn new(
        index: Index,
        manifest: Manifest,
        analyzer: Analyzer,
        config: SearchConfig,
    ) -> Result<Self> {
        let fields = index::fields(&index.schema())?;
        // The index of a generation never changes after it is built, so no reloading.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let mut docs = Vec::new();
        let mut vocab: HashMap<String, VocabTerm> = HashMap::new();
        let mut n_docs = 0u32;
        let mut by_reading: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut by_romaji: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut by_abbreviation: HashMap<String, BTreeMap<Vec<String>, u32>> = HashMap::new();
        for segment in searcher.segment_readers() {
            let store = segment
                .get_store_reader(1)
                .map_err(|e| Error::Corrupt(e.to_string()))?;
            let mut entries = Vec::with_capacity(segment.max_doc() as usize);
            for doc_id in 0..segment.max_doc() {
                let d: TantivyDocument = store.get(doc_id)?;
                let json = d
                    .get_first(fields.entry)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| Error::Corrupt(format!("doc {doc_id} has no entry")))?;
                let entry: Entry =
                    serde_json::from_str(json).map_err(|e| Error::Corrupt(e.to_string()))?;
                let hidden_in = d
                    .get_all(fields.hidden_in)
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let mut terms: Vec<u32> = entry_terms(
                    &analyzer,
                    &entry,
                    &mut by_reading,
                    &mut by_romaji,
                    &mut by_abbreviation,
                )
                .into_iter()
                .map(|t| {
                    let next = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
                    let term = vocab.entry(t).or_insert(VocabTerm { id: next, df: 0 });
                    term.df += 1;
                    term.id
                })
                .collect();
                terms.sort_unstable();
                n_docs += 1;
                let field_weight = field_weight(&config, &entry);
                entries.push(DocInfo {
                    entry: Arc::new(entry),
                    terms,
                    field_weight,
                    hidden_in,
                    vectors: Vec::new(),
                });
            }
            docs.push(entries);
        }
        let mut by_id: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut by_wording: HashMap<String, Vec<Arc<Entry>>> = HashMap::new();
        for (seg, entries) in docs.iter().enumerate() {
            for (i, d) in entries.iter().enumerate() {
                by_id.entry(d.entry.id.clone()).or_default().push((seg, i));
                for text in std::iter::once(&d.entry.question).chain(&d.entry.alt_questions) {
                    let key = wording(text);
                    if key.is_empty() {
                        // Punctuation alone is no wording a question could repeat.
                        continue;
                    }
                    let owners = by_wording.entry(key).or_default();
                    if !owners.iter().any(|o| Arc::ptr_eq(o, &d.entry)) {
                        owners.push(d.entry.clone());
                    }
                }
            }
        }
        Ok(Retriever {
            index,
            reader,
            fields,
            analyzer,
            config,
            manifest,
            docs,
            by_id,
            vocab,
            n_docs,
            synonyms: Synonyms::empty(),
            by_reading,
            by_romaji,
            by_abbreviation,
            by_wording,
            encoder: None,
        })
    }

    /// Uses `synonyms` for query expansion from now on.
    pub fn with_synonyms(mut self, synonyms: Synonyms) -> Self {
        self.synonyms = synonyms;
        self
    }

    /// Adds the semantic leg: every entry's texts
    /// ([`crate::semantic::entry_texts`]) embedded through `cache`, and questions embedded by
    /// `encoder`. Slow the first time (tens of milliseconds a text); the cache makes it fast
    /// after that.
    pub fn set_semantic(
        &mut self,
        encoder: Arc<crate::semantic::Encoder>,
        cache: &mut crate::semantic::VectorCache,
    ) -> std::result::Result<(), String> {
        for doc in self.docs.iter_mut().flatten() {
            let texts = crate::semantic::entry_texts(&doc.entry);
            match encoder.passages(&texts, cache) {
                Ok(v) => doc.vectors = v.concat(),
                Err(e) => {
                    // All or nothing: lexical only, as without a model.
                    self.docs
                        .iter_mut()
                        .flatten()
                        .for_each(|d| d.vectors.clear());
                    return Err(e);
                }
            }
        }
        self.encoder = Some(encoder);
        Ok(())
    }

    /// Every entry text the semantic leg embeds (question, phrasings, question + answer).
    pub fn texts_to_embed(&self) -> Vec<crate::semantic::EntryText> {
        self.docs
            .iter()
            .flatten()
            .flat_map(|d| crate::semantic::entry_texts(&d.entry))
            .collect()
    }

    /// Whether the semantic leg runs (an encoder is set and its weight is above 0).
    pub fn semantic(&self) -> bool {
        self.encoder.is_some() && self.config.semantic_weight > 0.0
    }

    /// Empties the semantic leg's cache of question vectors, so that the next searches embed
    /// their questions as if never asked (what `madoguchi eval` times).
    pub fn forget_queries(&self) {
        if let Some(e) = &self.encoder {
            e.forget_queries();
        }
    }

    /// Questions the semantic leg's bundled model has embedded, and in how many calls (`None`
    /// without the leg).
    pub fn question_embeddings(&self) -> Option<crate::semantic::QuestionEmbeddings> {
        self.encoder.as_ref().map(|e| e.question_embeddings())
    }

    /// Entry texts embedded.
    pub fn embedded_texts(&self) -> usize {
        let dim = self.encoder.as_ref().map_or(1, |e| e.dim()).max(1);
        self.docs
            .iter()
            .flatten()
            .map(|d| d.vectors.len() / dim)
            .sum()
    }

    /// The synonym dictionary in use.
    pub fn synonyms(&self) -> &Synonyms {
        &self.synonyms
    }

    /// The question analysed once ([`Analyzer::inspect_runs`]): its terms, the synonym
    /// expansion, and the entry words it implies ([`Retriever::implied_words`], which also link
    /// into the expansion).
    fn prepare(
        &self,
        question: &str,
        municipality: Option<&str>,
    ) -> (Vec<String>, Expansion, Implied) {
        let runs = self.analyzer.inspect_runs(question);
        let words: Vec<String> = runs
            .iter()
            .flatten()
            .filter_map(|t| t.term.clone())
            .collect();
        let mut expansion = self.expansion(&words, municipality);
        let implied = self.implied_words(&runs, &words, &mut expansion);
        (words, expansion, implied)
    }

    fn expansion(&self, words: &[String], municipality: Option<&str>) -> Expansion {
        if self.config.synonym_weight > 0.0 {
            self.synonyms.expand(words, municipality)
        } else {
            Expansion::default()
        }
    }

    /// The manifest of the index generation being searched.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The retrieval settings.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The analyzer queries go through.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The underlying tantivy index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Checks a municipality code against the index.
    pub fn check_municipality(&self, municipality: Option<&str>) -> Result<()> {
        match municipality {
            Some(m) if !self.manifest.municipalities.contains_key(m) => {
                Err(Error::UnknownMunicipality {
                    code: m.to_owned(),
                    known: self.manifest.municipalities.keys().cloned().collect(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The top `k` entries for `question` as `municipality` sees them (national only when `None`).
    #[tracing::instrument(skip_all, fields(k, municipality))]
    pub fn search(&self, question: &str, k: usize, municipality: Option<&str>) -> Result<Vec<Hit>> {
        self.search_legs(question, k, municipality, self.semantic())
    }

    /// [`Retriever::search`] by the words alone, without the semantic leg: for a follow-up,
    /// whose few words say what it adds to the topic while its meaning alone says little.
    pub fn search_lexical(
        &self,
        question: &str,
        k: usize,
        municipality: Option<&str>,
    ) -> Result<Vec<Hit>> {
        self.search_legs(question, k, municipality, false)
    }

    fn search_legs(
        &self,
        question: &str,
        k: usize,
        municipality: Option<&str>,
        semantic: bool,
    ) -> Result<Vec<Hit>> {
        self.check_municipality(municipality)?;
        // Punctuation or symbols alone mean nothing to either leg.
        let semantic = semantic && question.chars().any(char::is_alphabetic);
        let (words, expansion, implied) = self.prepare(question, municipality);
        // A question with no searchable word (another script, only particles) still has a
        // meaning for the semantic leg.
        let text_query = self.text_query_from(&words, &expansion, &implied);
        if k == 0 || (text_query.is_none() && !semantic) {
            return Ok(Vec::new());
        }
        let distinct: BTreeSet<&str> = words.iter().map(String::as_str).collect();
        let weighted: Vec<(&str, f32)> = distinct.iter().map(|t| (*t, self.idf(t))).collect();
        let total: f32 = weighted.iter().map(|(_, w)| w).sum();
        let unknown = self.unknown_share(&weighted, total, &expansion);
        let wanted = self.wanted(&weighted, &expansion);
        let pool = k.max(self.config.rerank_depth);
        // A question in another language shares no words with the FAQ worth ranking by (a
        // brand, "card") but its Japanese ones: the semantic leg ranks it, and those words
        // (in Japanese script or Latin letters) add to it.
        let foreign = semantic && !crate::language::detect(question).is_japanese();
        let top = match text_query {
            Some(text_query) if !foreign => self.lexical(text_query, municipality, pool)?,
            _ if foreign && self.config.foreign_word_weight > 0.0 => {
                // Its words in Japanese script, and those it writes in Latin letters.
                let mut japanese: Vec<String> = words
                    .iter()
                    .filter(|w| {
                        w.chars()
                            .any(|c| analysis::is_kanji(c) || analysis::is_hiragana(c))
                    })
                    .cloned()
                    .collect();
                japanese.extend(romaji_words(&self.by_romaji, question));
                match self.text_query_from(&japanese, &Expansion::default(), &Implied::default()) {
                    Some(q) => self.lexical(q, municipality, pool)?,
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        let exponent = self.config.coverage_exponent;
        let idf_max = self.idf_max();
        let hit = |doc: &DocInfo, bm25: f32| {
            let coverage = coverage_of(&wanted, total, &doc.terms);
            let score = if foreign {
                bm25
            } else if exponent > 0.0 {
                bm25 * coverage.powf(exponent)
            } else {
                bm25
            };
            let unit = idf_max * doc.field_weight;
            Hit {
                entry: doc.entry.clone(),
                score,
                coverage,
                evidence: if unit > 0.0 { score / unit } else { 0.0 },
                unknown,
                similarity: 0.0,
                meaning: 0.0,
                ranking: score,
                foreign,
                cosines: None,
                own_phrasing: false,
                agreed: false,
            }
        };
        let mut addrs: Vec<(usize, usize)> = Vec::with_capacity(top.len());
        let mut hits: Vec<Hit> = top
            .into_iter()
            .map(|(bm25, addr)| {
                let at = (addr.segment_ord as usize, addr.doc_id as usize);
                addrs.push(at);
                hit(&self.docs[at.0][at.1], bm25)
            })
            .collect();
        if let Some(encoder) = self.encoder.as_ref().filter(|_| semantic) {
            self.fuse(
                encoder,
                question,
                foreign,
                municipality,
                pool,
                &mut hits,
                &mut addrs,
                |d| hit(d, 0.0),
            );
        }
        hits.sort_by(|a, b| {
            b.ranking
                .total_cmp(&a.ranking)
                .then_with(|| a.entry.id.cmp(&b.entry.id))
                .then_with(|| a.entry.scope.cmp(&b.entry.scope))
        });
        // Agreement is read off the hit shown first, so after an own phrasing has moved there.
        self.own_phrasing_first(question, &mut hits);
        if !foreign {
            mark_agreement(&mut hits);
        }
        hits.truncate(k);
        Ok(hits)
    }

    /// When `question` is, word for word ([`wording`]), the question or another phrasing of
    /// one hit's entry and of no other hit's, puts that hit first and marks it
    /// ([`Hit::own_phrasing`]); its ranking and signals are left as they are.
    fn own_phrasing_first(&self, question: &str, hits: &mut Vec<Hit>) {
        let Some(owners) = self.by_wording.get(&wording(question)) else {
            return;
        };
        let mut own = hits
            .iter()
            .enumerate()
            .filter(|(_, h)| owners.iter().any(|o| Arc::ptr_eq(o, &h.entry)))
            .map(|(i, _)| i);
        if let (Some(at), None) = (own.next(), own.next()) {
            let mut hit = hits.remove(at);
            hit.own_phrasing = true;
            hits.insert(0, hit);
        }
    }

    /// The lexical leg: the top `pool` entries by BM25 that `municipality` sees. Fetches a margin
    /// beyond the pool; if the score at the pool's end is still tied at the margin's end, widens
    /// until the tie group is complete, so the id tie-break sees every tied entry.
    fn lexical(
        &self,
        text_query: Box<dyn Query>,
        municipality: Option<&str>,
        pool: usize,
    ) -> Result<Vec<(Score, tantivy::DocAddress)>> {
        let query = BooleanQuery::new(vec![
            (Occur::Must, text_query),
            (Occur::Must, self.scope_filter(municipality)),
            (Occur::MustNot, self.hidden_filter(municipality)),
        ]);
        let searcher = self.reader.searcher();
        let mut limit = pool + 16;
        loop {
            let top: Vec<(Score, tantivy::DocAddress)> =
                searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
            let tied_at_end = top.len() == limit && top[pool - 1].0 == top[limit - 1].0;
            if !tied_at_end {
                return Ok(top);
            }
            limit *= 4;
        }
    }

    /// The semantic leg: every lexical hit gets its meaning score and similarity
    /// ([`Hit::meaning`], [`Hit::similarity`]), the `pool` entries nearest in meaning to the
    /// question that the resident's municipality sees join as hits of their own (with their
    /// lexical signals, usually none), and each hit's ranking becomes
    /// `score + semantic_weight × meaning` (`meaning` alone for a question in another language).
    #[allow(clippy::too_many_arguments)]
    fn fuse(
        &self,
        encoder: &crate::semantic::Encoder,
        question: &str,
        foreign: bool,
        municipality: Option<&str>,
        pool: usize,
        hits: &mut Vec<Hit>,
        addrs: &mut Vec<(usize, usize)>,
        lexical_only: impl Fn(&DocInfo) -> Hit,
    ) {
        // An endpoint that failed for this question: words alone.
        let Some(q) = encoder.query(question) else {
            return;
        };
        let cosines = |d: &DocInfo| Cosines::of(&q, &d.vectors);
        // (meaning, cosines, where the entry is) of every entry the resident sees.
        let mut nearest: Vec<(f32, Option<Cosines>, (usize, usize))> = self
            .docs
            .iter()
            .enumerate()
            .flat_map(|(s, seg)| seg.iter().enumerate().map(move |(i, d)| ((s, i), d)))
            .filter(|(_, d)| !d.entry.hidden && d.visible_to(municipality))
            .map(|(at, d)| {
                let c = cosines(d);
                (self.closeness(c, foreign).0, c, at)
            })
            .collect();
        nearest.sort_by(|a, b| {
            b.0.total_cmp(&a.0).then_with(|| {
                self.docs[a.2.0][a.2.1]
                    .entry
                    .id
                    .cmp(&self.docs[b.2.0][b.2.1].entry.id)
            })
        });
        let known: std::collections::HashSet<(usize, usize)> = addrs.iter().copied().collect();
        for &(_, _, at) in nearest.iter().take(pool) {
            if !known.contains(&at) {
                hits.push(lexical_only(&self.docs[at.0][at.1]));
                addrs.push(at);
            }
        }
        // Every visible entry's closeness was computed above; a lexical hit is one of them.
        let computed: HashMap<(usize, usize), Option<Cosines>> =
            nearest.iter().map(|&(_, c, at)| (at, c)).collect();
        let w = self.config.semantic_weight;
        // A question in another language: BM25 of its Japanese words over the best entry's.
        let best_words = if foreign {
            hits.iter().map(|h| h.score).fold(0.0, f32::max)
        } else {
            0.0
        };
        let words_weight = if best_words > 0.0 {
            self.config.foreign_word_weight / best_words
        } else {
            0.0
        };
        for (h, at) in hits.iter_mut().zip(addrs.iter()) {
            h.cosines = computed
                .get(at)
                .copied()
                .unwrap_or_else(|| cosines(&self.docs[at.0][at.1]));
            (h.meaning, h.similarity) = self.closeness(h.cosines, foreign);
            h.ranking = if foreign {
                h.meaning + words_weight * h.score
            } else {
                h.score + w * h.meaning
            };
        }
    }

    /// An entry's meaning score and similarity to a question ([`Hit::meaning`],
    /// [`Hit::similarity`]) from its cosines with it; (0, 0) without them.
    fn closeness(&self, cosines: Option<Cosines>, foreign: bool) -> (f32, f32) {
        let Some(c) = cosines else {
            return (0.0, 0.0);
        };
        let best = c.best_phrasing();
        let share = if foreign {
            self.config.foreign_phrasing_share
        } else if c.phrasing.is_some() {
            self.config.phrasing_share
        } else {
            self.config.question_share
        };
        (share * best + (1.0 - share) * c.answer, best.max(c.answer))
    }

    /// The IDF-weighted share of `query` terms that no entry contains, directly or through a
    /// synonym; numbers do not count as missing.
    fn unknown_share(&self, query: &[(&str, f32)], total: f32, expansion: &Expansion) -> f32 {
        if total <= 0.0 {
            return 0.0;
        }
        let missing: f32 = query
            .iter()
            .filter(|(t, _)| self.unknown_term(t, expansion))
            .map(|(_, idf)| idf)
            .sum();
        // abs: a sum of nothing is -0.0.
        (missing / total).abs()
    }

    /// Whether no entry contains `term`, directly or through a synonym. Numbers (amounts, dates,
    /// a phone number the resident typed) are not a topic and never count as unknown.
    fn unknown_term(&self, term: &str, expansion: &Expansion) -> bool {
        let known = |t: &str| self.df(t) > 0;
        let number = term.chars().all(|c| c.is_ascii_digit());
        let stand_in = expansion
            .links
            .get(term)
            .is_some_and(|alts| alts.iter().any(|a| known(a)));
        !number && !known(term) && !stand_in
    }

    /// The IDF of a term found in one entry: the most any term can weigh in this index.
    fn idf_max(&self) -> f32 {
        idf_of(self.n_docs, 1)
    }

    fn idf(&self, term: &str) -> f32 {
        idf_of(self.n_docs, self.df(term))
    }

    /// Number of entries containing `term`.
    fn df(&self, term: &str) -> u32 {
        self.vocab.get(term).map_or(0, |t| t.df)
    }

    /// The question's terms as [`coverage_of`] looks for them: each with the ids of the entry
    /// terms that count as it (itself, and the words the synonym dictionary puts in its place,
    /// such as 子ども for 子供) and its IDF. Looked up once per question, so that the coverage of
    /// each of the hundred-odd hits compares integers instead of hashing strings.
    fn wanted(&self, query: &[(&str, f32)], expansion: &Expansion) -> Vec<Wanted> {
        query
            .iter()
            .map(|&(t, idf)| {
                let alternatives = expansion.links.get(t).into_iter().flatten();
                let ids = std::iter::once(t)
                    .chain(alternatives.map(String::as_str))
                    .filter_map(|w| self.vocab.get(w).map(|v| v.id))
                    .collect();
                Wanted { ids, idf }
            })
            .collect()
    }

    /// The boosted OR of the question's terms over every text field; `None` when the question
    /// has no searchable term (only particles, symbols or whitespace).
    pub fn text_query(&self, question: &str) -> Option<Box<dyn Query>> {
        let (words, expansion, implied) = self.prepare(question, None);
        self.text_query_from(&words, &expansion, &implied)
    }

    fn text_query_from(
        &self,
        words: &[String],
        expansion: &Expansion,
        implied: &Implied,
    ) -> Option<Box<dyn Query>> {
        let c = &self.config;
        let f = &self.fields;
        let words = counts(words.to_vec());
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in [
            (f.question, c.question),
            (f.alt_questions, c.alt_questions),
            (f.answer, c.answer),
            (f.category, c.category),
            (f.tags, c.tags),
        ] {
            add_terms(&mut clauses, field, boost, &words);
            for (term, share) in &expansion.terms {
                add_term(&mut clauses, field, boost * c.synonym_weight * share, term);
            }
            for term in &implied.read {
                add_term(&mut clauses, field, boost * c.reading_weight, term);
            }
            for term in &implied.abbreviated {
                add_term(&mut clauses, field, boost * c.abbreviation_weight, term);
            }
        }
        if clauses.is_empty() {
            return None;
        }
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// Entry words the question implies without containing them, in two ways; each found word
    /// also stands for the question's words it came from in coverage and the unknown share
    /// (through `expansion`'s links).
    ///
    /// - Read back from the reading ([`SearchConfig::reading_weight`]): a slip of kana-kanji
    ///   conversion (保検料 for 保険料: ほ|けん read as 保険) or a word typed in kana (じついん
    ///   とうろく for 実印 登録, ねんしゅうのかべ for 年収の壁). A run of one to four tokens is
    ///   read when it has a word no entry contains, a one-kanji token beside another (a compound
    ///   the dictionary does not know, split into 保|検|料), or lies in a stretch of three or
    ///   more hiragana (which the dictionary splits into particles and fragments); a single
    ///   kanji word (先週) is what the resident meant and is never read as another (専修). When
    ///   the run reads like an entry word of two or more kanji (three or more kana, long-vowel
    ///   marks ignored), that word is implied.
    /// - Abbreviations ([`SearchConfig::abbreviation_weight`]): a run of two or three one-kanji
    ///   tokens (児|手, 国|年, 特|養) that is the first kanji of each noun of a compound in the
    ///   entries (児童|手当) implies that compound's words; of several such compounds, the one
    ///   most entries have.
    pub fn implied_words(
        &self,
        runs: &[Vec<analysis::Analysed>],
        words: &[String],
        expansion: &mut Expansion,
    ) -> Implied {
        let mut implied = Implied::default();
        let c = &self.config;
        if c.reading_weight <= 0.0 && c.abbreviation_weight <= 0.0 {
            return implied;
        }
        for tokens in runs
            .iter()
            .filter(|r| r.iter().any(|t| !t.reading.is_empty()))
        {
            let suspect = if c.reading_weight > 0.0 {
                self.suspect_tokens(tokens, expansion)
            } else {
                Vec::new()
            };
            let mut imply =
                |set: &mut BTreeSet<String>, from: &[analysis::Analysed], term: &str| {
                    if words.iter().any(|w| w == term) {
                        return;
                    }
                    set.insert(term.to_owned());
                    for t in from.iter().filter_map(|t| t.term.as_ref()) {
                        expansion
                            .links
                            .entry(t.clone())
                            .or_default()
                            .insert(term.to_owned());
                    }
                };
            if c.abbreviation_weight > 0.0 {
                for (start, end) in single_kanji_runs(tokens) {
                    let key: String = tokens[start..end]
                        .iter()
                        .map(|t| t.surface.as_str())
                        .collect();
                    let best = self
                        .by_abbreviation
                        .get(&key)
                        .and_then(|m| m.iter().max_by_key(|(_, n)| **n));
                    for term in best.into_iter().flat_map(|(compound, _)| compound) {
                        imply(&mut implied.abbreviated, &tokens[start..end], term);
                    }
                }
            }
            if c.reading_weight > 0.0 {
                for start in 0..tokens.len() {
                    for end in start + 1..=(start + 4).min(tokens.len()) {
                        let one_kanji_word = end == start + 1
                            && !tokens[start].surface.chars().all(analysis::is_hiragana);
                        if one_kanji_word || !suspect[start..end].iter().any(|&s| s) {
                            continue;
                        }
                        let reading: String = tokens[start..end]
                            .iter()
                            .map(|t| plain_reading(&t.reading))
                            .collect();
                        for term in self.by_reading.get(&reading).into_iter().flatten() {
                            imply(&mut implied.read, &tokens[start..end], term);
                        }
                    }
                }
            }
        }
        implied
    }

    /// Which tokens of one run of text (no spaces or symbols) may stand for another
    /// word: see [`Retriever::implied_words`].
    fn suspect_tokens(&self, tokens: &[analysis::Analysed], expansion: &Expansion) -> Vec<bool> {
        let chars = || tokens.iter().flat_map(|t| t.surface.chars());
        let kana_only =
            chars().count() >= 3 && chars().all(|c| analysis::is_hiragana(c) || c == 'ー');
        let mut suspect: Vec<bool> = tokens
            .iter()
            .map(|t| {
                kana_only
                    || t.term
                        .as_deref()
                        .is_some_and(|term| self.unknown_term(term, expansion))
            })
            .collect();
        for (start, end) in single_kanji_runs(tokens) {
            suspect[start..end].fill(true);
        }
        suspect
    }

    fn scope_filter(&self, municipality: Option<&str>) -> Box<dyn Query> {
        let term = |s: &str| -> (Occur, Box<dyn Query>) {
            (
                Occur::Should,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.scope, s),
                    IndexRecordOption::Basic,
                )),
            )
        };
        let mut scopes = vec![term(NATIONAL)];
        if let Some(m) = municipality {
            scopes.push(term(m));
        }
        Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(scopes)),
            0.0,
        ))
    }

    fn hidden_filter(&self, municipality: Option<&str>) -> Box<dyn Query> {
        // No municipality: nothing is hidden; a code no entry can carry matches nothing.
        let code = municipality.unwrap_or("-");
        Box::new(TermQuery::new(
            Term::from_field_text(self.fields.hidden_in, code),
            IndexRecordOption::Basic,
        ))
    }

    /// Every entry a resident of `municipality` sees (national ones when `None`), in id order.
    pub fn visible_entries(&self, municipality: Option<&str>) -> Vec<Arc<Entry>> {
        let mut out: Vec<Arc<Entry>> = self
            .docs
            .iter()
            .flatten()
            .filter(|d| d.visible_to(municipality))
            .map(|d| d.entry.clone())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The top-level categories (大分類) of the entries `municipality` sees, by name: the
    /// category menu.
    pub fn top_categories(&self, municipality: Option<&str>) -> Vec<String> {
        let names: BTreeSet<String> = self
            .docs
            .iter()
            .flatten()
            .filter(|d| d.visible_to(municipality))
            .filter_map(|d| d.entry.category.first().cloned())
            .collect();
        names.into_iter().collect()
    }

    /// One entry as `municipality` sees it.
    pub fn entry(&self, id: &str, municipality: Option<&str>) -> Option<Arc<Entry>> {
        self.by_id
            .get(id)?
            .iter()
            .map(|&(seg, i)| &self.docs[seg][i])
            .find(|d| d.visible_to(municipality))
            .map(|d| d.entry.clone())
    }

    /// The municipalities this index serves, by code.
    pub fn municipalities(&self) -> &BTreeMap<String, crate::faq::Municipality> {
        &self.manifest.municipalities
    }

    /// How specific each of the question's terms is in this FAQ, for the conversation turn to
    /// tell a self-contained question from a follow-up that names no topic (「必要なものは？」).
    pub fn profile(&self, question: &str, municipality: Option<&str>) -> Profile {
        let (words, expansion, _) = self.prepare(question, municipality);
        let distinct: BTreeSet<&str> = words.iter().map(String::as_str).collect();
        let terms = distinct
            .iter()
            .map(|t| {
                let stand_ins = expansion.links.get(*t).into_iter().flatten();
                // A term known only through a synonym is as specific as its rarest stand-in.
                let df = std::iter::once(*t)
                    .chain(stand_ins.map(String::as_str))
                    .map(|w| self.df(w))
                    .filter(|&d| d > 0)
                    .min()
                    .unwrap_or(0);
                TermProfile {
                    term: (*t).to_owned(),
                    entries: df,
                    known: !self.unknown_term(t, &expansion),
                }
            })
            .collect();
        Profile {
            terms,
            entries: self.n_docs,
        }
    }

    /// The coverage ([`Hit::coverage`]) of `question` in entry `id` as `municipality` sees it:
    /// how much of the question that entry's words echo (0 when it is not visible).
    pub fn coverage_in(&self, question: &str, id: &str, municipality: Option<&str>) -> f32 {
        let (words, expansion, _) = self.prepare(question, municipality);
        let distinct: BTreeSet<&str> = words.iter().map(String::as_str).collect();
        let weighted: Vec<(&str, f32)> = distinct.iter().map(|t| (*t, self.idf(t))).collect();
        let total: f32 = weighted.iter().map(|(_, w)| w).sum();
        let wanted = self.wanted(&weighted, &expansion);
        self.by_id
            .get(id)
            .into_iter()
            .flatten()
            .map(|&(seg, i)| &self.docs[seg][i])
            .find(|d| d.visible_to(municipality))
            .map_or(0.0, |d| coverage_of(&wanted, total, &d.terms))
    }
}

/// A question's terms with how many entries contain each ([`Retriever::profile`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Each distinct term of the question.
    pub terms: Vec<TermProfile>,
    /// Number of entries in the index.
    pub entries: u32,
}

/// One term of a [`Profile`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TermProfile {
    /// The term, as analysed.
    pub term: String,
    /// Entries containing it or (when it has none) its rarest synonym; 0 when unknown.
    pub entries: u32,
    /// Whether some entry contains it, directly or through a synonym (numbers always count).
    pub known: bool,
}

/// The IDF-weighted share of the question's terms found in `terms` (an entry's sorted ids). A term that occurs in no entry (天気, 株価) has the highest IDF, so
/// questions about things the FAQ does not cover get a low coverage everywhere. A term also
/// counts as found when the entry has a word the synonym dictionary puts in its place.
fn coverage_of(wanted: &[Wanted], total: f32, terms: &[u32]) -> f32 {
    if total <= 0.0 {
        return 0.0;
    }
    let found: f32 = wanted
        .iter()
        .filter(|w| w.ids.iter().any(|id| terms.binary_search(id).is_ok()))
        .map(|w| w.idf)
        .sum();
    found / total
}

/// The sum of the weights of the text fields `e` has text in: what a term found in every one of
/// them would be weighted by.
fn field_weight(c: &SearchConfig, e: &Entry) -> f32 {
    [
        (c.question, !e.question.is_empty()),
        (c.alt_questions, !e.alt_questions.is_empty()),
        (c.answer, !e.answer.is_empty()),
        (c.category, !e.category.is_empty()),
        (c.tags, !e.tags.is_empty()),
    ]
    .iter()
    .filter(|(_, has)| *has)
    .map(|(w, _)| w.max(0.0))
    .sum()
}

/// Every word term an entry contains, over all its text fields; each text is analysed once. Words
/// of kanji are also filed under their reading in `by_reading`, and compounds of two or three
/// kanji nouns in a row under their abbreviation in `by_abbreviation` (with how many entries
/// have them), for [`Retriever::implied_words`].
fn entry_terms(
    analyzer: &Analyzer,
    e: &Entry,
    by_reading: &mut HashMap<String, BTreeSet<String>>,
    by_romaji: &mut HashMap<String, BTreeSet<String>>,
    by_abbreviation: &mut HashMap<String, BTreeMap<Vec<String>, u32>>,
) -> HashSet<String> {
    let mut abbreviations: HashMap<String, BTreeSet<Vec<String>>> = HashMap::new();
    let mut terms_of = |text: &str| -> Vec<String> {
        let mut out = Vec::new();
        let runs = analyzer.inspect_runs(text);
        let noun = |t: &analysis::Analysed| {
            t.pos.starts_with("名詞")
                && t.term.is_some()
                && t.surface.chars().count() >= 2
                && t.surface.chars().all(analysis::is_kanji)
        };
        for n in 2..=3 {
            let windows = runs.iter().flat_map(|r| r.windows(n));
            for w in windows.filter(|w| w.iter().all(noun)) {
                let key: String = w.iter().filter_map(|t| t.surface.chars().next()).collect();
                let words: Vec<String> = w.iter().filter_map(|t| t.term.clone()).collect();
                abbreviations.entry(key).or_default().insert(words);
            }
        }
        let written = |t: &analysis::Analysed| {
            t.pos.starts_with("名詞")
                && t.term.is_some()
                && t.surface
                    .chars()
                    .all(|c| analysis::is_kanji(c) || analysis::is_katakana(c))
        };
        for n in 1..=3 {
            for w in runs.iter().flat_map(|r| r.windows(n)) {
                if !w.iter().all(written) {
                    continue;
                }
                let reading: String = w.iter().map(|t| t.reading.as_str()).collect();
                let key = crate::romaji::loose(&reading);
                if key.chars().count() >= ROMAJI_MIN_KANA {
                    let slot = by_romaji.entry(key).or_default();
                    slot.extend(w.iter().filter_map(|t| t.term.clone()));
                }
            }
        }
        for tok in runs.into_iter().flatten() {
            let Some(term) = tok.term else { continue };
            let reading = plain_reading(&tok.reading);
            if reading.chars().count() >= 3
                && term.chars().count() >= 2
                && term.chars().all(analysis::is_kanji)
            {
                by_reading.entry(reading).or_default().insert(term.clone());
            }
            out.push(term);
        }
        out
    };
    let mut terms = HashSet::new();
    let texts = std::iter::once(&e.question)
        .chain(&e.alt_questions)
        .chain(std::iter::once(&e.answer))
        .chain(&e.category)
        .chain(&e.tags);
    for text in texts {
        terms.extend(terms_of(text));
    }
    for (key, compounds) in abbreviations {
        let slot = by_abbreviation.entry(key).or_default();
        for c in compounds {
            *slot.entry(c).or_insert(0) += 1;
        }
    }
    terms
}

/// Entry words a question implies without containing them.
#[derive(Debug, Default)]
pub struct Implied {
    /// Read from the question's reading ([`Retriever::implied_words`]).
    pub read: BTreeSet<String>,
    /// The words of a compound the question abbreviates.
    pub abbreviated: BTreeSet<String>,
}

/// The runs of two or three tokens of one kanji each (児|手, 保|検|料), as `start..end`; longer
/// runs are left alone.
fn single_kanji_runs(tokens: &[analysis::Analysed]) -> Vec<(usize, usize)> {
    let single = |t: &analysis::Analysed| {
        let mut chars = t.surface.chars();
        chars.next().is_some_and(analysis::is_kanji) && chars.next().is_none()
    };
    let mut runs = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let mut j = i;
        while j < tokens.len() && single(&tokens[j]) {
            j += 1;
        }
        if (2..=3).contains(&(j - i)) {
            runs.push((i, j));
        }
        i = j.max(i + 1);
    }
    runs
}

/// The fewest kana (long vowels dropped) of a reading that words in Latin letters are matched
/// with: shorter ones (かそ for 火葬, "kaso" a case in Tagalog) meet too many foreign words.
const ROMAJI_MIN_KANA: usize = 3;

/// The entry words a question in another language writes in Latin letters (its longest runs of
/// one to three words whose reading is an entry word's or compound's: "tennyu todoke", "juminhyo",
/// "kokumin kenko hoken").
fn romaji_words(by_romaji: &HashMap<String, BTreeSet<String>>, question: &str) -> BTreeSet<String> {
    let normalized = analysis::normalize(question);
    // Each word's readings, the likeliest first: one for a word in Latin letters, those of its
    // spellings for one in Devanagari (crate::devanagari), none for a word of neither.
    let words: Vec<Vec<String>> = normalized
        .split(|c: char| {
            !(c.is_alphabetic() || c == '\'' || c == '’' || crate::devanagari::is_devanagari(c))
        })
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.chars().any(crate::devanagari::is_devanagari) {
                crate::devanagari::spellings(w)
                    .iter()
                    .filter_map(|s| crate::romaji::kana(s))
                    .collect()
            } else {
                crate::romaji::kana(w).into_iter().collect()
            }
        })
        .collect();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < words.len() {
        let mut step = 1;
        for n in (1..=3).rev() {
            let Some(span) = words.get(i..i + n) else {
                continue;
            };
            // A word alone may be read any of its ways; words read together, each its likeliest.
            let readings: Vec<String> = if n == 1 {
                span[0].clone()
            } else {
                span.iter()
                    .map(|w| w.first().cloned())
                    .collect::<Option<String>>()
                    .into_iter()
                    .collect()
            };
            let terms = readings
                .iter()
                .find_map(|kana| by_romaji.get(&crate::romaji::loose(kana)));
            if let Some(terms) = terms {
                found.extend(terms.iter().cloned());
                step = n;
                break;
            }
        }
        i += step;
    }
    found
}

/// A reading without long-vowel marks, so まいなかーど meets まいなかど.
fn plain_reading(reading: &str) -> String {
    reading.chars().filter(|&c| c != 'ー').collect()
}

fn counts(terms: Vec<String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in terms {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}

/// Adds one weighted clause per distinct term; a term repeated in the question counts that
/// many times, as it would in a bag-of-words BM25 query.
fn add_terms(
    clauses: &mut Vec<(Occur, Box<dyn Query>)>,
    field: Field,
    boost: f32,
    terms: &BTreeMap<String, usize>,
) {
    for (term, &n) in terms {
        add_term(clauses, field, boost * n as f32, term);
    }
}

/// Adds one weighted term clause (nothing when the weight is not positive).
fn add_term(clauses: &mut Vec<(Occur, Box<dyn Query>)>, field: Field, weight: f32, term: &str) {
    if weight <= 0.0 {
        return;
    }
    let q = TermQuery::new(
        Term::from_field_text(field, term),
        IndexRecordOption::WithFreqs,
    );
    clauses.push((
        Occur::Should,
        Box::new(BoostQuery::new(Box::new(q), weight)),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::analyzer;
    use crate::faq::Corpus;

    fn entry(id: &str, scope: &str, q: &str, a: &str) -> Entry {
        Entry {
            id: id.into(),
            question: q.into(),
            alt_questions: vec![],
            answer: a.into(),
            category: vec![],
            tags: vec![],
            source_url: None,
            updated: None,
            scope: scope.into(),
            contact: None,
            hidden: false,
        }
    }

    fn retriever(entries: Vec<Entry>) -> Retriever {
        let corpus = Corpus::new(entries);
        let (index, manifest) = index::build_in_ram(&corpus, &analyzer()).unwrap();
        Retriever::new(index, manifest, analyzer(), SearchConfig::default()).unwrap()
    }

    /// The same index searched with other settings.
    fn reconfigured(r: &Retriever, config: SearchConfig) -> Retriever {
        Retriever::new(r.index.clone(), r.manifest.clone(), analyzer(), config).unwrap()
    }

    #[test]
    fn meaning_mixes_the_phrasings_with_the_answer_and_similarity_is_the_closest_text() {
        let r = retriever(sample());
        let c = &r.config;
        let q = [1.0, 0.0];
        // Question, one other phrasing, question + answer (cosines 0.6, 0.8, 0.5).
        let with_phrasing = [0.6, 0.8, 0.8, 0.6, 0.5, 0.866];
        let (meaning, similarity) = r.closeness(Cosines::of(&q, &with_phrasing), false);
        let expected = c.phrasing_share * 0.8 + (1.0 - c.phrasing_share) * 0.5;
        assert!((meaning - expected).abs() < 1e-6, "{meaning} {expected}");
        assert!((similarity - 0.8).abs() < 1e-6);
        // A question in another language: its own share.
        let (meaning, _) = r.closeness(Cosines::of(&q, &with_phrasing), true);
        let expected = c.foreign_phrasing_share * 0.8 + (1.0 - c.foreign_phrasing_share) * 0.5;
        assert!((meaning - expected).abs() < 1e-6, "{meaning} {expected}");
        // Question and question + answer only (cosines 0.6, 0.9): the question's share, and the
        // answer text is the closest.
        let question_only = [0.6, 0.8, 0.9, 0.436];
        let (meaning, similarity) = r.closeness(Cosines::of(&q, &question_only), false);
        let expected = c.question_share * 0.6 + (1.0 - c.question_share) * 0.9;
        assert!((meaning - expected).abs() < 1e-6, "{meaning} {expected}");
        assert!((similarity - 0.9).abs() < 1e-6);
        // No vectors (lexical only): nothing.
        assert_eq!(Cosines::of(&q, &[]), None);
        assert_eq!(r.closeness(None, false), (0.0, 0.0));
        // The cosines themselves, as `eval --hits` writes them.
        let cos = Cosines::of(&q, &with_phrasing).unwrap();
        assert!((cos.question - 0.6).abs() < 1e-6 && (cos.answer - 0.5).abs() < 1e-6);
        assert!((cos.phrasing.unwrap() - 0.8).abs() < 1e-6);
        assert_eq!(Cosines::of(&q, &question_only).unwrap().phrasing, None);
        assert!(c.phrasing_share != c.question_share);
    }

    /// Asserts that the words of `question` written in another script read as each of `terms`.
    fn assert_reads(r: &Retriever, question: &str, terms: &[&str]) {
        let found = romaji_words(&r.by_romaji, question);
        for w in terms {
            assert!(found.contains(*w), "{question}: {w}: {found:?}");
        }
    }

    #[test]
    fn japanese_words_in_latin_letters_are_read_as_entry_words() {
        let r = retriever(sample());
        let words = |q: &str| romaji_words(&r.by_romaji, q);
        let juminhyo = "Can I print my juminhyo at the konbini on weekends?";
        assert_reads(&r, juminhyo, &["住民", "票", "こんびに"]);
        // Three words in a row, and another spelling of the long vowels.
        let kokuho = "how late can I pay kokumin kenkou hoken";
        assert_reads(&r, kokuho, &["国民", "健康", "保険"]);
        assert_eq!(words("Zyuuminhyou, please"), words("juminhyo please"));
        // English, and Japanese words no entry has.
        assert!(words("How do I renew the card?").is_empty());
        assert!(words("where is the sushi shop").is_empty());
    }

    #[test]
    fn japanese_words_in_devanagari_are_read_as_entry_words() {
        let r = retriever(sample());
        // "Can I get a juminhyo from the konbini? What do I need?", the postposition बाट
        // ("from") written onto コンビニ.
        let juminhyo = "कोन्बिनीबाट जुमिनह्यो निकाल्न मिल्छ? के के चाहिन्छ?";
        assert_reads(&r, juminhyo, &["住民", "票", "こんびに"]);
        // Words read together (国民健康保険), the last with मा ("in") written onto it.
        let kokuho = "कोकुमिन केन्को होकेनमा जोडिनुपर्छ?";
        assert_reads(&r, kokuho, &["国民", "健康", "保険"]);
        // Nepali words alone ("I don't know where I have to go") read as no entry word.
        assert!(romaji_words(&r.by_romaji, "मलाई थाहा छैन, कहाँ जानुपर्छ?").is_empty());
    }

    fn sample() -> Vec<Entry> {
        vec![
            entry(
                "card-1",
                NATIONAL,
                "マイナンバーカードの電子証明書の更新はどうすればいいですか",
                "市区町村の窓口で更新します。",
            ),
            entry(
                "juminhyo-1",
                NATIONAL,
                "住民票の写しをコンビニで取得できますか",
                "マイナンバーカードがあれば取得できます。",
            ),
            entry(
                "gomi-1",
                NATIONAL,
                "粗大ごみの収集を申し込みたい",
                "お住まいの市区町村にお問い合わせください。",
            ),
            entry(
                "gomi-1",
                "999008",
                "粗大ごみの収集を申し込みたい",
                "町役場の環境課へ電話してください。",
            ),
            entry(
                "kokuho-1",
                NATIONAL,
                "国民健康保険料の支払いが遅れた場合はどうなりますか",
                "延滞金がかかることがあります。",
            ),
        ]
    }

    #[test]
    fn words_typed_by_their_reading_find_the_entry() {
        let r = retriever(vec![
            entry(
                "inkan-1",
                NATIONAL,
                "実印の登録に必要なものは何ですか",
                "登録する印鑑と本人確認書類を持って窓口へお越しください。",
            ),
            entry(
                "kokuho-1",
                NATIONAL,
                "国民健康保険料の計算方法を教えてください",
                "所得割と均等割の合計です。",
            ),
            entry(
                "gomi-1",
                NATIONAL,
                "粗大ごみの収集を申し込みたい",
                "お住まいの市区町村にお問い合わせください。",
            ),
        ]);
        let top = |q: &str| {
            let hits = r.search(q, 3, None).unwrap();
            (
                hits.first().map(|h| h.entry.id.clone()),
                hits.first().map(|h| h.coverage),
            )
        };
        // Typed in hiragana: the dictionary splits じついん into fragments.
        let (id, coverage) = top("じついん とうろく");
        assert_eq!(id.as_deref(), Some("inkan-1"));
        assert!(coverage.unwrap() > 0.5, "{coverage:?}");
        // A kana-kanji conversion slip: 保検 for 保険.
        assert_eq!(top("国民健康保検料の計算").0.as_deref(), Some("kokuho-1"));

        let found = r.prepare("保検料", None).2.read;
        assert!(found.contains("保険"), "{found:?}");

        // Off: the same questions find nothing of the kind.
        let off = reconfigured(
            &r,
            SearchConfig {
                reading_weight: 0.0,
                ..SearchConfig::default()
            },
        );
        let hits = off.search("じついん とうろく", 3, None).unwrap();
        assert!(hits.iter().all(|h| h.entry.id != "inkan-1"), "{hits:?}");
    }

    #[test]
    fn an_abbreviation_implies_the_compound_it_shortens() {
        let r = retriever(vec![
            entry(
                "jidoteate-1",
                NATIONAL,
                "児童手当はいつ振り込まれますか",
                "6月、10月、2月に振り込みます。",
            ),
            entry(
                "nenkin-1",
                NATIONAL,
                "国民年金の保険料を前納すると割引がありますか",
                "前納すると割り引かれます。",
            ),
        ]);
        let (_, _, implied) = r.prepare("児手 いつ", None);
        assert_eq!(
            implied
                .abbreviated
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["児童", "手当"]
        );
        let hits = r.search("国年 前払い", 1, None).unwrap();
        assert_eq!(hits[0].entry.id, "nenkin-1");
        // 児|手 now counts as found, so the entry covers the question.
        let hits = r.search("児手 いつ", 1, None).unwrap();
        assert_eq!(hits[0].entry.id, "jidoteate-1");
        assert!(hits[0].coverage > 0.9, "{}", hits[0].coverage);
    }

    #[test]
    fn a_kanji_word_is_not_read_as_another_word() {
        // 先週 (せんしゅう) is what the resident wrote; the entry's 専修 must not stand in.
        let r = retriever(vec![entry(
            "school-1",
            NATIONAL,
            "専修学校の入学金の補助はありますか",
            "条件を満たす世帯に補助があります。",
        )]);
        assert!(r.prepare("先週の申請", None).2.read.is_empty());
    }

    #[test]
    fn japanese_question_without_spaces_finds_its_entry() {
        let r = retriever(sample());
        let hits = r.search("マイナンバーカードを更新したい", 3, None).unwrap();
        assert_eq!(hits[0].entry.id, "card-1");
        let hits = r.search("コンビニで住民票をとりたい", 3, None).unwrap();
        assert_eq!(hits[0].entry.id, "juminhyo-1");
    }

    #[test]
    fn municipality_sees_its_override_and_others_see_national() {
        let r = retriever(sample());
        let national = r.search("粗大ごみ", 5, None).unwrap();
        assert_eq!(national[0].entry.scope, NATIONAL);
        let local = r.search("粗大ごみ", 5, Some("999008")).unwrap();
        assert_eq!(local[0].entry.scope, "999008");
        assert!(
            local
                .iter()
                .all(|h| !(h.entry.id == "gomi-1" && h.entry.is_national()))
        );
    }

    #[test]
    fn unknown_municipality_names_the_known_ones() {
        let r = retriever(sample());
        let err = r.search("ごみ", 5, Some("123456")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown municipality '123456'; known: 999008"
        );
    }

    #[test]
    fn stop_words_only_and_empty_questions_return_nothing() {
        let r = retriever(sample());
        assert!(r.search("", 5, None).unwrap().is_empty());
        assert!(r.search("の、は。", 5, None).unwrap().is_empty());
    }

    #[test]
    fn a_question_word_for_word_one_entrys_phrasing_puts_that_entry_first() {
        let mut short = entry(
            "short",
            NATIONAL,
            "転出の届出の期限",
            "引越しの日から14日以内です。",
        );
        short.alt_questions = vec!["転出届 いつまで".into()];
        let long = entry(
            "long",
            NATIONAL,
            "転出届はいつまでに出しますか。転出届の期限はいつまでですか。",
            "転出届は、いつまでに出すか決まっています。転出届はいつまででも出せるわけではありません。",
        );
        let r = retriever(vec![short.clone(), long.clone()]);
        let ids =
            |hits: &[Hit]| -> Vec<String> { hits.iter().map(|h| h.entry.id.clone()).collect() };
        // By its words, the longer entry ranks first ...
        let near = r.search("転出届はいつまで", 5, None).unwrap();
        assert_eq!(ids(&near), ["long", "short"]);
        assert!(near.iter().all(|h| !h.own_phrasing));
        // ... but the other's phrasing, typed with other spaces, width and punctuation, puts
        // that one first, marked; the ranking scores stay as they were.
        for typed in ["転出届 いつまで", "転出届　いつまで？", "転出届いつまで"]
        {
            let hits = r.search(typed, 5, None).unwrap();
            assert_eq!(ids(&hits), ["short", "long"], "{typed}");
            assert!(hits[0].own_phrasing && !hits[1].own_phrasing, "{typed}");
            assert!(hits[0].ranking < hits[1].ranking, "{typed}");
        }
        // A phrasing two entries share marks neither.
        let mut twin = long;
        twin.alt_questions = vec!["転出届いつまで".into()];
        let r = retriever(vec![short, twin]);
        let hits = r.search("転出届 いつまで", 5, None).unwrap();
        assert_eq!(hits.len(), 2);
        assert!(hits.iter().all(|h| !h.own_phrasing));
    }

    #[test]
    fn the_first_hit_is_agreed_only_when_both_legs_put_it_first() {
        let hit = |id: &str, score: f32, meaning: f32| Hit {
            entry: Arc::new(entry(id, NATIONAL, "質問", "答え")),
            score,
            coverage: 1.0,
            evidence: 1.0,
            unknown: 0.0,
            similarity: meaning,
            meaning,
            ranking: score + 480.0 * meaning,
            foreign: false,
            cosines: None,
            own_phrasing: false,
            agreed: false,
        };
        let agreed = |mut hits: Vec<Hit>| {
            mark_agreement(&mut hits);
            hits.iter().map(|h| h.agreed).collect::<Vec<_>>()
        };
        // (words, meaning) of the first and of the second hit, and whether the first agrees.
        for (first, second, agrees, why) in [
            (
                (10.0, 0.92),
                (8.0, 0.90),
                true,
                "first by words and by meaning",
            ),
            (
                (10.0, 0.92),
                (10.0, 0.92),
                true,
                "a tie in either still agrees",
            ),
            (
                (10.0, 0.92),
                (12.0, 0.90),
                false,
                "another has more of the words",
            ),
            (
                (10.0, 0.92),
                (5.0, 0.93),
                false,
                "another is nearer in meaning",
            ),
            (
                (10.0, 0.0),
                (5.0, 0.0),
                false,
                "no meaning: the semantic leg off",
            ),
        ] {
            let hits = vec![hit("a", first.0, first.1), hit("b", second.0, second.1)];
            assert_eq!(agreed(hits), [agrees, false], "{why}");
        }
        assert_eq!(agreed(Vec::new()), Vec::<bool>::new());
    }

    #[test]
    fn ties_are_broken_by_id() {
        let same = "児童手当の申請";
        let r = retriever(vec![
            entry("c", NATIONAL, same, "同じ"),
            entry("a", NATIONAL, same, "同じ"),
            entry("b", NATIONAL, same, "同じ"),
        ]);
        let ids: Vec<String> = r
            .search("児童手当", 2, None)
            .unwrap()
            .iter()
            .map(|h| h.entry.id.clone())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
