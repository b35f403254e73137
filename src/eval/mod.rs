//! Offline evaluation: runs labelled queries through exactly the path that serves residents
//! ([`chat::plan`], the deciding part of every conversation turn) and scores rankings and
//! decisions; [`conversations`] replays whole conversations through [`chat::turn`].
//!
//! Queries with no relevant judgement are *out of scope*: IR metrics average over in-scope
//! queries only, while decision metrics use both (an out-of-scope query should fall back).

pub mod conversations;
pub mod data;
pub mod metrics;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use crate::answer::Table;
use crate::answer::{self, Decision, DecisionConfig, Signals};
use crate::chat;
use crate::engine::Engine;
use crate::retrieve::Retriever;
use data::{Qrels, Query};
use metrics::QueryMetrics;

/// Hits kept per query in the run file and for AP.
pub const RUN_DEPTH: usize = 100;

/// The outcome of one query.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// Query id.
    pub qid: String,
    /// Query text.
    pub text: String,
    /// Municipality asked as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    /// Relevant entry ids with their grades.
    pub relevant: BTreeMap<String, i32>,
    /// Ranked (id, score), up to [`RUN_DEPTH`].
    pub ranked: Vec<(String, f32)>,
    /// The same hits with what each leg saw in them (`madoguchi eval --hits`); empty unless
    /// [`run`] was asked for them.
    #[serde(skip)]
    pub hits: Vec<HitSignals>,
    /// 1-based rank of the first relevant entry.
    pub first_relevant_rank: Option<usize>,
    /// The signals the decision read.
    pub signals: Signals,
    /// The service's decision.
    pub decision: Decision,
    /// Whether the decision was right (see [`decision_correct`]).
    pub decision_correct: bool,
    /// IR metrics (zeros for out-of-scope queries).
    pub metrics: QueryMetrics,
    /// Time for search + decision, microseconds: the median of the timed passes (after a
    /// warm-up pass).
    pub latency_us: f64,
    /// Every timed pass's time, microseconds (the latency percentiles are taken over these).
    #[serde(skip)]
    pub latency_samples_us: Vec<f64>,
    /// What the LLM made of an answer decision (`eval --llm-url`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generation: Option<Generation>,
}

/// One ranked hit with the signals of both legs, as `madoguchi eval --hits` writes them: what
/// a different combination of the legs (a re-scoring) can be measured on without the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HitSignals {
    /// Entry id.
    pub id: String,
    /// [`Hit::ranking`](crate::retrieve::Hit::ranking): what the hits are ordered by.
    pub ranking: f32,
    /// The lexical score ([`Hit::score`](crate::retrieve::Hit::score)).
    pub score: f32,
    /// [`Hit::coverage`](crate::retrieve::Hit::coverage).
    pub coverage: f32,
    /// [`Hit::evidence`](crate::retrieve::Hit::evidence).
    pub evidence: f32,
    /// [`Hit::meaning`](crate::retrieve::Hit::meaning).
    pub meaning: f32,
    /// [`Hit::similarity`](crate::retrieve::Hit::similarity).
    pub similarity: f32,
    /// The cosines with the entry's texts; absent when the semantic leg did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosines: Option<crate::retrieve::Cosines>,
    /// Whether the question was ranked as one in another language.
    pub foreign: bool,
}

impl HitSignals {
    fn of(h: &crate::retrieve::Hit) -> HitSignals {
        HitSignals {
            id: h.entry.id.clone(),
            ranking: h.ranking,
            score: h.score,
            coverage: h.coverage,
            evidence: h.evidence,
            meaning: h.meaning,
            similarity: h.similarity,
            cosines: h.cosines,
            foreign: h.foreign,
        }
    }
}

/// One query's LLM outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The answer passed the checks and would be shown.
    pub generated: bool,
    /// Why not ([`crate::llm::LlmError::label`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Ids the raw text cites.
    pub cited: Vec<String>,
    /// Every cited id was among the entries given (None when no text came back).
    pub cited_subset: Option<bool>,
    /// A relevant entry is cited (None for out-of-scope queries or no text).
    pub gold_cited: Option<bool>,
    /// Time taken, milliseconds.
    pub latency_ms: f64,
    /// The text the endpoint returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Generation quality over the queries that reached the LLM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationMetrics {
    /// Answer decisions sent to the LLM.
    pub attempted: usize,
    /// Share of them whose answer passed the checks.
    pub generated_rate: f64,
    /// Share that fell back to the FAQ answer.
    pub fallback_rate: f64,
    /// Share of returned texts whose citations were all among the entries given.
    pub citation_subset_rate: Option<f64>,
    /// Share of in-scope returned texts that cite a relevant entry.
    pub gold_cited_rate: Option<f64>,
    /// Reasons for falling back, counted.
    pub errors: BTreeMap<String, usize>,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile latency, milliseconds.
    pub p95_ms: f64,
}

