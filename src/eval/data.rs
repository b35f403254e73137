//! Evaluation files: queries (TSV or BEIR JSONL), qrels (TREC or BEIR TSV), TREC run output.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// One query to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Query id.
    pub qid: String,
    /// The text as a resident typed it.
    pub text: String,
    /// Municipality the resident asked as (third TSV column), if any.
    pub municipality: Option<String>,
}

/// Graded judgements: qid → entry id → grade.
pub type Qrels = HashMap<String, HashMap<String, i32>>;

/// Reads queries: BEIR `queries.jsonl` (`_id`, `text`) when the name ends in `.jsonl`, else TSV
/// `qid<TAB>text[<TAB>municipality]`; blank lines and `#` comments are skipped.
pub fn read_queries(path: &Path) -> Result<Vec<Query>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let q = if jsonl {
            let v: serde_json::Value = serde_json::from_str(line).with_context(at)?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            Query {
                qid: field("_id").with_context(|| format!("{}: missing _id", at()))?,
                text: field("text").with_context(|| format!("{}: missing text", at()))?,
                municipality: v
                    .pointer("/metadata/municipality")
                    .and_then(|x| x.as_str())
                    .map(str::to_owned),
            }
        } else {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 2 || cols.len() > 3 {
                bail!("{}: expected qid<TAB>text[<TAB>municipality]", at());
            }
            Query {
                qid: cols[0].trim().to_owned(),
                text: cols[1].trim().to_owned(),
                municipality: cols
                    .get(2)
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty()),
            }
        };
        if q.qid.is_empty() || q.text.is_empty() {
            bail!("{}: empty qid or text", at());
        }
        out.push(q);
    }
    Ok(out)
}

/// Reads qrels: BEIR TSV (a `query-id corpus-id score` header) or TREC `qid 0 docid rel`.
pub fn read_qrels(path: &Path) -> Result<Qrels> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut qrels = Qrels::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
            continue;
        }
        let (qid, doc, rel) = match cols.as_slice() {
            [q, d, r] => (q, d, r),
            [q, _, d, r] => (q, d, r),
            _ => bail!(
                "{}:{}: expected 'qid 0 docid rel' or 'query-id corpus-id score'",
                path.display(),
                i + 1
            ),
        };
        let rel: f64 = rel
            .parse()
            .with_context(|| format!("{}:{}: bad relevance", path.display(), i + 1))?;
        qrels
            .entry((*qid).to_owned())
            .or_default()
            .insert((*doc).to_owned(), rel as i32);
    }
    Ok(qrels)
}

/// TREC run lines `qid Q0 docid rank score tag` for one query.
pub fn run_lines(out: &mut String, qid: &str, ranked: &[(String, f32)], tag: &str) {
    for (i, (doc, score)) in ranked.iter().enumerate() {
        let _ = writeln!(out, "{qid} Q0 {doc} {} {score:.6} {tag}", i + 1);
    }
}

/// Reads a TREC run (`qid Q0 docid rank score tag`) into each query's ranking, ordered by the
/// rank column (ties by score, descending, then by line order), duplicates dropped.
pub fn read_run(path: &Path) -> Result<HashMap<String, Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows: HashMap<String, Vec<(u64, f64, usize, String)>> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        let [qid, _, doc, rank, score, ..] = cols.as_slice() else {
            bail!(
                "{}:{}: expected 'qid Q0 docid rank score tag'",
                path.display(),
                i + 1
            );
        };
        let rank: u64 = rank
            .parse()
            .with_context(|| format!("{}:{}: bad rank", path.display(), i + 1))?;
        let score: f64 = score
            .parse()
            .with_context(|| format!("{}:{}: bad score", path.display(), i + 1))?;
        rows.entry((*qid).to_owned())
            .or_default()
            .push((rank, score, i, (*doc).to_owned()));
    }
    Ok(rows
        .into_iter()
        .map(|(qid, mut lst)| {
            lst.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
            let mut seen = std::collections::HashSet::new();
            let ranked = lst
                .into_iter()
                .filter_map(|(_, _, _, d)| seen.insert(d.clone()).then_some(d))
                .collect();
            (qid, ranked)
        })
        .collect())
}
