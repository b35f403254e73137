//! The service's counters, rendered in the Prometheus text format at `/metrics`: requests and
//! latency by route, and what the service did (decisions, feedback, LLM answers, reloads,
//! rate-limited requests). Each counter is a named field with a method that says what happened,
//! so callers never index into arrays.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::answer::Decision;

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// A pair of counters for an outcome that either happened or did not.
#[derive(Default)]
struct YesNo {
    yes: AtomicU64,
    no: AtomicU64,
}

impl YesNo {
    fn add(&self, yes: bool) {
        if yes { &self.yes } else { &self.no }.fetch_add(1, Ordering::Relaxed);
    }

    /// Both counters with their Prometheus labels (`{label="yes"}`, `{label="no"}`).
    fn rows(&self, label: &str, yes: &str, no: &str) -> [(String, &AtomicU64); 2] {
        [
            (format!("{{{label}=\"{yes}\"}}"), &self.yes),
            (format!("{{{label}=\"{no}\"}}"), &self.no),
        ]
    }
}

/// Turns by decision.
#[derive(Default)]
struct Decisions {
    answer: AtomicU64,
    candidates: AtomicU64,
    fallback: AtomicU64,
    small_talk: AtomicU64,
}

impl Decisions {
    fn counter(&self, d: Decision) -> &AtomicU64 {
        match d {
            Decision::Answer => &self.answer,
            Decision::Candidates => &self.candidates,
            Decision::Fallback => &self.fallback,
            Decision::SmallTalk => &self.small_talk,
        }
    }
}

/// Counters the `/metrics` route renders.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    decisions: Decisions,
    /// Helpful (yes) or not (no).
    feedback: YesNo,
    /// Succeeded (yes) or failed (no).
    reloads: YesNo,
    /// Used (yes) or discarded for the FAQ answer (no).
    generations: YesNo,
    rate_limited: AtomicU64,
    /// Counters with one label: (metric, label value) → count.
    labelled: Mutex<BTreeMap<(Family, &'static str), u64>>,
}

/// The one-label counter families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// `madoguchi_sign_ins_total{outcome}`.
    SignIns,
    /// `madoguchi_masked_total{kind}`.
    Masked,
    /// `madoguchi_store_failures_total{operation}`.
    StoreFailures,
    /// `madoguchi_opened_total{via}`.
    Opened,
}

impl Family {
    fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Family::SignIns => (
                "madoguchi_sign_ins_total",
                "Staff sign-ins by outcome (succeeded, failed, throttled, busy).",
                "outcome",
            ),
            Family::Masked => (
                "madoguchi_masked_total",
                "Personal data masked in residents' text before storage, logs or the LLM, by kind.",
                "kind",
            ),
            Family::StoreFailures => (
                "madoguchi_store_failures_total",
                "Writes the database refused (the resident still got an answer, marked not recorded).",
                "operation",
            ),
            Family::Opened => (
                "madoguchi_opened_total",
                "Entries residents opened from a list, by where (candidate, menu, related, popular).",
                "via",
            ),
        }
    }
}

