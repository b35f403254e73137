//! The `eval` subcommand: wiring files and flags to [`crate::eval`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use sha2::Digest;

use super::data::DataArgs;
use crate::engine::{Build, Setup};
use crate::eval::{self, data};
use crate::faq::{self, Corpus};
use crate::index;

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Queries: TSV `qid<TAB>text[<TAB>municipality]`, or BEIR `queries.jsonl`.
    #[arg(long, required_unless_present = "conversations", requires = "qrels")]
    queries: Option<PathBuf>,
    /// Judgements: TREC `qid 0 docid rel`, or BEIR `qrels/*.tsv`.
    #[arg(long, requires = "queries")]
    qrels: Option<PathBuf>,
    /// Replay whole conversations instead (JSON Lines; see `tests/eval/conversations.jsonl`):
    /// follow-up accuracy, topic-switch safety, small talk.
    #[arg(long, conflicts_with_all = ["queries", "qrels", "calibrate", "baseline", "run", "corpus"])]
    conversations: Option<PathBuf>,
    /// Evaluate a JSONL corpus (`{"id","question","answer"}` lines) instead of the FAQ directory's
    /// entries; the FAQ directory still supplies synonyms.csv and userdict.csv.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Municipality for queries that do not name one.
    #[arg(long)]
    municipality: Option<String>,
    /// Write the TREC run (top 100 per query) here.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Write the metrics JSON here.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Write one JSON line per query here.
    #[arg(long)]
    per_query: Option<PathBuf>,
    /// Write the misses, grouped for FAQ editors, as Markdown here.
    #[arg(long)]
    failures: Option<PathBuf>,
    /// Write each query's ranked hits with the signals of both legs (lexical score, coverage,
    /// evidence, the cosines with the entry's texts) here, one JSON line per query: what another
    /// combination of the legs can be measured on (scripts/experiment-rescoring.sh).
    #[arg(long, conflicts_with = "conversations")]
    hits: Option<PathBuf>,
    /// Compare with an earlier metrics JSON; exit 3 when Success@1 or fallback F1 drops by more
    /// than --tolerance.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Allowed drop against --baseline.
    #[arg(long, default_value_t = 0.01)]
    tolerance: f64,
    /// Choose the answer thresholds that maximise the documented utility on these queries and
    /// write them into the configuration file.
    #[arg(long)]
    calibrate: bool,
    /// With --calibrate: only consider thresholds that send at most this share of in-scope
    /// queries to fallback (a resident with an answerable question should rarely be turned away).
    #[arg(long, default_value_t = 0.05, requires = "calibrate", value_parser = share)]
    max_in_scope_fallback: f64,
    /// With --calibrate: only consider thresholds whose direct answers are right at least this
    /// often (a resident told something wrong may act on it); 0 sets no limit.
    #[arg(long, default_value_t = 0.0, requires = "calibrate", value_parser = share)]
    min_answer_precision: f64,
    /// With --calibrate: first measure the calibration by K-fold cross-validation (each fold
    /// decided with thresholds calibrated on the others) and report that figure before the
    /// in-sample one; 0 skips it.
    #[arg(long, default_value_t = 5, requires = "calibrate")]
    folds: usize,
    /// Timed passes over all queries, after one warm-up pass; the latency percentiles are taken
    /// over every pass's searches (the peers' harness times queries the same way)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
    /// Also send every answer decision to this OpenAI-compatible endpoint (…/v1) and report
    /// generation metrics (citation accuracy, fallback rate, latency); the key is read from
    /// MADOGUCHI_LLM_API_KEY.
    #[arg(long, env = "MADOGUCHI_LLM_URL")]
    llm_url: Option<String>,
    /// Model name for --llm-url.
    #[arg(long, env = "MADOGUCHI_LLM_MODEL")]
    llm_model: Option<String>,
    /// Tag written in the run file.
    #[arg(long, default_value = "madoguchi")]
    tag: String,
    #[command(flatten)]
    data: DataArgs,
}

/// A share of the questions, from 0 to 1 (the calibration's limits).
fn share(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a share from 0 to 1 (0.05 is 5 %)")),
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes `lines` as JSON Lines: one value a line.
fn write_jsonl<T: serde::Serialize>(path: &Path, lines: impl IntoIterator<Item = T>) -> Result<()> {
    let mut s = String::new();
    for line in lines {
        s += &serde_json::to_string(&line)?;
        s.push('\n');
    }
    write(path, &s)
}

/// The commit the numbers come from, with `-dirty` when tracked source files differ from it.
fn git_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        None => "unknown".into(),
    }
}