/// Aggregates the [`Generation`]s of `results`.
pub fn generation_metrics(results: &[QueryResult]) -> Option<GenerationMetrics> {
    let gens: Vec<&Generation> = results
        .iter()
        .filter_map(|r| r.generation.as_ref())
        .collect();
    if gens.is_empty() {
        return None;
    }
    let n = gens.len() as f64;
    let ok = gens.iter().filter(|g| g.generated).count() as f64;
    let rate = |vals: Vec<bool>| {
        (!vals.is_empty()).then(|| vals.iter().filter(|&&b| b).count() as f64 / vals.len() as f64)
    };
    let mut errors = BTreeMap::new();
    for g in &gens {
        if let Some(e) = &g.error {
            *errors.entry(e.clone()).or_insert(0) += 1;
        }
    }
    let mut lat: Vec<f64> = gens.iter().map(|g| g.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    Some(GenerationMetrics {
        attempted: gens.len(),
        generated_rate: ok / n,
        fallback_rate: 1.0 - ok / n,
        citation_subset_rate: rate(gens.iter().filter_map(|g| g.cited_subset).collect()),
        gold_cited_rate: rate(gens.iter().filter_map(|g| g.gold_cited).collect()),
        errors,
        p50_ms: pct(0.5),
        p95_ms: pct(0.95),
    })
}

/// Sends every answer decision of `results` to the LLM, as the service would (masked question,
/// the top entries), and records what came back.
pub async fn generate(
    results: &mut [QueryResult],
    retriever: &Retriever,
    llm: &crate::llm::LlmClient,
) {
    let k = llm.config().entries.max(1);
    let progress = Progress::new(results.len());
    for (i, r) in results.iter_mut().enumerate() {
        progress.tick(i + 1);
        if r.decision != Decision::Answer {
            continue;
        }
        let entries: Vec<std::sync::Arc<crate::faq::Entry>> = r
            .ranked
            .iter()
            .take(k)
            .filter_map(|(id, _)| retriever.entry(id, r.municipality.as_deref()))
            .collect();
        let refs: Vec<&crate::faq::Entry> = entries.iter().map(|e| e.as_ref()).collect();
        let question = crate::mask::mask_str(&r.text);
        let a = llm.attempt(&question, &refs, &[]).await;
        let cited = a
            .raw
            .as_deref()
            .map(crate::llm::citations)
            .unwrap_or_default();
        let given: std::collections::BTreeSet<&str> = refs.iter().map(|e| e.id.as_str()).collect();
        r.generation = Some(Generation {
            generated: a.result.is_ok(),
            error: a.result.as_ref().err().map(|e| e.label().to_owned()),
            cited_subset: a
                .raw
                .as_ref()
                .map(|_| cited.iter().all(|c| given.contains(c.as_str()))),
            gold_cited: (a.raw.is_some() && !r.relevant.is_empty())
                .then(|| cited.iter().any(|c| r.relevant.contains_key(c))),
            cited,
            latency_ms: a.elapsed.as_secs_f64() * 1e3,
            text: a.raw,
        });
    }
    progress.done();
}

impl QueryResult {
    /// Whether any entry is relevant.
    pub fn in_scope(&self) -> bool {
        !self.relevant.is_empty()
    }

    /// The decision under other thresholds: the same signals decided again (rankings do not
    /// change). Small talk is recognised before any threshold applies, so it stays.
    pub fn decide_with(&self, c: &DecisionConfig) -> Decision {
        if self.decision == Decision::SmallTalk {
            Decision::SmallTalk
        } else {
            answer::decide_signals(self.signals, c)
        }
    }
}

/// Whether a decision is right: an in-scope query is answered with a relevant first hit, or gets
/// candidates that include a relevant entry; an out-of-scope query falls back.
pub fn decision_correct(
    decision: Decision,
    in_scope: bool,
    first_rank: Option<usize>,
    c: &DecisionConfig,
) -> bool {
    match (in_scope, decision) {
        // A courteous reply to an out-of-scope greeting gives no wrong entry either.
        (false, d) => matches!(d, Decision::Fallback | Decision::SmallTalk),
        (true, Decision::Answer) => first_rank == Some(1),
        (true, Decision::Candidates) => first_rank.is_some_and(|r| r <= c.max_candidates),
        (true, Decision::Fallback | Decision::SmallTalk) => false,
    }
}

/// Runs every query and scores it: a warm-up pass, then `timed_passes` timed passes over all
/// queries (at least one; the results come from the first, since the search is deterministic),
/// as the peers' harness in `../shared/peers` times them. With the semantic leg, every timed
/// pass starts with an empty cache of question vectors, so each timed search embeds its
/// question, as a question never asked before would be. `with_hits` keeps each query's hits
/// with their signals ([`QueryResult::hits`]); without it they are not copied, nor cloned
/// with the results by the calibration.
pub fn run(
    engine: &Engine,
    queries: &[Query],
    qrels: &Qrels,
    decision: &DecisionConfig,
    timed_passes: usize,
    with_hits: bool,
) -> Result<Vec<QueryResult>> {
    let first_turn = |q: &Query| {
        chat::plan(
            engine,
            decision,
            &q.text,
            q.municipality.as_deref(),
            &[],
            RUN_DEPTH,
        )
    };
    for q in queries {
        first_turn(q)?;
    }
    let progress = Progress::new(queries.len());
    let mut out = Vec::with_capacity(queries.len());
    engine.retriever.forget_queries();
    for (i, q) in queries.iter().enumerate() {
        let start = Instant::now();
        let plan = first_turn(q)?;
        let latency_us = start.elapsed().as_secs_f64() * 1e6;
        let (hits, d) = (plan.hits, plan.decision);
        let relevant: BTreeMap<String, i32> = qrels
            .get(&q.qid)
            .map(|r| {
                r.iter()
                    .filter(|(_, g)| **g > 0)
                    .map(|(k, g)| (k.clone(), *g))
                    .collect()
            })
            .unwrap_or_default();
        let ranked: Vec<(String, f32)> = hits
            .iter()
            .map(|h| (h.entry.id.clone(), h.ranking))
            .collect();
        let ids: Vec<String> = ranked.iter().map(|(id, _)| id.clone()).collect();
        let rel_map = relevant.clone().into_iter().collect();
        let first = metrics::first_relevant_rank(&rel_map, &ids);
        let in_scope = !relevant.is_empty();
        out.push(QueryResult {
            qid: q.qid.clone(),
            text: q.text.clone(),
            municipality: q.municipality.clone(),
            metrics: metrics::score(&rel_map, &ids),
            relevant,
            ranked,
            hits: if with_hits {
                hits.iter().map(HitSignals::of).collect()
            } else {
                Vec::new()
            },
            first_relevant_rank: first,
            signals: plan.signals,
            decision: d,
            decision_correct: decision_correct(d, in_scope, first, decision),
            latency_us,
            latency_samples_us: vec![latency_us],
            generation: None,
        });
        progress.tick(i + 1);
    }
    progress.done();
    for _ in 1..timed_passes {
        engine.retriever.forget_queries();
        for (q, r) in queries.iter().zip(&mut out) {
            let start = Instant::now();
            std::hint::black_box(first_turn(q)?);
            r.latency_samples_us
                .push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    for r in &mut out {
        let mut v = r.latency_samples_us.clone();
        v.sort_by(f64::total_cmp);
        r.latency_us = v[v.len() / 2];
    }
    Ok(out)
}

/// Decision quality over a set of results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionMetrics {
    /// Share of queries whose decision was right.
    pub accuracy: f64,
    /// Share of direct answers whose entry was relevant (answers to out-of-scope queries are wrong).
    pub answer_accuracy: Option<f64>,
    /// Wrong direct answers over all queries.
    pub false_answer_rate: f64,
    /// Share of fallbacks that were on out-of-scope queries.
    pub fallback_precision: Option<f64>,
    /// Share of out-of-scope queries that fell back.
    pub fallback_recall: Option<f64>,
    /// Harmonic mean of fallback precision and recall.
    pub fallback_f1: Option<f64>,
    /// Share of in-scope queries sent to fallback.
    pub in_scope_fallback_rate: f64,
    /// Mean [`utility`] of the decisions, the objective `--calibrate` maximises (absent from
    /// metrics files written before it was reported).
    #[serde(default)]
    pub utility: f64,
    /// Count of each decision.
    pub counts: BTreeMap<String, usize>,
}

/// Computes decision metrics; `config` supplies the candidate list length the utility needs.
pub fn decision_metrics(results: &[QueryResult], config: &DecisionConfig) -> DecisionMetrics {
    let n = results.len().max(1) as f64;
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let answers: Vec<&QueryResult> = results
        .iter()
        .filter(|r| r.decision == Decision::Answer)
        .collect();
    let right_answers = answers.iter().filter(|r| r.decision_correct).count();
    let fallbacks = results.iter().filter(|r| r.decision == Decision::Fallback);
    let n_fallback = fallbacks.clone().count();
    let oos_fallback = fallbacks.filter(|r| !r.in_scope()).count();
    let n_oos = results.iter().filter(|r| !r.in_scope()).count();
    let n_in = results.len() - n_oos;
    let precision = ratio(oos_fallback, n_fallback);
    let recall = ratio(oos_fallback, n_oos);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    let mut counts = BTreeMap::new();
    for r in results {
        *counts.entry(r.decision.as_str().to_owned()).or_insert(0) += 1;
    }
    DecisionMetrics {
        accuracy: results.iter().filter(|r| r.decision_correct).count() as f64 / n,
        answer_accuracy: ratio(right_answers, answers.len()),
        false_answer_rate: (answers.len() - right_answers) as f64 / n,
        fallback_precision: precision,
        fallback_recall: recall,
        fallback_f1: f1,
        in_scope_fallback_rate: ratio(n_fallback - oos_fallback, n_in).unwrap_or(0.0),
        utility: results
            .iter()
            .map(|r| utility(r.decision, r.in_scope(), r.first_relevant_rank, config))
            .sum::<f64>()
            / n,
        counts,
    }
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// Nearest-rank percentiles over every timed search (each query's every pass).
pub fn latency(results: &[QueryResult]) -> Latency {
    let mut v: Vec<f64> = results
        .iter()
        .flat_map(|r| {
            if r.latency_samples_us.is_empty() {
                std::slice::from_ref(&r.latency_us)
            } else {
                &r.latency_samples_us[..]
            }
        })
        .map(|us| us / 1000.0)
        .collect();
    if v.is_empty() {
        return Latency::default();
    }
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Latency {
        p50_ms: pct(50.0),
        p95_ms: pct(95.0),
        p99_ms: pct(99.0),
        mean_ms: v.iter().sum::<f64>() / v.len() as f64,
    }
}

/// The metrics file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// IR metrics averaged over in-scope queries.
    pub metrics: QueryMetrics,
    /// Decision metrics over all queries.
    pub decision: DecisionMetrics,
    /// The decisions cross-validated (`eval --calibrate --folds K`): the figure to expect on
    /// queries the calibration never saw.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision_cross_validated: Option<CrossValidated>,
    /// Query counts.
    pub queries: Counts,
    /// Per-query latency of search + decision.
    pub latency: Latency,
    /// LLM generation metrics (`eval --llm-url`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generation: Option<GenerationMetrics>,
    /// What produced these numbers.
    pub fingerprint: serde_json::Value,
}

/// Query counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    /// All queries.
    pub total: usize,
    /// With at least one relevant entry.
    pub in_scope: usize,
    /// Without.
    pub out_of_scope: usize,
}

/// Builds the report; `config` is the decision configuration the results were decided with.
pub fn report(
    results: &[QueryResult],
    config: &DecisionConfig,
    fingerprint: serde_json::Value,
) -> Report {
    let in_scope: Vec<QueryMetrics> = results
        .iter()
        .filter(|r| r.in_scope())
        .map(|r| r.metrics)
        .collect();
    Report {
        metrics: QueryMetrics::mean(&in_scope),
        decision: decision_metrics(results, config),
        decision_cross_validated: None,
        queries: Counts {
            total: results.len(),
            in_scope: in_scope.len(),
            out_of_scope: results.len() - in_scope.len(),
        },
        latency: latency(results),
        generation: generation_metrics(results),
        fingerprint,
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"))
}

/// The compact terminal table.
pub fn table(r: &Report) -> String {
    let m = r.metrics.values();
    let mut s = format!(
        "queries {} (in scope {}, out of scope {})\n",
        r.queries.total, r.queries.in_scope, r.queries.out_of_scope
    );
    // Which legs ran (the engine's semantic status, kept in the fingerprint).
    let semantic = &r.fingerprint["semantic"];
    match semantic["state"].as_str() {
        Some("on") => {
            s += &format!(
                "legs: lexical + semantic ({}, {} entry texts)\n",
                semantic["model"].as_str().unwrap_or("?"),
                semantic["texts"]
            )
        }
        Some("off") => s += "legs: lexical only ([search] semantic_weight = 0)\n",
        Some(_) => {
            s += &format!(
                "legs: lexical only (semantic leg unavailable: {})\n",
                semantic["reason"].as_str().unwrap_or("?")
            )
        }
        None => {}
    }
    s += &format!(
        "| {} |\n|{}\n",
        metrics::NAMES.join(" | "),
        "---:|".repeat(7)
    );
    s += &format!("| {} |\n", m.map(|x| format!("{x:.3}")).join(" | "));
    let line = |d: &DecisionMetrics| {
        format!(
            "{:?}: accuracy {:.3}, answer accuracy {}, false answers {:.3}, fallback P/R/F1 {}/{}/{}, in-scope fallback {:.3}, mean utility {:.3}\n",
            d.counts,
            d.accuracy,
            opt(d.answer_accuracy),
            d.false_answer_rate,
            opt(d.fallback_precision),
            opt(d.fallback_recall),
            opt(d.fallback_f1),
            d.in_scope_fallback_rate,
            d.utility
        )
    };
    if let Some(cv) = &r.decision_cross_validated {
        s += &format!(
            "decisions, {}-fold cross-validated {}",
            cv.folds,
            line(&cv.decisions)
        );
        s += &format!(
            "decisions, in sample (the thresholds in force after calibrating) {}",
            line(&r.decision)
        );
    } else {
        s += &format!("decisions {}", line(&r.decision));
    }
    s += &format!(
        "latency per query: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms\n",
        r.latency.p50_ms, r.latency.p95_ms, r.latency.p99_ms
    );
    if let Some(g) = &r.generation {
        s += &format!(
            "LLM: {} answers sent, {:.3} generated, {:.3} fell back {:?}; citations within retrieved {}, relevant entry cited {}; p50 {:.0} ms, p95 {:.0} ms\n",
            g.attempted,
            g.generated_rate,
            g.fallback_rate,
            g.errors,
            opt(g.citation_subset_rate),
            opt(g.gold_cited_rate),
            g.p50_ms,
            g.p95_ms
        );
    }
    s
}

/// Markdown for FAQ editors: the misses, grouped by kind.
pub fn failures_markdown(results: &[QueryResult]) -> String {
    let title = |id: &str| id.to_owned();
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in results {
        let top: Vec<String> = r
            .ranked
            .iter()
            .take(3)
            .map(|(id, s)| format!("{} ({s:.2})", title(id)))
            .collect();
        let rel: Vec<&String> = r.relevant.keys().collect();
        let line = format!(
            "- `{}` {} — decision **{}**, coverage {:.2}; top: {}; relevant: {:?}",
            r.qid,
            r.text,
            r.decision.as_str(),
            r.signals.coverage,
            top.join(", "),
            rel
        );
        let kind = match (r.in_scope(), r.first_relevant_rank, r.decision) {
            (false, _, Decision::Answer) => "False answer on an out-of-scope query",
            (false, _, Decision::Candidates) => "Candidates offered on an out-of-scope query",
            (true, None, _) | (true, Some(6..), _) => "Relevant entry not in the top 5",
            (true, Some(2..=5), _) => "Wrong entry first (relevant in the top 5)",
            (true, Some(_), Decision::Fallback) => "False fallback (relevant entry ranked first)",
            (true, Some(_), Decision::SmallTalk) => {
                "Taken for small talk (relevant entry ranked first)"
            }
            _ => continue,
        };
        groups.entry(kind).or_default().push(line);
    }
    let mut s = String::from("# Evaluation failures\n");
    for (kind, lines) in groups {
        s += &format!("\n## {kind} ({})\n\n{}\n", lines.len(), lines.join("\n"));
    }
    s
}

/// Utility of one decision, the objective `--calibrate` maximises (mean over queries). A wrong
/// direct answer costs more than an honest fallback earns, because a resident who is told
/// something wrong may act on it; candidates are worth less than a right answer, because the
/// resident has to choose.
pub fn utility(
    decision: Decision,
    in_scope: bool,
    first_rank: Option<usize>,
    c: &DecisionConfig,
) -> f64 {
    match (in_scope, decision) {
        (true, Decision::Answer) if first_rank == Some(1) => 1.0,
        (true, Decision::Answer) => -2.0,
        (true, Decision::Candidates) if first_rank.is_some_and(|r| r <= c.max_candidates) => 0.5,
        (true, Decision::Candidates) => -0.25,
        (true, Decision::Fallback | Decision::SmallTalk) => -0.5,
        (false, Decision::Fallback | Decision::SmallTalk) => 1.0,
        (false, Decision::Candidates) => -0.5,
        (false, Decision::Answer) => -2.0,
    }
}

/// What a calibration may not give up for utility: settings within both limits compete
/// first ([`calibrate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The largest share of in-scope questions that may be sent to fallback (a resident with
    /// an answerable question should rarely be turned away).
    pub max_in_scope_fallback: f64,
    /// The least share of direct answers whose entry is right (a resident told something wrong
    /// may act on it); 0 sets no limit.
    pub min_answer_precision: f64,
}

impl Limits {
    /// Only the fallback limit, at `max_in_scope_fallback`.
    pub fn fallback(max_in_scope_fallback: f64) -> Limits {
        Limits {
            max_in_scope_fallback,
            min_answer_precision: 0.0,
        }
    }
}

/// Grid search of the thresholds maximising mean [`utility`]; ties keep the earlier (stricter)
/// setting. The answer thresholds (with candidates_coverage) and the fallback thresholds
/// (evidence pair with candidates_coverage) are searched in turn, each grid with the other's
/// best values, until neither moves (at most four rounds): the full product of both grids would
/// take minutes. Evidence thresholds are tried at the observed top hits' evidence percentiles,
/// since its scale depends on the weights and the FAQ text. Once any setting is within the
/// [`Limits`] (at most `max_in_scope_fallback` of the in-scope queries sent to fallback, and
/// at least `min_answer_precision` of the direct answers right), only such settings compete.
/// When the semantic leg ran, its thresholds (fallback below a similarity, candidates or a
/// direct answer from one, the latter with the least margin it needs, and the other-language
/// threshold) are searched in a third step; under a precision limit the answer thresholds are
/// also searched with the legs' agreement required for a direct answer
/// ([`DecisionConfig::answer_needs_agreement`]).
/// Returns the best configuration and its utility.
pub fn calibrate(
    results: &[QueryResult],
    base: &DecisionConfig,
    limits: Limits,
) -> (DecisionConfig, f64) {
    let steps = |lo: f32, hi: f32, step: f32| {
        let n = ((hi - lo) / step).round() as usize;
        // Rounded to 1/1000 so that written thresholds read as 0.2, not 0.19999999.
        (0..=n).map(move |i| ((lo + step * i as f32) * 1000.0).round() / 1000.0)
    };
    let in_scope = results.iter().filter(|r| r.in_scope()).count().max(1) as f64;
    // Mean utility, and whether the setting is within the limits (no direct answer at all is
    // within the precision limit).
    let assess = |c: &DecisionConfig| -> (f64, bool) {
        let mut total = 0.0;
        let mut turned_away = 0usize;
        let (mut answers, mut right) = (0usize, 0usize);
        for r in results {
            let d = r.decide_with(c);
            total += utility(d, r.in_scope(), r.first_relevant_rank, c);
            turned_away += usize::from(r.in_scope() && d == Decision::Fallback);
            if d == Decision::Answer {
                answers += 1;
                right += usize::from(decision_correct(d, r.in_scope(), r.first_relevant_rank, c));
            }
        }
        let ok = turned_away as f64 / in_scope <= limits.max_in_scope_fallback + 1e-9
            && (answers == 0
                || right as f64 >= limits.min_answer_precision * answers as f64 - 1e-9);
        (total / results.len().max(1) as f64, ok)
    };
    let mut scores: Vec<f32> = results.iter().map(|r| r.signals.evidence).collect();
    scores.sort_by(f32::total_cmp);
    let mut evidence_scores = vec![0.0f32];
    if let Some(last) = scores.len().checked_sub(1) {
        for p in (2..=60).step_by(2) {
            // Rounded to 1/100 so that written values read as 2.35.
            let s = (scores[last * p / 100] * 100.0).round() / 100.0;
            if s > 0.0 && !evidence_scores.contains(&s) {
                evidence_scores.push(s);
            }
        }
    }
    // The semantic thresholds are searched only when the semantic leg ran (the foreign one
    // only when some questions were in another language).
    let semantic = results.iter().any(|r| r.signals.similarity > 0.0);
    let foreign = results.iter().any(|r| r.signals.foreign);
    let (base_utility, base_ok) = assess(base);
    let mut best = (base.clone(), base_utility);
    // Whether `best` respects the limit: once one setting does, only such settings compete.
    let mut best_ok = base_ok;
    let mut consider = |c: DecisionConfig, best: &mut (DecisionConfig, f64)| {
        let (u, ok) = assess(&c);
        let better = u > best.1 + 1e-12;
        if (ok && !best_ok) || ((ok || !best_ok) && better) {
            best_ok |= ok;
            *best = (c, u);
        }
    };
    for _ in 0..4 {
        let before = best.0.clone();
        let fixed = best.0.clone();
        // Under a precision limit with the semantic leg, the answer thresholds are searched
        // both without and with the agreement of the legs required for a direct answer: two
        // ways to precise answers, which searched one after the other would only ever tighten
        // each other. Without a limit it is left as it is: on the dev sets, utility alone never
        // gained by it held out, and lost on a FAQ without phrasings (docs/benchmarks.md).
        let agreement = if semantic && limits.min_answer_precision > 0.0 {
            vec![false, true]
        } else {
            vec![fixed.answer_needs_agreement]
        };
        for answer_needs_agreement in agreement {
            for answer_coverage in steps(0.3, 1.0, 0.025) {
                for answer_margin in steps(0.0, 0.4, 0.02) {
                    for answer_unknown in [0.0, 0.1, 0.2, 0.3, 0.5, 1.0] {
                        for candidates_coverage in steps(0.0, answer_coverage, 0.025) {
                            let c = DecisionConfig {
                                answer_coverage,
                                answer_margin,
                                answer_unknown,
                                candidates_coverage,
                                answer_needs_agreement,
                                ..fixed.clone()
                            };
                            consider(c, &mut best);
                        }
                    }
                }
            }
        }
        // Both ways to fall back compete, so candidates_coverage is searched again with them.
        let fixed = best.0.clone();
        for evidence_coverage in steps(0.0, 1.0, 0.05) {
            for &evidence_score in &evidence_scores {
                for candidates_coverage in steps(0.0, fixed.answer_coverage, 0.025) {
                    let c = DecisionConfig {
                        evidence_coverage,
                        evidence_score,
                        candidates_coverage,
                        ..fixed.clone()
                    };
                    consider(c, &mut best);
                }
            }
        }
        if semantic {
            // The semantic thresholds, at cosines from 0.70 to 1.00 (1.01: the rule is off).
            let sims: Vec<f32> = steps(0.7, 1.0, 0.01).collect();
            let fixed = best.0.clone();
            for &fallback_similarity in std::iter::once(&0.0).chain(&sims) {
                for &candidates_similarity in sims.iter().chain(&[1.01]) {
                    let c = DecisionConfig {
                        fallback_similarity,
                        candidates_similarity,
                        ..fixed.clone()
                    };
                    consider(c, &mut best);
                }
            }
            // Which questions low similarity may not turn away: the fallback similarity is
            // searched again with each, since the rule lets it rise.
            let fixed = best.0.clone();
            for fallback_coverage in steps(0.5, 1.0, 0.05).chain([1.01]) {
                for &fallback_similarity in std::iter::once(&0.0).chain(&sims) {
                    let c = DecisionConfig {
                        fallback_coverage,
                        fallback_similarity,
                        ..fixed.clone()
                    };
                    consider(c, &mut best);
                }
            }
            // A direct answer from the similarity, with the margin it needs (0 to 0.02).
            let fixed = best.0.clone();
            for &answer_similarity in sims.iter().chain(&[1.01]) {
                for answer_similarity_margin in steps(0.0, 0.02, 0.0025) {
                    let c = DecisionConfig {
                        answer_similarity,
                        answer_similarity_margin,
                        ..fixed.clone()
                    };
                    consider(c, &mut best);
                }
            }
            if foreign {
                let fixed = best.0.clone();
                for &foreign_similarity in std::iter::once(&0.0).chain(&sims) {
                    let c = DecisionConfig {
                        foreign_similarity,
                        ..fixed.clone()
                    };
                    consider(c, &mut best);
                }
            }
        }
        if best.0 == before {
            break;
        }
    }
    best
}

/// The fewest questions, and out-of-scope ones among them, that a table of the semantic leg
/// (`[decision.semantic]`, `[decision.semantic_question_only]`) is calibrated on. Fewer leave it
/// as it is: a handful of questions with a question-only top entry in a dev set whose entries
/// mostly have phrasings (or the reverse) would set it by chance, and with no out-of-scope
/// question at all the calibration can only learn never to fall back.
pub const SEMANTIC_TABLE_MIN: (usize, usize) = (50, 10);

/// What [`calibrate_tables`] did with one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCalibration {
    /// The table.
    pub table: Table,
    /// The questions it decides.
    pub questions: usize,
    /// Out-of-scope questions among them.
    pub out_of_scope: usize,
    /// The mean utility over its questions with the thresholds chosen; `None` when it was left
    /// as it was (no question, or for a table of the semantic leg fewer than
    /// [`SEMANTIC_TABLE_MIN`]).
    pub utility: Option<f64>,
}

