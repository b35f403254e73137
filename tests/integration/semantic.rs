//! The semantic leg with the real model (`scripts/setup-e5.sh`): entry vectors built and cached,
//! questions in other words and other languages found, and lexical-only operation, said so, when
//! the model is missing. Without the model these tests are skipped, unless `REQUIRE_E5=1`
//! (set by `scripts/test.sh` after its setup) makes that a failure.

use std::path::PathBuf;

use madoguchi::config::Config;
use madoguchi::engine::{Build, Engine, Setup};
use madoguchi::semantic::Status;

use crate::helpers::{copy_dir, fixture, locations};

/// The model, or `None` (after saying why) when the tests may skip.
fn model() -> Option<PathBuf> {
    let path = madoguchi_e5::default_model_path();
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("REQUIRE_E5").as_deref() != Ok("1"),
        "REQUIRE_E5=1 but the model is missing at {} (run scripts/setup-e5.sh)",
        path.display()
    );
    eprintln!(
        "semantic tests skipped: no model at {} (scripts/setup-e5.sh)",
        path.display()
    );
    None
}

fn engine(model: PathBuf, weight: f32) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("faq_small"), &dir.path().join("faq"));
    let mut config = Config::default();
    config.search.semantic_weight = weight;
    let setup = Setup {
        locations: locations(dir.path(), model),
        config,
    };
    let engine = setup.engine(Build::Ensure).unwrap();
    (dir, engine)
}

#[test]
fn questions_in_other_words_and_languages_find_their_entry() {
    let Some(model) = model() else { return };
    let (_dir, lexical) = engine(model.clone(), 0.0);
    assert_eq!(lexical.semantic, Status::Off);
    let (_dir, semantic) = engine(model, 40.0);
    match &semantic.semantic {
        Status::On { texts, .. } => assert!(*texts >= 12, "{:?}", semantic.semantic),
        other => panic!("{other:?}"),
    }
    let top = |e: &Engine, q: &str| {
        e.retriever
            .search(q, 3, None)
            .unwrap()
            .first()
            .map(|h| (h.entry.id.clone(), h.similarity))
    };
    // English shares no word with the Japanese FAQ: lexically nothing, semantically the entry.
    let english = "How can I renew the electronic certificate of my My Number card?";
    assert_eq!(top(&lexical, english), None);
    let (id, similarity) = top(&semantic, english).unwrap();
    assert_eq!(id, "card-renew");
    assert!(similarity > 0.0);
    // Japanese in other words than the entry's.
    let (id, _) = top(&semantic, "大きな家具を捨てたい").unwrap();
    assert_eq!(id, "sodai-gomi");
    // Lexical-only hits keep their ranking equal to their score, and have no cosines.
    for h in lexical.retriever.search("粗大ごみ", 5, None).unwrap() {
        assert_eq!((h.ranking, h.similarity, h.meaning), (h.score, 0.0, 0.0));
        assert_eq!(h.cosines, None);
    }
    // Semantic hits carry the cosines their similarity is the largest of.
    for h in semantic
        .retriever
        .search("大きな家具を捨てたい", 5, None)
        .unwrap()
    {
        let c = h.cosines.unwrap();
        let largest = c
            .phrasing
            .unwrap_or(c.question)
            .max(c.question)
            .max(c.answer);
        assert_eq!(h.similarity, largest, "{c:?}");
    }
}

