//! Criterion benchmarks: analysis throughput, search latency and the deciding part of a chat turn
//! ([`madoguchi::chat::plan`], alone and as a follow-up) over a few thousand entries, and embedding
//! a question with the sentence model when it is set up.
//!
//! Run with `cargo bench --bench search`. The corpus is synthesised from a fixed vocabulary so
//! the benchmark needs no data outside the repository and is the same on every machine.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use madoguchi::analysis::{Analyzer, DictSource};
use madoguchi::answer::{Decision, DecisionConfig};
use madoguchi::chat::{self, Earlier};
use madoguchi::engine::Engine;
use madoguchi::faq::{Corpus, Entry, NATIONAL};
use madoguchi::index;
use madoguchi::retrieve::{Retriever, SearchConfig};

const TOPICS: &[&str] = &[
    "マイナンバーカード",
    "電子証明書",
    "住民票の写し",
    "戸籍謄本",
    "印鑑登録証明書",
    "児童手当",
    "国民健康保険",
    "後期高齢者医療",
    "介護保険",
    "国民年金",
    "住民税",
    "軽自動車税",
    "ふるさと納税",
    "粗大ごみ",
    "転出届",
    "転入届",
    "罹災証明書",
    "保育所",
    "出産育児一時金",
    "森林環境税",
];
const ACTIONS: &[&str] = &[
    "の申請方法を教えてください",
    "はどこで手続きできますか",
    "の期限はいつまでですか",
    "を代理人が受け取ることはできますか",
    "に必要な書類は何ですか",
    "の手数料はいくらですか",
    "をなくした場合はどうすればいいですか",
    "はオンラインで申し込めますか",
];
const QUERIES: &[&str] = &[
    "マイナカードの暗証番号をわすれた",
    "引っ越したら児童手当はどうなるの",
    "コンビニで住民票とれる？",
    "国保の保険料が払えない",
    "ふるさと納税のワンストップ特例の期限",
    "粗大ごみ 出し方",
];

/// Follow-ups that name no topic: after an answer they are searched among its entries.
const FOLLOW_UPS: &[&str] = &[
    "手数料はいくら？",
    "どこで申請できますか",
    "必要なものは？",
    "それはいつまで？",
    "郵送でもできる？",
    "代理人でもいい？",
];

fn corpus(n: usize) -> Corpus {
    let entries = (0..n)
        .map(|i| {
            let topic = TOPICS[i % TOPICS.len()];
            let action = ACTIONS[(i / TOPICS.len()) % ACTIONS.len()];
            Entry {
                id: format!("e{i:05}"),
                question: format!("{topic}{action}（{i}）"),
                alt_questions: vec![format!("{topic} {}", i % 7)],
                answer: format!(
                    "{topic}については、お住まいの市区町村の担当窓口にお問い合わせください。受付番号{i}。"
                ),
                category: vec![topic.to_owned()],
                tags: vec![topic.to_owned()],
                source_url: None,
                updated: None,
                scope: NATIONAL.to_owned(),
                contact: None,
                hidden: false,
            }
        })
        .collect();
    Corpus::new(entries)
}

fn benches(c: &mut Criterion) {
    let analyzer =
        Analyzer::load(&DictSource::default_source()).expect("run scripts/setup-ipadic.sh");
    let corpus = corpus(3_000);

    let texts: Vec<String> = corpus
        .entries
        .iter()
        .take(500)
        .map(|e| e.question.clone())
        .collect();
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let mut g = c.benchmark_group("analysis");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function(format!("terms/500 questions ({chars} chars)"), |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| analyzer.terms(black_box(t)).len())
                .sum::<usize>()
        })
    });
    g.finish();

    let (idx, manifest) = index::build_in_ram(&corpus, &analyzer).unwrap();
    let engine = Engine::from_retriever(
        Retriever::new(idx, manifest, analyzer.clone(), SearchConfig::default()).unwrap(),
    );
    let retriever = &engine.retriever;
    let mut g = c.benchmark_group("search");
    g.throughput(Throughput::Elements(QUERIES.len() as u64));
    g.bench_function("top10/3000 entries/6 queries", |b| {
        b.iter(|| {
            QUERIES
                .iter()
                .map(|q| retriever.search(black_box(q), 10, None).unwrap().len())
                .sum::<usize>()
        })
    });
    g.finish();

    // The turn's decision as the server makes it: a new conversation, and a follow-up whose
    // topic was an answer (the message is searched again among the topic's entries).
    let decision = DecisionConfig::default();
    let topic = &corpus.entries[0];
    let earlier = [Earlier {
        question: topic.question.clone(),
        decision: Decision::Answer,
        faq_id: Some(topic.id.clone()),
    }];
    let mut g = c.benchmark_group("turn");
    g.throughput(Throughput::Elements(QUERIES.len() as u64));
    for (name, messages, history) in [
        ("new conversation", QUERIES, &earlier[..0]),
        ("follow-up after an answer", FOLLOW_UPS, &earlier[..]),
    ] {
        g.bench_function(format!("plan/{name}/6 messages"), |b| {
            b.iter(|| {
                messages
                    .iter()
                    .map(|q| {
                        chat::plan(
                            &engine,
                            &decision,
                            black_box(q),
                            None,
                            history,
                            chat::CHAT_DEPTH,
                        )
                        .unwrap()
                        .hits
                        .len()
                    })
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

/// Embedding a question with the bundled sentence model (`scripts/setup-e5.sh`): a question
/// never seen (the query cache emptied before each) and a repeated one (from the cache). Skipped,
/// with a message, when the model is not there.
fn embedding(c: &mut Criterion) {
    let path = madoguchi_e5::default_model_path();
    let encoder = match madoguchi::semantic::Encoder::load(&path) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("embedding benchmarks skipped: {}: {e}", path.display());
            return;
        }
    };
    let mut g = c.benchmark_group("embed");
    g.throughput(Throughput::Elements(QUERIES.len() as u64));
    g.sample_size(10);
    g.bench_function("question never seen/6 questions", |b| {
        b.iter(|| {
            encoder.forget_queries();
            QUERIES
                .iter()
                .filter_map(|q| encoder.query(black_box(q)))
                .count()
        })
    });
    g.bench_function("question repeated/6 questions", |b| {
        b.iter(|| {
            QUERIES
                .iter()
                .filter_map(|q| encoder.query(black_box(q)))
                .count()
        })
    });
    g.finish();
}

criterion_group!(search, benches, embedding);
criterion_main!(search);