/// Calibrates each table of `decision` that the mode decides with (`semantic`: whether the
/// semantic leg ran) on the questions it decides ([`Table::of`]: a question with no
/// similarity is decided by `[decision]` and calibrates neither; small talk, which no
/// threshold decides, is left out), each with [`calibrate`] (the share of in-scope questions
/// sent to fallback is limited within each table's questions). A table with no question, or
/// one of the semantic leg with fewer than [`SEMANTIC_TABLE_MIN`], is left as it is.
pub fn calibrate_tables(
    results: &[QueryResult],
    decision: &DecisionConfig,
    semantic: bool,
    limits: Limits,
) -> (DecisionConfig, Vec<TableCalibration>) {
    // Lexical only, every question is decided by `[decision]` (the semantic tables apply only
    // when the leg ran).
    let table_of = |r: &QueryResult| {
        if semantic {
            Table::of(&r.signals)
        } else {
            Table::Lexical
        }
    };
    let tables: &[Table] = if semantic {
        &[Table::Semantic, Table::QuestionOnly]
    } else {
        &[Table::Lexical]
    };
    let mut out = decision.clone();
    let mut report = Vec::with_capacity(tables.len());
    for &table in tables {
        let own: Vec<QueryResult> = results
            .iter()
            .filter(|r| r.decision != Decision::SmallTalk && table_of(r) == table)
            .cloned()
            .collect();
        let out_of_scope = own.iter().filter(|r| !r.in_scope()).count();
        let enough = match table {
            Table::Lexical => !own.is_empty(),
            Table::Semantic | Table::QuestionOnly => {
                own.len() >= SEMANTIC_TABLE_MIN.0 && out_of_scope >= SEMANTIC_TABLE_MIN.1
            }
        };
        let mut utility = None;
        if enough {
            let (best, u) = calibrate(&own, &table.get(decision), limits);
            table.set(&mut out, &best);
            utility = Some(u);
        }
        report.push(TableCalibration {
            table,
            questions: own.len(),
            out_of_scope,
            utility,
        });
    }
    (out, report)
}

