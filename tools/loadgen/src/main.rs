//! Open-loop load: requests are sent at a fixed rate whatever the server's pace, and each
//! latency is measured from the moment the request was *scheduled*, so a server that falls
//! behind shows it in the latency (no coordinated omission, unlike closed-loop wrk).
//!
//! ```text
//! loadgen URL ROUTE RATE SECONDS QUESTIONS_FILE [distinct]
//! ```
//! ROUTE is `search` (GET /api/search?q=…) or `chat` (POST /api/chat); QUESTIONS_FILE holds one
//! question a line (a TSV's second column when it has tabs), used in turn. With `distinct`,
//! every request's question is made one the server has never seen: a tag unique to this run and
//! request is added in brackets, in letters (「…ですか（kbdmaopf）」), so that no cache of questions or
//! their embeddings can answer it; the route is then reported as `ROUTE-new`. Prints one JSON
//! object: target and achieved rate, counts, and latency percentiles in milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let distinct = match args.get(6).map(String::as_str) {
        None if args.len() == 6 => false,
        Some("distinct") if args.len() == 7 => true,
        _ => {
            eprintln!("usage: loadgen URL search|chat RATE SECONDS QUESTIONS_FILE [distinct]");
            std::process::exit(2);
        }
    };
    // Unique to this run: the clock's nanoseconds (runs are seconds apart).
    let run_tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let base = args[1].trim_end_matches('/').to_owned();
    let route = args[2].clone();
    let rate: f64 = args[3].parse().expect("RATE is requests a second");
    let seconds: f64 = args[4].parse().expect("SECONDS");
    let questions: Vec<String> = std::fs::read_to_string(&args[5])
        .expect("QUESTIONS_FILE")
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or(l).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(!questions.is_empty(), "no questions");
    assert!(
        route == "search" || route == "chat",
        "ROUTE is search or chat"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let questions = Arc::new(questions);
    let total = (rate * seconds).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, questions, base, route) = (
            client.clone(),
            questions.clone(),
            base.clone(),
            route.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut q = questions[i % questions.len()].clone();
            if distinct {
                // Letters only (a–p for each hex digit): digits could be masked as personal
                // data, which would make every tag the same text again.
                let tag = (run_tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64) as u32;
                let letters: String = (0..8)
                    .map(|k| char::from(b'a' + ((tag >> (28 - 4 * k)) & 0xf) as u8))
                    .collect();
                q = format!("{q}（{letters}）");
            }
            let q = &q;
            let request = if route == "search" {
                client
                    .get(format!("{base}/api/search"))
                    .query(&[("q", q.as_str()), ("k", "5")])
            } else {
                client
                    .post(format!("{base}/api/chat"))
                    .json(&serde_json::json!({ "message": q }))
            };
            let ok = match request.send().await {
                Ok(resp) => {
                    let good = resp.status().is_success();
                    good && resp.bytes().await.is_ok()
                }
                Err(_) => false,
            };
            (ok, scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0usize;
    for t in tasks {
        match t.await {
            Ok((true, d)) => latencies.push(d.as_secs_f64() * 1000.0),
            _ => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if latencies.is_empty() {
            f64::NAN
        } else {
            latencies[((latencies.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    println!(
        "{}",
        serde_json::json!({
            "route": if distinct { format!("{route}-new") } else { route },
            "target_rps": rate,
            "achieved_rps": latencies.len() as f64 / elapsed,
            "sent": total,
            "ok": latencies.len(),
            "errors": errors,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
        })
    );
}
