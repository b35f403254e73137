//! The configuration file (`madoguchi.toml`): retrieval weights and answer thresholds, read by
//! `search`, `eval` and the server, written by `eval --calibrate`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisOptions;
use crate::answer::DecisionConfig;
use crate::retrieve::SearchConfig;

/// Default path of the configuration file.
pub const DEFAULT_PATH: &str = "madoguchi.toml";

/// Keys earlier versions read and this one no longer has, as `(section, key)`: retrieval levers
/// the benchmarks showed did not help (their measured rows are kept in `docs/benchmarks.md`). A
/// file that still sets one is refused with the key named and what to do, rather than with
/// toml's list of every key it expected.
pub const REMOVED_KEYS: &[(&str, &str)] = &[
    ("search", "question_bigram"),
    ("search", "phrasing_weight"),
    ("search", "feedback_weight"),
    ("search", "feedback_docs"),
    ("search", "feedback_terms"),
    ("search", "query_stop_terms"),
];

/// Everything in the configuration file; every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Retrieval weights.
    pub search: SearchConfig,
    /// Answer policy thresholds.
    pub decision: DecisionConfig,
    /// Analyzer pipeline switches.
    pub analysis: AnalysisOptions,
    /// The HTTP service.
    pub server: ServerConfig,
    /// The optional LLM endpoint.
    pub llm: crate::llm::LlmConfig,
    /// The optional embeddings endpoint used instead of the bundled sentence model.
    pub embedding: crate::semantic::EmbeddingConfig,
}

/// Errors reading or writing the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A value is out of its range (a negative weight, a threshold that is not a number).
    #[error("{path}: {}", problems.join("; "))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem, as `[section] key = value: what it must be`.
        problems: Vec<String>,
    },
    /// The file sets keys that have been removed ([`REMOVED_KEYS`]).
    #[error(
        "{path}: {} {}; delete {} from the file",
        keys.join(", "),
        if keys.len() == 1 {
            "was removed: the benchmarks showed it did not help retrieval \
             (docs/benchmarks.md keeps its measured rows)"
        } else {
            "were removed: the benchmarks showed they did not help retrieval \
             (docs/benchmarks.md keeps their measured rows)"
        },
        if keys.len() == 1 { "it" } else { "them" }
    )]
    Removed {
        /// The file.
        path: String,
        /// Every removed key it sets, as `[section] key`.
        keys: Vec<String>,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong (with line and column).
        message: String,
    },
}