/// What [`cross_validate`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidated {
    /// Number of folds.
    pub folds: usize,
    /// The decisions of every query under the thresholds calibrated without its fold, pooled.
    pub decisions: DecisionMetrics,
    /// The thresholds each fold's calibration chose (how stable the choice is): every table.
    pub chosen: Vec<DecisionConfig>,
}

/// K-fold cross-validation of [`calibrate_tables`]: the queries, in id order, are dealt into
/// `folds` folds (query i goes to fold i mod k); each fold is decided with the thresholds
/// calibrated on the others, and the held-out decisions are pooled into one set of
/// [`DecisionMetrics`]. This is the figure to expect on queries the calibration never saw; the
/// in-sample figure overstates it. `None` with fewer than two folds or fewer queries than
/// folds.
pub fn cross_validate(
    results: &[QueryResult],
    base: &DecisionConfig,
    semantic: bool,
    limits: Limits,
    folds: usize,
) -> Option<CrossValidated> {
    if folds < 2 || results.len() < folds {
        return None;
    }
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|&a, &b| results[a].qid.cmp(&results[b].qid));
    let mut fold_of = vec![0; results.len()];
    for (i, &at) in order.iter().enumerate() {
        fold_of[at] = i % folds;
    }
    let mut held_out: Vec<QueryResult> = Vec::with_capacity(results.len());
    let mut chosen = Vec::with_capacity(folds);
    for f in 0..folds {
        let train: Vec<QueryResult> = results
            .iter()
            .zip(&fold_of)
            .filter(|(_, k)| **k != f)
            .map(|(r, _)| r.clone())
            .collect();
        let (c, _) = calibrate_tables(&train, base, semantic, limits);
        for (r, _) in results.iter().zip(&fold_of).filter(|(_, k)| **k == f) {
            let mut r = r.clone();
            r.decision = r.decide_with(&c);
            r.decision_correct =
                decision_correct(r.decision, r.in_scope(), r.first_relevant_rank, &c);
            held_out.push(r);
        }
        chosen.push(c);
    }
    Some(CrossValidated {
        folds,
        decisions: decision_metrics(&held_out, base),
        chosen,
    })
}

