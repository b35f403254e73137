//! The evaluation harness: hand-checked metric values, agreement with the independent scorer in
//! `../shared/peers/evaluate.py`, and the `madoguchi eval` command end to end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use madoguchi::eval::{self, data, metrics::QueryMetrics};
use madoguchi::retrieve::SearchConfig;
use serde_json::Value;

use crate::helpers::{fixture, madoguchi, stderr, stdout};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn assert_metrics(got: &QueryMetrics, want: [f64; 7], what: &str) {
    for ((name, g), w) in eval::metrics::NAMES.iter().zip(got.values()).zip(want) {
        assert!(close(g, w), "{what} {name}: got {g}, want {w}");
    }
}

/// Values worked out by hand for tests/fixtures/eval/{run.trec,qrels.txt}:
/// - q1: relevant a (2), b (1); ranking x a y b (the file lists them out of order, so the rank
///   column must decide). First relevant at 2. DCG = 2/log2 3 + 1/log2 5, IDCG = 2 + 1/log2 3.
///   AP = (1/2 + 2/4) / 2 = 0.5. Both relevant entries are in the top 5.
/// - q2: c (1) ranked first: every metric 1.
/// - q3: d (2) at rank 6, e judged 0 at rank 3 (not relevant): RR 1/6, nDCG 2/log2 7 / 2, AP 1/6.
/// - q4: relevant f, absent from the run: every metric 0.
/// - q5: only a rel-0 judgement: out of scope, not averaged.
#[test]
fn fixture_run_matches_hand_computed_values() {
    let qrels = data::read_qrels(&fixture("eval/qrels.txt")).unwrap();
    let run = data::read_run(&fixture("eval/run.trec")).unwrap();
    assert_eq!(run["q1"], ["x", "a", "y", "b"]);
    let (per, mean) = eval::score_run(&run, &qrels);
    assert_eq!(per.keys().collect::<Vec<_>>(), ["q1", "q2", "q3", "q4"]);

    let l2 = f64::log2;
    let ndcg1 = (2.0 / l2(3.0) + 1.0 / l2(5.0)) / (2.0 + 1.0 / l2(3.0));
    assert!(close(ndcg1, 0.643_322_408_330_632_7));
    let ndcg3 = 1.0 / l2(7.0);
    assert_metrics(&per["q1"], [0.0, 1.0, 1.0, 0.5, ndcg1, 0.5, 1.0], "q1");
    assert_metrics(&per["q2"], [1.0; 7], "q2");
    assert_metrics(
        &per["q3"],
        [0.0, 0.0, 0.0, 1.0 / 6.0, ndcg3, 1.0 / 6.0, 0.0],
        "q3",
    );
    assert_metrics(&per["q4"], [0.0; 7], "q4");
    let rr = (0.5 + 1.0 + 1.0 / 6.0) / 4.0;
    assert_metrics(
        &mean,
        [0.25, 0.5, 0.5, rr, (ndcg1 + 1.0 + ndcg3) / 4.0, rr, 0.5],
        "mean",
    );
    // The literal values, so that a change in the formulas above cannot hide a change here.
    assert!(close(mean.ndcg_10, 0.499_882_398_859_663_73));
    assert!(close(mean.rr_10, 0.416_666_666_666_666_7));
}

/// `../shared/peers/evaluate.py`, when this checkout sits beside the shared folder and python3
/// is installed (CI has both; a bare clone elsewhere skips with a message).
fn shared_scorer() -> Option<PathBuf> {
    let script = std::env::var_os("MADOGUCHI_EVALUATE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/evaluate.py")
        });
    let python = Command::new("python3").arg("--version").output();
    if script.is_file() && python.is_ok_and(|o| o.status.success()) {
        Some(script)
    } else {
        eprintln!("skipped: python3 or {} not available", script.display());
        None
    }
}