impl Config {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| {
            let path = path.display().to_string();
            let keys = removed_keys(&text);
            if keys.is_empty() {
                Error::Parse {
                    path,
                    message: e.to_string(),
                }
            } else {
                Error::Removed { path, keys }
            }
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::Invalid {
                path: path.display().to_string(),
                problems,
            })
        }
    }

    /// The retrieval weights and answer thresholds that are out of range: every one must be a
    /// finite number of at least 0 (a negative weight would push entries down for containing
    /// the resident's words; `nan` would make every comparison false), and at least one
    /// candidate must be offered.
    pub fn problems(&self) -> Vec<String> {
        let s = &self.search;
        // Shares of a mix: at least 0 like every weight, and at most 1.
        let shares = [
            ("phrasing_share", s.phrasing_share),
            ("question_share", s.question_share),
            ("foreign_phrasing_share", s.foreign_phrasing_share),
        ];
        let values = [
            ("search", "question", s.question),
            ("search", "alt_questions", s.alt_questions),
            ("search", "answer", s.answer),
            ("search", "category", s.category),
            ("search", "tags", s.tags),
            ("search", "reading_weight", s.reading_weight),
            ("search", "abbreviation_weight", s.abbreviation_weight),
            ("search", "coverage_exponent", s.coverage_exponent),
            ("search", "synonym_weight", s.synonym_weight),
            ("search", "semantic_weight", s.semantic_weight),
            ("search", "foreign_word_weight", s.foreign_word_weight),
        ];
        let mut problems: Vec<String> = values
            .into_iter()
            .chain(shares.map(|(key, v)| ("search", key, v)))
            .filter(|(_, _, v)| !(v.is_finite() && *v >= 0.0))
            .map(|(section, key, v)| {
                format!("[{section}] {key} = {v}: must be a finite number of at least 0")
            })
            .collect();
        for (key, v) in shares {
            if v > 1.0 {
                problems.push(format!("[search] {key} = {v}: must be at most 1 (a share)"));
            }
        }
        for p in &self.server.trusted_proxies {
            if crate::config::parse_net(p).is_none() {
                problems.push(format!(
                    "[server] trusted_proxies: '{p}' is not an address or CIDR range"
                ));
            }
        }
        if parse_offset(&self.server.utc_offset).is_none() {
            problems.push(format!(
                "[server] utc_offset = '{}': use ±HH:MM, e.g. +09:00",
                self.server.utc_offset
            ));
        }
        problems.extend(decision_problems("decision", &self.decision));
        if let Some(semantic) = &self.decision.semantic {
            problems.extend(decision_problems("decision.semantic", semantic));
        }
        if let Some(question_only) = &self.decision.semantic_question_only {
            problems.extend(decision_problems(
                "decision.semantic_question_only",
                question_only,
            ));
        }
        problems
    }

    /// Writes `path` (whole file), with a header saying where the values came from.
    pub fn save(&self, path: &Path, header: &str) -> Result<(), Error> {
        let body = toml::to_string_pretty(self).expect("config serializes");
        let text: String = header
            .lines()
            .map(|l| format!("# {l}\n"))
            .collect::<String>()
            + "\n"
            + &body;
        std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The `[server]` section of the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Directory for the SQLite database.
    pub data_dir: PathBuf,
    /// `postgres://…` to share one PostgreSQL database between replicas; SQLite when absent.
    pub database_url: Option<String>,
    /// Conversations older than this many days are deleted (0 keeps them forever).
    pub retention_days: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest question or comment accepted, in characters.
    pub max_question_chars: usize,
    /// Requests a minute per client address (0: no limit).
    pub rate_limit_per_minute: u32,
    /// Requests a client may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// Time limit of one request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Time limit of an FAQ apply or `/admin/reload`, in milliseconds. These rebuild the index
    /// and embed new texts (about 30 ms a text on two cores), so they get longer than a
    /// resident's question. The work itself always runs to the end, even past this limit or a
    /// dropped connection: the file and the index never disagree.
    pub reload_timeout_ms: u64,
    /// Sites allowed to call the API from a browser (the widget's host pages), e.g.
    /// `https://www.city.example.lg.jp`. Empty: same-origin only.
    pub cors_origins: Vec<String>,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy): the
    /// right-most hop that is not a trusted proxy. With `trusted_proxies` empty, only the
    /// connecting peer is trusted, so the client is the last hop it appended (what nginx's
    /// `$proxy_add_x_forwarded_for` does); hops a client wrote itself are never believed.
    pub trust_forwarded_for: bool,
    /// Addresses or CIDR ranges of the proxies in front (`10.0.0.0/8`, `::1`); also whose
    /// `X-Forwarded-Proto` is believed for the `Secure` cookie.
    pub trusted_proxies: Vec<String>,
    /// The office's offset from UTC (`+09:00`, Japan): the staff console's date filters, the
    /// figures' days and the CSV export's times are in it.
    pub utc_offset: String,
    /// The public URL residents and staff use (`https://faq.city.example.lg.jp`); an `https`
    /// URL marks the staff session cookie `Secure`.
    pub public_url: Option<String>,
    /// Seconds between checks of the FAQ directory for changes (0: no watching).
    pub watch_interval_secs: u64,
    /// Office named in fallbacks when no municipality is given.
    pub fallback_office: String,
    /// Bearer token for `/admin/*`; set it through `MADOGUCHI_ADMIN_TOKEN` rather than the file.
    pub admin_token: Option<String>,
    /// Directory of the web files: the widget (`/widget.js`) and the demo page (`/`).
    pub web_dir: PathBuf,
    /// Mark the staff session cookie `Secure` even without `X-Forwarded-Proto: https`.
    pub cookie_secure: bool,
    /// Connections one client address may hold at once (0: no limit). Behind a reverse proxy
    /// every connection comes from the proxy's address: raise it or set 0 there, and let the
    /// proxy limit its clients.
    pub max_connections_per_address: usize,
    /// With a PostgreSQL `database_url`, keep the FAQ in the database: every applied FAQ is a
    /// version there, every replica serves the current one and `faq/` is this replica's copy of
    /// it (seeded from `faq/` on the very first start). `false`: each replica serves its own
    /// `faq/`. SQLite always serves `faq/`.
    pub faq_in_database: bool,
    /// With the FAQ in the database, hear of a new version at once through `LISTEN
    /// madoguchi_faq`. `false` behind a connection pooler that does not pass LISTEN/NOTIFY
    /// (PgBouncer in transaction mode): then only polling every `watch_interval_secs` follows.
    pub faq_notifications: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            retention_days: 180,
            max_body_bytes: 16 * 1024,
            max_question_chars: 500,
            rate_limit_per_minute: 120,
            rate_limit_burst: 30,
            request_timeout_ms: 10_000,
            reload_timeout_ms: 600_000,
            cors_origins: Vec::new(),
            trust_forwarded_for: false,
            trusted_proxies: Vec::new(),
            utc_offset: "+09:00".into(),
            public_url: None,
            watch_interval_secs: 5,
            fallback_office: "お住まいの市区町村の窓口".into(),
            admin_token: None,
            web_dir: PathBuf::from("web"),
            cookie_secure: false,
            max_connections_per_address: 128,
            faq_in_database: true,
            faq_notifications: true,
        }
    }
}