impl Metrics {
    /// Counts one request to `route` (the matched route, never the raw path) and its latency.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        {
            let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *r.entry((route.to_owned(), method.to_owned(), status))
                .or_insert(0) += 1;
        }
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = l.entry(route.to_owned()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Counts a chat turn that ended in `d`.
    pub fn decision(&self, d: Decision) {
        self.decisions.counter(d).fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an LLM answer: `used`, or discarded in favour of the FAQ answer.
    pub fn generation(&self, used: bool) {
        self.generations.add(used);
    }

    /// Counts a 👍 (`helpful`) or 👎.
    pub fn feedback(&self, helpful: bool) {
        self.feedback.add(helpful);
    }

    /// Counts an index reload that succeeded (`ok`) or was refused.
    pub fn reload(&self, ok: bool) {
        self.reloads.add(ok);
    }

    /// Adds `n` to `family{label}`.
    pub fn count(&self, family: Family, label: &'static str, n: u64) {
        *self
            .labelled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((family, label))
            .or_default() += n;
    }

    /// Counts a staff sign-in by outcome.
    pub fn sign_in(&self, outcome: &'static str) {
        self.count(Family::SignIns, outcome, 1);
    }

    /// Counts a request refused by the rate limiter.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        s += "# HELP madoguchi_http_requests_total HTTP requests by route, method and status.\n";
        s += "# TYPE madoguchi_http_requests_total counter\n";
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "madoguchi_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        s += "# HELP madoguchi_http_request_duration_seconds Request latency by route.\n";
        s += "# TYPE madoguchi_http_request_duration_seconds histogram\n";
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    s,
                    "madoguchi_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                s,
                "madoguchi_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                s,
                "madoguchi_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                s,
                "madoguchi_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let counter = |s: &mut String, name: &str, help: &str, rows: &[(String, &AtomicU64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            for (label, v) in rows {
                let _ = writeln!(s, "{name}{label} {}", v.load(Ordering::Relaxed));
            }
        };
        let decisions: Vec<(String, &AtomicU64)> = Decision::ALL
            .iter()
            .map(|d| {
                (
                    format!("{{decision=\"{}\"}}", d.as_str()),
                    self.decisions.counter(*d),
                )
            })
            .collect();
        counter(
            &mut s,
            "madoguchi_decisions_total",
            "Chat decisions by kind.",
            &decisions,
        );
        counter(
            &mut s,
            "madoguchi_feedback_total",
            "Feedback received.",
            &self.feedback.rows("helpful", "true", "false"),
        );
        counter(
            &mut s,
            "madoguchi_index_reloads_total",
            "Index reloads.",
            &self.reloads.rows("result", "ok", "failed"),
        );
        counter(
            &mut s,
            "madoguchi_llm_generations_total",
            "LLM answers used, and discarded in favour of the FAQ answer.",
            &self.generations.rows("result", "used", "discarded"),
        );
        counter(
            &mut s,
            "madoguchi_rate_limited_total",
            "Requests refused by the rate limiter.",
            &[(String::new(), &self.rate_limited)],
        );
        let labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = None;
        for ((family, label), n) in labelled.iter() {
            let (name, help, key) = family.describe();
            if last != Some(*family) {
                let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
                last = Some(*family);
            }
            let _ = writeln!(s, "{name}{{{key}=\"{label}\"}} {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_prometheus_text() {
        let m = Metrics::default();
        m.observe("/api/search", "GET", 200, 0.002);
        m.decision(Decision::Fallback);
        let t = m.render();
        assert!(t.contains(
            "madoguchi_http_requests_total{route=\"/api/search\",method=\"GET\",status=\"200\"} 1"
        ));
        assert!(t.contains(
            "madoguchi_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"0.0025\"} 1"
        ));
        assert!(t.contains(
            "madoguchi_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"0.001\"} 0"
        ));
        assert!(t.contains("madoguchi_decisions_total{decision=\"fallback\"} 1"));
    }

    #[test]
    fn each_event_counts_under_its_own_label() {
        let m = Metrics::default();
        for d in [
            Decision::Answer,
            Decision::Candidates,
            Decision::Candidates,
            Decision::SmallTalk,
            Decision::SmallTalk,
            Decision::SmallTalk,
        ] {
            m.decision(d);
        }
        m.generation(true);
        m.generation(false);
        m.generation(false);
        m.feedback(false);
        m.reload(true);
        m.reload(true);
        m.rate_limited();
        let t = m.render();
        for line in [
            "madoguchi_decisions_total{decision=\"answer\"} 1",
            "madoguchi_decisions_total{decision=\"candidates\"} 2",
            "madoguchi_decisions_total{decision=\"fallback\"} 0",
            "madoguchi_decisions_total{decision=\"small_talk\"} 3",
            "madoguchi_llm_generations_total{result=\"used\"} 1",
            "madoguchi_llm_generations_total{result=\"discarded\"} 2",
            "madoguchi_feedback_total{helpful=\"true\"} 0",
            "madoguchi_feedback_total{helpful=\"false\"} 1",
            "madoguchi_index_reloads_total{result=\"ok\"} 2",
            "madoguchi_index_reloads_total{result=\"failed\"} 0",
            "madoguchi_rate_limited_total 1",
        ] {
            assert!(t.lines().any(|l| l == line), "{line} missing from\n{t}");
        }
    }
}