/// Per-query metrics from evaluate.py's `--json` output, keyed by qid.
fn python_per_query(script: &Path, qrels: &Path, run: &Path) -> HashMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scores.json");
    let status = Command::new("python3")
        .arg(script)
        .arg(qrels)
        .arg(run)
        .arg("--json")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    let v: Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    let (_, res) = v.as_object().unwrap().iter().next().unwrap();
    res["per_query"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// evaluate.py names → ours.
const SHARED_NAMES: [(&str, &str); 5] = [
    ("Hit@1", "Success@1"),
    ("Hit@5", "Success@5"),
    ("MRR@10", "RR@10"),
    ("nDCG@10", "nDCG@10"),
    ("MAP", "AP"),
];

fn assert_agree(ours: &HashMap<String, Value>, theirs: &HashMap<String, Value>) {
    assert_eq!(
        ours.keys().collect::<std::collections::BTreeSet<_>>(),
        theirs.keys().collect::<std::collections::BTreeSet<_>>(),
        "scored query sets differ"
    );
    for (qid, t) in theirs {
        for (py, rs) in SHARED_NAMES {
            let a = t[py].as_f64().unwrap();
            let b = ours[qid][rs].as_f64().unwrap();
            assert!(close(a, b), "{qid} {rs}: evaluate.py {a}, madoguchi {b}");
        }
    }
}

#[test]
fn fixture_run_agrees_with_shared_evaluate_py() {
    let Some(script) = shared_scorer() else {
        return;
    };
    let qrels_path = fixture("eval/qrels.txt");
    let run_path = fixture("eval/run.trec");
    let qrels = data::read_qrels(&qrels_path).unwrap();
    let run = data::read_run(&run_path).unwrap();
    let (per, _) = eval::score_run(&run, &qrels);
    let ours = per
        .into_iter()
        .map(|(k, m)| (k, serde_json::to_value(m).unwrap()))
        .collect();
    assert_agree(&ours, &python_per_query(&script, &qrels_path, &run_path));
}

/// The JSON Lines file `name` in `dir`, one value a line.
fn jsonl(dir: &Path, name: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `madoguchi eval` on the small fixture FAQ; returns (tempdir, output paths).
fn run_eval(extra: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let faq = fixture("faq_small");
    let queries = fixture("eval/small_queries.tsv");
    let qrels = fixture("eval/small_qrels.txt");
    let mut args = vec![
        "eval",
        "--faq",
        faq.to_str().unwrap(),
        "--queries",
        queries.to_str().unwrap(),
        "--qrels",
        qrels.to_str().unwrap(),
        "--run",
        "out.trec",
        "--metrics",
        "out.json",
        "--per-query",
        "out.jsonl",
        "--failures",
        "out.md",
    ];
    args.extend_from_slice(extra);
    let out = madoguchi(dir.path(), &args);
    (dir, out)
}

#[test]
fn eval_command_writes_run_metrics_and_per_query_lines() {
    let (dir, out) = run_eval(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("Success@1"), "{table}");
    assert!(table.contains("in scope 6, out of scope 1"), "{table}");

    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    for name in eval::metrics::NAMES {
        let v = m["metrics"][name].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{name} = {v}");
    }
    assert_eq!(m["queries"]["out_of_scope"], 1);
    for key in ["p50_ms", "p95_ms", "p99_ms"] {
        assert!(m["latency"][key].as_f64().unwrap() > 0.0);
    }
    let fp = &m["fingerprint"];
    for key in [
        "analyzer_version",
        "corpus_sha256",
        "dictionary",
        "search",
        "decision",
    ] {
        assert!(!fp[key].is_null(), "fingerprint lacks {key}: {fp}");
    }

    // The run file: six columns, ranks 1.. in order, scores not increasing.
    let run = std::fs::read_to_string(dir.path().join("out.trec")).unwrap();
    let mut last: HashMap<&str, (u32, f64)> = HashMap::new();
    for line in run.lines() {
        let c: Vec<&str> = line.split(' ').collect();
        assert_eq!(c.len(), 6, "{line}");
        assert_eq!(c[1], "Q0");
        assert_eq!(c[5], "madoguchi");
        let (rank, score): (u32, f64) = (c[3].parse().unwrap(), c[4].parse().unwrap());
        let prev = last
            .insert(c[0], (rank, score))
            .unwrap_or((0, f64::INFINITY));
        assert_eq!(rank, prev.0 + 1, "{line}");
        assert!(score <= prev.1, "{line}");
    }
    // The municipality column is honoured: k6 asks the sample town's own entry.
    assert!(run.contains("k6 Q0 town-hours 1 "), "{run}");
    // A hidden entry is never ranked for that municipality.
    assert!(
        !run.lines()
            .any(|l| l.starts_with("k7 ") && l.contains(" kokuho-late "))
    );

    // Per-query lines: every query, with its decision and whether it was right.
    let lines = jsonl(dir.path(), "out.jsonl");
    assert_eq!(lines.len(), 7);
    let k5 = lines.iter().find(|l| l["qid"] == "k5").unwrap();
    assert_eq!(k5["decision"], "fallback", "{k5}");
    assert_eq!(k5["decision_correct"], true);
    assert!(k5["first_relevant_rank"].is_null());
    let md = std::fs::read_to_string(dir.path().join("out.md")).unwrap();
    assert!(md.starts_with("# Evaluation failures"), "{md}");
}

#[test]
fn eval_reports_the_mean_utility_of_its_decisions_and_times_every_pass() {
    let (dir, out) = run_eval(&["--repeat", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("mean utility "), "{}", stdout(&out));
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    // The same mean, recomputed from the per-query lines with the documented utility.
    let config = madoguchi::answer::DecisionConfig::default();
    let utilities: Vec<f64> = jsonl(dir.path(), "out.jsonl")
        .iter()
        .map(|v| {
            let decision = serde_json::from_value(v["decision"].clone()).unwrap();
            let in_scope = !v["relevant"].as_object().unwrap().is_empty();
            let rank = v["first_relevant_rank"].as_u64().map(|r| r as usize);
            eval::utility(decision, in_scope, rank, &config)
        })
        .collect();
    let mean = utilities.iter().sum::<f64>() / utilities.len() as f64;
    let reported = m["decision"]["utility"].as_f64().unwrap();
    assert!(close(reported, mean), "{reported} vs {mean}");
    assert!(m["latency"]["p50_ms"].as_f64().unwrap() > 0.0);

    // At least one timed pass.
    let (_, out) = run_eval(&["--repeat", "0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--repeat"), "{}", stderr(&out));
}

#[test]
fn eval_run_agrees_with_shared_evaluate_py() {
    let Some(script) = shared_scorer() else {
        return;
    };
    let (dir, out) = run_eval(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ours: HashMap<String, Value> = jsonl(dir.path(), "out.jsonl")
        .into_iter()
        .filter(|v| !v["relevant"].as_object().unwrap().is_empty())
        .map(|v| (v["qid"].as_str().unwrap().to_owned(), v["metrics"].clone()))
        .collect();
    let theirs = python_per_query(
        &script,
        &fixture("eval/small_qrels.txt"),
        &dir.path().join("out.trec"),
    );
    assert_agree(&ours, &theirs);
}

#[test]
fn baseline_regression_exits_3_and_improvement_passes() {
    let (dir, out) = run_eval(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.path().join("out.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let s1 = m["metrics"]["Success@1"].as_f64().unwrap();

    // A baseline that was worse: no regression.
    m["metrics"]["Success@1"] = (s1 - 0.5).into();
    let worse = dir.path().join("worse.json");
    std::fs::write(&worse, serde_json::to_vec(&m).unwrap()).unwrap();
    let (_d, ok) = run_eval(&["--baseline", worse.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("Success@1"));

    // A baseline that was better by more than the tolerance: exit 3, naming the metric.
    m["metrics"]["Success@1"] = (s1 + 0.02).into();
    let better = dir.path().join("better.json");
    std::fs::write(&better, serde_json::to_vec(&m).unwrap()).unwrap();
    let (_d, bad) = run_eval(&["--baseline", better.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("Success@1 dropped"),
        "{}",
        stderr(&bad)
    );
    // ... unless the tolerance allows it.
    let (_d, tol) = run_eval(&[
        "--baseline",
        better.to_str().unwrap(),
        "--tolerance",
        "0.05",
    ]);
    assert!(tol.status.success(), "{}", stderr(&tol));
}

#[test]
fn calibrate_writes_thresholds_the_config_file_keeps() {
    // Lexical only (no model at that path): the `[decision]` table has no minimum of questions
    // (the tables of the semantic leg have; the next test).
    let lexical = ["--model", "no-model.bin"];
    let (dir, out) = run_eval(&[&lexical[..], &["--calibrate", "--config", "cal.toml"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("cal.toml")).unwrap();
    assert!(text.contains("[decision]"), "{text}");
    let cfg = madoguchi::config::Config::load(&dir.path().join("cal.toml")).unwrap();
    assert!(cfg.decision.answer_coverage >= cfg.decision.candidates_coverage);
    // The cross-validated figure comes first, then the in-sample one; both in the metrics file.
    let table = stdout(&out);
    let cv = table
        .find("decisions, 5-fold cross-validated")
        .expect(&table);
    let own = table.find("decisions, in sample").expect(&table);
    assert!(cv < own, "{table}");
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    assert_eq!(m["decision_cross_validated"]["folds"], 5, "{m}");
    assert_eq!(
        m["decision_cross_validated"]["chosen"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let counts = m["decision_cross_validated"]["decisions"]["counts"]
        .as_object()
        .unwrap();
    let decided: u64 = counts.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(decided, m["queries"]["total"].as_u64().unwrap(), "{m}");

    let (_, skipped) = run_eval(
        &[
            &lexical[..],
            &["--calibrate", "--folds", "0", "--config", "cal.toml"],
        ]
        .concat(),
    );
    assert!(skipped.status.success(), "{}", stderr(&skipped));
    assert!(
        !stdout(&skipped).contains("cross-validated"),
        "{}",
        stdout(&skipped)
    );
}

#[test]
fn calibrate_leaves_a_semantic_table_with_too_few_questions_as_it_is() {
    // Needs the sentence model (scripts/setup-e5.sh; scripts/test.sh sets REQUIRE_E5=1).
    let Ok(model) = std::fs::canonicalize(madoguchi_e5::default_model_path()) else {
        assert!(
            std::env::var("REQUIRE_E5").as_deref() != Ok("1"),
            "REQUIRE_E5=1 but the model is missing"
        );
        return;
    };
    // Seven questions: under the 50 (10 out of scope) a table of the semantic leg needs.
    let (dir, out) = run_eval(&[
        "--model",
        model.to_str().unwrap(),
        "--calibrate",
        "--config",
        "cal.toml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for section in ["[decision.semantic]", "[decision.semantic_question_only]"] {
        assert!(
            err.contains(&format!("{section} left as it was")),
            "{section}: {err}"
        );
    }
    assert!(
        stdout(&out).contains("legs: lexical + semantic"),
        "{}",
        stdout(&out)
    );
    // Nothing calibrated, nothing written.
    assert!(!dir.path().join("cal.toml").exists());
}

#[test]
fn eval_rejects_a_malformed_qrels_line_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.txt"), "k1 0 card-renew 2\nk2 oops\n").unwrap();
    let faq = fixture("faq_small");
    let queries = fixture("eval/small_queries.tsv");
    let out = madoguchi(
        dir.path(),
        &[
            "eval",
            "--faq",
            faq.to_str().unwrap(),
            "--queries",
            queries.to_str().unwrap(),
            "--qrels",
            "bad.txt",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.txt:2"), "{}", stderr(&out));
}

#[test]
fn calibration_limits_must_be_shares() {
    for (flag, value) in [
        ("--max-in-scope-fallback", "5"),
        ("--max-in-scope-fallback", "-0.1"),
        ("--min-answer-precision", "nan"),
        ("--min-answer-precision", "1.5"),
    ] {
        let limit = format!("{flag}={value}");
        let (dir, out) = run_eval(&["--config", "cal.toml", "--calibrate", &limit]);
        assert!(!out.status.success(), "{flag} {value}");
        assert!(
            stderr(&out).contains("is not a share from 0 to 1"),
            "{flag} {value}: {}",
            stderr(&out)
        );
        assert!(!dir.path().join("cal.toml").exists());
    }
}

#[test]
fn eval_writes_each_questions_hits_with_both_legs_signals() {
    let (dir, out) = run_eval(&["--hits", "hits.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = jsonl(dir.path(), "hits.jsonl");
    let per_query = jsonl(dir.path(), "out.jsonl");
    assert_eq!(lines.len(), per_query.len());
    let mut seen_hits = 0;
    for (line, pq) in lines.iter().zip(&per_query) {
        assert_eq!(line["qid"], pq["qid"]);
        assert_eq!(line["relevant"], pq["relevant"]);
        // The hits in the run's order, each with the signals its ranking was made of: the
        // lexical score, plus the weighted meaning when the semantic leg ran (then with the
        // cosines whose largest is the similarity).
        let hits = line["hits"].as_array().unwrap();
        let ranked = pq["ranked"].as_array().unwrap();
        let f = |h: &Value, k: &str| h[k].as_f64().unwrap();
        for (h, r) in hits.iter().zip(ranked) {
            assert_eq!(h["id"], r[0]);
            match h.get("cosines") {
                None => assert_eq!(h["ranking"], h["score"], "{h}"),
                Some(c) => {
                    let largest = ["question", "phrasing", "answer"]
                        .iter()
                        .filter_map(|k| c[k].as_f64())
                        .fold(f64::MIN, f64::max);
                    assert!((f(h, "similarity") - largest).abs() < 1e-6, "{h}");
                    let w = f64::from(SearchConfig::default().semantic_weight);
                    let sum = f(h, "score") + w * f(h, "meaning");
                    assert!((f(h, "ranking") - sum).abs() < 1e-3 * sum.abs(), "{h}");
                }
            }
            let coverage = h["coverage"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&coverage), "{h}");
            seen_hits += 1;
        }
    }
    assert!(seen_hits > 0);
    // Conversations have no such hits to write.
    let (_dir, out) = run_eval(&["--hits", "h.jsonl", "--conversations", "c.jsonl"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn eval_with_an_llm_reports_generation_metrics() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (fake, url) = runtime.block_on(crate::fake_llm::fake_llm(crate::fake_llm::Mode::Correct));
    let (dir, out) = run_eval(&["--llm-url", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("LLM: "), "{}", stdout(&out));
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    let g = &m["generation"];
    let attempted = g["attempted"].as_u64().unwrap();
    assert!(attempted >= 1, "{g}");
    assert_eq!(
        attempted as usize,
        fake.calls.load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_eq!(g["generated_rate"], 1.0, "{g}");
    assert_eq!(g["citation_subset_rate"], 1.0, "{g}");
    let with_text = jsonl(dir.path(), "out.jsonl")
        .iter()
        .filter(|v| v["generation"]["text"].is_string())
        .count();
    assert_eq!(with_text as u64, attempted);

    // An endpoint citing what it was not given: every answer falls back, and says why.
    *fake.mode.lock().unwrap() = crate::fake_llm::Mode::UnknownId;
    let (dir, out) = run_eval(&["--llm-url", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(m["generation"]["fallback_rate"], 1.0, "{}", m["generation"]);
    assert_eq!(m["generation"]["citation_subset_rate"], 0.0);
    assert_eq!(m["generation"]["errors"]["rejected"], attempted);
    drop(runtime);
}

/// `eval --conversations` on the bundled FAQ and the conversation set: no turn that must stand
/// on its own (a switch, small talk, an out-of-scope or self-contained question) is read with
/// the previous topic, small talk is recognised and nothing else is taken for it, and some
/// follow-ups do use the earlier turn.
#[test]
fn conversation_replay_never_lets_a_new_topic_inherit_the_previous_answer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let faq = root.join("faq");
    let conversations = root.join("tests/eval/conversations.jsonl");
    let out = madoguchi(
        dir.path(),
        &[
            "eval",
            "--faq",
            faq.to_str().unwrap(),
            "--index",
            "index",
            "--conversations",
            conversations.to_str().unwrap(),
            "--metrics",
            "m.json",
            "--failures",
            "f.md",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("topic-switch safety"),
        "{}",
        stdout(&out)
    );
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    let c = &m["conversations"];
    assert!(c["must_not_inherit"].as_u64().unwrap() >= 40, "{c}");
    assert_eq!(c["topic_switch_safety"], 1.0, "{c}");
    assert_eq!(c["false_small_talk"], 0, "{c}");
    assert_eq!(c["small_talk"]["correct"], 1.0, "{c}");
    assert!(c["follow_up_context_used"].as_f64().unwrap() > 0.0, "{c}");
    assert!(dir.path().join("f.md").exists());
}