/// Differences from a baseline report; `Err` lists regressions beyond `tolerance`.
pub fn compare(new: &Report, old: &Report, tolerance: f64) -> (String, Vec<String>) {
    let mut s = String::from("| metric | baseline | now | Δ |\n|---|---:|---:|---:|\n");
    for ((name, a), b) in metrics::NAMES
        .iter()
        .zip(old.metrics.values())
        .zip(new.metrics.values())
    {
        s += &format!("| {name} | {a:.3} | {b:.3} | {:+.3} |\n", b - a);
    }
    let (fo, fnew) = (old.decision.fallback_f1, new.decision.fallback_f1);
    s += &format!(
        "| fallback F1 | {} | {} | {} |\n",
        opt(fo),
        opt(fnew),
        match (fo, fnew) {
            (Some(a), Some(b)) => format!("{:+.3}", b - a),
            _ => "-".into(),
        }
    );
    let mut regressions = Vec::new();
    if old.metrics.success_1 - new.metrics.success_1 > tolerance {
        regressions.push(format!(
            "Success@1 dropped from {:.3} to {:.3}",
            old.metrics.success_1, new.metrics.success_1
        ));
    }
    if let (Some(a), Some(b)) = (fo, fnew)
        && a - b > tolerance
    {
        regressions.push(format!("fallback F1 dropped from {a:.3} to {b:.3}"));
    }
    (s, regressions)
}

