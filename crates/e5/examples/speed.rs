//! Embedding speed of the real model: latency of one Japanese question (about 20 tokens) and
//! throughput of `embed_batch`.
//!
//! ```sh
//! scripts/setup-e5.sh
//! cargo run --release -p madoguchi-e5 --example speed [-- --scalar] [--rounds N] [--threads N]
//! ```
//! `--scalar` forces the portable build; `--threads N` also measures N threads embedding at once
//! (default 2), from single texts and from batches led one thread a call; `--omp N` makes each
//! call use N OpenMP threads (`Model::set_threads`; default:
//! `OMP_NUM_THREADS`, else every core).

use std::time::{Duration, Instant};

use madoguchi_e5::{CpuPath, Kind, Model, default_model_path};

const TOPICS: [&str; 10] = [
    "児童手当",
    "住民票の写し",
    "マイナンバーカード",
    "粗大ごみの収集",
    "国民健康保険料",
    "保育園の入園申込み",
    "転入届",
    "印鑑登録証明書",
    "介護保険の要介護認定",
    "ふるさと納税のワンストップ特例",
];
const FORMS: [&str; 10] = [
    "はいつ振り込まれますか",
    "の申請に必要な書類を教えてください",
    "はどこの窓口で手続きできますか",
    "の手数料はいくらかかりますか",
    "をオンラインで申し込むことはできますか",
    "の手続きを代理人に頼めますか",
    "の期限を過ぎてしまった場合はどうなりますか",
    "について土日に相談できる窓口はありますか",
    "の内容が変わったときは届け出が必要ですか",
    "を引っ越し先でも使えますか",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name);
    let value = |name: &str, default: usize| {
        flag(name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let cpu = if flag("--scalar").is_some() {
        CpuPath::Scalar
    } else {
        CpuPath::best()
    };
    let rounds = value("--rounds", 3);
    let threads = value("--threads", 2);

    let path = default_model_path();
    let t = Instant::now();
    let mut model = match Model::load_on(&path, cpu) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("speed: {e}");
            std::process::exit(1);
        }
    };
    if let Some(i) = flag("--omp") {
        model.set_threads(
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .expect("--omp N"),
        );
    }
    let model = model;
    let questions: Vec<String> = TOPICS
        .iter()
        .flat_map(|t| FORMS.iter().map(move |f| format!("{t}{f}")))
        .collect();
    let refs: Vec<&str> = questions.iter().map(String::as_str).collect();
    let tokens: usize = refs.iter().map(|q| model.token_count(q, Kind::Query)).sum();
    println!(
        "cpu path: {} (avx2+fma on this CPU: {}); threads per call {}; OMP_NUM_THREADS={}; \
         OMP_WAIT_POLICY={}; cores {}",
        model.cpu_path(),
        CpuPath::Avx2Fma.supported(),
        model.threads(),
        std::env::var("OMP_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
        std::env::var("OMP_WAIT_POLICY").unwrap_or_else(|_| "unset".into()),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("load (sha256 + e5_load): {:.0} ms", ms(t.elapsed()));
    println!(
        "{} questions, {:.1} tokens each on average (query: prefix and <s></s> included)",
        refs.len(),
        tokens as f64 / refs.len() as f64
    );

    for q in refs.iter().take(10) {
        model.embed(q, Kind::Query); // warm-up: page in the weights, start OpenMP's threads
    }
    let mut single = Vec::new();
    for _ in 0..rounds {
        for q in &refs {
            let t = Instant::now();
            std::hint::black_box(model.embed(q, Kind::Query));
            single.push(ms(t.elapsed()));
        }
    }
    report("embed, one text at a time", &mut single);

    if threads > 1 {
        let mut all = Vec::new();
        let wall = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    let (model, refs) = (&model, &refs);
                    s.spawn(move || {
                        let mut times = Vec::new();
                        for q in refs.iter().skip(w).step_by(threads) {
                            let t = Instant::now();
                            std::hint::black_box(model.embed(q, Kind::Query));
                            times.push(ms(t.elapsed()));
                        }
                        times
                    })
                })
                .collect();
            for h in handles {
                all.extend(h.join().expect("worker"));
            }
        });
        let secs = wall.elapsed().as_secs_f64();
        report(&format!("embed from {threads} threads at once"), &mut all);
        println!("  {:.1} questions/s in all", refs.len() as f64 / secs);
    }

    for batch in [2, 4, 8, 16, 100] {
        let t = Instant::now();
        for _ in 0..rounds {
            for chunk in refs.chunks(batch) {
                std::hint::black_box(model.embed_batch(chunk, Kind::Query));
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let n = (refs.len() * rounds) as f64;
        println!(
            "embed_batch of {batch}: {:.1} questions/s, {:.0} tokens/s, {:.1} ms per question",
            n / secs,
            (tokens * rounds) as f64 / secs,
            secs * 1000.0 / n
        );
    }

    // As the service embeds questions under load: batches led from several threads at once,
    // one OpenMP thread a call (`Model::embed_batch_with_threads`).
    if threads > 1 {
        for batch in [1, 4, 8] {
            let t = Instant::now();
            std::thread::scope(|s| {
                for w in 0..threads {
                    let (model, refs) = (&model, &refs);
                    s.spawn(move || {
                        for _ in 0..rounds {
                            for chunk in refs.chunks(batch).skip(w).step_by(threads) {
                                std::hint::black_box(model.embed_batch_with_threads(
                                    chunk,
                                    Kind::Query,
                                    1,
                                ));
                            }
                        }
                    });
                }
            });
            let secs = t.elapsed().as_secs_f64();
            let n = (refs.len() * rounds) as f64;
            println!(
                "embed_batch of {batch} from {threads} threads at once, one thread a call: \
                 {:.1} questions/s, {:.1} ms of wall time per question",
                n / secs,
                secs * 1000.0 / n
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, times: &mut [f64]) {
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{what}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, mean {mean:.1} ms, max {:.1} ms (n={})",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0),
        times.len()
    );
}