#[test]
fn without_the_model_the_engine_searches_lexical_only_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-model.bin");
    let (_d, e) = engine(missing, 40.0);
    match &e.semantic {
        Status::Unavailable { reason } => assert!(reason.contains("no-model.bin"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let hits = e.retriever.search("粗大ごみの出し方", 3, None).unwrap();
    assert_eq!(hits[0].entry.id, "sodai-gomi");
}

#[test]
fn the_turn_says_the_language_and_decides_with_meaning() {
    use madoguchi::answer::{Decision, DecisionConfig};
    use madoguchi::chat;
    use madoguchi::language::Language;
    let Some(model) = model() else { return };
    // The shipped weight and thresholds.
    let (_dir, e) = engine(model, Config::default().search.semantic_weight);
    let config = DecisionConfig::default();
    let plan = |q: &str| chat::plan(&e, &config, q, None, &[], 10).unwrap();

    // A question in English is ranked by meaning alone and offered as candidates.
    let p = plan("Can I get a copy of my residence certificate at a convenience store?");
    assert_eq!(p.language, Language::English);
    assert!(p.signals.foreign, "{:?}", p.signals);
    assert_eq!(p.decision, Decision::Candidates);
    assert_eq!(p.hits[0].entry.id, "juminhyo-conbini");
    assert!(
        p.hits
            .iter()
            .all(|h| h.ranking == h.meaning && h.score == 0.0)
    );
    // The lexical leg did not rank it, so nothing agrees.
    assert!(!p.signals.agreed, "{:?}", p.signals);
    // Korean, the same.
    let p = plan("편의점에서 주민표를 발급받을 수 있나요?");
    assert_eq!(p.language, Language::Korean);
    assert_eq!(p.hits[0].entry.id, "juminhyo-conbini");

    // An entry's own phrasing is answered directly, with the semantic thresholds.
    let p = plan("住民票の写しをコンビニで取れますか");
    assert_eq!(p.language, Language::Japanese);
    assert!(p.signals.similarity > 0.9, "{:?}", p.signals);
    assert!(p.signals.exact, "{:?}", p.signals);
    assert_eq!(p.decision, Decision::Answer, "{:?}", p.signals);
    assert_eq!(p.hits[0].entry.id, "juminhyo-conbini");
    // So is the same question in other words, near in meaning and ahead of the next entry.
    let p = plan("コンビニで住民票の写しはもらえますか");
    assert!(!p.signals.exact, "{:?}", p.signals);
    assert_eq!(p.decision, Decision::Answer, "{:?}", p.signals);
    assert_eq!(p.hits[0].entry.id, "juminhyo-conbini");
    // Its words and its meaning alone each put that entry first: the legs agree, so it is
    // answered also where a direct answer needs them to.
    assert!(p.signals.agreed, "{:?}", p.signals);
    let needs = DecisionConfig {
        semantic: Some(Box::new(DecisionConfig {
            answer_needs_agreement: true,
            ..DecisionConfig::semantic_default()
        })),
        ..DecisionConfig::default()
    };
    let strict = chat::plan(
        &e,
        &needs,
        "コンビニで住民票の写しはもらえますか",
        None,
        &[],
        10,
    )
    .unwrap();
    assert_eq!(strict.decision, Decision::Answer, "{:?}", strict.signals);

    // Far from every entry in meaning: the fallback.
    let p = plan("宇宙旅行の補助金はありますか");
    assert_eq!(p.decision, Decision::Fallback, "{:?}", p.signals);
}

#[test]
fn japanese_words_in_a_question_in_another_language_lift_the_entries_that_have_them() {
    let Some(model) = model() else { return };
    let (_dir, e) = engine(model, Config::default().search.semantic_weight);
    let search = |q: &str| e.retriever.search(q, 4, None).unwrap();

    // Portuguese with the paper and the shop in romaji; the entries that have their words gain
    // on their similarity, the others rank by similarity alone.
    let hits = search("Posso tirar o juminhyo na konbini no fim de semana?");
    assert_eq!(hits[0].entry.id, "juminhyo-conbini", "{hits:?}");
    assert!(
        hits[0].score > 0.0 && hits[0].ranking > hits[0].meaning,
        "{hits:?}"
    );
    for h in hits.iter().filter(|h| h.score == 0.0) {
        assert_eq!(h.ranking, h.meaning, "{h:?}");
    }
    // English with the insurance in romaji, and Vietnamese with it in Japanese script.
    for q in [
        "What happens if I pay my kokumin kenko hoken late?",
        "Nếu đóng 国民健康保険料 trễ thì sao?",
    ] {
        let hits = search(q);
        assert_eq!(hits[0].entry.id, "kokuho-late", "{q}: {hits:?}");
        assert!(hits[0].score > 0.0, "{q}: {hits:?}");
    }
    // Words of other languages are not read as Japanese: ranked by similarity alone.
    for h in search("Can I get a copy of my residence certificate at a convenience store?") {
        assert_eq!((h.score, h.ranking), (0.0, h.meaning), "{h:?}");
    }
}

#[test]
fn a_top_entry_without_other_phrasings_is_decided_by_its_own_thresholds() {
    use madoguchi::answer::{self, Decision, DecisionConfig};
    use madoguchi::chat;
    let Some(model) = model() else { return };
    let (_dir, e) = engine(model, Config::default().search.semantic_weight);
    let config = DecisionConfig::default();
    let plan = |q: &str| chat::plan(&e, &config, q, None, &[], 10).unwrap();
    // The thresholds of entries with phrasings for every top entry, as before
    // [decision.semantic_question_only] existed.
    let one_table = DecisionConfig {
        semantic_question_only: config.semantic.clone(),
        ..config.clone()
    };

    // kokuho-late has its question only. A one-word question its answer covers (延滞金) is
    // answered by its words; its similarity (about 0.86) is under the line below which a
    // question over entries with phrasings falls back, or gets candidates at most when the
    // entry has its words (fallback_coverage).
    let p = plan("延滞金");
    assert_eq!(p.hits[0].entry.id, "kokuho-late");
    assert!(!p.signals.phrasings, "{:?}", p.signals);
    assert_eq!(p.decision, Decision::Answer, "{:?}", p.signals);
    assert_eq!(
        answer::decide_signals(p.signals, &one_table),
        Decision::Candidates,
        "{:?}",
        p.signals
    );
    // Few shared words, near in meaning (about 0.90, over the line of 0.88): candidates.
    let p = plan("国保料を滞納");
    assert_eq!(p.hits[0].entry.id, "kokuho-late");
    assert_eq!(p.decision, Decision::Candidates, "{:?}", p.signals);
    // Still out of scope: far in meaning, and its words are not the entry's.
    assert_eq!(
        plan("宇宙旅行の補助金はありますか").decision,
        Decision::Fallback
    );
    // An entry with phrasings keeps [decision.semantic].
    let p = plan("住民票の写しをコンビニで取れますか");
    assert!(p.signals.phrasings, "{:?}", p.signals);
    assert_eq!(p.decision, Decision::Answer);
}

/// `ask` of every item, each from a thread of its own, all released at once; in item order.
fn all_at_once<T: Sync, R: Send>(items: &[T], ask: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let start = std::sync::Barrier::new(items.len());
    std::thread::scope(|s| {
        let callers: Vec<_> = items
            .iter()
            .map(|item| {
                let (start, ask) = (&start, &ask);
                s.spawn(move || {
                    start.wait();
                    ask(item)
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    })
}

#[test]
fn questions_asked_at_once_are_embedded_together_each_with_its_own_vector() {
    use madoguchi::semantic::{Encoder, QuestionEmbeddings};
    let Some(model) = model() else { return };
    let questions = [
        "住民票の写しをコンビニで取りたい",
        "粗大ごみの出し方を知りたい",
        "マイナンバーカードの電子証明書を更新したい",
        "児童手当はいつ振り込まれますか",
        "国民健康保険料を払い忘れました",
        "引っ越したら何の手続きが必要ですか",
        "How do I renew my My Number card?",
        "印鑑登録証をなくしました",
        "年金の手続きはどこでできますか",
        "ふるさと納税のワンストップ特例とは",
        "保育園の申し込みはいつからですか",
        "パスポートの申請に必要なもの",
        "犬の登録はどうすればいいですか",
        "住民税の納付書が届かない",
        "戸籍謄本を郵送で請求したい",
        "介護保険の認定を受けるには",
    ];
    // One at a time: one call each.
    let alone = Encoder::load(&model).unwrap();
    let one_by_one: Vec<Vec<f32>> = questions
        .iter()
        .map(|q| alone.query(q).unwrap().to_vec())
        .collect();
    assert_eq!(
        alone.question_embeddings(),
        QuestionEmbeddings {
            batches: 16,
            questions: 16,
            skipped: 0
        }
    );
    // Sixteen callers at once: the ones that wait are embedded together, and each gets the
    // vector of its own question.
    let together = Encoder::load(&model).unwrap();
    let at_once: Vec<Vec<f32>> = all_at_once(&questions, |q| together.query(q).unwrap().to_vec());
    for ((q, a), b) in questions.iter().zip(&one_by_one).zip(&at_once) {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "{q}: {diff}");
    }
    let counts = together.question_embeddings();
    assert_eq!(counts.questions, 16);
    assert!(counts.batches < 16, "{counts:?}");
    // Asked again: from the cache, not embedded.
    together.query(questions[0]).unwrap();
    assert_eq!(together.question_embeddings(), counts);

    // A burst beyond what may wait: the questions past MAX_WAITING_QUESTIONS get no vector (they
    // are searched by words alone) at once, instead of waiting behind the others.
    let burst = Encoder::load(&model).unwrap();
    let n = 2 * madoguchi::semantic::MAX_WAITING_QUESTIONS;
    let texts: Vec<String> = (0..n)
        .map(|i| format!("{}（{i}番目）", questions[i % questions.len()]))
        .collect();
    let got: Vec<bool> = all_at_once(&texts, |q| burst.query(q).is_some());
    let c = burst.question_embeddings();
    let embedded = got.iter().filter(|&&v| v).count() as u64;
    assert_eq!(c.questions, embedded, "{c:?}");
    assert_eq!(c.questions + c.skipped, n as u64, "{c:?}");
    assert!(c.skipped > 0, "{c:?}");
}

/// A first start with no vector cache answers at once, lexically, says so, and switches to the
/// full engine when the entries are embedded in the background (issue #19, point 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_answers_at_once_and_embeds_in_the_background() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A copy of the model, so that its vector cache (beside it) starts empty.
    std::fs::create_dir(dir.path().join("model")).unwrap();
    let copy = dir.path().join("model/e5-small-q4.bin");
    std::fs::copy(&model, &copy).unwrap();
    // 130 entries, 390 texts to embed: more than the service embeds before serving.
    let mut yaml = String::new();
    for i in 0..130 {
        yaml += &format!(
            "- id: item-{i}\n  question: 手続き{i}番について教えてください。\n  alt_questions: [手続き{i}番の申し込み方法]\n  answer: 手続き{i}番は、市役所の{i}番窓口で受け付けています。\n  category: [くらし, 手続き]\n"
        );
    }
    std::fs::create_dir_all(dir.path().join("faq/national")).unwrap();
    std::fs::write(dir.path().join("faq/national/many.yaml"), yaml).unwrap();
    let mut config = Config::default();
    assert!(config.search.semantic_weight > 0.0);
    config.server.data_dir = dir.path().join("data");
    config.server.watch_interval_secs = 0;
    let st = madoguchi::server::AppState::open(Setup {
        locations: locations(dir.path(), copy.clone()),
        config,
    })
    .await
    .unwrap();
    match st.engine().semantic.clone() {
        Status::Embedding { missing } => {
            assert!(
                missing > madoguchi::server::EMBED_IN_BACKGROUND_ABOVE,
                "{missing}"
            )
        }
        // The whole set embedded before open returned would be the old, slow start.
        other => panic!("expected lexical while embedding, got {other:?}"),
    }
    let call = |req: Request<Body>| {
        let st = st.clone();
        async move {
            let resp = madoguchi::server::router(st).oneshot(req).await.unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    // Meanwhile residents are answered, by words.
    let (s, v) = call(
        Request::post("/api/chat")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"message":"手続き17番について教えてください"}"#,
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["answer"]["faq_id"], "item-17", "{v}");
    let (_, ready) = call(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    // Either still embedding, or (on a fast machine) already done.
    assert!(
        ["embedding", "on"].contains(&ready["semantic"]["state"].as_str().unwrap()),
        "{ready}"
    );
    let started = std::time::Instant::now();
    while !st.engine().semantic.on() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "the background embedding never finished: {:?}",
            st.engine().semantic
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (_, ready) = call(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(ready["semantic"]["state"], "on", "{ready}");
    assert!(
        dir.path().join("model/vectors").is_dir(),
        "the vectors are cached"
    );
}

/// `madoguchi serve` stopped (SIGTERM, as systemd stops it) during a first start's background
/// embedding exits within seconds; before, it waited for the embedding to end (minutes), past
/// systemd's stop timeout.
#[test]
fn a_stopped_server_does_not_wait_for_the_background_embedding() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A copy of the model, so that its vector cache (beside it) starts empty.
    std::fs::create_dir(dir.path().join("model")).unwrap();
    let copy = dir.path().join("model/e5-small-q4.bin");
    std::fs::copy(&model, &copy).unwrap();
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    copy_dir(&bundled, &dir.path().join("faq"));
    std::fs::write(dir.path().join("none.toml"), "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["serve", "--listen", "127.0.0.1:0", "--watch-interval", "0"])
        .args([
            "--config",
            "none.toml",
            "--data-dir",
            "data",
            "--index",
            "index",
        ])
        .arg("--model")
        .arg(&copy)
        .current_dir(dir.path())
        .env(
            "MADOGUCHI_DICT",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".lindera-cache/ipadic"),
        )
        .env_remove("MADOGUCHI_FAQ")
        .env_remove("MADOGUCHI_INDEX")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("madoguchi: serving"));
    assert!(serving.is_some(), "the server never said it was serving");
    // Keep reading stderr so that the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server stopped by itself"
    );
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let asked = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if asked.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("still running 20 s after SIGTERM (waiting for the background embedding?)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("stopped {:?} after SIGTERM", asked.elapsed());
}