/// SHA-256 of a file, or of the files of a dictionary directory's metadata and sizes.
pub fn dictionary_fingerprint(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    for p in names {
        h.update(
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        h.update(
            std::fs::metadata(&p)
                .map(|m| m.len())
                .unwrap_or(0)
                .to_le_bytes(),
        );
        if p.file_name().is_some_and(|n| n == "metadata.json") {
            h.update(std::fs::read(&p).unwrap_or_default());
        }
    }
    crate::index::hex(&h.finalize())
}

struct Progress {
    total: usize,
    show: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            show: total >= 50 && std::io::stderr().is_terminal(),
        }
    }

    fn tick(&self, done: usize) {
        if self.show && (done.is_multiple_of(10) || done == self.total) {
            let width = 30;
            let filled = done * width / self.total.max(1);
            eprint!(
                "\r[{}{}] {done}/{}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.total
            );
        }
    }

    fn done(&self) {
        if self.show {
            eprintln!();
        }
    }
}

/// Scores an existing TREC run against qrels, over every query with a relevant entry (a query
/// missing from the run scores 0, as in trec_eval). Returns the per-query metrics, sorted by
/// qid, and their mean.
pub fn score_run(
    run: &std::collections::HashMap<String, Vec<String>>,
    qrels: &Qrels,
) -> (BTreeMap<String, QueryMetrics>, QueryMetrics) {
    let per: BTreeMap<String, QueryMetrics> = qrels
        .iter()
        .filter(|(_, rels)| rels.values().any(|&r| r > 0))
        .map(|(qid, rels)| {
            let ranked = run.get(qid).map_or(&[][..], Vec::as_slice);
            (qid.clone(), metrics::score(rels, ranked))
        })
        .collect();
    let all: Vec<QueryMetrics> = per.values().copied().collect();
    let mean = QueryMetrics::mean(&all);
    (per, mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(in_scope: bool, first: Option<usize>, coverage: f32, evidence: f32) -> QueryResult {
        QueryResult {
            qid: String::new(),
            text: String::new(),
            municipality: None,
            relevant: if in_scope {
                BTreeMap::from([("e".to_owned(), 1)])
            } else {
                BTreeMap::new()
            },
            ranked: Vec::new(),
            hits: Vec::new(),
            first_relevant_rank: first,
            signals: Signals {
                coverage,
                margin: 0.5,
                evidence,
                ..Signals::default()
            },
            decision: Decision::Candidates,
            decision_correct: false,
            metrics: QueryMetrics::default(),
            latency_us: 0.0,
            latency_samples_us: Vec::new(),
            generation: None,
        }
    }

    #[test]
    fn calibration_finds_the_evidence_rule_and_respects_the_fallback_limit() {
        // Out-of-scope questions share half their words with some entry but little evidence;
        // in-scope ones cover as little but score high, and one in-scope question is weak too.
        let mut results = Vec::new();
        for _ in 0..10 {
            results.push(result(false, None, 0.5, 5.0));
            results.push(result(true, Some(1), 0.5, 30.0));
        }
        results.push(result(true, Some(1), 0.5, 5.0));
        let (c, u) = calibrate(&results, &DecisionConfig::default(), Limits::fallback(1.0));
        assert!(c.evidence_coverage > 0.5 && c.evidence_score > 5.0, "{c:?}");
        assert!(c.evidence_score <= 30.0, "{c:?}");
        let fallbacks = |c: &DecisionConfig| {
            results
                .iter()
                .filter(|r| answer::decide_signals(r.signals, c) == Decision::Fallback)
                .count()
        };
        assert_eq!(fallbacks(&c), 11, "{c:?} (utility {u})");
        // Turning away even one in-scope question of eleven is over a 5 % limit, so the
        // evidence rule cannot be used; with the limit at 10 % it can.
        let (strict, _) = calibrate(&results, &DecisionConfig::default(), Limits::fallback(0.05));
        let in_scope_fallbacks = results
            .iter()
            .filter(|r| {
                r.in_scope() && answer::decide_signals(r.signals, &strict) == Decision::Fallback
            })
            .count();
        assert_eq!(in_scope_fallbacks, 0, "{strict:?}");
        let (loose, _) = calibrate(&results, &DecisionConfig::default(), Limits::fallback(0.1));
        assert_eq!(fallbacks(&loose), 11, "{loose:?}");
    }

    #[test]
    fn calibration_respects_the_answer_precision_limit() {
        // Ten clear wins, and nine close ones of which one has the wrong entry first: answering
        // the close ones too earns more utility (8 - 2 against 9 × 0.5 as candidates), at a
        // precision of 18 of 19.
        let mut results = Vec::new();
        for _ in 0..10 {
            results.push(result(true, Some(1), 0.8, 30.0));
        }
        for i in 0..9 {
            let mut close = result(true, Some(if i == 0 { 2 } else { 1 }), 0.8, 30.0);
            close.signals.margin = 0.1;
            results.push(close);
        }
        let answers = |c: &DecisionConfig| {
            let answered: Vec<&QueryResult> = results
                .iter()
                .filter(|r| r.decide_with(c) == Decision::Answer)
                .collect();
            let right = answered
                .iter()
                .filter(|r| r.first_relevant_rank == Some(1))
                .count();
            (answered.len(), right)
        };
        let (free, _) = calibrate(&results, &DecisionConfig::default(), Limits::fallback(1.0));
        assert_eq!(answers(&free), (19, 18), "{free:?}");
        let strict = Limits {
            min_answer_precision: 0.97,
            ..Limits::fallback(1.0)
        };
        let (c, _) = calibrate(&results, &DecisionConfig::default(), strict);
        assert_eq!(answers(&c), (10, 10), "{c:?}");
    }

    #[test]
    fn cross_validation_decides_each_query_once_with_thresholds_from_the_other_folds() {
        let mut results = Vec::new();
        for i in 0..10 {
            let mut out = result(false, None, 0.5, 5.0);
            out.qid = format!("o{i}");
            let mut inside = result(true, Some(1), 0.5, 30.0);
            inside.qid = format!("i{i}");
            results.push(out);
            results.push(inside);
        }
        let base = DecisionConfig::default();
        assert!(cross_validate(&results, &base, false, Limits::fallback(1.0), 1).is_none());
        assert!(cross_validate(&results[..3], &base, false, Limits::fallback(1.0), 5).is_none());
        let cv = cross_validate(&results, &base, false, Limits::fallback(1.0), 5).unwrap();
        assert_eq!(cv.folds, 5);
        assert_eq!(cv.chosen.len(), 5);
        assert_eq!(cv.decisions.counts.values().sum::<usize>(), results.len());
        // Cleanly separable: every fold learns the evidence rule, so held out it is as good as
        // in sample: every out-of-scope query falls back, every in-scope one is answered.
        let (all, _) = calibrate(&results, &base, Limits::fallback(1.0));
        let mut in_sample = results.clone();
        for r in &mut in_sample {
            r.decision = r.decide_with(&all);
            r.decision_correct =
                decision_correct(r.decision, r.in_scope(), r.first_relevant_rank, &all);
        }
        assert_eq!(cv.decisions, decision_metrics(&in_sample, &base));
        assert_eq!(cv.decisions.fallback_recall, Some(1.0));
        // The same queries in another order give the same folds (dealt by query id).
        let mut reversed = results.clone();
        reversed.reverse();
        assert_eq!(
            cross_validate(&reversed, &base, false, Limits::fallback(1.0), 5).unwrap(),
            cv
        );
    }

    #[test]
    fn each_semantic_table_is_calibrated_on_the_questions_it_decides() {
        let sem = |in_scope: bool, similarity: f32, phrasings: bool, qid: String| {
            let mut r = result(in_scope, in_scope.then_some(1), 0.9, 30.0);
            r.signals.similarity = similarity;
            r.signals.phrasings = phrasings;
            r.qid = qid;
            r
        };
        // Top entries with other phrasings: out-of-scope questions come as near as 0.88,
        // answerable ones 0.95. Entries with their question only: 0.80 and 0.84, under the
        // line the first kind needs.
        let mut results = Vec::new();
        for i in 0..40 {
            results.push(sem(false, 0.88, true, format!("po{i}")));
            results.push(sem(true, 0.95, true, format!("pi{i}")));
        }
        for i in 0..15 {
            results.push(sem(false, 0.80, false, format!("qo{i}")));
        }
        for i in 0..45 {
            results.push(sem(true, 0.84, false, format!("qi{i}")));
        }
        let base = DecisionConfig::default();
        let (c, report) = calibrate_tables(&results, &base, true, Limits::fallback(0.05));
        for r in &results {
            let d = r.decide_with(&c);
            assert_eq!(d == Decision::Fallback, !r.in_scope(), "{} {d:?}", r.qid);
        }
        // No one table decides both kinds right: the phrased table sends the answerable
        // question-only ones to the fallback.
        let one_table = DecisionConfig {
            semantic_question_only: Some(Box::new(Table::Semantic.get(&c))),
            ..c.clone()
        };
        let turned_away = results
            .iter()
            .filter(|r| r.in_scope() && r.decide_with(&one_table) == Decision::Fallback)
            .count();
        assert_eq!(turned_away, 45);
        let counts: Vec<(Table, usize, usize, bool)> = report
            .iter()
            .map(|t| (t.table, t.questions, t.out_of_scope, t.utility.is_some()))
            .collect();
        assert_eq!(
            counts,
            [
                (Table::Semantic, 80, 40, true),
                (Table::QuestionOnly, 60, 15, true)
            ]
        );
        // The lexical table is untouched when the semantic leg ran.
        assert_eq!(Table::Lexical.get(&c), Table::Lexical.get(&base));

        // Too few questions with a question-only top entry: that table is left as it was.
        let few: Vec<QueryResult> = results
            .iter()
            .filter(|r| r.signals.phrasings)
            .chain(results.iter().filter(|r| !r.signals.phrasings).take(49))
            .cloned()
            .collect();
        let (c, report) = calibrate_tables(&few, &base, true, Limits::fallback(0.05));
        assert_eq!(
            Table::QuestionOnly.get(&c),
            DecisionConfig::semantic_question_only_default()
        );
        assert_eq!(report[1].utility, None);
        assert!(report[0].utility.is_some());
    }

    #[test]
    fn calibration_finds_which_questions_low_similarity_may_not_turn_away() {
        // Out-of-scope questions are far in meaning (0.85) and share 0.3 of their words with the
        // top entry; answerable ones are either as far with all their words in the entry, or
        // near (0.95) with as few shared words. Neither the words nor the similarity alone
        // separate them; together they do.
        let mut results = Vec::new();
        for i in 0..30 {
            for (kind, in_scope, coverage, similarity) in [
                ("o", false, 0.3, 0.85),
                ("w", true, 1.0, 0.85),
                ("m", true, 0.3, 0.95),
            ] {
                let mut r = result(in_scope, in_scope.then_some(1), coverage, 30.0);
                r.signals.similarity = similarity;
                r.signals.phrasings = true;
                r.qid = format!("{kind}{i}");
                results.push(r);
            }
        }
        let base = DecisionConfig {
            semantic: Some(Box::new(DecisionConfig {
                fallback_coverage: 1.01,
                ..DecisionConfig::semantic_default()
            })),
            ..DecisionConfig::default()
        };
        let (c, _) = calibrate_tables(&results, &base, true, Limits::fallback(0.05));
        let sem = Table::Semantic.get(&c);
        assert!(
            sem.fallback_coverage > 0.3 && sem.fallback_coverage <= 1.0,
            "{sem:?}"
        );
        for r in &results {
            let d = r.decide_with(&c);
            assert_eq!(d == Decision::Fallback, !r.in_scope(), "{} {d:?}", r.qid);
        }
    }

    #[test]
    fn calibration_requires_agreement_when_answers_must_be_precise() {
        // Every answerable question has the same words and similarity; those on which the legs
        // agree are ranked right, one in ten of the others wrong. Out-of-scope ones share few
        // words and are far in meaning. Only agreement tells the wrong answers apart.
        let mut results = Vec::new();
        for i in 0..40 {
            for (kind, in_scope, first, coverage, similarity, agreed) in [
                ("a", true, Some(1), 0.9, 0.95, true),
                (
                    "s",
                    true,
                    Some(if i % 10 == 0 { 2 } else { 1 }),
                    0.9,
                    0.95,
                    false,
                ),
                ("o", false, None, 0.1, 0.8, false),
            ] {
                let mut r = result(in_scope, first, coverage, 30.0);
                r.signals.similarity = similarity;
                r.signals.phrasings = true;
                r.signals.agreed = agreed;
                r.qid = format!("{kind}{i}");
                results.push(r);
            }
        }
        let base = DecisionConfig::default();
        // Utility alone: left as it is (and the split questions are worth answering, nine right
        // for one wrong: 0.7 a question against 0.5 for candidates).
        let (c, _) = calibrate_tables(&results, &base, true, Limits::fallback(0.05));
        assert!(!Table::Semantic.get(&c).answer_needs_agreement);
        // Answers right 97 % of the time: only by requiring agreement.
        let limits = Limits {
            min_answer_precision: 0.97,
            ..Limits::fallback(0.05)
        };
        let (c, _) = calibrate_tables(&results, &base, true, limits);
        assert!(
            Table::Semantic.get(&c).answer_needs_agreement,
            "{:?}",
            Table::Semantic.get(&c)
        );
        for r in &results {
            let d = r.decide_with(&c);
            let expected = match r.qid.as_bytes()[0] {
                b'a' => Decision::Answer,
                b's' => Decision::Candidates,
                _ => Decision::Fallback,
            };
            assert_eq!(d, expected, "{} {:?}", r.qid, Table::Semantic.get(&c));
        }
    }

    #[test]
    fn decision_metrics_report_the_mean_utility_calibration_maximises() {
        let decided = |mut r: QueryResult, d: Decision| {
            r.decision = d;
            r
        };
        let results = [
            decided(result(true, Some(1), 1.0, 9.0), Decision::Answer), // 1.0
            decided(result(true, Some(2), 1.0, 9.0), Decision::Answer), // -2.0
            decided(result(true, Some(3), 1.0, 9.0), Decision::Candidates), // 0.5
            decided(result(false, None, 0.1, 1.0), Decision::Fallback), // 1.0
        ];
        let c = DecisionConfig::default();
        let d = decision_metrics(&results, &c);
        assert!((d.utility - 0.125).abs() < 1e-9, "{d:?}");
        // Rank 3 is outside a candidate list of two, so those candidates count as a miss.
        let short = DecisionConfig {
            max_candidates: 2,
            ..c
        };
        let d = decision_metrics(&results, &short);
        assert!(
            (d.utility - (1.0 - 2.0 - 0.25 + 1.0) / 4.0).abs() < 1e-9,
            "{d:?}"
        );
    }
}