/// Runs `eval`.
pub fn run(a: &EvalArgs) -> Result<ExitCode> {
    let setup = a.data.setup()?;
    if let Some(file) = &a.conversations {
        return run_conversations(a, &setup, file);
    }
    let (Some(queries_file), Some(qrels_file)) = (&a.queries, &a.qrels) else {
        bail!("--queries and --qrels are required without --conversations");
    };
    let mut config = setup.config.clone();
    let (corpus, corpus_name, corpus_hash): (Corpus, String, String) = match &a.corpus {
        Some(file) => {
            let mut entries = faq::load_file(file)?;
            // localgovFAQ-style exports write line breaks as the literal marker ＜改＞.
            for e in &mut entries {
                e.question = e.question.replace("＜改＞", "\n");
                e.answer = e.answer.replace("＜改＞", "\n");
            }
            let bytes = std::fs::read(file)?;
            let hash = index::hex(&sha2::Sha256::digest(&bytes));
            (Corpus::new(entries), file.display().to_string(), hash)
        }
        None => (
            faq::load_dir(&a.data.faq)?,
            a.data.faq.display().to_string(),
            index::faq_fingerprint(&a.data.faq)?,
        ),
    };
    let engine = setup.engine(Build::InMemory(corpus))?;
    let synonym_sources = engine.retriever.synonyms().sources().clone();
    let mut queries = data::read_queries(queries_file)?;
    if queries.is_empty() {
        bail!("{}: no queries", queries_file.display());
    }
    for q in &mut queries {
        if q.municipality.is_none() {
            q.municipality.clone_from(&a.municipality);
        }
    }
    let qrels = data::read_qrels(qrels_file)?;
    let results = eval::run(
        &engine,
        &queries,
        &qrels,
        &config.decision,
        a.repeat as usize,
        a.hits.is_some(),
    )?;

    let mut cross_validated = None;
    if a.calibrate {
        // The tables of the mode that ran: lexical only, or with the semantic leg (one for top
        // entries with other phrasings, one for those with their question only).
        let semantic = engine.semantic.on();
        let limits = eval::Limits {
            max_in_scope_fallback: a.max_in_scope_fallback,
            min_answer_precision: a.min_answer_precision,
        };
        cross_validated =
            eval::cross_validate(&results, &config.decision, semantic, limits, a.folds);
        let (best, tables) = eval::calibrate_tables(&results, &config.decision, semantic, limits);
        let mut written = Vec::new();
        for t in &tables {
            let Some(utility) = t.utility else {
                let needs = match t.table {
                    eval::Table::Lexical => "at least one".to_owned(),
                    _ => format!(
                        "{} and {}",
                        eval::SEMANTIC_TABLE_MIN.0,
                        eval::SEMANTIC_TABLE_MIN.1
                    ),
                };
                eprintln!(
                    "{} left as it was: {} question(s) decided by it, {} out of scope (it needs {needs})",
                    t.table.section(),
                    t.questions,
                    t.out_of_scope,
                );
                continue;
            };
            let c = t.table.get(&best);
            eprintln!(
                "calibrated {} on {} questions ({} out of scope): answer_coverage {:.3}, answer_margin {:.2}, answer_unknown {:.1}, candidates_coverage {:.3}, evidence_coverage {:.2}, evidence_score {:.2}, fallback_similarity {:.2}, candidates_similarity {:.2}, answer_similarity {:.2}, answer_similarity_margin {:.3}, answer_needs_agreement {}, fallback_coverage {:.3}, foreign_similarity {:.2} (mean utility {utility:.4}) -> {}",
                t.table.section(),
                t.questions,
                t.out_of_scope,
                c.answer_coverage,
                c.answer_margin,
                c.answer_unknown,
                c.candidates_coverage,
                c.evidence_coverage,
                c.evidence_score,
                c.fallback_similarity,
                c.candidates_similarity,
                c.answer_similarity,
                c.answer_similarity_margin,
                c.answer_needs_agreement,
                c.fallback_coverage,
                c.foreign_similarity,
                a.data.config.display()
            );
            written.push(format!(
                "{} on {} questions (mean utility {utility:.4})",
                t.table.section(),
                t.questions
            ));
        }
        if !written.is_empty() {
            let header = format!(
                "madoguchi configuration.\nChosen by `madoguchi eval --calibrate` on\n{} / {} with at most {} of in-scope queries sent to fallback\nand at least {} of direct answers right (commit {}): {}.",
                queries_file.display(),
                qrels_file.display(),
                a.max_in_scope_fallback,
                a.min_answer_precision,
                git_commit(),
                written.join("; ")
            );
            config.decision = best;
            config.save(&a.data.config, &header)?;
        }
    }
    // Decisions are re-scored with the (possibly calibrated) thresholds; rankings do not change.
    let results: Vec<eval::QueryResult> = results
        .into_iter()
        .map(|mut r| {
            r.decision = r.decide_with(&config.decision);
            r.decision_correct = eval::decision_correct(
                r.decision,
                r.in_scope(),
                r.first_relevant_rank,
                &config.decision,
            );
            r
        })
        .collect();

    let mut results = results;
    if let Some(url) = a.llm_url.as_deref().filter(|u| !u.trim().is_empty()) {
        config.llm.url = Some(url.to_owned());
        if let Some(m) = &a.llm_model {
            config.llm.model.clone_from(m);
        }
        let llm = crate::llm::LlmClient::new(&config.llm)
            .with_context(|| format!("cannot use LLM endpoint {url}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(eval::generate(&mut results, &engine.retriever, &llm));
    }

    let fingerprint = serde_json::json!({
        "semantic": engine.semantic,
        "llm": config.llm.url.as_ref().map(|u| serde_json::json!({"url": crate::store::redact_url(u), "model": config.llm.model})),
        "analyzer_version": crate::analysis::ANALYZER_VERSION,
        "analysis": config.analysis,
        "schema_version": index::SCHEMA_VERSION,
        "search": config.search,
        "synonyms": synonym_sources,
        "user_dictionary": std::fs::read(a.data.faq.join(crate::analysis::USER_DICT_FILE))
            .ok()
            .map(|b| crate::index::hex(&sha2::Sha256::digest(&b))),
        "decision": config.decision,
        "dictionary": {
            "source": a.data.dict_source().describe(),
            "sha256": match a.data.dict_source() {
                crate::analysis::DictSource::Path(p) => eval::dictionary_fingerprint(&p),
                crate::analysis::DictSource::Embedded => "embedded".into(),
            },
        },
        "corpus": corpus_name,
        "corpus_sha256": corpus_hash,
        "queries": queries_file.display().to_string(),
        "git_commit": git_commit(),
    });
    let mut report = eval::report(&results, &config.decision, fingerprint);
    report.decision_cross_validated = cross_validated;
    print!("{}", eval::table(&report));

    if let Some(p) = &a.run {
        let mut s = String::new();
        for r in &results {
            data::run_lines(&mut s, &r.qid, &r.ranked, &a.tag);
        }
        write(p, &s)?;
    }
    if let Some(p) = &a.metrics {
        write(p, &(serde_json::to_string_pretty(&report)? + "\n"))?;
    }
    if let Some(p) = &a.per_query {
        let mut lines = Vec::with_capacity(results.len());
        for r in &results {
            let mut v = serde_json::to_value(r)?;
            v["ranked"] = r
                .ranked
                .iter()
                .take(10)
                .map(|(id, sc)| serde_json::json!([id, sc]))
                .collect();
            lines.push(v);
        }
        write_jsonl(p, lines)?;
    }
    if let Some(p) = &a.hits {
        write_jsonl(
            p,
            results.iter().map(
                |r| serde_json::json!({ "qid": r.qid, "relevant": r.relevant, "hits": r.hits }),
            ),
        )?;
    }
    if let Some(p) = &a.failures {
        write(p, &eval::failures_markdown(&results))?;
    }
    if let Some(p) = &a.baseline {
        let old: eval::Report = serde_json::from_slice(&std::fs::read(p)?)
            .with_context(|| format!("reading baseline {}", p.display()))?;
        let (diff, regressions) = eval::compare(&report, &old, a.tolerance);
        print!("{diff}");
        if !regressions.is_empty() {
            for r in regressions {
                eprintln!("regression: {r}");
            }
            return Ok(ExitCode::from(3));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `eval --conversations`: every conversation through the turn function that serves residents.
fn run_conversations(a: &EvalArgs, setup: &Setup, file: &Path) -> Result<ExitCode> {
    let cases = eval::conversations::read(file)?;
    let mut config = setup.config.clone();
    let engine = std::sync::Arc::new(setup.engine(Build::Ensure)?);
    let llm = match a.llm_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => {
            config.llm.url = Some(url.to_owned());
            if let Some(m) = &a.llm_model {
                config.llm.model.clone_from(m);
            }
            Some(
                crate::llm::LlmClient::new(&config.llm)
                    .with_context(|| format!("cannot use LLM endpoint {url}"))?,
            )
        }
        None => None,
    };
    let settings = crate::chat::Settings {
        decision: config.decision.clone(),
        fallback_office: config.server.fallback_office.clone(),
        max_chars: config.server.max_question_chars,
        llm_budget: None,
    };
    let services = crate::chat::Services {
        llm: llm.as_ref(),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(eval::conversations::run(
        &engine, &settings, services, &cases,
    ))?;
    let m = eval::conversations::metrics(&results);
    print!("{}", eval::conversations::table(&m));
    if let Some(p) = &a.metrics {
        let report = serde_json::json!({
            "conversations": m,
            "fingerprint": {
                "file": file.display().to_string(),
                "faq": a.data.faq.display().to_string(),
                "faq_fingerprint": index::faq_fingerprint(&a.data.faq)?,
                "decision": config.decision,
                "search": config.search,
                "analysis": config.analysis,
                "git_commit": git_commit(),
            },
        });
        write(p, &(serde_json::to_string_pretty(&report)? + "\n"))?;
    }
    if let Some(p) = &a.per_query {
        write_jsonl(p, &results)?;
    }
    if let Some(p) = &a.failures {
        write(p, &eval::conversations::failures_markdown(&results))?;
    }
    Ok(ExitCode::SUCCESS)
}