impl ServerConfig {
    /// [`ServerConfig::utc_offset`] as an offset (UTC when it does not parse, which
    /// [`Config::problems`] reports).
    pub fn offset(&self) -> chrono::FixedOffset {
        parse_offset(&self.utc_offset)
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"))
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::store::Store::sqlite_url(&self.data_dir))
    }

    /// Whether the FAQ is served from versions in the database ([`Self::faq_in_database`] with
    /// a PostgreSQL URL).
    pub fn faq_from_database(&self) -> bool {
        self.faq_in_database
            && self
                .database_url
                .as_deref()
                .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }
}

/// The [`REMOVED_KEYS`] that `text` (a TOML document) sets, as `[section] key`.
fn removed_keys(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    REMOVED_KEYS
        .iter()
        .filter(|(section, key)| {
            table
                .get(*section)
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(*key))
        })
        .map(|(section, key)| format!("[{section}] {key}"))
        .collect()
}

/// `+09:00`, `-05:30`, `Z` as an offset.
fn parse_offset(text: &str) -> Option<chrono::FixedOffset> {
    let t = text.trim();
    if t == "Z" || t == "UTC" {
        return chrono::FixedOffset::east_opt(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// An address or CIDR range (`10.0.0.0/8`, `192.0.2.1`, `::1`, `fd00::/8`) as (network, prefix
/// length).
pub fn parse_net(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = match text.trim().split_once('/') {
        Some((a, l)) => (
            a.parse::<std::net::IpAddr>().ok()?,
            Some(l.parse::<u8>().ok()?),
        ),
        None => (text.trim().parse::<std::net::IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

/// Whether `ip` is in the network `net` (from [`parse_net`]).
pub fn in_net(ip: std::net::IpAddr, (net, len): (std::net::IpAddr, u8)) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The thresholds of one `[decision]` section that are out of range.
fn decision_problems(section: &str, d: &DecisionConfig) -> Vec<String> {
    let values = [
        ("answer_coverage", d.answer_coverage),
        ("answer_margin", d.answer_margin),
        ("candidates_coverage", d.candidates_coverage),
        ("evidence_coverage", d.evidence_coverage),
        ("evidence_score", d.evidence_score),
        ("answer_unknown", d.answer_unknown),
        ("fallback_similarity", d.fallback_similarity),
        ("candidates_similarity", d.candidates_similarity),
        ("answer_similarity", d.answer_similarity),
        ("fallback_coverage", d.fallback_coverage),
        ("answer_similarity_margin", d.answer_similarity_margin),
        ("foreign_similarity", d.foreign_similarity),
    ];
    let mut problems: Vec<String> = values
        .iter()
        .filter(|(_, v)| !(v.is_finite() && *v >= 0.0))
        .map(|(key, v)| format!("[{section}] {key} = {v}: must be a finite number of at least 0"))
        .collect();
    if d.max_candidates == 0 {
        problems.push(format!(
            "[{section}] max_candidates = 0: must be at least 1"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxy_ranges_parse_and_match() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let net = parse_net("10.0.0.0/8").unwrap();
        assert!(in_net(ip("10.1.2.3"), net));
        assert!(in_net(ip("::ffff:10.1.2.3"), net), "IPv4-mapped IPv6");
        assert!(!in_net(ip("11.0.0.1"), net));
        assert!(in_net(ip("192.0.2.1"), parse_net("192.0.2.1").unwrap()));
        assert!(!in_net(ip("192.0.2.2"), parse_net("192.0.2.1").unwrap()));
        assert!(in_net(ip("fd00::1"), parse_net("fd00::/8").unwrap()));
        assert!(in_net(ip("8.8.8.8"), parse_net("0.0.0.0/0").unwrap()));
        for bad in ["10.0.0.0/33", "proxy", "10.0.0/8", ""] {
            assert!(parse_net(bad).is_none(), "{bad}");
        }
        let mut c = Config::default();
        c.server.trusted_proxies = vec!["nginx".into()];
        assert!(
            c.problems()
                .iter()
                .any(|p| p.contains("trusted_proxies: 'nginx'"))
        );
    }

    #[test]
    fn the_semantic_shares_must_lie_between_0_and_1() {
        assert!(Config::default().problems().is_empty());
        let mut c = Config::default();
        c.search.phrasing_share = 1.5;
        c.search.question_share = -0.1;
        c.search.foreign_phrasing_share = f32::NAN;
        let problems = c.problems();
        assert!(
            problems.contains(&"[search] phrasing_share = 1.5: must be at most 1 (a share)".into()),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("[search] question_share = -0.1: must be")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("[search] foreign_phrasing_share = NaN")),
            "{problems:?}"
        );
        // 0 and 1 are shares.
        c.search.phrasing_share = 1.0;
        c.search.question_share = 0.0;
        c.search.foreign_phrasing_share = 0.4;
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    }

    #[test]
    fn every_decision_table_is_checked_under_its_own_name() {
        let mut c = Config::default();
        c.decision
            .semantic_question_only
            .as_mut()
            .unwrap()
            .fallback_similarity = -0.5;
        c.decision.semantic.as_mut().unwrap().max_candidates = 0;
        let problems = c.problems();
        assert_eq!(
            problems,
            [
                "[decision.semantic] max_candidates = 0: must be at least 1",
                "[decision.semantic_question_only] fallback_similarity = -0.5: must be a finite number of at least 0"
            ],
            "{problems:?}"
        );
        // Both tables survive a save and a load.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        let mut c = Config::default();
        c.decision
            .semantic_question_only
            .as_mut()
            .unwrap()
            .answer_similarity = 0.97;
        c.save(&path, "test").unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("[decision.semantic_question_only]")
        );
        assert_eq!(Config::load(&path).unwrap(), c);
    }

    #[test]
    fn round_trips_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        let mut c = Config::default();
        c.decision.answer_coverage = 0.75;
        c.save(&path, "calibrated on tests/eval").unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        std::fs::write(&path, "[decision]\nanswer_coverag = 1\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("answer_coverag"), "{err}");
    }

    #[test]
    fn names_removed_keys_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "[search]\nanswer = 1.0\nquestion_bigram = 0.3\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: [search] question_bigram was removed: the benchmarks showed it did not help \
                 retrieval (docs/benchmarks.md keeps its measured rows); delete it from the file",
                path.display()
            )
        );
        std::fs::write(
            &path,
            "[search]\nphrasing_weight = 0.5\nquery_stop_terms = [\"教える\"]\n",
        )
        .unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("[search] phrasing_weight, [search] query_stop_terms were removed"),
            "{err}"
        );
        assert!(err.ends_with("delete them from the file"), "{err}");
        // A removed key's name in another section is just an unknown key.
        std::fs::write(&path, "[decision]\nfeedback_weight = 0.1\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field `feedback_weight`"), "{err}");
    }

    #[test]
    fn rejects_negative_weights_and_thresholds_that_are_not_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "[search]\nanswer = -1.0\nsynonym_weight = 0.0\n\n[decision]\nanswer_margin = nan\nmax_candidates = 0\n",
        )
        .unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("[search] answer = -1: must be"), "{err}");
        assert!(err.contains("[decision] answer_margin = NaN"), "{err}");
        assert!(err.contains("[decision] max_candidates = 0"), "{err}");
        // 0 turns a lever off and is allowed.
        assert!(!err.contains("synonym_weight"), "{err}");
    }
}
